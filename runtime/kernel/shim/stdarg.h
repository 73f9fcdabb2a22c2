/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/* stdarg.h - the C library header the shared core files include, on the kernel's own headers.
 * Only on the include path of the shared runtime/core/ files built into idc.ko (see Kbuild). */
#ifndef IDC_SHIM_STDARG_H
#define IDC_SHIM_STDARG_H

/* linux/stdarg.h since 5.15; before, the compiler's own header (kbuild passes -isystem) */
#if __has_include(<linux/stdarg.h>)
#include <linux/stdarg.h>
#else
#include_next <stdarg.h>
#endif

#endif
