/* frontend.c: the asking end of the shapes protocol. */
#include <stdio.h>
#include <string.h>

#include "pair.h"

/* one question per transaction; each must live until its done callback ran */
static struct question {
    struct shapes_area_txn txn;
    struct shapes_area_args args;
    unsigned long long expect; /* 0: expect EMPTY */
} questions[] = {
    { .args = { .a = { 0, 0 }, .b = { 3, 4 }, .label = "box" }, .expect = 12 },
    { .args = { .a = { 1, 1 }, .b = { 1, 5 }, .label = "line" }, .expect = 0 },
};

static void answered(struct shapes_area_txn *t, int st, const struct shapes_area_result *r)
{
    struct question *q = (struct question *)t; /* txn is the first member */
    struct frontend_report *report = shapes_frontend_user(t->fe);
    bool ok;

    if (st == 0) {
        printf("%s: area %llu\n", r->label, (unsigned long long)r->area);
        ok = r->area == q->expect && strcmp(r->label, q->args.label) == 0;
    } else { /* > 0: GEOMETRY_SHAPE_ERROR_*; < 0: IDC_ERR_* */
        printf("%s: refused (%s)\n", q->args.label,
               st == GEOMETRY_SHAPE_ERROR_EMPTY ? "EMPTY" : idc_strerror(st));
        ok = st == GEOMETRY_SHAPE_ERROR_EMPTY && q->expect == 0;
    }
    report->as_expected &= ok;
    report->answers++;
}

static void on_connect(struct shapes_frontend *fe)
{
    for (size_t i = 0; i < sizeof questions / sizeof questions[0]; i++)
        shapes_area_submit(fe, &questions[i].txn, &questions[i].args, answered);
}

static void on_measured(struct shapes_frontend *fe, const struct shapes_measured_args *args)
{
    struct frontend_report *report = shapes_frontend_user(fe);
    report->counted = args->count;
}

static const struct shapes_frontend_ops ops = {
    .connect = on_connect,
    .on_measured = on_measured,
};

void frontend_start(struct shapes_frontend *fe, struct idc_context *ctx, const char *address,
                    struct frontend_report *report)
{
    *report = (struct frontend_report){ .as_expected = true };
    shapes_frontend_create(fe, ctx, address, &ops, report);
}
