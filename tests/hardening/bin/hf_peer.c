/* hf_peer - a hostile back-end for the endpoint-level double-fetch check (tests/hardening).
 *
 *   hf_peer --dir SHM_DIR --name NAME [--seconds N]
 *
 * Serves shm:NAME with the real runtime and sends checksummed messages (hf.h) as fast as the
 * credits allow. A second thread finds the ring memory in its own address space
 * (/proc/self/maps, the "idc-rings" memfd) and rewrites the frames the runtime has published in
 * the ring towards the victim, in a tight loop: mostly transient rewrites (a header's length or
 * a payload byte changed and put back at once), sometimes lasting ones. The rewriting thread
 * and the runtime's thread share a lock so the thread never writes into a ring the runtime has
 * just unmapped (after a disconnect). Exits after N seconds (default 30) or on SIGTERM. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hardening/hf.h"
#include "ring.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned char *ring_ctrl; /* the victim-bound ring of the current connection, or NULL */
static uint32_t ring_size;
static struct idc_endpoint ep;
static bool connected;
static uint64_t seq;
static volatile sig_atomic_t stop;
static atomic_ullong flips;

/* The current "idc-rings" mapping: two rings (front-end's, then back-end's). */
static void find_ring(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    ring_ctrl = NULL;
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (!strstr(line, "memfd:idc-rings") || sscanf(line, "%lx-%lx", &lo, &hi) != 2)
            continue;
        /* the mapping is 2 * idc_ring_bytes(size), rounded up to pages */
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        for (uint32_t size = IDC_RING_MIN_SIZE; size && size <= IDC_RING_MAX_SIZE; size <<= 1) {
            size_t rb = idc_ring_bytes(size);
            if (((2 * rb + page - 1) & ~(page - 1)) == hi - lo) {
                ring_ctrl = (unsigned char *)lo + rb; /* back-end's TX ring */
                ring_size = size;
            }
        }
    }
    fclose(f);
}

static void pump(void)
{
    unsigned char p[HF_MAX_FRAME];
    while (connected) {
        hf_make(seq, p);
        int rc = idc_send_message(&ep, HF_OP_DATA, p, hf_len(seq));
        if (rc != 0)
            break;
        seq++;
    }
}

static void on_connect(struct idc_endpoint *e)
{
    (void)e;
    connected = true;
    find_ring();
    pump();
}

static void on_disconnect(struct idc_endpoint *e)
{
    connected = false;
    ring_ctrl = NULL;
    idc_endpoint_disconnect_done(e);
}

static void on_writable(struct idc_endpoint *e)
{
    (void)e;
    pump();
}

static int on_message(struct idc_endpoint *e, uint16_t op, const void *p, size_t len)
{
    (void)e;
    (void)op;
    (void)p;
    (void)len;
    return 0;
}

static int on_txn(struct idc_endpoint *e, struct idc_request *r, uint16_t op, const void *p,
                  size_t len)
{
    (void)e;
    (void)r;
    (void)op;
    (void)p;
    (void)len;
    return IDC_ERR_PROTO;
}

static const struct idc_endpoint_ops ops = {
    .connect = on_connect,
    .disconnect = on_disconnect,
    .writable = on_writable,
    .handle_message = on_message,
    .handle_transaction = on_txn,
};

static uint32_t xorshift(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static void *flipper(void *arg)
{
    (void)arg;
    uint32_t rng = (uint32_t)getpid() | 1u;
    while (!stop) {
        pthread_mutex_lock(&mu);
        if (!ring_ctrl) {
            pthread_mutex_unlock(&mu);
            usleep(200);
            continue;
        }
        const struct idc_ring_ctrl *c = (const void *)ring_ctrl;
        unsigned char *data = ring_ctrl + IDC_RING_CTRL_SIZE;
        uint32_t mask = ring_size - 1;
        for (int k = 0; k < 512; k++) {
            uint32_t prod = __atomic_load_n(&c->prod, __ATOMIC_ACQUIRE);
            uint32_t cons = __atomic_load_n(&c->cons, __ATOMIC_ACQUIRE);
            uint32_t used = prod - cons;
            if (used == 0 || used > ring_size)
                break;
            /* frame starts from cons on (our runtime wrote them; lengths sanity-checked) */
            uint32_t starts[16], n = 0;
            for (uint32_t at = cons; n < 16 && (uint32_t)(at - cons) < used;) {
                starts[n++] = at;
                uint32_t len;
                memcpy(&len, &data[(at + 4) & mask], 4); /* may wrap: good enough */
                if (len > HF_MAX_FRAME)
                    break;
                at += idc_frame_size(len);
            }
            uint32_t x = xorshift(&rng);
            uint32_t start = starts[(x >> 20) % (n < 4 ? n : 4)]; /* near the reader */
            bool lasting = (x & 255) == 0;
            uint32_t off;
            unsigned char m = (unsigned char)(1u << ((x >> 8) & 7));
            if (x & 256) {
                off = lasting ? (x >> 12) % 24 : 4 + (x >> 12) % 4; /* header; the length */
                if (!lasting)
                    m = (x & 512) ? 0x80 : 0x08;
            } else {
                off = 24 + (x >> 12) % HF_MAX_FRAME; /* payload */
            }
            if ((uint32_t)(prod - start) <= off)
                continue; /* not published */
            unsigned char *b = &data[(start + off) & mask];
            __atomic_fetch_xor(b, m, __ATOMIC_RELAXED);
            if (!lasting)
                __atomic_fetch_xor(b, m, __ATOMIC_RELAXED);
            atomic_fetch_add_explicit(&flips, 1, memory_order_relaxed);
        }
        pthread_mutex_unlock(&mu);
        sched_yield();
    }
    return NULL;
}

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *name = NULL;
    int seconds = 30;
    static const struct option lo[] = {
        { "dir", 1, 0, 'd' },
        { "name", 1, 0, 'n' },
        { "seconds", 1, 0, 's' },
        { 0, 0, 0, 0 },
    };
    for (int c; (c = getopt_long(argc, argv, "", lo, NULL)) != -1;) {
        if (c == 'd')
            dir = optarg;
        else if (c == 'n')
            name = optarg;
        else if (c == 's')
            seconds = atoi(optarg);
        else
            return 2;
    }
    if (!dir || !name) {
        fprintf(stderr, "usage: hf_peer --dir SHM_DIR --name NAME [--seconds N]\n");
        return 2;
    }
    struct sigaction sa = { .sa_handler = on_term };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    struct idc_context *ctx;
    struct idc_context_options o = { .shm_dir = dir, .stats_dir = "off" };
    if (idc_context_create(&ctx, &o) != 0)
        return 1;
    char addr[128];
    snprintf(addr, sizeof addr, "shm:%s", name);
    struct idc_endpoint_config cfg = {
        .protocol = &hf_proto,
        .role = IDC_ROLE_BACKEND,
        .address = addr,
        .ops = &ops,
    };
    idc_endpoint_create(&ep, ctx, &cfg);
    pthread_t th;
    if (pthread_create(&th, NULL, flipper, NULL) != 0)
        return 1;

    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!stop) {
        pthread_mutex_lock(&mu);
        idc_context_dispatch(ctx, 0);
        pump();
        pthread_mutex_unlock(&mu);
        /* wait outside the lock: the rewriting thread works meanwhile */
        struct pollfd pf = { idc_context_fd(ctx), POLLIN, 0 };
        poll(&pf, 1, 1);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec >= seconds)
            stop = 1;
    }
    pthread_join(th, NULL);
    fprintf(stderr, "hf_peer: %llu messages sent, %llu rewrites\n", (unsigned long long)seq,
            (unsigned long long)atomic_load(&flips));
    /* no orderly teardown needed: the victim sees the socket close */
    idc_context_destroy(ctx);
    return 0;
}
