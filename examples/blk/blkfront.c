/* blkfront: blkif front-end driver for one thread (see blkfront.h). */
#include "blkfront.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
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

/* Every slot busy, plus a flush or discard per slot: the transactions that can be out at once
   (the endpoint gets one more credit, for the info query). */
#define MAX_FLIGHTS (2 * BLKFRONT_SLOTS)

struct slot {
    void *mem;
    struct idc_rbuf rb_read;  /* POOL_RO: READ right only; POOL_RW: READ|WRITE */
    struct idc_rbuf rb_write; /* POOL_RW: WRITE right only */
};

/*
 * A chunk sent to the back end: the transaction lives here, not in the caller's chunk, so that
 * a chunk whose deadline passed can be finished towards the caller while its transaction is
 * still out (io is then NULL: abandoned). Until the transaction completes, the flight keeps
 * its slot, and an abandoned write keeps its sectors from new writes.
 */
struct blkfront_flight {
    union {
        struct blkif_read_txn rd;
        struct blkif_write_txn wr;
        struct blkif_flush_txn fl;
        struct blkif_discard_txn dc;
    } txn;
    struct blkfront *bf;
    struct blkfront_io *io; /* NULL: abandoned */
    enum blkfront_op op;
    int slot;         /* staging slot held, or -1 */
    int phase;        /* unaligned write: 1 while reading the edge sectors, then 2 */
    bool rmw;         /* unaligned write (read-modify-write) */
    uint64_t sector;  /* first sector covered */
    uint32_t sectors; /* sectors covered */
    uint32_t skew;    /* byte offset of the chunk's data inside the slot */
    struct blkfront_flight *next_free;
};

struct blkfront {
    struct idc_context *ctx;
    struct blkif_frontend fe;
    char address[128];
    const struct blkfront_hooks *hooks;
    int64_t retry_ns; /* 0: forever */
    void *pool[2];
    struct slot slots[BLKFRONT_SLOTS];             /* POOL_RO slots, then POOL_RW */
    struct blkfront_flight *owner[BLKFRONT_SLOTS]; /* flight holding each slot */
    unsigned free_slots[2][POOL_SLOTS];
    unsigned nfree[2];
    struct blkfront_flight flights[MAX_FLIGHTS];
    struct blkfront_flight *free_flights;
    struct blkfront_io *head, **tail; /* waiting to be sent, oldest first */
    unsigned in_flight;               /* flights in use (abandoned ones included) */
    unsigned with_deadline;           /* chunks held (queued or sent) that have a deadline */
    bool ready;                       /* connected and info read */
    int64_t down_since;               /* !ready: when the connection was lost (or creation) */
    bool closing;
    bool destroyed;
    struct blkif_get_info_txn info_txn;
    struct blkfront_info info;
    struct {
        uint64_t requests, reads, writes, flushes, discards;
        uint64_t bytes_read, bytes_written;
        uint64_t connects, disconnects, retries, failures, timeouts, late;
        int64_t first_io_ns, last_io_ns;
    } st;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const char *op_name(enum blkfront_op op)
{
    switch (op) {
    case BLKFRONT_READ:
        return "read";
    case BLKFRONT_WRITE:
        return "write";
    case BLKFRONT_FLUSH:
        return "flush";
    case BLKFRONT_DISCARD:
        return "discard";
    }
    return "?";
}

/* "IDC_ERR_BUSY" out of idc_strerror's "IDC_ERR_BUSY: ..." */
static void err_name(int err, char *out, size_t n)
{
    const char *s = idc_strerror(err);
    snprintf(out, n, "%.*s", (int)strcspn(s, ":"), s);
}

/* ------------------------------------------------------------------------------ status */

void blkfront_get_status(const struct blkfront *bf, struct blkfront_status *st)
{
    st->state = idc_endpoint_state(&bf->fe.ep);
    st->ready = bf->ready;
    st->last_err = idc_endpoint_last_error(&bf->fe.ep, st->why, sizeof st->why);
}

bool blkfront_refused(const struct blkfront_status *st)
{
    /* a refusal counts while the service is there to refuse us (an absent one is waited for) */
    return !st->ready && st->state != IDC_EP_ABSENT &&
           (st->last_err == IDC_ERR_BUSY || st->last_err == IDC_ERR_MISMATCH ||
            st->last_err == IDC_ERR_PERM);
}

void blkfront_describe(const struct blkfront_status *st, char *out, size_t n)
{
    static const char prefix[] = "refused by the peer: ";
    char name[40];

    if (st->ready) {
        snprintf(out, n, "connected");
        return;
    }
    if (st->last_err) {
        const char *why = st->why;
        err_name(st->last_err, name, sizeof name);
        if (strncmp(why, prefix, sizeof prefix - 1) == 0) {
            snprintf(out, n, "refused: %s (%s)%s", why + sizeof prefix - 1, name,
                     st->state == IDC_EP_ABSENT ? "; the service is absent now" : "");
            return;
        }
        snprintf(out, n, "%s%s(%s)%s", why, *why ? " " : "", name,
                 st->state == IDC_EP_ABSENT ? "; the service is absent now" : "");
        return;
    }
    switch (st->state) {
    case IDC_EP_ABSENT:
        snprintf(out, n, "the service is absent");
        break;
    case IDC_EP_DEAD:
        snprintf(out, n, "bad address or configuration (see the log)");
        break;
    default:
        snprintf(out, n, "no answer to the handshake yet");
        break;
    }
}

/* ------------------------------------------------------------------------------ queue */

static void push_front(struct blkfront *bf, struct blkfront_io *io)
{
    io->next_ = bf->head;
    bf->head = io;
    if (bf->tail == &bf->head)
        bf->tail = &io->next_;
}

static void finish(struct blkfront *bf, struct blkfront_io *io, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void finish(struct blkfront *bf, struct blkfront_io *io, int err, const char *fmt, ...)
{
    char why[512];

    if (io->deadline_ns)
        bf->with_deadline--;
    io->flight_ = NULL;
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
        bf->st.failures++;
    }
    bf->hooks->io_finished(io, err, err ? why : NULL);
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

static const char *status_name(int status)
{
    switch (status) {
    case BLKIF_ERROR_READ_ONLY:
        return "the export is read-only";
    case BLKIF_ERROR_RANGE:
        return "out of range";
    case BLKIF_ERROR_UNSUPPORTED:
        return "not supported by the back end";
    case BLKIF_ERROR_BAD_BUFFER:
        return "the back end could not use the buffer";
    default:
        return "I/O error in the back end";
    }
}

static struct blkfront_flight *flight_get(struct blkfront *bf, struct blkfront_io *io)
{
    struct blkfront_flight *fl = bf->free_flights;

    if (!fl)
        return NULL;
    bf->free_flights = fl->next_free;
    *fl = (struct blkfront_flight){ .bf = bf, .io = io, .op = io->op, .slot = -1 };
    io->flight_ = fl;
    bf->in_flight++;
    return fl;
}

static void flight_put(struct blkfront *bf, struct blkfront_flight *fl)
{
    if (fl->slot >= 0) {
        unsigned pool = (unsigned)fl->slot / POOL_SLOTS;
        bf->owner[fl->slot] = NULL;
        bf->free_slots[pool][bf->nfree[pool]++] = (unsigned)fl->slot;
    }
    if (fl->io)
        fl->io->flight_ = NULL;
    fl->io = NULL;
    fl->slot = -1;
    fl->next_free = bf->free_flights;
    bf->free_flights = fl;
    bf->in_flight--;
}

/* A flight ended (status as from a transaction: 0, > 0 blkif error, < 0 IDC_ERR_*). */
static void flight_end(struct blkfront_flight *fl, int status)
{
    struct blkfront *bf = fl->bf;
    struct blkfront_io *io = fl->io;

    if (!io) { /* abandoned after its deadline: only the slot (and the sectors) come back */
        bf->st.late++;
        flight_put(bf, fl);
        return;
    }
    if (status == 0 && io->op == BLKFRONT_READ)
        memcpy(io->buf, (char *)bf->slots[fl->slot].mem + fl->skew, io->len);
    flight_put(bf, fl);
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
        finish(bf, io, 0, NULL);
    } else if (status > 0) {
        finish(bf, io, status_to_errno(status), "%s", status_name(status));
    } else if (status == IDC_ERR_DISCONNECTED) {
        finish(bf, io, ESHUTDOWN, "the front end is shutting down");
    } else {
        finish(bf, io, EIO, "%s", idc_strerror(status));
    }
}

/* ------------------------------------------------------------------------------ protocol */

static int submit_write(struct blkfront *bf, struct blkfront_flight *fl);

static struct blkfront_flight *flight_of(void *txn)
{
    return (struct blkfront_flight *)((char *)txn - offsetof(struct blkfront_flight, txn));
}

static void read_done(struct blkif_read_txn *txn, int status, const struct blkif_read_result *res)
{
    struct blkfront_flight *fl = flight_of(txn);
    struct blkfront *bf = fl->bf;

    if (status == 0 && res->done != fl->sectors)
        status = BLKIF_ERROR_IO; /* short read: the back-end says so, believe it */
    if (status == 0 && fl->phase == 1 && fl->io) {
        /* unaligned write, edges read: merge the new bytes in and write the sectors back */
        memcpy((char *)bf->slots[fl->slot].mem + fl->skew, fl->io->buf, fl->io->len);
        fl->phase = 2;
        int err = submit_write(bf, fl);
        if (err == 0)
            return;
        status = err == IDC_ERR_AGAIN ? IDC_ERR_DISCONNECTED : err; /* resend from scratch */
    }
    flight_end(fl, status);
}

static void write_done(struct blkif_write_txn *txn, int status,
                       const struct blkif_write_result *res)
{
    struct blkfront_flight *fl = flight_of(txn);

    if (status == 0 && res->done != fl->sectors)
        status = BLKIF_ERROR_IO;
    flight_end(fl, status);
}

static void flush_done(struct blkif_flush_txn *txn, int status)
{
    flight_end(flight_of(txn), status);
}

static void discard_done(struct blkif_discard_txn *txn, int status)
{
    flight_end(flight_of(txn), status);
}

static int submit_read(struct blkfront *bf, struct blkfront_flight *fl)
{
    struct blkif_read_args a = { .sector = fl->sector, .segs_count = 1 };

    a.segs[0].buf = bf->slots[fl->slot].rb_write; /* the back-end writes into it */
    a.segs[0].offset = 0;
    a.segs[0].sectors = fl->sectors;
    return blkif_read_submit(&bf->fe, &fl->txn.rd, &a, read_done);
}

static int submit_write(struct blkfront *bf, struct blkfront_flight *fl)
{
    struct blkif_write_args a = { .sector = fl->sector, .segs_count = 1, .fua = fl->io->fua };

    a.segs[0].buf = bf->slots[fl->slot].rb_read; /* the back-end reads from it */
    a.segs[0].offset = 0;
    a.segs[0].sectors = fl->sectors;
    return blkif_write_submit(&bf->fe, &fl->txn.wr, &a, write_done);
}

/* Sectors [first, first+n) overlap those of a write in flight that this write must wait for?
   A read-modify-write waits for every overlapping write (the edge sectors it rewrites must not
   change between its read and its write); any write waits for an overlapping read-modify-write
   and for an abandoned write (which the back end may still carry out late). */
static bool overlaps_write(const struct blkfront *bf, uint64_t first, uint64_t n, bool rmw)
{
    for (unsigned i = 0; i < BLKFRONT_SLOTS; i++) {
        const struct blkfront_flight *o = bf->owner[i];
        if (!o || o->op != BLKFRONT_WRITE || (!rmw && !o->rmw && o->io))
            continue;
        if (o->sector < first + n && first < o->sector + o->sectors)
            return true;
    }
    return false;
}

static bool unaligned(const struct blkfront_io *io)
{
    return io->offset % BLKIF_SECTOR_SIZE || io->len % BLKIF_SECTOR_SIZE;
}

/* 0 (sent, or finished at once), IDC_ERR_AGAIN (nothing sent: no slot, no credit, or must wait
   for an overlapping write), IDC_ERR_DISCONNECTED, or another IDC_ERR_* for a chunk that cannot
   ever be sent. */
static int send_io(struct blkfront *bf, struct blkfront_io *io)
{
    struct blkfront_flight *fl;
    uint64_t sector = 0, sectors = 0;
    int pool = -1, err;

    switch (io->op) {
    case BLKFRONT_FLUSH:
        break;
    case BLKFRONT_DISCARD: {
        /* only whole sectors can be discarded; discarding is advisory, so edges stay */
        sector = (io->offset + BLKIF_SECTOR_SIZE - 1) / BLKIF_SECTOR_SIZE;
        uint64_t end = (io->offset + io->len) / BLKIF_SECTOR_SIZE;
        if (!bf->info.discard)
            return IDC_ERR_VERSION;
        if (end <= sector) {
            finish(bf, io, 0, NULL); /* nothing to do */
            return 0;
        }
        sectors = end - sector;
        break;
    }
    case BLKFRONT_READ:
    case BLKFRONT_WRITE:
        sector = io->offset / BLKIF_SECTOR_SIZE;
        sectors = (io->offset + io->len + BLKIF_SECTOR_SIZE - 1) / BLKIF_SECTOR_SIZE - sector;
        if (io->op == BLKFRONT_WRITE && overlaps_write(bf, sector, sectors, unaligned(io)))
            return IDC_ERR_AGAIN;
        /* plain writes stage in the sealed read-only pool; reads and read-modify-writes need a
           slot the back-end may write */
        pool = io->op == BLKFRONT_WRITE && !unaligned(io) ? POOL_RO : POOL_RW;
        if (bf->nfree[pool] == 0)
            return IDC_ERR_AGAIN;
        break;
    }
    if (!(fl = flight_get(bf, io)))
        return IDC_ERR_AGAIN;
    fl->sector = sector;
    fl->sectors = (uint32_t)sectors;
    switch (io->op) {
    case BLKFRONT_FLUSH:
        err = blkif_flush_submit(&bf->fe, &fl->txn.fl, flush_done);
        break;
    case BLKFRONT_DISCARD:
        err = blkif_discard_submit(
            &bf->fe, &fl->txn.dc,
            &(struct blkif_discard_args){ .sector = sector, .count = sectors }, discard_done);
        break;
    default:
        fl->slot = (int)bf->free_slots[pool][--bf->nfree[pool]];
        fl->skew = (uint32_t)(io->offset - sector * BLKIF_SECTOR_SIZE);
        fl->rmw = io->op == BLKFRONT_WRITE && unaligned(io);
        bf->owner[fl->slot] = fl;
        if (io->op == BLKFRONT_READ) {
            err = submit_read(bf, fl);
        } else if (fl->rmw) {
            fl->phase = 1; /* read the covering sectors first */
            err = submit_read(bf, fl);
        } else {
            memcpy(bf->slots[fl->slot].mem, io->buf, io->len);
            err = submit_write(bf, fl);
        }
        break;
    }
    if (err)
        flight_put(bf, fl);
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
    bf->down_since = 0;
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
    if (was_ready) /* the retry window starts now (a failed handshake does not restart it) */
        bf->down_since = now_ns();
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
    bf->retry_ns = (int64_t)cfg->retry_s * 1000000000;
    bf->down_since = now_ns();
    snprintf(bf->address, sizeof bf->address, "%s", cfg->address);
    for (unsigned i = MAX_FLIGHTS; i-- > 0;) {
        bf->flights[i].next_free = bf->free_flights;
        bf->flights[i].slot = -1;
        bf->free_flights = &bf->flights[i];
    }
    err = idc_context_create(&bf->ctx, &(struct idc_context_options){ .shm_dir = cfg->shm_dir,
                                                                      .log = cfg->log,
                                                                      .log_arg = cfg->log_arg });
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
    /* every flight out at once, plus the info query */
    blkif_frontend_create_with(
        &bf->fe, bf->ctx, cfg->address, &blkfront_ops, bf,
        &(struct idc_endpoint_config){ .max_transactions = MAX_FLIGHTS + 1 });
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

    if (!bf->ready && bf->head && bf->retry_ns) {
        int64_t left = bf->down_since + bf->retry_ns - now;
        if (left < t)
            t = left;
    }
    if (bf->with_deadline) {
        for (const struct blkfront_io *io = bf->head; io; io = io->next_)
            if (io->deadline_ns && io->deadline_ns - now < t)
                t = io->deadline_ns - now;
        for (unsigned i = 0; i < MAX_FLIGHTS; i++) {
            const struct blkfront_io *io = bf->flights[i].io;
            if (io && io->deadline_ns && io->deadline_ns - now < t)
                t = io->deadline_ns - now;
        }
    }
    if (t < 0)
        t = 0;
    return (int)((t + 999999) / 1000000);
}

void blkfront_queue(struct blkfront *bf, struct blkfront_io *io)
{
    io->bf_ = bf;
    io->flight_ = NULL;
    io->next_ = NULL;
    io->queued_ns_ = now_ns();
    bf->st.requests++;
    if (!bf->st.first_io_ns)
        bf->st.first_io_ns = io->queued_ns_;
    if (io->deadline_ns)
        bf->with_deadline++;
    if (bf->closing) {
        finish(bf, io, ESHUTDOWN, "the front end is shutting down");
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
        int err = send_io(bf, io);
        if (err == 0)
            continue;
        if (err == IDC_ERR_AGAIN || err == IDC_ERR_DISCONNECTED) {
            push_front(bf, io); /* completions, writable or reconnection: poll tries again */
            return;
        }
        /* this chunk itself cannot be sent (e.g. discard on a version-1 peer): fail it alone */
        if (err == IDC_ERR_VERSION)
            finish(bf, io, EOPNOTSUPP, "%s: not supported by the back end's protocol version",
                   op_name(io->op));
        else
            finish(bf, io, EINVAL, "%s cannot be sent: %s", op_name(io->op), idc_strerror(err));
    }
}

/* Why a chunk still waits, for the message when it fails. */
static void waiting_for(const struct blkfront *bf, const struct blkfront_io *io, char *out,
                        size_t n)
{
    struct blkfront_status st;
    char desc[200];

    if (io->flight_) {
        snprintf(out, n, "sent to %s, no answer from the back end", bf->address);
        return;
    }
    if (bf->ready) {
        snprintf(out, n, "not sent: %s",
                 bf->in_flight ? "waiting for staging slots held by earlier requests"
                               : "waiting for credit");
        return;
    }
    blkfront_get_status(bf, &st);
    blkfront_describe(&st, desc, sizeof desc);
    snprintf(out, n, "not sent: %s unreachable: %s", bf->address, desc);
}

/* Chunks whose deadline passed fail with EIO (sent ones are abandoned); while the back end is
   unreachable, once the retry window from the loss is over, every queued chunk fails. */
static void expire(struct blkfront *bf)
{
    int64_t now = now_ns();
    char why[512];

    if (bf->with_deadline) {
        for (unsigned i = 0; i < MAX_FLIGHTS; i++) {
            struct blkfront_flight *fl = &bf->flights[i];
            struct blkfront_io *io = fl->io;
            if (!io || !io->deadline_ns || io->deadline_ns > now)
                continue;
            waiting_for(bf, io, why, sizeof why);
            fl->io = NULL; /* abandoned: the flight keeps slot and sectors until answered */
            bf->st.timeouts++;
            finish(bf, io, EIO, "request deadline passed after %.1f s (%s)",
                   (double)(now - io->queued_ns_) / 1e9, why);
        }
        for (struct blkfront_io **pp = &bf->head; *pp && bf->with_deadline;) {
            struct blkfront_io *io = *pp;
            if (io->deadline_ns && io->deadline_ns <= now) {
                *pp = io->next_;
                if (bf->tail == &io->next_)
                    bf->tail = pp;
                waiting_for(bf, io, why, sizeof why);
                bf->st.timeouts++;
                finish(bf, io, EIO, "request deadline passed after %.1f s (%s)",
                       (double)(now - io->queued_ns_) / 1e9, why);
            } else {
                pp = &io->next_;
            }
        }
    }
    if (!bf->ready && bf->head && bf->retry_ns && now - bf->down_since >= bf->retry_ns) {
        struct blkfront_status st;
        char desc[200];
        blkfront_get_status(bf, &st);
        blkfront_describe(&st, desc, sizeof desc);
        snprintf(why, sizeof why, "%s unreachable for %.1f s (the retry window is %.0f s): %s",
                 bf->address, (double)(now - bf->down_since) / 1e9, (double)bf->retry_ns / 1e9,
                 desc);
        while (bf->head) {
            struct blkfront_io *io = bf->head;
            bf->head = io->next_;
            finish(bf, io, EIO, "%s", why);
        }
        bf->tail = &bf->head;
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
    /* not destroyed in time: the context goes with blkfront_free, without callbacks */
    for (unsigned i = 0; i < MAX_FLIGHTS; i++) {
        struct blkfront_io *io = bf->flights[i].io;
        if (io) {
            bf->flights[i].io = NULL;
            finish(bf, io, ESHUTDOWN, "the front end is shutting down");
        }
    }
    while (bf->head) {
        struct blkfront_io *io = bf->head;
        bf->head = io->next_;
        finish(bf, io, ESHUTDOWN, "the front end is shutting down");
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
    fprintf(f, "timeouts=%" PRIu64 "\nlate_answers=%" PRIu64 "\n", bf->st.timeouts, bf->st.late);
    fprintf(f, "active_seconds=%.3f\n", span > 0 ? (double)span / 1e9 : 0.0);
}
