/*
 * Compiler speed: idlc on a 10,000-declaration interface file against rpcgen on the
 * equivalent .x file (2,500 each of constants, two-value enums, three-field structs and
 * messages/procedures taking one of those structs). One sample = one complete run of the
 * compiler producing all its outputs (idlc: header, codec, client and server glue; rpcgen without
 * options: header, XDR routines, client stubs, server skeleton), fork to exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define NDECL 2500 /* of each of the four kinds: 10,000 declarations */

static char rpcgen_path[256];

static const char *find_in_path(const char *name, char *out, size_t len)
{
    const char *path = getenv("PATH");
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", path ? path : "/usr/bin:/bin");
    for (char *dir = strtok(buf, ":"); dir; dir = strtok(NULL, ":")) {
        snprintf(out, len, "%s/%s", dir, name);
        if (access(out, X_OK) == 0)
            return out;
    }
    return NULL;
}

static const char *rpcgen_available(void)
{
    return find_in_path("rpcgen", rpcgen_path, sizeof rpcgen_path)
               ? NULL
               : "rpcgen not installed (Debian rpcsvc-proto)";
}

static const char *idlc_available(void)
{
    const char *p = bench_option("idlc");
    if (!p)
        return "no idlc given (-D idlc=PATH; make bench passes the built one)";
    if (access(p, X_OK) != 0)
        return "the idlc given with -D idlc= is not executable";
    return NULL;
}

static int write_idl(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "/// Generated for the compile-time benchmark: 10,000 declarations.\n"
               "protocol big version 1;\n");
    for (int i = 0; i < NDECL; i++)
        fprintf(f, "const C%d = %d;\n", i, i);
    for (int i = 0; i < NDECL; i++)
        fprintf(f, "enum e%d : u8 { E%d_A = 0, E%d_B = 1 }\n", i, i, i);
    for (int i = 0; i < NDECL; i++)
        fprintf(f, "struct s%d { u32 a; u64 b; e%d c; }\n", i, i);
    fprintf(f, "from frontend {\n");
    for (int i = 0; i < NDECL; i++)
        fprintf(f, "    message m%d(s%d x);\n", i, i);
    fprintf(f, "}\n");
    return fclose(f);
}

static int write_x(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    for (int i = 0; i < NDECL; i++)
        fprintf(f, "const C%d = %d;\n", i, i);
    for (int i = 0; i < NDECL; i++)
        fprintf(f, "enum e%d { E%d_A = 0, E%d_B = 1 };\n", i, i, i);
    for (int i = 0; i < NDECL; i++)
        fprintf(f, "struct s%d { unsigned int a; unsigned hyper b; e%d c; };\n", i, i);
    fprintf(f, "program BIG { version BIGV {\n");
    for (int i = 0; i < NDECL; i++)
        fprintf(f, "    void M%d(s%d) = %d;\n", i, i, i + 1);
    fprintf(f, "} = 1; } = 0x20000001;\n");
    return fclose(f);
}

/* Run argv in dir with output discarded; 0 if it exited with status 0. */
static int run_in(const char *dir, char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (chdir(dir) != 0)
            _exit(126);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int compile_run(struct bench_run *run, int idlc)
{
    char dir[300], src[400];
    snprintf(dir, sizeof dir, "%s/compile-%d", run->tmpdir, (int)getpid());
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return bench_fail(run, "mkdir %s: %s", dir, strerror(errno));
    snprintf(src, sizeof src, "%s/big.%s", dir, idlc ? "idl" : "x");
    if ((idlc ? write_idl(src) : write_x(src)) != 0)
        return bench_fail(run, "writing %s: %s", src, strerror(errno));
    char idlc_abs[4096] = "";
    if (idlc && !realpath(bench_option("idlc"), idlc_abs))
        return bench_fail(run, "idlc: %s", strerror(errno));
    char *argv_idlc[] = { idlc_abs, "-o", ".", "big.idl", NULL };
    char *argv_rpcgen[] = { rpcgen_path, "big.x", NULL };
    int rc = 0;
    bench_lat_start(run);
    for (;;) {
        uint64_t t0 = bench_ticks();
        if (run_in(dir, idlc ? argv_idlc : argv_rpcgen) != 0) {
            rc = bench_fail(run, "%s failed on the generated file", idlc ? "idlc" : "rpcgen");
            break;
        }
        uint64_t t1 = bench_ticks();
        if (!bench_lat_record(run, t0, t1))
            break;
    }
    static const char *outs[] = { "big.idl",     "big.x",        "big.h",
                                  "big_codec.c", "big_client.c", "big_server.c",
                                  "big_clnt.c",  "big_svc.c",    "big_xdr.c" };
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
        char p[450];
        snprintf(p, sizeof p, "%s/%s", dir, outs[i]);
        unlink(p);
    }
    rmdir(dir);
    return rc;
}

static int rpcgen_run(struct bench_run *run)
{
    return compile_run(run, 0);
}
static int idlc_run(struct bench_run *run)
{
    return compile_run(run, 1);
}

/* A single process: the placement does not matter, so only one is measured. */
BENCH_CASE(case_rpcgen, .figure = "compile", .name = "rpcgen", .baseline = NULL,
           .placements = BENCH_CROSS, .available = rpcgen_available, .run = rpcgen_run)
BENCH_CASE(case_idlc, .figure = "compile", .name = "idlc", .baseline = "rpcgen",
           .placements = BENCH_CROSS, .available = idlc_available, .run = idlc_run)
