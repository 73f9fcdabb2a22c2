/*
 * sema.c - semantic checks: names, constants, types, sizes, protocol rules.
 *
 * Units are checked in load order (an import before its importer), each once. For a unit:
 *   1. the protocol line (version, max_frame);
 *   2. symbols: the unit's own declarations, then those of its direct imports;
 *   3. every declaration: constants evaluated (on demand, cycles detected), enums given
 *      their values, types resolved and sized (recursion detected);
 *   4. messages and transactions: parameters, results, error enum, @since, sizes against
 *      max_frame, opcodes;
 *   5. the C names the generator derives must not collide (names.c, for the unit compiled).
 * Everything is a hash lookup or a single pass, so a 10,000-declaration file is linear.
 *
 * Constant expressions are evaluated on 128-bit integers; every intermediate result must lie
 * in [-2^63, 2^64-1] (the union of the i64 and u64 ranges), otherwise it is an overflow.
 */
#include <inttypes.h>
#include <string.h>

#include "idlc.h"

__extension__ typedef __int128 i128;

#define VMIN (-((i128)1 << 63))
#define VMAX ((i128)UINT64_MAX)

enum { ST_NONE, ST_BUSY, ST_DONE, ST_BAD };

static i128 to_i128(struct idlc_value v)
{
    return v.neg ? (i128)(int64_t)v.u : (i128)v.u;
}

static struct idlc_value from_i128(i128 x)
{
    struct idlc_value v;
    v.neg = x < 0;
    v.u = (uint64_t)x;
    return v;
}

static const char *i128_str(i128 x, char *buf)
{
    return idlc_value_str(from_i128(x), buf);
}

/* ------------------------------------------------------------------ reserved names */

/* The list of reserved names lives in names.c (reserved.h), with the generated names. */

static void check_name(struct idlc_ctx *ctx, const char *what, const char *name,
                       struct idlc_loc loc)
{
    if (!name || !idlc_reserved_name(name))
        return;
    if (name[0] == '_')
        idlc_error(ctx, loc, "%s name '%s' is reserved in C (leading underscore)", what, name);
    else if (idlc_reserved_prefix(name))
        idlc_error(ctx, loc, "%s name '%s' uses a prefix reserved for idc (idc_, IDC_, idlc_, m4_)",
                   what, name);
    else
        idlc_error(ctx, loc, "%s name '%s' is a reserved word in C", what, name);
}

/* ------------------------------------------------------------------ constants */

struct sema {
    struct idlc_ctx *ctx;
    struct idlc_unit *u;
    unsigned depth; /* recursion depth of eval / size_decl */
    bool depth_reported;
};

/* Deeper nesting than this (expressions, chains of forward references) is refused so that
 * no input can exhaust the stack. Backward references never nest: they are already done. */
#define MAX_DEPTH 2000

static bool enter(struct sema *s, struct idlc_loc loc)
{
    if (s->depth >= MAX_DEPTH) {
        if (!s->depth_reported)
            idlc_error(
                s->ctx, loc,
                "nested too deeply (more than %d levels of expressions or forward references)",
                MAX_DEPTH);
        s->depth_reported = true;
        return false;
    }
    s->depth++;
    return true;
}

static bool eval(struct sema *s, struct idlc_unit *u, struct idlc_expr *e, i128 *out);
static void check_enum(struct sema *s, struct idlc_decl *d);

/* ------------------------------------------------------------------ "did you mean" */

/* Levenshtein distance, case-insensitive, for names up to 63 characters (else "far"). */
static unsigned edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 1000;
    unsigned row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        unsigned diag = row[0];
        row[0] = (unsigned)i;
        for (size_t j = 1; j <= lb; j++) {
            unsigned up = row[j];
            int ca = a[i - 1] | 0x20, cb = b[j - 1] | 0x20;
            unsigned best = diag + (ca != cb);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

struct suggestion {
    const char *want;
    const char *best;
    unsigned dist;
};

static void consider(struct suggestion *sg, const char *cand)
{
    unsigned limit = ((unsigned)strlen(sg->want) + 1) / 3;
    unsigned d = edit_distance(sg->want, cand);
    if (d <= limit && d < sg->dist) {
        sg->dist = d;
        sg->best = cand;
    }
}

/* The visible declaration (of a kind in mask, bit = 1 << kind) closest to name, or NULL. */
static const char *suggest_decl(struct idlc_unit *u, const char *name, unsigned mask)
{
    struct suggestion sg = { name, NULL, 1000 };
    for (struct idlc_decl *d = u->decls; d; d = d->next)
        if (mask & (1u << d->kind))
            consider(&sg, d->name);
    for (struct idlc_import *im = u->imports; im; im = im->next)
        for (struct idlc_decl *d = im->unit ? im->unit->decls : NULL; d; d = d->next)
            if (mask & (1u << d->kind))
                consider(&sg, d->name);
    return sg.best;
}

static const char *suggest_value(struct idlc_decl *en, const char *name)
{
    struct suggestion sg = { name, NULL, 1000 };
    for (struct idlc_enumval *v = en->values; v; v = v->next)
        consider(&sg, v->name);
    return sg.best;
}

#define TYPES_MASK ((1u << IDLC_D_ENUM) | (1u << IDLC_D_STRUCT) | (1u << IDLC_D_UNION))
#define CONST_MASK (1u << IDLC_D_CONST)

/* "; did you mean 'x'?" or "" */
static const char *hint(char *buf, size_t n, const char *best)
{
    if (!best)
        return "";
    snprintf(buf, n, "; did you mean '%s'?", best);
    return buf;
}

/* The visible declared type or built-in type closest to name (on a tie the declared one),
 * or NULL when none is close. */
static const char *suggest_type(struct idlc_unit *u, const char *name)
{
    static const char *const builtin[] = { "bool", "u8",  "u16", "u32",    "u64",   "i8",
                                           "i16",  "i32", "i64", "string", "buffer" };
    const char *best = suggest_decl(u, name, TYPES_MASK);
    struct suggestion sg = { name, best, best ? edit_distance(name, best) : 1000 };
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
        consider(&sg, builtin[i]);
    return sg.best;
}

/* Reports an unknown type name: the closest known type, and for the names people reach for
 * when they want raw bytes, the way to write that. */
static void unknown_type(struct sema *s, struct idlc_unit *u, const struct idlc_type *t)
{
    static const char *const bytes_words[] = { "bytes", "byte", "blob", "binary", "octets" };
    char h[128];
    const char *best = suggest_type(u, t->name);
    idlc_error(s->ctx, t->loc, "unknown type '%s'%s", t->name, hint(h, sizeof h, best));
    struct idlc_decl *d = best ? idlc_map_get(&s->ctx->syms, u, best) : NULL;
    if (d)
        idlc_note(s->ctx, d->loc, "'%s' is declared here", d->name);
    for (size_t i = 0; i < sizeof bytes_words / sizeof bytes_words[0]; i++) {
        if (strcmp(t->name, bytes_words[i]))
            continue;
        /* "bytes<16>": reuse the bound as written */
        const char *n = "N";
        int nlen = 1;
        const struct idlc_loc *b = t->bound_expr ? &t->bound_expr->loc : NULL;
        if (b && b->file && b->line == b->end_line && (uint32_t)b->line <= b->file->nlines &&
            b->col >= 1 && b->end_col >= b->col && b->end_col - b->col < 64) {
            n = b->file->text + b->file->line_off[b->line - 1] + b->col - 1;
            nlen = b->end_col - b->col + 1;
        }
        idlc_note(s->ctx, t->loc,
                  "for up to %.*s bytes of data, write a bounded array: "
                  "'u8 NAME[<= %.*s]'",
                  nlen, n, nlen, n);
    }
}

static bool eval_const(struct sema *s, struct idlc_decl *d, struct idlc_loc use)
{
    if (d->state == ST_DONE)
        return true;
    if (d->state == ST_BAD)
        return false;
    if (d->state == ST_BUSY) {
        idlc_error(s->ctx, use, "constant '%s' depends on itself", d->name);
        idlc_note(s->ctx, d->loc, "'%s' is declared here", d->name);
        d->state = ST_BAD;
        return false;
    }
    d->state = ST_BUSY;
    i128 v;
    if (!eval(s, d->unit, d->expr, &v)) {
        d->state = ST_BAD;
        return false;
    }
    if (d->state == ST_BAD)
        return false;
    d->value = from_i128(v);
    d->state = ST_DONE;
    return true;
}

static struct idlc_enumval *find_enumval(struct sema *s, struct idlc_decl *en, const char *name)
{
    return idlc_map_get(&s->ctx->enum_vals, en, name);
}

static bool eval_ref(struct sema *s, struct idlc_unit *u, struct idlc_expr *e, i128 *out)
{
    struct idlc_decl *d = idlc_map_get(&s->ctx->syms, u, e->name);
    if (!d) {
        char h[128];
        idlc_error(s->ctx, e->loc, "use of undeclared constant '%s'%s", e->name,
                   hint(h, sizeof h, suggest_decl(u, e->name, CONST_MASK)));
        return false;
    }
    e->ref = d;
    if (e->member) {
        if (d->kind != IDLC_D_ENUM) {
            idlc_error(s->ctx, e->loc, "'%s' is a %s, not an enum; '%s.%s' names nothing", d->name,
                       idlc_decl_kind_name(d->kind), e->name, e->member);
            idlc_note(s->ctx, d->loc, "'%s' is declared here", d->name);
            return false;
        }
        if (d->state == ST_NONE)
            check_enum(s, d);
        struct idlc_enumval *v = find_enumval(s, d, e->member);
        if (!v) {
            char h[128];
            idlc_error(s->ctx, e->loc, "enum '%s' has no value '%s'%s", d->name, e->member,
                       hint(h, sizeof h, suggest_value(d, e->member)));
            idlc_note(s->ctx, d->loc, "'%s' is declared here", d->name);
            return false;
        }
        if (v->state != ST_DONE) {
            if (v->state == ST_NONE || v->state == ST_BUSY)
                idlc_error(s->ctx, e->loc, "enum value '%s.%s' is used before its value is known",
                           d->name, v->name);
            return false;
        }
        e->ref_val = v;
        *out = to_i128(v->value);
        return true;
    }
    if (d->kind != IDLC_D_CONST) {
        if (d->kind == IDLC_D_ENUM)
            idlc_error(s->ctx, e->loc, "'%s' is an enum, not a constant; write '%s.VALUE'", d->name,
                       d->name);
        else
            idlc_error(s->ctx, e->loc, "'%s' is a %s, not a constant", d->name,
                       idlc_decl_kind_name(d->kind));
        idlc_note(s->ctx, d->loc, "'%s' is declared here", d->name);
        return false;
    }
    if (!eval_const(s, d, e->loc))
        return false;
    *out = to_i128(d->value);
    return true;
}

static bool range_ok(struct sema *s, struct idlc_expr *e, i128 v)
{
    if (v < VMIN || v > VMAX) {
        idlc_error(s->ctx, e->loc,
                   "integer overflow in constant expression (values must lie in "
                   "[-9223372036854775808, 18446744073709551615])");
        return false;
    }
    return true;
}

static bool eval_inner(struct sema *s, struct idlc_unit *u, struct idlc_expr *e, i128 *out);

static bool eval(struct sema *s, struct idlc_unit *u, struct idlc_expr *e, i128 *out)
{
    if (!e)
        return false;
    if (e->evaluated) {
        *out = to_i128(e->value);
        return true;
    }
    if (!enter(s, e->loc)) {
        e->bad = true;
        return false;
    }
    bool ok = eval_inner(s, u, e, out);
    s->depth--;
    return ok;
}

static bool eval_inner(struct sema *s, struct idlc_unit *u, struct idlc_expr *e, i128 *out)
{
    if (e->bad)
        return false;
    if (e->evaluated) {
        *out = to_i128(e->value);
        return true;
    }
    i128 a, b, r = 0;
    bool ok = true;
    switch (e->kind) {
    case IDLC_E_INT:
        r = (i128)e->value.u;
        break;
    case IDLC_E_REF:
        ok = eval_ref(s, u, e, &r);
        break;
    case IDLC_E_UNARY:
        ok = eval(s, u, e->lhs, &a);
        if (!ok)
            break;
        r = e->op == '-' ? -a : e->op == '~' ? ~a : a;
        ok = range_ok(s, e, r);
        break;
    case IDLC_E_BINARY:
        ok = eval(s, u, e->lhs, &a);
        ok = eval(s, u, e->rhs, &b) && ok;
        if (!ok)
            break;
        switch (e->op) {
        case '+':
            r = a + b;
            break;
        case '-':
            r = a - b;
            break;
        case '*': {
            /* |a|, |b| <= 2^64 - 1, so the product of the magnitudes fits 128 bits
			 * unsigned (no overflow builtin: it needs a runtime helper on some compilers) */
            __extension__ typedef unsigned __int128 u128;
            u128 ma = a < 0 ? (u128)0 - (u128)a : (u128)a;
            u128 mb = b < 0 ? (u128)0 - (u128)b : (u128)b;
            u128 mp = ma * mb;
            bool neg = (a < 0) != (b < 0) && mp != 0;
            if (!neg && mp > (u128)VMAX)
                r = VMAX + 1;
            else if (neg && mp > ((u128)1 << 63))
                r = VMIN - 1;
            else
                r = neg ? -(i128)mp : (i128)mp;
            break;
        }
        case '/':
        case '%':
            if (b == 0) {
                idlc_error(s->ctx, e->rhs->loc, "%s by zero in constant expression",
                           e->op == '/' ? "division" : "remainder");
                ok = false;
                break;
            }
            r = e->op == '/' ? a / b : a % b;
            break;
        case '&':
            r = a & b;
            break;
        case '|':
            r = a | b;
            break;
        case '^':
            r = a ^ b;
            break;
        case IDLC_OP_SHL:
        case IDLC_OP_SHR:
            if (b < 0 || b > 63) {
                char buf[24];
                idlc_error(s->ctx, e->rhs->loc, "shift count %s is out of range (0..63)",
                           i128_str(b, buf));
                ok = false;
                break;
            }
            if (e->op == IDLC_OP_SHL)
                r = a * ((i128)1 << (int)b);
            else
                r = a >= 0 ? a >> (int)b : -((-a - 1) >> (int)b) - 1;
            break;
        default:
            ok = false;
        }
        if (ok)
            ok = range_ok(s, e, r);
        break;
    }
    if (!ok) {
        e->bad = true;
        return false;
    }
    e->value = from_i128(r);
    e->evaluated = true;
    *out = r;
    return true;
}

/* ------------------------------------------------------------------ enums */

static bool repr_range(enum idlc_type_kind k, i128 *lo, i128 *hi)
{
    unsigned w = idlc_scalar_width(k);
    if (!w || k == IDLC_T_BOOL)
        return false;
    if (idlc_scalar_signed(k)) {
        *lo = -((i128)1 << (w * 8 - 1));
        *hi = ((i128)1 << (w * 8 - 1)) - 1;
    } else {
        *lo = 0;
        *hi = ((i128)1 << (w * 8)) - 1;
    }
    return true;
}

static uint32_t eval_since(struct sema *s, struct idlc_unit *u, struct idlc_attrs *a)
{
    if (!a->since_expr)
        return 0;
    i128 v;
    if (!eval(s, u, a->since_expr, &v))
        return 0;
    if (v < 1 || v > UINT32_MAX) {
        char buf[24];
        idlc_error(s->ctx, a->since_expr->loc,
                   "version %s in '@since' must be between 1 and 4294967295", i128_str(v, buf));
        return 0;
    }
    a->since = (uint32_t)v;
    if (u->has_protocol && a->since > u->version) {
        idlc_error(s->ctx, a->since_loc,
                   "'@since(%" PRIu32 ")' is newer than the protocol version %" PRIu32, a->since,
                   u->version);
        idlc_note(s->ctx, u->version_loc, "protocol '%s' is at version %" PRIu32, u->name,
                  u->version);
    }
    return a->since;
}

static void check_enum(struct sema *s, struct idlc_decl *d)
{
    if (d->state != ST_NONE)
        return;
    d->state = ST_BUSY;
    i128 lo = 0, hi = UINT32_MAX;
    repr_range(d->repr, &lo, &hi);
    if (!d->values)
        idlc_error(s->ctx, d->loc, "enum '%s' has no values", d->name);
    struct idlc_map seen = { 0 };
    /* names first, so a value can refer to a later one and get "used before known" */
    for (struct idlc_enumval *v = d->values; v; v = v->next) {
        struct idlc_enumval *p = idlc_map_put(s->ctx, &s->ctx->enum_vals, d, v->name, v);
        if (p) {
            idlc_error(s->ctx, v->loc, "duplicate value name '%s' in enum '%s'", v->name, d->name);
            idlc_note(s->ctx, p->loc, "'%s.%s' is first declared here", d->name, v->name);
        }
        check_name(s->ctx, "enum value", v->name, v->loc);
    }
    i128 next = 0, mn = 0, mx = 0;
    bool have_prev = true, first = true;
    for (struct idlc_enumval *v = d->values; v; v = v->next) {
        v->state = ST_BUSY;
        i128 x;
        if (v->expr) {
            if (!eval(s, d->unit, v->expr, &x)) {
                v->state = ST_BAD;
                have_prev = false;
                continue;
            }
        } else {
            if (!have_prev) {
                v->state = ST_BAD;
                continue;
            }
            x = next;
        }
        char buf[24], b1[24], b2[24];
        if (x < lo || x > hi) {
            idlc_error(s->ctx, v->expr ? v->expr->loc : v->loc,
                       "value %s of '%s.%s' is out of range for %s (%s..%s)", i128_str(x, buf),
                       d->name, v->name, idlc_type_kind_name(d->repr), i128_str(lo, b1),
                       i128_str(hi, b2));
            v->state = ST_BAD;
            have_prev = false;
            continue;
        }
        v->value = from_i128(x);
        v->state = ST_DONE;
        have_prev = true;
        next = x + 1;
        if (first || x < mn)
            mn = x;
        if (first || x > mx)
            mx = x;
        first = false;
        const void *key = (const void *)(uintptr_t)(uint64_t)x;
        struct idlc_enumval *p = idlc_map_put(s->ctx, &seen,
                                              x < 0 ? (const void *)1 : (const void *)2, key, v);
        if (p) {
            idlc_error(s->ctx, v->expr ? v->expr->loc : v->loc,
                       "duplicate value %s in enum '%s': '%s' and '%s'", i128_str(x, buf), d->name,
                       p->name, v->name);
            idlc_note(s->ctx, p->loc, "'%s.%s' already has value %s", d->name, p->name,
                      i128_str(x, buf));
        }
        eval_since(s, d->unit, &v->attrs);
    }
    d->min = from_i128(mn);
    d->max = from_i128(mx);
    unsigned w = idlc_scalar_width(d->repr);
    d->max_size = d->min_size = w;
    d->state = ST_DONE;
}

/* ------------------------------------------------------------------ types and sizes */

static bool size_decl(struct sema *s, struct idlc_decl *d, struct idlc_loc use);

/* a + b with saturation at UINT64_MAX (= overflow) */
static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t mul_sat(uint64_t a, uint64_t b)
{
    uint64_t r;
    return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

static bool eval_bound(struct sema *s, struct idlc_unit *u, struct idlc_expr *e, const char *what,
                       uint64_t *out)
{
    i128 v;
    if (!eval(s, u, e, &v))
        return false;
    char buf[24];
    if (v < 1) {
        idlc_error(s->ctx, e->loc, "%s must be at least 1, not %s", what, i128_str(v, buf));
        return false;
    }
    if (v > UINT32_MAX) {
        idlc_error(s->ctx, e->loc, "%s %s is too large (the maximum is 4294967295)", what,
                   i128_str(v, buf));
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

/* Resolves t in unit u and computes its size; false if something is wrong (reported). */
static bool resolve_type(struct sema *s, struct idlc_unit *u, struct idlc_type *t)
{
    switch (t->kind) {
    case IDLC_T_BOOL:
    case IDLC_T_U8:
    case IDLC_T_U16:
    case IDLC_T_U32:
    case IDLC_T_U64:
    case IDLC_T_I8:
    case IDLC_T_I16:
    case IDLC_T_I32:
    case IDLC_T_I64:
        t->max_size = t->min_size = idlc_scalar_width(t->kind);
        return true;
    case IDLC_T_BUFFER:
        t->max_size = t->min_size = IDLC_BUFFER_WIRE_SIZE;
        return true;
    case IDLC_T_STRING:
        if (!t->bound_expr || !eval_bound(s, u, t->bound_expr, "string bound", &t->bound))
            return false;
        t->max_size = 4 + t->bound;
        t->min_size = 4;
        return true;
    case IDLC_T_ARRAY:
    case IDLC_T_VECTOR: {
        bool ok = resolve_type(s, u, t->elem);
        if (!t->bound_expr)
            return false;
        ok = eval_bound(s, u, t->bound_expr, "array bound", &t->bound) && ok;
        if (!ok)
            return false;
        if (t->kind == IDLC_T_ARRAY) {
            t->max_size = mul_sat(t->bound, t->elem->max_size);
            t->min_size = mul_sat(t->bound, t->elem->min_size);
        } else {
            t->max_size = add_sat(4, mul_sat(t->bound, t->elem->max_size));
            t->min_size = 4;
        }
        if (t->max_size == UINT64_MAX) {
            idlc_error(s->ctx, t->loc, "the size of this array overflows 64 bits");
            return false;
        }
        return true;
    }
    case IDLC_T_NAMED:
    case IDLC_T_ENUM:
    case IDLC_T_STRUCT:
    case IDLC_T_UNION: {
        struct idlc_decl *d = t->decl ? t->decl : idlc_map_get(&s->ctx->syms, u, t->name);
        if (!d) {
            unknown_type(s, u, t);
            return false;
        }
        if (d->kind == IDLC_D_CONST) {
            idlc_error(s->ctx, t->loc, "'%s' is a constant, not a type", t->name);
            idlc_note(s->ctx, d->loc, "'%s' is declared here", d->name);
            return false;
        }
        if (t->bound_expr) {
            idlc_error(s->ctx, t->loc,
                       "type '%s' takes no bound (only string<N> does); "
                       "for an array write '%s NAME[<= N]'",
                       t->name, t->name);
            return false;
        }
        t->decl = d;
        t->kind = d->kind == IDLC_D_ENUM     ? IDLC_T_ENUM
                  : d->kind == IDLC_D_STRUCT ? IDLC_T_STRUCT
                                             : IDLC_T_UNION;
        if (!size_decl(s, d, t->loc))
            return false;
        t->max_size = d->max_size;
        t->min_size = d->min_size;
        return true;
    }
    }
    return false;
}

/* Checks a list of fields (struct, arm, params, results): names unique, types resolved.
 * Returns the total max/min size; *ok false on any problem. */
static void check_fields(struct sema *s, struct idlc_unit *u, struct idlc_field *fields,
                         const char *what, const char *owner, bool allow_since,
                         uint32_t owner_since, uint64_t *max, uint64_t *min, bool *ok)
{
    struct idlc_map names = { 0 };
    uint64_t mx = 0, mn = 0;
    struct idlc_field *prev_since = NULL;
    for (struct idlc_field *f = fields; f; f = f->next) {
        check_name(s->ctx, "field", f->name, f->loc);
        struct idlc_field *p = idlc_map_put(s->ctx, &names, f->name, NULL, f);
        if (p) {
            idlc_error(s->ctx, f->loc, "duplicate %s '%s' in '%s'", what, f->name, owner);
            idlc_note(s->ctx, p->loc, "'%s' is first declared here", p->name);
            *ok = false;
        }
        if (f->attrs.since_expr) {
            if (!allow_since) {
                idlc_error(s->ctx, f->attrs.since_loc,
                           "'@since' is not allowed on struct or union fields; add new parameters "
                           "to messages instead");
                *ok = false;
            } else {
                eval_since(s, u, &f->attrs);
                if (f->attrs.since && f->attrs.since < owner_since) {
                    idlc_error(s->ctx, f->attrs.since_loc,
                               "%s '%s' is '@since(%" PRIu32
                               ")' but '%s' only exists since version %" PRIu32,
                               what, f->name, f->attrs.since, owner, owner_since);
                    *ok = false;
                }
            }
        }
        if (allow_since) {
            uint32_t fs = f->attrs.since > owner_since ? f->attrs.since : owner_since;
            uint32_t ps = !prev_since                             ? 0
                          : prev_since->attrs.since > owner_since ? prev_since->attrs.since
                                                                  : owner_since;
            if (prev_since && fs < ps) {
                idlc_error(s->ctx, f->loc,
                           "%s '%s' (version %" PRIu32 ") follows '%s' (@since(%" PRIu32
                           ")); newer %ss must come last",
                           what, f->name, fs, prev_since->name, ps, what);
                *ok = false;
            }
            if (!prev_since || fs >= ps)
                prev_since = f;
        }
        if (!resolve_type(s, u, f->type)) {
            *ok = false;
            continue;
        }
        f->offset_max = mx;
        mx = add_sat(mx, f->type->max_size);
        mn = add_sat(mn, f->type->min_size);
    }
    *max = mx;
    *min = mn;
}

static bool size_decl_inner(struct sema *s, struct idlc_decl *d, struct idlc_loc use);

static bool size_decl(struct sema *s, struct idlc_decl *d, struct idlc_loc use)
{
    if (d->state == ST_DONE)
        return true;
    if (!enter(s, use))
        return false;
    bool ok = size_decl_inner(s, d, use);
    s->depth--;
    return ok;
}

static bool size_decl_inner(struct sema *s, struct idlc_decl *d, struct idlc_loc use)
{
    if (d->kind == IDLC_D_ENUM) {
        if (d->state == ST_NONE)
            check_enum(s, d);
        return true; /* an enum's size is its representation, even if a value was bad */
    }
    if (d->state == ST_DONE)
        return true;
    if (d->state == ST_BAD)
        return false;
    if (d->state == ST_BUSY) {
        idlc_error(s->ctx, use, "recursive type: '%s' contains itself and has no bounded size",
                   d->name);
        idlc_note(s->ctx, d->loc, "'%s' is declared here", d->name);
        d->state = ST_BAD;
        return false;
    }
    d->state = ST_BUSY;
    bool ok = true;
    uint64_t mx = 0, mn = 0;
    if (d->kind == IDLC_D_STRUCT) {
        if (!d->fields) {
            idlc_error(s->ctx, d->loc, "struct '%s' has no fields", d->name);
            ok = false;
        }
        check_fields(s, d->unit, d->fields, "field", d->name, false, 0, &mx, &mn, &ok);
    } else { /* UNION */
        struct idlc_decl *tag = idlc_map_get(&s->ctx->syms, d->unit, d->tag_name);
        if (!tag) {
            char h[128];
            idlc_error(s->ctx, d->tag_loc, "unknown type '%s'%s", d->tag_name,
                       hint(h, sizeof h, suggest_decl(d->unit, d->tag_name, 1u << IDLC_D_ENUM)));
            ok = false;
        } else if (tag->kind != IDLC_D_ENUM) {
            idlc_error(s->ctx, d->tag_loc,
                       "the tag of union '%s' must be an enum, but '%s' is a %s", d->name,
                       tag->name, idlc_decl_kind_name(tag->kind));
            idlc_note(s->ctx, tag->loc, "'%s' is declared here", tag->name);
            ok = false;
            tag = NULL;
        } else {
            check_enum(s, tag);
            d->tag = tag;
        }
        if (!d->arms) {
            idlc_error(s->ctx, d->loc, "union '%s' has no cases", d->name);
            ok = false;
        }
        struct idlc_map labels = { 0 }, names = { 0 };
        bool firstarm = true;
        for (struct idlc_arm *a = d->arms; a; a = a->next) {
            for (struct idlc_case_label *l = a->labels; tag && l; l = l->next) {
                l->val = find_enumval(s, tag, l->name);
                if (!l->val) {
                    char h[128];
                    idlc_error(s->ctx, l->loc, "'%s' is not a value of enum '%s'%s", l->name,
                               tag->name, hint(h, sizeof h, suggest_value(tag, l->name)));
                    idlc_note(s->ctx, tag->loc, "'%s' is declared here", tag->name);
                    ok = false;
                    continue;
                }
                struct idlc_case_label *p = idlc_map_put(s->ctx, &labels, l->val, NULL, l);
                if (p) {
                    idlc_error(s->ctx, l->loc, "duplicate case '%s' in union '%s'", l->name,
                               d->name);
                    idlc_note(s->ctx, p->loc, "previous case '%s' is here", p->name);
                    ok = false;
                }
            }
            uint64_t amx = 0, amn = 0;
            if (a->field) {
                struct idlc_field *p = idlc_map_put(s->ctx, &names, a->field->name, NULL, a->field);
                if (p) {
                    idlc_error(s->ctx, a->field->loc, "duplicate field '%s' in union '%s'",
                               a->field->name, d->name);
                    idlc_note(s->ctx, p->loc, "'%s' is first declared here", p->name);
                    ok = false;
                }
                struct idlc_field one = *a->field;
                one.next = NULL;
                check_fields(s, d->unit, &one, "field", d->name, false, 0, &amx, &amn, &ok);
                a->field->attrs = one.attrs;
            }
            if (amx > mx)
                mx = amx;
            if (firstarm || amn < mn)
                mn = amn;
            firstarm = false;
        }
        mx = add_sat(4, mx);
        mn = add_sat(4, mn);
    }
    if (ok && mx == UINT64_MAX) {
        idlc_error(s->ctx, d->loc, "the size of '%s' overflows 64 bits", d->name);
        ok = false;
    }
    d->max_size = mx;
    d->min_size = mn;
    if (d->state == ST_BAD)
        return false;
    d->state = ok ? ST_DONE : ST_BAD;
    return ok;
}

/* ------------------------------------------------------------------ messages */

static void check_msg(struct sema *s, struct idlc_unit *u, struct idlc_msg *m, uint32_t opcode)
{
    const char *w = m->kind == IDLC_M_MESSAGE ? "message" : "transaction";
    m->opcode = opcode;
    check_name(s->ctx, w, m->name, m->loc);
    uint32_t since = eval_since(s, u, &m->attrs);
    bool ok = true;
    check_fields(s, u, m->params, "parameter", m->name, true, since, &m->args_max_size,
                 &m->args_min_size, &ok);
    if (m->kind == IDLC_M_TRANSACTION)
        check_fields(s, u, m->results, "result", m->name, true, since, &m->result_max_size,
                     &m->result_min_size, &ok);
    if (m->raises_name) {
        struct idlc_decl *e = idlc_map_get(&s->ctx->syms, u, m->raises_name);
        if (!e) {
            char h[128];
            idlc_error(s->ctx, m->raises_loc, "unknown error enum '%s'%s", m->raises_name,
                       hint(h, sizeof h, suggest_decl(u, m->raises_name, 1u << IDLC_D_ENUM)));
        } else if (e->kind != IDLC_D_ENUM) {
            idlc_error(s->ctx, m->raises_loc, "'raises' needs an enum, but '%s' is a %s", e->name,
                       idlc_decl_kind_name(e->kind));
            idlc_note(s->ctx, e->loc, "'%s' is declared here", e->name);
        } else {
            check_enum(s, e);
            m->raises = e;
            for (struct idlc_enumval *v = e->values; v; v = v->next) {
                if (v->state != ST_DONE)
                    continue;
                i128 x = to_i128(v->value);
                if (x < 1 || x > 65535) {
                    char buf[24];
                    idlc_error(
                        s->ctx, m->raises_loc,
                        "error enum '%s' has value %s ('%s'); application errors must be 1..65535",
                        e->name, i128_str(x, buf), v->name);
                    idlc_note(s->ctx, v->loc, "'%s.%s' is declared here", e->name, v->name);
                    break;
                }
            }
        }
    }
    if (!ok)
        return;
    if (m->args_max_size > u->max_frame) {
        idlc_error(s->ctx, m->loc,
                   "%s '%s' may need %" PRIu64 " bytes, more than the maximum frame of %" PRIu64,
                   m->kind == IDLC_M_MESSAGE ? "message" : "request of transaction", m->name,
                   m->args_max_size, u->max_frame);
        struct idlc_field *big = NULL;
        for (struct idlc_field *f = m->params; f; f = f->next)
            if (!big || f->type->max_size > big->type->max_size)
                big = f;
        if (big)
            idlc_note(s->ctx, big->loc, "parameter '%s' alone may need %" PRIu64 " bytes",
                      big->name, big->type->max_size);
    }
    if (m->kind == IDLC_M_TRANSACTION && m->result_max_size > u->max_frame) {
        idlc_error(s->ctx, m->loc,
                   "result of transaction '%s' may need %" PRIu64
                   " bytes, more than the maximum frame of %" PRIu64,
                   m->name, m->result_max_size, u->max_frame);
        struct idlc_field *big = NULL;
        for (struct idlc_field *f = m->results; f; f = f->next)
            if (!big || f->type->max_size > big->type->max_size)
                big = f;
        if (big)
            idlc_note(s->ctx, big->loc, "result '%s' alone may need %" PRIu64 " bytes", big->name,
                      big->type->max_size);
    }
}

/* ------------------------------------------------------------------ units */

static void check_protocol(struct sema *s, struct idlc_unit *u)
{
    if (!u->has_protocol)
        return;
    check_name(s->ctx, "protocol", u->name, u->name_loc);
    i128 v;
    if (!u->version_expr) {
        idlc_error(s->ctx, u->name_loc,
                   "protocol '%s' has no version; write 'protocol %s version 1;'", u->name,
                   u->name);
    } else if (eval(s, u, u->version_expr, &v)) {
        if (v < 1 || v > UINT32_MAX) {
            char buf[24];
            idlc_error(s->ctx, u->version_expr->loc,
                       "protocol version must be between 1 and 4294967295, not %s",
                       i128_str(v, buf));
        } else {
            u->version = (uint32_t)v;
        }
    }
    if (u->max_frame_expr && eval(s, u, u->max_frame_expr, &v)) {
        if (v < 64 || v > UINT32_MAX) {
            char buf[24];
            idlc_error(s->ctx, u->max_frame_expr->loc,
                       "max_frame must be between 64 and 4294967295 bytes, not %s",
                       i128_str(v, buf));
        } else {
            u->max_frame = (uint64_t)v;
        }
    }
}

static void declare(struct sema *s, struct idlc_unit *u)
{
    struct idlc_ctx *ctx = s->ctx;
    for (struct idlc_decl *d = u->decls; d; d = d->next) {
        check_name(ctx, idlc_decl_kind_name(d->kind), d->name, d->loc);
        struct idlc_decl *p = idlc_map_put(ctx, &ctx->own, u, d->name, d);
        if (p) {
            idlc_error(ctx, d->loc, "redefinition of '%s'", d->name);
            idlc_note(ctx, p->loc, "previous definition of '%s' is here", p->name);
            continue;
        }
        idlc_map_put(ctx, &ctx->syms, u, d->name, d);
    }
    for (struct idlc_import *im = u->imports; im; im = im->next) {
        if (!im->unit)
            continue;
        for (struct idlc_decl *d = im->unit->decls; d; d = d->next) {
            if (idlc_map_get(&ctx->own, im->unit, d->name) != d)
                continue; /* a duplicate inside the imported file, reported there */
            struct idlc_decl *p = idlc_map_put(ctx, &ctx->syms, u, d->name, d);
            if (!p || p == d)
                continue;
            if (p->unit == u) {
                idlc_error(ctx, p->loc, "'%s' is also declared in imported file '%s'", p->name,
                           im->unit->path);
                idlc_note(ctx, d->loc, "imported declaration of '%s' is here", d->name);
            } else {
                idlc_error(ctx, im->loc, "'%s' is declared in both '%s' and '%s'", d->name,
                           p->unit->path, im->unit->path);
                idlc_note(ctx, p->loc, "one declaration of '%s' is here", p->name);
                idlc_note(ctx, d->loc, "and another is here");
            }
        }
    }
}

static bool is_identifier(const char *p)
{
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_'))
        return false;
    for (p++; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return false;
    return true;
}

static void check_unit(struct sema *s, struct idlc_unit *u)
{
    s->u = u;
    /* the file name names the outputs and, without a protocol line, prefixes every C name */
    if (!is_identifier(u->basename)) {
        struct idlc_loc l = { .file = u->src, .line = 1, .col = 1, .end_line = 1, .end_col = 1 };
        idlc_error(s->ctx, l,
                   "file name '%s' is not a C identifier; name the file [A-Za-z_][A-Za-z0-9_]*.idl",
                   u->basename);
    }
    if (!u->has_protocol && idlc_reserved_prefix(u->basename)) {
        struct idlc_loc l = { .file = u->src, .line = 1, .col = 1, .end_line = 1, .end_col = 1 };
        idlc_error(s->ctx, l,
                   "file name '%s' uses a prefix reserved for idc (idc_, IDC_, idlc_, m4_): "
                   "without a protocol line it prefixes every generated name",
                   u->basename);
    }
    if (u->has_protocol && (!strcmp(u->name, "idc") || !strcmp(u->name, "idlc"))) {
        idlc_error(s->ctx, u->name_loc,
                   "protocol name '%s' is reserved: its C names would collide with the runtime's",
                   u->name);
    }
    check_protocol(s, u);
    declare(s, u);
    for (struct idlc_decl *d = u->decls; d; d = d->next) {
        switch (d->kind) {
        case IDLC_D_CONST:
            eval_const(s, d, d->loc);
            break;
        case IDLC_D_ENUM:
            check_enum(s, d);
            break;
        default:
            size_decl(s, d, d->loc);
        }
    }
    struct idlc_map names = { 0 };
    uint32_t op = 0;
    for (struct idlc_msg *m = u->msgs; m; m = m->next) {
        if (!u->has_protocol && m == u->msgs)
            idlc_error(s->ctx, m->kw_loc,
                       "'%s' outside a protocol; start the file with 'protocol NAME version N;'",
                       m->name);
        struct idlc_msg *p = idlc_map_put(s->ctx, &names, m->name, NULL, m);
        if (p) {
            idlc_error(s->ctx, m->loc, "redefinition of %s '%s'",
                       m->kind == IDLC_M_MESSAGE ? "message" : "transaction", m->name);
            idlc_note(s->ctx, p->loc, "previous definition of '%s' is here", p->name);
        }
        if (++op == 65536)
            idlc_error(s->ctx, m->loc,
                       "too many messages and transactions: opcodes are 16 bits, '%s' would be "
                       "number 65536",
                       m->name);
        check_msg(s, u, m, op);
    }
    u->checked = true;
}

int idlc_check(struct idlc_ctx *ctx, struct idlc_unit *u)
{
    struct sema s;
    memset(&s, 0, sizeof s);
    s.ctx = ctx;
    for (size_t i = 0; i < ctx->nunits; i++)
        if (!ctx->units[i]->checked)
            check_unit(&s, ctx->units[i]);
    /* the C of u sees the names of all its imports at once: checked together, once */
    if (u)
        idlc_check_names(ctx, u);
    return ctx->errors ? -1 : 0;
}
