/*
 * idc benchmark harness: case registry, interleaved runner, statistics and output.
 * See harness.h for the model.
 *
 * Each run executes in a forked child (its own process group) so that a case that hangs or
 * crashes is reported as failed with a reason instead of taking the whole benchmark down;
 * results come back through a shared anonymous mapping.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

volatile uint64_t bench_sink;

static int fabnet_enter(struct bench_run *run, int side);

/* Peers forked by the current run (for the per-operation counters). */
#define MAX_PEERS 4
static pid_t peers[MAX_PEERS];
static size_t npeers;

/* ------------------------------------------------------------------ figures */

static const uint64_t rtt_sizes[] = { 8, 64, 256, 1024, 4096, 0 };
static const uint64_t rate_batch[] = { 1, 16, 0 };
static const uint64_t bulk_sizes[] = { 4096, 65536, 1048576, 16777216, 0 };

static const struct bench_figure figures[] = {
    { "rtt", "request/response round trip, echo of N payload bytes each way", BENCH_LATENCY, "us",
      1000.0, "bytes", rtt_sizes, 0, 1.0, 0 },
    { "rate", "one-way message rate, 8-byte messages, B published per notify decision", BENCH_VALUE,
      "Mmsg/s", 0, "batch", rate_batch, 0, 1.0, 0 },
    { "bulk", "bulk transfer of N bytes into the receiver's memory (GB/s = 1e9 B/s)", BENCH_VALUE,
      "GB/s", 0, "bytes", bulk_sizes, 0, 1.0, 0 },
    { "connect", "connection bring-up: from nothing to the first exchanged byte/frame",
      BENCH_LATENCY, "us", 1000.0, "-", NULL, 1, 2.0, 0 },
    { "recover", "kill -9 of the peer until the survivor has noticed the loss", BENCH_LATENCY, "us",
      1000.0, "-", NULL, 1, 3.0, 0 },
    { "compile", "compile a 10,000-declaration interface file to C", BENCH_LATENCY, "ms", 1e6, "-",
      NULL, 1, 10.0, 3 },
    { "decode", "generated decoder: validate and decode frames from private memory", BENCH_VALUE,
      "Mframes/s", 0, "-", NULL, 1, 1.0, 0 },
};
#define NFIGURES (sizeof figures / sizeof figures[0])

/* ------------------------------------------------------------------ registry */

#define MAX_CASES 128
static const struct bench_case *cases[MAX_CASES];
static size_t ncases;

void bench_register(const struct bench_case *c)
{
    if (ncases == MAX_CASES) {
        fprintf(stderr, "bench: too many cases (%s/%s dropped)\n", c->figure, c->name);
        return;
    }
    cases[ncases++] = c;
}

/* ------------------------------------------------------------------ options */

#define MAX_OPTS 16
static struct {
    const char *name;
    const char *value;
} opts[MAX_OPTS];
static size_t nopts;

const char *bench_option(const char *name)
{
    for (size_t i = 0; i < nopts; i++)
        if (strcmp(opts[i].name, name) == 0)
            return opts[i].value;
    return NULL;
}

uint32_t bench_spin_us(void)
{
    const char *s = bench_option("spin_us");
    return s ? (uint32_t)strtoul(s, NULL, 10) : 50u;
}

/* ------------------------------------------------------------------ time */

static double ticks_per_ns = 1.0;
static int use_tsc;

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_ticks(void)
{
#if defined(__x86_64__)
    if (use_tsc) {
        unsigned lo, hi;
        __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
        return ((uint64_t)hi << 32) | lo;
    }
#endif
    return bench_now_ns();
}

double bench_ticks_per_ns(void)
{
    return ticks_per_ns;
}

static void calibrate_ticks(void)
{
#if defined(__x86_64__)
    /* Only an invariant TSC counts at a fixed rate across frequency changes. */
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[4096];
    int constant = 0, nonstop = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5) == 0) {
            constant = strstr(line, " constant_tsc") != NULL;
            nonstop = strstr(line, " nonstop_tsc") != NULL;
            break;
        }
    }
    if (f)
        fclose(f);
    if (constant && nonstop) {
        use_tsc = 1;
        uint64_t n0 = bench_now_ns(), t0 = bench_ticks();
        struct timespec d = { 0, 50 * 1000 * 1000 };
        nanosleep(&d, NULL);
        uint64_t n1 = bench_now_ns(), t1 = bench_ticks();
        ticks_per_ns = (double)(t1 - t0) / (double)(n1 - n0);
        if (!(ticks_per_ns > 0.1 && ticks_per_ns < 20.0)) {
            use_tsc = 0;
            ticks_per_ns = 1.0;
        }
    }
#endif
}

/* Cost of one bench_ticks() pair (median), in ns: part of every latency sample. */
static int cmp_u64(const void *a, const void *b);
static double timer_overhead_ns(void)
{
    static uint64_t d[10001];
    for (int i = 0; i < 10001; i++) {
        uint64_t a = bench_ticks(), b = bench_ticks();
        d[i] = b - a;
    }
    qsort(d, 10001, sizeof d[0], cmp_u64);
    return (double)d[5000] / ticks_per_ns;
}

/* ------------------------------------------------------------------ services for cases */

int bench_fail(struct bench_run *run, const char *fmt, ...)
{
    if (run->err[0])
        return -1; /* keep the first reason */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(run->err, sizeof run->err, fmt, ap);
    va_end(ap);
    return -1;
}

int bench_pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set);
}

pid_t bench_fork_peer(struct bench_run *run, int (*fn)(void *arg), void *arg)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return bench_fail(run, "fork: %s", strerror(errno));
    if (pid == 0) {
        npeers = 0;
        if (bench_pin(run->cpu_peer) != 0)
            _exit(120);
        if (run->placement == BENCH_FABRIC && fabnet_enter(run, 1) != 0)
            _exit(121);
        _exit(fn(arg) == 0 ? 0 : 1);
    }
    if (npeers < MAX_PEERS)
        peers[npeers++] = pid;
    return pid;
}

static void forget_peer(pid_t pid)
{
    for (size_t i = 0; i < npeers; i++)
        if (peers[i] == pid)
            peers[i] = peers[--npeers];
}

int bench_wait_peer(struct bench_run *run, pid_t pid)
{
    int st;
    forget_peer(pid);
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            return bench_fail(run, "waitpid: %s", strerror(errno));
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (WIFSIGNALED(st))
        return bench_fail(run, "peer killed by signal %d", WTERMSIG(st));
    return bench_fail(run, "peer exited with status %d", WEXITSTATUS(st));
}

void bench_kill_peer(pid_t pid)
{
    if (pid <= 0)
        return;
    forget_peer(pid);
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

static uint64_t warm_ticks, stop_ticks;

/* ---- where the time goes: counters of this process and its live peers over the measured
   part of a latency loop (from the first recorded sample to the last) */

struct counters {
    double csw, flt, cpu_ns;
};

static void peer_counters(pid_t pid, struct counters *c)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f)) {
        unsigned long long v;
        if (sscanf(line, "voluntary_ctxt_switches: %llu", &v) == 1 ||
            sscanf(line, "nonvoluntary_ctxt_switches: %llu", &v) == 1)
            c->csw += (double)v;
    }
    if (f)
        fclose(f);
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f && fgets(line, sizeof line, f)) {
        /* field 10 is minflt; skip "pid (comm)" first, comm may contain spaces */
        char *p = strrchr(line, ')');
        unsigned long long minflt;
        if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %llu", &minflt) == 1)
            c->flt += (double)minflt;
    }
    if (f)
        fclose(f);
    snprintf(path, sizeof path, "/proc/%d/schedstat", (int)pid);
    f = fopen(path, "r");
    unsigned long long ns;
    if (f && fscanf(f, "%llu", &ns) == 1)
        c->cpu_ns += (double)ns;
    if (f)
        fclose(f);
}

static void take_counters(struct counters *c)
{
    memset(c, 0, sizeof *c);
    peer_counters(getpid(), c);
    for (size_t i = 0; i < npeers; i++)
        peer_counters(peers[i], c);
}

static struct counters cnt0;
static int cnt_started;

void bench_lat_start(struct bench_run *run)
{
    warm_ticks = (uint64_t)((double)run->warmup_ns * ticks_per_ns);
    stop_ticks = warm_ticks + (uint64_t)((double)run->budget_ns * ticks_per_ns);
    run->nsamples = 0;
    run->csw_per_op = run->cpu_per_op = run->flt_per_op = NAN;
    cnt_started = 0;
    run->lat_t0 = bench_ticks();
}

static void counters_mark(struct bench_run *run, int last)
{
    if (!last) {
        take_counters(&cnt0);
        cnt_started = 1;
        return;
    }
    if (!cnt_started || run->ops == 0)
        return;
    struct counters c1;
    take_counters(&c1);
    double n = (double)run->ops;
    run->csw_per_op = (c1.csw - cnt0.csw) / n;
    run->flt_per_op = (c1.flt - cnt0.flt) / n;
    run->cpu_per_op = (c1.cpu_ns - cnt0.cpu_ns) / n;
    cnt_started = 0;
}

int bench_lat_record(struct bench_run *run, uint64_t t0, uint64_t t1)
{
    uint64_t since = t1 - run->lat_t0;
    if (since < warm_ticks)
        return 1;
    run->samples[run->nsamples++] = t1 - t0;
    if (!cnt_started && run->nsamples == 1) {
        run->ops = 0;
        counters_mark(run, 0); /* the counters cover the operations after the first sample */
    } else {
        run->ops++;
    }
    if (since < stop_ticks && run->nsamples < run->cap)
        return 1;
    counters_mark(run, 1);
    return 0;
}

int bench_lat_record_n(struct bench_run *run, uint64_t t0, uint64_t t1, uint64_t n)
{
    uint64_t since = t1 - run->lat_t0;
    if (since < warm_ticks || n == 0)
        return 1;
    run->samples[run->nsamples++] = (t1 - t0) / n;
    if (!cnt_started && run->nsamples == 1) {
        run->ops = 0;
        counters_mark(run, 0);
    } else {
        run->ops += n;
    }
    if (since < stop_ticks && run->nsamples < run->cap)
        return 1;
    counters_mark(run, 1);
    return 0;
}

int bench_in_warmup(const struct bench_run *run, uint64_t start_ns, uint64_t now_ns)
{
    return now_ns - start_ns < run->warmup_ns;
}

int bench_read_full(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int bench_write_full(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ------------------------------------------------------------------ statistics */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples. */
static uint64_t percentile(const uint64_t *s, size_t n, double p)
{
    size_t k = (size_t)ceil(p / 100.0 * (double)n);
    if (k < 1)
        k = 1;
    return s[k - 1];
}

static double median_dbl(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_dbl);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/* ------------------------------------------------------------------ runner */

#define MAX_REPS        50
#define FABRIC_MAX_REPS 3

struct result {
    const struct bench_case *c;
    double val[MAX_REPS]; /* per rep: p50 (latency, in figure units) or value */
    double p99[MAX_REPS];
    double csw[MAX_REPS], cpu[MAX_REPS], flt[MAX_REPS];
    size_t nval;
    unsigned failed;
    char err[160];
    double median, min, max, p99med, cswmed, cpumed, fltmed;
    size_t samples; /* latency samples per rep (last) */
};

static struct bench_run *shared_run;
static uint64_t *shared_samples;
static size_t sample_cap = 1u << 20;
static char tmpdir[256];
static unsigned reps = 5;
static uint64_t budget_ms = 60;
static long long warmup_ms = -1; /* -1: a sixth of the budget */
static const char *outdir = "build/bench";
static const char *only_figures;
static const char *only_cases;
static unsigned only_placements = BENCH_BOTH | BENCH_FABRIC;
static long long only_param = -1;
static int ncpu;

/* ------------------------------------------------------------------ fabric placement */

/* The namespaces of the fabric placement, made by the script -D fabnet=SCRIPT names (make bench:
   bench/fabnet.sh) at the first fabric block. The script prints "ready NS_A NS_B ADDR_A ADDR_B
   REGISTRY" (or "skip REASON") and removes everything it made when its standard input reaches
   end of file: when fabnet_down closes it, or when this process dies whatever the cause. */
static struct {
    int state; /* 0: not tried, 1: ready, -1: unavailable (reason) */
    char reason[600];
    char ns[2][64], host[2][32], registry[64];
    int nsfd[2];
    int ctl; /* the script's standard input */
    pid_t pid;
} fabnet = { .nsfd = { -1, -1 }, .ctl = -1 };

static int fabnet_skip(const char *fmt, const char *arg)
{
    fabnet.state = -1;
    snprintf(fabnet.reason, sizeof fabnet.reason, fmt, arg);
    return -1;
}

/* One line from fd within ms; 0 or -1. */
static int read_line(int fd, char *buf, size_t size, int ms)
{
    size_t n = 0;
    while (n + 1 < size) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, ms) <= 0 || read(fd, buf + n, 1) != 1)
            return -1;
        if (buf[n] == '\n')
            break;
        n++;
    }
    buf[n] = '\0';
    return 0;
}

static int fabnet_spawn(const char *script, int *out)
{
    int in[2], o[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(o, O_CLOEXEC) != 0)
        return fabnet_skip("pipe: %s", strerror(errno));
    fflush(stdout);
    fabnet.pid = fork();
    if (fabnet.pid == 0) {
        dup2(in[0], 0);
        dup2(o[1], 1);
        execl("/bin/bash", "bash", script, tmpdir, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(o[1]);
    fabnet.ctl = in[1];
    *out = o[0];
    if (fabnet.pid < 0) {
        close(o[0]);
        return fabnet_skip("fork: %s", strerror(errno));
    }
    return 0;
}

static int fabnet_open_ns(void)
{
    for (int i = 0; i < 2; i++) {
        char path[128];
        snprintf(path, sizeof path, "/run/netns/%s", fabnet.ns[i]);
        fabnet.nsfd[i] = open(path, O_RDONLY | O_CLOEXEC);
        if (fabnet.nsfd[i] < 0)
            return fabnet_skip("cannot open the namespace: %s", strerror(errno));
    }
    return 0;
}

static int fabnet_up(void)
{
    if (fabnet.state)
        return fabnet.state > 0 ? 0 : -1;
    const char *script = bench_option("fabnet");
    if (!script)
        return fabnet_skip("%s", "no namespace script (-D fabnet=bench/fabnet.sh)");
    int out;
    if (fabnet_spawn(script, &out) != 0)
        return -1;
    char line[512];
    int r = read_line(out, line, sizeof line, 60000); /* ZooKeeper's start is bounded to 20 s */
    close(out);
    if (r != 0)
        return fabnet_skip("%s", "the namespace script did not answer");
    if (strncmp(line, "skip ", 5) == 0)
        return fabnet_skip("%s", line + 5);
    if (sscanf(line, "ready %63s %63s %31s %31s %63s", fabnet.ns[0], fabnet.ns[1], fabnet.host[0],
               fabnet.host[1], fabnet.registry) != 5)
        return fabnet_skip("the namespace script said: %s", line);
    if (fabnet_open_ns() != 0)
        return -1;
    setenv("IDC_ZOOKEEPER", fabnet.registry, 1);
    fabnet.state = 1;
    return 0;
}

static void fabnet_down(void)
{
    if (fabnet.ctl < 0)
        return;
    close(fabnet.ctl); /* end of file: the script removes the namespaces and exits */
    fabnet.ctl = -1;
    uint64_t end = bench_now_ns() + 30000000000ull;
    while (waitpid(fabnet.pid, NULL, WNOHANG) == 0) {
        if (bench_now_ns() > end) {
            kill(fabnet.pid, SIGKILL);
            waitpid(fabnet.pid, NULL, 0);
            break;
        }
        usleep(50000);
    }
}

/* A side of a fabric run enters its namespace: 0 = the measuring side, 1 = the peer. */
static int fabnet_enter(struct bench_run *run, int side)
{
    if (setns(fabnet.nsfd[side], CLONE_NEWNET) != 0)
        return bench_fail(run, "setns %s: %s", fabnet.ns[side], strerror(errno));
    setenv("IDC_FABRIC_ADDR", fabnet.host[side], 1);
    setenv("IDC_NODE", side ? "bench-b" : "bench-a", 1);
    return 0;
}

/* Execute one run in a child process group; fills *r->err on failure. */
static int execute(const struct bench_figure *fig, const struct bench_case *c, uint64_t param,
                   unsigned placement, double *value, double *p99)
{
    struct bench_run *run = shared_run;
    memset(run, 0, sizeof *run);
    run->param = param;
    run->placement = placement;
    run->cpu_self = 0;
    run->cpu_peer = placement == BENCH_SAME || ncpu < 2 ? 0 : 1;
    if (placement == BENCH_FABRIC) {
        run->self_host = fabnet.host[0];
        run->peer_host = fabnet.host[1];
    }
    double scale = fig->budget_scale > 0 ? fig->budget_scale : 1.0;
    run->budget_ns = (uint64_t)((double)budget_ms * 1e6 * scale);
    run->warmup_ns = warmup_ms >= 0 ? (uint64_t)warmup_ms * 1000000u : run->budget_ns / 6;
    run->tmpdir = tmpdir;
    run->samples = shared_samples;
    run->cap = sample_cap;

    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(run->err, sizeof run->err, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (bench_pin(run->cpu_self) != 0) {
            bench_fail(run, "sched_setaffinity(%d): %s", run->cpu_self, strerror(errno));
            _exit(1);
        }
        if (placement == BENCH_FABRIC && fabnet_enter(run, 0) != 0)
            _exit(1);
        int rc = c->run(run);
        if (rc != 0 && !run->err[0])
            bench_fail(run, "case returned %d", rc);
        _exit(rc == 0 ? 0 : 1);
    }
    setpgid(pid, pid);

    /* Wait with a deadline: a hung case is killed with its whole process group. */
    uint64_t limit_ns = run->warmup_ns + run->budget_ns +
                        (uint64_t)((20.0 + 3.0 * scale) * 1e9); /* slow figures get longer */
    uint64_t deadline = bench_now_ns() + limit_ns;
    int st = 0;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            break;
        uint64_t now = bench_now_ns();
        if (now >= deadline) {
            kill(-pid, SIGKILL);
            waitpid(pid, &st, 0);
            snprintf(run->err, sizeof run->err, "timed out after %.0f s", (double)limit_ns / 1e9);
            return -1;
        }
        sigset_t chld;
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        uint64_t left = deadline - now;
        if (left > 100000000u)
            left = 100000000u;
        struct timespec ts = { (time_t)(left / 1000000000u), (long)(left % 1000000000u) };
        sigtimedwait(&chld, NULL, &ts);
    }
    /* Leftover peers of a failed case must not keep running. */
    kill(-pid, SIGKILL);
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        if (!run->err[0]) {
            if (WIFSIGNALED(st))
                snprintf(run->err, sizeof run->err, "killed by signal %d", WTERMSIG(st));
            else
                snprintf(run->err, sizeof run->err, "exit status %d", WEXITSTATUS(st));
        }
        return -1;
    }
    if (fig->kind == BENCH_LATENCY) {
        if (run->nsamples == 0) {
            snprintf(run->err, sizeof run->err, "no samples recorded");
            return -1;
        }
        qsort(run->samples, run->nsamples, sizeof *run->samples, cmp_u64);
        double k = ticks_per_ns * fig->scale;
        *value = (double)percentile(run->samples, run->nsamples, 50) / k;
        *p99 = (double)percentile(run->samples, run->nsamples, 99) / k;
    } else {
        if (!(run->value > 0) || !isfinite(run->value)) {
            snprintf(run->err, sizeof run->err, "no value recorded");
            return -1;
        }
        *value = run->value;
        *p99 = NAN;
    }
    return 0;
}

static int case_selected(const struct bench_case *c)
{
    if (!only_cases)
        return 1;
    /* a comma list of substrings */
    char buf[512];
    snprintf(buf, sizeof buf, "%s", only_cases);
    for (char *s = strtok(buf, ","); s; s = strtok(NULL, ","))
        if (strstr(c->name, s))
            return 1;
    return 0;
}

static int figure_selected(const struct bench_figure *f)
{
    if (!only_figures)
        return 1;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", only_figures);
    for (char *s = strtok(buf, ","); s; s = strtok(NULL, ","))
        if (strcmp(s, f->name) == 0)
            return 1;
    return 0;
}

static int case_has_param(const struct bench_case *c, uint64_t p)
{
    if (!c->params)
        return 1;
    for (const uint64_t *q = c->params; *q; q++)
        if (*q == p)
            return 1;
    return 0;
}

static const char *placement_name(unsigned p)
{
    return p == BENCH_CROSS ? "cross" : p == BENCH_SAME ? "same" : "fabric";
}

/* The heading of a block: where its two processes run. */
static const char *placement_label(unsigned p)
{
    return p == BENCH_CROSS  ? "cross-core"
           : p == BENCH_SAME ? "same-core"
                             : "fabric (two network namespaces, tcp;ofi_rxm, cross-core)";
}

static size_t placement_index(unsigned p)
{
    return p == BENCH_CROSS ? 0 : p == BENCH_SAME ? 1 : 2;
}

static FILE *tsv;
static const char *skip_reason[MAX_CASES];

/* Plot data: one file per figure and placement, a row per param, a column per case. */
struct plotcol {
    const char *name;
    double v[8];
};
#define NPLACEMENTS 3
static struct plotcol plot[NPLACEMENTS][MAX_CASES];
static size_t nplot[NPLACEMENTS];

static void plot_put(unsigned pl, size_t pidx, const char *name, double v)
{
    struct plotcol *cols = plot[placement_index(pl)];
    size_t *n = &nplot[placement_index(pl)];
    size_t i;
    for (i = 0; i < *n; i++)
        if (strcmp(cols[i].name, name) == 0)
            break;
    if (i == *n) {
        if (*n == MAX_CASES)
            return;
        cols[i].name = name;
        for (size_t k = 0; k < 8; k++)
            cols[i].v[k] = NAN;
        (*n)++;
    }
    if (pidx < 8)
        cols[i].v[pidx] = v;
}

static void plot_write(const struct bench_figure *fig)
{
    static const char *const plname[NPLACEMENTS] = { "cross", "same", "fabric" };
    for (int pl = 0; pl < NPLACEMENTS; pl++) {
        if (nplot[pl] == 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/plot-%s-%s.dat", outdir, fig->name, plname[pl]);
        FILE *f = fopen(path, "w");
        if (!f) {
            fprintf(stderr, "bench: %s: %s\n", path, strerror(errno));
            continue;
        }
        fprintf(f, "%s", fig->param_name);
        for (size_t i = 0; i < nplot[pl]; i++)
            fprintf(f, "\t%s", plot[pl][i].name);
        fprintf(f, "\n");
        for (size_t k = 0; fig->params && fig->params[k] && k < 8; k++) {
            fprintf(f, "%llu", (unsigned long long)fig->params[k]);
            for (size_t i = 0; i < nplot[pl]; i++) {
                if (isnan(plot[pl][i].v[k]))
                    fprintf(f, "\tNaN");
                else
                    fprintf(f, "\t%.6g", plot[pl][i].v[k]);
            }
            fprintf(f, "\n");
        }
        fclose(f);
        nplot[pl] = 0;
    }
}

/* ------------------------------------------------------------------ targets */

/* Every median, for the target check at the end. */
struct kept {
    const char *figure, *name;
    uint64_t param;
    unsigned placement;
    double median;
};
static struct kept kept[2048];
static size_t nkept;

static void keep(const char *figure, uint64_t param, unsigned placement, const char *name,
                 double median)
{
    if (nkept < sizeof kept / sizeof kept[0])
        kept[nkept++] = (struct kept){ figure, name, param, placement, median };
}

static double kept_median(const char *figure, uint64_t param, unsigned placement, const char *name)
{
    for (size_t i = 0; i < nkept; i++)
        if (strcmp(kept[i].figure, figure) == 0 && kept[i].param == param &&
            kept[i].placement == placement && strcmp(kept[i].name, name) == 0)
            return kept[i].median;
    return NAN;
}

/* The targets, as ratios of medians measured in the same interleaved series.
   le: case/other must be <= bound (latency); otherwise >= bound (rates, bandwidth). */
struct target {
    const char *figure;
    uint64_t param;
    unsigned placement;
    const char *name, *other;
    int le;
    double bound;
    /* Optional: the ceiling for anything done this way (memcpy for one copy; the bare ring
       for messages sent in the same pattern). A multiple of `other` that the ceiling itself
       does not reach cannot be met by anything, and one it barely reaches asks for the
       ceiling itself: the bound is frac times the ceiling's own ratio to `other` (the sister
       target's fraction of the ceiling) whenever that is lower than bound, which makes the
       cap continuous where it starts (the ceiling at bound / frac). */
    const char *ceiling;
    double frac;
};

static const struct target targets[] = {
    { "rtt", 8, BENCH_SAME, "idc-txn", "ring-eventfd", 1, 1.2, NULL, 0 },
    { "rtt", 1024, BENCH_SAME, "idc-txn", "ring-eventfd", 1, 1.2, NULL, 0 },
    { "rtt", 8, BENCH_SAME, "idc-txn", "pipe", 1, 1.0, NULL, 0 },
    { "rtt", 8, BENCH_SAME, "idc-txn", "unix-seqpacket", 1, 1.0, NULL, 0 },
    { "rtt", 8, BENCH_SAME, "idc-txn", "iceoryx", 1, 1.0, NULL, 0 },
    { "rtt", 8, BENCH_SAME, "idc-txn", "oncrpc", 1, 1.0, NULL, 0 },
    { "rtt", 1024, BENCH_SAME, "idc-txn", "pipe", 1, 1.0, NULL, 0 },
    { "rtt", 1024, BENCH_SAME, "idc-txn", "unix-seqpacket", 1, 1.0, NULL, 0 },
    { "rtt", 1024, BENCH_SAME, "idc-txn", "iceoryx", 1, 1.0, NULL, 0 },
    { "rtt", 1024, BENCH_SAME, "idc-txn", "oncrpc", 1, 1.0, NULL, 0 },
    { "rtt", 8, BENCH_CROSS, "idc-txn-spin", "ring-spin", 1, 1.3, NULL, 0 },
    { "rtt", 1024, BENCH_CROSS, "idc-txn-spin", "ring-spin", 1, 1.3, NULL, 0 },
    /* idc-msg-cb paces its producer by acknowledgements (rt_batch.c): measured against bare
       rings and sockets paced the same way (the -ack cases), as the unpaced ones do less */
    { "rate", 16, BENCH_CROSS, "idc-msg-cb-spin", "ring-spin-ack", 0, 0.5, NULL, 0 },
    { "rate", 16, BENCH_CROSS, "idc-msg-cb", "ring-eventfd-ack", 0, 0.5, NULL, 0 },
    { "rate", 16, BENCH_SAME, "idc-msg-cb", "ring-eventfd-ack", 0, 0.5, NULL, 0 },
    { "rate", 16, BENCH_CROSS, "idc-msg", "ring-eventfd", 0, 0.5, NULL, 0 },
    { "rate", 16, BENCH_SAME, "idc-msg", "ring-eventfd", 0, 0.5, NULL, 0 },
    { "rate", 16, BENCH_CROSS, "idc-msg-cb-spin", "unix-seqpacket-ack", 0, 20.0, NULL, 0 },
    { "rate", 16, BENCH_CROSS, "idc-msg-cb", "unix-seqpacket-ack", 0, 20.0, NULL, 0 },
    { "rate", 16, BENCH_SAME, "idc-msg-cb", "unix-seqpacket-ack", 0, 20.0, NULL, 0 },
    /* same-core, both processes run about 7 us per turn, whatever they do in it: the unpaced
       rate is set by the CPU per message, and the bare ring sending the same way is its
       ceiling (docs/performance.md). The paced cases have none: their wake-ups depend on how
       the acknowledgements are batched, and idc-msg-cb same-core beats ring-eventfd-ack. */
    { "rate", 16, BENCH_SAME, "idc-msg", "unix-seqpacket", 0, 20.0, "ring-eventfd", 0.5 },
    { "bulk", 1048576, BENCH_CROSS, "idc-rbuf", "memcpy", 0, 0.8, NULL, 0 },
    { "bulk", 16777216, BENCH_CROSS, "idc-rbuf", "memcpy", 0, 0.8, NULL, 0 },
    { "bulk", 1048576, BENCH_CROSS, "idc-rbuf", "unix-stream", 0, 5.0, "memcpy", 0.8 },
    { "bulk", 16777216, BENCH_CROSS, "idc-rbuf", "unix-stream", 0, 5.0, "memcpy", 0.8 },
    /* the fabric placement: idc against bare libfabric on the same provider, and ONC RPC over
       TCP, between the same two namespaces */
    { "rtt", 64, BENCH_FABRIC, "idc-txn-fab", "fi-msg", 1, 1.15, NULL, 0 },
    { "rtt", 1024, BENCH_FABRIC, "idc-txn-fab", "fi-msg", 1, 1.15, NULL, 0 },
    { "rtt", 64, BENCH_FABRIC, "idc-txn-fab", "oncrpc-tcp", 1, 0.5, NULL, 0 },
    { "rtt", 1024, BENCH_FABRIC, "idc-txn-fab", "oncrpc-tcp", 1, 0.5, NULL, 0 },
    /* the same spinning: the wake-up of a blocking program on this provider alone is 2-5x the
       polled ping-pong, so these are the rows that can meet the targets */
    { "rtt", 64, BENCH_FABRIC, "idc-txn-fab-spin", "fi-msg", 1, 1.15, NULL, 0 },
    { "rtt", 1024, BENCH_FABRIC, "idc-txn-fab-spin", "fi-msg", 1, 1.15, NULL, 0 },
    { "rtt", 64, BENCH_FABRIC, "idc-txn-fab-spin", "oncrpc-tcp", 1, 0.5, NULL, 0 },
    { "rtt", 1024, BENCH_FABRIC, "idc-txn-fab-spin", "oncrpc-tcp", 1, 0.5, NULL, 0 },
    { "bulk", 1048576, BENCH_FABRIC, "idc-rbuf-fab", "fi-read", 0, 0.9, NULL, 0 },
    { "bulk", 16777216, BENCH_FABRIC, "idc-rbuf-fab", "fi-read", 0, 0.9, NULL, 0 },
    /* the bare fi_read's processes poll; so do these */
    { "bulk", 1048576, BENCH_FABRIC, "idc-rbuf-fab-spin", "fi-read", 0, 0.9, NULL, 0 },
    { "bulk", 16777216, BENCH_FABRIC, "idc-rbuf-fab-spin", "fi-read", 0, 0.9, NULL, 0 },
};

static void check_targets(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/targets.tsv", outdir);
    FILE *f = fopen(path, "w");
    if (f)
        fprintf(f, "figure\tparam\tplacement\tcase\tversus\tratio\ttarget\tstatus\n");
    int header = 0;
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        const struct target *t = &targets[i];
        double a = kept_median(t->figure, t->param, t->placement, t->name);
        double b = kept_median(t->figure, t->param, t->placement, t->other);
        if (isnan(a) || isnan(b))
            continue; /* not measured in this run (filtered, skipped or failed) */
        if (!header) {
            printf("\n== targets (ratios of medians from the same interleaved series)\n");
            header = 1;
        }
        double r = a / b, bound = t->bound;
        char capped[96] = "";
        double c = t->ceiling ? kept_median(t->figure, t->param, t->placement, t->ceiling) : NAN;
        if (!isnan(c) && t->frac * c / b < bound) {
            bound = t->frac * c / b;
            snprintf(capped, sizeof capped, " (capped: %s itself is %.3gx %s; x %g)", t->ceiling,
                     c / b, t->other, t->frac);
        }
        int ok = t->le ? r <= bound : r >= bound;
        char miss[64] = "";
        if (!ok)
            snprintf(miss, sizeof miss, " by %.0f%%",
                     100.0 * (t->le ? r / bound - 1.0 : 1.0 - r / bound));
        printf("  %-4s %-8llu %-6s %-15s / %-14s = %7.3f   target %s %-5.3g %s%s%s\n", t->figure,
               (unsigned long long)t->param, placement_name(t->placement), t->name, t->other, r,
               t->le ? "<=" : ">=", bound, ok ? "met" : "MISSED", miss, capped);
        if (f)
            fprintf(f, "%s\t%llu\t%s\t%s\t%s\t%.4g\t%s%.3g\t%s\n", t->figure,
                    (unsigned long long)t->param, placement_name(t->placement), t->name, t->other,
                    r, t->le ? "<=" : ">=", bound, ok ? "met" : "missed");
    }
    if (f)
        fclose(f);
}

static void fmt_num(char *buf, size_t len, double v)
{
    if (isnan(v))
        snprintf(buf, len, "-");
    else if (v >= 1000)
        snprintf(buf, len, "%.0f", v);
    else if (v >= 100)
        snprintf(buf, len, "%.1f", v);
    else if (v >= 10)
        snprintf(buf, len, "%.2f", v);
    else
        snprintf(buf, len, "%.3f", v);
}

/* The figure has fabric cases to run and the namespaces are there (made at the first such
   figure); otherwise false, the reason printed once per figure. */
static bool fabric_ready(const struct bench_figure *fig)
{
    int any = 0;
    for (size_t i = 0; i < ncases; i++)
        if (strcmp(cases[i]->figure, fig->name) == 0 && case_selected(cases[i]) &&
            !skip_reason[i] && (cases[i]->placements & BENCH_FABRIC))
            any = 1;
    if (!any)
        return false;
    if (fabnet_up() == 0)
        return true;
    printf("\n  skip: fabric placement: %.300s\n", fabnet.reason);
    fprintf(tsv, "%s\t\tfabric\t\t%s\t0\t\t\t\t\t\t\tSKIPPED: %.300s\n", fig->name, fig->unit,
            fabnet.reason);
    return false;
}

static void run_block(const struct bench_figure *fig, uint64_t param, size_t pidx,
                      unsigned placement)
{
    struct result res[MAX_CASES];
    size_t n = 0;
    for (size_t i = 0; i < ncases; i++) {
        const struct bench_case *c = cases[i];
        if (strcmp(c->figure, fig->name) != 0 || !case_selected(c) || skip_reason[i])
            continue;
        if (!(c->placements & placement) || !case_has_param(c, param))
            continue;
        if (placement == BENCH_CROSS && ncpu < 2)
            continue;
        if (placement == BENCH_SAME && c->same_core_skip)
            continue;
        memset(&res[n], 0, sizeof res[n]);
        res[n++].c = c;
    }
    if (n == 0)
        return;

    /* Interleave: every rep runs every case once, in the same order. */
    unsigned nreps = fig->max_reps && fig->max_reps < reps ? fig->max_reps : reps;
    /* every fabric run makes a connection through the registry (a second or so): three
       repetitions keep the placement within a minute */
    if (placement == BENCH_FABRIC && nreps > FABRIC_MAX_REPS)
        nreps = FABRIC_MAX_REPS;
    for (unsigned r = 0; r < nreps; r++) {
        for (size_t i = 0; i < n; i++) {
            double v = NAN, p = NAN;
            if (execute(fig, res[i].c, param, placement, &v, &p) == 0) {
                res[i].val[res[i].nval] = v;
                res[i].p99[res[i].nval] = p;
                res[i].csw[res[i].nval] = shared_run->csw_per_op;
                res[i].cpu[res[i].nval] = shared_run->cpu_per_op;
                res[i].flt[res[i].nval] = shared_run->flt_per_op;
                res[i].nval++;
                res[i].samples = shared_run->nsamples;
            } else {
                res[i].failed++;
                if (!res[i].err[0])
                    snprintf(res[i].err, sizeof res[i].err, "%s", shared_run->err);
            }
        }
    }

    for (size_t i = 0; i < n; i++) {
        struct result *x = &res[i];
        if (x->nval == 0)
            continue;
        double tmp[MAX_REPS];
        memcpy(tmp, x->val, x->nval * sizeof *tmp);
        qsort(tmp, x->nval, sizeof *tmp, cmp_dbl);
        x->min = tmp[0];
        x->max = tmp[x->nval - 1];
        x->median = median_dbl(tmp, x->nval);
        if (fig->kind == BENCH_LATENCY) {
            memcpy(tmp, x->p99, x->nval * sizeof *tmp);
            x->p99med = median_dbl(tmp, x->nval);
            memcpy(tmp, x->csw, x->nval * sizeof *tmp);
            x->cswmed = median_dbl(tmp, x->nval);
            memcpy(tmp, x->cpu, x->nval * sizeof *tmp);
            x->cpumed = median_dbl(tmp, x->nval);
            memcpy(tmp, x->flt, x->nval * sizeof *tmp);
            x->fltmed = median_dbl(tmp, x->nval);
        } else {
            x->p99med = x->cswmed = x->cpumed = x->fltmed = NAN;
        }
    }

    char pbuf[32];
    if (fig->only_param_zero)
        snprintf(pbuf, sizeof pbuf, "-");
    else
        snprintf(pbuf, sizeof pbuf, "%llu", (unsigned long long)param);
    if (fig->only_param_zero)
        printf("\n  %s\n", placement_label(placement));
    else
        printf("\n  %s=%s, %s\n", fig->param_name, pbuf, placement_label(placement));
    if (fig->kind == BENCH_LATENCY)
        printf("    %-22s %10s %-23s %10s %6s %6s   %s\n", "case", "p50", "[min-max over reps]",
               "p99", "cs/op", "pf/op", "p50 vs baseline");
    else
        printf("    %-22s %10s %-23s %10s   %s\n", "case", fig->unit, "[min-max over reps]", "",
               "vs baseline");
    for (size_t i = 0; i < n; i++) {
        struct result *x = &res[i];
        const struct bench_case *c = x->c;
        if (x->nval == 0) {
            printf("    %-22s FAILED (%u/%u runs): %s\n", c->name, x->failed, nreps, x->err);
            fprintf(tsv, "%s\t%s\t%s\t%s\t%s\t%u\t\t\t\t\t%s\t\tFAILED: %s\n", fig->name, pbuf,
                    placement_name(placement), c->name, fig->unit, 0u,
                    c->baseline ? c->baseline : "", x->err);
            continue;
        }
        double ratio = NAN;
        const char *bname = c->baseline;
        if (bname) {
            for (size_t k = 0; k < n; k++)
                if (strcmp(res[k].c->name, bname) == 0 && res[k].nval > 0)
                    ratio = x->median / res[k].median;
        }
        char med[32], mn[32], mx[32], p99[32], range[80], rat[96];
        fmt_num(med, sizeof med, x->median);
        fmt_num(mn, sizeof mn, x->min);
        fmt_num(mx, sizeof mx, x->max);
        fmt_num(p99, sizeof p99, x->p99med);
        snprintf(range, sizeof range, "[%s-%s]", mn, mx);
        if (!bname)
            snprintf(rat, sizeof rat, "(baseline)");
        else if (isnan(ratio))
            snprintf(rat, sizeof rat, "(no %s)", bname);
        else
            snprintf(rat, sizeof rat, "%.2fx %s", ratio, bname);
        char csw[32] = "", flt[32] = "";
        if (fig->kind == BENCH_LATENCY && !isnan(x->cswmed)) {
            snprintf(csw, sizeof csw, "%.2f", x->cswmed);
            snprintf(flt, sizeof flt, "%.2f", x->fltmed);
        }
        if (fig->kind == BENCH_LATENCY)
            printf("    %-22s %10s %-23s %10s %6s %6s   %s", c->name, med, range, p99, csw, flt,
                   rat);
        else
            printf("    %-22s %10s %-23s %10s   %s", c->name, med, range, "", rat);
        if (x->failed)
            printf("   (%u/%u runs failed: %s)", x->failed, nreps, x->err);
        printf("\n");
        fprintf(tsv, "%s\t%s\t%s\t%s\t%s\t%zu\t%.6g\t%.6g\t%.6g\t", fig->name, pbuf,
                placement_name(placement), c->name, fig->unit, x->nval, x->median, x->min, x->max);
        if (fig->kind == BENCH_LATENCY)
            fprintf(tsv, "%.6g", x->p99med);
        fprintf(tsv, "\t%s\t", bname ? bname : "");
        if (!isnan(ratio))
            fprintf(tsv, "%.4g", ratio);
        fprintf(tsv, "\t%s\t", x->failed ? "PARTIAL" : "ok");
        if (fig->kind == BENCH_LATENCY && !isnan(x->cswmed))
            fprintf(tsv, "%.3g\t%.4g\t%.3g", x->cswmed, x->cpumed / 1000.0, x->fltmed);
        else
            fprintf(tsv, "\t\t");
        fprintf(tsv, "\n");
        plot_put(placement, pidx, c->name, x->median);
        keep(fig->name, param, placement, c->name, x->median);
    }
    fflush(stdout);
    fflush(tsv);
}

static int rm_tree_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* The 1-minute load average: other work on the machine disturbs every figure. */
static double loadavg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [-o DIR] [-r REPS] [-t MS] [-w MS] [-f FIGURES] [-c CASES] [-p cross|same] "
            "[-s N]\n"
            "       [-D NAME=VALUE]... [-l]\n"
            "  -o DIR      write results.tsv and plot data there (default build/bench)\n"
            "  -r REPS     interleaved repetitions per case (default 5, max %d)\n"
            "  -t MS       measured time per run in ms (default 60)\n"
            "  -w MS       warm-up per run in ms, not measured (default: a sixth of -t)\n"
            "  -f LIST     only these figures (comma list)\n"
            "  -c LIST     only cases whose name contains one of these (comma list)\n"
            "  -p WHERE    only one placement: cross, same or fabric\n"
            "  -s N        only this size or batch\n"
            "  -D N=V      option for cases (e.g. idlc=PATH)\n"
            "  -l          list figures and cases\n",
            argv0, MAX_REPS);
}

int main(int argc, char **argv)
{
    int list = 0, opt;
    while ((opt = getopt(argc, argv, "o:r:t:w:f:c:p:s:D:lh")) != -1) {
        switch (opt) {
        case 'o':
            outdir = optarg;
            break;
        case 'r':
            reps = (unsigned)atoi(optarg);
            break;
        case 't':
            budget_ms = (uint64_t)atoll(optarg);
            break;
        case 'f':
            only_figures = optarg;
            break;
        case 'c':
            only_cases = optarg;
            break;
        case 'l':
            list = 1;
            break;
        case 's':
            only_param = atoll(optarg);
            break;
        case 'w':
            warmup_ms = atoll(optarg);
            break;
        case 'p':
            only_placements = strcmp(optarg, "cross") == 0    ? BENCH_CROSS
                              : strcmp(optarg, "same") == 0   ? BENCH_SAME
                              : strcmp(optarg, "fabric") == 0 ? BENCH_FABRIC
                                                              : 0;
            if (!only_placements) {
                usage(argv[0]);
                return 2;
            }
            break;
        case 'D': {
            char *eq = strchr(optarg, '=');
            if (!eq || nopts == MAX_OPTS) {
                usage(argv[0]);
                return 2;
            }
            *eq = '\0';
            opts[nopts].name = optarg;
            opts[nopts].value = eq + 1;
            nopts++;
            break;
        }
        default:
            usage(argv[0]);
            return 2;
        }
    }
    if (reps < 1 || reps > MAX_REPS || budget_ms < 1 || budget_ms > 10000 || warmup_ms > 10000) {
        usage(argv[0]);
        return 2;
    }
    if (list) {
        for (size_t f = 0; f < NFIGURES; f++) {
            printf("%s: %s\n", figures[f].name, figures[f].title);
            for (size_t i = 0; i < ncases; i++)
                if (strcmp(cases[i]->figure, figures[f].name) == 0)
                    printf("  %s%s%s\n", cases[i]->name, cases[i]->baseline ? "  vs " : "",
                           cases[i]->baseline ? cases[i]->baseline : "");
        }
        return 0;
    }

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (mkdir(outdir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "bench: mkdir %s: %s\n", outdir, strerror(errno));
        return 1;
    }
    const char *td = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/idc-bench-XXXXXX", td && *td ? td : "/tmp");
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "bench: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    shared_run = mmap(NULL, sizeof *shared_run, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                      -1, 0);
    shared_samples = mmap(NULL, sample_cap * sizeof *shared_samples, PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared_run == MAP_FAILED || shared_samples == MAP_FAILED) {
        fprintf(stderr, "bench: mmap: %s\n", strerror(errno));
        return 1;
    }
    /* SIGCHLD stays blocked in the harness so that execute() can wait with a deadline. */
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);

    cpu_set_t set;
    CPU_ZERO(&set);
    ncpu = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
    calibrate_ticks();

    char path[512];
    snprintf(path, sizeof path, "%s/results.tsv", outdir);
    tsv = fopen(path, "w");
    if (!tsv) {
        fprintf(stderr, "bench: %s: %s\n", path, strerror(errno));
        return 1;
    }
    fprintf(tsv, "figure\tparam\tplacement\tcase\tunit\treps\tmedian\tmin\tmax\tp99\tbaseline"
                 "\tratio\tstatus\tcsw_per_op\tcpu_us_per_op\tfaults_per_op\n");

    struct utsname u;
    uname(&u);
    if (warmup_ms >= 0)
        printf("idc bench: %u interleaved repetitions, %llu ms measured per run after %lld ms "
               "warm-up\n",
               reps, (unsigned long long)budget_ms, warmup_ms);
    else
        printf("idc bench: %u interleaved repetitions, %llu ms measured per run (+1/6 warm-up)\n",
               reps, (unsigned long long)budget_ms);
    printf("machine: %s %s, %d CPUs usable; timer: %s (%.3f ticks/ns), timer pair costs %.0f ns\n",
           u.sysname, u.release, ncpu, use_tsc ? "TSC" : "CLOCK_MONOTONIC", ticks_per_ns,
           timer_overhead_ns());
    printf("placements: cross-core = measuring process on CPU 0, peer on CPU 1; "
           "same-core = both on CPU 0\n");
    printf("each figure: median over repetitions [min-max]; ratio = median / the baseline's "
           "median in the same series\n");
    printf("latency tables: cs/op = context switches, pf/op = page faults, of both processes "
           "per operation\n");
    double load0 = loadavg();
    printf("load average before: %.2f%s\n", load0,
           load0 > 0.5 ? "  (WARNING: other work is running; absolute figures are disturbed, "
                         "ratios less so)"
                       : "");
    if (ncpu < 2)
        printf("skip: cross-core placement: only one CPU usable\n");

    for (size_t f = 0; f < NFIGURES; f++) {
        const struct bench_figure *fig = &figures[f];
        if (!figure_selected(fig))
            continue;
        int any = 0;
        for (size_t i = 0; i < ncases; i++)
            if (strcmp(cases[i]->figure, fig->name) == 0 && case_selected(cases[i]))
                any = 1;
        if (!any)
            continue;
        printf("\n== %s: %s (%s, %s)\n", fig->name, fig->title, fig->unit,
               fig->kind == BENCH_LATENCY ? "lower is better" : "higher is better");
        for (size_t i = 0; i < ncases; i++) {
            const struct bench_case *c = cases[i];
            if (strcmp(c->figure, fig->name) != 0 || !case_selected(c))
                continue;
            skip_reason[i] = c->available ? c->available() : NULL;
            if (skip_reason[i]) {
                printf("  skip: %s: %s\n", c->name, skip_reason[i]);
                fprintf(tsv, "%s\t\t\t%s\t%s\t0\t\t\t\t\t%s\t\tSKIPPED: %s\n", fig->name, c->name,
                        fig->unit, c->baseline ? c->baseline : "", skip_reason[i]);
            } else if (c->same_core_skip) {
                printf("  skip: %s, same-core: %s\n", c->name, c->same_core_skip);
            }
        }
        static const uint64_t zero[] = { 0, 0 };
        const uint64_t *params = fig->only_param_zero ? zero : fig->params;
        static const unsigned pls[] = { BENCH_CROSS, BENCH_SAME, BENCH_FABRIC };
        for (size_t pi = 0; pi < NPLACEMENTS; pi++) {
            if (!(only_placements & pls[pi]))
                continue;
            if (pls[pi] == BENCH_FABRIC && !fabric_ready(fig))
                continue;
            if (fig->only_param_zero) {
                run_block(fig, 0, 0, pls[pi]);
                continue;
            }
            for (size_t k = 0; params[k]; k++)
                if (only_param < 0 || (uint64_t)only_param == params[k])
                    run_block(fig, params[k], k, pls[pi]);
        }
        if (!fig->only_param_zero)
            plot_write(fig);
        for (size_t i = 0; i < ncases; i++)
            if (strcmp(cases[i]->figure, fig->name) == 0 && !skip_reason[i] &&
                case_selected(cases[i]) && cases[i]->cleanup)
                cases[i]->cleanup();
    }
    fabnet_down();
    fclose(tsv);
    check_targets();
    printf("\nload average after: %.2f\n", loadavg());
    /* Cases should clean up after themselves, but a killed peer leaves its socket behind. */
    nftw(tmpdir, rm_tree_entry, 16, FTW_DEPTH | FTW_PHYS);
    printf("\nresults: %s\n", path);
    return 0;
}
