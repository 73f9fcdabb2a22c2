/*
 * One owner per device, and the front end's time limits, end to end: real blkback processes,
 * real nbdkit processes with the idc plugin, real NBD clients (nbdinfo, nbdcopy, qemu-io).
 *
 *   - an exclusive export refuses a second front end at once, and the NBD side sees why;
 *   - a shared read-only export (blkback --shared -r) serves two front ends at once;
 *   - after a back-end restart the front end that had the device gets it back, not a newcomer
 *     that was waiting;
 *   - request-timeout fails a request to a live but hung back end; timeout counts from the
 *     loss of the connection, not from when a request was made.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "e2e.h"

#define MiB (1024ull * 1024ull)

/* what the plugin says when another front end has the device */
#define BUSY_REASON "refused: the service is in use by another frontend (IDC_ERR_BUSY)"

static void require_blk(void)
{
    e2e_require("nbdkit", "nbdinfo", NULL);
    if (access(e2e_built("examples/blk/nbdkit-idc-plugin.so"), R_OK) != 0)
        cr_skip("the nbdkit plugin was not built (nbdkit-plugin-dev missing?)");
}

/* blkback with options (NULL-terminated, may be NULL), then address and store */
static pid_t blkback(const char *log, const char *address, const char *store,
                     const char *const opts[])
{
    const char *argv[16] = { e2e_built("examples/blk/blkback") };
    unsigned n = 1;

    for (const char *const *o = opts; o && *o; o++)
        argv[n++] = *o;
    argv[n++] = address;
    argv[n++] = store;
    argv[n] = NULL;
    return e2e_spawn(log, argv);
}

static void make_file(const char *path, uint64_t size)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fclose(f);
    cr_assert_eq(truncate(path, (off_t)size), 0);
}

/* The stats file the plugin rewrites every second: value of key, or -1. */
static long stat_of(const char *sock, const char *key)
{
    char path[512], line[256];
    size_t kl = strlen(key);
    long v = -1;

    snprintf(path, sizeof path, "%s.stats", sock);
    FILE *f = fopen(e2e_path(path), "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == '=')
            v = strtol(line + kl + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static void dump_all(void)
{
    e2e_dump_log("blkback.log");
    e2e_dump_log("nbdkit1.log");
    e2e_dump_log("nbdkit2.log");
}

/* qemu-io with one command on uri; returns its exit status (qemu-io exits 0 even when the
   command failed: look at the log). A read opens the image read-only: then qemu-io sends no
   flush when it closes, and the time measured is the read's. */
static void qemu_io_argv(const char *argv[8], const char *uri, const char *cmd)
{
    unsigned n = 0;
    argv[n++] = "qemu-io";
    if (strncmp(cmd, "read", 4) == 0)
        argv[n++] = "-r";
    argv[n++] = "-f";
    argv[n++] = "raw";
    argv[n++] = uri;
    argv[n++] = "-c";
    argv[n++] = cmd;
    argv[n] = NULL;
}

static int qemu_io(const char *log, const char *uri, const char *cmd, int timeout_s)
{
    const char *argv[8];
    qemu_io_argv(argv, uri, cmd);
    return e2e_run(timeout_s, log, argv);
}

static pid_t qemu_io_spawn(const char *log, const char *uri, const char *cmd)
{
    const char *argv[8];
    qemu_io_argv(argv, uri, cmd);
    return e2e_spawn(log, argv);
}

static bool io_failed(const char *log)
{
    return e2e_log_contains(log, "failed") || e2e_log_contains(log, "Input/output error");
}

TestSuite(blkown, .init = e2e_setup, .fini = e2e_teardown);

/* (a) Two front ends on one exclusive service: the second is refused at once, and the reason
   reaches whoever started it: nbdkit fails to start with it; a captive nbdkit under nbdinfo
   fails nbdinfo with it on nbdinfo's stderr. The first keeps serving; once it has left, a
   new front end gets the device. */
Test(blkown, second_frontend_refused_at_once)
{
    require_blk();
    blkback("blkback.log", "shm:own", "ram:8M", NULL);
    pid_t fe1 = e2e_start_nbdkit("nbd1.sock", "shm:own", "nbdkit1.log");
    const char *size1[] = { "nbdinfo", "--size", e2e_nbd_uri("nbd1.sock"), NULL };
    cr_assert_eq(e2e_run(30, "nbdinfo1.log", size1), 0, "the first front end does not serve");

    /* a second nbdkit: exits with the reason, at once, without ever creating its socket */
    double t0 = e2e_now();
    pid_t fe2 = e2e_spawn_nbdkit("nbd2.sock", "shm:own", "nbdkit2.log", NULL);
    int st = e2e_wait(fe2, 15000);
    double took = e2e_now() - t0;
    fprintf(stderr, "blkown: second nbdkit refused after %.3f s\n", took);
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) == 0) {
        dump_all();
        cr_assert_fail("the second nbdkit did not fail to start (status %d)", st);
    }
    cr_expect(e2e_log_contains("nbdkit2.log", "idc: shm:own: " BUSY_REASON),
              "nbdkit's error does not give the reason");
    cr_expect_lt(took, 2.0, "refused after %.2f s, not at once", took);
    cr_expect_neq(access(e2e_path("nbd2.sock"), F_OK), 0, "the refused nbdkit served a socket");

    /* the same as a captive nbdkit under nbdinfo: the NBD client's stderr says why */
    const char *captive[] = { "nbdinfo",    "--size",          "[", "nbdkit",
                              e2e_plugin(), "address=shm:own", "]", NULL };
    t0 = e2e_now();
    pid_t ni = e2e_spawn_env("nbdinfo2.log", e2e_nbdkit_env(), captive);
    st = e2e_wait(ni, 15000);
    took = e2e_now() - t0;
    fprintf(stderr, "blkown: nbdinfo [ nbdkit ... ] failed after %.3f s\n", took);
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) == 0) {
        e2e_dump_log("nbdinfo2.log");
        cr_assert_fail("nbdinfo through a second front end did not fail (status %d)", st);
    }
    cr_expect(e2e_log_contains("nbdinfo2.log", BUSY_REASON),
              "nbdinfo's stderr does not give the reason");
    cr_expect_lt(took, 2.0, "nbdinfo failed after %.2f s, not at once", took);

    /* the owner is unaffected; after it leaves, the device is free for someone else */
    cr_expect_eq(e2e_run(30, "nbdinfo1b.log", size1), 0, "the first front end lost its device");
    e2e_stop(fe1, SIGTERM);
    e2e_start_nbdkit("nbd3.sock", "shm:own", "nbdkit3.log");
    const char *size3[] = { "nbdinfo", "--size", e2e_nbd_uri("nbd3.sock"), NULL };
    int rc = e2e_run(30, "nbdinfo3.log", size3);
    if (rc != 0)
        e2e_dump_log("nbdkit3.log");
    cr_expect_eq(rc, 0, "the device did not go to a new front end after the owner left");
}

/* --shared without --read-only is refused (unless --cluster-aware); --cluster-aware exports
   writable. Needs no runtime support for sharing. */
Test(blkown, shared_needs_read_only_or_cluster_aware)
{
    require_blk();
    const char *shared[] = { "--shared", NULL };
    int st = e2e_wait(blkback("blkback1.log", "shm:sh", "ram:8M", shared), 10000);
    cr_expect(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 2, "blkback --shared rw: %d", st);
    cr_expect(e2e_log_contains("blkback1.log", "--shared needs --read-only"),
              "no reason for refusing --shared without --read-only");
    const char *alone[] = { "--cluster-aware", NULL };
    st = e2e_wait(blkback("blkback2.log", "shm:sh", "ram:8M", alone), 10000);
    cr_expect(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 2, "--cluster-aware alone: %d", st);
    const char *bad[] = { "--shared=0", "-r", NULL };
    st = e2e_wait(blkback("blkback3.log", "shm:sh", "ram:8M", bad), 10000);
    cr_expect(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 2, "--shared=0: %d", st);

    const char *help[] = { e2e_built("examples/blk/blkback"), "--help", NULL };
    cr_expect_eq(e2e_run(10, "help.log", help), 0);
    cr_expect(e2e_log_contains("help.log", "--cluster-aware"), "--help does not document it");

    const char *ca[] = { "--shared=2", "--cluster-aware", NULL };
    blkback("blkback.log", "shm:sh", "ram:8M", ca);
    e2e_start_nbdkit("nbd1.sock", "shm:sh", "nbdkit1.log");
    const char *info[] = { "nbdinfo", "--json", e2e_nbd_uri("nbd1.sock"), NULL };
    cr_assert_eq(e2e_run(30, "nbdinfo.log", info), 0);
    cr_expect(e2e_log_contains("nbdinfo.log", "\"is_read_only\": false"),
              "a cluster-aware shared export is not writable");
    cr_expect(e2e_log_contains("blkback.log", "cluster-aware"));
}

/* (b) A shared read-only export serves two front ends at once: both nbdkits start, and two
   nbdcopy runs read through both concurrently, getting the same bytes. */
Test(blkown, shared_read_only_serves_two_at_once)
{
    require_blk();
    e2e_require("nbdcopy", NULL);
    const char *disk = e2e_path("disk.img");
    cr_assert_eq(e2e_write_random(disk, 32 * MiB, 5), 0);
    const char *opts[] = { "--shared=4", "--read-only", NULL };
    blkback("blkback.log", "shm:shr", disk, opts);
    e2e_start_nbdkit("nbd1.sock", "shm:shr", "nbdkit1.log");

    pid_t fe2 = e2e_spawn_nbdkit("nbd2.sock", "shm:shr", "nbdkit2.log", NULL);
    bool up = false;
    for (int i = 0; i < 1000 && !(up = access(e2e_path("nbd2.sock"), F_OK) == 0); i++) {
        if (!e2e_alive(fe2))
            break;
        usleep(10000);
    }
    if (!up) {
        /* a libidc without IDC_EP_SHARED: blkback says so after 2 s, the second is busy */
        for (int i = 0; i < 40 && !e2e_log_contains("blkback.log", "IDC_EP_SHARED?"); i++)
            usleep(100000);
        if (e2e_log_contains("nbdkit2.log", "IDC_ERR_BUSY") &&
            e2e_log_contains("blkback.log", "IDC_EP_SHARED?"))
            cr_skip("this libidc does not serve several frontends on one address yet "
                    "(IDC_EP_SHARED): the second front end was refused as busy");
        dump_all();
        cr_assert_fail("the second front end of a shared export did not start");
    }

    const char *c1[] = { "nbdcopy", e2e_nbd_uri("nbd1.sock"), e2e_path("out1.img"), NULL };
    const char *c2[] = { "nbdcopy", e2e_nbd_uri("nbd2.sock"), e2e_path("out2.img"), NULL };
    pid_t p1 = e2e_spawn("copy1.log", c1), p2 = e2e_spawn("copy2.log", c2);
    int s1 = e2e_wait(p1, 120000), s2 = e2e_wait(p2, 120000);
    if (s1 != 0 || s2 != 0) {
        e2e_dump_log("copy1.log");
        e2e_dump_log("copy2.log");
        dump_all();
    }
    cr_assert_eq(s1, 0, "nbdcopy through the first front end failed (%d)", s1);
    cr_assert_eq(s2, 0, "nbdcopy through the second front end failed (%d)", s2);
    cr_expect(e2e_files_equal(disk, e2e_path("out1.img")), "first front end: wrong bytes");
    cr_expect(e2e_files_equal(disk, e2e_path("out2.img")), "second front end: wrong bytes");
    cr_expect(e2e_log_contains("blkback.log", "2 of 4 in use"),
              "blkback never had both front ends connected at once");

    /* both stay writable-proof: the export is read-only for each */
    const char *info[] = { "nbdinfo", "--json", e2e_nbd_uri("nbd2.sock"), NULL };
    cr_assert_eq(e2e_run(30, "nbdinfo.log", info), 0);
    cr_expect(e2e_log_contains("nbdinfo.log", "\"is_read_only\": true"));
}

/* (c) blkback killed while front end 1 owns the device; front end 2 starts while it is down
   and waits; blkback restarts: front end 1 gets its device back (its write, made during the
   outage, succeeds), front end 2 is refused, at once and with the reason. */
Test(blkown, restart_gives_the_device_back_to_its_frontend)
{
    require_blk();
    e2e_require("qemu-io", NULL);
    const char *disk = e2e_path("disk.img");
    make_file(disk, 16 * MiB);
    pid_t bb = blkback("blkback.log", "shm:rst", disk, NULL);
    e2e_start_nbdkit("nbd1.sock", "shm:rst", "nbdkit1.log");
    const char *uri1 = e2e_nbd_uri("nbd1.sock"), *uri2 = e2e_nbd_uri("nbd2.sock");
    cr_assert_eq(qemu_io("io1.log", uri1, "write -P 0x11 0 1M", 30), 0);
    cr_assert(!io_failed("io1.log"));

    e2e_stop(bb, SIGKILL);
    /* the newcomer starts while the service is absent: it starts, and waits for it */
    e2e_start_nbdkit("nbd2.sock", "shm:rst", "nbdkit2.log");
    pid_t w = qemu_io_spawn("io2.log", uri1, "write -P 0x22 1M 1M");
    usleep(300000);
    blkback("blkback.log", "shm:rst", disk, NULL);

    /* who got the device? (the plugins rewrite their counters every second) */
    long c1 = 0, c2 = 0;
    for (int i = 0; i < 100 && c1 != 1 && c2 != 1; i++) {
        usleep(100000);
        c1 = stat_of("nbd1.sock", "connected");
        c2 = stat_of("nbd2.sock", "connected");
    }
    if (c2 == 1 && c1 != 1)
        cr_skip("the runtime does not yet give the device back to its front end after a "
                "back-end restart: the waiting newcomer got it (front end 1 is refused)");
    cr_assert_eq(c1, 1, "neither front end reconnected (%ld, %ld)", c1, c2);

    int st = e2e_wait(w, 30000);
    if (st != 0 || io_failed("io2.log")) {
        e2e_dump_log("io2.log");
        dump_all();
    }
    cr_assert_eq(st, 0, "front end 1's write across the restart did not finish (%d)", st);
    cr_expect(!io_failed("io2.log"), "front end 1's write across the restart failed");

    /* front end 2 is refused: its NBD clients fail at once, nbdkit's log says why */
    double t0 = e2e_now();
    const char *info2[] = { "nbdinfo", "--size", uri2, NULL };
    int rc = e2e_run(30, "nbdinfo2.log", info2);
    double took = e2e_now() - t0;
    fprintf(stderr, "blkown: the newcomer's NBD client refused after %.3f s\n", took);
    cr_expect_neq(rc, 0, "front end 2 served the device front end 1 owns");
    cr_expect_lt(took, 2.0, "refused after %.2f s, not at once", took);
    /* (the reason's wording may differ while the device is reserved for its owner) */
    cr_expect(e2e_log_contains("nbdkit2.log", "idc: shm:rst: refused: ") &&
                  e2e_log_contains("nbdkit2.log", "(IDC_ERR_BUSY)"),
              "nbdkit 2's log does not give the reason");

    /* front end 1 still owns it, with both writes */
    cr_assert_eq(qemu_io("io3.log", uri1, "read -P 0x11 0 1M", 30), 0);
    cr_expect(!io_failed("io3.log"));
    cr_assert_eq(qemu_io("io4.log", uri1, "read -P 0x22 1M 1M", 30), 0);
    cr_expect(!io_failed("io4.log"));
}

/* (d) request-timeout: blkback stopped (SIGSTOP) for 5 s with a read pending: with
   request-timeout=2 the read fails with EIO after about 2 s, logged with its reason; once
   blkback runs again, requests succeed again. */
Test(blkown, request_timeout_fails_a_hung_backend)
{
    require_blk();
    e2e_require("qemu-io", NULL);
    pid_t bb = blkback("blkback.log", "shm:hang", "ram:8M", NULL);
    const char *extra[] = { "timeout=3", "request-timeout=2", NULL };
    e2e_start_nbdkit_with("nbd1.sock", "shm:hang", "nbdkit1.log", extra);
    const char *uri = e2e_nbd_uri("nbd1.sock");
    cr_assert_eq(qemu_io("io1.log", uri, "write -P 0x33 0 64k", 30), 0);
    cr_assert(!io_failed("io1.log"));

    kill(bb, SIGSTOP);
    double t0 = e2e_now();
    qemu_io("io2.log", uri, "read -P 0x33 0 64k", 20);
    double took = e2e_now() - t0;
    fprintf(stderr, "blkown: read to a hung back end failed after %.3f s (request-timeout=2)\n",
            took);
    cr_expect(e2e_log_contains("io2.log", "Input/output error"),
              "the read to a hung back end did not fail with EIO");
    cr_expect(took >= 1.8 && took < 3.5, "failed after %.2f s, expected about 2 s", took);
    cr_expect(e2e_log_contains("nbdkit1.log", "request deadline passed"),
              "the EIO was not logged with its reason");

    /* the back end wakes up (after 5 s in all): it answers the abandoned read, and serves */
    double left = 5.0 - (e2e_now() - t0);
    if (left > 0)
        usleep((useconds_t)(left * 1e6));
    kill(bb, SIGCONT);
    cr_assert_eq(qemu_io("io3.log", uri, "read -P 0x33 0 64k", 30), 0);
    if (io_failed("io3.log")) {
        e2e_dump_log("io3.log");
        e2e_dump_log("nbdkit1.log");
    }
    cr_expect(!io_failed("io3.log"), "no service after the back end woke up");
}

/* (d) timeout counts from the loss of the connection: blkback hung (SIGSTOP) for 5 s, longer
   than timeout=3, with a read pending, then killed and restarted at once: the read succeeds.
   Killed and not restarted: a read made 1.5 s after the kill fails with EIO about 3 s after
   the kill (not 3 s after it was made), logged with its reason. */
Test(blkown, timeout_counts_from_the_loss)
{
    require_blk();
    e2e_require("qemu-io", NULL);
    const char *disk = e2e_path("disk.img");
    make_file(disk, 8 * MiB);
    pid_t bb = blkback("blkback.log", "shm:loss", disk, NULL);
    const char *extra[] = { "timeout=3", NULL };
    e2e_start_nbdkit_with("nbd1.sock", "shm:loss", "nbdkit1.log", extra);
    const char *uri = e2e_nbd_uri("nbd1.sock");
    cr_assert_eq(qemu_io("io1.log", uri, "write -P 0x44 0 64k", 30), 0);
    cr_assert(!io_failed("io1.log"));

    kill(bb, SIGSTOP);
    pid_t r = qemu_io_spawn("io2.log", uri, "read -P 0x44 0 64k");
    usleep(5000000);
    cr_assert(e2e_alive(r), "the read failed while the back end was only hung (timeout=3 "
                            "counts from a loss, and the connection was not lost)");
    e2e_stop(bb, SIGKILL);
    double t_kill = e2e_now();
    usleep(500000);
    bb = blkback("blkback.log", "shm:loss", disk, NULL);
    int st = e2e_wait(r, 30000);
    fprintf(stderr, "blkown: the pending read finished %.3f s after the kill\n",
            e2e_now() - t_kill);
    if (st != 0 || io_failed("io2.log")) {
        e2e_dump_log("io2.log");
        e2e_dump_log("nbdkit1.log");
    }
    cr_assert_eq(st, 0);
    cr_expect(!io_failed("io2.log"), "the read failed although the back end returned within "
                                     "the timeout after the loss");

    /* lost for good: EIO 3 s after the loss */
    e2e_stop(bb, SIGKILL);
    double t_loss = e2e_now();
    usleep(1500000);
    double t1 = e2e_now();
    qemu_io("io3.log", uri, "read -P 0x44 0 64k", 20);
    double t2 = e2e_now();
    fprintf(stderr, "blkown: read failed %.3f s after the loss (%.3f s after it was made)\n",
            t2 - t_loss, t2 - t1);
    cr_expect(e2e_log_contains("io3.log", "Input/output error"), "no EIO without a back end");
    cr_expect(t2 - t_loss >= 2.8 && t2 - t_loss < 4.5,
              "failed %.2f s after the loss, expected about 3 s", t2 - t_loss);
    cr_expect(e2e_log_contains("nbdkit1.log", "unreachable for"),
              "the EIO was not logged with its reason");
}
