/*
 * The example projects against the installed idc: examples/build/{make,cmake,meson} (a protocol
 * that imports its types from another IDL file, both ends in one process over shm) and the
 * tutorial's CMake and Meson builds (two programs sharing one IDL file). Each builds, runs with
 * no LD_LIBRARY_PATH, loads libidc from the prefix by its run path, and regenerates the
 * importing protocol when only the imported file changed.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "build.h"

TestSuite(build, .init = e2e_setup, .fini = e2e_teardown);

/* Make, pkg-config seeing only idc's own .pc directory (no Xen .pc files) */
Test(build, make_example_with_only_idc_pc)
{
    e2e_require("make", "pkg-config", "cc", NULL);
    const char *prefix = bt_prefix();
    bt_driver_env();
    const char *dir = bt_copy_example("build");

    cr_assert_eq(bt_sh(60, "build.log", "make -C '%s/make' OUT=out", dir), 0,
                 "the make example does not build");
    const char *prog = e2e_path("build/make/out/shapes-pair");
    bt_assert_libidc_from(prog, prefix);
    bt_check_shapes_pair(prog, "run.log");

    /* the dependency file: an imported file changed, the importer is generated again */
    cr_assert_eq(bt_sh(30, "touch.log", "sleep 1 && touch '%s/idl/types/geometry.idl'", dir), 0);
    cr_assert_eq(bt_sh(60, "rebuild.log", "make -C '%s/make' OUT=out", dir), 0);
    cr_expect(bt_log_has("rebuild.log", "-MF out/shapes.d"), "shapes.idl was not regenerated");
    cr_expect(bt_log_has("rebuild.log", "-MF out/geometry.d"), "geometry.idl was not regenerated");
    cr_expect_eq(bt_sh(30, "uptodate.log", "make -q -C '%s/make' OUT=out", dir), 0,
                 "up to date after the rebuild");
}

static void cmake_example(const char *generator)
{
    e2e_require("cmake", "cc", NULL);
    if (strcmp(generator, "Ninja") == 0)
        e2e_require("ninja", NULL);
    const char *prefix = bt_prefix();
    bt_driver_env();
    const char *dir = bt_copy_example("build");

    cr_assert_eq(bt_sh(60, "configure.log",
                       "cmake -S '%s/cmake' -B '%s/out' -G '%s' "
                       "-DCMAKE_PREFIX_PATH='%s'",
                       dir, dir, generator, prefix),
                 0, "cmake configure failed");
    cr_assert_eq(bt_sh(60, "build.log", "cmake --build '%s/out' -j2", dir), 0,
                 "the cmake example does not build");
    const char *prog = e2e_path("build/out/shapes-pair");
    bt_assert_libidc_from(prog, prefix);
    bt_check_shapes_pair(prog, "run.log");

    cr_assert_eq(bt_sh(30, "touch.log", "sleep 1 && touch '%s/idl/types/geometry.idl'", dir), 0);
    cr_assert_eq(bt_sh(60, "rebuild.log", "cmake --build '%s/out'", dir), 0);
    cr_expect(bt_log_has("rebuild.log", "idlc shapes.idl"), "shapes.idl was not regenerated");
    cr_expect(bt_log_has("rebuild.log", "idlc geometry.idl"), "geometry.idl was not regenerated");
    cr_assert_eq(bt_sh(60, "again.log", "cmake --build '%s/out'", dir), 0);
    cr_expect(!bt_log_has("again.log", "idlc "), "idlc ran although nothing changed");
}

Test(build, cmake_example_ninja)
{
    cmake_example("Ninja");
}

Test(build, cmake_example_makefiles)
{
    cmake_example("Unix Makefiles");
}

Test(build, meson_example)
{
    e2e_require("meson", "ninja", "pkg-config", "cc", NULL);
    const char *prefix = bt_prefix();
    bt_driver_env();
    const char *dir = bt_copy_example("build");

    cr_assert_eq(bt_sh(60, "configure.log", "meson setup '%s/out' '%s/meson'", dir, dir), 0,
                 "meson setup failed");
    cr_assert_eq(bt_sh(60, "build.log", "meson compile -C '%s/out'", dir), 0,
                 "the meson example does not build");
    const char *prog = e2e_path("build/out/shapes-pair");
    bt_assert_libidc_from(prog, prefix);
    bt_check_shapes_pair(prog, "run.log");

    cr_assert_eq(bt_sh(30, "touch.log", "sleep 1 && touch '%s/idl/types/geometry.idl'", dir), 0);
    cr_assert_eq(bt_sh(60, "rebuild.log", "meson compile -C '%s/out'", dir), 0);
    cr_expect(bt_log_has("rebuild.log", "Generating shapes"), "shapes.idl was not regenerated");
    cr_expect(bt_log_has("rebuild.log", "Generating geometry"), "geometry.idl was not regenerated");
}

/* docs/tutorial.md's CMake section, verbatim */
Test(build, tutorial_cmake)
{
    e2e_require("cmake", "cc", NULL);
    const char *prefix = bt_prefix();
    bt_driver_env();
    const char *dir = bt_copy_example("tutorial");

    cr_assert_eq(bt_sh(60, "configure.log",
                       "cd '%s' && cmake -S . -B build -DCMAKE_PREFIX_PATH='%s'", dir, prefix),
                 0, "cmake configure failed");
    cr_assert_eq(bt_sh(60, "build.log", "cd '%s' && cmake --build build -j2", dir), 0,
                 "the tutorial does not build with CMake");
    cr_expect_eq(
        bt_sh(10, "once.log", "grep -c 'idlc hello.idl' '%s' | grep -qx 1", e2e_path("build.log")),
        0, "hello.idl, used by two targets, must be generated once");
    const char *bin = e2e_path("tutorial/build");
    bt_assert_libidc_from(e2e_path("tutorial/build/hello-server"), prefix);
    bt_check_hello(bin);
}

/* docs/tutorial.md's Meson section, verbatim */
Test(build, tutorial_meson)
{
    e2e_require("meson", "ninja", "pkg-config", "cc", NULL);
    const char *prefix = bt_prefix();
    bt_driver_env();
    const char *dir = bt_copy_example("tutorial");

    cr_assert_eq(bt_sh(60, "configure.log",
                       "cd '%s' && meson setup build --pkg-config-path '%s/lib/pkgconfig'", dir,
                       prefix),
                 0, "meson setup failed");
    cr_assert_eq(bt_sh(60, "build.log", "cd '%s' && meson compile -C build", dir), 0,
                 "the tutorial does not build with Meson");
    const char *bin = e2e_path("tutorial/build");
    bt_assert_libidc_from(e2e_path("tutorial/build/hello-server"), prefix);
    bt_check_hello(bin);
}
