/*
 * Placeholder for a case that could not be built here (its packages or libidc are missing):
 * registers a case that is always skipped with the reason given at build time, so the table
 * says what is missing instead of leaving it out silently.
 */
#include "harness.h"

static const char *absent_available(void)
{
    return ABSENT_REASON;
}

static int absent_run(struct bench_run *run)
{
    return bench_fail(run, "%s", ABSENT_REASON);
}

BENCH_CASE(case_absent, .figure = ABSENT_FIGURE, .name = ABSENT_NAME, .baseline = NULL,
           .placements = BENCH_BOTH, .available = absent_available, .run = absent_run)
