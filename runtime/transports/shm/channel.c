/* channel.c - shm endpoints: "shm:NAME".
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

#include "proto.h"
#include "shm.h"

#define RETRY_MS       100u  /* handshake failure / busy socket */
#define SERVE_RETRY_MS 500u  /* name served by someone else */
#define HANDSHAKE_MS   5000u /* backend: a frontend that got WELCOME must send READY by then */
#define BUSY_RETRY_MS  500u  /* frontend: an exclusive service in use by another frontend */

enum hs_state {
    HS_NONE = 0,
    HS_WAIT_WELCOME, /* frontend: HELLO sent */
    HS_WAIT_READY,   /* backend: WELCOME sent */
    HS_UP,
};

struct shm_ep {
    struct shm_service *svc; /* backend: the published service it serves (service.c) */
    pid_t peer_pid;          /* backend: the frontend process (SO_PEERCRED) */
    int sfd;                 /* connection socket */
    struct idc_watch sw;
    int efd_in, efd_out; /* our wake-up eventfd, the peer's */
    struct idc_watch ew;
    void *map;
    size_t map_len;
    enum hs_state hs;
    uint32_t epoch;
    uint32_t epoch_next;
    struct idc_timer retry;
    bool refused;     /* frontend: refused (mismatch/perm): wait for the service to change */
    bool busy_logged; /* backend: name served elsewhere; frontend: service busy (logged once) */
    struct idc_chan ch;
    struct idc_storm storm; /* useless wake-ups of the connection (limits.c) */
    struct idc_log_limit
        refusals;             /* backend: handshakes refused (a flood must not flood the log) */
    struct idc_timer unpause; /* storm mode: the eventfd is out of epoll until it fires */
    bool paused;
};
_Static_assert(sizeof(struct shm_ep) <= sizeof(((struct idc_link *)0)->priv), "shm_ep fits");

static struct shm_ep *S(struct idc_link *ep)
{
    return IDC_LINK_PRIV(struct shm_ep, ep);
}

static int sock_path(struct idc_context *ctx, char *out, size_t n, const char *name)
{
    int r = snprintf(out, n, "%s/%s.sock", shm_dir(ctx), name);
    return r < 0 || (size_t)r >= n ? IDC_ERR_INVAL : 0;
}

/* ------------------------------------------------------------------------ channel teardown */

static void chan_release(struct idc_link *ep)
{
    struct shm_ep *s = S(ep);
    if (s->sfd >= 0)
        idc__watch_del(ep->ctx, &s->sw);
    if (s->efd_in >= 0 && !s->paused)
        idc__watch_del(ep->ctx, &s->ew);
    idc__timer_cancel(ep->ctx, &s->unpause);
    s->paused = false;
    shm_close_fd(&s->sfd);
    shm_close_fd(&s->efd_in);
    shm_close_fd(&s->efd_out);
    if (s->map)
        munmap(s->map, s->map_len);
    s->map = NULL;
    s->map_len = 0;
    s->hs = HS_NONE;
}

void shm_chan_close(struct idc_link *ep)
{
    chan_release(ep);
}

void shm_notify(struct idc_link *ep)
{
    uint64_t one = 1;
    if (S(ep)->efd_out >= 0 && write(S(ep)->efd_out, &one, sizeof(one)) < 0) {
        /* EAGAIN: counter saturated, the peer is awake anyway */
    }
}

/* Every notification is counted: a peer writing the eventfd in a loop makes the link pause
   listening (storm mode, at most 50 wake-ups a second) and then cuts it (limits.c). */
static void efd_fire(struct idc_watch *w, uint32_t events)
{
    (void)events;
    struct idc_link *ep = w->arg;
    struct shm_ep *s = S(ep);
    /* Edge-triggered: every peer write is a new edge; the counter is never read (one syscall
       per wake-up saved). process_rx drains the ring and re-arms before returning. */
    idc__link_kick(ep);
    if (s->hs != HS_UP) /* the kick may have taken the connection down */
        return;
    char why[120];
    switch (idc__storm_note(&s->storm, ep, why, sizeof(why))) {
    case IDC_STORM_OK:
        break;
    case IDC_STORM_CUT:
        idc__link_down(ep, IDC_ERR_PROTO, "%s", why);
        break;
    case IDC_STORM_PAUSE:
        if (!s->paused) {
            idc__watch_del(ep->ctx, &s->ew);
            s->paused = true;
            idc__timer_arm(ep->ctx, &s->unpause, IDC_STORM_PAUSE_MS);
        }
        break;
    }
}

static void unpause_fire(struct idc_timer *t)
{
    struct idc_link *ep = t->arg;
    struct shm_ep *s = S(ep);
    if (!s->paused)
        return;
    s->paused = false;
    if (s->hs != HS_UP || s->efd_in < 0)
        return;
    if (idc__watch_add(ep->ctx, &s->ew) < 0) {
        idc__link_down(ep, IDC_ERR_IO, "cannot listen to the peer's notifications again");
        return;
    }
    idc__link_kick(ep); /* frames that arrived while we did not listen */
}

static void sock_fire(struct idc_watch *w, uint32_t events);

static int watch_sock(struct idc_link *ep)
{
    struct shm_ep *s = S(ep);
    s->sw = (struct idc_watch){
        .fd = s->sfd, .events = EPOLLIN | EPOLLRDHUP, .fn = sock_fire, .arg = ep
    };
    return idc__watch_add(ep->ctx, &s->sw);
}

/* populate: fault every ring page in now (MAP_POPULATE, best effort). Rings are sized for every
   credit at the largest frame, so without it each fresh connection takes a page fault per ring
   page in both processes during its first traffic. Only for sizes we computed ourselves: a
   hostile backend must not make a frontend allocate an oversized ring. */
static int map_rings(struct idc_link *ep, int memfd, uint32_t ring_size, bool populate)
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

static int chan_up(struct idc_link *ep)
{
    struct shm_ep *s = S(ep);
    s->ew = (struct idc_watch){
        .fd = s->efd_in, .events = EPOLLIN | EPOLLET, .fn = efd_fire, .arg = ep
    };
    if (idc__watch_add(ep->ctx, &s->ew) < 0)
        return IDC_ERR_IO;
    s->hs = HS_UP;
    idc__timer_cancel(ep->ctx, &s->retry);
    struct shm_peer who;
    if (shm_peer_of(ep->ctx, s->sfd, &who) != IDC_ERR_IO)
        idc__link_peer(ep, "pid=%d,uid=%u", (int)who.pid, who.uid);
    int r = idc__link_up(ep, &s->ch);
    idc__storm_reset(&s->storm, ep);
    if (r < 0)
        idc__log(ep->ctx, IDC_LOG_ERROR, "%s: cannot bring the channel up: %s", ep->address,
                 idc_strerror(r));
    return r;
}

/* Refuses the peer on fd (logged here, sent as a REFUSE record). */
static void refuse(struct idc_link *ep, int fd, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void refuse(struct idc_link *ep, int fd, int status, const char *fmt, ...)
{
    char why[IDC_SHM_REASON_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (idc__log_limit(&S(ep)->refusals, ep->ctx))
        idc__log(ep->ctx, IDC_LOG_ERROR, "%s: refusing peer: %s (%s)", ep->address, why,
                 idc_strerror(status));
    shm_send_refuse(fd, status, "%s", why);
}

/* ------------------------------------------------------------------------------ frontend */

static void fe_try_connect(struct idc_link *ep);

static bool service_present(struct idc_link *ep)
{
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct stat st;
    return sock_path(ep->ctx, path, sizeof(path), ep->name) == 0 && stat(path, &st) == 0 &&
           S_ISSOCK(st.st_mode);
}

static void fe_retry_fire(struct idc_timer *t)
{
    struct idc_link *ep = t->arg;
    if (idc__link_state(ep) == IDC_EP_PRESENT && S(ep)->hs == HS_NONE)
        fe_try_connect(ep);
}

static void fe_fail(struct idc_link *ep, bool retry)
{
    chan_release(ep);
    if (retry && !idc__link_destroying(ep))
        idc__timer_arm(ep->ctx, &S(ep)->retry, RETRY_MS);
}

static void fe_try_connect(struct idc_link *ep)
{
    struct shm_ep *s = S(ep);
    if (s->hs != HS_NONE || s->refused || idc__link_destroying(ep) ||
        idc__link_state(ep) != IDC_EP_PRESENT)
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
            idc__link_disappear(ep);
            return;
        }
        /* EAGAIN: backlog full; others: retry */
        fe_fail(ep, true);
        return;
    }
    s->sfd = fd;
    int r = shm_check_peer(ep->ctx, fd, ep->address, NULL);
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
    if (shm_send_rec(fd, &h, sizeof(h), NULL, 0) < 0 || watch_sock(ep) < 0) {
        fe_fail(ep, true);
        return;
    }
    s->hs = HS_WAIT_WELCOME;
}

static void fe_welcome(struct idc_link *ep)
{
    struct shm_ep *s = S(ep);
    union {
        struct idc_shm_welcome w;
        struct idc_shm_refuse rf;
    } u;
    int fds[3], nfds = 3;
    ssize_t n = shm_recv_rec(s->sfd, &u, sizeof(u), fds, &nfds);
    if (n == IDC_ERR_AGAIN)
        return; /* nothing more now */
    int memfd = nfds > 0 ? fds[0] : -1;
    for (int i = 1; i < nfds; i++)
        (i == 1 ? (s->efd_in = fds[i]) : (s->efd_out = fds[i]));
    if (n <= 0) {
        shm_close_fd(&memfd);
        /* The backend went away before answering; it may have been a dying server. */
        fe_fail(ep, true);
        return;
    }
    if ((size_t)n == sizeof(u.rf) && u.rf.magic == IDC_SHM_MAGIC && u.rf.type == IDC_SHM_REFUSE) {
        u.rf.reason[sizeof(u.rf.reason) - 1] = 0;
        int st = u.rf.status;
        if (st != IDC_ERR_BUSY || !s->busy_logged)
            idc__log(ep->ctx, IDC_LOG_ERROR, "%s: backend refused the connection: %s (%s)%s",
                     ep->address, u.rf.reason, idc_strerror(st),
                     st == IDC_ERR_BUSY ? "; retrying quietly until it is free" : "");
        s->busy_logged = st == IDC_ERR_BUSY;
        idc__link_refused(ep, st, u.rf.reason);
        shm_close_fd(&memfd);
        if (st == IDC_ERR_BUSY) {
            chan_release(ep);
            if (!idc__link_destroying(ep))
                idc__timer_arm(ep->ctx, &s->retry, BUSY_RETRY_MS);
            return;
        }
        /* Mismatch and policy do not heal by retrying: wait for the service to be replaced. */
        s->refused = st == IDC_ERR_MISMATCH || st == IDC_ERR_PERM;
        fe_fail(ep, !s->refused);
        return;
    }
    struct idc_shm_welcome w = u.w; /* private copy, validated below */
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
    else if (w.max_frame < IDC_MIN_FRAME)
        bad = "negotiated max_frame below the minimum";
    else if (!shm_is_eventfd(s->efd_in) || !shm_is_eventfd(s->efd_out))
        bad = "WELCOME descriptors 2 and 3 are not eventfds";
    else if (w.ring_size < IDC_RING_MIN_SIZE || w.ring_size > IDC_RING_MAX_SIZE ||
             (w.ring_size & (w.ring_size - 1)) ||
             idc_ring_size_for(w.max_messages + 2 * w.max_transactions, w.max_frame) == 0 ||
             idc_ring_size_for(w.max_messages + 2 * w.max_transactions, w.max_frame) > w.ring_size)
        bad = "ring size invalid for the negotiated limits";
    else if (!shm_memfd_ok(memfd, 2 * idc_ring_bytes(w.ring_size)))
        bad = "ring memory not sealed or too small";
    if (bad) {
        idc__log(ep->ctx, IDC_LOG_ERROR, "%s: handshake: %s", ep->address, bad);
        shm_close_fd(&memfd);
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
    shm_close_fd(&memfd);
    struct idc_shm_ready rd = {
        .magic = IDC_SHM_MAGIC, .type = IDC_SHM_READY, .wire = IDC_SHM_WIRE, .epoch = w.epoch
    };
    if (r < 0 || shm_send_rec(s->sfd, &rd, sizeof(rd), NULL, 0) < 0) {
        fe_fail(ep, true);
        return;
    }
    if (chan_up(ep) < 0)
        fe_fail(ep, true);
}

/* ------------------------------------------------------------------------------- backend */

/* Ends the handshake or connection on sfd; the service may hand over the next frontend. */
static void be_drop(struct idc_link *ep)
{
    chan_release(ep);
    if (S(ep)->svc)
        shm_service_offer(S(ep)->svc);
}

enum shm_be_ready shm_be_ready(struct idc_link *ep)
{
    enum idc_endpoint_state st = idc__link_state(ep);
    if (st == IDC_EP_CONNECTED || S(ep)->hs != HS_NONE)
        return SHM_BE_BUSY;
    return st == IDC_EP_PRESENT ? SHM_BE_NOW : SHM_BE_LATER;
}

static uint32_t min32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/* The service (service.c) hands over a connection whose HELLO record arrived (its size, magic and type
   checked); the endpoint is PRESENT with no handshake in progress. */
void shm_be_hello(struct idc_link *ep, int fd, pid_t pid, const struct idc_shm_hello *hello)
{
    struct shm_ep *s = S(ep);
    struct idc_shm_hello h = *hello;
    s->sfd = fd;
    s->peer_pid = pid;
    if (watch_sock(ep) < 0) {
        be_drop(ep);
        return;
    }
    /* A frontend that got WELCOME must send READY in time. */
    idc__timer_arm(ep->ctx, &s->retry, HANDSHAKE_MS);
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
    uint32_t v = idc__offer_version(ep->proto, h.min_version, h.max_version, h.hash,
                                    IDC_MAX_VERSIONS);
    if (!v) {
        refuse(ep, s->sfd, IDC_ERR_MISMATCH,
               "protocol '%s': no common version with matching IDL hash (peer %u..%u, us %u..%u)",
               h.protocol, h.min_version, h.max_version, ep->proto->min_version,
               ep->proto->max_version);
        be_drop(ep);
        return;
    }
    char why[96];
    if (idc__offer_limits(h.max_frame, h.max_transactions, h.max_messages, why, sizeof(why))) {
        refuse(ep, s->sfd, IDC_ERR_PROTO, "HELLO: %s", why);
        be_drop(ep);
        return;
    }
    uint32_t frame = min32(h.max_frame, ep->max_frame);
    uint32_t tx = min32(h.max_transactions, ep->max_tx);
    uint32_t msg = min32(h.max_messages, ep->max_msg);
    uint32_t ring = idc_ring_size_for(msg + 2 * tx, frame);
    if (!ring) {
        refuse(ep, s->sfd, IDC_ERR_TOOBIG, "rings for %u frames of %u bytes exceed %u bytes",
               msg + 2 * tx, frame, IDC_RING_MAX_SIZE);
        be_drop(ep);
        return;
    }
    int memfd = -1, efd_fe = -1, efd_be = -1;
    size_t rb = idc_ring_bytes(ring);
    if (shm_memfd(ep->ctx, "idc-rings", 2 * rb, &memfd) < 0 ||
        (efd_fe = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
        (efd_be = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        idc__log(ep->ctx, IDC_LOG_ERROR, "%s: memfd/eventfd: %s", ep->address, strerror(errno));
        shm_close_fd(&memfd);
        shm_close_fd(&efd_fe);
        shm_close_fd(&efd_be);
        be_drop(ep);
        return;
    }
    s->ch.epoch = ++s->epoch_next ? s->epoch_next : ++s->epoch_next;
    s->ch.version = v;
    s->ch.max_frame = frame;
    s->ch.tx_limit = tx;
    s->ch.msg_limit = msg;
    if (map_rings(ep, memfd, ring, true) < 0) {
        shm_close_fd(&memfd);
        shm_close_fd(&efd_fe);
        shm_close_fd(&efd_be);
        be_drop(ep);
        return;
    }
    idc_ring_init_shared(s->ch.tx_mem);
    idc_ring_init_shared(s->ch.rx_mem);
    s->efd_in = efd_be;
    s->efd_out = efd_fe;
    struct idc_shm_welcome w = { .magic = IDC_SHM_MAGIC,
                                 .type = IDC_SHM_WELCOME,
                                 .wire = IDC_SHM_WIRE,
                                 .version = v,
                                 .epoch = s->ch.epoch,
                                 .max_frame = frame,
                                 .max_transactions = tx,
                                 .max_messages = msg,
                                 .ring_size = ring };
    int fds[3] = { memfd, efd_fe, efd_be };
    int r = shm_send_rec(s->sfd, &w, sizeof(w), fds, 3);
    shm_close_fd(&memfd);
    if (r < 0) {
        be_drop(ep);
        return;
    }
    s->hs = HS_WAIT_READY;
}

static void be_ready(struct idc_link *ep)
{
    struct shm_ep *s = S(ep);
    struct idc_shm_ready rd;
    ssize_t n = shm_recv_rec(s->sfd, &rd, sizeof(rd), NULL, NULL);
    if (n == IDC_ERR_AGAIN)
        return; /* nothing more now */
    if (n != (ssize_t)sizeof(rd) || rd.magic != IDC_SHM_MAGIC || rd.type != IDC_SHM_READY ||
        rd.epoch != s->ch.epoch) {
        if (n > 0)
            idc__log(ep->ctx, IDC_LOG_ERROR, "%s: handshake: malformed READY", ep->address);
        be_drop(ep);
        return;
    }
    if (chan_up(ep) < 0) {
        be_drop(ep);
        return;
    }
    shm_service_connected(s->svc, s->peer_pid);
    shm_service_offer(s->svc); /* connected: whoever waits may be busy now */
}

static void sock_fire(struct idc_watch *w, uint32_t events)
{
    struct idc_link *ep = w->arg;
    struct shm_ep *s = S(ep);
    switch (s->hs) {
    case HS_WAIT_WELCOME:
        fe_welcome(ep);
        return;
    case HS_WAIT_READY:
        be_ready(ep);
        return;
    case HS_UP: {
        /* Silent after the handshake: anything but silence ends the connection. */
        char b[64];
        ssize_t n = recv(s->sfd, b, sizeof(b), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR) &&
            !(events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)))
            return;
        idc__watch_del(ep->ctx, &s->sw);
        if (n > 0) {
            idc__link_down(ep, IDC_ERR_PROTO, "unexpected data on the control socket");
            return;
        }
        if (ep->role == IDC_ROLE_BACKEND)
            shm_service_owner_left(s->svc); /* the frontend left: the device is nobody's */
        idc__link_down(ep, IDC_ERR_DISCONNECTED, "peer closed the connection");
        return;
    }
    case HS_NONE:
        idc__watch_del(ep->ctx, &s->sw);
        return;
    }
}

static void be_serve_retry(struct idc_timer *t);

/* Publishes the service (service.c), or waits while another endpoint serves the name. */
static int be_publish(struct idc_link *ep)
{
    struct shm_ep *s = S(ep);
    int r = shm_service_join(ep, &s->svc);
    if (r == IDC_ERR_BUSY) {
        if (!s->busy_logged)
            idc__log(ep->ctx, IDC_LOG_WARN, "%s: already served by another endpoint; waiting",
                     ep->address);
        s->busy_logged = true;
        idc__timer_arm(ep->ctx, &s->retry, SERVE_RETRY_MS);
        return 0;
    }
    if (r < 0)
        return r;
    idc__link_appear(ep);
    return 0;
}

static void be_serve_retry(struct idc_timer *t)
{
    struct idc_link *ep = t->arg;
    struct shm_ep *s = S(ep);
    if (s->svc && s->hs == HS_WAIT_READY) {
        idc__log(ep->ctx, IDC_LOG_WARN, "%s: handshake timed out; dropping that peer", ep->address);
        be_drop(ep);
        return;
    }
    if (idc__link_destroying(ep) || s->svc)
        return;
    int r = be_publish(ep);
    if (r < 0) {
        idc__link_fail(ep, r);
    }
}

/* ------------------------------------------------------------------------------ discovery */

static void inotify_fire(struct idc_watch *w, uint32_t events)
{
    (void)events;
    struct idc_context *ctx = w->arg;
    struct shm_ctx *sc = shm_ctx(ctx);
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
                for (struct idc_link *ep = idc__link_first(ctx, &idc_transport_shm); ep;
                     ep = idc__link_next(ep))
                    if (ep->role == IDC_ROLE_FRONTEND && idc__link_state(ep) == IDC_EP_ABSENT &&
                        service_present(ep)) {
                        idc__link_appear(ep);
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
            for (struct idc_link *ep = idc__link_first(ctx, &idc_transport_shm); ep;
                 ep = idc__link_next(ep)) {
                if (ep->role != IDC_ROLE_FRONTEND || idc__link_destroying(ep) ||
                    strlen(ep->name) != nl - 5 || memcmp(ep->name, ev->name, nl - 5) != 0)
                    continue;
                if (added) {
                    S(ep)->refused = false; /* a new server: try again */
                    if (idc__link_state(ep) == IDC_EP_ABSENT)
                        idc__link_appear(ep);
                    if (idc__link_state(ep) == IDC_EP_PRESENT && S(ep)->hs == HS_NONE)
                        fe_try_connect(ep);
                } else if (removed && idc__link_state(ep) == IDC_EP_PRESENT) {
                    if (S(ep)->hs != HS_NONE)
                        chan_release(ep);
                    idc__timer_cancel(ctx, &S(ep)->retry);
                    idc__link_disappear(ep);
                }
            }
        }
    }
}

static int watch_dir(struct idc_context *ctx)
{
    struct shm_ctx *sc = shm_ctx(ctx);
    if (!sc)
        return IDC_ERR_NOMEM;
    if (sc->ifd >= 0)
        return 0;
    sc->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (sc->ifd < 0) {
        idc__log(ctx, IDC_LOG_ERROR, "inotify: %s", strerror(errno));
        return IDC_ERR_IO;
    }
    sc->iwd = inotify_add_watch(sc->ifd, shm_dir(ctx),
                                IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR);
    sc->iw = (struct idc_watch){ .fd = sc->ifd, .events = EPOLLIN, .fn = inotify_fire, .arg = ctx };
    if (sc->iwd < 0 || idc__watch_add(ctx, &sc->iw) < 0) {
        idc__log(ctx, IDC_LOG_ERROR, "inotify on %s: %s", shm_dir(ctx), strerror(errno));
        shm_close_fd(&sc->ifd);
        return IDC_ERR_IO;
    }
    return 0;
}

/* ------------------------------------------------------------------------ endpoint ops */

int shm_address_check(const char *rest, enum idc_role role, char *why, size_t why_len)
{
    (void)role;
    if (idc__valid_name(rest))
        return 0;
    snprintf(why, why_len, "an shm service name is [A-Za-z0-9._-]{1,64}, not starting with '.'");
    return IDC_ERR_INVAL;
}

/* The address was checked by shm_address_check at create. */
int shm_ep_start(struct idc_link *ep)
{
    struct shm_ep *s = S(ep);
    memset(s, 0, sizeof(*s));
    s->sfd = s->efd_in = s->efd_out = -1;
    s->retry.arg = ep;
    s->unpause = (struct idc_timer){ .fn = unpause_fire, .arg = ep };
    idc__random(&s->epoch_next, sizeof(s->epoch_next));
    s->epoch_next &= 0x7fffffffu; /* random start: epochs of different servers differ */
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
        idc__link_appear(ep);
        fe_try_connect(ep);
    }
    return 0;
}

void shm_ep_rearm(struct idc_link *ep)
{
    if (ep->role == IDC_ROLE_BACKEND) {
        if (S(ep)->svc)
            shm_service_offer(S(ep)->svc); /* a frontend may be waiting already */
        return;
    }
    if (service_present(ep))
        fe_try_connect(ep);
    else
        idc__link_disappear(ep);
}

void shm_ep_stop(struct idc_link *ep)
{
    struct shm_ep *s = S(ep);
    if (s->retry.fn)
        idc__timer_cancel(ep->ctx, &s->retry);
    chan_release(ep);
    if (s->svc)
        shm_service_leave(ep, s->svc);
    s->svc = NULL;
}
