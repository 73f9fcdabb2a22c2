#!/bin/sh
# kbackxen: the kernel runtime (idc.ko, runtime/kernel/) serving a backend in the domU to a
# user-space libidc frontend in dom0. run.sh builds idc.ko and the backend module
# tests/xen/kback/kback_test.c against the exact headers of the guests' kernel; dom0 runs
# kbackfe (tests/xen/transport/kbackfe_test.c: connect, 1000 transactions, messages both ways,
# a frontend killed with transactions held, reconnect, then it asks for the unload) while the
# domU runs this script. Result lines are Criterion-like, prefixed with "@@idc " (docs/xen.md).
#
#   kbackxen list     every check name the harness expects
#   kbackxen run      the domU: load idc.ko and the backend, wait for dom0's frontend to ask for
#                     the unload, unload with its connection open, check what is left
#
# Checks (suite kback_domu):
#   idc_loads             insmod idc.ko
#   backend_loads         insmod kback_test.ko: xen:kback?allow=0 published
#   served                the frontend connected 3 times and asked for the unload within 240 s
#   killed_frontend_dropped  the connection of the frontend dom0 killed went down because the
#                         frontend unmapped the control page, with its 4 transactions held
#   drain_cut             the backend was reading that frontend's buffer again and again when it
#                         was killed: the transfer in flight failed with IDC_ERR_DISCONNECTED
#                         within 5 s of the disconnect (the buffer owner's unmap notification),
#                         after at least one read, and no transfer is left in flight
#   unload_connected      rmmod kback_test with a connection open
#   no_grant_left         then idc.ko holds no mapping of the frontend's pages (its grants count)
#   idc_unloads           rmmod idc
#   nothing_left          no event channel of idc in /proc/interrupts after the unload
#   kernel_log_clean      no WARNING:, BUG:, Oops or call trace in the kernel log since the load
#
# The modules are /idc/kback/idc.ko and kback_test.ko; when run.sh could not build them,
# /idc/kback/why says why and every check is skipped with that reason.
SUITE=kback_domu
CHECKS="idc_loads backend_loads served killed_frontend_dropped drain_cut unload_connected"
CHECKS="$CHECKS no_grant_left"
CHECKS="$CHECKS idc_unloads nothing_left kernel_log_clean"
DIR=/idc/kback
P=/sys/module/kback_test/parameters

. "${0%/*}/checks.sh" # list_or_run, need_files, begin, pass, fail, log, check_kernel_log...
param() { cat "$P/$1" 2>/dev/null || echo 0; }

list_or_run "$@"

need_files "$DIR/why" "$DIR/idc.ko" "$DIR/kback_test.ko"

log_mark # the kernel log from here on is this step's

begin idc_loads
idc=0
if out=$(insmod "$DIR/idc.ko" 2>&1); then pass "$(uname -r)"; idc=1; else fail "insmod: $out"; fi

begin backend_loads
be=0
if [ $idc = 0 ]; then fail "idc.ko not loaded"
elif out=$(insmod "$DIR/kback_test.ko" 2>&1); then pass "$(log | grep -m1 'kback_test: serving')"; be=1
else fail "insmod: $out"; fi

begin served
i=0
while [ $be = 1 ] && [ "$(param unload_ok)" != 1 ] && [ $i -lt 2400 ]; do sleep 0.1; i=$((i + 1)); done
c=$(param connects) d=$(param disconnects)
if [ "$(param unload_ok)" = 1 ] && [ "$c" = 3 ]; then pass "$c connections, $d disconnects; $(param pongs_queued) pongs waited for credit at most at once"
else fail "unload_ok $(param unload_ok) after $((i / 10)) s, $c connections, $d disconnects"; fi

begin killed_frontend_dropped
line=$(log | grep 'kback_test: disconnect 2 ' | head -n 1)
case $line in
*"with 4 transactions held"*) pass "${line#*kback_test: }" ;;
*) fail "${line:-no second disconnect in the kernel log}" ;;
esac
why=$(log | grep -c 'frontend unmapped the control page')
[ "$why" -ge 1 ] || detail "no 'frontend unmapped the control page' line in the kernel log"

begin drain_cut
ds=$(param drain_status) dr=$(param drain_reads) gap=$(param cut_gap_ms)
counts="transfers: $(param xfers_ok) ok, $(param xfers_failed) failed, $(param xfers_inflight) in flight"
if [ "$ds" = -2 ] && [ "$dr" -ge 1 ] && [ "$gap" -le 5000 ] && [ "$(param xfers_inflight)" = 0 ]; then
    pass "IDC_ERR_DISCONNECTED after $dr reads of 4 MiB, $gap ms from the disconnect; $counts"
else
    fail "drain status $ds after $dr reads, $gap ms from the disconnect; $counts"
fi

begin unload_connected
open=$(( $(param connects) - $(param disconnects) )) during=$(grants_held)
if [ $be = 0 ]; then fail "not loaded"
elif out=$(rmmod kback_test 2>&1); then pass "$open connection(s) open at the unload"
else fail "rmmod: $out"; fi
check_grants_left "$(grants_held)" "$during"

check_idc_unload "$idc"

check_kernel_log
log | grep -E 'idc|kback' | sed 's/^/@@idc note kernel: /' | head -40
blkctl put self kback-done yes   # dom0's kbackfe waits for it before its step ends
