// SPDX-License-Identifier: GPL-2.0-only OR MIT
/* kidc_test.c - the kernel runtime's self-test client (tests/xen/kidcxen.sh): a module loaded
 * in the domU after idc.ko, a frontend of xen:0/kidc served by kidcsrv (a libidc backend in
 * dom0, tests/xen/transport/kidcsrv_test.c). The checks run in the module's init (insmod
 * returns when they are done) and print one line each to the kernel log:
 *
 *   idc_ktest: PASS CHECK [details]      idc_ktest: FAIL CHECK details
 *
 * Checks, in order (a failed one fails the ones that need it):
 *   connect             the endpoint connects within 60 s
 *   transactions_1000   1000 echo transactions, up to 16 submitted at once over 8 credits,
 *                       every result compared byte for byte
 *   remote_buffer       1 MiB from idc_buffer_alloc, registered read and write: the server
 *                       reads it all (bytes compared there) and writes it all (compared
 *                       here); a reference with a forged key gets IDC_ERR_BADREF and the
 *                       link still serves the true one; after idc_buffer_unregister, the
 *                       reference gets IDC_ERR_REVOKED
 *   credits_full        8 held transactions take every credit: the 9th gets IDC_ERR_AGAIN;
 *                       released, all 8 complete with status 0
 *   hostile_index, hostile_length, hostile_oversize, hostile_storm, hostile_early_storm,
 *   hostile_unasked
 *                       a second endpoint in the same context, a frontend of xen:0/kidc-evil
 *                       served by a hostile backend in dom0 (tests/xen/transport/
 *                       kidcevil_test.c), which misbehaves once per connection: a producer
 *                       index past the ring's size, a frame length past the bytes published, a
 *                       frame over the maximum frame size, an event storm of up to 6 s, a storm
 *                       of 1.5 s during the handshake (before its answer), a response to a
 *                       transaction never asked. Each but the storms must take the hostile
 *                       endpoint down with IDC_ERR_PROTO and the reason logged (the check names
 *                       it); the storm must be cut the same way (event storm), or paused and
 *                       the endpoint still echo after it; after the early storm the endpoint
 *                       must connect and echo. The endpoint reconnects after each.
 *   hostile_honest_kept while the hostile cases ran, the first endpoint kept one echo
 *                       transaction in flight at all times: every one completed correctly, none
 *                       waited more than 5 s; then the hostile endpoint was destroyed
 *   backend_kill        4 held transactions, then the server kills itself (SIGKILL): all 4
 *                       complete with IDC_ERR_DISCONNECTED, then the disconnect callback runs
 *   reconnect           the restarted server is connected again within 60 s and echoes
 *   teardown            endpoint destroyed (its done callback), context destroyed
 */
#include <linux/atomic.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/wait.h>

#include "idc.h"
#include "kidc_proto.h"

#define KT_WINDOW  16
#define KT_CREDITS 8
#define KT_WAIT	   (60 * HZ) /* connecting */
#define KT_DONE	   (20 * HZ) /* completions */
#define KH_CONNECT (30 * HZ) /* the hostile endpoint's next connection */
#define KH_STORM   (8 * HZ)  /* the storm lasts 6 s at most: a cut comes within this */
#define KH_STALL   (5 * HZ)  /* an honest echo waiting longer means the context stalled */

static const uint64_t kt_hashes[1] = {KIDC_HASH};
static const struct idc_protocol kt_proto = {
	.name = KIDC_NAME,
	.min_version = 1,
	.max_version = 1,
	.version_hash = kt_hashes,
	.max_frame = KIDC_MAX_FRAME,
};

struct kt_slot {
	struct idc_txn txn;
	atomic_t busy;
	uint32_t len, seed;
	int status;
	bool bad; /* the result differed from the expectation */
};

#define KT_RBUF_LEN (1u << 20)

struct kt {
	struct idc_context *ctx;
	struct idc_txn rtxn; /* KIDC_OP_RBUF */
	atomic_t rdone;
	int rstatus;
	int32_t rst[2];
	struct idc_endpoint ep;
	wait_queue_head_t wq;
	atomic_t connected, connects, disconnects, destroyed;
	atomic_t done, ok, disc, bad;
	struct kt_slot slot[KT_WINDOW];
	/* the hostile_* checks */
	struct idc_endpoint evil;
	atomic_t evil_connects, evil_disconnects, evil_destroyed;
	bool evil_auto;	     /* the disconnect callback acknowledges itself (teardown) */
	int evil_n;	     /* connections of the hostile endpoint done with */
	struct idc_txn etxn; /* the echo after the storm */
	atomic_t edone;
	int estatus;
	bool ebad;
	int echo_sent, echo_err; /* honest echoes during the hostile checks */
	unsigned long echo_t0, echo_max;
};

static struct kt *kt;

/* ------------------------------------------------------------- callbacks (the workqueue) */

static void kt_connect(struct idc_endpoint *ep)
{
	atomic_set(&kt->connected, 1);
	atomic_inc(&kt->connects);
	wake_up(&kt->wq);
}

static void kt_disconnect(struct idc_endpoint *ep)
{
	atomic_set(&kt->connected, 0);
	atomic_inc(&kt->disconnects);
	idc_endpoint_disconnect_done(ep);
	wake_up(&kt->wq);
}

static int kt_message(struct idc_endpoint *ep, uint16_t op, const void *p, size_t len)
{
	return IDC_ERR_PROTO; /* the server sends none */
}

static int kt_transaction(struct idc_endpoint *ep, struct idc_request *r, uint16_t op,
			  const void *p, size_t len)
{
	return IDC_ERR_PROTO;
}

static const struct idc_endpoint_ops kt_ops = {
	.connect = kt_connect,
	.disconnect = kt_disconnect,
	.handle_message = kt_message,
	.handle_transaction = kt_transaction,
};

static void kt_fill(uint8_t *buf, uint32_t len, uint32_t seed)
{
	uint32_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed + i * 7);
}

static void kt_done(struct idc_txn *txn, int status, const void *result, size_t len)
{
	struct kt_slot *s = container_of(txn, struct kt_slot, txn);
	const uint8_t *r = result;
	uint32_t i;

	s->status = status;
	s->bad = false;
	if (status == 0 && len != s->len)
		s->bad = true;
	for (i = 0; status == 0 && !s->bad && i < len; i++)
		if (r[i] != (uint8_t)((uint8_t)(s->seed + i * 7) + 1))
			s->bad = true;
	if (status == 0 && !s->bad)
		atomic_inc(&kt->ok);
	else if (status == IDC_ERR_DISCONNECTED)
		atomic_inc(&kt->disc);
	else
		atomic_inc(&kt->bad);
	atomic_inc(&kt->done);
	atomic_set(&s->busy, 0);
	wake_up(&kt->wq);
}

static void kt_rdone(struct idc_txn *txn, int status, const void *result, size_t len)
{
	const uint8_t *p = result;
	int i;

	kt->rstatus = status;
	if (status == 0 && len != 8)
		kt->rstatus = IDC_ERR_PROTO;
	for (i = 0; kt->rstatus == 0 && i < 2; i++)
		kt->rst[i] = (int32_t)((uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
				       (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24);
	atomic_set(&kt->rdone, 1);
	wake_up(&kt->wq);
}

static void kt_destroyed(struct idc_endpoint *ep)
{
	atomic_set(&kt->destroyed, 1);
	wake_up(&kt->wq);
}

/* ------------------------------------------------------------------------- helpers */

static void kt_reset(void)
{
	atomic_set(&kt->done, 0);
	atomic_set(&kt->ok, 0);
	atomic_set(&kt->disc, 0);
	atomic_set(&kt->bad, 0);
}

static struct kt_slot *kt_free_slot(void)
{
	int i;

	for (i = 0; i < KT_WINDOW; i++)
		if (!atomic_read(&kt->slot[i].busy))
			return &kt->slot[i];
	return NULL;
}

/* Submits one transaction on a free slot: 0, IDC_ERR_AGAIN or another error. */
static int kt_submit(uint16_t op, uint32_t len, uint32_t seed)
{
	uint8_t buf[KIDC_MAX_FRAME];
	struct kt_slot *s = kt_free_slot();
	int r;

	if (!s)
		return IDC_ERR_AGAIN;
	s->len = op == KIDC_OP_ECHO ? len : 0; /* the result expected: held ones have none */
	s->seed = seed;
	s->txn.done = kt_done;
	kt_fill(buf, len, seed);
	atomic_set(&s->busy, 1);
	r = idc_submit_transaction(&kt->ep, &s->txn, op, buf, len);
	if (r)
		atomic_set(&s->busy, 0);
	return r;
}

static bool kt_wait_done(int n)
{
	return wait_event_interruptible_timeout(kt->wq, atomic_read(&kt->done) >= n, KT_DONE) > 0;
}

static bool kt_wait_connected(void)
{
	return wait_event_interruptible_timeout(kt->wq, atomic_read(&kt->connected), KT_WAIT) > 0;
}

/* -------------------------------------------------------------------------- the checks */

static bool check_transactions(void)
{
	int i = 0, r, seen;

	kt_reset();
	while (i < 1000) {
		seen = atomic_read(&kt->done);
		r = kt_submit(KIDC_OP_ECHO, 1 + (uint32_t)(i * 37) % KIDC_MAX_FRAME, (uint32_t)i);
		if (r == 0) {
			i++;
			continue;
		}
		if (r != IDC_ERR_AGAIN) {
			pr_info("idc_ktest: FAIL transactions_1000 submit %d: %s\n", i,
				idc_strerror(r));
			return false;
		}
		/* no credit or no slot: a completion gives both back */
		if (wait_event_interruptible_timeout(kt->wq, atomic_read(&kt->done) != seen,
						     KT_DONE) <= 0)
			break;
	}
	if (!kt_wait_done(1000) || atomic_read(&kt->ok) != 1000) {
		pr_info("idc_ktest: FAIL transactions_1000 %d submitted, %d ok, %d bad, %d "
			"disconnected\n",
			i, atomic_read(&kt->ok), atomic_read(&kt->bad), atomic_read(&kt->disc));
		return false;
	}
	pr_info("idc_ktest: PASS transactions_1000 1000 results compared\n");
	return true;
}

/* The server uses rb in mode; false when the transaction itself failed (why in kt->rstatus). */
static bool kt_rbuf(const struct idc_rbuf *rb, uint32_t mode, uint32_t seed)
{
	uint8_t p[IDC_RBUF_WIRE_SIZE + 8];
	int i, r;

	idc_rbuf_encode(rb, p);
	for (i = 0; i < 4; i++) {
		p[IDC_RBUF_WIRE_SIZE + i] = (uint8_t)(mode >> (8 * i));
		p[IDC_RBUF_WIRE_SIZE + 4 + i] = (uint8_t)(seed >> (8 * i));
	}
	kt->rst[0] = kt->rst[1] = 0;
	atomic_set(&kt->rdone, 0);
	kt->rtxn.done = kt_rdone;
	r = idc_submit_transaction(&kt->ep, &kt->rtxn, KIDC_OP_RBUF, p, sizeof(p));
	if (r) {
		kt->rstatus = r;
		return false;
	}
	if (wait_event_interruptible_timeout(kt->wq, atomic_read(&kt->rdone), KT_DONE) <= 0) {
		kt->rstatus = IDC_ERR_TIMEOUT;
		return false; /* kt->rtxn may still complete: the module stays until it does */
	}
	return kt->rstatus == 0;
}

#define KT_RFAIL(...) pr_info("idc_ktest: FAIL remote_buffer " __VA_ARGS__)

static bool check_rbuf(void)
{
	struct idc_rbuf rb;
	uint8_t *mem = NULL;
	uint32_t i, bad = 0;
	int32_t rate[2]; /* dom0's read and write rates, KB/s */
	bool ok = false;
	int r;

	r = idc_buffer_alloc(kt->ctx, KT_RBUF_LEN, (void **)&mem);
	if (r) {
		KT_RFAIL("idc_buffer_alloc: %s\n", idc_strerror(r));
		return false;
	}
	for (i = 0; i < KT_RBUF_LEN; i++)
		mem[i] = kidc_byte(7u, i);
	r = idc_buffer_register(kt->ctx, mem, KT_RBUF_LEN, IDC_RBUF_READ | IDC_RBUF_WRITE, &rb);
	if (r) {
		KT_RFAIL("idc_buffer_register: %s\n", idc_strerror(r));
		goto out;
	}
	if (!kt_rbuf(&rb, KIDC_RBUF_RW, 7u)) {
		KT_RFAIL("read and write: transaction %s\n", idc_strerror(kt->rstatus));
		goto out;
	}
	if (kt->rst[0] || kt->rst[1]) {
		KT_RFAIL("the server's read: %s, its write: %s\n",
			 kt->rst[0] == KIDC_MISMATCH ? "bytes differ" : idc_strerror(kt->rst[0]),
			 idc_strerror(kt->rst[1]));
		goto out;
	}
	for (i = 0; i < KT_RBUF_LEN; i++)
		bad += mem[i] != kidc_byte(8u, i);
	if (bad) {
		KT_RFAIL("%u of %u bytes written by the server differ\n", bad, KT_RBUF_LEN);
		goto out;
	}
	if (!kt_rbuf(&rb, KIDC_RBUF_FORGED, 0) || kt->rst[0] != IDC_ERR_BADREF || kt->rst[1]) {
		KT_RFAIL("forged key: transaction %s, forged %s (not IDC_ERR_BADREF), true %s\n",
			 idc_strerror(kt->rstatus), idc_strerror(kt->rst[0]),
			 idc_strerror(kt->rst[1]));
		goto out;
	}
	/* dom0's rates against this kernel owner: a figure (docs/performance.md), its bytes
	   checked by the server (kidc_proto.h, KIDC_RBUF_RATE) */
	if (!kt_rbuf(&rb, KIDC_RBUF_RATE, 8u) || kt->rst[0] <= 0 || kt->rst[1] <= 0) {
		KT_RFAIL("rates: transaction %s, %s\n", idc_strerror(kt->rstatus),
			 kt->rst[0] == KIDC_MISMATCH ? "bytes differ" : idc_strerror(kt->rst[0]));
		goto out;
	}
	rate[0] = kt->rst[0];
	rate[1] = kt->rst[1];
	r = idc_buffer_unregister(kt->ctx, &rb);
	if (r) {
		KT_RFAIL("idc_buffer_unregister: %s\n", idc_strerror(r));
		goto out;
	}
	if (!kt_rbuf(&rb, KIDC_RBUF_READ, 0) || kt->rst[0] != IDC_ERR_REVOKED) {
		KT_RFAIL("after unregister: transaction %s, read %s (not IDC_ERR_REVOKED)\n",
			 idc_strerror(kt->rstatus), idc_strerror(kt->rst[0]));
		goto out;
	}
	pr_info("idc_ktest: PASS remote_buffer 1 MiB read and written by dom0, bytes compared; "
		"forged key IDC_ERR_BADREF, link kept; IDC_ERR_REVOKED after unregister; "
		"dom0's 1 MiB reads %d.%d MB/s, writes %d.%d MB/s (medians of 5 series of %d ms)\n",
		rate[0] / 1000, rate[0] / 100 % 10, rate[1] / 1000, rate[1] / 100 % 10,
		KIDC_RATE_MS);
	ok = true;
out:
	idc_buffer_free(kt->ctx, mem);
	return ok;
}

static bool check_credits(void)
{
	int i, r;

	kt_reset();
	for (i = 0; i < KT_CREDITS; i++) {
		r = kt_submit(KIDC_OP_HOLD, 4, 0);
		if (r) {
			pr_info("idc_ktest: FAIL credits_full hold %d: %s\n", i, idc_strerror(r));
			return false;
		}
	}
	r = kt_submit(KIDC_OP_HOLD, 4, 0);
	if (r != IDC_ERR_AGAIN) {
		pr_info("idc_ktest: FAIL credits_full the %dth got %s, not IDC_ERR_AGAIN\n",
			KT_CREDITS + 1, idc_strerror(r));
		return false;
	}
	r = idc_send_message(&kt->ep, KIDC_OP_RELEASE, NULL, 0);
	if (r || !kt_wait_done(KT_CREDITS) || atomic_read(&kt->ok) != KT_CREDITS) {
		pr_info("idc_ktest: FAIL credits_full release: %s, %d of %d ok\n", idc_strerror(r),
			atomic_read(&kt->ok), KT_CREDITS);
		return false;
	}
	pr_info("idc_ktest: PASS credits_full %d held, the next refused, all released\n",
		KT_CREDITS);
	return true;
}

static bool check_kill(void)
{
	int i, r, d0 = atomic_read(&kt->disconnects);

	kt_reset();
	for (i = 0; i < 4; i++) {
		r = kt_submit(KIDC_OP_HOLD, 4, 0);
		if (r) {
			pr_info("idc_ktest: FAIL backend_kill hold %d: %s\n", i, idc_strerror(r));
			return false;
		}
	}
	r = idc_send_message(&kt->ep, KIDC_OP_DIE, NULL, 0);
	if (r || !kt_wait_done(4) ||
	    wait_event_interruptible_timeout(kt->wq, atomic_read(&kt->disconnects) > d0, KT_WAIT) <=
		    0 ||
	    atomic_read(&kt->disc) != 4) {
		pr_info("idc_ktest: FAIL backend_kill send %s, %d of 4 DISCONNECTED, %d "
			"disconnects\n",
			idc_strerror(r), atomic_read(&kt->disc),
			atomic_read(&kt->disconnects) - d0);
		return false;
	}
	pr_info("idc_ktest: PASS backend_kill 4 outstanding completed with IDC_ERR_DISCONNECTED\n");
	return true;
}

static bool check_reconnect(void)
{
	int r;

	if (!kt_wait_connected()) {
		pr_info("idc_ktest: FAIL reconnect not connected again within 60 s\n");
		return false;
	}
	kt_reset();
	r = kt_submit(KIDC_OP_ECHO, 100, 42);
	if (r || !kt_wait_done(1) || atomic_read(&kt->ok) != 1) {
		pr_info("idc_ktest: FAIL reconnect echo after the restart: %s\n", idc_strerror(r));
		return false;
	}
	pr_info("idc_ktest: PASS reconnect connection %d echoes\n", atomic_read(&kt->connects));
	return true;
}

/* ------------------------------------------------------------------- the hostile backend */

static void ke_connect(struct idc_endpoint *ep)
{
	atomic_inc(&kt->evil_connects);
	wake_up(&kt->wq);
}

/* Acknowledged by the check once it read the reason (idc_endpoint_last_error), so the next
   connection comes after that. */
static void ke_disconnect(struct idc_endpoint *ep)
{
	atomic_inc(&kt->evil_disconnects);
	if (READ_ONCE(kt->evil_auto))
		idc_endpoint_disconnect_done(ep);
	wake_up(&kt->wq);
}

static void ke_destroyed(struct idc_endpoint *ep)
{
	atomic_set(&kt->evil_destroyed, 1);
	wake_up(&kt->wq);
}

static const struct idc_endpoint_ops ke_ops = {
	.connect = ke_connect,
	.disconnect = ke_disconnect,
	.handle_message = kt_message,
	.handle_transaction = kt_transaction,
};

static void ke_done(struct idc_txn *txn, int status, const void *result, size_t len)
{
	const uint8_t *r = result;
	size_t i;

	kt->estatus = status;
	kt->ebad = status == 0 && len != 100;
	for (i = 0; status == 0 && !kt->ebad && i < len; i++)
		kt->ebad = r[i] != (uint8_t)((uint8_t)(5 + i * 7) + 1);
	atomic_set(&kt->edone, 1);
	wake_up(&kt->wq);
}

/* Keeps one echo in flight on the honest endpoint (slot 0), and the longest wait seen. */
static void kh_pump(void)
{
	struct kt_slot *s = &kt->slot[0];
	int r;

	if (atomic_read(&s->busy)) {
		kt->echo_max = max(kt->echo_max, jiffies - kt->echo_t0);
		return;
	}
	r = kt_submit(KIDC_OP_ECHO, 64, (uint32_t)kt->echo_sent);
	if (r == 0) {
		kt->echo_sent++;
		kt->echo_t0 = jiffies;
	} else if (r != IDC_ERR_AGAIN) {
		kt->echo_err++;
	}
}

/* Waits up to t for cond(), pumping honest echoes meanwhile. */
static bool kh_wait(bool (*cond)(void), unsigned long t)
{
	unsigned long end = jiffies + t;

	for (;;) {
		if (cond())
			return true;
		if (time_after(jiffies, end))
			return false;
		kh_pump();
		wait_event_interruptible_timeout(kt->wq, cond() || !atomic_read(&kt->slot[0].busy),
						 HZ / 20);
	}
}

static bool kh_connected(void)
{
	return atomic_read(&kt->evil_connects) > kt->evil_n;
}

static bool kh_disconnected(void)
{
	return atomic_read(&kt->evil_disconnects) > kt->evil_n;
}

static bool kh_edone(void)
{
	return atomic_read(&kt->edone);
}

static bool kh_idle(void)
{
	return !atomic_read(&kt->slot[0].busy);
}

/* The next connection of the hostile endpoint is up. */
static bool kh_next(const char *check)
{
	if (kh_wait(kh_connected, KH_CONNECT))
		return true;
	pr_info("idc_ktest: FAIL %s the hostile endpoint did not connect (connection %d) within "
		"30 s (state %d)\n",
		check, kt->evil_n + 1, idc_endpoint_state(&kt->evil));
	return false;
}

/* The connection went down: its reason must be IDC_ERR_PROTO and name `want`. Acknowledged. */
static bool kh_reason(const char *check, const char *want, unsigned long t0)
{
	char why[128];
	int r = idc_endpoint_last_error(&kt->evil, why, sizeof(why));
	bool ok = r == IDC_ERR_PROTO && strstr(why, want);

	if (ok)
		pr_info("idc_ktest: PASS %s IDC_ERR_PROTO after %u ms: %s\n", check,
			jiffies_to_msecs(jiffies - t0), why);
	else
		pr_info("idc_ktest: FAIL %s disconnected with %s: '%s' (expected IDC_ERR_PROTO, "
			"'%s')\n",
			check, idc_strerror(r), why, want);
	idc_endpoint_disconnect_done(&kt->evil);
	kt->evil_n++;
	return ok;
}

/* One misbehaviour: the connection must go down with IDC_ERR_PROTO, the reason naming `want`.
   False when the endpoint is stuck (the later cases cannot run). */
static bool kh_case(const char *check, const char *want)
{
	unsigned long t0;

	if (!kh_next(check))
		return false;
	t0 = jiffies;
	if (!kh_wait(kh_disconnected, KT_DONE)) {
		pr_info("idc_ktest: FAIL %s still connected 20 s after connection %d began\n",
			check, kt->evil_n + 1);
		return false;
	}
	kh_reason(check, want, t0);
	return true;
}

/* Echo one transaction on the hostile endpoint: 0, or why not (its status, IDC_ERR_PROTO for
   wrong bytes, IDC_ERR_TIMEOUT). */
static int kh_echo(void)
{
	uint8_t buf[100];
	int r;

	kt_fill(buf, sizeof(buf), 5);
	atomic_set(&kt->edone, 0);
	kt->etxn.done = ke_done;
	r = idc_submit_transaction(&kt->evil, &kt->etxn, KIDC_OP_ECHO, buf, sizeof(buf));
	if (r)
		return r;
	if (!kh_wait(kh_edone, KT_DONE))
		return IDC_ERR_TIMEOUT;
	return kt->estatus ? kt->estatus : kt->ebad ? IDC_ERR_PROTO : 0;
}

/* Ends the hostile endpoint's connection from this side and acknowledges it. */
static bool kh_hangup(const char *check)
{
	idc_endpoint_disconnect(&kt->evil);
	if (!kh_wait(kh_disconnected, KT_DONE)) {
		pr_info("idc_ktest: note %s idc_endpoint_disconnect did not complete\n", check);
		return false;
	}
	idc_endpoint_disconnect_done(&kt->evil);
	kt->evil_n++;
	return true;
}

/* The storm: cut (IDC_ERR_PROTO, "event storm"), or paused and the endpoint still works. */
static bool kh_storm(void)
{
	const char *check = "hostile_storm";
	unsigned long t0;
	int r;

	if (!kh_next(check))
		return false;
	t0 = jiffies;
	if (kh_wait(kh_disconnected, KH_STORM)) {
		kh_reason(check, "event storm", t0);
		return true;
	}
	r = kh_echo();
	if (r)
		pr_info("idc_ktest: FAIL hostile_storm not cut, but no echo after it: %s\n",
			idc_strerror(r));
	else
		pr_info("idc_ktest: PASS hostile_storm paused, not cut: connected after 8 s, an "
			"echo after the storm correct\n");
	return kh_hangup(check);
}

/* A storm during the handshake (before the backend's answer): the endpoint connects after it
   and works. */
static bool kh_early(void)
{
	unsigned long before = kt->echo_max, during;
	bool up;
	int r;

	kt->echo_max = 0; /* the honest echoes' longest wait during this case, for the details */
	up = kh_next("hostile_early_storm");
	during = kt->echo_max;
	kt->echo_max = max(before, during);
	if (!up)
		return false;
	r = kh_echo();
	if (r)
		pr_info("idc_ktest: FAIL hostile_early_storm connected after the storm, but its "
			"echo: %s\n",
			idc_strerror(r));
	else
		pr_info("idc_ktest: PASS hostile_early_storm connected after a storm during the "
			"handshake, echo correct; honest echoes meanwhile waited %u ms at most\n",
			jiffies_to_msecs(during));
	return kh_hangup("hostile_early_storm");
}

static void check_hostile(void)
{
	struct idc_endpoint_config cfg = {
		.protocol = &kt_proto,
		.role = IDC_ROLE_FRONTEND,
		.address = "xen:0/" KIDC_EVIL_SERVICE,
		.ops = &ke_ops,
		.max_transactions = KT_CREDITS,
		.max_messages = 16,
	};
	bool destroyed;

	kt_reset();
	idc_endpoint_create(&kt->evil, kt->ctx, &cfg);
	if (kh_case("hostile_index", "producer index") &&
	    kh_case("hostile_length", "malformed frame") &&
	    kh_case("hostile_oversize", "malformed frame") && kh_storm() && kh_early())
		kh_case("hostile_unasked", "unknown or completed transaction");
	WRITE_ONCE(kt->evil_auto, true);
	if (idc_endpoint_state(&kt->evil) == IDC_EP_DISCONNECTING)
		idc_endpoint_disconnect_done(&kt->evil);
	idc_endpoint_destroy(&kt->evil, ke_destroyed);
	destroyed = wait_event_interruptible_timeout(kt->wq, atomic_read(&kt->evil_destroyed),
						     KT_DONE) > 0;
	kh_wait(kh_idle, KT_DONE); /* the last echo */
	if (!destroyed || !kh_idle() || kt->echo_err || atomic_read(&kt->ok) != kt->echo_sent ||
	    kt->echo_sent < 10 || kt->echo_max > KH_STALL)
		pr_info("idc_ktest: FAIL hostile_honest_kept %d echoes sent, %d ok, %d bad, %d "
			"disconnected, %d refused; longest wait %u ms; hostile endpoint %s\n",
			kt->echo_sent, atomic_read(&kt->ok), atomic_read(&kt->bad),
			atomic_read(&kt->disc), kt->echo_err, jiffies_to_msecs(kt->echo_max),
			destroyed ? "destroyed" : "not destroyed within 20 s");
	else
		pr_info("idc_ktest: PASS hostile_honest_kept %d echoes correct during the hostile "
			"checks, longest wait %u ms; hostile endpoint destroyed\n",
			kt->echo_sent, jiffies_to_msecs(kt->echo_max));
}

static void kt_teardown(void)
{
	if (atomic_read(&kt->connected))
		idc_send_message(&kt->ep, KIDC_OP_BYE, NULL, 0);
	idc_endpoint_destroy(&kt->ep, kt_destroyed);
	if (wait_event_interruptible_timeout(kt->wq, atomic_read(&kt->destroyed), KT_DONE) <= 0) {
		pr_info("idc_ktest: FAIL teardown endpoint destroy did not complete\n");
		return; /* the context's destroy below forgets it */
	}
	idc_context_destroy(kt->ctx);
	kt->ctx = NULL;
	pr_info("idc_ktest: PASS teardown\n");
}

static void kt_run(void)
{
	struct idc_endpoint_config cfg = {
		.protocol = &kt_proto,
		.role = IDC_ROLE_FRONTEND,
		.address = "xen:0/" KIDC_SERVICE,
		.ops = &kt_ops,
		.max_transactions = KT_CREDITS,
		.max_messages = 16,
	};
	int r = idc_context_create(&kt->ctx, NULL);

	if (r) {
		pr_info("idc_ktest: FAIL connect idc_context_create: %s\n", idc_strerror(r));
		return;
	}
	idc_endpoint_create(&kt->ep, kt->ctx, &cfg);
	if (!kt_wait_connected()) {
		pr_info("idc_ktest: FAIL connect not connected within 60 s (state %d)\n",
			idc_endpoint_state(&kt->ep));
	} else {
		pr_info("idc_ktest: PASS connect version %u\n", idc_endpoint_version(&kt->ep));
		if (check_transactions()) {
			bool credits;

			check_rbuf();
			credits = check_credits();
			check_hostile();
			if (credits && check_kill())
				check_reconnect();
		}
	}
	kt_teardown();
	if (kt->ctx)
		idc_context_destroy(kt->ctx);
	kt->ctx = NULL;
	pr_info("idc_ktest: END\n");
}

static int __init kt_init(void)
{
	kt = kzalloc(sizeof(*kt), GFP_KERNEL);
	if (!kt)
		return -ENOMEM;
	init_waitqueue_head(&kt->wq);
	kt_run();
	return 0;
}

static void __exit kt_exit(void)
{
	kfree(kt);
}

module_init(kt_init);
module_exit(kt_exit);

MODULE_DESCRIPTION("idc: the kernel runtime's self-test client (check-xen)");
MODULE_LICENSE("Dual MIT/GPL");
