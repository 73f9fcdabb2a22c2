/* Deadlock freedom at full load, with real processes.
 *
 * symmetric: process A serves "a" and is a frontend of "b"; process B serves "b" and is a
 *   frontend of "a". Both keep their transaction window full of RTT_OP_CHAIN requests; each
 *   request is answered at once and spawns a follow-up of depth-1 the other way (submitted from
 *   inside the handler, queued on IDC_ERR_AGAIN until writable), plus a one-way message back.
 * stack: front -> mid -> back; mid answers an upstream request only after its downstream
 *   transaction completed, with fewer downstream credits than upstream ones.
 *
 * Load runs for 2.5 s, then new work stops and everything in flight must finish. */
#include "runtime/util.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#define WAIT 5000

struct stat_sum {
    long long sub, ok, err, disc, bad, handled, outstanding, backlog, started, held;
};

static bool read_stat(const char *file, struct stat_sum *s, char *line, size_t size)
{
    if (!rtt_file_last(file, "stat ", line, size))
        return false;
    s->sub = rtt_field(line, "sub");
    s->ok = rtt_field(line, "ok");
    s->err = rtt_field(line, "err");
    s->disc = rtt_field(line, "disc");
    s->bad = rtt_field(line, "bad");
    s->handled = rtt_field(line, "handled");
    s->outstanding = rtt_field(line, "outstanding");
    s->backlog = rtt_field(line, "backlog");
    s->started = rtt_field(line, "started");
    s->held = rtt_field(line, "held");
    return true;
}

struct quiet {
    const char **files;
    int n;
    uint64_t last;
};
/* every process idle: nothing outstanding, no backlog, and everything submitted was handled */
static bool all_quiet(void *arg)
{
    struct quiet *q = arg;
    uint64_t now = rtt_now_ms();
    if (now - q->last < 60)
        return false;
    q->last = now;
    long long sub = 0, handled = 0, ok = 0;
    for (int i = 0; i < q->n; i++) {
        struct stat_sum s;
        char line[512];
        if (!read_stat(q->files[i], &s, line, sizeof line))
            return false;
        if (s.outstanding != 0 || s.backlog != 0)
            return false;
        sub += s.sub;
        handled += s.handled;
        ok += s.ok;
    }
    return sub == handled && sub == ok;
}

/* The "log" and "disconnect" lines of a peer's event file (why a connection went down). */
static const char *events(const char *file)
{
    static char out[2][4096];
    static int which;
    char *o = out[which ^= 1], line[1024];
    size_t n = 0;
    o[0] = 0;
    FILE *f = fopen(rtt_path(file), "r");
    while (f && fgets(line, sizeof line, f)) {
        if ((!strncmp(line, "log ", 4) || !strncmp(line, "disconnect", 10)) &&
            n < sizeof(out[0]) - 1)
            n += (size_t)snprintf(o + n, sizeof(out[0]) - n, "%s", line);
    }
    if (f)
        fclose(f);
    return o;
}

RTT_TEST(deadlock, symmetric_full_load_finishes, 60)
{
    pid_t a = rtt_spawn("rtt_peer", "A", "--serve", "a", "--connect", "b", "--mode", "sym",
                        "--load", "64", "--depth", "5", "--duration", "2500", "--id", "1",
                        "--max-msg", "16", NULL);
    pid_t b = rtt_spawn("rtt_peer", "B", "--serve", "b", "--connect", "a", "--mode", "sym",
                        "--load", "64", "--depth", "5", "--duration", "2500", "--id", "2",
                        "--max-msg", "16", NULL);
    cr_assert(rtt_wait_file(NULL, "A", "connect connect", 1, WAIT), "%s", rtt_file_text("A"));
    cr_assert(rtt_wait_file(NULL, "B", "connect connect", 1, WAIT), "%s", rtt_file_text("B"));
    const char *files[] = { "A", "B" };
    struct quiet q = { files, 2, 0 };
    rtt_pump(NULL, 2500);
    bool done = rtt_until(NULL, all_quiet, &q, 15000);
    struct stat_sum sa, sb;
    char la[512], lb[512];
    cr_assert(read_stat("A", &sa, la, sizeof la) && read_stat("B", &sb, lb, sizeof lb));
    cr_assert(done, "work never finished (deadlock?)\nA: %s\nB: %s\nA's events:\n%sB's events:\n%s",
              la, lb, events("A"), events("B"));
    cr_assert_eq(sa.bad + sb.bad, 0, "A: %s\nB: %s\n%s", la, lb, rtt_file_text("A"));
    cr_assert_eq(sa.err + sb.err, 0, "A: %s\nB: %s", la, lb);
    cr_assert_eq(sa.disc + sb.disc, 0, "A: %s\nB: %s", la, lb);
    cr_assert_gt(sa.started, 0);
    cr_assert_gt(sb.started, 0);
    /* full load means the window was exhausted: submissions hit IDC_ERR_AGAIN */
    cr_assert_gt(rtt_field(la, "again") + rtt_field(lb, "again"), 0, "never ran out of credit");
    cr_assert_gt(sa.sub + sb.sub, getenv("RTT_SLOW") ? 100 : 2000, "too little work: A: %s B: %s",
                 la, lb);
    cr_assert_eq(rtt_file_count("A", "disconnect"), 0, "%s", rtt_file_text("A"));
    cr_assert_eq(rtt_file_count("B", "disconnect"), 0, "%s", rtt_file_text("B"));
    cr_log_info("symmetric: %lld + %lld transactions", sa.sub, sb.sub);
    int st = rtt_stop(a, SIGTERM, NULL, WAIT);
    cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", rtt_file_text("A"));
    st = rtt_stop(b, SIGTERM, NULL, WAIT);
    cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", rtt_file_text("B"));
    cr_assert_eq(rtt_file_count("A", "error"), 0, "%s", rtt_file_text("A"));
    cr_assert_eq(rtt_file_count("B", "error"), 0, "%s", rtt_file_text("B"));
}

RTT_TEST(deadlock, three_stage_stack_full_load_finishes, 60)
{
    pid_t back = rtt_spawn("rtt_peer", "back", "--serve", "back", "--max-txn", "16", NULL);
    pid_t mid = rtt_spawn("rtt_peer", "mid", "--serve", "mid", "--connect", "back", "--mode", "mid",
                          "--max-txn", "64", "--fe-max-txn", "16", NULL);
    cr_assert(rtt_wait_file(NULL, "mid", "connect connect", 1, WAIT), "%s", rtt_file_text("mid"));
    pid_t front = rtt_spawn("rtt_peer", "front", "--connect", "mid", "--mode", "load", "--op",
                            "add", "--expect-add", "2", "--load", "64", "--max-txn", "64",
                            "--duration", "2500", NULL);
    cr_assert(rtt_wait_file(NULL, "front", "connect connect", 1, WAIT), "%s",
              rtt_file_text("front"));
    rtt_pump(NULL, 2500);
    struct stat_sum f, m;
    char lf[512], lm[512];
    bool done = false;
    for (uint64_t end = rtt_now_ms() + 15000; rtt_now_ms() < end;) {
        rtt_pump(NULL, 60);
        if (read_stat("front", &f, lf, sizeof lf) && read_stat("mid", &m, lm, sizeof lm) &&
            f.outstanding == 0 && m.outstanding == 0 && m.backlog == 0 && f.sub == f.ok + f.bad &&
            m.sub == m.ok) {
            done = true;
            break;
        }
    }
    cr_assert(done, "stack never drained (deadlock?)\nfront: %s\nmid: %s", lf, lm);
    cr_assert_eq(f.bad, 0, "%s", rtt_file_text("front"));
    cr_assert_eq(f.err + f.disc, 0, "front: %s", lf);
    cr_assert_eq(m.err + m.disc + m.bad, 0, "mid: %s", lm);
    cr_assert_eq(m.handled, f.sub, "front submitted %lld, mid handled %lld", f.sub, m.handled);
    cr_assert_eq(m.sub, f.sub, "mid forwarded %lld of %lld", m.sub, f.sub);
    /* on emulated CPUs (the runtime suite over xen, RTT_SLOW=1) a few hundred is all 2.5 s do */
    cr_assert_gt(f.sub, getenv("RTT_SLOW") ? 100 : 2000, "too little work: %s", lf);
    cr_assert_gt(rtt_field(lm, "again"), 0, "mid never ran out of downstream credit: %s", lm);
    cr_log_info("stack: %lld transactions through 3 processes", f.sub);
    for (int i = 0; i < 3; i++) {
        pid_t p = i == 0 ? front : i == 1 ? mid : back;
        const char *n = i == 0 ? "front" : i == 1 ? "mid" : "back";
        int st = rtt_stop(p, SIGTERM, NULL, WAIT);
        cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: %s", n, rtt_file_text(n));
        cr_assert_eq(rtt_file_count(n, "error"), 0, "%s: %s", n, rtt_file_text(n));
    }
}
