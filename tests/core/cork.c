/* cork.c - idc_endpoint_cork / idc_endpoint_flush: sends outside dispatch publish their frames
 * but wake the peer only at the flush (or at the sender's next dispatch). Two contexts in one
 * thread, so a notification is the only way the receiver learns about frames. */
#include <criterion/criterion.h>

#include "common.h"

TestSuite(cork, .timeout = 60);

/* Dispatches the receiver a few times without blocking long; returns its message count. */
static unsigned settle(struct idc_context *rx, struct rt_drv *d)
{
    for (int i = 0; i < 5; i++)
        idc_context_dispatch(rx, 2);
    return d->msgs;
}

Test(cork, flush_delivers_a_corked_batch_with_one_decision)
{
    const char *dir = rt_tmpdir();
    struct rt_log lf = { 0 }, lb = { 0 };
    struct idc_context *cf = rt_ctx(dir, &lf), *cb = rt_ctx(dir, &lb);
    static struct rt_drv fe, be;
    rt_drv_create(&be, cb, IDC_ROLE_BACKEND, "shm:cork", &rt_proto_v12, 64);
    rt_drv_create(&fe, cf, IDC_ROLE_FRONTEND, "shm:cork", &rt_proto_v12, 64);
    cr_assert(rt_until2(cf, cb, &fe.connected, 5000), "connect; %s %s", lf.text, lb.text);
    cr_assert(rt_until2(cf, cb, &be.connected, 5000));

    /* Uncorked, outside dispatch: each send wakes the (sleeping) receiver. */
    cr_assert_eq(idc_send_message(&fe.ep, 1, "a", 1), 0);
    cr_assert_eq(settle(cb, &be), 1u);

    /* Corked: 16 frames published, no wake-up, so the receiver sees none of them... */
    cr_assert_eq(idc_endpoint_cork(&fe.ep), 0);
    for (int i = 0; i < 16; i++)
        cr_assert_eq(idc_send_message(&fe.ep, 2, &i, sizeof(i)), 0);
    cr_assert_eq(settle(cb, &be), 1u, "a corked send must not wake the receiver");
    /* ...until the flush: one notification, all 16 delivered in order. */
    cr_assert_eq(idc_endpoint_flush(&fe.ep), 0);
    cr_assert_eq(settle(cb, &be), 17u);
    int last;
    memcpy(&last, be.last, sizeof(last));
    cr_assert_eq(last, 15);

    /* The flush ended the cork: the next send wakes the receiver at once again. */
    cr_assert_eq(idc_send_message(&fe.ep, 1, "b", 1), 0);
    cr_assert_eq(settle(cb, &be), 18u);

    /* A cork left open is flushed by the sender's next dispatch. */
    cr_assert_eq(idc_endpoint_cork(&fe.ep), 0);
    cr_assert_eq(idc_send_message(&fe.ep, 1, "c", 1), 0);
    cr_assert_eq(settle(cb, &be), 18u);
    idc_context_dispatch(cf, 0);
    cr_assert_eq(settle(cb, &be), 19u);

    /* Dead endpoints are refused. */
    struct idc_endpoint dead = { 0 };
    cr_assert_eq(idc_endpoint_cork(&dead), IDC_ERR_INVAL);
    cr_assert_eq(idc_endpoint_flush(NULL), IDC_ERR_INVAL);

    idc_endpoint_flush(&fe.ep);
    idc_endpoint_destroy(&fe.ep, NULL);
    idc_endpoint_destroy(&be.ep, NULL);
    for (int i = 0; i < 5; i++) {
        idc_context_dispatch(cf, 5);
        idc_context_dispatch(cb, 5);
    }
    idc_context_destroy(cf);
    idc_context_destroy(cb);
    rt_rmdir(dir);
}
