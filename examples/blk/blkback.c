/*
 * blkback: a blkif back-end serving a file, a block device or a RAM disk.
 *
 *   blkback [-r] [-q] [-s SIZE] ADDRESS FILE|ram:SIZE
 *
 *   -r        read-only export (writes and discards fail with READ_ONLY)
 *   -q        quiet: no connection log lines
 *   -s SIZE   create FILE (or extend it) to SIZE bytes (k/M/G suffixes)
 *   -p USEC   spin-then-block: after work, poll this long for more before sleeping
 *
 * Reads and writes never carry data in frames: each segment names a buffer the front-end
 * registered, and blkback moves the bytes with idc_send_to_remote_buffer (reads) and
 * idc_receive_from_remote_buffer (writes), then completes the request. Every request is
 * independent, so many are in flight at once (the endpoint's transaction quota) and their
 * transfers overlap; the file I/O itself is synchronous on this thread.
 *
 * SIGINT/SIGTERM take the endpoint down cleanly and print counters; SIGUSR1 prints them.
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
#include "store.h"

/* Largest request accepted: MAX_SEGMENTS segments, bounded so one request cannot make the
   back-end allocate gigabytes. */
#define BLKBACK_MAX_IO (16u << 20)

struct blkback {
    struct blkif_backend be;
    struct blk_store store;
    bool quiet;
    bool stopping;
    unsigned held;    /* requests not yet completed */
    struct bio *live; /* reads/writes whose request is not completed */
    struct {
        uint64_t requests, reads, writes, flushes, discards, errors;
        uint64_t bytes_read, bytes_written, connects;
    } st;
};

/* One read or write in progress: the private bounce buffer the transfers use. */
struct bio {
    struct blkback *bb;
    struct idc_request *req; /* NULL once completed (e.g. after a disconnect) */
    bool write;
    bool fua;
    uint64_t sector;
    uint64_t sectors;
    unsigned pending;        /* transfers not finished */
    int xfer_err;            /* first transfer error (IDC_ERR_*) */
    struct bio *next, *prev; /* blkback.live, for disconnect; or the free list */
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
    else if (b->bb->live == b)
        b->bb->live = b->next;
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
        bb->held--;
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
static void start_io(struct blkback *bb, struct idc_request *req, bool write, bool fua,
                     uint64_t sector, uint32_t nsegs, const struct idc_rbuf *const bufs[],
                     const uint32_t offsets[], const uint32_t counts[])
{
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
    *b = (struct bio){ .bb = bb,
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
    b->next = bb->live;
    if (bb->live)
        bb->live->prev = b;
    bb->live = b;
    bb->held++;

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

static void on_get_info(struct blkif_backend *be, struct idc_request *req)
{
    struct blkback *bb = blkif_backend_user(be);
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
    struct blkback *bb = blkif_backend_user(be);
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
    struct blkback *bb = blkif_backend_user(be);
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
    struct blkback *bb = blkif_backend_user(be);

    bb->st.connects++;
    say(bb, "front-end connected (protocol version %" PRIu32 ")", blkif_backend_version(be));
}

static void on_disconnect(struct blkif_backend *be)
{
    struct blkback *bb = blkif_backend_user(be);

    /* complete what we hold (the results go nowhere); transfers still running finish on
       their own and then free their bio */
    while (bb->live)
        bio_complete(bb->live, BLKIF_ERROR_IO);
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
    struct blkback *bb = (struct blkback *)((char *)be - offsetof(struct blkback, be));
    bb->stopping = true;
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

static void usage(void)
{
    fprintf(stderr, "usage: blkback [-r] [-q] [-s SIZE] [-p USEC] ADDRESS FILE|ram:SIZE\n"
                    "  e.g. blkback shm:blk0 disk.img    blkback -r shm:cd0 ram:64M\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct blkback bb = { .store = { .fd = -1 } };
    struct idc_context *ctx = NULL;
    uint64_t create = 0;
    bool readonly = false;
    unsigned long spin_us = 0;
    sigset_t sigs;
    int opt, err, sfd;

    while ((opt = getopt(argc, argv, "rqs:p:h")) != -1) {
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
        default:
            usage();
        }
    }
    if (argc - optind != 2)
        usage();
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

    /* bring-up: one call; everything else happens in the callbacks above */
    blkif_backend_create(&bb.be, ctx, address, &blkback_ops, &bb);
    say(&bb, "serving %s (%" PRIu64 " bytes%s) on %s", spec, bb.store.size,
        readonly ? ", read-only" : "", address);

    /* own poll loop: the context fd and the signals */
    bool destroying = false;
    err = 0;
    while (!bb.stopping) {
        struct pollfd pfd[2] = {
            { .fd = idc_context_fd(ctx), .events = POLLIN },
            { .fd = sfd, .events = POLLIN },
        };
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
        if (poll(pfd, 2, destroying ? 100 : -1) < 0 && errno != EINTR) {
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
                    blkif_backend_destroy(&bb.be, destroyed);
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
    close(sfd);
    return 0;
}
