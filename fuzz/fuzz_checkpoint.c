/* libFuzzer: the checkpoint loader: the configuration and run record
 * (emim_checkpoint_config: the safetensors header, the run's JSON, every
 * field's checks, the size of the data against the configuration), then,
 * for a configuration of at most 2^20 activation values a step, a trainer
 * made from it and the weights loaded (names, shapes, the CRC-32). */
#include "emim.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    const char *path = fuzz_file(data, n, ".emim");
    fuzz_load_checkpoint(path);
    unlink(path);
    return 0;
}
