/* kidc_proto.h - the test protocol between the kernel runtime's self-test client
 * (tests/xen/kidc/kidc_test.c, a module in the domU) and its user-space servers in dom0
 * (tests/xen/transport/kidcsrv_test.c, and the hostile kidcevil_test.c). Plain constants: the
 * file builds in both. */
#ifndef KIDC_PROTO_H
#define KIDC_PROTO_H

#define KIDC_NAME    "kidc"
#define KIDC_SERVICE "kidc" /* xen:kidc?allow=DOMU in dom0; xen:0/kidc in the domU */
/* the hostile backend (tests/xen/transport/kidcevil_test.c): same protocol, its own service */
#define KIDC_EVIL_SERVICE "kidc-evil"
#define KIDC_HASH         0x6b69646374657374ull
#define KIDC_MAX_FRAME    512u

/* transactions */
#define KIDC_OP_ECHO 1 /* result: the payload with every byte plus one */
#define KIDC_OP_HOLD 2 /* held by the server until KIDC_OP_RELEASE; empty result */
/* The server uses the client's remote buffer: payload = the reference (IDC_RBUF_WIRE_SIZE
   bytes, idc_rbuf_encode), then a mode and a seed (4 bytes each, little endian); result = two
   statuses (4 bytes each, little endian: 0, IDC_ERR_*, or KIDC_MISMATCH). Modes:
     KIDC_RBUF_RW      read it all, compare with kidc_byte(seed, i) (status 1); then write it
                       all with kidc_byte(seed + 1, i) (status 2)
     KIDC_RBUF_FORGED  read 4 KiB with one key byte changed (status 1), then with the reference
                       as given (status 2: the link survived)
     KIDC_RBUF_READ    read 4 KiB (status 1)
     KIDC_RBUF_RATE    KIDC_RATE_SERIES series, reads and writes of the whole reference
                       alternated, each one transfer after another for KIDC_RATE_MS; a read
                       series' last bytes are compared with kidc_byte(seed, i) after its time,
                       writes write them; status 1 and 2: the median read and write rates in
                       KB/s (> 0), or the first failure (IDC_ERR_*, KIDC_MISMATCH) in status 1 */
#define KIDC_OP_RBUF       3
#define KIDC_RBUF_RW       1
#define KIDC_RBUF_FORGED   2
#define KIDC_RBUF_READ     3
#define KIDC_RBUF_RATE     4
#define KIDC_RATE_SERIES   10 /* 5 of each, read first */
#define KIDC_RATE_MS       300
#define KIDC_MISMATCH      1 /* the bytes read differ from the expectation */
#define kidc_byte(seed, i) ((unsigned char)((seed) + (i)*13u + ((i) >> 12)))
/* messages */
#define KIDC_OP_RELEASE 10 /* complete every held transaction */
#define KIDC_OP_DIE     11 /* the server kills itself with SIGKILL (a crash: no cleanup) */
#define KIDC_OP_BYE     12 /* the server exits cleanly */

#endif /* KIDC_PROTO_H */
