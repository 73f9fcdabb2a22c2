/*
 * output.c - output files and temporary files.
 *
 * An output path that is a regular file, or does not exist yet, is replaced atomically: the
 * data goes to a temporary file next to the final file and is renamed over it once complete,
 * so a reader (or make) never sees a partial file. A symlink is followed: its final target is
 * replaced, the link stays. Any other kind of file (a character device such as /dev/null, a
 * FIFO) is written in place, because renaming over it would replace the device or the FIFO
 * itself with a regular file; that data is held in memory until published, so a failed run
 * writes nothing there either.
 *
 * Every temporary file is listed in a fixed table. After idlc_cleanup_on_signals(), SIGINT,
 * SIGTERM and SIGHUP remove the listed files, then end the process by the same signal. The
 * handler only reads the table and calls unlink(), sigaction() and raise(), all
 * async-signal-safe; slots change state with lock-free atomics, and a file is created and
 * listed (or renamed and unlisted) with those signals blocked, so no window leaves one behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "idlc.h"

/* ------------------------------------------------------------------ the temporary file table */

/* gen.c holds the model and up to 16 outputs at once, the driver the dependency file */
#define MAX_TEMPS 32

enum { SLOT_FREE, SLOT_CLAIMED, SLOT_LIVE };

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the signal handler needs lock-free atomics");

static atomic_int temp_state[MAX_TEMPS];
static char temp_name[MAX_TEMPS][PATH_MAX];

static void block_signals(sigset_t *old)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGINT);
    sigaddset(&s, SIGTERM);
    sigaddset(&s, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &s, old);
}

static void restore_signals(const sigset_t *old)
{
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* Drops path from the table (the caller has signals blocked). */
static void unlist(const char *path)
{
    for (int i = 0; i < MAX_TEMPS; i++) {
        if (atomic_load(&temp_state[i]) == SLOT_LIVE && !strcmp(temp_name[i], path)) {
            atomic_store(&temp_state[i], SLOT_FREE);
            return;
        }
    }
}

int idlc_temp_create(char *tmpl)
{
    if (strlen(tmpl) >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int slot = -1;
    for (int i = 0; i < MAX_TEMPS && slot < 0; i++) {
        int expect = SLOT_FREE;
        if (atomic_compare_exchange_strong(&temp_state[i], &expect, SLOT_CLAIMED))
            slot = i;
    }
    if (slot < 0) {
        errno = EMFILE;
        return -1;
    }
    sigset_t old;
    block_signals(&old);
    int fd = mkostemp(tmpl, O_CLOEXEC);
    if (fd >= 0) {
        memcpy(temp_name[slot], tmpl, strlen(tmpl) + 1);
        atomic_store(&temp_state[slot], SLOT_LIVE);
    } else {
        atomic_store(&temp_state[slot], SLOT_FREE);
    }
    int e = errno;
    restore_signals(&old);
    errno = e;
    return fd;
}

void idlc_temp_remove(const char *path)
{
    sigset_t old;
    block_signals(&old);
    unlink(path);
    unlist(path);
    restore_signals(&old);
}

void idlc_temp_keep(const char *path)
{
    sigset_t old;
    block_signals(&old);
    unlist(path);
    restore_signals(&old);
}

int idlc_temp_rename(const char *tmp, const char *final)
{
    sigset_t old;
    block_signals(&old);
    int rc = rename(tmp, final);
    int e = errno;
    if (rc == 0)
        unlist(tmp);
    restore_signals(&old);
    errno = e;
    return rc;
}

static void on_fatal_signal(int sig)
{
    for (int i = 0; i < MAX_TEMPS; i++)
        if (atomic_load(&temp_state[i]) == SLOT_LIVE)
            unlink(temp_name[i]);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
    /* pending until the handler returns and unblocks it; then the default action ends us */
    raise(sig);
}

void idlc_cleanup_on_signals(void)
{
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(&sa.sa_mask, sigs[i]);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old;
        /* a signal ignored by whoever started us (nohup, a background job) stays ignored */
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
            continue;
        sigaction(sigs[i], &sa, NULL);
    }
}

/* ------------------------------------------------------------------ output files */

static const struct idlc_loc noloc;

/* path with every symlink along the last component followed, or NULL (errno) */
static char *resolve_links(const char *path)
{
    char *p = strdup(path);
    for (int hops = 0; p; hops++) {
        struct stat st;
        if (lstat(p, &st) != 0 || !S_ISLNK(st.st_mode))
            return p; /* absent or not a link: the file to replace */
        char target[PATH_MAX];
        ssize_t n = hops < 40 ? readlink(p, target, sizeof target - 1) : -1;
        if (n < 0) {
            if (hops >= 40)
                errno = ELOOP;
            free(p);
            return NULL;
        }
        target[n] = 0;
        const char *slash = strrchr(p, '/');
        char *next;
        if (target[0] == '/' || !slash) {
            next = strdup(target);
        } else {
            /* a relative target is relative to the link's directory */
            size_t dl = (size_t)(slash - p) + 1, tl = (size_t)n;
            next = malloc(dl + tl + 1);
            if (next) {
                memcpy(next, p, dl);
                memcpy(next + dl, target, tl + 1);
            }
        }
        free(p);
        p = next;
    }
    return NULL;
}

int idlc_out_open(struct idlc_ctx *ctx, struct idlc_out *o, const char *path)
{
    memset(o, 0, sizeof *o);
    o->path = path;
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        if (S_ISDIR(st.st_mode)) {
            idlc_error(ctx, noloc, "cannot write '%s': %s", path, strerror(EISDIR));
            return -1;
        }
        o->f = open_memstream(&o->buf, &o->len);
        if (!o->f) {
            idlc_error(ctx, noloc, "out of memory");
            return -1;
        }
        return 0;
    }
    o->final = resolve_links(path);
    if (!o->final) {
        idlc_error(ctx, noloc, "cannot write '%s': %s", path, strerror(errno));
        return -1;
    }
    const char *slash = strrchr(o->final, '/');
    size_t dl = slash ? (size_t)(slash - o->final) + 1 : 0;
    size_t n = strlen(o->final) + 16;
    o->tmp = malloc(n);
    if (!o->tmp) {
        idlc_error(ctx, noloc, "out of memory");
        idlc_out_discard(o);
        return -1;
    }
    /* DIR/.NAME.XXXXXX: same file system as the final file, hidden from globs */
    snprintf(o->tmp, n, "%.*s.%s.XXXXXX", (int)dl, o->final, o->final + dl);
    int fd = idlc_temp_create(o->tmp);
    if (fd < 0) {
        idlc_error(ctx, noloc, "cannot create a temporary file for '%s': %s", path,
                   strerror(errno));
        free(o->tmp);
        o->tmp = NULL;
        idlc_out_discard(o);
        return -1;
    }
    /* mkstemp creates 0600; outputs get the usual mode */
    mode_t um = umask(0);
    umask(um);
    fchmod(fd, 0666 & ~um);
    o->f = fdopen(fd, "w");
    if (!o->f) {
        idlc_error(ctx, noloc, "cannot write '%s': %s", o->tmp, strerror(errno));
        close(fd);
        idlc_out_discard(o);
        return -1;
    }
    return 0;
}

int idlc_out_close(struct idlc_ctx *ctx, struct idlc_out *o)
{
    if (!o->f)
        return 0;
    int err = ferror(o->f) ? (errno ? errno : EIO) : 0;
    if (fclose(o->f) != 0 && !err)
        err = errno ? errno : EIO;
    o->f = NULL;
    if (err) {
        idlc_error(ctx, noloc, "cannot write '%s': %s", o->tmp ? o->tmp : o->path, strerror(err));
        return -1;
    }
    return 0;
}

/* writes the held data into the existing non-regular file */
static int write_in_place(struct idlc_out *o)
{
    int fd = open(o->path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -1;
    for (size_t off = 0; off < o->len;) {
        ssize_t w = write(fd, o->buf + off, o->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            close(fd);
            errno = e;
            return -1;
        }
        off += (size_t)w;
    }
    return close(fd);
}

int idlc_out_publish(struct idlc_ctx *ctx, struct idlc_out *o)
{
    int rc = idlc_out_close(ctx, o);
    if (rc == 0 && o->tmp) {
        if (idlc_temp_rename(o->tmp, o->final) != 0) {
            idlc_error(ctx, noloc, "cannot rename '%s' to '%s': %s", o->tmp, o->final,
                       strerror(errno));
            rc = -1;
        } else {
            free(o->tmp);
            o->tmp = NULL;
        }
    } else if (rc == 0 && write_in_place(o) != 0) {
        idlc_error(ctx, noloc, "cannot write '%s': %s", o->path, strerror(errno));
        rc = -1;
    }
    idlc_out_discard(o);
    return rc;
}

void idlc_out_discard(struct idlc_out *o)
{
    if (o->f)
        fclose(o->f);
    if (o->tmp)
        idlc_temp_remove(o->tmp);
    free(o->tmp);
    free(o->final);
    free(o->buf);
    memset(o, 0, sizeof *o);
}
