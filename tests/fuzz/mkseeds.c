/* Writes seed inputs for the ring and rbuf fuzz targets into DIR/ring and DIR/rbuf
 * (tests/fuzz/corpus is generated with it: `make fuzz-seeds`). Deterministic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idc.h"
#include "ring.h"

#define RING_SIZE 4096u

static void save(const char *dir, const char *name, const void *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: mkseeds DIR\n");
        return 2;
    }
    char dir[400];
    static _Alignas(4096) unsigned char mem[IDC_RING_CTRL_SIZE + RING_SIZE];
    snprintf(dir, sizeof dir, "%s/ring", argv[1]);
    /* rings holding 1, 5 and many frames of growing sizes, one of them wrapping */
    const unsigned counts[] = { 1, 5, 40 };
    for (unsigned c = 0; c < 3; c++) {
        memset(mem, 0, sizeof mem);
        idc_ring_init_shared(mem);
        struct idc_ring_tx tx;
        idc_ring_tx_attach(&tx, mem, RING_SIZE, 64);
        unsigned char payload[256];
        for (unsigned i = 0; i < counts[c]; i++) {
            struct idc_frame_hdr h = { .kind = (uint8_t)(1 + i % 3),
                                       .opcode = (uint16_t)i,
                                       .length = (i * 7) % 200,
                                       .epoch = 1,
                                       .txn = i % 3 ? i : 0 };
            memset(payload, (int)i, sizeof payload);
            if (idc_ring_push(&tx, &h, payload) != 0)
                break;
        }
        char name[32];
        snprintf(name, sizeof name, "frames-%u", counts[c]);
        save(dir, name, mem, sizeof mem);
    }
    snprintf(dir, sizeof dir, "%s/rbuf", argv[1]);
    unsigned char in[IDC_RBUF_WIRE_SIZE + 13];
    for (unsigned mode = 0; mode < 8; mode++) {
        memset(in, 0, sizeof in);
        struct idc_rbuf rb = { .rights = IDC_RBUF_READ, .length = 4096 };
        idc_rbuf_encode(&rb, in);
        in[IDC_RBUF_WIRE_SIZE] = (unsigned char)mode;
        in[IDC_RBUF_WIRE_SIZE + 9] = 16; /* len 16 at offset 0 */
        char name[32];
        snprintf(name, sizeof name, "mode-%u", mode);
        save(dir, name, in, sizeof in);
    }
    return 0;
}
