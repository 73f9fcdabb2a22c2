/* context.c - the per-thread event loop: one epoll fd, deferred work, timers, logging. */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* ------------------------------------------------------------------------------- logging */

void idc__vlog(struct idc_context *ctx, int level, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (ctx && ctx->log) {
        ctx->log(ctx->log_arg, level, msg);
        return;
    }
    if (level > IDC_LOG_WARN && !(ctx && ctx->debug))
        return;
    static const char *const names[] = { "error", "warning", "info", "debug" };
    fprintf(stderr, "idc: %s: %s\n", names[level < 0 ? 0 : level > 3 ? 3 : level], msg);
}

void idc__log(struct idc_context *ctx, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    idc__vlog(ctx, level, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------------- helpers */

uint64_t idc__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint32_t idc__cpu(void)
{
    int cpu = sched_getcpu(); /* glibc reads it from the thread's rseq area: no system call */
    return cpu < 0 ? 0 : (uint32_t)cpu + 1;
}

int idc__random(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return IDC_ERR_IO;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

bool idc__valid_name(const char *name)
{
    size_t n = 0;
    for (; name[n]; n++) {
        char c = name[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
        if (n >= IDC_NAME_MAX)
            return false;
    }
    /* "." and ".." would escape; a leading dot is reserved for hidden runtime services. */
    return n > 0 && name[0] != '.';
}

/* ---------------------------------------------------------------------------- fds, timers */

int idc__watch_add(struct idc_context *ctx, struct idc_watch *w)
{
    struct epoll_event ev = { .events = w->events, .data.ptr = w };
    if (epoll_ctl(ctx->epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0) {
        idc__log(ctx, IDC_LOG_ERROR, "epoll_ctl(ADD, %d): %s", w->fd, strerror(errno));
        return IDC_ERR_IO;
    }
    return 0;
}

int idc__watch_mod(struct idc_context *ctx, struct idc_watch *w, uint32_t events)
{
    w->events = events;
    struct epoll_event ev = { .events = w->events, .data.ptr = w };
    if (epoll_ctl(ctx->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0) {
        idc__log(ctx, IDC_LOG_ERROR, "epoll_ctl(MOD, %d): %s", w->fd, strerror(errno));
        return IDC_ERR_IO;
    }
    return 0;
}

void idc__watch_del(struct idc_context *ctx, struct idc_watch *w)
{
    if (w->fd >= 0)
        epoll_ctl(ctx->epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

static void timer_program(struct idc_context *ctx)
{
    uint64_t first = 0;
    for (struct idc_timer *t = ctx->timers; t; t = t->next)
        if (!first || t->due_ns < first)
            first = t->due_ns;
    struct itimerspec its = { 0 };
    if (first) {
        its.it_value.tv_sec = (time_t)(first / 1000000000u);
        its.it_value.tv_nsec = (long)(first % 1000000000u);
    }
    timerfd_settime(ctx->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
}

void idc__timer_cancel(struct idc_context *ctx, struct idc_timer *t)
{
    if (!t->armed)
        return;
    for (struct idc_timer **pp = &ctx->timers; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    t->armed = false;
    timer_program(ctx);
}

void idc__timer_arm(struct idc_context *ctx, struct idc_timer *t, uint64_t delay_ms)
{
    idc__timer_cancel(ctx, t);
    t->due_ns = idc__now_ns() + delay_ms * 1000000u;
    if (!t->due_ns)
        t->due_ns = 1;
    t->next = ctx->timers;
    ctx->timers = t;
    t->armed = true;
    timer_program(ctx);
}

static void timer_fire(struct idc_watch *w, uint32_t events)
{
    (void)events;
    struct idc_context *ctx = w->arg;
    uint64_t v;
    if (read(ctx->timerfd, &v, sizeof(v)) < 0) { /* spurious: nothing due */
    }
    uint64_t now = idc__now_ns();
    /* Fire one due timer at a time: a callback may arm or cancel others. */
    for (;;) {
        struct idc_timer *due = NULL;
        for (struct idc_timer *t = ctx->timers; t; t = t->next)
            if (t->due_ns <= now) {
                due = t;
                break;
            }
        if (!due)
            break;
        idc__timer_cancel(ctx, due);
        due->fn(due);
    }
    timer_program(ctx);
}

void idc__kick(struct idc_context *ctx)
{
    if (ctx->kicked || ctx->in_dispatch)
        return; /* inside dispatch the pending list is drained before it returns */
    if (!ctx->fd_exported)
        return; /* nobody polls the fd: every dispatch runs the deferred work first */
    ctx->kicked = true;
    uint64_t one = 1;
    if (write(ctx->kickfd, &one, sizeof(one)) < 0) { /* counter full: already readable */
    }
}

static void kick_fire(struct idc_watch *w, uint32_t events)
{
    (void)events;
    struct idc_context *ctx = w->arg;
    uint64_t v;
    if (read(ctx->kickfd, &v, sizeof(v)) < 0) { /* already drained */
    }
    ctx->kicked = false;
}

void idc__xfer_complete(struct idc_context *ctx, struct idc_xfer *x, int status)
{
    x->status = status;
    x->next = NULL;
    *ctx->done_tail = x;
    ctx->done_tail = &x->next;
    idc__kick(ctx);
}

/* ------------------------------------------------------------------------- create/destroy */

/* ------------------------------------------------------------------- transport state */

void **idc__ctx_slot(struct idc_context *ctx, const struct idc_transport *tp)
{
    int i = idc__transport_index(tp);
    return i >= 0 ? &ctx->tp_state[i] : NULL;
}

/* The one rule for owner ids' locators, whatever order the transports' ctx_init run in: a fabric
   node's locator (bit 15, set when a registry is configured) wins over a Xen domain's (the domain
   id + 1), and 0 (no locator) never replaces one. A node identity is unique across the cluster,
   a domain id only on its host: two domains of two machines may have the same id, so a domain
   locator on a fabric node would make shm or Xen "reach" an owner on another machine. Then
   fabric reaches owners of other nodes, shm owners of the same locator (node, else domain, else
   this host), Xen owners of other domains whose locator has no fabric bit. */
void idc__ctx_set_locator(struct idc_context *ctx, uint16_t locator)
{
    uint16_t cur = (uint16_t)(ctx->id >> IDC_OWNER_LOC_SHIFT);
    if (locator == 0 || ((cur & IDC_OWNER_LOC_FABRIC) && !(locator & IDC_OWNER_LOC_FABRIC)))
        return;
    ctx->id = (ctx->id & IDC_OWNER_RAND_MASK) | (uint64_t)locator << IDC_OWNER_LOC_SHIFT;
}

/* ------------------------------------------------------------------------- create/destroy */

int idc_context_create(struct idc_context **out, const struct idc_context_options *opt)
{
    if (!out)
        return IDC_ERR_INVAL;
    *out = NULL;
    struct idc_context *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return IDC_ERR_NOMEM;
    ctx->epfd = ctx->kickfd = ctx->timerfd = ctx->stats_fd = -1;
    ctx->done_tail = &ctx->done_head;
    if (opt) {
        ctx->log = opt->log;
        ctx->log_arg = opt->log_arg;
    }
    ctx->debug = getenv("IDC_DEBUG") != NULL;
    int err = idc__stats_init(ctx, opt);
    if (err < 0)
        goto err;
    err = IDC_ERR_IO;
    do {
        if (idc__random(&ctx->id, sizeof(ctx->id)) < 0) {
            idc__log(ctx, IDC_LOG_ERROR, "getrandom: %s", strerror(errno));
            goto err;
        }
        ctx->id &= IDC_OWNER_RAND_MASK;
    } while (ctx->id == 0);
    ctx->epfd = epoll_create1(EPOLL_CLOEXEC);
    ctx->kickfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ctx->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (ctx->epfd < 0 || ctx->kickfd < 0 || ctx->timerfd < 0) {
        idc__log(ctx, IDC_LOG_ERROR, "epoll/eventfd/timerfd: %s", strerror(errno));
        goto err;
    }
    ctx->kick_w = (struct idc_watch){
        .fd = ctx->kickfd, .events = EPOLLIN, .fn = kick_fire, .arg = ctx
    };
    ctx->timer_w = (struct idc_watch){
        .fd = ctx->timerfd, .events = EPOLLIN, .fn = timer_fire, .arg = ctx
    };
    if (idc__watch_add(ctx, &ctx->kick_w) < 0 || idc__watch_add(ctx, &ctx->timer_w) < 0)
        goto err;
    for (const struct idc_transport *const *tp = idc__builtin_transports; *tp; tp++) {
        if ((*tp)->ctx_init && (err = (*tp)->ctx_init(ctx, opt)) < 0)
            goto err;
    }
    *out = ctx;
    return 0;
err:
    idc_context_destroy(ctx);
    return err;
}

void idc_context_destroy(struct idc_context *ctx)
{
    if (!ctx)
        return;
    while (ctx->eps)
        idc__ep_forget(ctx->eps);
    idc__buffers_fini(ctx);
    for (const struct idc_transport *const *tp = idc__builtin_transports; *tp; tp++)
        if ((*tp)->ctx_fini)
            (*tp)->ctx_fini(ctx);
    idc__stats_fini(ctx);
    while (ctx->done_head) { /* transfers completed above are dropped, not called */
        struct idc_xfer *x = ctx->done_head;
        ctx->done_head = x->next;
        free(x);
    }
    if (ctx->epfd >= 0)
        close(ctx->epfd);
    if (ctx->kickfd >= 0)
        close(ctx->kickfd);
    if (ctx->timerfd >= 0)
        close(ctx->timerfd);
    free(ctx);
}

/* Rings of connected endpoints that are not armed (lazily armed contexts, spinners): arm
   them so the fd turns readable on the next frame; frames already there, and deferred work,
   make it readable now (called outside dispatch). */
static void arm_for_fd(struct idc_context *ctx)
{
    for (struct idc_ep *ep = ctx->eps; ep; ep = ep->next) {
        struct idc_conn *c = ep->conn;
        if (ep->state == IDC_EP_CONNECTED && c && c->up && !c->rx.armed && idc__ep_arm_rx(ep))
            idc__ep_mark_pending(ep, IDC_PEND_RX);
    }
    if (ctx->pending || ctx->done_head) {
        ctx->kicked = false;
        idc__kick(ctx);
    }
}

/* Handing out the fd switches the context to keeping it meaningful between dispatch calls:
   rings stay armed and deferred work writes the kick eventfd. A context that is only ever
   driven by dispatch arms its rings right before it blocks and skips those system calls. */
int idc_context_fd(const struct idc_context *cctx)
{
    if (!cctx)
        return -1;
    struct idc_context *ctx = (struct idc_context *)cctx; /* allocated by us, never const */
    if (!ctx->fd_exported) {
        ctx->fd_exported = true;
        if (!ctx->in_dispatch)
            arm_for_fd(ctx);
        /* inside dispatch: dispatch arms everything before it returns */
    }
    return ctx->epfd;
}

uint64_t idc_context_id(const struct idc_context *ctx)
{
    return ctx ? ctx->id : 0;
}

/* ------------------------------------------------------------------------------ dispatch */

/* Deferred endpoint work, completed transfers, then the tx flush (one notify decision per
   endpoint per round). Returns callbacks-worth of work done. */
static int run_deferred(struct idc_context *ctx)
{
    int n = 0;
    /* A few passes (work queued by callbacks runs at once); what is still queued after them
       waits for the next dispatch, so other fds get their turn. */
    for (int pass = 0; pass < 8 && (ctx->pending || ctx->done_head); pass++) {
        struct idc_ep *list = ctx->pending;
        ctx->pending = NULL;
        while (list) {
            struct idc_ep *ep = list;
            list = ep->pend_next;
            ep->on_pending = false;
            idc__ep_run_pending(ep);
            n++;
        }
        struct idc_xfer *x = ctx->done_head;
        ctx->done_head = NULL;
        ctx->done_tail = &ctx->done_head;
        while (x) {
            struct idc_xfer *next = x->next;
            x->done(x->arg, x->status);
            free(x);
            x = next;
            n++;
        }
    }
    idc__flush_dirty(ctx);
    if ((ctx->pending || ctx->done_head) && ctx->fd_exported) {
        /* still busy after the guard: make sure the fd stays readable */
        ctx->kicked = false;
        uint64_t one = 1;
        if (write(ctx->kickfd, &one, sizeof(one)) < 0) { /* already readable */
        }
        ctx->kicked = true;
    }
    return n;
}

/* The context's fds (peer HUP, timers, discovery, buffer service, notifications of armed rings)
   are polled with a non-blocking epoll_wait at most this often while dispatch finds its work
   elsewhere: while an endpoint spins (SPIN_FD_POLL_NS), and on a lazily armed context (fd never
   handed out) when dispatch ran deferred work or found frames or returned credit on a ring
   itself (LAZY_FD_POLL_NS). Rings and credits are read directly. Bounds the extra latency of fd
   events on those paths; a blocking wait always polls them at once.
   The time of a poll is read lazily, by the first fds_due after it (FDS_POLLED_UNTIMED until
   then): a wake-up then reads no clock, which matters where clock_gettime is a system call (a
   PV guest whose TSC is not stable has no vDSO clock). The bound counts from that first check,
   at most one dispatch later. */
#define SPIN_FD_POLL_NS    50000u
#define LAZY_FD_POLL_NS    500000u
#define FDS_POLLED_UNTIMED UINT64_MAX

static int poll_round(struct idc_context *ctx, int timeout_ms)
{
    struct epoll_event evs[32];
    int n = epoll_wait(ctx->epfd, evs, 32, timeout_ms);
    ctx->fds_polled_ns = FDS_POLLED_UNTIMED;
    if (n < 0) {
        if (errno == EINTR)
            return 0;
        idc__log(ctx, IDC_LOG_ERROR, "epoll_wait: %s", strerror(errno));
        return IDC_ERR_IO;
    }
    int handled = 0;
    for (int i = 0; i < n; i++) {
        struct idc_watch *w = evs[i].data.ptr;
        w->fn(w, evs[i].events);
        handled++;
        handled += run_deferred(ctx); /* callbacks may have queued work */
    }
    return handled;
}

bool idc__ctx_spinning(const struct idc_context *ctx)
{
    return ctx->spinning;
}

static bool fds_due_at(struct idc_context *ctx, uint64_t now, uint64_t interval_ns)
{
    if (ctx->fds_polled_ns == FDS_POLLED_UNTIMED) {
        ctx->fds_polled_ns = now;
        return false;
    }
    return now - ctx->fds_polled_ns >= interval_ns;
}

static bool fds_due(struct idc_context *ctx, uint64_t interval_ns)
{
    return fds_due_at(ctx, idc__now_ns(), interval_ns);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static uint32_t max_spin_us(struct idc_context *ctx)
{
    uint32_t s = 0;
    for (struct idc_ep *ep = ctx->eps; ep; ep = ep->next)
        if (ep->state == IDC_EP_CONNECTED && ep->spin_us > s)
            s = ep->spin_us;
    return s;
}

/* Frames on rings that are not armed (nobody notifies them): spinners, and every ring of a
   lazily armed context between two waits. Returns the endpoints that had frames. */
static int sweep_rings(struct idc_context *ctx, bool spinners_only)
{
    int n = 0;
    for (struct idc_ep *ep = ctx->eps; ep; ep = ep->next)
        if (ep->state == IDC_EP_CONNECTED && (!spinners_only || ep->spin_us) &&
            idc__ep_spin_poll(ep))
            n++;
    return n;
}

/* Arms every ring that is not armed. Frames found by the re-check were published while it was
   not armed, so no notification is on its way: they are handled here and count as work (a
   blocking wait after them would sleep although their callbacks already ran: a lost wake-up). */
static int arm_all(struct idc_context *ctx)
{
    int n = 0;
    for (struct idc_ep *ep = ctx->eps; ep; ep = ep->next)
        if (ep->state == IDC_EP_CONNECTED && idc__ep_arm(ep, false))
            n++;
    return n;
}

/* Acknowledges the notifications the previous round handled (transport.h, ep_ack). A context
   whose fd is not exported does it when dispatch is entered again, not when it returns: the
   caller's next request goes out first, and the system call overlaps with the peer's work on
   it instead of delaying it (Xen: the port's unmask, once per round trip). Every dispatch,
   polling or waiting, starts with it, so no port stays masked across a wait. */
static void ack_all(struct idc_context *ctx)
{
    for (struct idc_ep *ep = ctx->eps; ep; ep = ep->next)
        if (ep->state == IDC_EP_CONNECTED)
            idc__ep_ack(ep);
}

/* Leaving dispatch: a context whose fd is polled from outside must have every ring armed, so
   that the fd turns readable on the next frame. */
static int dispatch_exit(struct idc_context *ctx)
{
    int n = run_deferred(ctx);
    if (ctx->fd_exported) {
        /* The round's answers are out: acknowledge its notifications (transport.h, ep_ack)
           now, as the caller's own poll of the context's fd is next. */
        ack_all(ctx);
        int a = arm_all(ctx);
        if (a)
            n += a + run_deferred(ctx);
    }
    ctx->in_dispatch = 0;
    ctx->spinning = false;
    return n;
}

int idc_context_dispatch(struct idc_context *ctx, int timeout_ms)
{
    if (!ctx)
        return IDC_ERR_INVAL;
    if (ctx->in_dispatch)
        return IDC_ERR_STATE;
    ctx->in_dispatch = 1;
    bool lazy = !ctx->fd_exported;
    if (lazy)
        ack_all(ctx);
    int n = run_deferred(ctx), r = 0;
    if (lazy)
        n += sweep_rings(ctx, false);
    uint32_t spin = timeout_ms != 0 && n == 0 && !ctx->stop ? max_spin_us(ctx) : 0;
    /* The fds: at once when polling or after work (lazily armed contexts: when due), for a
       spinner when due; a blocking wait goes straight to epoll_wait (one system call per
       wake-up on the idle path). */
    bool poll_fds;
    if (timeout_ms == 0 || n > 0 || ctx->stop)
        poll_fds = !lazy || fds_due(ctx, LAZY_FD_POLL_NS);
    else
        poll_fds = spin && fds_due(ctx, SPIN_FD_POLL_NS);
    ctx->spinning = spin != 0; /* this poll and the spin's: the wait after them polls again */
    if (poll_fds) {
        r = poll_round(ctx, 0);
        if (r < 0)
            goto out_err;
        n += r;
    }
    if (n == 0 && timeout_ms != 0 && !ctx->stop) {
        if (spin) {
            /* Spin phase: ask producers not to notify, poll the rings ourselves. */
            uint64_t limit = (uint64_t)spin * 1000u;
            if (timeout_ms > 0 && (uint64_t)timeout_ms * 1000000u < limit)
                limit = (uint64_t)timeout_ms * 1000000u;
            uint64_t deadline = idc__now_ns() + limit;
            for (struct idc_ep *ep = ctx->eps; ep; ep = ep->next)
                if (ep->state == IDC_EP_CONNECTED && ep->spin_us)
                    idc__ep_arm(ep, true);
            unsigned iter = 0;
            while (n == 0) {
                n += sweep_rings(ctx, true);
                n += run_deferred(ctx);
                if (n)
                    break;
                if ((++iter & 63) == 0) {
                    uint64_t now = idc__now_ns();
                    if (now >= deadline)
                        break;
                    if (fds_due_at(ctx, now, SPIN_FD_POLL_NS)) {
                        r = poll_round(ctx, 0); /* other fds (HUP, timers, discovery) */
                        if (r < 0)
                            goto out_err;
                        n += r;
                    }
                }
                cpu_relax();
            }
        }
        ctx->spinning = false;
        if (n == 0) {
            /* Before sleeping: arm every ring (spinners, lazily armed ones) and handle what
               raced in. */
            n += arm_all(ctx);
            n += run_deferred(ctx);
        }
        if (n == 0) {
            r = poll_round(ctx, timeout_ms);
            if (r < 0)
                goto out_err;
            n += r;
        }
    }
    return n + dispatch_exit(ctx);
out_err:
    dispatch_exit(ctx);
    return r;
}

int idc_context_run(struct idc_context *ctx)
{
    if (!ctx)
        return IDC_ERR_INVAL;
    ctx->stop = false;
    while (!ctx->stop) {
        int r = idc_context_dispatch(ctx, -1);
        if (r < 0 && r != IDC_ERR_IO)
            return r;
    }
    ctx->stop = false;
    return 0;
}

void idc_context_stop(struct idc_context *ctx)
{
    if (!ctx)
        return;
    ctx->stop = true;
    ctx->kicked = false;
    idc__kick(ctx); /* wake a blocked dispatch on the next poll (outside dispatch) */
}
