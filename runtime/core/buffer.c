/* buffer.c - shareable allocations, registrations (remote buffer capabilities), transfers.
 *
 * A registration slot's generation is odd while registered and even otherwise: register and
 * unregister each bump it, so an unregistered reference can never match again, and the shared
 * generation table tells holders about revocation without a round trip.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* Memory comes from the transport the built-in list names as the provider; registrations are
 * published through every transport that has a buffer service, and a transfer goes through the
 * first transport that reaches the owner. */
static const struct idc_transport *mem_tp(void)
{
    return idc__buffer_memory;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}
static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void idc_rbuf_encode(const struct idc_rbuf *rb, uint8_t out[IDC_RBUF_WIRE_SIZE])
{
    put64(out, rb->owner);
    put32(out + 8, rb->id);
    put32(out + 12, rb->generation);
    put64(out + 16, rb->length);
    put32(out + 24, rb->rights);
    put32(out + 28, 0);
    memcpy(out + 32, rb->key, 16);
}

int idc_rbuf_decode(struct idc_rbuf *rb, const uint8_t in[IDC_RBUF_WIRE_SIZE])
{
    uint8_t copy[IDC_RBUF_WIRE_SIZE];
    memcpy(copy, in, sizeof(copy)); /* one read of the (possibly shared) input */
    uint32_t rights = get32(copy + 24);
    if ((rights & ~(IDC_RBUF_READ | IDC_RBUF_WRITE)) || get32(copy + 28) != 0)
        return IDC_ERR_PROTO;
    rb->owner = get64(copy);
    rb->id = get32(copy + 8);
    rb->generation = get32(copy + 12);
    rb->length = get64(copy + 16);
    rb->rights = rights;
    memcpy(rb->key, copy + 32, 16);
    return 0;
}

/* ------------------------------------------------------------------------------ allocation */

int idc_buffer_alloc(struct idc_context *ctx, size_t len, void **mem)
{
    if (!ctx || !mem || len == 0 || len > ((size_t)1 << 40))
        return IDC_ERR_INVAL;
    *mem = NULL;
    long pg = sysconf(_SC_PAGESIZE);
    struct idc_alloc *a = calloc(1, sizeof(*a));
    if (!a)
        return IDC_ERR_NOMEM;
    a->fd = -1;
    a->len = (len + (size_t)pg - 1) & ~((size_t)pg - 1);
    int r = mem_tp()->buf_alloc(ctx, a);
    if (r < 0) {
        idc__log(ctx, IDC_LOG_ERROR, "idc_buffer_alloc(%zu): %s", len, idc_strerror(r));
        free(a);
        return r;
    }
    a->next = ctx->allocs;
    ctx->allocs = a;
    *mem = a->mem;
    return 0;
}

/* Tells every buffer service that slot id has a new generation (holders caching a mapping
   learn of revocation from it). */
static void reg_announce(struct idc_context *ctx, uint32_t id)
{
    for (const struct idc_transport *const *tp = idc__builtin_transports; *tp; tp++)
        if ((*tp)->rbuf_revoke)
            (*tp)->rbuf_revoke(ctx, id, ctx->regs[id].generation);
}

static void reg_revoke(struct idc_context *ctx, uint32_t id)
{
    struct idc_reg *r = &ctx->regs[id];
    r->alloc = NULL;
    r->generation++; /* even: not registered */
    memset(r->key, 0, sizeof(r->key));
    reg_announce(ctx, id);
}

uint32_t idc__reg_generation(struct idc_context *ctx, uint32_t id)
{
    return ctx->regs && id < IDC_MAX_REGS ? ctx->regs[id].generation : 0;
}

/* Makes this context's registrations reachable through every transport with a buffer service.
   The memory provider's service is required; others may be absent here (IDC_ERR_NOTSUP). */
static int publish(struct idc_context *ctx)
{
    for (const struct idc_transport *const *tp = idc__builtin_transports; *tp; tp++) {
        if (!(*tp)->rbuf_publish)
            continue;
        int r = (*tp)->rbuf_publish(ctx);
        if (r < 0 && *tp == mem_tp()) {
            idc__log(ctx, IDC_LOG_ERROR, "cannot publish the buffer service on %s: %s", (*tp)->name,
                     idc_strerror(r));
            return r;
        }
        if (r < 0 && r != IDC_ERR_NOTSUP)
            idc__log(ctx, IDC_LOG_WARN,
                     "buffers of this context are not reachable through "
                     "%s: %s",
                     (*tp)->name, idc_strerror(r));
    }
    return 0;
}

int idc_buffer_free(struct idc_context *ctx, void *mem)
{
    if (!ctx || !mem)
        return IDC_ERR_INVAL;
    for (struct idc_alloc **pp = &ctx->allocs; *pp; pp = &(*pp)->next) {
        struct idc_alloc *a = *pp;
        if (a->mem != mem)
            continue;
        if (ctx->regs)
            for (uint32_t i = 0; i < IDC_MAX_REGS; i++)
                if (ctx->regs[i].alloc == a)
                    reg_revoke(ctx, i);
        *pp = a->next;
        mem_tp()->buf_free(ctx, a);
        free(a);
        return 0;
    }
    return IDC_ERR_INVAL;
}

/* ---------------------------------------------------------------------------- registration */

int idc_buffer_register(struct idc_context *ctx, void *mem, size_t len, uint32_t rights,
                        struct idc_rbuf *rbuf)
{
    if (!ctx || !mem || !rbuf || len == 0 || !rights ||
        (rights & ~(IDC_RBUF_READ | IDC_RBUF_WRITE)))
        return IDC_ERR_INVAL;
    struct idc_alloc *a = ctx->allocs;
    uintptr_t p = (uintptr_t)mem;
    for (; a; a = a->next) {
        uintptr_t b = (uintptr_t)a->mem;
        if (p >= b && p - b < a->len && len <= a->len - (p - b))
            break;
    }
    if (!a)
        return IDC_ERR_INVAL;
    /* An allocation is shared either writable or read-only, fixed by its first registration:
       read-only must hold against a holder re-opening the descriptor, which needs a seal on
       the whole allocation (see docs/runtime.md). */
    uint32_t mode = rights & IDC_RBUF_WRITE ? IDC_RBUF_WRITE : IDC_RBUF_READ;
    if (a->mode && a->mode != mode) {
        idc__log(ctx, IDC_LOG_ERROR,
                 "idc_buffer_register: this allocation is already shared %s; "
                 "use a separate idc_buffer_alloc for %s buffers",
                 a->mode == IDC_RBUF_WRITE ? "writable" : "read-only",
                 mode == IDC_RBUF_WRITE ? "writable" : "read-only");
        return IDC_ERR_INVAL;
    }
    if (!ctx->regs) {
        ctx->regs = calloc(IDC_MAX_REGS, sizeof(*ctx->regs));
        if (!ctx->regs)
            return IDC_ERR_NOMEM;
    }
    int r = publish(ctx);
    if (r < 0)
        return r;
    uint32_t id = 0;
    while (id < IDC_MAX_REGS && ctx->regs[id].alloc)
        id++;
    if (id == IDC_MAX_REGS)
        return IDC_ERR_NOMEM;
    if (!a->mode && mode == IDC_RBUF_READ) {
        if (!mem_tp()->buf_seal_ro)
            return IDC_ERR_NOTSUP;
        r = mem_tp()->buf_seal_ro(ctx, a);
        if (r < 0)
            return r;
    }
    a->mode = mode;
    struct idc_reg *reg = &ctx->regs[id];
    if (idc__random(reg->key, sizeof(reg->key)) < 0)
        return IDC_ERR_IO;
    reg->alloc = a;
    reg->offset = p - (uintptr_t)a->mem;
    reg->length = len;
    reg->rights = rights;
    reg->generation++; /* odd: registered */
    reg_announce(ctx, id);
    memset(rbuf, 0, sizeof(*rbuf));
    rbuf->owner = ctx->id;
    rbuf->id = id;
    rbuf->generation = reg->generation;
    rbuf->length = len;
    rbuf->rights = rights;
    memcpy(rbuf->key, reg->key, sizeof(rbuf->key));
    return 0;
}

/* Constant-time key comparison (the key is the capability's secret). */
static bool key_eq(const uint8_t *a, const uint8_t *b)
{
    uint8_t d = 0;
    for (int i = 0; i < 16; i++)
        d |= a[i] ^ b[i];
    return d == 0;
}

int idc__reg_find(struct idc_context *ctx, const struct idc_rbuf *rb, uint32_t need,
                  struct idc_reg_view *out)
{
    if (rb->owner != ctx->id || !ctx->regs || rb->id >= IDC_MAX_REGS)
        return IDC_ERR_BADREF;
    struct idc_reg *reg = &ctx->regs[rb->id];
    if (rb->generation != reg->generation || !reg->alloc)
        return rb->generation < reg->generation && (rb->generation & 1) ? IDC_ERR_REVOKED
                                                                        : IDC_ERR_BADREF;
    if (!key_eq(rb->key, reg->key) || rb->length != reg->length)
        return IDC_ERR_BADREF;
    if ((need & ~reg->rights) || (rb->rights & ~reg->rights))
        return IDC_ERR_RIGHTS;
    *out = (struct idc_reg_view){ .alloc = reg->alloc,
                                  .offset = reg->offset,
                                  .length = reg->length };
    return 0;
}

int idc__reg_check(struct idc_context *ctx, const struct idc_rbuf *rb, uint32_t need,
                   uint64_t offset, size_t len, unsigned char **addr)
{
    struct idc_reg_view v;
    int r = idc__reg_find(ctx, rb, need, &v);
    if (r < 0)
        return r;
    if (offset > v.length || len > v.length - offset)
        return IDC_ERR_BADREF;
    *addr = (unsigned char *)v.alloc->mem + v.offset + offset;
    return 0;
}

int idc_buffer_unregister(struct idc_context *ctx, const struct idc_rbuf *rb)
{
    if (!ctx || !rb)
        return IDC_ERR_INVAL;
    unsigned char *addr;
    int r = idc__reg_check(ctx, rb, 0, 0, 0, &addr);
    if (r == IDC_ERR_RIGHTS)
        r = 0; /* the owner may revoke whatever rights the reference claims */
    if (r < 0)
        return r;
    reg_revoke(ctx, rb->id);
    return 0;
}

void idc__buffers_fini(struct idc_context *ctx)
{
    /* Stop serving first: no transfer touches what is freed below. */
    for (const struct idc_transport *const *tp = idc__builtin_transports; *tp; tp++)
        if ((*tp)->rbuf_withdraw)
            (*tp)->rbuf_withdraw(ctx);
    /* Revoke everything first: holders with cached mappings see it in the generation table. */
    if (ctx->regs)
        for (uint32_t i = 0; i < IDC_MAX_REGS; i++)
            if (ctx->regs[i].alloc)
                reg_revoke(ctx, i);
    while (ctx->allocs) {
        struct idc_alloc *a = ctx->allocs;
        ctx->allocs = a->next;
        mem_tp()->buf_free(ctx, a);
        free(a);
    }
    free(ctx->regs);
    ctx->regs = NULL;
}

/* ------------------------------------------------------------------------------- transfers */

static int transfer(struct idc_context *ctx, const struct idc_rbuf *rb, uint64_t offset,
                    void *local, size_t len, bool write, idc_transfer_done_fn done, void *arg)
{
    if (!ctx || !rb || !done || (!local && len))
        return IDC_ERR_INVAL;
    uint32_t need = write ? IDC_RBUF_WRITE : IDC_RBUF_READ;
    if (!(rb->rights & need))
        return IDC_ERR_RIGHTS;
    if (offset > rb->length || len > rb->length - offset)
        return IDC_ERR_BADREF;
    struct idc_xfer *x = calloc(1, sizeof(*x));
    if (!x)
        return IDC_ERR_NOMEM;
    x->rb = *rb;
    x->offset = offset;
    x->local = local;
    x->len = len;
    x->write = write;
    x->done = done;
    x->arg = arg;
    if (rb->owner == ctx->id) {
        /* Our own registration: check it here, one memcpy. */
        unsigned char *addr;
        int st = idc__reg_check(ctx, rb, need, offset, len, &addr);
        if (st == 0 && len) {
            if (write)
                memmove(addr, local, len);
            else
                memmove(local, addr, len);
        }
        idc__xfer_complete(ctx, x, st);
        return 0;
    }
    int r = IDC_ERR_NOTSUP;
    for (const struct idc_transport *const *tp = idc__builtin_transports; *tp; tp++)
        if ((*tp)->rbuf_transfer && (*tp)->rbuf_reaches && (*tp)->rbuf_reaches(ctx, rb->owner)) {
            r = (*tp)->rbuf_transfer(ctx, x);
            break;
        }
    if (r == IDC_ERR_NOTSUP)
        idc__log(ctx, IDC_LOG_ERROR, "no transport reaches the owner %016llx of a remote buffer",
                 (unsigned long long)rb->owner);
    if (r < 0)
        free(x);
    return r;
}

int idc_send_to_remote_buffer(struct idc_context *ctx, const struct idc_rbuf *rbuf, uint64_t offset,
                              const void *local, size_t len, idc_transfer_done_fn done, void *arg)
{
    return transfer(ctx, rbuf, offset, (void *)local, len, true, done, arg);
}

int idc_receive_from_remote_buffer(struct idc_context *ctx, const struct idc_rbuf *rbuf,
                                   uint64_t offset, void *local, size_t len,
                                   idc_transfer_done_fn done, void *arg)
{
    return transfer(ctx, rbuf, offset, local, len, false, done, arg);
}
