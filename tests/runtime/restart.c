/* The backend process is restarted 100 times (alternately kill -9 and graceful exit) while the
 * frontend (this process) keeps its transaction window full; each backend process also drops
 * its connection once by itself (idc_endpoint_disconnect) before it goes.
 *
 * Every payload carries (connection generation, sequence); the backend stamps its results with
 * an instance number (process id * 1000 + its connection number) that it also announces in a
 * HELLO message on connect. Asserted:
 *   - every submitted transaction completes exactly once: success or IDC_ERR_DISCONNECTED;
 *   - a success belongs to the current connection: same generation, sequence, and the instance
 *     announced on this connection (nothing stale crosses a reconnect);
 *   - HELLO instances strictly increase (no message from an old connection arrives late);
 *   - nothing is outstanding when disconnect runs;
 *   - every connect/disconnect here is matched by exactly one on the backend processes.
 */
#include "runtime/util.h"

#include <signal.h>
#include <sys/wait.h>

#define WAIT     5000
#define RESTARTS 100
#define WINDOW   32

static struct idc_context *ctx;
static struct rtt_ep fe;
static struct rtt_txn slot[WINDOW];
static uint64_t gen, seqno;
static uint32_t instance;  /* announced by HELLO on the current connection */
static uint64_t hello_gen; /* generation the last HELLO arrived in */
static uint64_t n_sub, n_ok, n_disc, n_other, n_stale, n_nohello, n_ok_gen;
static char first_problem[256];

static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void problem(const char *fmt, ...)
{
    if (first_problem[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(first_problem, sizeof first_problem, fmt, ap);
    va_end(ap);
}

static void pump(void);

static void on_done(struct rtt_txn *t)
{
    if (t->status == IDC_ERR_DISCONNECTED) {
        n_disc++;
    } else if (t->status != 0) {
        n_other++;
        problem("txn gen %llu seq %llu: status %d", (unsigned long long)t->gen,
                (unsigned long long)t->seq, t->status);
    } else {
        struct rtt_stamp st;
        if (t->len != sizeof st) {
            n_stale++;
            problem("result of %zu bytes", t->len);
        } else {
            memcpy(&st, t->result, sizeof st);
            if (st.gen != t->gen || st.seq != t->seq || st.magic != RTT_STAMP_MAGIC) {
                n_stale++;
                problem("result for gen %llu seq %llu delivered to gen %llu seq %llu",
                        (unsigned long long)st.gen, (unsigned long long)st.seq,
                        (unsigned long long)t->gen, (unsigned long long)t->seq);
            } else if (t->gen != gen) {
                n_stale++;
                problem("success of a gen %llu transaction during gen %llu",
                        (unsigned long long)t->gen, (unsigned long long)gen);
            } else if (hello_gen != gen) {
                n_nohello++;
                problem("response before the HELLO of gen %llu", (unsigned long long)gen);
            } else if (st.instance != instance) {
                n_stale++;
                problem("result stamped by instance %u, connected to %u", st.instance, instance);
            } else {
                n_ok++;
                n_ok_gen++;
            }
        }
    }
    pump();
}

static void pump(void)
{
    if (!fe.connected)
        return;
    for (int i = 0; i < WINDOW; i++) {
        struct rtt_txn *t = &slot[i];
        if (t->busy)
            continue;
        t->gen = gen;
        t->seq = ++seqno;
        t->on_done = on_done;
        struct rtt_stamp st = { gen, t->seq, 0, RTT_STAMP_MAGIC };
        int rc = rtt_submit(&fe, t, RTT_OP_STAMP, &st, sizeof st);
        /* AGAIN: wait for writable; DISCONNECTED: the connection is going down (this runs
           from the done callbacks that precede the disconnect callback) */
        if (rc == IDC_ERR_AGAIN || rc == IDC_ERR_DISCONNECTED)
            return;
        if (rc != 0) {
            problem("submit while connected: %s", idc_strerror(rc));
            return;
        }
        n_sub++;
    }
}

static void on_connect(struct rtt_ep *e)
{
    (void)e;
    gen++;
    n_ok_gen = 0;
    pump();
}

static void on_writable(struct rtt_ep *e)
{
    (void)e;
    pump();
}

static int on_message(struct rtt_ep *e, uint16_t op, const void *p, size_t len)
{
    (void)e;
    if (op == RTT_OP_HELLO && len == sizeof(struct rtt_hello)) {
        struct rtt_hello h;
        memcpy(&h, p, sizeof h);
        if (h.instance <= instance && instance != 0) {
            n_stale++;
            problem("HELLO from instance %u after %u", h.instance, instance);
        }
        if (hello_gen == gen) {
            n_stale++;
            problem("second HELLO in gen %llu", (unsigned long long)gen);
        }
        instance = h.instance;
        hello_gen = gen;
        return 0;
    }
    if (op == RTT_OP_SINK || op == RTT_OP_PONG)
        return 0;
    problem("unexpected message %u", op);
    return 0;
}

struct progress {
    uint64_t gen, ok;
};
static bool progressed(void *arg)
{
    struct progress *p = arg;
    return gen >= p->gen && hello_gen == gen && n_ok_gen >= p->ok;
}

RTT_TEST(restart, backend_restarted_100_times_under_load, 240)
{
    struct rtt_log log = { 0 };
    ctx = rtt_ctx(&log);
    fe.on_connect = on_connect;
    fe.on_writable = on_writable;
    fe.on_message = on_message;
    rtt_ep_create(&fe, ctx, IDC_ROLE_FRONTEND, "svc", &(struct rtt_ep_opts){ .max_txn = 16 });

    int expect_connects = 0;
    for (int i = 1; i <= RESTARTS; i++) {
        char out[16], id[16];
        snprintf(out, sizeof out, "be%d", i);
        snprintf(id, sizeof id, "%d", i);
        pid_t be = rtt_spawn("rtt_peer", out, "--serve", "svc", "--id", id, "--max-txn", "16",
                             NULL);
        /* connection 1 of this process: traffic, then the backend drops it by itself */
        expect_connects++;
        struct progress pr = { (uint64_t)expect_connects, 20 };
        cr_assert(
            rtt_until(ctx, progressed, &pr, WAIT),
            "restart %d: no progress (connects %d, gen %llu, ok %llu) %s\nlog:\n%s\npeer:\n%s", i,
            fe.n_connect, (unsigned long long)gen, (unsigned long long)n_ok_gen, first_problem,
            log.buf, rtt_file_text(out));
        cr_assert_eq(idc_send_message(&fe.ep, RTT_OP_DROP, NULL, 0), 0);
        cr_assert(rtt_wait_disconnect(&fe, expect_connects, WAIT), "restart %d: drop", i);
        /* connection 2 of this process */
        expect_connects++;
        pr.gen = (uint64_t)expect_connects;
        cr_assert(rtt_until(ctx, progressed, &pr, WAIT), "restart %d: no reconnect after drop %s",
                  i, first_problem);
        /* the process goes: kill -9 or graceful */
        int sig = i % 2 ? SIGKILL : SIGTERM;
        cr_assert(rtt_alive(be));
        int st = rtt_stop(be, sig, ctx, WAIT);
        cr_assert(st >= 0, "restart %d: peer did not exit", i);
        if (sig == SIGTERM)
            cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "restart %d: %s", i,
                      rtt_file_text(out));
        cr_assert(rtt_wait_disconnect(&fe, expect_connects, WAIT),
                  "restart %d: no disconnect after %s", i, sig == SIGKILL ? "kill -9" : "exit");
        /* the backend process saw exactly our cycles */
        cr_assert_eq(rtt_file_count(out, "connect serve"), 2, "restart %d: %s", i,
                     rtt_file_text(out));
        cr_assert_eq(rtt_file_count(out, "disconnect serve"), sig == SIGKILL ? 1 : 2,
                     "restart %d: %s", i, rtt_file_text(out));
        cr_assert_eq(rtt_file_count(out, "error"), 0, "restart %d: %s", i, rtt_file_text(out));
        cr_assert_str_empty(first_problem, "restart %d: %s", i, first_problem);
    }
    cr_assert(rtt_ep_destroy(&fe, WAIT));
    cr_assert_null(rtt_lifecycle_error(&fe), "%s", rtt_lifecycle_error(&fe));
    cr_assert_eq(fe.n_connect, expect_connects);
    cr_assert_eq(fe.n_disconnect, expect_connects);
    cr_assert_eq(fe.outstanding_at_disconnect, 0);
    cr_assert_eq(fe.outstanding, 0);
    cr_assert_eq(rtt_spurious_done, 0, "%d done calls for transactions not outstanding",
                 rtt_spurious_done);
    cr_assert_eq(n_sub, n_ok + n_disc + n_other + n_stale + n_nohello,
                 "submitted %llu, completed %llu", (unsigned long long)n_sub,
                 (unsigned long long)(n_ok + n_disc + n_other + n_stale + n_nohello));
    cr_assert_eq(n_stale, 0u, "%s", first_problem);
    cr_assert_eq(n_nohello, 0u, "%s", first_problem);
    cr_assert_eq(n_other, 0u, "%s", first_problem);
    cr_assert_gt(n_disc, 0u, "no transaction was ever cut by a restart: not under load");
    cr_log_info("restart: %llu transactions, %llu ok, %llu cut by %d disconnects",
                (unsigned long long)n_sub, (unsigned long long)n_ok, (unsigned long long)n_disc,
                expect_connects);
    idc_context_destroy(ctx);
}

/* The other direction: this process is the backend; the frontend process is restarted 50
 * times (kill -9 / graceful alternately) while it keeps its window full, 2 of it held here.
 * Each restart is exactly one connect/disconnect cycle on both sides; the held requests of a
 * dead connection complete here without harm; every frontend process saw only correct results. */
struct handled {
    struct rtt_ep *e;
    uint64_t n;
    int held;
};
static bool handled_enough(void *arg)
{
    struct handled *h = arg;
    return h->e->n_txns >= h->n && h->e->n_held >= h->held;
}

RTT_TEST(restart, frontend_restarted_50_times_under_load, 180)
{
    struct rtt_log log = { 0 };
    struct idc_context *c = rtt_ctx(&log);
    static struct rtt_ep be;
    rtt_ep_create(&be, c, IDC_ROLE_BACKEND, "svc", NULL);
    rtt_pump(c, 50);
    for (int i = 1; i <= 50; i++) {
        char out[16];
        snprintf(out, sizeof out, "fe%d", i);
        pid_t fe = rtt_spawn("rtt_peer", out, "--connect", "svc", "--mode", "load", "--load", "16",
                             "--hold", "2", NULL);
        cr_assert(rtt_wait_connect(&be, i, WAIT), "restart %d: \"%s\"\nlog:\n%s", i, be.ev,
                  log.buf);
        struct handled h = { &be, be.n_txns + 30, 2 };
        cr_assert(rtt_until(c, handled_enough, &h, WAIT), "restart %d: handled %llu, held %d", i,
                  (unsigned long long)be.n_txns, be.n_held);
        int sig = i % 2 ? SIGKILL : SIGTERM;
        int st = rtt_stop(fe, sig, c, WAIT);
        cr_assert(st >= 0, "restart %d: frontend did not exit", i);
        cr_assert(rtt_wait_disconnect(&be, i, WAIT), "restart %d: no disconnect", i);
        cr_assert_eq(be.n_held, 0);
        cr_assert_eq(rtt_file_count(out, "connect connect"), 1, "%s", rtt_file_text(out));
        if (sig == SIGTERM) {
            cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", rtt_file_text(out));
            char line[512];
            cr_assert(rtt_file_last(out, "stat ", line, sizeof line));
            cr_assert_eq(rtt_field(line, "bad"), 0, "%s", rtt_file_text(out));
            cr_assert_eq(rtt_field(line, "err"), 0, "%s", rtt_file_text(out));
            cr_assert_eq(rtt_file_count(out, "disconnect connect"), 1, "%s", rtt_file_text(out));
        }
        cr_assert_eq(rtt_file_count(out, "error"), 0, "%s", rtt_file_text(out));
    }
    cr_assert_eq(be.n_connect, 50);
    cr_assert_eq(be.n_disconnect, 50);
    cr_assert_eq(be.held_complete_rc_bad, 0);
    cr_assert(rtt_ep_destroy(&be, WAIT));
    cr_assert_null(rtt_lifecycle_error(&be), "%s", rtt_lifecycle_error(&be));
    idc_context_destroy(c);
}
