/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/* unistd.h - the C library header the shared core files include, on the kernel's own headers.
 * Only on the include path of the shared runtime/core/ files built into idc.ko (see Kbuild). */
#ifndef IDC_SHIM_UNISTD_H
#define IDC_SHIM_UNISTD_H

/* statsfile.h includes it for user space; the kernel build uses nothing of it. */

#endif
