/*
 * The manual pages under docs/man (man1/, man3/, man7/, installed as they are by make install):
 * every page renders without a warning in groff and in man -l, every function idc.h declares
 * has a page (a new function without one fails here), every page names a function that exists,
 * cross-references and error codes point at things that exist, and idlc(1) lists every option
 * of idlc --help. Pages are checked in the source tree, from docs/man, so that ".so manN/x.N"
 * links resolve as they do once installed.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <glob.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MANDIR IDC_SRCDIR "/docs/man"
#define HEADER IDC_SRCDIR "/runtime/include/idc.h"

/* man3 pages that document something other than one function of idc.h */
static const char *const not_functions[] = { "idc_generated" };

/* ------------------------------------------------------------------------------ helpers */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *s = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (s = malloc((size_t)n + 1)) != NULL) {
        size_t r = fread(s, 1, (size_t)n, f);
        s[r] = 0;
    }
    fclose(f);
    return s;
}

/* Runs cmd with sh; returns its exit status, standard output in *out (malloc'ed). */
static int run(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "popen %s", cmd);
    size_t cap = 8192, n = 0, r;
    char *s = malloc(cap);
    cr_assert_not_null(s);
    while ((r = fread(s + n, 1, cap - n - 1, p)) > 0) {
        n += r;
        if (cap - n < 2) {
            s = realloc(s, cap *= 2);
            cr_assert_not_null(s);
        }
    }
    s[n] = 0;
    int st = pclose(p);
    *out = s;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool have(const char *prog)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

/* Every page, as "manN/name.N" relative to MANDIR, sorted. */
static size_t pages(char ***out)
{
    glob_t g;
    memset(&g, 0, sizeof g);
    int r = glob(MANDIR "/man[137]/*.[137]", 0, NULL, &g);
    cr_assert(r == 0 || r == GLOB_NOMATCH, "glob failed");
    char **v = calloc(g.gl_pathc + 1, sizeof *v);
    cr_assert_not_null(v);
    for (size_t i = 0; i < g.gl_pathc; i++)
        v[i] = strdup(g.gl_pathv[i] + strlen(MANDIR) + 1);
    size_t n = g.gl_pathc;
    globfree(&g);
    *out = v;
    return n;
}

static char *page_text(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", MANDIR, rel);
    char *s = slurp(path);
    cr_assert_not_null(s, "cannot read %s", path);
    return s;
}

/* "man3/x.3" -> "x" (static buffer) */
static const char *page_name(const char *rel)
{
    static char name[256];
    const char *b = strchr(rel, '/') + 1;
    size_t n = strcspn(b, ".");
    snprintf(name, sizeof name, "%.*s", (int)n, b);
    return name;
}

/* A link page is one line ".so manN/target.N"; returns the target or NULL. */
static char *so_target(const char *text)
{
    if (strncmp(text, ".so ", 4) != 0)
        return NULL;
    size_t n = strcspn(text + 4, "\n");
    char *t = strndup(text + 4, n);
    cr_assert_not_null(t);
    return t;
}

/* The text of section SH (between ".SH SH" and the next ".SH"), malloc'ed, or NULL. */
static char *section(const char *text, const char *sh)
{
    char head[64];
    snprintf(head, sizeof head, "\n.SH %s\n", sh);
    const char *p = strstr(text, head);
    if (!p) {
        snprintf(head, sizeof head, "\n.SH \"%s\"\n", sh);
        p = strstr(text, head);
    }
    if (!p)
        return NULL;
    p += strlen(head);
    const char *e = strstr(p, "\n.SH ");
    return strndup(p, e ? (size_t)(e - p) + 1 : strlen(p));
}

/* The functions idc.h declares: "idc_name(" outside comments, not a function pointer. */
static size_t header_functions(char ***out)
{
    char *h = slurp(HEADER);
    cr_assert_not_null(h, "cannot read %s", HEADER);
    /* blank out comments */
    for (char *p = h; *p; p++) {
        if (p[0] == '/' && p[1] == '*') {
            char *e = strstr(p + 2, "*/");
            char *end = e ? e + 2 : p + strlen(p);
            memset(p, ' ', (size_t)(end - p));
            p = end - 1;
        } else if (p[0] == '/' && p[1] == '/') {
            while (*p && *p != '\n')
                *p++ = ' ';
            if (!*p)
                break;
        }
    }
    char **v = NULL;
    size_t n = 0;
    for (char *p = h; (p = strstr(p, "idc_")) != NULL; p++) {
        if (p > h && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
            continue;
        char *q = p;
        while (isalnum((unsigned char)*q) || *q == '_')
            q++;
        char *r = q;
        while (*r == ' ' || *r == '\t')
            r++;
        if (*r != '(')
            continue;
        char *b = p; /* "(*idc_fn)(": a function pointer type */
        while (b > h && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (b > h && b[-1] == '*') {
            b--;
            while (b > h && (b[-1] == ' ' || b[-1] == '\t'))
                b--;
            if (b > h && b[-1] == '(')
                continue;
        }
        char *name = strndup(p, (size_t)(q - p));
        bool dup = false;
        for (size_t i = 0; i < n; i++)
            dup |= strcmp(v[i], name) == 0;
        if (dup) {
            free(name);
            continue;
        }
        v = realloc(v, (n + 2) * sizeof *v);
        cr_assert_not_null(v);
        v[n++] = name;
        v[n] = NULL;
    }
    free(h);
    *out = v;
    return n;
}

static void free_list(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static bool in_list(char **v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

/* ------------------------------------------------------------------------------- tests */

TestSuite(man);

Test(man, every_page_renders_in_groff_without_warnings)
{
    if (!have("groff"))
        cr_skip_test("groff is not installed (Debian: groff-base): pages not rendered");
    char **v;
    size_t n = pages(&v);
    cr_assert_gt(n, 0, "no pages under %s", MANDIR);
    for (size_t i = 0; i < n; i++) {
        char cmd[2048], *out;
        /* from docs/man, so that .so requests resolve; stderr only */
        snprintf(cmd, sizeof cmd, "cd '%s' && LC_ALL=C groff -ww -z -man '%s' 2>&1", MANDIR, v[i]);
        int st = run(cmd, &out);
        cr_expect_eq(st, 0, "groff failed on %s", v[i]);
        cr_expect_str_empty(out, "groff -ww on %s:\n%s", v[i], out);
        free(out);
    }
    free_list(v);
}

Test(man, every_page_formats_with_man_l_within_80_columns)
{
    if (!have("man"))
        cr_skip_test("man is not installed (Debian: man-db): man -l not tried");
    char tmpl[] = "/tmp/idc-man-XXXXXX";
    char *dir = mkdtemp(tmpl);
    cr_assert_not_null(dir);
    char errf[256];
    snprintf(errf, sizeof errf, "%s/stderr", dir);
    char **v;
    size_t n = pages(&v);
    cr_assert_gt(n, 0);
    for (size_t i = 0; i < n; i++) {
        char cmd[2048], *out;
        snprintf(cmd, sizeof cmd, "cd '%s' && LC_ALL=C MANWIDTH=80 man --warnings=w -l '%s' 2>'%s'",
                 MANDIR, v[i], errf);
        int st = run(cmd, &out);
        char *err = slurp(errf);
        cr_expect_eq(st, 0, "man -l %s failed: %s", v[i], err ? err : "");
        cr_expect(err && err[0] == 0, "man -l %s warns:\n%s", v[i], err ? err : "");
        cr_expect(strstr(out, "NAME") != NULL, "man -l %s printed no NAME section", v[i]);
        /* lines of no-fill text (prototypes, diagrams) are never wrapped: keep them short */
        for (char *line = out; *line;) {
            size_t len = strcspn(line, "\n");
            cr_expect_leq(len, 80, "%s: a line of %zu columns: %.*s", v[i], len, (int)len, line);
            line += len + (line[len] == '\n');
        }
        free(err);
        free(out);
    }
    unlink(errf);
    rmdir(dir);
    free_list(v);
}

Test(man, every_function_of_idc_h_has_a_page)
{
    char **fn;
    size_t nfn = header_functions(&fn);
    cr_assert_geq(nfn, 20, "only %zu functions found in idc.h: is the parser broken?", nfn);
    for (size_t i = 0; i < nfn; i++) {
        char rel[512];
        snprintf(rel, sizeof rel, "man3/%s.3", fn[i]);
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", MANDIR, rel);
        if (access(path, R_OK) != 0) {
            cr_expect_fail("%s is declared in idc.h but has no page %s (write one, or a "
                           "\".so man3/PAGE.3\" link to the page that documents it)",
                           fn[i], rel);
            continue;
        }
        char *text = page_text(rel);
        char *target = so_target(text);
        if (target) {
            free(text);
            text = page_text(target);
            free(target);
        }
        char *name = section(text, "NAME");
        char *syn = section(text, "SYNOPSIS");
        char call[256];
        snprintf(call, sizeof call, "%s(", fn[i]);
        cr_expect(name && strstr(name, fn[i]), "the NAME section of %s does not name %s", rel,
                  fn[i]);
        cr_expect(syn && strstr(syn, call), "the SYNOPSIS of %s does not declare %s", rel, fn[i]);
        free(name);
        free(syn);
        free(text);
    }
    free_list(fn);
}

Test(man, every_man3_page_documents_something_that_exists)
{
    char **fn;
    size_t nfn = header_functions(&fn);
    char **v;
    size_t n = pages(&v);
    for (size_t i = 0; i < n; i++) {
        if (strncmp(v[i], "man3/", 5) != 0)
            continue;
        const char *name = page_name(v[i]);
        bool other = false;
        for (size_t k = 0; k < sizeof not_functions / sizeof not_functions[0]; k++)
            other |= strcmp(name, not_functions[k]) == 0;
        cr_expect(other || in_list(fn, nfn, name),
                  "%s documents %s, which idc.h does not declare (renamed or removed?)", v[i],
                  name);
    }
    free_list(fn);
    free_list(v);
}

Test(man, pages_have_their_header_and_sections)
{
    char **v;
    size_t n = pages(&v);
    for (size_t i = 0; i < n; i++) {
        char *text = page_text(v[i]);
        char *target = so_target(text);
        if (target) {
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", MANDIR, target);
            cr_expect(access(path, R_OK) == 0, "%s links to %s, which does not exist", v[i],
                      target);
            cr_expect(strchr(text, '\n') == NULL || strchr(text, '\n')[1] == 0,
                      "%s: a link page holds only its .so line", v[i]);
            free(target);
            free(text);
            continue;
        }
        char sec = v[i][3];
        char th[512];
        snprintf(th, sizeof th, ".TH %s %c \"", page_name(v[i]), sec);
        cr_expect(strstr(text, th) != NULL, "%s: no \"%s...\" line", v[i], th);
        char ver[64];
        snprintf(ver, sizeof ver, "\"idc %s\"", IDC_VERSION);
        cr_expect(strstr(text, ver) != NULL, "%s: .TH does not say %s", v[i], ver);
        const char *need3[] = { "NAME",   "SYNOPSIS", "DESCRIPTION", "RETURN VALUE",
                                "ERRORS", "SEE ALSO", NULL };
        const char *need[] = { "NAME", "DESCRIPTION", "SEE ALSO", NULL };
        for (const char *const *s = sec == '3' ? need3 : need; *s; s++) {
            char *body = section(text, *s);
            cr_expect(body != NULL, "%s has no %s section", v[i], *s);
            free(body);
        }
        for (const unsigned char *p = (const unsigned char *)text; *p; p++)
            if (*p >= 0x80) {
                cr_expect_fail("%s: non-ASCII byte (use a groff escape such as \\(em)", v[i]);
                break;
            }
        free(text);
    }
    free_list(v);
}

Test(man, references_to_idc_pages_resolve)
{
    char **v;
    size_t n = pages(&v);
    for (size_t i = 0; i < n; i++) {
        char *text = page_text(v[i]);
        /* ".BR name (N)" anywhere, for names of this project */
        for (char *p = text; (p = strstr(p, "\n.BR ")) != NULL; p++) {
            char name[128];
            char sec;
            if (sscanf(p, "\n.BR %127s (%c)", name, &sec) != 2 || !isdigit((unsigned char)sec))
                continue;
            if (strncmp(name, "idc", 3) != 0 && strncmp(name, "idlc", 4) != 0)
                continue;
            char path[1024];
            snprintf(path, sizeof path, "%s/man%c/%s.%c", MANDIR, sec, name, sec);
            cr_expect(access(path, R_OK) == 0, "%s refers to %s(%c), which has no page", v[i], name,
                      sec);
        }
        free(text);
    }
    free_list(v);
}

Test(man, error_codes_named_in_pages_exist)
{
    char *h = slurp(HEADER);
    cr_assert_not_null(h);
    char **v;
    size_t n = pages(&v);
    for (size_t i = 0; i < n; i++) {
        char *text = page_text(v[i]);
        for (char *p = text; (p = strstr(p, "IDC_ERR_")) != NULL; p++) {
            if (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
                continue;
            size_t len = 8;
            while (isupper((unsigned char)p[len]) || p[len] == '_')
                len++;
            if (len == 8)
                continue; /* "IDC_ERR_*" */
            char code[64];
            snprintf(code, sizeof code, "%.*s ", (int)len, p); /* "IDC_ERR_X " as in the enum */
            cr_expect(strstr(h, code) != NULL, "%s names %.*s, which idc.h does not define", v[i],
                      (int)len, p);
        }
        free(text);
    }
    free(h);
    free_list(v);
}

/* A ".B", ".BI" or ".BR" line of the page starts with the option (written with "\-"). */
static bool page_has_option(const char *page, const char *esc)
{
    static const char *const macros[] = { "\n.B ", "\n.BI ", "\n.BR " };
    for (size_t m = 0; m < 3; m++) {
        char pat[192];
        snprintf(pat, sizeof pat, "%s%s", macros[m], esc);
        for (const char *p = page; (p = strstr(p, pat)) != NULL; p++) {
            char after = p[strlen(pat)];
            if (after == ' ' || after == '\n' || after == '"')
                return true;
        }
    }
    return false;
}

Test(man, idlc_page_lists_every_option_of_idlc_help)
{
    const char *idlc = IDC_BUILDDIR "/bin/idlc";
    if (access(idlc, X_OK) != 0)
        cr_skip_test("%s is not built", idlc);
    char cmd[1024], *help;
    snprintf(cmd, sizeof cmd, "'%s' --help", idlc);
    cr_assert_eq(run(cmd, &help), 0, "idlc --help failed");
    char *page = page_text("man1/idlc.1");
    size_t found = 0;
    /* option lines of the help text: "  -o DIR  ...", "  --color[=WHEN]  ..." */
    for (char *line = help; *line;) {
        size_t len = strcspn(line, "\n");
        if (len > 3 && line[0] == ' ' && line[1] == ' ' && line[2] == '-') {
            const char *o = line + 2;
            size_t olen = strcspn(o, " [=\n");
            char esc[128] = ""; /* "-MF" is written "\-MF" in the page */
            size_t k = 0;
            for (size_t j = 0; j < olen && k + 3 < sizeof esc; j++) {
                if (o[j] == '-')
                    esc[k++] = '\\';
                esc[k++] = o[j];
            }
            esc[k] = 0;
            cr_expect(page_has_option(page, esc),
                      "idlc --help lists %.*s, which docs/man/man1/idlc.1 does not describe",
                      (int)olen, o);
            found++;
        }
        line += len + (line[len] == '\n');
    }
    cr_expect_geq(found, 8, "only %zu options found in idlc --help: has its format changed?",
                  found);
    free(page);
    free(help);
}
