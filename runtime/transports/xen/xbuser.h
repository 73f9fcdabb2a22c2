/* xbuser.h - the user side of the xen buffer wire (wire.h), shared by libidc (buffers.c) and
 * idc.ko (runtime/kernel/xenbuf_user.c): one text, two builds, like the rings. What is here
 * touches only the request page, the bounce window and the transfers; each build keeps its
 * own grants, event channel, knock, watch and timers, and drops the link when told to.
 *
 * A transfer is cut into slot-sized requests, XB_PIPE of a read's at the owner at once (a
 * write's: as many as there are free slots). The owner's
 * half of the page (answer, owner_live, rsp_prod, rsp[]) is hostile: each value is read once,
 * then checked.
 */
#ifndef IDC_XEN_XBUSER_H
#define IDC_XEN_XBUSER_H

#include "transport.h"
#include "wire.h"

struct xbu_slot {
    struct idc_xfer *x;
    unsigned char *local;
    size_t len;
    uint32_t tag;
    int status;    /* of the response, between harvest and copy-out */
    bool busy;     /* issued and not yet copied out */
    bool answered; /* busy, and its response was harvested: a second one is to no request */
};

/* One link's requests (xbu_init; the build sets page and win once it granted them). */
struct xbu {
    struct idc_context *ctx;
    uint64_t owner;
    struct xb_page *page;          /* granted to the owner */
    unsigned char *win;            /* XB_WIN_PAGES pages, granted to the owner */
    void (*notify)(struct xbu *u); /* signals the owner's port */
    bool up;                       /* the owner answered the knock */
    uint32_t req_prod, rsp_cons, seq;
    unsigned inflight;
    struct xbu_slot slot[XB_SLOTS];
    struct idc_xfer *q_head, **q_tail; /* transfers with chunks still to issue */
};

/* Owners a context knows to be gone: transfers to them fail at once. */
struct xbu_dead {
    uint64_t id[XB_DEAD_MAX];
    unsigned n, next;
};

void xbu_init(struct xbu *u, struct idc_context *ctx, uint64_t owner,
              void (*notify)(struct xbu *u));
/* Queues x; its requests go out now when the link is up. */
void xbu_queue(struct xbu *u, struct idc_xfer *x);
/* Up, and nothing in flight nor queued: may be closed for another owner. */
bool xbu_idle(const struct xbu *u);
/* Every transfer still on the link completes with status (a chunk's own error first). */
void xbu_fail(struct xbu *u, int status);
/* A notification. 0: handled (*news: the owner answered the knock or responses came); or the
   reason the build must drop the link, logged here: IDC_ERR_PROTO (the owner broke the
   protocol) or IDC_ERR_DISCONNECTED (the owner went away). */
int xbu_event(struct xbu *u, bool *news);

bool xbu_dead_has(const struct xbu_dead *d, uint64_t owner);
void xbu_dead_add(struct xbu_dead *d, uint64_t owner);

#endif /* IDC_XEN_XBUSER_H */
