/* shell.h - what the generator suites share for running idlc and the compiler as processes:
 * a per-test scratch directory and a printf-style shell command. */
#ifndef IDC_TESTS_GEN_SHELL_H
#define IDC_TESTS_GEN_SHELL_H

extern char tmpdir[256]; /* the current test's scratch directory ("" when none) */

/* Creates tmpdir as /tmp/idc-TAG-XXXXXX (the test fails if it cannot). */
void make_tmpdir(const char *tag);
/* Removes tmpdir and everything in it; harmless when there is none (suite .fini). */
void remove_tmpdir(void);
/* Runs a shell command; its exit status, 128 if it did not exit. */
int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
