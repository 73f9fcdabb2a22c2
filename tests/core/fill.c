/* fill.c - idc_send_message_fill: a message whose payload the caller writes in place in the
 * send ring. The pieces handed to fill cover the payload in order (two when the frame wraps at
 * the ring's end), the receiver gets exactly the bytes written, and every refusal (no credit,
 * too big, no fill, dead endpoint) leaves fill uncalled. Two contexts in one thread. */
#include <criterion/criterion.h>

#include "common.h"

TestSuite(fill, .timeout = 60);

static unsigned char byte_of(uint32_t seq, size_t i)
{
    return (unsigned char)(seq * 31u + i * 7u);
}

struct filler {
    uint32_t seq;
    size_t len, covered; /* payload bytes written so far, in order */
    unsigned calls;
    bool out_of_order;
};

static void fill_fn(void *arg, void *dst, size_t off, size_t n)
{
    struct filler *f = arg;
    f->calls++;
    if (off != f->covered || off + n > f->len)
        f->out_of_order = true;
    for (size_t i = 0; i < n; i++)
        ((unsigned char *)dst)[i] = byte_of(f->seq, off + i);
    f->covered = off + n;
}

static struct {
    uint32_t next, bad;
    volatile bool up;
} R;

static void r_connect(struct idc_endpoint *ep)
{
    (void)ep;
    R.up = true;
}
static void r_disconnect(struct idc_endpoint *ep)
{
    idc_endpoint_disconnect_done(ep);
}
static int r_txn(struct idc_endpoint *ep, struct idc_request *q, uint16_t op, const void *p,
                 size_t len)
{
    (void)ep, (void)q, (void)op, (void)p, (void)len;
    return IDC_ERR_PROTO;
}
/* op: the sequence number; the length follows from it (sizes below) */
static size_t size_of(uint32_t seq)
{
    return seq % 7 == 0 ? 0 : (seq * 977u) % 4096u + 1u;
}
static int r_msg(struct idc_endpoint *ep, uint16_t op, const void *p, size_t len)
{
    (void)ep;
    const unsigned char *b = p;
    bool ok = op == (uint16_t)R.next && len == size_of(R.next);
    for (size_t i = 0; ok && i < len; i++)
        ok = b[i] == byte_of(R.next, i);
    R.bad += !ok;
    R.next++;
    return 0;
}
static const struct idc_endpoint_ops r_ops = { .connect = r_connect,
                                               .disconnect = r_disconnect,
                                               .handle_message = r_msg,
                                               .handle_transaction = r_txn };

Test(fill, payloads_written_in_place_arrive_whole_across_the_wrap)
{
    const char *dir = rt_tmpdir();
    struct rt_log ls = { 0 }, lr = { 0 };
    struct idc_context *cs = rt_ctx(dir, &ls), *cr = rt_ctx(dir, &lr);
    static struct rt_drv snd;
    static struct idc_endpoint rcv;
    rt_drv_create(&snd, cs, IDC_ROLE_BACKEND, "shm:fill", &rt_proto_v12, 8);
    struct idc_endpoint_config cfg = { .protocol = &rt_proto_v12,
                                       .role = IDC_ROLE_FRONTEND,
                                       .address = "shm:fill",
                                       .ops = &r_ops,
                                       .max_messages = 8 };
    idc_endpoint_create(&rcv, cr, &cfg);
    cr_assert(rt_until2(cs, cr, &snd.connected, 5000), "connect; %s %s", ls.text, lr.text);
    cr_assert(rt_until2(cs, cr, &R.up, 5000));

    /* refusals: fill is not called */
    struct filler f = { .len = 10 };
    cr_assert_eq(idc_send_message_fill(&snd.ep, 1, 10, NULL, &f), IDC_ERR_INVAL);
    cr_assert_eq(idc_send_message_fill(&snd.ep, 1, 4097, fill_fn, &f), IDC_ERR_TOOBIG);
    struct idc_endpoint dead = { 0 };
    cr_assert_eq(idc_send_message_fill(&dead, 1, 10, fill_fn, &f), IDC_ERR_INVAL);
    cr_assert_eq(f.calls, 0u);

    /* 300 messages of 0..4096 bytes through 8 credits: the ring wraps many times */
    unsigned wrapped = 0, again = 0;
    uint32_t seq = 0;
    while (seq < 300) {
        f = (struct filler){ .seq = seq, .len = size_of(seq) };
        int r = idc_send_message_fill(&snd.ep, (uint16_t)seq, f.len, f.len ? fill_fn : NULL, &f);
        if (r == IDC_ERR_AGAIN) {
            cr_assert_eq(f.calls, 0u, "fill called for a message refused for credit");
            again++;
            idc_context_dispatch(cr, 5);
            idc_context_dispatch(cs, 0);
            continue;
        }
        cr_assert_eq(r, 0, "send %u: %s", seq, idc_strerror(r));
        cr_assert(!f.out_of_order && f.covered == f.len, "send %u: pieces cover %zu of %zu bytes",
                  seq, f.covered, f.len);
        cr_assert(f.calls <= 2);
        wrapped += f.calls == 2;
        seq++;
    }
    for (int i = 0; i < 200 && R.next < 300; i++) {
        idc_context_dispatch(cr, 5);
        idc_context_dispatch(cs, 0);
    }
    cr_assert_eq(R.next, 300u, "received %u of 300", R.next);
    cr_assert_eq(R.bad, 0u, "%u messages with wrong bytes", R.bad);
    cr_assert_gt(again, 0u, "the credit limit was never reached");
    cr_assert_gt(wrapped, 0u, "no frame wrapped at the ring's end");

    idc_endpoint_destroy(&snd.ep, NULL);
    idc_endpoint_destroy(&rcv, NULL);
    for (int i = 0; i < 5; i++) {
        idc_context_dispatch(cs, 5);
        idc_context_dispatch(cr, 5);
    }
    idc_context_destroy(cs);
    idc_context_destroy(cr);
    rt_rmdir(dir);
}
