/* Hostile peer for the runtime suite: speaks the shm handshake by hand (the private record
 * formats and ring layout of the runtime), then misbehaves.
 *
 *   rtt_hostile --dir DIR --out FILE --role backend|frontend --name NAME --attack ATTACK
 *
 * backend attacks (the victim is a frontend connecting to NAME); repeated on every connection:
 *   honest     behaves: HELLO message, echoes requests (control: the handshake is right)
 *   garbage    random bytes in the ring, prod moved over them
 *   badprod    prod beyond the ring size
 *   unaligned  prod not a multiple of 8
 *   biglen     a frame whose length exceeds max_frame
 *   partial    a header claiming 1000 bytes with only 8 published
 *   badkind    a frame of unknown kind
 *   epoch      a valid frame, then one with another (previous) epoch
 *   txnid      a response to a transaction id never issued
 *   dupresp    answers the victim's first request twice
 *   rewrite    publishes valid messages while a second thread rewrites them in a tight loop
 *   credit     lies about messages consumed (msg_cons far ahead) in the victim's ring
 *   flood      legal messages as fast as the credits allow, for 3 s
 *   storm      writes the victim's eventfd in a tight loop (no frames) for up to 8 s
 *   w-*        lies in the WELCOME record: w-unsealed (memfd without seals, shrunk once
 *              accepted), w-small (memfd smaller than the rings), w-ringsize, w-bigring,
 *              w-frame, w-credits (limits above the victim's), w-epoch0, w-version, w-nofds,
 *              w-pipe (pipes in place of the eventfds), w-tinyframe (max_frame 1)
 * frontend attacks (the victim is a backend serving NAME):
 *   handshake  malformed handshake records, one connection each (victim must refuse, survive)
 *   fgarbage   honest handshake, then garbage in the ring towards the victim
 *   consl      honest handshake, lies about cons/msg_cons in the victim's ring, sends a request
 *   reqflood   honest handshake, then three times the transaction credit in held requests
 *   nocons     honest handshake, then requests the victim answers at once, never consuming
 *              the responses: more than the credit in flight (the responses count)
 *   fhonest    honest handshake, one ECHO round trip (control)
 *   silent     holds as many silent connections as it can (never sends HELLO), reopening each
 *              one the victim closes, for 6 s
 *
 * rbuf role (--rbuf HEX of a reference's wire form; the victim owns the buffer):
 *   asks the owner's buffer service directly with the genuine reference and forged ones
 *   (key, rights, length, generation, id), and tries to turn a read-only descriptor into a
 *   writable mapping (mmap, and re-open through /proc/self/fd)
 *
 * Events: "conn N epoch=E", "attack NAME", "closed", "reply type=T status=S", "result ...".
 */
#include "runtime/rtt.h"
#include "ring.h"
#include "shm/proto.h"

#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

static const char *out, *dir, *name, *attack = "honest", *role = "backend";
static uint32_t prev_epoch;

static void die(const char *what)
{
    rtt_event(out, "fatal %s: %s", what, strerror(errno));
    exit(1);
}

static void sock_path(struct sockaddr_un *sa, const char *file)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    int n = snprintf(sa->sun_path, sizeof sa->sun_path, "%s/%s", dir, file);
    if (n < 0 || (size_t)n >= sizeof sa->sun_path)
        die("socket path too long");
}

static int send_fds(int s, const void *rec, size_t len, const int *fds, int nfd)
{
    struct iovec iov = { (void *)rec, len };
    union {
        char buf[CMSG_SPACE(sizeof(int) * 3)];
        struct cmsghdr align;
    } u;
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (nfd) {
        m.msg_control = u.buf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfd);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfd);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfd);
    }
    return sendmsg(s, &m, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* receive one record (with up to 3 fds); returns its size or -1 on EOF/timeout */
static ssize_t recv_rec(int s, void *buf, size_t size, int *fds, int *nfd, int timeout_ms)
{
    struct pollfd p = { s, POLLIN, 0 };
    if (poll(&p, 1, timeout_ms) <= 0)
        return -1;
    struct iovec iov = { buf, size };
    union {
        char buf[CMSG_SPACE(sizeof(int) * 8)];
        struct cmsghdr align;
    } u;
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf
    };
    ssize_t n = recvmsg(s, &m, MSG_CMSG_CLOEXEC);
    if (n <= 0)
        return -1;
    if (nfd)
        *nfd = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && fds && nfd) {
            int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            memcpy(fds, CMSG_DATA(c), sizeof(int) * (size_t)(k > 3 ? 3 : k));
            *nfd = k > 3 ? 3 : k;
        }
    }
    return n;
}

/* ------------------------------------------------------------------ a mapped channel */
struct chan {
    int sock, memfd, efd_fe, efd_be;
    unsigned char *mem;
    size_t bytes;
    uint32_t ring_size, epoch, max_frame, max_tx, max_msg;
    struct idc_ring_tx tx; /* our producer ring */
    struct idc_ring_rx rx; /* our consumer ring */
    struct idc_ring_ctrl *txc, *rxc;
    unsigned char *txd;
    bool backend;
};

static void wake_peer(struct chan *c)
{
    uint64_t one = 1;
    ssize_t w = write(c->backend ? c->efd_fe : c->efd_be, &one, sizeof one);
    (void)w;
}

static void attach(struct chan *c)
{
    size_t rb = idc_ring_bytes(c->ring_size);
    unsigned char *r0 = c->mem, *r1 = c->mem + rb; /* ring 0: fe -> be; ring 1: be -> fe */
    unsigned char *mine = c->backend ? r1 : r0, *theirs = c->backend ? r0 : r1;
    idc_ring_tx_attach(&c->tx, mine, c->ring_size, c->max_msg);
    idc_ring_rx_attach(&c->rx, theirs, c->ring_size, c->max_frame);
    c->txc = (struct idc_ring_ctrl *)(void *)mine;
    c->rxc = (struct idc_ring_ctrl *)(void *)theirs;
    c->txd = mine + IDC_RING_CTRL_SIZE;
}

static int push(struct chan *c, uint8_t kind, uint16_t op, uint32_t epoch, uint32_t txn,
                int32_t status, const void *p, uint32_t len)
{
    struct idc_frame_hdr h = { kind, 0, op, len, epoch, txn, status, 0 };
    int rc = idc_ring_push(&c->tx, &h, p);
    wake_peer(c);
    return rc;
}

/* raw: write bytes at our producer position and publish prod = position + adv */
static void raw_publish(struct chan *c, const void *bytes, uint32_t n, uint32_t adv)
{
    uint32_t pos = c->tx.prod;
    for (uint32_t i = 0; i < n; i++)
        c->txd[(pos + i) & (c->ring_size - 1)] = ((const unsigned char *)bytes)[i];
    __atomic_store_n(&c->txc->prod, pos + adv, __ATOMIC_RELEASE);
    wake_peer(c);
}

/* wait for the victim's next frame (request) from our consumer ring */
static int next_frame(struct chan *c, struct idc_frame_hdr *h, void *buf, int timeout_ms)
{
    uint64_t end = rtt_now_ms() + (uint64_t)timeout_ms;
    while (rtt_now_ms() < end) {
        int64_t avail = idc_ring_rx_poll(&c->rx);
        if (avail < 0)
            return -1;
        if (avail > 0) {
            int rc = idc_ring_rx_pop(&c->rx, h, buf);
            idc_ring_rx_publish(&c->rx);
            wake_peer(c);
            if (rc == 0)
                return 0;
            if (rc < 0)
                return -1;
        }
        struct pollfd p[2] = { { c->backend ? c->efd_be : c->efd_fe, POLLIN, 0 },
                               { c->sock, POLLIN, 0 } };
        poll(p, 2, 10);
        if (p[0].revents & POLLIN) {
            uint64_t v;
            ssize_t r = read(p[0].fd, &v, sizeof v);
            (void)r;
        }
        if (p[1].revents & (POLLHUP | POLLIN))
            return -1;
    }
    return -1;
}

/* wait until the victim closes the connection (it noticed), up to ms */
static bool wait_closed(struct chan *c, int ms)
{
    uint64_t end = rtt_now_ms() + (uint64_t)ms;
    while (rtt_now_ms() < end) {
        struct pollfd p = { c->sock, POLLIN, 0 };
        if (poll(&p, 1, 20) > 0) {
            char b[512];
            ssize_t n = recv(c->sock, b, sizeof b, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN))
                return true;
            if (p.revents & POLLHUP)
                return true;
        }
    }
    return false;
}

static void unmap(struct chan *c)
{
    if (c->mem)
        munmap(c->mem, c->bytes);
    close(c->memfd);
    close(c->efd_fe);
    close(c->efd_be);
    close(c->sock);
}

/* ------------------------------------------------------------------ backend side */
static atomic_int rewriting;
static _Atomic uint32_t rw_pos;    /* start of the 1 KiB window being rewritten */
static atomic_int rw_invalid_only; /* phase 2: every rewrite leaves the header invalid */

struct rw_arg {
    struct chan *c;
};
static void *rewriter(void *arg)
{
    struct rw_arg *a = arg;
    struct chan *c = a->c;
    uint32_t mask = c->ring_size - 1;
    unsigned x = 1;
    while (atomic_load(&rewriting)) {
        /* rewrite headers of frames already published (or about to be), in a tight loop */
        uint32_t pos = atomic_load(&rw_pos);
        bool bad = atomic_load(&rw_invalid_only);
        for (uint32_t off = 0; off < 1024; off += 8) {
            x = x * 1103515245u + 12345u;
            uint32_t at = (pos + off) & mask & ~7u;
            if (at > c->ring_size - sizeof(struct idc_frame_hdr))
                continue;
            struct idc_frame_hdr *h = (void *)(c->txd + at);
            if (bad) {
                h->kind = 0x77;
                h->length = 0xfffffff0u;
                continue;
            }
            switch (x >> 29) {
            case 0:
                h->length = 64;
                break;
            case 1:
                h->length = 4000;
                break;
            case 2:
                h->length = 0xfffffff0u;
                break;
            case 3:
                h->kind = IDC_FRAME_MESSAGE;
                break;
            case 4:
                h->kind = 0x77;
                break;
            case 5:
                h->epoch ^= 1;
                break;
            default:
                ((uint32_t *)(void *)h)[x & 5] = x;
                break;
            }
        }
    }
    return NULL;
}

static void attack_backend(struct chan *c)
{
    static unsigned char buf[IDC_MAX_FRAME_LIMIT];
    struct idc_frame_hdr h;
    rtt_event(out, "attack %s", attack);
    struct rtt_hello hello = { 666, (uint32_t)getpid() };
    if (strcmp(attack, "honest") == 0) {
        push(c, IDC_FRAME_MESSAGE, RTT_OP_HELLO, c->epoch, 0, 0, &hello, sizeof hello);
        for (;;) {
            if (next_frame(c, &h, buf, 60000) != 0)
                return;
            if (h.kind == IDC_FRAME_REQUEST) {
                if (push(c, IDC_FRAME_RESPONSE, h.opcode, c->epoch, h.txn, 0, buf, h.length) != 0)
                    rtt_event(out, "error push");
            }
        }
    }
    if (strcmp(attack, "garbage") == 0) {
        unsigned char g[512];
        for (size_t i = 0; i < sizeof g; i++)
            g[i] = (unsigned char)rand();
        raw_publish(c, g, sizeof g, sizeof g);
    } else if (strcmp(attack, "badprod") == 0) {
        raw_publish(c, NULL, 0, c->ring_size + 64);
    } else if (strcmp(attack, "unaligned") == 0) {
        struct idc_frame_hdr f = { IDC_FRAME_MESSAGE, 0, RTT_OP_SINK, 0, c->epoch, 0, 0, 0 };
        raw_publish(c, &f, sizeof f, 13);
    } else if (strcmp(attack, "biglen") == 0) {
        struct idc_frame_hdr f = { IDC_FRAME_MESSAGE, 0, RTT_OP_SINK, c->max_frame + 1,
                                   c->epoch,          0, 0,           0 };
        raw_publish(c, &f, sizeof f, idc_frame_size(c->max_frame + 1) & (c->ring_size - 1));
    } else if (strcmp(attack, "partial") == 0) {
        struct idc_frame_hdr f = { IDC_FRAME_MESSAGE, 0, RTT_OP_SINK, 1000, c->epoch, 0, 0, 0 };
        raw_publish(c, &f, sizeof f, 32);
    } else if (strcmp(attack, "badkind") == 0) {
        struct idc_frame_hdr f = { 9, 0, RTT_OP_SINK, 0, c->epoch, 0, 0, 0 };
        raw_publish(c, &f, sizeof f, sizeof f);
    } else if (strcmp(attack, "epoch") == 0) {
        push(c, IDC_FRAME_MESSAGE, RTT_OP_HELLO, c->epoch, 0, 0, &hello, sizeof hello);
        usleep(50000);
        uint32_t old = prev_epoch ? prev_epoch : c->epoch + 1;
        push(c, IDC_FRAME_MESSAGE, RTT_OP_SINK, old, 0, 0, &hello, sizeof hello);
    } else if (strcmp(attack, "txnid") == 0) {
        push(c, IDC_FRAME_RESPONSE, RTT_OP_ECHO, c->epoch, 0xdeadbeefu, 0, "x", 1);
    } else if (strcmp(attack, "dupresp") == 0) {
        if (next_frame(c, &h, buf, 10000) == 0 && h.kind == IDC_FRAME_REQUEST) {
            push(c, IDC_FRAME_RESPONSE, h.opcode, c->epoch, h.txn, 0, buf, h.length);
            usleep(50000);
            push(c, IDC_FRAME_RESPONSE, h.opcode, c->epoch, h.txn, 0, buf, h.length);
            rtt_event(out, "dup sent txn=%u", h.txn);
        }
    } else if (strcmp(attack, "rewrite") == 0) {
        struct rw_arg a = { c };
        pthread_t th;
        atomic_store(&rw_pos, c->tx.prod);
        atomic_store(&rw_invalid_only, 0);
        atomic_store(&rewriting, 1);
        pthread_create(&th, NULL, rewriter, &a);
        unsigned char p[64];
        memset(p, 0x5a, sizeof p);
        struct idc_frame_hdr f = { IDC_FRAME_MESSAGE, 0, RTT_OP_SINK, sizeof p, c->epoch, 0, 0, 0 };
        uint32_t fs = idc_frame_size(sizeof p);
        unsigned char fr[sizeof f + sizeof p];
        memcpy(fr, &f, sizeof f);
        memcpy(fr + sizeof f, p, sizeof p);
        /* phase 1 (1.5 s): publish valid frames, ignoring credits and space, while the other
           thread rewrites the most recent ones with a mix of valid and invalid values */
        uint64_t end = rtt_now_ms() + 1500;
        int sent = 0;
        bool closed = false;
        while (rtt_now_ms() < end) {
            raw_publish(c, fr, sizeof fr, fs);
            c->tx.prod += fs;
            atomic_store(&rw_pos, c->tx.prod - 512);
            sent++;
            struct pollfd pf = { c->sock, POLLIN, 0 };
            if (poll(&pf, 1, 0) > 0) {
                closed = true;
                break;
            }
            if (sent % 16 == 0)
                usleep(100);
        }
        /* phase 2: once the victim caught up, frames whose headers the other thread keeps
           rewriting to invalid values before and after they are published */
        if (!closed) {
            for (int i = 0;
                 i < 200 && __atomic_load_n(&c->txc->cons, __ATOMIC_ACQUIRE) != c->tx.prod; i++)
                usleep(5000);
            uint32_t start = c->tx.prod;
            for (int i = 0; i < 8; i++)
                for (uint32_t k = 0; k < sizeof fr; k++)
                    c->txd[(start + (uint32_t)i * fs + k) & (c->ring_size - 1)] = fr[k];
            atomic_store(&rw_invalid_only, 1);
            atomic_store(&rw_pos, start);
            usleep(5000);
            c->tx.prod = start + 8 * fs;
            __atomic_store_n(&c->txc->prod, c->tx.prod, __ATOMIC_RELEASE);
            wake_peer(c);
            usleep(50000);
        }
        atomic_store(&rewriting, 0);
        pthread_join(th, NULL);
        rtt_event(out, "rewrite sent=%d phase2=%s", sent, closed ? "no" : "yes");
    } else if (strcmp(attack, "storm") == 0) {
        uint64_t end = rtt_now_ms() + 8000;
        unsigned long writes = 0;
        struct pollfd p = { c->sock, POLLIN, 0 };
        while (rtt_now_ms() < end) {
            for (int k = 0; k < 1024; k++, writes++)
                wake_peer(c);
            if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLIN)))
                break; /* the victim closed */
        }
        rtt_event(out, "storm writes=%lu", writes);
    } else if (strcmp(attack, "flood") == 0) {
        /* legal traffic, as fast as the credits allow, for 3 s: the victim must keep serving
           its other endpoints (and return from dispatch) meanwhile */
        uint64_t v = 0, end = rtt_now_ms() + 3000;
        unsigned long sent = 0;
        rtt_event(out, "flooding");
        while (rtt_now_ms() < end) {
            if (idc_ring_tx_check(&c->tx) != 0)
                break;
            for (int k = 0; k < 4096 && idc_ring_tx_msg_credit(&c->tx) > 0; k++) {
                struct idc_frame_hdr f = {
                    IDC_FRAME_MESSAGE, 0, RTT_OP_SINK, 8, c->epoch, 0, 0, 0
                };
                if (idc_ring_push(&c->tx, &f, &v) != 0)
                    break;
                v++;
                sent++;
            }
            if (idc_ring_tx_need_notify(&c->tx))
                wake_peer(c);
            struct pollfd pf = { c->sock, POLLIN, 0 };
            if (poll(&pf, 1, 0) > 0)
                break;
        }
        rtt_event(out, "flood sent=%lu", sent);
    } else if (strcmp(attack, "credit") == 0) {
        /* we consume the victim's ring: claim far more messages consumed than it sent */
        __atomic_store_n(&c->rxc->msg_cons, 0x40000000u, __ATOMIC_RELEASE);
        __atomic_store_n(&c->rxc->cons, 0x40000000u, __ATOMIC_RELEASE);
        wake_peer(c);
    } else {
        rtt_event(out, "error unknown attack %s", attack);
    }
    bool closed = wait_closed(c, 8000);
    rtt_event(out, closed ? "closed" : "still-open");
}

static void serve(void)
{
    int ls = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (ls < 0)
        die("socket");
    struct sockaddr_un tmp, fin;
    char tname[128], fname[128];
    snprintf(tname, sizeof tname, ".%s.tmp-%d", name, (int)getpid());
    snprintf(fname, sizeof fname, "%s.sock", name);
    sock_path(&tmp, tname);
    sock_path(&fin, fname);
    if (bind(ls, (struct sockaddr *)&tmp, sizeof tmp) != 0 || listen(ls, 8) != 0)
        die("bind");
    if (rename(tmp.sun_path, fin.sun_path) != 0)
        die("rename");
    rtt_event(out, "ready");
    for (int conn = 1;; conn++) {
        struct chan c;
        memset(&c, 0, sizeof c);
        c.backend = true;
        c.memfd = c.efd_fe = c.efd_be = -1;
        c.sock = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
        if (c.sock < 0)
            die("accept");
        struct idc_shm_hello hello;
        if (recv_rec(c.sock, &hello, sizeof hello, NULL, NULL, 5000) != (ssize_t)sizeof hello ||
            hello.magic != IDC_SHM_MAGIC || hello.type != IDC_SHM_HELLO) {
            rtt_event(out, "error bad hello");
            close(c.sock);
            continue;
        }
        c.max_frame = hello.max_frame;
        c.max_tx = hello.max_transactions;
        c.max_msg = hello.max_messages;
        c.ring_size = idc_ring_size_for(c.max_msg + 2 * c.max_tx, c.max_frame);
        c.bytes = 2 * idc_ring_bytes(c.ring_size);
        c.memfd = memfd_create("rtt-hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (c.memfd < 0 || ftruncate(c.memfd, (off_t)c.bytes) != 0)
            die("memfd");
        c.mem = mmap(NULL, c.bytes, PROT_READ | PROT_WRITE, MAP_SHARED, c.memfd, 0);
        if (c.mem == MAP_FAILED)
            die("mmap");
        idc_ring_init_shared(c.mem);
        idc_ring_init_shared(c.mem + idc_ring_bytes(c.ring_size));
        /* lies in the WELCOME (attacks "w-*"): the victim must refuse the channel */
        bool lie = strncmp(attack, "w-", 2) == 0;
        if (strcmp(attack, "w-small") == 0 && ftruncate(c.memfd, (off_t)(c.bytes / 2)) != 0)
            die("ftruncate");
        if (strcmp(attack, "w-unsealed") != 0)
            fcntl(c.memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
        c.efd_fe = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        c.efd_be = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (strcmp(attack, "w-pipe") == 0) {
            int pp[2];
            if (pipe2(pp, O_CLOEXEC) != 0)
                die("pipe");
            close(c.efd_fe);
            close(c.efd_be);
            c.efd_fe = pp[0];
            c.efd_be = pp[1];
        }
        c.epoch = 0x1000u * (uint32_t)conn + 7u;
        struct idc_shm_welcome w = {
            IDC_SHM_MAGIC, IDC_SHM_WELCOME, IDC_SHM_WIRE, hello.min_version, c.epoch,
            c.max_frame,   c.max_tx,        c.max_msg,    c.ring_size,       0
        };
        if (strcmp(attack, "w-ringsize") == 0)
            w.ring_size = c.ring_size - 8; /* not a power of two, and too small */
        if (strcmp(attack, "w-bigring") == 0)
            w.ring_size = c.ring_size * 4; /* larger than the memfd */
        if (strcmp(attack, "w-frame") == 0)
            w.max_frame = c.max_frame * 4; /* above what the victim asked for */
        if (strcmp(attack, "w-credits") == 0)
            w.max_transactions = c.max_tx * 4;
        if (strcmp(attack, "w-epoch0") == 0)
            w.epoch = 0;
        if (strcmp(attack, "w-tinyframe") == 0)
            w.max_frame = 1;
        if (strcmp(attack, "w-version") == 0)
            w.version = 77; /* a version the victim never offered */
        int fds[3] = { c.memfd, c.efd_fe, c.efd_be };
        int nfds = strcmp(attack, "w-nofds") == 0 ? 0 : 3;
        if (send_fds(c.sock, &w, sizeof w, fds, nfds) != 0) {
            rtt_event(out, "error welcome: %s", strerror(errno));
            unmap(&c);
            continue;
        }
        struct idc_shm_ready r;
        if (recv_rec(c.sock, &r, sizeof r, NULL, NULL, 5000) != (ssize_t)sizeof r ||
            r.type != IDC_SHM_READY || r.epoch != w.epoch) {
            rtt_event(out, lie ? "refused conn=%d" : "error bad ready", conn);
            unmap(&c);
            continue;
        }
        if (lie) {
            rtt_event(out, "accepted-lie conn=%d", conn);
            if (strcmp(attack, "w-unsealed") == 0) {
                /* pull the pages from under the victim, then wake it */
                if (ftruncate(c.memfd, 0) != 0)
                    rtt_event(out, "error shrink: %s", strerror(errno));
                wake_peer(&c);
            }
            wait_closed(&c, 3000);
            unmap(&c);
            continue;
        }
        attach(&c);
        rtt_event(out, "conn %d epoch=%u ring=%u", conn, c.epoch, c.ring_size);
        attack_backend(&c);
        prev_epoch = c.epoch;
        unmap(&c);
    }
}

/* ------------------------------------------------------------------ frontend side */
static int dial(void)
{
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa;
    char fname[128];
    snprintf(fname, sizeof fname, "%s.sock", name);
    sock_path(&sa, fname);
    for (int i = 0; i < 200; i++) {
        if (connect(s, (struct sockaddr *)&sa, sizeof sa) == 0)
            return s;
        usleep(20000);
    }
    die("connect");
    return -1;
}

static void fill_hello(struct idc_shm_hello *h)
{
    memset(h, 0, sizeof *h);
    h->magic = IDC_SHM_MAGIC;
    h->type = IDC_SHM_HELLO;
    h->wire = IDC_SHM_WIRE;
    h->min_version = 1;
    h->max_version = 1;
    h->max_frame = RTT_MAX_FRAME;
    h->max_transactions = 8;
    h->max_messages = 8;
    snprintf(h->protocol, sizeof h->protocol, "%s", rtt_proto.name);
    h->hash[0] = rtt_proto.version_hash[0];
}

/* one reply to a handshake record: the type, or 0 when the victim just closed */
static void report_reply(int s, const char *what)
{
    union {
        struct idc_shm_refuse r;
        struct idc_shm_welcome w;
        char b[512];
    } u;
    int fds[3], nfd = 0;
    ssize_t n = recv_rec(s, &u, sizeof u, fds, &nfd, 3000);
    for (int i = 0; i < nfd; i++)
        close(fds[i]);
    if (n < 0) {
        rtt_event(out, "reply case=%s type=0 status=0", what);
    } else if (n >= 16 && u.r.type == IDC_SHM_REFUSE) {
        u.r.reason[sizeof u.r.reason - 1] = 0;
        rtt_event(out, "reply case=%s type=%u status=%d reason=%s", what, u.r.type, u.r.status,
                  u.r.reason);
    } else {
        rtt_event(out, "reply case=%s type=%u status=0 len=%zd", what, n >= 8 ? u.w.type : 0u, n);
    }
}

static bool handshake(struct chan *c)
{
    memset(c, 0, sizeof *c);
    c->memfd = c->efd_fe = c->efd_be = -1;
    c->sock = dial();
    struct idc_shm_hello h;
    fill_hello(&h);
    if (send_fds(c->sock, &h, sizeof h, NULL, 0) != 0)
        return false;
    struct idc_shm_welcome w;
    int fds[3] = { -1, -1, -1 }, nfd = 0;
    if (recv_rec(c->sock, &w, sizeof w, fds, &nfd, 5000) != (ssize_t)sizeof w ||
        w.type != IDC_SHM_WELCOME || nfd != 3) {
        rtt_event(out, "error no welcome");
        return false;
    }
    c->memfd = fds[0];
    c->efd_fe = fds[1];
    c->efd_be = fds[2];
    c->epoch = w.epoch;
    c->ring_size = w.ring_size;
    c->max_frame = w.max_frame;
    c->max_tx = w.max_transactions;
    c->max_msg = w.max_messages;
    c->bytes = 2 * idc_ring_bytes(c->ring_size);
    c->mem = mmap(NULL, c->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, c->memfd, 0);
    if (c->mem == MAP_FAILED) {
        c->mem = NULL;
        return false;
    }
    struct idc_shm_ready r = { IDC_SHM_MAGIC, IDC_SHM_READY, IDC_SHM_WIRE, c->epoch };
    if (send_fds(c->sock, &r, sizeof r, NULL, 0) != 0)
        return false;
    attach(c);
    rtt_event(out, "conn 1 epoch=%u ring=%u", c->epoch, c->ring_size);
    return true;
}

static void attack_frontend(void)
{
    rtt_event(out, "attack %s", attack);
    if (strcmp(attack, "silent") == 0) {
        enum { N = 24 };
        struct pollfd p[N];
        unsigned long opened = 0, closed_by_victim = 0;
        for (int i = 0; i < N; i++, opened++)
            p[i] = (struct pollfd){ dial(), POLLIN, 0 };
        uint64_t end = rtt_now_ms() + 6000;
        while (rtt_now_ms() < end) {
            if (poll(p, N, 20) <= 0)
                continue;
            for (int i = 0; i < N; i++) {
                if (!p[i].revents)
                    continue;
                char b[512];
                if (recv(p[i].fd, b, sizeof b, MSG_DONTWAIT) > 0)
                    continue; /* the REFUSE record; the close follows */
                close(p[i].fd);
                closed_by_victim++;
                p[i].fd = dial();
                opened++;
            }
        }
        rtt_event(out, "silent opened=%lu closed=%lu", opened, closed_by_victim);
        return;
    }
    if (strcmp(attack, "handshake") == 0) {
        struct idc_shm_hello h;
        int s;
        /* too short */
        s = dial();
        send_fds(s, "garbage", 7, NULL, 0);
        report_reply(s, "short");
        close(s);
        /* wrong magic */
        s = dial();
        fill_hello(&h);
        h.magic ^= 0xffu;
        send_fds(s, &h, sizeof h, NULL, 0);
        report_reply(s, "magic");
        close(s);
        /* name without its NUL */
        s = dial();
        fill_hello(&h);
        memset(h.protocol, 'r', sizeof h.protocol);
        send_fds(s, &h, sizeof h, NULL, 0);
        report_reply(s, "name");
        close(s);
        /* absurd limits */
        s = dial();
        fill_hello(&h);
        h.max_frame = 0xffffffffu;
        h.max_transactions = 0xffffffffu;
        h.max_messages = 0xffffffffu;
        send_fds(s, &h, sizeof h, NULL, 0);
        report_reply(s, "limits");
        close(s);
        /* a version range longer than the hash table */
        s = dial();
        fill_hello(&h);
        h.min_version = 1;
        h.max_version = 1000;
        send_fds(s, &h, sizeof h, NULL, 0);
        report_reply(s, "range");
        close(s);
        /* inverted range */
        s = dial();
        fill_hello(&h);
        h.min_version = 3;
        h.max_version = 1;
        send_fds(s, &h, sizeof h, NULL, 0);
        report_reply(s, "inverted");
        close(s);
        /* a record larger than any handshake record */
        s = dial();
        {
            static char big[8192];
            memset(big, 0x41, sizeof big);
            send_fds(s, big, sizeof big, NULL, 0);
        }
        report_reply(s, "huge");
        close(s);
        /* READY without HELLO */
        s = dial();
        {
            struct idc_shm_ready r = { IDC_SHM_MAGIC, IDC_SHM_READY, IDC_SHM_WIRE, 1 };
            send_fds(s, &r, sizeof r, NULL, 0);
        }
        report_reply(s, "ready-first");
        close(s);
        /* HELLO then silence (the victim must not hang on us): just close */
        s = dial();
        fill_hello(&h);
        send_fds(s, &h, sizeof h, NULL, 0);
        report_reply(s, "hello-then-close");
        close(s);
        rtt_event(out, "done");
        return;
    }
    struct chan c;
    if (!handshake(&c)) {
        rtt_event(out, "error handshake failed");
        return;
    }
    static unsigned char buf[IDC_MAX_FRAME_LIMIT];
    struct idc_frame_hdr h;
    if (strcmp(attack, "fhonest") == 0) {
        push(&c, IDC_FRAME_REQUEST, RTT_OP_ECHO, c.epoch, 1, 0, "hello", 5);
        if (next_frame(&c, &h, buf, 5000) == 0 && h.kind == IDC_FRAME_RESPONSE && h.txn == 1 &&
            h.length == 5 && memcmp(buf, "hello", 5) == 0)
            rtt_event(out, "result ok");
        else
            rtt_event(out, "result bad");
        unmap(&c);
        return;
    } else if (strcmp(attack, "fgarbage") == 0) {
        unsigned char g[1024];
        for (size_t i = 0; i < sizeof g; i++)
            g[i] = (unsigned char)rand();
        raw_publish(&c, g, sizeof g, sizeof g);
    } else if (strcmp(attack, "consl") == 0) {
        /* we consume the victim's ring: claim bytes and messages it never produced */
        __atomic_store_n(&c.rxc->cons, 0x7ffffff8u, __ATOMIC_RELEASE);
        __atomic_store_n(&c.rxc->msg_cons, 0x40000000u, __ATOMIC_RELEASE);
        push(&c, IDC_FRAME_REQUEST, RTT_OP_ECHO, c.epoch, 1, 0, "hello", 5);
    } else if (strcmp(attack, "reqflood") == 0) {
        /* three times the transaction credit, all of them held by the victim */
        uint32_t n = 3 * c.max_tx;
        for (uint32_t i = 0; i < n; i++) {
            uint64_t v = i;
            if (push(&c, IDC_FRAME_REQUEST, RTT_OP_HOLD, c.epoch, 100 + i, 0, &v, sizeof v) != 0) {
                rtt_event(out, "flood stopped at %u", i);
                break;
            }
        }
        rtt_event(out, "flooded %u", n);
    } else if (strcmp(attack, "nocons") == 0) {
        /* one at a time, each answered before the next is sent; our consumer index stays 0 */
        uint32_t n = c.max_tx + 8, sent = 0;
        for (; sent < n; sent++) {
            if (push(&c, IDC_FRAME_REQUEST, RTT_OP_ECHO, c.epoch, 100 + sent, 0, "x", 1) != 0)
                break;
            usleep(2000);
        }
        /* count the responses waiting in our ring (none may be missing) */
        uint32_t responses = 0;
        struct idc_frame_hdr h2;
        static unsigned char b2[IDC_MAX_FRAME_LIMIT];
        while (idc_ring_rx_poll(&c.rx) > 0 && idc_ring_rx_pop(&c.rx, &h2, b2) == 0)
            if (h2.kind == IDC_FRAME_RESPONSE)
                responses++;
        rtt_event(out, "nocons sent=%u responses=%u credit=%u", sent, responses, c.max_tx);
    }
    bool closed = wait_closed(&c, 8000);
    rtt_event(out, closed ? "closed" : "still-open");
    unmap(&c);
}

/* ------------------------------------------------------------------ buffer service */
static const char *rbuf_hex;

static int mapreq(const struct idc_rbuf *rb, struct idc_shm_maprep *rep, int *fds, int *nfd)
{
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa;
    char fname[64];
    snprintf(fname, sizeof fname, ".rbuf-%016llx.sock", (unsigned long long)rb->owner);
    sock_path(&sa, fname);
    if (connect(s, (struct sockaddr *)&sa, sizeof sa) != 0) {
        rtt_event(out, "error connect %s: %s", sa.sun_path, strerror(errno));
        close(s);
        return -1;
    }
    struct idc_shm_mapreq q = { IDC_SHM_MAGIC, IDC_SHM_MAPREQ, IDC_SHM_WIRE, rb->id, rb->generation,
                                rb->rights,    rb->owner,      rb->length,   { 0 } };
    memcpy(q.key, rb->key, sizeof q.key);
    send_fds(s, &q, sizeof q, NULL, 0);
    *nfd = 0;
    ssize_t n = recv_rec(s, rep, sizeof *rep, fds, nfd, 3000);
    close(s);
    if (n != (ssize_t)sizeof *rep) {
        memset(rep, 0, sizeof *rep);
        rep->status = 1; /* no reply */
    }
    return 0;
}

/* Ask the owner's buffer service directly, with the genuine reference and forged ones; with
 * what comes back, try to get write access a read-only reference must not give. */
static void attack_rbuf(void)
{
    struct idc_rbuf rb;
    uint8_t w[IDC_RBUF_WIRE_SIZE];
    if (!rbuf_hex || strlen(rbuf_hex) != 2 * IDC_RBUF_WIRE_SIZE) {
        rtt_event(out, "error --rbuf");
        return;
    }
    for (int i = 0; i < IDC_RBUF_WIRE_SIZE; i++) {
        unsigned v;
        sscanf(rbuf_hex + 2 * i, "%2x", &v);
        w[i] = (uint8_t)v;
    }
    if (idc_rbuf_decode(&rb, w) != 0) {
        rtt_event(out, "error decode");
        return;
    }
    struct {
        const char *name;
        struct idc_rbuf rb;
    } cases[6];
    for (int i = 0; i < 6; i++)
        cases[i].rb = rb;
    cases[0].name = "genuine";
    cases[1].name = "badkey";
    cases[1].rb.key[3] ^= 0x40;
    cases[2].name = "escalate";
    cases[2].rb.rights = IDC_RBUF_READ | IDC_RBUF_WRITE;
    cases[3].name = "biglen";
    cases[3].rb.length = rb.length * 2;
    cases[4].name = "stalegen";
    cases[4].rb.generation += 2;
    cases[5].name = "badid";
    cases[5].rb.id = 0x7fffffffu;
    for (int i = 0; i < 6; i++) {
        struct idc_shm_maprep rep;
        int fds[3] = { -1, -1, -1 }, nfd = 0;
        if (mapreq(&cases[i].rb, &rep, fds, &nfd) != 0)
            return;
        const char *wmap = "none", *reopen = "none", *pw = "none", *shrink = "none";
        if (nfd >= 1) {
            /* pull the pages from under the owner: its next touch would SIGBUS */
            shrink = ftruncate(fds[0], 0) == 0 ? "ok" : "refused";
            long pg = sysconf(_SC_PAGESIZE);
            off_t off = (off_t)(rep.offset & ~(uint64_t)(pg - 1));
            void *m = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], off);
            if (m != MAP_FAILED) {
                wmap = "ok";
                munmap(m, (size_t)pg);
            } else {
                wmap = "refused";
            }
            /* a read-only descriptor re-opened read-write through /proc */
            char path[64];
            snprintf(path, sizeof path, "/proc/self/fd/%d", fds[0]);
            int rw = open(path, O_RDWR | O_CLOEXEC);
            if (rw >= 0) {
                unsigned char junk = 0xee;
                pw = pwrite(rw, &junk, 1, (off_t)rep.offset) == 1 ? "wrote" : "refused";
                if (strcmp(shrink, "ok") != 0)
                    shrink = ftruncate(rw, 0) == 0 ? "ok" : "refused";
                unsigned char *m2 = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_SHARED, rw,
                                         off);
                if (m2 != MAP_FAILED) {
                    m2[rep.offset - (uint64_t)off] ^= 0xff; /* the owner must never see this */
                    reopen = "wrote";
                    munmap(m2, (size_t)pg);
                } else {
                    reopen = "opened";
                }
                close(rw);
            } else {
                reopen = "refused";
            }
        }
        for (int k = 0; k < nfd; k++)
            close(fds[k]);
        rtt_event(out,
                  "mapreq case=%s status=%d nfd=%d write_map=%s reopen_rw=%s pwrite=%s "
                  "shrink=%s",
                  cases[i].name, rep.status, nfd, wmap, reopen, pw, shrink);
    }
    /* garbage on the buffer service */
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa;
    char fname[64];
    snprintf(fname, sizeof fname, ".rbuf-%016llx.sock", (unsigned long long)rb.owner);
    sock_path(&sa, fname);
    if (connect(s, (struct sockaddr *)&sa, sizeof sa) == 0) {
        send_fds(s, "junk", 4, NULL, 0);
        report_reply(s, "junk");
    }
    close(s);
    rtt_event(out, "done");
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "dir", 1, 0, 'd' },  { "out", 1, 0, 'o' },    { "role", 1, 0, 'r' },
        { "name", 1, 0, 'n' }, { "attack", 1, 0, 'a' }, { "rbuf", 1, 0, 'b' },
        { 0, 0, 0, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'r':
            role = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'a':
            attack = optarg;
            break;
        case 'b':
            rbuf_hex = optarg;
            break;
        default:
            return 2;
        }
    }
    if (!dir || (!name && strcmp(role, "rbuf") != 0))
        return 2;
    signal(SIGPIPE, SIG_IGN);
    srand((unsigned)getpid());
    if (strcmp(role, "backend") == 0)
        serve();
    else if (strcmp(role, "rbuf") == 0)
        attack_rbuf();
    else
        attack_frontend();
    rtt_event(out, "exit");
    return 0;
}
