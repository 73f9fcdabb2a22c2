// SPDX-License-Identifier: GPL-2.0-only OR MIT
/* kxen.c - the kernel's xen transport: the table (each endpoint goes to its side by role:
 * xenfront.c for "xen:DOMID/NAME", xenback.c for "xen:NAME") and the helpers both sides share.
 */
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/version.h>
#include <linux/vmalloc.h>

#include <xen/events.h>
#include <xen/grant_table.h>
#include <xen/page.h>
#include <xen/xen.h>
#include <xen/xenbus.h>
#include <asm/xen/hypercall.h>

#include "addr.h"
#include "kxen.h"

static_assert(sizeof(struct xen_ctrl_page) == XEN_PAGE, "control page is one page");

/* ------------------------------------------------------------------ grants and ports */

void kx_end_grant(grant_ref_t ref, struct page *pg)
{
	idc__kgrants_add(-1);
	/* The page is freed once the peer no longer maps it (never while it still may). */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 18, 0)
	gnttab_end_foreign_access(ref, pg);
#else
	gnttab_end_foreign_access(ref, 0, pg ? (unsigned long)page_address(pg) : 0);
#endif
}

void kx_pages_free(struct kx_pages *p)
{
	uint32_t i;

	if (!p)
		return;
	if (p->mem)
		vunmap(p->mem);
	for (i = 0; i < p->n; i++)
		kx_end_grant(p->refs[i], p->pages[i]);
	kfree(p->pages);
	kfree(p->refs);
	kfree(p);
}

struct kx_pages *kx_pages_alloc(unsigned int dom, uint32_t np)
{
	struct kx_pages *p = kzalloc(sizeof(*p), GFP_KERNEL);
	int ref;

	if (!p)
		return NULL;
	p->pages = kcalloc(np, sizeof(*p->pages), GFP_KERNEL);
	p->refs = kcalloc(np, sizeof(*p->refs), GFP_KERNEL);
	if (!p->pages || !p->refs)
		goto err;
	for (p->n = 0; p->n < np; p->n++) {
		p->pages[p->n] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!p->pages[p->n])
			goto err;
		ref = gnttab_grant_foreign_access(dom, xen_page_to_gfn(p->pages[p->n]), 0);
		if (ref < 0) {
			__free_page(p->pages[p->n]);
			goto err;
		}
		p->refs[p->n] = ref;
		idc__kgrants_add(1);
	}
	p->mem = vmap(p->pages, np, VM_MAP, PAGE_KERNEL);
	if (p->mem)
		return p;
err:
	kx_pages_free(p);
	return NULL;
}

/* Our new local port bound to fn(dev) with late EOI (the port stays masked until the work
   item handled the notification), *port set: the irq; or a negative errno, the port closed. */
static int port_irq(evtchn_port_t local, irq_handler_t fn, void *dev, evtchn_port_t *port)
{
	struct evtchn_close cl = {.port = local};
	int irq = bind_evtchn_to_irqhandler_lateeoi(local, fn, 0, "idc", dev);

	if (irq < 0) {
		HYPERVISOR_event_channel_op(EVTCHNOP_close, &cl);
		return irq;
	}
	*port = local;
	return irq;
}

int kx_port_open(unsigned int dom, irq_handler_t fn, void *dev, evtchn_port_t *port)
{
	struct evtchn_alloc_unbound alloc = {.dom = DOMID_SELF, .remote_dom = (domid_t)dom};

	if (HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &alloc))
		return -EIO;
	return port_irq(alloc.port, fn, dev, port);
}

int kx_port_bind(unsigned int dom, uint32_t remote, irq_handler_t fn, void *dev,
		 evtchn_port_t *port)
{
	struct evtchn_bind_interdomain bind = {.remote_dom = (domid_t)dom, .remote_port = remote};

	if (HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, &bind))
		return -EINVAL;
	return port_irq(bind.local_port, fn, dev, port);
}

/* ------------------------------------------------------------------------ notifications */

bool kx_storm_masks(struct idc_link *ep, struct idc_storm *storm, bool *masked,
		    struct idc_timer *unmask)
{
	char why[120];

	switch (idc__storm_note(storm, ep, why, sizeof(why))) {
	case IDC_STORM_CUT:
		idc__link_down(ep, IDC_ERR_PROTO, "%s", why);
		break;
	case IDC_STORM_PAUSE:
		/* The port stays masked (no EOI) for a moment; the timer unmasks and drains. */
		if (!*masked) {
			*masked = true;
			idc__timer_arm(ep->ctx, unmask, IDC_STORM_PAUSE_MS);
		}
		return true;
	case IDC_STORM_OK:
		break;
	}
	return false;
}

void kx_unmask(struct idc_link *ep, bool *masked, int irq)
{
	if (!*masked)
		return;
	*masked = false;
	if (irq >= 0)
		xen_irq_lateeoi(irq, XEN_EOI_FLAG_SPURIOUS);
	idc__link_kick(ep);
}

/* ------------------------------------------------------------------------------ values */

bool kx_parse_hashes(const char *s, uint64_t *out, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++, s += 17)
		if (!xen_parse_hex64(s, &out[i]) || s[16] != (i + 1 < n ? ' ' : 0))
			return false;
	return true;
}

uint32_t kx_rand_nonzero(void)
{
	uint32_t v;

	do {
		v = get_random_u32() & 0x7fffffffu;
	} while (!v);
	return v;
}

/* ---------------------------------------------------------------------------- xenstore */

int kx_read(const char *dir, const char *key, char *buf, size_t cap)
{
	unsigned int len;
	char *v = xenbus_read(XBT_NIL, dir, key ? key : "", &len);

	if (IS_ERR(v))
		return IDC_ERR_IO;
	if (len >= cap || strnlen(v, len) != len) {
		kfree(v);
		return IDC_ERR_PROTO;
	}
	memcpy(buf, v, len);
	buf[len] = 0;
	kfree(v);
	return 0;
}

int kx_read_u32(const char *dir, const char *key, uint32_t max, uint32_t *out)
{
	char b[16];
	int r = kx_read(dir, key, b, sizeof(b));

	if (r)
		return r;
	return xen_parse_u32(b, strlen(b), max, out) ? 0 : IDC_ERR_PROTO;
}

int kx_txn(int (*body)(struct xenbus_transaction xbt, void *arg), void *arg)
{
	struct xenbus_transaction xbt;
	int tries, r;

	for (tries = 0; tries < KX_TXN_TRIES; tries++) {
		if (xenbus_transaction_start(&xbt))
			return IDC_ERR_IO;
		r = body(xbt, arg);
		if (r) {
			xenbus_transaction_end(xbt, 1);
			return r;
		}
		r = xenbus_transaction_end(xbt, 0);
		if (r != -EAGAIN)
			return r ? IDC_ERR_IO : 0;
	}
	return IDC_ERR_IO;
}

int kx_ep_begin(struct idc_link *ep, struct xen_addr *addr, uint32_t *self)
{
	if (!xen_domain()) {
		idc__log(ep->ctx, IDC_LOG_ERROR,
			 "%s: xen transport not available: not running on Xen", ep->address);
		return IDC_ERR_NOTSUP;
	}
	if (xen_addr_parse(ep->name, ep->role, addr) < 0 ||
	    kx_read_u32("domid", NULL, XEN_DOMID_MAX, self))
		return IDC_ERR_INVAL;
	return 0;
}

/* --------------------------------------------------------------------------- the table */

static bool be(const struct idc_link *ep)
{
	return ep->role == IDC_ROLE_BACKEND;
}

static int kx_ep_start(struct idc_link *ep)
{
	return be(ep) ? kxb_ep_start(ep) : kxf_ep_start(ep);
}

static void kx_chan_close(struct idc_link *ep)
{
	if (be(ep))
		kxb_chan_close(ep);
	else
		kxf_chan_close(ep);
}

static void kx_ep_rearm(struct idc_link *ep)
{
	if (be(ep))
		kxb_ep_rearm(ep);
	else
		kxf_ep_rearm(ep);
}

static void kx_ep_stop(struct idc_link *ep)
{
	if (be(ep))
		kxb_ep_stop(ep);
	else
		kxf_ep_stop(ep);
}

static void kx_notify(struct idc_link *ep)
{
	if (be(ep))
		kxb_notify(ep);
	else
		kxf_notify(ep);
}

const struct idc_transport idc_ktransport_xen = {
	.name = "xen",
	.address_check = xen_addr_check,
	.ep_start = kx_ep_start,
	.chan_close = kx_chan_close,
	.ep_rearm = kx_ep_rearm,
	.ep_stop = kx_ep_stop,
	.notify = kx_notify,
	.buf_alloc = idc__kbuf_alloc,
	.buf_free = idc__kbuf_free,
	.buf_seal_ro = idc__kbuf_seal_ro,
	.rbuf_publish = idc__kbuf_publish,
	.rbuf_withdraw = idc__kbuf_withdraw,
	.rbuf_reaches = idc__kbuf_reaches,
	.rbuf_transfer = idc__kbuf_transfer,
};
