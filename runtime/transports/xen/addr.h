/* addr.h - the xen transport's address grammar (what follows "xen:"), shared by libidc
 * (channel.c) and idc.ko (runtime/kernel/xenfront.c, xenback.c): one text, two builds, like
 * xbuser.h. A front end names the back end's domain and the service, a back end its service
 * and, optionally, the domains it serves:
 *
 *   DOMID/NAME                             a front end
 *   NAME or self/NAME, ?allow=D[,D...]     a back end (every domain without ?allow=)
 *
 * NAME is a service name (idc__valid_name) without dots, as it becomes an element of xenstore
 * paths; DOMID and D are decimal without a leading zero, below Xen's reserved domains.
 */
#ifndef IDC_XEN_ADDR_H
#define IDC_XEN_ADDR_H

#include "transport.h"
#include "wire.h"

#define XEN_ALLOW_MAX 8u /* domains in one ?allow= list */

struct xen_addr {
    uint32_t peer;            /* a front end's: the back end's domain */
    uint8_t svc_off, svc_len; /* the service name: name[svc_off, svc_off + svc_len) */
    bool allow_all;           /* a back end without ?allow= */
    uint8_t nallow;
    uint16_t allow[XEN_ALLOW_MAX];
};

/* The grammar above, for "bad address" diagnostics. */
#define XEN_ADDR_GRAMMAR                                                                \
    "a xen frontend address is xen:DOMID/NAME, a backend's xen:NAME or xen:self/NAME, " \
    "optionally ?allow=D[,D...]; NAME is [A-Za-z0-9_-]{1,64}"

/* The xenstore nodes of the handshake an address leads to (docs/xen-transport.md), each with an
   optional last element (NULL: none), into out (XEN_PATH_MAX bytes):
     B  /local/domain/BE/data/idc/SVC[/sub]                the back end's service node
     F  /local/domain/FE/data/idc-fe/BE/SVC/ID[/key]       a front end's request
     K  /local/domain/BE/data/idc/SVC/dir/FE-ID[/key]      dir "fe": its knock, "conn": the answer
   BE is the back end's domain, svc the service name, FE and ID the front end's key (xen_fk). */
void xen_path_b(char *out, uint32_t be, const char *svc, const char *sub);
void xen_path_f(char *out, uint32_t be, const char *svc, uint64_t fk, const char *key);
void xen_path_k(char *out, uint32_t be, const char *svc, const char *dir, uint64_t fk,
                const char *key);

/* Parses name for an endpoint of role into *a: 0 or IDC_ERR_INVAL. */
int xen_addr_parse(const char *name, enum idc_role role, struct xen_addr *a);
/* The transport table's address_check (transport.h): the grammar into why when rest breaks
   it. */
int xen_addr_check(const char *rest, enum idc_role role, char *why, size_t why_len);
/* Whether the back end at a serves domain dom. */
bool xen_addr_allows(const struct xen_addr *a, uint32_t dom);
/* The service name of the address name parsed into a, NUL-terminated in buf; returns buf. */
const char *xen_addr_service(const char *name, const struct xen_addr *a,
                             char buf[IDC_NAME_MAX + 1]);

#endif
