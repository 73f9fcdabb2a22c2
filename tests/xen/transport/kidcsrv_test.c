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

static int job_start(struct idc_request *r, const unsigned char *p, size_t len);

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
    case KIDC_OP_RBUF:
        return job_start(r, p, len);
    case KIDC_OP_HOLD:
        if (nheld == MAX_HELD)
            return IDC_ERR_PROTO;
        held[nheld++] = r;
        return 0;
    default:
        return IDC_ERR_PROTO;
    }
}

/* KIDC_OP_RBUF: one job at a time, driven by the transfers' callbacks. */
static struct {
    struct idc_request *r;
    struct idc_rbuf rb, used;
    uint32_t mode, seed;
    int step;
    int32_t st[2];
    unsigned char *buf;
} job;

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void job_step(void);
static void job_answer(void);
static void rate_series(void);

/* 0 when the job's buffer holds the whole reference's kidc_byte(seed, i), else KIDC_MISMATCH. */
static int job_bytes(void)
{
    for (size_t i = 0; i < job.rb.length; i++)
        if (job.buf[i] != kidc_byte(job.seed, i))
            return KIDC_MISMATCH;
    return 0;
}

static void job_done(void *arg, int status)
{
    (void)arg;
    if (job.mode == KIDC_RBUF_RW && job.step == 0 && status == 0)
        status = job_bytes();
    job.st[job.step++] = status;
    job_step();
}

/* Starts the job's next transfer, or answers once there is none left. */
static void job_step(void)
{
    int r = 0;
    bool last = job.step == 2 || (job.mode == KIDC_RBUF_READ && job.step == 1);
    if (!last) {
        size_t len = job.mode == KIDC_RBUF_RW ? (size_t)job.rb.length : 4096;
        job.used = job.rb;
        if (job.mode == KIDC_RBUF_FORGED && job.step == 0)
            job.used.key[0] ^= 0x5a;
        if (job.mode == KIDC_RBUF_RW && job.step == 1) {
            for (size_t i = 0; i < len; i++)
                job.buf[i] = kidc_byte(job.seed + 1, i);
            r = idc_send_to_remote_buffer(ctx, &job.used, 0, job.buf, len, job_done, NULL);
        } else {
            r = idc_receive_from_remote_buffer(ctx, &job.used, 0, job.buf, len, job_done, NULL);
        }
        if (r == 0)
            return;
        job.st[job.step++] = r; /* refused at once: the answer says so */
    }
    job_answer();
}

/* Completes the job's transaction with its two statuses. */
static void job_answer(void)
{
    unsigned char out[8];
    put_le32(out, (uint32_t)job.st[0]);
    put_le32(out + 4, (uint32_t)job.st[1]);
    idc_request_complete(job.r, 0, out, sizeof(out));
    free(job.buf);
    job.buf = NULL;
    job.r = NULL;
}

/* KIDC_RBUF_RATE (kidc_proto.h): one rate per series, in KB/s. A read series starts into a
   zeroed buffer, so its last bytes compared after its time are the owner's; a write series
   writes what the read series before it read and checked. */
static struct {
    int series;
    double t0;
    uint64_t bytes;
    double kbs[KIDC_RATE_SERIES];
} rate;

/* The median rate of the reads (parity 0) or of the writes (1), as a positive status. */
static int32_t rate_median(int parity)
{
    double v[KIDC_RATE_SERIES / 2];
    for (int i = 0; i < KIDC_RATE_SERIES / 2; i++)
        v[i] = rate.kbs[2 * i + parity];
    sort_doubles(v, KIDC_RATE_SERIES / 2);
    double m = v[KIDC_RATE_SERIES / 4];
    return m < 1 ? 1 : m > 2e9 ? 2000000000 : (int32_t)m;
}

static void rate_done(void *arg, int status);

static void rate_issue(void)
{
    size_t len = (size_t)job.rb.length;
    int r = rate.series % 2 == 0
                ? idc_receive_from_remote_buffer(ctx, &job.rb, 0, job.buf, len, rate_done, NULL)
                : idc_send_to_remote_buffer(ctx, &job.rb, 0, job.buf, len, rate_done, NULL);
    if (r) {
        job.st[0] = r;
        job_answer();
    }
}

/* The next series: a read one starts into a zeroed buffer (outside the time). */
static void rate_series(void)
{
    if (rate.series % 2 == 0)
        memset(job.buf, 0, (size_t)job.rb.length);
    rate.bytes = 0;
    rate.t0 = now_s();
    rate_issue();
}

static void rate_done(void *arg, int status)
{
    (void)arg;
    double t = now_s();
    if (status == 0) {
        rate.bytes += job.rb.length;
        if (t - rate.t0 < KIDC_RATE_MS / 1000.0) {
            rate_issue();
            return;
        }
        rate.kbs[rate.series] = (double)rate.bytes / 1000.0 / (t - rate.t0);
        if (rate.series % 2 == 0)
            status = job_bytes();
    }
    if (status || ++rate.series == KIDC_RATE_SERIES) {
        job.st[0] = status ? status : rate_median(0);
        job.st[1] = status ? 0 : rate_median(1);
        job_answer();
        return;
    }
    rate_series();
}

static int job_start(struct idc_request *r, const unsigned char *p, size_t len)
{
    if (job.r || len != IDC_RBUF_WIRE_SIZE + 8 || idc_rbuf_decode(&job.rb, p) ||
        job.rb.length == 0 || job.rb.length > (64u << 20))
        return IDC_ERR_PROTO;
    job.mode = get_le32(p + IDC_RBUF_WIRE_SIZE);
    job.seed = get_le32(p + IDC_RBUF_WIRE_SIZE + 4);
    if (job.mode < KIDC_RBUF_RW || job.mode > KIDC_RBUF_RATE)
        return IDC_ERR_PROTO;
    job.buf = malloc(job.rb.length < 4096 ? 4096 : job.rb.length);
    if (!job.buf)
        return IDC_ERR_NOMEM;
    job.r = r;
    job.step = 0;
    job.st[0] = job.st[1] = 0;
    if (job.mode == KIDC_RBUF_RATE) {
        rate.series = 0;
        rate_series();
    } else {
        job_step();
    }
    return 0;
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
