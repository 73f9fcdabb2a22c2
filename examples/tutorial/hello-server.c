/* hello-server: the back end of the tutorial protocol. Usage: hello-server shm:NAME */
#include <stdio.h>

#include <idc.h>

#include "hello.h"

static unsigned greetings;

static void on_greet(struct hello_backend *be, struct idc_request *req,
                     const struct hello_greet_args *args)
{
    struct hello_greet_result r;

    if (args->name[0] == '\0') {
        hello_greet_fail(req, HELLO_ERROR_EMPTY);
        return;
    }
    snprintf(r.text, sizeof r.text, "hello, %s", args->name);
    hello_greet_reply(req, &r);
    hello_tick_send(be, &(struct hello_tick_args){ .count = ++greetings });
}

static void on_disconnect(struct hello_backend *be)
{
    hello_backend_disconnect_done(be); /* we hold no requests */
}

static const struct hello_backend_ops ops = {
    .disconnect = on_disconnect,
    .on_greet = on_greet,
};

int main(int argc, char **argv)
{
    struct idc_context *ctx;
    struct hello_backend be;

    if (argc != 2 || idc_context_create(&ctx, NULL) != 0)
        return 2;
    hello_backend_create(&be, ctx, argv[1], &ops, NULL);
    return idc_context_run(ctx); /* serves until killed */
}
