/* sema.c - constants, sizes, versions, and the shipped protocols. */
#include <criterion/criterion.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fe.h"

static const char *idl_dir[] = { IDC_SRCDIR "/idl" };

Test(sema, constant_expressions_follow_c_precedence)
{
    struct fe_run r;
    fe_file(&r, IDC_SRCDIR "/idl/everything.idl", idl_dir, 1);
    cr_assert_eq(r.rc, 0, "%s", r.diag);
    struct {
        const char *name;
        int64_t v;
    } want[] = {
        { "ONE", 1 },
        { "TWO", 2 },
        { "EIGHT", 8 },
        { "SIXTEEN", 16 },
        { "FOUR", 4 },
        { "THREE", 3 },
        { "REM", 2 },
        { "MASK", 0xff },
        { "BITS", 0xfd },
        { "NEG", -5 },
        { "SMALLEST", INT64_MIN },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        struct idlc_decl *d = fe_decl(r.unit, want[i].name);
        cr_assert_not_null(d, "%s", want[i].name);
        cr_assert_eq((int64_t)d->value.u, want[i].v, "%s = %lld", want[i].name,
                     (long long)(int64_t)d->value.u);
        cr_assert_eq(d->value.neg, want[i].v < 0, "%s", want[i].name);
    }
    struct idlc_decl *big = fe_decl(r.unit, "BIG");
    cr_assert_eq(big->value.u, UINT64_MAX);
    cr_assert_not(big->value.neg);
    char buf[24];
    cr_assert_str_eq(idlc_value_str(big->value, buf), "18446744073709551615");
    cr_assert_str_eq(idlc_value_str(fe_decl(r.unit, "SMALLEST")->value, buf),
                     "-9223372036854775808");
    fe_free(&r);
}

Test(sema, shift_and_division_edge_cases)
{
    struct fe_run r;
    fe_string(&r, "t.idl",
              "const A = 1 << 63;\nconst B = -8 >> 1;\nconst C = -7 / 2;\nconst D = -7 % 2;\n"
              "const E = ~0;\nconst F = 0xffffffffffffffff - 1 + 1;\nconst G = -(1 << 63);\n");
    cr_assert_eq(r.rc, 0, "%s", r.diag);
    cr_assert_eq(fe_decl(r.unit, "A")->value.u, 1ull << 63);
    cr_assert_not(fe_decl(r.unit, "A")->value.neg);
    cr_assert_eq((int64_t)fe_decl(r.unit, "B")->value.u, -4);
    cr_assert_eq((int64_t)fe_decl(r.unit, "C")->value.u, -3);
    cr_assert_eq((int64_t)fe_decl(r.unit, "D")->value.u, -1);
    cr_assert_eq((int64_t)fe_decl(r.unit, "E")->value.u, -1);
    cr_assert_eq(fe_decl(r.unit, "F")->value.u, UINT64_MAX);
    cr_assert_eq((int64_t)fe_decl(r.unit, "G")->value.u, INT64_MIN);
    fe_free(&r);
}

Test(sema, blkif_sizes_are_exact)
{
    struct fe_run r;
    fe_file(&r, IDC_SRCDIR "/idl/blkif.idl", idl_dir, 1);
    cr_assert_eq(r.rc, 0, "%s", r.diag);
    struct idlc_unit *u = r.unit;
    cr_assert_eq(u->version, 2);
    cr_assert_eq(u->max_frame, 4096);
    /* segment: buffer 48 + u32 + u32 */
    cr_assert_eq(fe_decl(u, "read_segment")->max_size, 56);
    cr_assert_eq(fe_decl(u, "read_segment")->min_size, 56);
    /* info: u64 u32 u8 bool bool bool string<20> */
    cr_assert_eq(fe_decl(u, "info")->max_size, 8 + 4 + 1 + 1 + 1 + 1 + 4 + 20);
    cr_assert_eq(fe_decl(u, "info")->min_size, 8 + 4 + 1 + 1 + 1 + 1 + 4);
    struct idlc_msg *rd = fe_msg(u, "read");
    cr_assert_eq(rd->args_max_size, 8 + 4 + 11 * 56);
    cr_assert_eq(rd->args_min_size, 8 + 4);
    cr_assert_eq(rd->result_max_size, 8);
    cr_assert_eq(fe_msg(u, "write")->args_max_size, 8 + 4 + 11 * 56 + 1);
    cr_assert_eq(fe_msg(u, "flush")->args_max_size, 0);
    cr_assert_eq(fe_msg(u, "flush")->result_max_size, 0);
    cr_assert_eq(fe_msg(u, "get_info")->result_max_size, 40);
    cr_assert_eq(fe_msg(u, "discard")->attrs.since, 2);
    cr_assert_eq(fe_msg(u, "resized")->role, IDLC_ROLE_BACKEND);
    cr_assert_eq(fe_msg(u, "resized")->opcode, 6);
    cr_assert_eq(fe_field(fe_decl(u, "read_segment")->fields, "buf")->type->rights, IDLC_BUF_WRITE);
    cr_assert_eq(fe_field(fe_decl(u, "write_segment")->fields, "buf")->type->rights, IDLC_BUF_READ);
    fe_free(&r);
}

Test(sema, everything_sizes_are_exact)
{
    struct fe_run r;
    fe_file(&r, IDC_SRCDIR "/idl/everything.idl", idl_dir, 1);
    cr_assert_eq(r.rc, 0, "%s", r.diag);
    struct idlc_unit *u = r.unit;
    cr_assert_eq(fe_decl(u, "scalars")->max_size, 1 + 1 + 2 + 4 + 8 + 1 + 2 + 4 + 8);
    /* 8 + (4+2*4) + (4+16) + (4+3*(4+8)) + 4*8 + (4+3*8) + 3 + 4*48 + 31 */
    cr_assert_eq(fe_decl(u, "containers")->max_size, 8 + 12 + 20 + 40 + 32 + 28 + 3 + 192 + 31);
    /* union: u32 tag + the largest arm (u8 bytes[<= 64] = 68); smallest arm is void */
    cr_assert_eq(fe_decl(u, "value")->max_size, 72);
    cr_assert_eq(fe_decl(u, "value")->min_size, 4);
    /* record: u32 + i16 enum + value + value[<= 2] */
    cr_assert_eq(fe_decl(u, "record")->max_size, 4 + 2 + 72 + 4 + 2 * 72);
    cr_assert_eq(fe_decl(u, "record")->min_size, 4 + 2 + 4 + 4);
    struct idlc_msg *put = fe_msg(u, "put");
    cr_assert_eq(put->args_max_size, 226 + 366);
    struct idlc_field *f = fe_field(put->params, "c");
    cr_assert_eq(f->offset_max, 226);
    struct idlc_decl *t = fe_decl(u, "temperature");
    cr_assert_eq(t->repr, IDLC_T_I16);
    cr_assert_eq((int64_t)t->min.u, -10);
    cr_assert_eq(t->max.u, 45);
    cr_assert_eq((int64_t)fe_enumval(t, "COLD")->value.u, -9);
    cr_assert_eq(fe_enumval(t, "SCORCHING")->attrs.since, 2);
    const char *order[] = { "ping", "scalars_msg", "put",     "sync",
                            "get",  "resize",      "changed", "query" };
    for (unsigned i = 0; i < 8; i++)
        cr_assert_eq(fe_msg(u, order[i])->opcode, i + 1, "%s", order[i]);
    struct idlc_msg *rs = fe_msg(u, "resize");
    cr_assert_eq(rs->attrs.since, 2);
    cr_assert_eq(fe_field(rs->params, "depth")->attrs.since, 3);
    cr_assert_eq(fe_field(rs->params, "size")->type->decl->unit, u->imports->unit);
    fe_free(&r);
}

Test(sema, shipped_protocols_check_cleanly)
{
    glob_t g;
    cr_assert_eq(glob(IDC_SRCDIR "/idl/*.idl", 0, NULL, &g), 0);
    cr_assert_geq(g.gl_pathc, 3);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        struct fe_run r;
        fe_file(&r, g.gl_pathv[i], idl_dir, 1);
        cr_expect_eq(r.rc, 0, "%s:\n%s", g.gl_pathv[i], r.diag);
        cr_expect_eq(r.diag_len, 0, "%s:\n%s", g.gl_pathv[i], r.diag);
        fe_free(&r);
    }
    globfree(&g);
}

Test(sema, good_corpus_checks_cleanly)
{
    glob_t g;
    cr_assert_eq(glob(IDC_SRCDIR "/tests/idl/good/*.idl", 0, NULL, &g), 0);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        struct fe_run r;
        fe_file(&r, g.gl_pathv[i], NULL, 0);
        cr_expect_eq(r.rc, 0, "%s:\n%s", g.gl_pathv[i], r.diag);
        fe_free(&r);
    }
    globfree(&g);
}

Test(sema, exactly_max_frame_is_accepted)
{
    struct fe_run r;
    fe_string(&r, "t.idl",
              "protocol p version 1 max_frame 100;\nfrom frontend {\n"
              "  message fits(u8 a[<= 96]);\n  transaction t(u32 x) -> (string<96> s);\n}\n");
    cr_assert_eq(r.rc, 0, "%s", r.diag);
    cr_assert_eq(fe_msg(r.unit, "fits")->args_max_size, 100);
    fe_free(&r);
    fe_string(&r, "t.idl",
              "protocol p version 1 max_frame 100;\nfrom frontend { message big(u8 a[<= 97]); }\n");
    cr_assert_neq(r.rc, 0);
    cr_assert(
        strstr(r.diag, "message 'big' may need 101 bytes, more than the maximum frame of 100"),
        "%s", r.diag);
    fe_free(&r);
}

Test(sema, ten_thousand_declarations_check_fast)
{
    size_t cap = 4 << 20, n = 0;
    char *src = malloc(cap);
    cr_assert_not_null(src);
    n += (size_t)snprintf(src + n, cap - n, "protocol big version 1 max_frame 65536;\n");
    for (int i = 0; i < 2000; i++)
        n += (size_t)snprintf(src + n, cap - n,
                              "const C%d = %d * 2 + 1;\nenum e%d : u16 { A = 0, B, C = C%d + 2 }\n"
                              "struct s%d { u32 a; e%d b; string<16> c; u8 d[<= C%d]; }\n"
                              "union v%d : e%d { case A: s%d x; case B, C: void; }\n",
                              i, i, i, i, i, i, i, i, i, i);
    n += (size_t)snprintf(src + n, cap - n, "from frontend {\n");
    for (int i = 0; i < 2000; i++)
        n += (size_t)snprintf(src + n, cap - n,
                              "  transaction t%d(s%d x, v%d y) -> (u32 r) raises e%d;\n", i, i, i,
                              i);
    snprintf(src + n, cap - n, "}\n");
    /* the error enums start at 0: make them valid error enums (1..65535) */
    for (char *p = src; (p = strstr(p, "A = 0")); p++)
        p[4] = '1';
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct fe_run r;
    fe_string(&r, "big.idl", src);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_assert_eq(r.rc, 0, "%.2000s", r.diag);
    cr_assert_eq(r.unit->ndecls, 8000);
    cr_assert_eq(r.unit->nmsgs, 2000);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    /* generous bound (sanitizers, loaded machines); a quadratic pass would take far longer */
    cr_assert_lt(secs, 5.0, "took %.3f s", secs);
    fe_free(&r);
    free(src);
}

/* An unknown type names the closest built-in or declared type (and where that is declared);
 * the names people try for raw bytes explain the bounded byte array. */
Test(sema, unknown_types_suggest_the_closest_type)
{
    struct fe_run r;
    fe_string(&r, "t.idl", "protocol p version 1;\nstruct s { Bool a; i33 b; }\n");
    cr_assert(strstr(r.diag, "t.idl:2:12: error: unknown type 'Bool'; did you mean 'bool'?\n"),
              "%s", r.diag);
    cr_assert(strstr(r.diag, "t.idl:2:20: error: unknown type 'i33'; did you mean 'i32'?\n"), "%s",
              r.diag);
    cr_assert_eq(fe_count_errors(r.diag), 2, "%s", r.diag);
    cr_assert_null(strstr(r.diag, "note:"), "%s", r.diag);
    fe_free(&r);

    /* a declared type wins a tie, and the note points at its declaration in the import */
    char path[512];
    snprintf(path, sizeof path, "%s/tests/idl/good/t.idl", IDC_SRCDIR);
    fe_string(&r, path, "import \"inc/shared.idl\";\nstruct s { blobs x; }\n");
    cr_assert(strstr(r.diag, "t.idl:2:12: error: unknown type 'blobs'; did you mean 'blob'?\n"),
              "%s", r.diag);
    cr_assert(strstr(r.diag, "inc/shared.idl:3:8: note: 'blob' is declared here\n"), "%s", r.diag);
    fe_free(&r);

    fe_string(&r, "t.idl", "struct s { bytes<16> data; }\n");
    cr_assert_str_eq(
        r.diag,
        "t.idl:1:12: error: unknown type 'bytes'\n"
        "    1 | struct s { bytes<16> data; }\n"
        "      |            ^~~~~\n"
        "t.idl:1:12: note: for up to 16 bytes of data, write a bounded array: 'u8 NAME[<= 16]'\n"
        "    1 | struct s { bytes<16> data; }\n"
        "      |            ^~~~~\n");
    fe_free(&r);

    /* far from everything: no suggestion */
    fe_string(&r, "t.idl", "struct s { frobnicator x; }\n");
    cr_assert(strstr(r.diag, "error: unknown type 'frobnicator'\n"), "%s", r.diag);
    cr_assert_null(strstr(r.diag, "note:"), "%s", r.diag);
    fe_free(&r);
}
