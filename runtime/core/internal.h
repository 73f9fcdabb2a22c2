/* internal.h - libidc core private: context, endpoint and buffer internals shared by the core
 * files (runtime/core/). Transports never include it: they see the core through transport.h.
 * One section per file. */
#ifndef IDC_INTERNAL_H
#define IDC_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "idc.h"
#include "ring.h"
#include "statsfile.h"
#include "transport.h"

/* ------------------------------------------------------------------------ buffer.c */

/* One registration slot. */
struct idc_reg {
    struct idc_alloc *alloc; /* NULL: free */
    size_t offset;           /* within alloc */
    uint64_t length;
    uint32_t rights;
    uint32_t generation; /* current: live registrations carry it */
    uint8_t key[16];
};

/* ------------------------------------------------------------------------ context.c */

#define IDC_MAX_TRANSPORTS 8

#ifdef __KERNEL__
/* The kernel runtime's context: a workqueue instead of epoll, with the members the shared
   files (endpoint.c) use under the same names. */
#include "kcontext.h"
#else
struct idc_context {
    int epfd;
    int kickfd; /* eventfd: deferred work pending */
    int timerfd;
    struct idc_watch kick_w, timer_w;
    uint64_t id;
    void (*log)(void *arg, int level, const char *msg);
    void *log_arg;
    bool debug;
    int in_dispatch; /* > 0 while running callbacks */
    bool stop;
    bool kicked;
    uint64_t fds_polled_ns; /* last epoll_wait (spinning polls the fds only this often) */
    bool spinning;          /* dispatch is in its spin phase (idc__ctx_spinning) */
    bool fd_exported;       /* idc_context_fd was called: keep the fd meaningful between
                                        dispatch calls (rings armed, kicks written) */
    bool unpublished;       /* dirty endpoints hold written, unpublished frames (mark_dirty) */
    struct idc_ep *eps;     /* all live endpoints */
    struct idc_ep *pending; /* endpoints with deferred work (singly linked) */
    struct idc_ep *dirty;   /* endpoints with unflushed tx */
    struct idc_timer *timers;
    struct idc_xfer *done_head, **done_tail; /* completed transfers awaiting their callback */
    /* buffers (buffer.c) */
    struct idc_alloc *allocs;
    struct idc_reg *regs; /* [IDC_MAX_REGS], lazily allocated */
    /* per-context transport state (idc__ctx_slot), one per built-in transport, in the order of
       idc__builtin_transports; owned by each transport (freed in its ctx_fini) */
    void *tp_state[IDC_MAX_TRANSPORTS];
    /* the stats file (stats.c), made at the first endpoint */
    struct idc_stats_slot *stats_slots; /* its slots; NULL: not exported */
    void *stats_map;
    char *stats_dir_opt;                       /* the option, copied (NULL: default) */
    char *stats_path;                          /* removed at destroy */
    uint64_t stats_used[IDC_STATS_SLOTS / 64]; /* slots in use */
    int stats_fd;
    int stats_pid;    /* the process that made the file (a forked child must not remove it) */
    bool stats_tried; /* made, failed or off: not again */
    bool stats_full_logged;
    struct idc_stats_counters stats_sink; /* counters of endpoints that got no memory */
};
#endif

void idc__kick(struct idc_context *ctx);

/* ------------------------------------------------------------------------ endpoint.c */

enum {
    IDC_PEND_START = 1u << 0,    /* run transport ep_start */
    IDC_PEND_DOWN = 1u << 1,     /* take the connection down */
    IDC_PEND_DDONE = 1u << 2,    /* disconnect acknowledged */
    IDC_PEND_DESTROY = 1u << 3,  /* destroy requested */
    IDC_PEND_RX = 1u << 4,       /* process the rx ring */
    IDC_PEND_WRITABLE = 1u << 5, /* report writable */
};

struct idc_request {
    struct idc_ep *ep;
    uint32_t serial; /* connection it came from */
    uint32_t txn;    /* peer's id, echoed back (never used as an index) */
    uint16_t opcode;
    bool busy;
    struct idc_request *next_free;
};

struct idc_out { /* outstanding client transaction slot */
    struct idc_txn *txn;
    uint32_t id;
};

/* Per-connection state, allocated on the first connect (sized by the endpoint's own limits,
   which bound the negotiated ones) and reused by later connections. */
struct idc_conn {
    uint32_t cap_tx, cap_frame; /* allocation sizes */
    uint32_t serial;            /* bumped per connection */
    struct idc_chan ch;
    struct idc_ring_tx tx;
    struct idc_ring_rx rx;
    struct idc_out *out; /* [cap_tx] */
    uint32_t out_count;
    uint32_t *out_free; /* stack of free slots */
    uint32_t out_nfree;
    uint32_t seq;
    struct idc_request *reqs; /* [cap_tx] */
    struct idc_request *req_free;
    uint32_t req_held;
    /* Responses pushed and not yet consumed by the peer count against its transaction credit
       (a response slot stays reserved until consumed): their end positions in the tx ring,
       oldest first, a FIFO of cap_tx entries. */
    uint32_t *resp_end;
    uint32_t resp_head, resp_count;
    unsigned char *rxbuf; /* private copy of one payload */
    bool up;              /* rings usable */
    bool want_writable;
    bool flushed_dirty;
};

struct idc_ep {
    struct idc_link link; /* what the transport sees: ctx, tp, proto, role, names,
                                        limits, its private state (first: links convert back) */
    uint32_t magic;
    enum idc_endpoint_state state;
    const struct idc_endpoint_ops *ops;
    void *user;
    uint32_t spin_us;
    void (*destroy_done)(struct idc_endpoint *);
    unsigned pend; /* IDC_PEND_* */
    bool on_pending, on_dirty;
    bool corked;   /* idc_endpoint_cork: sends outside dispatch defer notify */
    bool appeared; /* appear reported, disappear not yet */
    bool destroying;
    bool in_rx;
    bool tp_started;            /* ep_start ran: ep_stop must run */
    struct idc_ep *next, *prev; /* ctx->eps */
    struct idc_ep *pend_next;
    struct idc_ep *dirty_next;
    struct idc_conn *conn;
    char down_reason[192];
    int down_err; /* why the connection went down: 0 (local), IDC_ERR_* */
    int last_err; /* idc_endpoint_last_error: last refusal or disconnect (reason in down_reason) */
    uint32_t connect_timeout_ms; /* frontend's connect deadline; 0: none */
    struct idc_timer deadline;   /* armed while a frontend waits for its connection */
    /* The counters: in the endpoint's slot of the context's stats file, else on the heap, else
       (no memory) the context's sink. Never NULL while the endpoint lives: the hot path
       increments through it. */
    struct idc_stats_counters *ctr;
};
_Static_assert(sizeof(struct idc_ep) <= IDC_ENDPOINT_STORAGE, "endpoint storage too small");
#define IDC_EP_MAGIC 0x69646365u

static inline struct idc_ep *idc__ep(struct idc_endpoint *e)
{
    return (struct idc_ep *)(void *)e;
}
static inline struct idc_endpoint *idc__pub(struct idc_ep *ep)
{
    return (struct idc_endpoint *)(void *)ep;
}
static inline struct idc_ep *idc__ep_of(const struct idc_link *l)
{
    return (struct idc_ep *)(void *)l; /* link is the first member */
}

/* context.c -> endpoint.c */
void idc__ep_run_pending(struct idc_ep *ep);
/* The round's end: one notify decision per endpoint that sent in it (each publishes first). */
void idc__flush_dirty(struct idc_context *ctx);
bool idc__ep_spin_poll(struct idc_ep *ep);
bool idc__ep_arm(struct idc_ep *ep, bool spin); /* true: frames were handled */
bool idc__ep_arm_rx(struct idc_ep *ep);         /* idc_ring_rx_arm, saying where we sleep */
/* The transport acknowledges what notifications it left pending (transport.h, ep_ack). */
void idc__ep_ack(struct idc_ep *ep);
void idc__ep_forget(struct idc_ep *ep); /* context destroy: tear down without callbacks */
void idc__ep_mark_pending(struct idc_ep *ep, unsigned what);

/* buffer.c */
void idc__buffers_fini(struct idc_context *ctx);

/* ------------------------------------------------------------------------ stats.c */

/* The context option (copied) and the file's removal at destroy. */
int idc__stats_init(struct idc_context *ctx, const struct idc_context_options *opt);
void idc__stats_fini(struct idc_context *ctx);
/* A new endpoint: counters zeroed, a slot in the file if there is one (made at the first). */
void idc__stats_attach(struct idc_ep *ep);
/* The slot's description from the endpoint (after every lifecycle change). */
void idc__stats_sync(struct idc_ep *ep);
/* The endpoint goes away: its slot is free again. */
void idc__stats_detach(struct idc_ep *ep);

/* ------------------------------------------------------------------------ registry.c */

/* The transport for an address ("PREFIX:REST"); NULL with *err = IDC_ERR_NOTSUP (a known
   prefix not built in) or IDC_ERR_INVAL. *rest points after the colon. */
const struct idc_transport *idc__transport_for(const char *address, const char **rest, int *err);
/* Index of tp in idc__builtin_transports (its idc__ctx_slot), or -1. */
int idc__transport_index(const struct idc_transport *tp);

#endif /* IDC_INTERNAL_H */
