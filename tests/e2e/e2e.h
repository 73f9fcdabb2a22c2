/*
 * End-to-end test utilities: a private temporary directory per test (also the idc service
 * directory, through IDC_SHM_DIR), real child processes started from the build tree and always
 * reaped, and small file utilities.
 *
 * Every child gets PR_SET_PDEATHSIG(SIGKILL) and is killed in e2e_teardown, so a failing test
 * leaves nothing running. Every wait here is bounded, so the suites set no Criterion .timeout
 * (Criterion 2.4's timeout watchdog with --jobs=2 leaks in the runner, which LeakSanitizer
 * turns into a failed run).
 */
#ifndef IDC_TESTS_E2E_H
#define IDC_TESTS_E2E_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct e2e {
    char dir[256];     /* the test's temporary directory */
    char shm_dir[300]; /* dir/shm: IDC_SHM_DIR for this test and its children */
};

extern struct e2e e2e;

void e2e_setup(void);    /* Criterion .init */
void e2e_teardown(void); /* Criterion .fini */

/* Path of a built program, e.g. e2e_built("examples/blk/blkback"). The returned strings come
   from a ring of 1024 static buffers: valid for the rest of a test. */
const char *e2e_built(const char *rel);
/* Path inside the test directory (same ring of buffers). */
const char *e2e_path(const char *name);
/* True when PROG is found in PATH. */
bool e2e_have(const char *prog);
/* Skips the test (cr_skip) with a reason unless every program exists. NULL-terminated. */
void e2e_require(const char *first, ...);

/* Starts argv (NULL-terminated) with stdout+stderr appended to dir/LOG. Returns the pid. */
pid_t e2e_spawn(const char *log, const char *const argv[]);
/* Same, with extra "NAME=VALUE" environment entries (NULL-terminated, may be NULL). */
pid_t e2e_spawn_env(const char *log, const char *const env[], const char *const argv[]);
/* Runs argv to completion (killed after timeout_s). Returns the exit status, or -1 when it was
   killed by a signal or timed out (the reason goes to the log). */
int e2e_run(int timeout_s, const char *log, const char *const argv[]);
/* Sends sig and reaps (waits up to 5 s, then SIGKILL). Returns the wait status. */
int e2e_stop(pid_t pid, int sig);
/* Waits up to timeout_ms for pid to exit on its own; returns its wait status or -1. */
int e2e_wait(pid_t pid, int timeout_ms);
bool e2e_alive(pid_t pid);

/* Waits until path exists (polling). */
bool e2e_wait_path(const char *path, int timeout_ms);
/* Fills a file with size bytes from a seeded generator. 0 or -errno. */
int e2e_write_random(const char *path, uint64_t size, uint64_t seed);
/* Compares two files byte for byte; returns true when equal (else logs the first difference). */
bool e2e_files_equal(const char *a, const char *b);
/* FNV-1a 64 of a file, or 0 on error. */
uint64_t e2e_file_hash(const char *path);
/* Prints the tail of a log to stderr (on failure). */
void e2e_dump_log(const char *log);
/* The environment entries nbdkit needs (NULL-terminated; under ASan the runtime preloaded,
   since the plugin is instrumented and nbdkit is not), for e2e_spawn_env. */
const char *const *e2e_nbdkit_env(void);
/* Path of the built nbdkit plugin (fails the test if it is missing). */
const char *e2e_plugin(void);
/* Spawns `nbdkit -f -U dir/SOCK plugin address=ADDRESS stats=dir/SOCK.stats EXTRA...` (extra:
   more plugin parameters, NULL-terminated, may be NULL) without waiting for anything. */
pid_t e2e_spawn_nbdkit(const char *sock, const char *address, const char *log,
                       const char *const extra[]);
/* Same, and waits for the socket (fails the test if it does not appear within 10 s). */
pid_t e2e_start_nbdkit_with(const char *sock, const char *address, const char *log,
                            const char *const extra[]);
/* Starts nbdkit with the idc plugin on dir/SOCK for address; waits for the socket. */
pid_t e2e_start_nbdkit(const char *sock, const char *address, const char *log);
/* Same with the plugin's retry window (timeout=, seconds); e2e_start_nbdkit uses 20. */
pid_t e2e_start_nbdkit_timeout(const char *sock, const char *address, const char *log,
                               unsigned timeout_s);
/* True when a line of dir/LOG contains needle. */
bool e2e_log_contains(const char *log, const char *needle);
/* CLOCK_MONOTONIC in seconds. */
double e2e_now(void);
/* "nbd+unix:///?socket=PATH" for dir/SOCK. */
const char *e2e_nbd_uri(const char *sock);

#endif
