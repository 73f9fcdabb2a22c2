/* Test-side helpers for the runtime suite: a temporary directory per test, peer processes
 * (spawn, signal, reap; every one is killed at the end of its test), log capture, dispatch
 * until a condition or a deadline, and an endpoint wrapper that records its lifecycle.
 */
#ifndef RTT_UTIL_H
#define RTT_UTIL_H

#include "runtime/rtt.h"

#include <criterion/criterion.h>
#include <stdbool.h>
#include <sys/types.h>

/* ------------------------------------------------------------------ fixture */
extern char rtt_dir[256]; /* this test's directory (also $IDC_SHM_DIR; $IDC_STATS_DIR is
                             its stats/) */
void rtt_setup(void);     /* .init of every test */
void rtt_teardown(void);  /* .fini: kill peers, remove the directory */
const char *rtt_path(const char *name);   /* rtt_dir/name, in a rotating static buffer */
const char *rtt_helper(const char *name); /* peer program path ($RTT_BIN_DIR or bin/ next to
                                             the test program); cr_skip if absent */
/* The address of service `name` for role: shm:NAME, or, with IDC_TEST_XEN=DOMID set (the
   runtime suite run over the xen transport on a real hypervisor), xen:NAME for a backend and
   xen:DOMID/NAME for a frontend; with IDC_TEST_FABRIC=1 (the suite over the fabric transport,
   tests/fabric), fabric:DIR.NAME where DIR is the test directory's name, so tests sharing one
   registry never see each other's services. Names with a transport prefix are used as given. */
void rtt_address(char *out, size_t size, enum idc_role role, const char *name);

/* ------------------------------------------------------------------ log capture */
struct rtt_log {
    char buf[1 << 16];
    size_t len;
    int count; /* number of log lines seen */
    int max_level_seen;
};
void rtt_log_cb(void *arg, int level, const char *msg);
bool rtt_log_has(const struct rtt_log *log, const char *needle); /* case-insensitive */
/* Lines at level <= max_level containing needle (case-sensitive). */
int rtt_log_count(const struct rtt_log *log, int max_level, const char *needle);

/* context on rtt_dir logging into *log (log may be NULL: stderr) */
struct idc_context *rtt_ctx(struct rtt_log *log);

/* ------------------------------------------------------------------ processes */
/* Spawn the peer program NAME with --dir rtt_dir --out rtt_path(out) and the extra
 * NULL-terminated arguments. The child dies with the test process (PDEATHSIG). */
pid_t rtt_spawn(const char *name, const char *out, ...) __attribute__((sentinel));
/* Stop a peer: signal it, then wait up to timeout_ms while dispatching ctx (may be NULL).
 * Returns the wait status, or -1 on timeout (the peer is then killed). */
int rtt_stop(pid_t pid, int sig, struct idc_context *ctx, int timeout_ms);
bool rtt_alive(pid_t pid);

/* ------------------------------------------------------------------ waiting */
/* Dispatch ctx (NULL: just sleep) until pred(arg) holds or timeout_ms passes. */
bool rtt_until(struct idc_context *ctx, bool (*pred)(void *), void *arg, int timeout_ms);
/* Dispatch for exactly ms milliseconds. */
void rtt_pump(struct idc_context *ctx, int ms);
/* Number of lines of event file `file` (relative to rtt_dir) starting with prefix. */
int rtt_file_count(const char *file, const char *prefix);
/* Wait until rtt_file_count(file, prefix) >= n, dispatching ctx meanwhile. */
bool rtt_wait_file(struct idc_context *ctx, const char *file, const char *prefix, int n,
                   int timeout_ms);
/* Last line starting with prefix, copied into buf; false if none. */
bool rtt_file_last(const char *file, const char *prefix, char *buf, size_t size);
/* Whole file into a static buffer (for assertion messages). */
const char *rtt_file_text(const char *file);
/* Value of key=NUMBER in a line, or -1. */
long long rtt_field(const char *line, const char *key);

/* ------------------------------------------------------------------ endpoint wrapper */
#define RTT_MAX_HELD 1024
struct rtt_ep {
    struct idc_endpoint ep;
    struct idc_context *ctx;
    bool backend;
    /* lifecycle record: A appear, C connect, D disconnect, X disappear, F destroy done */
    char ev[4096];
    size_t nev;
    int n_appear, n_connect, n_disconnect, n_disappear, n_writable, n_done;
    bool connected;
    bool defer_done;   /* don't call idc_endpoint_disconnect_done in the callback */
    bool pending_done; /* a deferred disconnect_done is owed */
    bool keep_held;    /* disconnect: move held requests to stale[] instead of completing */
    struct idc_request *stale[RTT_MAX_HELD];
    int n_stale;
    /* outstanding client transactions (maintained by rtt_txn); checked at disconnect */
    int outstanding;
    int outstanding_at_disconnect; /* max seen at a disconnect callback: must stay 0 */
    /* server side (default handlers implement the rtt opcodes like the echo peer) */
    struct idc_request *held[RTT_MAX_HELD];
    uint8_t held_data[RTT_MAX_HELD][64];
    size_t held_len[RTT_MAX_HELD];
    int n_held;
    int held_complete_rc_bad; /* completions of held requests with unexpected rc */
    uint64_t n_msgs, n_txns, n_pong;
    uint32_t hello_instance; /* last HELLO */
    int n_hello;
    /* optional hooks, called after the bookkeeping */
    void (*on_connect)(struct rtt_ep *);
    void (*on_disconnect)(struct rtt_ep *);
    void (*on_writable)(struct rtt_ep *);
    int (*on_message)(struct rtt_ep *, uint16_t, const void *, size_t);
    int (*on_txn)(struct rtt_ep *, struct idc_request *, uint16_t, const void *, size_t);
    void *arg;
};

struct rtt_ep_opts {
    const struct idc_protocol *proto; /* NULL: rtt_proto */
    unsigned max_txn, max_msg, max_frame, spin_us;
};
/* Create on address "shm:NAME" (NAME verbatim if it contains ':'; "=ADDR" is ADDR verbatim). */
void rtt_ep_create(struct rtt_ep *e, struct idc_context *ctx, enum idc_role role, const char *name,
                   const struct rtt_ep_opts *o);
/* Destroy and dispatch until done (true) or timeout. */
bool rtt_ep_destroy(struct rtt_ep *e, int timeout_ms);
/* Complete every held request with status 0 and its payload; returns how many. */
int rtt_ep_release(struct rtt_ep *e);
/* NULL if e->ev is a valid lifecycle sequence, else a description of the first violation. */
const char *rtt_lifecycle_error(const struct rtt_ep *e);
bool rtt_wait_connect(struct rtt_ep *e, int n, int timeout_ms);    /* n_connect >= n */
bool rtt_wait_disconnect(struct rtt_ep *e, int n, int timeout_ms); /* n_disconnect >= n */

/* ------------------------------------------------------------------ client transactions */
struct rtt_txn {
    struct idc_txn txn;
    struct rtt_ep *e;
    int calls; /* done calls: must end at exactly 1 per submit */
    int status;
    bool busy;
    uint8_t result[RTT_MAX_FRAME];
    size_t len;
    uint64_t gen, seq; /* free for the test */
    void (*on_done)(struct rtt_txn *);
};
/* Submit; on 0 the txn is busy until done. Returns the idc status. */
int rtt_submit(struct rtt_ep *e, struct rtt_txn *t, uint16_t op, const void *p, size_t len);
/* done calls for a transaction that was not outstanding (completed twice / never submitted) */
extern int rtt_spurious_done;
/* Dispatch until t's done ran (true) or timeout. */
bool rtt_wait_txn(struct idc_context *ctx, struct rtt_txn *t, int timeout_ms);

/* Dispatch ctx while cond holds, at most ms milliseconds (time-based, not per event). */
#define RTT_DISPATCH_WHILE(ctx, cond, ms)                  \
    do {                                                   \
        uint64_t rtt_end_ = rtt_now_ms() + (uint64_t)(ms); \
        while ((cond) && rtt_now_ms() < rtt_end_)          \
            idc_context_dispatch((ctx), 10);               \
    } while (0)

/* One test: its own directory, peers killed afterwards, bounded time (seconds). */
#define RTT_TEST(suite, name, secs) \
    Test(suite, name, .init = rtt_setup, .fini = rtt_teardown, .timeout = (secs))
#endif
