/* stats.c - the endpoints' counters and their export for idcctl (the file format and its
 * rules are in statsfile.h; docs/runtime.md "Runtime counters").
 *
 * The hot path only increments counters through ep->ctr (endpoint.c). Here: the context's file
 * (made at its first endpoint, so a context without endpoints leaves nothing behind), a slot per
 * endpoint, the slot's description rewritten under its seqlock at each lifecycle change, and the
 * in-process reader idc_endpoint_stats.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

int idc__runtime_dir(char *buf, size_t len)
{
    return idc_stats_runtime_dir(buf, len);
}

int idc__stats_init(struct idc_context *ctx, const struct idc_context_options *opt)
{
    ctx->stats_fd = -1;
    if (opt && opt->stats_dir && !(ctx->stats_dir_opt = strdup(opt->stats_dir)))
        return IDC_ERR_NOMEM;
    return 0;
}

/* mkdir -p with mode 0700 for what it creates (the runtime directory may not exist yet). */
static int make_dirs(char *path)
{
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p)
            continue;
        char c = *p;
        *p = 0;
        int r = mkdir(path, 0700);
        *p = c;
        if (r < 0 && errno != EEXIST)
            return -1;
        if (!c)
            return 0;
    }
}

static void fill_header(struct idc_context *ctx, struct idc_stats_hdr *h)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    h->format = IDC_STATS_FORMAT;
    h->hdr_size = IDC_STATS_HDR_SIZE;
    h->slot_size = IDC_STATS_SLOT_SIZE;
    h->nslots = IDC_STATS_SLOTS;
    h->ctx_id = ctx->id;
    h->created = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    h->pid = (int32_t)getpid();
    h->uid = (uint32_t)geteuid();
    snprintf(h->program, sizeof(h->program), "%s", program_invocation_short_name);
    h->magic = IDC_STATS_MAGIC; /* last: nobody reads the file before its rename anyway */
}

/* Makes the file under a dot-name (readers skip those), maps and fills it, locks it (the lock
   says "alive" to readers), then renames it into place. 0 or IDC_ERR_IO (logged). */
static int stats_open(struct idc_context *ctx, const char *dir)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    const char *what = "create";
    int n = snprintf(path, sizeof(path), "%s/%d-%012llx%s", dir, (int)getpid(),
                     (unsigned long long)ctx->id, IDC_STATS_SUFFIX);
    int m = snprintf(tmp, sizeof(tmp), "%s/.%d-%012llx.tmp", dir, (int)getpid(),
                     (unsigned long long)ctx->id);
    if (n < 0 || (size_t)n >= sizeof(path) || m < 0 || (size_t)m >= sizeof(tmp)) {
        idc__log(ctx, IDC_LOG_WARN, "stats not exported: directory name too long: %s", dir);
        return IDC_ERR_IO;
    }
    char dirbuf[PATH_MAX];
    snprintf(dirbuf, sizeof(dirbuf), "%s", dir);
    if (make_dirs(dirbuf) < 0) {
        idc__log(ctx, IDC_LOG_WARN, "stats not exported: cannot create %s: %s", dir,
                 strerror(errno));
        return IDC_ERR_IO;
    }
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    void *map = MAP_FAILED;
    if (fd < 0)
        goto fail;
    what = "size";
    if (ftruncate(fd, IDC_STATS_FILE_SIZE) < 0)
        goto fail;
    what = "map";
    map = mmap(NULL, IDC_STATS_FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED)
        goto fail;
    fill_header(ctx, map);
    what = "lock";
    if (flock(fd, LOCK_EX | LOCK_NB) < 0)
        goto fail;
    what = "rename";
    if (rename(tmp, path) < 0)
        goto fail;
    ctx->stats_path = strdup(path);
    if (!ctx->stats_path) {
        unlink(path);
        errno = ENOMEM;
        goto fail_renamed;
    }
    ctx->stats_fd = fd;
    ctx->stats_map = map;
    ctx->stats_slots = (struct idc_stats_slot *)(void *)((unsigned char *)map + IDC_STATS_HDR_SIZE);
    ctx->stats_pid = (int)getpid();
    return 0;
fail:
    if (fd >= 0)
        unlink(tmp);
fail_renamed:
    idc__log(ctx, IDC_LOG_WARN, "stats not exported: %s %s: %s", what, tmp, strerror(errno));
    if (map != MAP_FAILED)
        munmap(map, IDC_STATS_FILE_SIZE);
    if (fd >= 0)
        close(fd);
    return IDC_ERR_IO;
}

void idc__stats_fini(struct idc_context *ctx)
{
    /* A forked child destroying the context it inherited leaves its parent's file alone. */
    if (ctx->stats_path && ctx->stats_pid == (int)getpid())
        unlink(ctx->stats_path);
    if (ctx->stats_map)
        munmap(ctx->stats_map, IDC_STATS_FILE_SIZE);
    if (ctx->stats_fd >= 0)
        close(ctx->stats_fd);
    free(ctx->stats_path);
    free(ctx->stats_dir_opt);
    ctx->stats_map = NULL;
    ctx->stats_slots = NULL;
    ctx->stats_path = ctx->stats_dir_opt = NULL;
    ctx->stats_fd = -1;
}

/* The endpoint's slot, or NULL when its counters are not in the file. */
static struct idc_stats_slot *slot_of(const struct idc_ep *ep)
{
    const struct idc_context *ctx = ep->link.ctx;
    /* as integers: the counters may be a heap block, not part of the mapping */
    uintptr_t p = (uintptr_t)ep->ctr, first = (uintptr_t)ctx->stats_slots;
    if (!ctx->stats_slots || p < first ||
        p >= first + (uintptr_t)IDC_STATS_SLOTS * IDC_STATS_SLOT_SIZE)
        return NULL;
    return &ctx->stats_slots[(p - first) / IDC_STATS_SLOT_SIZE];
}

/* The first free slot, or IDC_STATS_SLOTS when all are in use. */
static unsigned free_slot(const struct idc_context *ctx)
{
    for (unsigned w = 0; w < IDC_STATS_SLOTS / 64; w++)
        if (~ctx->stats_used[w])
            return w * 64 + (unsigned)__builtin_ctzll(~ctx->stats_used[w]);
    return IDC_STATS_SLOTS;
}

/* The file, made at the context's first endpoint (once: a failure is not retried). */
static void stats_first(struct idc_context *ctx)
{
    if (ctx->stats_tried)
        return;
    ctx->stats_tried = true;
    char dir[PATH_MAX];
    int n = idc_stats_dir(dir, sizeof(dir), ctx->stats_dir_opt);
    if (n < 0 || (size_t)n >= sizeof(dir))
        idc__log(ctx, IDC_LOG_WARN, "stats not exported: directory name too long");
    else if (dir[0])
        stats_open(ctx, dir);
}

/* A free slot's counters, zeroed and marked used; NULL when there is no file or no free slot. */
static struct idc_stats_counters *take_slot(struct idc_ep *ep)
{
    struct idc_context *ctx = ep->link.ctx;
    if (!ctx->stats_slots)
        return NULL;
    unsigned i = free_slot(ctx);
    if (i == IDC_STATS_SLOTS) {
        if (!ctx->stats_full_logged)
            idc__log(ctx, IDC_LOG_INFO,
                     "%s: not exported to idcctl: the context's %u stats slots are in use",
                     ep->link.address, IDC_STATS_SLOTS);
        ctx->stats_full_logged = true;
        return NULL;
    }
    ctx->stats_used[i / 64] |= UINT64_C(1) << (i % 64);
    struct idc_stats_slot *s = &ctx->stats_slots[i];
    memset(&s->ctr, 0, sizeof(s->ctr)); /* the state still says free: readers skip it */
    s->peer[0] = 0;
    return &s->ctr;
}

void idc__stats_attach(struct idc_ep *ep)
{
    struct idc_context *ctx = ep->link.ctx;
    stats_first(ctx);
    ep->ctr = take_slot(ep);
    if (!ep->ctr)
        ep->ctr = calloc(1, sizeof(*ep->ctr));
    if (!ep->ctr)
        ep->ctr = &ctx->stats_sink; /* shared with others: idc_endpoint_stats says so */
}

/* Writes the description of a slot under its seqlock; peer NULL keeps the slot's peer. */
static void slot_write(struct idc_stats_slot *s, const struct idc_stats_slot *d, const char *peer)
{
    uint32_t seq = s->seq; /* only this thread writes it */
    __atomic_store_n(&s->seq, seq + 1, __ATOMIC_RELAXED);
    /* Release fence: the odd seq is visible before any byte of the description changes, so a
       reader that copied a changed byte finds seq moved when it reads it again (pairs with the
       reader's acquire fence between its copy and that second read). */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(&s->state, &d->state,
           offsetof(struct idc_stats_slot, peer) - offsetof(struct idc_stats_slot, state));
    if (peer)
        snprintf(s->peer, sizeof(s->peer), "%s", peer);
    memcpy(s->reason, d->reason, sizeof(s->reason));
    /* Release: the whole description is visible before seq is even again (pairs with the
       reader's acquire load of seq before its copy). */
    __atomic_store_n(&s->seq, seq + 2, __ATOMIC_RELEASE);
}

void idc__stats_sync(struct idc_ep *ep)
{
    struct idc_stats_slot *s = slot_of(ep);
    if (!s)
        return;
    struct idc_stats_slot d;
    d.state = (uint32_t)idc_endpoint_state(idc__pub(ep));
    d.role = (uint32_t)ep->link.role;
    const struct idc_conn *c = ep->conn;
    d.version = c ? c->ch.version : 0;
    d.max_frame = c ? c->ch.max_frame : 0;
    d.tx_limit = c ? c->ch.tx_limit : 0;
    d.msg_limit = c ? c->ch.msg_limit : 0;
    d.last_err = ep->last_err;
    snprintf(d.address, sizeof(d.address), "%s", ep->link.address);
    snprintf(d.protocol, sizeof(d.protocol), "%s",
             ep->link.proto && ep->link.proto->name ? ep->link.proto->name : "");
    /* The last disconnect's reason stays until the next one, also once connected again (the
       endpoint's own is cleared at each connect, for idc_endpoint_last_error). */
    if (ep->down_reason[0])
        snprintf(d.reason, sizeof(d.reason), "%s", ep->down_reason);
    else
        memcpy(d.reason, s->reason, sizeof(d.reason));
    slot_write(s, &d, NULL);
}

void idc__link_peer(struct idc_link *l, const char *fmt, ...)
{
    struct idc_ep *ep = idc__ep_of(l);
    struct idc_stats_slot *s = slot_of(ep);
    if (!s)
        return;
    char peer[IDC_STATS_PEER_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(peer, sizeof(peer), fmt, ap);
    va_end(ap);
    struct idc_stats_slot d;
    memcpy(&d.state, &s->state,
           offsetof(struct idc_stats_slot, peer) - offsetof(struct idc_stats_slot, state));
    memcpy(d.reason, s->reason, sizeof(d.reason));
    slot_write(s, &d, peer);
}

void idc__stats_detach(struct idc_ep *ep)
{
    struct idc_context *ctx = ep->link.ctx;
    struct idc_stats_slot *s = slot_of(ep);
    if (!s && ep->ctr != &ctx->stats_sink)
        free(ep->ctr);
    ep->ctr = NULL;
    if (!s)
        return;
    struct idc_stats_slot d;
    memset(&d, 0, sizeof(d)); /* state IDC_EP_UNUSED: free */
    slot_write(s, &d, "");
    size_t i = (size_t)(s - ctx->stats_slots);
    ctx->stats_used[i / 64] &= ~(UINT64_C(1) << (i % 64));
}

int idc_endpoint_stats(const struct idc_endpoint *pub, struct idc_endpoint_stats *out)
{
    if (!out)
        return IDC_ERR_INVAL;
    memset(out, 0, sizeof(*out));
    const struct idc_ep *ep = (const struct idc_ep *)(const void *)pub;
    if (!ep || ep->magic != IDC_EP_MAGIC || !ep->ctr)
        return IDC_ERR_INVAL;
    if (ep->ctr == &ep->link.ctx->stats_sink)
        return IDC_ERR_NOMEM;
    const struct idc_stats_counters *k = ep->ctr;
    out->tx_frames = k->tx_frames;
    out->tx_bytes = k->tx_bytes;
    out->rx_frames = k->rx_frames;
    out->rx_bytes = k->rx_bytes;
    out->txn_submitted = k->txn_sent;
    out->txn_done = k->txn_done;
    out->req_received = k->req_rx;
    out->req_done = k->req_done;
    out->connects = k->connects;
    out->disconnects = k->disconnects;
    out->errors = k->errors;
    out->txn_outstanding = (uint32_t)(k->txn_sent - k->txn_done);
    out->req_held = (uint32_t)(k->req_rx - k->req_done);
    out->tx_limit = ep->conn ? ep->conn->ch.tx_limit : 0;
    return 0;
}
