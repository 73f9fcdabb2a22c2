// SPDX-License-Identifier: GPL-2.0-only OR MIT
/* xenfront.c - the xen transport in the kernel, frontend side: the same xenstore layout,
 * handshake, control page and rings as runtime/transports/xen/channel.c (docs/xen-transport.md,
 * docs/protocol.md section 6), on the kernel's xenbus, grant-table and event-channel
 * interfaces, so a guest-kernel frontend connects to a user-space backend. The backend side is
 * xenback.c; kxen.c holds the transport table and what both sides share.
 *
 * Why a second text of the frontend's handshake rather than channel.c built twice: channel.c
 * drives libxenstore, libxengnttab and libxenevtchn through file descriptors in the context's
 * epoll (a watch fd, an evtchn fd read in batches, gntalloc's unmap notifications), and its
 * grants come from a device that allocates the pages itself; the kernel has xenbus calls that
 * sleep, interrupt handlers and grants of its own pages. What is protocol logic rather than
 * plumbing is shared: the rings (ring.c), the endpoint core with its credits and lifecycle
 * (endpoint.c), the offer checks (offer.c) and the storm rule (limits.c).
 *
 * Differences from the user-space frontend, by construction of the kernel's interfaces:
 *   - fe_live: the kernel has no unmap notification for its own grants; this side clears the
 *     byte and notifies the backend itself when it closes (a crashed guest kernel takes the
 *     whole domain, whose tree the toolstack removes: the backend's watch sees it).
 *   - permissions: the kernel's xenbus API cannot set node permissions; F and the knock node
 *     take those xenstored gives a guest's new node (owner: this domain; the knock inherits
 *     B/fe's, which the backend made writable). Enough for a backend in dom0, which reads
 *     everything; see docs/kernel.md.
 *
 * Threading: every function here runs in the context's work item or in a public call, with
 * the context's mutex held (kcontext.h), except kx_irq (interrupt) and kx_watch_cb (the xenbus
 * watch thread), which only queue a deferred call.
 */
#include <linux/kernel.h>
#include <linux/interrupt.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/version.h>
#include <linux/vmalloc.h>

#include <xen/events.h>
#include <xen/grant_table.h>
#include <xen/page.h>
#include <xen/xen.h>
#include <xen/xenbus.h>
#include <xen/interface/event_channel.h>
#include <xen/interface/io/xenbus.h>
#include <asm/xen/hypercall.h>

#include "addr.h"
#include "kxen.h"

#define KX_RETRY_MS	 200u
#define KX_BUSY_RETRY_MS 1000u
#define KX_ANSWER_MS	 3000u

enum kx_hs { KH_IDLE = 0, KH_WAIT_BE, KH_UP };

struct kx_ep {
	struct idc_link *link;
	uint32_t self, fid; /* our domain and frontend id; the back end's domain is addr.peer */
	uint32_t instance, dead_instance, refused_instance;
	uint32_t epoch, ping;
	struct xen_addr addr; /* ep->name, parsed */
	enum kx_hs hs;
	bool refused, acked, silent, busy_logged, watching, masked;
	int irq; /* -1: none */
	evtchn_port_t port;
	struct page *ctrl_page;
	struct xen_ctrl_page *ctrl;
	grant_ref_t cref;
	void *rings; /* rp->mem */
	struct kx_pages
		*rp; /* ours, never read back from the control page (the backend writes it) */
	struct idc_chan ch;
	struct idc_timer retry, answer, unmask;
	struct idc_storm storm;
	struct xenbus_watch watch;
	struct idc_kdefer ev_defer, watch_defer;
};

static_assert(sizeof(struct kx_ep) <= sizeof_field(struct idc_link, priv), "kx_ep fits");

static struct kx_ep *X(struct idc_link *ep)
{
	return IDC_LINK_PRIV(struct kx_ep, ep);
}

static void fe_check(struct idc_link *ep);
static void fe_try_connect(struct idc_link *ep);

/* ----------------------------------------------------------------------------- paths */

static const char *svc(struct idc_link *ep, char *buf)
{
	return xen_addr_service(ep->name, &X(ep)->addr, buf);
}

/* B, B/<sub> */
static void path_b(struct idc_link *ep, char *out, const char *sub)
{
	char s[IDC_NAME_MAX + 1];

	xen_path_b(out, X(ep)->addr.peer, svc(ep, s), sub);
}

/* F, our request (addr.h) */
static void path_f(struct idc_link *ep, char *out)
{
	char s[IDC_NAME_MAX + 1];

	xen_path_f(out, X(ep)->addr.peer, svc(ep, s), xen_fk(X(ep)->self, X(ep)->fid), NULL);
}

/* B/conn/<self>-<fid> or B/fe/<self>-<fid> (addr.h) */
static void path_k(struct idc_link *ep, const char *dir, char *out)
{
	char s[IDC_NAME_MAX + 1];

	xen_path_k(out, X(ep)->addr.peer, svc(ep, s), dir, xen_fk(X(ep)->self, X(ep)->fid), NULL);
}

/* --------------------------------------------------------------------------- grants */

/* ---------------------------------------------------------------------- event channel */

static irqreturn_t kx_irq(int irq, void *dev)
{
	struct kx_ep *s = dev;

	(void)irq;
	idc__kdefer(s->link->ctx, &s->ev_defer);
	return IRQ_HANDLED;
}

/* An unbound port for the backend, bound to kx_irq; 0 or IDC_ERR_IO. */
static int port_open(struct kx_ep *s)
{
	int irq = kx_port_open(s->addr.peer, kx_irq, s, &s->port);

	if (irq < 0)
		return IDC_ERR_IO;
	s->irq = irq;
	return 0;
}

/* -------------------------------------------------------------------- channel teardown */

static void chan_release(struct idc_link *ep)
{
	struct kx_ep *s = X(ep);

	idc__timer_cancel(ep->ctx, &s->unmask);
	idc__timer_cancel(ep->ctx, &s->answer);
	s->masked = false;
	s->ping = 0;
	s->acked = false;
	s->silent = false;
	if (s->ctrl) {
		/* The backend must read our close after anything we published on the rings. */
		virt_store_release(&s->ctrl->fe_live, 0);
		if (s->irq >= 0)
			notify_remote_via_evtchn(s->port);
	}
	if (s->irq >= 0)
		unbind_from_irqhandler(s->irq,
				       s); /* waits for a running handler; closes the port */
	s->irq = -1;
	idc__kdefer_cancel(ep->ctx, &s->ev_defer);
	s->rings = NULL;
	kx_pages_free(s->rp);
	s->rp = NULL;
	if (s->ctrl_page)
		kx_end_grant(s->cref, s->ctrl_page);
	s->ctrl_page = NULL;
	s->ctrl = NULL;
	s->hs = KH_IDLE;
}

void kxf_chan_close(struct idc_link *ep)
{
	char f[XEN_PATH_MAX];

	/* State first, then the close on the control page: a backend woken by it reads a clean
	   close in xenstore. */
	path_f(ep, f);
	xenbus_printf(XBT_NIL, f, "state", "%d", XenbusStateClosed);
	chan_release(ep);
}

void kxf_notify(struct idc_link *ep)
{
	struct kx_ep *s = X(ep);

	if (s->irq >= 0 && s->hs == KH_UP)
		notify_remote_via_evtchn(s->port);
}

/* ---------------------------------------------------------------------- channel up */

static int chan_up(struct idc_link *ep)
{
	struct kx_ep *s = X(ep);
	unsigned char *r0 = s->rings;
	int r;

	s->ch.tx_mem = r0; /* ring 0: frontend -> backend */
	s->ch.rx_mem = r0 + idc_ring_bytes(s->ch.tx_size);
	s->hs = KH_UP;
	r = idc__link_up(ep, &s->ch);
	idc__storm_reset(&s->storm, ep);
	if (r < 0)
		idc__log(ep->ctx, IDC_LOG_ERROR, "%s: cannot bring the channel up: %s", ep->address,
			 idc_strerror(r));
	return r;
}

static void fe_fail(struct idc_link *ep, bool retry)
{
	chan_release(ep);
	if (retry && !idc__link_destroying(ep))
		idc__timer_arm(ep->ctx, &X(ep)->retry, KX_RETRY_MS);
}

static void retry_fire(struct idc_timer *t)
{
	struct idc_link *ep = t->arg;

	if (!idc__link_destroying(ep) && idc__link_state(ep) == IDC_EP_PRESENT &&
	    X(ep)->hs == KH_IDLE)
		fe_try_connect(ep);
}

/* ------------------------------------------------------------------- the request (F) */

/* What a connection request offers (NULL: a request that can only be refused). */
struct fe_rings {
	uint32_t frame, tx, msg, ring, pages, cref;
};

static int fe_request_keys(struct idc_link *ep, struct xenbus_transaction xbt, const char *f,
			   uint32_t v, const struct fe_rings *fr)
{
	const struct idc_protocol *pr = ep->proto;
	struct kx_ep *s = X(ep);
	int r;

	r = xenbus_printf(xbt, f, "protocol", "%s", pr->name) ||
	    xenbus_printf(xbt, f, "version", "%u", v) ||
	    xenbus_printf(xbt, f, "version-hash", "%016llx",
			  (unsigned long long)pr->version_hash[v - pr->min_version]) ||
	    xenbus_printf(xbt, f, "be-instance", "%u", s->instance) ||
	    xenbus_printf(xbt, f, "epoch", "%u", s->epoch);
	if (!r && fr)
		r = xenbus_printf(xbt, f, "max-frame", "%u", fr->frame) ||
		    xenbus_printf(xbt, f, "max-transactions", "%u", fr->tx) ||
		    xenbus_printf(xbt, f, "max-messages", "%u", fr->msg) ||
		    xenbus_printf(xbt, f, "ring-size", "%u", fr->ring) ||
		    xenbus_printf(xbt, f, "ring-pages", "%u", fr->pages) ||
		    xenbus_printf(xbt, f, "ctrl-ref", "%u", fr->cref) ||
		    xenbus_printf(xbt, f, "event-channel", "%u", s->port);
	if (!r)
		r = xenbus_printf(xbt, f, "state", "%d", XenbusStateInitialised);
	return r ? IDC_ERR_IO : 0;
}

/* Inside a transaction that writes under B: is the service instance we knock on still
   published? A knock written after the backend withdrew B would recreate B's path where this
   domain may write there (a privileged frontend), leaving a directory where the service was;
   read inside the transaction, a withdrawal in between makes the commit conflict, and the retry
   sees it (the user-space frontend's rule, channel.c). */
static bool fe_still_published(struct idc_link *ep, struct xenbus_transaction xbt)
{
	char b[XEN_PATH_MAX];
	unsigned int inst;

	path_b(ep, b, NULL);
	return xenbus_scanf(xbt, b, "instance", "%u", &inst) == 1 && inst == X(ep)->instance;
}

struct fe_req {
	struct idc_link *ep;
	uint32_t v;
	const struct fe_rings *fr;
};

static int fe_request_body(struct xenbus_transaction xbt, void *arg)
{
	const struct fe_req *q = arg;
	char f[XEN_PATH_MAX], k[XEN_PATH_MAX];
	int r;

	if (!fe_still_published(q->ep, xbt))
		return IDC_ERR_DISCONNECTED;
	path_k(q->ep, "fe", k);
	path_f(q->ep, f);
	xenbus_rm(xbt, f, "");
	r = fe_request_keys(q->ep, xbt, f, q->v, q->fr);
	if (!r && xenbus_printf(xbt, k, "", "%u", X(q->ep)->epoch))
		r = IDC_ERR_IO;
	return r;
}

/* F {keys, state 3} and the knock B/fe/<fe>-<id> = epoch, in one transaction (again while
   the commit conflicts). 0, IDC_ERR_DISCONNECTED (the service was withdrawn) or IDC_ERR_IO. */
static int fe_request(struct idc_link *ep, uint32_t v, const struct fe_rings *fr)
{
	return kx_txn(fe_request_body, &(struct fe_req){ep, v, fr});
}

struct fe_ping {
	struct idc_link *ep;
	const char *text;
};

/* The ping: the knock node rewritten, while the service is still the one we knocked on. */
static int fe_ping_body(struct xenbus_transaction xbt, void *arg)
{
	const struct fe_ping *q = arg;
	char k[XEN_PATH_MAX];

	if (!fe_still_published(q->ep, xbt))
		return IDC_ERR_DISCONNECTED;
	path_k(q->ep, "fe", k);
	return xenbus_write(xbt, k, "", q->text) ? IDC_ERR_IO : 0;
}

static void answer_arm(struct idc_link *ep)
{
	struct kx_ep *s = X(ep);

	s->ping = 0;
	s->acked = false;
	s->silent = false;
	idc__timer_arm(ep->ctx, &s->answer, KX_ANSWER_MS);
}

/* The backend serves another protocol or no common version: knock anyway with what we speak
   (no rings), so it refuses and logs it, as the user-space frontend does. */
static void fe_knock_mismatch(struct idc_link *ep, uint32_t vmin, uint32_t vmax)
{
	const struct idc_protocol *pr = ep->proto;
	struct kx_ep *s = X(ep);
	uint32_t v = pr->max_version;

	if (vmax >= pr->min_version && vmin <= pr->max_version)
		v = min(vmax, pr->max_version);
	s->epoch = kx_rand_nonzero();
	if (fe_request(ep, v, NULL))
		return;
	s->hs = KH_WAIT_BE;
	answer_arm(ep);
}

/* ------------------------------------------------------------------- connecting */

/* B's offer, checked: 0 with the negotiated version in *v, or the refusal status. */
struct fe_offer {
	uint32_t vmin, vmax, frame, tx, msg, v;
};

static int fe_read_offer(struct idc_link *ep, struct fe_offer *o, char *val)
{
	uint64_t hash[IDC_MAX_VERSIONS];
	char b[XEN_PATH_MAX], lim[96];

	path_b(ep, b, NULL);
	if (kx_read(b, "protocol", val, IDC_PROTOCOL_NAME_MAX + 1) ||
	    kx_read_u32(b, "version-min", 0xffffffffu, &o->vmin) ||
	    kx_read_u32(b, "version-max", 0xffffffffu, &o->vmax) ||
	    kx_read_u32(b, "max-frame", IDC_MAX_FRAME_LIMIT, &o->frame) ||
	    kx_read_u32(b, "max-transactions", IDC_MAX_CREDITS, &o->tx) ||
	    kx_read_u32(b, "max-messages", IDC_MAX_CREDITS, &o->msg))
		return IDC_ERR_AGAIN; /* being (re)published: its watch fires again */
	if (strcmp(val, ep->proto->name) != 0) {
		idc__log(ep->ctx, IDC_LOG_ERROR, "%s: protocol '%s' served, '%s' wanted",
			 ep->address, val, ep->proto->name);
		return IDC_ERR_MISMATCH;
	}
	if (o->vmin == 0 || o->vmax < o->vmin || o->vmax - o->vmin >= IDC_MAX_VERSIONS ||
	    kx_read(b, "version-hash", val, KX_VALUE_MAX) ||
	    !kx_parse_hashes(val, hash, o->vmax - o->vmin + 1)) {
		idc__log(ep->ctx, IDC_LOG_ERROR, "%s: backend's service node: bad versions",
			 ep->address);
		return IDC_ERR_PROTO;
	}
	if (idc__offer_limits(o->frame, o->tx, o->msg, lim, sizeof(lim)) < 0) {
		idc__log(ep->ctx, IDC_LOG_ERROR, "%s: backend's service node: %s", ep->address,
			 lim);
		return IDC_ERR_PROTO;
	}
	o->v = idc__offer_version(ep->proto, o->vmin, o->vmax, hash, o->vmax - o->vmin + 1);
	if (!o->v) {
		idc__log(ep->ctx, IDC_LOG_ERROR,
			 "%s: protocol '%s': no common version with matching IDL hash", ep->address,
			 ep->proto->name);
		return IDC_ERR_MISMATCH;
	}
	return 0;
}

/* Port, control page and ring pages for a connection of o's limits; 0 or IDC_ERR_*. */
static int fe_share(struct idc_link *ep, const struct fe_offer *o, struct fe_rings *fr)
{
	struct kx_ep *s = X(ep);
	struct xen_ctrl_page *cp;
	int ref;

	if (port_open(s))
		return IDC_ERR_IO;
	s->ctrl_page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!s->ctrl_page)
		return IDC_ERR_NOMEM;
	ref = gnttab_grant_foreign_access(s->addr.peer, xen_page_to_gfn(s->ctrl_page), 0);
	if (ref < 0) {
		__free_page(s->ctrl_page);
		s->ctrl_page = NULL;
		return IDC_ERR_IO;
	}
	s->cref = ref;
	idc__kgrants_add(1);
	s->ctrl = page_address(s->ctrl_page);
	s->rp = kx_pages_alloc(s->addr.peer, fr->pages);
	if (!s->rp)
		return IDC_ERR_NOMEM;
	s->rings = s->rp->mem;
	s->epoch = kx_rand_nonzero();
	cp = s->ctrl;
	cp->magic = XEN_CTRL_MAGIC;
	cp->ring_size = fr->ring;
	cp->nrefs = fr->pages;
	cp->epoch = s->epoch;
	memcpy(cp->refs, s->rp->refs, sizeof(uint32_t) * fr->pages);
	/* The page's fields before fe_live: a backend that sees us live sees them too. */
	virt_store_release(&cp->fe_live, 1);
	fr->cref = s->cref;
	s->ch = (struct idc_chan){.tx_size = fr->ring,
				  .rx_size = fr->ring,
				  .epoch = s->epoch,
				  .version = o->v,
				  .max_frame = fr->frame,
				  .tx_limit = fr->tx,
				  .msg_limit = fr->msg};
	return 0;
}

static void refuse_forever(struct kx_ep *s)
{
	s->refused = true;
	s->refused_instance = s->instance; /* wait for another backend instance */
}

static void fe_try_connect(struct idc_link *ep)
{
	struct kx_ep *s = X(ep);
	struct fe_offer o;
	struct fe_rings fr;
	char *val;
	int r;

	if (s->hs != KH_IDLE || idc__link_destroying(ep) || idc__link_state(ep) != IDC_EP_PRESENT ||
	    (s->refused && s->refused_instance == s->instance))
		return;
	s->refused = false;
	val = kmalloc(KX_VALUE_MAX, GFP_KERNEL);
	if (!val) {
		fe_fail(ep, true);
		return;
	}
	r = fe_read_offer(ep, &o, val);
	kfree(val);
	if (r == IDC_ERR_AGAIN) {
		fe_fail(ep, true);
		return;
	}
	if (r) {
		refuse_forever(s);
		if (r == IDC_ERR_MISMATCH)
			fe_knock_mismatch(ep, o.vmin, o.vmax);
		return;
	}
	fr.frame = min(o.frame, ep->max_frame);
	fr.tx = min(o.tx, ep->max_tx);
	fr.msg = min(o.msg, ep->max_msg);
	fr.ring = idc_ring_size_for(fr.msg + 2 * fr.tx, fr.frame);
	fr.pages = DIV_ROUND_UP(2 * idc_ring_bytes(fr.ring), XEN_PAGE);
	if (!fr.ring || fr.pages > XEN_CTRL_MAX_REFS) {
		idc__log(ep->ctx, IDC_LOG_ERROR,
			 "%s: rings for %u frames of %u bytes exceed %u pages (IDC_ERR_TOOBIG)",
			 ep->address, fr.msg + 2 * fr.tx, fr.frame, XEN_CTRL_MAX_REFS);
		refuse_forever(s);
		return;
	}
	r = fe_share(ep, &o, &fr);
	if (!r)
		r = fe_request(ep, o.v, &fr);
	if (r) {
		/* withdrawn meanwhile: not an error; B's watch and the retry see what comes next */
		idc__log(ep->ctx, r == IDC_ERR_DISCONNECTED ? IDC_LOG_INFO : IDC_LOG_ERROR,
			 "%s: cannot offer the connection: %s", ep->address, idc_strerror(r));
		fe_fail(ep, true);
		return;
	}
	s->hs = KH_WAIT_BE;
	answer_arm(ep);
	fe_check(ep); /* the answer may be there already */
}

/* --------------------------------------------------------------- the backend's answer */

static void knock_text(const struct kx_ep *s, char *out)
{
	if (s->ping)
		snprintf(out, XEN_KNOCK_MAX, "%u/%u", s->epoch, s->ping);
	else
		snprintf(out, XEN_KNOCK_MAX, "%u", s->epoch);
}

/* K's epoch and state for our attempt: 0, or not answered (yet). */
static int read_k(struct idc_link *ep, uint32_t *kst)
{
	char k[XEN_PATH_MAX];
	uint32_t kep = 0;

	path_k(ep, "conn", k);
	if (kx_read_u32(k, "epoch", 0x7fffffffu, &kep) || kx_read_u32(k, "state", 6, kst) ||
	    kep != X(ep)->epoch)
		return IDC_ERR_AGAIN;
	return 0;
}

/* Has the backend answered our knock, or acknowledged our latest ping? */
static bool fe_heard(struct idc_link *ep)
{
	char k[XEN_PATH_MAX], seen[XEN_KNOCK_MAX], want[XEN_KNOCK_MAX];
	uint32_t kst = 0;

	if (read_k(ep, &kst))
		return false;
	if (kst != XenbusStateInitWait)
		return true;
	path_k(ep, "conn", k);
	knock_text(X(ep), want);
	return kx_read(k, "seen", seen, sizeof(seen)) == 0 && !strcmp(seen, want);
}

/* No answer in time: ping once; a second silence means the backend's process is gone. */
static void answer_fire(struct idc_timer *tm)
{
	struct idc_link *ep = tm->arg;
	struct kx_ep *s = X(ep);
	char v[XEN_KNOCK_MAX];

	if (idc__link_destroying(ep) || s->hs != KH_WAIT_BE)
		return;
	if (fe_heard(ep))
		s->acked = true;
	if (s->ping && !s->acked) {
		idc__log(ep->ctx, IDC_LOG_WARN,
			 "%s: backend instance %u does not answer (its process is gone?)",
			 ep->address, s->instance);
		s->silent = true;
		if (idc__link_state(ep) == IDC_EP_PRESENT)
			idc__link_disappear(ep);
		return;
	}
	s->ping++;
	s->acked = false;
	knock_text(s, v);
	kx_txn(fe_ping_body, &(struct fe_ping){ep, v}); /* withdrawn: B's watch tells the rest */
	idc__timer_arm(ep->ctx, &s->answer, KX_ANSWER_MS);
}

/* K says closed: the backend refused us. */
static void fe_refused(struct idc_link *ep)
{
	struct kx_ep *s = X(ep);
	char k[XEN_PATH_MAX], reason[161] = "";
	uint32_t st = 0;
	int status;

	path_k(ep, "conn", k);
	kx_read(k, "reason", reason, sizeof(reason));
	kx_read_u32(k, "status", 0xffffu, &st); /* stored as -status */
	status = -(int)st;
	if (status != IDC_ERR_BUSY || !s->busy_logged)
		idc__log(ep->ctx, IDC_LOG_ERROR, "%s: backend refused the connection: %s (%s)",
			 ep->address, reason[0] ? reason : "no reason given", idc_strerror(status));
	s->busy_logged = status == IDC_ERR_BUSY;
	idc__link_refused(ep, status, reason[0] ? reason : "no reason given");
	if (status == IDC_ERR_BUSY) {
		fe_fail(ep, false);
		if (!idc__link_destroying(ep))
			idc__timer_arm(ep->ctx, &s->retry, KX_BUSY_RETRY_MS);
		return;
	}
	if (status == IDC_ERR_MISMATCH || status == IDC_ERR_PERM || status == IDC_ERR_TOOBIG) {
		refuse_forever(s);
		fe_fail(ep, false);
		return;
	}
	fe_fail(ep, true);
}

/* The service node: gone (withdrawn, or the backend's domain went away), or replaced by a new
   instance. True when the check goes on. */
static bool fe_follow_service(struct idc_link *ep)
{
	struct kx_ep *s = X(ep);
	char b[XEN_PATH_MAX];
	uint32_t st = 0, inst = 0;

	path_b(ep, b, NULL);
	if (kx_read_u32(b, "state", 6, &st) ||
	    (st != XenbusStateInitWait && st != XenbusStateConnected) ||
	    kx_read_u32(b, "instance", 0x7fffffffu, &inst)) {
		if (s->hs == KH_UP)
			idc__link_down(ep, IDC_ERR_DISCONNECTED, "backend withdrew the service");
		else if (s->hs != KH_IDLE)
			chan_release(ep);
		idc__timer_cancel(ep->ctx, &s->retry);
		if (idc__link_state(ep) == IDC_EP_PRESENT)
			idc__link_disappear(ep);
		return false;
	}
	if (inst != s->instance) {
		if (s->hs == KH_UP)
			idc__link_down(ep, IDC_ERR_DISCONNECTED, "backend restarted");
		else if (s->hs != KH_IDLE)
			chan_release(ep);
		s->instance = inst;
		s->refused = false;
	}
	return true;
}

/* A dead or silent instance is reported gone until it answers or is replaced. */
static bool fe_instance_alive(struct idc_link *ep)
{
	struct kx_ep *s = X(ep);
	enum idc_endpoint_state st = idc__link_state(ep);

	if (s->dead_instance == s->instance && st != IDC_EP_CONNECTED &&
	    st != IDC_EP_DISCONNECTING) {
		if (st == IDC_EP_PRESENT)
			idc__link_disappear(ep);
		return false;
	}
	if (s->hs == KH_WAIT_BE && fe_heard(ep)) {
		s->acked = true;
		s->silent = false;
	}
	if (s->silent) {
		if (st == IDC_EP_PRESENT)
			idc__link_disappear(ep);
		return false;
	}
	return true;
}

/* Watch on B fired (or a retry): follow the service and our connection's answer. */
static void fe_check(struct idc_link *ep)
{
	struct kx_ep *s = X(ep);
	uint32_t kst = 0;

	if (idc__link_destroying(ep) || !fe_follow_service(ep) || !fe_instance_alive(ep))
		return;
	if (idc__link_state(ep) == IDC_EP_ABSENT)
		idc__link_appear(ep);
	if (idc__link_state(ep) != IDC_EP_PRESENT && idc__link_state(ep) != IDC_EP_CONNECTED)
		return;
	if (s->hs == KH_IDLE) {
		fe_try_connect(ep);
		return;
	}
	if (read_k(ep, &kst)) {
		if (s->hs == KH_UP)
			idc__link_down(ep, IDC_ERR_DISCONNECTED, "backend dropped the connection");
		return;
	}
	if (s->hs == KH_UP) {
		if (kst != XenbusStateConnected)
			idc__link_down(ep, IDC_ERR_DISCONNECTED, "backend closed the connection");
		return;
	}
	if (kst == XenbusStateConnected) {
		if (chan_up(ep) < 0)
			fe_fail(ep, true);
	} else if (kst == XenbusStateClosed || kst == XenbusStateClosing) {
		fe_refused(ep);
	}
}

/* ------------------------------------------------------------------ notifications */

static void unmask_fire(struct idc_timer *tm)
{
	struct idc_link *ep = tm->arg;

	kx_unmask(ep, &X(ep)->masked, X(ep)->irq);
}

/* The backend is gone when it cleared be_live without a clean close in K. */
static void peer_gone(struct idc_link *ep)
{
	struct kx_ep *s = X(ep);
	uint32_t kst = 0;

	if (read_k(ep, &kst) || kst == XenbusStateConnected)
		s->dead_instance = s->instance;
	idc__link_down(ep, IDC_ERR_DISCONNECTED,
		       "backend unmapped the control page (closed or its process died)");
}

/* One notification: the rings first (frames published before the backend went away are still
   delivered), then liveness, with storm accounting; then the late EOI unmasks the port. */
static void ev_run(struct idc_kdefer *d)
{
	struct kx_ep *s = container_of(d, struct kx_ep, ev_defer);
	struct idc_link *ep = s->link;
	unsigned int eoi = 0;

	if (s->hs != KH_UP || !s->ctrl) {
		/* Nothing to do before the channel is up: a notification during the handshake (or
		   one that raced with a close). The storm rule below counts connected links only,
		   and a hostile backend can keep the handshake waiting as long as it likes (it
		   acknowledges the knock's pings) while it notifies: each of these is spurious for
		   the event core, whose late-EOI throttle then keeps the port masked longer after
		   each one in a row (up to a second), instead of running this work item at the
		   backend's rate. A useful notification (connected) resets the throttle. */
		eoi = XEN_EOI_FLAG_SPURIOUS;
		goto eoi;
	}
	idc__link_kick(ep);
	if (s->hs != KH_UP || !s->ctrl)
		goto eoi;
	/* Pairs with the backend's release store of be_live after mapping the rings. */
	if (!virt_load_acquire(&s->ctrl->be_live)) {
		peer_gone(ep);
		goto eoi;
	}
	if (idc__link_state(ep) == IDC_EP_CONNECTED &&
	    kx_storm_masks(ep, &s->storm, &s->masked, &s->unmask))
		return;
eoi:
	if (s->irq >= 0)
		xen_irq_lateeoi(s->irq, eoi);
}

/* ------------------------------------------------------------------------- the watch */

static void kx_watch_cb(struct xenbus_watch *w, const char *path, const char *token)
{
	struct kx_ep *s = container_of(w, struct kx_ep, watch);

	(void)path;
	(void)token;
	idc__kdefer(s->link->ctx, &s->watch_defer);
}

static void watch_run(struct idc_kdefer *d)
{
	struct kx_ep *s = container_of(d, struct kx_ep, watch_defer);

	fe_check(s->link);
}

/* ------------------------------------------------------------------------ endpoint ops */

int kxf_ep_start(struct idc_link *ep)
{
	struct kx_ep *s = X(ep);
	char b[XEN_PATH_MAX];
	int r;

	memset(s, 0, sizeof(*s));
	s->link = ep;
	s->irq = -1;
	s->retry.arg = ep;
	s->retry.fn = retry_fire;
	s->answer.arg = ep;
	s->answer.fn = answer_fire;
	s->unmask.arg = ep;
	s->unmask.fn = unmask_fire;
	s->ev_defer.fn = ev_run;
	s->watch_defer.fn = watch_run;
	r = kx_ep_begin(ep, &s->addr, &s->self);
	if (r)
		return r;
	s->fid = kx_rand_nonzero();
	path_b(ep, b, NULL);
	s->watch.node = kstrdup(b, GFP_KERNEL);
	s->watch.callback = kx_watch_cb;
	if (!s->watch.node)
		return IDC_ERR_NOMEM;
	/* xenstore fires a new watch once: fe_check runs from there. */
	if (register_xenbus_watch(&s->watch)) {
		idc__log(ep->ctx, IDC_LOG_ERROR, "%s: cannot watch %s", ep->address, b);
		kfree(s->watch.node);
		s->watch.node = NULL;
		return IDC_ERR_IO;
	}
	s->watching = true;
	return 0;
}

void kxf_ep_rearm(struct idc_link *ep)
{
	fe_check(ep);
}

void kxf_ep_stop(struct idc_link *ep)
{
	struct kx_ep *s = X(ep);
	char p[XEN_PATH_MAX];

	if (!s->link)
		return; /* start never ran or failed before anything was set */
	idc__timer_cancel(ep->ctx, &s->retry);
	idc__timer_cancel(ep->ctx, &s->unmask);
	idc__timer_cancel(ep->ctx, &s->answer);
	chan_release(ep);
	if (s->watching)
		unregister_xenbus_watch(&s->watch); /* waits for a running callback */
	s->watching = false;
	kfree(s->watch.node);
	s->watch.node = NULL;
	idc__kdefer_cancel(ep->ctx, &s->watch_defer);
	if (s->self || s->fid) {
		path_f(ep, p);
		xenbus_rm(XBT_NIL, p, "");
		path_k(ep, "fe", p);
		xenbus_rm(XBT_NIL, p, "");
	}
	s->link = NULL;
}
