/*
 * small.c - codec tests on the golden protocol tests/golden/small.idl: a union case that
 * exists only from version 2, and a u64 enum whose values do not fit a C int.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "golden/small/small.h"

static size_t encode_store(const struct small_store_args *a, uint32_t version, uint8_t *buf,
                           struct small_wire_error *err)
{
    size_t len = 0;
    cr_assert_eq(small_store_args_encode(a, version, buf, SMALL_STORE_ARGS_MAX_SIZE, &len, err), 0,
                 "%s: %s", err->field, err->reason);
    return len;
}

Test(small, union_case_since_version_two)
{
    uint8_t buf[SMALL_STORE_ARGS_MAX_SIZE];
    struct small_wire_error err = { NULL, NULL };
    struct small_store_args a, out;
    size_t len;

    memset(&a, 0, sizeof a);
    a.e.key = 7;
    a.e.data.rights = IDC_RBUF_READ;
    a.e.m = SMALL_MASK_HIGH;
    a.e.value.tag = SMALL_KIND_LIST;
    a.e.value.u.items_count = 4;
    a.e.value.u.items[3] = 0xbeef;

    /* version 1 has no LIST case: the encoder refuses, and so does the decoder */
    cr_assert_eq(small_store_args_encode(&a, 1, buf, sizeof buf, &len, &err), IDC_ERR_INVAL);
    cr_assert_str_eq(err.field, "slot.tag");
    len = encode_store(&a, 2, buf, &err);
    cr_assert_eq(len, 4 + 48 + (4 + 4 + 4 * 2) + 1 +
                          8); /* key, data, slot (tag, count, items), sticky, m */
    cr_assert_eq(small_store_args_decode(&out, 1, buf, len, &err), IDC_ERR_PROTO);
    cr_assert_str_eq(err.reason, "case LIST is not available at the negotiated version");

    cr_assert_eq(small_store_args_decode(&out, 2, buf, len, &err), 0, "%s: %s", err.field,
                 err.reason);
    cr_assert(memcmp(&out, &a, sizeof a) == 0);
    cr_assert_eq(out.e.m, UINT64_C(0x8000000000000000));
}

Test(small, u64_enum_values_beyond_int)
{
    uint8_t buf[SMALL_STORE_ARGS_MAX_SIZE];
    struct small_wire_error err = { NULL, NULL };
    struct small_store_args a, out;

    memset(&a, 0, sizeof a);
    a.e.data.rights = IDC_RBUF_READ;
    a.e.value.tag = SMALL_KIND_NAME;
    strcpy(a.e.value.u.name, "twelve chars");
    a.e.m = SMALL_MASK_LOW;
    size_t len = encode_store(&a, 1, buf, &err);
    cr_assert_eq(len, SMALL_STORE_ARGS_MAX_SIZE, "a full NAME is the largest slot");
    cr_assert_eq(small_store_args_decode(&out, 1, buf, len, &err), 0);
    cr_assert_eq(out.e.m, SMALL_MASK_LOW);
    cr_assert_str_eq(out.e.value.u.name, "twelve chars");

    /* the mask is the last 8 bytes: 2 is not a value of enum mask */
    buf[len - 8] = 2;
    cr_assert_eq(small_store_args_decode(&out, 1, buf, len, &err), IDC_ERR_PROTO);
    cr_assert_str_eq(err.field, "entry.m");

    a.e.m = 3;
    cr_assert_eq(small_store_args_encode(&a, 1, buf, sizeof buf, &len, &err), IDC_ERR_INVAL);
    cr_assert_str_eq(err.field, "entry.m");
}
