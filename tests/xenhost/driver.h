/* driver.h - the do-nothing driver both sides of the xenhost suite use (the suite in
 * notavail.c, the helper program bin/xh_nolibs.c): one protocol, a log kept in memory, a
 * connection count, and callbacks that acknowledge everything. Included by one file of each
 * program. */
#ifndef IDC_TESTS_XENHOST_DRIVER_H
#define IDC_TESTS_XENHOST_DRIVER_H

#include <stdio.h>
#include <string.h>

#include "idc.h"

static const uint64_t hashes[1] = { 0x1234567890abcdefull };
static const struct idc_protocol proto = {
    .name = "xenhost",
    .min_version = 1,
    .max_version = 1,
    .version_hash = hashes,
    .max_frame = 256,
};

static char logbuf[8192];
static void log_fn(void *arg, int level, const char *msg)
{
    (void)arg;
    size_t n = strlen(logbuf);
    snprintf(logbuf + n, sizeof(logbuf) - n, "%d %s\n", level, msg);
}

static int connects;
static void on_connect(struct idc_endpoint *ep)
{
    (void)ep;
    connects++;
}
static void on_disconnect(struct idc_endpoint *ep)
{
    idc_endpoint_disconnect_done(ep);
}
static int on_msg(struct idc_endpoint *ep, uint16_t op, const void *p, size_t len)
{
    (void)ep, (void)op, (void)p, (void)len;
    return 0;
}
static int on_txn(struct idc_endpoint *ep, struct idc_request *r, uint16_t op, const void *p,
                  size_t len)
{
    (void)ep, (void)op, (void)p, (void)len;
    return idc_request_complete(r, 0, NULL, 0);
}
static const struct idc_endpoint_ops ops = {
    .connect = on_connect,
    .disconnect = on_disconnect,
    .handle_message = on_msg,
    .handle_transaction = on_txn,
};

#endif
