/* idc runtime cases for the benchmark harness: the libidc shm transport measured against the
 * bare baselines of the same figures (bare SPSC ring + eventfd, UNIX SEQPACKET, memcpy).
 *
 *   rtt      idc-txn        transaction round trip (submit .. done) through a backend process
 *                           that echoes the payload; both sides block in dispatch
 *            idc-txn-spin   the same with spin_us = the spin budget (bench_spin_us) on both
 *            idc-txn-fab, idc-txn-fab-spin   both over fabric: (the fabric placement)
 *   rate     idc-msg        one-way messages of 8 bytes; B messages sent (corked) per dispatch round
 *                           (the notify decision is taken once per round)
 *   bulk     idc-rbuf       idc_send_to_remote_buffer of N bytes into memory the receiver
 *                           registered (owner = the receiving process); one transfer at a time
 *            idc-rbuf-fab, idc-rbuf-fab-spin   the same over fabric, blocking and spinning
 *   connect  idc-connect    idc_endpoint_create .. connect callback, backend already serving
 *   recover  idc-kill9      kill -9 of the backend .. disconnect callback in the frontend
 *
 * Every case forks its peer with bench_fork_peer; the peer makes its own context after the
 * fork (a context belongs to one thread of one process). Service sockets live in the run's
 * private tmpdir (idc_context_options.shm_dir). */
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <idc.h>

enum { OP_ECHO = 1, OP_DATA = 2, OP_MARK = 3, OP_STOP = 4, OP_RBUF = 5 };

static const uint64_t bench_hash[] = { 0x6964632d62656e63ull };
static const struct idc_protocol bench_proto = { "idc-bench", 1, 1, bench_hash, 4096 };

/* ------------------------------------------------------------------ common plumbing */
struct side {
    struct idc_endpoint ep;
    struct idc_context *ctx;
    bool connected, gone, destroyed, failed;
    /* frontend transaction */
    struct idc_txn txn;
    bool txn_done;
    int txn_status;
    size_t txn_len;
    /* message receiver */
    uint64_t count, sum;
    bool counting, stopped;
    uint64_t t_start, t_end;
    /* bulk */
    struct idc_rbuf rb;
    bool have_rb;
    void *mem;
    size_t len;
    /* writable */
    bool writable;
};

static void s_connect(struct idc_endpoint *ep)
{
    ((struct side *)idc_endpoint_user(ep))->connected = true;
}
static void s_disconnect(struct idc_endpoint *ep)
{
    struct side *s = idc_endpoint_user(ep);
    s->connected = false;
    s->gone = true;
    idc_endpoint_disconnect_done(ep);
}
static void s_writable(struct idc_endpoint *ep)
{
    ((struct side *)idc_endpoint_user(ep))->writable = true;
}

static int s_message(struct idc_endpoint *ep, uint16_t op, const void *p, size_t len)
{
    struct side *s = idc_endpoint_user(ep);
    switch (op) {
    case OP_DATA:
        if (len == 8) {
            uint64_t v;
            memcpy(&v, p, 8);
            s->sum += v;
        }
        s->count++;
        return 0;
    case OP_MARK:
        s->count = 0;
        s->counting = true;
        s->t_start = bench_now_ns();
        return 0;
    case OP_STOP:
        s->t_end = bench_now_ns();
        s->stopped = true;
        return 0;
    case OP_RBUF:
        if (len != IDC_RBUF_WIRE_SIZE || idc_rbuf_decode(&s->rb, p) != 0)
            return IDC_ERR_PROTO;
        s->have_rb = true;
        return 0;
    default:
        return IDC_ERR_PROTO;
    }
}

static int s_txn(struct idc_endpoint *ep, struct idc_request *req, uint16_t op, const void *p,
                 size_t len)
{
    (void)ep;
    if (op != OP_ECHO) {
        idc_request_complete(req, 1, NULL, 0);
        return 0;
    }
    idc_request_complete(req, 0, p, len);
    return 0;
}

static const struct idc_endpoint_ops side_ops = {
    .connect = s_connect,
    .disconnect = s_disconnect,
    .writable = s_writable,
    .handle_message = s_message,
    .handle_transaction = s_txn,
};

static void s_destroyed(struct idc_endpoint *ep)
{
    ((struct side *)(void *)ep)->destroyed = true;
}

struct peer_arg {
    const char *dir;
    char name[64];
    uint32_t spin_us;
    size_t bulk_len; /* > 0: register a buffer of this size and send its reference */
    int ready_fd;    /* written once the backend serves (connect/recover cases) */
};

/* The rate case gets the bare ring's window (RATE_SLOTS in base_ring.c: 1024 messages in
   flight) and frames sized for its 8-byte messages, as a protocol of small messages would
   configure it; the ring then holds 1024 + 2 x 64 frames of 64 bytes (128 KiB) instead of
   rings sized for 4 KiB frames that would not fit in the cache. */
#define RATE_WINDOW 1024u
#define RATE_FRAME  64u

/* The run's transport: "fabric" in the fabric placement (set by use_placement before the peer is
   forked, so both sides see it), else NULL (shm, or $IDC_BENCH_TRANSPORT). */
static const char *run_transport;

static void use_placement(const struct bench_run *run)
{
    run_transport = run->placement == BENCH_FABRIC ? "fabric" : NULL;
}

static int side_start_cfg(struct side *s, const char *dir, enum idc_role role, const char *name,
                          uint32_t spin_us, uint32_t max_frame, uint32_t max_messages)
{
    memset(s, 0, sizeof *s);
    struct idc_context_options o = { .shm_dir = dir, .stats_dir = dir }; /* both go with the run */
    if (idc_context_create(&s->ctx, &o) != 0)
        return -1;
    char addr[96];
    /* IDC_BENCH_TRANSPORT=fabric (with $IDC_ZOOKEEPER) runs the same cases over the fabric
       transport, both processes on this host (loopback); the fabric placement always does. */
    const char *tp = run_transport ? run_transport : getenv("IDC_BENCH_TRANSPORT");
    snprintf(addr, sizeof addr, "%s:%s", tp && *tp ? tp : "shm", name);
    struct idc_endpoint_config cfg = {
        .protocol = &bench_proto,
        .role = role,
        .address = addr,
        .ops = &side_ops,
        .user = s,
        .spin_us = spin_us,
        .max_transactions = 64,
        .max_messages = max_messages,
        .max_frame = max_frame,
    };
    idc_endpoint_create(&s->ep, s->ctx, &cfg);
    return 0;
}

static int side_start(struct side *s, const char *dir, enum idc_role role, const char *name,
                      uint32_t spin_us)
{
    return side_start_cfg(s, dir, role, name, spin_us, 0, 256);
}

static void side_stop(struct side *s)
{
    idc_endpoint_destroy(&s->ep, s_destroyed);
    uint64_t end = bench_now_ns() + 2000000000ull;
    while (!s->destroyed && bench_now_ns() < end)
        idc_context_dispatch(s->ctx, 10);
    if (s->mem)
        idc_buffer_free(s->ctx, s->mem);
    idc_context_destroy(s->ctx);
}

static bool wait_for(struct side *s, bool *flag, uint64_t ms)
{
    uint64_t end = bench_now_ns() + ms * 1000000ull;
    while (!*flag && bench_now_ns() < end)
        idc_context_dispatch(s->ctx, 10);
    return *flag;
}

/* The backend process: serve until the frontend goes away (or forever for recover). */
static int backend_peer(void *arg)
{
    struct peer_arg *a = arg;
    static struct side s;
    if (side_start(&s, a->dir, IDC_ROLE_BACKEND, a->name, a->spin_us) != 0)
        return 1;
    if (a->ready_fd >= 0) {
        /* published once the first dispatch ran ep_start */
        idc_context_dispatch(s.ctx, 0);
        if (write(a->ready_fd, "R", 1) != 1)
            return 1;
    }
    bool sent_rb = false;
    for (;;) {
        if (idc_context_dispatch(s.ctx, 1000) < 0)
            return 1;
        if (a->bulk_len && s.connected && !sent_rb) {
            if (idc_buffer_alloc(s.ctx, a->bulk_len, &s.mem) != 0 ||
                idc_buffer_register(s.ctx, s.mem, a->bulk_len, IDC_RBUF_WRITE, &s.rb) != 0)
                return 1;
            uint8_t w[IDC_RBUF_WIRE_SIZE];
            idc_rbuf_encode(&s.rb, w);
            if (idc_send_message(&s.ep, OP_RBUF, w, sizeof w) != 0)
                return 1;
            sent_rb = true;
        }
        /* a backend started for connect/recover serves one frontend after the other */
        if (s.gone && a->ready_fd < 0)
            break;
        s.gone = false;
    }
    side_stop(&s);
    return 0;
}

/* a fresh service name per run (runs reuse the tmpdir) */
static void name_for(char *buf, size_t size, const char *what)
{
    static unsigned n;
    snprintf(buf, size, "%s-%d-%u", what, (int)getpid(), ++n);
}

/* ------------------------------------------------------------------ rtt */
static void txn_done(struct idc_txn *t, int status, const void *res, size_t len)
{
    struct side *s = t->user;
    (void)res;
    s->txn_done = true;
    s->txn_status = status;
    s->txn_len = len;
}

static int rtt_run(struct bench_run *run, uint32_t spin_us)
{
    struct peer_arg a = { run->tmpdir, "", spin_us, 0, -1 };
    use_placement(run);
    name_for(a.name, sizeof a.name, "rtt");
    pid_t pid = bench_fork_peer(run, backend_peer, &a);
    if (pid < 0)
        return -1;
    static struct side s;
    if (side_start(&s, run->tmpdir, IDC_ROLE_FRONTEND, a.name, spin_us) != 0) {
        bench_kill_peer(pid);
        return bench_fail(run, "idc_context_create failed");
    }
    if (!wait_for(&s, &s.connected, 5000)) {
        bench_kill_peer(pid);
        side_stop(&s);
        return bench_fail(run, "no connection to the idc backend");
    }
    size_t n = run->param;
    unsigned char *msg = malloc(n ? n : 1);
    memset(msg, 0x5a, n);
    int rc = 0;
    s.txn.done = txn_done;
    s.txn.user = &s;
    bench_lat_start(run);
    for (;;) {
        uint64_t t0 = bench_ticks();
        s.txn_done = false;
        int r = idc_submit_transaction(&s.ep, &s.txn, OP_ECHO, msg, n);
        if (r != 0) {
            rc = bench_fail(run, "submit: %s", idc_strerror(r));
            break;
        }
        while (!s.txn_done)
            if (idc_context_dispatch(s.ctx, -1) < 0)
                break;
        uint64_t t1 = bench_ticks();
        if (s.txn_status != 0 || s.txn_len != n) {
            rc = bench_fail(run, "transaction: status %d, %zu bytes", s.txn_status, s.txn_len);
            break;
        }
        if (!bench_lat_record(run, t0, t1))
            break;
    }
    free(msg);
    side_stop(&s);
    if (rc == 0)
        rc = bench_wait_peer(run, pid);
    else
        bench_kill_peer(pid);
    return rc;
}

static int idc_rtt_block(struct bench_run *run)
{
    return rtt_run(run, 0);
}
static int idc_rtt_spin(struct bench_run *run)
{
    return rtt_run(run, bench_spin_us());
}

static const uint64_t rtt_params[] = { 8, 64, 256, 1024, 4096, 0 };
BENCH_CASE(case_idc_rtt, .figure = "rtt", .name = "idc-txn", .baseline = "ring-eventfd",
           .placements = BENCH_BOTH, .params = rtt_params, .run = idc_rtt_block)
/* the fabric placement: the same transaction between two network namespaces */
static const uint64_t fab_rtt_params[] = { 64, 1024, 0 };
BENCH_CASE(case_idc_rtt_fab, .figure = "rtt", .name = "idc-txn-fab", .baseline = "fi-msg",
           .placements = BENCH_FABRIC, .params = fab_rtt_params, .run = idc_rtt_block)
BENCH_CASE(case_idc_rtt_fab_spin, .figure = "rtt", .name = "idc-txn-fab-spin", .baseline = "fi-msg",
           .placements = BENCH_FABRIC, .params = fab_rtt_params, .run = idc_rtt_spin)
BENCH_CASE(case_idc_rtt_spin, .figure = "rtt", .name = "idc-txn-spin", .baseline = "ring-spin",
           .placements = BENCH_CROSS, .params = rtt_params, .run = idc_rtt_spin,
           .same_core_skip = "spinning on one core only burns the peer's time slice")

/* ------------------------------------------------------------------ rate */
struct rate_res {
    uint64_t t_start, t_end, count;
    int ok;
};

struct rate_arg {
    struct peer_arg a;
    struct rate_res *res;
};

static int rate_peer(void *arg)
{
    struct rate_arg *ra = arg;
    static struct side s;
    if (side_start_cfg(&s, ra->a.dir, IDC_ROLE_BACKEND, ra->a.name, 0, RATE_FRAME, RATE_WINDOW) !=
        0)
        return 1;
    while (!s.stopped && !s.gone)
        if (idc_context_dispatch(s.ctx, 1000) < 0)
            return 1;
    ra->res->t_start = s.t_start;
    ra->res->t_end = s.t_end;
    ra->res->count = s.counting ? s.count : 0;
    ra->res->ok = s.stopped;
    bench_sink = s.sum;
    while (!s.gone)
        if (idc_context_dispatch(s.ctx, 1000) < 0)
            break;
    side_stop(&s);
    return 0;
}

/* send one message, waiting for credit when needed */
static int send_one(struct side *s, uint16_t op, const void *p, size_t len)
{
    for (;;) {
        int r = idc_send_message(&s->ep, op, p, len);
        if (r != IDC_ERR_AGAIN)
            return r;
        s->writable = false;
        while (!s->writable && s->connected)
            if (idc_context_dispatch(s->ctx, -1) < 0)
                return IDC_ERR_IO;
    }
}

static int idc_rate(struct bench_run *run)
{
    struct rate_res *res = mmap(NULL, sizeof *res, PROT_READ | PROT_WRITE,
                                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (res == MAP_FAILED)
        return bench_fail(run, "mmap: %s", strerror(errno));
    memset(res, 0, sizeof *res);
    struct rate_arg ra = { { run->tmpdir, "", 0, 0, -1 }, res };
    use_placement(run);
    name_for(ra.a.name, sizeof ra.a.name, "rate");
    pid_t pid = bench_fork_peer(run, rate_peer, &ra);
    if (pid < 0) {
        munmap(res, sizeof *res);
        return -1;
    }
    static struct side s;
    int rc = 0;
    if (side_start_cfg(&s, run->tmpdir, IDC_ROLE_FRONTEND, ra.a.name, 0, RATE_FRAME, RATE_WINDOW) !=
            0 ||
        !wait_for(&s, &s.connected, 5000)) {
        rc = bench_fail(run, "no connection to the idc backend");
        goto out;
    }
    unsigned batch = (unsigned)run->param;
    uint64_t start = bench_now_ns(), v = 0;
    bool marked = false;
    for (;;) {
        uint64_t now = bench_now_ns();
        if (!marked && !bench_in_warmup(run, start, now)) {
            if ((rc = send_one(&s, OP_MARK, NULL, 0)) != 0)
                break;
            marked = true;
            start = now;
        } else if (marked && now - start >= run->budget_ns) {
            break;
        }
        /* sends outside dispatch: cork so the batch gets one notify decision, at the flush */
        idc_endpoint_cork(&s.ep);
        for (unsigned i = 0; i < batch; i++) {
            v++;
            if ((rc = send_one(&s, OP_DATA, &v, 8)) != 0)
                break;
        }
        idc_endpoint_flush(&s.ep);
        if (rc)
            break;
        idc_context_dispatch(s.ctx, 0); /* credits back, callbacks */
    }
    if (rc == 0)
        rc = send_one(&s, OP_STOP, NULL, 0);
    if (rc != 0) {
        rc = bench_fail(run, "send: %s", idc_strerror(rc));
        goto out;
    }
    idc_context_dispatch(s.ctx, 0);
out:
    side_stop(&s);
    if (rc == 0)
        rc = bench_wait_peer(run, pid);
    else
        bench_kill_peer(pid);
    if (rc == 0 && (!res->ok || res->t_end <= res->t_start))
        rc = bench_fail(run, "receiver saw no complete series");
    if (rc == 0)
        run->value = (double)res->count / ((double)(res->t_end - res->t_start) / 1e3);
    munmap(res, sizeof *res);
    return rc;
}

BENCH_CASE(case_idc_rate, .figure = "rate", .name = "idc-msg", .baseline = "ring-eventfd",
           .placements = BENCH_BOTH, .run = idc_rate)
static const uint64_t fab_rate_params[] = { 16, 0 };
BENCH_CASE(case_idc_rate_fab, .figure = "rate", .name = "idc-msg-fab", .baseline = "fi-msg",
           .placements = BENCH_FABRIC, .params = fab_rate_params, .run = idc_rate)

/* ------------------------------------------------------------------ bulk */
static void xfer_done(void *arg, int status)
{
    int *st = arg;
    *st = status;
}

static int bulk_run(struct bench_run *run, uint32_t spin_us)
{
    struct peer_arg a = { run->tmpdir, "", spin_us, run->param, -1 };
    use_placement(run);
    name_for(a.name, sizeof a.name, "bulk");
    pid_t pid = bench_fork_peer(run, backend_peer, &a);
    if (pid < 0)
        return -1;
    static struct side s;
    int rc = 0;
    unsigned char *src = NULL;
    if (side_start(&s, run->tmpdir, IDC_ROLE_FRONTEND, a.name, spin_us) != 0 ||
        !wait_for(&s, &s.have_rb, 5000)) {
        rc = bench_fail(run, "no buffer reference from the idc backend");
        goto out;
    }
    src = mmap(NULL, run->param, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (src == MAP_FAILED) {
        src = NULL;
        rc = bench_fail(run, "mmap: %s", strerror(errno));
        goto out;
    }
    memset(src, 0xa5, run->param);
    /* A fabric figure only when fabric carries it: an owner id without a fabric locator (bit 63)
       is reached through shm, which works between network namespaces of one host too. */
    if (run_transport && !(s.rb.owner >> 63)) {
        rc = bench_fail(run, "the owner id has no fabric locator: shm would carry the transfer");
        goto out;
    }
    uint64_t start = bench_now_ns(), t0 = 0, bytes = 0;
    bool measuring = false;
    for (;;) {
        int st = 1;
        int r = idc_send_to_remote_buffer(s.ctx, &s.rb, 0, src, run->param, xfer_done, &st);
        if (r != 0) {
            rc = bench_fail(run, "send_to_remote_buffer: %s", idc_strerror(r));
            break;
        }
        while (st == 1)
            if (idc_context_dispatch(s.ctx, -1) < 0)
                break;
        if (st != 0) {
            rc = bench_fail(run, "transfer: %s", idc_strerror(st));
            break;
        }
        uint64_t now = bench_now_ns();
        if (!measuring) {
            if (!bench_in_warmup(run, start, now)) {
                measuring = true;
                t0 = now;
            }
            continue;
        }
        bytes += run->param;
        if (now - t0 >= run->budget_ns) {
            run->value = (double)bytes / (double)(now - t0);
            break;
        }
    }
out:
    if (src)
        munmap(src, run->param);
    side_stop(&s);
    if (rc == 0)
        rc = bench_wait_peer(run, pid);
    else
        bench_kill_peer(pid);
    return rc;
}

static int idc_bulk(struct bench_run *run)
{
    return bulk_run(run, 0);
}
static int idc_bulk_spin(struct bench_run *run)
{
    return bulk_run(run, bench_spin_us());
}

BENCH_CASE(case_idc_bulk, .figure = "bulk", .name = "idc-rbuf", .baseline = "memcpy",
           .placements = BENCH_BOTH, .run = idc_bulk)
static const uint64_t fab_bulk_params[] = { 1048576, 16777216, 0 };
BENCH_CASE(case_idc_bulk_fab, .figure = "bulk", .name = "idc-rbuf-fab", .baseline = "fi-read",
           .placements = BENCH_FABRIC, .params = fab_bulk_params, .run = idc_bulk)
/* the spin budget on both sides: the holder and the owner poll their completion queues as the
   bare fi_read's two processes do (the transfer's three hops then wake no sleeping process) */
BENCH_CASE(case_idc_bulk_fab_spin, .figure = "bulk", .name = "idc-rbuf-fab-spin",
           .baseline = "fi-read", .placements = BENCH_FABRIC, .params = fab_bulk_params,
           .run = idc_bulk_spin)

/* ------------------------------------------------------------------ connect, recover */
static pid_t serving_peer(struct bench_run *run, struct peer_arg *a, const char *what)
{
    int p[2];
    if (pipe(p) != 0)
        return bench_fail(run, "pipe: %s", strerror(errno));
    a->dir = run->tmpdir;
    a->ready_fd = p[1];
    name_for(a->name, sizeof a->name, what);
    pid_t pid = bench_fork_peer(run, backend_peer, a);
    close(p[1]);
    char b;
    if (pid >= 0 && read(p[0], &b, 1) != 1) {
        bench_kill_peer(pid);
        pid = bench_fail(run, "backend did not start");
    }
    close(p[0]);
    return pid;
}

static int idc_connect(struct bench_run *run)
{
    struct peer_arg a = { 0 };
    pid_t pid = serving_peer(run, &a, "conn");
    if (pid < 0)
        return -1;
    int rc = 0;
    bench_lat_start(run);
    for (;;) {
        static struct side s;
        uint64_t t0 = bench_ticks();
        if (side_start(&s, run->tmpdir, IDC_ROLE_FRONTEND, a.name, 0) != 0) {
            rc = bench_fail(run, "idc_context_create failed");
            break;
        }
        uint64_t end = bench_now_ns() + 5000000000ull;
        while (!s.connected && bench_now_ns() < end)
            if (idc_context_dispatch(s.ctx, 1000) < 0)
                break;
        uint64_t t1 = bench_ticks();
        bool ok = s.connected;
        side_stop(&s);
        if (!ok) {
            rc = bench_fail(run, "no connection to the idc backend");
            break;
        }
        if (!bench_lat_record(run, t0, t1))
            break;
    }
    bench_kill_peer(pid);
    return rc;
}

BENCH_CASE(case_idc_connect, .figure = "connect", .name = "idc-connect", .baseline = "unix-connect",
           .placements = BENCH_BOTH, .run = idc_connect)

static int idc_recover(struct bench_run *run)
{
    int rc = 0;
    bench_lat_start(run);
    for (;;) {
        struct peer_arg a = { 0 };
        pid_t pid = serving_peer(run, &a, "kill");
        if (pid < 0)
            return -1;
        static struct side s;
        if (side_start(&s, run->tmpdir, IDC_ROLE_FRONTEND, a.name, 0) != 0 ||
            !wait_for(&s, &s.connected, 5000)) {
            bench_kill_peer(pid);
            rc = bench_fail(run, "no connection to the idc backend");
            break;
        }
        uint64_t t0 = bench_ticks();
        kill(pid, SIGKILL);
        while (!s.gone)
            if (idc_context_dispatch(s.ctx, 5000) < 0)
                break;
        uint64_t t1 = bench_ticks();
        waitpid(pid, NULL, 0);
        side_stop(&s);
        if (!bench_lat_record(run, t0, t1))
            break;
    }
    return rc;
}

BENCH_CASE(case_idc_recover, .figure = "recover", .name = "idc-kill9", .baseline = "unix-hup",
           .placements = BENCH_BOTH, .run = idc_recover)
