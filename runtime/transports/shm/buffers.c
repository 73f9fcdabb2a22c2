/* buffers.c - remote buffers on the shm transport.
 *
 * Memory: memfds mapped shared (read-only registrations come from their own, sealed
 * allocation). Owner side: a hidden service socket per context, named from the owner id, that
 * answers MAPREQ with the allocation's memfd (read-only re-opened when only READ is granted) and
 * the generation table. User side: one link per owner, caching mappings; every copy first checks
 * the owner's generation table, so revocation is exact without a round trip.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto.h"
#include "shm.h"

struct bsvc_conn { /* a user connected to our buffer service */
    struct bsvc_conn *next;
    int fd;
    pid_t pid; /* the user's process (SO_PEERCRED): links per peer are capped */
    struct idc_watch w;
    struct idc_context *ctx;
};

struct bmap { /* a cached mapping of a remote registration */
    struct bmap *next;
    uint32_t id, generation, rights;
    uint8_t key[16];
    uint64_t length;
    void *base;
    size_t map_len;
    unsigned char *data;
};

struct blink { /* our connection to another context's buffer service */
    struct blink *next;
    uint64_t used_ns; /* last transfer started (least recently used is closed first) */
    bool bad;         /* only forged references so far: close once no transfer waits */
    struct idc_context *ctx;
    uint64_t owner;
    int fd;
    struct idc_watch w;
    uint32_t *gen;
    uint32_t gen_slots;
    struct idc_xfer *wait_head, **wait_tail; /* awaiting MAPREP, in request order */
    struct bmap *maps;
    unsigned nmaps;
};

/* ------------------------------------------------------------------------ buffers: memory */

int shm_buf_alloc(struct idc_context *ctx, struct idc_alloc *a)
{
    if (shm_memfd_seal(ctx, "idc-buffer", a->len, &a->fd, false) < 0)
        return IDC_ERR_NOMEM;
    a->mem = mmap(NULL, a->len, PROT_READ | PROT_WRITE, MAP_SHARED, a->fd, 0);
    if (a->mem == MAP_FAILED) {
        idc__log(ctx, IDC_LOG_ERROR, "mmap of a %zu-byte buffer: %s", a->len, strerror(errno));
        a->mem = NULL;
        shm_close_fd(&a->fd);
        return IDC_ERR_NOMEM;
    }
    return 0;
}

void shm_buf_free(struct idc_context *ctx, struct idc_alloc *a)
{
    (void)ctx;
    if (a->mem)
        munmap(a->mem, a->len);
    shm_close_fd(&a->fd);
}

/* Read-only registrations: after this seal nobody can write the pages through a new mapping
   or write(2), not even by re-opening the descriptor via /proc; the owner's own mapping
   (created before) stays writable. */
int shm_buf_seal_ro(struct idc_context *ctx, struct idc_alloc *a)
{
    if (fcntl(a->fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) < 0) {
        idc__log(ctx, IDC_LOG_ERROR, "sealing a read-only buffer: %s", strerror(errno));
        return IDC_ERR_IO;
    }
    return 0;
}

/* Reopens fd read-only (a holder mapping it cannot write). */
static int reopen_ro(int fd)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
    return open(p, O_RDONLY | O_CLOEXEC);
}

/* ----------------------------------------------------------------- buffers: owner service */

static void bsvc_close(struct idc_context *ctx, struct bsvc_conn *c)
{
    struct shm_ctx *sc = shm_ctx(ctx);
    for (struct bsvc_conn **pp = &sc->bconns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    idc__watch_del(ctx, &c->w);
    close(c->fd);
    free(c);
    sc->nbconns--;
}

static void bsvc_fire(struct idc_watch *w, uint32_t events)
{
    (void)events;
    struct bsvc_conn *c = w->arg;
    struct idc_context *ctx = c->ctx;
    struct shm_ctx *sc = shm_ctx(ctx);
    for (;;) {
        struct idc_shm_mapreq q;
        ssize_t n = shm_recv_rec(c->fd, &q, sizeof(q), NULL, NULL);
        if (n == IDC_ERR_AGAIN)
            return; /* nothing more now */
        if (n != (ssize_t)sizeof(q) || q.magic != IDC_SHM_MAGIC || q.type != IDC_SHM_MAPREQ) {
            if (n > 0)
                idc__log(ctx, IDC_LOG_WARN, "buffer service: malformed request; closing");
            bsvc_close(ctx, c);
            return;
        }
        struct idc_rbuf rb = { .owner = q.owner,
                               .id = q.id,
                               .generation = q.generation,
                               .length = q.length,
                               .rights = q.rights };
        memcpy(rb.key, q.key, sizeof(rb.key));
        struct idc_shm_maprep rep = { .magic = IDC_SHM_MAGIC,
                                      .type = IDC_SHM_MAPREP,
                                      .wire = IDC_SHM_WIRE,
                                      .id = q.id,
                                      .generation = q.generation,
                                      .gen_slots = IDC_MAX_REGS };
        struct idc_reg_view reg;
        int st = q.owner != idc_context_id(ctx) ? IDC_ERR_BADREF
                 : (q.rights & ~(IDC_RBUF_READ | IDC_RBUF_WRITE)) || !q.rights
                     ? IDC_ERR_BADREF
                     : idc__reg_find(ctx, &rb, q.rights, &reg);
        int fds[2] = { -1, -1 };
        if (st == 0) {
            rep.rights = q.rights;
            rep.offset = reg.offset;
            rep.length = reg.length;
            fds[0] = q.rights & IDC_RBUF_WRITE ? dup(reg.alloc->fd) : reopen_ro(reg.alloc->fd);
            fds[1] = reopen_ro(sc->gen_fd);
            if (fds[0] < 0 || fds[1] < 0) {
                idc__log(ctx, IDC_LOG_ERROR, "buffer service: reopening a memfd: %s",
                         strerror(errno));
                st = IDC_ERR_IO;
            }
        }
        rep.status = st;
        int r = shm_send_rec(c->fd, &rep, sizeof(rep), fds, st == 0 ? 2 : 0);
        shm_close_fd(&fds[0]);
        shm_close_fd(&fds[1]);
        if (r < 0) {
            bsvc_close(ctx, c);
            return;
        }
    }
}

/* The owner-side cap (transport.h): links served at once, and from one process. */
static bool bsvc_room(struct idc_context *ctx, pid_t pid)
{
    struct shm_ctx *sc = shm_ctx(ctx);
    unsigned mine = 0;
    for (struct bsvc_conn *c = sc->bconns; c; c = c->next)
        mine += c->pid == pid;
    if (sc->nbconns < sc->links_max.owner && mine < sc->links_max.per_peer)
        return true;
    if (idc__log_limit(&sc->buf_logs, ctx))
        idc__log(ctx, IDC_LOG_WARN,
                 "buffer service: refusing a link from pid %d (%u links, %u of them from it; "
                 "IDC_BUF_OWNER_LINKS %u, IDC_BUF_OWNER_PER_PEER %u)",
                 (int)pid, sc->nbconns, mine, sc->links_max.owner, sc->links_max.per_peer);
    return false;
}

static void bsvc_accept(struct idc_watch *w, uint32_t events)
{
    (void)events;
    struct idc_context *ctx = w->arg;
    struct shm_ctx *sc = shm_ctx(ctx);
    int fd = accept4(sc->bfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    struct shm_peer who;
    if (shm_check_peer(ctx, fd, "buffer service", &who) < 0 || !bsvc_room(ctx, who.pid)) {
        close(fd); /* the user sees the link fail and its transfer complete with an error */
        return;
    }
    struct bsvc_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return;
    }
    sc->nbconns++;
    c->pid = who.pid;
    c->fd = fd;
    c->ctx = ctx;
    c->w = (struct idc_watch){
        .fd = fd, .events = EPOLLIN | EPOLLRDHUP, .fn = bsvc_fire, .arg = c
    };
    if (idc__watch_add(ctx, &c->w) < 0) {
        close(fd);
        free(c);
        return;
    }
    c->next = sc->bconns;
    sc->bconns = c;
}

static int bsvc_path(struct idc_context *ctx, uint64_t owner, char *out, size_t n)
{
    int r = snprintf(out, n, "%s/.rbuf-%016llx.sock", shm_dir(ctx), (unsigned long long)owner);
    return r < 0 || (size_t)r >= n ? IDC_ERR_INVAL : 0;
}

/* Removes buffer-service sockets of dead owners (a process killed with kill -9 cannot unlink
   its own): a socket nobody listens on refuses the connection. Bounded per call. */
static void reclaim_stale(struct idc_context *ctx)
{
    DIR *d = opendir(shm_dir(ctx));
    if (!d)
        return;
    unsigned seen = 0;
    for (struct dirent *e; seen < 256 && (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, ".rbuf-", 6) != 0 || n < 11 || strcmp(e->d_name + n - 5, ".sock"))
            continue;
        seen++;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int r = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", shm_dir(ctx), e->d_name);
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (r < 0 || (size_t)r >= sizeof(sa.sun_path) || fd < 0) {
            if (fd >= 0)
                close(fd);
            continue;
        }
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == ECONNREFUSED) {
            idc__log(ctx, IDC_LOG_INFO, "removing %s (its owner is gone)", sa.sun_path);
            unlink(sa.sun_path);
        }
        close(fd);
    }
    closedir(d);
}

int shm_rbuf_publish(struct idc_context *ctx)
{
    struct shm_ctx *sc = shm_ctx(ctx);
    if (sc->bfd >= 0)
        return 0;
    reclaim_stale(ctx);
    size_t gl = IDC_MAX_REGS * sizeof(uint32_t);
    if (shm_memfd(ctx, "idc-generations", gl, &sc->gen_fd) < 0)
        return IDC_ERR_IO;
    void *g = mmap(NULL, gl, PROT_READ | PROT_WRITE, MAP_SHARED, sc->gen_fd, 0);
    if (g == MAP_FAILED) {
        idc__log(ctx, IDC_LOG_ERROR, "mmap of the generation table: %s", strerror(errno));
        shm_close_fd(&sc->gen_fd);
        return IDC_ERR_IO;
    }
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = -1;
    if (bsvc_path(ctx, idc_context_id(ctx), sa.sun_path, sizeof(sa.sun_path)) < 0 ||
        (fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0 ||
        (unlink(sa.sun_path), bind(fd, (struct sockaddr *)&sa, sizeof(sa))) < 0 ||
        listen(fd, 64) < 0) {
        idc__log(ctx, IDC_LOG_ERROR, "buffer service %s: %s", sa.sun_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        munmap(g, gl);
        shm_close_fd(&sc->gen_fd);
        return IDC_ERR_IO;
    }
    sc->bfd = fd;
    sc->bw = (struct idc_watch){ .fd = fd, .events = EPOLLIN, .fn = bsvc_accept, .arg = ctx };
    if (idc__watch_add(ctx, &sc->bw) < 0) {
        unlink(sa.sun_path);
        shm_close_fd(&sc->bfd);
        munmap(g, gl);
        shm_close_fd(&sc->gen_fd);
        return IDC_ERR_IO;
    }
    sc->gen = g;
    for (uint32_t id = 0; id < IDC_MAX_REGS; id++) /* registrations made before */
        sc->gen[id] = idc__reg_generation(ctx, id);
    return 0;
}

/* Holders map the generation table read-only and check it before every copy from a cached
   mapping. Release: a holder that sees the new generation also sees everything the owner did
   before revoking. */
void shm_rbuf_revoke(struct idc_context *ctx, uint32_t id, uint32_t generation)
{
    struct shm_ctx *sc = shm_ctx(ctx);
    if (sc && sc->gen && id < IDC_MAX_REGS)
        __atomic_store_n(&sc->gen[id], generation, __ATOMIC_RELEASE);
}

/* Owners of this host: the same locator (the owner id's top bits) as ours. */
bool shm_rbuf_reaches(struct idc_context *ctx, uint64_t owner)
{
    return owner >> IDC_OWNER_LOC_SHIFT == idc_context_id(ctx) >> IDC_OWNER_LOC_SHIFT;
}

/* ------------------------------------------------------------------ buffers: user side */

static void bmap_drop(struct blink *l, struct bmap *m)
{
    for (struct bmap **pp = &l->maps; *pp; pp = &(*pp)->next)
        if (*pp == m) {
            *pp = m->next;
            break;
        }
    munmap(m->base, m->map_len);
    l->nmaps--;
    free(m);
}

static void blink_free(struct idc_context *ctx, struct blink *l, int status)
{
    struct shm_ctx *sc = shm_ctx(ctx);
    for (struct blink **pp = &sc->links; *pp; pp = &(*pp)->next)
        if (*pp == l) {
            *pp = l->next;
            sc->nlinks--;
            break;
        }
    while (l->wait_head) {
        struct idc_xfer *x = l->wait_head;
        l->wait_head = x->next;
        idc__xfer_complete(ctx, x, status);
    }
    while (l->maps)
        bmap_drop(l, l->maps);
    if (l->gen)
        munmap(l->gen, l->gen_slots * sizeof(uint32_t));
    if (l->fd >= 0) {
        idc__watch_del(ctx, &l->w);
        close(l->fd);
    }
    free(l);
}

/* Runs x against a validated mapping: generation check, then one memcpy. */
static int bmap_copy(struct blink *l, struct bmap *m, struct idc_xfer *x)
{
    /* Acquire: pairs with the owner's release store of the bumped generation. */
    uint32_t g = __atomic_load_n(&l->gen[m->id], __ATOMIC_ACQUIRE);
    if (g != m->generation)
        return IDC_ERR_REVOKED;
    uint32_t need = x->write ? IDC_RBUF_WRITE : IDC_RBUF_READ;
    if (!(m->rights & need))
        return IDC_ERR_RIGHTS;
    if (x->offset > m->length || x->len > m->length - x->offset)
        return IDC_ERR_BADREF;
    if (x->write)
        memcpy(m->data + x->offset, x->local, x->len);
    else
        memcpy(x->local, m->data + x->offset, x->len);
    return 0;
}

static struct bmap *bmap_find(struct blink *l, const struct idc_rbuf *rb)
{
    for (struct bmap *m = l->maps; m; m = m->next)
        if (m->id == rb->id && m->generation == rb->generation && m->length == rb->length &&
            (rb->rights & ~m->rights) == 0 && memcmp(m->key, rb->key, 16) == 0)
            return m;
    return NULL;
}

/* A reason for a transfer's failure that the owner caused, logged (rate-limited: a hostile
   owner controls how often). */
static void owner_says(struct idc_context *ctx, struct blink *l, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void owner_says(struct idc_context *ctx, struct blink *l, const char *fmt, ...)
{
    if (!idc__log_limit(&shm_ctx(ctx)->buf_logs, ctx))
        return;
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    idc__log(ctx, IDC_LOG_WARN, "buffer owner %016llx: %s", (unsigned long long)l->owner, why);
}

/* Room for a link to a new owner: at the cap, the least recently used idle link is closed.
   false: every link has transfers waiting (the new transfer fails with IDC_ERR_AGAIN). */
static bool link_room(struct idc_context *ctx)
{
    struct shm_ctx *sc = shm_ctx(ctx);
    if (sc->nlinks < sc->links_max.user)
        return true;
    struct blink *lru = NULL;
    for (struct blink *l = sc->links; l; l = l->next)
        if (!l->wait_head && (!lru || l->used_ns < lru->used_ns))
            lru = l;
    if (!lru)
        return false;
    blink_free(ctx, lru, IDC_ERR_DISCONNECTED);
    return true;
}

static void blink_fire(struct idc_watch *w, uint32_t events)
{
    (void)events;
    struct blink *l = w->arg;
    struct idc_context *ctx = l->ctx;
    for (;;) {
        struct idc_shm_maprep rep;
        int fds[2] = { -1, -1 }, nfds = 2;
        ssize_t n = shm_recv_rec(l->fd, &rep, sizeof(rep), fds, &nfds);
        if (n == IDC_ERR_AGAIN)
            return; /* nothing more now */
        struct idc_xfer *x = l->wait_head;
        if (n != (ssize_t)sizeof(rep) || rep.magic != IDC_SHM_MAGIC || rep.type != IDC_SHM_MAPREP ||
            !x) {
            for (int i = 0; i < nfds; i++)
                close(fds[i]);
            if (n > 0)
                idc__log(ctx, IDC_LOG_WARN, "buffer owner %016llx: malformed reply",
                         (unsigned long long)l->owner);
            blink_free(ctx, l, IDC_ERR_DISCONNECTED);
            return;
        }
        l->wait_head = x->next;
        if (!l->wait_head)
            l->wait_tail = &l->wait_head;
        int st = rep.status;
        if (st > 0 || st < IDC_ERR_BUSY) {
            owner_says(ctx, l, "an answer with status %d, not an IDC_ERR_* code", st);
            st = IDC_ERR_IO;
        }
        if (st == IDC_ERR_BADREF) {
            /* A link that never carried a genuine reference is closed: forged owners cannot
               pile up open links (the cap bounds the rest). */
            l->bad = l->nmaps == 0;
            owner_says(ctx, l, "the reference is forged or unknown (IDC_ERR_BADREF)%s",
                       l->bad ? "; closing the link" : "");
        }
        struct bmap *m = NULL;
        if (st == 0 &&
            (nfds != 2 || rep.id != x->rb.id || rep.generation != x->rb.generation ||
             rep.length != x->rb.length || rep.gen_slots == 0 || rep.gen_slots > IDC_MAX_REGS ||
             rep.id >= rep.gen_slots || (rep.rights & ~(IDC_RBUF_READ | IDC_RBUF_WRITE)))) {
            owner_says(ctx, l, "a MAPREP that does not match the request");
            st = IDC_ERR_IO;
        }
        if (st == 0 && !(m = bmap_find(l, &x->rb))) {
            /* Map the registered range (page granularity). */
            long pg = sysconf(_SC_PAGESIZE);
            uint64_t start = rep.offset & ~(uint64_t)(pg - 1);
            uint64_t end = rep.offset + rep.length;
            size_t mlen = (size_t)(((end - start) + (uint64_t)pg - 1) & ~(uint64_t)(pg - 1));
            int prot = PROT_READ | (rep.rights & IDC_RBUF_WRITE ? PROT_WRITE : 0);
            if (!l->gen) {
                if (!shm_memfd_ok(fds[1], rep.gen_slots * sizeof(uint32_t))) {
                    owner_says(ctx, l, "generation table not a sealed memfd of its size");
                    st = IDC_ERR_IO;
                } else {
                    void *g = mmap(NULL, rep.gen_slots * sizeof(uint32_t), PROT_READ, MAP_SHARED,
                                   fds[1], 0);
                    if (g == MAP_FAILED) {
                        owner_says(ctx, l, "mmap of its generation table: %s", strerror(errno));
                        st = IDC_ERR_IO;
                    } else {
                        l->gen = g;
                        l->gen_slots = rep.gen_slots;
                    }
                }
            }
            if (st == 0 &&
                (rep.id >= l->gen_slots || end < rep.offset || !shm_memfd_ok(fds[0], end))) {
                owner_says(ctx, l, "buffer memory not a sealed memfd holding the range");
                st = IDC_ERR_IO;
            }
            void *base = MAP_FAILED;
            if (st == 0)
                base = mmap(NULL, mlen, prot, MAP_SHARED, fds[0], (off_t)start);
            if (st == 0 && base == MAP_FAILED) {
                owner_says(ctx, l, "mmap of the buffer: %s", strerror(errno));
                st = IDC_ERR_IO;
            }
            if (st == 0) {
                m = calloc(1, sizeof(*m));
                if (!m) {
                    munmap(base, mlen);
                    st = IDC_ERR_NOMEM;
                } else {
                    m->id = rep.id;
                    m->generation = rep.generation;
                    m->rights = rep.rights;
                    memcpy(m->key, x->rb.key, 16);
                    m->length = rep.length;
                    m->base = base;
                    m->map_len = mlen;
                    m->data = (unsigned char *)base + (rep.offset - start);
                    if (l->nmaps >= 64) { /* bound the cache: drop the oldest */
                        struct bmap *old = l->maps;
                        while (old->next)
                            old = old->next;
                        bmap_drop(l, old);
                    }
                    m->next = l->maps;
                    l->maps = m;
                    l->nmaps++;
                }
            }
        }
        for (int i = 0; i < nfds; i++)
            close(fds[i]);
        if (st == 0)
            st = bmap_copy(l, m, x);
        if (st == IDC_ERR_REVOKED && m)
            bmap_drop(l, m);
        idc__xfer_complete(ctx, x, st);
        if (l->bad && !l->wait_head) {
            blink_free(ctx, l, IDC_ERR_DISCONNECTED);
            return;
        }
    }
}

int shm_rbuf_transfer(struct idc_context *ctx, struct idc_xfer *x)
{
    struct shm_ctx *sc = shm_ctx(ctx);
    struct blink *l = sc->links;
    while (l && l->owner != x->rb.owner)
        l = l->next;
    if (!l && !link_room(ctx)) {
        if (idc__log_limit(&sc->buf_logs, ctx))
            idc__log(ctx, IDC_LOG_WARN,
                     "%u buffer owners busy at once (IDC_BUF_USER_LINKS); "
                     "transfer refused (IDC_ERR_AGAIN)",
                     sc->links_max.user);
        idc__xfer_complete(ctx, x, IDC_ERR_AGAIN);
        return 0;
    }
    if (!l) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (bsvc_path(ctx, x->rb.owner, sa.sun_path, sizeof(sa.sun_path)) < 0)
            return IDC_ERR_INVAL;
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            idc__log(ctx, IDC_LOG_ERROR, "buffer link: socket: %s", strerror(errno));
            return IDC_ERR_IO;
        }
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            shm_check_peer(ctx, fd, "buffer owner", NULL) < 0) {
            idc__log(ctx, IDC_LOG_DEBUG, "buffer owner %016llx unreachable: %s",
                     (unsigned long long)x->rb.owner, strerror(errno));
            close(fd);
            idc__xfer_complete(ctx, x, IDC_ERR_DISCONNECTED);
            return 0;
        }
        l = calloc(1, sizeof(*l));
        if (!l) {
            close(fd);
            return IDC_ERR_NOMEM;
        }
        l->ctx = ctx;
        l->owner = x->rb.owner;
        l->fd = fd;
        l->wait_tail = &l->wait_head;
        l->w = (struct idc_watch){
            .fd = fd, .events = EPOLLIN | EPOLLRDHUP, .fn = blink_fire, .arg = l
        };
        if (idc__watch_add(ctx, &l->w) < 0) {
            close(fd);
            free(l);
            return IDC_ERR_IO;
        }
        l->next = sc->links;
        sc->links = l;
        sc->nlinks++;
    }
    l->used_ns = idc__now_ns();
    struct bmap *m = l->wait_head ? NULL : bmap_find(l, &x->rb);
    if (m) {
        /* Fast path: mapping cached, no socket traffic: one generation load, one memcpy. */
        int st = bmap_copy(l, m, x);
        if (st == IDC_ERR_REVOKED)
            bmap_drop(l, m);
        idc__xfer_complete(ctx, x, st);
        return 0;
    }
    struct idc_shm_mapreq q = { .magic = IDC_SHM_MAGIC,
                                .type = IDC_SHM_MAPREQ,
                                .wire = IDC_SHM_WIRE,
                                .id = x->rb.id,
                                .generation = x->rb.generation,
                                .rights = x->rb.rights,
                                .owner = x->rb.owner,
                                .length = x->rb.length };
    memcpy(q.key, x->rb.key, 16);
    if (shm_send_rec(l->fd, &q, sizeof(q), NULL, 0) < 0) {
        idc__xfer_complete(ctx, x, IDC_ERR_DISCONNECTED);
        blink_free(ctx, l, IDC_ERR_DISCONNECTED);
        return 0;
    }
    x->next = NULL;
    *l->wait_tail = x;
    l->wait_tail = &x->next;
    return 0;
}

/* Context destroy: drop the links to other owners (their transfers fail), close the service. */
void shm_buffers_fini(struct idc_context *ctx)
{
    struct shm_ctx *sc = shm_ctx(ctx);
    while (sc->links) {
        struct blink *l = sc->links;
        sc->links = l->next; /* unlinked here, so the list never holds a freed link */
        blink_free(ctx, l, IDC_ERR_DISCONNECTED);
    }
    /* transfers completed above are dropped by the caller (context destroy) */
    while (sc->bconns) {
        struct bsvc_conn *c = sc->bconns;
        sc->bconns = c->next;
        bsvc_close(ctx, c);
    }
    if (sc->bfd >= 0) {
        char p[sizeof(((struct sockaddr_un *)0)->sun_path)];
        if (bsvc_path(ctx, idc_context_id(ctx), p, sizeof(p)) == 0)
            unlink(p);
        shm_close_fd(&sc->bfd);
    }
    if (sc->gen)
        munmap(sc->gen, IDC_MAX_REGS * sizeof(uint32_t));
    shm_close_fd(&sc->gen_fd);
}
