/* lexer.c - tokens, literals, comments, doc comments and source locations. */
#include <criterion/criterion.h>
#include <string.h>

#include "fe.h"

Test(lexer, doc_comments_attach_to_the_next_declaration)
{
    struct fe_run r;
    fe_string(&r, "t.idl",
              "/// The protocol.\nprotocol p version 1;\n"
              "/// First line.\n///   Second line.\nstruct s {\n"
              "    /// The field.\n    u32 x;\n    u8 y;\n}\n"
              "/// Ops.\nenum e { /// Value A.\n A, B }\n"
              "from frontend {\n    /// Ping it.\n    message ping();\n}\n");
    cr_assert_eq(r.rc, 0, "%s", r.diag);
    cr_assert_str_eq(r.unit->doc, "The protocol.");
    struct idlc_decl *s = fe_decl(r.unit, "s");
    cr_assert_str_eq(s->doc, "First line.\n  Second line.");
    cr_assert_str_eq(fe_field(s->fields, "x")->doc, "The field.");
    cr_assert_null(fe_field(s->fields, "y")->doc);
    struct idlc_decl *e = fe_decl(r.unit, "e");
    cr_assert_str_eq(e->doc, "Ops.");
    cr_assert_str_eq(fe_enumval(e, "A")->doc, "Value A.");
    cr_assert_null(fe_enumval(e, "B")->doc);
    cr_assert_str_eq(fe_msg(r.unit, "ping")->doc, "Ping it.");
    fe_free(&r);
}

Test(lexer, four_slashes_and_block_comments_are_not_doc)
{
    struct fe_run r;
    fe_string(&r, "t.idl", "//// not doc\n/* nor\n this */ // nor this\nconst A = 1;\n");
    cr_assert_eq(r.rc, 0, "%s", r.diag);
    struct idlc_decl *a = fe_decl(r.unit, "A");
    cr_assert_null(a->doc);
    /* the block comment spans lines: the const keeps its exact position */
    cr_assert_eq(a->loc.line, 4);
    cr_assert_eq(a->loc.col, 7);
    fe_free(&r);
}

Test(lexer, integer_literals)
{
    struct fe_run r;
    fe_string(&r, "t.idl",
              "const A = 0x10;\nconst B = 255;\nconst C = 0XfF;\nconst D = 18446744073709551615;\n"
              "const E = 0;\n");
    cr_assert_eq(r.rc, 0, "%s", r.diag);
    cr_assert_eq(fe_decl(r.unit, "A")->value.u, 16);
    cr_assert_eq(fe_decl(r.unit, "B")->value.u, 255);
    cr_assert_eq(fe_decl(r.unit, "C")->value.u, 255);
    cr_assert_eq(fe_decl(r.unit, "D")->value.u, UINT64_MAX);
    cr_assert_not(fe_decl(r.unit, "D")->value.neg);
    cr_assert_eq(fe_decl(r.unit, "E")->value.u, 0);
    fe_free(&r);
}

Test(lexer, locations_cover_the_exact_token_range)
{
    struct fe_run r;
    fe_string(&r, "t.idl", "protocol p version 1;\n\tstruct  long_name { u32 field_x; }\n");
    cr_assert_eq(r.rc, 0, "%s", r.diag);
    struct idlc_decl *d = fe_decl(r.unit, "long_name");
    cr_assert_eq(d->loc.line, 2);
    cr_assert_eq(d->loc.col, 10);
    cr_assert_eq(d->loc.end_line, 2);
    cr_assert_eq(d->loc.end_col, 18);
    cr_assert_eq(d->kw_loc.col, 2);
    struct idlc_field *f = d->fields;
    cr_assert_eq(f->loc.col, 26);
    cr_assert_eq(f->loc.end_col, 32);
    cr_assert_eq(f->type->loc.col, 22);
    cr_assert_eq(f->type->loc.end_col, 24);
    fe_free(&r);
}

Test(lexer, crlf_line_endings_are_accepted)
{
    struct fe_run r;
    fe_string(&r, "t.idl",
              "protocol p version 1;\r\nconst A = 2;\r\nstruct s {\r\n u8 x[A];\r\n}\r\n");
    cr_assert_eq(r.rc, 0, "%s", r.diag);
    cr_assert_eq(fe_decl(r.unit, "s")->loc.line, 3);
    fe_free(&r);
}

Test(lexer, cr_only_line_endings_count_each_line)
{
    /* old Mac files: a lone "\r" ends a line, and a "//" comment ends there too */
    struct fe_run r;
    fe_string(&r, "t.idl",
              "protocol p version 1; // c\rconst A = 2;\r\rstruct  s {\r u8 x[A];\r}\r");
    cr_assert_eq(r.rc, 0, "%s", r.diag);
    struct idlc_decl *s = fe_decl(r.unit, "s");
    cr_assert_not_null(s);
    cr_assert_eq(s->loc.line, 4);
    cr_assert_eq(s->loc.col, 9);
    cr_assert_eq(s->fields->loc.line, 5);
    cr_assert_eq(s->fields->loc.col, 5);
    cr_assert_eq(fe_decl(r.unit, "A")->loc.line, 2);
    fe_free(&r);
}

Test(lexer, mixed_line_endings_count_one_line_each)
{
    /* "\n", "\r\n" and "\r" each end one line, "\n\r" is two line ends */
    struct fe_run r;
    fe_string(&r, "t.idl",
              "const A = 1;\nconst B = 2;\r\nconst C = 3;\rconst D = 4;\n\rconst E = 5;\n");
    cr_assert_eq(r.rc, 0, "%s", r.diag);
    cr_assert_eq(fe_decl(r.unit, "B")->loc.line, 2);
    cr_assert_eq(fe_decl(r.unit, "C")->loc.line, 3);
    cr_assert_eq(fe_decl(r.unit, "D")->loc.line, 4);
    cr_assert_eq(fe_decl(r.unit, "E")->loc.line, 6);
    cr_assert_eq(fe_decl(r.unit, "E")->loc.col, 7);
    cr_assert_eq(r.unit->src->nlines, 7);
    fe_free(&r);
}

Test(lexer, invalid_character_is_reported_at_its_column)
{
    struct fe_run r;
    fe_string(&r, "t.idl", "const A = 1;\nconst B = 2 # 3;\n");
    cr_assert_neq(r.rc, 0);
    cr_assert(strstr(r.diag, "t.idl:2:13: error: invalid character '#'\n"), "%s", r.diag);
    fe_free(&r);
}

Test(lexer, unterminated_comment_is_one_error)
{
    struct fe_run r;
    fe_string(&r, "t.idl", "const A = 1;\n/* open\n\nconst B = 2;\n");
    cr_assert_neq(r.rc, 0);
    cr_assert(strstr(r.diag, "t.idl:2:1: error: unterminated comment\n"), "%s", r.diag);
    cr_assert_eq(fe_count_errors(r.diag), 1, "%s", r.diag);
    fe_free(&r);
}

Test(lexer, unterminated_string_is_reported)
{
    struct fe_run r;
    fe_string(&r, "t.idl", "import \"x.idl\nconst A = 1;\n");
    cr_assert_neq(r.rc, 0);
    cr_assert(strstr(r.diag, "t.idl:1:8: error: unterminated string literal\n"), "%s", r.diag);
    fe_free(&r);
}

Test(lexer, too_large_literal_is_reported)
{
    struct fe_run r;
    fe_string(&r, "t.idl", "const A = 99999999999999999999999999999999;\n");
    cr_assert_neq(r.rc, 0);
    cr_assert(strstr(r.diag, "t.idl:1:11: error: integer constant is too large"), "%s", r.diag);
    fe_free(&r);
}

Test(lexer, keywords_read_and_write_stay_usable_as_names)
{
    /* read, write, version, frontend... are contextual: a block protocol needs "read" */
    struct fe_run r;
    fe_string(&r, "t.idl",
              "protocol p version 1;\nstruct version { buffer<read,write> read; u8 write; u8 "
              "frontend; }\n"
              "from frontend { transaction read(version max_frame) -> (u8 backend); }\n");
    cr_assert_eq(r.rc, 0, "%s", r.diag);
    cr_assert_eq(fe_decl(r.unit, "version")->fields->type->rights, IDLC_BUF_READ | IDLC_BUF_WRITE);
    fe_free(&r);
}

/* The scanner on its own: token kinds, values and ranges. */
#include "parser.h"
#include "lexer.h"

Test(lexer, token_stream_kinds_values_and_ranges)
{
    struct idlc_options opt;
    idlc_options_init(&opt);
    char *diag = NULL;
    size_t dlen = 0;
    opt.diag_out = open_memstream(&diag, &dlen);
    struct idlc_ctx *ctx = idlc_ctx_create(&opt);
    struct idlc_unit *u = idlc_parse_string(ctx, "t.idl", "");
    struct idlc_lexstate ls;
    memset(&ls, 0, sizeof ls);
    ls.ctx = ctx;
    ls.unit = u;
    ls.src = u->src;
    ls.line = ls.col = 1;
    yyscan_t sc;
    cr_assert_eq(yylex_init_extra(&ls, &sc), 0);
    const char *text = "struct x_1 0x1F 42 -> <= << >> \"a\\\"b\" @since\n  /// doc\n  ;";
    YY_BUFFER_STATE b = yy_scan_string(text, sc);
    struct {
        int tok;
        int line, col, end_col;
    } want[] = {
        { STRUCT, 1, 1, 6 },   { IDENT, 1, 8, 10 }, { INTEGER, 1, 12, 15 }, { INTEGER, 1, 17, 18 },
        { ARROW, 1, 20, 21 },  { LE, 1, 23, 24 },   { SHL, 1, 26, 27 },     { SHR, 1, 29, 30 },
        { STRLIT, 1, 32, 37 }, { '@', 1, 39, 39 },  { IDENT, 1, 40, 44 },   { ';', 3, 3, 3 },
        { END, 3, 4, 4 },
    };
    YYSTYPE v;
    YYLTYPE l;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int t = yylex(&v, &l, sc);
        cr_assert_eq(t, want[i].tok, "token %zu: %d", i, t);
        cr_assert_eq(l.line, want[i].line, "token %zu", i);
        cr_assert_eq(l.col, want[i].col, "token %zu: col %d", i, l.col);
        cr_assert_eq(l.end_col, want[i].end_col, "token %zu: end %d", i, l.end_col);
        if (i == 1)
            cr_assert_str_eq(v.tok.s, "x_1");
        if (i == 2)
            cr_assert_eq(v.tok.n, 31);
        if (i == 3)
            cr_assert_eq(v.tok.n, 42);
        if (i == 8)
            cr_assert_str_eq(v.tok.s, "a\"b");
        if (i == 11)
            cr_assert_str_eq(v.tok.doc, "doc");
    }
    yy_delete_buffer(b, sc);
    yylex_destroy(sc);
    free(ls.doc);
    cr_assert_eq(idlc_error_count(ctx), 0);
    idlc_ctx_destroy(ctx);
    fclose(opt.diag_out);
    free(diag);
}
