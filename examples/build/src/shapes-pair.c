/*
 * shapes-pair: both ends of the shapes protocol in one process, one context.
 * Usage: shapes-pair [shm:NAME]   (default shm:shapes; the service directory is $IDC_SHM_DIR,
 * else $XDG_RUNTIME_DIR/idc, else /tmp/idc-UID). Exit status 0 when both answers were right.
 */
#include <stdio.h>
#include <time.h>

#include "pair.h"

static unsigned down;

static void backend_down(struct shapes_backend *be)
{
    (void)be;
    down++;
}

static void frontend_down(struct shapes_frontend *fe)
{
    (void)fe;
    down++;
}

/* dispatches until *count reaches want or 10 s have passed */
static void dispatch_until(struct idc_context *ctx, const unsigned *count, unsigned want)
{
    time_t until = time(NULL) + 10;
    while (*count < want && time(NULL) < until)
        idc_context_dispatch(ctx, 100);
}

int main(int argc, char **argv)
{
    const char *address = argc > 1 ? argv[1] : "shm:shapes";
    struct idc_context *ctx;
    struct shapes_backend be;
    struct shapes_frontend fe;
    struct frontend_report report;

    if (argc > 2 || idc_context_create(&ctx, NULL) != 0)
        return 2;
    backend_start(&be, ctx, address);
    frontend_start(&fe, ctx, address, &report);
    dispatch_until(ctx, &report.answers, 2); /* the two answers */
    dispatch_until(ctx, &report.counted, 1); /* and the one-way "measured" after the first */
    printf("measured by the back end: %u\n", report.counted);

    shapes_frontend_destroy(&fe, frontend_down);
    shapes_backend_destroy(&be, backend_down);
    dispatch_until(ctx, &down, 2);
    idc_context_destroy(ctx);
    return report.answers == 2 && report.as_expected ? 0 : 1;
}
