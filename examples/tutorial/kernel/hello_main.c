// SPDX-License-Identifier: GPL-2.0-only OR MIT
#include <linux/completion.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <idc.h>
#include "hello.h"

static char *address = "xen:0/hello";
module_param(address, charp, 0444);

struct hello_dev {
	struct idc_context *ctx;
	struct hello_frontend fe; /* over 1 KiB: never on the stack */
	struct hello_greet_txn txn; /* lives until greeted() ran */
	struct completion gone;
};
static struct hello_dev *dev;

static void greeted(struct hello_greet_txn *t, int st, const struct hello_greet_result *r)
{
	if (st == 0)
		pr_info("hello: %s\n", r->text);
	else if (st != IDC_ERR_DISCONNECTED) /* a disconnect: connect asks again */
		pr_err("hello: greet failed: %s\n", st > 0 ? "EMPTY" : idc_strerror(st));
}

static void on_connect(struct hello_frontend *fe) /* runs in idc.ko's work item */
{
	struct hello_greet_args a = { .name = "kernel" };

	hello_greet_submit(fe, &dev->txn, &a, greeted);
}

static void on_tick(struct hello_frontend *fe, const struct hello_tick_args *args)
{
	pr_info("hello: the server has greeted %u times\n", args->count);
}

static void destroyed(struct hello_frontend *fe)
{
	complete(&dev->gone);
}

static const struct hello_frontend_ops ops = { .connect = on_connect, .on_tick = on_tick };

static int __init hello_init(void)
{
	int err;

	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev)
		return -ENOMEM;
	init_completion(&dev->gone);
	err = idc_context_create(&dev->ctx, NULL);
	if (err) {
		kfree(dev);
		return -ENOMEM;
	}
	hello_frontend_create(&dev->fe, dev->ctx, address, &ops, NULL);
	return 0;
}

static void __exit hello_exit(void)
{
	hello_frontend_destroy(&dev->fe, destroyed);
	wait_for_completion_timeout(&dev->gone, 10 * HZ);
	idc_context_destroy(dev->ctx);
	kfree(dev);
}

module_init(hello_init);
module_exit(hello_exit);
MODULE_LICENSE("Dual MIT/GPL");
