/*
 * idlc.h - internal header of the idl compiler (front end + generator).
 *
 * idlc is a library (libidlc.a) with a thin main.c, so tests drive every phase in-process.
 * The phases, one section of this header each:
 *
 *   diag.c    diagnostics: "file:line:col: error: msg", source line, caret range, notes
 *   lexer.l   tokens (flex, reentrant, bison bridge, locations)
 *   parser.y  grammar (bison, pure, LAC, detailed errors) building the AST below
 *   ast.c     AST allocation (one arena per context), symbol tables, import loading
 *   sema.c    name resolution, constant evaluation, checks, maximum encoded sizes, opcodes
 *   names.c   the C names idlc generates: spelled once, checked for clashes, given to the model
 *   driver.c  idlc_compile(): parse + check + generate one file; make dependencies
 *   output.c  output files (atomic replace, or in place for devices and FIFOs), temporaries
 *             removed when a signal ends the program
 *   model.c   (generator) writes the m4 model of a checked unit
 *   gen.c     (generator) runs m4 over the templates into NAME.h NAME_codec.c NAME_client.c
 *             NAME_server.c
 *   main.c    command line only
 *
 * Memory model: every AST node, string and table lives in the arena of the idlc_ctx that
 * parsed it; nothing is freed individually; idlc_ctx_destroy() releases everything.
 * After idlc_check() returned 0 the AST is read-only and fully resolved: every type
 * reference points at its declaration, every constant expression has its value, every
 * type/field/message has its maximum encoded size, every message its opcode.
 */
#ifndef IDLC_H
#define IDLC_H

/* AST FROZEN */
/* (The data structures below are stable: fields may be added, none renamed or removed.) */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifndef IDC_VERSION
#define IDC_VERSION "0.0.0"
#endif

struct idlc_ctx;
struct idlc_unit;
struct idlc_decl;
struct idlc_type;

/* ====================================================================== source, locations */

/* One loaded source file; text is NUL terminated and kept for diagnostics. */
struct idlc_source {
    const char *path; /* path as given / as resolved (used in diagnostics) */
    const char *text;
    size_t len;
    const uint32_t *line_off; /* line_off[i] = byte offset of line i+1 */
    uint32_t nlines;
};

/*
 * A source range. Lines and columns are 1-based; columns count bytes.
 * (line, col) is the first character, (end_line, end_col) the LAST character (inclusive).
 * file == NULL means "no location" (built-in or command line).
 */
struct idlc_loc {
    const struct idlc_source *file;
    int line, col;
    int end_line, end_col;
};

/* ====================================================================== values */

/*
 * An integer constant in the range [-2^63, 2^64-1].
 * neg == false: the value is u.  neg == true: the value is (int64_t)u (negative).
 */
struct idlc_value {
    uint64_t u;
    bool neg;
};

/* Formats v in decimal into buf (at least 24 bytes); returns buf. */
char *idlc_value_str(struct idlc_value v, char *buf);

/* ====================================================================== expressions */

enum idlc_expr_kind {
    IDLC_E_INT,    /* literal */
    IDLC_E_REF,    /* reference to a const or an enum value: name or enum.VALUE */
    IDLC_E_UNARY,  /* op: '-', '~', '+' */
    IDLC_E_BINARY, /* op: '+','-','*','/','%','&','|','^', IDLC_OP_SHL, IDLC_OP_SHR */
};
#define IDLC_OP_SHL 256
#define IDLC_OP_SHR 257

struct idlc_expr {
    enum idlc_expr_kind kind;
    struct idlc_loc loc; /* whole expression range */
    int op;
    struct idlc_expr *lhs, *rhs;  /* unary: lhs only */
    const char *name;             /* REF: identifier (for enum.VALUE: the enum name) */
    const char *member;           /* REF: VALUE in enum.VALUE, else NULL */
    struct idlc_decl *ref;        /* REF: resolved const or enum decl (sema) */
    struct idlc_enumval *ref_val; /* REF to an enum value (sema) */
    struct idlc_value value;      /* evaluated (sema); literals: set by the parser */
    bool evaluated;
    bool bad; /* evaluation failed (error already reported) */
};

/* ====================================================================== types */

enum idlc_type_kind {
    IDLC_T_BOOL,
    IDLC_T_U8,
    IDLC_T_U16,
    IDLC_T_U32,
    IDLC_T_U64,
    IDLC_T_I8,
    IDLC_T_I16,
    IDLC_T_I32,
    IDLC_T_I64,
    IDLC_T_NAMED, /* parser only: unresolved name; sema turns it into ENUM/STRUCT/UNION */
    IDLC_T_ENUM,
    IDLC_T_STRUCT,
    IDLC_T_UNION,
    IDLC_T_ARRAY,  /* fixed array: exactly bound elements */
    IDLC_T_VECTOR, /* bounded array: u32 count then count elements, count <= bound */
    IDLC_T_STRING, /* string<N>: u32 length then length bytes, length <= bound, no NUL */
    IDLC_T_BUFFER, /* remote buffer reference (48 bytes on the wire) */
};

/* buffer rights (bit mask); plain "buffer" requires none in particular (0) */
#define IDLC_BUF_READ  1u
#define IDLC_BUF_WRITE 2u

/* Wire size of a buffer reference (docs/wire.md). */
#define IDLC_BUFFER_WIRE_SIZE 48u

struct idlc_type {
    enum idlc_type_kind kind;
    struct idlc_loc loc;          /* the type as written */
    const char *name;             /* NAMED/ENUM/STRUCT/UNION: the name as written */
    struct idlc_decl *decl;       /* ENUM/STRUCT/UNION: the declaration (sema) */
    struct idlc_type *elem;       /* ARRAY/VECTOR: element type */
    struct idlc_expr *bound_expr; /* ARRAY/VECTOR/STRING: bound as written */
    uint64_t bound;               /* ARRAY/VECTOR/STRING: evaluated bound (sema), 1..2^32-1 */
    unsigned rights;              /* BUFFER: IDLC_BUF_* mask */
    uint64_t max_size;            /* maximum encoded size in bytes (sema) */
    uint64_t min_size;            /* minimum encoded size in bytes (sema) */
    const char *doc;              /* parser scratch: doc comment before the type's first token */
};

/* true for bool and the integer kinds */
bool idlc_type_is_scalar(enum idlc_type_kind k);
/* byte width of bool/integer kinds (1,2,4,8), 0 for others */
unsigned idlc_scalar_width(enum idlc_type_kind k);
/* true for I8..I64 */
bool idlc_scalar_signed(enum idlc_type_kind k);
/* "u32", "bool", "enum", ... */
const char *idlc_type_kind_name(enum idlc_type_kind k);

/* ====================================================================== declarations */

/* Attributes common to fields, enum values, messages: @since(N) (0 = since the start). */
struct idlc_attrs {
    uint32_t since;
    struct idlc_loc since_loc; /* location of "@since(N)" if present */
    struct idlc_expr *since_expr;
};

/* A struct/union field or a message/transaction parameter or result. */
struct idlc_field {
    struct idlc_field *next;
    const char *name;
    struct idlc_loc loc; /* the name */
    const char *doc;     /* /// doc comment, NULL if none */
    struct idlc_type *type;
    struct idlc_attrs attrs;
    uint64_t offset_max; /* sum of max sizes of the preceding fields (sema) */
};

struct idlc_enumval {
    struct idlc_enumval *next;
    const char *name;
    struct idlc_loc loc;
    const char *doc;
    struct idlc_expr *expr;  /* NULL: previous value + 1 (first: 0) */
    struct idlc_value value; /* sema */
    struct idlc_attrs attrs;
    struct idlc_decl *owner; /* the enum */
    int state;               /* sema private */
};

/* A union arm: "case A, B: T name;" or "case A: void;" */
struct idlc_case_label {
    struct idlc_case_label *next;
    const char *name; /* enum value name */
    struct idlc_loc loc;
    struct idlc_enumval *val; /* sema */
};
struct idlc_arm {
    struct idlc_arm *next;
    struct idlc_case_label *labels;
    struct idlc_field *field; /* NULL for "void" */
    struct idlc_loc loc;      /* the "case" keyword */
    const char *doc;
};

enum idlc_decl_kind {
    IDLC_D_CONST,
    IDLC_D_ENUM,
    IDLC_D_STRUCT,
    IDLC_D_UNION,
};

/* "constant", "enum", "struct", "union" (diagnostics) */
const char *idlc_decl_kind_name(enum idlc_decl_kind k);

struct idlc_decl {
    struct idlc_decl *next; /* declaration order within its unit */
    enum idlc_decl_kind kind;
    const char *name;
    struct idlc_loc loc;    /* the name */
    struct idlc_loc kw_loc; /* the keyword (const/enum/struct/union) */
    const char *doc;
    struct idlc_unit *unit; /* the unit (file) that declares it */

    /* CONST */
    struct idlc_expr *expr;
    struct idlc_value value; /* sema */

    /* ENUM */
    enum idlc_type_kind repr; /* IDLC_T_U8..IDLC_T_I64 (default u32) */
    struct idlc_loc repr_loc;
    struct idlc_enumval *values;
    size_t nvalues;
    struct idlc_value min, max; /* smallest / largest value (sema) */

    /* STRUCT */
    struct idlc_field *fields;
    size_t nfields;

    /* UNION: tag enum */
    const char *tag_name;
    struct idlc_loc tag_loc;
    struct idlc_decl *tag; /* sema: an ENUM decl */
    struct idlc_arm *arms;
    size_t narms;

    /* ENUM/STRUCT/UNION: encoded size bounds (sema) */
    uint64_t max_size, min_size;

    /* sema private */
    int state;
};

/* ====================================================================== protocol, messages */

enum idlc_role {
    IDLC_ROLE_FRONTEND, /* sent by the front end, handled by the back end */
    IDLC_ROLE_BACKEND,  /* sent by the back end, handled by the front end */
};
const char *idlc_role_name(enum idlc_role r); /* "frontend" / "backend" */

enum idlc_msg_kind {
    IDLC_M_MESSAGE,     /* one-way */
    IDLC_M_TRANSACTION, /* request -> result (or error) */
};

struct idlc_msg {
    struct idlc_msg *next; /* declaration order in the protocol (all roles) */
    enum idlc_msg_kind kind;
    enum idlc_role role;
    const char *name;
    struct idlc_loc loc;    /* the name */
    struct idlc_loc kw_loc; /* message/transaction keyword */
    const char *doc;
    struct idlc_field *params;
    size_t nparams;
    struct idlc_field *results; /* transactions only */
    size_t nresults;
    const char *raises_name; /* "raises E": the error enum name, NULL if none */
    struct idlc_loc raises_loc;
    struct idlc_decl *raises; /* sema: ENUM decl, values 1..65535 */
    struct idlc_attrs attrs;
    uint32_t opcode;        /* sema: 1-based, declaration order across the protocol */
    uint64_t args_max_size; /* max encoded size of the parameters (sema) */
    uint64_t args_min_size;
    uint64_t result_max_size; /* transactions: max encoded size of the results (sema) */
    uint64_t result_min_size;
};

struct idlc_import {
    struct idlc_import *next;
    const char *path;       /* as written */
    struct idlc_loc loc;    /* the string literal */
    struct idlc_unit *unit; /* resolved (NULL if it could not be loaded) */
};

/* One .idl file. */
struct idlc_unit {
    struct idlc_ctx *ctx;
    const struct idlc_source *src;
    const char *path;     /* resolved path of the file */
    const char *basename; /* file name without directory and ".idl": output NAME */

    bool has_protocol; /* "protocol NAME version N [max_frame M];" present */
    const char *name;  /* protocol name (or basename when has_protocol is false) */
    struct idlc_loc name_loc;
    const char *doc;
    uint32_t version; /* protocol version (>= 1), 1 if no protocol line */
    struct idlc_loc version_loc;
    uint64_t max_frame; /* max payload size of any message/request/result */
    struct idlc_loc max_frame_loc;
    struct idlc_expr *version_expr, *max_frame_expr;

    struct idlc_import *imports; /* in order */
    struct idlc_decl *decls;     /* this file's declarations, in order */
    size_t ndecls;
    struct idlc_msg *msgs; /* this file's messages and transactions, in order */
    size_t nmsgs;

    bool checked; /* sema ran on this unit */
    int state;    /* import cycle detection (ast.c) */
};

#define IDLC_DEFAULT_MAX_FRAME 4096u
/* Most versions a protocol may have to be generated: the runtime's IDC_MAX_VERSIONS. */
#define IDLC_MAX_VERSIONS 64u

/* ====================================================================== context, options */

struct idlc_options {
    const char *out_dir;       /* -o (default ".") */
    const char **include_dirs; /* -I, in order */
    size_t ninclude_dirs;
    const char *template_dir; /* -T (default: <exe dir>/../share/idc/templates/c);
	                                idlc_main() always sets it before idlc_generate() runs */
    bool deps_stdout;         /* -M: print make dependencies, generate nothing */
    const char *deps_file;    /* -MF FILE: write make dependencies, still generate */
    const char *deps_target;  /* target name for the rule (default: the outputs) */
    bool check_only;          /* --check / -fsyntax-only: parse + check, no output */
    bool color;               /* colored diagnostics */
    FILE *diag_out;           /* where diagnostics go (default stderr) */
};
void idlc_options_init(struct idlc_options *opt);

/* Creates a compilation context (arena, symbol tables, diagnostics). Never returns NULL. */
struct idlc_ctx *idlc_ctx_create(const struct idlc_options *opt);
/* Frees everything the context allocated (all units and ASTs). NULL is harmless. */
void idlc_ctx_destroy(struct idlc_ctx *ctx);
/* Options the context was created with (borrowed). */
const struct idlc_options *idlc_ctx_options(const struct idlc_ctx *ctx);

/* ====================================================================== ast.c */

/* Hash map from a pair of pointers (usually interned strings / nodes) to a pointer. */
struct idlc_map_ent {
    const void *k1, *k2;
    void *v;
};
struct idlc_map {
    struct idlc_map_ent *e;
    size_t cap, n; /* cap is 0 or a power of two */
};
/* Value stored for (k1,k2), or NULL. */
void *idlc_map_get(const struct idlc_map *m, const void *k1, const void *k2);
/* Inserts (k1,k2)->v unless present; returns the previous value (not replaced) or NULL. */
void *idlc_map_put(struct idlc_ctx *ctx, struct idlc_map *m, const void *k1, const void *k2,
                   void *v);

/* The context (private to the front end; the generator only passes it around). */
struct idlc_arena_chunk;
struct idlc_ctx {
    struct idlc_options opt;
    struct idlc_arena_chunk *arena;
    const char **strtab; /* interned strings (open addressing, power of two) */
    size_t strcap, strn;
    struct idlc_map unit_by_path; /* (realpath interned, NULL) -> unit */
    struct idlc_unit **units;     /* load order */
    size_t nunits, units_cap;
    struct idlc_unit **load_stack;
    size_t load_depth, load_cap;
    struct idlc_map syms;      /* (unit, name) -> decl visible in unit */
    struct idlc_map own;       /* (unit, name) -> decl declared in unit */
    struct idlc_map enum_vals; /* (enum decl, name) -> enumval */
    unsigned errors, warnings;
    unsigned soft_errors; /* errors the parser reported that leave the AST usable */
    unsigned hard_errors; /* syntax/lexical/import errors: sema is not run */
    bool dropping;        /* error limit reached: drop diagnostics */
    bool last_dropped;
};

/*
 * Loads, parses and recursively imports the file at path. Returns the unit (also on syntax
 * errors, possibly incomplete) or NULL if the file could not be read (diagnosed).
 * The unit and its imports are owned by ctx.
 */
struct idlc_unit *idlc_parse_file(struct idlc_ctx *ctx, const char *path);
/* Same, from a memory buffer; name is used in diagnostics and for relative imports. */
struct idlc_unit *idlc_parse_string(struct idlc_ctx *ctx, const char *name, const char *text);

/* arena helpers (memory owned by ctx) */
void *idlc_alloc(struct idlc_ctx *ctx, size_t size); /* zeroed */
char *idlc_strdup(struct idlc_ctx *ctx, const char *s);
char *idlc_strndup(struct idlc_ctx *ctx, const char *s, size_t n);
const char *idlc_intern(struct idlc_ctx *ctx, const char *s, size_t n);

/* Every unit loaded so far, in load order (imports first). */
size_t idlc_units(struct idlc_ctx *ctx, struct idlc_unit ***out);

/* Looks up a type or const visible from unit u (its own declarations and its imports'). */
struct idlc_decl *idlc_lookup(struct idlc_unit *u, const char *name);

/* ====================================================================== lexer.l / parser.y */

/* Semantic value of a token. */
struct idlc_tok {
    const char *s;   /* identifier (interned) / string literal contents */
    uint64_t n;      /* integer literal */
    const char *doc; /* /// comment block right before this token, or NULL */
};

/* Scanner state shared by lexer and parser (flex "extra"). */
struct idlc_lexstate {
    struct idlc_ctx *ctx;
    struct idlc_unit *unit;
    const struct idlc_source *src;
    int line, col; /* position of the next character */
    bool after_cr; /* the last character was '\r' (a following '\n' is part
	                                of the same line end) */
    char *doc;     /* pending doc comment (heap, grows) */
    size_t doc_len, doc_cap;
    char last[40];      /* text of the last token (for syntax errors) */
    bool at_eof;        /* last token was end of file */
    bool eof_reported;  /* an unterminated comment/string already explained EOF */
    int lex_error_line; /* line of the last invalid character: a syntax error there
	                                is its consequence and is not reported again */
    /* parser bookkeeping: tails of the unit's lists */
    struct idlc_decl **decl_tail;
    struct idlc_msg **msg_tail;
    struct idlc_import **import_tail;
    bool seen_protocol;
    enum idlc_role role; /* role of the enclosing "from" block */
};

/* Runs flex+bison over src into u (ast.c calls it). Returns the number of syntax errors. */
int idlc_parse_source(struct idlc_ctx *ctx, struct idlc_unit *u);

/* ====================================================================== sema.c */

/*
 * Resolves and checks every unit loaded into ctx not checked yet (u and its imports, imports
 * first), then the C names the generated code of u would use (idlc_check_names). Returns 0
 * when no error was reported (in any phase), -1 otherwise (diagnostics printed). Fills the sema fields described above. Safe on any AST, but after syntax errors
 * (ctx->hard_errors != 0) it mostly reports consequences of them: the driver skips it then.
 */
int idlc_check(struct idlc_ctx *ctx, struct idlc_unit *u);

/* ====================================================================== names.c */

/*
 * The one home of generated C names. Every identifier the C templates emit that depends on the
 * IDL is spelled here: idlc_check_names() (called by idlc_check) checks them all for clashes,
 * the model writer hands them to the templates under a key (templates/c/model.m4), and the
 * templates never build a derived name themselves.
 */

/* true if name is a C keyword, a reserved identifier or otherwise unusable as an IDL name */
bool idlc_reserved_name(const char *name);
/* true if name starts with a prefix reserved for idc: idc_, IDC_, idlc_, m4_ */
bool idlc_reserved_prefix(const char *name);

/* The suffixes of the files the C template set writes, after NAME (the file name without
   .idl): ".h", "_codec.c", "_client.c", "_server.c", then NULL. */
extern const char *const idlc_c_outputs[];

enum idlc_cname_kind {
    IDLC_CN_MACRO,  /* a #define or enumerator, upper case: P_X, P_OP_M, the guard */
    IDLC_CN_GLOBAL, /* a tag, function or object NAME.h declares: p_s, p_m_send */
    IDLC_CN_HELPER, /* static in a generated .c: dec_p_s, txn_done_p_t, side_of */
    IDLC_CN_MEMBER, /* a member the templates add: on_m, the handler of m */
};

/* One generated identifier. */
struct idlc_cname {
    const char *key; /* model key ("type:p:s:dec", "msg:read:send"); NULL for the
					fixed helpers, which the templates spell themselves */
    const char *c;   /* the C spelling, interned in the unit's context */
    enum idlc_cname_kind kind;
    const char *role; /* what it is, for diagnostics ("encoder"); NULL: the
					declaration's own name */
};

typedef void idlc_cname_fn(void *arg, const struct idlc_cname *n);

/* The names of unit u itself: include guard, codec error type and, with a protocol, version,
   maximum frame, protocol descriptor, the endpoint API of both sides; with helpers, also the
   fixed static helpers of its generated .c files. */
void idlc_cnames_unit(const struct idlc_unit *u, bool helpers, idlc_cname_fn *fn, void *arg);
/* The names of a constant (its macro) or a type (tag, maximum size, codec helpers / check). */
void idlc_cnames_decl(const struct idlc_decl *d, idlc_cname_fn *fn, void *arg);
/* The constant of an enum value. */
void idlc_cnames_enumval(const struct idlc_enumval *v, idlc_cname_fn *fn, void *arg);
/* The names of message or transaction m of unit u (argument and result types, codec, API,
   opcode, sizes, helpers, the handler member). */
void idlc_cnames_msg(const struct idlc_unit *u, const struct idlc_msg *m, idlc_cname_fn *fn,
                     void *arg);
/* The member holding the element count of bounded array field (interned): "FIELD_count". */
const char *idlc_cname_count(struct idlc_ctx *ctx, const char *field);

/*
 * Checks that every name the C of unit u uses can coexist: the names of u, of every unit it
 * imports (directly or not: the generated headers include each other), the fixed helpers of its
 * generated files, and the members of each struct, against each other, against C keywords and
 * the macros of the headers the generated C includes (reserved.h). Reports each clash at the
 * IDL declaration at fault, with a note at the other one. 0, or -1 after reporting.
 */
int idlc_check_names(struct idlc_ctx *ctx, const struct idlc_unit *u);

/* ====================================================================== diag.c */

enum idlc_severity { IDLC_NOTE, IDLC_WARNING, IDLC_ERROR };

/* Reports "file:line:col: error: fmt", the source line and a caret range under loc. */
void idlc_error(struct idlc_ctx *ctx, struct idlc_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void idlc_warning(struct idlc_ctx *ctx, struct idlc_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A note attached to the previous error/warning (e.g. "previous declaration is here"). */
void idlc_note(struct idlc_ctx *ctx, struct idlc_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void idlc_diag(struct idlc_ctx *ctx, enum idlc_severity sev, struct idlc_loc loc, const char *fmt,
               ...) __attribute__((format(printf, 4, 5)));
/* Number of errors reported so far. */
unsigned idlc_error_count(const struct idlc_ctx *ctx);
/* After this many errors, further ones are dropped (a final note says so). */
#define IDLC_MAX_ERRORS 100

/* ====================================================================== driver.c */

/*
 * Compiles one file: parse, check, then (unless opt->check_only or opt->deps_stdout)
 * idlc_generate(). Writes make dependencies as requested by opt. Returns 0 on success,
 * 1 on errors in the input (diagnosed), 2 on usage/system errors.
 */
int idlc_compile(const char *path, const struct idlc_options *opt);

/* Writes "target: file.idl imports... | OUTDIR/import.h...\n" (the headers generated from the
 * imports, which the generated header includes, order-only) plus an empty rule for each
 * import and each of those headers to f. 0, or -1 on a write error. */
int idlc_write_deps(struct idlc_ctx *ctx, struct idlc_unit *u, const char *target, FILE *f);

/* The entry point of the command line program; argv as for main. */
int idlc_main(int argc, char **argv);

/* ====================================================================== output.c */

/*
 * An output file being written. A path that is a regular file or does not exist yet is
 * replaced atomically: the data goes to a temporary file next to the final file (a symlink is
 * followed: its target is replaced, the link stays) and idlc_out_publish() renames it into
 * place. Any other existing file (a character device such as /dev/null, a FIFO) is written in
 * place by idlc_out_publish(), since a rename would replace the device or FIFO itself; the
 * data is held in memory until then. Before publishing, nothing is visible at the path.
 */
struct idlc_out {
    const char *path; /* as given (borrowed: must outlive the output) */
    char *final;      /* replaced file: path with its symlinks followed */
    char *tmp;        /* the temporary file; NULL when written in place */
    FILE *f;          /* write the contents here, until idlc_out_close() */
    char *buf;        /* in place: the contents, held until published */
    size_t len;
};

/* Starts writing path: o->f is ready. 0, or -1 after reporting (o is then empty). */
int idlc_out_open(struct idlc_ctx *ctx, struct idlc_out *o, const char *path);
/* Finishes writing o->f (catches write errors such as a full disk); the path is not touched
 * yet. 0, or -1 after reporting. */
int idlc_out_close(struct idlc_ctx *ctx, struct idlc_out *o);
/* Closes o if needed and makes the contents visible at the path. 0, or -1 after reporting;
 * o is released either way. */
int idlc_out_publish(struct idlc_ctx *ctx, struct idlc_out *o);
/* Drops an unpublished output (its temporary file is removed; the path is left as it was).
 * Harmless on a released or zeroed o. */
void idlc_out_discard(struct idlc_out *o);

/*
 * Temporary files. idlc_temp_create() is mkstemp() that also lists the file in a fixed table
 * (at most 32 at a time: -1 with errno EMFILE beyond); the other calls end the listing. After
 * idlc_cleanup_on_signals() (the idlc program calls it; a program embedding libidlc decides
 * for itself), SIGINT, SIGTERM and SIGHUP remove every listed file, then end the process by
 * that signal (a signal that was ignored stays ignored).
 */
int idlc_temp_create(char *tmpl);                         /* fd, or -1 (errno) */
void idlc_temp_remove(const char *path);                  /* unlink and unlist */
void idlc_temp_keep(const char *path);                    /* unlist, the file stays */
int idlc_temp_rename(const char *tmp, const char *final); /* rename and unlist; 0 or -1 */
void idlc_cleanup_on_signals(void);

/* ====================================================================== model/generator */

/*
 * Implemented by the generator (model.c, gen.c). idlc_generate() is called by the driver only
 * for a unit that passed idlc_check(); it writes the files the template set names (the C set:
 * NAME.h NAME_codec.c NAME_client.c NAME_server.c) into opt->out_dir (NAME = u->basename),
 * each as an idlc_out published once all were produced, and returns 0, or reports the problem
 * and returns non-zero (no output file left behind). A template that fails reports the IDL
 * location it was expanding (see idc_fatal in templates/c/model.m4).
 */
int idlc_generate(const struct idlc_unit *u, const struct idlc_options *opt);

/* model.c: writes the m4 model of checked unit u (format: templates/c/model.m4). Returns 0, or
 * -1 after reporting (allocation or write failure). */
int idlc_model_write(const struct idlc_unit *u, FILE *out);
/* FNV-1a 64 of the canonical text of u as seen by a version-v peer (docs/wire.md). */
uint64_t idlc_version_hash(const struct idlc_unit *u, uint32_t v);
/* Writes that canonical text to out; 0 or -1. */
int idlc_canonical_text(const struct idlc_unit *u, uint32_t v, FILE *out);
/* Undoes the model's text escapes (@<@ @>@ @%@ @=@ @-@ @@@ @;@ @[@ @]@) in s[0..len) in place; new length. */
size_t idlc_unescape(char *s, size_t len);

#endif /* IDLC_H */
