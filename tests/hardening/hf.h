/* hf.h - the hardening suite's endpoint-level double-fetch check: the protocol both sides speak
 * and the message format.
 *
 * Messages (opcode HF_OP_DATA) carry: u64 seq, u32 length, u32 reserved, then bytes generated
 * from seq, then a u64 checksum over everything before it. The receiver regenerates the bytes
 * from seq, so "one the peer validly wrote" is checkable without sharing the writer's list. */
#ifndef HF_H
#define HF_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "idc.h"

#define HF_OP_DATA   7u
#define HF_MAX_FRAME 1024u
#define HF_MIN_LEN   24u

static const uint64_t hf_hash[] = { 0x6866666c6970ull };
static const struct idc_protocol hf_proto = { "hardening-flip", 1, 1, hf_hash, HF_MAX_FRAME };

static inline uint64_t hf_fnv(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Payload length for seq: 24..HF_MAX_FRAME, a multiple of 8. */
static inline uint32_t hf_len(uint64_t seq)
{
    uint64_t steps = (HF_MAX_FRAME - HF_MIN_LEN) / 8 + 1;
    return HF_MIN_LEN + 8u * (uint32_t)((seq * 2654435761u >> 7) % steps);
}

/* Writes message seq into p (hf_len(seq) bytes). */
static inline void hf_make(uint64_t seq, unsigned char *p)
{
    uint32_t len = hf_len(seq), zero = 0;
    memcpy(p, &seq, 8);
    memcpy(p + 8, &len, 4);
    memcpy(p + 12, &zero, 4);
    uint64_t x = seq * 0x9e3779b97f4a7c15ull + 1;
    for (uint32_t i = 16; i < len - 8; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (unsigned char)x;
    }
    uint64_t sum = hf_fnv(0xcbf29ce484222325ull, p, len - 8);
    memcpy(p + len - 8, &sum, 8);
}

/* True if the checksum of the len bytes at p matches. */
static inline bool hf_sum_ok(const unsigned char *p, size_t len)
{
    if (len < HF_MIN_LEN)
        return false;
    uint64_t sum;
    memcpy(&sum, p + len - 8, 8);
    return sum == hf_fnv(0xcbf29ce484222325ull, p, len - 8);
}

#endif
