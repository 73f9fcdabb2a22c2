#!/bin/sh
# kmodxen: the kbuild check's module (tests/kbuild: generated codecs, the rings and the in-kernel
# self-test tests/kbuild/kmod/selftest.c), built by run.sh against the exact headers of the
# guests' kernel, loaded in the domU. Result lines are Criterion-like, prefixed with "@@idc "
# (see docs/xen.md).
#
#   kmodxen list     every check name the harness expects
#   kmodxen run      the domU: load, read the self-test's lines, unload, read the kernel log
#
# Checks (suite kmod_domu):
#   module_loads          insmod succeeds: the module matches the running kernel and every
#                         self-test check passed (a failed one makes the load fail)
#   selftest_CHECK        one result per line "idc_selftest: PASS|FAIL CHECK" of the kernel log
#                         (not in the list: the module names its own checks)
#   module_unloads        rmmod succeeds
#   kernel_log_clean      no WARNING:, BUG:, Oops or call trace in the kernel log since the load
#
# The module is /idc/kmod/idc_check.ko; when run.sh could not build it, /idc/kmod/why says why
# and every check is skipped with that reason.
SUITE=kmod_domu
CHECKS="module_loads module_unloads kernel_log_clean"
KO=/idc/kmod/idc_check.ko

. "${0%/*}/checks.sh" # list_or_run, need_files, begin, pass, fail, log, check_kernel_log...

list_or_run "$@"

need_files /idc/kmod/why "$KO"

log_mark # the kernel log from here on is this step's

begin module_loads
if out=$(insmod "$KO" 2>&1); then
    pass "$(uname -r)"
    loaded=1
else
    fail "insmod: $out"
    loaded=0
fi
log | sed -n 's/.*idc_selftest: \(PASS\|FAIL\) \([A-Za-z0-9_]*\)\(.*\)$/\1 \2\3/p' |
    while read -r res name rest; do
        [ -n "$rest" ] && echo "@@idc [----] $SUITE::selftest_$name$rest"
        echo "@@idc [$res] $SUITE::selftest_$name: (0s)"
    done

begin module_unloads
if [ $loaded = 0 ]; then
    fail "not loaded"
elif out=$(rmmod idc_check 2>&1); then
    pass
else
    fail "rmmod: $out"
fi

check_kernel_log
