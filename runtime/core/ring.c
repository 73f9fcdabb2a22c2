/* ring.c - SPSC frame rings in shared memory (see ring.h for the layout and the rules).
 *
 * Built twice from this one file: into libidc, and into a kernel module by kbuild (ring.h picks
 * the headers and the ordered accesses of each). Declarations stay at the top of their block,
 * as kernels before 5.18 (gnu89, -Wdeclaration-after-statement) require. */
#include "ring.h"

uint32_t idc_ring_size_for(uint32_t frames, uint32_t max_frame)
{
    uint64_t need = (uint64_t)frames * idc_frame_size(max_frame);
    uint64_t size = IDC_RING_MIN_SIZE;

    while (size < need)
        size <<= 1;
    return size > IDC_RING_MAX_SIZE ? 0 : (uint32_t)size;
}

void idc_ring_init_shared(void *mem)
{
    memset(mem, 0, sizeof(struct idc_ring_ctrl));
}

void idc_ring_tx_attach(struct idc_ring_tx *tx, void *mem, uint32_t size, uint32_t msg_limit)
{
    memset(tx, 0, sizeof(*tx));
    tx->ctrl = mem;
    tx->data = (unsigned char *)mem + IDC_RING_CTRL_SIZE;
    tx->size = size;
    tx->mask = size - 1;
    tx->msg_limit = msg_limit;
}

void idc_ring_rx_attach(struct idc_ring_rx *rx, void *mem, uint32_t size, uint32_t max_frame)
{
    memset(rx, 0, sizeof(*rx));
    rx->ctrl = mem;
    rx->data = (const unsigned char *)mem + IDC_RING_CTRL_SIZE;
    rx->size = size;
    rx->mask = size - 1;
    rx->max_frame = max_frame;
    /* A fresh consumer wants to hear about the first frame. */
    IDC_RING_STORE_RLX(&rx->ctrl->prod_event, 1u);
    rx->armed = true;
    rx->arm_value = 1u;
    rx->asked = 1u;
}

int idc_ring_tx_check(struct idc_ring_tx *tx)
{
    /* Acquire: the consumer finished copying frames out before it published cons, so the bytes
       below cons are free to overwrite. Each index is read once, then validated privately. */
    uint32_t cons = IDC_RING_LOAD_ACQ(&tx->ctrl->cons);
    uint32_t msg_cons = IDC_RING_LOAD_ACQ(&tx->ctrl->msg_cons);
    uint32_t used = tx->prod - cons;

    if (used > tx->size || (used & (IDC_FRAME_ALIGN - 1)))
        return IDC_ERR_PROTO;
    if (cons - tx->cons > tx->prod - tx->cons) /* moved backwards */
        return IDC_ERR_PROTO;
    if (msg_cons - tx->msg_cons > tx->msg_sent - tx->msg_cons) /* moved backwards or past sent */
        return IDC_ERR_PROTO;
    tx->msg_cons = msg_cons;
    tx->cons = cons;
    return 0;
}

void idc_ring_copy_in(const struct idc_ring_tx *tx, uint32_t pos, const void *src, uint32_t len)
{
    uint32_t off = pos & tx->mask;
    uint32_t first = tx->size - off;

    if (first >= len) {
        memcpy(tx->data + off, src, len);
    } else {
        memcpy(tx->data + off, src, first);
        memcpy(tx->data, (const unsigned char *)src + first, len - first);
    }
}

int idc_ring_write_fill(struct idc_ring_tx *tx, const struct idc_frame_hdr *h,
                        void (*fill)(void *arg, void *dst, size_t off, size_t n), void *arg)
{
    uint32_t len = h->length, fsize = idc_frame_size(len);
    uint32_t at = (tx->prod + (uint32_t)sizeof(*h)) & tx->mask; /* where the payload starts */
    uint32_t first = len < tx->size - at ? len : tx->size - at; /* its bytes before the end */
    int r = idc_ring_tx_reserve(tx, fsize);

    if (r)
        return r;
    idc_ring_copy_in(tx, tx->prod, h, sizeof(*h));
    if (first)
        fill(arg, tx->data + at, 0, first);
    if (len > first)
        fill(arg, tx->data, first, len - first);
    idc_ring_wrote(tx, h, fsize);
    return 0;
}

int idc_ring_tx_room(struct idc_ring_tx *tx, uint32_t fsize)
{
    /* Only now look at the consumer's line again (keeps it from bouncing per frame). */
    uint32_t cons = IDC_RING_LOAD_ACQ(&tx->ctrl->cons);
    uint32_t used = tx->prod - cons;

    if (used > tx->size || (used & (IDC_FRAME_ALIGN - 1)))
        return IDC_ERR_PROTO;
    if (cons - tx->cons > tx->prod - tx->cons) /* moved backwards */
        return IDC_ERR_PROTO;
    tx->cons = cons;
    return tx->size - used < fsize ? IDC_ERR_AGAIN : 0;
}

void idc_ring_tx_prefetch(const struct idc_ring_tx *tx, uint32_t fsize)
{
    uint32_t free = tx->size - (tx->prod - tx->cons), n = fsize, i;

    if (n > free)
        n = free;
    if (n > 4096u)
        n = 4096u;
    for (i = 0; i < n; i += IDC_RING_CACHELINE)
        __builtin_prefetch(tx->data + ((tx->prod + i) & tx->mask), 1, 3);
}

bool idc_ring_tx_need_notify(struct idc_ring_tx *tx)
{
    uint32_t old = tx->notified, new = tx->prod;
    uint32_t ev;

    if (old == new)
        return false;
    idc_ring_tx_publish(tx);
    tx->notified = new;
    tx->looked = new;
    /* Full barrier: our prod store must be visible before we read prod_event, pairing with the
       consumer's "store prod_event; barrier; re-read prod" in idc_ring_rx_arm. Otherwise both
       could miss each other and the consumer sleeps on a non-empty ring. */
    IDC_RING_FULL_FENCE();
    ev = IDC_RING_LOAD_RLX(&tx->ctrl->prod_event);
    return (uint32_t)(new - ev) < (uint32_t)(new - old);
}

bool idc_ring_tx_arm_credit(struct idc_ring_tx *tx)
{
    /* Wake me when msg_cons reaches the value that gives half the window back (at least one
       credit), not the first credit: a producer out of credit is streaming, and waking it per
       consumed message costs both sides a notification and a wake-up per message (virtio's
       delayed used-event does the same for transmit completions). Never a deadlock: the
       consumer consumes every message frame it finds, so msg_cons reaches msg_sent >= want.
       A producer that runs meanwhile sees credit in shared memory without a notification. */
    uint32_t half = tx->msg_limit / 2 ? tx->msg_limit / 2 : 1;
    uint32_t want = tx->msg_sent - tx->msg_limit + half;

    if (want != tx->credit_want) { /* never 0 at the first arm: want >= half >= 1 */
        tx->credit_want = want;
        tx->asked++;
    }
    IDC_RING_STORE_RLX(&tx->ctrl->credit_event, want);
    /* Full barrier: credit_event must be visible before we re-read msg_cons, pairing with the
       consumer's "store msg_cons; barrier; read credit_event" in idc_ring_rx_publish. */
    IDC_RING_FULL_FENCE();
    if (idc_ring_tx_check(tx) != 0)
        return true; /* the caller's next send finds the protocol error */
    return idc_ring_tx_msg_credit(tx) > 0;
}

int64_t idc_ring_rx_poll(struct idc_ring_rx *rx)
{
    /* Acquire: frame bytes up to prod are visible once we see prod. Read once, validate. */
    uint32_t prod = IDC_RING_LOAD_ACQ(&rx->ctrl->prod);
    uint32_t avail = prod - rx->cons;

    if (avail > rx->size || (avail & (IDC_FRAME_ALIGN - 1)))
        return IDC_ERR_PROTO;
    rx->prod = prod;
    return avail;
}

void idc_ring_copy_out(const struct idc_ring_rx *rx, uint32_t pos, void *dst, uint32_t len)
{
    uint32_t off = pos & rx->mask;
    uint32_t first = rx->size - off;

    if (first >= len) {
        memcpy(dst, rx->data + off, len);
    } else {
        memcpy(dst, rx->data + off, first);
        memcpy((unsigned char *)dst + first, rx->data, len - first);
    }
}

bool idc_ring_rx_publish(struct idc_ring_rx *rx)
{
    /* Release: our copies out of the frames are complete before the producer may reuse them. */
    uint32_t old = rx->published_msg_cons, new = rx->msg_cons;
    uint32_t ev;

    IDC_RING_STORE_REL(&rx->ctrl->cons, rx->cons);
    rx->published_cons = rx->cons;
    if (old == new)
        return false;
    IDC_RING_STORE_REL(&rx->ctrl->msg_cons, new);
    rx->published_msg_cons = new;
    /* Full barrier: msg_cons visible before reading credit_event (pairs with
       idc_ring_tx_arm_credit). */
    IDC_RING_FULL_FENCE();
    ev = IDC_RING_LOAD_RLX(&rx->ctrl->credit_event);
    return (uint32_t)(new - ev) < (uint32_t)(new - old);
}

bool idc_ring_rx_arm(struct idc_ring_rx *rx, uint32_t sleep_cpu)
{
    rx->armed = true;
    if (rx->cons + 1 != rx->arm_value) {
        rx->arm_value = rx->cons + 1;
        rx->asked++;
    }
    IDC_RING_STORE_RLX(&rx->ctrl->sleep_cpu, sleep_cpu);
    IDC_RING_STORE_RLX(&rx->ctrl->prod_event, rx->cons + 1);
    /* Full barrier: prod_event must be visible before we re-read prod (pairs with
       idc_ring_tx_need_notify). */
    IDC_RING_FULL_FENCE();
    return IDC_RING_LOAD_ACQ(&rx->ctrl->prod) != rx->cons;
}

void idc_ring_rx_disarm(struct idc_ring_rx *rx)
{
    /* Half the index space away from cons: never in (old, new] of the producer's next decision
       while fewer than 2^31 bytes were published since its last one. (cons itself would be:
       frames pushed but not yet flushed may already be consumed, and old lags behind them.) */
    rx->armed = false;
    IDC_RING_STORE_RLX(&rx->ctrl->prod_event, rx->cons + 0x80000000u);
}
