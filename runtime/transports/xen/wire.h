/* wire.h - the xen transport's wire facts: what another domain sees of a connection besides
 * xenstore's key names (docs/xen-transport.md, docs/protocol.md section 6). One home for them:
 * channel.c speaks them, the kernel frontend (runtime/kernel/xenfront.c, through its shim's
 * <stdint.h>) too, and the hand-written peers of the real-Xen tests (a hostile frontend in
 * tests/xen/transport/idcxen_test.c, a hostile backend in kidcevil_test.c) include this header
 * rather than copying them. Plain C11 with no Xen library header, so each of them can include
 * it alone. The rings inside the granted pages are runtime/core/ring.h's.
 */
#ifndef IDC_XEN_WIRE_H
#define IDC_XEN_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XEN_PAGE          4096u
#define XEN_CTRL_MAGIC    0x58434449u /* "IDCX" */
#define XEN_CTRL_MAX_REFS ((XEN_PAGE - 64u) / 4u)
#define XEN_DOMID_MAX     0x7fefu /* the highest domain a peer may name: DOMID_FIRST_RESERVED - 1 */
#define XEN_KNOCK_MAX     24u     /* a knock's value, "EPOCH" or "EPOCH/PING", and its NUL */
#define XEN_PATH_MAX      160u    /* the longest xenstore path either side forms, and its NUL */

/* xenbus states (xen/io/xenbus.h), as the service node B, the request F and the answer K use
   them */
enum xb_state {
    XB_UNKNOWN = 0,
    XB_INITIALISING = 1,
    XB_INITWAIT = 2,
    XB_INITIALISED = 3,
    XB_CONNECTED = 4,
    XB_CLOSING = 5,
    XB_CLOSED = 6,
};

/* Control page, granted by the frontend with an unmap notification on fe_live and mapped by
 * the backend with one on be_live: the kernel zeroes the byte and notifies the event channel
 * when a side unmaps it, whether cleanly or because its process died. The ring pages (refs)
 * hold two rings of ring_size data bytes each, frontend -> backend first (ring.h's layout). */
struct xen_ctrl_page {
    uint8_t fe_live; /* 1 while the frontend maps the page */
    uint8_t be_live; /* 1 while the backend maps the page */
    uint8_t pad0[2];
    uint32_t magic;     /* XEN_CTRL_MAGIC */
    uint32_t ring_size; /* data bytes per ring */
    uint32_t nrefs;     /* ring pages */
    uint32_t epoch;
    uint8_t pad1[44];
    uint32_t refs[XEN_CTRL_MAX_REFS];
};
_Static_assert(sizeof(struct xen_ctrl_page) == XEN_PAGE, "control page is one page");

/* The length of s up to its first stop character or its end: the field a name or value's
 * separator ends (strcspn with one character; the kernel runtime includes this header too). */
static inline size_t xen_span(const char *s, char stop)
{
    size_t n = 0;
    while (s[n] && s[n] != stop)
        n++;
    return n;
}

/* The syntax of the numbers a peer writes into xenstore (with %u and %016llx), checked strictly
 * on both sides: decimal without a leading zero, at most max; exactly 16 lower-case hex digits.
 * (C89 loops: the kernel runtime includes this header too.) */
static inline bool xen_parse_u32(const char *s, size_t n, uint32_t max, uint32_t *out)
{
    uint64_t v = 0;
    size_t i;
    if (n == 0 || (s[0] == '0' && n > 1))
        return false;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > max)
            return false;
    }
    *out = (uint32_t)v;
    return true;
}

static inline bool xen_parse_hex64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    int i;
    for (i = 0; i < 16; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return false;
        v = (v << 4) | (uint64_t)d;
    }
    *out = v;
    return true;
}

/* A frontend endpoint as the backend knows it: its domain and its id (random per endpoint, so
 * several frontends of one domain can wait for the same service), packed in one "fk". Its knock
 * and the answer are xenstore nodes named "DOMID-ID", both strict decimal, the id 1..2^31-1. */
#define XEN_FK_FMT "%u-%u" /* the node name of a frontend key: xen_fk_dom, xen_fk_id */
static inline uint64_t xen_fk(uint32_t dom, uint32_t id)
{
    return (uint64_t)id << 32 | dom;
}
static inline uint32_t xen_fk_dom(uint64_t fk)
{
    return (uint32_t)(fk & 0xffffffffu);
}
static inline uint32_t xen_fk_id(uint64_t fk)
{
    return (uint32_t)(fk >> 32);
}
static inline bool xen_fk_parse(const char *name, uint64_t *fk)
{
    size_t n = xen_span(name, '-'), m;
    uint32_t dom, id;
    if (name[n] != '-')
        return false;
    m = xen_span(name + n + 1, 0);
    if (!xen_parse_u32(name, n, XEN_DOMID_MAX, &dom) ||
        !xen_parse_u32(name + n + 1, m, 0x7fffffffu, &id) || !id)
        return false;
    *fk = xen_fk(dom, id);
    return true;
}

/* ------------------------------------------------------------------------ remote buffers */

/* The buffer service (buffers.c, and idc.ko's xenbuf.c and xenbuf_user.c; docs/xen-transport.md,
 * "Remote buffers"). An owner publishes O = XB_OPATH_FMT (its domain, its context id); a user
 * grants a request page and a bounce window to the owner's domain, binds an unbound port for it
 * and knocks: O/fe/XB_KNOCK_FMT (its domain, its context id) = "EPOCH PAGE-REF PORT". */
/* 32 slots: a 1 MiB window, 512 KiB at the owner at once (a 1 MiB transfer is 2 rounds, not 4).
   Against 16 slots, same boot, paired, 11 repetitions: 16 MiB reads and writes 1.39x / 1.38x,
   1 MiB writes 1.26x, 1 MiB reads unchanged (docs/performance.md). */
#define XB_SLOTS       32u    /* bounce slots per link */
#define XB_SLOT_PAGES  8u     /* bounce pages per request */
#define XB_SLOT_BYTES  32768u /* XB_SLOT_PAGES pages */
#define XB_WIN_PAGES   (XB_SLOTS * XB_SLOT_PAGES)
#define XB_MAGIC       0x46554258u /* "XBUF" */
#define XB_KNOCK_MS    4000u       /* user: a knock unanswered this long fails */
#define XB_MAX_KNOCKS  1024u       /* owner: knock entries looked at per scan */
#define XB_OPATH_MAX   64u         /* O: /local/domain/D/data/idc-rbuf/<16 hex> */
#define XB_NAME_MAX    48u         /* a knock entry's name */
#define XB_OPATH_FMT   "/local/domain/%u/data/idc-rbuf/%016llx"
#define XB_KNOCK_FMT   "%u-%016llx"
#define XB_KNOCK_VALUE "%u %u %u"

/* The user's pacing and bounds, the same in user space and in idc.ko. A read's requests at the
   owner at once: half the slots. While the owner copies one half, the user copies the other
   half's bytes out of its bounce pages: the two domains' copies overlap instead of taking turns.
   A write fills every free slot (xbuser.c, pump): its copies in overlap the owner's. */
#define XB_PIPE (XB_SLOTS / 2u)
/* A writer publishes and notifies every this many slots it filled, so that the owner starts
   copying while the next ones are filled. */
#define XB_WRITE_GROUP (XB_PIPE / 2u)
#define XB_DEAD_MAX    16u /* owners a user knows to be gone */
/* User links per context (transport.h's rule): each holds XB_WIN_PAGES + 1 granted pages (257),
   of the 1024 user space's gntalloc gives a domain by default (3 links: 771). */
#define XB_USER_LINKS 3u

enum { XB_OP_READ = 1, XB_OP_WRITE = 2 }; /* read: owner -> user */
/* xb_req.flags. XB_REQ_ANSWER: the user waits for this request with nothing else to do (the
   first chunk of a read into an idle pipe, or the chunk that leaves half a pipe of a read to
   come): the owner answers the requests up to this one before it copies the next ones, so the
   user copies them out while the owner copies on. A hint: it moves no bytes and changes no
   status, and an owner that ignores it is still right (only slower to start and to end). */
#define XB_REQ_ANSWER 1u
enum { XB_ANS_NONE = 0, XB_ANS_OK = 1 };

/* A request, written by the user into req[n % XB_SLOTS]. */
struct xb_req {
    uint32_t tag;   /* the user's, echoed in the response */
    uint8_t op;     /* XB_OP_* */
    uint8_t slot;   /* bounce window slot: pages refs[slot * XB_SLOT_PAGES ...] */
    uint16_t flags; /* XB_REQ_* (others ignored) */
    uint32_t len;   /* bytes, <= XB_SLOT_BYTES, from the start of the slot */
    uint32_t id;    /* the reference ... */
    uint32_t generation;
    uint32_t rights;
    uint64_t owner;
    uint64_t length;
    uint64_t offset; /* ... and the offset inside the registration */
    uint8_t key[16];
};
_Static_assert(sizeof(struct xb_req) == 64, "request layout");

struct xb_rsp {
    uint32_t tag;
    int32_t status; /* 0 or IDC_ERR_* */
};

/* The request page: granted by the user, mapped by the owner. user_live and owner_live are 1
 * while that side maps (or grants) the page; a side that goes away zeroes its byte and notifies
 * (user space: the kernel's unmap notification, also when the process dies; idc.ko: itself). */
struct xb_page {
    uint8_t user_live;
    uint8_t owner_live;
    uint8_t pad0[2];
    uint32_t magic;    /* XB_MAGIC */
    uint32_t epoch;    /* equals the knock's */
    uint32_t answer;   /* owner: XB_ANS_OK once it serves the link */
    uint32_t req_prod; /* user */
    uint32_t rsp_prod; /* owner */
    uint8_t pad1[40];
    uint32_t refs[XB_WIN_PAGES]; /* the bounce window's grant references */
    struct xb_req req[XB_SLOTS];
    struct xb_rsp rsp[XB_SLOTS];
};
_Static_assert(sizeof(struct xb_page) <= XEN_PAGE, "request page fits one page");
_Static_assert(offsetof(struct xb_page, refs) == 64, "request page header");
_Static_assert(XB_SLOTS <= 256, "slot index is a byte");
_Static_assert(XB_SLOT_BYTES == XB_SLOT_PAGES * XEN_PAGE, "slot size");

/* A knock entry's name "<dom>-<16 hex>": the user context id's locator (its bits from
 * loc_shift, transport.h's IDC_OWNER_LOC_SHIFT) must name the same domain: the domain id + 1. */
static inline bool xb_knock_name(const char *name, uint32_t dom_max, unsigned loc_shift,
                                 unsigned *dom)
{
    size_t n = xen_span(name, '-');
    uint32_t d;
    uint64_t id;
    if (name[n] != '-' || !xen_parse_u32(name, n, dom_max, &d) ||
        !xen_parse_hex64(name + n + 1, &id) || name[n + 17] != 0 ||
        (id >> loc_shift) != (uint64_t)d + 1)
        return false;
    *dom = d;
    return true;
}

/* A knock's value "EPOCH REF PORT" (read bounded, NUL-terminated): false when malformed. */
static inline bool xb_knock_value(const char *b, uint32_t v[3])
{
    const char *p = b;
    int i;
    for (i = 0; i < 3; i++) {
        size_t n = xen_span(p, ' ');
        if (!xen_parse_u32(p, n, 0xffffffffu, &v[i]) || (i < 2 ? p[n] != ' ' : p[n] != 0))
            return false;
        p += n + (i < 2);
    }
    return v[0] != 0;
}

#endif /* IDC_XEN_WIRE_H */
