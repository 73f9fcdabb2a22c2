/* End-to-end test utilities (see e2e.h). */
#include "e2e.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct e2e e2e;

#define MAX_CHILDREN 256
static pid_t children[MAX_CHILDREN];

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void e2e_setup(void)
{
    snprintf(e2e.dir, sizeof e2e.dir, "/tmp/idc-e2e-XXXXXX");
    cr_assert_not_null(mkdtemp(e2e.dir), "mkdtemp: %s", strerror(errno));
    snprintf(e2e.shm_dir, sizeof e2e.shm_dir, "%s/shm", e2e.dir);
    cr_assert_eq(mkdir(e2e.shm_dir, 0700), 0, "mkdir %s: %s", e2e.shm_dir, strerror(errno));
    setenv("IDC_SHM_DIR", e2e.shm_dir, 1);
    char stats[sizeof e2e.shm_dir + 8];
    snprintf(stats, sizeof stats, "%s/stats", e2e.dir);
    setenv("IDC_STATS_DIR", stats, 1); /* the programs' stats files stay in the test's directory */
    memset(children, 0, sizeof children);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void e2e_teardown(void)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (children[i] > 0) {
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);
            children[i] = 0;
        }
    }
    if (e2e.dir[0] && !getenv("IDC_E2E_KEEP"))
        nftw(e2e.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *ring_printf(const char *fmt, ...)
{
    /* paths stay valid for the whole test: a test makes far fewer than 1024 */
    static char bufs[1024][256];
    static unsigned next;
    char *b = bufs[next++ % 1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(b, sizeof bufs[0], fmt, ap);
    va_end(ap);
    return b;
}

const char *e2e_built(const char *rel)
{
    return ring_printf("%s/%s", IDC_BUILDDIR, rel);
}

const char *e2e_path(const char *name)
{
    return ring_printf("%s/%s", e2e.dir, name);
}

const char *e2e_nbd_uri(const char *sock)
{
    return ring_printf("nbd+unix:///?socket=%s/%s", e2e.dir, sock);
}

bool e2e_have(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[1024];

    if (strchr(prog, '/'))
        return access(prog, X_OK) == 0;
    if (!path)
        path = "/usr/bin:/bin:/usr/sbin:/sbin";
    while (*path) {
        size_t n = strcspn(path, ":");
        snprintf(buf, sizeof buf, "%.*s/%s", (int)n, path, prog);
        if (access(buf, X_OK) == 0)
            return true;
        path += n + (path[n] == ':');
    }
    return false;
}

void e2e_require(const char *first, ...)
{
    va_list ap;

    va_start(ap, first);
    for (const char *p = first; p; p = va_arg(ap, const char *)) {
        if (!e2e_have(p)) {
            va_end(ap);
            cr_skip("%s is not available (install the Debian packages in DEPS: make deps)", p);
        }
    }
    va_end(ap);
}

static void track(pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (children[i] == 0) {
            children[i] = pid;
            return;
        }
    }
}

static void untrack(pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] == pid)
            children[i] = 0;
}

pid_t e2e_spawn_env(const char *log, const char *const env[], const char *const argv[])
{
    pid_t pid = fork();

    cr_assert_neq(pid, -1, "fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(e2e_path(log), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, STDIN_FILENO);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* the test runner's own descriptors are none of the child's business */
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        for (const char *const *e = env; e && *e; e++)
            putenv((char *)*e);
        execvp(argv[0], (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    track(pid);
    return pid;
}

pid_t e2e_spawn(const char *log, const char *const argv[])
{
    return e2e_spawn_env(log, NULL, argv);
}

int e2e_wait(pid_t pid, int timeout_ms)
{
    int64_t until = now_ms() + timeout_ms;
    int status;

    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            untrack(pid);
            return status;
        }
        if (r < 0)
            return -1;
        if (now_ms() >= until)
            return -1;
        sleep_ms(10);
    }
}

bool e2e_alive(pid_t pid)
{
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
        untrack(pid);
        return false;
    }
    return r == 0;
}

int e2e_stop(pid_t pid, int sig)
{
    int status;

    if (pid <= 0)
        return -1;
    kill(pid, sig);
    status = e2e_wait(pid, 5000);
    if (status == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        untrack(pid);
    }
    return status;
}

int e2e_run(int timeout_s, const char *log, const char *const argv[])
{
    pid_t pid = e2e_spawn(log, argv);
    int status = e2e_wait(pid, timeout_s * 1000);

    if (status == -1) {
        FILE *f = fopen(e2e_path(log), "a");
        if (f) {
            fprintf(f, "e2e: %s did not finish within %d s: killed\n", argv[0], timeout_s);
            fclose(f);
        }
        e2e_stop(pid, SIGKILL);
        return -1;
    }
    if (!WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

bool e2e_wait_path(const char *path, int timeout_ms)
{
    int64_t until = now_ms() + timeout_ms;

    while (access(path, F_OK) != 0) {
        if (now_ms() >= until)
            return false;
        sleep_ms(10);
    }
    return true;
}

int e2e_write_random(const char *path, uint64_t size, uint64_t seed)
{
    static uint64_t buf[8192];
    FILE *f = fopen(path, "w");
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;

    if (!f)
        return -errno;
    while (size) {
        size_t n = size < sizeof buf ? (size_t)size : sizeof buf;
        for (size_t i = 0; i < (n + 7) / 8; i++) { /* xorshift64* */
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            buf[i] = x * 0x2545F4914F6CDD1Dull;
        }
        if (fwrite(buf, 1, n, f) != n) {
            fclose(f);
            return -EIO;
        }
        size -= n;
    }
    return fclose(f) == 0 ? 0 : -errno;
}

bool e2e_files_equal(const char *a, const char *b)
{
    static unsigned char ba[65536], bb[65536];
    FILE *fa = fopen(a, "r"), *fb = fopen(b, "r");
    bool equal = fa && fb;
    uint64_t off = 0;

    while (equal) {
        size_t na = fread(ba, 1, sizeof ba, fa), nb = fread(bb, 1, sizeof bb, fb);
        if (na != nb || memcmp(ba, bb, na) != 0) {
            size_t i = 0;
            while (i < na && i < nb && ba[i] == bb[i])
                i++;
            fprintf(stderr, "e2e: %s and %s differ at byte %llu\n", a, b,
                    (unsigned long long)(off + i));
            equal = false;
        }
        if (na == 0)
            break;
        off += na;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return equal;
}

uint64_t e2e_file_hash(const char *path)
{
    static unsigned char buf[65536];
    uint64_t h = 0xcbf29ce484222325ull;
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f)
        return 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        for (size_t i = 0; i < n; i++)
            h = (h ^ buf[i]) * 0x100000001b3ull;
    fclose(f);
    return h;
}

void e2e_dump_log(const char *log)
{
    char line[1024];
    FILE *f = fopen(e2e_path(log), "r");
    long size;

    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, size > 8192 ? size - 8192 : 0, SEEK_SET);
    fprintf(stderr, "---- %s (tail)\n", log);
    while (fgets(line, sizeof line, f))
        fputs(line, stderr);
    fprintf(stderr, "----\n");
    fclose(f);
}

const char *const *e2e_nbdkit_env(void)
{
    static const char *env[2] = { NULL, NULL };
#if defined(__SANITIZE_ADDRESS__)
    /* the plugin carries ASan code: nbdkit (not instrumented) must load the runtime first */
    static char preload[512];
    if (!env[0]) {
        FILE *p = popen("${CC:-cc} -print-file-name=libasan.so", "r");
        if (p && fgets(preload + strlen("LD_PRELOAD="), (int)(sizeof preload - 12), p)) {
            memcpy(preload, "LD_PRELOAD=", strlen("LD_PRELOAD="));
            preload[strcspn(preload, "\n")] = '\0';
            env[0] = preload;
        }
        if (p)
            pclose(p);
    }
    setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
#endif
    return env;
}

const char *e2e_plugin(void)
{
    const char *plugin = e2e_built("examples/blk/nbdkit-idc-plugin.so");
    cr_assert_eq(access(plugin, R_OK), 0, "%s not built", plugin);
    return plugin;
}

pid_t e2e_spawn_nbdkit(const char *sock, const char *address, const char *log,
                       const char *const extra[])
{
    const char *argv[32] = { "nbdkit",
                             "-f",
                             "-U",
                             e2e_path(sock),
                             e2e_plugin(),
                             ring_printf("address=%s", address),
                             ring_printf("stats=%s/%s.stats", e2e.dir, sock) };
    unsigned n = 7;

    for (const char *const *x = extra; x && *x && n < 31; x++)
        argv[n++] = *x;
    argv[n] = NULL;
    return e2e_spawn_env(log, e2e_nbdkit_env(), argv);
}

pid_t e2e_start_nbdkit_with(const char *sock, const char *address, const char *log,
                            const char *const extra[])
{
    pid_t pid = e2e_spawn_nbdkit(sock, address, log, extra);

    if (!e2e_wait_path(e2e_path(sock), 10000)) {
        e2e_dump_log(log);
        cr_assert_fail("nbdkit did not create %s", e2e_path(sock));
    }
    return pid;
}

pid_t e2e_start_nbdkit(const char *sock, const char *address, const char *log)
{
    return e2e_start_nbdkit_timeout(sock, address, log, 20);
}

pid_t e2e_start_nbdkit_timeout(const char *sock, const char *address, const char *log,
                               unsigned timeout_s)
{
    const char *extra[] = { ring_printf("timeout=%u", timeout_s), NULL };
    return e2e_start_nbdkit_with(sock, address, log, extra);
}

bool e2e_log_contains(const char *log, const char *needle)
{
    char line[2048];
    FILE *f = fopen(e2e_path(log), "r");
    bool found = false;

    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return found;
}

double e2e_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
