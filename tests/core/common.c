/* common.c - helpers for the runtime core suite. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static const uint64_t h12[] = { 0x1111, 0x2222 };
static const uint64_t h1[] = { 0x1111 };
static const uint64_t hbad[] = { 0x9999 };
const struct idc_protocol rt_proto_v12 = { "rtcore", 1, 2, h12, 4096 };
const struct idc_protocol rt_proto_v1 = { "rtcore", 1, 1, h1, 4096 };
const struct idc_protocol rt_proto_other = { "other", 1, 1, h1, 4096 };
const struct idc_protocol rt_proto_badhash = { "rtcore", 1, 1, hbad, 4096 };

const char *rt_tmpdir(void)
{
    static char buf[8][64];
    static int n;
    char *p = buf[n++ & 7];
    snprintf(p, 64, "/tmp/idcrt-XXXXXX");
    if (!mkdtemp(p))
        abort();
    return p;
}

void rt_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (unlink(p) < 0 && (errno == EISDIR || errno == EPERM))
            rt_rmdir(p); /* stats/ */
    }
    closedir(d);
    rmdir(dir);
}

void rt_log_fn(void *arg, int level, const char *msg)
{
    struct rt_log *l = arg;
    if (level == IDC_LOG_ERROR)
        l->errors++;
    size_t n = strlen(l->text);
    if (n + strlen(msg) + 2 < sizeof(l->text)) {
        strcat(l->text, msg);
        strcat(l->text, "\n");
    }
    if (getenv("RT_VERBOSE"))
        fprintf(stderr, "[%d] %s\n", level, msg);
}

struct idc_context *rt_ctx(const char *dir, struct rt_log *log)
{
    char stats[512]; /* the stats files stay in the test's directory too (copied by create) */
    snprintf(stats, sizeof(stats), "%s/stats", dir);
    struct idc_context_options o = {
        .shm_dir = dir, .log = log ? rt_log_fn : NULL, .log_arg = log, .stats_dir = stats
    };
    struct idc_context *c = NULL;
    if (idc_context_create(&c, &o) != 0)
        return NULL;
    return c;
}

uint64_t rt_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ms(void)
{
    return rt_now_ns() / 1000000u;
}

bool rt_until(struct idc_context *ctx, volatile bool *flag, int ms)
{
    uint64_t end = now_ms() + (uint64_t)ms;
    while (!*flag && now_ms() < end)
        idc_context_dispatch(ctx, 10);
    return *flag;
}

bool rt_until2(struct idc_context *a, struct idc_context *b, volatile bool *flag, int ms)
{
    uint64_t end = now_ms() + (uint64_t)ms;
    while (!*flag && now_ms() < end) {
        idc_context_dispatch(a, 0);
        idc_context_dispatch(b, 1);
    }
    return *flag;
}

#define DRV(ep) ((struct rt_drv *)idc_endpoint_user(ep))
static void rec(struct rt_drv *d, int c)
{
    if (d->norder < 32)
        d->order[d->norder++] = c;
}
static void on_appear(struct idc_endpoint *ep)
{
    DRV(ep)->appear++;
    rec(DRV(ep), 'a');
}
static void on_connect(struct idc_endpoint *ep)
{
    DRV(ep)->connects++;
    DRV(ep)->connected = true;
    rec(DRV(ep), 'c');
}
static void on_disconnect(struct idc_endpoint *ep)
{
    struct rt_drv *d = DRV(ep);
    d->disconnects++;
    d->connected = false;
    rec(d, 'd');
    for (unsigned i = 0; i < d->nheld; i++)
        idc_request_complete(d->held[i], 0, NULL, 0);
    d->nheld = 0;
    if (!d->hold_ddone)
        idc_endpoint_disconnect_done(ep);
}
static void on_disappear(struct idc_endpoint *ep)
{
    DRV(ep)->disappear++;
    rec(DRV(ep), 'g');
}
static void on_writable(struct idc_endpoint *ep)
{
    DRV(ep)->writable++;
}
static int on_msg(struct idc_endpoint *ep, uint16_t op, const void *p, size_t len)
{
    struct rt_drv *d = DRV(ep);
    d->msgs++;
    d->msg_bytes += len;
    d->last_op = op;
    d->last_len = len < sizeof(d->last) ? len : sizeof(d->last);
    memcpy(d->last, p, d->last_len);
    if (op == 0xdead)
        return IDC_ERR_PROTO;
    return 0;
}
static int on_txn(struct idc_endpoint *ep, struct idc_request *req, uint16_t op, const void *p,
                  size_t len)
{
    struct rt_drv *d = DRV(ep);
    d->reqs++;
    if (d->hold_requests && d->nheld < 64) {
        d->held[d->nheld++] = req;
        return 0;
    }
    if (op == 7)
        return idc_request_complete(req, 42, NULL, 0) == 0 ? 0 : 0;
    idc_request_complete(req, 0, d->echo ? p : NULL, d->echo ? len : 0);
    return 0;
}
static void on_unanswered(struct idc_endpoint *ep, int err)
{
    struct rt_drv *d = idc_endpoint_user(ep);
    d->unanswered++;
    d->unanswered_err = err;
    d->unanswered_ns = rt_now_ns();
}
const struct idc_endpoint_ops rt_ops = {
    .unanswered = on_unanswered,
    .appear = on_appear,
    .connect = on_connect,
    .disconnect = on_disconnect,
    .disappear = on_disappear,
    .writable = on_writable,
    .handle_message = on_msg,
    .handle_transaction = on_txn,
};

void rt_drv_create_flags(struct rt_drv *d, struct idc_context *ctx, enum idc_role role,
                         const char *addr, const struct idc_protocol *p, uint32_t credits,
                         uint32_t flags)
{
    struct idc_endpoint_config cfg = { .protocol = p,
                                       .role = role,
                                       .address = addr,
                                       .ops = &rt_ops,
                                       .user = d,
                                       .max_transactions = credits,
                                       .max_messages = credits,
                                       .flags = flags,
                                       .connect_timeout_ms = d->connect_timeout_ms };
    idc_endpoint_create(&d->ep, ctx, &cfg);
}

void rt_drv_create(struct rt_drv *d, struct idc_context *ctx, enum idc_role role, const char *addr,
                   const struct idc_protocol *p, uint32_t credits)
{
    rt_drv_create_flags(d, ctx, role, addr, p, credits, 0);
}
