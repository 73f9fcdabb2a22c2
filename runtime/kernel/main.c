// SPDX-License-Identifier: GPL-2.0-only OR MIT
/* main.c - idc.ko: the idc.h runtime inside Linux (docs/kernel.md). The module holds no state
 * of its own: contexts belong to the modules that create them (a driver module that uses idc
 * cannot outlive idc.ko, the kernel counts its references), so unloading finds nothing left. */
#include <linux/atomic.h>
#include <linux/module.h>
#include <linux/sysfs.h>

#include "kinternal.h"

/* The transports of the kernel runtime, in the order the core asks them (transport.h). */
const struct idc_transport *const idc__builtin_transports[] = {
	&idc_ktransport_xen,
	NULL,
};

/* Buffer memory: kernel memory, served to other domains by the xen transport (xenbuf.c). */
const struct idc_transport *const idc__buffer_memory = &idc_ktransport_xen;

/* Prefixes of the user-space transports: IDC_ERR_NOTSUP rather than IDC_ERR_INVAL. */
const char *const idc__absent_transports[] = {"shm", "fabric", NULL};

static atomic_t idc_kgrants = ATOMIC_INIT(0);

void idc__kgrants_add(int n)
{
	atomic_add(n, &idc_kgrants);
}

static int kgrants_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%d\n", atomic_read(&idc_kgrants));
}

static const struct kernel_param_ops kgrants_ops = {.get = kgrants_get};
module_param_cb(grants, &kgrants_ops, NULL, 0444);
MODULE_PARM_DESC(grants, "grants held: pages granted to other domains and their pages mapped");

static int __init idc_init(void)
{
	return 0;
}

static void __exit idc_exit(void)
{
	/* Cannot happen through the module API (users hold references); a leak if it does. */
	if (idc__kcontexts_live())
		pr_err("idc: unloaded with %d contexts alive\n", idc__kcontexts_live());
	if (atomic_read(&idc_kgrants))
		pr_err("idc: unloaded with %d grants held\n", atomic_read(&idc_kgrants));
}

module_init(idc_init);
module_exit(idc_exit);

MODULE_DESCRIPTION("idc: inter-domain communication runtime (idc.h) on Xen");
MODULE_LICENSE("Dual MIT/GPL");
