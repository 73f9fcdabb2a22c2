/* libs.c - the Xen libraries, loaded when the xen transport is first used.
 *
 * libidc does not link libxenstore, libxengnttab or libxenevtchn: a program that only uses shm
 * (or a machine with no Xen package at all) must load and run. The first context on a host with
 * /dev/xen loads them by soname (the run-time packages libxenstore4, libxengnttab1,
 * libxenevtchn1; no -dev package needed) and looks up every function listed in XEN_API; from then
 * on the transport calls them through `xen_lib`. When one cannot be loaded, the xen transport
 * answers IDC_ERR_NOTSUP with the loader's reason, once per context that tries.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "xen.h"

struct xen_api xen_lib;

/* The libraries by soname; XEN_API's first column indexes this table. */
static const char *const sonames[] = {
    [XEN_LIB_STORE] = "libxenstore.so.4",
    [XEN_LIB_GNTTAB] = "libxengnttab.so.1",
    [XEN_LIB_EVTCHN] = "libxenevtchn.so.1",
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char why[256]; /* empty once loaded; the reason otherwise (written once, under `once`) */

static void load(void)
{
    void *handle[XEN_LIB_COUNT] = { NULL };
    for (unsigned i = 0; i < XEN_LIB_COUNT; i++) {
        /* RTLD_LOCAL: the libraries' symbols are ours alone, never interposed on the program */
        handle[i] = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL);
        if (!handle[i]) {
            snprintf(why, sizeof(why), "cannot load %s: %s (install the Xen run-time libraries)",
                     sonames[i], dlerror());
            return;
        }
    }
#define XEN_LOOKUP(lib, fn)                                            \
    if (!(*(void **)&xen_lib.fn = dlsym(handle[lib], #fn))) {          \
        snprintf(why, sizeof(why), "%s has no %s", sonames[lib], #fn); \
        return;                                                        \
    }
    XEN_API(XEN_LOOKUP)
#undef XEN_LOOKUP
    /* the handles stay open for the life of the process: the functions are in use until then */
}

const char *xen_lib_load(void)
{
    pthread_once(&once, load);
    if (why[0])
        return why;
    return NULL;
}
