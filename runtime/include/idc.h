/* idc.h - libidc public API: contexts, endpoints, messages, transactions, remote buffers.
 *
 * Model
 *   A context (struct idc_context) is an event loop owned by ONE thread. It exposes one pollable
 *   file descriptor (idc_context_fd) and runs every callback only inside idc_context_dispatch (or
 *   idc_context_run) on that thread. Nothing in libidc takes locks: every call taking a context,
 *   an endpoint, a transaction or a request must be made on the thread that owns the context.
 *   Different contexts are fully independent and may live in different threads of one process.
 *
 *   An endpoint is one end of one connection to one service address (e.g. "shm:blk0"). Its
 *   storage (struct idc_endpoint) belongs to the caller; idc_endpoint_create cannot fail, it only
 *   starts discovery and connection. Lifecycle, as seen through the callbacks:
 *
 *       appear -> connect -> (disconnect -> connect)* -> disconnect -> disappear
 *
 *   (appear/connect/disconnect may repeat after disappear when the peer comes back.)
 *   A disconnect/connect cycle on one side implies one on the other. Every connection has a new
 *   epoch and new rings: nothing sent before a disconnect is delivered after the next connect.
 *   On disconnect, all outstanding client transactions complete with IDC_ERR_DISCONNECTED
 *   BEFORE the disconnect callback runs; the driver then completes the requests it still holds
 *   and calls idc_endpoint_disconnect_done. No reconnection happens before that.
 *
 *   Messages and transactions are bounded by credits: a one-way message needs a message credit,
 *   a transaction needs a transaction credit, which also reserves its response slot on the way
 *   back, so responses never wait and no arrangement of endpoints (symmetric, stacked) can
 *   deadlock. When out of credit a send returns IDC_ERR_AGAIN and the endpoint's writable
 *   callback runs once credit is back. No libidc call ever blocks inside a callback.
 *
 *   Bulk data moves through remote buffers: memory from idc_buffer_alloc registered with
 *   idc_buffer_register yields a struct idc_rbuf, a copyable, forwardable capability that any
 *   context (reachable through the same transport) can use with idc_send_to_remote_buffer /
 *   idc_receive_from_remote_buffer. idc_buffer_unregister revokes it.
 *
 * Errors: 0 or a negative IDC_ERR_* code; idc_strerror names every code.
 * Pointers are borrowed for the duration of the call unless the comment says otherwise.
 *
 * Which structures are transparent and why: struct idc_endpoint and struct idc_txn are
 * caller-allocated (no allocation on the hot path, create cannot fail), so their size is in this
 * header; their private members must not be touched. Everything else is opaque.
 */
#ifndef IDC_H
#define IDC_H

/* The same header serves a kernel module (kbuild defines __KERNEL__ and has no C library):
   the fixed-width types, size_t, bool and NULL then come from the kernel's own headers. */
#ifdef __KERNEL__
#include <linux/stddef.h>
#include <linux/types.h>
#else
#include <stddef.h>
#include <stdint.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define IDC_ABI_VERSION 1 /* generated headers: _Static_assert(IDC_ABI_VERSION == 1, "...") */

/* ------------------------------------------------------------------------------------- errors */

/* Errors: 0 = OK; negative = IDC_ERR_* (transport/runtime); positive 1..65535 = application
 * error code from the IDL's error enum (only ever as a transaction status). */
enum idc_error {
    IDC_OK = 0,
    IDC_ERR_AGAIN = -1, /* no credit/space now; retry after the writable callback */
    IDC_ERR_DISCONNECTED =
        -2,             /* not connected, or connection lost while outstanding (transport error) */
    IDC_ERR_PROTO = -3, /* malformed frame or payload from the peer */
    IDC_ERR_VERSION = -4, /* operation/field not available at the negotiated version */
    IDC_ERR_TOOBIG = -5,  /* payload larger than the frame quota */
    IDC_ERR_INVAL = -6,   /* bad argument from the caller */
    IDC_ERR_REVOKED = -7, /* remote buffer was unregistered */
    IDC_ERR_RIGHTS = -8,  /* remote buffer reference lacks the right */
    IDC_ERR_BADREF = -9,  /* forged/unknown remote buffer reference or bad range */
    IDC_ERR_NOMEM = -10,
    IDC_ERR_NOTSUP = -11,   /* transport not available/built */
    IDC_ERR_MISMATCH = -12, /* peer speaks another protocol or no common version */
    IDC_ERR_PERM = -13,     /* peer not allowed by policy */
    IDC_ERR_STATE = -14,    /* call not valid in the endpoint's current state */
    IDC_ERR_IO = -15,       /* system call failed (see log) */
    IDC_ERR_BUSY = -16,     /* the service is exclusive and in use by another peer */
    IDC_ERR_TIMEOUT = -17,  /* nothing answered before the endpoint's connect deadline */
};
/* Static string naming err: "IDC_ERR_AGAIN: ..." for runtime codes, "success" for 0,
 * "application error" for positive codes, "unknown error" otherwise. Never NULL. */
const char *idc_strerror(int err);

/* Log levels passed to idc_context_options.log. */
enum idc_log_level {
    IDC_LOG_ERROR = 0, /* a connection or an operation failed; always worth reading */
    IDC_LOG_WARN = 1,  /* something odd that libidc recovered from */
    IDC_LOG_INFO = 2,  /* lifecycle: connected, disconnected (why), service appeared */
    IDC_LOG_DEBUG = 3, /* chatty; only printed to stderr when IDC_DEBUG is set */
};

/* ------------------------------------------------------------------------------------ context */

struct idc_context; /* opaque; one per thread; callbacks run only inside its dispatch */

struct idc_context_options {
    const char *shm_dir; /* NULL: $IDC_SHM_DIR, else $XDG_RUNTIME_DIR/idc, else /tmp/idc-<uid> */
    void (*log)(void *arg, int level, const char *msg); /* NULL: stderr with "idc: " prefix
                                                             (ERROR, WARN; all levels if $IDC_DEBUG
                                                             is set). Called on the context's thread. */
    void *log_arg;
    /* Where the context exports its endpoints' counters for idcctl(1) (one file per context,
       made at its first endpoint, removed at destroy; docs/runtime.md "Runtime counters").
       NULL: $IDC_STATS_DIR, else $XDG_RUNTIME_DIR/idc/stats, else /tmp/idc-<uid>/stats; "off"
       (here or in $IDC_STATS_DIR): no file. Copied. */
    const char *stats_dir;
    const char *zookeeper; /* fabric: the registry, "host:port[,host:port...][/chroot]";
                              NULL: $IDC_ZOOKEEPER (docs/fabric.md) */
    unsigned heartbeat_ms; /* fabric: a peer silent this long is disconnected; 0: $IDC_HEARTBEAT_MS,
                              else 3000 (at least 200) */
};

/* Creates a context owned by the calling thread. opt may be NULL (all defaults); opt->shm_dir is
 * copied. The shm directory is created (mode 0700) if absent.
 * Returns 0 and *out, or IDC_ERR_NOMEM, IDC_ERR_IO (epoll/inotify/eventfd failed; logged),
 * IDC_ERR_INVAL (out NULL, directory name too long). On failure *out is NULL. */
int idc_context_create(struct idc_context **out, const struct idc_context_options *opt);
/* Destroys the context. Endpoints still attached are torn down WITHOUT callbacks (their storage
 * may be reused afterwards); pending transfers are dropped; registrations are revoked.
 * Must not be called from inside a callback of this context. NULL is harmless. */
void idc_context_destroy(struct idc_context *ctx);
/* Pollable fd (epoll): readable when dispatch has work. Owned by the context; do not close. */
int idc_context_fd(const struct idc_context *ctx);
/* Runs due callbacks; waits up to timeout_ms (-1 forever, 0 poll) for the first event.
 * Returns >= 0 (events handled) or IDC_ERR_INVAL (NULL ctx), IDC_ERR_STATE (called from inside
 * a callback of this context), IDC_ERR_IO (epoll_wait failed). */
int idc_context_dispatch(struct idc_context *ctx, int timeout_ms);
int idc_context_run(struct idc_context *ctx);   /* dispatch until idc_context_stop; returns 0 */
void idc_context_stop(struct idc_context *ctx); /* callable from a callback */
/* The context's 64-bit id (owner field of the remote buffers it registers): bits 63..48 hold
 * its Xen domain id + 1 on Xen, else with a fabric registry 0x8000 | 15 bits of a hash of the
 * node identity, else 0; bits 47..0 are random and never all zero. */
uint64_t idc_context_id(const struct idc_context *ctx);

/* ---------------------------------------------------------------------------------- endpoints */

enum idc_role { IDC_ROLE_FRONTEND = 0, IDC_ROLE_BACKEND = 1 };

/* Emitted by idlc once per protocol, as `const struct idc_protocol NAME_protocol` in NAME_codec.c. */
struct idc_protocol {
    const char *name;     /* protocol name from the IDL */
    uint32_t min_version; /* lowest version spoken (1) */
    uint32_t max_version; /* the IDL's `version N` */
    const uint64_t
        *version_hash;  /* [max_version - min_version + 1]: hash of the canonical IDL as of
                                      each version (decls with @since <= v); peers settle on the highest
                                      v whose hashes match, else refuse with IDC_ERR_MISMATCH */
    uint32_t max_frame; /* largest encoded payload of any message, request or result (bytes) */
};
/* Limits checked by idc_endpoint_create (violations are logged, the endpoint never connects). */
#define IDC_PROTOCOL_NAME_MAX 63u        /* bytes of protocol->name, without the NUL */
#define IDC_MAX_VERSIONS      64u        /* max_version - min_version + 1 */
#define IDC_MAX_FRAME_LIMIT   (1u << 20) /* largest max_frame accepted */
#define IDC_MIN_FRAME         64u        /* smallest max_frame accepted (configs and peers) */
#define IDC_MAX_CREDITS       4096u      /* largest max_transactions / max_messages accepted */
#define IDC_DEFAULT_CREDITS   64u

struct idc_endpoint; /* caller-allocated storage; layout below (members private) */
struct
    idc_request; /* server side of one incoming transaction; runtime-owned; valid until completed */

/* All callbacks run inside idc_context_dispatch on the context's thread. handle_* get the payload
 * already copied out of shared memory into private memory, valid only during the call. They return
 * 0, or IDC_ERR_PROTO after decoding failed: the runtime then disconnects the peer and logs why
 * (generated code calls idc_endpoint_protocol_error first with the precise reason).
 *
 * Inside any callback the driver may: send messages, submit transactions, complete requests,
 * call idc_endpoint_disconnect_done / idc_endpoint_disconnect / idc_endpoint_destroy (the latter
 * on its own endpoint; the storage stays in use until destroy's done runs), use buffers.
 * It must not: call idc_context_dispatch/run, or idc_context_destroy. */
struct idc_endpoint_ops {
    /* Frontend: the service showed up in the directory. Backend: the service is published and
       waits for a frontend. Followed by connect, or by disappear. */
    void (*appear)(struct idc_endpoint *ep); /* may be NULL */
    /* Connection up (version negotiated, see idc_endpoint_version): sending is allowed. */
    void (*connect)(struct idc_endpoint *ep);
    /* All outstanding client transactions have already completed with IDC_ERR_DISCONNECTED.
       The driver completes the requests it still holds (results are discarded), then calls
       idc_endpoint_disconnect_done(ep) (here or later). No reconnect happens before that. */
    void (*disconnect)(struct idc_endpoint *ep);
    /* Frontend: the service left the directory (or its socket is dead). Backend: the service was
       withdrawn (destroy). Always after disconnect_done when a connection existed. */
    void (*disappear)(struct idc_endpoint *ep); /* may be NULL */
    void (*writable)(
        struct idc_endpoint *ep); /* may be NULL: a send that got IDC_ERR_AGAIN may retry */
    int (*handle_message)(struct idc_endpoint *ep, uint16_t opcode, const void *payload,
                          size_t len);
    int (*handle_transaction)(struct idc_endpoint *ep, struct idc_request *req, uint16_t opcode,
                              const void *payload, size_t len);
    /* Frontend with a connect_timeout_ms: the deadline passed with no connection. err says why:
       the last refusal (IDC_ERR_BUSY, IDC_ERR_PERM, IDC_ERR_MISMATCH), the last disconnect's
       error, or IDC_ERR_TIMEOUT when nothing answered at all (also idc_endpoint_last_error).
       The endpoint keeps trying; the driver may destroy it here or keep waiting. Called at most
       once per deadline. May be NULL (the expiry is then only logged). */
    void (*unanswered)(struct idc_endpoint *ep, int err);
};

struct idc_endpoint_config {
    const struct idc_protocol *protocol; /* must outlive the endpoint */
    enum idc_role role;                  /* frontend connects to address; backend serves it */
    const char *address;                 /* e.g. "shm:blk0"; copied */
    const struct idc_endpoint_ops *ops;  /* must outlive the endpoint */
    void *user;                          /* returned by idc_endpoint_user */
    uint32_t max_frame;                  /* 0: protocol->max_frame */
    uint32_t max_transactions;           /* outstanding per direction; 0: default (64) */
    uint32_t max_messages; /* one-way messages queued per direction; 0: default (64) */
    uint32_t spin_us;      /* 0: block at once; else poll this long before sleeping */
    uint32_t flags;        /* IDC_EP_* below; 0: defaults */
    /* Frontend: 0 waits for the service for ever; else the deadline, in ms, counted from create
       and again from each idc_endpoint_disconnect_done, after which ops->unanswered is called
       if the endpoint has not connected. Ignored for a backend. */
    uint32_t connect_timeout_ms;
};

/* Endpoint flags. A service is exclusive by default: while one frontend is connected (or in a
 * handshake), another is refused at once with IDC_ERR_BUSY. IDC_EP_SHARED (backend): several
 * backend endpoints of this context may serve the same address, each taking one frontend, so
 * several frontends are served concurrently (a read-only or cluster-aware service). */
#define IDC_EP_SHARED (1u << 0)

/* Endpoint states, as returned by idc_endpoint_state (diagnostics and tests). */
enum idc_endpoint_state {
    IDC_EP_UNUSED = 0, /* never created, or destroy completed */
    IDC_EP_DEAD,       /* bad configuration (logged): never connects; destroy still works */
    IDC_EP_ABSENT,     /* waiting for the service (frontend) / to publish it (backend) */
    IDC_EP_PRESENT,    /* appeared; not connected (handshake not started or in progress) */
    IDC_EP_CONNECTED,
    IDC_EP_DISCONNECTING, /* disconnect callback ran; waiting for idc_endpoint_disconnect_done */
    IDC_EP_DESTROYING,    /* destroy called; done not yet called */
};

/* Storage size of struct idc_endpoint; static-asserted against the private layout. */
#define IDC_ENDPOINT_STORAGE 1024
struct idc_endpoint {
    union {
        unsigned char bytes_[IDC_ENDPOINT_STORAGE];
        uint64_t align_u64_;
        void *align_ptr_;
    } private_; /* runtime-owned; do not touch */
};

/* Checks an address before any endpoint uses it: the transport prefix is known and built in,
 * and the rest is well formed for that transport and role (shm: a valid service name; xen: a
 * frontend names the backend's domain). Touches no system state and needs no context. why
 * (optional, why_len bytes) receives a one-line reason on failure.
 * Returns 0, IDC_ERR_INVAL (malformed: no prefix, unknown prefix, bad name; address NULL) or
 * IDC_ERR_NOTSUP (a transport idc knows of that this libidc lacks). */
int idc_address_check(const char *address, enum idc_role role, char *why, size_t why_len);

/* Cannot fail: storage is the caller's; it only starts discovery/connection. A bad
   configuration (idc_address_check fails, protocol description or ops missing) is logged and
   the endpoint is IDC_EP_DEAD at once: idc_endpoint_state tells it right after create. ep and cfg
   are borrowed (cfg->address is copied); cfg->protocol and cfg->ops must outlive the endpoint.
   No callback runs before the next dispatch. */
void idc_endpoint_create(struct idc_endpoint *ep, struct idc_context *ctx,
                         const struct idc_endpoint_config *cfg);
/* Completes (done called inside dispatch) once disconnected and disappeared; storage then reusable.
   If connected, the connection is taken down first (disconnect callback, which must be
   acknowledged with idc_endpoint_disconnect_done as usual). done may be NULL. Calling destroy on
   a never-created (zeroed) or already destroyed endpoint is harmless. */
void idc_endpoint_destroy(struct idc_endpoint *ep, void (*done)(struct idc_endpoint *ep));
void *idc_endpoint_user(const struct idc_endpoint *ep);
struct idc_context *idc_endpoint_context(const struct idc_endpoint *ep);
uint32_t idc_endpoint_version(const struct idc_endpoint *ep); /* negotiated; 0 if not connected */
enum idc_endpoint_state idc_endpoint_state(const struct idc_endpoint *ep);
/* Why the endpoint is not connected, for its user: the IDC_ERR_* of the last refusal by the
 * peer (IDC_ERR_BUSY: an exclusive service in use by another frontend; IDC_ERR_MISMATCH,
 * IDC_ERR_PERM) or of the last disconnect, 0 if none since the last connect; why (optional)
 * receives the logged reason. Returns 0 for a NULL or never-created endpoint. */
int idc_endpoint_last_error(const struct idc_endpoint *ep, char *why, size_t why_len);
/* An endpoint's counters since its create, over all its connections (what idcctl(1) shows of
 * it). Bytes are payload bytes; frames count messages, requests and responses. Each counter is
 * an increment on the hot path; reading them costs a copy. */
struct idc_endpoint_stats {
    uint64_t tx_frames, tx_bytes;     /* sent */
    uint64_t rx_frames, rx_bytes;     /* received */
    uint64_t txn_submitted, txn_done; /* client transactions (done: completed, any status) */
    uint64_t req_received, req_done;  /* requests from the peer (done: completed or released) */
    uint32_t connects, disconnects;
    uint32_t errors;          /* peer refusals, protocol errors, abnormal disconnects, failures */
    uint32_t txn_outstanding; /* transaction credits in use now (txn_submitted - txn_done) */
    uint32_t req_held;        /* requests held now by the driver */
    uint32_t tx_limit;        /* negotiated transaction credits (0: never connected) */
    uint32_t reserved_[4];
};
/* Fills *out. Returns 0, or IDC_ERR_INVAL (NULL out, or a never-created or destroyed endpoint),
 * IDC_ERR_NOMEM (no memory was left for the endpoint's counters when it was created, and it is
 * not in the context's stats file); *out is zeroed then. */
int idc_endpoint_stats(const struct idc_endpoint *ep, struct idc_endpoint_stats *out);
/* Acknowledges the disconnect callback. Outside the DISCONNECTING state it does nothing. */
void idc_endpoint_disconnect_done(struct idc_endpoint *ep);
/* Log the reason (printf-style) and take the connection down (peer misbehaved). */
void idc_endpoint_protocol_error(struct idc_endpoint *ep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Takes the current connection down locally (the peer sees a disconnect too); a frontend then
   reconnects after disconnect_done. Returns 0, or IDC_ERR_STATE when not connected. */
int idc_endpoint_disconnect(struct idc_endpoint *ep);
/* Batching for senders outside dispatch. A send made outside dispatch normally takes its notify
   decision at once (one fence, maybe one wake-up per send). After idc_endpoint_cork, sends only
   publish their frames; idc_endpoint_flush takes one notify decision for all of them and ends
   the cork (dispatch also takes the pending decision when it runs). Flush before waiting for
   the peer anywhere but in dispatch. 0, or IDC_ERR_INVAL for a dead endpoint. */
int idc_endpoint_cork(struct idc_endpoint *ep);
int idc_endpoint_flush(struct idc_endpoint *ep);

/* --------------------------------------------------------------------- messages, transactions */

/* One-way message. 0, IDC_ERR_AGAIN, IDC_ERR_DISCONNECTED, IDC_ERR_TOOBIG. The payload is copied.
 * Also IDC_ERR_INVAL (payload NULL with len > 0). Never blocks. */
int idc_send_message(struct idc_endpoint *ep, uint16_t opcode, const void *payload, size_t len);
/* The same message, its payload written in place in the send ring (no copy): fill(arg, dst, off,
 * n) must write the n payload bytes from offset off at dst, and is called once, or twice when
 * the frame wraps at the ring's end, before this returns; not at all on an error. dst is shared
 * memory the peer reads: write it, never read it back; fill must not call libidc. fill may be
 * NULL when len is 0. Same results as idc_send_message. */
int idc_send_message_fill(struct idc_endpoint *ep, uint16_t opcode, size_t len,
                          void (*fill)(void *arg, void *dst, size_t off, size_t n), void *arg);

/* Client transaction, caller-allocated; must stay valid until done is called. */
struct idc_txn {
    /* status: 0 = success, result/len is the encoded result (valid during the call only);
       >0 = application error (result NULL, len 0); <0 = IDC_ERR_* (transport error) */
    void (*done)(struct idc_txn *txn, int status, const void *result, size_t len);
    void *user; /* free for the caller */
    /* private runtime members follow (id, epoch, links): do not touch */
    uint64_t private_[4];
};
/* Submits with a response slot reserved (so responses never wait). 0, IDC_ERR_AGAIN (no credit),
   IDC_ERR_DISCONNECTED, IDC_ERR_TOOBIG. On 0, done is called exactly once, later, inside dispatch.
   Also IDC_ERR_INVAL (txn or txn->done NULL, payload NULL with len > 0). */
int idc_submit_transaction(struct idc_endpoint *ep, struct idc_txn *txn, uint16_t opcode,
                           const void *payload, size_t len);

struct idc_endpoint *idc_request_endpoint(const struct idc_request *req);
/* Exactly once per request, inside or after handle_transaction. status 0: result/len is the encoded
   result; >0: application error (result ignored). Returns 0, or IDC_ERR_DISCONNECTED when the
   connection it came from is gone (the completion is then dropped; the request is still released).
   Also IDC_ERR_TOOBIG (result larger than max_frame: an IDC_ERR_TOOBIG status is sent instead
   and the request is released). status may also be a negative IDC_ERR_* code (e.g.
   IDC_ERR_VERSION from generated code): the client's done gets it as is. IDC_ERR_INVAL: req NULL
   or already completed, or status outside IDC_ERR_IO..65535 (the request stays held). */
int idc_request_complete(struct idc_request *req, int status, const void *result, size_t len);

/* ----------------------------------------------------------------------------- remote buffers */

/* Remote buffer reference: a capability, plain data, freely copyable and forwardable. */
#define IDC_RBUF_READ  1u /* holder may read the buffer (idc_receive_from_remote_buffer) */
#define IDC_RBUF_WRITE 2u /* holder may write it (idc_send_to_remote_buffer) */
struct idc_rbuf {
    uint64_t owner;      /* registering context's id (transport-specific meaning) */
    uint32_t id;         /* registration slot */
    uint32_t generation; /* bumped on unregister: stale references fail with IDC_ERR_REVOKED */
    uint64_t length;     /* bytes */
    uint32_t rights;     /* IDC_RBUF_READ | IDC_RBUF_WRITE */
    uint8_t key[16];     /* random, checked by the owner on every transfer */
};
/* Wire form, 48 bytes little-endian: u64 owner, u32 id, u32 generation, u64 length, u32 rights,
   u32 reserved (must be 0), u8 key[16]. Generated decoders reject rights outside READ|WRITE,
   a non-zero reserved word, and a reference lacking a right the IDL field requires. */
#define IDC_RBUF_WIRE_SIZE 48
/* Helpers for the wire form (generated code may use its own). decode returns 0 or IDC_ERR_PROTO
   (rights outside READ|WRITE, reserved word non-zero). */
void idc_rbuf_encode(const struct idc_rbuf *rb, uint8_t out[IDC_RBUF_WIRE_SIZE]);
int idc_rbuf_decode(struct idc_rbuf *rb, const uint8_t in[IDC_RBUF_WIRE_SIZE]);

/* Allocates len bytes (rounded up to pages) of shareable memory (on shm: a memfd mapping),
 * zero-filled, page-aligned. Only memory from here can be registered. Returns 0 and *mem, or
 * IDC_ERR_INVAL (len 0 or > 2^40), IDC_ERR_NOMEM / IDC_ERR_IO. The allocation belongs to ctx. */
int idc_buffer_alloc(struct idc_context *ctx, size_t len, void **mem);
/* Frees an allocation (mem exactly as returned). Registrations inside it are revoked first.
 * Returns 0 or IDC_ERR_INVAL (not an allocation of ctx). */
int idc_buffer_free(struct idc_context *ctx, void *mem);
/* Registers [mem, mem+len), which must lie inside one idc_buffer_alloc allocation of ctx, with
 * rights (IDC_RBUF_READ and/or IDC_RBUF_WRITE). An allocation is shared either writable (rights
 * include WRITE) or read-only, fixed by its first registration: read-only ones seal the whole
 * allocation against writes by anyone but the owner's own mapping, so a registration of the
 * other kind in the same allocation gives IDC_ERR_INVAL (use separate allocations). Fills *rbuf with a fresh capability (random key,
 * owner = idc_context_id(ctx)). Returns 0, IDC_ERR_INVAL (range not inside an allocation, len 0,
 * rights empty or unknown), IDC_ERR_NOMEM (no free slot), IDC_ERR_IO (publishing the buffer
 * service failed; logged). */
int idc_buffer_register(struct idc_context *ctx, void *mem, size_t len, uint32_t rights,
                        struct idc_rbuf *rbuf);
/* Revokes the registration rbuf names (must be owned by ctx and current): every later transfer
 * with it fails with IDC_ERR_REVOKED. Transfers already copying may finish (see docs/runtime.md
 * for what revocation means on shm). Returns 0, IDC_ERR_BADREF (not ours / wrong key),
 * IDC_ERR_REVOKED (already unregistered). */
int idc_buffer_unregister(struct idc_context *ctx, const struct idc_rbuf *rbuf);

/* Transfer completion: called exactly once, inside dispatch of the context that started the
 * transfer, with 0 or IDC_ERR_REVOKED, IDC_ERR_RIGHTS, IDC_ERR_BADREF, IDC_ERR_DISCONNECTED
 * (owner unreachable), IDC_ERR_NOTSUP, IDC_ERR_IO. */
typedef void (*idc_transfer_done_fn)(void *arg, int status);
/* Copies len bytes from local into the remote buffer at offset (needs IDC_RBUF_WRITE), or from
 * the remote buffer at offset into local (needs IDC_RBUF_READ). rbuf is copied; local must stay
 * valid until done runs. Returns 0 (done will be called) or, without calling done:
 * IDC_ERR_INVAL (NULL arguments), IDC_ERR_RIGHTS (the reference itself lacks the right),
 * IDC_ERR_BADREF (offset+len outside the reference's length), IDC_ERR_NOMEM.
 * The owner checks key, generation, rights and range again; those failures arrive via done. */
int idc_send_to_remote_buffer(struct idc_context *ctx, const struct idc_rbuf *rbuf, uint64_t offset,
                              const void *local, size_t len, idc_transfer_done_fn done, void *arg);
int idc_receive_from_remote_buffer(struct idc_context *ctx, const struct idc_rbuf *rbuf,
                                   uint64_t offset, void *local, size_t len,
                                   idc_transfer_done_fn done, void *arg);

#ifdef __cplusplus
}
#endif
#endif /* IDC_H */
