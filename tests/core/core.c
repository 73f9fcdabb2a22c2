/* core.c - runtime core: contexts, endpoint lifecycle, messages, transactions, credits,
 * negotiation, peer death, rings. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "ring.h"

/* Every test is bounded even on a loaded machine (tests with their own .timeout keep it). */
TestSuite(context, .timeout = 60);
TestSuite(endpoint, .timeout = 60);
TestSuite(process, .timeout = 60);
TestSuite(ring, .timeout = 60);

Test(context, create_dispatch_destroy)
{
    const char *dir = rt_tmpdir();
    struct idc_context *ctx = rt_ctx(dir, NULL);
    cr_assert_not_null(ctx);
    cr_assert_geq(idc_context_fd(ctx), 0);
    cr_assert_neq(idc_context_id(ctx), 0);
    cr_assert_eq(idc_context_dispatch(ctx, 0), 0);
    idc_context_destroy(ctx);
    idc_context_destroy(NULL);
    cr_assert_eq(idc_context_create(NULL, NULL), IDC_ERR_INVAL);
    rt_rmdir(dir);
}

Test(context, strerror_names_every_code)
{
    for (int e = IDC_ERR_IO; e <= IDC_ERR_AGAIN; e++)
        cr_assert(strncmp(idc_strerror(e), "IDC_ERR_", 8) == 0, "code %d: %s", e, idc_strerror(e));
    cr_assert_str_eq(idc_strerror(0), "success");
    cr_assert_str_eq(idc_strerror(5), "application error");
    cr_assert_str_eq(idc_strerror(-999), "unknown error");
}

Test(endpoint, destroy_of_zeroed_storage_is_harmless)
{
    struct idc_endpoint ep;
    memset(&ep, 0, sizeof(ep));
    idc_endpoint_destroy(&ep, NULL);
    cr_assert_eq(idc_endpoint_state(&ep), IDC_EP_UNUSED);
}

static volatile bool g_done;
static void on_destroyed(struct idc_endpoint *ep)
{
    (void)ep;
    g_done = true;
}

/* A fabric endpoint needs a registry: without one it is dead at its first dispatch, with the
   reason logged (and nothing of libfabric or ZooKeeper is opened). */
Test(endpoint, fabric_without_registry_is_dead_and_logged)
{
    const char *dir = rt_tmpdir();
    struct rt_log log = { 0 };
    unsetenv("IDC_ZOOKEEPER");
    struct idc_context *ctx = rt_ctx(dir, &log);
    struct rt_drv d = { 0 };
    rt_drv_create(&d, ctx, IDC_ROLE_FRONTEND, "fabric:rtcore", &rt_proto_v1, 0);
    idc_context_dispatch(ctx, 0);
    cr_assert_eq(idc_endpoint_state(&d.ep), IDC_EP_DEAD);
    cr_assert(strstr(log.text, "IDC_ZOOKEEPER"), "log: %s", log.text);
    cr_assert_eq(idc_send_message(&d.ep, 1, "x", 1), IDC_ERR_DISCONNECTED);
    g_done = false;
    idc_endpoint_destroy(&d.ep, on_destroyed);
    cr_assert(rt_until(ctx, &g_done, 1000));
    idc_context_destroy(ctx);
    rt_rmdir(dir);
}

Test(endpoint, bad_name_never_connects)
{
    const char *dir = rt_tmpdir();
    struct rt_log log = { 0 };
    struct idc_context *ctx = rt_ctx(dir, &log);
    struct rt_drv d = { 0 };
    rt_drv_create(&d, ctx, IDC_ROLE_BACKEND, "shm:../evil", &rt_proto_v1, 0);
    idc_context_dispatch(ctx, 0);
    cr_assert_eq(idc_endpoint_state(&d.ep), IDC_EP_DEAD);
    cr_assert_geq(log.errors, 1);
    idc_context_destroy(ctx);
    rt_rmdir(dir);
}

/* idc_address_check: well formed per transport and role, unknown and unbuilt prefixes told
   apart, a reason for each refusal; no context needed. */
Test(endpoint, address_check_tells_why)
{
    char why[160];
    cr_assert_eq(idc_address_check("shm:blk0", IDC_ROLE_FRONTEND, why, sizeof(why)), 0);
    cr_assert_eq(idc_address_check("shm:blk.0-a_b", IDC_ROLE_BACKEND, NULL, 0), 0);
    cr_assert_eq(idc_address_check("foo:kv", IDC_ROLE_FRONTEND, why, sizeof(why)), IDC_ERR_INVAL);
    cr_assert(strstr(why, "shm:"), "reason lists the built-in prefixes: %s", why);
    cr_assert_eq(idc_address_check("blk0", IDC_ROLE_FRONTEND, why, sizeof(why)), IDC_ERR_INVAL);
    cr_assert_eq(idc_address_check("fabric:blk0", IDC_ROLE_FRONTEND, why, sizeof(why)), 0);
    cr_assert_eq(
        idc_address_check("fabric:blk0?allow=node-a,b.2", IDC_ROLE_BACKEND, why, sizeof(why)), 0);
    cr_assert_eq(idc_address_check("fabric:blk0?allow=a", IDC_ROLE_FRONTEND, why, sizeof(why)),
                 IDC_ERR_INVAL);
    cr_assert(strstr(why, "allow"), "%s", why);
    cr_assert_eq(idc_address_check("fabric:blk0?allow=a,,b", IDC_ROLE_BACKEND, why, sizeof(why)),
                 IDC_ERR_INVAL);
    cr_assert_eq(idc_address_check("fabric:.hidden", IDC_ROLE_BACKEND, why, sizeof(why)),
                 IDC_ERR_INVAL);
    cr_assert_eq(idc_address_check("shm:../evil", IDC_ROLE_BACKEND, why, sizeof(why)),
                 IDC_ERR_INVAL);
    cr_assert(strstr(why, "service name"), "%s", why);
    cr_assert_eq(idc_address_check("shm:", IDC_ROLE_FRONTEND, why, sizeof(why)), IDC_ERR_INVAL);
    cr_assert_eq(idc_address_check(NULL, IDC_ROLE_FRONTEND, why, sizeof(why)), IDC_ERR_INVAL);
    cr_assert_eq(idc_address_check("shm:a", (enum idc_role)7, why, sizeof(why)), IDC_ERR_INVAL);
}

/* A bad address is known at create: DEAD before any dispatch, with the reason logged. */
Test(endpoint, bad_address_dead_at_create)
{
    const char *dir = rt_tmpdir();
    struct rt_log log = { 0 };
    struct idc_context *ctx = rt_ctx(dir, &log);
    struct rt_drv d = { 0 };
    rt_drv_create(&d, ctx, IDC_ROLE_FRONTEND, "foo:kv", &rt_proto_v1, 0);
    cr_assert_eq(idc_endpoint_state(&d.ep), IDC_EP_DEAD);
    cr_assert(strstr(log.text, "bad address"), "log: %s", log.text);
    idc_endpoint_destroy(&d.ep, NULL);
    idc_context_dispatch(ctx, 0);
    idc_context_destroy(ctx);
    rt_rmdir(dir);
}

/* Both ends in one context (one thread): connect, exchange, destroy. */
struct pair {
    const char *dir;
    struct idc_context *ctx;
    struct rt_log log;
    struct rt_drv be, fe;
};

static void pair_up(struct pair *p, const struct idc_protocol *bp, const struct idc_protocol *fp,
                    uint32_t credits)
{
    memset(p, 0, sizeof(*p));
    p->dir = rt_tmpdir();
    p->ctx = rt_ctx(p->dir, &p->log);
    cr_assert_not_null(p->ctx);
    p->be.echo = true;
    rt_drv_create(&p->be, p->ctx, IDC_ROLE_BACKEND, "shm:svc", bp, credits);
    rt_drv_create(&p->fe, p->ctx, IDC_ROLE_FRONTEND, "shm:svc", fp, credits);
}

static void pair_down(struct pair *p)
{
    g_done = false;
    idc_endpoint_destroy(&p->fe.ep, on_destroyed);
    cr_assert(rt_until(p->ctx, &g_done, 2000), "frontend destroy completes");
    g_done = false;
    idc_endpoint_destroy(&p->be.ep, on_destroyed);
    cr_assert(rt_until(p->ctx, &g_done, 2000), "backend destroy completes");
    idc_context_destroy(p->ctx);
    rt_rmdir(p->dir);
}

struct tx {
    struct idc_txn t;
    int status;
    size_t len;
    unsigned char res[64];
    bool done;
};
static unsigned g_txdone;
static void tx_done(struct idc_txn *t, int status, const void *res, size_t len)
{
    struct tx *x = (struct tx *)t;
    x->status = status;
    x->len = len;
    if (len && len <= sizeof(x->res))
        memcpy(x->res, res, len);
    x->done = true;
    g_txdone++;
}

Test(endpoint, same_thread_connect_message_transaction)
{
    struct pair p;
    pair_up(&p, &rt_proto_v12, &rt_proto_v12, 0);
    cr_assert(rt_until(p.ctx, &p.fe.connected, 2000), "frontend connects; log: %s", p.log.text);
    cr_assert(rt_until(p.ctx, &p.be.connected, 2000));
    cr_assert_eq(idc_endpoint_version(&p.fe.ep), 2);
    cr_assert_eq(idc_endpoint_version(&p.be.ep), 2);
    cr_assert_eq(idc_endpoint_state(&p.fe.ep), IDC_EP_CONNECTED);
    cr_assert_eq(p.fe.order[0], 'a');
    cr_assert_eq(p.fe.order[1], 'c');

    cr_assert_eq(idc_send_message(&p.fe.ep, 3, "hello", 5), 0);
    g_done = false;
    for (int i = 0; i < 100 && p.be.msgs == 0; i++)
        idc_context_dispatch(p.ctx, 10);
    cr_assert_eq(p.be.msgs, 1);
    cr_assert_eq(p.be.last_op, 3);
    cr_assert_eq(p.be.last_len, 5);
    cr_assert(memcmp(p.be.last, "hello", 5) == 0);

    struct tx x = { .t.done = tx_done };
    cr_assert_eq(idc_submit_transaction(&p.fe.ep, &x.t, 9, "ping", 4), 0);
    for (int i = 0; i < 100 && !x.done; i++)
        idc_context_dispatch(p.ctx, 10);
    cr_assert(x.done);
    cr_assert_eq(x.status, 0);
    cr_assert_eq(x.len, 4);
    cr_assert(memcmp(x.res, "ping", 4) == 0);

    /* application error: op 7 completes with 42 */
    struct tx y = { .t.done = tx_done };
    cr_assert_eq(idc_submit_transaction(&p.fe.ep, &y.t, 7, NULL, 0), 0);
    for (int i = 0; i < 100 && !y.done; i++)
        idc_context_dispatch(p.ctx, 10);
    cr_assert_eq(y.status, 42);
    cr_assert_eq(y.len, 0);

    cr_assert_eq(idc_send_message(&p.fe.ep, 1, "x", 4097), IDC_ERR_TOOBIG);
    cr_assert_eq(idc_send_message(&p.fe.ep, 1, NULL, 3), IDC_ERR_INVAL);
    pair_down(&p);
}

Test(endpoint, versions_settle_on_highest_common)
{
    struct pair p;
    pair_up(&p, &rt_proto_v12, &rt_proto_v1, 0);
    cr_assert(rt_until(p.ctx, &p.fe.connected, 2000));
    cr_assert_eq(idc_endpoint_version(&p.fe.ep), 1);
    pair_down(&p);
}

Test(endpoint, protocol_mismatch_refused_and_logged_on_both_sides)
{
    struct pair p;
    pair_up(&p, &rt_proto_v1, &rt_proto_other, 0);
    for (int i = 0; i < 30; i++)
        idc_context_dispatch(p.ctx, 10);
    cr_assert_not(p.fe.connected);
    cr_assert_eq(p.fe.connects + p.be.connects, 0);
    cr_assert(strstr(p.log.text, "refusing peer"), "%s", p.log.text);
    cr_assert(strstr(p.log.text, "backend refused"), "%s", p.log.text);
    cr_assert(strstr(p.log.text, "IDC_ERR_MISMATCH"), "%s", p.log.text);
    pair_down(&p);
}

Test(endpoint, hash_mismatch_refused)
{
    struct pair p;
    pair_up(&p, &rt_proto_v12, &rt_proto_badhash, 0);
    for (int i = 0; i < 30; i++)
        idc_context_dispatch(p.ctx, 10);
    cr_assert_eq(p.fe.connects + p.be.connects, 0);
    cr_assert(strstr(p.log.text, "no common version"), "%s", p.log.text);
    pair_down(&p);
}

/* Many variable-size frames through a small ring: wraps many times, credits return. */
Test(endpoint, ring_wraparound_and_credits)
{
    struct pair p;
    pair_up(&p, &rt_proto_v12, &rt_proto_v12, 4);
    cr_assert(rt_until(p.ctx, &p.fe.connected, 2000));
    unsigned char buf[4096];
    unsigned sent = 0, again = 0;
    uint64_t bytes = 0;
    while (sent < 3000) {
        size_t len = (sent * 37) % 3000;
        memset(buf, (int)(sent & 0xff), len);
        int r = idc_send_message(&p.fe.ep, (uint16_t)sent, buf, len);
        if (r == IDC_ERR_AGAIN) {
            again++;
            idc_context_dispatch(p.ctx, 10);
            continue;
        }
        cr_assert_eq(r, 0, "send: %s", idc_strerror(r));
        sent++;
        bytes += len;
    }
    for (int i = 0; i < 200 && p.be.msgs < sent; i++)
        idc_context_dispatch(p.ctx, 10);
    cr_assert_eq(p.be.msgs, sent);
    cr_assert_eq(p.be.msg_bytes, bytes);
    cr_assert_gt(again, 0, "4 credits must run out");
    cr_assert_gt(p.fe.writable, 0, "writable reported after AGAIN");
    /* transactions: credit 4, 5th is AGAIN */
    struct tx x[5];
    memset(x, 0, sizeof(x));
    for (int i = 0; i < 4; i++) {
        x[i].t.done = tx_done;
        cr_assert_eq(idc_submit_transaction(&p.fe.ep, &x[i].t, 1, "abc", 3), 0);
    }
    x[4].t.done = tx_done;
    cr_assert_eq(idc_submit_transaction(&p.fe.ep, &x[4].t, 1, "abc", 3), IDC_ERR_AGAIN);
    for (int i = 0; i < 100 && !x[3].done; i++)
        idc_context_dispatch(p.ctx, 10);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(x[i].status, 0);
    cr_assert_eq(idc_submit_transaction(&p.fe.ep, &x[4].t, 1, "abc", 3), 0);
    for (int i = 0; i < 100 && !x[4].done; i++)
        idc_context_dispatch(p.ctx, 10);
    pair_down(&p);
}

/* Outstanding transactions complete with DISCONNECTED before the disconnect callback; the
   backend acknowledges, the frontend reconnects; the new epoch differs. */
static struct rt_drv *g_fe;
static unsigned g_fail_before_disc;
static void tx_done_check(struct idc_txn *t, int status, const void *res, size_t len)
{
    tx_done(t, status, res, len);
    if (status == IDC_ERR_DISCONNECTED && g_fe->disconnects == 0)
        g_fail_before_disc++;
}

Test(endpoint, disconnect_fails_outstanding_then_reconnects)
{
    struct pair p;
    pair_up(&p, &rt_proto_v12, &rt_proto_v12, 8);
    p.be.hold_requests = true;
    g_fe = &p.fe;
    g_fail_before_disc = 0;
    cr_assert(rt_until(p.ctx, &p.fe.connected, 2000));
    struct tx x[3];
    memset(x, 0, sizeof(x));
    for (int i = 0; i < 3; i++) {
        x[i].t.done = tx_done_check;
        cr_assert_eq(idc_submit_transaction(&p.fe.ep, &x[i].t, 1, "q", 1), 0);
    }
    for (int i = 0; i < 50 && p.be.nheld < 3; i++)
        idc_context_dispatch(p.ctx, 10);
    cr_assert_eq(p.be.nheld, 3);
    /* the backend drops the connection */
    cr_assert_eq(idc_endpoint_disconnect(&p.be.ep), 0);
    for (int i = 0; i < 100 && (p.fe.connects < 2 || p.be.connects < 2); i++)
        idc_context_dispatch(p.ctx, 10);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(x[i].status, IDC_ERR_DISCONNECTED);
    cr_assert_eq(g_fail_before_disc, 3, "all outstanding failed before disconnect callback");
    cr_assert_eq(p.fe.disconnects, 1);
    cr_assert_eq(p.be.disconnects, 1);
    cr_assert_eq(p.fe.connects, 2, "frontend reconnected; log %s", p.log.text);
    cr_assert_eq(p.be.connects, 2);
    /* works again */
    struct tx y = { .t.done = tx_done };
    p.be.hold_requests = false;
    cr_assert_eq(idc_submit_transaction(&p.fe.ep, &y.t, 1, "zz", 2), 0);
    for (int i = 0; i < 100 && !y.done; i++)
        idc_context_dispatch(p.ctx, 10);
    cr_assert_eq(y.status, 0);
    pair_down(&p);
}

Test(endpoint, protocol_error_from_handler_disconnects_with_reason)
{
    struct pair p;
    pair_up(&p, &rt_proto_v12, &rt_proto_v12, 0);
    cr_assert(rt_until(p.ctx, &p.fe.connected, 2000));
    cr_assert_eq(idc_send_message(&p.fe.ep, 0xdead, "x", 1), 0);
    for (int i = 0; i < 100 && (p.fe.connects < 2 || p.be.connects < 2); i++)
        idc_context_dispatch(p.ctx, 10);
    cr_assert_eq(p.be.disconnects, 1);
    cr_assert_eq(p.fe.disconnects, 1);
    cr_assert(strstr(p.log.text, "protocol error"), "%s", p.log.text);
    cr_assert_eq(p.fe.connects, 2);
    pair_down(&p);
}

Test(endpoint, destroy_while_connected_goes_through_disconnect_and_disappear)
{
    struct pair p;
    pair_up(&p, &rt_proto_v12, &rt_proto_v12, 0);
    cr_assert(rt_until(p.ctx, &p.fe.connected, 2000));
    cr_assert(rt_until(p.ctx, &p.be.connected, 2000));
    g_done = false;
    idc_endpoint_destroy(&p.be.ep, on_destroyed);
    cr_assert(rt_until(p.ctx, &g_done, 2000));
    cr_assert_eq(p.be.disconnects, 1);
    cr_assert_eq(p.be.disappear, 1);
    /* the frontend lost it and, the socket being gone, sees disappear */
    for (int i = 0; i < 50 && p.fe.disappear == 0; i++)
        idc_context_dispatch(p.ctx, 10);
    cr_assert_eq(p.fe.disconnects, 1);
    cr_assert_eq(p.fe.disappear, 1);
    cr_assert_eq(p.fe.order[0], 'a');
    cr_assert_eq(p.fe.order[1], 'c');
    cr_assert_eq(p.fe.order[2], 'd');
    cr_assert_eq(p.fe.order[3], 'g');
    g_done = false;
    idc_endpoint_destroy(&p.fe.ep, on_destroyed);
    cr_assert(rt_until(p.ctx, &g_done, 2000));
    idc_context_destroy(p.ctx);
    rt_rmdir(p.dir);
}

/* Real processes: the backend is a forked child; kill -9 it mid-traffic. */
static void child_backend(const char *dir)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
    struct idc_context *ctx = rt_ctx(dir, NULL);
    static struct rt_drv be;
    be.echo = true;
    rt_drv_create(&be, ctx, IDC_ROLE_BACKEND, "shm:proc", &rt_proto_v12, 16);
    idc_context_run(ctx);
    _exit(0);
}

Test(process, kill9_backend_fails_outstanding_and_reconnects, .timeout = 30)
{
    const char *dir = rt_tmpdir();
    pid_t pid = fork();
    if (pid == 0)
        child_backend(dir);
    struct rt_log log = { 0 };
    struct idc_context *ctx = rt_ctx(dir, &log);
    struct rt_drv fe = { 0 };
    rt_drv_create(&fe, ctx, IDC_ROLE_FRONTEND, "shm:proc", &rt_proto_v12, 16);
    cr_assert(rt_until(ctx, &fe.connected, 5000), "connect; %s", log.text);
    /* traffic */
    struct tx x[16];
    unsigned ok = 0;
    for (int round = 0; round < 200; round++) {
        memset(x, 0, sizeof(x));
        g_txdone = 0;
        for (int i = 0; i < 16; i++) {
            x[i].t.done = tx_done;
            cr_assert_eq(idc_submit_transaction(&fe.ep, &x[i].t, 1, &round, sizeof(round)), 0);
        }
        while (g_txdone < 16)
            idc_context_dispatch(ctx, 100);
        for (int i = 0; i < 16; i++)
            ok += x[i].status == 0 && x[i].len == sizeof(round) && !memcmp(x[i].res, &round, 4);
    }
    cr_assert_eq(ok, 200 * 16);
    /* now kill it with transactions outstanding */
    memset(x, 0, sizeof(x));
    g_txdone = 0;
    for (int i = 0; i < 16; i++) {
        x[i].t.done = tx_done;
        idc_submit_transaction(&fe.ep, &x[i].t, 1, "k", 1);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    for (int i = 0; i < 300 && fe.disconnects == 0; i++)
        idc_context_dispatch(ctx, 10);
    cr_assert_eq(fe.disconnects, 1, "peer death noticed");
    cr_assert_eq(g_txdone, 16, "every outstanding transaction completed");
    /* restart it: the frontend reconnects */
    pid = fork();
    if (pid == 0)
        child_backend(dir);
    for (int i = 0; i < 500 && fe.connects < 2; i++)
        idc_context_dispatch(ctx, 10);
    cr_assert_eq(fe.connects, 2, "reconnected; %s", log.text);
    struct tx y = { .t.done = tx_done };
    cr_assert_eq(idc_submit_transaction(&fe.ep, &y.t, 1, "ok", 2), 0);
    for (int i = 0; i < 300 && !y.done; i++)
        idc_context_dispatch(ctx, 10);
    cr_assert_eq(y.status, 0);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    idc_endpoint_destroy(&fe.ep, NULL);
    idc_context_dispatch(ctx, 100);
    idc_context_destroy(ctx);
    rt_rmdir(dir);
}

/* An 8-byte message, and its payload in a buffer as long as the widest small copy of the
   inlined push reads: the compiler checks every branch of it against the buffer's size. */
static const struct idc_frame_hdr msg8 = { .kind = IDC_FRAME_MESSAGE, .length = 8, .epoch = 1 };
static const char eight[IDC_RING_SMALL_COPY] = "12345678";

/* The consumer takes every frame published and publishes its indexes. */
static void drain(struct idc_ring_rx *rx)
{
    unsigned char out[256];
    struct idc_frame_hdr g;
    idc_ring_rx_poll(rx);
    while (idc_ring_rx_pop(rx, &g, out) == 0) {
    }
    idc_ring_rx_publish(rx);
}

/* One 4096-byte ring in fresh shared memory, both of its ends attached. */
static void *ring_pair(struct idc_ring_tx *tx, struct idc_ring_rx *rx, uint32_t msg_limit,
                       uint32_t max_frame)
{
    void *mem = mmap(NULL, idc_ring_bytes(4096), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                     -1, 0);
    cr_assert_neq(mem, MAP_FAILED);
    idc_ring_init_shared(mem);
    idc_ring_tx_attach(tx, mem, 4096, msg_limit);
    idc_ring_rx_attach(rx, mem, 4096, max_frame);
    return mem;
}

/* Ring layer directly: wraparound with odd sizes, and hostile indexes. */
Test(ring, wraparound_copy_out_and_hostile_indexes)
{
    size_t sz = 4096;
    struct idc_ring_tx tx;
    struct idc_ring_rx rx;
    void *mem = ring_pair(&tx, &rx, 1000000, 1000);
    unsigned char in[1000], out[1000];
    for (int i = 0; i < 5000; i++) {
        uint32_t len = (uint32_t)(i * 13) % 1000;
        memset(in, i & 0xff, len);
        struct idc_frame_hdr h = {
            .kind = IDC_FRAME_MESSAGE, .opcode = (uint16_t)i, .length = len, .epoch = 5
        };
        cr_assert_eq(idc_ring_push(&tx, &h, in), 0);
        cr_assert_gt(idc_ring_rx_poll(&rx), 0);
        struct idc_frame_hdr g;
        cr_assert_eq(idc_ring_rx_pop(&rx, &g, out), 0);
        cr_assert_eq(g.length, len);
        cr_assert_eq(g.opcode, (uint16_t)i);
        cr_assert(memcmp(in, out, len) == 0);
        idc_ring_rx_publish(&rx);
    }
    /* prod beyond the window */
    struct idc_ring_ctrl *c = mem;
    c->prod = rx.cons + (uint32_t)sz + 8;
    cr_assert_eq(idc_ring_rx_poll(&rx), IDC_ERR_PROTO);
    /* unaligned */
    c->prod = rx.cons + 4;
    cr_assert_eq(idc_ring_rx_poll(&rx), IDC_ERR_PROTO);
    /* a frame claiming more than max_frame */
    c->prod = tx.prod;
    struct idc_frame_hdr big = { .kind = IDC_FRAME_MESSAGE, .length = 900, .epoch = 5 };
    cr_assert_eq(idc_ring_push(&tx, &big, in), 0);
    struct idc_frame_hdr *shared = (void *)((unsigned char *)mem + IDC_RING_CTRL_SIZE +
                                            (rx.cons & (sz - 1)));
    if ((rx.cons & (sz - 1)) + sizeof(*shared) <= sz) {
        shared->length = 5000;
        cr_assert_gt(idc_ring_rx_poll(&rx), 0);
        struct idc_frame_hdr g;
        cr_assert_eq(idc_ring_rx_pop(&rx, &g, out), IDC_ERR_PROTO);
    }
    /* consumer index moved backwards: producer notices */
    c->cons = tx.prod + 64;
    cr_assert_eq(idc_ring_tx_check(&tx), IDC_ERR_PROTO);
    munmap(mem, idc_ring_bytes(sz));
}

Test(ring, event_suppression_notifies_only_when_asked)
{
    struct idc_ring_tx tx;
    struct idc_ring_rx rx;
    void *mem = ring_pair(&tx, &rx, 64, 256);
    /* consumer asleep (armed at attach): first batch of 3 frames -> exactly one notify */
    for (int i = 0; i < 3; i++)
        idc_ring_push(&tx, &msg8, eight);
    cr_assert(idc_ring_tx_need_notify(&tx));
    idc_ring_push(&tx, &msg8, eight);
    cr_assert_not(idc_ring_tx_need_notify(&tx), "consumer did not re-arm: no notify");
    drain(&rx);
    cr_assert_not(idc_ring_rx_arm(&rx, 0), "empty: may sleep");
    idc_ring_push(&tx, &msg8, eight);
    cr_assert(idc_ring_tx_need_notify(&tx), "armed consumer gets notified");
    munmap(mem, idc_ring_bytes(4096));
}

static uint32_t cpu_three(void)
{
    return 3;
}

/* The early decision of a long dispatch round (ring.h): only for a consumer armed for the
   frames, not asleep on our CPU, and at most once per IDC_RING_EARLY_BYTES sent. */
Test(ring, early_decision_only_for_a_consumer_asleep_elsewhere)
{
    struct idc_ring_tx tx;
    struct idc_ring_rx rx;
    void *mem = ring_pair(&tx, &rx, 256, 256);
    uint32_t per = IDC_RING_EARLY_BYTES / idc_frame_size(8), i;
    /* armed at attach (no CPU said): nothing before IDC_RING_EARLY_BYTES, then a decision */
    for (i = 0; i + 1 < per; i++)
        idc_ring_push(&tx, &msg8, eight);
    cr_assert_not(idc_ring_tx_decide_early(&tx, cpu_three), "fewer bytes than the threshold");
    idc_ring_push(&tx, &msg8, eight);
    cr_assert(idc_ring_tx_decide_early(&tx, cpu_three), "armed, CPU not said");
    cr_assert(idc_ring_tx_need_notify(&tx));
    /* the consumer takes them and arms on CPU 3 (ours): no early decision */
    drain(&rx);
    cr_assert_not(idc_ring_rx_arm(&rx, 3));
    for (i = 0; i < per; i++)
        idc_ring_push(&tx, &msg8, eight);
    cr_assert_not(idc_ring_tx_decide_early(&tx, cpu_three), "asleep on our CPU");
    cr_assert(idc_ring_tx_decide_early(&tx, NULL) == false, "looked already: once per threshold");
    for (i = 0; i < per; i++)
        idc_ring_push(&tx, &msg8, eight);
    cr_assert(idc_ring_tx_decide_early(&tx, NULL), "a peer that shares no CPUs: armed is enough");
    cr_assert(idc_ring_tx_need_notify(&tx), "the decision itself still asks the consumer");
    /* a running (disarmed) consumer: never */
    idc_ring_rx_disarm(&rx);
    for (i = 0; i < per; i++)
        idc_ring_push(&tx, &msg8, eight);
    cr_assert_not(idc_ring_tx_decide_early(&tx, NULL), "disarmed");
    munmap(mem, idc_ring_bytes(4096));
}

/* Publication (ring.h): a written frame is invisible until idc_ring_tx_publish, a notify
   decision or an early look after IDC_RING_EARLY_BYTES publishes it; idc_ring_push does both. */
Test(ring, written_frames_wait_for_their_publication)
{
    struct idc_ring_tx tx;
    struct idc_ring_rx rx;
    void *mem = ring_pair(&tx, &rx, 256, 256);
    uint32_t per = IDC_RING_EARLY_BYTES / idc_frame_size(8), i;
    cr_assert_eq(idc_ring_write(&tx, &msg8, eight), 0);
    cr_assert_eq(idc_ring_rx_poll(&rx), 0, "written, not published");
    idc_ring_tx_publish(&tx);
    cr_assert_eq(idc_ring_rx_poll(&rx), idc_frame_size(8), "published");
    idc_ring_write(&tx, &msg8, eight);
    cr_assert(idc_ring_tx_need_notify(&tx), "armed at attach");
    cr_assert_eq(idc_ring_rx_poll(&rx), 2 * idc_frame_size(8), "the decision published first");
    drain(&rx);
    idc_ring_rx_disarm(&rx);
    for (i = 0; i + 1 < per; i++)
        idc_ring_write(&tx, &msg8, eight);
    cr_assert_not(idc_ring_tx_decide_early(&tx, NULL));
    cr_assert_eq(idc_ring_rx_poll(&rx), 0, "under the threshold: still unpublished");
    idc_ring_write(&tx, &msg8, eight);
    cr_assert_not(idc_ring_tx_decide_early(&tx, NULL), "a running consumer: no decision...");
    cr_assert_eq(idc_ring_rx_poll(&rx), per * idc_frame_size(8), "... but the frames go out");
    cr_assert_eq(idc_ring_push(&tx, &msg8, eight), 0);
    cr_assert_eq(idc_ring_rx_poll(&rx), (per + 1) * idc_frame_size(8), "push publishes");
    munmap(mem, idc_ring_bytes(4096));
}

/* The context fd works in a foreign poll loop: dispatch(0) only when it is readable. */
#include <poll.h>
Test(context, fd_in_foreign_poll_loop)
{
    struct pair p;
    pair_up(&p, &rt_proto_v12, &rt_proto_v12, 0);
    struct pollfd pfd = { .fd = idc_context_fd(p.ctx), .events = POLLIN };
    struct tx x = { .t.done = tx_done };
    bool submitted = false;
    for (int i = 0; i < 2000 && !x.done; i++) {
        if (poll(&pfd, 1, 1000) <= 0)
            break;
        idc_context_dispatch(p.ctx, 0);
        if (p.fe.connected && p.be.connected && !submitted) {
            cr_assert_eq(idc_submit_transaction(&p.fe.ep, &x.t, 1, "fd", 2), 0);
            submitted = true;
        }
    }
    cr_assert(x.done, "transaction completed driven by poll() on the context fd");
    cr_assert_eq(x.status, 0);
    pair_down(&p);
}

/* spin_us: the spinning side still completes everything, and blocks after spinning. */
static void child_spin_backend(const char *dir)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    struct idc_context *ctx = rt_ctx(dir, NULL);
    static struct rt_drv be;
    be.echo = true;
    struct idc_endpoint_config cfg = { .protocol = &rt_proto_v12,
                                       .role = IDC_ROLE_BACKEND,
                                       .address = "shm:spin",
                                       .ops = &rt_ops,
                                       .user = &be,
                                       .spin_us = 20 };
    idc_endpoint_create(&be.ep, ctx, &cfg);
    idc_context_run(ctx);
    _exit(0);
}

Test(process, spin_then_block, .timeout = 60)
{
    const char *dir = rt_tmpdir();
    pid_t pid = fork();
    if (pid == 0)
        child_spin_backend(dir);
    struct idc_context *ctx = rt_ctx(dir, NULL);
    struct rt_drv fe = { 0 };
    struct idc_endpoint_config cfg = { .protocol = &rt_proto_v12,
                                       .role = IDC_ROLE_FRONTEND,
                                       .address = "shm:spin",
                                       .ops = &rt_ops,
                                       .user = &fe,
                                       .spin_us = 20 };
    idc_endpoint_create(&fe.ep, ctx, &cfg);
    cr_assert(rt_until(ctx, &fe.connected, 5000));
    unsigned ok = 0;
    for (int i = 0; i < 100; i++) {
        struct tx x = { .t.done = tx_done };
        cr_assert_eq(idc_submit_transaction(&fe.ep, &x.t, 1, &i, sizeof(i)), 0);
        while (!x.done)
            idc_context_dispatch(ctx, -1);
        ok += x.status == 0 && !memcmp(x.res, &i, sizeof(i));
        if (i % 25 == 0)
            usleep(2000); /* let the peer's spin expire: it must block and be woken */
    }
    cr_assert_eq(ok, 100);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    idc_context_destroy(ctx);
    rt_rmdir(dir);
}

/* SO_PEERCRED policy: a frontend running as another, unprivileged uid is refused. */
#include <sys/stat.h>
Test(process, peer_of_other_uid_refused, .timeout = 30)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to run a peer under another uid");
    const char *dir = rt_tmpdir();
    chmod(dir, 0777);
    struct rt_log log = { 0 };
    struct idc_context *ctx = rt_ctx(dir, &log);
    struct rt_drv be = { 0 };
    rt_drv_create(&be, ctx, IDC_ROLE_BACKEND, "shm:cred", &rt_proto_v1, 0);
    for (int i = 0; i < 10; i++)
        idc_context_dispatch(ctx, 5);
    char path[128];
    snprintf(path, sizeof(path), "%s/cred.sock", dir);
    chmod(path, 0777);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (setgid(65534) || setuid(65534))
            _exit(3);
        struct idc_context *c = rt_ctx(dir, NULL);
        static struct rt_drv fe;
        rt_drv_create(&fe, c, IDC_ROLE_FRONTEND, "shm:cred", &rt_proto_v1, 0);
        for (int i = 0; i < 100; i++)
            idc_context_dispatch(c, 10);
        _exit(fe.connects ? 1 : 0);
    }
    int st = 0;
    for (int i = 0; i < 300; i++) {
        idc_context_dispatch(ctx, 10);
        if (waitpid(pid, &st, WNOHANG) == pid)
            break;
    }
    cr_assert(WIFEXITED(st));
    cr_assert_eq(WEXITSTATUS(st), 0, "the other uid never connected");
    cr_assert_eq(be.connects, 0);
    cr_assert(strstr(log.text, "refused by policy"), "%s", log.text);
    idc_context_destroy(ctx);
    rt_rmdir(dir);
}

#include <fcntl.h>
Test(endpoint, destroy_before_first_dispatch)
{
    const char *dir = rt_tmpdir();
    int fd0_ok = fcntl(0, F_GETFD) != -1;
    struct idc_context *ctx = rt_ctx(dir, NULL);
    struct rt_drv a = { 0 }, b = { 0 };
    rt_drv_create(&a, ctx, IDC_ROLE_BACKEND, "shm:early", &rt_proto_v1, 0);
    rt_drv_create(&b, ctx, IDC_ROLE_FRONTEND, "shm:early", &rt_proto_v1, 0);
    g_done = false;
    idc_endpoint_destroy(&a.ep, NULL);
    idc_endpoint_destroy(&b.ep, on_destroyed);
    cr_assert(rt_until(ctx, &g_done, 1000));
    cr_assert_eq(a.appear + a.connects + b.appear + b.connects, 0, "no callbacks at all");
    cr_assert_eq(idc_endpoint_state(&a.ep), IDC_EP_UNUSED);
    if (fd0_ok)
        cr_assert_neq(fcntl(0, F_GETFD), -1, "no stray close of fd 0");
    idc_context_destroy(ctx);
    rt_rmdir(dir);
}

/* A peer that connects and stays silent cannot hold the backend's single slot forever. */
#include <sys/socket.h>
#include <sys/un.h>
/* A service is exclusive: a second frontend is refused at once with IDC_ERR_BUSY and a logged
   reason, never connects while the first one is there, and gets the service after it left. */
Test(endpoint, second_frontend_refused_busy_at_once, .timeout = 30)
{
    struct pair p;
    pair_up(&p, &rt_proto_v1, &rt_proto_v1, 0);
    cr_assert(rt_until(p.ctx, &p.fe.connected, 5000));
    static struct rt_drv second;
    memset(&second, 0, sizeof(second));
    rt_drv_create(&second, p.ctx, IDC_ROLE_FRONTEND, "shm:svc", &rt_proto_v1, 0);
    for (int i = 0; i < 50 && !strstr(p.log.text, "in use by another frontend"); i++)
        idc_context_dispatch(p.ctx, 10);
    cr_assert(strstr(p.log.text, "in use by another frontend"), "%s", p.log.text);
    cr_assert(strstr(p.log.text, "IDC_ERR_BUSY"), "%s", p.log.text);
    for (int i = 0; i < 100; i++)
        idc_context_dispatch(p.ctx, 10);
    cr_assert_eq(second.connects, 0, "the second frontend connected while the first was there");
    cr_assert_eq(p.be.connects, 1);
    /* the first leaves: the second one (retrying quietly) gets the service */
    g_done = false;
    idc_endpoint_destroy(&p.fe.ep, on_destroyed);
    cr_assert(rt_until(p.ctx, &g_done, 2000));
    cr_assert(rt_until(p.ctx, &second.connected, 5000), "%s", p.log.text);
    g_done = false;
    idc_endpoint_destroy(&second.ep, on_destroyed);
    cr_assert(rt_until(p.ctx, &g_done, 2000));
    g_done = false;
    idc_endpoint_destroy(&p.be.ep, on_destroyed);
    cr_assert(rt_until(p.ctx, &g_done, 2000));
    idc_context_destroy(p.ctx);
    rt_rmdir(p.dir);
}

/* IDC_EP_SHARED: three backend endpoints of one context serve three frontends at once; a
   fourth frontend is refused as busy; a non-shared second backend endpoint waits. */
Test(endpoint, shared_service_serves_several_frontends, .timeout = 30)
{
    const char *dir = rt_tmpdir();
    struct rt_log log = { 0 };
    struct idc_context *ctx = rt_ctx(dir, &log);
    static struct rt_drv be[3], fe[4];
    memset(be, 0, sizeof(be));
    memset(fe, 0, sizeof(fe));
    for (int i = 0; i < 3; i++) {
        be[i].echo = true;
        rt_drv_create_flags(&be[i], ctx, IDC_ROLE_BACKEND, "shm:svc", &rt_proto_v1, 0,
                            IDC_EP_SHARED);
    }
    for (int i = 0; i < 3; i++)
        rt_drv_create(&fe[i], ctx, IDC_ROLE_FRONTEND, "shm:svc", &rt_proto_v1, 0);
    for (int k = 0; k < 300 && !(fe[0].connected && fe[1].connected && fe[2].connected); k++)
        idc_context_dispatch(ctx, 10);
    for (int i = 0; i < 3; i++)
        cr_assert(fe[i].connected, "frontend %d not served:\n%s", i, log.text);
    rt_drv_create(&fe[3], ctx, IDC_ROLE_FRONTEND, "shm:svc", &rt_proto_v1, 0);
    for (int k = 0; k < 50 && idc_endpoint_last_error(&fe[3].ep, NULL, 0) == 0; k++)
        idc_context_dispatch(ctx, 10);
    cr_assert_eq(idc_endpoint_last_error(&fe[3].ep, NULL, 0), IDC_ERR_BUSY, "%s", log.text);
    cr_assert_eq(fe[3].connects, 0);
    static struct rt_drv excl;
    memset(&excl, 0, sizeof(excl));
    rt_drv_create(&excl, ctx, IDC_ROLE_BACKEND, "shm:svc", &rt_proto_v1, 0);
    for (int k = 0; k < 20; k++)
        idc_context_dispatch(ctx, 5);
    cr_assert(strstr(log.text, "already served by another endpoint"), "%s", log.text);
    idc_context_destroy(ctx);
    rt_rmdir(dir);
}

/* A backend in a child process, serving shm:svc until killed. */
static pid_t spawn_backend(const char *dir)
{
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        struct idc_context *c = rt_ctx(dir, NULL);
        static struct rt_drv b;
        b.echo = true;
        rt_drv_create(&b, c, IDC_ROLE_BACKEND, "shm:svc", &rt_proto_v1, 0);
        for (;;)
            idc_context_dispatch(c, 100);
    }
    return pid;
}

/* After a backend restart the frontend process that had the service gets it back before a
   newcomer that was already waiting (the restarted backend reserves it for that process). */
Test(endpoint, restart_gives_the_service_back_to_its_frontend, .timeout = 60)
{
    const char *dir = rt_tmpdir();
    struct rt_log log = { 0 };
    struct idc_context *ctx = rt_ctx(dir, &log);
    static struct rt_drv fe;
    memset(&fe, 0, sizeof(fe));
    pid_t b1 = spawn_backend(dir);
    rt_drv_create(&fe, ctx, IDC_ROLE_FRONTEND, "shm:svc", &rt_proto_v1, 0);
    cr_assert(rt_until(ctx, &fe.connected, 5000), "%s", log.text);
    char owner[256];
    snprintf(owner, sizeof(owner), "%s/.svc.owner", dir);
    for (int k = 0; k < 50 && access(owner, F_OK) != 0; k++)
        idc_context_dispatch(ctx, 10);
    cr_assert_eq(access(owner, F_OK), 0, "the backend did not record its frontend");
    kill(b1, SIGKILL);
    waitpid(b1, NULL, 0);
    for (int k = 0; k < 100 && fe.connected; k++)
        idc_context_dispatch(ctx, 10);
    cr_assert(!fe.connected);
    pid_t newcomer = fork();
    if (newcomer == 0) { /* waits for the service, exits 1 if it ever got it within 4 s */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        struct idc_context *c = rt_ctx(dir, NULL);
        static struct rt_drv f;
        rt_drv_create(&f, c, IDC_ROLE_FRONTEND, "shm:svc", &rt_proto_v1, 0);
        for (int k = 0; k < 400; k++)
            idc_context_dispatch(c, 10);
        _exit(f.connects ? 1 : 0);
    }
    for (int k = 0; k < 30; k++) /* the newcomer is waiting before the restart */
        idc_context_dispatch(ctx, 10);
    pid_t b2 = spawn_backend(dir);
    cr_assert(rt_until(ctx, &fe.connected, 5000), "the old frontend did not get it back:\n%s",
              log.text);
    int st = 0;
    while (waitpid(newcomer, &st, WNOHANG) == 0)
        idc_context_dispatch(ctx, 10);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the newcomer took the service (status %#x)",
              st);
    cr_assert(fe.connected, "the old frontend lost the service");
    kill(b2, SIGKILL);
    waitpid(b2, NULL, 0);
    idc_context_destroy(ctx);
    rt_rmdir(dir);
}

static uint64_t now_ms(void)
{
    return rt_now_ns() / 1000000u;
}

Test(endpoint, silent_peer_times_out_in_handshake, .timeout = 30)
{
    struct pair p;
    memset(&p, 0, sizeof(p));
    p.dir = rt_tmpdir();
    p.ctx = rt_ctx(p.dir, &p.log);
    p.be.echo = true;
    rt_drv_create(&p.be, p.ctx, IDC_ROLE_BACKEND, "shm:svc", &rt_proto_v1, 0);
    for (int i = 0; i < 5; i++)
        idc_context_dispatch(p.ctx, 5);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/svc.sock", p.dir);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    for (int i = 0; i < 5; i++)
        idc_context_dispatch(p.ctx, 5);
    /* The silent peer waits in the backend's lobby: an honest frontend connects at once. */
    uint64_t t0 = now_ms();
    rt_drv_create(&p.fe, p.ctx, IDC_ROLE_FRONTEND, "shm:svc", &rt_proto_v1, 0);
    cr_assert(rt_until(p.ctx, &p.fe.connected, 15000), "honest frontend never connected");
    cr_assert_lt(now_ms() - t0, 900u, "the honest frontend waited for the silent one");
    /* ... and the silent one is refused and closed after its HELLO deadline (1 s). */
    for (int i = 0; i < 300 && !strstr(p.log.text, "no HELLO in time"); i++)
        idc_context_dispatch(p.ctx, 10);
    cr_assert(strstr(p.log.text, "no HELLO in time"), "%s", p.log.text);
    char b[256];
    while (recv(fd, b, sizeof(b), 0) > 0) {
    }
    cr_assert_eq(recv(fd, b, 1, 0), 0, "the silent peer was closed");
    close(fd);
    pair_down(&p);
}

/* The connect deadline: a frontend that nothing answers hears IDC_ERR_TIMEOUT once, close to
   its deadline, and keeps trying (it connects when the service comes); a frontend refused by
   an exclusive service in use hears IDC_ERR_BUSY; a connected one hears nothing. */
Test(endpoint, connect_deadline_tells_the_driver, .timeout = 30)
{
    const char *dir = rt_tmpdir();
    struct rt_log log = { 0 };
    struct idc_context *ctx = rt_ctx(dir, &log);
    static struct rt_drv lone, be, fe, late;
    memset(&lone, 0, sizeof(lone));
    memset(&be, 0, sizeof(be));
    memset(&fe, 0, sizeof(fe));
    memset(&late, 0, sizeof(late));
    lone.connect_timeout_ms = 300;
    uint64_t t0 = rt_now_ns();
    rt_drv_create(&lone, ctx, IDC_ROLE_FRONTEND, "shm:nobody", &rt_proto_v1, 0);
    for (int k = 0; k < 200 && !lone.unanswered; k++)
        idc_context_dispatch(ctx, 10);
    cr_assert_eq(lone.unanswered, 1, "%s", log.text);
    cr_assert_eq(lone.unanswered_err, IDC_ERR_TIMEOUT);
    uint64_t after_ms = (lone.unanswered_ns - t0) / 1000000u;
    cr_assert(after_ms >= 300 && after_ms < 1000, "called after %llu ms",
              (unsigned long long)after_ms);
    cr_assert(strstr(log.text, "not connected after 300 ms: no service answered"), "%s", log.text);
    cr_assert_eq(idc_endpoint_last_error(&lone.ep, NULL, 0), IDC_ERR_TIMEOUT);

    /* an exclusive service: fe (with a deadline) connects and is never told anything; late
       is refused as busy and told so at its deadline */
    be.echo = true;
    rt_drv_create(&be, ctx, IDC_ROLE_BACKEND, "shm:svc", &rt_proto_v1, 0);
    fe.connect_timeout_ms = 300;
    rt_drv_create(&fe, ctx, IDC_ROLE_FRONTEND, "shm:svc", &rt_proto_v1, 0);
    cr_assert(rt_until(ctx, &fe.connected, 3000), "%s", log.text);
    late.connect_timeout_ms = 300;
    rt_drv_create(&late, ctx, IDC_ROLE_FRONTEND, "shm:svc", &rt_proto_v1, 0);
    for (int k = 0; k < 200 && !late.unanswered; k++)
        idc_context_dispatch(ctx, 10);
    cr_assert_eq(late.unanswered, 1, "%s", log.text);
    cr_assert_eq(late.unanswered_err, IDC_ERR_BUSY);
    cr_assert_eq(fe.unanswered, 0);

    /* the lone frontend still waits: a service appearing now is found, with no second call */
    static struct rt_drv nb;
    memset(&nb, 0, sizeof(nb));
    nb.echo = true;
    rt_drv_create(&nb, ctx, IDC_ROLE_BACKEND, "shm:nobody", &rt_proto_v1, 0);
    cr_assert(rt_until(ctx, &lone.connected, 3000), "%s", log.text);
    for (int k = 0; k < 50; k++)
        idc_context_dispatch(ctx, 10);
    cr_assert_eq(lone.unanswered, 1);
    idc_context_destroy(ctx);
    rt_rmdir(dir);
}

/* A host name that is no node identity ("(none)" in a bare initramfs) fails fabric endpoints
   with the reason, never the context: shm and xen do not need it. */
Test(endpoint, bad_node_identity_fails_only_fabric, .timeout = 30)
{
    const char *dir = rt_tmpdir();
    struct rt_log log = { 0 };
    setenv("IDC_NODE", "(none)", 1);
    struct idc_context *ctx = rt_ctx(dir, &log);
    unsetenv("IDC_NODE");
    cr_assert(ctx, "the context was refused");
    static struct rt_drv fab, be, fe;
    memset(&fab, 0, sizeof(fab));
    memset(&be, 0, sizeof(be));
    memset(&fe, 0, sizeof(fe));
    rt_drv_create(&fab, ctx, IDC_ROLE_FRONTEND, "fabric:svc", &rt_proto_v1, 0);
    be.echo = true;
    rt_drv_create(&be, ctx, IDC_ROLE_BACKEND, "shm:svc", &rt_proto_v1, 0);
    rt_drv_create(&fe, ctx, IDC_ROLE_FRONTEND, "shm:svc", &rt_proto_v1, 0);
    cr_assert(rt_until(ctx, &fe.connected, 3000), "%s", log.text);
    cr_assert_eq(idc_endpoint_state(&fab.ep), IDC_EP_DEAD, "%s", log.text);
    cr_assert(strstr(log.text, "node identity '(none)'"), "%s", log.text);
    idc_context_destroy(ctx);
    rt_rmdir(dir);
}
