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

#endif /* IDC_XEN_WIRE_H */
