/* Stand-in for the kernel's <linux/string.h> (see linux/types.h here). */
#ifndef STUB_LINUX_STRING_H
#define STUB_LINUX_STRING_H

#include <linux/types.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *s, int c, size_t n);
void *memchr(const void *s, int c, size_t n);

#endif
