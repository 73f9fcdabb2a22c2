/* idcctl - lists the idc endpoints of this host's processes with their counters.
 *
 *   idcctl [-d DIR] ls [PREFIX]
 *   idcctl [-d DIR] watch [-n COUNT] [PREFIX]
 *
 * Every libidc context exports its endpoints in a stats file (runtime/core/statsfile.h, written
 * by runtime/core/stats.c); this program reads those files. They are written by other processes,
 * so everything in them is untrusted: the file must have the exact size and format, every string
 * is bounded and made printable, every enum is checked, and a file truncated under us (SIGBUS)
 * is skipped. The file of a dead process (nobody holds its lock) is removed. docs/man/man1/idcctl.1
 * is the manual.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "idc.h"
#include "statsfile.h"

#ifndef IDC_VERSION
#define IDC_VERSION "unknown"
#endif

#define MAX_ROWS      4096u /* endpoints listed at most (files x slots is bounded by this) */
#define SEQ_TRIES     1000  /* copies of a slot whose writer keeps changing it */
#define STALE_TMP_SEC 10    /* a dead writer's unrenamed file older than this is removed */

/* One endpoint as printed: copied out of the file, checked, made printable. */
struct row {
    uint64_t ctx_id;
    struct idc_stats_counters ctr;
    int32_t pid;
    uint32_t slot;
    uint32_t state, role, version, tx_limit;
    int32_t last_err;
    char program[32];
    char address[IDC_STATS_ADDRESS_LEN];
    char protocol[IDC_STATS_PROTOCOL_LEN];
    char peer[IDC_STATS_PEER_LEN];
    char reason[IDC_STATS_REASON_LEN];
};

struct scan {
    struct row *rows;
    size_t n;
    unsigned skipped;   /* files not ours or malformed */
    unsigned reclaimed; /* files of dead processes removed */
    bool full;          /* MAX_ROWS reached: more endpoints than listed */
};

static const char *const state_names[] = { "unused",    "dead",          "absent",    "present",
                                           "connected", "disconnecting", "destroying" };
_Static_assert(IDC_EP_DESTROYING == 6, "state_names follows enum idc_endpoint_state");

/* ------------------------------------------------------------------ reading one file */

static sigjmp_buf bus_jmp;
static volatile sig_atomic_t bus_armed;

static void on_bus(int sig)
{
    (void)sig;
    if (bus_armed)
        siglongjmp(bus_jmp, 1);
    _exit(70); /* not inside a copy: a real fault */
}

/* A string written by another process: at most len bytes up to its NUL, every byte outside
   printable ASCII replaced; spaces too when it goes in a column the parser splits on. */
static void clean_copy(char *dst, const char *src, size_t len, bool in_column)
{
    size_t i = 0;
    for (; i + 1 < len && src[i]; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = c < 0x20 || c > 0x7e || (in_column && c == ' ') ? '?' : (char)c;
    }
    dst[i] = 0;
}

/* One slot's description between two equal, even reads of its seq (statsfile.h). */
static bool copy_slot(const struct idc_stats_slot *s, struct idc_stats_slot *out)
{
    for (int t = 0; t < SEQ_TRIES; t++) {
        uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
        if (seq & 1) {
            sched_yield();
            continue;
        }
        memcpy(out, s, offsetof(struct idc_stats_slot, ctr));
        /* Acquire fence: the copy is complete before seq is read again (pairs with the
           writer's release fence after it made seq odd). */
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) == seq)
            return true;
    }
    return false;
}

/* Each counter is one word written whole by its single writer (statsfile.h). */
static void copy_counters(const struct idc_stats_counters *c, struct idc_stats_counters *o)
{
    o->tx_frames = __atomic_load_n(&c->tx_frames, __ATOMIC_RELAXED);
    o->tx_bytes = __atomic_load_n(&c->tx_bytes, __ATOMIC_RELAXED);
    o->rx_frames = __atomic_load_n(&c->rx_frames, __ATOMIC_RELAXED);
    o->rx_bytes = __atomic_load_n(&c->rx_bytes, __ATOMIC_RELAXED);
    o->txn_sent = __atomic_load_n(&c->txn_sent, __ATOMIC_RELAXED);
    o->txn_done = __atomic_load_n(&c->txn_done, __ATOMIC_RELAXED);
    o->req_rx = __atomic_load_n(&c->req_rx, __ATOMIC_RELAXED);
    o->req_done = __atomic_load_n(&c->req_done, __ATOMIC_RELAXED);
    o->connects = __atomic_load_n(&c->connects, __ATOMIC_RELAXED);
    o->disconnects = __atomic_load_n(&c->disconnects, __ATOMIC_RELAXED);
    o->errors = __atomic_load_n(&c->errors, __ATOMIC_RELAXED);
}

static bool header_ok(const struct idc_stats_hdr *h)
{
    return h->magic == IDC_STATS_MAGIC && h->format == IDC_STATS_FORMAT &&
           h->hdr_size == IDC_STATS_HDR_SIZE && h->slot_size == IDC_STATS_SLOT_SIZE &&
           h->nslots == IDC_STATS_SLOTS && h->pid > 0;
}

/* The endpoints of one mapped file matching prefix, appended to sc (at most MAX_ROWS). */
static void read_slots(const unsigned char *map, const char *prefix, struct scan *sc)
{
    struct idc_stats_hdr h;
    memcpy(&h, map, sizeof(h));
    if (!header_ok(&h)) {
        sc->skipped++;
        return;
    }
    const struct idc_stats_slot *slots =
        (const struct idc_stats_slot *)(const void *)(map + IDC_STATS_HDR_SIZE);
    for (uint32_t i = 0; i < IDC_STATS_SLOTS && sc->n < MAX_ROWS; i++) {
        if (__atomic_load_n(&slots[i].state, __ATOMIC_RELAXED) == IDC_EP_UNUSED)
            continue; /* most slots: skip them without the copy */
        struct idc_stats_slot d;
        if (!copy_slot(&slots[i], &d) || d.state == IDC_EP_UNUSED ||
            d.state >= sizeof(state_names) / sizeof(state_names[0]) || d.role > IDC_ROLE_BACKEND)
            continue;
        struct row *r = &sc->rows[sc->n];
        clean_copy(r->address, d.address, sizeof(r->address), true);
        if (prefix && strncmp(r->address, prefix, strlen(prefix)) != 0)
            continue;
        r->ctx_id = h.ctx_id;
        r->pid = h.pid;
        r->slot = i;
        r->state = d.state;
        r->role = d.role;
        r->version = d.version;
        r->tx_limit = d.tx_limit;
        r->last_err = d.last_err;
        clean_copy(r->program, h.program, sizeof(r->program), true);
        clean_copy(r->protocol, d.protocol, sizeof(r->protocol), true);
        clean_copy(r->peer, d.peer, sizeof(r->peer), true);
        clean_copy(r->reason, d.reason, sizeof(r->reason), false);
        copy_counters(&slots[i].ctr, &r->ctr);
        sc->n++;
    }
}

/* Nobody holds the lock of a file in place: its process died. Removed (it is ours). */
static bool stale(int fd)
{
    if (flock(fd, LOCK_SH | LOCK_NB) == 0)
        return true;
    return false;
}

/* Opens a regular file of the directory for reading (never a device, a FIFO or a link: opening
   those could block or have effects); -1 otherwise. */
static int open_regular(int dfd, const char *name)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
        return -1;
    return openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
}

static void read_file(int dfd, const char *name, const char *prefix, struct scan *sc)
{
    int fd = open_regular(dfd, name);
    if (fd < 0)
        return; /* gone meanwhile, or not a file */
    struct stat st;
    /* Only our own files (root: everyone's): another user's would be theirs to forge. */
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_uid != geteuid() && geteuid() != 0) ||
        st.st_size != IDC_STATS_FILE_SIZE) {
        sc->skipped++;
        close(fd);
        return;
    }
    if (stale(fd)) {
        if (unlinkat(dfd, name, 0) == 0)
            sc->reclaimed++;
        close(fd);
        return;
    }
    void *map = mmap(NULL, IDC_STATS_FILE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        sc->skipped++;
        return;
    }
    size_t before = sc->n;
    /* The writer could truncate the file under us: a fault while copying drops this file. */
    if (sigsetjmp(bus_jmp, 1) == 0) {
        bus_armed = 1;
        read_slots(map, prefix, sc);
    } else {
        sc->n = before;
        sc->skipped++;
    }
    bus_armed = 0;
    munmap(map, IDC_STATS_FILE_SIZE);
}

/* A dead writer's file that never got its name (it died between create and rename). */
static void reclaim_tmp(int dfd, const char *name, struct scan *sc)
{
    int fd = open_regular(dfd, name);
    struct stat st;
    if (fd < 0)
        return;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
        time(NULL) - st.st_mtime > STALE_TMP_SEC && stale(fd) && unlinkat(dfd, name, 0) == 0)
        sc->reclaimed++;
    close(fd);
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n > m && strcmp(s + n - m, suf) == 0;
}

static int row_cmp(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    int c = strcmp(x->address, y->address);
    if (c)
        return c;
    if (x->role != y->role)
        return x->role < y->role ? 1 : -1; /* the backend first */
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return x->slot < y->slot ? -1 : x->slot > y->slot;
}

/* Every endpoint under dir whose address starts with prefix (NULL: all), sorted. 0, or -1 with
   a message when the directory cannot be read (absent: nothing to list, 0). */
static int scan_dir(const char *dir, const char *prefix, struct scan *sc)
{
    sc->n = 0;
    sc->skipped = sc->reclaimed = 0;
    sc->full = false;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        if (errno == ENOENT)
            return 0;
        fprintf(stderr, "idcctl: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        fprintf(stderr, "idcctl: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    const struct dirent *e;
    while ((e = readdir(d)) && sc->n < MAX_ROWS) {
        if (e->d_name[0] == '.' && has_suffix(e->d_name, ".tmp"))
            reclaim_tmp(dfd, e->d_name, sc);
        else if (e->d_name[0] != '.' && has_suffix(e->d_name, IDC_STATS_SUFFIX))
            read_file(dfd, e->d_name, prefix, sc);
    }
    closedir(d);
    sc->full = sc->n == MAX_ROWS;
    qsort(sc->rows, sc->n, sizeof(sc->rows[0]), row_cmp);
    return 0;
}

/* ------------------------------------------------------------------ printing */

enum {
    COL_PID,
    COL_PROGRAM,
    COL_ADDRESS,
    COL_ROLE,
    COL_STATE,
    COL_PROTOCOL,
    COL_PEER,
    COL_CREDITS,
    COL_TXF,
    COL_TXB,
    COL_RXF,
    COL_RXB,
    COL_TXRATE,
    COL_RXRATE,
    COL_TXNS,
    COL_REQS,
    COL_ERRORS,
    COL_REASON,
    NCOLS
};
static const char *const col_names[NCOLS] = {
    "PID",  "PROGRAM", "ADDRESS",   "ROLE",     "STATE",     "PROTOCOL",
    "PEER", "CREDITS", "TX-FRAMES", "TX-BYTES", "RX-FRAMES", "RX-BYTES",
    "TX/S", "RX/S",    "TXNS",      "REQS",     "ERRORS",    "LAST-DISCONNECT",
};

#define CELL IDC_STATS_REASON_LEN

/* watch: the previous refresh, for the frames per second of each endpoint. */
struct rates {
    const struct scan *prev;
    double secs; /* since it */
};

static const struct row *previous(const struct rates *rt, const struct row *r)
{
    for (size_t i = 0; rt && rt->prev && i < rt->prev->n; i++) {
        const struct row *p = &rt->prev->rows[i];
        if (p->pid == r->pid && p->ctx_id == r->ctx_id && p->slot == r->slot &&
            !strcmp(p->address, r->address))
            return p;
    }
    return NULL;
}

static void rate_cell(char *c, uint64_t now, uint64_t before, double secs)
{
    if (now < before || secs <= 0)
        snprintf(c, CELL, "-");
    else
        snprintf(c, CELL, "%.0f", (double)(now - before) / secs);
}

/* The cells of one row. CREDITS: our transactions in flight / the negotiated credit. */
static void cells(const struct row *r, const struct rates *rt, char c[NCOLS][CELL])
{
    const struct idc_stats_counters *k = &r->ctr;
    snprintf(c[COL_PID], CELL, "%d", (int)r->pid);
    snprintf(c[COL_PROGRAM], CELL, "%s", r->program[0] ? r->program : "-");
    snprintf(c[COL_ADDRESS], CELL, "%s", r->address);
    snprintf(c[COL_ROLE], CELL, "%s", r->role == IDC_ROLE_BACKEND ? "backend" : "frontend");
    snprintf(c[COL_STATE], CELL, "%s", state_names[r->state]);
    if (r->version)
        snprintf(c[COL_PROTOCOL], CELL, "%s/v%u", r->protocol, r->version);
    else
        snprintf(c[COL_PROTOCOL], CELL, "%s", r->protocol[0] ? r->protocol : "-");
    snprintf(c[COL_PEER], CELL, "%s", r->peer[0] ? r->peer : "-");
    if (k->txn_done > k->txn_sent)
        snprintf(c[COL_CREDITS], CELL, "?");
    else if (r->tx_limit)
        snprintf(c[COL_CREDITS], CELL, "%llu/%u", (unsigned long long)(k->txn_sent - k->txn_done),
                 r->tx_limit);
    else
        snprintf(c[COL_CREDITS], CELL, "-");
    snprintf(c[COL_TXF], CELL, "%llu", (unsigned long long)k->tx_frames);
    snprintf(c[COL_TXB], CELL, "%llu", (unsigned long long)k->tx_bytes);
    snprintf(c[COL_RXF], CELL, "%llu", (unsigned long long)k->rx_frames);
    snprintf(c[COL_RXB], CELL, "%llu", (unsigned long long)k->rx_bytes);
    const struct row *p = previous(rt, r);
    rate_cell(c[COL_TXRATE], k->tx_frames, p ? p->ctr.tx_frames : UINT64_MAX, rt ? rt->secs : 0);
    rate_cell(c[COL_RXRATE], k->rx_frames, p ? p->ctr.rx_frames : UINT64_MAX, rt ? rt->secs : 0);
    snprintf(c[COL_TXNS], CELL, "%llu", (unsigned long long)k->txn_done);
    snprintf(c[COL_REQS], CELL, "%llu", (unsigned long long)k->req_done);
    snprintf(c[COL_ERRORS], CELL, "%u", k->errors);
    snprintf(c[COL_REASON], CELL, "%s", r->reason[0] ? r->reason : "-");
}

/* A table with columns as wide as their widest cell; the last one (free text) unpadded. The
   cells are made twice (widths, then printing) rather than kept for every row. Rates (watch)
   only with rt. */
static void print_table(const struct scan *sc, const struct rates *rt)
{
    char c[NCOLS][CELL];
    size_t w[NCOLS];
    bool show[NCOLS];
    for (int j = 0; j < NCOLS; j++) {
        w[j] = strlen(col_names[j]);
        show[j] = rt || (j != COL_TXRATE && j != COL_RXRATE);
    }
    for (size_t i = 0; i < sc->n; i++) {
        cells(&sc->rows[i], rt, c);
        for (int j = 0; j < NCOLS; j++)
            if (strlen(c[j]) > w[j])
                w[j] = strlen(c[j]);
    }
    for (int j = 0; j + 1 < NCOLS; j++)
        if (show[j])
            printf("%-*s  ", (int)w[j], col_names[j]);
    printf("%s\n", col_names[NCOLS - 1]);
    for (size_t i = 0; i < sc->n; i++) {
        cells(&sc->rows[i], rt, c);
        for (int j = 0; j + 1 < NCOLS; j++)
            if (show[j])
                printf("%-*s  ", (int)w[j], c[j]);
        printf("%s\n", c[NCOLS - 1]);
    }
}

static void print_scan(const struct scan *sc, const struct rates *rt, const char *dir,
                       const char *prefix)
{
    if (sc->n == 0)
        printf("no idc endpoints%s%s (stats directory %s)\n", prefix ? " on " : "",
               prefix ? prefix : "", dir);
    else
        print_table(sc, rt);
    if (sc->reclaimed)
        printf("(removed %u stats file%s of processes that are gone)\n", sc->reclaimed,
               sc->reclaimed == 1 ? "" : "s");
    if (sc->full)
        printf("(only the first %u endpoints are listed)\n", MAX_ROWS);
    if (sc->skipped)
        printf("(skipped %u file%s: another user's, or not a stats file of this version)\n",
               sc->skipped, sc->skipped == 1 ? "" : "s");
    fflush(stdout);
}

/* ------------------------------------------------------------------ commands */

static void usage(FILE *f)
{
    fprintf(f, "usage: idcctl [-d DIR] ls [PREFIX]\n"
               "       idcctl [-d DIR] watch [-n COUNT] [PREFIX]\n"
               "\n"
               "Lists the idc endpoints of this host's processes: state, protocol and version,\n"
               "peer, credits in use, frames and bytes each way, transactions, errors and the\n"
               "last disconnect reason. PREFIX selects addresses (shm:, xen:, shm:blk0).\n"
               "\n"
               "  -d DIR      the stats directory (default: $IDC_STATS_DIR, else\n"
               "              $XDG_RUNTIME_DIR/idc/stats, else /tmp/idc-UID/stats)\n"
               "  -n COUNT    watch: stop after COUNT refreshes (default: until interrupted)\n"
               "  -h, --help  this text\n"
               "  --version   idcctl's version\n");
}

static int cmd_ls(const char *dir, const char *prefix, struct scan *sc)
{
    if (scan_dir(dir, prefix, sc) < 0)
        return 1;
    print_scan(sc, NULL, dir, prefix);
    return 0;
}

static double now_secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Two scans, the current and the previous one (rates), swapped at each refresh. */
static int cmd_watch(const char *dir, const char *prefix, long count, struct scan *sc,
                     struct scan *prev)
{
    bool tty = isatty(STDOUT_FILENO);
    double before = 0;
    for (long i = 0; count < 0 || i < count; i++) {
        if (i)
            sleep(1);
        if (scan_dir(dir, prefix, sc) < 0)
            return 1;
        double t = now_secs();
        struct rates rt = { .prev = i ? prev : NULL, .secs = t - before };
        before = t;
        char when[64];
        time_t now = time(NULL);
        struct tm tm;
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&now, &tm));
        if (tty)
            fputs("\033[H\033[2J", stdout);
        else if (i)
            putchar('\n');
        printf("idcctl watch %s  every 1s  %s\n", prefix ? prefix : "(all)", when);
        print_scan(sc, &rt, dir, prefix);
        struct scan *x = sc;
        sc = prev;
        prev = x;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir_opt = NULL;
    int i = 1;
    if (i < argc && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (i < argc && !strcmp(argv[i], "--version")) {
        printf("idcctl %s\n", IDC_VERSION);
        return 0;
    }
    if (i + 1 < argc && !strcmp(argv[i], "-d")) {
        dir_opt = argv[i + 1];
        i += 2;
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[i++];
    long count = -1;
    if (!strcmp(cmd, "watch") && i + 1 < argc && !strcmp(argv[i], "-n")) {
        char *end;
        count = strtol(argv[i + 1], &end, 10);
        if (*end || count < 1) {
            fprintf(stderr, "idcctl: -n wants a positive count\n");
            return 2;
        }
        i += 2;
    }
    const char *prefix = i < argc ? argv[i++] : NULL;
    if (i < argc || (strcmp(cmd, "ls") && strcmp(cmd, "watch"))) {
        usage(stderr);
        return 2;
    }
    char dir[PATH_MAX];
    int n = idc_stats_dir(dir, sizeof(dir), dir_opt);
    if (n < 0 || (size_t)n >= sizeof(dir) || !dir[0]) {
        fprintf(stderr, "idcctl: %s\n",
                dir[0] ? "stats directory name too long"
                       : "the stats export is off (IDC_STATS_DIR=off)");
        return 1;
    }
    struct sigaction sa = { .sa_handler = on_bus };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
    struct scan sc = { .rows = calloc(MAX_ROWS, sizeof(struct row)) };
    struct scan prev = { .rows = calloc(MAX_ROWS, sizeof(struct row)) };
    int r = 1;
    if (!sc.rows || !prev.rows)
        fprintf(stderr, "idcctl: out of memory\n");
    else if (!strcmp(cmd, "ls"))
        r = cmd_ls(dir, prefix, &sc);
    else
        r = cmd_watch(dir, prefix, count, &sc, &prev);
    free(sc.rows);
    free(prev.rows);
    return r;
}
