/* Helpers of the build suite (see build.h). */
#include "build.h"

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The per-run installation is made by the runner before the first test. Criterion runs each test
   in a fresh process of this program (fork and exec), which inherits the runner's environment,
   not its variables: the runner hands the directory and the status on in these. */
#define ENV_RUN_DIR "IDC_BUILD_TESTS_DIR"
#define ENV_INSTALL "IDC_BUILD_TESTS_INSTALL" /* exit status of make install */
static char run_dir[64];                      /* in the runner: to remove at the end */

/* runs argv with stdout+stderr to log; returns the exit status or -1 */
static int run_logged(const char *log, const char *const argv[])
{
    pid_t pid = fork();
    int status;

    if (pid < 0)
        return -1;
    if (pid == 0) {
        FILE *f = freopen(log, "a", stdout);
        if (f)
            dup2(fileno(stdout), STDERR_FILENO);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* argv of make -s -C SRCDIR BUILD=BUILDDIR [sanitizer flags] ARGS... install (argv: 32 slots),
   run as a fresh make: the jobserver of a make running the tests is not passed on */
static void install_argv(const char *argv[32], char build_arg[512], const char *first, va_list ap)
{
    int n = 0;

    argv[n++] = "make";
    argv[n++] = "-s";
    argv[n++] = "-C";
    argv[n++] = IDC_SRCDIR;
    snprintf(build_arg, 512, "BUILD=%s", IDC_BUILDDIR);
    argv[n++] = build_arg;
#if defined(__SANITIZE_ADDRESS__)
    argv[n++] = "SAN=1"; /* the flags of the build under test: nothing is rebuilt */
    argv[n++] = "OPT=-O1";
#endif
    for (const char *a = first; a && n < 30; a = va_arg(ap, const char *))
        argv[n++] = a;
    argv[n++] = "install";
    argv[n] = NULL;
    unsetenv("MAKEFLAGS");
    unsetenv("MFLAGS");
    unsetenv("MAKELEVEL");
}

static int install_run(const char *log, const char *first, ...)
{
    const char *argv[32];
    char build_arg[512];
    va_list ap;

    va_start(ap, first);
    install_argv(argv, build_arg, first, ap);
    va_end(ap);
    return run_logged(log, argv);
}

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    char prefix_arg[160], log[128], status[16];

    (void)set;
    snprintf(run_dir, sizeof run_dir, "/tmp/idc-build-XXXXXX");
    if (!mkdtemp(run_dir)) {
        fprintf(stderr, "build: mkdtemp: %s\n", strerror(errno));
        run_dir[0] = '\0';
        return;
    }
    snprintf(prefix_arg, sizeof prefix_arg, "PREFIX=%s/prefix", run_dir);
    snprintf(log, sizeof log, "%s/install.log", run_dir);
    snprintf(status, sizeof status, "%d", install_run(log, prefix_arg, NULL));
    setenv(ENV_RUN_DIR, run_dir, 1);
    setenv(ENV_INSTALL, status, 1);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    if (run_dir[0] && !getenv("IDC_E2E_KEEP"))
        nftw(run_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *bt_prefix(void)
{
    static char prefix[160];
    const char *dir = getenv(ENV_RUN_DIR);
    const char *status = getenv(ENV_INSTALL);

    cr_assert(dir && status, "no per-run installation (mkdtemp failed?)");
    if (strcmp(status, "0") != 0) {
        char line[512], log[160];
        snprintf(log, sizeof log, "%s/install.log", dir);
        FILE *f = fopen(log, "r");
        while (f && fgets(line, sizeof line, f))
            fputs(line, stderr);
        if (f)
            fclose(f);
        cr_assert_fail("make install PREFIX=%s/prefix failed (status %s)", dir, status);
    }
    snprintf(prefix, sizeof prefix, "%s/prefix", dir);
    return prefix;
}

void bt_driver_env(void)
{
    static char libdir[200];

    snprintf(libdir, sizeof libdir, "%s/lib/pkgconfig", bt_prefix());
    unsetenv("LD_LIBRARY_PATH");
    unsetenv("PKG_CONFIG_PATH");
    unsetenv("CMAKE_PREFIX_PATH");
    unsetenv("MAKEFLAGS");
    unsetenv("MFLAGS");
    unsetenv("MAKELEVEL");
    setenv("PKG_CONFIG_LIBDIR", libdir, 1);
#if defined(__SANITIZE_ADDRESS__)
    /* the installed libidc carries the sanitizers: a program using it must link their runtime */
    setenv("CFLAGS", "-O1 -g -fsanitize=address,undefined", 1);
    setenv("LDFLAGS", "-fsanitize=address,undefined", 1);
    setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
#else
    unsetenv("CFLAGS");
    unsetenv("LDFLAGS");
#endif
}

int bt_make_install(const char *log, const char *first, ...)
{
    const char *argv[32];
    char build_arg[512];
    va_list ap;

    va_start(ap, first);
    install_argv(argv, build_arg, first, ap);
    va_end(ap);
    int rc = e2e_run(120, log, argv);
    if (rc != 0)
        e2e_dump_log(log);
    return rc;
}

const char *bt_copy_example(const char *rel)
{
    const char *dst = e2e_path(rel);
    int rc = bt_sh(30, "copy.log", "mkdir -p '%s' && cp -R '%s/examples/%s/.' '%s/'", dst,
                   IDC_SRCDIR, rel, dst);
    cr_assert_eq(rc, 0, "copying examples/%s failed", rel);
    return dst;
}

static int sh_logged(bool dump, int timeout_s, const char *log, const char *fmt, va_list ap)
{
    char cmd[4096];

    vsnprintf(cmd, sizeof cmd, fmt, ap);
    FILE *f = fopen(e2e_path(log), "a");
    if (f) {
        fprintf(f, "$ %s\n", cmd);
        fclose(f);
    }
    const char *argv[] = { "sh", "-c", cmd, NULL };
    int rc = e2e_run(timeout_s, log, argv);
    if (rc != 0 && dump)
        e2e_dump_log(log);
    return rc;
}

int bt_sh(int timeout_s, const char *log, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sh_logged(true, timeout_s, log, fmt, ap);
    va_end(ap);
    return rc;
}

int bt_sh_may_fail(int timeout_s, const char *log, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sh_logged(false, timeout_s, log, fmt, ap);
    va_end(ap);
    return rc;
}

bool bt_log_has(const char *log, const char *text)
{
    char line[1024];
    bool found = false;
    FILE *f = fopen(e2e_path(log), "r");

    while (f && fgets(line, sizeof line, f))
        found |= strstr(line, text) != NULL;
    if (f)
        fclose(f);
    return found;
}

void bt_assert_libidc_from(const char *program, const char *prefix)
{
    char cmd[1024], line[1024], found[1024] = "";
    FILE *p;

    snprintf(cmd, sizeof cmd, "env -u LD_LIBRARY_PATH ldd '%s' 2>&1", program);
    p = popen(cmd, "r");
    cr_assert_not_null(p, "popen ldd");
    while (fgets(line, sizeof line, p))
        if (strstr(line, "libidc.so"))
            snprintf(found, sizeof found, "%s", line);
    pclose(p);
    cr_assert(strstr(found, "=> ") && strstr(found, prefix),
              "%s must load libidc from %s by its run path, ldd says: %s", program, prefix,
              found[0] ? found : "(no libidc)");
}

void bt_check_shapes_pair(const char *program, const char *log)
{
    const char *argv[] = { program, "shm:shapes", NULL };
    int rc = e2e_run(30, log, argv);
    if (rc != 0)
        e2e_dump_log(log);
    cr_expect_eq(rc, 0, "%s failed (status %d)", program, rc);
    cr_expect(bt_log_has(log, "box: area 12"), "no answer for the box");
    cr_expect(bt_log_has(log, "line: refused (EMPTY)"), "no refusal for the line");
    cr_expect(bt_log_has(log, "measured by the back end: 1"), "no measured message");
}

void bt_check_hello(const char *dir)
{
    char server[512], client[512];

    snprintf(server, sizeof server, "%s/hello-server", dir);
    snprintf(client, sizeof client, "%s/hello-client", dir);
    const char *sargv[] = { server, "shm:hello", NULL };
    pid_t srv = e2e_spawn("server.log", sargv);

    const char *c1[] = { client, "shm:hello", "world", NULL };
    int rc = e2e_run(30, "client1.log", c1);
    if (rc != 0) {
        e2e_dump_log("client1.log");
        e2e_dump_log("server.log");
    }
    cr_expect_eq(rc, 0);
    cr_expect(bt_log_has("client1.log", "hello, world"));
    const char *c2[] = { client, "shm:hello", "", NULL };
    rc = e2e_run(30, "client2.log", c2);
    cr_expect_eq(rc, 1, "an empty name must fail");
    cr_expect(bt_log_has("client2.log", "greet failed: EMPTY"));
    e2e_stop(srv, SIGTERM);
}
