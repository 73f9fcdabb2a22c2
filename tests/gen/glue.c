/*
 * glue.c - the generated endpoint glue over a real connection (shm transport, frontend and
 * backend of idl/everything.idl in one context): typed transactions, replies, application
 * errors and messages both ways; then hostile frames sent underneath the typed API with
 * idc_send_message / idc_request_complete, which the generated receive path must refuse with a
 * precise protocol error (the handler never runs) before the runtime drops the connection.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "everything.h"

static char dir[64];
static struct idc_context *ctx;
static char logbuf[1 << 16];
static size_t loglen;

static struct everything_frontend fe;
static struct everything_backend be;
static int fe_connects, be_connects, fe_disconnects, be_disconnects;

/* what the handlers saw */
static int n_scalars, n_ping, n_changed, n_put;
static struct everything_scalars_msg_args got_scalars;
static struct everything_changed_args got_changed;
static int done_status;
static int n_done;
static struct everything_get_result got_result;
static bool raw_reply; /* on_get completes with a raw undeclared status */

static void log_cb(void *arg, int level, const char *msg)
{
    (void)arg;
    (void)level;
    int n = snprintf(logbuf + loglen, sizeof logbuf - loglen, "%s\n", msg);
    if (n > 0 && (size_t)n < sizeof logbuf - loglen)
        loglen += (size_t)n;
}

static bool log_has(const char *s)
{
    return strstr(logbuf, s) != NULL;
}

static void fe_connect(struct everything_frontend *f)
{
    (void)f;
    fe_connects++;
}

static void fe_disconnect(struct everything_frontend *f)
{
    fe_disconnects++;
    everything_frontend_disconnect_done(f);
}

static void be_connect(struct everything_backend *b)
{
    (void)b;
    be_connects++;
}

static void be_disconnect(struct everything_backend *b)
{
    be_disconnects++;
    everything_backend_disconnect_done(b);
}

static void on_scalars(struct everything_backend *b, const struct everything_scalars_msg_args *a)
{
    (void)b;
    got_scalars = *a;
    n_scalars++;
}

static void on_ping(struct everything_backend *b)
{
    (void)b;
    n_ping++;
}

static void on_put(struct everything_backend *b, const struct everything_put_args *a)
{
    (void)b;
    (void)a;
    n_put++;
}

static void on_sync(struct everything_backend *b, struct idc_request *req)
{
    (void)b;
    cr_assert_eq(everything_sync_reply(req), 0);
}

static void on_get(struct everything_backend *b, struct idc_request *req,
                   const struct everything_get_args *a)
{
    (void)b;
    if (raw_reply) {
        idc_request_complete(req, 77, NULL, 0); /* not a value of enum error */
        return;
    }
    if (a->id == 0) {
        cr_assert_eq(everything_get_fail(req, EVERYTHING_ERROR_NOT_FOUND), 0);
        return;
    }
    struct everything_get_result r;
    memset(&r, 0, sizeof r);
    r.r.id = a->id;
    r.r.temp = EVERYTHING_TEMPERATURE_SCORCHING;
    r.r.v.tag = EVERYTHING_KIND_TEXT;
    strcpy(r.r.v.u.text, "hello");
    r.found = true;
    cr_assert_eq(everything_get_reply(req, &r), 0);
}

static void on_resize(struct everything_backend *b, struct idc_request *req,
                      const struct everything_resize_args *a)
{
    (void)b;
    struct everything_resize_result r;
    memset(&r, 0, sizeof r);
    r.actual = a->size;
    r.depth = a->depth;
    cr_assert_eq(everything_resize_reply(req, &r), 0);
}

static void on_changed(struct everything_frontend *f, const struct everything_changed_args *a)
{
    (void)f;
    got_changed = *a;
    n_changed++;
}

static void on_query(struct everything_frontend *f, struct idc_request *req,
                     const struct everything_query_args *a)
{
    (void)f;
    (void)a;
    cr_assert_eq(everything_query_fail(req, EVERYTHING_ERROR_LIMIT), 0);
}

static const struct everything_frontend_ops fe_ops = {
    .connect = fe_connect,
    .disconnect = fe_disconnect,
    .on_changed = on_changed,
    .on_query = on_query,
};

static const struct everything_backend_ops be_ops = {
    .connect = be_connect,
    .disconnect = be_disconnect,
    .on_ping = on_ping,
    .on_scalars_msg = on_scalars,
    .on_put = on_put,
    .on_sync = on_sync,
    .on_get = on_get,
    .on_resize = on_resize,
};

static bool pump_until(bool (*pred)(void), int ms)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (pred())
            return true;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long el = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (el >= ms)
            return pred();
        idc_context_dispatch(ctx, 20);
    }
}

static bool both_connected(void)
{
    return fe_connects > 0 && be_connects > 0 && everything_frontend_version(&fe) != 0 &&
           everything_backend_version(&be) != 0;
}

static bool dropped(void)
{
    return fe_disconnects > 0 && be_disconnects > 0;
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/idcg-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    struct idc_context_options opt = {
        .shm_dir = dir, .log = log_cb, .log_arg = NULL, .stats_dir = "off"
    };
    cr_assert_eq(idc_context_create(&ctx, &opt), 0);
    everything_backend_create(&be, ctx, "shm:ev", &be_ops, NULL);
    everything_frontend_create(&fe, ctx, "shm:ev", &fe_ops, NULL);
    cr_assert(pump_until(both_connected, 5000), "endpoints did not connect; log:\n%s", logbuf);
}

static void teardown(void)
{
    idc_context_destroy(ctx);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

TestSuite(glue, .init = setup, .fini = teardown, .timeout = 30);

static void get_done(struct everything_get_txn *t, int status,
                     const struct everything_get_result *r)
{
    (void)t;
    done_status = status;
    if (r)
        got_result = *r;
    n_done++;
}

static bool one_done(void)
{
    return n_done == 1;
}

Test(glue, typed_transaction_reply_and_application_error)
{
    cr_assert_eq(everything_frontend_version(&fe), EVERYTHING_VERSION);

    struct everything_get_txn t;
    struct everything_get_args a = { .id = 42 };
    cr_assert_eq(everything_get_submit(&fe, &t, &a, get_done), 0);
    cr_assert(pump_until(one_done, 5000));
    cr_assert_eq(done_status, 0);
    cr_assert_eq(got_result.r.id, 42);
    cr_assert_eq(got_result.r.temp, EVERYTHING_TEMPERATURE_SCORCHING);
    cr_assert_str_eq(got_result.r.v.u.text, "hello");
    cr_assert(got_result.found);

    n_done = 0;
    a.id = 0;
    cr_assert_eq(everything_get_submit(&fe, &t, &a, get_done), 0);
    cr_assert(pump_until(one_done, 5000));
    cr_assert_eq(done_status, EVERYTHING_ERROR_NOT_FOUND);
    cr_assert_eq(fe_disconnects, 0);
}

static void resize_done(struct everything_resize_txn *t, int status,
                        const struct everything_resize_result *r)
{
    (void)t;
    done_status = status;
    cr_assert(status != 0 || (r && r->actual.x == -1 && r->actual.y == 2 && r->depth == 9));
    n_done++;
}

Test(glue, versioned_transaction_carries_new_fields)
{
    struct everything_resize_txn t;
    struct everything_resize_args a = { .size = { -1, 2 }, .depth = 9 };
    cr_assert_eq(everything_resize_submit(&fe, &t, &a, resize_done), 0);
    cr_assert(pump_until(one_done, 5000));
    cr_assert_eq(done_status, 0);
}

static bool messages_arrived(void)
{
    return n_ping == 1 && n_scalars == 1 && n_changed == 1;
}

Test(glue, typed_messages_both_ways)
{
    struct everything_scalars_msg_args s = {
        .flag = true, .a = 1, .b = 2, .c = 3, .d = 4, .e = -5, .f = -6, .g = -7, .h = -8
    };
    struct everything_changed_args c;
    memset(&c, 0, sizeof c);
    strcpy(c.who, "backend");
    c.where_count = 2;
    c.where[1].x = 5;
    cr_assert_eq(everything_ping_send(&fe), 0);
    cr_assert_eq(everything_scalars_msg_send(&fe, &s), 0);
    cr_assert_eq(everything_changed_send(&be, &c), 0);
    cr_assert(pump_until(messages_arrived, 5000), "log:\n%s", logbuf);
    cr_assert(got_scalars.flag && got_scalars.e == -5 && got_scalars.h == -8);
    cr_assert_str_eq(got_changed.who, "backend");
    cr_assert_eq(got_changed.where_count, 2);
    cr_assert_eq(got_changed.where[1].x, 5);
}

Test(glue, typed_api_refuses_bad_values_locally)
{
    struct everything_changed_args c;
    memset(&c, 0, sizeof c);
    c.where_count = 9; /* bound is 8 */
    cr_assert_eq(everything_changed_send(&be, &c), IDC_ERR_INVAL);
    struct everything_get_txn t;
    cr_assert_eq(everything_get_submit(&fe, &t, &(struct everything_get_args){ 1 }, NULL),
                 IDC_ERR_INVAL);
    cr_assert_eq(fe_disconnects + be_disconnects, 0);
}

Test(glue, malformed_message_is_refused_before_the_handler)
{
    uint8_t bad[EVERYTHING_SCALARS_MSG_ARGS_MAX_SIZE] = { 2 }; /* flag = 2 */
    cr_assert_eq(idc_send_message(&fe.ep, EVERYTHING_OP_SCALARS_MSG, bad, sizeof bad), 0);
    cr_assert(pump_until(dropped, 5000), "connection not dropped; log:\n%s", logbuf);
    cr_assert_eq(n_scalars, 0, "handler ran on a malformed message");
    cr_assert(log_has("everything: message scalars_msg: scalars_msg.flag: bool is neither 0 nor 1"),
              "log:\n%s", logbuf);
}

Test(glue, unknown_and_misdirected_opcodes_are_refused)
{
    cr_assert_eq(idc_send_message(&fe.ep, EVERYTHING_OP_CHANGED, NULL, 0), 0);
    cr_assert(pump_until(dropped, 5000), "log:\n%s", logbuf);
    cr_assert_eq(n_changed, 0);
    char want[128];
    snprintf(want, sizeof want, "everything: opcode %u is not a message the frontend sends",
             (unsigned)EVERYTHING_OP_CHANGED);
    cr_assert(log_has(want), "log:\n%s", logbuf);
}

static void raw_done(struct idc_txn *t, int status, const void *result, size_t len)
{
    (void)t;
    (void)result;
    (void)len;
    done_status = status;
    n_done++;
}

Test(glue, trailing_bytes_in_a_request_are_refused)
{
    uint8_t req[5] = { 1, 0, 0, 0, 0 }; /* get(id = 1) plus one byte */
    struct idc_txn t;
    memset(&t, 0, sizeof t);
    t.done = raw_done;
    cr_assert_eq(idc_submit_transaction(&fe.ep, &t, EVERYTHING_OP_GET, req, sizeof req), 0);
    cr_assert(pump_until(dropped, 5000), "log:\n%s", logbuf);
    cr_assert(pump_until(one_done, 5000));
    cr_assert_eq(done_status, IDC_ERR_DISCONNECTED);
    cr_assert(log_has("everything: transaction get: get: trailing bytes after the last field"),
              "log:\n%s", logbuf);
}

Test(glue, undeclared_application_error_is_a_protocol_error)
{
    raw_reply = true;
    struct everything_get_txn t;
    cr_assert_eq(everything_get_submit(&fe, &t, &(struct everything_get_args){ 3 }, get_done), 0);
    cr_assert(pump_until(one_done, 5000));
    cr_assert_eq(done_status, IDC_ERR_PROTO);
    cr_assert(
        log_has("everything: transaction get failed with status 77, not a value of enum error"),
        "log:\n%s", logbuf);
    raw_reply = false;
}
