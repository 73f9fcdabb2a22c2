// SPDX-License-Identifier: GPL-2.0-only OR MIT
/* xenbuf_user.c - remote buffers in idc.ko, user side: idc_send_to_remote_buffer and
 * idc_receive_from_remote_buffer against a registration of a context in another domain, on the
 * wire of runtime/transports/xen/buffers.c (docs/xen-transport.md, "Remote buffers"), which
 * the owner speaks (libidc in user space, or idc.ko's xenbuf.c).
 *
 * One link per owner context: XB_WIN_PAGES + 1 fresh pages granted to the owner's domain (the
 * request page, then the bounce window, one mapping), an unbound port for it, a watch on the
 * owner's O and the knock O/fe/<this domain>-<context id> = "EPOCH REF PORT". The requests on
 * the page (chunks, slots, the checks of the owner's responses, liveness) are libidc's own
 * code, runtime/transports/xen/xbuser.c, built into idc.ko as the rings are; this file is the
 * kernel's grants, port, knock, watch and timer around it. Local memory may be any kernel
 * address.
 *
 * Differences from the user-space user, by construction of the kernel's interfaces:
 *   - the knock's permissions: the kernel's xenbus API sets none, so the knock takes what
 *     xenstored gives a guest's new node under O/fe: this domain owns it (what the owner
 *     checks), the others keep O/fe's rights (write, no read). An owner outside dom0 cannot
 *     read such a knock (docs/kernel.md).
 *   - user_live: the kernel has no unmap notification on pages it grants; this side clears the
 *     byte and notifies before it ends the grants (a crashed guest kernel takes the whole
 *     domain, and its grants with it).
 *
 * Threading: as xenbuf.c: the context's mutex held, except ku_irq (interrupt) and ku_watch_cb
 * (the xenbus watch thread), which only queue a deferred call.
 */
#include <linux/kernel.h>
#include <linux/interrupt.h>
#include <linux/slab.h>
#include <linux/string.h>

#include <xen/events.h>
#include <xen/xen.h>
#include <xen/xenbus.h>

#include "kxenbuf.h"

struct ku_link {
	struct ku_link *next;
	struct kb_svc *sv;
	unsigned int dom;
	struct xbu u;		   /* the request page, the window, the transfers (xbuser.c) */
	char opath[XB_OPATH_MAX];  /* the owner's O */
	char fe[XB_OPATH_MAX + 4]; /* O/fe */
	char kname[XB_NAME_MAX];   /* our knock under O/fe */
	struct kx_pages *pages;	   /* the request page, then the window */
	int irq;		   /* -1: not bound */
	evtchn_port_t port;
	struct idc_kdefer ev_defer;
	struct xenbus_watch watch; /* on O */
	struct idc_kdefer watch_defer;
	bool watching, knocked;
	uint32_t epoch;
	struct idc_timer knock_t;
};

static unsigned int owner_dom(uint64_t owner)
{
	return (unsigned int)(owner >> IDC_OWNER_LOC_SHIFT) - 1u;
}

/* ------------------------------------------------------------------------ teardown */

/* Frees the link; every transfer still on it completes with status. */
static void ulink_fail(struct kb_svc *sv, struct ku_link *l, int status)
{
	struct ku_link **pp;

	for (pp = &sv->ulinks; *pp; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	idc__timer_cancel(sv->ctx, &l->knock_t);
	xbu_fail(&l->u, status);
	if (l->watching)
		unregister_xenbus_watch(&l->watch); /* waits for a running callback */
	idc__kdefer_cancel(sv->ctx, &l->watch_defer);
	if (l->knocked)
		xenbus_rm(XBT_NIL, l->fe, l->kname);
	if (l->u.page) {
		/* What user space's unmap notification does: user_live cleared, the owner told
		   (it unmaps the page). Release: after every request we wrote. */
		virt_store_release(&l->u.page->user_live, 0);
		if (l->irq >= 0)
			notify_remote_via_irq(l->irq);
	}
	if (l->irq >= 0)
		unbind_from_irqhandler(l->irq, l); /* closes the port; waits for the handler */
	idc__kdefer_cancel(sv->ctx, &l->ev_defer);
	kx_pages_free(l->pages); /* a page the owner still maps is freed once it lets go */
	kfree(l);
}

void ku_withdraw(struct kb_svc *sv)
{
	while (sv->ulinks)
		ulink_fail(sv, sv->ulinks, IDC_ERR_DISCONNECTED);
}

/* ------------------------------------------------------------------------ events */

static irqreturn_t ku_irq(int irq, void *dev)
{
	struct ku_link *l = dev;

	(void)irq;
	idc__kdefer(l->sv->ctx, &l->ev_defer);
	return IRQ_HANDLED;
}

static void ku_notify(struct xbu *u)
{
	notify_remote_via_irq(container_of(u, struct ku_link, u)->irq);
}

/* One notification (xbuser.c's work), then the late EOI. */
static void ku_ev_run(struct idc_kdefer *d)
{
	struct ku_link *l = container_of(d, struct ku_link, ev_defer);
	bool was_up = l->u.up, news;
	int r = xbu_event(&l->u, &news);

	if (r) {
		if (r == IDC_ERR_DISCONNECTED) /* the owner left the page: gone for good */
			xbu_dead_add(&l->sv->dead, l->u.owner);
		ulink_fail(l->sv, l, IDC_ERR_DISCONNECTED);
		return; /* freed (its port unbound) */
	}
	if (l->u.up && !was_up)
		idc__timer_cancel(l->sv->ctx, &l->knock_t);
	/* A notification that brought nothing counts for the kernel's storm throttle. */
	xen_irq_lateeoi(l->irq, news ? 0 : XEN_EOI_FLAG_SPURIOUS);
}

static void ku_knock_timeout(struct idc_timer *t)
{
	struct ku_link *l = t->arg;

	if (l->u.up)
		return;
	idc__log(l->sv->ctx, IDC_LOG_WARN, "buffer owner %016llx (domain %u): no answer in %u ms",
		 (unsigned long long)l->u.owner, l->dom, XB_KNOCK_MS);
	ulink_fail(l->sv, l, IDC_ERR_DISCONNECTED);
}

static void ku_watch_cb(struct xenbus_watch *w, const char *path, const char *token)
{
	struct ku_link *l = container_of(w, struct ku_link, watch);

	(void)path;
	(void)token;
	idc__kdefer(l->sv->ctx, &l->watch_defer);
}

/* Something under O changed: the owner withdrew (context destroyed, domain gone) or dropped
   our knock; other users' knocks change nothing. */
static void ku_watch_run(struct idc_kdefer *d)
{
	struct ku_link *l = container_of(d, struct ku_link, watch_defer);
	char b[48];

	if (!kx_read(l->opath, "state", b, sizeof(b)) &&
	    (!l->knocked || !kx_read(l->fe, l->kname, b, sizeof(b))))
		return;
	idc__log(l->sv->ctx, IDC_LOG_INFO, "buffer owner %016llx (domain %u) withdrew its buffers",
		 (unsigned long long)l->u.owner, l->dom);
	xbu_dead_add(&l->sv->dead, l->u.owner);
	ulink_fail(l->sv, l, IDC_ERR_DISCONNECTED);
}

/* ------------------------------------------------------------------------ links */

/* Grants, port, request page and knock; sets up the watch and the knock's timeout. */
static int ulink_open(struct kb_svc *sv, struct ku_link *l)
{
	char v[48];
	int irq;

	if (kx_read(l->opath, "state", v, sizeof(v))) {
		idc__log(sv->ctx, IDC_LOG_DEBUG,
			 "buffer owner %016llx: no buffer service in domain %u",
			 (unsigned long long)l->u.owner, l->dom);
		return IDC_ERR_DISCONNECTED;
	}
	irq = kx_port_open(l->dom, ku_irq, l, &l->port);
	if (irq < 0) {
		idc__log(sv->ctx, IDC_LOG_ERROR, "buffer owner in domain %u: no event channel: %d",
			 l->dom, irq);
		return IDC_ERR_DISCONNECTED;
	}
	l->irq = irq;
	l->pages = kx_pages_alloc(l->dom, XB_WIN_PAGES + 1);
	if (!l->pages) {
		idc__log(sv->ctx, IDC_LOG_ERROR,
			 "buffer owner in domain %u: granting %u pages failed", l->dom,
			 XB_WIN_PAGES + 1);
		return IDC_ERR_NOMEM;
	}
	l->u.page = l->pages->mem;
	l->u.win = (unsigned char *)l->pages->mem + XEN_PAGE_SIZE;
	l->u.page->magic = XB_MAGIC;
	l->u.page->epoch = l->epoch;
	memcpy(l->u.page->refs, l->pages->refs + 1, sizeof(l->u.page->refs));
	/* Release: the page complete before the owner can see it live. */
	virt_store_release(&l->u.page->user_live, 1);
	l->watch.node = l->opath;
	l->watch.callback = ku_watch_cb;
	if (register_xenbus_watch(&l->watch)) {
		idc__log(sv->ctx, IDC_LOG_ERROR, "buffer owner %016llx: cannot watch %s",
			 (unsigned long long)l->u.owner, l->opath);
		return IDC_ERR_DISCONNECTED;
	}
	l->watching = true;
	snprintf(v, sizeof(v), XB_KNOCK_VALUE, l->epoch, l->pages->refs[0], l->port);
	if (xenbus_write(XBT_NIL, l->fe, l->kname, v)) {
		idc__log(sv->ctx, IDC_LOG_ERROR, "buffer owner %016llx: cannot knock at %s",
			 (unsigned long long)l->u.owner, l->fe);
		return IDC_ERR_DISCONNECTED;
	}
	l->knocked = true;
	idc__timer_arm(sv->ctx, &l->knock_t, XB_KNOCK_MS);
	return 0;
}

static struct ku_link *ulink_new(struct kb_svc *sv, uint64_t owner, int *err)
{
	struct ku_link *l = kzalloc(sizeof(*l), GFP_KERNEL);

	if (!l) {
		*err = IDC_ERR_NOMEM;
		return NULL;
	}
	l->sv = sv;
	l->dom = owner_dom(owner);
	l->irq = -1;
	xbu_init(&l->u, sv->ctx, owner, ku_notify);
	l->ev_defer.fn = ku_ev_run;
	l->watch_defer.fn = ku_watch_run;
	l->knock_t.fn = ku_knock_timeout;
	l->knock_t.arg = l;
	l->epoch = kx_rand_nonzero();
	snprintf(l->opath, sizeof(l->opath), XB_OPATH_FMT, l->dom, (unsigned long long)owner);
	snprintf(l->fe, sizeof(l->fe), "%s/fe", l->opath);
	snprintf(l->kname, sizeof(l->kname), XB_KNOCK_FMT, sv->self,
		 (unsigned long long)idc_context_id(sv->ctx));
	l->next = sv->ulinks;
	sv->ulinks = l;
	*err = ulink_open(sv, l);
	if (!*err)
		return l;
	ulink_fail(sv, l, IDC_ERR_DISCONNECTED); /* nothing is queued on it yet */
	return NULL;
}

/* ------------------------------------------------------------------------ the table */

/* Owners in another domain (the owner id's locator is the domain id + 1). */
bool idc__kbuf_reaches(struct idc_context *ctx, uint64_t owner)
{
	unsigned int d1 = (unsigned int)(owner >> IDC_OWNER_LOC_SHIFT);
	struct kb_svc *sv;

	if (d1 == 0 || (d1 & IDC_OWNER_LOC_FABRIC) || d1 - 1 > XEN_DOMID_MAX)
		return false;
	sv = kb_svc_open(ctx);
	return sv && d1 != sv->self + 1;
}

/* The link to x's owner, made when there is none; NULL and *err when x cannot go now. */
static struct ku_link *ulink_for(struct kb_svc *sv, struct idc_xfer *x, int *err)
{
	struct ku_link *l, *idle = NULL;
	unsigned int n = 0;

	for (l = sv->ulinks; l; l = l->next, n++)
		if (l->u.owner == x->rb.owner)
			return l;
	if (n >= sv->lim.user) {
		/* Each link holds XB_WIN_PAGES + 1 of this domain's grant references: at the cap
		   the idle ones close, oldest (last in the list) first; when none is idle the
		   transfer must wait its turn. */
		for (l = sv->ulinks; l; l = l->next)
			if (xbu_idle(&l->u))
				idle = l;
		if (!idle) {
			if (idc__log_limit(&sv->logs, sv->ctx))
				idc__log(sv->ctx, IDC_LOG_WARN,
					 "%u buffer owners busy at once (IDC_BUF_USER_LINKS); "
					 "transfer refused (IDC_ERR_AGAIN)",
					 n);
			*err = IDC_ERR_AGAIN;
			return NULL;
		}
		ulink_fail(sv, idle, IDC_ERR_DISCONNECTED); /* nothing to complete */
	}
	return ulink_new(sv, x->rb.owner, err);
}

int idc__kbuf_transfer(struct idc_context *ctx, struct idc_xfer *x)
{
	struct kb_svc *sv = kb_svc_open(ctx);
	struct ku_link *l;
	int err = IDC_ERR_DISCONNECTED;

	l = sv && !xbu_dead_has(&sv->dead, x->rb.owner) ? ulink_for(sv, x, &err) : NULL;
	if (!l) {
		if (err == IDC_ERR_NOMEM)
			return err; /* the core frees x */
		idc__xfer_complete(ctx, x, err);
		return 0;
	}
	xbu_queue(&l->u, x);
	return 0;
}
