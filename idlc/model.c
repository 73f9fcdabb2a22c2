/*
 * model.c - writes the m4 model of a checked unit.
 *
 * The model is the only thing the templates see of a protocol. It is one m4 definition,
 * `idc_model', whose body is a list of macro calls, one per declaration, enumerator, field,
 * union case, message and transaction, in an order where every type is declared before its
 * first use (imported declarations first). A template set defines the idc_* macros it cares
 * about and expands idc_model (as often as it likes); see templates/c/model.m4 for the list of
 * calls and their arguments.
 *
 * C names. Before idc_model, the model defines every C identifier the templates may need as
 * idc_cn:KEY (names.c spells them; sema checked them for clashes), so no template glues names
 * together. Before each declaration, enumerator, field, union arm and message, idc_at(LOC) says
 * where it comes from, so a template that fails there is reported at that place of the IDL.
 *
 * Quoting. m4 runs with --prefix-builtins (builtins are m4_*), comments disabled by the
 * templates, and the default quotes ` and '. Identifiers are passed as they are (the front end
 * only admits [A-Za-z_][A-Za-z0-9_]*, and sema refuses names starting with idc_ or m4_, which
 * could name a template macro). Free text (doc comments, file names) is escaped so that
 * m4 can never see a quote, a macro name, a `$' or a `#' in it:
 *
 *     `  ->  @<@      '  ->  @>@      $  ->  @%@      #  ->  @=@
 *     _  ->  @-@      @  ->  @@@      ,  ->  @;@      (  ->  @[@      )  ->  @]@
 *
 * Breaking every `_' means no word of the text can match an m4_* or idc_* macro; without
 * commas and parentheses the text is inert even where a template rescans it unquoted. gen.c undoes
 * the escapes in m4's output (idlc_unescape), so the generated files carry the text verbatim.
 *
 * Protocol hashes. For each version v the model carries FNV-1a 64 of a canonical text of the
 * protocol as a version-v peer sees it (declarations, enumerators, fields, arms, messages with
 * @since <= v, plus the opcodes), so two peers agree on v only if they agree on the wire
 * format at v. The canonical text is idlc_canonical_text() below; docs/wire.md describes it.
 */
#include "idlc.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ====================================================================== small helpers */

struct dset { /* pointer set (open addressing) */
    const void **slot;
    size_t cap, n;
};

static size_t dset_hash(const void *p, size_t cap)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)(x & (cap - 1));
}

static int dset_add(struct dset *s, const void *p) /* 1 added, 0 present, -1 no memory */
{
    if (2 * (s->n + 1) > s->cap) {
        size_t ncap = s->cap ? 2 * s->cap : 64;
        const void **ns = calloc(ncap, sizeof *ns);
        if (!ns)
            return -1;
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->slot[i])
                continue;
            size_t h = dset_hash(s->slot[i], ncap);
            while (ns[h])
                h = (h + 1) & (ncap - 1);
            ns[h] = s->slot[i];
        }
        free(s->slot);
        s->slot = ns;
        s->cap = ncap;
    }
    size_t h = dset_hash(p, s->cap);
    while (s->slot[h]) {
        if (s->slot[h] == p)
            return 0;
        h = (h + 1) & (s->cap - 1);
    }
    s->slot[h] = p;
    s->n++;
    return 1;
}

static void dset_free(struct dset *s)
{
    free(s->slot);
    s->slot = NULL;
    s->cap = s->n = 0;
}

/* Escapes free text for the model (see the header comment). */
static void put_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '`':
            fputs("@<@", f);
            break;
        case '\'':
            fputs("@>@", f);
            break;
        case '$':
            fputs("@%@", f);
            break;
        case '#':
            fputs("@=@", f);
            break;
        case '_':
            fputs("@-@", f);
            break;
        case '@':
            fputs("@@@", f);
            break;
        case ',':
            fputs("@;@", f);
            break;
        case '(':
            fputs("@[@", f);
            break;
        case ')':
            fputs("@]@", f);
            break;
        default:
            fputc(*s, f);
            break;
        }
    }
}

/* `text' as a quoted, escaped m4 argument */
static void put_qtext(FILE *f, const char *s)
{
    fputc('`', f);
    put_text(f, s);
    fputc('\'', f);
}

static void put_value(FILE *f, struct idlc_value v)
{
    char buf[32];
    fputs(idlc_value_str(v, buf), f);
}

/* The C-independent range class of a value: i32, u32, i64 or u64 (smallest that holds it). */
static const char *value_range(struct idlc_value v)
{
    if (v.neg)
        return (int64_t)v.u >= INT32_MIN ? "i32" : "i64";
    if (v.u <= INT32_MAX)
        return "i32";
    if (v.u <= UINT32_MAX)
        return "u32";
    return v.u <= INT64_MAX ? "i64" : "u64";
}

static uint32_t since_of(const struct idlc_attrs *a)
{
    return a->since > 1 ? a->since : 1;
}

static const char *scalar_name(enum idlc_type_kind k)
{
    switch (k) {
    case IDLC_T_BOOL:
        return "bool";
    case IDLC_T_U8:
        return "u8";
    case IDLC_T_U16:
        return "u16";
    case IDLC_T_U32:
        return "u32";
    case IDLC_T_U64:
        return "u64";
    case IDLC_T_I8:
        return "i8";
    case IDLC_T_I16:
        return "i16";
    case IDLC_T_I32:
        return "i32";
    case IDLC_T_I64:
        return "i64";
    default:
        return NULL;
    }
}

/* ====================================================================== declaration order */

struct order {
    const struct idlc_decl **v;
    size_t n, cap;
    struct dset seen;
    int oom;
};

static void order_decl(struct order *o, const struct idlc_decl *d);

static void order_type(struct order *o, const struct idlc_type *t)
{
    if (!t)
        return;
    switch (t->kind) {
    case IDLC_T_ENUM:
    case IDLC_T_STRUCT:
    case IDLC_T_UNION:
        order_decl(o, t->decl);
        break;
    case IDLC_T_ARRAY:
    case IDLC_T_VECTOR:
        order_type(o, t->elem);
        break;
    default:
        break;
    }
}

/* Depth first: a declaration comes after everything it uses (sema refused cycles). */
static void order_decl(struct order *o, const struct idlc_decl *d)
{
    if (!d || d->kind == IDLC_D_CONST)
        return;
    int r = dset_add(&o->seen, d);
    if (r <= 0) {
        if (r < 0)
            o->oom = 1;
        return;
    }
    if (d->kind == IDLC_D_STRUCT) {
        for (const struct idlc_field *f = d->fields; f; f = f->next)
            order_type(o, f->type);
    } else if (d->kind == IDLC_D_UNION) {
        order_decl(o, d->tag);
        for (const struct idlc_arm *a = d->arms; a; a = a->next)
            if (a->field)
                order_type(o, a->field->type);
    }
    if (o->n == o->cap) {
        size_t nc = o->cap ? 2 * o->cap : 64;
        /* an array of pointers: the element is a pointer */
        // NOLINTNEXTLINE(bugprone-sizeof-expression)
        const struct idlc_decl **nv = realloc(o->v, nc * sizeof *nv);
        if (!nv) {
            o->oom = 1;
            return;
        }
        o->v = nv;
        o->cap = nc;
    }
    o->v[o->n++] = d;
}

/* Every type declaration the unit's own declarations and messages need, dependencies first. */
static int order_unit(const struct idlc_unit *u, struct order *o)
{
    memset(o, 0, sizeof *o);
    for (const struct idlc_decl *d = u->decls; d; d = d->next)
        order_decl(o, d);
    for (const struct idlc_msg *m = u->msgs; m; m = m->next) {
        for (const struct idlc_field *f = m->params; f; f = f->next)
            order_type(o, f->type);
        for (const struct idlc_field *f = m->results; f; f = f->next)
            order_type(o, f->type);
        order_decl(o, m->raises);
    }
    dset_free(&o->seen);
    return o->oom ? -1 : 0;
}

/* ====================================================================== canonical text, hash */

struct sink { /* FNV-1a 64 and/or a FILE */
    uint64_t h;
    FILE *f;
    int oom; /* a long line could not be formatted */
};

static void sink_puts(struct sink *s, const char *str)
{
    for (const unsigned char *p = (const unsigned char *)str; *p; p++) {
        s->h ^= *p;
        s->h *= 0x100000001b3ULL;
    }
    if (s->f)
        fputs(str, s->f);
}

static void sink_printf(struct sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sink_printf(struct sink *s, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof buf) {
        sink_puts(s, buf);
        return;
    }
    /* a long name: the hash must see all of it, or two protocols differing past the
	   truncation would look alike */
    char *big = malloc((size_t)n + 1);
    if (!big) {
        s->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sink_puts(s, big);
    free(big);
}

static void canon_declname(struct sink *s, const struct idlc_decl *d)
{
    sink_puts(s, d->unit ? d->unit->name : "");
    sink_puts(s, ".");
    sink_puts(s, d->name);
}

static void canon_type(struct sink *s, const struct idlc_type *t)
{
    const char *sc = scalar_name(t->kind);
    if (sc) {
        sink_puts(s, sc);
        return;
    }
    switch (t->kind) {
    case IDLC_T_ENUM:
    case IDLC_T_STRUCT:
    case IDLC_T_UNION:
        canon_declname(s, t->decl);
        break;
    case IDLC_T_ARRAY:
        canon_type(s, t->elem);
        sink_printf(s, "[%" PRIu64 "]", t->bound);
        break;
    case IDLC_T_VECTOR:
        canon_type(s, t->elem);
        sink_printf(s, "[<=%" PRIu64 "]", t->bound);
        break;
    case IDLC_T_STRING:
        sink_printf(s, "string<%" PRIu64 ">", t->bound);
        break;
    case IDLC_T_BUFFER:
        sink_printf(s, "buffer<%s%s>", t->rights & IDLC_BUF_READ ? "r" : "",
                    t->rights & IDLC_BUF_WRITE ? "w" : "");
        break;
    default:
        sink_puts(s, "?");
        break;
    }
}

static void canon_fields(struct sink *s, const struct idlc_field *f, uint32_t v)
{
    sink_puts(s, "(");
    for (; f; f = f->next) {
        if (since_of(&f->attrs) > v)
            continue;
        canon_type(s, f->type);
        sink_puts(s, " ");
        sink_puts(s, f->name);
        sink_puts(s, ";");
    }
    sink_puts(s, ")");
}

static void canon_unit(struct sink *s, const struct idlc_unit *u, const struct order *o, uint32_t v)
{
    char buf[32];
    sink_printf(s, "idc-canonical 1\nprotocol %s version %" PRIu32 " max_frame %" PRIu64 "\n",
                u->name, v, u->max_frame);
    for (const struct idlc_decl *d = u->decls; d; d = d->next) {
        if (d->kind != IDLC_D_CONST)
            continue;
        sink_printf(s, "const %s = %s\n", d->name, idlc_value_str(d->value, buf));
    }
    for (size_t i = 0; i < o->n; i++) {
        const struct idlc_decl *d = o->v[i];
        switch (d->kind) {
        case IDLC_D_ENUM:
            sink_puts(s, "enum ");
            canon_declname(s, d);
            sink_printf(s, " : %s {", scalar_name(d->repr));
            for (const struct idlc_enumval *e = d->values; e; e = e->next)
                if (since_of(&e->attrs) <= v)
                    sink_printf(s, "%s=%s;", e->name, idlc_value_str(e->value, buf));
            sink_puts(s, "}\n");
            break;
        case IDLC_D_STRUCT:
            sink_puts(s, "struct ");
            canon_declname(s, d);
            canon_fields(s, d->fields, v);
            sink_puts(s, "\n");
            break;
        case IDLC_D_UNION:
            sink_puts(s, "union ");
            canon_declname(s, d);
            sink_puts(s, " switch ");
            canon_declname(s, d->tag);
            sink_puts(s, " {");
            for (const struct idlc_arm *a = d->arms; a; a = a->next) {
                sink_puts(s, "case");
                for (const struct idlc_case_label *l = a->labels; l; l = l->next)
                    if (l->val && since_of(&l->val->attrs) <= v)
                        sink_printf(s, " %s", l->name);
                sink_puts(s, ":");
                if (a->field) { /* an arm exists as long as one of its labels does */
                    canon_type(s, a->field->type);
                    sink_printf(s, " %s", a->field->name);
                } else {
                    sink_puts(s, "void");
                }
                sink_puts(s, ";");
            }
            sink_puts(s, "}\n");
            break;
        default:
            break;
        }
    }
    for (const struct idlc_msg *m = u->msgs; m; m = m->next) {
        if (since_of(&m->attrs) > v)
            continue;
        sink_printf(s, "%s %s = %" PRIu32 " from %s ",
                    m->kind == IDLC_M_MESSAGE ? "message" : "transaction", m->name, m->opcode,
                    idlc_role_name(m->role));
        canon_fields(s, m->params, v);
        if (m->kind == IDLC_M_TRANSACTION) {
            sink_puts(s, " -> ");
            canon_fields(s, m->results, v);
            if (m->raises) {
                sink_puts(s, " raises ");
                canon_declname(s, m->raises);
            }
        }
        sink_puts(s, "\n");
    }
}

/* FNV-1a 64 of the canonical text of u as seen by a version-v peer; 0 on allocation failure. */
uint64_t idlc_version_hash(const struct idlc_unit *u, uint32_t v)
{
    struct order o;
    struct sink s = { 0xcbf29ce484222325ULL, NULL, 0 };
    if (order_unit(u, &o)) {
        free(o.v);
        return 0;
    }
    canon_unit(&s, u, &o, v);
    free(o.v);
    return s.oom ? 0 : s.h;
}

int idlc_canonical_text(const struct idlc_unit *u, uint32_t v, FILE *out)
{
    struct order o;
    struct sink s = { 0xcbf29ce484222325ULL, out, 0 };
    if (order_unit(u, &o)) {
        free(o.v);
        return -1;
    }
    canon_unit(&s, u, &o, v);
    free(o.v);
    return ferror(out) || s.oom ? -1 : 0;
}

/* ====================================================================== model */

/* What the model writer carries from one declaration to the next. */
struct mw {
    const struct idlc_unit *u; /* the unit being generated */
    FILE *f;
};

/* type descriptor: exactly five comma separated items (see model.m4) */
static void put_elem(FILE *f, const struct idlc_type *t)
{
    const char *sc = scalar_name(t->kind);
    if (sc) {
        fprintf(f, "%s,,", sc);
        return;
    }
    switch (t->kind) {
    case IDLC_T_ENUM:
        fprintf(f, "enum,%s,%s", t->decl->unit->name, t->decl->name);
        break;
    case IDLC_T_STRUCT:
        fprintf(f, "struct,%s,%s", t->decl->unit->name, t->decl->name);
        break;
    case IDLC_T_UNION:
        fprintf(f, "union,%s,%s", t->decl->unit->name, t->decl->name);
        break;
    case IDLC_T_STRING:
        fprintf(f, "string,%" PRIu64 ",", t->bound);
        break;
    case IDLC_T_BUFFER:
        fprintf(f, "buffer,%u,", t->rights);
        break;
    default: /* the grammar has no arrays of arrays: an element is never one */
        fputs("?,,", f);
        break;
    }
}

static void put_type(FILE *f, const struct idlc_type *t)
{
    fputc('`', f);
    if (t->kind == IDLC_T_ARRAY || t->kind == IDLC_T_VECTOR) {
        fprintf(f, "%s,%" PRIu64 ",", t->kind == IDLC_T_ARRAY ? "array" : "vector", t->bound);
        put_elem(f, t->elem);
    } else {
        put_elem(f, t);
        fputs(",,", f);
    }
    fputc('\'', f);
}

/* idc_at(`UNIT:LINE:COL:END_LINE:END_COL'): where the next call comes from, so that a template
   that fails there can say so (UNIT: index of the file in the context's load order) */
static void put_at(const struct mw *w, const struct idlc_unit *x, struct idlc_loc loc)
{
    struct idlc_unit **units;
    size_t n = idlc_units(w->u->ctx, &units), i = 0;
    while (i < n && units[i] != x)
        i++;
    if (i == n || !loc.file)
        return;
    fprintf(w->f, "idc_at(`%zu:%d:%d:%d:%d')\n", i, loc.line, loc.col, loc.end_line, loc.end_col);
}

static void put_field(const struct mw *w, const struct idlc_unit *x, const struct idlc_field *fl)
{
    FILE *f = w->f;
    put_at(w, x, fl->loc);
    fprintf(f, "idc_field(`%s', %" PRIu32 ", %" PRIu64 ", ", fl->name, since_of(&fl->attrs),
            fl->type->max_size);
    put_type(f, fl->type);
    fputs(", ", f);
    put_qtext(f, fl->doc);
    fprintf(f, ", `%s')\n",
            fl->type->kind == IDLC_T_VECTOR ? idlc_cname_count(w->u->ctx, fl->name) : "");
}

static size_t count_fields(const struct idlc_field *f)
{
    size_t n = 0;
    for (; f; f = f->next)
        n++;
    return n;
}

/* ---------------------------------------------------------------------- C names */

static void put_cname(void *arg, const struct idlc_cname *n)
{
    if (n->key)
        fprintf(arg, "m4_define(`idc_cn:%s', `%s')\n", n->key, n->c);
}

/* Every C name the templates may need, as idc_cn:KEY definitions read before idc_model. */
static void write_names(const struct mw *w, const struct order *o)
{
    const struct idlc_unit *u = w->u;
    idlc_cnames_unit(u, false, put_cname, w->f);
    for (const struct idlc_decl *d = u->decls; d; d = d->next)
        if (d->kind == IDLC_D_CONST)
            idlc_cnames_decl(d, put_cname, w->f);
    for (size_t i = 0; i < o->n; i++) {
        idlc_cnames_decl(o->v[i], put_cname, w->f);
        if (o->v[i]->kind == IDLC_D_ENUM)
            for (const struct idlc_enumval *e = o->v[i]->values; e; e = e->next)
                idlc_cnames_enumval(e, put_cname, w->f);
    }
    for (const struct idlc_msg *m = u->msgs; m; m = m->next)
        idlc_cnames_msg(u, m, put_cname, w->f);
}

/* ---------------------------------------------------------------------- unit */

static void write_unit(const struct mw *w)
{
    const struct idlc_unit *u = w->u;
    FILE *f = w->f;
    const char *src = strrchr(u->path, '/');
    src = src ? src + 1 : u->path;
    unsigned nmsg[2] = { 0, 0 }, ntxn[2] = { 0, 0 };
    for (const struct idlc_msg *m = u->msgs; m; m = m->next) {
        unsigned r = m->role == IDLC_ROLE_BACKEND;
        if (m->kind == IDLC_M_MESSAGE)
            nmsg[r]++;
        else
            ntxn[r]++;
    }
    if (u->has_protocol)
        put_at(w, u, u->name_loc);
    /* idc_unit(NAME, BASENAME, SOURCE, IDLC_VERSION, HAS_PROTOCOL, VERSION, MAX_FRAME,
		    `NMSG_FE,NTXN_FE,NMSG_BE,NTXN_BE', DOC): nine arguments, the most m4 numbers */
    fprintf(f, "idc_unit(`%s', `%s', ", u->name, u->basename);
    put_qtext(f, src);
    fprintf(f, ", `%s', %d, %" PRIu32 ", %" PRIu64 ", `%u,%u,%u,%u', ", IDC_VERSION,
            u->has_protocol ? 1 : 0, u->version, u->max_frame, nmsg[0], ntxn[0], nmsg[1], ntxn[1]);
    put_qtext(f, u->doc);
    fputs(")\n", f);
    for (uint32_t v = 1; v <= u->version; v++)
        fprintf(f, "idc_version_hash(%" PRIu32 ", `0x%016" PRIx64 "')\n", v,
                idlc_version_hash(u, v));
    for (const struct idlc_import *im = u->imports; im; im = im->next)
        if (im->unit)
            fprintf(f, "idc_import(`%s', `%s')\n", im->unit->name, im->unit->basename);
}

static void write_const(const struct mw *w, const struct idlc_decl *d)
{
    put_at(w, d->unit, d->loc);
    fprintf(w->f, "idc_const(`%s', `", d->name);
    put_value(w->f, d->value);
    fprintf(w->f, "', `%s', ", value_range(d->value));
    put_qtext(w->f, d->doc);
    fputs(")\n", w->f);
}

/* ---------------------------------------------------------------------- types */

static void write_enum(const struct mw *w, const struct idlc_decl *d)
{
    FILE *f = w->f;
    bool fits_int = true;
    for (const struct idlc_enumval *e = d->values; e; e = e->next)
        if (strcmp(value_range(e->value), "i32"))
            fits_int = false;
    put_at(w, d->unit, d->loc);
    fprintf(f, "idc_enum_begin(`%s', `%s', %d, `%s', %d, %" PRIu64 ", ", d->unit->name, d->name,
            d->unit == w->u, scalar_name(d->repr), fits_int, d->max_size);
    put_qtext(f, d->doc);
    fputs(")\n", f);
    for (const struct idlc_enumval *e = d->values; e; e = e->next) {
        /* an alias of an earlier value (same number) gets dup = 1 */
        int dup = 0;
        for (const struct idlc_enumval *p = d->values; p != e; p = p->next)
            if (p->value.u == e->value.u && p->value.neg == e->value.neg)
                dup = 1;
        put_at(w, d->unit, e->loc);
        fprintf(f, "idc_enum_value(`%s', `", e->name);
        put_value(f, e->value);
        fprintf(f, "', `%s', %" PRIu32 ", %d, ", value_range(e->value), since_of(&e->attrs), dup);
        put_qtext(f, e->doc);
        fputs(")\n", f);
    }
    fprintf(f, "idc_enum_end(`%s', `%s')\n", d->unit->name, d->name);
}

static void write_struct(const struct mw *w, const struct idlc_decl *d)
{
    FILE *f = w->f;
    put_at(w, d->unit, d->loc);
    fprintf(f, "idc_struct_begin(`%s', `%s', %d, %zu, %" PRIu64 ", ", d->unit->name, d->name,
            d->unit == w->u, count_fields(d->fields), d->max_size);
    put_qtext(f, d->doc);
    fputs(")\n", f);
    for (const struct idlc_field *fl = d->fields; fl; fl = fl->next)
        put_field(w, d->unit, fl);
    fprintf(f, "idc_struct_end(`%s', `%s')\n", d->unit->name, d->name);
}

static void write_arm(const struct mw *w, const struct idlc_decl *d, const struct idlc_arm *a)
{
    FILE *f = w->f;
    put_at(w, d->unit, a->loc);
    fputs("idc_union_arm(", f);
    put_qtext(f, a->doc);
    fputs(")\n", f);
    for (const struct idlc_case_label *l = a->labels; l; l = l->next)
        fprintf(f, "idc_union_case(`%s', %" PRIu32 ")\n", l->name,
                l->val ? since_of(&l->val->attrs) : 1);
    if (a->field)
        put_field(w, d->unit, a->field);
    else
        fputs("idc_union_void()\n", f);
}

static void write_union(const struct mw *w, const struct idlc_decl *d)
{
    FILE *f = w->f;
    size_t nfields = 0;
    for (const struct idlc_arm *a = d->arms; a; a = a->next)
        nfields += a->field != NULL;
    put_at(w, d->unit, d->loc);
    fprintf(f, "idc_union_begin(`%s', `%s', %d, `%s', `%s', %zu, %" PRIu64 ", ", d->unit->name,
            d->name, d->unit == w->u, d->tag->unit->name, d->tag->name, nfields, d->max_size);
    put_qtext(f, d->doc);
    fputs(")\n", f);
    for (const struct idlc_arm *a = d->arms; a; a = a->next)
        write_arm(w, d, a);
    fprintf(f, "idc_union_end(`%s', `%s')\n", d->unit->name, d->name);
}

static void write_decl(const struct mw *w, const struct idlc_decl *d)
{
    switch (d->kind) {
    case IDLC_D_ENUM:
        write_enum(w, d);
        break;
    case IDLC_D_STRUCT:
        write_struct(w, d);
        break;
    case IDLC_D_UNION:
        write_union(w, d);
        break;
    default: /* constants: write_const, for the unit's own only */
        break;
    }
}

/* ---------------------------------------------------------------------- messages */

static void write_message(const struct mw *w, const struct idlc_msg *m)
{
    FILE *f = w->f;
    put_at(w, w->u, m->loc);
    fprintf(f, "idc_message_begin(`%s', %" PRIu32 ", `%s', %" PRIu32 ", %zu, %" PRIu64 ", ",
            m->name, m->opcode, idlc_role_name(m->role), since_of(&m->attrs),
            count_fields(m->params), m->args_max_size);
    put_qtext(f, m->doc);
    fputs(")\n", f);
    for (const struct idlc_field *fl = m->params; fl; fl = fl->next)
        put_field(w, w->u, fl);
    fprintf(f, "idc_message_end(`%s')\n", m->name);
}

static void write_transaction(const struct mw *w, const struct idlc_msg *m)
{
    FILE *f = w->f;
    put_at(w, w->u, m->loc);
    /* idc_transaction_begin(NAME, OPCODE, ROLE, SINCE, `NPARAMS,NRESULTS',
				 `ARGS_MAX,RESULT_MAX', `ERR_UNIT,ERR_ENUM', DOC) */
    fprintf(f,
            "idc_transaction_begin(`%s', %" PRIu32 ", `%s', %" PRIu32 ", `%zu,%zu', `%" PRIu64
            ",%" PRIu64 "', `%s,%s', ",
            m->name, m->opcode, idlc_role_name(m->role), since_of(&m->attrs),
            count_fields(m->params), count_fields(m->results), m->args_max_size, m->result_max_size,
            m->raises ? m->raises->unit->name : "", m->raises ? m->raises->name : "");
    put_qtext(f, m->doc);
    fputs(")\n", f);
    fputs("idc_params()\n", f);
    for (const struct idlc_field *fl = m->params; fl; fl = fl->next)
        put_field(w, w->u, fl);
    fputs("idc_results()\n", f);
    for (const struct idlc_field *fl = m->results; fl; fl = fl->next)
        put_field(w, w->u, fl);
    fprintf(f, "idc_transaction_end(`%s')\n", m->name);
}

static void write_msg(const struct mw *w, const struct idlc_msg *m)
{
    if (m->kind == IDLC_M_MESSAGE)
        write_message(w, m);
    else
        write_transaction(w, m);
}

/* ---------------------------------------------------------------------- the model */

int idlc_model_write(const struct idlc_unit *u, FILE *f)
{
    struct order o;
    struct mw w = { u, f };

    /* one hash per version: a protocol at version 4294967295 would never finish (and the
	   runtime refuses it anyway), so the language's limit is not the generator's */
    if (u->version > IDLC_MAX_VERSIONS) {
        idlc_error(u->ctx, u->version_expr ? u->version_expr->loc : u->name_loc,
                   "protocol '%s' is at version %" PRIu32
                   ": the generated code carries a hash per version and the runtime speaks at most "
                   "%u versions",
                   u->name, u->version, IDLC_MAX_VERSIONS);
        return -1;
    }
    if (order_unit(u, &o)) {
        free(o.v);
        idlc_error(u->ctx, (struct idlc_loc){ 0 }, "out of memory while writing the model");
        return -1;
    }
    fputs(
        "m4_divert(-1)\n"
        "m4_dnl m4 model of an idc protocol, written by idlc; see model.m4 in the template set.\n",
        f);
    write_names(&w, &o);
    fputs("m4_define(`idc_model', `\n", f);
    write_unit(&w);
    for (const struct idlc_decl *d = u->decls; d; d = d->next)
        if (d->kind == IDLC_D_CONST)
            write_const(&w, d);
    for (size_t i = 0; i < o.n; i++)
        write_decl(&w, o.v[i]);
    for (const struct idlc_msg *m = u->msgs; m; m = m->next)
        write_msg(&w, m);
    fputs("')\n", f);
    free(o.v);
    if (ferror(f)) {
        idlc_error(u->ctx, (struct idlc_loc){ 0 }, "cannot write the model");
        return -1;
    }
    return 0;
}

/* ====================================================================== unescape */

/* Undoes put_text's escapes in place; returns the new length. */
size_t idlc_unescape(char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '@' && i + 2 < len && s[i + 2] == '@') {
            char c = 0;
            switch (s[i + 1]) {
            case '<':
                c = '`';
                break;
            case '>':
                c = '\'';
                break;
            case '%':
                c = '$';
                break;
            case '=':
                c = '#';
                break;
            case '-':
                c = '_';
                break;
            case '@':
                c = '@';
                break;
            case ';':
                c = ',';
                break;
            case '[':
                c = '(';
                break;
            case ']':
                c = ')';
                break;
            }
            if (c) {
                s[o++] = c;
                i += 2;
                continue;
            }
        }
        s[o++] = s[i];
    }
    return o;
}
