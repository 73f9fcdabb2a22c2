/* Backing store of the block back-end (see store.h). */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int blk_parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    unsigned shift = 0;

    if (!s || !*s || *s == '-')
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -EINVAL;
    switch (*end) {
    case '\0':
        break;
    case 'k':
    case 'K':
        shift = 10;
        end++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        end++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        end++;
        break;
    case 't':
    case 'T':
        shift = 40;
        end++;
        break;
    default:
        return -EINVAL;
    }
    if (*end == 'i' || *end == 'B') /* accept "MiB"/"MB" spelling */
        end += (end[0] == 'i' && end[1] == 'B') ? 2 : 1;
    if (*end != '\0' || (shift && v > (UINT64_MAX >> shift)))
        return -EINVAL;
    *out = (uint64_t)v << shift;
    return 0;
}

bool blk_store_range_ok(const struct blk_store *st, uint64_t off, uint64_t len)
{
    return off <= st->size && len <= st->size - off;
}

int blk_store_open(struct blk_store *st, const char *spec, bool readonly, uint64_t create_size)
{
    struct stat sb;
    int err;

    st->fd = -1;
    st->ram = NULL;
    st->size = 0;
    st->readonly = readonly;

    if (strncmp(spec, "ram:", 4) == 0) {
        if ((err = blk_parse_size(spec + 4, &st->size)) < 0 || st->size == 0)
            return -EINVAL;
        /* anonymous mapping: pages appear zeroed on first touch, discard gives them back */
        void *p = mmap(NULL, st->size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
            return -errno;
        st->ram = p;
        return 0;
    }

    int flags = readonly ? O_RDONLY : O_RDWR;
    if (!readonly && create_size)
        flags |= O_CREAT;
    st->fd = open(spec, flags | O_CLOEXEC, 0644);
    if (st->fd < 0)
        return -errno;
    if (fstat(st->fd, &sb) < 0)
        goto err_errno;
    if (S_ISBLK(sb.st_mode)) {
        uint64_t sz;
        if (ioctl(st->fd, BLKGETSIZE64, &sz) < 0)
            goto err_errno;
        st->size = sz;
    } else if (S_ISREG(sb.st_mode)) {
        st->size = (uint64_t)sb.st_size;
        if (!readonly && create_size > st->size) {
            if (ftruncate(st->fd, (off_t)create_size) < 0)
                goto err_errno;
            st->size = create_size;
        }
    } else {
        err = -EINVAL;
        goto err;
    }
    if (st->size == 0) {
        err = -EINVAL;
        goto err;
    }
    return 0;

err_errno:
    err = -errno;
err:
    blk_store_close(st);
    return err;
}

void blk_store_close(struct blk_store *st)
{
    if (st->fd >= 0)
        close(st->fd);
    if (st->ram)
        munmap(st->ram, st->size);
    st->fd = -1;
    st->ram = NULL;
}

int blk_store_read(struct blk_store *st, void *buf, uint64_t off, size_t len)
{
    if (!blk_store_range_ok(st, off, len))
        return -EINVAL;
    if (st->ram) {
        memcpy(buf, st->ram + off, len);
        return 0;
    }
    while (len) {
        ssize_t n = pread(st->fd, buf, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0) { /* file shrank under us: the rest reads as zeroes */
            memset(buf, 0, len);
            return 0;
        }
        buf = (uint8_t *)buf + n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int blk_store_write(struct blk_store *st, const void *buf, uint64_t off, size_t len)
{
    if (st->readonly)
        return -EROFS;
    if (!blk_store_range_ok(st, off, len))
        return -EINVAL;
    if (st->ram) {
        memcpy(st->ram + off, buf, len);
        return 0;
    }
    while (len) {
        ssize_t n = pwrite(st->fd, buf, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        buf = (const uint8_t *)buf + n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int blk_store_flush(struct blk_store *st)
{
    if (st->ram || st->readonly)
        return 0;
    return fdatasync(st->fd) < 0 ? -errno : 0;
}

int blk_store_discard(struct blk_store *st, uint64_t off, uint64_t len)
{
    if (st->readonly)
        return -EROFS;
    if (!blk_store_range_ok(st, off, len))
        return -EINVAL;
    if (len == 0)
        return 0;
    if (st->ram) {
        /* whole pages go back to the kernel (they read as zeroes again), edges are zeroed */
        uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
        uint64_t a = (off + pg - 1) / pg * pg, b = (off + len) / pg * pg;
        if (a < b) {
            memset(st->ram + off, 0, a - off);
            madvise(st->ram + a, b - a, MADV_DONTNEED);
            memset(st->ram + b, 0, off + len - b);
        } else {
            memset(st->ram + off, 0, len);
        }
        return 0;
    }
    if (fallocate(st->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
        return 0;
    if (errno != EOPNOTSUPP)
        return -errno;
    /* no hole punching here (e.g. a block device): write zeroes so the contract holds */
    static const uint8_t zero[65536];
    while (len) {
        size_t n = len < sizeof zero ? (size_t)len : sizeof zero;
        int err = blk_store_write(st, zero, off, n);
        if (err)
            return err;
        off += n;
        len -= n;
    }
    return 0;
}
