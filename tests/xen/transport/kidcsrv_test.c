/*
 * kidcsrv: the user-space server of the kernel runtime's check (tests/xen/kidcxen.sh), run by
 * dom0 while the domU loads idc.ko and its self-test client (tests/xen/kidc/kidc_test.c).
 * libidc's xen backend serving xen:kidc?allow=PEER with the protocol of kidc_proto.h.
 *
 *   kidcsrv list           the check it reports
 *   kidcsrv serve PEER     serve until the client says bye; a server the client made kill
 *                          itself (SIGKILL, no cleanup) is started again, at most 3 times
 *
 * The client reports the protocol's checks. This side reports what only dom0 can see, once the
 * client said bye and unloaded (suite kidc_dom0_domu):
 *   frontend_nodes_removed  within 20 s of the bye, the kernel frontend removed its xenstore
 *                           nodes: no request node F under the domU's data/idc-fe/0/kidc and
 *                           no knock of the domU under the service's fe/ directory
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xenstore.h>

#include "idc.h"
#include "kidc_proto.h"
#include "report.h"

#define MAX_HELD 64

static const uint64_t hashes[1] = { KIDC_HASH };
static const struct idc_protocol proto = {
    .name = KIDC_NAME,
    .min_version = 1,
    .max_version = 1,
    .version_hash = hashes,
    .max_frame = KIDC_MAX_FRAME,
};

static struct idc_context *ctx;
static struct idc_request *held[MAX_HELD];
static unsigned nheld;

static void note(const char *fmt, const char *s)
{
    printf("@@idc note kidcsrv[%d]: ", (int)getpid());
    printf(fmt, s);
    printf("\n");
    fflush(stdout);
}

static void log_fn(void *arg, int level, const char *msg)
{
    (void)arg;
    if (level <= IDC_LOG_INFO)
        note("%s", msg);
}

static void release_all(void)
{
    for (unsigned i = 0; i < nheld; i++)
        idc_request_complete(held[i], 0, NULL, 0);
    nheld = 0;
}

static void cb_connect(struct idc_endpoint *ep)
{
    (void)ep;
    note("%s", "connected");
}

static void cb_disconnect(struct idc_endpoint *ep)
{
    release_all(); /* results are discarded: the connection is gone */
    idc_endpoint_disconnect_done(ep);
}

static int cb_msg(struct idc_endpoint *ep, uint16_t op, const void *p, size_t len)
{
    (void)ep, (void)p, (void)len;
    switch (op) {
    case KIDC_OP_RELEASE:
        release_all();
        return 0;
    case KIDC_OP_DIE:
        note("%s", "killing myself (SIGKILL) as asked");
        raise(SIGKILL);
        return 0;
    case KIDC_OP_BYE:
        idc_context_stop(ctx);
        return 0;
    default:
        return IDC_ERR_PROTO;
    }
}

static int cb_txn(struct idc_endpoint *ep, struct idc_request *r, uint16_t op, const void *p,
                  size_t len)
{
    unsigned char out[KIDC_MAX_FRAME];
    (void)ep;
    switch (op) {
    case KIDC_OP_ECHO:
        for (size_t i = 0; i < len; i++)
            out[i] = (unsigned char)(((const unsigned char *)p)[i] + 1);
        idc_request_complete(r, 0, out, len);
        return 0;
    case KIDC_OP_HOLD:
        if (nheld == MAX_HELD)
            return IDC_ERR_PROTO;
        held[nheld++] = r;
        return 0;
    default:
        return IDC_ERR_PROTO;
    }
}

static const struct idc_endpoint_ops ops = {
    .connect = cb_connect,
    .disconnect = cb_disconnect,
    .handle_message = cb_msg,
    .handle_transaction = cb_txn,
};

/* Entries of a xenstore directory whose name starts with prefix (an absent directory has none). */
static unsigned count_entries(struct xs_handle *xs, const char *dir, const char *prefix)
{
    unsigned n = 0, k = 0;
    char **e = xs_directory(xs, XBT_NULL, dir, &n);
    for (unsigned i = 0; e && i < n; i++)
        k += strncmp(e[i], prefix, strlen(prefix)) == 0;
    free(e);
    return k;
}

static void check_nodes(const char *peer)
{
    char f[128], b[128], knock[32];
    struct xs_handle *xs = xs_open(0);
    unsigned nf = 0, nk = 0;
    begin("frontend_nodes_removed");
    if (!xs)
        fail("xs_open failed");
    snprintf(f, sizeof(f), "/local/domain/%s/data/idc-fe/0/%s", peer, KIDC_SERVICE);
    snprintf(b, sizeof(b), "/local/domain/0/data/idc/%s/fe", KIDC_SERVICE);
    snprintf(knock, sizeof(knock), "%s-", peer);
    for (int i = 0; i < 200; i++) {
        nf = count_entries(xs, f, "");
        nk = count_entries(xs, b, knock);
        if (!nf && !nk)
            break;
        usleep(100000);
    }
    xs_close(xs);
    if (nf || nk)
        fail("after 20 s: %u request nodes under %s, %u knocks of domain %s", nf, f, nk, peer);
    pass("no request node, no knock");
}

/* One server instance: 0 when the client said bye. */
static int serve(const char *peer)
{
    char addr[64];
    struct idc_endpoint ep;
    struct idc_context_options o = { .log = log_fn, .stats_dir = "off" };
    snprintf(addr, sizeof(addr), "xen:%s?allow=%s", KIDC_SERVICE, peer);
    if (idc_context_create(&ctx, &o))
        return 1;
    struct idc_endpoint_config cfg = { .protocol = &proto,
                                       .role = IDC_ROLE_BACKEND,
                                       .address = addr,
                                       .ops = &ops,
                                       .max_transactions = 64,
                                       .max_messages = 64 };
    idc_endpoint_create(&ep, ctx, &cfg);
    note("serving %s", addr);
    idc_context_run(ctx);
    check_nodes(peer); /* the service still published: its knock directory is there */
    idc_endpoint_destroy(&ep, NULL);
    for (int i = 0; i < 20 && idc_endpoint_state(&ep) != IDC_EP_UNUSED; i++)
        idc_context_dispatch(ctx, 50);
    idc_context_destroy(ctx);
    note("%s", "bye");
    return 0;
}

int main(int argc, char **argv)
{
    static const char *const checks[] = { "frontend_nodes_removed" };
    report_init("kidc_dom0_domu");
    if (argc == 2 && strcmp(argv[1], "list") == 0) {
        REPORT_LIST("kidc_dom0_domu", checks);
        return 0;
    }
    if (argc != 3 || strcmp(argv[1], "serve") != 0) {
        fprintf(stderr, "usage: kidcsrv list | serve PEER\n");
        return 2;
    }
    alarm(140); /* the harness's step has its own timeout; this one ends a stuck server */
    for (int restarts = 0; restarts <= 3; restarts++) {
        pid_t pid = fork();
        int st;
        if (pid == 0)
            _exit(serve(argv[2]));
        if (pid < 0 || waitpid(pid, &st, 0) < 0)
            return 1;
        if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
        note("%s", "the server was killed: starting it again");
    }
    return 1;
}
