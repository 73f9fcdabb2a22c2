/* addr.c - the xen transport's address grammar (addr.h), shared by libidc and idc.ko. Plain
 * C11 on the core's contract (transport.h); the kernel build finds <string.h> in its shim. */
#include <stdio.h>
#include <string.h>

#include "addr.h"

/* "?allow=D[,D...]": at least one domain, no empty element. */
static int parse_allow(const char *q, struct xen_addr *a)
{
    if (strncmp(q, "?allow=", 7) != 0)
        return IDC_ERR_INVAL;
    for (const char *p = q + 7; *p;) {
        size_t n = strcspn(p, ",");
        uint32_t d;
        if (a->nallow >= XEN_ALLOW_MAX || !xen_parse_u32(p, n, XEN_DOMID_MAX, &d))
            return IDC_ERR_INVAL;
        a->allow[a->nallow++] = (uint16_t)d;
        p += n;
        if (*p == ',' && *++p == 0)
            return IDC_ERR_INVAL;
    }
    return a->nallow ? 0 : IDC_ERR_INVAL;
}

int xen_addr_parse(const char *name, enum idc_role role, struct xen_addr *a)
{
    char svcname[IDC_NAME_MAX + 1];
    size_t off = 0, len;
    memset(a, 0, sizeof(*a));
    if (role == IDC_ROLE_FRONTEND) {
        const char *slash = strchr(name, '/');
        if (!slash || !xen_parse_u32(name, (size_t)(slash - name), XEN_DOMID_MAX, &a->peer))
            return IDC_ERR_INVAL;
        off = (size_t)(slash - name) + 1;
        len = strlen(name + off);
    } else {
        if (!strncmp(name, "self/", 5))
            off = 5;
        const char *q = strchr(name + off, '?');
        len = q ? (size_t)(q - (name + off)) : strlen(name + off);
        a->allow_all = !q;
        if (q && parse_allow(q, a))
            return IDC_ERR_INVAL;
    }
    if (len == 0 || len > IDC_NAME_MAX)
        return IDC_ERR_INVAL;
    memcpy(svcname, name + off, len);
    svcname[len] = 0;
    if (!idc__valid_name(svcname) || strchr(svcname, '.')) /* xenstore paths hold no dots */
        return IDC_ERR_INVAL;
    a->svc_off = (uint8_t)off;
    a->svc_len = (uint8_t)len;
    return 0;
}

int xen_addr_check(const char *rest, enum idc_role role, char *why, size_t why_len)
{
    struct xen_addr scratch;
    if (xen_addr_parse(rest, role, &scratch) == 0)
        return 0;
    snprintf(why, why_len, "%s", XEN_ADDR_GRAMMAR);
    return IDC_ERR_INVAL;
}

bool xen_addr_allows(const struct xen_addr *a, uint32_t dom)
{
    if (a->allow_all)
        return true;
    for (unsigned i = 0; i < a->nallow; i++)
        if (a->allow[i] == dom)
            return true;
    return false;
}

const char *xen_addr_service(const char *name, const struct xen_addr *a, char buf[IDC_NAME_MAX + 1])
{
    memcpy(buf, name + a->svc_off, a->svc_len);
    buf[a->svc_len] = 0;
    return buf;
}

void xen_path_b(char *out, uint32_t be, const char *svc, const char *sub)
{
    snprintf(out, XEN_PATH_MAX, "/local/domain/%u/data/idc/%s%s%s", be, svc, sub ? "/" : "",
             sub ? sub : "");
}

void xen_path_f(char *out, uint32_t be, const char *svc, uint64_t fk, const char *key)
{
    snprintf(out, XEN_PATH_MAX, "/local/domain/%u/data/idc-fe/%u/%s/%u%s%s", xen_fk_dom(fk), be,
             svc, xen_fk_id(fk), key ? "/" : "", key ? key : "");
}

void xen_path_k(char *out, uint32_t be, const char *svc, const char *dir, uint64_t fk,
                const char *key)
{
    snprintf(out, XEN_PATH_MAX, "/local/domain/%u/data/idc/%s/%s/" XEN_FK_FMT "%s%s", be, svc, dir,
             xen_fk_dom(fk), xen_fk_id(fk), key ? "/" : "", key ? key : "");
}
