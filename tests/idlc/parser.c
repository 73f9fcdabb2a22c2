/* parser.c - the grammar builds the expected AST; syntax errors are precise and recovered. */
#include <criterion/criterion.h>
#include <string.h>

#include "fe.h"

Test(parser, protocol_line)
{
    struct fe_run r;
    fe_string(&r, "t.idl", "protocol blk version 7 max_frame 1 << 13;\n");
    cr_assert_eq(r.rc, 0, "%s", r.diag);
    cr_assert(r.unit->has_protocol);
    cr_assert_str_eq(r.unit->name, "blk");
    cr_assert_eq(r.unit->version, 7);
    cr_assert_eq(r.unit->max_frame, 8192);
    cr_assert_str_eq(r.unit->basename, "t");
    fe_free(&r);
}

Test(parser, defaults_without_protocol_line)
{
    struct fe_run r;
    fe_string(&r, "dir/types.idl", "struct s { u8 a; }\n");
    cr_assert_eq(r.rc, 0, "%s", r.diag);
    cr_assert_not(r.unit->has_protocol);
    cr_assert_str_eq(r.unit->name, "types");
    cr_assert_eq(r.unit->max_frame, IDLC_DEFAULT_MAX_FRAME);
    fe_free(&r);
}

Test(parser, enum_values_increment_and_accept_a_trailing_comma)
{
    struct fe_run r;
    fe_string(&r, "t.idl", "enum e : i8 { A = -3, B, C = 10, D, }\nenum f { X }\n");
    cr_assert_eq(r.rc, 0, "%s", r.diag);
    struct idlc_decl *e = fe_decl(r.unit, "e");
    cr_assert_eq(e->repr, IDLC_T_I8);
    cr_assert_eq(e->nvalues, 4);
    cr_assert_eq((int64_t)fe_enumval(e, "A")->value.u, -3);
    cr_assert(fe_enumval(e, "A")->value.neg);
    cr_assert_eq((int64_t)fe_enumval(e, "B")->value.u, -2);
    cr_assert_eq(fe_enumval(e, "D")->value.u, 11);
    cr_assert_eq((int64_t)e->min.u, -3);
    cr_assert_eq(e->max.u, 11);
    cr_assert_eq(e->max_size, 1);
    cr_assert_eq(fe_decl(r.unit, "f")->repr, IDLC_T_U32);
    fe_free(&r);
}

Test(parser, union_arms_with_several_labels_and_void)
{
    struct fe_run r;
    fe_string(&r, "t.idl",
              "enum k : u8 { A, B, C }\nunion u : k { case A: void; case B, C: u16 v[<= 3]; }\n");
    cr_assert_eq(r.rc, 0, "%s", r.diag);
    struct idlc_decl *u = fe_decl(r.unit, "u");
    cr_assert_eq(u->narms, 2);
    cr_assert_null(u->arms->field);
    cr_assert_str_eq(u->arms->labels->name, "A");
    struct idlc_arm *b = u->arms->next;
    cr_assert_str_eq(b->labels->name, "B");
    cr_assert_str_eq(b->labels->next->name, "C");
    cr_assert_eq(b->labels->next->val, fe_enumval(fe_decl(r.unit, "k"), "C"));
    cr_assert_eq(b->field->type->kind, IDLC_T_VECTOR);
    cr_assert_eq(b->field->type->elem->kind, IDLC_T_U16);
    cr_assert_eq(u->tag, fe_decl(r.unit, "k"));
    cr_assert_eq(u->max_size, 4 + 4 + 6);
    cr_assert_eq(u->min_size, 4);
    fe_free(&r);
}

Test(parser, messages_keep_role_kind_and_order)
{
    struct fe_run r;
    fe_string(&r, "t.idl",
              "protocol p version 2;\nenum err : u16 { E = 1 }\n"
              "from frontend {\n  message a(u8 x);\n  transaction b() -> (u32 y, u8 z) raises err "
              "@since(2);\n}\n"
              "from backend {\n  transaction c(u8 q);\n}\nfrom frontend { message d(); }\n");
    cr_assert_eq(r.rc, 0, "%s", r.diag);
    cr_assert_eq(r.unit->nmsgs, 4);
    struct idlc_msg *a = fe_msg(r.unit, "a"), *b = fe_msg(r.unit, "b");
    struct idlc_msg *c = fe_msg(r.unit, "c"), *d = fe_msg(r.unit, "d");
    cr_assert_eq(a->kind, IDLC_M_MESSAGE);
    cr_assert_eq(a->role, IDLC_ROLE_FRONTEND);
    cr_assert_eq(b->kind, IDLC_M_TRANSACTION);
    cr_assert_eq(b->nresults, 2);
    cr_assert_eq(b->raises, fe_decl(r.unit, "err"));
    cr_assert_eq(b->attrs.since, 2);
    cr_assert_eq(c->role, IDLC_ROLE_BACKEND);
    cr_assert_eq(c->nresults, 0);
    cr_assert_eq(d->role, IDLC_ROLE_FRONTEND);
    /* opcodes: declaration order across the whole protocol, from 1 */
    cr_assert_eq(a->opcode, 1);
    cr_assert_eq(b->opcode, 2);
    cr_assert_eq(c->opcode, 3);
    cr_assert_eq(d->opcode, 4);
    fe_free(&r);
}

Test(parser, imports_are_recorded_in_order)
{
    struct fe_run r;
    fe_string(&r, IDC_SRCDIR "/idl/t.idl",
              "import \"everything_types.idl\";\nstruct s { point p; }\n");
    cr_assert_eq(r.rc, 0, "%s", r.diag);
    cr_assert_str_eq(r.unit->imports->path, "everything_types.idl");
    cr_assert_not_null(r.unit->imports->unit);
    struct idlc_type *t = fe_decl(r.unit, "s")->fields->type;
    cr_assert_eq(t->kind, IDLC_T_STRUCT);
    cr_assert_eq(t->decl->unit, r.unit->imports->unit);
    fe_free(&r);
}

Test(parser, syntax_error_names_the_expected_token)
{
    struct fe_run r;
    fe_string(&r, "t.idl", "protocol p version 1;\nstruct s { u32 a }\n");
    cr_assert_neq(r.rc, 0);
    cr_assert(strstr(r.diag, "t.idl:2:18: error: expected '[', ';' or '@' before '}'\n"), "%s",
              r.diag);
    fe_free(&r);
}

Test(parser, several_syntax_errors_are_reported_in_one_run)
{
    struct fe_run r;
    fe_string(&r, "t.idl",
              "protocol p version 1;\n"
              "struct a { u32 x }\n"
              "const B = ;\n"
              "struct c { u32 ; }\n"
              "from frontend { message m(u8 x; }\n"
              "enum e { A B }\n");
    cr_assert_neq(r.rc, 0);
    cr_assert_geq(fe_count_errors(r.diag), 4, "%s", r.diag);
    cr_assert(strstr(r.diag, "t.idl:3:11:"), "%s", r.diag);
    cr_assert(strstr(r.diag, "t.idl:4:16:"), "%s", r.diag);
    fe_free(&r);
}

Test(parser, empty_input_is_a_valid_empty_unit)
{
    struct fe_run r;
    fe_string(&r, "t.idl", "");
    cr_assert_eq(r.rc, 0, "%s", r.diag);
    cr_assert_null(r.unit->decls);
    fe_free(&r);
}
