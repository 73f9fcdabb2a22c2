/* lobby.c - a backend's waiting room: connections accepted and waiting for their HELLO.
 *
 * A backend endpoint serves one frontend at a time, but it accepts every connection at once, so
 * that a silent client cannot hold the service (it used to hold the one handshake slot for 5 s
 * while up to 16 others waited in the listen backlog):
 *   - at most SHM_LOBBY_MAX connections wait here, each at most SHM_HELLO_MS for its HELLO;
 *   - at most SHM_LOBBY_PER_PEER of them from one peer process (SO_PEERCRED pid);
 *   - a newcomer over a limit evicts the oldest waiting connection of that class.
 * An honest frontend sends its HELLO right after connect, so it passes through at once.
 *
 * The service is exclusive: a HELLO that arrives while the endpoint is connected, or in a
 * handshake with another frontend, is refused at once with IDC_ERR_BUSY and a reason the
 * frontend logs. Between two connections (the driver has not acknowledged the disconnect yet)
 * a HELLO waits here and is served first when the endpoint is ready again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto.h"
#include "shm.h"

struct shm_guest {
    int fd; /* -1: free */
    pid_t pid;
    uint64_t since_ns;
    struct idc_watch w;
    struct idc_link *ep;
    bool have_hello;
    struct idc_shm_hello hello;
};

struct shm_lobby {
    struct shm_guest g[SHM_LOBBY_MAX];
    unsigned n;
    struct idc_timer sweep;     /* runs while someone waits without a HELLO */
    struct idc_log_limit logs;  /* refusals a flood of clients can cause */
};

static void guest_drop(struct shm_lobby *lb, struct shm_guest *g)
{
    idc__watch_del(g->ep->ctx, &g->w);
    close(g->fd);
    g->fd = -1;
    g->have_hello = false;
    lb->n--;
}

/* Refuses a waiting connection with status and reason, then drops it. Rate-limited log: a flood
   of clients must not flood the log. */
static void guest_refuse(struct shm_lobby *lb, struct shm_guest *g, int status, const char *why)
{
    struct idc_link *ep = g->ep;
    if (idc__log_limit(&lb->logs, ep->ctx))
        idc__log(ep->ctx, IDC_LOG_WARN, "%s: refusing frontend pid %d: %s (%s)", ep->address,
                 (int)g->pid, why, idc_strerror(status));
    shm_send_refuse(g->fd, status, "%s", why);
    guest_drop(lb, g);
}

static struct shm_guest *oldest(struct shm_lobby *lb, pid_t pid, bool any_pid)
{
    struct shm_guest *o = NULL;
    for (unsigned i = 0; i < SHM_LOBBY_MAX; i++) {
        struct shm_guest *g = &lb->g[i];
        if (g->fd >= 0 && (any_pid || g->pid == pid) && (!o || g->since_ns < o->since_ns))
            o = g;
    }
    return o;
}

static unsigned count_pid(struct shm_lobby *lb, pid_t pid)
{
    unsigned n = 0;
    for (unsigned i = 0; i < SHM_LOBBY_MAX; i++)
        n += lb->g[i].fd >= 0 && lb->g[i].pid == pid;
    return n;
}

static void sweep_fire(struct idc_timer *t)
{
    struct idc_link *ep = t->arg;
    struct shm_lobby *lb = shm_lobby_of(ep);
    uint64_t now = idc__now_ns();
    bool waiting = false;
    for (unsigned i = 0; i < SHM_LOBBY_MAX; i++) {
        struct shm_guest *g = &lb->g[i];
        if (g->fd < 0 || g->have_hello)
            continue;
        if (now - g->since_ns >= (uint64_t)SHM_HELLO_MS * 1000000u)
            guest_refuse(lb, g, IDC_ERR_PROTO, "no HELLO in time");
        else
            waiting = true;
    }
    if (waiting)
        idc__timer_arm(ep->ctx, &lb->sweep, SHM_HELLO_MS / 4);
}

/* Reads the HELLO of a waiting connection (one record; the checks on its content are the
   handshake's). EOF or anything but one HELLO-sized HELLO record drops it. */
static void guest_fire(struct idc_watch *w, uint32_t events)
{
    struct shm_guest *g = w->arg;
    struct idc_link *ep = g->ep;
    struct shm_lobby *lb = shm_lobby_of(ep);
    if (g->have_hello) {
        /* A second record, or the peer gave up: either way it leaves the lobby. */
        if (events & EPOLLIN)
            guest_refuse(lb, g, IDC_ERR_PROTO, "data after HELLO before the handshake");
        else if (events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR))
            guest_drop(lb, g);
        return;
    }
    ssize_t n = shm_recv_rec(g->fd, &g->hello, sizeof(g->hello), NULL, NULL);
    if (n == IDC_ERR_AGAIN)
        return;
    if (n <= 0) {
        guest_drop(lb, g); /* closed before saying anything: nothing to refuse */
        return;
    }
    if ((size_t)n != sizeof(g->hello) || g->hello.magic != IDC_SHM_MAGIC ||
        g->hello.type != IDC_SHM_HELLO) {
        guest_refuse(lb, g, IDC_ERR_PROTO, "malformed HELLO");
        return;
    }
    g->have_hello = true;
    shm_lobby_offer(ep);
}

int shm_lobby_open(struct idc_link *ep)
{
    struct shm_lobby *lb = calloc(1, sizeof(*lb));
    if (!lb)
        return IDC_ERR_NOMEM;
    for (unsigned i = 0; i < SHM_LOBBY_MAX; i++)
        lb->g[i].fd = -1;
    lb->sweep = (struct idc_timer){ .fn = sweep_fire, .arg = ep };
    shm_set_lobby(ep, lb);
    return 0;
}

void shm_lobby_close(struct idc_link *ep)
{
    struct shm_lobby *lb = shm_lobby_of(ep);
    if (!lb)
        return;
    for (unsigned i = 0; i < SHM_LOBBY_MAX; i++)
        if (lb->g[i].fd >= 0)
            guest_drop(lb, &lb->g[i]);
    idc__timer_cancel(ep->ctx, &lb->sweep);
    free(lb);
    shm_set_lobby(ep, NULL);
}

/* Takes one connection from the listen queue into the lobby (policy first). */
static bool accept_one(struct idc_link *ep, int lfd, struct shm_lobby *lb)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
            idc__log_limit(&lb->logs, ep->ctx))
            idc__log(ep->ctx, IDC_LOG_ERROR, "%s: accept: %s", ep->address, strerror(errno));
        return false;
    }
    struct shm_peer who;
    int r = shm_peer_of(ep->ctx, fd, &who);
    if (r < 0) {
        if (idc__log_limit(&lb->logs, ep->ctx))
            idc__log(ep->ctx, IDC_LOG_WARN, "%s: peer pid %d uid %u refused by policy (same uid "
                     "or root)", ep->address, (int)who.pid, who.uid);
        if (r == IDC_ERR_PERM)
            shm_send_refuse(fd, r, "peer not allowed by policy (same uid or root)");
        close(fd);
        return true;
    }
    struct shm_guest *g = NULL;
    if (count_pid(lb, who.pid) >= SHM_LOBBY_PER_PEER)
        g = oldest(lb, who.pid, false);
    else if (lb->n == SHM_LOBBY_MAX)
        g = oldest(lb, 0, true);
    if (g)
        guest_refuse(lb, g, IDC_ERR_BUSY, "too many connections waiting; evicted");
    for (unsigned i = 0; !g || g->fd >= 0; i++)
        g = &lb->g[i];
    *g = (struct shm_guest){ .fd = fd, .pid = who.pid, .since_ns = idc__now_ns(), .ep = ep };
    g->w = (struct idc_watch){ .fd = fd, .events = EPOLLIN | EPOLLRDHUP, .fn = guest_fire, .arg = g };
    lb->n++;
    if (idc__watch_add(ep->ctx, &g->w) < 0) {
        close(fd);
        g->fd = -1;
        lb->n--;
        return true;
    }
    if (!lb->sweep.armed)
        idc__timer_arm(ep->ctx, &lb->sweep, SHM_HELLO_MS / 4);
    return true;
}

void shm_lobby_accept(struct idc_link *ep, int lfd)
{
    struct shm_lobby *lb = shm_lobby_of(ep);
    /* Bounded per call: the listen socket stays readable if more wait (level-triggered). */
    for (unsigned i = 0; i < 2 * SHM_LOBBY_MAX && accept_one(ep, lfd, lb); i++) {
    }
}

/* The endpoint may start a handshake now, or has become busy: give the oldest HELLO to the
   handshake, or refuse every waiting HELLO as busy. */
void shm_lobby_offer(struct idc_link *ep)
{
    struct shm_lobby *lb = shm_lobby_of(ep);
    if (!lb || idc__link_destroying(ep))
        return;
    enum shm_be_ready ready = shm_be_ready(ep);
    if (ready == SHM_BE_LATER)
        return;
    for (;;) {
        struct shm_guest *g = NULL;
        for (unsigned i = 0; i < SHM_LOBBY_MAX; i++) {
            struct shm_guest *c = &lb->g[i];
            if (c->fd >= 0 && c->have_hello && (!g || c->since_ns < g->since_ns))
                g = c;
        }
        if (!g)
            return;
        if (ready == SHM_BE_BUSY) {
            guest_refuse(lb, g, IDC_ERR_BUSY, "the service is in use by another frontend");
            continue;
        }
        /* Hand the connection over to the handshake; it owns the fd from here. */
        int fd = g->fd;
        struct idc_shm_hello hello = g->hello;
        idc__watch_del(ep->ctx, &g->w);
        g->fd = -1;
        g->have_hello = false;
        lb->n--;
        shm_be_hello(ep, fd, &hello);
        ready = shm_be_ready(ep);
        if (ready != SHM_BE_BUSY)
            return;
    }
}
