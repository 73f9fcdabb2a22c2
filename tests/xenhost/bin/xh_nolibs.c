/* xh_nolibs: run by the xenhost suite in a mount namespace where the Xen libraries (and the
 * fabric transport's, libfabric and the ZooKeeper client) are hidden. Checks what a machine with
 * none of these packages sees: a xen: or fabric: endpoint turns DEAD with a log line naming the
 * library that could not be loaded (IDC_ERR_NOTSUP), and shm works as usual.
 * Usage: xh_nolibs DIR   (DIR: a scratch socket directory). Exit 0 when all holds; otherwise
 * prints what did not and exits 1.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "idc.h"
#include "xenhost/driver.h"

static int fail(const char *what)
{
    printf("xh_nolibs: %s\nlog:\n%s", what, logbuf);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return fail("usage: xh_nolibs DIR");
    void *h = dlopen("libxenstore.so.4", RTLD_NOW | RTLD_LOCAL);
    if (h) /* the caller's hiding did not work: nothing below would mean anything */
        return fail("libxenstore.so.4 can still be loaded");
    struct idc_context *ctx;
    /* a registry address (never reached): the fabric endpoint gets as far as the libraries */
    struct idc_context_options o = {
        .shm_dir = argv[1], .log = log_fn, .stats_dir = "off", .zookeeper = "127.0.0.1:1"
    };
    if (idc_context_create(&ctx, &o) != 0)
        return fail("idc_context_create failed");
    static struct idc_endpoint x, fab, be, fe;
    struct idc_endpoint_config c = {
        .protocol = &proto, .role = IDC_ROLE_FRONTEND, .address = "xen:0/blk0", .ops = &ops
    };
    idc_endpoint_create(&x, ctx, &c);
    c.address = "fabric:blk0";
    idc_endpoint_create(&fab, ctx, &c);
    c.role = IDC_ROLE_BACKEND;
    c.address = "shm:nolibs";
    idc_endpoint_create(&be, ctx, &c);
    c.role = IDC_ROLE_FRONTEND;
    idc_endpoint_create(&fe, ctx, &c);
    for (int i = 0; i < 300 && connects < 2; i++)
        idc_context_dispatch(ctx, 10);
    int rc = 0;
    if (idc_endpoint_state(&x) != IDC_EP_DEAD)
        rc = fail("the xen: endpoint is not DEAD");
    else if (!strstr(logbuf, "xen transport not available: cannot load libxenstore.so.4") ||
             !strstr(logbuf, "IDC_ERR_NOTSUP"))
        rc = fail("no log line naming the missing library");
    else if (idc_endpoint_state(&fab) != IDC_EP_DEAD)
        rc = fail("the fabric: endpoint is not DEAD");
    else if (!strstr(logbuf, "fabric: not available: cannot load lib"))
        rc = fail("no log line naming the fabric transport's missing library");
    else if (connects != 2)
        rc = fail("shm did not connect");
    idc_context_destroy(ctx);
    if (!rc)
        printf("xh_nolibs: ok\n");
    return rc;
}
