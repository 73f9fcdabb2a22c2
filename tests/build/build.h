/*
 * tests/build: idc as a driver writer's build sees it. Once per run, before the first test, idc
 * is installed into a temporary prefix (make install from this tree); the tests build the example
 * projects (examples/build/{make,cmake,meson}, examples/tutorial) against it, each in its own
 * temporary directory (tests/e2e's helpers), and run the programs with no LD_LIBRARY_PATH.
 * A test whose tool (cmake, meson, ninja) is absent is skipped with the reason.
 */
#ifndef IDC_TESTS_BUILD_H
#define IDC_TESTS_BUILD_H

#include <stdbool.h>

#include "e2e/e2e.h"

/* The per-run installation: its prefix, or the test fails (with the install log) when
   make install failed. */
const char *bt_prefix(void);
/* The environment of a driver writer's build against bt_prefix(): no LD_LIBRARY_PATH, no
   pkg-config or CMake search path but the installed idc's (PKG_CONFIG_LIBDIR), no make
   jobserver of ours; under the sanitizers, CFLAGS/LDFLAGS that link the sanitizer runtime the
   installed libidc needs. */
void bt_driver_env(void);
/* Runs make install with extra arguments ("PREFIX=...", ..., NULL) into a log; returns its
   status. */
int bt_make_install(const char *log, const char *first, ...);
/* Copies SRCDIR/examples/REL into the test directory; returns the copy's path. */
const char *bt_copy_example(const char *rel);
/* Runs a shell command line (sh -c) into a log, within timeout_s; the log's tail goes to stderr
   when it fails. Returns the exit status (-1: killed or timed out). */
int bt_sh(int timeout_s, const char *log, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, for a command expected to fail at times: the log is not shown. */
int bt_sh_may_fail(int timeout_s, const char *log, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* True when the log contains text. */
bool bt_log_has(const char *log, const char *text);
/* Asserts that program loads libidc.so.0 from under prefix (ldd), not from anywhere else. */
void bt_assert_libidc_from(const char *program, const char *prefix);
/* Runs the shapes example program (examples/build/src) on shm and checks what it prints. */
void bt_check_shapes_pair(const char *program, const char *log);
/* Runs the tutorial's hello-server and hello-client (directory dir) and checks their output. */
void bt_check_hello(const char *dir);

#endif
