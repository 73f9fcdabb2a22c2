/*
 * output.c - where idlc writes: regular files are replaced atomically, devices, FIFOs and
 * symlinks are written through, and no temporary file outlives a run, even one ended by a
 * signal.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fe.h"

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/idlc-out-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(output, .init = make_dir, .fini = remove_dir);

static char *in_dir(const char *name)
{
    static char buf[4][256];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

/* idlc -T templates -o DIR -MF deps idl/console.idl, in-process; its exit status */
static int compile_with_deps(const char *deps)
{
    char *argv[] = { "idlc", "-T",         IDC_SRCDIR "/templates/c",     "-o", dir,
                     "-MF",  (char *)deps, IDC_SRCDIR "/idl/console.idl", NULL };
    return idlc_main(8, argv);
}

/* names in dir starting with '.', other than . and .. (temporary files) */
static unsigned count_hidden(const char *d, char *first, size_t n)
{
    DIR *dp = opendir(d);
    cr_assert_not_null(dp);
    unsigned k = 0;
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (e->d_name[0] != '.' || !strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (!k++ && first)
            snprintf(first, n, "%s", e->d_name);
    }
    closedir(dp);
    return k;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

Test(output, deps_file_replaces_a_regular_file_with_usual_mode)
{
    char *deps = in_dir("console.d");
    FILE *f = fopen(deps, "w");
    fputs("stale\n", f);
    fclose(f);
    cr_assert_eq(compile_with_deps(deps), 0);
    cr_assert(strstr(slurp(deps), "/console.idl"), "%s", slurp(deps));
    struct stat st;
    cr_assert_eq(stat(deps, &st), 0);
    mode_t um = umask(0);
    umask(um);
    cr_assert_eq(st.st_mode & 0777, 0666 & ~um, "mode %o", st.st_mode & 0777);
    cr_assert_eq(count_hidden(dir, NULL, 0), 0);
}

/* A device stays a device. The test makes its own node with /dev/null's numbers, so a
 * regression cannot break the machine's /dev/null; only when that passed does it also write
 * to /dev/null itself (and puts /dev/null back if it ever stopped being a device). */
Test(output, deps_file_into_a_character_device_stays_a_device)
{
    if (geteuid() != 0)
        cr_skip("not root: replacing a device by rename() is the root-only failure tested here");
    struct stat null;
    cr_assert_eq(stat("/dev/null", &null), 0);
    cr_assert(S_ISCHR(null.st_mode));
    char *node = in_dir("null");
    if (mknod(node, S_IFCHR | 0666, null.st_rdev) == 0) {
        cr_assert_eq(compile_with_deps(node), 0);
        struct stat st;
        cr_assert_eq(lstat(node, &st), 0);
        cr_assert(S_ISCHR(st.st_mode), "the device node became mode %o", st.st_mode);
        cr_assert_eq(st.st_rdev, null.st_rdev);
    } else {
        cr_log_warn("mknod: %s; testing on /dev/null directly", strerror(errno));
    }
    int rc = compile_with_deps("/dev/null");
    struct stat st;
    bool ok = lstat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == null.st_rdev;
    if (!ok) {
        unlink("/dev/null");
        mknod("/dev/null", S_IFCHR | 0666, null.st_rdev);
        chmod("/dev/null", 0666);
    }
    cr_assert(ok, "idlc -MF /dev/null replaced /dev/null (restored)");
    cr_assert_eq(rc, 0);
    cr_assert_eq(count_hidden(dir, NULL, 0), 0);
}

Test(output, deps_file_into_a_fifo_is_written_through)
{
    char *fifo = in_dir("deps.fifo");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    /* a reader first, so idlc's open for writing does not wait; the rule fits the pipe */
    int rd = open(fifo, O_RDONLY | O_NONBLOCK);
    cr_assert_geq(rd, 0);
    cr_assert_eq(compile_with_deps(fifo), 0);
    char buf[4096];
    ssize_t n = read(rd, buf, sizeof buf - 1);
    close(rd);
    cr_assert_gt(n, 0);
    buf[n] = 0;
    cr_assert(strstr(buf, "console.h "), "%s", buf);
    cr_assert(strstr(buf, "/console.idl"), "%s", buf);
    struct stat st;
    cr_assert_eq(lstat(fifo, &st), 0);
    cr_assert(S_ISFIFO(st.st_mode), "the FIFO became mode %o", st.st_mode);
    cr_assert_eq(count_hidden(dir, NULL, 0), 0);
}

Test(output, deps_file_through_a_symlink_replaces_its_target)
{
    /* link -> sub/target (relative, into another directory); the link stays a link */
    cr_assert_eq(mkdir(in_dir("sub"), 0755), 0);
    cr_assert_eq(symlink("sub/target.d", in_dir("link.d")), 0);
    cr_assert_eq(compile_with_deps(in_dir("link.d")), 0);
    struct stat st;
    cr_assert_eq(lstat(in_dir("link.d"), &st), 0);
    cr_assert(S_ISLNK(st.st_mode), "the symlink became mode %o", st.st_mode);
    cr_assert(strstr(slurp(in_dir("sub/target.d")), "/console.idl"));
    /* again, now that the target exists: replaced in its own directory */
    cr_assert_eq(compile_with_deps(in_dir("link.d")), 0);
    cr_assert_eq(lstat(in_dir("link.d"), &st), 0);
    cr_assert(S_ISLNK(st.st_mode));
    cr_assert_eq(count_hidden(dir, NULL, 0), 0);
    cr_assert_eq(count_hidden(in_dir("sub"), NULL, 0), 0);
}

Test(output, generated_outputs_follow_symlinks_and_keep_fifos, .timeout = 60)
{
    /* -o DIR: console.h is a symlink elsewhere, console_client.c a FIFO with a reader */
    cr_assert_eq(mkdir(in_dir("real"), 0755), 0);
    cr_assert_eq(symlink("real/console.h", in_dir("console.h")), 0);
    cr_assert_eq(mkfifo(in_dir("console_client.c"), 0600), 0);
    int rd = open(in_dir("console_client.c"), O_RDONLY | O_NONBLOCK);
    cr_assert_geq(rd, 0);
    /* the client file may outgrow the pipe buffer: a child drains it while idlc writes */
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int out = open(in_dir("client.copy"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        fcntl(rd, F_SETFL, 0);
        char buf[65536];
        ssize_t n;
        for (int waited = 0; waited < 3000;) { /* 30 s without data: give up */
            n = read(rd, buf, sizeof buf);
            if (n > 0) {
                if (write(out, buf, (size_t)n) != n)
                    _exit(1);
                continue;
            }
            if (n == 0) { /* no writer (yet, or any more): wait for the data */
                struct stat st;
                if (fstat(out, &st) == 0 && st.st_size > 0)
                    _exit(0);
                usleep(10000);
                waited++;
                continue;
            }
            _exit(2);
        }
        _exit(3);
    }
    close(rd);
    cr_assert_eq(compile_with_deps(in_dir("console.d")), 0);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the FIFO reader got nothing (%#x)",
              status);
    struct stat st;
    cr_assert_eq(lstat(in_dir("console.h"), &st), 0);
    cr_assert(S_ISLNK(st.st_mode));
    cr_assert_eq(stat(in_dir("real/console.h"), &st), 0);
    cr_assert(S_ISREG(st.st_mode) && st.st_size > 0);
    cr_assert_eq(lstat(in_dir("console_client.c"), &st), 0);
    cr_assert(S_ISFIFO(st.st_mode));
    cr_assert(strstr(slurp(in_dir("client.copy")), "#include"), "the FIFO got no C");
    cr_assert_eq(count_hidden(dir, NULL, 0), 0);
    cr_assert_eq(count_hidden(in_dir("real"), NULL, 0), 0);
}

Test(output, failed_run_leaves_links_alone)
{
    cr_assert_eq(symlink("target.d", in_dir("link.d")), 0);
    struct idlc_options opt;
    idlc_options_init(&opt);
    opt.out_dir = dir;
    opt.deps_file = in_dir("link.d");
    opt.template_dir = IDC_SRCDIR "/templates/c";
    opt.diag_out = fopen("/dev/null", "w");
    cr_assert_eq(idlc_compile(IDC_SRCDIR "/tests/idl/bad/message_too_large.idl", &opt), 1);
    /* and a generation failure (no templates) after the dependency file was prepared */
    opt.template_dir = dir;
    cr_assert_eq(idlc_compile(IDC_SRCDIR "/idl/console.idl", &opt), 1);
    fclose(opt.diag_out);
    struct stat st;
    cr_assert_eq(lstat(in_dir("link.d"), &st), 0);
    cr_assert(S_ISLNK(st.st_mode));
    cr_assert_neq(access(in_dir("target.d"), F_OK), 0);
    cr_assert_eq(count_hidden(dir, NULL, 0), 0);
}

/* ------------------------------------------------------------------ signals */

/* A protocol big enough that m4 takes a good while over it (about a second per output on
 * an idle machine), so the run is surely still going when the signal comes. */
static void write_big_idl(const char *path)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("protocol big version 1;\n", f);
    for (int i = 0; i < 3000; i++)
        fprintf(f, "struct s%d { u32 a; u64 b; u8 c[<= 16]; string<8> d; }\n", i);
    fputs("from frontend {\n", f);
    for (int i = 0; i < 3000; i++)
        fprintf(f, "    message m%d(s%d x);\n", i, i);
    fputs("}\n", f);
    fclose(f);
}

static bool has_prefix_entry(const char *d, const char *prefix)
{
    DIR *dp = opendir(d);
    bool found = false;
    struct dirent *e;
    while (dp && (e = readdir(dp)))
        found |= !strncmp(e->d_name, prefix, strlen(prefix));
    if (dp)
        closedir(dp);
    return found;
}

/* Runs the idlc program on big.idl, waits until it has its model and a finished output in
 * temporary files, sends sig, and checks it died of sig and left nothing behind. */
static void signal_mid_run(int sig)
{
    char big[128], out[128], deps[160];
    snprintf(big, sizeof big, "%s/big.idl", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(deps, sizeof deps, "%s/big.d", out);
    write_big_idl(big);
    cr_assert_eq(mkdir(out, 0755), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        /* the default dispositions and mask, whatever the test runner set */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2);
        execl(IDC_BUILDDIR "/bin/idlc", "idlc", "-o", out, "-MF", deps, big, (char *)NULL);
        _exit(127);
    }
    bool seen = false;
    for (int i = 0; i < 60000 && !seen; i++) { /* up to 60 s on a loaded machine */
        seen = has_prefix_entry(out, ".big.model.") && has_prefix_entry(out, ".big.h.");
        int status;
        if (!seen && waitpid(pid, &status, WNOHANG) == pid)
            cr_assert_fail("idlc ended (status %#x) before its temporary files were seen", status);
        if (!seen)
            usleep(1000);
    }
    cr_assert(seen, "no temporary files after 60 s");
    cr_assert_eq(kill(pid, sig), 0);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == sig,
              "idlc did not die of signal %d (status %#x)", sig, status);
    char name[256] = "";
    cr_assert_eq(count_hidden(out, name, sizeof name), 0, "left behind: %s", name);
    cr_assert_neq(access(deps, F_OK), 0, "a dependency file of an interrupted run");
    cr_assert(!has_prefix_entry(out, "big"), "an output of an interrupted run");
}

Test(output, sigterm_mid_run_leaves_no_temporary_file, .timeout = 120)
{
    signal_mid_run(SIGTERM);
}

Test(output, sigint_mid_run_leaves_no_temporary_file, .timeout = 120)
{
    signal_mid_run(SIGINT);
}

Test(output, sighup_mid_run_leaves_no_temporary_file, .timeout = 120)
{
    signal_mid_run(SIGHUP);
}
