/*
 * The two ends of the shapes protocol (idl/shapes.idl), hosted by one program (shapes-pair.c):
 * a back end that measures rectangles and a front end that asks it two questions. Both run on
 * the caller's context; an endpoint does not care whether its peer is in another process.
 */
#ifndef SHAPES_PAIR_H
#define SHAPES_PAIR_H

#include <stdbool.h>

#include <idc.h>

#include "shapes.h"

/* Serves address on ctx until shapes_backend_destroy. be: caller's storage. */
void backend_start(struct shapes_backend *be, struct idc_context *ctx, const char *address);

/* What the front end saw. */
struct frontend_report {
    unsigned answers; /* transactions completed (2 when done) */
    unsigned counted; /* the back end's count in its last "measured" message */
    bool as_expected; /* both answers were the expected ones */
};

/* Connects to address on ctx and asks its two questions as soon as it is connected; report is
   filled in from the callbacks and must outlive the endpoint. fe: caller's storage. */
void frontend_start(struct shapes_frontend *fe, struct idc_context *ctx, const char *address,
                    struct frontend_report *report);

#endif
