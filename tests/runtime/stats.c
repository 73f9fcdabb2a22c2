/* The runtime's counters and idcctl: a known amount of traffic between this process (frontend)
 * and an echo backend process, then `idcctl ls` must print exactly those frames, bytes and
 * transactions for both ends, idc_endpoint_stats must agree, and after the backend is killed
 * the frontend's row shows the disconnect reason while the dead process's file is reclaimed.
 */
#include "runtime/util.h"

#include "statsfile.h" /* IDC_STATS_SLOTS */

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define WAIT    5000
#define N_MSG   100 /* RTT_OP_SINK messages of MSG_LEN bytes */
#define MSG_LEN 40
#define N_TXN   50 /* RTT_OP_ECHO transactions of TXN_LEN bytes, echoed back */
#define TXN_LEN 24
#define HELLO   ((unsigned long long)sizeof(struct rtt_hello)) /* the backend's greeting */

static const char *idcctl_path(void)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/bin/idcctl", IDC_BUILDDIR);
    if (access(p, X_OK) != 0)
        cr_skip_test("idcctl not built (%s): make idcctl", p);
    return p;
}

static const char *stats_dir(void)
{
    return getenv("IDC_STATS_DIR");
}

/* Runs idcctl with args; its whole output (static buffer). */
static const char *run_idcctl(const char *args)
{
    static char out[1 << 20];
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", idcctl_path(), args);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f, "popen %s", cmd);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    int st = pclose(f);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: status %d:\n%s", cmd, st, out);
    return out;
}

/* One row of idcctl's table: the cells under the header's names (the last, free text, whole). */
#define MAX_CELLS 16
struct cells {
    char name[MAX_CELLS][32];
    char val[MAX_CELLS][256];
    int n;
};

static int split(const char *line, char cells[][256], int max, bool rest_last)
{
    int n = 0;
    const char *p = line;
    while (*p && n < max) {
        while (*p == ' ')
            p++;
        if (!*p || *p == '\n')
            break;
        size_t len = n == max - 1 && rest_last ? strcspn(p, "\n") : strcspn(p, " \n");
        snprintf(cells[n++], 256, "%.*s", (int)len, p);
        p += len;
    }
    return n;
}

/* The row of process pid for address, from idcctl output; false if none. */
static bool find_row(const char *out, pid_t pid, const char *address, struct cells *row)
{
    char hdr[MAX_CELLS][256];
    const char *nl = strchr(out, '\n');
    if (!nl || strncmp(out, "PID ", 4) != 0)
        return false;
    row->n = split(out, hdr, MAX_CELLS, false);
    for (int i = 0; i < row->n; i++)
        snprintf(row->name[i], sizeof row->name[i], "%s", hdr[i]);
    for (const char *l = nl + 1; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
        char v[MAX_CELLS][256];
        int n = split(l, v, row->n, true);
        if (n == row->n && atoi(v[0]) == pid && strcmp(v[2], address) == 0) {
            memcpy(row->val, v, sizeof v);
            return true;
        }
    }
    return false;
}

static const char *cell(const struct cells *row, const char *name)
{
    for (int i = 0; i < row->n; i++)
        if (strcmp(row->name[i], name) == 0)
            return row->val[i];
    cr_assert_fail("idcctl prints no column %s", name);
    return "";
}

static unsigned long long num(const struct cells *row, const char *name)
{
    return strtoull(cell(row, name), NULL, 10);
}

static int stats_files(void)
{
    DIR *d = opendir(stats_dir());
    int n = 0;
    if (!d)
        return 0;
    for (const struct dirent *e; (e = readdir(d));)
        n += strstr(e->d_name, ".stats") != NULL && e->d_name[0] != '.';
    closedir(d);
    return n;
}

static int txn_done;
static void on_txn_done(struct rtt_txn *t)
{
    (void)t;
    txn_done++;
}
static bool all_txn_done(void *arg)
{
    (void)arg;
    return txn_done == N_TXN;
}
static bool hello_seen(void *arg)
{
    return ((struct rtt_ep *)arg)->n_hello > 0;
}

/* N_MSG messages then N_TXN echo transactions (sends that find no credit wait for it). */
static void traffic(struct idc_context *ctx, struct rtt_ep *fe)
{
    uint8_t msg[MSG_LEN], req[TXN_LEN];
    memset(msg, 0x5a, sizeof msg);
    memset(req, 0xa5, sizeof req);
    for (int i = 0; i < N_MSG;) {
        int rc = idc_send_message(&fe->ep, RTT_OP_SINK, msg, sizeof msg);
        if (rc == IDC_ERR_AGAIN) {
            idc_context_dispatch(ctx, 10);
            continue;
        }
        cr_assert_eq(rc, 0, "message %d: %s", i, idc_strerror(rc));
        i++;
    }
    static struct rtt_txn t[N_TXN];
    txn_done = 0;
    for (int i = 0; i < N_TXN;) {
        t[i].on_done = on_txn_done;
        int rc = rtt_submit(fe, &t[i], RTT_OP_ECHO, req, sizeof req);
        if (rc == IDC_ERR_AGAIN) {
            idc_context_dispatch(ctx, 10);
            continue;
        }
        cr_assert_eq(rc, 0, "transaction %d: %s", i, idc_strerror(rc));
        i++;
    }
    cr_assert(rtt_until(ctx, all_txn_done, NULL, WAIT), "%d of %d transactions done", txn_done,
              N_TXN);
}

RTT_TEST(stats, idcctl_ls_counts_the_traffic_and_the_disconnect_reason, 60)
{
    struct rtt_log log = { 0 };
    struct idc_context *ctx = rtt_ctx(&log);
    pid_t be = rtt_spawn("rtt_peer", "be", "--serve", "counted", NULL);
    static struct rtt_ep fe;
    rtt_ep_create(&fe, ctx, IDC_ROLE_FRONTEND, "counted", NULL);
    cr_assert(rtt_wait_connect(&fe, 1, WAIT), "no connect; log:\n%s", log.buf);
    cr_assert(rtt_until(ctx, hello_seen, &fe, WAIT), "no HELLO from the backend");
    traffic(ctx, &fe);

    char addr[80], fe_peer[64], be_peer[64], args[600];
    rtt_address(addr, sizeof addr, IDC_ROLE_FRONTEND, "counted");
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%.*s", (int)(strchr(addr, ':') - addr + 1), addr);
    snprintf(args, sizeof args, "-d %s ls %s", stats_dir(), prefix);
    const char *out = run_idcctl(args);
    struct cells f, b;
    cr_assert(find_row(out, getpid(), addr, &f), "no row for the frontend:\n%s", out);
    char be_addr[80];
    rtt_address(be_addr, sizeof be_addr, IDC_ROLE_BACKEND, "counted");
    cr_assert(find_row(out, be, be_addr, &b), "no row for the backend (pid %d):\n%s", (int)be, out);

    unsigned long long up = N_MSG + N_TXN, up_bytes = N_MSG * MSG_LEN + N_TXN * TXN_LEN;
    unsigned long long down = 1 + N_TXN, down_bytes = HELLO + N_TXN * TXN_LEN;
    cr_expect_eq(num(&f, "TX-FRAMES"), up, "%s", out);
    cr_expect_eq(num(&f, "TX-BYTES"), up_bytes, "%s", out);
    cr_expect_eq(num(&f, "RX-FRAMES"), down, "%s", out);
    cr_expect_eq(num(&f, "RX-BYTES"), down_bytes, "%s", out);
    cr_expect_eq(num(&f, "TXNS"), N_TXN, "%s", out);
    cr_expect_eq(num(&f, "REQS"), 0, "%s", out);
    cr_expect_eq(num(&b, "TX-FRAMES"), down, "%s", out);
    cr_expect_eq(num(&b, "TX-BYTES"), down_bytes, "%s", out);
    cr_expect_eq(num(&b, "RX-FRAMES"), up, "%s", out);
    cr_expect_eq(num(&b, "RX-BYTES"), up_bytes, "%s", out);
    cr_expect_eq(num(&b, "TXNS"), 0, "%s", out);
    cr_expect_eq(num(&b, "REQS"), N_TXN, "%s", out);
    cr_expect_str_eq(cell(&f, "STATE"), "connected", "%s", out);
    cr_expect_str_eq(cell(&b, "STATE"), "connected", "%s", out);
    cr_expect_str_eq(cell(&f, "ROLE"), "frontend", "%s", out);
    cr_expect_str_eq(cell(&b, "ROLE"), "backend", "%s", out);
    cr_expect_str_eq(cell(&f, "PROTOCOL"), "rtt/v1", "%s", out);
    cr_expect_str_eq(cell(&f, "CREDITS"), "0/64", "%s", out);
    cr_expect_str_eq(cell(&f, "ERRORS"), "0", "%s", out);
    cr_expect_str_eq(cell(&f, "LAST-DISCONNECT"), "-", "%s", out);
    if (strncmp(addr, "shm:", 4) == 0) { /* the shm transport names the peer process */
        snprintf(fe_peer, sizeof fe_peer, "pid=%d,uid=%u", (int)be, (unsigned)geteuid());
        snprintf(be_peer, sizeof be_peer, "pid=%d,uid=%u", (int)getpid(), (unsigned)geteuid());
        cr_expect_str_eq(cell(&f, "PEER"), fe_peer, "%s", out);
        cr_expect_str_eq(cell(&b, "PEER"), be_peer, "%s", out);
    }

    /* the in-process reader gives the same counts */
    struct idc_endpoint_stats st;
    cr_assert_eq(idc_endpoint_stats(&fe.ep, &st), 0);
    cr_expect_eq(st.tx_frames, up);
    cr_expect_eq(st.tx_bytes, up_bytes);
    cr_expect_eq(st.rx_frames, down);
    cr_expect_eq(st.rx_bytes, down_bytes);
    cr_expect_eq(st.txn_submitted, N_TXN);
    cr_expect_eq(st.txn_done, N_TXN);
    cr_expect_eq(st.txn_outstanding, 0);
    cr_expect_eq(st.connects, 1);
    cr_expect_eq(st.disconnects, 0);
    cr_expect_eq(st.tx_limit, 64);

    /* kill -9 the backend: the frontend's row says why, the dead process's file is reclaimed */
    cr_assert_eq(stats_files(), 2);
    kill(be, SIGKILL);
    cr_assert(rtt_wait_disconnect(&fe, 1, WAIT), "no disconnect after kill -9");
    waitpid(be, NULL, 0);
    out = run_idcctl(args);
    cr_assert(find_row(out, getpid(), addr, &f), "no row for the frontend:\n%s", out);
    cr_expect(find_row(out, be, be_addr, &b) == false, "the dead backend is listed:\n%s", out);
    cr_expect(strstr(out, "removed 1 stats file of processes that are gone") != NULL, "%s", out);
    cr_expect_eq(stats_files(), 1, "the dead backend's file is still there:\n%s", out);
    cr_expect_str_neq(cell(&f, "STATE"), "connected", "%s", out);
    cr_expect(strstr(cell(&f, "LAST-DISCONNECT"), "IDC_ERR_DISCONNECTED") != NULL, "%s", out);
    cr_assert_eq(idc_endpoint_stats(&fe.ep, &st), 0);
    cr_expect_eq(st.disconnects, 1);
    cr_expect_eq(st.tx_frames, up, "counters survive the disconnect");

    /* a new backend: connected again, the last disconnect's reason still shown */
    be = rtt_spawn("rtt_peer", "be2", "--serve", "counted", NULL);
    cr_assert(rtt_wait_connect(&fe, 2, WAIT), "no reconnect; log:\n%s", log.buf);
    out = run_idcctl(args);
    cr_assert(find_row(out, getpid(), addr, &f), "no row for the frontend:\n%s", out);
    cr_expect_str_eq(cell(&f, "STATE"), "connected", "%s", out);
    cr_expect(strstr(cell(&f, "LAST-DISCONNECT"), "IDC_ERR_DISCONNECTED") != NULL, "%s", out);
    cr_assert_eq(idc_endpoint_stats(&fe.ep, &st), 0);
    cr_expect_eq(st.connects, 2);
    rtt_stop(be, SIGKILL, ctx, WAIT);

    cr_assert(rtt_ep_destroy(&fe, WAIT));
    idc_context_destroy(ctx);
    run_idcctl(args); /* reclaims the killed backend's file */
    cr_expect_eq(stats_files(), 0, "the context's file outlived idc_context_destroy");
}

RTT_TEST(stats, idcctl_watch_refreshes_count_times, 30)
{
    struct rtt_log log = { 0 };
    struct idc_context *ctx = rtt_ctx(&log);
    static struct rtt_ep be;
    rtt_ep_create(&be, ctx, IDC_ROLE_BACKEND, "watched", NULL);
    rtt_pump(ctx, 50);
    char addr[80], args[600], title[120];
    rtt_address(addr, sizeof addr, IDC_ROLE_BACKEND, "watched"); /* shm:, or xen: on Xen */
    snprintf(args, sizeof args, "-d %s watch -n 2 %s", stats_dir(), addr);
    snprintf(title, sizeof title, "idcctl watch %s ", addr);
    const char *out = run_idcctl(args);
    int frames = 0, rows = 0;
    for (const char *p = out; (p = strstr(p, title)); p++)
        frames++;
    for (const char *p = out; (p = strstr(p, addr)); p++)
        rows++;
    rows -= frames; /* the title names it too */
    cr_expect_eq(frames, 2, "%s", out);
    cr_expect_eq(rows, 2, "%s", out);
    cr_assert(rtt_ep_destroy(&be, WAIT));
    idc_context_destroy(ctx);
}

/* Endpoints beyond the file's slots still count (in process) and simply are not listed. */
static void never_called(struct idc_endpoint *ep)
{
    (void)ep;
    cr_assert_fail("a callback of an endpoint that can never connect ran");
}
static int never_msg(struct idc_endpoint *ep, uint16_t op, const void *p, size_t len)
{
    (void)op, (void)p, (void)len;
    never_called(ep);
    return 0;
}
static int never_txn(struct idc_endpoint *ep, struct idc_request *r, uint16_t op, const void *p,
                     size_t len)
{
    (void)r;
    return never_msg(ep, op, p, len);
}
static const struct idc_endpoint_ops never_ops = {
    .connect = never_called,
    .disconnect = never_called,
    .handle_message = never_msg,
    .handle_transaction = never_txn,
};

RTT_TEST(stats, endpoints_beyond_the_slots_are_not_exported, 60)
{
    struct rtt_log log = { 0 };
    struct idc_context *ctx = rtt_ctx(&log);
    static struct idc_endpoint eps[IDC_STATS_SLOTS + 2];
    for (unsigned i = 0; i < IDC_STATS_SLOTS + 2; i++) {
        char name[32];
        snprintf(name, sizeof name, "shm:bad name %u", i); /* DEAD at once */
        struct idc_endpoint_config cfg = {
            .protocol = &rtt_proto, .role = IDC_ROLE_FRONTEND, .address = name, .ops = &never_ops
        };
        idc_endpoint_create(&eps[i], ctx, &cfg);
        cr_assert_eq(idc_endpoint_state(&eps[i]), IDC_EP_DEAD);
    }
    char args[600];
    snprintf(args, sizeof args, "-d %s ls shm:", stats_dir());
    const char *out = run_idcctl(args);
    int rows = 0;
    for (const char *p = out; (p = strstr(p, "  dead  ")); p++)
        rows++;
    cr_expect_eq(rows, IDC_STATS_SLOTS, "%s", out);
    cr_expect(strstr(out, "bad address") != NULL, "no reason for the dead endpoints:\n%s", out);
    cr_expect(rtt_log_has(&log, "stats slots are in use"), "%s", log.buf);
    struct idc_endpoint_stats st;
    cr_assert_eq(idc_endpoint_stats(&eps[IDC_STATS_SLOTS + 1], &st), 0);
    cr_expect_eq(st.errors, 1, "the bad address counts as an error");
    for (unsigned i = 0; i < IDC_STATS_SLOTS + 2; i++)
        idc_endpoint_destroy(&eps[i], NULL);
    rtt_pump(ctx, 20);
    for (unsigned i = 0; i < IDC_STATS_SLOTS + 2; i++)
        cr_expect_eq(idc_endpoint_state(&eps[i]), IDC_EP_UNUSED);
    idc_context_destroy(ctx);
}

RTT_TEST(stats, stats_dir_off_writes_no_file, 30)
{
    struct rtt_log log = { 0 };
    struct idc_context_options o = {
        .shm_dir = rtt_dir, .log = rtt_log_cb, .log_arg = &log, .stats_dir = "off"
    };
    struct idc_context *ctx = NULL;
    cr_assert_eq(idc_context_create(&ctx, &o), 0);
    static struct rtt_ep be;
    rtt_ep_create(&be, ctx, IDC_ROLE_BACKEND, "quiet", NULL);
    rtt_pump(ctx, 20);
    cr_expect_eq(stats_files(), 0);
    struct idc_endpoint_stats st;
    cr_expect_eq(idc_endpoint_stats(&be.ep, &st), 0, "counters without a file");
    cr_assert(rtt_ep_destroy(&be, WAIT));
    idc_context_destroy(ctx);
}

/* A stats file is written by another process: idcctl must neither trust its strings nor its
   enums nor its size. This test forges files (it holds their locks, so they look alive). */
static int forge(const char *name, size_t size, uint64_t magic, int *fd)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", stats_dir(), name);
    mkdir(stats_dir(), 0700);
    *fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    cr_assert_geq(*fd, 0, "%s: %s", path, strerror(errno));
    cr_assert_eq(ftruncate(*fd, (off_t)size), 0);
    cr_assert_eq(flock(*fd, LOCK_EX), 0);
    static struct idc_stats_hdr h;
    memset(&h, 0, sizeof h);
    h.magic = magic;
    h.format = IDC_STATS_FORMAT;
    h.hdr_size = IDC_STATS_HDR_SIZE;
    h.slot_size = IDC_STATS_SLOT_SIZE;
    h.nslots = IDC_STATS_SLOTS;
    h.pid = 424242;
    memset(h.program, 'P', sizeof h.program); /* no NUL */
    cr_assert_eq(pwrite(*fd, &h, sizeof h, 0), (ssize_t)sizeof h);
    return *fd;
}

static void forge_slot(int fd, unsigned i, uint32_t state, const char *address)
{
    static struct idc_stats_slot s;
    memset(&s, 0, sizeof s);
    s.state = state;
    s.role = IDC_ROLE_BACKEND;
    memset(s.address, 'A', sizeof s.address); /* no NUL */
    memcpy(s.address, address, strlen(address));
    memcpy(s.protocol, "ev\033[2Jil\n", 10);
    memset(s.reason, '\a', sizeof s.reason);
    s.ctr.tx_frames = 7;
    off_t off = IDC_STATS_HDR_SIZE + (off_t)i * IDC_STATS_SLOT_SIZE;
    cr_assert_eq(pwrite(fd, &s, sizeof s, off), (ssize_t)sizeof s);
}

RTT_TEST(stats, idcctl_treats_stats_files_as_untrusted, 30)
{
    int good, small, magic;
    forge("1-forged.stats", IDC_STATS_FILE_SIZE, IDC_STATS_MAGIC, &good);
    forge_slot(good, 0, IDC_EP_CONNECTED, "shm:forged");
    forge_slot(good, 1, 99, "shm:badstate");
    forge_slot(good, 2, IDC_EP_CONNECTED, "shm:seqodd");
    uint32_t odd = 1; /* a writer that never finishes: the slot is never read */
    cr_assert_eq(pwrite(good, &odd, sizeof odd, IDC_STATS_HDR_SIZE + 2 * IDC_STATS_SLOT_SIZE), 4);
    forge("2-small.stats", IDC_STATS_FILE_SIZE - 1, IDC_STATS_MAGIC, &small);
    forge_slot(small, 0, IDC_EP_CONNECTED, "shm:small");
    forge("3-magic.stats", IDC_STATS_FILE_SIZE, IDC_STATS_MAGIC + 1, &magic);
    forge_slot(magic, 0, IDC_EP_CONNECTED, "shm:magic");

    char args[600];
    snprintf(args, sizeof args, "-d %s ls", stats_dir());
    const char *out = run_idcctl(args);
    for (const char *p = out; *p; p++)
        cr_assert(*p == '\n' || (*p >= 0x20 && *p < 0x7f), "unprintable byte %#x in:\n%s",
                  (unsigned char)*p, out);
    cr_expect(strstr(out, "shm:forgedAAAA") != NULL, "%s", out);
    cr_expect(strstr(out, "ev?[2Jil?") != NULL, "the protocol is not shown cleaned:\n%s", out);
    cr_expect(strstr(out, "badstate") == NULL, "%s", out);
    cr_expect(strstr(out, "seqodd") == NULL, "%s", out);
    cr_expect(strstr(out, "shm:small") == NULL && strstr(out, "shm:magic") == NULL, "%s", out);
    cr_expect(strstr(out, "skipped 2 files") != NULL, "%s", out);
    struct cells r;
    char addr[IDC_STATS_ADDRESS_LEN]; /* the forged address cut to its field, less a NUL */
    memset(addr, 'A', sizeof addr - 1);
    memcpy(addr, "shm:forged", 10);
    addr[sizeof addr - 1] = 0;
    cr_assert(find_row(out, 424242, addr, &r), "%s", out);
    cr_expect_eq(num(&r, "TX-FRAMES"), 7);
    cr_expect_eq(strlen(cell(&r, "LAST-DISCONNECT")), IDC_STATS_REASON_LEN - 1);
    close(good);
    close(small);
    close(magic);
}

RTT_TEST(stats, an_unusable_stats_dir_is_a_warning_not_a_failure, 30)
{
    struct rtt_log log = { 0 };
    char file[300];
    snprintf(file, sizeof file, "%s/not-a-dir", rtt_dir); /* a file where the directory goes */
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fclose(f);
    struct idc_context_options o = {
        .shm_dir = rtt_dir, .log = rtt_log_cb, .log_arg = &log, .stats_dir = file
    };
    struct idc_context *ctx = NULL;
    cr_assert_eq(idc_context_create(&ctx, &o), 0);
    static struct rtt_ep be, fe;
    rtt_ep_create(&be, ctx, IDC_ROLE_BACKEND, "nodir", NULL);
    rtt_ep_create(&fe, ctx, IDC_ROLE_FRONTEND, "nodir", NULL);
    cr_assert(rtt_wait_connect(&fe, 1, WAIT), "no connect; log:\n%s", log.buf);
    cr_expect_eq(rtt_log_count(&log, IDC_LOG_WARN, "stats not exported"), 1, "%s", log.buf);
    struct idc_endpoint_stats st;
    cr_assert_eq(idc_endpoint_stats(&fe.ep, &st), 0);
    cr_expect_eq(st.connects, 1);
    cr_assert(rtt_ep_destroy(&fe, WAIT));
    cr_assert(rtt_ep_destroy(&be, WAIT));
    idc_context_destroy(ctx);
}
