/* Double-fetch check at the endpoint level: a hostile back-end process (hf_peer) sends
 * checksummed messages through the real runtime while its second thread rewrites the frames
 * already published in the ring towards us (transient and lasting rewrites of lengths and
 * payload bytes). This process is an ordinary front-end endpoint.
 *
 * Asserted for every message handed to handle_message: it is no longer than max_frame; it is
 * exactly the message the peer generated for its sequence number (bytes regenerated here) and
 * comes after every earlier one, or its checksum (or opcode) is wrong and we refuse it
 * (IDC_ERR_PROTO: the runtime disconnects, the front-end reconnects); and the payload we are
 * given stays unchanged while we hold it (it is a private copy, not the ring: re-validated
 * after a pause). This complements the runtime suite's rewrite attack, which checks framing,
 * with a check of what the application actually receives. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hardening/hf.h"

struct victim {
    uint64_t delivered, refused, wrong, unstable, disconnects, connects, last_seq, logged;
    bool any;
    char first_wrong[200];
    bool destroyed;
};
static struct victim v;

static void note_wrong(const char *fmt, uint64_t a, uint64_t b)
{
    if (v.wrong++ == 0)
        snprintf(v.first_wrong, sizeof v.first_wrong, fmt, (unsigned long long)a,
                 (unsigned long long)b);
}

static int on_message(struct idc_endpoint *ep, uint16_t op, const void *payload, size_t len)
{
    (void)ep;
    const unsigned char *p = payload;
    if (op != HF_OP_DATA) {
        v.refused++; /* a rewritten opcode: the handler refuses it */
        return IDC_ERR_PROTO;
    }
    if (len > HF_MAX_FRAME) {
        note_wrong("%llu-byte payload (max %llu)", len, HF_MAX_FRAME);
        return IDC_ERR_PROTO;
    }
    if (!hf_sum_ok(p, len)) {
        v.refused++;
        return IDC_ERR_PROTO;
    }
    /* checksum fine: it must be exactly what the peer generated for this sequence number */
    uint64_t seq;
    memcpy(&seq, p, 8);
    static unsigned char want[HF_MAX_FRAME];
    if (len != hf_len(seq)) {
        note_wrong("seq %llu: %llu bytes, not as written", seq, len);
        return IDC_ERR_PROTO;
    }
    hf_make(seq, want);
    if (memcmp(want, p, len) != 0) {
        note_wrong("seq %llu: content differs from what was written (%llu bytes)", seq, len);
        return IDC_ERR_PROTO;
    }
    if (v.any && seq <= v.last_seq)
        note_wrong("seq %llu replayed or reordered (after %llu)", seq, v.last_seq);
    v.any = true;
    v.last_seq = seq;
    /* the payload must be ours: still the same after a pause (the peer rewrites all along) */
    if ((v.delivered & 15) == 0) {
        struct timespec ts = { 0, 50000 };
        nanosleep(&ts, NULL);
        if (memcmp(want, p, len) != 0 || !hf_sum_ok(p, len))
            v.unstable++;
    }
    v.delivered++;
    return 0;
}

static int on_txn(struct idc_endpoint *ep, struct idc_request *r, uint16_t op, const void *p,
                  size_t len)
{
    (void)ep;
    (void)r;
    (void)p;
    note_wrong("transaction opcode %llu (%llu bytes)", op, len);
    return IDC_ERR_PROTO;
}

static void on_connect(struct idc_endpoint *ep)
{
    (void)ep;
    v.connects++;
}
static void on_disconnect(struct idc_endpoint *ep)
{
    v.disconnects++;
    idc_endpoint_disconnect_done(ep);
}
static void on_log(void *arg, int level, const char *msg)
{
    (void)arg;
    (void)msg;
    if (level <= IDC_LOG_WARN)
        v.logged++; /* the runtime's reason for each disconnect */
}
static void on_destroyed(struct idc_endpoint *ep)
{
    (void)ep;
    v.destroyed = true;
}

static const struct idc_endpoint_ops ops = {
    .connect = on_connect,
    .disconnect = on_disconnect,
    .handle_message = on_message,
    .handle_transaction = on_txn,
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static char tmpdir[64];
static pid_t peer;

static void cleanup(void)
{
    if (peer > 0) {
        kill(peer, SIGKILL);
        waitpid(peer, NULL, 0);
        peer = 0;
    }
    if (tmpdir[0]) {
        /* the service directory holds plain entries only */
        DIR *d = opendir(tmpdir);
        for (struct dirent *e; d && (e = readdir(d));) {
            char p[sizeof tmpdir + 256];
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
                snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
                unlink(p);
            }
        }
        if (d)
            closedir(d);
        if (rmdir(tmpdir) != 0)
            fprintf(stderr, "epflip: could not remove %s\n", tmpdir);
        tmpdir[0] = 0;
    }
}

TestSuite(epflip, .fini = cleanup);

Test(epflip, messages_rewritten_after_publish_arrive_intact_or_are_refused, .timeout = 60)
{
    const char *bin = IDC_BUILDDIR "/tests/bin/hf_peer";
    if (access(bin, X_OK) != 0)
        cr_skip_test("%s not built", bin);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/idc-epflip-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));

    pid_t parent = getpid();
    peer = fork();
    cr_assert_geq(peer, 0);
    if (peer == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives the test */
        if (getppid() != parent)
            _exit(1);
        execl(bin, bin, "--dir", tmpdir, "--name", "flip", "--seconds", "40", (char *)NULL);
        _exit(127);
    }

    struct idc_context *ctx;
    struct idc_context_options o = { .shm_dir = tmpdir, .log = on_log, .stats_dir = "off" };
    cr_assert_eq(idc_context_create(&ctx, &o), 0);
    static struct idc_endpoint ep;
    struct idc_endpoint_config cfg = {
        .protocol = &hf_proto,
        .role = IDC_ROLE_FRONTEND,
        .address = "shm:flip",
        .ops = &ops,
    };
    idc_endpoint_create(&ep, ctx, &cfg);
    uint64_t t_end = now_ms() + 3000, t_max = now_ms() + 20000;
    /* 3 s of traffic under attack (longer if the machine is too loaded to deliver much) */
    while (now_ms() < t_max && (now_ms() < t_end || v.delivered < 2000 || v.refused == 0))
        idc_context_dispatch(ctx, 10);
    int st = 0;
    cr_assert_eq(waitpid(peer, &st, WNOHANG), 0, "the peer died early (status %#x)", st);

    idc_endpoint_destroy(&ep, on_destroyed);
    for (int i = 0; i < 500 && !v.destroyed; i++)
        idc_context_dispatch(ctx, 10);
    idc_context_destroy(ctx);
    cr_log_info("endpoint: %llu messages delivered intact, %llu refused by checksum, %llu "
                "connections, %llu disconnects (%llu logged errors)",
                (unsigned long long)v.delivered, (unsigned long long)v.refused,
                (unsigned long long)v.connects, (unsigned long long)v.disconnects,
                (unsigned long long)v.logged);
    cr_assert(v.destroyed, "endpoint destroy never completed");
    cr_assert_eq(v.wrong, 0, "%llu wrong messages delivered; first: %s",
                 (unsigned long long)v.wrong, v.first_wrong);
    cr_assert_eq(v.unstable, 0, "%llu payloads changed under the handler",
                 (unsigned long long)v.unstable);
    cr_assert_gt(v.delivered, 500u, "only %llu messages delivered",
                 (unsigned long long)v.delivered);
    /* the attack reached us: rewritten messages were refused or broke the framing */
    cr_assert_gt(v.refused + v.disconnects, 0u, "no rewrite was ever seen");
}
