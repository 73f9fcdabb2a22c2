// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * gntcount: how many grant references this domain's kernel can still allocate, printed as
 * "gntcount: N grant references free" when the module loads (then rmmod it). Loaded before a
 * module under test and again after its unload, equal counts say it left no grant behind: a
 * grant it never ended would still hold its reference.
 *
 * The count is the largest N for which gnttab_alloc_grant_references succeeds (found by
 * bisection, each probe freed at once). The first probe grows the grant table to its maximum,
 * so every later count is taken against the same table.
 */
#include <linux/module.h>
#include <xen/grant_table.h>

#define GNTCOUNT_MAX (1u << 22) /* above any grant table (Xen's default is 64 frames) */

static bool gntcount_can(unsigned int n)
{
	grant_ref_t head;

	if (gnttab_alloc_grant_references(n, &head) < 0)
		return false;
	gnttab_free_grant_references(head);
	return true;
}

static int __init gntcount_init(void)
{
	unsigned int lo = 0, hi = GNTCOUNT_MAX, mid;

	while (lo < hi) { /* lo can be allocated, hi + 1 cannot */
		mid = lo + (hi - lo + 1) / 2;
		if (gntcount_can(mid))
			lo = mid;
		else
			hi = mid - 1;
	}
	pr_info("gntcount: %u grant references free\n", lo);
	return 0;
}

static void __exit gntcount_exit(void)
{
}

module_init(gntcount_init);
module_exit(gntcount_exit);

MODULE_DESCRIPTION("the number of free grant references, for the checks of check-xen");
MODULE_LICENSE("Dual MIT/GPL");
