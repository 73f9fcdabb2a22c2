/*
 * names.c - the generated C names (idlc/names.c): spelled once, checked for clashes across a
 * protocol and everything it imports, against the include guard, the helpers of the generated
 * files and the macros of the headers they include. One mistake per rule is also in the bad
 * corpus (tests/idl/bad/name_*); these tests cover what a single file cannot show.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fe.h"

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/idc-names-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
    char cmd[128];
    if (!dir[0])
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    dir[0] = 0;
}

TestSuite(names, .fini = remove_dir);

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

static void check_file(struct fe_run *r, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fe_file(r, path, NULL, 0);
}

/* the include guard comes from the file name, not the protocol name */
Test(names, constant_that_is_the_include_guard)
{
    struct fe_run r;
    fe_string(&r, "guard_foo.idl", "protocol guard version 1;\nconst FOO_H = 1;\n");
    cr_assert_neq(r.rc, 0);
    cr_assert(
        strstr(r.diag,
               "guard_foo.idl:2:7: error: constant 'FOO_H' collides with a name idlc generates "
               "('GUARD_FOO_H', the include guard)"),
        "%s", r.diag);
    fe_free(&r);
    /* the same constant in a file of another name is fine */
    fe_string(&r, "guard.idl", "protocol guard version 1;\nconst FOO_H = 1;\n");
    cr_assert_eq(r.rc, 0, "%s", r.diag);
    fe_free(&r);
}

/* two imports whose names meet only in the file that imports both */
Test(names, clash_between_two_imports)
{
    make_dir();
    write_file("a.idl", "struct b_x { u8 v; }\n");
    write_file("a_b.idl", "struct x { u16 v; }\n");
    write_file("user.idl", "protocol user version 1;\nimport \"a.idl\";\nimport \"a_b.idl\";\n"
                           "from frontend { message m(b_x one, x two); }\n");
    struct fe_run r;
    check_file(&r, "a.idl");
    cr_assert_eq(r.rc, 0, "%s", r.diag);
    fe_free(&r);
    check_file(&r, "user.idl");
    cr_assert_neq(r.rc, 0);
    cr_assert(strstr(r.diag,
                     "a_b.idl:1:8: error: struct 'x' collides with struct 'b_x' from a.idl in the "
                     "generated C (both become 'a_b_x')"),
              "%s", r.diag);
    cr_assert(strstr(r.diag, "a.idl:1:8: note: struct 'b_x' is declared here"), "%s", r.diag);
    cr_assert_eq(fe_count_errors(r.diag), 1, "reported once: %s", r.diag);
    fe_free(&r);
}

/* an import reached twice (diamond) is one set of names, not a clash with itself */
Test(names, diamond_import_is_not_a_clash)
{
    make_dir();
    write_file("base.idl", "struct s { u8 v; }\nenum e : u8 { A, B }\n");
    write_file("left.idl", "import \"base.idl\";\nstruct l { s v; }\n");
    write_file("right.idl", "import \"base.idl\";\nstruct r { e v; }\n");
    write_file("top.idl", "protocol top version 1;\nimport \"left.idl\";\nimport \"right.idl\";\n"
                          "from frontend { message m(l a, r b); }\n");
    struct fe_run r;
    check_file(&r, "top.idl");
    cr_assert_eq(r.rc, 0, "%s", r.diag);
    fe_free(&r);
}

/* a types-only file named after the protocol that imports it: both make p_wire_error */
Test(names, fixed_names_of_an_import)
{
    make_dir();
    write_file("blk.idl", "struct seg { u32 n; }\n");
    write_file("blkif.idl", "protocol blk version 1;\nimport \"blk.idl\";\n"
                            "from frontend { message m(seg s); }\n");
    struct fe_run r;
    check_file(&r, "blkif.idl");
    cr_assert_neq(r.rc, 0);
    cr_assert(
        strstr(r.diag,
               "blk.idl:1:1: error: file 'blk' collides with a name idlc generates for blkif.idl "
               "('blk_wire_error', the codec error type)"),
        "%s", r.diag);
    fe_free(&r);
}

/* names are compared whole, however long (a fixed buffer once cut them at 511 characters) */
Test(names, long_names_are_compared_whole)
{
    size_t n = 3000;
    char *a = malloc(n + 1), *src = malloc(12 * n + 512);
    cr_assert(a && src);
    memset(a, 'x', n);
    a[n] = 0;
    snprintf(src, 12 * n + 512,
             "protocol p version 1 max_frame 65536;\nstruct %s1 { u8 %s1; u8 %s2[<= 2]; }\nstruct "
             "%s2 { u8 v; }\n"
             "const C%s1 = 1;\nconst C%s2 = 2;\nfrom frontend {\n  message %s1(%s1 a);\n  message "
             "%s2(%s2 b);\n}\n",
             a, a, a, a, a, a, a, a, a, a);
    struct fe_run r;
    fe_string(&r, "long.idl", src);
    cr_assert_eq(r.rc, 0, "%.400s", r.diag);
    fe_free(&r);
    /* and a real clash between two long names is still one */
    snprintf(src, 12 * n + 512,
             "protocol p version 1;\nstruct %s_args { u8 v; }\nfrom frontend { message %s(); }\n",
             a, a);
    fe_string(&r, "long.idl", src);
    cr_assert_neq(r.rc, 0);
    cr_assert(strstr(r.diag, "its arguments type and the struct itself"), "%.400s", r.diag);
    fe_free(&r);
    free(a);
    free(src);
}

/* the names a unit generates are spelled in one place; the model and the check agree */
static void count_name(void *arg, const struct idlc_cname *n)
{
    size_t *k = arg;
    cr_assert_not_null(n->c);
    if (n->key)
        (*k)++;
}

Test(names, every_declaration_has_its_keyed_names)
{
    struct fe_run r;
    fe_string(
        &r, "p.idl",
        "protocol p version 1;\nconst N = 2;\nenum e : u8 { A, B }\nstruct s { u8 x[<= N]; }\n"
        "from frontend { message m(s v); transaction t(e x) -> (u8 y) raises e2; }\n"
        "enum e2 : u16 { FAIL = 1 }\n");
    cr_assert_eq(r.rc, 0, "%s", r.diag);
    size_t k = 0;
    idlc_cnames_unit(r.unit, true, count_name, &k);
    cr_assert_eq(k, 2 + 3 + 2 * 8, "guard, wire error, 3 protocol names, 8 per side");
    k = 0;
    idlc_cnames_msg(r.unit, fe_msg(r.unit, "m"), count_name, &k);
    cr_assert_eq(k, 9, "message: args, encode, decode, 2 helpers, opcode, size, handler, send");
    k = 0;
    idlc_cnames_msg(r.unit, fe_msg(r.unit, "t"), count_name, &k);
    cr_assert_eq(k, 8 + 11, "transaction: the message names but send, and 11 more");
    cr_assert_str_eq(idlc_cname_count(r.ctx, "x"), "x_count");
    fe_free(&r);
}
