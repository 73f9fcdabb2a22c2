/*
 * standalone.c - the generated files as a C compiler sees them, beyond the golden text:
 *   - the codec of a protocol builds alone (-DIDC_CODEC_ONLY) and includes nothing beyond
 *     <stdint.h>, <stddef.h>, <stdbool.h> and <string.h> (and the idc headers);
 *   - under __KERNEL__ the codec, the endpoint glue and the rings take those from <linux/...>
 *     instead and compile as kernels before 5.18 do (gnu89, no declaration after a statement);
 *   - every accepted file of tests/idl/good generates C that compiles warning-free;
 *   - every name the generated files define is one idlc spelled, and so checked for clashes.
 */
#include <criterion/criterion.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "idlc.h"

#include "shell.h"

#define IDLC   IDC_BUILDDIR "/bin/idlc"
#define GEN    IDC_BUILDDIR "/gen"
#define GOLDEN IDC_SRCDIR "/tests/golden"
#define RTINC  IDC_SRCDIR "/runtime/include"
#define STRICT "cc -std=c11 -Wall -Wextra -Werror -pedantic"

TestSuite(standalone, .fini = remove_tmpdir);

/* Output of a shell command, NUL terminated (malloc'ed). */
static char *capture(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *capture(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char *out = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&out, &len);
    char buf[4096];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, p)) > 0)
        fwrite(buf, 1, k, m);
    fclose(m);
    cr_assert_eq(pclose(p), 0, "failed: %s\n%s", cmd, out);
    return out;
}

static bool under(const char *path, const char *dir)
{
    return !strncmp(path, dir, strlen(dir));
}

/*
 * Checks the -H trace of a compile (one ". path" line per included header, one dot per level):
 * every header a file of ours (under one of the dirs) includes directly is ours or allowed.
 */
static void check_includes(const char *trace, const char *const *ours, const char *const *allowed,
                           const char *what)
{
    static char stack[64][1024];
    bool own[64];
    own[0] = true; /* the file compiled */
    snprintf(stack[0], sizeof stack[0], "%s", what);
    int n = 0;
    for (const char *p = trace; *p;) {
        const char *e = strchr(p, '\n');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        int depth = 0;
        while ((size_t)depth < l && p[depth] == '.')
            depth++;
        if (depth > 0 && depth < 64 && p[depth] == ' ') {
            char *path = stack[depth];
            snprintf(path, sizeof stack[0], "%.*s", (int)(l - (size_t)depth - 1), p + depth + 1);
            bool mine = false;
            for (const char *const *d = ours; *d; d++)
                mine |= under(path, *d);
            if (own[depth - 1] && !mine) {
                bool ok = false;
                size_t pl = strlen(path);
                for (const char *const *a = allowed; *a; a++) {
                    size_t al = strlen(*a);
                    ok |= pl >= al && !strcmp(path + pl - al, *a) &&
                          (pl == al || path[pl - al - 1] == '/');
                }
                cr_expect(ok, "%s: %s includes %s", what, stack[depth - 1], path);
            }
            own[depth] = mine;
            n++;
        }
        p += l + (e ? 1 : 0);
    }
    cr_assert_gt(n, 0, "%s: no include trace: the check would prove nothing", what);
}

/* ------------------------------------------------------------------ codec alone */

static const char *const base_headers[] = { "stdint.h", "stddef.h", "stdbool.h", "string.h", NULL };

Test(standalone, codec_includes_only_the_four_base_headers)
{
    const char *const ours[] = { IDC_SRCDIR, IDC_BUILDDIR, NULL };
    char *t = capture(
        STRICT
        " -DIDC_CODEC_ONLY -I'%s' -I'%s/small' -H -fsyntax-only '%s/small/small_codec.c' 2>&1",
        RTINC, GOLDEN, GOLDEN);
    check_includes(t, ours, base_headers, "small_codec.c");
    free(t);
    t = capture(STRICT
                " -DIDC_CODEC_ONLY -I'%s' -I'%s' -H -fsyntax-only '%s/everything_codec.c' 2>&1",
                RTINC, GEN, GEN);
    check_includes(t, ours, base_headers, "everything_codec.c");
    free(t);
}

/* kbuild: no libc headers at all (-nostdinc), the kernel's instead (tests/gen/kernel stands in
   for them), gnu89 with -Wdeclaration-after-statement as kernels before 5.18 compile. The real
   kernel build (W=1, Debian's kernel headers) is the kbuild suite's; this one also holds the
   older C dialect to account and needs no kernel headers. */
static void check_kernel_compile(const char *file, const char *const *allowed,
                                 const char *const *ours)
{
    char dir[512];
    char *t;
    snprintf(dir, sizeof dir, "%s", file);
    *strrchr(dir, '/') = 0;
    t = capture("cc -std=gnu89 -D__KERNEL__ -nostdinc -isystem '%s/tests/gen/kernel' -I'%s' "
                "-I'%s/runtime/core' -I'%s' -Wall -Wextra -Werror -Wdeclaration-after-statement "
                "-H -fsyntax-only '%s' 2>&1",
                IDC_SRCDIR, RTINC, IDC_SRCDIR, dir, file);
    check_includes(t, ours, allowed, file);
    free(t);
}

Test(standalone, codec_builds_as_kernel_code)
{
    const char *const kernel[] = { "linux/types.h", "linux/stddef.h", "linux/string.h", NULL };
    const char *const files[] = { GOLDEN "/small/small_codec.c", GEN "/everything_codec.c",
                                  GEN "/blkif_codec.c" };
    const char *const ours[] = { GOLDEN, GEN, RTINC, IDC_SRCDIR "/tests/gen/kernel", NULL };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        check_kernel_compile(files[i], kernel, ours);
}

/* the endpoint glue too, its heap path (kmalloc) included: console has payloads over 1 KiB,
   golden/big over 16 KiB */
Test(standalone, glue_builds_as_kernel_code)
{
    const char *const kernel[] = { "linux/types.h", "linux/stddef.h", "linux/string.h",
                                   "linux/slab.h", NULL };
    const char *const files[] = { GEN "/blkif_client.c",      GEN "/blkif_server.c",
                                  GEN "/console_client.c",    GEN "/console_server.c",
                                  GEN "/everything_client.c", GEN "/everything_server.c",
                                  GOLDEN "/big/big_client.c", GOLDEN "/big/big_server.c" };
    const char *const ours[] = { GOLDEN, GEN, RTINC, IDC_SRCDIR "/tests/gen/kernel", NULL };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        check_kernel_compile(files[i], kernel, ours);
}

/* the rings: the one ring.c of libidc, built as kernel code */
Test(standalone, ring_builds_as_kernel_code)
{
    const char *const kernel[] = { "linux/types.h",    "linux/stddef.h", "linux/string.h",
                                   "linux/compiler.h", "asm/barrier.h",  NULL };
    const char *const ours[] = { IDC_SRCDIR "/runtime", IDC_SRCDIR "/tests/gen/kernel", NULL };
    check_kernel_compile(IDC_SRCDIR "/runtime/core/ring.c", kernel, ours);
}

/* ------------------------------------------------------------------ every accepted file */

/* idlc on every tests/idl/good file (imports included), then each output compiled strictly;
   the codec also alone */
Test(standalone, good_corpus_generates_compiling_c)
{
    glob_t g;
    make_tmpdir("standalone");
    cr_assert_eq(glob(IDC_SRCDIR "/tests/idl/good/*.idl", 0, NULL, &g), 0);
    cr_assert_eq(glob(IDC_SRCDIR "/tests/idl/good/inc/*.idl", GLOB_APPEND, NULL, &g), 0);
    cr_assert_geq(g.gl_pathc, 8);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *idl = g.gl_pathv[i];
        /* version 4294967295 checks, but takes a hash per version to generate: refused */
        bool too_many_versions = strstr(idl, "/limits.idl") != NULL;
        cr_assert_eq(run("'%s' -o '%s' '%s' 2>/dev/null", IDLC, tmpdir, idl) != 0,
                     too_many_versions, "idlc on %s", idl);
    }
    for (size_t i = 0; i < g.gl_pathc; i++) {
        char name[256];
        if (strstr(g.gl_pathv[i], "/limits.idl"))
            continue;
        const char *b = strrchr(g.gl_pathv[i], '/') + 1;
        snprintf(name, sizeof name, "%.*s", (int)(strlen(b) - 4), b);
        const char *suffix[] = { "_codec.c", "_client.c", "_server.c" };
        for (int k = 0; k < 3; k++)
            cr_expect_eq(run(STRICT " -I'%s' -I'%s' -c -o /dev/null '%s/%s%s'", RTINC, tmpdir,
                             tmpdir, name, suffix[k]),
                         0, "%s%s does not compile", name, suffix[k]);
        cr_expect_eq(run(STRICT " -DIDC_CODEC_ONLY -I'%s' -I'%s' -c -o /dev/null '%s/%s_codec.c'",
                         RTINC, tmpdir, tmpdir, name),
                     0, "%s_codec.c does not compile alone", name);
    }
    globfree(&g);
    remove_tmpdir();
}

/* ------------------------------------------------------------------ every name is checked */

struct nameset {
    char **v;
    size_t n, cap;
};

static void add_name(void *arg, const struct idlc_cname *n)
{
    struct nameset *s = arg;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        cr_assert_not_null(s->v);
    }
    s->v[s->n++] = strdup(n->c);
}

static bool has_name(const struct nameset *s, const char *c)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i], c))
            return true;
    return false;
}

/* Every name idlc spells for the unit and the units it imports. */
static void names_of(struct idlc_unit *u, struct nameset *s, bool helpers)
{
    idlc_cnames_unit(u, helpers, add_name, s);
    for (struct idlc_decl *d = u->decls; d; d = d->next) {
        idlc_cnames_decl(d, add_name, s);
        for (struct idlc_enumval *v = d->kind == IDLC_D_ENUM ? d->values : NULL; v; v = v->next)
            idlc_cnames_enumval(v, add_name, s);
    }
    for (struct idlc_msg *m = u->msgs; m; m = m->next)
        idlc_cnames_msg(u, m, add_name, s);
    for (struct idlc_import *im = u->imports; im; im = im->next)
        names_of(im->unit, s, false);
}

/* Checks every word of list (one per line, "nm" or "#define" output reduced to names). */
static void expect_known(const struct nameset *s, char *list, const char *what)
{
    int n = 0;
    for (char *w = strtok(list, " \n"); w; w = strtok(NULL, " \n")) {
        /* the runtime's own (static inline in idc.h, idc_wire.h) */
        bool runtime = !strncmp(w, "idc_", 4) || !strncmp(w, "IDC_", 4);
        cr_expect(runtime || has_name(s, w),
                  "%s defines '%s', a name idlc does not know (and so never checks)", what, w);
        n++;
    }
    cr_assert_gt(n, 0, "%s: nothing listed: the check would prove nothing", what);
}

static void check_unit_names(const char *idl, const char *name)
{
    struct idlc_options opt;
    idlc_options_init(&opt);
    opt.diag_out = stderr;
    opt.include_dirs = (const char *[]){ IDC_SRCDIR "/idl" };
    opt.ninclude_dirs = 1;
    struct idlc_ctx *ctx = idlc_ctx_create(&opt);
    struct idlc_unit *u = idlc_parse_file(ctx, idl);
    cr_assert_not_null(u);
    cr_assert_eq(idlc_check(ctx, u), 0);
    struct nameset s = { 0 };
    names_of(u, &s, true);

    /* objects and functions: every symbol the objects define, static ones included */
    const char *suffix[] = { "_codec.c", "_client.c", "_server.c" };
    for (int k = 0; k < 3; k++) {
        char *syms = capture(
            STRICT " -O0 -fkeep-inline-functions -I'%s' -I'%s' -c -o '%s/x.o' '%s/%s%s' && "
                   "nm --defined-only '%s/x.o' | awk '{ print $3 }'",
            RTINC, GEN, tmpdir, GEN, name, suffix[k], tmpdir);
        expect_known(&s, syms, suffix[k]);
        free(syms);
    }
    /* macros: those the header defines beyond what its includes do */
    char *macros = capture(
        "cd '%s' && printf '#include <stdbool.h>\\n#include <stddef.h>\\n#include <stdint.h>\\n"
        "#include <idc.h>\\n' | cc -std=c11 -I'%s' -dM -E - | awk '{ print $2 }' | sed 's/(.*//' | "
        "sort > base && "
        "cc -std=c11 -I'%s' -I'%s' -dM -E '%s/%s.h' | awk '{ print $2 }' | sed 's/(.*//' | sort > "
        "all && "
        "comm -13 base all",
        tmpdir, RTINC, RTINC, GEN, GEN, name);
    expect_known(&s, macros, "the header (macros)");
    free(macros);
    /* struct and enum tags, and enumerators */
    char *tags = capture("sed -n -E 's/^(struct|enum) ([A-Za-z0-9_]+) \\{.*/\\2/p; "
                         "s/^\\t([A-Z0-9_]+) = .*,.*/\\1/p' "
                         "'%s/%s.h'",
                         GEN, name);
    expect_known(&s, tags, "the header (tags)");
    free(tags);
    for (size_t i = 0; i < s.n; i++)
        free(s.v[i]);
    free(s.v);
    idlc_ctx_destroy(ctx);
}

Test(standalone, every_defined_name_is_one_idlc_checks)
{
    make_tmpdir("standalone");
    check_unit_names(IDC_SRCDIR "/idl/everything.idl", "everything");
    check_unit_names(IDC_SRCDIR "/idl/blkif.idl", "blkif");
    remove_tmpdir();
}
