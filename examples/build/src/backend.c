/* backend.c: the measuring end of the shapes protocol. */
#include <stdio.h>

#include "pair.h"

static unsigned measured;

static void on_area(struct shapes_backend *be, struct idc_request *req,
                    const struct shapes_area_args *args)
{
    long long w = (long long)args->b.x - args->a.x;
    long long h = (long long)args->b.y - args->a.y;
    struct shapes_area_result r;

    if (w == 0 || h == 0) {
        shapes_area_fail(req, GEOMETRY_SHAPE_ERROR_EMPTY);
        return;
    }
    r.area = (unsigned long long)(w < 0 ? -w : w) * (unsigned long long)(h < 0 ? -h : h);
    snprintf(r.label, sizeof r.label, "%s", args->label);
    shapes_area_reply(req, &r);
    shapes_measured_send(be, &(struct shapes_measured_args){ .count = ++measured });
}

static const struct shapes_backend_ops ops = {
    .on_area = on_area, /* no disconnect callback: we hold no requests */
};

void backend_start(struct shapes_backend *be, struct idc_context *ctx, const char *address)
{
    shapes_backend_create(be, ctx, address, &ops, NULL);
}
