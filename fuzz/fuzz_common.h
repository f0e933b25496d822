/* Shared by the libFuzzer harnesses (make fuzz): the input written to a
 * file of its own (the readers take paths), named with a suffix the reader
 * looks at; fuzz_write for a name of the harness's choosing. */
#ifndef EMIM_FUZZ_COMMON_H
#define EMIM_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* PATH made to hold data[0..n) */
static inline void fuzz_write(const char *path, const uint8_t *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(data, 1, n, f) != n) abort();
    if (fclose(f)) abort();
}

/* path (static storage) of a file holding data[0..n) */
static inline const char *fuzz_file(const uint8_t *data, size_t n, const char *suffix)
{
    static char path[256];
    snprintf(path, sizeof path, "/tmp/emim-fuzz-%ld%s", (long)getpid(), suffix);
    fuzz_write(path, data, n);
    return path;
}

#endif
