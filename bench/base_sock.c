/*
 * Kernel-mediated baselines: pipe and UNIX SEQPACKET round trips, SEQPACKET message rate
 * (send per message, sendmmsg per batch), UNIX stream bulk transfer, memcpy, UNIX socket
 * connection bring-up, and how long a survivor takes to notice a kill -9 on a socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* ------------------------------------------------------------------ pipe round trip */

struct fdpair_setup {
    int rd, wr; /* peer reads rd, writes wr */
    size_t size;
    int mine[2]; /* the measuring side's ends: the peer closes its copies */
};

static void close_mine(const struct fdpair_setup *s)
{
    close(s->mine[0]);
    if (s->mine[1] != s->mine[0])
        close(s->mine[1]);
}

static int pipe_peer(void *arg)
{
    struct fdpair_setup *s = arg;
    close_mine(s);
    char *buf = malloc(s->size);
    if (!buf)
        return 1;
    for (;;) {
        if (bench_read_full(s->rd, buf, s->size) != 0)
            break; /* EOF: the measuring side is done */
        if (bench_write_full(s->wr, buf, s->size) != 0) {
            free(buf);
            return 1;
        }
    }
    free(buf);
    return 0;
}

static int pipe_rtt(struct bench_run *run)
{
    int a[2], b[2];
    if (pipe2(a, O_CLOEXEC) != 0 || pipe2(b, O_CLOEXEC) != 0)
        return bench_fail(run, "pipe: %s", strerror(errno));
    struct fdpair_setup s = { a[0], b[1], run->param, { a[1], b[0] } };
    pid_t pid = bench_fork_peer(run, pipe_peer, &s);
    if (pid < 0)
        return -1;
    close(a[0]);
    close(b[1]);
    char *msg = malloc(s.size), *back = malloc(s.size);
    if (!msg || !back) {
        bench_kill_peer(pid);
        return bench_fail(run, "out of memory");
    }
    memset(msg, 0x5a, s.size);
    int rc = 0;
    bench_lat_start(run);
    for (;;) {
        uint64_t t0 = bench_ticks();
        if (bench_write_full(a[1], msg, s.size) != 0 || bench_read_full(b[0], back, s.size) != 0) {
            rc = bench_fail(run, "pipe transfer: %s", strerror(errno));
            break;
        }
        uint64_t t1 = bench_ticks();
        if (!bench_lat_record(run, t0, t1))
            break;
    }
    close(a[1]);
    if (rc == 0 && memcmp(msg, back, s.size) != 0)
        rc = bench_fail(run, "echo payload differs");
    if (rc == 0)
        rc = bench_wait_peer(run, pid);
    else
        bench_kill_peer(pid);
    close(b[0]);
    free(msg);
    free(back);
    return rc;
}

BENCH_CASE(case_pipe_rtt, .figure = "rtt", .name = "pipe", .baseline = "ring-eventfd",
           .placements = BENCH_BOTH, .run = pipe_rtt)

/* ------------------------------------------------------------------ SEQPACKET round trip */

static int seqp_peer(void *arg)
{
    struct fdpair_setup *s = arg;
    close_mine(s);
    char *buf = malloc(s->size + 1);
    if (!buf)
        return 1;
    for (;;) {
        ssize_t n = recv(s->rd, buf, s->size + 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (send(s->rd, buf, (size_t)n, 0) != n) {
            free(buf);
            return 1;
        }
    }
    free(buf);
    return 0;
}

static int seqp_rtt(struct bench_run *run)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return bench_fail(run, "socketpair: %s", strerror(errno));
    struct fdpair_setup s = { sv[1], sv[1], run->param, { sv[0], sv[0] } };
    pid_t pid = bench_fork_peer(run, seqp_peer, &s);
    if (pid < 0)
        return -1;
    close(sv[1]);
    char *msg = malloc(s.size), *back = malloc(s.size + 1);
    if (!msg || !back) {
        bench_kill_peer(pid);
        return bench_fail(run, "out of memory");
    }
    memset(msg, 0x5a, s.size);
    int rc = 0;
    bench_lat_start(run);
    for (;;) {
        uint64_t t0 = bench_ticks();
        if (send(sv[0], msg, s.size, 0) != (ssize_t)s.size ||
            recv(sv[0], back, s.size + 1, 0) != (ssize_t)s.size) {
            rc = bench_fail(run, "seqpacket transfer: %s", strerror(errno));
            break;
        }
        uint64_t t1 = bench_ticks();
        if (!bench_lat_record(run, t0, t1))
            break;
    }
    shutdown(sv[0], SHUT_RDWR);
    if (rc == 0 && memcmp(msg, back, s.size) != 0)
        rc = bench_fail(run, "echo payload differs");
    if (rc == 0)
        rc = bench_wait_peer(run, pid);
    else
        bench_kill_peer(pid);
    close(sv[0]);
    free(msg);
    free(back);
    return rc;
}

BENCH_CASE(case_seqp_rtt, .figure = "rtt", .name = "unix-seqpacket", .baseline = "ring-eventfd",
           .placements = BENCH_BOTH, .run = seqp_rtt)

/* ------------------------------------------------------------------ SEQPACKET message rate */

struct seqp_rate_res {
    uint64_t t_start, t_end, count;
};

struct seqp_rate_setup {
    int fd;
    struct seqp_rate_res *res;
    bool ack; /* paced like idc-msg-cb: see base_ring.c's -ack cases (same numbers) */
};

#define SEQP_ACK_EVERY 16u
#define SEQP_GROUPS    32u

#define RATE_VLEN 64

static int seqp_rate_peer(void *arg)
{
    struct seqp_rate_setup *s = arg;
    static char bufs[RATE_VLEN][16];
    struct mmsghdr mm[RATE_VLEN];
    struct iovec iov[RATE_VLEN];
    uint64_t count = 0, sum = 0, data_seen = 0;
    int counting = 0;
    for (;;) {
        uint32_t acks = 0;
        for (int i = 0; i < RATE_VLEN; i++) {
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = sizeof bufs[i];
            memset(&mm[i].msg_hdr, 0, sizeof mm[i].msg_hdr);
            mm[i].msg_hdr.msg_iov = &iov[i];
            mm[i].msg_hdr.msg_iovlen = 1;
        }
        int n = recvmmsg(s->fd, mm, RATE_VLEN, MSG_WAITFORONE, NULL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 1;
        for (int i = 0; i < n; i++) {
            if (mm[i].msg_len == 8) {
                uint64_t v;
                memcpy(&v, bufs[i], sizeof v);
                sum += v;
                count++;
                if (s->ack && ++data_seen % SEQP_ACK_EVERY == 0)
                    acks++;
            } else if (mm[i].msg_len == 1 && bufs[i][0] == 'M') {
                count = 0;
                counting = 1;
                s->res->t_start = bench_now_ns();
            } else if (mm[i].msg_len == 1 && bufs[i][0] == 'S') {
                s->res->t_end = bench_now_ns();
                s->res->count = counting ? count : 0;
                bench_sink = sum;
                return 0;
            } else {
                return 1;
            }
        }
        /* the acknowledgements of this batch in one message (its count) */
        if (acks && send(s->fd, &acks, sizeof acks, 0) != (ssize_t)sizeof acks)
            return 1;
    }
}

/* Producer of the -ack case: once SEQP_GROUPS groups are in flight, wait for an
   acknowledgement message before the next group. */
static int seqp_wait_ack(int fd, uint32_t *in_flight)
{
    while (*in_flight >= SEQP_GROUPS) {
        uint32_t n;
        ssize_t r = recv(fd, &n, sizeof n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r != (ssize_t)sizeof n || n > *in_flight) {
            if (r >= 0)
                errno = 0; /* short or impossible: no system error to report */
            return -1;
        }
        *in_flight -= n;
    }
    return 0;
}

static int seqp_rate_paced(struct bench_run *run, bool ack)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return bench_fail(run, "socketpair: %s", strerror(errno));
    struct seqp_rate_res *res = mmap(NULL, sizeof *res, PROT_READ | PROT_WRITE,
                                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (res == MAP_FAILED)
        return bench_fail(run, "mmap: %s", strerror(errno));
    struct seqp_rate_setup s = { sv[1], res, ack };
    pid_t pid = bench_fork_peer(run, seqp_rate_peer, &s);
    if (pid < 0)
        return -1;
    close(sv[1]);
    unsigned batch = (unsigned)run->param;
    uint64_t vals[16];
    struct mmsghdr mm[16];
    struct iovec iov[16];
    for (unsigned i = 0; i < 16; i++) {
        iov[i].iov_base = &vals[i];
        iov[i].iov_len = 8;
        memset(&mm[i], 0, sizeof mm[i]);
        mm[i].msg_hdr.msg_iov = &iov[i];
        mm[i].msg_hdr.msg_iovlen = 1;
    }
    uint64_t start = bench_now_ns(), v = 0;
    uint32_t groups = 0;
    int marked = 0, rc = 0;
    for (uint64_t iter = 0;; iter++) {
        if (ack && seqp_wait_ack(sv[0], &groups) != 0) {
            rc = bench_fail(run, "acknowledgement: %s", errno ? strerror(errno) : "malformed");
            break;
        }
        groups++;
        if ((iter & 15) == 0) {
            uint64_t now = bench_now_ns();
            if (!marked && !bench_in_warmup(run, start, now)) {
                if (send(sv[0], "M", 1, 0) != 1) {
                    rc = bench_fail(run, "send: %s", strerror(errno));
                    break;
                }
                marked = 1;
                start = now;
            } else if (marked && now - start >= run->budget_ns) {
                break;
            }
        }
        if (batch == 1) {
            v++;
            if (send(sv[0], &v, 8, 0) != 8) {
                rc = bench_fail(run, "send: %s", strerror(errno));
                break;
            }
        } else {
            for (unsigned i = 0; i < batch; i++)
                vals[i] = ++v;
            unsigned done = 0;
            while (done < batch) {
                int n = sendmmsg(sv[0], mm + done, batch - done, 0);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n <= 0) {
                    rc = bench_fail(run, "sendmmsg: %s", strerror(errno));
                    break;
                }
                done += (unsigned)n;
            }
            if (rc)
                break;
        }
    }
    if (rc == 0 && send(sv[0], "S", 1, 0) != 1)
        rc = bench_fail(run, "send: %s", strerror(errno));
    if (rc == 0)
        rc = bench_wait_peer(run, pid);
    else
        bench_kill_peer(pid);
    if (rc == 0 && res->t_end > res->t_start)
        run->value = (double)res->count / ((double)(res->t_end - res->t_start) / 1e3);
    close(sv[0]);
    munmap(res, sizeof *res);
    return rc;
}

static int seqp_rate(struct bench_run *run)
{
    return seqp_rate_paced(run, false);
}
static int seqp_rate_ack(struct bench_run *run)
{
    return seqp_rate_paced(run, true);
}

BENCH_CASE(case_seqp_rate, .figure = "rate", .name = "unix-seqpacket", .baseline = "ring-eventfd",
           .placements = BENCH_BOTH, .run = seqp_rate)
/* Paced by acknowledgements like idc-msg-cb: batch 16 only, where those cases pace. */
static const uint64_t seqp_only_batch16[] = { 16, 0 };
BENCH_CASE(case_seqp_rate_ack, .figure = "rate", .name = "unix-seqpacket-ack",
           .baseline = "ring-eventfd-ack", .placements = BENCH_BOTH, .params = seqp_only_batch16,
           .run = seqp_rate_ack)

/* ------------------------------------------------------------------ bulk */

static void *big_alloc(struct bench_run *run, size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        bench_fail(run, "mmap %zu: %s", len, strerror(errno));
        return NULL;
    }
    memset(p, 0x33, len); /* fault every page in before timing */
    return p;
}

/* memcpy of the same size between two private, pre-faulted buffers: the ceiling for any
   transfer that ends with one copy into the receiver's memory. */
static int memcpy_bulk(struct bench_run *run)
{
    size_t len = run->param;
    char *src = big_alloc(run, len), *dst = big_alloc(run, len);
    if (!src || !dst)
        return -1;
    uint64_t start = bench_now_ns(), bytes = 0, t0 = 0;
    int measuring = 0;
    for (;;) {
        memcpy(dst, src, len);
        __asm__ __volatile__("" ::"r"(dst) : "memory");
        uint64_t now = bench_now_ns();
        if (!measuring) {
            if (!bench_in_warmup(run, start, now)) {
                measuring = 1;
                t0 = now;
            }
            continue;
        }
        bytes += len;
        if (now - t0 >= run->budget_ns) {
            run->value = (double)bytes / (double)(now - t0);
            break;
        }
    }
    bench_sink = (unsigned char)dst[len - 1];
    munmap(src, len);
    munmap(dst, len);
    return 0;
}

BENCH_CASE(case_memcpy, .figure = "bulk", .name = "memcpy", .baseline = NULL,
           .placements = BENCH_BOTH, .run = memcpy_bulk)

/* UNIX stream: the sender writes N bytes, the receiver reads all N into its buffer, then
   acknowledges with one byte; one transfer = write..ack. */
static int stream_peer(void *arg)
{
    struct fdpair_setup *s = arg;
    close_mine(s);
    char *buf = malloc(s->size);
    if (!buf)
        return 1;
    for (;;) {
        if (bench_read_full(s->rd, buf, s->size) != 0)
            break;
        if (bench_write_full(s->wr, "A", 1) != 0) {
            free(buf);
            return 1;
        }
    }
    bench_sink = (unsigned char)buf[s->size - 1];
    free(buf);
    return 0;
}

static int stream_bulk(struct bench_run *run)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return bench_fail(run, "socketpair: %s", strerror(errno));
    struct fdpair_setup s = { sv[1], sv[1], run->param, { sv[0], sv[0] } };
    pid_t pid = bench_fork_peer(run, stream_peer, &s);
    if (pid < 0)
        return -1;
    close(sv[1]);
    char *src = big_alloc(run, s.size);
    if (!src) {
        bench_kill_peer(pid);
        return -1;
    }
    uint64_t start = bench_now_ns(), bytes = 0, t0 = 0;
    int measuring = 0, rc = 0;
    for (;;) {
        char ack;
        if (bench_write_full(sv[0], src, s.size) != 0 || bench_read_full(sv[0], &ack, 1) != 0) {
            rc = bench_fail(run, "stream transfer: %s", strerror(errno));
            break;
        }
        uint64_t now = bench_now_ns();
        if (!measuring) {
            if (!bench_in_warmup(run, start, now)) {
                measuring = 1;
                t0 = now;
            }
            continue;
        }
        bytes += s.size;
        if (now - t0 >= run->budget_ns) {
            run->value = (double)bytes / (double)(now - t0);
            break;
        }
    }
    shutdown(sv[0], SHUT_WR);
    if (rc == 0)
        rc = bench_wait_peer(run, pid);
    else
        bench_kill_peer(pid);
    close(sv[0]);
    munmap(src, s.size);
    return rc;
}

BENCH_CASE(case_stream_bulk, .figure = "bulk", .name = "unix-stream", .baseline = "memcpy",
           .placements = BENCH_BOTH, .run = stream_bulk)

/* ------------------------------------------------------------------ connection bring-up */

struct listen_setup {
    int lfd;
};

static int accept_peer(void *arg)
{
    struct listen_setup *s = arg;
    for (;;) {
        int c = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        char b;
        ssize_t n = recv(c, &b, 1, 0);
        if (n == 1 && b == 'S') {
            close(c);
            return 0;
        }
        if (n != 1 || send(c, &b, 1, 0) != 1) {
            close(c);
            return 1;
        }
        close(c);
    }
}

/* socket + connect to a path + one byte each way + close: what any socket-based
   service needs before its first request. */
static int unix_connect(struct bench_run *run)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/connect.sock", run->tmpdir);
    unlink(sa.sun_path);
    int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 64) != 0)
        return bench_fail(run, "listen %s: %s", sa.sun_path, strerror(errno));
    struct listen_setup s = { lfd };
    pid_t pid = bench_fork_peer(run, accept_peer, &s);
    if (pid < 0)
        return -1;
    close(lfd);
    int rc = 0;
    bench_lat_start(run);
    for (;;) {
        uint64_t t0 = bench_ticks();
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        char b = 'x';
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
            send(fd, &b, 1, 0) != 1 || recv(fd, &b, 1, 0) != 1) {
            rc = bench_fail(run, "connect/exchange: %s", strerror(errno));
            if (fd >= 0)
                close(fd);
            break;
        }
        close(fd);
        uint64_t t1 = bench_ticks();
        if (!bench_lat_record(run, t0, t1))
            break;
    }
    if (rc == 0) {
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
            send(fd, "S", 1, 0) != 1)
            rc = bench_fail(run, "stop: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    if (rc == 0)
        rc = bench_wait_peer(run, pid);
    else
        bench_kill_peer(pid);
    unlink(sa.sun_path);
    return rc;
}

BENCH_CASE(case_unix_connect, .figure = "connect", .name = "unix-connect", .baseline = NULL,
           .placements = BENCH_BOTH, .run = unix_connect)

/* ------------------------------------------------------------------ kill -9 noticed */

static int sleeper(void *arg)
{
    int fd = *(int *)arg;
    if (write(fd, "R", 1) != 1)
        return 1;
    char b;
    ssize_t n = read(fd, &b, 1); /* blocks until killed */
    (void)n;
    return 0;
}

/* A peer blocked on a connected socket is killed with SIGKILL; measured: from kill() until
   poll() on the survivor's end reports the hang-up (the kernel tears the peer down first). */
static int unix_hup(struct bench_run *run)
{
    int rc = 0;
    bench_lat_start(run);
    for (;;) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
            return bench_fail(run, "socketpair: %s", strerror(errno));
        pid_t pid = bench_fork_peer(run, sleeper, &sv[1]);
        if (pid < 0)
            return -1;
        close(sv[1]);
        char b;
        if (read(sv[0], &b, 1) != 1) {
            bench_kill_peer(pid);
            close(sv[0]);
            return bench_fail(run, "peer did not start");
        }
        uint64_t t0 = bench_ticks();
        kill(pid, SIGKILL);
        struct pollfd p = { sv[0], POLLIN, 0 };
        while (poll(&p, 1, 5000) < 0 && errno == EINTR)
            ;
        uint64_t t1 = bench_ticks();
        ssize_t n = read(sv[0], &b, 1);
        waitpid(pid, NULL, 0);
        close(sv[0]);
        if (n != 0) {
            rc = bench_fail(run, "survivor did not see EOF");
            break;
        }
        if (!bench_lat_record(run, t0, t1))
            break;
    }
    return rc;
}

BENCH_CASE(case_unix_hup, .figure = "recover", .name = "unix-hup", .baseline = NULL,
           .placements = BENCH_BOTH, .run = unix_hup)
