// SPDX-License-Identifier: GPL-2.0
/*
 * selftest.c - the rings (runtime/core/ring.c) and a generated codec (blkif) running as kernel
 * code. Linked by tests/kbuild/module.sh into the check's module; loading it runs every check at
 * once and prints one line per check to the kernel log:
 *
 *   idc_selftest: PASS CHECK
 *   idc_selftest: FAIL CHECK: WHY
 *
 * and the load fails (-EINVAL) when a check failed. The real-Xen harness loads it in the domU,
 * whose kernel it was built for (tests/xen/kmodxen.sh turns the lines into results); make check
 * only builds it. The rings here are one private page pair, not shared with another domain:
 * what is checked is the ring code as the kernel compiles it (its barriers are the kernel's),
 * and its refusal of a hostile peer's indexes.
 */
#include <linux/errno.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "blkif.h"
#include "ring.h"

#define RING_DATA 4096u /* the smallest ring: frames wrap around its end often */
#define MAX_FRAME 512u

/* One ring in private memory, with both of its ends. */
struct ring_pair {
    void *mem;
    struct idc_ring_tx tx;
    struct idc_ring_rx rx;
};

static int pair_open(struct ring_pair *p, u32 msg_limit)
{
    p->mem = kzalloc(idc_ring_bytes(RING_DATA), GFP_KERNEL);
    if (!p->mem)
        return -ENOMEM;
    idc_ring_init_shared(p->mem);
    idc_ring_tx_attach(&p->tx, p->mem, RING_DATA, msg_limit);
    idc_ring_rx_attach(&p->rx, p->mem, RING_DATA, MAX_FRAME);
    return 0;
}

static void pair_close(struct ring_pair *p)
{
    kfree(p->mem);
}

/* The payload byte at index i of frame n. */
static u8 pattern(u32 n, u32 i)
{
    return (u8)(n * 31u + i * 7u + 1u);
}

static const char *push_frame(struct ring_pair *p, u32 n, u8 kind, u8 *buf)
{
    struct idc_frame_hdr h;
    u32 i;

    memset(&h, 0, sizeof(h));
    h.kind = kind;
    h.opcode = (u16)n;
    h.length = (n * 37u) % MAX_FRAME;
    h.txn = n;
    for (i = 0; i < h.length; i++)
        buf[i] = pattern(n, i);
    if (idc_ring_push(&p->tx, &h, buf))
        return "push refused on a ring with room";
    return NULL;
}

static const char *pop_frame(struct ring_pair *p, u32 n, u8 kind, u8 *buf)
{
    struct idc_frame_hdr h;
    u32 i;

    if (idc_ring_rx_poll(&p->rx) <= 0)
        return "poll saw no frame after a push";
    if (idc_ring_rx_pop(&p->rx, &h, buf))
        return "pop refused a frame the ring code wrote";
    if (h.kind != kind || h.opcode != (u16)n || h.txn != n || h.length != (n * 37u) % MAX_FRAME)
        return "a header came out changed";
    for (i = 0; i < h.length; i++)
        if (buf[i] != pattern(n, i))
            return "a payload came out changed";
    return NULL;
}

/* 20000 frames of 0..511 bytes through a 4 KiB ring: every wrap position of the header and the
   payload; messages use credit, which the consumer gives back by publishing. */
static const char *ring_frames_roundtrip_across_wraps(void)
{
    struct ring_pair p;
    const char *why = NULL;
    u8 *buf = kmalloc(MAX_FRAME, GFP_KERNEL);
    u32 n;

    if (!buf || pair_open(&p, 4)) {
        kfree(buf);
        return "out of memory";
    }
    for (n = 0; n < 20000 && !why; n++) {
        u8 kind = n % 3 ? IDC_FRAME_REQUEST : IDC_FRAME_MESSAGE;

        if (kind == IDC_FRAME_MESSAGE && idc_ring_tx_msg_credit(&p.tx) == 0)
            why = "message credit not returned by publishing";
        if (!why)
            why = push_frame(&p, n, kind, buf);
        if (!why)
            why = pop_frame(&p, n, kind, buf);
        if (!why) {
            idc_ring_rx_publish(&p.rx);
            if (idc_ring_tx_check(&p.tx))
                why = "the producer refused the consumer's honest indexes";
        }
    }
    pair_close(&p);
    kfree(buf);
    return why;
}

/* A hostile peer's indexes are refused, not followed: prod beyond the ring, prod not on a frame
   boundary, a frame longer than max_frame, cons moving backwards. */
static const char *ring_refuses_hostile_indexes(void)
{
    struct ring_pair p;
    struct idc_ring_ctrl *c;
    struct idc_frame_hdr h;
    const char *why = NULL;
    u8 buf[64];

    if (pair_open(&p, 4))
        return "out of memory";
    c = p.mem;
    WRITE_ONCE(c->prod, RING_DATA + 8);
    if (idc_ring_rx_poll(&p.rx) != IDC_ERR_PROTO)
        why = "prod beyond the ring accepted";
    WRITE_ONCE(c->prod, 12);
    if (!why && idc_ring_rx_poll(&p.rx) != IDC_ERR_PROTO)
        why = "prod off the 8-byte frame alignment accepted";
    /* a header announcing more than max_frame */
    memset(&h, 0, sizeof(h));
    h.kind = IDC_FRAME_MESSAGE;
    h.length = MAX_FRAME + 8;
    memcpy((u8 *)p.mem + IDC_RING_CTRL_SIZE, &h, sizeof(h));
    WRITE_ONCE(c->prod, idc_frame_size(0));
    if (!why && (idc_ring_rx_poll(&p.rx) <= 0 || idc_ring_rx_pop(&p.rx, &h, buf) != IDC_ERR_PROTO))
        why = "a frame longer than max_frame accepted";
    /* the producer side: the consumer's cons moving backwards */
    memset(&h, 0, sizeof(h));
    h.kind = IDC_FRAME_REQUEST;
    if (!why && (idc_ring_push(&p.tx, &h, buf) || idc_ring_push(&p.tx, &h, buf)))
        why = "push refused on an empty ring";
    WRITE_ONCE(c->cons, idc_frame_size(0));
    if (!why && idc_ring_tx_check(&p.tx))
        why = "honest cons refused";
    WRITE_ONCE(c->cons, 0);
    if (!why && idc_ring_tx_check(&p.tx) != IDC_ERR_PROTO)
        why = "cons moving backwards accepted";
    pair_close(&p);
    return why;
}

/* Event suppression: a consumer that armed is notified of the next frame, one that disarmed
   (busy) is not. */
static const char *ring_notifies_only_an_armed_consumer(void)
{
    struct ring_pair p;
    struct idc_frame_hdr h;
    const char *why = NULL;
    u8 buf[64];

    if (pair_open(&p, 4))
        return "out of memory";
    memset(&h, 0, sizeof(h));
    h.kind = IDC_FRAME_REQUEST;
    if (idc_ring_rx_arm(&p.rx, 0))
        why = "an empty ring reported data";
    if (!why && idc_ring_push(&p.tx, &h, buf))
        why = "push refused";
    if (!why && !idc_ring_tx_need_notify(&p.tx))
        why = "an armed consumer was not notified";
    if (!why && (idc_ring_rx_poll(&p.rx) <= 0 || idc_ring_rx_pop(&p.rx, &h, buf)))
        why = "the frame did not come out";
    idc_ring_rx_disarm(&p.rx);
    if (!why && idc_ring_push(&p.tx, &h, buf))
        why = "push refused";
    if (!why && idc_ring_tx_need_notify(&p.tx))
        why = "a disarmed consumer was notified";
    pair_close(&p);
    return why;
}

/* Field by field: the padding of the structs is no part of the value. */
static bool same_segment(const struct blkif_read_segment *a, const struct blkif_read_segment *b)
{
    return a->buf.owner == b->buf.owner && a->buf.id == b->buf.id &&
           a->buf.generation == b->buf.generation && a->buf.length == b->buf.length &&
           a->buf.rights == b->buf.rights && !memcmp(a->buf.key, b->buf.key, sizeof(a->buf.key)) &&
           a->offset == b->offset && a->sectors == b->sectors;
}

/* blkif's read request through its generated encoder and decoder; every truncation refused. */
static const char *codec_blkif_read_roundtrip(void)
{
    struct blkif_read_args *in = kzalloc(sizeof(*in), GFP_KERNEL);
    struct blkif_read_args *out = kzalloc(sizeof(*out), GFP_KERNEL);
    u8 *wire = kmalloc(BLKIF_READ_ARGS_MAX_SIZE, GFP_KERNEL);
    struct blkif_wire_error err;
    const char *why = NULL;
    size_t len = 0, cut;
    u32 i;

    if (!in || !out || !wire) {
        why = "out of memory";
        goto out;
    }
    in->sector = 0x123456789abcull;
    in->segs_count = 11;
    for (i = 0; i < in->segs_count; i++) {
        in->segs[i].buf.owner = 0x1000u + i;
        in->segs[i].buf.id = i;
        in->segs[i].buf.generation = 7;
        in->segs[i].buf.length = 1u << 20;
        in->segs[i].buf.rights = IDC_RBUF_WRITE;
        memset(in->segs[i].buf.key, (int)(0xa0 + i), sizeof(in->segs[i].buf.key));
        in->segs[i].offset = i * 512;
        in->segs[i].sectors = i + 1;
    }
    if (blkif_read_args_encode(in, BLKIF_VERSION, wire, BLKIF_READ_ARGS_MAX_SIZE, &len, NULL)) {
        why = "encoding refused a valid request";
        goto out;
    }
    if (blkif_read_args_decode(out, BLKIF_VERSION, wire, len, &err)) {
        why = "decoding refused what the encoder wrote";
        goto out;
    }
    if (out->sector != in->sector || out->segs_count != in->segs_count)
        why = "the request came out changed";
    for (i = 0; i < in->segs_count && !why; i++)
        if (!same_segment(&out->segs[i], &in->segs[i]))
            why = "a segment came out changed";
    for (cut = 0; cut < len && !why; cut++)
        if (blkif_read_args_decode(out, BLKIF_VERSION, wire, cut, &err) != IDC_ERR_PROTO)
            why = "a truncated request was accepted";
out:
    kfree(wire);
    kfree(out);
    kfree(in);
    return why;
}

static const struct {
    const char *name;
    const char *(*run)(void);
} checks[] = {
    { "ring_frames_roundtrip_across_wraps", ring_frames_roundtrip_across_wraps },
    { "ring_refuses_hostile_indexes", ring_refuses_hostile_indexes },
    { "ring_notifies_only_an_armed_consumer", ring_notifies_only_an_armed_consumer },
    { "codec_blkif_read_roundtrip", codec_blkif_read_roundtrip },
};

static int __init idc_selftest_init(void)
{
    int failed = 0;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(checks); i++) {
        const char *why = checks[i].run();

        if (why) {
            pr_info("idc_selftest: FAIL %s: %s\n", checks[i].name, why);
            failed++;
        } else {
            pr_info("idc_selftest: PASS %s\n", checks[i].name);
        }
    }
    return failed ? -EINVAL : 0;
}

static void __exit idc_selftest_exit(void) {}

module_init(idc_selftest_init);
module_exit(idc_selftest_exit);
