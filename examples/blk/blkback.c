/*
 * blkback: a blkif back-end serving a file, a block device or a RAM disk.
 *
 *   blkback [-r] [-q] [-s SIZE] [-p USEC] [--shared[=N] [--cluster-aware]] ADDRESS FILE|ram:SIZE
 *
 *   -r, --read-only    read-only export (writes and discards fail with READ_ONLY)
 *   -q, --quiet        no connection log lines
 *   -s, --size SIZE    create FILE (or extend it) to SIZE bytes (k/M/G suffixes)
 *   -p, --spin USEC    spin-then-block: after work, poll this long for more before sleeping
 *   --shared[=N]       serve up to N front ends at once (default 8), each on its own connection
 *   --cluster-aware    with --shared: allow writes (the front ends coordinate them)
 *
 * One owner per device. By default the export is exclusive: while one front end is connected,
 * another is refused at once (IDC_ERR_BUSY, which the nbdkit front end reports when it starts).
 * --shared creates N backend endpoints on the same address with IDC_EP_SHARED, each taking one
 * front end. Several front ends writing one disk corrupt it unless they coordinate (a cluster
 * file system, a lock manager), so --shared needs --read-only unless --cluster-aware says they
 * do; blkback itself orders nothing between connections.
 *
 * Reads and writes never carry data in frames: each segment names a buffer the front-end
 * registered, and blkback moves the bytes with idc_send_to_remote_buffer (reads) and
 * idc_receive_from_remote_buffer (writes), then completes the request. Every request is
 * independent, so many are in flight at once (the endpoint's transaction quota) and their
 * transfers overlap; the file I/O itself is synchronous on this thread.
 *
 * SIGINT/SIGTERM take the endpoints down cleanly and print counters; SIGUSR1 prints them.
 */
#include <errno.h>
#include <getopt.h>
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
#include "store.h"

/* Largest request accepted: MAX_SEGMENTS segments, bounded so one request cannot make the
   back-end allocate gigabytes. */
#define BLKBACK_MAX_IO (16u << 20)

/* Most front ends one blkback serves at once (--shared=N). */
#define BLKBACK_MAX_SHARED 64

struct blkback;

/* One backend endpoint and the requests of its connection. */
struct conn {
    struct blkif_backend be;
    struct blkback *bb;
    unsigned idx; /* 1-based, for the log */
    bool connected;
    unsigned held;    /* requests not yet completed */
    struct bio *live; /* reads/writes whose request is not completed */
};

struct blkback {
    struct conn *conns;
    unsigned nconns; /* 1, or N with --shared */
    bool shared;
    unsigned destroyed; /* endpoints whose destroy completed */
    unsigned connected; /* connections up now */
    struct blk_store store;
    bool quiet;
    bool stopping;
    struct {
        uint64_t requests, reads, writes, flushes, discards, errors;
        uint64_t bytes_read, bytes_written, connects;
    } st;
};

/* One read or write in progress: the private bounce buffer the transfers use. */
struct bio {
    struct conn *conn;
    struct blkback *bb;
    struct idc_request *req; /* NULL once completed (e.g. after a disconnect) */
    bool write;
    bool fua;
    uint64_t sector;
    uint64_t sectors;
    unsigned pending;        /* transfers not finished */
    int xfer_err;            /* first transfer error (IDC_ERR_*) */
    struct bio *next, *prev; /* conn.live, for disconnect; or the free list */
    bool direct;             /* data points into the RAM disk itself */
    uint8_t *data;           /* the bytes: buf, or the RAM disk */
    size_t cap;              /* bytes of buf */
    uint8_t buf[];
};

/* Finished bios are kept for reuse (no malloc, no fresh pages on the hot path). */
#define BIO_POOL    64
#define BIO_MIN_CAP (1u << 20)
static struct bio *bio_pool;
static unsigned bio_pool_len;

static struct bio *bio_get(size_t len)
{
    struct bio **pp = &bio_pool;
    for (struct bio *b = bio_pool; b; pp = &b->next, b = b->next) {
        if (b->cap >= len) {
            *pp = b->next;
            bio_pool_len--;
            return b;
        }
    }
    size_t cap = len < BIO_MIN_CAP ? BIO_MIN_CAP : len;
    struct bio *b = malloc(sizeof *b + cap);
    if (b)
        b->cap = cap;
    return b;
}

static void bio_put(struct bio *b)
{
    if (bio_pool_len >= BIO_POOL || b->cap > BIO_MIN_CAP) {
        free(b);
        return;
    }
    b->next = bio_pool;
    bio_pool = b;
    bio_pool_len++;
}

static void say(const struct blkback *bb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(const struct blkback *bb, const char *fmt, ...)
{
    va_list ap;

    if (bb->quiet)
        return;
    va_start(ap, fmt);
    fputs("blkback: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static enum blkif_error errno_to_blkif(int err)
{
    switch (err) {
    case -EROFS:
        return BLKIF_ERROR_READ_ONLY;
    case -EINVAL:
        return BLKIF_ERROR_RANGE;
    default:
        return BLKIF_ERROR_IO;
    }
}

static void unlink_bio(struct bio *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else if (b->conn->live == b)
        b->conn->live = b->next;
    if (b->next)
        b->next->prev = b->prev;
    b->next = b->prev = NULL;
}

/* Completes the request (if still held) with done sectors or an error; frees b once no
   transfer uses its buffer any more. */
static void bio_complete(struct bio *b, enum blkif_error err)
{
    struct blkback *bb = b->bb;

    if (b->req) {
        if (err)
            bb->st.errors++;
        if (b->write) {
            if (err)
                blkif_write_fail(b->req, err);
            else
                blkif_write_reply(b->req, &(struct blkif_write_result){ .done = b->sectors });
        } else {
            if (err)
                blkif_read_fail(b->req, err);
            else
                blkif_read_reply(b->req, &(struct blkif_read_result){ .done = b->sectors });
        }
        b->req = NULL;
        b->conn->held--;
        unlink_bio(b);
    }
    if (b->pending == 0)
        bio_put(b);
}

static void transfer_done(void *arg, int status)
{
    struct bio *b = arg;
    struct blkback *bb = b->bb;

    b->pending--;
    if (status && !b->xfer_err)
        b->xfer_err = status;
    if (b->pending)
        return;
    if (!b->req) { /* the connection went away meanwhile */
        bio_put(b);
        return;
    }
    if (b->xfer_err) {
        say(bb, "%s of sector %" PRIu64 ": buffer transfer failed: %s", b->write ? "write" : "read",
            b->sector, idc_strerror(b->xfer_err));
        bio_complete(b, BLKIF_ERROR_BAD_BUFFER);
        return;
    }
    size_t len = (size_t)(b->sectors * BLKIF_SECTOR_SIZE);
    if (b->write) {
        int err = b->direct
                      ? 0
                      : blk_store_write(&bb->store, b->data, b->sector * BLKIF_SECTOR_SIZE, len);
        if (!err && b->fua)
            err = blk_store_flush(&bb->store);
        if (err) {
            bio_complete(b, errno_to_blkif(err));
            return;
        }
        bb->st.writes++;
        bb->st.bytes_written += len;
    } else {
        bb->st.reads++;
        bb->st.bytes_read += len;
    }
    bio_complete(b, 0);
}

/* Common part of read and write: checks the request, then starts one transfer per segment.
   segs are read_segment or write_segment (same layout but for the rights). */
static void start_io(struct conn *c, struct idc_request *req, bool write, bool fua, uint64_t sector,
                     uint32_t nsegs, const struct idc_rbuf *const bufs[], const uint32_t offsets[],
                     const uint32_t counts[])
{
    struct blkback *bb = c->bb;
    struct idc_context *ctx = idc_endpoint_context(idc_request_endpoint(req));
    uint64_t sectors = 0;
    struct bio *b;

    bb->st.requests++;
    for (uint32_t i = 0; i < nsegs; i++) {
        if (offsets[i] % BLKIF_SECTOR_SIZE) {
            bb->st.errors++;
            if (write)
                blkif_write_fail(req, BLKIF_ERROR_BAD_BUFFER);
            else
                blkif_read_fail(req, BLKIF_ERROR_BAD_BUFFER);
            return;
        }
        sectors += counts[i];
    }
    enum blkif_error err = 0;
    if (write && bb->store.readonly)
        err = BLKIF_ERROR_READ_ONLY;
    else if (sectors == 0 || sectors > BLKBACK_MAX_IO / BLKIF_SECTOR_SIZE)
        err = BLKIF_ERROR_RANGE;
    else if (sector > UINT64_MAX / BLKIF_SECTOR_SIZE ||
             !blk_store_range_ok(&bb->store, sector * BLKIF_SECTOR_SIZE,
                                 sectors * BLKIF_SECTOR_SIZE))
        err = BLKIF_ERROR_RANGE;
    if (err) {
        bb->st.errors++;
        if (write)
            blkif_write_fail(req, err);
        else
            blkif_read_fail(req, err);
        return;
    }

    size_t len = (size_t)(sectors * BLKIF_SECTOR_SIZE);
    if (!(b = bio_get(len))) {
        bb->st.errors++;
        if (write)
            blkif_write_fail(req, BLKIF_ERROR_IO);
        else
            blkif_read_fail(req, BLKIF_ERROR_IO);
        return;
    }
    size_t cap = b->cap;
    *b = (struct bio){ .conn = c,
                       .bb = bb,
                       .req = req,
                       .write = write,
                       .fua = fua,
                       .sector = sector,
                       .sectors = sectors,
                       .cap = cap,
                       .data = b->buf };
    /* RAM disk: the transfers go straight to/from the disk's memory, one copy in all (a
       failed write may then leave part of the range written, as on a real disk) */
    if (bb->store.ram) {
        b->direct = true;
        b->data = bb->store.ram + sector * BLKIF_SECTOR_SIZE;
    }
    b->next = c->live;
    if (c->live)
        c->live->prev = b;
    c->live = b;
    c->held++;

    if (!write && !b->direct) {
        int rc = blk_store_read(&bb->store, b->data, sector * BLKIF_SECTOR_SIZE, len);
        if (rc) {
            bio_complete(b, errno_to_blkif(rc));
            return;
        }
    }
    /* one transfer per segment, all in flight together; the last completion finishes */
    size_t pos = 0;
    b->pending = 1; /* held while starting, so no completion frees b */
    for (uint32_t i = 0; i < nsegs; i++) {
        size_t n = (size_t)counts[i] * BLKIF_SECTOR_SIZE;
        int rc;
        if (n == 0)
            continue;
        b->pending++;
        if (write)
            rc = idc_receive_from_remote_buffer(ctx, bufs[i], offsets[i], b->data + pos, n,
                                                transfer_done, b);
        else
            rc = idc_send_to_remote_buffer(ctx, bufs[i], offsets[i], b->data + pos, n,
                                           transfer_done, b);
        if (rc) {
            b->pending--;
            if (!b->xfer_err)
                b->xfer_err = rc;
            break;
        }
        pos += n;
    }
    transfer_done(b, 0); /* drop the starting reference */
}

/* ------------------------------------------------------------------------------ handlers */

static struct blkback *bb_of(struct blkif_backend *be)
{
    return ((struct conn *)blkif_backend_user(be))->bb;
}

static void on_get_info(struct blkif_backend *be, struct idc_request *req)
{
    struct blkback *bb = bb_of(be);
    struct blkif_get_info_result r = {
        .info = {
            .sectors = bb->store.size / BLKIF_SECTOR_SIZE,
            .physical_sector_size = BLKIF_SECTOR_SIZE,
            .type = BLKIF_MEDIA_DISK,
            .read_only = bb->store.readonly,
            .has_flush = bb->store.fd >= 0,
            .has_discard = !bb->store.readonly,
        },
    };
    snprintf(r.info.serial, sizeof r.info.serial, "idc-blkback-%ld", (long)getpid() % 100000);
    blkif_get_info_reply(req, &r);
}

static void on_read(struct blkif_backend *be, struct idc_request *req,
                    const struct blkif_read_args *a)
{
    const struct idc_rbuf *bufs[BLKIF_MAX_SEGMENTS];
    uint32_t offs[BLKIF_MAX_SEGMENTS], counts[BLKIF_MAX_SEGMENTS];

    for (uint32_t i = 0; i < a->segs_count; i++) {
        bufs[i] = &a->segs[i].buf;
        offs[i] = a->segs[i].offset;
        counts[i] = a->segs[i].sectors;
    }
    start_io(blkif_backend_user(be), req, false, false, a->sector, a->segs_count, bufs, offs,
             counts);
}

static void on_write(struct blkif_backend *be, struct idc_request *req,
                     const struct blkif_write_args *a)
{
    const struct idc_rbuf *bufs[BLKIF_MAX_SEGMENTS];
    uint32_t offs[BLKIF_MAX_SEGMENTS], counts[BLKIF_MAX_SEGMENTS];

    for (uint32_t i = 0; i < a->segs_count; i++) {
        bufs[i] = &a->segs[i].buf;
        offs[i] = a->segs[i].offset;
        counts[i] = a->segs[i].sectors;
    }
    start_io(blkif_backend_user(be), req, true, a->fua, a->sector, a->segs_count, bufs, offs,
             counts);
}

static void on_flush(struct blkif_backend *be, struct idc_request *req)
{
    struct blkback *bb = bb_of(be);
    int err = blk_store_flush(&bb->store);

    bb->st.requests++;
    bb->st.flushes++;
    if (err) {
        bb->st.errors++;
        blkif_flush_fail(req, BLKIF_ERROR_IO);
    } else {
        blkif_flush_reply(req);
    }
}

static void on_discard(struct blkif_backend *be, struct idc_request *req,
                       const struct blkif_discard_args *a)
{
    struct blkback *bb = bb_of(be);
    int err;

    bb->st.requests++;
    bb->st.discards++;
    if (bb->store.readonly)
        err = -EROFS;
    else if (a->sector > UINT64_MAX / BLKIF_SECTOR_SIZE ||
             a->count > UINT64_MAX / BLKIF_SECTOR_SIZE)
        err = -EINVAL;
    else
        err = blk_store_discard(&bb->store, a->sector * BLKIF_SECTOR_SIZE,
                                a->count * BLKIF_SECTOR_SIZE);
    if (err) {
        bb->st.errors++;
        blkif_discard_fail(req, errno_to_blkif(err));
    } else {
        blkif_discard_reply(req);
    }
}

/* ------------------------------------------------------------------------------ lifecycle */

static void on_connect(struct blkif_backend *be)
{
    struct conn *c = blkif_backend_user(be);
    struct blkback *bb = c->bb;

    bb->st.connects++;
    c->connected = true;
    bb->connected++;
    if (bb->shared)
        say(bb,
            "front-end connected on connection %u (protocol version %" PRIu32 "; %u of %u in use)",
            c->idx, blkif_backend_version(be), bb->connected, bb->nconns);
    else
        say(bb, "front-end connected (protocol version %" PRIu32 ")", blkif_backend_version(be));
}

static void on_disconnect(struct blkif_backend *be)
{
    struct conn *c = blkif_backend_user(be);
    struct blkback *bb = c->bb;

    /* complete what we hold (the results go nowhere); transfers still running finish on
       their own and then free their bio */
    while (c->live)
        bio_complete(c->live, BLKIF_ERROR_IO);
    if (c->connected) {
        c->connected = false;
        bb->connected--;
    }
    if (bb->shared)
        say(bb, "front-end disconnected from connection %u", c->idx);
    else
        say(bb, "front-end disconnected");
    blkif_backend_disconnect_done(be);
}

static const struct blkif_backend_ops blkback_ops = {
    .connect = on_connect,
    .disconnect = on_disconnect,
    .on_get_info = on_get_info,
    .on_read = on_read,
    .on_write = on_write,
    .on_flush = on_flush,
    .on_discard = on_discard,
};

/* The endpoint's storage is already released here (its user pointer is gone): find our state
   from the storage address instead. */
static void destroyed(struct blkif_backend *be)
{
    struct conn *c = (struct conn *)((char *)be - offsetof(struct conn, be));
    if (++c->bb->destroyed == c->bb->nconns)
        c->bb->stopping = true;
}

static void print_stats(const struct blkback *bb)
{
    fprintf(stderr,
            "blkback: %" PRIu64 " requests (%" PRIu64 " reads, %" PRIu64 " writes, %" PRIu64
            " flushes, %" PRIu64 " discards, %" PRIu64 " errors), %" PRIu64 " bytes read, %" PRIu64
            " bytes written, %" PRIu64 " connections\n",
            bb->st.requests, bb->st.reads, bb->st.writes, bb->st.flushes, bb->st.discards,
            bb->st.errors, bb->st.bytes_read, bb->st.bytes_written, bb->st.connects);
}

static const char help_text[] =
    "usage: blkback [OPTIONS] ADDRESS FILE|ram:SIZE\n"
    "Serves FILE (a file or block device) or a RAM disk of SIZE bytes as a blkif block device\n"
    "on ADDRESS (shm:NAME, or xen:...).\n"
    "\n"
    "  -r, --read-only     read-only export: writes and discards fail (READ_ONLY)\n"
    "  -q, --quiet         no connection log lines\n"
    "  -s, --size SIZE     create FILE, or extend it, to SIZE bytes (k, M, G suffixes)\n"
    "  -p, --spin USEC     after work, poll this long for more before sleeping\n"
    "      --shared[=N]    serve up to N front ends at once (default 8, at most 64), each on\n"
    "                      its own connection; needs --read-only unless --cluster-aware\n"
    "      --cluster-aware with --shared: allow writes, because the front ends coordinate\n"
    "                      them (a cluster file system); blkback orders nothing between them\n"
    "  -h, --help          this text\n"
    "\n"
    "One owner per device: without --shared the export is exclusive, and a second front end\n"
    "is refused at once (IDC_ERR_BUSY) while one is connected; it gets the device once the\n"
    "first has left. Several front ends writing one disk without coordination corrupt it,\n"
    "hence --shared needs --read-only or --cluster-aware.\n"
    "\n"
    "  e.g. blkback shm:blk0 disk.img    blkback -r shm:cd0 ram:64M\n"
    "       blkback --shared=4 --read-only shm:base base.img\n"
    "SIGINT/SIGTERM stop it cleanly and print counters; SIGUSR1 prints them.\n";

static void usage(void)
{
    fputs("usage: blkback [-r] [-q] [-s SIZE] [-p USEC] [--shared[=N] [--cluster-aware]]\n"
          "               ADDRESS FILE|ram:SIZE       (blkback --help for more)\n",
          stderr);
    exit(2);
}

/* Endpoints that serve the address now: published and waiting, or connected. */
static unsigned serving(const struct blkback *bb)
{
    unsigned n = 0;
    for (unsigned i = 0; i < bb->nconns; i++) {
        enum idc_endpoint_state st = idc_endpoint_state(&bb->conns[i].be.ep);
        n += st == IDC_EP_PRESENT || st == IDC_EP_CONNECTED || st == IDC_EP_DISCONNECTING;
    }
    return n;
}

int main(int argc, char **argv)
{
    enum { OPT_SHARED = 1000, OPT_CLUSTER };
    static const struct option longopts[] = {
        { "read-only", no_argument, NULL, 'r' },
        { "quiet", no_argument, NULL, 'q' },
        { "size", required_argument, NULL, 's' },
        { "spin", required_argument, NULL, 'p' },
        { "shared", optional_argument, NULL, OPT_SHARED },
        { "cluster-aware", no_argument, NULL, OPT_CLUSTER },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct blkback bb = { .store = { .fd = -1 }, .nconns = 1 };
    struct idc_context *ctx = NULL;
    uint64_t create = 0;
    bool readonly = false, cluster_aware = false;
    unsigned long spin_us = 0;
    sigset_t sigs;
    int opt, err, sfd;

    while ((opt = getopt_long(argc, argv, "rqs:p:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'p':
            spin_us = strtoul(optarg, NULL, 10);
            break;
        case 'r':
            readonly = true;
            break;
        case 'q':
            bb.quiet = true;
            break;
        case 's':
            if (blk_parse_size(optarg, &create) < 0 || create == 0) {
                fprintf(stderr, "blkback: -s %s: not a size\n", optarg);
                return 2;
            }
            break;
        case OPT_SHARED: {
            char *end;
            unsigned long n = optarg ? strtoul(optarg, &end, 10) : 8;
            if (optarg && (*end || end == optarg || n < 1 || n > BLKBACK_MAX_SHARED)) {
                fprintf(stderr, "blkback: --shared=%s: expected 1 to %u front ends\n", optarg,
                        BLKBACK_MAX_SHARED);
                return 2;
            }
            bb.shared = true;
            bb.nconns = (unsigned)n;
            break;
        }
        case OPT_CLUSTER:
            cluster_aware = true;
            break;
        case 'h':
            fputs(help_text, stdout);
            return 0;
        default:
            usage();
        }
    }
    if (argc - optind != 2)
        usage();
    if (cluster_aware && !bb.shared) {
        fprintf(stderr, "blkback: --cluster-aware goes with --shared\n");
        return 2;
    }
    if (bb.shared && !readonly && !cluster_aware) {
        fprintf(stderr, "blkback: --shared needs --read-only: front ends writing one disk "
                        "without coordinating corrupt it; add --cluster-aware if they do "
                        "coordinate\n");
        return 2;
    }
    const char *address = argv[optind], *spec = argv[optind + 1];

    if ((err = blk_store_open(&bb.store, spec, readonly, create)) < 0) {
        fprintf(stderr, "blkback: %s: %s\n", spec, strerror(-err));
        return 1;
    }
    if (bb.store.size < BLKIF_SECTOR_SIZE) {
        fprintf(stderr, "blkback: %s: smaller than one sector\n", spec);
        return 1;
    }
    if (bb.store.size % BLKIF_SECTOR_SIZE)
        fprintf(stderr,
                "blkback: %s: the last %" PRIu64 " bytes (not a whole sector) are not "
                "served\n",
                spec, bb.store.size % BLKIF_SECTOR_SIZE);
    if (!(bb.conns = calloc(bb.nconns, sizeof *bb.conns))) {
        fprintf(stderr, "blkback: out of memory\n");
        return 1;
    }

    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGUSR1);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
    if (sfd < 0) {
        perror("blkback: signalfd");
        return 1;
    }
    if ((err = idc_context_create(&ctx, NULL)) < 0) {
        fprintf(stderr, "blkback: idc context: %s\n", idc_strerror(err));
        return 1;
    }

    /* bring-up: one call per endpoint; everything else happens in the callbacks above */
    for (unsigned i = 0; i < bb.nconns; i++) {
        struct conn *c = &bb.conns[i];
        c->bb = &bb;
        c->idx = i + 1;
        blkif_backend_create_with(
            &c->be, ctx, address, &blkback_ops, c,
            &(struct idc_endpoint_config){ .flags = bb.shared ? IDC_EP_SHARED : 0 });
    }
    if (idc_endpoint_state(&bb.conns[0].be.ep) == IDC_EP_DEAD) {
        fprintf(stderr, "blkback: cannot serve %s (see above)\n", address);
        return 1;
    }
    say(&bb, "serving %s (%" PRIu64 " bytes%s) on %s%s", spec, bb.store.size,
        readonly ? ", read-only" : "", address,
        !bb.shared      ? ""
        : cluster_aware ? ", shared (cluster-aware: writes allowed)"
                        : ", shared");
    if (bb.shared)
        say(&bb, "up to %u front ends at once", bb.nconns);

    /* own poll loop: the context fd and the signals */
    struct timespec t_start;
    clock_gettime(CLOCK_MONOTONIC, &t_start);
    bool destroying = false, share_checked = !bb.shared || bb.nconns == 1;
    err = 0;
    while (!bb.stopping) {
        struct pollfd pfd[2] = {
            { .fd = idc_context_fd(ctx), .events = POLLIN },
            { .fd = sfd, .events = POLLIN },
        };
        int wait_ms = destroying ? 100 : -1;
        if (!share_checked) {
            /* --shared: after 2 s every endpoint should serve the address; a libidc without
               IDC_EP_SHARED leaves the others waiting for the first (or dead) */
            struct timespec t;
            clock_gettime(CLOCK_MONOTONIC, &t);
            long ms = (long)((t.tv_sec - t_start.tv_sec) * 1000 +
                             (t.tv_nsec - t_start.tv_nsec) / 1000000);
            if (ms >= 2000) {
                unsigned n = serving(&bb);
                if (n < bb.nconns)
                    fprintf(stderr,
                            "blkback: --shared: only %u of %u endpoints serve %s after 2 s (does "
                            "this libidc support IDC_EP_SHARED?); a front end beyond %u is "
                            "refused as busy\n",
                            n, bb.nconns, address, n);
                share_checked = true;
            } else if (wait_ms < 0 || wait_ms > 2000 - ms) {
                wait_ms = (int)(2000 - ms);
            }
        }
        if (spin_us && err > 0) { /* the last round did work: more may follow soon */
            struct timespec t0, t;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            do {
                if (poll(pfd, 2, 0) != 0)
                    break;
                clock_gettime(CLOCK_MONOTONIC, &t);
            } while ((unsigned long)((t.tv_sec - t0.tv_sec) * 1000000 +
                                     (t.tv_nsec - t0.tv_nsec) / 1000) < spin_us);
        }
        if (poll(pfd, 2, wait_ms) < 0 && errno != EINTR) {
            perror("blkback: poll");
            break;
        }
        if (pfd[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                if (si.ssi_signo == SIGUSR1) {
                    print_stats(&bb);
                } else if (!destroying) {
                    destroying = true;
                    for (unsigned i = 0; i < bb.nconns; i++)
                        blkif_backend_destroy(&bb.conns[i].be, destroyed);
                }
            }
        }
        err = idc_context_dispatch(ctx, 0);
        if (err < 0) {
            fprintf(stderr, "blkback: dispatch: %s\n", idc_strerror(err));
            break;
        }
    }
    print_stats(&bb);
    idc_context_destroy(ctx);
    blk_store_close(&bb.store);
    free(bb.conns);
    close(sfd);
    return 0;
}
