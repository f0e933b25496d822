/* The twin-test cases of linear (a composite op: the twins are the composite
 * on each backend); in fast mode the GEMM bound plus the bias's rounding. */
#include "cases/cases.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void linear_ref(const emim_case *c, double *const *t)
{
    int64_t N = c->fwd.i[0], I = c->fwd.i[1], O = c->fwd.i[2];
    int bias = c->fmap[3] != EMIM_NONE;
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < O; o++) {
            double s = bias ? t[3][o] : 0;
            for (int64_t i = 0; i < I; i++) s += t[1][n * I + i] * t[2][o * I + i];
            t[0][n * O + o] = s;
        }
}

/* Fast mode: the GEMM bound (gemm_bound in src/cases/gemm.c) with one more
 * rounding for the bias; db is summed by the same twinned kernel on both
 * sides (bound 0: bit-identical). */
static void linear_bound(const emim_case *c, int dir, int j, float *const *val, float *const *grad, double *bnd,
                         double *ref)
{
    int64_t N = c->fwd.i[0], I = c->fwd.i[1], O = c->fwd.i[2];
    int bias = c->fmap[3] != EMIM_NONE;
    (void)ref;
    memset(bnd, 0, c->len[j] * sizeof *bnd);
    if (dir == 0 && j == 0) {
        for (int64_t n = 0; n < N; n++)
            for (int64_t o = 0; o < O; o++) {
                double sabs = bias ? fabs(val[3][o]) : 0;
                for (int64_t i = 0; i < I; i++) sabs += fabs((double)val[1][n * I + i] * val[2][o * I + i]);
                bnd[n * O + o] = 2 * emim_gamma_k((double)I + 3) * sabs;
            }
    } else if (dir == 1 && j == 1) {
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < I; i++) {
                double sabs = fabs(grad[1][n * I + i]);
                for (int64_t o = 0; o < O; o++) sabs += fabs((double)grad[0][n * O + o] * val[2][o * I + i]);
                bnd[n * I + i] = 2 * emim_gamma_k((double)O + 2) * sabs;
            }
    } else if (dir == 1 && j == 2) {
        for (int64_t o = 0; o < O; o++)
            for (int64_t i = 0; i < I; i++) {
                double sabs = fabs(grad[2][o * I + i]);
                for (int64_t n = 0; n < N; n++) sabs += fabs((double)grad[0][n * O + o] * val[1][n * I + i]);
                bnd[o * I + i] = 2 * emim_gamma_k((double)N + 2) * sabs;
            }
    }
}

int emim_cases_linear(int idx, emim_case *c)
{
    static const struct { int N, I, O, bias, skip; } S[] = {
        { 1, 1, 1, 1, 0 }, { 7, 33, 5, 1, 0 }, { 216, 64, 48, 0, 0 }, { 13, 768, 17, 1, 1 }, { 5, 9, 3, 1, 2 },
    };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    emim_case_init(c, 4);
    int N = S[idx].N, I = S[idx].I, O = S[idx].O;
    c->len[0] = (size_t)N * O; c->len[1] = (size_t)N * I; c->len[2] = (size_t)O * I; c->len[3] = (size_t)O;
    c->role[0] = EMIM_T_OUT; c->role[1] = c->role[2] = c->role[3] = EMIM_T_IN;
    c->fwd.i[0] = c->bwd.i[0] = N;
    c->fwd.i[1] = c->bwd.i[1] = I;
    c->fwd.i[2] = c->bwd.i[2] = O;
    c->nf = 4; c->fmap[0] = 0; c->fmap[1] = 1; c->fmap[2] = 2; c->fmap[3] = S[idx].bias ? 3 : EMIM_NONE;
    c->nb = 6;
    c->bmap[0] = S[idx].skip == 1 ? EMIM_NONE : EMIM_GRAD(1);
    c->bmap[1] = S[idx].skip == 2 ? EMIM_NONE : EMIM_GRAD(2);
    c->bmap[2] = S[idx].bias ? EMIM_GRAD(3) : EMIM_NONE;
    c->bmap[3] = 1; c->bmap[4] = 2; c->bmap[5] = EMIM_GRAD(0);
    c->bound = linear_bound;
    c->ref = linear_ref;
    c->ref_tol = 1e-5;
    c->grad_tol = 1e-4;
    snprintf(c->label, sizeof c->label, "N=%d in=%d out=%d%s%s", N, I, O, S[idx].bias ? "" : " (no bias)",
             S[idx].skip == 1 ? " (no dinp)" : S[idx].skip == 2 ? " (no dW)" : "");
    return 1;
}
