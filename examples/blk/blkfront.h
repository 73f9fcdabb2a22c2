/*
 * blkfront: a blkif front-end driver for one thread (the nbdkit plugin runs it on its idc
 * thread; a test or another program can run it on any thread it likes).
 *
 * It owns an idc context, one front-end endpoint, and BLKFRONT_SLOTS staging slots of
 * BLKFRONT_SLOT_SIZE bytes in shareable memory (see blkfront.c for who may write which). A
 * caller queues struct blkfront_io chunks (each at most BLKFRONT_SLOT_SIZE bytes, except
 * discards); blkfront sends each as one blkif transaction whose data travels through the slot's
 * remote buffer reference, retries the ones a disconnect interrupted once the endpoint
 * reconnects, and reports every chunk exactly once through hooks->io_finished (0 or an errno
 * value, with a one-line reason for an error).
 *
 * Two clocks bound how long a chunk can wait:
 *   - the retry window (config retry_s): while the back end is unreachable (connection lost,
 *     service absent, or refused), queued chunks wait for it; once it has been unreachable for
 *     retry_s seconds, counted from the moment the connection was lost (not from when a chunk
 *     was queued), every queued chunk fails with EIO, and so does every chunk queued later
 *     until a connection is back;
 *   - the chunk's own deadline (deadline_ns, optional): a chunk not finished by then fails
 *     with EIO whether it is queued or already sent to a back end that does not answer (a
 *     live but hung back end). A sent chunk is then abandoned, not cancelled: its staging slot
 *     stays held, and new writes overlapping an abandoned write wait, until the back end
 *     answers or the connection ends, so a late answer never touches memory or sectors that
 *     are in use again.
 *
 * Threading: every function must be called on the thread that called blkfront_new. Hooks run on
 * that thread, from inside blkfront_poll or blkfront_close.
 */
#ifndef IDC_EXAMPLES_BLKFRONT_H
#define IDC_EXAMPLES_BLKFRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <idc.h>

#include "blkif.h"

#define BLKFRONT_SLOT_SIZE (512u * 1024u)
#define BLKFRONT_SLOTS     64u /* half for plain writes, half for reads and merges */

enum blkfront_op { BLKFRONT_READ, BLKFRONT_WRITE, BLKFRONT_FLUSH, BLKFRONT_DISCARD };

struct blkfront;
struct blkfront_flight; /* a chunk sent to the back end (blkfront.c) */

struct blkfront_io {
    /* filled by the caller */
    enum blkfront_op op;
    uint64_t offset;     /* bytes */
    uint32_t len;        /* bytes; READ/WRITE: <= blkfront_chunk_len; FLUSH: 0 */
    void *buf;           /* READ: destination, WRITE: source; caller's memory */
    bool fua;            /* WRITE: durable when finished */
    int64_t deadline_ns; /* CLOCK_MONOTONIC; 0: none. Not finished by then (queued, or sent and
                            not answered): fails with EIO (see above) */
    /* private to blkfront */
    struct blkfront *bf_;
    struct blkfront_io *next_;
    struct blkfront_flight *flight_; /* while sent */
    int64_t queued_ns_;
};

struct blkfront_info {
    uint64_t size;        /* bytes */
    uint32_t sector_size; /* the back-end's addressing unit */
    bool readonly;
    bool discard; /* discard supported (and the peer speaks version 2) */
    bool flush;   /* the back-end has a volatile cache */
};

struct blkfront_hooks {
    /* err: 0 or an errno value; why: NULL on success, else a one-line reason (valid during the
       call) */
    void (*io_finished)(struct blkfront_io *io, int err, const char *why);
    /* connected: the endpoint is up and info (borrowed, valid during the call) was read.
       !connected: the connection went down; queued chunks wait for the next one. */
    void (*state_changed)(bool connected, const struct blkfront_info *info);
};

struct blkfront_config {
    const char *address;                /* "shm:NAME"; copied */
    const char *shm_dir;                /* NULL: libidc default */
    const struct blkfront_hooks *hooks; /* must outlive the front-end */
    uint32_t retry_s; /* the retry window, from the loss of the connection; 0: wait forever */
    /* libidc's log (idc_context_options.log); NULL: libidc's default, stderr */
    void (*log)(void *arg, int level, const char *msg);
    void *log_arg;
};

/* What the endpoint is doing, for the caller's own decisions and messages. */
struct blkfront_status {
    enum idc_endpoint_state state; /* idc_endpoint_state */
    bool ready;                    /* connected and the device info known */
    int last_err;                  /* idc_endpoint_last_error: a refusal or the last disconnect */
    char why[160];                 /* its reason, "" if none */
};

/* Longest READ/WRITE chunk starting at offset with len bytes left (stays inside one slot). */
static inline uint32_t blkfront_chunk_len(uint64_t offset, uint64_t len)
{
    uint64_t room = BLKFRONT_SLOT_SIZE - offset % BLKFRONT_SLOT_SIZE;
    return (uint32_t)(len < room ? len : room);
}

/* Creates the context, the staging memory and the endpoint. 0 or a negative IDC_ERR_*;
   on failure nothing is left allocated. */
int blkfront_new(struct blkfront **out, const struct blkfront_config *cfg);
int blkfront_fd(const struct blkfront *bf); /* poll it for POLLIN */
/* The poll timeout to use: at most max_ms, less if a queued chunk's deadline comes sooner. */
int blkfront_timeout_ms(const struct blkfront *bf, int max_ms);
void blkfront_queue(struct blkfront *bf, struct blkfront_io *io);
/* Dispatches the context without waiting, sends what it can, expires overdue chunks. */
void blkfront_poll(struct blkfront *bf);
/* Takes the endpoint down (bounded wait) and fails every chunk still held with ESHUTDOWN. */
void blkfront_close(struct blkfront *bf);
void blkfront_free(struct blkfront *bf); /* after close; NULL is harmless */
void blkfront_print_stats(const struct blkfront *bf, FILE *f);
/* True while chunks are queued or in flight. */
bool blkfront_busy(const struct blkfront *bf);
void blkfront_get_status(const struct blkfront *bf, struct blkfront_status *st);
/* The back end refused us (another front end has the device, another protocol, policy): the
   reason is in st->why. */
bool blkfront_refused(const struct blkfront_status *st);
/* One line saying why the back end is not reachable now, e.g. "the service is absent" or
   "refused: the service is in use by another frontend (IDC_ERR_BUSY)". */
void blkfront_describe(const struct blkfront_status *st, char *out, size_t n);

#endif
