/* libFuzzer: the safetensors reader (src/data/safetensors.c): open, the
 * metadata, every tensor read. */
#include "data/safetensors.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    const char *path = fuzz_file(data, n, ".safetensors");
    char err[4400];
    emim_st *s = NULL;
    if (emim_st_open(&s, path, err, sizeof err) == EMIM_OK) {
        (void)emim_st_meta(s, "format");
        for (int i = 0; i < emim_st_count(s); i++) {
            const emim_st_tensor *t = emim_st_get(s, i);
            float *dst = malloc((size_t)(t->size ? t->size : 1) * sizeof *dst);
            if (dst) emim_st_read(s, t, dst, err, sizeof err);
            free(dst);
        }
        emim_st_close(s);
    }
    unlink(path);
    return 0;
}
