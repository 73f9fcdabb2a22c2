/*
 * Bare single-producer/single-consumer ring in shared memory: the lower bound the idc runtime
 * is measured against. Fixed-size slots, each a u32 length (or a control kind) and a payload;
 * producer and consumer indexes on separate cache lines; event suppression as in Xen's rings:
 * a side that is about to sleep sets its "wait" flag, and the other side writes the eventfd
 * only when it sees that flag after publishing.
 *
 * Three ways to wait for the other side:
 *   BRING_BUSY   spin forever, never notify (no system call, no fence per message);
 *   BRING_BLOCK  sleep in read(eventfd) at once when there is nothing to do;
 *   BRING_SPIN   spin up to spin_ticks, then sleep as BRING_BLOCK.
 *
 * The ring header and slots live in a memfd mapped by both processes; the eventfds are
 * inherited across fork. The receiver copies each payload out before using it, as idc does.
 */
#ifndef IDC_BENCH_SHMRING_H
#define IDC_BENCH_SHMRING_H

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

enum bring_mode { BRING_BUSY, BRING_BLOCK, BRING_SPIN };

#define BRING_KIND_MARK 0xfffffffeu /* control: start counting (rate tests) */
#define BRING_KIND_STOP 0xffffffffu /* control: peer stops */

struct bring {
    _Alignas(64) _Atomic uint32_t prod; /* written by the producer only */
    _Atomic uint32_t prod_wait;         /* producer sleeps waiting for space */
    _Alignas(64) _Atomic uint32_t cons; /* written by the consumer only */
    _Atomic uint32_t cons_wait;         /* consumer sleeps waiting for data */
    _Alignas(64) uint32_t nslots;       /* power of two; fixed before fork */
    uint32_t slot_size;
    _Alignas(64) unsigned char slots[];
};

struct bring_end {
    struct bring *r;
    uint32_t idx;   /* own index (private copy) */
    uint32_t other; /* cached copy of the other side's index */
    int efd_data;   /* producer writes, consumer sleeps on it */
    int efd_space;  /* consumer writes, producer sleeps on it */
    enum bring_mode mode;
    uint64_t spin_ticks;
    int notify_space; /* consumer checks prod_wait after releasing (producer may block) */
};

static inline size_t bring_bytes(uint32_t nslots, uint32_t slot_size)
{
    return sizeof(struct bring) + (size_t)nslots * slot_size;
}

static inline unsigned char *bring_slot(struct bring *r, uint32_t i)
{
    return r->slots + (size_t)(i & (r->nslots - 1)) * r->slot_size;
}

static inline void bring_wake(int efd)
{
    uint64_t one = 1;
    ssize_t n = write(efd, &one, sizeof one);
    (void)n; /* eventfd counter overflow cannot happen at these rates */
}

/* Wait until *idx != seen. flag is this side's "wake me" word; efd the eventfd to sleep on. */
static inline void bring_wait(const struct bring_end *e, _Atomic uint32_t *idx, uint32_t seen,
                              _Atomic uint32_t *flag, int efd)
{
    if (e->mode == BRING_BUSY) {
        while (atomic_load_explicit(idx, memory_order_acquire) == seen)
            bench_cpu_relax();
        return;
    }
    if (e->mode == BRING_SPIN) {
        uint64_t t0 = bench_ticks();
        for (unsigned k = 0;; k++) {
            if (atomic_load_explicit(idx, memory_order_acquire) != seen)
                return;
            bench_cpu_relax();
            if ((k & 63) == 63 && bench_ticks() - t0 > e->spin_ticks)
                break;
        }
    }
    for (;;) {
        atomic_store_explicit(flag, 1, memory_order_relaxed);
        /* The flag must be visible before we look at the index again: pairs with the fence
           the other side executes between publishing its index and reading our flag. */
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load_explicit(idx, memory_order_acquire) != seen) {
            atomic_store_explicit(flag, 0, memory_order_relaxed);
            return;
        }
        uint64_t v;
        ssize_t n = read(efd, &v, sizeof v);
        (void)n;
        atomic_store_explicit(flag, 0, memory_order_relaxed);
        if (atomic_load_explicit(idx, memory_order_acquire) != seen)
            return;
    }
}

/* The notify decision after publishing: one full fence, then wake only a sleeper. */
static inline void bring_check_notify(_Atomic uint32_t *flag, int efd)
{
    /* Our index store must be visible before we read the peer's flag (see bring_wait). */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(flag, memory_order_relaxed) &&
        atomic_exchange_explicit(flag, 0, memory_order_relaxed))
        bring_wake(efd);
}

/* Producer: a free slot (waits for space). The slot is not visible until bring_publish. */
static inline unsigned char *bring_reserve(struct bring_end *p, uint32_t ahead)
{
    struct bring *r = p->r;
    uint32_t want = p->idx + ahead;
    while (want - p->other >= r->nslots) {
        p->other = atomic_load_explicit(&r->cons, memory_order_acquire);
        if (want - p->other < r->nslots)
            break;
        bring_wait(p, &r->cons, p->other, &r->prod_wait, p->efd_space);
    }
    return bring_slot(r, want);
}

/* Producer: make n reserved slots visible; then the notify decision unless busy-polling. */
static inline void bring_publish(struct bring_end *p, uint32_t n, int check)
{
    p->idx += n;
    /* slot contents before the index (pairs with the consumer's acquire load) */
    atomic_store_explicit(&p->r->prod, p->idx, memory_order_release);
    if (check && p->mode != BRING_BUSY)
        bring_check_notify(&p->r->cons_wait, p->efd_data);
}

/* Consumer: the next filled slot (waits for data). */
static inline unsigned char *bring_peek(struct bring_end *c)
{
    struct bring *r = c->r;
    if (c->idx == c->other) {
        c->other = atomic_load_explicit(&r->prod, memory_order_acquire);
        while (c->idx == c->other) {
            bring_wait(c, &r->prod, c->idx, &r->cons_wait, c->efd_data);
            c->other = atomic_load_explicit(&r->prod, memory_order_acquire);
        }
    }
    return bring_slot(r, c->idx);
}

/* Consumer: how many filled slots are visible without waiting. */
static inline uint32_t bring_avail(struct bring_end *c)
{
    if (c->idx == c->other)
        c->other = atomic_load_explicit(&c->r->prod, memory_order_acquire);
    return c->other - c->idx;
}

static inline void bring_release(struct bring_end *c, uint32_t n)
{
    c->idx += n;
    /* our reads of the slots happen before the producer may reuse them */
    atomic_store_explicit(&c->r->cons, c->idx, memory_order_release);
    if (c->notify_space && c->mode != BRING_BUSY)
        bring_check_notify(&c->r->prod_wait, c->efd_space);
}

#endif /* IDC_BENCH_SHMRING_H */
