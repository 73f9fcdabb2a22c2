/* zk.c - fabric discovery on Apache ZooKeeper.
 *
 * One session per context, opened by its first fabric endpoint, driven by the single-threaded C
 * client from the context's epoll: zookeeper_interest names the fd, the events and a timeout
 * (the fd changes when the client reconnects, so the watch follows it after every call), and
 * zookeeper_process runs the completions and watches below on the context's thread.
 *
 * Layout under the registry's root (the chroot of $IDC_ZOOKEEPER, which must exist):
 *   /idc/svc/NAME        persistent: the name's claim (ACL: its creator ALL, everyone READ when
 *                        the context authenticates with $IDC_ZOOKEEPER_AUTH)
 *   /idc/svc/NAME/live   ephemeral: the service record of the backend serving NAME now
 *                        ("idc-fabric 1 node=NODE addr=HEX"), gone with its session
 * Frontends watch /idc/svc/NAME/live (exists, then get; every watch is one-shot and re-armed at
 * each event). The publications and watches are kept here and redone whenever the session is
 * (re)connected, so a registry outage only delays discovery, and an expired session is replaced
 * by a new one whose publications are created again. Established connections never depend on
 * the registry.
 *
 * ZooKeeper client functions called (all in this file): zookeeper_init2, zookeeper_close,
 * zookeeper_interest, zookeeper_process, zoo_add_auth, zoo_acreate, zoo_adelete, zoo_aexists,
 * zoo_aget, zoo_client_id, zoo_set_debug_level, zerror (through fab_lib, libs.c).
 *
 * Buffer owners (buffers.c) publish /idc/own/<owner id in hex>, ephemeral, the same record: a
 * holder of a reference finds the owner's address there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/time.h>

#include <zookeeper/zookeeper.h>

#include "fabric.h"

#define ZK_PATH_MAX   (IDC_NAME_MAX + 32)
#define ZK_RECORD_MAX 512
#define ZK_RESTART_MS 1000u

struct zk_pub { /* a backend's publication, or the context's as a buffer owner */
    struct zk_pub *next;
    char name[IDC_NAME_MAX + 1]; /* the service, or the owner id in hex */
    char record[ZK_RECORD_MAX];
    unsigned users; /* backend endpoints serving the name */
    bool done;
    bool owner;
};

struct zk_watch { /* a frontend's watch on a name */
    struct zk_watch *next;
    char name[IDC_NAME_MAX + 1];
    unsigned users;
};

struct fab_zk {
    struct idc_context *ctx;
    zhandle_t *zh;
    struct idc_watch w;
    bool watched;
    struct idc_timer t;
    bool in_process, expired, connected, closing, lost_logged;
    char auth[128];
    struct zk_pub *pubs;
    struct zk_watch *watches;
};

struct zk_req { /* the data of one asynchronous call */
    struct fab_zk *z;
    char name[IDC_NAME_MAX + 1];
    uint64_t owner; /* an owner lookup */
};

/* The client library logs through a callback without an argument: its lines go to the context
   whose client is running on this thread, at debug level (connection retries are expected). */
static _Thread_local struct idc_context *zk_log_ctx;

static void zk_log(const char *msg)
{
    if (zk_log_ctx)
        idc__log(zk_log_ctx, IDC_LOG_DEBUG, "zookeeper: %s", msg);
}

static struct fab_zk *Z(struct idc_context *ctx)
{
    return *fab_zk_slot(ctx);
}

static void live_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "/idc/svc/%s/live", name);
}

static void owner_path(char *out, size_t n, const char *hex)
{
    snprintf(out, n, "/idc/own/%s", hex);
}

struct zk_pub;
static void pub_path(const struct zk_pub *p, char *out, size_t n);

static struct zk_req *req(struct fab_zk *z, const char *name)
{
    struct zk_req *r = calloc(1, sizeof(*r));
    if (r) {
        r->z = z;
        snprintf(r->name, sizeof(r->name), "%s", name);
    }
    return r;
}

static void update(struct fab_zk *z);

/* ------------------------------------------------------------------------------ ACLs */

/* The protocol's constants, which the client library exports as variables (a reference would
   tie libidc to the library at link time): permissions, create modes, interest, states. */
enum {
    ZK_PERM_READ = 1,
    ZK_PERM_CREATE = 4,
    ZK_PERM_ALL = 0x1f, /* read, write, create, delete, admin */
    ZK_PERSISTENT = 0,
    ZK_EPHEMERAL = 1,
    ZK_WRITE = 1 << 0, /* zookeeper_interest's flags */
    ZK_READ = 1 << 1,
    ZK_SESSION_EVENT = -1,
    ZK_CONNECTED_STATE = 3,
    ZK_EXPIRED_SESSION_STATE = -112,
    ZK_AUTH_FAILED_STATE = -113,
};

static struct ACL acl_open[1] = { { ZK_PERM_ALL, { (char *)"world", (char *)"anyone" } } };
static struct ACL_vector open_vec = { 1, acl_open };

static struct ACL acl_owned[2] = {
    { 0, { (char *)"auth", (char *)"" } },
    { 0, { (char *)"world", (char *)"anyone" } },
};
static struct ACL acl_parent[2] = {
    { 0, { (char *)"auth", (char *)"" } },
    { 0, { (char *)"world", (char *)"anyone" } },
};
static struct ACL_vector owned_vec = { 2, acl_owned };
static struct ACL_vector parent_vec = { 2, acl_parent };

/* With authentication, a name's nodes are writable by their creator only; everyone may read
   them and create new names under /idc/svc. Without it, everything is open. */
static const struct ACL_vector *acl_for(struct fab_zk *z, bool parent)
{
    if (!z->auth[0])
        return &open_vec;
    acl_owned[0].perms = acl_parent[0].perms = ZK_PERM_ALL;
    acl_owned[1].perms = ZK_PERM_READ;
    acl_parent[1].perms = ZK_PERM_READ | ZK_PERM_CREATE;
    return parent ? &parent_vec : &owned_vec;
}

/* ----------------------------------------------------------------------- publications */

static void publish(struct fab_zk *z, struct zk_pub *p);

static void owner_done(int rc, const struct Stat *st, const void *data)
{
    struct zk_req *r = (struct zk_req *)data;
    struct fab_zk *z = r->z;
    if (!z->closing) {
        struct zk_pub *p = z->pubs;
        while (p && strcmp(p->name, r->name) != 0)
            p = p->next;
        const clientid_t *me = z->zh ? fab_lib.zoo_client_id(z->zh) : NULL;
        if (p && rc == ZOK && me && st->ephemeralOwner == me->client_id) {
            p->done = true; /* ours: an earlier create whose answer the connection lost */
            if (!p->owner)
                fab_chan_published(z->ctx, p->name, 0);
        } else if (p && rc == ZOK && !p->owner) {
            fab_chan_published(z->ctx, p->name, IDC_ERR_BUSY); /* the watch tells the end */
        } else if (p && rc == ZNONODE) {
            publish(z, p); /* gone meanwhile */
        }
    }
    free(r);
}

static void create_done(int rc, const char *path, const void *data)
{
    (void)path;
    struct zk_req *r = (struct zk_req *)data;
    struct fab_zk *z = r->z;
    struct zk_pub *p = z->closing ? NULL : z->pubs;
    while (p && strcmp(p->name, r->name) != 0)
        p = p->next;
    if (p && rc == ZOK) {
        p->done = true;
        if (!p->owner)
            fab_chan_published(z->ctx, p->name, 0);
    } else if (p && rc == ZNODEEXISTS) {
        char lp[ZK_PATH_MAX];
        pub_path(p, lp, sizeof(lp));
        struct zk_req *q = req(z, p->name);
        if (q && fab_lib.zoo_aexists(z->zh, lp, 1, owner_done, q) != ZOK)
            free(q);
    } else if (p && rc == ZNOAUTH && !p->owner) {
        idc__log(z->ctx, IDC_LOG_ERROR,
                 "fabric: service %s is claimed in the registry by another node identity", p->name);
        fab_chan_published(z->ctx, p->name, IDC_ERR_PERM);
    } else if (p && rc != ZCONNECTIONLOSS && rc != ZOPERATIONTIMEOUT && rc != ZCLOSING) {
        idc__log(z->ctx, IDC_LOG_ERROR, "fabric: publishing %s: %s", p->name, fab_lib.zerror(rc));
    }
    free(r);
}

static void ignore_done(int rc, const char *path, const void *data)
{
    (void)rc;
    (void)path;
    (void)data;
}

static void void_done(int rc, const void *data)
{
    (void)rc;
    (void)data;
}

static void pub_path(const struct zk_pub *p, char *out, size_t n)
{
    if (p->owner)
        owner_path(out, n, p->name);
    else
        live_path(out, n, p->name);
}

/* The parents first (they may exist: ignored), then the claim, then the live record; one
   session's requests are answered in order, so the last answer decides. An owner has no claim:
   its id is random and lives as long as its context. */
static void publish(struct fab_zk *z, struct zk_pub *p)
{
    if (!z->connected || p->done)
        return;
    char claim[ZK_PATH_MAX], lp[ZK_PATH_MAX];
    pub_path(p, lp, sizeof(lp));
    fab_lib.zoo_acreate(z->zh, "/idc", "", 0, &open_vec, ZK_PERSISTENT, ignore_done, NULL);
    fab_lib.zoo_acreate(z->zh, p->owner ? "/idc/own" : "/idc/svc", "", 0, acl_for(z, true),
                        ZK_PERSISTENT, ignore_done, NULL);
    if (!p->owner) {
        snprintf(claim, sizeof(claim), "/idc/svc/%s", p->name);
        fab_lib.zoo_acreate(z->zh, claim, "", 0, acl_for(z, false), ZK_PERSISTENT, ignore_done,
                            NULL);
    }
    struct zk_req *r = req(z, p->name);
    if (r && fab_lib.zoo_acreate(z->zh, lp, p->record, (int)strlen(p->record), acl_for(z, false),
                                 ZK_EPHEMERAL, create_done, r) != ZOK)
        free(r);
    update(z);
}

/* Several backend endpoints of one context may serve a name (IDC_EP_SHARED): one record,
   counted; a later endpoint of a published name hears at once. */
void fab_zk_publish(struct idc_context *ctx, const char *name, const char *record)
{
    struct fab_zk *z = Z(ctx);
    if (!z)
        return;
    for (struct zk_pub *q = z->pubs; q; q = q->next)
        if (!q->owner && strcmp(q->name, name) == 0) {
            q->users++;
            if (q->done)
                fab_chan_published(ctx, name, 0);
            return;
        }
    struct zk_pub *p = calloc(1, sizeof(*p));
    if (!p)
        return;
    p->users = 1;
    snprintf(p->name, sizeof(p->name), "%s", name);
    snprintf(p->record, sizeof(p->record), "%s", record);
    p->next = z->pubs;
    z->pubs = p;
    publish(z, p);
}

void fab_zk_publish_owner(struct idc_context *ctx, uint64_t owner, const char *record)
{
    struct fab_zk *z = Z(ctx);
    struct zk_pub *p = calloc(1, sizeof(*p));
    if (!z || !p) {
        free(p);
        return;
    }
    snprintf(p->name, sizeof(p->name), "%016llx", (unsigned long long)owner);
    snprintf(p->record, sizeof(p->record), "%s", record);
    p->owner = true;
    p->next = z->pubs;
    z->pubs = p;
    publish(z, p);
}

static void lookup_done(int rc, const char *value, int len, const struct Stat *st, const void *data)
{
    (void)st;
    struct zk_req *r = (struct zk_req *)data;
    struct fab_zk *z = r->z;
    if (!z->closing) {
        if (rc == ZOK && value && len > 0)
            fab_buf_owner_found(z->ctx, r->owner, 0, value, (size_t)len);
        else if (rc == ZNONODE)
            fab_buf_owner_found(z->ctx, r->owner, IDC_ERR_DISCONNECTED, NULL, 0);
        else
            fab_buf_owner_found(z->ctx, r->owner, IDC_ERR_IO, NULL, 0);
    }
    free(r);
}

void fab_zk_lookup_owner(struct idc_context *ctx, uint64_t owner)
{
    struct fab_zk *z = Z(ctx);
    char hex[24], path[ZK_PATH_MAX];
    snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)owner);
    owner_path(path, sizeof(path), hex);
    struct zk_req *r = z && z->zh ? req(z, hex) : NULL;
    if (r)
        r->owner = owner;
    /* Queued by the client while it (re)connects; answered with an error if that fails. */
    if (!r || fab_lib.zoo_aget(z->zh, path, 0, lookup_done, r) != ZOK) {
        free(r);
        fab_buf_owner_found(ctx, owner, IDC_ERR_IO, NULL, 0);
        return;
    }
    update(z);
}

void fab_zk_unpublish(struct idc_context *ctx, const char *name)
{
    struct fab_zk *z = Z(ctx);
    if (!z)
        return;
    for (struct zk_pub **pp = &z->pubs; *pp; pp = &(*pp)->next) {
        struct zk_pub *p = *pp;
        if (p->owner || strcmp(p->name, name) != 0)
            continue;
        if (--p->users)
            return; /* other endpoints still serve it */
        *pp = p->next;
        if (p->done && z->connected) {
            char lp[ZK_PATH_MAX];
            live_path(lp, sizeof(lp), name);
            fab_lib.zoo_adelete(z->zh, lp, -1, void_done, NULL); /* the client needs a completion */
            update(z);
        }
        free(p);
        return;
    }
}

/* ------------------------------------------------------------------------------ watches */

static struct zk_watch *find_watch(struct fab_zk *z, const char *name)
{
    struct zk_watch *w = z->watches;
    while (w && strcmp(w->name, name) != 0)
        w = w->next;
    return w;
}

static void get_done(int rc, const char *value, int len, const struct Stat *st, const void *data)
{
    (void)st;
    struct zk_req *r = (struct zk_req *)data;
    struct fab_zk *z = r->z;
    if (!z->closing && find_watch(z, r->name)) {
        if (rc == ZOK && value && len > 0)
            fab_chan_service(z->ctx, r->name, value, (size_t)len);
        else if (rc == ZNONODE)
            fab_chan_service_gone(z->ctx, r->name);
    }
    free(r);
}

static void exists_done(int rc, const struct Stat *st, const void *data)
{
    (void)st;
    struct zk_req *r = (struct zk_req *)data;
    struct fab_zk *z = r->z;
    if (!z->closing && find_watch(z, r->name)) {
        char lp[ZK_PATH_MAX];
        live_path(lp, sizeof(lp), r->name);
        if (rc == ZOK && fab_lib.zoo_aget(z->zh, lp, 0, get_done, r) == ZOK)
            return; /* r goes on to get_done */
        if (rc == ZNONODE)
            fab_chan_service_gone(z->ctx, r->name);
    }
    free(r);
}

/* exists sets a watch whether or not the node is there: the next create or delete fires it. */
static void look(struct fab_zk *z, const char *name)
{
    if (!z->connected)
        return;
    char lp[ZK_PATH_MAX];
    live_path(lp, sizeof(lp), name);
    struct zk_req *r = req(z, name);
    if (r && fab_lib.zoo_aexists(z->zh, lp, 1, exists_done, r) != ZOK)
        free(r);
    update(z);
}

void fab_zk_watch(struct idc_context *ctx, const char *name)
{
    struct fab_zk *z = Z(ctx);
    if (!z)
        return;
    struct zk_watch *w = find_watch(z, name);
    if (!w) {
        if (!(w = calloc(1, sizeof(*w))))
            return;
        snprintf(w->name, sizeof(w->name), "%s", name);
        w->next = z->watches;
        z->watches = w;
    }
    w->users++;
    look(z, name);
}

void fab_zk_unwatch(struct idc_context *ctx, const char *name)
{
    struct fab_zk *z = Z(ctx);
    if (!z)
        return;
    for (struct zk_watch **pp = &z->watches; *pp; pp = &(*pp)->next) {
        struct zk_watch *w = *pp;
        if (strcmp(w->name, name) != 0)
            continue;
        if (--w->users == 0) {
            *pp = w->next; /* the registry's one-shot watch fires once more, unheard */
            free(w);
        }
        return;
    }
}

/* ---------------------------------------------------------------------------- session */

/* "/idc/svc/NAME/live" -> NAME, or NULL */
static const char *name_of(const char *path, char *buf, size_t n)
{
    static const char pre[] = "/idc/svc/", post[] = "/live";
    size_t pl = strlen(path);
    if (strncmp(path, pre, sizeof(pre) - 1) != 0 || pl < sizeof(pre) + sizeof(post) - 1 ||
        strcmp(path + pl - (sizeof(post) - 1), post) != 0)
        return NULL;
    size_t nl = pl - (sizeof(pre) - 1) - (sizeof(post) - 1);
    if (nl >= n)
        return NULL;
    memcpy(buf, path + sizeof(pre) - 1, nl);
    buf[nl] = 0;
    return buf;
}

static void session_up(struct fab_zk *z)
{
    z->connected = true;
    if (z->lost_logged)
        idc__log(z->ctx, IDC_LOG_INFO, "fabric: registry connected again");
    z->lost_logged = false;
    for (struct zk_pub *p = z->pubs; p; p = p->next)
        publish(z, p);
    for (struct zk_watch *w = z->watches; w; w = w->next)
        look(z, w->name);
}

static void watcher(zhandle_t *zh, int type, int state, const char *path, void *arg)
{
    (void)zh;
    struct fab_zk *z = arg;
    if (z->closing)
        return;
    if (type == ZK_SESSION_EVENT) {
        if (state == ZK_CONNECTED_STATE) {
            session_up(z);
        } else if (state == ZK_EXPIRED_SESSION_STATE) {
            z->expired = true; /* a new session after zookeeper_process returns */
            z->connected = false;
        } else if (state == ZK_AUTH_FAILED_STATE) {
            idc__log(z->ctx, IDC_LOG_ERROR, "fabric: registry authentication failed");
            z->connected = false;
        } else {
            if (z->connected && !z->lost_logged)
                idc__log(z->ctx, IDC_LOG_WARN,
                         "fabric: registry connection lost; connections stay up, discovery "
                         "resumes when it is back");
            z->lost_logged = true;
            z->connected = false;
        }
        return;
    }
    char buf[IDC_NAME_MAX + 1];
    const char *name = path ? name_of(path, buf, sizeof(buf)) : NULL;
    if (!name)
        return;
    if (find_watch(z, name))
        look(z, name); /* re-arm, then read what is there now */
    for (struct zk_pub *p = z->pubs; p; p = p->next)
        if (strcmp(p->name, name) == 0 && !p->done)
            publish(z, p); /* the other server's record went away: our turn */
}

static int session_open(struct fab_zk *z)
{
    zk_log_ctx = z->ctx;
    fab_lib.zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
    /* The session timeout bounds how long a dead backend's record outlives it. */
    int session = (int)idc__env_uint("IDC_ZOOKEEPER_SESSION_MS", 1, 600000, FAB_SESSION_MS);
    z->zh = fab_lib.zookeeper_init2(fab_registry(z->ctx), watcher, session, NULL, z, 0, zk_log);
    if (!z->zh) {
        idc__log(z->ctx, IDC_LOG_ERROR, "fabric: registry %s: %s", fab_registry(z->ctx),
                 strerror(errno));
        return IDC_ERR_INVAL;
    }
    if (z->auth[0] &&
        fab_lib.zoo_add_auth(z->zh, "digest", z->auth, (int)strlen(z->auth), NULL, NULL) != ZOK)
        idc__log(z->ctx, IDC_LOG_ERROR, "fabric: registry authentication could not be sent");
    return 0;
}

static void session_close(struct fab_zk *z)
{
    if (z->watched)
        idc__watch_del(z->ctx, &z->w);
    z->watched = false;
    if (z->zh) {
        zk_log_ctx = z->ctx;
        z->closing = true;
        fab_lib.zookeeper_close(z->zh);
        z->closing = false;
    }
    z->zh = NULL;
    z->connected = false;
}

/* The session expired (the registry forgot our ephemeral records): a new one, and everything
   published again once it is connected. */
static void renew(struct fab_zk *z)
{
    z->expired = false;
    idc__log(z->ctx, IDC_LOG_WARN, "fabric: registry session expired; opening a new one");
    session_close(z);
    for (struct zk_pub *p = z->pubs; p; p = p->next)
        p->done = false;
    fab_chan_republish(z->ctx);
    if (session_open(z) < 0)
        idc__timer_arm(z->ctx, &z->t, ZK_RESTART_MS);
}

static void process(struct fab_zk *z, int events)
{
    if (!z->zh) {
        if (session_open(z) < 0) {
            idc__timer_arm(z->ctx, &z->t, ZK_RESTART_MS);
            return;
        }
    } else {
        zk_log_ctx = z->ctx;
        z->in_process = true;
        fab_lib.zookeeper_process(z->zh, events);
        z->in_process = false;
        if (z->expired)
            renew(z);
    }
    update(z);
}

static void fd_fire(struct idc_watch *w, uint32_t events)
{
    int ev = 0;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        ev |= ZK_READ;
    if (events & EPOLLOUT)
        ev |= ZK_WRITE;
    process(w->arg, ev);
}

static void timer_fire(struct idc_timer *t)
{
    process(t->arg, 0);
}

/* Follows the client's fd, events and timeout (after every call into the client). */
static void update(struct fab_zk *z)
{
    if (z->in_process || !z->zh)
        return;
    int fd = -1, interest = 0;
    struct timeval tv = { 1, 0 };
    zk_log_ctx = z->ctx;
    int rc = fab_lib.zookeeper_interest(z->zh, &fd, &interest, &tv);
    if (rc != ZOK && rc != ZCONNECTIONLOSS && rc != ZOPERATIONTIMEOUT) {
        if (rc == ZINVALIDSTATE && !z->expired) {
            z->expired = true;
            renew(z);
            return;
        }
    }
    uint32_t ev = ((interest & ZK_READ) ? EPOLLIN : 0) | ((interest & ZK_WRITE) ? EPOLLOUT : 0);
    /* Registered afresh each time: the client closes and reopens its socket on its own, and a
       new socket may get the old number (its epoll registration went with the old one). */
    if (z->watched)
        idc__watch_del(z->ctx, &z->w);
    z->watched = false;
    if (fd >= 0 && ev) {
        z->w = (struct idc_watch){ .fd = fd, .events = ev, .fn = fd_fire, .arg = z };
        z->watched = idc__watch_add(z->ctx, &z->w) == 0;
    }
    uint64_t ms = (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
    idc__timer_arm(z->ctx, &z->t, ms ? ms : 1);
}

int fab_zk_start(struct idc_context *ctx)
{
    if (Z(ctx))
        return 0;
    int bad = fab_node_check(ctx);
    if (bad)
        return bad;
    if (!fab_registry(ctx)) {
        idc__log(ctx, IDC_LOG_ERROR,
                 "fabric: no registry: set $IDC_ZOOKEEPER (host:port[,host:port][/chroot]) or "
                 "the context's zookeeper option");
        return IDC_ERR_INVAL;
    }
    int r = fab_libs(ctx);
    if (r < 0)
        return r;
    struct fab_zk *z = calloc(1, sizeof(*z));
    if (!z)
        return IDC_ERR_NOMEM;
    z->ctx = ctx;
    z->t = (struct idc_timer){ .fn = timer_fire, .arg = z };
    const char *auth = getenv("IDC_ZOOKEEPER_AUTH");
    if (auth && *auth)
        snprintf(z->auth, sizeof(z->auth), "%s", auth);
    *fab_zk_slot(ctx) = z;
    r = session_open(z);
    if (r < 0) {
        *fab_zk_slot(ctx) = NULL;
        free(z);
        return r;
    }
    /* The first connect from the context's loop, not now: the client's connect timeout (a
       third of the session) runs from its first zookeeper_interest, and the libfabric
       endpoint opened next (providers loading, a second or more on a busy machine) would eat
       it, costing a timed-out attempt and the client's back-off before discovery starts. */
    idc__timer_arm(ctx, &z->t, 1);
    return 0;
}

void fab_zk_stop(struct idc_context *ctx)
{
    struct fab_zk *z = Z(ctx);
    if (!z)
        return;
    idc__timer_cancel(ctx, &z->t);
    session_close(z);
    while (z->pubs) {
        struct zk_pub *p = z->pubs;
        z->pubs = p->next;
        free(p);
    }
    while (z->watches) {
        struct zk_watch *w = z->watches;
        z->watches = w->next;
        free(w);
    }
    free(z);
    *fab_zk_slot(ctx) = NULL;
}
