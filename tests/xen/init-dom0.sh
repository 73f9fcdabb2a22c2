#!/bin/sh
# dom0 /init: bring up Xen's daemons, then run the test plan (/idc/plan.sh) and power off.
# A watchdog powers the machine off if the plan hangs (idc_timeout= on the kernel command line).
export PATH=/bin:/usr/bin:/usr/lib/xen-4.17/bin:/idc/bin
. /idc/lib.sh
mount_basics
mkdir -p /run/xen /run/xenstored /run/xen/qmp
stage dom0-up

DOMU_LOG=/var/log/xen/console/guest-domu.log
TAILPID=""
finish() {
    if [ -n "$TAILPID" ]; then sleep 1.5; kill $TAILPID 2>/dev/null; fi
    note "segfaults in dom0: $(dmesg | grep -c 'segfault at')"
    stage "$1"
    poweroff -f
}

T=$(sed -n 's/.*idc_timeout=\([0-9]*\).*/\1/p' /proc/cmdline)
( sleep "${T:-480}"; echo "@@idc stage watchdog: dom0 plan took more than ${T:-480}s"
  [ -f $DOMU_LOG ] && sed 's/^/domU| /' $DOMU_LOG; poweroff -f ) &

load_xen_modules
grep -q control_d /proc/xen/capabilities || finish "boot-failed: not a control domain"
run 20 xenstored --pid-file /run/xenstored.pid || finish "boot-failed: xenstored"
run 30 xen-init-dom0 >/dev/null || finish "boot-failed: xen-init-dom0"
run 20 xenconsoled --pid-file=/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console ||
    finish "boot-failed: xenconsoled"
stage ready-dom0

# domu_start: create the test domU, stream its console, wait for its ready marker.
# Sets DOMU (its domid). Prints stage ready-domu, or domu-failed (a boot failure).
domu_start() {
    run 60 xl create /etc/xen/domu.cfg >/dev/null || { stage domu-failed "xl create"; return 1; }
    DOMU=$(xl domid domu)
    note "domU $DOMU created at $(up)s"
    _i=0
    while [ ! -f $DOMU_LOG ] && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
    tail -n +1 -f $DOMU_LOG 2>/dev/null &
    TAILPID=$!
    _i=0
    while ! grep -q '@@idc domu-stage ready' $DOMU_LOG 2>/dev/null; do
        _i=$((_i + 1))
        if [ $_i -gt 900 ]; then stage domu-failed "no ready marker in 90s"; return 1; fi
        # xl is costly under emulation: look for a dead domU once a second only
        if [ $((_i % 10)) = 0 ] && ! xl domid domu >/dev/null 2>&1; then
            stage domu-failed "the domU died"; return 1
        fi
        sleep 0.1
    done
    stage ready-domu "$DOMU"
}

# domu_stop: make sure the domU is gone.
domu_stop() {
    xl domid domu >/dev/null 2>&1 && run 30 xl destroy domu
    return 0
}

. /idc/plan.sh
finish done
