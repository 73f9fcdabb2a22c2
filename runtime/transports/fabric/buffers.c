/* buffers.c - remote buffers across machines: owner-mediated RMA.
 *
 * A context with a registry publishes itself as a buffer owner at its first registration
 * (/idc/own/<owner id>, zk.c). A holder of a reference whose owner is on another node (the
 * owner id's locator, fab_locator) looks the owner up once (cached), registers its own memory
 * for the one transfer (fi_mr_reg, remote read for a send, remote write for a receive) and sends
 * XREQ. The owner checks the reference against its registrations (idc__reg_check: owner, id,
 * generation, key, rights, range) before any byte moves; a stale or forged reference is answered
 * with its error and touches nothing, so it can never harm a connection. Then the owner moves the
 * bytes with fi_read/fi_write against the holder's registration, in pieces of FAB_RMA_PIECE,
 * and answers XREP. The holder closes its registration when the answer comes (or when the owner
 * went silent: it sends XALIVE every tick while it works; FAB_XFER_SILENT_MS without it fails
 * the transfer with IDC_ERR_DISCONNECTED), so its memory is reachable exactly for one transfer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rdma/fabric.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#include "fabric.h"

#define FAB_RMA_PIECE    (1u << 20) /* bytes per RMA operation */
#define FAB_RMA_INFLIGHT 8u         /* operations per transfer at once */
/* Operations of all transfers at once: the records to a holder (XALIVE, XREP) queue behind the
   bytes of the RMA before them on the one connection; at most this much keeps them within
   the holder's silence bound on a slow or loaded link (16 MiB: 160 ms at 100 MB/s). */
#define FAB_RMA_INFLIGHT_ALL 16u
#define FAB_XFERS_MAX        256u /* a context's transfers in flight (holder side) */
#define FAB_SERVES_MAX       64u  /* transfers an owner works on at once */
#define FAB_OWNERS_CACHED    32u
#define FAB_WITHDRAW_MS      2000u /* context destroy: RMA in flight gets this long to finish */

struct rma_op {       /* one fi_read / fi_write of a served transfer */
    struct fab_op op; /* FAB_OP_RMA */
    struct serve *s;
};

struct serve { /* owner side: a transfer being moved */
    struct serve *next;
    uint64_t xid, peer;
    uint32_t reg;       /* the registration slot it moves bytes of */
    unsigned char *mem; /* our registration's bytes */
    uint64_t raddr, rkey, len, issued;
    uint32_t inflight;
    int status;
    bool write;
    bool answering;     /* every byte moved (or failed): the answer waits for a send buffer */
    uint64_t answer_ns; /* since when */
    struct rma_op ops[FAB_RMA_INFLIGHT];
};

struct xfer { /* holder side */
    struct xfer *next;
    struct idc_xfer *x;
    uint64_t xid;
    struct fid_mr *mr;
    uint64_t peer;
    bool have_peer, sent;
    bool relookup;     /* the owner was not in the registry (yet): ask again at the next tick */
    uint64_t heard_ns; /* the owner's last sign of life (or when the transfer began) */
};

struct owner_addr {
    uint64_t owner;
    uint32_t addrlen;
    uint8_t addr[FAB_ADDR_MAX];
    uint64_t used;
};

struct fab_bufs {
    bool published;
    struct serve *serves;
    unsigned nserves;
    unsigned rma_inflight; /* of every serve (FAB_RMA_INFLIGHT_ALL) */
    struct xfer *xfers;
    unsigned nxfers;
    struct owner_addr owners[FAB_OWNERS_CACHED];
};

static struct fab_bufs *bufs(struct idc_context *ctx, bool create);

/* ------------------------------------------------------------------------------ sending */

static int send_rec(struct idc_context *ctx, uint64_t peer, uint64_t dst, uint32_t type,
                    const void *p, size_t n, uint64_t token)
{
    struct fab_hdr h;
    memset(&h, 0, sizeof(h));
    h.magic = FAB_MAGIC;
    h.type = type;
    h.dst = dst;
    h.len = (uint32_t)n;
    return fab_send(ctx, peer, token, &h, p, n, NULL, 0);
}

/* --------------------------------------------------------------------------- owner side */

int fab_rbuf_publish(struct idc_context *ctx)
{
    if (!fab_locator(ctx))
        return IDC_ERR_NOTSUP; /* no registry: buffers stay on this node */
    struct fab_bufs *b = bufs(ctx, true);
    if (!b)
        return IDC_ERR_NOMEM;
    if (b->published)
        return 0;
    int r = fab_net_open(ctx);
    if (!r)
        r = fab_zk_start(ctx);
    if (r < 0)
        return r;
    char rec[512];
    fab_record(ctx, rec, sizeof(rec));
    fab_zk_publish_owner(ctx, idc_context_id(ctx), rec);
    b->published = true;
    return 0;
}

/* The answer of a transfer we accepted. The sends to one peer that carry no token share a few
   buffers (FAB_PEER_REPLIES): when many transfers of one holder end together, some answers find
   none. Such an answer is not dropped (the holder would wait for it until its silence bound and
   fail a transfer that succeeded): the serve stays, answering, and serves_retry sends it when a
   buffer is back. False while it waits; true too once the holder has given the transfer up (the
   silence bound: its sends never complete, a dead holder), so that no serve stays forever. */
static bool serve_answer(struct idc_context *ctx, struct serve *s)
{
    struct fab_xrep rep = { .status = s->status };
    uint64_t now = idc__now_ns();
    if (!s->answering)
        s->answer_ns = now;
    s->answering = true;
    if (send_rec(ctx, s->peer, s->xid, FAB_XREP, &rep, sizeof(rep), 0) != IDC_ERR_AGAIN)
        return true;
    return now - s->answer_ns > (uint64_t)fab_heartbeat_ms(ctx) * 1000000u;
}

static void serve_free(struct idc_context *ctx, struct serve *s)
{
    struct fab_bufs *b = bufs(ctx, false);
    for (struct serve **pp = &b->serves; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    b->nserves--;
    b->rma_inflight -= s->inflight; /* 0 but when the endpoint was closed under them */
    fab_peer_put(ctx, s->peer, false);
    free(s);
}

/* Issues the next pieces; answers and frees the transfer when everything is done. */
static void serve_pump(struct idc_context *ctx, struct serve *s)
{
    struct fab_bufs *b = bufs(ctx, false);
    while (s->status == 0 && s->issued < s->len && s->inflight < FAB_RMA_INFLIGHT &&
           b->rma_inflight < FAB_RMA_INFLIGHT_ALL) {
        struct rma_op *op = NULL;
        for (unsigned i = 0; i < FAB_RMA_INFLIGHT && !op; i++)
            if (!s->ops[i].s)
                op = &s->ops[i];
        uint64_t n = s->len - s->issued;
        if (n > FAB_RMA_PIECE)
            n = FAB_RMA_PIECE;
        fi_addr_t fa = fab_fi_addr(ctx, s->peer);
        ssize_t r = s->write ? fi_read(fab_ep(ctx), s->mem + s->issued, n, NULL, fa,
                                       s->raddr + s->issued, s->rkey, op)
                             : fi_write(fab_ep(ctx), s->mem + s->issued, n, NULL, fa,
                                        s->raddr + s->issued, s->rkey, op);
        if (r == -FI_EAGAIN)
            break; /* the tick or a completion comes back here */
        if (r) {
            idc__log(ctx, IDC_LOG_ERROR, "fabric: remote buffer %s: %s",
                     s->write ? "fi_read" : "fi_write", fab_lib.fi_strerror((int)-r));
            s->status = IDC_ERR_IO;
            break;
        }
        op->s = s;
        s->issued += n;
        s->inflight++;
        b->rma_inflight++;
    }
    if (s->inflight == 0 && (s->status != 0 || s->issued == s->len) && serve_answer(ctx, s)) {
        if (s->status == 0) /* what check-fabric looks for: the bytes went over fabric */
            idc__log(ctx, IDC_LOG_DEBUG, "fabric: remote buffer: %llu bytes moved over fabric (%s)",
                     (unsigned long long)s->len, s->write ? "fi_read" : "fi_write");
        serve_free(ctx, s);
    }
}

/* Pieces the provider refused for a while, answers that found no send buffer: tried again at
   every tick and every progress round while transfers are open. */
void fab_buf_retry(struct idc_context *ctx)
{
    struct fab_bufs *b = bufs(ctx, false);
    if (!b)
        return;
    for (struct serve *s = b->serves, *next; s; s = next) {
        next = s->next;
        serve_pump(ctx, s);
    }
}

void fab_buf_rma_done(struct idc_context *ctx, void *opp, int err)
{
    struct rma_op *op = opp;
    struct serve *s = op->s;
    if (!s)
        return;
    op->s = NULL;
    s->inflight--;
    bufs(ctx, false)->rma_inflight--;
    if (err && s->status == 0) {
        if (idc__log_limit(fab_logs(ctx), ctx))
            idc__log(ctx, IDC_LOG_WARN, "fabric: remote buffer transfer failed: %s",
                     fab_lib.fi_strerror(err));
        s->status = IDC_ERR_IO;
    }
    serve_pump(ctx, s);
}

/* An XREQ: the reference is checked here, against our registrations, before anything else. */
static void on_xreq(struct idc_context *ctx, const struct fab_xreq *q_in)
{
    struct fab_xreq q = *q_in;
    struct fab_bufs *b = bufs(ctx, false);
    uint64_t peer;
    if (!q.xid || !q.addrlen || q.addrlen > FAB_ADDR_MAX ||
        fab_peer_get(ctx, q.addr, q.addrlen, &peer) < 0)
        return;
    struct idc_rbuf rb = {
        .owner = q.owner,
        .id = q.id,
        .generation = q.generation,
        .length = q.length,
        .rights = q.rights,
    };
    memcpy(rb.key, q.key, sizeof(rb.key));
    unsigned char *mem = NULL;
    uint32_t need = q.write ? IDC_RBUF_WRITE : IDC_RBUF_READ;
    int st = q.len > SIZE_MAX ? IDC_ERR_BADREF
                              : idc__reg_check(ctx, &rb, need, q.offset, (size_t)q.len, &mem);
    struct serve *s = NULL;
    if (st == 0 && (!b || b->nserves >= FAB_SERVES_MAX))
        st = IDC_ERR_AGAIN;
    if (st == 0 && !(s = calloc(1, sizeof(*s))))
        st = IDC_ERR_NOMEM;
    if (st) {
        struct fab_xrep rep = { .status = st };
        if (fab_reply_budget(ctx)) /* forged requests in bulk get answers at a bounded rate */
            send_rec(ctx, peer, q.xid, FAB_XREP, &rep, sizeof(rep), 0);
        fab_peer_put(ctx, peer, false);
        return;
    }
    *s = (struct serve){ .xid = q.xid,
                         .peer = peer,
                         .reg = q.id,
                         .mem = mem,
                         .raddr = q.raddr,
                         .rkey = q.rkey,
                         .len = q.len,
                         .write = q.write != 0 };
    for (unsigned i = 0; i < FAB_RMA_INFLIGHT; i++)
        s->ops[i].op.kind = FAB_OP_RMA;
    s->next = b->serves;
    b->serves = s;
    b->nserves++;
    fab_rma_started(ctx);
    serve_pump(ctx, s);
}

/* Waits (bounded) until no RMA of the served transfers matching `match` is in flight, no new
   piece being issued meanwhile; true when none is left. */
static bool serves_drain(struct idc_context *ctx, bool (*match)(const struct serve *, uint32_t),
                         uint32_t arg)
{
    struct fab_bufs *b = bufs(ctx, false);
    if (!b)
        return true;
    for (struct serve *s = b->serves; s; s = s->next)
        if (match(s, arg) && s->status == 0 && !s->answering)
            s->status = IDC_ERR_REVOKED; /* no new pieces; answered with it */
    uint64_t end = idc__now_ns() + (uint64_t)FAB_WITHDRAW_MS * 1000000u;
    for (;;) {
        /* RMA in flight is what touches the memory; a serve waiting to answer touches none */
        bool left = false;
        for (struct serve *s = b->serves; s && !left; s = s->next)
            left = match(s, arg) && s->inflight;
        if (!left)
            return true;
        if (idc__now_ns() >= end)
            return false;
        fab_progress(ctx);
    }
}

static bool serve_of_reg(const struct serve *s, uint32_t id)
{
    return s->reg == id;
}

/* A registration changed (unregistered): RMA into or from it that was checked before may still be
   moving bytes; unregistering returns only once it has stopped, so revocation is exact (and the
   memory may be freed). */
void fab_rbuf_revoke(struct idc_context *ctx, uint32_t id, uint32_t generation)
{
    if (generation & 1u)
        return; /* registered (odd): nothing to stop */
    if (!serves_drain(ctx, serve_of_reg, id)) {
        idc__log(ctx, IDC_LOG_WARN,
                 "fabric: a transfer of a revoked buffer did not stop in %u "
                 "ms: closing the fabric endpoint",
                 FAB_WITHDRAW_MS);
        fab_net_close(ctx);
        struct fab_bufs *b = bufs(ctx, false);
        for (struct serve *s = b->serves, *next; s; s = next) {
            next = s->next;
            serve_free(ctx, s);
        }
    }
}

/* --------------------------------------------------------------------------- holder side */

bool fab_rbuf_reaches(struct idc_context *ctx, uint64_t owner)
{
    uint16_t loc = (uint16_t)(owner >> IDC_OWNER_LOC_SHIFT);
    /* Another node's owner (a fabric locator not ours); the same node is shm's. */
    return fab_locator(ctx) && (loc & IDC_OWNER_LOC_FABRIC) && loc != fab_locator(ctx);
}

/* The holder's registration for one transfer. A provider that leaves the keys to the application
   (no FI_MR_PROV_KEY, as tcp;ofi_rxm) refuses a key already in use (-FI_ENOKEY): each
   registration gets a random one, so that transfers at once do not collide and no peer can
   guess the key of memory opened for another's transfer; a collision draws again. */
static int xfer_mr_reg(struct idc_context *ctx, struct idc_xfer *x, uint64_t access,
                       struct fid_mr **mr)
{
    bool prov_key = fab_mr_prov_key(ctx);
    for (int i = 0; i < 4; i++) {
        uint64_t key = 0;
        if (!prov_key && idc__random(&key, sizeof(key)) < 0)
            return -FI_EIO;
        int r = fi_mr_reg(fab_domain(ctx), x->local, x->len, access, 0, key, 0, mr, NULL);
        if (r != -FI_ENOKEY || prov_key)
            return r;
    }
    return -FI_ENOKEY;
}

bool fab_buf_busy(struct idc_context *ctx)
{
    struct fab_bufs *b = bufs(ctx, false);
    return b && (b->nserves || b->nxfers);
}

static void xfer_end(struct idc_context *ctx, struct xfer *t, int status)
{
    struct fab_bufs *b = bufs(ctx, false);
    for (struct xfer **pp = &b->xfers; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    b->nxfers--;
    /* Closing the registration ends the owner's access to our memory, whatever it still does. */
    if (t->mr)
        fi_close(&t->mr->fid);
    if (t->have_peer)
        fab_peer_put(ctx, t->peer, status == IDC_ERR_DISCONNECTED);
    if (t->x && status == 0)
        idc__log(ctx, IDC_LOG_DEBUG, "fabric: remote buffer: %zu bytes moved over fabric (holder)",
                 t->x->len);
    if (t->x)
        idc__xfer_complete(ctx, t->x, status);
    free(t);
}

static struct owner_addr *owner_cached(struct fab_bufs *b, uint64_t owner)
{
    for (unsigned i = 0; i < FAB_OWNERS_CACHED; i++)
        if (b->owners[i].owner == owner && b->owners[i].addrlen)
            return &b->owners[i];
    return NULL;
}

static void owner_forget(struct fab_bufs *b, uint64_t owner)
{
    struct owner_addr *o = owner_cached(b, owner);
    if (o)
        memset(o, 0, sizeof(*o));
}

/* Registers our memory for the one transfer and asks the owner. */
static void xfer_send(struct idc_context *ctx, struct xfer *t, const struct owner_addr *o)
{
    struct idc_xfer *x = t->x;
    int r = fab_peer_get(ctx, o->addr, o->addrlen, &t->peer);
    if (r < 0) {
        xfer_end(ctx, t, r);
        return;
    }
    t->have_peer = true;
    struct fab_xreq q;
    memset(&q, 0, sizeof(q));
    if (x->len) {
        uint64_t access = x->write ? FI_REMOTE_READ : FI_REMOTE_WRITE;
        int fr = xfer_mr_reg(ctx, x, access, &t->mr);
        if (fr) {
            idc__log(ctx, IDC_LOG_ERROR, "fabric: registering %zu bytes for a transfer: %s", x->len,
                     fab_lib.fi_strerror(-fr));
            xfer_end(ctx, t, IDC_ERR_IO);
            return;
        }
        q.rkey = fi_mr_key(t->mr);
        q.raddr = fab_mr_virt_addr(ctx) ? (uint64_t)(uintptr_t)x->local : 0;
    }
    q.xid = t->xid;
    q.owner = x->rb.owner;
    q.length = x->rb.length;
    q.id = x->rb.id;
    q.generation = x->rb.generation;
    q.rights = x->rb.rights;
    q.write = x->write;
    memcpy(q.key, x->rb.key, sizeof(q.key));
    q.offset = x->offset;
    q.len = x->len;
    size_t alen;
    const uint8_t *a = fab_self_addr(ctx, &alen);
    q.addrlen = (uint32_t)alen;
    memcpy(q.addr, a, alen);
    r = send_rec(ctx, t->peer, 0, FAB_XREQ, &q, sizeof(q), t->xid);
    if (r == IDC_ERR_AGAIN)
        return; /* retried at the next tick (sent stays false) */
    if (r < 0) {
        xfer_end(ctx, t, IDC_ERR_IO);
        return;
    }
    t->sent = true;
    t->heard_ns = idc__now_ns();
}

int fab_rbuf_transfer(struct idc_context *ctx, struct idc_xfer *x)
{
    struct fab_bufs *b = bufs(ctx, true);
    if (!b)
        return IDC_ERR_NOMEM;
    if (b->nxfers >= FAB_XFERS_MAX)
        return IDC_ERR_AGAIN;
    int r = fab_net_open(ctx);
    if (!r)
        r = fab_zk_start(ctx);
    if (r < 0)
        return r;
    struct xfer *t = calloc(1, sizeof(*t));
    if (!t)
        return IDC_ERR_NOMEM;
    t->x = x;
    while (!t->xid)
        idc__random(&t->xid, sizeof(t->xid));
    t->heard_ns = idc__now_ns();
    t->next = b->xfers;
    b->xfers = t;
    b->nxfers++;
    fab_rma_started(ctx);
    struct owner_addr *o = owner_cached(b, x->rb.owner);
    if (o) {
        o->used = idc__now_ns();
        xfer_send(ctx, t, o);
    } else {
        fab_zk_lookup_owner(ctx, x->rb.owner); /* answered by fab_buf_owner_found */
    }
    return 0;
}

static struct owner_addr *owner_store(struct fab_bufs *b, uint64_t owner, const uint8_t *addr,
                                      uint32_t len)
{
    struct owner_addr *o = &b->owners[0];
    for (unsigned i = 1; i < FAB_OWNERS_CACHED; i++)
        if (b->owners[i].used < o->used)
            o = &b->owners[i]; /* the least recently used (or an empty one) */
    o->owner = owner;
    o->addrlen = len;
    memcpy(o->addr, addr, len);
    o->used = idc__now_ns();
    return o;
}

void fab_buf_owner_found(struct idc_context *ctx, uint64_t owner, int status, const char *record,
                         size_t len)
{
    struct fab_bufs *b = bufs(ctx, false);
    if (!b)
        return;
    struct owner_addr *o = NULL;
    if (status == 0) {
        char rec[512], node[FAB_NODE_MAX + 1];
        uint8_t addr[FAB_ADDR_MAX];
        uint32_t alen = 0;
        if (len >= sizeof(rec))
            len = sizeof(rec) - 1;
        memcpy(rec, record, len); /* anyone's writing: copy, terminate, parse */
        rec[len] = 0;
        if (fab_parse_record(rec, node, sizeof(node), addr, &alen))
            o = owner_store(b, owner, addr, alen);
        else
            status = IDC_ERR_IO;
    }
    if (status == IDC_ERR_IO && idc__log_limit(fab_logs(ctx), ctx))
        idc__log(ctx, IDC_LOG_ERROR,
                 "fabric: the owner %016llx of a remote buffer cannot be "
                 "looked up in the registry",
                 (unsigned long long)owner);
    for (struct xfer *t = b->xfers, *next; t; t = next) {
        next = t->next;
        if (t->x->rb.owner != owner || t->sent || t->have_peer)
            continue;
        if (o)
            xfer_send(ctx, t, o);
        else if (status == IDC_ERR_DISCONNECTED)
            t->relookup = true; /* failed by the tick once its bound has passed */
        else
            xfer_end(ctx, t, status);
    }
}

/* An owner publishes itself at its first registration, asynchronously: a reference can reach a
   holder before the owner's record reaches the registry. An owner not found is asked for again
   every tick, once for all the transfers that wait for it, until the silence bound fails them. */
static void owner_relookups(struct idc_context *ctx, struct fab_bufs *b)
{
    for (;;) {
        struct xfer *t = b->xfers;
        while (t && !t->relookup)
            t = t->next;
        if (!t)
            return;
        uint64_t owner = t->x->rb.owner;
        for (struct xfer *u = b->xfers; u; u = u->next)
            if (u->x->rb.owner == owner)
                u->relookup = false;
        /* may end transfers at once (no registry session): the scan starts over */
        fab_zk_lookup_owner(ctx, owner);
    }
}

/* A record naming one of our transfers (its random xid, known only to us and its owner) came:
   the owner lives, for every transfer we have with it over that peer (it sends one XALIVE per
   holder and tick, not one per transfer). */
static void holder_heard(struct fab_bufs *b, const struct xfer *from)
{
    uint64_t now = idc__now_ns();
    for (struct xfer *t = b->xfers; t; t = t->next)
        if (t == from || (t->sent && t->have_peer && t->peer == from->peer &&
                          t->x->rb.owner == from->x->rb.owner))
            t->heard_ns = now;
}

static struct xfer *xfer_by_id(struct fab_bufs *b, uint64_t xid)
{
    struct xfer *t = b ? b->xfers : NULL;
    while (t && t->xid != xid)
        t = t->next;
    return t;
}

void fab_buf_send_error(struct idc_context *ctx, uint64_t token)
{
    struct fab_bufs *b = bufs(ctx, false);
    struct xfer *t = token ? xfer_by_id(b, token) : NULL;
    if (!t)
        return;
    owner_forget(b, t->x->rb.owner);
    xfer_end(ctx, t, IDC_ERR_DISCONNECTED);
}

void fab_buf_record(struct idc_context *ctx, const struct fab_hdr *h, const void *p)
{
    struct fab_bufs *b = bufs(ctx, false);
    if (h->type == FAB_XREQ && h->len == sizeof(struct fab_xreq)) {
        struct fab_xreq q;
        memcpy(&q, p, sizeof(q)); /* copy once, then check */
        on_xreq(ctx, &q);
        return;
    }
    struct xfer *t = xfer_by_id(b, h->dst);
    if (!t || !t->sent)
        return; /* an answer for a transfer that ended (timed out): nothing to do */
    holder_heard(b, t);
    if (h->type == FAB_XREP && h->len == sizeof(struct fab_xrep)) {
        struct fab_xrep rep;
        memcpy(&rep, p, sizeof(rep));
        /* Only the statuses an owner may give; anything else is the owner's fault. */
        int st = rep.status;
        bool known = st == 0 || st == IDC_ERR_BADREF || st == IDC_ERR_REVOKED ||
                     st == IDC_ERR_RIGHTS || st == IDC_ERR_IO || st == IDC_ERR_AGAIN ||
                     st == IDC_ERR_NOMEM;
        xfer_end(ctx, t, known ? st : IDC_ERR_PROTO);
    }
}

/* Every tick: owners tell holders they still work; holders give up on silent owners. */
void fab_buf_tick(struct idc_context *ctx)
{
    struct fab_bufs *b = bufs(ctx, false);
    if (!b)
        return;
    /* One XALIVE per holder and tick (the holder takes it for all its transfers with us, see
       holder_heard): one per transfer would use up the few sends a peer gets without a token,
       and the transfers whose XALIVE found none would be failed as silent. */
    uint64_t alive_sent = 0; /* bit i: peer i had one (FAB_PEERS is 64) */
    for (struct serve *s = b->serves; s; s = s->next) {
        uint64_t bit = UINT64_C(1) << (s->peer & 63u);
        if (s->answering || (alive_sent & bit))
            continue;
        if (send_rec(ctx, s->peer, s->xid, FAB_XALIVE, NULL, 0, 0) == 0)
            alive_sent |= bit;
    }
    fab_buf_retry(ctx);
    uint64_t now = idc__now_ns();
    uint64_t bound = (uint64_t)fab_heartbeat_ms(ctx) * 1000000u;
    for (struct xfer *t = b->xfers, *next; t; t = next) {
        next = t->next;
        /* Every transfer is bounded, sent or not: a request that cannot be sent (the owner's
           process is gone and its sends never complete) fails like a silent owner. */
        if (now - t->heard_ns <= bound && !t->sent && t->have_peer) {
            struct owner_addr *o = owner_cached(b, t->x->rb.owner);
            fab_peer_put(ctx, t->peer, false);
            t->have_peer = false;
            if (o)
                xfer_send(ctx, t, o);
            continue;
        }
        if (now - t->heard_ns > bound) {
            idc__log(ctx, IDC_LOG_WARN,
                     "fabric: the owner %016llx of a remote buffer went silent: transfer failed",
                     (unsigned long long)t->x->rb.owner);
            owner_forget(b, t->x->rb.owner);
            xfer_end(ctx, t, IDC_ERR_DISCONNECTED);
        }
    }
    owner_relookups(ctx, b);
}

/* ------------------------------------------------------------------------------- context */

static struct fab_bufs *bufs(struct idc_context *ctx, bool create)
{
    struct fab_bufs **slot = fab_bufs_slot(ctx);
    if (!*slot && create)
        *slot = calloc(1, sizeof(**slot));
    return *slot;
}

/* The context goes: our transfers fail; RMA into our registrations in flight is waited for (a
   bounded time) before the memory is freed. */
void fab_rbuf_withdraw(struct idc_context *ctx)
{
    struct fab_bufs *b = bufs(ctx, false);
    if (!b)
        return;
    for (struct xfer *t = b->xfers, *next; t; t = next) {
        next = t->next;
        xfer_end(ctx, t, IDC_ERR_DISCONNECTED);
    }
    uint64_t end = idc__now_ns() + (uint64_t)FAB_WITHDRAW_MS * 1000000u;
    for (struct serve *s = b->serves; s; s = s->next)
        s->status = s->status ? s->status : IDC_ERR_DISCONNECTED; /* no new pieces */
    while (b->serves && idc__now_ns() < end) {
        fab_progress(ctx);
        fab_buf_retry(ctx); /* the answers (their send buffers come back with progress) */
    }
    if (b->serves) {
        idc__log(ctx, IDC_LOG_WARN,
                 "fabric: remote-buffer transfers still in flight at context "
                 "destroy: closing the fabric endpoint");
        fab_net_close(ctx);
        for (struct serve *s = b->serves, *next; s; s = next) {
            next = s->next;
            serve_free(ctx, s);
        }
    }
}

void fab_buffers_fini(struct idc_context *ctx)
{
    struct fab_bufs *b = bufs(ctx, false);
    if (!b)
        return;
    fab_rbuf_withdraw(ctx);
    free(b);
    *fab_bufs_slot(ctx) = NULL;
}
