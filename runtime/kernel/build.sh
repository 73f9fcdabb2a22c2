#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only OR MIT
# build.sh - builds idc.ko, the kernel runtime, against a kernel build tree.
#
# Usage: runtime/kernel/build.sh KDIR DIR [EXTRA.c...]
#
#   KDIR   a kernel build tree (/lib/modules/VERSION/build, /usr/src/linux-headers-VERSION)
#   DIR    a scratch directory (made if absent): symbolic links to the sources, the objects,
#          idc.ko and build.log; the source tree stays clean
#   EXTRA  more C files linked into idc.ko (the kbuild check's own test that a warning fails)
#
# kbuild's flags plus W=1; any warning (compiler, kernel-doc, modpost) fails, as does any
# error: exit status 0 only for a clean build, the log is printed otherwise.
set -u
[ $# -ge 2 ] || { echo "usage: $0 KDIR DIR [EXTRA.c...]" >&2; exit 2; }
kdir=$1 dir=$2
shift 2
src=$(cd "$(dirname "$0")/../.." && pwd)

mkdir -p "$dir" || exit 1
for f in "$src"/runtime/kernel/*.c "$src"/runtime/kernel/Kbuild; do
    ln -sf "$f" "$dir/"
done
for f in endpoint registry offer limits errors ring buffer; do
    ln -sf "$src/runtime/core/$f.c" "$dir/$f.c"
done
for f in addr xbuser xbowner; do
    ln -sf "$src/runtime/transports/xen/$f.c" "$dir/$f.c"
done
extra=""
for c in "$@"; do
    cp "$c" "$dir/" && extra="$extra $(basename "$c" .c).o"
done

make -C "$kdir" M="$(cd "$dir" && pwd)" IDC_SRC="$src" IDC_EXTRA="$extra" W=1 modules \
    > "$dir/build.log" 2>&1
rc=$?
if [ $rc -ne 0 ] || grep -qi 'warning' "$dir/build.log"; then
    cat "$dir/build.log"
    echo "build.sh: the kernel build of idc.ko is not clean (make exit status $rc)" >&2
    exit 1
fi
exit 0
