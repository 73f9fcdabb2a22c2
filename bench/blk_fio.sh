#!/bin/sh
# fio through the idc block front-end (nbdkit + idc plugin -> blkback RAM disk over shm) against
# the same fio on nbdkit's own memory plugin (no idc hop), interleaved in one run.
#
# Usage: bench/blk_fio.sh [BUILD_DIR]      environment: REPS (3), RUNTIME seconds per run (5),
#                                          SIZE of each disk (256M), OUT (BUILD/bench/blk_fio.tsv)
# Prints one line per figure: median [min-max] for idc and for memory, and idc/memory.
set -eu

BUILD=${1:-build}
REPS=${REPS:-3}
RUNTIME=${RUNTIME:-5}
SIZE=${SIZE:-256M}
OUT=${OUT:-$BUILD/bench/blk_fio.tsv}
BLKBACK=$BUILD/examples/blk/blkback
PLUGIN=$BUILD/examples/blk/nbdkit-idc-plugin.so

for p in nbdkit fio nbdcopy; do
    command -v $p >/dev/null 2>&1 || { echo "blk_fio: skipped: $p not installed" >&2; exit 0; }
done
fio --enghelp 2>/dev/null | grep -qw nbd || { echo "blk_fio: skipped: fio lacks the nbd engine" >&2; exit 0; }
[ -x "$BLKBACK" ] && [ -r "$PLUGIN" ] || { echo "blk_fio: $BLKBACK or $PLUGIN not built" >&2; exit 1; }

T=$(mktemp -d /tmp/idc-bench-XXXXXX)
export IDC_SHM_DIR="$T/shm" IDC_STATS_DIR="$T/stats"
mkdir -p "$IDC_SHM_DIR" "$(dirname "$OUT")"
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$BLKBACK" -q shm:bench "ram:$SIZE" >"$T/blkback.log" 2>&1 & PIDS="$PIDS $!"
nbdkit -f -U "$T/idc.sock" "$PLUGIN" address=shm:bench >"$T/nbdkit-idc.log" 2>&1 & PIDS="$PIDS $!"
nbdkit -f -U "$T/mem.sock" memory "$SIZE" >"$T/nbdkit-mem.log" 2>&1 & PIDS="$PIDS $!"
for _ in $(seq 200); do [ -S "$T/idc.sock" ] && [ -S "$T/mem.sock" ] && break; sleep 0.05; done

# same random contents on both, so neither side reads untouched (zero) pages only
head -c "$SIZE" /dev/urandom 2>/dev/null >"$T/fill.img" || \
    dd if=/dev/urandom of="$T/fill.img" bs=1M count="$(echo "$SIZE" | tr -d M)" status=none
nbdcopy "$T/fill.img" "nbd+unix:///?socket=$T/idc.sock"
nbdcopy "$T/fill.img" "nbd+unix:///?socket=$T/mem.sock"
rm -f "$T/fill.img"

# run TARGET RW BS DEPTH -> "iops bytes_per_s" (terse v3: field 7 read KiB/s, field 8 read IOPS)
run() {
    fio --name=b --ioengine=nbd --uri="nbd+unix:///?socket=$T/$1.sock" --rw="$2" --bs="$3" \
        --iodepth="$4" --runtime="$RUNTIME" --time_based --output-format=terse \
        --terse-version=3 2>>"$T/fio.err" | awk -F';' '$1 == 3 { printf "%s %.0f\n", $8, $7 * 1024 }'
}

printf 'figure\ttarget\trep\tiops\tbytes_per_s\n' >"$OUT"
for fig in "randread 4k 16" "read 1M 4"; do
    set -- $fig
    for r in $(seq "$REPS"); do
        for target in idc mem; do   # interleaved: idc mem idc mem ...
            res=$(run "$target" "$1" "$2" "$3")
            printf '%s-%s\t%s\t%s\t%s\n' "$1" "$2" "$target" "$r" "$(echo "$res" | tr ' ' '\t')" >>"$OUT"
        done
    done
done

awk -F'\t' 'NR > 1 {
    k = $1 SUBSEP $2; n[k]++; iops[k, n[k]] = $4; bw[k, n[k]] = $5; figs[$1] = 1
}
function med(arr, k, cnt,   i, j, t, v) {
    for (i = 1; i <= cnt; i++) v[i] = arr[k, i] + 0
    for (i = 1; i <= cnt; i++) for (j = i + 1; j <= cnt; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    lo = v[1]; hi = v[cnt]
    return (cnt % 2) ? v[(cnt + 1) / 2] : (v[cnt / 2] + v[cnt / 2 + 1]) / 2
}
END {
    printf "%-14s %-8s %28s %34s\n", "fio", "target", "IOPS median [min-max]", "GB/s median [min-max]"
    for (f in figs) {
        for (t = 0; t < 2; t++) {
            tg = t ? "mem" : "idc"; k = f SUBSEP tg
            mi = med(iops, k, n[k]); ilo = lo; ihi = hi
            mb = med(bw, k, n[k]); blo = lo; bhi = hi
            printf "%-14s %-8s %10.0f [%.0f-%.0f] %12.3f [%.3f-%.3f]\n", f, (t ? "memory" : "idc"),
                   mi, ilo, ihi, mb / 1e9, blo / 1e9, bhi / 1e9
            m[t] = mi
        }
        printf "%-14s %-8s %10.2f (idc / nbdkit memory plugin, IOPS)\n", f, "ratio", m[1] ? m[0] / m[1] : 0
    }
}' "$OUT"
echo "blk_fio: raw results in $OUT"
