/*
 * Generated decoder speed: idlc's decoder for blkif's read request (a sector and 11 segments,
 * each carrying a remote buffer reference) validating and decoding one frame from private
 * memory, against rpcgen's XDR decoder for the same shape (bench_rpc.x: bench_read_args),
 * decoding into preallocated memory so that neither side calls malloc.
 */
#include <string.h>

#include "blkif.h"
#include "harness.h"

#ifndef BENCH_NO_ONCRPC
#include "bench_rpc.h"
#endif

static int idlc_decode(struct bench_run *run)
{
    struct blkif_read_args in, out;
    memset(&in, 0, sizeof in);
    in.sector = 123456789;
    in.segs_count = BLKIF_MAX_SEGMENTS;
    for (uint32_t i = 0; i < in.segs_count; i++) {
        in.segs[i].buf.owner = 0x1122334455667788ull;
        in.segs[i].buf.id = i;
        in.segs[i].buf.generation = 7;
        in.segs[i].buf.length = 1u << 20;
        in.segs[i].buf.rights = IDC_RBUF_WRITE;
        memset(in.segs[i].buf.key, (int)i + 1, sizeof in.segs[i].buf.key);
        in.segs[i].offset = i * 4096;
        in.segs[i].sectors = 8;
    }
    unsigned char frame[BLKIF_MAX_FRAME];
    size_t len = 0;
    struct blkif_wire_error err;
    if (blkif_read_args_encode(&in, BLKIF_VERSION, frame, sizeof frame, &len, &err) != 0)
        return bench_fail(run, "encode: %s: %s", err.field, err.reason);
    uint64_t start = bench_now_ns(), t0 = 0, n = 0;
    int measuring = 0;
    for (;;) {
        for (int k = 0; k < 1024; k++) {
            __asm__ __volatile__("" ::"r"(frame) : "memory"); /* the frame may have changed */
            if (blkif_read_args_decode(&out, BLKIF_VERSION, frame, len, &err) != 0)
                return bench_fail(run, "decode: %s: %s", err.field, err.reason);
        }
        uint64_t now = bench_now_ns();
        if (!measuring) {
            if (!bench_in_warmup(run, start, now)) {
                measuring = 1;
                t0 = now;
            }
            continue;
        }
        n += 1024;
        if (now - t0 >= run->budget_ns) {
            run->value = (double)n / ((double)(now - t0) / 1e3);
            break;
        }
    }
    if (out.segs_count != in.segs_count || memcmp(&out.segs[10], &in.segs[10], sizeof out.segs[10]))
        return bench_fail(run, "decoded frame differs from the encoded one");
    return 0;
}

BENCH_CASE(case_idlc_decode, .figure = "decode", .name = "idlc-decode", .baseline = "xdr-decode",
           .placements = BENCH_CROSS, .run = idlc_decode)

#ifndef BENCH_NO_ONCRPC
static int xdr_decode(struct bench_run *run)
{
    bench_segment segs_in[11], segs_out[11];
    bench_read_args in, out;
    memset(segs_in, 0, sizeof segs_in);
    for (unsigned i = 0; i < 11; i++) {
        segs_in[i].buf.owner = 0x1122334455667788ull;
        segs_in[i].buf.id = i;
        segs_in[i].buf.generation = 7;
        segs_in[i].buf.length = 1u << 20;
        segs_in[i].buf.rights = IDC_RBUF_WRITE;
        memset(segs_in[i].buf.key, (int)i + 1, sizeof segs_in[i].buf.key);
        segs_in[i].offset = i * 4096;
        segs_in[i].sectors = 8;
    }
    in.sector = 123456789;
    in.segs.segs_len = 11;
    in.segs.segs_val = segs_in;
    char frame[4096];
    XDR x;
    xdrmem_create(&x, frame, sizeof frame, XDR_ENCODE);
    if (!xdr_bench_read_args(&x, &in))
        return bench_fail(run, "xdr encode failed");
    u_int len = xdr_getpos(&x);
    xdr_destroy(&x);
    uint64_t start = bench_now_ns(), t0 = 0, n = 0;
    int measuring = 0;
    for (;;) {
        for (int k = 0; k < 1024; k++) {
            __asm__ __volatile__("" ::"r"(frame) : "memory");
            out.segs.segs_val = segs_out; /* preallocated: XDR then does not malloc */
            out.segs.segs_len = 0;
            xdrmem_create(&x, frame, len, XDR_DECODE);
            int ok = xdr_bench_read_args(&x, &out);
            xdr_destroy(&x);
            if (!ok)
                return bench_fail(run, "xdr decode failed");
        }
        uint64_t now = bench_now_ns();
        if (!measuring) {
            if (!bench_in_warmup(run, start, now)) {
                measuring = 1;
                t0 = now;
            }
            continue;
        }
        n += 1024;
        if (now - t0 >= run->budget_ns) {
            run->value = (double)n / ((double)(now - t0) / 1e3);
            break;
        }
    }
    if (out.segs.segs_len != 11 || memcmp(&segs_out[10], &segs_in[10], sizeof segs_out[10]))
        return bench_fail(run, "decoded frame differs from the encoded one");
    return 0;
}

BENCH_CASE(case_xdr_decode, .figure = "decode", .name = "xdr-decode", .baseline = NULL,
           .placements = BENCH_CROSS, .run = xdr_decode)
#endif
