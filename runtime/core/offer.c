/* offer.c - the handshake offer checks every transport applies the same way. */
#include "internal.h"

uint32_t idc__offer_version(const struct idc_protocol *p, uint32_t peer_min, uint32_t peer_max,
                            const uint64_t *peer_hash, uint32_t peer_nhash)
{
    if (peer_min == 0 || peer_max < peer_min || peer_max - peer_min + 1 > peer_nhash)
        return 0;
    uint32_t lo = p->min_version > peer_min ? p->min_version : peer_min;
    uint32_t hi = p->max_version < peer_max ? p->max_version : peer_max;
    for (uint32_t v = hi; v >= lo && v > 0; v--)
        if (p->version_hash[v - p->min_version] == peer_hash[v - peer_min])
            return v;
    return 0;
}
