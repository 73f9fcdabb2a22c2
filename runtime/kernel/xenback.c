// SPDX-License-Identifier: GPL-2.0-only OR MIT
/* xenback.c - the xen transport in the kernel, backend side: "xen:NAME[?allow=D,...]" served
 * by a module, with the same xenstore layout, knock, answers, control page and rings as the
 * user-space backend (runtime/transports/xen/channel.c, docs/xen-transport.md, docs/protocol.md
 * section 6), so a user-space frontend (libidc's xen transport, in dom0 say) connects to it.
 *
 * The flow, as in user space: publish the service node B (keys, instance, state InitWait), watch
 * B/fe for knocks; for a knock, read the frontend's request F, check it (instance, allow list,
 * protocol, version and hash, limits), bind its event channel, map its control page, copy the
 * page once and check it against F, map the ring pages it names, set be_live, answer
 * B/conn/<fe>-<id> = Connected and hand the rings to the endpoint core. One frontend at a time
 * (the service is exclusive): others are refused as busy, or acknowledged while the driver has
 * not finished the last disconnect. A link goes down when the frontend clears fe_live (its
 * gntalloc unmap notification: it closed or its process died), when its F changes or goes away
 * (closed, withdrawn, its domain destroyed: the toolstack removes its tree), on a storm, or when
 * the core closes it; the close writes K's state Closed first, then clears be_live and notifies
 * (the kernel has no unmap notification for its own mappings: this side does it by hand).
 *
 * Differences from the user-space backend, by construction of the kernel's interfaces:
 *   - permissions: the kernel's xenbus API cannot set node permissions, so B, B/fe and the
 *     answers keep those xenstored gives this domain's nodes (this domain only): only a
 *     privileged domain (dom0) can read the service and knock. The knock's owner is therefore
 *     not checked (nobody else can write there), and allow= is checked against the knock's name.
 *   - no owner node O (the reservation for the frontend of a previous instance).
 *   - the ring size a frontend asks is bounded by this side's own offer (every frontend of idc
 *     asks exactly what the negotiated limits need), so a peer cannot make us map more.
 *
 * Mapping: a PV guest cannot map a foreign frame through an ordinary page-table entry; as
 * xenbus_map_ring_valloc does for PV, the grants are mapped straight into the page-table entries
 * of a kernel virtual area (GNTMAP_contains_pte). The area is made with vmap of a scratch page
 * as PAGE_NONE (get_vm_area is not exported to modules), its entries found with lookup_address.
 * An auto-translated guest (PVH, HVM, Arm) maps into unpopulated pages and vmaps them, as
 * xenbus_map_ring_hvm does.
 *
 * Threading: every function here runs in the context's work item or in a public call, with
 * the context's mutex held (kcontext.h), except kb_irq (interrupt) and kb_watch_cb (the xenbus
 * watch thread), which only queue a deferred call.
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
#include <xen/interface/grant_table.h>
#include <xen/interface/io/xenbus.h>
#include <asm/xen/hypercall.h>

#include "addr.h"
#include "kxen.h"

#define KB_SCAN_MAX 4096u /* knock entries looked at per scan */

enum kb_hs { KB_IDLE = 0, KB_UP };

/* Grants of the frontend mapped contiguously at mem. */
struct kb_map {
	uint32_t n;
	void *mem;
	struct page *scratch; /* PV: the page the area was made with */
	struct page **pages;  /* auto-translated: unpopulated pages */
	uint64_t *addrs;      /* PV: machine address of each entry; else the kernel address */
	grant_handle_t *handles;
	bool *mapped;
};

struct kb_ep {
	struct idc_link *link;
	uint32_t self, peer, fid, instance, epoch, skip_epoch;
	uint64_t skip_fk;
	struct xen_addr addr; /* ep->name, parsed */
	bool skip_valid, watching_b, watching_f, masked;
	enum kb_hs hs;
	int irq; /* -1: none */
	evtchn_port_t port;
	struct xen_ctrl_page *ctrl; /* in cmap: the peer writes it too */
	struct kb_map *cmap, *rmap;
	struct idc_chan ch;
	struct idc_timer unmask;
	struct idc_storm storm;
	struct idc_log_limit logs;  /* refusals and busy answers: the peer triggers them */
	struct xenbus_watch wb, wf; /* B/fe; the connected frontend's F */
	struct idc_kdefer ev_defer, scan_defer;
};

static_assert(sizeof(struct kb_ep) <= sizeof_field(struct idc_link, priv), "kb_ep fits");

static struct kb_ep *X(struct idc_link *ep)
{
	return IDC_LINK_PRIV(struct kb_ep, ep);
}

static void be_scan(struct idc_link *ep);

/* ------------------------------------------------------------------------------ paths */

/* A frontend endpoint: its domain and id packed in one "fk" (wire.h's xen_fk). */

static const char *svc(struct idc_link *ep, char *buf)
{
	return xen_addr_service(ep->name, &X(ep)->addr, buf);
}

/* B, B/<sub> */
static void path_b(struct idc_link *ep, char *out, const char *sub)
{
	char s[IDC_NAME_MAX + 1];

	xen_path_b(out, X(ep)->self, svc(ep, s), sub);
}

/* F of frontend fk (addr.h) */
static void path_f(struct idc_link *ep, uint64_t fk, char *out)
{
	char s[IDC_NAME_MAX + 1];

	xen_path_f(out, X(ep)->self, svc(ep, s), fk, NULL);
}

/* B/conn/<fe>-<id> or B/fe/<fe>-<id> (addr.h) */
static void path_k(struct idc_link *ep, uint64_t fk, const char *dir, char *out)
{
	char s[IDC_NAME_MAX + 1];

	xen_path_k(out, X(ep)->self, svc(ep, s), dir, fk, NULL);
}

/* ---------------------------------------------------------------------------- mapping */

static void map_free(struct kb_map *m)
{
	struct gnttab_unmap_grant_ref *u;
	uint32_t i, k = 0;
	bool pv = !xen_feature(XENFEAT_auto_translated_physmap);

	if (!m)
		return;
	u = m->mapped ? kcalloc(m->n, sizeof(*u), GFP_KERNEL) : NULL;
	if (m->mapped && !u) {
		/* Nothing to unmap with: leak the area rather than free mapped memory. */
		pr_warn("idc: cannot allocate the unmap of %u granted pages: leaked\n", m->n);
		return;
	}
	for (i = 0; m->mapped && i < m->n; i++)
		if (m->mapped[i])
			gnttab_set_unmap_op(&u[k++], m->addrs[i],
					    GNTMAP_host_map | (pv ? GNTMAP_contains_pte : 0),
					    m->handles[i]);
	if (pv && m->mem)
		if (k && HYPERVISOR_grant_table_op(GNTTABOP_unmap_grant_ref, u, k))
			pr_warn("idc: unmapping %u granted pages failed\n", k);
	if (m->mem)
		vunmap(m->mem);
	if (!pv && k && HYPERVISOR_grant_table_op(GNTTABOP_unmap_grant_ref, u, k))
		pr_warn("idc: unmapping %u granted pages failed\n", k);
	for (i = 0; i < k; i++) {
		if (u[i].status != GNTST_okay)
			pr_warn("idc: unmapping a granted page: status %d\n", u[i].status);
		else
			idc__kgrants_add(-1);
	}
	kfree(u);
	if (m->scratch)
		__free_page(m->scratch);
	if (m->pages) {
		if (m->pages[0])
			xen_free_unpopulated_pages(m->n, m->pages);
		kfree(m->pages);
	}
	kfree(m->addrs);
	kfree(m->handles);
	kfree(m->mapped);
	kfree(m);
}

#ifdef CONFIG_XEN_PV
/* PV: a kernel area whose page-table entries the grants are mapped into. */
static int map_area_pv(struct kb_map *m)
{
	struct page **tmp;
	unsigned int level;
	uint32_t i;
	pte_t *pte;

	m->scratch = alloc_page(GFP_KERNEL);
	tmp = kcalloc(m->n, sizeof(*tmp), GFP_KERNEL);
	if (!m->scratch || !tmp) {
		kfree(tmp);
		return IDC_ERR_NOMEM;
	}
	for (i = 0; i < m->n; i++)
		tmp[i] = m->scratch;
	/* Not present until the grants replace the entries. */
	m->mem = vmap(tmp, m->n, VM_MAP, PAGE_NONE);
	kfree(tmp);
	if (!m->mem)
		return IDC_ERR_NOMEM;
	for (i = 0; i < m->n; i++) {
		pte = lookup_address((unsigned long)m->mem + (unsigned long)i * PAGE_SIZE, &level);
		if (!pte || level != PG_LEVEL_4K)
			return IDC_ERR_IO;
		m->addrs[i] = arbitrary_virt_to_machine(pte).maddr;
	}
	return 0;
}
#else
static int map_area_pv(struct kb_map *m)
{
	(void)m;
	return IDC_ERR_NOTSUP;
}
#endif

/* Auto-translated: unpopulated pages the grants are mapped at, vmapped afterwards. */
static int map_area_hvm(struct kb_map *m)
{
	uint32_t i;

	m->pages = kcalloc(m->n, sizeof(*m->pages), GFP_KERNEL);
	if (!m->pages)
		return IDC_ERR_NOMEM;
	if (xen_alloc_unpopulated_pages(m->n, m->pages)) {
		m->pages[0] = NULL;
		return IDC_ERR_NOMEM;
	}
	for (i = 0; i < m->n; i++)
		m->addrs[i] = (uint64_t)(unsigned long)pfn_to_kaddr(page_to_xen_pfn(m->pages[i]));
	return 0;
}

/* n grants of dom mapped contiguously; NULL on failure (*why says which). */
static struct kb_map *map_grants(uint32_t dom, const uint32_t *refs, uint32_t n, const char **why)
{
	struct gnttab_map_grant_ref *op = NULL;
	bool pv = !xen_feature(XENFEAT_auto_translated_physmap);
	struct kb_map *m = kzalloc(sizeof(*m), GFP_KERNEL);
	uint32_t i;
	int r;

	*why = "out of memory";
	if (!m)
		return NULL;
	m->n = n;
	m->addrs = kcalloc(n, sizeof(*m->addrs), GFP_KERNEL);
	m->handles = kcalloc(n, sizeof(*m->handles), GFP_KERNEL);
	m->mapped = kcalloc(n, sizeof(*m->mapped), GFP_KERNEL);
	op = kcalloc(n, sizeof(*op), GFP_KERNEL);
	if (!m->addrs || !m->handles || !m->mapped || !op)
		goto err;
	r = pv ? map_area_pv(m) : map_area_hvm(m);
	if (r) {
		*why = r == IDC_ERR_NOMEM ? "out of memory" : "no kernel area for the mapping";
		goto err;
	}
	for (i = 0; i < n; i++)
		gnttab_set_map_op(&op[i], m->addrs[i],
				  GNTMAP_host_map | (pv ? GNTMAP_contains_pte : 0), refs[i],
				  (domid_t)dom);
	gnttab_batch_map(op, n);
	*why = NULL;
	for (i = 0; i < n; i++) {
		if (op[i].status == GNTST_okay) {
			m->mapped[i] = true;
			m->handles[i] = op[i].handle;
			idc__kgrants_add(1);
		} else {
			*why = "the hypervisor refused a grant";
		}
	}
	if (*why)
		goto err;
	if (!pv) {
		m->mem = vmap(m->pages, n, VM_MAP, PAGE_KERNEL);
		if (!m->mem) {
			*why = "out of memory";
			goto err;
		}
	}
	kfree(op);
	return m;
err:
	kfree(op);
	map_free(m);
	return NULL;
}

/* ---------------------------------------------------------------------- event channel */

static irqreturn_t kb_irq(int irq, void *dev)
{
	struct kb_ep *s = dev;

	(void)irq;
	idc__kdefer(s->link->ctx, &s->ev_defer);
	return IRQ_HANDLED;
}

/* The frontend's port, bound here to kb_irq (kx_port_bind); 0 or IDC_ERR_IO. */
static int port_bind(struct kb_ep *s, uint32_t dom, uint32_t remote)
{
	int irq = kx_port_bind(dom, remote, kb_irq, s, &s->port);

	if (irq < 0)
		return IDC_ERR_IO;
	s->irq = irq;
	return 0;
}

/* -------------------------------------------------------------------- channel teardown */

static void kb_watch_f_cb(struct xenbus_watch *w, const char *path, const char *token);

static void unwatch_f(struct kb_ep *s)
{
	if (s->watching_f)
		unregister_xenbus_watch(&s->wf); /* waits for a running callback */
	s->watching_f = false;
	kfree(s->wf.node);
	s->wf.node = NULL;
}

static void chan_release(struct idc_link *ep)
{
	struct kb_ep *s = X(ep);

	idc__timer_cancel(ep->ctx, &s->unmask);
	s->masked = false;
	if (s->ctrl) {
		/* The frontend must read our close after anything we published on the rings. */
		virt_store_release(&s->ctrl->be_live, 0);
		if (s->irq >= 0)
			notify_remote_via_evtchn(s->port);
	}
	if (s->irq >= 0)
		unbind_from_irqhandler(s->irq,
				       s); /* waits for a running handler; closes the port */
	s->irq = -1;
	idc__kdefer_cancel(ep->ctx, &s->ev_defer);
	map_free(s->rmap);
	s->rmap = NULL;
	map_free(s->cmap);
	s->cmap = NULL;
	s->ctrl = NULL;
	unwatch_f(s);
	s->hs = KB_IDLE;
}

/* ------------------------------------------------------------------------- answers */

/* The answer to frontend fk, in one transaction: K = B/conn/<fe>-<id> made anew,
   {epoch, [status = -status] [reason] or [seen], state last}. 0 or IDC_ERR_IO. */
struct be_answer_keys {
	const char *k, *text;
	uint32_t epoch;
	int state, status;
};

static int be_answer_body(struct xenbus_transaction xbt, void *arg)
{
	const struct be_answer_keys *a = arg;
	int r;

	xenbus_rm(xbt, a->k, "");
	r = xenbus_printf(xbt, a->k, "epoch", "%u", a->epoch);
	if (!r && a->state == XenbusStateClosed)
		r = xenbus_printf(xbt, a->k, "status", "%d", -a->status);
	if (!r && a->text)
		r = xenbus_printf(xbt, a->k, a->state == XenbusStateClosed ? "reason" : "seen",
				  "%s", a->text);
	if (!r)
		r = xenbus_printf(xbt, a->k, "state", "%d", a->state);
	return r ? IDC_ERR_IO : 0;
}

static int be_answer(struct idc_link *ep, uint64_t fk, uint32_t epoch, int state, int status,
		     const char *text)
{
	char k[XEN_PATH_MAX];
	struct be_answer_keys a = {k, text, epoch, state, status};

	path_k(ep, fk, "conn", k);
	return kx_txn(be_answer_body, &a);
}

static __printf(5, 6) void be_refuse(struct idc_link *ep, uint64_t fk, uint32_t epoch, int status,
				     const char *fmt, ...)
{
	struct kb_ep *s = X(ep);
	char reason[161];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (idc__log_limit(&s->logs, ep->ctx))
		idc__log(ep->ctx, IDC_LOG_ERROR, "%s: refusing domain %u: %s (%s)", ep->address,
			 xen_fk_dom(fk), reason, idc_strerror(status));
	s->skip_fk = fk;
	s->skip_epoch = epoch;
	s->skip_valid = true;
	be_answer(ep, fk, epoch, XenbusStateClosed, status, reason);
}

/* ------------------------------------------------------------------------- channel up */

static int chan_up(struct idc_link *ep)
{
	struct kb_ep *s = X(ep);
	unsigned char *r0 = s->rmap->mem;
	int r;

	s->ch.rx_mem = r0; /* ring 0: frontend -> backend */
	s->ch.tx_mem = r0 + idc_ring_bytes(s->ch.tx_size);
	s->hs = KB_UP;
	idc__link_peer(ep, "domid=%u", s->peer);
	r = idc__link_up(ep, &s->ch);
	idc__storm_reset(&s->storm, ep);
	if (r < 0)
		idc__log(ep->ctx, IDC_LOG_ERROR, "%s: cannot bring the channel up: %s", ep->address,
			 idc_strerror(r));
	return r;
}

/* F's keys of a connection request, read and checked against our offer. */
struct be_req {
	uint32_t epoch, v, frame, tx, msg, ring, np, cref, port;
};

/* 0, 1 (not a request: nothing to answer) or the refusal's status with its reason. */
static int be_read_request(struct idc_link *ep, uint64_t fk, struct be_req *q, char *why,
			   size_t why_len)
{
	const struct idc_protocol *pr = ep->proto;
	struct kb_ep *s = X(ep);
	char f[XEN_PATH_MAX], val[IDC_PROTOCOL_NAME_MAX + 18];
	uint32_t st, inst, ring_max;
	uint64_t h;

	path_f(ep, fk, f);
	if (kx_read_u32(f, "state", 6, &st) || st != XenbusStateInitialised ||
	    kx_read_u32(f, "epoch", 0x7fffffffu, &q->epoch) || q->epoch == 0)
		return 1;
	if (s->skip_valid && s->skip_fk == fk && s->skip_epoch == q->epoch)
		return 1; /* already refused or closed: wait for a new attempt */
	if (kx_read_u32(f, "be-instance", 0x7fffffffu, &inst) || inst != s->instance) {
		snprintf(why, why_len, "request addressed to another instance");
		return IDC_ERR_DISCONNECTED;
	}
	if (!xen_addr_allows(&s->addr, xen_fk_dom(fk))) {
		snprintf(why, why_len, "domain %u not allowed by the service's policy",
			 xen_fk_dom(fk));
		return IDC_ERR_PERM;
	}
	if (kx_read(f, "protocol", val, IDC_PROTOCOL_NAME_MAX + 1) || strcmp(val, pr->name)) {
		snprintf(why, why_len, "protocol requested is not '%s'", pr->name);
		return IDC_ERR_MISMATCH;
	}
	if (kx_read_u32(f, "version", 0xffffffffu, &q->v) || q->v < pr->min_version ||
	    q->v > pr->max_version || kx_read(f, "version-hash", val, 17) ||
	    !kx_parse_hashes(val, &h, 1) || h != pr->version_hash[q->v - pr->min_version]) {
		snprintf(why, why_len, "version or IDL hash not served");
		return IDC_ERR_MISMATCH;
	}
	/* The largest ring our own offer can need: a peer cannot make us map more. */
	ring_max = idc_ring_size_for(ep->max_msg + 2 * ep->max_tx, ep->max_frame);
	if (kx_read_u32(f, "max-frame", ep->max_frame, &q->frame) || q->frame < IDC_MIN_FRAME ||
	    kx_read_u32(f, "max-transactions", ep->max_tx, &q->tx) || q->tx == 0 ||
	    kx_read_u32(f, "max-messages", ep->max_msg, &q->msg) || q->msg == 0 ||
	    kx_read_u32(f, "ring-size", IDC_RING_MAX_SIZE, &q->ring) ||
	    q->ring < IDC_RING_MIN_SIZE || (q->ring & (q->ring - 1)) || q->ring > ring_max ||
	    idc_ring_size_for(q->msg + 2 * q->tx, q->frame) == 0 ||
	    idc_ring_size_for(q->msg + 2 * q->tx, q->frame) > q->ring ||
	    kx_read_u32(f, "ring-pages", XEN_CTRL_MAX_REFS, &q->np) ||
	    q->np != DIV_ROUND_UP(2 * idc_ring_bytes(q->ring), XEN_PAGE) ||
	    kx_read_u32(f, "ctrl-ref", 0xffffffffu, &q->cref) ||
	    kx_read_u32(f, "event-channel", 0xffffffffu, &q->port)) {
		snprintf(why, why_len, "connection keys missing or out of range");
		return IDC_ERR_PROTO;
	}
	return 0;
}

/* The control page, copied once and checked against F's keys; the ring pages mapped from the
   copy's references. 0 or the refusal's status with its reason. */
static int be_map(struct idc_link *ep, const struct be_req *q, char *why, size_t why_len)
{
	struct kb_ep *s = X(ep);
	struct xen_ctrl_page *cp;
	const char *err;
	uint32_t cref = q->cref;

	s->cmap = map_grants(s->peer, &cref, 1, &err);
	if (!s->cmap) {
		snprintf(why, why_len, "cannot map the control page (ref %u): %s", q->cref, err);
		return IDC_ERR_IO;
	}
	s->ctrl = s->cmap->mem;
	cp = kmalloc(sizeof(*cp), GFP_KERNEL);
	if (!cp) {
		snprintf(why, why_len, "out of memory");
		return IDC_ERR_NOMEM;
	}
	memcpy(cp, s->ctrl, sizeof(*cp));
	if (cp->magic != XEN_CTRL_MAGIC || cp->ring_size != q->ring || cp->nrefs != q->np ||
	    cp->epoch != q->epoch || !cp->fe_live) {
		kfree(cp);
		snprintf(why, why_len, "control page does not match the xenstore keys");
		return IDC_ERR_PROTO;
	}
	s->rmap = map_grants(s->peer, cp->refs, q->np, &err);
	kfree(cp);
	if (!s->rmap) {
		snprintf(why, why_len, "cannot map %u ring pages: %s", q->np, err);
		return IDC_ERR_IO;
	}
	return 0;
}

/* Try to accept frontend fk; true if a connection came up. */
static bool be_connect(struct idc_link *ep, uint64_t fk)
{
	struct kb_ep *s = X(ep);
	char why[161], f[XEN_PATH_MAX];
	struct be_req q;
	int r;

	r = be_read_request(ep, fk, &q, why, sizeof(why));
	if (r == 1)
		return false;
	if (r) {
		be_refuse(ep, fk, q.epoch, r, "%s", why);
		return false;
	}
	s->peer = xen_fk_dom(fk);
	s->fid = xen_fk_id(fk);
	/* Event channel first: our close notification goes through it. */
	if (port_bind(s, s->peer, q.port)) {
		be_refuse(ep, fk, q.epoch, IDC_ERR_IO, "cannot bind event channel %u", q.port);
		return false;
	}
	r = be_map(ep, &q, why, sizeof(why));
	if (r) {
		chan_release(ep);
		be_refuse(ep, fk, q.epoch, r, "%s", why);
		return false;
	}
	/* The rings mapped before be_live: a frontend that sees us live may use them. */
	virt_store_release(&s->ctrl->be_live, 1);
	s->epoch = q.epoch;
	s->ch = (struct idc_chan){.tx_size = q.ring,
				  .rx_size = q.ring,
				  .epoch = q.epoch,
				  .version = q.v,
				  .max_frame = q.frame,
				  .tx_limit = q.tx,
				  .msg_limit = q.msg};
	/* Watch F: the frontend closing, withdrawing or its domain going away. */
	path_f(ep, fk, f);
	s->wf.node = kstrdup(f, GFP_KERNEL);
	s->wf.callback = kb_watch_f_cb;
	if (s->wf.node && !register_xenbus_watch(&s->wf))
		s->watching_f = true;
	if (!s->watching_f || be_answer(ep, fk, q.epoch, XenbusStateConnected, 0, NULL)) {
		idc__log(ep->ctx, IDC_LOG_ERROR, "%s: cannot %s domain %u in xenstore", ep->address,
			 s->watching_f ? "answer" : "watch the request of", s->peer);
		chan_release(ep);
		return false;
	}
	if (chan_up(ep) < 0) {
		kxb_chan_close(ep);
		return false;
	}
	return true;
}

/* ------------------------------------------------------------- other frontends' knocks */

/* The knock's text, "EPOCH" or "EPOCH/PING" (hostile), into v; its epoch. 0: none. */
static uint32_t knock_read(struct idc_link *ep, uint64_t fk, char *v)
{
	char k[XEN_PATH_MAX];
	uint32_t epoch, ping;
	size_t n;

	path_k(ep, fk, "fe", k);
	if (kx_read(k, NULL, v, XEN_KNOCK_MAX))
		return 0;
	n = strcspn(v, "/");
	if (!xen_parse_u32(v, n, 0x7fffffffu, &epoch) || epoch == 0 ||
	    (v[n] && !xen_parse_u32(v + n + 1, strlen(v + n + 1), 0xffffffffu, &ping)))
		return 0;
	return epoch;
}

/* Acknowledge a knock we cannot answer yet (the driver has not finished the last disconnect):
   K = {epoch, state InitWait, seen = the knock's text}, once per text. */
static void be_ack(struct idc_link *ep, uint64_t fk)
{
	char c[XEN_PATH_MAX], v[XEN_KNOCK_MAX], seen[XEN_KNOCK_MAX];
	uint32_t epoch = knock_read(ep, fk, v), kep = 0, kst = 0;

	if (!epoch)
		return;
	path_k(ep, fk, "conn", c);
	if (!kx_read_u32(c, "epoch", 0x7fffffffu, &kep) && kep == epoch &&
	    !kx_read_u32(c, "state", 6, &kst) && kst != XenbusStateInitWait)
		return;
	if (kep == epoch && !kx_read(c, "seen", seen, sizeof(seen)) && !strcmp(seen, v))
		return;
	be_answer(ep, fk, epoch, XenbusStateInitWait, 0, v);
}

/* The service is exclusive: a knock while another frontend is connected is refused as busy
   (once per knock). */
static void be_busy(struct idc_link *ep, uint64_t fk)
{
	static const char why[] = "the service is in use by another frontend";
	char c[XEN_PATH_MAX], v[XEN_KNOCK_MAX];
	uint32_t epoch = knock_read(ep, fk, v), kep = 0, kst = 0;

	if (!epoch)
		return;
	path_k(ep, fk, "conn", c);
	if (!kx_read_u32(c, "epoch", 0x7fffffffu, &kep) && kep == epoch &&
	    !kx_read_u32(c, "state", 6, &kst) && kst == XenbusStateClosed)
		return;
	if (idc__log_limit(&X(ep)->logs, ep->ctx))
		idc__log(ep->ctx, IDC_LOG_WARN, "%s: refusing domain %u: %s (IDC_ERR_BUSY)",
			 ep->address, xen_fk_dom(fk), why);
	be_answer(ep, fk, epoch, XenbusStateClosed, IDC_ERR_BUSY, why);
}

/* B/fe's entries (bounded); NULL when there is none. */
static char **knocks(struct idc_link *ep, unsigned int *n)
{
	char dir[XEN_PATH_MAX];
	char **ents;

	path_b(ep, dir, "fe");
	ents = xenbus_directory(XBT_NIL, dir, "", n);
	if (IS_ERR(ents))
		return NULL;
	if (*n > KB_SCAN_MAX)
		*n = KB_SCAN_MAX;
	return ents;
}

static void be_ack_all(struct idc_link *ep, bool busy)
{
	struct kb_ep *s = X(ep);
	unsigned int i, n = 0;
	char **ents = knocks(ep, &n);
	uint64_t fk;

	for (i = 0; ents && i < n; i++) {
		if (!xen_fk_parse(ents[i], &fk) ||
		    (s->hs == KB_UP && fk == xen_fk(s->peer, s->fid)) ||
		    !xen_addr_allows(&s->addr, xen_fk_dom(fk)))
			continue;
		if (busy)
			be_busy(ep, fk);
		else
			be_ack(ep, fk);
	}
	kfree(ents);
}

/* A watch fired (or the driver finished a disconnect): follow the connected frontend, or look
   at the knocks. */
static void be_scan(struct idc_link *ep)
{
	struct kb_ep *s = X(ep);
	char f[XEN_PATH_MAX];
	unsigned int i, n = 0;
	uint32_t st, epoch;
	uint64_t fk;
	char **ents;

	if (idc__link_destroying(ep))
		return;
	if (s->hs == KB_UP) {
		path_f(ep, xen_fk(s->peer, s->fid), f);
		if (kx_read_u32(f, "epoch", 0x7fffffffu, &epoch) || epoch != s->epoch)
			idc__link_down(
				ep, IDC_ERR_DISCONNECTED,
				"frontend withdrew the connection (or its domain went away)");
		else if (kx_read_u32(f, "state", 6, &st) ||
			 (st != XenbusStateInitialised && st != XenbusStateConnected))
			idc__link_down(ep, IDC_ERR_DISCONNECTED, "frontend closed the connection");
		else
			be_ack_all(ep, true);
		return;
	}
	if (idc__link_state(ep) != IDC_EP_PRESENT) {
		be_ack_all(ep, false);
		return;
	}
	ents = knocks(ep, &n);
	for (i = 0; ents && i < n; i++)
		if (xen_fk_parse(ents[i], &fk) && be_connect(ep, fk))
			break;
	kfree(ents);
}

/* ------------------------------------------------------------------ notifications */

static void unmask_fire(struct idc_timer *tm)
{
	struct idc_link *ep = tm->arg;

	kx_unmask(ep, &X(ep)->masked, X(ep)->irq);
}

/* One notification: the rings first (frames published before the frontend went away are still
   delivered), then liveness, with storm accounting; then the late EOI unmasks the port. */
static void ev_run(struct idc_kdefer *d)
{
	struct kb_ep *s = container_of(d, struct kb_ep, ev_defer);
	struct idc_link *ep = s->link;

	if (s->hs != KB_UP || !s->ctrl)
		goto eoi;
	idc__link_kick(ep);
	if (s->hs != KB_UP || !s->ctrl)
		goto eoi;
	/* Pairs with the frontend's release store of fe_live (or its unmap notification). */
	if (!virt_load_acquire(&s->ctrl->fe_live)) {
		idc__link_down(ep, IDC_ERR_DISCONNECTED,
			       "frontend unmapped the control page (closed or its process died)");
		goto eoi;
	}
	if (idc__link_state(ep) == IDC_EP_CONNECTED &&
	    kx_storm_masks(ep, &s->storm, &s->masked, &s->unmask))
		return;
eoi:
	if (s->irq >= 0)
		xen_irq_lateeoi(s->irq, 0);
}

/* ------------------------------------------------------------------------- the watches */

static void kb_watch_b_cb(struct xenbus_watch *w, const char *path, const char *token)
{
	struct kb_ep *s = container_of(w, struct kb_ep, wb);

	(void)path;
	(void)token;
	idc__kdefer(s->link->ctx, &s->scan_defer);
}

static void kb_watch_f_cb(struct xenbus_watch *w, const char *path, const char *token)
{
	struct kb_ep *s = container_of(w, struct kb_ep, wf);

	(void)path;
	(void)token;
	idc__kdefer(s->link->ctx, &s->scan_defer);
}

static void scan_run(struct idc_kdefer *d)
{
	struct kb_ep *s = container_of(d, struct kb_ep, scan_defer);

	be_scan(s->link);
}

/* ------------------------------------------------------------------------ publication */

struct publication {
	struct idc_link *ep;
	const char *b, *hashes;
};

static int publish_keys(struct xenbus_transaction xbt, void *arg)
{
	const struct publication *q = arg;
	struct idc_link *ep = q->ep;
	const struct idc_protocol *pr = ep->proto;
	const char *b = q->b, *hashes = q->hashes;

	xenbus_rm(xbt, b, "");
	if (xenbus_printf(xbt, b, "protocol", "%s", pr->name) ||
	    xenbus_printf(xbt, b, "version-min", "%u", pr->min_version) ||
	    xenbus_printf(xbt, b, "version-max", "%u", pr->max_version) ||
	    xenbus_printf(xbt, b, "version-hash", "%s", hashes) ||
	    xenbus_printf(xbt, b, "max-frame", "%u", ep->max_frame) ||
	    xenbus_printf(xbt, b, "max-transactions", "%u", ep->max_tx) ||
	    xenbus_printf(xbt, b, "max-messages", "%u", ep->max_msg) ||
	    xenbus_printf(xbt, b, "instance", "%u", X(ep)->instance) ||
	    xenbus_mkdir(xbt, b, "fe") || xenbus_mkdir(xbt, b, "conn") ||
	    xenbus_printf(xbt, b, "state", "%d", XenbusStateInitWait))
		return IDC_ERR_IO;
	return 0;
}

/* B in one transaction: service keys, the knock and answer directories, state InitWait. */
static int be_publish(struct idc_link *ep)
{
	const struct idc_protocol *pr = ep->proto;
	char b[XEN_PATH_MAX];
	char *hashes;
	size_t hl = 0, cap = IDC_MAX_VERSIONS * 17 + 1;
	uint32_t v;
	int r;

	hashes = kmalloc(cap, GFP_KERNEL);
	if (!hashes)
		return IDC_ERR_NOMEM;
	for (v = 0; v <= pr->max_version - pr->min_version; v++)
		hl += scnprintf(hashes + hl, cap - hl, "%s%016llx", v ? " " : "",
				(unsigned long long)pr->version_hash[v]);
	path_b(ep, b, NULL);
	r = kx_txn(publish_keys, &(struct publication){ep, b, hashes});
	kfree(hashes);
	if (r)
		idc__log(ep->ctx, IDC_LOG_ERROR, "%s: cannot publish %s", ep->address, b);
	return r;
}

/* ------------------------------------------------------------------------ endpoint ops */

int kxb_ep_start(struct idc_link *ep)
{
	struct kb_ep *s = X(ep);
	char p[XEN_PATH_MAX];
	int r;

	memset(s, 0, sizeof(*s));
	s->link = ep;
	s->irq = -1;
	s->unmask.arg = ep;
	s->unmask.fn = unmask_fire;
	s->ev_defer.fn = ev_run;
	s->scan_defer.fn = scan_run;
	r = kx_ep_begin(ep, &s->addr, &s->self);
	if (r)
		return r;
	s->instance = kx_rand_nonzero();
	r = be_publish(ep);
	if (r)
		return r;
	path_b(ep, p, "fe");
	s->wb.node = kstrdup(p, GFP_KERNEL);
	s->wb.callback = kb_watch_b_cb;
	if (!s->wb.node || register_xenbus_watch(&s->wb)) {
		idc__log(ep->ctx, IDC_LOG_ERROR, "%s: cannot watch %s", ep->address, p);
		kfree(s->wb.node);
		s->wb.node = NULL;
		path_b(ep, p, NULL);
		xenbus_rm(XBT_NIL, p, "");
		return IDC_ERR_IO;
	}
	s->watching_b = true;
	/* xenstore fires a new watch once: be_scan runs from there. */
	idc__link_appear(ep);
	return 0;
}

void kxb_chan_close(struct idc_link *ep)
{
	struct kb_ep *s = X(ep);
	uint64_t fk = xen_fk(s->peer, s->fid);
	char k[XEN_PATH_MAX];

	/* State first, then the close on the control page: a frontend woken by it reads a clean
	   close in xenstore, and only a missing close means we died. */
	if (s->hs == KB_UP || s->ctrl) {
		path_k(ep, fk, "conn", k);
		xenbus_printf(XBT_NIL, k, "state", "%d", XenbusStateClosed);
		s->skip_fk = fk;
		s->skip_epoch = s->epoch;
		s->skip_valid = true;
	}
	chan_release(ep);
}

void kxb_notify(struct idc_link *ep)
{
	struct kb_ep *s = X(ep);

	if (s->irq >= 0 && s->hs == KB_UP)
		notify_remote_via_evtchn(s->port);
}

void kxb_ep_rearm(struct idc_link *ep)
{
	be_scan(ep);
}

void kxb_ep_stop(struct idc_link *ep)
{
	struct kb_ep *s = X(ep);
	char p[XEN_PATH_MAX];
	uint32_t inst;

	if (!s->link)
		return; /* start never ran or failed before anything was set */
	idc__timer_cancel(ep->ctx, &s->unmask);
	chan_release(ep);
	if (s->watching_b)
		unregister_xenbus_watch(&s->wb); /* waits for a running callback */
	s->watching_b = false;
	kfree(s->wb.node);
	s->wb.node = NULL;
	idc__kdefer_cancel(ep->ctx, &s->scan_defer);
	/* Withdraw only our own publication (a successor may have replaced it). */
	if (s->self || s->instance) {
		path_b(ep, p, NULL);
		if (!kx_read_u32(p, "instance", 0x7fffffffu, &inst) && inst == s->instance)
			xenbus_rm(XBT_NIL, p, "");
	}
	s->link = NULL;
}
