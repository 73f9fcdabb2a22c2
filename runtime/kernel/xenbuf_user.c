// SPDX-License-Identifier: GPL-2.0-only OR MIT
/* xenbuf_user.c - remote buffers in idc.ko, user side: idc_send_to_remote_buffer and
 * idc_receive_from_remote_buffer against a registration of a context in another domain, on the
 * wire of runtime/transports/xen/buffers.c (docs/xen-transport.md, "Remote buffers"), which
 * the owner speaks (libidc in user space, or idc.ko's xenbuf.c).
 *
 * One link per owner context: XB_WIN_PAGES + 1 fresh pages granted to the owner's domain (the
 * request page, then the bounce window, one mapping), an unbound port for it, a watch on the
 * owner's O and the knock O/fe/<this domain>-<context id> = "EPOCH REF PORT". A transfer is
 * cut into slot-sized requests, XB_PIPE of them at the owner at once; the owner checks each
 * (key, generation, rights, range) and grant-copies between its registration and the slot;
 * this side copies between the slot and the caller's memory, which any kernel address may be.
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
 * (the xenbus watch thread), which only queue a deferred call. The owner's half of the request
 * page (answer, owner_live, rsp_prod, rsp[]) is hostile: each value is read once, then checked.
 */
#include <linux/kernel.h>
#include <linux/interrupt.h>
#include <linux/slab.h>
#include <linux/string.h>

#include <xen/events.h>
#include <xen/xen.h>
#include <xen/xenbus.h>

#include "kxenbuf.h"

struct ku_slot {
	struct idc_xfer *x;
	unsigned char *local;
	size_t len;
	uint32_t tag;
	int status;    /* of the response, between harvest and copy_out */
	bool busy;     /* issued and not yet copied out */
	bool answered; /* busy, and its response was harvested: a second one is to no request */
};

struct ku_link {
	struct ku_link *next;
	struct kb_svc *sv;
	uint64_t owner;
	unsigned int dom;
	char opath[XB_OPATH_MAX];     /* the owner's O */
	char fe[XB_OPATH_MAX + 4];    /* O/fe */
	char kname[XB_NAME_MAX];      /* our knock under O/fe */
	struct kx_pages *pages;       /* the request page, then the window */
	struct xb_page *page;
	unsigned char *win;
	int irq; /* -1: not bound */
	evtchn_port_t port;
	struct idc_kdefer ev_defer;
	struct xenbus_watch watch; /* on O */
	struct idc_kdefer watch_defer;
	bool watching, knocked, up;
	uint32_t epoch;
	struct idc_timer knock_t;
	uint32_t req_prod, rsp_cons, seq;
	unsigned int inflight;
	struct ku_slot slot[XB_SLOTS];
	struct idc_xfer *q_head, **q_tail; /* transfers with chunks still to issue */
};

static unsigned int owner_dom(uint64_t owner)
{
	return (unsigned int)(owner >> IDC_OWNER_LOC_SHIFT) - 1u;
}

static bool owner_dead(struct kb_svc *sv, uint64_t owner)
{
	unsigned int i;

	for (i = 0; i < sv->ndead; i++)
		if (sv->dead[i] == owner)
			return true;
	return false;
}

static void mark_dead(struct kb_svc *sv, uint64_t owner)
{
	if (owner_dead(sv, owner))
		return;
	sv->dead[sv->dead_next] = owner;
	sv->dead_next = (sv->dead_next + 1) % XB_DEAD_MAX;
	if (sv->ndead < XB_DEAD_MAX)
		sv->ndead++;
}

static void xfer_unqueue(struct ku_link *l, struct idc_xfer *x)
{
	struct idc_xfer **pp;

	for (pp = &l->q_head; *pp; pp = &(*pp)->next)
		if (*pp == x) {
			*pp = x->next;
			if (!*pp)
				l->q_tail = pp;
			break;
		}
	x->next = NULL;
	x->tp_queued = false;
}

/* ------------------------------------------------------------------------ teardown */

/* Every transfer still on the link completes with status (a chunk's own error first). */
static void link_fail_xfers(struct ku_link *l, int status)
{
	struct idc_context *ctx = l->sv->ctx;
	struct idc_xfer *x;
	unsigned int i;

	for (i = 0; i < XB_SLOTS; i++) {
		struct ku_slot *s = &l->slot[i];

		if (!s->busy)
			continue;
		s->busy = s->answered = false;
		if (!s->x->status)
			s->x->status = status;
		if (--s->x->tp_inflight == 0 && !s->x->tp_queued)
			idc__xfer_complete(ctx, s->x, s->x->status);
	}
	while (l->q_head) {
		x = l->q_head;
		xfer_unqueue(l, x);
		if (x->tp_inflight == 0)
			idc__xfer_complete(ctx, x, x->status ? x->status : status);
		else if (!x->status)
			x->status = status;
	}
}

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
	link_fail_xfers(l, status);
	if (l->watching)
		unregister_xenbus_watch(&l->watch); /* waits for a running callback */
	idc__kdefer_cancel(sv->ctx, &l->watch_defer);
	if (l->knocked)
		xenbus_rm(XBT_NIL, l->fe, l->kname);
	if (l->page) {
		/* What user space's unmap notification does: user_live cleared, the owner told
		   (it unmaps the page). Release: after every request we wrote. */
		virt_store_release(&l->page->user_live, 0);
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

/* ------------------------------------------------------------------------ requests */

/* Hands the owner the next chunks: at most XB_PIPE requests at the owner, each in a free slot
   (a write's bytes copied into it first). */
static void ulink_pump(struct ku_link *l)
{
	unsigned int unnotified = 0;

	while (l->q_head && l->inflight < XB_PIPE) {
		struct idc_xfer *x = l->q_head;
		struct xb_req q;
		struct ku_slot *s;
		unsigned int si = 0;
		size_t chunk;

		if (x->status) { /* an earlier chunk failed: issue no more */
			xfer_unqueue(l, x);
			if (x->tp_inflight == 0)
				idc__xfer_complete(l->sv->ctx, x, x->status);
			continue;
		}
		while (si < XB_SLOTS && l->slot[si].busy)
			si++;
		if (si == XB_SLOTS)
			break; /* the rest wait for the copies out of the other half */
		chunk = min_t(size_t, x->len - x->tp_issued, XB_SLOT_BYTES);
		s = &l->slot[si];
		s->x = x;
		s->local = (unsigned char *)x->local + x->tp_issued;
		s->len = chunk;
		s->tag = (++l->seq << 8) | si;
		s->busy = true;
		memset(&q, 0, sizeof(q));
		q.tag = s->tag;
		q.op = x->write ? XB_OP_WRITE : XB_OP_READ;
		q.slot = (uint8_t)si;
		q.len = (uint32_t)chunk;
		q.id = x->rb.id;
		q.generation = x->rb.generation;
		q.rights = x->rb.rights;
		q.owner = x->rb.owner;
		q.length = x->rb.length;
		q.offset = x->offset + x->tp_issued;
		memcpy(q.key, x->rb.key, sizeof(q.key));
		if (x->write && chunk)
			memcpy(l->win + (size_t)si * XB_SLOT_BYTES, s->local, chunk);
		memcpy(&l->page->req[l->req_prod % XB_SLOTS], &q, sizeof(q));
		l->req_prod++;
		/* Release: the request and the slot's bytes before the index the owner reads. */
		virt_store_release(&l->page->req_prod, l->req_prod);
		l->inflight++;
		x->tp_inflight++;
		x->tp_issued += chunk;
		if (x->tp_issued == x->len)
			xfer_unqueue(l, x);
		if (++unnotified == XB_WRITE_GROUP && x->write) {
			notify_remote_via_irq(l->irq); /* the owner starts on these */
			unnotified = 0;
		}
	}
	if (unnotified)
		notify_remote_via_irq(l->irq);
}

/* Reads the owner's responses: each checked and its status recorded; its slot stays busy
   until copy_out but no longer counts as in flight. Returns false when the link was freed. */
static bool ulink_harvest(struct kb_svc *sv, struct ku_link *l, unsigned int done[XB_SLOTS],
			  unsigned int *ndone)
{
	/* Acquire: pairs with the owner's release; responses and slot bytes before the index. */
	uint32_t prod = virt_load_acquire(&l->page->rsp_prod);

	*ndone = 0;
	if (prod - l->rsp_cons > l->req_prod - l->rsp_cons) {
		idc__log(sv->ctx, IDC_LOG_WARN, "buffer owner %016llx: response index out of range",
			 (unsigned long long)l->owner);
		ulink_fail(sv, l, IDC_ERR_DISCONNECTED);
		return false;
	}
	while (l->rsp_cons != prod) {
		struct xb_rsp r;
		unsigned int si;
		struct ku_slot *s;

		memcpy(&r, &l->page->rsp[l->rsp_cons % XB_SLOTS], sizeof(r)); /* one read */
		si = r.tag & 0xffu;
		s = si < XB_SLOTS ? &l->slot[si] : NULL;
		if (!s || !s->busy || s->answered || s->tag != r.tag) {
			idc__log(sv->ctx, IDC_LOG_WARN, "buffer owner %016llx: response to no request",
				 (unsigned long long)l->owner);
			ulink_fail(sv, l, IDC_ERR_DISCONNECTED);
			return false;
		}
		l->rsp_cons++;
		s->status = r.status > 0 || r.status < IDC_ERR_IO ? IDC_ERR_IO : r.status;
		s->answered = true;
		l->inflight--;
		done[(*ndone)++] = si;
	}
	return true;
}

/* The harvested slots: a read's bytes copied out of the window, the slot freed, the transfer
   completed with its last chunk. */
static void ulink_copy_out(struct ku_link *l, const unsigned int *done, unsigned int ndone)
{
	unsigned int i;

	for (i = 0; i < ndone; i++) {
		struct ku_slot *s = &l->slot[done[i]];
		struct idc_xfer *x = s->x;

		if (s->status == 0 && !x->write && s->len)
			memcpy(s->local, l->win + (size_t)done[i] * XB_SLOT_BYTES, s->len);
		if (s->status && !x->status)
			x->status = s->status;
		s->busy = s->answered = false;
		if (--x->tp_inflight == 0 && !x->tp_queued)
			idc__xfer_complete(l->sv->ctx, x, x->status);
	}
}

/* ------------------------------------------------------------------------ events */

static irqreturn_t ku_irq(int irq, void *dev)
{
	struct ku_link *l = dev;

	(void)irq;
	idc__kdefer(l->sv->ctx, &l->ev_defer);
	return IRQ_HANDLED;
}

/* One notification: the answer to the knock, the responses, liveness; new requests into the
   free half before the answered half is copied out, so the owner copies meanwhile. */
static void ku_ev_run(struct idc_kdefer *d)
{
	struct ku_link *l = container_of(d, struct ku_link, ev_defer);
	struct kb_svc *sv = l->sv;
	unsigned int done[XB_SLOTS], ndone;
	bool news = false;

	if (!l->up) {
		/* Acquire: pairs with the owner's release of answer after owner_live. */
		if (virt_load_acquire(&l->page->answer) == XB_ANS_OK) {
			l->up = news = true;
			idc__timer_cancel(sv->ctx, &l->knock_t);
		}
	}
	if (l->up) {
		if (!ulink_harvest(sv, l, done, &ndone))
			return; /* freed (its port unbound) */
		/* Acquire: pairs with the owner's store (or its kernel's unmap notification). */
		if (!virt_load_acquire(&l->page->owner_live)) {
			idc__log(sv->ctx, IDC_LOG_INFO, "buffer owner %016llx (domain %u) went away",
				 (unsigned long long)l->owner, l->dom);
			mark_dead(sv, l->owner);
			ulink_fail(sv, l, IDC_ERR_DISCONNECTED);
			return;
		}
		news |= ndone > 0;
		ulink_pump(l);
		ulink_copy_out(l, done, ndone);
		ulink_pump(l);
	}
	/* A notification that brought nothing counts for the kernel's storm throttle. */
	xen_irq_lateeoi(l->irq, news ? 0 : XEN_EOI_FLAG_SPURIOUS);
}

static void ku_knock_timeout(struct idc_timer *t)
{
	struct ku_link *l = t->arg;

	if (l->up)
		return;
	idc__log(l->sv->ctx, IDC_LOG_WARN, "buffer owner %016llx (domain %u): no answer in %u ms",
		 (unsigned long long)l->owner, l->dom, XB_KNOCK_MS);
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
		 (unsigned long long)l->owner, l->dom);
	mark_dead(l->sv, l->owner);
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
			 (unsigned long long)l->owner, l->dom);
		return IDC_ERR_DISCONNECTED;
	}
	irq = kx_port_open(l->dom, ku_irq, l, &l->port);
	if (irq < 0) {
		idc__log(sv->ctx, IDC_LOG_ERROR,
			 "buffer owner in domain %u: no event channel: %d", l->dom, irq);
		return IDC_ERR_DISCONNECTED;
	}
	l->irq = irq;
	l->pages = kx_pages_alloc(l->dom, XB_WIN_PAGES + 1);
	if (!l->pages) {
		idc__log(sv->ctx, IDC_LOG_ERROR, "buffer owner in domain %u: granting %u pages failed",
			 l->dom, XB_WIN_PAGES + 1);
		return IDC_ERR_NOMEM;
	}
	l->page = l->pages->mem;
	l->win = (unsigned char *)l->pages->mem + XEN_PAGE_SIZE;
	l->page->magic = XB_MAGIC;
	l->page->epoch = l->epoch;
	memcpy(l->page->refs, l->pages->refs + 1, sizeof(l->page->refs));
	/* Release: the page complete before the owner can see it live. */
	virt_store_release(&l->page->user_live, 1);
	l->watch.node = l->opath;
	l->watch.callback = ku_watch_cb;
	if (register_xenbus_watch(&l->watch)) {
		idc__log(sv->ctx, IDC_LOG_ERROR, "buffer owner %016llx: cannot watch %s",
			 (unsigned long long)l->owner, l->opath);
		return IDC_ERR_DISCONNECTED;
	}
	l->watching = true;
	snprintf(v, sizeof(v), XB_KNOCK_VALUE, l->epoch, l->pages->refs[0], l->port);
	if (xenbus_write(XBT_NIL, l->fe, l->kname, v)) {
		idc__log(sv->ctx, IDC_LOG_ERROR, "buffer owner %016llx: cannot knock at %s",
			 (unsigned long long)l->owner, l->fe);
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
	l->owner = owner;
	l->dom = owner_dom(owner);
	l->irq = -1;
	l->q_tail = &l->q_head;
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

	if (d1 == 0 || (d1 & IDC_OWNER_LOC_FABRIC) || d1 - 1 > KX_DOMID_MAX)
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
		if (l->owner == x->rb.owner)
			return l;
	if (n >= sv->lim.user) {
		/* Each link holds XB_WIN_PAGES + 1 of this domain's grant references: at the cap
		   the idle ones close, oldest (last in the list) first; when none is idle the
		   transfer must wait its turn. */
		for (l = sv->ulinks; l; l = l->next)
			if (l->up && !l->inflight && !l->q_head)
				idle = l;
		if (!idle) {
			if (idc__log_limit(&sv->logs, sv->ctx))
				idc__log(sv->ctx, IDC_LOG_WARN,
					 "%u buffer owners busy at once (IDC_BUF_USER_LINKS); "
					 "transfer refused (IDC_ERR_AGAIN)", n);
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

	l = sv && !owner_dead(sv, x->rb.owner) ? ulink_for(sv, x, &err) : NULL;
	if (!l) {
		if (err == IDC_ERR_NOMEM)
			return err; /* the core frees x */
		idc__xfer_complete(ctx, x, err);
		return 0;
	}
	x->next = NULL;
	x->tp_queued = true;
	*l->q_tail = x;
	l->q_tail = &x->next;
	if (l->up)
		ulink_pump(l);
	return 0;
}
