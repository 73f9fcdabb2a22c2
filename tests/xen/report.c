/* Result lines of the real-Xen test programs: see report.h for the format the harness reads. */
#include "report.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static char suite[64];
static const char *current = "setup";
static int watchdog_s;
double t_check;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void sort_doubles(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
}

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void report_init(const char *name)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    report_suite(name);
}

void report_suite(const char *name)
{
    snprintf(suite, sizeof(suite), "%s", name);
}

const char *report_kind(unsigned domid)
{
    return domid == 0 ? "dom0" : "domu";
}

void report_pair_suite(const char *prefix, unsigned a, unsigned b)
{
    snprintf(suite, sizeof(suite), "%s_%s_%s", prefix, report_kind(a), report_kind(b));
}

void begin(const char *name)
{
    current = name;
    t_check = now_s();
}

/* The [----] line before a result. */
static void details(const char *fmt, va_list ap)
{
    printf("@@idc [----] %s::%s: ", suite, current);
    vprintf(fmt, ap);
    printf("\n");
}

void pass(const char *fmt, ...)
{
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        details(fmt, ap);
        va_end(ap);
    }
    printf("@@idc [PASS] %s::%s: (%.2fs)\n", suite, current, now_s() - t_check);
    fflush(stdout);
}

void pass_inline(const char *fmt, ...)
{
    va_list ap;
    printf("@@idc [PASS] %s::%s: ", suite, current);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf(" (%.2fs)\n", now_s() - t_check);
    fflush(stdout);
}

void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    details(fmt, ap);
    va_end(ap);
    printf("@@idc [FAIL] %s::%s: (%.2fs)\n", suite, current, now_s() - t_check);
    fflush(stdout);
    exit(1);
}

static void on_alarm(int sig)
{
    (void)sig;
    printf("@@idc [----] %s::%s: watchdog: no progress in %d s\n@@idc [FAIL] %s::%s: (%ds)\n",
           suite, current, watchdog_s, suite, current, watchdog_s);
    fflush(stdout);
    _exit(2);
}

void report_watchdog(int seconds)
{
    watchdog_s = seconds;
    signal(SIGALRM, on_alarm);
    alarm((unsigned)seconds);
}

void report_list(const char *name, const char *const *checks, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%s::%s\n", name, checks[i]);
}
