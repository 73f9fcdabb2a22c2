#!/bin/bash
# `make valgrind`: the demo scenario's processes under valgrind (memcheck).
#
#   tests/hardening/valgrind.sh BUILD_DIR        (after `make BUILD=BUILD_DIR all`; not a SAN build)
#
# 1. idlc compiles every idl/*.idl (into a scratch directory).
# 2. blkback serves a file on shm:NAME; nbdkit (with the idc front-end plugin loaded) runs a
#    script through --run: nbdcopy writes a random image and reads it back; blkback is stopped
#    (SIGTERM: a clean exit, so its leak check runs) and started again, and the image is read
#    again through the reconnected front-end; then a second blkback is killed with SIGKILL in
#    the middle of a copy and restarted, as in the demo, and the copy must complete.
# Every valgrind run uses --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite;
# the script fails if any of them reports an error or exits non-zero, and prints the reports.
# It uses its own temporary directory and kills whatever it started on exit.
set -u

if [ "${1:-}" = "--steps" ]; then
    # ------------------------------------------------------------ run by nbdkit --run
    # env: T (scratch dir), VG (valgrind command), BLKBACK, SIZE_MB; $2: nbdkit's $uri
    set -e
    uri=$2
    start_blkback() {   # $1: tag
        $VG --log-file="$T/vg-blkback-$1.log" "$BLKBACK" shm:vgblk "$T/disk.img" \
            >>"$T/blkback-$1.out" 2>&1 &
        echo $! >"$T/blkback.pid"
    }
    stop_blkback() {    # $1: tag, $2: signal
        pid=$(cat "$T/blkback.pid")
        kill -"$2" "$pid"
        set +e; wait "$pid" 2>/dev/null; rc=$?; set -e
        echo "$1 $2 $rc" >>"$T/blkback.status"
    }
    sum() { sha256sum <"$1" | cut -c1-16; }

    start_blkback 1
    head -c $((SIZE_MB * 1048576)) /dev/urandom >"$T/src.img"
    want=$(sum "$T/src.img")
    nbdcopy "$T/src.img" "$uri"
    nbdcopy "$uri" "$T/back1.img"
    [ "$(sum "$T/back1.img")" = "$want" ] || { echo "valgrind: round trip mismatch"; exit 1; }
    echo "   round trip of $SIZE_MB MiB: OK"

    stop_blkback 1 TERM
    start_blkback 2
    nbdcopy "$uri" "$T/back2.img"
    [ "$(sum "$T/back2.img")" = "$want" ] || { echo "valgrind: mismatch after restart"; exit 1; }
    echo "   read after a blkback restart (SIGTERM, start): OK"

    # blkback is stopped (SIGSTOP) so the copy's first requests are surely in flight when it is
    # killed; the front-end must resend them to the restarted blkback
    rm -f "$T/back3.img"
    kill -STOP "$(cat "$T/blkback.pid")"
    nbdcopy --requests=4 "$uri" "$T/back3.img" &
    copy=$!
    sleep 2
    kill -0 "$copy" 2>/dev/null || { echo "valgrind: nbdcopy ended with blkback stopped"; exit 1; }
    stop_blkback 2 KILL
    start_blkback 3
    wait "$copy" || { echo "valgrind: nbdcopy failed across the SIGKILL restart"; exit 1; }
    [ "$(sum "$T/back3.img")" = "$want" ] || { echo "valgrind: mismatch after SIGKILL"; exit 1; }
    echo "   copy with requests in flight across a blkback SIGKILL and restart: OK"
    stop_blkback 3 TERM
    exit 0
fi

BUILD=${1:-build}
BLKBACK=$BUILD/examples/blk/blkback
PLUGIN=$BUILD/examples/blk/nbdkit-idc-plugin.so
IDLC=$BUILD/bin/idlc
SIZE_MB=${VG_SIZE_MB:-8}

die() { printf 'valgrind: %s\n' "$*" >&2; exit 1; }
for p in valgrind nbdkit nbdcopy sha256sum; do
    command -v $p >/dev/null 2>&1 || die "$p not found (Debian: valgrind nbdkit libnbd-bin)"
done
[ -x "$IDLC" ] && [ -x "$BLKBACK" ] && [ -r "$PLUGIN" ] || die "build first: make BUILD=$BUILD all"
# a sanitizer build cannot run under valgrind
if nm -D "$BLKBACK" 2>/dev/null | grep -q __asan_init; then
    die "$BUILD is an ASan build; use a plain one (make BUILD=build valgrind)"
fi

T=$(mktemp -d /tmp/idc-valgrind-XXXXXX)
export T SIZE_MB
export IDC_SHM_DIR="$T/shm" IDC_STATS_DIR="$T/stats"
mkdir -p "$IDC_SHM_DIR" "$T/gen"
NBDKIT_PID=""
cleanup() {
    for f in "$T/blkback.pid"; do
        [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
    done
    [ -n "$NBDKIT_PID" ] && kill -9 "$NBDKIT_PID" 2>/dev/null
    # anything else still in our process group's children (nbdcopy, valgrind'd helpers)
    for p in $(jobs -p); do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

VG="valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite"
VG="$VG --show-leak-kinds=definite --num-callers=30 --child-silent-after-fork=yes"
export VG BLKBACK
fail=0
report() {   # $1: log file, $2: what, $3: exit status
    if [ "$3" -ne 0 ] || grep -qE 'ERROR SUMMARY: [1-9]|definitely lost: [1-9]' "$1"; then
        echo "FAIL $2 (exit $3)"; sed 's/^/   | /' "$1"; fail=1
    else
        summary=$(grep -o 'ERROR SUMMARY: [0-9]* errors' "$1" | tail -1)
        echo "ok   $2: ${summary:-no errors reported}"
    fi
}

echo "== idlc on idl/*.idl"
for f in idl/*.idl; do
    $VG --log-file="$T/vg-idlc.log" "$IDLC" -I idl -o "$T/gen" "$f" >"$T/idlc.out" 2>&1
    rc=$?
    [ $rc -ne 0 ] && cat "$T/idlc.out"
    report "$T/vg-idlc.log" "idlc $f" $rc
done

echo "== blkback + nbdkit front-end plugin ($SIZE_MB MiB image)"
truncate -s "${SIZE_MB}M" "$T/disk.img"
# nbdkit itself runs under valgrind and loads the plugin; NBDKIT_VALGRIND keeps the plugin
# mapped at exit so reports have symbols. --run exits nbdkit when the steps are done.
NBDKIT_VALGRIND=1 $VG --log-file="$T/vg-nbdkit.log" \
    nbdkit --foreground --exit-with-parent -U - "$PLUGIN" address=shm:vgblk timeout=60 \
    connect-timeout=60 --run "'$0' --steps \"\$uri\"" >"$T/nbdkit.out" 2>&1 &
NBDKIT_PID=$!
wait $NBDKIT_PID
rc=$?
NBDKIT_PID=""
cat "$T/nbdkit.out"
[ $rc -ne 0 ] && sed 's/^/   blkback: /' "$T"/blkback-*.out
report "$T/vg-nbdkit.log" "nbdkit + plugin (nbdcopy round trip, restarts)" $rc
# blkback runs: 1 and 3 stopped by SIGTERM (exit status and leaks checked), 2 killed by SIGKILL
# (only its log is checked: valgrind dies with it)
[ -f "$T/blkback.status" ] || { echo "FAIL the steps did not run"; exit 1; }
while read -r tag sig st; do
    case $sig in
    TERM) report "$T/vg-blkback-$tag.log" "blkback run $tag (stopped by SIGTERM)" "$st" ;;
    KILL) report "$T/vg-blkback-$tag.log" "blkback run $tag (SIGKILL; errors before it)" 0 ;;
    esac
done <"$T/blkback.status"
[ "$(wc -l <"$T/blkback.status")" -eq 3 ] || { echo "FAIL not every blkback run finished"; fail=1; }

[ $fail -eq 0 ] && echo "valgrind: clean" || echo "valgrind: FAILED"
exit $fail
