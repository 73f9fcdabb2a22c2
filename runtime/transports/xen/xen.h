/* xen.h - the xen transport's private header: what its files share.
 *
 *   xen.c       per-context state: one xenstore connection, one event-channel handle, one
 *               grant-share and one grant-map handle, opened by whichever half needs them first;
 *               one watch fd and one event-channel fd in the context's epoll, their events
 *               dispatched to the half that owns them; the xenstore helpers; the ops table
 *   channel.c   endpoints: discovery, handshake, rings, event channels
 *   buffers.c   remote buffers across domains by grant copy
 *
 * Errors are IDC_ERR_* throughout. The helpers below turn a failed Xen call into a reason
 * (what, on which path, strerror) kept in the state's `why` for the caller's log line, and
 * return the IDC_ERR_* that fits: IDC_ERR_IO for a call xenstore or a driver refused,
 * IDC_ERR_PROTO for a value the peer wrote that does not parse.
 */
#ifndef IDC_XEN_H
#define IDC_XEN_H

#include <stdbool.h>
#include <stdint.h>

#include <xenevtchn.h>
#include <xengnttab.h>
#include <xenstore.h>

#include "transport.h"
#include "wire.h" /* XEN_PAGE, the control page, the xenbus states */

extern const struct idc_transport idc_transport_xen;

#define XEN_VALUE_MAX 2048u /* longest value written */
#define XEN_ACL_MAX   8u    /* listed domains xen_perms takes */

/* Watch tokens on the shared xenstore connection, dispatched by prefix: XEN_TOKEN_RELEASE
   (@releaseDomain, watched once) goes to both halves, XEN_TOKEN_BUF... to buffers.c, any other
   "idc<serial>" to channel.c. */
#define XEN_TOKEN_RELEASE "idc-release"
#define XEN_TOKEN_BUF     "idcxb-"
#define XEN_TOKEN_CHAN    "idc"

/* libs.c: the Xen library functions the transport calls, all through `xen_lib` (loaded at run
   time, so libidc needs no Xen package to load). One row per function: its library, its name. */
enum { XEN_LIB_STORE, XEN_LIB_GNTTAB, XEN_LIB_EVTCHN, XEN_LIB_COUNT };
#define XEN_API(X)                                     \
    X(XEN_LIB_STORE, xs_open)                          \
    X(XEN_LIB_STORE, xs_close)                         \
    X(XEN_LIB_STORE, xs_fileno)                        \
    X(XEN_LIB_STORE, xs_read)                          \
    X(XEN_LIB_STORE, xs_write)                         \
    X(XEN_LIB_STORE, xs_mkdir)                         \
    X(XEN_LIB_STORE, xs_rm)                            \
    X(XEN_LIB_STORE, xs_directory)                     \
    X(XEN_LIB_STORE, xs_get_permissions)               \
    X(XEN_LIB_STORE, xs_set_permissions)               \
    X(XEN_LIB_STORE, xs_transaction_start)             \
    X(XEN_LIB_STORE, xs_transaction_end)               \
    X(XEN_LIB_STORE, xs_watch)                         \
    X(XEN_LIB_STORE, xs_unwatch)                       \
    X(XEN_LIB_STORE, xs_check_watch)                   \
    X(XEN_LIB_STORE, xs_is_domain_introduced)          \
    X(XEN_LIB_GNTTAB, xengnttab_open)                  \
    X(XEN_LIB_GNTTAB, xengnttab_close)                 \
    X(XEN_LIB_GNTTAB, xengnttab_grant_copy)            \
    X(XEN_LIB_GNTTAB, xengnttab_map_domain_grant_refs) \
    X(XEN_LIB_GNTTAB, xengnttab_map_grant_ref_notify)  \
    X(XEN_LIB_GNTTAB, xengnttab_unmap)                 \
    X(XEN_LIB_GNTTAB, xengntshr_open)                  \
    X(XEN_LIB_GNTTAB, xengntshr_close)                 \
    X(XEN_LIB_GNTTAB, xengntshr_share_pages)           \
    X(XEN_LIB_GNTTAB, xengntshr_share_page_notify)     \
    X(XEN_LIB_GNTTAB, xengntshr_unshare)               \
    X(XEN_LIB_EVTCHN, xenevtchn_open)                  \
    X(XEN_LIB_EVTCHN, xenevtchn_close)                 \
    X(XEN_LIB_EVTCHN, xenevtchn_fd)                    \
    X(XEN_LIB_EVTCHN, xenevtchn_notify)                \
    X(XEN_LIB_EVTCHN, xenevtchn_unmask)                \
    X(XEN_LIB_EVTCHN, xenevtchn_bind_interdomain)      \
    X(XEN_LIB_EVTCHN, xenevtchn_bind_unbound_port)     \
    X(XEN_LIB_EVTCHN, xenevtchn_unbind)

struct xen_api {
/* fn names a member here: it cannot take parentheses */
#define XEN_API_FIELD(lib, fn) __typeof__(fn) *fn; /* NOLINT(bugprone-macro-parentheses) */
    XEN_API(XEN_API_FIELD)
#undef XEN_API_FIELD
};
extern struct xen_api xen_lib; /* filled by xen_lib_load, read-only afterwards */

/* Loads the libraries once per process (thread-safe). NULL when every function is there, else
   why not (for an IDC_ERR_NOTSUP log line; the same reason on every later call). */
const char *xen_lib_load(void);

struct xen_tp;
struct xb_ctx; /* buffers.c: the buffer service and its links */

/* An event-channel port bound through xen_bind_*: its notifications go to fn(t, arg). */
struct xen_port {
    uint32_t port;
    void (*fn)(struct xen_tp *t, void *arg);
    void *arg;
};

/* Per-context state of the transport (its idc__ctx_slot), created by ctx_init; the handles
   stay NULL until xen_open. */
struct xen_tp {
    struct idc_context *ctx;
    unsigned dom1; /* our domain id + 1 (owner ids' locator); 0 when not on Xen */
    bool open;     /* the handles below are open */
    unsigned self; /* our domain id, once open */
    struct xs_handle *xs;
    xenevtchn_handle *ev;
    xengntshr_handle *gs;
    xengnttab_handle *gt;
    struct idc_watch xw, ew; /* the xenstore watch fd, the event-channel fd */
    bool release_watch;      /* @releaseDomain is watched (refused outside dom0 by some
                                   xenstoreds: the per-domain nodes then tell) */
    struct xen_port *ports;  /* bound ports and who handles them */
    unsigned nports, cap_ports;
    uint32_t chan_serial; /* channel.c: the last endpoint watch serial handed out */
    struct xb_ctx *buf;   /* buffers.c: created by the first registration or transfer
                                   across domains */
    char why[192];        /* the reason of the last failed call made through a helper */
};

static inline struct xen_tp *xen_tp(struct idc_context *ctx)
{
    return *idc__ctx_slot(ctx, &idc_transport_xen);
}

/* xen.c: the handles. xen_open opens them all once (later calls return 0 at once) and puts
   the watch and event-channel fds in the context's epoll; `who` starts its log lines (an
   address, or what wanted Xen). IDC_ERR_NOTSUP when Xen or one of its drivers is missing. */
int xen_open(struct xen_tp *t, const char *who);
unsigned xen_domid1(void); /* our domain id + 1, 0 when not on Xen (cached per process) */

/* xen.c: event channels. Bind a port (unbound for domain dom, or to dom's remote port) and
   register fn for its notifications; the port, or IDC_ERR_IO / IDC_ERR_NOMEM (t->why).
   xen_unbind drops the registration and the port. An unregistered pending port is unmasked. */
int xen_bind_unbound(struct xen_tp *t, unsigned dom, void (*fn)(struct xen_tp *, void *),
                     void *arg);
int xen_bind_interdomain(struct xen_tp *t, unsigned dom, uint32_t remote,
                         void (*fn)(struct xen_tp *, void *), void *arg);
void xen_unbind(struct xen_tp *t, uint32_t port);

/* xen.c: xenstore. `key` NULL: the node `dir` itself, else dir/key. Reads of peer-written
   values are bounded (cap, no embedded NUL) and strict. */
int xen_read(struct xen_tp *t, xs_transaction_t tx, const char *dir, const char *key, char *buf,
             size_t cap);
int xen_read_u32(struct xen_tp *t, xs_transaction_t tx, const char *dir, const char *key,
                 uint32_t max, uint32_t *out);
int xen_write(struct xen_tp *t, xs_transaction_t tx, const char *dir, const char *key,
              const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int xen_mkdir(struct xen_tp *t, xs_transaction_t tx, const char *path);
/* Permissions of path: owned by us, `others` for everyone else, `aclperm` for the listed
   domains (our own domain in the list is skipped: the owner's entry covers it). */
int xen_perms(struct xen_tp *t, xs_transaction_t tx, const char *path, unsigned others,
              const uint16_t *acl, unsigned nacl, unsigned aclperm);
bool xen_absent(struct xen_tp *t, const char *path); /* xenstore says ENOENT */
/* The domain that created path: xenstored makes an unprivileged creator the node's owner,
   and only dom0 can hand a node to someone else (a dom0-made node may inherit our own). */
bool xen_made_by(struct xen_tp *t, const char *path, unsigned dom);
/* dom0 only (others cannot ask): domain dom was released. */
bool xen_domain_gone(struct xen_tp *t, unsigned dom);
/* Runs body inside one transaction, again while the commit conflicts (EAGAIN, a bounded number
   of times). body returns 0 or an IDC_ERR_* (its failure aborts the transaction and is
   returned); xen_txn returns 0 or IDC_ERR_*. */
int xen_txn(struct xen_tp *t, int (*body)(struct xen_tp *t, xs_transaction_t tx, void *arg),
            void *arg);

/* xen.c: values */
uint32_t xen_rand_nonzero(void); /* random, 1..0x7fffffff */

/* channel.c */
int xen_ep_start(struct idc_link *ep);
void xen_chan_close(struct idc_link *ep);
void xen_ep_rearm(struct idc_link *ep);
void xen_ep_stop(struct idc_link *ep);
void xen_notify(struct idc_link *ep);
void xen_ep_ack(struct idc_link *ep);
void xen_chan_watch(struct xen_tp *t, const char *token); /* a XEN_TOKEN_CHAN event: noted */
void xen_chan_watch_flush(struct xen_tp *t); /* after a batch: each noted endpoint checked once */
void xen_chan_released(struct xen_tp *t);    /* @releaseDomain fired */

/* buffers.c */
int xen_buf_publish(struct idc_context *ctx);
bool xen_buf_reaches(struct idc_context *ctx, uint64_t owner);
int xen_buf_transfer(struct idc_context *ctx, struct idc_xfer *x);
void xen_buf_withdraw(struct idc_context *ctx);
void xen_buf_watch(struct xen_tp *t, const char *token, const char *path);
void xen_buf_released(struct xen_tp *t);

#endif /* IDC_XEN_H */
