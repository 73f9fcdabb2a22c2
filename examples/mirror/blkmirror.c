/*
 * blkmirror: a blkif back-end that is itself the front-end of two blkif back-ends ("legs")
 * and mirrors every write onto both (RAID-1 over idc).
 *
 *   blkmirror [-q] [-i] [-S STATUS_FILE] ADDRESS LEG0_ADDRESS LEG1_ADDRESS
 *
 *   -i   the legs are not known to be equal at start: copy leg 0 onto leg 1 first
 *   -S   rewrite STATUS_FILE (key=value lines) whenever a leg changes state, and every 200 ms
 *
 * Stacking. Requests from the upper front-end carry references to the upper front-end's
 * buffers. blkmirror does not copy the data: it forwards the same references to the legs (a
 * remote buffer reference is a capability any holder can use), so each leg's blkback moves the
 * bytes directly from/to the original front-end's memory. Each endpoint has its own credits,
 * and no callback ever waits, so the chain front-end -> blkmirror -> legs cannot deadlock.
 *
 * Losing a leg. When a leg disconnects, its requests in flight complete with
 * IDC_ERR_DISCONNECTED: a read is sent again to the other leg; a write that succeeded on the
 * other leg succeeds, and the range is marked dirty for the lost leg (a bitmap of 64 KiB
 * chunks, in memory). While a leg is down, reads go to the live leg and writes are recorded
 * the same way. When a request has no leg to go to, it waits (the upper front-end sees only
 * latency) until a leg returns.
 *
 * A leg's return. It comes back in state RESYNC: RESYNC_WORKERS workers copy every dirty chunk
 * from the in-sync leg into it (through blkmirror's own registered buffers), while new writes
 * go to both legs. A write overlapping a chunk being copied waits for that copy, and a chunk is
 * not copied while a write to it is in flight, so a copy never overwrites newer data. A
 * resyncing leg serves reads of chunks that are not dirty. When the bitmap is empty the leg is
 * IN_SYNC again.
 *
 * Limits (honest list): the dirty bitmap lives in blkmirror's memory, so if blkmirror itself
 * restarts while a leg is behind, use -i to copy everything; when both legs fail in turn and
 * come back, a chunk dirty on both is taken from leg 0 (logged); flush is sent to the legs that
 * are connected; legs must be at least as large as the first leg seen.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <idc.h>

#include "blkif.h"

#define CHUNK_SECTORS  128u /* 64 KiB: dirty tracking and resync unit */
#define CHUNK_BYTES    (CHUNK_SECTORS * BLKIF_SECTOR_SIZE)
#define RESYNC_WORKERS 4u
#define UPPER_TXNS     64u /* transactions the upper front-end may have out */

enum leg_state { LEG_DOWN, LEG_RESYNC, LEG_IN_SYNC };
static const char *const leg_state_name[] = { "down", "resync", "in_sync" };

enum mop { M_READ, M_WRITE, M_FLUSH, M_DISCARD };

struct mirror;

struct leg {
    struct blkif_frontend fe;
    struct mirror *m;
    unsigned idx;
    const char *address;
    bool ready;   /* connected and info read */
    bool discard; /* speaks version 2 and supports discard */
    enum leg_state state;
    struct blkif_get_info_txn info_txn;
    uint8_t *dirty; /* one bit per chunk */
    uint64_t ndirty;
    unsigned inflight;
    uint64_t losses, resynced_chunks;
};

/* One upper request (read, write, flush or discard) and its leg transactions. */
struct mreq {
    struct mirror *m;
    struct idc_request *req; /* NULL once completed or dropped */
    enum mop op;
    uint64_t sector, sectors; /* range (read/write/discard) */
    union {
        struct blkif_read_args rd;
        struct blkif_write_args wr;
        struct blkif_discard_args dc;
    } a;
    unsigned pending; /* leg transactions out */
    unsigned ok;      /* legs that succeeded */
    int err;          /* an application error from a leg */
    bool lost;        /* a leg disconnected under it */
    bool active;      /* started (else waiting) */
    int read_leg;
    struct blkif_read_txn rd;
    struct blkif_write_txn wr[2];
    struct blkif_flush_txn fl[2];
    struct blkif_discard_txn dc[2];
    struct mreq *next, *prev; /* waiting or active list */
};

struct worker {
    struct mirror *m;
    bool busy;
    struct leg *target, *source;
    uint64_t chunk;
    void *mem;
    /* one registration with both rights: the source leg writes the chunk into it, the
       target leg reads it from there (an allocation is shared writable or read-only, not
       both, so a read-only second reference to the same memory is not possible) */
    struct idc_rbuf rb;
    struct blkif_read_txn rd;
    struct blkif_write_txn wr;
};

struct mirror {
    struct idc_context *ctx;
    struct blkif_backend be;
    bool serving;
    bool quiet;
    bool initial_copy;
    const char *address;
    const char *status_file;
    struct leg legs[2];
    uint64_t sectors; /* device size: the first leg's */
    uint64_t nchunks;
    struct mreq waiting; /* list heads (sentinels) */
    struct mreq active;
    struct worker workers[RESYNC_WORKERS];
    bool status_dirty;
    bool stopping; /* our own shutdown: legs going down is no loss */
    uint64_t requests, reads, writes, degraded_writes, retried;
};

static void say(const struct mirror *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct mirror *m, const char *fmt, ...)
{
    va_list ap;
    if (m->quiet)
        return;
    va_start(ap, fmt);
    fputs("blkmirror: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ------------------------------------------------------------------------------ lists */

static void list_init(struct mreq *h)
{
    h->next = h->prev = h;
}
static bool list_empty(const struct mreq *h)
{
    return h->next == h;
}
static void list_del(struct mreq *r)
{
    r->prev->next = r->next;
    r->next->prev = r->prev;
    r->next = r->prev = r;
}
static void list_add_tail(struct mreq *h, struct mreq *r)
{
    r->prev = h->prev;
    r->next = h;
    h->prev->next = r;
    h->prev = r;
}
static void list_add_head(struct mreq *h, struct mreq *r)
{
    r->next = h->next;
    r->prev = h;
    h->next->prev = r;
    h->next = r;
}

/* ------------------------------------------------------------------------------ dirty map */

static bool chunk_dirty(const struct leg *l, uint64_t c)
{
    return l->dirty && (l->dirty[c / 8] >> (c % 8)) & 1;
}

static void mark_dirty(struct leg *l, uint64_t sector, uint64_t sectors)
{
    struct mirror *m = l->m;
    if (!l->dirty || sectors == 0 || sector >= m->sectors)
        return;
    uint64_t end = sector + sectors > m->sectors ? m->sectors : sector + sectors;
    for (uint64_t c = sector / CHUNK_SECTORS; c <= (end - 1) / CHUNK_SECTORS; c++) {
        if (!chunk_dirty(l, c)) {
            l->dirty[c / 8] |= (uint8_t)(1u << (c % 8));
            l->ndirty++;
        }
    }
    if (l->state == LEG_IN_SYNC && l->ready) {
        l->state = LEG_RESYNC; /* e.g. an error on a live leg: copy it again */
        m->status_dirty = true;
    }
}

static void clear_dirty(struct leg *l, uint64_t c)
{
    if (chunk_dirty(l, c)) {
        l->dirty[c / 8] &= (uint8_t) ~(1u << (c % 8));
        l->ndirty--;
    }
}

static bool range_dirty(const struct leg *l, uint64_t sector, uint64_t sectors)
{
    if (!l->ndirty || sectors == 0)
        return false;
    for (uint64_t c = sector / CHUNK_SECTORS; c <= (sector + sectors - 1) / CHUNK_SECTORS; c++)
        if (chunk_dirty(l, c))
            return true;
    return false;
}

static bool can_read(const struct leg *l, uint64_t sector, uint64_t sectors)
{
    return l->ready && (l->state == LEG_IN_SYNC ||
                        (l->state == LEG_RESYNC && !range_dirty(l, sector, sectors)));
}

/* A resync worker is copying a chunk that overlaps [sector, sector+sectors)? */
static bool resync_overlaps(const struct mirror *m, uint64_t sector, uint64_t sectors)
{
    for (unsigned i = 0; i < RESYNC_WORKERS; i++) {
        const struct worker *w = &m->workers[i];
        if (w->busy && w->chunk * CHUNK_SECTORS < sector + sectors &&
            sector < (w->chunk + 1) * CHUNK_SECTORS)
            return true;
    }
    return false;
}

/* ------------------------------------------------------------------------------ upper requests */

static void process_waiting(struct mirror *m);
static void kick_resync(struct mirror *m);

static void reply(struct mreq *r)
{
    if (!r->req)
        return;
    if (r->err && !r->ok) {
        switch (r->op) {
        case M_READ:
            blkif_read_fail(r->req, (enum blkif_error)r->err);
            break;
        case M_WRITE:
            blkif_write_fail(r->req, (enum blkif_error)r->err);
            break;
        case M_FLUSH:
            blkif_flush_fail(r->req, (enum blkif_error)r->err);
            break;
        case M_DISCARD:
            blkif_discard_fail(r->req, (enum blkif_error)r->err);
            break;
        }
    } else {
        switch (r->op) {
        case M_READ:
            blkif_read_reply(r->req, &(struct blkif_read_result){ .done = r->sectors });
            break;
        case M_WRITE:
            blkif_write_reply(r->req, &(struct blkif_write_result){ .done = r->sectors });
            break;
        case M_FLUSH:
            blkif_flush_reply(r->req);
            break;
        case M_DISCARD:
            blkif_discard_reply(r->req);
            break;
        }
    }
    r->req = NULL;
}

/* A leg transaction of r ended. */
static void leg_end(struct mreq *r, struct leg *l, int status)
{
    struct mirror *m = r->m;

    l->inflight--;
    r->pending--;
    if (status == 0) {
        r->ok++;
    } else {
        if (status == IDC_ERR_DISCONNECTED)
            r->lost = true;
        else if (status > 0 && !r->err)
            r->err = status;
        else if (status < 0 && !r->err)
            r->err = BLKIF_ERROR_IO;
        /* the leg may not have the new contents: copy them later */
        if (r->op == M_WRITE || r->op == M_DISCARD)
            mark_dirty(l, r->sector, r->sectors);
    }
    if (r->pending)
        return;
    list_del(r);
    r->active = false;
    if (!r->req) { /* the upper connection went away */
        free(r);
    } else if (r->ok || (r->err && !r->lost)) {
        if (r->op == M_WRITE && r->ok < 2)
            m->degraded_writes++;
        reply(r);
        free(r);
    } else {
        /* no leg did it and one was lost meanwhile: try again when a leg is back */
        m->retried++;
        r->ok = 0;
        r->err = 0;
        r->lost = false;
        list_add_head(&m->waiting, r);
    }
    process_waiting(m);
    kick_resync(m);
}

static struct mreq *txn_req(void *txn, size_t off)
{
    return (struct mreq *)((char *)txn - off);
}

static void up_read_done(struct blkif_read_txn *t, int status, const struct blkif_read_result *res)
{
    struct mreq *r = txn_req(t, offsetof(struct mreq, rd));
    if (status == 0 && res->done != r->sectors)
        status = BLKIF_ERROR_IO;
    leg_end(r, &r->m->legs[r->read_leg], status);
}

static void up_write_done0(struct blkif_write_txn *t, int status,
                           const struct blkif_write_result *res)
{
    struct mreq *r = txn_req(t, offsetof(struct mreq, wr[0]));
    if (status == 0 && res->done != r->sectors)
        status = BLKIF_ERROR_IO;
    leg_end(r, &r->m->legs[0], status);
}

static void up_write_done1(struct blkif_write_txn *t, int status,
                           const struct blkif_write_result *res)
{
    struct mreq *r = txn_req(t, offsetof(struct mreq, wr[1]));
    if (status == 0 && res->done != r->sectors)
        status = BLKIF_ERROR_IO;
    leg_end(r, &r->m->legs[1], status);
}

static void up_flush_done0(struct blkif_flush_txn *t, int status)
{
    struct mreq *r = txn_req(t, offsetof(struct mreq, fl[0]));
    leg_end(r, &r->m->legs[0], status);
}

static void up_flush_done1(struct blkif_flush_txn *t, int status)
{
    struct mreq *r = txn_req(t, offsetof(struct mreq, fl[1]));
    leg_end(r, &r->m->legs[1], status);
}

static void up_discard_done0(struct blkif_discard_txn *t, int status)
{
    struct mreq *r = txn_req(t, offsetof(struct mreq, dc[0]));
    leg_end(r, &r->m->legs[0], status);
}

static void up_discard_done1(struct blkif_discard_txn *t, int status)
{
    struct mreq *r = txn_req(t, offsetof(struct mreq, dc[1]));
    leg_end(r, &r->m->legs[1], status);
}

/* Tries to start r on the legs. Returns false when it must keep waiting. */
static bool try_start(struct mreq *r)
{
    struct mirror *m = r->m;
    int err;

    if (r->op == M_READ) {
        /* the readable leg with fewer requests in flight */
        struct leg *best = NULL;
        for (unsigned i = 0; i < 2; i++) {
            struct leg *l = &m->legs[i];
            if (can_read(l, r->sector, r->sectors) && (!best || l->inflight < best->inflight))
                best = l;
        }
        if (!best)
            return false;
        err = blkif_read_submit(&best->fe, &r->rd, &r->a.rd, up_read_done);
        if (err)
            return false; /* AGAIN / just disconnected: wait */
        r->read_leg = (int)best->idx;
        best->inflight++;
        r->pending = 1;
        return true;
    }
    if ((r->op == M_WRITE || r->op == M_DISCARD) && resync_overlaps(m, r->sector, r->sectors))
        return false;
    if (!m->legs[0].ready && !m->legs[1].ready)
        return false;
    r->pending = 1; /* held while starting */
    for (unsigned i = 0; i < 2; i++) {
        struct leg *l = &m->legs[i];
        if (!l->ready) {
            if (r->op != M_FLUSH)
                mark_dirty(l, r->sector, r->sectors);
            continue;
        }
        switch (r->op) {
        case M_WRITE:
            err = blkif_write_submit(&l->fe, &r->wr[i], &r->a.wr,
                                     i ? up_write_done1 : up_write_done0);
            break;
        case M_FLUSH:
            err = blkif_flush_submit(&l->fe, &r->fl[i], i ? up_flush_done1 : up_flush_done0);
            break;
        case M_DISCARD:
            if (!l->discard) {
                err = IDC_ERR_VERSION; /* this leg cannot discard: copy the zeroes later */
                break;
            }
            err = blkif_discard_submit(&l->fe, &r->dc[i], &r->a.dc,
                                       i ? up_discard_done1 : up_discard_done0);
            break;
        default:
            err = IDC_ERR_INVAL;
            break;
        }
        if (err) {
            if (r->op != M_FLUSH)
                mark_dirty(l, r->sector, r->sectors);
            continue;
        }
        l->inflight++;
        r->pending++;
    }
    if (r->pending == 1) { /* nothing went out: wait for a leg */
        r->pending = 0;
        return false;
    }
    r->pending--; /* drop the starting hold (others are out) */
    return true;
}

static void process_waiting(struct mirror *m)
{
    struct mreq *r = m->waiting.next;
    while (r != &m->waiting) {
        struct mreq *next = r->next;
        if (!r->req) {
            list_del(r);
            free(r);
        } else if (try_start(r)) {
            list_del(r);
            r->active = true;
            list_add_tail(&m->active, r);
        }
        r = next;
    }
}

static void submit_upper(struct mirror *m, struct mreq *r)
{
    m->requests++;
    list_init(r);
    list_add_tail(&m->waiting, r);
    process_waiting(m);
}

static struct mreq *new_req(struct mirror *m, struct idc_request *req, enum mop op)
{
    struct mreq *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->m = m;
    r->req = req;
    r->op = op;
    return r;
}

static bool range_ok(const struct mirror *m, uint64_t sector, uint64_t sectors)
{
    return sector <= m->sectors && sectors <= m->sectors - sector;
}

static uint64_t seg_sectors_rd(const struct blkif_read_args *a)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < a->segs_count; i++)
        n += a->segs[i].sectors;
    return n;
}

static uint64_t seg_sectors_wr(const struct blkif_write_args *a)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < a->segs_count; i++)
        n += a->segs[i].sectors;
    return n;
}

static void on_get_info(struct blkif_backend *be, struct idc_request *req)
{
    struct mirror *m = blkif_backend_user(be);
    struct blkif_get_info_result r = {
        .info = {
            .sectors = m->sectors,
            .physical_sector_size = BLKIF_SECTOR_SIZE,
            .type = BLKIF_MEDIA_DISK,
            .has_flush = true,
            .has_discard = true,          /* a leg without discard gets the zeroes by resync */
        },
    };
    snprintf(r.info.serial, sizeof r.info.serial, "idc-blkmirror");
    blkif_get_info_reply(req, &r);
}

static void on_read(struct blkif_backend *be, struct idc_request *req,
                    const struct blkif_read_args *a)
{
    struct mirror *m = blkif_backend_user(be);
    uint64_t n = seg_sectors_rd(a);
    struct mreq *r;

    if (!range_ok(m, a->sector, n) || n == 0) {
        blkif_read_fail(req, BLKIF_ERROR_RANGE);
        return;
    }
    if (!(r = new_req(m, req, M_READ))) {
        blkif_read_fail(req, BLKIF_ERROR_IO);
        return;
    }
    r->a.rd = *a; /* the upper buffers' references, forwarded as is */
    r->sector = a->sector;
    r->sectors = n;
    m->reads++;
    submit_upper(m, r);
}

static void on_write(struct blkif_backend *be, struct idc_request *req,
                     const struct blkif_write_args *a)
{
    struct mirror *m = blkif_backend_user(be);
    uint64_t n = seg_sectors_wr(a);
    struct mreq *r;

    if (!range_ok(m, a->sector, n) || n == 0) {
        blkif_write_fail(req, BLKIF_ERROR_RANGE);
        return;
    }
    if (!(r = new_req(m, req, M_WRITE))) {
        blkif_write_fail(req, BLKIF_ERROR_IO);
        return;
    }
    r->a.wr = *a;
    r->sector = a->sector;
    r->sectors = n;
    m->writes++;
    submit_upper(m, r);
}

static void on_flush(struct blkif_backend *be, struct idc_request *req)
{
    struct mirror *m = blkif_backend_user(be);
    struct mreq *r = new_req(m, req, M_FLUSH);

    if (!r) {
        blkif_flush_fail(req, BLKIF_ERROR_IO);
        return;
    }
    submit_upper(m, r);
}

static void on_discard(struct blkif_backend *be, struct idc_request *req,
                       const struct blkif_discard_args *a)
{
    struct mirror *m = blkif_backend_user(be);
    struct mreq *r;

    if (!range_ok(m, a->sector, a->count)) {
        blkif_discard_fail(req, BLKIF_ERROR_RANGE);
        return;
    }
    if (a->count == 0) {
        blkif_discard_reply(req);
        return;
    }
    if (!(r = new_req(m, req, M_DISCARD))) {
        blkif_discard_fail(req, BLKIF_ERROR_IO);
        return;
    }
    r->a.dc = *a;
    r->sector = a->sector;
    r->sectors = a->count;
    submit_upper(m, r);
}

static void up_connect(struct blkif_backend *be)
{
    struct mirror *m = blkif_backend_user(be);
    say(m, "front-end connected");
}

static void up_disconnect(struct blkif_backend *be)
{
    struct mirror *m = blkif_backend_user(be);

    /* complete (drop) every request still held; leg transactions in flight finish later and
       free their request then, still recording dirty ranges */
    for (struct mreq *r = m->active.next; r != &m->active; r = r->next) {
        if (r->req) {
            r->err = BLKIF_ERROR_IO;
            r->ok = 0;
            reply(r);
        }
    }
    while (!list_empty(&m->waiting)) {
        struct mreq *r = m->waiting.next;
        list_del(r);
        r->err = BLKIF_ERROR_IO;
        r->ok = 0;
        reply(r);
        free(r);
    }
    say(m, "front-end disconnected");
    blkif_backend_disconnect_done(be);
}

static const struct blkif_backend_ops upper_ops = {
    .connect = up_connect,
    .disconnect = up_disconnect,
    .on_get_info = on_get_info,
    .on_read = on_read,
    .on_write = on_write,
    .on_flush = on_flush,
    .on_discard = on_discard,
};

/* ------------------------------------------------------------------------------ resync */

static void worker_done(struct worker *w, bool ok)
{
    struct mirror *m = w->m;
    struct leg *t = w->target;

    w->busy = false;
    t->inflight--;
    if (ok) {
        clear_dirty(t, w->chunk);
        t->resynced_chunks++;
        if (t->ndirty == 0 && t->ready && t->state == LEG_RESYNC) {
            bool idle = true;
            for (unsigned i = 0; i < RESYNC_WORKERS; i++)
                idle &= !m->workers[i].busy || m->workers[i].target != t;
            if (idle) {
                t->state = LEG_IN_SYNC;
                m->status_dirty = true;
                say(m, "leg %u (%s) in sync again (%" PRIu64 " chunks copied in all)", t->idx,
                    t->address, t->resynced_chunks);
            }
        }
    }
    process_waiting(m);
    kick_resync(m);
}

static void w_write_done(struct blkif_write_txn *t, int status,
                         const struct blkif_write_result *res)
{
    struct worker *w = (struct worker *)((char *)t - offsetof(struct worker, wr));
    (void)res;
    worker_done(w, status == 0);
}

static void w_read_done(struct blkif_read_txn *t, int status, const struct blkif_read_result *res)
{
    struct worker *w = (struct worker *)((char *)t - offsetof(struct worker, rd));
    struct leg *target = w->target;

    (void)res;
    w->source->inflight--;
    if (status != 0 || !target->ready) {
        worker_done(w, false);
        return;
    }
    uint64_t first = w->chunk * CHUNK_SECTORS;
    uint64_t n = first + CHUNK_SECTORS > w->m->sectors ? w->m->sectors - first : CHUNK_SECTORS;
    struct blkif_write_args a = { .sector = first, .segs_count = 1 };
    a.segs[0] = (struct blkif_write_segment){ .buf = w->rb, .offset = 0, .sectors = (uint32_t)n };
    if (blkif_write_submit(&target->fe, &w->wr, &a, w_write_done) != 0)
        worker_done(w, false);
}

/* Active upper write/discard overlapping chunk c? */
static bool write_active_on(const struct mirror *m, uint64_t c)
{
    uint64_t first = c * CHUNK_SECTORS;
    for (const struct mreq *r = m->active.next; r != &m->active; r = r->next)
        if ((r->op == M_WRITE || r->op == M_DISCARD) && r->sector < first + CHUNK_SECTORS &&
            first < r->sector + r->sectors)
            return true;
    return false;
}

static bool chunk_busy(const struct mirror *m, uint64_t c)
{
    for (unsigned i = 0; i < RESYNC_WORKERS; i++)
        if (m->workers[i].busy && m->workers[i].chunk == c)
            return true;
    return false;
}

/* Starts idle workers on dirty chunks of resyncing legs. */
static void kick_resync(struct mirror *m)
{
    for (unsigned wi = 0; wi < RESYNC_WORKERS; wi++) {
        struct worker *w = &m->workers[wi];
        if (w->busy)
            continue;
        for (unsigned li = 0; li < 2 && !w->busy; li++) {
            struct leg *t = &m->legs[li], *s = &m->legs[!li];
            if (!t->ready || t->state != LEG_RESYNC || !t->ndirty || !s->ready)
                continue;
            for (uint64_t c = 0; c < m->nchunks; c++) {
                if (!chunk_dirty(t, c) || chunk_busy(m, c) || write_active_on(m, c))
                    continue;
                if (chunk_dirty(s, c)) {
                    if (li == 0)
                        continue; /* dirty on both: leg 0 is the source (logged) */
                    say(m, "chunk %" PRIu64 " is behind on both legs; taking leg 0's", c);
                    clear_dirty(s, c);
                }
                uint64_t first = c * CHUNK_SECTORS;
                uint64_t n = first + CHUNK_SECTORS > m->sectors ? m->sectors - first
                                                                : CHUNK_SECTORS;
                struct blkif_read_args a = { .sector = first, .segs_count = 1 };
                a.segs[0] = (struct blkif_read_segment){ .buf = w->rb,
                                                         .offset = 0,
                                                         .sectors = (uint32_t)n };
                w->busy = true;
                w->target = t;
                w->source = s;
                w->chunk = c;
                if (blkif_read_submit(&s->fe, &w->rd, &a, w_read_done) != 0) {
                    w->busy = false;
                    return; /* no credit now: a completion kicks again */
                }
                s->inflight++;
                t->inflight++;
                break;
            }
        }
    }
}

/* ------------------------------------------------------------------------------ legs */

static void create_upper(struct mirror *m);

static void leg_info_done(struct blkif_get_info_txn *t, int status,
                          const struct blkif_get_info_result *res)
{
    struct leg *l = (struct leg *)((char *)t - offsetof(struct leg, info_txn));
    struct mirror *m = l->m;

    if (status != 0) {
        if (status != IDC_ERR_DISCONNECTED)
            idc_endpoint_disconnect(&l->fe.ep);
        return;
    }
    /* an unusable leg stays connected but unused (disconnecting would only reconnect at
       once); a new back-end process on its address brings a fresh connection and check */
    if (res->info.read_only) {
        say(m, "leg %u (%s) is read-only: not used", l->idx, l->address);
        return;
    }
    if (res->info.sectors == 0) {
        say(m, "leg %u (%s) is empty: not used", l->idx, l->address);
        return;
    }
    if (m->sectors == 0) {
        m->sectors = res->info.sectors;
        m->nchunks = (m->sectors + CHUNK_SECTORS - 1) / CHUNK_SECTORS;
        for (unsigned i = 0; i < 2; i++) {
            if (!(m->legs[i].dirty = calloc((size_t)(m->nchunks + 7) / 8, 1))) {
                fprintf(stderr, "blkmirror: out of memory\n");
                exit(1);
            }
        }
        if (m->initial_copy)
            mark_dirty(&m->legs[1], 0, m->sectors);
    } else if (res->info.sectors < m->sectors) {
        say(m, "leg %u (%s) has %" PRIu64 " sectors, fewer than %" PRIu64 ": not used", l->idx,
            l->address, res->info.sectors, m->sectors);
        return;
    }
    l->discard = res->info.has_discard && blkif_frontend_version(&l->fe) >= 2;
    l->ready = true;
    l->state = l->ndirty ? LEG_RESYNC : LEG_IN_SYNC;
    m->status_dirty = true;
    say(m, "leg %u (%s) up: %s%s", l->idx, l->address, leg_state_name[l->state],
        l->ndirty ? " (copying the chunks it missed)" : "");
    if (l->ndirty)
        say(m, "leg %u: %" PRIu64 " dirty chunks of %u KiB to copy", l->idx, l->ndirty,
            CHUNK_BYTES / 1024);
    create_upper(m);
    process_waiting(m);
    kick_resync(m);
}

static void leg_connect(struct blkif_frontend *fe)
{
    struct leg *l = blkif_frontend_user(fe);
    if (blkif_get_info_submit(fe, &l->info_txn, leg_info_done) != 0)
        idc_endpoint_disconnect(&fe->ep);
}

static void leg_disconnect(struct blkif_frontend *fe)
{
    struct leg *l = blkif_frontend_user(fe);
    struct mirror *m = l->m;

    /* its transactions have completed already (reads went back to waiting, writes marked it
       dirty); from now on writes are recorded for it */
    if (l->ready && !m->stopping) {
        l->losses++;
        say(m, "leg %u (%s) lost: %s", l->idx, l->address,
            m->legs[!l->idx].ready ? "continuing on the other leg" : "no leg left, requests wait");
    }
    l->ready = false;
    l->state = LEG_DOWN;
    m->status_dirty = true;
    blkif_frontend_disconnect_done(fe);
    process_waiting(m);
    kick_resync(m);
}

static const struct blkif_frontend_ops leg_ops = {
    .connect = leg_connect,
    .disconnect = leg_disconnect,
};

static void create_upper(struct mirror *m)
{
    if (m->serving)
        return;
    m->serving = true;
    blkif_backend_create_with(&m->be, m->ctx, m->address, &upper_ops, m,
                              &(struct idc_endpoint_config){ .max_transactions = UPPER_TXNS });
    say(m, "serving %s (%" PRIu64 " bytes) mirrored on %s and %s", m->address,
        m->sectors * BLKIF_SECTOR_SIZE, m->legs[0].address, m->legs[1].address);
}

/* ------------------------------------------------------------------------------ main */

static void write_status(struct mirror *m)
{
    char tmp[4200];
    FILE *f;

    m->status_dirty = false;
    if (!m->status_file)
        return;
    snprintf(tmp, sizeof tmp, "%s.tmp", m->status_file);
    if (!(f = fopen(tmp, "w")))
        return;
    for (unsigned i = 0; i < 2; i++) {
        const struct leg *l = &m->legs[i];
        fprintf(f,
                "leg%u=%s\nleg%u_dirty_chunks=%" PRIu64 "\nleg%u_losses=%" PRIu64
                "\nleg%u_resynced_chunks=%" PRIu64 "\n",
                i, leg_state_name[l->state], i, l->ndirty, i, l->losses, i, l->resynced_chunks);
    }
    fprintf(f,
            "requests=%" PRIu64 "\nreads=%" PRIu64 "\nwrites=%" PRIu64 "\ndegraded_writes=%" PRIu64
            "\nretried=%" PRIu64 "\n",
            m->requests, m->reads, m->writes, m->degraded_writes, m->retried);
    if (fclose(f) == 0)
        rename(tmp, m->status_file);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: blkmirror [-q] [-i] [-S STATUS_FILE] ADDRESS LEG0_ADDRESS LEG1_ADDRESS\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static struct mirror m;
    sigset_t sigs;
    int opt, err, sfd;

    while ((opt = getopt(argc, argv, "qiS:h")) != -1) {
        switch (opt) {
        case 'q':
            m.quiet = true;
            break;
        case 'i':
            m.initial_copy = true;
            break;
        case 'S':
            m.status_file = optarg;
            break;
        default:
            usage();
        }
    }
    if (argc - optind != 3)
        usage();
    m.address = argv[optind];
    list_init(&m.waiting);
    list_init(&m.active);

    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    if ((sfd = signalfd(-1, &sigs, SFD_CLOEXEC)) < 0) {
        perror("blkmirror: signalfd");
        return 1;
    }
    if ((err = idc_context_create(&m.ctx, NULL)) < 0) {
        fprintf(stderr, "blkmirror: %s\n", idc_strerror(err));
        return 1;
    }
    void *mem;
    if ((err = idc_buffer_alloc(m.ctx, (size_t)RESYNC_WORKERS * CHUNK_BYTES, &mem)) < 0) {
        fprintf(stderr, "blkmirror: resync buffers: %s\n", idc_strerror(err));
        return 1;
    }
    for (unsigned i = 0; i < RESYNC_WORKERS; i++) {
        struct worker *w = &m.workers[i];
        w->m = &m;
        w->mem = (char *)mem + (size_t)i * CHUNK_BYTES;
        if ((err = idc_buffer_register(m.ctx, w->mem, CHUNK_BYTES, IDC_RBUF_READ | IDC_RBUF_WRITE,
                                       &w->rb))) {
            fprintf(stderr, "blkmirror: register: %s\n", idc_strerror(err));
            return 1;
        }
    }
    /* bring-up: two front-ends now, the back-end once a leg has told us the size */
    for (unsigned i = 0; i < 2; i++) {
        struct leg *l = &m.legs[i];
        l->m = &m;
        l->idx = i;
        l->address = argv[optind + 1 + i];
        blkif_frontend_create_with(
            &l->fe, m.ctx, l->address, &leg_ops, l,
            &(struct idc_endpoint_config){ .max_transactions = UPPER_TXNS + RESYNC_WORKERS + 1 });
    }

    int64_t next_status = 0;
    for (;;) {
        struct pollfd pfd[2] = {
            { .fd = idc_context_fd(m.ctx), .events = POLLIN },
            { .fd = sfd, .events = POLLIN },
        };
        if (poll(pfd, 2, 200) < 0 && errno != EINTR)
            break;
        if (pfd[1].revents & POLLIN)
            break;
        if ((err = idc_context_dispatch(m.ctx, 0)) < 0) {
            fprintf(stderr, "blkmirror: dispatch: %s\n", idc_strerror(err));
            break;
        }
        if (m.status_dirty || now_ms() >= next_status) {
            write_status(&m);
            next_status = now_ms() + 200;
        }
    }
    /* orderly stop: the endpoints go down (legs see a disconnect), then the context */
    m.stopping = true;
    if (m.serving)
        blkif_backend_destroy(&m.be, NULL);
    for (unsigned i = 0; i < 2; i++)
        blkif_frontend_destroy(&m.legs[i].fe, NULL);
    for (int i = 0; i < 50; i++)
        idc_context_dispatch(m.ctx, 10);
    write_status(&m);
    fprintf(stderr,
            "blkmirror: %" PRIu64 " requests, %" PRIu64 " writes (%" PRIu64
            " on one leg only), leg losses %" PRIu64 "/%" PRIu64 "\n",
            m.requests, m.writes, m.degraded_writes, m.legs[0].losses, m.legs[1].losses);
    idc_context_destroy(m.ctx);
    for (unsigned i = 0; i < 2; i++)
        free(m.legs[i].dirty);
    close(sfd);
    return 0;
}
