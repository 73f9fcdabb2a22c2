/* The xen transport on a machine without Xen, or without the Xen libraries: a clear "not
   available" and nothing else. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "idc.h"
#include "xenhost/driver.h"

static struct idc_context *ctx;
static char dir[64];

static void setup(void)
{
    if (access("/dev/xen", F_OK) == 0)
        cr_skip_test("this machine runs on Xen: the not-available path cannot be checked");
    snprintf(dir, sizeof(dir), "/tmp/idc-xh-%d", (int)getpid());
    logbuf[0] = 0;
    connects = 0;
    struct idc_context_options o = { .shm_dir = dir, .log = log_fn, .stats_dir = "off" };
    cr_assert_eq(idc_context_create(&ctx, &o), 0);
}

static void teardown(void)
{
    idc_context_destroy(ctx);
    ctx = NULL;
    rmdir(dir);
}

static enum idc_endpoint_state run(struct idc_endpoint *ep, const char *addr, enum idc_role role)
{
    struct idc_endpoint_config cfg = {
        .protocol = &proto, .role = role, .address = addr, .ops = &ops
    };
    idc_endpoint_create(ep, ctx, &cfg);
    for (int i = 0; i < 5; i++)
        idc_context_dispatch(ctx, 10);
    return idc_endpoint_state(ep);
}

TestSuite(xenhost, .init = setup, .fini = teardown, .timeout = 20);

Test(xenhost, frontend_not_available)
{
    struct idc_endpoint ep;
    cr_assert_eq(run(&ep, "xen:0/blk0", IDC_ROLE_FRONTEND), IDC_EP_DEAD);
    cr_assert(strstr(logbuf, "xen transport not available") != NULL, "log: %s", logbuf);
    cr_assert(strstr(logbuf, "IDC_ERR_NOTSUP") != NULL, "log: %s", logbuf);
    cr_assert_eq(connects, 0);
    idc_endpoint_destroy(&ep, NULL);
    idc_context_dispatch(ctx, 0);
    cr_assert_eq(idc_endpoint_state(&ep), IDC_EP_UNUSED);
}

Test(xenhost, backend_not_available)
{
    struct idc_endpoint ep;
    cr_assert_eq(run(&ep, "xen:blk0", IDC_ROLE_BACKEND), IDC_EP_DEAD);
    cr_assert(strstr(logbuf, "xen transport not available") != NULL, "log: %s", logbuf);
    idc_endpoint_destroy(&ep, NULL);
    idc_context_dispatch(ctx, 0);
    cr_assert_eq(idc_endpoint_state(&ep), IDC_EP_UNUSED);
}

Test(xenhost, bad_addresses_rejected_first)
{
    static const struct {
        const char *addr;
        enum idc_role role;
    } bad[] = {
        { "xen:blk0", IDC_ROLE_FRONTEND },       /* no domid */
        { "xen:99999/blk0", IDC_ROLE_FRONTEND }, /* reserved domid */
        { "xen:01/blk0", IDC_ROLE_FRONTEND },    /* leading zero */
        { "xen:0/../x", IDC_ROLE_FRONTEND },     /* not a service name */
        { "xen:blk0?allow=", IDC_ROLE_BACKEND }, { "xen:blk0?allow=1,", IDC_ROLE_BACKEND },
        { "xen:blk0?deny=1", IDC_ROLE_BACKEND }, { "xen:self/", IDC_ROLE_BACKEND },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct idc_endpoint ep;
        logbuf[0] = 0;
        cr_assert_eq(run(&ep, bad[i].addr, bad[i].role), IDC_EP_DEAD, "%s", bad[i].addr);
        cr_assert(strstr(logbuf, "bad address: a xen frontend address is") != NULL, "%s: log: %s",
                  bad[i].addr, logbuf);
        idc_endpoint_destroy(&ep, NULL);
        idc_context_dispatch(ctx, 0);
    }
}

Test(xenhost, shm_unaffected)
{
    /* A context that tried xen still serves shm normally. Endpoint storage outlives the test
       body: the context (destroyed in teardown) still links them. */
    static struct idc_endpoint x, be, fe;
    run(&x, "xen:0/blk0", IDC_ROLE_FRONTEND);
    struct idc_endpoint_config b = {
        .protocol = &proto, .role = IDC_ROLE_BACKEND, .address = "shm:xh", .ops = &ops
    };
    struct idc_endpoint_config f = b;
    f.role = IDC_ROLE_FRONTEND;
    idc_endpoint_create(&be, ctx, &b);
    idc_endpoint_create(&fe, ctx, &f);
    for (int i = 0; i < 200 && connects < 2; i++)
        idc_context_dispatch(ctx, 10);
    cr_assert_eq(connects, 2);
    cr_assert_eq(idc_endpoint_state(&x), IDC_EP_DEAD);
}

/* A machine with no Xen package: libidc loads (it links no Xen library), xen: answers
   IDC_ERR_NOTSUP naming the library, shm works. Shown in a private mount namespace where
   /dev/null is bound over each Xen library file, so the loader finds them unloadable. */
static const char *const xen_sonames[] = { "libxenstore.so.4", "libxengnttab.so.1",
                                           "libxenevtchn.so.1", "libfabric.so.1",
                                           "libzookeeper_st.so.2" }; /* and fabric's */
static const char *const lib_dirs[] = {
    "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib64", "/lib"
};

/* In the child: hide every copy of the Xen libraries, then run the helper. */
static void hide_and_run(const char *helper, const char *scratch)
{
    if (unshare(CLONE_NEWNS) != 0) {
        printf("skip: unshare(CLONE_NEWNS): %s\n", strerror(errno));
        _exit(77);
    }
    /* private propagation: the binds below stay in this namespace */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        _exit(2);
    for (size_t i = 0; i < sizeof(xen_sonames) / sizeof(xen_sonames[0]); i++)
        for (size_t d = 0; d < sizeof(lib_dirs) / sizeof(lib_dirs[0]); d++) {
            char p[256], real[PATH_MAX];
            snprintf(p, sizeof(p), "%s/%s", lib_dirs[d], xen_sonames[i]);
            if (realpath(p, real) && mount("/dev/null", real, NULL, MS_BIND, NULL) != 0)
                _exit(3);
        }
    execl(helper, helper, scratch, (char *)NULL);
    _exit(4);
}

Test(xenhost, no_xen_libraries)
{
    char helper[512];
    snprintf(helper, sizeof(helper), "%s/tests/bin/xh_nolibs", IDC_BUILDDIR);
    int out[2];
    cr_assert_eq(pipe(out), 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        hide_and_run(helper, dir);
    }
    close(out[1]);
    char text[8192] = "";
    size_t n = 0;
    ssize_t r;
    while (n < sizeof(text) - 1 && (r = read(out[0], text + n, sizeof(text) - 1 - n)) > 0)
        n += (size_t)r;
    close(out[0]);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st), "helper died: %s", text);
    if (WEXITSTATUS(st) == 77)
        cr_skip_test("cannot make a mount namespace to hide the Xen libraries: %s", text);
    cr_assert_eq(WEXITSTATUS(st), 0, "exit %d: %s", WEXITSTATUS(st), text);
    cr_assert(strstr(text, "xh_nolibs: ok"), "%s", text);
}

/* libidc names no Xen library: a program linked with it loads where none is installed. */
Test(xenhost, libidc_needs_no_xen_library)
{
    char cmd[512], text[4096] = "";
    snprintf(cmd, sizeof(cmd), "readelf -d %s/lib/libidc.so.0 2>&1", IDC_BUILDDIR);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    size_t n = fread(text, 1, sizeof(text) - 1, p);
    text[n] = 0;
    cr_assert_eq(pclose(p), 0, "%s", text);
    cr_assert(strstr(text, "NEEDED"), "%s", text);
    cr_assert(!strstr(text, "libxen"), "libidc.so names a Xen library:\n%s", text);
    cr_assert(!strstr(text, "libfabric") && !strstr(text, "libzookeeper"),
              "libidc.so names a library of the fabric transport:\n%s", text);
}
