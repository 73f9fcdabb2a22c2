/* Console end to end: one console-server process, 50 console-client processes at once. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "e2e.h"

TestSuite(console, .init = e2e_setup, .fini = e2e_teardown);

#define CLIENTS 50
#define LINES   200

/* Every client writes LINES lines and must get each back, in order, while 49 others do the
   same; one-way messages in both directions, nothing lost, nobody blocked. */
Test(console, fifty_clients_at_once)
{
    const char *server = e2e_built("examples/console/console-server");
    const char *client = e2e_built("examples/console/console-client");
    pid_t pids[CLIENTS];
    char lines[16];

    if (access(server, X_OK) != 0 || access(client, X_OK) != 0)
        cr_skip("console examples not built");
    const char *sargv[] = { server, "-n", "50", "shm:con", NULL };
    pid_t srv = e2e_spawn("server.log", sargv);

    snprintf(lines, sizeof lines, "%d", LINES);
    for (int i = 0; i < CLIENTS; i++) {
        char addr[32], log[32];
        snprintf(addr, sizeof addr, "shm:con.%d", i);
        snprintf(log, sizeof log, "client%d.log", i);
        const char *argv[] = { client, "-n", lines, "-t", "60", addr, NULL };
        pids[i] = e2e_spawn(log, argv);
    }
    int ok = 0;
    for (int i = 0; i < CLIENTS; i++) {
        int st = e2e_wait(pids[i], 90000);
        if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            ok++;
        } else {
            char log[32];
            snprintf(log, sizeof log, "client%d.log", i);
            e2e_dump_log(log);
        }
    }
    cr_expect_eq(ok, CLIENTS, "%d of %d clients got all their lines back", ok, CLIENTS);

    /* the server saw every line and ends cleanly on SIGTERM */
    int st = e2e_stop(srv, SIGTERM);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "console-server did not exit cleanly");
    FILE *f = fopen(e2e_path("server.log"), "r");
    char line[512];
    unsigned long long total = 0;
    while (f && fgets(line, sizeof line, f))
        sscanf(line, "console-server: %llu lines", &total);
    if (f)
        fclose(f);
    cr_expect_eq(total, (unsigned long long)CLIENTS * LINES, "server counted %llu lines", total);
}

/* A wall line reaches other connected consoles as unsolicited input. */
Test(console, wall_reaches_other_consoles)
{
    const char *server = e2e_built("examples/console/console-server");
    const char *client = e2e_built("examples/console/console-client");

    if (access(server, X_OK) != 0 || access(client, X_OK) != 0)
        cr_skip("console examples not built");
    const char *sargv[] = { server, "-n", "2", "shm:wall", NULL };
    e2e_spawn("server.log", sargv);

    /* listener: interactive client whose stdin stays open (a pipe we hold) */
    int in[2];
    cr_assert_eq(pipe(in), 0);
    pid_t listener = fork();
    cr_assert_neq(listener, -1);
    if (listener == 0) {
        dup2(in[0], STDIN_FILENO);
        close(in[1]);
        FILE *o = freopen(e2e_path("listener.out"), "w", stdout);
        (void)o;
        execl(client, client, "-q", "shm:wall.0", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    usleep(300000);
    /* talker: a one-shot interactive client fed from a file */
    FILE *t = fopen(e2e_path("talk.txt"), "w");
    cr_assert_not_null(t);
    fputs("wall hello from the other console\n", t);
    fclose(t);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "timeout 30 %s -q shm:wall.1 < %s > %s 2>&1", client,
             e2e_path("talk.txt"), e2e_path("talker.out"));
    cr_assert_eq(system(cmd), 0);

    bool seen = false;
    for (int i = 0; i < 50 && !seen; i++) {
        char line[512];
        FILE *f = fopen(e2e_path("listener.out"), "r");
        while (f && fgets(line, sizeof line, f))
            seen |= strstr(line, "wall from wall.1: hello from the other console") != NULL;
        if (f)
            fclose(f);
        usleep(100000);
    }
    close(in[1]); /* EOF: the listener drains and exits */
    int st = e2e_wait(listener, 10000);
    if (st == -1) {
        kill(listener, SIGKILL);
        waitpid(listener, NULL, 0);
    }
    cr_expect(seen, "the wall message did not reach the other console");
}
