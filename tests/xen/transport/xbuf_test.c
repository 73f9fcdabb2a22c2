/*
 * xbuf: libidc remote buffers between Xen domains (grant copy through the user's bounce pages),
 * through the runtime's public API, run by the real-Xen harness in dom0 and a PV domU. Result
 * lines are Criterion-like, prefixed with "@@idc " (see report.h):
 *
 *   @@idc [PASS] xbuf_dom0_domu::recv_1m: ... (0.52s)
 *
 * Suites are named xbuf_<owner>_<user> (dom0 or domu). The references and the few commands the
 * user gives the owner (check your bytes, unregister, die) travel through test nodes in
 * xenstore (/local/domain/<d>/data/xbuf-TAG/), not through a libidc endpoint, so these checks
 * exercise the buffer path alone.
 *
 * Commands:
 *   xbuf list                  every check name the harness expects
 *   xbuf owner PEER TAG        register buffers, publish their references, serve PEER's
 *                              commands; killed (SIGKILL, by itself) when the user says "die"
 *   xbuf user PEER TAG         the user's checks against the owner in domain PEER
 *   xbuf third BDOM TAG        a third context: takes the reference the user in domain BDOM
 *                              forwarded and moves bytes with it
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xenevtchn.h>
#include <xengnttab.h>
#include <xenstore.h>

#include "idc.h"
#include "report.h"
#include "wire.h" /* runtime/transports/xen: the request page, as the owner reads it */

#define WATCHDOG_S 85
#define STEP_MS    30000
#define MIB        (1024u * 1024u)
#define RW_LEN     (18u * MIB)
#define RO_LEN     (1u * MIB)
#define RV_LEN     (64u * 1024u)
#define THIRD_OFF  (16u * MIB + 8192u) /* the third context's region (no send of the user) */
#define THIRD_LEN  (1u * MIB)

/* ------------------------------------------------------------------ reporting (report.h) */

static void set_suite(unsigned owner, unsigned user)
{
    report_pair_suite("xbuf", owner, user);
}

static void log_fn(void *arg, int level, const char *msg)
{
    (void)arg;
    if (level <= IDC_LOG_WARN || getenv("IDC_DEBUG"))
        printf("xbuf[%d] %s\n", (int)getpid(), msg);
    fflush(stdout);
}

static const char *const user_checks[] = {
    "recv_4k",         "recv_1m",  "recv_16m",       "send_4k",       "send_1m",    "send_16m",
    "unaligned",       "inflight", "rights_refused", "range_refused", "forged_key", "revoked",
    "hostile_dropped", "forward",  "owner_killed",   "stale_node",
};

static void list(void)
{
    const char *suites[2] = { "xbuf_dom0_domu", "xbuf_domu_dom0" };
    for (int s = 0; s < 2; s++) {
        printf("%s::owner_publish\n", suites[s]);
        REPORT_LIST(suites[s], user_checks);
        printf("%s::third_transfers\n", suites[s]);
    }
}

/* ------------------------------------------------------------------ patterns */

/* Position-dependent bytes: a copy to the wrong offset never matches. */
static unsigned char pat(uint64_t off, unsigned seed)
{
    uint32_t h = (uint32_t)off * 2654435761u;
    return (unsigned char)((h >> 13) ^ (off >> 12) ^ (seed * 53u));
}

static void fill(unsigned char *p, uint64_t off, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = pat(off + i, seed);
}

/* Index of the first byte that differs, or -1. */
static long long diff_at(const unsigned char *a, const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return (long long)i;
    return -1;
}

/* ------------------------------------------------------------------ xenstore rendezvous */

static struct xs_handle *xs;
static unsigned self_dom;
static char tag[32];
static struct idc_context *ctx;

static unsigned parse_dom(const char *s)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || v > 0x7fef) {
        fprintf(stderr, "bad domain id '%s'\n", s);
        exit(2);
    }
    return (unsigned)v;
}

static void xs_setup(void)
{
    xs = xs_open(0);
    if (!xs)
        fail("xs_open: %s", strerror(errno));
    unsigned len = 0;
    char *v = xs_read(xs, XBT_NULL, "domid", &len);
    self_dom = v ? (unsigned)strtoul(v, NULL, 10) : 0;
    free(v);
    char dir[128];
    snprintf(dir, sizeof(dir), "/local/domain/%u/data/xbuf-%s", self_dom, tag);
    struct xs_permissions p[1] = { { .id = self_dom, .perms = XS_PERM_READ } };
    if (!xs_mkdir(xs, XBT_NULL, dir) || !xs_set_permissions(xs, XBT_NULL, dir, p, 1))
        fail("test node %s: %s", dir, strerror(errno));
}

static void put(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(const char *key, const char *fmt, ...)
{
    char path[160], v[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof(v), fmt, ap);
    va_end(ap);
    snprintf(path, sizeof(path), "/local/domain/%u/data/xbuf-%s/%s", self_dom, tag, key);
    if (!xs_write(xs, XBT_NULL, path, v, (unsigned)strlen(v)))
        fail("write %s: %s", path, strerror(errno));
}

/* Reads dom's key into buf; 0 when present. */
static int peek(unsigned dom, const char *key, char *buf, size_t cap)
{
    char path[160];
    snprintf(path, sizeof(path), "/local/domain/%u/data/xbuf-%s/%s", dom, tag, key);
    unsigned len = 0;
    char *v = xs_read(xs, XBT_NULL, path, &len);
    if (!v)
        return -1;
    snprintf(buf, cap, "%.*s", (int)len, v);
    free(v);
    return 0;
}

/* Waits (dispatching ctx) until dom's key exists and starts with prefix. */
static bool await(unsigned dom, const char *key, const char *prefix, char *buf, size_t cap, int ms)
{
    double end = now_s() + ms / 1000.0;
    while (now_s() < end) {
        if (peek(dom, key, buf, cap) == 0 && !strncmp(buf, prefix, strlen(prefix)))
            return true;
        if (ctx)
            idc_context_dispatch(ctx, 20);
        else
            usleep(20000);
    }
    return false;
}

static void put_ref(const char *key, const struct idc_rbuf *rb)
{
    uint8_t w[IDC_RBUF_WIRE_SIZE];
    char hex[2 * IDC_RBUF_WIRE_SIZE + 1];
    idc_rbuf_encode(rb, w);
    for (int i = 0; i < IDC_RBUF_WIRE_SIZE; i++)
        snprintf(hex + 2 * i, 3, "%02x", w[i]);
    put(key, "%s", hex);
}

static bool get_ref(unsigned dom, const char *key, struct idc_rbuf *rb, int ms)
{
    char hex[2 * IDC_RBUF_WIRE_SIZE + 8];
    if (!await(dom, key, "", hex, sizeof(hex), ms) || strlen(hex) != 2 * IDC_RBUF_WIRE_SIZE)
        return false;
    uint8_t w[IDC_RBUF_WIRE_SIZE];
    for (int i = 0; i < IDC_RBUF_WIRE_SIZE; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return false;
        w[i] = (uint8_t)v;
    }
    return idc_rbuf_decode(rb, w) == 0;
}

/* ------------------------------------------------------------------ owner */

static void owner(unsigned peer)
{
    set_suite(self_dom, peer);
    begin("owner_publish");
    void *rw, *ro, *rv;
    struct idc_rbuf rrw, rro, rrv;
    int r;
    if ((r = idc_buffer_alloc(ctx, RW_LEN, &rw)) || (r = idc_buffer_alloc(ctx, RO_LEN, &ro)) ||
        (r = idc_buffer_alloc(ctx, RV_LEN, &rv)))
        fail("idc_buffer_alloc: %s", idc_strerror(r));
    fill(rw, 0, RW_LEN, 1);
    fill(ro, 0, RO_LEN, 2);
    fill(rv, 0, RV_LEN, 4);
    if ((r = idc_buffer_register(ctx, rw, RW_LEN, IDC_RBUF_READ | IDC_RBUF_WRITE, &rrw)) ||
        (r = idc_buffer_register(ctx, ro, RO_LEN, IDC_RBUF_READ, &rro)) ||
        (r = idc_buffer_register(ctx, rv, RV_LEN, IDC_RBUF_READ | IDC_RBUF_WRITE, &rrv)))
        fail("idc_buffer_register: %s", idc_strerror(r));
    uint64_t id = idc_context_id(ctx);
    if ((id >> 48) != self_dom + 1 || rrw.owner != id)
        fail("owner id %016llx does not name domain %u", (unsigned long long)id, self_dom);
    char path[96];
    snprintf(path, sizeof(path), "/local/domain/%u/data/idc-rbuf/%016llx/state", self_dom,
             (unsigned long long)id);
    unsigned len = 0;
    char *v = xs_read(xs, XBT_NULL, path, &len);
    if (!v)
        fail("buffer service node %s missing: %s", path, strerror(errno));
    free(v);
    put_ref("rw", &rrw);
    put_ref("ro", &rro);
    put_ref("rv", &rrv);
    put("ready", "1");
    pass("owner id %016llx (domain %u + 1 in bits 63..48), %s published", (unsigned long long)id,
         self_dom, path);

    /* Serve, answering the user's commands "N VERB ARGS" with "N RESULT". */
    unsigned last = 0;
    double end = now_s() + 80;
    while (now_s() < end) {
        idc_context_dispatch(ctx, 20);
        char cmd[128];
        unsigned n;
        int used = 0;
        if (peek(peer, "cmd", cmd, sizeof(cmd)) || sscanf(cmd, "%u %n", &n, &used) < 1 || n == last)
            continue;
        last = n;
        const char *verb = cmd + used;
        unsigned long long off, clen;
        unsigned seed;
        if (!strcmp(verb, "unregister")) {
            r = idc_buffer_unregister(ctx, &rrv);
            put("ack", "%u %d", n, r);
        } else if (sscanf(verb, "check %llu %llu %u", &off, &clen, &seed) == 3 && off <= RW_LEN &&
                   clen <= RW_LEN - off) {
            long long bad = -1;
            for (size_t i = 0; i < clen && bad < 0; i++)
                if (((unsigned char *)rw)[off + i] != pat(off + i, seed))
                    bad = (long long)i;
            if (bad < 0)
                put("ack", "%u ok", n);
            else
                put("ack", "%u bad at %lld", n, bad);
        } else if (!strcmp(verb, "die")) {
            fflush(stdout);
            raise(SIGKILL); /* no cleanup at all: as when the process is killed */
        } else if (!strcmp(verb, "bye")) {
            break;
        } else {
            put("ack", "%u unknown", n);
        }
    }
    idc_context_destroy(ctx);
}

/* ------------------------------------------------------------------ user helpers */

struct op {
    bool done;
    int status;
};

static void op_done(void *arg, int status)
{
    struct op *o = arg;
    o->status = status;
    o->done = true;
}

static int wait_op(struct op *o, int ms)
{
    double end = now_s() + ms / 1000.0;
    while (!o->done && now_s() < end)
        idc_context_dispatch(ctx, 20);
    return o->done ? o->status : 1; /* 1: still pending */
}

/* A synchronous transfer: the call's own result, or the completion's. */
static int xfer(bool send, const struct idc_rbuf *rb, uint64_t off, void *p, size_t len)
{
    struct op o = { 0 };
    int r = send ? idc_send_to_remote_buffer(ctx, rb, off, p, len, op_done, &o)
                 : idc_receive_from_remote_buffer(ctx, rb, off, p, len, op_done, &o);
    if (r)
        return r;
    return wait_op(&o, STEP_MS);
}

static unsigned cmd_seq;
static unsigned owner_dom;

/* Gives the owner a command; returns its answer (after "N "). */
static const char *command(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *command(const char *fmt, ...)
{
    static char ack[128];
    char verb[96], want[16];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(verb, sizeof(verb), fmt, ap);
    va_end(ap);
    cmd_seq++;
    put("cmd", "%u %s", cmd_seq, verb);
    snprintf(want, sizeof(want), "%u ", cmd_seq);
    if (!await(owner_dom, "ack", want, ack, sizeof(ack), STEP_MS))
        fail("the owner did not answer '%s'", verb);
    return ack + strlen(want);
}

static unsigned char *mirror; /* what the owner's rw buffer must hold */

static void send_checked(const struct idc_rbuf *rb, uint64_t off, const unsigned char *src,
                         size_t len, unsigned seed, double *dt)
{
    double t0 = now_s();
    int st = xfer(true, rb, off, (void *)src, len);
    if (dt)
        *dt = now_s() - t0;
    if (st)
        fail("send of %zu bytes at %llu: %s", len, (unsigned long long)off, idc_strerror(st));
    memcpy(mirror + off, src, len);
    const char *a = command("check %llu %zu %u", (unsigned long long)off, len, seed);
    if (strcmp(a, "ok"))
        fail("the owner's bytes after a send of %zu at %llu: %s", len, (unsigned long long)off, a);
}

static void recv_checked(const struct idc_rbuf *rb, uint64_t off, unsigned char *dst, size_t len,
                         double *dt)
{
    memset(dst, 0xa5, len);
    double t0 = now_s();
    int st = xfer(false, rb, off, dst, len);
    if (dt)
        *dt = now_s() - t0;
    if (st)
        fail("receive of %zu bytes at %llu: %s", len, (unsigned long long)off, idc_strerror(st));
    long long d = diff_at(dst, mirror + off, len);
    if (d >= 0)
        fail("receive of %zu bytes at %llu: byte %lld differs", len, (unsigned long long)off, d);
}

static double mbs(size_t len, double dt)
{
    return dt > 0 ? (double)len / dt / 1e6 : 0;
}

/* ------------------------------------------------------------------ hostile user */

/* Knocks on the owner's buffer service with a hand-made link, then sends a malformed request
   (variant 0: slot out of range; 1: a request index far past the window). Returns the seconds
   until the owner dropped the link (its owner_live byte went to 0), or fails. */
static double hostile_link(unsigned odom, uint64_t owner, int variant)
{
    xengntshr_handle *gs = xengntshr_open(NULL, 0);
    xenevtchn_handle *ev = xenevtchn_open(NULL, 0);
    if (!gs || !ev)
        fail("opening the grant and event channel devices: %s", strerror(errno));
    xenevtchn_port_or_error_t port = xenevtchn_bind_unbound_port(ev, odom);
    uint32_t pref, refs[XB_WIN_PAGES];
    struct xb_page *pg = port < 0 ? NULL
                                  : xengntshr_share_page_notify(gs, odom, &pref, 1, 0,
                                                                (evtchn_port_t)port);
    void *win = pg ? xengntshr_share_pages(gs, odom, XB_WIN_PAGES, refs, 1) : NULL;
    if (!win)
        fail("hostile link: port or grants: %s", strerror(errno));
    memset(pg, 0, XEN_PAGE);
    pg->magic = XB_MAGIC;
    pg->epoch = 4242u + (unsigned)variant;
    memcpy(pg->refs, refs, sizeof(refs));
    __atomic_store_n(&pg->user_live, 1, __ATOMIC_RELEASE);
    uint64_t fake = ((uint64_t)(self_dom + 1) << 48) | (0x5eed0000ull + (unsigned)variant);
    char k[160], v[64];
    snprintf(k, sizeof(k), "/local/domain/%u/data/idc-rbuf/%016llx/fe/%u-%016llx", odom,
             (unsigned long long)owner, self_dom, (unsigned long long)fake);
    snprintf(v, sizeof(v), "%u %u %d", pg->epoch, pref, port);
    struct xs_permissions p[2] = { { .id = self_dom, .perms = XS_PERM_NONE },
                                   { .id = odom, .perms = XS_PERM_READ | XS_PERM_WRITE } };
    if (!xs_write(xs, XBT_NULL, k, v, (unsigned)strlen(v)) ||
        !xs_set_permissions(xs, XBT_NULL, k, p, 2))
        fail("hostile knock %s: %s", k, strerror(errno));
    double end = now_s() + 10;
    while (__atomic_load_n(&pg->answer, __ATOMIC_ACQUIRE) != XB_ANS_OK && now_s() < end)
        usleep(10000);
    if (pg->answer != XB_ANS_OK || !pg->owner_live)
        fail("the owner did not serve the hand-made link");
    if (variant == 0) {
        struct xb_req q = { .tag = 1, .op = XB_OP_READ, .slot = 200, .len = 10 };
        memcpy(&pg->req[0], &q, sizeof(q));
        __atomic_store_n(&pg->req_prod, 1, __ATOMIC_RELEASE);
    } else {
        __atomic_store_n(&pg->req_prod, 1000, __ATOMIC_RELEASE);
    }
    double t0 = now_s();
    xenevtchn_notify(ev, (evtchn_port_t)port);
    end = t0 + 10;
    while (__atomic_load_n(&pg->owner_live, __ATOMIC_ACQUIRE) && now_s() < end)
        usleep(10000);
    double dt = now_s() - t0;
    bool dropped = !pg->owner_live;
    xs_rm(xs, XBT_NULL, k);
    xengntshr_unshare(gs, win, XB_WIN_PAGES);
    xengntshr_unshare(gs, pg, 1);
    xenevtchn_unbind(ev, (evtchn_port_t)port);
    xenevtchn_close(ev);
    xengntshr_close(gs);
    if (!dropped)
        fail("variant %d: the owner still serves the link 10 s after a malformed request", variant);
    return dt;
}

/* ------------------------------------------------------------------ user */

static void user(unsigned peer)
{
    owner_dom = peer;
    set_suite(peer, self_dom);
    struct idc_rbuf rw, ro, rv;
    begin("recv_4k");
    char b[16];
    if (!await(peer, "ready", "1", b, sizeof(b), 60000) || !get_ref(peer, "rw", &rw, 1000) ||
        !get_ref(peer, "ro", &ro, 1000) || !get_ref(peer, "rv", &rv, 1000))
        fail("no references from the owner in domain %u", peer);
    if ((rw.owner >> 48) != peer + 1)
        fail("the reference's owner %016llx does not name domain %u", (unsigned long long)rw.owner,
             peer);
    mirror = malloc(RW_LEN);
    unsigned char *buf = malloc(RW_LEN + 64), *src = malloc(RW_LEN + 64);
    if (!mirror || !buf || !src)
        fail("out of memory");
    fill(mirror, 0, RW_LEN, 1);
    double dt;
    recv_checked(&rw, 0, buf, 4096, &dt);
    pass("4 KiB from domain %u in %.2f ms", peer, dt * 1e3);

    begin("recv_1m");
    recv_checked(&rw, 3 * 4096, buf, MIB, &dt);
    pass("1 MiB in %.1f ms: %.1f MB/s", dt * 1e3, mbs(MIB, dt));

    begin("recv_16m");
    recv_checked(&rw, 0, buf, 16 * MIB, &dt);
    pass("16 MiB in %.1f ms: %.1f MB/s", dt * 1e3, mbs(16 * MIB, dt));

    begin("send_4k");
    fill(src, 8192, 4096, 5);
    send_checked(&rw, 8192, src, 4096, 5, &dt);
    pass("4 KiB to domain %u in %.2f ms, the owner's bytes checked", peer, dt * 1e3);

    begin("send_1m");
    fill(src, MIB, MIB, 6);
    send_checked(&rw, MIB, src, MIB, 6, &dt);
    pass("1 MiB in %.1f ms: %.1f MB/s, the owner's bytes checked", dt * 1e3, mbs(MIB, dt));

    begin("send_16m");
    fill(src, 1, 16 * MIB, 7);
    send_checked(&rw, 1, src, 16 * MIB, 7, &dt);
    recv_checked(&rw, 0, buf, 16 * MIB + 2, NULL);
    pass("16 MiB at offset 1 in %.1f ms: %.1f MB/s, the owner's bytes checked, read back", dt * 1e3,
         mbs(16 * MIB, dt));

    begin("unaligned");
    {
        static const struct {
            uint64_t off;
            size_t len;
        } cases[] = {
            { 4095, 2 },      { 1, 8191 },         { 12345, 100001 },
            { 32767, 65538 }, { 4096 * 7 + 3, 1 }, { 5 * MIB - 17, 300007 },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            unsigned char *s = src + 3, *d = buf + 5; /* unaligned local memory too */
            fill(s, cases[i].off, cases[i].len, 8 + (unsigned)i);
            send_checked(&rw, cases[i].off, s, cases[i].len, 8 + (unsigned)i, NULL);
            recv_checked(&rw, cases[i].off - (cases[i].off > 0), d,
                         cases[i].len + (cases[i].off > 0), NULL);
        }
        pass("%zu sends and receives at odd offsets and lengths across page and window "
             "boundaries, unaligned local memory",
             sizeof(cases) / sizeof(cases[0]));
    }

    begin("inflight");
    {
        enum { N = 64, LEN = 40000 };
        static struct op ops[N];
        for (unsigned i = 0; i < N; i++) {
            ops[i] = (struct op){ 0 };
            int r = idc_receive_from_remote_buffer(ctx, &rw, (uint64_t)i * 40961u + 7,
                                                   buf + (size_t)i * LEN, LEN, op_done, &ops[i]);
            if (r)
                fail("submit %u: %s", i, idc_strerror(r));
        }
        for (unsigned i = 0; i < N; i++) {
            int st = wait_op(&ops[i], STEP_MS);
            if (st)
                fail("transfer %u: %d", i, st);
            long long d = diff_at(buf + (size_t)i * LEN, mirror + (uint64_t)i * 40961u + 7, LEN);
            if (d >= 0)
                fail("transfer %u: byte %lld differs", i, d);
        }
        pass("%d receives of %d bytes submitted at once, all right", N, LEN);
    }

    begin("rights_refused");
    {
        int st = xfer(true, &ro, 0, src, 4096);
        if (st != IDC_ERR_RIGHTS)
            fail("send to a read-only reference: %d", st);
        struct idc_rbuf forged = ro;
        forged.rights |= IDC_RBUF_WRITE;
        st = xfer(true, &forged, 0, src, 4096);
        if (st != IDC_ERR_RIGHTS)
            fail("send with rights added to the reference: %d (want IDC_ERR_RIGHTS)", st);
        unsigned char *want = malloc(RO_LEN);
        fill(want, 0, RO_LEN, 2);
        memset(buf, 0, RO_LEN);
        st = xfer(false, &ro, 0, buf, RO_LEN);
        if (st || diff_at(buf, want, RO_LEN) >= 0)
            fail("read-only buffer after the refusals: status %d, bytes %s", st,
                 diff_at(buf, want, RO_LEN) >= 0 ? "changed" : "intact");
        free(want);
        pass("refused locally and, with forged rights, by the owner; the bytes intact");
    }

    begin("range_refused");
    {
        int st = xfer(false, &rw, RW_LEN - 10, buf, 20);
        if (st != IDC_ERR_BADREF)
            fail("receive past the end: %d", st);
        struct idc_rbuf forged = rw;
        forged.length += 4096;
        st = xfer(false, &forged, RW_LEN, buf, 4096);
        if (st != IDC_ERR_BADREF)
            fail("receive past the end with a forged length: %d (want IDC_ERR_BADREF)", st);
        pass("refused locally and, with a forged length, by the owner");
    }

    begin("forged_key");
    {
        struct idc_rbuf forged = rw;
        forged.key[5] ^= 0x40;
        int st = xfer(false, &forged, 0, buf, 4096);
        int st2 = xfer(true, &forged, 0, src, 4096);
        if (st != IDC_ERR_BADREF || st2 != IDC_ERR_BADREF)
            fail("forged key: receive %d, send %d (want IDC_ERR_BADREF)", st, st2);
        forged = rw;
        forged.generation += 2;
        st = xfer(false, &forged, 0, buf, 4096);
        if (st != IDC_ERR_BADREF)
            fail("forged generation: %d", st);
        recv_checked(&rw, 0, buf, 8192, NULL);
        pass("forged key and generation refused by the owner, its bytes unchanged");
    }

    begin("revoked");
    {
        unsigned char want[4096];
        fill(want, 100, sizeof(want), 4);
        int st = xfer(false, &rv, 100, buf, sizeof(want));
        if (st || memcmp(buf, want, sizeof(want)))
            fail("before unregister: %d", st);
        const char *a = command("unregister");
        if (strcmp(a, "0"))
            fail("the owner's unregister: %s", a);
        st = xfer(false, &rv, 100, buf, sizeof(want));
        int st2 = xfer(true, &rv, 0, src, 10);
        if (st != IDC_ERR_REVOKED || st2 != IDC_ERR_REVOKED)
            fail("after unregister: receive %d, send %d (want IDC_ERR_REVOKED)", st, st2);
        pass("the transfer right after unregister fails with IDC_ERR_REVOKED");
    }

    begin("hostile_dropped");
    {
        double d0 = hostile_link(peer, rw.owner, 0);
        double d1 = hostile_link(peer, rw.owner, 1);
        recv_checked(&rw, 12345, buf, 70000, NULL); /* our own link is unaffected */
        pass("hand-made links dropped by the owner %.2f s after a request with its slot out of "
             "range and %.2f s after a request index past the window; our link still works",
             d0, d1);
    }

    begin("forward");
    {
        /* Forward the decoded reference, re-encoded, to a third context (dom0, another
           process); it moves bytes with it while the owner is alive. */
        put_ref("fwd", &rw);
        char res[128];
        if (!await(0, "third", "", res, sizeof(res), 60000))
            fail("no result from the third context");
        if (strncmp(res, "ok", 2))
            fail("third context: %s", res);
        fill(mirror + THIRD_OFF, THIRD_OFF, THIRD_LEN, 9);
        const char *a = command("check %u %u 9", THIRD_OFF, THIRD_LEN);
        if (strcmp(a, "ok"))
            fail("the owner's bytes after the third context's send: %s", a);
        recv_checked(&rw, THIRD_OFF - 1, buf, THIRD_LEN + 2, NULL);
        pass("third context: %s; the owner saw its bytes", res);
    }

    begin("owner_killed");
    {
        enum { N = 8 };
        static struct op ops[N];
        static bool busy[N];
        memset(busy, 0, sizeof(busy));
        int ok = 0, disc = 0, other = 0;
        cmd_seq++;
        put("cmd", "%u die", cmd_seq);
        double t0 = now_s(), t_first = 0, end = t0 + 20;
        while (now_s() < end && !t_first) {
            for (int i = 0; i < N; i++) {
                if (busy[i] && ops[i].done) {
                    busy[i] = false;
                    if (ops[i].status == 0)
                        ok++;
                    else if (ops[i].status == IDC_ERR_DISCONNECTED)
                        disc++, t_first = t_first ? t_first : now_s();
                    else
                        other++;
                }
                if (!busy[i] && !t_first) {
                    ops[i] = (struct op){ 0 };
                    int r = idc_receive_from_remote_buffer(
                        ctx, &rw, (uint64_t)i * MIB, buf + (size_t)i * MIB, MIB, op_done, &ops[i]);
                    if (r)
                        fail("submit: %s", idc_strerror(r));
                    busy[i] = true;
                }
            }
            idc_context_dispatch(ctx, 20);
        }
        if (!t_first)
            fail("no IDC_ERR_DISCONNECTED within 20 s of the owner's death (%d transfers ok)", ok);
        double t_end = now_s() + 10;
        int pending = 0;
        for (int i = 0; i < N; i++)
            if (busy[i]) {
                int st = wait_op(&ops[i], (int)((t_end - now_s()) * 1000));
                if (st == 1)
                    pending++;
                else if (st == IDC_ERR_DISCONNECTED)
                    disc++;
                else if (st == 0)
                    ok++;
                else
                    other++;
                busy[i] = false;
            }
        double t_all = now_s();
        int st = xfer(false, &rw, 0, buf, 4096);
        double t_next = now_s() - t_all;
        if (pending || other || st != IDC_ERR_DISCONNECTED || t_next > 5)
            fail("%d transfers still pending, %d with another error, the next transfer %d "
                 "after %.2f s",
                 pending, other, st, t_next);
        pass("owner killed: %d transfers completed, then %d failed with IDC_ERR_DISCONNECTED, "
             "the first %.2f s after the command, all %.2f s after; the next one failed in "
             "%.3f s",
             ok, disc, t_first - t0, t_all - t0, t_next);
    }

    begin("stale_node");
    {
        /* A new context knows nothing of the death: the owner's node is still there (its
           process had no chance to withdraw it); its knock is never answered. */
        struct idc_context *c2 = ctx;
        struct idc_context_options o = { .log = log_fn, .shm_dir = "/tmp/xbuf" };
        int r = idc_context_create(&ctx, &o);
        if (r)
            fail("idc_context_create: %s", idc_strerror(r));
        double t0 = now_s();
        int st = xfer(false, &rw, 0, buf, 4096);
        double dt = now_s() - t0;
        idc_context_destroy(ctx);
        ctx = c2;
        if (st != IDC_ERR_DISCONNECTED || dt > 10)
            fail("transfer against a dead owner's node: %d after %.2f s", st, dt);
        pass("IDC_ERR_DISCONNECTED after %.2f s (a dead owner's node answers no knock)", dt);
    }
    free(mirror);
    free(buf);
    free(src);
}

/* ------------------------------------------------------------------ third */

static void third(unsigned bdom)
{
    /* exactly one of the owner and the user is dom0 */
    set_suite(bdom == 0 ? 1 : 0, bdom);
    begin("third_transfers");
    struct idc_rbuf rw;
    if (!get_ref(bdom, "fwd", &rw, 70000)) {
        put("third", "fail: no forwarded reference");
        fail("no forwarded reference from domain %u", bdom);
    }
    unsigned char *buf = malloc(THIRD_LEN), *want = malloc(THIRD_LEN);
    if (!buf || !want)
        fail("out of memory");
    fill(want, THIRD_OFF, THIRD_LEN, 1);
    double t0 = now_s();
    int st = xfer(false, &rw, THIRD_OFF, buf, THIRD_LEN);
    double dt = now_s() - t0;
    if (st || diff_at(buf, want, THIRD_LEN) >= 0) {
        put("third", "fail: receive %d", st);
        fail("receive with the forwarded reference: %d", st);
    }
    fill(want, THIRD_OFF, THIRD_LEN, 9);
    st = xfer(true, &rw, THIRD_OFF, want, THIRD_LEN);
    if (st) {
        put("third", "fail: send %d", st);
        fail("send with the forwarded reference: %d", st);
    }
    put("third", "ok (1 MiB received in %.1f ms and sent)", dt * 1e3);
    pass("forwarded by domain %u: 1 MiB received (%.1f MB/s) and sent; the owner in domain "
         "%llu",
         bdom, mbs(THIRD_LEN, dt), (unsigned long long)(rw.owner >> 48) - 1);
    free(buf);
    free(want);
}

int main(int argc, char **argv)
{
    report_init("xbuf");
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 2 && !strcmp(argv[1], "list")) {
        list();
        return 0;
    }
    if (argc != 4 || strlen(argv[3]) >= sizeof(tag)) {
        fprintf(stderr, "usage: xbuf list | owner PEER TAG | user PEER TAG | third BDOM TAG\n");
        return 2;
    }
    report_watchdog(WATCHDOG_S);
    snprintf(tag, sizeof(tag), "%s", argv[3]);
    unsigned peer = parse_dom(argv[2]);
    xs_setup();
    struct idc_context_options o = { .log = log_fn, .shm_dir = "/tmp/xbuf" };
    int r = idc_context_create(&ctx, &o);
    if (r)
        fail("idc_context_create: %s", idc_strerror(r));
    if (!strcmp(argv[1], "owner"))
        owner(peer);
    else if (!strcmp(argv[1], "user"))
        user(peer);
    else if (!strcmp(argv[1], "third"))
        third(peer);
    else
        return 2;
    return 0;
}
