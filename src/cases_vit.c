/* Test cases of the ViT ops (layernorm, gelu), with their double-precision
 * references. */
#include "cases.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* t: 0 out, 1 mean, 2 rstd, 3 inp, 4 w, 5 b */
static void layernorm_ref(const emim_case *c, double *const *t)
{
    int64_t rows = c->fwd.i[0], C = c->fwd.i[1];
    double eps = c->fwd.f[0];
    for (int64_t r = 0; r < rows; r++) {
        const double *x = t[3] + r * C;
        double m = 0, v = 0;
        for (int64_t q = 0; q < C; q++) m += x[q];
        m /= (double)C;
        for (int64_t q = 0; q < C; q++) v += (x[q] - m) * (x[q] - m);
        v /= (double)C;
        double rs = 1 / sqrt(v + eps);
        for (int64_t q = 0; q < C; q++) t[0][r * C + q] = (x[q] - m) * rs * t[4][q] + t[5][q];
        t[1][r] = m;
        t[2][r] = rs;
    }
}

int emim_cases_layernorm(int idx, emim_case *c)
{
    static const struct { int rows, C, skip; } S[] = {
        { 1, 1, 0 }, { 3, 5, 0 }, { 7, 33, 1 }, { 216, 64, 2 }, { 2, 768, 3 },
    };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    int rows = S[idx].rows, C = S[idx].C;
    emim_case_init(c, 6);
    c->len[0] = c->len[3] = (size_t)rows * C;
    c->len[1] = c->len[2] = (size_t)rows;
    c->len[4] = c->len[5] = (size_t)C;
    c->role[0] = EMIM_T_OUT;
    c->role[1] = c->role[2] = EMIM_T_CACHE;
    c->role[3] = c->role[4] = c->role[5] = EMIM_T_IN;
    c->lo[4] = 0.5f; c->hi[4] = 1.5f;      /* weights near 1, as trained */
    if (idx == 4) { c->lo[3] = 2.0f; c->hi[3] = 2.5f; } /* a large mean: cancellation in x - mean */
    c->fwd.i[0] = c->bwd.i[0] = rows;
    c->fwd.i[1] = c->bwd.i[1] = C;
    c->fwd.f[0] = 1e-5f;
    c->nf = 6;
    for (int j = 0; j < 6; j++) c->fmap[j] = j;
    c->nb = 8;
    c->bmap[0] = S[idx].skip == 1 ? EMIM_NONE : EMIM_GRAD(3);
    c->bmap[1] = S[idx].skip == 2 ? EMIM_NONE : EMIM_GRAD(4);
    c->bmap[2] = S[idx].skip == 3 ? EMIM_NONE : EMIM_GRAD(5);
    c->bmap[3] = EMIM_GRAD(0); c->bmap[4] = 3; c->bmap[5] = 4; c->bmap[6] = 1; c->bmap[7] = 2;
    c->ref = layernorm_ref;
    c->ref_tol = 2e-5;
    c->grad_tol = 1e-4;
    snprintf(c->label, sizeof c->label, "rows=%d C=%d eps=1e-5%s", rows, C,
             S[idx].skip == 1 ? " (no dinp)" : S[idx].skip == 2 ? " (no dw)" : S[idx].skip == 3 ? " (no db)" : "");
    return 1;
}

static void gelu_ref(const emim_case *c, double *const *t)
{
    for (int64_t e = 0; e < c->fwd.i[0]; e++) {
        double x = t[1][e];
        t[0][e] = 0.5 * x * (1 + erf(x / sqrt(2.0)));
    }
}

int emim_cases_gelu(int idx, emim_case *c)
{
    static const struct { size_t n; float lo, hi; } S[] = { { 1, -1, 1 }, { 1001, -6, 6 }, { 100003, -3, 3 } };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    emim_case_init(c, 2);
    c->len[0] = c->len[1] = S[idx].n;
    c->role[0] = EMIM_T_OUT; c->role[1] = EMIM_T_IN;
    c->lo[1] = S[idx].lo; c->hi[1] = S[idx].hi;
    c->fwd.i[0] = c->bwd.i[0] = (int64_t)S[idx].n;
    c->nf = 2; c->fmap[0] = 0; c->fmap[1] = 1;
    c->nb = 3; c->bmap[0] = EMIM_GRAD(1); c->bmap[1] = 1; c->bmap[2] = EMIM_GRAD(0);
    c->ref = gelu_ref;
    c->ref_tol = 1e-6;
    c->grad_tol = 1e-4;
    snprintf(c->label, sizeof c->label, "n=%zu inputs in [%g, %g)", S[idx].n, S[idx].lo, S[idx].hi);
    return 1;
}

/* patchify / unpatchify: i 0 B, 1 C, 2 H, 3 W, 4 D, 5-7 P0, P1, P2; tensor 0
 * the output, 1 the input (tokens or image). The reference is written from
 * MONAI's layout directly (nested loops over the patch grid), not from the
 * index map that the twins share. */
static void patch_ref(const emim_case *c, double *const *t, int to_tokens)
{
    int64_t B = c->fwd.i[0], C = c->fwd.i[1], H = c->fwd.i[2], W = c->fwd.i[3], D = c->fwd.i[4];
    int64_t P0 = c->fwd.i[5], P1 = c->fwd.i[6], P2 = c->fwd.i[7];
    int64_t g0 = H / P0, g1 = W / P1, g2 = D / P2, e = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t i0 = 0; i0 < g0; i0++)
            for (int64_t i1 = 0; i1 < g1; i1++)
                for (int64_t i2 = 0; i2 < g2; i2++)
                    for (int64_t ch = 0; ch < C; ch++)
                        for (int64_t a = 0; a < P0; a++)
                            for (int64_t q = 0; q < P1; q++)
                                for (int64_t d = 0; d < P2; d++, e++) {
                                    int64_t v = (((b * C + ch) * H + i0 * P0 + a) * W + i1 * P1 + q) * D + i2 * P2 + d;
                                    if (to_tokens) t[0][e] = t[1][v];
                                    else t[0][v] = t[1][e];
                                }
}
static void patchify_ref(const emim_case *c, double *const *t) { patch_ref(c, t, 1); }
static void unpatchify_ref(const emim_case *c, double *const *t) { patch_ref(c, t, 0); }

static int patch_case(int idx, emim_case *c, int to_tokens)
{
    /* odd channel counts (1, 2, 3) and anisotropic patches among them */
    static const int S[][8] = {
        /* B  C  H   W   D  P0  P1 P2 */
        { 1, 1, 2, 2, 2, 2, 2, 2 }, { 2, 4, 6, 2, 4, 2, 2, 2 }, { 1, 4, 9, 3, 6, 3, 3, 3 },
        { 1, 2, 16, 32, 16, 16, 16, 16 }, { 2, 3, 6, 8, 4, 3, 4, 2 }, { 1, 2, 12, 12, 4, 4, 4, 2 },
        { 1, 1, 5, 6, 7, 5, 2, 7 },
    };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    emim_case_init(c, 2);
    size_t n = (size_t)S[idx][0] * S[idx][1] * S[idx][2] * S[idx][3] * S[idx][4];
    c->len[0] = c->len[1] = n;
    c->role[0] = EMIM_T_OUT; c->role[1] = EMIM_T_IN;
    for (int k = 0; k < 8; k++) c->fwd.i[k] = c->bwd.i[k] = S[idx][k];
    c->nf = 2; c->fmap[0] = 0; c->fmap[1] = 1;
    c->nb = 2; c->bmap[0] = EMIM_GRAD(1); c->bmap[1] = EMIM_GRAD(0);
    c->ref = to_tokens ? patchify_ref : unpatchify_ref;
    c->ref_tol = 0;
    c->grad_tol = 1e-6;
    snprintf(c->label, sizeof c->label, "B=%d C=%d %dx%dx%d P=%dx%dx%d", S[idx][0], S[idx][1], S[idx][2],
             S[idx][3], S[idx][4], S[idx][5], S[idx][6], S[idx][7]);
    return 1;
}
int emim_cases_patchify(int idx, emim_case *c) { return patch_case(idx, c, 1); }
int emim_cases_unpatchify(int idx, emim_case *c) { return patch_case(idx, c, 0); }
