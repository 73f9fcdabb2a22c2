/*
 * makerule.c - the make rule documented in docs/tutorial.md and idlc(1), run for real: a
 * protocol that imports another, built by `make -j2` from an empty build directory, must
 * compile, and each idlc run must happen exactly once (a wrapper logs every run).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/idlc-make-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(makerule, .init = make_dir, .fini = remove_dir);

static void put(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

/* The user's Makefile, as the documentation gives it (plus what the test builds). */
static const char makefile[] = "IDLC      ?= idlc\n"
                               "IDL_DIR   := idl\n"
                               "GEN_DIR   := gen\n"
                               "PROTOCOLS := $(basename $(notdir $(wildcard $(IDL_DIR)/*.idl)))\n"
                               "IDL_OUTPUTS := .h _codec.c _client.c _server.c\n"
                               "\n"
                               "all: $(GEN_DIR)/kv_client.o $(GEN_DIR)/kv_server.o\n"
                               "\n"
                               "$(addprefix $(GEN_DIR)/%,$(IDL_OUTPUTS) .d) &: $(IDL_DIR)/%.idl\n"
                               "\t@mkdir -p $(GEN_DIR)\n"
                               "\t$(IDLC) -I $(IDL_DIR) -o $(GEN_DIR) -MF $(GEN_DIR)/$*.d $<\n"
                               "\n"
                               "$(GEN_DIR)/%.o: $(GEN_DIR)/%.c $(GEN_DIR)/%.h\n"
                               "\t$(CC) $(CFLAGS) -I$(GEN_DIR) -c -o $@ $<\n"
                               "\n"
                               "clean:\n"
                               "\trm -rf $(GEN_DIR)\n"
                               "\n"
                               "ifeq ($(filter clean,$(MAKECMDGOALS)),)\n"
                               "include $(PROTOCOLS:%=$(GEN_DIR)/%.d)\n"
                               "endif\n";

/* kv.h includes kvtypes.h: compiling kv_client.c needs kvtypes' generated header */
static const char kvtypes_idl[] = "/// Types shared by the key-value protocols.\n"
                                  "const KEY_MAX = 64;\n"
                                  "struct entry { string<KEY_MAX> key; u8 value[<= 256]; }\n";
static const char kv_idl[] = "protocol kv version 1;\n"
                             "import \"kvtypes.idl\";\n"
                             "from frontend {\n"
                             "    transaction get(string<KEY_MAX> key) -> (entry e);\n"
                             "    message put(entry e);\n"
                             "}\n";

/* runs make -j2 in dir; its exit status (the output goes to make.log, shown on failure) */
static int run_make(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "make -C '%s' -j2 IDLC='%s/idlc-log' CC=cc CFLAGS='-std=c11 -I%s/runtime/include' "
             ">'%s/make.log' 2>&1",
             dir, dir, IDC_SRCDIR, dir);
    int rc = system(cmd);
    if (rc != 0) {
        snprintf(cmd, sizeof cmd, "cat '%s/make.log' >&2", dir);
        (void)system(cmd);
    }
    return rc;
}

/* how many times idlc ran on idl/NAME.idl */
static unsigned runs(const char *name)
{
    char path[256], line[256], want[64];
    snprintf(path, sizeof path, "%s/idlc.log", dir);
    snprintf(want, sizeof want, "idl/%s.idl\n", name);
    FILE *f = fopen(path, "r");
    unsigned n = 0;
    while (f && fgets(line, sizeof line, f))
        n += !strcmp(line, want);
    if (f)
        fclose(f);
    return n;
}

static void set_age(const char *name, int seconds_ago)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cd '%s' && touch -d '-%d sec' %s", dir, seconds_ago, name);
    cr_assert_eq(system(cmd), 0);
}

Test(makerule, importing_protocol_builds_from_scratch_with_one_idlc_run_each, .timeout = 240)
{
    FILE *v = popen("make --version 2>/dev/null", "r");
    int major = 0, minor = 0;
    if (v) {
        if (fscanf(v, "GNU Make %d.%d", &major, &minor) != 2)
            major = 0;
        pclose(v);
    }
    if (major * 100 + minor < 403)
        cr_skip("needs GNU make 4.3 or later (grouped targets '&:'), found %d.%d", major, minor);
    if (system("command -v cc >/dev/null 2>&1") != 0)
        cr_skip("no C compiler 'cc' in PATH");
    /* a fresh make, not part of the one running the tests (its jobserver is not ours) */
    unsetenv("MAKEFLAGS");
    unsetenv("MFLAGS");
    unsetenv("MAKELEVEL");

    char path[256], wrapper[1024];
    snprintf(path, sizeof path, "%s/idl", dir);
    cr_assert_eq(mkdir(path, 0755), 0);
    put("Makefile", makefile);
    put("idl/kvtypes.idl", kvtypes_idl);
    put("idl/kv.idl", kv_idl);
    /* idlc, logging its input file */
    snprintf(wrapper, sizeof wrapper,
             "#!/bin/sh\nfor a; do last=$a; done\necho \"$last\" >> '%s/idlc.log'\n"
             "exec '%s/bin/idlc' \"$@\"\n",
             dir, IDC_BUILDDIR);
    put("idlc-log", wrapper);
    snprintf(path, sizeof path, "%s/idlc-log", dir);
    cr_assert_eq(chmod(path, 0755), 0);

    /* from scratch: kvtypes is built because kv imports it, before kv is compiled */
    cr_assert_eq(run_make(), 0, "make -j2 from an empty build directory failed");
    cr_assert_eq(runs("kv"), 1, "idlc ran %u times on kv.idl", runs("kv"));
    cr_assert_eq(runs("kvtypes"), 1, "idlc ran %u times on kvtypes.idl", runs("kvtypes"));

    /* up to date: nothing runs */
    cr_assert_eq(run_make(), 0);
    cr_assert_eq(runs("kv") + runs("kvtypes"), 2, "idlc ran again on an up-to-date tree");

    /* the import changed: both are generated again, once each */
    set_age("gen/* idl/kv.idl", 100);
    set_age("idl/kvtypes.idl", 50);
    cr_assert_eq(run_make(), 0);
    cr_assert_eq(runs("kv"), 2, "idlc ran %u times on kv.idl", runs("kv"));
    cr_assert_eq(runs("kvtypes"), 2, "idlc ran %u times on kvtypes.idl", runs("kvtypes"));

    /* the generated header of the import was deleted: made again, the user's left alone */
    snprintf(path, sizeof path, "%s/gen/kvtypes.h", dir);
    cr_assert_eq(unlink(path), 0);
    set_age("gen/*.o", 100);
    cr_assert_eq(run_make(), 0);
    cr_assert_eq(access(path, R_OK), 0);
    cr_assert_eq(runs("kvtypes"), 3);
    cr_assert_eq(runs("kv"), 2);
}
