/* diag.c - diagnostics layout: gutter, caret range, notes, error limit. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "fe.h"

Test(diag, caret_and_tildes_cover_the_range_and_notes_follow)
{
    struct fe_run r;
    fe_string(&r, "t.idl", "protocol p version 1;\nstruct pt { u32 x; }\nstruct pt { u8 y; }\n");
    cr_assert_str_eq(r.diag, "t.idl:3:8: error: redefinition of 'pt'\n"
                             "    3 | struct pt { u8 y; }\n"
                             "      |        ^~\n"
                             "t.idl:2:8: note: previous definition of 'pt' is here\n"
                             "    2 | struct pt { u32 x; }\n"
                             "      |        ^~\n");
    fe_free(&r);
}

Test(diag, tabs_are_kept_so_the_caret_lines_up)
{
    struct fe_run r;
    fe_string(&r, "t.idl", "struct s {\n\tnope x;\n}\n");
    cr_assert_str_eq(r.diag, "t.idl:2:2: error: unknown type 'nope'\n"
                             "    2 | \tnope x;\n"
                             "      | \t^~~~\n");
    fe_free(&r);
}

Test(diag, cr_only_file_shows_the_right_line_and_column)
{
    /* an old Mac file is many lines, not one: the gutter shows line 3 alone */
    struct fe_run r;
    fe_string(&r, "t.idl", "protocol p version 1;\rstruct pt { u8 a; }\rstruct s { nope x; }\r");
    cr_assert_str_eq(r.diag, "t.idl:3:12: error: unknown type 'nope'\n"
                             "    3 | struct s { nope x; }\n"
                             "      |            ^~~~\n");
    fe_free(&r);
    /* the same with "\r\n" */
    fe_string(&r, "t.idl",
              "protocol p version 1;\r\nstruct pt { u8 a; }\r\nstruct s { nope x; }\r\n");
    cr_assert_str_eq(r.diag, "t.idl:3:12: error: unknown type 'nope'\n"
                             "    3 | struct s { nope x; }\n"
                             "      |            ^~~~\n");
    fe_free(&r);
}

Test(diag, expression_ranges_span_the_whole_operand)
{
    struct fe_run r;
    fe_string(&r, "t.idl", "const A = 10 / (4 - 4);\n");
    cr_assert_str_eq(r.diag, "t.idl:1:16: error: division by zero in constant expression\n"
                             "    1 | const A = 10 / (4 - 4);\n"
                             "      |                ^~~~~~~\n");
    fe_free(&r);
}

Test(diag, error_flood_is_capped)
{
    size_t cap = 1 << 16, n = 0;
    char *src = malloc(cap);
    for (int i = 0; i < 150; i++)
        n += (size_t)snprintf(src + n, cap - n, "struct s%d { undefined%d x; }\n", i, i);
    struct fe_run r;
    fe_string(&r, "t.idl", src);
    cr_assert_eq(idlc_error_count(r.ctx), 150);
    cr_assert_eq(fe_count_errors(r.diag), IDLC_MAX_ERRORS);
    cr_assert(strstr(r.diag, "too many errors"), "%s", r.diag);
    fe_free(&r);
    free(src);
}

/* Mutated versions of the shipped protocols: every one must be diagnosed or accepted,
 * never crash (this runs under ASan+UBSan in make check). */
Test(diag, mutated_inputs_never_crash)
{
    static const char *files[] = { IDC_SRCDIR "/idl/everything.idl", IDC_SRCDIR "/idl/blkif.idl" };
    static const char junk[] = "{}()[]<>;:,=@.\"/*\\x0\n $\xff-~9";
    uint64_t seed = 0x243f6a8885a308d3ull;
    for (size_t fi = 0; fi < 2; fi++) {
        FILE *f = fopen(files[fi], "rb");
        cr_assert_not_null(f);
        char base[16384];
        size_t len = fread(base, 1, sizeof base - 1, f);
        fclose(f);
        for (int iter = 0; iter < 400; iter++) {
            char buf[16384];
            memcpy(buf, base, len);
            size_t n = len;
            int edits = 1 + iter % 4;
            for (int e = 0; e < edits; e++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                size_t pos = (size_t)(seed >> 33) % n;
                switch ((seed >> 20) % 3) {
                case 0: /* replace a byte */
                    buf[pos] = junk[(seed >> 8) % (sizeof junk - 1)];
                    break;
                case 1: /* delete a run */
                {
                    size_t k = 1 + (seed >> 12) % 12;
                    if (pos + k > n)
                        k = n - pos;
                    memmove(buf + pos, buf + pos + k, n - pos - k);
                    n -= k;
                    break;
                }
                default: /* truncate */
                    n = pos;
                }
                if (n == 0)
                    break;
            }
            buf[n] = 0;
            struct fe_run r;
            /* parse under the real name so the import still resolves */
            fe_string(&r, files[fi], buf);
            fe_free(&r);
            /* the checks must also survive whatever AST error recovery left behind */
            FILE *null = fopen("/dev/null", "w");
            struct idlc_options opt;
            idlc_options_init(&opt);
            opt.diag_out = null;
            struct idlc_ctx *ctx = idlc_ctx_create(&opt);
            struct idlc_unit *u = idlc_parse_string(ctx, files[fi], buf);
            if (u)
                (void)idlc_check(ctx, u);
            idlc_ctx_destroy(ctx);
            fclose(null);
        }
    }
}

/* Pathological nesting is refused with a diagnostic instead of exhausting the stack. */
Test(diag, deep_nesting_is_refused_not_a_crash)
{
    size_t cap = 1 << 20;
    char *src = malloc(cap);
    struct fe_run r;

    /* a left-associated sum of 50000 terms */
    size_t n = (size_t)snprintf(src, cap, "const A = 1");
    for (int i = 0; i < 50000; i++)
        n += (size_t)snprintf(src + n, cap - n, "+1");
    snprintf(src + n, cap - n, ";\n");
    fe_string(&r, "t.idl", src);
    cr_assert_neq(r.rc, 0);
    cr_assert(strstr(r.diag, "error: nested too deeply"), "%.300s", r.diag);
    fe_free(&r);

    /* 30000 parentheses */
    n = (size_t)snprintf(src, cap, "const A = ");
    for (int i = 0; i < 30000; i++)
        src[n++] = '(';
    src[n++] = '1';
    for (int i = 0; i < 30000; i++)
        src[n++] = ')';
    snprintf(src + n, cap - n, ";\n");
    fe_string(&r, "t.idl", src);
    cr_assert_neq(r.rc, 0);
    cr_assert(strstr(r.diag, "error: nested too deeply for the parser"), "%.300s", r.diag);
    fe_free(&r);

    /* a chain of 5000 forward references */
    n = 0;
    for (int i = 0; i < 5000; i++)
        n += (size_t)snprintf(src + n, cap - n, "struct s%d { s%d x; }\n", i, i + 1);
    snprintf(src + n, cap - n, "struct s5000 { u8 x; }\n");
    fe_string(&r, "t.idl", src);
    cr_assert_neq(r.rc, 0);
    cr_assert(strstr(r.diag, "error: nested too deeply"), "%.300s", r.diag);
    fe_free(&r);

    /* the same chain declared backwards (each use after its declaration) is fine */
    n = (size_t)snprintf(src, cap, "struct s5000 { u8 x; }\n");
    for (int i = 4999; i >= 0; i--)
        n += (size_t)snprintf(src + n, cap - n, "struct s%d { s%d x; }\n", i, i + 1);
    fe_string(&r, "t.idl", src);
    cr_assert_eq(r.rc, 0, "%.300s", r.diag);
    fe_free(&r);
    free(src);
}
