/*
 * names.c - the one home of the C names idlc generates.
 *
 * Every identifier the C templates emit that depends on the IDL is spelled here, from a table
 * of patterns per kind of declaration (PRE + BASE + MID + NAME + SUF, upper-cased for macros).
 * Three users, one source:
 *   - sema (idlc_check_names) claims every name of a unit, of its imports and the helpers of
 *     the generated files, and reports each clash at the IDL declaration that causes it;
 *   - the model writer (model.c) hands each name to the templates under a key, so no template
 *     builds a derived name itself (templates/c/model.m4, "C names");
 *   - the list of reserved identifiers (reserved.h) decides which IDL names are refused.
 *
 * Namespaces. C keeps struct tags apart from functions and objects, but a reader does not: all
 * file-scope names (macros, tags, functions, objects, static helpers) are compared as one set,
 * by exact spelling. Struct members are compared per struct, and against every macro, since a
 * macro rewrites a member as well.
 */
#include <string.h>

#include "idlc.h"

/* ====================================================================== reserved identifiers */

enum rkind { RK_WORD, RK_MACRO, RK_PREDEF };

struct reserved {
    const char *name;
    enum rkind kind;
    const char *source; /* "<stdint.h>", "C", "GCC and Clang in GNU C modes" */
};

static const struct reserved reserved_names[] = {
#define IDLC_RESERVED(NAME, KIND, SOURCE) { #NAME, RK_##KIND, SOURCE },
#include "reserved.h"
#undef IDLC_RESERVED
};

#define NRESERVED (sizeof reserved_names / sizeof reserved_names[0])

bool idlc_reserved_prefix(const char *name)
{
    return !strncmp(name, "idc_", 4) || !strncmp(name, "IDC_", 4) || !strncmp(name, "idlc_", 5) ||
           !strncmp(name, "m4_", 3);
}

bool idlc_reserved_name(const char *name)
{
    if (name[0] == '_' && (name[1] == '_' || (name[1] >= 'A' && name[1] <= 'Z')))
        return true;
    if (idlc_reserved_prefix(name))
        return true;
    for (size_t i = 0; i < NRESERVED; i++)
        if (reserved_names[i].kind == RK_WORD && !strcmp(name, reserved_names[i].name))
            return true;
    return false;
}

/* ====================================================================== outputs */

const char *const idlc_c_outputs[] = { ".h", "_codec.c", "_client.c", "_server.c", NULL };

/* ====================================================================== patterns */

enum base {
    B_PREFIX, /* the unit prefix: protocol name, or file name without one */
    B_FILE,   /* the file name (include guard) */
    B_NONE,   /* a fixed helper name */
};

/* One generated name: PRE BASE MID NAME SUF, upper-cased for macros. */
/* Fields in the order of the tables' initializers below (readable rows beat 8 bytes). */
struct pat {         // NOLINT(clang-analyzer-optin.performance.Padding)
    const char *key; /* model key suffix; "" for the declaration's own name */
    enum base base;
    const char *pre, *mid, *suf;
    enum idlc_cname_kind kind;
    const char *role; /* for diagnostics; NULL: the declaration itself */
};

#define MACRO  IDLC_CN_MACRO
#define GLOBAL IDLC_CN_GLOBAL
#define HELPER IDLC_CN_HELPER
#define MEMBER IDLC_CN_MEMBER

/* what every unit's NAME.h declares */
static const struct pat unit_pats[] = {
    { "guard", B_FILE, "", "", "_H", MACRO, "include guard" },
    { "wire_error", B_PREFIX, "", "", "_wire_error", GLOBAL, "codec error type" },
};

/* what NAME.h declares for a protocol */
static const struct pat protocol_pats[] = {
    { "VERSION", B_PREFIX, "", "", "_VERSION", MACRO, "protocol version" },
    { "MAX_FRAME", B_PREFIX, "", "", "_MAX_FRAME", MACRO, "maximum frame" },
    { "protocol", B_PREFIX, "", "", "_protocol", GLOBAL, "protocol descriptor" },
};

/* the endpoint API of one side: "%s" is the side */
static const struct pat side_pats[] = {
    { "", B_PREFIX, "", "", "_%s", GLOBAL, "%s endpoint type" },
    { "ops", B_PREFIX, "", "", "_%s_ops", GLOBAL, "%s callbacks type" },
    { "create", B_PREFIX, "", "", "_%s_create", GLOBAL, "%s endpoint API" },
    { "create_with", B_PREFIX, "", "", "_%s_create_with", GLOBAL, "%s endpoint API" },
    { "destroy", B_PREFIX, "", "", "_%s_destroy", GLOBAL, "%s endpoint API" },
    { "user", B_PREFIX, "", "", "_%s_user", GLOBAL, "%s endpoint API" },
    { "version", B_PREFIX, "", "", "_%s_version", GLOBAL, "%s endpoint API" },
    { "disconnect_done", B_PREFIX, "", "", "_%s_disconnect_done", GLOBAL, "%s endpoint API" },
};

/*
 * Fixed helpers of the files of a protocol: static in NAME_codec.c (version_hash) or in the
 * endpoint glue NAME_client.c / NAME_server.c (templates/c/codec.m4 and side.m4 spell them;
 * the gen test suite checks that this list covers every name those files define).
 */
static const struct pat helper_pats[] = {
    { NULL, B_NONE, "version_hash", "", "", HELPER, "table of protocol hashes" },
    { NULL, B_NONE, "side_of", "", "", HELPER, "glue helper" },
    { NULL, B_NONE, "no_ops", "", "", HELPER, "glue helper" },
    { NULL, B_NONE, "endpoint_ops", "", "", HELPER, "glue helper" },
    { NULL, B_NONE, "on_appear", "", "", HELPER, "glue helper" },
    { NULL, B_NONE, "on_connect", "", "", HELPER, "glue helper" },
    { NULL, B_NONE, "on_disconnect", "", "", HELPER, "glue helper" },
    { NULL, B_NONE, "on_disappear", "", "", HELPER, "glue helper" },
    { NULL, B_NONE, "on_writable", "", "", HELPER, "glue helper" },
    { NULL, B_NONE, "on_unanswered", "", "", HELPER, "glue helper" },
    { NULL, B_NONE, "on_destroyed", "", "", HELPER, "glue helper" },
    { NULL, B_NONE, "on_message", "", "", HELPER, "glue helper" },
    { NULL, B_NONE, "on_transaction", "", "", HELPER, "glue helper" },
    { NULL, B_NONE, "heap_alloc", "", "", HELPER, "glue helper" },
    { NULL, B_NONE, "heap_free", "", "", HELPER, "glue helper" },
};

static const struct pat const_pats[] = {
    { "", B_PREFIX, "", "_", "", MACRO, NULL },
};

static const struct pat enum_pats[] = {
    { "", B_PREFIX, "", "_", "", GLOBAL, NULL },
    { "MAX_SIZE", B_PREFIX, "", "_", "_MAX_SIZE", MACRO, "maximum size" },
    { "valid", B_PREFIX, "", "_", "_valid", GLOBAL, "value check" },
};

static const struct pat record_pats[] = {
    /* struct, union */
    { "", B_PREFIX, "", "_", "", GLOBAL, NULL },
    { "MAX_SIZE", B_PREFIX, "", "_", "_MAX_SIZE", MACRO, "maximum size" },
    { "dec", B_PREFIX, "dec_", "_", "", HELPER, "decoder" },
    { "enc", B_PREFIX, "enc_", "_", "", HELPER, "encoder" },
};

static const struct pat enumval_pats[] = {
    { "", B_PREFIX, "", "_", "", MACRO, NULL },
};

/* a message, and the first part of a transaction: its arguments and opcode */
static const struct pat msg_pats[] = {
    { "args", B_PREFIX, "", "_", "_args", GLOBAL, "arguments type" },
    { "args_encode", B_PREFIX, "", "_", "_args_encode", GLOBAL, "arguments encoder" },
    { "args_decode", B_PREFIX, "", "_", "_args_decode", GLOBAL, "arguments decoder" },
    { "args_enc", B_PREFIX, "enc_", "_", "_args", HELPER, "arguments encoder helper" },
    { "args_dec", B_PREFIX, "dec_", "_", "_args", HELPER, "arguments decoder helper" },
    { "OP", B_PREFIX, "", "_OP_", "", MACRO, "opcode" },
    { "ARGS_MAX_SIZE", B_PREFIX, "", "_", "_ARGS_MAX_SIZE", MACRO, "maximum arguments size" },
    { "on", B_NONE, "on_", "", "", MEMBER, "handler" },
};

static const struct pat message_pats[] = {
    { "send", B_PREFIX, "", "_", "_send", GLOBAL, "send function" },
};

static const struct pat txn_pats[] = {
    { "submit", B_PREFIX, "", "_", "_submit", GLOBAL, "submit function" },
    { "txn", B_PREFIX, "", "_", "_txn", GLOBAL, "transaction type" },
    { "reply", B_PREFIX, "", "_", "_reply", GLOBAL, "reply function" },
    { "fail", B_PREFIX, "", "_", "_fail", GLOBAL, "fail function" },
    { "result", B_PREFIX, "", "_", "_result", GLOBAL, "results type" },
    { "result_encode", B_PREFIX, "", "_", "_result_encode", GLOBAL, "results encoder" },
    { "result_decode", B_PREFIX, "", "_", "_result_decode", GLOBAL, "results decoder" },
    { "result_enc", B_PREFIX, "enc_", "_", "_result", HELPER, "results encoder helper" },
    { "result_dec", B_PREFIX, "dec_", "_", "_result", HELPER, "results decoder helper" },
    { "RESULT_MAX_SIZE", B_PREFIX, "", "_", "_RESULT_MAX_SIZE", MACRO, "maximum results size" },
    { "done", B_PREFIX, "txn_done_", "_", "", HELPER, "completion helper" },
};

#define NPATS(a) (sizeof(a) / sizeof(a)[0])

/* ====================================================================== spelling */

/* Text being built in the context's arena; n is its length so far. */
struct sbuf {
    char *p;
    size_t n, cap;
    struct idlc_ctx *ctx;
};

static void sb_add(struct sbuf *b, const char *s)
{
    size_t k = strlen(s);
    if (b->n + k + 1 > b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        while (cap < b->n + k + 1)
            cap *= 2;
        char *p = idlc_alloc(b->ctx, cap); /* the arena never frees: the old block stays */
        memcpy(p, b->p ? b->p : "", b->n);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, k + 1);
    b->n += k;
}

/* s with one "%s" replaced by arg (the side of an endpoint pattern); s when arg is NULL */
static void sb_addf(struct sbuf *b, const char *s, const char *arg)
{
    const char *pc = arg ? strstr(s, "%s") : NULL;
    if (!pc) {
        sb_add(b, s);
        return;
    }
    char *head = idlc_strndup(b->ctx, s, (size_t)(pc - s));
    sb_add(b, head);
    sb_add(b, arg);
    sb_add(b, pc + 2);
}

/* A declaration (or enum value, message) whose names are being spelled. */
struct subject {
    const struct idlc_unit *unit; /* gives the prefix and the file name */
    const char *keybase;          /* "type:p:s", "msg:read", "unit" */
    const char *n1, *n2;          /* NAME, or ENUM and VALUE */
    const char *side;             /* endpoint patterns: "frontend" / "backend" */
};

static const char *upper(struct idlc_ctx *ctx, const char *s)
{
    char *u = idlc_strdup(ctx, s);
    for (char *c = u; *c; c++)
        if (*c >= 'a' && *c <= 'z')
            *c = (char)(*c - 'a' + 'A');
    return u;
}

static void spell(const struct subject *s, const struct pat *p, idlc_cname_fn *fn, void *arg)
{
    struct idlc_ctx *ctx = s->unit->ctx;
    struct sbuf b = { NULL, 0, 0, ctx };
    sb_add(&b, p->pre);
    if (p->base == B_PREFIX)
        sb_add(&b, s->unit->name);
    else if (p->base == B_FILE)
        sb_add(&b, s->unit->basename);
    sb_add(&b, p->mid);
    if (s->n1)
        sb_add(&b, s->n1);
    if (s->n2) {
        sb_add(&b, "_");
        sb_add(&b, s->n2);
    }
    sb_addf(&b, p->suf, s->side);
    const char *c = p->kind == MACRO ? upper(ctx, b.p) : b.p;

    struct idlc_cname n = { NULL, idlc_intern(ctx, c, strlen(c)), p->kind, NULL };
    if (p->role) {
        struct sbuf r = { NULL, 0, 0, ctx };
        sb_addf(&r, p->role, s->side);
        n.role = r.p;
    }
    if (p->key) {
        struct sbuf k = { NULL, 0, 0, ctx };
        sb_add(&k, s->keybase);
        if (s->side) {
            sb_add(&k, ":");
            sb_add(&k, s->side);
        }
        if (*p->key) {
            sb_add(&k, ":");
            sb_add(&k, p->key);
        }
        n.key = k.p;
    }
    fn(arg, &n);
}

static void spell_all(const struct subject *s, const struct pat *p, size_t n, idlc_cname_fn *fn,
                      void *arg)
{
    for (size_t i = 0; i < n; i++)
        spell(s, &p[i], fn, arg);
}

static const char *join(struct idlc_ctx *ctx, const char *a, const char *b, const char *c)
{
    struct sbuf s = { NULL, 0, 0, ctx };
    sb_add(&s, a);
    sb_add(&s, ":");
    sb_add(&s, b);
    if (c) {
        sb_add(&s, ":");
        sb_add(&s, c);
    }
    return s.p;
}

void idlc_cnames_unit(const struct idlc_unit *u, bool helpers, idlc_cname_fn *fn, void *arg)
{
    struct subject s = { u, "unit", NULL, NULL, NULL };
    spell_all(&s, unit_pats, NPATS(unit_pats), fn, arg);
    if (!u->has_protocol)
        return;
    spell_all(&s, protocol_pats, NPATS(protocol_pats), fn, arg);
    static const char *const sides[] = { "frontend", "backend" };
    for (size_t i = 0; i < 2; i++) {
        s.side = sides[i];
        spell_all(&s, side_pats, NPATS(side_pats), fn, arg);
    }
    s.side = NULL;
    if (helpers)
        spell_all(&s, helper_pats, NPATS(helper_pats), fn, arg);
}

void idlc_cnames_decl(const struct idlc_decl *d, idlc_cname_fn *fn, void *arg)
{
    struct idlc_ctx *ctx = d->unit->ctx;
    struct subject s = { d->unit, NULL, d->name, NULL, NULL };
    if (d->kind == IDLC_D_CONST) {
        s.keybase = join(ctx, "const", d->name, NULL);
        spell_all(&s, const_pats, NPATS(const_pats), fn, arg);
        return;
    }
    s.keybase = join(ctx, "type", d->unit->name, d->name);
    if (d->kind == IDLC_D_ENUM)
        spell_all(&s, enum_pats, NPATS(enum_pats), fn, arg);
    else
        spell_all(&s, record_pats, NPATS(record_pats), fn, arg);
}

void idlc_cnames_enumval(const struct idlc_enumval *v, idlc_cname_fn *fn, void *arg)
{
    const struct idlc_decl *e = v->owner;
    struct idlc_ctx *ctx = e->unit->ctx;
    struct subject s = { e->unit, NULL, e->name, v->name, NULL };
    s.keybase = join(ctx, join(ctx, "enum", e->unit->name, NULL), e->name, v->name);
    spell_all(&s, enumval_pats, NPATS(enumval_pats), fn, arg);
}

void idlc_cnames_msg(const struct idlc_unit *u, const struct idlc_msg *m, idlc_cname_fn *fn,
                     void *arg)
{
    struct subject s = { u, join(u->ctx, "msg", m->name, NULL), m->name, NULL, NULL };
    spell_all(&s, msg_pats, NPATS(msg_pats), fn, arg);
    if (m->kind == IDLC_M_MESSAGE)
        spell_all(&s, message_pats, NPATS(message_pats), fn, arg);
    else
        spell_all(&s, txn_pats, NPATS(txn_pats), fn, arg);
}

const char *idlc_cname_count(struct idlc_ctx *ctx, const char *field)
{
    struct sbuf b = { NULL, 0, 0, ctx };
    sb_add(&b, field);
    sb_add(&b, "_count");
    return idlc_intern(ctx, b.p, b.n);
}

/* ====================================================================== clash check */

/* The IDL entity a generated name comes from. */
struct origin {
    const char *what; /* "struct", "message", "field", ... */
    const char *name; /* as written; "kind.LIST" for an enum value */
    struct idlc_loc loc;
    const struct idlc_unit *unit;
    bool builtin; /* a name of the unit itself (guard, endpoint API, helpers) */
};

struct entry {
    const struct origin *o;
    const char *c;
    const char *role;
    bool macro;
};

struct names {
    struct idlc_ctx *ctx;
    const struct idlc_unit *u;      /* the unit being compiled */
    struct idlc_map global;         /* (spelling, NULL) -> entry: every file-scope name */
    struct idlc_map members;        /* (owner, spelling) -> entry */
    struct idlc_map reserved;       /* (spelling, NULL) -> const struct reserved * */
    struct idlc_map seen;           /* (unit, NULL) -> unit: closure walk */
    const struct idlc_unit **order; /* u and its imports, imports first */
    size_t n, cap;
    const struct origin *cur; /* whose names are being claimed */
    bool failed;              /* cur had a clash: one error per declaration */
};

static const char *file_of(const struct idlc_unit *u)
{
    const char *p = strrchr(u->path, '/');
    return p ? p + 1 : u->path;
}

/* "struct 'pt'" or "struct 'pt' from xunit_t.idl" */
static void describe(struct names *ns, const struct origin *o, char *buf, size_t cap)
{
    if (o->unit != ns->cur->unit)
        snprintf(buf, cap, "%s '%s' from %s", o->what, o->name, file_of(o->unit));
    else
        snprintf(buf, cap, "%s '%s'", o->what, o->name);
}

static void report_builtin(struct names *ns, const struct entry *old, const struct entry *e)
{
    const struct origin *o = e->o, *b = old->o;
    if (b->unit == o->unit)
        idlc_error(ns->ctx, o->loc, "%s '%s' collides with a name idlc generates ('%s', the %s)",
                   o->what, o->name, e->c, old->role);
    else
        idlc_error(ns->ctx, o->loc,
                   "%s '%s' collides with a name idlc generates for %s ('%s', the %s)", o->what,
                   o->name, file_of(b->unit), e->c, old->role);
}

static void report_clash(struct names *ns, const struct entry *old, const struct entry *e)
{
    const struct origin *o = e->o;
    if (old->o->builtin) {
        report_builtin(ns, old, e);
        return;
    }
    /* long names are legal: size the message to them */
    size_t cap = strlen(old->o->name) + strlen(file_of(old->o->unit)) + 64;
    char *other = idlc_alloc(ns->ctx, cap);
    describe(ns, old->o, other, cap);
    if (o->builtin)
        idlc_error(ns->ctx, o->loc, "a name idlc generates for %s ('%s', the %s) collides with %s",
                   file_of(o->unit), e->c, e->role, other);
    else if (!e->role && !old->role)
        idlc_error(ns->ctx, o->loc,
                   "%s '%s' collides with %s in the generated C (both become '%s')", o->what,
                   o->name, other, e->c);
    else if (!old->role)
        idlc_error(ns->ctx, o->loc,
                   "%s '%s' collides with %s in the generated C (both become '%s': its %s and the "
                   "%s itself)",
                   o->what, o->name, other, e->c, e->role, old->o->what);
    else
        idlc_error(ns->ctx, o->loc,
                   "%s '%s' collides with %s in the generated C (both become '%s': %s%s and the %s "
                   "of the %s)",
                   o->what, o->name, other, e->c, e->role ? "its " : "its own name",
                   e->role ? e->role : "", old->role, old->o->what);
    idlc_note(ns->ctx, old->o->loc, "%s '%s' is declared here", old->o->what, old->o->name);
}

/* "a macro of <stdint.h>, a header the generated C is compiled with" */
static const char *reserved_why(struct idlc_ctx *ctx, const struct reserved *r)
{
    const char *fmt = r->kind == RK_WORD ? "a reserved word in %s"
                      : r->kind == RK_PREDEF
                          ? "a macro predefined by %s"
                          : "a macro of %s, a header the generated C is compiled with";
    size_t n = strlen(fmt) + strlen(r->source);
    char *s = idlc_alloc(ctx, n);
    snprintf(s, n, fmt, r->source);
    return s;
}

static void report_reserved(struct names *ns, const struct entry *e, const struct reserved *r)
{
    const struct origin *o = e->o;
    if (!strcmp(e->c, o->name))
        idlc_error(ns->ctx, o->loc, "%s name '%s' is %s", o->what, o->name,
                   reserved_why(ns->ctx, r));
    else
        idlc_error(ns->ctx, o->loc, "%s '%s' becomes '%s' in the generated C, %s", o->what, o->name,
                   e->c, reserved_why(ns->ctx, r));
}

static const struct reserved *reserved_of(struct names *ns, const char *c)
{
    return idlc_map_get(&ns->reserved, c, NULL);
}

/* Claims one file-scope name for the current declaration. */
static void claim(void *arg, const struct idlc_cname *n)
{
    struct names *ns = arg;
    if (ns->failed || n->kind == IDLC_CN_MEMBER)
        return; /* one error per declaration; handler members are "on_" + a unique name */
    struct entry *e = idlc_alloc(ns->ctx, sizeof *e);
    e->o = ns->cur;
    e->c = n->c;
    e->role = n->role;
    e->macro = n->kind == IDLC_CN_MACRO;
    const struct reserved *r = reserved_of(ns, n->c);
    if (r) {
        report_reserved(ns, e, r);
        ns->failed = true;
        return;
    }
    struct entry *old = idlc_map_put(ns->ctx, &ns->global, n->c, NULL, e);
    if (old) {
        report_clash(ns, old, e);
        ns->failed = true;
    }
}

static void begin(struct names *ns, struct origin *o)
{
    ns->cur = o;
    ns->failed = false;
}

static struct origin *origin(struct names *ns, const char *what, const char *name,
                             struct idlc_loc loc, const struct idlc_unit *unit)
{
    struct origin *o = idlc_alloc(ns->ctx, sizeof *o);
    o->what = what;
    o->name = name;
    o->loc = loc;
    o->unit = unit;
    return o;
}

/* The names of the unit itself are blamed on its protocol line, else on its first line. */
static void claim_unit(struct names *ns, const struct idlc_unit *x)
{
    struct idlc_loc loc = x->name_loc;
    if (!x->has_protocol || !loc.file) {
        loc = (struct idlc_loc){ .file = x->src, .line = 1, .col = 1, .end_line = 1, .end_col = 1 };
    }
    struct origin *o = origin(ns, x->has_protocol ? "protocol" : "file", x->name, loc, x);
    o->builtin = true;
    begin(ns, o);
    idlc_cnames_unit(x, x == ns->u, claim, ns);
}

static void claim_decls(struct names *ns, const struct idlc_unit *x)
{
    struct idlc_ctx *ctx = ns->ctx;
    for (const struct idlc_decl *d = x->decls; d; d = d->next) {
        if (idlc_map_get(&ctx->own, x, d->name) != d)
            continue; /* a redefinition, already reported */
        begin(ns, origin(ns, idlc_decl_kind_name(d->kind), d->name, d->loc, x));
        idlc_cnames_decl(d, claim, ns);
        if (d->kind != IDLC_D_ENUM || ns->failed)
            continue;
        for (const struct idlc_enumval *v = d->values; v; v = v->next) {
            if (idlc_map_get(&ctx->enum_vals, d, v->name) != v)
                continue;
            size_t k = strlen(d->name) + strlen(v->name) + 2;
            char *full = idlc_alloc(ctx, k);
            snprintf(full, k, "%s.%s", d->name, v->name);
            begin(ns, origin(ns, "enum value", full, v->loc, x));
            idlc_cnames_enumval(v, claim, ns);
        }
    }
}

static void claim_msgs(struct names *ns, const struct idlc_unit *x)
{
    struct idlc_map seen = { 0 };
    for (const struct idlc_msg *m = x->msgs; m; m = m->next) {
        if (idlc_map_put(ns->ctx, &seen, m->name, NULL, (void *)m))
            continue; /* a redefinition, already reported */
        begin(ns, origin(ns, m->kind == IDLC_M_MESSAGE ? "message" : "transaction", m->name, m->loc,
                         x));
        idlc_cnames_msg(x, m, claim, ns);
    }
}

/* ---------------------------------------------------------------------- members */

/* One member name of struct owner: a field (role NULL) or the element count of one. */
static void claim_member(struct names *ns, const void *owner, const char *c, const char *role)
{
    struct entry *e = idlc_alloc(ns->ctx, sizeof *e);
    e->o = ns->cur;
    e->c = c;
    e->role = role;
    const struct reserved *r = reserved_of(ns, c);
    if (r && r->kind != RK_WORD) { /* reserved words were refused as IDL names (sema) */
        report_reserved(ns, e, r);
        return;
    }
    struct entry *g = idlc_map_get(&ns->global, c, NULL);
    if (g && g->macro) {
        report_clash(ns, g, e);
        return;
    }
    struct entry *old = idlc_map_put(ns->ctx, &ns->members, owner, c, e);
    if (old && (old->role || role)) /* two fields of one name: sema said so already */
        report_clash(ns, old, e);
}

static void claim_field(struct names *ns, const struct idlc_unit *x, const void *owner,
                        const struct idlc_field *f)
{
    begin(ns, origin(ns, "field", f->name, f->loc, x));
    claim_member(ns, owner, idlc_intern(ns->ctx, f->name, strlen(f->name)), NULL);
    if (f->type && f->type->kind == IDLC_T_VECTOR)
        claim_member(ns, owner, idlc_cname_count(ns->ctx, f->name), "element count");
}

static void claim_members(struct names *ns, const struct idlc_unit *x)
{
    for (const struct idlc_decl *d = x->decls; d; d = d->next) {
        for (const struct idlc_field *f = d->kind == IDLC_D_STRUCT ? d->fields : NULL; f;
             f = f->next)
            claim_field(ns, x, d, f);
        /* the fields of all arms are members of one C union */
        for (const struct idlc_arm *a = d->kind == IDLC_D_UNION ? d->arms : NULL; a; a = a->next)
            if (a->field)
                claim_field(ns, x, d, a->field);
    }
    for (const struct idlc_msg *m = x->msgs; m; m = m->next) {
        for (const struct idlc_field *f = m->params; f; f = f->next)
            claim_field(ns, x, m, f);
        for (const struct idlc_field *f = m->results; f; f = f->next)
            claim_field(ns, x, &m->results, f);
    }
}

/* ---------------------------------------------------------------------- driver */

static void walk(struct names *ns, const struct idlc_unit *x)
{
    if (idlc_map_put(ns->ctx, &ns->seen, x, NULL, (void *)x))
        return;
    for (const struct idlc_import *im = x->imports; im; im = im->next)
        if (im->unit)
            walk(ns, im->unit);
    if (ns->n == ns->cap) {
        size_t cap = ns->cap ? 2 * ns->cap : 8;
        const struct idlc_unit **v = idlc_alloc(ns->ctx, cap * sizeof(const struct idlc_unit *));
        if (ns->n)
            memcpy(v, ns->order, ns->n * sizeof(const struct idlc_unit *));
        ns->order = v;
        ns->cap = cap;
    }
    ns->order[ns->n++] = x;
}

static void load_reserved(struct names *ns)
{
    for (size_t i = 0; i < NRESERVED; i++) {
        const char *k = idlc_intern(ns->ctx, reserved_names[i].name,
                                    strlen(reserved_names[i].name));
        idlc_map_put(ns->ctx, &ns->reserved, k, NULL, (void *)&reserved_names[i]);
    }
}

int idlc_check_names(struct idlc_ctx *ctx, const struct idlc_unit *u)
{
    struct names ns;
    memset(&ns, 0, sizeof ns);
    ns.ctx = ctx;
    ns.u = u;
    unsigned errors = ctx->errors;
    load_reserved(&ns);
    walk(&ns, u);
    /* the unit's own fixed names first: a declaration that takes one is the one at fault */
    claim_unit(&ns, u);
    for (size_t i = 0; i < ns.n; i++)
        if (ns.order[i] != u)
            claim_unit(&ns, ns.order[i]);
    for (size_t i = 0; i < ns.n; i++) {
        claim_decls(&ns, ns.order[i]);
        claim_msgs(&ns, ns.order[i]);
    }
    /* members last: they must not be macros, and every macro is known by now */
    for (size_t i = 0; i < ns.n; i++)
        claim_members(&ns, ns.order[i]);
    return ctx->errors == errors ? 0 : -1;
}
