/* service.c - a backend's published service: the listening socket, its lobby, the endpoints
 * that serve it, and who may have it.
 *
 * Publication: <dir>/NAME.sock is bound under a temporary name, listened on, and renamed into
 * place (frontends see it appear atomically). One service per name and context; backend
 * endpoints with IDC_EP_SHARED join it (up to SHM_SERVICE_EPS), each serving one frontend.
 *
 * Lobby: every connection is accepted at once, so a silent client cannot hold the service (it
 * used to hold the one handshake slot for 5 s while up to 16 others waited in the backlog):
 *   - at most SHM_LOBBY_MAX connections wait for their HELLO, each at most SHM_HELLO_MS;
 *   - at most SHM_LOBBY_PER_PEER of them from one peer process (SO_PEERCRED pid);
 *   - a newcomer over a limit evicts the oldest waiting connection of its class.
 * An honest frontend sends its HELLO right after connect, so it passes through at once.
 *
 * One owner: a HELLO is given to a free endpoint of the service; when none is free because all
 * are connected or handshaking, it is refused at once with IDC_ERR_BUSY (an exclusive service
 * has one endpoint); when one will be free soon (its driver has not acknowledged a disconnect
 * yet) the HELLO waits. The frontend process an exclusive service was connected to is written
 * to <dir>/.NAME.owner; it is removed when that frontend leaves, and kept when the backend dies
 * or stops. A backend that starts while that process is still alive reserves the service for
 * it for IDC_OWNER_RESERVE_MS: others are refused as busy meanwhile, so a restart gives the device
 * back to its front end before any newcomer.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto.h"
#include "shm.h"

struct shm_guest {
    int fd; /* -1: free */
    pid_t pid;
    uint64_t since_ns;
    struct idc_watch w;
    struct shm_service *svc;
    bool have_hello;
    struct idc_shm_hello hello;
};

struct shm_service {
    struct shm_service *next; /* shm_ctx's list */
    struct idc_context *ctx;
    char name[IDC_NAME_MAX + 1];
    char address[IDC_NAME_MAX + 16]; /* of the first endpoint, for log lines */
    int lfd;
    ino_t ino;
    struct idc_watch lw;
    bool shared;
    struct idc_link *eps[SHM_SERVICE_EPS];
    unsigned neps;
    struct shm_guest g[SHM_LOBBY_MAX];
    unsigned n;                /* guests */
    struct idc_timer sweep;    /* runs while someone waits without a HELLO */
    struct idc_log_limit logs; /* refusals a flood of clients can cause */
    pid_t reserved_pid;        /* the previous owner, after a restart */
    uint64_t reserved_until_ns;
};

/* ------------------------------------------------------------------------------- owner file */

static int owner_path(struct shm_service *svc, char *out, size_t n)
{
    int r = snprintf(out, n, "%s/.%s.owner", shm_dir(svc->ctx), svc->name);
    return r < 0 || (size_t)r >= n ? IDC_ERR_INVAL : 0;
}

static void owner_write(struct shm_service *svc, pid_t pid)
{
    char p[PATH_MAX_SHM], tmp[PATH_MAX_SHM + 8], v[24];
    if (svc->shared || owner_path(svc, p, sizeof(p)) < 0)
        return;
    snprintf(tmp, sizeof(tmp), "%s.tmp", p);
    int n = snprintf(v, sizeof(v), "%d\n", (int)pid);
    FILE *f = fopen(tmp, "we");
    if (!f)
        return;
    bool ok = fwrite(v, 1, (size_t)n, f) == (size_t)n;
    if (fclose(f) != 0 || !ok || rename(tmp, p) != 0)
        unlink(tmp);
}

/* The frontend left on its own: the device is nobody's. */
void shm_service_owner_left(struct shm_service *svc)
{
    char p[PATH_MAX_SHM];
    if (svc && !svc->shared && owner_path(svc, p, sizeof(p)) == 0)
        unlink(p);
}

/* At publication: a previous owner process still alive gets the service first. */
static void owner_reserve(struct shm_service *svc)
{
    char p[PATH_MAX_SHM], v[24] = "";
    if (svc->shared || owner_path(svc, p, sizeof(p)) < 0)
        return;
    FILE *f = fopen(p, "re");
    if (!f)
        return;
    bool got = fgets(v, sizeof(v), f) != NULL;
    fclose(f);
    char *end;
    long pid = got ? strtol(v, &end, 10) : 0;
    if (!got || pid <= 1 || (*end && *end != '\n') || pid > 0x3fffffff)
        return;
    if (kill((pid_t)pid, 0) != 0 && errno != EPERM) {
        unlink(p); /* that process is gone */
        return;
    }
    svc->reserved_pid = (pid_t)pid;
    svc->reserved_until_ns = idc__now_ns() + (uint64_t)IDC_OWNER_RESERVE_MS * 1000000u;
    idc__log(svc->ctx, IDC_LOG_INFO,
             "%s: reserved for %u ms for the frontend connected before "
             "(pid %ld)",
             svc->address, IDC_OWNER_RESERVE_MS, pid);
}

static bool reserved_against(struct shm_service *svc, pid_t pid)
{
    if (!svc->reserved_pid)
        return false;
    if (idc__now_ns() >= svc->reserved_until_ns) {
        svc->reserved_pid = 0;
        return false;
    }
    return pid != svc->reserved_pid;
}

void shm_service_connected(struct shm_service *svc, pid_t pid)
{
    if (pid == svc->reserved_pid)
        svc->reserved_pid = 0;
    owner_write(svc, pid);
}

/* ------------------------------------------------------------------------------------ lobby */

static void guest_drop(struct shm_service *svc, struct shm_guest *g)
{
    idc__watch_del(svc->ctx, &g->w);
    close(g->fd);
    g->fd = -1;
    g->have_hello = false;
    svc->n--;
}

/* Refuses a waiting connection with status and reason, then drops it. Rate-limited log: a flood
   of clients must not flood the log. */
static void guest_refuse(struct shm_service *svc, struct shm_guest *g, int status, const char *why)
{
    if (idc__log_limit(&svc->logs, svc->ctx))
        idc__log(svc->ctx, IDC_LOG_WARN, "%s: refusing frontend pid %d: %s (%s)", svc->address,
                 (int)g->pid, why, idc_strerror(status));
    shm_send_refuse(g->fd, status, "%s", why);
    guest_drop(svc, g);
}

static struct shm_guest *oldest(struct shm_service *svc, pid_t pid, bool any_pid, bool hello)
{
    struct shm_guest *o = NULL;
    for (unsigned i = 0; i < SHM_LOBBY_MAX; i++) {
        struct shm_guest *g = &svc->g[i];
        if (g->fd >= 0 && (any_pid || g->pid == pid) && (!hello || g->have_hello) &&
            (!o || g->since_ns < o->since_ns))
            o = g;
    }
    return o;
}

static unsigned count_pid(struct shm_service *svc, pid_t pid)
{
    unsigned n = 0;
    for (unsigned i = 0; i < SHM_LOBBY_MAX; i++)
        n += svc->g[i].fd >= 0 && svc->g[i].pid == pid;
    return n;
}

static void sweep_fire(struct idc_timer *t)
{
    struct shm_service *svc = t->arg;
    uint64_t now = idc__now_ns();
    bool waiting = false;
    for (unsigned i = 0; i < SHM_LOBBY_MAX; i++) {
        struct shm_guest *g = &svc->g[i];
        if (g->fd < 0 || g->have_hello)
            continue;
        if (now - g->since_ns >= (uint64_t)SHM_HELLO_MS * 1000000u)
            guest_refuse(svc, g, IDC_ERR_PROTO, "no HELLO in time");
        else
            waiting = true;
    }
    if (waiting)
        idc__timer_arm(svc->ctx, &svc->sweep, SHM_HELLO_MS / 4);
}

/* Reads the HELLO of a waiting connection (one record; the checks on its content are the
   handshake's). EOF or anything but one HELLO-sized HELLO record drops it. */
static void guest_fire(struct idc_watch *w, uint32_t events)
{
    struct shm_guest *g = w->arg;
    struct shm_service *svc = g->svc;
    if (g->have_hello) {
        /* A second record, or the peer gave up: either way it leaves the lobby. */
        if (events & EPOLLIN)
            guest_refuse(svc, g, IDC_ERR_PROTO, "data after HELLO before the handshake");
        else if (events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR))
            guest_drop(svc, g);
        return;
    }
    ssize_t n = shm_recv_rec(g->fd, &g->hello, sizeof(g->hello), NULL, NULL);
    if (n == IDC_ERR_AGAIN)
        return;
    if (n <= 0) {
        guest_drop(svc, g); /* closed before saying anything: nothing to refuse */
        return;
    }
    if ((size_t)n != sizeof(g->hello) || g->hello.magic != IDC_SHM_MAGIC ||
        g->hello.type != IDC_SHM_HELLO) {
        guest_refuse(svc, g, IDC_ERR_PROTO, "malformed HELLO");
        return;
    }
    g->have_hello = true;
    shm_service_offer(svc);
}

/* Takes one connection from the listen queue into the lobby (policy first). */
static bool accept_one(struct shm_service *svc)
{
    int fd = accept4(svc->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
            idc__log_limit(&svc->logs, svc->ctx))
            idc__log(svc->ctx, IDC_LOG_ERROR, "%s: accept: %s", svc->address, strerror(errno));
        return false;
    }
    struct shm_peer who;
    int r = shm_peer_of(svc->ctx, fd, &who);
    if (r < 0) {
        if (idc__log_limit(&svc->logs, svc->ctx))
            idc__log(svc->ctx, IDC_LOG_WARN,
                     "%s: peer pid %d uid %u refused by policy (same "
                     "uid or root)",
                     svc->address, (int)who.pid, who.uid);
        if (r == IDC_ERR_PERM)
            shm_send_refuse(fd, r, "peer not allowed by policy (same uid or root)");
        close(fd);
        return true;
    }
    struct shm_guest *g = NULL;
    if (count_pid(svc, who.pid) >= SHM_LOBBY_PER_PEER)
        g = oldest(svc, who.pid, false, false);
    else if (svc->n == SHM_LOBBY_MAX)
        g = oldest(svc, 0, true, false);
    if (g)
        guest_refuse(svc, g, IDC_ERR_BUSY, "too many connections waiting; evicted");
    for (unsigned i = 0; !g || g->fd >= 0; i++)
        g = &svc->g[i];
    *g = (struct shm_guest){ .fd = fd, .pid = who.pid, .since_ns = idc__now_ns(), .svc = svc };
    g->w = (struct idc_watch){
        .fd = fd, .events = EPOLLIN | EPOLLRDHUP, .fn = guest_fire, .arg = g
    };
    svc->n++;
    if (idc__watch_add(svc->ctx, &g->w) < 0) {
        close(fd);
        g->fd = -1;
        svc->n--;
        return true;
    }
    if (!svc->sweep.armed)
        idc__timer_arm(svc->ctx, &svc->sweep, SHM_HELLO_MS / 4);
    return true;
}

static void accept_fire(struct idc_watch *w, uint32_t events)
{
    (void)events;
    struct shm_service *svc = w->arg;
    /* Bounded per call: the listen socket stays readable if more wait (level-triggered). */
    for (unsigned i = 0; i < 2 * SHM_LOBBY_MAX && accept_one(svc); i++) {
    }
}

/* The best endpoint for the next HELLO: a free one (NOW), else LATER if one will be free once
   its driver acknowledges a disconnect, else BUSY. */
static enum shm_be_ready pick(struct shm_service *svc, struct idc_link **out)
{
    enum shm_be_ready best = SHM_BE_BUSY;
    for (unsigned i = 0; i < svc->neps; i++) {
        enum shm_be_ready r = idc__link_destroying(svc->eps[i]) ? SHM_BE_BUSY
                                                                : shm_be_ready(svc->eps[i]);
        if (r == SHM_BE_NOW) {
            *out = svc->eps[i];
            return r;
        }
        if (r == SHM_BE_LATER)
            best = r;
    }
    return best;
}

void shm_service_offer(struct shm_service *svc)
{
    for (;;) {
        struct shm_guest *g = oldest(svc, 0, true, true);
        if (!g)
            return;
        struct idc_link *ep = NULL;
        enum shm_be_ready ready = pick(svc, &ep);
        if (ready == SHM_BE_LATER)
            return;
        if (ready == SHM_BE_BUSY) {
            guest_refuse(svc, g, IDC_ERR_BUSY, "the service is in use by another frontend");
            continue;
        }
        if (reserved_against(svc, g->pid)) {
            guest_refuse(svc, g, IDC_ERR_BUSY,
                         "the service is reserved for the frontend that "
                         "had it before the back end restarted");
            continue;
        }
        /* Hand the connection over to the handshake; it owns the fd from here. */
        int fd = g->fd;
        pid_t pid = g->pid;
        struct idc_shm_hello hello = g->hello;
        idc__watch_del(svc->ctx, &g->w);
        g->fd = -1;
        g->have_hello = false;
        svc->n--;
        shm_be_hello(ep, fd, pid, &hello);
    }
}

/* ------------------------------------------------------------------------------ publication */

static struct shm_service **find(struct idc_context *ctx, const char *name)
{
    struct shm_service **pp = &shm_ctx(ctx)->services;
    while (*pp && strcmp((*pp)->name, name) != 0)
        pp = &(*pp)->next;
    return pp;
}

/* Binds a temporary name, listens, renames into place. */
static int publish(struct shm_service *svc, const struct sockaddr_un *sa)
{
    struct sockaddr_un tmp = { .sun_family = AF_UNIX };
    uint32_t rnd;
    idc__random(&rnd, sizeof(rnd));
    int r = snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s/.%.40s.%08x.tmp", shm_dir(svc->ctx),
                     svc->name, rnd);
    if (r < 0 || (size_t)r >= sizeof(tmp.sun_path))
        return IDC_ERR_INVAL;
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        idc__log(svc->ctx, IDC_LOG_ERROR, "%s: socket: %s", svc->address, strerror(errno));
        return IDC_ERR_IO;
    }
    struct stat st;
    if (bind(fd, (const struct sockaddr *)&tmp, sizeof(tmp)) < 0 || listen(fd, SHM_BACKLOG) < 0 ||
        rename(tmp.sun_path, sa->sun_path) < 0 || stat(sa->sun_path, &st) < 0) {
        idc__log(svc->ctx, IDC_LOG_ERROR, "%s: cannot publish %s: %s", svc->address, sa->sun_path,
                 strerror(errno));
        unlink(tmp.sun_path);
        close(fd);
        return IDC_ERR_IO;
    }
    svc->ino = st.st_ino;
    svc->lfd = fd;
    svc->lw = (struct idc_watch){ .fd = fd, .events = EPOLLIN, .fn = accept_fire, .arg = svc };
    if (idc__watch_add(svc->ctx, &svc->lw) < 0) {
        unlink(sa->sun_path);
        close(fd);
        svc->lfd = -1;
        return IDC_ERR_IO;
    }
    return 0;
}

/* True when another process (or another context) answers on the name. */
static bool served_elsewhere(struct idc_link *ep, const struct sockaddr_un *sa)
{
    int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (probe < 0)
        return false;
    int cr = connect(probe, (const struct sockaddr *)sa, sizeof(*sa));
    int ce = errno;
    close(probe);
    (void)ep;
    return cr == 0 || ce == EAGAIN;
}

int shm_service_join(struct idc_link *ep, struct shm_service **out)
{
    *out = NULL;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int r = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s.sock", shm_dir(ep->ctx), ep->name);
    if (r < 0 || (size_t)r >= sizeof(sa.sun_path))
        return IDC_ERR_INVAL;
    struct shm_service **pp = find(ep->ctx, ep->name), *svc = *pp;
    bool shared = ep->flags & IDC_EP_SHARED;
    if (svc) {
        if (!shared || !svc->shared)
            return IDC_ERR_BUSY; /* served by another endpoint of this context: wait */
        if (svc->neps == SHM_SERVICE_EPS) {
            idc__log(ep->ctx, IDC_LOG_ERROR, "%s: more than %u endpoints share the service",
                     ep->address, SHM_SERVICE_EPS);
            return IDC_ERR_INVAL;
        }
        svc->eps[svc->neps++] = ep;
        *out = svc;
        return 0;
    }
    if (served_elsewhere(ep, &sa))
        return IDC_ERR_BUSY;
    svc = calloc(1, sizeof(*svc));
    if (!svc)
        return IDC_ERR_NOMEM;
    svc->ctx = ep->ctx;
    svc->lfd = -1;
    svc->shared = shared;
    snprintf(svc->name, sizeof(svc->name), "%s", ep->name);
    snprintf(svc->address, sizeof(svc->address), "%s", ep->address);
    for (unsigned i = 0; i < SHM_LOBBY_MAX; i++)
        svc->g[i].fd = -1;
    svc->sweep = (struct idc_timer){ .fn = sweep_fire, .arg = svc };
    owner_reserve(svc);
    r = publish(svc, &sa);
    if (r < 0) {
        free(svc);
        return r;
    }
    svc->eps[svc->neps++] = ep;
    *pp = svc;
    *out = svc;
    return 0;
}

void shm_service_leave(struct idc_link *ep, struct shm_service *svc)
{
    for (unsigned i = 0; i < svc->neps; i++)
        if (svc->eps[i] == ep) {
            svc->eps[i] = svc->eps[--svc->neps];
            break;
        }
    if (svc->neps) {
        shm_service_offer(svc); /* a waiting HELLO may now be refused as busy */
        return;
    }
    for (unsigned i = 0; i < SHM_LOBBY_MAX; i++)
        if (svc->g[i].fd >= 0)
            guest_drop(svc, &svc->g[i]);
    idc__timer_cancel(svc->ctx, &svc->sweep);
    if (svc->lfd >= 0) {
        idc__watch_del(svc->ctx, &svc->lw);
        char path[PATH_MAX_SHM];
        struct stat st;
        /* Unlink only our own socket (a successor may have replaced it). */
        if (snprintf(path, sizeof(path), "%s/%s.sock", shm_dir(svc->ctx), svc->name) <
                (int)sizeof(path) &&
            stat(path, &st) == 0 && st.st_ino == svc->ino)
            unlink(path);
        close(svc->lfd);
    }
    struct shm_service **pp = find(svc->ctx, svc->name);
    if (*pp == svc)
        *pp = svc->next;
    free(svc);
}
