m4_divert(-1)
m4_dnl model.m4 - the interface between idlc and a template set.
m4_dnl
m4_dnl idlc writes the model of a checked protocol as one macro, idc_model, whose body calls the
m4_dnl macros below in this order: idc_unit, idc_version_hash (per version), idc_import (per
m4_dnl direct import), idc_const (own constants), then every enum/struct/union the protocol needs
m4_dnl (imported ones too, flagged OWN=0) with each type declared before its first use, then the
m4_dnl messages and transactions in declaration order. m4 runs with --prefix-builtins (builtins
m4_dnl are m4_*) and the default quotes; every macro of a template set is named idc_*.
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
m4_dnl   idc_field(NAME, SINCE, MAX_SIZE, TYPE, DOC)
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
m4_dnl
m4_dnl This file defines every one of them as empty, so a template overrides only what it needs.

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

m4_dnl idc_fatal(MESSAGE): stop the expansion with an error (idlc then writes nothing)
m4_define(`idc_fatal', `m4_errprint(m4___program__`: template error: $1
')m4_m4exit(1)')
