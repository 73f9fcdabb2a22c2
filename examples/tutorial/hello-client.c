/* hello-client: the front end of the tutorial protocol. Usage: hello-client shm:NAME NAME */
#include <stdio.h>

#include <idc.h>

#include "hello.h"

static const char *name;
static struct hello_greet_txn txn;
static int status = 1;

static void greeted(struct hello_greet_txn *t, int st, const struct hello_greet_result *r)
{
    if (st == 0) {
        printf("%s\n", r->text);
        status = 0;
    } else {
        fprintf(stderr, "greet failed: %s\n", st > 0 ? "EMPTY" : idc_strerror(st));
    }
    idc_context_stop(idc_endpoint_context(&t->fe->ep));
}

static void on_connect(struct hello_frontend *fe)
{
    struct hello_greet_args a;

    snprintf(a.name, sizeof a.name, "%s", name);
    hello_greet_submit(fe, &txn, &a, greeted);
}

static void on_tick(struct hello_frontend *fe, const struct hello_tick_args *args)
{
    (void)fe;
    printf("(the server has greeted %u times)\n", args->count);
}

static const struct hello_frontend_ops ops = {
    .connect = on_connect,
    .on_tick = on_tick,
};

int main(int argc, char **argv)
{
    struct idc_context *ctx;
    struct hello_frontend fe;

    if (argc != 3 || idc_context_create(&ctx, NULL) != 0)
        return 2;
    name = argv[2];
    hello_frontend_create(&fe, ctx, argv[1], &ops, NULL);
    idc_context_run(ctx); /* until greeted() stops it */
    hello_frontend_destroy(&fe, NULL);
    idc_context_dispatch(ctx, 100); /* let the goodbye go out */
    idc_context_destroy(ctx);
    return status;
}
