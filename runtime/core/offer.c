/* offer.c - the handshake offer checks every transport applies the same way. */
#include <stdio.h>

#include "internal.h"

int idc__offer_limits(uint32_t max_frame, uint32_t max_tx, uint32_t max_msg, char *why,
                      size_t why_len)
{
    if (max_frame < IDC_MIN_FRAME || max_frame > IDC_MAX_FRAME_LIMIT)
        snprintf(why, why_len, "max_frame %u outside %u..%u", max_frame, IDC_MIN_FRAME,
                 IDC_MAX_FRAME_LIMIT);
    else if (max_tx == 0 || max_tx > IDC_MAX_CREDITS || max_msg == 0 || max_msg > IDC_MAX_CREDITS)
        snprintf(why, why_len, "credits %u/%u outside 1..%u", max_tx, max_msg, IDC_MAX_CREDITS);
    else
        return 0;
    return IDC_ERR_PROTO;
}

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
