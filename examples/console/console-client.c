/*
 * console-client: the guest side (front-end) of a console.
 *
 *   console-client [-q] ADDRESS               interactive: stdin lines go out, input is printed
 *   console-client [-q] -n LINES [-t SECS] ADDRESS
 *                                            scripted: sends LINES numbered lines, checks that
 *                                            each comes back as "echo: ..." in order, exits 0
 *                                            when all did (1 otherwise, 2 on bad usage)
 *
 * Bytes go out as `output` messages and come in as `input` messages: one-way both ways. After
 * connecting it asks the terminal's name (get_info); at the end it waits for `drain` so that
 * everything it wrote has been seen by the server.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <idc.h>

#include "console.h"

struct client {
    struct console_frontend fe;
    struct console_get_info_txn info_txn;
    struct console_drain_txn drain_txn;
    bool quiet, connected, drained, draining, eof, failed;
    char name[CONSOLE_NAME_LEN + 1];
    /* outgoing bytes not yet sent (no credit, or not connected yet) */
    char out[65536];
    size_t out_len;
    /* scripted mode */
    unsigned lines, sent, echoed;
    char in_line[4096];
    size_t in_len;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pump(struct client *cl)
{
    while (cl->connected && cl->out_len) {
        struct console_output_args a;
        size_t n = cl->out_len < CONSOLE_MAX_CHUNK ? cl->out_len : CONSOLE_MAX_CHUNK;
        a.data_count = (uint32_t)n;
        memcpy(a.data, cl->out, n);
        int err = console_output_send(&cl->fe, &a);
        if (err == IDC_ERR_AGAIN || err == IDC_ERR_DISCONNECTED)
            return; /* writable / connect calls us again */
        if (err) {
            fprintf(stderr, "console-client: send: %s\n", idc_strerror(err));
            cl->failed = true;
            return;
        }
        memmove(cl->out, cl->out + n, cl->out_len - n);
        cl->out_len -= n;
    }
}

static bool queue_out(struct client *cl, const char *s, size_t n)
{
    if (n > sizeof cl->out - cl->out_len)
        return false;
    memcpy(cl->out + cl->out_len, s, n);
    cl->out_len += n;
    pump(cl);
    return true;
}

/* Scripted mode: one complete input line from the server. */
static void check_line(struct client *cl, const char *line)
{
    char want[256];

    if (strncmp(line, "echo: ", 6) != 0)
        return; /* e.g. a wall message from another console */
    snprintf(want, sizeof want, "echo: %s line %u", cl->name, cl->echoed);
    if (strcmp(line, want) != 0) {
        fprintf(stderr, "console-client: expected \"%s\", got \"%s\"\n", want, line);
        cl->failed = true;
        return;
    }
    cl->echoed++;
}

static void on_input(struct console_frontend *fe, const struct console_input_args *a)
{
    struct client *cl = console_frontend_user(fe);

    if (!cl->lines) { /* interactive: show it */
        fwrite(a->data, 1, a->data_count, stdout);
        fflush(stdout);
        return;
    }
    for (uint32_t i = 0; i < a->data_count; i++) {
        char ch = (char)a->data[i];
        if (ch == '\n' || cl->in_len == sizeof cl->in_line - 1) {
            cl->in_line[cl->in_len] = '\0';
            check_line(cl, cl->in_line);
            cl->in_len = 0;
        } else {
            cl->in_line[cl->in_len++] = ch;
        }
    }
}

static void info_done(struct console_get_info_txn *txn, int status,
                      const struct console_get_info_result *r)
{
    struct client *cl = (struct client *)((char *)txn - offsetof(struct client, info_txn));

    if (status == 0) {
        snprintf(cl->name, sizeof cl->name, "%s", r->name);
        if (!cl->quiet)
            fprintf(stderr, "console-client: connected to terminal \"%s\" (%ux%u)\n", r->name,
                    r->size.cols, r->size.rows);
    }
}

static void drain_done(struct console_drain_txn *txn, int status)
{
    struct client *cl = (struct client *)((char *)txn - offsetof(struct client, drain_txn));

    cl->draining = false;
    if (status == 0)
        cl->drained = true;
}

static void on_connect(struct console_frontend *fe)
{
    struct client *cl = console_frontend_user(fe);

    cl->connected = true;
    console_get_info_submit(fe, &cl->info_txn, info_done);
    pump(cl);
}

static void on_disconnect(struct console_frontend *fe)
{
    struct client *cl = console_frontend_user(fe);

    cl->connected = false;
    cl->draining = false;
    if (!cl->quiet)
        fprintf(stderr, "console-client: disconnected\n");
    console_frontend_disconnect_done(fe);
}

static void on_writable(struct console_frontend *fe)
{
    pump(console_frontend_user(fe));
}

static const struct console_frontend_ops client_ops = {
    .connect = on_connect,
    .disconnect = on_disconnect,
    .writable = on_writable,
    .on_input = on_input,
};

int main(int argc, char **argv)
{
    struct client *cl = calloc(1, sizeof *cl);
    struct idc_context *ctx;
    unsigned timeout_s = 30;
    int opt, err;

    if (!cl)
        return 1;
    while ((opt = getopt(argc, argv, "qn:t:h")) != -1) {
        switch (opt) {
        case 'q':
            cl->quiet = true;
            break;
        case 'n':
            cl->lines = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 't':
            timeout_s = (unsigned)strtoul(optarg, NULL, 10);
            break;
        default:
            fprintf(stderr, "usage: console-client [-q] [-n LINES [-t SECS]] ADDRESS\n");
            return 2;
        }
    }
    if (argc - optind != 1 || timeout_s == 0) {
        fprintf(stderr, "usage: console-client [-q] [-n LINES [-t SECS]] ADDRESS\n");
        return 2;
    }
    if ((err = idc_context_create(&ctx, NULL)) < 0) {
        fprintf(stderr, "console-client: %s\n", idc_strerror(err));
        return 1;
    }
    console_frontend_create(&cl->fe, ctx, argv[optind], &client_ops, cl);

    int64_t deadline = now_ms() + (int64_t)timeout_s * 1000;
    for (;;) {
        bool stdin_open = !cl->lines && !cl->eof;
        struct pollfd pfd[2] = {
            { .fd = idc_context_fd(ctx), .events = POLLIN },
            { .fd = STDIN_FILENO, .events = POLLIN },
        };
        if (poll(pfd, stdin_open ? 2 : 1, 100) < 0 && errno != EINTR)
            break;
        if (stdin_open && (pfd[1].revents & (POLLIN | POLLHUP)) && cl->out_len < 32768) {
            char buf[4096];
            ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
            if (n <= 0)
                cl->eof = true;
            else
                queue_out(cl, buf, (size_t)n);
        }
        if ((err = idc_context_dispatch(ctx, 0)) < 0) {
            fprintf(stderr, "console-client: dispatch: %s\n", idc_strerror(err));
            break;
        }
        /* scripted: write the numbered lines once the name is known */
        while (cl->lines && cl->name[0] && cl->sent < cl->lines) {
            char line[256];
            int n = snprintf(line, sizeof line, "%s line %u\n", cl->name, cl->sent);
            if (!queue_out(cl, line, (size_t)n))
                break;
            cl->sent++;
        }
        pump(cl);
        bool all_out = cl->lines ? cl->sent == cl->lines && cl->echoed == cl->lines : cl->eof;
        if (all_out && !cl->out_len && cl->connected && !cl->drained && !cl->draining)
            cl->draining = console_drain_submit(&cl->fe, &cl->drain_txn, drain_done) == 0;
        if (cl->drained || cl->failed)
            break;
        if (cl->lines && now_ms() > deadline) {
            fprintf(stderr, "console-client: timed out: %u of %u lines sent, %u echoed%s\n",
                    cl->sent, cl->lines, cl->echoed, cl->connected ? "" : " (not connected)");
            cl->failed = true;
            break;
        }
    }
    if (cl->lines && !cl->quiet && !cl->failed)
        fprintf(stderr, "console-client: %s: %u lines echoed\n", cl->name, cl->echoed);
    bool failed = cl->failed || (cl->lines && cl->echoed != cl->lines);
    console_frontend_destroy(&cl->fe, NULL);
    for (int i = 0; i < 20; i++)
        idc_context_dispatch(ctx, 10);
    idc_context_destroy(ctx);
    free(cl);
    return failed ? 1 : 0;
}
