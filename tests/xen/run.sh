#!/bin/bash
# Real-Xen test harness: boots Xen 4.17 + a Linux PV dom0 under qemu-system-x86_64 (TCG), starts a
# PV domU from dom0, runs the Xen tests in dom0 and between dom0 and the domU, and reports
# Criterion-style results read from the serial console. See docs/xen.md.
#
# Usage: tests/xen/run.sh BUILD_DIR GUEST_BIN_DIR
#   BUILD_DIR       the build directory; the package cache and the work dir live under it
#   GUEST_BIN_DIR   directory of host-built test programs copied into both guests (with their libs)
#
# Knobs (environment): XEN_BOOT_TIMEOUT (s, per attempt, default 860), XEN_READY_TIMEOUT (s until
# Xen's daemons run in dom0, default 120), XEN_GUEST_TIMEOUT (s, dom0
# watchdog, default 780), XEN_BOOT_RETRIES (default 2), XEN_SMP (default 2), XEN_TCG_CPU (max),
# XEN_MEM (MiB, 2048), XEN_BLK_MB (the block example's disk in MiB, 16), XEN_VERBOSE=1 (stream
# the console), XEN_KEEP=1 (keep the work dir),
# XEN_CACHE (package cache dir, default BUILD_DIR/xen/cache), XEN_LIST_PROGS (programs whose
# `PROG list` gives the expected checks, default xenprim).
#
# Exit status: 0 all passed; 1 a test failed or the boot failed after the retries; 2 setup error.
set -euo pipefail

SRC=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:?usage: run.sh BUILD_DIR GUEST_BIN_DIR}
BINDIR=${2:?usage: run.sh BUILD_DIR GUEST_BIN_DIR}
mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd)
BINDIR=$(cd "$BINDIR" && pwd)

BOOT_TIMEOUT=${XEN_BOOT_TIMEOUT:-860}
READY_TIMEOUT=${XEN_READY_TIMEOUT:-120}
GUEST_TIMEOUT=${XEN_GUEST_TIMEOUT:-780}
BLK_MB=${XEN_BLK_MB:-16}
RETRIES=${XEN_BOOT_RETRIES:-2}
SMP=${XEN_SMP:-2}
TCG_CPU=${XEN_TCG_CPU:-max}
MEM=${XEN_MEM:-2048}
VERBOSE=${XEN_VERBOSE:-0}
CACHE=${XEN_CACHE:-$BUILD/xen/cache}
WORK=$BUILD/xen/work

T_START=$(date +%s.%N)
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
say() { printf 'xen: %s\n' "$*"; }
die() { printf 'xen: error: %s\n' "$*" >&2; exit 2; }

# the domU needs a physical CPU of its own (vCPU over-commit corrupts guests under TCG)
case $SMP in ''|*[!0-9]*) die "XEN_SMP must be a number >= 2" ;; esac
[ "$SMP" -ge 2 ] || die "XEN_SMP must be at least 2"
case $BLK_MB in ''|0*|*[!0-9]*) die "XEN_BLK_MB must be a number of MiB (4 to 128)" ;; esac
[ "$BLK_MB" -ge 4 ] && [ "$BLK_MB" -le 128 ] || die "XEN_BLK_MB must be a number of MiB (4 to 128)"

# ------------------------------------------------------------------ host packages
# Installed on the host: the emulator, the initramfs tools and the Xen user libraries the test
# programs link against (their runtime libraries are copied into the guests).
# nbdkit and nbdcopy/nbdinfo (libnbd-bin) go into dom0 for the block example's step (blkxen);
# qemu-io (qemu-utils) too when it is installed (its check is skipped otherwise).
HOST_PKGS="qemu-system-x86 busybox-static cpio gzip xz-utils libxen-dev gcc libc6-dev pkg-config"
HOST_PKGS="$HOST_PKGS nbdkit libnbd-bin"
# strace: xenbench's system calls per operation in dom0 (docs/performance.md)
HOST_PKGS="$HOST_PKGS strace"
# fio: idcblk's verify run and its comparison with xen-blkfront in the domU (idcblkxen)
HOST_PKGS="$HOST_PKGS fio"
missing=""
for p in $HOST_PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        say "installing host packages:$missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq || true
        apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
        echo "xen: missing Debian packages:$missing" >&2
        echo "xen: run: sudo apt-get install$missing" >&2
        exit 2
    fi
fi

# ------------------------------------------------------------------ one harness per build dir
mkdir -p "$BUILD/xen"
exec 9>"$BUILD/xen/lock"
flock -n 9 || die "another check-xen is running with this build directory"

# ------------------------------------------------------------------ guest packages (cache)
# The hypervisor, the Xen tools and the kernel are downloaded and unpacked, never installed.
# Resolving the package versions costs seconds of apt-cache; the answer is kept in
# $CACHE/resolved and reused until apt's package lists change.
RESOLVED=$CACHE/resolved
mkdir -p "$CACHE"
if [ ! -s "$RESOLVED" ] || [ -n "$(find /var/lib/apt/lists -maxdepth 1 -newer "$RESOLVED" -print -quit 2>/dev/null)" ]; then
    resolve() {
        local k
        k=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
        [ -n "$k" ] || return 1
        # "package version" per line for the four packages the guests are made of
        apt-cache policy xen-hypervisor-4.17-amd64 xen-utils-4.17 xen-utils-common "$k" 2>/dev/null |
            awk '/^[^ ]/ { p = $1; sub(/:$/, "", p) } /Candidate:/ && $2 != "(none)" { print p, $2 }'
    }
    out=$(resolve || true)
    if [ "$(printf '%s\n' "$out" | grep -c .)" != 4 ] && [ "$(id -u)" = 0 ]; then
        apt-get update -qq || true
        out=$(resolve || true)
    fi
    [ "$(printf '%s\n' "$out" | grep -c .)" = 4 ] ||
        die "apt cannot resolve Xen 4.17 and the current kernel (linux-image-amd64); run: sudo apt-get update"
    printf '%s\n' "$out" > "$RESOLVED"
fi
GUEST_PKGS=$(awk '{ print $1 }' "$RESOLVED" | tr '\n' ' ')
KPKG=$(awk '/^linux-image-/ { print $1 }' "$RESOLVED")
KVER=${KPKG#linux-image-}
KEY=$(md5sum < "$RESOLVED" | cut -c1-12)
X=$CACHE/$KEY
if [ ! -f "$X/.complete" ]; then
    t=$(now)
    say "downloading $GUEST_PKGS into $X"
    rm -rf "$X"; mkdir -p "$X/debs" "$X/root"
    # as root, apt would try to drop to its sandbox user, which cannot write here
    sandbox=""; [ "$(id -u)" = 0 ] && sandbox="-o APT::Sandbox::User=root"
    (cd "$X/debs" && apt-get download -qq $sandbox $GUEST_PKGS) || die "apt-get download failed"
    for d in "$X"/debs/*.deb; do dpkg-deb -x "$d" "$X/root"; done
    # keep what the guests use: the hypervisor, the kernel, its Xen and block drivers, ext4 and
    # what it needs (the domU mounts one on idcblk), the tools
    find "$X/root/lib/modules/$KVER/kernel" -mindepth 1 -maxdepth 1 ! -name drivers ! -name fs \
        ! -name lib ! -name crypto -exec rm -rf {} +
    find "$X/root/lib/modules/$KVER/kernel/fs" -mindepth 1 -maxdepth 1 ! -name ext4 ! -name jbd2 \
        ! -name mbcache.ko -exec rm -rf {} +
    find "$X/root/lib/modules/$KVER/kernel/lib" "$X/root/lib/modules/$KVER/kernel/crypto" \
        -mindepth 1 -maxdepth 1 ! -name crc16.ko ! -name crc32c_generic.ko -exec rm -rf {} +
    find "$X/root/lib/modules/$KVER/kernel/drivers" -mindepth 1 -maxdepth 1 ! -name xen ! -name block \
        -exec rm -rf {} +
    rm -rf "$X/root/usr/share" "$X/root/usr/sbin" "$X/root/usr/bin" "$X/root/usr/lib/xen-common" \
        "$X/root/var" "$X/root/etc/init.d" "$X/root/etc/default" "$X/root/usr/lib/xen-4.17/boot"
    # the top-level Makefile includes every *.d file under the build dir: leave none here
    find "$X" -name '*.d' -prune -exec rm -rf {} +
    # QEMU's multiboot loader reads an ELF, not the gzip'ed image
    gunzip -c "$X"/root/boot/xen-4.17-amd64.gz > "$X/xen"
    cp "$RESOLVED" "$X/packages"
    rm -rf "$X/debs"
    touch "$X/.complete"
    say "cache ready in $(since "$t")s"
    # older cache entries (other package versions) are dropped
    for o in "$CACHE"/*/; do [ "${o%/}" = "$X" ] || rm -rf "$o"; done
fi
VMLINUZ=$X/root/boot/vmlinuz-$KVER
# Xen (for dom0) and libxenguest (for the domU, inside dom0) unpack the compressed kernel with
# their own decompressors, which takes about 20 s each under emulation: both guests boot the
# plain ELF kernel taken out of the bzImage instead (the bzImage stays the fallback).
extract_vmlinux() {  # $1 bzImage, $2 output ELF
    local magic tool off
    for magic in '\xfd7zXZ\x00:xz -dc' '\x1f\x8b\x08:gzip -dc' '\x28\xb5\x2f\xfd:zstd -dcq'; do
        tool=${magic#*:}; magic=${magic%%:*}
        command -v "${tool%% *}" >/dev/null || continue
        for off in $(LC_ALL=C grep -obUaP "$magic" "$1" 2>/dev/null | cut -d: -f1); do
            tail -c +$((off + 1)) "$1" | $tool > "$2.tmp" 2>/dev/null || true
            if [ "$(head -c 4 "$2.tmp" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then
                mv "$2.tmp" "$2"; return 0
            fi
        done
    done
    rm -f "$2.tmp"
    return 1
}
if [ ! -f "$X/vmlinux" ] && [ ! -f "$X/vmlinux.none" ]; then
    extract_vmlinux "$VMLINUZ" "$X/vmlinux" || { touch "$X/vmlinux.none"; say "booting the compressed kernel"; }
fi
KIMG=$VMLINUZ
[ -f "$X/vmlinux" ] && KIMG=$X/vmlinux
MODDIR=$X/root/lib/modules/$KVER/kernel/drivers/xen
XENBIN=$X/root/usr/lib/xen-4.17/bin
[ -f "$VMLINUZ" ] && [ -f "$X/xen" ] || die "cache $X is incomplete; remove it"

# ------------------------------------------------------------------ work dir
rm -rf "$WORK"; mkdir -p "$WORK"
QPID=""
cleanup() {
    if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then
        kill "$QPID" 2>/dev/null || true
        sleep 0.5; kill -9 "$QPID" 2>/dev/null || true
    fi
    if [ -n "${TAILPID:-}" ]; then kill "$TAILPID" 2>/dev/null || true; fi
    if [ "${XEN_KEEP:-0}" != 1 ] && [ "${KEEP_WORK:-0}" != 1 ]; then rm -rf "$WORK/root0" "$WORK/rootU"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ kernel module (kmodxen)
# The kbuild check's module (tests/kbuild/module.sh: blkif's codec, the rings and the in-kernel
# self-test tests/kbuild/kmod/selftest.c), built against the exact headers of the guests' kernel,
# Debian's linux-headers-KVER (installed here when missing, like the other packages). The domU
# loads it (kmodxen); without headers or a clean build, kmodxen skips its checks with the reason
# written to why.
KMOD=$WORK/kmod
build_kmod() {
    local kdir=/usr/src/linux-headers-$KVER top
    top=$(cd "$SRC/../.." && pwd)
    mkdir -p "$KMOD/build"
    [ -f "$kdir/Makefile" ] || "$top/scripts/deps.sh" "linux-headers-$KVER" >&2 || true
    if [ ! -f "$kdir/Makefile" ]; then
        echo "no headers for the guests' kernel (linux-headers-$KVER)" > "$KMOD/why"
    elif (cd "$top" && tests/kbuild/module.sh "$kdir" "$BUILD/bin/idlc" "$top" "$KMOD/build" \
              idl/blkif.idl -- tests/kbuild/kmod/selftest.c) > "$KMOD/build.log" 2>&1; then
        strip --strip-debug -o "$KMOD/idc_check.ko" "$KMOD/build/idc_check.ko"
    else
        echo "the module did not build against $kdir (tests/kbuild/module.sh)" > "$KMOD/why"
        tail -n 20 "$KMOD/build.log" | sed 's/^/  | /'
    fi
}
t=$(now)
build_kmod
say "kernel module for $KVER: $( [ -f "$KMOD/idc_check.ko" ] && echo "built in $(since "$t")s" || cat "$KMOD/why")"

# The kernel runtime idc.ko and its self-test client (tests/xen/kidc/build.sh), against the
# same headers; the domU loads them (kidcxen) while dom0 serves (kidcsrv). Without headers or a
# clean build, kidcxen skips its checks with the reason written to why.
KIDC=$WORK/kidc KBACK=$WORK/kback
build_kidc() {  # [OUT MODDIR]: another test module (tests/xen/NAME), built into OUT with idc.ko
    local kdir=/usr/src/linux-headers-$KVER top out=${1:-$KIDC} mdir=${2:-} mod=kidc_test
    top=$(cd "$SRC/../.." && pwd)
    [ -z "$mdir" ] || mod=$(sed -n 's/^obj-m := \(.*\)\.o$/\1/p' "$top/$mdir/Kbuild")
    rm -rf "$out"; mkdir -p "$out"
    if [ ! -f "$kdir/Makefile" ]; then
        echo "no headers for the guests' kernel (linux-headers-$KVER)" > "$out/why"
    elif "$top/tests/xen/kidc/build.sh" "$kdir" "$KIDC/build" ${mdir:+"$top/$mdir"} > "$out/build.log" 2>&1; then
        strip --strip-debug -o "$out/idc.ko" "$KIDC/build/idc/idc.ko"
        strip --strip-debug -o "$out/$mod.ko" "$KIDC/build/test${mdir:+-$(basename "$mdir")}/$mod.ko"
    else
        echo "idc.ko or $mod did not build against $kdir (tests/xen/kidc/build.sh)" > "$out/why"
        tail -n 20 "$out/build.log" | sed 's/^/  | /'
    fi
}
t=$(now)
build_kidc
say "kernel runtime for $KVER: $( [ -f "$KIDC/idc.ko" ] && echo "built in $(since "$t")s" || cat "$KIDC/why")"
# the kernel backend's check (kbackxen): its module against the same idc.ko
build_kidc "$KBACK" tests/xen/kback

# ------------------------------------------------------------------ idcblk (idcblkxen)
# The block front end idcblk.ko (examples/idcblk, its own Makefile) against the same headers,
# its modpost reading the Module.symvers of the idc.ko built above; the domU loads both
# (idcblkxen). Without them idcblkxen skips its checks with the reason written to why: no
# idc.ko, or the idc_* functions idcblk calls that idc.ko does not export (yet).
IDCBLK=$WORK/idcblk
build_idcblk() {
    local kdir=/usr/src/linux-headers-$KVER top missing
    top=$(cd "$SRC/../.." && pwd)
    rm -rf "$IDCBLK"; mkdir -p "$IDCBLK"
    if [ ! -f "$kdir/Makefile" ]; then
        echo "no headers for the guests' kernel (linux-headers-$KVER)" > "$IDCBLK/why"
    elif [ ! -f "$KIDC/idc.ko" ]; then
        echo "no idc.ko: $(cat "$KIDC/why" 2>/dev/null)" > "$IDCBLK/why"
    elif make -C "$top/examples/idcblk" KDIR="$kdir" OUT="$IDCBLK/blk" IDLC="$BUILD/bin/idlc" \
             IDC_SYMVERS="$KIDC/build/idc/Module.symvers" W=1 > "$IDCBLK/blk.log" 2>&1 &&
         ! grep -qi warning "$IDCBLK/blk.log"; then
        strip --strip-debug -o "$IDCBLK/idcblk.ko" "$IDCBLK/blk/idcblk.ko"
        cp "$KIDC/idc.ko" "$IDCBLK/idc.ko"
    else
        missing=$(sed -n 's/.*modpost: "\(idc_[a-z0-9_]*\)" .* undefined!$/\1/p' "$IDCBLK/blk.log" | sort | tr '\n' ' ')
        if [ -n "$missing" ]; then
            echo "idc.ko does not export what idcblk calls: ${missing% }" > "$IDCBLK/why"
        else
            echo "idcblk.ko did not build cleanly against $kdir (examples/idcblk)" > "$IDCBLK/why"
            tail -n 20 "$IDCBLK/blk.log" | sed 's/^/  | /'
        fi
    fi
}
t=$(now)
build_idcblk
say "idcblk.ko for $KVER: $( [ -f "$IDCBLK/idcblk.ko" ] && echo "built in $(since "$t")s" || cat "$IDCBLK/why")"

# ------------------------------------------------------------------ initramfs
t=$(now)
# the Xen kernel modules both guests load (not built into Debian's kernel)
MODS="$MODDIR/xen-privcmd.ko $MODDIR/xenfs/xenfs.ko $MODDIR/xen-evtchn.ko $MODDIR/xen-gntdev.ko $MODDIR/xen-gntalloc.ko"
mkroot() {  # $1 root dir
    rm -rf "$1"; mkdir -p "$1"/{bin,sbin,etc,proc,sys,dev,run,tmp,lib/modules,var/lib,var/log,boot}
    ln -s ../run "$1"/var/run
    cp /bin/busybox "$1"/bin/busybox
    for a in $(/bin/busybox --list); do [ -e "$1/bin/$a" ] || ln -s busybox "$1/bin/$a"; done
    cp $MODS "$1"/lib/modules/
    # glibc dlopen()s libgcc_s for pthread_cancel (libxenstore's watch thread); ldd does not list it
    mkdir -p "$1"/lib/x86_64-linux-gnu
    cp -L /lib/x86_64-linux-gnu/libgcc_s.so.1 "$1"/lib/x86_64-linux-gnu/
    # libidc loads the Xen libraries when a xen: address is first used (dlopen by soname), so
    # ldd of an idc program does not list them: each is copied with its own libraries
    for l in libxenstore.so.4 libxengnttab.so.1 libxenevtchn.so.1; do
        copy_bin "$1" "/lib/x86_64-linux-gnu/$l" "/lib/x86_64-linux-gnu/$l"
    done
}
copy_bin() {  # $1 root, $2 binary, $3 destination path in the guest
    mkdir -p "$1/$(dirname "$3")"; cp "$2" "$1/$3"
    # (a script is not a dynamic executable: nothing to copy)
    { ldd "$2" 2>/dev/null || true; } | awk '/=>/ { print $3 } /^[ \t]*\/lib64\// { print $1 }' | while read -r l; do
        [ -n "$l" ] && [ -f "$l" ] || continue
        [ -f "$1/$l" ] || { mkdir -p "$1/$(dirname "$l")"; cp -L "$l" "$1/$l"; }
    done
}
# nbdcopy and nbdinfo load ICU through libxml2 (libnbd parses URIs with it) but never use ICU's
# data, a 31 MB library that would double dom0's initrd (and its unpacking time in the guest).
# The guest gets an empty ICU data package instead: a valid common-data header ("ToCP" table of
# contents) with no entries, the form ICU's own build starts from; a lookup in it finds nothing.
icu_stub() {  # $1 root
    local lib sym ver
    for lib in "$1"/lib/x86_64-linux-gnu/libicudata.so.*; do
        [ -f "$lib" ] || continue
        ver=${lib##*/libicudata.so.}; ver=${ver%%.*}
        case $ver in ''|*[!0-9]*) continue ;; esac
        sym=icudt${ver}_dat
        objdump -T "$lib" 2>/dev/null | grep -qw "$sym" || continue
        printf '%s\n' '#include <stdint.h>' \
            'struct icu_empty_pkg {' \
            '    uint16_t header_size; uint8_t magic1, magic2;' \
            '    uint16_t info_size, info_reserved; uint8_t big_endian, charset_family, uchar_size;' \
            '    uint8_t info_reserved2, format[4], format_version[4], data_version[4];' \
            '    char padding[8]; uint32_t count, reserved; uint32_t toc[4];' \
            '};' \
            '_Static_assert(__builtin_offsetof(struct icu_empty_pkg, count) == 32, "ICU header");' \
            "__attribute__((visibility(\"default\"), aligned(16))) const struct icu_empty_pkg $sym = {" \
            "    32, 0xda, 0x27, 20, 0, 0, 0, 2, 0, { 'T', 'o', 'C', 'P' }, { 1, 0, 0, 0 }, { 0 }," \
            '    { 0 }, 0, 0, { 0 } };' > "$WORK/icudata.c"
        gcc -shared -fPIC -O2 -Wl,-soname,libicudata.so.$ver -o "$lib" "$WORK/icudata.c" ||
            die "cannot build the empty ICU data library"
    done
}
cpio_gz() { (cd "$1" && find . | cpio -o -H newc --quiet | gzip -1) > "$2"; }

# programs only dom0 runs (the runtime suite over xen, the block example's nbdkit plugin): the
# domU's initrd goes without them
DOM0_ONLY=" rtxen rtxen-runtime rtt_peer nbdkit-idc-plugin.so "
guest_bins() {  # $1 root, $2 dom0|domu: the test programs, under /idc/bin
    local b
    for b in "$BINDIR"/*; do
        [ -f "$b" ] || continue # programs, and the data files they read (rtxen.tests)
        [ "$2" = domu ] && case $DOM0_ONLY in *" $(basename "$b") "*) continue ;; esac
        copy_bin "$1" "$b" "/idc/bin/$(basename "$b")"
    done
}

# Each guest's initrd is two concatenated cpio archives (the kernel unpacks them in turn): a
# base (busybox, drivers, Xen's tools, the kernel for the domU, dom0's NBD tools) built once per
# package set and host libraries and kept in the cache, and an overlay with this run's test
# programs and scripts.
BASE_KEY=$( (echo "$KIMG"; dpkg-query -W busybox-static libc6 libgcc-s1 libxen-dev libxenmisc4.17 \
                 nbdkit libnbd-bin libnbd0 qemu-utils e2fsprogs fio 2>/dev/null;
             sed -n '/^# -* initramfs/,/^# -* boot/p' "$0") | md5sum | cut -c1-12)
BASE=$X/base-$BASE_KEY
if [ ! -f "$BASE/.complete" ]; then
    rm -rf "$X"/base-*; mkdir -p "$BASE"
    R=$BASE/rootU; mkroot "$R"
    # idcblk's file system checks (idcblkxen): mkfs.ext4, e2fsck and ext4's modules when present
    for b in mkfs.ext4 e2fsck; do
        if p=$(command -v $b); then copy_bin "$R" "$p" "/sbin/$b"; fi
    done
    [ ! -f /etc/mke2fs.conf ] || cp /etc/mke2fs.conf "$R"/etc/
    # Linux's own front end for the comparison with idcblk (idcblkxen's blkfront_compare)
    for m in fs/ext4/ext4.ko fs/jbd2/jbd2.ko fs/mbcache.ko lib/crc16.ko crypto/crc32c_generic.ko \
             drivers/block/xen-blkfront.ko; do
        [ ! -f "$X/root/lib/modules/$KVER/kernel/$m" ] || cp "$X/root/lib/modules/$KVER/kernel/$m" "$R"/lib/modules/
    done
    # fio (idcblkxen): its storage engines' libraries come along (about 50 MB unpacked); it
    # loads ICU through libnbd's libxml2 but never its data (below)
    if p=$(command -v fio); then copy_bin "$R" "$p" "/usr/bin/fio"; fi
    icu_stub "$R"
    cpio_gz "$R" "$BASE/domu.cpio.gz"
    R=$BASE/root0; mkroot "$R"
    mkdir -p "$R"/etc/xen "$R"/var/lib/xen "$R"/var/lib/xenstored "$R"/var/log/xen/console
    for b in xenstored xenconsoled xl xen-init-dom0; do
        copy_bin "$R" "$XENBIN/$b" "/usr/lib/xen-4.17/bin/$b"
    done
    : > "$R"/etc/xen/xl.conf
    # the NBD tools the block example's step runs in dom0 (blkxen), with their libraries
    for b in nbdkit nbdcopy nbdinfo qemu-io strace; do
        if p=$(command -v $b); then copy_bin "$R" "$p" "/usr/bin/$b"; fi
    done
    # Linux's own back end and a loop device under it (idcblkxen's blkfront_compare)
    for m in drivers/block/loop.ko drivers/block/xen-blkback/xen-blkback.ko; do
        [ ! -f "$X/root/lib/modules/$KVER/kernel/$m" ] || cp "$X/root/lib/modules/$KVER/kernel/$m" "$R"/lib/modules/
    done
    icu_stub "$R"
    cp "$KIMG" "$R"/boot/vmlinuz
    cpio_gz "$R" "$BASE/dom0.cpio.gz"
    rm -rf "$BASE/root0" "$BASE/rootU"
    touch "$BASE/.complete"
fi

overlay() {  # $1 root, $2 init script, $3 plan script, $4 dom0|domu
    rm -rf "$1"; mkdir -p "$1/idc"
    guest_bins "$1" "$4"
    cp "$SRC/guest-lib.sh" "$1"/idc/lib.sh
    cp "$SRC/$2" "$1"/init
    cp "$SRC/$3" "$1"/idc/plan.sh
    chmod +x "$1"/init
}
R=$WORK/rootU; overlay "$R" init-domu.sh plan-domu.sh domu
mkdir -p "$R/idc/kmod"
for f in idc_check.ko why; do [ ! -f "$KMOD/$f" ] || cp "$KMOD/$f" "$R/idc/kmod/"; done
mkdir -p "$R/idc/kidc"
for f in idc.ko kidc_test.ko why; do [ ! -f "$KIDC/$f" ] || cp "$KIDC/$f" "$R/idc/kidc/"; done
mkdir -p "$R/idc/kback"
for f in idc.ko kback_test.ko why; do [ ! -f "$KBACK/$f" ] || cp "$KBACK/$f" "$R/idc/kback/"; done
mkdir -p "$R/idc/idcblk"
for f in idc.ko idcblk.ko why; do [ ! -f "$IDCBLK/$f" ] || cp "$IDCBLK/$f" "$R/idc/idcblk/"; done
cpio_gz "$R" "$WORK/domu-overlay.cpio.gz"
# Xen's PV domain builder gunzips the domU's ramdisk itself and reads only the first gzip
# member: the domU gets one stream
zcat "$BASE/domu.cpio.gz" "$WORK/domu-overlay.cpio.gz" | gzip -1 > "$WORK/domu.cpio.gz"

R=$WORK/root0; overlay "$R" init-dom0.sh plan-dom0.sh dom0
mkdir -p "$R"/boot "$R"/etc/xen
cp "$WORK/domu.cpio.gz" "$R"/boot/domu.cpio.gz
cat > "$R"/etc/xen/domu.cfg <<EOF
name = "domu"
type = "pv"
kernel = "/boot/vmlinuz"
ramdisk = "/boot/domu.cpio.gz"
cmdline = "console=hvc0 rdinit=/init quiet idc_blk_mb=$BLK_MB idc_timeout=$GUEST_TIMEOUT"
memory = 384
vcpus = 1
cpus = "$((SMP - 1))"
on_poweroff = "destroy"
on_crash = "destroy"
EOF
cpio_gz "$R" "$WORK/dom0-overlay.cpio.gz"
cat "$BASE/dom0.cpio.gz" "$WORK/dom0-overlay.cpio.gz" > "$WORK/dom0.cpio.gz"
T_BUILT=$(since "$t")
say "initramfs built in ${T_BUILT}s (dom0 $(du -k "$WORK/dom0.cpio.gz" | cut -f1) KiB, domU $(du -k "$WORK/domu.cpio.gz" | cut -f1) KiB)"

# ------------------------------------------------------------------ boot (with retries)
# vCPUs are never over-committed under TCG (it corrupts guest user space): dom0 gets one vCPU
# pinned to pCPU 0, the domU runs on the last pCPU. Xen needs smap=0 under TCG.
XEN_ARGS="console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M dom0_max_vcpus=1 dom0_vcpus_pin loglvl=all guest_loglvl=all smap=0"
DOM0_ARGS="console=hvc0 earlyprintk=xen rdinit=/init quiet idc_timeout=$GUEST_TIMEOUT idc_blk_mb=$BLK_MB"

# One attempt: boot, wait for power-off or the timeout; the console goes to $1.
boot_once() {
    local log=$1 t0 rc=0
    : > "$log"
    qemu-system-x86_64 -accel tcg -cpu "$TCG_CPU" -m "$MEM" -smp "$SMP" \
        -display none -nic none -no-reboot -monitor none -serial "file:$log" \
        -kernel "$X/xen" -append "$XEN_ARGS" \
        -initrd "$KIMG $DOM0_ARGS,$WORK/dom0.cpio.gz" \
        </dev/null >"$log.qemu" 2>&1 &
    QPID=$!
    if [ "$VERBOSE" = 1 ]; then tail -n +1 -f "$log" & TAILPID=$!; fi
    t0=$SECONDS
    local seen=0 n
    while kill -0 "$QPID" 2>/dev/null; do
        local el=$((SECONDS - t0)) why=""
        # progress: the guests' milestones as they happen
        if [ "$VERBOSE" != 1 ]; then
            n=$(wc -l < "$log")
            if [ "$n" -gt "$seen" ]; then
                sed -n "$((seen + 1)),${n}p" "$log" | tr -d '\r' |
                    sed -n "s/^.*@@idc \(stage .*\)$/xen: [${el}s] \1/p"
                seen=$n
            fi
        fi
        if [ $el -ge "$BOOT_TIMEOUT" ]; then
            why="QEMU killed after ${BOOT_TIMEOUT}s"
        elif [ $el -ge "$READY_TIMEOUT" ] && ! grep -q '@@idc stage ready-dom0' "$log"; then
            why="QEMU killed: dom0 not ready after ${READY_TIMEOUT}s"
        fi
        if [ -n "$why" ]; then
            echo "@@idc harness: $why" >> "$log"
            kill "$QPID" 2>/dev/null || true; sleep 1; kill -9 "$QPID" 2>/dev/null || true
            break
        fi
        sleep 0.5
    done
    wait "$QPID" || rc=$?
    QPID=""
    if [ -n "${TAILPID:-}" ]; then kill "$TAILPID" 2>/dev/null || true; wait "$TAILPID" 2>/dev/null || true; TAILPID=""; fi
    return $rc
}

# Why an attempt is a boot failure (empty when the test environment came up).
boot_failure() {
    local log=$1
    # A protocol line that starts mid-line begins a line of its own: the domU's console reaches
    # the log through its console ring, xenconsoled and dom0's tail, and under load a line's
    # end has been seen lost there, which glued a [PASS] to the next record and lost it.
    tr -d '\r' < "$log" | sed 's/\(.\)@@idc /\1\n@@idc /g' > "$log.txt"
    grep -q '@@idc stage ready-dom0' "$log.txt" || { boot_reason "$log" "dom0 did not come up"; return; }
    # (a plan that stops before starting the domU is a test failure: its checks print nothing)
    grep -q '@@idc stage domu-failed' "$log.txt" && { boot_reason "$log" "the domU did not come up"; return; }
    true
}
boot_reason() {
    local log=$1 why=$2 hint
    hint=$(grep -m1 -E 'Panic|panic|Kernel panic|harness: QEMU killed|watchdog|FATAL|Unhandled' "$log.txt" || true)
    [ -z "$hint" ] && [ -s "$log.qemu" ] && hint="qemu: $(head -c 200 "$log.qemu")"
    echo "$why${hint:+ ($hint)}"
}

# failure_summary LOG RES: what CI's short tail of this output needs to tell why: the failed
# checks with their reasons, the steps that ended badly, and the guests' kernel trouble.
failure_summary() {
    local log=$1 res=$2
    echo "[----] failure summary:"
    { grep -B1 '^\[FAIL\]' "$res" | grep -v '^--$' | head -n 8 | sed 's/^/[----]   /'
      grep -a -E "@@idc note step '|watchdog: no progress" "$log" | head -n 4 |
          sed 's/^.*@@idc /[----]   /'
      grep -a -E 'Kernel panic|BUG:|Oops|WARNING:|soft lockup|blocked for more than|Call Trace' \
          "$log" | head -n 4 | cut -c1-200 | sed 's/^/[----]   kernel: /'; } || true
}

attempt=0; BOOT_OK=0; BOOT_FAILS=()
while [ $attempt -le "$RETRIES" ]; do
    attempt=$((attempt + 1))
    LOG=$WORK/console-$attempt.log
    t=$(now)
    say "boot attempt $attempt: Xen + dom0 (TCG, -smp $SMP)"
    boot_once "$LOG" || true
    T_BOOT=$(since "$t")
    why=$(boot_failure "$LOG")
    if [ -z "$why" ]; then BOOT_OK=1; break; fi
    BOOT_FAILS+=("attempt $attempt: $why after ${T_BOOT}s")
    say "boot failure: $why after ${T_BOOT}s (console: $LOG)"
    tail -n 25 "$LOG.txt" | sed 's/^/  | /'
done

# ------------------------------------------------------------------ results
# Protocol lines on the console start with "@@idc ". Test results are Criterion-like:
#   @@idc [PASS] suite::name: (1.23s)     @@idc [FAIL] suite::name: (1.23s)
#   @@idc [SKIP] suite::name: reason      @@idc [----] message (details of the next result)
EXPECTED=$WORK/expected
# every program named in XEN_LIST_PROGS prints the checks it will report, one per line
: > "$EXPECTED"
for p in ${XEN_LIST_PROGS:-xenprim}; do
    "$BINDIR/$p" list >> "$EXPECTED" || die "cannot list the checks of $p"
done
pass=0; fail=0; skip=0
echo "[----] guests: $(awk '{ printf "%s %s  ", $1, $2 }' "$X/packages")"
if [ "$BOOT_OK" = 1 ]; then
    RES=$WORK/results
    sed -n 's/.*@@idc \(\[[A-Z-]*\].*\)$/\1/p' "$LOG.txt" > "$RES"
    cat "$RES"
    : > "$WORK/silent"
    while read -r name; do
        if grep -qF "[PASS] $name:" "$RES"; then pass=$((pass + 1))
        elif grep -qF "[SKIP] $name:" "$RES"; then skip=$((skip + 1))
        elif grep -qF "[FAIL] $name:" "$RES"; then fail=$((fail + 1))
        else echo "$name" >> "$WORK/silent"; fail=$((fail + 1)); fi
    done < "$EXPECTED"
    # checks without a result, one line per suite (a hung step silences a whole suite)
    awk -F'::' '{ c[$1]++; n[$1] = n[$1] (n[$1] ? ", " : "") $2; if (!($1 in o)) o[$1] = NR }
        END { for (s in o) { l = n[s]; if (length(l) > 120) l = substr(l, 1, 117) "..."
                             printf "%d\t[FAIL] %s: %d checks without a result on the console: %s\n",
                                    o[s], s, c[s], l } }' "$WORK/silent" | sort -n | cut -f2-
    # a result the harness did not expect is still counted
    for n in $(sed -n 's/^\[\(PASS\|FAIL\)\] \([^:]*::[^:]*\):.*/\1 \2/p' "$RES" | awk '{ print $1 "|" $2 }'); do
        grep -qxF "${n#*|}" "$EXPECTED" && continue
        case $n in PASS*) pass=$((pass + 1)) ;; *) fail=$((fail + 1)) ;; esac
    done
    if grep -q 'segfault at' "$LOG.txt"; then
        echo "[FAIL] xen_env::no_segfaults: $(grep -c 'segfault at' "$LOG.txt") user-space segfaults on the console"
        fail=$((fail + 1))
    fi
    if ! grep -q '@@idc stage done' "$LOG.txt"; then
        echo "[----] dom0 did not finish its plan: $(grep -m1 -E '@@idc stage watchdog|harness: QEMU killed' "$LOG.txt" || echo 'no end marker')"
    fi
    for f in "${BOOT_FAILS[@]}"; do echo "[----] boot failure retried: $f"; done
    [ $fail -eq 0 ] || { failure_summary "$LOG.txt" "$RES"; echo "[----] console log: $LOG.txt"; KEEP_WORK=1; }
else
    for f in "${BOOT_FAILS[@]}"; do echo "[FAIL] xen_env::boot: $f"; done
    echo "[----] the boot failed $attempt times; console logs: $WORK/console-*.log.txt"
    KEEP_WORK=1
    fail=$(wc -l < "$EXPECTED")
fi
echo "[====] Synthesis: Tested: $((pass + fail + skip)) | Passing: $pass | Failing: $fail | Crashing: 0"
say "times: initramfs ${T_BUILT}s, last boot+tests ${T_BOOT}s, boot attempts $attempt, total $(since "$T_START")s"
if [ $skip -gt 0 ]; then echo "$pass passed, $fail failed, $skip skipped"; else echo "$pass passed, $fail failed"; fi
[ $fail -eq 0 ]
