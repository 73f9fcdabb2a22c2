/*
 * Baselines in shared memory: a cache line bounced between two cores, and the bare SPSC ring
 * of shmring.h (busy-poll, eventfd, spin-then-block) for round trips and message rate.
 * Two processes share a memfd mapping (created before fork) and inherit the eventfds.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"
#include "shmring.h"

static const char busy_same_core[] =
    "pure spinning on one CPU measures the scheduler's time slice, not the transport";

static void *shm_map(struct bench_run *run, size_t len)
{
    int fd = memfd_create("idc-bench", MFD_CLOEXEC);
    if (fd < 0) {
        bench_fail(run, "memfd_create: %s", strerror(errno));
        return NULL;
    }
    if (ftruncate(fd, (off_t)len) != 0) {
        bench_fail(run, "ftruncate: %s", strerror(errno));
        close(fd);
        return NULL;
    }
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        bench_fail(run, "mmap: %s", strerror(errno));
        return NULL;
    }
    return p;
}

/* ------------------------------------------------------------------ cache-line ping-pong */

struct cl_shared {
    _Alignas(64) _Atomic uint64_t seq;
    _Alignas(64) _Atomic uint32_t stop;
};

static int cl_peer(void *arg)
{
    struct cl_shared *s = arg;
    uint64_t want = 1;
    for (;;) {
        uint64_t v;
        while ((v = atomic_load_explicit(&s->seq, memory_order_acquire)) != want) {
            if (atomic_load_explicit(&s->stop, memory_order_relaxed))
                return 0;
            bench_cpu_relax();
        }
        atomic_store_explicit(&s->seq, want + 1, memory_order_release);
        want += 2;
    }
}

static int cl_run(struct bench_run *run)
{
    struct cl_shared *s = shm_map(run, sizeof *s);
    if (!s)
        return -1;
    pid_t pid = bench_fork_peer(run, cl_peer, s);
    if (pid < 0)
        return -1;
    uint64_t seq = 1;
    bench_lat_start(run);
    for (;;) {
        uint64_t t0 = bench_ticks();
        atomic_store_explicit(&s->seq, seq, memory_order_release);
        while (atomic_load_explicit(&s->seq, memory_order_acquire) != seq + 1)
            bench_cpu_relax();
        uint64_t t1 = bench_ticks();
        seq += 2;
        if (!bench_lat_record(run, t0, t1))
            break;
    }
    atomic_store(&s->stop, 1);
    int rc = bench_wait_peer(run, pid);
    munmap(s, sizeof *s);
    return rc;
}

static const uint64_t only_tiny[] = { 8, 0 };
BENCH_CASE(case_cacheline, .figure = "rtt", .name = "cacheline", .baseline = NULL,
           .placements = BENCH_CROSS, .params = only_tiny, .same_core_skip = busy_same_core,
           .run = cl_run)

/* ------------------------------------------------------------------ ring round trip */

struct rtt_setup {
    struct bring *req, *resp;
    size_t req_bytes, resp_bytes;
    int efd[4]; /* req data, req space, resp data, resp space */
    enum bring_mode mode;
    uint64_t spin_ticks;
    size_t size;
};

static void end_init(struct bring_end *e, struct bring *r, int efd_data, int efd_space,
                     enum bring_mode mode, uint64_t spin_ticks, int notify_space)
{
    memset(e, 0, sizeof *e);
    e->r = r;
    e->efd_data = efd_data;
    e->efd_space = efd_space;
    e->mode = mode;
    e->spin_ticks = spin_ticks;
    e->notify_space = notify_space;
}

/* Server: copy the request out, echo it back. At most one request is outstanding, so the
   producer never waits for space and the consumers need no space notification. */
static int rtt_peer(void *arg)
{
    struct rtt_setup *s = arg;
    struct bring_end in, out;
    end_init(&in, s->req, s->efd[0], s->efd[1], s->mode, s->spin_ticks, 0);
    end_init(&out, s->resp, s->efd[2], s->efd[3], s->mode, s->spin_ticks, 0);
    unsigned char *buf = malloc(s->size + 64);
    if (!buf)
        return 1;
    for (;;) {
        unsigned char *slot = bring_peek(&in);
        uint32_t len;
        memcpy(&len, slot, sizeof len);
        if (len == BRING_KIND_STOP)
            break;
        if (len > s->size) {
            free(buf);
            return 1;
        }
        memcpy(buf, slot + 8, len);
        bring_release(&in, 1);
        unsigned char *o = bring_reserve(&out, 0);
        memcpy(o, &len, sizeof len);
        memcpy(o + 8, buf, len);
        bring_publish(&out, 1, 1);
    }
    free(buf);
    return 0;
}

static int ring_rtt(struct bench_run *run, enum bring_mode mode)
{
    struct rtt_setup s;
    memset(&s, 0, sizeof s);
    s.mode = mode;
    s.size = run->param;
    s.spin_ticks = (uint64_t)((double)bench_spin_us() * 1000.0 * bench_ticks_per_ns());
    uint32_t slot = (uint32_t)((run->param + 8 + 63) & ~(uint64_t)63);
    s.req_bytes = s.resp_bytes = bring_bytes(16, slot);
    s.req = shm_map(run, s.req_bytes);
    s.resp = shm_map(run, s.resp_bytes);
    if (!s.req || !s.resp)
        return -1;
    s.req->nslots = s.resp->nslots = 16;
    s.req->slot_size = s.resp->slot_size = slot;
    for (int i = 0; i < 4; i++) {
        s.efd[i] = eventfd(0, EFD_CLOEXEC);
        if (s.efd[i] < 0)
            return bench_fail(run, "eventfd: %s", strerror(errno));
    }
    pid_t pid = bench_fork_peer(run, rtt_peer, &s);
    if (pid < 0)
        return -1;
    struct bring_end out, in;
    end_init(&out, s.req, s.efd[0], s.efd[1], mode, s.spin_ticks, 0);
    end_init(&in, s.resp, s.efd[2], s.efd[3], mode, s.spin_ticks, 0);
    unsigned char *msg = malloc(s.size + 64), *back = malloc(s.size + 64);
    if (!msg || !back) {
        bench_kill_peer(pid);
        return bench_fail(run, "out of memory");
    }
    memset(msg, 0x5a, s.size);
    uint32_t len = (uint32_t)s.size;
    int rc = 0;
    bench_lat_start(run);
    for (;;) {
        uint64_t t0 = bench_ticks();
        unsigned char *o = bring_reserve(&out, 0);
        memcpy(o, &len, sizeof len);
        memcpy(o + 8, msg, len);
        bring_publish(&out, 1, 1);
        unsigned char *i = bring_peek(&in);
        uint32_t got;
        memcpy(&got, i, sizeof got);
        if (got != len) {
            rc = bench_fail(run, "echo length %u, sent %u", got, len);
            break;
        }
        memcpy(back, i + 8, got);
        bring_release(&in, 1);
        uint64_t t1 = bench_ticks();
        if (!bench_lat_record(run, t0, t1))
            break;
    }
    unsigned char *o = bring_reserve(&out, 0);
    uint32_t stop = BRING_KIND_STOP;
    memcpy(o, &stop, sizeof stop);
    bring_publish(&out, 1, 1);
    if (rc == 0 && memcmp(msg, back, s.size) != 0)
        rc = bench_fail(run, "echo payload differs");
    if (rc == 0)
        rc = bench_wait_peer(run, pid);
    else
        bench_kill_peer(pid);
    free(msg);
    free(back);
    for (int k = 0; k < 4; k++)
        close(s.efd[k]);
    munmap(s.req, s.req_bytes);
    munmap(s.resp, s.resp_bytes);
    return rc;
}

static int ring_rtt_busy(struct bench_run *run)
{
    return ring_rtt(run, BRING_BUSY);
}
static int ring_rtt_block(struct bench_run *run)
{
    return ring_rtt(run, BRING_BLOCK);
}
static int ring_rtt_spin(struct bench_run *run)
{
    return ring_rtt(run, BRING_SPIN);
}

BENCH_CASE(case_ring_rtt_busy, .figure = "rtt", .name = "ring-busy", .baseline = "ring-eventfd",
           .placements = BENCH_CROSS, .same_core_skip = busy_same_core, .run = ring_rtt_busy)
BENCH_CASE(case_ring_rtt_block, .figure = "rtt", .name = "ring-eventfd", .baseline = NULL,
           .placements = BENCH_BOTH, .run = ring_rtt_block)
BENCH_CASE(case_ring_rtt_spin, .figure = "rtt", .name = "ring-spin", .baseline = "ring-eventfd",
           .placements = BENCH_BOTH, .run = ring_rtt_spin)

/* ------------------------------------------------------------------ ring message rate */

#define RATE_SLOTS 1024u
#define RATE_SLOT  16u

struct rate_shared {
    _Alignas(64) uint64_t t_start, t_end, count;
    uint32_t bad;
};

/* The -ack variants pace the producer the way idc-msg-cb is paced (rt_batch.c): the consumer
   answers every RATE_ACK_EVERY messages with an acknowledgement on a second ring, and the
   producer, once RATE_GROUPS groups are in flight, sends the next group only for an
   acknowledgement (the same numbers as rt_batch.c's ACK_EVERY and GROUPS_IN_FLIGHT). */
#define RATE_ACK_EVERY 16u
#define RATE_GROUPS    32u
#define RATE_ACK_SLOTS 64u /* > RATE_GROUPS: the consumer never waits for room to acknowledge */

struct rate_setup {
    struct bring *ring, *ack; /* ack: NULL unless the case acknowledges */
    size_t bytes, ack_bytes;
    struct rate_shared *res;
    int efd_data, efd_space, efd_ack[2];
    enum bring_mode mode;
    uint64_t spin_ticks;
};

/* Consumer of an -ack case: one acknowledgement per RATE_ACK_EVERY data messages, written
   now and published with one notify decision when the drain ends (as idc publishes the
   frames its callbacks send). *pending counts the written ones. */
static void rate_ack(struct bring_end *out, uint64_t data_seen, uint32_t *pending)
{
    if (!out->r || data_seen % RATE_ACK_EVERY)
        return;
    unsigned char *o = bring_reserve(out, (*pending)++);
    const uint32_t one = 1;
    memcpy(o, &one, sizeof one);
}

/* Consumer: drain everything visible, copy each payload out, count after the mark. */
static int rate_peer(void *arg)
{
    struct rate_setup *s = arg;
    struct bring_end in, ack = { 0 };
    end_init(&in, s->ring, s->efd_data, s->efd_space, s->mode, s->spin_ticks, 1);
    if (s->ack)
        end_init(&ack, s->ack, s->efd_ack[0], s->efd_ack[1], s->mode, s->spin_ticks, 0);
    uint64_t count = 0, sum = 0, data_seen = 0;
    int counting = 0;
    for (;;) {
        bring_peek(&in); /* waits for at least one */
        uint32_t n = bring_avail(&in), acks = 0;
        for (uint32_t k = 0; k < n; k++) {
            unsigned char *slot = bring_slot(in.r, in.idx + k);
            uint32_t kind;
            uint64_t v;
            memcpy(&kind, slot, sizeof kind);
            if (kind == 8) {
                memcpy(&v, slot + 8, sizeof v);
                sum += v;
                count++;
                rate_ack(&ack, ++data_seen, &acks);
            } else if (kind == BRING_KIND_MARK) {
                count = 0;
                counting = 1;
                s->res->t_start = bench_now_ns();
            } else if (kind == BRING_KIND_STOP) {
                s->res->t_end = bench_now_ns();
                s->res->count = counting ? count : 0;
                bench_sink = sum;
                bring_release(&in, k + 1);
                return 0;
            } else {
                s->res->bad = 1;
                return 1;
            }
        }
        bring_release(&in, n);
        if (acks)
            bring_publish(&ack, acks, 1);
    }
}

/* Producer of an -ack case: a group may go once RATE_GROUPS are in flight only for an
   acknowledgement (waits for one). */
static void rate_wait_ack(struct bring_end *in, uint64_t *in_flight)
{
    if (!in->r || *in_flight < RATE_GROUPS)
        return;
    bring_peek(in);
    uint32_t n = bring_avail(in);
    bring_release(in, n);
    *in_flight -= n;
}

static int ring_rate(struct bench_run *run, enum bring_mode mode, bool acked)
{
    struct rate_setup s;
    memset(&s, 0, sizeof s);
    s.mode = mode;
    s.spin_ticks = (uint64_t)((double)bench_spin_us() * 1000.0 * bench_ticks_per_ns());
    s.bytes = bring_bytes(RATE_SLOTS, RATE_SLOT);
    s.ring = shm_map(run, s.bytes);
    s.res = shm_map(run, sizeof *s.res);
    if (!s.ring || !s.res)
        return -1;
    s.ring->nslots = RATE_SLOTS;
    s.ring->slot_size = RATE_SLOT;
    s.efd_data = eventfd(0, EFD_CLOEXEC);
    s.efd_space = eventfd(0, EFD_CLOEXEC);
    s.efd_ack[0] = eventfd(0, EFD_CLOEXEC);
    s.efd_ack[1] = eventfd(0, EFD_CLOEXEC);
    if (s.efd_data < 0 || s.efd_space < 0 || s.efd_ack[0] < 0 || s.efd_ack[1] < 0)
        return bench_fail(run, "eventfd: %s", strerror(errno));
    if (acked) {
        s.ack_bytes = bring_bytes(RATE_ACK_SLOTS, RATE_SLOT);
        s.ack = shm_map(run, s.ack_bytes);
        if (!s.ack)
            return -1;
        s.ack->nslots = RATE_ACK_SLOTS;
        s.ack->slot_size = RATE_SLOT;
    }
    pid_t pid = bench_fork_peer(run, rate_peer, &s);
    if (pid < 0)
        return -1;
    struct bring_end out, ack = { 0 };
    end_init(&out, s.ring, s.efd_data, s.efd_space, mode, s.spin_ticks, 0);
    if (acked)
        end_init(&ack, s.ack, s.efd_ack[0], s.efd_ack[1], mode, s.spin_ticks, 0);
    uint32_t batch = (uint32_t)run->param;
    uint64_t start = bench_now_ns(), v = 0, groups = 0;
    int marked = 0;
    const uint32_t eight = 8;
    for (uint64_t iter = 0;; iter++) {
        rate_wait_ack(&ack, &groups);
        groups++;
        if ((iter & 63) == 0) {
            uint64_t now = bench_now_ns();
            if (!marked && !bench_in_warmup(run, start, now)) {
                unsigned char *o = bring_reserve(&out, 0);
                uint32_t mark = BRING_KIND_MARK;
                memcpy(o, &mark, sizeof mark);
                bring_publish(&out, 1, 1);
                marked = 1;
                start = now;
            } else if (marked && now - start >= run->budget_ns) {
                break;
            }
        }
        for (uint32_t k = 0; k < batch; k++) {
            unsigned char *o = bring_reserve(&out, k);
            memcpy(o, &eight, sizeof eight);
            v++;
            memcpy(o + 8, &v, sizeof v);
        }
        bring_publish(&out, batch, 1);
    }
    unsigned char *o = bring_reserve(&out, 0);
    uint32_t stop = BRING_KIND_STOP;
    memcpy(o, &stop, sizeof stop);
    bring_publish(&out, 1, 1);
    int rc = bench_wait_peer(run, pid);
    if (rc == 0 && s.res->bad)
        rc = bench_fail(run, "consumer saw a corrupt slot");
    if (rc == 0 && s.res->t_end > s.res->t_start)
        run->value = (double)s.res->count / ((double)(s.res->t_end - s.res->t_start) / 1e3);
    close(s.efd_data);
    close(s.efd_space);
    close(s.efd_ack[0]);
    close(s.efd_ack[1]);
    munmap(s.ring, s.bytes);
    munmap(s.res, sizeof *s.res);
    if (s.ack)
        munmap(s.ack, s.ack_bytes);
    return rc;
}

static int ring_rate_busy(struct bench_run *run)
{
    return ring_rate(run, BRING_BUSY, false);
}
static int ring_rate_block(struct bench_run *run)
{
    return ring_rate(run, BRING_BLOCK, false);
}
static int ring_rate_spin(struct bench_run *run)
{
    return ring_rate(run, BRING_SPIN, false);
}
static int ring_rate_block_ack(struct bench_run *run)
{
    return ring_rate(run, BRING_BLOCK, true);
}
static int ring_rate_spin_ack(struct bench_run *run)
{
    return ring_rate(run, BRING_SPIN, true);
}

BENCH_CASE(case_ring_rate_busy, .figure = "rate", .name = "ring-busy", .baseline = "ring-eventfd",
           .placements = BENCH_CROSS, .same_core_skip = busy_same_core, .run = ring_rate_busy)
BENCH_CASE(case_ring_rate_block, .figure = "rate", .name = "ring-eventfd", .baseline = NULL,
           .placements = BENCH_BOTH, .run = ring_rate_block)
BENCH_CASE(case_ring_rate_spin, .figure = "rate", .name = "ring-spin", .baseline = "ring-eventfd",
           .placements = BENCH_BOTH, .run = ring_rate_spin)
/* Paced by acknowledgements like idc-msg-cb (above): batch 16 only, where those cases pace. */
static const uint64_t only_batch16[] = { 16, 0 };
BENCH_CASE(case_ring_rate_block_ack, .figure = "rate", .name = "ring-eventfd-ack",
           .baseline = "ring-eventfd", .placements = BENCH_BOTH, .params = only_batch16,
           .run = ring_rate_block_ack)
BENCH_CASE(case_ring_rate_spin_ack, .figure = "rate", .name = "ring-spin-ack",
           .baseline = "ring-spin", .placements = BENCH_BOTH, .params = only_batch16,
           .run = ring_rate_spin_ack)
