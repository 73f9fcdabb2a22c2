/* libFuzzer target: the idlc front end (lexer, parser, semantic checks) on arbitrary bytes.
 * Anything may be reported as an error; nothing may crash, leak or read out of bounds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idlc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *devnull;
    if (!devnull)
        devnull = fopen("/dev/null", "w");

    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    struct idlc_options opt;
    idlc_options_init(&opt);
    opt.diag_out = devnull;
    opt.check_only = true;
    struct idlc_ctx *ctx = idlc_ctx_create(&opt);
    struct idlc_unit *u = idlc_parse_string(ctx, "fuzz.idl", text);
    if (u && idlc_error_count(ctx) == 0)
        (void)idlc_check(ctx, u);
    idlc_ctx_destroy(ctx);
    free(text);
    return 0;
}
