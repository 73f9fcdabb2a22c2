/* Double-fetch check on a real ring in shared memory.
 *
 * A writer thread publishes checksummed frames into an idc ring (idc_ring_push) through its own
 * mapping of a memfd; a flipper thread, acting for the same hostile peer, keeps rewriting bytes
 * of frames that are already published (payload bytes, header fields, and the length field
 * toggled between a legal and an absurd value, the classic check-then-use race) while this
 * thread, through a second mapping, pops (idc_ring_rx_pop), validates and "dispatches" them.
 *
 * The receiver validates only its private copy. The test asserts that every dispatched frame is
 * exactly one the writer wrote (same sequence number, opcode, length and checksum as the writer's
 * list, in order, none twice) or was refused (checksum mismatch, or IDC_ERR_PROTO from the ring,
 * after which the ring is rebuilt like a reconnect), and that the receive buffer, exactly
 * max_frame bytes on the heap, is never overrun (the SAN pass of `make check` checks every
 * access; the plain pass checks a guard area behind the buffer).
 *
 * A control runs the same attack against a deliberately double-fetching receiver (it checks the
 * checksum in shared memory, then copies the payload out) and requires the check to catch it,
 * so the test is known to be able to fail. */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "idc.h"
#include "ring.h"

#define RING_SIZE  16384u
#define MAX_FRAME  512u
#define MAX_FRAMES (1u << 22) /* writer's list capacity (the run ends when full) */
#define GUARD      64u
#define PAY_HDR    16u /* u64 seq, u32 length, u32 generation */
#define PAY_SUM    8u  /* u64 checksum at the end */

/* What the writer wrote, indexed by sequence number. */
struct written {
    uint64_t sum;
    uint32_t length;
    uint16_t opcode;
};

struct rig {
    unsigned char *tx_map, *rx_map; /* two mappings of one memfd: two "domains" */
    size_t map_len;
    struct written *list;
    _Atomic uint64_t nwritten; /* list entries valid (release after filling) */
    /* recent frame starts, for the flipper (published frames only) */
    _Atomic uint32_t starts[64];
    _Atomic uint32_t nstarts;
    _Atomic uint32_t published; /* writer's prod after its last push */
    /* reset handshake: the receiver asks, the writer and flipper park, the ring is rebuilt */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool reset_req, stop;
    int parked;
    unsigned generation;
    _Atomic uint64_t flips;
};

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Checksum over the fields the dispatcher uses: opcode, txn and the payload before the sum. */
static uint64_t frame_sum(const struct idc_frame_hdr *h, const unsigned char *p)
{
    uint64_t s = 0xcbf29ce484222325ull;
    s = fnv1a(s, &h->opcode, sizeof h->opcode);
    s = fnv1a(s, &h->txn, sizeof h->txn);
    return fnv1a(s, p, h->length - PAY_SUM);
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint32_t get32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint32_t xorshift(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

/* Parks the calling peer thread while the receiver rebuilds the ring; returns false to stop. */
static bool peer_checkpoint(struct rig *r, unsigned *gen)
{
    pthread_mutex_lock(&r->mu);
    if (r->reset_req) {
        r->parked++;
        pthread_cond_broadcast(&r->cv);
        while (r->reset_req && !r->stop)
            pthread_cond_wait(&r->cv, &r->mu);
    }
    bool go = !r->stop;
    *gen = r->generation;
    pthread_mutex_unlock(&r->mu);
    return go;
}

static void *writer_main(void *arg)
{
    struct rig *r = arg;
    unsigned gen = 0, cur = ~0u;
    struct idc_ring_tx tx;
    uint32_t rng = 0x9e3779b9u;
    unsigned char pay[MAX_FRAME];
    uint64_t seq = atomic_load(&r->nwritten);

    while (peer_checkpoint(r, &gen)) {
        if (gen != cur) { /* fresh ring after a reset (or the first one) */
            idc_ring_tx_attach(&tx, r->tx_map, RING_SIZE, 0xffffffffu);
            cur = gen;
        }
        if (seq >= MAX_FRAMES) { /* list full: idle until told to stop */
            usleep(1000);
            continue;
        }
        uint32_t len = PAY_HDR + PAY_SUM + 8 * (xorshift(&rng) % ((MAX_FRAME - 24) / 8));
        struct idc_frame_hdr h = {
            .kind = (seq & 1) ? IDC_FRAME_REQUEST : IDC_FRAME_MESSAGE,
            .opcode = (uint16_t)(xorshift(&rng) & 0xff),
            .length = len,
            .txn = (uint32_t)seq,
        };
        memcpy(pay, &seq, 8);
        memcpy(pay + 8, &len, 4);
        memcpy(pay + 12, &gen, 4);
        for (uint32_t i = PAY_HDR; i < len - PAY_SUM; i++)
            pay[i] = (unsigned char)xorshift(&rng);
        uint64_t sum = frame_sum(&h, pay);
        memcpy(pay + len - PAY_SUM, &sum, 8);
        r->list[seq] = (struct written){ sum, len, h.opcode };
        /* the list entry is complete before the receiver can see the frame */
        atomic_store_explicit(&r->nwritten, seq + 1, memory_order_release);

        uint32_t start = tx.prod;
        int rc;
        while ((rc = idc_ring_push(&tx, &h, pay)) == IDC_ERR_AGAIN) {
            unsigned g;
            if (!peer_checkpoint(r, &g))
                return NULL;
            if (g != cur)
                break; /* ring rebuilt while full: the frame is lost, fine */
            sched_yield();
        }
        if (rc == 0) {
            uint32_t n = atomic_load(&r->nstarts);
            atomic_store(&r->starts[n % 64], start);
            atomic_store(&r->nstarts, n + 1);
            atomic_store(&r->published, tx.prod);
        } else if (rc != IDC_ERR_AGAIN) {
            /* the receiver is honest: its indexes are never wrong */
            fprintf(stderr, "ringflip: push failed: %d\n", rc);
            abort();
        }
        seq++;
    }
    return NULL;
}

/* Rewrites published frames in a tight loop, aiming mostly at the oldest unconsumed frame (the
   one the receiver is reading): transient rewrites of the length (legal <-> absurd) and of
   payload bytes, undone at once, and lasting flips of header and payload bytes. */
static void *flipper_main(void *arg)
{
    struct rig *r = arg;
    const struct idc_ring_ctrl *ctrl = (const void *)r->tx_map;
    unsigned char *data = r->tx_map + IDC_RING_CTRL_SIZE;
    uint32_t rng = 0x12345678u;
    unsigned gen;
    while (peer_checkpoint(r, &gen)) {
        for (int k = 0; k < 256; k++) {
            uint32_t n = atomic_load(&r->nstarts);
            uint32_t prod = atomic_load(&r->published);
            uint32_t cons = __atomic_load_n(&ctrl->cons, __ATOMIC_ACQUIRE);
            if (n == 0 || prod == cons)
                break;
            uint32_t x = xorshift(&rng);
            uint32_t hist = n < 64 ? n : 64, start = 0;
            bool found = false;
            if (x & 0x30000000u) {
                /* mostly the oldest unconsumed frame: the one the receiver is reading */
                for (uint32_t i = n - hist; i != n && !found; i++) {
                    start = atomic_load(&r->starts[i % 64]);
                    found = (uint32_t)(prod - start) <= (uint32_t)(prod - cons);
                }
            } else {
                start = atomic_load(&r->starts[(n - 1 - xorshift(&rng) % hist) % 64]);
                found = (uint32_t)(prod - start) <= (uint32_t)(prod - cons);
            }
            if (!found)
                continue; /* already consumed */
            /* mostly transient rewrites (changed, then put back at once: the frame is valid
               except for an instant, the check-then-use race), some that stay */
            bool transient = (x & 63) >= 8;
            uint32_t off;
            unsigned char mask = (unsigned char)(1u << ((x >> 16) & 7));
            if ((x & 63) == 0 || (transient && (x & 64))) {
                /* header: the length (legal <-> absurd), or any other byte when it stays */
                off = transient ? 4 + (x >> 8) % 4 : (x >> 8) % 24;
                if (transient)
                    mask = (x >> 7 & 1) ? 0x80 : 0x10;
            } else {
                off = 24 + (x >> 8) % (MAX_FRAME - 24); /* payload */
            }
            if ((uint32_t)(prod - start) <= off)
                continue; /* not published yet */
            uint32_t at = (start + off) & (RING_SIZE - 1);
            /* byte RMW on shared memory, as a hostile domain would do it */
            __atomic_fetch_xor(&data[at], mask, __ATOMIC_RELAXED);
            if (transient)
                __atomic_fetch_xor(&data[at], mask, __ATOMIC_RELAXED);
            atomic_fetch_add_explicit(&r->flips, 1, memory_order_relaxed);
        }
    }
    return NULL;
}

struct stats {
    uint64_t dispatched, bad_sum, proto, resets, wrong;
    char first_wrong[256];
};

/* Dispatch: the frame is checked against the writer's list; anything else is a failure. */
static void dispatch(struct rig *r, struct stats *st, const struct idc_frame_hdr *h,
                     const unsigned char *p, uint64_t *last_seq)
{
    uint64_t seq = get64(p);
    uint64_t n = atomic_load_explicit(&r->nwritten, memory_order_acquire);
    const char *why = NULL;
    if (seq >= n)
        why = "sequence number never written";
    else if (r->list[seq].length != h->length || get32(p + 8) != h->length)
        why = "length differs from the written frame";
    else if (r->list[seq].opcode != h->opcode || h->txn != (uint32_t)seq)
        why = "opcode or txn differs from the written frame";
    else if (r->list[seq].sum != get64(p + h->length - PAY_SUM))
        why = "checksum differs from the written frame";
    else if (*last_seq != UINT64_MAX && seq <= *last_seq)
        why = "replayed or reordered frame";
    if (why) {
        if (st->wrong++ == 0)
            snprintf(st->first_wrong, sizeof st->first_wrong, "seq %llu len %u op %u: %s",
                     (unsigned long long)seq, h->length, h->opcode, why);
        return;
    }
    *last_seq = seq;
    st->dispatched++;
}

/* The receiver under test: copy once (idc_ring_rx_pop), then validate the private copy. */
static int recv_copy_once(struct idc_ring_rx *rx, struct idc_frame_hdr *h, unsigned char *buf,
                          struct stats *st)
{
    int rc = idc_ring_rx_pop(rx, h, buf);
    if (rc != 0)
        return rc;
    if (h->length < PAY_HDR + PAY_SUM || get64(buf + h->length - PAY_SUM) != frame_sum(h, buf)) {
        st->bad_sum++;
        return 2;
    }
    return 0;
}

/* The control: validates the checksum in shared memory, then copies the payload out again (a
   double fetch). Frame framing comes from idc_ring_rx_pop so only the payload is re-read. */
static int recv_double_fetch(struct idc_ring_rx *rx, struct idc_frame_hdr *h, unsigned char *buf,
                             struct stats *st)
{
    uint32_t pos = rx->cons;
    int rc = idc_ring_rx_pop(rx, h, buf);
    if (rc != 0)
        return rc;
    if (h->length < PAY_HDR + PAY_SUM || get64(buf + h->length - PAY_SUM) != frame_sum(h, buf)) {
        st->bad_sum++;
        return 2;
    }
    sched_yield(); /* "later": the window a real receiver has anyway */
    for (uint32_t i = 0; i < h->length; i++)
        buf[i] = rx->data[(pos + (uint32_t)sizeof *h + i) & rx->mask];
    return 0;
}

typedef int (*recv_fn)(struct idc_ring_rx *, struct idc_frame_hdr *, unsigned char *,
                       struct stats *);

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void rig_reset(struct rig *r, struct idc_ring_rx *rx, struct stats *st)
{
    pthread_mutex_lock(&r->mu);
    r->reset_req = true;
    r->parked = 0;
    while (r->parked < 2)
        pthread_cond_wait(&r->cv, &r->mu);
    /* both peer threads are parked: rebuild the ring as a reconnect would */
    memset(r->rx_map, 0, r->map_len);
    idc_ring_init_shared(r->rx_map);
    idc_ring_rx_attach(rx, r->rx_map, RING_SIZE, MAX_FRAME);
    atomic_store(&r->nstarts, 0);
    atomic_store(&r->published, 0);
    r->generation++;
    r->reset_req = false;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    st->resets++;
}

/* Runs writer + flipper against `recv` for `ms` (see below), or until `stop_on_wrong` sees a
   wrong frame. */
static void run(recv_fn recv, unsigned ms, bool stop_on_wrong, struct stats *st, uint64_t *flips)
{
    struct rig *r = calloc(1, sizeof *r);
    cr_assert_not_null(r);
    r->list = calloc(MAX_FRAMES, sizeof *r->list);
    cr_assert_not_null(r->list);
    r->map_len = idc_ring_bytes(RING_SIZE);
    int fd = memfd_create("idc-ringflip", MFD_CLOEXEC);
    cr_assert_geq(fd, 0, "memfd_create: %s", strerror(errno));
    cr_assert_eq(ftruncate(fd, (off_t)r->map_len), 0);
    r->tx_map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    r->rx_map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    cr_assert(r->tx_map != MAP_FAILED && r->rx_map != MAP_FAILED);
    cr_assert_neq(r->tx_map, r->rx_map);
    close(fd);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    idc_ring_init_shared(r->rx_map);

    struct idc_ring_rx rx;
    idc_ring_rx_attach(&rx, r->rx_map, RING_SIZE, MAX_FRAME);
    /* exactly max_frame bytes (ASan sees any overrun) and a guard area for the plain build */
    unsigned char *buf = malloc(MAX_FRAME);
    unsigned char *guarded = malloc(MAX_FRAME + GUARD);
    cr_assert(buf && guarded);
    unsigned char guard_pattern[GUARD];
    memset(guard_pattern, 0xa5, GUARD);
    memcpy(guarded + MAX_FRAME, guard_pattern, GUARD);

    pthread_t wt, ft;
    cr_assert_eq(pthread_create(&wt, NULL, writer_main, r), 0);
    cr_assert_eq(pthread_create(&ft, NULL, flipper_main, r), 0);

    memset(st, 0, sizeof *st);
    /* ms of attack; on a loaded machine longer (up to 20 s) until enough frames went through
       and the attack was seen to land */
    uint64_t last_seq = UINT64_MAX, t_end = now_ms() + ms, t_max = now_ms() + 20000;
    unsigned round = 0;
    for (;;) {
        uint64_t t = now_ms();
        bool enough = st->dispatched >= 2000 && st->bad_sum + st->proto > 0;
        if ((t >= t_end && (enough || stop_on_wrong)) || t >= t_max || (stop_on_wrong && st->wrong))
            break;
        int64_t avail = idc_ring_rx_poll(&rx);
        cr_assert_geq(avail, 0, "the writer never publishes a bad prod");
        if (avail == 0) {
            sched_yield();
            continue;
        }
        for (;;) {
            struct idc_frame_hdr h;
            /* alternate the two buffers: heap-exact and guarded */
            unsigned char *b = (round++ & 1) ? guarded : buf;
            int rc = recv(&rx, &h, b, st);
            if (rc == 1)
                break;
            if (rc == IDC_ERR_PROTO) {
                st->proto++;
                rig_reset(r, &rx, st);
                break;
            }
            cr_assert(rc == 0 || rc == 2, "pop: %d", rc);
            cr_assert_leq(h.length, MAX_FRAME, "a %u-byte frame was accepted", h.length);
            if (rc == 0)
                dispatch(r, st, &h, b, &last_seq);
            /* hand the space back at once: the flipper then aims at the frame being read */
            idc_ring_rx_publish(&rx);
            cr_assert_eq(memcmp(guarded + MAX_FRAME, guard_pattern, GUARD), 0,
                         "receive buffer overrun");
        }
        idc_ring_rx_publish(&rx);
        if (atomic_load(&r->nwritten) >= MAX_FRAMES)
            break;
    }

    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    /* the writer may wait for room: drain until it is gone */
    for (;;) {
        int64_t avail = idc_ring_rx_poll(&rx);
        if (avail > 0) {
            struct idc_frame_hdr h;
            while (idc_ring_rx_pop(&rx, &h, buf) == 0)
                ;
            idc_ring_rx_publish(&rx);
        }
        if (pthread_tryjoin_np(wt, NULL) == 0)
            break;
        sched_yield();
    }
    cr_assert_eq(pthread_join(ft, NULL), 0);
    *flips = atomic_load(&r->flips);
    free(buf);
    free(guarded);
    munmap(r->tx_map, r->map_len);
    munmap(r->rx_map, r->map_len);
    free(r->list);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

Test(ringflip, frames_rewritten_after_publish_are_dispatched_intact_or_refused, .timeout = 60)
{
    struct stats st;
    uint64_t flips;
    run(recv_copy_once, 2500, false, &st, &flips);
    cr_log_info("copy-once receiver: %llu dispatched, %llu refused by checksum, %llu ring "
                "errors (rings rebuilt), %llu flips",
                (unsigned long long)st.dispatched, (unsigned long long)st.bad_sum,
                (unsigned long long)st.proto, (unsigned long long)flips);
    cr_assert_eq(st.wrong, 0, "%llu dispatched frames were not as written; first: %s",
                 (unsigned long long)st.wrong, st.first_wrong);
    /* the attack must have happened and the receiver must have kept working */
    cr_assert_gt(flips, 1000u, "only %llu flips", (unsigned long long)flips);
    cr_assert_gt(st.dispatched, 1000u, "only %llu frames dispatched",
                 (unsigned long long)st.dispatched);
    cr_assert_gt(st.bad_sum + st.proto, 0u, "no rewritten frame was ever seen");
}

Test(ringflip, control_double_fetching_receiver_is_caught, .timeout = 60)
{
    struct stats st;
    uint64_t flips;
    run(recv_double_fetch, 10000, true, &st, &flips);
    cr_log_info("double-fetching receiver: %llu wrong frames dispatched (first: %s) after %llu "
                "good ones, %llu flips",
                (unsigned long long)st.wrong, st.first_wrong, (unsigned long long)st.dispatched,
                (unsigned long long)flips);
    cr_assert_gt(st.wrong, 0u,
                 "a double-fetching receiver went unnoticed for 10 s "
                 "(%llu frames, %llu flips)",
                 (unsigned long long)st.dispatched, (unsigned long long)flips);
}
