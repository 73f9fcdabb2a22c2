// SPDX-License-Identifier: GPL-2.0-only OR MIT
/* main.c - idc.ko: the idc.h runtime inside Linux (docs/kernel.md). The module holds no state
 * of its own: contexts belong to the modules that create them (a driver module that uses idc
 * cannot outlive idc.ko, the kernel counts its references), so unloading finds nothing left. */
#include <linux/module.h>

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

static int __init idc_init(void)
{
	return 0;
}

static void __exit idc_exit(void)
{
	/* Cannot happen through the module API (users hold references); a leak if it does. */
	if (idc__kcontexts_live())
		pr_err("idc: unloaded with %d contexts alive\n", idc__kcontexts_live());
}

module_init(idc_init);
module_exit(idc_exit);

MODULE_DESCRIPTION("idc: inter-domain communication runtime (idc.h) on Xen");
MODULE_LICENSE("Dual MIT/GPL");
