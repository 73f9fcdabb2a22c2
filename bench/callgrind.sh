#!/bin/sh
# Instructions per operation of idc's hot paths and of the bare ring, counted by callgrind.
#
#   bench/callgrind.sh IDC_PROF [WORKLOAD...]
#
# IDC_PROF is the idc-prof binary (make -f bench/bench.mk BUILD=build build/bench/idc-prof).
# A WORKLOAD is "MODE:N:PARAM" (see bench/prof.c); by default every workload the performance
# page quotes. Only the measured loops of both processes are counted (prof_fe_loop and
# prof_be_loop), so set-up and the connection handshake are left out. Instruction counts do not
# depend on the machine's load; the time callgrind reports does, and is not printed.
#
# Output, one line per workload: instructions per operation of the measuring process, of the
# peer, and of both; system calls are not counted (run the same workload under strace -c -f for
# those). With IDC_PROF_KEEP=DIR the callgrind files are kept in DIR for callgrind_annotate.
set -eu

prof=${1:?usage: bench/callgrind.sh IDC_PROF [MODE:N:PARAM...]}
shift
if ! command -v valgrind >/dev/null 2>&1; then
    echo "skip: callgrind: valgrind not installed (Debian valgrind)"
    exit 0
fi
[ $# -gt 0 ] || set -- ring-rtt:20000:8 idc-rtt:20000:8 ring-rtt:20000:1024 idc-rtt:20000:1024 \
    ring-rate:400000:16 idc-msg:400000:16 idc-msg:100000:1 idc-bulk:200:1048576

out=${IDC_PROF_KEEP:-$(mktemp -d)}
mkdir -p "$out"
printf '%-22s %14s %14s %14s\n' workload 'Ir/op measuring' 'Ir/op peer' 'Ir/op both'
for w in "$@"; do
    mode=${w%%:*}
    rest=${w#*:}
    n=${rest%%:*}
    param=${rest#*:}
    tag=$(echo "$w" | tr ':' '-')
    rm -f "$out/cg.$tag".*
    valgrind --tool=callgrind --callgrind-out-file="$out/cg.$tag.%p" \
        --toggle-collect=prof_fe_loop --toggle-collect=prof_be_loop \
        "$prof" "$mode" "$n" "$param" >"$out/log.$tag" 2>&1 || {
        echo "$w: FAILED (see $out/log.$tag)"
        continue
    }
    # The measuring process is the valgrind parent (lowest pid: it forks the peer).
    files=$(ls "$out/cg.$tag".* | sort -t. -k3 -n)
    fe=$(echo "$files" | head -n1)
    be=$(echo "$files" | tail -n1)
    irf=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$fe")
    irb=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$be")
    awk -v w="$w" -v n="$n" -v a="${irf:-0}" -v b="${irb:-0}" \
        'BEGIN { printf "%-22s %14.0f %14.0f %14.0f\n", w, a / n, b / n, (a + b) / n }'
done
[ -n "${IDC_PROF_KEEP:-}" ] || rm -rf "$out"
