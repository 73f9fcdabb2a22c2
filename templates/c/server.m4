m4_dnl server.m4 - NAME_server.c: the backend side.
m4_define(`idc_me', `backend')
m4_include(`side.m4')
