/* The golden output for tests/golden/small.idl (server side); see golden_small_client.c. */
#include "golden/small/small_server.c"
