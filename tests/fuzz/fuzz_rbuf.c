/* libFuzzer target: remote buffer reference parsing (idc_rbuf_decode) and the owner's check of
 * a reference presented for a transfer (idc__reg_check), against real registrations: one live
 * read-only buffer and one revoked buffer. Input: 48-byte wire reference, then u8 mode,
 * u64 offset, u32 length. Mode bit 0 splices in the genuine key of the live buffer, bit 1 its
 * owner/id/generation, so the fuzzer reaches the deep checks too. Invariant: the check succeeds
 * only for the genuine capability, within its range and rights. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct idc_context *ctx;
static struct idc_rbuf live, dead;

static char dir[64];

/* libFuzzer exits normally after -runs / -max_total_time: leave no directory behind */
static void teardown(void)
{
    idc_context_destroy(ctx);
    rmdir(dir);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/idc-fuzz-rbuf-%ld", (long)getpid());
    struct idc_context_options o = { .shm_dir = dir, .stats_dir = "off" };
    void *mem, *mem2;
    /* two allocations: one allocation is shared either read-only or writable, not both */
    if (idc_context_create(&ctx, &o) != 0 || idc_buffer_alloc(ctx, 4096, &mem) != 0 ||
        idc_buffer_alloc(ctx, 4096, &mem2) != 0 ||
        idc_buffer_register(ctx, mem, 4096, IDC_RBUF_READ, &live) != 0 ||
        idc_buffer_register(ctx, mem2, 4096, IDC_RBUF_READ | IDC_RBUF_WRITE, &dead) != 0 ||
        idc_buffer_unregister(ctx, &dead) != 0)
        abort();
    atexit(teardown);
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx)
        setup();
    if (size < IDC_RBUF_WIRE_SIZE + 13)
        return 0;
    struct idc_rbuf rb;
    if (idc_rbuf_decode(&rb, data) != 0)
        return 0;
    if ((rb.rights & ~(IDC_RBUF_READ | IDC_RBUF_WRITE)) != 0)
        abort(); /* decode promised to reject unknown rights */
    uint8_t mode = data[IDC_RBUF_WIRE_SIZE];
    uint64_t offset = get_le(data + IDC_RBUF_WIRE_SIZE + 1, 8);
    size_t len = (size_t)get_le(data + IDC_RBUF_WIRE_SIZE + 9, 4);
    if (mode & 1)
        memcpy(rb.key, live.key, sizeof rb.key);
    if (mode & 2) {
        rb.owner = live.owner;
        rb.id = live.id;
        rb.generation = live.generation;
    }
    uint32_t need = mode & 4 ? IDC_RBUF_WRITE : IDC_RBUF_READ;
    unsigned char *addr = NULL;
    int r = idc__reg_check(ctx, &rb, need, offset, len, &addr);
    if (r == 0) {
        /* only the live, genuine, in-range, read-only capability may pass */
        if (rb.owner != live.owner || rb.id != live.id || rb.generation != live.generation ||
            memcmp(rb.key, live.key, sizeof rb.key) != 0 || need != IDC_RBUF_READ ||
            offset > live.length || len > live.length - offset || addr == NULL)
            abort();
    } else if (r != IDC_ERR_BADREF && r != IDC_ERR_REVOKED && r != IDC_ERR_RIGHTS) {
        abort();
    }
    return 0;
}
