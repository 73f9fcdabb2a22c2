/* fabric.c - the network transport "fabric:NAME": per-context state, the libfabric endpoint and
 * its buffers, and the ops table.
 *
 * A context has one RDM endpoint (tcp;ofi_rxm on Ethernet, any provider FI_PROVIDER names, e.g.
 * verbs;ofi_rxm on InfiniBand), opened by its first fabric endpoint. Its completion queue has a
 * wait fd in the context's epoll; every record received lands in one of FAB_RECV_BUFS posted
 * buffers, is checked for its framing here and handed to channel.c, and the buffer is posted
 * again. Records are sent from FAB_SEND_BUFS copies (none injected), so nothing the
 * core owns is referenced by the provider after fab_send returns.
 *
 * libfabric's exported functions are called through fab_lib (libs.c, loaded at run time):
 * fi_getinfo, fi_freeinfo, fi_dupinfo, fi_fabric, fi_strerror; everything else is inline calls
 * through the objects' operation tables.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>

#include "fabric.h"

#define FAB_RECV_BUFS    64u
#define FAB_SEND_BUFS    64u
#define FAB_BUF_BYTES    (sizeof(struct fab_hdr) + FAB_CHUNK)
#define FAB_PEERS        64u /* peer addresses cached */
#define FAB_PEER_SENDS   32u /* sends in flight to one peer: half the buffers */
#define FAB_PEER_REPLIES 4u  /* of them, answers to records anyone can send */
#define FAB_CQ_BATCH     16
#define FAB_CQ_ROUNDS    64 /* completion batches per dispatch round */
#define FAB_PROVIDER     "tcp;ofi_rxm"
#define FAB_RMA_POLL_MS  1u /* provider progress while remote-buffer work is in flight */

_Static_assert(sizeof(((struct fab_op *)0)->prov) == sizeof(struct fi_context2),
               "fab_op holds a struct fi_context2");

struct fab_buf {
    struct fab_op op;     /* FAB_OP_SEND / FAB_OP_RECV */
    struct fab_buf *next; /* free list (send buffers) */
    uint64_t token;       /* send: the connection it belongs to (0: a reply to anyone) */
    uint32_t peer;        /* send: the peer cache entry it goes to */
    _Alignas(8) unsigned char data[FAB_BUF_BYTES];
};

struct fab_peer {
    uint8_t addr[FAB_ADDR_MAX];
    uint32_t len;
    uint32_t users;
    uint32_t inflight; /* sends not completed yet */
    fi_addr_t fa;
    uint64_t used; /* last use (ns), for eviction */
    bool valid;
};

struct fab_ctx {
    struct idc_context *ctx;
    char *registry; /* ZooKeeper hosts[/chroot], NULL: none */
    char node[FAB_NODE_MAX + 1];
    uint32_t hb_ms;
    struct fab_zk *zk;
    struct fab_bufs *bufs;
    /* libfabric (open after fab_net_open) */
    int net_err; /* a failed open is not retried: its error */
    bool net_open;
    bool node_bad; /* the node identity is unusable: fabric endpoints fail, the context works */
    struct fi_info *info;
    struct fid_fabric *fabric;
    struct fid_domain *domain;
    struct fid_av *av;
    struct fid_cq *cq;
    struct fid_ep *ep;
    uint8_t self[FAB_ADDR_MAX];
    size_t self_len;
    struct idc_watch cqw;
    struct idc_timer tick;
    struct idc_timer rma; /* FAB_RMA_POLL_MS while buffers.c has work in flight */
    struct fab_buf *rbufs, *sbufs, *sfree;
    unsigned sfree_n; /* send buffers free */
    bool want_ready;  /* a sender got IDC_ERR_AGAIN: tell channel.c when buffers free up */
    struct fab_peer peers[FAB_PEERS];
    struct idc_log_limit logs;
    uint64_t reply_window; /* fab_reply_budget */
    uint32_t replies;
};

struct fab_ctx *fab_ctx_of(struct idc_context *ctx)
{
    return *idc__ctx_slot(ctx, &idc_transport_fabric);
}

const char *fab_node(struct idc_context *ctx)
{
    return fab_ctx_of(ctx)->node;
}

uint32_t fab_heartbeat_ms(struct idc_context *ctx)
{
    return fab_ctx_of(ctx)->hb_ms;
}

const uint8_t *fab_self_addr(struct idc_context *ctx, size_t *len)
{
    struct fab_ctx *fc = fab_ctx_of(ctx);
    *len = fc->self_len;
    return fc->self;
}

struct fab_zk **fab_zk_slot(struct idc_context *ctx)
{
    return &fab_ctx_of(ctx)->zk;
}

struct fab_bufs **fab_bufs_slot(struct idc_context *ctx)
{
    return &fab_ctx_of(ctx)->bufs;
}

const char *fab_registry(struct idc_context *ctx)
{
    return fab_ctx_of(ctx)->registry;
}

struct idc_log_limit *fab_logs(struct idc_context *ctx)
{
    return &fab_ctx_of(ctx)->logs;
}

bool fab_reply_budget(struct idc_context *ctx)
{
    struct fab_ctx *fc = fab_ctx_of(ctx);
    uint64_t now = idc__now_ns();
    if (now - fc->reply_window >= 1000000000u) {
        fc->reply_window = now;
        fc->replies = 0;
    }
    return fc->replies++ < FAB_REPLIES_PER_S;
}

struct fid_domain *fab_domain(struct idc_context *ctx)
{
    return fab_ctx_of(ctx)->domain;
}

struct fid_ep *fab_ep(struct idc_context *ctx)
{
    return fab_ctx_of(ctx)->ep;
}

uint64_t fab_fi_addr(struct idc_context *ctx, uint64_t peer)
{
    struct fab_ctx *fc = fab_ctx_of(ctx);
    return peer < FAB_PEERS && fc->peers[peer].valid ? fc->peers[peer].fa : FI_ADDR_NOTAVAIL;
}

bool fab_mr_virt_addr(struct idc_context *ctx)
{
    struct fab_ctx *fc = fab_ctx_of(ctx);
    return fc->info && (fc->info->domain_attr->mr_mode & FI_MR_VIRT_ADDR);
}

bool fab_mr_prov_key(struct idc_context *ctx)
{
    struct fab_ctx *fc = fab_ctx_of(ctx);
    return fc->info && (fc->info->domain_attr->mr_mode & FI_MR_PROV_KEY);
}

/* ------------------------------------------------------------------------- peer addresses */

int fab_peer_get(struct idc_context *ctx, const uint8_t *addr, size_t len, uint64_t *peer)
{
    struct fab_ctx *fc = fab_ctx_of(ctx);
    struct fab_peer *victim = NULL;
    if (len == 0 || len > FAB_ADDR_MAX)
        return IDC_ERR_INVAL;
    for (unsigned i = 0; i < FAB_PEERS; i++) {
        struct fab_peer *p = &fc->peers[i];
        if (p->valid && p->len == len && memcmp(p->addr, addr, len) == 0) {
            p->users++;
            p->used = idc__now_ns();
            *peer = i;
            return 0;
        }
        if (p->inflight)
            continue; /* its buffers name it until they complete */
        if (!p->valid)
            victim = victim && !victim->valid ? victim : p;
        else if (!p->users && (!victim || (victim->valid && p->used < victim->used)))
            victim = p;
    }
    if (!victim)
        return IDC_ERR_BUSY;
    if (victim->valid) {
        /* Least recently used and unused: its connection in the provider goes with it. */
        fi_av_remove(fc->av, &victim->fa, 1, 0);
        victim->valid = false;
    }
    fi_addr_t fa;
    int n = fi_av_insert(fc->av, addr, 1, &fa, 0, NULL);
    if (n != 1) {
        if (idc__log_limit(&fc->logs, ctx))
            idc__log(ctx, IDC_LOG_ERROR, "fabric: cannot insert a peer address (%zu bytes): %s",
                     len, fab_lib.fi_strerror(n < 0 ? -n : FI_EINVAL));
        return IDC_ERR_IO;
    }
    memcpy(victim->addr, addr, len);
    victim->len = (uint32_t)len;
    victim->fa = fa;
    victim->users = 1;
    victim->used = idc__now_ns();
    victim->valid = true;
    *peer = (uint64_t)(victim - fc->peers);
    return 0;
}

void fab_peer_put(struct idc_context *ctx, uint64_t peer, bool dead)
{
    struct fab_ctx *fc = fab_ctx_of(ctx);
    if (peer >= FAB_PEERS || !fc->peers[peer].users)
        return;
    struct fab_peer *p = &fc->peers[peer];
    if (--p->users || !dead)
        return;
    /* A peer that went silent: the provider's connection to it goes too, with the sends it
       still holds (they complete with an error and their buffers come back). */
    fi_av_remove(fc->av, &p->fa, 1, 0);
    p->valid = false;
    idc__log(ctx, IDC_LOG_DEBUG, "fabric: dead peer forgotten (%u send buffers free)", fc->sfree_n);
}

/* ---------------------------------------------------------------------------------- send */

int fab_send(struct idc_context *ctx, uint64_t peer, uint64_t token, const struct fab_hdr *h,
             const void *p1, size_t n1, const void *p2, size_t n2)
{
    struct fab_ctx *fc = fab_ctx_of(ctx);
    size_t total = sizeof(*h) + n1 + n2;
    if (!fc->net_open)
        return IDC_ERR_IO;
    if (peer >= FAB_PEERS || !fc->peers[peer].valid || total > FAB_BUF_BYTES)
        return IDC_ERR_INVAL;
    struct fab_peer *p = &fc->peers[peer];
    /* Every record completes (nothing is injected): a peer whose process died shows as a failed
       send, and a peer that stops reading holds at most its share of the send buffers (the
       provider's queue is shared by every peer of the endpoint). */
    if (p->inflight >= (token ? FAB_PEER_SENDS : FAB_PEER_REPLIES))
        return IDC_ERR_AGAIN;
    struct fab_buf *b = fc->sfree;
    if (!b) {
        fc->want_ready = true;
        return IDC_ERR_AGAIN;
    }
    memcpy(b->data, h, sizeof(*h));
    if (n1)
        memcpy(b->data + sizeof(*h), p1, n1);
    if (n2)
        memcpy(b->data + sizeof(*h) + n1, p2, n2);
    b->token = token;
    b->peer = (uint32_t)peer;
    ssize_t r = fi_send(fc->ep, b->data, total, NULL, p->fa, b);
    if (r == 0) {
        fc->sfree = b->next;
        fc->sfree_n--;
        p->inflight++;
        return 0;
    }
    if (r == -FI_EAGAIN) {
        fc->want_ready = true;
        return IDC_ERR_AGAIN;
    }
    if (idc__log_limit(&fc->logs, ctx))
        idc__log(ctx, IDC_LOG_ERROR, "fabric: send: %s", fab_lib.fi_strerror((int)-r));
    return IDC_ERR_IO;
}

/* A send buffer is back (completed or failed). */
static void send_done(struct fab_ctx *fc, struct fab_buf *b)
{
    if (b->peer < FAB_PEERS && fc->peers[b->peer].inflight)
        fc->peers[b->peer].inflight--;
    b->next = fc->sfree;
    fc->sfree = b;
    fc->sfree_n++;
}

/* ------------------------------------------------------------------------------- receive */

static int post_recv(struct fab_ctx *fc, struct fab_buf *b)
{
    ssize_t r;
    do
        r = fi_recv(fc->ep, b->data, FAB_BUF_BYTES, NULL, FI_ADDR_UNSPEC, b);
    while (r == -FI_EAGAIN && fi_cq_read(fc->cq, NULL, 0) >= -FI_EAGAIN);
    if (r) {
        idc__log(fc->ctx, IDC_LOG_ERROR, "fabric: posting a receive buffer: %s",
                 fab_lib.fi_strerror((int)-r));
        return IDC_ERR_IO;
    }
    return 0;
}

/* One record received: framing checked here (magic, size), the rest in channel.c. */
static void on_record(struct fab_ctx *fc, struct fab_buf *b, size_t len)
{
    struct fab_hdr h;
    if (len < sizeof(h)) {
        if (idc__log_limit(&fc->logs, fc->ctx))
            idc__log(fc->ctx, IDC_LOG_WARN, "fabric: dropped a %zu-byte record (too short)", len);
        return;
    }
    memcpy(&h, b->data, sizeof(h)); /* the only read of the header */
    if (h.magic != FAB_MAGIC || h.len != len - sizeof(h) || (h.flags & ~FAB_F_KNOWN)) {
        if (idc__log_limit(&fc->logs, fc->ctx))
            idc__log(fc->ctx, IDC_LOG_WARN,
                     "fabric: dropped a malformed record (%zu bytes, magic %#x, type %u)", len,
                     h.magic, h.type);
        return;
    }
    if (h.type >= FAB_XREQ && h.type <= FAB_XALIVE)
        fab_buf_record(fc->ctx, &h, b->data + sizeof(h));
    else
        fab_chan_record(fc->ctx, &h, b->data + sizeof(h));
}

static void on_error(struct fab_ctx *fc)
{
    struct fi_cq_err_entry e;
    memset(&e, 0, sizeof(e));
    if (fi_cq_readerr(fc->cq, &e, 0) != 1)
        return;
    struct fab_op *op = e.op_context;
    if (op && op->kind == FAB_OP_RMA) {
        fab_buf_rma_done(fc->ctx, op, e.err ? e.err : FI_EIO);
        return;
    }
    struct fab_buf *b = e.op_context;
    if (op && op->kind == FAB_OP_RECV) {
        if (e.err != FI_ECANCELED && idc__log_limit(&fc->logs, fc->ctx))
            idc__log(fc->ctx, IDC_LOG_WARN, "fabric: receive failed: %s",
                     fab_lib.fi_strerror(e.err));
        if (b && e.err != FI_ECANCELED)
            post_recv(fc, b);
        return;
    }
    if (!b || b < fc->sbufs || b >= fc->sbufs + FAB_SEND_BUFS)
        return; /* not one of our send buffers */
    send_done(fc, b);
    char why[96];
    snprintf(why, sizeof(why), "send failed: %s", fab_lib.fi_strerror(e.err));
    fab_chan_send_error(fc->ctx, b->token, why);
    fab_buf_send_error(fc->ctx, b->token);
}

/* Returns the records received. */
static unsigned cq_drain(struct fab_ctx *fc)
{
    struct fi_cq_msg_entry ent[FAB_CQ_BATCH];
    bool freed = false;
    unsigned records = 0;
    for (int round = 0; round < FAB_CQ_ROUNDS; round++) {
        ssize_t n = fi_cq_read(fc->cq, ent, FAB_CQ_BATCH);
        if (n == -FI_EAVAIL) {
            on_error(fc);
            continue;
        }
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++) {
            struct fab_op *op = ent[i].op_context;
            struct fab_buf *b = ent[i].op_context;
            if (!op)
                continue;
            if (op->kind == FAB_OP_RMA) {
                fab_buf_rma_done(fc->ctx, op, 0);
            } else if (op->kind == FAB_OP_RECV) {
                on_record(fc, b, ent[i].len);
                records++;
                if (fc->net_open)
                    post_recv(fc, b);
            } else {
                send_done(fc, b);
                freed = true;
            }
        }
        /* A short batch emptied the queue: another read would only run the provider's
           progress once more for nothing (a system call or more on tcp). What arrives later
           signals the wait fd, which cq_fire's fi_trywait checks before the context sleeps. */
        if (n < FAB_CQ_BATCH)
            break;
    }
    if ((freed || fc->want_ready) && fc->sfree) {
        fc->want_ready = false;
        fab_chan_send_ready(fc->ctx);
    }
    return records;
}

bool fab_spin_poll(struct idc_link *l)
{
    struct fab_ctx *fc = fab_ctx_of(l->ctx);
    return fc->net_open && cq_drain(fc) > 0;
}

void fab_progress(struct idc_context *ctx)
{
    struct fab_ctx *fc = fab_ctx_of(ctx);
    if (fc->net_open)
        cq_drain(fc);
}

static void cq_fire(struct idc_watch *w, uint32_t events)
{
    (void)events;
    struct fab_ctx *fc = w->arg;
    /* Dispatch spins (the fds are polled between two spin rounds, and again before it sleeps):
       a drain, and the wait fd left as it is. fi_trywait would reset rxm's signal (a read and
       two or three epoll_wait on tcp;ofi_rxm) only for the next completion to write it again
       (one more system call, between a request's arrival and its answer), and it would run
       at each of those polls while the signal is up. */
    if (idc__ctx_spinning(fc->ctx)) {
        cq_drain(fc);
        return;
    }
    /* The wait fd only signals completions after fi_trywait said so: drain until it does. */
    for (int i = 0; i < 8 && fc->net_open; i++) {
        if (cq_drain(fc) && fc->net_open) {
            /* Records arrived: the answers their callbacks produced go out when the core
               flushes, after this returns. fi_trywait's system calls (several on tcp;ofi_rxm)
               would come first and delay them, and the peer waits for them; a requester would
               likewise see its answer later. So the wait fd is left readable (fi_cq_signal:
               no system call when the completions just read already signalled it) and the
               next wait comes back here at once, collects the send's completion and tries
               then: one fi_trywait per exchange instead of one per completion. A provider
               that cannot signal gets the fi_trywait now. */
            if (fi_cq_signal(fc->cq) == 0)
                return;
        }
        struct fid *f = &fc->cq->fid;
        if (fi_trywait(fc->fabric, &f, 1) == 0)
            break;
    }
}

static void tick_fire(struct idc_timer *t)
{
    struct fab_ctx *fc = t->arg;
    if (!fc->net_open)
        return;
    cq_drain(fc); /* progress for providers that need the application to call in */
    fab_chan_tick(fc->ctx);
    fab_buf_tick(fc->ctx);
    if (fc->net_open)
        idc__timer_arm(fc->ctx, &fc->tick, FAB_TICK_MS);
}

/* Remote-buffer work in flight: the provider moves RMA bytes only when it is called (manual
   progress), and its wait fd was seen not to wake the context for them (a 1 MiB fi_write
   stalled past the heartbeat bound, its XALIVEs queued behind it). So while buffers.c has
   transfers or serves open, the queue is drained every FAB_RMA_POLL_MS. */
static void rma_fire(struct idc_timer *t)
{
    struct fab_ctx *fc = t->arg;
    if (!fc->net_open)
        return;
    cq_drain(fc);
    if (fc->net_open)
        fab_buf_retry(fc->ctx); /* answers waiting for a send buffer the drain gave back */
    if (fc->net_open && fab_buf_busy(fc->ctx))
        idc__timer_arm(fc->ctx, &fc->rma, FAB_RMA_POLL_MS);
}

void fab_rma_started(struct idc_context *ctx)
{
    struct fab_ctx *fc = fab_ctx_of(ctx);
    if (fc->net_open && !fc->rma.armed)
        idc__timer_arm(ctx, &fc->rma, FAB_RMA_POLL_MS);
}

/* ---------------------------------------------------------------------------- open/close */

static void net_close(struct fab_ctx *fc)
{
    if (fc->cqw.fn)
        idc__watch_del(fc->ctx, &fc->cqw);
    fc->cqw.fn = NULL;
    idc__timer_cancel(fc->ctx, &fc->tick);
    idc__timer_cancel(fc->ctx, &fc->rma);
    fc->net_open = false;
    if (fc->ep)
        fi_close(&fc->ep->fid);
    if (fc->av)
        fi_close(&fc->av->fid);
    if (fc->cq)
        fi_close(&fc->cq->fid);
    if (fc->domain)
        fi_close(&fc->domain->fid);
    if (fc->fabric)
        fi_close(&fc->fabric->fid);
    if (fc->info)
        fab_lib.fi_freeinfo(fc->info);
    fc->ep = NULL;
    fc->av = NULL;
    fc->cq = NULL;
    fc->domain = NULL;
    fc->fabric = NULL;
    fc->info = NULL;
    free(fc->rbufs);
    free(fc->sbufs);
    fc->rbufs = fc->sbufs = fc->sfree = NULL;
    memset(fc->peers, 0, sizeof(fc->peers));
}

void fab_net_close(struct idc_context *ctx)
{
    struct fab_ctx *fc = fab_ctx_of(ctx);
    if (fc->net_open) {
        net_close(fc);
        fc->net_err = IDC_ERR_IO; /* not reopened: the context is going */
    }
}

static int fi_fail(struct fab_ctx *fc, const char *what, int r)
{
    idc__log(fc->ctx, IDC_LOG_ERROR, "fabric: %s: %s", what, fab_lib.fi_strerror(r < 0 ? -r : r));
    return IDC_ERR_IO;
}

static int get_info(struct fab_ctx *fc)
{
    struct fi_info *hints = fab_lib.fi_dupinfo(NULL);
    if (!hints)
        return IDC_ERR_NOMEM;
    hints->caps = FI_MSG | FI_RMA | FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE;
    hints->ep_attr->type = FI_EP_RDM;
    hints->mode = FI_CONTEXT | FI_CONTEXT2;
    hints->domain_attr->mr_mode = FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY;
    hints->domain_attr->threading = FI_THREAD_DOMAIN;
    hints->tx_attr->msg_order = FI_ORDER_SAS;
    hints->rx_attr->msg_order = FI_ORDER_SAS;
    /* FI_PROVIDER (libfabric's own filter) picks another provider, e.g. verbs;ofi_rxm. */
    const char *prov = getenv("FI_PROVIDER");
    if (!prov || !*prov)
        hints->fabric_attr->prov_name = strdup(FAB_PROVIDER);
    const char *node = getenv("IDC_FABRIC_ADDR"); /* the local address to receive on */
    int r = fab_lib.fi_getinfo(FI_VERSION(1, 9), node && *node ? node : NULL, NULL,
                               node && *node ? FI_SOURCE : 0, hints, &fc->info);
    fab_lib.fi_freeinfo(hints);
    if (r) {
        idc__log(fc->ctx, IDC_LOG_ERROR, "fabric: no provider for %s%s%s: %s",
                 prov && *prov ? prov : FAB_PROVIDER, node && *node ? " on " : "",
                 node && *node ? node : "", fab_lib.fi_strerror(-r));
        return IDC_ERR_NOTSUP;
    }
    return 0;
}

static int open_objects(struct fab_ctx *fc)
{
    struct fi_info *fi = fc->info;
    int r = fab_lib.fi_fabric(fi->fabric_attr, &fc->fabric, NULL);
    if (r)
        return fi_fail(fc, "fi_fabric", r);
    if ((r = fi_domain(fc->fabric, fi, &fc->domain, NULL)))
        return fi_fail(fc, "fi_domain", r);
    struct fi_cq_attr cqa = { .size = 1024, .format = FI_CQ_FORMAT_MSG, .wait_obj = FI_WAIT_FD };
    if ((r = fi_cq_open(fc->domain, &cqa, &fc->cq, NULL)))
        return fi_fail(fc, "fi_cq_open", r);
    struct fi_av_attr ava = { .type = FI_AV_TABLE, .count = FAB_PEERS };
    if ((r = fi_av_open(fc->domain, &ava, &fc->av, NULL)))
        return fi_fail(fc, "fi_av_open", r);
    if ((r = fi_endpoint(fc->domain, fi, &fc->ep, NULL)))
        return fi_fail(fc, "fi_endpoint", r);
    if ((r = fi_ep_bind(fc->ep, &fc->cq->fid, FI_TRANSMIT | FI_RECV)) ||
        (r = fi_ep_bind(fc->ep, &fc->av->fid, 0)) || (r = fi_enable(fc->ep)))
        return fi_fail(fc, "binding the endpoint", r);
    fc->self_len = sizeof(fc->self);
    if ((r = fi_getname(&fc->ep->fid, fc->self, &fc->self_len)))
        return fi_fail(fc, "fi_getname", r);
    return 0;
}

static int open_buffers(struct fab_ctx *fc)
{
    fc->rbufs = calloc(FAB_RECV_BUFS, sizeof(struct fab_buf));
    fc->sbufs = calloc(FAB_SEND_BUFS, sizeof(struct fab_buf));
    if (!fc->rbufs || !fc->sbufs)
        return IDC_ERR_NOMEM;
    for (unsigned i = 0; i < FAB_RECV_BUFS; i++)
        fc->rbufs[i].op.kind = FAB_OP_RECV;
    for (unsigned i = 0; i < FAB_SEND_BUFS; i++) {
        fc->sbufs[i].op.kind = FAB_OP_SEND;
        fc->sbufs[i].next = fc->sfree;
        fc->sfree = &fc->sbufs[i];
    }
    fc->sfree_n = FAB_SEND_BUFS;
    for (unsigned i = 0; i < FAB_RECV_BUFS; i++)
        if (post_recv(fc, &fc->rbufs[i]) < 0)
            return IDC_ERR_IO;
    int fd = -1;
    int r = fi_control(&fc->cq->fid, FI_GETWAIT, &fd);
    if (r || fd < 0)
        return fi_fail(fc, "the completion queue's wait fd", r ? r : -FI_ENOSYS);
    fc->cqw = (struct idc_watch){ .fd = fd, .events = EPOLLIN, .fn = cq_fire, .arg = fc };
    if (idc__watch_add(fc->ctx, &fc->cqw) < 0) {
        fc->cqw.fn = NULL;
        return IDC_ERR_IO;
    }
    fc->tick = (struct idc_timer){ .fn = tick_fire, .arg = fc };
    fc->rma = (struct idc_timer){ .fn = rma_fire, .arg = fc };
    idc__timer_arm(fc->ctx, &fc->tick, FAB_TICK_MS);
    return 0;
}

/* Signals some libfabric providers take over when they are loaded (crash reporters, and
   handlers for SIGINT/SIGTERM that end the process): their dispositions belong to the program,
   which set them before its first fabric endpoint (when the libraries were linked, their
   constructors ran before main and the program's settings won; they still must). */
static const int kept_signals[] = { SIGSEGV, SIGBUS,  SIGILL, SIGABRT, SIGFPE,  SIGINT,
                                    SIGTERM, SIGQUIT, SIGHUP, SIGPIPE, SIGUSR1, SIGUSR2 };
#define KEPT_SIGNALS (sizeof(kept_signals) / sizeof(kept_signals[0]))

static void signals_save(struct sigaction *old)
{
    for (size_t i = 0; i < KEPT_SIGNALS; i++)
        sigaction(kept_signals[i], NULL, &old[i]);
}

static void signals_restore(const struct sigaction *old)
{
    for (size_t i = 0; i < KEPT_SIGNALS; i++)
        sigaction(kept_signals[i], &old[i], NULL);
}

int fab_libs(struct idc_context *ctx)
{
    struct sigaction sigs[KEPT_SIGNALS];
    signals_save(sigs);
    const char *why = fab_lib_load();
    signals_restore(sigs);
    if (why) {
        idc__log(ctx, IDC_LOG_ERROR, "fabric: not available: %s", why);
        return IDC_ERR_NOTSUP;
    }
    return 0;
}

int fab_net_open(struct idc_context *ctx)
{
    struct fab_ctx *fc = fab_ctx_of(ctx);
    if (fc->net_open || fc->net_err)
        return fc->net_err;
    int r = fab_libs(ctx);
    if (r < 0) {
        fc->net_err = r;
        return r;
    }
    struct sigaction sigs[KEPT_SIGNALS];
    signals_save(sigs);
    r = get_info(fc); /* loads the providers */
    signals_restore(sigs);
    if (!r)
        r = open_objects(fc);
    if (!r)
        r = open_buffers(fc);
    if (r) {
        net_close(fc);
        fc->net_err = r;
        return r;
    }
    fc->net_open = true;
    idc__log(ctx, IDC_LOG_DEBUG, "fabric: provider %s, node %s", fc->info->fabric_attr->prov_name,
             fc->node);
    return 0;
}

/* ------------------------------------------------------------------------------ records */

void fab_record(struct idc_context *ctx, char *out, size_t n)
{
    size_t alen;
    const uint8_t *a = fab_self_addr(ctx, &alen);
    int w = snprintf(out, n, "idc-fabric 1 node=%s addr=", fab_node(ctx));
    for (size_t i = 0; i < alen && w > 0 && (size_t)w + 3 <= n; i++)
        w += snprintf(out + w, n - (size_t)w, "%02x", a[i]);
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* "idc-fabric 1 node=NODE addr=HEX" */
bool fab_parse_record(const char *rec, char *node, size_t node_len, uint8_t *addr,
                      uint32_t *addrlen)
{
    static const char pre[] = "idc-fabric 1 node=";
    if (strncmp(rec, pre, sizeof(pre) - 1) != 0)
        return false;
    const char *n = rec + sizeof(pre) - 1;
    const char *sp = strchr(n, ' ');
    if (!sp || (size_t)(sp - n) >= node_len || strncmp(sp, " addr=", 6) != 0)
        return false;
    memcpy(node, n, (size_t)(sp - n));
    node[sp - n] = 0;
    if (!idc__valid_name(node))
        return false;
    const char *hx = sp + 6;
    size_t hl = strlen(hx);
    if (hl == 0 || hl % 2 || hl / 2 > FAB_ADDR_MAX)
        return false;
    for (size_t i = 0; i < hl; i++) {
        int d = hex_digit(hx[i]);
        if (d < 0)
            return false;
        addr[i / 2] = (uint8_t)(i % 2 ? (addr[i / 2] << 4) | d : d);
    }
    *addrlen = (uint32_t)(hl / 2);
    return true;
}

/* ------------------------------------------------------------------------------ context */

/* Cheap: the registry and the node identity are read now, nothing is opened until the first
   fabric endpoint starts. */
static int fab_ctx_init(struct idc_context *ctx, const struct idc_context_options *opt)
{
    struct fab_ctx *fc = calloc(1, sizeof(*fc));
    if (!fc)
        return IDC_ERR_NOMEM;
    fc->ctx = ctx;
    *idc__ctx_slot(ctx, &idc_transport_fabric) = fc;
    const char *reg = opt && opt->zookeeper ? opt->zookeeper : getenv("IDC_ZOOKEEPER");
    if (reg && *reg && !(fc->registry = strdup(reg)))
        return IDC_ERR_NOMEM;
    fc->hb_ms = opt && opt->heartbeat_ms ? opt->heartbeat_ms
                                         : idc__env_uint("IDC_HEARTBEAT_MS", FAB_HEARTBEAT_MS_MIN,
                                                         3600000, FAB_HEARTBEAT_MS_DEFAULT);
    if (fc->hb_ms < FAB_HEARTBEAT_MS_MIN)
        fc->hb_ms = FAB_HEARTBEAT_MS_MIN;
    const char *node = getenv("IDC_NODE");
    /* (the locator is set below, once the node identity is known) */
    if (node && *node)
        snprintf(fc->node, sizeof(fc->node), "%s", node);
    else if (gethostname(fc->node, sizeof(fc->node) - 1) < 0)
        snprintf(fc->node, sizeof(fc->node), "unknown");
    /* A host name that is no node identity ("(none)" in a bare initramfs) must not fail the
       context: only fabric needs it, and fab_node_check fails fabric endpoints with the reason. */
    fc->node_bad = !idc__valid_name(fc->node) || strlen(fc->node) > FAB_NODE_MAX;
    /* With a registry, owner ids name the node: shm reaches owners of the same node, fabric the
       others. It wins over a Xen domain's locator (idc__ctx_set_locator says why). */
    idc__ctx_set_locator(ctx, fab_locator(ctx));
    return 0;
}

int fab_node_check(struct idc_context *ctx)
{
    struct fab_ctx *fc = fab_ctx_of(ctx);
    if (!fc->node_bad)
        return 0;
    idc__log(ctx, IDC_LOG_ERROR,
             "fabric: node identity '%s' is not [A-Za-z0-9._-]{1,63} (set $IDC_NODE)", fc->node);
    return IDC_ERR_INVAL;
}

uint16_t fab_locator(struct idc_context *ctx)
{
    struct fab_ctx *fc = fab_ctx_of(ctx);
    if (!fc->registry || fc->node_bad)
        return 0;
    uint32_t h = 2166136261u; /* FNV-1a of the node identity, in 15 bits; bit 15 marks fabric */
    for (const char *p = fc->node; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return (uint16_t)(IDC_OWNER_LOC_FABRIC | ((h ^ (h >> 15)) & 0x7fffu));
}

static void fab_ctx_fini(struct idc_context *ctx)
{
    struct fab_ctx *fc = fab_ctx_of(ctx);
    if (!fc)
        return;
    fab_buffers_fini(ctx);
    fab_zk_stop(ctx);
    net_close(fc);
    free(fc->registry);
    free(fc);
    *idc__ctx_slot(ctx, &idc_transport_fabric) = NULL;
}

const struct idc_transport idc_transport_fabric = {
    .name = "fabric",
    .address_check = fab_address_check,
    .ctx_init = fab_ctx_init,
    .ctx_fini = fab_ctx_fini,
    .ep_start = fab_ep_start,
    .chan_close = fab_chan_close,
    .ep_rearm = fab_ep_rearm,
    .ep_stop = fab_ep_stop,
    .notify = fab_notify,
    .spin_poll = fab_spin_poll,
    .rbuf_publish = fab_rbuf_publish,
    .rbuf_reaches = fab_rbuf_reaches,
    .rbuf_transfer = fab_rbuf_transfer,
    .rbuf_revoke = fab_rbuf_revoke,
    .rbuf_withdraw = fab_rbuf_withdraw,
};
