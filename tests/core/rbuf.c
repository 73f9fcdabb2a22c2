/* rbuf.c - remote buffers: local and cross-context transfers, forwarding, revocation, rights,
 * forged keys, ranges. The owner runs in its own thread with its own context (contexts are
 * independent), or in a forked process. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

TestSuite(rbuf, .timeout = 60);

struct owner {
    const char *dir;
    struct idc_context *ctx;
    unsigned char *mem, *romem;
    struct idc_rbuf rw, ro;
    atomic_int cmd;   /* 1: unregister rw; 9: stop */
    atomic_int state; /* 1: ready; 2: unregistered */
};

static void *owner_main(void *arg)
{
    struct owner *o = arg;
    o->ctx = rt_ctx(o->dir, NULL);
    void *m, *r;
    if (idc_buffer_alloc(o->ctx, 1 << 20, &m) != 0 || idc_buffer_alloc(o->ctx, 4096, &r) != 0)
        abort();
    o->mem = m;
    o->romem = r;
    for (int i = 0; i < (1 << 20); i++)
        o->mem[i] = (unsigned char)(i * 7);
    for (int i = 0; i < 4096; i++)
        o->romem[i] = (unsigned char)(i * 7);
    struct idc_rbuf tmp;
    if (idc_buffer_register(o->ctx, o->mem + 4096, 65536, IDC_RBUF_READ | IDC_RBUF_WRITE, &o->rw) ||
        idc_buffer_register(o->ctx, o->romem, 4096, IDC_RBUF_READ, &o->ro) ||
        idc_buffer_register(o->ctx, o->mem, 4096, IDC_RBUF_READ, &tmp) != IDC_ERR_INVAL ||
        idc_buffer_register(o->ctx, o->romem, 16, IDC_RBUF_WRITE, &tmp) != IDC_ERR_INVAL)
        abort();
    o->romem[5] = 0x77; /* the owner's own mapping stays writable after the seal */
    atomic_store(&o->state, 1);
    for (;;) {
        idc_context_dispatch(o->ctx, 5);
        int c = atomic_exchange(&o->cmd, 0);
        if (c == 1) {
            if (idc_buffer_unregister(o->ctx, &o->rw) != 0)
                abort();
            atomic_store(&o->state, 2);
        } else if (c == 9) {
            break;
        }
    }
    idc_context_destroy(o->ctx);
    return NULL;
}

struct xres {
    volatile bool done;
    int status;
};
static void xdone(void *arg, int status)
{
    struct xres *r = arg;
    r->status = status;
    r->done = true;
}

static int recv_sync(struct idc_context *ctx, const struct idc_rbuf *rb, uint64_t off, void *dst,
                     size_t len)
{
    struct xres r = { 0 };
    int s = idc_receive_from_remote_buffer(ctx, rb, off, dst, len, xdone, &r);
    if (s)
        return s;
    cr_assert(rt_until(ctx, &r.done, 3000), "transfer completes");
    return r.status;
}

static int send_sync(struct idc_context *ctx, const struct idc_rbuf *rb, uint64_t off,
                     const void *src, size_t len)
{
    struct xres r = { 0 };
    int s = idc_send_to_remote_buffer(ctx, rb, off, src, len, xdone, &r);
    if (s)
        return s;
    cr_assert(rt_until(ctx, &r.done, 3000), "transfer completes");
    return r.status;
}

Test(rbuf, wire_form_roundtrip_and_validation)
{
    struct idc_rbuf a = { .owner = 0x1122334455667788ull,
                          .id = 7,
                          .generation = 3,
                          .length = 4096,
                          .rights = IDC_RBUF_READ };
    for (int i = 0; i < 16; i++)
        a.key[i] = (uint8_t)(i * 17);
    uint8_t w[IDC_RBUF_WIRE_SIZE];
    idc_rbuf_encode(&a, w);
    cr_assert_eq(w[0], 0x88);
    struct idc_rbuf b;
    cr_assert_eq(idc_rbuf_decode(&b, w), 0);
    cr_assert(memcmp(&a, &b, sizeof(a)) == 0);
    w[28] = 1;
    cr_assert_eq(idc_rbuf_decode(&b, w), IDC_ERR_PROTO);
    w[28] = 0;
    w[24] = 4;
    cr_assert_eq(idc_rbuf_decode(&b, w), IDC_ERR_PROTO);
}

Test(rbuf, local_register_transfer_revoke)
{
    const char *dir = rt_tmpdir();
    struct idc_context *ctx = rt_ctx(dir, NULL);
    void *m;
    cr_assert_eq(idc_buffer_alloc(ctx, 10000, &m), 0);
    char stack[16];
    struct idc_rbuf rb;
    cr_assert_eq(idc_buffer_register(ctx, stack, sizeof(stack), IDC_RBUF_READ, &rb), IDC_ERR_INVAL,
                 "memory outside idc_buffer_alloc is refused");
    cr_assert_eq(idc_buffer_register(ctx, m, 100, IDC_RBUF_READ | IDC_RBUF_WRITE, &rb), 0);
    cr_assert_eq(rb.owner, idc_context_id(ctx));
    cr_assert_eq(send_sync(ctx, &rb, 10, "abcdef", 6), 0);
    char out[6];
    cr_assert_eq(recv_sync(ctx, &rb, 10, out, 6), 0);
    cr_assert(memcmp(out, "abcdef", 6) == 0);
    cr_assert_eq(memcmp((char *)m + 10, "abcdef", 6), 0);
    cr_assert_eq(recv_sync(ctx, &rb, 98, out, 6), IDC_ERR_BADREF);
    cr_assert_eq(idc_buffer_unregister(ctx, &rb), 0);
    cr_assert_eq(recv_sync(ctx, &rb, 0, out, 6), IDC_ERR_REVOKED);
    cr_assert_eq(idc_buffer_unregister(ctx, &rb), IDC_ERR_REVOKED);
    cr_assert_eq(idc_buffer_free(ctx, m), 0);
    idc_context_destroy(ctx);
    rt_rmdir(dir);
}

/* With a registry, owner ids carry the node's locator (bit 15): no other transport may clear it
   (Xen's context init outside Xen did), or shm would reach owners of every node of the host. */
Test(rbuf, owner_id_keeps_the_fabric_node_locator)
{
    const char *dir = rt_tmpdir();
    setenv("IDC_ZOOKEEPER", "127.0.0.1:9", 1); /* never contacted: no fabric endpoint here */
    setenv("IDC_NODE", "node-one", 1);
    struct idc_context *a = rt_ctx(dir, NULL), *b = rt_ctx(dir, NULL);
    setenv("IDC_NODE", "node-two", 1);
    struct idc_context *c = rt_ctx(dir, NULL);
    unsetenv("IDC_ZOOKEEPER");
    struct idc_context *d = rt_ctx(dir, NULL);
    uint64_t la = idc_context_id(a) >> 48, lb = idc_context_id(b) >> 48;
    uint64_t lc = idc_context_id(c) >> 48, ld = idc_context_id(d) >> 48;
    cr_assert(la & 0x8000u, "no node locator: %016llx", (unsigned long long)idc_context_id(a));
    cr_assert_eq(la, lb, "one node, two locators");
    cr_assert(lc & 0x8000u);
    cr_assert_neq(la, lc, "two nodes, one locator");
    cr_assert_eq(ld & 0x8000u, 0, "a node locator without a registry");
    idc_context_destroy(a);
    idc_context_destroy(b);
    idc_context_destroy(c);
    idc_context_destroy(d);
    rt_rmdir(dir);
}

Test(rbuf, cross_context_transfer_rights_forgery_revocation, .timeout = 30)
{
    struct owner o = { .dir = rt_tmpdir() };
    pthread_t th;
    pthread_create(&th, NULL, owner_main, &o);
    while (atomic_load(&o.state) != 1)
        usleep(1000);
    struct idc_context *ctx = rt_ctx(o.dir, NULL);
    unsigned char buf[65536];
    /* read, check content */
    cr_assert_eq(recv_sync(ctx, &o.rw, 0, buf, 65536), 0);
    for (int i = 0; i < 65536; i++)
        cr_assert_eq(buf[i], (unsigned char)((i + 4096) * 7));
    /* write then read back (cached mapping path) */
    memset(buf, 0x5a, 1000);
    cr_assert_eq(send_sync(ctx, &o.rw, 100, buf, 1000), 0);
    memset(buf, 0, 1000);
    cr_assert_eq(recv_sync(ctx, &o.rw, 100, buf, 1000), 0);
    cr_assert_eq(buf[0], 0x5a);
    cr_assert_eq(buf[999], 0x5a);
    cr_assert_eq(o.mem[4096 + 100], 0x5a, "owner sees the write: same pages");
    /* range */
    cr_assert_eq(recv_sync(ctx, &o.rw, 65530, buf, 7), IDC_ERR_BADREF);
    /* rights: the reference lacks WRITE */
    cr_assert_eq(send_sync(ctx, &o.ro, 0, buf, 10), IDC_ERR_RIGHTS);
    /* forged rights claim: owner refuses */
    struct idc_rbuf forged = o.ro;
    forged.rights |= IDC_RBUF_WRITE;
    cr_assert_eq(send_sync(ctx, &forged, 0, buf, 10), IDC_ERR_RIGHTS);
    /* read-only reference works for reading */
    cr_assert_eq(recv_sync(ctx, &o.ro, 0, buf, 4096), 0);
    cr_assert_eq(buf[1], 7);
    cr_assert_eq(buf[5], 0x77);
    /* forged key */
    forged = o.rw;
    forged.key[3] ^= 1;
    cr_assert_eq(recv_sync(ctx, &forged, 0, buf, 10), IDC_ERR_BADREF);
    /* forged id / generation */
    forged = o.rw;
    forged.id = 999;
    cr_assert_eq(recv_sync(ctx, &forged, 0, buf, 10), IDC_ERR_BADREF);
    forged = o.rw;
    forged.length = 1 << 20;
    cr_assert_eq(recv_sync(ctx, &forged, 0, buf, 10), IDC_ERR_BADREF);
    /* revoke: the cached mapping is refused at once */
    atomic_store(&o.cmd, 1);
    while (atomic_load(&o.state) != 2)
        usleep(1000);
    cr_assert_eq(recv_sync(ctx, &o.rw, 0, buf, 10), IDC_ERR_REVOKED);
    cr_assert_eq(send_sync(ctx, &o.rw, 0, buf, 10), IDC_ERR_REVOKED);
    /* unknown owner */
    forged = o.ro;
    forged.owner ^= 0x1234;
    cr_assert_eq(recv_sync(ctx, &forged, 0, buf, 10), IDC_ERR_DISCONNECTED);
    atomic_store(&o.cmd, 9);
    pthread_join(th, NULL);
    /* owner gone (orderly): its registrations were revoked on the way out */
    cr_assert_eq(recv_sync(ctx, &o.ro, 0, buf, 10), IDC_ERR_REVOKED);
    idc_context_destroy(ctx);
    rt_rmdir(o.dir);
}

/* A registers (process), passes the reference to B (this process) in a message over an
   endpoint, B forwards it to C (another context, another thread) in a message, C reads and
   writes A's memory. */
struct cside {
    const char *dir;
    atomic_int ok;
};
static struct idc_rbuf g_fwd;
static volatile bool g_got;
static int c_msg(struct idc_endpoint *ep, uint16_t op, const void *p, size_t len)
{
    (void)ep;
    (void)op;
    if (len != IDC_RBUF_WIRE_SIZE || idc_rbuf_decode(&g_fwd, p) != 0)
        return IDC_ERR_PROTO;
    g_got = true;
    return 0;
}
static void *c_main(void *arg)
{
    struct cside *c = arg;
    struct idc_context *ctx = rt_ctx(c->dir, NULL);
    static struct rt_drv d;
    struct idc_endpoint_ops ops = rt_ops;
    ops.handle_message = c_msg;
    struct idc_endpoint_config cfg = { .protocol = &rt_proto_v1,
                                       .role = IDC_ROLE_BACKEND,
                                       .address = "shm:C",
                                       .ops = &ops,
                                       .user = &d };
    idc_endpoint_create(&d.ep, ctx, &cfg);
    rt_until(ctx, &g_got, 10000);
    unsigned char b[16];
    int ok = g_got && recv_sync(ctx, &g_fwd, 0, b, 16) == 0 && b[0] == 'A' &&
             send_sync(ctx, &g_fwd, 0, "C-was-here", 10) == 0;
    atomic_store(&c->ok, ok ? 1 : -1);
    idc_context_destroy(ctx);
    return NULL;
}

static int a_msg(struct idc_endpoint *ep, uint16_t op, const void *p, size_t len)
{
    (void)ep;
    (void)op;
    (void)p;
    (void)len;
    return 0;
}

Test(rbuf, forward_a_to_b_to_c, .timeout = 30)
{
    const char *dir = rt_tmpdir();
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    pid_t a = fork();
    if (a == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* A: owner, frontend of B's service "B"; sends the reference, then serves transfers */
        struct idc_context *ctx = rt_ctx(dir, NULL);
        void *m;
        struct idc_rbuf rb;
        idc_buffer_alloc(ctx, 4096, &m);
        memcpy(m, "A-data", 6);
        idc_buffer_register(ctx, m, 4096, IDC_RBUF_READ | IDC_RBUF_WRITE, &rb);
        static struct rt_drv d;
        struct idc_endpoint_ops ops = rt_ops;
        ops.handle_message = a_msg;
        struct idc_endpoint_config cfg = { .protocol = &rt_proto_v1,
                                           .role = IDC_ROLE_FRONTEND,
                                           .address = "shm:B",
                                           .ops = &ops,
                                           .user = &d };
        idc_endpoint_create(&d.ep, ctx, &cfg);
        rt_until(ctx, &d.connected, 10000);
        uint8_t w[IDC_RBUF_WIRE_SIZE];
        idc_rbuf_encode(&rb, w);
        idc_send_message(&d.ep, 1, w, sizeof(w));
        for (int i = 0; i < 1000; i++) {
            idc_context_dispatch(ctx, 10);
            if (memcmp(m, "C-was-here", 10) == 0) {
                char one = 1;
                if (write(pfd[1], &one, 1) != 1)
                    _exit(2);
                break;
            }
        }
        for (int i = 0; i < 50; i++)
            idc_context_dispatch(ctx, 10);
        _exit(0);
    }
    close(pfd[1]);
    struct cside c = { .dir = dir };
    pthread_t th;
    g_got = false;
    pthread_create(&th, NULL, c_main, &c);
    /* B: backend "B" for A, frontend of "C" */
    struct idc_context *ctx = rt_ctx(dir, NULL);
    struct rt_drv fromA = { 0 }, toC = { 0 };
    rt_drv_create(&fromA, ctx, IDC_ROLE_BACKEND, "shm:B", &rt_proto_v1, 0);
    rt_drv_create(&toC, ctx, IDC_ROLE_FRONTEND, "shm:C", &rt_proto_v1, 0);
    for (int i = 0; i < 1000 && (fromA.msgs == 0 || !toC.connected); i++)
        idc_context_dispatch(ctx, 10);
    cr_assert_eq(fromA.msgs, 1);
    cr_assert_eq(fromA.last_len, IDC_RBUF_WIRE_SIZE);
    cr_assert_eq(idc_send_message(&toC.ep, 1, fromA.last, IDC_RBUF_WIRE_SIZE), 0);
    while (atomic_load(&c.ok) == 0)
        idc_context_dispatch(ctx, 10);
    pthread_join(th, NULL);
    cr_assert_eq(atomic_load(&c.ok), 1, "C read and wrote A's buffer");
    char one = 0;
    cr_assert_eq(read(pfd[0], &one, 1), 1);
    cr_assert_eq(one, 1, "A saw C's write in its own memory");
    int st;
    waitpid(a, &st, 0);
    idc_context_destroy(ctx);
    rt_rmdir(dir);
}

static unsigned open_fds(void)
{
    unsigned n = 0;
    char p[64];
    for (int fd = 0; fd < 4096; fd++) {
        snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
        n += access(p, F_OK) == 0;
    }
    return n;
}

/* One user, many owners: the user keeps at most IDC_BUF_USER_LINKS (16) buffer-service links
   open (least recently used closed first), and every transfer still works. Before, one link per
   owner stayed open for ever, so naming ~1000 owners exhausted the user's descriptors. */
Test(rbuf, links_to_owners_are_capped)
{
    enum { OWNERS = 40 };
    const char *dir = rt_tmpdir();
    static struct idc_context *own[OWNERS];
    static struct idc_rbuf ref[OWNERS];
    for (int i = 0; i < OWNERS; i++) {
        own[i] = rt_ctx(dir, NULL);
        void *m;
        cr_assert_eq(idc_buffer_alloc(own[i], 4096, &m), 0);
        memset(m, i, 4096);
        cr_assert_eq(idc_buffer_register(own[i], m, 4096, IDC_RBUF_READ, &ref[i]), 0);
    }
    struct idc_context *user = rt_ctx(dir, NULL);
    unsigned before = open_fds();
    for (int i = 0; i < OWNERS; i++) {
        unsigned char b[16];
        struct xres r = { 0 };
        cr_assert_eq(idc_receive_from_remote_buffer(user, &ref[i], 0, b, sizeof(b), xdone, &r), 0);
        for (int k = 0; k < 400 && !r.done; k++) {
            idc_context_dispatch(user, 0);
            for (int j = 0; j < OWNERS; j++)
                idc_context_dispatch(own[j], 0);
            usleep(500);
        }
        cr_assert(r.done && r.status == 0, "owner %d: status %d", i, r.status);
        cr_assert_eq(b[7], (unsigned char)i);
    }
    for (int k = 0; k < 20; k++) /* owners notice the links the user closed */
        for (int j = 0; j < OWNERS; j++)
            idc_context_dispatch(own[j], 1);
    unsigned after = open_fds();
    cr_log_info("descriptors: %u before, %u after transfers from %d owners", before, after, OWNERS);
    /* user side <= 16 links, owner side <= 16 accepted connections */
    cr_assert_leq(after, before + 2 * 16 + 2, "%u descriptors before, %u after", before, after);
    idc_context_destroy(user);
    for (int i = 0; i < OWNERS; i++)
        idc_context_destroy(own[i]);
    rt_rmdir(dir);
}

/* A process killed with kill -9 cannot unlink its buffer-service socket: the next context that
   publishes in the directory removes it (nobody listens on it), and leaves live ones alone. */
Test(rbuf, stale_service_sockets_reclaimed)
{
    const char *dir = rt_tmpdir();
    char stale[100];
    cr_assert_lt(snprintf(stale, sizeof(stale), "%s/.rbuf-00000000deadbeef.sock", dir),
                 (int)sizeof(stale));
    pid_t pid = fork();
    if (pid == 0) { /* an owner that dies without cleaning up */
        int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        memcpy(sa.sun_path, stale, sizeof(stale));
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 1))
            _exit(1);
        raise(SIGKILL);
    }
    int st;
    waitpid(pid, &st, 0);
    cr_assert_eq(access(stale, F_OK), 0, "the dead owner left its socket");
    struct idc_context *live = rt_ctx(dir, NULL), *ctx = rt_ctx(dir, NULL);
    void *m;
    struct idc_rbuf rb;
    cr_assert_eq(idc_buffer_alloc(live, 4096, &m), 0);
    cr_assert_eq(idc_buffer_register(live, m, 4096, IDC_RBUF_READ, &rb), 0);
    cr_assert_neq(access(stale, F_OK), 0, "the stale socket was not reclaimed");
    char mine[256];
    snprintf(mine, sizeof(mine), "%s/.rbuf-%016llx.sock", dir, (unsigned long long)rb.owner);
    cr_assert_eq(idc_buffer_alloc(ctx, 4096, &m), 0);
    cr_assert_eq(idc_buffer_register(ctx, m, 4096, IDC_RBUF_READ, &rb), 0);
    cr_assert_eq(access(mine, F_OK), 0, "a live owner's socket was removed");
    idc_context_destroy(ctx);
    idc_context_destroy(live);
    rt_rmdir(dir);
}

/* The owner side is capped too: a process that opens link after link to an owner's buffer
   service gets at most IDC_BUF_OWNER_PER_PEER of them (the rest closed at once, logged), and
   another process's transfer is still served while it holds them. */
Test(rbuf, owner_links_capped_per_peer)
{
    const char *dir = rt_tmpdir();
    struct rt_log log = { 0 };
    setenv("IDC_BUF_OWNER_PER_PEER", "4", 1);
    struct idc_context *own = rt_ctx(dir, &log);
    unsetenv("IDC_BUF_OWNER_PER_PEER");
    void *m;
    struct idc_rbuf rb;
    cr_assert_eq(idc_buffer_alloc(own, 4096, &m), 0);
    memset(m, 0x5a, 4096);
    cr_assert_eq(idc_buffer_register(own, m, 4096, IDC_RBUF_READ, &rb), 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/.rbuf-%016llx.sock", dir,
             (unsigned long long)rb.owner);
    int ready[2], stop[2];
    cr_assert_eq(pipe(ready), 0);
    cr_assert_eq(pipe(stop), 0);
    pid_t pid = fork();
    if (pid == 0) { /* the greedy process: 10 links, held until told to stop */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fds[10];
        for (int i = 0; i < 10; i++) {
            fds[i] = socket(AF_UNIX, SOCK_SEQPACKET, 0);
            if (connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) < 0)
                _exit(1);
        }
        char c = 1;
        (void)!write(ready[1], &c, 1);
        (void)!read(stop[0], &c, 1);
        unsigned open = 0; /* the owner closed the ones over the cap: they read EOF */
        for (int i = 0; i < 10; i++) {
            struct timeval tv = { 0, 1000 };
            setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
            char b;
            open += recv(fds[i], &b, 1, 0) < 0;
        }
        _exit((int)open);
    }
    char c;
    cr_assert_eq(read(ready[0], &c, 1), 1);
    for (int k = 0; k < 50; k++)
        idc_context_dispatch(own, 2);
    cr_assert(strstr(log.text, "refusing a link from pid"), "%s", log.text);
    /* an honest user in this process is served meanwhile */
    struct idc_context *user = rt_ctx(dir, NULL);
    unsigned char b[16];
    struct xres r = { 0 };
    cr_assert_eq(idc_receive_from_remote_buffer(user, &rb, 0, b, sizeof(b), xdone, &r), 0);
    for (int k = 0; k < 400 && !r.done; k++) {
        idc_context_dispatch(user, 0);
        idc_context_dispatch(own, 1);
    }
    cr_assert(r.done && r.status == 0, "status %d\n%s", r.status, log.text);
    cr_assert_eq(b[3], 0x5a);
    cr_assert_eq(write(stop[1], &c, 1), 1);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st));
    cr_assert_eq(WEXITSTATUS(st), 4, "links left open: %d (cap 4)", WEXITSTATUS(st));
    idc_context_destroy(user);
    idc_context_destroy(own);
    rt_rmdir(dir);
}
