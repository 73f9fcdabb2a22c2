/*
 * kbackfe: the user-space frontend of the kernel backend's check (tests/xen/kbackxen.sh), run by
 * dom0 while the domU loads idc.ko and the backend module tests/xen/kback/kback_test.c, which
 * serves xen:kback?allow=0 with the protocol of kback_proto.h. libidc's xen transport, as any
 * frontend in dom0 would use it.
 *
 *   kbackfe list          the checks it reports
 *   kbackfe run DOMU      the checks below, in order (a failure ends the run)
 *
 * Checks (suite kback_dom0_domu):
 *   connect               xen:DOMU/kback connects within 90 s (the domU loads the modules);
 *                         the backend's hello names connection 1
 *   transactions_1000     1000 echo transactions, 8 in flight, every result compared
 *   messages_both_ways    200 pings, each answered by a pong with the same payload, in order
 *   clean_disconnect      the endpoint destroyed: the backend's answer node for it leaves
 *                         state Connected within 10 s (the kernel closed its side)
 *   kill9_outstanding     a child process connects (connection 2), gets 4 transactions held by
 *                         the backend and is killed with SIGKILL: the kernel backend notices
 *                         (gntalloc's unmap notification clears fe_live) and closes its answer
 *                         node within 10 s
 *   reconnect             a new endpoint connects (connection 3) and runs 100 echoes
 *   busy_refused          a second frontend endpoint meanwhile is refused with IDC_ERR_BUSY
 *                         (the service is exclusive) and the first one still echoes
 *   unload_disconnects    asked to, the domU unloads the backend with the connection open: the
 *                         disconnect callback runs within 90 s
 *   service_withdrawn     within 20 s the service node /local/domain/DOMU/data/idc/kback is
 *                         gone from xenstore
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xenstore.h>

#include "idc.h"
#include "kback_proto.h"
#include "report.h"

#define WINDOW 8

static const uint64_t hashes[1] = { KBACK_HASH };
static const struct idc_protocol proto = {
    .name = KBACK_NAME,
    .min_version = 1,
    .max_version = 1,
    .version_hash = hashes,
    .max_frame = KBACK_MAX_FRAME,
};

static struct idc_context *ctx;
static struct idc_endpoint ep;
static char addr[64];
static const char *domu;

/* what the callbacks saw */
static bool connected, disconnected, destroyed;
static uint32_t hello; /* the last hello's connection number */
static unsigned pongs, pong_bad, held_now;
static unsigned long done_ok, done_bad, done_err;

static void note(const char *msg)
{
    printf("@@idc note kbackfe[%d]: %s\n", (int)getpid(), msg);
    fflush(stdout);
}

static void log_fn(void *arg, int level, const char *msg)
{
    (void)arg;
    if (level <= IDC_LOG_INFO)
        note(msg);
}

static void cb_connect(struct idc_endpoint *e)
{
    (void)e;
    connected = true;
}

static bool connected2; /* busy_refused's second frontend */
static void cb_connect2(struct idc_endpoint *e)
{
    (void)e;
    connected2 = true;
}

static void cb_disconnect(struct idc_endpoint *e)
{
    connected = false;
    disconnected = true;
    idc_endpoint_disconnect_done(e);
}

static int cb_msg(struct idc_endpoint *e, uint16_t op, const void *p, size_t len)
{
    const unsigned char *b = p;
    (void)e;
    switch (op) {
    case KBACK_OP_HELLO:
        if (len != 4)
            return IDC_ERR_PROTO;
        hello = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        return 0;
    case KBACK_OP_PONG:
        if (len != 4 || b[0] != (unsigned char)pongs || b[3] != (unsigned char)(pongs * 7))
            pong_bad++;
        pongs++;
        return 0;
    case KBACK_OP_HELD:
        if (len != 1)
            return IDC_ERR_PROTO;
        held_now = b[0];
        return 0;
    default:
        return IDC_ERR_PROTO;
    }
}

static int cb_txn(struct idc_endpoint *e, struct idc_request *r, uint16_t op, const void *p,
                  size_t len)
{
    (void)e, (void)r, (void)op, (void)p, (void)len;
    return IDC_ERR_PROTO; /* the backend submits none */
}

static const struct idc_endpoint_ops ops = {
    .connect = cb_connect,
    .disconnect = cb_disconnect,
    .handle_message = cb_msg,
    .handle_transaction = cb_txn,
};

/* Dispatches until *flag is true or timeout_s passes; true if it became true. */
static bool wait_flag(const bool *flag, double timeout_s)
{
    double end = now_s() + timeout_s;
    while (!*flag && now_s() < end)
        idc_context_dispatch(ctx, 50);
    return *flag;
}

static void open_ep(void)
{
    struct idc_endpoint_config cfg = { .protocol = &proto,
                                       .role = IDC_ROLE_FRONTEND,
                                       .address = addr,
                                       .ops = &ops,
                                       .max_transactions = WINDOW,
                                       .max_messages = 32 };
    connected = disconnected = false;
    hello = 0;
    idc_endpoint_create(&ep, ctx, &cfg);
}

static void cb_destroyed(struct idc_endpoint *e)
{
    (void)e;
    destroyed = true;
}

static void close_ep(void)
{
    destroyed = false;
    idc_endpoint_destroy(&ep, cb_destroyed);
    wait_flag(&destroyed, 10);
}

/* ------------------------------------------------------------------------- echoes */

struct slot {
    struct idc_txn txn;
    bool busy;
    unsigned char sent[64];
    size_t len;
};
static struct slot slots[WINDOW];

static void echo_done(struct idc_txn *txn, int status, const void *result, size_t len)
{
    struct slot *s = (struct slot *)txn;
    const unsigned char *r = result;
    s->busy = false;
    if (status < 0) {
        done_err++;
        return;
    }
    bool ok = status == 0 && len == s->len;
    for (size_t i = 0; ok && i < len; i++)
        ok = r[i] == (unsigned char)(s->sent[i] + 1);
    if (ok)
        done_ok++;
    else
        done_bad++;
}

/* n echo transactions, WINDOW in flight; NULL or what went wrong. */
static const char *echoes(unsigned long n, double timeout_s)
{
    static char why[128];
    unsigned long submitted = 0;
    double end = now_s() + timeout_s;
    done_ok = done_bad = done_err = 0;
    while (done_ok + done_bad + done_err < n && now_s() < end) {
        for (unsigned i = 0; i < WINDOW && submitted < n; i++) {
            struct slot *s = &slots[i];
            if (s->busy)
                continue;
            s->len = 1 + submitted % sizeof(s->sent);
            for (size_t k = 0; k < s->len; k++)
                s->sent[k] = (unsigned char)(submitted * 31 + k);
            s->txn.done = echo_done;
            int r = idc_submit_transaction(&ep, &s->txn, KBACK_OP_ECHO, s->sent, s->len);
            if (r == IDC_ERR_AGAIN)
                break;
            if (r) {
                snprintf(why, sizeof(why), "submit %lu: %s", submitted, idc_strerror(r));
                return why;
            }
            s->busy = true;
            submitted++;
        }
        idc_context_dispatch(ctx, 20);
    }
    if (done_ok == n)
        return NULL;
    snprintf(why, sizeof(why), "%lu compared equal, %lu differed, %lu failed, of %lu", done_ok,
             done_bad, done_err, n);
    return why;
}

/* ------------------------------------------------------------------ the backend's nodes */

/* Answer nodes B/conn/<fe>-<id> of the service whose state is Connected. */
static int connected_answers(struct xs_handle *xs)
{
    char dir[128], p[192];
    unsigned n = 0;
    int k = 0;
    snprintf(dir, sizeof(dir), "/local/domain/%s/data/idc/%s/conn", domu, KBACK_SERVICE);
    char **e = xs_directory(xs, XBT_NULL, dir, &n);
    for (unsigned i = 0; e && i < n; i++) {
        unsigned len = 0;
        snprintf(p, sizeof(p), "%s/%s/state", dir, e[i]);
        char *v = xs_read(xs, XBT_NULL, p, &len);
        k += v && strcmp(v, "4") == 0;
        free(v);
    }
    free(e);
    return k;
}

/* Waits up to timeout_s for no connected answer; the seconds it took, or -1. */
static double wait_closed(struct xs_handle *xs, double timeout_s)
{
    double t0 = now_s();
    while (now_s() - t0 < timeout_s) {
        if (connected_answers(xs) == 0)
            return now_s() - t0;
        usleep(50000);
    }
    return -1;
}

/* The child of kill9_outstanding: connects, gets 4 transactions held, says so on fd, waits. */
static void child(int fd)
{
    struct idc_txn txn[4];
    struct idc_context_options o = { .log = log_fn, .stats_dir = "off" };
    if (idc_context_create(&ctx, &o))
        _exit(1);
    open_ep();
    if (!wait_flag(&connected, 30))
        _exit(2);
    for (int i = 0; i < 4; i++) {
        txn[i].done = echo_done;
        if (idc_submit_transaction(&ep, &txn[i], KBACK_OP_HOLD, NULL, 0))
            _exit(3);
    }
    double end = now_s() + 20;
    while (held_now < 4 && now_s() < end)
        idc_context_dispatch(ctx, 50);
    char c = held_now == 4 ? 'h' : 'x';
    if (write(fd, &c, 1) != 1)
        _exit(4);
    for (;;)
        idc_context_dispatch(ctx, 1000); /* until killed */
}

int main(int argc, char **argv)
{
    static const char *const checks[] = {
        "connect",          "transactions_1000",  "messages_both_ways",
        "clean_disconnect", "kill9_outstanding",  "reconnect",
        "busy_refused",     "unload_disconnects", "service_withdrawn"
    };
    report_init("kback_dom0_domu");
    if (argc == 2 && strcmp(argv[1], "list") == 0) {
        REPORT_LIST("kback_dom0_domu", checks);
        return 0;
    }
    if (argc != 3 || strcmp(argv[1], "run") != 0) {
        fprintf(stderr, "usage: kbackfe list | run DOMU\n");
        return 2;
    }
    domu = argv[2];
    snprintf(addr, sizeof(addr), "xen:%s/%s", domu, KBACK_SERVICE);
    report_watchdog(280);
    struct xs_handle *xs = xs_open(0);
    struct idc_context_options o = { .log = log_fn, .stats_dir = "off" };
    if (!xs || idc_context_create(&ctx, &o))
        fail("setup: xs_open or idc_context_create failed");

    begin("connect");
    open_ep();
    if (!wait_flag(&connected, 90))
        fail("not connected to %s within 90 s", addr);
    double t_hello = now_s() + 5;
    while (hello == 0 && now_s() < t_hello)
        idc_context_dispatch(ctx, 50);
    if (hello != 1)
        fail("the backend's hello named connection %u, not 1", hello);
    pass("%s, hello from the kernel backend", addr);

    begin("transactions_1000");
    const char *why = echoes(1000, 60);
    if (why)
        fail("%s", why);
    pass("1000 echoes compared, %d in flight", WINDOW);

    begin("messages_both_ways");
    pongs = pong_bad = 0;
    for (unsigned i = 0; i < 200; i++) {
        unsigned char p[4] = { (unsigned char)i, 1, 2, (unsigned char)(i * 7) };
        int r;
        while ((r = idc_send_message(&ep, KBACK_OP_PING, p, sizeof(p))) == IDC_ERR_AGAIN)
            idc_context_dispatch(ctx, 10);
        if (r)
            fail("ping %u: %s", i, idc_strerror(r));
    }
    double t_pong = now_s() + 20;
    while (pongs < 200 && now_s() < t_pong)
        idc_context_dispatch(ctx, 20);
    if (pongs != 200 || pong_bad)
        fail("%u pongs of 200, %u out of order or altered", pongs, pong_bad);
    pass("200 pings, 200 pongs in order");

    begin("clean_disconnect");
    close_ep();
    double dt = wait_closed(xs, 10);
    if (dt < 0)
        fail("the backend still shows a connected answer 10 s after the destroy");
    pass("the backend closed its side in %.2f s", dt);

    begin("kill9_outstanding");
    int pfd[2];
    if (pipe(pfd))
        fail("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        child(pfd[1]);
    }
    close(pfd[1]);
    char c = 0;
    if (pid < 0 || read(pfd[0], &c, 1) != 1 || c != 'h') {
        if (pid > 0)
            kill(pid, SIGKILL);
        fail("the child did not get 4 transactions held (%c)", c ? c : '-');
    }
    if (connected_answers(xs) != 1)
        fail("%d connected answers for the child, not 1", connected_answers(xs));
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    dt = wait_closed(xs, 10);
    if (dt < 0)
        fail("the kernel backend did not drop the killed frontend within 10 s");
    pass("killed with 4 transactions held; the kernel dropped the link in %.2f s", dt);

    begin("reconnect");
    open_ep();
    if (!wait_flag(&connected, 30))
        fail("not connected again within 30 s");
    t_hello = now_s() + 5;
    while (hello == 0 && now_s() < t_hello)
        idc_context_dispatch(ctx, 50);
    if (hello != 3)
        fail("the backend's hello named connection %u, not 3", hello);
    why = echoes(100, 30);
    if (why)
        fail("%s", why);
    pass("connection 3, 100 echoes compared");

    begin("busy_refused");
    static struct idc_endpoint ep2;
    static const struct idc_endpoint_ops ops2 = { .connect = cb_connect2,
                                                  .disconnect = cb_disconnect,
                                                  .handle_message = cb_msg,
                                                  .handle_transaction = cb_txn };
    struct idc_endpoint_config cfg2 = { .protocol = &proto,
                                        .role = IDC_ROLE_FRONTEND,
                                        .address = addr,
                                        .ops = &ops2,
                                        .max_transactions = WINDOW,
                                        .max_messages = 32 };
    idc_endpoint_create(&ep2, ctx, &cfg2);
    int busy = 0;
    double t_busy = now_s() + 15;
    while (busy != IDC_ERR_BUSY && !connected2 && now_s() < t_busy) {
        idc_context_dispatch(ctx, 50);
        busy = idc_endpoint_last_error(&ep2, NULL, 0);
    }
    destroyed = false;
    idc_endpoint_destroy(&ep2, cb_destroyed);
    wait_flag(&destroyed, 10);
    if (connected2)
        fail("a second frontend connected while the first was");
    if (busy != IDC_ERR_BUSY)
        fail("a second frontend got %s, not IDC_ERR_BUSY, within 15 s", idc_strerror(busy));
    if (!connected)
        fail("the first frontend lost its connection");
    why = echoes(10, 10);
    if (why)
        fail("the first frontend after the refusal: %s", why);
    pass("a second frontend refused with IDC_ERR_BUSY; the first still echoes");

    begin("unload_disconnects");
    int r = idc_send_message(&ep, KBACK_OP_UNLOAD, NULL, 0);
    if (r)
        fail("unload message: %s", idc_strerror(r));
    if (!wait_flag(&disconnected, 90))
        fail("still connected 90 s after asking for the unload");
    pass("disconnected by the unload");

    begin("service_withdrawn");
    char b[128];
    snprintf(b, sizeof(b), "/local/domain/%s/data/idc/%s", domu, KBACK_SERVICE);
    bool gone = false;
    for (int i = 0; i < 200 && !gone; i++) {
        unsigned len = 0;
        char *v = xs_read(xs, XBT_NULL, b, &len);
        gone = v == NULL;
        free(v);
        if (!gone)
            usleep(100000);
    }
    if (!gone)
        fail("%s still there 20 s after the disconnect", b);
    pass("%s removed", b);

    /* The domU's script goes on (rmmod idc, its checks): wait for its end marker (blkctl put
       self kback-done yes) so that the next step, or the domU's destruction, does not cut it. */
    char m[128];
    snprintf(m, sizeof(m), "/local/domain/%s/data/idc-blk/kback-done", domu);
    bool done = false;
    for (int i = 0; i < 300 && !done; i++) {
        unsigned len = 0;
        char *v = xs_read(xs, XBT_NULL, m, &len);
        done = v && strcmp(v, "yes") == 0;
        free(v);
        if (!done)
            usleep(100000);
    }
    if (!done)
        note("the domU's kbackxen did not say it was done within 30 s");
    close_ep();
    idc_context_destroy(ctx);
    xs_close(xs);
    return 0;
}
