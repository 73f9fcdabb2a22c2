/*
 * idc-prof: fixed-count workloads for instruction profiling (callgrind), the counterpart of the
 * timed cases of idc-bench. Timings on a shared 2-vCPU machine move with whatever else runs;
 * instructions executed per operation do not, so this is how the runtime's hot paths are
 * compared with the bare ring (bench/callgrind.sh runs it under valgrind and prints the
 * instructions per operation of both processes).
 *
 *   idc-prof [-p same|cross] MODE N PARAM
 *     ring-rtt   N round trips of PARAM bytes over the bare eventfd ring (bench/shmring.h)
 *     idc-rtt    N idc transactions of PARAM bytes (submit .. done), both sides blocking
 *     ring-rate  N 8-byte messages over the bare eventfd ring, published in batches of PARAM
 *     idc-msg    N 8-byte idc messages sent outside dispatch, corked in batches of PARAM
 *     idc-bulk   N idc_send_to_remote_buffer transfers of PARAM bytes (mapping already cached)
 *
 * The measured part of each process is one function, prof_fe_loop (the measuring side) and
 * prof_be_loop (the peer): `valgrind --tool=callgrind --toggle-collect=prof_fe_loop
 * --toggle-collect=prof_be_loop` counts only those, without set-up and tear-down (the peer's
 * loop includes its share of the disconnect, a constant). The program also prints the
 * wall-clock time per operation, which under valgrind means nothing.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <idc.h>

#include "harness.h"
#include "shmring.h"

/* The few harness services shmring.h uses (this program does not link the harness). */
volatile uint64_t bench_sink;
uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
uint64_t bench_ticks(void)
{
    return bench_now_ns();
}
double bench_ticks_per_ns(void)
{
    return 1.0;
}

static int cpu_peer;
static char dir[128];
static int
    g_mode; /* workload: 'r' ring-rtt, 'q' ring-rate, 't' idc-rtt, 'm' idc-msg, 'b' idc-bulk */

static void die(const char *what)
{
    fprintf(stderr, "idc-prof: %s\n", what);
    exit(1);
}

static void pin(int cpu)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    sched_setaffinity(0, sizeof s, &s);
}

static pid_t fork_peer(int (*fn)(void *), void *arg)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        pin(cpu_peer);
        _exit(fn(arg));
    }
    return pid;
}

static int reap(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void *shm_map(size_t len)
{
    int fd = memfd_create("idc-prof", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)len) != 0)
        die("memfd");
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        die("mmap");
    return p;
}

/* ------------------------------------------------------------------ bare ring */

struct ring_setup {
    struct bring *a, *b; /* rtt: a = requests, b = responses; rate: a only */
    int efd[4];
    uint64_t n, param;
};

static void end_init(struct bring_end *e, struct bring *r, int efd_data, int efd_space,
                     int notify_space)
{
    memset(e, 0, sizeof *e);
    e->r = r;
    e->efd_data = efd_data;
    e->efd_space = efd_space;
    e->mode = BRING_BLOCK;
    e->notify_space = notify_space;
}

__attribute__((noinline)) static int prof_be_loop_ring_rtt(struct ring_setup *s)
{
    struct bring_end in, out;
    end_init(&in, s->a, s->efd[0], s->efd[1], 0);
    end_init(&out, s->b, s->efd[2], s->efd[3], 0);
    unsigned char buf[4096 + 64];
    for (;;) {
        unsigned char *slot = bring_peek(&in);
        uint32_t len;
        memcpy(&len, slot, sizeof len);
        if (len == BRING_KIND_STOP)
            return 0;
        if (len > sizeof buf)
            return 1;
        memcpy(buf, slot + 8, len);
        bring_release(&in, 1);
        unsigned char *o = bring_reserve(&out, 0);
        memcpy(o, &len, sizeof len);
        memcpy(o + 8, buf, len);
        bring_publish(&out, 1, 1);
    }
}

__attribute__((noinline)) int prof_be_loop(void *arg);

static int ring_rtt_peer(void *arg)
{
    return prof_be_loop(arg);
}

__attribute__((noinline)) static int prof_fe_loop_ring_rtt(struct ring_setup *s)
{
    struct bring_end out, in;
    end_init(&out, s->a, s->efd[0], s->efd[1], 0);
    end_init(&in, s->b, s->efd[2], s->efd[3], 0);
    unsigned char msg[4096 + 64], back[4096 + 64];
    uint32_t len = (uint32_t)s->param;
    memset(msg, 0x5a, len);
    for (uint64_t k = 0; k < s->n; k++) {
        unsigned char *o = bring_reserve(&out, 0);
        memcpy(o, &len, sizeof len);
        memcpy(o + 8, msg, len);
        bring_publish(&out, 1, 1);
        unsigned char *i = bring_peek(&in);
        uint32_t got;
        memcpy(&got, i, sizeof got);
        if (got != len)
            return 1;
        memcpy(back, i + 8, got);
        bring_release(&in, 1);
    }
    unsigned char *o = bring_reserve(&out, 0);
    uint32_t stop = BRING_KIND_STOP;
    memcpy(o, &stop, sizeof stop);
    bring_publish(&out, 1, 1);
    return memcmp(msg, back, len) != 0;
}

__attribute__((noinline)) static int prof_be_loop_ring_rate(struct ring_setup *s)
{
    struct bring_end in;
    end_init(&in, s->a, s->efd[0], s->efd[1], 1);
    uint64_t sum = 0;
    for (;;) {
        bring_peek(&in);
        uint32_t n = bring_avail(&in);
        for (uint32_t k = 0; k < n; k++) {
            unsigned char *slot = bring_slot(in.r, in.idx + k);
            uint32_t kind;
            memcpy(&kind, slot, sizeof kind);
            if (kind == BRING_KIND_STOP) {
                bench_sink = sum;
                bring_release(&in, k + 1);
                return 0;
            }
            uint64_t v;
            memcpy(&v, slot + 8, sizeof v);
            sum += v;
        }
        bring_release(&in, n);
    }
}

__attribute__((noinline)) static int prof_fe_loop_ring_rate(struct ring_setup *s)
{
    struct bring_end out;
    end_init(&out, s->a, s->efd[0], s->efd[1], 0);
    uint32_t batch = (uint32_t)s->param;
    const uint32_t eight = 8;
    for (uint64_t v = 0; v < s->n;) {
        for (uint32_t k = 0; k < batch; k++) {
            unsigned char *o = bring_reserve(&out, k);
            memcpy(o, &eight, sizeof eight);
            v++;
            memcpy(o + 8, &v, sizeof v);
        }
        bring_publish(&out, batch, 1);
    }
    unsigned char *o = bring_reserve(&out, 0);
    uint32_t stop = BRING_KIND_STOP;
    memcpy(o, &stop, sizeof stop);
    bring_publish(&out, 1, 1);
    return 0;
}

static int ring_rate_peer(void *arg)
{
    return prof_be_loop(arg);
}

/* ------------------------------------------------------------------ idc */

enum { OP_ECHO = 1, OP_DATA = 2, OP_STOP = 4, OP_RBUF = 5 };
static const uint64_t prof_hash[] = { 0x6964632d70726f66ull };
static const struct idc_protocol prof_proto = { "idc-prof", 1, 1, prof_hash, 4096 };

struct side {
    struct idc_endpoint ep;
    struct idc_context *ctx;
    bool connected, gone, destroyed, writable, stopped, have_rb, txn_done;
    int txn_status;
    uint64_t count, sum;
    struct idc_txn txn;
    struct idc_rbuf rb;
    void *mem;
};

static void s_connect(struct idc_endpoint *ep)
{
    ((struct side *)idc_endpoint_user(ep))->connected = true;
}
static void s_disconnect(struct idc_endpoint *ep)
{
    struct side *s = idc_endpoint_user(ep);
    s->connected = false;
    s->gone = true;
    idc_endpoint_disconnect_done(ep);
}
static void s_writable(struct idc_endpoint *ep)
{
    ((struct side *)idc_endpoint_user(ep))->writable = true;
}
static int s_message(struct idc_endpoint *ep, uint16_t op, const void *p, size_t len)
{
    struct side *s = idc_endpoint_user(ep);
    if (op == OP_DATA && len == 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        s->sum += v;
        s->count++;
        return 0;
    }
    if (op == OP_STOP) {
        s->stopped = true;
        return 0;
    }
    if (op == OP_RBUF && len == IDC_RBUF_WIRE_SIZE && idc_rbuf_decode(&s->rb, p) == 0) {
        s->have_rb = true;
        return 0;
    }
    return IDC_ERR_PROTO;
}
static int s_txn(struct idc_endpoint *ep, struct idc_request *req, uint16_t op, const void *p,
                 size_t len)
{
    (void)ep;
    (void)op;
    idc_request_complete(req, 0, p, len);
    return 0;
}
static const struct idc_endpoint_ops side_ops = {
    .connect = s_connect,
    .disconnect = s_disconnect,
    .writable = s_writable,
    .handle_message = s_message,
    .handle_transaction = s_txn,
};
static void s_destroyed(struct idc_endpoint *ep)
{
    ((struct side *)(void *)ep)->destroyed = true;
}

static void side_start(struct side *s, enum idc_role role)
{
    memset(s, 0, sizeof *s);
    struct idc_context_options o = { .shm_dir = dir };
    if (idc_context_create(&s->ctx, &o) != 0)
        die("idc_context_create");
    struct idc_endpoint_config cfg = {
        .protocol = &prof_proto,
        .role = role,
        .address = "shm:prof",
        .ops = &side_ops,
        .user = s,
        .max_transactions = 64,
        .max_messages = 256,
    };
    if (g_mode == 'm') { /* as idc-bench's rate case: the bare ring's window */
        cfg.max_messages = 1024;
        cfg.max_frame = 64;
    }
    idc_endpoint_create(&s->ep, s->ctx, &cfg);
}

static void side_stop(struct side *s)
{
    idc_endpoint_destroy(&s->ep, s_destroyed);
    for (int i = 0; i < 200 && !s->destroyed; i++)
        idc_context_dispatch(s->ctx, 10);
    if (s->mem)
        idc_buffer_free(s->ctx, s->mem);
    idc_context_destroy(s->ctx);
}

static void wait_flag(struct side *s, bool *flag)
{
    for (int i = 0; i < 2000 && !*flag; i++)
        idc_context_dispatch(s->ctx, 10);
    if (!*flag)
        die("timed out waiting for the peer");
}

struct idc_setup {
    uint64_t n, param;
    int mode;
    int ready[2];
};

static struct side be, fe;

__attribute__((noinline)) static int prof_be_loop_idc(void)
{
    while (!be.gone)
        if (idc_context_dispatch(be.ctx, -1) < 0)
            return 1;
    return 0;
}

static int idc_peer(void *arg)
{
    struct idc_setup *s = arg;
    close(s->ready[0]);
    side_start(&be, IDC_ROLE_BACKEND);
    while (idc_endpoint_state(&be.ep) < IDC_EP_PRESENT)
        idc_context_dispatch(be.ctx, 10);
    if (write(s->ready[1], "R", 1) != 1)
        return 1;
    wait_flag(&be, &be.connected);
    if (s->mode == 'b') {
        if (idc_buffer_alloc(be.ctx, s->param, &be.mem) != 0 ||
            idc_buffer_register(be.ctx, be.mem, s->param, IDC_RBUF_WRITE, &be.rb) != 0)
            return 1;
        uint8_t w[IDC_RBUF_WIRE_SIZE];
        idc_rbuf_encode(&be.rb, w);
        if (idc_send_message(&be.ep, OP_RBUF, w, sizeof w) != 0)
            return 1;
    }
    int rc = prof_be_loop(NULL);
    side_stop(&be);
    return rc;
}

static void txn_done(struct idc_txn *t, int status, const void *res, size_t len)
{
    (void)res;
    (void)len;
    fe.txn_done = true;
    fe.txn_status = status;
    (void)t;
}

__attribute__((noinline)) static int prof_fe_loop_idc_rtt(struct idc_setup *s, const void *msg)
{
    fe.txn.done = txn_done;
    for (uint64_t k = 0; k < s->n; k++) {
        fe.txn_done = false;
        if (idc_submit_transaction(&fe.ep, &fe.txn, OP_ECHO, msg, s->param) != 0)
            return 1;
        while (!fe.txn_done)
            if (idc_context_dispatch(fe.ctx, -1) < 0)
                return 1;
        if (fe.txn_status != 0)
            return 1;
    }
    return 0;
}

static int send_one(uint16_t op, const void *p, size_t len)
{
    for (;;) {
        int r = idc_send_message(&fe.ep, op, p, len);
        if (r != IDC_ERR_AGAIN)
            return r;
        fe.writable = false;
        while (!fe.writable && fe.connected)
            if (idc_context_dispatch(fe.ctx, -1) < 0)
                return IDC_ERR_IO;
    }
}

__attribute__((noinline)) static int prof_fe_loop_idc_msg(struct idc_setup *s)
{
    uint64_t v = 0;
    while (v < s->n) {
        idc_endpoint_cork(&fe.ep);
        for (uint64_t k = 0; k < s->param; k++) {
            v++;
            if (send_one(OP_DATA, &v, 8) != 0)
                return 1;
        }
        idc_endpoint_flush(&fe.ep);
        idc_context_dispatch(fe.ctx, 0);
    }
    return send_one(OP_STOP, NULL, 0) != 0;
}

static void xfer_done(void *arg, int status)
{
    *(int *)arg = status;
}

static int one_transfer(const void *src, size_t len)
{
    int st = 1;
    if (idc_send_to_remote_buffer(fe.ctx, &fe.rb, 0, src, len, xfer_done, &st) != 0)
        return 1;
    while (st == 1)
        if (idc_context_dispatch(fe.ctx, -1) < 0)
            return 1;
    return st != 0;
}

__attribute__((noinline)) static int prof_fe_loop_idc_bulk(struct idc_setup *s, const void *src)
{
    for (uint64_t k = 0; k < s->n; k++)
        if (one_transfer(src, s->param) != 0)
            return 1;
    return 0;
}

/* ------------------------------------------------------------------ dispatch by mode */

static struct ring_setup g_ring;

__attribute__((noinline)) int prof_be_loop(void *arg)
{
    (void)arg;
    switch (g_mode) {
    case 'r':
        return prof_be_loop_ring_rtt(&g_ring);
    case 'q':
        return prof_be_loop_ring_rate(&g_ring);
    default:
        return prof_be_loop_idc();
    }
}

__attribute__((noinline)) static int prof_fe_loop(struct idc_setup *s, const void *buf)
{
    switch (g_mode) {
    case 'r':
        return prof_fe_loop_ring_rtt(&g_ring);
    case 'q':
        return prof_fe_loop_ring_rate(&g_ring);
    case 't':
        return prof_fe_loop_idc_rtt(s, buf);
    case 'm':
        return prof_fe_loop_idc_msg(s);
    default:
        return prof_fe_loop_idc_bulk(s, buf);
    }
}

static int run_ring(uint64_t n, uint64_t param)
{
    g_ring.n = n;
    g_ring.param = param;
    size_t bytes;
    if (g_mode == 'r') {
        uint32_t slot = (uint32_t)((param + 8 + 63) & ~(uint64_t)63);
        bytes = bring_bytes(16, slot);
        g_ring.a = shm_map(bytes);
        g_ring.b = shm_map(bytes);
        g_ring.a->nslots = g_ring.b->nslots = 16;
        g_ring.a->slot_size = g_ring.b->slot_size = slot;
    } else {
        bytes = bring_bytes(1024, 16);
        g_ring.a = shm_map(bytes);
        g_ring.a->nslots = 1024;
        g_ring.a->slot_size = 16;
    }
    for (int i = 0; i < 4; i++)
        if ((g_ring.efd[i] = eventfd(0, EFD_CLOEXEC)) < 0)
            die("eventfd");
    pid_t pid = fork_peer(g_mode == 'r' ? ring_rtt_peer : ring_rate_peer, NULL);
    return prof_fe_loop(NULL, NULL) | reap(pid);
}

static int run_idc(uint64_t n, uint64_t param)
{
    struct idc_setup s = { .n = n, .param = param, .mode = g_mode };
    if (g_mode == 't' && param > prof_proto.max_frame)
        die("idc-rtt: PARAM above the frame size (4096)");
    if (g_mode == 'm' && param == 0)
        die("idc-msg: batch must be >= 1");
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/idc-prof-%d", tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp",
             (int)getpid());
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        die("mkdir");
    if (pipe(s.ready) != 0)
        die("pipe");
    pid_t pid = fork_peer(idc_peer, &s);
    close(s.ready[1]);
    char c;
    if (read(s.ready[0], &c, 1) != 1)
        die("backend did not start");
    close(s.ready[0]);
    side_start(&fe, IDC_ROLE_FRONTEND);
    wait_flag(&fe, &fe.connected);
    void *buf = NULL;
    if (g_mode == 'b') {
        wait_flag(&fe, &fe.have_rb);
        buf = mmap(NULL, param, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (buf == MAP_FAILED)
            die("mmap");
        memset(buf, 0xa5, param);
        if (one_transfer(buf, param) != 0) /* maps the buffer: not measured */
            die("first transfer failed");
    } else if (g_mode == 't') {
        buf = calloc(1, param ? param : 1);
    }
    int rc = prof_fe_loop(&s, buf);
    side_stop(&fe);
    rc |= reap(pid);
    char sock[200];
    snprintf(sock, sizeof sock, "%s/prof.sock", dir);
    unlink(sock);
    rmdir(dir);
    return rc;
}

int main(int argc, char **argv)
{
    int same = 1, a = 1;
    if (argc > 2 && strcmp(argv[1], "-p") == 0) {
        same = strcmp(argv[2], "cross") != 0;
        a = 3;
    }
    if (argc - a != 3) {
        fprintf(stderr, "usage: idc-prof [-p same|cross] ring-rtt|idc-rtt|ring-rate|idc-msg|"
                        "idc-bulk N PARAM\n");
        return 2;
    }
    const char *mode = argv[a];
    uint64_t n = strtoull(argv[a + 1], NULL, 10), param = strtoull(argv[a + 2], NULL, 10);
    static const struct {
        const char *name;
        int code;
    } modes[] = {
        { "ring-rtt", 'r' }, { "ring-rate", 'q' }, { "idc-rtt", 't' },
        { "idc-msg", 'm' },  { "idc-bulk", 'b' },
    };
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (strcmp(mode, modes[i].name) == 0)
            g_mode = modes[i].code;
    if (!g_mode || n == 0 || (g_mode == 'r' && param > 4096))
        die("bad mode, count or parameter");
    pin(0);
    cpu_peer = same ? 0 : 1;
    uint64_t t0 = bench_now_ns();
    int rc = g_mode == 'r' || g_mode == 'q' ? run_ring(n, param) : run_idc(n, param);
    uint64_t t1 = bench_now_ns();
    printf("%s n=%llu param=%llu %s: %s, %.3f us per operation (wall clock, with set-up)\n", mode,
           (unsigned long long)n, (unsigned long long)param, same ? "same-core" : "cross-core",
           rc ? "FAILED" : "ok", (double)(t1 - t0) / 1e3 / (double)n);
    return rc ? 1 : 0;
}
