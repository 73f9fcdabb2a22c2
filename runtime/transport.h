/* transport.h - libidc private: the operations table every transport implements.
 *
 * The core (context.c, endpoint.c, buffer.c, ring.c) knows endpoints, frames, credits, epochs
 * and lifecycle; a transport knows how to find a peer, how to share ring pages with it, how to
 * wake it, and how to reach memory another context registered. docs/transport.md describes how
 * shm, Xen (grant refs, event channels, xenstore) and a network fabric map onto these calls.
 *
 * Calling conventions
 *   - Every op runs on the context's thread; ops never call endpoint callbacks directly: they
 *     report through the idc__ep_* functions below, which the core turns into callbacks.
 *   - Ops may register fds with idc__watch_add (the context's epoll) and timers.
 *
 * Endpoint flow (core -> transport -> core):
 *   ep_start        discovery (frontend: watch the address) or publication (backend).
 *                   Transport reports idc__ep_appear / idc__ep_disappear as the peer or the
 *                   service comes and goes, runs the handshake (it calls idc__negotiate to pick
 *                   the version), maps the two rings and calls idc__ep_channel_up.
 *                   A channel failure (peer died, socket HUP) -> idc__ep_channel_down.
 *                   An incoming notification -> idc__ep_kick.
 *   chan_close      the core took the connection down: release ring pages and notification
 *                   objects, make the peer notice (close the socket / switch xenbus state).
 *   ep_rearm        the driver acknowledged the disconnect: allow the next connection.
 *   notify          wake the peer (eventfd write / event channel notify).
 *   ep_stop         stop discovery/publication; release everything (destroy).
 *
 * Remote buffers:
 *   buf_alloc / buf_free      memory that can be exposed to peers (memfd / grantable pages).
 *   buf_seal_ro               harden an allocation that holds read-only registrations.
 *   rbuf_publish              make this context's registrations reachable by owner id
 *                             (shm: a hidden socket named from the id).
 *   rbuf_transfer             start a transfer against another context's registration; the
 *                             transport completes it with idc__xfer_complete.
 *   ctx_fini                  release per-context transport state (called at every context
 *                             destroy, also for contexts that never used the transport).
 */
#ifndef IDC_TRANSPORT_H
#define IDC_TRANSPORT_H

#include <stdint.h>
#include <stddef.h>

struct idc_context;
struct idc_ep;
struct idc_alloc;
struct idc_xfer;

/* Parameters of a channel that is up (both rings mapped, epoch and version agreed). */
struct idc_chan {
    void    *tx_mem;        /* our producer ring (control block + data) */
    void    *rx_mem;        /* our consumer ring */
    uint32_t tx_size;       /* data bytes */
    uint32_t rx_size;
    uint32_t epoch;
    uint32_t version;
    uint32_t max_frame;     /* negotiated: min of both sides */
    uint32_t tx_limit;      /* transactions outstanding per direction (negotiated) */
    uint32_t msg_limit;     /* messages queued per direction (negotiated) */
};

struct idc_transport {
    const char *name;   /* address prefix without the colon: "shm" */
    int  (*ep_start)(struct idc_ep *ep);
    void (*chan_close)(struct idc_ep *ep);
    void (*ep_rearm)(struct idc_ep *ep);
    void (*ep_stop)(struct idc_ep *ep);
    void (*notify)(struct idc_ep *ep);
    int  (*buf_alloc)(struct idc_context *ctx, struct idc_alloc *a);
    void (*buf_free)(struct idc_context *ctx, struct idc_alloc *a);
    int  (*rbuf_publish)(struct idc_context *ctx);
    /* Make the allocation impossible to write for everyone but the owner's existing mapping
       (shm: F_SEAL_FUTURE_WRITE). NULL: read-only registrations are refused (IDC_ERR_NOTSUP). */
    int  (*buf_seal_ro)(struct idc_context *ctx, struct idc_alloc *a);
    int  (*rbuf_transfer)(struct idc_context *ctx, struct idc_xfer *x);
    void (*ctx_fini)(struct idc_context *ctx);
};

extern const struct idc_transport idc_transport_shm;
/* Defined by runtime/xen.c (always built: libxen-dev is a build dependency). A strong
   reference, because a weak one does not pull xen.o out of the static libidc.a. Where Xen is
   absent at run time, its ep_start logs "not available" and fails with IDC_ERR_NOTSUP. */
extern const struct idc_transport idc_transport_xen;

/* Transport lookup by address prefix; NULL with *err = IDC_ERR_NOTSUP / IDC_ERR_INVAL. */
const struct idc_transport *idc__transport_for(const char *address, const char **rest, int *err);

#endif /* IDC_TRANSPORT_H */
