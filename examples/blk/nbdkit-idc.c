/*
 * nbdkit-idc-plugin: the block front-end as an nbdkit plugin.
 *
 *   nbdkit nbdkit-idc-plugin.so address=shm:blk0 [timeout=30] [connect-timeout=10]
 *                               [shm-dir=DIR] [stats=FILE] [spin=USEC]
 *
 * Any NBD client (qemu-img, qemu-io, nbdcopy, nbdinfo, fio --ioengine=nbd) then reaches the
 * blkif back-end (blkback, blkmirror) through idc.
 *
 * Threads. nbdkit calls us from many threads (thread model PARALLEL); libidc contexts belong to
 * one thread. So the plugin owns one "idc thread" running the context: nbdkit threads cut their
 * request into chunks (struct io), push them on a mutex-protected queue, kick an eventfd and
 * sleep on a condition variable; the idc thread polls the context fd and the eventfd, submits
 * chunks as transactions while it has free staging slots, and wakes the waiter when the last
 * chunk of its request is done.
 *
 * Data path. At start the idc thread allocates shareable memory (idc_buffer_alloc) cut into
 * staging slots and registers them (blkfront.c): slots for plain writes read-only (the
 * back-end reads the data, cannot change it), slots for reads write-only. Requests carry only
 * these references; the bytes move by idc_send_to_remote_buffer /
 * idc_receive_from_remote_buffer in the back-end.
 *
 * Reconnection. When the back-end dies, libidc completes the chunks in flight with
 * IDC_ERR_DISCONNECTED; they go back to the head of the queue and are sent again after the
 * endpoint reconnects (the front-end endpoint reconnects by itself when the service returns).
 * A chunk fails towards the NBD client (EIO) only when no connection came back within
 * `timeout` seconds. Reads and writes are idempotent; a flush sent again after a back-end
 * restart still flushes everything written before it, since a killed back-end's writes are in
 * the page cache of the backing file.
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <idc.h>

#include "blkfront.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

/* ------------------------------------------------------------------------------ configuration */

static char *cfg_address;
static char *cfg_shm_dir;
static char *cfg_stats;
static unsigned cfg_timeout = 30;         /* seconds a chunk may wait for a reconnection */
static unsigned cfg_connect_timeout = 10; /* seconds .open waits for the first connection */
static unsigned cfg_spin_us;              /* busy-poll this long before sleeping (0: never) */

/* ------------------------------------------------------------------------------ shared state */

/* One piece of an NBD request, at most BLKFRONT_SLOT_SIZE bytes. Lives on the nbdkit thread's
   stack (inside struct request) until the request is finished. */
struct io {
    struct blkfront_io fio; /* what the idc thread submits (see blkfront.h) */
    struct request *req;
    struct io *next; /* queue link */
};

struct request {
    pthread_cond_t cond;
    unsigned pending; /* chunks not finished; protected by g.lock */
    int err;          /* first errno, protected by g.lock */
};

static struct {
    pthread_mutex_t lock;          /* protects queue, state fields, request completion */
    pthread_cond_t state_cond;     /* connection state changes */
    struct io *in_head, **in_tail; /* from nbdkit threads to the idc thread */
    int kick_fd;                   /* eventfd: queue not empty, or stop */
    bool stop;
    pthread_t thread;
    bool thread_started;
    bool connected; /* connected and device info known */
    bool ever_connected;
    struct blkfront_info info;
    int start_err; /* 0: starting, 1: started, < 0: IDC_ERR_* from the start */
} g = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .state_cond = PTHREAD_COND_INITIALIZER,
    .kick_fd = -1,
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void kick(void)
{
    uint64_t one = 1;
    /* cannot fail short of a counter overflow; the idc thread also polls every 250 ms */
    if (write(g.kick_fd, &one, sizeof one) < 0 && errno != EAGAIN)
        nbdkit_error("idc: eventfd: %m");
}

/* ------------------------------------------------------------------------------ idc thread side */

/* Called on the idc thread (under no lock) when a chunk is finished: err is 0 or an errno. */
static void io_finished(struct blkfront_io *fio, int err)
{
    struct io *io = (struct io *)((char *)fio - offsetof(struct io, fio));
    struct request *req = io->req;

    pthread_mutex_lock(&g.lock);
    if (err && !req->err)
        req->err = err;
    if (--req->pending == 0)
        pthread_cond_signal(&req->cond);
    pthread_mutex_unlock(&g.lock);
}

static void state_changed(bool connected, const struct blkfront_info *info)
{
    /* on stderr, for the log of `nbdkit -f` (nbdkit_debug needs -v) */
    if (connected)
        fprintf(stderr, "nbdkit-idc: connected to %s: %" PRIu64 " bytes%s%s\n", cfg_address,
                info->size, info->readonly ? ", read-only" : "", info->discard ? ", discard" : "");
    else
        fprintf(stderr, "nbdkit-idc: lost %s; requests wait up to %u s for it to return\n",
                cfg_address, cfg_timeout);
    pthread_mutex_lock(&g.lock);
    g.connected = connected;
    if (connected) {
        if (g.ever_connected && info->size != g.info.size)
            nbdkit_error("idc: back-end size changed from %" PRIu64 " to %" PRIu64
                         " bytes across a reconnect",
                         g.info.size, info->size);
        g.info = *info;
        g.ever_connected = true;
    }
    pthread_cond_broadcast(&g.state_cond);
    pthread_mutex_unlock(&g.lock);
}

static void write_stats(const struct blkfront *bf)
{
    char tmp[4096];
    FILE *f;

    if (!cfg_stats)
        return;
    snprintf(tmp, sizeof tmp, "%s.tmp", cfg_stats);
    if (!(f = fopen(tmp, "w")))
        return;
    blkfront_print_stats(bf, f);
    if (fclose(f) == 0)
        rename(tmp, cfg_stats);
}

static const struct blkfront_hooks hooks;

static void *idc_thread(void *arg)
{
    struct blkfront *bf;
    int64_t next_stats = 0;
    int err;

    (void)arg;
    /* the context is created on the thread that will own it */
    err = blkfront_new(&bf, &(struct blkfront_config){
                                .address = cfg_address,
                                .shm_dir = cfg_shm_dir,
                                .hooks = &hooks,
                            });
    pthread_mutex_lock(&g.lock);
    g.start_err = err ? err : 1;
    pthread_cond_broadcast(&g.state_cond);
    pthread_mutex_unlock(&g.lock);
    if (err)
        return NULL;

    for (;;) {
        struct pollfd pfd[2] = {
            { .fd = blkfront_fd(bf), .events = POLLIN },
            { .fd = g.kick_fd, .events = POLLIN },
        };
        int timeout = blkfront_timeout_ms(bf, 250);

        /* spin-then-block: while requests are out, look for work for a while before paying
           for a sleep and a wake-up (costly on some machines; costs CPU) */
        if (cfg_spin_us && blkfront_busy(bf)) {
            int64_t until = now_ns() + (int64_t)cfg_spin_us * 1000;
            while (now_ns() < until && poll(pfd, 2, 0) == 0)
                ;
        }
        if (poll(pfd, 2, timeout) < 0 && errno != EINTR) {
            nbdkit_error("idc: poll: %m");
            break;
        }
        if (pfd[1].revents & POLLIN) {
            uint64_t v;
            if (read(g.kick_fd, &v, sizeof v) < 0 && errno != EAGAIN)
                nbdkit_error("idc: eventfd: %m");
        }
        pthread_mutex_lock(&g.lock);
        struct io *list = g.in_head;
        bool stop = g.stop;
        g.in_head = NULL;
        g.in_tail = &g.in_head;
        pthread_mutex_unlock(&g.lock);
        for (struct io *io = list, *next; io; io = next) {
            next = io->next;
            blkfront_queue(bf, &io->fio);
        }
        if (stop)
            break;
        blkfront_poll(bf);
        if (cfg_stats && now_ns() >= next_stats) {
            write_stats(bf);
            next_stats = now_ns() + 1000000000;
        }
    }
    blkfront_close(bf); /* fails whatever is still queued with ESHUTDOWN */
    write_stats(bf);
    blkfront_free(bf);
    return NULL;
}

static const struct blkfront_hooks hooks = {
    .io_finished = io_finished,
    .state_changed = state_changed,
};

/* ------------------------------------------------------------------------------ nbdkit callbacks */

static void idc_unload(void)
{
    free(cfg_address);
    free(cfg_shm_dir);
    free(cfg_stats);
}

static int parse_seconds(const char *key, const char *value, unsigned *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(value, &end, 10);
    if (errno || end == value || *end || v == 0 || v > 3600) {
        nbdkit_error("%s=%s: expected a number of seconds between 1 and 3600", key, value);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

static int replace(char **dst, const char *value)
{
    free(*dst);
    if (!(*dst = strdup(value))) {
        nbdkit_error("strdup: %m");
        return -1;
    }
    return 0;
}

static int idc_config(const char *key, const char *value)
{
    if (strcmp(key, "address") == 0) {
        if (strncmp(value, "shm:", 4) != 0 && strncmp(value, "xen:", 4) != 0) {
            nbdkit_error("address=%s: expected shm:NAME or xen:...", value);
            return -1;
        }
        return replace(&cfg_address, value);
    }
    if (strcmp(key, "shm-dir") == 0)
        return replace(&cfg_shm_dir, value);
    if (strcmp(key, "stats") == 0)
        return replace(&cfg_stats, value);
    if (strcmp(key, "timeout") == 0)
        return parse_seconds(key, value, &cfg_timeout);
    if (strcmp(key, "connect-timeout") == 0)
        return parse_seconds(key, value, &cfg_connect_timeout);
    if (strcmp(key, "spin") == 0) {
        char *end;
        unsigned long v = strtoul(value, &end, 10);
        if (*end || end == value || v > 100000) {
            nbdkit_error("spin=%s: expected microseconds, 0..100000", value);
            return -1;
        }
        cfg_spin_us = (unsigned)v;
        return 0;
    }
    nbdkit_error("unknown parameter '%s'", key);
    return -1;
}

static int idc_config_complete(void)
{
    if (!cfg_address) {
        nbdkit_error("the address parameter is required (e.g. address=shm:blk0)");
        return -1;
    }
    return 0;
}

/* Threads must be started after nbdkit forked into the background. */
static int idc_after_fork(void)
{
    int err;

    g.in_head = NULL;
    g.in_tail = &g.in_head;
    g.kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (g.kick_fd < 0) {
        nbdkit_error("eventfd: %m");
        return -1;
    }
    if ((err = pthread_create(&g.thread, NULL, idc_thread, NULL)) != 0) {
        errno = err;
        nbdkit_error("pthread_create: %m");
        return -1;
    }
    pthread_mutex_lock(&g.lock);
    while (g.start_err == 0)
        pthread_cond_wait(&g.state_cond, &g.lock);
    err = g.start_err;
    pthread_mutex_unlock(&g.lock);
    if (err < 0) {
        pthread_join(g.thread, NULL);
        nbdkit_error("idc: cannot start the front-end: %s", idc_strerror(err));
        return -1;
    }
    g.thread_started = true;
    return 0;
}

static void idc_cleanup(void)
{
    if (g.thread_started) {
        pthread_mutex_lock(&g.lock);
        g.stop = true;
        pthread_mutex_unlock(&g.lock);
        kick();
        pthread_join(g.thread, NULL);
        g.thread_started = false;
    }
    if (g.kick_fd >= 0)
        close(g.kick_fd);
    g.kick_fd = -1;
}

/* Waits (bounded) for a connection, so that size and flags are known. */
static void *idc_open(int readonly)
{
    struct timespec until;

    (void)readonly;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += cfg_connect_timeout;
    pthread_mutex_lock(&g.lock);
    while (!g.ever_connected) {
        if (pthread_cond_timedwait(&g.state_cond, &g.lock, &until) == ETIMEDOUT)
            break;
    }
    bool ok = g.ever_connected;
    pthread_mutex_unlock(&g.lock);
    if (!ok) {
        nbdkit_error("idc: no connection to %s within %u s", cfg_address, cfg_connect_timeout);
        return NULL;
    }
    return &g; /* one device for all NBD connections */
}

static struct blkfront_info current_info(void)
{
    pthread_mutex_lock(&g.lock);
    struct blkfront_info info = g.info;
    pthread_mutex_unlock(&g.lock);
    return info;
}

static int64_t idc_get_size(void *handle)
{
    (void)handle;
    return (int64_t)current_info().size;
}

static int idc_can_write(void *handle)
{
    (void)handle;
    return !current_info().readonly;
}

static int idc_can_flush(void *handle)
{
    (void)handle;
    return 1;
}

static int idc_can_trim(void *handle)
{
    (void)handle;
    return current_info().discard;
}

static int idc_can_fua(void *handle)
{
    (void)handle;
    return NBDKIT_FUA_NATIVE; /* blkif writes carry a fua flag */
}

/* Every connection reaches the same back-end and a flush there covers all of them. */
static int idc_can_multi_conn(void *handle)
{
    (void)handle;
    return 1;
}

/* Cuts [offset, offset+count) into chunks, hands them to the idc thread and waits. */
static int run_request(enum blkfront_op op, void *buf, uint32_t count, uint64_t offset, bool fua)
{
    enum { MAX_CHUNKS = 66 }; /* a 32 MiB request is at most 65 chunks of <= 512 KiB */
    struct io ios[MAX_CHUNKS];
    struct request req = { .pending = 0, .err = 0 };
    int64_t deadline = now_ns() + (int64_t)cfg_timeout * 1000000000;
    uint32_t done = 0;
    int err = 0;

    pthread_cond_init(&req.cond, NULL);
    do {
        unsigned n = 0;
        do { /* one chunk for a flush (count 0) or a discard, else slot-sized pieces */
            uint32_t len = count - done;
            if (op == BLKFRONT_READ || op == BLKFRONT_WRITE)
                len = blkfront_chunk_len(offset + done, len);
            ios[n] = (struct io){
                .fio = {
                    .op = op,
                    .offset = offset + done,
                    .len = len,
                    .buf = buf ? (char *)buf + done : NULL,
                    .fua = fua,
                    .deadline_ns = deadline,
                },
                .req = &req,
            };
            done += len;
            n++;
        } while (n < MAX_CHUNKS && done < count);

        pthread_mutex_lock(&g.lock);
        req.pending = n;
        for (unsigned i = 0; i < n; i++) {
            ios[i].next = NULL;
            *g.in_tail = &ios[i];
            g.in_tail = &ios[i].next;
        }
        pthread_mutex_unlock(&g.lock);
        kick();
        pthread_mutex_lock(&g.lock);
        while (req.pending)
            pthread_cond_wait(&req.cond, &g.lock);
        err = req.err;
        pthread_mutex_unlock(&g.lock);
    } while (!err && done < count);
    pthread_cond_destroy(&req.cond);
    if (err) {
        nbdkit_set_error(err);
        return -1;
    }
    return 0;
}

static int idc_pread(void *handle, void *buf, uint32_t count, uint64_t offset, uint32_t flags)
{
    (void)handle;
    (void)flags;
    return run_request(BLKFRONT_READ, buf, count, offset, false);
}

static int idc_pwrite(void *handle, const void *buf, uint32_t count, uint64_t offset,
                      uint32_t flags)
{
    (void)handle;
    return run_request(BLKFRONT_WRITE, (void *)buf, count, offset, flags & NBDKIT_FLAG_FUA);
}

static int idc_flush(void *handle, uint32_t flags)
{
    (void)handle;
    (void)flags;
    return run_request(BLKFRONT_FLUSH, NULL, 0, 0, false);
}

static int idc_trim(void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
    (void)handle;
    (void)flags;
    return run_request(BLKFRONT_DISCARD, NULL, count, offset, false);
}

static struct nbdkit_plugin plugin = {
    .name = "idc",
    .longname = "idc block front-end",
    .version = IDC_VERSION,
    .description = "Block device served by an idc blkif back-end (blkback, blkmirror)",
    .unload = idc_unload,
    .config = idc_config,
    .config_complete = idc_config_complete,
    .config_help =
        "address=shm:NAME      (required) blkif service to connect to\n"
        "timeout=SECONDS       retry window for requests across a back-end restart (30)\n"
        "connect-timeout=SECS  how long a new NBD connection waits for the back-end (10)\n"
        "shm-dir=DIR           idc service directory (default: $IDC_SHM_DIR, ...)\n"
        "stats=FILE            write counters to FILE every second\n"
        "spin=MICROSECONDS     busy-poll this long for more work before sleeping (0)",
    .magic_config_key = "address",
    .after_fork = idc_after_fork,
    .cleanup = idc_cleanup,
    .open = idc_open,
    .get_size = idc_get_size,
    .can_write = idc_can_write,
    .can_flush = idc_can_flush,
    .can_trim = idc_can_trim,
    .can_fua = idc_can_fua,
    .can_multi_conn = idc_can_multi_conn,
    .pread = idc_pread,
    .pwrite = idc_pwrite,
    .flush = idc_flush,
    .trim = idc_trim,
    .errno_is_preserved = 0,
};

NBDKIT_REGISTER_PLUGIN(plugin)
