/* builtin.c - the transports built into this libidc, and which one provides buffer memory.
 *
 * Order matters where several could serve: the core asks each in turn whether it reaches a
 * remote buffer's owner, so the transports that reach other machines (fabric: owner ids whose
 * locator has bit 15 set, a node not ours) and other domains (xen: any other locator) come
 * before the one that reaches this host (shm). A new transport is one folder beside these and one line here.
 */
#include "transport.h"

extern const struct idc_transport idc_transport_shm;
extern const struct idc_transport idc_transport_xen;
extern const struct idc_transport idc_transport_fabric;

const struct idc_transport *const idc__builtin_transports[] = {
    &idc_transport_fabric,
    &idc_transport_xen,
    &idc_transport_shm,
    NULL,
};

/* Buffers are memfd-backed: shareable with processes of this host by descriptor, and with
   other domains by grant copy from the owner's mapping. */
const struct idc_transport *const idc__buffer_memory = &idc_transport_shm;

const char *const idc__absent_transports[] = { NULL };
