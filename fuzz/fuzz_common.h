/* Shared by the libFuzzer harnesses (make fuzz): the input written to a
 * file of its own (the readers take paths), named with a suffix the reader
 * looks at. */
#ifndef EMIM_FUZZ_COMMON_H
#define EMIM_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* path (static storage) of a file holding data[0..n) */
static const char *fuzz_file(const uint8_t *data, size_t n, const char *suffix)
{
    static char path[256];
    snprintf(path, sizeof path, "/tmp/emim-fuzz-%ld%s", (long)getpid(), suffix);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(data, 1, n, f) != n) abort();
    if (fclose(f)) abort();
    return path;
}

#endif
