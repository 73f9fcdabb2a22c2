/*
 * parser.y - grammar of the idc interface definition language (docs/idl.md).
 *
 * A pure, LAC-enabled bison parser building the AST of idlc.h into the unit held by the
 * scanner state. It does no name resolution (sema.c does); it only reports syntax errors
 * ("expected ';' before '}'") and recovers at ';' and '}' so one run reports several.
 */
%code requires {
#include "idlc.h"
typedef void *yyscan_t;

/* list builders: head, tail pointer, count */
struct idlc_flist { struct idlc_field *head, **tail; size_t n; };
struct idlc_evlist { struct idlc_enumval *head, **tail; size_t n; };
struct idlc_armlist { struct idlc_arm *head, **tail; size_t n; };
struct idlc_lablist { struct idlc_case_label *head, **tail; };
struct idlc_suffix { int kind; struct idlc_expr *expr; struct idlc_loc loc; };
#define IDLC_SFX_NONE 0
#define IDLC_SFX_FIXED 1
#define IDLC_SFX_BOUNDED 2
#define IDLC_SFX_UNBOUNDED 3
struct idlc_results { struct idlc_flist list; bool present; };
struct idlc_raises { const char *name; struct idlc_loc loc; };
struct idlc_popts {
    struct idlc_expr *version, *max_frame;
    struct idlc_loc version_loc, max_frame_loc;
};
}

%code provides {
int yylex(YYSTYPE *yylval_param, YYLTYPE *yylloc_param, yyscan_t yyscanner);
}

%code {
#include <string.h>
#include "lexer.h"

#define YYLLOC_DEFAULT(Cur, Rhs, N)                                         \
    do {                                                                \
        if (N) {                                                    \
            (Cur).file = YYRHSLOC(Rhs, 1).file;                 \
            (Cur).line = YYRHSLOC(Rhs, 1).line;                 \
            (Cur).col = YYRHSLOC(Rhs, 1).col;                   \
            (Cur).end_line = YYRHSLOC(Rhs, N).end_line;         \
            (Cur).end_col = YYRHSLOC(Rhs, N).end_col;           \
        } else {                                                    \
            (Cur).file = YYRHSLOC(Rhs, 0).file;                 \
            (Cur).line = (Cur).end_line = YYRHSLOC(Rhs, 0).end_line; \
            (Cur).col = (Cur).end_col = YYRHSLOC(Rhs, 0).end_col + 1; \
        }                                                           \
    } while (0)

#define LS() ((struct idlc_lexstate *)yyget_extra(scanner))
#define CTX() (LS()->ctx)
#define UNIT() (LS()->unit)
/* an error in an otherwise well-formed AST (sema may still run) */
#define SOFT_ERROR(ctx, ...) ((ctx)->soft_errors++, idlc_error((ctx), __VA_ARGS__))

static struct idlc_expr *mk_expr(yyscan_t scanner, enum idlc_expr_kind k, struct idlc_loc loc)
{
    struct idlc_expr *e = idlc_alloc(CTX(), sizeof *e);
    e->kind = k;
    e->loc = loc;
    return e;
}

static struct idlc_expr *mk_bin(yyscan_t scanner, int op, struct idlc_expr *a, struct idlc_expr *b,
                struct idlc_loc loc)
{
    struct idlc_expr *e = mk_expr(scanner, IDLC_E_BINARY, loc);
    e->op = op;
    e->lhs = a;
    e->rhs = b;
    return e;
}

static struct idlc_expr *mk_un(yyscan_t scanner, int op, struct idlc_expr *a, struct idlc_loc loc)
{
    struct idlc_expr *e = mk_expr(scanner, IDLC_E_UNARY, loc);
    e->op = op;
    e->lhs = a;
    return e;
}

static struct idlc_type *mk_type(yyscan_t scanner, enum idlc_type_kind k, struct idlc_loc loc,
                 const char *doc)
{
    struct idlc_type *t = idlc_alloc(CTX(), sizeof *t);
    t->kind = k;
    t->loc = loc;
    t->doc = doc;
    return t;
}

static struct idlc_field *mk_field(yyscan_t scanner, struct idlc_type *t, struct idlc_tok name,
                   struct idlc_loc nloc, struct idlc_suffix sfx,
                   struct idlc_attrs attrs)
{
    struct idlc_field *f = idlc_alloc(CTX(), sizeof *f);
    f->name = name.s;
    f->loc = nloc;
    f->doc = t->doc;
    f->attrs = attrs;
    if (sfx.kind == IDLC_SFX_UNBOUNDED) {
        SOFT_ERROR(CTX(), sfx.loc, "array '%s' has no bound; write [N] for a fixed or [<= N] for a bounded array",
               name.s);
    }
    if (sfx.kind != IDLC_SFX_NONE) {
        struct idlc_loc l = t->loc;
        l.end_line = sfx.loc.end_line;
        l.end_col = sfx.loc.end_col;
        /* the array type spans from the element type to the closing ']' */
        struct idlc_type *a = mk_type(scanner, sfx.kind == IDLC_SFX_FIXED ? IDLC_T_ARRAY : IDLC_T_VECTOR,
                          l, NULL);
        a->elem = t;
        a->bound_expr = sfx.expr;
        t = a;
    }
    f->type = t;
    return f;
}

static void flist_add(struct idlc_flist *l, struct idlc_field *f)
{
    if (!f)
        return;
    *l->tail = f;
    l->tail = &f->next;
    l->n++;
}

static void add_decl(yyscan_t scanner, struct idlc_decl *d)
{
    struct idlc_lexstate *ls = LS();
    d->unit = ls->unit;
    *ls->decl_tail = d;
    ls->decl_tail = &d->next;
    ls->unit->ndecls++;
}

static struct idlc_decl *mk_decl(yyscan_t scanner, enum idlc_decl_kind k, struct idlc_tok kw,
                 struct idlc_loc kwloc, struct idlc_tok name, struct idlc_loc nloc)
{
    struct idlc_decl *d = idlc_alloc(CTX(), sizeof *d);
    d->kind = k;
    d->kw_loc = kwloc;
    d->doc = kw.doc;
    d->name = name.s;
    d->loc = nloc;
    return d;
}

static void add_msg(yyscan_t scanner, struct idlc_msg *m)
{
    struct idlc_lexstate *ls = LS();
    *ls->msg_tail = m;
    ls->msg_tail = &m->next;
    ls->unit->nmsgs++;
}

/* only called for parser stack exhaustion: syntax errors go to yyreport_syntax_error */
static void yyerror(YYLTYPE *loc, yyscan_t scanner, const char *msg)
{
    if (!strcmp(msg, "memory exhausted"))
        idlc_error(CTX(), *loc, "nested too deeply for the parser");
    else
        idlc_error(CTX(), *loc, "%s", msg);
}
}

%define api.pure full
%define api.location.type {struct idlc_loc}
%define parse.error custom
%define parse.lac full
%locations
%param {yyscan_t scanner}
%expect 0

%union {
    struct idlc_tok tok;
    struct idlc_expr *expr;
    struct idlc_type *type;
    struct idlc_field *field;
    struct idlc_flist flist;
    struct idlc_enumval *ev;
    struct idlc_evlist evlist;
    struct idlc_arm *arm;
    struct idlc_armlist armlist;
    struct idlc_lablist lablist;
    struct idlc_suffix sfx;
    struct idlc_attrs attrs;
    struct idlc_results results;
    struct idlc_raises raises;
    struct idlc_popts popts;
    unsigned rights;
}

%token END 0 "end of file"
%token <tok> PROTOCOL "protocol" IMPORT "import" CONST "const" ENUM "enum" STRUCT "struct"
%token <tok> UNION "union" CASE "case" VOID "void" FROM "from" MESSAGE "message"
%token <tok> TRANSACTION "transaction" RAISES "raises"
%token <tok> BOOL "bool" U8 "u8" U16 "u16" U32 "u32" U64 "u64"
%token <tok> I8 "i8" I16 "i16" I32 "i32" I64 "i64" STRING "string" BUFFER "buffer"
%token <tok> ARROW "->" LE "<=" SHL "<<" SHR ">>"
%token <tok> IDENT "identifier" INTEGER "integer" STRLIT "string literal"
%token <tok> '{' '}' '(' ')' '[' ']' '<' '>' ',' ';' ':' '=' '.' '+' '-' '*' '/' '%' '&' '|' '^' '~' '@'

%type <expr> expr primary
%type <type> type
%type <field> field param arm_body
%type <flist> fields params params_opt
%type <ev> enumval
%type <evlist> enumvals enum_body
%type <arm> arm
%type <armlist> arms
%type <lablist> labels
%type <sfx> suffix
%type <attrs> attrs
%type <results> results_opt
%type <raises> raises_opt
%type <popts> popts
%type <rights> rights
%type <tok> enum_repr

%left '|'
%left '^'
%left '&'
%left "<<" ">>"
%left '+' '-'
%left '*' '/' '%'
%precedence UNARY

%%

/* file: item* */
file
    : %empty
    | file item
    ;

/* item: protocol | import | const | enum | struct | union | role block | ';' */
item
    : protocol
    | import
    | const
    | enum
    | struct
    | union
    | role
    | ';'
    | error ';'      { yyerrok; }
    | error '}'      { yyerrok; }
    ;

/* protocol: "protocol" NAME (OPTION expr)* ';'     options: version N, max_frame N */
protocol
    : "protocol" IDENT popts ';'
        {
            struct idlc_unit *u = UNIT();
            if (LS()->seen_protocol) {
                SOFT_ERROR(CTX(), @2, "second protocol declaration '%s' in this file", $2.s);
                idlc_note(CTX(), u->name_loc, "the protocol '%s' is declared here", u->name);
            } else {
                LS()->seen_protocol = true;
                u->has_protocol = true;
                u->name = $2.s;
                u->name_loc = @2;
                u->doc = $1.doc;
                u->version_expr = $3.version;
                u->version_loc = $3.version_loc;
                u->max_frame_expr = $3.max_frame;
                u->max_frame_loc = $3.max_frame_loc;
            }
        }
    ;

popts
    : %empty         { memset(&$$, 0, sizeof $$); }
    | popts IDENT expr
        {
            $$ = $1;
            if (!strcmp($2.s, "version")) {
                if ($$.version)
                    SOFT_ERROR(CTX(), @2, "protocol option 'version' given twice");
                $$.version = $3;
                $$.version_loc = @3;
            } else if (!strcmp($2.s, "max_frame")) {
                if ($$.max_frame)
                    SOFT_ERROR(CTX(), @2, "protocol option 'max_frame' given twice");
                $$.max_frame = $3;
                $$.max_frame_loc = @3;
            } else {
                SOFT_ERROR(CTX(), @2, "unknown protocol option '%s' (expected 'version' or 'max_frame')", $2.s);
            }
        }
    ;

/* import: "import" STRING ';' */
import
    : "import" STRLIT ';'
        {
            struct idlc_lexstate *ls = LS();
            struct idlc_import *im = idlc_alloc(CTX(), sizeof *im);
            im->path = $2.s;
            im->loc = @2;
            *ls->import_tail = im;
            ls->import_tail = &im->next;
        }
    ;

/* const: "const" NAME '=' expr ';' */
const
    : "const" IDENT '=' expr ';'
        {
            struct idlc_decl *d = mk_decl(scanner, IDLC_D_CONST, $1, @1, $2, @2);
            d->expr = $4;
            add_decl(scanner, d);
        }
    ;

/* enum: "enum" NAME [':' INTTYPE] '{' [value (',' value)* [',']] '}' */
enum
    : "enum" IDENT enum_repr '{' enum_body '}'
        {
            struct idlc_decl *d = mk_decl(scanner, IDLC_D_ENUM, $1, @1, $2, @2);
            d->repr = $3.n ? (enum idlc_type_kind)$3.n : IDLC_T_U32;
            d->repr_loc = $3.n ? @3 : @2;
            d->values = $5.head;
            d->nvalues = $5.n;
            for (struct idlc_enumval *v = d->values; v; v = v->next)
                v->owner = d;
            add_decl(scanner, d);
        }
    ;

enum_repr
    : %empty         { $$.n = 0; $$.s = NULL; $$.doc = NULL; }
    | ':' U8         { $$ = $2; $$.n = IDLC_T_U8; }
    | ':' U16        { $$ = $2; $$.n = IDLC_T_U16; }
    | ':' U32        { $$ = $2; $$.n = IDLC_T_U32; }
    | ':' U64        { $$ = $2; $$.n = IDLC_T_U64; }
    | ':' I8         { $$ = $2; $$.n = IDLC_T_I8; }
    | ':' I16        { $$ = $2; $$.n = IDLC_T_I16; }
    | ':' I32        { $$ = $2; $$.n = IDLC_T_I32; }
    | ':' I64        { $$ = $2; $$.n = IDLC_T_I64; }
    ;

enum_body
    : %empty         { $$.head = NULL; $$.tail = &$$.head; $$.n = 0; }
    | enumvals       { $$ = $1; }
    | enumvals ','   { $$ = $1; }
    ;

enumvals
    : enumval        { $$.head = $1; $$.tail = &$1->next; $$.n = 1; }
    | enumvals ',' enumval
        { $$ = $1; *$$.tail = $3; $$.tail = &$3->next; $$.n++; }
    ;

/* value: NAME ['=' expr] attrs */
enumval
    : IDENT attrs
        {
            $$ = idlc_alloc(CTX(), sizeof *$$);
            $$->name = $1.s;
            $$->loc = @1;
            $$->doc = $1.doc;
            $$->attrs = $2;
        }
    | IDENT '=' expr attrs
        {
            $$ = idlc_alloc(CTX(), sizeof *$$);
            $$->name = $1.s;
            $$->loc = @1;
            $$->doc = $1.doc;
            $$->expr = $3;
            $$->attrs = $4;
        }
    ;

/* struct: "struct" NAME '{' field* '}' */
struct
    : "struct" IDENT '{' fields '}'
        {
            struct idlc_decl *d = mk_decl(scanner, IDLC_D_STRUCT, $1, @1, $2, @2);
            d->fields = $4.head;
            d->nfields = $4.n;
            add_decl(scanner, d);
        }
    ;

fields
    : %empty         { $$.head = NULL; $$.tail = &$$.head; $$.n = 0; }
    | fields field   { $$ = $1; flist_add(&$$, $2); }
    ;

/* field: type NAME suffix attrs ';' */
field
    : type IDENT suffix attrs ';'
        { $$ = mk_field(scanner, $1, $2, @2, $3, $4); }
    | error ';'
        { $$ = NULL; yyerrok; }
    | error
        { $$ = NULL; }
    ;

/* suffix: nothing | '[' expr ']' | '[' "<=" expr ']' */
suffix
    : %empty               { $$.kind = IDLC_SFX_NONE; $$.expr = NULL; $$.loc = @$; }
    | '[' expr ']'         { $$.kind = IDLC_SFX_FIXED; $$.expr = $2; $$.loc = @$; }
    | '[' "<=" expr ']'    { $$.kind = IDLC_SFX_BOUNDED; $$.expr = $3; $$.loc = @$; }
    | '[' ']'              { $$.kind = IDLC_SFX_UNBOUNDED; $$.expr = NULL; $$.loc = @$; }
    ;

/* attrs: ('@' NAME '(' expr ')')*        the only attribute is since */
attrs
    : %empty         { memset(&$$, 0, sizeof $$); }
    | attrs '@' IDENT '(' expr ')'
        {
            $$ = $1;
            if (strcmp($3.s, "since")) {
                SOFT_ERROR(CTX(), @3, "unknown attribute '@%s' (the only attribute is '@since')", $3.s);
            } else if ($$.since_expr) {
                SOFT_ERROR(CTX(), @2, "'@since' given twice");
            } else {
                $$.since_expr = $5;
                $$.since_loc = @2;
                $$.since_loc.end_line = @6.end_line;
                $$.since_loc.end_col = @6.end_col;
            }
        }
    ;

/* type: bool | u8..u64 | i8..i64 | NAME | "string" '<' expr '>' | "buffer" ['<' rights '>']
 *       (also NAME '<' expr '>', always an error, to explain "bytes<N>") */
type
    : "bool"         { $$ = mk_type(scanner, IDLC_T_BOOL, @1, $1.doc); }
    | "u8"           { $$ = mk_type(scanner, IDLC_T_U8, @1, $1.doc); }
    | "u16"          { $$ = mk_type(scanner, IDLC_T_U16, @1, $1.doc); }
    | "u32"          { $$ = mk_type(scanner, IDLC_T_U32, @1, $1.doc); }
    | "u64"          { $$ = mk_type(scanner, IDLC_T_U64, @1, $1.doc); }
    | "i8"           { $$ = mk_type(scanner, IDLC_T_I8, @1, $1.doc); }
    | "i16"          { $$ = mk_type(scanner, IDLC_T_I16, @1, $1.doc); }
    | "i32"          { $$ = mk_type(scanner, IDLC_T_I32, @1, $1.doc); }
    | "i64"          { $$ = mk_type(scanner, IDLC_T_I64, @1, $1.doc); }
    | IDENT
        {
            $$ = mk_type(scanner, IDLC_T_NAMED, @1, $1.doc);
            $$->name = $1.s;
        }
    | IDENT '<' expr '>'
        {
            /* no named type takes a bound: sema says so, or explains "bytes<N>" */
            $$ = mk_type(scanner, IDLC_T_NAMED, @1, $1.doc);
            $$->name = $1.s;
            $$->bound_expr = $3;
        }
    | "string" '<' expr '>'
        {
            $$ = mk_type(scanner, IDLC_T_STRING, @$, $1.doc);
            $$->bound_expr = $3;
        }
    | "string"
        {
            SOFT_ERROR(CTX(), @1, "string has no bound; write string<N>");
            idlc_note(CTX(), @1, "a string is text without NUL bytes; for binary data write "
                  "a bounded array of bytes: 'u8 NAME[<= N]'");
            $$ = mk_type(scanner, IDLC_T_STRING, @1, $1.doc);
            $$->bound_expr = NULL;
        }
    | "buffer"
        {
            $$ = mk_type(scanner, IDLC_T_BUFFER, @1, $1.doc);
            $$->rights = 0;
        }
    | "buffer" '<' rights '>'
        {
            $$ = mk_type(scanner, IDLC_T_BUFFER, @$, $1.doc);
            $$->rights = $3;
        }
    ;

/* rights: right (',' right)*        right: read | write */
rights
    : IDENT
        {
            $$ = 0;
            if (!strcmp($1.s, "read"))
                $$ = IDLC_BUF_READ;
            else if (!strcmp($1.s, "write"))
                $$ = IDLC_BUF_WRITE;
            else
                SOFT_ERROR(CTX(), @1, "unknown buffer right '%s' (expected 'read' or 'write')", $1.s);
        }
    | rights ',' IDENT
        {
            unsigned r = 0;
            if (!strcmp($3.s, "read"))
                r = IDLC_BUF_READ;
            else if (!strcmp($3.s, "write"))
                r = IDLC_BUF_WRITE;
            else
                SOFT_ERROR(CTX(), @3, "unknown buffer right '%s' (expected 'read' or 'write')", $3.s);
            if ($1 & r)
                SOFT_ERROR(CTX(), @3, "buffer right '%s' given twice", $3.s);
            $$ = $1 | r;
        }
    ;

/* union: "union" NAME ':' ENUMNAME '{' arm+ '}' */
union
    : "union" IDENT ':' IDENT '{' arms '}'
        {
            struct idlc_decl *d = mk_decl(scanner, IDLC_D_UNION, $1, @1, $2, @2);
            d->tag_name = $4.s;
            d->tag_loc = @4;
            d->arms = $6.head;
            d->narms = $6.n;
            add_decl(scanner, d);
        }
    ;

arms
    : %empty         { $$.head = NULL; $$.tail = &$$.head; $$.n = 0; }
    | arms arm       { $$ = $1; *$$.tail = $2; $$.tail = &$2->next; $$.n++; }
    ;

/* arm: "case" NAME (',' NAME)* ':' (field | "void" ';') */
arm
    : "case" labels ':' arm_body
        {
            $$ = idlc_alloc(CTX(), sizeof *$$);
            $$->labels = $2.head;
            $$->field = $4;
            $$->loc = @1;
            $$->doc = $1.doc;
        }
    ;

labels
    : IDENT
        {
            struct idlc_case_label *l = idlc_alloc(CTX(), sizeof *l);
            l->name = $1.s;
            l->loc = @1;
            $$.head = l;
            $$.tail = &l->next;
        }
    | labels ',' IDENT
        {
            struct idlc_case_label *l = idlc_alloc(CTX(), sizeof *l);
            l->name = $3.s;
            l->loc = @3;
            $$ = $1;
            *$$.tail = l;
            $$.tail = &l->next;
        }
    ;

arm_body
    : "void" ';'     { $$ = NULL; }
    | type IDENT suffix attrs ';'
        { $$ = mk_field(scanner, $1, $2, @2, $3, $4); }
    ;

/* role: "from" ("frontend" | "backend") '{' (message | transaction)* '}' */
role
    : "from" IDENT
        {
            if (!strcmp($2.s, "frontend")) {
                LS()->role = IDLC_ROLE_FRONTEND;
            } else if (!strcmp($2.s, "backend")) {
                LS()->role = IDLC_ROLE_BACKEND;
            } else {
                SOFT_ERROR(CTX(), @2, "unknown role '%s' (expected 'frontend' or 'backend')", $2.s);
                LS()->role = IDLC_ROLE_FRONTEND;
            }
        }
      '{' msgs '}'
    ;

msgs
    : %empty
    | msgs msg
    ;

/* message: "message" NAME '(' params ')' attrs ';'
 * transaction: "transaction" NAME '(' params ')' ["->" '(' params ')'] ["raises" ENUM] attrs ';' */
msg
    : "message" IDENT '(' params_opt ')' attrs ';'
        {
            struct idlc_msg *m = idlc_alloc(CTX(), sizeof *m);
            m->kind = IDLC_M_MESSAGE;
            m->role = LS()->role;
            m->name = $2.s;
            m->loc = @2;
            m->kw_loc = @1;
            m->doc = $1.doc;
            m->params = $4.head;
            m->nparams = $4.n;
            m->attrs = $6;
            add_msg(scanner, m);
        }
    | "transaction" IDENT '(' params_opt ')' results_opt raises_opt attrs ';'
        {
            struct idlc_msg *m = idlc_alloc(CTX(), sizeof *m);
            m->kind = IDLC_M_TRANSACTION;
            m->role = LS()->role;
            m->name = $2.s;
            m->loc = @2;
            m->kw_loc = @1;
            m->doc = $1.doc;
            m->params = $4.head;
            m->nparams = $4.n;
            m->results = $6.list.head;
            m->nresults = $6.list.n;
            m->raises_name = $7.name;
            m->raises_loc = $7.loc;
            m->attrs = $8;
            add_msg(scanner, m);
        }
    | error ';'      { yyerrok; }
    | error
    ;

results_opt
    : %empty         { $$.list.head = NULL; $$.list.tail = &$$.list.head; $$.list.n = 0; $$.present = false; }
    | "->" '(' params_opt ')'
        { $$.list = $3; $$.present = true; }
    ;

raises_opt
    : %empty         { $$.name = NULL; $$.loc = @$; }
    | "raises" IDENT { $$.name = $2.s; $$.loc = @2; }
    ;

params_opt
    : %empty         { $$.head = NULL; $$.tail = &$$.head; $$.n = 0; }
    | params         { $$ = $1; }
    ;

params
    : param          { $$.head = NULL; $$.tail = &$$.head; $$.n = 0; flist_add(&$$, $1); }
    | params ',' param
        { $$ = $1; flist_add(&$$, $3); }
    ;

/* param: type NAME suffix attrs */
param
    : type IDENT suffix attrs
        { $$ = mk_field(scanner, $1, $2, @2, $3, $4); }
    ;

/* expr: C integer expressions over literals, consts and ENUM.VALUE */
expr
    : expr '|' expr  { $$ = mk_bin(scanner, '|', $1, $3, @$); }
    | expr '^' expr  { $$ = mk_bin(scanner, '^', $1, $3, @$); }
    | expr '&' expr  { $$ = mk_bin(scanner, '&', $1, $3, @$); }
    | expr "<<" expr { $$ = mk_bin(scanner, IDLC_OP_SHL, $1, $3, @$); }
    | expr ">>" expr { $$ = mk_bin(scanner, IDLC_OP_SHR, $1, $3, @$); }
    | expr '+' expr  { $$ = mk_bin(scanner, '+', $1, $3, @$); }
    | expr '-' expr  { $$ = mk_bin(scanner, '-', $1, $3, @$); }
    | expr '*' expr  { $$ = mk_bin(scanner, '*', $1, $3, @$); }
    | expr '/' expr  { $$ = mk_bin(scanner, '/', $1, $3, @$); }
    | expr '%' expr  { $$ = mk_bin(scanner, '%', $1, $3, @$); }
    | '-' expr %prec UNARY { $$ = mk_un(scanner, '-', $2, @$); }
    | '~' expr %prec UNARY { $$ = mk_un(scanner, '~', $2, @$); }
    | '+' expr %prec UNARY { $$ = mk_un(scanner, '+', $2, @$); }
    | primary        { $$ = $1; }
    ;

primary
    : INTEGER
        {
            $$ = mk_expr(scanner, IDLC_E_INT, @1);
            $$->value.u = $1.n;
            $$->evaluated = true;
        }
    | IDENT
        {
            $$ = mk_expr(scanner, IDLC_E_REF, @1);
            $$->name = $1.s;
        }
    | IDENT '.' IDENT
        {
            $$ = mk_expr(scanner, IDLC_E_REF, @$);
            $$->name = $1.s;
            $$->member = $3.s;
        }
    | '(' expr ')'   { $$ = $2; $$->loc = @$; }
    ;

%%

/* ';' stays ';', a keyword becomes 'case', a token class stays as is (identifier) */
static const char *tok_display(yysymbol_kind_t k, char *buf, size_t n)
{
    const char *s = yysymbol_name(k);
    if (k == YYSYMBOL_IDENT || k == YYSYMBOL_INTEGER || k == YYSYMBOL_STRLIT ||
        k == YYSYMBOL_YYEOF || s[0] == '\'')
        return s;
    size_t l = strlen(s);
    if (l >= 2 && s[0] == '"')
        snprintf(buf, n, "'%.*s'", (int)(l - 2), s + 1);
    else
        snprintf(buf, n, "'%s'", s);
    return buf;
}

static int yyreport_syntax_error(const yypcontext_t *yyctx, yyscan_t scanner)
{
    struct idlc_lexstate *ls = LS();
    yysymbol_kind_t la = yypcontext_token(yyctx);
    const YYLTYPE *loc = yypcontext_location(yyctx);
    if (la == YYSYMBOL_YYEOF && ls->eof_reported)
        return 0;
    if (loc->line == ls->lex_error_line)
        return 0; /* caused by the invalid character reported on this line */
    char before[96];
    if (la == YYSYMBOL_YYEOF)
        snprintf(before, sizeof before, "at end of file");
    else if (la == YYSYMBOL_STRLIT)
        snprintf(before, sizeof before, "before string literal");
    else
        snprintf(before, sizeof before, "before '%s'", ls->last);

    enum { MAXEXP = 5 };
    yysymbol_kind_t all[YYNTOKENS];
    int nall = yypcontext_expected_tokens(yyctx, all, YYNTOKENS);
    yysymbol_kind_t exp[MAXEXP];
    int n = 0;
    bool top = false;
    for (int i = 0; i < nall; i++)
        if (all[i] == YYSYMBOL_PROTOCOL)
            top = true;
    if (top && (la == YYSYMBOL_MESSAGE || la == YYSYMBOL_TRANSACTION)) {
        idlc_error(ls->ctx, *loc, "'%s' must be inside 'from frontend { ... }' or 'from backend { ... }'",
               ls->last);
        return 0;
    }
    if (top) {
        idlc_error(ls->ctx, *loc,
               "expected a declaration (protocol, import, const, enum, struct, union or from) %s",
               before);
        return 0;
    }
    if (nall <= MAXEXP) {
        for (int i = 0; i < nall; i++)
            exp[n++] = all[i];
    } else {
        bool has_int = false, has_type = false, has_close = false;
        for (int i = 0; i < nall; i++) {
            has_int |= all[i] == YYSYMBOL_INTEGER;
            has_type |= all[i] == YYSYMBOL_U32;
            has_close |= !strcmp(yysymbol_name(all[i]), "'}'");
        }
        if (has_int && !has_type) {
            idlc_error(ls->ctx, *loc, "expected an expression %s", before);
            return 0;
        }
        if (has_type) {
            idlc_error(ls->ctx, *loc, "expected a type%s %s", has_close ? " or '}'" : "", before);
            return 0;
        }
        /* too many to list: name the closing token the construct is waiting for */
        static const char *const pref[] = { "';'", "')'", "']'", "'>'", "'}'" };
        for (size_t j = 0; j < sizeof pref / sizeof pref[0] && !n; j++)
            for (int i = 0; i < nall; i++)
                if (!strcmp(yysymbol_name(all[i]), pref[j])) {
                    exp[n++] = all[i];
                    break;
                }
    }
    if (n == 0) {
        if (la == YYSYMBOL_YYEOF)
            idlc_error(ls->ctx, *loc, "unexpected end of file");
        else
            idlc_error(ls->ctx, *loc, "unexpected '%s'", ls->last);
        return 0;
    }
    char msg[512];
    size_t off = 0;
    off += (size_t)snprintf(msg + off, sizeof msg - off, "expected ");
    for (int i = 0; i < n; i++) {
        char b[64];
        const char *sep = i == 0 ? "" : (i == n - 1 ? " or " : ", ");
        off += (size_t)snprintf(msg + off, sizeof msg - off, "%s%s", sep,
                    tok_display(exp[i], b, sizeof b));
        if (off >= sizeof msg)
            break;
    }
    idlc_error(ls->ctx, *loc, "%s %s", msg, before);
    return 0;
}
