/*
 * blkctl: the signals the block-example step (blkxen) exchanges between dom0 and the domU, as
 * xenstore nodes under the domU's own directory /local/domain/DOMID/data/idc-blk/KEY.
 *
 *   blkctl put DOMID KEY VALUE             write the node (DOMID "self": this domain)
 *   blkctl wait DOMID KEY SECONDS VALUE..  wait until the node holds one of the VALUEs; print it
 *   blkctl fill MIB                        write MIB MiB of pseudo-random bytes to stdout
 *   blkctl hotplug add|remove              xl's block hotplug script, for a phy: disk (below)
 *
 * `fill` makes the test image: /dev/urandom takes seconds per MiB under emulation, so the bytes
 * come from xoshiro256** seeded from getrandom() (a new image every run, nowhere periodic).
 *
 * Both sides name the domU's directory: the domU may write there, and dom0 may write anywhere.
 * A node dom0 writes for the domU is given to the domU (owner) so that it can read it.
 *
 * `hotplug` is what Xen's own /etc/xen/scripts/block does for a block device, without its
 * shell library (not in the guest): xl runs it with XENBUS_PATH naming the disk's back-end
 * directory; it reads the device path from params and publishes the device's numbers as
 * physical-device, which xen-blkback waits for, then hotplug-status. `remove` has nothing to undo.
 *
 * Exit status: 0 done (wait: one of the values seen), 1 timeout, 2 usage or xenstore error.
 */
#include "xenprim.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define BLKCTL_KEY_MAX   32
#define BLKCTL_VALUE_MAX 64

static int usage(void)
{
    fprintf(stderr,
            "usage: blkctl put DOMID KEY VALUE\n"
            "       blkctl wait DOMID KEY SECONDS VALUE...\n"
            "       blkctl fill MIB\n"
            "       blkctl hotplug add|remove   (XENBUS_PATH: the disk's back-end directory)\n"
            "  DOMID: a domain id or \"self\"; KEY: [a-z0-9-]{1,32}; VALUE: [a-z0-9-]{1,64}\n");
    return 2;
}

/* [a-z0-9-]{1,max}: keys and values stay plain words (no path separators, nothing to quote) */
static bool word_ok(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

static int parse_domid(struct xp_store *xs, const char *arg, unsigned *out)
{
    char *end;
    unsigned long v;

    if (strcmp(arg, "self") == 0)
        return xp_store_self_domid(xs, out);
    errno = 0;
    v = strtoul(arg, &end, 10);
    if (errno || end == arg || *end || v >= 32752 || (arg[0] == '0' && arg[1]))
        return -EINVAL;
    *out = (unsigned)v;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmd_put(struct xp_store *xs, unsigned domid, const char *path, const char *value)
{
    unsigned self;
    int err = xp_store_write(xs, XP_TXN_NONE, path, value);

    if (err)
        return err;
    /* dom0's node in the domU's directory: give it to the domU so that the domU can read it */
    err = xp_store_self_domid(xs, &self);
    if (!err && self != domid)
        err = xp_store_set_perms(xs, XP_TXN_NONE, path, domid, XP_PERM_NONE, NULL, 0);
    return err;
}

/* 0 one of values[] seen (printed), 1 timeout, else -errno */
static int cmd_wait(struct xp_store *xs, const char *path, double seconds, char **values, int n)
{
    double until = now_s() + seconds;
    char cur[BLKCTL_VALUE_MAX + 1];
    int err = xp_store_watch(xs, path, "blkctl");

    if (err)
        return err;
    for (;;) {
        /* the watch fires once at registration, so the first read sees a value set before it */
        err = xp_store_read(xs, XP_TXN_NONE, path, cur, sizeof cur);
        if (err == 0) {
            for (int i = 0; i < n; i++)
                if (strcmp(cur, values[i]) == 0) {
                    printf("%s\n", cur);
                    return 0;
                }
        } else if (err != -ENOENT && err != -E2BIG) {
            return err;
        }
        double left = until - now_s();
        if (left <= 0)
            return 1;
        err = xp_store_next_event(xs, (int)(left * 1000) + 1, NULL, 0, NULL, 0);
        if (err == -ETIMEDOUT)
            return 1;
        if (err && err != -E2BIG)
            return err;
    }
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** (Blackman and Vigna): fast, and no short period that could hide a misplaced block */
static uint64_t next_u64(uint64_t st[4])
{
    uint64_t r = rotl(st[1] * 5, 7) * 9, t = st[1] << 17;

    st[2] ^= st[0];
    st[3] ^= st[1];
    st[1] ^= st[2];
    st[0] ^= st[3];
    st[2] ^= t;
    st[3] = rotl(st[3], 45);
    return r;
}

static int cmd_fill(const char *arg)
{
    static uint64_t buf[1 << 14]; /* 128 KiB */
    uint64_t st[4];
    char *end;
    unsigned long mib;

    errno = 0;
    mib = strtoul(arg, &end, 10);
    if (errno || end == arg || *end || mib == 0 || mib > 4096)
        return usage();
    if (getrandom(st, sizeof st, 0) != (ssize_t)sizeof st) {
        fprintf(stderr, "blkctl: getrandom: %s\n", strerror(errno));
        return 2;
    }
    st[0] |= 1; /* the all-zero state is the one state to avoid */
    for (unsigned long n = 0; n < mib * 8; n++) {
        for (size_t i = 0; i < sizeof buf / sizeof buf[0]; i++)
            buf[i] = next_u64(st);
        for (size_t off = 0; off < sizeof buf;) {
            ssize_t w = write(STDOUT_FILENO, (char *)buf + off, sizeof buf - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                fprintf(stderr, "blkctl: write: %s\n", w < 0 ? strerror(errno) : "short write");
                return 2;
            }
            off += (size_t)w;
        }
    }
    return 0;
}

/* The back end's device: params names a block device; physical-device is "MAJOR:MINOR" in hex. */
static int cmd_hotplug(const char *action)
{
    const char *be = getenv("XENBUS_PATH");
    char path[256], dev[256], num[32];
    struct xp_store *xs = NULL;
    struct stat st;
    int err;

    if (strcmp(action, "remove") == 0)
        return 0;
    if (strcmp(action, "add") != 0 || !be || !*be || strlen(be) > 200)
        return usage();
    err = xp_store_open(&xs);
    snprintf(path, sizeof path, "%s/params", be);
    if (!err)
        err = xp_store_read(xs, XP_TXN_NONE, path, dev, sizeof dev);
    if (!err && (stat(dev, &st) != 0 || !S_ISBLK(st.st_mode)))
        err = -ENOTBLK;
    if (!err) {
        snprintf(num, sizeof num, "%x:%x", major(st.st_rdev), minor(st.st_rdev));
        snprintf(path, sizeof path, "%s/physical-device", be);
        err = xp_store_write(xs, XP_TXN_NONE, path, num);
    }
    if (!err) {
        snprintf(path, sizeof path, "%s/hotplug-status", be);
        err = xp_store_write(xs, XP_TXN_NONE, path, "connected");
    }
    if (err)
        fprintf(stderr, "blkctl: hotplug %s: %s\n", be, strerror(-err));
    if (xs)
        xp_store_close(xs);
    return err ? 2 : 0;
}

int main(int argc, char **argv)
{
    struct xp_store *xs = NULL;
    char path[128];
    unsigned domid;
    int err, rc;

    if (argc == 3 && strcmp(argv[1], "fill") == 0)
        return cmd_fill(argv[2]);
    if (argc == 3 && strcmp(argv[1], "hotplug") == 0)
        return cmd_hotplug(argv[2]);
    if (argc < 5)
        return usage();
    bool put = strcmp(argv[1], "put") == 0, wait = strcmp(argv[1], "wait") == 0;
    if ((!put && !wait) || (put && argc != 5) || (wait && argc < 6) ||
        !word_ok(argv[3], BLKCTL_KEY_MAX))
        return usage();
    for (int i = put ? 4 : 5; i < argc; i++)
        if (!word_ok(argv[i], BLKCTL_VALUE_MAX))
            return usage();
    double seconds = 0;
    if (wait) {
        char *end;
        seconds = strtod(argv[4], &end);
        if (*end || end == argv[4] || !(seconds > 0 && seconds <= 3600))
            return usage();
    }

    err = xp_store_open(&xs);
    if (err) {
        fprintf(stderr, "blkctl: xenstore: %s\n", strerror(-err));
        return 2;
    }
    err = parse_domid(xs, argv[2], &domid);
    if (err) {
        fprintf(stderr, "blkctl: domain '%s': %s\n", argv[2], strerror(-err));
        xp_store_close(xs);
        return 2;
    }
    snprintf(path, sizeof path, "/local/domain/%u/data/idc-blk/%s", domid, argv[3]);
    if (put)
        err = cmd_put(xs, domid, path, argv[4]);
    else
        err = cmd_wait(xs, path, seconds, argv + 5, argc - 5);
    rc = err < 0 ? 2 : err;
    if (err < 0)
        fprintf(stderr, "blkctl: %s %s: %s\n", argv[1], path, strerror(-err));
    else if (err == 1)
        fprintf(stderr, "blkctl: %s: none of the expected values within %gs\n", path, seconds);
    xp_store_close(xs);
    return rc;
}
