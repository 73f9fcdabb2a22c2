// SPDX-License-Identifier: GPL-2.0-only OR MIT
/* xenbuf.c - remote buffers in idc.ko, owner side: the memory idc_buffer_alloc hands out and
 * the buffer service that lets a user in another domain read and write this context's
 * registrations (the user side, this context moving another's bytes: xenbuf_user.c), on the wire of runtime/transports/xen/buffers.c (docs/xen-transport.md,
 * "Remote buffers"). The registrations themselves (slots, generations, keys, the checks) are
 * runtime/core/buffer.c, compiled into idc.ko as the endpoint core is.
 *
 * The owner's memory is never granted nor mapped by anyone. The first registration publishes
 * O = /local/domain/<own dom>/data/idc-rbuf/<owner id, 16 hex> and watches O/fe. A user knocks
 * with O/fe/<user dom>-<user id> = "EPOCH PAGE-REF PORT"; this side maps the user's request
 * page, binds its event channel, copies the window's grant references once, answers, and
 * from then on serves each request: one copy out of the shared page, idc__reg_check (key,
 * generation, rights, range) on every request, then one gnttab_batch_copy between the
 * registered kernel memory and the user's slot pages. Unregister revokes at once: the next
 * request for the reference answers IDC_ERR_REVOKED.
 *
 * Differences from the user-space owner, by construction of the kernel's interfaces:
 *   - the creator of a knock: the kernel's xenbus API cannot read node permissions, so the
 *     knock's creator is not checked. What a forged knock naming domain D can reach is D's
 *     own grants and ports: the page must be one D granted to this domain and carry the
 *     knock's magic and epoch, the port one D left unbound for this domain, and the data only
 *     ever goes to and from D's pages; a (dom, page) pair is served by one link at a time.
 *     The worst a forger does is spoil one of D's knocks (D knocks again with a new epoch).
 *   - owner_live: the kernel has no unmap notification on pages it maps; this side clears
 *     the byte and notifies the user itself before it unmaps (a crashed guest kernel takes
 *     the whole domain, whose nodes the toolstack removes: the user's watch on O sees it).
 *
 * Threading: everything here runs with the context's mutex held (a public call, or the
 * context's work item), except kb_irq (interrupt) and kb_watch_cb (the xenbus watch thread),
 * which only queue a deferred call. The request page is written by the peer: values are
 * copied once into private memory, then validated.
 */
#include <linux/kernel.h>
#include <linux/interrupt.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vmalloc.h>

#include <xen/events.h>
#include <xen/grant_table.h>
#include <xen/page.h>
#include <xen/xen.h>
#include <xen/xenbus.h>
#include <xen/interface/event_channel.h>
#include <asm/xen/hypercall.h>

#include "kxenbuf.h"

/* The wire (slots, request page, knock syntax): wire.h, as buffers.c speaks it. */

struct kb_svc;

/* One link per knocking user context. */
struct kb_link {
	struct kb_link *next;
	struct kb_svc *svc;
	char name[XB_NAME_MAX]; /* knock entry "<dom>-<user id hex>" */
	unsigned int dom;
	uint32_t epoch;
	uint32_t page_ref;
	bool failed;	 /* refused or dropped: wait for a new epoch */
	struct page *pg; /* the request page is mapped on it */
	grant_handle_t handle;
	struct xbo_link rq; /* the request page, its index, the window's references */
	int irq;	    /* -1: not bound */
	struct idc_kdefer ev_defer;
};

static struct kb_svc **svc_slot(struct idc_context *ctx)
{
	return (struct kb_svc **)idc__ctx_slot(ctx, &idc_ktransport_xen);
}

/* ------------------------------------------------------------------------------ memory */

int idc__kbuf_alloc(struct idc_context *ctx, struct idc_alloc *a)
{
	(void)ctx;
	/* Zeroed: a peer may read a registration before the owner wrote it. Pages of vmalloc'd
	   memory are found with vmalloc_to_page when copying. */
	a->mem = kvzalloc(a->len, GFP_KERNEL);
	return a->mem ? 0 : IDC_ERR_NOMEM;
}

void idc__kbuf_free(struct idc_context *ctx, struct idc_alloc *a)
{
	(void)ctx;
	kvfree(a->mem);
	a->mem = NULL;
}

/* Nothing to seal: no one maps the memory, rights are checked on every request. */
int idc__kbuf_seal_ro(struct idc_context *ctx, struct idc_alloc *a)
{
	(void)ctx;
	(void)a;
	return 0;
}

/* The frame of the Xen page holding byte p of a kvmalloc'd buffer. */
static unsigned long kb_gfn(const unsigned char *p)
{
	struct page *page = is_vmalloc_addr(p) ? vmalloc_to_page(p) : virt_to_page(p);

	return pfn_to_gfn(page_to_xen_pfn(page) + (offset_in_page(p) >> XEN_PAGE_SHIFT));
}

/* --------------------------------------------------------------------------- parsing */

/* The knock's value "EPOCH REF PORT" (bounded, strictly parsed); false when absent or bad. */
static bool knock_value(struct kb_svc *sv, const char *name, uint32_t v[3])
{
	char b[48];

	return kx_read(sv->fe, name, b, sizeof(b)) == 0 && xb_knock_value(b, v);
}

/* ------------------------------------------------------------------------------ links */

static void kb_ev_run(struct idc_kdefer *d);

static irqreturn_t kb_irq(int irq, void *dev)
{
	struct kb_link *l = dev;

	(void)irq;
	idc__kdefer(l->svc->ctx, &l->ev_defer);
	return IRQ_HANDLED;
}

/* Drops the link (its knock stays refused until its epoch changes); why: the reason to log
   (NULL: the user went away, nothing to tell). */
static void link_drop(struct kb_svc *sv, struct kb_link *l, const char *why)
{
	struct gnttab_unmap_grant_ref op;

	if (why && idc__log_limit(&sv->logs, sv->ctx))
		idc__log(sv->ctx, IDC_LOG_WARN,
			 "buffer service: dropping the link of %s (domain %u): %s", l->name, l->dom,
			 why);
	if (l->rq.page) {
		/* What the user-space owner's unmap notification does: owner_live cleared, then
		   the user told. Release: every response written before it. */
		virt_store_release(&l->rq.page->owner_live, 0);
		if (l->irq >= 0)
			notify_remote_via_irq(l->irq);
		gnttab_set_unmap_op(&op, (unsigned long)pfn_to_kaddr(page_to_pfn(l->pg)),
				    GNTMAP_host_map, l->handle);
		if (gnttab_unmap_refs(&op, NULL, &l->pg, 1) || op.status != GNTST_okay) {
			/* Leaked rather than reused while the peer's frame may still be there. */
			pr_warn("idc: buffer service: cannot unmap the request page of %s\n",
				l->name);
		} else {
			idc__kgrants_add(-1);
			gnttab_free_pages(1, &l->pg);
		}
		l->pg = NULL;
		l->rq.page = NULL;
	}
	if (l->irq >= 0) {
		unbind_from_irqhandler(l->irq, l); /* closes the port; waits for the handler */
		l->irq = -1;
	}
	idc__kdefer_cancel(sv->ctx, &l->ev_defer);
	l->failed = true;
}

static void link_free(struct kb_svc *sv, struct kb_link *l)
{
	struct kb_link **pp;

	link_drop(sv, l, NULL);
	for (pp = &sv->links; *pp; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			sv->nlinks--;
			break;
		}
	kfree(l);
}

/* xbo_ops for xbowner.c: the segments of one request, each within one slot page and one page
   of the (kvmalloc'd, so not contiguous) local memory. */
static uint32_t kb_segs(void *arg, void *link, bool read, const uint32_t *refs, unsigned char *addr,
			uint32_t len, uint32_t first)
{
	struct kb_svc *sv = arg;
	struct kb_link *l = link;
	uint32_t done = 0, n = 0;

	while (done < len) {
		struct gnttab_copy *g = &sv->seg[first + n++];
		uint32_t roff = done % XEN_PAGE_SIZE;
		uint32_t loff = (uint32_t)((uintptr_t)(addr + done) & (XEN_PAGE_SIZE - 1));
		uint32_t k = len - done;
		uint32_t ref = refs[done / XEN_PAGE_SIZE];

		k = min_t(uint32_t, k, XEN_PAGE_SIZE - roff);
		k = min_t(uint32_t, k, XEN_PAGE_SIZE - loff);
		memset(g, 0, sizeof(*g));
		g->len = (uint16_t)k;
		if (read) {
			g->source.u.gmfn = kb_gfn(addr + done);
			g->source.domid = DOMID_SELF;
			g->source.offset = (uint16_t)loff;
			g->dest.u.ref = ref;
			g->dest.domid = (domid_t)l->dom;
			g->dest.offset = (uint16_t)roff;
			g->flags = GNTCOPY_dest_gref;
		} else {
			g->source.u.ref = ref;
			g->source.domid = (domid_t)l->dom;
			g->source.offset = (uint16_t)roff;
			g->dest.u.gmfn = kb_gfn(addr + done);
			g->dest.domid = DOMID_SELF;
			g->dest.offset = (uint16_t)loff;
			g->flags = GNTCOPY_source_gref;
		}
		done += k;
	}
	return n;
}

static bool kb_copy(void *arg, void *link, uint32_t nseg)
{
	struct kb_svc *sv = arg;

	(void)link;
	gnttab_batch_copy(sv->seg, nseg);
	return true; /* each segment says how it went */
}

static bool kb_seg_ok(void *arg, void *link, uint32_t k)
{
	struct kb_svc *sv = arg;

	if (sv->seg[k].status == GNTST_okay)
		return true;
	idc__log(sv->ctx, IDC_LOG_DEBUG, "buffer service: grant copy for %s: status %d",
		 ((struct kb_link *)link)->name, sv->seg[k].status);
	return false;
}

static void kb_notify(void *arg, void *link)
{
	(void)arg;
	notify_remote_via_irq(((struct kb_link *)link)->irq);
}

static void kb_drop(void *arg, void *link, const char *why)
{
	link_drop(arg, link, why);
}

static const struct xbo_ops kb_ops = {
	.segs = kb_segs,
	.copy = kb_copy,
	.seg_ok = kb_seg_ok,
	.notify = kb_notify,
	.drop = kb_drop,
};

/* One notification: the requests, then liveness; then the late EOI unmasks the port. */
static void kb_ev_run(struct idc_kdefer *d)
{
	struct kb_link *l = container_of(d, struct kb_link, ev_defer);
	struct kb_svc *sv = l->svc;

	if (l->rq.page)
		xbo_serve(&sv->batch, &l->rq, l);
	/* Acquire: pairs with the user's (or its kernel's unmap notification's) store. */
	if (l->rq.page && !virt_load_acquire(&l->rq.page->user_live))
		link_drop(sv, l, NULL); /* the user closed the link or its process died */
	if (l->irq >= 0)
		xen_irq_lateeoi(l->irq, 0);
}

static struct kb_link *link_find(struct kb_svc *sv, const char *name)
{
	struct kb_link *l;

	for (l = sv->links; l; l = l->next)
		if (!strcmp(l->name, name))
			return l;
	return NULL;
}

/* Binds the user's port (kx_port_bind): 0 or a negative errno. */
static int link_bind(struct kb_link *l, uint32_t port)
{
	evtchn_port_t local;
	int irq = kx_port_bind(l->dom, port, kb_irq, l, &local);

	if (irq < 0)
		return irq;
	l->irq = irq;
	return 0;
}

/* Maps the user's request page: 0 or a negative errno. */
static int link_map(struct kb_link *l, uint32_t ref)
{
	struct gnttab_map_grant_ref op;

	if (gnttab_alloc_pages(1, &l->pg)) {
		l->pg = NULL;
		return -ENOMEM;
	}
	gnttab_set_map_op(&op, (unsigned long)pfn_to_kaddr(page_to_pfn(l->pg)), GNTMAP_host_map,
			  ref, (domid_t)l->dom);
	if (gnttab_map_refs(&op, NULL, &l->pg, 1) || op.status != GNTST_okay) {
		gnttab_free_pages(1, &l->pg);
		l->pg = NULL;
		return -EIO;
	}
	l->handle = op.handle;
	idc__kgrants_add(1);
	l->rq.page = pfn_to_kaddr(page_to_pfn(l->pg));
	return 0;
}

static void refuse_log(struct kb_svc *sv, const char *name, unsigned int mine, unsigned int d)
{
	if (idc__log_limit(&sv->logs, sv->ctx))
		idc__log(sv->ctx, IDC_LOG_WARN,
			 "buffer service: refusing %s (%u links, %u of them from domain %u; at "
			 "most %u, %u per domain)",
			 name, sv->nlinks, mine, d, sv->lim.owner, sv->lim.per_peer);
}

/* A knock entry appeared, changed or vanished. */
static void own_knock(struct kb_svc *sv, const char *name)
{
	struct kb_link *l, *o;
	unsigned int d, mine = 0;
	uint32_t v[3];
	struct {
		uint8_t user_live, owner_live, pad[2];
		uint32_t magic, epoch, answer, req_prod, rsp_prod;
	} h;

	if (strlen(name) >= XB_NAME_MAX ||
	    !xb_knock_name(name, XEN_DOMID_MAX, IDC_OWNER_LOC_SHIFT, &d))
		return;
	l = link_find(sv, name);
	if (!knock_value(sv, name, v)) {
		if (l)
			link_free(sv, l); /* withdrawn (or not complete yet) */
		return;
	}
	if (l && l->epoch == v[0])
		return; /* the link we serve (or refused) */
	if (l)
		link_free(sv, l);
	for (o = sv->links; o; o = o->next) {
		mine += o->dom == d;
		if (o->dom == d && o->page_ref == v[1] && o->rq.page) {
			if (idc__log_limit(&sv->logs, sv->ctx))
				idc__log(sv->ctx, IDC_LOG_WARN,
					 "buffer service: refusing %s: its page is served for %s",
					 name, o->name);
			return;
		}
	}
	if (sv->nlinks >= sv->lim.owner || mine >= sv->lim.per_peer) {
		refuse_log(sv, name, mine, d);
		return;
	}
	l = kzalloc(sizeof(*l), GFP_KERNEL);
	if (!l)
		return;
	strscpy(l->name, name, sizeof(l->name));
	l->svc = sv;
	l->dom = d;
	l->epoch = v[0];
	l->page_ref = v[1];
	l->irq = -1;
	l->ev_defer.fn = kb_ev_run;
	l->next = sv->links;
	sv->links = l;
	sv->nlinks++;
	if (link_bind(l, v[2])) {
		link_drop(sv, l, "cannot bind its event channel");
		return;
	}
	if (link_map(l, v[1])) {
		link_drop(sv, l, "cannot map its request page");
		return;
	}
	/* One copy of the header and of the references, then validation. */
	memcpy(&h, l->rq.page, sizeof(h));
	memcpy(l->rq.refs, l->rq.page->refs, sizeof(l->rq.refs));
	if (h.magic != XB_MAGIC || h.epoch != l->epoch || !h.user_live || h.req_prod != 0) {
		link_drop(sv, l, "request page does not match the knock");
		return;
	}
	l->rq.req_cons = 0;
	WRITE_ONCE(l->rq.page->owner_live, 1);
	/* Release: owner_live before the answer the user acts on. */
	virt_store_release(&l->rq.page->answer, XB_ANS_OK);
	notify_remote_via_irq(l->irq);
	idc__log(sv->ctx, IDC_LOG_DEBUG, "buffer service: serving %s (domain %u)", name, d);
}

static void own_scan(struct kb_svc *sv)
{
	struct kb_link *l, *next;
	unsigned int n = 0, i;
	char **ents = xenbus_directory(XBT_NIL, sv->fe, "", &n);

	if (IS_ERR(ents)) {
		ents = NULL;
		n = 0;
	}
	/* Links whose knock is gone: the user withdrew. */
	for (l = sv->links; l; l = next) {
		bool found = false;

		next = l->next;
		for (i = 0; i < n && !found; i++)
			found = !strcmp(ents[i], l->name);
		if (!found)
			link_free(sv, l);
	}
	for (i = 0; i < n && i < XB_MAX_KNOCKS; i++)
		own_knock(sv, ents[i]);
	kfree(ents);
}

static void kb_watch_cb(struct xenbus_watch *w, const char *path, const char *token)
{
	struct kb_svc *sv = container_of(w, struct kb_svc, watch);

	(void)path;
	(void)token;
	idc__kdefer(sv->ctx, &sv->watch_defer);
}

static void kb_watch_run(struct idc_kdefer *d)
{
	own_scan(container_of(d, struct kb_svc, watch_defer));
}

/* ---------------------------------------------------------------------- the service */

/* O {state = 2} and O/fe, in one transaction. The kernel's xenbus API sets no permissions:
   the nodes take what xenstored gives a guest's new node (see docs/kernel.md). */
static int publish_nodes(struct kb_svc *sv)
{
	struct xenbus_transaction t;
	int tries, err = 0;

	for (tries = 0; tries < 8; tries++) {
		if (xenbus_transaction_start(&t))
			return -EIO;
		xenbus_rm(t, sv->opath, "");
		err = xenbus_mkdir(t, sv->opath, "");
		if (!err)
			err = xenbus_mkdir(t, sv->fe, "");
		if (!err)
			err = xenbus_write(t, sv->opath, "state", "2");
		if (err) {
			xenbus_transaction_end(t, 1);
			return err;
		}
		err = xenbus_transaction_end(t, 0);
		if (err != -EAGAIN)
			return err;
	}
	return err;
}

struct kb_svc *kb_svc_open(struct idc_context *ctx)
{
	struct kb_svc **slot = svc_slot(ctx);
	struct kb_svc *sv = *slot;
	unsigned int self;

	if (sv || !xen_domain())
		return sv;
	if (xenbus_scanf(XBT_NIL, "domid", "", "%u", &self) != 1 || self > XEN_DOMID_MAX) {
		idc__log(ctx, IDC_LOG_ERROR,
			 "remote buffers over Xen: cannot read this domain's id");
		return NULL;
	}
	sv = kzalloc(sizeof(*sv), GFP_KERNEL);
	if (!sv)
		return NULL;
	sv->ctx = ctx;
	sv->self = self;
	sv->lim = idc__buf_limits(XB_USER_LINKS);
	sv->batch.ctx = ctx;
	sv->batch.ops = &kb_ops;
	sv->batch.arg = sv;
	sv->watch_defer.fn = kb_watch_run;
	/* The owner id names this domain, as a user-space context's does: users find O by it,
	   owners check a knock's name by it. */
	idc__ctx_set_locator(ctx, (uint16_t)(self + 1));
	*slot = sv;
	return sv;
}

int idc__kbuf_publish(struct idc_context *ctx)
{
	struct kb_svc *sv;
	int err;

	if (!xen_domain())
		return IDC_ERR_NOTSUP;
	sv = kb_svc_open(ctx);
	if (!sv)
		return IDC_ERR_IO;
	if (sv->watching)
		return 0;
	snprintf(sv->opath, sizeof(sv->opath), XB_OPATH_FMT, sv->self,
		 (unsigned long long)idc_context_id(ctx));
	snprintf(sv->fe, sizeof(sv->fe), "%s/fe", sv->opath);
	err = publish_nodes(sv);
	if (err) {
		idc__log(ctx, IDC_LOG_ERROR, "remote buffers over Xen: cannot publish %s: %d",
			 sv->opath, err);
		return IDC_ERR_IO;
	}
	sv->watch.node = sv->fe;
	sv->watch.callback = kb_watch_cb;
	if (register_xenbus_watch(&sv->watch)) {
		idc__log(ctx, IDC_LOG_ERROR, "remote buffers over Xen: cannot watch %s", sv->fe);
		xenbus_rm(XBT_NIL, sv->opath, "");
		return IDC_ERR_IO;
	}
	sv->watching = true;
	return 0;
}

/* The context goes away (its mutex held): its transfers fail, every link is unmapped and
   unbound, O removed. */
void idc__kbuf_withdraw(struct idc_context *ctx)
{
	struct kb_svc **slot = svc_slot(ctx);
	struct kb_svc *sv = *slot;

	if (!sv)
		return;
	ku_withdraw(sv);
	if (sv->watching) {
		unregister_xenbus_watch(&sv->watch); /* waits for a running callback */
		xenbus_rm(XBT_NIL, sv->opath, "");
	}
	idc__kdefer_cancel(ctx, &sv->watch_defer);
	while (sv->links)
		link_free(sv, sv->links);
	*slot = NULL;
	kfree(sv);
}
