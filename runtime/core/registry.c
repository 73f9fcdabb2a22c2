/* registry.c - finds a transport by address prefix in the built-in list.
 *
 * The list itself lives outside the core (runtime/transports/builtin.c): the core knows that
 * transports exist, never which ones. */
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
