/* registry.c - finds a transport by address prefix in the built-in list.
 *
 * The list itself lives outside the core (runtime/transports/builtin.c): the core knows that
 * transports exist, never which ones. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

int idc__transport_index(const struct idc_transport *tp)
{
    for (int i = 0; idc__builtin_transports[i]; i++)
        if (idc__builtin_transports[i] == tp)
            return i;
    return -1;
}

const struct idc_transport *idc__transport_for(const char *address, const char **rest, int *err)
{
    const char *colon = strchr(address, ':');
    if (!colon) {
        *err = IDC_ERR_INVAL;
        return NULL;
    }
    size_t n = (size_t)(colon - address);
    *rest = colon + 1;
    for (const struct idc_transport *const *tp = idc__builtin_transports; *tp; tp++)
        if (strlen((*tp)->name) == n && memcmp(address, (*tp)->name, n) == 0)
            return *tp;
    *err = IDC_ERR_INVAL;
    for (const char *const *k = idc__absent_transports; *k; k++)
        if (strlen(*k) == n && memcmp(address, *k, n) == 0)
            *err = IDC_ERR_NOTSUP;
    return NULL;
}

/* "shm:, xen:": the built-in prefixes, for messages. */
static const char *prefix_list(char *out, size_t cap)
{
    size_t n = 0;
    out[0] = 0;
    for (const struct idc_transport *const *tp = idc__builtin_transports; *tp && n < cap; tp++)
        n += (size_t)snprintf(out + n, cap - n, "%s%s:", n ? ", " : "", (*tp)->name);
    return out;
}

int idc_address_check(const char *address, enum idc_role role, char *why, size_t why_len)
{
    char scratch[8];
    if (!why || !why_len) {
        why = scratch;
        why_len = sizeof(scratch);
    }
    why[0] = 0;
    if (!address) {
        snprintf(why, why_len, "no address");
        return IDC_ERR_INVAL;
    }
    const char *rest;
    int err;
    char names[64];
    const struct idc_transport *tp = idc__transport_for(address, &rest, &err);
    if (!tp) {
        if (err == IDC_ERR_NOTSUP)
            snprintf(why, why_len, "transport not built into this libidc");
        else
            snprintf(why, why_len, "not PREFIX:NAME with a known transport prefix (%s)",
                     prefix_list(names, sizeof(names)));
        return err;
    }
    if (!*rest || strlen(rest) > IDC_NAME_MAX) {
        snprintf(why, why_len, "the part after \"%s:\" must be 1 to %u bytes", tp->name,
                 (unsigned)IDC_NAME_MAX);
        return IDC_ERR_INVAL;
    }
    if (role != IDC_ROLE_FRONTEND && role != IDC_ROLE_BACKEND) {
        snprintf(why, why_len, "bad role");
        return IDC_ERR_INVAL;
    }
    return tp->address_check ? tp->address_check(rest, role, why, why_len) : 0;
}
