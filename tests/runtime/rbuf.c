/* Remote buffers across three processes: this process (A) registers memory and sends the
 * reference in a message to B, B forwards it untouched to C, and C transfers from/to it.
 * Revocation, rights and forged references fail with their own errors. */
#include "runtime/util.h"

#include <signal.h>
#include <sys/wait.h>

#define WAIT   5000
#define BUFLEN 65536

static struct idc_context *ctx;
static struct rtt_log logbuf;
static struct rtt_ep fe;
static pid_t pb, pc;
static uint32_t tag;

static void xfer_status(void *arg, int status)
{
    *(int *)arg = status;
}

/* Over fabric (check-fabric: this process and its peers on separate nodes), the transfers must
   be fabric's, not another transport's: the runtime says so at debug level, per transfer (the
   log callback gets every level). */
static bool over_fabric(void)
{
    const char *f = getenv("IDC_TEST_FABRIC");
    return f && *f;
}

static void up(void)
{
    ctx = rtt_ctx(&logbuf);
    pc = rtt_spawn("rtt_peer", "C", "--serve", "c", NULL);
    pb = rtt_spawn("rtt_peer", "B", "--serve", "b", "--connect", "c", NULL);
    cr_assert(rtt_wait_file(NULL, "B", "connect connect", 1, WAIT), "%s", rtt_file_text("B"));
    rtt_ep_create(&fe, ctx, IDC_ROLE_FRONTEND, "b", NULL);
    cr_assert(rtt_wait_connect(&fe, 1, WAIT), "log:\n%s", logbuf.buf);
}

static void down(void)
{
    cr_assert(rtt_ep_destroy(&fe, WAIT));
    rtt_stop(pb, SIGTERM, ctx, WAIT);
    rtt_stop(pc, SIGTERM, ctx, WAIT);
    idc_context_destroy(ctx);
}

/* Send rb through B to C for one transfer; returns C's status (data check in *data). */
static int via_c(const struct idc_rbuf *rb, uint32_t action, uint64_t off, uint64_t len,
                 uint64_t seed, char *data, size_t dsize)
{
    struct rtt_rbuf_msg m;
    memset(&m, 0, sizeof m);
    idc_rbuf_encode(rb, m.wire);
    m.tag = ++tag;
    m.action = action;
    m.offset = off;
    m.len = len;
    m.seed = seed;
    m.hops = 1;
    int rc;
    for (int i = 0;
         i < 100 && (rc = idc_send_message(&fe.ep, RTT_OP_RBUF, &m, sizeof m)) == IDC_ERR_AGAIN;
         i++)
        idc_context_dispatch(ctx, 10);
    cr_assert_eq(rc, 0, "send: %s", idc_strerror(rc));
    char prefix[64], line[512];
    snprintf(prefix, sizeof prefix, "rbuf tag=%u ", m.tag);
    /* A keeps dispatching: the owner may have to answer C */
    cr_assert(rtt_wait_file(ctx, "C", prefix, 1, WAIT), "tag %u never reported\nB: %s\nC: %s",
              m.tag, rtt_file_text("B"), rtt_file_text("C"));
    cr_assert(rtt_file_last("C", prefix, line, sizeof line));
    snprintf(prefix, sizeof prefix, "forward tag=%u rc=0", m.tag);
    cr_assert_eq(rtt_file_count("B", prefix), 1, "B did not forward: %s", rtt_file_text("B"));
    const char *d = strstr(line, "data=");
    snprintf(data, dsize, "%s", d ? d + 5 : "?");
    char *sp = strchr(data, ' ');
    if (sp)
        *sp = 0;
    return (int)rtt_field(line, "status");
}

RTT_TEST(rbuf, forward_a_b_c_transfer_then_revoke, 60)
{
    up();
    uint8_t *mem = NULL;
    int rc = idc_buffer_alloc(ctx, BUFLEN * 2, (void **)&mem);
    cr_assert_eq(rc, 0, "idc_buffer_alloc: %s", idc_strerror(rc));
    cr_assert_not_null(mem);
    for (size_t i = 0; i < BUFLEN; i++)
        mem[i] = rtt_pattern(1, i);
    struct idc_rbuf rb;
    rc = idc_buffer_register(ctx, mem, BUFLEN, IDC_RBUF_READ | IDC_RBUF_WRITE, &rb);
    cr_assert_eq(rc, 0, "register: %s", idc_strerror(rc));
    cr_assert_eq(rb.owner, idc_context_id(ctx));
    cr_assert_eq(rb.length, (uint64_t)BUFLEN);
    cr_assert_eq(rb.rights, IDC_RBUF_READ | IDC_RBUF_WRITE);
    static const uint8_t zero[16];
    cr_assert_neq(memcmp(rb.key, zero, 16), 0, "all-zero key");

    char data[32];
    /* C reads all of it */
    rc = via_c(&rb, RTT_RBUF_READ, 0, BUFLEN, 1, data, sizeof data);
    cr_assert_eq(rc, 0, "read: %s\nC: %s", idc_strerror(rc), rtt_file_text("C"));
    cr_assert_str_eq(data, "ok", "C read wrong data");
    /* C writes a piece; A sees exactly that piece change */
    rc = via_c(&rb, RTT_RBUF_WRITE, 4096, 8192, 2, data, sizeof data);
    cr_assert_eq(rc, 0, "write: %s", idc_strerror(rc));
    for (size_t i = 0; i < BUFLEN; i++) {
        uint8_t want = i >= 4096 && i < 4096 + 8192 ? rtt_pattern(2, i) : rtt_pattern(1, i);
        cr_assert_eq(mem[i], want, "byte %zu after C's write", i);
    }
    /* a partial read at the end */
    for (size_t i = 0; i < BUFLEN; i++)
        mem[i] = rtt_pattern(3, i);
    rc = via_c(&rb, RTT_RBUF_READ, BUFLEN - 5536, 5536, 3, data, sizeof data);
    cr_assert_eq(rc, 0);
    cr_assert_str_eq(data, "ok");
    /* out of range */
    rc = via_c(&rb, RTT_RBUF_READ, BUFLEN - 100, 101, 3, data, sizeof data);
    cr_assert_eq(rc, IDC_ERR_BADREF, "read past the end: %d", rc);
    rc = via_c(&rb, RTT_RBUF_WRITE, UINT64_MAX - 10, 100, 3, data, sizeof data);
    cr_assert_eq(rc, IDC_ERR_BADREF, "offset overflow: %d", rc);

    /* revoke: later transfers fail with IDC_ERR_REVOKED; memory untouched by a revoked write */
    cr_assert_eq(idc_buffer_unregister(ctx, &rb), 0);
    rc = via_c(&rb, RTT_RBUF_READ, 0, 16, 3, data, sizeof data);
    cr_assert_eq(rc, IDC_ERR_REVOKED, "read after unregister: %d", rc);
    rc = via_c(&rb, RTT_RBUF_WRITE, 0, 16, 9, data, sizeof data);
    cr_assert_eq(rc, IDC_ERR_REVOKED, "write after unregister: %d", rc);
    for (size_t i = 0; i < 16; i++)
        cr_assert_eq(mem[i], rtt_pattern(3, i), "revoked write landed at %zu", i);
    cr_assert_eq(idc_buffer_unregister(ctx, &rb), IDC_ERR_REVOKED);

    /* a new registration of the same memory works and has a fresh key; the allocation is
       shared writable, so a read-only registration in it is refused (it could not be sealed) */
    struct idc_rbuf rb2;
    cr_assert_eq(idc_buffer_register(ctx, mem, BUFLEN, IDC_RBUF_READ, &rb2), IDC_ERR_INVAL);
    cr_assert_eq(idc_buffer_register(ctx, mem, BUFLEN, IDC_RBUF_READ | IDC_RBUF_WRITE, &rb2), 0);
    cr_assert(memcmp(rb2.key, rb.key, 16) != 0 || rb2.id != rb.id ||
                  rb2.generation != rb.generation,
              "re-registration reuses the old capability");
    rc = via_c(&rb2, RTT_RBUF_READ, 0, 1024, 3, data, sizeof data);
    cr_assert_eq(rc, 0);
    cr_assert_str_eq(data, "ok");
    /* the old reference stays dead */
    rc = via_c(&rb, RTT_RBUF_READ, 0, 16, 3, data, sizeof data);
    cr_assert(rc == IDC_ERR_REVOKED || rc == IDC_ERR_BADREF, "stale reference: %d", rc);
    cr_assert_eq(idc_buffer_unregister(ctx, &rb2), 0);
    cr_assert_eq(idc_buffer_free(ctx, mem), 0);
    down();
}

/* A page, 1 MiB and 64 MiB, both ways, every byte compared: bulk moves as the transport moves
   bulk (one copy on shm, RMA between machines), never through frames. */
RTT_TEST(rbuf, sizes_4k_1m_64m_both_ways, 120)
{
    up();
    const size_t big = (size_t)64 << 20;
    uint8_t *mem = NULL;
    cr_assert_eq(idc_buffer_alloc(ctx, big, (void **)&mem), 0);
    struct idc_rbuf rb;
    cr_assert_eq(idc_buffer_register(ctx, mem, big, IDC_RBUF_READ | IDC_RBUF_WRITE, &rb), 0);
    static const size_t sizes[] = { 4096, (size_t)1 << 20, (size_t)64 << 20 };
    char data[32];
    for (unsigned k = 0; k < 3; k++) {
        size_t len = sizes[k];
        uint64_t seed = 100 + 2 * k;
        for (size_t i = 0; i < len; i++)
            mem[i] = rtt_pattern(seed, i);
        int rc = via_c(&rb, RTT_RBUF_READ, 0, len, seed, data, sizeof data);
        cr_assert_eq(rc, 0, "read of %zu bytes: %s\nC: %s", len, idc_strerror(rc),
                     rtt_file_text("C"));
        cr_assert_str_eq(data, "ok", "read of %zu bytes: wrong bytes", len);
        rc = via_c(&rb, RTT_RBUF_WRITE, 0, len, seed + 1, data, sizeof data);
        cr_assert_eq(rc, 0, "write of %zu bytes: %s", len, idc_strerror(rc));
        for (size_t i = 0; i < len; i++)
            if (mem[i] != rtt_pattern(seed + 1, i))
                cr_assert_fail("write of %zu bytes: byte %zu differs", len, i);
    }
    if (over_fabric()) /* this process owns the buffer: one line per transfer it served */
        cr_assert_geq(rtt_log_count(&logbuf, IDC_LOG_DEBUG, "bytes moved over fabric"), 6,
                      "the transfers did not go over fabric; log:\n%s", logbuf.buf);
    cr_assert_eq(idc_buffer_unregister(ctx, &rb), 0);
    cr_assert_eq(idc_buffer_free(ctx, mem), 0);
    down();
}

RTT_TEST(rbuf, wrong_rights_fail, 60)
{
    up();
    /* read-only and writable registrations live in separate allocations */
    uint8_t *mem = NULL, *memw = NULL;
    cr_assert_eq(idc_buffer_alloc(ctx, BUFLEN, (void **)&mem), 0);
    cr_assert_eq(idc_buffer_alloc(ctx, BUFLEN, (void **)&memw), 0);
    struct idc_rbuf ro, wo;
    for (size_t i = 0; i < 4096; i++)
        mem[i] = rtt_pattern(5, i);
    cr_assert_eq(idc_buffer_register(ctx, mem, 4096, IDC_RBUF_READ, &ro), 0);
    cr_assert_eq(idc_buffer_register(ctx, memw + 4096, 4096, IDC_RBUF_WRITE, &wo), 0);
    char data[32];
    /* the reference itself lacks the right */
    cr_assert_eq(via_c(&ro, RTT_RBUF_WRITE, 0, 64, 1, data, sizeof data), IDC_ERR_RIGHTS);
    cr_assert_eq(via_c(&wo, RTT_RBUF_READ, 0, 64, 1, data, sizeof data), IDC_ERR_RIGHTS);
    /* a holder that adds the right to its copy: the owner refuses */
    struct idc_rbuf forged = ro;
    forged.rights |= IDC_RBUF_WRITE;
    int rc = via_c(&forged, RTT_RBUF_WRITE, 0, 64, 1, data, sizeof data);
    cr_assert(rc == IDC_ERR_RIGHTS || rc == IDC_ERR_BADREF, "escalated write: %d", rc);
    for (size_t i = 0; i < 64; i++)
        cr_assert_eq(mem[i], rtt_pattern(5, i), "escalated write landed");
    forged = wo;
    forged.rights |= IDC_RBUF_READ;
    rc = via_c(&forged, RTT_RBUF_READ, 0, 64, 1, data, sizeof data);
    cr_assert(rc == IDC_ERR_RIGHTS || rc == IDC_ERR_BADREF, "escalated read: %d", rc);
    /* the honest uses work */
    cr_assert_eq(via_c(&ro, RTT_RBUF_READ, 0, 4096, 5, data, sizeof data), 0);
    cr_assert_str_eq(data, "ok");
    cr_assert_eq(via_c(&wo, RTT_RBUF_WRITE, 0, 4096, 6, data, sizeof data), 0);
    for (size_t i = 0; i < 4096; i++)
        cr_assert_eq(memw[4096 + i], rtt_pattern(6, i));
    down();
}

RTT_TEST(rbuf, forged_references_fail, 60)
{
    up();
    uint8_t *mem = NULL;
    cr_assert_eq(idc_buffer_alloc(ctx, BUFLEN, (void **)&mem), 0);
    struct idc_rbuf rb;
    cr_assert_eq(idc_buffer_register(ctx, mem, 8192, IDC_RBUF_READ | IDC_RBUF_WRITE, &rb), 0);
    char data[32];
    struct idc_rbuf f;
    /* one bit of the key */
    f = rb;
    f.key[7] ^= 0x10;
    cr_assert_eq(via_c(&f, RTT_RBUF_READ, 0, 64, 1, data, sizeof data), IDC_ERR_BADREF);
    cr_assert_eq(via_c(&f, RTT_RBUF_WRITE, 0, 64, 1, data, sizeof data), IDC_ERR_BADREF);
    for (size_t i = 0; i < 64; i++)
        cr_assert_eq(mem[i], 0, "forged write landed");
    /* another slot */
    f = rb;
    f.id ^= 0x55;
    int rc = via_c(&f, RTT_RBUF_READ, 0, 64, 1, data, sizeof data);
    cr_assert_eq(rc, IDC_ERR_BADREF, "forged id: %d", rc);
    /* a longer length than registered */
    f = rb;
    f.length = BUFLEN;
    rc = via_c(&f, RTT_RBUF_READ, 8192, 4096, 1, data, sizeof data);
    cr_assert_eq(rc, IDC_ERR_BADREF, "forged length: %d", rc);
    /* a future generation */
    f = rb;
    f.generation += 1;
    rc = via_c(&f, RTT_RBUF_READ, 0, 64, 1, data, sizeof data);
    cr_assert(rc == IDC_ERR_BADREF || rc == IDC_ERR_REVOKED, "forged generation: %d", rc);
    /* an owner that does not exist */
    f = rb;
    f.owner ^= 0x0123456789abcdefull;
    rc = via_c(&f, RTT_RBUF_READ, 0, 64, 1, data, sizeof data);
    cr_assert(rc == IDC_ERR_BADREF || rc == IDC_ERR_DISCONNECTED, "unknown owner: %d", rc);
    /* and the genuine one still works afterwards */
    for (size_t i = 0; i < 8192; i++)
        mem[i] = rtt_pattern(8, i);
    cr_assert_eq(via_c(&rb, RTT_RBUF_READ, 0, 8192, 8, data, sizeof data), 0);
    cr_assert_str_eq(data, "ok");
    down();
}

RTT_TEST(rbuf, wire_form_round_trip_and_validation, 10)
{
    struct idc_rbuf rb = { 0x1122334455667788ull, 7, 3, 4096, IDC_RBUF_READ, { 1, 2, 3 } };
    uint8_t w[IDC_RBUF_WIRE_SIZE];
    idc_rbuf_encode(&rb, w);
    /* little-endian layout from the contract */
    cr_assert_eq(rtt_get64(w), rb.owner);
    cr_assert_eq(w[8], 7);
    cr_assert_eq(w[12], 3);
    cr_assert_eq(rtt_get64(w + 16), 4096u);
    cr_assert_eq(w[24], IDC_RBUF_READ);
    cr_assert_eq(w[28] | w[29] | w[30] | w[31], 0);
    cr_assert_eq(w[32], 1);
    struct idc_rbuf back;
    cr_assert_eq(idc_rbuf_decode(&back, w), 0);
    cr_assert_eq(back.owner, rb.owner);
    cr_assert_eq(back.id, rb.id);
    cr_assert_eq(back.generation, rb.generation);
    cr_assert_eq(back.length, rb.length);
    cr_assert_eq(back.rights, rb.rights);
    cr_assert_eq(memcmp(back.key, rb.key, 16), 0);
    uint8_t bad[IDC_RBUF_WIRE_SIZE];
    memcpy(bad, w, sizeof bad);
    bad[24] = 4; /* unknown right */
    cr_assert_eq(idc_rbuf_decode(&back, bad), IDC_ERR_PROTO);
    memcpy(bad, w, sizeof bad);
    bad[29] = 1; /* reserved word */
    cr_assert_eq(idc_rbuf_decode(&back, bad), IDC_ERR_PROTO);
}

RTT_TEST(rbuf, local_argument_errors, 10)
{
    struct rtt_log log = { 0 };
    struct idc_context *c = rtt_ctx(&log);
    uint8_t *mem = NULL;
    cr_assert_eq(idc_buffer_alloc(c, 0, (void **)&mem), IDC_ERR_INVAL);
    cr_assert_eq(idc_buffer_alloc(c, 8192, (void **)&mem), 0);
    struct idc_rbuf rb;
    static uint8_t notours[4096];
    cr_assert_eq(idc_buffer_register(c, notours, 4096, IDC_RBUF_READ, &rb), IDC_ERR_INVAL);
    cr_assert_eq(idc_buffer_register(c, mem, 8193, IDC_RBUF_READ, &rb), IDC_ERR_INVAL);
    cr_assert_eq(idc_buffer_register(c, mem, 0, IDC_RBUF_READ, &rb), IDC_ERR_INVAL);
    cr_assert_eq(idc_buffer_register(c, mem, 64, 0, &rb), IDC_ERR_INVAL);
    cr_assert_eq(idc_buffer_register(c, mem, 64, 8, &rb), IDC_ERR_INVAL);
    cr_assert_eq(idc_buffer_free(c, notours), IDC_ERR_INVAL);
    cr_assert_eq(idc_buffer_register(c, mem, 64, IDC_RBUF_READ, &rb), 0);
    struct idc_rbuf f = rb;
    f.key[0] ^= 1;
    cr_assert_eq(idc_buffer_unregister(c, &f), IDC_ERR_BADREF);
    cr_assert_eq(idc_buffer_free(c, mem), 0);
    /* freeing revoked the registration */
    int rc = idc_buffer_unregister(c, &rb);
    cr_assert(rc == IDC_ERR_REVOKED || rc == IDC_ERR_BADREF, "unregister after free: %d", rc);
    idc_context_destroy(c);
}

/* A hostile holder talks to the owner's buffer service directly: forged references get no
 * descriptor; a read-only reference must not yield write access to the owner's memory. */
RTT_TEST(rbuf, buffer_service_refuses_forgeries_and_keeps_read_only, 30)
{
    struct rtt_log log = { 0 };
    struct idc_context *c = rtt_ctx(&log);
    uint8_t *mem = NULL;
    cr_assert_eq(idc_buffer_alloc(c, BUFLEN, (void **)&mem), 0);
    for (size_t i = 0; i < BUFLEN; i++)
        mem[i] = rtt_pattern(4, i);
    struct idc_rbuf rb;
    cr_assert_eq(idc_buffer_register(c, mem, 8192, IDC_RBUF_READ, &rb), 0);
    uint8_t w[IDC_RBUF_WIRE_SIZE];
    idc_rbuf_encode(&rb, w);
    char hex[2 * IDC_RBUF_WIRE_SIZE + 1];
    for (int i = 0; i < IDC_RBUF_WIRE_SIZE; i++)
        snprintf(hex + 2 * i, 3, "%02x", w[i]);
    rtt_spawn("rtt_hostile", "evil", "--role", "rbuf", "--rbuf", hex, NULL);
    cr_assert(rtt_wait_file(c, "evil", "done", 1, WAIT), "%s\nlog:\n%s", rtt_file_text("evil"),
              log.buf);
    char line[512];
    cr_assert(rtt_file_last("evil", "mapreq case=genuine ", line, sizeof line), "%s",
              rtt_file_text("evil"));
    cr_assert_eq(rtt_field(line, "status"), 0, "%s", line);
    cr_assert_eq(rtt_field(line, "nfd"), 2, "%s", line);
    cr_assert_not_null(strstr(line, "write_map=refused"),
                       "read-only descriptor mapped writable: %s", line);
    static const char *forged[] = { "badkey", "escalate", "biglen", "stalegen", "badid" };
    for (size_t i = 0; i < 5; i++) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "mapreq case=%s ", forged[i]);
        cr_assert(rtt_file_last("evil", prefix, line, sizeof line), "%s", rtt_file_text("evil"));
        long long st = rtt_field(line, "status");
        cr_assert(st == IDC_ERR_BADREF || st == IDC_ERR_RIGHTS || st == IDC_ERR_REVOKED,
                  "%s: status %lld", forged[i], st);
        cr_assert_eq(rtt_field(line, "nfd"), 0, "%s: descriptors handed out: %s", forged[i], line);
    }
    /* whatever the holder did, the owner's bytes are unchanged */
    for (size_t i = 0; i < BUFLEN; i++)
        cr_assert_eq(mem[i], rtt_pattern(4, i), "read-only registration written at byte %zu (%s)",
                     i, rtt_file_text("evil"));
    cr_assert(rtt_file_last("evil", "mapreq case=genuine ", line, sizeof line));
    cr_assert_null(strstr(line, "reopen_rw=wrote"),
                   "read-only reference turned writable by "
                   "re-opening the descriptor: %s",
                   line);
    cr_assert_null(strstr(line, "pwrite=wrote"), "read-only reference written with pwrite: %s",
                   line);
    cr_assert_null(strstr(line, "shrink=ok"), "holder shrank the owner's memory: %s", line);
    /* the owner still serves an honest local round trip of its own registration */
    uint8_t back[64];
    int st = 1;
    cr_assert_eq(idc_receive_from_remote_buffer(c, &rb, 0, back, sizeof back, xfer_status, &st), 0);
    RTT_DISPATCH_WHILE(c, st == 1, WAIT);
    cr_assert_eq(st, 0, "own transfer: %d", st);
    idc_context_destroy(c);
}

/* The owner is a peer process: this process reads and writes its buffer, then the owner is
 * killed; later transfers fail with IDC_ERR_DISCONNECTED (owner unreachable). */
static struct idc_rbuf offered;
static bool have_offer;
static int offer_msg(struct rtt_ep *e, uint16_t op, const void *p, size_t len)
{
    (void)e;
    struct rtt_rbuf_msg m;
    if (op != RTT_OP_RBUF || len != sizeof m)
        return 0;
    memcpy(&m, p, sizeof m);
    if (idc_rbuf_decode(&offered, m.wire) == 0)
        have_offer = true;
    return 0;
}

RTT_TEST(rbuf, owner_killed_transfers_fail_disconnected, 30)
{
    struct rtt_log log = { 0 };
    struct idc_context *c = rtt_ctx(&log);
    pid_t owner = rtt_spawn("rtt_peer", "owner", "--serve", "own", NULL);
    static struct rtt_ep e;
    e.on_message = offer_msg;
    rtt_ep_create(&e, c, IDC_ROLE_FRONTEND, "own", NULL);
    cr_assert(rtt_wait_connect(&e, 1, WAIT), "log:\n%s", log.buf);
    struct rtt_rbuf_msg m;
    memset(&m, 0, sizeof m);
    m.tag = 1;
    m.action = RTT_RBUF_OFFER;
    m.offset = IDC_RBUF_READ | IDC_RBUF_WRITE;
    m.len = 1 << 20;
    m.seed = 11;
    cr_assert_eq(idc_send_message(&e.ep, RTT_OP_RBUF, &m, sizeof m), 0);
    RTT_DISPATCH_WHILE(c, !have_offer, WAIT);
    cr_assert(have_offer, "no reference offered: %s", rtt_file_text("owner"));
    cr_assert_eq(offered.length, (uint64_t)(1 << 20));

    /* 1 MiB both ways */
    static uint8_t buf[1 << 20];
    int st = 1;
    cr_assert_eq(idc_receive_from_remote_buffer(c, &offered, 0, buf, sizeof buf, xfer_status, &st),
                 0);
    RTT_DISPATCH_WHILE(c, st == 1, WAIT);
    cr_assert_eq(st, 0, "read: %s", idc_strerror(st));
    for (size_t i = 0; i < sizeof buf; i++)
        cr_assert_eq(buf[i], rtt_pattern(11, i), "byte %zu", i);
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = rtt_pattern(12, i);
    st = 1;
    cr_assert_eq(idc_send_to_remote_buffer(c, &offered, 0, buf, sizeof buf, xfer_status, &st), 0);
    RTT_DISPATCH_WHILE(c, st == 1, WAIT);
    cr_assert_eq(st, 0, "write: %s", idc_strerror(st));
    memset(buf, 0, sizeof buf);
    st = 1;
    cr_assert_eq(idc_receive_from_remote_buffer(c, &offered, 4096, buf, 4096, xfer_status, &st), 0);
    RTT_DISPATCH_WHILE(c, st == 1, WAIT);
    cr_assert_eq(st, 0);
    for (size_t i = 0; i < 4096; i++)
        cr_assert_eq(buf[i], rtt_pattern(12, 4096 + i), "read back byte %zu", i);
    if (over_fabric()) /* this process holds the reference: one line per transfer it made */
        cr_assert_geq(rtt_log_count(&log, IDC_LOG_DEBUG, "bytes moved over fabric"), 3,
                      "the transfers did not go over fabric; log:\n%s", log.buf);

    rtt_stop(owner, SIGKILL, c, WAIT);
    cr_assert(rtt_wait_disconnect(&e, 1, WAIT));
    rtt_pump(c, 200);
    st = 1;
    int rc = idc_receive_from_remote_buffer(c, &offered, 0, buf, 64, xfer_status, &st);
    if (rc == 0) {
        RTT_DISPATCH_WHILE(c, st == 1, WAIT);
        rc = st;
    }
    cr_assert_eq(rc, IDC_ERR_DISCONNECTED, "transfer from a dead owner: %d (%s)", rc,
                 idc_strerror(rc));
    cr_assert(rtt_ep_destroy(&e, WAIT));
    idc_context_destroy(c);
}

/* A holder of a writable reference gets a writable descriptor: it may write the bytes, but must
 * not be able to shrink the memory under the owner (the owner would die of SIGBUS). */
RTT_TEST(rbuf, writable_holder_cannot_shrink_owner_memory, 30)
{
    struct rtt_log log = { 0 };
    struct idc_context *c = rtt_ctx(&log);
    uint8_t *mem = NULL;
    cr_assert_eq(idc_buffer_alloc(c, BUFLEN, (void **)&mem), 0);
    struct idc_rbuf rb;
    cr_assert_eq(idc_buffer_register(c, mem, 8192, IDC_RBUF_READ | IDC_RBUF_WRITE, &rb), 0);
    uint8_t w[IDC_RBUF_WIRE_SIZE];
    idc_rbuf_encode(&rb, w);
    char hex[2 * IDC_RBUF_WIRE_SIZE + 1];
    for (int i = 0; i < IDC_RBUF_WIRE_SIZE; i++)
        snprintf(hex + 2 * i, 3, "%02x", w[i]);
    rtt_spawn("rtt_hostile", "evil", "--role", "rbuf", "--rbuf", hex, NULL);
    cr_assert(rtt_wait_file(c, "evil", "done", 1, WAIT), "%s\nlog:\n%s", rtt_file_text("evil"),
              log.buf);
    char line[512];
    cr_assert(rtt_file_last("evil", "mapreq case=genuine ", line, sizeof line), "%s",
              rtt_file_text("evil"));
    cr_assert_eq(rtt_field(line, "status"), 0, "%s", line);
    cr_assert_null(strstr(line, "shrink=ok"), "a writable holder shrank the owner's memory: %s",
                   line);
    /* the owner can still touch every byte of its allocation (SIGBUS otherwise) */
    unsigned sum = 0;
    for (size_t i = 0; i < BUFLEN; i++)
        sum += mem[i];
    mem[BUFLEN - 1] = (uint8_t)sum;
    idc_context_destroy(c);
}
