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
TESTS="
txn/round_trips_return_payloads
txn/round_trips_with_spinning_endpoints
txn/application_error_vs_transport_error
txn/again_when_transaction_credits_exhausted_then_writable
txn/again_when_message_credits_exhausted_then_writable
txn/messages_flow_with_credit_retry
txn/oversized_payload_is_toobig
txn/smaller_endpoint_quota_is_enforced
txn/oversized_result_is_toobig
txn/handler_protocol_error_disconnects_and_reconnects
lifecycle/order_both_sides
lifecycle/destroy_waits_for_disconnect_done
lifecycle/backend_side_cycles_match_peer
lifecycle/local_disconnect_cycles_both_sides
lifecycle/backend_serves_one_connection_at_a_time
lifecycle/destroy_from_inside_a_callback
lifecycle/context_destroy_with_live_connection
kill/kill9_backend_mid_transfer
kill/kill9_frontend_mid_transfer
kill/late_completion_after_reconnect_is_dropped
deadlock/symmetric_full_load_finishes
deadlock/three_stage_stack_full_load_finishes
proto/negotiation_picks_highest_common_version
proto/different_hash_refused_on_both_sides
proto/different_name_refused_on_both_sides
proto/no_common_version_refused_on_both_sides
proto/refusal_does_not_poison_the_endpoint
"
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
