/* internal.h - libidc private: context, endpoint and buffer internals shared by the core files
 * and the transports. One section per file. */
#ifndef IDC_INTERNAL_H
#define IDC_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "idc.h"
#include "ring.h"
#include "transport.h"

#define IDC_NAME_MAX 64            /* service name bytes ([A-Za-z0-9._-]) */

/* ------------------------------------------------------------------------ context.c */

/* An fd in the context's epoll set. fn runs inside dispatch. */
struct idc_watch {
    int fd;
    uint32_t events;
    void (*fn)(struct idc_watch *w, uint32_t events);
    void *arg;
};

struct idc_timer {
    uint64_t due_ns;                 /* 0: not armed */
    void (*fn)(struct idc_timer *t);
    void *arg;
    struct idc_timer *next;          /* armed list */
    bool armed;
};

/* A remote-buffer transfer in flight (buffer.c and transports). */
struct idc_xfer {
    struct idc_xfer *next;
    struct idc_rbuf rb;
    uint64_t offset;
    void *local;                     /* receive: destination; send: source (const) */
    size_t len;
    bool write;                      /* true: send_to_remote_buffer */
    int status;
    idc_transfer_done_fn done;
    void *arg;
    /* transport progress (xenbuf.c: chunks through the bounce window) */
    size_t tp_issued;                /* bytes handed to requests so far */
    uint32_t tp_inflight;            /* requests not answered yet */
    bool tp_queued;                  /* still has chunks to issue */
};

/* An idc_buffer_alloc allocation. */
struct idc_alloc {
    struct idc_alloc *next;
    void *mem;
    size_t len;                      /* mapped bytes (page multiple) */
    int fd;                          /* shm: memfd */
    uint32_t mode;                   /* 0 until first registered, then IDC_RBUF_WRITE-capable
                                        (RW) or read-only (sealed); fixed from then on */
};

/* One registration slot. */
struct idc_reg {
    struct idc_alloc *alloc;         /* NULL: free */
    size_t offset;                   /* within alloc */
    uint64_t length;
    uint32_t rights;
    uint32_t generation;             /* current: live registrations carry it */
    uint8_t key[16];
};
#define IDC_MAX_REGS 4096u

struct idc_context {
    int epfd;
    int kickfd;                      /* eventfd: deferred work pending */
    int timerfd;
    struct idc_watch kick_w, timer_w;
    uint64_t id;
    char *shm_dir;
    void (*log)(void *arg, int level, const char *msg);
    void *log_arg;
    bool debug;
    int in_dispatch;                 /* > 0 while running callbacks */
    bool stop;
    bool kicked;
    uint64_t fds_polled_ns;          /* last epoll_wait (spinning polls the fds only this often) */
    bool fd_exported;                /* idc_context_fd was called: keep the fd meaningful between
                                        dispatch calls (rings armed, kicks written) */
    struct idc_ep *eps;              /* all live endpoints */
    struct idc_ep *pending;          /* endpoints with deferred work (singly linked) */
    struct idc_ep *dirty;            /* endpoints with unflushed tx */
    struct idc_timer *timers;
    struct idc_xfer *done_head, **done_tail;  /* completed transfers awaiting their callback */
    /* buffers (buffer.c) */
    struct idc_alloc *allocs;
    struct idc_reg *regs;            /* [IDC_MAX_REGS], lazily allocated */
    uint32_t *gen_table;             /* shared generation table (transport-provided memory) */
    void *tp_buf;                    /* transport's buffer-service state */
    /* per-context transport state, owned by each transport (freed in its ctx_fini) */
    void *shm;
    void *xen;
    unsigned xen_dom1;               /* our Xen domain id + 1; 0 when not on Xen */
    void *xbuf;                      /* xenbuf.c: remote buffers across domains */
};

void idc__log(struct idc_context *ctx, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void idc__vlog(struct idc_context *ctx, int level, const char *fmt, va_list ap);
int  idc__watch_add(struct idc_context *ctx, struct idc_watch *w);
int  idc__watch_mod(struct idc_context *ctx, struct idc_watch *w, uint32_t events);
void idc__watch_del(struct idc_context *ctx, struct idc_watch *w);
void idc__timer_arm(struct idc_context *ctx, struct idc_timer *t, uint64_t delay_ms);
void idc__timer_cancel(struct idc_context *ctx, struct idc_timer *t);
void idc__kick(struct idc_context *ctx);
uint64_t idc__now_ns(void);
int  idc__random(void *buf, size_t len);
void idc__xfer_complete(struct idc_context *ctx, struct idc_xfer *x, int status);
bool idc__valid_name(const char *name);

/* ------------------------------------------------------------------------ endpoint.c */

enum {
    IDC_PEND_START   = 1u << 0,      /* run transport ep_start */
    IDC_PEND_DOWN    = 1u << 1,      /* take the connection down */
    IDC_PEND_DDONE   = 1u << 2,      /* disconnect acknowledged */
    IDC_PEND_DESTROY = 1u << 3,      /* destroy requested */
    IDC_PEND_RX      = 1u << 4,      /* process the rx ring */
    IDC_PEND_WRITABLE = 1u << 5,     /* report writable */
};

struct idc_request {
    struct idc_ep *ep;
    uint32_t serial;                 /* connection it came from */
    uint32_t txn;                    /* peer's id, echoed back (never used as an index) */
    uint16_t opcode;
    bool busy;
    struct idc_request *next_free;
};

struct idc_out {                     /* outstanding client transaction slot */
    struct idc_txn *txn;
    uint32_t id;
};

/* Per-connection state, allocated on the first connect (sized by the endpoint's own limits,
   which bound the negotiated ones) and reused by later connections. */
struct idc_conn {
    uint32_t cap_tx, cap_frame;      /* allocation sizes */
    uint32_t serial;                 /* bumped per connection */
    struct idc_chan ch;
    struct idc_ring_tx tx;
    struct idc_ring_rx rx;
    struct idc_out *out;             /* [cap_tx] */
    uint32_t out_count;
    uint32_t *out_free;              /* stack of free slots */
    uint32_t out_nfree;
    uint32_t seq;
    struct idc_request *reqs;        /* [cap_tx] */
    struct idc_request *req_free;
    uint32_t req_held;
    unsigned char *rxbuf;            /* private copy of one payload */
    bool up;                         /* rings usable */
    bool want_writable;
    bool flushed_dirty;
};

struct idc_ep {
    uint32_t magic;
    enum idc_endpoint_state state;
    struct idc_context *ctx;
    const struct idc_protocol *proto;
    const struct idc_endpoint_ops *ops;
    void *user;
    const struct idc_transport *tp;
    enum idc_role role;
    char name[IDC_NAME_MAX + 1];
    char address[IDC_NAME_MAX + 16];
    uint32_t max_frame, max_tx, max_msg, spin_us;
    void (*destroy_done)(struct idc_endpoint *);
    unsigned pend;                   /* IDC_PEND_* */
    bool on_pending, on_dirty;
    bool corked;                     /* idc_endpoint_cork: sends outside dispatch defer notify */
    bool appeared;                   /* appear reported, disappear not yet */
    bool destroying;
    bool in_rx;
    bool tp_started;                 /* ep_start ran: ep_stop must run */
    struct idc_ep *next, *prev;      /* ctx->eps */
    struct idc_ep *pend_next;
    struct idc_ep *dirty_next;
    struct idc_conn *conn;
    char down_reason[192];
    _Alignas(8) unsigned char tp_priv[448];   /* transport-private per-endpoint state: each
                                                 transport overlays its own struct and
                                                 static-asserts that it fits */
};
_Static_assert(sizeof(struct idc_ep) <= IDC_ENDPOINT_STORAGE, "endpoint storage too small");
#define IDC_EP_MAGIC 0x69646365u

static inline struct idc_ep *idc__ep(struct idc_endpoint *e) { return (struct idc_ep *)(void *)e; }
static inline struct idc_endpoint *idc__pub(struct idc_ep *ep) { return (struct idc_endpoint *)(void *)ep; }

/* transport -> core */
void idc__ep_appear(struct idc_ep *ep);
void idc__ep_disappear(struct idc_ep *ep);
int  idc__ep_channel_up(struct idc_ep *ep, const struct idc_chan *ch);
void idc__ep_channel_down(struct idc_ep *ep, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void idc__ep_kick(struct idc_ep *ep);
/* Version negotiation: highest v in both ranges with equal hashes; 0 = none. */
uint32_t idc__negotiate(const struct idc_protocol *p, uint32_t peer_min, uint32_t peer_max,
                        const uint64_t *peer_hash, uint32_t peer_nhash);

/* context.c -> endpoint.c */
void idc__ep_run_pending(struct idc_ep *ep);
void idc__ep_flush(struct idc_ep *ep);
bool idc__ep_spin_poll(struct idc_ep *ep);
bool idc__ep_arm(struct idc_ep *ep, bool spin);   /* true: frames were handled */
void idc__ep_forget(struct idc_ep *ep);   /* context destroy: tear down without callbacks */
void idc__ep_mark_pending(struct idc_ep *ep, unsigned what);

/* buffer.c */
void idc__buffers_fini(struct idc_context *ctx);
int  idc__reg_check(struct idc_context *ctx, const struct idc_rbuf *rb, uint32_t need,
                    uint64_t offset, size_t len, unsigned char **addr);

/* Owner ids: bits 63..48 hold the owner's Xen domain id + 1 (0: not on Xen), bits 47..0 are
   random, never all zero. */
#define IDC_OWNER_DOM_SHIFT 48
#define IDC_OWNER_RAND_MASK ((UINT64_C(1) << IDC_OWNER_DOM_SHIFT) - 1)

/* xenbuf.c: remote buffers across Xen domains (grant copy through the user's bounce pages) */
unsigned idc__xen_domid1(void);   /* our domain id + 1, 0 when not on Xen (cached) */
int  idc__xbuf_publish(struct idc_context *ctx);
int  idc__xbuf_transfer(struct idc_context *ctx, struct idc_xfer *x);
void idc__xbuf_fini(struct idc_context *ctx);

#endif /* IDC_INTERNAL_H */
