/*
 * driver.c - compile one file (parse, check, dependencies, generate) and the command line.
 *
 * idlc_compile() is what both the idlc program and the tests call; main.c only forwards
 * argv to idlc_main(). Exit codes: 0 success, 1 errors in the input, 2 usage or system error.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idlc.h"

static const struct idlc_loc noloc;

static void put_dep(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == ' ' || *s == '#' || *s == '\\')
            fputc('\\', f);
        if (*s == '$')
            fputc('$', f);
        fputc(*s, f);
    }
}

/* The files one idlc run writes for a unit, after OUTDIR/NAME. Generation takes the list from
 * the template set's manifest; the dependency rule must name the same files. */

/* OUTDIR/NAME followed by suffix ("NAME" alone for the current directory) */
static void put_output(FILE *f, const struct idlc_options *opt, const char *name,
                       const char *suffix)
{
    if (opt->out_dir && strcmp(opt->out_dir, ".")) {
        put_dep(f, opt->out_dir);
        fputc('/', f);
    }
    put_dep(f, name);
    fputs(suffix, f);
}

int idlc_write_deps(struct idlc_ctx *ctx, struct idlc_unit *u, const char *target, FILE *f)
{
    const struct idlc_options *opt = &ctx->opt;
    if (target) {
        fputs(target, f);
    } else {
        const char *const *suf = idlc_c_outputs;
        for (size_t i = 0; suf[i]; i++) {
            if (i)
                fputc(' ', f);
            put_output(f, opt, u->basename, suf[i]);
        }
    }
    fputs(":", f);
    fputc(' ', f);
    put_dep(f, u->path);
    /* every unit loaded for u is one of its (transitive) imports */
    for (size_t i = 0; i < ctx->nunits; i++) {
        if (ctx->units[i] == u)
            continue;
        fputs(" \\\n  ", f);
        put_dep(f, ctx->units[i]->path);
    }
    /*
	 * The generated header includes the headers generated from the imports, so those must
	 * exist before anything using ours is compiled: named as OUTDIR/NAME.h they are targets
	 * of the user's pattern rule. Order-only: their contents do not change ours (the imported
	 * .idl files above do), and a clean parallel build that happens to generate an import
	 * after its user must not run idlc again for the user.
	 */
    bool order_only = false;
    for (size_t i = 0; i < ctx->nunits; i++) {
        const struct idlc_unit *im = ctx->units[i];
        if (im == u || !strcmp(im->basename, u->basename))
            continue;
        fputs(order_only ? " \\\n  " : " \\\n  | ", f);
        order_only = true;
        put_output(f, opt, im->basename, ".h");
    }
    fputc('\n', f);
    /* an empty rule for each prerequisite, so that a deleted import, or a header the
	   makefile has no rule for (made elsewhere), is not an error; a pattern rule that
	   makes the header still applies */
    for (size_t i = 0; i < ctx->nunits; i++) {
        if (ctx->units[i] == u)
            continue;
        fputc('\n', f);
        put_dep(f, ctx->units[i]->path);
        fputs(":\n", f);
    }
    for (size_t i = 0; i < ctx->nunits; i++) {
        const struct idlc_unit *im = ctx->units[i];
        if (im == u || !strcmp(im->basename, u->basename))
            continue;
        fputc('\n', f);
        put_output(f, opt, im->basename, ".h");
        fputs(":\n", f);
    }
    return ferror(f) ? -1 : 0;
}

int idlc_compile(const char *path, const struct idlc_options *opt)
{
    struct idlc_ctx *ctx = idlc_ctx_create(opt);
    struct idlc_out deps = { 0 };
    int rc = 1;
    struct idlc_unit *u = idlc_parse_file(ctx, path);
    if (!u || ctx->hard_errors)
        goto out;
    if (idlc_check(ctx, u) != 0)
        goto out;
    if (ctx->opt.deps_stdout) {
        rc = idlc_write_deps(ctx, u, ctx->opt.deps_target, stdout) ? 2 : 0;
        goto out;
    }
    if (ctx->opt.check_only) {
        rc = 0;
        goto out;
    }
    /* the dependency file is complete before generation starts and published after it:
	   a failed run leaves whatever was at that path untouched */
    if (ctx->opt.deps_file) {
        if (idlc_out_open(ctx, &deps, ctx->opt.deps_file)) {
            rc = 2;
            goto out;
        }
        if (idlc_write_deps(ctx, u, ctx->opt.deps_target, deps.f) || idlc_out_close(ctx, &deps)) {
            if (deps.f) /* else idlc_out_close() said why */
                idlc_error(ctx, noloc, "cannot write '%s'", ctx->opt.deps_file);
            rc = 2;
            goto out;
        }
    }
    if (idlc_generate(u, &ctx->opt) != 0)
        goto out;
    if (ctx->opt.deps_file && idlc_out_publish(ctx, &deps)) {
        rc = 2;
        goto out;
    }
    rc = 0;
out:
    idlc_out_discard(&deps);
    if (rc && idlc_error_count(ctx))
        fprintf(ctx->opt.diag_out, "%u error%s generated.\n", idlc_error_count(ctx),
                idlc_error_count(ctx) == 1 ? "" : "s");
    idlc_ctx_destroy(ctx);
    return rc;
}

/* ------------------------------------------------------------------ command line */

static void usage(FILE *f)
{
    fputs("usage: idlc [options] FILE.idl\n"
          "\n"
          "Checks an idc interface definition and generates C: NAME.h, NAME_codec.c,\n"
          "NAME_client.c and NAME_server.c (NAME is the file name without .idl).\n"
          "\n"
          "options:\n"
          "  -o DIR          write the outputs into DIR (default: .)\n"
          "  -I DIR          search DIR for imported files (after the importing file's directory)\n"
          "  -T DIR          use the templates in DIR (default: ../share/idc/templates/c next to "
          "idlc)\n"
          "  -M              print make dependencies to standard output and generate nothing\n"
          "  -MF FILE        write make dependencies to FILE, and generate\n"
          "  -MT TARGET      target of the dependency rule (default: the four outputs)\n"
          "  --check         check the file only; write nothing\n"
          "  --color[=WHEN]  colour diagnostics: always, never, auto (default)\n"
          "  --version       print the version and exit\n"
          "  --help          print this help and exit\n"
          "\n"
          "Exit status: 0 success, 1 errors in the input, 2 usage or system error.\n",
          f);
}

/* <dir of the executable>/../share/idc/templates/c, or NULL */
static char *default_template_dir(const char *argv0)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        if (!argv0 || !realpath(argv0, exe))
            return NULL;
    } else {
        exe[n] = 0;
    }
    char *slash = strrchr(exe, '/');
    if (!slash)
        return NULL;
    *slash = 0;
    const char *rel = "/../share/idc/templates/c";
    size_t len = strlen(exe) + strlen(rel) + 1;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s%s", exe, rel);
    return p;
}

int idlc_main(int argc, char **argv)
{
    struct idlc_options opt;
    idlc_options_init(&opt);
    const char **incs = calloc((size_t)argc + 1, sizeof *incs);
    if (!incs)
        return 2;
    opt.include_dirs = incs;
    const char *file = NULL;
    int color = -1;
    int rc = 2;
    char *tdir = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        const char *val = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            rc = 0;
            goto out;
        } else if (!strcmp(a, "--version")) {
            printf("idlc (idc) %s\n", IDC_VERSION);
            rc = 0;
            goto out;
        } else if (!strcmp(a, "-M")) {
            opt.deps_stdout = true;
            continue;
        } else if (!strcmp(a, "--check") || !strcmp(a, "-fsyntax-only")) {
            opt.check_only = true;
            continue;
        } else if (!strcmp(a, "--color") || !strcmp(a, "--color=always")) {
            color = 1;
            continue;
        } else if (!strcmp(a, "--color=never") || !strcmp(a, "--no-color")) {
            color = 0;
            continue;
        } else if (!strcmp(a, "--color=auto")) {
            color = -1;
            continue;
        } else if (!strcmp(a, "-MF") || !strcmp(a, "-MT")) {
            dst = a[2] == 'F' ? &opt.deps_file : &opt.deps_target;
            if (i + 1 >= argc) {
                fprintf(stderr, "idlc: option '%s' needs an argument\n", a);
                goto bad;
            }
            *dst = argv[++i];
            continue;
        } else if (a[0] == '-' && (a[1] == 'o' || a[1] == 'I' || a[1] == 'T')) {
            if (a[2]) {
                val = a + 2;
            } else if (i + 1 < argc) {
                val = argv[++i];
            } else {
                fprintf(stderr, "idlc: option '%s' needs an argument\n", a);
                goto bad;
            }
            if (a[1] == 'o')
                opt.out_dir = val;
            else if (a[1] == 'I')
                incs[opt.ninclude_dirs++] = val;
            else
                opt.template_dir = val;
            continue;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "idlc: unknown option '%s'\n", a);
            goto bad;
        }
        if (file) {
            fprintf(stderr, "idlc: more than one input file ('%s' and '%s')\n", file, a);
            goto bad;
        }
        file = a;
    }
    if (!file) {
        fprintf(stderr, "idlc: no input file\n");
        goto bad;
    }
    if (color < 0) {
        const char *term = getenv("TERM");
        color = isatty(2) && !getenv("NO_COLOR") && term && strcmp(term, "dumb");
    }
    opt.color = color;
    if (!opt.template_dir) {
        tdir = default_template_dir(argv[0]);
        if (!tdir) {
            fprintf(stderr, "idlc: cannot locate the template directory; use -T DIR\n");
            rc = 2;
            goto out;
        }
        opt.template_dir = tdir;
    }
    /* an interrupted run removes its temporary files (output.c) */
    idlc_cleanup_on_signals();
    rc = idlc_compile(file, &opt);
    goto out;
bad:
    fputs("Try 'idlc --help' for more information.\n", stderr);
    rc = 2;
out:
    free(tdir);
    free(incs);
    return rc;
}
