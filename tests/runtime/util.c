/* Test-side helpers for the runtime suite (see util.h). */
#include "runtime/util.h"

#include <ctype.h>
#include <ftw.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

char rtt_dir[256];

/* LeakSanitizer: Criterion's runner keeps one allocation to its exit; not ours to chase. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libcriterion.so\n";
}

#define MAX_PIDS 512
static pid_t pids[MAX_PIDS];
static int npids;

/* ------------------------------------------------------------------ fixture */
void rtt_setup(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(rtt_dir, sizeof rtt_dir, "%s/idc-rtt-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(rtt_dir))
        cr_assert_fail("mkdtemp %s: %s", rtt_dir, strerror(errno));
    setenv("IDC_SHM_DIR", rtt_dir, 1);
    /* the stats files of this test's contexts and peers stay in its directory too */
    char stats[sizeof rtt_dir + 8];
    snprintf(stats, sizeof stats, "%s/stats", rtt_dir);
    setenv("IDC_STATS_DIR", stats, 1);
    npids = 0;
    signal(SIGPIPE, SIG_IGN);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void rtt_teardown(void)
{
    for (int i = 0; i < npids; i++) {
        if (pids[i] > 0) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], NULL, 0);
        }
    }
    npids = 0;
    if (rtt_dir[0] && !getenv("RTT_KEEP"))
        nftw(rtt_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *rtt_path(const char *name)
{
    static char bufs[8][512];
    static int k;
    char *b = bufs[k++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", rtt_dir, name);
    return b;
}

void rtt_address(char *out, size_t size, enum idc_role role, const char *name)
{
    const char *xen = getenv("IDC_TEST_XEN");
    const char *fabric = getenv("IDC_TEST_FABRIC");
    if (fabric && *fabric) /* one registry for every test: the test's directory names it */
        snprintf(out, size, "fabric:%s.%s", strrchr(rtt_dir, '/') + 1, name);
    else if (xen && *xen && role == IDC_ROLE_FRONTEND)
        snprintf(out, size, "xen:%s/%s", xen, name);
    else if (xen && *xen)
        snprintf(out, size, "xen:%s", name);
    else
        snprintf(out, size, "shm:%s", name);
}

const char *rtt_helper(const char *name)
{
    static char path[4096];
    const char *dir = getenv("RTT_BIN_DIR");
    if (dir && *dir) {
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (access(path, X_OK) != 0)
            cr_skip_test("peer program %s not found", path);
        return path;
    }
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        cr_skip_test("cannot read /proc/self/exe");
    self[n] = 0;
    snprintf(path, sizeof path, "%s/bin/%s", dirname(self), name);
    if (access(path, X_OK) != 0)
        cr_skip_test("peer program %s not built (make tests)", path);
    return path;
}

/* ------------------------------------------------------------------ log capture */
void rtt_log_cb(void *arg, int level, const char *msg)
{
    struct rtt_log *log = arg;
    if (getenv("RTT_VERBOSE"))
        fprintf(stderr, "[%d] log %d: %s\n", (int)getpid(), level, msg);
    if (!log)
        return;
    log->count++;
    if (level > log->max_level_seen)
        log->max_level_seen = level;
    int n = snprintf(log->buf + log->len, sizeof log->buf - log->len, "%d %s\n", level, msg);
    if (n > 0) {
        log->len += (size_t)n;
        if (log->len >= sizeof log->buf)
            log->len = sizeof log->buf - 1;
    }
}

bool rtt_log_has(const struct rtt_log *log, const char *needle)
{
    return strcasestr(log->buf, needle) != NULL;
}

int rtt_log_count(const struct rtt_log *log, int max_level, const char *needle)
{
    int n = 0;
    for (const char *l = log->buf; *l;) {
        const char *nl = strchr(l, '\n');
        size_t len = nl ? (size_t)(nl - l) : strlen(l);
        char line[2048];
        snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), l);
        if (atoi(line) <= max_level && strstr(line, needle))
            n++;
        if (!nl)
            break;
        l = nl + 1;
    }
    return n;
}

struct idc_context *rtt_ctx(struct rtt_log *log)
{
    struct idc_context_options o = { .shm_dir = rtt_dir, .log = rtt_log_cb, .log_arg = log };
    struct idc_context *ctx = NULL;
    int rc = idc_context_create(&ctx, &o);
    cr_assert_eq(rc, 0, "idc_context_create: %s", idc_strerror(rc));
    cr_assert_not_null(ctx);
    return ctx;
}

/* ------------------------------------------------------------------ processes */
pid_t rtt_spawn(const char *name, const char *out, ...)
{
    const char *prog = rtt_helper(name);
    const char *argv[64];
    int argc = 0;
    argv[argc++] = prog;
    argv[argc++] = "--dir";
    argv[argc++] = rtt_dir;
    argv[argc++] = "--out";
    argv[argc++] = rtt_path(out);
    va_list ap;
    va_start(ap, out);
    const char *a;
    while ((a = va_arg(ap, const char *)) && argc < 62)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;

    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(111);
        signal(SIGPIPE, SIG_DFL);
        execv(prog, (char *const *)argv);
        _exit(112);
    }
    cr_assert_lt(npids, MAX_PIDS);
    pids[npids++] = pid;
    return pid;
}

static void forget(pid_t pid)
{
    for (int i = 0; i < npids; i++)
        if (pids[i] == pid)
            pids[i] = -1;
}

bool rtt_alive(pid_t pid)
{
    int st;
    return waitpid(pid, &st, WNOHANG) == 0;
}

struct reap {
    pid_t pid;
    int status;
    bool done;
};
static bool reaped(void *arg)
{
    struct reap *r = arg;
    if (!r->done && waitpid(r->pid, &r->status, WNOHANG) == r->pid)
        r->done = true;
    return r->done;
}

int rtt_stop(pid_t pid, int sig, struct idc_context *ctx, int timeout_ms)
{
    struct reap r = { pid, 0, false };
    if (sig)
        kill(pid, sig);
    if (!rtt_until(ctx, reaped, &r, timeout_ms)) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        forget(pid);
        return -1;
    }
    forget(pid);
    return r.status;
}

/* ------------------------------------------------------------------ waiting */
bool rtt_until(struct idc_context *ctx, bool (*pred)(void *), void *arg, int timeout_ms)
{
    uint64_t end = rtt_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        if (pred(arg))
            return true;
        uint64_t now = rtt_now_ms();
        if (now >= end)
            return false;
        int wait = (int)(end - now) < 10 ? (int)(end - now) : 10;
        if (ctx) {
            int rc = idc_context_dispatch(ctx, wait);
            cr_assert_geq(rc, 0, "idc_context_dispatch: %s", idc_strerror(rc));
        } else {
            poll(NULL, 0, wait);
        }
    }
}

static bool never(void *arg)
{
    (void)arg;
    return false;
}
void rtt_pump(struct idc_context *ctx, int ms)
{
    rtt_until(ctx, never, NULL, ms);
}

static char *slurp(const char *file, size_t *len)
{
    FILE *f = fopen(rtt_path(file), "r");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    for (;;) {
        if (n + 2048 > cap) {
            cap *= 2;
            b = realloc(b, cap);
        }
        size_t r = fread(b + n, 1, cap - n - 1, f);
        if (r == 0)
            break;
        n += r;
    }
    fclose(f);
    b[n] = 0;
    if (len)
        *len = n;
    return b;
}

int rtt_file_count(const char *file, const char *prefix)
{
    char *b = slurp(file, NULL);
    if (!b)
        return 0;
    int n = 0;
    size_t pl = strlen(prefix);
    for (char *l = b; *l;) {
        char *nl = strchr(l, '\n');
        if (strncmp(l, prefix, pl) == 0)
            n++;
        if (!nl)
            break;
        l = nl + 1;
    }
    free(b);
    return n;
}

struct fw {
    const char *file, *prefix;
    int n;
    uint64_t last;
};
static bool file_ok(void *arg)
{
    struct fw *w = arg;
    uint64_t now = rtt_now_ms();
    if (now - w->last < 5)
        return false;
    w->last = now;
    return rtt_file_count(w->file, w->prefix) >= w->n;
}

bool rtt_wait_file(struct idc_context *ctx, const char *file, const char *prefix, int n,
                   int timeout_ms)
{
    struct fw w = { file, prefix, n, 0 };
    return rtt_until(ctx, file_ok, &w, timeout_ms);
}

bool rtt_file_last(const char *file, const char *prefix, char *buf, size_t size)
{
    char *b = slurp(file, NULL);
    if (!b)
        return false;
    bool found = false;
    size_t pl = strlen(prefix);
    for (char *l = b; *l;) {
        char *nl = strchr(l, '\n');
        size_t ll = nl ? (size_t)(nl - l) : strlen(l);
        if (strncmp(l, prefix, pl) == 0) {
            size_t c = ll < size - 1 ? ll : size - 1;
            memcpy(buf, l, c);
            buf[c] = 0;
            found = true;
        }
        if (!nl)
            break;
        l = nl + 1;
    }
    free(b);
    return found;
}

const char *rtt_file_text(const char *file)
{
    static char text[8192];
    size_t len = 0;
    char *b = slurp(file, &len);
    if (!b)
        return "(no file)";
    /* the tail is the interesting part */
    const char *s = len > sizeof text - 1 ? b + len - (sizeof text - 1) : b;
    snprintf(text, sizeof text, "%s", s);
    free(b);
    return text;
}

long long rtt_field(const char *line, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, " %s=", key);
    const char *p = strstr(line, k);
    if (!p)
        return -1;
    return strtoll(p + strlen(k), NULL, 10);
}

/* ------------------------------------------------------------------ endpoint wrapper */
static struct rtt_ep *E(struct idc_endpoint *ep)
{
    return idc_endpoint_user(ep);
}

static void note(struct rtt_ep *e, char c)
{
    if (e->nev < sizeof e->ev - 1)
        e->ev[e->nev++] = c;
    e->ev[e->nev] = 0;
}

static void w_appear(struct idc_endpoint *ep)
{
    struct rtt_ep *e = E(ep);
    note(e, 'A');
    e->n_appear++;
}

static void w_connect(struct idc_endpoint *ep)
{
    struct rtt_ep *e = E(ep);
    note(e, 'C');
    e->n_connect++;
    e->connected = true;
    if (e->on_connect)
        e->on_connect(e);
}

static void w_disconnect(struct idc_endpoint *ep)
{
    struct rtt_ep *e = E(ep);
    note(e, 'D');
    e->n_disconnect++;
    e->connected = false;
    if (e->outstanding > e->outstanding_at_disconnect)
        e->outstanding_at_disconnect = e->outstanding;
    /* complete what we hold: the results are discarded (or keep them, to complete late) */
    for (int i = 0; e->keep_held && i < e->n_held; i++)
        e->stale[e->n_stale++] = e->held[i];
    if (e->keep_held)
        e->n_held = 0;
    for (int i = 0; i < e->n_held; i++) {
        int rc = idc_request_complete(e->held[i], 0, e->held_data[i], e->held_len[i]);
        if (rc != 0 && rc != IDC_ERR_DISCONNECTED)
            e->held_complete_rc_bad++;
    }
    e->n_held = 0;
    if (e->on_disconnect)
        e->on_disconnect(e);
    if (e->defer_done)
        e->pending_done = true;
    else
        idc_endpoint_disconnect_done(ep);
}

static void w_disappear(struct idc_endpoint *ep)
{
    struct rtt_ep *e = E(ep);
    note(e, 'X');
    e->n_disappear++;
}

static void w_writable(struct idc_endpoint *ep)
{
    struct rtt_ep *e = E(ep);
    e->n_writable++;
    if (e->on_writable)
        e->on_writable(e);
}

int rtt_ep_release(struct rtt_ep *e)
{
    int n = e->n_held;
    for (int i = 0; i < n; i++) {
        int rc = idc_request_complete(e->held[i], 0, e->held_data[i], e->held_len[i]);
        if (rc != 0)
            e->held_complete_rc_bad++;
    }
    e->n_held = 0;
    return n;
}

static int w_message(struct idc_endpoint *ep, uint16_t op, const void *p, size_t len)
{
    struct rtt_ep *e = E(ep);
    e->n_msgs++;
    if (e->on_message)
        return e->on_message(e, op, p, len);
    switch (op) {
    case RTT_OP_HELLO: {
        struct rtt_hello h;
        if (len != sizeof h)
            return IDC_ERR_PROTO;
        memcpy(&h, p, sizeof h);
        e->hello_instance = h.instance;
        e->n_hello++;
        return 0;
    }
    case RTT_OP_RELEASE:
        rtt_ep_release(e);
        return 0;
    case RTT_OP_PONG:
        e->n_pong++;
        return 0;
    case RTT_OP_PING:
        idc_send_message(ep, RTT_OP_PONG, p, len);
        return 0;
    case RTT_OP_SINK:
        return 0;
    default:
        idc_endpoint_protocol_error(ep, "rtt test: unexpected message opcode %u", op);
        return IDC_ERR_PROTO;
    }
}

static int w_txn(struct idc_endpoint *ep, struct idc_request *req, uint16_t op, const void *p,
                 size_t len)
{
    struct rtt_ep *e = E(ep);
    e->n_txns++;
    if (idc_request_endpoint(req) != ep) {
        idc_endpoint_protocol_error(ep, "rtt test: idc_request_endpoint mismatch");
        idc_request_complete(req, 0, NULL, 0);
        return IDC_ERR_PROTO;
    }
    if (e->on_txn)
        return e->on_txn(e, req, op, p, len);
    switch (op) {
    case RTT_OP_ECHO:
        idc_request_complete(req, 0, p, len);
        return 0;
    case RTT_OP_FAIL: {
        uint32_t code;
        if (len != sizeof code)
            break;
        memcpy(&code, p, sizeof code);
        idc_request_complete(req, (int)code, NULL, 0);
        return 0;
    }
    case RTT_OP_HOLD:
        if (e->n_held == RTT_MAX_HELD || len > sizeof e->held_data[0]) {
            idc_request_complete(req, 99, NULL, 0);
            return 0;
        }
        e->held[e->n_held] = req;
        memcpy(e->held_data[e->n_held], p, len);
        e->held_len[e->n_held] = len;
        e->n_held++;
        return 0;
    case RTT_OP_STAMP: {
        struct rtt_stamp st;
        if (len != sizeof st)
            break;
        memcpy(&st, p, sizeof st);
        st.instance = 0;
        idc_request_complete(req, 0, &st, sizeof st);
        return 0;
    }
    case RTT_OP_ADD: {
        if (len != 8)
            break;
        uint8_t b[8];
        rtt_put64(b, rtt_get64(p) + 1);
        idc_request_complete(req, 0, b, sizeof b);
        return 0;
    }
    default:
        break;
    }
    idc_request_complete(req, 0, NULL, 0);
    idc_endpoint_protocol_error(ep, "rtt test: bad transaction opcode %u len %zu", op, len);
    return IDC_ERR_PROTO;
}

static const struct idc_endpoint_ops wrapper_ops = {
    .appear = w_appear,
    .connect = w_connect,
    .disconnect = w_disconnect,
    .disappear = w_disappear,
    .writable = w_writable,
    .handle_message = w_message,
    .handle_transaction = w_txn,
};

void rtt_ep_create(struct rtt_ep *e, struct idc_context *ctx, enum idc_role role, const char *name,
                   const struct rtt_ep_opts *o)
{
    static const struct rtt_ep_opts none;
    if (!o)
        o = &none;
    char addr[256];
    if (name[0] == '=')
        snprintf(addr, sizeof addr, "%s", name + 1);
    else if (strchr(name, ':'))
        snprintf(addr, sizeof addr, "%s", name);
    else
        rtt_address(addr, sizeof addr, role, name);
    /* keep hooks set by the caller before create */
    e->ctx = ctx;
    e->backend = role == IDC_ROLE_BACKEND;
    e->nev = 0;
    e->ev[0] = 0;
    struct idc_endpoint_config cfg = {
        .protocol = o->proto ? o->proto : &rtt_proto,
        .role = role,
        .address = addr,
        .ops = &wrapper_ops,
        .user = e,
        .max_frame = o->max_frame,
        .max_transactions = o->max_txn,
        .max_messages = o->max_msg,
        .spin_us = o->spin_us,
    };
    idc_endpoint_create(&e->ep, ctx, &cfg);
}

static void w_destroyed(struct idc_endpoint *ep)
{
    /* the endpoint is already unused (idc_endpoint_user gives NULL): ep is e's first member */
    struct rtt_ep *e = (struct rtt_ep *)(void *)ep;
    note(e, 'F');
    e->n_done++;
}

static bool ep_done(void *arg)
{
    return ((struct rtt_ep *)arg)->n_done > 0;
}

bool rtt_ep_destroy(struct rtt_ep *e, int timeout_ms)
{
    idc_endpoint_destroy(&e->ep, w_destroyed);
    return rtt_until(e->ctx, ep_done, e, timeout_ms);
}

const char *rtt_lifecycle_error(const struct rtt_ep *e)
{
    static char why[4096 + 256];
    /* 0 absent, 1 present, 2 connected. A backend may be "present" without an appear. */
    bool implicit = e->backend && !strchr(e->ev, 'A');
    int st = implicit ? 1 : 0;
    for (size_t i = 0; i < e->nev; i++) {
        char c = e->ev[i];
        int want = -1, next = -1;
        switch (c) {
        case 'A':
            want = 0;
            next = 1;
            break;
        case 'C':
            want = 1;
            next = 2;
            break;
        case 'D':
            want = 2;
            next = 1;
            break;
        case 'X':
            want = 1;
            next = 0;
            break;
        case 'F':
            if (st == 2 || (st == 1 && !implicit)) {
                snprintf(why, sizeof why, "destroy completed at %zu while %s in \"%s\"", i,
                         st == 2 ? "connected" : "present", e->ev);
                return why;
            }
            if (i + 1 != e->nev) {
                snprintf(why, sizeof why, "events after destroy completed in \"%s\"", e->ev);
                return why;
            }
            continue;
        }
        if (implicit && c == 'X' && st == 1) {
            st = 0;
            continue;
        }
        if (st != want) {
            snprintf(why, sizeof why, "'%c' at %zu out of order in \"%s\"", c, i, e->ev);
            return why;
        }
        st = next;
    }
    return NULL;
}

struct cw {
    struct rtt_ep *e;
    int n;
    bool disc;
};
static bool cw_ok(void *arg)
{
    struct cw *w = arg;
    return (w->disc ? w->e->n_disconnect : w->e->n_connect) >= w->n;
}

bool rtt_wait_connect(struct rtt_ep *e, int n, int timeout_ms)
{
    struct cw w = { e, n, false };
    return rtt_until(e->ctx, cw_ok, &w, timeout_ms);
}

bool rtt_wait_disconnect(struct rtt_ep *e, int n, int timeout_ms)
{
    struct cw w = { e, n, true };
    return rtt_until(e->ctx, cw_ok, &w, timeout_ms);
}

/* ------------------------------------------------------------------ client transactions */
int rtt_spurious_done;

static void t_done(struct idc_txn *txn, int status, const void *res, size_t len)
{
    struct rtt_txn *t = txn->user;
    if (!t->busy)
        rtt_spurious_done++;
    t->calls++;
    t->status = status;
    t->len = len;
    if (res && len <= sizeof t->result)
        memcpy(t->result, res, len);
    if (t->busy)
        t->e->outstanding--;
    t->busy = false;
    if (t->on_done)
        t->on_done(t);
}

int rtt_submit(struct rtt_ep *e, struct rtt_txn *t, uint16_t op, const void *p, size_t len)
{
    t->txn.done = t_done;
    t->txn.user = t;
    t->e = e;
    int rc = idc_submit_transaction(&e->ep, &t->txn, op, p, len);
    if (rc == 0) {
        t->busy = true;
        e->outstanding++;
    }
    return rc;
}

static bool txn_called(void *arg)
{
    return ((struct rtt_txn *)arg)->calls > 0;
}

bool rtt_wait_txn(struct idc_context *ctx, struct rtt_txn *t, int timeout_ms)
{
    return rtt_until(ctx, txn_called, t, timeout_ms);
}
