#!/bin/sh
# kidcxen: the kernel runtime (idc.ko, runtime/kernel/) in the domU against a user-space libidc
# backend in dom0. run.sh builds idc.ko and the self-test client tests/xen/kidc/kidc_test.c
# against the exact headers of the guests' kernel; dom0 runs kidcsrv (serve, restart after its
# kill) and the hostile backend kidcevil while the domU runs this script. Result lines are Criterion-like, prefixed with "@@idc "
# (see docs/xen.md).
#
#   kidcxen list     every check name the harness expects
#   kidcxen run      the domU: load idc.ko, run the client (its checks print in the kernel log
#                    as "idc_ktest: PASS|FAIL CHECK ..."), unload both, check what is left
#
# Checks (suite kidc_domu):
#   idc_loads             insmod idc.ko
#   connect, transactions_1000, remote_buffer, credits_full, hostile_index, hostile_length,
#   hostile_oversize, hostile_storm, hostile_early_storm, hostile_unasked, hostile_honest_kept,
#   backend_kill, reconnect, teardown
#                         the client's checks (tests/xen/kidc/kidc_test.c says what each does;
#                         the hostile_* ones against dom0's hostile backend kidcevil)
#   test_unloads          rmmod kidc_test
#   idc_unloads           rmmod idc
#   no_grant_left         idc.ko holds no grant and no mapping once kidc_test is unloaded
#   nothing_left          no event channel of idc in /proc/interrupts after the unload
#   kernel_log_clean      no WARNING:, BUG:, Oops or call trace in the kernel log since the load
#
# The modules are /idc/kidc/idc.ko and kidc_test.ko; when run.sh could not build them,
# /idc/kidc/why says why and every check is skipped with that reason.
SUITE=kidc_domu
CLIENT="connect transactions_1000 remote_buffer credits_full hostile_index hostile_length
hostile_oversize hostile_storm hostile_early_storm hostile_unasked hostile_honest_kept backend_kill
reconnect teardown"
CHECKS="idc_loads $CLIENT test_unloads no_grant_left idc_unloads nothing_left kernel_log_clean"
DIR=/idc/kidc

. "${0%/*}/checks.sh" # list_or_run, need_files, begin, pass, fail, log, check_kernel_log...

list_or_run "$@"

need_files "$DIR/why" "$DIR/idc.ko" "$DIR/kidc_test.ko"

log_mark # the kernel log from here on is this step's

begin idc_loads
idc=0
if out=$(insmod "$DIR/idc.ko" 2>&1); then pass "$(uname -r)"; idc=1; else fail "insmod: $out"; fi

test=0
if [ $idc = 1 ]; then
    T1=$(up)
    if out=$(insmod "$DIR/kidc_test.ko" 2>&1); then test=1; else note="insmod kidc_test: $out"; fi
fi
for c in $CLIENT; do
    begin "$c"; T0=${T1:-$T0}
    line=$(log | sed -n "s/.*idc_ktest: \(PASS\|FAIL\) $c\( \(.*\)\)\{0,1\}$/\1 \3/p" | head -n 1)
    case $line in
    PASS*) pass "${line#PASS }" ;;
    FAIL*) fail "${line#FAIL }" ;;
    *) fail "${note:-no result from the client (an earlier check failed)}" ;;
    esac
done

begin test_unloads
if [ $test = 0 ]; then fail "not loaded"
elif out=$(rmmod kidc_test 2>&1); then pass
else fail "rmmod: $out"; fi
check_grants_left "$(grants_held)"

check_idc_unload "$idc"

check_kernel_log
log | grep -E 'idc' | sed 's/^/@@idc note kernel: /' | head -40
