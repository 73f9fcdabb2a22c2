/*
 * xenprim: checks of the Xen primitives (xenprim.h) on a real hypervisor, run by the real-Xen
 * harness inside dom0 and a PV domU. Each check prints one Criterion-like line on stdout
 * (the console), prefixed with "@@idc " so the harness can find it among kernel messages
 * (report.h):
 *
 *   @@idc [PASS] xen_dom0_domu::ring_map_peer_grant: (0.12s)
 *   @@idc [----] reason of the failure that follows
 *   @@idc [FAIL] xen_dom0_domu::ring_map_peer_grant: (0.12s)
 *
 * Commands:
 *   xenprim list                      every check name the harness expects
 *   xenprim local                     server and client as two processes in this domain
 *   xenprim pair server PEER SVC      serve SVC to domain PEER (one side of a cross-domain pair)
 *   xenprim pair client PEER SVC      connect to SVC published by domain PEER
 *   xenprim linger PEER               grant a page and a port to PEER, publish them, sleep
 *   xenprim death PEER CMD...         map what PEER lingers with, run CMD (which destroys PEER),
 *                                     and detect the death through @releaseDomain
 *
 * The pair exchange is the handshake the idc xen transport uses, reduced to the primitives:
 * the server publishes a service directory (one transaction) readable only by the peer, with a
 * per-client directory the client may write; the client grants its ring page and an unbound
 * event channel port to the server and publishes them there; the server maps and binds; both
 * notify; the server grants a bulk buffer that the client copies from and to with grant copy,
 * then the server ends the grant and the client's next copy must fail.
 */
#include "report.h"
#include "xenprim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define STEP_MS    30000 /* longest wait for one peer step */
#define WATCHDOG_S 150   /* whole command */
#define BUF_PAGES  2
#define RING_MAGIC 0x69646378u /* "idcx" */
#define LINGER_KEY "data/idc-linger"

/* ------------------------------------------------------------------ reporting (report.h) */

#define CHECK(rc, what)                                       \
    do {                                                      \
        int rc_ = (rc);                                       \
        if (rc_ < 0)                                          \
            fail("%s: %s (%d)", (what), strerror(-rc_), rc_); \
    } while (0)

static void set_suite(unsigned server, unsigned client)
{
    report_pair_suite("xen", server, client);
}

/* ------------------------------------------------------------------ expected checks */

static const char *const server_checks[] = {
    "store_txn_conflict", "store_publish_txn",    "ring_map_peer_grant",
    "evtchn_bind_notify", "grant_copy_roundtrip",
};
static const char *const client_checks[] = {
    "store_watch_service", "store_perms_enforced", "evtchn_notify_back",
    "grant_copy_bounds",   "grant_copy_read",      "grant_copy_revoked",
};
static const char *const death_checks[] = {
    "domain_death_release_watch",
    "domain_death_unmap",
};

static int cmd_list(void)
{
    static const char *const suites[] = { "xen_dom0_dom0", "xen_domu_dom0", "xen_dom0_domu" };

    for (size_t i = 0; i < 3; i++) {
        REPORT_LIST(suites[i], server_checks);
        REPORT_LIST(suites[i], client_checks);
    }
    REPORT_LIST("xen_dom0_domu", death_checks);
    return 0;
}

/* ------------------------------------------------------------------ shared ring page */

/* First bytes of the ring page the client grants. Each side writes only its own fields;
 * the reader copies the header out once and validates it (the page is peer-writable). */
struct ring_hdr {
    uint32_t magic;              /* client */
    uint32_t c_seq;              /* client: step counter */
    uint32_t s_seq;              /* server: step counter */
    uint32_t buf_ref[BUF_PAGES]; /* server: grants of the bulk buffer */
    uint32_t buf_len;            /* server */
    uint32_t revoked;            /* server: 1 once the buffer grant has ended */
    char c_msg[64];              /* client */
    char s_msg[64];              /* server */
};

static void ring_read(const volatile void *ring, struct ring_hdr *out)
{
    /* pairs with the writer's release fence: fields are read after the seq they follow */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    memcpy(out, (const void *)ring, sizeof *out);
    out->c_msg[sizeof out->c_msg - 1] = '\0';
    out->s_msg[sizeof out->s_msg - 1] = '\0';
}

static void set_seq(volatile uint32_t *field, uint32_t v)
{
    /* the peer must see the data written before the counter that announces it */
    __atomic_store_n(field, v, __ATOMIC_RELEASE);
}

/* Wait until the peer's counter reaches `want` (events may coalesce, so re-check each time). */
static void wait_seq(struct xp_evtchn *e, const volatile void *ring, bool server_side,
                     uint32_t want, struct ring_hdr *h)
{
    double end = now_s() + STEP_MS / 1000.0;

    for (;;) {
        uint32_t port;
        int rc;

        ring_read(ring, h);
        if ((server_side ? h->c_seq : h->s_seq) >= want)
            return;
        if (now_s() > end)
            fail("peer did not reach step %u in %d ms (at %u)", want, STEP_MS,
                 server_side ? h->c_seq : h->s_seq);
        rc = xp_evtchn_wait(e, 1000, &port);
        if (rc < 0 && rc != -ETIMEDOUT)
            CHECK(rc, "xp_evtchn_wait");
    }
}

/* Wait until the xenstore node `path` holds `value`, driven by a watch on it. */
static void wait_value(struct xp_store *s, const char *path, const char *value)
{
    char buf[64], tok[16];
    double end = now_s() + STEP_MS / 1000.0;
    int rc;

    CHECK(xp_store_watch(s, path, "w"), "xp_store_watch");
    for (;;) {
        rc = xp_store_read(s, XP_TXN_NONE, path, buf, sizeof buf);
        if (rc == 0 && !strcmp(buf, value))
            break;
        if (rc < 0 && rc != -ENOENT && rc != -EACCES)
            CHECK(rc, path);
        if (now_s() > end)
            fail("%s did not become '%s' in %d ms (rc %d, '%s')", path, value, STEP_MS, rc,
                 rc ? "" : buf);
        rc = xp_store_next_event(s, 1000, NULL, 0, tok, sizeof tok);
        if (rc < 0 && rc != -ETIMEDOUT)
            CHECK(rc, "xp_store_next_event");
    }
    xp_store_unwatch(s, path, "w");
}

static uint8_t pattern(size_t i, unsigned salt)
{
    return (uint8_t)(i * 7u + salt * 13u + (i >> 12));
}

/* ------------------------------------------------------------------ server */

static void base_path(char *buf, size_t cap, unsigned server, const char *svc)
{
    snprintf(buf, cap, "/local/domain/%u/data/idc/%s", server, svc);
}

static bool perms_equal(const struct xp_perm *a, size_t na, const struct xp_perm *b, size_t nb)
{
    size_t i;

    if (na != nb)
        return false;
    for (i = 0; i < na; i++)
        if (a[i].domid != b[i].domid || a[i].perms != b[i].perms)
            return false;
    return true;
}

static void check_txn_conflict(struct xp_store *s, const char *base)
{
    char key[256], buf[32];
    xp_txn t1, t2;
    int rc;

    begin("store_txn_conflict");
    snprintf(key, sizeof key, "%s-probe", base);
    CHECK(xp_store_write(s, XP_TXN_NONE, key, "0"), "write probe");
    CHECK(xp_store_txn_begin(s, &t1), "txn 1");
    CHECK(xp_store_txn_begin(s, &t2), "txn 2");
    CHECK(xp_store_read(s, t1, key, buf, sizeof buf), "read in txn 1");
    CHECK(xp_store_read(s, t2, key, buf, sizeof buf), "read in txn 2");
    CHECK(xp_store_write(s, t1, key, "1"), "write in txn 1");
    CHECK(xp_store_write(s, t2, key, "2"), "write in txn 2");
    CHECK(xp_store_txn_end(s, t1, true), "commit txn 1");
    rc = xp_store_txn_end(s, t2, true);
    if (rc != -EAGAIN)
        fail("conflicting commit returned %d, want -EAGAIN", rc);
    CHECK(xp_store_read(s, XP_TXN_NONE, key, buf, sizeof buf), "read probe");
    if (strcmp(buf, "1"))
        fail("probe is '%s' after the conflict, want '1'", buf);
    /* the retry of the losing transaction goes through */
    CHECK(xp_store_txn_begin(s, &t2), "txn 2 retry");
    CHECK(xp_store_write(s, t2, key, "2"), "write in txn 2 retry");
    CHECK(xp_store_txn_end(s, t2, true), "commit txn 2 retry");
    CHECK(xp_store_read(s, XP_TXN_NONE, key, buf, sizeof buf), "read probe");
    if (strcmp(buf, "2"))
        fail("probe is '%s' after the retry, want '2'", buf);
    CHECK(xp_store_rm(s, XP_TXN_NONE, key), "rm probe");
    pass(NULL);
}

/* Publish the service directory in one transaction:
 *   BASE/protocol = "xenprim/1"   BASE/state = "2" (ready)      readable by the client only
 *   BASE/conn/CLIENT/{ring-ref,event-channel,state}             writable by the client
 *   BASE-secret                                                 readable by nobody else */
static void publish(struct xp_store *s, unsigned self, unsigned peer, const char *base)
{
    const struct xp_perm ro = { peer, XP_PERM_READ }, rw = { peer, XP_PERM_RDWR };
    static const char *const conn_keys[] = { "", "/ring-ref", "/event-channel", "/state" };
    char path[256], conn[256];
    int tries = 0, rc;
    size_t i;

    snprintf(conn, sizeof conn, "%s/conn/%u", base, peer);
    do {
        xp_txn t;

        CHECK(xp_store_txn_begin(s, &t), "txn begin");
        CHECK(xp_store_rm(s, t, base), "rm old service");
        CHECK(xp_store_write(s, t, base, ""), "write base");
        CHECK(xp_store_set_perms(s, t, base, self, XP_PERM_NONE, &ro, 1), "perms base");
        snprintf(path, sizeof path, "%s/protocol", base);
        CHECK(xp_store_write(s, t, path, "xenprim/1"), "write protocol");
        CHECK(xp_store_set_perms(s, t, path, self, XP_PERM_NONE, &ro, 1), "perms protocol");
        snprintf(path, sizeof path, "%s/conn", base);
        CHECK(xp_store_write(s, t, path, ""), "write conn");
        CHECK(xp_store_set_perms(s, t, path, self, XP_PERM_NONE, &ro, 1), "perms conn");
        for (i = 0; i < 4; i++) {
            snprintf(path, sizeof path, "%s%s", conn, conn_keys[i]);
            CHECK(xp_store_write(s, t, path, ""), "write conn key");
            CHECK(xp_store_set_perms(s, t, path, self, XP_PERM_NONE, &rw, 1), "perms conn key");
        }
        snprintf(path, sizeof path, "%s-secret", base);
        CHECK(xp_store_write(s, t, path, "not for the peer"), "write secret");
        CHECK(xp_store_set_perms(s, t, path, self, XP_PERM_NONE, NULL, 0), "perms secret");
        /* state last: a watcher that sees "2" finds everything above */
        snprintf(path, sizeof path, "%s/state", base);
        CHECK(xp_store_write(s, t, path, "2"), "write state");
        CHECK(xp_store_set_perms(s, t, path, self, XP_PERM_NONE, &ro, 1), "perms state");
        rc = xp_store_txn_end(s, t, true);
    } while (rc == -EAGAIN && ++tries < 10);
    CHECK(rc, "commit");
}

static int run_server(unsigned peer, const char *svc)
{
    struct xp_store *s;
    struct xp_gtab *gt;
    struct xp_gshr *gs;
    struct xp_evtchn *ev;
    struct ring_hdr h;
    char base[200], path[256];
    uint32_t ring_ref, port, lport, refs[BUF_PAGES];
    unsigned self;
    volatile struct ring_hdr *ring;
    void *ringp, *bufp;
    uint8_t *buf;
    size_t i, n;

    CHECK(xp_store_open(&s), "xp_store_open");
    CHECK(xp_store_self_domid(s, &self), "own domid");
    set_suite(self, peer);
    base_path(base, sizeof base, self, svc);

    check_txn_conflict(s, base);

    begin("store_publish_txn");
    publish(s, self, peer, base);
    {
        const struct xp_perm want_ro[2] = { { self, XP_PERM_NONE }, { peer, XP_PERM_READ } };
        const struct xp_perm want_rw[2] = { { self, XP_PERM_NONE }, { peer, XP_PERM_RDWR } };
        const struct xp_perm want_secret[1] = { { self, XP_PERM_NONE } };
        struct xp_perm got[8];
        char v[32];

        CHECK(xp_store_get_perms(s, XP_TXN_NONE, base, got, 8, &n), "get perms base");
        if (!perms_equal(got, n, want_ro, 2))
            fail("base perms: %zu entries, owner %u/%u", n, got[0].domid, got[0].perms);
        snprintf(path, sizeof path, "%s/conn/%u/ring-ref", base, peer);
        CHECK(xp_store_get_perms(s, XP_TXN_NONE, path, got, 8, &n), "get perms conn");
        if (!perms_equal(got, n, want_rw, 2))
            fail("conn perms: %zu entries", n);
        snprintf(path, sizeof path, "%s-secret", base);
        CHECK(xp_store_get_perms(s, XP_TXN_NONE, path, got, 8, &n), "get perms secret");
        if (!perms_equal(got, n, want_secret, 1))
            fail("secret perms: %zu entries", n);
        snprintf(path, sizeof path, "%s/protocol", base);
        CHECK(xp_store_read(s, XP_TXN_NONE, path, v, sizeof v), "read protocol");
        if (strcmp(v, "xenprim/1"))
            fail("protocol reads '%s'", v);
    }
    pass("published %s for domain %u", base, peer);

    begin("ring_map_peer_grant");
    snprintf(path, sizeof path, "%s/conn/%u/state", base, peer);
    wait_value(s, path, "3");
    snprintf(path, sizeof path, "%s/conn/%u/ring-ref", base, peer);
    CHECK(xp_store_read_u32(s, XP_TXN_NONE, path, UINT32_MAX, &ring_ref), "ring-ref");
    snprintf(path, sizeof path, "%s/conn/%u/event-channel", base, peer);
    CHECK(xp_store_read_u32(s, XP_TXN_NONE, path, UINT32_MAX, &port), "event-channel");
    CHECK(xp_gtab_open(&gt), "xp_gtab_open");
    CHECK(xp_gtab_map(gt, peer, 1, &ring_ref, true, &ringp), "map the client's ring grant");
    ring = ringp;
    ring_read(ring, &h);
    if (h.magic != RING_MAGIC || strcmp(h.c_msg, "hello from the client"))
        fail("ring page holds magic %#x '%s'", h.magic, h.c_msg);
    pass("mapped grant %u of domain %u", ring_ref, peer);

    begin("evtchn_bind_notify");
    CHECK(xp_evtchn_open(&ev), "xp_evtchn_open");
    CHECK(xp_evtchn_bind(ev, peer, port, &lport), "bind interdomain");
    snprintf(path, sizeof path, "%s/state", base);
    CHECK(xp_store_write(s, XP_TXN_NONE, path, "4"), "state connected");
    wait_seq(ev, ring, true, 1, &h); /* the client notifies once it sees "4" */
    strcpy((char *)ring->s_msg, "hello from the server");
    set_seq(&ring->s_seq, 1);
    CHECK(xp_evtchn_notify(ev, lport), "notify client");
    pass("port %u <-> %u", port, lport);

    begin("grant_copy_roundtrip");
    CHECK(xp_gshr_open(&gs), "xp_gshr_open");
    CHECK(xp_gshr_grant(gs, peer, BUF_PAGES, true, refs, &bufp), "grant the buffer");
    buf = bufp;
    for (i = 0; i < BUF_PAGES * XP_PAGE_SIZE; i++)
        buf[i] = pattern(i, 1);
    for (i = 0; i < BUF_PAGES; i++)
        ring->buf_ref[i] = refs[i];
    ring->buf_len = BUF_PAGES * XP_PAGE_SIZE;
    set_seq(&ring->s_seq, 2);
    CHECK(xp_evtchn_notify(ev, lport), "notify buffer");
    wait_seq(ev, ring, true, 3, &h); /* client copied out, wrote back, notified */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    for (i = 0; i < BUF_PAGES * XP_PAGE_SIZE; i++) {
        uint8_t want = (uint8_t)(0xffu ^ pattern(i, 1));
        if (buf[i] != want)
            fail("buffer byte %zu is %#x after the client's copy, want %#x", i, buf[i], want);
    }
    pass("%u bytes in grants %u,%u", BUF_PAGES * XP_PAGE_SIZE, refs[0], refs[1]);

    /* revoke: end the grant, then let the client try */
    CHECK(xp_gshr_end(gs, bufp, BUF_PAGES), "end the buffer grant");
    ring->revoked = 1;
    set_seq(&ring->s_seq, 3);
    CHECK(xp_evtchn_notify(ev, lport), "notify revoked");
    wait_seq(ev, ring, true, 4, &h);

    /* disconnect */
    snprintf(path, sizeof path, "%s/state", base);
    CHECK(xp_store_write(s, XP_TXN_NONE, path, "6"), "state closed");
    xp_evtchn_unbind(ev, lport);
    xp_gtab_unmap(gt, ringp, 1);
    snprintf(path, sizeof path, "%s/conn/%u/state", base, peer);
    wait_value(s, path, "6");
    xp_store_rm(s, XP_TXN_NONE, base);
    snprintf(path, sizeof path, "%s-secret", base);
    xp_store_rm(s, XP_TXN_NONE, path);
    xp_evtchn_close(ev);
    xp_gshr_close(gs);
    xp_gtab_close(gt);
    xp_store_close(s);
    return 0;
}

/* ------------------------------------------------------------------ client */

static int run_client(unsigned server, const char *svc)
{
    struct xp_store *s;
    struct xp_gshr *gs;
    struct xp_gtab *gt;
    struct xp_evtchn *ev;
    struct ring_hdr h;
    char base[200], path[256], v[64], num[16];
    uint32_t ring_ref, port, refs[BUF_PAGES];
    unsigned self;
    volatile struct ring_hdr *ring;
    void *ringp;
    uint8_t *local;
    size_t i, n;
    int rc, st;

    CHECK(xp_store_open(&s), "xp_store_open");
    CHECK(xp_store_self_domid(s, &self), "own domid");
    set_suite(server, self);
    base_path(base, sizeof base, server, svc);

    begin("store_watch_service");
    snprintf(path, sizeof path, "%s/state", base);
    wait_value(s, path, "2");
    snprintf(path, sizeof path, "%s/protocol", base);
    CHECK(xp_store_read(s, XP_TXN_NONE, path, v, sizeof v), "read protocol");
    if (strcmp(v, "xenprim/1"))
        fail("protocol reads '%s' once state is ready", v);
    pass(NULL);

    begin("store_perms_enforced");
    {
        const struct xp_perm want[2] = { { server, XP_PERM_NONE }, { self, XP_PERM_READ } };
        struct xp_perm got[8];
        bool privileged = self == 0;

        CHECK(xp_store_get_perms(s, XP_TXN_NONE, base, got, 8, &n), "get perms base");
        if (!perms_equal(got, n, want, 2))
            fail("service perms: %zu entries, owner %u", n, got[0].domid);
        if (!privileged) {
            snprintf(path, sizeof path, "%s-secret", base);
            rc = xp_store_read(s, XP_TXN_NONE, path, v, sizeof v);
            if (rc != -EACCES)
                fail("reading the secret returned %d, want -EACCES", rc);
            snprintf(path, sizeof path, "%s/state", base);
            rc = xp_store_write(s, XP_TXN_NONE, path, "5");
            if (rc != -EACCES)
                fail("writing the read-only state returned %d, want -EACCES", rc);
            snprintf(path, sizeof path, "%s/conn/%u/state", base, self);
            CHECK(xp_store_write(s, XP_TXN_NONE, path, "1"), "write own conn node");
            pass("domain %u: secret and state refused, own node written", self);
        } else {
            pass("privileged client: permissions read back only (dom0 bypasses them)");
        }
    }

    begin("evtchn_notify_back");
    CHECK(xp_gshr_open(&gs), "xp_gshr_open");
    CHECK(xp_gshr_grant(gs, server, 1, true, &ring_ref, &ringp), "grant the ring");
    ring = ringp;
    strcpy((char *)ring->c_msg, "hello from the client");
    set_seq(&ring->magic, RING_MAGIC);
    CHECK(xp_evtchn_open(&ev), "xp_evtchn_open");
    CHECK(xp_evtchn_alloc_unbound(ev, server, &port), "unbound port");
    {
        int tries = 0;
        do {
            xp_txn t;

            CHECK(xp_store_txn_begin(s, &t), "txn begin");
            snprintf(path, sizeof path, "%s/conn/%u/ring-ref", base, self);
            snprintf(num, sizeof num, "%u", ring_ref);
            CHECK(xp_store_write(s, t, path, num), "write ring-ref");
            snprintf(path, sizeof path, "%s/conn/%u/event-channel", base, self);
            snprintf(num, sizeof num, "%u", port);
            CHECK(xp_store_write(s, t, path, num), "write event-channel");
            snprintf(path, sizeof path, "%s/conn/%u/state", base, self);
            CHECK(xp_store_write(s, t, path, "3"), "write state");
            rc = xp_store_txn_end(s, t, true);
        } while (rc == -EAGAIN && ++tries < 10);
        CHECK(rc, "commit connect");
    }
    snprintf(path, sizeof path, "%s/state", base);
    wait_value(s, path, "4");
    set_seq(&ring->c_seq, 1);
    CHECK(xp_evtchn_notify(ev, port), "notify server");
    wait_seq(ev, ring, false, 1, &h);
    if (strcmp(h.s_msg, "hello from the server"))
        fail("ring reply '%s'", h.s_msg);
    pass("ring grant %u, port %u", ring_ref, port);

    wait_seq(ev, ring, false, 2, &h);
    /* copied once into h: validate before use */
    if (h.buf_len != BUF_PAGES * XP_PAGE_SIZE)
        fail("buffer length %u from the server", h.buf_len);
    memcpy(refs, h.buf_ref, sizeof refs);
    local = malloc(BUF_PAGES * XP_PAGE_SIZE);
    if (!local)
        fail("out of memory");

    begin("grant_copy_bounds");
    rc = xp_gtab_open(&gt);
    CHECK(rc, "xp_gtab_open");
    rc = xp_gtab_copy(gt, server, refs, BUF_PAGES, 100, local, BUF_PAGES * XP_PAGE_SIZE,
                      XP_COPY_FROM_PEER, &st);
    if (rc != -ERANGE)
        fail("copy past the buffer returned %d, want -ERANGE", rc);
    rc = xp_gtab_copy(gt, server, refs, BUF_PAGES, SIZE_MAX - 8, local, 16, XP_COPY_FROM_PEER, &st);
    if (rc != -ERANGE)
        fail("copy at a wrapping offset returned %d, want -ERANGE", rc);
    pass(NULL);

    begin("grant_copy_read");
    /* an unaligned piece across the page boundary, then the whole buffer */
    CHECK(xp_gtab_copy(gt, server, refs, BUF_PAGES, XP_PAGE_SIZE - 100, local, 300,
                       XP_COPY_FROM_PEER, &st),
          "copy across the page boundary");
    for (i = 0; i < 300; i++)
        if (local[i] != pattern(XP_PAGE_SIZE - 100 + i, 1))
            fail("byte %zu of the unaligned copy is %#x", i, local[i]);
    CHECK(xp_gtab_copy(gt, server, refs, BUF_PAGES, 0, local, BUF_PAGES * XP_PAGE_SIZE,
                       XP_COPY_FROM_PEER, &st),
          "copy the buffer");
    for (i = 0; i < BUF_PAGES * XP_PAGE_SIZE; i++) {
        if (local[i] != pattern(i, 1))
            fail("byte %zu is %#x, want %#x", i, local[i], pattern(i, 1));
        local[i] = (uint8_t)(0xffu ^ local[i]);
    }
    CHECK(xp_gtab_copy(gt, server, refs, BUF_PAGES, 0, local, BUF_PAGES * XP_PAGE_SIZE,
                       XP_COPY_TO_PEER, &st),
          "copy back to the buffer");
    set_seq(&ring->c_seq, 3);
    CHECK(xp_evtchn_notify(ev, port), "notify copied");
    pass("grants %u,%u of domain %u", refs[0], refs[1], server);

    begin("grant_copy_revoked");
    wait_seq(ev, ring, false, 3, &h);
    if (h.revoked != 1)
        fail("server step 3 without revocation");
    rc = xp_gtab_copy(gt, server, refs, BUF_PAGES, 0, local, 64, XP_COPY_FROM_PEER, &st);
    if (rc != -EACCES || st == 0)
        fail("copy after the grant ended returned %d status %d, want -EACCES and a GNTST code", rc,
             st);
    rc = xp_gtab_copy(gt, server, refs, BUF_PAGES, 0, local, 64, XP_COPY_TO_PEER, &st);
    if (rc != -EACCES || st == 0)
        fail("write after the grant ended returned %d status %d", rc, st);
    pass("copies refused with GNTST %d", st);
    set_seq(&ring->c_seq, 4);
    CHECK(xp_evtchn_notify(ev, port), "notify done");

    /* disconnect: the server unmaps the ring before ending it here */
    snprintf(path, sizeof path, "%s/state", base);
    wait_value(s, path, "6");
    xp_evtchn_unbind(ev, port);
    xp_gshr_end(gs, ringp, 1);
    snprintf(path, sizeof path, "%s/conn/%u/state", base, self);
    xp_store_write(s, XP_TXN_NONE, path, "6");
    free(local);
    xp_gtab_close(gt);
    xp_evtchn_close(ev);
    xp_gshr_close(gs);
    xp_store_close(s);
    return 0;
}

/* ------------------------------------------------------------------ local pair */

static int wait_child(pid_t pid)
{
    int st;

    if (waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int cmd_local(void)
{
    char svc[32];
    pid_t pid;
    int rc, crc;

    snprintf(svc, sizeof svc, "local%d", (int)getpid());
    fflush(stdout);
    pid = fork();
    if (pid < 0)
        fail("fork: %s", strerror(errno));
    if (pid == 0) {
        alarm(WATCHDOG_S);
        _exit(run_client(0, svc));
    }
    rc = run_server(0, svc);
    crc = wait_child(pid);
    return rc || crc ? 1 : 0;
}

/* ------------------------------------------------------------------ domain death */

/* In the domain that is about to be destroyed: grant a page and an unbound port to `peer`,
 * publish them under LINGER_KEY, then wait to be destroyed. */
static int cmd_linger(unsigned peer)
{
    struct xp_store *s;
    struct xp_gshr *gs;
    struct xp_evtchn *ev;
    uint32_t ref, port;
    void *p;
    char v[32];

    alarm(0);
    report_suite("xen_linger");
    CHECK(xp_store_open(&s), "xp_store_open");
    CHECK(xp_gshr_open(&gs), "xp_gshr_open");
    CHECK(xp_gshr_grant(gs, peer, 1, true, &ref, &p), "grant");
    strcpy(p, "lingering");
    CHECK(xp_evtchn_open(&ev), "xp_evtchn_open");
    CHECK(xp_evtchn_alloc_unbound(ev, peer, &port), "unbound port");
    snprintf(v, sizeof v, "%u %u", ref, port);
    CHECK(xp_store_write(s, XP_TXN_NONE, LINGER_KEY, v), "publish");
    printf("linger: grant %u port %u published for domain %u\n", ref, port, peer);
    fflush(stdout);
    for (;;)
        pause();
    return 0;
}

static int cmd_death(unsigned peer, char **cmd)
{
    struct xp_store *s;
    struct xp_gtab *gt;
    struct xp_evtchn *ev;
    char path[128], v[64], tok[32];
    unsigned ref, port;
    uint32_t lport, r;
    void *p;
    bool alive = true;
    double t0;
    pid_t pid;
    int rc, events = 0;

    set_suite(0, peer);
    begin("domain_death_release_watch");
    CHECK(xp_store_open(&s), "xp_store_open");
    snprintf(path, sizeof path, "/local/domain/%u/%s", peer, LINGER_KEY);
    {
        double end = now_s() + STEP_MS / 1000.0;
        while ((rc = xp_store_read(s, XP_TXN_NONE, path, v, sizeof v)) == -ENOENT && now_s() < end)
            usleep(100000);
        CHECK(rc, "the lingering domain's grant");
    }
    if (sscanf(v, "%u %u", &ref, &port) != 2)
        fail("bad linger value '%s'", v);
    r = ref;
    CHECK(xp_gtab_open(&gt), "xp_gtab_open");
    CHECK(xp_gtab_map(gt, peer, 1, &r, true, &p), "map the lingering grant");
    if (strcmp(p, "lingering"))
        fail("lingering page holds '%.16s'", (char *)p);
    CHECK(xp_evtchn_open(&ev), "xp_evtchn_open");
    CHECK(xp_evtchn_bind(ev, peer, port, &lport), "bind the lingering port");

    CHECK(xp_store_watch(s, XP_WATCH_RELEASE_DOMAIN, "death"), "watch @releaseDomain");
    /* the registration event */
    CHECK(xp_store_next_event(s, STEP_MS, NULL, 0, tok, sizeof tok), "initial watch event");
    CHECK(xp_store_domain_alive(s, peer, &alive), "domain alive");
    if (!alive)
        fail("domain %u is not alive before the destroy", peer);

    t0 = now_s();
    fflush(stdout);
    pid = fork();
    if (pid < 0)
        fail("fork: %s", strerror(errno));
    if (pid == 0) {
        execvp(cmd[0], cmd);
        _exit(127);
    }
    while (alive) {
        rc = xp_store_next_event(s, 1000, v, sizeof v, tok, sizeof tok);
        if (rc == 0)
            events++;
        else if (rc != -ETIMEDOUT)
            CHECK(rc, "watch event");
        if (now_s() - t0 > STEP_MS / 1000.0)
            fail("domain %u still alive %d s after '%s' (%d events)", peer, STEP_MS / 1000, cmd[0],
                 events);
        if (rc == 0)
            CHECK(xp_store_domain_alive(s, peer, &alive), "domain alive");
    }
    rc = wait_child(pid);
    if (rc != 0)
        fail("'%s' exited with %d", cmd[0], rc);
    if (events == 0)
        fail("domain died without a @releaseDomain event");
    pass("domain %u released %.2fs after '%s' (%d events)", peer, now_s() - t0, cmd[0], events);

    begin("domain_death_unmap");
    /* the dead domain's page stays ours until we unmap; then everything is released */
    if (strcmp(p, "lingering"))
        fail("mapped page changed to '%.16s' after the death", (char *)p);
    CHECK(xp_evtchn_notify(ev, lport), "notify the dead peer");
    CHECK(xp_evtchn_unbind(ev, lport), "unbind");
    CHECK(xp_gtab_unmap(gt, p, 1), "unmap the dead domain's grant");
    pass(NULL);
    xp_evtchn_close(ev);
    xp_gtab_close(gt);
    xp_store_close(s);
    return 0;
}

/* ------------------------------------------------------------------ main */

static int parse_domid(const char *s, unsigned *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || *end || end == s || v >= 0x7ff0)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: xenprim list | local | pair server|client PEER SVC | linger PEER |"
                    " death PEER CMD...\n");
    return 2;
}

int main(int argc, char **argv)
{
    unsigned peer;

    report_init("xen");
    report_watchdog(WATCHDOG_S);
    if (argc < 2)
        return usage();
    if (!strcmp(argv[1], "list"))
        return cmd_list();
    if (!strcmp(argv[1], "local"))
        return cmd_local();
    if (argc < 3 || parse_domid(argv[argc > 3 && !strcmp(argv[1], "pair") ? 3 : 2], &peer))
        return usage();
    if (!strcmp(argv[1], "pair") && argc == 5) {
        if (strlen(argv[4]) > 64 || strchr(argv[4], '/'))
            return usage();
        if (!strcmp(argv[2], "server"))
            return run_server(peer, argv[4]);
        if (!strcmp(argv[2], "client"))
            return run_client(peer, argv[4]);
        return usage();
    }
    if (!strcmp(argv[1], "linger") && argc == 3)
        return cmd_linger(peer);
    if (!strcmp(argv[1], "death") && argc >= 4)
        return cmd_death(peer, argv + 3);
    return usage();
}
