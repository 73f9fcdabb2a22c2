/* kback_proto.h - the test protocol between the kernel backend of the check (tests/xen/kback/
 * kback_test.c, a module in the domU serving xen:kback) and its user-space frontend in dom0
 * (tests/xen/transport/kbackfe_test.c). Plain constants: the file builds in both. */
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
/* messages, frontend -> backend */
#define KBACK_OP_PING    10 /* answered with KBACK_OP_PONG carrying the same payload */
#define KBACK_OP_RELEASE 11 /* complete every held transaction */
#define KBACK_OP_UNLOAD  12 /* the domU may unload the module now (the connection stays open) */
/* messages, backend -> frontend */
#define KBACK_OP_HELLO 20 /* at each connection: 4 bytes, the connection's number (little endian) */
#define KBACK_OP_PONG  21
#define KBACK_OP_HELD  22 /* 1 byte: how many transactions are held now */

#endif /* KBACK_PROTO_H */
