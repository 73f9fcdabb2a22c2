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

/* ------------------------------------------------------------------ inside dispatch */

/* A cork changes nothing inside dispatch (idc_endpoint_cork(3)): a callback that corks and sends
   a long batch still wakes a consumer asleep on another CPU once the batch passes the early
   decision's threshold (ring.h, IDC_RING_EARLY_BYTES), as an uncorked one does, and does not
   leave it asleep until the round ends. The consumer runs on a thread of its own, pinned to
   another CPU than the sender's; the sender's callback waits for it to take frames. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

enum { OP_GO = 1, OP_DATA = 2, BATCH = 64 };

static struct {
    struct idc_context *rx_ctx;
    struct idc_endpoint tx_ep, rx_ep;
    volatile bool tx_up, rx_up;
    atomic_uint got;  /* OP_DATA messages the consumer took */
    atomic_bool stop; /* the consumer thread returns */
    int rx_cpu, rx_err;
    bool in_round;         /* the sender's callback ran */
    unsigned got_in_round; /* what the consumer had taken when that callback gave up waiting */
} E;

static void e_connect(struct idc_endpoint *ep)
{
    *(ep == &E.tx_ep ? &E.tx_up : &E.rx_up) = true;
}
static void e_disconnect(struct idc_endpoint *ep)
{
    idc_endpoint_disconnect_done(ep);
}
static int e_txn(struct idc_endpoint *ep, struct idc_request *r, uint16_t op, const void *p,
                 size_t len)
{
    (void)ep, (void)r, (void)op, (void)p, (void)len;
    return IDC_ERR_PROTO; /* none in this protocol */
}
static int e_rx_msg(struct idc_endpoint *ep, uint16_t op, const void *p, size_t len)
{
    (void)ep, (void)p, (void)len;
    if (op == OP_DATA)
        atomic_fetch_add(&E.got, 1);
    return 0;
}
/* OP_GO: give the consumer time to fall asleep, cork, send BATCH frames of 32 bytes, then wait
   up to 2 s for the consumer to take some before the round (and its end's decision) is over */
static int e_tx_msg(struct idc_endpoint *ep, uint16_t op, const void *p, size_t len)
{
    (void)p, (void)len;
    if (op != OP_GO)
        return IDC_ERR_PROTO;
    usleep(50 * 1000);
    cr_assert_eq(idc_endpoint_cork(ep), 0);
    unsigned char payload[16] = { 0 };
    for (int i = 0; i < BATCH; i++)
        cr_assert_eq(idc_send_message(ep, OP_DATA, payload, sizeof(payload)), 0, "send %d", i);
    for (int i = 0; i < 2000 && atomic_load(&E.got) == 0; i++)
        usleep(1000);
    E.got_in_round = atomic_load(&E.got);
    E.in_round = true;
    return 0;
}
static const struct idc_endpoint_ops e_tx_ops = { .connect = e_connect,
                                                  .disconnect = e_disconnect,
                                                  .handle_message = e_tx_msg,
                                                  .handle_transaction = e_txn };
static const struct idc_endpoint_ops e_rx_ops = { .connect = e_connect,
                                                  .disconnect = e_disconnect,
                                                  .handle_message = e_rx_msg,
                                                  .handle_transaction = e_txn };

static int pin(int cpu)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    return pthread_setaffinity_np(pthread_self(), sizeof(s), &s);
}

/* no cr_assert here (it may only end the test from the test's own thread): errors go to rx_err */
static void *consumer(void *arg)
{
    (void)arg;
    if ((E.rx_err = pin(E.rx_cpu)) || (E.rx_err = idc_send_message(&E.rx_ep, OP_GO, NULL, 0)))
        return NULL;
    while (!atomic_load(&E.stop))
        idc_context_dispatch(E.rx_ctx, 50);
    return NULL;
}

/* two CPUs this process may run on, or false */
static bool two_cpus(int cpu[2])
{
    cpu_set_t s;
    int n = 0;
    if (sched_getaffinity(0, sizeof(s), &s))
        return false;
    for (int i = 0; i < CPU_SETSIZE && n < 2; i++)
        if (CPU_ISSET(i, &s))
            cpu[n++] = i;
    return n == 2;
}

Test(cork, inside_dispatch_a_long_corked_batch_wakes_a_sleeping_peer_early)
{
    int cpu[2];
    if (!two_cpus(cpu))
        cr_skip_test("needs two CPUs: the early decision is for a consumer on another CPU");
    /* The consumer arms on the CPU it runs on, and stays armed while nothing comes: connect
       on its CPU too, so that the CPU it said when it armed is its own, not the sender's. */
    cr_assert_eq(pin(cpu[1]), 0);
    const char *dir = rt_tmpdir();
    struct rt_log lt = { 0 }, lr = { 0 };
    struct idc_context *ct = rt_ctx(dir, &lt);
    E.rx_ctx = rt_ctx(dir, &lr);
    E.rx_cpu = cpu[1];
    struct idc_endpoint_config cfg = { .protocol = &rt_proto_v12,
                                       .role = IDC_ROLE_BACKEND,
                                       .address = "shm:corkd",
                                       .ops = &e_tx_ops,
                                       .max_messages = 2 * BATCH };
    idc_endpoint_create(&E.tx_ep, ct, &cfg);
    cfg.role = IDC_ROLE_FRONTEND;
    cfg.ops = &e_rx_ops;
    idc_endpoint_create(&E.rx_ep, E.rx_ctx, &cfg);
    cr_assert(rt_until2(ct, E.rx_ctx, &E.tx_up, 5000), "connect; %s %s", lt.text, lr.text);
    cr_assert(rt_until2(ct, E.rx_ctx, &E.rx_up, 5000));

    cr_assert_eq(pin(cpu[0]), 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, consumer, NULL), 0);
    for (int i = 0; i < 500 && (!E.in_round || atomic_load(&E.got) < BATCH); i++)
        idc_context_dispatch(ct, 10);
    atomic_store(&E.stop, true);
    pthread_join(th, NULL);

    cr_assert_eq(E.rx_err, 0, "consumer thread: %d", E.rx_err);
    cr_assert(E.in_round, "the sender's callback never ran; %s", lt.text);
    cr_assert_gt(E.got_in_round, 0u, "the consumer slept through the corked callback's %d frames",
                 BATCH);
    cr_assert_eq(atomic_load(&E.got), BATCH, "every frame arrives");

    idc_endpoint_destroy(&E.tx_ep, NULL);
    idc_endpoint_destroy(&E.rx_ep, NULL);
    for (int i = 0; i < 5; i++) {
        idc_context_dispatch(ct, 5);
        idc_context_dispatch(E.rx_ctx, 5);
    }
    idc_context_destroy(ct);
    idc_context_destroy(E.rx_ctx);
    rt_rmdir(dir);
}
