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
m4_dnl Generated decoders read through `struct idc_wire_in *in' into `v', encoders write from `v'
m4_dnl through `struct idc_wire_out *out'. WHAT is the field path used in error reasons.

m4_dnl idc_dec_elem(INDENT, LVALUE, WHAT, KIND, A1, A2)
m4_define(`idc_dec_elem', `m4_ifelse(
`$4', `enum', `$1if (idc_wire_get_`'idc_enum_repr(`$5', `$6')`'(in, "$3", &$2))
$1	return IDC_ERR_PROTO;
$1if (!valid_$5_$6($2, in->version))
$1	return idc_wire_reject(in, "$3", "not a value of enum $6 at the negotiated version");
',
`$4', `struct', `$1if (dec_$5_$6(in, &$2))
$1	return IDC_ERR_PROTO;
',
`$4', `union', `$1if (dec_$5_$6(in, &$2))
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

m4_dnl idc_dec_field(INDENT, LVALUE, WHAT, TYPE...)
m4_define(`idc_dec_field', `m4_ifelse(
`$4', `array', `$1for (uint32_t i = 0; i < $5; i++) {
idc_dec_elem(`$1	', `$2[i]', `$3[]', `$6', `$7', `$8')$1}
',
`$4', `vector', `$1if (idc_wire_get_count(in, "$3", &$2_count, $5))
$1	return IDC_ERR_PROTO;
$1for (uint32_t i = 0; i < $2_count; i++) {
idc_dec_elem(`$1	', `$2[i]', `$3[]', `$6', `$7', `$8')$1}
',
`idc_dec_elem(`$1', `$2', `$3', `$4', `$5', `$6')')')

m4_dnl idc_enc_elem(INDENT, RVALUE, WHAT, KIND, A1, A2)
m4_define(`idc_enc_elem', `m4_ifelse(
`$4', `enum', `$1if (!valid_$5_$6($2, out->version))
$1	return idc_wire_refuse(out, "$3", "not a value of enum $6 at the negotiated version", IDC_ERR_INVAL);
$1if (idc_wire_put_`'idc_enum_repr(`$5', `$6')`'(out, "$3", $2))
$1	return out->rc;
',
`$4', `struct', `$1if (enc_$5_$6(out, &$2))
$1	return out->rc;
',
`$4', `union', `$1if (enc_$5_$6(out, &$2))
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

m4_dnl idc_enc_field(INDENT, RVALUE, WHAT, TYPE...)
m4_define(`idc_enc_field', `m4_ifelse(
`$4', `array', `$1for (uint32_t i = 0; i < $5; i++) {
idc_enc_elem(`$1	', `$2[i]', `$3[]', `$6', `$7', `$8')$1}
',
`$4', `vector', `$1if (idc_wire_put_count(out, "$3", $2_count, $5))
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

m4_dnl ================================================================ name claims
m4_dnl idc_claim(NAME, WHAT): each generated C name is made once. A second claim stops the
m4_dnl expansion with a message naming both sources (idlc then writes nothing). Names live in
m4_dnl two spaces: upper case (macros, enum constants) and lower case (tags, functions), and
m4_dnl member names per struct (`owner.member').
m4_define(`idc_claim', `m4_ifdef(`idc_claimed_$1', `idc_fatal(idc_src`: the generated C name $1 ('$2`) is also generated for 'm4_defn(`idc_claimed_$1')`; rename one of them')', `m4_define(`idc_claimed_$1', `$2')')')
