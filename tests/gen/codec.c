/*
 * codec.c - round-trip and rejection tests of the generated encoders and decoders.
 *
 * The protocols are the shipped ones (idl/everything.idl uses every construct of the language,
 * idl/blkif.idl has buffers with rights). Values are random but valid (fixed seed, so a failure
 * is reproducible); every frame is then
 *   - decoded back and compared with the value, and re-encoded to the same bytes;
 *   - cut at every length (each cut must be refused),
 *   - corrupted at every byte with every value (each corruption must be refused or decode to a
 *     value that encodes back to exactly the corrupted bytes: the encoding is canonical),
 * always from a heap block of exactly the frame's size, so AddressSanitizer sees any read
 * outside it. Then specific rules are checked one by one with their error reasons.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "blkif.h"
#include "console.h"
#include "everything.h"

/* ------------------------------------------------------------------ random values */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static uint32_t rnd_below(uint32_t n)
{
    return (uint32_t)(rnd() % n);
}

static void rnd_bytes(void *p, size_t n)
{
    uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)rnd();
}

/* a string of exactly len non-NUL bytes (any byte 1..255) */
static void rnd_string(char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        s[i] = (char)(1 + rnd_below(255));
    s[len] = 0;
}

static void rnd_scalars(struct everything_scalars *s)
{
    s->flag = rnd() & 1;
    s->a = (uint8_t)rnd();
    s->b = (uint16_t)rnd();
    s->c = (uint32_t)rnd();
    s->d = rnd();
    s->e = (int8_t)rnd();
    s->f = (int16_t)rnd();
    s->g = (int32_t)rnd();
    s->h = (int64_t)rnd();
}

static void rnd_point(struct everything_types_point *p)
{
    p->x = (int32_t)rnd();
    p->y = (int32_t)rnd();
}

static void rnd_rbuf(struct idc_rbuf *b, uint32_t rights)
{
    b->owner = rnd();
    b->id = (uint32_t)rnd();
    b->generation = (uint32_t)rnd();
    b->length = rnd();
    b->rights = rights;
    rnd_bytes(b->key, sizeof b->key);
}

static void rnd_containers(struct everything_containers *c, bool full)
{
    rnd_bytes(c->fixed_bytes, sizeof c->fixed_bytes);
    c->some_words_count = full ? 4 : rnd_below(5);
    for (uint32_t i = 0; i < c->some_words_count; i++)
        c->some_words[i] = (uint16_t)rnd();
    rnd_string(c->name, full ? 16 : rnd_below(17));
    c->labels_count = full ? 3 : rnd_below(4);
    for (uint32_t i = 0; i < c->labels_count; i++)
        rnd_string(c->labels[i], full ? 8 : rnd_below(9));
    for (int i = 0; i < 4; i++)
        rnd_point(&c->corners[i]);
    c->path_count = full ? 3 : rnd_below(4);
    for (uint32_t i = 0; i < c->path_count; i++)
        rnd_point(&c->path[i]);
    for (int i = 0; i < 3; i++)
        c->channels[i] = (uint8_t)rnd_below(3);
    rnd_rbuf(&c->source, IDC_RBUF_READ | (rnd() & 1 ? IDC_RBUF_WRITE : 0));
    rnd_rbuf(&c->sink, IDC_RBUF_WRITE | (rnd() & 1 ? IDC_RBUF_READ : 0));
    rnd_rbuf(&c->both, IDC_RBUF_READ | IDC_RBUF_WRITE);
    rnd_rbuf(&c->any, rnd_below(4));
    rnd_scalars(&c->s);
}

static const uint32_t kinds[] = {
    EVERYTHING_KIND_NONE, EVERYTHING_KIND_SCALAR, EVERYTHING_KIND_TEXT,
    EVERYTHING_KIND_BLOB, EVERYTHING_KIND_SHAPE,
};

static void rnd_value(struct everything_value *v, bool full)
{
    v->tag = full ? EVERYTHING_KIND_BLOB : kinds[rnd_below(5)];
    switch (v->tag) {
    case EVERYTHING_KIND_SCALAR:
        rnd_scalars(&v->u.scalar);
        break;
    case EVERYTHING_KIND_TEXT:
        rnd_string(v->u.text, rnd_below(33));
        break;
    case EVERYTHING_KIND_BLOB:
    case EVERYTHING_KIND_SHAPE:
        v->u.bytes_count = full ? 64 : rnd_below(65);
        rnd_bytes(v->u.bytes, v->u.bytes_count);
        break;
    default:
        break;
    }
}

static const int16_t temps[] = {
    EVERYTHING_TEMPERATURE_FREEZING, EVERYTHING_TEMPERATURE_COLD,      EVERYTHING_TEMPERATURE_MILD,
    EVERYTHING_TEMPERATURE_HOT,      EVERYTHING_TEMPERATURE_SCORCHING, /* since version 2 */
};

static void rnd_record(struct everything_record *r, uint32_t version, bool full)
{
    r->id = (uint32_t)rnd();
    r->temp = temps[rnd_below(version >= 2 ? 5 : 4)];
    rnd_value(&r->v, full);
    r->history_count = full ? 2 : rnd_below(3);
    for (uint32_t i = 0; i < r->history_count; i++)
        rnd_value(&r->history[i], full);
}

/* ------------------------------------------------------------------ frame checks */

/* A payload type under test: its generated encoder and decoder behind one signature. */
struct codec {
    const char *name;
    size_t size;       /* sizeof the C struct */
    uint64_t max_size; /* NAME_MAX_SIZE */
    int (*encode)(const void *v, uint32_t version, void *buf, size_t cap, size_t *len,
                  const char **field, const char **reason);
    int (*decode)(void *v, uint32_t version, const void *buf, size_t len, const char **field,
                  const char **reason);
};

#define CODEC(proto, T, MAX)                                                                       \
    static int enc_##T(const void *v, uint32_t version, void *buf, size_t cap, size_t *len,        \
                       const char **field, const char **reason)                                    \
    {                                                                                              \
        struct proto##_wire_error err = { NULL, NULL };                                            \
        int rc = T##_encode(v, version, buf, cap, len, &err);                                      \
        *field = err.field;                                                                        \
        *reason = err.reason;                                                                      \
        return rc;                                                                                 \
    }                                                                                              \
    static int dec_##T(void *v, uint32_t version, const void *buf, size_t len, const char **field, \
                       const char **reason)                                                        \
    {                                                                                              \
        struct proto##_wire_error err = { NULL, NULL };                                            \
        int rc = T##_decode(v, version, buf, len, &err);                                           \
        *field = err.field;                                                                        \
        *reason = err.reason;                                                                      \
        return rc;                                                                                 \
    }                                                                                              \
    static const struct codec codec_##T = { #T, sizeof(struct T), MAX, enc_##T, dec_##T }

CODEC(everything, everything_scalars_msg_args, EVERYTHING_SCALARS_MSG_ARGS_MAX_SIZE);
CODEC(everything, everything_put_args, EVERYTHING_PUT_ARGS_MAX_SIZE);
CODEC(everything, everything_get_args, EVERYTHING_GET_ARGS_MAX_SIZE);
CODEC(everything, everything_get_result, EVERYTHING_GET_RESULT_MAX_SIZE);
CODEC(everything, everything_resize_args, EVERYTHING_RESIZE_ARGS_MAX_SIZE);
CODEC(everything, everything_resize_result, EVERYTHING_RESIZE_RESULT_MAX_SIZE);
CODEC(everything, everything_changed_args, EVERYTHING_CHANGED_ARGS_MAX_SIZE);
CODEC(everything, everything_query_args, EVERYTHING_QUERY_ARGS_MAX_SIZE);
CODEC(everything, everything_query_result, EVERYTHING_QUERY_RESULT_MAX_SIZE);
CODEC(blkif, blkif_read_args, BLKIF_READ_ARGS_MAX_SIZE);
CODEC(blkif, blkif_get_info_result, BLKIF_GET_INFO_RESULT_MAX_SIZE);
CODEC(console, console_output_args, CONSOLE_OUTPUT_ARGS_MAX_SIZE);

#define FRAME_MAX 8192

/* decode from a heap block of exactly len bytes, so any read outside it is caught */
static int decode_exact(const struct codec *c, void *v, uint32_t version, const uint8_t *bytes,
                        size_t len, const char **field, const char **reason)
{
    uint8_t *copy = malloc(len ? len : 1);
    cr_assert_not_null(copy);
    memcpy(copy, bytes, len);
    int rc = c->decode(v, version, copy, len, field, reason);
    free(copy);
    return rc;
}

/* encode value; check it decodes back equal and re-encodes identically; returns the length */
static size_t roundtrip(const struct codec *c, const void *value, uint32_t version, uint8_t *frame)
{
    const char *field = NULL, *reason = NULL;
    size_t len = 0, len2 = 0;
    uint8_t again[FRAME_MAX];
    void *out = malloc(c->size);
    cr_assert_not_null(out);

    int rc = c->encode(value, version, frame, FRAME_MAX, &len, &field, &reason);
    cr_assert_eq(rc, 0, "%s v%u: encode failed %d (%s: %s)", c->name, version, rc, field, reason);
    cr_assert_leq(len, c->max_size, "%s: %zu bytes exceed MAX_SIZE %llu", c->name, len,
                  (unsigned long long)c->max_size);
    rc = decode_exact(c, out, version, frame, len, &field, &reason);
    cr_assert_eq(rc, 0, "%s v%u: decode failed %d (%s: %s)", c->name, version, rc, field, reason);
    cr_assert(memcmp(out, value, c->size) == 0, "%s v%u: decoded value differs", c->name, version);
    rc = c->encode(out, version, again, sizeof again, &len2, &field, &reason);
    cr_assert_eq(rc, 0);
    cr_assert(len2 == len && memcmp(again, frame, len) == 0, "%s: re-encoding differs", c->name);
    free(out);
    return len;
}

/* every cut is refused; every single-byte corruption is refused or canonical */
static void hostile(const struct codec *c, const uint8_t *frame, size_t len, uint32_t version)
{
    const char *field, *reason;
    uint8_t bad[FRAME_MAX + 1], again[FRAME_MAX];
    void *out = malloc(c->size);
    cr_assert_not_null(out);

    for (size_t cut = 0; cut < len; cut++) {
        field = reason = NULL;
        int rc = decode_exact(c, out, version, frame, cut, &field, &reason);
        cr_assert_eq(rc, IDC_ERR_PROTO, "%s: frame cut to %zu of %zu bytes accepted", c->name, cut,
                     len);
        cr_assert(field && reason, "%s: refusal without a reason", c->name);
    }
    memcpy(bad, frame, len);
    bad[len] = 0;
    field = reason = NULL;
    cr_assert_eq(decode_exact(c, out, version, bad, len + 1, &field, &reason), IDC_ERR_PROTO);
    cr_assert_str_eq(reason, "trailing bytes after the last field");

    for (size_t i = 0; i < len; i++) {
        memcpy(bad, frame, len);
        for (unsigned b = 0; b < 256; b++) {
            if (b == frame[i])
                continue;
            bad[i] = (uint8_t)b;
            field = reason = NULL;
            int rc = decode_exact(c, out, version, bad, len, &field, &reason);
            if (rc == 0) {
                size_t len2 = 0;
                int erc = c->encode(out, version, again, sizeof again, &len2, &field, &reason);
                cr_assert_eq(erc, 0, "%s: accepted corruption does not re-encode", c->name);
                cr_assert(len2 == len && memcmp(again, bad, len) == 0,
                          "%s: byte %zu = %u accepted but not canonical", c->name, i, b);
            } else {
                cr_assert_eq(rc, IDC_ERR_PROTO);
                cr_assert(field && reason);
            }
        }
    }
    free(out);
}

/* ------------------------------------------------------------------ round trips */

Test(codec, scalars_roundtrip_and_hostile)
{
    uint8_t frame[FRAME_MAX];
    for (int n = 0; n < 50; n++) {
        struct everything_scalars_msg_args a;
        memset(&a, 0, sizeof a);
        struct everything_scalars s;
        rnd_scalars(&s);
        a.flag = s.flag;
        a.a = s.a;
        a.b = s.b;
        a.c = s.c;
        a.d = s.d;
        a.e = s.e;
        a.f = s.f;
        a.g = s.g;
        a.h = s.h;
        size_t len = roundtrip(&codec_everything_scalars_msg_args, &a, 3, frame);
        cr_assert_eq(len, EVERYTHING_SCALARS_MSG_ARGS_MAX_SIZE);
        if (n < 3)
            hostile(&codec_everything_scalars_msg_args, frame, len, 3);
    }
}

Test(codec, put_every_shape_roundtrips)
{
    uint8_t frame[FRAME_MAX];
    for (uint32_t version = 1; version <= 3; version++) {
        for (int n = 0; n < 200; n++) {
            struct everything_put_args a;
            memset(&a, 0, sizeof a);
            rnd_record(&a.r, version, false);
            rnd_containers(&a.c, false);
            roundtrip(&codec_everything_put_args, &a, version, frame);
        }
    }
}

Test(codec, put_hostile_frames, .timeout = 120)
{
    uint8_t frame[FRAME_MAX];
    for (int n = 0; n < 3; n++) {
        struct everything_put_args a;
        memset(&a, 0, sizeof a);
        rnd_record(&a.r, 3, false);
        rnd_containers(&a.c, false);
        size_t len = roundtrip(&codec_everything_put_args, &a, 3, frame);
        hostile(&codec_everything_put_args, frame, len, 3);
    }
}

Test(codec, maximal_values_have_exactly_max_size)
{
    uint8_t frame[FRAME_MAX];
    struct everything_put_args a;
    memset(&a, 0, sizeof a);
    rnd_record(&a.r, 3, true);
    rnd_containers(&a.c, true);
    cr_assert_eq(roundtrip(&codec_everything_put_args, &a, 3, frame), EVERYTHING_PUT_ARGS_MAX_SIZE);

    struct everything_changed_args ch;
    memset(&ch, 0, sizeof ch);
    rnd_string(ch.who, 16);
    ch.where_count = 8;
    for (int i = 0; i < 8; i++)
        rnd_point(&ch.where[i]);
    cr_assert_eq(roundtrip(&codec_everything_changed_args, &ch, 3, frame),
                 EVERYTHING_CHANGED_ARGS_MAX_SIZE);

    struct blkif_read_args r;
    memset(&r, 0, sizeof r);
    r.sector = rnd();
    r.segs_count = BLKIF_MAX_SEGMENTS;
    for (int i = 0; i < BLKIF_MAX_SEGMENTS; i++) {
        rnd_rbuf(&r.segs[i].buf, IDC_RBUF_WRITE);
        r.segs[i].offset = (uint32_t)rnd();
        r.segs[i].sectors = (uint32_t)rnd();
    }
    size_t len = roundtrip(&codec_blkif_read_args, &r, 2, frame);
    cr_assert_eq(len, BLKIF_READ_ARGS_MAX_SIZE);
    hostile(&codec_blkif_read_args, frame, len, 2);

    struct console_output_args o;
    memset(&o, 0, sizeof o);
    o.data_count = CONSOLE_MAX_CHUNK;
    rnd_bytes(o.data, sizeof o.data);
    cr_assert_eq(roundtrip(&codec_console_output_args, &o, 1, frame), CONSOLE_OUTPUT_ARGS_MAX_SIZE);
}

Test(codec, results_and_unions_roundtrip)
{
    uint8_t frame[FRAME_MAX];
    for (int n = 0; n < 200; n++) {
        struct everything_get_result g;
        memset(&g, 0, sizeof g);
        rnd_record(&g.r, 2, false);
        g.found = rnd() & 1;
        roundtrip(&codec_everything_get_result, &g, 2, frame);

        struct everything_query_result q;
        memset(&q, 0, sizeof q);
        rnd_value(&q.v, false);
        size_t len = roundtrip(&codec_everything_query_result, &q, 2, frame);
        if (n < 10)
            hostile(&codec_everything_query_result, frame, len, 2);

        struct blkif_get_info_result info;
        memset(&info, 0, sizeof info);
        info.info.sectors = rnd();
        info.info.physical_sector_size = (uint32_t)rnd();
        info.info.type = (uint8_t)rnd_below(3);
        info.info.read_only = rnd() & 1;
        info.info.has_flush = rnd() & 1;
        info.info.has_discard = rnd() & 1;
        rnd_string(info.info.serial, rnd_below(21));
        len = roundtrip(&codec_blkif_get_info_result, &info, 1, frame);
        if (n < 3)
            hostile(&codec_blkif_get_info_result, frame, len, 1);
    }
}

/* ------------------------------------------------------------------ versions */

Test(codec, since_fields_absent_before_their_version)
{
    uint8_t frame[FRAME_MAX];
    const char *field, *reason;
    struct everything_resize_args a, out;
    memset(&a, 0, sizeof a);
    a.size.x = 3;
    a.size.y = -4;
    a.depth = 77;

    size_t len3 = roundtrip(&codec_everything_resize_args, &a, 3, frame);
    cr_assert_eq(len3, 12);

    /* at version 2 depth is not on the wire and decodes as 0 */
    size_t len2 = 0;
    cr_assert_eq(
        codec_everything_resize_args.encode(&a, 2, frame, sizeof frame, &len2, &field, &reason), 0);
    cr_assert_eq(len2, 8);
    cr_assert_eq(decode_exact(&codec_everything_resize_args, &out, 2, frame, len2, &field, &reason),
                 0);
    cr_assert_eq(out.size.x, 3);
    cr_assert_eq(out.size.y, -4);
    cr_assert_eq(out.depth, 0);

    /* a version-3 frame is too long for a version-2 peer */
    roundtrip(&codec_everything_resize_args, &a, 3, frame);
    cr_assert_eq(decode_exact(&codec_everything_resize_args, &out, 2, frame, len3, &field, &reason),
                 IDC_ERR_PROTO);
    cr_assert_str_eq(reason, "trailing bytes after the last field");
}

Test(codec, enum_value_since_version_two)
{
    uint8_t frame[FRAME_MAX];
    const char *field = NULL, *reason = NULL;
    struct everything_get_result g, out;
    size_t len;
    memset(&g, 0, sizeof g);
    g.r.temp = EVERYTHING_TEMPERATURE_SCORCHING;

    /* the encoder refuses what the peer would not understand... */
    cr_assert_eq(
        codec_everything_get_result.encode(&g, 1, frame, sizeof frame, &len, &field, &reason),
        IDC_ERR_INVAL);
    cr_assert_str_eq(field, "record.temp");
    /* ...and the decoder refuses it at version 1, accepts it at version 2 */
    len = roundtrip(&codec_everything_get_result, &g, 2, frame);
    cr_assert_eq(decode_exact(&codec_everything_get_result, &out, 1, frame, len, &field, &reason),
                 IDC_ERR_PROTO);
    cr_assert_str_eq(field, "record.temp");
    cr_assert_str_eq(reason, "not a value of enum temperature at the negotiated version");
}

/* ------------------------------------------------------------------ specific rejections */

static void expect_reject(const struct codec *c, const uint8_t *frame, size_t len, uint32_t version,
                          const char *want_field, const char *want_reason)
{
    const char *field = NULL, *reason = NULL;
    void *out = malloc(c->size);
    cr_assert_not_null(out);
    int rc = decode_exact(c, out, version, frame, len, &field, &reason);
    free(out);
    cr_assert_eq(rc, IDC_ERR_PROTO, "%s: accepted, expected '%s: %s'", c->name, want_field,
                 want_reason);
    cr_assert_str_eq(field, want_field);
    cr_assert_str_eq(reason, want_reason);
}

Test(codec, bool_must_be_zero_or_one)
{
    uint8_t frame[FRAME_MAX];
    struct everything_scalars_msg_args a;
    memset(&a, 0, sizeof a);
    size_t len = roundtrip(&codec_everything_scalars_msg_args, &a, 1, frame);
    frame[0] = 2;
    expect_reject(&codec_everything_scalars_msg_args, frame, len, 1, "scalars_msg.flag",
                  "bool is neither 0 nor 1");
}

Test(codec, undeclared_enum_value_and_union_tag)
{
    uint8_t frame[FRAME_MAX];
    struct everything_get_result g;
    memset(&g, 0, sizeof g);
    g.r.temp = EVERYTHING_TEMPERATURE_MILD;
    g.r.v.tag = EVERYTHING_KIND_NONE;
    size_t len = roundtrip(&codec_everything_get_result, &g, 2, frame);
    /* r.id: 4 bytes, r.temp: i16 at 4, r.v.tag: u32 at 6 */
    uint8_t bad[FRAME_MAX];
    memcpy(bad, frame, len);
    bad[4] = 16;
    bad[5] = 0;
    expect_reject(&codec_everything_get_result, bad, len, 2, "record.temp",
                  "not a value of enum temperature at the negotiated version");
    memcpy(bad, frame, len);
    bad[6] = 9;
    expect_reject(&codec_everything_get_result, bad, len, 2, "value.tag",
                  "not a case of union value");
}

Test(codec, bounded_array_and_string_rules)
{
    uint8_t frame[FRAME_MAX], bad[FRAME_MAX];
    struct everything_changed_args a;
    memset(&a, 0, sizeof a);
    strcpy(a.who, "abc");
    a.where_count = 1;
    size_t len = roundtrip(&codec_everything_changed_args, &a, 1, frame);
    /* who: u32 length 3 + "abc", then where: u32 count at 7 */
    memcpy(bad, frame, len);
    bad[7] = 9;
    expect_reject(&codec_everything_changed_args, bad, len, 1, "changed.where",
                  "element count exceeds the bound");
    memcpy(bad, frame, len);
    bad[5] = 0;
    expect_reject(&codec_everything_changed_args, bad, len, 1, "changed.who",
                  "string contains a NUL byte");
    memcpy(bad, frame, len);
    bad[0] = 17;
    expect_reject(&codec_everything_changed_args, bad, len, 1, "changed.who",
                  "string length exceeds the bound");
    memcpy(bad, frame, len);
    bad[len] = 0;
    expect_reject(&codec_everything_changed_args, bad, len + 1, 1, "changed",
                  "trailing bytes after the last field");
}

Test(codec, buffer_reference_rules)
{
    uint8_t frame[FRAME_MAX], bad[FRAME_MAX];
    struct blkif_read_args a;
    memset(&a, 0, sizeof a);
    a.segs_count = 1;
    rnd_rbuf(&a.segs[0].buf, IDC_RBUF_WRITE);
    size_t len = roundtrip(&codec_blkif_read_args, &a, 1, frame);
    /* sector u64, count u32, then the reference: rights u32 at 12 + 24, reserved at 12 + 28 */
    memcpy(bad, frame, len);
    bad[36] = IDC_RBUF_READ;
    expect_reject(&codec_blkif_read_args, bad, len, 1, "read_segment.buf",
                  "buffer reference lacks the write right");
    memcpy(bad, frame, len);
    bad[36] = 4 | IDC_RBUF_WRITE;
    expect_reject(&codec_blkif_read_args, bad, len, 1, "read_segment.buf",
                  "buffer reference has unknown rights bits");
    memcpy(bad, frame, len);
    bad[43] = 1;
    expect_reject(&codec_blkif_read_args, bad, len, 1, "read_segment.buf",
                  "buffer reference has a non-zero reserved word");
    memcpy(bad, frame, len);
    bad[36] = IDC_RBUF_WRITE | IDC_RBUF_READ; /* more rights than needed is fine */
    const char *field, *reason;
    struct blkif_read_args out;
    cr_assert_eq(decode_exact(&codec_blkif_read_args, &out, 1, bad, len, &field, &reason), 0);
    cr_assert_eq(out.segs[0].buf.rights, IDC_RBUF_READ | IDC_RBUF_WRITE);
}

/* ------------------------------------------------------------------ encoder refusals */

Test(codec, encoder_refuses_what_the_wire_cannot_carry)
{
    uint8_t frame[FRAME_MAX];
    const char *field = NULL, *reason = NULL;
    size_t len;
    struct everything_put_args a;

    memset(&a, 0, sizeof a);
    rnd_record(&a.r, 3, false);
    rnd_containers(&a.c, false);
    a.c.some_words_count = 5;
    cr_assert_eq(
        codec_everything_put_args.encode(&a, 3, frame, sizeof frame, &len, &field, &reason),
        IDC_ERR_INVAL);
    cr_assert_str_eq(field, "containers.some_words");

    memset(&a, 0, sizeof a);
    rnd_record(&a.r, 3, false);
    rnd_containers(&a.c, false);
    memset(a.c.name, 'x', sizeof a.c.name); /* no NUL within string<16> */
    cr_assert_eq(
        codec_everything_put_args.encode(&a, 3, frame, sizeof frame, &len, &field, &reason),
        IDC_ERR_INVAL);
    cr_assert_str_eq(field, "containers.name");

    memset(&a, 0, sizeof a);
    rnd_record(&a.r, 3, false);
    rnd_containers(&a.c, false);
    a.c.channels[1] = 3;
    cr_assert_eq(
        codec_everything_put_args.encode(&a, 3, frame, sizeof frame, &len, &field, &reason),
        IDC_ERR_INVAL);
    cr_assert_str_eq(field, "containers.channels[]");

    memset(&a, 0, sizeof a);
    rnd_record(&a.r, 3, false);
    rnd_containers(&a.c, false);
    a.c.source.rights = IDC_RBUF_WRITE;
    cr_assert_eq(
        codec_everything_put_args.encode(&a, 3, frame, sizeof frame, &len, &field, &reason),
        IDC_ERR_INVAL);
    cr_assert_str_eq(field, "containers.source");
    cr_assert_str_eq(reason, "buffer reference lacks the read right");

    memset(&a, 0, sizeof a);
    rnd_record(&a.r, 3, false);
    rnd_containers(&a.c, false);
    a.r.v.tag = 99;
    cr_assert_eq(
        codec_everything_put_args.encode(&a, 3, frame, sizeof frame, &len, &field, &reason),
        IDC_ERR_INVAL);
    cr_assert_str_eq(field, "value.tag");

    memset(&a, 0, sizeof a);
    rnd_record(&a.r, 3, false);
    rnd_containers(&a.c, false);
    cr_assert_eq(codec_everything_put_args.encode(&a, 3, frame, 10, &len, &field, &reason),
                 IDC_ERR_TOOBIG);
}

Test(codec, small_payloads_roundtrip_and_hostile)
{
    uint8_t frame[FRAME_MAX];
    for (int n = 0; n < 20; n++) {
        struct everything_get_args g;
        memset(&g, 0, sizeof g);
        g.id = (uint32_t)rnd();
        size_t len = roundtrip(&codec_everything_get_args, &g, 1, frame);
        cr_assert_eq(len, 4);
        hostile(&codec_everything_get_args, frame, len, 1);

        struct everything_resize_result r;
        memset(&r, 0, sizeof r);
        rnd_point(&r.actual);
        r.depth = (uint32_t)rnd();
        len = roundtrip(&codec_everything_resize_result, &r, 3, frame);
        cr_assert_eq(len, 12);
        hostile(&codec_everything_resize_result, frame, len, 3);

        struct everything_query_args q;
        memset(&q, 0, sizeof q);
        q.k = kinds[rnd_below(5)];
        len = roundtrip(&codec_everything_query_args, &q, 2, frame);
        hostile(&codec_everything_query_args, frame, len, 2);
    }
}

/* several random byte changes, cuts and extensions of valid frames, for every decoder: each
   result is refused or canonical, and nothing is read outside the frame (under ASan) */
Test(codec, random_mutations_are_refused_or_canonical, .timeout = 120)
{
    const struct codec *codecs[] = {
        &codec_everything_put_args,     &codec_everything_get_result,
        &codec_everything_query_result, &codec_everything_changed_args,
        &codec_blkif_read_args,         &codec_blkif_get_info_result,
    };
    uint8_t frame[FRAME_MAX], bad[FRAME_MAX + 16], again[FRAME_MAX];
    int accepted = 0, refused = 0;

    for (size_t c = 0; c < sizeof codecs / sizeof codecs[0]; c++) {
        const struct codec *k = codecs[c];
        void *out = malloc(k->size);
        cr_assert_not_null(out);
        for (int n = 0; n < 3000; n++) {
            size_t len;
            if (k == &codec_everything_put_args) {
                struct everything_put_args a;
                memset(&a, 0, sizeof a);
                rnd_record(&a.r, 3, false);
                rnd_containers(&a.c, false);
                len = roundtrip(k, &a, 3, frame);
            } else if (k == &codec_everything_get_result) {
                struct everything_get_result g;
                memset(&g, 0, sizeof g);
                rnd_record(&g.r, 3, false);
                len = roundtrip(k, &g, 3, frame);
            } else if (k == &codec_everything_query_result) {
                struct everything_query_result q;
                memset(&q, 0, sizeof q);
                rnd_value(&q.v, false);
                len = roundtrip(k, &q, 3, frame);
            } else if (k == &codec_everything_changed_args) {
                struct everything_changed_args ch;
                memset(&ch, 0, sizeof ch);
                rnd_string(ch.who, rnd_below(17));
                ch.where_count = rnd_below(9);
                for (uint32_t i = 0; i < ch.where_count; i++)
                    rnd_point(&ch.where[i]);
                len = roundtrip(k, &ch, 3, frame);
            } else if (k == &codec_blkif_read_args) {
                struct blkif_read_args r;
                memset(&r, 0, sizeof r);
                r.segs_count = rnd_below(12);
                for (uint32_t i = 0; i < r.segs_count; i++)
                    rnd_rbuf(&r.segs[i].buf, IDC_RBUF_WRITE | (rnd() & 1));
                len = roundtrip(k, &r, 2, frame);
            } else {
                struct blkif_get_info_result g;
                memset(&g, 0, sizeof g);
                rnd_string(g.info.serial, rnd_below(21));
                g.info.type = (uint8_t)rnd_below(3);
                len = roundtrip(k, &g, 2, frame);
            }
            memcpy(bad, frame, len);
            size_t blen = len;
            int changes = 1 + (int)rnd_below(4);
            for (int m = 0; m < changes; m++) {
                switch (rnd_below(4)) {
                case 0: /* cut */
                    blen = blen ? rnd_below((uint32_t)blen) : 0;
                    break;
                case 1: /* extend with random bytes */
                    for (int e = (int)rnd_below(8); e > 0 && blen < len + 16; e--)
                        bad[blen++] = (uint8_t)rnd();
                    break;
                default: /* overwrite a byte (small values hit counts, tags, bools) */
                    if (blen)
                        bad[rnd_below((uint32_t)blen)] = (uint8_t)(rnd() & 1 ? rnd_below(4)
                                                                             : rnd());
                    break;
                }
            }
            const char *field = NULL, *reason = NULL;
            int rc = decode_exact(k, out, 3, bad, blen, &field, &reason);
            if (k == &codec_blkif_read_args || k == &codec_blkif_get_info_result)
                rc = decode_exact(k, out, 2, bad, blen, &field, &reason);
            if (rc == 0) {
                size_t len2 = 0;
                uint32_t v = (k == &codec_blkif_read_args || k == &codec_blkif_get_info_result) ? 2
                                                                                                : 3;
                cr_assert_eq(k->encode(out, v, again, sizeof again, &len2, &field, &reason), 0);
                cr_assert(len2 == blen && memcmp(again, bad, blen) == 0,
                          "%s: accepted mutation is not canonical", k->name);
                accepted++;
            } else {
                cr_assert_eq(rc, IDC_ERR_PROTO);
                cr_assert(field && reason);
                refused++;
            }
        }
        free(out);
    }
    cr_assert_gt(refused, 0);
    cr_log_info("random mutations: %d refused, %d accepted (canonical)", refused, accepted);
}
