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

#ifdef EMIM_H
/* A checkpoint file through the loader: its configuration and run record,
 * then, for a configuration of at most 2^20 activation values a step, a
 * trainer made from it and the weights loaded. (Larger ones are refused by
 * the memory cap or allowed up to the host's memory: more than libFuzzer's
 * malloc limit, so they stop at the configuration.) */
static inline void fuzz_load_checkpoint(const char *path)
{
    static emim_ctx *ctx;
    if (!ctx) {
        emim_options o;
        emim_options_init(&o, NULL, 0);
        o.backend = EMIM_BACKEND_CPU;
        o.threads = 1;
        o.mem_limit = (size_t)1 << 30;
        if (emim_ctx_create(&ctx, &o, NULL, 0)) abort();
    }
    emim_train_config cfg;
    long steps;
    char *record = NULL;
    if (emim_checkpoint_config(ctx, path, &cfg, &steps, &record) == EMIM_OK) {
        double act = (double)cfg.batch * emim_vit_tokens(&cfg.vit) * cfg.vit.hidden * cfg.vit.layers;
        emim_trainer *T = NULL;
        if (act <= (double)(1 << 20) && emim_trainer_create(ctx, &cfg, &T) == EMIM_OK) {
            emim_trainer_load(T, path);
            emim_trainer_free(T);
        }
        free(record);
    }
}
#endif

#endif
