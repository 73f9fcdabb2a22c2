/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/* stdint.h - the C library header the shared core files include, on the kernel's own headers.
 * Only on the include path of the shared runtime/core/ files built into idc.ko (see Kbuild). */
#ifndef IDC_SHIM_STDINT_H
#define IDC_SHIM_STDINT_H

#include <linux/limits.h>
#include <linux/types.h>

#ifndef UINT64_C
#define UINT64_C(c) c##ULL
#endif
#ifndef UINT32_MAX
#define UINT32_MAX U32_MAX
#endif

#endif
