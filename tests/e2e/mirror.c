/*
 * Stacked driver end to end: nbdkit + idc plugin -> blkmirror -> two blkback legs, all real
 * processes. One leg is killed with SIGKILL while writes are in flight and restarted while
 * writes go on; afterwards the mirror reports both legs in sync and both backing files hold
 * exactly what was written.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"

#define MiB (1024ull * 1024ull)

TestSuite(mirror, .init = e2e_setup, .fini = e2e_teardown);

static pid_t start_leg(const char *addr, const char *file, const char *log)
{
    const char *argv[] = { e2e_built("examples/blk/blkback"), addr, file, NULL };
    return e2e_spawn(log, argv);
}

static bool status_has(const char *want)
{
    char line[256];
    bool found = false;
    FILE *f = fopen(e2e_path("mirror.status"), "r");

    while (f && fgets(line, sizeof line, f))
        found |= strncmp(line, want, strlen(want)) == 0 && line[strlen(want)] == '\n';
    if (f)
        fclose(f);
    return found;
}

static unsigned long status_value(const char *key)
{
    char line[256];
    unsigned long v = 0;
    size_t n = strlen(key);
    FILE *f = fopen(e2e_path("mirror.status"), "r");

    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == '=')
            v = strtoul(line + n + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static bool wait_status(const char *a, const char *b, int timeout_ms)
{
    for (int t = 0; t < timeout_ms; t += 50) {
        if (status_has(a) && (!b || status_has(b)))
            return true;
        usleep(50000);
    }
    return false;
}

static void make_disk(const char *path, uint64_t size)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fclose(f);
    cr_assert_eq(truncate(path, (off_t)size), 0);
}

Test(mirror, leg_restart_under_writes_leaves_legs_equal)
{
    e2e_require("nbdkit", "nbdcopy", NULL);
    if (access(e2e_built("examples/mirror/blkmirror"), X_OK) != 0 ||
        access(e2e_built("examples/blk/nbdkit-idc-plugin.so"), R_OK) != 0)
        cr_skip("blkmirror or the nbdkit plugin not built");

    const char *a = e2e_path("a.img"), *b = e2e_path("b.img");
    const char *src1 = e2e_path("src1.img"), *src2 = e2e_path("src2.img"),
               *out = e2e_path("out.img");
    make_disk(a, 32 * MiB);
    make_disk(b, 32 * MiB);
    cr_assert_eq(e2e_write_random(src1, 32 * MiB, 1), 0);
    cr_assert_eq(e2e_write_random(src2, 32 * MiB, 2), 0);

    start_leg("shm:legA", a, "legA.log");
    pid_t lb = start_leg("shm:legB", b, "legB.log");
    const char *margv[] = { e2e_built("examples/mirror/blkmirror"),
                            "-S",
                            e2e_path("mirror.status"),
                            "shm:m0",
                            "shm:legA",
                            "shm:legB",
                            NULL };
    pid_t mirror = e2e_spawn("mirror.log", margv);
    cr_assert(wait_status("leg0=in_sync", "leg1=in_sync", 10000), "legs did not come up");
    e2e_start_nbdkit("nbd.sock", "shm:m0", "nbdkit.log");
    const char *uri = e2e_nbd_uri("nbd.sock");

    /* 1: both legs up */
    const char *c1[] = { "nbdcopy", src1, uri, NULL };
    cr_assert_eq(e2e_run(60, "copy1.log", c1), 0);

    /* 2: writes go on in a loop (the same image again and again) while leg B is killed with
       SIGKILL and restarted; the loop stops at a stop file, then one last full copy runs */
    unsigned long writes0 = status_value("writes");
    char loop[2048];
    snprintf(loop, sizeof loop,
             "while [ ! -e %s ]; do nbdcopy --requests=8 %s '%s' || exit 1; done", e2e_path("stop"),
             src2, uri);
    const char *c2[] = { "sh", "-c", loop, NULL };
    pid_t writer = e2e_spawn("copy2.log", c2);
    for (int i = 0; i < 1000 && status_value("writes") < writes0 + 16; i++)
        usleep(10000);
    cr_assert(e2e_alive(writer), "the writer stopped early");
    e2e_stop(lb, SIGKILL);
    usleep(300000); /* writes go to leg A only meanwhile */
    lb = start_leg("shm:legB", b, "legB.log");
    usleep(500000); /* resync runs while writes go on */
    FILE *stop = fopen(e2e_path("stop"), "w");
    cr_assert_not_null(stop);
    fclose(stop);
    int st = e2e_wait(writer, 60000);
    if (st != 0) {
        e2e_dump_log("copy2.log");
        e2e_dump_log("mirror.log");
    }
    cr_assert_eq(st, 0, "the writes across the leg restart failed");
    const char *c2b[] = { "nbdcopy", src2, uri, NULL };
    cr_assert_eq(e2e_run(60, "copy2b.log", c2b), 0);

    /* 3: resync finishes; reads are right; then both backing files equal what was written */
    bool synced = wait_status("leg0=in_sync", "leg1=in_sync", 30000) &&
                  wait_status("leg1_dirty_chunks=0", NULL, 1000);
    if (!synced)
        e2e_dump_log("mirror.log");
    cr_assert(synced, "leg B did not get back in sync");
    cr_expect(!status_has("leg1_losses=0"), "leg B's loss was not noticed (killed too late?)");
    cr_expect_gt(status_value("degraded_writes"), 0, "no write went to one leg only");
    cr_expect_gt(status_value("leg1_resynced_chunks"), 0, "nothing was resynchronised");
    const char *c3[] = { "nbdcopy", uri, out, NULL };
    cr_assert_eq(e2e_run(60, "copy3.log", c3), 0);
    cr_expect(e2e_files_equal(src2, out), "data read through the mirror differs");

    const char *fl[] = { "nbdsh", "-u", uri, "-c", "h.flush()", NULL };
    if (e2e_have("nbdsh"))
        e2e_run(30, "flush.log", fl);
    e2e_stop(mirror, SIGTERM);
    cr_expect(e2e_files_equal(a, src2), "leg A differs from what was written");
    cr_expect(e2e_files_equal(b, src2), "leg B differs from what was written");
    cr_expect(e2e_files_equal(a, b), "the legs differ");
}

/* With both legs gone, requests wait instead of failing, and complete when a leg returns. */
Test(mirror, requests_wait_while_no_leg_is_up)
{
    e2e_require("nbdkit", "nbdcopy", NULL);
    if (access(e2e_built("examples/mirror/blkmirror"), X_OK) != 0 ||
        access(e2e_built("examples/blk/nbdkit-idc-plugin.so"), R_OK) != 0)
        cr_skip("blkmirror or the nbdkit plugin not built");

    const char *a = e2e_path("a.img"), *b = e2e_path("b.img");
    const char *src = e2e_path("src.img"), *out = e2e_path("out.img");
    make_disk(a, 8 * MiB);
    make_disk(b, 8 * MiB);
    cr_assert_eq(e2e_write_random(src, 8 * MiB, 3), 0);
    pid_t la = start_leg("shm:legA", a, "legA.log");
    pid_t lb = start_leg("shm:legB", b, "legB.log");
    const char *margv[] = { e2e_built("examples/mirror/blkmirror"),
                            "-S",
                            e2e_path("mirror.status"),
                            "shm:m1",
                            "shm:legA",
                            "shm:legB",
                            NULL };
    e2e_spawn("mirror.log", margv);
    cr_assert(wait_status("leg0=in_sync", "leg1=in_sync", 10000));
    e2e_start_nbdkit("nbd.sock", "shm:m1", "nbdkit.log");
    const char *uri = e2e_nbd_uri("nbd.sock");

    e2e_stop(la, SIGKILL);
    e2e_stop(lb, SIGKILL);
    cr_assert(wait_status("leg0=down", "leg1=down", 5000));
    const char *c1[] = { "nbdcopy", src, uri, NULL };
    pid_t copy = e2e_spawn("copy1.log", c1);
    usleep(500000);
    cr_expect(e2e_alive(copy), "the copy did not wait for a leg");
    start_leg("shm:legB", b, "legB.log");
    cr_assert_eq(e2e_wait(copy, 30000), 0, "the copy failed after leg B returned");
    const char *c2[] = { "nbdcopy", uri, out, NULL };
    cr_assert_eq(e2e_run(30, "copy2.log", c2), 0);
    cr_expect(e2e_files_equal(src, out));
    cr_expect(e2e_files_equal(src, b));
}
