#!/bin/sh
# rtxen: the runtime's transport-generic Criterion tests (tests/runtime) over the xen transport,
# run by the real-Xen harness in dom0: every endpoint of the test and of its peer processes
# uses xen:NAME (backend) / xen:0/NAME (frontend) instead of shm:NAME (IDC_TEST_XEN=0), so
# services, rings, notifications and lifecycle go through xenstore, grants and event channels.
# The shm-specific tests (hostile ring images, address syntax, remote buffers) stay on the host,
# and so do the 100 and 50 restarts under load (2.5 minutes on emulated CPUs; idcxen restarts
# and kills backends over xen).
#
#   rtxen list     the checks the harness expects
#   rtxen run      run them (Criterion-like "@@idc" result lines)
TESTS=$(grep -v '^#' "$(dirname "$0")/rtxen.tests") # tests/runtime/generic.list
SUITE=rtxen_dom0_dom0
DIR=$(dirname "$0")
case ${1:-} in
list)
    for t in $TESTS; do echo "$SUITE::${t%%/*}.${t#*/}"; done
    exit 0 ;;
run) ;;
*)  echo "usage: rtxen list | run" >&2; exit 2 ;;
esac
# Criterion's runner keeps its arena in POSIX shared memory: the guests' /dev has no /dev/shm
if ! grep -q " /dev/shm " /proc/mounts; then
    mkdir -p /dev/shm && mount -t tmpfs shm /dev/shm
fi
export IDC_TEST_XEN=0 RTT_BIN_DIR="$DIR" RTT_SLOW=1
OUT=${TMPDIR:-/tmp}/rtxen.$$
rc=0
for t in $TESTS; do
    s=${t%%/*} n=${t#*/}
    "$DIR/rtxen-runtime" --filter="$t" -j1 --verbose > "$OUT" 2>&1
    st=$?
    if grep -qE "^\[(PASS|FAIL|SKIP)\] $s::$n:" "$OUT"; then
        grep -E "^\[----\] |^\[(PASS|FAIL|SKIP)\] $s::$n:" "$OUT" | grep -v "^\[----\] Criterion v" |
            sed "s/^/@@idc /; s/\] $s::$n:/] $SUITE::$s.$n:/"
    else
        # the runner itself failed: show what it said
        head -20 "$OUT" | sed "s/^/@@idc [----] $SUITE::$s.$n: /"
        echo "@@idc [FAIL] $SUITE::$s.$n: (runner exit status $st, no result)"
    fi
    [ $st = 0 ] || rc=1
done
rm -f "$OUT"
exit $rc
