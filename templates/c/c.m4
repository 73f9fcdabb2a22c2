m4_include(`model.m4')
m4_dnl c.m4 - helpers shared by the C templates (header.m4, client.m4, server.m4):
m4_dnl names, C types, doc comments, constants, and the encoder/decoder statements.
m4_dnl Every macro is idc_*; C text that names the runtime (idc_endpoint, IDC_ERR_PROTO...)
m4_dnl passes through because no macro of that name exists.

m4_dnl ================================================================ names and text

m4_dnl idc_upper(TEXT)
m4_define(`idc_upper', `m4_translit(`$1', `a-z', `A-Z')')

m4_dnl idc_doc(INDENT, DOC): DOC as a C comment block (nothing when empty). A `*/' or `/*'
m4_dnl inside the text is broken up so the comment cannot end early or nest.
m4_define(`idc_doc', `m4_ifelse(`$2', `', `', `m4_ifelse(m4_index(`$2', `
'), `-1', `$1/** idc_cdoc(`$2') */
', `$1/**
$1 *m4_patsubst(m4_patsubst(` 'idc_cdoc(`$2'), `
', `
$1 * '), ` +$', `')
$1 */
')')')
m4_dnl idc_cdoc(TEXT): TEXT with `*/' and `/*' broken up, trailing blanks removed
m4_define(`idc_cdoc', `m4_patsubst(m4_patsubst(m4_patsubst(`$1', `\*/', `* /'), `/\*', `/ *'), ` +$', `')')

m4_dnl idc_cvalue(VALUE, RANGE): a C integer constant of the right type
m4_define(`idc_cvalue', `m4_ifelse(`$1', `-9223372036854775808', `(-INT64_C(9223372036854775807) - 1)',
`$2', `i32', `m4_ifelse(m4_substr(`$1', 0, 1), `-', `($1)', `$1')',
`$2', `u32', `$1u',
`$2', `i64', `INT64_C($1)',
`UINT64_C($1)')')

m4_dnl ================================================================ types

m4_dnl idc_scalar_ctype(KIND)
m4_define(`idc_scalar_ctype', `m4_ifelse(`$1', `bool', `bool', `$1', `u8', `uint8_t',
`$1', `u16', `uint16_t', `$1', `u32', `uint32_t', `$1', `u64', `uint64_t', `$1', `i8', `int8_t',
`$1', `i16', `int16_t', `$1', `i32', `int32_t', `$1', `i64', `int64_t',
`idc_fatal(`not a scalar type: $1')')')

m4_dnl idc_enum_repr(UNIT, NAME): representation kind of an enum of the model
m4_define(`idc_enum_repr', `m4_ifdef(`idc_repr_$1_$2', `m4_indir(`idc_repr_$1_$2')',
`idc_fatal(`unknown enum $1.$2')')')

m4_dnl idc_ctype(KIND, A1, A2): C type of a non-array type
m4_define(`idc_ctype', `m4_ifelse(`$1', `enum', `idc_scalar_ctype(idc_enum_repr(`$2', `$3'))',
`$1', `struct', `struct $2_$3', `$1', `union', `struct $2_$3',
`$1', `string', `char', `$1', `buffer', `struct idc_rbuf', `idc_scalar_ctype(`$1')')')

m4_dnl idc_csuffix(KIND, A1): array suffix a string needs for its NUL
m4_define(`idc_csuffix', `m4_ifelse(`$1', `string', `[$2 + 1]')')

m4_dnl idc_cfield(INDENT, NAME, TYPE...): the member declaration(s) of a field
m4_define(`idc_cfield', `m4_ifelse(
`$3', `array', `$1`'idc_ctype(`$5', `$6', `$7') $2[$4]`'idc_csuffix(`$5', `$6');',
`$3', `vector', `$1`'uint32_t $2_count;   /* elements used in $2 */
$1`'idc_ctype(`$5', `$6', `$7') $2[$4]`'idc_csuffix(`$5', `$6');',
`$1`'idc_ctype(`$3', `$4', `$5') $2`'idc_csuffix(`$3', `$4');')')

m4_dnl idc_cnote(TYPE...): a short comment saying what the IDL type was, where C loses it
m4_define(`idc_cnote', `m4_ifelse(
`$1', `enum', `   /* enum $2_$3 */',
`$1', `string', `   /* string<$2>, NUL-terminated */',
`$1', `buffer', `m4_ifelse(`$2', `0', `', `   /* buffer, requires m4_ifelse(`$2', `1', `read', `$2', `2', `write', `read+write') */')',
`$1', `vector', `   /* at most $2 */',
`$1', `array', `m4_ifelse(`$3', `enum', `   /* enum $4_$5 */')',
`')')

m4_dnl ================================================================ codec statements
m4_dnl Generated decoders read through `struct wire_in *in' into `v', encoders write from `v'
m4_dnl through `struct wire_out *out'. WHAT is the field path used in error reasons.

m4_dnl idc_dec_elem(INDENT, LVALUE, WHAT, KIND, A1, A2)
m4_define(`idc_dec_elem', `m4_ifelse(
`$4', `enum', `$1if (get_`'idc_enum_repr(`$5', `$6')`'(in, "$3", &$2))
$1	return IDC_ERR_PROTO;
$1if (!valid_$5_$6($2, in->version))
$1	return wire_reject(in, "$3", "not a value of enum $6 at the negotiated version");
',
`$4', `struct', `$1if (dec_$5_$6(in, &$2))
$1	return IDC_ERR_PROTO;
',
`$4', `union', `$1if (dec_$5_$6(in, &$2))
$1	return IDC_ERR_PROTO;
',
`$4', `string', `$1if (get_string(in, "$3", $2, $5))
$1	return IDC_ERR_PROTO;
',
`$4', `buffer', `$1if (get_rbuf(in, "$3", &$2, $5))
$1	return IDC_ERR_PROTO;
',
`$1if (get_$4(in, "$3", &$2))
$1	return IDC_ERR_PROTO;
')')

m4_dnl idc_dec_field(INDENT, LVALUE, WHAT, TYPE...)
m4_define(`idc_dec_field', `m4_ifelse(
`$4', `array', `$1for (uint32_t i = 0; i < $5; i++) {
idc_dec_elem(`$1	', `$2[i]', `$3[]', `$6', `$7', `$8')$1}
',
`$4', `vector', `$1if (get_count(in, "$3", &$2_count, $5))
$1	return IDC_ERR_PROTO;
$1for (uint32_t i = 0; i < $2_count; i++) {
idc_dec_elem(`$1	', `$2[i]', `$3[]', `$6', `$7', `$8')$1}
',
`idc_dec_elem(`$1', `$2', `$3', `$4', `$5', `$6')')')

m4_dnl idc_enc_elem(INDENT, RVALUE, WHAT, KIND, A1, A2)
m4_define(`idc_enc_elem', `m4_ifelse(
`$4', `enum', `$1if (!valid_$5_$6($2, out->version))
$1	return wire_refuse(out, "$3", "not a value of enum $6 at the negotiated version", IDC_ERR_INVAL);
$1if (put_`'idc_enum_repr(`$5', `$6')`'(out, "$3", $2))
$1	return out->rc;
',
`$4', `struct', `$1if (enc_$5_$6(out, &$2))
$1	return out->rc;
',
`$4', `union', `$1if (enc_$5_$6(out, &$2))
$1	return out->rc;
',
`$4', `string', `$1if (put_string(out, "$3", $2, $5))
$1	return out->rc;
',
`$4', `buffer', `$1if (put_rbuf(out, "$3", &$2, $5))
$1	return out->rc;
',
`$1if (put_$4(out, "$3", $2))
$1	return out->rc;
')')

m4_dnl idc_enc_field(INDENT, RVALUE, WHAT, TYPE...)
m4_define(`idc_enc_field', `m4_ifelse(
`$4', `array', `$1for (uint32_t i = 0; i < $5; i++) {
idc_enc_elem(`$1	', `$2[i]', `$3[]', `$6', `$7', `$8')$1}
',
`$4', `vector', `$1if (put_count(out, "$3", $2_count, $5))
$1	return out->rc;
$1for (uint32_t i = 0; i < $2_count; i++) {
idc_enc_elem(`$1	', `$2[i]', `$3[]', `$6', `$7', `$8')$1}
',
`idc_enc_elem(`$1', `$2', `$3', `$4', `$5', `$6')')')

m4_dnl idc_since_if(SINCE, STREAM): opens `if (STREAM->version >= SINCE) {' for a versioned field
m4_define(`idc_since_if', `m4_ifelse(`$1', `1', `', `	if ($2->version >= $1) {
')')
m4_define(`idc_since_fi', `m4_ifelse(`$1', `1', `', `	}
')')
m4_define(`idc_since_ind', `m4_ifelse(`$1', `1', `	', `		')')

m4_dnl ================================================================ wire primitives
m4_dnl idc_wire_primitives(PROTO): the static helpers every generated .c file starts with
m4_define(`idc_wire_primitives', `/* ================================================================ wire primitives
 * Little-endian, no padding, explicit sizes (see the wire format documentation). Every read
 * checks the bytes left first, so no input makes a decoder read outside [buf, buf + len).
 * Only <stdint.h>, <stddef.h>, <stdbool.h> and <string.h> are needed from here to the end of
 * the codec section (kernel-portable).
 */

/* the buffer reference layout get_rbuf and put_rbuf implement */
_Static_assert(IDC_RBUF_WIRE_SIZE == 48, "a buffer reference is 48 bytes on the wire");
_Static_assert(sizeof(((struct idc_rbuf *)0)->key) == 16, "a buffer reference key is 16 bytes");

struct wire_in {
	const uint8_t *p;               /* next byte to read */
	size_t left;                    /* bytes left */
	uint32_t version;               /* negotiated protocol version */
	struct $1_wire_error *err;      /* why the input was refused (may be NULL) */
};

struct wire_out {
	uint8_t *p;                     /* next byte to write */
	size_t left;                    /* room left */
	uint32_t version;               /* negotiated protocol version */
	struct $1_wire_error *err;      /* why the value was refused (may be NULL) */
	int rc;                         /* IDC_ERR_INVAL or IDC_ERR_TOOBIG once refused */
};

static inline int wire_reject(struct wire_in *in, const char *field, const char *reason)
{
	if (in->err) {
		in->err->field = field;
		in->err->reason = reason;
	}
	return IDC_ERR_PROTO;
}

static inline int wire_refuse(struct wire_out *out, const char *field, const char *reason, int rc)
{
	if (out->err) {
		out->err->field = field;
		out->err->reason = reason;
	}
	out->rc = rc;
	return rc;
}

/* Fixed-width little-endian loads and stores, written byte by byte so they are independent of
   the host byte order and alignment; compilers turn each into one memory access. */
static inline uint16_t wire_ld16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static inline uint32_t wire_ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t wire_ld64(const uint8_t *p)
{
	return (uint64_t)wire_ld32(p) | (uint64_t)wire_ld32(p + 4) << 32;
}

static inline void wire_st16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void wire_st32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void wire_st64(uint8_t *p, uint64_t v)
{
	wire_st32(p, (uint32_t)v);
	wire_st32(p + 4, (uint32_t)(v >> 32));
}

static inline int get_u8(struct wire_in *in, const char *field, uint8_t *v)
{
	if (in->left < 1)
		return wire_reject(in, field, "truncated");
	*v = in->p[0];
	in->p += 1;
	in->left -= 1;
	return 0;
}

static inline int get_u16(struct wire_in *in, const char *field, uint16_t *v)
{
	if (in->left < 2)
		return wire_reject(in, field, "truncated");
	*v = wire_ld16(in->p);
	in->p += 2;
	in->left -= 2;
	return 0;
}

static inline int get_u32(struct wire_in *in, const char *field, uint32_t *v)
{
	if (in->left < 4)
		return wire_reject(in, field, "truncated");
	*v = wire_ld32(in->p);
	in->p += 4;
	in->left -= 4;
	return 0;
}

static inline int get_u64(struct wire_in *in, const char *field, uint64_t *v)
{
	if (in->left < 8)
		return wire_reject(in, field, "truncated");
	*v = wire_ld64(in->p);
	in->p += 8;
	in->left -= 8;
	return 0;
}

/* a signed value travels as the bit pattern of its two-complement form */
static inline int get_i8(struct wire_in *in, const char *field, int8_t *v)
{
	uint8_t x;

	if (get_u8(in, field, &x))
		return IDC_ERR_PROTO;
	*v = (int8_t)x;
	return 0;
}

static inline int get_i16(struct wire_in *in, const char *field, int16_t *v)
{
	uint16_t x;

	if (get_u16(in, field, &x))
		return IDC_ERR_PROTO;
	*v = (int16_t)x;
	return 0;
}

static inline int get_i32(struct wire_in *in, const char *field, int32_t *v)
{
	uint32_t x;

	if (get_u32(in, field, &x))
		return IDC_ERR_PROTO;
	*v = (int32_t)x;
	return 0;
}

static inline int get_i64(struct wire_in *in, const char *field, int64_t *v)
{
	uint64_t x;

	if (get_u64(in, field, &x))
		return IDC_ERR_PROTO;
	*v = (int64_t)x;
	return 0;
}

static inline int get_bool(struct wire_in *in, const char *field, bool *v)
{
	uint8_t x;

	if (get_u8(in, field, &x))
		return IDC_ERR_PROTO;
	if (x > 1)
		return wire_reject(in, field, "bool is neither 0 nor 1");
	*v = x == 1;
	return 0;
}

static inline int get_count(struct wire_in *in, const char *field, uint32_t *n, uint32_t bound)
{
	if (get_u32(in, field, n))
		return IDC_ERR_PROTO;
	if (*n > bound)
		return wire_reject(in, field, "element count exceeds the bound");
	return 0;
}

static inline int get_string(struct wire_in *in, const char *field, char *s, uint32_t bound)
{
	uint32_t n;

	if (get_u32(in, field, &n))
		return IDC_ERR_PROTO;
	if (n > bound)
		return wire_reject(in, field, "string length exceeds the bound");
	if (in->left < n)
		return wire_reject(in, field, "truncated");
	if (memchr(in->p, 0, n))
		return wire_reject(in, field, "string contains a NUL byte");
	memcpy(s, in->p, n);
	s[n] = 0;
	in->p += n;
	in->left -= n;
	return 0;
}

static inline int get_rbuf(struct wire_in *in, const char *field, struct idc_rbuf *b, uint32_t need)
{
	uint32_t reserved;

	if (in->left < IDC_RBUF_WIRE_SIZE)
		return wire_reject(in, field, "truncated");
	b->owner = wire_ld64(in->p);
	b->id = wire_ld32(in->p + 8);
	b->generation = wire_ld32(in->p + 12);
	b->length = wire_ld64(in->p + 16);
	b->rights = wire_ld32(in->p + 24);
	reserved = wire_ld32(in->p + 28);
	memcpy(b->key, in->p + 32, sizeof b->key);
	in->p += IDC_RBUF_WIRE_SIZE;
	in->left -= IDC_RBUF_WIRE_SIZE;
	if (b->rights & ~(uint32_t)(IDC_RBUF_READ | IDC_RBUF_WRITE))
		return wire_reject(in, field, "buffer reference has unknown rights bits");
	if (reserved != 0)
		return wire_reject(in, field, "buffer reference has a non-zero reserved word");
	if ((need & IDC_RBUF_READ) && !(b->rights & IDC_RBUF_READ))
		return wire_reject(in, field, "buffer reference lacks the read right");
	if ((need & IDC_RBUF_WRITE) && !(b->rights & IDC_RBUF_WRITE))
		return wire_reject(in, field, "buffer reference lacks the write right");
	return 0;
}

static inline int put_room(struct wire_out *out, const char *field, size_t n)
{
	if (out->left < n)
		return wire_refuse(out, field, "output buffer too small", IDC_ERR_TOOBIG);
	return 0;
}

static inline int put_u8(struct wire_out *out, const char *field, uint8_t v)
{
	if (put_room(out, field, 1))
		return out->rc;
	out->p[0] = v;
	out->p += 1;
	out->left -= 1;
	return 0;
}

static inline int put_u16(struct wire_out *out, const char *field, uint16_t v)
{
	if (put_room(out, field, 2))
		return out->rc;
	wire_st16(out->p, v);
	out->p += 2;
	out->left -= 2;
	return 0;
}

static inline int put_u32(struct wire_out *out, const char *field, uint32_t v)
{
	if (put_room(out, field, 4))
		return out->rc;
	wire_st32(out->p, v);
	out->p += 4;
	out->left -= 4;
	return 0;
}

static inline int put_u64(struct wire_out *out, const char *field, uint64_t v)
{
	if (put_room(out, field, 8))
		return out->rc;
	wire_st64(out->p, v);
	out->p += 8;
	out->left -= 8;
	return 0;
}

static inline int put_i8(struct wire_out *out, const char *field, int8_t v)
{
	return put_u8(out, field, (uint8_t)v);
}

static inline int put_i16(struct wire_out *out, const char *field, int16_t v)
{
	return put_u16(out, field, (uint16_t)v);
}

static inline int put_i32(struct wire_out *out, const char *field, int32_t v)
{
	return put_u32(out, field, (uint32_t)v);
}

static inline int put_i64(struct wire_out *out, const char *field, int64_t v)
{
	return put_u64(out, field, (uint64_t)v);
}

static inline int put_bool(struct wire_out *out, const char *field, bool v)
{
	return put_u8(out, field, v ? 1 : 0);
}

static inline int put_count(struct wire_out *out, const char *field, uint32_t n, uint32_t bound)
{
	if (n > bound)
		return wire_refuse(out, field, "element count exceeds the bound", IDC_ERR_INVAL);
	return put_u32(out, field, n);
}

static inline int put_string(struct wire_out *out, const char *field, const char *s, uint32_t bound)
{
	/* s is a char[bound + 1]: its NUL must be within it */
	const char *end = memchr(s, 0, (size_t)bound + 1);
	size_t n;

	if (!end)
		return wire_refuse(out, field, "string longer than its bound", IDC_ERR_INVAL);
	n = (size_t)(end - s);
	if (put_u32(out, field, (uint32_t)n))
		return out->rc;
	if (out->left < n)
		return wire_refuse(out, field, "output buffer too small", IDC_ERR_TOOBIG);
	memcpy(out->p, s, n);
	out->p += n;
	out->left -= n;
	return 0;
}

static inline int put_rbuf(struct wire_out *out, const char *field, const struct idc_rbuf *b,
			   uint32_t need)
{
	if (b->rights & ~(uint32_t)(IDC_RBUF_READ | IDC_RBUF_WRITE))
		return wire_refuse(out, field, "buffer reference has unknown rights bits", IDC_ERR_INVAL);
	if ((need & IDC_RBUF_READ) && !(b->rights & IDC_RBUF_READ))
		return wire_refuse(out, field, "buffer reference lacks the read right", IDC_ERR_INVAL);
	if ((need & IDC_RBUF_WRITE) && !(b->rights & IDC_RBUF_WRITE))
		return wire_refuse(out, field, "buffer reference lacks the write right", IDC_ERR_INVAL);
	if (out->left < IDC_RBUF_WIRE_SIZE)
		return wire_refuse(out, field, "output buffer too small", IDC_ERR_TOOBIG);
	wire_st64(out->p, b->owner);
	wire_st32(out->p + 8, b->id);
	wire_st32(out->p + 12, b->generation);
	wire_st64(out->p + 16, b->length);
	wire_st32(out->p + 24, b->rights);
	wire_st32(out->p + 28, 0);   /* reserved */
	memcpy(out->p + 32, b->key, sizeof b->key);
	out->p += IDC_RBUF_WIRE_SIZE;
	out->left -= IDC_RBUF_WIRE_SIZE;
	return 0;
}
')

m4_dnl ================================================================ name claims
m4_dnl idc_claim(NAME, WHAT): each generated C name is made once. A second claim stops the
m4_dnl expansion with a message naming both sources (idlc then writes nothing). Names live in
m4_dnl two spaces: upper case (macros, enum constants) and lower case (tags, functions), and
m4_dnl member names per struct (`owner.member').
m4_define(`idc_claim', `m4_ifdef(`idc_claimed_$1', `idc_fatal(idc_src`: the generated C name $1 ('$2`) is also generated for 'm4_defn(`idc_claimed_$1')`; rename one of them')', `m4_define(`idc_claimed_$1', `$2')')')
