/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/* pthread.h - the C library header the shared core files include, on the kernel's own headers.
 * Only on the include path of the shared runtime/core/ files built into idc.ko (see Kbuild). */
#ifndef IDC_SHIM_PTHREAD_H
#define IDC_SHIM_PTHREAD_H

#include <linux/mutex.h>

/* Only struct idc_libset (the optional libraries of user-space transports) names a pthread
   mutex; the kernel loads no library, so the type only has to exist. */
typedef struct mutex pthread_mutex_t;

#endif
