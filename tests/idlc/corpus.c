/*
 * corpus.c - tests/idl/bad: one mistake per file, named after the rule it breaks; NAME.err
 * holds the exact first diagnostic line(s) (error and its notes) the compiler must print.
 * Paths are relative to tests/idl so the expected text is stable.
 */
#include <criterion/criterion.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fe.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char tmp[4096];
    size_t k;
    while ((k = fread(tmp, 1, sizeof tmp, f)) > 0)
        fwrite(tmp, 1, k, m);
    fclose(f);
    fclose(m);
    return buf;
}

/* The first max diagnostic header lines ("file:l:c: severity: msg") of diag. */
static char *headers(const char *diag, unsigned max)
{
    char *out = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&out, &len);
    unsigned n = 0;
    for (const char *p = diag; *p && n < max;) {
        const char *e = strchr(p, '\n');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l && p[0] != ' ') { /* source and caret lines start with the gutter */
            fwrite(p, 1, l, m);
            fputc('\n', m);
            n++;
        }
        p += l + (e ? 1 : 0);
    }
    fclose(m);
    return out;
}

static unsigned count_lines(const char *s)
{
    unsigned n = 0;
    for (; *s; s++)
        if (*s == '\n')
            n++;
    return n;
}

Test(corpus, bad_files_report_the_expected_first_diagnostic)
{
    cr_assert_eq(chdir(IDC_SRCDIR "/tests/idl"), 0);
    glob_t g;
    cr_assert_eq(glob("bad/*.idl", 0, NULL, &g), 0);
    cr_assert_geq(g.gl_pathc, 60, "the bad corpus must have at least 60 files");
    unsigned failed = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *idl = g.gl_pathv[i];
        char err[1024];
        snprintf(err, sizeof err, "%.*s.err", (int)(strlen(idl) - 4), idl);
        char *want = slurp(err);
        cr_expect_not_null(want, "%s has no .err file", idl);
        if (!want) {
            failed++;
            continue;
        }
        struct fe_run r;
        fe_file(&r, idl, NULL, 0);
        cr_expect_neq(r.rc, 0, "%s: accepted", idl);
        char *got = headers(r.diag ? r.diag : "", count_lines(want));
        if (strcmp(got, want)) {
            failed++;
            cr_expect_str_eq(got, want, "%s: full output:\n%s", idl, r.diag);
        }
        free(got);
        free(want);
        fe_free(&r);
    }
    globfree(&g);
    cr_assert_eq(failed, 0);
}

Test(corpus, every_error_shows_the_source_line_and_a_caret)
{
    cr_assert_eq(chdir(IDC_SRCDIR "/tests/idl"), 0);
    struct fe_run r;
    fe_file(&r, "bad/name_undefined_type.idl", NULL, 0);
    cr_assert_str_eq(r.diag, "bad/name_undefined_type.idl:2:12: error: unknown type 'foo'\n"
                             "    2 | struct s { foo x; }\n"
                             "      |            ^~~\n");
    fe_free(&r);
}
