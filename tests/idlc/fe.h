/*
 * fe.h - helpers for the idlc front-end tests: run the compiler in-process on a string or
 * a file and capture its diagnostics.
 */
#ifndef TESTS_IDLC_FE_H
#define TESTS_IDLC_FE_H

#include <stdio.h>

#include "idlc.h"

struct fe_run {
    struct idlc_ctx *ctx;
    struct idlc_unit *unit;
    FILE *diag_f;
    char *diag; /* everything printed, NUL terminated */
    size_t diag_len;
    int rc; /* 0: no error */
};

/* Parses and checks text (named name) with include dirs incs (may be NULL). */
void fe_string(struct fe_run *r, const char *name, const char *text);
/* Parses and checks a file. */
void fe_file(struct fe_run *r, const char *path, const char **incs, size_t nincs);
void fe_free(struct fe_run *r);

/* Finds a declaration / message by name in the unit's own lists. */
struct idlc_decl *fe_decl(struct idlc_unit *u, const char *name);
struct idlc_msg *fe_msg(struct idlc_unit *u, const char *name);
struct idlc_field *fe_field(struct idlc_field *list, const char *name);
struct idlc_enumval *fe_enumval(struct idlc_decl *d, const char *name);

/* Number of lines of the diagnostics that contain ": error: " */
unsigned fe_count_errors(const char *diag);

#endif
