# The result lines of the guest scripts (blkxen, kmodxen, kidcxen, idcblkxen, kbackxen):
# Criterion-like, prefixed with "@@idc " (docs/xen.md). Each script sets SUITE (and CHECKS) and
# sources this file from its own directory: /idc/bin in the guests, the build's bin directory
# when the harness runs `SCRIPT list` on the host.

up() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(up)" 'BEGIN { printf "%.2f", b - a }'; }

CUR="" T0=0 FAILED=0
begin() { CUR=$1; T0=$(up); }
detail() { echo "@@idc [----] $SUITE::$CUR: $*"; }
pass() { [ $# -gt 0 ] && detail "$*"; echo "@@idc [PASS] $SUITE::$CUR: ($(since "$T0")s)"; }
fail() { detail "$*"; echo "@@idc [FAIL] $SUITE::$CUR: ($(since "$T0")s)"; FAILED=1; }
skip() { echo "@@idc [SKIP] $SUITE::$CUR: $*"; }
# skip_rest CHECK...: each named check skipped, for the reason in WHY
skip_rest() { for c in "$@"; do begin "$c"; skip "not run: $WHY"; done; }

# list_or_run "$@": `SCRIPT list` prints SUITE's CHECKS and ends the script, `SCRIPT run` goes
# on, anything else is a usage error.
list_or_run() {
    case ${1:-} in
    list) for c in $CHECKS; do echo "$SUITE::$c"; done; exit 0 ;;
    run) ;;
    *) echo "usage: $0 list|run" >&2; exit 2 ;;
    esac
}

# need_files WHY FILE...: unless every FILE is there, each check is skipped with the reason in
# the file WHY (where run.sh says why it could not build a module) and the script ends.
need_files() {
    _why=$1
    shift
    for _f in "$@"; do
        [ -f "$_f" ] && continue
        _why=$(cat "$_why" 2>/dev/null || echo "$_f is not in the guest")
        for c in $CHECKS; do echo "@@idc [SKIP] $SUITE::$c: $_why"; done
        exit 0
    done
}

# The kernel log from log_mark on: what this step's modules said.
log_mark() { LOG_BASE=$(dmesg | wc -l); }
log() { dmesg | tail -n +"$((LOG_BASE + 1))"; }

# kernel_log_clean, the check every kernel step ends with: no warning, bug, oops or call trace
# since log_mark.
check_kernel_log() {
    begin kernel_log_clean
    _bad=$(log | grep -E 'WARNING:|BUG:|Oops|Call Trace|general protection|leaking' | head -3)
    if [ -n "$_bad" ]; then
        fail "$(echo "$_bad" | tr '\n' ' ')"
    else
        pass "$(log | wc -l) kernel log lines since the load"
    fi
}

# grants_held: idc.ko's count of the grants it holds (its pages granted to other domains, their
# pages it maps), read while it is loaded; empty when it is not.
grants_held() { cat /sys/module/idc/parameters/grants 2>/dev/null; }

# check_grants_left COUNT [DURING]: check no_grant_left, COUNT being grants_held once idc.ko's
# client modules were unloaded (every context destroyed): nothing may be left granted or mapped.
# DURING, grants_held while a connection was up, shows the count counts (0 there fails).
check_grants_left() {
    begin no_grant_left
    if [ -z "$1" ]; then
        fail "no count: idc.ko was not loaded after its clients' unload"
    elif [ -n "${2:-}" ] && [ "$2" = 0 ]; then
        fail "the count was 0 while connected: it counts nothing"
    elif [ "$1" = 0 ]; then
        pass "idc.ko held ${2:+$2 grants and mappings while connected, }no grant and no mapping after its clients' unload"
    else
        fail "idc.ko still held $1 grants or mappings after its clients' unload"
    fi
}

# check_idc_unload LOADED: checks idc_unloads (rmmod idc, when LOADED is 1) and nothing_left (no
# event channel of idc.ko left in /proc/interrupts), the end of each step that loads idc.ko.
check_idc_unload() {
    begin idc_unloads
    if [ "$1" != 1 ]; then
        fail "not loaded"
    elif _out=$(rmmod idc 2>&1); then
        pass
    else
        fail "rmmod: $_out"
    fi
    begin nothing_left
    _left=$(grep -c ' idc$' /proc/interrupts)
    if [ "$_left" = 0 ]; then
        pass "no idc interrupt in /proc/interrupts"
    else
        fail "$_left idc interrupts still bound"
    fi
}
