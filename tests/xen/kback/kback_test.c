// SPDX-License-Identifier: GPL-2.0-only OR MIT
/* kback_test.c - the kernel backend of the check kbackxen (tests/xen/kbackxen.sh): a module
 * loaded in the domU after idc.ko, serving xen:kback?allow=0 with the protocol of
 * kback_proto.h to a user-space frontend in dom0 (tests/xen/transport/kbackfe_test.c).
 *
 * Echo transactions, held transactions (completed at a release message, or dropped at the
 * disconnect), pings answered with pongs, a hello at each connection, and transfers against
 * the frontend's remote buffers (idc.ko as the user of another domain's registrations): a
 * transform (read, add one to each byte, write back elsewhere) and a drain (the same read
 * again and again, cut by the frontend's death). The frontend's checks are reported by dom0;
 * what the domU script reads is here, in the module's parameters
 * (/sys/module/kback_test/parameters/): connects, disconnects, held (transactions held at the
 * last disconnect), unload_ok (the frontend said the module may go: its connection stays open
 * through the unload), xfers_ok, xfers_failed, xfers_inflight (transforms and drains),
 * drain_status, drain_reads (how the last drain ended, after how many reads), cut_gap_ms
 * (between the last drain's failure and the last disconnect). The module's unload destroys the
 * endpoint with its connection open.
 */
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/wait.h>
#include <linux/mm.h>

#include "idc.h"
#include "kback_proto.h"

static int connects, disconnects, held_at_disconnect, unload_ok;
module_param(connects, int, 0444);
MODULE_PARM_DESC(connects, "connections so far");
module_param(disconnects, int, 0444);
MODULE_PARM_DESC(disconnects, "disconnects so far");
module_param_named(held, held_at_disconnect, int, 0444);
MODULE_PARM_DESC(held, "transactions held when the last connection went down");
module_param(unload_ok, int, 0444);
MODULE_PARM_DESC(unload_ok, "the frontend asked for the unload");

static int xfers_ok, xfers_failed, xfers_inflight, drain_status, drain_reads, cut_gap_ms;
module_param(xfers_ok, int, 0444);
MODULE_PARM_DESC(xfers_ok, "transforms and drains that succeeded");
module_param(xfers_failed, int, 0444);
MODULE_PARM_DESC(xfers_failed, "transforms and drains that failed");
module_param(xfers_inflight, int, 0444);
MODULE_PARM_DESC(xfers_inflight, "transforms and drains not finished");
module_param(drain_status, int, 0444);
MODULE_PARM_DESC(drain_status, "how the last drain ended (0 or IDC_ERR_*)");
module_param(drain_reads, int, 0444);
MODULE_PARM_DESC(drain_reads, "reads the last drain completed");
module_param(cut_gap_ms, int, 0444);
MODULE_PARM_DESC(cut_gap_ms, "ms between the last failed drain's end and the last disconnect");
static unsigned long drain_end_j, disconnect_j;

static int pongs_queued;
module_param(pongs_queued, int, 0444);
MODULE_PARM_DESC(pongs_queued, "pongs that waited for message credit at most at once");

static char *address = "xen:" KBACK_SERVICE "?allow=0";
module_param(address, charp, 0444);
MODULE_PARM_DESC(address, "the address served");

static const uint64_t kb_hashes[1] = { KBACK_HASH };
static const struct idc_protocol kb_proto = {
    .name = KBACK_NAME,
    .min_version = 1,
    .max_version = 1,
    .version_hash = kb_hashes,
    .max_frame = KBACK_MAX_FRAME,
};

struct kb {
    struct idc_context *ctx;
    struct idc_endpoint ep;
    wait_queue_head_t wq;
    bool destroyed;
    struct idc_request *held[KBACK_HELD_MAX];
    unsigned int nheld;
    /* Pongs that found no message credit, in order, sent from the writable callback: a
       frontend may send pings faster than it reads the pongs (its send loop reads them only
       when its own credit runs out), and a message handler must not block. */
    struct kb_pong {
        uint8_t len, p[KBACK_PING_MAX];
    } pong[KBACK_PONGS_DUE];
    unsigned int pong_head, pong_n;
    uint8_t out[KBACK_MAX_FRAME]; /* callbacks run one at a time */
};

static struct kb *kb;

/* ------------------------------------------------------------- callbacks (the workqueue) */

static void kb_cut_gap(void)
{
    if (drain_end_j && disconnect_j)
        cut_gap_ms = (int)jiffies_to_msecs(drain_end_j > disconnect_j ? drain_end_j - disconnect_j
                                                                      : disconnect_j - drain_end_j);
}

/* A transform or drain in flight: its request completes when its transfers end. */
struct kb_xf {
    struct idc_request *r;
    struct idc_endpoint *ep;
    uint16_t op;
    struct kback_xform a;
    struct idc_rbuf src, dst;
    unsigned char *buf;
    uint32_t reads;
};

static void xf_finish(struct kb_xf *xf, int status)
{
    if (status) {
        xfers_failed++;
        pr_info("kback_test: %s ended after %u reads: %s\n",
                xf->op == KBACK_OP_DRAIN ? "drain" : "transform", xf->reads, idc_strerror(status));
    } else {
        xfers_ok++;
    }
    if (xf->op == KBACK_OP_DRAIN) {
        drain_status = status;
        drain_reads = (int)xf->reads;
        drain_end_j = jiffies;
        kb_cut_gap();
    }
    xfers_inflight--;
    idc_request_complete(xf->r, status, NULL, 0); /* after a disconnect: dropped */
    kvfree(xf->buf);
    kfree(xf);
}

static void xf_written(void *arg, int status)
{
    xf_finish(arg, status);
}

static void xf_read_done(void *arg, int status)
{
    struct kb_xf *xf = arg;
    uint32_t i;
    int r;

    if (!status)
        xf->reads++;
    if (status || (xf->op == KBACK_OP_DRAIN && xf->reads == xf->a.count)) {
        xf_finish(xf, status);
        return;
    }
    if (xf->op == KBACK_OP_DRAIN) {
        if (xf->reads == 1)
            idc_send_message(xf->ep, KBACK_OP_DRAINING, NULL, 0);
        r = idc_receive_from_remote_buffer(kb->ctx, &xf->src, 0, xf->buf, xf->a.len, xf_read_done,
                                           xf);
    } else {
        for (i = 0; i < xf->a.len; i++)
            xf->buf[i]++;
        r = idc_send_to_remote_buffer(kb->ctx, &xf->dst, xf->a.dst_off, xf->buf, xf->a.len,
                                      xf_written, xf);
    }
    if (r)
        xf_finish(xf, r);
}

/* Starts a transform or drain; 0 when it runs, or the status to complete the request with. */
static int xf_start(struct idc_endpoint *ep, struct idc_request *r, uint16_t op, const void *p,
                    size_t len)
{
    struct kb_xf *xf;
    int st;

    if (len != sizeof(xf->a))
        return IDC_ERR_PROTO;
    xf = kzalloc(sizeof(*xf), GFP_KERNEL);
    if (!xf)
        return IDC_ERR_NOMEM;
    memcpy(&xf->a, p, sizeof(xf->a));
    xf->r = r;
    xf->ep = ep;
    xf->op = op;
    st = idc_rbuf_decode(&xf->src, xf->a.src);
    if (!st && op == KBACK_OP_XFORM)
        st = idc_rbuf_decode(&xf->dst, xf->a.dst);
    if (!st && (xf->a.len == 0 || xf->a.len > KBACK_XFORM_MAX ||
                (op == KBACK_OP_DRAIN && xf->a.count == 0)))
        st = IDC_ERR_INVAL;
    xf->buf = st ? NULL : kvmalloc(xf->a.len, GFP_KERNEL);
    if (!st && !xf->buf)
        st = IDC_ERR_NOMEM;
    if (!st)
        st = idc_receive_from_remote_buffer(kb->ctx, &xf->src,
                                            op == KBACK_OP_DRAIN ? 0 : xf->a.src_off, xf->buf,
                                            xf->a.len, xf_read_done, xf);
    if (st) {
        kvfree(xf->buf);
        kfree(xf);
        return st;
    }
    xfers_inflight++;
    return 0;
}

static void kb_release(void)
{
    unsigned int i;

    for (i = 0; i < kb->nheld; i++)
        idc_request_complete(kb->held[i], 0, NULL, 0);
    kb->nheld = 0;
}

static void kb_connect(struct idc_endpoint *ep)
{
    uint8_t n[4];
    uint32_t c = (uint32_t)++connects;

    n[0] = (uint8_t)c;
    n[1] = (uint8_t)(c >> 8);
    n[2] = (uint8_t)(c >> 16);
    n[3] = (uint8_t)(c >> 24);
    pr_info("kback_test: connection %u\n", c);
    idc_send_message(ep, KBACK_OP_HELLO, n, sizeof(n));
}

static void kb_disconnect(struct idc_endpoint *ep)
{
    char why[128] = "";

    idc_endpoint_last_error(ep, why, sizeof(why));
    held_at_disconnect = (int)kb->nheld;
    disconnects++;
    disconnect_j = jiffies;
    kb_cut_gap();
    pr_info("kback_test: disconnect %d with %u transactions held%s%s\n", disconnects, kb->nheld,
            why[0] ? ": " : "", why);
    kb_release();   /* the connection is gone: the results go nowhere */
    kb->pong_n = 0; /* and so do the pongs still due */
    idc_endpoint_disconnect_done(ep);
}

/* Sends the pongs due, oldest first, until the credit runs out: 0, or a send's error other
   than IDC_ERR_AGAIN (the writable callback sends the rest). */
static int pongs_flush(struct idc_endpoint *ep)
{
    while (kb->pong_n) {
        struct kb_pong *q = &kb->pong[kb->pong_head];
        int r = idc_send_message(ep, KBACK_OP_PONG, q->p, q->len);

        if (r)
            return r == IDC_ERR_AGAIN ? 0 : r;
        kb->pong_head = (kb->pong_head + 1) % KBACK_PONGS_DUE;
        kb->pong_n--;
    }
    return 0;
}

/* A ping's pong joins the queue behind the ones still due (order kept): IDC_ERR_PROTO for a
   ping over KBACK_PING_MAX or beyond KBACK_PONGS_DUE unanswered ones. */
static int pong_queue(struct idc_endpoint *ep, const void *p, size_t len)
{
    struct kb_pong *q;
    int r;

    if (len > KBACK_PING_MAX || kb->pong_n == KBACK_PONGS_DUE)
        return IDC_ERR_PROTO;
    q = &kb->pong[(kb->pong_head + kb->pong_n++) % KBACK_PONGS_DUE];
    q->len = (uint8_t)len;
    memcpy(q->p, p, len);
    r = pongs_flush(ep);
    pongs_queued = max_t(int, pongs_queued, kb->pong_n); /* those left wait for credit */
    return r;
}

static void kb_writable(struct idc_endpoint *ep)
{
    pongs_flush(ep);
}

static int kb_message(struct idc_endpoint *ep, uint16_t op, const void *p, size_t len)
{
    switch (op) {
    case KBACK_OP_PING:
        return pong_queue(ep, p, len);
    case KBACK_OP_RELEASE:
        kb_release();
        return 0;
    case KBACK_OP_UNLOAD:
        unload_ok = 1;
        return 0;
    default:
        return IDC_ERR_PROTO;
    }
}

static int kb_transaction(struct idc_endpoint *ep, struct idc_request *r, uint16_t op,
                          const void *p, size_t len)
{
    const uint8_t *in = p;
    uint8_t n;
    size_t i;

    switch (op) {
    case KBACK_OP_ECHO:
        if (len > sizeof(kb->out))
            return IDC_ERR_PROTO;
        for (i = 0; i < len; i++)
            kb->out[i] = (uint8_t)(in[i] + 1);
        return idc_request_complete(r, 0, kb->out, len);
    case KBACK_OP_HOLD:
        if (kb->nheld == KBACK_HELD_MAX)
            return IDC_ERR_PROTO;
        kb->held[kb->nheld++] = r;
        n = (uint8_t)kb->nheld;
        idc_send_message(ep, KBACK_OP_HELD, &n, 1);
        return 0;
    case KBACK_OP_XFORM:
    case KBACK_OP_DRAIN: {
        int st = xf_start(ep, r, op, p, len);

        return st == IDC_ERR_PROTO ? st : st ? idc_request_complete(r, st, NULL, 0) : 0;
    }
    default:
        return IDC_ERR_PROTO;
    }
}

static const struct idc_endpoint_ops kb_ops = {
    .connect = kb_connect,
    .disconnect = kb_disconnect,
    .writable = kb_writable,
    .handle_message = kb_message,
    .handle_transaction = kb_transaction,
};

static void kb_destroyed(struct idc_endpoint *ep)
{
    kb->destroyed = true;
    wake_up(&kb->wq);
}

/* ------------------------------------------------------------------------- the module */

static int __init kb_init(void)
{
    struct idc_endpoint_config cfg = {
        .protocol = &kb_proto,
        .role = IDC_ROLE_BACKEND,
        .ops = &kb_ops,
        .max_transactions = 8,
        .max_messages = 32,
    };
    int r;

    kb = kzalloc(sizeof(*kb), GFP_KERNEL);
    if (!kb)
        return -ENOMEM;
    init_waitqueue_head(&kb->wq);
    r = idc_context_create(&kb->ctx, NULL);
    if (r) {
        pr_err("kback_test: idc_context_create: %s\n", idc_strerror(r));
        kfree(kb);
        return -EIO;
    }
    cfg.address = address;
    idc_endpoint_create(&kb->ep, kb->ctx, &cfg);
    if (idc_endpoint_state(&kb->ep) == IDC_EP_DEAD) {
        pr_err("kback_test: cannot serve %s\n", address);
        idc_context_destroy(kb->ctx);
        kfree(kb);
        return -EIO;
    }
    pr_info("kback_test: serving %s\n", address);
    return 0;
}

static void __exit kb_exit(void)
{
    idc_endpoint_destroy(&kb->ep, kb_destroyed);
    if (!wait_event_timeout(kb->wq, kb->destroyed, 20 * HZ))
        pr_err("kback_test: the endpoint's destroy did not complete\n");
    idc_context_destroy(kb->ctx);
    pr_info("kback_test: unloaded (%d connections, %d disconnects)\n", connects, disconnects);
    kfree(kb);
}

module_init(kb_init);
module_exit(kb_exit);

MODULE_DESCRIPTION("idc: a kernel backend serving the check kbackxen (check-xen)");
MODULE_LICENSE("Dual MIT/GPL");
