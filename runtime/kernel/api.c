// SPDX-License-Identifier: GPL-2.0-only OR MIT
/* api.c - the idc.h functions idc.ko exports. The endpoint core is runtime/core/endpoint.c,
 * compiled under other names (core_names.h); each function here takes the context's mutex
 * (re-entrant for a callback calling back in, kcontext.h) and calls it. So every one of them
 * may sleep: process context only, never under a spinlock or in an interrupt handler. */
#include <linux/export.h>
#include <linux/kernel.h>

#include "idc.h"
#include "internal.h" /* the kernel context (kcontext.h) */

/* The core's functions under the names core_names.h gives them. */
void idc_core_endpoint_create(struct idc_endpoint *ep, struct idc_context *ctx,
			      const struct idc_endpoint_config *cfg);
void idc_core_endpoint_destroy(struct idc_endpoint *ep, void (*done)(struct idc_endpoint *ep));
uint32_t idc_core_endpoint_version(const struct idc_endpoint *ep);
enum idc_endpoint_state idc_core_endpoint_state(const struct idc_endpoint *ep);
int idc_core_endpoint_last_error(const struct idc_endpoint *ep, char *why, size_t why_len);
void idc_core_endpoint_disconnect_done(struct idc_endpoint *ep);
void idc_core_endpoint_protocol_error(struct idc_endpoint *ep, const char *fmt, ...) __printf(2, 3);
int idc_core_endpoint_disconnect(struct idc_endpoint *ep);
int idc_core_endpoint_cork(struct idc_endpoint *ep);
int idc_core_endpoint_flush(struct idc_endpoint *ep);
int idc_core_send_message(struct idc_endpoint *ep, uint16_t opcode, const void *payload,
			  size_t len);
int idc_core_send_message_fill(struct idc_endpoint *ep, uint16_t opcode, size_t len,
			       void (*fill)(void *arg, void *dst, size_t off, size_t n), void *arg);
int idc_core_submit_transaction(struct idc_endpoint *ep, struct idc_txn *txn, uint16_t opcode,
				const void *payload, size_t len);
int idc_core_request_complete(struct idc_request *req, int status, const void *result, size_t len);
int idc_core_buffer_alloc(struct idc_context *ctx, size_t len, void **mem);
int idc_core_buffer_free(struct idc_context *ctx, void *mem);
int idc_core_buffer_register(struct idc_context *ctx, void *mem, size_t len, uint32_t rights,
			     struct idc_rbuf *rbuf);
int idc_core_buffer_unregister(struct idc_context *ctx, const struct idc_rbuf *rb);
int idc_core_send_to_remote_buffer(struct idc_context *ctx, const struct idc_rbuf *rbuf,
				   uint64_t offset, const void *local, size_t len,
				   idc_transfer_done_fn done, void *arg);
int idc_core_receive_from_remote_buffer(struct idc_context *ctx, const struct idc_rbuf *rbuf,
					uint64_t offset, void *local, size_t len,
					idc_transfer_done_fn done, void *arg);

/* The context of a live endpoint (NULL for storage never created or already destroyed). */
static struct idc_context *ctx_of(const struct idc_endpoint *ep)
{
	return idc_endpoint_context(ep);
}

/* Runs stmt with the endpoint's context locked; `fallback` when there is no context. */
#define WITH_EP_LOCK(ep, stmt, fallback)                \
	do {                                            \
		struct idc_context *ctx__ = ctx_of(ep); \
		bool taken__;                           \
		if (!ctx__) {                           \
			fallback;                       \
			break;                          \
		}                                       \
		taken__ = idc__klock(ctx__);            \
		stmt;                                   \
		idc__kunlock(ctx__, taken__);           \
	} while (0)

void idc_endpoint_create(struct idc_endpoint *ep, struct idc_context *ctx,
			 const struct idc_endpoint_config *cfg)
{
	bool taken;

	if (!ctx) {
		idc_core_endpoint_create(ep, ctx, cfg); /* logs, leaves the storage UNUSED */
		return;
	}
	taken = idc__klock(ctx);
	idc_core_endpoint_create(ep, ctx, cfg);
	idc__kunlock(ctx, taken);
}
EXPORT_SYMBOL_GPL(idc_endpoint_create);

void idc_endpoint_destroy(struct idc_endpoint *ep, void (*done)(struct idc_endpoint *ep))
{
	WITH_EP_LOCK(ep, idc_core_endpoint_destroy(ep, done), (void)0);
}
EXPORT_SYMBOL_GPL(idc_endpoint_destroy);

uint32_t idc_endpoint_version(const struct idc_endpoint *ep)
{
	uint32_t v = 0;

	WITH_EP_LOCK(ep, v = idc_core_endpoint_version(ep), (void)0);
	return v;
}
EXPORT_SYMBOL_GPL(idc_endpoint_version);

enum idc_endpoint_state idc_endpoint_state(const struct idc_endpoint *ep)
{
	enum idc_endpoint_state s = IDC_EP_UNUSED;

	WITH_EP_LOCK(ep, s = idc_core_endpoint_state(ep), (void)0);
	return s;
}
EXPORT_SYMBOL_GPL(idc_endpoint_state);

int idc_endpoint_last_error(const struct idc_endpoint *ep, char *why, size_t why_len)
{
	int r = IDC_ERR_INVAL;

	WITH_EP_LOCK(ep, r = idc_core_endpoint_last_error(ep, why, why_len),
		     r = idc_core_endpoint_last_error(ep, why, why_len));
	return r;
}
EXPORT_SYMBOL_GPL(idc_endpoint_last_error);

void idc_endpoint_disconnect_done(struct idc_endpoint *ep)
{
	WITH_EP_LOCK(ep, idc_core_endpoint_disconnect_done(ep), (void)0);
}
EXPORT_SYMBOL_GPL(idc_endpoint_disconnect_done);

void idc_endpoint_protocol_error(struct idc_endpoint *ep, const char *fmt, ...)
{
	char why[120];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	WITH_EP_LOCK(ep, idc_core_endpoint_protocol_error(ep, "%s", why), (void)0);
}
EXPORT_SYMBOL_GPL(idc_endpoint_protocol_error);

int idc_endpoint_disconnect(struct idc_endpoint *ep)
{
	int r = IDC_ERR_STATE;

	WITH_EP_LOCK(ep, r = idc_core_endpoint_disconnect(ep), (void)0);
	return r;
}
EXPORT_SYMBOL_GPL(idc_endpoint_disconnect);

int idc_endpoint_cork(struct idc_endpoint *ep)
{
	int r = IDC_ERR_INVAL;

	WITH_EP_LOCK(ep, r = idc_core_endpoint_cork(ep), (void)0);
	return r;
}
EXPORT_SYMBOL_GPL(idc_endpoint_cork);

int idc_endpoint_flush(struct idc_endpoint *ep)
{
	int r = IDC_ERR_INVAL;

	WITH_EP_LOCK(ep, r = idc_core_endpoint_flush(ep), (void)0);
	return r;
}
EXPORT_SYMBOL_GPL(idc_endpoint_flush);

int idc_send_message(struct idc_endpoint *ep, uint16_t opcode, const void *payload, size_t len)
{
	int r = IDC_ERR_INVAL;

	WITH_EP_LOCK(ep, r = idc_core_send_message(ep, opcode, payload, len), (void)0);
	return r;
}
EXPORT_SYMBOL_GPL(idc_send_message);

int idc_send_message_fill(struct idc_endpoint *ep, uint16_t opcode, size_t len,
			  void (*fill)(void *arg, void *dst, size_t off, size_t n), void *arg)
{
	int r = IDC_ERR_INVAL;

	WITH_EP_LOCK(ep, r = idc_core_send_message_fill(ep, opcode, len, fill, arg), (void)0);
	return r;
}
EXPORT_SYMBOL_GPL(idc_send_message_fill);

int idc_submit_transaction(struct idc_endpoint *ep, struct idc_txn *txn, uint16_t opcode,
			   const void *payload, size_t len)
{
	int r = IDC_ERR_INVAL;

	WITH_EP_LOCK(ep, r = idc_core_submit_transaction(ep, txn, opcode, payload, len), (void)0);
	return r;
}
EXPORT_SYMBOL_GPL(idc_submit_transaction);

int idc_request_complete(struct idc_request *req, int status, const void *result, size_t len)
{
	struct idc_endpoint *ep = req ? idc_request_endpoint(req) : NULL;
	int r = IDC_ERR_INVAL;

	if (!ep)
		return IDC_ERR_INVAL;
	WITH_EP_LOCK(ep, r = idc_core_request_complete(req, status, result, len), (void)0);
	return r;
}
EXPORT_SYMBOL_GPL(idc_request_complete);

/* Remote buffers (buffer.c, served by xenbuf.c): registrations under the context's mutex, so
   a request being served never sees memory freed or a registration half made. */
int idc_buffer_alloc(struct idc_context *ctx, size_t len, void **mem)
{
	bool taken;
	int r;

	if (!ctx)
		return IDC_ERR_INVAL;
	taken = idc__klock(ctx);
	r = idc_core_buffer_alloc(ctx, len, mem);
	idc__kunlock(ctx, taken);
	return r;
}
EXPORT_SYMBOL_GPL(idc_buffer_alloc);

int idc_buffer_free(struct idc_context *ctx, void *mem)
{
	bool taken;
	int r;

	if (!ctx)
		return IDC_ERR_INVAL;
	taken = idc__klock(ctx);
	r = idc_core_buffer_free(ctx, mem);
	idc__kunlock(ctx, taken);
	return r;
}
EXPORT_SYMBOL_GPL(idc_buffer_free);

int idc_buffer_register(struct idc_context *ctx, void *mem, size_t len, uint32_t rights,
			struct idc_rbuf *rbuf)
{
	bool taken;
	int r;

	if (!ctx)
		return IDC_ERR_INVAL;
	taken = idc__klock(ctx);
	r = idc_core_buffer_register(ctx, mem, len, rights, rbuf);
	idc__kunlock(ctx, taken);
	return r;
}
EXPORT_SYMBOL_GPL(idc_buffer_register);

int idc_buffer_unregister(struct idc_context *ctx, const struct idc_rbuf *rb)
{
	bool taken;
	int r;

	if (!ctx)
		return IDC_ERR_INVAL;
	taken = idc__klock(ctx);
	r = idc_core_buffer_unregister(ctx, rb);
	idc__kunlock(ctx, taken);
	return r;
}
EXPORT_SYMBOL_GPL(idc_buffer_unregister);

/* Transfers where this context is the user (xenbuf_user.c); done runs from the work item. */
int idc_send_to_remote_buffer(struct idc_context *ctx, const struct idc_rbuf *rbuf, uint64_t offset,
			      const void *local, size_t len, idc_transfer_done_fn done, void *arg)
{
	bool taken;
	int r;

	if (!ctx)
		return IDC_ERR_INVAL;
	taken = idc__klock(ctx);
	r = idc_core_send_to_remote_buffer(ctx, rbuf, offset, local, len, done, arg);
	idc__kunlock(ctx, taken);
	return r;
}
EXPORT_SYMBOL_GPL(idc_send_to_remote_buffer);

int idc_receive_from_remote_buffer(struct idc_context *ctx, const struct idc_rbuf *rbuf,
				   uint64_t offset, void *local, size_t len,
				   idc_transfer_done_fn done, void *arg)
{
	bool taken;
	int r;

	if (!ctx)
		return IDC_ERR_INVAL;
	taken = idc__klock(ctx);
	r = idc_core_receive_from_remote_buffer(ctx, rbuf, offset, local, len, done, arg);
	idc__kunlock(ctx, taken);
	return r;
}
EXPORT_SYMBOL_GPL(idc_receive_from_remote_buffer);

/* Functions that read no mutable state, exported as the shared files define them. */
EXPORT_SYMBOL_GPL(idc_strerror);
EXPORT_SYMBOL_GPL(idc_address_check);
EXPORT_SYMBOL_GPL(idc_endpoint_user);
EXPORT_SYMBOL_GPL(idc_endpoint_context);
EXPORT_SYMBOL_GPL(idc_request_endpoint);
EXPORT_SYMBOL_GPL(idc_context_create);
EXPORT_SYMBOL_GPL(idc_context_destroy);
EXPORT_SYMBOL_GPL(idc_context_id);
EXPORT_SYMBOL_GPL(idc_rbuf_encode);
EXPORT_SYMBOL_GPL(idc_rbuf_decode);
