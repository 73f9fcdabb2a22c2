/*
 * kidcevil: a hostile backend of the kernel runtime's check (tests/xen/kidcxen.sh), run by dom0
 * next to kidcsrv while the domU's self-test client (tests/xen/kidc/kidc_test.c) runs its
 * hostile_* checks. Written against the Xen libraries directly, not libidc: it publishes the
 * service xen:kidc-evil (protocol kidc, kidc_proto.h) itself, answers the kernel frontend's knock,
 * maps its grants with libxengnttab and binds its event channel with libxenevtchn, following the
 * handshake of docs/xen-transport.md (the control page and the xenbus states from the
 * transport's wire.h, the rings from runtime/core/ring.h), and then misbehaves: one misbehaviour
 * per connection, in this order (the frontend connects again after each disconnect):
 *
 *   index     the producer index of the backend -> frontend ring claims more bytes than the
 *             ring holds
 *   length    a frame header whose length runs past the bytes published
 *   oversize  a whole frame published, its length over the negotiated maximum frame size
 *   storm     notifications as fast as possible for 6 s (at most 8,000,000) or until the
 *             frontend cuts the connection; if it is still connected after the storm, its echo
 *             transactions are answered (it must still work)
 *   early     notifications as fast as possible for 1.5 s during the handshake (event channel
 *             bound, pages mapped, the answer not written yet), then the answer Connected and
 *             the frontend's echoes answered: it must connect and work
 *   unasked   the response to a transaction never asked
 *
 *   kidcevil list          the checks it reports
 *   kidcevil serve PEER    serve domain PEER, one connection per misbehaviour, then withdraw
 *
 * Checks (suite kidc_evil_dom0_domu), what dom0 sees of each: the frontend closes the
 * connection (its request's state Closed, or its live byte cleared) within 20 s of the
 * misbehaviour: index_cut, length_cut, oversize_cut, unasked_cut; storm_sent: the storm was sent
 * and the frontend either cut it or still echoed after it, then closed; early_storm_sent: the
 * frontend connected after the early storm, its echoes were answered, then it closed.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xenevtchn.h>
#include <xengnttab.h>
#include <xenstore.h>

#include "idc.h"
#include "kidc_proto.h"
#include "report.h"
#include "ring.h" /* runtime/core: the rings' layout and libidc's ring functions */
#include "wire.h" /* runtime/transports/xen: the control page, the xenbus states */

#define EVIL_TX         8u /* what the service node offers */
#define EVIL_MSG        16u
#define EVIL_CLOSE_S    20  /* the frontend closes within this after a misbehaviour */
#define EVIL_STORM_S    6.0 /* the storm's length at most: the frontend's storm rule (limits.c) */
#define EVIL_STORM_MAX  8000000ul /* cuts a storm of 3 s; a pausing one lasts this long */
#define EVIL_UNASKED_ID 0x5a5a01u /* no transaction of the frontend has this id */
/* the storm before the answer: shorter than the frontend's wait for it (3 s, then a ping) */
#define EVIL_EARLY_S 1.5

enum { C_INDEX, C_LENGTH, C_OVERSIZE, C_STORM, C_EARLY, C_UNASKED, C_COUNT };
static const char *const checks[C_COUNT] = { "index_cut",  "length_cut",       "oversize_cut",
                                             "storm_sent", "early_storm_sent", "unasked_cut" };

static struct xs_handle *xs;
static xenevtchn_handle *ev;
static xengnttab_handle *gt;
static unsigned peer;
static char bnode[128]; /* B: the service node */

/* One connection: the frontend's request F and what was mapped and bound for it. */
struct conn {
    uint32_t fid, epoch, ring, np, frame, msg;
    char f[192], k[192]; /* F, and our answer K = B/conn/<peer>-<fid> */
    xenevtchn_port_or_error_t port;
    struct xen_ctrl_page *ctrl;
    unsigned char *rings;
};

static void note(const char *fmt, const char *s)
{
    printf("@@idc note kidcevil: ");
    printf(fmt, s);
    printf("\n");
    fflush(stdout);
}

/* dir/key as a strict decimal (the frontend's values are hostile input too) */
static bool read_u32(xs_transaction_t t, const char *dir, const char *key, uint32_t *v)
{
    char path[256];
    unsigned len;
    snprintf(path, sizeof(path), "%s/%s", dir, key);
    char *p = xs_read(xs, t, path, &len);
    if (!p)
        return false;
    char *end;
    errno = 0;
    unsigned long x = strtoul(p, &end, 10);
    bool ok = len > 0 && !*end && !errno && x <= 0xffffffffu;
    free(p);
    *v = (uint32_t)x;
    return ok;
}

static bool write_str(xs_transaction_t t, const char *dir, const char *key, const char *v)
{
    char path[256];
    snprintf(path, sizeof(path), "%s%s%s", dir, key ? "/" : "", key ? key : "");
    return xs_write(xs, t, path, v, (unsigned)strlen(v));
}

static bool write_u32(xs_transaction_t t, const char *dir, const char *key, uint32_t v)
{
    char val[16];
    snprintf(val, sizeof(val), "%u", v);
    return write_str(t, dir, key, val);
}

/* path made anew: owned by dom0, `others` for everyone, `perm` for the peer (if perm) */
static bool mkdir_perms(xs_transaction_t t, const char *path, unsigned perm)
{
    struct xs_permissions p[2] = { { .id = 0, .perms = XS_PERM_NONE },
                                   { .id = peer, .perms = perm } };
    return xs_mkdir(xs, t, path) && xs_set_permissions(xs, t, path, p, perm ? 2 : 1);
}

/* Runs body in one xenstore transaction, again while the commit conflicts. */
static bool in_txn(bool (*body)(xs_transaction_t t, void *arg), void *arg)
{
    for (int i = 0; i < 16; i++) {
        xs_transaction_t t = xs_transaction_start(xs);
        if (t == XBT_NULL)
            return false;
        if (!body(t, arg)) {
            xs_transaction_end(xs, t, true);
            return false;
        }
        if (xs_transaction_end(xs, t, false))
            return true;
        if (errno != EAGAIN)
            return false;
    }
    return false;
}

/* B as channel.c's be_publish writes it: the offer, fe/ writable by the peer, conn/, state
   InitWait last. */
static bool publish_body(xs_transaction_t t, void *arg)
{
    (void)arg;
    char sub[160], hash[20];
    snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)KIDC_HASH);
    xs_rm(xs, t, bnode);
    bool ok = mkdir_perms(t, bnode, XS_PERM_READ) && write_str(t, bnode, "protocol", KIDC_NAME) &&
              write_u32(t, bnode, "version-min", 1) && write_u32(t, bnode, "version-max", 1) &&
              write_str(t, bnode, "version-hash", hash) &&
              write_u32(t, bnode, "max-frame", KIDC_MAX_FRAME) &&
              write_u32(t, bnode, "max-transactions", EVIL_TX) &&
              write_u32(t, bnode, "max-messages", EVIL_MSG) &&
              write_u32(t, bnode, "instance", (uint32_t)getpid());
    snprintf(sub, sizeof(sub), "%s/fe", bnode);
    ok = ok && mkdir_perms(t, sub, XS_PERM_WRITE);
    snprintf(sub, sizeof(sub), "%s/conn", bnode);
    ok = ok && mkdir_perms(t, sub, 0);
    return ok && write_u32(t, bnode, "state", XB_INITWAIT);
}

/* A connection request of the peer's frontend (F state Initialised) of an epoch not served yet,
   with its keys read and checked against the offer: true and *c filled. */
static bool find_request(struct conn *c, uint32_t served_epoch)
{
    char dir[160];
    unsigned n = 0;
    snprintf(dir, sizeof(dir), "%s/fe", bnode);
    char **e = xs_directory(xs, XBT_NULL, dir, &n);
    bool found = false;
    for (unsigned i = 0; e && i < n && !found; i++) {
        unsigned d, fid;
        char tail;
        if (sscanf(e[i], "%u-%u%c", &d, &fid, &tail) != 2 || d != peer || !fid)
            continue;
        memset(c, 0, sizeof(*c));
        c->fid = fid;
        c->port = -1;
        snprintf(c->f, sizeof(c->f), "/local/domain/%u/data/idc-fe/0/%s/%u", peer,
                 KIDC_EVIL_SERVICE, fid);
        snprintf(c->k, sizeof(c->k), "%s/conn/%u-%u", bnode, peer, fid);
        uint32_t st, tx;
        if (!read_u32(XBT_NULL, c->f, "state", &st) || st != XB_INITIALISED ||
            !read_u32(XBT_NULL, c->f, "epoch", &c->epoch) || !c->epoch || c->epoch == served_epoch)
            continue;
        found = read_u32(XBT_NULL, c->f, "ring-size", &c->ring) &&
                read_u32(XBT_NULL, c->f, "ring-pages", &c->np) &&
                read_u32(XBT_NULL, c->f, "max-frame", &c->frame) &&
                read_u32(XBT_NULL, c->f, "max-transactions", &tx) &&
                read_u32(XBT_NULL, c->f, "max-messages", &c->msg) && c->frame >= 64 &&
                c->frame <= KIDC_MAX_FRAME && tx && tx <= EVIL_TX && c->msg && c->msg <= EVIL_MSG &&
                c->ring >= IDC_RING_MIN_SIZE && c->ring <= (1u << 20) &&
                !(c->ring & (c->ring - 1)) &&
                c->np == (2 * idc_ring_bytes(c->ring) + XEN_PAGE - 1) / XEN_PAGE;
        if (!found)
            note("%s: a request with keys out of range: ignored", c->f);
    }
    free(e);
    return found;
}

static bool answer_body(xs_transaction_t t, void *arg)
{
    const struct conn *c = arg;
    struct xs_permissions p[2] = { { .id = 0, .perms = XS_PERM_NONE },
                                   { .id = peer, .perms = XS_PERM_READ } };
    xs_rm(xs, t, c->k);
    return xs_mkdir(xs, t, c->k) && xs_set_permissions(xs, t, c->k, p, 2) &&
           write_u32(t, c->k, "epoch", c->epoch) && write_u32(t, c->k, "state", XB_CONNECTED);
}

static bool fe_closed(const struct conn *c, bool store);

/* Notifications as fast as libxenevtchn sends them, for secs (at most EVIL_STORM_MAX), until
   the frontend closes (*cut then). The number sent. */
static unsigned long storm(const struct conn *c, double secs, bool *cut)
{
    double end = now_s() + secs, next_store = 0;
    unsigned long n = 0;
    *cut = false;
    while (n < EVIL_STORM_MAX && now_s() < end) {
        for (int i = 0; i < 256; i++, n++)
            xenevtchn_notify(ev, (evtchn_port_t)c->port);
        bool store = now_s() > next_store;
        if (store)
            next_store = now_s() + 0.05;
        if (fe_closed(c, store)) {
            *cut = true;
            break;
        }
    }
    return n;
}

static unsigned long early_n; /* C_EARLY: notifications before the answer */

/* Event channel, control page, rings, then the answer Connected (as channel.c's be_connect);
   with `early`, a storm before the answer. */
static bool accept_conn(struct conn *c, bool early)
{
    uint32_t cref, rport;
    if (!read_u32(XBT_NULL, c->f, "ctrl-ref", &cref) ||
        !read_u32(XBT_NULL, c->f, "event-channel", &rport))
        return false;
    c->port = xenevtchn_bind_interdomain(ev, peer, rport);
    if (c->port < 0) {
        note("bind_interdomain: %s", strerror(errno));
        return false;
    }
    c->ctrl = xengnttab_map_grant_ref_notify(gt, peer, cref, PROT_READ | PROT_WRITE,
                                             (uint32_t)offsetof(struct xen_ctrl_page, be_live),
                                             (uint32_t)c->port);
    if (!c->ctrl) {
        note("map control page: %s", strerror(errno));
        return false;
    }
    static struct xen_ctrl_page cp; /* one copy of the peer's page, then checks */
    memcpy(&cp, c->ctrl, sizeof(cp));
    if (cp.magic != XEN_CTRL_MAGIC || cp.ring_size != c->ring || cp.nrefs != c->np ||
        cp.epoch != c->epoch || !cp.fe_live) {
        note("%s", "control page does not match the request");
        return false;
    }
    c->rings = xengnttab_map_domain_grant_refs(gt, c->np, peer, cp.refs, PROT_READ | PROT_WRITE);
    if (!c->rings) {
        note("map rings: %s", strerror(errno));
        return false;
    }
    __atomic_store_n(&c->ctrl->be_live, 1, __ATOMIC_RELEASE);
    bool cut;
    if (early)
        early_n = storm(c, EVIL_EARLY_S, &cut);
    return in_txn(answer_body, c);
}

/* The backend's close: K Closed, then the unmaps (the control page's clears be_live and
   notifies the frontend), then the port. */
static void release_conn(struct conn *c)
{
    write_u32(XBT_NULL, c->k, "state", XB_CLOSED);
    if (c->rings)
        xengnttab_unmap(gt, c->rings, c->np);
    if (c->ctrl)
        xengnttab_unmap(gt, c->ctrl, 1);
    if (c->port >= 0)
        xenevtchn_unbind(ev, (evtchn_port_t)c->port);
    c->rings = NULL;
    c->ctrl = NULL;
    c->port = -1;
}

/* The frontend took the connection down: its live byte cleared, or F closed or withdrawn. With
   `store` false only the byte is looked at (cheap, for the storm's loop). */
static bool fe_closed(const struct conn *c, bool store)
{
    if (!__atomic_load_n(&c->ctrl->fe_live, __ATOMIC_ACQUIRE))
        return true;
    if (!store)
        return false;
    uint32_t st, epoch;
    return !read_u32(XBT_NULL, c->f, "state", &st) ||
           (st != XB_INITIALISED && st != XB_CONNECTED) ||
           !read_u32(XBT_NULL, c->f, "epoch", &epoch) || epoch != c->epoch;
}

static struct idc_ring_ctrl *ring_ctrl(const struct conn *c, int i)
{
    return (struct idc_ring_ctrl *)(void *)(c->rings + (size_t)i * idc_ring_bytes(c->ring));
}

/* The frontend attached its receiving ring (ring 1): its channel is up on its side. */
static bool fe_up(const struct conn *c)
{
    return __atomic_load_n(&ring_ctrl(c, 1)->prod_event, __ATOMIC_ACQUIRE) != 0;
}

/* Writes a frame header (and len bytes of 0xee after it) at the start of ring 1's data and
   publishes `publish` bytes of it. */
static void publish_frame(const struct conn *c, const struct idc_frame_hdr *h, uint32_t len,
                          uint32_t publish)
{
    unsigned char *data = (unsigned char *)ring_ctrl(c, 1) + IDC_RING_CTRL_SIZE;
    memcpy(data, h, sizeof(*h));
    memset(data + sizeof(*h), 0xee, len);
    __atomic_store_n(&ring_ctrl(c, 1)->prod, publish, __ATOMIC_RELEASE);
    xenevtchn_notify(ev, (evtchn_port_t)c->port);
}

/* After the storm, a frontend still connected must still work: its echo requests (ring 0) are
   answered on ring 1 until it closes. The number answered. */
static unsigned serve_echoes(const struct conn *c, double until)
{
    struct idc_ring_rx rx;
    struct idc_ring_tx tx;
    struct idc_frame_hdr h;
    unsigned char in[KIDC_MAX_FRAME], out[KIDC_MAX_FRAME];
    unsigned answered = 0;
    idc_ring_rx_attach(&rx, ring_ctrl(c, 0), c->ring, c->frame);
    idc_ring_tx_attach(&tx, ring_ctrl(c, 1), c->ring, c->msg);
    double next_store = 0;
    while (now_s() < until) {
        bool store = now_s() > next_store;
        if (store)
            next_store = now_s() + 0.05;
        if (fe_closed(c, store))
            break;
        if (idc_ring_rx_poll(&rx) <= 0 || idc_ring_rx_pop(&rx, &h, in) != 0) {
            usleep(1000);
            continue;
        }
        idc_ring_rx_publish(&rx);
        if (h.kind != IDC_FRAME_REQUEST || h.opcode != KIDC_OP_ECHO)
            continue; /* nothing else is answered */
        for (uint32_t i = 0; i < h.length; i++)
            out[i] = (unsigned char)(in[i] + 1);
        struct idc_frame_hdr r = { .kind = IDC_FRAME_RESPONSE,
                                   .opcode = h.opcode,
                                   .length = h.length,
                                   .epoch = c->epoch,
                                   .txn = h.txn };
        if (idc_ring_push(&tx, &r, out) == 0) {
            answered++;
            xenevtchn_notify(ev, (evtchn_port_t)c->port);
        }
    }
    return answered;
}

/* Connection number `which` (a C_* case): misbehave, then wait for the frontend's close. */
static void misbehave(int which, const struct conn *c)
{
    struct idc_frame_hdr h = { .kind = IDC_FRAME_MESSAGE, .opcode = 1, .epoch = c->epoch };
    unsigned long n = 0;
    unsigned echoed = 0;
    bool cut = false;
    double storm_s = 0;
    switch (which) {
    case C_INDEX: /* prod - cons > size */
        __atomic_store_n(&ring_ctrl(c, 1)->prod, c->ring + IDC_FRAME_ALIGN, __ATOMIC_RELEASE);
        xenevtchn_notify(ev, (evtchn_port_t)c->port);
        break;
    case C_LENGTH: /* header + 8 bytes published, the header says 64 */
        h.length = 64;
        publish_frame(c, &h, 8, (uint32_t)sizeof(h) + 8);
        break;
    case C_OVERSIZE: /* a whole frame, 8 bytes over the negotiated maximum */
        h.length = c->frame + 8;
        publish_frame(c, &h, h.length, idc_frame_size(h.length));
        break;
    case C_STORM: {
        double t0 = now_s();
        n = storm(c, EVIL_STORM_S, &cut);
        storm_s = now_s() - t0;
        if (!cut)
            echoed = serve_echoes(c, now_s() + EVIL_CLOSE_S);
        break;
    }
    case C_EARLY: /* the storm came before the answer (accept_conn): now behave */
        echoed = serve_echoes(c, now_s() + EVIL_CLOSE_S);
        if (!echoed)
            fail("%lu notifications during the handshake; then no echo to answer", early_n);
        break;
    case C_UNASKED: /* a response to a transaction id never sent */
        h.kind = IDC_FRAME_RESPONSE;
        h.txn = EVIL_UNASKED_ID;
        publish_frame(c, &h, 0, (uint32_t)sizeof(h));
        break;
    default:
        break;
    }
    double t0 = now_s();
    while (!fe_closed(c, true) && now_s() - t0 < EVIL_CLOSE_S)
        usleep(10000);
    if (!fe_closed(c, true))
        fail("the frontend still connected %d s after the misbehaviour", EVIL_CLOSE_S);
    if (which == C_STORM)
        pass("%lu notifications in %.2f s; %s", n, storm_s,
             cut      ? "the frontend cut the connection during the storm"
             : echoed ? "the frontend was still connected after it and its echoes were "
                        "answered, then it closed"
                      : "the frontend closed after the storm without an echo");
    else if (which == C_EARLY)
        pass("%lu notifications during the handshake; the frontend connected after them, %u "
             "echoes answered, then it closed",
             early_n, echoed);
    else
        pass("the frontend closed the connection %.2f s after it", now_s() - t0);
}

static void serve(void)
{
    uint32_t served = 0;
    snprintf(bnode, sizeof(bnode), "/local/domain/0/data/idc/%s", KIDC_EVIL_SERVICE);
    xs = xs_open(0);
    ev = xenevtchn_open(NULL, 0);
    gt = xengnttab_open(NULL, 0);
    if (!xs || !ev || !gt)
        fail("the Xen libraries: %s", strerror(errno));
    if (!in_txn(publish_body, NULL))
        fail("cannot publish %s: %s", bnode, strerror(errno));
    note("serving %s", bnode);
    for (int which = 0; which < C_COUNT; which++) {
        struct conn c;
        begin(checks[which]);
        /* the client's honest checks come first; then it reconnects at once after each case */
        int wait_s = which == 0 ? 120 : 30;
        double end = now_s() + wait_s;
        while (!find_request(&c, served)) {
            if (now_s() > end)
                fail("no connection request from domain %u within %d s", peer, wait_s);
            usleep(20000);
        }
        served = c.epoch;
        if (!accept_conn(&c, which == C_EARLY)) {
            release_conn(&c);
            fail("could not accept the connection request %s", c.f);
        }
        for (int i = 0; i < 1000 && !fe_up(&c) && !fe_closed(&c, false); i++)
            usleep(10000);
        usleep(100000); /* the frontend's connect callback ran: the client waits for it */
        misbehave(which, &c);
        release_conn(&c);
    }
    xs_rm(xs, XBT_NULL, bnode);
    note("%s", "done: service withdrawn");
}

int main(int argc, char **argv)
{
    report_init("kidc_evil_dom0_domu");
    if (argc == 2 && strcmp(argv[1], "list") == 0) {
        REPORT_LIST("kidc_evil_dom0_domu", checks);
        return 0;
    }
    if (argc != 3 || strcmp(argv[1], "serve") != 0 || sscanf(argv[2], "%u", &peer) != 1 ||
        peer == 0) {
        fprintf(stderr, "usage: kidcevil list | serve PEER\n");
        return 2;
    }
    report_watchdog(140);
    serve();
    return 0;
}
