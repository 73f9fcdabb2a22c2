/* libFuzzer target: the ring receiver fed an arbitrary ring image.
 * The input is the whole shared memory of one ring (control block + data area), as a hostile
 * peer could leave it. The consumer polls and pops frames until it runs dry or reports
 * IDC_ERR_PROTO; every frame it accepts must respect the framing rules it promises. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "idc.h"
#include "ring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RING_SIZE 4096u
#define MAX_FRAME 1024u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* aligned private copy of the image: the ring code expects page-like alignment */
    static _Alignas(4096) unsigned char mem[IDC_RING_CTRL_SIZE + RING_SIZE];
    static unsigned char payload[MAX_FRAME];
    memset(mem, 0, sizeof(mem));
    memcpy(mem, data, size < sizeof(mem) ? size : sizeof(mem));

    struct idc_ring_rx rx;
    idc_ring_rx_attach(&rx, mem, RING_SIZE, MAX_FRAME);
    for (int round = 0; round < 64; round++) {
        int64_t avail = idc_ring_rx_poll(&rx);
        if (avail <= 0)
            break;
        if (avail > (int64_t)RING_SIZE)
            abort(); /* poll promised a validated window */
        struct idc_frame_hdr h;
        int r = idc_ring_rx_pop(&rx, &h, payload);
        if (r != 0)
            break; /* 1: incomplete frame, IDC_ERR_PROTO: peer disconnected */
        if (h.length > MAX_FRAME || h.kind < IDC_FRAME_MESSAGE || h.kind > IDC_FRAME_RESPONSE)
            abort(); /* pop must never hand out an invalid header */
        (void)idc_ring_rx_publish(&rx);
    }
    return 0;
}
