/* limits.c - per-peer limits every transport applies the same way: notification storms,
 * error-log floods, remote-buffer links. One home, so shm, xen and later transports behave alike. */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

/* A notification after which nothing moved (no frame, no index, no credit) and nothing was
   asked for (no new event index value: idc_ring_asked) since the previous one was useless. An
   honest peer may send notifications that find their work done: dispatch also reads rings
   directly, and an arm's re-check and the peer's notify decision can both see each other (under
   full symmetric load, hundreds a second). Each of those answers a value we stored, so it counts
   as progress; a peer notifying without publishing or consuming answers none.
   Past IDC_STORM_PAUSE_AFTER useless ones in a second the link is in storm mode: the
   transport stops listening for IDC_STORM_PAUSE_MS after each useless one (at most 50 wake-ups a
   second). Storm mode lasts while each second brings at least IDC_STORM_KEEP useless ones; the
   connection goes down after IDC_STORM_WINDOWS seconds of it, or at once past IDC_STORM_USELESS
   in one second. */
enum idc_storm_verdict idc__storm_slow(struct idc_storm *st, uint64_t progress, char *why,
                                       size_t why_len)
{
    bool useless = progress == st->last_progress;
    st->last_progress = progress;
    uint64_t now = idc__now_ns();
    if (now - st->win_start > 1000000000u) {
        uint32_t limit = st->windows ? IDC_STORM_KEEP : IDC_STORM_PAUSE_AFTER;
        /* a quiet second in between (no useless notification rolled the window) ends it */
        bool stormy = st->win_useless > limit && now - st->win_start <= 2000000000u;
        st->windows = stormy ? st->windows + 1 : 0;
        st->total = stormy ? st->total + st->win_useless : 0;
        st->win_start = now;
        st->win_useless = 0;
    }
    st->win_useless += useless;
    if (st->win_useless > IDC_STORM_USELESS || st->windows >= IDC_STORM_WINDOWS) {
        snprintf(why, why_len, "event storm: %u notifications without progress in %u s",
                 st->total + st->win_useless, st->windows + 1);
        return IDC_STORM_CUT;
    }
    if (st->windows || st->win_useless > IDC_STORM_PAUSE_AFTER)
        return IDC_STORM_PAUSE;
    return IDC_STORM_OK;
}

void idc__storm_reset(struct idc_storm *st, const struct idc_link *l)
{
    *st = (struct idc_storm){ .win_start = idc__now_ns(), .last_progress = idc__link_progress(l) };
}

/* At most IDC_LOG_BURST lines per IDC_LOG_WINDOW_MS from one limiter; the first line after a
   quiet window says how many were suppressed. */
bool idc__log_limit(struct idc_log_limit *ll, struct idc_context *ctx)
{
    uint64_t now = idc__now_ns();
    if (now - ll->win_start >= (uint64_t)IDC_LOG_WINDOW_MS * 1000000u) {
        if (ll->suppressed)
            idc__log(ctx, IDC_LOG_WARN, "%u similar log lines suppressed in the last %u ms",
                     ll->suppressed, IDC_LOG_WINDOW_MS);
        ll->win_start = now;
        ll->lines = 0;
        ll->suppressed = 0;
    }
    if (ll->lines < IDC_LOG_BURST) {
        ll->lines++;
        return true;
    }
    ll->suppressed++;
    return false;
}

unsigned idc__env_uint(const char *name, unsigned min, unsigned max, unsigned def)
{
    const char *v = getenv(name);
    char *end;
    unsigned long n = v && *v ? strtoul(v, &end, 10) : 0;
    return v && *v && !*end && n >= min && n <= max ? (unsigned)n : def;
}

/* A link knob: 1..4096, else def. */
static unsigned env_limit(const char *name, unsigned def)
{
    return idc__env_uint(name, 1, 4096, def);
}

struct idc_buf_limits idc__buf_limits(unsigned user_default)
{
    return (struct idc_buf_limits){
        .user = env_limit("IDC_BUF_USER_LINKS", user_default),
        .owner = env_limit("IDC_BUF_OWNER_LINKS", IDC_BUF_OWNER_LINKS),
        .per_peer = env_limit("IDC_BUF_OWNER_PER_PEER", IDC_BUF_OWNER_PER_PEER),
    };
}
