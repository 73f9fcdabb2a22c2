/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/* unistd.h - the C library header the shared core files include, on the kernel's own headers.
 * Only on the include path of the shared runtime/core/ files built into idc.ko (see Kbuild). */
#ifndef IDC_SHIM_UNISTD_H
#define IDC_SHIM_UNISTD_H

/* statsfile.h includes it for user space; buffer.c asks it the page size. */
#include <linux/mm.h>

/* buffer.c rounds allocations to the page size. */
#define _SC_PAGESIZE 30
static inline long sysconf(int name)
{
	(void)name;
	return PAGE_SIZE;
}

#endif
