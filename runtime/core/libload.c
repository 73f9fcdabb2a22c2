/* libload.c - libraries a transport loads at run time, and the functions it needs of them.
 *
 * libidc links no optional library (Xen's, libfabric, ZooKeeper's): a program that never uses a
 * transport, or a machine without its packages, must load and run. A transport describes its
 * libraries (by soname: run-time packages only) and the functions it calls in a struct
 * idc_libset; the first use loads them all, once per process, and fills the transport's function
 * pointers. Transports then call through those pointers; one that cannot load answers
 * IDC_ERR_NOTSUP with the reason idc__libs_load returns.
 */
#include <dlfcn.h>
#include <stdio.h>

#include "transport.h"

static const char *load(struct idc_libset *s)
{
    void *handle[IDC_LIBSET_MAX] = { NULL };
    for (unsigned i = 0; i < s->nlibs && i < IDC_LIBSET_MAX; i++) {
        /* RTLD_LOCAL: the libraries' symbols are ours alone, never interposed on the program */
        handle[i] = dlopen(s->sonames[i], RTLD_NOW | RTLD_LOCAL);
        if (!handle[i]) {
            snprintf(s->why, sizeof(s->why), "cannot load %s: %s (%s)", s->sonames[i], dlerror(),
                     s->hint);
            return s->why;
        }
    }
    for (unsigned k = 0; k < s->nfns; k++) {
        const struct idc_lib_fn *f = &s->fns[k];
        if (f->lib >= s->nlibs || !(*f->slot = dlsym(handle[f->lib], f->name))) {
            snprintf(s->why, sizeof(s->why), "%s has no %s", s->sonames[f->lib], f->name);
            return s->why;
        }
    }
    /* the handles stay open for the life of the process: the functions are in use until then */
    return NULL;
}

const char *idc__libs_load(struct idc_libset *s)
{
    pthread_mutex_lock(&s->lock);
    if (!s->tried) {
        s->tried = true;
        load(s);
    }
    pthread_mutex_unlock(&s->lock);
    return s->why[0] ? s->why : NULL;
}
