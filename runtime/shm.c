/* shm.c - the host shared-memory transport: "shm:NAME".
 *
 * Discovery: a directory of UNIX sockets watched with inotify. Handshake over the socket
 * (shm_proto.h), rings in a sealed memfd, wake-ups through two eventfds, peer identity from
 * SO_PEERCRED. Peer death (even kill -9) closes the socket: HUP -> disconnect.
 *
 * Peer policy (both sides check the other): allowed if the peer's uid equals our effective uid,
 * or the peer runs as root. Anyone else gets IDC_ERR_PERM, logged on both sides.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"
#include "shm_proto.h"

#define RETRY_MS      100u     /* handshake failure / busy socket */
#define SERVE_RETRY_MS 500u    /* name served by someone else */
#define HANDSHAKE_MS  5000u    /* backend: a frontend that accepted must finish by then */

enum hs_state {
    HS_NONE = 0,
    HS_WAIT_WELCOME,   /* frontend: HELLO sent */
    HS_WAIT_HELLO,     /* backend: accepted */
    HS_WAIT_READY,     /* backend: WELCOME sent */
    HS_UP,
};

struct shm_ep {
    int lfd;                    /* backend: listening socket */
    struct idc_watch lw;
    bool listening;             /* lw in epoll with EPOLLIN */
    int sfd;                    /* connection socket */
    struct idc_watch sw;
    int efd_in, efd_out;        /* our wake-up eventfd, the peer's */
    struct idc_watch ew;
    void *map;
    size_t map_len;
    enum hs_state hs;
    uint32_t epoch;
    uint32_t epoch_next;
    struct idc_timer retry;
    bool refused;               /* frontend: refused (mismatch/perm): wait for the service to change */
    bool busy_logged;
    ino_t ino;                  /* backend: inode of the published socket */
    struct idc_chan ch;
};
_Static_assert(sizeof(struct shm_ep) <= sizeof(((struct idc_ep *)0)->tp_priv), "shm_ep fits");

static struct shm_ep *S(struct idc_ep *ep) { return (struct shm_ep *)(void *)ep->tp_priv; }

/* Per-context transport state. */
struct shm_ctx {
    int ifd;                    /* inotify */
    int iwd;
    struct idc_watch iw;
    /* buffer service (owner side) */
    int bfd;
    struct idc_watch bw;
    int gen_fd;
    uint32_t *gen;
    struct bsvc_conn *bconns;
    /* buffer users (per owner) */
    struct blink *links;
};

struct bsvc_conn {              /* a user connected to our buffer service */
    struct bsvc_conn *next;
    int fd;
    struct idc_watch w;
    struct idc_context *ctx;
};

struct bmap {                   /* a cached mapping of a remote registration */
    struct bmap *next;
    uint32_t id, generation, rights;
    uint8_t key[16];
    uint64_t length;
    void *base;
    size_t map_len;
    unsigned char *data;
};

struct blink {                  /* our connection to another context's buffer service */
    struct blink *next;
    struct idc_context *ctx;
    uint64_t owner;
    int fd;
    struct idc_watch w;
    uint32_t *gen;
    uint32_t gen_slots;
    struct idc_xfer *wait_head, **wait_tail;   /* awaiting MAPREP, in request order */
    struct bmap *maps;
    unsigned nmaps;
};

static struct shm_ctx *shm_ctx(struct idc_context *ctx, bool create);

/* ------------------------------------------------------------------------------ helpers */

static int sock_path(struct idc_context *ctx, char *out, size_t n, const char *name)
{
    int r = snprintf(out, n, "%s/%s.sock", ctx->shm_dir, name);
    return r < 0 || (size_t)r >= n ? IDC_ERR_INVAL : 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Policy: same effective uid, or root. */
static int check_peer(struct idc_context *ctx, int fd, const char *what)
{
    struct ucred cr;
    socklen_t len = sizeof(cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
        idc__log(ctx, IDC_LOG_ERROR, "%s: SO_PEERCRED: %s", what, strerror(errno));
        return IDC_ERR_IO;
    }
    if (cr.uid == geteuid() || cr.uid == 0)
        return 0;
    idc__log(ctx, IDC_LOG_ERROR, "%s: peer pid %d uid %u refused by policy (same uid or root)",
             what, (int)cr.pid, (unsigned)cr.uid);
    return IDC_ERR_PERM;
}

static int send_rec(int fd, const void *rec, size_t len, const int *fds, int nfds)
{
    struct iovec iov = { .iov_base = (void *)rec, .iov_len = len };
    union {
        char buf[CMSG_SPACE(sizeof(int) * 4)];
        struct cmsghdr align;
    } u;
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (nfds) {
        memset(&u, 0, sizeof(u));
        mh.msg_control = u.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t n;
    do
        n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)len ? 0 : IDC_ERR_IO;
}

/* Receives one record into buf (size cap); returns its length, 0 on EOF, -1 on EAGAIN,
   IDC_ERR_IO on error. Received fds go to fds[] (up to *nfds; extra ones are closed). */
static ssize_t recv_rec(int fd, void *buf, size_t cap, int *fds, int *nfds)
{
    struct iovec iov = { .iov_base = buf, .iov_len = cap };
    union {
        char buf[CMSG_SPACE(sizeof(int) * 8)];
        struct cmsghdr align;
    } u;
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                         .msg_controllen = sizeof(u.buf) };
    int want = nfds ? *nfds : 0;
    if (nfds)
        *nfds = 0;
    ssize_t n;
    do
        n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? -1 : IDC_ERR_IO;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        int cnt = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int got[8];
        memcpy(got, CMSG_DATA(cm), sizeof(int) * (size_t)(cnt > 8 ? 8 : cnt));
        for (int i = 0; i < cnt && i < 8; i++) {
            if (nfds && *nfds < want)
                fds[(*nfds)++] = got[i];
            else
                close(got[i]);
        }
    }
    if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
        return IDC_ERR_IO;    /* oversized record or too many fds: hostile or confused */
    return n;
}

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010   /* Linux >= 5.1 */
#endif

/* final: also F_SEAL_SEAL (ring memory); buffers stay open to F_SEAL_FUTURE_WRITE later. */
static int make_memfd_seal(const char *name, size_t len, int *out, bool final)
{
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return IDC_ERR_IO;
    if (ftruncate(fd, (off_t)len) < 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | (final ? F_SEAL_SEAL : 0)) < 0) {
        close(fd);
        return IDC_ERR_IO;
    }
    *out = fd;
    return 0;
}

static int make_memfd(const char *name, size_t len, int *out)
{
    return make_memfd_seal(name, len, out, true);
}

/* A memfd from a peer: must carry our seals and be at least len bytes. */
static bool memfd_ok(int fd, size_t len)
{
    int seals = fcntl(fd, F_GET_SEALS);
    struct stat st;
    if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW))
        return false;
    return fstat(fd, &st) == 0 && (uint64_t)st.st_size >= len;
}

/* ------------------------------------------------------------------------ channel teardown */

static void chan_release(struct idc_ep *ep)
{
    struct shm_ep *s = S(ep);
    if (s->sfd >= 0)
        idc__watch_del(ep->ctx, &s->sw);
    if (s->efd_in >= 0)
        idc__watch_del(ep->ctx, &s->ew);
    close_fd(&s->sfd);
    close_fd(&s->efd_in);
    close_fd(&s->efd_out);
    if (s->map)
        munmap(s->map, s->map_len);
    s->map = NULL;
    s->map_len = 0;
    s->hs = HS_NONE;
}

static void shm_chan_close(struct idc_ep *ep)
{
    chan_release(ep);
}

static void shm_notify(struct idc_ep *ep)
{
    uint64_t one = 1;
    if (S(ep)->efd_out >= 0 && write(S(ep)->efd_out, &one, sizeof(one)) < 0) {
        /* EAGAIN: counter saturated, the peer is awake anyway */
    }
}

static void efd_fire(struct idc_watch *w, uint32_t events)
{
    (void)events;
    /* Edge-triggered: every peer write is a new edge; the counter is never read (one syscall
       per wake-up saved). process_rx drains the ring and re-arms before returning. */
    idc__ep_kick(w->arg);
}

static void sock_fire(struct idc_watch *w, uint32_t events);

static int watch_sock(struct idc_ep *ep)
{
    struct shm_ep *s = S(ep);
    s->sw = (struct idc_watch){ .fd = s->sfd, .events = EPOLLIN | EPOLLRDHUP, .fn = sock_fire,
                                .arg = ep };
    return idc__watch_add(ep->ctx, &s->sw);
}

/* populate: fault every ring page in now (MAP_POPULATE, best effort). Rings are sized for every
   credit at the largest frame, so without it each fresh connection takes a page fault per ring
   page in both processes during its first traffic. Only for sizes we computed ourselves: a
   hostile backend must not make a frontend allocate an oversized ring. */
static int map_rings(struct idc_ep *ep, int memfd, uint32_t ring_size, bool populate)
{
    struct shm_ep *s = S(ep);
    size_t rb = idc_ring_bytes(ring_size);
    s->map_len = 2 * rb;
    void *m = mmap(NULL, s->map_len, PROT_READ | PROT_WRITE,
                   MAP_SHARED | (populate ? MAP_POPULATE : 0), memfd, 0);
    if (m == MAP_FAILED) {
        s->map = NULL;
        idc__log(ep->ctx, IDC_LOG_ERROR, "%s: mmap rings: %s", ep->address, strerror(errno));
        return IDC_ERR_IO;
    }
    s->map = m;
    unsigned char *r0 = m, *r1 = r0 + rb;
    bool fe = ep->role == IDC_ROLE_FRONTEND;
    s->ch.tx_mem = fe ? r0 : r1;
    s->ch.rx_mem = fe ? r1 : r0;
    s->ch.tx_size = s->ch.rx_size = ring_size;
    return 0;
}

static int chan_up(struct idc_ep *ep)
{
    struct shm_ep *s = S(ep);
    s->ew = (struct idc_watch){ .fd = s->efd_in, .events = EPOLLIN | EPOLLET, .fn = efd_fire,
                                .arg = ep };
    if (idc__watch_add(ep->ctx, &s->ew) < 0)
        return IDC_ERR_IO;
    s->hs = HS_UP;
    idc__timer_cancel(ep->ctx, &s->retry);
    int r = idc__ep_channel_up(ep, &s->ch);
    if (r < 0)
        idc__log(ep->ctx, IDC_LOG_ERROR, "%s: cannot bring the channel up: %s", ep->address,
                 idc_strerror(r));
    return r;
}

static void refuse(struct idc_ep *ep, int fd, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void refuse(struct idc_ep *ep, int fd, int status, const char *fmt, ...)
{
    struct idc_shm_refuse rf = { .magic = IDC_SHM_MAGIC, .type = IDC_SHM_REFUSE,
                                 .wire = IDC_SHM_WIRE, .status = status };
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rf.reason, sizeof(rf.reason), fmt, ap);
    va_end(ap);
    idc__log(ep->ctx, IDC_LOG_ERROR, "%s: refusing peer: %s (%s)", ep->address, rf.reason,
             idc_strerror(status));
    send_rec(fd, &rf, sizeof(rf), NULL, 0);
}

/* ------------------------------------------------------------------------------ frontend */

static void fe_try_connect(struct idc_ep *ep);

static bool service_present(struct idc_ep *ep)
{
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct stat st;
    return sock_path(ep->ctx, path, sizeof(path), ep->name) == 0 && stat(path, &st) == 0 &&
           S_ISSOCK(st.st_mode);
}

static void fe_retry_fire(struct idc_timer *t)
{
    struct idc_ep *ep = t->arg;
    if (ep->state == IDC_EP_PRESENT && S(ep)->hs == HS_NONE)
        fe_try_connect(ep);
}

static void fe_fail(struct idc_ep *ep, bool retry)
{
    chan_release(ep);
    if (retry && !ep->destroying)
        idc__timer_arm(ep->ctx, &S(ep)->retry, RETRY_MS);
}

static void fe_try_connect(struct idc_ep *ep)
{
    struct shm_ep *s = S(ep);
    if (s->hs != HS_NONE || s->refused || ep->destroying || ep->state != IDC_EP_PRESENT)
        return;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (sock_path(ep->ctx, sa.sun_path, sizeof(sa.sun_path), ep->name) < 0)
        return;
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        idc__log(ep->ctx, IDC_LOG_ERROR, "%s: socket: %s", ep->address, strerror(errno));
        fe_fail(ep, true);
        return;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        if (e == ECONNREFUSED || e == ENOENT) {
            /* A socket file nobody listens on (its server died): the service is not there.
               The next server renames its socket into place, which inotify reports. */
            idc__log(ep->ctx, IDC_LOG_DEBUG, "%s: stale service socket", ep->address);
            idc__ep_disappear(ep);
            return;
        }
        /* EAGAIN: backlog full; others: retry */
        fe_fail(ep, true);
        return;
    }
    s->sfd = fd;
    int r = check_peer(ep->ctx, fd, ep->address);
    if (r < 0) {
        s->refused = r == IDC_ERR_PERM;
        fe_fail(ep, r != IDC_ERR_PERM);
        return;
    }
    struct idc_shm_hello h;
    memset(&h, 0, sizeof(h));
    h.magic = IDC_SHM_MAGIC;
    h.type = IDC_SHM_HELLO;
    h.wire = IDC_SHM_WIRE;
    h.min_version = ep->proto->min_version;
    h.max_version = ep->proto->max_version;
    h.max_frame = ep->max_frame;
    h.max_transactions = ep->max_tx;
    h.max_messages = ep->max_msg;
    snprintf(h.protocol, sizeof(h.protocol), "%s", ep->proto->name);
    for (uint32_t v = 0; v <= h.max_version - h.min_version; v++)
        h.hash[v] = ep->proto->version_hash[v];
    if (send_rec(fd, &h, sizeof(h), NULL, 0) < 0 || watch_sock(ep) < 0) {
        fe_fail(ep, true);
        return;
    }
    s->hs = HS_WAIT_WELCOME;
}

static void fe_welcome(struct idc_ep *ep)
{
    struct shm_ep *s = S(ep);
    union {
        struct idc_shm_welcome w;
        struct idc_shm_refuse rf;
    } u;
    int fds[3], nfds = 3;
    ssize_t n = recv_rec(s->sfd, &u, sizeof(u), fds, &nfds);
    if (n == -1)
        return;
    int memfd = nfds > 0 ? fds[0] : -1;
    for (int i = 1; i < nfds; i++)
        (i == 1 ? (s->efd_in = fds[i]) : (s->efd_out = fds[i]));
    if (n <= 0) {
        close_fd(&memfd);
        /* The backend went away before answering; it may have been a dying server. */
        fe_fail(ep, true);
        return;
    }
    if ((size_t)n == sizeof(u.rf) && u.rf.magic == IDC_SHM_MAGIC && u.rf.type == IDC_SHM_REFUSE) {
        u.rf.reason[sizeof(u.rf.reason) - 1] = 0;
        int st = u.rf.status;
        idc__log(ep->ctx, IDC_LOG_ERROR, "%s: backend refused the connection: %s (%s)",
                 ep->address, u.rf.reason, idc_strerror(st));
        close_fd(&memfd);
        /* Mismatch and policy do not heal by retrying: wait for the service to be replaced. */
        s->refused = st == IDC_ERR_MISMATCH || st == IDC_ERR_PERM;
        fe_fail(ep, !s->refused);
        return;
    }
    struct idc_shm_welcome w = u.w;     /* private copy, validated below */
    const char *bad = NULL;
    if ((size_t)n != sizeof(w) || w.magic != IDC_SHM_MAGIC || w.type != IDC_SHM_WELCOME ||
        w.wire != IDC_SHM_WIRE)
        bad = "malformed WELCOME";
    else if (nfds != 3)
        bad = "WELCOME without its 3 descriptors";
    else if (w.version < ep->proto->min_version || w.version > ep->proto->max_version)
        bad = "negotiated version outside our range";
    else if (w.epoch == 0 || w.max_frame > ep->max_frame || w.max_transactions > ep->max_tx ||
             w.max_transactions == 0 || w.max_messages > ep->max_msg || w.max_messages == 0)
        bad = "negotiated limits above ours";
    else if (w.ring_size < IDC_RING_MIN_SIZE || w.ring_size > IDC_RING_MAX_SIZE ||
             (w.ring_size & (w.ring_size - 1)) ||
             idc_ring_size_for(w.max_messages + 2 * w.max_transactions, w.max_frame) > w.ring_size)
        bad = "ring size invalid for the negotiated limits";
    else if (!memfd_ok(memfd, 2 * idc_ring_bytes(w.ring_size)))
        bad = "ring memory not sealed or too small";
    if (bad) {
        idc__log(ep->ctx, IDC_LOG_ERROR, "%s: handshake: %s", ep->address, bad);
        close_fd(&memfd);
        fe_fail(ep, true);
        return;
    }
    s->ch.epoch = w.epoch;
    s->ch.version = w.version;
    s->ch.max_frame = w.max_frame;
    s->ch.tx_limit = w.max_transactions;
    s->ch.msg_limit = w.max_messages;
    /* An honest backend sizes the rings exactly for the negotiated limits (be_hello). */
    bool exact = idc_ring_size_for(w.max_messages + 2 * w.max_transactions, w.max_frame) ==
                 w.ring_size;
    int r = map_rings(ep, memfd, w.ring_size, exact);
    close_fd(&memfd);
    struct idc_shm_ready rd = { .magic = IDC_SHM_MAGIC, .type = IDC_SHM_READY,
                                .wire = IDC_SHM_WIRE, .epoch = w.epoch };
    if (r < 0 || send_rec(s->sfd, &rd, sizeof(rd), NULL, 0) < 0) {
        fe_fail(ep, true);
        return;
    }
    if (chan_up(ep) < 0)
        fe_fail(ep, true);
}

/* ------------------------------------------------------------------------------- backend */

static void be_listen_ctl(struct idc_ep *ep, bool on)
{
    struct shm_ep *s = S(ep);
    if (s->lfd < 0 || s->listening == on)
        return;
    s->listening = on;
    idc__watch_mod(ep->ctx, &s->lw, on ? EPOLLIN : 0);
}

static void be_drop(struct idc_ep *ep)
{
    chan_release(ep);
    if (!ep->destroying && ep->state == IDC_EP_PRESENT)
        be_listen_ctl(ep, true);
}

static void be_accept(struct idc_watch *w, uint32_t events)
{
    (void)events;
    struct idc_ep *ep = w->arg;
    struct shm_ep *s = S(ep);
    if (s->hs != HS_NONE || ep->state != IDC_EP_PRESENT || ep->destroying) {
        be_listen_ctl(ep, false);   /* one connection at a time: the rest wait in the backlog */
        return;
    }
    int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    int r = check_peer(ep->ctx, fd, ep->address);
    if (r < 0) {
        refuse(ep, fd, r, "peer not allowed by policy (same uid or root)");
        close(fd);
        return;
    }
    s->sfd = fd;
    if (watch_sock(ep) < 0) {
        be_drop(ep);
        return;
    }
    s->hs = HS_WAIT_HELLO;
    be_listen_ctl(ep, false);
    /* A silent peer must not hold the (single) connection slot forever. */
    idc__timer_arm(ep->ctx, &s->retry, HANDSHAKE_MS);
}

static uint32_t min32(uint32_t a, uint32_t b) { return a < b ? a : b; }

static void be_hello(struct idc_ep *ep)
{
    struct shm_ep *s = S(ep);
    struct idc_shm_hello h;
    ssize_t n = recv_rec(s->sfd, &h, sizeof(h), NULL, NULL);
    if (n == -1)
        return;
    if (n <= 0) {
        be_drop(ep);
        return;
    }
    if ((size_t)n != sizeof(h) || h.magic != IDC_SHM_MAGIC || h.type != IDC_SHM_HELLO) {
        refuse(ep, s->sfd, IDC_ERR_PROTO, "malformed HELLO");
        be_drop(ep);
        return;
    }
    if (h.wire != IDC_SHM_WIRE) {
        refuse(ep, s->sfd, IDC_ERR_MISMATCH, "handshake wire version %u, we speak %u", h.wire,
               IDC_SHM_WIRE);
        be_drop(ep);
        return;
    }
    h.protocol[sizeof(h.protocol) - 1] = 0;
    if (strcmp(h.protocol, ep->proto->name) != 0) {
        refuse(ep, s->sfd, IDC_ERR_MISMATCH, "protocol '%s' requested, '%s' served", h.protocol,
               ep->proto->name);
        be_drop(ep);
        return;
    }
    uint32_t v = idc__negotiate(ep->proto, h.min_version, h.max_version, h.hash, IDC_MAX_VERSIONS);
    if (!v) {
        refuse(ep, s->sfd, IDC_ERR_MISMATCH,
               "protocol '%s': no common version with matching IDL hash (peer %u..%u, us %u..%u)",
               h.protocol, h.min_version, h.max_version, ep->proto->min_version,
               ep->proto->max_version);
        be_drop(ep);
        return;
    }
    uint32_t frame = min32(h.max_frame, ep->max_frame);
    uint32_t tx = min32(h.max_transactions, ep->max_tx);
    uint32_t msg = min32(h.max_messages, ep->max_msg);
    if (tx == 0 || msg == 0) {
        refuse(ep, s->sfd, IDC_ERR_PROTO, "zero credits requested");
        be_drop(ep);
        return;
    }
    uint32_t ring = idc_ring_size_for(msg + 2 * tx, frame);
    if (!ring) {
        refuse(ep, s->sfd, IDC_ERR_TOOBIG, "rings for %u frames of %u bytes exceed %u bytes",
               msg + 2 * tx, frame, IDC_RING_MAX_SIZE);
        be_drop(ep);
        return;
    }
    int memfd = -1, efd_fe = -1, efd_be = -1;
    size_t rb = idc_ring_bytes(ring);
    if (make_memfd("idc-rings", 2 * rb, &memfd) < 0 ||
        (efd_fe = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
        (efd_be = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        idc__log(ep->ctx, IDC_LOG_ERROR, "%s: memfd/eventfd: %s", ep->address, strerror(errno));
        close_fd(&memfd);
        close_fd(&efd_fe);
        close_fd(&efd_be);
        be_drop(ep);
        return;
    }
    s->ch.epoch = ++s->epoch_next ? s->epoch_next : ++s->epoch_next;
    s->ch.version = v;
    s->ch.max_frame = frame;
    s->ch.tx_limit = tx;
    s->ch.msg_limit = msg;
    if (map_rings(ep, memfd, ring, true) < 0) {
        close_fd(&memfd);
        close_fd(&efd_fe);
        close_fd(&efd_be);
        be_drop(ep);
        return;
    }
    idc_ring_init_shared(s->ch.tx_mem);
    idc_ring_init_shared(s->ch.rx_mem);
    s->efd_in = efd_be;
    s->efd_out = efd_fe;
    struct idc_shm_welcome w = { .magic = IDC_SHM_MAGIC, .type = IDC_SHM_WELCOME,
                                 .wire = IDC_SHM_WIRE, .version = v, .epoch = s->ch.epoch,
                                 .max_frame = frame, .max_transactions = tx,
                                 .max_messages = msg, .ring_size = ring };
    int fds[3] = { memfd, efd_fe, efd_be };
    int r = send_rec(s->sfd, &w, sizeof(w), fds, 3);
    close_fd(&memfd);
    if (r < 0) {
        be_drop(ep);
        return;
    }
    s->hs = HS_WAIT_READY;
}

static void be_ready(struct idc_ep *ep)
{
    struct shm_ep *s = S(ep);
    struct idc_shm_ready rd;
    ssize_t n = recv_rec(s->sfd, &rd, sizeof(rd), NULL, NULL);
    if (n == -1)
        return;
    if (n != (ssize_t)sizeof(rd) || rd.magic != IDC_SHM_MAGIC || rd.type != IDC_SHM_READY ||
        rd.epoch != s->ch.epoch) {
        if (n > 0)
            idc__log(ep->ctx, IDC_LOG_ERROR, "%s: handshake: malformed READY", ep->address);
        be_drop(ep);
        return;
    }
    if (chan_up(ep) < 0)
        be_drop(ep);
}

static void sock_fire(struct idc_watch *w, uint32_t events)
{
    struct idc_ep *ep = w->arg;
    struct shm_ep *s = S(ep);
    switch (s->hs) {
    case HS_WAIT_WELCOME:
        fe_welcome(ep);
        return;
    case HS_WAIT_HELLO:
        be_hello(ep);
        return;
    case HS_WAIT_READY:
        be_ready(ep);
        return;
    case HS_UP: {
        /* Silent after the handshake: anything but silence ends the connection. */
        char b[64];
        ssize_t n = recv(s->sfd, b, sizeof(b), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR) && !(events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)))
            return;
        idc__watch_del(ep->ctx, &s->sw);
        if (n > 0)
            idc__ep_channel_down(ep, IDC_ERR_PROTO, "unexpected data on the control socket");
        else
            idc__ep_channel_down(ep, IDC_ERR_DISCONNECTED, "peer closed the connection");
        return;
    }
    case HS_NONE:
        idc__watch_del(ep->ctx, &s->sw);
        return;
    }
}

static void be_serve_retry(struct idc_timer *t);

/* Publishes <dir>/<name>.sock: bind a temporary name, listen, rename into place. */
static int be_publish(struct idc_ep *ep)
{
    struct shm_ep *s = S(ep);
    struct sockaddr_un sa = { .sun_family = AF_UNIX }, tmp = { .sun_family = AF_UNIX };
    if (sock_path(ep->ctx, sa.sun_path, sizeof(sa.sun_path), ep->name) < 0)
        return IDC_ERR_INVAL;
    /* Someone serving it already? */
    int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (probe < 0)
        return IDC_ERR_IO;
    int cr = connect(probe, (struct sockaddr *)&sa, sizeof(sa));
    int ce = errno;
    close(probe);
    if (cr == 0 || ce == EAGAIN) {
        if (!s->busy_logged)
            idc__log(ep->ctx, IDC_LOG_WARN, "%s: already served by another endpoint; waiting",
                     ep->address);
        s->busy_logged = true;
        idc__timer_arm(ep->ctx, &s->retry, SERVE_RETRY_MS);
        return 0;
    }
    uint32_t rnd;
    idc__random(&rnd, sizeof(rnd));
    int r = snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s/.%.40s.%08x.tmp", ep->ctx->shm_dir,
                     ep->name, rnd);
    if (r < 0 || (size_t)r >= sizeof(tmp.sun_path))
        return IDC_ERR_INVAL;
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return IDC_ERR_IO;
    struct stat st;
    if (bind(fd, (struct sockaddr *)&tmp, sizeof(tmp)) < 0 || listen(fd, 16) < 0 ||
        rename(tmp.sun_path, sa.sun_path) < 0 || stat(sa.sun_path, &st) < 0) {
        idc__log(ep->ctx, IDC_LOG_ERROR, "%s: cannot publish %s: %s", ep->address, sa.sun_path,
                 strerror(errno));
        unlink(tmp.sun_path);
        close(fd);
        return IDC_ERR_IO;
    }
    s->ino = st.st_ino;
    s->lfd = fd;
    s->lw = (struct idc_watch){ .fd = fd, .events = EPOLLIN, .fn = be_accept, .arg = ep };
    if (idc__watch_add(ep->ctx, &s->lw) < 0) {
        unlink(sa.sun_path);
        close_fd(&s->lfd);
        return IDC_ERR_IO;
    }
    s->listening = true;
    idc__ep_appear(ep);
    return 0;
}

static void be_serve_retry(struct idc_timer *t)
{
    struct idc_ep *ep = t->arg;
    struct shm_ep *s = S(ep);
    if (s->lfd >= 0 && (s->hs == HS_WAIT_HELLO || s->hs == HS_WAIT_READY)) {
        idc__log(ep->ctx, IDC_LOG_WARN, "%s: handshake timed out; dropping that peer",
                 ep->address);
        be_drop(ep);
        return;
    }
    if (ep->destroying || s->lfd >= 0)
        return;
    int r = be_publish(ep);
    if (r < 0) {
        idc__log(ep->ctx, IDC_LOG_ERROR, "%s: cannot serve: %s", ep->address, idc_strerror(r));
        ep->state = IDC_EP_DEAD;
    }
}

/* ------------------------------------------------------------------------------ discovery */

static void inotify_fire(struct idc_watch *w, uint32_t events)
{
    (void)events;
    struct idc_context *ctx = w->arg;
    struct shm_ctx *sc = ctx->shm;
    _Alignas(struct inotify_event) char buf[4096];
    for (;;) {
        ssize_t n = read(sc->ifd, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)(void *)p;
            p += sizeof(*ev) + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                /* Lost events: re-check every frontend against the directory. */
                for (struct idc_ep *ep = ctx->eps; ep; ep = ep->next)
                    if (ep->tp == &idc_transport_shm && ep->role == IDC_ROLE_FRONTEND &&
                        ep->state == IDC_EP_ABSENT && service_present(ep)) {
                        idc__ep_appear(ep);
                        fe_try_connect(ep);
                    }
                continue;
            }
            if (!ev->len)
                continue;
            size_t nl = strlen(ev->name);
            if (nl < 6 || strcmp(ev->name + nl - 5, ".sock") != 0)
                continue;
            bool added = ev->mask & (IN_CREATE | IN_MOVED_TO);
            bool removed = ev->mask & (IN_DELETE | IN_MOVED_FROM);
            for (struct idc_ep *ep = ctx->eps; ep; ep = ep->next) {
                if (ep->tp != &idc_transport_shm || ep->role != IDC_ROLE_FRONTEND ||
                    ep->destroying || strlen(ep->name) != nl - 5 ||
                    memcmp(ep->name, ev->name, nl - 5) != 0)
                    continue;
                if (added) {
                    S(ep)->refused = false;    /* a new server: try again */
                    if (ep->state == IDC_EP_ABSENT)
                        idc__ep_appear(ep);
                    if (ep->state == IDC_EP_PRESENT && S(ep)->hs == HS_NONE)
                        fe_try_connect(ep);
                } else if (removed && ep->state == IDC_EP_PRESENT) {
                    if (S(ep)->hs != HS_NONE)
                        chan_release(ep);
                    idc__timer_cancel(ctx, &S(ep)->retry);
                    idc__ep_disappear(ep);
                }
            }
        }
    }
}

static struct shm_ctx *shm_ctx(struct idc_context *ctx, bool create)
{
    if (ctx->shm || !create)
        return ctx->shm;
    struct shm_ctx *sc = calloc(1, sizeof(*sc));
    if (!sc)
        return NULL;
    sc->ifd = sc->bfd = sc->gen_fd = -1;
    sc->iwd = -1;
    ctx->shm = sc;
    return sc;
}

static int watch_dir(struct idc_context *ctx)
{
    struct shm_ctx *sc = shm_ctx(ctx, true);
    if (!sc)
        return IDC_ERR_NOMEM;
    if (sc->ifd >= 0)
        return 0;
    sc->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (sc->ifd < 0)
        return IDC_ERR_IO;
    sc->iwd = inotify_add_watch(sc->ifd, ctx->shm_dir,
                                IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR);
    sc->iw = (struct idc_watch){ .fd = sc->ifd, .events = EPOLLIN, .fn = inotify_fire, .arg = ctx };
    if (sc->iwd < 0 || idc__watch_add(ctx, &sc->iw) < 0) {
        idc__log(ctx, IDC_LOG_ERROR, "inotify on %s: %s", ctx->shm_dir, strerror(errno));
        close_fd(&sc->ifd);
        return IDC_ERR_IO;
    }
    return 0;
}

/* ------------------------------------------------------------------------ endpoint ops */

static int shm_ep_start(struct idc_ep *ep)
{
    struct shm_ep *s = S(ep);
    memset(s, 0, sizeof(*s));
    s->lfd = s->sfd = s->efd_in = s->efd_out = -1;
    s->retry.arg = ep;
    idc__random(&s->epoch_next, sizeof(s->epoch_next));
    s->epoch_next &= 0x7fffffffu;    /* random start: epochs of different servers differ */
    if (!idc__valid_name(ep->name)) {
        idc__log(ep->ctx, IDC_LOG_ERROR, "%s: service name must be [A-Za-z0-9._-]{1,64}, "
                 "not starting with '.'", ep->address);
        return IDC_ERR_INVAL;
    }
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    if (sock_path(ep->ctx, path, sizeof(path), ep->name) < 0) {
        idc__log(ep->ctx, IDC_LOG_ERROR, "%s: socket path too long", ep->address);
        return IDC_ERR_INVAL;
    }
    if (ep->role == IDC_ROLE_BACKEND) {
        s->retry.fn = be_serve_retry;
        return be_publish(ep);
    }
    s->retry.fn = fe_retry_fire;
    int r = watch_dir(ep->ctx);
    if (r < 0)
        return r;
    if (service_present(ep)) {
        idc__ep_appear(ep);
        fe_try_connect(ep);
    }
    return 0;
}

static void shm_ep_rearm(struct idc_ep *ep)
{
    if (ep->role == IDC_ROLE_BACKEND) {
        be_listen_ctl(ep, true);
        return;
    }
    if (service_present(ep))
        fe_try_connect(ep);
    else
        idc__ep_disappear(ep);
}

static void shm_ep_stop(struct idc_ep *ep)
{
    struct shm_ep *s = S(ep);
    if (s->retry.fn)
        idc__timer_cancel(ep->ctx, &s->retry);
    chan_release(ep);
    if (s->lfd >= 0) {
        idc__watch_del(ep->ctx, &s->lw);
        char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
        struct stat st;
        /* Unlink only our own socket (a successor may have replaced it). */
        if (sock_path(ep->ctx, path, sizeof(path), ep->name) == 0 && stat(path, &st) == 0 &&
            st.st_ino == s->ino)
            unlink(path);
        close_fd(&s->lfd);
    }
}

/* ------------------------------------------------------------------------ buffers: memory */

static int shm_buf_alloc(struct idc_context *ctx, struct idc_alloc *a)
{
    (void)ctx;
    if (make_memfd_seal("idc-buffer", a->len, &a->fd, false) < 0)
        return IDC_ERR_NOMEM;
    a->mem = mmap(NULL, a->len, PROT_READ | PROT_WRITE, MAP_SHARED, a->fd, 0);
    if (a->mem == MAP_FAILED) {
        a->mem = NULL;
        close_fd(&a->fd);
        return IDC_ERR_NOMEM;
    }
    return 0;
}

static void shm_buf_free(struct idc_context *ctx, struct idc_alloc *a)
{
    (void)ctx;
    if (a->mem)
        munmap(a->mem, a->len);
    close_fd(&a->fd);
}

/* Read-only registrations: after this seal nobody can write the pages through a new mapping
   or write(2), not even by re-opening the descriptor via /proc; the owner's own mapping
   (created before) stays writable. */
static int shm_buf_seal_ro(struct idc_context *ctx, struct idc_alloc *a)
{
    if (fcntl(a->fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) < 0) {
        idc__log(ctx, IDC_LOG_ERROR, "sealing a read-only buffer: %s", strerror(errno));
        return IDC_ERR_IO;
    }
    return 0;
}

/* Reopens fd read-only (a holder mapping it cannot write). */
static int reopen_ro(int fd)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
    return open(p, O_RDONLY | O_CLOEXEC);
}

/* ----------------------------------------------------------------- buffers: owner service */

static void bsvc_close(struct idc_context *ctx, struct bsvc_conn *c)
{
    struct shm_ctx *sc = ctx->shm;
    for (struct bsvc_conn **pp = &sc->bconns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    idc__watch_del(ctx, &c->w);
    close(c->fd);
    free(c);
}

static void bsvc_fire(struct idc_watch *w, uint32_t events)
{
    (void)events;
    struct bsvc_conn *c = w->arg;
    struct idc_context *ctx = c->ctx;
    struct shm_ctx *sc = ctx->shm;
    for (;;) {
        struct idc_shm_mapreq q;
        ssize_t n = recv_rec(c->fd, &q, sizeof(q), NULL, NULL);
        if (n == -1)
            return;
        if (n != (ssize_t)sizeof(q) || q.magic != IDC_SHM_MAGIC || q.type != IDC_SHM_MAPREQ) {
            if (n > 0)
                idc__log(ctx, IDC_LOG_WARN, "buffer service: malformed request; closing");
            bsvc_close(ctx, c);
            return;
        }
        struct idc_rbuf rb = { .owner = q.owner, .id = q.id, .generation = q.generation,
                               .length = q.length, .rights = q.rights };
        memcpy(rb.key, q.key, sizeof(rb.key));
        struct idc_shm_maprep rep = { .magic = IDC_SHM_MAGIC, .type = IDC_SHM_MAPREP,
                                      .wire = IDC_SHM_WIRE, .id = q.id,
                                      .generation = q.generation, .gen_slots = IDC_MAX_REGS };
        unsigned char *addr = NULL;
        int st = q.owner != ctx->id ? IDC_ERR_BADREF
                 : (q.rights & ~(IDC_RBUF_READ | IDC_RBUF_WRITE)) || !q.rights ? IDC_ERR_BADREF
                 : idc__reg_check(ctx, &rb, q.rights, 0, 0, &addr);
        int fds[2] = { -1, -1 };
        if (st == 0) {
            struct idc_reg *reg = &ctx->regs[q.id];
            rep.rights = q.rights;
            rep.offset = reg->offset;
            rep.length = reg->length;
            fds[0] = q.rights & IDC_RBUF_WRITE ? dup(reg->alloc->fd) : reopen_ro(reg->alloc->fd);
            fds[1] = reopen_ro(sc->gen_fd);
            if (fds[0] < 0 || fds[1] < 0)
                st = IDC_ERR_IO;
        }
        rep.status = st;
        int r = send_rec(c->fd, &rep, sizeof(rep), fds, st == 0 ? 2 : 0);
        close_fd(&fds[0]);
        close_fd(&fds[1]);
        if (r < 0) {
            bsvc_close(ctx, c);
            return;
        }
    }
}

static void bsvc_accept(struct idc_watch *w, uint32_t events)
{
    (void)events;
    struct idc_context *ctx = w->arg;
    struct shm_ctx *sc = ctx->shm;
    int fd = accept4(sc->bfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    struct bsvc_conn *c = calloc(1, sizeof(*c));
    if (!c || check_peer(ctx, fd, "buffer service") < 0) {
        free(c);
        close(fd);
        return;
    }
    c->fd = fd;
    c->ctx = ctx;
    c->w = (struct idc_watch){ .fd = fd, .events = EPOLLIN | EPOLLRDHUP, .fn = bsvc_fire, .arg = c };
    if (idc__watch_add(ctx, &c->w) < 0) {
        close(fd);
        free(c);
        return;
    }
    c->next = sc->bconns;
    sc->bconns = c;
}

static int bsvc_path(struct idc_context *ctx, uint64_t owner, char *out, size_t n)
{
    int r = snprintf(out, n, "%s/.rbuf-%016llx.sock", ctx->shm_dir, (unsigned long long)owner);
    return r < 0 || (size_t)r >= n ? IDC_ERR_INVAL : 0;
}

static int shm_rbuf_publish(struct idc_context *ctx)
{
    struct shm_ctx *sc = shm_ctx(ctx, true);
    if (!sc)
        return IDC_ERR_NOMEM;
    if (sc->bfd >= 0)
        return 0;
    size_t gl = IDC_MAX_REGS * sizeof(uint32_t);
    if (make_memfd("idc-generations", gl, &sc->gen_fd) < 0)
        return IDC_ERR_IO;
    void *g = mmap(NULL, gl, PROT_READ | PROT_WRITE, MAP_SHARED, sc->gen_fd, 0);
    if (g == MAP_FAILED) {
        close_fd(&sc->gen_fd);
        return IDC_ERR_IO;
    }
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = -1;
    if (bsvc_path(ctx, ctx->id, sa.sun_path, sizeof(sa.sun_path)) < 0 ||
        (fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0 ||
        (unlink(sa.sun_path), bind(fd, (struct sockaddr *)&sa, sizeof(sa))) < 0 ||
        listen(fd, 64) < 0) {
        idc__log(ctx, IDC_LOG_ERROR, "buffer service %s: %s", sa.sun_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        munmap(g, gl);
        close_fd(&sc->gen_fd);
        return IDC_ERR_IO;
    }
    sc->bfd = fd;
    sc->bw = (struct idc_watch){ .fd = fd, .events = EPOLLIN, .fn = bsvc_accept, .arg = ctx };
    if (idc__watch_add(ctx, &sc->bw) < 0) {
        unlink(sa.sun_path);
        close_fd(&sc->bfd);
        munmap(g, gl);
        close_fd(&sc->gen_fd);
        return IDC_ERR_IO;
    }
    sc->gen = g;
    ctx->gen_table = g;
    return 0;
}

/* ------------------------------------------------------------------ buffers: user side */

static void bmap_drop(struct blink *l, struct bmap *m)
{
    for (struct bmap **pp = &l->maps; *pp; pp = &(*pp)->next)
        if (*pp == m) {
            *pp = m->next;
            break;
        }
    munmap(m->base, m->map_len);
    l->nmaps--;
    free(m);
}

static void blink_free(struct idc_context *ctx, struct blink *l, int status)
{
    struct shm_ctx *sc = ctx->shm;
    for (struct blink **pp = &sc->links; *pp; pp = &(*pp)->next)
        if (*pp == l) {
            *pp = l->next;
            break;
        }
    while (l->wait_head) {
        struct idc_xfer *x = l->wait_head;
        l->wait_head = x->next;
        idc__xfer_complete(ctx, x, status);
    }
    while (l->maps)
        bmap_drop(l, l->maps);
    if (l->gen)
        munmap(l->gen, l->gen_slots * sizeof(uint32_t));
    if (l->fd >= 0) {
        idc__watch_del(ctx, &l->w);
        close(l->fd);
    }
    free(l);
}

/* Runs x against a validated mapping: generation check, then one memcpy. */
static int bmap_copy(struct blink *l, struct bmap *m, struct idc_xfer *x)
{
    /* Acquire: pairs with the owner's release store of the bumped generation. */
    uint32_t g = __atomic_load_n(&l->gen[m->id], __ATOMIC_ACQUIRE);
    if (g != m->generation)
        return IDC_ERR_REVOKED;
    uint32_t need = x->write ? IDC_RBUF_WRITE : IDC_RBUF_READ;
    if (!(m->rights & need))
        return IDC_ERR_RIGHTS;
    if (x->offset > m->length || x->len > m->length - x->offset)
        return IDC_ERR_BADREF;
    if (x->write)
        memcpy(m->data + x->offset, x->local, x->len);
    else
        memcpy(x->local, m->data + x->offset, x->len);
    return 0;
}

static struct bmap *bmap_find(struct blink *l, const struct idc_rbuf *rb)
{
    for (struct bmap *m = l->maps; m; m = m->next)
        if (m->id == rb->id && m->generation == rb->generation && m->length == rb->length &&
            (rb->rights & ~m->rights) == 0 && memcmp(m->key, rb->key, 16) == 0)
            return m;
    return NULL;
}

static void blink_fire(struct idc_watch *w, uint32_t events)
{
    (void)events;
    struct blink *l = w->arg;
    struct idc_context *ctx = l->ctx;
    for (;;) {
        struct idc_shm_maprep rep;
        int fds[2] = { -1, -1 }, nfds = 2;
        ssize_t n = recv_rec(l->fd, &rep, sizeof(rep), fds, &nfds);
        if (n == -1)
            return;
        struct idc_xfer *x = l->wait_head;
        if (n != (ssize_t)sizeof(rep) || rep.magic != IDC_SHM_MAGIC || rep.type != IDC_SHM_MAPREP ||
            !x) {
            for (int i = 0; i < nfds; i++)
                close(fds[i]);
            if (n > 0)
                idc__log(ctx, IDC_LOG_WARN, "buffer owner %016llx: malformed reply",
                         (unsigned long long)l->owner);
            blink_free(ctx, l, IDC_ERR_DISCONNECTED);
            return;
        }
        l->wait_head = x->next;
        if (!l->wait_head)
            l->wait_tail = &l->wait_head;
        int st = rep.status;
        if (st > 0 || st < IDC_ERR_IO)
            st = IDC_ERR_IO;
        struct bmap *m = NULL;
        if (st == 0 && (nfds != 2 || rep.id != x->rb.id || rep.generation != x->rb.generation ||
                        rep.length != x->rb.length || rep.gen_slots == 0 ||
                        rep.gen_slots > IDC_MAX_REGS || rep.id >= rep.gen_slots ||
                        (rep.rights & ~(IDC_RBUF_READ | IDC_RBUF_WRITE))))
            st = IDC_ERR_IO;
        if (st == 0 && !(m = bmap_find(l, &x->rb))) {
            /* Map the registered range (page granularity). */
            long pg = sysconf(_SC_PAGESIZE);
            uint64_t start = rep.offset & ~(uint64_t)(pg - 1);
            uint64_t end = rep.offset + rep.length;
            size_t mlen = (size_t)(((end - start) + (uint64_t)pg - 1) & ~(uint64_t)(pg - 1));
            int prot = PROT_READ | (rep.rights & IDC_RBUF_WRITE ? PROT_WRITE : 0);
            if (!l->gen) {
                if (!memfd_ok(fds[1], rep.gen_slots * sizeof(uint32_t))) {
                    st = IDC_ERR_IO;
                } else {
                    void *g = mmap(NULL, rep.gen_slots * sizeof(uint32_t), PROT_READ, MAP_SHARED,
                                   fds[1], 0);
                    if (g == MAP_FAILED)
                        st = IDC_ERR_IO;
                    else {
                        l->gen = g;
                        l->gen_slots = rep.gen_slots;
                    }
                }
            }
            if (st == 0 && (rep.id >= l->gen_slots || end < rep.offset || !memfd_ok(fds[0], end)))
                st = IDC_ERR_IO;
            void *base = MAP_FAILED;
            if (st == 0)
                base = mmap(NULL, mlen, prot, MAP_SHARED, fds[0], (off_t)start);
            if (st == 0 && base == MAP_FAILED)
                st = IDC_ERR_IO;
            if (st == 0) {
                m = calloc(1, sizeof(*m));
                if (!m) {
                    munmap(base, mlen);
                    st = IDC_ERR_NOMEM;
                } else {
                    m->id = rep.id;
                    m->generation = rep.generation;
                    m->rights = rep.rights;
                    memcpy(m->key, x->rb.key, 16);
                    m->length = rep.length;
                    m->base = base;
                    m->map_len = mlen;
                    m->data = (unsigned char *)base + (rep.offset - start);
                    if (l->nmaps >= 64) {       /* bound the cache: drop the oldest */
                        struct bmap *old = l->maps;
                        while (old->next)
                            old = old->next;
                        bmap_drop(l, old);
                    }
                    m->next = l->maps;
                    l->maps = m;
                    l->nmaps++;
                }
            }
        }
        for (int i = 0; i < nfds; i++)
            close(fds[i]);
        if (st == 0)
            st = bmap_copy(l, m, x);
        if (st == IDC_ERR_REVOKED && m)
            bmap_drop(l, m);
        idc__xfer_complete(ctx, x, st);
    }
}

static int shm_rbuf_transfer(struct idc_context *ctx, struct idc_xfer *x)
{
    struct shm_ctx *sc = shm_ctx(ctx, true);
    if (!sc)
        return IDC_ERR_NOMEM;
    struct blink *l = sc->links;
    while (l && l->owner != x->rb.owner)
        l = l->next;
    if (!l) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (bsvc_path(ctx, x->rb.owner, sa.sun_path, sizeof(sa.sun_path)) < 0)
            return IDC_ERR_INVAL;
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return IDC_ERR_IO;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            check_peer(ctx, fd, "buffer owner") < 0) {
            idc__log(ctx, IDC_LOG_DEBUG, "buffer owner %016llx unreachable: %s",
                     (unsigned long long)x->rb.owner, strerror(errno));
            close(fd);
            idc__xfer_complete(ctx, x, IDC_ERR_DISCONNECTED);
            return 0;
        }
        l = calloc(1, sizeof(*l));
        if (!l) {
            close(fd);
            return IDC_ERR_NOMEM;
        }
        l->ctx = ctx;
        l->owner = x->rb.owner;
        l->fd = fd;
        l->wait_tail = &l->wait_head;
        l->w = (struct idc_watch){ .fd = fd, .events = EPOLLIN | EPOLLRDHUP, .fn = blink_fire,
                                   .arg = l };
        if (idc__watch_add(ctx, &l->w) < 0) {
            close(fd);
            free(l);
            return IDC_ERR_IO;
        }
        l->next = sc->links;
        sc->links = l;
    }
    struct bmap *m = l->wait_head ? NULL : bmap_find(l, &x->rb);
    if (m) {
        /* Fast path: mapping cached, no socket traffic: one generation load, one memcpy. */
        int st = bmap_copy(l, m, x);
        if (st == IDC_ERR_REVOKED)
            bmap_drop(l, m);
        idc__xfer_complete(ctx, x, st);
        return 0;
    }
    struct idc_shm_mapreq q = { .magic = IDC_SHM_MAGIC, .type = IDC_SHM_MAPREQ,
                                .wire = IDC_SHM_WIRE, .id = x->rb.id,
                                .generation = x->rb.generation, .rights = x->rb.rights,
                                .owner = x->rb.owner, .length = x->rb.length };
    memcpy(q.key, x->rb.key, 16);
    if (send_rec(l->fd, &q, sizeof(q), NULL, 0) < 0) {
        idc__xfer_complete(ctx, x, IDC_ERR_DISCONNECTED);
        blink_free(ctx, l, IDC_ERR_DISCONNECTED);
        return 0;
    }
    x->next = NULL;
    *l->wait_tail = x;
    l->wait_tail = &x->next;
    return 0;
}

static void shm_ctx_fini(struct idc_context *ctx)
{
    struct shm_ctx *sc = ctx->shm;
    if (!sc)
        return;
    while (sc->links) {
        struct blink *l = sc->links;
        sc->links = l->next;   /* unlinked here, so the list never holds a freed link */
        blink_free(ctx, l, IDC_ERR_DISCONNECTED);
    }
    /* transfers completed above are dropped by the caller (context destroy) */
    while (sc->bconns) {
        struct bsvc_conn *c = sc->bconns;
        sc->bconns = c->next;
        bsvc_close(ctx, c);
    }
    if (sc->bfd >= 0) {
        char p[sizeof(((struct sockaddr_un *)0)->sun_path)];
        if (bsvc_path(ctx, ctx->id, p, sizeof(p)) == 0)
            unlink(p);
        close_fd(&sc->bfd);
    }
    if (sc->gen)
        munmap(sc->gen, IDC_MAX_REGS * sizeof(uint32_t));
    ctx->gen_table = NULL;
    close_fd(&sc->gen_fd);
    close_fd(&sc->ifd);
    free(sc);
    ctx->shm = NULL;
}

const struct idc_transport idc_transport_shm = {
    .name = "shm",
    .ep_start = shm_ep_start,
    .chan_close = shm_chan_close,
    .ep_rearm = shm_ep_rearm,
    .ep_stop = shm_ep_stop,
    .notify = shm_notify,
    .buf_alloc = shm_buf_alloc,
    .buf_free = shm_buf_free,
    .rbuf_publish = shm_rbuf_publish,
    .buf_seal_ro = shm_buf_seal_ro,
    .rbuf_transfer = shm_rbuf_transfer,
    .ctx_fini = shm_ctx_fini,
};

const struct idc_transport *idc__transport_for(const char *address, const char **rest, int *err)
{
    const char *colon = strchr(address, ':');
    if (!colon) {
        *err = IDC_ERR_INVAL;
        return NULL;
    }
    size_t n = (size_t)(colon - address);
    *rest = colon + 1;
    if (n == 3 && memcmp(address, "shm", 3) == 0)
        return &idc_transport_shm;
    if (n == 3 && memcmp(address, "xen", 3) == 0) {
        return &idc_transport_xen;
    }
    *err = (n == 6 && memcmp(address, "fabric", 6) == 0) ? IDC_ERR_NOTSUP : IDC_ERR_INVAL;
    return NULL;
}
