/* common.h - helpers for the runtime core suite: a hand-written protocol description, temp
 * directories, a log capture, dispatch-until helpers. */
#ifndef RTCORE_COMMON_H
#define RTCORE_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include "idc.h"

extern const struct idc_protocol rt_proto_v12;     /* "rtcore" versions 1..2 */
extern const struct idc_protocol rt_proto_v1;      /* "rtcore" version 1 only */
extern const struct idc_protocol rt_proto_other;   /* "other" */
extern const struct idc_protocol rt_proto_badhash; /* "rtcore" 1..1, different hash */

/* Creates a fresh private shm directory; returns its path (static storage per call slot). */
const char *rt_tmpdir(void);
void rt_rmdir(const char *dir);

/* Log capture: appends every message to a buffer (tests grep it). */
struct rt_log {
    char text[16384];
    unsigned errors;
};
void rt_log_fn(void *arg, int level, const char *msg);

struct idc_context *rt_ctx(const char *dir, struct rt_log *log);
/* Dispatches until *flag becomes true or ms elapse; returns the flag. */
bool rt_until(struct idc_context *ctx, volatile bool *flag, int ms);
bool rt_until2(struct idc_context *a, struct idc_context *b, volatile bool *flag, int ms);

/* A simple driver: counts callbacks; echoes transactions (result = payload) when echo is set;
   acknowledges disconnects at once unless hold_ddone. */
struct rt_drv {
    struct idc_endpoint ep;
    bool echo;
    bool hold_ddone;
    unsigned appear, connects, disconnects, disappear, writable;
    unsigned msgs, reqs;
    uint64_t msg_bytes;
    uint32_t last_op;
    unsigned char last[256];
    size_t last_len;
    struct idc_request *held[64];
    unsigned nheld;
    bool hold_requests;
    volatile bool connected, destroyed;
    int order[32]; /* callback order: 'a','c','d','g' */
    unsigned norder;
    uint32_t connect_timeout_ms; /* set before create */
    unsigned unanswered;         /* ops->unanswered calls, the last one's err and time */
    int unanswered_err;
    uint64_t unanswered_ns;
};
uint64_t rt_now_ns(void);
extern const struct idc_endpoint_ops rt_ops;
void rt_drv_create(struct rt_drv *d, struct idc_context *ctx, enum idc_role role, const char *addr,
                   const struct idc_protocol *p, uint32_t credits);

void rt_drv_create_flags(struct rt_drv *d, struct idc_context *ctx, enum idc_role role,
                         const char *addr, const struct idc_protocol *p, uint32_t credits,
                         uint32_t flags);

#endif
