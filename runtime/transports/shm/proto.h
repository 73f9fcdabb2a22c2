/* shm_proto.h - libidc private: the shm transport's handshake and buffer-service wire formats.
 *
 * Everything travels over AF_UNIX SOCK_SEQPACKET sockets in the context's shm directory, host
 * byte order, fixed-size records (a record of the wrong size or type is refused).
 *
 * Service socket "<dir>/<NAME>.sock" (published by a backend endpoint: bind to a temporary name,
 * listen, then rename into place, so watchers never see a socket that refuses connections).
 *
 *   frontend                                   backend
 *     connect ------------------------------->   accept (one connection at a time; SO_PEERCRED
 *                                                checked against the policy, both directions)
 *     HELLO   ------------------------------->   protocol name, version range + hashes, limits
 *             <-------------------------------   WELCOME + SCM_RIGHTS [ring memfd, efd_fe, efd_be]
 *                                                or REFUSE {status, reason} (MISMATCH, PERM, ...)
 *     READY   ------------------------------->   {epoch}: both sides connected
 *     ... the socket stays open, silent: HUP (close, exit, kill -9) = disconnect ...
 *
 * Ring memfd (sealed: F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL; the frontend checks the seals
 * and the size before mapping, so a hostile backend cannot SIGBUS it):
 *   [0, ring_bytes)                   ring 0: frontend -> backend (ring.h layout)
 *   [ring_bytes, 2 * ring_bytes)      ring 1: backend -> frontend
 * with ring_bytes = IDC_RING_CTRL_SIZE + ring_size. Each ring holds max_messages +
 * 2 * max_transactions frames of max_frame bytes (own messages, own requests, responses to
 * the peer's requests), so a credited frame always fits.
 * efd_fe is written by the backend to wake the frontend, efd_be the other way.
 *
 * Buffer service socket "<dir>/.rbuf-<owner as 16 hex digits>.sock" (published by a context on
 * its first idc_buffer_register). A context transferring to/from a remote buffer connects to
 * it by the owner id in the reference and sends MAPREQ; the owner checks id, generation, key,
 * rights and length and answers MAPREP + SCM_RIGHTS [data memfd, generation table memfd]
 * (read-only reopen of the data memfd when the reference has no WRITE right; the generation
 * table is always read-only). Replies come in request order. The user maps the registered range
 * and copies with one memcpy per transfer; before each transfer it checks the owner's generation
 * table (u32 per registration slot; a live registration's generation is odd) so an unregister is
 * seen at once.
 */
#ifndef IDC_SHM_PROTO_H
#define IDC_SHM_PROTO_H

#include <stdint.h>

#include "idc.h"

#define IDC_SHM_MAGIC      0x31434449u /* "IDC1" */
#define IDC_SHM_WIRE       1u          /* version of this file's records */
#define IDC_SHM_REASON_MAX 160u

enum idc_shm_type {
    IDC_SHM_HELLO = 1,
    IDC_SHM_WELCOME = 2,
    IDC_SHM_REFUSE = 3,
    IDC_SHM_READY = 4,
    IDC_SHM_MAPREQ = 16,
    IDC_SHM_MAPREP = 17,
};

struct idc_shm_hello { /* frontend -> backend */
    uint32_t magic, type, wire;
    uint32_t min_version, max_version;
    uint32_t max_frame, max_transactions, max_messages;
    char protocol[IDC_PROTOCOL_NAME_MAX + 1]; /* NUL-terminated, NUL-padded */
    uint64_t hash[IDC_MAX_VERSIONS];          /* [max_version - min_version + 1] used, rest 0 */
};

struct idc_shm_welcome { /* backend -> frontend, with 3 fds */
    uint32_t magic, type, wire;
    uint32_t version;                                   /* negotiated */
    uint32_t epoch;                                     /* non-zero */
    uint32_t max_frame, max_transactions, max_messages; /* negotiated (<= both sides) */
    uint32_t ring_size;                                 /* data bytes per ring, power of two */
    uint32_t reserved;
};

struct idc_shm_refuse { /* either way, then close */
    uint32_t magic, type, wire;
    int32_t status;                  /* IDC_ERR_MISMATCH, IDC_ERR_PERM, IDC_ERR_TOOBIG, ... */
    char reason[IDC_SHM_REASON_MAX]; /* NUL-terminated */
};

struct idc_shm_ready { /* frontend -> backend */
    uint32_t magic, type, wire;
    uint32_t epoch;
};

struct idc_shm_mapreq { /* buffer user -> owner */
    uint32_t magic, type, wire;
    uint32_t id, generation, rights; /* from the reference */
    uint64_t owner, length;
    uint8_t key[16];
};

struct idc_shm_maprep { /* owner -> buffer user; fds only when status == 0 */
    uint32_t magic, type, wire;
    int32_t status;                  /* 0, IDC_ERR_BADREF, IDC_ERR_REVOKED, IDC_ERR_RIGHTS */
    uint32_t id, generation, rights; /* rights granted */
    uint32_t gen_slots;              /* entries in the generation table */
    uint64_t offset;                 /* of the registered range within the data memfd */
    uint64_t length;
};

#endif /* IDC_SHM_PROTO_H */
