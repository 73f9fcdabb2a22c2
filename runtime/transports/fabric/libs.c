/* libs.c - libfabric and the ZooKeeper client, loaded when the fabric transport is first used.
 *
 * libidc links neither: a program that never uses fabric (or a machine without the packages)
 * must load and run. The first fabric endpoint or remote-buffer transfer loads them by soname
 * (the run-time packages libfabric1 and libzookeeper-st2; no -dev package needed) and looks up
 * every function listed in FAB_API; from then on the transport calls them through `fab_lib`.
 * When one cannot be loaded, the fabric transport answers IDC_ERR_NOTSUP with the loader's
 * reason. (The rest of libfabric's API is inline calls through its objects' operation tables.)
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "fabric.h"

struct fab_api fab_lib;

/* The libraries by soname; FAB_API's first column indexes this table. */
static const char *const sonames[] = {
    [FAB_LIB_FABRIC] = "libfabric.so.1",
    [FAB_LIB_ZK] = "libzookeeper_st.so.2",
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char why[256]; /* empty once loaded; the reason otherwise (written once, under `once`) */

static void load(void)
{
    void *handle[FAB_LIB_COUNT] = { NULL };
    for (unsigned i = 0; i < FAB_LIB_COUNT; i++) {
        /* RTLD_LOCAL: the libraries' symbols are ours alone, never interposed on the program */
        handle[i] = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL);
        if (!handle[i]) {
            snprintf(why, sizeof(why),
                     "cannot load %s: %s (install libfabric1 and "
                     "libzookeeper-st2)",
                     sonames[i], dlerror());
            return;
        }
    }
#define FAB_LOOKUP(lib, fn)                                            \
    if (!(*(void **)&fab_lib.fn = dlsym(handle[lib], #fn))) {          \
        snprintf(why, sizeof(why), "%s has no %s", sonames[lib], #fn); \
        return;                                                        \
    }
    FAB_API(FAB_LOOKUP)
#undef FAB_LOOKUP
    /* the handles stay open for the life of the process: the functions are in use until then */
}

const char *fab_lib_load(void)
{
    pthread_once(&once, load);
    return why[0] ? why : NULL;
}
