/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/* stdlib.h - the C library header the shared core files include, on the kernel's own headers.
 * Only on the include path of the shared runtime/core/ files built into idc.ko (see Kbuild). */
#ifndef IDC_SHIM_STDLIB_H
#define IDC_SHIM_STDLIB_H

#include <linux/kernel.h>
#include <linux/slab.h>

/* The shared files allocate in process context only (the context's workqueue, or a public
   call documented as sleeping), so GFP_KERNEL. */
#define malloc(n)    kmalloc((n), GFP_KERNEL)
#define calloc(n, s) kcalloc((n), (s), GFP_KERNEL)
#define free(p)	     kfree(p)

/* The kernel has no environment: every knob read through idc__env_uint takes its default. */
static inline char *getenv(const char *name)
{
	(void)name;
	return NULL;
}

static inline unsigned long strtoul(const char *s, char **end, int base)
{
	return simple_strtoul(s, end, (unsigned int)base);
}

#endif
