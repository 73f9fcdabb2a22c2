/* driver.c - the command line, make dependencies, and no output on error. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fe.h"

static int run(const char *a1, const char *a2, const char *a3)
{
    char *argv[5] = { "idlc", (char *)a1, (char *)a2, (char *)a3, NULL };
    int argc = 1 + (a1 != NULL) + (a2 != NULL) + (a3 != NULL);
    return idlc_main(argc, argv);
}

Test(driver, version_and_help_succeed, .init = cr_redirect_stdout)
{
    cr_assert_eq(run("--version", NULL, NULL), 0);
    cr_assert_eq(run("--help", NULL, NULL), 0);
    fflush(stdout);
    cr_assert_stdout_neq_str("");
}

Test(driver, usage_errors_exit_2, .init = cr_redirect_stderr)
{
    cr_assert_eq(run(NULL, NULL, NULL), 2);
    cr_assert_eq(run("--frobnicate", "x.idl", NULL), 2);
    cr_assert_eq(run("a.idl", "b.idl", NULL), 2);
    cr_assert_eq(run("-o", NULL, NULL), 2);
    cr_assert_eq(run("x.idl", "-MF", NULL), 2);
}

Test(driver, missing_input_file_exits_1, .init = cr_redirect_stderr)
{
    cr_assert_eq(run("--check", "/nonexistent/x.idl", NULL), 1);
}

Test(driver, check_only_accepts_good_and_rejects_bad, .init = cr_redirect_stderr)
{
    cr_assert_eq(run("--check", IDC_SRCDIR "/idl/blkif.idl", NULL), 0);
    cr_assert_eq(run("--check", IDC_SRCDIR "/tests/idl/bad/name_undefined_type.idl", NULL), 1);
}

Test(driver, make_dependencies_list_every_import)
{
    struct idlc_options opt;
    idlc_options_init(&opt);
    opt.out_dir = "gen";
    char *buf = NULL;
    size_t len = 0;
    FILE *diag = open_memstream(&buf, &len);
    opt.diag_out = diag;
    struct idlc_ctx *ctx = idlc_ctx_create(&opt);
    struct idlc_unit *u = idlc_parse_file(ctx, IDC_SRCDIR "/idl/everything.idl");
    cr_assert_not_null(u);
    cr_assert_eq(idlc_check(ctx, u), 0);
    char *deps = NULL;
    size_t dlen = 0;
    FILE *f = open_memstream(&deps, &dlen);
    cr_assert_eq(idlc_write_deps(ctx, u, NULL, f), 0);
    fclose(f);
    cr_assert_str_eq(deps, "gen/everything.h gen/everything_codec.c gen/everything_client.c "
                           "gen/everything_server.c: " IDC_SRCDIR
                           "/idl/everything.idl \\\n  " IDC_SRCDIR "/idl/everything_types.idl \\\n"
                           "  | gen/everything_types.h\n"
                           "\n" IDC_SRCDIR "/idl/everything_types.idl:\n"
                           "\ngen/everything_types.h:\n");
    free(deps);
    idlc_ctx_destroy(ctx);
    fclose(diag);
    free(buf);
}

static bool dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    cr_assert_not_null(d);
    struct dirent *e;
    bool empty = true;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            empty = false;
    closedir(d);
    return empty;
}

Test(driver, errors_leave_no_output_file)
{
    char dir[] = "/tmp/idlc-test-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char deps[300];
    snprintf(deps, sizeof deps, "%s/x.d", dir);
    struct idlc_options opt;
    idlc_options_init(&opt);
    opt.out_dir = dir;
    opt.deps_file = deps;
    opt.template_dir = IDC_SRCDIR "/templates/c";
    FILE *devnull = fopen("/dev/null", "w");
    opt.diag_out = devnull;
    cr_assert_eq(idlc_compile(IDC_SRCDIR "/tests/idl/bad/message_too_large.idl", &opt), 1);
    cr_assert_eq(idlc_compile(IDC_SRCDIR "/tests/idl/bad/syntax_missing_brace.idl", &opt), 1);
    cr_assert(dir_is_empty(dir));
    fclose(devnull);
    rmdir(dir);
}

Test(driver, deps_file_is_written_with_the_outputs)
{
    char t[512];
    snprintf(t, sizeof t, "%s/templates/c/manifest.m4", IDC_SRCDIR);
    if (access(t, R_OK) != 0)
        cr_skip("no C template set in templates/c: generation cannot run");
    char dir[] = "/tmp/idlc-test-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char deps[300], path[400];
    snprintf(deps, sizeof deps, "%s/console.d", dir);
    struct idlc_options opt;
    idlc_options_init(&opt);
    opt.out_dir = dir;
    opt.deps_file = deps;
    opt.template_dir = IDC_SRCDIR "/templates/c";
    char *diag = NULL;
    size_t dlen = 0;
    FILE *df = open_memstream(&diag, &dlen);
    opt.diag_out = df;
    int rc = idlc_compile(IDC_SRCDIR "/idl/console.idl", &opt);
    fflush(df);
    if (rc != 0) {
        /* generation is the generator's business; here only the dependency file matters */
        cr_assert(access(deps, F_OK) != 0, "deps left behind after a failed generation");
        fclose(df);
        free(diag);
        cr_skip("generation failed (templates incomplete?)");
    }
    cr_assert_eq(access(deps, R_OK), 0);
    snprintf(path, sizeof path, "%s/console.h", dir);
    cr_assert_eq(access(path, R_OK), 0);
    FILE *f = fopen(deps, "r");
    char line[1024];
    cr_assert_not_null(fgets(line, sizeof line, f));
    fclose(f);
    cr_assert(strstr(line, "/console.h "), "%s", line);
    cr_assert(strstr(line, "/console.idl"), "%s", line);
    fclose(df);
    free(diag);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

Test(driver, dash_M_prints_the_rule_and_generates_nothing, .init = cr_redirect_stdout)
{
    char dir[] = "/tmp/idlc-test-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char *argv[] = {
        "idlc", "-M", "-o", dir, "-MT", "out.stamp", IDC_SRCDIR "/idl/blkif.idl", NULL
    };
    cr_assert_eq(idlc_main(7, argv), 0);
    fflush(stdout);
    cr_assert_stdout_eq_str("out.stamp: " IDC_SRCDIR "/idl/blkif.idl\n");
    cr_assert(dir_is_empty(dir));
    rmdir(dir);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

/* The generated header includes the headers generated from the imports (transitively), so the
 * rule names them, as the targets of the same pattern rule, order-only. */
Test(driver, dash_M_lists_the_generated_headers_of_imports, .init = cr_redirect_stdout)
{
    char dir[] = "/tmp/idlc-test-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    write_text(dir, "base.idl", "const N = 4;\n");
    write_text(dir, "mid.idl", "import \"base.idl\";\nstruct pair { u8 a[N]; }\n");
    write_text(dir, "top.idl",
               "protocol top version 1;\nimport \"mid.idl\";\n"
               "from frontend { message put(pair p); }\n");
    cr_assert_eq(chdir(dir), 0);
    char *argv[] = { "idlc", "-M", "-o", "out dir", "top.idl", NULL };
    cr_assert_eq(idlc_main(5, argv), 0);
    char *argv2[] = { "idlc", "-M", "mid.idl", NULL };
    cr_assert_eq(idlc_main(3, argv2), 0);
    fflush(stdout);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    cr_assert_stdout_eq_str("out\\ dir/top.h out\\ dir/top_codec.c out\\ dir/top_client.c out\\ "
                            "dir/top_server.c: top.idl \\\n"
                            "  base.idl \\\n"
                            "  mid.idl \\\n"
                            "  | out\\ dir/base.h \\\n"
                            "  out\\ dir/mid.h\n"
                            "\n"
                            "base.idl:\n"
                            "\n"
                            "mid.idl:\n"
                            "\n"
                            "out\\ dir/base.h:\n"
                            "\n"
                            "out\\ dir/mid.h:\n"
                            "mid.h mid_codec.c mid_client.c mid_server.c: mid.idl \\\n"
                            "  base.idl \\\n"
                            "  | base.h\n"
                            "\n"
                            "base.idl:\n"
                            "\n"
                            "base.h:\n");
}
