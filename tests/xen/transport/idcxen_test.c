/*
 * idcxen: the libidc "xen" transport on a real hypervisor, through the runtime's public API
 * (messages, transactions, lifecycle callbacks), run by the real-Xen harness in dom0 and a PV
 * domU. Result lines are Criterion-like, prefixed with "@@idc " (see report.h):
 *
 *   @@idc [PASS] idcxen_dom0_domu::fe_txn_echo: (0.52s)
 *
 * Suites are named idcxen_<server>_<client> (dom0 or domu).
 *
 * Commands:
 *   idcxen list                     every check name the harness expects
 *   idcxen local                    backend and frontend as two processes of this domain
 *   idcxen pair server PEER TAG     serve xen:idcxen-TAG?allow=PEER (two backend instances:
 *                                   the first one dies abruptly when asked, the second one is
 *                                   the restart; it withdraws cleanly at the end)
 *   idcxen pair client PEER TAG     connect to xen:PEER/idcxen-TAG and run the client checks
 *   idcxen death-backend PEER       serve xen:idcxen-death2 to PEER until destroyed
 *   idcxen death-frontend PEER      connect to it, keep transactions flowing, and see the
 *                                   disconnect and the disappear when PEER is destroyed
 *   idcxen deny-server PEER         serve xen:idcxen-deny to domain PEER+1 only (background)
 *   idcxen deny-client PEER         (in the domain not allowed) the service is unreadable, the
 *                                   knock refused, a frontend never sees it
 *   idcxen hostile                  a hand-written hostile frontend against a libidc backend,
 *                                   both in this domain (event storm, corrupt index)
 *   idcxen death-server PEER        serve xen:idcxen-death to PEER and keep transactions flowing
 *                                   until PEER's domain is destroyed (by someone else)
 *   idcxen death-client PEER        connect to xen:PEER/idcxen-death, answer until destroyed
 *                                   (runs in the domain that gets destroyed)
 *   idcxen stale                    a backend killed with no frontend leaves its service node:
 *                                   a new frontend must see it disappear, then a new backend
 *   idcxen queue-server PEER        dom0: serve dom0 and PEER; a dom0 frontend holds the backend,
 *                                   keeps it across a kill -9 and restart of the backend
 *   idcxen queue-client PEER        PEER: wait (present) for the busy backend, then connect
 *                                   (after dom0's holder, also across the backend's restart)
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xenevtchn.h>
#include <xengnttab.h>
#include <xenstore.h>

#include "idc.h"
#include "report.h"
#include "ring.h" /* runtime/core: idc_ring_size_for, idc_ring_bytes */
#include "wire.h" /* runtime/transports/xen: the control page, the xenbus states */

#define WATCHDOG_S 140
#define STEP_MS    30000

/* ------------------------------------------------------------------ reporting (report.h) */

/* Only which side is dom0 matters for the suite name: in a pair exactly one side is. */
static unsigned other_side(unsigned peer)
{
    return peer == 0 ? 1 : 0;
}

static void set_suite(unsigned server, unsigned client)
{
    report_pair_suite("idcxen", server, client);
}

static void log_fn(void *arg, int level, const char *msg)
{
    (void)arg;
    if (level <= IDC_LOG_INFO || getenv("IDC_DEBUG"))
        printf("idcxen[%d] %s\n", (int)getpid(), msg);
    fflush(stdout);
}

/* ------------------------------------------------------------------ the test protocol */

enum { OP_ECHO = 1, OP_COUNT = 2, OP_DIE = 3, OP_DATA = 10, OP_BYE = 11 };
#define MAX_FRAME 2048u

static const uint64_t hashes[1] = { 0x6964637865656e31ull };
static const struct idc_protocol proto = {
    .name = "idcxen",
    .min_version = 1,
    .max_version = 1,
    .version_hash = hashes,
    .max_frame = MAX_FRAME,
};

struct side {
    struct idc_context *ctx;
    struct idc_endpoint ep;
    int appears, connects, disconnects, disappears;
    uint32_t msgs;
    bool die, bye;
    int writable;
};
static struct side S;

static void cb_appear(struct idc_endpoint *ep)
{
    (void)ep;
    S.appears++;
}
static void cb_connect(struct idc_endpoint *ep)
{
    (void)ep;
    S.connects++;
    S.msgs = 0;
}
static void cb_disconnect(struct idc_endpoint *ep)
{
    S.disconnects++;
    idc_endpoint_disconnect_done(ep);
}
static void cb_disappear(struct idc_endpoint *ep)
{
    (void)ep;
    S.disappears++;
}
static void cb_writable(struct idc_endpoint *ep)
{
    (void)ep;
    S.writable++;
}

static int cb_msg(struct idc_endpoint *ep, uint16_t op, const void *p, size_t len)
{
    (void)ep, (void)p, (void)len;
    if (op == OP_DATA)
        S.msgs++;
    else if (op == OP_BYE)
        S.bye = true;
    else
        return IDC_ERR_PROTO;
    return 0;
}

static int cb_txn(struct idc_endpoint *ep, struct idc_request *r, uint16_t op, const void *p,
                  size_t len)
{
    (void)ep;
    switch (op) {
    case OP_ECHO:
        idc_request_complete(r, 0, p, len);
        return 0;
    case OP_COUNT: {
        uint32_t n = S.msgs;
        S.msgs = 0;
        idc_request_complete(r, 0, &n, sizeof(n));
        return 0;
    }
    case OP_DIE:
        idc_request_complete(r, 0, NULL, 0);
        S.die = true;
        return 0;
    default:
        return IDC_ERR_PROTO;
    }
}

static const struct idc_endpoint_ops ops = {
    .appear = cb_appear,
    .connect = cb_connect,
    .disconnect = cb_disconnect,
    .disappear = cb_disappear,
    .writable = cb_writable,
    .handle_message = cb_msg,
    .handle_transaction = cb_txn,
};

static void side_open(const char *addr, enum idc_role role)
{
    memset(&S, 0, sizeof(S));
    struct idc_context_options o = { .log = log_fn, .shm_dir = "/tmp/idcxen" };
    int r = idc_context_create(&S.ctx, &o);
    if (r)
        fail("idc_context_create: %s", idc_strerror(r));
    struct idc_endpoint_config cfg = { .protocol = &proto,
                                       .role = role,
                                       .address = addr,
                                       .ops = &ops,
                                       .max_transactions = 16,
                                       .max_messages = 32 };
    idc_endpoint_create(&S.ep, S.ctx, &cfg);
}

/* Dispatch until *flag reaches want or ms pass; returns true if it did. */
static bool wait_for(const int *flag, int want, int ms)
{
    double end = now_s() + ms / 1000.0;
    while (*flag < want && now_s() < end)
        idc_context_dispatch(S.ctx, 50);
    return *flag >= want;
}

/* ------------------------------------------------------------------ client helpers */

struct call {
    struct idc_txn t;
    int status;
    bool done;
    size_t len;
    unsigned char buf[MAX_FRAME];
    unsigned char want[MAX_FRAME];
    size_t want_len;
};

static int completed, bad_results;
static void call_done(struct idc_txn *t, int status, const void *res, size_t len)
{
    struct call *c = t->user;
    c->status = status;
    c->done = true;
    c->len = len;
    if (status == 0 && len <= sizeof(c->buf))
        memcpy(c->buf, res, len);
    completed++;
    if (c->want_len && (status != 0 || len != c->want_len || memcmp(res, c->want, len) != 0))
        bad_results++;
}

/* One transaction, waited for; returns its status. */
static int call_sync(uint16_t op, const void *p, size_t len, struct call *c, int ms)
{
    memset(c, 0, sizeof(*c));
    c->t.done = call_done;
    c->t.user = c;
    int r;
    double end = now_s() + ms / 1000.0;
    while ((r = idc_submit_transaction(&S.ep, &c->t, op, p, len)) == IDC_ERR_AGAIN && now_s() < end)
        idc_context_dispatch(S.ctx, 20);
    if (r)
        return r;
    while (!c->done && now_s() < end)
        idc_context_dispatch(S.ctx, 50);
    return c->done ? c->status : IDC_ERR_IO;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed * 131u + i * 7u);
}

/* ------------------------------------------------------------------ client checks */

static void client_checks(unsigned peer, const char *tag)
{
    char addr[96];
    snprintf(addr, sizeof(addr), "xen:%u/idcxen-%s", peer, tag);
    side_open(addr, IDC_ROLE_FRONTEND);

    begin("fe_connect");
    if (!wait_for(&S.connects, 1, STEP_MS))
        fail("no connection to %s within %d s (appears %d, state %d)", addr, STEP_MS / 1000,
             S.appears, (int)idc_endpoint_state(&S.ep));
    if (S.appears != 1 || idc_endpoint_version(&S.ep) != 1)
        fail("appears %d, version %u", S.appears, idc_endpoint_version(&S.ep));
    pass("connected to %s", addr);

    begin("fe_txn_echo");
    {
        static struct call calls[16];
        unsigned total = 2000, submitted = 0;
        completed = bad_results = 0;
        double end = now_s() + STEP_MS / 1000.0;
        while ((unsigned)completed < total && now_s() < end) {
            for (unsigned i = 0; i < 16 && submitted < total; i++) {
                struct call *c = &calls[i];
                if (c->t.done && !c->done)
                    continue; /* in flight */
                memset(c, 0, offsetof(struct call, buf));
                c->t.done = call_done;
                c->t.user = c;
                c->want_len = 1 + (submitted * 37u) % MAX_FRAME;
                fill(c->want, c->want_len, submitted);
                int r = idc_submit_transaction(&S.ep, &c->t, OP_ECHO, c->want, c->want_len);
                if (r == IDC_ERR_AGAIN) {
                    c->t.done = NULL;
                    break;
                }
                if (r)
                    fail("submit: %s", idc_strerror(r));
                submitted++;
            }
            idc_context_dispatch(S.ctx, 50);
        }
        if ((unsigned)completed != total || bad_results)
            fail("%d of %u transactions completed, %d wrong results", completed, total,
                 bad_results);
        double dt = now_s() - t_check;
        pass("%u echo transactions (1..%u bytes, 16 in flight) in %.2fs: %.2f MB/s each way", total,
             MAX_FRAME, dt, (double)total * (MAX_FRAME + 1) / 2 / dt / 1e6);
    }

    begin("fe_rtt");
    {
        /* Sequential round trips (one transaction in flight), 64-byte payload: latency. */
        unsigned char p[64];
        struct call c;
        fill(p, sizeof(p), 3);
        unsigned n = 500;
        double t0 = now_s();
        for (unsigned i = 0; i < n; i++) {
            int st = call_sync(OP_ECHO, p, sizeof(p), &c, STEP_MS);
            if (st != 0 || c.len != sizeof(p) || memcmp(c.buf, p, sizeof(p)))
                fail("round trip %u: status %d", i, st);
        }
        double dt = now_s() - t0;
        pass("%u sequential 64-byte transactions: mean round trip %.1f us", n, dt / n * 1e6);
    }

    begin("fe_messages");
    {
        unsigned total = 1000, sent = 0;
        unsigned char payload[64];
        double end = now_s() + STEP_MS / 1000.0;
        while (sent < total && now_s() < end) {
            fill(payload, sizeof(payload), sent);
            int r = idc_send_message(&S.ep, OP_DATA, payload, sizeof(payload));
            if (r == IDC_ERR_AGAIN) {
                idc_context_dispatch(S.ctx, 20);
                continue;
            }
            if (r)
                fail("send_message: %s", idc_strerror(r));
            sent++;
        }
        struct call c;
        int st = call_sync(OP_COUNT, NULL, 0, &c, STEP_MS);
        uint32_t n = 0;
        if (st == 0 && c.len == sizeof(n))
            memcpy(&n, c.buf, sizeof(n));
        if (sent != total || st != 0 || n != total)
            fail("sent %u of %u, count status %d, backend counted %u", sent, total, st, n);
        pass("%u messages under credit (32), writable callbacks %d", total, S.writable);
    }

    begin("fe_disconnect_reconnect");
    {
        int r = idc_endpoint_disconnect(&S.ep);
        if (r)
            fail("idc_endpoint_disconnect: %s", idc_strerror(r));
        if (!wait_for(&S.disconnects, 1, STEP_MS) || !wait_for(&S.connects, 2, STEP_MS))
            fail("disconnects %d, connects %d", S.disconnects, S.connects);
        struct call c;
        unsigned char p[100];
        fill(p, sizeof(p), 99);
        int st = call_sync(OP_ECHO, p, sizeof(p), &c, STEP_MS);
        if (st != 0 || c.len != sizeof(p) || memcmp(c.buf, p, sizeof(p)))
            fail("echo after reconnect: status %d", st);
        pass("disconnect, reconnect, echo");
    }

    begin("fe_backend_crash");
    {
        /* The backend answers, then its process exits without any cleanup (as after kill -9):
           the unmap notification of the control page tells us; its stale service node is
           treated as gone until the restarted backend replaces it. */
        static struct call pend[4];
        completed = 0;
        struct call c;
        int st = call_sync(OP_DIE, NULL, 0, &c, STEP_MS);
        if (st != 0)
            fail("die: status %d", st);
        /* Keep a few transactions outstanding: they must complete with DISCONNECTED. */
        int outstanding = 0;
        for (int i = 0; i < 4; i++) {
            memset(&pend[i], 0, sizeof(pend[i]));
            pend[i].t.done = call_done;
            pend[i].t.user = &pend[i];
            if (idc_submit_transaction(&S.ep, &pend[i].t, OP_ECHO, "x", 1) == 0)
                outstanding++;
        }
        if (!wait_for(&S.disconnects, 2, STEP_MS))
            fail("no disconnect after the backend died");
        for (int i = 0; i < 4; i++)
            if (pend[i].t.done && pend[i].done && pend[i].status != 0 &&
                pend[i].status != IDC_ERR_DISCONNECTED)
                fail("outstanding transaction ended with %d", pend[i].status);
        double t_down = now_s() - t_check;
        if (!wait_for(&S.disappears, 1, STEP_MS))
            fail("no disappear after the backend died (state %d)", (int)idc_endpoint_state(&S.ep));
        if (!wait_for(&S.connects, 3, STEP_MS) || S.appears < 2)
            fail("restarted backend: appears %d, connects %d", S.appears, S.connects);
        unsigned char p[10];
        fill(p, sizeof(p), 5);
        st = call_sync(OP_ECHO, p, sizeof(p), &c, STEP_MS);
        if (st != 0 || c.len != sizeof(p) || memcmp(c.buf, p, sizeof(p)))
            fail("echo with the restarted backend: status %d", st);
        pass("disconnect after %.2fs (%d transactions were outstanding), disappear, appear, "
             "connect to the restarted backend",
             t_down, outstanding);
    }

    begin("fe_backend_withdraw");
    {
        int r = idc_send_message(&S.ep, OP_BYE, NULL, 0);
        if (r)
            fail("bye: %s", idc_strerror(r));
        if (!wait_for(&S.disconnects, 3, STEP_MS) || !wait_for(&S.disappears, 2, STEP_MS))
            fail("disconnects %d, disappears %d after the backend withdrew", S.disconnects,
                 S.disappears);
        pass("disconnect and disappear");
    }
    idc_endpoint_destroy(&S.ep, NULL);
    idc_context_dispatch(S.ctx, 0);
    idc_context_destroy(S.ctx);
}

/* ------------------------------------------------------------------ server */

/* One backend instance: serves until asked to die (abrupt _exit) or to leave (clean). */
static int serve_instance(const char *addr, bool first)
{
    side_open(addr, IDC_ROLE_BACKEND);
    begin(first ? "be_publish_connect" : "be_restart_connect");
    if (!wait_for(&S.appears, 1, 5000))
        fail("service not published");
    if (!wait_for(&S.connects, 1, STEP_MS))
        fail("no frontend connected within %d s", STEP_MS / 1000);
    pass(NULL);
    double end = now_s() + 100;
    while (now_s() < end) {
        idc_context_dispatch(S.ctx, 50);
        if (S.die) {
            /* Let the response out, then die without any cleanup. */
            idc_context_dispatch(S.ctx, 0);
            begin("be_reconnect");
            if (S.connects >= 2 && S.disconnects >= 1)
                pass("%d connections before the crash", S.connects);
            else
                fail("connects %d, disconnects %d", S.connects, S.disconnects);
            fflush(stdout);
            _exit(0);
        }
        if (S.bye) {
            begin("be_withdraw");
            idc_endpoint_destroy(&S.ep, NULL);
            for (int i = 0; i < 20 && idc_endpoint_state(&S.ep) != IDC_EP_UNUSED; i++)
                idc_context_dispatch(S.ctx, 50);
            if (idc_endpoint_state(&S.ep) != IDC_EP_UNUSED || S.disconnects < 1)
                fail("destroy did not complete (state %d)", (int)idc_endpoint_state(&S.ep));
            pass(NULL);
            idc_context_destroy(S.ctx);
            return 0;
        }
    }
    fail("the frontend never finished");
}

static void server(unsigned peer, const char *tag)
{
    char addr[96];
    snprintf(addr, sizeof(addr), "xen:idcxen-%s?allow=%u", tag, peer);
    pid_t pid = fork();
    if (pid == 0) {
        serve_instance(addr, true);
        _exit(1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        exit(1);
    /* Restart after a pause, so the frontend sees the stale service as gone (disappear)
       before the new instance replaces it; a faster restart is a plain reconnect. */
    sleep(3);
    serve_instance(addr, false);
}

/* ------------------------------------------------------------------ domain death */

/* dom0: serve PEER, whose frontend streams messages; when PEER's domain is destroyed (by
   another step of the plan), the connection must go down and the service accept again. */
static void death_server(unsigned peer)
{
    set_suite(0, peer);
    char addr[96];
    snprintf(addr, sizeof(addr), "xen:idcxen-death?allow=%u", peer);
    side_open(addr, IDC_ROLE_BACKEND);
    begin("be_domain_destroyed");
    if (!wait_for(&S.connects, 1, 60000))
        fail("the domU never connected");
    FILE *f = fopen("/tmp/idcxen-death-ready", "w");
    if (f)
        fclose(f);
    printf("@@idc note idcxen death-server: connected, waiting for the domain's destruction\n");
    fflush(stdout);
    if (!wait_for(&S.disconnects, 1, 90000))
        fail("no disconnect within 90 s");
    double t = now_s();
    pass("disconnected; %u messages had arrived", S.msgs);
    begin("be_domain_destroyed_republish");
    /* The service stays published and accepts again (nobody comes: state PRESENT). */
    for (int i = 0; i < 10; i++)
        idc_context_dispatch(S.ctx, 20);
    if (idc_endpoint_state(&S.ep) != IDC_EP_PRESENT)
        fail("state %d after the peer's death", (int)idc_endpoint_state(&S.ep));
    pass("%.2fs", now_s() - t);
    idc_endpoint_destroy(&S.ep, NULL);
    idc_context_dispatch(S.ctx, 0);
    idc_context_destroy(S.ctx);
}

static void death_client(unsigned peer)
{
    char addr[96];
    snprintf(addr, sizeof(addr), "xen:%u/idcxen-death", peer);
    side_open(addr, IDC_ROLE_FRONTEND);
    unsigned char p[256];
    fill(p, sizeof(p), 1);
    for (;;) { /* until our domain is destroyed */
        if (idc_endpoint_state(&S.ep) == IDC_EP_CONNECTED)
            idc_send_message(&S.ep, OP_DATA, p, sizeof(p));
        idc_context_dispatch(S.ctx, 5);
    }
}

/* ------------------------------------------------------------------ hostile frontend */

/* A frontend written against the libraries directly, following the handshake documented in
   docs/xen-transport.md, that then misbehaves: it notifies in a tight loop without producing
   anything (event storm), and on its second connection publishes a corrupt producer index. The
   libidc backend (a child process) must cut it off each time, with the reason, at bounded cost. */
struct hostile {
    struct xs_handle *xs;
    xenevtchn_handle *ev;
    xengntshr_handle *gs;
    struct xen_ctrl_page *ctrl;
    unsigned char *rings;
    int np;
    uint32_t port, epoch;
};

static int hx_read_u32(struct xs_handle *xs, const char *path, uint32_t *v)
{
    unsigned len;
    char *p = xs_read(xs, XBT_NULL, path, &len);
    if (!p)
        return -1;
    char *end;
    unsigned long x = strtoul(p, &end, 10);
    int r = *end ? -1 : 0;
    free(p);
    *v = (uint32_t)x;
    return r;
}

static int hx_write(struct xs_handle *xs, xs_transaction_t t, const char *dir, const char *key,
                    uint32_t v)
{
    char path[256], val[16];
    snprintf(path, sizeof(path), "%s/%s", dir, key);
    snprintf(val, sizeof(val), "%u", v);
    return xs_write(xs, t, path, val, (unsigned)strlen(val)) ? 0 : -1;
}

#define HB "/local/domain/0/data/idc/idcxen-hostile"
/* the hand-written frontend is domain 0's frontend number 1 */
#define HF "/local/domain/0/data/idc-fe/0/idcxen-hostile/1"
#define HK "/local/domain/0/data/idc/idcxen-hostile/conn/0-1"

static void hostile_connect(struct hostile *h)
{
    uint32_t inst, st;
    double end = now_s() + 30;
    while (hx_read_u32(h->xs, HB "/state", &st) || st != XB_INITWAIT ||
           hx_read_u32(h->xs, HB "/instance", &inst)) {
        if (now_s() > end)
            fail("hostile frontend: no service");
        usleep(20000);
    }
    uint32_t frame = MAX_FRAME, tx = 16, msg = 32;
    uint32_t ring = idc_ring_size_for(msg + 2 * tx, frame);
    h->np = (int)((2 * idc_ring_bytes(ring) + XEN_PAGE - 1) / XEN_PAGE);
    xenevtchn_port_or_error_t port = xenevtchn_bind_unbound_port(h->ev, 0);
    if (port < 0)
        fail("hostile: unbound port: %s", strerror(errno));
    h->port = (uint32_t)port;
    uint32_t cref, refs[XEN_CTRL_MAX_REFS];
    h->ctrl = xengntshr_share_page_notify(h->gs, 0, &cref, 1, 0, h->port);
    h->rings = xengntshr_share_pages(h->gs, 0, h->np, refs, 1);
    if (!h->ctrl || !h->rings)
        fail("hostile: grants: %s", strerror(errno));
    memset(h->rings, 0, (size_t)h->np * XEN_PAGE);
    h->epoch = (uint32_t)(now_s() * 1000) & 0x7fffffff;
    memset(h->ctrl, 0, XEN_PAGE);
    h->ctrl->magic = XEN_CTRL_MAGIC;
    h->ctrl->ring_size = ring;
    h->ctrl->nrefs = (uint32_t)h->np;
    h->ctrl->epoch = h->epoch;
    memcpy(h->ctrl->refs, refs, sizeof(uint32_t) * (size_t)h->np);
    h->ctrl->fe_live = 1;
    xs_transaction_t t = xs_transaction_start(h->xs);
    char hash[20];
    snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)hashes[0]);
    xs_rm(h->xs, t, HF);
    bool ok = xs_mkdir(h->xs, t, HF) && xs_write(h->xs, t, HF "/protocol", "idcxen", 6) &&
              xs_write(h->xs, t, HF "/version-hash", hash, 16) &&
              !hx_write(h->xs, t, HF, "version", 1) &&
              !hx_write(h->xs, t, HF, "be-instance", inst) &&
              !hx_write(h->xs, t, HF, "epoch", h->epoch) &&
              !hx_write(h->xs, t, HF, "max-frame", frame) &&
              !hx_write(h->xs, t, HF, "max-transactions", tx) &&
              !hx_write(h->xs, t, HF, "max-messages", msg) &&
              !hx_write(h->xs, t, HF, "ring-size", ring) &&
              !hx_write(h->xs, t, HF, "ring-pages", (uint32_t)h->np) &&
              !hx_write(h->xs, t, HF, "ctrl-ref", cref) &&
              !hx_write(h->xs, t, HF, "event-channel", h->port) &&
              !hx_write(h->xs, t, HF, "state", XB_INITIALISED) &&
              !hx_write(h->xs, t, HB "/fe", "0-1", h->epoch);
    if (!ok || !xs_transaction_end(h->xs, t, false))
        fail("hostile: publishing: %s", strerror(errno));
    end = now_s() + 30;
    uint32_t kep = 0;
    while (hx_read_u32(h->xs, HK "/epoch", &kep) || kep != h->epoch ||
           hx_read_u32(h->xs, HK "/state", &st) || st != XB_CONNECTED) {
        if (now_s() > end)
            fail("hostile frontend: backend never answered");
        usleep(20000);
    }
}

/* Until the backend closes our connection (K state Closed); returns seconds. */
static bool hostile_closed(struct hostile *h)
{
    uint32_t st, kep;
    return (hx_read_u32(h->xs, HK "/epoch", &kep) == 0 && kep == h->epoch &&
            hx_read_u32(h->xs, HK "/state", &st) == 0 && st == XB_CLOSED) ||
           __atomic_load_n(&h->ctrl->be_live, __ATOMIC_ACQUIRE) == 0;
}

static void hostile_release(struct hostile *h)
{
    xs_write(h->xs, XBT_NULL, HF "/state", "6", 1);
    xengntshr_unshare(h->gs, h->rings, (uint32_t)h->np);
    xengntshr_unshare(h->gs, h->ctrl, 1);
    xenevtchn_unbind(h->ev, h->port);
}

static char be_reason[256];
static void hostile_log(void *arg, int level, const char *msg)
{
    log_fn(arg, level, msg);
    const char *d = strstr(msg, "disconnected: ");
    if (d)
        snprintf(be_reason, sizeof(be_reason), "%s", d + 14);
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void hostile_backend(void)
{
    memset(&S, 0, sizeof(S));
    struct idc_context_options o = { .log = hostile_log, .shm_dir = "/tmp/idcxen" };
    if (idc_context_create(&S.ctx, &o))
        fail("context");
    struct idc_endpoint_config cfg = { .protocol = &proto,
                                       .role = IDC_ROLE_BACKEND,
                                       .address = "xen:idcxen-hostile?allow=0",
                                       .ops = &ops,
                                       .max_transactions = 16,
                                       .max_messages = 32 };
    idc_endpoint_create(&S.ep, S.ctx, &cfg);
    begin("be_event_storm");
    if (!wait_for(&S.connects, 1, STEP_MS))
        fail("the hostile frontend never connected");
    double c0 = cpu_s(), t0 = now_s();
    if (!wait_for(&S.disconnects, 1, STEP_MS))
        fail("still connected after %d s of event storm", STEP_MS / 1000);
    double cpu = cpu_s() - c0, wall = now_s() - t0;
    if (!strstr(be_reason, "event storm"))
        fail("disconnected for another reason: %s", be_reason);
    pass("cut off after %.2fs, backend CPU %.2fs: %s", wall, cpu, be_reason);
    begin("be_corrupt_index");
    if (!wait_for(&S.connects, 2, STEP_MS))
        fail("the hostile frontend did not reconnect");
    if (!wait_for(&S.disconnects, 2, STEP_MS))
        fail("still connected after a corrupt producer index");
    if (!strstr(be_reason, "producer index"))
        fail("disconnected for another reason: %s", be_reason);
    pass("%s", be_reason);
    idc_endpoint_destroy(&S.ep, NULL);
    for (int i = 0; i < 20 && idc_endpoint_state(&S.ep) != IDC_EP_UNUSED; i++)
        idc_context_dispatch(S.ctx, 20);
    idc_context_destroy(S.ctx);
}

static void hostile(void)
{
    set_suite(0, 0);
    pid_t pid = fork();
    if (pid == 0) {
        hostile_backend();
        _exit(0);
    }
    struct hostile h = { 0 };
    h.xs = xs_open(0);
    h.ev = xenevtchn_open(NULL, 0);
    h.gs = xengntshr_open(NULL, 0);
    if (!h.xs || !h.ev || !h.gs)
        fail("hostile: libraries: %s", strerror(errno));
    begin("hostile_storm_sent");
    hostile_connect(&h);
    unsigned long n = 0;
    double end = now_s() + 25;
    while (!hostile_closed(&h) && now_s() < end)
        for (int i = 0; i < 1000; i++, n++)
            xenevtchn_notify(h.ev, h.port);
    if (!hostile_closed(&h))
        fail("%lu notifications in 25 s, backend did not cut us off", n);
    pass("%lu notifications sent before the backend closed the connection", n);
    hostile_release(&h);
    begin("hostile_corrupt_sent");
    hostile_connect(&h);
    usleep(200000);
    /* ring 0 (frontend -> backend): prod at offset 0; 7 is not a multiple of 8 */
    __atomic_store_n((uint32_t *)(void *)h.rings, 7u, __ATOMIC_RELEASE);
    xenevtchn_notify(h.ev, h.port);
    end = now_s() + 20;
    while (!hostile_closed(&h) && now_s() < end)
        usleep(10000);
    if (!hostile_closed(&h))
        fail("backend still connected 20 s after a corrupt index");
    pass(NULL);
    hostile_release(&h);
    xs_rm(h.xs, XBT_NULL, HF);
    xs_rm(h.xs, XBT_NULL, HB "/fe/0-1");
    int st = 0;
    waitpid(pid, &st, 0);
    exit(WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1);
}

/* domU: serve xen:idcxen-death2 to dom0 until this domain is destroyed. */
static void death_backend(unsigned peer)
{
    char addr[96];
    snprintf(addr, sizeof(addr), "xen:idcxen-death2?allow=%u", peer);
    side_open(addr, IDC_ROLE_BACKEND);
    for (;;)
        idc_context_dispatch(S.ctx, 1000);
}

/* dom0: a frontend to the domU's backend, with transactions flowing, when the domU is
   destroyed: disconnect (outstanding transactions fail), then disappear. */
static void death_frontend(unsigned peer)
{
    set_suite(peer, 0);
    char addr[96];
    snprintf(addr, sizeof(addr), "xen:%u/idcxen-death2", peer);
    side_open(addr, IDC_ROLE_FRONTEND);
    begin("fe_domain_destroyed");
    if (!wait_for(&S.connects, 1, 60000))
        fail("never connected to the domU's backend");
    FILE *f = fopen("/tmp/idcxen-death-ready2", "w");
    if (f)
        fclose(f);
    static struct call c;
    unsigned echoes = 0;
    double end = now_s() + 120;
    while (S.disconnects == 0 && now_s() < end) {
        if (!c.t.done || c.done) {
            if (c.done && c.status == 0)
                echoes++;
            memset(&c, 0, offsetof(struct call, buf));
            c.t.done = call_done;
            c.t.user = &c;
            if (idc_submit_transaction(&S.ep, &c.t, OP_ECHO, "ping", 4) != 0)
                c.t.done = NULL;
        }
        idc_context_dispatch(S.ctx, 20);
    }
    if (!S.disconnects)
        fail("no disconnect within 120 s");
    double t = now_s();
    if (c.t.done && (!c.done || (c.status != 0 && c.status != IDC_ERR_DISCONNECTED)))
        fail("the outstanding transaction ended with %d (done %d)", c.status, c.done);
    if (!wait_for(&S.disappears, 1, 30000))
        fail("no disappear after the backend's domain was destroyed");
    pass("%u echoes, then disconnect; disappear %.2fs later", echoes, now_s() - t);
    idc_endpoint_destroy(&S.ep, NULL);
    idc_context_dispatch(S.ctx, 0);
    idc_context_destroy(S.ctx);
}

/* ------------------------------------------------------------------ permissions */

/* dom0 serves xen:idcxen-deny?allow=PEER+1: domain PEER may not even read the service. */
static void deny_server(unsigned peer)
{
    char addr[96];
    snprintf(addr, sizeof(addr), "xen:idcxen-deny?allow=%u", peer + 1);
    side_open(addr, IDC_ROLE_BACKEND);
    double end = now_s() + 390; /* until dom0's plan kills it at the end of the domU part */
    while (now_s() < end)
        idc_context_dispatch(S.ctx, 200);
}

/* In the domU: the service exists (reading it fails with EACCES, not ENOENT), and a libidc
   frontend for it never sees it appear, let alone connect. */
static void deny_client(unsigned peer)
{
    set_suite(peer, other_side(peer));
    begin("fe_not_allowed");
    struct xs_handle *xs = xs_open(0);
    if (!xs)
        fail("xs_open: %s", strerror(errno));
    char path[128];
    snprintf(path, sizeof(path), "/local/domain/%u/data/idc/idcxen-deny/state", peer);
    double end = now_s() + 30;
    int e = 0;
    for (;;) {
        unsigned len;
        char *v = xs_read(xs, XBT_NULL, path, &len);
        e = v ? 0 : errno;
        free(v);
        if (e == EACCES || now_s() > end)
            break;
        if (!e)
            fail("the service node is readable by this domain");
        usleep(100000);
    }
    if (e != EACCES)
        fail("service never published (last error %s)", strerror(e));
    char addr[96];
    snprintf(addr, sizeof(addr), "xen:%u/idcxen-deny", peer);
    side_open(addr, IDC_ROLE_FRONTEND);
    wait_for(&S.appears, 1, 3000);
    if (S.appears || S.connects || idc_endpoint_state(&S.ep) != IDC_EP_ABSENT)
        fail("appears %d, connects %d, state %d", S.appears, S.connects,
             (int)idc_endpoint_state(&S.ep));
    /* Knocking is refused by xenstore too. */
    unsigned len;
    char *self = xs_read(xs, XBT_NULL, "domid", &len);
    snprintf(path, sizeof(path), "/local/domain/%u/data/idc/idcxen-deny/fe/%s-1", peer,
             self ? self : "1");
    free(self);
    if (xs_write(xs, XBT_NULL, path, "1", 1))
        fail("this domain could knock on a service it is not allowed to use");
    pass("service unreadable (EACCES), knock refused (%s), frontend stays absent", strerror(errno));
    xs_close(xs);
    idc_endpoint_destroy(&S.ep, NULL);
    idc_context_dispatch(S.ctx, 0);
    idc_context_destroy(S.ctx);
}

/* ------------------------------------------------------------------ stale and busy services */

/* A backend that serves echo until a frontend says bye (then withdraws), or 90 s pass. */
static void plain_backend(const char *addr)
{
    side_open(addr, IDC_ROLE_BACKEND);
    double end = now_s() + 90;
    while (!S.bye && now_s() < end)
        idc_context_dispatch(S.ctx, 50);
    idc_context_dispatch(S.ctx, 0);
    idc_endpoint_destroy(&S.ep, NULL);
    for (int i = 0; i < 20 && idc_endpoint_state(&S.ep) != IDC_EP_UNUSED; i++)
        idc_context_dispatch(S.ctx, 50);
    idc_context_destroy(S.ctx);
    _exit(S.bye ? 0 : 1);
}

static void echo_bye(void)
{
    struct call c;
    unsigned char p[24];
    fill(p, sizeof(p), 9);
    int st = call_sync(OP_ECHO, p, sizeof(p), &c, STEP_MS);
    if (st != 0 || c.len != sizeof(p) || memcmp(c.buf, p, sizeof(p)))
        fail("echo: status %d", st);
    st = idc_send_message(&S.ep, OP_BYE, NULL, 0);
    if (st)
        fail("bye: %s", idc_strerror(st));
    idc_context_dispatch(S.ctx, 0);
}

static void reap(pid_t pid, const char *what)
{
    int st = 0;
    for (int i = 0; i < 200 && waitpid(pid, &st, WNOHANG) == 0; i++) {
        if (S.ctx)
            idc_context_dispatch(S.ctx, 50);
        else
            usleep(50000);
    }
    if (waitpid(pid, &st, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        fail("%s did not finish", what);
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail("%s ended with status %d", what, st);
}

/* dom0: a backend process is killed while no frontend is connected, so its service node
   stays in xenstore. A frontend started afterwards may see it appear, but must see it
   disappear once its knock goes unanswered, never connect; a new backend then replaces the
   node and the frontend appears and connects. */
static void stale(void)
{
    set_suite(0, 0);
    begin("fe_stale_service");
    int pfd[2];
    if (pipe(pfd))
        fail("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid == 0) {
        side_open("xen:idcxen-stale", IDC_ROLE_BACKEND);
        if (!wait_for(&S.appears, 1, 5000))
            _exit(1);
        if (write(pfd[1], "r", 1) != 1)
            _exit(1);
        for (;;)
            idc_context_dispatch(S.ctx, 1000);
    }
    close(pfd[1]);
    char b;
    if (read(pfd[0], &b, 1) != 1)
        fail("the first backend did not publish");
    close(pfd[0]);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    side_open("xen:0/idcxen-stale", IDC_ROLE_FRONTEND);
    if (!wait_for(&S.disappears, 1, 15000))
        fail("the dead backend's service never disappeared (appears %d, state %d)", S.appears,
             (int)idc_endpoint_state(&S.ep));
    if (S.connects || S.appears != 1)
        fail("appears %d, connects %d", S.appears, S.connects);
    pass("appeared, then disappeared after %.1f s: the knock went unanswered", now_s() - t_check);

    begin("fe_stale_republish");
    pid = fork();
    if (pid == 0)
        plain_backend("xen:idcxen-stale");
    if (!wait_for(&S.connects, 1, STEP_MS))
        fail("no connection to the new backend (appears %d, state %d)", S.appears,
             (int)idc_endpoint_state(&S.ep));
    echo_bye();
    reap(pid, "the new backend");
    pass("appeared and connected to the new instance");
    idc_endpoint_destroy(&S.ep, NULL);
    idc_context_dispatch(S.ctx, 0);
    idc_context_destroy(S.ctx);
}

#define QUEUE_HOLD_S 10
#define QUEUE_READY  "/local/domain/0/data/idcxen-queue-ready"

/* dom0: serve xen:idcxen-queue to dom0 and PEER; a dom0 frontend holds the connection until
   PEER's frontend has knocked and waited QUEUE_HOLD_S more seconds, then leaves. */
static void queue_server(unsigned peer)
{
    set_suite(0, peer);
    char addr[64];
    snprintf(addr, sizeof(addr), "xen:idcxen-queue?allow=0,%u", peer);
    pid_t pid = fork();
    if (pid == 0)
        plain_backend(addr);
    begin("fe_queue_holder");
    side_open("xen:0/idcxen-queue", IDC_ROLE_FRONTEND);
    if (!wait_for(&S.connects, 1, STEP_MS))
        fail("the holder did not connect (state %d)", (int)idc_endpoint_state(&S.ep));
    struct xs_handle *xs = xs_open(0);
    if (!xs)
        fail("xs_open: %s", strerror(errno));
    /* Tell PEER to start knocking only now: the holder must have the backend first. */
    struct xs_permissions perm[2] = { { .id = 0, .perms = XS_PERM_NONE },
                                      { .id = peer, .perms = XS_PERM_READ } };
    if (!xs_write(xs, XBT_NULL, QUEUE_READY, "1", 1) ||
        !xs_set_permissions(xs, XBT_NULL, QUEUE_READY, perm, 2))
        fail("cannot write %s: %s", QUEUE_READY, strerror(errno));
    char pre[16];
    snprintf(pre, sizeof(pre), "%u-", peer); /* knock nodes are named DOMID-ID */
    double end = now_s() + 60, knocked = 0;
    while (now_s() < end && (!knocked || now_s() < knocked + QUEUE_HOLD_S)) {
        idc_context_dispatch(S.ctx, 100);
        unsigned n = 0;
        char **e = knocked
                       ? NULL
                       : xs_directory(xs, XBT_NULL, "/local/domain/0/data/idc/idcxen-queue/fe", &n);
        for (unsigned i = 0; e && i < n; i++)
            if (!strncmp(e[i], pre, strlen(pre)))
                knocked = now_s();
        free(e);
    }
    xs_rm(xs, XBT_NULL, QUEUE_READY);
    xs_close(xs);
    if (!knocked)
        fail("domain %u never knocked", peer);
    if (S.disconnects)
        fail("the holder lost its connection");
    pass("held the connection %d s while domain %u waited", QUEUE_HOLD_S, peer);
    /* One owner across a restart: the backend is killed and restarted while PEER keeps
       knocking; the holder, which had the service, must get it back before PEER does. */
    begin("fe_owner_after_restart");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    pid = fork();
    if (pid == 0)
        plain_backend(addr);
    if (!wait_for(&S.connects, 2, 15000))
        fail("the holder did not get the restarted backend back (disconnects %d, last error %s)",
             S.disconnects, idc_strerror(idc_endpoint_last_error(&S.ep, NULL, 0)));
    double back = now_s();
    while (now_s() < back + QUEUE_HOLD_S / 2)
        idc_context_dispatch(S.ctx, 100);
    if (S.disconnects != 1 || S.connects != 2)
        fail("the holder lost the service again (disconnects %d, connects %d)", S.disconnects,
             S.connects);
    idc_endpoint_destroy(&S.ep, NULL);
    for (int i = 0; i < 20 && idc_endpoint_state(&S.ep) != IDC_EP_UNUSED; i++)
        idc_context_dispatch(S.ctx, 50);
    idc_context_destroy(S.ctx);
    S.ctx = NULL;
    reap(pid, "the restarted backend");
    pass("reconnected first after the backend's kill -9 and restart, held it %d s more",
         QUEUE_HOLD_S / 2);
}

/* PEER's side: the service appears, our knock waits while dom0's frontend holds the backend
   (the backend acknowledges our pings, so the service must not disappear), then we connect. */
static void queue_client(unsigned peer)
{
    set_suite(peer, other_side(peer));
    begin("fe_queued");
    struct xs_handle *xs = xs_open(0);
    if (!xs)
        fail("xs_open: %s", strerror(errno));
    bool ready = false;
    for (int i = 0; i < 600 && !ready; i++) {
        unsigned len;
        char *v = xs_read(xs, XBT_NULL, QUEUE_READY, &len);
        ready = v != NULL;
        free(v);
        if (!ready)
            usleep(100000);
    }
    xs_close(xs);
    if (!ready)
        fail("dom0's holder never connected");
    side_open("xen:0/idcxen-queue", IDC_ROLE_FRONTEND);
    if (!wait_for(&S.appears, 1, 60000))
        fail("the service never appeared");
    double t_appear = now_s(), t_busy = 0;
    int seen = 0, last = 0; /* errors the endpoint reported, as a bit set of -IDC_ERR_* */
    double gap = 0;         /* the longest dispatch call */
    /* The service is exclusive: refused at once as busy (the reason is there for the driver),
       then connected once the holder has left. */
    for (double end = t_appear + 60; S.connects < 1 && now_s() < end;) {
        double t = now_s();
        idc_context_dispatch(S.ctx, 50);
        gap = now_s() - t > gap ? now_s() - t : gap;
        int e = idc_endpoint_last_error(&S.ep, NULL, 0);
        if (e != last && e < 0 && e > -31)
            seen |= 1 << -e;
        last = e;
        if (!t_busy && e == IDC_ERR_BUSY)
            t_busy = now_s();
    }
    if (S.connects < 1)
        fail("never connected (appears %d, disappears %d, state %d)", S.appears, S.disappears,
             (int)idc_endpoint_state(&S.ep));
    double waited = now_s() - t_appear;
    if (!t_busy)
        fail("the busy service did not refuse with IDC_ERR_BUSY (errors seen: mask 0x%x of "
             "-IDC_ERR_*; appears %d, disappears %d; longest dispatch %.2f s)",
             (unsigned)seen, S.appears, S.disappears, gap);
    /* dom0 kills and restarts the backend once while we wait (fe_owner_after_restart): the
       service may go away and come back that once, never otherwise */
    if (S.appears != S.disappears + 1 || S.appears > 2)
        fail("the busy service flapped: appears %d, disappears %d", S.appears, S.disappears);
    if (waited < QUEUE_HOLD_S / 2)
        fail("connected after %.1f s: the holder did not hold the backend", waited);
    echo_bye();
    pass("refused as busy after %.2f s, present, connected after %.1f s", t_busy - t_appear,
         waited);
    idc_endpoint_destroy(&S.ep, NULL);
    idc_context_dispatch(S.ctx, 0);
    idc_context_destroy(S.ctx);
}

/* ------------------------------------------------------------------ main */

static const char *const fe_checks[] = {
    "fe_connect",       "fe_txn_echo",         "fe_rtt", "fe_messages", "fe_disconnect_reconnect",
    "fe_backend_crash", "fe_backend_withdraw",
};
static const char *const be_checks[] = {
    "be_publish_connect",
    "be_reconnect",
    "be_restart_connect",
    "be_withdraw",
};

static void list(void)
{
    static const char *const suites[] = { "idcxen_dom0_dom0", "idcxen_domu_dom0",
                                          "idcxen_dom0_domu" };
    for (size_t i = 0; i < 3; i++) {
        REPORT_LIST(suites[i], fe_checks);
        REPORT_LIST(suites[i], be_checks);
    }
    printf("idcxen_dom0_dom0::be_event_storm\nidcxen_dom0_dom0::be_corrupt_index\n");
    printf("idcxen_dom0_dom0::hostile_storm_sent\nidcxen_dom0_dom0::hostile_corrupt_sent\n");
    printf("idcxen_dom0_domu::fe_not_allowed\n");
    printf("idcxen_dom0_domu::be_domain_destroyed\n");
    printf("idcxen_domu_dom0::fe_domain_destroyed\n");
    printf("idcxen_dom0_domu::be_domain_destroyed_republish\n");
    printf("idcxen_dom0_dom0::fe_stale_service\nidcxen_dom0_dom0::fe_stale_republish\n");
    printf("idcxen_dom0_domu::fe_queue_holder\nidcxen_dom0_domu::fe_queued\n");
    printf("idcxen_dom0_domu::fe_owner_after_restart\n");
}

static unsigned parse_dom(const char *s)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || v > 0x7fef) {
        fprintf(stderr, "bad domid %s\n", s);
        exit(2);
    }
    return (unsigned)v;
}

int main(int argc, char **argv)
{
    report_init("idcxen");
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 2 && !strcmp(argv[1], "list")) {
        list();
        return 0;
    }
    report_watchdog(WATCHDOG_S);
    if (argc >= 2 && !strcmp(argv[1], "local")) {
        set_suite(0, 0);
        pid_t pid = fork();
        if (pid == 0) {
            server(0, "local");
            return 0;
        }
        client_checks(0, "local");
        int st = 0;
        waitpid(pid, &st, 0);
        return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
    }
    if (argc == 5 && !strcmp(argv[1], "pair")) {
        unsigned peer = parse_dom(argv[3]), self = other_side(peer);
        if (!strcmp(argv[2], "server")) {
            set_suite(self, peer);
            server(peer, argv[4]);
            return 0;
        }
        if (!strcmp(argv[2], "client")) {
            set_suite(peer, self);
            client_checks(peer, argv[4]);
            return 0;
        }
    }
    if (argc == 3 && !strcmp(argv[1], "death-backend")) {
        alarm(0);
        death_backend(parse_dom(argv[2]));
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "death-frontend")) {
        alarm(0);
        alarm(170);
        death_frontend(parse_dom(argv[2]));
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "deny-server")) {
        alarm(400);
        deny_server(parse_dom(argv[2]));
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "deny-client")) {
        deny_client(parse_dom(argv[2]));
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "stale")) {
        stale();
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "queue-server")) {
        queue_server(parse_dom(argv[2]));
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "queue-client")) {
        queue_client(parse_dom(argv[2]));
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "hostile")) {
        hostile();
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "death-server")) {
        alarm(0);
        alarm(170);
        death_server(parse_dom(argv[2]));
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "death-client")) {
        alarm(0);
        death_client(parse_dom(argv[2]));
        return 0;
    }
    fprintf(stderr, "usage: idcxen list | local | pair server|client PEER TAG | "
                    "death-server PEER | death-client PEER\n");
    return 2;
}
