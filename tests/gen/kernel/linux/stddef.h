/* Stand-in for the kernel's <linux/stddef.h> (see linux/types.h here). */
#ifndef STUB_LINUX_STDDEF_H
#define STUB_LINUX_STDDEF_H

#define NULL ((void *)0)
enum { false = 0, true = 1 };
#define offsetof(TYPE, MEMBER) __builtin_offsetof(TYPE, MEMBER)

#endif
