/* kback_proto.h - the test protocol between the kernel backend of the check (tests/xen/kback/
 * kback_test.c, a module in the domU serving xen:kback) and its user-space frontend in dom0
 * (tests/xen/transport/kbackfe_test.c). Plain constants and one fixed-layout struct: the file
 * builds in both (the guests are x86-64: the struct travels as its bytes). */
#ifndef KBACK_PROTO_H
#define KBACK_PROTO_H

#define KBACK_NAME      "kback"
#define KBACK_SERVICE   "kback" /* xen:kback?allow=0 in the domU; xen:DOMU/kback in dom0 */
#define KBACK_HASH      0x6b6261636b746573ull
#define KBACK_MAX_FRAME 512u
#define KBACK_HELD_MAX  16u /* transactions the backend holds at most */

/* transactions (frontend -> backend) */
#define KBACK_OP_ECHO 1 /* result: the payload with every byte plus one */
#define KBACK_OP_HOLD 2 /* held until KBACK_OP_RELEASE or the disconnect; empty result */
/* struct kback_xform: the backend reads len bytes of the frontend's remote buffer src at src_off,
   adds one to each byte and writes them to dst at dst_off (idc.ko's transfers, the kernel being
   the user of the frontend's buffers); status: 0 or the first transfer's IDC_ERR_* */
#define KBACK_OP_XFORM 3
/* struct kback_xform: reads the first len bytes of src count times, one read after the other,
   and says KBACK_OP_DRAINING after the first; status: 0 or the first failure's IDC_ERR_* */
#define KBACK_OP_DRAIN  4
#define KBACK_XFORM_MAX (4u << 20) /* len at most */
/* messages, frontend -> backend */
#define KBACK_OP_PING    10   /* answered with KBACK_OP_PONG carrying the same payload */
#define KBACK_PING_MAX   16u  /* a ping's payload: bytes at most */
#define KBACK_PONGS_DUE  256u /* pings a frontend may have unanswered at most */
#define KBACK_OP_RELEASE 11   /* complete every held transaction */
#define KBACK_OP_UNLOAD  12   /* the domU may unload the module now (the connection stays open) */
/* messages, backend -> frontend */
#define KBACK_OP_HELLO    20 /* at each connection: 4 bytes, the connection's number (little endian) */
#define KBACK_OP_PONG     21
#define KBACK_OP_HELD     22 /* 1 byte: how many transactions are held now */
#define KBACK_OP_DRAINING 23 /* a drain's first read completed */

struct kback_xform {
    uint8_t src[IDC_RBUF_WIRE_SIZE]; /* idc_rbuf_encode (idc.h, included first) */
    uint8_t dst[IDC_RBUF_WIRE_SIZE];
    uint64_t src_off, dst_off;
    uint32_t len, count;
};

#endif /* KBACK_PROTO_H */
