/* The twin-test cases of layernorm and batchnorm, with their double-precision
 * references. */
#include "cases/cases.h"

#include <math.h>
#include <stdio.h>

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

/* ---------------------------------------------------------------- batchnorm */
/* t: 0 out [n, d], 1 mean [d], 2 rstd [d], 3 inp [n, d], 4 w [d], 5 b [d]
 * (w, b unused without affine) */
static void batchnorm_ref(const emim_case *c, double *const *t)
{
    int64_t n = c->fwd.i[0], d = c->fwd.i[1];
    int affine = c->fmap[4] != EMIM_NONE;
    double eps = c->fwd.f[0];
    for (int64_t q = 0; q < d; q++) {
        double m = 0, v = 0;
        for (int64_t r = 0; r < n; r++) m += t[3][r * d + q];
        m /= (double)n;
        for (int64_t r = 0; r < n; r++) v += (t[3][r * d + q] - m) * (t[3][r * d + q] - m);
        v /= (double)n;
        double rs = 1 / sqrt(v + eps);
        for (int64_t r = 0; r < n; r++) {
            double y = (t[3][r * d + q] - m) * rs;
            t[0][r * d + q] = affine ? y * t[4][q] + t[5][q] : y;
        }
        t[1][q] = m;
        t[2][q] = rs;
    }
}

int emim_cases_batchnorm(int idx, emim_case *c)
{
    static const struct { int n, d, affine, skip; } S[] = {
        /*  n     d  affine  skip: 1 no dinp, 2 no dw, 3 no db, 4 no dw and db */
        {   1,    1, 1,      0 },  /* one row: the variance is 0, out = b */
        {   4,    3, 1,      0 },
        {   5,   33, 0,      0 },  /* Barlow Twins' standardisation of embeddings */
        {  64,   17, 1,      1 },
        {  32,  130, 1,      2 },
        {   7,   65, 1,      3 },
        { 300,    9, 0,      0 },
        {  16,  256, 1,      4 },
        {   8,   70, 1,      0 },  /* a large mean: cancellation in x - mean */
    };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    int n = S[idx].n, d = S[idx].d, affine = S[idx].affine, skip = S[idx].skip;
    emim_case_init(c, 6);
    c->len[0] = c->len[3] = (size_t)n * d;
    c->len[1] = c->len[2] = c->len[4] = c->len[5] = (size_t)d;
    c->role[0] = EMIM_T_OUT;
    c->role[1] = c->role[2] = EMIM_T_CACHE;
    c->role[3] = c->role[4] = c->role[5] = EMIM_T_IN;
    c->lo[4] = 0.5f; c->hi[4] = 1.5f;      /* weights near 1, as trained */
    if (idx == 8) { c->lo[3] = 2.0f; c->hi[3] = 2.5f; }
    c->fwd.i[0] = c->bwd.i[0] = n;
    c->fwd.i[1] = c->bwd.i[1] = d;
    c->fwd.f[0] = 1e-5f;
    c->nf = 6;
    for (int j = 0; j < 4; j++) c->fmap[j] = j;
    c->fmap[4] = affine ? 4 : EMIM_NONE;
    c->fmap[5] = affine ? 5 : EMIM_NONE;
    c->nb = 8;
    c->bmap[0] = skip == 1 ? EMIM_NONE : EMIM_GRAD(3);
    c->bmap[1] = !affine || skip == 2 || skip == 4 ? EMIM_NONE : EMIM_GRAD(4);
    c->bmap[2] = !affine || skip == 3 || skip == 4 ? EMIM_NONE : EMIM_GRAD(5);
    c->bmap[3] = EMIM_GRAD(0); c->bmap[4] = 3; c->bmap[5] = affine ? 4 : EMIM_NONE; c->bmap[6] = 1; c->bmap[7] = 2;
    c->ref = batchnorm_ref;
    c->ref_tol = 2e-5;
    c->grad_tol = 1e-4;
    snprintf(c->label, sizeof c->label, "n=%d d=%d eps=1e-5%s%s%s", n, d, affine ? "" : " no affine",
             skip == 1 ? " (no dinp)" : skip == 2 ? " (no dw)" : skip == 3 ? " (no db)" : skip == 4 ? " (no dw, db)" : "",
             idx == 8 ? " inputs in [2, 2.5)" : "");
    return 1;
}
