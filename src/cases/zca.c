/* The twin-test cases of zca (a composite op: the twins are the composite on
 * each backend), with its double-precision reference. */
#include "cases/cases.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* C = A B, [d, d] in double */
static void mul(double *C, const double *A, const double *B, int64_t d)
{
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < d; j++) {
            double s = 0;
            for (int64_t k = 0; k < d; k++) s += A[i * d + k] * B[k * d + j];
            C[i * d + j] = s;
        }
}

/* t: 0 y [n, d], 1 x [n, d], 2 cache: the d*d matrices A, W, Z_0 .. Z_T,
 * T_0 .. T_{T-1}, Y_1 .. Y_{T-1}, then mu, tr, 1/sqrt(tr), 1/tr
 * (src/ops/zca.c). The reference runs the iteration as IterNorm writes it,
 * P_{k+1} = 1.5 P_k - 0.5 P_k^3 A, and fills the coupled form's Z_k = P_k,
 * T_k = 1.5 I - 0.5 P_k^2 A and Y_k = P_k A from it (equal in exact
 * arithmetic; the cases keep T and the spread of the eigenvalues small
 * enough for this form to be accurate in double). */
static void zca_ref(const emim_case *c, double *const *t)
{
    int64_t n = c->fwd.i[0], d = c->fwd.i[1], T = c->fwd.i[2], dd = d * d;
    double eps = c->fwd.f[0];
    double *A = t[2], *W = A + dd, *P = W + dd, *Tm = P + (T + 1) * dd, *Y = Tm + T * dd;
    double *mu = Y + (T > 1 ? T - 1 : 0) * dd, *tr = mu + d;
    double *Xc = malloc((size_t)(n * d) * sizeof *Xc), *Q2 = malloc((size_t)dd * sizeof *Q2),
           *Q2A = malloc((size_t)dd * sizeof *Q2A), *Q3A = malloc((size_t)dd * sizeof *Q3A);
    for (int64_t j = 0; j < d; j++) {
        double s = 0;
        for (int64_t r = 0; r < n; r++) s += t[1][r * d + j];
        mu[j] = s / (double)n;
    }
    for (int64_t r = 0; r < n; r++)
        for (int64_t j = 0; j < d; j++) Xc[r * d + j] = t[1][r * d + j] - mu[j];
    double trace = 0;
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < d; j++) {
            double s = 0;
            for (int64_t r = 0; r < n; r++) s += Xc[r * d + i] * Xc[r * d + j];
            A[i * d + j] = s / (double)n + (i == j ? eps : 0.0);
            if (i == j) trace += A[i * d + j];
        }
    for (int64_t e = 0; e < dd; e++) A[e] /= trace;
    for (int64_t e = 0; e < dd; e++) P[e] = e / d == e % d ? 1.0 : 0.0;
    for (int64_t k = 0; k < T; k++) {
        const double *Q = P + k * dd;
        double *Pn = P + (k + 1) * dd;
        mul(Q2, Q, Q, d);
        mul(Q2A, Q2, A, d);
        mul(Q3A, Q, Q2A, d);
        for (int64_t e = 0; e < dd; e++) {
            Pn[e] = 1.5 * Q[e] - 0.5 * Q3A[e];
            Tm[k * dd + e] = (e / d == e % d ? 1.5 : 0.0) - 0.5 * Q2A[e];
        }
        if (k > 0) mul(Y + (k - 1) * dd, Q, A, d);
    }
    for (int64_t e = 0; e < dd; e++) W[e] = P[T * dd + e] / sqrt(trace);
    for (int64_t r = 0; r < n; r++)
        for (int64_t j = 0; j < d; j++) {
            double s = 0;
            for (int64_t k = 0; k < d; k++) s += Xc[r * d + k] * W[k * d + j];
            t[0][r * d + j] = s;
        }
    tr[0] = trace;
    tr[1] = 1.0 / sqrt(trace);
    tr[2] = 1.0 / trace;
    free(Xc);
    free(Q2);
    free(Q2A);
    free(Q3A);
}

int emim_cases_zca(int idx, emim_case *c)
{
    /* n < d: a singular covariance that eps regularises; d = 1: a scalar
     * standardisation; T = 0: centering and one scale; T = 1, 2: the first
     * and last steps' special cases; T = 12: close to converged; 216 x 96:
     * the tiny ViT's tokens of one sample */
    static const struct { int n, d, T; float eps; } S[] = {
        { 16, 4, 5, 1e-5f }, { 3, 1, 3, 1e-2f }, { 7, 9, 3, 1e-3f }, { 5, 3, 0, 1e-5f }, { 64, 24, 5, 1e-5f },
        { 10, 5, 1, 1e-5f }, { 12, 6, 2, 1e-4f }, { 32, 8, 12, 1e-5f }, { 216, 96, 5, 1e-5f },
    };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    int n = S[idx].n, d = S[idx].d, T = S[idx].T;
    emim_case_init(c, 3);
    c->len[0] = c->len[1] = (size_t)n * d;
    c->len[2] = emim_zca_cache_size(d, T);
    c->role[0] = EMIM_T_OUT; c->role[1] = EMIM_T_IN; c->role[2] = EMIM_T_CACHE;
    c->fwd.i[0] = c->bwd.i[0] = n;
    c->fwd.i[1] = c->bwd.i[1] = d;
    c->fwd.i[2] = c->bwd.i[2] = T;
    c->fwd.f[0] = c->bwd.f[0] = S[idx].eps;
    c->nf = 3; c->fmap[0] = 0; c->fmap[1] = 1; c->fmap[2] = 2;
    c->nb = 4; c->bmap[0] = EMIM_GRAD(1); c->bmap[1] = 1; c->bmap[2] = 2; c->bmap[3] = EMIM_GRAD(0);
    c->ref = zca_ref;
    c->ref_tol = 1e-5;
    c->grad_tol = 1e-4;
    c->fast_tol = 1e-4;
    snprintf(c->label, sizeof c->label, "n=%d d=%d T=%d eps=%g", n, d, T, S[idx].eps);
    return 1;
}
