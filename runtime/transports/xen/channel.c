/* channel.c - the xen transport's endpoints: "xen:DOMID/NAME" (frontend), "xen:NAME" (backend).
 *
 * Discovery and handshake in xenstore, xenbus-style; rings in pages the frontend grants
 * (xengntshr) and the backend maps (xengnttab); one interdomain event channel per connection
 * for wake-ups; liveness through the unmap notifications of a granted control page (as
 * libxenvchan does), xenstore watches and @releaseDomain. The handles, the watch and
 * event-channel fds and their dispatch are the context's, shared with buffers.c (xen.c).
 * docs/xen-transport.md describes the xenstore layout, the states and the limits.
 *
 * Paths (be = serving domain, fe = connecting domain, SVC = service name):
 *   B = /local/domain/<be>/data/idc/SVC        service node, written by the backend
 *   B/fe/<fe>                                  "knock" node, created by the frontend
 *   B/conn/<fe>                                the backend's answer to that frontend
 *   F = /local/domain/<fe>/data/idc-fe/<be>/SVC  the frontend's connection keys
 *   O = /local/domain/<be>/data/idc-owner/SVC  the frontend that has the service ("DOMID-ID"),
 *                                              kept when the backend dies or stops, so its
 *                                              restart serves that frontend first
 *
 * Everything read from xenstore or from the control page was written by the peer: values are
 * bounded and parsed strictly, the control page is copied once into private memory and
 * validated before anything in it is used.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "addr.h"
#include "xen.h"

#define XEN_RETRY_MS      200u
#define XEN_BUSY_RETRY_MS 1000u /* frontend: an exclusive service in use by another frontend */
/* A knock the backend neither answers nor acknowledges within XEN_ANSWER_MS is pinged once;
   an unacknowledged ping means the backend's process is gone (its service node lingers). */
#define XEN_ANSWER_MS 3000u
/* Event storms are counted by the core's rule (limits.c): in storm mode the port stays masked
   IDC_STORM_PAUSE_MS after each useless notification; a long or violent storm cuts the link. */

/* The xenbus states and the control page (struct xen_ctrl_page) are in wire.h. */
_Static_assert(XEN_ALLOW_MAX <= XEN_ACL_MAX, "xen_perms takes the whole allow list");

enum xen_hs {
    XH_IDLE = 0,
    XH_WAIT_BE, /* frontend: F written, waiting for B/conn/<fe> */
    XH_UP,
};

struct xen_ep {           /* grouped by size: the analyzer checks padding */
    uint32_t serial;      /* watch token "idc<serial>" */
    uint32_t peer;        /* frontend: the backend's domid; backend: current frontend */
    struct xen_addr addr; /* ep->name, parsed */
    bool watching_b, watching_f;
    enum xen_hs hs;
    uint32_t instance;         /* backend: ours; frontend: the backend's we talk to */
    uint32_t dead_instance;    /* frontend: backend instance whose process went away */
    uint32_t refused_instance; /* frontend: backend instance that refused us for good */
    uint32_t epoch;
    uint32_t fid;        /* frontend: ours (random, per endpoint); backend: the peer's */
    uint32_t skip_epoch; /* backend: with skip_fk, a frontend attempt not to retry */
    uint32_t port;
    uint32_t npages;
    uint32_t ping;           /* frontend: pings sent for this knock */
    uint64_t skip_fk;        /* backend: frontend attempt not to retry (wire.h's xen_fk) */
    uint64_t owner_fk;       /* backend: the frontend reserved after a restart (0: none) */
    uint64_t owner_until_ns; /* backend: until when */
    struct xen_ctrl_page *ctrl;
    void *rings;
    struct idc_chan ch;
    struct idc_timer retry;
    struct idc_timer unmask;
    struct idc_timer answer;        /* frontend: knock answered or acknowledged in time? */
    struct idc_storm storm;         /* useless notifications (limits.c) */
    struct idc_log_limit busy_logs; /* backend: busy refusals (one per knock of each waiter) */
    bool refused;
    bool skip_valid;
    bool port_valid;
    bool masked;
    bool ack_due;     /* a notification was handled; its unmask waits for xen_ep_ack */
    bool acked;       /* frontend: the backend acknowledged the last ping */
    bool silent;      /* frontend: a ping went unacknowledged: service reported gone */
    bool busy_logged; /* frontend: refused as busy, logged once until connected */
    bool watch_due;   /* a watch event named us: check once after the batch */
};
_Static_assert(sizeof(struct xen_ep) <= sizeof(((struct idc_link *)0)->priv), "xen_ep fits");

static struct xen_ep *X(struct idc_link *ep)
{
    return IDC_LINK_PRIV(struct xen_ep, ep);
}
static struct xen_tp *T(struct idc_link *ep)
{
    return xen_tp(ep->ctx);
}

static void fe_try_connect(struct idc_link *ep);
static void be_scan(struct idc_link *ep);
static void fe_check(struct idc_link *ep);
static void ep_port_fire(struct xen_tp *t, void *arg);

/* ------------------------------------------------------------------------------ helpers */

static const char *svc(struct idc_link *ep, char *buf)
{
    return xen_addr_service(ep->name, &X(ep)->addr, buf);
}

static unsigned be_dom(struct idc_link *ep)
{
    return ep->role == IDC_ROLE_FRONTEND ? X(ep)->peer : T(ep)->self;
}

static unsigned fe_dom(struct idc_link *ep, unsigned fe)
{
    return ep->role == IDC_ROLE_FRONTEND ? T(ep)->self : fe;
}

/* B, B/<sub> */
static void path_b(struct idc_link *ep, char *out, const char *sub)
{
    char s[IDC_NAME_MAX + 1];
    xen_path_b(out, be_dom(ep), svc(ep, s), sub);
}

/* A frontend endpoint is known to the backend by its domain and its id, packed in one "fk"
   (wire.h's xen_fk). A frontend passes 0 for itself. */
static uint64_t fk_of(struct idc_link *ep, uint64_t fk)
{
    return ep->role == IDC_ROLE_FRONTEND ? xen_fk(fe_dom(ep, 0), X(ep)->fid) : fk;
}

/* F of frontend fk, F/<key> (addr.h) */
static void path_f(struct idc_link *ep, uint64_t fk, char *out, const char *key)
{
    char s[IDC_NAME_MAX + 1];
    xen_path_f(out, be_dom(ep), svc(ep, s), fk_of(ep, fk), key);
}

/* B/conn/<fe>-<id>/<key> or B/fe/<fe>-<id> (addr.h) */
static void path_k(struct idc_link *ep, uint64_t fk, const char *dir, char *out, const char *key)
{
    char s[IDC_NAME_MAX + 1];
    xen_path_k(out, be_dom(ep), svc(ep, s), dir, fk_of(ep, fk), key);
}

static void ep_token(struct idc_link *ep, char tok[16])
{
    snprintf(tok, 16, XEN_TOKEN_CHAN "%u", X(ep)->serial);
}

/* ------------------------------------------------------------------ one owner (node O) */

static void path_o(struct idc_link *ep, char *out)
{
    char s[IDC_NAME_MAX + 1];
    snprintf(out, XEN_PATH_MAX, "/local/domain/%u/data/idc-owner/%s", be_dom(ep), svc(ep, s));
}

/* Connected: O names our frontend (readable by us alone, as the rest of our domain's data). */
static void owner_write(struct idc_link *ep, uint64_t fk)
{
    char o[XEN_PATH_MAX];
    path_o(ep, o);
    if (!(ep->flags & IDC_EP_SHARED))
        xen_write(T(ep), XBT_NULL, o, NULL, XEN_FK_FMT, xen_fk_dom(fk), xen_fk_id(fk));
}

/* The frontend left while we live (it closed, died, misbehaved): nobody is owed the service. A
   backend that dies or is destroyed keeps O for its successor. */
static void owner_clear(struct idc_link *ep)
{
    char o[XEN_PATH_MAX];
    path_o(ep, o);
    if (!(ep->flags & IDC_EP_SHARED) && !idc__link_destroying(ep))
        xen_lib.xs_rm(T(ep)->xs, XBT_NULL, o);
}

/* At publication: the frontend O names gets the service first if it still exists: its domain
   lives and its connection keys F are there (a frontend endpoint removes F when destroyed). */
static void owner_reserve(struct idc_link *ep)
{
    struct xen_ep *s = X(ep);
    struct xen_tp *t = T(ep);
    char o[XEN_PATH_MAX], f[XEN_PATH_MAX], v[32];
    uint64_t fk;
    uint32_t epoch;
    s->owner_fk = 0;
    path_o(ep, o);
    if ((ep->flags & IDC_EP_SHARED) || xen_read(t, XBT_NULL, o, NULL, v, sizeof(v)) ||
        !xen_fk_parse(v, &fk))
        return;
    path_f(ep, fk, f, NULL);
    if (xen_domain_gone(t, xen_fk_dom(fk)) ||
        xen_read_u32(t, XBT_NULL, f, "epoch", 0x7fffffffu, &epoch)) {
        xen_lib.xs_rm(t->xs, XBT_NULL, o); /* nobody to wait for */
        return;
    }
    s->owner_fk = fk;
    s->owner_until_ns = idc__now_ns() + (uint64_t)IDC_OWNER_RESERVE_MS * 1000000u;
    idc__log(ep->ctx, IDC_LOG_INFO,
             "%s: reserved for %u ms for the frontend connected before the restart (domain %u)",
             ep->address, IDC_OWNER_RESERVE_MS, xen_fk_dom(fk));
}

/* Whether frontend fk must wait for the reserved one. */
static bool owner_reserved_against(struct idc_link *ep, uint64_t fk)
{
    struct xen_ep *s = X(ep);
    if (!s->owner_fk)
        return false;
    if (fk == s->owner_fk || idc__now_ns() >= s->owner_until_ns) {
        s->owner_fk = 0; /* served, or its head start is over */
        return false;
    }
    return true;
}

/* --------------------------------------------------------------------- channel teardown */

static void chan_release(struct idc_link *ep)
{
    struct xen_ep *s = X(ep);
    struct xen_tp *t = T(ep);
    idc__timer_cancel(ep->ctx, &s->unmask);
    s->masked = s->ack_due = false;
    idc__timer_cancel(ep->ctx, &s->answer);
    s->ping = 0;
    s->acked = s->silent = false;
    if (!t->open)
        return;
    if (s->rings) {
        if (ep->role == IDC_ROLE_FRONTEND)
            xen_lib.xengntshr_unshare(t->gs, s->rings, s->npages);
        else
            xen_lib.xengnttab_unmap(t->gt, s->rings, s->npages);
    }
    s->rings = NULL;
    s->npages = 0;
    /* Unmapping the control page clears our live byte and notifies the peer. */
    if (s->ctrl) {
        if (ep->role == IDC_ROLE_FRONTEND)
            xen_lib.xengntshr_unshare(t->gs, s->ctrl, 1);
        else
            xen_lib.xengnttab_unmap(t->gt, s->ctrl, 1);
    }
    s->ctrl = NULL;
    if (s->port_valid)
        xen_unbind(t, s->port);
    s->port_valid = false;
    if (s->watching_f) {
        char p[XEN_PATH_MAX], tok[16];
        path_f(ep, xen_fk(s->peer, s->fid), p, NULL);
        ep_token(ep, tok);
        xen_lib.xs_unwatch(t->xs, p, tok);
        s->watching_f = false;
    }
    s->hs = XH_IDLE;
}

void xen_chan_close(struct idc_link *ep)
{
    struct xen_ep *s = X(ep);
    struct xen_tp *t = T(ep);
    bool fe = ep->role == IDC_ROLE_FRONTEND;
    uint64_t peer = xen_fk(s->peer, s->fid);
    uint32_t epoch = s->epoch;
    /* State first, then the unmap: a peer woken by the unmap notification reads a clean close
       in xenstore, and only a missing close means the process died. */
    if (t->open) {
        char p[XEN_PATH_MAX];
        if (fe) {
            path_f(ep, 0, p, "state");
            xen_write(t, XBT_NULL, p, NULL, "%d", XB_CLOSED);
        } else {
            path_k(ep, peer, "conn", p, "state");
            xen_write(t, XBT_NULL, p, NULL, "%d", XB_CLOSED);
            s->skip_fk = peer;
            s->skip_epoch = epoch;
            s->skip_valid = true;
            if (s->hs == XH_UP)
                owner_clear(ep);
        }
    }
    chan_release(ep);
}

void xen_notify(struct idc_link *ep)
{
    struct xen_ep *s = X(ep);
    if (s->port_valid && s->hs == XH_UP)
        xen_lib.xenevtchn_notify(T(ep)->ev, s->port);
}

static int ring_pages(uint32_t ring_size)
{
    size_t bytes = 2 * idc_ring_bytes(ring_size);
    return (int)((bytes + XEN_PAGE - 1) / XEN_PAGE);
}

static int chan_up(struct idc_link *ep)
{
    struct xen_ep *s = X(ep);
    size_t rb = idc_ring_bytes(s->ch.tx_size);
    unsigned char *r0 = s->rings, *r1 = r0 + rb;
    bool fe = ep->role == IDC_ROLE_FRONTEND;
    s->ch.tx_mem = fe ? r0 : r1;
    s->ch.rx_mem = fe ? r1 : r0;
    s->hs = XH_UP;
    idc__link_peer(ep, "domid=%u", s->peer);
    int r = idc__link_up(ep, &s->ch);
    idc__storm_reset(&s->storm, ep);
    if (r < 0)
        idc__log(ep->ctx, IDC_LOG_ERROR, "%s: cannot bring the channel up: %s", ep->address,
                 idc_strerror(r));
    return r;
}

/* ------------------------------------------------------------------------------ frontend */

static void fe_retry_fire(struct idc_timer *t)
{
    struct idc_link *ep = t->arg;
    if (!idc__link_destroying(ep) && idc__link_state(ep) == IDC_EP_PRESENT && X(ep)->hs == XH_IDLE)
        fe_try_connect(ep);
}

static void fe_fail(struct idc_link *ep, bool retry)
{
    chan_release(ep);
    if (retry && !idc__link_destroying(ep))
        idc__timer_arm(ep->ctx, &X(ep)->retry, XEN_RETRY_MS);
}

/* Is the backend's service node published (state InitWait or Connected), read in tx? Its
   instance in *instance. */
static bool fe_service(struct idc_link *ep, xs_transaction_t tx, uint32_t *instance)
{
    struct xen_tp *t = T(ep);
    char b[XEN_PATH_MAX];
    uint32_t st;
    path_b(ep, b, NULL);
    return xen_read_u32(t, tx, b, "state", 6, &st) == 0 &&
           (st == XB_INITWAIT || st == XB_CONNECTED) &&
           xen_read_u32(t, tx, b, "instance", 0x7fffffffu, instance) == 0;
}

static uint32_t min32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/* n hashes of 16 hex digits, separated by one space */
static bool parse_hashes(const char *s, uint64_t *out, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++, s += 17) {
        if (!xen_parse_hex64(s, &out[i]) || s[16] != (i + 1 < n ? ' ' : 0))
            return false;
    }
    return true;
}

static void fe_answer_arm(struct idc_link *ep);

/* Inside a transaction that writes under B: is the service instance we knock on still
   published? A knock written after the backend withdrew B would recreate B's path (a write
   makes the missing parents; a privileged frontend may write anywhere), leaving a directory
   where the service was. Read inside the transaction, a withdrawal in between makes the commit
   conflict, and the retry sees it. 0, or IDC_ERR_DISCONNECTED (the reason in t->why). */
static int fe_still_published(struct xen_tp *t, xs_transaction_t tx, struct idc_link *ep)
{
    uint32_t inst;
    if (!fe_service(ep, tx, &inst) || inst != X(ep)->instance) {
        snprintf(t->why, sizeof(t->why), "backend instance %u withdrew its service",
                 X(ep)->instance);
        return IDC_ERR_DISCONNECTED;
    }
    return 0;
}

/* What a connection request offers (NULL: a request that can only be refused). */
struct fe_rings {
    uint32_t frame, tx, msg, ring, pages, cref;
};

struct fe_request {
    struct idc_link *ep;
    uint32_t v;
    const struct fe_rings *fr;
};

static int fe_request_body(struct xen_tp *t, xs_transaction_t tx, void *arg)
{
    const struct fe_request *q = arg;
    struct idc_link *ep = q->ep;
    struct xen_ep *s = X(ep);
    const struct idc_protocol *pr = ep->proto;
    const struct fe_rings *fr = q->fr;
    char f[XEN_PATH_MAX], k[XEN_PATH_MAX];
    path_f(ep, 0, f, NULL);
    path_k(ep, 0, "fe", k, NULL);
    uint16_t bed[1] = { (uint16_t)s->peer };
    int r = fe_still_published(t, tx, ep);
    if (r)
        return r;
    xen_lib.xs_rm(t->xs, tx, f);
    r = xen_mkdir(t, tx, f);
    if (!r)
        r = xen_perms(t, tx, f, XS_PERM_NONE, bed, 1, XS_PERM_READ);
    if (!r)
        r = xen_write(t, tx, f, "protocol", "%s", pr->name) ||
                    xen_write(t, tx, f, "version", "%u", q->v) ||
                    xen_write(t, tx, f, "version-hash", "%016llx",
                              (unsigned long long)pr->version_hash[q->v - pr->min_version]) ||
                    xen_write(t, tx, f, "be-instance", "%u", s->instance) ||
                    xen_write(t, tx, f, "epoch", "%u", s->epoch)
                ? IDC_ERR_IO
                : 0;
    if (!r && fr)
        r = xen_write(t, tx, f, "max-frame", "%u", fr->frame) ||
                    xen_write(t, tx, f, "max-transactions", "%u", fr->tx) ||
                    xen_write(t, tx, f, "max-messages", "%u", fr->msg) ||
                    xen_write(t, tx, f, "ring-size", "%u", fr->ring) ||
                    xen_write(t, tx, f, "ring-pages", "%u", fr->pages) ||
                    xen_write(t, tx, f, "ctrl-ref", "%u", fr->cref) ||
                    xen_write(t, tx, f, "event-channel", "%u", s->port)
                ? IDC_ERR_IO
                : 0;
    if (!r)
        r = xen_write(t, tx, f, "state", "%d", XB_INITIALISED);
    if (!r)
        r = xen_write(t, tx, k, NULL, "%u", s->epoch);
    if (!r)
        r = xen_perms(t, tx, k, XS_PERM_NONE, bed, 1, XS_PERM_READ | XS_PERM_WRITE);
    return r;
}

/* Publishes F {protocol, version v + its hash, be-instance, epoch[, rings], state 3} and the
   knock node B/fe/<dom>-<id> = epoch in one transaction; 0 or IDC_ERR_* (the reason in
   T(ep)->why). */
static int fe_request(struct idc_link *ep, uint32_t v, const struct fe_rings *fr)
{
    struct fe_request q = { ep, v, fr };
    return xen_txn(T(ep), fe_request_body, &q);
}

/* The backend serves another protocol or no common version: no connection can come of it, but
   knock anyway with what we speak (no rings), so the backend refuses and logs it as on every
   transport. We stay refused for this backend instance either way. */
static void fe_knock_mismatch(struct idc_link *ep, uint32_t vmin, uint32_t vmax)
{
    struct xen_ep *s = X(ep);
    const struct idc_protocol *pr = ep->proto;
    uint32_t v = pr->max_version;
    if (vmax >= pr->min_version && vmin <= pr->max_version)
        v = min32(vmax, pr->max_version); /* the highest shared number: its hash differs */
    s->epoch = xen_rand_nonzero();
    if (fe_request(ep, v, NULL)) {
        idc__log(ep->ctx, IDC_LOG_DEBUG, "%s: cannot tell the backend about the mismatch: %s",
                 ep->address, T(ep)->why);
        return;
    }
    s->hs = XH_WAIT_BE; /* its refusal (K state 6) ends the attempt */
    fe_answer_arm(ep);
}

static void fe_try_connect(struct idc_link *ep)
{
    struct xen_ep *s = X(ep);
    struct xen_tp *t = T(ep);
    if (s->hs != XH_IDLE || idc__link_destroying(ep) || idc__link_state(ep) != IDC_EP_PRESENT)
        return;
    if (s->refused && s->refused_instance == s->instance)
        return;
    s->refused = false;
    char b[XEN_PATH_MAX], val[XEN_VALUE_MAX] = "";
    path_b(ep, b, NULL);
    uint32_t vmin, vmax, frame, tx, msg;
    uint64_t hash[IDC_MAX_VERSIONS];
    const char *bad = NULL;
    int status = IDC_ERR_PROTO;
    if (xen_read(t, XBT_NULL, b, "protocol", val, IDC_PROTOCOL_NAME_MAX + 1) ||
        xen_read_u32(t, XBT_NULL, b, "version-min", 0xffffffffu, &vmin) ||
        xen_read_u32(t, XBT_NULL, b, "version-max", 0xffffffffu, &vmax) ||
        xen_read_u32(t, XBT_NULL, b, "max-frame", IDC_MAX_FRAME_LIMIT, &frame) ||
        xen_read_u32(t, XBT_NULL, b, "max-transactions", IDC_MAX_CREDITS, &tx) ||
        xen_read_u32(t, XBT_NULL, b, "max-messages", IDC_MAX_CREDITS, &msg)) {
        /* The service is being (re)published or withdrawn: its watch fires again. */
        idc__log(ep->ctx, IDC_LOG_DEBUG, "%s: service node incomplete: %s", ep->address, t->why);
        fe_fail(ep, true);
        return;
    }
    char lim[96];
    if (strcmp(val, ep->proto->name) != 0) {
        idc__log(ep->ctx, IDC_LOG_ERROR, "%s: protocol '%s' served, '%s' wanted", ep->address, val,
                 ep->proto->name);
        bad = "protocol", status = IDC_ERR_MISMATCH;
    } else if (vmin == 0 || vmax < vmin || vmax - vmin >= IDC_MAX_VERSIONS) {
        bad = "version range invalid";
    } else if (xen_read(t, XBT_NULL, b, "version-hash", val, sizeof(val)) ||
               !parse_hashes(val, hash, vmax - vmin + 1)) {
        bad = "version-hash malformed";
    } else if (idc__offer_limits(frame, tx, msg, lim, sizeof(lim)) < 0) {
        bad = lim;
    }
    uint32_t v = 0;
    if (!bad && !(v = idc__offer_version(ep->proto, vmin, vmax, hash, vmax - vmin + 1))) {
        idc__log(ep->ctx, IDC_LOG_ERROR,
                 "%s: protocol '%s': no common version with matching IDL "
                 "hash (backend %u..%u, us %u..%u)",
                 ep->address, ep->proto->name, vmin, vmax, ep->proto->min_version,
                 ep->proto->max_version);
        bad = "no common version", status = IDC_ERR_MISMATCH;
    }
    if (bad) {
        if (status != IDC_ERR_MISMATCH)
            idc__log(ep->ctx, IDC_LOG_ERROR, "%s: backend's service node: %s", ep->address, bad);
        s->refused = true;
        s->refused_instance = s->instance; /* wait for another backend instance */
        if (status == IDC_ERR_MISMATCH)
            fe_knock_mismatch(ep, vmin, vmax);
        return;
    }
    frame = min32(frame, ep->max_frame);
    tx = min32(tx, ep->max_tx);
    msg = min32(msg, ep->max_msg);
    uint32_t ring = idc_ring_size_for(msg + 2 * tx, frame);
    if (!ring || ring_pages(ring) > (int)XEN_CTRL_MAX_REFS) {
        idc__log(ep->ctx, IDC_LOG_ERROR,
                 "%s: rings for %u frames of %u bytes exceed %u pages "
                 "(IDC_ERR_TOOBIG)",
                 ep->address, msg + 2 * tx, frame, XEN_CTRL_MAX_REFS);
        s->refused = true;
        s->refused_instance = s->instance;
        return;
    }
    /* Event channel, control page (unmap-notify on fe_live), ring pages. */
    int port = xen_bind_unbound(t, s->peer, ep_port_fire, ep);
    if (port < 0) {
        idc__log(ep->ctx, IDC_LOG_ERROR, "%s: %s", ep->address, t->why);
        fe_fail(ep, true);
        return;
    }
    s->port = (uint32_t)port;
    s->port_valid = true;
    uint32_t cref;
    s->ctrl = xen_lib.xengntshr_share_page_notify(
        t->gs, s->peer, &cref, 1, (uint32_t)offsetof(struct xen_ctrl_page, fe_live), s->port);
    int np = ring_pages(ring);
    uint32_t refs[XEN_CTRL_MAX_REFS];
    s->rings = s->ctrl ? xen_lib.xengntshr_share_pages(t->gs, s->peer, np, refs, 1) : NULL;
    if (!s->ctrl || !s->rings) {
        idc__log(ep->ctx, IDC_LOG_ERROR, "%s: granting %d pages to domain %u: %s", ep->address,
                 np + 1, s->peer, strerror(errno));
        fe_fail(ep, true);
        return;
    }
    s->npages = (uint32_t)np;
    memset(s->rings, 0, (size_t)np * XEN_PAGE);
    s->epoch = xen_rand_nonzero();
    struct xen_ctrl_page *cp = s->ctrl;
    memset(cp, 0, sizeof(*cp));
    cp->magic = XEN_CTRL_MAGIC;
    cp->ring_size = ring;
    cp->nrefs = (uint32_t)np;
    cp->epoch = s->epoch;
    memcpy(cp->refs, refs, sizeof(uint32_t) * (size_t)np);
    __atomic_store_n(&cp->fe_live, 1, __ATOMIC_RELEASE);
    s->ch = (struct idc_chan){ .tx_size = ring,
                               .rx_size = ring,
                               .epoch = s->epoch,
                               .version = v,
                               .max_frame = frame,
                               .tx_limit = tx,
                               .msg_limit = msg };
    struct fe_rings fr = { frame, tx, msg, ring, (uint32_t)np, cref };
    int r = fe_request(ep, v, &fr);
    if (r) {
        /* withdrawn meanwhile: not an error; B's watch and the retry see what comes next */
        idc__log(ep->ctx, r == IDC_ERR_DISCONNECTED ? IDC_LOG_INFO : IDC_LOG_ERROR,
                 "%s: publishing the connection in xenstore: %s", ep->address, t->why);
        fe_fail(ep, true);
        return;
    }
    s->hs = XH_WAIT_BE;
    fe_answer_arm(ep);
    fe_check(ep); /* the answer may be there already */
}

static void fe_answer_arm(struct idc_link *ep)
{
    struct xen_ep *s = X(ep);
    s->ping = 0;
    s->acked = s->silent = false;
    idc__timer_arm(ep->ctx, &s->answer, XEN_ANSWER_MS);
}

static void knock_text(const struct xen_ep *s, char *out)
{
    if (s->ping)
        snprintf(out, XEN_KNOCK_MAX, "%u/%u", s->epoch, s->ping);
    else
        snprintf(out, XEN_KNOCK_MAX, "%u", s->epoch);
}

/* Has the backend reacted to our current knock: answered it (connected or refused), or
   acknowledged our latest ping ("queued": it serves another frontend for now)? */
static bool fe_heard(struct idc_link *ep)
{
    struct xen_ep *s = X(ep);
    struct xen_tp *t = T(ep);
    char k[XEN_PATH_MAX], seen[XEN_KNOCK_MAX], want[XEN_KNOCK_MAX];
    uint32_t kst = 0, kep = 0;
    path_k(ep, 0, "conn", k, NULL);
    if (xen_read_u32(t, XBT_NULL, k, "epoch", 0x7fffffffu, &kep) ||
        xen_read_u32(t, XBT_NULL, k, "state", 6, &kst) || kep != s->epoch)
        return false;
    if (kst != XB_INITWAIT)
        return true;
    knock_text(s, want);
    return xen_read(t, XBT_NULL, k, "seen", seen, sizeof(seen)) == 0 && !strcmp(seen, want);
}

/* The ping: the knock node rewritten, while the service is still the one we knocked on. */
static int fe_ping_body(struct xen_tp *t, xs_transaction_t tx, void *arg)
{
    struct idc_link *ep = arg;
    char k[XEN_PATH_MAX], v[XEN_KNOCK_MAX];
    int r = fe_still_published(t, tx, ep);
    if (r)
        return r;
    path_k(ep, 0, "fe", k, NULL);
    knock_text(X(ep), v);
    return xen_write(t, tx, k, NULL, "%s", v);
}

/* No answer in time. A live backend answers a knock at once, or, while it serves another
   frontend, acknowledges every rewrite of the knock node (a ping). A backend process that died
   without withdrawing leaves its service node behind and never reacts: after one
   unacknowledged ping the service is reported gone (disappear). The knock stays in place, so
   a backend that was only stalled still answers it later (appear again, connect). */
static void fe_answer_fire(struct idc_timer *tm)
{
    struct idc_link *ep = tm->arg;
    struct xen_ep *s = X(ep);
    struct xen_tp *t = T(ep);
    if (idc__link_destroying(ep) || s->hs != XH_WAIT_BE || !t->open)
        return;
    if (fe_heard(ep))
        s->acked = true;
    if (s->ping && !s->acked) {
        idc__log(ep->ctx, IDC_LOG_WARN,
                 "%s: backend instance %u does not answer (its process "
                 "is gone?): treating the service as withdrawn until it answers or is "
                 "published again",
                 ep->address, s->instance);
        s->silent = true;
        if (idc__link_state(ep) == IDC_EP_PRESENT)
            idc__link_disappear(ep);
        return;
    }
    s->ping++;
    s->acked = false;
    int r = xen_txn(t, fe_ping_body, ep);
    if (r && r != IDC_ERR_DISCONNECTED) /* withdrawn: B's watch tells the rest */
        idc__log(ep->ctx, IDC_LOG_WARN, "%s: cannot rewrite the knock node: %s", ep->address,
                 t->why);
    idc__timer_arm(ep->ctx, &s->answer, XEN_ANSWER_MS);
}

/* The peer closed its side in xenstore (withdrew, dropped, closed), which its watch may show
   before its last notification arrives: the frames it published before are delivered first, as
   a notification's are (ep_notified; the ring pages stay mapped until chan_close), then the
   link goes down, unless reading them already took it down. */
static void down_closed(struct idc_link *ep, const char *why)
{
    idc__link_kick(ep);
    if (X(ep)->hs == XH_UP)
        idc__link_down(ep, IDC_ERR_DISCONNECTED, "%s", why);
}

/* Watch on B fired (or a retry): follow the service and our connection's answer. */
static void fe_check(struct idc_link *ep)
{
    struct xen_ep *s = X(ep);
    struct xen_tp *t = T(ep);
    if (idc__link_destroying(ep))
        return;
    uint32_t inst;
    if (!fe_service(ep, XBT_NULL, &inst)) {
        /* Withdrawn (or the backend's domain is gone: the toolstack removed its tree). */
        if (s->hs == XH_UP)
            down_closed(ep, "backend withdrew the service");
        else if (s->hs != XH_IDLE)
            chan_release(ep);
        idc__timer_cancel(ep->ctx, &s->retry);
        if (idc__link_state(ep) == IDC_EP_PRESENT)
            idc__link_disappear(ep);
        return;
    }
    if (inst != s->instance) {
        /* A new backend instance (restart): whatever we had is stale. */
        if (s->hs == XH_UP)
            idc__link_down(ep, IDC_ERR_DISCONNECTED, "backend restarted");
        else if (s->hs != XH_IDLE)
            chan_release(ep);
        s->instance = inst;
        s->refused = false;
    }
    if (s->dead_instance == inst && idc__link_state(ep) != IDC_EP_CONNECTED &&
        idc__link_state(ep) != IDC_EP_DISCONNECTING) {
        if (idc__link_state(ep) == IDC_EP_PRESENT)
            idc__link_disappear(ep);
        return;
    }
    if (s->hs == XH_WAIT_BE && fe_heard(ep)) {
        s->acked = true;
        if (s->silent)
            idc__log(ep->ctx, IDC_LOG_INFO, "%s: backend instance %u answers again", ep->address,
                     inst);
        s->silent = false;
    }
    if (s->silent) {
        if (idc__link_state(ep) == IDC_EP_PRESENT)
            idc__link_disappear(ep);
        return;
    }
    if (idc__link_state(ep) == IDC_EP_ABSENT)
        idc__link_appear(ep);
    if (idc__link_state(ep) != IDC_EP_PRESENT && idc__link_state(ep) != IDC_EP_CONNECTED)
        return;
    if (s->hs == XH_IDLE) {
        fe_try_connect(ep);
        return;
    }
    char k[XEN_PATH_MAX];
    path_k(ep, 0, "conn", k, NULL);
    uint32_t kst = 0, kep = 0;
    if (xen_read_u32(t, XBT_NULL, k, "epoch", 0x7fffffffu, &kep) ||
        xen_read_u32(t, XBT_NULL, k, "state", 6, &kst) || kep != s->epoch) {
        if (s->hs == XH_UP)
            down_closed(ep, "backend dropped the connection");
        return; /* not answered yet */
    }
    if (s->hs == XH_UP) {
        if (kst != XB_CONNECTED)
            down_closed(ep, "backend closed the connection");
        return;
    }
    if (kst == XB_CONNECTED) {
        if (chan_up(ep) < 0)
            fe_fail(ep, true);
        return;
    }
    if (kst == XB_CLOSED || kst == XB_CLOSING) {
        char reason[161] = "";
        uint32_t st = 0;
        xen_read(t, XBT_NULL, k, "reason", reason, sizeof(reason));
        xen_read_u32(t, XBT_NULL, k, "status", 0xffffu, &st); /* stored as -status */
        int status = -(int)st;
        if (status != IDC_ERR_BUSY || !s->busy_logged)
            idc__log(ep->ctx, IDC_LOG_ERROR, "%s: backend refused the connection: %s (%s)%s",
                     ep->address, reason[0] ? reason : "no reason given", idc_strerror(status),
                     status == IDC_ERR_BUSY ? "; retrying quietly until it is free" : "");
        s->busy_logged = status == IDC_ERR_BUSY;
        idc__link_refused(ep, status, reason[0] ? reason : "no reason given");
        if (status == IDC_ERR_BUSY) {
            fe_fail(ep, false);
            if (!idc__link_destroying(ep))
                idc__timer_arm(ep->ctx, &s->retry, XEN_BUSY_RETRY_MS);
            return;
        }
        bool forever = status == IDC_ERR_MISMATCH || status == IDC_ERR_PERM ||
                       status == IDC_ERR_TOOBIG;
        if (forever) {
            s->refused = true;
            s->refused_instance = s->instance;
        }
        fe_fail(ep, !forever);
    }
}

/* ------------------------------------------------------------------------------- backend */

struct be_answer {
    struct idc_link *ep;
    uint64_t fk;
    uint32_t epoch;
    int state, status;
    const char *text;
};

static int be_answer_body(struct xen_tp *t, xs_transaction_t tx, void *arg)
{
    const struct be_answer *a = arg;
    char k[XEN_PATH_MAX];
    path_k(a->ep, a->fk, "conn", k, NULL);
    uint16_t d[1] = { (uint16_t)xen_fk_dom(a->fk) };
    xen_lib.xs_rm(t->xs, tx, k);
    int r = xen_mkdir(t, tx, k);
    if (!r)
        r = xen_perms(t, tx, k, XS_PERM_NONE, d, 1, XS_PERM_READ);
    if (!r)
        r = xen_write(t, tx, k, "epoch", "%u", a->epoch);
    if (!r && a->state == XB_CLOSED)
        r = xen_write(t, tx, k, "status", "%d", -a->status);
    if (!r && a->text)
        r = xen_write(t, tx, k, a->state == XB_CLOSED ? "reason" : "seen", "%s", a->text);
    if (!r)
        r = xen_write(t, tx, k, "state", "%d", a->state);
    return r;
}

/* The backend's answer to frontend fk, in one transaction: K = B/conn/<fe>-<id> made anew,
   readable by fe only, {epoch, [status = -status] [reason] or [seen], state last}. state
   Connected, Closed (a refusal: status and reason) or InitWait (an acknowledgement: seen).
   0 or IDC_ERR_* (the reason in T(ep)->why). */
static int be_answer(struct idc_link *ep, uint64_t fk, uint32_t epoch, int state, int status,
                     const char *text)
{
    struct be_answer a = { ep, fk, epoch, state, status, text };
    return xen_txn(T(ep), be_answer_body, &a);
}

static void be_refuse(struct idc_link *ep, uint64_t fk, uint32_t epoch, int status, const char *fmt,
                      ...) __attribute__((format(printf, 5, 6)));
static void be_refuse(struct idc_link *ep, uint64_t fk, uint32_t epoch, int status, const char *fmt,
                      ...)
{
    struct xen_ep *s = X(ep);
    char reason[161];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    idc__log(ep->ctx, IDC_LOG_ERROR, "%s: refusing domain %u: %s (%s)", ep->address, xen_fk_dom(fk),
             reason, idc_strerror(status));
    s->skip_fk = fk;
    s->skip_epoch = epoch;
    s->skip_valid = true;
    be_answer(ep, fk, epoch, XB_CLOSED, status, reason);
}

/* Who created the knock node B/fe/<d>-<id>: xenstored makes an unprivileged creator the owner,
   and only dom0 can hand a node to someone else, so the owner names the frontend's domain. */
static bool knock_genuine(struct idc_link *ep, uint64_t fk)
{
    char k[XEN_PATH_MAX];
    path_k(ep, fk, "fe", k, NULL);
    return xen_made_by(T(ep), k, xen_fk_dom(fk));
}

/* Try to accept frontend fk; returns true if a connection came up. */
static bool be_connect(struct idc_link *ep, uint64_t fk)
{
    struct xen_ep *s = X(ep);
    struct xen_tp *t = T(ep);
    unsigned d = xen_fk_dom(fk);
    char f[XEN_PATH_MAX], val[XEN_VALUE_MAX] = "";
    path_f(ep, fk, f, NULL);
    uint32_t st, epoch, inst, v, frame, tx, msg, ring, np, cref, port;
    if (xen_read_u32(t, XBT_NULL, f, "state", 6, &st) || st != XB_INITIALISED ||
        xen_read_u32(t, XBT_NULL, f, "epoch", 0x7fffffffu, &epoch) || epoch == 0)
        return false; /* not (yet) a connection request */
    if (s->skip_valid && s->skip_fk == fk && s->skip_epoch == epoch)
        return false; /* already refused or closed: wait for a new attempt */
    if (xen_read_u32(t, XBT_NULL, f, "be-instance", 0x7fffffffu, &inst) || inst != s->instance) {
        be_refuse(ep, fk, epoch, IDC_ERR_DISCONNECTED, "request addressed to another instance");
        return false;
    }
    if (!xen_addr_allows(&s->addr, d)) {
        be_refuse(ep, fk, epoch, IDC_ERR_PERM, "domain %u not allowed by the service's policy", d);
        return false;
    }
    if (xen_read(t, XBT_NULL, f, "protocol", val, IDC_PROTOCOL_NAME_MAX + 1) ||
        strcmp(val, ep->proto->name) != 0) {
        be_refuse(ep, fk, epoch, IDC_ERR_MISMATCH, "protocol '%s' requested, '%s' served", val,
                  ep->proto->name);
        return false;
    }
    uint64_t h;
    if (xen_read_u32(t, XBT_NULL, f, "version", 0xffffffffu, &v) || v < ep->proto->min_version ||
        v > ep->proto->max_version || xen_read(t, XBT_NULL, f, "version-hash", val, 17) ||
        !parse_hashes(val, &h, 1) || h != ep->proto->version_hash[v - ep->proto->min_version]) {
        be_refuse(ep, fk, epoch, IDC_ERR_MISMATCH, "version or IDL hash not served");
        return false;
    }
    if (xen_read_u32(t, XBT_NULL, f, "max-frame", ep->max_frame, &frame) || frame < IDC_MIN_FRAME ||
        xen_read_u32(t, XBT_NULL, f, "max-transactions", ep->max_tx, &tx) || tx == 0 ||
        xen_read_u32(t, XBT_NULL, f, "max-messages", ep->max_msg, &msg) || msg == 0 ||
        xen_read_u32(t, XBT_NULL, f, "ring-size", IDC_RING_MAX_SIZE, &ring) ||
        ring < IDC_RING_MIN_SIZE || (ring & (ring - 1)) ||
        idc_ring_size_for(msg + 2 * tx, frame) == 0 ||
        idc_ring_size_for(msg + 2 * tx, frame) > ring ||
        xen_read_u32(t, XBT_NULL, f, "ring-pages", XEN_CTRL_MAX_REFS, &np) ||
        np != (uint32_t)ring_pages(ring) ||
        xen_read_u32(t, XBT_NULL, f, "ctrl-ref", 0xffffffffu, &cref) ||
        xen_read_u32(t, XBT_NULL, f, "event-channel", 0xffffffffu, &port)) {
        be_refuse(ep, fk, epoch, IDC_ERR_PROTO, "connection keys missing or out of range");
        return false;
    }
    /* Event channel first: the control page's unmap notification goes through it. */
    int lp = xen_bind_interdomain(t, d, port, ep_port_fire, ep);
    if (lp < 0) {
        be_refuse(ep, fk, epoch, lp, "%s", t->why);
        return false;
    }
    s->port = (uint32_t)lp;
    s->port_valid = true;
    s->peer = d;
    s->fid = xen_fk_id(fk);
    s->ctrl = xen_lib.xengnttab_map_grant_ref_notify(
        t->gt, d, cref, PROT_READ | PROT_WRITE, (uint32_t)offsetof(struct xen_ctrl_page, be_live),
        s->port);
    if (!s->ctrl) {
        int e = errno;
        chan_release(ep);
        be_refuse(ep, fk, epoch, IDC_ERR_IO, "cannot map control page (ref %u): %s", cref,
                  strerror(e));
        return false;
    }
    /* One copy of the peer-written page, then validation. */
    struct xen_ctrl_page cp;
    memcpy(&cp, (const void *)s->ctrl, sizeof(cp));
    if (cp.magic != XEN_CTRL_MAGIC || cp.ring_size != ring || cp.nrefs != np || cp.epoch != epoch ||
        !cp.fe_live) {
        chan_release(ep);
        be_refuse(ep, fk, epoch, IDC_ERR_PROTO, "control page does not match the xenstore keys");
        return false;
    }
    s->rings = xen_lib.xengnttab_map_domain_grant_refs(t->gt, np, d, cp.refs,
                                                       PROT_READ | PROT_WRITE);
    if (!s->rings) {
        int e = errno;
        chan_release(ep);
        be_refuse(ep, fk, epoch, IDC_ERR_IO, "cannot map %u ring pages: %s", np, strerror(e));
        return false;
    }
    s->npages = np;
    __atomic_store_n(&s->ctrl->be_live, 1, __ATOMIC_RELEASE);
    s->epoch = epoch;
    s->ch = (struct idc_chan){ .tx_size = ring,
                               .rx_size = ring,
                               .epoch = epoch,
                               .version = v,
                               .max_frame = frame,
                               .tx_limit = tx,
                               .msg_limit = msg };
    char tok[16];
    ep_token(ep, tok);
    s->watching_f = xen_lib.xs_watch(t->xs, f, tok);
    /* Answer: B/conn/<d> {epoch, state = Connected}, readable by d only. */
    if (be_answer(ep, fk, epoch, XB_CONNECTED, 0, NULL)) {
        idc__log(ep->ctx, IDC_LOG_ERROR, "%s: cannot answer domain %u in xenstore: %s", ep->address,
                 d, t->why);
        chan_release(ep);
        return false;
    }
    if (chan_up(ep) < 0) {
        xen_chan_close(ep);
        return false;
    }
    s->owner_fk = 0;
    owner_write(ep, fk);
    return true;
}

/* Acknowledge frontend d's knock while we cannot answer it (we serve another frontend, or the
   driver has not finished the last disconnect): B/conn/<d> = {epoch, state InitWait, seen = the
   knock's text}. The frontend rewrites its knock now and then (a ping); an acknowledged ping
   tells it this backend is alive and it should keep waiting. A knock we already answered for
   this epoch (connected or refused) is left alone. */
static void be_ack(struct idc_link *ep, uint64_t fk)
{
    struct xen_tp *t = T(ep);
    char k[XEN_PATH_MAX], c[XEN_PATH_MAX], v[XEN_KNOCK_MAX], seen[XEN_KNOCK_MAX];
    path_k(ep, fk, "fe", k, NULL);
    if (xen_read(t, XBT_NULL, k, NULL, v, sizeof(v)))
        return;
    /* hostile text: "EPOCH" or "EPOCH/PING", decimal */
    size_t n = strcspn(v, "/");
    uint32_t epoch, ping;
    if (!xen_parse_u32(v, n, 0x7fffffffu, &epoch) || epoch == 0 ||
        (v[n] && !xen_parse_u32(v + n + 1, strlen(v + n + 1), 0xffffffffu, &ping)))
        return;
    path_k(ep, fk, "conn", c, NULL);
    uint32_t kep = 0, kst = 0;
    if (xen_read_u32(t, XBT_NULL, c, "epoch", 0x7fffffffu, &kep) == 0 && kep == epoch &&
        xen_read_u32(t, XBT_NULL, c, "state", 6, &kst) == 0 && kst != XB_INITWAIT)
        return;
    if (kep == epoch && xen_read(t, XBT_NULL, c, "seen", seen, sizeof(seen)) == 0 &&
        !strcmp(seen, v))
        return;
    be_answer(ep, fk, epoch, XB_INITWAIT, 0, v);
}

/* The service is exclusive: a knock while another frontend is connected or in its handshake is
   refused at once with IDC_ERR_BUSY (once per knock: the answer node says it was). */
static void be_busy(struct idc_link *ep, uint64_t fk)
{
    struct xen_ep *s = X(ep);
    struct xen_tp *t = T(ep);
    char k[XEN_PATH_MAX], c[XEN_PATH_MAX], v[XEN_KNOCK_MAX];
    path_k(ep, fk, "fe", k, NULL);
    if (xen_read(t, XBT_NULL, k, NULL, v, sizeof(v)))
        return;
    size_t n = strcspn(v, "/"); /* hostile text: "EPOCH" or "EPOCH/PING", decimal */
    uint32_t epoch, kep = 0, kst = 0;
    if (!xen_parse_u32(v, n, 0x7fffffffu, &epoch) || epoch == 0)
        return;
    path_k(ep, fk, "conn", c, NULL);
    if (xen_read_u32(t, XBT_NULL, c, "epoch", 0x7fffffffu, &kep) == 0 && kep == epoch &&
        xen_read_u32(t, XBT_NULL, c, "state", 6, &kst) == 0 && kst == XB_CLOSED)
        return;
    const char *why = s->owner_fk ? "the service is reserved for the frontend that had it "
                                    "before the backend restarted"
                                  : "the service is in use by another frontend";
    if (idc__log_limit(&s->busy_logs, ep->ctx))
        idc__log(ep->ctx, IDC_LOG_WARN, "%s: refusing domain %u: %s (IDC_ERR_BUSY)", ep->address,
                 xen_fk_dom(fk), why);
    be_answer(ep, fk, epoch, XB_CLOSED, IDC_ERR_BUSY, why);
}

/* Other frontends' knocks while this backend cannot take them: refused as busy (connected or
   handshaking), or acknowledged as waiting (between two connections). */
static void be_ack_all(struct idc_link *ep, bool busy)
{
    struct xen_ep *s = X(ep);
    struct xen_tp *t = T(ep);
    char dir[XEN_PATH_MAX];
    path_b(ep, dir, "fe");
    unsigned n = 0;
    char **ents = xen_lib.xs_directory(t->xs, XBT_NULL, dir, &n);
    if (!ents)
        return;
    for (unsigned i = 0; i < n && i < 4096; i++) {
        uint64_t fk;
        if (!xen_fk_parse(ents[i], &fk) || (s->hs == XH_UP && fk == xen_fk(s->peer, s->fid)) ||
            !xen_addr_allows(&s->addr, xen_fk_dom(fk)) || !knock_genuine(ep, fk))
            continue;
        if (busy)
            be_busy(ep, fk);
        else
            be_ack(ep, fk);
    }
    free(ents);
}

static void be_scan(struct idc_link *ep)
{
    struct xen_ep *s = X(ep);
    struct xen_tp *t = T(ep);
    if (idc__link_destroying(ep))
        return;
    if (s->hs == XH_UP) {
        char f[XEN_PATH_MAX];
        path_f(ep, xen_fk(s->peer, s->fid), f, NULL);
        uint32_t st, epoch;
        if (xen_domain_gone(t, s->peer))
            idc__link_down(ep, IDC_ERR_DISCONNECTED, "frontend domain %u died", s->peer);
        else if (xen_read_u32(t, XBT_NULL, f, "epoch", 0x7fffffffu, &epoch) || epoch != s->epoch)
            down_closed(ep, "frontend withdrew the connection");
        else if (xen_read_u32(t, XBT_NULL, f, "state", 6, &st) ||
                 (st != XB_INITIALISED && st != XB_CONNECTED))
            down_closed(ep, "frontend closed the connection");
        else
            be_ack_all(ep, true); /* exclusive: other frontends are refused as busy */
        return;
    }
    if (idc__link_state(ep) != IDC_EP_PRESENT || s->hs != XH_IDLE) {
        be_ack_all(ep, s->hs != XH_IDLE);
        return;
    }
    char dir[XEN_PATH_MAX];
    path_b(ep, dir, "fe");
    unsigned n = 0;
    char **ents = xen_lib.xs_directory(t->xs, XBT_NULL, dir, &n);
    if (!ents)
        return;
    for (unsigned i = 0; i < n && n <= 4096; i++) {
        uint64_t fk;
        if (!xen_fk_parse(ents[i], &fk) || !knock_genuine(ep, fk))
            continue;
        if (owner_reserved_against(ep, fk)) {
            if (xen_addr_allows(&X(ep)->addr, xen_fk_dom(fk)))
                be_busy(ep, fk);
            continue;
        }
        if (be_connect(ep, fk))
            break;
    }
    free(ents);
}

struct be_publish {
    struct idc_link *ep;
    const char *hashes;
};

static int be_publish_body(struct xen_tp *t, xs_transaction_t tx, void *arg)
{
    const struct be_publish *q = arg;
    struct idc_link *ep = q->ep;
    struct xen_ep *s = X(ep);
    char b[XEN_PATH_MAX], p[XEN_PATH_MAX];
    path_b(ep, b, NULL);
    xen_lib.xs_rm(t->xs, tx, b);
    int r = xen_mkdir(t, tx, b);
    if (!r)
        r = xen_perms(t, tx, b, s->addr.allow_all ? XS_PERM_READ : XS_PERM_NONE, s->addr.allow,
                      s->addr.nallow, XS_PERM_READ);
    if (!r)
        r = xen_write(t, tx, b, "protocol", "%s", ep->proto->name) ||
                    xen_write(t, tx, b, "version-min", "%u", ep->proto->min_version) ||
                    xen_write(t, tx, b, "version-max", "%u", ep->proto->max_version) ||
                    xen_write(t, tx, b, "version-hash", "%s", q->hashes) ||
                    xen_write(t, tx, b, "max-frame", "%u", ep->max_frame) ||
                    xen_write(t, tx, b, "max-transactions", "%u", ep->max_tx) ||
                    xen_write(t, tx, b, "max-messages", "%u", ep->max_msg) ||
                    xen_write(t, tx, b, "instance", "%u", s->instance)
                ? IDC_ERR_IO
                : 0;
    if (!r) {
        path_b(ep, p, "fe");
        r = xen_mkdir(t, tx, p);
        if (!r)
            r = xen_perms(t, tx, p, s->addr.allow_all ? XS_PERM_WRITE : XS_PERM_NONE, s->addr.allow,
                          s->addr.nallow, XS_PERM_WRITE);
    }
    if (!r) {
        path_b(ep, p, "conn");
        r = xen_mkdir(t, tx, p);
        if (!r)
            r = xen_perms(t, tx, p, XS_PERM_NONE, NULL, 0, 0);
    }
    if (!r)
        r = xen_write(t, tx, b, "state", "%d", XB_INITWAIT);
    return r;
}

/* Publishes B in one transaction: service keys, the knock directory, the answers directory,
   then state = InitWait. */
static int be_publish(struct idc_link *ep)
{
    struct xen_ep *s = X(ep);
    struct xen_tp *t = T(ep);
    char b[XEN_PATH_MAX], p[XEN_PATH_MAX], hashes[IDC_MAX_VERSIONS * 17 + 1];
    path_b(ep, b, NULL);
    s->instance = xen_rand_nonzero();
    size_t hl = 0;
    for (uint32_t v = 0; v <= ep->proto->max_version - ep->proto->min_version; v++)
        hl += (size_t)snprintf(hashes + hl, sizeof(hashes) - hl, "%s%016llx", v ? " " : "",
                               (unsigned long long)ep->proto->version_hash[v]);
    struct be_publish q = { ep, hashes };
    if (xen_txn(t, be_publish_body, &q)) {
        idc__log(ep->ctx, IDC_LOG_ERROR, "%s: cannot publish %s: %s", ep->address, b, t->why);
        return IDC_ERR_IO;
    }
    path_b(ep, p, "fe");
    char tok[16];
    ep_token(ep, tok);
    if (!xen_lib.xs_watch(t->xs, p, tok)) {
        idc__log(ep->ctx, IDC_LOG_ERROR, "%s: cannot watch %s: %s", ep->address, p,
                 strerror(errno));
        xen_lib.xs_rm(t->xs, XBT_NULL, b);
        return IDC_ERR_IO;
    }
    s->watching_b = true;
    owner_reserve(ep);
    idc__link_appear(ep);
    return 0;
}

/* ---------------------------------------------------------------------- event dispatch */

static struct idc_link *ep_by_serial(struct idc_context *ctx, uint32_t serial)
{
    for (struct idc_link *ep = idc__link_first(ctx, &idc_transport_xen); ep;
         ep = idc__link_next(ep))
        if (X(ep)->serial == serial)
            return ep;
    return NULL;
}

static void ep_event(struct idc_link *ep)
{
    if (ep->role == IDC_ROLE_FRONTEND)
        fe_check(ep);
    else
        be_scan(ep);
}

/* A watch with our token fired: "idc<serial>" names the endpoint. Only noted here: a watch on
   a service's tree fires for every write in it (our own knocks, answers to other frontends),
   and each check reads several nodes, so a burst of events is looked at once per endpoint
   (xen_chan_watch_flush) rather than once per event. */
void xen_chan_watch(struct xen_tp *t, const char *serial_text)
{
    uint32_t serial;
    if (!xen_parse_u32(serial_text, strlen(serial_text), 0xffffffffu, &serial))
        return;
    struct idc_link *ep = ep_by_serial(t->ctx, serial);
    if (ep)
        X(ep)->watch_due = true;
}

/* After a batch of watch events: each endpoint they named, checked once. */
void xen_chan_watch_flush(struct xen_tp *t)
{
    for (struct idc_link *ep = idc__link_first(t->ctx, &idc_transport_xen); ep;
         ep = idc__link_next(ep))
        if (X(ep)->watch_due) {
            X(ep)->watch_due = false;
            ep_event(ep);
        }
}

/* A domain was released (dom0 only learns which by asking). */
void xen_chan_released(struct xen_tp *t)
{
    for (struct idc_link *ep = idc__link_first(t->ctx, &idc_transport_xen); ep;
         ep = idc__link_next(ep))
        if (X(ep)->hs == XH_UP && xen_domain_gone(t, X(ep)->peer))
            idc__link_down(ep, IDC_ERR_DISCONNECTED, "peer domain %u died", X(ep)->peer);
}

static void unmask_fire(struct idc_timer *tm)
{
    struct idc_link *ep = tm->arg;
    struct xen_ep *s = X(ep);
    if (!s->masked)
        return;
    s->masked = false;
    if (s->port_valid)
        xen_lib.xenevtchn_unmask(T(ep)->ev, s->port);
    idc__link_kick(ep);
}

/* One notification for ep: the rings first (frames the peer published before it went away are
   still delivered), then liveness, with storm accounting. */
static void ep_notified(struct idc_link *ep)
{
    struct xen_ep *s = X(ep);
    struct xen_tp *t = T(ep);
    if (s->hs != XH_UP || !s->ctrl) {
        xen_lib.xenevtchn_unmask(t->ev, s->port);
        return;
    }
    idc__link_kick(ep);
    if (s->hs != XH_UP || !s->ctrl) {
        if (s->port_valid)
            xen_lib.xenevtchn_unmask(t->ev, s->port);
        return;
    }
    uint8_t peer_live = __atomic_load_n(
        ep->role == IDC_ROLE_FRONTEND ? &s->ctrl->be_live : &s->ctrl->fe_live, __ATOMIC_ACQUIRE);
    if (!peer_live) {
        if (ep->role == IDC_ROLE_FRONTEND) {
            /* No clean close in xenstore: the backend's process is gone; its service node
               stays behind until a new instance replaces it, so treat it as withdrawn. */
            char k[XEN_PATH_MAX];
            uint32_t kst = 0, kep = 0;
            path_k(ep, 0, "conn", k, NULL);
            if (xen_read_u32(t, XBT_NULL, k, "epoch", 0x7fffffffu, &kep) ||
                xen_read_u32(t, XBT_NULL, k, "state", 6, &kst) || kep != s->epoch ||
                kst == XB_CONNECTED)
                s->dead_instance = s->instance;
        }
        xen_lib.xenevtchn_unmask(t->ev, s->port);
        idc__link_down(ep, IDC_ERR_DISCONNECTED,
                       "%s unmapped the control page "
                       "(closed or its process died)",
                       ep->role == IDC_ROLE_FRONTEND ? "backend" : "frontend");
        return;
    }
    if (idc__link_state(ep) != IDC_EP_CONNECTED)
        return;
    char why[120];
    switch (idc__storm_note(&s->storm, ep, why, sizeof(why))) {
    case IDC_STORM_CUT:
        idc__link_down(ep, IDC_ERR_PROTO, "%s", why);
        return;
    case IDC_STORM_PAUSE:
        /* Rate limit: leave the port masked for a moment; the timer unmasks and drains. */
        if (!s->masked) {
            s->masked = true;
            idc__timer_arm(ep->ctx, &s->unmask, IDC_STORM_PAUSE_MS);
        }
        return;
    case IDC_STORM_OK:
        break;
    }
    /* The unmask waits for the next dispatch or wait (xen_ep_ack): the frames this
       notification announced are handled and their answers notified first, one system call
       sooner, and the caller's next request goes out before it too. A notification meanwhile
       stays pending in the hypervisor and is delivered at the unmask; the ring's
       arm-and-recheck before a wait finds its frames in any case. */
    s->ack_due = true;
}

void xen_ep_ack(struct idc_link *ep)
{
    struct xen_ep *s = X(ep);
    if (!s->ack_due)
        return;
    s->ack_due = false;
    if (s->port_valid && !s->masked)
        xen_lib.xenevtchn_unmask(T(ep)->ev, s->port);
}

/* A notification on the port of endpoint arg (xen.c dispatches the pending ports). */
static void ep_port_fire(struct xen_tp *t, void *arg)
{
    (void)t;
    ep_notified(arg);
}

/* ------------------------------------------------------------------------ endpoint ops */

int xen_ep_start(struct idc_link *ep)
{
    struct xen_ep *s = X(ep);
    memset(s, 0, sizeof(*s));
    s->retry.arg = ep;
    s->unmask.arg = ep;
    s->unmask.fn = unmask_fire;
    s->answer.arg = ep;
    s->answer.fn = fe_answer_fire;
    if (xen_addr_parse(ep->name, ep->role, &s->addr) < 0) {
        idc__log(ep->ctx, IDC_LOG_ERROR, "%s: bad address: %s", ep->address, XEN_ADDR_GRAMMAR);
        return IDC_ERR_INVAL;
    }
    s->peer = s->addr.peer; /* a backend's: the frontend it serves, once one connects */
    struct xen_tp *t = T(ep);
    int r = xen_open(t, ep->address);
    if (r < 0)
        return r;
    s->serial = ++t->chan_serial;
    if (ep->role == IDC_ROLE_BACKEND) {
        s->retry.fn = NULL;
        return be_publish(ep);
    }
    s->retry.fn = fe_retry_fire;
    s->fid = xen_rand_nonzero();
    char b[XEN_PATH_MAX], tok[16];
    path_b(ep, b, NULL);
    ep_token(ep, tok);
    if (!xen_lib.xs_watch(t->xs, b, tok)) {
        idc__log(ep->ctx, IDC_LOG_ERROR, "%s: cannot watch %s: %s", ep->address, b,
                 strerror(errno));
        return IDC_ERR_IO;
    }
    s->watching_b = true;
    /* xenstore fires a new watch once: fe_check runs from there. */
    return 0;
}

void xen_ep_rearm(struct idc_link *ep)
{
    if (ep->role == IDC_ROLE_BACKEND)
        be_scan(ep);
    else
        fe_check(ep);
}

void xen_ep_stop(struct idc_link *ep)
{
    struct xen_ep *s = X(ep);
    struct xen_tp *t = T(ep);
    if (s->retry.fn)
        idc__timer_cancel(ep->ctx, &s->retry);
    idc__timer_cancel(ep->ctx, &s->unmask);
    idc__timer_cancel(ep->ctx, &s->answer);
    if (!t->open || !s->serial)
        return;
    chan_release(ep);
    char p[XEN_PATH_MAX], tok[16];
    ep_token(ep, tok);
    if (ep->role == IDC_ROLE_BACKEND) {
        path_b(ep, p, "fe");
        if (s->watching_b)
            xen_lib.xs_unwatch(t->xs, p, tok);
        /* Withdraw only our own publication (a successor may have replaced it). */
        uint32_t inst;
        path_b(ep, p, NULL);
        if (xen_read_u32(t, XBT_NULL, p, "instance", 0x7fffffffu, &inst) == 0 &&
            inst == s->instance)
            xen_lib.xs_rm(t->xs, XBT_NULL, p);
    } else {
        path_b(ep, p, NULL);
        if (s->watching_b)
            xen_lib.xs_unwatch(t->xs, p, tok);
        path_f(ep, 0, p, NULL);
        xen_lib.xs_rm(t->xs, XBT_NULL, p);
        path_k(ep, 0, "fe", p, NULL);
        xen_lib.xs_rm(t->xs, XBT_NULL, p);
    }
    s->watching_b = false;
    s->serial = 0;
}
