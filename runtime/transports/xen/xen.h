/* xen.h - the xen transport's private header: what its channel (channel.c) and remote-buffer
 * (buffers.c) halves share. */
#ifndef IDC_XEN_H
#define IDC_XEN_H

#include "transport.h"

extern const struct idc_transport idc_transport_xen;

struct xen_ctx;   /* channel.c: handles and watches of the channels */
struct xb_ctx;    /* buffers.c: the buffer service and its links */

/* Per-context state of the transport (its idc__ctx_slot), created by ctx_init. */
struct xen_tp {
    unsigned dom1;            /* our domain id + 1; 0 when not on Xen */
    struct xen_ctx *chan;     /* opened by the first xen endpoint */
    struct xb_ctx *buf;       /* opened by the first registration or transfer across domains */
};

static inline struct xen_tp *xen_tp(struct idc_context *ctx)
{
    return *idc__ctx_slot(ctx, &idc_transport_xen);
}

/* buffers.c */
unsigned xen_domid1(void);   /* our domain id + 1, 0 when not on Xen (cached per process) */
int  xen_buf_publish(struct idc_context *ctx);
bool xen_buf_reaches(struct idc_context *ctx, uint64_t owner);
int  xen_buf_transfer(struct idc_context *ctx, struct idc_xfer *x);
void xen_buf_withdraw(struct idc_context *ctx);

#endif /* IDC_XEN_H */
