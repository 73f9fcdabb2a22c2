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
			if (opt->out_dir && strcmp(opt->out_dir, ".")) {
				put_dep(f, opt->out_dir);
				fputc('/', f);
			}
			put_dep(f, u->basename);
			fputs(suf[i], f);
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
	fputc('\n', f);
	for (size_t i = 0; i < ctx->nunits; i++) {
		if (ctx->units[i] == u)
			continue;
		fputc('\n', f);
		put_dep(f, ctx->units[i]->path);
		fputs(":\n", f);
	}
	return ferror(f) ? -1 : 0;
}

/* Writes the dependency file through a temporary renamed into place. */
static int write_deps_file(struct idlc_ctx *ctx, struct idlc_unit *u, const char *path)
{
	size_t n = strlen(path);
	char *tmp = malloc(n + 16);
	if (!tmp)
		return -1;
	snprintf(tmp, n + 16, "%s.tmpXXXXXX", path);
	int fd = mkstemp(tmp);
	struct idlc_loc none = { 0 };
	if (fd < 0) {
		idlc_error(ctx, none, "cannot create '%s': %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
		free(tmp);
		return -1;
	}
	int rc = idlc_write_deps(ctx, u, ctx->opt.deps_target, f);
	if (fclose(f) != 0)
		rc = -1;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -1;
	if (rc) {
		idlc_error(ctx, none, "cannot write '%s': %s", path, strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	return rc;
}

int idlc_compile(const char *path, const struct idlc_options *opt)
{
	struct idlc_ctx *ctx = idlc_ctx_create(opt);
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
	if (ctx->opt.deps_file && write_deps_file(ctx, u, ctx->opt.deps_file)) {
		rc = 2;
		goto out;
	}
	if (idlc_generate(u, &ctx->opt) != 0) {
		if (ctx->opt.deps_file)
			unlink(ctx->opt.deps_file);
		goto out;
	}
	rc = 0;
out:
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
	      "  -T DIR          use the templates in DIR (default: ../share/idc/templates/c next to idlc)\n"
	      "  -M              print make dependencies to standard output and generate nothing\n"
	      "  -MF FILE        write make dependencies to FILE, and generate\n"
	      "  -MT TARGET      target of the dependency rule (default: the four outputs)\n"
	      "  --check         check the file only; write nothing\n"
	      "  --color[=WHEN]  colour diagnostics: always, never, auto (default)\n"
	      "  --version       print the version and exit\n"
	      "  --help          print this help and exit\n"
	      "\n"
	      "Exit status: 0 success, 1 errors in the input, 2 usage or system error.\n", f);
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
