/* xbowner.h - the owner side of the xen buffer wire's requests (wire.h), shared by libidc
 * (buffers.c) and idc.ko (runtime/kernel/xenbuf.c): one text, two builds, like xbuser.h. What
 * is here reads the user's requests, validates each one and answers them in the order given;
 * each build keeps its own knock, mapping, event channel and grant-copy call, behind
 * struct xbo_ops.
 *
 * The request page is written by the user, another domain: each request is copied once out of
 * it, then checked (operation, slot, length, rights, and the registration by
 * idc__reg_check: key, generation, range) before any byte moves. A malformed request drops
 * the link; a refused one is answered with its status.
 */
#ifndef IDC_XEN_XBOWNER_H
#define IDC_XEN_XBOWNER_H

#include "transport.h"
#include "wire.h"

/* A link's requests, inside each build's link. */
struct xbo_link {
    struct xb_page *page;        /* the user's request page, mapped (hostile) */
    uint32_t req_cons;           /* requests answered */
    uint32_t refs[XB_WIN_PAGES]; /* the window's grant references: a private copy */
};

/* What a build does for the shared code; arg is its context state, link its link. */
struct xbo_ops {
    /* Appends the grant-copy segments moving len bytes between the owner's memory at addr and
       the user's slot pages refs[0..] (read: to the user) at segment index first; returns how
       many it appended (never more than its array holds for XB_SLOTS requests). */
    uint32_t (*segs)(void *arg, void *link, bool read, const uint32_t *refs, unsigned char *addr,
                     uint32_t len, uint32_t first);
    /* Copies segments [0, nseg) at once; false when the copy as a whole failed (logged). */
    bool (*copy)(void *arg, void *link, uint32_t nseg);
    /* Whether segment k was copied (a failure may be logged). */
    bool (*seg_ok)(void *arg, void *link, uint32_t k);
    void (*notify)(void *arg, void *link);
    /* Drops the link, logging why; link->page is no longer to be touched after it. */
    void (*drop)(void *arg, void *link, const char *why);
};

/* One wake-up's batch: the requests read from the page and not yet answered. */
struct xbo_batch {
    struct idc_context *ctx;
    const struct xbo_ops *ops;
    void *arg;
    struct {
        uint32_t tag, first, nseg; /* its segments: [first, first + nseg) */
        int status;
    } req[XB_SLOTS];
};

/* Serves every request pending on o (link: the build's link around it), in batches of one
   grant copy each: all of them, or up to each one the user marked XB_REQ_ANSWER. */
void xbo_serve(struct xbo_batch *b, struct xbo_link *o, void *link);

#endif
