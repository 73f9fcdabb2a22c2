/* kidc_proto.h - the test protocol between the kernel runtime's self-test client
 * (tests/xen/kidc/kidc_test.c, a module in the domU) and its user-space server in dom0
 * (tests/xen/transport/kidcsrv_test.c). Plain constants: the file builds in both. */
#ifndef KIDC_PROTO_H
#define KIDC_PROTO_H

#define KIDC_NAME      "kidc"
#define KIDC_SERVICE   "kidc" /* xen:kidc?allow=DOMU in dom0; xen:0/kidc in the domU */
#define KIDC_HASH      0x6b69646374657374ull
#define KIDC_MAX_FRAME 512u

/* transactions */
#define KIDC_OP_ECHO 1 /* result: the payload with every byte plus one */
#define KIDC_OP_HOLD 2 /* held by the server until KIDC_OP_RELEASE; empty result */
/* messages */
#define KIDC_OP_RELEASE 10 /* complete every held transaction */
#define KIDC_OP_DIE     11 /* the server kills itself with SIGKILL (a crash: no cleanup) */
#define KIDC_OP_BYE     12 /* the server exits cleanly */

#endif /* KIDC_PROTO_H */
