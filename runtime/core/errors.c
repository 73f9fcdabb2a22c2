/* errors.c - the names of the IDC_ERR_* codes. A file of its own because it is shared as it is:
 * libidc and the kernel runtime (runtime/kernel/) compile the same text. */
#include "idc.h"

const char *idc_strerror(int err)
{
    switch (err) {
    case IDC_OK:
        return "success";
    case IDC_ERR_AGAIN:
        return "IDC_ERR_AGAIN: no credit or space now; retry after writable";
    case IDC_ERR_DISCONNECTED:
        return "IDC_ERR_DISCONNECTED: not connected, or connection lost";
    case IDC_ERR_PROTO:
        return "IDC_ERR_PROTO: malformed frame or payload from the peer";
    case IDC_ERR_VERSION:
        return "IDC_ERR_VERSION: not available at the negotiated version";
    case IDC_ERR_TOOBIG:
        return "IDC_ERR_TOOBIG: payload larger than the frame quota";
    case IDC_ERR_INVAL:
        return "IDC_ERR_INVAL: invalid argument";
    case IDC_ERR_REVOKED:
        return "IDC_ERR_REVOKED: remote buffer was unregistered";
    case IDC_ERR_RIGHTS:
        return "IDC_ERR_RIGHTS: remote buffer reference lacks the right";
    case IDC_ERR_BADREF:
        return "IDC_ERR_BADREF: unknown or forged remote buffer reference, or bad range";
    case IDC_ERR_NOMEM:
        return "IDC_ERR_NOMEM: out of memory";
    case IDC_ERR_NOTSUP:
        return "IDC_ERR_NOTSUP: transport not available";
    case IDC_ERR_MISMATCH:
        return "IDC_ERR_MISMATCH: peer speaks another protocol or no common version";
    case IDC_ERR_PERM:
        return "IDC_ERR_PERM: peer not allowed by policy";
    case IDC_ERR_STATE:
        return "IDC_ERR_STATE: not valid in the endpoint's current state";
    case IDC_ERR_IO:
        return "IDC_ERR_IO: system call failed";
    case IDC_ERR_BUSY:
        return "IDC_ERR_BUSY: the service is in use by another peer";
    case IDC_ERR_TIMEOUT:
        return "IDC_ERR_TIMEOUT: nothing answered before the connect deadline";
    default:
        return err > 0 && err <= 65535 ? "application error" : "unknown error";
    }
}
