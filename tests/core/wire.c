/* wire.c - docs/protocol.md checked against the code, so the page cannot go stale silently.
 *
 * The page's marked blocks ("<!-- wire:NAME -->" followed by a fenced block) are read here:
 *   - the tiny protocol's IDL, its canonical text per version and its hashes (idlc in-process);
 *   - a complete shm exchange between a libidc frontend and a backend written by hand with the
 *     runtime's own structures and ring functions: HELLO, WELCOME, READY, a request frame, its
 *     response frame and a message frame, hex dumped, and the ring control blocks after each
 *     step;
 *   - the same exchange against a libidc backend, driven from the page's bytes: the REFUSE,
 *     WELCOME and response frame it writes must be the page's (the random epoch patched in);
 *   - every layout table ("<!-- wire:layout STRUCT -->") against offsetof/sizeof;
 *   - the remote buffer reference example against idc_rbuf_encode/decode.
 * On a mismatch the message shows what the code produced, in the page's format. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common.h"
#include "idlc.h"
#include "ring.h"
#include "shm/proto.h"
#include "transport.h"
#include "xen/wire.h"

TestSuite(wire, .timeout = 60);

#define EPOCH   0x1a2b3c4du /* the page's epoch (a real backend picks a random one) */
#define CREDITS 4u          /* max_transactions and max_messages of the example */

/* ------------------------------------------------------------------ the page */

static char *doc_text(void)
{
    FILE *f = fopen(IDC_SRCDIR "/docs/protocol.md", "r");
    cr_assert_not_null(f, "cannot open docs/protocol.md");
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        fwrite(tmp, 1, n, m);
    fclose(f);
    fclose(m);
    return buf;
}

/* The lines of the fenced block after "<!-- wire:NAME -->", each ending in a newline. */
static char *doc_block(const char *doc, const char *name)
{
    char marker[128];
    snprintf(marker, sizeof marker, "<!-- wire:%s -->", name);
    const char *p = strstr(doc, marker);
    cr_assert_not_null(p, "docs/protocol.md has no block %s", marker);
    p = strstr(p, "```");
    cr_assert_not_null(p, "block %s: no fence", name);
    p = strchr(p, '\n');
    cr_assert_not_null(p);
    p++;
    const char *e = p;
    while (*e && strncmp(e, "```", 3) != 0) {
        const char *nl = strchr(e, '\n');
        cr_assert_not_null(nl, "block %s is not closed", name);
        e = nl + 1;
    }
    cr_assert(*e, "block %s is not closed", name);
    return strndup(p, (size_t)(e - p));
}

/* hexdump -C style: "OOOO  xx xx xx xx xx xx xx xx  xx xx xx xx xx xx xx xx  |ascii|", a line
   equal to the one before it printed as "*" (once per run), then the length on a line. */
static char *dump(const void *p, size_t n)
{
    const unsigned char *b = p;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    bool star = false;
    for (size_t o = 0; o < n; o += 16) {
        size_t k = n - o < 16 ? n - o : 16;
        if (o && k == 16 && memcmp(b + o, b + o - 16, 16) == 0) {
            if (!star)
                fputs("*\n", f);
            star = true;
            continue;
        }
        star = false;
        fprintf(f, "%04zx ", o);
        for (size_t i = 0; i < 16; i++) {
            if (i == 8)
                fputc(' ', f);
            if (i < k)
                fprintf(f, " %02x", b[o + i]);
            else
                fputs("   ", f);
        }
        fputs("  |", f);
        for (size_t i = 0; i < k; i++)
            fputc(b[o + i] >= 0x20 && b[o + i] < 0x7f ? b[o + i] : '.', f);
        fputs("|\n", f);
    }
    fprintf(f, "%04zx\n", n);
    fclose(f);
    return out;
}

/* The bytes of a dump block (the inverse of dump); returns the length. */
static size_t undump(const char *text, unsigned char *out, size_t cap)
{
    size_t end = 0;
    bool star = false;
    unsigned char prev[16] = { 0 };
    memset(out, 0, cap);
    for (const char *l = text; *l;) {
        const char *nl = strchr(l, '\n');
        if (*l == '*') {
            star = true;
        } else {
            char *q;
            size_t off = strtoul(l, &q, 16);
            cr_assert_leq(off, cap, "dump offset %zx beyond %zu bytes", off, cap);
            for (size_t o = end; star && o < off; o += 16)
                memcpy(out + o, prev, off - o < 16 ? off - o : 16);
            star = false;
            size_t k = 0;
            for (;;) {
                while (*q == ' ')
                    q++;
                if (*q == '|' || *q == '\n' || !*q)
                    break;
                unsigned v;
                cr_assert_eq(sscanf(q, "%2x", &v), 1, "bad dump line: %.60s", l);
                cr_assert_lt(off + k, cap);
                out[off + k++] = (unsigned char)v;
                q += 2;
            }
            if (k == 16)
                memcpy(prev, out + off, 16);
            end = off + k;
        }
        l = nl ? nl + 1 : l + strlen(l);
    }
    return end;
}

static void expect_block(const char *doc, const char *name, const char *actual)
{
    char *want = doc_block(doc, name);
    cr_expect_str_eq(actual, want,
                     "docs/protocol.md block \"%s\" differs from the code; the code gives:\n%s",
                     name, actual);
    free(want);
}

static void expect_dump(const char *doc, const char *name, const void *p, size_t n)
{
    char *d = dump(p, n);
    expect_block(doc, name, d);
    free(d);
}

/* The page's bytes of a dump block. */
static size_t doc_bytes(const char *doc, const char *name, unsigned char *out, size_t cap)
{
    char *t = doc_block(doc, name);
    size_t n = undump(t, out, cap);
    free(t);
    return n;
}

/* ------------------------------------------------------------------ the tiny protocol */

static uint64_t tiny_hash[IDC_MAX_VERSIONS];
static struct idc_protocol tiny;

/* Compiles the page's IDL; fills tiny from it (name, versions, hashes, max_frame). */
static struct idlc_ctx *tiny_compile(const char *doc, struct idlc_unit **unit)
{
    char *idl = doc_block(doc, "tiny.idl");
    struct idlc_options opt;
    idlc_options_init(&opt);
    opt.diag_out = stderr;
    opt.check_only = true;
    struct idlc_ctx *ictx = idlc_ctx_create(&opt);
    struct idlc_unit *u = idlc_parse_string(ictx, "tiny.idl", idl);
    cr_assert_not_null(u);
    cr_assert_eq(idlc_check(ictx, u), 0, "the page's IDL does not check");
    free(idl);
    cr_assert_leq(u->version, IDC_MAX_VERSIONS);
    for (uint32_t v = 1; v <= u->version; v++)
        tiny_hash[v - 1] = idlc_version_hash(u, v);
    static char name[IDC_PROTOCOL_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", u->name);
    tiny = (struct idc_protocol){ .name = name,
                                  .min_version = 1,
                                  .max_version = u->version,
                                  .version_hash = tiny_hash,
                                  .max_frame = (uint32_t)u->max_frame };
    *unit = u;
    return ictx;
}

static void tiny_load(const char *doc)
{
    struct idlc_unit *u;
    idlc_ctx_destroy(tiny_compile(doc, &u));
}

/* ------------------------------------------------------------------ sockets, rings */

static int send_rec(int fd, const void *rec, size_t len, const int *fds, int nfds)
{
    struct iovec iov = { .iov_base = (void *)rec, .iov_len = len };
    union {
        char buf[CMSG_SPACE(sizeof(int) * 3)];
        struct cmsghdr align;
    } u;
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (nfds) {
        memset(&u, 0, sizeof u);
        mh.msg_control = u.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
    }
    return sendmsg(fd, &mh, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* Dispatches ctx until one record arrives on fd (non-blocking); returns its length. */
static ssize_t recv_rec(struct idc_context *ctx, int fd, void *buf, size_t cap, int *fds, int *nfds)
{
    for (int i = 0; i < 500; i++) {
        struct iovec iov = { .iov_base = buf, .iov_len = cap };
        union {
            char buf[CMSG_SPACE(sizeof(int) * 4)];
            struct cmsghdr align;
        } u;
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf
        };
        ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n >= 0) {
            cr_assert_eq(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC), 0, "record truncated");
            int got = 0;
            for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
                    got = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                    memcpy(fds, CMSG_DATA(cm), sizeof(int) * (size_t)got);
                }
            if (nfds)
                *nfds = got;
            return n;
        }
        idc_context_dispatch(ctx, 10);
    }
    cr_assert_fail("no record within 5 s");
    return -1;
}

static int listen_at(const char *dir, const char *name)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%s.sock", dir, name);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(fd, 4), 0);
    return fd;
}

static int connect_to(const char *dir, const char *name)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%s.sock", dir, name);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static uint32_t ld32(const volatile uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* One line of the control-block table: the step, the ring, its five indexes. */
static void ctrl_line(FILE *f, const char *step, int ring, const struct idc_ring_ctrl *c)
{
    fprintf(f, "%-20s %4d  %4u  %12u  %4u  %8u  %10u\n", step, ring, ld32(&c->prod),
            ld32(&c->credit_event), ld32(&c->cons), ld32(&c->msg_cons), ld32(&c->prod_event));
    for (size_t i = 0; i < sizeof c->pad_; i++)
        cr_assert_eq(c->pad_[i], 0, "control block padding written");
}

static void ctrl_step(FILE *f, const char *step, void *r0, void *r1)
{
    ctrl_line(f, step, 0, r0);
    ctrl_line(f, step, 1, r1);
}

static uint64_t efd_take(int fd)
{
    uint64_t v = 0;
    if (read(fd, &v, sizeof v) != (ssize_t)sizeof v)
        return 0;
    return v;
}

static void efd_poke(int fd)
{
    uint64_t one = 1;
    cr_assert_eq(write(fd, &one, sizeof one), (ssize_t)sizeof one);
}

/* ------------------------------------------------------------------ a libidc frontend */

static struct {
    bool connected, done;
    int status;
    unsigned char result[64];
    size_t len;
} fe;

static void fe_connect(struct idc_endpoint *ep)
{
    (void)ep;
    fe.connected = true;
}
static void fe_disconnect(struct idc_endpoint *ep)
{
    fe.connected = false;
    idc_endpoint_disconnect_done(ep);
}
static int fe_message(struct idc_endpoint *ep, uint16_t op, const void *p, size_t len)
{
    (void)ep;
    (void)op;
    (void)p;
    (void)len;
    return IDC_ERR_PROTO;
}
static int fe_transaction(struct idc_endpoint *ep, struct idc_request *req, uint16_t op,
                          const void *p, size_t len)
{
    (void)ep;
    (void)req;
    (void)op;
    (void)p;
    (void)len;
    return IDC_ERR_PROTO;
}
static void fe_done(struct idc_txn *t, int status, const void *result, size_t len)
{
    (void)t;
    fe.done = true;
    fe.status = status;
    fe.len = len < sizeof fe.result ? len : sizeof fe.result;
    if (result)
        memcpy(fe.result, result, fe.len);
}
static const struct idc_endpoint_ops fe_ops = { .connect = fe_connect,
                                                .disconnect = fe_disconnect,
                                                .handle_message = fe_message,
                                                .handle_transaction = fe_transaction };

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The page's exchange: a libidc frontend against a backend written here with the runtime's
   structures and ring code. Every record and frame the page shows comes out of this test. */
Test(wire, shm_exchange_with_a_libidc_frontend)
{
    char *doc = doc_text();
    tiny_load(doc);
    const char *dir = rt_tmpdir();
    struct rt_log log = { 0 };
    struct idc_context *ctx = rt_ctx(dir, &log);
    cr_assert_not_null(ctx);
    /* The fd handed out: the frontend keeps its ring armed between dispatch calls, so the
       control blocks below do not depend on timing. */
    cr_assert_geq(idc_context_fd(ctx), 0);
    int lfd = listen_at(dir, "tiny");

    struct idc_endpoint ep;
    struct idc_endpoint_config cfg = { .protocol = &tiny,
                                       .role = IDC_ROLE_FRONTEND,
                                       .address = "shm:tiny",
                                       .ops = &fe_ops,
                                       .max_transactions = CREDITS,
                                       .max_messages = CREDITS };
    idc_endpoint_create(&ep, ctx, &cfg);

    /* HELLO */
    int sfd = -1;
    for (int i = 0; i < 500 && sfd < 0; i++) {
        idc_context_dispatch(ctx, 10);
        sfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    }
    cr_assert_geq(sfd, 0, "the frontend never connected; log:\n%s", log.text);
    struct idc_shm_hello hello;
    cr_assert_eq(recv_rec(ctx, sfd, &hello, sizeof hello, NULL, NULL), (ssize_t)sizeof hello);
    expect_dump(doc, "hello", &hello, sizeof hello);

    /* WELCOME: what an honest backend answers (the version by the runtime's own rule) */
    uint32_t version = idc__offer_version(&tiny, hello.min_version, hello.max_version, hello.hash,
                                          IDC_MAX_VERSIONS);
    uint32_t frame = hello.max_frame < tiny.max_frame ? hello.max_frame : tiny.max_frame;
    uint32_t tx = hello.max_transactions < 64 ? hello.max_transactions : 64;
    uint32_t msg = hello.max_messages < 64 ? hello.max_messages : 64;
    uint32_t ring = idc_ring_size_for(msg + 2 * tx, frame);
    cr_assert_eq(version, 2);
    size_t rb = idc_ring_bytes(ring);
    int memfd = memfd_create("idc-rings", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    cr_assert_geq(memfd, 0);
    cr_assert_eq(ftruncate(memfd, (off_t)(2 * rb)), 0);
    cr_assert_eq(fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), 0);
    unsigned char *map = mmap(NULL, 2 * rb, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    cr_assert_neq(map, MAP_FAILED);
    unsigned char *r0 = map, *r1 = map + rb; /* frontend -> backend, backend -> frontend */
    idc_ring_init_shared(r0);
    idc_ring_init_shared(r1);
    int efd_fe = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int efd_be = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    cr_assert(efd_fe >= 0 && efd_be >= 0);
    struct idc_shm_welcome w = { .magic = IDC_SHM_MAGIC,
                                 .type = IDC_SHM_WELCOME,
                                 .wire = IDC_SHM_WIRE,
                                 .version = version,
                                 .epoch = EPOCH,
                                 .max_frame = frame,
                                 .max_transactions = tx,
                                 .max_messages = msg,
                                 .ring_size = ring };
    expect_dump(doc, "welcome", &w, sizeof w);
    int fds[3] = { memfd, efd_fe, efd_be };
    cr_assert_eq(send_rec(sfd, &w, sizeof w, fds, 3), 0);
    close(memfd);

    /* READY */
    struct idc_shm_ready rd;
    cr_assert_eq(recv_rec(ctx, sfd, &rd, sizeof rd, NULL, NULL), (ssize_t)sizeof rd, "log:\n%s",
                 log.text);
    expect_dump(doc, "ready", &rd, sizeof rd);
    struct idc_ring_rx rx0; /* the backend consumes ring 0 and produces ring 1 */
    struct idc_ring_tx tx1;
    idc_ring_rx_attach(&rx0, r0, ring, frame);
    idc_ring_tx_attach(&tx1, r1, ring, msg);
    for (int i = 0; i < 500 && !fe.connected; i++)
        idc_context_dispatch(ctx, 10);
    cr_assert(fe.connected, "log:\n%s", log.text);
    cr_assert_eq(idc_endpoint_version(&ep), 2);
    idc_context_dispatch(ctx, 0);

    char *steps = NULL;
    size_t steps_len = 0;
    FILE *sf = open_memstream(&steps, &steps_len);
    fprintf(sf, "%-20s %4s  %4s  %12s  %4s  %8s  %10s\n", "step", "ring", "prod", "credit_event",
            "cons", "msg_cons", "prod_event");
    ctrl_step(sf, "connected", r0, r1);

    /* The frontend's request: add(a = 2, b = 3), opcode 1, sent outside dispatch (so its
       notify decision is taken at once: ring 0's prod_event asks for it). */
    unsigned char args[8];
    put32(args, 2);
    put32(args + 4, 3);
    struct idc_txn txn = { .done = fe_done };
    cr_assert_eq(idc_submit_transaction(&ep, &txn, 1, args, sizeof args), 0);
    cr_assert_eq(efd_take(efd_be), 1, "the frontend did not wake the backend");
    ctrl_step(sf, "request published", r0, r1);
    expect_dump(doc, "request", r0 + IDC_RING_CTRL_SIZE, idc_frame_size(8));

    /* The backend takes it and answers sum = 5 (status 0), with the runtime's ring code. */
    cr_assert_eq(idc_ring_rx_poll(&rx0), idc_frame_size(8));
    struct idc_frame_hdr h;
    unsigned char pl[64];
    cr_assert_eq(idc_ring_rx_pop(&rx0, &h, pl), 0);
    cr_assert_eq(h.kind, IDC_FRAME_REQUEST);
    cr_assert_eq(h.epoch, EPOCH);
    cr_assert_eq(h.txn, 0x1000, "first transaction id: sequence 1, slot 0");
    cr_assert_not(idc_ring_rx_publish(&rx0), "a request returns no message credit");
    unsigned char sum[4];
    put32(sum, get32(pl) + get32(pl + 4));
    struct idc_frame_hdr resp = { .kind = IDC_FRAME_RESPONSE,
                                  .opcode = h.opcode,
                                  .length = sizeof sum,
                                  .epoch = EPOCH,
                                  .txn = h.txn,
                                  .status = 0 };
    cr_assert_eq(idc_ring_push(&tx1, &resp, sum), 0);
    cr_assert(idc_ring_tx_need_notify(&tx1), "ring 1's prod_event asks for a notification");
    efd_poke(efd_fe);
    cr_assert_not(idc_ring_rx_arm(&rx0, 0), "nothing new on ring 0");
    ctrl_step(sf, "response published", r0, r1);
    expect_dump(doc, "response", r1 + IDC_RING_CTRL_SIZE, idc_frame_size(4));

    for (int i = 0; i < 500 && !fe.done; i++)
        idc_context_dispatch(ctx, 10);
    cr_assert(fe.done, "log:\n%s", log.text);
    cr_assert_eq(fe.status, 0);
    cr_assert_eq(fe.len, 4);
    cr_assert_eq(get32(fe.result), 5);
    idc_context_dispatch(ctx, 0);
    ctrl_step(sf, "response consumed", r0, r1);

    /* A message: note(level = 3), opcode 2 (version 2), one message credit. */
    unsigned char level = 3;
    cr_assert_eq(idc_send_message(&ep, 2, &level, 1), 0);
    cr_assert_eq(efd_take(efd_be), 1, "the frontend did not wake the backend");
    ctrl_step(sf, "message published", r0, r1);
    expect_dump(doc, "message", r0 + IDC_RING_CTRL_SIZE + idc_frame_size(8), idc_frame_size(1));
    cr_assert_eq(idc_ring_rx_poll(&rx0), idc_frame_size(1));
    cr_assert_eq(idc_ring_rx_pop(&rx0, &h, pl), 0);
    cr_assert_eq(h.kind, IDC_FRAME_MESSAGE);
    cr_assert_not(idc_ring_rx_publish(&rx0), "the frontend did not wait for credit");
    cr_assert_not(idc_ring_rx_arm(&rx0, 0));
    ctrl_step(sf, "message consumed", r0, r1);
    fclose(sf);
    expect_block(doc, "control", steps);
    free(steps);

    cr_expect_eq(log.errors, 0, "log:\n%s", log.text);
    idc_context_destroy(ctx);
    munmap(map, 2 * rb);
    close(sfd);
    close(lfd);
    close(efd_fe);
    close(efd_be);
    rt_rmdir(dir);
    free(doc);
}

/* ------------------------------------------------------------------ a libidc backend */

static struct {
    bool connected;
    unsigned msgs;
    uint16_t msg_op;
    unsigned char msg[8];
    size_t msg_len;
} be;

static void be_connect(struct idc_endpoint *ep)
{
    (void)ep;
    be.connected = true;
}
static void be_disconnect(struct idc_endpoint *ep)
{
    be.connected = false;
    idc_endpoint_disconnect_done(ep);
}
static int be_message(struct idc_endpoint *ep, uint16_t op, const void *p, size_t len)
{
    (void)ep;
    be.msgs++;
    be.msg_op = op;
    be.msg_len = len < sizeof be.msg ? len : sizeof be.msg;
    memcpy(be.msg, p, be.msg_len);
    return 0;
}
static int be_transaction(struct idc_endpoint *ep, struct idc_request *req, uint16_t op,
                          const void *p, size_t len)
{
    (void)ep;
    if (op != 1 || len != 8)
        return IDC_ERR_PROTO;
    unsigned char sum[4];
    put32(sum, get32(p) + get32((const unsigned char *)p + 4));
    return idc_request_complete(req, 0, sum, sizeof sum);
}
static const struct idc_endpoint_ops be_ops = { .connect = be_connect,
                                                .disconnect = be_disconnect,
                                                .handle_message = be_message,
                                                .handle_transaction = be_transaction };

/* The page's bytes, sent by a frontend written here to a libidc backend: what the backend
   answers must be the page's bytes too (with its own random epoch in place of the page's). */
Test(wire, shm_exchange_with_a_libidc_backend)
{
    char *doc = doc_text();
    tiny_load(doc);
    const char *dir = rt_tmpdir();
    struct rt_log log = { 0 };
    struct idc_context *ctx = rt_ctx(dir, &log);
    cr_assert_not_null(ctx);
    struct idc_endpoint ep;
    struct idc_endpoint_config cfg = { .protocol = &tiny,
                                       .role = IDC_ROLE_BACKEND,
                                       .address = "shm:tiny",
                                       .ops = &be_ops,
                                       .max_transactions = CREDITS,
                                       .max_messages = CREDITS };
    idc_endpoint_create(&ep, ctx, &cfg);
    char path[256];
    snprintf(path, sizeof path, "%s/tiny.sock", dir);
    struct stat st;
    for (int i = 0; i < 500 && stat(path, &st) != 0; i++)
        idc_context_dispatch(ctx, 10);
    cr_assert_eq(stat(path, &st), 0, "not published; log:\n%s", log.text);

    unsigned char hello[sizeof(struct idc_shm_hello)];
    cr_assert_eq(doc_bytes(doc, "hello", hello, sizeof hello), sizeof hello);

    /* Another protocol's HELLO: REFUSE, then the backend closes the socket. */
    int sfd = connect_to(dir, "tiny");
    unsigned char other[sizeof hello];
    memcpy(other, hello, sizeof other);
    memset(other + offsetof(struct idc_shm_hello, protocol), 0, IDC_PROTOCOL_NAME_MAX + 1);
    memcpy(other + offsetof(struct idc_shm_hello, protocol), "other", 5);
    cr_assert_eq(send_rec(sfd, other, sizeof other, NULL, 0), 0);
    struct idc_shm_refuse rf;
    cr_assert_eq(recv_rec(ctx, sfd, &rf, sizeof rf, NULL, NULL), (ssize_t)sizeof rf);
    expect_dump(doc, "refuse", &rf, sizeof rf);
    char eof;
    cr_assert_eq(recv_rec(ctx, sfd, &eof, 1, NULL, NULL), 0, "the backend keeps a refused peer");
    close(sfd);

    /* The page's HELLO: the page's WELCOME, three descriptors. */
    sfd = connect_to(dir, "tiny");
    cr_assert_eq(send_rec(sfd, hello, sizeof hello, NULL, 0), 0);
    struct idc_shm_welcome w;
    int fds[4], nfds = 0;
    cr_assert_eq(recv_rec(ctx, sfd, &w, sizeof w, fds, &nfds), (ssize_t)sizeof w, "log:\n%s",
                 log.text);
    cr_assert_eq(nfds, 3);
    cr_assert_neq(w.epoch, 0);
    uint32_t epoch = w.epoch;
    unsigned char want[256];
    cr_assert_eq(doc_bytes(doc, "welcome", want, sizeof want), sizeof w);
    memcpy(want + offsetof(struct idc_shm_welcome, epoch), &epoch, 4);
    char *d = dump(&w, sizeof w), *d2 = dump(want, sizeof w);
    cr_expect_str_eq(d, d2, "WELCOME differs from the page (epoch aside):\n%s", d);
    free(d);
    free(d2);
    size_t rb = idc_ring_bytes(w.ring_size);
    struct stat ms;
    cr_assert_eq(fstat(fds[0], &ms), 0);
    cr_assert_eq((size_t)ms.st_size, 2 * rb);
    int seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
    cr_assert_eq(fcntl(fds[0], F_GET_SEALS) & seals, seals);
    for (int i = 1; i < 3; i++) {
        char lp[64], target[64] = "";
        snprintf(lp, sizeof lp, "/proc/self/fd/%d", fds[i]);
        cr_assert_gt(readlink(lp, target, sizeof target - 1), 0);
        cr_assert_str_eq(target, "anon_inode:[eventfd]");
    }
    unsigned char *map = mmap(NULL, 2 * rb, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
    cr_assert_neq(map, MAP_FAILED);
    unsigned char *r0 = map, *r1 = map + rb;
    struct idc_ring_ctrl *c0 = (void *)r0, *c1 = (void *)r1;
    __atomic_store_n(&c1->prod_event, 1u, __ATOMIC_RELAXED); /* a fresh consumer of ring 1 */

    /* READY with the backend's epoch: connected. */
    unsigned char ready[sizeof(struct idc_shm_ready)];
    cr_assert_eq(doc_bytes(doc, "ready", ready, sizeof ready), sizeof ready);
    memcpy(ready + offsetof(struct idc_shm_ready, epoch), &epoch, 4);
    cr_assert_eq(send_rec(sfd, ready, sizeof ready, NULL, 0), 0);
    for (int i = 0; i < 500 && !be.connected; i++)
        idc_context_dispatch(ctx, 10);
    cr_assert(be.connected, "log:\n%s", log.text);

    /* The page's request frame, written into ring 0 by hand: the page's response comes back. */
    unsigned char frame[256];
    size_t n = doc_bytes(doc, "request", frame, sizeof frame);
    cr_assert_eq(n, idc_frame_size(8));
    memcpy(frame + offsetof(struct idc_frame_hdr, epoch), &epoch, 4);
    memcpy(r0 + IDC_RING_CTRL_SIZE, frame, n);
    __atomic_store_n(&c0->prod, (uint32_t)n, __ATOMIC_RELEASE);
    efd_poke(fds[2]);
    for (int i = 0; i < 500 && ld32(&c1->prod) == 0; i++)
        idc_context_dispatch(ctx, 10);
    cr_assert_eq(ld32(&c1->prod), idc_frame_size(4), "no response; log:\n%s", log.text);
    cr_assert_eq(ld32(&c0->cons), n);
    cr_assert_eq(efd_take(fds[1]), 1, "the backend did not wake the frontend");
    n = doc_bytes(doc, "response", frame, sizeof frame);
    memcpy(frame + offsetof(struct idc_frame_hdr, epoch), &epoch, 4);
    d = dump(r1 + IDC_RING_CTRL_SIZE, idc_frame_size(4));
    d2 = dump(frame, n);
    cr_expect_str_eq(d, d2, "response differs from the page (epoch aside):\n%s", d);
    free(d);
    free(d2);

    /* The page's message frame: delivered, one message credit back. */
    size_t at = n;
    n = doc_bytes(doc, "message", frame, sizeof frame);
    memcpy(frame + offsetof(struct idc_frame_hdr, epoch), &epoch, 4);
    memcpy(r0 + IDC_RING_CTRL_SIZE + at, frame, n);
    __atomic_store_n(&c0->prod, (uint32_t)(at + n), __ATOMIC_RELEASE);
    efd_poke(fds[2]);
    for (int i = 0; i < 500 && ld32(&c0->msg_cons) == 0; i++)
        idc_context_dispatch(ctx, 10);
    cr_assert_eq(ld32(&c0->msg_cons), 1, "log:\n%s", log.text);
    cr_assert_eq(ld32(&c0->cons), at + n);
    cr_assert_eq(be.msgs, 1);
    cr_assert_eq(be.msg_op, 2);
    cr_assert_eq(be.msg_len, 1);
    cr_assert_eq(be.msg[0], 3);
    cr_assert(be.connected, "log:\n%s", log.text);

    idc_context_destroy(ctx);
    munmap(map, 2 * rb);
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    close(sfd);
    rt_rmdir(dir);
    free(doc);
}

/* ------------------------------------------------------------------ protocol hash */

static uint64_t fnv1a64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

Test(wire, canonical_text_and_hashes)
{
    char *doc = doc_text();
    struct idlc_unit *u;
    struct idlc_ctx *ictx = tiny_compile(doc, &u);
    char *hashes = NULL;
    size_t hl = 0;
    FILE *hf = open_memstream(&hashes, &hl);
    for (uint32_t v = 1; v <= u->version; v++) {
        char *text = NULL, name[32];
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        cr_assert_eq(idlc_canonical_text(u, v, f), 0);
        fclose(f);
        snprintf(name, sizeof name, "canonical-v%u", v);
        expect_block(doc, name, text);
        /* The hash is FNV-1a 64 of exactly that text. */
        cr_assert_eq(fnv1a64(text), idlc_version_hash(u, v));
        fprintf(hf, "version %u: 0x%016llx\n", v, (unsigned long long)idlc_version_hash(u, v));
        free(text);
    }
    fclose(hf);
    expect_block(doc, "hashes", hashes);
    free(hashes);
    idlc_ctx_destroy(ictx);
    free(doc);
}

/* ------------------------------------------------------------------ layout tables */

struct fdesc {
    const char *s, *f;
    size_t off, size;
};
#define FIELD(s, f, o, z) \
    {                     \
        s, f, o, z        \
    }
#define F(S, m) FIELD(#S, #m, offsetof(struct S, m), sizeof(((struct S *)0)->m))
static const struct fdesc fields[] = {
    F(idc_ring_ctrl, prod),
    F(idc_ring_ctrl, credit_event),
    F(idc_ring_ctrl, cons),
    F(idc_ring_ctrl, msg_cons),
    F(idc_ring_ctrl, prod_event),
    F(idc_ring_ctrl, sleep_cpu),
    F(idc_ring_ctrl, pad_),
    F(idc_frame_hdr, kind),
    F(idc_frame_hdr, flags),
    F(idc_frame_hdr, opcode),
    F(idc_frame_hdr, length),
    F(idc_frame_hdr, epoch),
    F(idc_frame_hdr, txn),
    F(idc_frame_hdr, status),
    F(idc_frame_hdr, reserved),
    F(idc_shm_hello, magic),
    F(idc_shm_hello, type),
    F(idc_shm_hello, wire),
    F(idc_shm_hello, min_version),
    F(idc_shm_hello, max_version),
    F(idc_shm_hello, max_frame),
    F(idc_shm_hello, max_transactions),
    F(idc_shm_hello, max_messages),
    F(idc_shm_hello, protocol),
    F(idc_shm_hello, hash),
    F(idc_shm_welcome, magic),
    F(idc_shm_welcome, type),
    F(idc_shm_welcome, wire),
    F(idc_shm_welcome, version),
    F(idc_shm_welcome, epoch),
    F(idc_shm_welcome, max_frame),
    F(idc_shm_welcome, max_transactions),
    F(idc_shm_welcome, max_messages),
    F(idc_shm_welcome, ring_size),
    F(idc_shm_welcome, reserved),
    F(idc_shm_refuse, magic),
    F(idc_shm_refuse, type),
    F(idc_shm_refuse, wire),
    F(idc_shm_refuse, status),
    F(idc_shm_refuse, reason),
    F(idc_shm_ready, magic),
    F(idc_shm_ready, type),
    F(idc_shm_ready, wire),
    F(idc_shm_ready, epoch),
    F(idc_shm_mapreq, magic),
    F(idc_shm_mapreq, type),
    F(idc_shm_mapreq, wire),
    F(idc_shm_mapreq, id),
    F(idc_shm_mapreq, generation),
    F(idc_shm_mapreq, rights),
    F(idc_shm_mapreq, owner),
    F(idc_shm_mapreq, length),
    F(idc_shm_mapreq, key),
    F(idc_shm_maprep, magic),
    F(idc_shm_maprep, type),
    F(idc_shm_maprep, wire),
    F(idc_shm_maprep, status),
    F(idc_shm_maprep, id),
    F(idc_shm_maprep, generation),
    F(idc_shm_maprep, rights),
    F(idc_shm_maprep, gen_slots),
    F(idc_shm_maprep, offset),
    F(idc_shm_maprep, length),
    F(xb_req, tag),
    F(xb_req, op),
    F(xb_req, slot),
    F(xb_req, flags),
    F(xb_req, len),
    F(xb_req, id),
    F(xb_req, generation),
    F(xb_req, rights),
    F(xb_req, owner),
    F(xb_req, length),
    F(xb_req, offset),
    F(xb_req, key),
};
static const struct {
    const char *s;
    size_t size;
} structs[] = {
    { "idc_ring_ctrl", sizeof(struct idc_ring_ctrl) },
    { "idc_frame_hdr", sizeof(struct idc_frame_hdr) },
    { "idc_shm_hello", sizeof(struct idc_shm_hello) },
    { "idc_shm_welcome", sizeof(struct idc_shm_welcome) },
    { "idc_shm_refuse", sizeof(struct idc_shm_refuse) },
    { "idc_shm_ready", sizeof(struct idc_shm_ready) },
    { "idc_shm_mapreq", sizeof(struct idc_shm_mapreq) },
    { "idc_shm_maprep", sizeof(struct idc_shm_maprep) },
    { "xb_req", sizeof(struct xb_req) },
};

/* Cell i (0-based) of a table row "| a | b | ... |", trimmed, into out. */
static bool cell(const char *row, int i, char *out, size_t cap)
{
    const char *p = row;
    for (int k = 0; k <= i; k++) {
        p = strchr(p, '|');
        if (!p)
            return false;
        p++;
    }
    const char *e = strchr(p, '|');
    if (!e)
        return false;
    while (p < e && *p == ' ')
        p++;
    while (e > p && e[-1] == ' ')
        e--;
    snprintf(out, cap, "%.*s", (int)(e - p), p);
    return true;
}

/* Each "<!-- wire:layout STRUCT -->" table: rows "| offset | size | type | field | ...": the
   rows tile the structure from 0 to its size; a field named in backquotes has that offset and
   size in the structure; rows without one are gaps the structure leaves unused. */
Test(wire, layout_tables)
{
    char *doc = doc_text();
    for (size_t si = 0; si < sizeof structs / sizeof structs[0]; si++) {
        char marker[128];
        snprintf(marker, sizeof marker, "<!-- wire:layout %s -->", structs[si].s);
        const char *p = strstr(doc, marker);
        cr_assert_not_null(p, "docs/protocol.md has no %s", marker);
        p = strchr(p, '\n') + 1;
        while (*p == '\n')
            p++;
        cr_assert_eq(*p, '|', "%s: no table after the marker", structs[si].s);
        p = strchr(strchr(p, '\n') + 1, '\n') + 1; /* header and separator rows */
        size_t at = 0, named = 0;
        while (*p == '|') {
            char c[4][128];
            for (int i = 0; i < 4; i++)
                cr_assert(cell(p, i, c[i], sizeof c[i]), "%s: short row %.60s", structs[si].s, p);
            size_t off = strtoul(c[0], NULL, 10), size = strtoul(c[1], NULL, 10);
            cr_expect_eq(off, at, "%s: row at offset %zu, expected %zu", structs[si].s, off, at);
            const char *bq = strchr(c[3], '`');
            if (bq) {
                char name[64];
                cr_assert_eq(sscanf(bq + 1, "%63[^`[]", name), 1);
                const struct fdesc *fd = NULL;
                for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
                    if (!strcmp(fields[i].s, structs[si].s) && !strcmp(fields[i].f, name))
                        fd = &fields[i];
                cr_assert_not_null(fd, "%s: no field %s", structs[si].s, name);
                cr_expect_eq(fd->off, off, "%s.%s: offset %zu, the page says %zu", fd->s, fd->f,
                             fd->off, off);
                cr_expect_eq(fd->size, size, "%s.%s: size %zu, the page says %zu", fd->s, fd->f,
                             fd->size, size);
                named++;
            }
            at = off + size;
            p = strchr(p, '\n');
            cr_assert_not_null(p);
            p++;
        }
        cr_expect_eq(at, structs[si].size, "%s: the table covers %zu of %zu bytes", structs[si].s,
                     at, structs[si].size);
        size_t nf = 0;
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
            nf += !strcmp(fields[i].s, structs[si].s);
        cr_expect_eq(named, nf, "%s: %zu fields in the table, %zu in the structure", structs[si].s,
                     named, nf);
    }
    free(doc);
}

/* ------------------------------------------------------------------ remote buffer reference */

Test(wire, remote_buffer_reference)
{
    char *doc = doc_text();
    struct idc_rbuf rb = { .owner = 0x0000a1b2c3d4e5f6ull,
                           .id = 3,
                           .generation = 1,
                           .length = 65536,
                           .rights = IDC_RBUF_READ | IDC_RBUF_WRITE };
    for (int i = 0; i < 16; i++)
        rb.key[i] = (uint8_t)(0xf0 + i);
    uint8_t wire[IDC_RBUF_WIRE_SIZE];
    idc_rbuf_encode(&rb, wire);
    expect_dump(doc, "rbuf", wire, sizeof wire);
    unsigned char back[64];
    cr_assert_eq(doc_bytes(doc, "rbuf", back, sizeof back), IDC_RBUF_WIRE_SIZE);
    struct idc_rbuf got;
    cr_assert_eq(idc_rbuf_decode(&got, back), 0);
    cr_assert(got.owner == rb.owner && got.id == rb.id && got.generation == rb.generation &&
              got.length == rb.length && got.rights == rb.rights &&
              memcmp(got.key, rb.key, sizeof rb.key) == 0);
    free(doc);
}
