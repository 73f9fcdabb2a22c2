/* Protocol identity and version negotiation in the handshake, against a real backend process:
 * peers settle on the highest version both speak with matching hashes; another IDL (hash), another
 * protocol (name) or no common version is refused on both sides with a logged error. */
#include "runtime/util.h"

#include <signal.h>
#include <sys/wait.h>

#define WAIT 5000

struct pair {
    const char *fe, *be;
    uint32_t want;
};

RTT_TEST(proto, negotiation_picks_highest_common_version, 60)
{
    static const struct pair pairs[] = {
        { "v13", "v12", 2 }, { "v12", "v13", 2 },    { "v13", "v24", 3 }, { "v24", "v13", 3 },
        { "v13", "v13", 3 }, { "v3only", "v13", 3 }, { "v1", "v13", 1 },  { "v24", "v24", 4 },
    };
    struct rtt_log log = { 0 };
    struct idc_context *ctx = rtt_ctx(&log);
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        char svc[16], out[16];
        snprintf(svc, sizeof svc, "svc%zu", i);
        snprintf(out, sizeof out, "be%zu", i);
        pid_t be = rtt_spawn("rtt_peer", out, "--serve", svc, "--proto", pairs[i].be, NULL);
        static struct rtt_ep fe;
        memset(&fe, 0, sizeof fe);
        rtt_ep_create(&fe, ctx, IDC_ROLE_FRONTEND, svc,
                      &(struct rtt_ep_opts){ .proto = rtt_proto_by_name(pairs[i].fe) });
        cr_assert(rtt_wait_connect(&fe, 1, WAIT), "%s vs %s: no connect\nlog:\n%s\npeer:\n%s",
                  pairs[i].fe, pairs[i].be, log.buf, rtt_file_text(out));
        cr_assert_eq(idc_endpoint_version(&fe.ep), pairs[i].want, "%s vs %s: version %u",
                     pairs[i].fe, pairs[i].be, idc_endpoint_version(&fe.ep));
        char want[64];
        snprintf(want, sizeof want, "connect serve version=%u", pairs[i].want);
        cr_assert(rtt_wait_file(ctx, out, want, 1, WAIT), "%s vs %s: peer: %s", pairs[i].fe,
                  pairs[i].be, rtt_file_text(out));
        /* traffic works at that version */
        static struct rtt_txn t;
        memset(&t, 0, sizeof t);
        cr_assert_eq(rtt_submit(&fe, &t, RTT_OP_ECHO, "v", 1), 0);
        cr_assert(rtt_wait_txn(ctx, &t, WAIT));
        cr_assert_eq(t.status, 0);
        cr_assert(rtt_ep_destroy(&fe, WAIT));
        rtt_stop(be, SIGTERM, ctx, WAIT);
    }
    idc_context_destroy(ctx);
}

/* the frontend speaks `fe`, the backend process `be`: never connect, both log */
static void refused(const char *fe_proto, const char *be_proto, const char *what)
{
    struct rtt_log log = { 0 };
    struct idc_context *ctx = rtt_ctx(&log);
    pid_t be = rtt_spawn("rtt_peer", "be", "--serve", "svc", "--proto", be_proto, NULL);
    static struct rtt_ep fe;
    rtt_ep_create(&fe, ctx, IDC_ROLE_FRONTEND, "svc",
                  &(struct rtt_ep_opts){ .proto = rtt_proto_by_name(fe_proto) });
    /* the service is seen, but no connection comes of it */
    RTT_DISPATCH_WHILE(ctx, fe.n_appear == 0 || log.count == 0, 3000);
    rtt_pump(ctx, 700);
    cr_assert_eq(fe.n_connect, 0, "%s: connected anyway", what);
    cr_assert_eq(idc_endpoint_version(&fe.ep), 0u);
    cr_assert_gt(log.count, 0, "%s: frontend logged nothing", what);
    cr_assert(rtt_log_has(&log, "mismatch") || rtt_log_has(&log, "version") ||
                  rtt_log_has(&log, "hash") || rtt_log_has(&log, "protocol"),
              "%s: frontend log says nothing useful:\n%s", what, log.buf);
    cr_assert_eq(rtt_file_count("be", "connect "), 0, "%s: backend connected: %s", what,
                 rtt_file_text("be"));
    cr_assert(rtt_wait_file(ctx, "be", "log ", 1, WAIT), "%s: backend logged nothing: %s", what,
              rtt_file_text("be"));
    const char *bt = rtt_file_text("be");
    cr_assert(strcasestr(bt, "mismatch") || strcasestr(bt, "version") || strcasestr(bt, "hash") ||
                  strcasestr(bt, "protocol"),
              "%s: backend log says nothing useful: %s", what, bt);
    /* the runtime neither crashed nor gave up on the endpoint: destroy completes */
    cr_assert(rtt_ep_destroy(&fe, WAIT));
    int st = rtt_stop(be, SIGTERM, ctx, WAIT);
    cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", rtt_file_text("be"));
    idc_context_destroy(ctx);
}

RTT_TEST(proto, different_hash_refused_on_both_sides, 30)
{
    refused("v1", "badhash", "same name, other IDL");
}

RTT_TEST(proto, different_name_refused_on_both_sides, 30)
{
    refused("v1", "othername", "other protocol name");
}

RTT_TEST(proto, no_common_version_refused_on_both_sides, 30)
{
    refused("v1", "v24", "versions 1 vs 2..4");
}

/* after a refused peer, a matching backend on the same name connects fine */
RTT_TEST(proto, refusal_does_not_poison_the_endpoint, 30)
{
    struct rtt_log log = { 0 };
    struct idc_context *ctx = rtt_ctx(&log);
    pid_t be = rtt_spawn("rtt_peer", "bad", "--serve", "svc", "--proto", "badhash", NULL);
    static struct rtt_ep fe;
    rtt_ep_create(&fe, ctx, IDC_ROLE_FRONTEND, "svc", NULL);
    rtt_pump(ctx, 500);
    cr_assert_eq(fe.n_connect, 0);
    rtt_stop(be, SIGTERM, ctx, WAIT);
    be = rtt_spawn("rtt_peer", "good", "--serve", "svc", NULL);
    cr_assert(rtt_wait_connect(&fe, 1, WAIT), "no connect to the good backend\nlog:\n%s\n%s",
              log.buf, rtt_file_text("good"));
    cr_assert(rtt_ep_destroy(&fe, WAIT));
    cr_assert_null(rtt_lifecycle_error(&fe), "%s", rtt_lifecycle_error(&fe));
    rtt_stop(be, SIGTERM, ctx, WAIT);
    idc_context_destroy(ctx);
}
