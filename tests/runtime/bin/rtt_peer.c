/* Peer program for the runtime suite: the "other process" in real-process tests.
 *
 *   rtt_peer --dir DIR --out FILE [--id N] [--proto VARIANT] [--max-txn N] [--max-msg N]
 *            [--serve NAME] [--connect NAME] [--mode echo|load|sym|mid]
 *            [--load N] [--hold N] [--op stamp|add|echo] [--expect-add K]
 *            [--depth D] [--duration MS] [--spin US]
 *
 * echo  (--serve):            backend answering every rtt opcode; sends HELLO on connect.
 * load  (--connect):          frontend keeping --load transactions in flight; the first --hold
 *                             of each connection are RTT_OP_HOLD; checks every result.
 * sym   (--serve, --connect): both roles at once; requests RTT_OP_CHAIN are answered at once
 *                             and spawn a follow-up transaction of depth-1 on the frontend.
 * mid   (--serve, --connect): middle of a stack: each RTT_OP_ADD from upstream is forwarded
 *                             downstream and answered (value + 1) only after that completes.
 *
 * Events go to --out as lines (see rtt.h). SIGTERM: destroy the endpoints, wait for their
 * done callbacks, write "exit", exit 0.
 */
#include "runtime/rtt.h"

#include <getopt.h>
#include <signal.h>

#define MAX_HELD  4096
#define MAX_SLOTS 1024
#define BACKLOG   (1u << 20)

static struct idc_context *ctx;
static const char *out;
static unsigned instance;
static const struct idc_protocol *proto = &rtt_proto;
static const char *mode = "echo";
static unsigned max_txn, max_msg, spin_us, fe_max_txn;
static unsigned load = 16, hold_n, depth = 8, expect_add = 1;
static uint64_t duration_ms = UINT64_MAX / 2; /* load phase length; default: until SIGTERM */
static int op = RTT_OP_STAMP;
static volatile sig_atomic_t term;
static int destroyed_count, endpoints;

struct pep {
    struct idc_endpoint ep;
    const char *what;
    int connected;
    uint64_t gen;
};
static struct pep be, fe;

/* counters, reported in "stat" lines */
static uint64_t n_sub, n_ok, n_err, n_disc, n_bad, n_handled, n_msgs, n_again, n_started;
/* chain continuations dropped because the backlog was full: the application's own bound (the
   runtime moves chains faster than a bounded application can queue their fan-out) */
static uint64_t n_shed;
static uint64_t n_outstanding;

static void on_term(int sig)
{
    (void)sig;
    term = 1;
}

static void log_cb(void *arg, int level, const char *msg)
{
    (void)arg;
    rtt_event(out, "log %d %s", level, msg);
}

static unsigned bl_len(void);
static unsigned n_held;
static void stat_line(void)
{
    rtt_event(out,
              "stat sub=%llu ok=%llu err=%llu disc=%llu bad=%llu handled=%llu "
              "outstanding=%llu backlog=%u started=%llu msgs=%llu again=%llu held=%u shed=%llu",
              (unsigned long long)n_sub, (unsigned long long)n_ok, (unsigned long long)n_err,
              (unsigned long long)n_disc, (unsigned long long)n_bad, (unsigned long long)n_handled,
              (unsigned long long)n_outstanding, bl_len(), (unsigned long long)n_started,
              (unsigned long long)n_msgs, (unsigned long long)n_again, n_held,
              (unsigned long long)n_shed);
}

/* ------------------------------------------------------------------ held requests (echo) */
struct held {
    struct idc_request *req;
    size_t len;
    uint8_t data[RTT_MAX_FRAME];
};
static struct held *held;

static void release_held(int discard)
{
    for (unsigned i = 0; i < n_held; i++) {
        int rc = idc_request_complete(held[i].req, 0, held[i].data, held[i].len);
        if (rc != 0 && !(discard && rc == IDC_ERR_DISCONNECTED))
            rtt_event(out, "error release rc=%d", rc);
    }
    n_held = 0;
}

/* ------------------------------------------------------------------ client slots (load, sym, mid) */
struct slot {
    struct idc_txn txn;
    int busy;
    uint64_t gen, seq, value;
    struct idc_request *up; /* mid: upstream request waiting on this one */
    int up_gone;
};
static struct slot *slots;
static uint64_t seq;

/* backlog of work for the frontend (sym: chain depths; mid: upstream requests) */
struct work {
    struct rtt_chain chain;
    struct idc_request *up;
    uint64_t value;
};
static struct work *backlog;
static unsigned bl_head, bl_tail;
static unsigned bl_len(void)
{
    return bl_tail - bl_head;
}
static uint32_t cur_instance; /* instance * 1000 + connection number (backend) */

static struct slot *slot_get(void)
{
    for (unsigned i = 0; i < MAX_SLOTS; i++)
        if (!slots[i].busy)
            return &slots[i];
    return NULL;
}

static void txn_done(struct idc_txn *txn, int status, const void *res, size_t len);

/* submit from one slot; returns the idc status */
static int submit_slot(struct slot *s, uint16_t opcode, const void *p, size_t len)
{
    s->txn.done = txn_done;
    s->txn.user = s;
    int rc = idc_submit_transaction(&fe.ep, &s->txn, opcode, p, len);
    if (rc == 0) {
        s->busy = 1;
        n_sub++;
        n_outstanding++;
    } else if (rc == IDC_ERR_AGAIN) {
        n_again++;
    } else if (rc != IDC_ERR_DISCONNECTED) {
        rtt_event(out, "error submit rc=%d", rc);
        n_bad++;
    }
    return rc;
}

static int load_active(void);

static void pump(void)
{
    if (!fe.connected)
        return;
    if (strcmp(mode, "load") == 0) {
        while (n_outstanding < load && load_active()) {
            struct slot *s = slot_get();
            if (!s)
                return;
            s->gen = fe.gen;
            s->seq = ++seq;
            int rc;
            if (s->seq <= hold_n) {
                struct rtt_stamp st = { s->gen, s->seq, 0, RTT_STAMP_MAGIC };
                rc = submit_slot(s, RTT_OP_HOLD, &st, sizeof st);
            } else if (op == RTT_OP_ADD) {
                uint8_t b[8];
                s->value = s->seq * 1000u;
                rtt_put64(b, s->value);
                rc = submit_slot(s, RTT_OP_ADD, b, sizeof b);
            } else {
                struct rtt_stamp st = { s->gen, s->seq, 0, RTT_STAMP_MAGIC };
                rc = submit_slot(s, (uint16_t)op, &st, sizeof st);
            }
            if (rc != 0)
                return;
        }
        return;
    }
    /* sym and mid: drain the backlog first */
    while (bl_len() > 0) {
        struct work *w = &backlog[bl_head % BACKLOG];
        struct slot *s = slot_get();
        if (!s)
            return;
        int rc;
        if (strcmp(mode, "mid") == 0) {
            uint8_t b[8];
            rtt_put64(b, w->value);
            s->value = w->value;
            s->up = w->up;
            s->up_gone = 0;
            rc = submit_slot(s, RTT_OP_ADD, b, sizeof b);
        } else {
            s->value = w->chain.depth;
            s->up = NULL;
            rc = submit_slot(s, RTT_OP_CHAIN, &w->chain, sizeof w->chain);
        }
        if (rc != 0)
            return;
        bl_head++;
    }
    /* sym: start new chains while the load phase lasts */
    while (strcmp(mode, "sym") == 0 && load_active() && n_outstanding < load) {
        struct slot *s = slot_get();
        if (!s)
            return;
        struct rtt_chain c = { depth, instance, ++n_started };
        s->value = depth;
        s->up = NULL;
        if (submit_slot(s, RTT_OP_CHAIN, &c, sizeof c) != 0) {
            n_started--;
            return;
        }
    }
}

static uint64_t t_start;
static int load_started; /* t_start reset at the first connection */
static int load_active(void)
{
    return !term && rtt_now_ms() - t_start < duration_ms;
}

static void txn_done(struct idc_txn *txn, int status, const void *res, size_t len)
{
    struct slot *s = txn->user;
    if (!s->busy) {
        rtt_event(out, "error done-twice seq=%llu", (unsigned long long)s->seq);
        n_bad++;
        return;
    }
    s->busy = 0;
    n_outstanding--;
    if (status == IDC_ERR_DISCONNECTED) {
        n_disc++;
    } else if (status != 0) {
        n_err++;
        rtt_event(out, "error status=%d", status);
    } else if (strcmp(mode, "load") == 0 && op == RTT_OP_ADD && s->seq > hold_n) {
        if (len != 8 || rtt_get64(res) != s->value + expect_add) {
            n_bad++;
            rtt_event(out, "error add-result len=%zu got=%llu want=%llu", len,
                      len == 8 ? (unsigned long long)rtt_get64(res) : 0ull,
                      (unsigned long long)(s->value + expect_add));
        } else {
            n_ok++;
        }
    } else if (strcmp(mode, "load") == 0) {
        struct rtt_stamp st;
        if (len != sizeof st) {
            n_bad++;
            rtt_event(out, "error result-len %zu", len);
        } else {
            memcpy(&st, res, sizeof st);
            if (st.gen != s->gen || st.seq != s->seq || st.magic != RTT_STAMP_MAGIC) {
                n_bad++;
                rtt_event(out, "error stale gen=%llu/%llu seq=%llu/%llu",
                          (unsigned long long)st.gen, (unsigned long long)s->gen,
                          (unsigned long long)st.seq, (unsigned long long)s->seq);
            } else {
                n_ok++;
            }
        }
    } else if (strcmp(mode, "mid") == 0) {
        n_ok++;
    } else {
        struct rtt_chain c;
        if (len != sizeof c || (memcpy(&c, res, sizeof c), c.depth != s->value)) {
            n_bad++;
            rtt_event(out, "error chain-result");
        } else {
            n_ok++;
        }
    }
    if (strcmp(mode, "mid") == 0 && s->up && !s->up_gone) {
        /* answer upstream now that downstream finished */
        int rc;
        if (status == 0 && len == 8) {
            uint8_t b[8];
            rtt_put64(b, rtt_get64(res) + 1);
            rc = idc_request_complete(s->up, 0, b, sizeof b);
        } else {
            rc = idc_request_complete(s->up, status > 0 ? status : 100, NULL, 0);
        }
        if (rc != 0 && rc != IDC_ERR_DISCONNECTED)
            rtt_event(out, "error complete-up rc=%d", rc);
    }
    s->up = NULL;
    pump();
}

/* ------------------------------------------------------------------ pongs */
#define MAX_PONGS 8192
static struct {
    uint8_t data[64];
    size_t len;
} pongs[MAX_PONGS];
static unsigned pong_head, pong_tail;

static void send_pongs(struct idc_endpoint *ep)
{
    while (pong_head != pong_tail) {
        int rc = idc_send_message(ep, RTT_OP_PONG, pongs[pong_head % MAX_PONGS].data,
                                  pongs[pong_head % MAX_PONGS].len);
        if (rc == IDC_ERR_AGAIN) {
            n_again++;
            return;
        }
        pong_head++; /* sent, or the connection is gone */
    }
}

/* ------------------------------------------------------------------ endpoint callbacks */
static struct pep *pep_of(struct idc_endpoint *ep)
{
    return idc_endpoint_user(ep);
}

static void cb_appear(struct idc_endpoint *ep)
{
    rtt_event(out, "appear %s", pep_of(ep)->what);
}

static void cb_connect(struct idc_endpoint *ep)
{
    struct pep *p = pep_of(ep);
    p->connected = 1;
    p->gen++;
    rtt_event(out, "connect %s version=%u", p->what, idc_endpoint_version(ep));
    if (p == &be) {
        cur_instance = instance * 1000u + (uint32_t)p->gen;
        struct rtt_hello h = { cur_instance, (uint32_t)getpid() };
        int rc = idc_send_message(ep, RTT_OP_HELLO, &h, sizeof h);
        if (rc != 0)
            rtt_event(out, "error hello rc=%d", rc);
    } else {
        if (strcmp(mode, "load") == 0)
            seq = 0; /* HOLD transactions come first on each connection */
        /* --duration runs from the first connection, not from the start: on a busy machine a
           fabric connection (provider loading, registry session) can take the whole phase */
        if (!load_started)
            t_start = rtt_now_ms();
        load_started = 1;
        pump();
    }
}

static void cb_disconnect(struct idc_endpoint *ep)
{
    struct pep *p = pep_of(ep);
    p->connected = 0;
    if (p == &be) {
        pong_head = pong_tail;
        release_held(1);
        if (strcmp(mode, "mid") == 0) {
            /* upstream gone: answer (and drop) everything still waiting downstream */
            for (unsigned i = 0; i < MAX_SLOTS; i++)
                if (slots[i].busy && slots[i].up && !slots[i].up_gone) {
                    idc_request_complete(slots[i].up, 100, NULL, 0);
                    slots[i].up_gone = 1;
                }
            while (bl_len() > 0) {
                idc_request_complete(backlog[bl_head % BACKLOG].up, 100, NULL, 0);
                bl_head++;
            }
        }
    }
    rtt_event(out, "disconnect %s outstanding=%llu", p->what,
              p == &fe ? (unsigned long long)n_outstanding : 0ull);
    idc_endpoint_disconnect_done(ep);
}

static void cb_disappear(struct idc_endpoint *ep)
{
    rtt_event(out, "disappear %s", pep_of(ep)->what);
}

static void cb_writable(struct idc_endpoint *ep)
{
    if (pep_of(ep) == &fe)
        pump();
    else
        send_pongs(ep);
}

/* ------------------------------------------------------------------ remote buffers */
struct xfer {
    struct rtt_rbuf_msg m;
    uint8_t *buf;
};

static void xfer_done(void *arg, int status)
{
    struct xfer *x = arg;
    const char *data = "none";
    if (status == 0 && x->m.action == RTT_RBUF_READ) {
        data = "ok";
        for (uint64_t i = 0; i < x->m.len; i++)
            if (x->buf[i] != rtt_pattern(x->m.seed, x->m.offset + i)) {
                data = "bad";
                break;
            }
    }
    rtt_event(out, "rbuf tag=%u status=%d data=%s", x->m.tag, status, data);
    free(x->buf);
    free(x);
}

static int rbuf_message(struct idc_endpoint *ep, const void *p, size_t len)
{
    struct xfer *x = calloc(1, sizeof *x);
    if (!x || len != sizeof x->m) {
        free(x);
        idc_endpoint_protocol_error(ep, "rtt_peer: RBUF payload of %zu bytes", len);
        return IDC_ERR_PROTO;
    }
    memcpy(&x->m, p, sizeof x->m);
    if (x->m.hops > 0) {
        /* forward the reference on the other endpoint, untouched */
        x->m.hops--;
        struct pep *other = pep_of(ep) == &be ? &fe : &be;
        int rc = other->connected ? idc_send_message(&other->ep, RTT_OP_RBUF, &x->m, sizeof x->m)
                                  : IDC_ERR_DISCONNECTED;
        rtt_event(out, "forward tag=%u rc=%d", x->m.tag, rc);
        free(x);
        return 0;
    }
    if (x->m.action == RTT_RBUF_OFFER) {
        void *mem = NULL;
        struct idc_rbuf own;
        int rc = idc_buffer_alloc(ctx, x->m.len, &mem);
        if (rc == 0) {
            for (uint64_t i = 0; i < x->m.len; i++)
                ((uint8_t *)mem)[i] = rtt_pattern(x->m.seed, i);
            rc = idc_buffer_register(ctx, mem, x->m.len, (uint32_t)x->m.offset, &own);
        }
        if (rc == 0) {
            idc_rbuf_encode(&own, x->m.wire);
            x->m.action = 0;
            rc = idc_send_message(ep, RTT_OP_RBUF, &x->m, sizeof x->m);
        }
        rtt_event(out, "offer tag=%u rc=%d", x->m.tag, rc);
        free(x);
        return 0;
    }
    struct idc_rbuf rb;
    int rc = idc_rbuf_decode(&rb, x->m.wire);
    if (rc != 0 || x->m.len > (64u << 20)) {
        rtt_event(out, "rbuf tag=%u status=%d data=none decode", x->m.tag, rc ? rc : IDC_ERR_INVAL);
        free(x);
        return 0;
    }
    x->buf = malloc(x->m.len ? x->m.len : 1);
    if (x->m.action == RTT_RBUF_WRITE) {
        for (uint64_t i = 0; i < x->m.len; i++)
            x->buf[i] = rtt_pattern(x->m.seed, x->m.offset + i);
        rc = idc_send_to_remote_buffer(ctx, &rb, x->m.offset, x->buf, x->m.len, xfer_done, x);
    } else {
        rc = idc_receive_from_remote_buffer(ctx, &rb, x->m.offset, x->buf, x->m.len, xfer_done, x);
    }
    if (rc != 0) {
        rtt_event(out, "rbuf tag=%u status=%d data=none sync", x->m.tag, rc);
        free(x->buf);
        free(x);
    }
    return 0;
}

static int cb_message(struct idc_endpoint *ep, uint16_t opcode, const void *p, size_t len)
{
    n_msgs++;
    switch (opcode) {
    case RTT_OP_RELEASE:
        release_held(0);
        return 0;
    case RTT_OP_PING:
        /* answered in order; queued while out of message credit (sent on writable) */
        if (len > sizeof pongs[0].data || pong_tail - pong_head == MAX_PONGS) {
            idc_endpoint_protocol_error(ep, "rtt_peer: PING of %zu bytes or too many", len);
            return IDC_ERR_PROTO;
        }
        memcpy(pongs[pong_tail % MAX_PONGS].data, p, len);
        pongs[pong_tail % MAX_PONGS].len = len;
        pong_tail++;
        send_pongs(ep);
        return 0;
    case RTT_OP_DROP: {
        int rc = idc_endpoint_disconnect(ep);
        if (rc != 0)
            rtt_event(out, "error drop rc=%d", rc);
        return 0;
    }
    case RTT_OP_RBUF:
        return rbuf_message(ep, p, len);
    case RTT_OP_HELLO:
    case RTT_OP_SINK:
    case RTT_OP_PONG:
        return 0;
    default:
        idc_endpoint_protocol_error(ep, "rtt_peer: unexpected message opcode %u", opcode);
        return IDC_ERR_PROTO;
    }
}

static int cb_txn(struct idc_endpoint *ep, struct idc_request *req, uint16_t opcode, const void *p,
                  size_t len)
{
    n_handled++;
    switch (opcode) {
    case RTT_OP_ECHO:
        return idc_request_complete(req, 0, p, len) == 0 ? 0 : 0;
    case RTT_OP_FAIL: {
        uint32_t code;
        if (len != sizeof code) {
            idc_endpoint_protocol_error(ep, "rtt_peer: FAIL payload of %zu bytes", len);
            return IDC_ERR_PROTO;
        }
        memcpy(&code, p, sizeof code);
        idc_request_complete(req, (int)code, NULL, 0);
        return 0;
    }
    case RTT_OP_HOLD:
        if (n_held == MAX_HELD || len > RTT_MAX_FRAME) {
            idc_request_complete(req, 99, NULL, 0);
            return 0;
        }
        held[n_held].req = req;
        held[n_held].len = len;
        memcpy(held[n_held].data, p, len);
        n_held++;
        return 0;
    case RTT_OP_STAMP: {
        struct rtt_stamp st;
        if (len != sizeof st) {
            idc_endpoint_protocol_error(ep, "rtt_peer: STAMP payload of %zu bytes", len);
            return IDC_ERR_PROTO;
        }
        memcpy(&st, p, sizeof st);
        st.instance = cur_instance;
        idc_request_complete(req, 0, &st, sizeof st);
        return 0;
    }
    case RTT_OP_ADD: {
        if (len != 8) {
            idc_endpoint_protocol_error(ep, "rtt_peer: ADD payload of %zu bytes", len);
            return IDC_ERR_PROTO;
        }
        uint64_t v = rtt_get64(p);
        if (strcmp(mode, "mid") == 0) {
            if (bl_len() >= BACKLOG) {
                idc_request_complete(req, 98, NULL, 0);
                return 0;
            }
            struct work *w = &backlog[bl_tail++ % BACKLOG];
            w->up = req;
            w->value = v;
            pump();
            return 0;
        }
        uint8_t b[8];
        rtt_put64(b, v + 1);
        idc_request_complete(req, 0, b, sizeof b);
        return 0;
    }
    case RTT_OP_BADPROTO:
        idc_request_complete(req, 0, NULL, 0);
        idc_endpoint_protocol_error(ep, "rtt_peer: BADPROTO requested");
        return IDC_ERR_PROTO;
    case RTT_OP_CHAIN: {
        struct rtt_chain c;
        if (len != sizeof c) {
            idc_endpoint_protocol_error(ep, "rtt_peer: CHAIN payload of %zu bytes", len);
            return IDC_ERR_PROTO;
        }
        memcpy(&c, p, sizeof c);
        int rc = idc_request_complete(req, 0, &c, sizeof c);
        if (rc != 0)
            rtt_event(out, "error chain-complete rc=%d", rc);
        if (c.depth > 0 && fe.connected) {
            if (bl_len() >= BACKLOG) {
                n_shed++; /* the chain ends here; its request was answered */
                return 0;
            }
            c.depth--;
            backlog[bl_tail++ % BACKLOG].chain = c;
            pump();
        }
        /* a one-way message back as well, best effort */
        if (idc_send_message(ep, RTT_OP_SINK, &c, sizeof c) != 0)
            n_again++;
        return 0;
    }
    case RTT_OP_BIG: {
        static uint8_t big[RTT_MAX_FRAME];
        for (size_t i = 0; i < sizeof big; i++)
            big[i] = rtt_pattern(7, i);
        idc_request_complete(req, 0, big, sizeof big);
        return 0;
    }
    default:
        idc_endpoint_protocol_error(ep, "rtt_peer: unexpected transaction opcode %u", opcode);
        return IDC_ERR_PROTO;
    }
}

static const struct idc_endpoint_ops ops = {
    .appear = cb_appear,
    .connect = cb_connect,
    .disconnect = cb_disconnect,
    .disappear = cb_disappear,
    .writable = cb_writable,
    .handle_message = cb_message,
    .handle_transaction = cb_txn,
};

static void destroyed(struct idc_endpoint *ep)
{
    /* the endpoint is already unused here (idc_endpoint_user is NULL): use the storage */
    rtt_event(out, "destroyed %s", ((struct pep *)(void *)ep)->what);
    destroyed_count++;
}

static const char *test_dir; /* --dir: the test's directory */

static void start(struct pep *p, const char *what, enum idc_role role, const char *name)
{
    char addr[128];
    const char *xen = getenv("IDC_TEST_XEN"); /* see rtt_address in tests/runtime/util.h */
    const char *fabric = getenv("IDC_TEST_FABRIC");
    const char *slash = test_dir ? strrchr(test_dir, '/') : NULL;
    if (fabric && *fabric)
        snprintf(addr, sizeof addr, "fabric:%s.%s", slash ? slash + 1 : "rtt", name);
    else if (xen && *xen && role == IDC_ROLE_FRONTEND)
        snprintf(addr, sizeof addr, "xen:%s/%s", xen, name);
    else if (xen && *xen)
        snprintf(addr, sizeof addr, "xen:%s", name);
    else
        snprintf(addr, sizeof addr, "shm:%s", name);
    p->what = what;
    struct idc_endpoint_config cfg = {
        .protocol = proto,
        .role = role,
        .address = addr,
        .ops = &ops,
        .user = p,
        .max_transactions = role == IDC_ROLE_FRONTEND && fe_max_txn ? fe_max_txn : max_txn,
        .max_messages = max_msg,
        .spin_us = spin_us,
    };
    idc_endpoint_create(&p->ep, ctx, &cfg);
    endpoints++;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *serve = NULL, *conn = NULL;
    static const struct option lo[] = {
        { "dir", 1, 0, 'd' },        { "out", 1, 0, 'o' },        { "id", 1, 0, 'i' },
        { "proto", 1, 0, 'p' },      { "max-txn", 1, 0, 't' },    { "max-msg", 1, 0, 'm' },
        { "serve", 1, 0, 's' },      { "connect", 1, 0, 'c' },    { "mode", 1, 0, 'M' },
        { "load", 1, 0, 'l' },       { "hold", 1, 0, 'H' },       { "op", 1, 0, 'O' },
        { "expect-add", 1, 0, 'e' }, { "depth", 1, 0, 'D' },      { "duration", 1, 0, 'T' },
        { "spin", 1, 0, 'S' },       { "fe-max-txn", 1, 0, 'F' }, { 0, 0, 0, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = test_dir = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'i':
            instance = (unsigned)strtoul(optarg, NULL, 0);
            break;
        case 'p':
            proto = rtt_proto_by_name(optarg);
            if (!proto) {
                fprintf(stderr, "rtt_peer: unknown protocol variant %s\n", optarg);
                return 2;
            }
            break;
        case 't':
            max_txn = (unsigned)strtoul(optarg, NULL, 0);
            break;
        case 'm':
            max_msg = (unsigned)strtoul(optarg, NULL, 0);
            break;
        case 's':
            serve = optarg;
            break;
        case 'c':
            conn = optarg;
            break;
        case 'M':
            mode = optarg;
            break;
        case 'l':
            load = (unsigned)strtoul(optarg, NULL, 0);
            break;
        case 'H':
            hold_n = (unsigned)strtoul(optarg, NULL, 0);
            break;
        case 'O':
            op = strcmp(optarg, "add") == 0    ? RTT_OP_ADD
                 : strcmp(optarg, "echo") == 0 ? RTT_OP_ECHO
                                               : RTT_OP_STAMP;
            break;
        case 'e':
            expect_add = (unsigned)strtoul(optarg, NULL, 0);
            break;
        case 'D':
            depth = (unsigned)strtoul(optarg, NULL, 0);
            break;
        case 'T':
            duration_ms = strtoull(optarg, NULL, 0);
            break;
        case 'S':
            spin_us = (unsigned)strtoul(optarg, NULL, 0);
            break;
        case 'F':
            fe_max_txn = (unsigned)strtoul(optarg, NULL, 0);
            break;
        default:
            return 2;
        }
    }
    if (load > MAX_SLOTS)
        load = MAX_SLOTS;
    held = calloc(MAX_HELD, sizeof *held);
    slots = calloc(MAX_SLOTS, sizeof *slots);
    backlog = calloc(BACKLOG, sizeof *backlog);
    if (!held || !slots || !backlog)
        return 3;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* $RTT_SHM_DIR: this node's own runtime directory when the test runs the peer on another
       (check-fabric's namespaces), so that shm can carry nothing between the nodes; the event
       files stay in the test's directory. */
    const char *node_dir = getenv("RTT_SHM_DIR");
    struct idc_context_options o = { .shm_dir = node_dir && *node_dir ? node_dir : dir,
                                     .log = log_cb,
                                     .log_arg = NULL };
    int rc = idc_context_create(&ctx, &o);
    if (rc != 0) {
        rtt_event(out, "error context rc=%d", rc);
        return 4;
    }
    t_start = rtt_now_ms();
    if (serve)
        start(&be, "serve", IDC_ROLE_BACKEND, serve);
    if (conn)
        start(&fe, "connect", IDC_ROLE_FRONTEND, conn);
    rtt_event(out, "ready pid=%d", (int)getpid());

    uint64_t last_stat = 0;
    int destroying = 0;
    uint64_t t_term = 0;
    for (;;) {
        rc = idc_context_dispatch(ctx, 20);
        if (rc < 0) {
            rtt_event(out, "error dispatch rc=%d", rc);
            break;
        }
        pump();
        uint64_t now = rtt_now_ms();
        if (now - last_stat >= 50) {
            stat_line();
            last_stat = now;
        }
        if (term && !destroying) {
            destroying = 1;
            t_term = now;
            stat_line();
            if (serve)
                idc_endpoint_destroy(&be.ep, destroyed);
            if (conn)
                idc_endpoint_destroy(&fe.ep, destroyed);
        }
        if (destroying && destroyed_count == endpoints)
            break;
        if (destroying && now - t_term > 5000) {
            rtt_event(out, "error destroy-timeout");
            break;
        }
    }
    stat_line();
    idc_context_destroy(ctx);
    rtt_event(out, "exit");
    free(held);
    free(slots);
    free(backlog);
    return 0;
}
