/* libFuzzer target: every generated decoder of idl/everything.idl (the protocol that uses every
 * construct), on arbitrary bytes at every version.
 * Input: u8 selector, u8 version, then the payload. Properties:
 *   - a decoder never reads outside [payload, payload+len) (ASan) nor misbehaves (UBSan);
 *   - what it accepts is canonical: re-encoding the decoded value at the same version gives
 *     back exactly the input bytes, and it fits the computed maximum size. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "everything.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ROUND_TRIP(T, MAX)                                                        \
    do {                                                                          \
        static struct everything_##T v;                                           \
        static uint8_t out[(MAX) + 1];                                            \
        struct everything_wire_error err;                                         \
        size_t n = 0;                                                             \
        memset(&v, 0, sizeof v);                                                  \
        if (everything_##T##_decode(&v, version, p, len, &err) != 0)              \
            return 0;                                                             \
        if (len > (MAX))                                                          \
            abort(); /* accepted more than the computed maximum */                \
        if (everything_##T##_encode(&v, version, out, sizeof out, &n, &err) != 0) \
            abort(); /* a decoded value must be encodable */                      \
        if (n != len || memcmp(out, p, len) != 0)                                 \
            abort(); /* not canonical */                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint32_t version = 1 + data[1] % 3; /* 1, 2 and a version above the protocol's */
    const uint8_t *p = data + 2;
    size_t len = size - 2;
    switch (data[0] % 9) {
    case 0:
        ROUND_TRIP(scalars_msg_args, EVERYTHING_SCALARS_MSG_ARGS_MAX_SIZE);
        break;
    case 1:
        ROUND_TRIP(put_args, EVERYTHING_PUT_ARGS_MAX_SIZE);
        break;
    case 2:
        ROUND_TRIP(get_args, EVERYTHING_GET_ARGS_MAX_SIZE);
        break;
    case 3:
        ROUND_TRIP(get_result, EVERYTHING_GET_RESULT_MAX_SIZE);
        break;
    case 4:
        ROUND_TRIP(resize_args, EVERYTHING_RESIZE_ARGS_MAX_SIZE);
        break;
    case 5:
        ROUND_TRIP(resize_result, EVERYTHING_RESIZE_RESULT_MAX_SIZE);
        break;
    case 6:
        ROUND_TRIP(changed_args, EVERYTHING_CHANGED_ARGS_MAX_SIZE);
        break;
    case 7:
        ROUND_TRIP(query_args, EVERYTHING_QUERY_ARGS_MAX_SIZE);
        break;
    case 8:
        ROUND_TRIP(query_result, EVERYTHING_QUERY_RESULT_MAX_SIZE);
        break;
    }
    return 0;
}
