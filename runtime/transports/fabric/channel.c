/* channel.c - fabric endpoints: "fabric:NAME" (backend: "fabric:NAME?allow=NODE[,NODE...]").
 *
 * Discovery through the registry (zk.c), a handshake of three records (proto.h), then the ring
 * mirror: each side keeps both rings of the ring.h layout in its own memory and this file plays
 * the peer for them. The core produces frames into the tx ring and asks for `notify` (the tx
 * ring's prod_event is kept one past what was sent, so every new byte asks); notify sends the
 * new bytes as DATA records. A DATA record's bytes are copied into the rx ring, after checking
 * that they continue the stream and fit the space our consumer freed, and the core is kicked.
 * The consumer indexes travel back in every DATA header and land in the tx ring's control block,
 * where the core validates them as it would a peer's shared memory. So the core's frame checks,
 * credits and epochs apply unchanged.
 *
 * Liveness: libfabric never notices a silent peer, so each side sends a DATA record at least
 * every heartbeat/4 and disconnects a peer silent for the heartbeat bound (default 3 s).
 * The registry is a second signal: when it says a connected backend's record is gone (its
 * session expired: the process or machine is frozen or dead, or cut off), the frontend probes
 * it (DATA with FAB_F_PROBE, answered at once) and disconnects it unless a record arrives within
 * FAB_PROBE_MS. Only a live registry reports a record gone; losing our own registry
 * connection reports nothing, and a backend that lost only its registry session answers.
 * A connection's records carry the receiver's random 64-bit token; a new connection has new
 * tokens and a new epoch, so nothing of an old one is taken for the next.
 *
 * Policy: a backend address may carry ?allow=NODE[,NODE...]: HELLOs from other node identities
 * are refused with IDC_ERR_PERM (the identity is the one the frontend declares; see
 * docs/fabric.md for what that trusts).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fabric.h"

enum fab_st {
    ST_IDLE = 0,
    ST_HELLO,      /* frontend: HELLO sent, waiting for WELCOME or REFUSE */
    ST_READY_WAIT, /* backend: WELCOME sent, waiting for the first DATA */
    ST_UP,
};

struct fab_ep {
    enum fab_st st;
    bool have_peer;   /* peer holds a use of the address cache */
    bool present;     /* frontend: a service record is published */
    bool refused;     /* frontend: refused for good: wait for another record */
    bool busy_logged; /* one log line per busy period */
    bool published;   /* backend */
    bool blocked;     /* DATA waiting for a send buffer */
    bool peer_dead;   /* went silent or a send failed: forget its address at release */
    uint64_t peer;
    uint64_t token, peer_token;
    uint32_t epoch_next;
    uint32_t tx_sent, rx_prod;  /* ring bytes sent / received */
    uint32_t rx_pub;            /* received bytes published to the core (whole frames) */
    uint32_t ack_cons, ack_msg; /* our rx consumer indexes last sent */
    uint64_t deadline_ns;       /* handshake */
    uint64_t retry_ns;          /* frontend: next attempt (0: none) */
    uint64_t last_rx_ns, last_tx_ns;
    uint64_t probe_ns;    /* a probe is out: disconnect at this time without a record (0: none) */
    unsigned char *rings; /* tx ring, then rx ring (ring.h layout, private memory) */
    struct idc_chan ch;
    uint32_t rec_addrlen;
    uint8_t rec_addr[FAB_ADDR_MAX];
    char rec_node[FAB_NODE_MAX + 1];
    struct idc_log_limit refusals;
};
_Static_assert(sizeof(struct fab_ep) <= sizeof(((struct idc_link *)0)->priv), "fab_ep fits");

static struct fab_ep *F(struct idc_link *l)
{
    return IDC_LINK_PRIV(struct fab_ep, l);
}

static struct idc_ring_ctrl *tx_ctrl(struct fab_ep *f)
{
    return (struct idc_ring_ctrl *)f->ch.tx_mem;
}

static struct idc_ring_ctrl *rx_ctrl(struct fab_ep *f)
{
    return (struct idc_ring_ctrl *)f->ch.rx_mem;
}

/* The service name: the link's name up to '?'. */
static void service_of(const struct idc_link *l, char *out, size_t n)
{
    size_t len = strcspn(l->name, "?");
    if (len >= n)
        len = n - 1;
    memcpy(out, l->name, len);
    out[len] = 0;
}

static bool is_service(const struct idc_link *l, const char *name)
{
    size_t len = strcspn(l->name, "?");
    return strlen(name) == len && memcmp(l->name, name, len) == 0;
}

static uint64_t new_token(void)
{
    uint64_t t = 0;
    while (!t)
        idc__random(&t, sizeof(t));
    return t;
}

static uint32_t min32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/* ------------------------------------------------------------------------ the ring mirror */

static void peer_release(struct idc_link *l)
{
    struct fab_ep *f = F(l);
    if (f->have_peer)
        fab_peer_put(l->ctx, f->peer, f->peer_dead);
    f->have_peer = false;
    f->peer_dead = false;
}

static void rings_free(struct fab_ep *f)
{
    free(f->rings);
    f->rings = NULL;
    f->ch.tx_mem = f->ch.rx_mem = NULL;
}

/* Both rings for the negotiated limits, in our own memory. The transport is the peer of both:
   tx prod_event one past what was sent (every new byte asks for notify), rx credit_event one
   past the message credit last returned (every consumed message asks). */
static int rings_alloc(struct idc_link *l, uint32_t ring)
{
    struct fab_ep *f = F(l);
    size_t rb = idc_ring_bytes(ring);
    f->rings = aligned_alloc(IDC_RING_CTRL_SIZE, 2 * rb);
    if (!f->rings) {
        idc__log(l->ctx, IDC_LOG_ERROR, "%s: out of memory for rings of %u bytes", l->address,
                 ring);
        return IDC_ERR_NOMEM;
    }
    memset(f->rings, 0, 2 * rb);
    f->ch.tx_mem = f->rings;
    f->ch.rx_mem = f->rings + rb;
    f->ch.tx_size = f->ch.rx_size = ring;
    f->tx_sent = f->rx_prod = f->rx_pub = f->ack_cons = f->ack_msg = 0;
    tx_ctrl(f)->prod_event = 1;
    rx_ctrl(f)->credit_event = 1;
    return 0;
}

static void send_hdr(struct fab_ep *f, struct fab_hdr *h, uint32_t type)
{
    memset(h, 0, sizeof(*h));
    h->magic = FAB_MAGIC;
    h->type = type;
    h->dst = f->peer_token;
    h->epoch = f->ch.epoch;
}

/* Sends the tx ring's new bytes (and our consumer indexes); an empty DATA when nothing is new
   but force is set (heartbeat, READY, lagging acknowledgement). Hot path: no allocation. */
static void flush(struct idc_link *l, bool force)
{
    struct fab_ep *f = F(l);
    if (f->st != ST_UP || !f->rings)
        return;
    struct idc_ring_ctrl *tc = tx_ctrl(f), *rc = rx_ctrl(f);
    /* Acquire: the frame bytes below prod are complete (the core stored prod with release). */
    uint32_t prod = __atomic_load_n(&tc->prod, __ATOMIC_ACQUIRE);
    uint32_t size = f->ch.tx_size;
    const unsigned char *data = (const unsigned char *)f->ch.tx_mem + IDC_RING_CTRL_SIZE;
    f->blocked = false;
    do {
        uint32_t n = min32(prod - f->tx_sent, FAB_CHUNK);
        if (!n && !force)
            break;
        struct fab_hdr h;
        send_hdr(f, &h, FAB_DATA);
        /* Our consumer indexes: written by the core on this thread. */
        h.cons = __atomic_load_n(&rc->cons, __ATOMIC_RELAXED);
        h.msg_cons = __atomic_load_n(&rc->msg_cons, __ATOMIC_RELAXED);
        h.pos = f->tx_sent;
        h.len = n;
        uint32_t off = f->tx_sent & (size - 1);
        uint32_t first = min32(n, size - off);
        int r = fab_send(l->ctx, f->peer, f->token, &h, data + off, first, data, n - first);
        if (r == IDC_ERR_AGAIN) {
            f->blocked = true;
            break;
        }
        if (r < 0) {
            idc__link_down(l, IDC_ERR_IO, "cannot send to the peer");
            return;
        }
        f->tx_sent += n;
        f->ack_cons = h.cons;
        f->ack_msg = h.msg_cons;
        f->last_tx_ns = idc__now_ns();
        force = false;
    } while (f->tx_sent != prod);
    /* Plain stores: the core reads these on this thread (atomically, as it would a peer's). */
    __atomic_store_n(&tc->prod_event, f->tx_sent + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&rc->credit_event, f->ack_msg + 1, __ATOMIC_RELAXED);
}

void fab_notify(struct idc_link *l)
{
    struct fab_ep *f = F(l);
    struct idc_ring_ctrl *rc = f->rings ? rx_ctrl(f) : NULL;
    /* Credit returned (msg_cons moved) needs a record even when no byte is new. */
    flush(l, rc && __atomic_load_n(&rc->msg_cons, __ATOMIC_RELAXED) != f->ack_msg);
}

/* Where the received bytes stop holding whole frames: the core takes a published frame that is
   not all there for a malformed one, and records split frames (FAB_CHUNK). Only the length is
   read here; a length above the limit publishes everything, for the core to refuse. */
static uint32_t whole_frames(const struct fab_ep *f, const unsigned char *data)
{
    uint32_t pos = f->rx_pub, mask = f->ch.rx_size - 1;
    while (f->rx_prod - pos >= sizeof(struct idc_frame_hdr)) {
        uint32_t len;
        /* Frames start 8-aligned in a ring of a power-of-two size: the field never wraps. */
        memcpy(&len, data + ((pos + offsetof(struct idc_frame_hdr, length)) & mask), sizeof(len));
        if (len > f->ch.max_frame)
            return f->rx_prod;
        uint32_t fsize = idc_frame_size(len);
        if (f->rx_prod - pos < fsize)
            break;
        pos += fsize;
    }
    return pos;
}

/* A DATA record on a connection that is up: indexes, then bytes, then the core. */
static void on_data(struct idc_link *l, const struct fab_hdr *h, const unsigned char *p)
{
    struct fab_ep *f = F(l);
    struct idc_ring_ctrl *tc = tx_ctrl(f), *rc = rx_ctrl(f);
    bool moved = false;
    f->last_rx_ns = idc__now_ns();
    /* Any record after a probe was sent is life: records sent before the peer froze arrived
       long before the registry noticed (its session timeout). */
    f->probe_ns = 0;
    /* The peer's consumer indexes of our tx ring: the core validates them (ring.c) as it
       would a peer's shared memory, so they are stored as received. */
    if (tc->cons != h->cons || tc->msg_cons != h->msg_cons) {
        __atomic_store_n(&tc->cons, h->cons, __ATOMIC_RELAXED);
        __atomic_store_n(&tc->msg_cons, h->msg_cons, __ATOMIC_RELAXED);
        moved = true;
    }
    if (h->len) {
        uint32_t size = f->ch.rx_size;
        uint32_t cons = __atomic_load_n(&rc->cons, __ATOMIC_RELAXED);
        if (h->pos != f->rx_prod) {
            idc__link_down(l, IDC_ERR_PROTO, "ring bytes at %u, expected %u", h->pos, f->rx_prod);
            return;
        }
        if (h->len > size - (f->rx_prod - cons)) {
            idc__link_down(l, IDC_ERR_PROTO, "%u ring bytes where our consumer freed %u", h->len,
                           size - (f->rx_prod - cons));
            return;
        }
        unsigned char *data = (unsigned char *)f->ch.rx_mem + IDC_RING_CTRL_SIZE;
        uint32_t off = f->rx_prod & (size - 1);
        uint32_t first = min32(h->len, size - off);
        memcpy(data + off, p, first);
        memcpy(data, p + first, h->len - first);
        f->rx_prod += h->len;
        uint32_t whole = whole_frames(f, data);
        if (whole != f->rx_pub) {
            f->rx_pub = whole;
            /* Release: the bytes are in the ring before the core sees the new prod. */
            __atomic_store_n(&rc->prod, whole, __ATOMIC_RELEASE);
            moved = true;
        }
    }
    if (moved)
        idc__link_kick(l);
}

/* ------------------------------------------------------------------------------ lookups */

static struct idc_link *by_token(struct idc_context *ctx, uint64_t token)
{
    for (struct idc_link *l = idc__link_first(ctx, &idc_transport_fabric); l; l = idc__link_next(l))
        if (F(l)->token == token && F(l)->st != ST_IDLE)
            return l;
    return NULL;
}

/* ------------------------------------------------------------------------------ teardown */

static void send_bye(struct idc_link *l)
{
    struct fab_ep *f = F(l);
    if (f->have_peer && (f->st == ST_UP || f->st == ST_READY_WAIT)) {
        struct fab_hdr h;
        send_hdr(f, &h, FAB_BYE);
        fab_send(l->ctx, f->peer, f->token, &h, NULL, 0, NULL, 0);
    }
}

static void chan_release(struct idc_link *l, bool bye)
{
    struct fab_ep *f = F(l);
    if (bye)
        send_bye(l);
    rings_free(f);
    peer_release(l);
    f->st = ST_IDLE;
    f->blocked = false;
    f->probe_ns = 0;
    f->token = 0;
    f->peer_token = 0;
}

void fab_chan_close(struct idc_link *l)
{
    chan_release(l, true);
}

/* --------------------------------------------------------------------------- the frontend */

static void fe_try_connect(struct idc_link *l);

static void fe_retry(struct idc_link *l, uint32_t ms)
{
    struct fab_ep *f = F(l);
    chan_release(l, false);
    if (!idc__link_destroying(l))
        f->retry_ns = idc__now_ns() + (uint64_t)ms * 1000000u;
}

static int fe_hello(struct idc_link *l)
{
    struct fab_ep *f = F(l);
    struct fab_hello hl;
    memset(&hl, 0, sizeof(hl));
    hl.wire = FAB_WIRE;
    hl.min_version = l->proto->min_version;
    hl.max_version = l->proto->max_version;
    hl.max_frame = l->max_frame;
    hl.max_transactions = l->max_tx;
    hl.max_messages = l->max_msg;
    hl.token = f->token;
    service_of(l, hl.service, sizeof(hl.service));
    snprintf(hl.protocol, sizeof(hl.protocol), "%s", l->proto->name);
    snprintf(hl.node, sizeof(hl.node), "%s", fab_node(l->ctx));
    size_t alen;
    const uint8_t *a = fab_self_addr(l->ctx, &alen);
    hl.addrlen = (uint32_t)alen;
    memcpy(hl.addr, a, alen);
    for (uint32_t v = 0; v <= hl.max_version - hl.min_version && v < IDC_MAX_VERSIONS; v++)
        hl.hash[v] = l->proto->version_hash[v];
    struct fab_hdr h;
    memset(&h, 0, sizeof(h));
    h.magic = FAB_MAGIC;
    h.type = FAB_HELLO;
    h.len = sizeof(hl);
    return fab_send(l->ctx, f->peer, f->token, &h, &hl, sizeof(hl), NULL, 0);
}

static void fe_try_connect(struct idc_link *l)
{
    struct fab_ep *f = F(l);
    if (f->st != ST_IDLE || f->refused || !f->present || idc__link_destroying(l) ||
        idc__link_state(l) != IDC_EP_PRESENT)
        return;
    f->retry_ns = 0;
    int r = fab_peer_get(l->ctx, f->rec_addr, f->rec_addrlen, &f->peer);
    if (r < 0) {
        fe_retry(l, FAB_RETRY_MS);
        return;
    }
    f->have_peer = true;
    f->token = new_token();
    f->peer_token = 0;
    f->st = ST_HELLO;
    f->deadline_ns = idc__now_ns() + (uint64_t)FAB_HANDSHAKE_MS * 1000000u;
    r = fe_hello(l);
    if (r < 0 && r != IDC_ERR_AGAIN)
        fe_retry(l, FAB_RETRY_MS);
    else if (r == IDC_ERR_AGAIN)
        fe_retry(l, FAB_TICK_MS);
}

static const char *welcome_bad(struct idc_link *l, const struct fab_welcome *w)
{
    if (w->version < l->proto->min_version || w->version > l->proto->max_version)
        return "negotiated version outside our range";
    if (w->epoch == 0 || !w->token || w->max_frame > l->max_frame ||
        w->max_transactions > l->max_tx || w->max_transactions == 0 ||
        w->max_messages > l->max_msg || w->max_messages == 0)
        return "negotiated limits above ours";
    if (w->max_frame < IDC_MIN_FRAME)
        return "negotiated max_frame below the minimum";
    if (w->ring_size != idc_ring_size_for(w->max_messages + 2 * w->max_transactions, w->max_frame))
        return "ring size does not match the negotiated limits";
    return NULL;
}

static void fe_up(struct idc_link *l, const struct fab_welcome *w)
{
    struct fab_ep *f = F(l);
    f->ch.epoch = w->epoch;
    f->ch.version = w->version;
    f->ch.max_frame = w->max_frame;
    f->ch.tx_limit = w->max_transactions;
    f->ch.msg_limit = w->max_messages;
    if (rings_alloc(l, w->ring_size) < 0) {
        fe_retry(l, FAB_RETRY_MS);
        return;
    }
    f->peer_token = w->token;
    f->st = ST_UP;
    f->busy_logged = false;
    f->last_rx_ns = idc__now_ns();
    idc__link_peer(l, "node=%s", f->rec_node); /* for idcctl: the record's node */
    int r = idc__link_up(l, &f->ch);
    if (r < 0) {
        idc__log(l->ctx, IDC_LOG_ERROR, "%s: cannot bring the channel up: %s", l->address,
                 idc_strerror(r));
        chan_release(l, true);
        fe_retry(l, FAB_RETRY_MS);
        return;
    }
    flush(l, true); /* the backend's READY */
}

static void fe_refused(struct idc_link *l, const struct fab_refuse *rf_in)
{
    struct fab_ep *f = F(l);
    struct fab_refuse rf = *rf_in;
    rf.reason[sizeof(rf.reason) - 1] = 0;
    int st = rf.status;
    if (st != IDC_ERR_BUSY || !f->busy_logged)
        idc__log(l->ctx, IDC_LOG_ERROR, "%s: backend refused the connection: %s (%s)%s", l->address,
                 rf.reason, idc_strerror(st),
                 st == IDC_ERR_BUSY ? "; retrying quietly until it is free" : "");
    f->busy_logged = st == IDC_ERR_BUSY;
    idc__link_refused(l, st, rf.reason);
    /* Mismatch and policy do not heal by retrying: wait for the service to be replaced. */
    f->refused = st == IDC_ERR_MISMATCH || st == IDC_ERR_PERM;
    fe_retry(l, FAB_RETRY_MS);
}

static void fe_record(struct idc_link *l, const struct fab_hdr *h, const void *p)
{
    if (h->type == FAB_WELCOME && h->len == sizeof(struct fab_welcome)) {
        struct fab_welcome w;
        memcpy(&w, p, sizeof(w));
        const char *bad = welcome_bad(l, &w);
        if (bad) {
            idc__log(l->ctx, IDC_LOG_ERROR, "%s: handshake: %s", l->address, bad);
            fe_retry(l, FAB_RETRY_MS);
            return;
        }
        fe_up(l, &w);
    } else if (h->type == FAB_REFUSE && h->len == sizeof(struct fab_refuse)) {
        struct fab_refuse rf;
        memcpy(&rf, p, sizeof(rf));
        fe_refused(l, &rf);
    } else {
        idc__log(l->ctx, IDC_LOG_ERROR, "%s: handshake: unexpected record type %u (%u bytes)",
                 l->address, h->type, h->len);
        fe_retry(l, FAB_RETRY_MS);
    }
}

void fab_chan_service(struct idc_context *ctx, const char *name, const char *record, size_t len)
{
    char rec[512], node[FAB_NODE_MAX + 1];
    uint8_t addr[FAB_ADDR_MAX];
    uint32_t alen = 0;
    if (len >= sizeof(rec))
        len = sizeof(rec) - 1;
    memcpy(rec, record, len); /* the registry's copy is anyone's: copy, terminate, parse */
    rec[len] = 0;
    bool ok = fab_parse_record(rec, node, sizeof(node), addr, &alen);
    if (!ok && idc__log_limit(fab_logs(ctx), ctx))
        idc__log(ctx, IDC_LOG_WARN, "fabric: malformed service record for %s ignored", name);
    for (struct idc_link *l = idc__link_first(ctx, &idc_transport_fabric); l;
         l = idc__link_next(l)) {
        struct fab_ep *f = F(l);
        if (l->role != IDC_ROLE_FRONTEND || idc__link_destroying(l) || !is_service(l, name))
            continue;
        if (!ok) {
            fab_chan_service_gone(ctx, name);
            return;
        }
        if (f->rec_addrlen != alen || memcmp(f->rec_addr, addr, alen) != 0)
            f->refused = false; /* another server: try again */
        memcpy(f->rec_addr, addr, alen);
        f->rec_addrlen = alen;
        snprintf(f->rec_node, sizeof(f->rec_node), "%s", node);
        f->present = true;
        if (idc__link_state(l) == IDC_EP_ABSENT)
            idc__link_appear(l);
        fe_try_connect(l);
    }
}

/* The registry says the backend's record is gone while we are connected to it: ask it to
   answer at once (an empty DATA with FAB_F_PROBE); tick_one disconnects it if nothing comes
   back by the deadline. Probing never disconnects a backend that answers. */
static void probe(struct idc_link *l)
{
    struct fab_ep *f = F(l);
    if (f->st != ST_UP || idc__link_state(l) != IDC_EP_CONNECTED || f->probe_ns)
        return;
    uint32_t ms = min32(FAB_PROBE_MS, fab_heartbeat_ms(l->ctx));
    f->probe_ns = idc__now_ns() + (uint64_t)ms * 1000000u;
    idc__log(l->ctx, IDC_LOG_WARN, "%s: the registry lost the backend's record; probing it",
             l->address);
    struct fab_hdr h;
    send_hdr(f, &h, FAB_DATA);
    /* Our consumer indexes as last sent (ack_*): the probe moves nothing of the ring, and a
       DATA's indexes must never go back. */
    h.cons = f->ack_cons;
    h.msg_cons = f->ack_msg;
    h.pos = f->tx_sent;
    h.flags = FAB_F_PROBE;
    int r = fab_send(l->ctx, f->peer, f->token, &h, NULL, 0, NULL, 0);
    if (r < 0 && r != IDC_ERR_AGAIN) /* AGAIN: the deadline still stands; a peer that answers
                                        nothing else either is as silent */
        idc__link_down(l, IDC_ERR_IO, "cannot send to the peer");
}

void fab_chan_service_gone(struct idc_context *ctx, const char *name)
{
    for (struct idc_link *l = idc__link_first(ctx, &idc_transport_fabric); l;
         l = idc__link_next(l)) {
        struct fab_ep *f = F(l);
        if (l->role != IDC_ROLE_FRONTEND || idc__link_destroying(l) || !is_service(l, name))
            continue;
        f->present = false;
        f->retry_ns = 0;
        /* A connection that is up stays if the backend answers a probe: the registry is not
           the peer, only a hint that it may be frozen or dead. */
        if (f->st == ST_HELLO)
            chan_release(l, false);
        else
            probe(l);
        if (idc__link_state(l) == IDC_EP_PRESENT)
            idc__link_disappear(l);
    }
}

/* ---------------------------------------------------------------------------- the backend */

static bool be_allowed(const struct idc_link *l, const char *node)
{
    const char *q = strchr(l->name, '?');
    if (!q)
        return true;
    const char *p = q + 7; /* "?allow=", checked at create */
    size_t nl = strlen(node);
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n == nl && memcmp(p, node, n) == 0)
            return true;
        p += n + (p[n] == ',');
    }
    return false;
}

/* A REFUSE record to the HELLO's sender (no connection: errors ignored). */
static void refuse_send(struct idc_context *ctx, uint64_t peer, uint64_t dst,
                        const struct fab_refuse *rf)
{
    if (!fab_reply_budget(ctx))
        return; /* a flood of HELLOs gets no flood of answers (an honest peer retries) */
    struct fab_hdr h;
    memset(&h, 0, sizeof(h));
    h.magic = FAB_MAGIC;
    h.type = FAB_REFUSE;
    h.dst = dst;
    h.len = sizeof(*rf);
    fab_send(ctx, peer, 0, &h, rf, sizeof(*rf), NULL, 0);
}

/* Refuses a HELLO: logged (rate-limited; a busy service is not an error), sent. */
static void refuse(struct idc_link *l, uint64_t peer, uint64_t dst, int status, const char *fmt,
                   ...) __attribute__((format(printf, 5, 6)));
static void refuse(struct idc_link *l, uint64_t peer, uint64_t dst, int status, const char *fmt,
                   ...)
{
    struct fab_refuse rf;
    memset(&rf, 0, sizeof(rf));
    rf.status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rf.reason, sizeof(rf.reason), fmt, ap);
    va_end(ap);
    if (status != IDC_ERR_BUSY && idc__log_limit(&F(l)->refusals, l->ctx))
        idc__log(l->ctx, IDC_LOG_ERROR, "%s: refusing peer: %s (%s)", l->address, rf.reason,
                 idc_strerror(status));
    refuse_send(l->ctx, peer, dst, &rf);
}

/* The checks a HELLO passes before the backend answers with WELCOME: 0, or the refusal sent. */
static int be_check(struct idc_link *l, uint64_t peer, const struct fab_hello *hl, uint32_t *v)
{
    if (hl->wire != FAB_WIRE) {
        refuse(l, peer, hl->token, IDC_ERR_MISMATCH, "handshake wire version %u, we speak %u",
               hl->wire, FAB_WIRE);
        return IDC_ERR_MISMATCH;
    }
    if (!be_allowed(l, hl->node)) {
        refuse(l, peer, hl->token, IDC_ERR_PERM, "node %s not allowed by the service's policy",
               hl->node);
        return IDC_ERR_PERM;
    }
    if (strcmp(hl->protocol, l->proto->name) != 0) {
        refuse(l, peer, hl->token, IDC_ERR_MISMATCH, "protocol '%s' requested, '%s' served",
               hl->protocol, l->proto->name);
        return IDC_ERR_MISMATCH;
    }
    *v = idc__offer_version(l->proto, hl->min_version, hl->max_version, hl->hash, IDC_MAX_VERSIONS);
    if (!*v) {
        refuse(l, peer, hl->token, IDC_ERR_MISMATCH,
               "protocol '%s': no common version with matching IDL hash (peer %u..%u, us %u..%u)",
               hl->protocol, hl->min_version, hl->max_version, l->proto->min_version,
               l->proto->max_version);
        return IDC_ERR_MISMATCH;
    }
    char why[96];
    if (idc__offer_limits(hl->max_frame, hl->max_transactions, hl->max_messages, why,
                          sizeof(why))) {
        refuse(l, peer, hl->token, IDC_ERR_PROTO, "HELLO: %s", why);
        return IDC_ERR_PROTO;
    }
    return 0;
}

static void be_welcome(struct idc_link *l, uint64_t peer, const struct fab_hello *hl, uint32_t v)
{
    struct fab_ep *f = F(l);
    uint32_t frame = min32(hl->max_frame, l->max_frame);
    uint32_t tx = min32(hl->max_transactions, l->max_tx);
    uint32_t msg = min32(hl->max_messages, l->max_msg);
    uint32_t ring = idc_ring_size_for(msg + 2 * tx, frame);
    if (!ring) {
        refuse(l, peer, hl->token, IDC_ERR_TOOBIG, "rings for %u frames of %u bytes exceed %u",
               msg + 2 * tx, frame, IDC_RING_MAX_SIZE);
        return;
    }
    f->ch.epoch = ++f->epoch_next ? f->epoch_next : ++f->epoch_next;
    f->ch.version = v;
    f->ch.max_frame = frame;
    f->ch.tx_limit = tx;
    f->ch.msg_limit = msg;
    if (rings_alloc(l, ring) < 0) {
        refuse(l, peer, hl->token, IDC_ERR_NOMEM, "out of memory for the rings");
        return;
    }
    f->peer = peer;
    f->have_peer = true;
    f->token = new_token();
    f->peer_token = hl->token;
    snprintf(f->rec_node, sizeof(f->rec_node), "%s", hl->node); /* as it declared itself */
    struct fab_welcome w = { .token = f->token,
                             .version = v,
                             .epoch = f->ch.epoch,
                             .max_frame = frame,
                             .max_transactions = tx,
                             .max_messages = msg,
                             .ring_size = ring };
    struct fab_hdr h;
    send_hdr(f, &h, FAB_WELCOME);
    h.len = sizeof(w);
    if (fab_send(l->ctx, peer, f->token, &h, &w, sizeof(w), NULL, 0) < 0) {
        chan_release(l, false);
        return;
    }
    f->st = ST_READY_WAIT;
    f->deadline_ns = idc__now_ns() + (uint64_t)FAB_HANDSHAKE_MS * 1000000u;
}

static void be_hello(struct idc_context *ctx, const struct fab_hdr *h, const void *p)
{
    struct fab_hello hl;
    if (h->len != sizeof(hl) || h->dst) {
        if (idc__log_limit(fab_logs(ctx), ctx))
            idc__log(ctx, IDC_LOG_WARN, "fabric: malformed HELLO (%u bytes) dropped", h->len);
        return;
    }
    memcpy(&hl, p, sizeof(hl)); /* copy once, then terminate and check */
    hl.service[sizeof(hl.service) - 1] = 0;
    hl.protocol[sizeof(hl.protocol) - 1] = 0;
    hl.node[sizeof(hl.node) - 1] = 0;
    /* The endpoints serving the name (several with IDC_EP_SHARED): a free one takes it. */
    struct idc_link *l = NULL;
    for (struct idc_link *e = idc__link_first(ctx, &idc_transport_fabric); e;
         e = idc__link_next(e)) {
        if (e->role != IDC_ROLE_BACKEND || !F(e)->published || !is_service(e, hl.service))
            continue;
        if (!l || (F(e)->st == ST_IDLE && idc__link_state(e) == IDC_EP_PRESENT))
            l = e;
        if (F(l)->st == ST_IDLE && idc__link_state(l) == IDC_EP_PRESENT)
            break;
    }
    bool sane = hl.token && hl.addrlen && hl.addrlen <= FAB_ADDR_MAX && idc__valid_name(hl.node);
    if (!sane) {
        if (idc__log_limit(fab_logs(ctx), ctx))
            idc__log(ctx, IDC_LOG_WARN,
                     "fabric: HELLO for %s with a bad token, node or address "
                     "dropped",
                     hl.service);
        return;
    }
    uint64_t peer;
    if (fab_peer_get(ctx, hl.addr, hl.addrlen, &peer) < 0)
        return;
    if (!l) {
        /* Not (or not yet: the record may be seen before its creator heard back) served here:
           busy, so the frontend tries again soon instead of waiting out its handshake. */
        struct fab_refuse rf = { .status = IDC_ERR_BUSY };
        snprintf(rf.reason, sizeof(rf.reason), "service %s is not served here", hl.service);
        if (idc__log_limit(fab_logs(ctx), ctx))
            idc__log(ctx, IDC_LOG_DEBUG, "fabric: %s", rf.reason);
        refuse_send(ctx, peer, hl.token, &rf);
        fab_peer_put(ctx, peer, false);
        return;
    }
    struct fab_ep *f = F(l);
    uint32_t v = 0;
    if (f->st != ST_IDLE || idc__link_state(l) != IDC_EP_PRESENT)
        refuse(l, peer, hl.token, IDC_ERR_BUSY, "service %s is in use by another frontend",
               hl.service);
    else if (be_check(l, peer, &hl, &v) == 0) {
        be_welcome(l, peer, &hl, v);
        if (f->have_peer)
            return; /* the connection holds the address */
    }
    fab_peer_put(ctx, peer, false);
}

/* The frontend's first DATA: READY. */
static void be_ready(struct idc_link *l)
{
    struct fab_ep *f = F(l);
    f->st = ST_UP;
    f->last_rx_ns = f->last_tx_ns = idc__now_ns();
    idc__link_peer(l, "node=%s", f->rec_node);
    int r = idc__link_up(l, &f->ch);
    if (r < 0) {
        idc__log(l->ctx, IDC_LOG_ERROR, "%s: cannot bring the channel up: %s", l->address,
                 idc_strerror(r));
        chan_release(l, true);
    }
}

void fab_chan_published(struct idc_context *ctx, const char *name, int status)
{
    for (struct idc_link *l = idc__link_first(ctx, &idc_transport_fabric); l;
         l = idc__link_next(l)) {
        struct fab_ep *f = F(l);
        if (l->role != IDC_ROLE_BACKEND || idc__link_destroying(l) || !is_service(l, name))
            continue;
        if (status == 0) {
            f->published = true;
            f->busy_logged = false;
            if (idc__link_state(l) == IDC_EP_ABSENT)
                idc__link_appear(l);
        } else if (status == IDC_ERR_BUSY) {
            if (!f->busy_logged)
                idc__log(ctx, IDC_LOG_WARN, "%s: already served by another endpoint; waiting",
                         l->address);
            f->busy_logged = true;
        } else {
            idc__link_fail(l, status);
        }
    }
}

void fab_chan_republish(struct idc_context *ctx)
{
    (void)ctx; /* a backend stays PRESENT: frontends connected keep working meanwhile */
}

/* ----------------------------------------------------------------------------- records */

void fab_chan_record(struct idc_context *ctx, const struct fab_hdr *h, const void *payload)
{
    if (h->type == FAB_HELLO) {
        be_hello(ctx, h, payload);
        return;
    }
    struct idc_link *l = h->dst ? by_token(ctx, h->dst) : NULL;
    if (!l) {
        if (idc__log_limit(fab_logs(ctx), ctx)) /* anyone can send these: limited */
            idc__log(ctx, IDC_LOG_DEBUG, "fabric: record type %u for no connection dropped",
                     h->type);
        return;
    }
    struct fab_ep *f = F(l);
    if (f->st == ST_HELLO) {
        fe_record(l, h, payload);
        return;
    }
    if (h->epoch != f->ch.epoch) {
        idc__link_down(l, IDC_ERR_PROTO, "record of epoch %u on a connection of epoch %u", h->epoch,
                       f->ch.epoch);
        return;
    }
    if (h->type == FAB_BYE) {
        if (f->st == ST_READY_WAIT)
            chan_release(l, false);
        else
            idc__link_down(l, IDC_ERR_DISCONNECTED, "peer closed the connection");
        return;
    }
    if (h->type != FAB_DATA) {
        idc__link_down(l, IDC_ERR_PROTO, "unexpected record type %u on the connection", h->type);
        return;
    }
    if (f->st == ST_READY_WAIT) {
        be_ready(l);
        if (f->st != ST_UP)
            return;
    }
    if (idc__link_state(l) != IDC_EP_CONNECTED)
        return;
    on_data(l, h, (const unsigned char *)payload);
    if ((h->flags & FAB_F_PROBE) && f->st == ST_UP)
        flush(l, true); /* the answer: a DATA at once */
}

void fab_chan_send_error(struct idc_context *ctx, uint64_t token, const char *why)
{
    struct idc_link *l = token ? by_token(ctx, token) : NULL;
    if (!l)
        return;
    struct fab_ep *f = F(l);
    f->peer_dead = true;
    if (f->st == ST_UP && idc__link_state(l) == IDC_EP_CONNECTED) {
        idc__link_down(l, IDC_ERR_IO, "%s", why);
    } else if (f->st == ST_HELLO) {
        /* The record may name a server that died: the registry removes it soon. */
        idc__log(ctx, IDC_LOG_DEBUG, "%s: handshake: %s", l->address, why);
        fe_retry(l, FAB_RETRY_MS);
    } else if (f->st == ST_READY_WAIT) {
        chan_release(l, false);
    }
}

void fab_chan_send_ready(struct idc_context *ctx)
{
    for (struct idc_link *l = idc__link_first(ctx, &idc_transport_fabric); l; l = idc__link_next(l))
        if (F(l)->blocked)
            flush(l, false);
}

/* Every FAB_TICK_MS: heartbeats, silence, handshake deadlines, frontend retries. */
static void tick_one(struct idc_link *l, uint64_t now, uint64_t hb_ns)
{
    struct fab_ep *f = F(l);
    switch (f->st) {
    case ST_UP:
        if (idc__link_state(l) != IDC_EP_CONNECTED)
            return;
        if (now - f->last_rx_ns > hb_ns) {
            f->peer_dead = true;
            idc__link_down(l, IDC_ERR_DISCONNECTED, "peer silent for %llu ms (heartbeat)",
                           (unsigned long long)((now - f->last_rx_ns) / 1000000u));
            return;
        }
        if (f->probe_ns && now >= f->probe_ns) {
            f->peer_dead = true;
            idc__link_down(l, IDC_ERR_DISCONNECTED,
                           "peer gone from the registry and silent for %llu ms after a probe",
                           (unsigned long long)((now - f->last_rx_ns) / 1000000u));
            return;
        }
        if (f->blocked || now - f->last_tx_ns >= hb_ns / 4 ||
            __atomic_load_n(&rx_ctrl(f)->cons, __ATOMIC_RELAXED) != f->ack_cons)
            flush(l, true);
        return;
    case ST_HELLO:
    case ST_READY_WAIT:
        if (now < f->deadline_ns)
            return;
        idc__log(l->ctx, IDC_LOG_WARN, "%s: handshake timed out", l->address);
        f->peer_dead = true;
        if (f->st == ST_HELLO)
            fe_retry(l, FAB_RETRY_MS);
        else
            chan_release(l, false);
        return;
    case ST_IDLE:
        if (l->role == IDC_ROLE_FRONTEND && f->retry_ns && now >= f->retry_ns)
            fe_try_connect(l);
        return;
    }
}

void fab_chan_tick(struct idc_context *ctx)
{
    uint64_t now = idc__now_ns();
    uint64_t hb_ns = (uint64_t)fab_heartbeat_ms(ctx) * 1000000u;
    for (struct idc_link *l = idc__link_first(ctx, &idc_transport_fabric); l; l = idc__link_next(l))
        tick_one(l, now, hb_ns);
}

/* ------------------------------------------------------------------------ endpoint ops */

/* NAME, or for a backend NAME?allow=NODE[,NODE...] */
int fab_address_check(const char *rest, enum idc_role role, char *why, size_t why_len)
{
    char name[IDC_NAME_MAX + 1];
    size_t n = strcspn(rest, "?");
    if (n > IDC_NAME_MAX)
        n = IDC_NAME_MAX + 1; /* fails the name check below */
    snprintf(name, sizeof(name), "%.*s", (int)(n > IDC_NAME_MAX ? IDC_NAME_MAX : n), rest);
    if (n > IDC_NAME_MAX || !idc__valid_name(name)) {
        snprintf(why, why_len,
                 "a fabric service name is [A-Za-z0-9._-]{1,64}, not starting with '.'");
        return IDC_ERR_INVAL;
    }
    const char *q = rest + n;
    if (!*q)
        return 0;
    if (role != IDC_ROLE_BACKEND || strncmp(q, "?allow=", 7) != 0 || !q[7]) {
        snprintf(why, why_len, "only a backend address takes ?allow=NODE[,NODE...]");
        return IDC_ERR_INVAL;
    }
    for (const char *p = q + 7; *p;) {
        size_t k = strcspn(p, ",");
        char node[FAB_NODE_MAX + 1];
        if (k == 0 || k > FAB_NODE_MAX) {
            snprintf(why, why_len, "?allow= takes node identities of 1 to %u bytes", FAB_NODE_MAX);
            return IDC_ERR_INVAL;
        }
        memcpy(node, p, k);
        node[k] = 0;
        if (!idc__valid_name(node)) {
            snprintf(why, why_len, "node identity '%s' is not [A-Za-z0-9._-]", node);
            return IDC_ERR_INVAL;
        }
        p += k + (p[k] == ',');
    }
    return 0;
}

int fab_ep_start(struct idc_link *l)
{
    struct fab_ep *f = F(l);
    memset(f, 0, sizeof(*f));
    idc__random(&f->epoch_next, sizeof(f->epoch_next));
    f->epoch_next &= 0x7fffffffu; /* random start: epochs of different servers differ */
    int r = fab_zk_start(l->ctx); /* first: without a registry nothing else is opened */
    if (r == 0)
        r = fab_net_open(l->ctx);
    if (r < 0)
        return r;
    char name[IDC_NAME_MAX + 1];
    service_of(l, name, sizeof(name));
    if (l->role == IDC_ROLE_BACKEND) {
        char rec[512];
        fab_record(l->ctx, rec, sizeof(rec));
        fab_zk_publish(l->ctx, name, rec);
    } else {
        fab_zk_watch(l->ctx, name);
    }
    return 0;
}

void fab_ep_rearm(struct idc_link *l)
{
    struct fab_ep *f = F(l);
    if (l->role == IDC_ROLE_BACKEND)
        return; /* HELLOs are answered again */
    if (f->present)
        fe_try_connect(l);
    else
        idc__link_disappear(l);
}

void fab_ep_stop(struct idc_link *l)
{
    struct fab_ep *f = F(l);
    chan_release(l, true);
    char name[IDC_NAME_MAX + 1];
    service_of(l, name, sizeof(name));
    if (l->role == IDC_ROLE_BACKEND)
        fab_zk_unpublish(l->ctx, name);
    else
        fab_zk_unwatch(l->ctx, name);
    f->published = f->present = false;
}
