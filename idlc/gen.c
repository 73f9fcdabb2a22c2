/*
 * gen.c - runs m4 over a template set to turn the model of a unit into output files.
 *
 * A template set is a directory (-T) holding m4 files. Its manifest.m4, expanded after the
 * model, prints one line per output file: "TEMPLATE OUTPUT", e.g. "header.m4 blkif.h". Each
 * TEMPLATE is then expanded after the model into OUTPUT. So a new output flavour (another
 * language, a kernel variant, documentation) is a new directory of templates, not C here.
 *
 * m4 is run as `m4 --prefix-builtins --fatal-warnings -I TEMPLATE_DIR MODEL TEMPLATE` (the
 * binary named by $IDLC_M4, default "m4" from PATH), its standard output read through a pipe,
 * the text escapes of the model undone (idlc_unescape), and the result written to a temporary
 * file in the output directory (idlc_out_open: an output that is a device or a FIFO is written
 * in place instead). Its standard error goes to a temporary file, read back once it exited: a
 * template error that names a place of the model ("idc-at FILE:LINE:COL:...", see idc_fatal in
 * templates/c/model.m4) is reported there, as a diagnostic on the IDL source. Only when every
 * output was produced are they published; on any failure every temporary is removed, so nothing
 * partial is ever left behind. The temporaries are listed for removal should a signal end idlc
 * meanwhile (output.c).
 */
#include "idlc.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_OUTPUTS 16

static const struct idlc_loc noloc;

struct buf {
    char *p;
    size_t len, cap;
};

static int buf_append(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->len + n + 1)
            nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np)
            return -1;
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

static char *path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    snprintf(p, a + b + 2, "%s/%s", dir, name);
    return p;
}

/* Reads all of f (from its start) into b. */
static int slurp_file(FILE *f, struct buf *b)
{
    char chunk[4096];
    size_t n;
    rewind(f);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (buf_append(b, chunk, n))
            return -1;
    return ferror(f) ? -1 : 0;
}

/* "FILE:LINE:COL:END_LINE:END_COL" of an idc_at in the model, back into a location. */
static bool parse_at(struct idlc_ctx *ctx, const char *s, struct idlc_loc *loc, const char **rest)
{
    /* five decimal fields, each checked (strtol reports what sscanf would not) */
    long v[5];
    const char *p = s;
    for (int i = 0; i < 5; i++) {
        char *end;
        errno = 0;
        v[i] = strtol(p, &end, 10);
        if (end == p || errno || v[i] < 0 || v[i] > INT_MAX || *end != ':')
            return false;
        p = end + 1;
    }
    if (*p == ' ')
        p++;
    unsigned long file = (unsigned long)v[0];
    int line = (int)v[1], col = (int)v[2], eline = (int)v[3], ecol = (int)v[4];
    int used = (int)(p - s);
    struct idlc_unit **units;
    if (file >= idlc_units(ctx, &units))
        return false;
    *loc = (struct idlc_loc){ units[file]->src, line, col, eline, ecol };
    *rest = s + used;
    return true;
}

/*
 * Passes on what m4 wrote to its standard error (text of the model unescaped). A template error
 * raised after an idc_at ("idc-at LOC: message") becomes an ordinary diagnostic at that place of
 * the IDL, with its source line and caret. Returns the number of such errors.
 */
static unsigned report_m4_errors(struct idlc_ctx *ctx, const char *tmpl, struct buf *err)
{
    unsigned located = 0;
    if (!err->len)
        return 0;
    err->len = idlc_unescape(err->p, err->len);
    err->p[err->len] = 0;
    for (char *line = err->p, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        struct idlc_loc loc;
        const char *msg;
        if (!strncmp(line, "idc-at ", 7) && parse_at(ctx, line + 7, &loc, &msg)) {
            idlc_error(ctx, loc, "%s (in template '%s')", msg, tmpl);
            located++;
        } else {
            fprintf(ctx->opt.diag_out, "%s\n", line);
        }
    }
    return located;
}

/* Runs m4 on model + template, collecting its standard output into out (unescaped). */
static int run_m4(struct idlc_ctx *ctx, const char *tdir, const char *model, const char *tmpl,
                  struct buf *out)
{
    const char *m4 = getenv("IDLC_M4");
    if (!m4 || !*m4)
        m4 = "m4";
    char *tpath = path_join(tdir, tmpl);
    if (!tpath) {
        idlc_error(ctx, noloc, "out of memory");
        return -1;
    }
    if (access(tpath, R_OK)) {
        idlc_error(ctx, noloc, "template '%s': %s", tpath, strerror(errno));
        free(tpath);
        return -1;
    }
    /* m4's diagnostics are read back after it exits: a file cannot fill up like a pipe */
    FILE *errf = tmpfile();
    if (!errf) {
        idlc_error(ctx, noloc, "cannot create a temporary file: %s", strerror(errno));
        free(tpath);
        return -1;
    }
    int pfd[2];
    if (pipe(pfd)) {
        idlc_error(ctx, noloc, "pipe: %s", strerror(errno));
        fclose(errf);
        free(tpath);
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        idlc_error(ctx, noloc, "fork: %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        fclose(errf);
        free(tpath);
        return -1;
    }
    if (pid == 0) {
        dup2(pfd[1], 1);
        dup2(fileno(errf), 2);
        close(pfd[0]);
        close(pfd[1]);
        char *argv[] = { (char *)m4,
                         "--prefix-builtins",
                         "--fatal-warnings",
                         "-I",
                         (char *)tdir,
                         (char *)model,
                         tpath,
                         NULL };
        execvp(m4, argv);
        fprintf(stderr, "idlc: cannot run %s: %s\n", m4, strerror(errno));
        _exit(127);
    }
    close(pfd[1]);
    int rc = 0;
    char chunk[65536];
    for (;;) {
        ssize_t n = read(pfd[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (buf_append(out, chunk, (size_t)n)) {
            idlc_error(ctx, noloc, "out of memory");
            rc = -1;
            break;
        }
    }
    close(pfd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    struct buf err = { 0 };
    unsigned located = 0;
    if (slurp_file(errf, &err) == 0)
        located = report_m4_errors(ctx, tmpl, &err);
    free(err.p);
    fclose(errf);
    if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        if (!located)
            idlc_error(ctx, noloc, "%s failed on template '%s' (%s %d)", m4, tpath,
                       WIFEXITED(status) ? "exit status" : "signal",
                       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        rc = -1;
    }
    free(tpath);
    if (rc == 0) {
        if (!out->p && buf_append(out, "", 0))
            return -1;
        out->len = idlc_unescape(out->p, out->len);
        out->p[out->len] = 0;
    }
    return rc;
}

static bool valid_output_name(const char *s)
{
    return *s && *s != '.' && !strchr(s, '/');
}

int idlc_generate(const struct idlc_unit *u, const struct idlc_options *opt)
{
    struct idlc_ctx *ctx = u->ctx;
    const char *dir = opt->out_dir ? opt->out_dir : ".";
    const char *tdir = opt->template_dir ? opt->template_dir : "templates/c";
    char *model_path = NULL;
    struct idlc_out out[MAX_OUTPUTS];
    char *paths[MAX_OUTPUTS];
    size_t nout = 0;
    struct buf manifest = { 0 };
    int rc = -1;

    /* 1. the model, into a temporary file of its own */
    size_t n = strlen(dir) + strlen(u->basename) + 32;
    model_path = malloc(n);
    if (!model_path) {
        idlc_error(ctx, noloc, "out of memory");
        return -1;
    }
    snprintf(model_path, n, "%s/.%s.model.XXXXXX", dir, u->basename);
    int fd = idlc_temp_create(model_path);
    if (fd < 0) {
        idlc_error(ctx, noloc, "cannot create a temporary file in '%s': %s", dir, strerror(errno));
        free(model_path);
        return -1;
    }
    FILE *mf = fdopen(fd, "w");
    if (!mf) {
        idlc_error(ctx, noloc, "fdopen: %s", strerror(errno));
        close(fd);
        goto out;
    }
    int mrc = idlc_model_write(u, mf);
    if (fclose(mf) && mrc == 0) {
        idlc_error(ctx, noloc, "cannot write '%s': %s", model_path, strerror(errno));
        mrc = -1;
    }
    if (mrc)
        goto out;

    /* 2. which files the template set produces */
    if (run_m4(ctx, tdir, model_path, "manifest.m4", &manifest))
        goto out;
    for (char *line = manifest.p, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        char tmpl[256], name[256], extra;
        int k = sscanf(line, " %255s %255s %c", tmpl, name, &extra);
        if (k <= 0)
            continue;
        if (k != 2 || !valid_output_name(tmpl) || !valid_output_name(name)) {
            idlc_error(ctx, noloc, "%s/manifest.m4: bad line '%s' (want: TEMPLATE OUTPUT)", tdir,
                       line);
            goto out;
        }
        if (nout == MAX_OUTPUTS) {
            idlc_error(ctx, noloc, "%s/manifest.m4: more than %d outputs", tdir, MAX_OUTPUTS);
            goto out;
        }
        /* 3. expand each template into a temporary next to its output */
        struct buf text = { 0 };
        if (run_m4(ctx, tdir, model_path, tmpl, &text)) {
            free(text.p);
            goto out;
        }
        char *path = path_join(dir, name);
        if (!path || idlc_out_open(ctx, &out[nout], path)) {
            if (!path)
                idlc_error(ctx, noloc, "out of memory");
            free(path);
            free(text.p);
            goto out;
        }
        paths[nout] = path; /* borrowed by out[nout]: freed once that is released */
        struct idlc_out *o = &out[nout++];
        fwrite(text.p, 1, text.len, o->f);
        free(text.p);
        if (idlc_out_close(ctx, o))
            goto out;
    }
    if (nout == 0) {
        idlc_error(ctx, noloc, "%s/manifest.m4 names no output file", tdir);
        goto out;
    }

    /* 4. all produced: publish them */
    for (size_t i = 0; i < nout; i++)
        if (idlc_out_publish(ctx, &out[i]))
            goto out;
    rc = 0;
out:
    for (size_t i = 0; i < nout; i++) {
        idlc_out_discard(&out[i]);
        free(paths[i]);
    }
    if (getenv("IDLC_KEEP_MODEL")) {
        idlc_temp_keep(model_path);
        fprintf(stderr, "idlc: model kept in %s\n", model_path);
    } else {
        idlc_temp_remove(model_path);
    }
    free(model_path);
    free(manifest.p);
    return rc;
}
