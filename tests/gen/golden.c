/*
 * golden.c - tests of the generator as a whole: golden output, determinism, m4 quoting,
 * atomic output on failure, a foreign template set, protocol hashes.
 *
 * Golden files live in tests/golden: for NAME.idl, the directory NAME/ holds the NAME.h,
 * NAME_codec.c, NAME_client.c and NAME_server.c idlc must produce from it, byte for byte.
 * After an intended
 * change, regenerate them (see tests/golden/README.md):
 *     make && for n in small quoting big; do build/bin/idlc -o tests/golden/$n tests/golden/$n.idl; done
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "idlc.h"

#include "shell.h"

#define IDLC      IDC_BUILDDIR "/bin/idlc"
#define TEMPLATES IDC_SRCDIR "/templates/c"
#define GOLDEN    IDC_SRCDIR "/tests/golden"

/* also after a failed assertion */
TestSuite(golden, .fini = remove_tmpdir);

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 65536;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0)
            break;
        n += r;
    }
    fclose(f);
    *len = n;
    return buf;
}

static void assert_same_file(const char *want, const char *got)
{
    size_t a, b;
    char *x = slurp(want, &a), *y = slurp(got, &b);
    cr_assert_not_null(x, "cannot read %s", want);
    cr_assert_not_null(y, "cannot read %s", got);
    bool same = a == b && memcmp(x, y, a) == 0;
    if (!same)
        run("diff -u '%s' '%s' | head -40 >&2", want, got);
    free(x);
    free(y);
    cr_assert(same, "%s differs from the golden file %s (diff above)", got, want);
}

/* names in dir (dot files included), sorted into one space separated string */
static void list_dir(const char *dir, char *out, size_t cap)
{
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, alphasort);
    cr_assert_geq(n, 0);
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(ents[i]->d_name, ".") && strcmp(ents[i]->d_name, "..")) {
            if (out[0])
                strncat(out, " ", cap - strlen(out) - 1);
            strncat(out, ents[i]->d_name, cap - strlen(out) - 1);
        }
        free(ents[i]);
    }
    free(ents);
}

static void golden(const char *name)
{
    char path[512], want[512], listing[1024], expect[256];
    make_tmpdir("gen");
    cr_assert_eq(run("'%s' -T '%s' -o '%s' '%s/%s.idl'", IDLC, TEMPLATES, tmpdir, GOLDEN, name), 0,
                 "idlc failed on %s.idl", name);
    list_dir(tmpdir, listing, sizeof listing);
    snprintf(expect, sizeof expect, "%s.h %s_client.c %s_codec.c %s_server.c", name, name, name,
             name);
    cr_assert_str_eq(listing, expect, "outputs (and nothing else) expected");
    const char *suffix[] = { ".h", "_codec.c", "_client.c", "_server.c" };
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s%s", tmpdir, name, suffix[i]);
        snprintf(want, sizeof want, "%s/%s/%s%s", GOLDEN, name, name, suffix[i]);
        assert_same_file(want, path);
    }
    /* and it is C a strict compiler accepts */
    for (int i = 1; i < 4; i++)
        cr_assert_eq(
            run("cc -std=c11 -Wall -Wextra -Werror -pedantic -fsyntax-only -I'%s/runtime/include' "
                "-I'%s' '%s/%s%s'",
                IDC_SRCDIR, tmpdir, tmpdir, name, suffix[i]),
            0, "%s%s does not compile", name, suffix[i]);
    remove_tmpdir();
}

Test(golden, small_protocol_output_is_exact)
{
    golden("small");
}

/* doc comments with quotes, m4 builtin and template macro names, $n, #, comment delimiters;
   field names that are m4 builtins (without --prefix-builtins): all carried through verbatim */
Test(golden, m4_quoting_survives_any_doc_text)
{
    golden("quoting");
    size_t len;
    char *h = slurp(GOLDEN "/quoting/quoting.h", &len);
    cr_assert_not_null(h);
    h = realloc(h, len + 1);
    h[len] = 0;
    cr_assert_not_null(
        strstr(h, "`backquotes' and 'quotes', a lone ` and a lone ', commas, (parens,"));
    cr_assert_not_null(strstr(h, "dollars $1 $@ $# $$, a hash # that is not a comment,"));
    cr_assert_not_null(
        strstr(h, "at-signs @<@ @%@ @@@ @-@ @;@ @, C comment enders * / and starters / * and"));
    cr_assert_not_null(strstr(h, "/** `dnl' m4_dnl) idc_unit(`x', `y') */"));
    cr_assert_not_null(strstr(h, "\tuint32_t index;"));
    cr_assert_not_null(strstr(h, "\tuint32_t divert;"));
    free(h);
}

/* payloads over 16 KiB: the glue encodes and decodes them in heap memory, not on the stack */
Test(golden, large_payloads_use_the_heap)
{
    golden("big");
}

/* The bound is 1 KiB, the kernel stack's (tests/kbuild): console's 2052-byte input and output
   live on the heap on both sides, blkif's 628-byte read request stays on the stack. */
Test(golden, payloads_over_one_kib_use_the_heap)
{
    const char *gen = IDC_BUILDDIR "/gen";
    /* console sends output from the frontend and input from the backend */
    cr_expect_eq(
        run("grep -qF 'buf = heap_alloc(CONSOLE_OUTPUT_ARGS_MAX_SIZE);' '%s/console_client.c'",
            gen),
        0);
    cr_expect_eq(
        run("grep -qF 'buf = heap_alloc(CONSOLE_INPUT_ARGS_MAX_SIZE);' '%s/console_server.c'", gen),
        0);
    cr_expect_neq(
        run("grep -q 'buf\\[CONSOLE_\\(IN\\|OUT\\)PUT_ARGS_MAX_SIZE\\]' '%s'/console_*.c", gen), 0);
    /* and decodes the other one */
    cr_expect_eq(run("grep -qF 'args = heap_alloc(sizeof *args);' '%s/console_client.c'", gen), 0);
    cr_expect_eq(run("grep -qF 'args = heap_alloc(sizeof *args);' '%s/console_server.c'", gen), 0);
    cr_expect_eq(run("grep -qF 'uint8_t buf[BLKIF_READ_ARGS_MAX_SIZE];' '%s/blkif_client.c'", gen),
                 0);
    cr_expect_neq(run("grep -q heap_alloc '%s'/blkif_*.c", gen), 0);
}

Test(golden, output_is_deterministic)
{
    char a[512], b[512];
    make_tmpdir("gen");
    cr_assert_eq(run("mkdir '%s/1' '%s/2'", tmpdir, tmpdir), 0);
    for (int i = 1; i <= 2; i++)
        cr_assert_eq(run("'%s' -T '%s' -I '%s/idl' -o '%s/%d' '%s/idl/everything.idl'", IDLC,
                         TEMPLATES, IDC_SRCDIR, tmpdir, i, IDC_SRCDIR),
                     0);
    const char *files[] = { "everything.h", "everything_codec.c", "everything_client.c",
                            "everything_server.c" };
    for (int i = 0; i < 4; i++) {
        snprintf(a, sizeof a, "%s/1/%s", tmpdir, files[i]);
        snprintf(b, sizeof b, "%s/2/%s", tmpdir, files[i]);
        assert_same_file(a, b);
    }
    remove_tmpdir();
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

/* a template that fails after another succeeded: nothing is written, old outputs stay */
Test(golden, failed_expansion_leaves_nothing_behind)
{
    char path[512], listing[1024];
    make_tmpdir("gen");
    cr_assert_eq(
        run("mkdir '%s/t' '%s/out' && cp '%s'/*.m4 '%s/t/'", tmpdir, tmpdir, TEMPLATES, tmpdir), 0);
    snprintf(path, sizeof path, "%s/t/manifest.m4", tmpdir);
    write_file(path, "m4_include(`model.m4')\n"
                     "m4_define(`idc_unit', `m4_define(`idc_basename', `$2')')\n"
                     "idc_model\n"
                     "m4_divert(0)m4_dnl\n"
                     "header.m4 idc_basename.h\n"
                     "broken.m4 idc_basename.c\n");
    snprintf(path, sizeof path, "%s/t/broken.m4", tmpdir);
    write_file(
        path,
        "m4_include(`model.m4')m4_divert(0)partial output\nidc_fatal(`deliberate failure')\n");
    snprintf(path, sizeof path, "%s/out/small.h", tmpdir);
    write_file(path, "old\n");

    cr_assert_neq(
        run("'%s' -T '%s/t' -o '%s/out' '%s/small.idl' 2>/dev/null", IDLC, tmpdir, tmpdir, GOLDEN),
        0);
    snprintf(path, sizeof path, "%s/out", tmpdir);
    list_dir(path, listing, sizeof listing);
    cr_assert_str_eq(listing, "small.h", "only the old file may remain");
    snprintf(path, sizeof path, "%s/out/small.h", tmpdir);
    size_t len;
    char *old = slurp(path, &len);
    cr_assert(len == 4 && !memcmp(old, "old\n", 4), "an existing output was overwritten");
    free(old);
    remove_tmpdir();
}

/* a new output flavour is a new template set: here, a plain list of the operations */
Test(golden, foreign_template_set)
{
    char path[512];
    make_tmpdir("gen");
    cr_assert_eq(
        run("mkdir '%s/t' '%s/out' && cp '%s/model.m4' '%s/t/'", tmpdir, tmpdir, TEMPLATES, tmpdir),
        0);
    snprintf(path, sizeof path, "%s/t/manifest.m4", tmpdir);
    write_file(path, "m4_include(`model.m4')\n"
                     "m4_define(`idc_unit', `m4_define(`idc_basename', `$2')')\n"
                     "idc_model\n"
                     "m4_divert(0)list.m4 idc_basename.txt\n");
    snprintf(path, sizeof path, "%s/t/list.m4", tmpdir);
    write_file(path, "m4_include(`model.m4')\n"
                     "m4_define(`idc_message_begin', `m4_divert(0)message $1 = $2 from $3\n"
                     "m4_divert(-1)')\n"
                     "m4_define(`idc_transaction_begin', `m4_divert(0)transaction $1 = $2 from $3\n"
                     "m4_divert(-1)')\n"
                     "idc_model\n");
    cr_assert_eq(run("'%s' -T '%s/t' -o '%s/out' '%s/small.idl'", IDLC, tmpdir, tmpdir, GOLDEN), 0);
    snprintf(path, sizeof path, "%s/out/small.txt", tmpdir);
    size_t len;
    char *text = slurp(path, &len);
    cr_assert_not_null(text);
    const char *want = "transaction store = 1 from frontend\nmessage poke = 2 from frontend\n"
                       "message changed = 3 from backend\n";
    cr_assert(len == strlen(want) && !memcmp(text, want, len), "got: %.*s", (int)len, text);
    free(text);
    remove_tmpdir();
}

/* ------------------------------------------------------------------ protocol hashes */

static uint64_t hash_of(const char *text, uint32_t version)
{
    struct idlc_options opt;
    idlc_options_init(&opt);
    opt.diag_out = stderr;
    struct idlc_ctx *ctx = idlc_ctx_create(&opt);
    struct idlc_unit *u = idlc_parse_string(ctx, "h.idl", text);
    cr_assert_not_null(u);
    cr_assert_eq(idlc_check(ctx, u), 0, "test IDL does not check");
    uint64_t h = idlc_version_hash(u, version);
    idlc_ctx_destroy(ctx);
    return h;
}

Test(golden, version_hash_follows_the_wire_not_the_text)
{
    const char *base = "protocol p version 2;\nstruct s { u32 a; }\nfrom frontend {\n"
                       "  message m(s x);\n  message n(u8 y) @since(2);\n}\n";
    const char *doc = "/// a doc comment\nprotocol p version 2;\nstruct s { /// field\n u32 a; }\n"
                      "from frontend {\n  message m(s x);\n  message n(u8 y) @since(2);\n}\n";
    const char *wider = "protocol p version 2;\nstruct s { u64 a; }\nfrom frontend {\n"
                        "  message m(s x);\n  message n(u8 y) @since(2);\n}\n";
    const char *later = "protocol p version 2;\nstruct s { u32 a; }\nfrom frontend {\n"
                        "  message m(s x);\n  message n(u16 y) @since(2);\n}\n";

    uint64_t b1 = hash_of(base, 1), b2 = hash_of(base, 2);
    cr_assert_neq(b1, b2, "version 2 adds a message: hashes must differ");
    cr_assert_eq(hash_of(doc, 1), b1, "doc comments must not change the hash");
    cr_assert_eq(hash_of(doc, 2), b2);
    cr_assert_neq(hash_of(wider, 1), b1, "a wider field changes the wire");
    /* a change only in version 2 keeps version 1 compatible */
    cr_assert_eq(hash_of(later, 1), b1);
    cr_assert_neq(hash_of(later, 2), b2);
}

/* a clash only the C naming scheme creates (a bounded array x has a member x_count) is refused
   by the checks, at the field, with a note at the other one, and nothing is written */
Test(golden, generated_name_clash_is_refused)
{
    char path[512], listing[1024];
    make_tmpdir("gen");
    snprintf(path, sizeof path, "%s/clash.idl", tmpdir);
    write_file(path, "protocol clash version 1;\nstruct s { u32 x[<= 3]; u32 x_count; }\n"
                     "from frontend { message m(s v); }\n");
    cr_assert_eq(run("mkdir '%s/out'", tmpdir), 0);
    cr_assert_neq(
        run("'%s' -T '%s' -o '%s/out' '%s' 2>'%s/err'", IDLC, TEMPLATES, tmpdir, path, tmpdir), 0);
    snprintf(path, sizeof path, "%s/err", tmpdir);
    size_t len;
    char *err = slurp(path, &len);
    cr_assert_not_null(err);
    err = realloc(err, len + 1);
    err[len] = 0;
    cr_assert_not_null(
        strstr(err,
               "clash.idl:2:29: error: field 'x_count' collides with field 'x' in the generated C "
               "(both become 'x_count': its own name and the element count of the field)"),
        "stderr: %s", err);
    cr_assert_not_null(strstr(err, "clash.idl:2:16: note: field 'x' is declared here"),
                       "stderr: %s", err);
    free(err);
    snprintf(path, sizeof path, "%s/out", tmpdir);
    list_dir(path, listing, sizeof listing);
    cr_assert_str_eq(listing, "");
    remove_tmpdir();
}

/* a template that fails while expanding a declaration says where that declaration is, in the
   usual form: file:line:col, the source line and a caret */
Test(golden, template_error_points_at_the_idl)
{
    char path[512];
    make_tmpdir("gen");
    cr_assert_eq(
        run("mkdir '%s/t' '%s/out' && cp '%s'/*.m4 '%s/t/'", tmpdir, tmpdir, TEMPLATES, tmpdir), 0);
    snprintf(path, sizeof path, "%s/t/manifest.m4", tmpdir);
    write_file(path, "m4_include(`model.m4')\n"
                     "m4_divert(0)broken.m4 broken.c\n");
    snprintf(path, sizeof path, "%s/t/broken.m4", tmpdir);
    write_file(
        path,
        "m4_include(`model.m4')\n"
        "m4_define(`idc_field', `m4_ifelse(`$1', `value', `idc_fatal(`cannot handle $1')')')\n"
        "idc_model\n");
    cr_assert_neq(run("'%s' -T '%s/t' -o '%s/out' '%s/small.idl' 2>'%s/err'", IDLC, tmpdir, tmpdir,
                      GOLDEN, tmpdir),
                  0);
    snprintf(path, sizeof path, "%s/err", tmpdir);
    size_t len;
    char *err = slurp(path, &len);
    cr_assert_not_null(err);
    err = realloc(err, len + 1);
    err[len] = 0;
    cr_assert_not_null(strstr(err, "small.idl:30:10: error: template error: cannot handle value "
                                   "(in template 'broken.m4')\n"
                                   "   30 |     slot value;\n"
                                   "      |          ^~~~~\n"),
                       "stderr: %s", err);
    free(err);
    remove_tmpdir();
}

/* the codec of a protocol stands alone: with -DIDC_CODEC_ONLY it needs no runtime symbol and
   nothing from libc beyond memchr/memcpy/memset (kernel-portable); tests/gen/standalone.c checks
   which headers it includes */
Test(golden, codec_compiles_without_the_runtime)
{
    char cmd[1024], line[256];
    make_tmpdir("gen");
    cr_assert_eq(run("cc -std=c11 -Wall -Wextra -Werror -pedantic -O2 -DIDC_CODEC_ONLY "
                     "-I'%s/runtime/include' "
                     "-I'%s/small' -c -o '%s/codec.o' '%s/small/small_codec.c'",
                     IDC_SRCDIR, GOLDEN, tmpdir, GOLDEN),
                 0);
    snprintf(cmd, sizeof cmd, "nm -u '%s/codec.o'", tmpdir);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    int n = 0;
    while (fgets(line, sizeof line, p)) {
        char sym[128];
        if (sscanf(line, " U %127s", sym) != 1)
            continue;
        cr_assert(!strcmp(sym, "memchr") || !strcmp(sym, "memcpy") || !strcmp(sym, "memset"),
                  "codec-only small_codec.o needs %s", sym);
        n++;
    }
    cr_assert_eq(pclose(p), 0, "nm failed");
    cr_assert_gt(n, 0, "nm listed nothing: the check would prove nothing");
    remove_tmpdir();
}

/* the encoders and decoders exist once: the sides only call the public codec */
Test(golden, sides_carry_no_codec)
{
    const char *files[] = { GOLDEN "/small/small_client.c", GOLDEN "/small/small_server.c" };
    for (int i = 0; i < 2; i++) {
        size_t len;
        char *text = slurp(files[i], &len);
        cr_assert_not_null(text);
        text = realloc(text, len + 1);
        text[len] = 0;
        cr_assert_null(strstr(text, "idc_wire"), "%s uses the wire primitives", files[i]);
        cr_assert_null(strstr(text, "static inline int dec_"), "%s has a decoder", files[i]);
        cr_assert_null(strstr(text, "static inline int enc_"), "%s has an encoder", files[i]);
        free(text);
    }
}
