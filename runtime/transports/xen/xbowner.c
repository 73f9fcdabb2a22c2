/* xbowner.c - the owner side of the xen buffer wire's requests, shared by libidc and idc.ko
 * (xbowner.h). Plain C11 on the core's contract (transport.h) and ring.h's barriers, which
 * are C11 atomics in user space and the kernel's virt_* primitives in idc.ko (the user is
 * another domain). */
#include <string.h>

#include "ring.h"
#include "xbowner.h"

/* Checks one request, already copied out of the page: 1 when it is malformed (the link is
   dropped), else its status (0: to be copied, the owner's bytes at *addr). */
static int check(struct idc_context *ctx, const struct xb_req *q, unsigned char **addr)
{
    if ((q->op != XB_OP_READ && q->op != XB_OP_WRITE) || q->slot >= XB_SLOTS ||
        q->len > XB_SLOT_BYTES)
        return 1;
    uint32_t need = q->op == XB_OP_WRITE ? IDC_RBUF_WRITE : IDC_RBUF_READ;
    if (q->rights & ~(IDC_RBUF_READ | IDC_RBUF_WRITE))
        return IDC_ERR_BADREF;
    if (!(q->rights & need))
        return IDC_ERR_RIGHTS;
    struct idc_rbuf rb = { .owner = q->owner,
                           .id = q->id,
                           .generation = q->generation,
                           .length = q->length,
                           .rights = q->rights };
    memcpy(rb.key, q->key, sizeof(rb.key));
    return idc__reg_check(ctx, &rb, need, q->offset, q->len, addr);
}

/* The status of a checked request after the batch's copy. */
static int copied(struct xbo_batch *b, void *link, uint32_t i, bool ok)
{
    if (b->req[i].status || !b->req[i].nseg)
        return b->req[i].status;
    if (!ok)
        return IDC_ERR_IO;
    for (uint32_t k = b->req[i].first; k < b->req[i].first + b->req[i].nseg; k++)
        if (!b->ops->seg_ok(b->arg, link, k))
            return IDC_ERR_IO;
    return 0;
}

/* The first nreq requests from req_cons: their copies (nseg segments), then their responses
   in order and one notification. */
static void answer(struct xbo_batch *b, struct xbo_link *o, void *link, uint32_t nreq,
                   uint32_t nseg)
{
    bool ok = nseg == 0 || b->ops->copy(b->arg, link, nseg);
    for (uint32_t i = 0; i < nreq; i++) {
        struct xb_rsp r = { .tag = b->req[i].tag, .status = copied(b, link, i, ok) };
        memcpy(&o->page->rsp[(o->req_cons + i) % XB_SLOTS], &r, sizeof(r));
    }
    o->req_cons += nreq;
    /* Release: the responses (and the bytes copied into the slots) before the index. */
    IDC_RING_STORE_REL(&o->page->rsp_prod, o->req_cons);
    b->ops->notify(b->arg, link);
}

void xbo_serve(struct xbo_batch *b, struct xbo_link *o, void *link)
{
    /* Acquire: pairs with the user's release of req_prod; the requests before it are
       complete. */
    uint32_t prod = IDC_RING_LOAD_ACQ(&o->page->req_prod);
    if (prod - o->req_cons > XB_SLOTS) {
        b->ops->drop(b->arg, link, "request index out of the legal window");
        return;
    }
    uint32_t nreq = 0, nseg = 0;
    for (uint32_t i = o->req_cons; i != prod; i++) {
        struct xb_req q;
        memcpy(&q, (const void *)&o->page->req[i % XB_SLOTS], sizeof(q)); /* one read */
        unsigned char *addr = NULL;
        int st = check(b->ctx, &q, &addr);
        if (st == 1) {
            b->ops->drop(b->arg, link,
                         "malformed request (operation, slot or length out of range)");
            return;
        }
        uint32_t first = nseg;
        if (st == 0 && q.len)
            nseg += b->ops->segs(b->arg, link, q.op == XB_OP_READ,
                                 &o->refs[(size_t)q.slot * XB_SLOT_PAGES], addr, q.len, first);
        b->req[nreq].tag = q.tag;
        b->req[nreq].first = first;
        b->req[nreq].nseg = nseg - first;
        b->req[nreq++].status = st;
        if ((q.flags & XB_REQ_ANSWER) && i + 1 != prod) {
            answer(b, o, link, nreq, nseg);
            nreq = nseg = 0;
        }
    }
    if (nreq)
        answer(b, o, link, nreq, nseg);
}
