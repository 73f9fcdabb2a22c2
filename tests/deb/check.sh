#!/bin/bash
# make check-deb: the Debian packages built by make deb, checked from outside.
#   tests/deb/check.sh DEBDIR VERSION
# lintian at its default level (no error, no warning), the five packages and what they hold,
# then the tutorial (examples/tutorial) built against them with pkg-config (its Makefile), CMake
# and Meson, and run. The packages are unpacked with dpkg -x into a scratch root that stands in
# for / (nothing is installed on this system): pkg-config looks there through
# PKG_CONFIG_SYSROOT_DIR, CMake through CMAKE_PREFIX_PATH (idcConfig.cmake finds its files from
# its own location), and the programs find libidc.so.0 there through LD_LIBRARY_PATH, as an
# installed package's programs find it in /usr/lib without one.
set -uo pipefail
debdir=$(cd "${1:?usage: check.sh DEBDIR VERSION}" && pwd)
version=${2:?usage: check.sh DEBDIR VERSION}
src=$(cd "$(dirname "$0")/../.." && pwd)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
work=$(mktemp -d /tmp/idc-deb-XXXXXX)
root=$work/root
trap '[ -n "${IDC_E2E_KEEP:-}" ] || rm -rf "$work"' EXIT
passed=0 failed=0

ok()   { echo "ok   - $1"; passed=$((passed + 1)); }
fail() { echo "FAIL - $1"; failed=$((failed + 1)); }
# check NAME COMMAND...: runs COMMAND with its output in $work/NAME.log, shown when it fails
check() {
    local name=$1; shift
    if "$@" > "$work/$name.log" 2>&1; then ok "$name"; else fail "$name"; tail -30 "$work/$name.log"; fi
}

# ---- the packages
pkgs="idlc idc-tools libidc0 libidc-dev idc-doc"
have_all() {
    for p in $pkgs; do
        ls "$debdir"/${p}_"$version"_*.deb || { echo "no $p $version"; return 1; }
    done
}
check packages-built have_all || { echo "check-deb: $passed passed, $failed failed"; exit 1; }

lint() { lintian --fail-on error,warning "$debdir"/*.changes; }
check lintian lint

mkdir -p "$root"
for p in $pkgs; do dpkg -x "$debdir"/${p}_"$version"_*.deb "$root"; done
libdir=$root/usr/lib/$multiarch

contents() {
    local f
    for f in usr/bin/idlc usr/share/idc/templates/c/manifest.m4 usr/share/man/man1/idlc.1.gz \
             usr/bin/idcctl usr/share/man/man1/idcctl.1.gz \
             usr/lib/$multiarch/libidc.so.0 usr/lib/$multiarch/libidc.so usr/lib/$multiarch/libidc.a \
             usr/lib/$multiarch/pkgconfig/idc.pc usr/lib/$multiarch/cmake/idc/idcConfig.cmake \
             usr/lib/$multiarch/cmake/idc/idcConfigVersion.cmake usr/include/idc.h \
             usr/share/man/man7/idc.7.gz usr/share/man/man3/idc_context_create.3.gz \
             usr/share/doc/idc-doc/README.md usr/share/doc/idc-doc/docs/tutorial.md; do
        [ -e "$root/$f" ] || { echo "missing: /$f"; return 1; }
    done
    # a system directory: no run path anywhere (Debian policy)
    ! grep '^Libs' "$libdir/pkgconfig/idc.pc" | grep rpath || return 1
    grep -q 'if(OFF)' "$libdir/cmake/idc/idcConfig.cmake" || return 1
    ! readelf -d "$root/usr/bin/idlc" "$root/usr/bin/idcctl" "$libdir/libidc.so.0" | grep -E 'RPATH|RUNPATH'
}
check contents contents

# ---- the tutorial against the packages
export IDC_SHM_DIR=$work/shm IDC_STATS_DIR=$work/stats
unset PKG_CONFIG_PATH CMAKE_PREFIX_PATH MAKEFLAGS MFLAGS MAKELEVEL CFLAGS LDFLAGS
pc_env=(PKG_CONFIG_LIBDIR="$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$root")

# run_hello DIR: server and client of the tutorial, as docs/tutorial.md runs them
run_hello() {
    local dir=$1 rc=0 out
    LD_LIBRARY_PATH=$libdir "$dir/hello-server" shm:hello & local srv=$!
    out=$(LD_LIBRARY_PATH=$libdir timeout 30 "$dir/hello-client" shm:hello world) || rc=1
    echo "$out"; grep -qx 'hello, world' <<< "$out" || rc=1
    out=$(LD_LIBRARY_PATH=$libdir timeout 30 "$dir/hello-client" shm:hello "" 2>&1)
    [ $? = 1 ] || rc=1
    echo "$out"; grep -qx 'greet failed: EMPTY' <<< "$out" || rc=1
    kill $srv; wait $srv 2>/dev/null
    return $rc
}

tutorial() { rm -rf "$work/$1"; cp -R "$src/examples/tutorial" "$work/$1"; }

with_make() {
    tutorial make
    env "${pc_env[@]}" make -C "$work/make" IDC_PREFIX= || return 1
    # idc.pc gives no run path for /usr/lib: the programs find libidc there once installed
    ! readelf -d "$work/make/hello-client" | grep -E 'RPATH|RUNPATH' || return 1
    run_hello "$work/make"
}
check tutorial-pkg-config with_make

with_cmake() {
    tutorial cmake
    cmake -S "$work/cmake" -B "$work/cmake/build" -DCMAKE_PREFIX_PATH="$root/usr" &&
        cmake --build "$work/cmake/build" -j2 && run_hello "$work/cmake/build"
}
check tutorial-cmake with_cmake

with_meson() {
    tutorial meson
    (cd "$work/meson" && env "${pc_env[@]}" meson setup build && meson compile -C build) &&
        run_hello "$work/meson/build"
}
check tutorial-meson with_meson

echo "check-deb: $passed passed, $failed failed"
[ "$failed" = 0 ]
