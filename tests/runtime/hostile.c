/* Hostile peers: a process that speaks the shm handshake by hand and then writes garbage, lies
 * in lengths and indexes, rewrites frames after publishing them from a second thread, replays
 * other epochs and answers transactions never asked (or twice). The victim (this process) must
 * disconnect it with a logged reason, never crash (the SAN build checks every access), and a
 * second, honest connection in the same context must keep working throughout. */
#include "runtime/util.h"

#include "shm/proto.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#define WAIT 5000

static struct idc_context *ctx;
static struct rtt_log logbuf;
static struct rtt_ep good, evil;
static struct rtt_txn gt[16];
static uint64_t g_ok, g_bad;
static size_t evil_max_len;
static uint64_t evil_msgs;

static void g_pump(void);
static void g_done(struct rtt_txn *t)
{
    if (t->status == 0 && t->len == 8 && rtt_get64(t->result) == t->seq + 1)
        g_ok++;
    else if (t->status != IDC_ERR_DISCONNECTED)
        g_bad++;
    g_pump();
}
static void g_pump(void)
{
    static uint64_t seq;
    if (!good.connected)
        return;
    for (int i = 0; i < 16; i++) {
        if (gt[i].busy)
            continue;
        uint8_t b[8];
        gt[i].seq = ++seq * 3;
        gt[i].on_done = g_done;
        rtt_put64(b, gt[i].seq);
        if (rtt_submit(&good, &gt[i], RTT_OP_ADD, b, 8) != 0)
            return;
    }
}
static void g_hook(struct rtt_ep *e)
{
    (void)e;
    g_pump();
}

static int evil_message(struct rtt_ep *e, uint16_t op, const void *p, size_t len)
{
    (void)e;
    (void)op;
    (void)p;
    evil_msgs++;
    if (len > evil_max_len)
        evil_max_len = len;
    return 0;
}

/* the honest connection in the same context, running transactions all along */
static void good_up(void)
{
    memset(&logbuf, 0, sizeof logbuf);
    ctx = rtt_ctx(&logbuf);
    rtt_spawn("rtt_peer", "good", "--serve", "good", NULL);
    good.on_connect = g_hook;
    good.on_writable = g_hook;
    rtt_ep_create(&good, ctx, IDC_ROLE_FRONTEND, "good", NULL);
    cr_assert(rtt_wait_connect(&good, 1, WAIT), "honest peer: log:\n%s", logbuf.buf);
}

static bool good_progress(void *arg)
{
    return g_ok >= *(uint64_t *)arg;
}

static void good_check_and_down(void)
{
    uint64_t want = g_ok + 200;
    cr_assert(rtt_until(ctx, good_progress, &want, WAIT), "honest connection stalled at %llu",
              (unsigned long long)g_ok);
    cr_assert_eq(g_bad, 0u, "honest connection got bad results");
    cr_assert_eq(good.n_disconnect, 0, "honest connection was disconnected: \"%s\"", good.ev);
    cr_assert(rtt_ep_destroy(&good, WAIT));
    idc_context_destroy(ctx);
}

/* victim = frontend of the hostile backend "evil"; the hostile service stays, so the victim
 * reconnects and is attacked again: wait for `rounds` disconnects */
static void victim_frontend_n(const char *attack, int rounds);
static void victim_frontend(const char *attack)
{
    victim_frontend_n(attack, 1);
}
static void victim_frontend_n(const char *attack, int rounds)
{
    good_up();
    rtt_spawn("rtt_hostile", "evil", "--role", "backend", "--name", "evil", "--attack", attack,
              NULL);
    evil.on_message = evil_message;
    rtt_ep_create(&evil, ctx, IDC_ROLE_FRONTEND, "evil", NULL);
    cr_assert(rtt_wait_connect(&evil, 1, WAIT), "%s: no connect to the hostile peer\nlog:\n%s\n%s",
              attack, logbuf.buf, rtt_file_text("evil"));
    int logged = logbuf.count;
    size_t log_at = logbuf.len;
    if (strcmp(attack, "dupresp") == 0) {
        static struct rtt_txn t;
        cr_assert_eq(rtt_submit(&evil, &t, RTT_OP_ECHO, "dup", 3), 0);
        cr_assert(rtt_wait_disconnect(&evil, 1, WAIT), "duplicate response accepted\nlog:\n%s",
                  logbuf.buf);
        cr_assert_eq(t.calls, 1, "done called %d times", t.calls);
    }
    if (strcmp(attack, "credit") == 0) {
        /* the lie shows when we next look at our own ring's consumer indexes */
        for (int i = 0; i < 200 && evil.n_disconnect == 0; i++) {
            int rc = idc_send_message(&evil.ep, RTT_OP_SINK, "c", 1);
            cr_assert(rc == 0 || rc == IDC_ERR_AGAIN || rc == IDC_ERR_DISCONNECTED, "send: %d", rc);
            idc_context_dispatch(ctx, 10);
        }
    }
    cr_assert(rtt_wait_disconnect(&evil, rounds, WAIT * rounds),
              "%s: hostile peer never disconnected: \"%s\""
              " (%llu messages delivered)\nlog:\n%s\npeer:\n%s",
              attack, evil.ev, (unsigned long long)evil_msgs, logbuf.buf, rtt_file_text("evil"));
    (void)logged;
    cr_assert_gt(rtt_log_count(&logbuf, IDC_LOG_WARN, "evil"), 0,
                 "%s: disconnected without a logged reason (error or warning):\n%s", attack,
                 logbuf.buf);
    cr_log_info("%s: %s", attack, logbuf.buf + log_at);
    cr_assert(rtt_wait_file(ctx, "evil", "closed", 1, WAIT), "%s: victim kept the socket: %s",
              attack, rtt_file_text("evil"));
    cr_assert_leq(evil_max_len, (size_t)RTT_MAX_FRAME, "a %zu-byte payload was delivered",
                  evil_max_len);
    cr_assert_eq(evil.outstanding_at_disconnect, 0);
    /* the victim may reconnect to the (still present) hostile service; tear it down */
    cr_assert(rtt_ep_destroy(&evil, WAIT), "destroy: \"%s\"", evil.ev);
    cr_assert_null(rtt_lifecycle_error(&evil), "%s", rtt_lifecycle_error(&evil));
    good_check_and_down();
}

/* A peer writing our eventfd in a loop: the victim pauses listening, then cuts the connection
   with a logged reason within a few seconds, spending little CPU meanwhile; the honest
   connection in the same context keeps working. */
RTT_TEST(hostile, notification_storm_is_cut, 30)
{
    victim_frontend("storm");
    cr_assert(rtt_log_count(&logbuf, IDC_LOG_WARN, "event storm") > 0, "reason:\n%s", logbuf.buf);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* The storm's cost to the victim alone (no other connection in the process): bounded. */
RTT_TEST(hostile, notification_storm_costs_little_cpu, 30)
{
    memset(&logbuf, 0, sizeof logbuf);
    ctx = rtt_ctx(&logbuf);
    rtt_spawn("rtt_hostile", "evil", "--role", "backend", "--name", "evil", "--attack", "storm",
              NULL);
    rtt_ep_create(&evil, ctx, IDC_ROLE_FRONTEND, "evil", NULL);
    cr_assert(rtt_wait_connect(&evil, 1, WAIT), "log:\n%s", logbuf.buf);
    double t0 = cpu_seconds();
    uint64_t w0 = rtt_now_ms();
    cr_assert(rtt_wait_disconnect(&evil, 1, 8000), "storm never cut:\n%s", logbuf.buf);
    double used = cpu_seconds() - t0, wall = (double)(rtt_now_ms() - w0) / 1000.0;
    cr_log_info("storm cut after %.2f s, victim CPU %.3f s", wall, used);
    cr_assert_lt(used, 0.25 * wall + 0.1, "victim spent %.3f s of CPU in %.2f s of storm", used,
                 wall);
    cr_assert(rtt_ep_destroy(&evil, WAIT));
    idc_context_destroy(ctx);
}

/* The control: the hand-written handshake is right, so the attacks below test the runtime. */
RTT_TEST(hostile, control_honest_hand_written_peer_connects, 30)
{
    good_up();
    rtt_spawn("rtt_hostile", "evil", "--role", "backend", "--name", "evil", "--attack", "honest",
              NULL);
    rtt_ep_create(&evil, ctx, IDC_ROLE_FRONTEND, "evil", NULL);
    cr_assert(rtt_wait_connect(&evil, 1, WAIT), "log:\n%s\n%s", logbuf.buf, rtt_file_text("evil"));
    static struct rtt_txn t;
    cr_assert_eq(rtt_submit(&evil, &t, RTT_OP_ECHO, "hello", 5), 0);
    cr_assert(rtt_wait_txn(ctx, &t, WAIT), "%s", rtt_file_text("evil"));
    cr_assert_eq(t.status, 0);
    cr_assert_eq(t.len, 5u);
    cr_assert_eq(memcmp(t.result, "hello", 5), 0);
    cr_assert_eq(evil.n_hello, 1);
    cr_assert_eq(evil.hello_instance, 666u);
    rtt_pump(ctx, 100);
    cr_assert_eq(evil.n_disconnect, 0, "log:\n%s", logbuf.buf);
    cr_assert(rtt_ep_destroy(&evil, WAIT));
    good_check_and_down();
}

RTT_TEST(hostile, garbage_frames, 30)
{
    victim_frontend("garbage");
}
RTT_TEST(hostile, producer_index_beyond_ring, 30)
{
    victim_frontend("badprod");
}
RTT_TEST(hostile, producer_index_unaligned, 30)
{
    victim_frontend("unaligned");
}
RTT_TEST(hostile, length_above_max_frame, 30)
{
    victim_frontend("biglen");
}
RTT_TEST(hostile, length_beyond_published_bytes, 30)
{
    victim_frontend("partial");
}
RTT_TEST(hostile, unknown_frame_kind, 30)
{
    victim_frontend("badkind");
}
/* first connection: a frame with a foreign epoch; the next ones replay the previous epoch */
RTT_TEST(hostile, frame_of_another_epoch, 30)
{
    victim_frontend_n("epoch", 3);
    cr_assert_geq(rtt_file_count("evil", "conn "), 3);
    /* the valid frame before the bad one was delivered on each connection */
    cr_assert_geq(evil_msgs, 3u, "%llu valid messages delivered", (unsigned long long)evil_msgs);
}
RTT_TEST(hostile, response_to_unknown_transaction, 30)
{
    victim_frontend("txnid");
}
RTT_TEST(hostile, duplicate_response, 30)
{
    victim_frontend("dupresp");
}
RTT_TEST(hostile, frames_rewritten_after_publish, 40)
{
    victim_frontend("rewrite");
}
RTT_TEST(hostile, consumer_lies_about_credit, 30)
{
    victim_frontend("credit");
}

/* A peer sending legal messages as fast as its credits allow must not capture the victim's
 * thread: dispatch keeps returning and the honest connection in the same context keeps going. */
RTT_TEST(hostile, flood_within_credit_does_not_starve_other_endpoints, 30)
{
    good_up();
    rtt_spawn("rtt_hostile", "evil", "--role", "backend", "--name", "evil", "--attack", "flood",
              NULL);
    evil.on_message = evil_message;
    /* the largest message credit: long batches between credit returns */
    rtt_ep_create(&evil, ctx, IDC_ROLE_FRONTEND, "evil",
                  &(struct rtt_ep_opts){ .max_msg = IDC_MAX_CREDITS });
    cr_assert(rtt_wait_connect(&evil, 1, WAIT), "log:\n%s\n%s", logbuf.buf, rtt_file_text("evil"));
    uint64_t ok0 = g_ok, worst = 0, t_end = rtt_now_ms() + 2500;
    while (rtt_now_ms() < t_end) {
        uint64_t t0 = rtt_now_ms();
        idc_context_dispatch(ctx, 10);
        uint64_t d = rtt_now_ms() - t0;
        if (d > worst)
            worst = d;
    }
    uint64_t during = g_ok - ok0;
    cr_log_info("flood: %llu messages from the flooder, %llu honest transactions, longest "
                "dispatch %llu ms",
                (unsigned long long)evil_msgs, (unsigned long long)during,
                (unsigned long long)worst);
    cr_assert_gt(evil_msgs, 0u, "the flood never arrived: %s", rtt_file_text("evil"));
    cr_assert_lt(worst, 500u, "one dispatch call lasted %llu ms under a legal flood",
                 (unsigned long long)worst);
    cr_assert_geq(during, 100u, "honest connection starved: %llu transactions in 2.5 s",
                  (unsigned long long)during);
    cr_assert_eq(evil.n_disconnect, 0, "legal traffic was refused: log:\n%s", logbuf.buf);
    cr_assert(rtt_ep_destroy(&evil, WAIT));
    good_check_and_down();
}

/* Lies in the WELCOME record: the victim frontend must refuse the channel (never connect), log
 * why, not crash (w-unsealed shrinks the memfd if the victim accepted it: SIGBUS), and keep
 * the honest connection going. */
static void welcome_lie(const char *attack)
{
    good_up();
    rtt_spawn("rtt_hostile", "evil", "--role", "backend", "--name", "evil", "--attack", attack,
              NULL);
    rtt_ep_create(&evil, ctx, IDC_ROLE_FRONTEND, "evil", NULL);
    RTT_DISPATCH_WHILE(ctx,
                       rtt_file_count("evil", "refused") + rtt_file_count("evil", "accepted") +
                               evil.n_connect ==
                           0,
                       WAIT);
    rtt_pump(ctx, 300);
    cr_assert_eq(evil.n_connect, 0, "%s: the victim connected over a lying WELCOME: %s", attack,
                 rtt_file_text("evil"));
    cr_assert_eq(rtt_file_count("evil", "accepted-lie"), 0, "%s: victim sent READY: %s", attack,
                 rtt_file_text("evil"));
    cr_assert_gt(rtt_log_count(&logbuf, IDC_LOG_WARN, "evil"), 0, "%s: nothing logged:\n%s", attack,
                 logbuf.buf);
    cr_log_info("%s: %s", attack, logbuf.buf);
    cr_assert(rtt_ep_destroy(&evil, WAIT));
    good_check_and_down();
}

RTT_TEST(hostile, welcome_pipes_instead_of_eventfds, 30)
{
    welcome_lie("w-pipe");
}
RTT_TEST(hostile, welcome_max_frame_below_minimum, 30)
{
    welcome_lie("w-tinyframe");
}

RTT_TEST(hostile, welcome_unsealed_memfd, 30)
{
    welcome_lie("w-unsealed");
}
RTT_TEST(hostile, welcome_memfd_smaller_than_rings, 30)
{
    welcome_lie("w-small");
}
RTT_TEST(hostile, welcome_bad_ring_size, 30)
{
    welcome_lie("w-ringsize");
}
RTT_TEST(hostile, welcome_ring_larger_than_memfd, 30)
{
    welcome_lie("w-bigring");
}
RTT_TEST(hostile, welcome_frame_above_request, 30)
{
    welcome_lie("w-frame");
}
RTT_TEST(hostile, welcome_credits_above_request, 30)
{
    welcome_lie("w-credits");
}
RTT_TEST(hostile, welcome_epoch_zero, 30)
{
    welcome_lie("w-epoch0");
}
RTT_TEST(hostile, welcome_version_never_offered, 30)
{
    welcome_lie("w-version");
}
RTT_TEST(hostile, welcome_without_descriptors, 30)
{
    welcome_lie("w-nofds");
}

/* ------------------------------------------------------------------ victim = backend */
static struct rtt_ep be;

static void victim_backend_up(void)
{
    good_up();
    rtt_ep_create(&be, ctx, IDC_ROLE_BACKEND, "svc", NULL);
    rtt_pump(ctx, 50);
}

/* afterwards an honest frontend process is served as usual */
static void victim_backend_serves_honest_peer(int connects_before)
{
    pid_t f = rtt_spawn("rtt_peer", "honest", "--connect", "svc", "--mode", "load", "--load", "8",
                        NULL);
    cr_assert(rtt_wait_connect(&be, connects_before + 1, WAIT),
              "honest frontend refused: \"%s\"\n"
              "log:\n%s\n%s",
              be.ev, logbuf.buf, rtt_file_text("honest"));
    uint64_t n0 = be.n_txns;
    RTT_DISPATCH_WHILE(ctx, be.n_txns < n0 + 100, WAIT);
    cr_assert_geq(be.n_txns, n0 + 100);
    int st = rtt_stop(f, SIGTERM, ctx, WAIT);
    cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert(rtt_ep_destroy(&be, WAIT));
    cr_assert_null(rtt_lifecycle_error(&be), "%s", rtt_lifecycle_error(&be));
    good_check_and_down();
}

RTT_TEST(hostile, control_honest_hand_written_frontend, 30)
{
    victim_backend_up();
    rtt_spawn("rtt_hostile", "evil", "--role", "frontend", "--name", "svc", "--attack", "fhonest",
              NULL);
    cr_assert(rtt_wait_file(ctx, "evil", "result ", 1, WAIT), "%s\nlog:\n%s", rtt_file_text("evil"),
              logbuf.buf);
    cr_assert_eq(rtt_file_count("evil", "result ok"), 1, "%s", rtt_file_text("evil"));
    cr_assert(rtt_wait_disconnect(&be, 1, WAIT));
    victim_backend_serves_honest_peer(1);
}

/* Silent clients (never a HELLO) flooding the service: they wait in the backend's lobby, at
   most two per process and one second each, so an honest frontend is served within a bound
   while the attack goes on, and the refusals do not flood the log. */
RTT_TEST(hostile, silent_clients_cannot_hold_the_service, 60)
{
    victim_backend_up();
    rtt_spawn("rtt_hostile", "evil", "--role", "frontend", "--name", "svc", "--attack", "silent",
              NULL);
    rtt_pump(ctx, 500); /* the attack is under way */
    uint64_t t0 = rtt_now_ms();
    pid_t f = rtt_spawn("rtt_peer", "honest", "--connect", "svc", "--mode", "load", "--load", "8",
                        NULL);
    cr_assert(rtt_wait_connect(&be, 1, 3000), "honest frontend not served during the attack:\n%s",
              logbuf.buf);
    uint64_t waited = rtt_now_ms() - t0;
    cr_log_info("honest frontend connected %llu ms after it started, during the attack",
                (unsigned long long)waited);
    cr_assert(rtt_wait_file(ctx, "evil", "silent ", 1, 10000), "%s", rtt_file_text("evil"));
    char line[256];
    cr_assert(rtt_file_last("evil", "silent ", line, sizeof line));
    cr_assert_gt(rtt_field(line, "closed"), 10, "the victim did not close silent clients: %s",
                 line);
    /* rate-limited: at most 10 lines a second plus the suppressed counts */
    cr_assert_lt(rtt_log_count(&logbuf, IDC_LOG_WARN, "svc: refusing"), 80, "log flood:\n%s",
                 logbuf.buf);
    int st = rtt_stop(f, SIGTERM, ctx, WAIT);
    cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert(rtt_ep_destroy(&be, WAIT));
    good_check_and_down();
}

RTT_TEST(hostile, malformed_handshakes_refused, 60)
{
    victim_backend_up();
    rtt_spawn("rtt_hostile", "evil", "--role", "frontend", "--name", "svc", "--attack", "handshake",
              NULL);
    cr_assert(rtt_wait_file(ctx, "evil", "done", 1, 30000), "%s\nlog:\n%s", rtt_file_text("evil"),
              logbuf.buf);
    static const char *must_refuse[] = { "short",    "magic", "name",       "range",
                                         "inverted", "huge",  "ready-first" };
    for (size_t i = 0; i < sizeof must_refuse / sizeof must_refuse[0]; i++) {
        char prefix[64], line[512];
        snprintf(prefix, sizeof prefix, "reply case=%s ", must_refuse[i]);
        cr_assert(rtt_file_last("evil", prefix, line, sizeof line), "%s", rtt_file_text("evil"));
        long long type = rtt_field(line, "type");
        cr_assert(type == 0 || type == IDC_SHM_REFUSE, "%s: answered with record type %lld",
                  must_refuse[i], type);
    }
    cr_assert_eq(be.n_connect, 0, "a malformed handshake connected: \"%s\"", be.ev);
    cr_assert_gt(logbuf.count, 0);
    victim_backend_serves_honest_peer(be.n_connect);
}

RTT_TEST(hostile, frontend_writes_garbage, 30)
{
    victim_backend_up();
    rtt_spawn("rtt_hostile", "evil", "--role", "frontend", "--name", "svc", "--attack", "fgarbage",
              NULL);
    cr_assert(rtt_wait_connect(&be, 1, WAIT), "log:\n%s\n%s", logbuf.buf, rtt_file_text("evil"));
    cr_assert(rtt_wait_disconnect(&be, 1, WAIT), "garbage accepted: log:\n%s", logbuf.buf);
    cr_assert_gt(rtt_log_count(&logbuf, IDC_LOG_WARN, "svc"), 0, "no reason logged:\n%s",
                 logbuf.buf);
    cr_assert(rtt_wait_file(ctx, "evil", "closed", 1, WAIT), "%s", rtt_file_text("evil"));
    victim_backend_serves_honest_peer(1);
}

RTT_TEST(hostile, frontend_lies_about_consumer_index, 30)
{
    victim_backend_up();
    rtt_spawn("rtt_hostile", "evil", "--role", "frontend", "--name", "svc", "--attack", "consl",
              NULL);
    cr_assert(rtt_wait_connect(&be, 1, WAIT), "log:\n%s\n%s", logbuf.buf, rtt_file_text("evil"));
    /* the lie shows when the victim next needs credit back: send until it runs out */
    for (int i = 0; i < 200 && be.n_disconnect == 0; i++) {
        int rc = idc_send_message(&be.ep, RTT_OP_SINK, "c", 1);
        cr_assert(rc == 0 || rc == IDC_ERR_AGAIN || rc == IDC_ERR_DISCONNECTED, "send: %d", rc);
        idc_context_dispatch(ctx, 10);
    }
    cr_assert(rtt_wait_disconnect(&be, 1, WAIT), "lie accepted: log:\n%s", logbuf.buf);
    cr_assert_gt(rtt_log_count(&logbuf, IDC_LOG_WARN, "svc"), 0, "no reason logged:\n%s",
                 logbuf.buf);
    cr_assert(rtt_wait_file(ctx, "evil", "closed", 1, WAIT), "%s", rtt_file_text("evil"));
    victim_backend_serves_honest_peer(1);
}

/* A frontend that never consumes responses cannot get more than its credit answered: responses
   not consumed count as outstanding, the next request is a protocol error (logged), and every
   accepted request's response is in its ring (none dropped). */
RTT_TEST(hostile, unconsumed_responses_count_against_credit, 30)
{
    victim_backend_up();
    rtt_spawn("rtt_hostile", "evil", "--role", "frontend", "--name", "svc", "--attack", "nocons",
              NULL);
    cr_assert(rtt_wait_connect(&be, 1, WAIT), "log:\n%s\n%s", logbuf.buf, rtt_file_text("evil"));
    cr_assert(rtt_wait_disconnect(&be, 1, WAIT), "requests beyond the credit accepted\nlog:\n%s",
              logbuf.buf);
    cr_assert(rtt_log_count(&logbuf, IDC_LOG_WARN, "requests outstanding") > 0,
              "no reason logged:\n%s", logbuf.buf);
    cr_assert(rtt_wait_file(ctx, "evil", "nocons ", 1, WAIT), "%s", rtt_file_text("evil"));
    char line[256];
    cr_assert(rtt_file_last("evil", "nocons ", line, sizeof line));
    long long credit = rtt_field(line, "credit"), responses = rtt_field(line, "responses");
    cr_assert_eq(responses, credit,
                 "%s (responses must equal the credit: none dropped, none "
                 "beyond)",
                 line);
    victim_backend_serves_honest_peer(1);
}

RTT_TEST(hostile, frontend_floods_requests_beyond_credit, 30)
{
    victim_backend_up();
    rtt_spawn("rtt_hostile", "evil", "--role", "frontend", "--name", "svc", "--attack", "reqflood",
              NULL);
    cr_assert(rtt_wait_connect(&be, 1, WAIT), "log:\n%s\n%s", logbuf.buf, rtt_file_text("evil"));
    cr_assert(rtt_wait_disconnect(&be, 1, WAIT),
              "requests beyond the credit accepted (%d held)\n"
              "log:\n%s\n%s",
              be.n_held, logbuf.buf, rtt_file_text("evil"));
    cr_assert_gt(rtt_log_count(&logbuf, IDC_LOG_WARN, "svc"), 0, "no reason logged:\n%s",
                 logbuf.buf);
    cr_assert(rtt_wait_file(ctx, "evil", "closed", 1, WAIT), "%s", rtt_file_text("evil"));
    victim_backend_serves_honest_peer(1);
}
