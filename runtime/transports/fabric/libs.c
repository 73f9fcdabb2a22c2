/* libs.c - libfabric and the ZooKeeper client, loaded when the fabric transport is first used.
 *
 * libidc links neither: a program that never uses fabric (or a machine without the packages)
 * must load and run. The first fabric endpoint or remote-buffer transfer loads them by soname
 * (the run-time packages libfabric1 and libzookeeper-st2; no -dev package needed) and looks up
 * every function listed in FAB_API; from then on the transport calls them through `fab_lib`.
 * When one cannot be loaded, the fabric transport answers IDC_ERR_NOTSUP with the loader's
 * reason. (The rest of libfabric's API is inline calls through its objects' operation tables.)
 */
#include "fabric.h"

struct fab_api fab_lib;

/* The libraries by soname; FAB_API's first column indexes this table. */
static const char *const sonames[] = {
    [FAB_LIB_FABRIC] = "libfabric.so.1",
    [FAB_LIB_ZK] = "libzookeeper_st.so.2",
};

/* Every function of FAB_API, and where its pointer goes. */
#define FAB_ROW(lib, fn) { lib, #fn, (void **)&fab_lib.fn },
static const struct idc_lib_fn fns[] = { FAB_API(FAB_ROW) };
#undef FAB_ROW

static struct idc_libset libs = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .nlibs = sizeof(sonames) / sizeof(sonames[0]),
    .nfns = sizeof(fns) / sizeof(fns[0]),
    .sonames = sonames,
    .fns = fns,
    .hint = "install libfabric1 and libzookeeper-st2",
};

const char *fab_lib_load(void)
{
    return idc__libs_load(&libs);
}
