#!/bin/sh
# module.sh - builds generated code as an out-of-tree kernel module, the way a driver would.
#
# Usage: tests/kbuild/module.sh KDIR IDLC SRCDIR DIR [-IDIR]... IDL... [-- EXTRA.c...]
#
#   KDIR    a kernel build tree (/usr/src/linux-headers-VERSION, /lib/modules/VERSION/build)
#   IDLC    the idlc to generate with (its templates are the ones checked)
#   SRCDIR  the idc source tree (runtime/include for idc.h and idc_wire.h, runtime/core/ring.c)
#   DIR     an empty scratch directory: the module's sources, objects and build.log go there
#   -IDIR   where idlc looks for imported files (besides the importing file's directory)
#   IDL     protocols, each generated into DIR
#   EXTRA   more C files for the module (the suite's own check that a warning fails)
#
# The module links every NAME_codec.c and the runtime's ring implementation (runtime/core/ring.c,
# the very file libidc compiles, reached through a symbolic link: two builds, one source). The
# endpoint glue (NAME_client.c, NAME_server.c) calls into the kernel runtime, which is not
# built here, so kbuild compiles it as objects of their own (always-y) with the same flags
# instead of linking it. kbuild's flags plus W=1; any warning (compiler, kernel-doc, modpost)
# fails, as does any error. Exit status 0 only for a clean build; the log is printed otherwise.
set -u

[ $# -ge 5 ] || { echo "usage: $0 KDIR IDLC SRCDIR DIR [-IDIR]... IDL... [-- EXTRA.c...]" >&2; exit 2; }
kdir=$1 idlc=$2 src=$3 dir=$4
shift 4

inc="" codec="" glue="" extra=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    case $1 in -I*) inc="$inc $1"; shift; continue ;; esac
    idl=$1 name=$(basename "$1" .idl)
    shift
    # shellcheck disable=SC2086 # one word per -I option
    "$idlc" $inc -o "$dir" "$idl" || { echo "idlc failed on $idl" >&2; exit 1; }
    codec="$codec ${name}_codec.o"
    glue="$glue ${name}_client.o ${name}_server.o"
done
[ $# -gt 0 ] && shift
for c in "$@"; do
    cp "$c" "$dir/" && extra="$extra $(basename "$c" .c).o"
done

ln -s "$src/runtime/core/ring.c" "$dir/ring.c"

# The module's one hand-written file: what kbuild needs to link a module.
cat > "$dir/idc_main.c" <<'EOF'
// SPDX-License-Identifier: GPL-2.0
/* The module of the kbuild check: generated codecs and the ring, built and linked, never
   loaded. The licence line is what modpost asks of every module. */
#include <linux/module.h>

MODULE_DESCRIPTION("idc: generated code and rings built as kernel code");
MODULE_LICENSE("GPL");
EOF

cat > "$dir/Kbuild" <<EOF
obj-m := idc_check.o
idc_check-y := idc_main.o$codec ring.o$extra
always-y :=$glue
ccflags-y := -I$src/runtime/include -I$src/runtime/core
EOF

make -C "$kdir" M="$dir" W=1 modules > "$dir/build.log" 2>&1
rc=$?
if [ $rc -ne 0 ] || grep -qi 'warning' "$dir/build.log"; then
    cat "$dir/build.log"
    echo "module.sh: the kernel build of$codec$glue$extra is not clean (make exit status $rc)" >&2
    exit 1
fi
exit 0
