/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/* kxen.h - what the kernel's xen transport shares between its frontend (xenfront.c) and its
 * backend (xenback.c): the control page, the limits of peer-written values, strict parsing of
 * xenstore values and the bounded xenstore reads. The transport table itself (kxen.c) sends
 * each endpoint to its side by role.
 */
#ifndef IDC_KXEN_H
#define IDC_KXEN_H

#include <linux/interrupt.h>
#include <linux/types.h>

#include <xen/grant_table.h>
#include <xen/interface/event_channel.h>
#include <xen/xenbus.h>

#include "kinternal.h"

/* The control page (struct xen_ctrl_page, docs/protocol.md section 6: granted by the
   frontend, mapped by the backend), its magic and XEN_PAGE: the user-space transport's own
   definitions, one text for both. */
#include "wire.h"

#define KX_VALUE_MAX 2048u
#define KX_TXN_TRIES 8

/* values: wire.h's xen_parse_u32 and xen_parse_hex64, the user-space transport's own rules */
/* n hashes of 16 lower-case hex digits, separated by one space */
bool kx_parse_hashes(const char *s, uint64_t *out, uint32_t n);
uint32_t kx_rand_nonzero(void);
/* A peer-written value: bounded (shorter than cap), no NUL inside. 0 or IDC_ERR_*. */
int kx_read(const char *dir, const char *key, char *buf, size_t cap);
int kx_read_u32(const char *dir, const char *key, uint32_t max, uint32_t *out);

/* Runs body inside one xenstore transaction, again while the commit conflicts (-EAGAIN, at most
   KX_TXN_TRIES times). body returns 0 or an IDC_ERR_* (its failure aborts the transaction and is
   returned); kx_txn returns 0 or IDC_ERR_* (IDC_ERR_IO: xenstore failed or kept conflicting). */
int kx_txn(int (*body)(struct xenbus_transaction xbt, void *arg), void *arg);

struct xen_addr;
/* What starting either side begins with: Xen present (else IDC_ERR_NOTSUP, logged), ep's address
   parsed for its role into *addr and this domain's id read into *self (else IDC_ERR_INVAL). */
int kx_ep_begin(struct idc_link *ep, struct xen_addr *addr, uint32_t *self);

/* A port's notifications, both sides: the storm rule after a connected link's notification was
   handled (true: the port stays masked, no EOI now; the unmask timer ends the pause), and the
   end of such a pause (the late EOI, then the rings drained). */
bool kx_storm_masks(struct idc_link *ep, struct idc_storm *storm, bool *masked,
		    struct idc_timer *unmask);
void kx_unmask(struct idc_link *ep, bool *masked, int irq);

/* Pages of ours granted to another domain (never read back from what the peer can write). */
struct kx_pages {
	uint32_t n;
	struct page **pages;
	grant_ref_t *refs;
	void *mem; /* the n pages, mapped contiguously */
};
/* np zeroed pages granted to dom (read-write), mapped at ->mem; NULL on failure. */
struct kx_pages *kx_pages_alloc(unsigned int dom, uint32_t np);
/* Ends the grants; a page the peer still maps is freed by Linux once it lets go. NULL: none. */
void kx_pages_free(struct kx_pages *p);
/* Ends one grant of page pg (freed the same way). */
void kx_end_grant(grant_ref_t ref, struct page *pg);
/* An unbound port for dom, bound to fn(dev) with late EOI (the port stays masked until the work
   item handled the notification): the irq, *port set; or a negative errno. */
int kx_port_open(unsigned int dom, irq_handler_t fn, void *dev, evtchn_port_t *port);
/* Port remote of domain dom, bound here to fn(dev) with late EOI, as kx_port_open: the irq,
   *port set to the local port; or a negative errno (-EINVAL: the hypervisor refused the bind). */
int kx_port_bind(unsigned int dom, uint32_t remote, irq_handler_t fn, void *dev,
		 evtchn_port_t *port);

/* The two sides (kxen.c sends each endpoint to its side by role) */
int kxf_ep_start(struct idc_link *ep);
void kxf_chan_close(struct idc_link *ep);
void kxf_ep_rearm(struct idc_link *ep);
void kxf_ep_stop(struct idc_link *ep);
void kxf_notify(struct idc_link *ep);

int kxb_ep_start(struct idc_link *ep);
void kxb_chan_close(struct idc_link *ep);
void kxb_ep_rearm(struct idc_link *ep);
void kxb_ep_stop(struct idc_link *ep);
void kxb_notify(struct idc_link *ep);

#endif /* IDC_KXEN_H */
