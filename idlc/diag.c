/*
 * diag.c - clang-style diagnostics.
 *
 *   bad/x.idl:3:5: error: undefined type 'foo'
 *       3 |     foo x;
 *         |     ^~~
 *
 * The caret marks the first column of the range, tildes the rest of it on that line. Notes
 * follow the error they explain. After IDLC_MAX_ERRORS errors further diagnostics are
 * dropped (but still counted), so a pathological input cannot flood the terminal.
 */
#include <stdarg.h>
#include <string.h>

#include "idlc.h"

static const char *sev_name(enum idlc_severity s)
{
    switch (s) {
    case IDLC_NOTE:
        return "note";
    case IDLC_WARNING:
        return "warning";
    default:
        return "error";
    }
}

static const char *sev_color(enum idlc_severity s)
{
    switch (s) {
    case IDLC_NOTE:
        return "\033[1;36m";
    case IDLC_WARNING:
        return "\033[1;35m";
    default:
        return "\033[1;31m";
    }
}

static void show_line(FILE *out, const struct idlc_loc *loc, bool color)
{
    const struct idlc_source *src = loc->file;
    if (loc->line < 1 || (uint32_t)loc->line > src->nlines)
        return;
    const char *p = src->text + src->line_off[loc->line - 1];
    const char *end = src->text + src->len;
    size_t n = 0;
    while (p + n < end && p[n] != '\n' && p[n] != '\r')
        n++;
    fprintf(out, "%5d | ", loc->line);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        fputc(c == '\t' || (c >= 0x20 && c < 0x7f) ? c : '?', out);
    }
    fputs("\n      | ", out);
    int col = loc->col < 1 ? 1 : loc->col;
    int last = loc->end_line == loc->line ? loc->end_col : (int)n;
    if (last < col)
        last = col;
    for (int i = 1; i < col; i++)
        fputc((size_t)(i - 1) < n && p[i - 1] == '\t' ? '\t' : ' ', out);
    if (color)
        fputs("\033[1;32m", out);
    fputc('^', out);
    for (int i = col + 1; i <= last; i++)
        fputc('~', out);
    if (color)
        fputs("\033[0m", out);
    fputc('\n', out);
}

static void vdiag(struct idlc_ctx *ctx, enum idlc_severity sev, struct idlc_loc loc,
                  const char *fmt, va_list ap)
{
    if (sev == IDLC_ERROR) {
        ctx->errors++;
        if (ctx->errors > IDLC_MAX_ERRORS) {
            if (!ctx->dropping)
                fprintf(ctx->opt.diag_out, "idlc: too many errors (%d), the rest are not shown\n",
                        IDLC_MAX_ERRORS);
            ctx->dropping = true;
        }
    } else if (sev == IDLC_WARNING) {
        ctx->warnings++;
    }
    if (sev != IDLC_NOTE)
        ctx->last_dropped = ctx->dropping;
    if (ctx->last_dropped)
        return;

    FILE *out = ctx->opt.diag_out;
    bool color = ctx->opt.color;
    if (color)
        fputs("\033[1m", out);
    if (loc.file)
        fprintf(out, "%s:%d:%d: ", loc.file->path, loc.line, loc.col);
    else
        fputs("idlc: ", out);
    if (color)
        fputs(sev_color(sev), out);
    fprintf(out, "%s: ", sev_name(sev));
    if (color)
        fputs("\033[0m\033[1m", out);
    vfprintf(out, fmt, ap);
    if (color)
        fputs("\033[0m", out);
    fputc('\n', out);
    if (loc.file)
        show_line(out, &loc, color);
}

void idlc_diag(struct idlc_ctx *ctx, enum idlc_severity sev, struct idlc_loc loc, const char *fmt,
               ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(ctx, sev, loc, fmt, ap);
    va_end(ap);
}

void idlc_error(struct idlc_ctx *ctx, struct idlc_loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(ctx, IDLC_ERROR, loc, fmt, ap);
    va_end(ap);
}

void idlc_warning(struct idlc_ctx *ctx, struct idlc_loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(ctx, IDLC_WARNING, loc, fmt, ap);
    va_end(ap);
}

void idlc_note(struct idlc_ctx *ctx, struct idlc_loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(ctx, IDLC_NOTE, loc, fmt, ap);
    va_end(ap);
}

unsigned idlc_error_count(const struct idlc_ctx *ctx)
{
    return ctx->errors;
}
