#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only OR MIT
# build.sh - builds idc.ko (runtime/kernel/build.sh) and the self-test client kidc_test.ko
# against one kernel build tree, both W=1 and warning-free, for the domU of check-xen.
#
# Usage: tests/xen/kidc/build.sh KDIR DIR [MODDIR]
#   DIR/idc/idc.ko and DIR/test/kidc_test.ko on success; the failing log is printed otherwise.
#   MODDIR: another test module's directory (its Kbuild and .c files, e.g. tests/xen/kback),
#   built into DIR/test-NAME instead (idc.ko in DIR/idc is only brought up to date)
set -u
[ $# -eq 2 ] || [ $# -eq 3 ] || { echo "usage: $0 KDIR DIR [MODDIR]" >&2; exit 2; }
kdir=$1 dir=$2
src=$(cd "$(dirname "$0")/../../.." && pwd)
mod=$src/tests/xen/kidc test=$dir/test
[ $# -lt 3 ] || { mod=$(cd "$3" && pwd) && test=$dir/test-$(basename "$mod"); } || exit 1
"$src/runtime/kernel/build.sh" "$kdir" "$dir/idc" || exit 1
mkdir -p "$test" || exit 1
ln -sf "$mod"/*.c "$mod/Kbuild" "$test/"
idc=$(cd "$dir/idc" && pwd)
make -C "$kdir" M="$(cd "$test" && pwd)" IDC_SRC="$src" \
    KBUILD_EXTRA_SYMBOLS="$idc/Module.symvers" W=1 modules > "$test/build.log" 2>&1
rc=$?
if [ $rc -ne 0 ] || grep -qi 'warning' "$test/build.log"; then
    cat "$test/build.log"
    echo "build.sh: the kernel build of the test module in $mod is not clean (make exit status $rc)" >&2
    exit 1
fi
exit 0
