/*
 * xenbench: the libidc "xen" transport against libxenvchan between the same two domains, on
 * the same boot (the real-Xen harness). The domU serves both (a libidc backend and a vchan
 * server), dom0 measures. Emulated CPUs are slow: only the ratio between the two transports
 * means something. Every figure is measured REPS times, the two transports interleaved, and
 * reported as min/median/max with the ratio; `targets` prints each performance target
 * (docs/performance.md) as met or missed by the median ratio. The checks pass when both
 * transports carried every round trip, chunk and remote-buffer byte right; the figures are
 * reported, never judged.
 *
 *   @@idc [PASS] xenbench_domu_dom0::rtt: idc 0.71 ms p50 ..., ratio 1.37 (2.10s)
 *
 * Commands:
 *   xenbench list            the checks the harness expects
 *   xenbench serve PEER      (domU) serve xen:xenbench?allow=PEER and a vchan for PEER
 *   xenbench measure PEER    (dom0) measure against PEER's services
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libxenvchan.h>
#include <xengnttab.h>
#include <xenstore.h>

#include "idc.h"
#include "report.h"

#define WATCHDOG_S 200
#define STEP_MS    30000
#define CHUNK      65536u
#define SMALL      64u
#define REPS       11u  /* repetitions of every figure, interleaved: min / median / max */
#define RTT_N      100u /* sequential round trips per transport and repetition */
#define RTT_MAX_S  1.2  /* ... or fewer if this passes */
#define BULK_S     0.6  /* streaming time per direction, transport and repetition */
#define MIB        (1024u * 1024u)
#define RBUF_MAX   (16u * MIB) /* the domU's registered buffer */
#define VCHAN_RING 524288u     /* vchan ring size each way: 512 KiB in flight, as idc's MAX_MSG */

/* ------------------------------------------------------------------ reporting (report.h) */

#define SUITE "xenbench_domu_dom0"

static const char *const checks[] = {
    "rtt", "bulk_to_domu", "bulk_from_domu", "rbuf_from_domu", "rbuf_to_domu", "targets", "profile"
};

static void log_fn(void *arg, int level, const char *msg)
{
    (void)arg;
    if (level <= IDC_LOG_INFO || getenv("IDC_DEBUG"))
        printf("xenbench[%d] %s\n", (int)getpid(), msg);
    fflush(stdout);
}

/* Chunk contents: 64-bit words, each a mix of the chunk's sequence number and the word's index,
   with the sequence number in the first 4 bytes. Word-wide so that making and checking a chunk
   costs less than the copies the figures are about: the former byte-wide pattern took each
   side of a stream longer than its transport's two copies on the emulated CPUs, and so timed
   the benchmark's loops, the same for both transports (the profile check prints the costs). */
static uint64_t pattern(uint32_t seq, size_t word)
{
    return (((uint64_t)seq << 32) ^ word) * 0x9e3779b97f4a7c15ull;
}

/* the bytes of word i as they lie in memory: i == 0 starts with seq */
static uint64_t word_at(uint32_t seq, size_t i)
{
    uint64_t w = pattern(seq, i);
    if (i == 0)
        memcpy(&w, &seq, sizeof(seq));
    return w;
}

/* Bytes [i, end) of chunk seq's pattern into dst + (i - off), one word's bytes at a time. */
static size_t fill_bytes(unsigned char *dst, size_t off, size_t i, size_t end, uint32_t seq)
{
    while (i < end) {
        uint64_t w = word_at(seq, i / 8);
        size_t in = i % 8, take = end - i < 8 - in ? end - i : 8 - in;
        memcpy(dst + (i - off), (const unsigned char *)&w + in, take);
        i += take;
    }
    return i;
}

/* Bytes [off, off + n) of chunk seq's pattern into dst (a whole chunk: off 0, n its size; a
   piece of one: idc_send_message_fill's pieces). The head up to the first whole word past word
   0 (which carries seq) and the tail go a word's bytes at a time, the words between with one
   fixed-size store each, as check_fill reads them (a variable-length copy per word made the
   fill of a chunk three times its check). */
static void fill_at(unsigned char *dst, size_t off, size_t n, uint32_t seq)
{
    size_t end = off + n, body = off < 8 ? 8 : (off + 7) / 8 * 8;
    size_t i = fill_bytes(dst, off, off, body < end ? body : end, seq);
    for (; i + 8 <= end; i += 8) {
        uint64_t w = pattern(seq, i / 8);
        memcpy(dst + (i - off), &w, 8);
    }
    fill_bytes(dst, off, i, end, seq);
}

static void fill(unsigned char *p, size_t n, uint32_t seq)
{
    fill_at(p, 0, n, seq);
}

/* idc_send_message_fill's writer: the chunk's pattern straight into the ring */
static void fill_piece(void *arg, void *dst, size_t off, size_t n)
{
    fill_at(dst, off, n, *(const uint32_t *)arg);
}

static bool check_fill(const unsigned char *p, size_t n, uint32_t *seq)
{
    if (n < sizeof(*seq))
        return false;
    memcpy(seq, p, sizeof(*seq));
    size_t i = 0;
    for (; (i + 1) * 8 <= n; i++) {
        uint64_t w, want = word_at(*seq, i);
        memcpy(&w, p + i * 8, 8);
        if (w != want)
            return false;
    }
    uint64_t want = word_at(*seq, i);
    return memcmp(p + i * 8, &want, n - i * 8) == 0;
}

/* p-th percentile (0..100) of n sorted values */
static double pct(const double *v, unsigned n, double p)
{
    unsigned i = (unsigned)(p / 100.0 * (n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* ------------------------------------------------------------------ idc protocol */

enum {
    OP_ECHO = 1,
    OP_COUNT = 2,
    OP_STREAM = 3,
    OP_RBUF = 4,
    OP_GRANTS = 5, /* the grant references of GC_PAGES pages the domU shares with dom0 */
    OP_DATA = 10,
    OP_BYE = 11,
    OP_END = 12
};
/* A stream has as many bytes in flight as vchan's ring holds: 8 messages of CHUNK bytes
   (512 KiB). idc's ring also holds one transaction's request and response and each frame's
   header: 10 frames of CHUNK + 24 bytes, i.e. 1 MiB each way (a power of two). */
#define MAX_TX  1
#define MAX_MSG 8

static const uint64_t hashes[1] = { 0x6964636265656e31ull };
static const struct idc_protocol proto = {
    .name = "xenbench",
    .min_version = 1,
    .max_version = 1,
    .version_hash = hashes,
    .max_frame = CHUNK,
};

static struct {
    struct idc_context *ctx;
    struct idc_endpoint ep;
    int appears, connects, disconnects;
    uint32_t msgs, bad;
    bool bye;
    bool ended; /* dom0: OP_END came, with the sender's count */
    uint32_t end_count;
    double stream_until; /* domU: streaming OP_DATA to dom0 until then (0: not streaming) */
    uint32_t stream_seq;
    bool stream_copy; /* domU: that stream copies its chunks in (send_chunk) */
} S;

/* A chunk of the stream: written in place (idc_send_message_fill, what a streaming driver
   uses) or made in a buffer and copied in (idc_send_message, as vchan's writer must). */
static int send_chunk(uint32_t seq, bool copy)
{
    static unsigned char p[CHUNK];
    if (!copy)
        return idc_send_message_fill(&S.ep, OP_DATA, CHUNK, fill_piece, &seq);
    fill(p, CHUNK, seq);
    return idc_send_message(&S.ep, OP_DATA, p, CHUNK);
}

static void cb_appear(struct idc_endpoint *ep)
{
    (void)ep;
    S.appears++;
}
static void cb_connect(struct idc_endpoint *ep)
{
    (void)ep;
    S.connects++;
}
static void cb_disconnect(struct idc_endpoint *ep)
{
    S.disconnects++;
    idc_endpoint_disconnect_done(ep);
}

static int cb_msg(struct idc_endpoint *ep, uint16_t op, const void *p, size_t len)
{
    (void)ep;
    uint32_t seq;
    if (op == OP_DATA) {
        /* p is the runtime's private copy of the frame (it copied it out of the ring once,
           as vchan's read does): checked in place, like the vchan side's chunk */
        if (len != CHUNK || !check_fill(p, len, &seq) || seq != S.msgs)
            S.bad++;
        S.msgs++;
    } else if (op == OP_BYE)
        S.bye = true;
    else if (op == OP_END && len == sizeof(S.end_count)) {
        memcpy(&S.end_count, p, sizeof(S.end_count));
        S.ended = true;
    } else
        return IDC_ERR_PROTO;
    return 0;
}

/* The ceiling of a copy by grant (profile): GC_PAGES pages the domU shares read-only with
   dom0 (gntalloc, as a kernel owner could share its buffer's pages), the pattern of seed 7 in
   them, copied by dom0 into its own memory with one grant-copy request: one copy, no request
   to an owner and nobody woken. Shared until the program exits. */
#define GC_PAGES 256u /* 1 MiB */
static unsigned serve_peer;

static bool share_pages(uint32_t refs[GC_PAGES])
{
    xengntshr_handle *gs = xengntshr_open(NULL, 0);
    void *mem = gs ? xengntshr_share_pages(gs, serve_peer, GC_PAGES, refs, 0) : NULL;
    if (!mem) {
        fprintf(stderr, "xenbench: sharing %u pages: %s\n", GC_PAGES, strerror(errno));
        return false;
    }
    fill(mem, (size_t)GC_PAGES * 4096, 7);
    return true;
}

static int cb_txn(struct idc_endpoint *ep, struct idc_request *r, uint16_t op, const void *p,
                  size_t len)
{
    (void)ep;
    switch (op) {
    case OP_ECHO:
        idc_request_complete(r, 0, p, len);
        return 0;
    case OP_COUNT: {
        uint32_t v[2] = { S.msgs, S.bad };
        S.msgs = S.bad = 0;
        idc_request_complete(r, 0, v, sizeof(v));
        return 0;
    }
    case OP_STREAM: { /* stream OP_DATA to dom0 for v[0] milliseconds, copying if v[1], then OP_END */
        uint32_t v[2];
        if (len != sizeof(v))
            return IDC_ERR_PROTO;
        memcpy(v, p, sizeof(v));
        S.stream_until = now_s() + v[0] / 1000.0;
        S.stream_seq = 0;
        S.stream_copy = v[1] != 0;
        idc_request_complete(r, 0, NULL, 0);
        return 0;
    }
    case OP_RBUF: { /* the domU's 16 MiB buffer, registered once, read and write */
        static struct idc_rbuf rb;
        static void *mem;
        uint8_t w[IDC_RBUF_WIRE_SIZE];
        if (!mem) {
            int e = idc_buffer_alloc(S.ctx, RBUF_MAX, &mem);
            if (!e) {
                fill(mem, RBUF_MAX, 7);
                e = idc_buffer_register(S.ctx, mem, RBUF_MAX, IDC_RBUF_READ | IDC_RBUF_WRITE, &rb);
            }
            if (e) {
                mem = NULL;
                idc_request_complete(r, 1, NULL, 0);
                return 0;
            }
        }
        idc_rbuf_encode(&rb, w);
        idc_request_complete(r, 0, w, sizeof(w));
        return 0;
    }
    case OP_GRANTS: {
        static uint32_t refs[GC_PAGES];
        static bool shared;
        if (!shared && !(shared = share_pages(refs))) {
            idc_request_complete(r, 1, NULL, 0);
            return 0;
        }
        idc_request_complete(r, 0, refs, sizeof(refs));
        return 0;
    }
    default:
        return IDC_ERR_PROTO;
    }
}

static const struct idc_endpoint_ops ops = {
    .appear = cb_appear,
    .connect = cb_connect,
    .disconnect = cb_disconnect,
    .handle_message = cb_msg,
    .handle_transaction = cb_txn,
};

static void side_open(const char *addr, enum idc_role role)
{
    memset(&S, 0, sizeof(S));
    struct idc_context_options o = { .log = log_fn, .shm_dir = "/tmp/xenbench" };
    int r = idc_context_create(&S.ctx, &o);
    if (r)
        fail("idc_context_create: %s", idc_strerror(r));
    struct idc_endpoint_config cfg = { .protocol = &proto,
                                       .role = role,
                                       .address = addr,
                                       .ops = &ops,
                                       .max_transactions = MAX_TX,
                                       .max_messages = MAX_MSG };
    idc_endpoint_create(&S.ep, S.ctx, &cfg);
}

static void side_close(void)
{
    idc_endpoint_destroy(&S.ep, NULL);
    for (int i = 0; i < 20 && idc_endpoint_state(&S.ep) != IDC_EP_UNUSED; i++)
        idc_context_dispatch(S.ctx, 20);
    idc_context_destroy(S.ctx);
}

static bool wait_for(const int *flag, int want, int ms)
{
    double end = now_s() + ms / 1000.0;
    while (*flag < want && now_s() < end)
        idc_context_dispatch(S.ctx, 50);
    return *flag >= want;
}

struct call {
    struct idc_txn t;
    int status;
    bool done;
    size_t len;
    uint32_t seq;
    unsigned char buf[CHUNK];
};

static void call_done(struct idc_txn *t, int status, const void *res, size_t len)
{
    struct call *c = t->user;
    c->status = status;
    c->done = true;
    c->len = len;
    if (status == 0 && len <= sizeof(c->buf))
        memcpy(c->buf, res, len);
}

static void call_start(struct call *c)
{
    memset(c, 0, offsetof(struct call, buf));
    c->t.done = call_done;
    c->t.user = c;
}

/* Dispatches until *done or ms pass. The clock is read only when dispatch comes back idle or
   every 64th time, not after every wake-up: it is harness overhead inside a timed round trip,
   which vchan's loop does not pay (and a system call in a PV guest without a vDSO clock). */
static bool dispatch_until(const bool *done, int ms)
{
    double end = 0;
    for (unsigned i = 1; !*done; i++) {
        if (idc_context_dispatch(S.ctx, 50) > 0 && (i & 63))
            continue;
        double now = now_s();
        if (end == 0)
            end = now + ms / 1000.0;
        else if (now >= end)
            return false;
    }
    return true;
}

static int call_sync(uint16_t op, const void *p, size_t len, struct call *c, int ms)
{
    call_start(c);
    int r;
    double end = 0;
    while ((r = idc_submit_transaction(&S.ep, &c->t, op, p, len)) == IDC_ERR_AGAIN) {
        if (end == 0)
            end = now_s() + ms / 1000.0;
        else if (now_s() >= end)
            break;
        idc_context_dispatch(S.ctx, 20);
    }
    if (r)
        return r;
    return dispatch_until(&c->done, ms) ? c->status : IDC_ERR_IO;
}

/* ------------------------------------------------------------------ vchan protocol */

/* Records of SMALL bytes from the client: 'E' echo it back; 'S' a stream of CHUNK-byte chunks
   follows, the last one with sequence number VC_END, answered by a record with the count and
   the number of bad chunks; 'T' + uint32 milliseconds at offset 4: the server streams chunks
   for that long, then one with VC_END; 'M' + a mode byte at offset 1: the server waits for
   the records that follow blocking (0) or in an event loop (1, see vc_wait); 'R' + uint32
   byte count n at offset 4: the server writes n bytes of its block (the pattern of seed 7,
   made once); 'W' + n: n bytes follow, acknowledged by a record before the server checks them
   (seed 9), as an owner answers a remote-buffer write before anyone looks at the bytes; 'C':
   the server answers with the count of 'W' blocks and of bad ones; 'Q' quit. 'R' and 'W' are
   remote-buffer transfers made by hand over vchan: the like-for-like baseline of the buffer
   rows (a request, then the block), beside vchan streaming, which pays neither a request nor
   a drain per MiB but makes and checks a pattern inside its timed part. */
#define VC_END   0xffffffffu
#define VC_BLOCK MIB /* 'R' and 'W' transfers: at most this many bytes */

/* How a vchan side waits for data: blocking in libxenvchan_read itself (one read() of the
   event channel, as a program that waits for nothing else does), or in an event loop: poll()
   on libxenvchan_fd_for_select, then libxenvchan_wait, as a driver that also watches xenstore,
   timers or other connections must (libidc always waits that way). */
static bool vc_polled;

static int vc_wait(struct libxenvchan *v)
{
    struct pollfd pfd = { .fd = libxenvchan_fd_for_select(v), .events = POLLIN };
    if (poll(&pfd, 1, STEP_MS) <= 0)
        return -1;
    return libxenvchan_wait(v) < 0 ? -1 : 0;
}

static int vc_read_all(struct libxenvchan *v, void *p, size_t n)
{
    unsigned char *b = p;
    v->blocking = !vc_polled;
    while (n) {
        int r = libxenvchan_read(v, b, n);
        if (r < 0)
            return -1;
        if (r == 0 && libxenvchan_is_open(v) != 1)
            return -1;
        if (r == 0 && vc_polled && vc_wait(v))
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

static int vc_write_all(struct libxenvchan *v, const void *p, size_t n)
{
    const unsigned char *b = p;
    v->blocking = 1; /* a 64-byte record always has room: only streaming ever waits here */
    while (n) {
        int r = libxenvchan_write(v, b, n);
        if (r < 0)
            return -1;
        if (r == 0 && libxenvchan_is_open(v) != 1)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

/* The vchan's xenstore path in the server's domain: one home for the server and the client. */
#define VCHAN_PATH_MAX 96
static void vchan_path(char out[VCHAN_PATH_MAX], unsigned dom)
{
    snprintf(out, VCHAN_PATH_MAX, "/local/domain/%u/data/xenbench-vchan", dom);
}

static char *self_vchan_path(void)
{
    struct xs_handle *xs = xs_open(0);
    unsigned len;
    char *dom = xs ? xs_read(xs, XBT_NULL, "domid", &len) : NULL;
    static char path[VCHAN_PATH_MAX];
    vchan_path(path, dom ? (unsigned)strtoul(dom, NULL, 10) : 0);
    free(dom);
    if (xs)
        xs_close(xs);
    return path;
}

/* The record answering 'S' and 'C': two counts (chunks or blocks, and the bad ones). */
static int vc_send_counts(struct libxenvchan *v, uint32_t n, uint32_t bad)
{
    unsigned char rec[SMALL] = { 0 };
    memcpy(rec, &n, sizeof(n));
    memcpy(rec + 4, &bad, sizeof(bad));
    return vc_write_all(v, rec, sizeof(rec));
}

static int vchan_serve(unsigned peer)
{
    struct libxenvchan *v = libxenvchan_server_init(NULL, (int)peer, self_vchan_path(), VCHAN_RING,
                                                    VCHAN_RING);
    if (!v) {
        fprintf(stderr, "xenbench: libxenvchan_server_init: %s\n", strerror(errno));
        return 1;
    }
    v->blocking = 1;
    unsigned char rec[SMALL];
    static unsigned char chunk[CHUNK], block[VC_BLOCK], want[VC_BLOCK];
    uint32_t blocks = 0, bad_blocks = 0;
    fill(block, VC_BLOCK, 7);
    fill(want, VC_BLOCK, 9);
    for (;;) {
        if (vc_read_all(v, rec, sizeof(rec)))
            break;
        uint32_t len;
        memcpy(&len, rec + 4, sizeof(len));
        if ((rec[0] == 'R' || rec[0] == 'W') && len > VC_BLOCK)
            break;
        if (rec[0] == 'R') {
            if (vc_write_all(v, block, len))
                break;
        } else if (rec[0] == 'W') {
            static unsigned char got[VC_BLOCK];
            if (vc_read_all(v, got, len) || vc_write_all(v, rec, sizeof(rec)))
                break;
            blocks++;
            bad_blocks += memcmp(got, want, len) != 0;
        } else if (rec[0] == 'C') {
            if (vc_send_counts(v, blocks, bad_blocks))
                break;
        } else if (rec[0] == 'E') {
            if (vc_write_all(v, rec, sizeof(rec)))
                break;
        } else if (rec[0] == 'M') {
            vc_polled = rec[1] != 0;
            if (vc_write_all(v, rec, sizeof(rec)))
                break;
        } else if (rec[0] == 'S') {
            uint32_t n = 0, bad = 0, seq;
            for (;;) {
                if (vc_read_all(v, chunk, CHUNK))
                    goto out;
                bool ok = check_fill(chunk, CHUNK, &seq);
                if (ok && seq == VC_END)
                    break;
                if (!ok || seq != n)
                    bad++;
                n++;
            }
            if (vc_send_counts(v, n, bad))
                break;
        } else if (rec[0] == 'T') {
            uint32_t ms, seq = 0;
            memcpy(&ms, rec + 4, sizeof(ms));
            for (double until = now_s() + ms / 1000.0; now_s() < until; seq++) {
                fill(chunk, CHUNK, seq);
                if (vc_write_all(v, chunk, CHUNK))
                    goto out;
            }
            fill(chunk, CHUNK, VC_END);
            if (vc_write_all(v, chunk, CHUNK))
                break;
        } else
            break;
    }
out:
    libxenvchan_close(v);
    return 0;
}

/* ------------------------------------------------------------------ domU: serve */

/* domU: the stream dom0 asked for (OP_STREAM): chunks until the ring is full (the next dispatch
   returns once credit comes back), then after the deadline OP_END with the count. */
static void stream_pump(void)
{
    while (S.stream_until && now_s() < S.stream_until) {
        int r = send_chunk(S.stream_seq, S.stream_copy);
        if (r == IDC_ERR_AGAIN)
            return;
        if (r) {
            S.stream_until = 0;
            return;
        }
        S.stream_seq++;
    }
    if (S.stream_until &&
        idc_send_message(&S.ep, OP_END, &S.stream_seq, sizeof(S.stream_seq)) != IDC_ERR_AGAIN)
        S.stream_until = 0;
}

static int serve(unsigned peer)
{
    serve_peer = peer;
    pid_t pid = fork();
    if (pid == 0) {
        char addr[64];
        snprintf(addr, sizeof(addr), "xen:xenbench?allow=%u", peer);
        side_open(addr, IDC_ROLE_BACKEND);
        double end = now_s() + 190;
        for (unsigned i = 1; !S.bye; i++) {
            int n = idc_context_dispatch(S.ctx, S.stream_until ? 20 : 200);
            stream_pump();
            if ((n <= 0 || !(i & 63)) && now_s() >= end) /* clock: as in call_sync */
                break;
        }
        side_close();
        _exit(S.bye ? 0 : 1);
    }
    int r = vchan_serve(peer);
    int st = 0;
    waitpid(pid, &st, 0);
    return r || !WIFEXITED(st) || WEXITSTATUS(st) != 0;
}

/* ------------------------------------------------------------------ dom0: measure */

static void summary(double *v, unsigned n, double *p50, double *p99)
{
    sort_doubles(v, n);
    *p50 = pct(v, n, 50) * 1e3;
    *p99 = pct(v, n, 99) * 1e3;
}

static double rtt_v[3][RTT_N]; /* idc, vchan blocking, vchan in an event loop */

static unsigned idc_rtt(void)
{
    static struct call c;
    unsigned char p[SMALL];
    unsigned n = 0;
    double t0 = now_s();
    for (unsigned i = 0; i < 10; i++) { /* warm-up */
        fill(p, sizeof(p), i);
        if (call_sync(OP_ECHO, p, sizeof(p), &c, STEP_MS) != 0)
            fail("idc warm-up round trip %u: status %d", i, c.status);
    }
    t0 = now_s();
    while (n < RTT_N && now_s() - t0 < RTT_MAX_S) {
        fill(p, sizeof(p), n);
        double t = now_s();
        int st = call_sync(OP_ECHO, p, sizeof(p), &c, STEP_MS);
        rtt_v[0][n] = now_s() - t;
        if (st != 0 || c.len != sizeof(p) || memcmp(c.buf, p, sizeof(p)))
            fail("idc round trip %u: status %d, %zu bytes", n, st, c.len);
        n++;
    }
    return n;
}

/* Both sides switch to the waiting mode first (an 'M' record, outside the timing). */
static void vchan_mode(struct libxenvchan *v, bool polled)
{
    unsigned char rec[SMALL] = { 'M', polled };
    vc_polled = false;
    if (vc_write_all(v, rec, sizeof(rec)) || vc_read_all(v, rec, sizeof(rec)) || rec[0] != 'M')
        fail("vchan mode switch: %s", strerror(errno));
    vc_polled = polled;
}

static unsigned vchan_rtt(struct libxenvchan *v, bool polled)
{
    unsigned char p[SMALL], q[SMALL];
    unsigned n = 0;
    vchan_mode(v, polled);
    double t0 = now_s();
    for (unsigned i = 0; i < 10 + RTT_N && (i < 10 || now_s() - t0 < 2 * RTT_MAX_S); i++) {
        fill(p, sizeof(p), i);
        p[0] = 'E';
        double t = now_s();
        if (vc_write_all(v, p, sizeof(p)) || vc_read_all(v, q, sizeof(q)))
            fail("vchan round trip %u: %s", i, strerror(errno));
        double dt = now_s() - t;
        if (memcmp(p, q, sizeof(p)))
            fail("vchan round trip %u: wrong bytes", i);
        if (i >= 10)
            rtt_v[1 + polled][n++] = dt;
    }
    vchan_mode(v, false);
    return n;
}

/* dom0 -> domU: CHUNK-byte messages for BULK_S (copied in if copy), then the backend's count.
   Returns MB/s. */
static double idc_bulk_out(uint32_t *chunks, bool copy)
{
    static struct call c;
    uint32_t sent = 0;
    double t0 = now_s();
    while (now_s() - t0 < BULK_S) {
        int r = send_chunk(sent, copy);
        if (r == IDC_ERR_AGAIN) {
            idc_context_dispatch(S.ctx, 20);
            continue;
        }
        if (r)
            fail("idc_send_message: %s", idc_strerror(r));
        sent++;
    }
    int st = call_sync(OP_COUNT, NULL, 0, &c, STEP_MS);
    double dt = now_s() - t0;
    uint32_t v[2] = { 0, 0 };
    if (st == 0 && c.len == sizeof(v))
        memcpy(v, c.buf, sizeof(v));
    if (st != 0 || v[0] != sent || v[1] != 0)
        fail("idc stream: sent %u, count status %d, received %u, bad %u", sent, st, v[0], v[1]);
    *chunks = sent;
    return (double)sent * CHUNK / dt / 1e6;
}

/* domU -> dom0: the domU streams CHUNK-byte messages for BULK_S (OP_STREAM; copied in if
   copy), then OP_END with its count; every chunk's bytes and order are checked here. MB/s. */
static double idc_bulk_in(uint32_t *chunks, bool copy)
{
    static struct call c;
    uint32_t ask[2] = { (uint32_t)(BULK_S * 1000), copy }; /* OP_STREAM: ms, copy */
    S.msgs = S.bad = 0;
    S.ended = false;
    double t0 = now_s();
    int st = call_sync(OP_STREAM, ask, sizeof(ask), &c, STEP_MS);
    if (st)
        fail("stream request: status %d", st);
    dispatch_until(&S.ended, STEP_MS);
    double dt = now_s() - t0;
    if (!S.ended || S.msgs != S.end_count || S.bad || S.msgs == 0)
        fail("idc stream from the domU: %s, received %u of %u, bad %u",
             S.ended ? "ended" : "no end", S.msgs, S.end_count, S.bad);
    *chunks = S.msgs;
    S.msgs = 0;
    return (double)*chunks * CHUNK / dt / 1e6;
}

static double vchan_bulk_out(struct libxenvchan *v, uint32_t *chunks)
{
    static unsigned char p[CHUNK];
    unsigned char rec[SMALL] = { 'S' };
    if (vc_write_all(v, rec, sizeof(rec)))
        fail("vchan: %s", strerror(errno));
    uint32_t sent = 0;
    double t0 = now_s();
    while (now_s() - t0 < BULK_S) {
        fill(p, CHUNK, sent);
        if (vc_write_all(v, p, CHUNK))
            fail("vchan write: %s", strerror(errno));
        sent++;
    }
    fill(p, CHUNK, VC_END);
    if (vc_write_all(v, p, CHUNK) || vc_read_all(v, rec, sizeof(rec)))
        fail("vchan end of stream: %s", strerror(errno));
    double dt = now_s() - t0;
    uint32_t n, bad;
    memcpy(&n, rec, sizeof(n));
    memcpy(&bad, rec + 4, sizeof(bad));
    if (n != sent || bad)
        fail("vchan stream: sent %u, received %u, bad %u", sent, n, bad);
    *chunks = sent;
    return (double)sent * CHUNK / dt / 1e6;
}

/* domU -> dom0: the vchan server streams chunks for BULK_S ('T'), then an end chunk. */
static double vchan_bulk_in(struct libxenvchan *v, uint32_t *chunks)
{
    static unsigned char p[CHUNK];
    unsigned char rec[SMALL] = { 'T' };
    uint32_t ms = (uint32_t)(BULK_S * 1000), got = 0, seq;
    memcpy(rec + 4, &ms, sizeof(ms));
    double t0 = now_s();
    if (vc_write_all(v, rec, sizeof(rec)))
        fail("vchan: %s", strerror(errno));
    for (;;) {
        if (vc_read_all(v, p, CHUNK))
            fail("vchan read: %s", strerror(errno));
        if (!check_fill(p, CHUNK, &seq) || (seq != got && seq != VC_END))
            fail("vchan chunk %u: wrong bytes", got);
        if (seq == VC_END)
            break;
        got++;
    }
    *chunks = got;
    return (double)got * CHUNK / (now_s() - t0) / 1e6;
}

/* One transfer of n bytes from the domU (pull) or to it, through what arg points at, its bytes
   made and checked outside the time: the time in seconds. */
typedef double move_fn(const void *arg, size_t n, bool pull);

/* MB/s of n-byte transfers one after the other, each waiting for the previous one (as a
   driver moving n-byte blocks does), for BULK_S of transfer time, as long as each streaming
   figure runs: the sum of their times, so that one stall of the emulated machine is a small
   part of the figure, as it is of the streaming figure it is compared with. */
static double back_to_back(move_fn *move, const void *arg, size_t n, bool pull)
{
    double t = 0;
    unsigned count = 0;
    while (t < BULK_S) {
        t += move(arg, n, pull);
        count++;
    }
    return (double)n * count / t / 1e6;
}

/* A remote-buffer transfer made by hand over vchan ('R' / 'W'; arg: the struct libxenvchan *):
   a request record, then n bytes from the domU (pull) or to it, acknowledged by a record; the
   bytes are made and checked outside the time, as rbuf_move's are. */
static double vchan_move(const void *arg, size_t n, bool pull)
{
    struct libxenvchan *v = *(struct libxenvchan *const *)arg;
    static unsigned char buf[VC_BLOCK], want[VC_BLOCK];
    unsigned char rec[SMALL] = { pull ? 'R' : 'W' };
    uint32_t n32 = (uint32_t)n;
    memcpy(rec + 4, &n32, sizeof(n32));
    if (pull)
        memset(buf, 0, n);
    else
        fill(buf, n, 9);
    double t0 = now_s();
    if (vc_write_all(v, rec, sizeof(rec)) ||
        (pull ? vc_read_all(v, buf, n)
              : vc_write_all(v, buf, n) || vc_read_all(v, rec, sizeof(rec))))
        fail("vchan %s of %zu bytes: %s", pull ? "read" : "write", n, strerror(errno));
    double dt = now_s() - t0;
    if (pull) {
        fill(want, n, 7);
        if (memcmp(buf, want, n))
            fail("vchan read of %zu bytes: wrong bytes", n);
    }
    return dt;
}

/* back_to_back of vchan_move; a push's bytes are then checked by the server, whose count of
   bad blocks must be 0. */
static double vchan_move_rate(struct libxenvchan *v, size_t n, bool pull)
{
    double mbs = back_to_back(vchan_move, &v, n, pull);
    if (!pull) {
        unsigned char rec[SMALL] = { 'C' };
        uint32_t bad;
        if (vc_write_all(v, rec, sizeof(rec)) || vc_read_all(v, rec, sizeof(rec)))
            fail("vchan count: %s", strerror(errno));
        memcpy(&bad, rec + 4, sizeof(bad));
        if (bad)
            fail("vchan writes of %zu bytes: %u arrived wrong", n, bad);
    }
    return mbs;
}

static struct libxenvchan *vchan_connect(unsigned peer)
{
    char path[VCHAN_PATH_MAX];
    vchan_path(path, peer);
    double end = now_s() + STEP_MS / 1000.0;
    struct libxenvchan *v = NULL;
    while (!(v = libxenvchan_client_init(NULL, (int)peer, path)) && now_s() < end)
        usleep(100000);
    if (!v)
        fail("libxenvchan_client_init(%u, %s): %s", peer, path, strerror(errno));
    v->blocking = 1;
    return v;
}

/* One remote-buffer transfer of n bytes at offset 0 of the domU's buffer (a move_fn, arg: the
   struct idc_rbuf): from it (pull) or to it (push). A pull checks the bytes (outside the time): the domU's
   fill (seed 7) until the first push, the pushes' (seed 9) after it, so the next pull checks
   what a push wrote. */
static void rb_done(void *arg, int status)
{
    struct call *c = arg;
    c->status = status;
    c->done = true;
}

static double rbuf_move(const void *arg, size_t n, bool pull)
{
    const struct idc_rbuf *rb = arg;
    static unsigned char *buf, *want;
    if (!buf && (!(buf = malloc(RBUF_MAX)) || !(want = malloc(RBUF_MAX))))
        fail("out of memory");
    static struct call c;
    static bool pushed;
    c.done = false;
    if (pull)
        memset(buf, 0, n);
    else
        fill(buf, n, 9);
    pushed |= !pull;
    double t0 = now_s();
    int r = pull ? idc_receive_from_remote_buffer(S.ctx, rb, 0, buf, n, rb_done, &c)
                 : idc_send_to_remote_buffer(S.ctx, rb, 0, buf, n, rb_done, &c);
    if (r)
        fail("remote buffer %s of %zu bytes: %s", pull ? "read" : "write", n, idc_strerror(r));
    dispatch_until(&c.done, STEP_MS);
    double dt = now_s() - t0;
    if (!c.done || c.status)
        fail("remote buffer %s of %zu bytes: %s", pull ? "read" : "write", n,
             c.done ? idc_strerror(c.status) : "never completed");
    if (pull) {
        fill(want, n, pushed ? 9 : 7);
        if (memcmp(buf, want, n))
            fail("remote buffer read of %zu bytes: wrong bytes", n);
    }
    return dt;
}

/* min / median / max of REPS values (v is left as it is: figures stay paired by repetition) */
struct mmm {
    double min, med, max;
};
static struct mmm mmm(const double *v)
{
    double c[REPS];
    memcpy(c, v, sizeof(c));
    sort_doubles(c, REPS);
    return (struct mmm){ c[0], c[REPS / 2], c[REPS - 1] };
}

/* Every figure of one repetition. */
enum {
    F_RTT_IDC,
    F_RTT_VCHAN,
    F_RTT_VCHAN_POLL,
    F_OUT_IDC,      /* written in place (idc_send_message_fill) */
    F_OUT_IDC_COPY, /* copied in (idc_send_message) */
    F_OUT_VCHAN,
    F_IN_IDC,
    F_IN_IDC_COPY,
    F_IN_VCHAN,
    F_RB_IN_1M,
    F_RB_IN_16M,
    F_RB_OUT_1M,
    F_RB_OUT_16M,
    F_VC_IN_1M,  /* vchan_move: a request, then 1 MiB from the domU */
    F_VC_OUT_1M, /* 1 MiB to the domU, then its acknowledgement */
    F_COUNT
};
static double fig[F_COUNT][REPS];

static void one_rep(unsigned k, struct libxenvchan *v, const struct idc_rbuf *rb)
{
    double i50, i99, v50, v99, w50, w99;
    unsigned ni = idc_rtt(), nv = vchan_rtt(v, false), nw = vchan_rtt(v, true);
    if (nv == 0 || nw == 0)
        fail("no vchan round trip");
    summary(rtt_v[0], ni, &i50, &i99);
    summary(rtt_v[1], nv, &v50, &v99);
    summary(rtt_v[2], nw, &w50, &w99);
    fig[F_RTT_IDC][k] = i50;
    fig[F_RTT_VCHAN][k] = v50;
    fig[F_RTT_VCHAN_POLL][k] = w50;
    uint32_t ci, cv;
    fig[F_OUT_IDC][k] = idc_bulk_out(&ci, false);
    fig[F_OUT_IDC_COPY][k] = idc_bulk_out(&ci, true);
    fig[F_OUT_VCHAN][k] = vchan_bulk_out(v, &cv);
    fig[F_IN_IDC][k] = idc_bulk_in(&ci, false);
    fig[F_IN_IDC_COPY][k] = idc_bulk_in(&ci, true);
    fig[F_IN_VCHAN][k] = vchan_bulk_in(v, &cv);
    fig[F_RB_IN_1M][k] = back_to_back(rbuf_move, rb, MIB, true);
    fig[F_VC_IN_1M][k] = vchan_move_rate(v, MIB, true);
    fig[F_RB_IN_16M][k] = back_to_back(rbuf_move, rb, RBUF_MAX, true);
    fig[F_RB_OUT_1M][k] = back_to_back(rbuf_move, rb, MIB, false);
    fig[F_VC_OUT_1M][k] = vchan_move_rate(v, MIB, false);
    fig[F_RB_OUT_16M][k] = back_to_back(rbuf_move, rb, RBUF_MAX, false);
}

/* idc/vchan ratios of a pair of figures, per repetition */
static struct mmm ratio(int a, int b)
{
    double r[REPS];
    for (unsigned k = 0; k < REPS; k++)
        r[k] = fig[a][k] / fig[b][k];
    return mmm(r);
}

static void report_pair(const char *what, const char *unit, int a, int b)
{
    struct mmm q = ratio(a, b), x = mmm(fig[a]), y = mmm(fig[b]);
    pass_inline("%s, %u repetitions, min/median/max: idc %.3f/%.3f/%.3f %s, vchan %.3f/%.3f/%.3f "
                "%s; ratio idc/vchan %.2f/%.2f/%.2f",
                what, REPS, x.min, x.med, x.max, unit, y.min, y.med, y.max, unit, q.min, q.med,
                q.max);
}

static void target(const char *name, int a, int b, bool at_most, double want)
{
    double med = ratio(a, b).med;
    bool met = at_most ? med <= want : med >= want;
    printf("@@idc [----] " SUITE "::targets: %-38s median ratio %.2f, target %s %.2f: %s\n", name,
           med, at_most ? "<=" : ">=", want, met ? "met" : "missed");
}

/* ------------------------------------------------------------------ dom0: system calls per op */

/* What a gap to vchan is made of, read as system calls (each one a trip through the guest
   kernel, and through Xen for a PV guest): strace -c, when the guest has it, attached to this
   process while one kind of operation runs, its counts divided by the operations. The figures
   are reported, never judged; strace slows the process, so they are counts, not times. */
#define STRACE_BIN "/usr/bin/strace"
#define PROF_OUT   "/tmp/xenbench-strace"

static bool traced(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[128];
    bool yes = false;
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "TracerPid:", 10))
            yes = atoi(line + 10) != 0;
    if (f)
        fclose(f);
    return yes;
}

/* strace -c -f on this process, writing its table to PROF_OUT; 0 when it could not attach. */
static pid_t strace_attach(void)
{
    char self[16];
    snprintf(self, sizeof(self), "%d", (int)getpid());
    prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
    pid_t pid = fork();
    if (pid == 0) {
        execl(STRACE_BIN, "strace", "-c", "-f", "-q", "-o", PROF_OUT, "-p", self, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; pid > 0 && i < 500 && !traced(); i++)
        usleep(10000);
    if (pid > 0 && traced())
        return pid;
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    return 0;
}

/* strace's table: calls per system call name. */
#define PROF_MAX 48
struct sc_table {
    unsigned n;
    char name[PROF_MAX][32];
    double calls[PROF_MAX];
};

/* Detaches strace and reads its table. */
static void strace_table(pid_t pid, struct sc_table *t)
{
    kill(pid, SIGINT); /* strace detaches and writes the table */
    waitpid(pid, NULL, 0);
    FILE *f = fopen(PROF_OUT, "r");
    char line[256], tok[6][32];
    t->n = 0;
    while (f && fgets(line, sizeof(line), f) && t->n < PROF_MAX) {
        int n = sscanf(line, "%31s %31s %31s %31s %31s %31s", tok[0], tok[1], tok[2], tok[3],
                       tok[4], tok[5]);
        if (n < 5 || !strchr("0123456789", tok[0][0]) || !strcmp(tok[n - 1], "total"))
            continue;
        snprintf(t->name[t->n], sizeof(t->name[0]), "%s", tok[n - 1]);
        t->calls[t->n++] = atof(tok[3]);
    }
    if (f)
        fclose(f);
    unlink(PROF_OUT);
}

/* The table of a run that did nothing (attaching and detaching: the attach check's reads of
   /proc, the signal to strace), subtracted from every other. */
static struct sc_table prof_base;

/* Prints t per operation, less prof_base: the total, then every call made at least once per
   20 operations. */
static void strace_report(const struct sc_table *t, const char *what, double ops)
{
    char out[512] = "";
    size_t len = 0;
    double total = 0;
    for (unsigned i = 0; i < t->n; i++) {
        double c = t->calls[i];
        for (unsigned j = 0; j < prof_base.n; j++)
            if (!strcmp(prof_base.name[j], t->name[i]))
                c -= prof_base.calls[j];
        c = c > 0 ? c / ops : 0;
        total += c;
        if (c >= 0.05 && len < sizeof(out) - 64)
            len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s %.2f", len ? ", " : "",
                                    t->name[i], c);
    }
    printf("@@idc [----] " SUITE "::profile: %-24s %5.2f system calls per op: %s\n", what, total,
           out);
}

/* What the benchmark's own work costs on this CPU, per 64 KiB chunk: making and checking the
   pattern, and one copy (each transport makes two per chunk), best of 20. */
static void pattern_costs(void)
{
    static unsigned char a[CHUNK], b[CHUNK];
    double best[3] = { 1e9, 1e9, 1e9 };
    uint32_t seq;
    for (unsigned k = 0; k < 20; k++) {
        double t0 = now_s();
        fill(a, CHUNK, k);
        double t1 = now_s();
        if (!check_fill(a, CHUNK, &seq) || seq != k)
            fail("pattern check of a fresh chunk");
        double t2 = now_s();
        memcpy(b, a, CHUNK);
        __asm__ volatile("" : : "r"(b) : "memory"); /* the copy is used */
        double t3 = now_s();
        double d[3] = { t1 - t0, t2 - t1, t3 - t2 };
        for (unsigned i = 0; i < 3; i++)
            best[i] = d[i] < best[i] ? d[i] : best[i];
    }
    printf("@@idc [----] " SUITE "::profile: per 64 KiB chunk: fill %.0f us, check %.0f us, "
           "memcpy %.0f us\n",
           best[0] * 1e6, best[1] * 1e6, best[2] * 1e6);
    fflush(stdout);
}

/* The copy a one-copy remote-buffer read would make (share_pages): MB/s of 1 MiB grant copies
   from the domU's shared pages into this process's memory, one after the other for BULK_S,
   checked after each outside the time, against the medians of vchan streaming and of idc's
   1 MiB reads. A ceiling for comparison, not a target: no request, no check of a reference,
   nobody woken, and grants that stay in place. */
struct gc_pages {
    xengnttab_handle *xgt;
    xengnttab_grant_copy_segment_t *seg; /* GC_PAGES, from the shared pages into buf */
    unsigned char *buf;
};

/* move_fn of the grant copies (arg: struct gc_pages): the 1 MiB of the shared pages into buf. */
static double gc_move(const void *arg, size_t n, bool pull)
{
    const struct gc_pages *g = arg;
    static unsigned char want[MIB];
    (void)pull;
    memset(g->buf, 0, n);
    double t0 = now_s();
    if (xengnttab_grant_copy(g->xgt, GC_PAGES, g->seg))
        fail("grant copy: %s", strerror(errno));
    double dt = now_s() - t0;
    for (unsigned i = 0; i < GC_PAGES; i++)
        if (g->seg[i].status != GNTST_okay)
            fail("grant copy of page %u: status %d", i, g->seg[i].status);
    fill(want, n, 7);
    if (memcmp(g->buf, want, n))
        fail("grant copy: wrong bytes");
    return dt;
}

static void grant_copy_ceiling(unsigned peer)
{
    static struct call c;
    static xengnttab_grant_copy_segment_t seg[GC_PAGES];
    static unsigned char buf[MIB];
    uint32_t refs[GC_PAGES];
    if (call_sync(OP_GRANTS, NULL, 0, &c, STEP_MS) || c.len != sizeof(refs))
        fail("no shared pages from the domU (status %d)", c.status);
    memcpy(refs, c.buf, sizeof(refs));
    xengnttab_handle *xgt = xengnttab_open(NULL, 0);
    if (!xgt)
        fail("xengnttab_open: %s", strerror(errno));
    for (unsigned i = 0; i < GC_PAGES; i++)
        seg[i] = (xengnttab_grant_copy_segment_t){ .source.foreign = { .ref = refs[i],
                                                                       .domid = (uint16_t)peer },
                                                   .dest.virt = buf + (size_t)i * 4096,
                                                   .len = 4096,
                                                   .flags = GNTCOPY_source_gref };
    struct gc_pages g = { .xgt = xgt, .seg = seg, .buf = buf };
    double mbs = back_to_back(gc_move, &g, MIB, true);
    xengnttab_close(xgt);
    printf("@@idc [----] " SUITE "::profile: one grant copy of 1 MiB from the domU's shared pages "
           "(the ceiling of a one-copy read): %.1f MB/s, %.2fx vchan streaming domU -> dom0, "
           "%.2fx idc's 1 MiB reads (medians)\n",
           mbs, mbs / mmm(fig[F_IN_VCHAN]).med, mbs / mmm(fig[F_RB_IN_1M]).med);
    fflush(stdout);
}

static void profile(struct libxenvchan *v, const struct idc_rbuf *rb, unsigned peer)
{
    pattern_costs();
    grant_copy_ceiling(peer);
    uint32_t chunks;
    pid_t p;
    if (access(STRACE_BIN, X_OK) != 0) {
        printf("@@idc [SKIP] " SUITE "::profile: no strace in the guest\n");
        fflush(stdout);
        return;
    }
#define PROFILE(what, ops_expr)                              \
    do {                                                     \
        struct sc_table t_;                                  \
        if (!(p = strace_attach()))                          \
            fail("strace could not attach to this process"); \
        double ops_ = (double)(ops_expr);                    \
        strace_table(p, &t_);                                \
        strace_report(&t_, what, ops_ > 0 ? ops_ : 1);       \
    } while (0)
    if (!(p = strace_attach()))
        fail("strace could not attach to this process");
    strace_table(p, &prof_base);
    PROFILE("idc rtt", idc_rtt() + 10);
    PROFILE("vchan rtt", vchan_rtt(v, false) + 12);
    PROFILE("vchan rtt, event loop", vchan_rtt(v, true) + 12);
    PROFILE("idc 64K dom0->domU", (idc_bulk_out(&chunks, false), chunks));
    PROFILE("vchan 64K dom0->domU", (vchan_bulk_out(v, &chunks), chunks));
    PROFILE("idc 64K domU->dom0", (idc_bulk_in(&chunks, false), chunks));
    PROFILE("vchan 64K domU->dom0", (vchan_bulk_in(v, &chunks), chunks));
    PROFILE("idc rbuf read 1 MiB", (rbuf_move(rb, MIB, true), 1));
    PROFILE("idc rbuf write 1 MiB", (rbuf_move(rb, MIB, false), 1));
#undef PROFILE
    pass(NULL);
}

static int measure(unsigned peer)
{
    char addr[64];
    snprintf(addr, sizeof(addr), "xen:%u/xenbench", peer);
    side_open(addr, IDC_ROLE_FRONTEND);

    begin("rtt");
    if (!wait_for(&S.connects, 1, STEP_MS))
        fail("no connection to %s within %d s", addr, STEP_MS / 1000);
    struct libxenvchan *v = vchan_connect(peer);
    static struct call c;
    struct idc_rbuf rb;
    if (call_sync(OP_RBUF, NULL, 0, &c, STEP_MS) || c.len != IDC_RBUF_WIRE_SIZE ||
        idc_rbuf_decode(&rb, c.buf))
        fail("no remote buffer from the domU (status %d)", c.status);
    double t0 = t_check;
    for (unsigned k = 0; k < REPS; k++)
        one_rep(k, v, &rb);
    rbuf_move(&rb, RBUF_MAX, true); /* what the last push wrote */
    t_check = t0;
    report_pair("64-byte round trips p50", "ms", F_RTT_IDC, F_RTT_VCHAN);
    report_pair("64-byte round trips p50, vchan in an event loop", "ms", F_RTT_IDC,
                F_RTT_VCHAN_POLL);
    begin("bulk_to_domu");
    report_pair("64 KiB chunks dom0 -> domU, written in place", "MB/s", F_OUT_IDC, F_OUT_VCHAN);
    report_pair("64 KiB chunks dom0 -> domU, copied in", "MB/s", F_OUT_IDC_COPY, F_OUT_VCHAN);
    begin("bulk_from_domu");
    report_pair("64 KiB chunks domU -> dom0, written in place", "MB/s", F_IN_IDC, F_IN_VCHAN);
    report_pair("64 KiB chunks domU -> dom0, copied in", "MB/s", F_IN_IDC_COPY, F_IN_VCHAN);
    begin("rbuf_from_domu");
    report_pair("remote-buffer reads of 1 MiB, back to back, vs vchan streaming domU -> dom0",
                "MB/s", F_RB_IN_1M, F_IN_VCHAN);
    report_pair("remote-buffer reads of 1 MiB, back to back, vs vchan 1 MiB replies to requests "
                "(like for like)",
                "MB/s", F_RB_IN_1M, F_VC_IN_1M);
    report_pair("remote-buffer read of 16 MiB vs vchan streaming domU -> dom0", "MB/s", F_RB_IN_16M,
                F_IN_VCHAN);
    begin("rbuf_to_domu");
    report_pair("remote-buffer writes of 1 MiB, back to back, vs vchan streaming dom0 -> domU",
                "MB/s", F_RB_OUT_1M, F_OUT_VCHAN);
    report_pair("remote-buffer writes of 1 MiB, back to back, vs vchan 1 MiB writes each "
                "acknowledged (like for like)",
                "MB/s", F_RB_OUT_1M, F_VC_OUT_1M);
    report_pair("remote-buffer write of 16 MiB vs vchan streaming dom0 -> domU", "MB/s",
                F_RB_OUT_16M, F_OUT_VCHAN);

    /* the performance targets (docs/performance.md), judged on medians, reported only */
    begin("targets");
    target("rtt p50 idc/vchan", F_RTT_IDC, F_RTT_VCHAN, true, 1.0);
    target("rtt p50 idc/vchan in an event loop", F_RTT_IDC, F_RTT_VCHAN_POLL, true, 1.0);
    target("streaming dom0->domU idc/vchan", F_OUT_IDC, F_OUT_VCHAN, false, 1.0);
    target("streaming domU->dom0 idc/vchan", F_IN_IDC, F_IN_VCHAN, false, 1.0);
    target("rbuf read 1 MiB / vchan streaming", F_RB_IN_1M, F_IN_VCHAN, false, 1.0);
    target("rbuf read 16 MiB / vchan streaming", F_RB_IN_16M, F_IN_VCHAN, false, 1.0);
    target("rbuf write 1 MiB / vchan streaming", F_RB_OUT_1M, F_OUT_VCHAN, false, 1.0);
    target("rbuf write 16 MiB / vchan streaming", F_RB_OUT_16M, F_OUT_VCHAN, false, 1.0);
    /* like for like: the same 1 MiB transfers made by hand over vchan (vchan_move) */
    target("rbuf read 1 MiB / vchan 1 MiB reads", F_RB_IN_1M, F_VC_IN_1M, false, 1.0);
    target("rbuf write 1 MiB / vchan 1 MiB writes", F_RB_OUT_1M, F_VC_OUT_1M, false, 1.0);
    pass(NULL);
    begin("profile");
    profile(v, &rb, peer);

    unsigned char rec[SMALL] = { 'Q' };
    vc_write_all(v, rec, sizeof(rec));
    libxenvchan_close(v);
    for (int i = 0; i < 100 && idc_send_message(&S.ep, OP_BYE, NULL, 0) == IDC_ERR_AGAIN; i++)
        idc_context_dispatch(S.ctx, 20);
    for (int i = 0; i < 5; i++)
        idc_context_dispatch(S.ctx, 20);
    side_close();
    return 0;
}

static unsigned parse_dom(const char *s)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || v > 0x7fef) {
        fprintf(stderr, "bad domid %s\n", s);
        exit(2);
    }
    return (unsigned)v;
}

int main(int argc, char **argv)
{
    report_init(SUITE);
    signal(SIGPIPE, SIG_IGN);
    if (argc == 2 && !strcmp(argv[1], "list")) {
        REPORT_LIST(SUITE, checks);
        return 0;
    }
    report_watchdog(WATCHDOG_S);
    if (argc == 3 && !strcmp(argv[1], "serve"))
        return serve(parse_dom(argv[2]));
    if (argc == 3 && !strcmp(argv[1], "measure"))
        return measure(parse_dom(argv[2]));
    fprintf(stderr, "usage: xenbench list | serve PEER | measure PEER\n");
    return 2;
}
