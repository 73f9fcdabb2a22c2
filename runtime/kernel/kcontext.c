// SPDX-License-Identifier: GPL-2.0-only OR MIT
/* kcontext.c - the kernel runtime's context: an ordered workqueue and a mutex instead of the
 * user-space epoll loop (kcontext.h says why and what the rules are), the context services of
 * transport.h (logging, timers, randomness, per-transport state) and the stats hooks of the
 * shared endpoint core. Not shared with runtime/core/context.c: that file is epoll, eventfd,
 * timerfd and a dispatching thread, none of which exists here. */
#include <linux/atomic.h>
#include <linux/ctype.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/timekeeping.h>

#include "internal.h"
#include "kinternal.h"

/* contexts alive, for the module's exit check */
static atomic_t live_contexts = ATOMIC_INIT(0);

int idc__kcontexts_live(void)
{
	return atomic_read(&live_contexts);
}

/* ------------------------------------------------------------------------------- logging */

__printf(3, 0) void idc__vlog(struct idc_context *ctx, int level, const char *fmt, va_list ap)
{
	char msg[256];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (ctx && ctx->log) {
		ctx->log(ctx->log_arg, level, msg);
		return;
	}
	switch (level) {
	case IDC_LOG_ERROR:
		pr_err("idc: %s\n", msg);
		break;
	case IDC_LOG_WARN:
		pr_warn("idc: %s\n", msg);
		break;
	case IDC_LOG_INFO:
		pr_info("idc: %s\n", msg);
		break;
	default:
		pr_debug("idc: %s\n", msg);
		break;
	}
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
	return ktime_get_ns();
}

uint32_t idc__cpu(void)
{
	return raw_smp_processor_id() + 1;
}

int idc__random(void *buf, size_t len)
{
	get_random_bytes(buf, len);
	return 0;
}

bool idc__valid_name(const char *name)
{
	size_t n;

	for (n = 0; name[n]; n++) {
		char c = name[n];

		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return false;
		if (n >= IDC_NAME_MAX)
			return false;
	}
	return n > 0 && name[0] != '.';
}

void **idc__ctx_slot(struct idc_context *ctx, const struct idc_transport *tp)
{
	int i = idc__transport_index(tp);

	return &ctx->tp_state[i < 0 ? 0 : i];
}

void idc__ctx_set_locator(struct idc_context *ctx, uint16_t locator)
{
	ctx->id = (ctx->id & IDC_OWNER_RAND_MASK) | (uint64_t)locator << IDC_OWNER_LOC_SHIFT;
}

/* ------------------------------------------------------------------ the mutex, re-entrant */

bool idc__klock(struct idc_context *ctx)
{
	/* Only the holder itself can see owner == current: a callback calling back into the API. */
	if (READ_ONCE(ctx->owner) == current)
		return false;
	mutex_lock(&ctx->lock);
	WRITE_ONCE(ctx->owner, current);
	return true;
}

void idc__kunlock(struct idc_context *ctx, bool taken)
{
	if (!taken)
		return;
	WRITE_ONCE(ctx->owner, NULL);
	mutex_unlock(&ctx->lock);
}

/* ---------------------------------------------------------------------- deferred calls */

void idc__kick(struct idc_context *ctx)
{
	queue_work(ctx->wq, &ctx->work);
}

void idc__kdefer(struct idc_context *ctx, struct idc_kdefer *d)
{
	unsigned long flags;

	spin_lock_irqsave(&ctx->defer_lock, flags);
	if (!d->queued) {
		d->queued = true;
		list_add_tail(&d->node, &ctx->defer);
	}
	spin_unlock_irqrestore(&ctx->defer_lock, flags);
	queue_work(ctx->wq, &ctx->work);
}

void idc__kdefer_cancel(struct idc_context *ctx, struct idc_kdefer *d)
{
	unsigned long flags;

	spin_lock_irqsave(&ctx->defer_lock, flags);
	if (d->queued) {
		d->queued = false;
		list_del(&d->node);
	}
	spin_unlock_irqrestore(&ctx->defer_lock, flags);
}

/* One at a time, the lock dropped around each call: the call may cancel other entries. */
static void run_defers(struct idc_context *ctx)
{
	struct idc_kdefer *d;
	unsigned long flags;
	unsigned int n;

	for (n = 0; n < 256; n++) {
		spin_lock_irqsave(&ctx->defer_lock, flags);
		d = list_first_entry_or_null(&ctx->defer, struct idc_kdefer, node);
		if (d) {
			list_del(&d->node);
			d->queued = false;
		}
		spin_unlock_irqrestore(&ctx->defer_lock, flags);
		if (!d)
			return;
		d->fn(d);
	}
	idc__kick(ctx); /* more than a round's worth: the rest in the next run */
}

/* ---------------------------------------------------------------------------- transfers */

/* Queued, never called in the caller's stack frame: the callback runs from the work item, as
   user space runs it from dispatch. */
void idc__xfer_complete(struct idc_context *ctx, struct idc_xfer *x, int status)
{
	x->status = status;
	x->next = NULL;
	*ctx->done_tail = x;
	ctx->done_tail = &x->next;
	idc__kick(ctx);
}

static void run_done(struct idc_context *ctx)
{
	struct idc_xfer *x = ctx->done_head, *next;

	ctx->done_head = NULL;
	ctx->done_tail = &ctx->done_head;
	for (; x; x = next) {
		next = x->next;
		x->done(x->arg, x->status);
		kfree(x);
	}
}

/* Transfers completed by the context's destroy: dropped, not called (as in user space). */
static void drop_done(struct idc_context *ctx)
{
	struct idc_xfer *x;

	while ((x = ctx->done_head)) {
		ctx->done_head = x->next;
		kfree(x);
	}
	ctx->done_tail = &ctx->done_head;
}

/* ------------------------------------------------------------------------------ timers */

static void timer_program(struct idc_context *ctx)
{
	struct idc_timer *t;
	uint64_t first = 0, now = idc__now_ns();

	for (t = ctx->timers; t; t = t->next)
		if (!first || t->due_ns < first)
			first = t->due_ns;
	if (!first)
		return;
	mod_delayed_work(ctx->wq, &ctx->timer_work,
			 first <= now ? 0 : nsecs_to_jiffies(first - now) + 1);
}

void idc__timer_cancel(struct idc_context *ctx, struct idc_timer *t)
{
	struct idc_timer **pp;

	if (!t->armed)
		return;
	for (pp = &ctx->timers; *pp; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	t->armed = false;
	t->due_ns = 0;
}

void idc__timer_arm(struct idc_context *ctx, struct idc_timer *t, uint64_t delay_ms)
{
	idc__timer_cancel(ctx, t);
	t->due_ns = idc__now_ns() + delay_ms * 1000000u;
	t->armed = true;
	t->next = ctx->timers;
	ctx->timers = t;
	timer_program(ctx);
}

static void run_timers(struct idc_context *ctx)
{
	struct idc_timer *t;
	uint64_t now = idc__now_ns();
	unsigned int n;

	for (n = 0; n < 64; n++) {
		for (t = ctx->timers; t; t = t->next)
			if (t->due_ns <= now)
				break;
		if (!t)
			break;
		idc__timer_cancel(ctx, t); /* fn may arm it again */
		t->fn(t);
	}
	timer_program(ctx);
}

/* ------------------------------------------------------------------------- the work item */

/* Pending endpoint work, then the tx flush: one notify decision per endpoint per round. */
static void run_deferred(struct idc_context *ctx)
{
	struct idc_ep *list, *ep;
	int pass;

	for (pass = 0; pass < 8 && ctx->pending; pass++) {
		list = ctx->pending;
		ctx->pending = NULL;
		while (list) {
			ep = list;
			list = ep->pend_next;
			ep->on_pending = false;
			idc__ep_run_pending(ep);
		}
	}
	idc__flush_dirty(ctx);
	if (ctx->pending)
		idc__kick(ctx);
}

/* Arms every connected endpoint's rx ring before the work item ends, so the peer notifies
   the next frame (the user-space context does the same before it blocks). Frames found by the
   re-check were published while the ring was not armed: no notification is on its way, they
   are handled here. True when there were some. */
static bool arm_all(struct idc_context *ctx)
{
	struct idc_ep *ep;
	bool found = false;

	for (ep = ctx->eps; ep; ep = ep->next)
		if (ep->state == IDC_EP_CONNECTED && idc__ep_arm(ep, false))
			found = true;
	return found;
}

static void ctx_run(struct idc_context *ctx)
{
	bool taken = idc__klock(ctx);
	int round;

	ctx->in_dispatch++;
	run_timers(ctx);
	run_defers(ctx);
	run_done(ctx);
	run_deferred(ctx);
	for (round = 0; round < 8 && arm_all(ctx); round++)
		run_deferred(ctx);
	ctx->in_dispatch--;
	idc__kunlock(ctx, taken);
}

static void ctx_work(struct work_struct *w)
{
	ctx_run(container_of(w, struct idc_context, work));
}

static void ctx_timer_work(struct work_struct *w)
{
	ctx_run(container_of(to_delayed_work(w), struct idc_context, timer_work));
}

/* ---------------------------------------------------------------------------- lifecycle */

static void ctx_fini_transports(struct idc_context *ctx)
{
	const struct idc_transport *const *tp;

	for (tp = idc__builtin_transports; *tp; tp++)
		if ((*tp)->ctx_fini)
			(*tp)->ctx_fini(ctx);
}

int idc_context_create(struct idc_context **out, const struct idc_context_options *opt)
{
	const struct idc_transport *const *tp;
	struct idc_context *ctx;
	int r = 0;

	if (!out)
		return IDC_ERR_INVAL;
	*out = NULL;
	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return IDC_ERR_NOMEM;
	mutex_init(&ctx->lock);
	spin_lock_init(&ctx->defer_lock);
	INIT_LIST_HEAD(&ctx->defer);
	ctx->done_tail = &ctx->done_head;
	INIT_WORK(&ctx->work, ctx_work);
	INIT_DELAYED_WORK(&ctx->timer_work, ctx_timer_work);
	if (opt) {
		ctx->log = opt->log;
		ctx->log_arg = opt->log_arg;
	}
	/* Ordered: one work item at a time, in queueing order, as one dispatching thread. */
	ctx->wq = alloc_ordered_workqueue("idc", 0);
	if (!ctx->wq) {
		kfree(ctx);
		return IDC_ERR_NOMEM;
	}
	do {
		get_random_bytes(&ctx->id, sizeof(ctx->id));
		ctx->id &= IDC_OWNER_RAND_MASK;
	} while (!ctx->id);
	for (tp = idc__builtin_transports; *tp && !r; tp++)
		if ((*tp)->ctx_init)
			r = (*tp)->ctx_init(ctx, opt);
	if (r < 0) {
		ctx_fini_transports(ctx);
		destroy_workqueue(ctx->wq);
		kfree(ctx);
		return r;
	}
	atomic_inc(&live_contexts);
	*out = ctx;
	return 0;
}

void idc_context_destroy(struct idc_context *ctx)
{
	bool taken;

	if (!ctx)
		return;
	taken = idc__klock(ctx);
	if (!taken) {
		idc__log(ctx, IDC_LOG_ERROR, "idc_context_destroy called from a callback: ignored");
		return;
	}
	while (ctx->eps)
		idc__ep_forget(ctx->eps); /* stops the transport: no interrupt or watch left */
	/* The buffer service stops (links unmapped and unbound, its nodes removed), then every
	   registration is revoked and its memory freed. */
	idc__buffers_fini(ctx);
	drop_done(ctx);
	ctx->timers = NULL;
	ctx->pending = NULL;
	ctx->dirty = NULL;
	idc__kunlock(ctx, taken);
	cancel_delayed_work_sync(&ctx->timer_work);
	destroy_workqueue(ctx->wq); /* drains what was queued: it finds nothing to do */
	ctx_fini_transports(ctx);
	atomic_dec(&live_contexts);
	kfree(ctx);
}

uint64_t idc_context_id(const struct idc_context *ctx)
{
	return ctx ? ctx->id : 0;
}

/* ------------------------------------------------------------------------------- stats */

/* No stats file in the kernel: each endpoint counts on the heap (or in the sink). */
void idc__stats_attach(struct idc_ep *ep)
{
	ep->ctr = kzalloc(sizeof(*ep->ctr), GFP_KERNEL);
	if (!ep->ctr)
		ep->ctr = &ep->link.ctx->stats_sink;
}

void idc__stats_sync(struct idc_ep *ep)
{
	(void)ep;
}

void idc__stats_detach(struct idc_ep *ep)
{
	if (ep->ctr != &ep->link.ctx->stats_sink)
		kfree(ep->ctr);
	ep->ctr = NULL;
}

void idc__link_peer(struct idc_link *l, const char *fmt, ...)
{
	(void)l;
	(void)fmt;
}
