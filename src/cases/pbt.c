/* The twin-test cases of pbt (a composite op: the twins are the composite on
 * each backend), with its double-precision reference. */
#include "cases/cases.h"

#include <math.h>
#include <stdio.h>

/* t: 0 loss, 1 z [B, n, d], 2 zm [B, n, d], 3 cache
 * [B*n*d a | B*n*d am | B*n r | B*n rm | B*n*n C] (src/ops/pbt.c) */
static void pbt_ref(const emim_case *c, double *const *t)
{
    int64_t B = c->fwd.i[0], n = c->fwd.i[1], d = c->fwd.i[2];
    double w = c->fwd.f[0], s = 0;
    double *A = t[3], *Am = A + B * n * d, *r = Am + B * n * d, *rm = r + B * n, *C = rm + B * n;
    for (int64_t i = 0; i < B * n; i++) {
        double a = 0, m = 0;
        for (int64_t k = 0; k < d; k++) {
            a += t[1][i * d + k] * t[1][i * d + k];
            m += t[2][i * d + k] * t[2][i * d + k];
        }
        r[i] = sqrt(a + 1e-12);
        rm[i] = sqrt(m + 1e-12);
        for (int64_t k = 0; k < d; k++) {
            A[i * d + k] = t[1][i * d + k] / r[i];
            Am[i * d + k] = t[2][i * d + k] / rm[i];
        }
    }
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) {
                double v = 0;
                for (int64_t k = 0; k < d; k++) v += A[(b * n + i) * d + k] * Am[(b * n + j) * d + k];
                C[(b * n + i) * n + j] = v;
                s += i == j ? (1 - v) * (1 - v) : w * v * v;
            }
    t[0][0] = s;
}

int emim_cases_pbt(int idx, emim_case *c)
{
    static const struct { int B, n, d; float w; int skip; } S[] = {
        { 1, 1, 3, 1.0f, 0 }, { 2, 5, 8, 0.0051f, 1 }, { 1, 17, 33, 1.0f, 2 }, { 2, 17, 64, 1.0f, 0 },
    };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    emim_case_init(c, 4);
    int B = S[idx].B, n = S[idx].n, d = S[idx].d;
    c->len[0] = 1;
    c->len[1] = c->len[2] = (size_t)B * n * d;
    c->len[3] = emim_pbt_cache_size(B, n, d);
    c->role[0] = EMIM_T_OUT; c->role[1] = c->role[2] = EMIM_T_IN; c->role[3] = EMIM_T_CACHE;
    c->fwd.i[0] = c->bwd.i[0] = B;
    c->fwd.i[1] = c->bwd.i[1] = n;
    c->fwd.i[2] = c->bwd.i[2] = d;
    c->fwd.f[0] = c->bwd.f[0] = S[idx].w;
    c->nf = 4; c->fmap[0] = 0; c->fmap[1] = 1; c->fmap[2] = 2; c->fmap[3] = 3;
    c->nb = 4;
    c->bmap[0] = S[idx].skip == 1 ? EMIM_NONE : EMIM_GRAD(1);
    c->bmap[1] = S[idx].skip == 2 ? EMIM_NONE : EMIM_GRAD(2);
    c->bmap[2] = 3; c->bmap[3] = EMIM_GRAD(0);
    c->ref = pbt_ref;
    c->ref_tol = 1e-5;
    c->grad_tol = 1e-4;
    c->fast_tol = 1e-4;
    snprintf(c->label, sizeof c->label, "B=%d n=%d d=%d w=%g%s", B, n, d, S[idx].w,
             S[idx].skip == 1 ? " (no dz)" : S[idx].skip == 2 ? " (no dzm)" : "");
    return 1;
}
