/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/* kcontext.h - the kernel runtime's context (idc.ko), included by runtime/core/internal.h
 * under __KERNEL__ in place of the user-space one.
 *
 * User space runs a context's callbacks inside idc_context_dispatch on the thread that owns it;
 * the kernel has no such thread, so a context here owns an ordered workqueue and one mutex:
 *   - every callback, timer and transport event runs in a work item of that workqueue, with
 *     the mutex held (one at a time, in order: the user-space "inside dispatch");
 *   - public calls from other process contexts take the same mutex (so they may sleep); a call
 *     made from inside a callback finds the mutex already held by its own task and runs
 *     directly, as a user-space call made inside dispatch does;
 *   - interrupt handlers and xenbus watch callbacks never take the mutex: they queue a
 *     deferred call (struct idc_kdefer) and the work item runs it.
 * The shared core (endpoint.c) reads the members of the first block under the names it uses in
 * user space.
 */
#ifndef IDC_KCONTEXT_H
#define IDC_KCONTEXT_H

#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>

#include "kinternal.h"
#include "statsfile.h"

struct idc_ep;
struct idc_timer;

struct idc_context {
	/* the members endpoint.c uses */
	struct idc_ep *eps;	/* all live endpoints */
	struct idc_ep *pending; /* endpoints with deferred work */
	struct idc_ep *dirty;	/* endpoints with unflushed tx */
	bool unpublished;	/* some of them hold written, unpublished frames (mark_dirty) */
	int in_dispatch;	/* > 0 while the work item runs: sends defer their notify */
	bool fd_exported;	/* always false: there is no fd to keep readable */
	/* the members buffer.c uses */
	struct idc_alloc *allocs;
	struct idc_reg *regs;			 /* [IDC_MAX_REGS], lazily allocated */
	struct idc_xfer *done_head, **done_tail; /* completed transfers awaiting their callback */

	/* the kernel's */
	struct mutex lock;
	struct task_struct *owner; /* the task holding lock (a callback calling back in) */
	struct workqueue_struct *wq;
	struct work_struct work;	/* runs deferred calls, pending endpoints, timers */
	struct delayed_work timer_work; /* queues work when the earliest timer is due */
	spinlock_t defer_lock;		/* guards defer (taken in interrupt handlers) */
	struct list_head defer;		/* struct idc_kdefer queued */
	struct idc_timer *timers;	/* armed, unordered */
	uint64_t id;
	void (*log)(void *arg, int level, const char *msg);
	void *log_arg;
	void *tp_state[IDC_MAX_TRANSPORTS];
	struct idc_stats_counters stats_sink; /* counters of endpoints that got no memory */
};

/* The context's mutex, re-entrant for the task holding it: true when this call took it (pass
   it to idc__kunlock). Process context; may sleep. */
bool idc__klock(struct idc_context *ctx);
void idc__kunlock(struct idc_context *ctx, bool taken);

#endif /* IDC_KCONTEXT_H */
