/* The golden output for tests/golden/small.idl (its codec), compiled into the test binary so the
 * codec tests can exercise what the shipped protocols lack (a union case added by @since, an
 * enum beyond the range of int). */
#include "golden/small/small_codec.c"
