#!/bin/sh
# The end-to-end demo (`make demo`): a block device served by blkback over idc shared memory,
# used through the nbdkit front-end by standard NBD tools; blkback is killed with SIGKILL in the
# middle of a copy and restarted, and the copy completes with the data intact.
#
# Usage: scripts/demo.sh [BUILD_DIR]       (after `make BUILD=BUILD_DIR all`)
#   DEMO_SIZE_MB=N    image size (128)
#   DEMO_WRAP="cmd"   run blkback under a wrapper, e.g. DEMO_WRAP="valgrind --error-exitcode=1"
set -eu

BUILD=${1:-build}
EX=$BUILD/examples
BLKBACK=$EX/blk/blkback
PLUGIN=$EX/blk/nbdkit-idc-plugin.so
SIZE_MB=${DEMO_SIZE_MB:-128}

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say()  { printf '   %s\n' "$*"; }
die()  { printf 'demo: %s\n' "$*" >&2; exit 1; }
now()  { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
rate() { awk -v a="$1" -v b="$2" -v m="$SIZE_MB" 'BEGIN { printf "%.0f MiB/s", m / (b - a) }'; }

for p in nbdkit nbdcopy nbdinfo qemu-io; do
    command -v $p >/dev/null 2>&1 || die "$p not found: run 'make deps' (as root) first"
done
[ -x "$BLKBACK" ] || die "$BLKBACK not built (make BUILD=$BUILD all)"
[ -r "$PLUGIN" ] || die "$PLUGIN not built (is nbdkit-plugin-dev installed?)"

T=$(mktemp -d /tmp/idc-demo-XXXXXX)
export IDC_SHM_DIR="$T/shm" IDC_STATS_DIR="$T/idc-stats"
mkdir -p "$IDC_SHM_DIR"
PIDS=""
BB_PID=""
cleanup() {
    for p in $PIDS $BB_PID; do kill -9 "$p" 2>/dev/null || true; done
    for p in $PIDS $BB_PID; do wait "$p" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

SOCK=$T/nbd.sock
URI="nbd+unix:///?socket=$SOCK"
START=$(now)

start_blkback() {
    ${DEMO_WRAP:-} "$BLKBACK" shm:blk0 "$T/disk.img" >>"$T/blkback.log" 2>&1 &
    BB_PID=$!
}

bold "1. blkback serves a ${SIZE_MB} MiB file on shm:blk0"
truncate -s "${SIZE_MB}M" "$T/disk.img"
start_blkback
say "blkback pid $BB_PID, service directory $IDC_SHM_DIR"

bold "2. nbdkit loads the idc front-end plugin (address=shm:blk0)"
nbdkit -f -U "$SOCK" "$PLUGIN" address=shm:blk0 stats="$T/stats" timeout=30 \
    >"$T/nbdkit.log" 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
[ -S "$SOCK" ] || { cat "$T/nbdkit.log"; die "nbdkit did not start"; }
nbdinfo "$URI" | grep -E 'export-size|is_read_only|can_flush|can_trim|can_multi_conn' \
    | sed 's/^/   nbdinfo: /'

bold "3. write a random image with nbdcopy and read it back"
head -c "$((SIZE_MB * 1024 * 1024))" /dev/urandom >"$T/src.img"
SUM=$(sha256sum <"$T/src.img" | cut -c1-16)
t0=$(now); nbdcopy "$T/src.img" "$URI"; t1=$(now)
say "wrote ${SIZE_MB} MiB in $(secs "$t0" "$t1") s ($(rate "$t0" "$t1"))"
t0=$(now); nbdcopy "$URI" "$T/back.img"; t1=$(now)
GOT=$(sha256sum <"$T/back.img" | cut -c1-16)
say "read  ${SIZE_MB} MiB in $(secs "$t0" "$t1") s ($(rate "$t0" "$t1"))"
[ "$SUM" = "$GOT" ] || die "checksum mismatch: wrote $SUM, read $GOT"
say "sha256 $SUM == $GOT  OK"

bold "4. qemu-io: pattern writes and reads at odd offsets"
qemu-io -f raw "$URI" -c 'write -P 0x5a 4097 65531' -c 'read -P 0x5a 4097 65531' \
    -c 'write -P 0xa5 1048573 7' -c 'read -P 0xa5 1048573 7' -c 'flush' | sed 's/^/   /'
# put the image back as it was for the checksum at the end
nbdcopy "$T/src.img" "$URI"

bold "5. kill -9 blkback in the middle of a copy, then restart it"
rm -f "$T/back.img"
nbdcopy --requests=16 "$URI" "$T/back.img" &
COPY=$!
PIDS="$PIDS $COPY"
# wait until a quarter of the image has arrived, so the kill lands in the middle of the copy
for _ in $(seq 500); do
    [ "$(( $(stat -c %b "$T/back.img" 2>/dev/null || echo 0) * 512 ))" -ge $((SIZE_MB * 262144)) ] && break
    sleep 0.01
done
kill -9 "$BB_PID"; wait "$BB_PID" 2>/dev/null || true
say "blkback killed (SIGKILL) while nbdcopy is reading ($(( $(stat -c %b "$T/back.img") / 2048 )) MiB copied so far)"
sleep 1
start_blkback
say "blkback restarted, pid $BB_PID"
if wait "$COPY"; then say "nbdcopy finished without an error"; else die "nbdcopy failed"; fi
grep -h 'nbdkit-idc:' "$T/nbdkit.log" | tail -n 3 | sed 's/^/   front-end: /'
grep -h 'front-end' "$T/blkback.log" | tail -n 3 | sed 's/^/   back-end:  /'
GOT=$(sha256sum <"$T/back.img" | cut -c1-16)
[ "$SUM" = "$GOT" ] || die "checksum mismatch after the restart: $SUM vs $GOT"
say "sha256 $SUM == $GOT  data intact"

bold "6. summary"
say "idcctl ls shm:blk0 (the runtime's counters of both ends, seen from outside)"
[ -x "$BUILD/bin/idcctl" ] && "$BUILD/bin/idcctl" ls shm:blk0 | sed 's/^/   /'
sleep 1.2   # the plugin writes its counters every second
stat() { sed -n "s/^$1=//p" "$T/stats"; }
END=$(now)
awk -v req="$(stat requests)" -v rd="$(stat bytes_read)" -v wr="$(stat bytes_written)" \
    -v rc="$(stat reconnects)" -v rt="$(stat retries)" -v fl="$(stat failures)" \
    -v act="$(stat active_seconds)" -v tot="$(secs "$START" "$END")" 'BEGIN {
    printf "   requests      %d (failed: %d)\n", req, fl
    printf "   bytes         %.1f MiB read, %.1f MiB written\n", rd / 1048576, wr / 1048576
    printf "   reconnects    %d (requests resent after the restart: %d)\n", rc, rt
    if (act > 0)
        printf "   throughput    %.0f MiB/s on average from the first to the last request (%.1f s,\n                 including qemu-io and the restart pause)\n", (rd + wr) / 1048576 / act, act
    printf "   demo time     %s s\n", tot
}'
# the restarted blkback stops cleanly on SIGTERM and prints its own counters
kill -TERM "$BB_PID" 2>/dev/null || true
wait "$BB_PID" 2>/dev/null || true
BB_PID=""
grep -h 'requests (' "$T/blkback.log" | tail -n 1 | sed 's/^blkback: /   new blkback   /'
if [ -n "${DEMO_WRAP:-}" ]; then
    n=$(grep -c '^==[0-9]*==' "$T/blkback.log" || true)
    say "$DEMO_WRAP: $n report lines in blkback's log"
    grep '^==[0-9]*==' "$T/blkback.log" | head -n 20 | sed 's/^/   /'
fi
[ "$(stat reconnects)" -ge 1 ] || die "the front-end did not reconnect"
printf '\n\033[1mdemo: OK\033[0m\n'
