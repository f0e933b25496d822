/* libFuzzer: the NIfTI reader (emim_nifti_read), header only and with the
 * data, as .nii and as .nii.gz (the first byte chooses; the rest is the
 * file). */
#include "emim.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n < 1) return 0;
    const char *path = fuzz_file(data + 1, n - 1, data[0] & 1 ? ".nii.gz" : ".nii");
    char err[512];
    emim_volume v;
    if (emim_nifti_read(&v, path, 0, err, sizeof err) == EMIM_OK) emim_volume_free(&v);
    if (emim_nifti_read(&v, path, 1, err, sizeof err) == EMIM_OK) emim_volume_free(&v);
    unlink(path);
    return 0;
}
