/*
 * idc benchmark harness.
 *
 * A benchmark binary is a set of named cases, each belonging to one figure (round-trip
 * latency, message rate, bulk bandwidth, connection set-up, ...). For every figure, every
 * parameter value (payload size or batch) and every CPU placement, the harness runs all the
 * cases of that figure interleaved (A B C A B C ...) for a number of repetitions, so that the
 * drift of this machine hits every case alike. It then reports for each case the median over
 * the repetitions with the [min-max] range, and the ratio of that median to the median of the
 * case's named baseline measured in the same interleaved series.
 *
 * Cases register themselves at load time with BENCH_CASE() (a constructor), so a new file in
 * bench/ adds cases without touching the harness.
 *
 * Process model: a case's run function is called in the measuring process, already pinned to
 * the placement's "self" CPU; it typically forks a peer with bench_fork_peer(), which pins the
 * child to the "peer" CPU (another core for the cross-core placement, the same core for the
 * same-core placement). A run either fills latency samples (bench_lat_*), from which the
 * harness takes p50 and p99, or sets run->value (a rate or bandwidth).
 */
#ifndef IDC_BENCH_HARNESS_H
#define IDC_BENCH_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* CPU placements a case can run in (bit mask). */
#define BENCH_CROSS 1u /* measuring side and peer pinned to two different cores */
#define BENCH_SAME  2u /* both pinned to the same core: every hand-off is a context switch */
#define BENCH_BOTH  (BENCH_CROSS | BENCH_SAME)
/* Two network namespaces joined by a veth pair through a bridge, a ZooKeeper server on it
   (bench/fabnet.sh makes them for the run): the measuring process in one, a forked peer in the
   other, on two cores as for BENCH_CROSS. Each side finds its own address and the peer's in
   bench_run; $IDC_FABRIC_ADDR, $IDC_NODE and $IDC_ZOOKEEPER are set for the idc runtime. */
#define BENCH_FABRIC 4u

/* One run (one repetition of one case at one parameter and placement). */
struct bench_run {
    uint64_t param;        /* payload size in bytes, or batch size (figure-specific) */
    int cpu_self;          /* CPU the measuring process is pinned to */
    int cpu_peer;          /* CPU a forked peer must pin itself to */
    unsigned placement;    /* BENCH_CROSS, BENCH_SAME or BENCH_FABRIC */
    uint64_t budget_ns;    /* how long the measured part should last */
    uint64_t warmup_ns;    /* how long to run before recording */
    const char *tmpdir;    /* private scratch directory for sockets etc. (exists) */
    const char *self_host; /* BENCH_FABRIC: this side's address in its namespace, else NULL */
    const char *peer_host; /* BENCH_FABRIC: the forked peer's address, else NULL */

    /* latency: samples in ticks (bench_ticks), filled through bench_lat_record */
    uint64_t *samples;
    size_t nsamples;
    size_t cap;
    uint64_t lat_t0;   /* set by bench_lat_start */
    uint64_t ops;      /* operations recorded or warmed up (bench_lat_record*) */
    double csw_per_op; /* context switches of both processes per operation (harness) */
    double cpu_per_op; /* CPU ns (user + system, both processes) per operation (harness) */
    double flt_per_op; /* minor page faults of both processes per operation (harness) */
    /* rate/bandwidth: the figure's unit (see struct bench_figure) */
    double value;
    /* failure reason (set with bench_fail) */
    char err[160];
};

enum bench_kind {
    BENCH_LATENCY, /* samples; reports p50 (median over reps) and p99; lower is better */
    BENCH_VALUE,   /* run->value; higher is better (rates, bandwidth) */
};

struct bench_figure {
    const char *name;  /* short id: "rtt", "rate", "bulk", ... */
    const char *title; /* one-line description for the table */
    enum bench_kind kind;
    const char *unit;       /* "us", "Mmsg/s", "GB/s" */
    double scale;           /* latency: ns per unit (1000 for us); value: unused */
    const char *param_name; /* "bytes", "batch", "-" */
    const uint64_t *params; /* zero-terminated unless only_param_zero */
    int only_param_zero;    /* a single run with param 0 */
    double budget_scale;    /* multiplies the per-run budget (1 if 0) */
    unsigned max_reps;      /* caps the repetitions (slow figures); 0: no cap */
};

struct bench_case {
    const char *figure;   /* figure name */
    const char *name;     /* case name, unique within the figure */
    const char *baseline; /* case name in the same figure to compute the ratio against, or NULL */
    unsigned placements;
    /* Which params the case runs at: NULL = all of the figure's params. Zero-terminated. */
    const uint64_t *params;
    /* NULL, or returns NULL when the case can run, else a reason printed as a skip line.
       Called once, before any run. */
    const char *(*available)(void);
    /* Same-core placement is skipped with this reason when non-NULL (e.g. pure spinning). */
    const char *same_core_skip;
    /* Returns 0, or -1 after bench_fail(). */
    int (*run)(struct bench_run *run);
    /* Called once after all runs (e.g. to stop a daemon the case started). May be NULL. */
    void (*cleanup)(void);
};

void bench_register(const struct bench_case *c);
#define BENCH_CASE(var, ...)                                      \
    static const struct bench_case var = { __VA_ARGS__ };         \
    __attribute__((constructor)) static void var##_register(void) \
    {                                                             \
        bench_register(&var);                                     \
    }

/* ---- services for cases ---- */

/* Monotonic nanoseconds (system-wide: comparable between processes). */
uint64_t bench_now_ns(void);
/* Fast per-CPU tick counter for latency samples (TSC where invariant, else ns). */
uint64_t bench_ticks(void);
double bench_ticks_per_ns(void);

/* Pin the calling thread/process to one CPU. 0 or -1 (errno set). */
int bench_pin(int cpu);

/* Fork a peer pinned to run->cpu_peer that runs fn(arg) and exits with its return value
   (0 = success). Returns the pid, or -1 after bench_fail(). */
pid_t bench_fork_peer(struct bench_run *run, int (*fn)(void *arg), void *arg);
/* Wait for a peer; returns 0 if it exited with status 0, else -1 after bench_fail(). */
int bench_wait_peer(struct bench_run *run, pid_t pid);
/* Kill (SIGKILL) and reap a peer; used on error paths. */
void bench_kill_peer(pid_t pid);

/* Latency recording: call bench_lat_start() before the loop, then for every operation
   bench_lat_record(run, t0, t1) with bench_ticks() around it; it returns 0 when the loop must
   stop (budget used or sample buffer full). Samples during warm-up are dropped. */
void bench_lat_start(struct bench_run *run);
int bench_lat_record(struct bench_run *run, uint64_t t0, uint64_t t1);
/* For loops that time a whole batch of ops: records one sample of (t1-t0)/n per op. */
int bench_lat_record_n(struct bench_run *run, uint64_t t0, uint64_t t1, uint64_t n);

/* For value loops: 1 while the warm-up is running, measured from start_ns. */
int bench_in_warmup(const struct bench_run *run, uint64_t start_ns, uint64_t now_ns);

/* Record a failure reason (printf-style); returns -1 for convenience. */
int bench_fail(struct bench_run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Read/write exactly len bytes (restarting on EINTR / short transfers). 0 or -1. */
int bench_read_full(int fd, void *buf, size_t len);
int bench_write_full(int fd, const void *buf, size_t len);

/* Spin-wait hint. */
static inline void bench_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

/* Anti-optimisation sink. */
extern volatile uint64_t bench_sink;

/* Path of a file next to the bench binary's build tree (set from the command line), or NULL. */
const char *bench_option(const char *name);

/* The spin budget of every spin-then-block case, bare rings and idc alike, in microseconds:
   -D spin_us=N, 50 by default. */
uint32_t bench_spin_us(void);

#endif /* IDC_BENCH_HARNESS_H */
