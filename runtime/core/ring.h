/* ring.h - libidc private: single-producer/single-consumer frame rings in shared memory.
 *
 * Transport-independent: the shm transport puts the rings in a memfd, the Xen transport in
 * granted pages. Only how the pages are shared and how the peer is woken differs.
 *
 * Shared layout of one ring (one direction), IDC_RING_CTRL_SIZE bytes of control followed by
 * `size` data bytes (size a power of two, >= IDC_RING_MIN_SIZE):
 *
 *   line 0 (written by the PRODUCER only)
 *     u32 prod          bytes published, free-running (wraps at 2^32)
 *     u32 credit_event  "notify me when msg_cons reaches this" (producer waits for credit)
 *   line 1 (written by the CONSUMER only)
 *     u32 cons          bytes consumed, free-running
 *     u32 msg_cons      message frames consumed, free-running (returns message credits)
 *     u32 prod_event    "notify me when prod passes this" (consumer waits for data)
 *     u32 sleep_cpu     the CPU the consumer armed on, plus one; 0: not said (a hint only)
 *
 * Event suppression follows Xen's req_event / virtio's used_event: after publishing, a side
 * notifies only if the peer's event index lies in (old, new] of what it just moved. A sleeping
 * consumer sets prod_event = cons + 1, then re-checks prod (full barrier in between), exactly
 * like RING_FINAL_CHECK_FOR_REQUESTS.
 *
 * Frames: a header (struct idc_frame_hdr, 24 bytes) followed by `length` payload bytes, padded to
 * 8 bytes. Frames start at 8-byte aligned positions and may wrap around the end of the data area
 * (the copy helpers split them). Byte order is the host's (both sides share the machine).
 *
 * Hostile peer rules (enforced here; violations are IDC_ERR_PROTO and the caller disconnects):
 * every shared index is read ONCE per round into private memory and validated against the legal
 * window (0 <= prod - cons <= size, multiple of 8; credits never negative nor above the quota);
 * a frame is copied out ONCE (header, then payload) into private memory before any field is used.
 */
#ifndef IDC_RING_H
#define IDC_RING_H

/* The same file builds in user space and in a kernel module (kbuild defines __KERNEL__): one
   ring implementation, two builds. */
#ifdef __KERNEL__
#include <asm/barrier.h>    /* virt_load_acquire, virt_store_release, virt_mb */
#include <linux/compiler.h> /* READ_ONCE, WRITE_ONCE */
#include <linux/string.h>
#include <linux/types.h>
#else
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#endif

#include "idc.h" /* IDC_ERR_* */

/* Ordered accesses to the shared control block, each with the same ordering in both builds: the
   C11 atomics in user space, the kernel's own primitives in a module. The kernel ones are the
   virt_* flavour because the peer may be another domain: smp_* barriers become compiler
   barriers in a kernel built without SMP, while the peer still runs on another CPU. */
#ifdef __KERNEL__
#define IDC_RING_LOAD_ACQ(p)     virt_load_acquire(p)
#define IDC_RING_LOAD_RLX(p)     READ_ONCE(*(p))
#define IDC_RING_STORE_REL(p, v) virt_store_release(p, v)
#define IDC_RING_STORE_RLX(p, v) WRITE_ONCE(*(p), v)
#define IDC_RING_FULL_FENCE()    virt_mb()
#else
#define IDC_RING_LOAD_ACQ(p)     __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define IDC_RING_LOAD_RLX(p)     __atomic_load_n((p), __ATOMIC_RELAXED)
#define IDC_RING_STORE_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define IDC_RING_STORE_RLX(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define IDC_RING_FULL_FENCE()    __atomic_thread_fence(__ATOMIC_SEQ_CST)
#endif

#define IDC_RING_CACHELINE 64u
#define IDC_RING_CTRL_SIZE 256u /* control block, keeps data 256-byte aligned */
#define IDC_RING_MIN_SIZE  4096u
#define IDC_RING_MAX_SIZE  (1u << 28)
#define IDC_FRAME_ALIGN    8u
/* idc_ring_tx_decide_early looks at most once per this many bytes sent: 16 frames of an 8-byte
   message, an eighth of the smallest ring (256 to 2048 bytes measured alike; more waits longer
   to wake the consumer, less reads its line more often) */
#define IDC_RING_EARLY_BYTES 512u
#define IDC_RING_SMALL_COPY  512u /* idc_ring_copy_bytes copies up to this many inline */

enum idc_frame_kind {
    IDC_FRAME_MESSAGE = 1,  /* one-way; txn and status 0 */
    IDC_FRAME_REQUEST = 2,  /* txn = requester's transaction id; status 0 */
    IDC_FRAME_RESPONSE = 3, /* txn echoes the request; status = 0, >0 app error, <0 IDC_ERR_* */
};

struct idc_frame_hdr {
    uint8_t kind;      /* enum idc_frame_kind */
    uint8_t flags;     /* 0 (reserved) */
    uint16_t opcode;   /* protocol opcode (echoed in responses) */
    uint32_t length;   /* payload bytes after the header (<= negotiated max_frame) */
    uint32_t epoch;    /* connection epoch from the handshake; any other value is an error */
    uint32_t txn;      /* transaction id (requests/responses), 0 for messages */
    int32_t status;    /* responses only */
    uint32_t reserved; /* 0 */
};
_Static_assert(sizeof(struct idc_frame_hdr) == 24, "frame header is 24 bytes");

/* Bytes a frame with `len` payload bytes occupies in a ring. */
static inline uint32_t idc_frame_size(uint32_t len)
{
    return (uint32_t)((sizeof(struct idc_frame_hdr) + len + IDC_FRAME_ALIGN - 1) &
                      ~(size_t)(IDC_FRAME_ALIGN - 1));
}

struct idc_ring_ctrl {
    _Alignas(IDC_RING_CACHELINE) uint32_t prod; /* producer line */
    uint32_t credit_event;
    _Alignas(IDC_RING_CACHELINE) uint32_t cons; /* consumer line */
    uint32_t msg_cons;
    uint32_t prod_event;
    uint32_t sleep_cpu; /* hint: idc_ring_tx_decide_early */
    unsigned char pad_[IDC_RING_CTRL_SIZE - IDC_RING_CACHELINE - 16];
};
_Static_assert(sizeof(struct idc_ring_ctrl) == IDC_RING_CTRL_SIZE, "ring control block size");

/* Producer side (private state; the shared control block and data are hostile memory). */
struct idc_ring_tx {
    struct idc_ring_ctrl *ctrl;
    unsigned char *data;
    uint32_t size, mask;
    uint32_t prod;        /* private: bytes written (idc_ring_write) */
    uint32_t published;   /* prod last stored to shared memory (idc_ring_tx_publish) */
    uint32_t notified;    /* prod value covered by the last notify decision */
    uint32_t msg_sent;    /* message frames pushed */
    uint32_t msg_limit;   /* message credit */
    uint32_t msg_cons;    /* last validated msg_cons from the consumer */
    uint32_t cons;        /* last validated cons (re-read only when space seems short) */
    uint32_t credit_want; /* the credit_event value we stored last */
    uint32_t asked;       /* distinct credit_event values stored (idc_ring_asked) */
    uint32_t looked;      /* prod when idc_ring_tx_decide_early last looked, or a decision */
};

/* Consumer side. */
struct idc_ring_rx {
    struct idc_ring_ctrl *ctrl;
    const unsigned char *data;
    uint32_t size, mask;
    uint32_t cons;               /* private: bytes consumed */
    uint32_t prod;               /* private: last validated prod */
    uint32_t msg_cons;           /* private: messages consumed */
    uint32_t published_msg_cons; /* msg_cons last stored to shared memory */
    uint32_t published_cons;     /* cons last stored to shared memory */
    uint32_t max_frame;
    bool armed;         /* private: prod_event asks for a notification (idc_ring_rx_arm) */
    uint32_t arm_value; /* the prod_event value idc_ring_rx_arm stored last */
    uint32_t asked;     /* distinct prod_event values stored (idc_ring_asked) */
};

/* Bytes of shared memory for one ring with `size` data bytes. */
static inline size_t idc_ring_bytes(uint32_t size)
{
    return IDC_RING_CTRL_SIZE + (size_t)size;
}
/* Ring data size able to hold `frames` frames of up to max_frame payload bytes, or 0 if it would
   exceed IDC_RING_MAX_SIZE. */
uint32_t idc_ring_size_for(uint32_t frames, uint32_t max_frame);

/* Zero a ring's control block (the side that creates the shared memory does it once). */
void idc_ring_init_shared(void *mem);
void idc_ring_tx_attach(struct idc_ring_tx *tx, void *mem, uint32_t size, uint32_t msg_limit);
void idc_ring_rx_attach(struct idc_ring_rx *rx, void *mem, uint32_t size, uint32_t max_frame);

/* Producer. idc_ring_tx_check re-reads the consumer's indexes once and validates them
   (0 or IDC_ERR_PROTO). idc_ring_tx_space: free bytes by the last check. */
int idc_ring_tx_check(struct idc_ring_tx *tx);
static inline uint32_t idc_ring_tx_space(const struct idc_ring_tx *tx, uint32_t cons)
{
    return tx->size - (tx->prod - cons);
}
static inline uint32_t idc_ring_tx_msg_credit(const struct idc_ring_tx *tx)
{
    return tx->msg_limit - (tx->msg_sent - tx->msg_cons);
}
/* Out-of-line parts of idc_ring_push / idc_ring_rx_pop: re-reading cons when the ring looks
   full (0, IDC_ERR_AGAIN, IDC_ERR_PROTO), and copies that wrap around the end of the data. */
int idc_ring_tx_room(struct idc_ring_tx *tx, uint32_t fsize);
/* A frame this large is followed by a prefetch (for writing) of the ring bytes the next frame
   of its size will take: on a ring much larger than the cache those lines are cold, and the
   stores of the next frame (a response, the next request) then wait for them on the round
   trip's path; fetched while the peer works, they are not. 1 KiB spinning round trip, cross-core:
   1.30-1.36x the bare ring without, 1.21-1.24x with. Smaller frames gain nothing measurable. */
#define IDC_RING_PREFETCH_MIN 600u
void idc_ring_tx_prefetch(const struct idc_ring_tx *tx, uint32_t fsize);
void idc_ring_copy_in(const struct idc_ring_tx *tx, uint32_t pos, const void *src, uint32_t len);
void idc_ring_copy_out(const struct idc_ring_rx *rx, uint32_t pos, void *dst, uint32_t len);

/* Small copies without a call into the C library: the frames of a message or a short
   transaction are a few dozen bytes, where the call and its size dispatch cost more than the
   copy itself. Up to IDC_RING_SMALL_COPY bytes go 32 at a time: the C library's copy of 65 to
   512 bytes (the AVX-512 one on the test machine) made a spinning cross-core round trip of
   96 to 512 bytes 0.1-0.5 us slower than with this loop, a 128-byte one 1.6x a 64-byte one;
   from 768 bytes the library's wider copy is faster again (docs/performance.md). Each byte of
   dst is stored from one load of src; bytes in the overlap of two chunks are loaded twice and
   the later load wins, which is harmless on the receive side too: only the private copy is
   ever used (copy once, then validate). */
static inline __attribute__((always_inline)) void idc_ring_copy_bytes(unsigned char *dst,
                                                                      const unsigned char *src,
                                                                      uint32_t len)
{
    if (len >= 8 && len <= 16) {
        uint64_t a, b;
        memcpy(&a, src, 8);
        memcpy(&b, src + len - 8, 8);
        memcpy(dst, &a, 8);
        memcpy(dst + len - 8, &b, 8);
    } else if (len > 16 && len <= 32) {
        uint64_t a[2], b[2];
        memcpy(a, src, 16);
        memcpy(b, src + len - 16, 16);
        memcpy(dst, a, 16);
        memcpy(dst + len - 16, b, 16);
    } else if (len >= 4 && len < 8) {
        uint32_t a, b;
        memcpy(&a, src, 4);
        memcpy(&b, src + len - 4, 4);
        memcpy(dst, &a, 4);
        memcpy(dst + len - 4, &b, 4);
    } else if (len > 32 && len <= IDC_RING_SMALL_COPY) {
        uint32_t i;
        uint64_t a[4];
        for (i = 0; i + 32 <= len; i += 32) {
            memcpy(a, src + i, 32);
            memcpy(dst + i, a, 32);
        }
        if (i < len) { /* the tail: the last 32 bytes, overlapping what is done */
            memcpy(a, src + len - 32, 32);
            memcpy(dst + len - 32, a, 32);
        }
    } else if (len) {
        memcpy(dst, src, len);
    }
}

/* Makes every frame written so far visible to the consumer; for a caller that just wrote one
   (no test: a store to prod that changes nothing would still take the line from a consumer
   polling it, so idc_ring_tx_publish tests first). */
static inline void idc_ring_tx_store_prod(struct idc_ring_tx *tx)
{
    tx->published = tx->prod;
    /* Release: the frame bytes must be visible before the consumer sees the new prod. */
    IDC_RING_STORE_REL(&tx->ctrl->prod, tx->prod);
}

/* Makes every frame written so far visible to the consumer, if there is any new one. */
static inline void idc_ring_tx_publish(struct idc_ring_tx *tx)
{
    if (tx->published != tx->prod)
        idc_ring_tx_store_prod(tx);
}

/* Room for a frame of fsize bytes at prod (idc_ring_write and _fill): 0, or idc_ring_tx_room's
   error. The cached consumer index answers first; only a ring that looks full reads the
   consumer's line again. */
static inline __attribute__((always_inline)) int idc_ring_tx_reserve(struct idc_ring_tx *tx,
                                                                     uint32_t fsize)
{
    if (__builtin_expect(tx->size - (tx->prod - tx->cons) >= fsize, 1))
        return 0;
    return idc_ring_tx_room(tx, fsize);
}

/* The frame of fsize bytes at prod is written: account for it (idc_ring_write and _fill). */
static inline void idc_ring_wrote(struct idc_ring_tx *tx, const struct idc_frame_hdr *h,
                                  uint32_t fsize)
{
    tx->prod += fsize;
    if (h->kind == IDC_FRAME_MESSAGE)
        tx->msg_sent++;
    if (fsize >= IDC_RING_PREFETCH_MIN)
        idc_ring_tx_prefetch(tx, fsize);
}

/* Writes one frame without publishing it (idc_ring_tx_publish does, and every notify decision
   publishes first). Returns 0, IDC_ERR_AGAIN (no room: only a peer that stopped consuming can
   cause it, callers sized the ring), IDC_ERR_PROTO (bad cons). Forced inline: it is the whole
   send path of a message (GCC kept it out of line, a call and the header stored to memory
   only to be copied again: 22 instructions per message). */
static inline __attribute__((always_inline)) int idc_ring_write(struct idc_ring_tx *tx,
                                                                const struct idc_frame_hdr *h,
                                                                const void *payload)
{
    uint32_t len = h->length;
    uint32_t fsize = idc_frame_size(len);
    uint32_t off;
    int r = idc_ring_tx_reserve(tx, fsize);

    if (r)
        return r;
    off = tx->prod & tx->mask;
    if (tx->size - off >= fsize) {
        /* The whole frame lies before the end of the data area (the common case). */
        unsigned char *d = tx->data + off;
        memcpy(d, h, sizeof(*h));
        idc_ring_copy_bytes(d + sizeof(*h), (const unsigned char *)payload, len);
    } else {
        idc_ring_copy_in(tx, tx->prod, h, sizeof(*h));
        if (len)
            idc_ring_copy_in(tx, tx->prod + (uint32_t)sizeof(*h), payload, len);
    }
    idc_ring_wrote(tx, h, fsize);
    return 0;
}

/* idc_ring_write's frame, its payload written in place by fill(arg, dst, off, n): once, or
   twice when the frame wraps at the end of the data area (off: where dst lies in the payload).
   Same results as idc_ring_write; fill is not called unless the frame fits. */
int idc_ring_write_fill(struct idc_ring_tx *tx, const struct idc_frame_hdr *h,
                        void (*fill)(void *arg, void *dst, size_t off, size_t n), void *arg);

/* Writes one frame and publishes it at once (idc_ring_write's results). */
static inline int idc_ring_push(struct idc_ring_tx *tx, const struct idc_frame_hdr *h,
                                const void *payload)
{
    int r = idc_ring_write(tx, h, payload);
    if (r == 0)
        idc_ring_tx_store_prod(tx);
    return r;
}
/* Publishes what was written, then the notify decision for everything published since the
   last call: true if the consumer asked. */
bool idc_ring_tx_need_notify(struct idc_ring_tx *tx);
/* Whether a producer that defers its notify decision (sends from callbacks: one decision when
   the dispatch round ends) should take it now, publishing the round's frames so far once per
   IDC_RING_EARLY_BYTES on the way (a consumer that polls starts on them). A round can be
   long: a producer answering a pile of acknowledgements sends hundreds of frames in one, and
   a consumer asleep meanwhile idles until the round ends, then the producer idles while it
   catches up (cross-core, that stop-and-go halved the message rate). So, once per
   IDC_RING_EARLY_BYTES sent (not per frame: the consumer's line would move between the CPUs
   at every frame), look at that line without a barrier (the round's own decision stays the
   authority; a stale value costs one decision or notification, nothing else): decide now if
   the consumer is armed for these frames and did not arm on the CPU `cpu` names (this
   thread's, plus one; NULL if the peer does not share our CPUs). A consumer asleep on our CPU
   cannot run beside us: waking it early only makes it take the CPU from us, a switch per
   early decision where the round's end needs one. The peer's sleep_cpu is only compared. */
static inline bool idc_ring_tx_decide_early(struct idc_ring_tx *tx, uint32_t (*cpu)(void))
{
    uint32_t old = tx->notified, new = tx->prod;
    uint32_t ev, sleep_cpu;

    if (new - tx->looked < IDC_RING_EARLY_BYTES)
        return false;
    tx->looked = new;
    idc_ring_tx_publish(tx);
    ev = IDC_RING_LOAD_RLX(&tx->ctrl->prod_event);
    if ((uint32_t)(new - ev) >= (uint32_t)(new - old))
        return false; /* not armed for these frames (running, spinning) */
    sleep_cpu = IDC_RING_LOAD_RLX(&tx->ctrl->sleep_cpu);
    return !cpu || sleep_cpu == 0 || sleep_cpu != cpu();
}
/* Ask to be notified once message credit is back; returns true if it already is (no wait). */
bool idc_ring_tx_arm_credit(struct idc_ring_tx *tx);

/* Consumer. idc_ring_rx_poll reads prod once and validates it: returns bytes available (>= 0)
   or IDC_ERR_PROTO. */
int64_t idc_ring_rx_poll(struct idc_ring_rx *rx);
/* True if the producer published more than we validated (cheap; for spinning). */
static inline bool idc_ring_rx_pending(const struct idc_ring_rx *rx)
{
    return IDC_RING_LOAD_RLX(&rx->ctrl->prod) != rx->cons;
}
/* Copies the next frame out (header into *h, payload into buf of rx->max_frame bytes) and
   validates the header's framing (length bound and fit, kind, flags, reserved). Requires
   idc_ring_rx_poll() to have shown data. Returns 0, 1 (no complete frame), IDC_ERR_PROTO.
   Inline: it is the whole receive path of a message. */
static inline int idc_ring_rx_pop(struct idc_ring_rx *rx, struct idc_frame_hdr *h, void *buf)
{
    uint32_t avail = rx->prod - rx->cons;
    uint32_t off, len, fsize;
    bool flat;

    if (avail == 0)
        return 1;
    if (avail < sizeof(*h))
        return IDC_ERR_PROTO; /* a published partial frame */
    off = rx->cons & rx->mask;
    flat = rx->size - off >= sizeof(*h);
    if (flat)
        memcpy(h, rx->data + off, sizeof(*h)); /* the only read of the header */
    else
        idc_ring_copy_out(rx, rx->cons, h, sizeof(*h));
    len = h->length;
    if (len > rx->max_frame)
        return IDC_ERR_PROTO;
    fsize = idc_frame_size(len);
    if (fsize > avail)
        return IDC_ERR_PROTO;
    if (h->kind < IDC_FRAME_MESSAGE || h->kind > IDC_FRAME_RESPONSE || h->flags || h->reserved)
        return IDC_ERR_PROTO;
    if (len) { /* the only read of the payload */
        if (flat && rx->size - off >= fsize)
            idc_ring_copy_bytes((unsigned char *)buf, rx->data + off + sizeof(*h), len);
        else
            idc_ring_copy_out(rx, rx->cons + (uint32_t)sizeof(*h), buf, len);
    }
    rx->cons += fsize;
    if (h->kind == IDC_FRAME_MESSAGE)
        rx->msg_cons++;
    return 0;
}
/* Publishes cons/msg_cons (release). Returns true if the producer asked to be told (credit). */
bool idc_ring_rx_publish(struct idc_ring_rx *rx);
/* Publishes cons alone, before a request is sent: a responder counts the responses we have not
   consumed against our transaction credit, so the ones we handled must be visible first.
   Release: our copies out of those frames are complete before the producer reuses the space;
   the request's own release store of prod (on the other ring) orders this store before it. */
static inline void idc_ring_rx_publish_cons(struct idc_ring_rx *rx)
{
    if (rx->published_cons != rx->cons) {
        IDC_RING_STORE_REL(&rx->ctrl->cons, rx->cons);
        rx->published_cons = rx->cons;
    }
}
/* How many notifications an honest peer may send us on this ring pair: one per distinct event
   index value we stored (it notifies when its index passes the value, once). Both an arm and
   the peer's publication can see each other, so some of these notifications find their work
   already done; they are not a storm. Re-arming at the same value adds nothing, so a peer
   notifying without publishing or consuming cannot raise it. */
static inline uint32_t idc_ring_asked(const struct idc_ring_tx *tx, const struct idc_ring_rx *rx)
{
    return tx->asked + rx->asked;
}
/* Before sleeping: sleep_cpu (the CPU we sleep on plus one, 0 if not said:
   idc_ring_tx_decide_early), prod_event = cons + 1, full barrier, re-check. Returns true if
   data arrived meanwhile (do not sleep). The ring stays armed (rx->armed) until
   idc_ring_rx_disarm. */
bool idc_ring_rx_arm(struct idc_ring_rx *rx, uint32_t sleep_cpu);
/* While running or spinning: ask not to be notified (no barrier: a producer that still sees
   the old prod_event only notifies once too often). */
void idc_ring_rx_disarm(struct idc_ring_rx *rx);

#endif /* IDC_RING_H */
