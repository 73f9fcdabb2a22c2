/*
 * nbdkit-idc-plugin: the block front-end as an nbdkit plugin.
 *
 *   nbdkit nbdkit-idc-plugin.so address=shm:blk0 [timeout=30] [request-timeout=0]
 *                               [connect-timeout=10] [shm-dir=DIR] [stats=FILE] [spin=USEC]
 *
 * Any NBD client (qemu-img, qemu-io, nbdcopy, nbdinfo, fio --ioengine=nbd) then reaches the
 * blkif back-end (blkback, blkmirror) through idc.
 *
 * One owner per device. A back end serves one front end at a time unless it is shared
 * (blkback --shared), and refuses another at once (IDC_ERR_BUSY). The plugin connects when
 * nbdkit starts, so that a refusal stops nbdkit there with the reason:
 *   - .get_ready (before nbdkit forks into the background, so the message reaches the
 *     terminal) probes the service with a short-lived endpoint: refused -> nbdkit fails to
 *     start, e.g. "idc: shm:blk0: refused: the service is in use by another frontend
 *     (IDC_ERR_BUSY)". An absent service is no error: NBD connections wait for it;
 *   - .after_fork starts the idc thread and waits for its connection (bounded by
 *     connect-timeout; at once if the service is absent): refused there too for over a second
 *     (someone was quicker since the probe) -> nbdkit fails to start;
 *   - .open, for every NBD connection: fails at once with the reason while the back end
 *     refuses us (e.g. after a back-end restart another front end got the device), else waits
 *     up to connect-timeout for a first connection.
 * While refused the runtime keeps retrying quietly (every 500 ms), so a running nbdkit gets the
 * device once its owner has left.
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
 * Reconnection and time limits. When the back-end dies, libidc completes the chunks in flight
 * with IDC_ERR_DISCONNECTED; they go back to the head of the queue and are sent again after the
 * endpoint reconnects (the front-end endpoint reconnects by itself when the service returns).
 * Requests fail towards the NBD client (EIO) only when
 *   - no connection came back within `timeout` seconds counted from the loss of the
 *     connection (not from when the request was made: a back end that hung for a minute, then
 *     was killed and restarted at once, loses nothing), or
 *   - request-timeout=SECONDS is set and the request is not done that long after it was made,
 *     even though the connection is up: a back end that hangs but stays alive cannot stall NBD
 *     clients forever. A request sent and not answered is abandoned, not cancelled: its staging
 *     slot stays held until the back end answers or the connection ends (blkfront.h).
 * Every failed request is logged (nbdkit_error) with its reason. Reads and writes are
 * idempotent; a flush sent again after a back-end restart still flushes everything written
 * before it, since a killed back-end's writes are in the page cache of the backing file.
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
static unsigned cfg_timeout = 30;         /* seconds requests wait for a lost back end */
static unsigned cfg_request_timeout;      /* seconds a request may take (0: no limit) */
static unsigned cfg_connect_timeout = 10; /* seconds .open waits for the first connection */
static unsigned cfg_spin_us;              /* busy-poll this long before sleeping (0: never) */

/* An endpoint starts in the first dispatch after its creation: only after that is ABSENT news. */
#define ABSENT_AFTER_ROUNDS 2

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
    char why[512];    /* its reason */
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
    int start_err;                 /* 0: starting, 1: started, < 0: IDC_ERR_* from the start */
    struct blkfront_status status; /* published by the idc thread when it changes */
    unsigned polls;                /* rounds the idc thread made, counted up to a few */
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

/* libidc's log: errors and warnings through nbdkit (stderr with -f, else syslog), the rest
   as debug messages (nbdkit -v). */
static void idc_log(void *arg, int level, const char *msg)
{
    (void)arg;
    if (level == IDC_LOG_ERROR)
        nbdkit_error("idc: %s", msg);
    else if (level == IDC_LOG_WARN)
        nbdkit_error("idc: warning: %s", msg);
    else
        nbdkit_debug("idc: %s", msg);
}

/* "idc: shm:blk0: refused: the service is in use by another frontend (IDC_ERR_BUSY)" */
static void refusal_message(const struct blkfront_status *st, char *out, size_t n)
{
    char desc[200];
    blkfront_describe(st, desc, sizeof desc);
    snprintf(out, n, "idc: %s: %s", cfg_address, desc);
}

/* Called on the idc thread (under no lock) when a chunk is finished: err is 0 or an errno. */
static void io_finished(struct blkfront_io *fio, int err, const char *why)
{
    struct io *io = (struct io *)((char *)fio - offsetof(struct io, fio));
    struct request *req = io->req;

    pthread_mutex_lock(&g.lock);
    if (err && !req->err) {
        req->err = err;
        snprintf(req->why, sizeof req->why, "%s", why ? why : "");
    }
    if (--req->pending == 0)
        pthread_cond_signal(&req->cond);
    pthread_mutex_unlock(&g.lock);
}

static void state_changed(bool connected, const struct blkfront_info *info)
{
    pthread_mutex_lock(&g.lock);
    /* on stderr, for the log of `nbdkit -f` (nbdkit_debug needs -v) */
    if (connected)
        fprintf(stderr, "nbdkit-idc: connected to %s: %" PRIu64 " bytes%s%s\n", cfg_address,
                info->size, info->readonly ? ", read-only" : "", info->discard ? ", discard" : "");
    else if (!g.stop) /* not our own shutdown */
        fprintf(stderr, "nbdkit-idc: lost %s; requests wait up to %u s from now for it to return\n",
                cfg_address, cfg_timeout);
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

/* Lets .after_fork and .open see the endpoint's state (they must not call into libidc). */
static void publish_status(const struct blkfront *bf)
{
    struct blkfront_status st;

    blkfront_get_status(bf, &st);
    pthread_mutex_lock(&g.lock);
    if (g.polls < ABSENT_AFTER_ROUNDS && ++g.polls == ABSENT_AFTER_ROUNDS)
        pthread_cond_broadcast(&g.state_cond);
    if (st.state != g.status.state || st.ready != g.status.ready ||
        st.last_err != g.status.last_err || strcmp(st.why, g.status.why) != 0) {
        g.status = st;
        pthread_cond_broadcast(&g.state_cond);
    }
    pthread_mutex_unlock(&g.lock);
}

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
                                .retry_s = cfg_timeout,
                                .log = idc_log,
                            });
    pthread_mutex_lock(&g.lock);
    g.start_err = err ? err : 1;
    if (!err)
        blkfront_get_status(bf, &g.status);
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
        publish_status(bf);
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

static int parse_seconds(const char *key, const char *value, unsigned min, unsigned *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(value, &end, 10);
    if (errno || end == value || *end || v < min || v > 3600) {
        nbdkit_error("%s=%s: expected a number of seconds between %u and 3600", key, value, min);
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
        if (strncmp(value, "shm:", 4) != 0 && strncmp(value, "xen:", 4) != 0 &&
            strncmp(value, "fabric:", 7) != 0) {
            nbdkit_error("address=%s: expected shm:NAME, xen:... or fabric:NAME", value);
            return -1;
        }
        return replace(&cfg_address, value);
    }
    if (strcmp(key, "shm-dir") == 0)
        return replace(&cfg_shm_dir, value);
    if (strcmp(key, "stats") == 0)
        return replace(&cfg_stats, value);
    if (strcmp(key, "timeout") == 0)
        return parse_seconds(key, value, 1, &cfg_timeout);
    if (strcmp(key, "request-timeout") == 0)
        return parse_seconds(key, value, 0, &cfg_request_timeout);
    if (strcmp(key, "connect-timeout") == 0)
        return parse_seconds(key, value, 1, &cfg_connect_timeout);
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

/* ------------------------------------------------------------------------------ the verdict */

/* How long an absent service is looked for after the endpoint started (ABSENT_AFTER_ROUNDS)
   before we conclude it is absent: an shm frontend knows at once (it checks the directory when
   it starts), other transports may need a few rounds. */
static int64_t absent_grace_ns(void)
{
    return strncmp(cfg_address, "shm:", 4) == 0 ? 0 : 1000000000;
}

/* The probe's libidc log is kept, not printed: the verdict below is (a refusal would be logged
   as "retrying quietly", which the probe does not do). */
static char probe_last_log[256];
static bool probe_gone;

static void probe_log(void *arg, int level, const char *msg)
{
    (void)arg;
    if (level <= IDC_LOG_ERROR)
        snprintf(probe_last_log, sizeof probe_last_log, "%s", msg);
    else
        nbdkit_debug("idc (probe): %s", msg);
}

static void probe_destroyed(struct blkif_frontend *fe)
{
    (void)fe;
    probe_gone = true;
}

/* Before nbdkit forks (errors still reach the terminal): is the back end ours to use? A
   short-lived endpoint on this thread, gone before the fork, asks it. Connected: free (our own
   connection comes after the fork); refused: nbdkit does not start; absent: NBD connections
   will wait for it. */
static int idc_get_ready(void)
{
    struct idc_context *ctx;
    struct blkif_frontend fe;
    int64_t start = now_ns(), until = start + (int64_t)cfg_connect_timeout * 1000000000;
    char msg[512];
    int rc = 0, err, rounds = 0;

    err = idc_context_create(
        &ctx, &(struct idc_context_options){ .shm_dir = cfg_shm_dir, .log = probe_log });
    if (err) {
        nbdkit_error("idc: cannot create a context: %s", idc_strerror(err));
        return -1;
    }
    /* the smallest connection: nothing is sent on it */
    blkif_frontend_create_with(
        &fe, ctx, cfg_address, NULL, NULL,
        &(struct idc_endpoint_config){ .max_transactions = 1, .max_messages = 1 });
    for (;;) {
        struct blkfront_status st = { .state = idc_endpoint_state(&fe.ep) };
        int64_t now = now_ns();

        st.ready = st.state == IDC_EP_CONNECTED;
        st.last_err = idc_endpoint_last_error(&fe.ep, st.why, sizeof st.why);
        if (st.ready)
            break;
        if (blkfront_refused(&st)) {
            refusal_message(&st, msg, sizeof msg);
            nbdkit_error("%s", msg);
            rc = -1;
            break;
        }
        if (st.state == IDC_EP_DEAD) {
            nbdkit_error("idc: %s: %s", cfg_address,
                         probe_last_log[0] ? probe_last_log : "cannot use this address");
            rc = -1;
            break;
        }
        if (st.state == IDC_EP_ABSENT && rounds >= ABSENT_AFTER_ROUNDS &&
            now - start >= absent_grace_ns()) {
            nbdkit_debug("idc: %s is absent; NBD connections will wait up to %u s for it",
                         cfg_address, cfg_connect_timeout);
            break;
        }
        if (now >= until) {
            nbdkit_debug("idc: %s did not answer within %u s; starting anyway", cfg_address,
                         cfg_connect_timeout);
            break;
        }
        idc_context_dispatch(ctx, rounds++ < ABSENT_AFTER_ROUNDS ? 0 : 20);
    }
    blkif_frontend_destroy(&fe, probe_destroyed);
    for (int i = 0; i < 100 && !probe_gone; i++)
        idc_context_dispatch(ctx, 20);
    idc_context_destroy(ctx);
    return rc;
}

static void stop_thread(void)
{
    pthread_mutex_lock(&g.lock);
    g.stop = true;
    pthread_mutex_unlock(&g.lock);
    kick();
    pthread_join(g.thread, NULL);
}

/* How long our own connection must stay refused before nbdkit gives up starting: the probe
   gave the verdict already, so a refusal here is either someone quicker since then (lasting) or
   the back end not having noticed the probe's departure yet (gone at the next retry, 500 ms). */
#define REFUSED_FOR_NS 1200000000

/* Threads must be started after nbdkit forked into the background. Then waits for the first
   verdict on our own connection: connected, refused (nbdkit fails to start), or absent. */
static int idc_after_fork(void)
{
    int64_t start = now_ns(), until = start + (int64_t)cfg_connect_timeout * 1000000000;
    int64_t refused_since = 0;
    char msg[512] = "";
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

    pthread_mutex_lock(&g.lock);
    for (;;) {
        int64_t now = now_ns();
        if (g.connected)
            break;
        if (g.status.state == IDC_EP_DEAD) {
            refusal_message(&g.status, msg, sizeof msg);
            break;
        }
        if (!blkfront_refused(&g.status)) {
            refused_since = 0;
        } else if (!refused_since) {
            refused_since = now;
        } else if (now - refused_since >= REFUSED_FOR_NS || now >= until) {
            refusal_message(&g.status, msg, sizeof msg);
            break;
        }
        if (g.status.state == IDC_EP_ABSENT && g.polls >= ABSENT_AFTER_ROUNDS &&
            now - start >= absent_grace_ns())
            break;
        if (now >= until)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50000000; /* short slices: the grace above needs no signal */
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&g.state_cond, &g.lock, &ts);
    }
    pthread_mutex_unlock(&g.lock);
    if (msg[0]) {
        nbdkit_error("%s", msg);
        stop_thread();
        return -1;
    }
    g.thread_started = true;
    return 0;
}

static void idc_cleanup(void)
{
    if (g.thread_started) {
        stop_thread();
        g.thread_started = false;
    }
    if (g.kick_fd >= 0)
        close(g.kick_fd);
    g.kick_fd = -1;
}

/* Fails at once while the back end refuses us; else waits (bounded) for a first connection, so
   that size and flags are known. */
static void *idc_open(int readonly)
{
    struct timespec until;
    char msg[512] = "";

    (void)readonly;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += cfg_connect_timeout;
    pthread_mutex_lock(&g.lock);
    for (;;) {
        if (blkfront_refused(&g.status) || g.status.state == IDC_EP_DEAD) {
            refusal_message(&g.status, msg, sizeof msg);
            break;
        }
        if (g.ever_connected)
            break;
        if (pthread_cond_timedwait(&g.state_cond, &g.lock, &until) == ETIMEDOUT) {
            char desc[200];
            blkfront_describe(&g.status, desc, sizeof desc);
            snprintf(msg, sizeof msg, "idc: no connection to %s within %u s: %s", cfg_address,
                     cfg_connect_timeout, desc);
            break;
        }
    }
    pthread_mutex_unlock(&g.lock);
    if (msg[0]) {
        nbdkit_error("%s", msg);
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
    int64_t deadline = cfg_request_timeout ? now_ns() + (int64_t)cfg_request_timeout * 1000000000
                                           : 0; /* the retry window after a loss is blkfront's */
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
        static const char *const names[] = { "read", "write", "flush", "discard" };
        if (op == BLKFRONT_FLUSH)
            nbdkit_error("idc: flush failed (%s): %s", strerror(err), req.why);
        else
            nbdkit_error("idc: %s of %" PRIu32 " bytes at offset %" PRIu64 " failed (%s): %s",
                         names[op], count, offset, strerror(err), req.why);
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
        "address=shm:NAME      (required) blkif service to connect to. A back end serves one\n"
        "                      front end at a time unless shared (blkback --shared): if\n"
        "                      another has it, nbdkit fails to start, and NBD connections\n"
        "                      fail at once, with the reason (IDC_ERR_BUSY)\n"
        "timeout=SECONDS       retry window when the back end is lost, counted from the loss\n"
        "                      of the connection: requests wait this long for it to return,\n"
        "                      then fail with EIO (30)\n"
        "request-timeout=SECS  fail a request with EIO when it is not done this long after it\n"
        "                      was made, even though the back end is connected (a live but\n"
        "                      hung back end); 0: no limit (0)\n"
        "connect-timeout=SECS  how long nbdkit's start and a new NBD connection wait for the\n"
        "                      first connection to the back end (10)\n"
        "shm-dir=DIR           idc service directory (default: $IDC_SHM_DIR, ...)\n"
        "stats=FILE            write counters to FILE every second\n"
        "spin=MICROSECONDS     busy-poll this long for more work before sleeping (0)",
    .magic_config_key = "address",
    .get_ready = idc_get_ready,
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
