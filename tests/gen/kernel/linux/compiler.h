/* Stand-in for the kernel's <linux/compiler.h> (see linux/types.h here): the accesses the rings
 * use, with the meaning the kernel gives them. */
#ifndef STUB_LINUX_COMPILER_H
#define STUB_LINUX_COMPILER_H

#define READ_ONCE(x)     (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

#endif
