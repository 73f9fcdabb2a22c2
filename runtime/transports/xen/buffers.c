/* buffers.c - remote buffers across Xen domains: grant copy through the user's bounce pages.
 *
 * The owner's memory is never granted nor mapped by anyone. A context that registers buffers on
 * Xen publishes a request node O = /local/domain/<owner dom>/data/idc-rbuf/<owner id, 16 hex>.
 * A user in another domain grants its own fresh pages to the owner's domain (xengntshr: one
 * request page plus a bounce window), binds an unbound event channel for the owner and knocks:
 * O/fe/<user dom>-<user id> = "EPOCH PAGE-REF PORT" (a node the user owns). The owner checks
 * who created the knock (xenstore permissions name the creator's domain), maps the request page
 * with an unmap notification on owner_live, binds the port, copies the window's grant
 * references once, and answers in the page. From then on each request names a reference, an
 * offset, a length (at most one window slot) and a slot; the owner copies the request once,
 * checks key, generation, rights and range with idc__reg_check on every request (as the shm
 * buffer service does), then copies with xengnttab_grant_copy between its registered memory
 * (a local virtual address) and the user's slot pages, and answers with a status. Unregister
 * therefore revokes at once, and a reference forwarded to a third domain works the same way.
 *
 * Liveness: the request page carries user_live and owner_live bytes that the kernel zeroes (and
 * signals through the event channel) when a side unmaps it, also when its process dies; the
 * user watches O (removed at the owner's context destroy, and by the toolstack with the owner's
 * domain); a knock without an answer fails after XB_KNOCK_MS. docs/xen-transport.md ("Remote
 * buffers") has the layout. The handles, the watch and event-channel fds and their dispatch are
 * the context's, shared with channel.c (xen.c).
 *
 * Everything in the request page and in xenstore was written by the peer: values are bounded
 * and parsed strictly, requests are copied once into private memory, then validated; a
 * malformed request or index drops that link (with the reason logged), other links go on.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "xbowner.h"
#include "xbuser.h"
#include "xen.h"

/* The wire (slots, request page, knock syntax) and the user's pacing: wire.h. The requests on
   the page: xbuser.c (the user's) and xbowner.c (the owner's), shared with idc.ko. */

/* Owner side: one link per knocking user context. */
struct xb_olink {
    struct xb_olink *next;
    char name[XB_NAME_MAX]; /* knock entry "<dom>-<user id hex>" */
    unsigned dom;
    uint32_t epoch;
    bool failed;        /* knock refused or link dropped: wait for a new epoch */
    struct xbo_link rq; /* the request page, its index, the window's references */
    uint32_t port;
    bool port_valid;
};

/* User side: one link per owner context in another domain; its requests are xbuser.c's. */
struct xb_ulink {
    struct xb_ulink *next;
    unsigned dom;
    uint32_t serial; /* watch token XEN_TOKEN_BUF "u<serial>" */
    char opath[XB_OPATH_MAX];
    char kpath[XEN_PATH_MAX];
    struct xbu u; /* the request page, the window, the transfers */
    uint32_t port;
    bool port_valid, watching, knocked;
    uint32_t epoch;
    struct idc_timer knock_t;
    struct xen_tp *t;
};

struct xb_ctx {
    struct idc_context *ctx;
    struct xen_tp *t; /* the context's handles (xen.c) */
    bool published;
    char opath[XB_OPATH_MAX]; /* our O */
    struct xb_olink *olinks;
    unsigned nolinks;
    struct xb_ulink *ulinks;
    uint32_t next_serial;
    struct xbu_dead dead;            /* user: owners known to be gone */
    struct idc_buf_limits links_max; /* transport.h's rule, XB_USER_LINKS user links */
    struct idc_log_limit logs;       /* refusals a peer can cause */
    struct xbo_batch batch;          /* owner: the requests of one wake-up (xbo_serve) */
    /* owner: their grant-copy segments, one xengnttab_grant_copy per batch (one system call
       and one hypercall per wake-up rather than one per request); a window's worth of
       segments, too large for the stack */
    xengnttab_grant_copy_segment_t seg[XB_SLOTS * XB_SLOT_PAGES];
};

/* ------------------------------------------------------------------------------ helpers */

static unsigned owner_dom(uint64_t owner)
{
    return (unsigned)(owner >> IDC_OWNER_LOC_SHIFT) - 1u;
}

/* O of owner id `owner` in domain dom */
static void path_o(char out[XB_OPATH_MAX], unsigned dom, uint64_t owner)
{
    snprintf(out, XB_OPATH_MAX, XB_OPATH_FMT, dom, (unsigned long long)owner);
}

/* ------------------------------------------------------------------- per-context state */

static void olink_port_fire(struct xen_tp *t, void *arg);
static void ulink_port_fire(struct xen_tp *t, void *arg);
static const struct xbo_ops own_ops;

/* The buffer service, created with the context's Xen handles on first use, so buffers work in
   contexts that have no xen endpoint. */
static struct xb_ctx *xb_open(struct idc_context *ctx)
{
    struct xen_tp *t = xen_tp(ctx);
    if (t->buf)
        return t->buf;
    if (!t->dom1 || xen_open(t, "remote buffers over Xen") < 0)
        return NULL;
    struct xb_ctx *xc = calloc(1, sizeof(*xc));
    if (!xc)
        return NULL;
    xc->ctx = ctx;
    xc->t = t;
    xc->links_max = idc__buf_limits(XB_USER_LINKS);
    xc->batch = (struct xbo_batch){ .ctx = ctx, .ops = &own_ops, .arg = xc };
    t->buf = xc;
    return xc;
}

/* --------------------------------------------------------------------------- owner side */

/* Drops the link (its knock stays refused until its epoch changes); fmt: the reason to log
   (NULL: the user went away, nothing to tell). */
static void olink_drop(struct xb_ctx *xc, struct xb_olink *l, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void olink_drop(struct xb_ctx *xc, struct xb_olink *l, const char *fmt, ...)
{
    if (fmt) {
        char why[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        idc__log(xc->ctx, IDC_LOG_WARN,
                 "buffer service: dropping the link of %s (domain %u): "
                 "%s",
                 l->name, l->dom, why);
    }
    if (l->rq.page) {
        /* Unmapping clears owner_live and signals the user. */
        xen_lib.xengnttab_unmap(xc->t->gt, l->rq.page, 1);
        l->rq.page = NULL;
    }
    if (l->port_valid)
        xen_unbind(xc->t, l->port);
    l->port_valid = false;
    l->failed = true;
}

static void olink_free(struct xb_ctx *xc, struct xb_olink *l)
{
    olink_drop(xc, l, NULL);
    for (struct xb_olink **pp = &xc->olinks; *pp; pp = &(*pp)->next)
        if (*pp == l) {
            *pp = l->next;
            xc->nolinks--;
            break;
        }
    free(l);
}

/* xbo_ops for xbowner.c: the segments of one request (one per window page: the local side is
   a virtual address, which the kernel's grant-copy device splits at page boundaries itself). */
static uint32_t own_segs(void *arg, void *link, bool read, const uint32_t *refs,
                         unsigned char *addr, uint32_t len, uint32_t first)
{
    struct xb_ctx *xc = arg;
    struct xb_olink *l = link;
    uint32_t n = 0;
    for (uint32_t done = 0; done < len; done += XEN_PAGE, n++) {
        xengnttab_grant_copy_segment_t *sg = &xc->seg[first + n];
        memset(sg, 0, sizeof(*sg));
        sg->len = (uint16_t)(len - done < XEN_PAGE ? len - done : XEN_PAGE);
        if (read) {
            sg->source.virt = addr + done;
            sg->dest.foreign.ref = refs[n];
            sg->dest.foreign.domid = (uint16_t)l->dom;
            sg->flags = GNTCOPY_dest_gref;
        } else {
            sg->source.foreign.ref = refs[n];
            sg->source.foreign.domid = (uint16_t)l->dom;
            sg->dest.virt = addr + done;
            sg->flags = GNTCOPY_source_gref;
        }
    }
    return n;
}

static bool own_copy(void *arg, void *link, uint32_t nseg)
{
    struct xb_ctx *xc = arg;
    if (xen_lib.xengnttab_grant_copy(xc->t->gt, nseg, xc->seg) == 0)
        return true;
    idc__log(xc->ctx, IDC_LOG_WARN, "buffer service: grant copy for %s: %s",
             ((struct xb_olink *)link)->name, strerror(errno));
    return false;
}

static bool own_seg_ok(void *arg, void *link, uint32_t k)
{
    struct xb_ctx *xc = arg;
    if (xc->seg[k].status == GNTST_okay)
        return true;
    idc__log(xc->ctx, IDC_LOG_DEBUG, "buffer service: grant copy for %s: status %d",
             ((struct xb_olink *)link)->name, xc->seg[k].status);
    return false;
}

static void own_notify(void *arg, void *link)
{
    struct xb_ctx *xc = arg;
    xen_lib.xenevtchn_notify(xc->t->ev, ((struct xb_olink *)link)->port);
}

static void own_drop(void *arg, void *link, const char *why)
{
    olink_drop(arg, link, "%s", why);
}

static const struct xbo_ops own_ops = {
    .segs = own_segs, .copy = own_copy, .seg_ok = own_seg_ok, .notify = own_notify, .drop = own_drop
};

static void olink_event(struct xb_ctx *xc, struct xb_olink *l)
{
    uint32_t port = l->port;
    if (l->rq.page)
        xbo_serve(&xc->batch, &l->rq, l);
    /* Acquire: pairs with the user's store (or its kernel's unmap notification). */
    if (l->rq.page && !__atomic_load_n(&l->rq.page->user_live, __ATOMIC_ACQUIRE))
        olink_drop(xc, l, NULL); /* the user closed the link or its process died */
    if (l->port_valid)
        xen_lib.xenevtchn_unmask(xc->t->ev, port);
}

static void olink_port_fire(struct xen_tp *t, void *arg)
{
    olink_event(t->buf, arg);
}

/* Parses "<dom>-<16 hex>"; the user id's domain bits must name the same domain. */
/* Reads the knock value "EPOCH REF PORT". */
static bool knock_value(struct xb_ctx *xc, const char *path, uint32_t v[3])
{
    char b[48];
    return xen_read(xc->t, XBT_NULL, path, NULL, b, sizeof(b)) == 0 && xb_knock_value(b, v);
}

static struct xb_olink *olink_find(struct xb_ctx *xc, const char *name)
{
    for (struct xb_olink *l = xc->olinks; l; l = l->next)
        if (!strcmp(l->name, name))
            return l;
    return NULL;
}

/* A knock entry appeared, changed or vanished. */
static void own_knock(struct xb_ctx *xc, const char *name)
{
    char k[XEN_PATH_MAX + 64];
    unsigned d;
    if (strlen(name) >= XB_NAME_MAX || !xb_knock_name(name, XEN_DOMID_MAX, IDC_OWNER_LOC_SHIFT, &d))
        return;
    snprintf(k, sizeof(k), "%s/fe/%s", xc->opath, name);
    uint32_t v[3];
    struct xb_olink *l = olink_find(xc, name);
    if (!knock_value(xc, k, v)) {
        if (l)
            olink_free(xc, l); /* withdrawn (or not complete yet) */
        return;
    }
    if (l && l->epoch == v[0])
        return; /* the link we serve (or refused) */
    if (l)
        olink_free(xc, l);
    unsigned mine = 0;
    for (struct xb_olink *o = xc->olinks; o; o = o->next)
        mine += o->dom == d;
    if (xc->nolinks >= xc->links_max.owner || mine >= xc->links_max.per_peer) {
        if (idc__log_limit(&xc->logs, xc->ctx))
            idc__log(xc->ctx, IDC_LOG_WARN,
                     "buffer service: refusing %s (%u links, %u of them from domain %u; "
                     "IDC_BUF_OWNER_LINKS %u, IDC_BUF_OWNER_PER_PEER %u)",
                     name, xc->nolinks, mine, d, xc->links_max.owner, xc->links_max.per_peer);
        return;
    }
    l = calloc(1, sizeof(*l));
    if (!l)
        return;
    snprintf(l->name, sizeof(l->name), "%s", name);
    l->dom = d;
    l->epoch = v[0];
    l->next = xc->olinks;
    xc->olinks = l;
    xc->nolinks++;
    if (!xen_made_by(xc->t, k, d)) {
        olink_drop(xc, l, "knock not created by the domain it names");
        return;
    }
    int lp = xen_bind_interdomain(xc->t, d, v[2], olink_port_fire, l);
    if (lp < 0) {
        olink_drop(xc, l, "%s", xc->t->why);
        return;
    }
    l->port = (uint32_t)lp;
    l->port_valid = true;
    l->rq.page = xen_lib.xengnttab_map_grant_ref_notify(
        xc->t->gt, d, v[1], PROT_READ | PROT_WRITE, (uint32_t)offsetof(struct xb_page, owner_live),
        l->port);
    if (!l->rq.page) {
        olink_drop(xc, l, "cannot map its request page");
        return;
    }
    /* One copy of the header and the references, then validation. */
    struct {
        uint8_t user_live, owner_live, pad[2];
        uint32_t magic, epoch, answer, req_prod, rsp_prod;
    } h;
    memcpy(&h, (const void *)l->rq.page, sizeof(h));
    memcpy(l->rq.refs, (const void *)l->rq.page->refs, sizeof(l->rq.refs));
    if (h.magic != XB_MAGIC || h.epoch != l->epoch || !h.user_live || h.req_prod != 0) {
        olink_drop(xc, l, "request page does not match the knock");
        return;
    }
    l->rq.req_cons = 0;
    __atomic_store_n(&l->rq.page->owner_live, 1, __ATOMIC_RELAXED);
    /* Release: owner_live before the answer the user acts on. */
    __atomic_store_n(&l->rq.page->answer, XB_ANS_OK, __ATOMIC_RELEASE);
    xen_lib.xenevtchn_notify(xc->t->ev, l->port);
    idc__log(xc->ctx, IDC_LOG_DEBUG, "buffer service: serving %s (domain %u)", name, d);
}

static void own_scan(struct xb_ctx *xc)
{
    char dir[XEN_PATH_MAX + 8];
    snprintf(dir, sizeof(dir), "%s/fe", xc->opath);
    unsigned n = 0;
    char **ents = xen_lib.xs_directory(xc->t->xs, XBT_NULL, dir, &n);
    /* Links whose knock is gone: the user withdrew. */
    for (struct xb_olink *l = xc->olinks, *next; l; l = next) {
        next = l->next;
        bool found = false;
        for (unsigned i = 0; ents && i < n && !found; i++)
            found = !strcmp(ents[i], l->name);
        if (!found)
            olink_free(xc, l);
    }
    for (unsigned i = 0; ents && i < n && i < XB_MAX_KNOCKS; i++)
        own_knock(xc, ents[i]);
    free(ents);
}

/* O {state = 2} with O/fe writable by everyone, in one transaction. */
static int publish_body(struct xen_tp *t, xs_transaction_t tx, void *arg)
{
    const char *opath = arg;
    char fe[XEN_PATH_MAX + 8];
    snprintf(fe, sizeof(fe), "%s/fe", opath);
    xen_lib.xs_rm(t->xs, tx, opath);
    int r = xen_mkdir(t, tx, opath);
    if (!r)
        r = xen_perms(t, tx, opath, XS_PERM_READ, NULL, 0, 0);
    if (!r)
        r = xen_mkdir(t, tx, fe);
    if (!r)
        r = xen_perms(t, tx, fe, XS_PERM_WRITE, NULL, 0, 0);
    if (!r)
        r = xen_write(t, tx, opath, "state", "2");
    return r;
}

int xen_buf_publish(struct idc_context *ctx)
{
    if (!xen_tp(ctx)->dom1)
        return IDC_ERR_NOTSUP;
    struct xb_ctx *xc = xb_open(ctx);
    if (!xc)
        return IDC_ERR_IO;
    if (xc->published)
        return 0;
    struct xen_tp *t = xc->t;
    path_o(xc->opath, t->self, idc_context_id(ctx));
    char fe[XEN_PATH_MAX + 8];
    snprintf(fe, sizeof(fe), "%s/fe", xc->opath);
    if (xen_txn(t, publish_body, xc->opath)) {
        idc__log(ctx, IDC_LOG_ERROR, "remote buffers over Xen: cannot publish %s: %s", xc->opath,
                 t->why);
        return IDC_ERR_IO;
    }
    if (!xen_lib.xs_watch(t->xs, fe, XEN_TOKEN_BUF "own")) {
        idc__log(ctx, IDC_LOG_ERROR, "remote buffers over Xen: cannot watch %s: %s", fe,
                 strerror(errno));
        xen_lib.xs_rm(t->xs, XBT_NULL, xc->opath);
        return IDC_ERR_IO;
    }
    xc->published = true;
    return 0;
}

/* ---------------------------------------------------------------------------- user side */

/* Owners in another domain (the owner id's locator is the domain id + 1); a fabric node's
   locator names a machine, not a domain: fabric's (idc__ctx_set_locator). */
bool xen_buf_reaches(struct idc_context *ctx, uint64_t owner)
{
    unsigned d1 = (unsigned)(owner >> IDC_OWNER_LOC_SHIFT);
    return d1 != 0 && !(d1 & IDC_OWNER_LOC_FABRIC) && d1 != xen_tp(ctx)->dom1;
}

static void ulink_token(const struct xb_ulink *l, char tok[24])
{
    snprintf(tok, 24, XEN_TOKEN_BUF "u%u", l->serial);
}

/* Frees the link; every transfer still on it completes with status. */
static void ulink_fail(struct xb_ctx *xc, struct xb_ulink *l, int status)
{
    struct idc_context *ctx = xc->ctx;
    for (struct xb_ulink **pp = &xc->ulinks; *pp; pp = &(*pp)->next)
        if (*pp == l) {
            *pp = l->next;
            break;
        }
    idc__timer_cancel(ctx, &l->knock_t);
    xbu_fail(&l->u, status);
    if (l->watching) {
        char tok[24];
        ulink_token(l, tok);
        xen_lib.xs_unwatch(xc->t->xs, l->opath, tok);
    }
    if (l->knocked)
        xen_lib.xs_rm(xc->t->xs, XBT_NULL, l->kpath);
    if (l->u.win)
        xen_lib.xengntshr_unshare(xc->t->gs, l->u.win, XB_WIN_PAGES);
    if (l->u.page) /* clears user_live and signals the owner */
        xen_lib.xengntshr_unshare(xc->t->gs, l->u.page, 1);
    if (l->port_valid)
        xen_unbind(xc->t, l->port);
    free(l);
}

static void ulink_notify(struct xbu *u)
{
    struct xb_ulink *l = (struct xb_ulink *)((char *)u - offsetof(struct xb_ulink, u));
    xen_lib.xenevtchn_notify(l->t->ev, l->port);
}

static void ulink_event(struct xb_ctx *xc, struct xb_ulink *l)
{
    uint32_t port = l->port;
    bool was_up = l->u.up, news;
    int r = xbu_event(&l->u, &news);
    if (r) {
        if (r == IDC_ERR_DISCONNECTED) /* the owner unmapped the page: gone for good */
            xbu_dead_add(&xc->dead, l->u.owner);
        ulink_fail(xc, l, IDC_ERR_DISCONNECTED);
        return; /* freed (its port unbound) */
    }
    if (l->u.up && !was_up)
        idc__timer_cancel(xc->ctx, &l->knock_t);
    xen_lib.xenevtchn_unmask(xc->t->ev, port);
}

static void ulink_port_fire(struct xen_tp *t, void *arg)
{
    ulink_event(t->buf, arg);
}

static void knock_timeout(struct idc_timer *t)
{
    struct xb_ulink *l = t->arg;
    struct xb_ctx *xc = xen_tp(l->u.ctx)->buf;
    if (l->u.up)
        return;
    idc__log(xc->ctx, IDC_LOG_WARN, "buffer owner %016llx (domain %u): no answer in %u ms",
             (unsigned long long)l->u.owner, l->dom, XB_KNOCK_MS);
    ulink_fail(xc, l, IDC_ERR_DISCONNECTED);
}

/* Watch on O fired: the owner withdrew (context destroyed, domain gone) or dropped our knock. */
static void ulink_watch(struct xb_ctx *xc, struct xb_ulink *l, const char *path)
{
    size_t ol = strlen(l->opath);
    if (!strncmp(path, l->opath, ol) && !strncmp(path + ol, "/fe/", 4) &&
        strcmp(path, l->kpath) != 0)
        return; /* another user's knock */
    char b[48];
    char st[XEN_PATH_MAX + 8];
    snprintf(st, sizeof(st), "%s/state", l->opath);
    bool o_there = xen_read(xc->t, XBT_NULL, st, NULL, b, sizeof(b)) == 0;
    bool k_there = !l->knocked || !xen_absent(xc->t, l->kpath);
    if (o_there && k_there)
        return;
    idc__log(xc->ctx, IDC_LOG_INFO, "buffer owner %016llx (domain %u) withdrew its buffers",
             (unsigned long long)l->u.owner, l->dom);
    xbu_dead_add(&xc->dead, l->u.owner);
    ulink_fail(xc, l, IDC_ERR_DISCONNECTED);
}

struct xb_knock {
    const struct xb_ulink *l;
    char value[48];
};

static int knock_body(struct xen_tp *t, xs_transaction_t tx, void *arg)
{
    const struct xb_knock *k = arg;
    uint16_t d[1] = { (uint16_t)k->l->dom };
    int r = xen_write(t, tx, k->l->kpath, NULL, "%s", k->value);
    if (!r)
        r = xen_perms(t, tx, k->l->kpath, XS_PERM_NONE, d, 1, XS_PERM_READ | XS_PERM_WRITE);
    return r;
}

static struct xb_ulink *ulink_new(struct xb_ctx *xc, uint64_t owner, int *err)
{
    struct idc_context *ctx = xc->ctx;
    unsigned d = owner_dom(owner);
    *err = IDC_ERR_DISCONNECTED;
    struct xb_ulink *l = calloc(1, sizeof(*l));
    if (!l) {
        *err = IDC_ERR_NOMEM;
        return NULL;
    }
    l->dom = d;
    l->serial = ++xc->next_serial;
    l->t = xc->t;
    xbu_init(&l->u, ctx, owner, ulink_notify);
    l->knock_t.fn = knock_timeout;
    l->knock_t.arg = l;
    l->epoch = xen_rand_nonzero();
    path_o(l->opath, d, owner);
    snprintf(l->kpath, sizeof(l->kpath), "%s/fe/" XB_KNOCK_FMT, l->opath, xc->t->self,
             (unsigned long long)idc_context_id(ctx));
    l->next = xc->ulinks;
    xc->ulinks = l;
    char st[XEN_PATH_MAX + 8], b[8];
    snprintf(st, sizeof(st), "%s/state", l->opath);
    if (xen_read(xc->t, XBT_NULL, st, NULL, b, sizeof(b))) {
        idc__log(ctx, IDC_LOG_DEBUG, "buffer owner %016llx: no buffer service in domain %u",
                 (unsigned long long)owner, d);
        goto fail;
    }
    int port = xen_bind_unbound(xc->t, d, ulink_port_fire, l);
    if (port < 0) {
        idc__log(ctx, IDC_LOG_ERROR, "buffer owner in domain %u: %s", d, xc->t->why);
        goto fail;
    }
    l->port = (uint32_t)port;
    l->port_valid = true;
    uint32_t pref;
    l->u.page = xen_lib.xengntshr_share_page_notify(
        xc->t->gs, d, &pref, 1, (uint32_t)offsetof(struct xb_page, user_live), l->port);
    uint32_t refs[XB_WIN_PAGES];
    l->u.win = l->u.page ? xen_lib.xengntshr_share_pages(xc->t->gs, d, XB_WIN_PAGES, refs, 1)
                         : NULL;
    if (!l->u.page || !l->u.win) {
        idc__log(ctx, IDC_LOG_ERROR, "buffer owner in domain %u: granting %u pages: %s", d,
                 XB_WIN_PAGES + 1, strerror(errno));
        *err = IDC_ERR_NOMEM;
        goto fail;
    }
    memset(l->u.page, 0, XEN_PAGE);
    l->u.page->magic = XB_MAGIC;
    l->u.page->epoch = l->epoch;
    memcpy(l->u.page->refs, refs, sizeof(refs));
    /* Release: the page complete before the owner can see it live. */
    __atomic_store_n(&l->u.page->user_live, 1, __ATOMIC_RELEASE);
    char tok[24];
    ulink_token(l, tok);
    l->watching = xen_lib.xs_watch(xc->t->xs, l->opath, tok);
    /* The knock, a node we own, readable and removable by the owner's domain. */
    struct xb_knock k = { .l = l };
    snprintf(k.value, sizeof(k.value), XB_KNOCK_VALUE, l->epoch, pref, l->port);
    if (xen_txn(xc->t, knock_body, &k)) {
        idc__log(ctx, IDC_LOG_ERROR, "buffer owner %016llx: cannot knock: %s",
                 (unsigned long long)owner, xc->t->why);
        goto fail;
    }
    l->knocked = true;
    idc__timer_arm(ctx, &l->knock_t, XB_KNOCK_MS);
    return l;
fail:
    ulink_fail(xc, l, IDC_ERR_DISCONNECTED);
    return NULL;
}

int xen_buf_transfer(struct idc_context *ctx, struct idc_xfer *x)
{
    struct xb_ctx *xc = xen_tp(ctx)->dom1 ? xb_open(ctx) : NULL;
    if (!xc) {
        idc__log(ctx, IDC_LOG_DEBUG, "buffer owner %016llx is in domain %u: %s",
                 (unsigned long long)x->rb.owner, owner_dom(x->rb.owner),
                 xen_tp(ctx)->dom1 ? "Xen unusable here" : "not running on Xen");
        idc__xfer_complete(ctx, x, IDC_ERR_DISCONNECTED);
        return 0;
    }
    if (xbu_dead_has(&xc->dead, x->rb.owner)) {
        idc__xfer_complete(ctx, x, IDC_ERR_DISCONNECTED);
        return 0;
    }
    struct xb_ulink *l = xc->ulinks;
    unsigned nlinks = 0;
    while (l && l->u.owner != x->rb.owner) {
        l = l->next;
        nlinks++;
    }
    if (!l && nlinks >= xc->links_max.user) {
        /* Each link holds XB_WIN_PAGES + 1 granted pages of our domain (a limited resource:
           wire.h, XB_USER_LINKS): at the cap the idle ones close, oldest
           (last in the list) first; when none is idle the transfer must wait its turn. */
        struct xb_ulink *idle = NULL;
        for (struct xb_ulink *u = xc->ulinks; u; u = u->next)
            if (xbu_idle(&u->u))
                idle = u;
        if (!idle) {
            if (idc__log_limit(&xc->logs, ctx))
                idc__log(ctx, IDC_LOG_WARN,
                         "%u buffer owners busy at once (IDC_BUF_USER_LINKS); "
                         "transfer refused (IDC_ERR_AGAIN)",
                         nlinks);
            idc__xfer_complete(ctx, x, IDC_ERR_AGAIN);
            return 0;
        }
        ulink_fail(xc, idle, IDC_ERR_DISCONNECTED); /* nothing to complete */
    }
    if (!l) {
        int err;
        l = ulink_new(xc, x->rb.owner, &err);
        if (!l) {
            if (err == IDC_ERR_NOMEM)
                return err;
            idc__xfer_complete(ctx, x, err);
            return 0;
        }
    }
    xbu_queue(&l->u, x);
    return 0;
}

/* ------------------------------------------------------------------------ event dispatch */

/* A domain was released (dom0 only learns which by asking). */
void xen_buf_released(struct xen_tp *t)
{
    struct xb_ctx *xc = t->buf;
    if (!xc || t->self != 0)
        return;
    for (struct xb_olink *l = xc->olinks, *next; l; l = next) {
        next = l->next;
        if (xen_domain_gone(t, l->dom))
            olink_free(xc, l);
    }
    for (struct xb_ulink *l = xc->ulinks, *next; l; l = next) {
        next = l->next;
        if (xen_domain_gone(t, l->dom)) {
            xbu_dead_add(&xc->dead, l->u.owner);
            ulink_fail(xc, l, IDC_ERR_DISCONNECTED);
        }
    }
}

/* A watch with our token fired: XEN_TOKEN_BUF "own" (O/fe) or "u<serial>" (a user link's O). */
void xen_buf_watch(struct xen_tp *t, const char *token, const char *path)
{
    struct xb_ctx *xc = t->buf;
    uint32_t serial;
    if (!xc)
        return;
    if (!strcmp(token, "own") && xc->published) {
        /* O/fe/<name> (or below it): that knock only; O/fe itself: all of them */
        size_t ol = strlen(xc->opath);
        if (!strncmp(path, xc->opath, ol) && !strncmp(path + ol, "/fe/", 4)) {
            char name[XB_NAME_MAX];
            size_t n = strcspn(path + ol + 4, "/");
            if (n > 0 && n < sizeof(name)) {
                memcpy(name, path + ol + 4, n);
                name[n] = 0;
                own_knock(xc, name);
            }
        } else {
            own_scan(xc);
        }
    } else if (token[0] == 'u' &&
               xen_parse_u32(token + 1, strlen(token + 1), 0xffffffffu, &serial)) {
        struct xb_ulink *l = xc->ulinks;
        while (l && l->serial != serial)
            l = l->next;
        if (l)
            ulink_watch(xc, l, path);
    }
}

/* Context destroy: withdraw O, drop every link; the user side's transfers complete with
   IDC_ERR_DISCONNECTED (the caller drops those completions). */
void xen_buf_withdraw(struct idc_context *ctx)
{
    struct xen_tp *t = xen_tp(ctx);
    struct xb_ctx *xc = t ? t->buf : NULL;
    if (!xc)
        return;
    while (xc->ulinks)
        ulink_fail(xc, xc->ulinks, IDC_ERR_DISCONNECTED);
    while (xc->olinks)
        olink_free(xc, xc->olinks);
    if (xc->published) {
        char fe[XEN_PATH_MAX + 8];
        snprintf(fe, sizeof(fe), "%s/fe", xc->opath);
        xen_lib.xs_unwatch(t->xs, fe, XEN_TOKEN_BUF "own");
        xen_lib.xs_rm(t->xs, XBT_NULL, xc->opath);
    }
    free(xc);
    t->buf = NULL;
}