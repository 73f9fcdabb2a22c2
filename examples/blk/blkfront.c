/* blkfront: blkif front-end driver for one thread (see blkfront.h). */
#include "blkfront.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * Staging slots come from two allocations, because the runtime shares an allocation either
 * sealed read-only or writable:
 *   - the first half (POOL_RO) is registered READ only: plain writes stage their data there,
 *     and the back-end can read it but never change it;
 *   - the second half (POOL_RW) is registered WRITE only (handed out with reads: the back-end
 *     writes into it) and READ|WRITE (for the write-back of a read-modify-write, which reads
 *     the edge sectors into the same slot first).
 */
enum { POOL_RO = 0, POOL_RW = 1, POOL_SLOTS = BLKFRONT_SLOTS / 2 };

struct slot {
    void *mem;
    struct idc_rbuf rb_read;  /* POOL_RO: READ right only; POOL_RW: READ|WRITE */
    struct idc_rbuf rb_write; /* POOL_RW: WRITE right only */
};

struct blkfront {
    struct idc_context *ctx;
    struct blkif_frontend fe;
    const struct blkfront_hooks *hooks;
    void *pool[2];
    struct slot slots[BLKFRONT_SLOTS];         /* POOL_RO slots, then POOL_RW */
    struct blkfront_io *owner[BLKFRONT_SLOTS]; /* chunk holding each slot */
    unsigned free_slots[2][POOL_SLOTS];
    unsigned nfree[2];
    struct blkfront_io *head, **tail; /* waiting to be sent, oldest first */
    unsigned in_flight;
    bool ready; /* connected and info read */
    bool closing;
    bool destroyed;
    struct blkif_get_info_txn info_txn;
    struct blkfront_info info;
    struct {
        uint64_t requests, reads, writes, flushes, discards;
        uint64_t bytes_read, bytes_written;
        uint64_t connects, disconnects, retries, failures;
        int64_t first_io_ns, last_io_ns;
    } st;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ------------------------------------------------------------------------------ queue */

static void push_front(struct blkfront *bf, struct blkfront_io *io)
{
    io->next_ = bf->head;
    bf->head = io;
    if (bf->tail == &bf->head)
        bf->tail = &io->next_;
}

static void finish(struct blkfront *bf, struct blkfront_io *io, int err)
{
    if (err)
        bf->st.failures++;
    bf->hooks->io_finished(io, err);
}

/* Application error codes of blkif (positive) to errno for the NBD client. */
static int status_to_errno(int status)
{
    switch (status) {
    case BLKIF_ERROR_READ_ONLY:
        return EROFS;
    case BLKIF_ERROR_RANGE:
        return EINVAL;
    case BLKIF_ERROR_UNSUPPORTED:
        return EOPNOTSUPP;
    default:
        return EIO;
    }
}

static void release_slot(struct blkfront *bf, struct blkfront_io *io)
{
    if (io->slot_ >= 0) {
        unsigned pool = (unsigned)io->slot_ / POOL_SLOTS;
        bf->owner[io->slot_] = NULL;
        bf->free_slots[pool][bf->nfree[pool]++] = (unsigned)io->slot_;
    }
    io->slot_ = -1;
}

/* Byte offset of the chunk's data inside its slot (the slot holds whole sectors). */
static uint32_t slot_skew(const struct blkfront_io *io)
{
    return (uint32_t)(io->offset - io->sector_ * BLKIF_SECTOR_SIZE);
}

static bool unaligned(const struct blkfront_io *io)
{
    return io->offset % BLKIF_SECTOR_SIZE || io->len % BLKIF_SECTOR_SIZE;
}

/* A chunk ended (status as from a transaction: 0, > 0 blkif error, < 0 IDC_ERR_*). */
static void io_end(struct blkfront *bf, struct blkfront_io *io, int status)
{
    bf->in_flight--;
    if (status == 0 && io->op == BLKFRONT_READ)
        memcpy(io->buf, (char *)bf->slots[io->slot_].mem + slot_skew(io), io->len);
    release_slot(bf, io);
    io->phase_ = 0;
    if (status == IDC_ERR_DISCONNECTED && !bf->closing) {
        /* the back-end went away with this chunk in flight: send it again after reconnecting */
        bf->st.retries++;
        push_front(bf, io);
        return;
    }
    if (status == 0) {
        bf->st.last_io_ns = now_ns();
        switch (io->op) {
        case BLKFRONT_READ:
            bf->st.reads++;
            bf->st.bytes_read += io->len;
            break;
        case BLKFRONT_WRITE:
            bf->st.writes++;
            bf->st.bytes_written += io->len;
            break;
        case BLKFRONT_FLUSH:
            bf->st.flushes++;
            break;
        case BLKFRONT_DISCARD:
            bf->st.discards++;
            break;
        }
    } else if (status != IDC_ERR_DISCONNECTED) {
        fprintf(stderr, "blkfront: %s of %" PRIu32 " bytes at %" PRIu64 " failed: %s\n",
                io->op == BLKFRONT_READ    ? "read"
                : io->op == BLKFRONT_WRITE ? "write"
                : io->op == BLKFRONT_FLUSH ? "flush"
                                           : "discard",
                io->len, io->offset, status > 0 ? "error from the back-end" : idc_strerror(status));
    }
    finish(bf, io,
           status == 0                      ? 0
           : status > 0                     ? status_to_errno(status)
           : status == IDC_ERR_DISCONNECTED ? ESHUTDOWN
                                            : EIO);
}

/* ------------------------------------------------------------------------------ protocol */

static int submit_write(struct blkfront *bf, struct blkfront_io *io);

static void read_done(struct blkif_read_txn *txn, int status, const struct blkif_read_result *res)
{
    struct blkfront_io *io = (struct blkfront_io *)((char *)txn -
                                                    offsetof(struct blkfront_io, txn_));
    struct blkfront *bf = io->bf_;

    if (status == 0 && res->done != io->sectors_)
        status = BLKIF_ERROR_IO; /* short read: the back-end says so, believe it */
    if (status == 0 && io->phase_ == 1) {
        /* unaligned write, edges read: merge the new bytes in and write the sectors back */
        memcpy((char *)bf->slots[io->slot_].mem + slot_skew(io), io->buf, io->len);
        io->phase_ = 2;
        int err = submit_write(bf, io);
        if (err == 0)
            return;
        status = err == IDC_ERR_AGAIN ? IDC_ERR_DISCONNECTED : err; /* resend from scratch */
    }
    io_end(bf, io, status);
}

static void write_done(struct blkif_write_txn *txn, int status,
                       const struct blkif_write_result *res)
{
    struct blkfront_io *io = (struct blkfront_io *)((char *)txn -
                                                    offsetof(struct blkfront_io, txn_));

    if (status == 0 && res->done != io->sectors_)
        status = BLKIF_ERROR_IO;
    io_end(io->bf_, io, status);
}

static void flush_done(struct blkif_flush_txn *txn, int status)
{
    struct blkfront_io *io = (struct blkfront_io *)((char *)txn -
                                                    offsetof(struct blkfront_io, txn_));
    io_end(io->bf_, io, status);
}

static void discard_done(struct blkif_discard_txn *txn, int status)
{
    struct blkfront_io *io = (struct blkfront_io *)((char *)txn -
                                                    offsetof(struct blkfront_io, txn_));
    io_end(io->bf_, io, status);
}

static int submit_read(struct blkfront *bf, struct blkfront_io *io)
{
    struct blkif_read_args a = { .sector = io->sector_, .segs_count = 1 };

    a.segs[0].buf = bf->slots[io->slot_].rb_write; /* the back-end writes into it */
    a.segs[0].offset = 0;
    a.segs[0].sectors = io->sectors_;
    return blkif_read_submit(&bf->fe, &io->txn_.rd, &a, read_done);
}

static int submit_write(struct blkfront *bf, struct blkfront_io *io)
{
    struct blkif_write_args a = { .sector = io->sector_, .segs_count = 1, .fua = io->fua };

    a.segs[0].buf = bf->slots[io->slot_].rb_read; /* the back-end reads from it */
    a.segs[0].offset = 0;
    a.segs[0].sectors = io->sectors_;
    return blkif_write_submit(&bf->fe, &io->txn_.wr, &a, write_done);
}

/* Sectors [first, first+n) of a chunk overlap those of any write in flight? (only RMW needs
   this: the edge sectors it rewrites must not change between its read and its write) */
static bool overlaps_write(const struct blkfront *bf, uint64_t first, uint64_t n, bool rmw_only)
{
    for (unsigned i = 0; i < BLKFRONT_SLOTS; i++) {
        const struct blkfront_io *o = bf->owner[i];
        if (!o || o->op != BLKFRONT_WRITE || (rmw_only && !unaligned(o)))
            continue;
        if (o->sector_ < first + n && first < o->sector_ + o->sectors_)
            return true;
    }
    return false;
}

/* 0, IDC_ERR_AGAIN (nothing sent: no slot, no credit, or must wait for an overlapping write),
   IDC_ERR_DISCONNECTED, or another IDC_ERR_* for a chunk that cannot ever be sent. */
static int send_io(struct blkfront *bf, struct blkfront_io *io)
{
    int err;

    switch (io->op) {
    case BLKFRONT_FLUSH:
        return blkif_flush_submit(&bf->fe, &io->txn_.fl, flush_done);
    case BLKFRONT_DISCARD: {
        /* only whole sectors can be discarded; discarding is advisory, so edges stay */
        uint64_t first = (io->offset + BLKIF_SECTOR_SIZE - 1) / BLKIF_SECTOR_SIZE;
        uint64_t end = (io->offset + io->len) / BLKIF_SECTOR_SIZE;
        if (!bf->info.discard)
            return IDC_ERR_VERSION;
        if (end <= first) {
            io_end(bf, io, 0); /* nothing to do: complete at once */
            return 0;
        }
        struct blkif_discard_args a = { .sector = first, .count = end - first };
        return blkif_discard_submit(&bf->fe, &io->txn_.dc, &a, discard_done);
    }
    case BLKFRONT_READ:
    case BLKFRONT_WRITE:
        break;
    }
    io->sector_ = io->offset / BLKIF_SECTOR_SIZE;
    io->sectors_ = (uint32_t)((io->offset + io->len + BLKIF_SECTOR_SIZE - 1) / BLKIF_SECTOR_SIZE -
                              io->sector_);
    if (io->op == BLKFRONT_WRITE && overlaps_write(bf, io->sector_, io->sectors_, !unaligned(io)))
        return IDC_ERR_AGAIN;
    /* plain writes stage in the sealed read-only pool; reads and read-modify-writes need a
       slot the back-end may write */
    unsigned pool = io->op == BLKFRONT_WRITE && !unaligned(io) ? POOL_RO : POOL_RW;
    if (bf->nfree[pool] == 0)
        return IDC_ERR_AGAIN;
    io->slot_ = (int)bf->free_slots[pool][--bf->nfree[pool]];
    bf->owner[io->slot_] = io;
    if (io->op == BLKFRONT_READ) {
        err = submit_read(bf, io);
    } else if (unaligned(io)) {
        io->phase_ = 1; /* read the covering sectors first */
        err = submit_read(bf, io);
    } else {
        memcpy(bf->slots[io->slot_].mem, io->buf, io->len);
        err = submit_write(bf, io);
    }
    if (err) {
        release_slot(bf, io);
        io->phase_ = 0;
    }
    return err;
}

static void info_done(struct blkif_get_info_txn *txn, int status,
                      const struct blkif_get_info_result *res)
{
    struct blkfront *bf = (struct blkfront *)((char *)txn - offsetof(struct blkfront, info_txn));

    if (status != 0) {
        if (status != IDC_ERR_DISCONNECTED) {
            fprintf(stderr, "blkfront: get_info failed: %s\n",
                    status > 0 ? "error from the back-end" : idc_strerror(status));
            idc_endpoint_disconnect(&bf->fe.ep);
        }
        return;
    }
    bf->info = (struct blkfront_info){
        .size = res->info.sectors * BLKIF_SECTOR_SIZE,
        .sector_size = res->info.physical_sector_size,
        .readonly = res->info.read_only,
        .discard = res->info.has_discard && blkif_frontend_version(&bf->fe) >= 2,
        .flush = res->info.has_flush,
    };
    if (res->info.sectors > UINT64_MAX / BLKIF_SECTOR_SIZE) {
        fprintf(stderr, "blkfront: back-end reports an impossible size\n");
        idc_endpoint_disconnect(&bf->fe.ep);
        return;
    }
    bf->ready = true;
    if (bf->hooks->state_changed)
        bf->hooks->state_changed(true, &bf->info);
}

static void on_resized(struct blkif_frontend *fe, const struct blkif_resized_args *args)
{
    struct blkfront *bf = blkif_frontend_user(fe);

    bf->info.size = args->sectors * BLKIF_SECTOR_SIZE;
    if (bf->hooks->state_changed)
        bf->hooks->state_changed(true, &bf->info);
}

/* ------------------------------------------------------------------------------ endpoint */

static void on_connect(struct blkif_frontend *fe)
{
    struct blkfront *bf = blkif_frontend_user(fe);

    bf->st.connects++;
    if (blkif_get_info_submit(fe, &bf->info_txn, info_done) != 0)
        idc_endpoint_disconnect(&fe->ep); /* cannot even ask: start over */
}

static void on_disconnect(struct blkif_frontend *fe)
{
    struct blkfront *bf = blkif_frontend_user(fe);

    /* every transaction in flight has completed with IDC_ERR_DISCONNECTED and was requeued */
    bool was_ready = bf->ready;
    bf->ready = false;
    bf->st.disconnects++;
    blkif_frontend_disconnect_done(fe);
    if (was_ready && bf->hooks->state_changed)
        bf->hooks->state_changed(false, &bf->info);
}

static const struct blkif_frontend_ops blkfront_ops = {
    .connect = on_connect,
    .disconnect = on_disconnect,
    .on_resized = on_resized,
};

int blkfront_new(struct blkfront **out, const struct blkfront_config *cfg)
{
    struct blkfront *bf;
    int err;

    *out = NULL;
    if (!(bf = calloc(1, sizeof *bf)))
        return IDC_ERR_NOMEM;
    bf->hooks = cfg->hooks;
    bf->head = NULL;
    bf->tail = &bf->head;
    err = idc_context_create(&bf->ctx, &(struct idc_context_options){ .shm_dir = cfg->shm_dir });
    if (err)
        goto err;
    for (unsigned p = 0; p < 2; p++) {
        err = idc_buffer_alloc(bf->ctx, (size_t)POOL_SLOTS * BLKFRONT_SLOT_SIZE, &bf->pool[p]);
        if (err)
            goto err;
    }
    for (unsigned i = 0; i < BLKFRONT_SLOTS; i++) {
        struct slot *s = &bf->slots[i];
        unsigned p = i / POOL_SLOTS;
        s->mem = (char *)bf->pool[p] + (size_t)(i % POOL_SLOTS) * BLKFRONT_SLOT_SIZE;
        if (p == POOL_RO) {
            err = idc_buffer_register(bf->ctx, s->mem, BLKFRONT_SLOT_SIZE, IDC_RBUF_READ,
                                      &s->rb_read);
        } else if ((err = idc_buffer_register(bf->ctx, s->mem, BLKFRONT_SLOT_SIZE,
                                              IDC_RBUF_READ | IDC_RBUF_WRITE, &s->rb_read)) == 0) {
            err = idc_buffer_register(bf->ctx, s->mem, BLKFRONT_SLOT_SIZE, IDC_RBUF_WRITE,
                                      &s->rb_write);
        }
        if (err)
            goto err;
    }
    for (unsigned p = 0; p < 2; p++) /* lowest slot on top: reuse keeps few slots warm */
        for (unsigned k = 0; k < POOL_SLOTS; k++)
            bf->free_slots[p][bf->nfree[p]++] = p * POOL_SLOTS + POOL_SLOTS - 1 - k;
    /* every slot busy, plus a flush or discard per slot and the info query */
    blkif_frontend_create_with(
        &bf->fe, bf->ctx, cfg->address, &blkfront_ops, bf,
        &(struct idc_endpoint_config){ .max_transactions = 2 * BLKFRONT_SLOTS + 1 });
    *out = bf;
    return 0;

err:
    blkfront_free(bf);
    return err;
}

int blkfront_fd(const struct blkfront *bf)
{
    return idc_context_fd(bf->ctx);
}

int blkfront_timeout_ms(const struct blkfront *bf, int max_ms)
{
    int64_t now = now_ns(), t = (int64_t)max_ms * 1000000;

    if (!bf->ready) {
        for (const struct blkfront_io *io = bf->head; io; io = io->next_) {
            int64_t left = io->deadline_ns - now;
            if (left < t)
                t = left < 0 ? 0 : left;
        }
    }
    return (int)((t + 999999) / 1000000);
}

void blkfront_queue(struct blkfront *bf, struct blkfront_io *io)
{
    io->bf_ = bf;
    io->slot_ = -1;
    io->phase_ = 0;
    io->next_ = NULL;
    bf->st.requests++;
    if (!bf->st.first_io_ns)
        bf->st.first_io_ns = now_ns();
    if (bf->closing) {
        finish(bf, io, ESHUTDOWN);
        return;
    }
    *bf->tail = io;
    bf->tail = &io->next_;
}

/* Sends queued chunks, oldest first, while connected and slots and credits last. */
static void pump(struct blkfront *bf)
{
    while (bf->ready && bf->head) {
        struct blkfront_io *io = bf->head;

        bf->head = io->next_;
        if (!bf->head)
            bf->tail = &bf->head;
        bf->in_flight++;
        int err = send_io(bf, io);
        if (err == 0)
            continue;
        bf->in_flight--;
        if (err == IDC_ERR_AGAIN || err == IDC_ERR_DISCONNECTED) {
            push_front(bf, io); /* completions, writable or reconnection: poll tries again */
            return;
        }
        /* this chunk itself cannot be sent (e.g. discard on a version-1 peer): fail it alone */
        fprintf(stderr, "blkfront: cannot send a request: %s\n", idc_strerror(err));
        finish(bf, io, err == IDC_ERR_VERSION ? EOPNOTSUPP : EINVAL);
    }
}

/* While the back-end is unreachable, chunks whose deadline passed fail with EIO. */
static void expire(struct blkfront *bf)
{
    int64_t now = now_ns();
    struct blkfront_io **pp = &bf->head;

    if (bf->ready)
        return;
    while (*pp) {
        struct blkfront_io *io = *pp;
        if (io->deadline_ns && io->deadline_ns <= now) {
            *pp = io->next_;
            if (bf->tail == &io->next_)
                bf->tail = pp;
            finish(bf, io, EIO);
        } else {
            pp = &io->next_;
        }
    }
}

void blkfront_poll(struct blkfront *bf)
{
    int rc = idc_context_dispatch(bf->ctx, 0);
    if (rc < 0 && rc != IDC_ERR_AGAIN)
        fprintf(stderr, "blkfront: dispatch: %s\n", idc_strerror(rc));
    pump(bf);
    expire(bf);
}

/* The endpoint's storage is already released here (its user pointer is gone). */
static void destroyed(struct blkif_frontend *fe)
{
    struct blkfront *bf = (struct blkfront *)((char *)fe - offsetof(struct blkfront, fe));
    bf->destroyed = true;
}

void blkfront_close(struct blkfront *bf)
{
    int64_t until = now_ns() + 2000000000;

    bf->closing = true;
    blkif_frontend_destroy(&bf->fe, destroyed);
    while (!bf->destroyed && now_ns() < until)
        idc_context_dispatch(bf->ctx, 100);
    while (bf->head) {
        struct blkfront_io *io = bf->head;
        bf->head = io->next_;
        finish(bf, io, ESHUTDOWN);
    }
    bf->tail = &bf->head;
}

void blkfront_free(struct blkfront *bf)
{
    if (!bf)
        return;
    for (unsigned p = 0; p < 2; p++)
        if (bf->ctx && bf->pool[p])
            idc_buffer_free(bf->ctx, bf->pool[p]);
    idc_context_destroy(bf->ctx);
    free(bf);
}

bool blkfront_busy(const struct blkfront *bf)
{
    return bf->in_flight || bf->head;
}

void blkfront_print_stats(const struct blkfront *bf, FILE *f)
{
    int64_t span = bf->st.last_io_ns - bf->st.first_io_ns;

    fprintf(f, "pid=%ld\n", (long)getpid());
    fprintf(f, "connected=%d\n", bf->ready ? 1 : 0);
    fprintf(f, "size=%" PRIu64 "\n", bf->info.size);
    fprintf(f, "requests=%" PRIu64 "\n", bf->st.requests);
    fprintf(f, "reads=%" PRIu64 "\nwrites=%" PRIu64 "\nflushes=%" PRIu64 "\ndiscards=%" PRIu64 "\n",
            bf->st.reads, bf->st.writes, bf->st.flushes, bf->st.discards);
    fprintf(f, "bytes_read=%" PRIu64 "\nbytes_written=%" PRIu64 "\n", bf->st.bytes_read,
            bf->st.bytes_written);
    fprintf(f, "connects=%" PRIu64 "\nreconnects=%" PRIu64 "\n", bf->st.connects,
            bf->st.connects ? bf->st.connects - 1 : 0);
    fprintf(f, "retries=%" PRIu64 "\nfailures=%" PRIu64 "\n", bf->st.retries, bf->st.failures);
    fprintf(f, "active_seconds=%.3f\n", span > 0 ? (double)span / 1e9 : 0.0);
}
