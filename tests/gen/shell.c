/* shell.c - see shell.h. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "shell.h"

char tmpdir[256];

void make_tmpdir(const char *tag)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/idc-%s-XXXXXX", tag);
    cr_assert_not_null(mkdtemp(tmpdir));
}

void remove_tmpdir(void)
{
    char cmd[512];
    if (!tmpdir[0])
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
    tmpdir[0] = 0;
}

int run(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}
