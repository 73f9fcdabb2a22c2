/* fabric.h - the fabric transport's private header: what its files share.
 *
 *   fabric.c    per-context state: the libfabric endpoint (one RDM endpoint, completion queue
 *               and address vector per context), receive and send buffers, the peer address
 *               cache, the tick timer, the ops table. Every call into libfabric's exported
 *               functions is in this file (fi_getinfo, fi_freeinfo, fi_dupinfo, fi_fabric,
 *               fi_strerror); the rest of libfabric's API is inline calls through the objects.
 *   zk.c        discovery on ZooKeeper (single-threaded client driven from the context's
 *               epoll). Every call into the ZooKeeper client library is in that file.
 *   channel.c   endpoints: handshake, the ring mirror, heartbeats, lifecycle.
 *
 * proto.h holds the wire records; docs/fabric.md describes the whole.
 */
#ifndef IDC_FABRIC_H
#define IDC_FABRIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "transport.h"

extern const struct idc_transport idc_transport_fabric;

#define FAB_HEARTBEAT_MS_DEFAULT 3000u /* silence after which a peer is disconnected */
#define FAB_HEARTBEAT_MS_MIN     200u
#define FAB_TICK_MS              100u /* heartbeats, handshake deadlines, lagging acks */
#define FAB_HANDSHAKE_MS         2000u
#define FAB_RETRY_MS             500u  /* refused busy / handshake failed: try again */
#define FAB_SESSION_MS           4000u /* ZooKeeper session timeout asked for */
#define FAB_PROBE_MS             500u  /* a backend gone from the registry must answer by then */

struct fab_ctx;
struct fab_zk;

/* libs.c: the library functions the transport calls, all through `fab_lib` (loaded at run time,
   so libidc needs neither package to load). One row per function: its library, its name. The
   ZooKeeper constants the client declares as variables are the protocol's (zk.c spells them). */
enum { FAB_LIB_FABRIC, FAB_LIB_ZK, FAB_LIB_COUNT };
#define FAB_API(X)                     \
    X(FAB_LIB_FABRIC, fi_getinfo)      \
    X(FAB_LIB_FABRIC, fi_freeinfo)     \
    X(FAB_LIB_FABRIC, fi_dupinfo)      \
    X(FAB_LIB_FABRIC, fi_fabric)       \
    X(FAB_LIB_FABRIC, fi_strerror)     \
    X(FAB_LIB_ZK, zookeeper_init2)     \
    X(FAB_LIB_ZK, zookeeper_close)     \
    X(FAB_LIB_ZK, zookeeper_interest)  \
    X(FAB_LIB_ZK, zookeeper_process)   \
    X(FAB_LIB_ZK, zoo_add_auth)        \
    X(FAB_LIB_ZK, zoo_acreate)         \
    X(FAB_LIB_ZK, zoo_adelete)         \
    X(FAB_LIB_ZK, zoo_aexists)         \
    X(FAB_LIB_ZK, zoo_aget)            \
    X(FAB_LIB_ZK, zoo_client_id)       \
    X(FAB_LIB_ZK, zoo_set_debug_level) \
    X(FAB_LIB_ZK, zerror)

#include <rdma/fabric.h>
#include <zookeeper/zookeeper.h>

struct fab_api {
/* fn names a member here: it cannot take parentheses */
#define FAB_API_FIELD(lib, fn) __typeof__(fn) *fn; /* NOLINT(bugprone-macro-parentheses) */
    FAB_API(FAB_API_FIELD)
#undef FAB_API_FIELD
};
extern struct fab_api fab_lib; /* filled by fab_lib_load, read-only afterwards */

/* Loads the libraries once per process (thread-safe). NULL when every function is there, else
   why not (for an IDC_ERR_NOTSUP log line; the same reason on every later call). */
const char *fab_lib_load(void);

/* Every operation context handed to libfabric starts with this (the provider's per-operation
   space, then what the completion is for). */
enum fab_op_kind { FAB_OP_SEND = 1, FAB_OP_RECV, FAB_OP_RMA };
struct fab_op {
    uint64_t prov[8]; /* struct fi_context2 (FI_CONTEXT2 mode), without its header here */
    uint32_t kind;
};

/* Per-context state (created lazily by fab_ctx_get at the first fabric endpoint). */
struct fab_ctx *fab_ctx_of(struct idc_context *ctx);
/* The libraries (libs.c) loaded, the program's signal dispositions kept: 0 or IDC_ERR_NOTSUP
   (logged). */
int fab_libs(struct idc_context *ctx);
/* The libfabric endpoint, opened at first use: 0 or IDC_ERR_NOTSUP / IDC_ERR_IO (logged). */
int fab_net_open(struct idc_context *ctx);
const char *fab_node(struct idc_context *ctx); /* this context's node identity */
uint32_t fab_heartbeat_ms(struct idc_context *ctx);
/* This context's own fabric address (valid after fab_net_open). */
const uint8_t *fab_self_addr(struct idc_context *ctx, size_t *len);
/* Closes the libfabric endpoint at once (context destroy with RMA still in flight). */
void fab_net_close(struct idc_context *ctx);
/* The remote-buffer state of the context (buffers.c; NULL until it needs one). */
struct fab_bufs;
struct fab_bufs **fab_bufs_slot(struct idc_context *ctx);
/* The ZooKeeper state of the context (NULL before fab_zk_start). */
struct fab_zk **fab_zk_slot(struct idc_context *ctx);
const char *fab_registry(struct idc_context *ctx); /* NULL: none configured */
/* 0, or IDC_ERR_INVAL (logged) when this node's identity ($IDC_NODE, else the host name) is not
   [A-Za-z0-9._-]{1,63}: fabric endpoints cannot work, the rest of the context can. */
int fab_node_check(struct idc_context *ctx);

/* A peer address in the context's cache (bounded; least recently used entries without users
   are evicted). Returns 0 and the handle, or IDC_ERR_IO / IDC_ERR_BUSY (cache full of entries
   in use). fab_peer_put drops a use; dead: the peer went silent, drop its address (and the
   provider's connection) once nobody uses it. */
int fab_peer_get(struct idc_context *ctx, const uint8_t *addr, size_t len, uint64_t *peer);
void fab_peer_put(struct idc_context *ctx, uint64_t peer, bool dead);

/* Sends one record (header + payload) to peer. 0, IDC_ERR_AGAIN (no send buffer or the
   provider is busy: retry after fab_send_ready), IDC_ERR_IO (logged, rate-limited). `token`
   names the connection for an error completion. The payload may be two pieces (ring wrap). */
int fab_send(struct idc_context *ctx, uint64_t peer, uint64_t token, const struct fab_hdr *h,
             const void *p1, size_t n1, const void *p2, size_t n2);

/* Log lines a flood of bad records could cause go through this limit. */
struct idc_log_limit *fab_logs(struct idc_context *ctx);
/* Answers to records anyone can send (refusals, failed buffer requests): true while this
   second's budget (FAB_REPLIES_PER_S) lasts. A peer that floods requests and never reads the
   answers would otherwise fill the provider's send queue shared with every connection. */
#define FAB_REPLIES_PER_S 200u
bool fab_reply_budget(struct idc_context *ctx);

/* channel.c: what fabric.c and zk.c report */
void fab_chan_record(struct idc_context *ctx, const struct fab_hdr *h, const void *payload);
void fab_chan_send_error(struct idc_context *ctx, uint64_t token, const char *why);
void fab_chan_send_ready(struct idc_context *ctx); /* send buffers were freed */
void fab_chan_tick(struct idc_context *ctx);
/* A frontend's service: present with its published record, or gone. */
void fab_chan_service(struct idc_context *ctx, const char *name, const char *record, size_t len);
void fab_chan_service_gone(struct idc_context *ctx, const char *name);
/* A backend's publication: 0 (published), IDC_ERR_BUSY (served by another context),
   IDC_ERR_PERM (the name belongs to another node identity). */
void fab_chan_published(struct idc_context *ctx, const char *name, int status);
/* The registry lost the publications (session expired): publish again. */
void fab_chan_republish(struct idc_context *ctx);

/* zk.c */
int fab_zk_start(struct idc_context *ctx);
void fab_zk_stop(struct idc_context *ctx);
/* Publish NAME with the record (ephemeral); the answer comes through fab_chan_published. */
void fab_zk_publish(struct idc_context *ctx, const char *name, const char *record);
void fab_zk_unpublish(struct idc_context *ctx, const char *name);
/* Watch NAME; answers through fab_chan_service / fab_chan_service_gone, again at each change. */
void fab_zk_watch(struct idc_context *ctx, const char *name);
void fab_zk_unwatch(struct idc_context *ctx, const char *name);

/* Publish this context as a buffer owner (ephemeral /idc/own/<owner hex>, the same record as
   a service) and look an owner up once: fab_buf_owner_found answers (status 0 with the record,
   or IDC_ERR_DISCONNECTED: not published, IDC_ERR_AGAIN: the registry is unreachable). */
void fab_zk_publish_owner(struct idc_context *ctx, uint64_t owner, const char *record);
void fab_zk_lookup_owner(struct idc_context *ctx, uint64_t owner);

/* buffers.c */
void fab_buf_owner_found(struct idc_context *ctx, uint64_t owner, int status, const char *record,
                         size_t len);
void fab_buf_record(struct idc_context *ctx, const struct fab_hdr *h, const void *payload);
void fab_buf_rma_done(struct idc_context *ctx, void *op, int err);
void fab_buf_send_error(struct idc_context *ctx, uint64_t token);
void fab_buf_tick(struct idc_context *ctx);
void fab_buf_retry(struct idc_context *ctx); /* refused pieces and answers, again */
int fab_rbuf_publish(struct idc_context *ctx);
bool fab_rbuf_reaches(struct idc_context *ctx, uint64_t owner);
int fab_rbuf_transfer(struct idc_context *ctx, struct idc_xfer *x);
void fab_rbuf_withdraw(struct idc_context *ctx);
void fab_rbuf_revoke(struct idc_context *ctx, uint32_t id, uint32_t generation);
void fab_buffers_fini(struct idc_context *ctx);
/* The locator of this context's owner id, 0 when it has none (no registry). */
uint16_t fab_locator(struct idc_context *ctx);
/* "idc-fabric 1 node=NODE addr=HEX": this context's record / a record parsed (false: bad). */
void fab_record(struct idc_context *ctx, char *out, size_t n);
bool fab_parse_record(const char *rec, char *node, size_t node_len, uint8_t *addr,
                      uint32_t *addrlen);
/* The libfabric objects buffers.c needs (valid after fab_net_open). */
struct fid_domain *fab_domain(struct idc_context *ctx);
struct fid_ep *fab_ep(struct idc_context *ctx);
uint64_t fab_fi_addr(struct idc_context *ctx, uint64_t peer);
bool fab_mr_virt_addr(struct idc_context *ctx); /* remote addresses are virtual addresses */
bool fab_mr_prov_key(struct idc_context *ctx);  /* the provider picks registration keys */
void fab_progress(struct idc_context *ctx);     /* drain the completion queue once */
/* buffers.c opened a transfer or a serve: progress the provider often until fab_buf_busy is
   false (RMA bytes move only when the provider is called). */
void fab_rma_started(struct idc_context *ctx);
bool fab_buf_busy(struct idc_context *ctx); /* buffers.c: transfers or serves open */

/* The ops (channel.c) */
int fab_address_check(const char *rest, enum idc_role role, char *why, size_t why_len);
int fab_ep_start(struct idc_link *l);
void fab_chan_close(struct idc_link *l);
void fab_ep_rearm(struct idc_link *l);
void fab_ep_stop(struct idc_link *l);
void fab_notify(struct idc_link *l);
bool fab_spin_poll(struct idc_link *l); /* fabric.c: drain the completion queue once */

#endif /* IDC_FABRIC_H */
