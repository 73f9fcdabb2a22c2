/* fab_flood: a hostile fabric peer for make check-fabric.
 *
 *   fab_flood ZOOKEEPER NAME SECONDS [RECORDS_PER_SECOND]
 *
 * Finds the backend of service NAME in the registry (as a frontend would) and floods it for
 * SECONDS with records any peer can send: random bytes, records with the right magic and a
 * wrong size or type, HELLOs with bad fields, DATA and BYE for connections that do not exist,
 * remote-buffer requests with forged references. None of it may disturb the backend's other
 * connections. Prints "sent N" and exits 0; 2 when the service cannot be found or reached.
 * It speaks libfabric and ZooKeeper itself (it is the hostile side, not libidc).
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <zookeeper/zookeeper.h>

#include "fabric/proto.h"

enum { POOL = 64, BUF = 4096 };
struct sbuf { /* one send in flight until its completion */
    struct fi_context2 ctx;
    uint8_t data[BUF];
    int busy;
};

static char record[512];
static int looked_up; /* 1: found, -1: not there */

static void got(int rc, const char *value, int len, const struct Stat *st, const void *data)
{
    (void)st;
    (void)data;
    if (rc == ZOK && value && len > 0 && len < (int)sizeof(record)) {
        memcpy(record, value, (size_t)len);
        looked_up = 1;
    } else {
        looked_up = -1;
    }
}

static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    (void)zh, (void)type, (void)state, (void)path, (void)ctx;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The single-threaded client, driven until the lookup answers (10 s at most). */
static int lookup(const char *hosts, const char *name)
{
    zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
    zhandle_t *zh = zookeeper_init(hosts, watcher, 4000, NULL, NULL, 0);
    char path[128];
    snprintf(path, sizeof path, "/idc/svc/%s/live", name);
    if (!zh || zoo_aget(zh, path, 0, got, NULL) != ZOK)
        return -1;
    for (double end = now() + 10; !looked_up && now() < end;) {
        int fd = -1, interest = 0;
        struct timeval tv = { 1, 0 };
        zookeeper_interest(zh, &fd, &interest, &tv);
        struct pollfd p = { .fd = fd,
                            .events = (short)((interest & ZOOKEEPER_READ ? POLLIN : 0) |
                                              (interest & ZOOKEEPER_WRITE ? POLLOUT : 0)) };
        int n = poll(&p, fd >= 0 ? 1 : 0, (int)(tv.tv_sec * 1000 + tv.tv_usec / 1000));
        int ev = 0;
        if (n > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)))
            ev |= ZOOKEEPER_READ;
        if (n > 0 && (p.revents & POLLOUT))
            ev |= ZOOKEEPER_WRITE;
        zookeeper_process(zh, ev);
    }
    zookeeper_close(zh);
    return looked_up == 1 ? 0 : -1;
}

/* "idc-fabric 1 node=NODE addr=HEX" -> addr */
static size_t parse(uint8_t *addr)
{
    const char *h = strstr(record, " addr=");
    size_t n = 0;
    for (h = h ? h + 6 : ""; h[0] && h[1] && n < FAB_ADDR_MAX; h += 2) {
        unsigned v;
        if (sscanf(h, "%2x", &v) != 1)
            return 0;
        addr[n++] = (uint8_t)v;
    }
    return n;
}

static struct fid_fabric *fab;
static struct fid_domain *dom;
static struct fid_ep *ep;
static struct fid_cq *cq;
static struct fid_av *av;
static struct fi_info *info;
static uint8_t self[FAB_ADDR_MAX];
static size_t self_len = sizeof self;

static int open_fabric(void)
{
    struct fi_info *hints = fi_allocinfo();
    hints->caps = FI_MSG;
    hints->ep_attr->type = FI_EP_RDM;
    hints->mode = FI_CONTEXT | FI_CONTEXT2;
    hints->fabric_attr->prov_name = strdup("tcp;ofi_rxm");
    const char *node = getenv("IDC_FABRIC_ADDR");
    int r = fi_getinfo(FI_VERSION(1, 9), node, NULL, node ? FI_SOURCE : 0, hints, &info);
    fi_freeinfo(hints);
    if (r)
        return -1;
    struct fi_cq_attr cqa = { .size = 1024, .format = FI_CQ_FORMAT_MSG };
    struct fi_av_attr ava = { .type = FI_AV_TABLE };
    if (fi_fabric(info->fabric_attr, &fab, NULL) || fi_domain(fab, info, &dom, NULL) ||
        fi_cq_open(dom, &cqa, &cq, NULL) || fi_av_open(dom, &ava, &av, NULL) ||
        fi_endpoint(dom, info, &ep, NULL) || fi_ep_bind(ep, &cq->fid, FI_TRANSMIT | FI_RECV) ||
        fi_ep_bind(ep, &av->fid, 0) || fi_enable(ep) || fi_getname(&ep->fid, self, &self_len))
        return -1;
    return 0;
}

static void fill(void *p, size_t n)
{
    uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)rand();
}

/* The i-th hostile record into buf; returns its length. */
static size_t hostile(unsigned i, uint8_t *buf, size_t cap)
{
    struct fab_hdr h;
    memset(&h, 0, sizeof h);
    h.magic = FAB_MAGIC;
    size_t len = sizeof h;
    switch (i % 7) {
    case 0: /* random bytes */
        len = 1 + (size_t)rand() % 2000;
        fill(buf, len);
        return len;
    case 1: /* the magic, a random type and a length that does not match */
        h.type = (uint32_t)rand() % 12;
        h.len = (uint32_t)rand();
        fill(&h.dst, sizeof h.dst);
        break;
    case 2: { /* a HELLO with random fields (a token, a node, an address of noise) */
        struct fab_hello hl;
        fill(&hl, sizeof hl);
        h.type = FAB_HELLO;
        h.len = sizeof hl;
        memcpy(buf + sizeof h, &hl, sizeof hl);
        len += sizeof hl;
        break;
    }
    case 3: { /* a HELLO for a real service from a real address, wrong protocol */
        struct fab_hello hl;
        memset(&hl, 0, sizeof hl);
        hl.wire = FAB_WIRE;
        hl.token = ((uint64_t)rand() << 32) | (unsigned)rand() | 1;
        snprintf(hl.protocol, sizeof hl.protocol, "flood");
        snprintf(hl.node, sizeof hl.node, "flooder");
        hl.addrlen = (uint32_t)self_len;
        memcpy(hl.addr, self, self_len);
        hl.min_version = hl.max_version = 1;
        hl.max_frame = 4096;
        hl.max_transactions = hl.max_messages = 8;
        h.type = FAB_HELLO;
        h.len = sizeof hl;
        memcpy(buf + sizeof h, &hl, sizeof hl);
        len += sizeof hl;
        /* the service name is the caller's: filled in main */
        break;
    }
    case 4: /* DATA for a connection that does not exist, with bytes */
        h.type = FAB_DATA;
        fill(&h.dst, sizeof h.dst);
        h.len = 1 + (uint32_t)rand() % 1024;
        fill(buf + sizeof h, h.len);
        len += h.len;
        break;
    case 5: /* BYE for a connection that does not exist */
        h.type = FAB_BYE;
        fill(&h.dst, sizeof h.dst);
        fill(&h.epoch, sizeof h.epoch);
        break;
    default: { /* a forged remote-buffer request, answered to us */
        struct fab_xreq q;
        fill(&q, sizeof q);
        q.xid |= 1;
        q.addrlen = (uint32_t)self_len;
        memcpy(q.addr, self, self_len);
        h.type = FAB_XREQ;
        h.len = sizeof q;
        memcpy(buf + sizeof h, &q, sizeof q);
        len += sizeof q;
        break;
    }
    }
    if (len > cap)
        len = cap;
    memcpy(buf, &h, sizeof h);
    return len;
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: fab_flood ZOOKEEPER NAME SECONDS [RECORDS_PER_SECOND]\n");
        return 2;
    }
    double rate = argc == 5 ? atof(argv[4]) : 0; /* 0: as fast as the provider takes them */
    srand((unsigned)time(NULL));
    uint8_t addr[FAB_ADDR_MAX];
    size_t alen;
    if (lookup(argv[1], argv[2]) < 0 || !(alen = parse(addr))) {
        fprintf(stderr, "fab_flood: service %s not found in %s\n", argv[2], argv[1]);
        return 2;
    }
    if (open_fabric() < 0) {
        fprintf(stderr, "fab_flood: no tcp;ofi_rxm endpoint\n");
        return 2;
    }
    fi_addr_t fa;
    if (fi_av_insert(av, addr, 1, &fa, 0, NULL) != 1) {
        fprintf(stderr, "fab_flood: bad address in the record\n");
        return 2;
    }
    static struct sbuf pool[POOL];
    unsigned long sent = 0;
    double start = now(), end = start + atof(argv[3]);
    for (unsigned i = 0; now() < end; i++) {
        if (rate > 0 && (double)sent > (now() - start) * rate) {
            struct timespec ts = { 0, 200000 };
            nanosleep(&ts, NULL);
            continue;
        }
        struct fi_cq_msg_entry ent[16];
        struct fi_cq_err_entry err;
        ssize_t n;
        while ((n = fi_cq_read(cq, ent, 16)) > 0 || n == -FI_EAVAIL) {
            if (n == -FI_EAVAIL) {
                memset(&err, 0, sizeof err);
                if (fi_cq_readerr(cq, &err, 0) == 1 && err.op_context)
                    ((struct sbuf *)err.op_context)->busy = 0;
                continue;
            }
            for (ssize_t k = 0; k < n; k++)
                if (ent[k].op_context)
                    ((struct sbuf *)ent[k].op_context)->busy = 0;
        }
        unsigned slot = i % POOL;
        if (pool[slot].busy)
            continue;
        size_t len = hostile(i, pool[slot].data, BUF);
        if (i % 7 == 3) { /* the HELLO for the real service */
            struct fab_hello *hl = (struct fab_hello *)(void *)(pool[slot].data +
                                                                sizeof(struct fab_hdr));
            snprintf(hl->service, sizeof hl->service, "%s", argv[2]);
        }
        if (fi_send(ep, pool[slot].data, len, NULL, fa, &pool[slot]) == 0) {
            pool[slot].busy = 1;
            sent++;
        }
    }
    printf("sent %lu\n", sent);
    /* everything closed: the sanitizer build checks for leaks */
    fi_close(&ep->fid);
    fi_close(&av->fid);
    fi_close(&cq->fid);
    fi_close(&dom->fid);
    fi_close(&fab->fid);
    fi_freeinfo(info);
    return 0;
}
