/* The collapsed loss of a masking strategy (E-MIM eq. 3 and Fig. 2), by
 * Monte Carlo over the samples of a dataset. A completely collapsed model
 * ignores what is masked: the best it can do there is the per-voxel dataset
 * mean. Two passes over samples 0 .. M-1: the per-voxel mean, then per
 * sample the squared deviations summed per patch, from which every strategy's
 * mask picks its patches. */
#include "core/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double f, v, c;      /* sums over samples */
    double f2, v2, c2;   /* sums of squares */
    long nv;             /* samples with a masked voxel (for v) */
} acc;

static void add(acc *a, double f, double v, double c, int has_v)
{
    a->f += f; a->f2 += f * f;
    a->c += c; a->c2 += c * c;
    if (has_v) { a->v += v; a->v2 += v * v; a->nv++; }
}

/* mean and its standard error over n values from their sum and sum of squares */
static void mean_se(double s, double s2, long n, double *mean, double *se)
{
    *mean = n ? s / (double)n : NAN;
    if (n < 2) { *se = NAN; return; }
    double var = (s2 - s * s / (double)n) / (double)(n - 1);
    *se = sqrt(var > 0 ? var : 0) / sqrt((double)n);
}

emim_status emim_maskvar(emim_data *d, const emim_vit_config *grid, int samples, const emim_mask_options *m, int nm,
                         uint64_t seed, emim_maskvar_result *out, char *err, size_t errlen)
{
    char why[256];
    emim_vit_config g = *grid;
    g.channels = emim_data_channels(d);
    if (emim_vit_check(&g, why, sizeof why)) {
        if (err) snprintf(err, errlen, "maskvar: %s", why);
        return EMIM_ERR_ARG;
    }
    if (samples < 2 || nm < 1 || !m || !out) {
        if (err) snprintf(err, errlen, "maskvar: need at least 2 samples (got %d) and a strategy", samples);
        return EMIM_ERR_ARG;
    }
    const int C = g.channels, N = emim_vit_tokens(&g), P3 = g.patch[0] * g.patch[1] * g.patch[2];
    const size_t vox = (size_t)C * g.img[0] * g.img[1] * g.img[2];
    float *x = malloc(vox * sizeof *x);
    double *mean = calloc(vox, sizeof *mean), *d2 = malloc((size_t)C * N * sizeof *d2);
    uint8_t *mask = malloc((size_t)C * N);
    acc *A = calloc((size_t)nm, sizeof *A);
    emim_status s = EMIM_OK;
    if (!x || !mean || !d2 || !mask || !A) {
        if (err) snprintf(err, errlen, "maskvar: out of memory");
        s = EMIM_ERR_NOMEM;
    }
    /* pass 1: the per-voxel mean */
    for (int i = 0; i < samples && !s; i++) {
        s = emim_data_sample(d, (uint64_t)i, x, err, errlen);
        for (size_t v = 0; v < vox && !s; v++) mean[v] += x[v];
    }
    for (size_t v = 0; v < vox && !s; v++) mean[v] /= samples;
    /* pass 2: per sample, squared deviations per patch (c, n); the tokens'
     * element e is voxel emim_patch_voxel(e) */
    const double unbias = (double)samples / (double)(samples - 1);
    for (int i = 0; i < samples && !s; i++) {
        s = emim_data_sample(d, (uint64_t)i, x, err, errlen);
        if (s) break;
        memset(d2, 0, (size_t)C * N * sizeof *d2);
        for (size_t e = 0; e < vox; e++) {
            size_t v = (size_t)emim_patch_voxel(e, (emim_u64)C, (emim_u64)g.img[0], (emim_u64)g.img[1],
                                                (emim_u64)g.img[2], (emim_u64)g.patch[0], (emim_u64)g.patch[1],
                                                (emim_u64)g.patch[2]);
            size_t n = e / ((size_t)C * P3), c = (e / P3) % C;
            double dv = x[v] - mean[v];
            d2[c * N + n] += dv * dv;
        }
        for (int k = 0; k < nm && !s; k++) {
            if (emim_mask_make(mask, C, N, &m[k], seed, (uint64_t)i, 0)) {
                if (err) snprintf(err, errlen, "maskvar: bad mask options (ratios must lie in [0, 1])");
                s = EMIM_ERR_ARG;
                break;
            }
            double sum = 0;
            long cnt = 0;
            for (size_t q = 0; q < (size_t)C * N; q++)
                if (mask[q]) { sum += d2[q]; cnt++; }
            double masked_vox = (double)cnt * P3;
            add(&A[k], masked_vox / (double)vox, cnt ? sum / masked_vox * unbias : 0, sum / (double)vox * unbias, cnt > 0);
        }
    }
    for (int k = 0; k < nm && !s; k++) {
        mean_se(A[k].f, A[k].f2, samples, &out[k].masked, &out[k].masked_se);
        mean_se(A[k].v, A[k].v2, A[k].nv, &out[k].var_xm, &out[k].var_xm_se);
        mean_se(A[k].c, A[k].c2, samples, &out[k].collapsed, &out[k].collapsed_se);
    }
    free(x); free(mean); free(d2); free(mask); free(A);
    return s;
}
