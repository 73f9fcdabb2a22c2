m4_include(`model.m4')
m4_dnl c.m4 - helpers shared by the C templates (header.m4, codec.m4, side.m4): C types, doc
m4_dnl comments, constants, and the statements of encoders and decoders. Every macro is idc_*;
m4_dnl C text that names the runtime (idc_endpoint, IDC_ERR_PROTO...) passes through because no
m4_dnl macro of that name exists. Every generated name comes from the model: idc_cn(KEY).

m4_dnl ================================================================ text

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

m4_dnl idc_kernel_includes(STRING, KERNEL_EXTRA, USER_EXTRA): the base headers, the kernel ones
m4_dnl under __KERNEL__ (a kbuild of the generated code), each set followed by its EXTRA; STRING 1
m4_dnl adds <string.h> / <linux/string.h> (memcpy, memchr, memset)
m4_define(`idc_kernel_includes', `#ifdef __KERNEL__
#include <linux/stddef.h>
#include <linux/types.h>
m4_ifelse(`$1', `1', `#include <linux/string.h>
')$2`'#else
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
m4_ifelse(`$1', `1', `#include <string.h>
')$3`'#endif
')

m4_dnl idc_over_stack(SIZE): 1 when a payload of SIZE bytes (or its decoded struct) is too large
m4_dnl for a stack, else 0. The bound is the kernel`'s: a kernel stack is 8 or 16 KiB in all and
m4_dnl kbuild warns about frames over 2 KiB (-Wframe-larger-than), so a function keeps at most one
m4_dnl 1 KiB payload on it. The glue takes bigger ones from the heap (side.m4, in user space too,
m4_dnl so both builds run the same code), and the header tells kernel callers to do the same.
m4_define(`idc_over_stack', `m4_ifelse(m4_eval(m4_len(`$1') > 9), `1', `1', `m4_eval(`$1' > 1024)')')

m4_dnl ================================================================ types

m4_dnl idc_scalar_ctype(KIND)
m4_define(`idc_scalar_ctype', `m4_ifelse(`$1', `bool', `bool', `$1', `u8', `uint8_t',
`$1', `u16', `uint16_t', `$1', `u32', `uint32_t', `$1', `u64', `uint64_t', `$1', `i8', `int8_t',
`$1', `i16', `int16_t', `$1', `i32', `int32_t', `$1', `i64', `int64_t',
`idc_fatal(`not a scalar type: $1')')')

m4_dnl idc_set_repr(UNIT, NAME, REPR) / idc_enum_repr(UNIT, NAME): representation kind of an enum
m4_define(`idc_set_repr', `m4_define(`idc_repr:$1:$2', `$3')')
m4_define(`idc_enum_repr', `m4_ifdef(`idc_repr:$1:$2', `m4_defn(`idc_repr:$1:$2')',
`idc_fatal(`unknown enum $1.$2')')')

m4_dnl idc_ctype(KIND, A1, A2): C type of a non-array type
m4_define(`idc_ctype', `m4_ifelse(`$1', `enum', `idc_scalar_ctype(idc_enum_repr(`$2', `$3'))',
`$1', `struct', `struct idc_cn(`type:$2:$3')', `$1', `union', `struct idc_cn(`type:$2:$3')',
`$1', `string', `char', `$1', `buffer', `struct idc_rbuf', `idc_scalar_ctype(`$1')')')

m4_dnl idc_csuffix(KIND, A1): array suffix a string needs for its NUL
m4_define(`idc_csuffix', `m4_ifelse(`$1', `string', `[$2 + 1]')')

m4_dnl idc_cfield(INDENT, NAME, COUNT, TYPE...): the member declaration(s) of a field
m4_define(`idc_cfield', `m4_ifelse(
`$4', `array', `$1`'idc_ctype(`$6', `$7', `$8') $2[$5]`'idc_csuffix(`$6', `$7');',
`$4', `vector', `$1`'uint32_t $3;   /* elements used in $2 */
$1`'idc_ctype(`$6', `$7', `$8') $2[$5]`'idc_csuffix(`$6', `$7');',
`$1`'idc_ctype(`$4', `$5', `$6') $2`'idc_csuffix(`$4', `$5');')')

m4_dnl idc_cnote(TYPE...): a short comment saying what the IDL type was, where C loses it
m4_define(`idc_cnote', `m4_ifelse(
`$1', `enum', `   /* enum idc_cn(`type:$2:$3') */',
`$1', `string', `   /* string<$2>, NUL-terminated */',
`$1', `buffer', `m4_ifelse(`$2', `0', `', `   /* buffer, requires m4_ifelse(`$2', `1', `read', `$2', `2', `write', `read+write') */')',
`$1', `vector', `   /* at most $2 */',
`$1', `array', `m4_ifelse(`$3', `enum', `   /* enum idc_cn(`type:$4:$5') */')',
`')')

m4_dnl ================================================================ codec statements
m4_dnl Generated decoders read through `struct idc_wire_in *in' into `v', encoders write from `v'
m4_dnl through `struct idc_wire_out *out'. WHAT is the field path used in error reasons. A loop
m4_dnl over an array uses the function-wide `uint32_t i' (declared first: C89, for older
m4_dnl kernels), and says so by defining idc_need_i.

m4_dnl idc_dec_elem(INDENT, LVALUE, WHAT, KIND, A1, A2)
m4_define(`idc_dec_elem', `m4_ifelse(
`$4', `enum', `$1if (idc_wire_get_`'idc_enum_repr(`$5', `$6')`'(in, "$3", &$2))
$1	return IDC_ERR_PROTO;
$1if (!idc_cn(`type:$5:$6:valid')($2, in->version))
$1	return idc_wire_reject(in, "$3", "not a value of enum $6 at the negotiated version");
',
`$4', `struct', `$1if (idc_cn(`type:$5:$6:dec')(in, &$2))
$1	return IDC_ERR_PROTO;
',
`$4', `union', `$1if (idc_cn(`type:$5:$6:dec')(in, &$2))
$1	return IDC_ERR_PROTO;
',
`$4', `string', `$1if (idc_wire_get_string(in, "$3", $2, $5))
$1	return IDC_ERR_PROTO;
',
`$4', `buffer', `$1if (idc_wire_get_rbuf(in, "$3", &$2, $5))
$1	return IDC_ERR_PROTO;
',
`$1if (idc_wire_get_$4(in, "$3", &$2))
$1	return IDC_ERR_PROTO;
')')

m4_dnl idc_dec_field(INDENT, LVALUE, WHAT, COUNT_LVALUE, TYPE...)
m4_define(`idc_dec_field', `m4_ifelse(
`$5', `array', `m4_define(`idc_need_i', `1')$1for (i = 0; i < $6; i++) {
idc_dec_elem(`$1	', `$2[i]', `$3[]', `$7', `$8', `$9')$1}
',
`$5', `vector', `m4_define(`idc_need_i', `1')$1if (idc_wire_get_count(in, "$3", &$4, $6))
$1	return IDC_ERR_PROTO;
$1for (i = 0; i < $4; i++) {
idc_dec_elem(`$1	', `$2[i]', `$3[]', `$7', `$8', `$9')$1}
',
`idc_dec_elem(`$1', `$2', `$3', `$5', `$6', `$7')')')

m4_dnl idc_enc_elem(INDENT, RVALUE, WHAT, KIND, A1, A2)
m4_define(`idc_enc_elem', `m4_ifelse(
`$4', `enum', `$1if (!idc_cn(`type:$5:$6:valid')($2, out->version))
$1	return idc_wire_refuse(out, "$3", "not a value of enum $6 at the negotiated version", IDC_ERR_INVAL);
$1if (idc_wire_put_`'idc_enum_repr(`$5', `$6')`'(out, "$3", $2))
$1	return out->rc;
',
`$4', `struct', `$1if (idc_cn(`type:$5:$6:enc')(out, &$2))
$1	return out->rc;
',
`$4', `union', `$1if (idc_cn(`type:$5:$6:enc')(out, &$2))
$1	return out->rc;
',
`$4', `string', `$1if (idc_wire_put_string(out, "$3", $2, $5))
$1	return out->rc;
',
`$4', `buffer', `$1if (idc_wire_put_rbuf(out, "$3", &$2, $5))
$1	return out->rc;
',
`$1if (idc_wire_put_$4(out, "$3", $2))
$1	return out->rc;
')')

m4_dnl idc_enc_field(INDENT, RVALUE, WHAT, COUNT_RVALUE, TYPE...)
m4_define(`idc_enc_field', `m4_ifelse(
`$5', `array', `m4_define(`idc_need_i', `1')$1for (i = 0; i < $6; i++) {
idc_enc_elem(`$1	', `$2[i]', `$3[]', `$7', `$8', `$9')$1}
',
`$5', `vector', `m4_define(`idc_need_i', `1')$1if (idc_wire_put_count(out, "$3", $4, $6))
$1	return out->rc;
$1for (i = 0; i < $4; i++) {
idc_enc_elem(`$1	', `$2[i]', `$3[]', `$7', `$8', `$9')$1}
',
`idc_enc_elem(`$1', `$2', `$3', `$5', `$6', `$7')')')

m4_dnl idc_since_if(SINCE, STREAM): opens `if (STREAM->version >= SINCE) {' for a versioned field
m4_define(`idc_since_if', `m4_ifelse(`$1', `1', `', `	if ($2->version >= $1) {
')')
m4_define(`idc_since_fi', `m4_ifelse(`$1', `1', `', `	}
')')
m4_define(`idc_since_ind', `m4_ifelse(`$1', `1', `	', `		')')
