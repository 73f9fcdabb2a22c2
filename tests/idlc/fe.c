/* fe.c - shared helpers of the idlc front-end tests. */
#include <stdlib.h>
#include <string.h>

#include "fe.h"

static void start(struct fe_run *r, const char **incs, size_t nincs)
{
    memset(r, 0, sizeof *r);
    r->diag_f = open_memstream(&r->diag, &r->diag_len);
    struct idlc_options opt;
    idlc_options_init(&opt);
    opt.diag_out = r->diag_f;
    opt.include_dirs = incs;
    opt.ninclude_dirs = nincs;
    opt.check_only = true;
    r->ctx = idlc_ctx_create(&opt);
}

static void finish(struct fe_run *r)
{
    if (r->unit && !r->ctx->hard_errors)
        r->rc = idlc_check(r->ctx, r->unit);
    else
        r->rc = -1;
    if (idlc_error_count(r->ctx))
        r->rc = -1;
    fflush(r->diag_f);
}

void fe_string(struct fe_run *r, const char *name, const char *text)
{
    start(r, NULL, 0);
    r->unit = idlc_parse_string(r->ctx, name, text);
    finish(r);
}

void fe_file(struct fe_run *r, const char *path, const char **incs, size_t nincs)
{
    start(r, incs, nincs);
    r->unit = idlc_parse_file(r->ctx, path);
    finish(r);
}

void fe_free(struct fe_run *r)
{
    idlc_ctx_destroy(r->ctx);
    if (r->diag_f)
        fclose(r->diag_f);
    free(r->diag);
    memset(r, 0, sizeof *r);
}

struct idlc_decl *fe_decl(struct idlc_unit *u, const char *name)
{
    for (struct idlc_decl *d = u->decls; d; d = d->next)
        if (!strcmp(d->name, name))
            return d;
    return NULL;
}

struct idlc_msg *fe_msg(struct idlc_unit *u, const char *name)
{
    for (struct idlc_msg *m = u->msgs; m; m = m->next)
        if (!strcmp(m->name, name))
            return m;
    return NULL;
}

struct idlc_field *fe_field(struct idlc_field *list, const char *name)
{
    for (; list; list = list->next)
        if (!strcmp(list->name, name))
            return list;
    return NULL;
}

struct idlc_enumval *fe_enumval(struct idlc_decl *d, const char *name)
{
    for (struct idlc_enumval *v = d->values; v; v = v->next)
        if (!strcmp(v->name, name))
            return v;
    return NULL;
}

unsigned fe_count_errors(const char *diag)
{
    unsigned n = 0;
    for (const char *p = diag; p && (p = strstr(p, ": error: ")); p++)
        n++;
    return n;
}
