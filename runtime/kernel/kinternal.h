/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/* kinternal.h - what the kernel runtime's own files (runtime/kernel/) share. */
#ifndef IDC_KINTERNAL_H
#define IDC_KINTERNAL_H

#include <linux/list.h>

#include "transport.h"

/* A call queued from atomic context (an event-channel interrupt) or from a xenbus watch
   callback, run by the context's work item with the mutex held. Embedded in its owner; queued
   at most once until it runs. */
struct idc_kdefer {
	struct list_head node;
	void (*fn)(struct idc_kdefer *d);
	bool queued;
};

/* Queue d (any context, interrupts included); a d already queued stays queued once. */
void idc__kdefer(struct idc_context *ctx, struct idc_kdefer *d);
/* Take d off the queue if it is there (its owner goes away). Process context. */
void idc__kdefer_cancel(struct idc_context *ctx, struct idc_kdefer *d);

/* kcontext.c: contexts alive (the module's exit check) */
int idc__kcontexts_live(void);

/* main.c: grants this module holds, counted where they are made and ended: its pages granted to
   other domains, and other domains' pages it maps (read-only parameter "grants"; 0 once every
   context is destroyed, which the checks read after a client module's unload). */
void idc__kgrants_add(int n);

/* kxen.c: the xen transport (xenfront.c: frontends, xenback.c: backends) */
extern const struct idc_transport idc_ktransport_xen;

/* xenbuf.c: buffer memory and the owner side of remote buffers over Xen */
int idc__kbuf_alloc(struct idc_context *ctx, struct idc_alloc *a);
void idc__kbuf_free(struct idc_context *ctx, struct idc_alloc *a);
int idc__kbuf_seal_ro(struct idc_context *ctx, struct idc_alloc *a);
int idc__kbuf_publish(struct idc_context *ctx);
void idc__kbuf_withdraw(struct idc_context *ctx);
/* xenbuf_user.c: the user side (this context moving another domain's registration's bytes) */
bool idc__kbuf_reaches(struct idc_context *ctx, uint64_t owner);
int idc__kbuf_transfer(struct idc_context *ctx, struct idc_xfer *x);

#endif /* IDC_KINTERNAL_H */
