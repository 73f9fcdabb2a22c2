/* Runtime test protocol, shared by the runtime suite and its peer programs.
 *
 * A hand-written `struct idc_protocol` (no idlc involved) with a handful of opcodes whose
 * payloads are plain little-endian structs, plus the small pieces both the suite and the
 * peer programs need (clock, event files). Header-only: the peer programs are single .c
 * files, so everything here is static inline or marked unused.
 *
 * Event files: a peer program appends one line per event ("connect", "disconnect 3",
 * "log 2 reason...", "stat ...") to a file in the test's directory; the test reads it.
 */
#ifndef RTT_H
#define RTT_H

#include <idc.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RTT_UNUSED __attribute__((unused))

/* ------------------------------------------------------------------ opcodes */
enum rtt_opcode {
    /* transactions (frontend -> backend) */
    RTT_OP_ECHO = 1,     /* result = payload */
    RTT_OP_FAIL = 2,     /* payload u32 code: completes with application status code */
    RTT_OP_HOLD = 3,     /* held by the server until RTT_OP_RELEASE; then result = payload */
    RTT_OP_STAMP = 4,    /* struct rtt_stamp: server fills instance and returns it */
    RTT_OP_ADD = 5,      /* u64 v: result u64 v + 1 */
    RTT_OP_BADPROTO = 6, /* server reports a protocol error on it */
    RTT_OP_CHAIN = 7,    /* struct rtt_chain: replied at once; spawns depth-1 the other way */
    RTT_OP_BIG = 8,      /* result is max_frame bytes of pattern */
    /* one-way messages */
    RTT_OP_RELEASE = 20, /* complete every held request */
    RTT_OP_PING = 21,    /* answered by RTT_OP_PONG with the same payload */
    RTT_OP_PONG = 22,
    RTT_OP_HELLO = 23, /* struct rtt_hello: sent by a backend on connect */
    RTT_OP_SINK = 24,  /* counted and dropped */
    RTT_OP_RBUF = 25,  /* struct rtt_rbuf_msg: forward it (hops > 0) or transfer */
    RTT_OP_DROP = 26,  /* the receiver takes the connection down (idc_endpoint_disconnect) */
};

/* RTT_OP_RBUF: a remote buffer reference travelling through peers. Each hop decrements hops
 * and forwards the message on its other endpoint; the last one performs the action and
 * reports "rbuf tag=T status=S data=ok|bad|none" in its event file. */
enum rtt_rbuf_action {
    RTT_RBUF_READ = 1,
    RTT_RBUF_WRITE = 2,
    RTT_RBUF_OFFER = 3, /* register len bytes of pattern(seed) with rights = offset; the
                             reference comes back in an RTT_OP_RBUF message (action 0) */
};
struct rtt_rbuf_msg {
    uint8_t wire[IDC_RBUF_WIRE_SIZE];
    uint32_t tag;
    uint32_t action;
    uint64_t offset;
    uint64_t len;
    uint64_t seed; /* data pattern: rtt_pattern(seed, offset + i) */
    uint32_t hops;
    uint32_t pad;
};

struct rtt_stamp {
    uint64_t gen;      /* client's connection generation at submit */
    uint64_t seq;      /* client's sequence number */
    uint32_t instance; /* filled by the server: its instance id */
    uint32_t magic;    /* RTT_STAMP_MAGIC */
};
#define RTT_STAMP_MAGIC 0x5354414du

struct rtt_hello {
    uint32_t instance;
    uint32_t pid;
};

struct rtt_chain {
    uint32_t depth;
    uint32_t origin; /* who started the chain */
    uint64_t chain;  /* chain id */
};

/* ------------------------------------------------------------------ protocol variants */
static const uint64_t rtt_hashes[] RTT_UNUSED = {
    0x9e3779b97f4a7c15ull,
    0xbf58476d1ce4e5b9ull,
    0x94d049bb133111ebull,
    0x2545f4914f6cdd1dull,
};
static const uint64_t rtt_other_hashes[] RTT_UNUSED = {
    0x0123456789abcdefull,
    0xfedcba9876543210ull,
    0x1111111111111111ull,
    0x2222222222222222ull,
};

#define RTT_MAX_FRAME 4096u

/* name "rtt", versions 1..1: the default for most tests */
static const struct idc_protocol rtt_proto RTT_UNUSED = {
    "rtt", 1, 1, rtt_hashes, RTT_MAX_FRAME,
};
/* versions 1..3 (same history) */
static const struct idc_protocol rtt_proto_v13 RTT_UNUSED = {
    "rtt", 1, 3, rtt_hashes, RTT_MAX_FRAME,
};
/* versions 1..2 */
static const struct idc_protocol rtt_proto_v12 RTT_UNUSED = {
    "rtt", 1, 2, rtt_hashes, RTT_MAX_FRAME,
};
/* versions 2..4 (drops version 1) */
static const struct idc_protocol rtt_proto_v24 RTT_UNUSED = {
    "rtt", 2, 4, rtt_hashes + 1, RTT_MAX_FRAME,
};
/* same name and range as rtt_proto but another IDL: hash differs */
static const struct idc_protocol rtt_proto_badhash RTT_UNUSED = {
    "rtt", 1, 1, rtt_other_hashes, RTT_MAX_FRAME,
};
/* another protocol altogether (same hash, other name) */
static const struct idc_protocol rtt_proto_othername RTT_UNUSED = {
    "rtt-other", 1, 1, rtt_hashes, RTT_MAX_FRAME,
};
/* version 3 only, with version 3's hash */
static const struct idc_protocol rtt_proto_v3only RTT_UNUSED = {
    "rtt", 3, 3, rtt_hashes + 2, RTT_MAX_FRAME,
};

static inline const struct idc_protocol *rtt_proto_by_name(const char *name)
{
    static const struct {
        const char *n;
        const struct idc_protocol *p;
    } tab[] = {
        { "v1", &rtt_proto },
        { "v13", &rtt_proto_v13 },
        { "v12", &rtt_proto_v12 },
        { "v24", &rtt_proto_v24 },
        { "badhash", &rtt_proto_badhash },
        { "othername", &rtt_proto_othername },
        { "v3only", &rtt_proto_v3only },
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strcmp(tab[i].n, name) == 0)
            return tab[i].p;
    return NULL;
}

/* ------------------------------------------------------------------ small helpers */
static inline uint64_t rtt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline uint64_t rtt_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Append one line to an event file (O_APPEND, one write: lines never interleave). */
static inline void rtt_event(const char *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void rtt_event(const char *path, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    /* log messages may carry newlines: keep one event per line */
    for (int i = 0; i < n; i++)
        if (line[i] == '\n')
            line[i] = ' ';
    line[n++] = '\n';
    if (!path) {
        fputs(line, stderr);
        return;
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    ssize_t w = write(fd, line, (size_t)n);
    (void)w;
    close(fd);
}

/* 64-bit little-endian put/get (payloads are little-endian on the wire). */
static inline void rtt_put64(void *p, uint64_t v)
{
    uint8_t *b = p;
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}
static inline uint64_t rtt_get64(const void *p)
{
    const uint8_t *b = p;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

/* Byte pattern for data checks: depends on a seed and the offset. */
static inline uint8_t rtt_pattern(uint64_t seed, uint64_t off)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + off;
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ull;
    return (uint8_t)(x >> 32);
}

#endif
