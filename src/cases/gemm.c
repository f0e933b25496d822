/* The twin-test cases of gemm: transposes, padded leading dimensions, batch
 * gaps, NULL gradients; in fast mode the bound of the summation error. */
#include "cases/cases.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Wilkinson's gamma_k = k u / (1 - k u), u = 2^-24. */
double emim_gamma_k(double k)
{
    double u = ldexp(1.0, -24);
    return k * u / (1.0 - k * u);
}

static float opA(const float *A, int ta, int64_t lda, int64_t i, int64_t p)
{ return ta ? A[p * lda + i] : A[i * lda + p]; }
static float opB(const float *B, int tb, int64_t ldb, int64_t p, int64_t j)
{ return tb ? B[j * ldb + p] : B[p * ldb + j]; }

/* Every implementation's computed dot product of length K lies within
 * gamma_K * sum |x||y| of the exact one whatever its summation order; alpha
 * and beta add at most two more roundings, so two implementations differ by
 * at most 2 gamma_{K+2} (|alpha| sum |a||b| + |beta||c|) (doc/numerics.md). */
static void gemm_bound(const emim_case *c, int dir, int j, float *const *val, float *const *grad,
                       double *bnd, double *ref)
{
    const int64_t *I = c->fwd.i;
    int ta = (int)I[0], tb = (int)I[1];
    int64_t m = I[2], n = I[3], k = I[4], lda = I[5], ldb = I[6], ldc = I[7];
    int64_t sa = I[8], sb = I[9], sc = I[10], batch = I[11];
    double alpha = c->fwd.f[0], beta = c->fwd.f[1];
    memset(bnd, 0, c->len[j] * sizeof *bnd);
    if (ref) for (size_t e = 0; e < c->len[j]; e++) ref[e] = NAN;
    const float *A = val[1], *B = val[2];
    for (int64_t b = 0; b < batch; b++) {
        const float *Ab = A + b * sa, *Bb = B + b * sb;
        if (dir == 0 && j == 0) {
            const float *C0 = val[0] + b * sc;
            for (int64_t i = 0; i < m; i++)
                for (int64_t q = 0; q < n; q++) {
                    double s = 0, sabs = 0;
                    for (int64_t p = 0; p < k; p++) {
                        double t = (double)opA(Ab, ta, lda, i, p) * opB(Bb, tb, ldb, p, q);
                        s += t;
                        sabs += fabs(t);
                    }
                    size_t e = (size_t)(b * sc + i * ldc + q);
                    double cterm = beta != 0 ? fabs(beta * C0[i * ldc + q]) : 0;
                    bnd[e] = 2 * emim_gamma_k((double)k + 2) * (fabs(alpha) * sabs + cterm);
                    if (ref) ref[e] = alpha * s + (beta != 0 ? beta * C0[i * ldc + q] : 0);
                }
        } else if (dir == 1 && (j == 1 || j == 2)) {
            const float *dC = grad[0] + b * sc;
            const float *G0 = grad[j] + (j == 1 ? b * sa : b * sb);
            if (j == 1) { /* dA(i,p) += alpha sum_q dC(i,q) opB(p,q) */
                for (int64_t i = 0; i < m; i++)
                    for (int64_t p = 0; p < k; p++) {
                        double s = 0, sabs = 0;
                        for (int64_t q = 0; q < n; q++) {
                            double t = (double)dC[i * ldc + q] * opB(Bb, tb, ldb, p, q);
                            s += t;
                            sabs += fabs(t);
                        }
                        int64_t idx = ta ? p * lda + i : i * lda + p;
                        size_t e = (size_t)(b * sa + idx);
                        bnd[e] = 2 * emim_gamma_k((double)n + 2) * (fabs(alpha) * sabs + fabs(G0[idx]));
                        if (ref) ref[e] = G0[idx] + alpha * s;
                    }
            } else { /* dB(p,q) += alpha sum_i opA(i,p) dC(i,q) */
                for (int64_t p = 0; p < k; p++)
                    for (int64_t q = 0; q < n; q++) {
                        double s = 0, sabs = 0;
                        for (int64_t i = 0; i < m; i++) {
                            double t = (double)opA(Ab, ta, lda, i, p) * dC[i * ldc + q];
                            s += t;
                            sabs += fabs(t);
                        }
                        int64_t idx = tb ? q * ldb + p : p * ldb + q;
                        size_t e = (size_t)(b * sb + idx);
                        bnd[e] = 2 * emim_gamma_k((double)m + 2) * (fabs(alpha) * sabs + fabs(G0[idx]));
                        if (ref) ref[e] = G0[idx] + alpha * s;
                    }
            }
        }
    }
}

/* Element e of a batch of [rows, cols] matrices with leading dimension ld and
 * batch stride stride lies inside one of them. */
static int in_matrix(size_t e, int64_t rows, int64_t cols, int64_t ld, int64_t stride)
{
    int64_t w = (int64_t)e % stride;
    return w / ld < rows && w % ld < cols;
}

static int gemm_written(const emim_case *c, int dir, int j, size_t e)
{
    const int64_t *I = c->fwd.i;
    int ta = (int)I[0], tb = (int)I[1];
    int64_t m = I[2], n = I[3], k = I[4];
    if (j == 0) return in_matrix(e, m, n, I[7], I[10]);
    if (j == 1) return in_matrix(e, ta ? k : m, ta ? m : k, I[5], I[8]);
    (void)dir;
    return in_matrix(e, tb ? n : k, tb ? k : n, I[6], I[9]);
}

static void gemm_ref(const emim_case *c, double *const *t)
{
    const int64_t *I = c->fwd.i;
    int ta = (int)I[0], tb = (int)I[1];
    int64_t m = I[2], n = I[3], k = I[4], lda = I[5], ldb = I[6], ldc = I[7];
    double alpha = c->fwd.f[0], beta = c->fwd.f[1];
    for (int64_t b = 0; b < I[11]; b++) {
        const double *A = t[1] + b * I[8], *B = t[2] + b * I[9];
        double *C = t[0] + b * I[10];
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0;
                for (int64_t p = 0; p < k; p++)
                    s += (ta ? A[p * lda + i] : A[i * lda + p]) * (tb ? B[j * ldb + p] : B[p * ldb + j]);
                C[i * ldc + j] = alpha * s + (beta != 0 ? beta * C[i * ldc + j] : 0);
            }
    }
}

int emim_cases_gemm(int idx, emim_case *c)
{
    static const struct { int ta, tb, m, n, k, pa, pb, pc, batch, gapa, gapb, gapc, skip; float alpha, beta; } S[] = {
        /* ta tb   m    n    k  pad(a,b,c) batch gaps(a,b,c) skip  alpha  beta */
        { 0, 0,  67,  33, 129, 3, 1, 5, 1, 0, 0, 0, 0,  1.0f,   0.0f },
        { 1, 0,  31,  65,  17, 0, 2, 0, 3, 5, 0, 7, 0, -0.75f,  0.5f },
        { 0, 1,   1, 200,   7, 0, 0, 1, 1, 0, 0, 0, 1,  1.0f,   1.0f },
        { 1, 1,  45,   2, 300, 1, 0, 0, 2, 0, 3, 0, 2,  2.0f,   0.0f },
        { 0, 0, 216,  64, 216, 0, 0, 0, 2, 0, 0, 0, 0,  0.125f, 0.0f },
        { 0, 1,  96,  80,   1, 0, 0, 0, 1, 0, 0, 0, 0,  1.0f,   0.0f },
        { 0, 1, 129, 257, 768, 0, 0, 0, 1, 0, 0, 0, 0,  1.0f,   0.0f },
    };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    emim_case_init(c, 3);
    int ta = S[idx].ta, tb = S[idx].tb, m = S[idx].m, n = S[idx].n, k = S[idx].k, batch = S[idx].batch;
    int64_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
    int64_t lda = ac + S[idx].pa, ldb = bc + S[idx].pb, ldc = n + S[idx].pc;
    int64_t sa = ar * lda + S[idx].gapa, sb = br * ldb + S[idx].gapb, sc = (int64_t)m * ldc + S[idx].gapc;
    int64_t v[12] = { ta, tb, m, n, k, lda, ldb, ldc, sa, sb, sc, batch };
    memcpy(c->fwd.i, v, sizeof v);
    memcpy(c->bwd.i, v, sizeof v);
    c->fwd.f[0] = c->bwd.f[0] = S[idx].alpha;
    c->fwd.f[1] = S[idx].beta;
    c->len[0] = (size_t)(batch * sc);
    c->len[1] = (size_t)(batch * sa);
    c->len[2] = (size_t)(batch * sb);
    c->role[0] = S[idx].beta == 0.0f ? EMIM_T_OUT : EMIM_T_INOUT;
    c->role[1] = c->role[2] = EMIM_T_IN;
    c->nf = 3;
    c->fmap[0] = 0; c->fmap[1] = 1; c->fmap[2] = 2;
    c->nb = 5;
    c->bmap[0] = S[idx].skip == 1 ? EMIM_NONE : EMIM_GRAD(1);
    c->bmap[1] = S[idx].skip == 2 ? EMIM_NONE : EMIM_GRAD(2);
    c->bmap[2] = 1; c->bmap[3] = 2; c->bmap[4] = EMIM_GRAD(0);
    c->bound = gemm_bound;
    c->written = gemm_written;
    c->ref = gemm_ref;
    c->ref_tol = 1e-5;
    c->grad_tol = 1e-4;
    snprintf(c->label, sizeof c->label, "m=%d n=%d k=%d ta=%d tb=%d lda=%lld ldb=%lld ldc=%lld batch=%d alpha=%g beta=%g%s",
             m, n, k, ta, tb, (long long)lda, (long long)ldb, (long long)ldc, batch, S[idx].alpha, S[idx].beta,
             S[idx].skip == 1 ? " (no dA)" : S[idx].skip == 2 ? " (no dB)" : "");
    return 1;
}
