/*
 * docs/tutorial.md end to end: install idc into a temporary prefix, build examples/tutorial
 * against that prefix's idc.pc (the way a driver writer would), run its server and client as
 * they are, with no LD_LIBRARY_PATH.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"

TestSuite(tutorial, .init = e2e_setup, .fini = e2e_teardown);

static bool log_has(const char *log, const char *text)
{
    char line[512];
    bool found = false;
    FILE *f = fopen(e2e_path(log), "r");
    while (f && fgets(line, sizeof line, f))
        found |= strstr(line, text) != NULL;
    if (f)
        fclose(f);
    return found;
}

Test(tutorial, install_build_and_run_hello)
{
    e2e_require("make", "pkg-config", "cc", NULL);
    const char *prefix = e2e_path("inst");
    const char *work = e2e_path("hello");
    char arg_build[512], arg_prefix[512], arg_idc[512], cmd[2048];

    snprintf(arg_build, sizeof arg_build, "BUILD=%s", IDC_BUILDDIR);
    snprintf(arg_prefix, sizeof arg_prefix, "PREFIX=%s", prefix);
#if defined(__SANITIZE_ADDRESS__)
    /* the installed library carries the sanitizers: build the driver with them too */
    const char *install[] = { "make",     "-s",    "-C",      IDC_SRCDIR, arg_build,
                              arg_prefix, "SAN=1", "OPT=-O1", "install",  NULL };
    const char *cc = "CC=cc -fsanitize=address,undefined";
    setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
#else
    const char *install[] = {
        "make", "-s", "-C", IDC_SRCDIR, arg_build, arg_prefix, "install", NULL
    };
    const char *cc = "CC=cc";
#endif
    /* run as a fresh make, not as part of the make that runs the tests (its jobserver
       descriptors are not passed on) */
    unsetenv("MAKEFLAGS");
    unsetenv("MFLAGS");
    unsetenv("MAKELEVEL");
    int rc = e2e_run(240, "install.log", install);
    if (rc != 0)
        e2e_dump_log("install.log");
    cr_assert_eq(rc, 0, "make install failed");

    /* an empty directory with the tutorial's four files */
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s && cp %s/examples/tutorial/hello.idl "
             "%s/examples/tutorial/hello-server.c %s/examples/tutorial/hello-client.c "
             "%s/examples/tutorial/Makefile %s/",
             work, IDC_SRCDIR, IDC_SRCDIR, IDC_SRCDIR, IDC_SRCDIR, work);
    cr_assert_eq(system(cmd), 0);
    snprintf(arg_idc, sizeof arg_idc, "IDC_PREFIX=%s", prefix);
    const char *build[] = { "make", "-C", work, arg_idc, cc, NULL };
    rc = e2e_run(120, "build.log", build);
    if (rc != 0)
        e2e_dump_log("build.log");
    cr_assert_eq(rc, 0, "the tutorial does not build against the installed idc");
    /* the installed idlc wrote the four outputs the Makefile lists */
    const char *outs[] = { "hello.h", "hello_codec.c", "hello_client.c", "hello_server.c" };
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s/%s", work, outs[i]);
        cr_expect_eq(access(cmd, R_OK), 0, "%s was not generated", outs[i]);
    }

    /* no LD_LIBRARY_PATH: idc.pc gives programs a run path to a prefix the loader does not
       search by itself */
    unsetenv("LD_LIBRARY_PATH");
    char server[600], client[600];
    snprintf(server, sizeof server, "%s/hello-server", work);
    snprintf(client, sizeof client, "%s/hello-client", work);
    const char *sargv[] = { server, "shm:hello", NULL };
    pid_t srv = e2e_spawn("server.log", sargv);

    const char *c1[] = { client, "shm:hello", "world", NULL };
    rc = e2e_run(30, "client1.log", c1);
    if (rc != 0)
        e2e_dump_log("client1.log");
    cr_expect_eq(rc, 0);
    cr_expect(log_has("client1.log", "hello, world"));

    const char *c2[] = { client, "shm:hello", "", NULL };
    rc = e2e_run(30, "client2.log", c2);
    cr_expect_eq(rc, 1, "an empty name must fail");
    cr_expect(log_has("client2.log", "greet failed: EMPTY"));
    e2e_stop(srv, SIGTERM);
}
