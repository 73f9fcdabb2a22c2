/* Endpoint lifecycle with real processes: appear -> connect -> disconnect -> disappear on both
 * sides, destroy(done) semantics, bad addresses. */
#include "runtime/util.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#define WAIT 5000

static bool disappeared(void *arg)
{
    return ((struct rtt_ep *)arg)->n_disappear > 0;
}
static bool appeared2(void *arg)
{
    return ((struct rtt_ep *)arg)->n_appear >= 2;
}

/* The frontend is created before the service exists; the backend comes, goes (graceful
 * destroy), comes back; then the frontend is destroyed. Both sides record the order. */
RTT_TEST(lifecycle, order_both_sides, 30)
{
    struct rtt_log log = { 0 };
    struct idc_context *ctx = rtt_ctx(&log);
    static struct rtt_ep fe;
    rtt_ep_create(&fe, ctx, IDC_ROLE_FRONTEND, "svc", NULL);
    cr_assert_eq(idc_endpoint_version(&fe.ep), 0u);

    /* nothing to find yet */
    rtt_pump(ctx, 200);
    cr_assert_str_empty(fe.ev, "callbacks before the service exists: \"%s\"", fe.ev);

    pid_t be = rtt_spawn("rtt_peer", "be1", "--serve", "svc", "--id", "1", NULL);
    cr_assert(rtt_wait_connect(&fe, 1, WAIT), "no connect; events \"%s\"; log:\n%s", fe.ev,
              log.buf);
    cr_assert_str_eq(fe.ev, "AC");
    cr_assert_eq(idc_endpoint_version(&fe.ep), 1u);
    cr_assert_eq(idc_endpoint_state(&fe.ep), IDC_EP_CONNECTED);
    cr_assert(rtt_wait_file(ctx, "be1", "connect serve", 1, WAIT), "%s", rtt_file_text("be1"));

    /* a transaction works */
    static struct rtt_txn t;
    uint8_t b[8];
    rtt_put64(b, 41);
    cr_assert_eq(rtt_submit(&fe, &t, RTT_OP_ADD, b, 8), 0);
    cr_assert(rtt_wait_txn(ctx, &t, WAIT));
    cr_assert_eq(t.calls, 1);
    cr_assert_eq(t.status, 0);
    cr_assert_eq(rtt_get64(t.result), 42u);

    /* graceful backend exit: disconnect then disappear here */
    int st = rtt_stop(be, SIGTERM, ctx, WAIT);
    cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "peer exit status %d; %s", st,
              rtt_file_text("be1"));
    cr_assert(rtt_until(ctx, disappeared, &fe, WAIT), "no disappear; events \"%s\"", fe.ev);
    cr_assert_str_eq(fe.ev, "ACDX");
    cr_assert_eq(idc_endpoint_version(&fe.ep), 0u);
    cr_assert_eq(fe.outstanding_at_disconnect, 0);

    /* peer side order: connect, disconnect, destroyed */
    cr_assert_eq(rtt_file_count("be1", "connect "), 1);
    cr_assert_eq(rtt_file_count("be1", "disconnect "), 1, "%s", rtt_file_text("be1"));
    cr_assert_eq(rtt_file_count("be1", "destroyed "), 1);

    /* the service returns: appear + connect again */
    be = rtt_spawn("rtt_peer", "be2", "--serve", "svc", "--id", "2", NULL);
    cr_assert(rtt_until(ctx, appeared2, &fe, WAIT));
    cr_assert(rtt_wait_connect(&fe, 2, WAIT), "events \"%s\"", fe.ev);
    cr_assert_str_eq(fe.ev, "ACDXAC");

    /* frontend destroy: disconnect (+ disappear) then done; the backend sees disconnect */
    cr_assert(rtt_ep_destroy(&fe, WAIT), "destroy never completed: \"%s\"", fe.ev);
    cr_assert_eq(fe.n_done, 1);
    cr_assert_null(rtt_lifecycle_error(&fe), "%s", rtt_lifecycle_error(&fe));
    cr_assert_eq(fe.n_disconnect, 2);
    cr_assert(rtt_wait_file(ctx, "be2", "disconnect serve", 1, WAIT), "%s", rtt_file_text("be2"));
    cr_assert_eq(idc_endpoint_state(&fe.ep), IDC_EP_UNUSED);

    /* done is called once only */
    rtt_pump(ctx, 100);
    cr_assert_eq(fe.n_done, 1);
    rtt_stop(be, SIGTERM, ctx, WAIT);
    idc_context_destroy(ctx);
}

/* destroy with transactions in flight and a deferred disconnect_done: transactions complete
 * with IDC_ERR_DISCONNECTED before the disconnect callback; done waits for disconnect_done;
 * then the storage is reusable. */
RTT_TEST(lifecycle, destroy_waits_for_disconnect_done, 30)
{
    struct rtt_log log = { 0 };
    struct idc_context *ctx = rtt_ctx(&log);
    pid_t be = rtt_spawn("rtt_peer", "be", "--serve", "svc", NULL);
    static struct rtt_ep fe;
    rtt_ep_create(&fe, ctx, IDC_ROLE_FRONTEND, "svc", NULL);
    cr_assert(rtt_wait_connect(&fe, 1, WAIT), "log:\n%s", log.buf);

    static struct rtt_txn t[10];
    for (int i = 0; i < 10; i++) {
        uint64_t v = (uint64_t)i;
        cr_assert_eq(rtt_submit(&fe, &t[i], RTT_OP_HOLD, &v, sizeof v), 0);
    }
    /* let them reach the peer */
    rtt_pump(ctx, 100);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(t[i].calls, 0, "held transaction %d completed early", i);

    fe.defer_done = true;
    idc_endpoint_destroy(&fe.ep, NULL);
    cr_assert(rtt_wait_disconnect(&fe, 1, WAIT), "no disconnect after destroy: \"%s\"", fe.ev);
    cr_assert_eq(fe.outstanding_at_disconnect, 0,
                 "%d transactions still outstanding when disconnect ran",
                 fe.outstanding_at_disconnect);
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(t[i].calls, 1, "txn %d done calls %d", i, t[i].calls);
        cr_assert_eq(t[i].status, IDC_ERR_DISCONNECTED, "txn %d status %d", i, t[i].status);
    }
    cr_assert_eq(idc_endpoint_state(&fe.ep), IDC_EP_DISCONNECTING);
    /* not done while disconnect_done is owed */
    rtt_pump(ctx, 200);
    cr_assert(fe.pending_done);
    cr_assert_eq(fe.n_done, 0);
    cr_assert(idc_endpoint_state(&fe.ep) != IDC_EP_UNUSED);

    /* new submissions fail cleanly meanwhile */
    static struct rtt_txn late;
    cr_assert_eq(rtt_submit(&fe, &late, RTT_OP_ECHO, "x", 1), IDC_ERR_DISCONNECTED);
    cr_assert_eq(idc_send_message(&fe.ep, RTT_OP_SINK, "x", 1), IDC_ERR_DISCONNECTED);

    fe.pending_done = false;
    fe.defer_done = false;
    idc_endpoint_disconnect_done(&fe.ep);
    /* destroy(NULL done): wait until the endpoint is unused */
    RTT_DISPATCH_WHILE(ctx, idc_endpoint_state(&fe.ep) != IDC_EP_UNUSED, WAIT);
    cr_assert_eq(idc_endpoint_state(&fe.ep), IDC_EP_UNUSED, "state %d", idc_endpoint_state(&fe.ep));
    cr_assert(rtt_wait_file(ctx, "be", "disconnect serve", 1, WAIT), "%s", rtt_file_text("be"));

    /* storage reusable for a new connection */
    memset(&fe, 0, sizeof fe);
    rtt_ep_create(&fe, ctx, IDC_ROLE_FRONTEND, "svc", NULL);
    cr_assert(rtt_wait_connect(&fe, 1, WAIT), "no reconnect on reused storage; log:\n%s", log.buf);
    cr_assert(rtt_wait_file(ctx, "be", "connect serve", 2, WAIT), "%s", rtt_file_text("be"));
    cr_assert(rtt_ep_destroy(&fe, WAIT));
    cr_assert_null(rtt_lifecycle_error(&fe), "%s", rtt_lifecycle_error(&fe));
    rtt_stop(be, SIGTERM, ctx, WAIT);
    idc_context_destroy(ctx);
}

/* The test process as the backend: a frontend process connects, runs transactions, leaves,
 * returns; the backend sees connect/disconnect cycles matching the peer's. */
RTT_TEST(lifecycle, backend_side_cycles_match_peer, 30)
{
    struct rtt_log log = { 0 };
    struct idc_context *ctx = rtt_ctx(&log);
    static struct rtt_ep be;
    rtt_ep_create(&be, ctx, IDC_ROLE_BACKEND, "svc", NULL);
    rtt_pump(ctx, 50);
    for (int round = 1; round <= 3; round++) {
        char out[16];
        snprintf(out, sizeof out, "fe%d", round);
        pid_t fe = rtt_spawn("rtt_peer", out, "--connect", "svc", "--mode", "load", "--load", "4",
                             NULL);
        cr_assert(rtt_wait_connect(&be, round, WAIT), "round %d: events \"%s\" log:\n%s", round,
                  be.ev, log.buf);
        cr_assert(rtt_wait_file(ctx, out, "connect connect", 1, WAIT), "%s", rtt_file_text(out));
        uint64_t before = be.n_txns;
        RTT_DISPATCH_WHILE(ctx, be.n_txns < before + 50, WAIT);
        cr_assert_geq(be.n_txns, before + 50, "backend handled only %llu",
                      (unsigned long long)(be.n_txns - before));
        int st = rtt_stop(fe, SIGTERM, ctx, WAIT);
        cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", rtt_file_text(out));
        cr_assert(rtt_wait_disconnect(&be, round, WAIT), "round %d: events \"%s\"", round, be.ev);
        char line[512];
        cr_assert(rtt_file_last(out, "stat ", line, sizeof line));
        cr_assert_eq(rtt_field(line, "bad"), 0, "%s", rtt_file_text(out));
        cr_assert_eq(rtt_field(line, "err"), 0, "%s", rtt_file_text(out));
        cr_assert_gt(rtt_field(line, "ok"), 0, "%s", line);
        cr_assert_eq(rtt_file_count(out, "connect "), 1);
        cr_assert_eq(rtt_file_count(out, "disconnect "), 1);
    }
    cr_assert_eq(be.n_connect, 3);
    cr_assert_eq(be.n_disconnect, 3);
    cr_assert(rtt_ep_destroy(&be, WAIT), "events \"%s\"", be.ev);
    cr_assert_null(rtt_lifecycle_error(&be), "%s", rtt_lifecycle_error(&be));
    idc_context_destroy(ctx);
}

/* Bad addresses: create cannot fail, the endpoint never connects, the reason is logged, and
 * destroy still completes. */
RTT_TEST(lifecycle, bad_address_never_connects_and_logs, 30)
{
    static const char *bad[] = {
        "bogus:svc",
        "=svc-without-transport",
        "=",
        "shm:",
        "shm:bad/name",
        "shm:bad name",
        "shm:..",
        "shm:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    };
    struct rtt_log log = { 0 };
    struct idc_context *ctx = rtt_ctx(&log);
    /* a real service exists, so a lenient parser would have something to connect to */
    pid_t be = rtt_spawn("rtt_peer", "be", "--serve", "svc", NULL);
    cr_assert(rtt_wait_file(ctx, "be", "ready", 1, WAIT));
    static struct rtt_ep e[sizeof bad / sizeof bad[0]];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int before = log.count;
        rtt_ep_create(&e[i], ctx, IDC_ROLE_FRONTEND, bad[i], NULL);
        rtt_pump(ctx, 150);
        cr_assert_eq(e[i].n_connect, 0, "\"%s\" connected", bad[i]);
        cr_assert_eq(e[i].n_appear, 0, "\"%s\" appeared", bad[i]);
        cr_assert_gt(log.count, before, "nothing logged for \"%s\"", bad[i]);
        cr_assert_eq(idc_endpoint_state(&e[i].ep), IDC_EP_DEAD, "\"%s\": state %d", bad[i],
                     idc_endpoint_state(&e[i].ep));
        static struct rtt_txn t;
        cr_assert_eq(rtt_submit(&e[i], &t, RTT_OP_ECHO, "x", 1), IDC_ERR_DISCONNECTED);
        cr_assert(rtt_ep_destroy(&e[i], WAIT), "destroy of \"%s\" never completed", bad[i]);
    }
    /* a backend with a bad address too */
    static struct rtt_ep b;
    int before = log.count;
    rtt_ep_create(&b, ctx, IDC_ROLE_BACKEND, "shm:no/slash", NULL);
    rtt_pump(ctx, 150);
    cr_assert_gt(log.count, before);
    cr_assert_eq(idc_endpoint_state(&b.ep), IDC_EP_DEAD);
    cr_assert(rtt_ep_destroy(&b, WAIT));
    cr_assert_eq(rtt_file_count("be", "connect "), 0, "%s", rtt_file_text("be"));
    rtt_stop(be, SIGTERM, ctx, WAIT);
    idc_context_destroy(ctx);
}

/* A null protocol or ops table is a bad configuration: logged, never connects, no crash. */
RTT_TEST(lifecycle, bad_config_is_dead_and_logged, 20)
{
    struct rtt_log log = { 0 };
    struct idc_context *ctx = rtt_ctx(&log);
    static const struct idc_protocol noversions = { "rtt", 2, 1, rtt_hashes, 64 };
    static const struct idc_protocol noname = { NULL, 1, 1, rtt_hashes, 64 };
    static const struct idc_protocol nohash = { "rtt", 1, 1, NULL, 64 };
    const struct idc_protocol *bad[] = { &noversions, &noname, &nohash };
    for (size_t i = 0; i < 3; i++) {
        static struct rtt_ep e;
        memset(&e, 0, sizeof e);
        int before = log.count;
        struct rtt_ep_opts o = { .proto = bad[i] };
        rtt_ep_create(&e, ctx, IDC_ROLE_FRONTEND, "svc", &o);
        rtt_pump(ctx, 50);
        cr_assert_gt(log.count, before, "protocol %zu: nothing logged", i);
        cr_assert_eq(idc_endpoint_state(&e.ep), IDC_EP_DEAD, "protocol %zu", i);
        cr_assert(rtt_ep_destroy(&e, WAIT));
    }
    /* destroy of a zeroed, never-created endpoint is harmless */
    static struct idc_endpoint zero;
    idc_endpoint_destroy(&zero, NULL);
    rtt_pump(ctx, 20);
    idc_context_destroy(ctx);
    idc_context_destroy(NULL);
}

/* A local idc_endpoint_disconnect is a disconnect/connect cycle on both sides; callbacks never
 * run outside dispatch; dispatch refuses to nest; the context fd wakes an outside poll loop. */
static int nested_rc = 1;
static void nest(struct rtt_ep *e)
{
    nested_rc = idc_context_dispatch(e->ctx, 0);
}

RTT_TEST(lifecycle, local_disconnect_cycles_both_sides, 30)
{
    struct rtt_log log = { 0 };
    struct idc_context *ctx = rtt_ctx(&log);
    pid_t be = rtt_spawn("rtt_peer", "be", "--serve", "svc", NULL);
    cr_assert(rtt_wait_file(NULL, "be", "ready", 1, WAIT));
    static struct rtt_ep fe;
    fe.on_connect = nest;
    rtt_ep_create(&fe, ctx, IDC_ROLE_FRONTEND, "svc", NULL);
    cr_assert_str_empty(fe.ev, "callback ran inside idc_endpoint_create");
    cr_assert_eq(idc_endpoint_disconnect(&fe.ep), IDC_ERR_STATE);
    cr_assert(rtt_wait_connect(&fe, 1, WAIT), "log:\n%s", log.buf);
    cr_assert_eq(nested_rc, IDC_ERR_STATE, "nested dispatch returned %d", nested_rc);

    /* an outside poll loop on idc_context_fd sees the response coming */
    static struct rtt_txn t;
    cr_assert_eq(rtt_submit(&fe, &t, RTT_OP_ECHO, "p", 1), 0);
    int fd = idc_context_fd(ctx);
    cr_assert_geq(fd, 0);
    for (int i = 0; i < 100 && t.calls == 0; i++) {
        struct pollfd p = { fd, POLLIN, 0 };
        int n = poll(&p, 1, 2000);
        cr_assert_eq(n, 1, "context fd never became readable");
        idc_context_dispatch(ctx, 0);
    }
    cr_assert_eq(t.calls, 1);
    cr_assert_eq(t.status, 0);

    /* local disconnect: held work fails, both sides cycle */
    static struct rtt_txn h;
    cr_assert_eq(rtt_submit(&fe, &h, RTT_OP_HOLD, "h", 1), 0);
    rtt_pump(ctx, 50);
    cr_assert_eq(idc_endpoint_disconnect(&fe.ep), 0);
    cr_assert(rtt_wait_disconnect(&fe, 1, WAIT));
    cr_assert_eq(h.calls, 1);
    cr_assert_eq(h.status, IDC_ERR_DISCONNECTED);
    cr_assert(rtt_wait_connect(&fe, 2, WAIT), "no reconnect after a local disconnect: \"%s\"",
              fe.ev);
    cr_assert(rtt_wait_file(ctx, "be", "disconnect serve", 1, WAIT), "%s", rtt_file_text("be"));
    cr_assert(rtt_wait_file(ctx, "be", "connect serve", 2, WAIT), "%s", rtt_file_text("be"));
    cr_assert_str_eq(fe.ev, "ACDC");
    cr_assert(rtt_ep_destroy(&fe, WAIT));
    cr_assert_null(rtt_lifecycle_error(&fe), "%s", rtt_lifecycle_error(&fe));
    rtt_stop(be, SIGTERM, ctx, WAIT);
    idc_context_destroy(ctx);
}

/* A backend endpoint serves one connection at a time: a second frontend waits until the first
 * leaves, then connects. */
RTT_TEST(lifecycle, backend_serves_one_connection_at_a_time, 30)
{
    struct rtt_log log = { 0 };
    struct idc_context *ctx = rtt_ctx(&log);
    static struct rtt_ep be;
    rtt_ep_create(&be, ctx, IDC_ROLE_BACKEND, "svc", NULL);
    rtt_pump(ctx, 50);
    pid_t f1 = rtt_spawn("rtt_peer", "f1", "--connect", "svc", "--mode", "load", "--load", "2",
                         NULL);
    cr_assert(rtt_wait_connect(&be, 1, WAIT), "log:\n%s", log.buf);
    cr_assert(rtt_wait_file(ctx, "f1", "connect connect", 1, WAIT));
    pid_t f2 = rtt_spawn("rtt_peer", "f2", "--connect", "svc", "--mode", "load", "--load", "2",
                         NULL);
    cr_assert(rtt_wait_file(ctx, "f2", "ready", 1, WAIT));
    rtt_pump(ctx, 500);
    cr_assert_eq(rtt_file_count("f2", "connect "), 0,
                 "second frontend connected while the first "
                 "was: %s",
                 rtt_file_text("f2"));
    cr_assert_eq(be.n_connect, 1);
    int st = rtt_stop(f1, SIGTERM, ctx, WAIT);
    cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert(rtt_wait_connect(&be, 2, WAIT), "second frontend never served: \"%s\"", be.ev);
    cr_assert(rtt_wait_file(ctx, "f2", "connect connect", 1, WAIT), "%s", rtt_file_text("f2"));
    rtt_stop(f2, SIGTERM, ctx, WAIT);
    cr_assert(rtt_wait_disconnect(&be, 2, WAIT));
    cr_assert(rtt_ep_destroy(&be, WAIT));
    cr_assert_null(rtt_lifecycle_error(&be), "%s", rtt_lifecycle_error(&be));
    idc_context_destroy(ctx);
}

/* destroy called from inside the endpoint's own connect callback */
static void destroy_in_connect(struct rtt_ep *e)
{
    idc_endpoint_destroy(&e->ep, NULL);
}

RTT_TEST(lifecycle, destroy_from_inside_a_callback, 30)
{
    struct rtt_log log = { 0 };
    struct idc_context *ctx = rtt_ctx(&log);
    pid_t be = rtt_spawn("rtt_peer", "be", "--serve", "svc", NULL);
    static struct rtt_ep fe;
    fe.on_connect = destroy_in_connect;
    rtt_ep_create(&fe, ctx, IDC_ROLE_FRONTEND, "svc", NULL);
    cr_assert(rtt_wait_connect(&fe, 1, WAIT), "log:\n%s", log.buf);
    RTT_DISPATCH_WHILE(ctx, idc_endpoint_state(&fe.ep) != IDC_EP_UNUSED, WAIT);
    cr_assert_eq(idc_endpoint_state(&fe.ep), IDC_EP_UNUSED, "state %d, events \"%s\"",
                 idc_endpoint_state(&fe.ep), fe.ev);
    cr_assert_eq(fe.n_disconnect, 1, "events \"%s\"", fe.ev);
    cr_assert_eq(fe.n_connect, 1, "reconnected after destroy: \"%s\"", fe.ev);
    cr_assert(rtt_wait_file(ctx, "be", "disconnect serve", 1, WAIT), "%s", rtt_file_text("be"));
    rtt_pump(ctx, 200);
    cr_assert_eq(fe.n_connect, 1);
    rtt_stop(be, SIGTERM, ctx, WAIT);
    idc_context_destroy(ctx);
}

/* idc_context_destroy with a live connection and work in flight: no callbacks afterwards, the
 * peer sees a disconnect, and (SAN build) nothing is touched after free. */
static int cb_after_destroy;
static void count_done(struct rtt_txn *t)
{
    (void)t;
    cb_after_destroy++;
}

RTT_TEST(lifecycle, context_destroy_with_live_connection, 30)
{
    struct rtt_log log = { 0 };
    struct idc_context *ctx = rtt_ctx(&log);
    pid_t be = rtt_spawn("rtt_peer", "be", "--serve", "svc", NULL);
    static struct rtt_ep fe;
    rtt_ep_create(&fe, ctx, IDC_ROLE_FRONTEND, "svc", NULL);
    cr_assert(rtt_wait_connect(&fe, 1, WAIT), "log:\n%s", log.buf);
    static struct rtt_txn t[8];
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(rtt_submit(&fe, &t[i], RTT_OP_HOLD, &i, sizeof i), 0);
        t[i].on_done = count_done;
    }
    uint8_t *mem = NULL;
    struct idc_rbuf rb;
    cr_assert_eq(idc_buffer_alloc(ctx, 4096, (void **)&mem), 0);
    cr_assert_eq(idc_buffer_register(ctx, mem, 4096, IDC_RBUF_READ, &rb), 0);
    rtt_pump(ctx, 50);
    int before = fe.n_disconnect + fe.n_disappear;
    idc_context_destroy(ctx);
    cr_assert_eq(fe.n_disconnect + fe.n_disappear, before, "callbacks ran in context destroy");
    cr_assert_eq(cb_after_destroy, 0, "transaction callbacks ran in context destroy");
    cr_assert(rtt_wait_file(NULL, "be", "disconnect serve", 1, WAIT), "peer never noticed: %s",
              rtt_file_text("be"));
    /* the endpoint storage is reusable in a new context */
    struct idc_context *c2 = rtt_ctx(&log);
    memset(&fe, 0, sizeof fe);
    rtt_ep_create(&fe, c2, IDC_ROLE_FRONTEND, "svc", NULL);
    cr_assert(rtt_wait_connect(&fe, 1, WAIT), "no connect from a new context");
    cr_assert(rtt_ep_destroy(&fe, WAIT));
    rtt_stop(be, SIGTERM, c2, WAIT);
    idc_context_destroy(c2);
}
