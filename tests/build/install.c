/*
 * What make install writes: the layout, idc.pc (no Xen requirements, a run path only where the
 * loader needs one, BINDIR honoured, idlc_outputs matching what idlc writes) and the CMake
 * package files (version check, relocation).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "build.h"

TestSuite(install, .init = e2e_setup, .fini = e2e_teardown);

/* reads the first line of a command's output (sh -c) into out; returns its exit status */
static int sh_line(char *out, size_t len, const char *cmd)
{
    FILE *p = popen(cmd, "r");
    out[0] = '\0';
    if (!p)
        return -1;
    if (fgets(out, (int)len, p))
        out[strcspn(out, "\n")] = '\0';
    while (fgetc(p) != EOF)
        ;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(install, layout)
{
    const char *prefix = bt_prefix();
    static const char *const files[] = {
        "bin/idlc",
        "bin/idcctl",
        "lib/libidc.so.0",
        "lib/libidc.so",
        "lib/libidc.a",
        "lib/pkgconfig/idc.pc",
        "lib/cmake/idc/idcConfig.cmake",
        "lib/cmake/idc/idcConfigVersion.cmake",
        "include/idc.h",
        "include/idc_wire.h",
        "share/idc/templates/c/manifest.m4",
        "share/man/man1/idlc.1",
        "share/man/man1/idcctl.1",
        "share/man/man3/idc_context_create.3",
        "share/man/man7/idc.7",
        "share/doc/idc/README.md",
        "share/doc/idc/docs/tutorial.md",
        "share/doc/idc/docs/build.md",
    };
    char path[512];

    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", prefix, files[i]);
        cr_expect_eq(access(path, R_OK), 0, "make install did not install %s", files[i]);
    }
}

Test(install, pkg_config_needs_no_xen_pc_and_gives_a_run_path)
{
    e2e_require("pkg-config", NULL);
    const char *prefix = bt_prefix();
    char out[1024], want[1024];

    bt_driver_env(); /* PKG_CONFIG_LIBDIR: idc's own .pc directory only */
    cr_assert_eq(sh_line(out, sizeof out, "pkg-config --cflags --libs idc 2>&1"), 0,
                 "pkg-config --cflags --libs idc: %s", out);
    snprintf(want, sizeof want, "-I%s/include -L%s/lib -Wl,-rpath,%s/lib -lidc", prefix, prefix,
             prefix);
    cr_expect(strncmp(out, want, strlen(want)) == 0, "got '%s', want '%s'", out, want);
    cr_expect(!strstr(out, "xen"), "Xen libraries in a dynamic link: %s", out);

    cr_assert_eq(sh_line(out, sizeof out, "pkg-config --variable=idlc idc"), 0);
    snprintf(want, sizeof want, "%s/bin/idlc", prefix);
    cr_expect_str_eq(out, want);
    cr_expect_eq(access(out, X_OK), 0, "%s is not executable", out);
}

/* The list every build integration uses for idlc's outputs is the list idlc writes: a template
   set with a new output must come with a new IDLC_OUTPUTS (Makefile). */
Test(install, idlc_outputs_are_what_idlc_writes)
{
    e2e_require("pkg-config", NULL);
    const char *prefix = bt_prefix();
    char suffixes[256], written[1024], want[1024] = "", line[512];

    bt_driver_env();
    cr_assert_eq(sh_line(suffixes, sizeof suffixes, "pkg-config --variable=idlc_outputs idc"), 0);
    cr_assert_neq(suffixes[0], '\0', "idc.pc has no idlc_outputs");
    FILE *f = fopen(e2e_path("p.idl"), "w");
    cr_assert_not_null(f);
    fputs("protocol p version 1;\nfrom frontend { message m(u32 x); }\n", f);
    fclose(f);
    cr_assert_eq(bt_sh(30, "idlc.log", "mkdir -p '%s' && '%s/bin/idlc' -o '%s' '%s'",
                       e2e_path("out"), prefix, e2e_path("out"), e2e_path("p.idl")),
                 0);
    snprintf(line, sizeof line, "ls '%s' | sort | tr '\\n' ' '", e2e_path("out"));
    sh_line(written, sizeof written, line);
    snprintf(line, sizeof line, "for s in %s; do echo \"p$s\"; done | sort | tr '\\n' ' '",
             suffixes);
    sh_line(want, sizeof want, line);
    cr_expect_str_eq(written, want, "idlc wrote '%s', idc.pc's idlc_outputs says '%s'", written,
                     want);

    snprintf(line, sizeof line,
             "grep -c '^set(IDC_GENERATED_SUFFIXES %s)$' '%s/lib/cmake/idc/idcConfig.cmake'",
             suffixes, prefix);
    cr_expect_eq(sh_line(written, sizeof written, line), 0,
                 "idcConfig.cmake's IDC_GENERATED_SUFFIXES differs from idc.pc's idlc_outputs");
}

/* BINDIR elsewhere than PREFIX/bin: idc.pc and idcConfig.cmake name the real idlc */
Test(install, bindir_is_honoured)
{
    char prefix_arg[300], bindir_arg[300], cmd[600], out[512], want[512];
    const char *p = e2e_path("p");

    snprintf(prefix_arg, sizeof prefix_arg, "PREFIX=%s", p);
    snprintf(bindir_arg, sizeof bindir_arg, "BINDIR=%s/tools", p);
    cr_assert_eq(bt_make_install("install.log", prefix_arg, bindir_arg, NULL), 0);
    snprintf(want, sizeof want, "%s/tools/idlc", p);
    snprintf(cmd, sizeof cmd, "PKG_CONFIG_LIBDIR='%s/lib/pkgconfig' pkg-config --variable=idlc idc",
             p);
    cr_assert_eq(sh_line(out, sizeof out, cmd), 0);
    cr_expect_str_eq(out, want);
    cr_expect_eq(access(want, X_OK), 0);
    cr_expect_eq(bt_sh(10, "grep.log",
                       "grep -q 'set(_idc_bindir \"${_idc_prefix}/tools\")' "
                       "'%s/lib/cmake/idc/idcConfig.cmake'",
                       p),
                 0, "idcConfig.cmake does not name BINDIR");
}

/* a libdir the loader searches by itself gets no run path (what a distribution package wants);
   RPATH=no and RPATH=yes override the choice */
Test(install, run_path_only_where_the_loader_needs_one)
{
    char multiarch[128], arg1[300], arg2[300], arg3[300];
    const char *root = e2e_path("root");
    const char *p = e2e_path("p");

    sh_line(multiarch, sizeof multiarch, "cc -print-multiarch 2>/dev/null");
    snprintf(arg1, sizeof arg1, "DESTDIR=%s", root);
    snprintf(arg2, sizeof arg2, "LIBDIR=/usr/lib%s%s", multiarch[0] ? "/" : "", multiarch);
    cr_assert_eq(bt_make_install("usr.log", arg1, "PREFIX=/usr", arg2, NULL), 0);
    cr_expect_eq(bt_sh(10, "usr-pc.log", "grep '^Libs:' '%s%s/pkgconfig/idc.pc'", root, arg2 + 7),
                 0);
    cr_expect(!bt_log_has("usr-pc.log", "rpath"), "a run path for %s", arg2 + 7);
    cr_expect_eq(bt_sh(10, "usr-cmake.log", "grep -q 'if(OFF)' '%s%s/cmake/idc/idcConfig.cmake'",
                       root, arg2 + 7),
                 0, "idcConfig.cmake adds a run path for %s", arg2 + 7);

    snprintf(arg1, sizeof arg1, "PREFIX=%s", p);
    cr_assert_eq(bt_make_install("no.log", arg1, "RPATH=no", NULL), 0);
    cr_expect_eq(bt_sh(10, "no-pc.log", "grep '^Libs:' '%s/lib/pkgconfig/idc.pc'", p), 0);
    cr_expect(!bt_log_has("no-pc.log", "rpath"), "RPATH=no ignored");

    snprintf(arg3, sizeof arg3, "DESTDIR=%s", e2e_path("root2"));
    cr_assert_eq(bt_make_install("yes.log", arg3, "PREFIX=/usr", "RPATH=yes", NULL), 0);
    cr_expect_eq(
        bt_sh(10, "yes-pc.log", "grep '^Libs:' '%s/usr/lib/pkgconfig/idc.pc'", e2e_path("root2")),
        0);
    cr_expect(bt_log_has("yes-pc.log", "-Wl,-rpath,${libdir}"), "RPATH=yes ignored");
}

/* find_package(idc VERSION): 0.1 is satisfied, 0.2 and 1.0 are not, ranges are honoured; a
   moved installation finds its own files */
Test(install, cmake_version_and_relocation)
{
    e2e_require("cmake", NULL);
    const char *prefix = bt_prefix();
    const char *proj = e2e_path("proj");
    const char *moved = e2e_path("moved");
    static const struct {
        const char *version;
        int status;
    } cases[] = { { "0.1", 0 },   { "0.1.0", 0 },     { "0.2", 1 },       { "1.0", 1 },
                  { "0.0.9", 1 }, { "0.1...0.3", 0 }, { "0.2...0.3", 1 }, { "0.1...<0.1.0", 1 } };

    bt_driver_env();
    cr_assert_eq(bt_sh(10, "mk.log", "mkdir -p '%s' && cp -R '%s/.' '%s/'", proj, prefix, moved),
                 0);
    FILE *f = fopen(e2e_path("proj/CMakeLists.txt"), "w");
    cr_assert_not_null(f);
    fputs("cmake_minimum_required(VERSION 3.20)\n"
          "project(v NONE)\n"
          "find_package(idc ${WANT} REQUIRED)\n"
          "get_target_property(lib idc::idc IMPORTED_LOCATION)\n"
          "message(STATUS \"idc ${idc_VERSION} idlc=${IDC_IDLC} lib=${lib}\")\n",
          f);
    fclose(f);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char log[64];
        snprintf(log, sizeof log, "v%zu.log", i);
        int rc = bt_sh_may_fail(60, log,
                                "cmake -S '%s' -B '%s/b%zu' -DWANT=%s -DCMAKE_PREFIX_PATH='%s'",
                                proj, proj, i, cases[i].version, prefix);
        cr_expect_eq(rc != 0, cases[i].status != 0, "find_package(idc %s): status %d",
                     cases[i].version, rc);
    }

    cr_assert_eq(bt_sh(60, "moved.log",
                       "cmake -S '%s' -B '%s/bm' -DWANT=0.1 -DCMAKE_PREFIX_PATH='%s'", proj, proj,
                       moved),
                 0);
    char want[600];
    snprintf(want, sizeof want, "idlc=%s/bin/idlc lib=%s/lib/libidc.so", moved, moved);
    cr_expect(bt_log_has("moved.log", want), "a moved installation does not find itself: %s", want);
}
