/* libFuzzer: the checkpoint loader: the configuration and run record
 * (emim_checkpoint_config: the safetensors header, the run's JSON, every
 * field's checks, the size of the data against the configuration), then,
 * for a configuration of at most 2^20 activation values a step, a trainer
 * made from it and the weights loaded (names, shapes, the CRC-32). */
#include "emim.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
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
    const char *path = fuzz_file(data, n, ".emim");
    emim_train_config cfg;
    long steps;
    char *record = NULL;
    if (emim_checkpoint_config(ctx, path, &cfg, &steps, &record) == EMIM_OK) {
        /* the activations are not bounded by what the file holds (a known
         * gap): only small configurations go on to a trainer */
        double act = (double)cfg.batch * emim_vit_tokens(&cfg.vit) * cfg.vit.hidden * cfg.vit.layers;
        emim_trainer *T = NULL;
        if (act <= (double)(1 << 20) && emim_trainer_create(ctx, &cfg, &T) == EMIM_OK) {
            emim_trainer_load(T, path);
            emim_trainer_free(T);
        }
        free(record);
    }
    unlink(path);
    return 0;
}
