/*
 * Result lines of the real-Xen test programs (xenprim, idcxen, xbuf, xenbench), as the harness
 * (tests/xen/run.sh) reads them from the guests' consoles among kernel messages.
 *
 * Every line the harness reads starts with "@@idc ". Results are Criterion-like:
 *
 *   @@idc [----] SUITE::CHECK: DETAILS            details of the result that follows
 *   @@idc [PASS] SUITE::CHECK: (0.12s)            pass(), after its [----] line when it has one
 *   @@idc [PASS] SUITE::CHECK: DETAILS (0.12s)    pass_inline(): the details on the line itself
 *   @@idc [FAIL] SUITE::CHECK: (0.12s)            fail(), always after a [----] line
 *   @@idc [----] SUITE::CHECK: watchdog: no progress in 140 s
 *   @@idc [FAIL] SUITE::CHECK: (140s)             the watchdog (report_watchdog)
 *
 * (and "@@idc [SKIP] SUITE::CHECK: REASON", which only tests/xen/blkxen.sh prints). The time is
 * the seconds since begin() named the check. Before the first begin() the check is "setup".
 *
 * The harness keeps the "@@idc [...]" lines and looks, for each check `PROG list` names, for
 * "[PASS] SUITE::CHECK:", "[SKIP] SUITE::CHECK:", "[FAIL] SUITE::CHECK:" in that order; a check
 * with none of them fails. A [PASS] or [FAIL] of a check no list named counts too. So suite and
 * check names hold no spaces and no ':' (other than the "::" between them), and `PROG list`
 * prints one "SUITE::CHECK" per line and nothing else (report_list).
 *
 * Several processes write to the same console: report_init() makes stdout line-buffered, and
 * pass() and fail() flush, so that each line reaches the console in one write.
 */
#ifndef IDC_XEN_REPORT_H
#define IDC_XEN_REPORT_H

#include <stddef.h>

/* Monotonic clock, in seconds. */
double now_s(void);

/* Sorts n values in increasing order (for medians and percentiles of timings). */
void sort_doubles(double *v, size_t n);

/* Start of main: stdout line-buffered, and the suite of the checks until report_suite(). */
void report_init(const char *suite);

/* The suite of the checks that follow (at most 63 characters are kept). */
void report_suite(const char *suite);

/* "dom0" for domain 0, "domu" for any other domain. */
const char *report_kind(unsigned domid);

/* The suite PREFIX_<kind of a>_<kind of b>, e.g. "idcxen_dom0_domu" for a server in dom0 and its
 * client in a domU. */
void report_pair_suite(const char *prefix, unsigned a, unsigned b);

/* Names the check the next result is about, and starts its clock. */
void begin(const char *name);

/* When the current check began (now_s() time): begin() sets it; a check may move it to time a
 * part of itself (the result line shows now_s() - t_check). */
extern double t_check;

/* The current check passed: with fmt, a [----] line with the details first (fmt may be NULL). */
void pass(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The current check passed, with the details on the [PASS] line itself. */
void pass_inline(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The current check failed: the reason on a [----] line, the [FAIL] line, then exit(1). Later
 * checks of this process report no result (the harness counts them as failed). */
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* SIGALRM fails the current check ("watchdog: no progress in SECONDS s") and ends the process
 * with status 2; arms alarm(seconds). A later alarm() re-arms it (the line still names
 * `seconds`). */
void report_watchdog(int seconds);

/* `PROG list`: one "SUITE::CHECK" line for each of the n checks. */
void report_list(const char *suite, const char *const *checks, size_t n);
#define REPORT_LIST(suite, checks) \
    report_list((suite), (checks), sizeof(checks) / sizeof((checks)[0]))

#endif
