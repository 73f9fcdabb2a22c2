/* statsfile.h - the stats file a context exports, shared by its writer (the core, stats.c) and
 * its readers (idcctl). docs/runtime.md ("Runtime counters") describes it for other readers.
 *
 * Model
 *   Each context that creates an endpoint maps one file, <dir>/<pid>-<context id>.stats: a
 *   header written once, then IDC_STATS_SLOTS slots, one per endpoint (a context with more
 *   endpoints exports the first IDC_STATS_SLOTS only). The file is created under a temporary
 *   dot-name, filled, locked (flock LOCK_EX, held while the context lives) and only then renamed
 *   into place, so a reader never sees a half-made file. The context removes it on destroy; the
 *   file of a process that died is unlocked, which is how a reader tells it is stale.
 *
 *   One writer: the context's thread. A slot has two parts.
 *     - The description (state, address, protocol, peer, limits, last error and its reason),
 *       changed only at lifecycle events, under a seqlock: seq is odd while the writer changes it;
 *       a reader copies the description between two reads of an equal, even seq.
 *     - The counters, changed on the hot path by plain increments (no atomics, no barrier: a
 *       counter is one aligned 64-bit word, stored whole by the 64-bit targets idc runs on).
 *       A reader loads each one whole; two counters read together may be one operation apart
 *       while traffic flows (exact once it stops).
 *
 *   Everything a reader finds in the file is untrusted: it checks the size, the magic and the
 *   format, bounds every string and every enum before use.
 *
 * Layout (host byte order, like the rings):
 *   offset 0                        struct idc_stats_hdr (IDC_STATS_HDR_SIZE bytes)
 *   IDC_STATS_HDR_SIZE + i * SLOT   struct idc_stats_slot i (IDC_STATS_SLOT_SIZE bytes)
 * The file is sparse: the pages of slots never used take no memory.
 */
#ifndef IDC_STATSFILE_H
#define IDC_STATSFILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define IDC_STATS_MAGIC     UINT64_C(0x3174617473636469) /* "idcstat1" in little-endian bytes */
#define IDC_STATS_FORMAT    1u
#define IDC_STATS_SLOTS     256u
#define IDC_STATS_HDR_SIZE  256u
#define IDC_STATS_SLOT_SIZE 512u
#define IDC_STATS_FILE_SIZE (IDC_STATS_HDR_SIZE + IDC_STATS_SLOTS * IDC_STATS_SLOT_SIZE)
#define IDC_STATS_SUFFIX    ".stats"

/* Written once before the file is renamed into place. */
struct idc_stats_hdr {
    uint64_t magic;     /* IDC_STATS_MAGIC */
    uint32_t format;    /* IDC_STATS_FORMAT */
    uint32_t hdr_size;  /* IDC_STATS_HDR_SIZE */
    uint32_t slot_size; /* IDC_STATS_SLOT_SIZE */
    uint32_t nslots;    /* IDC_STATS_SLOTS */
    uint64_t ctx_id;    /* idc_context_id */
    uint64_t created;   /* CLOCK_REALTIME, ns */
    int32_t pid;        /* the process */
    uint32_t uid;       /* its effective uid */
    char program[32];   /* its name (/proc/self/comm), NUL-terminated */
    unsigned char pad_[IDC_STATS_HDR_SIZE - 80];
};
_Static_assert(sizeof(struct idc_stats_hdr) == IDC_STATS_HDR_SIZE, "stats header size");

/* The hot-path counters of one endpoint, for its whole life (all its connections). Bytes are
   payload bytes (what the driver sent or received, without frame headers). */
struct idc_stats_counters {
    /* Frames sent and received (messages, requests, responses) and their payload bytes. A
       frame's two counters are not neighbours: the compiler would make one vector add of
       them, more instructions than two scalar ones. */
    uint64_t tx_frames, rx_frames;
    uint64_t tx_bytes, rx_bytes;
    uint64_t txn_sent, req_rx;   /* client transactions submitted; requests received */
    uint64_t txn_done, req_done; /* ... completed (any status); completed or released */
    uint32_t connects, disconnects;
    uint32_t errors; /* refusals by the peer, protocol errors, failures (not ordinary leaves) */
    uint32_t reserved;
};

/* Lengths of the description's strings (with their NUL). */
#define IDC_STATS_ADDRESS_LEN  80u
#define IDC_STATS_PROTOCOL_LEN 64u
#define IDC_STATS_PEER_LEN     48u
#define IDC_STATS_REASON_LEN   192u

struct idc_stats_slot {
    uint32_t seq;       /* seqlock over the description (odd: being written) */
    uint32_t state;     /* enum idc_endpoint_state; IDC_EP_UNUSED (0): a free slot */
    uint32_t role;      /* enum idc_role */
    uint32_t version;   /* negotiated, 0 if never connected */
    uint32_t max_frame; /* negotiated limits of the current or last connection */
    uint32_t tx_limit;
    uint32_t msg_limit;
    int32_t last_err; /* idc_endpoint_last_error */
    char address[IDC_STATS_ADDRESS_LEN];
    char protocol[IDC_STATS_PROTOCOL_LEN];
    char peer[IDC_STATS_PEER_LEN]; /* described by the transport: shm "pid=P,uid=U" */
    char reason[IDC_STATS_REASON_LEN];
    struct idc_stats_counters ctr; /* outside the seqlock */
    unsigned char pad_[IDC_STATS_SLOT_SIZE - 32 - IDC_STATS_ADDRESS_LEN - IDC_STATS_PROTOCOL_LEN -
                       IDC_STATS_PEER_LEN - IDC_STATS_REASON_LEN -
                       sizeof(struct idc_stats_counters)];
};
_Static_assert(sizeof(struct idc_stats_slot) == IDC_STATS_SLOT_SIZE, "stats slot size");

#ifndef __KERNEL__ /* the kernel runtime exports no stats file */
/* The directory stats files go to when neither the context option nor $IDC_STATS_DIR names one:
   "stats" under the runtime directory the shm transport also defaults to ($XDG_RUNTIME_DIR/idc,
   else /tmp/idc-<uid>). One rule for the writer and every reader. Returns snprintf's count. */
static inline int idc_stats_runtime_dir(char *buf, size_t len)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (xdg && *xdg)
        return snprintf(buf, len, "%s/idc", xdg);
    return snprintf(buf, len, "/tmp/idc-%u", (unsigned)getuid());
}

/* The stats directory: dir if given, else $IDC_STATS_DIR, else <runtime dir>/stats. The value
   "off" (option or environment) turns the export off: *buf = "" then. */
static inline int idc_stats_dir(char *buf, size_t len, const char *dir)
{
    if (!dir || !*dir)
        dir = getenv("IDC_STATS_DIR");
    if (dir && *dir) {
        if (dir[0] == 'o' && dir[1] == 'f' && dir[2] == 'f' && !dir[3])
            dir = "";
        return snprintf(buf, len, "%s", dir);
    }
    int n = idc_stats_runtime_dir(buf, len);
    if (n < 0 || (size_t)n >= len)
        return n;
    return n + snprintf(buf + n, len - (size_t)n, "/stats");
}
#endif

#endif /* IDC_STATSFILE_H */
