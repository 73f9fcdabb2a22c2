/* shm.h - the shm transport's private header: what its files share.
 *
 *   shm.c       per-context state, socket records with descriptors, memfds, the ops table
 *   channel.c   endpoints: discovery (inotify on the socket directory), handshake, rings
 *   buffers.c   remote buffers: memfd memory, the owner's buffer service, the user's links
 *
 * proto.h holds the wire formats (handshake and buffer-service records).
 */
#ifndef IDC_SHM_H
#define IDC_SHM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "transport.h"

extern const struct idc_transport idc_transport_shm;

/* Per-context transport state. */
struct shm_ctx {
    char *dir; /* the socket directory (context option or default) */
    int ifd;   /* inotify */
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
    struct shm_service *services;    /* backends' published services (service.c) */
    unsigned nlinks;                 /* user links open (cap: links_max.user) */
    unsigned nbconns;                /* users served by our buffer service (links_max.owner) */
    struct idc_buf_limits links_max; /* transport.h's rule, SHM_LINKS_DEFAULT user links */
    struct idc_log_limit buf_logs;   /* what owners' answers make us log */
};

/* Created by shm_ctx_init with every context. */
static inline struct shm_ctx *shm_ctx(struct idc_context *ctx)
{
    return *idc__ctx_slot(ctx, &idc_transport_shm);
}

static inline const char *shm_dir(struct idc_context *ctx)
{
    return shm_ctx(ctx)->dir;
}

/* shm.c */
void shm_close_fd(int *fd);
struct shm_peer {
    pid_t pid;
    unsigned uid;
};
/* shm_peer_of, plus the refusal logged (what: who is asking); who (optional) gets the peer. */
int shm_check_peer(struct idc_context *ctx, int fd, const char *what, struct shm_peer *who);
/* The peer's credentials (SO_PEERCRED) and the policy verdict: 0, IDC_ERR_PERM (another uid,
   not root) or IDC_ERR_IO; logs only a failed system call. */
int shm_peer_of(struct idc_context *ctx, int fd, struct shm_peer *who);
/* Sends a REFUSE record (status, printf-style reason) on fd; errors ignored (the peer may be
   gone already). */
void shm_send_refuse(int fd, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int shm_send_rec(int fd, const void *rec, size_t len, const int *fds, int nfds);
ssize_t shm_recv_rec(int fd, void *buf, size_t cap, int *fds, int *nfds);
int shm_memfd_seal(struct idc_context *ctx, const char *name, size_t len, int *out, bool final);
int shm_memfd(struct idc_context *ctx, const char *name, size_t len, int *out);
bool shm_memfd_ok(int fd, size_t len);

/* Buffer users (buffers.c): links to other owners' buffer services open at once; the least
   recently used idle one is closed for a new owner; a link that never carried a genuine
   reference is closed when its owner answers IDC_ERR_BADREF. */
#define SHM_LINKS_DEFAULT 16u

/* Backend limits (service.c). */
#define SHM_BACKLOG        64u   /* listen backlog */
#define SHM_LOBBY_MAX      8u    /* connections waiting for their HELLO */
#define SHM_LOBBY_PER_PEER 2u    /* of them from one peer process */
#define SHM_HELLO_MS       1000u /* a connection must send its HELLO by then */
#define SHM_SERVICE_EPS    64u   /* backend endpoints sharing one service (IDC_EP_SHARED) */
#define PATH_MAX_SHM       128u  /* socket paths (sun_path holds 108 bytes) */

struct shm_service;
struct idc_shm_hello;

/* channel.c: what the service needs of a backend endpoint */
enum shm_be_ready {
    SHM_BE_NOW,   /* PRESENT, no handshake: may start one */
    SHM_BE_LATER, /* between connections: keep waiting */
    SHM_BE_BUSY,  /* connected or handshaking with another frontend */
};
enum shm_be_ready shm_be_ready(struct idc_link *ep);
void shm_be_hello(struct idc_link *ep, int fd, pid_t pid, const struct idc_shm_hello *hello);

/* service.c */
/* Publishes the endpoint's service, or joins it (IDC_EP_SHARED). IDC_ERR_BUSY: the name is
   served by someone else (retry later); other IDC_ERR_* are failures. */
int shm_service_join(struct idc_link *ep, struct shm_service **out);
void shm_service_leave(struct idc_link *ep, struct shm_service *svc);
/* A HELLO may be served or must be refused now (an endpoint became free or busy). */
void shm_service_offer(struct shm_service *svc);
void shm_service_connected(struct shm_service *svc, pid_t pid);
void shm_service_owner_left(struct shm_service *svc);

/* True when fd is an eventfd (a peer could send a pipe or anything else in its place). */
bool shm_is_eventfd(int fd);

/* channel.c */
int shm_address_check(const char *rest, enum idc_role role, char *why, size_t why_len);
int shm_ep_start(struct idc_link *ep);
void shm_chan_close(struct idc_link *ep);
void shm_ep_rearm(struct idc_link *ep);
void shm_ep_stop(struct idc_link *ep);
void shm_notify(struct idc_link *ep);

/* buffers.c */
int shm_buf_alloc(struct idc_context *ctx, struct idc_alloc *a);
void shm_buf_free(struct idc_context *ctx, struct idc_alloc *a);
int shm_buf_seal_ro(struct idc_context *ctx, struct idc_alloc *a);
int shm_rbuf_publish(struct idc_context *ctx);
void shm_rbuf_revoke(struct idc_context *ctx, uint32_t id, uint32_t generation);
bool shm_rbuf_reaches(struct idc_context *ctx, uint64_t owner);
int shm_rbuf_transfer(struct idc_context *ctx, struct idc_xfer *x);
void shm_buffers_fini(struct idc_context *ctx);

#endif /* IDC_SHM_H */
