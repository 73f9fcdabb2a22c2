/* libs.c - the Xen libraries, loaded when the xen transport is first used.
 *
 * libidc does not link libxenstore, libxengnttab or libxenevtchn: a program that only uses shm
 * (or a machine with no Xen package at all) must load and run. The first context on a host with
 * /dev/xen loads them by soname (the run-time packages libxenstore4, libxengnttab1,
 * libxenevtchn1; no -dev package needed) and looks up every function listed in XEN_API; from then
 * on the transport calls them through `xen_lib`. When one cannot be loaded, the xen transport
 * answers IDC_ERR_NOTSUP with the loader's reason, once per context that tries.
 */
#include "xen.h"

struct xen_api xen_lib;

/* The libraries by soname; XEN_API's first column indexes this table. */
static const char *const sonames[] = {
    [XEN_LIB_STORE] = "libxenstore.so.4",
    [XEN_LIB_GNTTAB] = "libxengnttab.so.1",
    [XEN_LIB_EVTCHN] = "libxenevtchn.so.1",
};

/* Every function of XEN_API, and where its pointer goes. */
#define XEN_ROW(lib, fn) { lib, #fn, (void **)&xen_lib.fn },
static const struct idc_lib_fn fns[] = { XEN_API(XEN_ROW) };
#undef XEN_ROW

static struct idc_libset libs = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .nlibs = sizeof(sonames) / sizeof(sonames[0]),
    .nfns = sizeof(fns) / sizeof(fns[0]),
    .sonames = sonames,
    .fns = fns,
    .hint = "install the Xen run-time libraries",
};

const char *xen_lib_load(void)
{
    return idc__libs_load(&libs);
}
