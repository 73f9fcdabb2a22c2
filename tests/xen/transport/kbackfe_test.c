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
 *                         (the pings go out before their pongs are read, the first 100 a
 *                         millisecond apart: the unread pongs use up the backend's message
 *                         credit, and it queues the ones that find none; kbackxen reports how
 *                         many waited)
 *   rbuf_sizes            the kernel as the user of our remote buffers: it reads 4 KiB, 1 MiB,
 *                         4 MiB and 100003 bytes at odd offsets of a read-only registration,
 *                         adds one to each byte and writes them into a writable one; every
 *                         byte compared, the bytes around each range untouched
 *   rbuf_revoked          a registration unregistered before the transform: IDC_ERR_REVOKED,
 *                         nothing written
 *   rbuf_rights_keys      the read-only reference as the destination (IDC_ERR_RIGHTS, refused
 *                         by idc.ko), the same with forged write rights and a forged key
 *                         (refused by this owner); nothing written, the next transform works
 *   clean_disconnect      the endpoint destroyed: the backend's answer node for it leaves
 *                         state Connected within 10 s (the kernel closed its side)
 *   kill9_outstanding     a child process connects (connection 2), has the backend drain (read
 *                         again and again) a 4 MiB buffer of its own, gets 4 transactions held
 *                         and is killed with SIGKILL mid-drain: the kernel backend notices
 *                         (gntalloc's unmap notification clears fe_live) and closes its answer
 *                         node within 10 s (the domU checks that the drain's transfer failed)
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
static bool draining; /* the backend said a drain's first read completed */
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
    case KBACK_OP_DRAINING:
        draining = true;
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

/* ------------------------------------------------------------------ remote buffers */

#define RB_LEN (KBACK_XFORM_MAX + 65536u) /* each side's registration */

static unsigned char *src_mem, *dst_mem;
static struct idc_rbuf src_rb, dst_rb;

struct xf_txn {
    struct idc_txn txn;
    bool done;
    int status;
};

static void xf_done(struct idc_txn *txn, int status, const void *result, size_t len)
{
    struct xf_txn *t = (struct xf_txn *)txn;
    (void)result, (void)len;
    t->done = true;
    t->status = status;
}

/* One KBACK_OP_XFORM or KBACK_OP_DRAIN, its status (or a submit error); blocks up to 60 s. */
static int xform(uint16_t op, const struct idc_rbuf *src, const struct idc_rbuf *dst,
                 uint64_t src_off, uint64_t dst_off, uint32_t len, uint32_t count)
{
    struct kback_xform a = { .src_off = src_off, .dst_off = dst_off, .len = len, .count = count };
    static struct xf_txn t;
    idc_rbuf_encode(src, a.src);
    if (dst)
        idc_rbuf_encode(dst, a.dst);
    t.done = false;
    t.txn.done = xf_done;
    int r = idc_submit_transaction(&ep, &t.txn, op, &a, sizeof(a));
    if (r)
        return r;
    double end = now_s() + 60;
    while (!t.done && now_s() < end)
        idc_context_dispatch(ctx, 50);
    return t.done ? t.status : IDC_ERR_IO;
}

/* A transform of len bytes, then every byte of dst compared: the range holds src + 1, the
   bytes around it (a page each side) still 0xee. NULL or what went wrong. */
static const char *xform_checked(uint64_t src_off, uint64_t dst_off, uint32_t len)
{
    static char why[160];
    memset(dst_mem, 0xee, RB_LEN);
    int st = xform(KBACK_OP_XFORM, &src_rb, &dst_rb, src_off, dst_off, len, 0);
    if (st) {
        snprintf(why, sizeof(why), "%u bytes: %s", len, idc_strerror(st));
        return why;
    }
    uint64_t lo = dst_off > 4096 ? dst_off - 4096 : 0;
    uint64_t hi = dst_off + len + 4096 < RB_LEN ? dst_off + len + 4096 : RB_LEN;
    for (uint64_t i = lo; i < hi; i++) {
        bool in = i >= dst_off && i < dst_off + len;
        unsigned char want = in ? (unsigned char)(src_mem[src_off + (i - dst_off)] + 1) : 0xee;
        if (dst_mem[i] != want) {
            snprintf(why, sizeof(why), "%u bytes: byte %llu of the destination is %#x, not %#x",
                     len, (unsigned long long)i, dst_mem[i], want);
            return why;
        }
    }
    return NULL;
}

/* Nothing of dst written (still 0xee everywhere). */
static bool dst_untouched(void)
{
    for (size_t i = 0; i < RB_LEN; i++)
        if (dst_mem[i] != 0xee)
            return false;
    return true;
}

/* The two registrations: src read-only (sealed, filled first), dst writable. */
static void rbuf_setup(void)
{
    void *m;
    int r = idc_buffer_alloc(ctx, RB_LEN, &m);
    if (r)
        fail("idc_buffer_alloc: %s", idc_strerror(r));
    src_mem = m;
    for (size_t i = 0; i < RB_LEN; i++)
        src_mem[i] = (unsigned char)((i * 2654435761u) >> 13);
    r = idc_buffer_register(ctx, src_mem, RB_LEN, IDC_RBUF_READ, &src_rb);
    if (!r)
        r = idc_buffer_alloc(ctx, RB_LEN, &m);
    if (!r) {
        dst_mem = m;
        r = idc_buffer_register(ctx, dst_mem, RB_LEN, IDC_RBUF_READ | IDC_RBUF_WRITE, &dst_rb);
    }
    if (r)
        fail("registering the buffers: %s", idc_strerror(r));
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

/* The child of kill9_outstanding: connects, has the backend drain a buffer of its own, gets 4
   transactions held, says so on fd, waits. */
static void child(int fd)
{
    struct idc_txn txn[4];
    struct xf_txn drain = { .txn.done = xf_done };
    struct kback_xform a = { .len = KBACK_XFORM_MAX, .count = 1000000 };
    struct idc_context_options o = { .log = log_fn, .stats_dir = "off" };
    if (idc_context_create(&ctx, &o))
        _exit(1);
    rbuf_setup();
    open_ep();
    if (!wait_flag(&connected, 30))
        _exit(2);
    idc_rbuf_encode(&src_rb, a.src);
    if (idc_submit_transaction(&ep, &drain.txn, KBACK_OP_DRAIN, &a, sizeof(a)) ||
        !wait_flag(&draining, 30) || drain.done)
        _exit(5);
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
        "connect",      "transactions_1000", "messages_both_ways", "rbuf_sizes",
        "rbuf_revoked", "rbuf_rights_keys",  "clean_disconnect",   "kill9_outstanding",
        "reconnect",    "busy_refused",      "unload_disconnects", "service_withdrawn"
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
        if (i < 100)
            usleep(1000); /* the backend keeps up and our unread pongs use up its credit */
    }
    double t_pong = now_s() + 20;
    while (pongs < 200 && now_s() < t_pong)
        idc_context_dispatch(ctx, 20);
    if (pongs != 200 || pong_bad)
        fail("%u pongs of 200, %u out of order or altered", pongs, pong_bad);
    pass("200 pings, 200 pongs in order");

    begin("rbuf_sizes");
    rbuf_setup();
    static const struct {
        uint64_t src_off, dst_off;
        uint32_t len;
    } cases[] = { { 0, 0, 4096 },
                  { 0, 0, 1u << 20 },
                  { 0, 0, KBACK_XFORM_MAX },
                  { 12345, 777, 100003 },
                  { 65536 - 1, KBACK_XFORM_MAX + 65536 - 100003, 100003 } };
    double t0 = now_s();
    uint64_t moved = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        why = xform_checked(cases[i].src_off, cases[i].dst_off, cases[i].len);
        if (why)
            fail("%s", why);
        moved += 2u * cases[i].len;
    }
    pass("4 KiB, 1 MiB, 4 MiB and 100003 bytes at odd offsets, read and written by idc.ko, "
         "every byte compared (%.1f MB/s both ways)",
         (double)moved / 1e6 / (now_s() - t0));

    begin("rbuf_revoked");
    struct idc_rbuf revoked;
    int r = idc_buffer_register(ctx, dst_mem, 65536, IDC_RBUF_READ | IDC_RBUF_WRITE, &revoked);
    if (!r)
        r = idc_buffer_unregister(ctx, &revoked);
    if (r)
        fail("register and unregister: %s", idc_strerror(r));
    memset(dst_mem, 0xee, RB_LEN);
    int st = xform(KBACK_OP_XFORM, &src_rb, &revoked, 0, 0, 4096, 0);
    if (st != IDC_ERR_REVOKED || !dst_untouched())
        fail("a transform into an unregistered buffer: %s, %s", idc_strerror(st),
             dst_untouched() ? "nothing written" : "bytes written");
    pass("IDC_ERR_REVOKED, nothing written");

    begin("rbuf_rights_keys");
    memset(dst_mem, 0xee, RB_LEN);
    st = xform(KBACK_OP_XFORM, &src_rb, &src_rb, 0, 0, 4096, 0);
    if (st != IDC_ERR_RIGHTS)
        fail("the read-only reference as the destination: %s, not IDC_ERR_RIGHTS",
             idc_strerror(st));
    struct idc_rbuf forged = src_rb;
    forged.rights |= IDC_RBUF_WRITE;
    int st_rights = xform(KBACK_OP_XFORM, &src_rb, &forged, 0, 0, 4096, 0);
    forged = dst_rb;
    forged.key[3] ^= 0x40;
    int st_key = xform(KBACK_OP_XFORM, &src_rb, &forged, 0, 0, 4096, 0);
    if (st_rights >= 0 || st_key >= 0 || !dst_untouched())
        fail("forged rights: %s, forged key: %s, %s", idc_strerror(st_rights), idc_strerror(st_key),
             dst_untouched() ? "nothing written" : "bytes written");
    why = xform_checked(0, 0, 65536);
    if (why)
        fail("an honest transform after the forged ones: %s", why);
    pass("read-only as destination: IDC_ERR_RIGHTS; forged rights: %s; forged key: %s; "
         "nothing written, the next transform compared",
         idc_strerror(st_rights), idc_strerror(st_key));

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
    r = idc_send_message(&ep, KBACK_OP_UNLOAD, NULL, 0);
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
