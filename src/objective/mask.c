/* Masks on the patch grid: the Hybrid Mask Pattern of E-MIM (papers/e-mim.txt,
 * section III-A, Fig. 3) and plain random masking. A mask is [C, N] bytes
 * (modality c, patch position n), 1 = masked. Every draw comes from Philox,
 * indexed by (seed, step, sample), so a mask depends on nothing else: the
 * same on every backend, thread count and resumed run. */
#include "core/emim_math.h"
#include "core/internal.h"
#include "objective/objective.h"

#include <stdlib.h>
#include <string.h>

/* A uniform integer in [0, n) from draw k of the stream; the bias of the
 * multiply-shift map is below 2^-32 n. */
static uint32_t pick(uint64_t seed, uint64_t stream, uint64_t k, uint32_t n)
{
    emim_philox_ctr r = emim_philox_at(k, 0, seed, stream);
    return (uint32_t)(((uint64_t)r.v[0] * n) >> 32);
}

/* The first `count` entries of a Fisher-Yates shuffle of 0..n-1 into perm. */
static void choose(uint32_t *perm, uint32_t n, uint32_t count, uint64_t seed, uint64_t stream, uint64_t k0)
{
    for (uint32_t i = 0; i < n; i++) perm[i] = i;
    for (uint32_t i = 0; i < count && i + 1 < n; i++) {
        uint32_t j = i + pick(seed, stream, k0 + i, n - i);
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* The Philox stream of one mask: step < 2^40, sample < 2^24. */
static uint64_t stream_of(uint64_t step, uint64_t sample) { return step << 24 | (sample & 0xffffffu); }

void emim_mask_options_default(emim_mask_options *o)
{
    o->strategy = EMIM_MASK_HMP;
    o->modal = 1;
    o->r_pos = 0.4f;
    o->r_patch = 0.3f;
    o->ratio = 0.6f;
}

emim_status emim_mask_make(uint8_t *mask, int C, int N, const emim_mask_options *o, uint64_t seed, uint64_t step,
                           uint64_t sample)
{
    if (N < 1) return EMIM_ERR_ARG;
    uint32_t *perm = malloc((size_t)N * sizeof *perm);
    if (!perm) return EMIM_ERR_NOMEM;
    emim_status s = emim_mask_make_perm(mask, perm, C, N, o, seed, step, sample);
    free(perm);
    return s;
}

emim_status emim_mask_make_perm(uint8_t *mask, uint32_t *perm, int C, int N, const emim_mask_options *o,
                                uint64_t seed, uint64_t step, uint64_t sample)
{
    if (!mask || !perm || C < 1 || N < 1 || !o) return EMIM_ERR_ARG;
    if (!(o->r_pos >= 0 && o->r_pos <= 1) || !(o->r_patch >= 0 && o->r_patch <= 1) || !(o->ratio >= 0 && o->ratio <= 1))
        return EMIM_ERR_ARG;
    uint64_t st = stream_of(step, sample);
    memset(mask, 0, (size_t)C * N);
    if (o->strategy == EMIM_MASK_RANDOM) {
        /* MAE / SimMIM: round(ratio N) positions, all modalities */
        uint32_t k = (uint32_t)(o->ratio * N + 0.5f);
        choose(perm, (uint32_t)N, k, seed, st, 0);
        for (uint32_t i = 0; i < k; i++)
            for (int c = 0; c < C; c++) mask[(size_t)c * N + perm[i]] = 1;
        return EMIM_OK;
    }
    if (o->strategy != EMIM_MASK_HMP) return EMIM_ERR_ARG;
    /* 1. modal mask: one random modality entirely */
    if (o->modal && C > 1) {
        uint32_t m = pick(seed, st, 1u << 30, (uint32_t)C);
        memset(mask + (size_t)m * N, 1, (size_t)N);
    }
    /* 2. position mask: round(r_pos N) positions in every modality */
    uint32_t kp = (uint32_t)(o->r_pos * N + 0.5f);
    choose(perm, (uint32_t)N, (uint32_t)N, seed, st, 0);
    for (uint32_t i = 0; i < kp; i++)
        for (int c = 0; c < C; c++) mask[(size_t)c * N + perm[i]] = 1;
    /* 3. patch mask: at round(r_patch N) of the other positions, a random
     * non-empty proper subset of the modalities (so the rest of that
     * position stays visible: the modalities complement each other) */
    uint32_t kq = (uint32_t)(o->r_patch * N + 0.5f);
    if (kq > (uint32_t)N - kp) kq = (uint32_t)N - kp;
    if (C > 1) {
        for (uint32_t i = 0; i < kq; i++) {
            uint32_t n = perm[kp + i];
            uint32_t sub = 1 + pick(seed, st, (2u << 30) + i, (1u << C) - 2); /* 1 .. 2^C - 2 */
            for (int c = 0; c < C; c++)
                if (sub >> c & 1u) mask[(size_t)c * N + n] = 1;
        }
    }
    return EMIM_OK;
}

void emim_mask_tokens(float *xm, const float *x, const uint8_t *mask, int C, int N, int P3)
{
    size_t pd = (size_t)C * P3;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            size_t o = (size_t)n * pd + (size_t)c * P3;
            if (mask[(size_t)c * N + n]) memset(xm + o, 0, (size_t)P3 * sizeof *xm);
            else if (xm != x) memcpy(xm + o, x + o, (size_t)P3 * sizeof *xm);
        }
}
