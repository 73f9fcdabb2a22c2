/* transport.h - libidc private: the contract between the core and every transport.
 *
 * The core (runtime/core/) knows endpoints, frames, credits, epochs, buffers and the lifecycle;
 * a transport (runtime/transports/NAME/) knows how to find a peer, how to share ring pages with
 * it, how to wake it, and how to reach memory another context registered. The core names no
 * transport: it finds them by address prefix in the built-in list (runtime/transports/builtin.c)
 * and calls them only through struct idc_transport. A transport sees the core only through this
 * header: the link (its view of one endpoint), the context services (fds, timers, logging) and
 * the functions below. It never includes the core's private header. docs/transport.md is the
 * guide for writing a new transport.
 *
 * Calling conventions
 *   - Every op runs on the context's thread, inside dispatch or inside the public call that
 *     caused it; ops never call endpoint callbacks directly: they report through the idc__link_*
 *     functions, which the core turns into callbacks.
 *   - Ops may add fds to the context's epoll (idc__watch_add) and arm timers.
 *   - Errors are IDC_ERR_* values. A transport turns errno into a logged reason at the system
 *     call and returns the IDC_ERR_* that fits (usually IDC_ERR_IO); it never returns -errno.
 *
 * Channel flow (core -> transport -> core):
 *   ep_start        discovery (frontend: watch the address) or publication (backend). The
 *                   transport reports idc__link_appear / idc__link_disappear as the service
 *                   comes and goes, runs the handshake (idc__offer_* pick the version and the
 *                   limits), maps the two rings and calls idc__link_up.
 *                   A channel failure (peer died, socket HUP) -> idc__link_down.
 *                   An incoming notification -> idc__link_kick.
 *   chan_close      the core took the connection down: release ring pages and notification
 *                   objects, make the peer notice (close the socket / switch xenbus state).
 *   ep_rearm        the driver acknowledged the disconnect: allow the next connection.
 *   notify          wake the peer (eventfd write / event channel notify). Hot path.
 *   ep_ack          (optional) dispatch is entered again or is about to wait (or to return, for
 *                   a context whose fd the caller polls): acknowledge notifications.
 *   ep_stop         stop discovery/publication; release everything (destroy, context destroy).
 *
 * Remote-buffer service (every op optional):
 *   buf_alloc/buf_free/buf_seal_ro  memory that can be exposed to peers; only the transport
 *                   the built-in list names as the buffer memory provider is asked.
 *   rbuf_publish    make this context's registrations reachable through this transport (called
 *                   at each registration; idempotent). IDC_ERR_NOTSUP: not here (not logged).
 *   rbuf_reaches    true when this transport can reach the owner named by an owner id.
 *   rbuf_transfer   start a transfer against another context's registration; complete it with
 *                   idc__xfer_complete (never inside rbuf_transfer's caller's stack frame).
 *   rbuf_revoke     registration `id` now has `generation` (revoked or re-registered): tell
 *                   holders that cache anything (shm: the shared generation table).
 *   rbuf_withdraw   the context goes away: stop serving its registrations, fail its transfers.
 *
 * Context: ctx_init runs at idc_context_create for every built-in transport with the caller's
 * options (NULL: defaults); it must be cheap (no fds unless the options ask for it) and its
 * failure fails the create. ctx_fini at idc_context_destroy, after every endpoint was
 * stopped and every registration revoked. Per-context state hangs off idc__ctx_slot().
 */
#ifndef IDC_TRANSPORT_H
#define IDC_TRANSPORT_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "idc.h"
#include "ring.h" /* the shared ring layout: transports size and map the ring pages */

#define IDC_NAME_MAX 64 /* service name bytes ([A-Za-z0-9._-]) */

struct idc_context;
struct idc_transport;

/* ------------------------------------------------------------------ context services */

/* An fd in the context's epoll set. fn runs inside dispatch. */
struct idc_watch {
    int fd;
    uint32_t events;
    void (*fn)(struct idc_watch *w, uint32_t events);
    void *arg;
};

struct idc_timer {
    uint64_t due_ns; /* 0: not armed */
    void (*fn)(struct idc_timer *t);
    void *arg;
    struct idc_timer *next; /* armed list */
    bool armed;
};

void idc__log(struct idc_context *ctx, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void idc__vlog(struct idc_context *ctx, int level, const char *fmt, va_list ap);
int idc__watch_add(struct idc_context *ctx, struct idc_watch *w);
int idc__watch_mod(struct idc_context *ctx, struct idc_watch *w, uint32_t events);
void idc__watch_del(struct idc_context *ctx, struct idc_watch *w);
void idc__timer_arm(struct idc_context *ctx, struct idc_timer *t, uint64_t delay_ms);
void idc__timer_cancel(struct idc_context *ctx, struct idc_timer *t);
uint64_t idc__now_ns(void);
/* The CPU this thread runs on, plus one (0: unknown). A hint: the thread may move at once. */
uint32_t idc__cpu(void);
/* True while dispatch spins (an endpoint's spin_us): it polls the rings, the transports'
   spin_poll and, now and then, the fds without sleeping, and looks at the fds again before it
   sleeps. A watch called then may leave its fd readable instead of paying to re-arm it (the
   wait after the spin finds it readable and calls the watch again, not spinning then). */
bool idc__ctx_spinning(const struct idc_context *ctx);
int idc__random(void *buf, size_t len);
bool idc__valid_name(const char *name);
/* The per-user runtime directory every default location lives under ($XDG_RUNTIME_DIR/idc, else
   /tmp/idc-<uid>): shm's socket directory, the stats files. Returns snprintf's count. */
int idc__runtime_dir(char *buf, size_t len);

/* The transport's per-context state (NULL until it stores one; freed by its ctx_fini). */
void **idc__ctx_slot(struct idc_context *ctx, const struct idc_transport *tp);

/* Owner ids (idc_context_id): bits 63..48 are a locator a transport may set at ctx_init (Xen:
   the domain id + 1; fabric: bit 15 and a hash of the node identity; 0: not set), bits 47..0 are
   random, never all zero. idc__ctx_set_locator keeps a fabric locator over a Xen one and never
   clears one (the rule is described there). */
#define IDC_OWNER_LOC_SHIFT  48
#define IDC_OWNER_RAND_MASK  ((UINT64_C(1) << IDC_OWNER_LOC_SHIFT) - 1)
#define IDC_OWNER_LOC_FABRIC 0x8000u
void idc__ctx_set_locator(struct idc_context *ctx, uint16_t locator);

/* ------------------------------------------------------------------------ channels */

/* Parameters of a channel that is up (both rings mapped, epoch and version agreed). */
struct idc_chan {
    void *tx_mem;     /* our producer ring (control block + data) */
    void *rx_mem;     /* our consumer ring */
    uint32_t tx_size; /* data bytes */
    uint32_t rx_size;
    uint32_t epoch;
    uint32_t version;
    uint32_t max_frame; /* negotiated: min of both sides */
    uint32_t tx_limit;  /* transactions outstanding per direction (negotiated) */
    uint32_t msg_limit; /* messages queued per direction (negotiated) */
};

/* The transport's view of one endpoint. The core fills the fields before ep_start and never
   changes them afterwards; the transport reads them and owns priv. */
struct idc_link {
    struct idc_context *ctx;
    const struct idc_transport *tp;
    const struct idc_protocol *proto;
    enum idc_role role;
    char name[IDC_NAME_MAX + 1];         /* the address after "PREFIX:" */
    char address[IDC_NAME_MAX + 16];     /* the whole address, for log lines */
    uint32_t max_frame, max_tx, max_msg; /* this side's offer (bounds the negotiation) */
    uint32_t flags;                      /* IDC_EP_* from the configuration */
    _Alignas(8) unsigned char priv[448]; /* transport-private: each transport overlays its
                                              own struct and static-asserts that it fits */
};
#define IDC_LINK_PRIV(type, l) ((type *)(void *)(l)->priv)

/* transport -> core: lifecycle reports */
void idc__link_appear(struct idc_link *l);
void idc__link_disappear(struct idc_link *l);
int idc__link_up(struct idc_link *l, const struct idc_chan *ch);
void idc__link_down(struct idc_link *l, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void idc__link_kick(struct idc_link *l);          /* frames or credit may have arrived */
void idc__link_fail(struct idc_link *l, int err); /* can never work: endpoint DEAD */
/* The peer refused us (status IDC_ERR_*, its reason): kept for idc_endpoint_last_error. */
void idc__link_refused(struct idc_link *l, int status, const char *reason);
/* Who the peer of the connection about to come up is, for idcctl (printf-style, short, no
   spaces: shm "pid=P,uid=U", xen "domid=D"); call it before idc__link_up. Optional. */
void idc__link_peer(struct idc_link *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* transport -> core: read-only questions */
enum idc_endpoint_state idc__link_state(const struct idc_link *l);
bool idc__link_destroying(const struct idc_link *l);
/* A value that changes whenever the connection moved anything (frames, credits) in either
   direction: a notification after which it is unchanged was useless (storm accounting). */
uint64_t idc__link_progress(const struct idc_link *l);
/* The started links of one transport in a context (for events that name no link). */
struct idc_link *idc__link_first(struct idc_context *ctx, const struct idc_transport *tp);
struct idc_link *idc__link_next(struct idc_link *l);

/* Handshake offers every transport checks the same way. Version negotiation: the highest
   version in both ranges with equal per-version hashes; 0 = none in common. */
uint32_t idc__offer_version(const struct idc_protocol *p, uint32_t peer_min, uint32_t peer_max,
                            const uint64_t *peer_hash, uint32_t peer_nhash);

/* ------------------------------------------------------------- per-peer limits (limits.c) */

/* Notification storms: call idc__storm_note after handling each notification of a connected
   link (after idc__link_kick); OK: listen on; PAUSE: stop listening for IDC_STORM_PAUSE_MS, then
   kick once; CUT: idc__link_down with the reason written to why. Reset at each connection. */
#define IDC_STORM_PAUSE_AFTER 250u  /* useless notifications in a second before pausing */
#define IDC_STORM_KEEP        10u   /* per second, to stay in storm mode */
#define IDC_STORM_USELESS     1000u /* in one second: cut at once */
#define IDC_STORM_WINDOWS     3u    /* seconds of storm mode before the cut */
#define IDC_STORM_PAUSE_MS    20u
struct idc_storm {
    uint64_t win_start;
    uint32_t win_useless, windows, total;
    uint64_t last_progress;
};
enum idc_storm_verdict { IDC_STORM_OK, IDC_STORM_PAUSE, IDC_STORM_CUT };
enum idc_storm_verdict idc__storm_slow(struct idc_storm *st, uint64_t progress, char *why,
                                       size_t why_len);
/* Hot path inline: a notification that moved something, outside storm mode, costs a comparison
   (no clock read, no call but the progress read). */
static inline enum idc_storm_verdict idc__storm_note(struct idc_storm *st, const struct idc_link *l,
                                                     char *why, size_t why_len)
{
    uint64_t progress = idc__link_progress(l);
    if (progress != st->last_progress && !st->windows) {
        st->last_progress = progress;
        return IDC_STORM_OK;
    }
    return idc__storm_slow(st, progress, why, why_len);
}
void idc__storm_reset(struct idc_storm *st, const struct idc_link *l);

/* ----------------------------------------------------- optional libraries (libload.c) */

/* A library function a transport calls through a pointer: the library (an index into the set's
   sonames) and where the pointer goes. */
#define IDC_LIBSET_MAX 4u
struct idc_lib_fn {
    unsigned lib;
    const char *name;
    void **slot;
};
/* A transport's libraries, loaded at first use (static storage; lock PTHREAD_MUTEX_INITIALIZER).
   hint ends the reason when a library is missing, e.g. "install the Xen run-time libraries". */
struct idc_libset {
    pthread_mutex_t lock;
    bool tried;
    unsigned nlibs, nfns;
    const char *const *sonames;
    const struct idc_lib_fn *fns;
    const char *hint;
    char why[256]; /* empty once loaded; the reason otherwise */
};
/* Loads the set once per process (thread-safe) and fills every slot: NULL when all are there,
   else why not (the same reason on every later call). */
const char *idc__libs_load(struct idc_libset *s);

/* An environment knob: its decimal value when it is all digits within min..max, else def. */
unsigned idc__env_uint(const char *name, unsigned min, unsigned max, unsigned def);

/* Remote-buffer links, the same rule on every transport. User side: a context keeps at most
   `user` links to other contexts' buffer services (knob IDC_BUF_USER_LINKS, default per
   transport by what a link costs: shm 16, xen 3 as each holds 257 granted pages); at the cap the
   least recently used idle link is closed, and when every link has transfers waiting the new
   transfer fails with IDC_ERR_AGAIN (logged, rate-limited). A link whose owner answered only
   bad references is closed. Owner side: at most `owner` links served at once (knob
   IDC_BUF_OWNER_LINKS, default 256), at most `per_peer` of them from one peer (a process on
   shm, a domain on xen; knob IDC_BUF_OWNER_PER_PEER, default 64); beyond, refused with a
   rate-limited log line. Knobs are read once per context: 1..4096, anything else the default. */
#define IDC_BUF_OWNER_LINKS    256u
#define IDC_BUF_OWNER_PER_PEER 64u
struct idc_buf_limits {
    unsigned user, owner, per_peer;
};
struct idc_buf_limits idc__buf_limits(unsigned user_default);

/* One owner per service: after a backend restart, the frontend that had the exclusive service
   when the previous instance went away gets it back first. Transports remember that frontend
   somewhere that outlives the backend's process and, when it is still alive, refuse others as
   busy for this long after publishing (shm: an owner file; xen: a xenstore node). */
#define IDC_OWNER_RESERVE_MS 5000u

/* Error logs a peer can trigger (garbage handshakes, bad requests): true when this line may be
   logged; at most IDC_LOG_BURST per IDC_LOG_WINDOW_MS, then a count of what was suppressed. */
#define IDC_LOG_BURST     10u
#define IDC_LOG_WINDOW_MS 1000u
struct idc_log_limit {
    uint64_t win_start;
    uint32_t lines, suppressed;
};
bool idc__log_limit(struct idc_log_limit *ll, struct idc_context *ctx);

/* A peer's offered (or negotiated) limits: max_frame within IDC_MIN_FRAME..IDC_MAX_FRAME_LIMIT,
   credits within 1..IDC_MAX_CREDITS. 0, or IDC_ERR_PROTO with the reason in why. */
int idc__offer_limits(uint32_t max_frame, uint32_t max_tx, uint32_t max_msg, char *why,
                      size_t why_len);

/* ------------------------------------------------------------------ remote buffers */

/* An idc_buffer_alloc allocation (memory provider's state in fd). */
struct idc_alloc {
    struct idc_alloc *next;
    void *mem;
    size_t len;    /* mapped bytes (page multiple) */
    int fd;        /* the provider's handle (shm: memfd) */
    uint32_t mode; /* 0 until first registered, then IDC_RBUF_WRITE-capable
                                        (RW) or read-only (sealed); fixed from then on */
};

/* A remote-buffer transfer in flight. */
struct idc_xfer {
    struct idc_xfer *next;
    struct idc_rbuf rb;
    uint64_t offset;
    void *local; /* receive: destination; send: source (const) */
    size_t len;
    bool write; /* true: send_to_remote_buffer */
    int status;
    idc_transfer_done_fn done;
    void *arg;
    /* the transport's progress on a transfer moved in pieces */
    size_t tp_issued;     /* bytes handed to requests so far */
    uint32_t tp_inflight; /* requests not answered yet */
    bool tp_queued;       /* still has pieces to issue */
};

/* Owner side: checks a reference against this context's registrations (owner, id,
   generation, key, rights against need, range) and gives the address of byte `offset`.
   IDC_ERR_BADREF / IDC_ERR_REVOKED / IDC_ERR_RIGHTS. */
int idc__reg_check(struct idc_context *ctx, const struct idc_rbuf *rb, uint32_t need,
                   uint64_t offset, size_t len, unsigned char **addr);
/* The same check, giving what a transport needs to share the registration itself (shm: the
   allocation's memfd, the registration's place in it). */
struct idc_reg_view {
    const struct idc_alloc *alloc;
    size_t offset; /* of the registration within alloc */
    uint64_t length;
};
int idc__reg_find(struct idc_context *ctx, const struct idc_rbuf *rb, uint32_t need,
                  struct idc_reg_view *out);
/* Registration slots are 0..IDC_MAX_REGS-1; the current generation of one (odd: registered),
   to fill a table that rbuf_revoke keeps up to date. */
#define IDC_MAX_REGS 4096u
uint32_t idc__reg_generation(struct idc_context *ctx, uint32_t id);
/* Completes x with status (its callback runs from dispatch; x is freed by the core). */
void idc__xfer_complete(struct idc_context *ctx, struct idc_xfer *x, int status);

/* ------------------------------------------------------------------------ the table */

struct idc_transport {
    const char *name; /* address prefix without the colon: "shm" */
    /* The peers run on this kernel's CPUs (shm): a consumer's ring says which CPU it sleeps
       on, and a producer does not wake it early on its own (ring.h, idc_ring_tx_decide_early).
       False where CPU numbers mean nothing across the link (another domain, another host). */
    bool shares_cpus;
    /* The address after "PREFIX:" is well formed for this role (no system state touched):
       0, or IDC_ERR_INVAL with a reason in why. NULL: any non-empty rest is accepted here and
       ep_start judges it. */
    int (*address_check)(const char *rest, enum idc_role role, char *why, size_t why_len);
    int (*ctx_init)(struct idc_context *ctx, const struct idc_context_options *opt);
    void (*ctx_fini)(struct idc_context *ctx);
    int (*ep_start)(struct idc_link *l);
    void (*chan_close)(struct idc_link *l);
    void (*ep_rearm)(struct idc_link *l);
    void (*ep_stop)(struct idc_link *l);
    void (*notify)(struct idc_link *l);
    /* Optional. The endpoint spins in dispatch (spin_us), which watches its rx ring instead of
       the fds: a transport whose records reach the ring only when it is called (fabric: its
       completion queue) delivers what arrived, without waiting. True when anything was
       delivered (the spin ends and dispatch returns). Hot path: no system call beyond the
       poll itself. */
    bool (*spin_poll)(struct idc_link *l);
    /* Optional. Dispatch is entered again, or is about to wait for this endpoint's
       notifications (its rx ring is armed next), or to return with the context's fd exported
       (the caller polls it next): a transport that left acknowledging a notification until the
       round's work was done does it now (xen: the port's unmask, a system call taken off the
       path from a notification to the answer it causes, and off the path from the answer to
       the caller's next request). Hot path. */
    void (*ep_ack)(struct idc_link *l);
    int (*buf_alloc)(struct idc_context *ctx, struct idc_alloc *a);
    void (*buf_free)(struct idc_context *ctx, struct idc_alloc *a);
    /* Make the allocation impossible to write for everyone but the owner's existing mapping
       (shm: F_SEAL_FUTURE_WRITE). NULL: read-only registrations are refused (IDC_ERR_NOTSUP). */
    int (*buf_seal_ro)(struct idc_context *ctx, struct idc_alloc *a);
    int (*rbuf_publish)(struct idc_context *ctx);
    bool (*rbuf_reaches)(struct idc_context *ctx, uint64_t owner);
    int (*rbuf_transfer)(struct idc_context *ctx, struct idc_xfer *x);
    void (*rbuf_revoke)(struct idc_context *ctx, uint32_t id, uint32_t generation);
    void (*rbuf_withdraw)(struct idc_context *ctx);
};

/* The built-in list (runtime/transports/builtin.c): NULL-terminated, in the order the core
   asks them which one reaches a buffer owner; and the one that provides buffer memory. */
extern const struct idc_transport *const idc__builtin_transports[];
extern const struct idc_transport *const idc__buffer_memory;
/* Prefixes of transports idc has but this build lacks: IDC_ERR_NOTSUP rather than
   IDC_ERR_INVAL, so a driver can tell "not here" from a typo. NULL-terminated. */
extern const char *const idc__absent_transports[];

#endif /* IDC_TRANSPORT_H */
