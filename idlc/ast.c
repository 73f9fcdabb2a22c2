/*
 * ast.c - context, arena, interned strings, hash maps, source files and import loading.
 *
 * Every allocation of a compilation comes from the context's arena and is released at once
 * by idlc_ctx_destroy(). Identifiers are interned so the rest of the compiler compares names
 * by pointer and the symbol tables hash pointers.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "idlc.h"

/* ------------------------------------------------------------------ arena */

struct idlc_arena_chunk {
    struct idlc_arena_chunk *next;
    size_t used, cap;
    _Alignas(max_align_t) unsigned char data[];
};

void *idlc_alloc(struct idlc_ctx *ctx, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    struct idlc_arena_chunk *c = ctx->arena;
    if (!c || c->cap - c->used < size) {
        size_t cap = size > 65536 ? size : 65536;
        c = malloc(sizeof *c + cap);
        if (!c) {
            fputs("idlc: out of memory\n", stderr);
            abort();
        }
        c->used = 0;
        c->cap = cap;
        c->next = ctx->arena;
        ctx->arena = c;
    }
    void *p = c->data + c->used;
    c->used += size;
    memset(p, 0, size);
    return p;
}

char *idlc_strndup(struct idlc_ctx *ctx, const char *s, size_t n)
{
    char *p = idlc_alloc(ctx, n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *idlc_strdup(struct idlc_ctx *ctx, const char *s)
{
    return idlc_strndup(ctx, s, strlen(s));
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

const char *idlc_intern(struct idlc_ctx *ctx, const char *s, size_t n)
{
    if (ctx->strn * 2 >= ctx->strcap) {
        size_t cap = ctx->strcap ? ctx->strcap * 2 : 1024;
        const char **t = calloc(cap, sizeof *t);
        if (!t)
            abort();
        for (size_t i = 0; i < ctx->strcap; i++) {
            const char *x = ctx->strtab[i];
            if (!x)
                continue;
            size_t j = hash_bytes(x, strlen(x)) & (cap - 1);
            while (t[j])
                j = (j + 1) & (cap - 1);
            t[j] = x;
        }
        free(ctx->strtab);
        ctx->strtab = t;
        ctx->strcap = cap;
    }
    size_t j = hash_bytes(s, n) & (ctx->strcap - 1);
    while (ctx->strtab[j]) {
        const char *x = ctx->strtab[j];
        if (!strncmp(x, s, n) && x[n] == 0)
            return x;
        j = (j + 1) & (ctx->strcap - 1);
    }
    const char *p = idlc_strndup(ctx, s, n);
    ctx->strtab[j] = p;
    ctx->strn++;
    return p;
}

/* ------------------------------------------------------------------ pointer-pair map */

static size_t hash_ptrs(const void *a, const void *b)
{
    uint64_t h = (uint64_t)(uintptr_t)a * 0x9e3779b97f4a7c15ull;
    h ^= (uint64_t)(uintptr_t)b + 0x632be59bd9b4e019ull + (h << 6) + (h >> 2);
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return (size_t)h;
}

void *idlc_map_get(const struct idlc_map *m, const void *k1, const void *k2)
{
    if (!m->cap)
        return NULL;
    size_t j = hash_ptrs(k1, k2) & (m->cap - 1);
    while (m->e[j].v) {
        if (m->e[j].k1 == k1 && m->e[j].k2 == k2)
            return m->e[j].v;
        j = (j + 1) & (m->cap - 1);
    }
    return NULL;
}

void *idlc_map_put(struct idlc_ctx *ctx, struct idlc_map *m, const void *k1, const void *k2,
                   void *v)
{
    if (m->n * 2 >= m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        struct idlc_map_ent *e = idlc_alloc(ctx, cap * sizeof *e);
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->e[i].v)
                continue;
            size_t j = hash_ptrs(m->e[i].k1, m->e[i].k2) & (cap - 1);
            while (e[j].v)
                j = (j + 1) & (cap - 1);
            e[j] = m->e[i];
        }
        m->e = e;
        m->cap = cap;
    }
    size_t j = hash_ptrs(k1, k2) & (m->cap - 1);
    while (m->e[j].v) {
        if (m->e[j].k1 == k1 && m->e[j].k2 == k2)
            return m->e[j].v;
        j = (j + 1) & (m->cap - 1);
    }
    m->e[j].k1 = k1;
    m->e[j].k2 = k2;
    m->e[j].v = v;
    m->n++;
    return NULL;
}

/* ------------------------------------------------------------------ context */

void idlc_options_init(struct idlc_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->out_dir = ".";
    opt->diag_out = NULL;
}

struct idlc_ctx *idlc_ctx_create(const struct idlc_options *opt)
{
    struct idlc_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        fputs("idlc: out of memory\n", stderr);
        abort();
    }
    if (opt)
        ctx->opt = *opt;
    else
        idlc_options_init(&ctx->opt);
    if (!ctx->opt.diag_out)
        ctx->opt.diag_out = stderr;
    return ctx;
}

void idlc_ctx_destroy(struct idlc_ctx *ctx)
{
    if (!ctx)
        return;
    while (ctx->arena) {
        struct idlc_arena_chunk *n = ctx->arena->next;
        free(ctx->arena);
        ctx->arena = n;
    }
    free(ctx->strtab);
    free(ctx->units);
    free(ctx->load_stack);
    free(ctx);
}

const struct idlc_options *idlc_ctx_options(const struct idlc_ctx *ctx)
{
    return &ctx->opt;
}

size_t idlc_units(struct idlc_ctx *ctx, struct idlc_unit ***out)
{
    *out = ctx->units;
    return ctx->nunits;
}

/* ------------------------------------------------------------------ small helpers */

char *idlc_value_str(struct idlc_value v, char *buf)
{
    if (v.neg)
        snprintf(buf, 24, "%lld", (long long)(int64_t)v.u);
    else
        snprintf(buf, 24, "%llu", (unsigned long long)v.u);
    return buf;
}

bool idlc_type_is_scalar(enum idlc_type_kind k)
{
    return k >= IDLC_T_BOOL && k <= IDLC_T_I64;
}

unsigned idlc_scalar_width(enum idlc_type_kind k)
{
    switch (k) {
    case IDLC_T_BOOL:
    case IDLC_T_U8:
    case IDLC_T_I8:
        return 1;
    case IDLC_T_U16:
    case IDLC_T_I16:
        return 2;
    case IDLC_T_U32:
    case IDLC_T_I32:
        return 4;
    case IDLC_T_U64:
    case IDLC_T_I64:
        return 8;
    default:
        return 0;
    }
}

bool idlc_scalar_signed(enum idlc_type_kind k)
{
    return k >= IDLC_T_I8 && k <= IDLC_T_I64;
}

const char *idlc_decl_kind_name(enum idlc_decl_kind k)
{
    switch (k) {
    case IDLC_D_CONST:
        return "constant";
    case IDLC_D_ENUM:
        return "enum";
    case IDLC_D_STRUCT:
        return "struct";
    default:
        return "union";
    }
}

const char *idlc_type_kind_name(enum idlc_type_kind k)
{
    static const char *const names[] = {
        [IDLC_T_BOOL] = "bool",     [IDLC_T_U8] = "u8",         [IDLC_T_U16] = "u16",
        [IDLC_T_U32] = "u32",       [IDLC_T_U64] = "u64",       [IDLC_T_I8] = "i8",
        [IDLC_T_I16] = "i16",       [IDLC_T_I32] = "i32",       [IDLC_T_I64] = "i64",
        [IDLC_T_NAMED] = "name",    [IDLC_T_ENUM] = "enum",     [IDLC_T_STRUCT] = "struct",
        [IDLC_T_UNION] = "union",   [IDLC_T_ARRAY] = "array",   [IDLC_T_VECTOR] = "bounded array",
        [IDLC_T_STRING] = "string", [IDLC_T_BUFFER] = "buffer",
    };
    if ((unsigned)k < sizeof names / sizeof names[0] && names[k])
        return names[k];
    return "?";
}

const char *idlc_role_name(enum idlc_role r)
{
    return r == IDLC_ROLE_BACKEND ? "backend" : "frontend";
}

/* ------------------------------------------------------------------ sources */

static struct idlc_source *make_source(struct idlc_ctx *ctx, const char *path, const char *text,
                                       size_t len)
{
    struct idlc_source *s = idlc_alloc(ctx, sizeof *s);
    s->path = idlc_strdup(ctx, path);
    char *t = idlc_alloc(ctx, len + 1);
    memcpy(t, text, len);
    t[len] = 0;
    s->text = t;
    s->len = len;
    /* lines end at "\n", "\r\n" or a lone "\r", as the lexer counts them */
    uint32_t n = 1;
    for (size_t i = 0; i < len; i++)
        if (t[i] == '\n' || (t[i] == '\r' && t[i + 1] != '\n'))
            n++;
    uint32_t *off = idlc_alloc(ctx, n * sizeof *off);
    off[0] = 0;
    uint32_t k = 1;
    for (size_t i = 0; i < len; i++)
        if (t[i] == '\n' || (t[i] == '\r' && t[i + 1] != '\n'))
            off[k++] = (uint32_t)(i + 1);
    s->line_off = off;
    s->nlines = n;
    return s;
}

/* Reads a whole file; NULL with errno set on failure. Caller frees. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        errno = EISDIR;
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return NULL;
    }
    for (;;) {
        if (n == cap) {
            if (cap > ((size_t)1 << 30)) { /* 1 GiB: not an IDL file */
                free(buf);
                fclose(f);
                errno = EFBIG;
                return NULL;
            }
            cap *= 2;
            char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = p;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f)) {
                int e = errno;
                free(buf);
                fclose(f);
                errno = e ? e : EIO;
                return NULL;
            }
            break;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

static const char *path_basename(struct idlc_ctx *ctx, const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (n > 4 && !strcmp(b + n - 4, ".idl"))
        n -= 4;
    return idlc_intern(ctx, b, n);
}

static void push_unit(struct idlc_ctx *ctx, struct idlc_unit *u)
{
    if (ctx->nunits == ctx->units_cap) {
        ctx->units_cap = ctx->units_cap ? ctx->units_cap * 2 : 8;
        /* an array of pointers: the element is a pointer */
        // NOLINTNEXTLINE(bugprone-sizeof-expression)
        ctx->units = realloc(ctx->units, ctx->units_cap * sizeof *ctx->units);
        if (!ctx->units)
            abort();
    }
    ctx->units[ctx->nunits++] = u;
}

static void load_imports(struct idlc_ctx *ctx, struct idlc_unit *u);

static struct idlc_unit *new_unit(struct idlc_ctx *ctx, const char *path, const char *text,
                                  size_t len)
{
    struct idlc_unit *u = idlc_alloc(ctx, sizeof *u);
    u->ctx = ctx;
    u->src = make_source(ctx, path, text, len);
    u->path = u->src->path;
    u->basename = path_basename(ctx, path);
    u->name = u->basename;
    u->version = 1;
    u->max_frame = IDLC_DEFAULT_MAX_FRAME;
    return u;
}

/* Parses u, then loads its imports. from: the import that brought u in, or NULL. */
static struct idlc_unit *parse_and_load(struct idlc_ctx *ctx, struct idlc_unit *u, const char *key,
                                        const struct idlc_loc *from)
{
    if (key)
        idlc_map_put(ctx, &ctx->unit_by_path, key, NULL, u);
    if (idlc_parse_source(ctx, u) && from)
        idlc_note(ctx, *from, "in the file imported here");
    u->state = 1; /* loading imports */
    if (ctx->load_depth == ctx->load_cap) {
        ctx->load_cap = ctx->load_cap ? ctx->load_cap * 2 : 16;
        /* an array of pointers: the element is a pointer */
        // NOLINTNEXTLINE(bugprone-sizeof-expression)
        ctx->load_stack = realloc(ctx->load_stack, ctx->load_cap * sizeof *ctx->load_stack);
        if (!ctx->load_stack)
            abort();
    }
    ctx->load_stack[ctx->load_depth++] = u;
    load_imports(ctx, u);
    ctx->load_depth--;
    u->state = 2;
    push_unit(ctx, u);
    return u;
}

static const char *canonical(struct idlc_ctx *ctx, const char *path)
{
    char buf[PATH_MAX];
    if (realpath(path, buf))
        return idlc_intern(ctx, buf, strlen(buf));
    return idlc_intern(ctx, path, strlen(path));
}

struct idlc_unit *idlc_parse_file(struct idlc_ctx *ctx, const char *path)
{
    size_t len;
    char *text = read_file(path, &len);
    if (!text) {
        struct idlc_loc none = { 0 };
        idlc_error(ctx, none, "cannot read '%s': %s", path, strerror(errno));
        return NULL;
    }
    const char *key = canonical(ctx, path);
    struct idlc_unit *u = idlc_map_get(&ctx->unit_by_path, key, NULL);
    if (u) {
        free(text);
        return u;
    }
    u = new_unit(ctx, path, text, len);
    free(text);
    return parse_and_load(ctx, u, key, NULL);
}

struct idlc_unit *idlc_parse_string(struct idlc_ctx *ctx, const char *name, const char *text)
{
    struct idlc_unit *u = new_unit(ctx, name, text, strlen(text));
    return parse_and_load(ctx, u, NULL, NULL);
}

static bool file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* "dir/of/importer" + "/" + rel, or rel when the importer has no directory */
static char *join_dir(struct idlc_ctx *ctx, const char *file, size_t dirlen, const char *rel)
{
    size_t rl = strlen(rel);
    char *p = idlc_alloc(ctx, dirlen + rl + 2);
    if (dirlen) {
        memcpy(p, file, dirlen);
        p[dirlen] = '/';
        memcpy(p + dirlen + 1, rel, rl + 1);
    } else {
        memcpy(p, rel, rl + 1);
    }
    return p;
}

static void load_imports(struct idlc_ctx *ctx, struct idlc_unit *u)
{
    for (struct idlc_import *im = u->imports; im; im = im->next) {
        if (!im->path[0]) {
            idlc_error(ctx, im->loc, "empty import path");
            continue;
        }
        char *found = NULL;
        if (im->path[0] == '/') {
            if (file_exists(im->path))
                found = idlc_strdup(ctx, im->path);
        } else {
            const char *slash = strrchr(u->path, '/');
            size_t dl = slash ? (size_t)(slash - u->path) : 0;
            if (slash && dl == 0)
                dl = 1; /* file in "/" */
            char *p = join_dir(ctx, u->path, dl, im->path);
            if (file_exists(p))
                found = p;
            for (size_t i = 0; !found && i < ctx->opt.ninclude_dirs; i++) {
                const char *d = ctx->opt.include_dirs[i];
                p = join_dir(ctx, d, strlen(d), im->path);
                if (file_exists(p))
                    found = p;
            }
        }
        if (!found) {
            ctx->hard_errors++;
            idlc_error(ctx, im->loc, "imported file '%s' not found", im->path);
            if (ctx->opt.ninclude_dirs == 0)
                idlc_note(ctx, im->loc, "searched next to '%s' (add directories with -I)", u->path);
            else
                idlc_note(ctx, im->loc, "searched next to '%s' and in %zu -I director%s", u->path,
                          ctx->opt.ninclude_dirs, ctx->opt.ninclude_dirs == 1 ? "y" : "ies");
            continue;
        }
        const char *key = canonical(ctx, found);
        struct idlc_unit *iu = idlc_map_get(&ctx->unit_by_path, key, NULL);
        if (iu) {
            if (iu->state == 1) {
                ctx->hard_errors++;
                idlc_error(ctx, im->loc, "import cycle: '%s' imports itself", iu->path);
                /* show the chain from the imported unit down to this one */
                size_t start = 0;
                for (size_t i = 0; i < ctx->load_depth; i++)
                    if (ctx->load_stack[i] == iu)
                        start = i;
                for (size_t i = start; i + 1 < ctx->load_depth; i++) {
                    struct idlc_unit *a = ctx->load_stack[i], *b = ctx->load_stack[i + 1];
                    for (struct idlc_import *j = a->imports; j; j = j->next)
                        if (j->unit == b) {
                            idlc_note(ctx, j->loc, "'%s' imports '%s'", a->path, b->path);
                            break;
                        }
                }
                continue;
            }
            im->unit = iu;
            continue;
        }
        size_t len;
        char *text = read_file(found, &len);
        if (!text) {
            ctx->hard_errors++;
            idlc_error(ctx, im->loc, "cannot read imported file '%s': %s", found, strerror(errno));
            continue;
        }
        iu = new_unit(ctx, found, text, len);
        free(text);
        /* set before recursing so the cycle chain can be printed */
        im->unit = iu;
        parse_and_load(ctx, iu, key, &im->loc);
    }
}

struct idlc_decl *idlc_lookup(struct idlc_unit *u, const char *name)
{
    return idlc_map_get(&u->ctx->syms, u, idlc_intern(u->ctx, name, strlen(name)));
}
