/* The golden output for tests/golden/small.idl (client side), compiled into the test binary so
 * that it keeps linking against libidc; see golden_small_codec.c. */
#include "golden/small/small_client.c"
