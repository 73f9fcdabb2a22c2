/* Stand-in for the kernel's <linux/slab.h> (see linux/types.h here). */
#ifndef STUB_LINUX_SLAB_H
#define STUB_LINUX_SLAB_H

#include <linux/types.h>

typedef unsigned int gfp_t;
#define GFP_KERNEL ((gfp_t)0xcc0u)

void *kmalloc(size_t size, gfp_t flags);
void kfree(const void *p);

#endif
