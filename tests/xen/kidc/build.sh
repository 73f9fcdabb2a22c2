#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only OR MIT
# build.sh - builds idc.ko (runtime/kernel/build.sh) and the self-test client kidc_test.ko
# against one kernel build tree, both W=1 and warning-free, for the domU of check-xen.
#
# Usage: tests/xen/kidc/build.sh KDIR DIR
#   DIR/idc/idc.ko and DIR/test/kidc_test.ko on success; the failing log is printed otherwise.
set -u
[ $# -eq 2 ] || { echo "usage: $0 KDIR DIR" >&2; exit 2; }
kdir=$1 dir=$2
src=$(cd "$(dirname "$0")/../../.." && pwd)
"$src/runtime/kernel/build.sh" "$kdir" "$dir/idc" || exit 1
mkdir -p "$dir/test" || exit 1
ln -sf "$src/tests/xen/kidc/kidc_test.c" "$src/tests/xen/kidc/Kbuild" "$dir/test/"
idc=$(cd "$dir/idc" && pwd)
make -C "$kdir" M="$(cd "$dir/test" && pwd)" IDC_SRC="$src" \
    KBUILD_EXTRA_SYMBOLS="$idc/Module.symvers" W=1 modules > "$dir/test/build.log" 2>&1
rc=$?
if [ $rc -ne 0 ] || grep -qi 'warning' "$dir/test/build.log"; then
    cat "$dir/test/build.log"
    echo "build.sh: the kernel build of kidc_test.ko is not clean (make exit status $rc)" >&2
    exit 1
fi
exit 0
