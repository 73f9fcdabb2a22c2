/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/* stddef.h - the C library header the shared core files include, on the kernel's own headers.
 * Only on the include path of the shared runtime/core/ files built into idc.ko (see Kbuild). */
#ifndef IDC_SHIM_STDDEF_H
#define IDC_SHIM_STDDEF_H

#include <linux/stddef.h>

#endif
