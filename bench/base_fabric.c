/* Baselines of the fabric placement: bare libfabric on the provider the idc fabric transport uses
 * (tcp;ofi_rxm, RDM endpoint, the same hints), between the placement's two namespaces. Nothing
 * but the provider: no framing, no validation, no copies, buffers posted once.
 *
 *   rtt   fi-msg      fi_send / fi_recv ping-pong of N bytes, completions polled (fi_cq_read in a
 *                     loop, as fabtests' pingpong does)
 *         fi-msg-fd   the same, waiting on the completion queue's wait fd (fi_trywait + poll)
 *                     when nothing is there, as a program that blocks does (idc does)
 *   rate  fi-msg      8-byte messages, B sent per round, a window of FI_WINDOW messages the
 *                     receiver reopens with a credit message every FI_CREDIT_EVERY it consumed
 *   bulk  fi-read     fi_read of N bytes from memory the peer registered (FI_REMOTE_READ) into
 *                     this side's, in pieces of at most FI_PIECE, all in flight at once
 *
 * The two sides exchange their endpoint names (and, for bulk, the registration) over a
 * socketpair made before the fork. */
#include "harness.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#define FI_PROV         "tcp;ofi_rxm"
#define FI_WINDOW       256u /* rate: messages in flight */
#define FI_CREDIT_EVERY 64u  /* rate: the receiver returns credit after this many */
#define FI_PIECE        (1u << 20)
#define FI_PIECES       16u /* 16 MiB at most in flight */

struct fi {
    struct fi_info *info;
    struct fid_fabric *fabric;
    struct fid_domain *domain;
    struct fid_cq *cq;
    struct fid_av *av;
    struct fid_ep *ep;
    fi_addr_t peer;
    bool use_fd; /* wait on the completion queue's fd instead of polling */
    int fd;
};

/* Per-operation contexts (the provider asks for FI_CONTEXT2). */
struct op {
    struct fi_context2 ctx;
    int kind; /* OP_SEND, OP_RECV, OP_READ */
};
enum { OP_SEND = 1, OP_RECV, OP_READ };

static char fi_err[96] = "timed out";

static int fi_close_all(struct fi *f)
{
    if (f->ep)
        fi_close(&f->ep->fid);
    if (f->av)
        fi_close(&f->av->fid);
    if (f->cq)
        fi_close(&f->cq->fid);
    if (f->domain)
        fi_close(&f->domain->fid);
    if (f->fabric)
        fi_close(&f->fabric->fid);
    if (f->info)
        fi_freeinfo(f->info);
    memset(f, 0, sizeof *f);
    return -1;
}

/* The idc transport's hints (runtime/transports/fabric/fabric.c get_info), on this side's
   address ($IDC_FABRIC_ADDR, set by the harness in the fabric placement). */
static int fi_info_get(struct fi *f)
{
    struct fi_info *hints = fi_allocinfo();
    if (!hints)
        return -1;
    hints->caps = FI_MSG | FI_RMA | FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE;
    hints->ep_attr->type = FI_EP_RDM;
    hints->mode = FI_CONTEXT | FI_CONTEXT2;
    hints->domain_attr->mr_mode = FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY;
    hints->domain_attr->threading = FI_THREAD_DOMAIN;
    hints->tx_attr->msg_order = FI_ORDER_SAS;
    hints->rx_attr->msg_order = FI_ORDER_SAS;
    hints->fabric_attr->prov_name = strdup(FI_PROV);
    const char *node = getenv("IDC_FABRIC_ADDR");
    int r = fi_getinfo(FI_VERSION(1, 9), node, NULL, node ? FI_SOURCE : 0, hints, &f->info);
    fi_freeinfo(hints);
    return r ? -1 : 0;
}

static int fi_open_ep(struct bench_run *run, struct fi *f, bool use_fd)
{
    memset(f, 0, sizeof *f);
    f->use_fd = use_fd;
    f->fd = -1;
    if (fi_info_get(f) != 0)
        return bench_fail(run, "fi_getinfo: no %s provider", FI_PROV);
    struct fi_cq_attr cqa = { .size = 1024,
                              .format = FI_CQ_FORMAT_MSG,
                              .wait_obj = use_fd ? FI_WAIT_FD : FI_WAIT_NONE };
    struct fi_av_attr ava = { .type = FI_AV_TABLE, .count = 4 };
    int r;
    if ((r = fi_fabric(f->info->fabric_attr, &f->fabric, NULL)) ||
        (r = fi_domain(f->fabric, f->info, &f->domain, NULL)) ||
        (r = fi_cq_open(f->domain, &cqa, &f->cq, NULL)) ||
        (r = fi_av_open(f->domain, &ava, &f->av, NULL)) ||
        (r = fi_endpoint(f->domain, f->info, &f->ep, NULL)) ||
        (r = fi_ep_bind(f->ep, &f->cq->fid, FI_TRANSMIT | FI_RECV)) ||
        (r = fi_ep_bind(f->ep, &f->av->fid, 0)) || (r = fi_enable(f->ep))) {
        fi_close_all(f);
        return bench_fail(run, "opening the endpoint: %s", fi_strerror(-r));
    }
    if (use_fd && (fi_control(&f->cq->fid, FI_GETWAIT, &f->fd) != 0 || f->fd < 0)) {
        fi_close_all(f);
        return bench_fail(run, "no wait fd on the completion queue");
    }
    return 0;
}

static struct op *fi_next(struct fi *f);
static int fi_idle(struct fi *f, int fd);
static int fi_hello(struct fi *f, bool first);
struct fi_arg {
    int sock;
    int other; /* the measuring side's end: the peer closes its copy to see the end */
    bool use_fd;
    uint64_t size;
};
static int fi_peer_open(struct fi *f, const struct fi_arg *a, bool use_fd);

/* Both sides send their endpoint name through sock and insert the other's, then exchange one
   message: the provider's connection is up before anything is measured (its set-up takes
   hundreds of milliseconds, longer than a run's budget). */
static int fi_meet(struct bench_run *run, struct fi *f, int sock, bool first)
{
    char me[256], peer[256];
    size_t len = sizeof me;
    if (fi_getname(&f->ep->fid, me, &len) != 0)
        return bench_fail(run, "fi_getname failed");
    uint32_t l = (uint32_t)len, pl;
    if (bench_write_full(sock, &l, 4) || bench_write_full(sock, me, len) ||
        bench_read_full(sock, &pl, 4) || pl > sizeof peer || bench_read_full(sock, peer, pl))
        return bench_fail(run, "exchanging endpoint names failed");
    if (fi_av_insert(f->av, peer, 1, &f->peer, 0, NULL) != 1)
        return bench_fail(run, "fi_av_insert failed");
    if (fi_hello(f, first) != 0)
        return bench_fail(run, "no first message: %s", fi_err);
    return 0;
}

/* Nothing in the completion queue. Polled: gives the core away for a moment (the machine may be
   shared; the provider progresses only when called, a sleeping side would stall the other) and
   says whether fd (when not -1) is readable. Waiting: sleeps until the completion queue or fd
   has something. 1 when fd is readable, 0 otherwise, -1 after 5 s of nothing. */
static int fi_idle(struct fi *f, int fd)
{
    if (!f->use_fd) {
        sched_yield();
        struct pollfd p = { fd, POLLIN, 0 };
        return fd >= 0 && poll(&p, 1, 0) > 0 ? 1 : 0;
    }
    struct fid *fid = &f->cq->fid;
    /* the wait fd signals only what comes after fi_trywait said the queue is empty */
    if (fi_trywait(f->fabric, &fid, 1) != FI_SUCCESS)
        return 0;
    struct pollfd p[2] = { { f->fd, POLLIN, 0 }, { fd, POLLIN, 0 } };
    int n = poll(p, fd >= 0 ? 2 : 1, 5000);
    if (n <= 0)
        return -1;
    return fd >= 0 && p[1].revents ? 1 : 0;
}

/* One completion (blocking: polling, or waiting on the fd); its op, or NULL on error (fi_err
   says which). */
static struct op *fi_next(struct fi *f)
{
    struct fi_cq_msg_entry e;
    for (unsigned empty = 0;; empty++) {
        ssize_t n = fi_cq_read(f->cq, &e, 1);
        if (n == 1)
            return e.op_context;
        if (n == -FI_EAVAIL) {
            struct fi_cq_err_entry ee = { 0 };
            if (fi_cq_readerr(f->cq, &ee, 0) == 1)
                snprintf(fi_err, sizeof fi_err, "%s", fi_strerror(ee.err));
            return NULL;
        }
        if (n != -FI_EAGAIN)
            return NULL;
        /* polled: a yield now and then, so a spinning side cannot hold a shared core away
           from the other side for a whole time slice */
        if ((f->use_fd || (empty & 1023) == 1023) && fi_idle(f, -1) < 0)
            return NULL; /* the peer is gone (a polled side spins: the pair is killed) */
    }
}

/* Retries an operation the provider cannot queue yet, driving progress meanwhile. */
#define FI_POST(f, call)                                                               \
    ({                                                                                 \
        ssize_t r_;                                                                    \
        while ((r_ = (call)) == -FI_EAGAIN)                                            \
            fi_cq_read((f)->cq, NULL, 0); /* progress: the provider frees its queue */ \
        r_;                                                                            \
    })

/* The first message: the measuring side (first) sends, the peer answers once it has it, so the
   provider's connection is made from one side only (two sides connecting at once make it settle
   a collision, which costs hundreds of milliseconds). */
static int fi_hello(struct fi *f, bool first)
{
    char in = 0, out = 1;
    struct op rop = { .kind = OP_RECV }, sop = { .kind = OP_SEND };
    if (FI_POST(f, fi_recv(f->ep, &in, 1, NULL, f->peer, &rop)))
        return -1;
    if (first && FI_POST(f, fi_send(f->ep, &out, 1, NULL, f->peer, &sop)))
        return -1;
    for (int got = 0; got != 3;) {
        struct op *o = fi_next(f);
        if (!o)
            return -1;
        got |= o == &rop ? 1 : o == &sop ? 2 : 0;
        if (o == &rop && !first && FI_POST(f, fi_send(f->ep, &out, 1, NULL, f->peer, &sop)))
            return -1;
    }
    return 0;
}

/* The peer's endpoint, met with the measuring side's. */
static int fi_peer_open(struct fi *f, const struct fi_arg *a, bool use_fd)
{
    struct bench_run dummy = { 0 }; /* the peer's failures show as its exit status */
    close(a->other);
    return fi_open_ep(&dummy, f, use_fd) != 0 || fi_meet(&dummy, f, a->sock, false) != 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ rtt */

/* The echo side: receive, send the same bytes back, until the other side closes its socket.
   Two buffers: the next receive is posted before the reply goes, so a request never waits in
   the provider's unexpected queue. */
static int fi_echo_peer(void *arg)
{
    struct fi_arg *a = arg;
    struct fi f;
    if (fi_peer_open(&f, a, a->use_fd) != 0)
        return 1;
    char *buf[2] = { calloc(1, a->size + 1), calloc(1, a->size + 1) };
    struct op rop = { .kind = OP_RECV }, sop[2] = { { .kind = OP_SEND }, { .kind = OP_SEND } };
    unsigned cur = 0;
    if (!buf[0] || !buf[1] || FI_POST(&f, fi_recv(f.ep, buf[0], a->size, NULL, f.peer, &rop)))
        return 1;
    for (;;) {
        struct op *o = fi_next(&f);
        if (!o)
            break; /* the measuring side is gone */
        if (o->kind != OP_RECV)
            continue;
        if (FI_POST(&f, fi_recv(f.ep, buf[cur ^ 1], a->size, NULL, f.peer, &rop)) ||
            FI_POST(&f, fi_send(f.ep, buf[cur], a->size, NULL, f.peer, &sop[cur])))
            break;
        /* the reply's buffer is received into again only after the next request: done by then */
        cur ^= 1;
    }
    free(buf[0]);
    free(buf[1]);
    fi_close_all(&f);
    return 0;
}

static int fi_rtt_loop(struct bench_run *run, struct fi *f, char *out, char *in)
{
    struct op rop = { .kind = OP_RECV }, sop = { .kind = OP_SEND };
    size_t n = run->param;
    bench_lat_start(run);
    for (;;) {
        uint64_t t0 = bench_ticks();
        if (FI_POST(f, fi_recv(f->ep, in, n, NULL, f->peer, &rop)) ||
            FI_POST(f, fi_send(f->ep, out, n, NULL, f->peer, &sop)))
            return bench_fail(run, "posting failed");
        int got = 0;
        while (got != 3) {
            struct op *o = fi_next(f);
            if (!o)
                return bench_fail(run, "completion failed");
            got |= o->kind == OP_RECV ? 1 : o->kind == OP_SEND ? 2 : 0;
        }
        uint64_t t1 = bench_ticks();
        if (memcmp(in, out, n) != 0)
            return bench_fail(run, "echo differs");
        if (!bench_lat_record(run, t0, t1))
            return 0;
    }
}

static int fi_rtt(struct bench_run *run, bool use_fd)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return bench_fail(run, "socketpair: %s", strerror(errno));
    struct fi_arg a = { sv[1], sv[0], use_fd, run->param };
    pid_t pid = bench_fork_peer(run, fi_echo_peer, &a);
    close(sv[1]);
    if (pid < 0)
        return -1;
    struct fi f;
    char *out = malloc(run->param), *in = malloc(run->param);
    int rc = out && in ? fi_open_ep(run, &f, use_fd) : bench_fail(run, "out of memory");
    if (rc == 0) {
        memset(out, 0x5a, run->param);
        rc = fi_meet(run, &f, sv[0], true);
        if (rc == 0)
            rc = fi_rtt_loop(run, &f, out, in);
        fi_close_all(&f);
    }
    close(sv[0]); /* the peer's wait ends */
    bench_kill_peer(pid);
    free(out);
    free(in);
    return rc;
}

static int fi_rtt_poll(struct bench_run *run)
{
    return fi_rtt(run, false);
}
static int fi_rtt_fd(struct bench_run *run)
{
    return fi_rtt(run, true);
}

static const uint64_t fab_rtt_params[] = { 64, 1024, 0 };
BENCH_CASE(case_fi_rtt, .figure = "rtt", .name = "fi-msg", .placements = BENCH_FABRIC,
           .params = fab_rtt_params, .run = fi_rtt_poll)
BENCH_CASE(case_fi_rtt_fd, .figure = "rtt", .name = "fi-msg-fd", .baseline = "fi-msg",
           .placements = BENCH_FABRIC, .params = fab_rtt_params, .run = fi_rtt_fd)

/* ------------------------------------------------------------------ rate */
/* The receiver: FI_WINDOW receives posted, each reposted when it completes; a credit message
   (the count consumed so far) every FI_CREDIT_EVERY; a zero-length message ends the series. */
static int fi_sink_peer(void *arg)
{
    struct fi_arg *a = arg;
    struct fi f;
    if (fi_peer_open(&f, a, false) != 0)
        return 1;
    static uint64_t bufs[FI_WINDOW];
    static struct op rops[FI_WINDOW];
    struct op sop = { .kind = OP_SEND };
    uint64_t count = 0, credit = 0, sum = 0;
    bool sending = false;
    for (unsigned i = 0; i < FI_WINDOW; i++) {
        rops[i].kind = OP_RECV;
        if (FI_POST(&f, fi_recv(f.ep, &bufs[i], 8, NULL, f.peer, &rops[i])))
            return 1;
    }
    struct fi_cq_msg_entry e[16];
    for (;;) {
        ssize_t n = fi_cq_read(f.cq, e, 16);
        if (n == -FI_EAGAIN && fi_idle(&f, -1) >= 0)
            continue;
        if (n < 0)
            break;
        for (ssize_t k = 0; k < n; k++) {
            struct op *o = e[k].op_context;
            if (o == &sop) {
                sending = false;
                continue;
            }
            if (e[k].len == 0)
                goto out;
            size_t i = (size_t)(o - rops);
            sum += bufs[i];
            count++;
            if (FI_POST(&f, fi_recv(f.ep, &bufs[i], 8, NULL, f.peer, o)))
                goto out;
        }
        if (!sending && count - credit >= FI_CREDIT_EVERY) {
            credit = count;
            if (FI_POST(&f, fi_send(f.ep, &credit, 8, NULL, f.peer, &sop)))
                break;
            sending = true;
        }
    }
out:
    bench_sink = sum;
    fi_close_all(&f);
    return 0;
}

struct rate_state {
    struct fi *f;
    uint64_t sent, acked, credit_buf;
    struct op rop, sops[FI_WINDOW];
    uint64_t vals[FI_WINDOW];
};

/* Completions: credit messages advance acked. Sleeps when blocked (the window is full). */
static int rate_poll(struct rate_state *s, bool blocked)
{
    struct fi_cq_msg_entry e[16];
    ssize_t n = fi_cq_read(s->f->cq, e, 16);
    if (n == -FI_EAGAIN)
        return blocked ? (fi_idle(s->f, -1) < 0 ? -1 : 0) : 0;
    if (n < 0)
        return -1;
    for (ssize_t k = 0; k < n; k++) {
        if (e[k].op_context != &s->rop)
            continue;
        s->acked = s->credit_buf;
        if (FI_POST(s->f, fi_recv(s->f->ep, &s->credit_buf, 8, NULL, s->f->peer, &s->rop)))
            return -1;
    }
    return 0;
}

static int fi_rate_loop(struct bench_run *run, struct rate_state *s)
{
    unsigned batch = (unsigned)run->param;
    uint64_t start = bench_now_ns(), t0 = 0, base = 0;
    bool measuring = false;
    for (;;) {
        uint64_t now = bench_now_ns();
        if (!measuring && !bench_in_warmup(run, start, now)) {
            measuring = true;
            t0 = now;
            base = s->acked;
        } else if (measuring && now - t0 >= run->budget_ns) {
            run->value = (double)(s->acked - base) / ((double)(now - t0) / 1e3);
            return 0;
        }
        bool room = s->sent + batch - s->acked <= FI_WINDOW;
        if (room) {
            for (unsigned i = 0; i < batch; i++, s->sent++) {
                size_t slot = s->sent % FI_WINDOW;
                s->vals[slot] = s->sent;
                if (FI_POST(s->f,
                            fi_send(s->f->ep, &s->vals[slot], 8, NULL, s->f->peer, &s->sops[slot])))
                    return bench_fail(run, "fi_send failed");
            }
        }
        if (rate_poll(s, !room) != 0)
            return bench_fail(run, "completion failed");
    }
}

static int fi_rate(struct bench_run *run)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return bench_fail(run, "socketpair: %s", strerror(errno));
    struct fi_arg a = { sv[1], sv[0], false, 8 };
    pid_t pid = bench_fork_peer(run, fi_sink_peer, &a);
    close(sv[1]);
    if (pid < 0)
        return -1;
    struct fi f;
    static struct rate_state s;
    memset(&s, 0, sizeof s);
    s.f = &f;
    int rc = fi_open_ep(run, &f, false);
    if (rc == 0) {
        rc = fi_meet(run, &f, sv[0], true);
        if (rc == 0 && FI_POST(&f, fi_recv(f.ep, &s.credit_buf, 8, NULL, f.peer, &s.rop)))
            rc = bench_fail(run, "fi_recv failed");
        if (rc == 0)
            rc = fi_rate_loop(run, &s);
        if (rc == 0) /* the end of the series (zero bytes) */
            FI_POST(&f, fi_send(f.ep, NULL, 0, NULL, f.peer, &s.sops[0]));
        for (int i = 0; i < 100; i++)
            fi_cq_read(f.cq, NULL, 0); /* let the end go out */
        fi_close_all(&f);
    }
    close(sv[0]);
    bench_kill_peer(pid);
    return rc;
}

static const uint64_t fab_rate_params[] = { 16, 0 };
BENCH_CASE(case_fi_rate, .figure = "rate", .name = "fi-msg", .placements = BENCH_FABRIC,
           .params = fab_rate_params, .run = fi_rate)

/* ------------------------------------------------------------------ bulk */
/* The exporting side: registers size bytes for remote read, sends address and key, then waits
   until the measuring side closes its socket (the provider progresses reads it serves only when
   called: it polls the completion queue meanwhile). */
static int fi_export_peer(void *arg)
{
    struct fi_arg *a = arg;
    struct fi f;
    if (fi_peer_open(&f, a, false) != 0)
        return 1;
    void *mem = mmap(NULL, a->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct fid_mr *mr;
    if (mem == MAP_FAILED)
        return 1;
    memset(mem, 0xa5, a->size);
    if (fi_mr_reg(f.domain, mem, a->size, FI_REMOTE_READ, 0, 0, 0, &mr, NULL) != 0)
        return 1;
    /* remote addresses are offsets into the registration unless the provider keeps FI_MR_VIRT_ADDR */
    bool virt = (f.info->domain_attr->mr_mode & FI_MR_VIRT_ADDR) != 0;
    uint64_t desc[2] = { virt ? (uint64_t)(uintptr_t)mem : 0, fi_mr_key(mr) };
    if (bench_write_full(a->sock, desc, sizeof desc) != 0)
        return 1;
    for (;;) {
        struct fi_cq_msg_entry e;
        fi_cq_read(f.cq, &e, 1); /* serves the reads (manual progress) */
        if (fi_idle(&f, a->sock) != 0)
            break; /* the socket closed: done */
    }
    fi_close(&mr->fid);
    fi_close_all(&f);
    return 0;
}

static int fi_read_all(struct fi *f, char *dst, uint64_t len, const uint64_t *desc)
{
    static struct op ops[FI_PIECES];
    unsigned posted = 0;
    for (uint64_t off = 0; off < len; off += FI_PIECE, posted++) {
        uint64_t n = len - off < FI_PIECE ? len - off : FI_PIECE;
        ops[posted].kind = OP_READ;
        ssize_t r = FI_POST(
            f, fi_read(f->ep, dst + off, n, NULL, f->peer, desc[0] + off, desc[1], &ops[posted]));
        if (r) {
            snprintf(fi_err, sizeof fi_err, "posting: %s", fi_strerror((int)-r));
            return -1;
        }
    }
    while (posted--)
        if (!fi_next(f))
            return -1;
    return 0;
}

static int fi_bulk_loop(struct bench_run *run, struct fi *f, int sock)
{
    uint64_t desc[2];
    if (bench_read_full(sock, desc, sizeof desc) != 0)
        return bench_fail(run, "no registration from the peer");
    char *dst = mmap(NULL, run->param, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (dst == MAP_FAILED)
        return bench_fail(run, "mmap: %s", strerror(errno));
    memset(dst, 0, run->param);
    uint64_t start = bench_now_ns(), t0 = 0, bytes = 0;
    bool measuring = false;
    int rc = 0;
    for (;;) {
        if (fi_read_all(f, dst, run->param, desc) != 0) {
            rc = bench_fail(run, "fi_read failed: %s", fi_err);
            break;
        }
        uint64_t now = bench_now_ns();
        if (!measuring) {
            measuring = !bench_in_warmup(run, start, now);
            t0 = now;
            continue;
        }
        bytes += run->param;
        if (now - t0 >= run->budget_ns) {
            run->value = (double)bytes / (double)(now - t0);
            break;
        }
    }
    if (rc == 0 && (unsigned char)dst[run->param - 1] != 0xa5)
        rc = bench_fail(run, "the bytes read differ");
    munmap(dst, run->param);
    return rc;
}

static int fi_bulk(struct bench_run *run)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return bench_fail(run, "socketpair: %s", strerror(errno));
    struct fi_arg a = { sv[1], sv[0], false, run->param };
    pid_t pid = bench_fork_peer(run, fi_export_peer, &a);
    close(sv[1]);
    if (pid < 0)
        return -1;
    struct fi f;
    int rc = fi_open_ep(run, &f, false);
    if (rc == 0) {
        rc = fi_meet(run, &f, sv[0], true);
        if (rc == 0)
            rc = fi_bulk_loop(run, &f, sv[0]);
        fi_close_all(&f);
    }
    close(sv[0]);
    if (rc == 0)
        rc = bench_wait_peer(run, pid);
    else
        bench_kill_peer(pid);
    return rc;
}

static const uint64_t fab_bulk_params[] = { 1048576, 16777216, 0 };
BENCH_CASE(case_fi_bulk, .figure = "bulk", .name = "fi-read", .placements = BENCH_FABRIC,
           .params = fab_bulk_params, .run = fi_bulk)
