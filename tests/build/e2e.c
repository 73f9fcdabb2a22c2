/* tests/e2e's helpers (temporary directory per test, child processes, logs), compiled into this
   suite too rather than copied. */
#include "e2e/e2e.c"
