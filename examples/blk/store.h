/*
 * Backing store of the block back-end: a regular file (or block device) or a RAM disk.
 *
 * Byte-addressed, synchronous. Every call returns 0 or a negative errno value; ranges are
 * checked against the size here, so callers may pass peer-supplied offsets (after copying them
 * into private memory) and get -EINVAL instead of an out-of-bounds access.
 */
#ifndef IDC_EXAMPLES_BLK_STORE_H
#define IDC_EXAMPLES_BLK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct blk_store {
    int fd;        /* -1 for a RAM disk */
    uint8_t *ram;  /* NULL for a file */
    uint64_t size; /* bytes */
    bool readonly;
};

/* Parses "64M", "1G", "4096", "512k" (binary units). Returns 0 and sets *out, or -EINVAL. */
int blk_parse_size(const char *s, uint64_t *out);

/* spec is "ram:SIZE" for a RAM disk, else a path. For a path, create_size > 0 creates the file
   if missing and extends a shorter one to that size. On failure nothing stays open. */
int blk_store_open(struct blk_store *st, const char *spec, bool readonly, uint64_t create_size);
void blk_store_close(struct blk_store *st); /* harmless on a closed/zeroed store */

int blk_store_read(struct blk_store *st, void *buf, uint64_t off, size_t len);
int blk_store_write(struct blk_store *st, const void *buf, uint64_t off, size_t len);
int blk_store_flush(struct blk_store *st);
/* Deallocates when the file system can (hole punch); the range then reads as zeroes. */
int blk_store_discard(struct blk_store *st, uint64_t off, uint64_t len);
/* Checks off/len against the size without overflow. */
bool blk_store_range_ok(const struct blk_store *st, uint64_t off, uint64_t len);

#endif
