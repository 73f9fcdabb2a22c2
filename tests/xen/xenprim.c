/*
 * xenprim: checked wrappers over libxenstore, libxengntshr/libxengnttab and libxenevtchn.
 * See xenprim.h for the model and the rules.
 */
#include "xenprim.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <xenevtchn.h>
#include <xengnttab.h>
#include <xenstore.h>

/* libxen* report through errno; turn that into a negative code that is never 0. */
static int neg_errno(void)
{
    return errno > 0 ? -errno : -EIO;
}

/* ------------------------------------------------------------------ xenstore */

struct xp_store {
    struct xs_handle *xs;
};

int xp_store_open(struct xp_store **out)
{
    struct xp_store *s;

    *out = NULL;
    s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->xs = xs_open(0);
    if (!s->xs) {
        int rc = neg_errno();
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void xp_store_close(struct xp_store *s)
{
    if (!s)
        return;
    if (s->xs)
        xs_close(s->xs);
    free(s);
}

int xp_store_self_domid(struct xp_store *s, unsigned *domid)
{
    uint32_t v;
    int rc = xp_store_read_u32(s, XP_TXN_NONE, "domid", 0x7fefu, &v);

    /* dom0's tree may lack "domid"; its name says who it is then */
    if (rc == -ENOENT) {
        char name[16];

        if (xp_store_read(s, XP_TXN_NONE, "name", name, sizeof name) == 0 &&
            !strcmp(name, "Domain-0")) {
            *domid = 0;
            return 0;
        }
    }
    if (rc == 0)
        *domid = v;
    return rc;
}

int xp_store_write(struct xp_store *s, xp_txn t, const char *path, const char *value)
{
    size_t len = strlen(value);

    if (len > XP_STORE_VALUE_MAX)
        return -E2BIG;
    if (!xs_write(s->xs, t, path, value, (unsigned)len))
        return neg_errno();
    return 0;
}

int xp_store_read(struct xp_store *s, xp_txn t, const char *path, char *buf, size_t cap)
{
    unsigned len = 0;
    char *v;

    if (cap == 0)
        return -E2BIG;
    v = xs_read(s->xs, t, path, &len);
    if (!v)
        return neg_errno();
    /* the value came from another domain: bound it and refuse embedded NULs */
    if (len >= cap || memchr(v, '\0', len)) {
        free(v);
        return -E2BIG;
    }
    memcpy(buf, v, len);
    buf[len] = '\0';
    free(v);
    return 0;
}

int xp_store_read_u32(struct xp_store *s, xp_txn t, const char *path, uint32_t max, uint32_t *out)
{
    char buf[16];
    uint64_t v = 0;
    size_t i;
    int rc = xp_store_read(s, t, path, buf, sizeof buf);

    if (rc == -E2BIG)
        return -EINVAL;
    if (rc)
        return rc;
    if (buf[0] == '\0' || (buf[0] == '0' && buf[1] != '\0'))
        return -EINVAL;
    for (i = 0; buf[i]; i++) {
        if (buf[i] < '0' || buf[i] > '9')
            return -EINVAL;
        v = v * 10 + (uint64_t)(buf[i] - '0');
        if (v > max)
            return -EINVAL;
    }
    *out = (uint32_t)v;
    return 0;
}

int xp_store_mkdir(struct xp_store *s, xp_txn t, const char *path)
{
    return xs_mkdir(s->xs, t, path) ? 0 : neg_errno();
}

int xp_store_rm(struct xp_store *s, xp_txn t, const char *path)
{
    if (xs_rm(s->xs, t, path))
        return 0;
    return errno == ENOENT ? 0 : neg_errno();
}

#define XP_PERMS_MAX 16

int xp_store_set_perms(struct xp_store *s, xp_txn t, const char *path, unsigned owner,
                       unsigned others, const struct xp_perm *acl, size_t n)
{
    struct xs_permissions p[XP_PERMS_MAX];
    size_t i;

    if (n + 1 > XP_PERMS_MAX || (others & ~3u))
        return -EINVAL;
    p[0].id = owner;
    p[0].perms = others;
    for (i = 0; i < n; i++) {
        if (acl[i].perms & ~3u)
            return -EINVAL;
        p[i + 1].id = acl[i].domid;
        p[i + 1].perms = acl[i].perms;
    }
    if (!xs_set_permissions(s->xs, t, path, p, (unsigned)(n + 1)))
        return neg_errno();
    return 0;
}

int xp_store_get_perms(struct xp_store *s, xp_txn t, const char *path, struct xp_perm *out,
                       size_t cap, size_t *n)
{
    unsigned num = 0, i;
    struct xs_permissions *p = xs_get_permissions(s->xs, t, path, &num);

    if (!p)
        return neg_errno();
    if (num > cap) {
        free(p);
        return -E2BIG;
    }
    for (i = 0; i < num; i++) {
        out[i].domid = p[i].id;
        out[i].perms = p[i].perms & 3u;
    }
    *n = num;
    free(p);
    return 0;
}

int xp_store_txn_begin(struct xp_store *s, xp_txn *t)
{
    xs_transaction_t x = xs_transaction_start(s->xs);

    if (x == XBT_NULL)
        return neg_errno();
    *t = x;
    return 0;
}

int xp_store_txn_end(struct xp_store *s, xp_txn t, bool commit)
{
    if (xs_transaction_end(s->xs, t, !commit))
        return 0;
    return commit ? neg_errno() : 0;
}

int xp_store_watch(struct xp_store *s, const char *path, const char *token)
{
    return xs_watch(s->xs, path, token) ? 0 : neg_errno();
}

int xp_store_unwatch(struct xp_store *s, const char *path, const char *token)
{
    return xs_unwatch(s->xs, path, token) ? 0 : neg_errno();
}

int xp_store_fd(struct xp_store *s)
{
    return xs_fileno(s->xs);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int copy_str(char *dst, size_t cap, const char *src)
{
    size_t len;

    if (!dst)
        return 0;
    len = strlen(src);
    if (len >= cap)
        return -E2BIG;
    memcpy(dst, src, len + 1);
    return 0;
}

int xp_store_next_event(struct xp_store *s, int timeout_ms, char *path, size_t pcap, char *token,
                        size_t tcap)
{
    int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;

    for (;;) {
        char **ev = xs_check_watch(s->xs);
        struct pollfd pfd;
        int wait, rc;

        if (ev) {
            rc = copy_str(path, pcap, ev[XS_WATCH_PATH]);
            if (!rc)
                rc = copy_str(token, tcap, ev[XS_WATCH_TOKEN]);
            free(ev);
            return rc;
        }
        if (errno != EAGAIN)
            return neg_errno();
        if (deadline < 0) {
            wait = -1;
        } else {
            int64_t left = deadline - now_ms();
            if (left <= 0)
                return -ETIMEDOUT;
            wait = (int)left;
        }
        pfd.fd = xs_fileno(s->xs);
        pfd.events = POLLIN;
        rc = poll(&pfd, 1, wait);
        if (rc < 0 && errno != EINTR)
            return neg_errno();
    }
}

int xp_store_domain_alive(struct xp_store *s, unsigned domid, bool *alive)
{
    /* libxenstore answers false for "not introduced" and for errors alike: tell them apart */
    errno = 0;
    *alive = xs_is_domain_introduced(s->xs, domid);
    if (!*alive && errno != 0 && errno != ENOENT)
        return neg_errno();
    return 0;
}

/* ------------------------------------------------------------------ grants: sharing side */

struct xp_gshr {
    xengntshr_handle *h;
};

int xp_gshr_open(struct xp_gshr **out)
{
    struct xp_gshr *g;

    *out = NULL;
    g = calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    g->h = xengntshr_open(NULL, 0);
    if (!g->h) {
        int rc = neg_errno();
        free(g);
        return rc;
    }
    *out = g;
    return 0;
}

void xp_gshr_close(struct xp_gshr *g)
{
    if (!g)
        return;
    if (g->h)
        xengntshr_close(g->h);
    free(g);
}

int xp_gshr_grant(struct xp_gshr *g, unsigned domid, size_t npages, bool writable, uint32_t *refs,
                  void **addr)
{
    void *p;

    if (npages == 0 || npages > 1024)
        return -EINVAL;
    p = xengntshr_share_pages(g->h, domid, (int)npages, refs, writable ? 1 : 0);
    if (!p)
        return neg_errno();
    *addr = p;
    return 0;
}

int xp_gshr_end(struct xp_gshr *g, void *addr, size_t npages)
{
    /* gntalloc ends foreign access when the last local mapping goes away */
    if (!addr)
        return 0;
    if (xengntshr_unshare(g->h, addr, (int)npages))
        return neg_errno();
    return 0;
}

/* ------------------------------------------------------------------ grants: using side */

struct xp_gtab {
    xengnttab_handle *h;
};

int xp_gtab_open(struct xp_gtab **out)
{
    struct xp_gtab *t;

    *out = NULL;
    t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->h = xengnttab_open(NULL, 0);
    if (!t->h) {
        int rc = neg_errno();
        free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void xp_gtab_close(struct xp_gtab *t)
{
    if (!t)
        return;
    if (t->h)
        xengnttab_close(t->h);
    free(t);
}

int xp_gtab_map(struct xp_gtab *t, unsigned domid, size_t n, const uint32_t *refs, bool writable,
                void **addr)
{
    uint32_t r[64];
    void *p;

    if (n == 0 || n > 64)
        return -EINVAL;
    memcpy(r, refs, n * sizeof *r);
    p = xengnttab_map_domain_grant_refs(t->h, (uint32_t)n, domid, r,
                                        PROT_READ | (writable ? PROT_WRITE : 0));
    if (!p)
        return neg_errno();
    *addr = p;
    return 0;
}

int xp_gtab_unmap(struct xp_gtab *t, void *addr, size_t n)
{
    if (!addr)
        return 0;
    if (xengnttab_unmap(t->h, addr, (uint32_t)n))
        return neg_errno();
    return 0;
}

#define XP_COPY_BATCH 16

int xp_gtab_copy(struct xp_gtab *t, unsigned domid, const uint32_t *refs, size_t nrefs, size_t off,
                 void *local, size_t len, enum xp_copy_dir dir, int *status)
{
    xengnttab_grant_copy_segment_t seg[XP_COPY_BATCH];
    unsigned char *p = local;
    size_t done = 0;

    if (status)
        *status = 0;
    if (domid > 0xffffu || (dir != XP_COPY_FROM_PEER && dir != XP_COPY_TO_PEER))
        return -EINVAL;
    if (off > nrefs * (size_t)XP_PAGE_SIZE || len > nrefs * (size_t)XP_PAGE_SIZE - off)
        return -ERANGE;
    while (done < len) {
        unsigned n = 0, i;

        /* one segment per page touched: a segment may not cross the peer's page boundary */
        while (n < XP_COPY_BATCH && done < len) {
            size_t pos = off + done;
            size_t in_page = pos % XP_PAGE_SIZE;
            size_t chunk = XP_PAGE_SIZE - in_page;
            xengnttab_grant_copy_segment_t *sg = &seg[n++];

            if (chunk > len - done)
                chunk = len - done;
            memset(sg, 0, sizeof *sg);
            if (dir == XP_COPY_FROM_PEER) {
                sg->source.foreign.ref = refs[pos / XP_PAGE_SIZE];
                sg->source.foreign.offset = (uint16_t)in_page;
                sg->source.foreign.domid = (uint16_t)domid;
                sg->dest.virt = p + done;
                sg->flags = GNTCOPY_source_gref;
            } else {
                sg->dest.foreign.ref = refs[pos / XP_PAGE_SIZE];
                sg->dest.foreign.offset = (uint16_t)in_page;
                sg->dest.foreign.domid = (uint16_t)domid;
                sg->source.virt = p + done;
                sg->flags = GNTCOPY_dest_gref;
            }
            sg->len = (uint16_t)chunk;
            done += chunk;
        }
        if (xengnttab_grant_copy(t->h, n, seg))
            return neg_errno();
        for (i = 0; i < n; i++) {
            if (seg[i].status != GNTST_okay) {
                if (status)
                    *status = seg[i].status;
                return -EACCES;
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ event channels */

struct xp_evtchn {
    xenevtchn_handle *h;
};

int xp_evtchn_open(struct xp_evtchn **out)
{
    struct xp_evtchn *e;

    *out = NULL;
    e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    e->h = xenevtchn_open(NULL, 0);
    if (!e->h) {
        int rc = neg_errno();
        free(e);
        return rc;
    }
    *out = e;
    return 0;
}

void xp_evtchn_close(struct xp_evtchn *e)
{
    if (!e)
        return;
    if (e->h)
        xenevtchn_close(e->h);
    free(e);
}

int xp_evtchn_fd(struct xp_evtchn *e)
{
    return xenevtchn_fd(e->h);
}

int xp_evtchn_alloc_unbound(struct xp_evtchn *e, unsigned remote, uint32_t *port)
{
    xenevtchn_port_or_error_t p = xenevtchn_bind_unbound_port(e->h, remote);

    if (p < 0)
        return neg_errno();
    *port = (uint32_t)p;
    return 0;
}

int xp_evtchn_bind(struct xp_evtchn *e, unsigned remote, uint32_t remote_port, uint32_t *local)
{
    xenevtchn_port_or_error_t p = xenevtchn_bind_interdomain(e->h, remote, remote_port);

    if (p < 0)
        return neg_errno();
    *local = (uint32_t)p;
    return 0;
}

int xp_evtchn_notify(struct xp_evtchn *e, uint32_t port)
{
    return xenevtchn_notify(e->h, port) ? neg_errno() : 0;
}

int xp_evtchn_unbind(struct xp_evtchn *e, uint32_t port)
{
    return xenevtchn_unbind(e->h, port) ? neg_errno() : 0;
}

int xp_evtchn_wait(struct xp_evtchn *e, int timeout_ms, uint32_t *port)
{
    struct pollfd pfd = { .fd = xenevtchn_fd(e->h), .events = POLLIN };
    xenevtchn_port_or_error_t p;
    int rc;

    do {
        rc = poll(&pfd, 1, timeout_ms);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0)
        return neg_errno();
    if (rc == 0)
        return -ETIMEDOUT;
    p = xenevtchn_pending(e->h);
    if (p < 0)
        return neg_errno();
    if (xenevtchn_unmask(e->h, (evtchn_port_t)p))
        return neg_errno();
    *port = (uint32_t)p;
    return 0;
}
