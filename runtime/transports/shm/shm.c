/* shm.c - the host shared-memory transport: "shm:NAME" (see channel.c for the model), its
 * per-context state, the socket and memfd helpers its halves share, and its ops table. */
#include <errno.h>
#include <stdarg.h>
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

void shm_close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Policy: same effective uid, or root. */
int shm_peer_of(struct idc_context *ctx, int fd, struct shm_peer *who)
{
    struct ucred cr;
    socklen_t len = sizeof(cr);
    *who = (struct shm_peer){ 0 };
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
        idc__log(ctx, IDC_LOG_ERROR, "SO_PEERCRED: %s", strerror(errno));
        return IDC_ERR_IO;
    }
    who->pid = cr.pid;
    who->uid = cr.uid;
    return cr.uid == geteuid() || cr.uid == 0 ? 0 : IDC_ERR_PERM;
}

/* Policy: same effective uid, or root. */
int shm_check_peer(struct idc_context *ctx, int fd, const char *what, struct shm_peer *who)
{
    struct shm_peer mine;
    if (!who)
        who = &mine;
    int r = shm_peer_of(ctx, fd, who);
    if (r == IDC_ERR_PERM)
        idc__log(ctx, IDC_LOG_ERROR, "%s: peer pid %d uid %u refused by policy (same uid or root)",
                 what, (int)who->pid, who->uid);
    return r;
}

void shm_send_refuse(int fd, int status, const char *fmt, ...)
{
    struct idc_shm_refuse rf = {
        .magic = IDC_SHM_MAGIC, .type = IDC_SHM_REFUSE, .wire = IDC_SHM_WIRE, .status = status
    };
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rf.reason, sizeof(rf.reason), fmt, ap);
    va_end(ap);
    shm_send_rec(fd, &rf, sizeof(rf), NULL, 0);
}

int shm_send_rec(int fd, const void *rec, size_t len, const int *fds, int nfds)
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

/* Receives one record into buf (size cap); returns its length, 0 on EOF, IDC_ERR_AGAIN when none is waiting,
   IDC_ERR_IO on error. Received fds go to fds[] (up to *nfds; extra ones are closed). */
ssize_t shm_recv_rec(int fd, void *buf, size_t cap, int *fds, int *nfds)
{
    struct iovec iov = { .iov_base = buf, .iov_len = cap };
    union {
        char buf[CMSG_SPACE(sizeof(int) * 8)];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)
    };
    int want = nfds ? *nfds : 0;
    if (nfds)
        *nfds = 0;
    ssize_t n;
    do
        n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? IDC_ERR_AGAIN : IDC_ERR_IO;
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
        return IDC_ERR_IO; /* oversized record or too many fds: hostile or confused */
    return n;
}

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010 /* Linux >= 5.1 */
#endif

/* final: also F_SEAL_SEAL (ring memory); buffers stay open to F_SEAL_FUTURE_WRITE later.
   A failure is logged with its reason (usually the process's descriptor or memory limit). */
int shm_memfd_seal(struct idc_context *ctx, const char *name, size_t len, int *out, bool final)
{
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0 || ftruncate(fd, (off_t)len) < 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | (final ? F_SEAL_SEAL : 0)) < 0) {
        idc__log(ctx, IDC_LOG_ERROR, "memfd %s (%zu bytes): %s", name, len, strerror(errno));
        if (fd >= 0)
            close(fd);
        return IDC_ERR_IO;
    }
    *out = fd;
    return 0;
}

int shm_memfd(struct idc_context *ctx, const char *name, size_t len, int *out)
{
    return shm_memfd_seal(ctx, name, len, out, true);
}

bool shm_is_eventfd(int fd)
{
    char p[64], target[64];
    snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(p, target, sizeof(target) - 1);
    if (n < 0)
        return false;
    target[n] = 0;
    return strcmp(target, "anon_inode:[eventfd]") == 0;
}

/* A memfd from a peer: must carry our seals and be at least len bytes. */
bool shm_memfd_ok(int fd, size_t len)
{
    int seals = fcntl(fd, F_GET_SEALS);
    struct stat st;
    if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW))
        return false;
    return fstat(fd, &st) == 0 && (uint64_t)st.st_size >= len;
}

static char *default_dir(void)
{
    const char *env = getenv("IDC_SHM_DIR");
    char buf[PATH_MAX];
    if (env && *env)
        return strdup(env);
    idc__runtime_dir(buf, sizeof(buf));
    return strdup(buf);
}

/* Every context gets its socket directory now, so a bad one fails idc_context_create. */
static int shm_ctx_init(struct idc_context *ctx, const struct idc_context_options *opt)
{
    struct shm_ctx *sc = calloc(1, sizeof(*sc));
    if (!sc)
        return IDC_ERR_NOMEM;
    sc->ifd = sc->bfd = sc->gen_fd = -1;
    sc->links_max = idc__buf_limits(SHM_LINKS_DEFAULT);
    sc->iwd = -1;
    *idc__ctx_slot(ctx, &idc_transport_shm) = sc;
    sc->dir = opt && opt->shm_dir ? strdup(opt->shm_dir) : default_dir();
    if (!sc->dir)
        return IDC_ERR_NOMEM;
    if (strlen(sc->dir) > 60 || !sc->dir[0]) {
        /* sun_path holds 108 bytes: directory + "/" + 64-byte name + ".sock" must fit */
        idc__log(ctx, IDC_LOG_ERROR, "shm directory name too long (max 60 bytes): %s", sc->dir);
        return IDC_ERR_INVAL;
    }
    if (mkdir(sc->dir, 0700) < 0 && errno != EEXIST) {
        idc__log(ctx, IDC_LOG_ERROR, "cannot create shm directory %s: %s", sc->dir,
                 strerror(errno));
        return IDC_ERR_IO;
    }
    return 0;
}

static void shm_ctx_fini(struct idc_context *ctx)
{
    struct shm_ctx *sc = shm_ctx(ctx);
    if (!sc)
        return;
    shm_buffers_fini(ctx);
    shm_close_fd(&sc->ifd);
    free(sc->dir);
    free(sc);
    *idc__ctx_slot(ctx, &idc_transport_shm) = NULL;
}

const struct idc_transport idc_transport_shm = {
    .name = "shm",
    .shares_cpus = true,
    .address_check = shm_address_check,
    .ctx_init = shm_ctx_init,
    .ep_start = shm_ep_start,
    .chan_close = shm_chan_close,
    .ep_rearm = shm_ep_rearm,
    .ep_stop = shm_ep_stop,
    .notify = shm_notify,
    .buf_alloc = shm_buf_alloc,
    .buf_free = shm_buf_free,
    .rbuf_publish = shm_rbuf_publish,
    .buf_seal_ro = shm_buf_seal_ro,
    .rbuf_reaches = shm_rbuf_reaches,
    .rbuf_transfer = shm_rbuf_transfer,
    .rbuf_revoke = shm_rbuf_revoke,
    .ctx_fini = shm_ctx_fini,
};
