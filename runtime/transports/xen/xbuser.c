/* xbuser.c - the user side of the xen buffer wire, shared by libidc and idc.ko (xbuser.h).
 * Plain C11 on the core's contract (transport.h) and ring.h's barriers, which are C11 atomics
 * in user space and the kernel's virt_* primitives in idc.ko (the owner is another domain). */
#include <string.h>

#include "ring.h"
#include "xbuser.h"

void xbu_init(struct xbu *u, struct idc_context *ctx, uint64_t owner, void (*notify)(struct xbu *u))
{
    memset(u, 0, sizeof(*u));
    u->ctx = ctx;
    u->owner = owner;
    u->notify = notify;
    u->q_tail = &u->q_head;
}

bool xbu_dead_has(const struct xbu_dead *d, uint64_t owner)
{
    for (unsigned i = 0; i < d->n; i++)
        if (d->id[i] == owner)
            return true;
    return false;
}

void xbu_dead_add(struct xbu_dead *d, uint64_t owner)
{
    if (xbu_dead_has(d, owner))
        return;
    d->id[d->next] = owner;
    d->next = (d->next + 1) % XB_DEAD_MAX;
    if (d->n < XB_DEAD_MAX)
        d->n++;
}

bool xbu_idle(const struct xbu *u)
{
    return u->up && !u->inflight && !u->q_head;
}

static void unqueue(struct xbu *u, struct idc_xfer *x)
{
    for (struct idc_xfer **pp = &u->q_head; *pp; pp = &(*pp)->next)
        if (*pp == x) {
            *pp = x->next;
            if (!*pp)
                u->q_tail = pp;
            break;
        }
    x->next = NULL;
    x->tp_queued = false;
}

void xbu_fail(struct xbu *u, int status)
{
    for (unsigned i = 0; i < XB_SLOTS; i++) {
        struct xbu_slot *s = &u->slot[i];
        if (!s->busy)
            continue;
        s->busy = s->answered = false;
        if (!s->x->status)
            s->x->status = status;
        if (--s->x->tp_inflight == 0 && !s->x->tp_queued)
            idc__xfer_complete(u->ctx, s->x, s->x->status);
    }
    u->inflight = 0;
    while (u->q_head) {
        struct idc_xfer *x = u->q_head;
        unqueue(u, x);
        if (x->tp_inflight == 0)
            idc__xfer_complete(u->ctx, x, x->status ? x->status : status);
        else if (!x->status)
            x->status = status;
    }
}

static bool pipe_idle(const struct xbu *u)
{
    for (unsigned i = 0; i < XB_SLOTS; i++)
        if (u->slot[i].busy)
            return false;
    return true;
}

/* XB_REQ_ANSWER (wire.h) for the chunk of a read that the user will wait for with nothing to
   copy: its first into an idle pipe (the owner answers it before copying the rest of the
   first batch, and the user's copies start one chunk in, not a batch in), and the one that
   leaves half a pipe to come (the last batch is answered in two halves, so the user copies the
   first half out while the owner copies the second). */
static uint16_t read_hint(const struct xbu *u, const struct idc_xfer *x, size_t chunk)
{
    if (x->write)
        return 0;
    if (x->tp_issued == 0 && pipe_idle(u))
        return XB_REQ_ANSWER;
    size_t after = x->len - x->tp_issued - chunk;
    return after && (after + XB_SLOT_BYTES - 1) / XB_SLOT_BYTES == XB_PIPE / 2 ? XB_REQ_ANSWER : 0;
}

/* The request for the next chunk of x in free slot si (a write's bytes copied into it first). */
static void issue(struct xbu *u, struct idc_xfer *x, unsigned si)
{
    size_t chunk = x->len - x->tp_issued;
    if (chunk > XB_SLOT_BYTES)
        chunk = XB_SLOT_BYTES;
    uint16_t flags = read_hint(u, x, chunk);
    struct xbu_slot *s = &u->slot[si];
    s->x = x;
    s->local = (unsigned char *)x->local + x->tp_issued;
    s->len = chunk;
    s->tag = (++u->seq << 8) | si;
    s->busy = true;
    struct xb_req q = { .tag = s->tag,
                        .op = x->write ? XB_OP_WRITE : XB_OP_READ,
                        .slot = (uint8_t)si,
                        .flags = flags,
                        .len = (uint32_t)chunk,
                        .id = x->rb.id,
                        .generation = x->rb.generation,
                        .rights = x->rb.rights,
                        .owner = x->rb.owner,
                        .length = x->rb.length,
                        .offset = x->offset + x->tp_issued };
    memcpy(q.key, x->rb.key, sizeof(q.key));
    if (x->write && chunk)
        memcpy(u->win + (size_t)si * XB_SLOT_BYTES, s->local, chunk);
    memcpy(&u->page->req[u->req_prod % XB_SLOTS], &q, sizeof(q));
    u->req_prod++;
    /* Release: the request and the slot's bytes before the index the owner reads. */
    IDC_RING_STORE_REL(&u->page->req_prod, u->req_prod);
    u->inflight++;
    x->tp_inflight++;
    x->tp_issued += chunk;
    if (x->tp_issued == x->len)
        unqueue(u, x);
}

/* Hands the owner the next chunks, each in a free slot: a read's up to XB_PIPE requests at the
   owner (the other half of the slots holds answered chunks being copied out), a write's up to
   every slot (its copy into the next slot is what overlaps the owner's copies: holding it back
   at half the window left the user waiting with free slots; 1 MiB / 16 MiB writes 1.12x /
   1.17x, paired, same boot). */
static void pump(struct xbu *u)
{
    unsigned unnotified = 0;
    while (u->q_head) {
        struct idc_xfer *x = u->q_head;
        if (u->inflight >= (x->write ? XB_SLOTS : XB_PIPE))
            break;
        if (x->status) { /* an earlier chunk failed: issue no more */
            unqueue(u, x);
            if (x->tp_inflight == 0)
                idc__xfer_complete(u->ctx, x, x->status);
            continue;
        }
        unsigned si = 0;
        while (si < XB_SLOTS && u->slot[si].busy)
            si++;
        if (si == XB_SLOTS)
            break; /* the rest wait for the copies out of the other half */
        issue(u, x, si);
        /* A write's first chunk into an idle pipe is announced at once, the owner's copy of it
           overlapping the filling of the next ones; then one notification per group. */
        unnotified++;
        if (x->write && (unnotified == XB_WRITE_GROUP || u->inflight == 1)) {
            u->notify(u);
            unnotified = 0;
        }
    }
    if (unnotified)
        u->notify(u);
}

void xbu_queue(struct xbu *u, struct idc_xfer *x)
{
    x->next = NULL;
    x->tp_queued = true;
    *u->q_tail = x;
    u->q_tail = &x->next;
    if (u->up)
        pump(u);
}

/* Reads the owner's responses: each checked and its status recorded; its slot stays busy until
   copy_out (a read's bytes are still in the window) but no longer counts as in flight, so pump
   can hand the owner new requests first. 0 or IDC_ERR_PROTO. */
static int harvest(struct xbu *u, unsigned done[XB_SLOTS], unsigned *ndone)
{
    /* Acquire: pairs with the owner's release; responses and slot bytes before the index. */
    uint32_t prod = IDC_RING_LOAD_ACQ(&u->page->rsp_prod);
    *ndone = 0;
    if (prod - u->rsp_cons > u->req_prod - u->rsp_cons) {
        idc__log(u->ctx, IDC_LOG_WARN, "buffer owner %016llx: response index out of range",
                 (unsigned long long)u->owner);
        return IDC_ERR_PROTO;
    }
    while (u->rsp_cons != prod) {
        struct xb_rsp r;
        memcpy(&r, (const void *)&u->page->rsp[u->rsp_cons % XB_SLOTS], sizeof(r)); /* once */
        unsigned si = r.tag & 0xffu;
        struct xbu_slot *s = si < XB_SLOTS ? &u->slot[si] : NULL;
        if (!s || !s->busy || s->answered || s->tag != r.tag) {
            idc__log(u->ctx, IDC_LOG_WARN, "buffer owner %016llx: response to no request",
                     (unsigned long long)u->owner);
            return IDC_ERR_PROTO;
        }
        u->rsp_cons++;
        s->status = r.status > 0 || r.status < IDC_ERR_IO ? IDC_ERR_IO : r.status;
        s->answered = true;
        u->inflight--;
        done[(*ndone)++] = si;
    }
    return 0;
}

/* The harvested slots: a read's bytes copied out of the window, the slot freed, the transfer
   completed with its last chunk. */
static void copy_out(struct xbu *u, const unsigned *done, unsigned ndone)
{
    for (unsigned i = 0; i < ndone; i++) {
        struct xbu_slot *s = &u->slot[done[i]];
        struct idc_xfer *x = s->x;
        if (s->status == 0 && !x->write && s->len)
            memcpy(s->local, u->win + (size_t)done[i] * XB_SLOT_BYTES, s->len);
        if (s->status && !x->status)
            x->status = s->status;
        s->busy = s->answered = false;
        if (--x->tp_inflight == 0 && !x->tp_queued)
            idc__xfer_complete(u->ctx, x, x->status);
    }
}

int xbu_event(struct xbu *u, bool *news)
{
    *news = false;
    if (!u->up) {
        /* Acquire: pairs with the owner's release of answer after owner_live. */
        if (IDC_RING_LOAD_ACQ(&u->page->answer) != XB_ANS_OK)
            return 0;
        u->up = *news = true;
    }
    unsigned done[XB_SLOTS], ndone;
    int r = harvest(u, done, &ndone);
    if (r)
        return r;
    /* Acquire: pairs with the owner's store (or its kernel's unmap notification). */
    if (!IDC_RING_LOAD_ACQ(&u->page->owner_live)) {
        idc__log(u->ctx, IDC_LOG_INFO, "buffer owner %016llx went away",
                 (unsigned long long)u->owner);
        return IDC_ERR_DISCONNECTED;
    }
    *news = *news || ndone > 0;
    /* New requests first (into the free half of the slots), so that the owner copies them
       while we copy the answered ones out; then refill what the copies freed. */
    pump(u);
    copy_out(u, done, ndone);
    pump(u);
    return 0;
}
