/* libFuzzer: the checkpoint loader as fuzz_checkpoint, but with the input's
 * CRC-32 made right before the load, so that a mutation is not stopped by
 * the checksum:
 *   - version 2 ("EMIMCKPT"): the last 4 bytes (little-endian) are the
 *     CRC-32 of everything before them, checked before the header is read:
 *     without this the binary header behind it is out of the fuzzer's reach;
 *   - version 3 (safetensors): "crc32" in the header's metadata, 8 hex
 *     digits, is the CRC-32 of the data section (the tensors in the order
 *     written), checked at the end of the weights' load: every such value
 *     of 8 characters is replaced by the CRC-32 of the bytes after the
 *     header, so that a load can succeed.
 * Then, as fuzz_checkpoint: the configuration and run record, and for a
 * configuration of at most 2^20 activation values a step, a trainer made
 * from it and the weights loaded. */
#include "emim.h"
#include "fuzz_common.h"

#include <zlib.h>

static uint32_t crc_of(const uint8_t *p, size_t n) { return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)n); }

static void fix_crc(uint8_t *b, size_t n)
{
    if (n >= 16 && !memcmp(b, "EMIMCKPT", 8)) {
        uint32_t c = crc_of(b, n - 4);
        for (int i = 0; i < 4; i++) b[n - 4 + i] = (uint8_t)(c >> (8 * i));
        return;
    }
    if (n < 8) return;
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)b[i] << (8 * i);
    if (hlen > n - 8) return;
    char hex[9];
    snprintf(hex, sizeof hex, "%08x", (unsigned)crc_of(b + 8 + hlen, n - 8 - hlen));
    static const char key[] = "\"crc32\"";
    uint8_t *h = b + 8, *end = h + hlen;
    for (uint8_t *p = h; (size_t)(end - p) >= sizeof key - 1; p++) {
        if (memcmp(p, key, sizeof key - 1)) continue;
        uint8_t *q = p + sizeof key - 1;
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')) q++;
        if (q >= end || *q++ != ':') continue;
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')) q++;
        if (end - q >= 10 && q[0] == '"' && q[9] == '"') memcpy(q + 1, hex, 8);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    if (!b) abort();
    if (n) memcpy(b, data, n);
    fix_crc(b, n);
    const char *path = fuzz_file(b, n, ".emim");
    free(b);
    fuzz_load_checkpoint(path);
    unlink(path);
    return 0;
}
