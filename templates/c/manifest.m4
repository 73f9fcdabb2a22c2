m4_include(`model.m4')
m4_dnl manifest.m4 - the files the C template set writes: one line "TEMPLATE OUTPUT" each.
m4_define(`idc_unit', `m4_define(`idc_basename', `$2')')
idc_model
m4_divert(0)m4_dnl
header.m4 idc_basename.h
codec.m4 idc_basename`'_codec.c
client.m4 idc_basename`'_client.c
server.m4 idc_basename`'_server.c
