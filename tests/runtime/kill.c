/* kill -9 of either side in the middle of traffic: the survivor is told promptly (disconnect),
 * all its outstanding work completes with IDC_ERR_DISCONNECTED, and it reconnects when the
 * peer returns. */
#include "runtime/util.h"

#include <signal.h>
#include <sys/wait.h>

#define WAIT 5000

static struct rtt_ep fe;
static struct rtt_txn held[8], load[48];
static uint64_t n_sub, n_done, n_ok, n_disc, n_bad;
static bool stop_load;

static void pump(void);
static void on_done(struct rtt_txn *t)
{
    n_done++;
    if (t->status == 0) {
        bool ok = t->len == 2048;
        for (size_t i = 0; ok && i < t->len; i++)
            ok = t->result[i] == rtt_pattern(t->seq, i);
        if (ok)
            n_ok++;
        else
            n_bad++;
    } else if (t->status == IDC_ERR_DISCONNECTED) {
        n_disc++;
    } else {
        n_bad++;
    }
    pump();
}

static void pump(void)
{
    static uint64_t seq;
    static uint8_t p[2048];
    if (!fe.connected || stop_load)
        return;
    for (int i = 0; i < 48; i++) {
        if (load[i].busy)
            continue;
        load[i].seq = ++seq;
        load[i].on_done = on_done;
        for (size_t k = 0; k < sizeof p; k++)
            p[k] = rtt_pattern(seq, k);
        if (rtt_submit(&fe, &load[i], RTT_OP_ECHO, p, sizeof p) != 0)
            return;
        n_sub++;
    }
}
static void on_writable(struct rtt_ep *e)
{
    (void)e;
    pump();
}
static void on_connect(struct rtt_ep *e)
{
    (void)e;
    pump();
}

RTT_TEST(kill, kill9_backend_mid_transfer, 60)
{
    struct rtt_log log = { 0 };
    struct idc_context *ctx = rtt_ctx(&log);
    pid_t be = rtt_spawn("rtt_peer", "be", "--serve", "svc", NULL);
    fe.on_writable = on_writable;
    fe.on_connect = on_connect;
    rtt_ep_create(&fe, ctx, IDC_ROLE_FRONTEND, "svc", NULL);
    cr_assert(rtt_wait_connect(&fe, 1, WAIT), "log:\n%s", log.buf);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(rtt_submit(&fe, &held[i], RTT_OP_HOLD, &i, sizeof i), 0);
    pump();
    /* traffic flowing */
    RTT_DISPATCH_WHILE(ctx, n_ok < 500, 10000);
    cr_assert_geq(n_ok, 500u, "only %llu transactions completed", (unsigned long long)n_ok);
    cr_assert_eq(n_bad, 0u);
    cr_assert_gt(fe.outstanding, 8, "nothing in flight besides the held ones");

    uint64_t t0 = rtt_now_ms();
    int st = rtt_stop(be, SIGKILL, ctx, WAIT);
    cr_assert(st >= 0 && WIFSIGNALED(st));
    cr_assert(rtt_wait_disconnect(&fe, 1, WAIT), "no disconnect after kill -9: \"%s\"", fe.ev);
    uint64_t dt = rtt_now_ms() - t0;
    cr_assert_lt(dt, 2000u, "disconnect took %llu ms", (unsigned long long)dt);
    cr_assert_eq(fe.outstanding_at_disconnect, 0, "%d outstanding at disconnect",
                 fe.outstanding_at_disconnect);
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(held[i].calls, 1);
        cr_assert_eq(held[i].status, IDC_ERR_DISCONNECTED);
    }
    cr_assert_gt(n_disc, 0u, "no in-flight transaction was cut");
    cr_assert_eq(n_sub, n_done, "submitted %llu, done %llu", (unsigned long long)n_sub,
                 (unsigned long long)n_done);
    cr_assert_eq(n_bad, 0u);
    cr_assert_eq(rtt_spurious_done, 0);

    /* the peer returns: reconnect, traffic again */
    be = rtt_spawn("rtt_peer", "be2", "--serve", "svc", NULL);
    cr_assert(rtt_wait_connect(&fe, 2, WAIT), "no reconnect: \"%s\"\nlog:\n%s", fe.ev, log.buf);
    uint64_t ok0 = n_ok;
    RTT_DISPATCH_WHILE(ctx, n_ok < ok0 + 200, 10000);
    cr_assert_geq(n_ok, ok0 + 200);
    stop_load = true;
    cr_assert(rtt_ep_destroy(&fe, WAIT));
    cr_assert_null(rtt_lifecycle_error(&fe), "%s", rtt_lifecycle_error(&fe));
    cr_assert_eq(n_sub, n_done);
    cr_assert_eq(n_bad, 0u);
    cr_assert_eq(rtt_spurious_done, 0);
    rtt_stop(be, SIGTERM, ctx, WAIT);
    idc_context_destroy(ctx);
}

struct held_wait {
    struct rtt_ep *e;
    int n;
    uint64_t txns;
};
static bool busy_enough(void *arg)
{
    struct held_wait *w = arg;
    return w->e->n_held >= w->n && w->e->n_txns >= w->txns;
}

struct ok_wait {
    const char *file;
    long long ok;
};
static bool fe_ok(struct ok_wait *w)
{
    char line[512];
    return rtt_file_last(w->file, "stat ", line, sizeof line) && rtt_field(line, "ok") >= w->ok;
}

RTT_TEST(kill, kill9_frontend_mid_transfer, 60)
{
    struct rtt_log log = { 0 };
    struct idc_context *ctx = rtt_ctx(&log);
    static struct rtt_ep be;
    rtt_ep_create(&be, ctx, IDC_ROLE_BACKEND, "svc", NULL);
    rtt_pump(ctx, 50);
    pid_t fe1 = rtt_spawn("rtt_peer", "fe1", "--connect", "svc", "--mode", "load", "--load", "32",
                          "--hold", "4", NULL);
    cr_assert(rtt_wait_connect(&be, 1, WAIT), "log:\n%s", log.buf);
    struct held_wait w = { &be, 4, 500 };
    cr_assert(rtt_until(ctx, busy_enough, &w, WAIT), "held %d, handled %llu", be.n_held,
              (unsigned long long)be.n_txns);
    int st = rtt_stop(fe1, SIGKILL, ctx, WAIT);
    cr_assert(st >= 0 && WIFSIGNALED(st));
    uint64_t t0 = rtt_now_ms();
    cr_assert(rtt_wait_disconnect(&be, 1, WAIT), "backend not told: \"%s\"", be.ev);
    cr_assert_lt(rtt_now_ms() - t0, 2000u);
    /* the held requests were completed in the disconnect callback without trouble */
    cr_assert_eq(be.n_held, 0);
    cr_assert_eq(be.held_complete_rc_bad, 0);

    pid_t fe2 = rtt_spawn("rtt_peer", "fe2", "--connect", "svc", "--mode", "load", "--load", "32",
                          NULL);
    cr_assert(rtt_wait_connect(&be, 2, WAIT), "no reconnect: \"%s\"", be.ev);
    cr_assert(rtt_wait_file(ctx, "fe2", "connect connect", 1, WAIT));
    uint64_t n0 = be.n_txns;
    /* until the frontend has its 300 answers (not just the backend its 300 requests: on a slow
       machine 32 answers may still be on their way when it is stopped) */
    struct ok_wait ow = { "fe2", 300 };
    RTT_DISPATCH_WHILE(ctx, be.n_txns < n0 + 300 || !fe_ok(&ow), 20000);
    st = rtt_stop(fe2, SIGTERM, ctx, WAIT);
    cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", rtt_file_text("fe2"));
    char line[512];
    cr_assert(rtt_file_last("fe2", "stat ", line, sizeof line), "no stat line: %s",
              rtt_file_text("fe2"));
    cr_assert_geq(rtt_field(line, "ok"), 300, "handled here %llu; peer: %s",
                  (unsigned long long)(be.n_txns - n0), rtt_file_text("fe2"));
    cr_assert_eq(rtt_field(line, "bad"), 0, "%s", rtt_file_text("fe2"));
    cr_assert_eq(rtt_field(line, "err"), 0, "%s", rtt_file_text("fe2"));
    cr_assert(rtt_wait_disconnect(&be, 2, WAIT));
    cr_assert(rtt_ep_destroy(&be, WAIT));
    cr_assert_null(rtt_lifecycle_error(&be), "%s", rtt_lifecycle_error(&be));
    idc_context_destroy(ctx);
}

/* Requests held across a disconnect and completed only after the next connect: the completion
 * reports IDC_ERR_DISCONNECTED and nothing reaches the new connection (the frontend checks the
 * generation and sequence in every result). */
struct held_n {
    struct rtt_ep *e;
    int n;
};
static bool held_n(void *arg)
{
    struct held_n *h = arg;
    return h->e->n_held >= h->n;
}

RTT_TEST(kill, late_completion_after_reconnect_is_dropped, 30)
{
    struct rtt_log log = { 0 };
    struct idc_context *ctx = rtt_ctx(&log);
    static struct rtt_ep be;
    be.keep_held = true;
    rtt_ep_create(&be, ctx, IDC_ROLE_BACKEND, "svc", NULL);
    rtt_pump(ctx, 50);
    pid_t fe = rtt_spawn("rtt_peer", "fe", "--connect", "svc", "--mode", "load", "--load", "8",
                         "--hold", "4", NULL);
    cr_assert(rtt_wait_connect(&be, 1, WAIT), "log:\n%s", log.buf);
    struct held_n h = { &be, 4 };
    cr_assert(rtt_until(ctx, held_n, &h, WAIT), "held %d", be.n_held);
    cr_assert_eq(idc_endpoint_disconnect(&be.ep), 0);
    cr_assert(rtt_wait_disconnect(&be, 1, WAIT));
    cr_assert_eq(be.n_stale, 4);
    /* the frontend comes back by itself and holds 4 new ones */
    cr_assert(rtt_wait_connect(&be, 2, WAIT), "no reconnect: \"%s\"", be.ev);
    cr_assert(rtt_until(ctx, held_n, &h, WAIT), "held %d after reconnect", be.n_held);
    for (int i = 0; i < be.n_stale; i++) {
        int rc = idc_request_complete(be.stale[i], 0, "stale!", 6);
        cr_assert_eq(rc, IDC_ERR_DISCONNECTED, "late completion %d returned %d", i, rc);
    }
    be.n_stale = 0;
    cr_assert_eq(rtt_ep_release(&be), 4);
    cr_assert_eq(be.held_complete_rc_bad, 0);
    uint64_t n0 = be.n_txns;
    RTT_DISPATCH_WHILE(ctx, be.n_txns < n0 + 200, 10000);
    int st = rtt_stop(fe, SIGTERM, ctx, WAIT);
    cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", rtt_file_text("fe"));
    char line[512];
    cr_assert(rtt_file_last("fe", "stat ", line, sizeof line), "%s", rtt_file_text("fe"));
    cr_assert_eq(rtt_field(line, "bad"), 0, "stale results reached the frontend: %s",
                 rtt_file_text("fe"));
    cr_assert_eq(rtt_field(line, "err"), 0, "%s", rtt_file_text("fe"));
    cr_assert_eq(rtt_file_count("fe", "error"), 0, "%s", rtt_file_text("fe"));
    cr_assert_geq(rtt_field(line, "ok"), 200, "%s", rtt_file_text("fe"));
    cr_assert(rtt_ep_destroy(&be, WAIT));
    idc_context_destroy(ctx);
}
