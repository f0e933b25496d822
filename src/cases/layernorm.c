/* The twin-test cases of layernorm, with its double-precision reference. */
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
