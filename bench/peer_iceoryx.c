/*
 * Peer: eclipse iceoryx (Debian's iceoryx 2.0, C binding), a zero-copy shared-memory
 * publish/subscribe middleware. Round trip = the client publishes a "ping" chunk carrying the
 * payload, the server takes it, copies the payload into a "pong" chunk and publishes it back.
 * Two ways to wait: the WaitSet (blocking, a futex-based semaphore) and polling take_chunk
 * (cross-core only). The bench starts its own RouDi daemon and stops it afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iceoryx_binding_c/log.h"
#include "iceoryx_binding_c/publisher.h"
#include "iceoryx_binding_c/runtime.h"
#include "iceoryx_binding_c/subscriber.h"
#include "iceoryx_binding_c/wait_set.h"

#include "harness.h"

#define KIND_DATA 1u
#define KIND_STOP 2u

static pid_t roudi_pid = -1;
static char roudi_log[128];
static char roudi_reason[192];

static unsigned roudi_users;

/* Start RouDi (once for all iceoryx cases) and wait for "RouDi is ready for clients". */
static const char *iox_available(void)
{
    if (roudi_users > 0) {
        roudi_users++;
        return NULL;
    }
    const char *td = getenv("TMPDIR");
    snprintf(roudi_log, sizeof roudi_log, "%s/idc-bench-roudi-XXXXXX", td && *td ? td : "/tmp");
    int fd = mkstemp(roudi_log);
    if (fd < 0) {
        snprintf(roudi_reason, sizeof roudi_reason, "mkstemp: %s", strerror(errno));
        return roudi_reason;
    }
    pid_t parent = getpid();
    roudi_pid = fork();
    if (roudi_pid < 0) {
        close(fd);
        snprintf(roudi_reason, sizeof roudi_reason, "fork: %s", strerror(errno));
        return roudi_reason;
    }
    if (roudi_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the benchmark */
        if (getppid() != parent)
            _exit(1);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(BENCH_IOX_ROUDI, "iox-roudi", "-l", "error", (char *)NULL);
        _exit(127);
    }
    close(fd);
    for (int i = 0; i < 200; i++) {
        char buf[4096] = "";
        FILE *f = fopen(roudi_log, "r");
        if (f) {
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            buf[n] = '\0';
            fclose(f);
        }
        if (strstr(buf, "RouDi is ready for clients")) {
            roudi_users = 1;
            return NULL;
        }
        int st;
        if (waitpid(roudi_pid, &st, WNOHANG) == roudi_pid) {
            roudi_pid = -1;
            unlink(roudi_log);
            snprintf(roudi_reason, sizeof roudi_reason,
                     "iox-roudi exited at start (status %d): another RouDi running?",
                     WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
            return roudi_reason;
        }
        struct timespec d = { 0, 50 * 1000 * 1000 };
        nanosleep(&d, NULL);
    }
    kill(roudi_pid, SIGKILL);
    waitpid(roudi_pid, NULL, 0);
    roudi_pid = -1;
    unlink(roudi_log);
    snprintf(roudi_reason, sizeof roudi_reason, "iox-roudi not ready after 10 s");
    return roudi_reason;
}

static void iox_cleanup(void)
{
    if (roudi_users == 0 || --roudi_users > 0 || roudi_pid <= 0)
        return;
    kill(roudi_pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        if (waitpid(roudi_pid, NULL, WNOHANG) == roudi_pid) {
            roudi_pid = -1;
            break;
        }
        struct timespec d = { 0, 50 * 1000 * 1000 };
        nanosleep(&d, NULL);
    }
    if (roudi_pid > 0) {
        kill(roudi_pid, SIGKILL);
        waitpid(roudi_pid, NULL, 0);
        roudi_pid = -1;
    }
    unlink(roudi_log);
    /* RouDi 2.0 leaves its segments behind (~200 MiB of tmpfs); it was ours, so remove them
       (names: the management segment and one named after the user, see its start-up log). */
    shm_unlink("iceoryx_mgmt");
    struct passwd *pw = getpwuid(getuid());
    if (pw)
        shm_unlink(pw->pw_name);
    /* and its socket and lock files (iceoryx 2.0's fixed paths) */
    unlink("/tmp/roudi");
    unlink("/tmp/roudi.lock");
    unlink("/tmp/iox-unique-roudi.lock");
}

struct iox_setup {
    size_t size;
    int poll;          /* 1: spin on take_chunk; 0: block in the WaitSet */
    char instance[32]; /* unique per run, so no stale port of an earlier run matches */
};

struct iox_side {
    iox_pub_storage_t pub_storage;
    iox_sub_storage_t sub_storage;
    iox_ws_storage_t ws_storage;
    iox_pub_t pub;
    iox_sub_t sub;
    iox_ws_t ws;
};

static void side_open(struct iox_side *s, const struct iox_setup *st, const char *out,
                      const char *in)
{
    iox_pub_options_t po;
    iox_pub_options_init(&po);
    po.historyCapacity = 0;
    s->pub = iox_pub_init(&s->pub_storage, "idcbench", st->instance, out, &po);
    iox_sub_options_t so;
    iox_sub_options_init(&so);
    so.queueCapacity = 16;
    so.historyRequest = 0;
    s->sub = iox_sub_init(&s->sub_storage, "idcbench", st->instance, in, &so);
    s->ws = NULL;
    if (!st->poll) {
        s->ws = iox_ws_init(&s->ws_storage);
        iox_ws_attach_subscriber_state(s->ws, s->sub, SubscriberState_HAS_DATA, 0, NULL);
    }
}

static void side_close(struct iox_side *s)
{
    if (s->ws) {
        iox_ws_detach_subscriber_state(s->ws, s->sub, SubscriberState_HAS_DATA);
        iox_ws_deinit(s->ws);
    }
    iox_sub_deinit(s->sub);
    iox_pub_deinit(s->pub);
}

/* Next chunk; blocks (WaitSet) or spins (poll mode). timeout_ms < 0: forever. NULL on timeout. */
static const void *side_take(struct iox_side *s, int timeout_ms)
{
    const void *chunk;
    uint64_t deadline = timeout_ms < 0 ? 0 : bench_now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        if (iox_sub_take_chunk(s->sub, &chunk) == ChunkReceiveResult_SUCCESS)
            return chunk;
        if (timeout_ms >= 0 && bench_now_ns() > deadline)
            return NULL;
        if (!s->ws) {
            bench_cpu_relax();
            continue;
        }
        iox_notification_info_t info[2];
        uint64_t missed;
        if (timeout_ms < 0) {
            iox_ws_wait(s->ws, info, 2, &missed);
        } else {
            struct timespec ts = { 0, 10 * 1000 * 1000 };
            iox_ws_timed_wait(s->ws, ts, info, 2, &missed);
        }
    }
}

static int side_send(struct iox_side *s, uint32_t kind, const void *payload, size_t len)
{
    void *chunk;
    if (iox_pub_loan_chunk(s->pub, &chunk, (uint32_t)(len + 8)) != AllocationResult_SUCCESS)
        return -1;
    uint32_t hdr[2] = { kind, (uint32_t)len };
    memcpy(chunk, hdr, sizeof hdr);
    memcpy((char *)chunk + 8, payload, len);
    iox_pub_publish_chunk(s->pub, chunk);
    return 0;
}

/* iceoryx 2.0 leaves a runtime's socket and lock file in /tmp (its platform_settings.hpp's
   prefixes) after iox_runtime_shutdown, and of course after a peer was killed: removed here so
   that a bench run leaves nothing behind. */
static void iox_remove_runtime_files(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "/tmp/%s", name);
    unlink(path);
    snprintf(path, sizeof path, "/tmp/%s.lock", name);
    unlink(path);
}

static int iox_server(void *arg)
{
    struct iox_setup *st = arg;
    char name[64];
    snprintf(name, sizeof name, "idcbench-srv-%d", (int)getpid());
    iox_set_loglevel(Iceoryx_LogLevel_Error);
    iox_runtime_init(name);
    struct iox_side s;
    side_open(&s, st, "pong", "ping");
    char *buf = malloc(st->size + 8);
    int rc = buf ? 0 : 1;
    while (rc == 0) {
        const void *chunk = side_take(&s, -1);
        uint32_t hdr[2];
        memcpy(hdr, chunk, sizeof hdr);
        if (hdr[0] != KIND_DATA || hdr[1] > st->size) {
            iox_sub_release_chunk(s.sub, chunk);
            break;
        }
        memcpy(buf, (const char *)chunk + 8, hdr[1]);
        iox_sub_release_chunk(s.sub, chunk);
        if (side_send(&s, KIND_DATA, buf, hdr[1]) != 0)
            rc = 1;
    }
    free(buf);
    side_close(&s);
    iox_runtime_shutdown();
    return rc;
}

static int iox_rtt(struct bench_run *run, int poll)
{
    struct iox_setup st;
    memset(&st, 0, sizeof st);
    st.size = run->param;
    st.poll = poll;
    snprintf(st.instance, sizeof st.instance, "r%d", (int)getpid());
    pid_t pid = bench_fork_peer(run, iox_server, &st);
    if (pid < 0)
        return -1;
    char name[64];
    snprintf(name, sizeof name, "idcbench-cli-%d", (int)getpid());
    iox_set_loglevel(Iceoryx_LogLevel_Error);
    iox_runtime_init(name);
    struct iox_side s;
    side_open(&s, &st, "ping", "pong");
    char *msg = malloc(st.size), *back = malloc(st.size);
    int rc = 0;
    if (!msg || !back) {
        rc = bench_fail(run, "out of memory");
        goto out;
    }
    memset(msg, 0x5a, st.size);

    /* Discovery through RouDi is asynchronous: ping until the first pong comes back. */
    const void *chunk = NULL;
    for (int i = 0; i < 500 && !chunk; i++) {
        if (side_send(&s, KIND_DATA, msg, st.size) != 0) {
            rc = bench_fail(run, "iceoryx: cannot loan a chunk");
            goto out;
        }
        chunk = side_take(&s, 10);
    }
    if (!chunk) {
        rc = bench_fail(run, "iceoryx: no answer from the server after 5 s");
        goto out;
    }
    iox_sub_release_chunk(s.sub, chunk);
    while ((chunk = side_take(&s, 20)) != NULL) /* answers to the other pings */
        iox_sub_release_chunk(s.sub, chunk);

    bench_lat_start(run);
    for (;;) {
        uint64_t t0 = bench_ticks();
        if (side_send(&s, KIND_DATA, msg, st.size) != 0) {
            rc = bench_fail(run, "iceoryx: cannot loan a chunk");
            break;
        }
        chunk = side_take(&s, 5000);
        if (!chunk) {
            rc = bench_fail(run, "iceoryx: answer lost");
            break;
        }
        uint32_t hdr[2];
        memcpy(hdr, chunk, sizeof hdr);
        int ok = hdr[0] == KIND_DATA && hdr[1] == st.size;
        if (ok)
            memcpy(back, (const char *)chunk + 8, st.size);
        iox_sub_release_chunk(s.sub, chunk);
        uint64_t t1 = bench_ticks();
        if (!ok) {
            rc = bench_fail(run, "iceoryx: bad answer");
            break;
        }
        if (!bench_lat_record(run, t0, t1))
            break;
    }
    if (rc == 0 && memcmp(msg, back, st.size) != 0)
        rc = bench_fail(run, "echo payload differs");
out:
    if (rc == 0 && side_send(&s, KIND_STOP, msg, 0) != 0)
        rc = bench_fail(run, "iceoryx: cannot send stop");
    if (rc == 0)
        rc = bench_wait_peer(run, pid);
    else
        bench_kill_peer(pid);
    side_close(&s);
    iox_runtime_shutdown();
    iox_remove_runtime_files(name);
    snprintf(name, sizeof name, "idcbench-srv-%d", (int)pid);
    iox_remove_runtime_files(name); /* the peer is gone (waited for or killed) */
    free(msg);
    free(back);
    return rc;
}

static int iox_rtt_block(struct bench_run *run)
{
    return iox_rtt(run, 0);
}
static int iox_rtt_poll(struct bench_run *run)
{
    return iox_rtt(run, 1);
}

BENCH_CASE(case_iox_block, .figure = "rtt", .name = "iceoryx", .baseline = "ring-eventfd",
           .placements = BENCH_BOTH, .available = iox_available, .cleanup = iox_cleanup,
           .run = iox_rtt_block)
BENCH_CASE(case_iox_poll, .figure = "rtt", .name = "iceoryx-poll", .baseline = "ring-busy",
           .placements = BENCH_CROSS, .available = iox_available, .cleanup = iox_cleanup,
           .same_core_skip =
               "pure spinning on one CPU measures the scheduler's time slice, not the transport",
           .run = iox_rtt_poll)
