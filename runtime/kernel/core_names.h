/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/* core_names.h - forced in front of the shared core files built into idc.ko (Kbuild: -include).
 *
 * The shared endpoint core (runtime/core/endpoint.c) assumes its caller is inside the
 * context's dispatch or on the context's thread; in the kernel any task may call. So the
 * public functions that touch an endpoint are compiled under the names below, and api.c
 * exports the real names: each takes the context's mutex (kcontext.h), then calls these. */
#ifndef IDC_CORE_NAMES_H
#define IDC_CORE_NAMES_H

#define idc_endpoint_create	     idc_core_endpoint_create
#define idc_endpoint_destroy	     idc_core_endpoint_destroy
#define idc_endpoint_version	     idc_core_endpoint_version
#define idc_endpoint_state	     idc_core_endpoint_state
#define idc_endpoint_last_error	     idc_core_endpoint_last_error
#define idc_endpoint_disconnect_done idc_core_endpoint_disconnect_done
#define idc_endpoint_protocol_error  idc_core_endpoint_protocol_error
#define idc_endpoint_disconnect	     idc_core_endpoint_disconnect
#define idc_endpoint_cork	     idc_core_endpoint_cork
#define idc_endpoint_flush	     idc_core_endpoint_flush
#define idc_send_message	     idc_core_send_message
#define idc_send_message_fill	     idc_core_send_message_fill
#define idc_submit_transaction	     idc_core_submit_transaction
#define idc_request_complete	     idc_core_request_complete
/* buffer.c: registrations, their memory and transfers take the context's mutex too */
#define idc_buffer_alloc	       idc_core_buffer_alloc
#define idc_buffer_free		       idc_core_buffer_free
#define idc_buffer_register	       idc_core_buffer_register
#define idc_buffer_unregister	       idc_core_buffer_unregister
#define idc_send_to_remote_buffer      idc_core_send_to_remote_buffer
#define idc_receive_from_remote_buffer idc_core_receive_from_remote_buffer

#endif /* IDC_CORE_NAMES_H */
