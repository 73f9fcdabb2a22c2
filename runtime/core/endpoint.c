/* endpoint.c - endpoint lifecycle, messages, transactions, credits, epochs.
 *
 * States (see docs/runtime.md for the diagram):
 *   ABSENT --appear--> PRESENT --channel up--> CONNECTED --down--> DISCONNECTING
 *   DISCONNECTING --disconnect_done--> PRESENT (transport rearms) | ABSENT (peer gone)
 *   any --destroy--> (down, disconnect_done) --> disappear --> done --> UNUSED
 *
 * Transitions requested by the driver (destroy, disconnect, disconnect_done, protocol errors)
 * are deferred to the dispatch loop (IDC_PEND_*), so callbacks never nest and run only inside
 * dispatch. Transitions reported by the transport happen inside dispatch already.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SLOT_BITS 12u /* IDC_MAX_CREDITS == 1 << SLOT_BITS */
#define SLOT_MASK ((1u << SLOT_BITS) - 1)
_Static_assert(IDC_MAX_CREDITS == (1u << SLOT_BITS), "slot bits match the credit limit");

static const char *state_name(enum idc_endpoint_state s)
{
    static const char *const n[] = { "unused",    "dead",          "absent",    "present",
                                     "connected", "disconnecting", "destroying" };
    return (unsigned)s < sizeof(n) / sizeof(n[0]) ? n[s] : "?";
}

static struct idc_ep *live(const struct idc_endpoint *pub)
{
    struct idc_ep *ep = (struct idc_ep *)(void *)pub;
    return ep && ep->magic == IDC_EP_MAGIC ? ep : NULL;
}

void idc__ep_mark_pending(struct idc_ep *ep, unsigned what)
{
    ep->pend |= what;
    if (!ep->on_pending) {
        ep->on_pending = true;
        ep->pend_next = ep->link.ctx->pending;
        ep->link.ctx->pending = ep;
    }
    idc__kick(ep->link.ctx);
}

static void ep_flush(struct idc_ep *ep);

/* A frame was written. Outside dispatch it is published at once, with the notify decision
   unless corked. In a dispatch round, corked or not, the decision waits for the round's end
   (or is taken now if the round grew long while the consumer waits on another CPU: ring.h),
   and so does the publication of a spinning endpoint's frames: they go out when the callback
   that sent them returns (publish_dirty), every 512 bytes of a long round, or at the round's
   end. Its peer polls the ring (spinning is for connections where both ends poll), and a
   consumer polling a ring published per frame fetches the producer's index line per frame:
   cross-core, it took a 16-message callback's frames one or two at a time, each time with a
   publication, a fence and a fetch of the producer's line of its own (0.41-0.52x the bare
   ring, which publishes per 16; 0.69-0.70x per callback). A blocking endpoint publishes each
   frame at once: a consumer still awake for the previous frames then finds it before it arms
   and sleeps (per callback, that cost the blocking case 10-20 %: more sleeps and wake-ups). */
static inline __attribute__((always_inline)) void mark_dirty(struct idc_ep *ep)
{
    struct idc_ring_tx *tx = &ep->conn->tx;
    if (!ep->link.ctx->in_dispatch) {
        if (!ep->corked) {
            ep_flush(ep); /* publishes, then decides */
            return;
        }
        idc_ring_tx_store_prod(tx);
    } else {
        if (ep->spin_us)
            ep->link.ctx->unpublished = true;
        else
            idc_ring_tx_store_prod(tx);
        if (idc_ring_tx_decide_early(tx, ep->link.tp->shares_cpus ? idc__cpu : NULL)) {
            ep_flush(ep);
            return;
        }
    }
    if (!ep->on_dirty) {
        ep->on_dirty = true;
        ep->dirty_next = ep->link.ctx->dirty;
        ep->link.ctx->dirty = ep;
    }
}

static void ep_flush(struct idc_ep *ep)
{
    struct idc_conn *c = ep->conn;
    if (c && c->up && idc_ring_tx_need_notify(&c->tx)) /* publishes first */
        ep->link.tp->notify(&ep->link);
}

void idc__flush_dirty(struct idc_context *ctx)
{
    while (ctx->dirty) {
        struct idc_ep *ep = ctx->dirty;
        ctx->dirty = ep->dirty_next;
        ep->on_dirty = false;
        ep_flush(ep);
    }
    ctx->unpublished = false; /* each flush published its endpoint's frames */
}

/* Publishes the frames the endpoints of this dispatch round wrote (no notify decision). */
static void publish_dirty(struct idc_context *ctx)
{
    ctx->unpublished = false;
    for (struct idc_ep *ep = ctx->dirty; ep; ep = ep->dirty_next)
        if (ep->conn && ep->conn->up)
            idc_ring_tx_publish(&ep->conn->tx);
}

/* Ask for the connection to be taken down (deferred). The rings are not touched afterwards. */
static void request_down(struct idc_ep *ep, int err, const char *reason)
{
    if (ep->state != IDC_EP_CONNECTED || (ep->pend & IDC_PEND_DOWN))
        return;
    if (ep->conn)
        ep->conn->up = false;
    snprintf(ep->down_reason, sizeof(ep->down_reason), "%s (%s)", reason,
             err ? idc_strerror(err) : "local");
    ep->down_err = err;
    ep->last_err = err ? err : IDC_ERR_DISCONNECTED;
    idc__ep_mark_pending(ep, IDC_PEND_DOWN);
}

static void do_down(struct idc_ep *ep)
{
    struct idc_conn *c = ep->conn;
    if (ep->state != IDC_EP_CONNECTED)
        return;
    c->up = false;
    ep->state = IDC_EP_DISCONNECTING;
    /* A peer that went away is ordinary (info); one that broke a rule, or a local failure, is
       not (warning), so an operator sees every abnormal disconnect and its reason. */
    bool ordinary = ep->down_err == 0 || ep->down_err == IDC_ERR_DISCONNECTED;
    idc__log(ep->link.ctx, ordinary ? IDC_LOG_INFO : IDC_LOG_WARN, "%s: disconnected: %s",
             ep->link.address, ep->down_reason);
    ep->ctr->disconnects++;
    if (!ordinary)
        ep->ctr->errors++;
    idc__stats_sync(ep);
    ep->link.tp->chan_close(&ep->link);
    /* Every outstanding client transaction completes with a transport error before the
       disconnect callback. Slots are cleared first: done may submit again (it gets
       IDC_ERR_DISCONNECTED). */
    for (uint32_t s = 0; s < c->cap_tx; s++) {
        struct idc_txn *t = c->out[s].txn;
        if (!t)
            continue;
        c->out[s].txn = NULL;
        c->out_free[c->out_nfree++] = s;
        c->out_count--;
        ep->ctr->txn_done++;
        t->done(t, IDC_ERR_DISCONNECTED, NULL, 0);
    }
    ep->ops->disconnect(idc__pub(ep));
}

static void unlink_ep(struct idc_ep *ep)
{
    struct idc_context *ctx = ep->link.ctx;
    idc__timer_cancel(ctx, &ep->deadline);
    if (ep->prev)
        ep->prev->next = ep->next;
    else if (ctx->eps == ep)
        ctx->eps = ep->next;
    if (ep->next)
        ep->next->prev = ep->prev;
    for (struct idc_ep **pp = &ctx->pending; *pp; pp = &(*pp)->pend_next)
        if (*pp == ep) {
            *pp = ep->pend_next;
            break;
        }
    for (struct idc_ep **pp = &ctx->dirty; *pp; pp = &(*pp)->dirty_next)
        if (*pp == ep) {
            *pp = ep->dirty_next;
            break;
        }
}

static void free_conn(struct idc_ep *ep)
{
    struct idc_conn *c = ep->conn;
    if (!c)
        return;
    free(c->out);
    free(c->out_free);
    free(c->reqs);
    free(c->resp_end);
    free(c->rxbuf);
    free(c);
    ep->conn = NULL;
}

static void finish_destroy(struct idc_ep *ep)
{
    void (*done)(struct idc_endpoint *) = ep->destroy_done;
    if (ep->link.tp && ep->tp_started)
        ep->link.tp->ep_stop(&ep->link);
    if (ep->appeared) {
        ep->appeared = false;
        if (ep->ops && ep->ops->disappear)
            ep->ops->disappear(idc__pub(ep));
    }
    if (ep->conn && ep->conn->req_held)
        idc__log(ep->link.ctx, IDC_LOG_WARN, "%s: destroyed with %u requests never completed",
                 ep->link.address, ep->conn->req_held);
    idc__stats_detach(ep);
    free_conn(ep);
    unlink_ep(ep);
    memset(ep, 0, sizeof(*ep)); /* magic cleared: storage reusable, destroy again harmless */
    if (done)
        done(idc__pub(ep));
}

static void process_rx(struct idc_ep *ep);

/* The frontend's connect deadline passed: tell the driver why it is still not connected. */
static void deadline_passed(struct idc_timer *t)
{
    struct idc_ep *ep = t->arg;
    if (ep->magic != IDC_EP_MAGIC || ep->destroying || ep->state == IDC_EP_CONNECTED ||
        ep->state == IDC_EP_DISCONNECTING)
        return;
    if (!ep->last_err) {
        ep->last_err = IDC_ERR_TIMEOUT;
        snprintf(ep->down_reason, sizeof(ep->down_reason), "%s within %u ms",
                 ep->appeared ? "the service did not accept the connection" : "no service answered",
                 ep->connect_timeout_ms);
    }
    idc__log(ep->link.ctx, IDC_LOG_WARN, "%s: not connected after %u ms: %s (%s)", ep->link.address,
             ep->connect_timeout_ms, ep->down_reason, idc_strerror(ep->last_err));
    if (ep->ops->unanswered)
        ep->ops->unanswered(idc__pub(ep), ep->last_err);
}

/* A frontend starts (again) to wait for a connection: from create, from disconnect_done. */
static void deadline_arm(struct idc_ep *ep)
{
    if (!ep->connect_timeout_ms || ep->link.role != IDC_ROLE_FRONTEND)
        return;
    ep->deadline.fn = deadline_passed;
    ep->deadline.arg = ep;
    idc__timer_arm(ep->link.ctx, &ep->deadline, ep->connect_timeout_ms);
}

static void after_disconnect_done(struct idc_ep *ep)
{
    if (ep->state != IDC_EP_DISCONNECTING)
        return;
    if (ep->conn && ep->conn->req_held)
        idc__log(ep->link.ctx, IDC_LOG_WARN,
                 "%s: disconnect_done with %u requests not completed (they are dropped)",
                 ep->link.address, ep->conn->req_held);
    ep->state = ep->appeared ? IDC_EP_PRESENT : IDC_EP_ABSENT;
    if (ep->destroying) {
        finish_destroy(ep);
        return;
    }
    deadline_arm(ep);
    idc__stats_sync(ep);
    ep->link.tp->ep_rearm(&ep->link);
}

void idc__ep_run_pending(struct idc_ep *ep)
{
    if (ep->magic != IDC_EP_MAGIC)
        return;
    unsigned p = ep->pend;
    ep->pend = 0;
    if (p & IDC_PEND_START && !ep->destroying && ep->state == IDC_EP_ABSENT) {
        ep->tp_started = true;
        int r = ep->link.tp->ep_start(&ep->link);
        if (r < 0) {
            idc__log(ep->link.ctx, IDC_LOG_ERROR, "%s: cannot start: %s", ep->link.address,
                     idc_strerror(r));
            snprintf(ep->down_reason, sizeof(ep->down_reason), "cannot start: %s", idc_strerror(r));
            ep->state = IDC_EP_DEAD;
            ep->ctr->errors++;
            idc__stats_sync(ep);
        }
    }
    if (p & IDC_PEND_DOWN)
        do_down(ep);
    if (p & IDC_PEND_RX)
        process_rx(ep);
    if (p & IDC_PEND_WRITABLE && ep->state == IDC_EP_CONNECTED && ep->conn->up && ep->ops->writable)
        ep->ops->writable(idc__pub(ep));
    if (p & IDC_PEND_DDONE)
        after_disconnect_done(ep);
    if (p & IDC_PEND_DESTROY && ep->magic == IDC_EP_MAGIC) {
        if (ep->state == IDC_EP_CONNECTED) {
            if (!(ep->pend & IDC_PEND_DOWN)) {
                snprintf(ep->down_reason, sizeof(ep->down_reason), "endpoint destroyed");
                ep->down_err = 0;
            }
            do_down(ep);
        } else if (ep->state != IDC_EP_DISCONNECTING) {
            finish_destroy(ep);
        }
        /* DISCONNECTING: after_disconnect_done finishes the destroy */
    }
}

/* ---------------------------------------------------------------------------- public API */

/* A configuration that can never work: logged, kept as the endpoint's reason (idcctl). */
static void never(struct idc_ep *ep, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void never(struct idc_ep *ep, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ep->down_reason, sizeof(ep->down_reason), fmt, ap);
    va_end(ap);
    idc__log(ep->link.ctx, IDC_LOG_ERROR, "%s: %s; it will never connect", ep->link.address,
             ep->down_reason);
    ep->ctr->errors++;
}

/* idc_endpoint_create once the endpoint is on the context's list (DEAD until checked). */
static void create_checked(struct idc_ep *ep, const struct idc_endpoint_config *cfg)
{
    const char *why = NULL;
    if (!cfg)
        why = "no configuration";
    else if (!cfg->address)
        why = "no address";
    if (why) {
        snprintf(ep->link.address, sizeof(ep->link.address), "(none)");
        never(ep, "%s", why);
        return;
    }
    ep->link.proto = cfg->protocol;
    ep->ops = cfg->ops;
    ep->user = cfg->user;
    ep->link.role = cfg->role;
    ep->spin_us = cfg->spin_us > 1000000 ? 1000000 : cfg->spin_us;
    ep->link.flags = cfg->flags;
    ep->connect_timeout_ms = cfg->connect_timeout_ms;
    const struct idc_protocol *p = cfg->protocol;
    const struct idc_endpoint_ops *o = cfg->ops;
    if (!p || !p->name || !p->version_hash)
        why = "protocol description missing";
    else if (strlen(p->name) == 0 || strlen(p->name) > IDC_PROTOCOL_NAME_MAX)
        why = "protocol name empty or too long";
    else if (p->min_version == 0 || p->max_version < p->min_version ||
             p->max_version - p->min_version >= IDC_MAX_VERSIONS)
        why = "protocol version range invalid";
    else if (!o || !o->connect || !o->disconnect || !o->handle_message || !o->handle_transaction)
        why = "ops missing connect/disconnect/handle_message/handle_transaction";
    else if (cfg->role != IDC_ROLE_FRONTEND && cfg->role != IDC_ROLE_BACKEND)
        why = "bad role";
    if (!why) {
        ep->link.max_frame = cfg->max_frame ? cfg->max_frame : p->max_frame;
        ep->link.max_tx = cfg->max_transactions ? cfg->max_transactions : IDC_DEFAULT_CREDITS;
        ep->link.max_msg = cfg->max_messages ? cfg->max_messages : IDC_DEFAULT_CREDITS;
        if (ep->link.max_frame > IDC_MAX_FRAME_LIMIT)
            why = "max_frame above IDC_MAX_FRAME_LIMIT";
        else if (ep->link.max_frame < IDC_MIN_FRAME)
            why = "max_frame below IDC_MIN_FRAME (64)";
        else if (ep->link.max_tx > IDC_MAX_CREDITS || ep->link.max_msg > IDC_MAX_CREDITS)
            why = "credits above IDC_MAX_CREDITS";
    }
    if (why) {
        never(ep, "%s", why);
        return;
    }
    char reason[160];
    int err = idc_address_check(cfg->address, cfg->role, reason, sizeof(reason));
    if (err < 0) {
        never(ep, "bad address: %s (%s)", reason, idc_strerror(err));
        return;
    }
    const char *rest;
    ep->link.tp = idc__transport_for(cfg->address, &rest, &err);
    snprintf(ep->link.name, sizeof(ep->link.name), "%s", rest);
    ep->state = IDC_EP_ABSENT;
    deadline_arm(ep);
    idc__ep_mark_pending(ep, IDC_PEND_START);
}

void idc_endpoint_create(struct idc_endpoint *pub, struct idc_context *ctx,
                         const struct idc_endpoint_config *cfg)
{
    if (!pub)
        return;
    struct idc_ep *ep = idc__ep(pub);
    memset(ep, 0, sizeof(*ep));
    if (!ctx) {
        idc__log(NULL, IDC_LOG_ERROR, "idc_endpoint_create: NULL context");
        return; /* stays UNUSED: destroy is harmless, nothing ever happens */
    }
    ep->magic = IDC_EP_MAGIC;
    ep->link.ctx = ctx;
    ep->state = IDC_EP_DEAD;
    ep->next = ctx->eps;
    if (ctx->eps)
        ctx->eps->prev = ep;
    ctx->eps = ep;
    if (cfg && cfg->address)
        snprintf(ep->link.address, sizeof(ep->link.address), "%s", cfg->address);
    idc__stats_attach(ep);
    create_checked(ep, cfg);
    idc__stats_sync(ep);
}

void idc_endpoint_destroy(struct idc_endpoint *pub, void (*done)(struct idc_endpoint *ep))
{
    struct idc_ep *ep = live(pub);
    if (!ep || ep->destroying)
        return;
    ep->destroying = true;
    ep->destroy_done = done;
    idc__stats_sync(ep);
    idc__ep_mark_pending(ep, IDC_PEND_DESTROY);
}

void *idc_endpoint_user(const struct idc_endpoint *pub)
{
    struct idc_ep *ep = live(pub);
    return ep ? ep->user : NULL;
}

struct idc_context *idc_endpoint_context(const struct idc_endpoint *pub)
{
    struct idc_ep *ep = live(pub);
    return ep ? ep->link.ctx : NULL;
}

uint32_t idc_endpoint_version(const struct idc_endpoint *pub)
{
    struct idc_ep *ep = live(pub);
    return ep && ep->state == IDC_EP_CONNECTED && ep->conn ? ep->conn->ch.version : 0;
}

enum idc_endpoint_state idc_endpoint_state(const struct idc_endpoint *pub)
{
    struct idc_ep *ep = live(pub);
    if (!ep)
        return IDC_EP_UNUSED;
    if (ep->destroying && ep->state != IDC_EP_DISCONNECTING)
        return IDC_EP_DESTROYING;
    return ep->state;
}

void idc_endpoint_disconnect_done(struct idc_endpoint *pub)
{
    struct idc_ep *ep = live(pub);
    if (ep && ep->state == IDC_EP_DISCONNECTING)
        idc__ep_mark_pending(ep, IDC_PEND_DDONE);
}

/* Logs why the peer is at fault and takes the connection down (once: a connection already on
   its way down keeps its first reason). */
static void vproto_fail(struct idc_ep *ep, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void vproto_fail(struct idc_ep *ep, const char *fmt, va_list ap)
{
    char why[120];
    vsnprintf(why, sizeof(why), fmt, ap);
    if (ep->state != IDC_EP_CONNECTED || (ep->pend & IDC_PEND_DOWN))
        return;
    idc__log(ep->link.ctx, IDC_LOG_ERROR, "%s: protocol error from peer: %s", ep->link.address,
             why);
    request_down(ep, IDC_ERR_PROTO, why);
}

static void proto_fail(struct idc_ep *ep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void proto_fail(struct idc_ep *ep, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vproto_fail(ep, fmt, ap);
    va_end(ap);
}

void idc_endpoint_protocol_error(struct idc_endpoint *pub, const char *fmt, ...)
{
    struct idc_ep *ep = live(pub);
    if (!ep)
        return;
    va_list ap;
    va_start(ap, fmt);
    vproto_fail(ep, fmt, ap);
    va_end(ap);
}

int idc_endpoint_disconnect(struct idc_endpoint *pub)
{
    struct idc_ep *ep = live(pub);
    if (!ep || ep->state != IDC_EP_CONNECTED)
        return IDC_ERR_STATE;
    request_down(ep, 0, "disconnect requested");
    return 0;
}

int idc_endpoint_cork(struct idc_endpoint *pub)
{
    struct idc_ep *ep = live(pub);
    if (!ep)
        return IDC_ERR_INVAL;
    ep->corked = true;
    return 0;
}

int idc_endpoint_flush(struct idc_endpoint *pub)
{
    struct idc_ep *ep = live(pub);
    if (!ep)
        return IDC_ERR_INVAL;
    ep->corked = false;
    /* One notify decision for everything published since the last one. The endpoint may stay
       on the context's dirty list; that later flush then finds nothing new. */
    ep_flush(ep);
    return 0;
}

/* ------------------------------------------------------------------------ transport hooks */

void idc__link_appear(struct idc_link *l)
{
    struct idc_ep *ep = idc__ep_of(l);
    if (ep->appeared || ep->destroying)
        return;
    ep->appeared = true;
    if (ep->state == IDC_EP_ABSENT)
        ep->state = IDC_EP_PRESENT;
    idc__log(ep->link.ctx, IDC_LOG_INFO, "%s: appeared", ep->link.address);
    idc__stats_sync(ep);
    if (ep->ops->appear)
        ep->ops->appear(idc__pub(ep));
}

void idc__link_disappear(struct idc_link *l)
{
    struct idc_ep *ep = idc__ep_of(l);
    if (!ep->appeared || ep->destroying)
        return;
    if (ep->state == IDC_EP_CONNECTED || ep->state == IDC_EP_DISCONNECTING)
        return; /* the transport reports it again once the connection is gone */
    ep->appeared = false;
    ep->state = IDC_EP_ABSENT;
    idc__log(ep->link.ctx, IDC_LOG_INFO, "%s: disappeared", ep->link.address);
    idc__stats_sync(ep);
    if (ep->ops->disappear)
        ep->ops->disappear(idc__pub(ep));
}

static int conn_alloc(struct idc_ep *ep)
{
    struct idc_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return IDC_ERR_NOMEM;
    c->cap_tx = ep->link.max_tx;
    c->cap_frame = ep->link.max_frame;
    c->out = calloc(c->cap_tx, sizeof(*c->out));
    c->out_free = calloc(c->cap_tx, sizeof(*c->out_free));
    c->reqs = calloc(c->cap_tx, sizeof(*c->reqs));
    c->resp_end = calloc(c->cap_tx, sizeof(*c->resp_end));
    c->rxbuf = malloc(c->cap_frame ? c->cap_frame : 1);
    ep->conn = c;
    if (!c->out || !c->out_free || !c->reqs || !c->resp_end || !c->rxbuf) {
        free_conn(ep);
        return IDC_ERR_NOMEM;
    }
    for (uint32_t i = 0; i < c->cap_tx; i++)
        c->reqs[i].ep = ep;
    return 0;
}

int idc__link_up(struct idc_link *l, const struct idc_chan *ch)
{
    struct idc_ep *ep = idc__ep_of(l);
    if (ep->state != IDC_EP_PRESENT || ep->destroying)
        return IDC_ERR_STATE;
    if (!ep->conn && conn_alloc(ep) < 0) {
        idc__log(ep->link.ctx, IDC_LOG_ERROR, "%s: out of memory for the connection",
                 ep->link.address);
        return IDC_ERR_NOMEM;
    }
    struct idc_conn *c = ep->conn;
    if (ch->max_frame > c->cap_frame || ch->tx_limit > c->cap_tx || ch->tx_limit == 0 ||
        ch->msg_limit == 0)
        return IDC_ERR_PROTO;
    c->serial++;
    c->ch = *ch;
    idc_ring_tx_attach(&c->tx, ch->tx_mem, ch->tx_size, ch->msg_limit);
    idc_ring_rx_attach(&c->rx, ch->rx_mem, ch->rx_size, ch->max_frame);
    c->out_nfree = 0;
    for (uint32_t s = ch->tx_limit; s-- > 0;) {
        c->out[s].txn = NULL;
        c->out_free[c->out_nfree++] = s;
    }
    c->out_count = 0;
    c->req_free = NULL;
    for (uint32_t i = 0; i < c->cap_tx; i++)
        if (!c->reqs[i].busy) {
            c->reqs[i].next_free = c->req_free;
            c->req_free = &c->reqs[i];
        }
    c->req_held = 0;
    c->resp_head = c->resp_count = 0;
    c->want_writable = false;
    c->up = true;
    idc__timer_cancel(ep->link.ctx, &ep->deadline);
    ep->state = IDC_EP_CONNECTED;
    ep->down_reason[0] = 0;
    ep->last_err = 0;
    ep->ctr->connects++;
    idc__stats_sync(ep);
    idc__log(ep->link.ctx, IDC_LOG_INFO, "%s: connected (version %u, epoch %u)", ep->link.address,
             ch->version, ch->epoch);
    ep->ops->connect(idc__pub(ep));
    /* The peer may have sent already. */
    idc__ep_mark_pending(ep, IDC_PEND_RX);
    return 0;
}

void idc__link_down(struct idc_link *l, int err, const char *fmt, ...)
{
    struct idc_ep *ep = idc__ep_of(l);
    char why[120];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    request_down(ep, err, why);
}

void idc__link_kick(struct idc_link *l)
{
    process_rx(idc__ep_of(l));
}

void idc__link_fail(struct idc_link *l, int err)
{
    struct idc_ep *ep = idc__ep_of(l);
    idc__log(l->ctx, IDC_LOG_ERROR, "%s: cannot serve: %s; it will never connect", l->address,
             idc_strerror(err));
    snprintf(ep->down_reason, sizeof(ep->down_reason), "cannot serve: %s", idc_strerror(err));
    ep->state = IDC_EP_DEAD;
    ep->ctr->errors++;
    idc__stats_sync(ep);
}

void idc__link_refused(struct idc_link *l, int status, const char *reason)
{
    struct idc_ep *ep = idc__ep_of(l);
    ep->last_err = status < 0 ? status : IDC_ERR_PROTO;
    snprintf(ep->down_reason, sizeof(ep->down_reason), "refused by the peer: %s", reason);
    ep->ctr->errors++;
    idc__stats_sync(ep);
}

int idc_endpoint_last_error(const struct idc_endpoint *pub, char *why, size_t why_len)
{
    const struct idc_ep *ep = live(pub);
    if (why && why_len)
        snprintf(why, why_len, "%s", ep && ep->last_err ? ep->down_reason : "");
    return ep ? ep->last_err : 0;
}

enum idc_endpoint_state idc__link_state(const struct idc_link *l)
{
    return idc__ep_of(l)->state;
}

bool idc__link_destroying(const struct idc_link *l)
{
    return idc__ep_of(l)->destroying;
}

uint64_t idc__link_progress(const struct idc_link *l)
{
    const struct idc_conn *c = idc__ep_of(l)->conn;
    if (!c)
        return 0;
    /* what moved, and what we asked the peer to tell us about (idc_ring_asked) */
    return ((uint64_t)c->rx.cons << 32) ^ c->tx.cons ^ ((uint64_t)c->tx.msg_cons << 16) ^
           ((uint64_t)idc_ring_asked(&c->tx, &c->rx) << 40);
}

static struct idc_link *started_from(struct idc_ep *ep, const struct idc_transport *tp)
{
    for (; ep; ep = ep->next)
        if (ep->link.tp == tp && ep->tp_started)
            return &ep->link;
    return NULL;
}

struct idc_link *idc__link_first(struct idc_context *ctx, const struct idc_transport *tp)
{
    return started_from(ctx->eps, tp);
}

struct idc_link *idc__link_next(struct idc_link *l)
{
    return started_from(idc__ep_of(l)->next, l->tp);
}

/* --------------------------------------------------------------------------- receive path */

static bool rx_live(struct idc_ep *ep)
{
    return ep->state == IDC_EP_CONNECTED && ep->conn->up && !ep->destroying &&
           !(ep->pend & IDC_PEND_DOWN);
}

static void check_writable(struct idc_ep *ep)
{
    struct idc_conn *c = ep->conn;
    if (!c->want_writable || !rx_live(ep))
        return;
    if (idc_ring_tx_check(&c->tx) < 0) {
        proto_fail(ep, "consumer index out of the legal window");
        return;
    }
    if (c->out_nfree > 0 || idc_ring_tx_msg_credit(&c->tx) > 0) {
        c->want_writable = false;
        idc__ep_mark_pending(ep, IDC_PEND_WRITABLE);
    }
}

/* May the peer send one more request? Its credit covers the requests we hold and the responses
   it has not consumed yet (each reserves ring space until then). The shared consumer index is
   read only when the count looks exhausted, so the common case costs nothing. A requester
   publishes its consumer index before each request (idc_ring_rx_publish_cons), so an honest
   peer is never counted over. */
static bool request_credit(struct idc_ep *ep)
{
    struct idc_conn *c = ep->conn;
    if (!c->req_free)
        return false;
    if (c->req_held + c->resp_count < c->ch.tx_limit)
        return true;
    if (idc_ring_tx_check(&c->tx) < 0)
        return false;
    while (c->resp_count && (int32_t)(c->tx.cons - c->resp_end[c->resp_head]) >= 0) {
        c->resp_head = (c->resp_head + 1) % c->cap_tx;
        c->resp_count--;
    }
    return c->req_held + c->resp_count < c->ch.tx_limit;
}

static void handle_frame(struct idc_ep *ep, const struct idc_frame_hdr *h)
{
    struct idc_conn *c = ep->conn;
    struct idc_endpoint *pub = idc__pub(ep);
    ep->ctr->rx_frames++;
    ep->ctr->rx_bytes += h->length;
    if (h->epoch != c->ch.epoch) {
        proto_fail(ep, "frame of epoch %u on a connection of epoch %u", h->epoch, c->ch.epoch);
        return;
    }
    switch (h->kind) {
    case IDC_FRAME_MESSAGE: {
        if (h->txn || h->status) {
            proto_fail(ep, "message frame with transaction id or status");
            return;
        }
        int hr = ep->ops->handle_message(pub, h->opcode, c->rxbuf, h->length);
        if (hr != 0)
            proto_fail(ep, "message opcode %u rejected by the protocol handler (%s)", h->opcode,
                       idc_strerror(hr));
        return;
    }
    case IDC_FRAME_REQUEST: {
        if (h->status) {
            proto_fail(ep, "request frame with a status");
            return;
        }
        if (!request_credit(ep)) {
            proto_fail(ep,
                       "more than %u requests outstanding (%u held, %u responses not "
                       "consumed)",
                       c->ch.tx_limit, c->req_held, c->resp_count);
            return;
        }
        struct idc_request *r = c->req_free;
        c->req_free = r->next_free;
        r->busy = true;
        r->serial = c->serial;
        r->txn = h->txn;
        r->opcode = h->opcode;
        c->req_held++;
        ep->ctr->req_rx++;
        int hr = ep->ops->handle_transaction(pub, r, h->opcode, c->rxbuf, h->length);
        if (hr < 0) {
            proto_fail(ep, "request opcode %u rejected by the protocol handler (%s)", h->opcode,
                       idc_strerror(hr));
            /* A rejected request belongs to the runtime again (no response: we disconnect). */
            if (r->busy) {
                r->busy = false;
                r->next_free = c->req_free;
                c->req_free = r;
                c->req_held--;
                ep->ctr->req_done++;
            }
        }
        return;
    }
    case IDC_FRAME_RESPONSE: {
        uint32_t slot = h->txn & SLOT_MASK;
        /* The peer-supplied id indexes nothing before it is bounds-checked and matched. */
        if (slot >= c->ch.tx_limit || !c->out[slot].txn || c->out[slot].id != h->txn) {
            proto_fail(ep, "response for unknown or completed transaction id %#x", h->txn);
            return;
        }
        if (h->status < IDC_ERR_IO || h->status > 65535 || (h->status != 0 && h->length)) {
            proto_fail(ep, "response with invalid status %d (length %u)", h->status, h->length);
            return;
        }
        struct idc_txn *t = c->out[slot].txn;
        c->out[slot].txn = NULL;
        c->out_free[c->out_nfree++] = slot;
        c->out_count--;
        ep->ctr->txn_done++;
        t->done(t, h->status, h->status == 0 ? c->rxbuf : NULL, h->status == 0 ? h->length : 0);
        return;
    }
    default:
        proto_fail(ep, "unknown frame kind %u", h->kind);
    }
}

static void process_rx(struct idc_ep *ep)
{
    if (ep->in_rx || ep->state != IDC_EP_CONNECTED || !ep->conn || !ep->conn->up)
        return;
    ep->in_rx = true;
    struct idc_conn *c = ep->conn;
    unsigned batches = 0;
    while (rx_live(ep)) {
        if (++batches > 16) {
            /* A peer refilling as fast as we drain must not starve the context's other fds:
               continue in a later round (not armed: the pending mark brings us back). */
            idc__ep_mark_pending(ep, IDC_PEND_RX);
            break;
        }
        int64_t avail = idc_ring_rx_poll(&c->rx);
        if (avail < 0) {
            proto_fail(ep, "producer index out of the legal window");
            break;
        }
        if (avail == 0) {
            /* Drained. A context whose fd is polled from outside stays armed, so the fd turns
               readable on the next frame. Otherwise dispatch arms right before it blocks and
               looks at the ring itself until then: the peer need not notify a side that is
               running (one eventfd write and one epoll_wait less per round trip). */
            if (!ep->link.ctx->fd_exported) {
                if (c->rx.armed)
                    idc_ring_rx_disarm(&c->rx);
                break;
            }
            if (idc__ep_arm_rx(ep))
                continue; /* raced with the producer: go again */
            break;
        }
        struct idc_frame_hdr h;
        while (rx_live(ep)) {
            int r = idc_ring_rx_pop(&c->rx, &h, c->rxbuf);
            if (r == 1)
                break;
            if (r < 0) {
                proto_fail(ep, "malformed frame (length/kind/flags out of range)");
                break;
            }
            /* Frames in this batch were produced against at most the msg_cons we published
               last, so more than msg_limit messages since then means credits were ignored. */
            if (c->rx.msg_cons - c->rx.published_msg_cons > c->ch.msg_limit) {
                proto_fail(ep, "more than %u messages without credit", c->ch.msg_limit);
                break;
            }
            handle_frame(ep, &h);
            if (ep->link.ctx->unpublished) /* what its callback sent, on any endpoint */
                publish_dirty(ep->link.ctx);
        }
        if (!rx_live(ep))
            break;
        /* One publication per batch; the producer learns about freed credit if it asked. */
        if (idc_ring_rx_publish(&c->rx))
            ep->link.tp->notify(&ep->link);
    }
    if (ep->state == IDC_EP_CONNECTED && c->up)
        check_writable(ep);
    ep->in_rx = false;
}

/* A ring that is not armed gets no notification: dispatch looks at it directly (spinning, and
   lazily armed contexts between waits). An armed ring is left to its notification. A sender
   waiting for credit also looks at the consumer's indexes itself: the credit notification
   comes through the fds, which these paths poll only now and then. */
bool idc__ep_spin_poll(struct idc_ep *ep)
{
    struct idc_conn *c = ep->conn;
    if (!c || !c->up)
        return false;
    /* Spinners only (a blocking endpoint waits on the transport's fd). Delivered frames were
       handled there (the transport kicks the link): work done. */
    if (ep->spin_us && ep->link.tp->spin_poll && ep->link.tp->spin_poll(&ep->link))
        return true;
    if (!c->rx.armed && idc_ring_rx_pending(&c->rx)) {
        process_rx(ep);
        return true;
    }
    if (c->want_writable && idc_ring_tx_msg_credit(&c->tx) == 0 && rx_live(ep)) {
        /* Only message credit comes back through shared memory alone (transaction slots come
           back with responses, which process_rx handles). */
        if (idc_ring_tx_check(&c->tx) < 0) {
            proto_fail(ep, "consumer index out of the legal window");
            return true;
        }
        if (idc_ring_tx_msg_credit(&c->tx) > 0) {
            c->want_writable = false;
            idc__ep_mark_pending(ep, IDC_PEND_WRITABLE);
            return true;
        }
    }
    return false;
}

void idc__ep_ack(struct idc_ep *ep)
{
    if (ep->link.tp && ep->link.tp->ep_ack)
        ep->link.tp->ep_ack(&ep->link);
}

bool idc__ep_arm(struct idc_ep *ep, bool spin)
{
    struct idc_conn *c = ep->conn;
    if (!c || !c->up)
        return false;
    if (spin) {
        idc_ring_rx_disarm(&c->rx);
        return false;
    }
    idc__ep_ack(ep);
    if (c->rx.armed)
        return false; /* armed with the ring seen empty: the next frame notifies */
    if (!idc__ep_arm_rx(ep))
        return false;
    /* Frames published while we were disarmed (the producer did not notify): handle them now
       and tell the caller, which must not block on a notification that will never come. */
    process_rx(ep);
    return true;
}

bool idc__ep_arm_rx(struct idc_ep *ep)
{
    return idc_ring_rx_arm(&ep->conn->rx, ep->link.tp->shares_cpus ? idc__cpu() : 0);
}

void idc__ep_forget(struct idc_ep *ep)
{
    if (ep->link.tp && ep->tp_started)
        ep->link.tp->ep_stop(&ep->link);
    idc__stats_detach(ep);
    free_conn(ep);
    unlink_ep(ep);
    memset(ep, 0, sizeof(*ep));
}

/* ------------------------------------------------------------------------------ send path */

/* have: the payload (or what writes it) is there; it may be missing when len is 0 */
static int tx_ready(struct idc_ep *ep, size_t len, bool have)
{
    if (!ep)
        return IDC_ERR_INVAL;
    if (ep->state != IDC_EP_CONNECTED || !ep->conn->up)
        return IDC_ERR_DISCONNECTED;
    if (len > ep->conn->ch.max_frame)
        return IDC_ERR_TOOBIG;
    if (!have && len)
        return IDC_ERR_INVAL;
    return 0;
}

/* After a frame's write (r: idc_ring_write's result): its accounting and publication. */
static inline __attribute__((always_inline)) int pushed(struct idc_ep *ep,
                                                        const struct idc_frame_hdr *h, int r)
{
    if (r == IDC_ERR_PROTO) {
        proto_fail(ep, "consumer index out of the legal window");
        return IDC_ERR_DISCONNECTED;
    }
    if (r == IDC_ERR_AGAIN) {
        /* The ring holds every credited frame; only a peer that stopped consuming gets here. */
        ep->conn->want_writable = true;
        return IDC_ERR_AGAIN;
    }
    /* Plain increments: one writer (this thread), readers load each counter whole (statsfile.h) */
    ep->ctr->tx_frames++;
    ep->ctr->tx_bytes += h->length;
    mark_dirty(ep);
    return 0;
}

/* Inline: with idc_ring_write it is the whole send path (no call below the public function). */
static inline __attribute__((always_inline)) int push(struct idc_ep *ep, struct idc_frame_hdr *h,
                                                      const void *payload)
{
    return pushed(ep, h, idc_ring_write(&ep->conn->tx, h, payload));
}

/* A message's credit: 0, or IDC_ERR_AGAIN (the writable callback follows) or
   IDC_ERR_DISCONNECTED. */
static inline __attribute__((always_inline)) int msg_credit(struct idc_ep *ep)
{
    struct idc_conn *c = ep->conn;
    if (idc_ring_tx_msg_credit(&c->tx) == 0) {
        if (idc_ring_tx_check(&c->tx) < 0) {
            proto_fail(ep, "consumer index out of the legal window");
            return IDC_ERR_DISCONNECTED;
        }
        if (idc_ring_tx_msg_credit(&c->tx) == 0 && !idc_ring_tx_arm_credit(&c->tx)) {
            c->want_writable = true;
            return IDC_ERR_AGAIN;
        }
    }
    return 0;
}

/* A message's checks and credit (have: its payload, or what writes it, is there), then its
   header: 0 with *out and *h, or the error. */
static inline __attribute__((always_inline)) int msg_start(struct idc_endpoint *pub,
                                                           uint16_t opcode, size_t len, bool have,
                                                           struct idc_ep **out,
                                                           struct idc_frame_hdr *h)
{
    struct idc_ep *ep = live(pub);
    int r = tx_ready(ep, len, have);
    if (r || (r = msg_credit(ep)))
        return r;
    *h = (struct idc_frame_hdr){ .kind = IDC_FRAME_MESSAGE,
                                 .opcode = opcode,
                                 .length = (uint32_t)len,
                                 .epoch = ep->conn->ch.epoch };
    *out = ep;
    return 0;
}

int idc_send_message(struct idc_endpoint *pub, uint16_t opcode, const void *payload, size_t len)
{
    struct idc_ep *ep;
    struct idc_frame_hdr h;
    int r = msg_start(pub, opcode, len, payload != NULL, &ep, &h);
    return r ? r : push(ep, &h, payload);
}

int idc_send_message_fill(struct idc_endpoint *pub, uint16_t opcode, size_t len,
                          void (*fill)(void *arg, void *dst, size_t off, size_t n), void *arg)
{
    struct idc_ep *ep;
    struct idc_frame_hdr h;
    int r = msg_start(pub, opcode, len, fill != NULL, &ep, &h);
    return r ? r : pushed(ep, &h, idc_ring_write_fill(&ep->conn->tx, &h, fill, arg));
}

int idc_submit_transaction(struct idc_endpoint *pub, struct idc_txn *txn, uint16_t opcode,
                           const void *payload, size_t len)
{
    struct idc_ep *ep = live(pub);
    if (!txn || !txn->done)
        return IDC_ERR_INVAL;
    int r = tx_ready(ep, len, payload != NULL);
    if (r)
        return r;
    struct idc_conn *c = ep->conn;
    if (c->out_nfree == 0) {
        c->want_writable = true;
        return IDC_ERR_AGAIN;
    }
    uint32_t slot = c->out_free[--c->out_nfree];
    uint32_t id = (++c->seq << SLOT_BITS) | slot;
    struct idc_frame_hdr h = { .kind = IDC_FRAME_REQUEST,
                               .opcode = opcode,
                               .length = (uint32_t)len,
                               .epoch = c->ch.epoch,
                               .txn = id };
    idc_ring_rx_publish_cons(&c->rx);
    r = push(ep, &h, payload);
    if (r) {
        c->out_free[c->out_nfree++] = slot;
        return r;
    }
    c->out[slot].txn = txn;
    c->out[slot].id = id;
    c->out_count++;
    ep->ctr->txn_sent++;
    txn->private_[0] = id;
    txn->private_[1] = c->serial;
    return 0;
}

struct idc_endpoint *idc_request_endpoint(const struct idc_request *req)
{
    return req ? idc__pub(req->ep) : NULL;
}

int idc_request_complete(struct idc_request *req, int status, const void *result, size_t len)
{
    if (!req || !req->busy || status < IDC_ERR_IO || status > 65535)
        return IDC_ERR_INVAL;
    struct idc_ep *ep = req->ep;
    struct idc_conn *c = ep->conn;
    bool same_conn = ep->magic == IDC_EP_MAGIC && c && req->serial == c->serial;
    int rc = 0;
    if (!same_conn || ep->state != IDC_EP_CONNECTED || !c->up) {
        rc = IDC_ERR_DISCONNECTED;
    } else {
        if (status == 0 && !result && len)
            status = IDC_ERR_INVAL, rc = IDC_ERR_INVAL;
        if (status == 0 && len > c->ch.max_frame)
            status = IDC_ERR_TOOBIG, rc = IDC_ERR_TOOBIG;
        if (status != 0)
            len = 0;
        struct idc_frame_hdr h = { .kind = IDC_FRAME_RESPONSE,
                                   .opcode = req->opcode,
                                   .length = (uint32_t)len,
                                   .epoch = c->ch.epoch,
                                   .txn = req->txn,
                                   .status = status };
        int r = push(ep, &h, result);
        if (r == 0) {
            c->resp_end[(c->resp_head + c->resp_count) % c->cap_tx] = c->tx.prod;
            c->resp_count++;
        } else {
            /* The ring holds every response the peer's credit allows: no room means it broke
               the ring rules. Never drop a response silently: take the connection down. */
            request_down(ep, IDC_ERR_PROTO,
                         r == IDC_ERR_AGAIN ? "response ring full: the peer stopped consuming"
                                            : "bad consumer index on the response ring");
            idc__log(ep->link.ctx, IDC_LOG_ERROR, "%s: response to transaction %#x not sent: %s",
                     ep->link.address, req->txn, ep->down_reason);
            rc = IDC_ERR_DISCONNECTED;
        }
    }
    req->busy = false;
    if (c && ep->magic == IDC_EP_MAGIC) {
        ep->ctr->req_done++;
        req->next_free = c->req_free;
        c->req_free = req;
        if (same_conn && c->req_held)
            c->req_held--;
    }
    (void)state_name;
    return rc;
}
