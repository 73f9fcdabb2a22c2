/* proto.h - libidc private: the fabric transport's wire records.
 *
 * Every record is one libfabric message (RDM endpoint, FI_ORDER_SAS: messages between two
 * endpoints arrive in the order they were sent), host byte order of the sender checked by the
 * magic (a peer of the other byte order fails the magic and is dropped), a fixed header followed
 * by `len` payload bytes. Nothing here is trusted: the receiver copies the header once, checks
 * magic, type and length against the message size, then finds the connection by `dst`.
 *
 *   frontend                                   backend
 *     HELLO {service, protocol, versions, hashes, limits, token, node, address} --->
 *           <--- WELCOME {token, version, epoch, limits, ring size}  or REFUSE {status, reason}
 *     DATA (len 0 is enough) ------------------->  the backend's READY: connected
 *     ... DATA both ways: ring bytes and consumer indexes; an idle side sends an empty DATA
 *         (heartbeat) every heartbeat/4; silence for the heartbeat bound = disconnect ...
 *     BYE either way: the sender closed the connection
 *     DATA with FAB_F_PROBE: "answer at once" (the receiver sends a DATA back without waiting
 *         for its next heartbeat; the frontend asks when the registry says the backend is gone)
 *
 * DATA carries the sender's tx-ring bytes [pos, pos + len) (pos: the producer index of the first
 * byte; the receiver requires pos == what it received so far and that the bytes fit the space
 * its consumer freed) and the sender's consumer indexes of the other ring (cons, msg_cons), which
 * the receiver stores in its tx ring's control block for the core to validate.
 */
#ifndef IDC_FABRIC_PROTO_H
#define IDC_FABRIC_PROTO_H

#include <stdint.h>

#include "idc.h"
#include "transport.h"

#define FAB_MAGIC      0x31464449u /* "IDF1" */
#define FAB_WIRE       2u          /* 2: the header's flags (FAB_F_PROBE) */
#define FAB_ADDR_MAX   64u         /* a provider address (tcp: a sockaddr) */
#define FAB_NODE_MAX   63u         /* node identity bytes ([A-Za-z0-9._-]) */
#define FAB_REASON_MAX 160u
#define FAB_CHUNK \
    12288u /* ring bytes per DATA message: below ofi_rxm's eager limit (16 KiB
                                 buffers by default), where messages keep their order; larger
                                 ones go by rendezvous and overtake smaller ones */

enum fab_type {
    FAB_HELLO = 1,
    FAB_WELCOME = 2,
    FAB_REFUSE = 3,
    FAB_DATA = 4,
    FAB_BYE = 5,
    FAB_XREQ = 6,   /* remote buffers: a transfer asked of the owner */
    FAB_XREP = 7,   /* the owner's answer: the transfer's status */
    FAB_XALIVE = 8, /* the owner still works on a transfer (every tick) */
};

struct fab_hdr {
    uint32_t magic;
    uint32_t type;
    uint64_t dst; /* the receiver's connection token (0 in HELLO) */
    uint32_t epoch;
    uint32_t pos;      /* DATA: producer index of the first byte */
    uint32_t cons;     /* DATA: the sender's consumer indexes */
    uint32_t msg_cons; /*       of the ring the receiver produces */
    uint32_t len;      /* payload bytes after the header */
    uint32_t flags;    /* FAB_F_*; a record with another bit set is dropped */
};
#define FAB_F_PROBE 1u /* DATA: answer with a DATA at once (liveness probe) */
#define FAB_F_KNOWN FAB_F_PROBE
_Static_assert(sizeof(struct fab_hdr) == 40, "fabric header is 40 bytes");

struct fab_hello {
    uint32_t wire;
    uint32_t min_version, max_version;
    uint32_t max_frame, max_transactions, max_messages;
    uint64_t token; /* the frontend's: backend -> frontend records carry it in dst */
    char service[IDC_NAME_MAX + 1];
    char protocol[IDC_PROTOCOL_NAME_MAX + 1];
    char node[FAB_NODE_MAX + 1];
    uint32_t addrlen;
    uint8_t addr[FAB_ADDR_MAX]; /* where the frontend receives */
    uint64_t hash[IDC_MAX_VERSIONS];
};

struct fab_welcome {
    uint64_t token; /* the backend's */
    uint32_t version, epoch;
    uint32_t max_frame, max_transactions, max_messages;
    uint32_t ring_size;
};

struct fab_refuse {
    int32_t status;
    char reason[FAB_REASON_MAX];
};

/* Remote buffers (buffers.c): the requester registers its own memory for one transfer and
   asks the owner, which checks the reference (owner, id, generation, key, rights, range) against
   its registrations before any byte moves, then reads (send) or writes (receive) the requester's
   memory by RMA and answers. dst is 0 in XREQ; XREP/XALIVE carry the requester's xid in dst. */
struct fab_xreq {
    uint64_t xid; /* the requester's transfer token */
    uint64_t owner, length;
    uint32_t id, generation, rights, write; /* write: send_to_remote_buffer */
    uint8_t key[16];
    uint64_t offset, len;
    uint64_t raddr, rkey; /* the requester's registration of its memory (len bytes) */
    uint32_t addrlen, reserved;
    uint8_t addr[FAB_ADDR_MAX]; /* where the requester receives */
};

struct fab_xrep {
    int32_t status; /* 0, IDC_ERR_BADREF, IDC_ERR_REVOKED, IDC_ERR_RIGHTS, IDC_ERR_IO, ... */
    uint32_t reserved;
};

#endif /* IDC_FABRIC_PROTO_H */
