m4_dnl client.m4 - NAME_client.c: the frontend side.
m4_define(`idc_me', `frontend')
m4_include(`side.m4')
