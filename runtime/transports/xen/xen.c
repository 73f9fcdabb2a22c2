/* xen.c - the xen transport's per-context state and what its two halves share.
 *
 * A context has one xenstore connection, one event-channel handle, one grant-share and one
 * grant-map handle, opened by whichever half needs Xen first (the first xen endpoint, or the
 * first registration or transfer across domains), closed at context destroy. Their two fds sit
 * in the context's epoll once: a watch event goes to the half its token names (@releaseDomain,
 * watched once, to both), a pending port to whoever bound it through xen_bind_*.
 *
 * The helpers below read and write xenstore, run its transactions, bind event channels and
 * parse peer-written values for both halves; a failed call leaves its reason in t->why for the
 * caller's log line and returns an IDC_ERR_* (xen.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "addr.h"
#include "xen.h"

#define XEN_WATCH_BATCH  256 /* watch events handled per dispatch round */
#define XEN_EVT_BATCH    64  /* event-channel notifications per dispatch round */
#define XEN_TXN_ATTEMPTS 8   /* commits tried while they conflict */

/* ---------------------------------------------------------------------------- reasons */

/* Records why a call failed in t->why, with strerror(e) when e is an errno value (0: none). */
static void note(struct xen_tp *t, int e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void note(struct xen_tp *t, int e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->why, sizeof(t->why), fmt, ap);
    va_end(ap);
    if (e && n >= 0 && (size_t)n < sizeof(t->why))
        snprintf(t->why + n, sizeof(t->why) - (size_t)n, ": %s", strerror(e));
}

/* return FAIL(t, IDC_ERR_..., "what %s", ...): the reason recorded, the error returned */
#define FAIL(t, err, ...)       (note((t), 0, __VA_ARGS__), (err))
#define FAIL_ERRNO(t, err, ...) (note((t), errno ? errno : EIO, __VA_ARGS__), (err))

/* ----------------------------------------------------------------------------- values */

uint32_t xen_rand_nonzero(void)
{
    uint32_t v = 0;
    while (!v) {
        if (idc__random(&v, sizeof(v)) < 0)
            v = (uint32_t)idc__now_ns();
        v &= 0x7fffffffu;
    }
    return v;
}

/* --------------------------------------------------------------------------- xenstore */

/* dir, or dir/key */
static const char *join(const char *dir, const char *key, char *buf, size_t cap)
{
    if (!key)
        return dir;
    snprintf(buf, cap, "%s/%s", dir, key);
    return buf;
}

int xen_read(struct xen_tp *t, xs_transaction_t tx, const char *dir, const char *key, char *buf,
             size_t cap)
{
    char pb[XEN_PATH_MAX + 32];
    const char *path = join(dir, key, pb, sizeof(pb));
    unsigned len = 0;
    char *v = xen_lib.xs_read(t->xs, tx, path, &len);
    if (!v)
        return FAIL_ERRNO(t, IDC_ERR_IO, "read %s", path);
    int r = 0;
    if (len >= cap || memchr(v, 0, len))
        r = FAIL(t, IDC_ERR_PROTO, "%s: not a text value of at most %zu bytes", path, cap - 1);
    else {
        memcpy(buf, v, len);
        buf[len] = 0;
    }
    free(v);
    return r;
}

int xen_read_u32(struct xen_tp *t, xs_transaction_t tx, const char *dir, const char *key,
                 uint32_t max, uint32_t *out)
{
    char b[16];
    int r = xen_read(t, tx, dir, key, b, sizeof(b));
    if (r)
        return r;
    if (!xen_parse_u32(b, strlen(b), max, out)) {
        char pb[XEN_PATH_MAX + 32];
        return FAIL(t, IDC_ERR_PROTO, "%s: '%s' is not a decimal number up to %u",
                    join(dir, key, pb, sizeof(pb)), b, max);
    }
    return 0;
}

int xen_write(struct xen_tp *t, xs_transaction_t tx, const char *dir, const char *key,
              const char *fmt, ...)
{
    char pb[XEN_PATH_MAX + 32], v[XEN_VALUE_MAX];
    const char *path = join(dir, key, pb, sizeof(pb));
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(v, sizeof(v), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(v))
        return FAIL(t, IDC_ERR_INVAL, "%s: value longer than %u bytes", path, XEN_VALUE_MAX - 1);
    if (!xen_lib.xs_write(t->xs, tx, path, v, (unsigned)n))
        return FAIL_ERRNO(t, IDC_ERR_IO, "write %s", path);
    return 0;
}

int xen_mkdir(struct xen_tp *t, xs_transaction_t tx, const char *path)
{
    return xen_lib.xs_mkdir(t->xs, tx, path) ? 0 : FAIL_ERRNO(t, IDC_ERR_IO, "mkdir %s", path);
}

int xen_perms(struct xen_tp *t, xs_transaction_t tx, const char *path, unsigned others,
              const uint16_t *acl, unsigned nacl, unsigned aclperm)
{
    struct xs_permissions p[1 + XEN_ACL_MAX];
    p[0].id = t->self;
    p[0].perms = others;
    unsigned n = 1;
    for (unsigned i = 0; i < nacl && n < sizeof(p) / sizeof(p[0]); i++)
        if (acl[i] != t->self) {
            p[n].id = acl[i];
            p[n].perms = aclperm;
            n++;
        }
    if (!xen_lib.xs_set_permissions(t->xs, tx, path, p, n))
        return FAIL_ERRNO(t, IDC_ERR_IO, "set the permissions of %s", path);
    return 0;
}

bool xen_absent(struct xen_tp *t, const char *path)
{
    unsigned len = 0;
    errno = 0;
    char *v = xen_lib.xs_read(t->xs, XBT_NULL, path, &len);
    if (v) {
        free(v);
        return false;
    }
    return errno == ENOENT;
}

bool xen_made_by(struct xen_tp *t, const char *path, unsigned dom)
{
    unsigned n = 0;
    struct xs_permissions *p = xen_lib.xs_get_permissions(t->xs, XBT_NULL, path, &n);
    if (!p)
        return false;
    unsigned owner = n ? p[0].id : 0xffffffffu;
    free(p);
    return owner == dom || (dom == 0 && owner == t->self);
}

bool xen_domain_gone(struct xen_tp *t, unsigned dom)
{
    if (t->self != 0 || dom == 0)
        return false;
    errno = 0;
    return !xen_lib.xs_is_domain_introduced(t->xs, dom) && (errno == 0 || errno == ENOENT);
}

int xen_txn(struct xen_tp *t, int (*body)(struct xen_tp *t, xs_transaction_t tx, void *arg),
            void *arg)
{
    for (int attempt = 1;; attempt++) {
        xs_transaction_t tx = xen_lib.xs_transaction_start(t->xs);
        if (tx == XBT_NULL)
            return FAIL_ERRNO(t, IDC_ERR_IO, "start a transaction");
        int r = body(t, tx, arg);
        if (r) {
            xen_lib.xs_transaction_end(t->xs, tx, true); /* t->why tells what failed */
            return r;
        }
        if (xen_lib.xs_transaction_end(t->xs, tx, false))
            return 0;
        if (errno != EAGAIN || attempt == XEN_TXN_ATTEMPTS)
            return FAIL_ERRNO(t, IDC_ERR_IO, "commit a transaction (attempt %d)", attempt);
    }
}

/* Our domain id + 1, or 0 when not on Xen. Only a host with /dev/xen pays anything: dom0 is
   told by /proc/xen/capabilities, a domU reads the "domid" node of its own tree (dom0's tree
   may only have its name). Cached per process. */
unsigned xen_domid1(void)
{
    static int cached = -1;
    int c = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (c >= 0)
        return (unsigned)c;
    unsigned d1 = 0;
    if (access("/dev/xen", F_OK) == 0) {
        char b[64] = "";
        int fd = open("/proc/xen/capabilities", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t n = read(fd, b, sizeof(b) - 1);
            close(fd);
            b[n > 0 ? n : 0] = 0;
        }
        if (strstr(b, "control_d")) {
            d1 = 1;
        } else if (!xen_lib_load()) {
            /* no context yet: a short-lived connection of its own, once per process */
            struct xen_tp tmp = { .xs = xen_lib.xs_open(0) };
            uint32_t d = 0;
            if (tmp.xs) {
                if (xen_read_u32(&tmp, XBT_NULL, "domid", NULL, XEN_DOMID_MAX, &d) == 0)
                    d1 = d + 1;
                else if (xen_read(&tmp, XBT_NULL, "name", NULL, b, sizeof(b)) == 0 &&
                         !strcmp(b, "Domain-0"))
                    d1 = 1;
                xen_lib.xs_close(tmp.xs);
            }
        }
    }
    __atomic_store_n(&cached, (int)d1, __ATOMIC_RELAXED);
    return d1;
}

/* ---------------------------------------------------------------------- event channels */

static struct xen_port *port_find(struct xen_tp *t, uint32_t port)
{
    for (unsigned i = 0; i < t->nports; i++)
        if (t->ports[i].port == port)
            return &t->ports[i];
    return NULL;
}

static int port_register(struct xen_tp *t, xenevtchn_port_or_error_t p,
                         void (*fn)(struct xen_tp *, void *), void *arg)
{
    if (t->nports == t->cap_ports) {
        unsigned cap = t->cap_ports ? 2 * t->cap_ports : 16;
        struct xen_port *np = realloc(t->ports, cap * sizeof(*np));
        if (!np) {
            xen_lib.xenevtchn_unbind(t->ev, (evtchn_port_t)p);
            return FAIL(t, IDC_ERR_NOMEM, "no memory for event channel %d", p);
        }
        t->ports = np;
        t->cap_ports = cap;
    }
    t->ports[t->nports++] = (struct xen_port){ .port = (uint32_t)p, .fn = fn, .arg = arg };
    return p;
}

int xen_bind_unbound(struct xen_tp *t, unsigned dom, void (*fn)(struct xen_tp *, void *), void *arg)
{
    xenevtchn_port_or_error_t p = xen_lib.xenevtchn_bind_unbound_port(t->ev, dom);
    if (p < 0)
        return FAIL_ERRNO(t, IDC_ERR_IO, "event channel for domain %u", dom);
    return port_register(t, p, fn, arg);
}

int xen_bind_interdomain(struct xen_tp *t, unsigned dom, uint32_t remote,
                         void (*fn)(struct xen_tp *, void *), void *arg)
{
    xenevtchn_port_or_error_t p = xen_lib.xenevtchn_bind_interdomain(t->ev, dom, remote);
    if (p < 0)
        return FAIL_ERRNO(t, IDC_ERR_IO, "cannot bind event channel %u of domain %u", remote, dom);
    return port_register(t, p, fn, arg);
}

void xen_unbind(struct xen_tp *t, uint32_t port)
{
    struct xen_port *e = port_find(t, port);
    if (e)
        *e = t->ports[--t->nports];
    xen_lib.xenevtchn_unbind(t->ev, port);
}

/* ---------------------------------------------------------------------------- dispatch */

static void watch_fire(struct idc_watch *w, uint32_t events)
{
    (void)events;
    struct xen_tp *t = w->arg;
    const size_t nbuf = strlen(XEN_TOKEN_BUF), nchan = strlen(XEN_TOKEN_CHAN);
    for (int i = 0; i < XEN_WATCH_BATCH; i++) {
        char **ev = xen_lib.xs_check_watch(t->xs);
        if (!ev)
            break;
        const char *tok = ev[XS_WATCH_TOKEN], *path = ev[XS_WATCH_PATH];
        if (!strcmp(tok, XEN_TOKEN_RELEASE)) {
            xen_chan_released(t);
            xen_buf_released(t);
        } else if (!strncmp(tok, XEN_TOKEN_BUF, nbuf)) {
            xen_buf_watch(t, tok + nbuf, path);
        } else if (!strncmp(tok, XEN_TOKEN_CHAN, nchan)) {
            xen_chan_watch(t, tok + nchan);
        }
        free(ev);
    }
    xen_chan_watch_flush(t);
}

/* Bounded per round: the fd stays readable if more is pending (level-triggered). Each pending
   port goes to whoever bound it; the handler unmasks it when it is done with it. */
/* The event-channel fd is readable: every pending port, in one read. The Linux evtchn device
   returns as many pending ports (32-bit each) as the buffer holds; xenevtchn_pending() reads one
   at a time, so draining through it costs a second read that finds nothing on every wake-up
   (one system call in four on a round trip). Each port stays masked until its handler
   unmasks it. */
static void evtchn_fire(struct idc_watch *w, uint32_t events)
{
    (void)events;
    struct xen_tp *t = w->arg;
    uint32_t ports[XEN_EVT_BATCH];
    ssize_t n = read(t->ew.fd, ports, sizeof(ports));
    for (ssize_t i = 0; i < n / (ssize_t)sizeof(ports[0]); i++) {
        struct xen_port *e = port_find(t, ports[i]);
        if (e)
            e->fn(t, e->arg);
        else
            xen_lib.xenevtchn_unmask(t->ev, (evtchn_port_t)ports[i]);
    }
}

/* ------------------------------------------------------------------------------ handles */

static void xen_close(struct xen_tp *t)
{
    if (t->release_watch)
        xen_lib.xs_unwatch(t->xs, "@releaseDomain", XEN_TOKEN_RELEASE);
    t->release_watch = false;
    idc__watch_del(t->ctx, &t->xw);
    idc__watch_del(t->ctx, &t->ew);
    t->xw.fd = t->ew.fd = -1;
    if (t->xs)
        xen_lib.xs_close(t->xs);
    if (t->ev)
        xen_lib.xenevtchn_close(t->ev);
    if (t->gs)
        xen_lib.xengntshr_close(t->gs);
    if (t->gt)
        xen_lib.xengnttab_close(t->gt);
    t->xs = NULL;
    t->ev = NULL;
    t->gs = NULL;
    t->gt = NULL;
    free(t->ports);
    t->ports = NULL;
    t->nports = t->cap_ports = 0;
    t->open = false;
}

int xen_open(struct xen_tp *t, const char *who)
{
    if (t->open)
        return 0;
    struct idc_context *ctx = t->ctx;
    /* the libraries first: on a machine with no Xen package that is the reason to give */
    const char *missing = xen_lib_load();
    if (missing) {
        idc__log(ctx, IDC_LOG_ERROR, "%s: xen transport not available: %s (IDC_ERR_NOTSUP)", who,
                 missing);
        return IDC_ERR_NOTSUP;
    }
    if (access("/dev/xen", F_OK) != 0) {
        idc__log(ctx, IDC_LOG_ERROR,
                 "%s: xen transport not available: /dev/xen is absent "
                 "(not running on Xen) (IDC_ERR_NOTSUP)",
                 who);
        return IDC_ERR_NOTSUP;
    }
    const char *what = NULL;
    int e = 0;
    if (!(t->xs = xen_lib.xs_open(0)))
        what = "xenstore", e = errno;
    else if (!(t->ev = xen_lib.xenevtchn_open(NULL, 0)))
        what = "event channels (xen-evtchn)", e = errno;
    else if (!(t->gs = xen_lib.xengntshr_open(NULL, 0)))
        what = "grant sharing (xen-gntalloc)", e = errno;
    else if (!(t->gt = xen_lib.xengnttab_open(NULL, 0)))
        what = "grant mapping and copy (xen-gntdev)", e = errno;
    if (what) {
        idc__log(ctx, IDC_LOG_ERROR,
                 "%s: xen transport not available: cannot open %s: %s "
                 "(IDC_ERR_NOTSUP)",
                 who, what, strerror(e));
        xen_close(t);
        return IDC_ERR_NOTSUP;
    }
    if (!t->dom1) {
        idc__log(ctx, IDC_LOG_ERROR,
                 "%s: xen transport: cannot learn our domain id from "
                 "xenstore (IDC_ERR_NOTSUP)",
                 who);
        xen_close(t);
        return IDC_ERR_NOTSUP;
    }
    t->self = t->dom1 - 1;
    int efd = xen_lib.xenevtchn_fd(t->ev);
    int fl = fcntl(efd, F_GETFL);
    if (fl < 0 || fcntl(efd, F_SETFL, fl | O_NONBLOCK) < 0) {
        idc__log(ctx, IDC_LOG_ERROR, "%s: event channel fd: %s", who, strerror(errno));
        xen_close(t);
        return IDC_ERR_IO;
    }
    /* epoll keeps the address of the watch: t's own fields, set before they are added */
    t->xw = (struct idc_watch){
        .fd = xen_lib.xs_fileno(t->xs), .events = EPOLLIN, .fn = watch_fire, .arg = t
    };
    if (t->xw.fd < 0 || idc__watch_add(ctx, &t->xw) < 0) {
        if (t->xw.fd < 0)
            idc__log(ctx, IDC_LOG_ERROR, "%s: xenstore watch fd: %s", who, strerror(errno));
        t->xw.fd = -1;
        xen_close(t);
        return IDC_ERR_IO;
    }
    t->ew = (struct idc_watch){ .fd = efd, .events = EPOLLIN, .fn = evtchn_fire, .arg = t };
    if (idc__watch_add(ctx, &t->ew) < 0) {
        t->ew.fd = -1;
        xen_close(t);
        return IDC_ERR_IO;
    }
    /* Domain death, for both halves: only dom0 may ask whether a domain is still there, but
       anyone may try to watch; a refusal leaves the per-domain nodes (removed by the
       toolstack) to tell. */
    t->release_watch = xen_lib.xs_watch(t->xs, "@releaseDomain", XEN_TOKEN_RELEASE);
    t->open = true;
    return 0;
}

/* ------------------------------------------------------------------------------ context */

static int xen_ctx_init(struct idc_context *ctx, const struct idc_context_options *opt)
{
    (void)opt;
    struct xen_tp *t = calloc(1, sizeof(*t));
    if (!t)
        return IDC_ERR_NOMEM;
    t->ctx = ctx;
    t->xw.fd = t->ew.fd = -1;
    *idc__ctx_slot(ctx, &idc_transport_xen) = t;
    t->dom1 = xen_domid1();
    /* Owner ids name our domain, only inside one (outside Xen dom1 is 0: nothing set, another
       transport's locator stays; on a fabric node the node's wins, see idc__ctx_set_locator). */
    idc__ctx_set_locator(ctx, (uint16_t)t->dom1);
    return 0;
}

static void xen_ctx_fini(struct idc_context *ctx)
{
    struct xen_tp *t = xen_tp(ctx);
    if (!t)
        return;
    xen_buf_withdraw(ctx); /* normally done already (rbuf_withdraw) */
    xen_close(t);
    free(t);
    *idc__ctx_slot(ctx, &idc_transport_xen) = NULL;
}

const struct idc_transport idc_transport_xen = {
    .name = "xen",
    .ctx_init = xen_ctx_init,
    .ctx_fini = xen_ctx_fini,
    .address_check = xen_addr_check,
    .ep_start = xen_ep_start,
    .chan_close = xen_chan_close,
    .ep_rearm = xen_ep_rearm,
    .ep_stop = xen_ep_stop,
    .notify = xen_notify,
    .ep_ack = xen_ep_ack,
    .rbuf_publish = xen_buf_publish,
    .rbuf_reaches = xen_buf_reaches,
    .rbuf_transfer = xen_buf_transfer,
    .rbuf_withdraw = xen_buf_withdraw,
};
