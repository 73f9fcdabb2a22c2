/*
 * Block device end to end: blkback (real process) <- idc shm -> nbdkit + idc plugin <- NBD
 * clients (nbdcopy, qemu-io, nbdinfo).
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"

#define MiB (1024ull * 1024ull)

static void require_blk(void)
{
    e2e_require("nbdkit", "nbdcopy", NULL);
    if (access(e2e_built("examples/blk/nbdkit-idc-plugin.so"), R_OK) != 0)
        cr_skip("the nbdkit plugin was not built (nbdkit-plugin-dev missing?)");
}

static pid_t start_blkback(const char *address, const char *store, const char *log,
                           const char *extra)
{
    const char *bin = e2e_built("examples/blk/blkback");
    const char *with[] = { bin, extra, address, store, NULL };
    const char *without[] = { bin, address, store, NULL };
    return e2e_spawn(log, extra ? with : without);
}

static void copy_or_fail(const char *from, const char *to, const char *log)
{
    const char *argv[] = { "nbdcopy", "--requests=32", from, to, NULL };
    int rc = e2e_run(120, log, argv);
    if (rc != 0) {
        e2e_dump_log(log);
        e2e_dump_log("blkback.log");
        e2e_dump_log("nbdkit.log");
        cr_assert_fail("nbdcopy %s -> %s exited with %d", from, to, rc);
    }
}

TestSuite(blk, .init = e2e_setup, .fini = e2e_teardown);

/* 64 MiB of random data in through the front-end, out again, compared; the file under blkback
   holds the same bytes. */
Test(blk, nbdcopy_64mib_roundtrip_checksums)
{
    require_blk();
    const char *src = e2e_path("src.img"), *out = e2e_path("out.img"), *disk = e2e_path("disk.img");

    cr_assert_eq(e2e_write_random(src, 64 * MiB, 42), 0);
    FILE *f = fopen(disk, "w");
    cr_assert_not_null(f);
    fclose(f);
    cr_assert_eq(truncate(disk, (off_t)(64 * MiB)), 0);

    start_blkback("shm:blk0", disk, "blkback.log", NULL);
    e2e_start_nbdkit("nbd.sock", "shm:blk0", "nbdkit.log");

    copy_or_fail(src, e2e_nbd_uri("nbd.sock"), "copy-in.log");
    copy_or_fail(e2e_nbd_uri("nbd.sock"), out, "copy-out.log");

    uint64_t h_src = e2e_file_hash(src), h_out = e2e_file_hash(out), h_disk = e2e_file_hash(disk);
    cr_expect_eq(h_src, h_out, "read back %016llx, wrote %016llx", (unsigned long long)h_out,
                 (unsigned long long)h_src);
    cr_expect_eq(h_src, h_disk, "backing file %016llx, wrote %016llx", (unsigned long long)h_disk,
                 (unsigned long long)h_src);
    cr_expect(e2e_files_equal(src, out));
}

/* qemu-io pattern writes and reads at offsets and lengths that are not sector multiples, on a
   RAM disk, plus a discard that must read back as zeroes; a read with the wrong pattern must
   fail (the check can fail). */
Test(blk, qemu_io_patterns_at_odd_offsets)
{
    require_blk();
    e2e_require("qemu-io", NULL);
    start_blkback("shm:blk1", "ram:16M", "blkback.log", NULL);
    e2e_start_nbdkit("nbd.sock", "shm:blk1", "nbdkit.log");
    const char *uri = e2e_nbd_uri("nbd.sock");

    const char *good[] = {
        "qemu-io", "-f",
        "raw",     uri,
        "-c",      "write -P 0x11 1 511",
        "-c",      "write -P 0x22 513 4095",
        "-c",      "write -P 0x33 1048575 1048579",
        "-c",      "write -P 0x44 16777215 1",
        "-c",      "aio_write -P 0x55 8191 3",
        "-c",      "aio_flush",
        "-c",      "read -P 0x11 1 511",
        "-c",      "read -P 0x00 0 1",
        "-c",      "read -P 0x00 512 1",
        "-c",      "read -P 0x22 513 4095",
        "-c",      "read -P 0x55 8191 3",
        "-c",      "read -P 0x33 1048575 1048579",
        "-c",      "read -P 0x44 16777215 1",
        "-c",      "write -P 0x66 2097152 1048576",
        "-c",      "discard 2162688 65536",
        "-c",      "read -P 0x66 2097152 65536",
        "-c",      "read -P 0x00 2162688 65536",
        "-c",      "read -P 0x66 2228224 65536",
        "-c",      "flush",
        NULL,
    };
    int rc = e2e_run(60, "qemu-io.log", good);
    if (rc != 0)
        e2e_dump_log("qemu-io.log");
    cr_assert_eq(rc, 0, "qemu-io pattern run failed (%d)", rc);

    /* qemu-io exits 0 even when a command fails; look for its pattern failure message */
    const char *bad[] = { "qemu-io", "-f", "raw", uri, "-c", "read -P 0x99 1 511", NULL };
    e2e_run(60, "qemu-io-bad.log", bad);
    FILE *f = fopen(e2e_path("qemu-io-bad.log"), "r");
    char line[512];
    bool mismatch = false;
    while (f && fgets(line, sizeof line, f))
        mismatch |= strstr(line, "Pattern verification failed") != NULL;
    if (f)
        fclose(f);
    cr_expect(mismatch, "a wrong pattern was not detected");

    FILE *g = fopen(e2e_path("qemu-io.log"), "r");
    bool failed = false;
    while (g && fgets(line, sizeof line, g))
        failed |= strstr(line, "Pattern verification failed") != NULL ||
                  strstr(line, "failed:") != NULL;
    if (g)
        fclose(g);
    if (failed)
        e2e_dump_log("qemu-io.log");
    cr_expect(!failed, "qemu-io reported a failure");
}

/* A read-only export refuses writes and still reads. */
Test(blk, readonly_export_refuses_writes)
{
    require_blk();
    e2e_require("qemu-io", "nbdinfo", NULL);
    const char *disk = e2e_path("ro.img");
    cr_assert_eq(e2e_write_random(disk, 4 * MiB, 7), 0);
    start_blkback("shm:ro", disk, "blkback.log", "-r");
    e2e_start_nbdkit("nbd.sock", "shm:ro", "nbdkit.log");
    const char *uri = e2e_nbd_uri("nbd.sock");

    const char *info[] = { "nbdinfo", "--json", uri, NULL };
    cr_assert_eq(e2e_run(30, "nbdinfo.log", info), 0);
    FILE *f = fopen(e2e_path("nbdinfo.log"), "r");
    char line[512];
    bool ro = false;
    while (f && fgets(line, sizeof line, f))
        ro |= strstr(line, "\"is_read_only\": true") != NULL;
    if (f)
        fclose(f);
    cr_expect(ro, "export not advertised read-only");

    const char *out = e2e_path("out.img");
    copy_or_fail(uri, out, "copy-out.log");
    cr_expect(e2e_files_equal(disk, out));
}

/* The plugin's counters (it rewrites them every second). */
static void plugin_counters(unsigned long *reconnects, unsigned long *retries)
{
    usleep(1300000);
    FILE *f = fopen(e2e_path("nbd.sock.stats"), "r");
    char line[128];
    while (f && fgets(line, sizeof line, f)) {
        sscanf(line, "reconnects=%lu", reconnects);
        sscanf(line, "retries=%lu", retries);
    }
    if (f)
        fclose(f);
}

/* blkback killed with SIGKILL during a copy and restarted: the copy finishes, data intact. */
Test(blk, survives_blkback_kill_and_restart)
{
    require_blk();
    const char *src = e2e_path("src.img"), *out = e2e_path("out.img"), *disk = e2e_path("disk.img");

    cr_assert_eq(e2e_write_random(src, 64 * MiB, 99), 0);
    FILE *f = fopen(disk, "w");
    cr_assert_not_null(f);
    fclose(f);
    cr_assert_eq(truncate(disk, (off_t)(64 * MiB)), 0);
    pid_t bb = start_blkback("shm:blk2", disk, "blkback.log", NULL);
    e2e_start_nbdkit("nbd.sock", "shm:blk2", "nbdkit.log");
    copy_or_fail(src, e2e_nbd_uri("nbd.sock"), "copy-in.log");

    /* Several rounds: kill at different moments of the copy. A kill between two requests
       (nbdcopy waiting on its output file, nothing at blkback) resends nothing: after the
       three rounds, up to five more until one kill caught a request in flight. */
    unsigned long reconnects = 0, retries = 0;
    int rounds = 0;
    for (int round = 0; round < 8 && (round < 3 || retries == 0); round++) {
        const char *argv[] = { "nbdcopy", "--requests=16", e2e_nbd_uri("nbd.sock"), out, NULL };
        unlink(out);
        pid_t copy = e2e_spawn("copy-out.log", argv);
        /* kill once the copy has really started: 4, 20, 36 or 52 MiB of the 64 have arrived */
        off_t mark = (off_t)((4 + 16 * (round % 4)) * MiB);
        struct stat sb;
        for (int i = 0; i < 1000; i++) {
            if (stat(out, &sb) == 0 && (off_t)sb.st_blocks * 512 >= mark)
                break;
            usleep(2000);
        }
        e2e_stop(bb, SIGKILL);
        usleep(300000);
        bb = start_blkback("shm:blk2", disk, "blkback.log", NULL);
        int st = e2e_wait(copy, 90000);
        if (st != 0) {
            e2e_dump_log("copy-out.log");
            e2e_dump_log("nbdkit.log");
        }
        cr_assert_eq(st, 0, "round %d: nbdcopy failed across the restart (status %d)", round, st);
        cr_assert(e2e_files_equal(src, out), "round %d: data differs", round);
        rounds++;
        if (round >= 2)
            plugin_counters(&reconnects, &retries);
    }
    fprintf(stderr, "blk: %d kills, %lu reconnects, %lu requests resent\n", rounds, reconnects,
            retries);
    /* the front-end really went through a disconnect/reconnect cycle per kill */
    cr_expect_geq(reconnects, (unsigned long)rounds, "expected %d reconnections, counted %lu",
                  rounds, reconnects);
    cr_expect_geq(retries, 1, "no request was in flight at any of the %d kills", rounds);
}

/* fio through the front-end: random writes of mixed sizes at queue depth 16, every block
   verified on read-back (crc32c headers), on a RAM disk. */
Test(blk, fio_random_writes_verified)
{
    require_blk();
    e2e_require("fio", NULL);
    start_blkback("shm:fio", "ram:32M", "blkback.log", NULL);
    e2e_start_nbdkit("nbd.sock", "shm:fio", "nbdkit.log");
    char uri[512];
    snprintf(uri, sizeof uri, "--uri=%s", e2e_nbd_uri("nbd.sock"));
    const char *argv[] = { "fio",
                           "--name=verify",
                           "--ioengine=nbd",
                           uri,
                           "--rw=randwrite",
                           "--bsrange=4k-128k",
                           "--iodepth=16",
                           "--size=32M",
                           "--verify=crc32c",
                           "--do_verify=1",
                           "--verify_fatal=1",
                           "--randseed=7",
                           "--verify_state_save=0",
                           NULL };
    int rc = e2e_run(120, "fio.log", argv);
    if (rc != 0)
        e2e_dump_log("fio.log");
    cr_expect_eq(rc, 0, "fio verification failed");
}

/* qemu-img: info sees the size, convert writes an image in, compare reads it back (and tells
   a different image apart). */
Test(blk, qemu_img_convert_and_compare)
{
    require_blk();
    e2e_require("qemu-img", NULL);
    const char *img = e2e_path("img.raw"), *other = e2e_path("other.raw");
    cr_assert_eq(e2e_write_random(img, 16 * MiB, 11), 0);
    cr_assert_eq(e2e_write_random(other, 16 * MiB, 12), 0);
    start_blkback("shm:qimg", "ram:16M", "blkback.log", NULL);
    e2e_start_nbdkit("nbd.sock", "shm:qimg", "nbdkit.log");
    const char *uri = e2e_nbd_uri("nbd.sock");

    const char *info[] = { "qemu-img", "info", "--output=json", uri, NULL };
    cr_assert_eq(e2e_run(30, "info.log", info), 0);
    FILE *f = fopen(e2e_path("info.log"), "r");
    char line[512];
    bool size_ok = false;
    while (f && fgets(line, sizeof line, f))
        size_ok |= strstr(line, "\"virtual-size\": 16777216") != NULL;
    if (f)
        fclose(f);
    cr_expect(size_ok, "qemu-img info does not report 16 MiB");

    const char *conv[] = { "qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", img, uri, NULL };
    cr_assert_eq(e2e_run(60, "convert.log", conv), 0);
    const char *same[] = { "qemu-img", "compare", "-f", "raw", "-F", "raw", img, uri, NULL };
    cr_expect_eq(e2e_run(60, "compare.log", same), 0, "the image read back differs");
    const char *diff[] = { "qemu-img", "compare", "-f", "raw", "-F", "raw", other, uri, NULL };
    cr_expect_eq(e2e_run(60, "compare2.log", diff), 1, "a different image compared equal");
}

/* A back-end that does not come back: requests are retried only within the plugin's timeout,
   then fail (EIO) instead of hanging; a new back-end afterwards serves again. */
Test(blk, gives_up_after_the_timeout)
{
    require_blk();
    e2e_require("qemu-io", NULL);
    pid_t bb = start_blkback("shm:gone", "ram:8M", "blkback.log", NULL);
    e2e_start_nbdkit_timeout("nbd.sock", "shm:gone", "nbdkit.log", 2);
    const char *uri = e2e_nbd_uri("nbd.sock");
    const char *w[] = { "qemu-io", "-f", "raw", uri, "-c", "write -P 0x42 0 65536", NULL };
    cr_assert_eq(e2e_run(30, "io1.log", w), 0);

    e2e_stop(bb, SIGKILL);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const char *r[] = { "qemu-io", "-f", "raw", uri, "-c", "read -P 0x42 0 65536", NULL };
    e2e_run(30, "io2.log", r);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    FILE *f = fopen(e2e_path("io2.log"), "r");
    char line[512];
    bool failed = false;
    while (f && fgets(line, sizeof line, f))
        failed |= strstr(line, "failed") != NULL || strstr(line, "error") != NULL;
    if (f)
        fclose(f);
    cr_expect(failed, "the read did not fail although no back-end was there");
    cr_expect(waited >= 1.5 && waited < 15.0, "gave up after %.1f s, expected about 2 s", waited);

    /* the RAM disk is gone with its process; a new one serves (zeroes) again. The connection
       has been lost for longer than the timeout, so a request made before the front end has
       reconnected fails at once: a client retries, and within a bound it is served. */
    start_blkback("shm:gone", "ram:8M", "blkback.log", NULL);
    const char *z[] = { "qemu-io", "-f", "raw", uri, "-c", "read -P 0 0 65536", NULL };
    bool ok = false;
    for (int attempt = 0; attempt < 20 && !ok; attempt++) {
        if (attempt)
            usleep(250000);
        int rc = e2e_run(30, "io3.log", z);
        f = fopen(e2e_path("io3.log"), "r");
        while (rc == 0 && f && fgets(line, sizeof line, f))
            ok |= strstr(line, "read 65536/65536") != NULL;
        if (f)
            fclose(f);
    }
    cr_expect(ok, "no read within 5 s after the new back-end came up");
}
