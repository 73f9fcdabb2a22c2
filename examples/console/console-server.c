/*
 * console-server: the terminal side (back-end) of many consoles, like a console daemon that
 * shows every guest's console. Each console is one back-end endpoint on its own address:
 *
 *   console-server [-q] [-n COUNT] ADDRESS
 *
 * serves ADDRESS (COUNT 1, the default) or ADDRESS.0 ... ADDRESS.(COUNT-1). An endpoint serves
 * one connection at a time, so each guest (console-client) gets its own address, as each Xen
 * domain has its own console ring.
 *
 * What it does with the bytes, all with one-way messages:
 *   - every line a guest writes (output) comes back to it as input: "echo: LINE"
 *   - a line "wall TEXT" is sent to every connected console: "wall from NAME: TEXT"
 *   - a line "who" answers with the number of connected consoles
 * Input a guest does not take fast enough waits in a bounded queue per console and is dropped
 * (and counted) when that is full: a slow guest never blocks the server or the others.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <idc.h>

#include "console.h"

#define QUEUE_LEN      256  /* input messages waiting for credit, per console */
#define LINE_MAX_BYTES 1024 /* longer lines are cut */

struct pending {
    uint32_t len;
    uint8_t data[CONSOLE_MAX_CHUNK];
};

struct con {
    struct console_backend be;
    struct server *srv;
    char name[CONSOLE_NAME_LEN + 1];
    bool connected;
    char line[LINE_MAX_BYTES];
    size_t line_len;
    struct pending *queue; /* ring of QUEUE_LEN, allocated on first use */
    unsigned q_head, q_len;
    uint64_t lines, bytes_in, dropped;
};

struct server {
    struct con *cons;
    unsigned ncons;
    unsigned connected;
    unsigned destroyed;
    bool quiet;
    uint64_t lines, messages_out, dropped;
};

static void flush_queue(struct con *c)
{
    while (c->q_len) {
        struct pending *p = &c->queue[c->q_head];
        struct console_input_args a = { .data_count = p->len };
        memcpy(a.data, p->data, p->len);
        int err = console_input_send(&c->be, &a);
        if (err == IDC_ERR_AGAIN)
            return; /* the writable callback calls us again */
        if (err == 0)
            c->srv->messages_out++;
        c->q_head = (c->q_head + 1) % QUEUE_LEN;
        c->q_len--;
    }
}

/* Sends text to one console as input (in order behind what is queued). */
static void send_input(struct con *c, const char *text, size_t len)
{
    if (!c->connected)
        return;
    while (len) {
        size_t n = len < CONSOLE_MAX_CHUNK ? len : CONSOLE_MAX_CHUNK;
        if (!c->queue && !(c->queue = malloc(QUEUE_LEN * sizeof *c->queue))) {
            c->dropped++;
            c->srv->dropped++;
            return;
        }
        if (c->q_len == QUEUE_LEN) { /* the guest does not read: drop, as a tty would */
            c->dropped++;
            c->srv->dropped++;
            return;
        }
        struct pending *p = &c->queue[(c->q_head + c->q_len++) % QUEUE_LEN];
        p->len = (uint32_t)n;
        memcpy(p->data, text, n);
        text += n;
        len -= n;
    }
    flush_queue(c);
}

static void handle_line(struct con *c, const char *line, size_t len)
{
    struct server *srv = c->srv;
    char buf[LINE_MAX_BYTES + 128];
    int n;

    c->lines++;
    srv->lines++;
    if (len > 5 && memcmp(line, "wall ", 5) == 0) {
        n = snprintf(buf, sizeof buf, "wall from %s: %.*s\n", c->name, (int)(len - 5), line + 5);
        for (unsigned i = 0; i < srv->ncons; i++)
            send_input(&srv->cons[i], buf, (size_t)n);
        return;
    }
    if (len == 3 && memcmp(line, "who", 3) == 0)
        n = snprintf(buf, sizeof buf, "%u consoles connected\n", srv->connected);
    else
        n = snprintf(buf, sizeof buf, "echo: %.*s\n", (int)len, line);
    send_input(c, buf, (size_t)n);
}

/* ------------------------------------------------------------------------------ callbacks */

static void on_output(struct console_backend *be, const struct console_output_args *a)
{
    struct con *c = console_backend_user(be);

    c->bytes_in += a->data_count;
    for (uint32_t i = 0; i < a->data_count; i++) {
        char ch = (char)a->data[i];
        if (ch == '\n' || c->line_len == sizeof c->line) {
            handle_line(c, c->line, c->line_len);
            c->line_len = 0;
            if (ch == '\n')
                continue;
        }
        if (ch != '\r')
            c->line[c->line_len++] = ch;
    }
}

static void on_get_info(struct console_backend *be, struct idc_request *req)
{
    struct con *c = console_backend_user(be);
    struct console_get_info_result r = { .size = { .rows = 24, .cols = 80 } };

    snprintf(r.name, sizeof r.name, "%s", c->name);
    console_get_info_reply(req, &r);
}

static void on_set_mode(struct console_backend *be, struct idc_request *req,
                        const struct console_set_mode_args *a)
{
    (void)be;
    (void)a; /* both modes are the same to an echo service */
    console_set_mode_reply(req);
}

/* Frames arrive in order, so every output sent before the drain has been handled. */
static void on_drain(struct console_backend *be, struct idc_request *req)
{
    (void)be;
    console_drain_reply(req);
}

static void on_connect(struct console_backend *be)
{
    struct con *c = console_backend_user(be);

    c->connected = true;
    c->line_len = 0;
    c->srv->connected++;
    if (!c->srv->quiet)
        fprintf(stderr, "console-server: %s connected (%u connected)\n", c->name,
                c->srv->connected);
}

static void on_disconnect(struct console_backend *be)
{
    struct con *c = console_backend_user(be);

    c->connected = false;
    c->q_len = 0; /* nothing from this connection survives it */
    c->srv->connected--;
    if (!c->srv->quiet)
        fprintf(stderr, "console-server: %s disconnected (%" PRIu64 " lines)\n", c->name, c->lines);
    console_backend_disconnect_done(be);
}

static void on_writable(struct console_backend *be)
{
    flush_queue(console_backend_user(be));
}

static const struct console_backend_ops console_ops = {
    .connect = on_connect,
    .disconnect = on_disconnect,
    .writable = on_writable,
    .on_output = on_output,
    .on_get_info = on_get_info,
    .on_set_mode = on_set_mode,
    .on_drain = on_drain,
};

static struct server *the_server;

/* The endpoint storage is released before this runs: count through the global. */
static void destroyed(struct console_backend *be)
{
    (void)be;
    the_server->destroyed++;
}

int main(int argc, char **argv)
{
    struct server srv = { .ncons = 1 };
    struct idc_context *ctx;
    sigset_t sigs;
    int opt, err, sfd;
    bool numbered = false;

    while ((opt = getopt(argc, argv, "qn:h")) != -1) {
        switch (opt) {
        case 'q':
            srv.quiet = true;
            break;
        case 'n': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end || v == 0 || v > 4096) {
                fprintf(stderr, "console-server: -n %s: expected 1..4096\n", optarg);
                return 2;
            }
            srv.ncons = (unsigned)v;
            numbered = true;
            break;
        }
        default:
            fprintf(stderr, "usage: console-server [-q] [-n COUNT] ADDRESS\n");
            return 2;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "usage: console-server [-q] [-n COUNT] ADDRESS\n");
        return 2;
    }
    const char *address = argv[optind];
    the_server = &srv;
    if (!(srv.cons = calloc(srv.ncons, sizeof *srv.cons))) {
        perror("console-server");
        return 1;
    }
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    if ((sfd = signalfd(-1, &sigs, SFD_CLOEXEC)) < 0) {
        perror("console-server: signalfd");
        return 1;
    }
    if ((err = idc_context_create(&ctx, NULL)) < 0) {
        fprintf(stderr, "console-server: %s\n", idc_strerror(err));
        return 1;
    }
    for (unsigned i = 0; i < srv.ncons; i++) {
        struct con *c = &srv.cons[i];
        char addr[128];
        c->srv = &srv;
        if (numbered)
            snprintf(addr, sizeof addr, "%s.%u", address, i);
        else
            snprintf(addr, sizeof addr, "%s", address);
        const char *colon = strchr(addr, ':');
        snprintf(c->name, sizeof c->name, "%.*s", CONSOLE_NAME_LEN, colon ? colon + 1 : addr);
        console_backend_create(&c->be, ctx, addr, &console_ops, c);
    }
    if (!srv.quiet)
        fprintf(stderr, "console-server: serving %u console%s on %s%s\n", srv.ncons,
                srv.ncons > 1 ? "s" : "", address, numbered ? ".N" : "");

    bool stopping = false;
    while (!stopping || srv.destroyed < srv.ncons) {
        struct pollfd pfd[2] = {
            { .fd = idc_context_fd(ctx), .events = POLLIN },
            { .fd = sfd, .events = POLLIN },
        };
        if (poll(pfd, 2, stopping ? 100 : -1) < 0 && errno != EINTR)
            break;
        if ((pfd[1].revents & POLLIN) && !stopping) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                stopping = true;
                for (unsigned i = 0; i < srv.ncons; i++)
                    console_backend_destroy(&srv.cons[i].be, destroyed);
            }
        }
        if ((err = idc_context_dispatch(ctx, 0)) < 0) {
            fprintf(stderr, "console-server: dispatch: %s\n", idc_strerror(err));
            break;
        }
    }
    fprintf(stderr,
            "console-server: %" PRIu64 " lines, %" PRIu64 " messages sent, %" PRIu64 " dropped\n",
            srv.lines, srv.messages_out, srv.dropped);
    for (unsigned i = 0; i < srv.ncons; i++)
        free(srv.cons[i].queue);
    free(srv.cons);
    idc_context_destroy(ctx);
    close(sfd);
    return 0;
}
