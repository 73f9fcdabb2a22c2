/*
 * Peer: ONC RPC (rpcgen stubs from bench_rpc.x, libtirpc) over a UNIX stream socket (and over
 * TCP between the fabric placement's namespaces: oncrpc-tcp), without
 * rpcbind: the server registers its dispatch function with no netconfig (protocol 0: nothing
 * is announced to a port mapper) on a transport created on a listening socket at a fixed path,
 * and the client connects to that path. Request and response carry the same opaque payload as
 * the other round-trip cases.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench_rpc.h"
#include "harness.h"

/* rpcgen -m emits the dispatch function without a declaration in the header. */
void bench_rpc_prog_1(struct svc_req *rqstp, SVCXPRT *transp);

/* Server procedure: the reply is the argument itself (XDR frees it after the reply). */
bench_payload *bench_echo_1_svc(bench_payload *arg, struct svc_req *req)
{
    static bench_payload res;
    (void)req;
    res = *arg;
    return &res;
}

struct rpc_setup {
    int lfd;
    int ready[2];
};

static int rpc_server(void *arg)
{
    struct rpc_setup *s = arg;
    SVCXPRT *xprt = svc_vc_create(s->lfd, 0, 0);
    if (!xprt)
        return 1;
    if (!svc_reg(xprt, BENCH_RPC_PROG, BENCH_RPC_VERS, bench_rpc_prog_1, NULL))
        return 1;
    if (write(s->ready[1], "R", 1) != 1)
        return 1;
    svc_run(); /* returns only on error; the measuring side kills this process */
    return 1;
}

/* The client's loop on a connected socket (closed here): echo calls of run->param bytes. */
static int rpc_client(struct bench_run *run, int fd, void *sa, size_t salen)
{
    struct netbuf nb = { .maxlen = (unsigned)salen, .len = (unsigned)salen, .buf = sa };
    CLIENT *cl = clnt_vc_create(fd, &nb, BENCH_RPC_PROG, BENCH_RPC_VERS, 0, 0);
    if (!cl) {
        close(fd);
        return bench_fail(run, "clnt_vc_create: %s", clnt_spcreateerror("bench"));
    }
    size_t size = run->param;
    char *msg = malloc(size);
    if (!msg) {
        clnt_destroy(cl);
        close(fd);
        return bench_fail(run, "out of memory");
    }
    memset(msg, 0x5a, size);
    bench_payload arg = { (u_int)size, msg };
    int rc = 0;
    bench_lat_start(run);
    for (;;) {
        uint64_t t0 = bench_ticks();
        bench_payload *res = bench_echo_1(&arg, cl);
        uint64_t t1 = bench_ticks();
        if (!res) {
            rc = bench_fail(run, "RPC call: %s", clnt_sperror(cl, "bench_echo"));
            break;
        }
        int same = res->bench_payload_len == size && memcmp(res->bench_payload_val, msg, size) == 0;
        clnt_freeres(cl, (xdrproc_t)xdr_bench_payload, (caddr_t)res);
        if (!same) {
            rc = bench_fail(run, "echo payload differs");
            break;
        }
        if (!bench_lat_record(run, t0, t1))
            break;
    }
    clnt_destroy(cl);
    close(fd);
    free(msg);
    return rc;
}

static int oncrpc_rtt(struct bench_run *run)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/oncrpc.sock", run->tmpdir);
    unlink(sa.sun_path);
    struct rpc_setup s;
    s.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s.lfd < 0 || bind(s.lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(s.lfd, 8) != 0)
        return bench_fail(run, "listen %s: %s", sa.sun_path, strerror(errno));
    if (pipe(s.ready) != 0)
        return bench_fail(run, "pipe: %s", strerror(errno));
    pid_t pid = bench_fork_peer(run, rpc_server, &s);
    if (pid < 0)
        return -1;
    close(s.lfd);
    close(s.ready[1]);
    char r;
    if (read(s.ready[0], &r, 1) != 1) {
        bench_kill_peer(pid);
        return bench_fail(run, "RPC server failed to start");
    }
    close(s.ready[0]);

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        bench_kill_peer(pid);
        return bench_fail(run, "connect %s: %s", sa.sun_path, strerror(errno));
    }
    int rc = rpc_client(run, fd, &sa, sizeof sa);
    bench_kill_peer(pid);
    unlink(sa.sun_path);
    return rc;
}

BENCH_CASE(case_oncrpc_rtt, .figure = "rtt", .name = "oncrpc", .baseline = "ring-eventfd",
           .placements = BENCH_BOTH, .run = oncrpc_rtt)

/* ONC RPC over TCP between the fabric placement's namespaces: the server listens in the peer's
   namespace (the socket is made there, after the fork) and tells its port through the pipe;
   TCP_NODELAY on both ends, as an RPC system tuned for latency sets it. */
static int rpc_tcp_server(void *arg)
{
    struct rpc_setup *s = arg;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
    socklen_t len = sizeof sa;
    int one = 1;
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->lfd < 0 || setsockopt(s->lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
        bind(s->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(s->lfd, 8) != 0 ||
        getsockname(s->lfd, (struct sockaddr *)&sa, &len) != 0)
        return 1;
    SVCXPRT *xprt = svc_vc_create(s->lfd, 0, 0);
    if (!xprt || !svc_reg(xprt, BENCH_RPC_PROG, BENCH_RPC_VERS, bench_rpc_prog_1, NULL))
        return 1;
    if (write(s->ready[1], &sa.sin_port, sizeof sa.sin_port) != sizeof sa.sin_port)
        return 1;
    svc_run(); /* returns only on error; the measuring side kills this process */
    return 1;
}

static int oncrpc_tcp_rtt(struct bench_run *run)
{
    struct rpc_setup s = { .lfd = -1 };
    struct sockaddr_in sa = { .sin_family = AF_INET };
    if (!run->peer_host || inet_pton(AF_INET, run->peer_host, &sa.sin_addr) != 1)
        return bench_fail(run, "no peer address");
    if (pipe(s.ready) != 0)
        return bench_fail(run, "pipe: %s", strerror(errno));
    pid_t pid = bench_fork_peer(run, rpc_tcp_server, &s);
    if (pid < 0)
        return -1;
    close(s.ready[1]);
    int ok = read(s.ready[0], &sa.sin_port, sizeof sa.sin_port) == sizeof sa.sin_port;
    close(s.ready[0]);
    if (!ok) {
        bench_kill_peer(pid);
        return bench_fail(run, "RPC server failed to start");
    }
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        bench_kill_peer(pid);
        return bench_fail(run, "connect %s: %s", run->peer_host, strerror(errno));
    }
    int rc = rpc_client(run, fd, &sa, sizeof sa);
    bench_kill_peer(pid);
    return rc;
}

static const uint64_t tcp_rtt_params[] = { 64, 1024, 0 };
BENCH_CASE(case_oncrpc_tcp_rtt, .figure = "rtt", .name = "oncrpc-tcp", .baseline = "fi-msg",
           .placements = BENCH_FABRIC, .params = tcp_rtt_params, .run = oncrpc_tcp_rtt)
