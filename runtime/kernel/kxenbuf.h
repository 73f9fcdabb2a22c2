/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/* kxenbuf.h - what the two sides of remote buffers in idc.ko share: the context's state
 * (xenbuf.c serves this context's registrations to users in other domains; xenbuf_user.c moves
 * bytes to and from other domains' registrations). The wire is wire.h's.
 */
#ifndef IDC_KXENBUF_H
#define IDC_KXENBUF_H

#include <xen/grant_table.h>
#include <xen/xenbus.h>

#include "kxen.h"
#include "xbowner.h"
#include "xbuser.h"

/* grant-copy segments per request: each slot page, split where the local memory crosses a page */
#define XB_REQ_SEGS (2u * XB_SLOT_PAGES)

struct kb_link;
struct ku_link;

struct kb_svc {
	struct idc_context *ctx;
	unsigned int self; /* this domain */
	struct idc_buf_limits lim;
	struct idc_log_limit logs;
	/* owner side (xenbuf.c), published at the first registration */
	char opath[XB_OPATH_MAX];
	char fe[XB_OPATH_MAX + 4];
	struct xenbus_watch watch;
	bool watching;
	struct idc_kdefer watch_defer;
	struct kb_link *links;
	unsigned int nlinks;
	/* one wake-up of one link: its requests (xbowner.c) and their grant copies */
	struct xbo_batch batch;
	struct gnttab_copy seg[XB_SLOTS * XB_REQ_SEGS];
	/* user side (xenbuf_user.c) */
	struct ku_link *ulinks;
	struct xbu_dead dead; /* owners known to be gone */
};

/* The context's state, made at its first use of remote buffers on Xen (this domain's id read,
   the context's owner id made to name it); NULL when not on Xen or the id cannot be read. */
struct kb_svc *kb_svc_open(struct idc_context *ctx);
/* The context goes away: every transfer where it is the user completes with
   IDC_ERR_DISCONNECTED (dropped by the context's destroy), every user link is closed. */
void ku_withdraw(struct kb_svc *sv);

#endif /* IDC_KXENBUF_H */
