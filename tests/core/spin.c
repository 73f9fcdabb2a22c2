/* spin.c - spin-then-block under stress: round trips whose responses land right at the end of
 * the requester's spin budget, the peer exiting at the end.
 *
 * The requester spins for spin_us, then re-arms its ring (prod_event = cons + 1, barrier,
 * re-check) and blocks. A response published while the requester is disarmed is not notified;
 * the re-check must find it, and dispatch must then return instead of blocking on an fd that
 * will never fire. The backend delays each response by about the requester's spin budget, so
 * many responses fall into that window. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

TestSuite(spin, .timeout = 120);

#define SPIN_US 20u

static volatile bool be_gone;

static void be_connect(struct idc_endpoint *ep)
{
    (void)ep;
}
static void be_disconnect(struct idc_endpoint *ep)
{
    be_gone = true;
    idc_endpoint_disconnect_done(ep);
}
static int be_message(struct idc_endpoint *ep, uint16_t op, const void *p, size_t len)
{
    (void)ep, (void)op, (void)p, (void)len;
    return 0;
}

/* Echo after a busy delay spread around the requester's spin budget: [SPIN_US/2, 3*SPIN_US/2). */
static int be_txn(struct idc_endpoint *ep, struct idc_request *req, uint16_t op, const void *p,
                  size_t len)
{
    (void)ep, (void)op;
    static uint32_t seed = 12345;
    seed = seed * 1103515245u + 12345u;
    uint64_t delay = (uint64_t)SPIN_US * 500u + (seed >> 8) % (SPIN_US * 1000u);
    uint64_t end = rt_now_ns() + delay;
    while (rt_now_ns() < end)
        ;
    idc_request_complete(req, 0, p, len);
    return 0;
}

static const struct idc_endpoint_ops be_ops = {
    .connect = be_connect,
    .disconnect = be_disconnect,
    .handle_message = be_message,
    .handle_transaction = be_txn,
};

/* Serves until its endpoint reports the disconnect, then exits (like a real backend). */
static void child_backend(const char *dir)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    struct idc_context *ctx = rt_ctx(dir, NULL);
    static struct idc_endpoint ep;
    struct idc_endpoint_config cfg = { .protocol = &rt_proto_v12,
                                       .role = IDC_ROLE_BACKEND,
                                       .address = "shm:spinstress",
                                       .ops = &be_ops,
                                       .spin_us = SPIN_US };
    idc_endpoint_create(&ep, ctx, &cfg);
    while (!be_gone)
        if (idc_context_dispatch(ctx, 1000) < 0)
            _exit(2);
    _exit(0);
}

struct rtx {
    struct idc_txn t;
    bool done;
    int status;
    uint32_t val;
};

static void rtx_done(struct idc_txn *t, int status, const void *res, size_t len)
{
    struct rtx *x = (struct rtx *)(void *)t;
    x->done = true;
    x->status = status;
    if (status == 0 && len == sizeof(x->val))
        memcpy(&x->val, res, sizeof(x->val));
}

Test(spin, responses_at_the_spin_deadline_are_never_lost)
{
    const char *dir = rt_tmpdir();
    pid_t pid = fork();
    if (pid == 0)
        child_backend(dir);
    struct rt_log log = { 0 };
    struct idc_context *ctx = rt_ctx(dir, &log);
    struct rt_drv fe = { 0 };
    struct idc_endpoint_config cfg = { .protocol = &rt_proto_v12,
                                       .role = IDC_ROLE_FRONTEND,
                                       .address = "shm:spinstress",
                                       .ops = &rt_ops,
                                       .user = &fe,
                                       .spin_us = SPIN_US };
    idc_endpoint_create(&fe.ep, ctx, &cfg);
    cr_assert(rt_until(ctx, &fe.connected, 5000), "connect; %s", log.text);
    /* A lost wake-up shows as one dispatch(timeout) that sleeps the whole timeout although the
       response had already been handled (nothing else would ever wake it with -1). */
    const int timeout_ms = 2000;
    unsigned rounds = 0, ok = 0;
    uint64_t worst = 0, stop = rt_now_ns() + 3000000000ull;
    while (rt_now_ns() < stop && rounds < 40000) {
        struct rtx x = { .t.done = rtx_done };
        uint32_t v = rounds;
        cr_assert_eq(idc_submit_transaction(&fe.ep, &x.t, 1, &v, sizeof(v)), 0);
        while (!x.done) {
            uint64_t t0 = rt_now_ns();
            cr_assert_geq(idc_context_dispatch(ctx, timeout_ms), 0);
            uint64_t dt = rt_now_ns() - t0;
            if (dt > worst)
                worst = dt;
            cr_assert(dt < (uint64_t)timeout_ms * 1000000u / 2,
                      "round %u: dispatch slept %.0f ms (response %s): lost wake-up", rounds,
                      (double)dt / 1e6, x.done ? "already handled" : "never seen");
        }
        ok += x.status == 0 && x.val == v;
        rounds++;
    }
    cr_log_info("spin stress: %u round trips, worst dispatch %.1f us", rounds, (double)worst / 1e3);
    cr_assert_eq(ok, rounds);
    cr_assert_gt(rounds, 1000u, "too few round trips to mean anything");
    /* The frontend goes away; the backend sees it and exits by itself. */
    idc_endpoint_destroy(&fe.ep, NULL);
    for (int i = 0; i < 50; i++)
        idc_context_dispatch(ctx, 10);
    int st = 0;
    pid_t w = 0;
    for (int i = 0; i < 500 && w == 0; i++) {
        w = waitpid(pid, &st, WNOHANG);
        if (w == 0)
            usleep(10000);
    }
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    cr_assert(w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "backend noticed the disconnect and exited cleanly");
    idc_context_destroy(ctx);
    rt_rmdir(dir);
}

/* The peer exits while the frontend is spinning or blocked in dispatch(-1) waiting for a
   response: the frontend must see the disconnect (outstanding transaction failed), not hang. */
static void child_exit_mid_request(const char *dir);

static void exit_txn_ep_disconnect(struct idc_endpoint *ep)
{
    idc_endpoint_disconnect_done(ep);
}
static int exit_txn(struct idc_endpoint *ep, struct idc_request *req, uint16_t op, const void *p,
                    size_t len)
{
    (void)ep, (void)p, (void)len;
    if (op == 2)
        _exit(0); /* dies with the request held: no response ever */
    uint32_t z = 0;
    idc_request_complete(req, 0, &z, sizeof(z));
    return 0;
}
static const struct idc_endpoint_ops exit_ops = {
    .connect = be_connect,
    .disconnect = exit_txn_ep_disconnect,
    .handle_message = be_message,
    .handle_transaction = exit_txn,
};

static void child_exit_mid_request(const char *dir)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    struct idc_context *ctx = rt_ctx(dir, NULL);
    static struct idc_endpoint ep;
    struct idc_endpoint_config cfg = { .protocol = &rt_proto_v12,
                                       .role = IDC_ROLE_BACKEND,
                                       .address = "shm:spinexit",
                                       .ops = &exit_ops,
                                       .spin_us = SPIN_US };
    idc_endpoint_create(&ep, ctx, &cfg);
    idc_context_run(ctx);
    _exit(0);
}

Test(spin, peer_exit_while_waiting_is_noticed)
{
    for (int round = 0; round < 20; round++) {
        const char *dir = rt_tmpdir();
        pid_t pid = fork();
        if (pid == 0)
            child_exit_mid_request(dir);
        struct rt_log log = { 0 };
        struct idc_context *ctx = rt_ctx(dir, &log);
        struct rt_drv fe = { 0 };
        struct idc_endpoint_config cfg = { .protocol = &rt_proto_v12,
                                           .role = IDC_ROLE_FRONTEND,
                                           .address = "shm:spinexit",
                                           .ops = &rt_ops,
                                           .user = &fe,
                                           .spin_us = SPIN_US };
        idc_endpoint_create(&fe.ep, ctx, &cfg);
        cr_assert(rt_until(ctx, &fe.connected, 5000), "connect; %s", log.text);
        for (int i = 0; i < 200; i++) {
            struct rtx x = { .t.done = rtx_done };
            cr_assert_eq(idc_submit_transaction(&fe.ep, &x.t, 1, "a", 1), 0);
            while (!x.done)
                cr_assert_geq(idc_context_dispatch(ctx, 5000), 0);
            cr_assert_eq(x.status, 0);
        }
        struct rtx x = { .t.done = rtx_done };
        cr_assert_eq(idc_submit_transaction(&fe.ep, &x.t, 2, "b", 1), 0);
        uint64_t t0 = rt_now_ns();
        while (!x.done && rt_now_ns() - t0 < 5000000000ull)
            idc_context_dispatch(ctx, 5000);
        cr_assert(x.done, "round %d: outstanding transaction completed after the peer exited",
                  round);
        cr_assert_eq(x.status, IDC_ERR_DISCONNECTED);
        cr_assert_eq(fe.disconnects, 1);
        waitpid(pid, NULL, 0);
        idc_endpoint_destroy(&fe.ep, NULL);
        idc_context_dispatch(ctx, 10);
        idc_context_destroy(ctx);
        rt_rmdir(dir);
    }
}
