/*
 * blkfront: a blkif front-end driver for one thread (the nbdkit plugin runs it on its idc
 * thread; a test or another program can run it on any thread it likes).
 *
 * It owns an idc context, one front-end endpoint, and BLKFRONT_SLOTS staging slots of
 * BLKFRONT_SLOT_SIZE bytes in shareable memory (see blkfront.c for who may write which). A caller queues struct blkfront_io chunks
 * (each at most BLKFRONT_SLOT_SIZE bytes, except discards); blkfront sends each as one blkif
 * transaction whose data travels through the slot's remote buffer reference, retries the ones a
 * disconnect interrupted once the endpoint reconnects, and reports every chunk exactly once
 * through hooks->io_finished (0 or an errno value).
 *
 * Threading: every function must be called on the thread that called blkfront_new. Hooks run on
 * that thread, from inside blkfront_poll or blkfront_close.
 */
#ifndef IDC_EXAMPLES_BLKFRONT_H
#define IDC_EXAMPLES_BLKFRONT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <idc.h>

#include "blkif.h"

#define BLKFRONT_SLOT_SIZE (512u * 1024u)
#define BLKFRONT_SLOTS     64u /* half for plain writes, half for reads and merges */

enum blkfront_op { BLKFRONT_READ, BLKFRONT_WRITE, BLKFRONT_FLUSH, BLKFRONT_DISCARD };

struct blkfront;

struct blkfront_io {
    /* filled by the caller */
    enum blkfront_op op;
    uint64_t offset;     /* bytes */
    uint32_t len;        /* bytes; READ/WRITE: <= blkfront_chunk_len; FLUSH: 0 */
    void *buf;           /* READ: destination, WRITE: source; caller's memory */
    bool fua;            /* WRITE: durable when finished */
    int64_t deadline_ns; /* CLOCK_MONOTONIC: fail with EIO if still not done by then
                                      because the back-end is unreachable */
    /* private to blkfront */
    struct blkfront *bf_;
    struct blkfront_io *next_;
    int slot_;         /* staging slot held, or -1 */
    int phase_;        /* unaligned write: 1 while reading the edge sectors */
    uint64_t sector_;  /* first sector covered */
    uint32_t sectors_; /* sectors covered */
    union {
        struct blkif_read_txn rd;
        struct blkif_write_txn wr;
        struct blkif_flush_txn fl;
        struct blkif_discard_txn dc;
    } txn_;
};

struct blkfront_info {
    uint64_t size;        /* bytes */
    uint32_t sector_size; /* the back-end's addressing unit */
    bool readonly;
    bool discard; /* discard supported (and the peer speaks version 2) */
    bool flush;   /* the back-end has a volatile cache */
};

struct blkfront_hooks {
    void (*io_finished)(struct blkfront_io *io, int err);
    /* connected: the endpoint is up and info (borrowed, valid during the call) was read.
       !connected: the connection went down; queued chunks wait for the next one. */
    void (*state_changed)(bool connected, const struct blkfront_info *info);
};

struct blkfront_config {
    const char *address;                /* "shm:NAME"; copied */
    const char *shm_dir;                /* NULL: libidc default */
    const struct blkfront_hooks *hooks; /* must outlive the front-end */
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

#endif
