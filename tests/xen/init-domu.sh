#!/bin/sh
# domU /init: load the Xen drivers, run the test plan (/idc/plan.sh); dom0 destroys us at the end.
export PATH=/bin:/usr/bin:/idc/bin
. /idc/lib.sh
mount_basics
# the watchdog: dom0's own limit (idc_timeout= on our command line too), else 400 s
T=$(sed -n 's/.*idc_timeout=\([0-9]*\).*/\1/p' /proc/cmdline)
( sleep "${T:-400}"; echo "@@idc domu-stage watchdog"; poweroff -f ) &
load_xen_modules
echo "@@idc domu-stage ready at $(up)s"
. /idc/plan.sh
echo "@@idc domu-stage done at $(up)s"
poweroff -f
