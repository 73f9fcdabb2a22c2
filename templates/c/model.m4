m4_divert(-1)
m4_dnl model.m4 - the interface between idlc and a template set.
m4_dnl
m4_dnl idlc writes the model of a checked protocol in two parts. First the C names: one
m4_dnl definition `idc_cn:KEY' per generated identifier, read with idc_cn(KEY) (see "C names"
m4_dnl below). Then one macro, idc_model, whose body calls the macros below in this order:
m4_dnl idc_unit, idc_version_hash (per version), idc_import (per direct import), idc_const (own
m4_dnl constants), then every enum/struct/union the protocol needs (imported ones too, flagged
m4_dnl OWN=0) with each type declared before its first use, then the messages and transactions
m4_dnl in declaration order. Before a declaration, enumerator, field, union arm or message, an
m4_dnl idc_at call says where it comes from (used by idc_fatal). m4 runs with
m4_dnl --prefix-builtins (builtins are m4_*) and the default quotes; every macro of a template
m4_dnl set is named idc_*.
m4_dnl
m4_dnl Free text (DOC, SOURCE) arrives escaped: it holds no quote, comma, parenthesis, `_', `$',
m4_dnl `#' or `@' (they are @X@ sequences idlc turns back after expansion), so a template may
m4_dnl rescan it freely. Names are C-safe identifiers; numbers are decimal.
m4_dnl
m4_dnl A type descriptor TYPE is five comma separated items KIND,A1,A2,A3,A4:
m4_dnl   bool | u8 u16 u32 u64 | i8 i16 i32 i64          (no arguments)
m4_dnl   enum,UNIT,NAME  struct,UNIT,NAME  union,UNIT,NAME
m4_dnl   string,BOUND    buffer,RIGHTS (mask: 1 read, 2 write)
m4_dnl   array,N,EKIND,EA1,EA2   vector,N,EKIND,EA1,EA2   (element: one of the kinds above)
m4_dnl
m4_dnl SINCE is the first version that has the item (>= 1). OWN is 1 for declarations of this
m4_dnl unit, 0 for imported ones. The calls:
m4_dnl
m4_dnl idc_unit(NAME, BASENAME, SOURCE, IDLC_VERSION, HAS_PROTOCOL, VERSION, MAX_FRAME,
m4_dnl          `NMSG_FE,NTXN_FE,NMSG_BE,NTXN_BE', DOC)
m4_dnl        counts of messages/transactions sent by the frontend (FE) and backend (BE)
m4_dnl idc_version_hash(VERSION, HEX)            FNV-1a 64 of the canonical text at VERSION
m4_dnl idc_import(UNIT, BASENAME)
m4_dnl idc_const(NAME, VALUE, RANGE, DOC)       RANGE: i32 u32 i64 u64 (smallest holding VALUE)
m4_dnl idc_enum_begin(UNIT, NAME, OWN, REPR, FITS_INT, MAX_SIZE, DOC)
m4_dnl   idc_enum_value(NAME, VALUE, RANGE, SINCE, DUP, DOC)      DUP: 1 = alias of an earlier value
m4_dnl idc_enum_end(UNIT, NAME)
m4_dnl idc_struct_begin(UNIT, NAME, OWN, NFIELDS, MAX_SIZE, DOC)
m4_dnl   idc_field(NAME, SINCE, MAX_SIZE, TYPE, DOC, COUNT)
m4_dnl        COUNT: the member holding the element count of a bounded array, else empty
m4_dnl idc_struct_end(UNIT, NAME)
m4_dnl idc_union_begin(UNIT, NAME, OWN, TAG_UNIT, TAG_ENUM, NFIELDS, MAX_SIZE, DOC)
m4_dnl   idc_union_arm(DOC), then idc_union_case(LABEL, SINCE) per label, then idc_field(...)
m4_dnl   or idc_union_void()
m4_dnl idc_union_end(UNIT, NAME)
m4_dnl idc_message_begin(NAME, OPCODE, ROLE, SINCE, NPARAMS, ARGS_MAX, DOC)   ROLE: sender
m4_dnl   idc_field(...) per parameter
m4_dnl idc_message_end(NAME)
m4_dnl idc_transaction_begin(NAME, OPCODE, ROLE, SINCE, `NPARAMS,NRESULTS',
m4_dnl                       `ARGS_MAX,RESULT_MAX', `ERR_UNIT,ERR_ENUM', DOC)
m4_dnl   idc_params(), idc_field(...) per parameter, idc_results(), idc_field(...) per result
m4_dnl idc_transaction_end(NAME)
m4_dnl idc_at(`FILE:LINE:COL:END_LINE:END_COL')   FILE: index of the IDL file in the load order
m4_dnl
m4_dnl This file defines every one of them as empty (idc_at as recording the place), so a
m4_dnl template overrides only what it needs.
m4_dnl
m4_dnl C names. idlc decides every C identifier that depends on the IDL, checks them all for
m4_dnl clashes, and defines each as idc_cn:KEY; a template writes idc_cn(KEY) instead of gluing
m4_dnl names together. The keys (UNIT and NAME as in the calls above, SIDE frontend or backend):
m4_dnl   unit:guard unit:wire_error unit:VERSION unit:MAX_FRAME unit:protocol
m4_dnl   unit:SIDE unit:SIDE:ops unit:SIDE:create unit:SIDE:create_with unit:SIDE:destroy
m4_dnl   unit:SIDE:user unit:SIDE:version unit:SIDE:disconnect_done
m4_dnl   const:NAME
m4_dnl   type:UNIT:NAME type:UNIT:NAME:MAX_SIZE, for an enum type:UNIT:NAME:valid (its value
m4_dnl   check, in the header), for a struct or union type:UNIT:NAME:dec and :enc (codec helpers)
m4_dnl   enum:UNIT:ENUM:VALUE
m4_dnl   msg:NAME:args msg:NAME:args_encode msg:NAME:args_decode msg:NAME:args_enc
m4_dnl   msg:NAME:args_dec msg:NAME:OP msg:NAME:ARGS_MAX_SIZE msg:NAME:on (handler member), and
m4_dnl   msg:NAME:send for a message; for a transaction msg:NAME:submit :txn :reply :fail :result
m4_dnl   :result_encode :result_decode :result_enc :result_dec :RESULT_MAX_SIZE :done
m4_dnl The fixed helpers of the generated .c files (side_of, on_message, version_hash...) are
m4_dnl spelled by the templates; idlc checks them too (idlc/names.c keeps their list).

m4_changecom()
m4_define(`idc_unit', `')
m4_define(`idc_version_hash', `')
m4_define(`idc_import', `')
m4_define(`idc_const', `')
m4_define(`idc_enum_begin', `')
m4_define(`idc_enum_value', `')
m4_define(`idc_enum_end', `')
m4_define(`idc_struct_begin', `')
m4_define(`idc_field', `')
m4_define(`idc_struct_end', `')
m4_define(`idc_union_begin', `')
m4_define(`idc_union_arm', `')
m4_define(`idc_union_case', `')
m4_define(`idc_union_void', `')
m4_define(`idc_union_end', `')
m4_define(`idc_message_begin', `')
m4_define(`idc_message_end', `')
m4_define(`idc_transaction_begin', `')
m4_define(`idc_params', `')
m4_define(`idc_results', `')
m4_define(`idc_transaction_end', `')
m4_define(`idc_at', `m4_define(`idc_where', `$1')')
m4_define(`idc_where', `')

m4_dnl idc_fatal(MESSAGE): stop the expansion with an error (idlc then writes nothing). After an
m4_dnl idc_at, the line says where: idlc reads "idc-at FILE:LINE:COL:END_LINE:END_COL: MESSAGE"
m4_dnl back and reports it at that place of the IDL, like any other error.
m4_define(`idc_fatal', `m4_errprint(m4_ifelse(m4_defn(`idc_where'), `', m4___program__`: ', `idc-at 'm4_defn(`idc_where')`: ')`template error: $1
')m4_m4exit(1)')

m4_dnl idc_cn(KEY): the C name idlc decided for KEY
m4_define(`idc_cn', `m4_ifdef(`idc_cn:$1', `m4_defn(`idc_cn:$1')', `idc_fatal(`the model names no C identifier $1')')')
