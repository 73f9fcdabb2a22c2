/*
 * xenprim: the Xen primitives the idc "xen" transport is built on.
 *
 * A thin, checked layer over Debian's Xen user libraries, in the shape the transport uses them:
 *
 *   xenstore (libxenstore)   service directories, permissions that restrict a node to given
 *                            domains, transactions, watches (delivered through a pollable fd),
 *                            domain death (@releaseDomain + "is this domain still introduced").
 *   grant sharing (gntshr)   grant pages of local memory to one peer domain; ending the grant
 *                            revokes the peer's access.
 *   grant use (gnttab)       map a peer's grant (rings) or copy from/to a peer's grant without
 *                            mapping it (remote buffers: xengnttab_grant_copy).
 *   event channels (evtchn)  unbound port for a peer, bind interdomain, notify, wait.
 *
 * Rules:
 * - Every function returns 0 or a negative errno value; nothing is signalled through errno.
 *   Grant copies that Xen refuses return -EACCES with the GNTST_* code in *status.
 * - Values read from xenstore are peer-written and hostile: reads copy into a caller buffer with
 *   a bound, reject embedded NULs and oversize values; numbers are parsed strictly.
 * - Handles are not thread-safe; use one per thread (the transport's reactor owns its own).
 * - close/end/unmap of NULL or of a never-opened handle is harmless.
 */
#ifndef IDC_XENPRIM_H
#define IDC_XENPRIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XP_PAGE_SIZE 4096u

/* Largest value xenprim reads or writes (xenstore allows 4096 bytes per request, path included). */
#define XP_STORE_VALUE_MAX 2048u

/* Watch token for domain death: fires after any domain has been released (destroyed). */
#define XP_WATCH_RELEASE_DOMAIN "@releaseDomain"

/* ------------------------------------------------------------------ xenstore */

struct xp_store;
typedef uint32_t xp_txn;
#define XP_TXN_NONE ((xp_txn)0)

enum xp_perm_bits {
    XP_PERM_NONE = 0,
    XP_PERM_READ = 1,
    XP_PERM_WRITE = 2,
    XP_PERM_RDWR = 3,
};

/* One access-control entry: domain `domid` gets `perms` (enum xp_perm_bits). */
struct xp_perm {
    unsigned domid;
    unsigned perms;
};

/* Connect to xenstore (the socket in dom0 when xenstored runs there, else /dev/xen/xenbus).
 * Errors: -ENOENT no xenstore (not running on Xen), -ENOMEM, other -errno. */
int xp_store_open(struct xp_store **out);
void xp_store_close(struct xp_store *s);

/* This domain's id (its "domid" node; 0 when the node is absent in a control domain). */
int xp_store_self_domid(struct xp_store *s, unsigned *domid);

/* Write `value` (a NUL-terminated string, at most XP_STORE_VALUE_MAX bytes) at `path`,
 * creating missing parents. -E2BIG value too long, -EACCES not allowed, other -errno. */
int xp_store_write(struct xp_store *s, xp_txn t, const char *path, const char *value);

/* Read the value at `path` into buf[cap] as a NUL-terminated string.
 * -ENOENT no such node, -EACCES not readable by this domain, -E2BIG value does not fit or holds a
 * NUL byte (a corrupt value: nothing is stored in buf), other -errno. */
int xp_store_read(struct xp_store *s, xp_txn t, const char *path, char *buf, size_t cap);

/* Read a decimal unsigned number <= max (no sign, no spaces, no leading zeros, no suffix).
 * -EINVAL when the value is not such a number; else as xp_store_read. */
int xp_store_read_u32(struct xp_store *s, xp_txn t, const char *path, uint32_t max, uint32_t *out);

int xp_store_mkdir(struct xp_store *s, xp_txn t, const char *path);

/* Remove `path` and its children; removing a missing node is not an error. */
int xp_store_rm(struct xp_store *s, xp_txn t, const char *path);

/* Set the node's permissions: `owner` has full access, every domain not listed in acl[n] gets
 * `others`, the listed ones their own bits. Only the owner (or dom0) may do this, and only dom0
 * may give a node to another owner. -EACCES/-EPERM when not allowed, -EINVAL n too large. */
int xp_store_set_perms(struct xp_store *s, xp_txn t, const char *path, unsigned owner,
                       unsigned others, const struct xp_perm *acl, size_t n);

/* Read the node's permissions: out[0] is {owner, others}, out[1..] the ACL entries.
 * *n gets the number of entries; -E2BIG when there are more than cap (nothing is stored). */
int xp_store_get_perms(struct xp_store *s, xp_txn t, const char *path, struct xp_perm *out,
                       size_t cap, size_t *n);

/* Transactions: every read and write given `t` sees and changes one consistent snapshot, made
 * visible at once by xp_store_txn_end(commit=true). A commit that conflicts with a concurrent
 * change returns -EAGAIN and changes nothing: start again. Aborting never fails. */
int xp_store_txn_begin(struct xp_store *s, xp_txn *t);
int xp_store_txn_end(struct xp_store *s, xp_txn t, bool commit);

/* Watch `path` and its children (or XP_WATCH_RELEASE_DOMAIN). Xenstore fires the watch once
 * at registration. `token` is returned with each event. */
int xp_store_watch(struct xp_store *s, const char *path, const char *token);
int xp_store_unwatch(struct xp_store *s, const char *path, const char *token);

/* fd that becomes readable when a watch event is pending (for poll/epoll). */
int xp_store_fd(struct xp_store *s);

/* Next watch event, waiting at most timeout_ms (-1: forever). The path and token are copied
 * into path[pcap] and token[tcap] (either may be NULL); -ETIMEDOUT when none arrived,
 * -E2BIG when one does not fit (the event is consumed). */
int xp_store_next_event(struct xp_store *s, int timeout_ms, char *path, size_t pcap, char *token,
                        size_t tcap);

/* Whether `domid` is still a live domain known to xenstore (dom0 only: others get -EACCES). */
int xp_store_domain_alive(struct xp_store *s, unsigned domid, bool *alive);

/* ------------------------------------------------------------------ grants: sharing side */

struct xp_gshr;

int xp_gshr_open(struct xp_gshr **out);
void xp_gshr_close(struct xp_gshr *g);

/* Allocate npages (1 <= npages <= 1024) zeroed pages of local memory and grant them to `domid`
 * (read-only unless writable). refs[npages] receives the grant references; *addr the local mapping.
 * On failure nothing is granted. */
int xp_gshr_grant(struct xp_gshr *g, unsigned domid, size_t npages, bool writable, uint32_t *refs,
                  void **addr);

/* End the grants of a range from xp_gshr_grant and free it: the peer can no longer copy from or
 * to it (its copies fail with a grant error); a peer that still maps it keeps the page until it
 * unmaps, after which the reference is released. */
int xp_gshr_end(struct xp_gshr *g, void *addr, size_t npages);

/* ------------------------------------------------------------------ grants: using side */

struct xp_gtab;

int xp_gtab_open(struct xp_gtab **out);
void xp_gtab_close(struct xp_gtab *t);

/* Map the peer's grants refs[n] (1 <= n <= 64) contiguously (rings); -EINVAL for another n.
 * On failure nothing is mapped. */
int xp_gtab_map(struct xp_gtab *t, unsigned domid, size_t n, const uint32_t *refs, bool writable,
                void **addr);
int xp_gtab_unmap(struct xp_gtab *t, void *addr, size_t n);

enum xp_copy_dir {
    XP_COPY_FROM_PEER, /* peer's granted pages -> local memory */
    XP_COPY_TO_PEER,   /* local memory -> peer's granted pages */
};

/* Copy len bytes between `local` and the byte range [off, off+len) of the buffer formed by the
 * peer's grants refs[nrefs] (page i is refs[i]), without mapping it.
 * -ERANGE the range is outside the buffer (checked before asking Xen), -EACCES Xen refused a
 * segment (*status gets its GNTST_* code, e.g. after the peer ended the grant; earlier segments
 * may have been copied), other -errno. *status is 0 on success; status may be NULL. */
int xp_gtab_copy(struct xp_gtab *t, unsigned domid, const uint32_t *refs, size_t nrefs, size_t off,
                 void *local, size_t len, enum xp_copy_dir dir, int *status);

/* ------------------------------------------------------------------ event channels */

struct xp_evtchn;

int xp_evtchn_open(struct xp_evtchn **out);
void xp_evtchn_close(struct xp_evtchn *e);
int xp_evtchn_fd(struct xp_evtchn *e);

/* A new local port that domain `remote` may bind to. */
int xp_evtchn_alloc_unbound(struct xp_evtchn *e, unsigned remote, uint32_t *port);
/* Bind to the peer's unbound port; *local gets our end. */
int xp_evtchn_bind(struct xp_evtchn *e, unsigned remote, uint32_t remote_port, uint32_t *local);
int xp_evtchn_notify(struct xp_evtchn *e, uint32_t port);
int xp_evtchn_unbind(struct xp_evtchn *e, uint32_t port);

/* Wait at most timeout_ms for a notification, acknowledge and unmask it; *port gets the port.
 * -ETIMEDOUT when none arrived. */
int xp_evtchn_wait(struct xp_evtchn *e, int timeout_ms, uint32_t *port);

#endif
