/* Messages and transactions against a real backend process: round trips, application vs
 * transport errors, credits (IDC_ERR_AGAIN then writable), frame quota (IDC_ERR_TOOBIG). */
#include "runtime/util.h"

#include <signal.h>
#include <sys/wait.h>

#define WAIT 5000

static struct idc_context *ctx;
static struct rtt_log logbuf;
static struct rtt_ep fe;
static pid_t be;

/* the test process as frontend of a fresh echo backend process */
static const char *peer_spin = "0";
static void up(const char *max_txn, const char *max_msg, const struct rtt_ep_opts *o)
{
    memset(&logbuf, 0, sizeof logbuf);
    memset(&fe, 0, sizeof fe);
    ctx = rtt_ctx(&logbuf);
    be = rtt_spawn("rtt_peer", "be", "--serve", "svc", "--max-txn", max_txn, "--max-msg", max_msg,
                   "--spin", peer_spin, NULL);
    rtt_ep_create(&fe, ctx, IDC_ROLE_FRONTEND, "svc", o);
    cr_assert(rtt_wait_connect(&fe, 1, WAIT), "no connect; log:\n%s\npeer:\n%s", logbuf.buf,
              rtt_file_text("be"));
}

static void down(void)
{
    cr_assert(rtt_ep_destroy(&fe, WAIT), "destroy: \"%s\"", fe.ev);
    cr_assert_null(rtt_lifecycle_error(&fe), "%s", rtt_lifecycle_error(&fe));
    int st = rtt_stop(be, SIGTERM, ctx, WAIT);
    cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "peer: %s", rtt_file_text("be"));
    cr_assert_eq(rtt_file_count("be", "error"), 0, "peer: %s", rtt_file_text("be"));
    idc_context_destroy(ctx);
}

/* ------------------------------------------------------------------ round trips */
#define N_RT 3000
static struct rtt_txn rt[64];
static int rt_next, rt_done, rt_bad;
static uint8_t rt_payload(int seq, size_t i)
{
    return rtt_pattern((uint64_t)seq, i);
}
static size_t rt_len(int seq)
{
    return (size_t)((seq * 131) % (RTT_MAX_FRAME + 1));
}

static void rt_submit(struct rtt_txn *t);
static void rt_on_done(struct rtt_txn *t)
{
    int seq = (int)t->seq;
    size_t len = rt_len(seq);
    bool ok = t->status == 0 && t->len == len;
    for (size_t i = 0; ok && i < len; i++)
        ok = t->result[i] == rt_payload(seq, i);
    if (!ok) {
        if (rt_bad++ < 5)
            cr_log_error("txn %d: status %d len %zu want %zu", seq, t->status, t->len, len);
    }
    rt_done++;
    if (rt_next < N_RT)
        rt_submit(t);
}

static void rt_submit(struct rtt_txn *t)
{
    static uint8_t p[RTT_MAX_FRAME];
    int seq = rt_next;
    size_t len = rt_len(seq);
    for (size_t i = 0; i < len; i++)
        p[i] = rt_payload(seq, i);
    t->seq = (uint64_t)seq;
    t->on_done = rt_on_done;
    int rc = rtt_submit(&fe, t, RTT_OP_ECHO, p, len);
    if (rc == 0)
        rt_next++;
    else
        cr_assert_eq(rc, IDC_ERR_AGAIN, "submit: %s", idc_strerror(rc));
}

static bool rt_finished(void *arg)
{
    (void)arg;
    return rt_done == N_RT;
}

static void rt_writable(struct rtt_ep *e)
{
    (void)e;
    for (int i = 0; i < 64 && rt_next < N_RT; i++)
        if (!rt[i].busy)
            rt_submit(&rt[i]);
}

RTT_TEST(txn, round_trips_return_payloads, 60)
{
    up("0", "0", NULL);
    fe.on_writable = rt_writable;
    for (int i = 0; i < 64; i++)
        rt_submit(&rt[i]);
    cr_assert(rtt_until(ctx, rt_finished, NULL, 30000), "finished %d of %d", rt_done, N_RT);
    cr_assert_eq(rt_bad, 0, "%d bad results", rt_bad);
    int calls = 0;
    for (int i = 0; i < 64; i++) {
        cr_assert(!rt[i].busy);
        calls += rt[i].calls;
    }
    cr_assert_eq(calls, N_RT, "done called %d times for %d transactions", calls, N_RT);
    down();
}

/* the same with both endpoints spinning (spin_us) before they sleep */
RTT_TEST(txn, round_trips_with_spinning_endpoints, 60)
{
    peer_spin = "50";
    up("0", "0", &(struct rtt_ep_opts){ .spin_us = 50 });
    fe.on_writable = rt_writable;
    for (int i = 0; i < 64; i++)
        rt_submit(&rt[i]);
    cr_assert(rtt_until(ctx, rt_finished, NULL, 30000), "finished %d of %d", rt_done, N_RT);
    cr_assert_eq(rt_bad, 0, "%d bad results", rt_bad);
    down();
}

/* ------------------------------------------------------------------ errors */
RTT_TEST(txn, application_error_vs_transport_error, 30)
{
    /* not connected: transport error at once, no callback */
    struct rtt_log log = { 0 };
    struct idc_context *c = rtt_ctx(&log);
    static struct rtt_ep lone;
    rtt_ep_create(&lone, c, IDC_ROLE_FRONTEND, "nobody", NULL);
    static struct rtt_txn t0;
    cr_assert_eq(rtt_submit(&lone, &t0, RTT_OP_ECHO, "x", 1), IDC_ERR_DISCONNECTED);
    cr_assert_eq(idc_send_message(&lone.ep, RTT_OP_SINK, "x", 1), IDC_ERR_DISCONNECTED);
    rtt_pump(c, 50);
    cr_assert_eq(t0.calls, 0, "done ran for a refused submission");
    cr_assert(rtt_ep_destroy(&lone, WAIT));
    idc_context_destroy(c);

    up("0", "0", NULL);
    static const uint32_t codes[] = { 1, 7, 300, 65535 };
    static struct rtt_txn t[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(rtt_submit(&fe, &t[i], RTT_OP_FAIL, &codes[i], 4), 0);
    for (int i = 0; i < 4; i++) {
        cr_assert(rtt_wait_txn(ctx, &t[i], WAIT));
        cr_assert_eq(t[i].calls, 1);
        cr_assert_eq(t[i].status, (int)codes[i], "status %d want %u", t[i].status, codes[i]);
        cr_assert_eq(t[i].len, 0u, "application error carries %zu result bytes", t[i].len);
    }
    /* the connection is unaffected by application errors */
    static struct rtt_txn ok;
    cr_assert_eq(rtt_submit(&fe, &ok, RTT_OP_ECHO, "abc", 3), 0);
    cr_assert(rtt_wait_txn(ctx, &ok, WAIT));
    cr_assert_eq(ok.status, 0);
    cr_assert_eq(ok.len, 3u);
    cr_assert_eq(memcmp(ok.result, "abc", 3), 0);
    cr_assert_eq(fe.n_disconnect, 0);

    /* bad arguments */
    static struct idc_txn nodone;
    cr_assert_eq(idc_submit_transaction(&fe.ep, &nodone, RTT_OP_ECHO, "x", 1), IDC_ERR_INVAL);
    cr_assert_eq(idc_send_message(&fe.ep, RTT_OP_SINK, NULL, 4), IDC_ERR_INVAL);
    down();
}

RTT_TEST(txn, strerror_names_every_code, 10)
{
    for (int e = IDC_ERR_IO; e <= IDC_OK; e++) {
        const char *s = idc_strerror(e);
        cr_assert_not_null(s);
        cr_assert_gt(strlen(s), 0u);
        for (int f = IDC_ERR_IO; f < e; f++)
            cr_assert_str_neq(s, idc_strerror(f), "codes %d and %d share a name", e, f);
    }
    cr_assert_not_null(strstr(idc_strerror(IDC_ERR_AGAIN), "AGAIN"));
    cr_assert_not_null(strstr(idc_strerror(IDC_ERR_REVOKED), "REVOKED"));
    cr_assert_not_null(idc_strerror(42));
    cr_assert_not_null(idc_strerror(-9999));
    cr_assert_str_neq(idc_strerror(42), idc_strerror(IDC_ERR_AGAIN));
}

/* ------------------------------------------------------------------ credits */
RTT_TEST(txn, again_when_transaction_credits_exhausted_then_writable, 30)
{
    up("8", "8", &(struct rtt_ep_opts){ .max_txn = 8, .max_msg = 8 });
    static struct rtt_txn t[64];
    int n = 0, rc = 0;
    while (n < 64 && (rc = rtt_submit(&fe, &t[n], RTT_OP_HOLD, &n, sizeof n)) == 0)
        n++;
    cr_assert_eq(rc, IDC_ERR_AGAIN, "submit %d: %s", n, idc_strerror(rc));
    cr_assert_eq(n, 8, "accepted %d transactions with 8 credits", n);
    /* still out of credit while the peer holds them */
    rtt_pump(ctx, 100);
    static struct rtt_txn extra;
    cr_assert_eq(rtt_submit(&fe, &extra, RTT_OP_ECHO, "x", 1), IDC_ERR_AGAIN);
    int w0 = fe.n_writable;
    /* messages use separate credit */
    cr_assert_eq(idc_send_message(&fe.ep, RTT_OP_RELEASE, NULL, 0), 0);
    for (int i = 0; i < n; i++) {
        cr_assert(rtt_wait_txn(ctx, &t[i], WAIT), "held txn %d never completed", i);
        cr_assert_eq(t[i].status, 0);
        cr_assert_eq(t[i].len, sizeof n);
        cr_assert_eq(memcmp(t[i].result, &i, sizeof i), 0);
    }
    struct rtt_ep *e = &fe;
    RTT_DISPATCH_WHILE(ctx, e->n_writable == w0, WAIT);
    cr_assert_gt(fe.n_writable, w0, "no writable callback after credit came back");
    cr_assert_eq(rtt_submit(&fe, &extra, RTT_OP_ECHO, "x", 1), 0);
    cr_assert(rtt_wait_txn(ctx, &extra, WAIT));
    cr_assert_eq(extra.status, 0);
    down();
}

RTT_TEST(txn, again_when_message_credits_exhausted_then_writable, 30)
{
    up("8", "8", &(struct rtt_ep_opts){ .max_txn = 8, .max_msg = 8 });
    /* a stopped peer consumes nothing */
    kill(be, SIGSTOP);
    int n = 0, rc = 0;
    uint32_t v = 0;
    while (n < 1000 && (rc = idc_send_message(&fe.ep, RTT_OP_SINK, &v, sizeof v)) == 0)
        n++;
    cr_assert_eq(rc, IDC_ERR_AGAIN, "send %d: %s", n, idc_strerror(rc));
    cr_assert_eq(n, 8, "sent %d messages with 8 credits", n);
    /* transactions have their own credit */
    static struct rtt_txn t;
    cr_assert_eq(rtt_submit(&fe, &t, RTT_OP_ECHO, "y", 1), 0);
    int w0 = fe.n_writable;
    rtt_pump(ctx, 100);
    cr_assert_eq(fe.n_disconnect, 0, "a stopped peer is not a dead peer");
    kill(be, SIGCONT);
    cr_assert(rtt_wait_txn(ctx, &t, WAIT));
    cr_assert_eq(t.status, 0);
    RTT_DISPATCH_WHILE(ctx, fe.n_writable == w0, WAIT);
    cr_assert_gt(fe.n_writable, w0, "no writable callback after message credit came back");
    cr_assert_eq(idc_send_message(&fe.ep, RTT_OP_SINK, &v, sizeof v), 0);
    down();
}

/* ping-pong of many messages, retrying on writable */
static int pp_sent, pp_again;
#define N_PP 2000
static void pp_pump(struct rtt_ep *e)
{
    while (pp_sent < N_PP) {
        uint32_t v = (uint32_t)pp_sent;
        int rc = idc_send_message(&e->ep, RTT_OP_PING, &v, sizeof v);
        if (rc == IDC_ERR_AGAIN) {
            pp_again++;
            return;
        }
        cr_assert_eq(rc, 0, "%s", idc_strerror(rc));
        pp_sent++;
    }
}
static bool pp_done(void *arg)
{
    (void)arg;
    return fe.n_pong >= N_PP;
}

RTT_TEST(txn, messages_flow_with_credit_retry, 60)
{
    up("0", "16", &(struct rtt_ep_opts){ .max_msg = 16 });
    fe.on_writable = pp_pump;
    pp_pump(&fe);
    cr_assert(rtt_until(ctx, pp_done, NULL, 30000), "pongs %llu of %d (sent %d)",
              (unsigned long long)fe.n_pong, N_PP, pp_sent);
    rtt_pump(ctx, 50);
    cr_assert_eq(fe.n_pong, (uint64_t)N_PP, "duplicate pongs");
    cr_assert_gt(pp_again, 0, "never ran out of message credit (16) while sending %d", N_PP);
    down();
}

/* ------------------------------------------------------------------ frame quota */
RTT_TEST(txn, oversized_payload_is_toobig, 30)
{
    up("0", "0", NULL);
    static uint8_t big[RTT_MAX_FRAME + 1];
    static struct rtt_txn t;
    cr_assert_eq(rtt_submit(&fe, &t, RTT_OP_ECHO, big, sizeof big), IDC_ERR_TOOBIG);
    cr_assert_eq(idc_send_message(&fe.ep, RTT_OP_SINK, big, sizeof big), IDC_ERR_TOOBIG);
    cr_assert_eq(rtt_submit(&fe, &t, RTT_OP_ECHO, big, (size_t)1 << 40), IDC_ERR_TOOBIG);
    /* exactly max_frame is fine */
    for (size_t i = 0; i < RTT_MAX_FRAME; i++)
        big[i] = rtt_pattern(3, i);
    cr_assert_eq(rtt_submit(&fe, &t, RTT_OP_ECHO, big, RTT_MAX_FRAME), 0);
    cr_assert(rtt_wait_txn(ctx, &t, WAIT));
    cr_assert_eq(t.status, 0);
    cr_assert_eq(t.len, (size_t)RTT_MAX_FRAME);
    cr_assert_eq(memcmp(t.result, big, RTT_MAX_FRAME), 0);
    cr_assert_eq(fe.n_disconnect, 0);
    down();
}

RTT_TEST(txn, smaller_endpoint_quota_is_enforced, 30)
{
    /* the endpoint's own max_frame below the protocol's */
    up("0", "0", &(struct rtt_ep_opts){ .max_frame = 256 });
    static uint8_t p[257];
    static struct rtt_txn t;
    cr_assert_eq(rtt_submit(&fe, &t, RTT_OP_ECHO, p, 257), IDC_ERR_TOOBIG);
    cr_assert_eq(idc_send_message(&fe.ep, RTT_OP_SINK, p, 257), IDC_ERR_TOOBIG);
    cr_assert_eq(rtt_submit(&fe, &t, RTT_OP_ECHO, p, 256), 0);
    cr_assert(rtt_wait_txn(ctx, &t, WAIT));
    cr_assert_eq(t.status, 0);
    down();
}

/* A result larger than the frame quota: idc_request_complete says IDC_ERR_TOOBIG and the
 * client sees IDC_ERR_TOOBIG as the status. Frontend and backend share one context here. */
static int big_rc = 1;
static int big_txn(struct rtt_ep *e, struct idc_request *req, uint16_t op, const void *p,
                   size_t len)
{
    (void)e;
    (void)op;
    (void)p;
    (void)len;
    static uint8_t r[RTT_MAX_FRAME + 1];
    big_rc = idc_request_complete(req, 0, r, sizeof r);
    return 0;
}

RTT_TEST(txn, oversized_result_is_toobig, 30)
{
    struct rtt_log log = { 0 };
    struct idc_context *c = rtt_ctx(&log);
    static struct rtt_ep b, f;
    b.on_txn = big_txn;
    rtt_ep_create(&b, c, IDC_ROLE_BACKEND, "svc", NULL);
    rtt_ep_create(&f, c, IDC_ROLE_FRONTEND, "svc", NULL);
    cr_assert(rtt_wait_connect(&f, 1, WAIT), "same-context pair never connected; log:\n%s",
              log.buf);
    cr_assert(rtt_wait_connect(&b, 1, WAIT));
    static struct rtt_txn t;
    cr_assert_eq(rtt_submit(&f, &t, RTT_OP_ECHO, "x", 1), 0);
    cr_assert(rtt_wait_txn(c, &t, WAIT));
    cr_assert_eq(big_rc, IDC_ERR_TOOBIG, "idc_request_complete returned %d", big_rc);
    cr_assert_eq(t.status, IDC_ERR_TOOBIG, "client status %d", t.status);
    cr_assert(rtt_ep_destroy(&f, WAIT));
    cr_assert(rtt_ep_destroy(&b, WAIT));
    idc_context_destroy(c);
}

/* A handler reporting a protocol error takes the connection down with a logged reason, and
 * the frontend reconnects by itself (the service is still there). */
RTT_TEST(txn, handler_protocol_error_disconnects_and_reconnects, 30)
{
    up("0", "0", NULL);
    static struct rtt_txn t, u;
    cr_assert_eq(rtt_submit(&fe, &t, RTT_OP_HOLD, "h", 1), 0);
    cr_assert_eq(rtt_submit(&fe, &u, RTT_OP_BADPROTO, NULL, 0), 0);
    cr_assert(rtt_wait_disconnect(&fe, 1, WAIT), "no disconnect after a protocol error");
    cr_assert_eq(t.calls, 1);
    cr_assert_eq(t.status, IDC_ERR_DISCONNECTED);
    cr_assert_eq(u.calls, 1);
    cr_assert(u.status == IDC_ERR_DISCONNECTED || u.status == 0, "status %d", u.status);
    cr_assert(rtt_wait_file(ctx, "be", "log ", 1, WAIT), "peer logged nothing");
    cr_assert_not_null(strstr(rtt_file_text("be"), "BADPROTO requested"),
                       "reason not in the peer's log: %s", rtt_file_text("be"));
    cr_assert(rtt_wait_connect(&fe, 2, WAIT), "no reconnect: \"%s\"", fe.ev);
    cr_assert(rtt_wait_file(ctx, "be", "connect serve", 2, WAIT));
    static struct rtt_txn v;
    cr_assert_eq(rtt_submit(&fe, &v, RTT_OP_ECHO, "z", 1), 0);
    cr_assert(rtt_wait_txn(ctx, &v, WAIT));
    cr_assert_eq(v.status, 0);
    down();
}
