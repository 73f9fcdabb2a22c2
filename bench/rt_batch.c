/*
 * idc message rate through the runtime's batched publication. The rate case of idc_rt.c sends
 * from outside dispatch, where libidc publishes every frame and takes a notify decision per
 * send. Inside a callback the runtime instead collects the frames and publishes them with one
 * notify decision when dispatch ends; these cases measure that path.
 *
 *   rate  idc-msg-cb, idc-msg-cb-spin: 8-byte one-way messages between two processes.
 *         batch 1: idc_send_message outside dispatch (the reference point).
 *         batch 16: the producer sends 16 messages inside one callback; the consumer
 *         acknowledges every 16 messages with a message, and each acknowledgement (a callback
 *         on the producer) sends the next 16; 32 groups are kept in flight (quota 1024).
 *         A group that meets IDC_ERR_AGAIN is finished from the writable callback.
 *         -spin: both endpoints poll for the spin budget of the bare spin-then-block ring
 *         before sleeping.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <idc.h>

#include "harness.h"

#define ACK_EVERY        16u
#define GROUPS_IN_FLIGHT 32u
#define QUOTA            1024u

enum { OP_DATA = 1, OP_MARK = 2, OP_STOP = 3, OP_ACK = 4 };

static const uint64_t cb_hash[1] = { 0x6964632d636271ull };
static const struct idc_protocol cb_proto = {
    .name = "idc-bench-cb",
    .min_version = 1,
    .max_version = 1,
    .version_hash = cb_hash,
    .max_frame = 64,
};

/* Shared between the two processes of one run. */
struct cb_result {
    uint64_t t_start, t_end, count;
    uint32_t bad;
};

struct cb_setup {
    uint32_t spin_us;
    int ack;               /* consumer acknowledges every ACK_EVERY messages */
    char dir[200];         /* service directory of this run */
    struct cb_result *res; /* shared mapping */
    int ready[2];          /* backend -> frontend: "serving" */
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static int cb_context(struct idc_context **ctx, const char *dir)
{
    struct idc_context_options o = { .shm_dir = dir, .stats_dir = dir }; /* both go with the run */
    return idc_context_create(ctx, &o);
}

/* ------------------------------------------------------------------ consumer (backend peer) */

struct cb_backend {
    struct cb_setup *s;
    struct idc_context *ctx;
    uint64_t count, sum, since_ack;
    unsigned acks_owed; /* acknowledgements that met IDC_ERR_AGAIN: sent when writable */
    int counting;
};

static void be_send_acks(struct idc_endpoint *ep, struct cb_backend *b)
{
    while (b->acks_owed > 0) {
        int r = idc_send_message(ep, OP_ACK, NULL, 0);
        if (r == IDC_ERR_AGAIN)
            return; /* be_writable resumes */
        if (r != 0) {
            b->s->res->bad = 1;
            return;
        }
        b->acks_owed--;
    }
}

static void be_writable(struct idc_endpoint *ep)
{
    be_send_acks(ep, idc_endpoint_user(ep));
}

static void be_connect(struct idc_endpoint *ep)
{
    (void)ep;
}

static void be_disconnect(struct idc_endpoint *ep)
{
    struct cb_backend *b = idc_endpoint_user(ep);
    idc_endpoint_disconnect_done(ep);
    idc_context_stop(b->ctx); /* one connection per run */
}

static int be_message(struct idc_endpoint *ep, uint16_t op, const void *p, size_t len)
{
    struct cb_backend *b = idc_endpoint_user(ep);
    if (op == OP_DATA && len == 8) {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        b->sum += v;
        b->count++;
        if (b->s->ack && ++b->since_ack == ACK_EVERY) {
            b->since_ack = 0;
            b->acks_owed++;
            be_send_acks(ep, b);
        }
    } else if (op == OP_MARK) {
        b->count = 0;
        b->counting = 1;
        b->s->res->t_start = bench_now_ns();
    } else if (op == OP_STOP) {
        b->s->res->t_end = bench_now_ns();
        b->s->res->count = b->counting ? b->count : 0;
        bench_sink = b->sum;
    } else {
        b->s->res->bad = 2;
    }
    return 0;
}

static int any_transaction(struct idc_endpoint *ep, struct idc_request *req, uint16_t op,
                           const void *p, size_t len)
{
    (void)ep;
    (void)op;
    (void)p;
    (void)len;
    idc_request_complete(req, 1, NULL, 0); /* this protocol has no transactions */
    return 0;
}

static const struct idc_endpoint_ops be_ops = {
    .connect = be_connect,
    .disconnect = be_disconnect,
    .writable = be_writable,
    .handle_message = be_message,
    .handle_transaction = any_transaction,
};

static int backend_main(void *arg)
{
    struct cb_setup *s = arg;
    close(s->ready[0]);
    struct cb_backend b;
    memset(&b, 0, sizeof b);
    b.s = s;
    if (cb_context(&b.ctx, s->dir) != 0)
        return 1;
    struct idc_endpoint ep;
    struct idc_endpoint_config cfg = {
        .protocol = &cb_proto,
        .role = IDC_ROLE_BACKEND,
        .address = "shm:cb",
        .ops = &be_ops,
        .user = &b,
        .spin_us = s->spin_us,
        .max_messages = QUOTA,
    };
    idc_endpoint_create(&ep, b.ctx, &cfg);
    /* the first dispatch publishes the service */
    for (int i = 0; i < 50 && idc_endpoint_state(&ep) < IDC_EP_PRESENT; i++)
        idc_context_dispatch(b.ctx, 10);
    if (write(s->ready[1], "R", 1) != 1)
        return 1;
    close(s->ready[1]);
    idc_context_run(b.ctx);
    return s->res->bad ? 1 : 0; /* exiting releases everything */
}

/* ------------------------------------------------------------------ producer (frontend) */

static struct {
    struct idc_context *ctx;
    struct idc_endpoint ep;
    int connected, destroyed, sending, send_err;
    unsigned owed; /* messages of a group that met IDC_ERR_AGAIN: sent when writable */
    uint64_t v;
} fe;

static void fe_connect(struct idc_endpoint *ep)
{
    (void)ep;
    fe.connected = 1;
}

static void fe_disconnect(struct idc_endpoint *ep)
{
    fe.connected = 0;
    idc_endpoint_disconnect_done(ep);
}

static void send_owed(struct idc_endpoint *ep)
{
    while (fe.owed > 0 && !fe.send_err) {
        int r = idc_send_message(ep, OP_DATA, &fe.v, 8);
        if (r == IDC_ERR_AGAIN)
            return; /* the writable callback resumes */
        if (r != 0) {
            fe.send_err = r;
            return;
        }
        fe.v++;
        fe.owed--;
    }
}

static int fe_message(struct idc_endpoint *ep, uint16_t op, const void *p, size_t len)
{
    (void)p;
    (void)len;
    if (op != OP_ACK || !fe.sending)
        return 0;
    /* inside dispatch: the group is published with one notify decision */
    fe.owed += ACK_EVERY;
    send_owed(ep);
    return 0;
}

/* The consumer publishes freed credit once per batch it processed, so an acknowledgement can
   arrive before the credit of the messages it acknowledges: what does not fit now is sent from
   the writable callback. */
static void fe_writable(struct idc_endpoint *ep)
{
    if (fe.sending)
        send_owed(ep);
}

static const struct idc_endpoint_ops fe_ops = {
    .connect = fe_connect,
    .disconnect = fe_disconnect,
    .handle_message = fe_message,
    .writable = fe_writable,
    .handle_transaction = any_transaction,
};

static void fe_destroyed(struct idc_endpoint *ep)
{
    (void)ep;
    fe.destroyed = 1;
}

/* Send outside dispatch; on AGAIN dispatch (the writable condition) and retry. */
static int send_one(struct bench_run *run, uint16_t op, const void *p, size_t len)
{
    for (;;) {
        int r = idc_send_message(&fe.ep, op, p, len);
        if (r == 0)
            return 0;
        if (r != IDC_ERR_AGAIN)
            return bench_fail(run, "idc_send_message: %s", idc_strerror(r));
        r = idc_context_dispatch(fe.ctx, 100);
        if (r < 0)
            return bench_fail(run, "dispatch: %s", idc_strerror(r));
    }
}

static int cb_rate(struct bench_run *run, uint32_t spin)
{
    struct cb_setup s;
    memset(&s, 0, sizeof s);
    memset(&fe, 0, sizeof fe);
    s.spin_us = spin;
    s.ack = run->param > 1;
    snprintf(s.dir, sizeof s.dir, "%s/idc-cb-%d", run->tmpdir, (int)getpid());
    if (mkdir(s.dir, 0700) != 0 && errno != EEXIST)
        return bench_fail(run, "mkdir %s: %s", s.dir, strerror(errno));
    s.res = mmap(NULL, sizeof *s.res, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s.res == MAP_FAILED)
        return bench_fail(run, "mmap: %s", strerror(errno));
    if (pipe(s.ready) != 0)
        return bench_fail(run, "pipe: %s", strerror(errno));
    pid_t pid = bench_fork_peer(run, backend_main, &s);
    if (pid < 0)
        return -1;
    close(s.ready[1]);
    char c;
    int rc = read(s.ready[0], &c, 1) == 1 ? 0 : bench_fail(run, "idc backend failed to start");
    close(s.ready[0]);
    if (rc == 0 && cb_context(&fe.ctx, s.dir) != 0)
        rc = bench_fail(run, "idc_context_create failed");
    if (rc == 0) {
        struct idc_endpoint_config cfg = {
            .protocol = &cb_proto,
            .role = IDC_ROLE_FRONTEND,
            .address = "shm:cb",
            .ops = &fe_ops,
            .spin_us = spin,
            .max_messages = QUOTA,
        };
        idc_endpoint_create(&fe.ep, fe.ctx, &cfg);
        uint64_t end = bench_now_ns() + 5000000000u;
        while (!fe.connected && rc == 0) {
            idc_context_dispatch(fe.ctx, 10);
            if (bench_now_ns() > end)
                rc = bench_fail(run, "no connection to the idc backend");
        }
    }

    int marked = 0;
    uint64_t start = bench_now_ns();
    if (rc == 0 && run->param == 1) {
        for (uint64_t iter = 0; rc == 0; iter++) {
            if ((iter & 63) == 0) {
                uint64_t now = bench_now_ns();
                if (!marked && !bench_in_warmup(run, start, now)) {
                    rc = send_one(run, OP_MARK, NULL, 0);
                    marked = 1;
                    start = now;
                } else if (marked && now - start >= run->budget_ns) {
                    break;
                }
            }
            fe.v++;
            rc = send_one(run, OP_DATA, &fe.v, 8);
        }
    } else if (rc == 0) {
        /* prime the window outside dispatch, then the acknowledgements drive the sending */
        fe.sending = 1;
        for (unsigned k = 0; k < GROUPS_IN_FLIGHT * ACK_EVERY && rc == 0; k++) {
            fe.v++;
            rc = send_one(run, OP_DATA, &fe.v, 8);
        }
        while (rc == 0) {
            int r = idc_context_dispatch(fe.ctx, 100);
            if (r < 0)
                rc = bench_fail(run, "dispatch: %s", idc_strerror(r));
            else if (r == 0 && fe.owed > 0)
                rc = bench_fail(run,
                                "stalled: %u messages waited 100 ms for the writable "
                                "callback after IDC_ERR_AGAIN",
                                fe.owed);
            else if (r == 0)
                rc = bench_fail(run, "stalled: no acknowledgement for 100 ms (consumer status %u)",
                                s.res->bad);
            else if (fe.send_err)
                rc = bench_fail(run, "idc_send_message in a callback: %s",
                                idc_strerror(fe.send_err));
            else if (!fe.connected)
                rc = bench_fail(run, "connection lost");
            uint64_t now = bench_now_ns();
            if (rc == 0 && !marked && !bench_in_warmup(run, start, now)) {
                rc = send_one(run, OP_MARK, NULL, 0);
                marked = 1;
                start = now;
            } else if (marked && now - start >= run->budget_ns) {
                break;
            }
        }
        fe.sending = 0;
    }
    if (rc == 0)
        rc = send_one(run, OP_STOP, NULL, 0);
    uint64_t end = bench_now_ns() + 5000000000u;
    while (rc == 0 && s.res->t_end == 0) {
        idc_context_dispatch(fe.ctx, 1);
        if (bench_now_ns() > end)
            rc = bench_fail(run, "the consumer never saw the stop message");
    }
    if (rc == 0 && s.res->bad)
        rc = bench_fail(run, "the consumer saw a bad message or ran out of quota (%u)", s.res->bad);
    if (rc == 0 && s.res->t_end > s.res->t_start)
        run->value = (double)s.res->count / ((double)(s.res->t_end - s.res->t_start) / 1e3);

    /* tear down: destroying the frontend disconnects the backend, which then exits */
    if (fe.ctx) {
        idc_endpoint_destroy(&fe.ep, fe_destroyed);
        uint64_t e2 = bench_now_ns() + 2000000000u;
        while (!fe.destroyed && bench_now_ns() < e2)
            idc_context_dispatch(fe.ctx, 10);
        idc_context_destroy(fe.ctx);
    }
    int exited = 0, st = 0;
    for (int i = 0; i < 300 && !exited; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            exited = 1;
        } else {
            struct timespec d = { 0, 10 * 1000 * 1000 };
            nanosleep(&d, NULL);
        }
    }
    if (!exited) {
        bench_kill_peer(pid);
        if (rc == 0)
            rc = bench_fail(run, "idc backend did not exit after the disconnect");
    } else if (rc == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        rc = bench_fail(run, "idc backend failed");
    }
    nftw(s.dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    munmap(s.res, sizeof *s.res);
    return rc;
}

static int cb_rate_block(struct bench_run *run)
{
    return cb_rate(run, 0);
}
static int cb_rate_spin(struct bench_run *run)
{
    return cb_rate(run, bench_spin_us());
}

BENCH_CASE(case_idc_rate_cb, .figure = "rate", .name = "idc-msg-cb", .baseline = "ring-eventfd",
           .placements = BENCH_BOTH, .run = cb_rate_block)
BENCH_CASE(case_idc_rate_cb_spin, .figure = "rate", .name = "idc-msg-cb-spin",
           .baseline = "ring-spin", .placements = BENCH_BOTH, .run = cb_rate_spin)
