/* The op table's test cases (awkward shapes, odd offsets, NULL operands) and
 * the runner of one case on one context. */
#include "cases.h"
#include "emim_math.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void emim_case_init(emim_case *c, int nt)
{
    memset(c, 0, sizeof *c);
    c->nt = nt;
    for (int j = 0; j < EMIM_MAX_T; j++) {
        c->lo[j] = -1.0f;
        c->hi[j] = 1.0f;
        c->fmap[j] = c->bmap[j] = EMIM_NONE;
    }
}

/* ---------------------------------------------------------------- gemm */
/* Wilkinson's gamma_k = k u / (1 - k u), u = 2^-24. */
static double gamma_k(double k)
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
                    bnd[e] = 2 * gamma_k((double)k + 2) * (fabs(alpha) * sabs + cterm);
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
                        bnd[e] = 2 * gamma_k((double)n + 2) * (fabs(alpha) * sabs + fabs(G0[idx]));
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
                        bnd[e] = 2 * gamma_k((double)m + 2) * (fabs(alpha) * sabs + fabs(G0[idx]));
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

/* ---------------------------------------------------------------- elementwise */
static void bias_add_ref(const emim_case *c, double *const *t)
{
    int64_t rows = c->fwd.i[0], cols = c->fwd.i[1];
    for (int64_t r = 0; r < rows; r++)
        for (int64_t q = 0; q < cols; q++) t[0][r * cols + q] = t[1][r * cols + q] + t[2][q];
}

static void add_ref(const emim_case *c, double *const *t)
{
    for (int64_t e = 0; e < c->fwd.i[0]; e++) t[0][e] = t[1][e] + t[2][e];
}

static void scale_ref(const emim_case *c, double *const *t)
{
    for (int64_t e = 0; e < c->fwd.i[0]; e++) t[0][e] = (double)c->fwd.f[0] * t[1][e];
}

static void reduce_ref(const emim_case *c, double *const *t, int mean)
{
    int64_t rows = c->fwd.i[0], n = c->fwd.i[1];
    for (int64_t r = 0; r < rows; r++) {
        double s = 0;
        for (int64_t e = 0; e < n; e++) s += t[1][r * n + e];
        t[0][r] = mean ? s / (double)n : s;
    }
}
static void sum_ref(const emim_case *c, double *const *t) { reduce_ref(c, t, 0); }
static void mean_ref(const emim_case *c, double *const *t) { reduce_ref(c, t, 1); }

int emim_cases_bias_add(int idx, emim_case *c)
{
    static const int S[][2] = { { 1, 1 }, { 7, 33 }, { 129, 5 }, { 3, 1000 }, { 216, 768 } };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    int rows = S[idx][0], cols = S[idx][1];
    emim_case_init(c, 3);
    c->len[0] = c->len[1] = (size_t)rows * cols;
    c->len[2] = (size_t)cols;
    c->role[0] = EMIM_T_OUT; c->role[1] = c->role[2] = EMIM_T_IN;
    c->fwd.i[0] = c->bwd.i[0] = rows;
    c->fwd.i[1] = c->bwd.i[1] = cols;
    c->nf = 3; c->fmap[0] = 0; c->fmap[1] = 1; c->fmap[2] = 2;
    c->nb = 3; c->bmap[0] = idx == 3 ? EMIM_NONE : EMIM_GRAD(1); c->bmap[1] = EMIM_GRAD(2); c->bmap[2] = EMIM_GRAD(0);
    c->ref = bias_add_ref;
    c->ref_tol = 1e-6;
    c->grad_tol = 1e-5;
    snprintf(c->label, sizeof c->label, "rows=%d cols=%d%s", rows, cols, idx == 3 ? " (no dinp)" : "");
    return 1;
}

int emim_cases_add(int idx, emim_case *c)
{
    static const size_t S[] = { 1, 17, 100003 };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    emim_case_init(c, 3);
    c->len[0] = c->len[1] = c->len[2] = S[idx];
    c->role[0] = EMIM_T_OUT; c->role[1] = c->role[2] = EMIM_T_IN;
    c->fwd.i[0] = c->bwd.i[0] = (int64_t)S[idx];
    c->nf = 3; c->fmap[0] = 0; c->fmap[1] = 1; c->fmap[2] = 2;
    c->nb = 3; c->bmap[0] = EMIM_GRAD(1); c->bmap[1] = idx == 1 ? EMIM_NONE : EMIM_GRAD(2); c->bmap[2] = EMIM_GRAD(0);
    c->ref = add_ref;
    c->ref_tol = 1e-6;
    c->grad_tol = 1e-6;
    snprintf(c->label, sizeof c->label, "n=%zu%s", S[idx], idx == 1 ? " (no db)" : "");
    return 1;
}

int emim_cases_scale(int idx, emim_case *c)
{
    static const size_t S[] = { 1, 1023, 100003 };
    static const float A[] = { -0.3f, 3.0f, 1.0f / 3.0f };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    emim_case_init(c, 2);
    c->len[0] = c->len[1] = S[idx];
    c->role[0] = EMIM_T_OUT; c->role[1] = EMIM_T_IN;
    c->fwd.i[0] = c->bwd.i[0] = (int64_t)S[idx];
    c->fwd.f[0] = c->bwd.f[0] = A[idx];
    c->nf = 2; c->fmap[0] = 0; c->fmap[1] = 1;
    c->nb = 2; c->bmap[0] = EMIM_GRAD(1); c->bmap[1] = EMIM_GRAD(0);
    c->ref = scale_ref;
    c->ref_tol = 1e-6;
    c->grad_tol = 1e-6;
    snprintf(c->label, sizeof c->label, "n=%zu alpha=%.9g", S[idx], A[idx]);
    return 1;
}

/* ---------------------------------------------------------------- reductions */
static int reduce_case(int idx, emim_case *c, int mean)
{
    static const struct { int rows; size_t n; } S[] = { { 1, 1 }, { 1, 1000 }, { 3, 257 }, { 2, 513 }, { 5, 100000 } };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    emim_case_init(c, 2);
    c->len[0] = (size_t)S[idx].rows;
    c->len[1] = (size_t)S[idx].rows * S[idx].n;
    c->role[0] = EMIM_T_OUT; c->role[1] = EMIM_T_IN;
    c->fwd.i[0] = c->bwd.i[0] = S[idx].rows;
    c->fwd.i[1] = c->bwd.i[1] = (int64_t)S[idx].n;
    c->nf = 2; c->fmap[0] = 0; c->fmap[1] = 1;
    c->nb = 2; c->bmap[0] = EMIM_GRAD(1); c->bmap[1] = EMIM_GRAD(0);
    c->ref = mean ? mean_ref : sum_ref;
    c->ref_tol = 1e-5;
    c->grad_tol = 1e-6;
    snprintf(c->label, sizeof c->label, "rows=%d n=%zu", S[idx].rows, S[idx].n);
    return 1;
}
int emim_cases_sum(int idx, emim_case *c) { return reduce_case(idx, c, 0); }
int emim_cases_mean(int idx, emim_case *c) { return reduce_case(idx, c, 1); }

/* ---------------------------------------------------------------- linear */
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

/* Fast mode: the GEMM bound (see gemm_bound) with one more rounding for the
 * bias; db is summed by the same twinned kernel on both sides (bound 0:
 * bit-identical). */
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
                bnd[n * O + o] = 2 * gamma_k((double)I + 3) * sabs;
            }
    } else if (dir == 1 && j == 1) {
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < I; i++) {
                double sabs = fabs(grad[1][n * I + i]);
                for (int64_t o = 0; o < O; o++) sabs += fabs((double)grad[0][n * O + o] * val[2][o * I + i]);
                bnd[n * I + i] = 2 * gamma_k((double)O + 2) * sabs;
            }
    } else if (dir == 1 && j == 2) {
        for (int64_t o = 0; o < O; o++)
            for (int64_t i = 0; i < I; i++) {
                double sabs = fabs(grad[2][o * I + i]);
                for (int64_t n = 0; n < N; n++) sabs += fabs((double)grad[0][n * O + o] * val[1][n * I + i]);
                bnd[o * I + i] = 2 * gamma_k((double)N + 2) * sabs;
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

/* ---------------------------------------------------------------- rand */
int emim_cases_rand(int idx, emim_case *c)
{
    static const struct { int kind; size_t n; float p[4]; uint64_t seed, stream; } S[] = {
        { EMIM_RAND_UNIFORM, 1, { -2.0f, 3.0f, 0, 0 }, 1, 0 },
        { EMIM_RAND_UNIFORM, 65537, { 0.0f, 1.0f, 0, 0 }, 0xfeedfacecafebeefull, 7 },
        { EMIM_RAND_NORMAL, 1001, { 0.5f, 2.0f, 0, 0 }, 42, 3 },
        { EMIM_RAND_NORMAL, 100003, { 0.0f, 1.0f, 0, 0 }, 1234567, 1ull << 40 },
        { EMIM_RAND_TRUNC_NORMAL, 20011, { 0.0f, 0.02f, -2.0f, 2.0f }, 5, 0 },
        { EMIM_RAND_TRUNC_NORMAL, 20011, { 0.0f, 1.0f, -1.5f, 1.2f }, 6, 9 },
    };
    static const char *names[] = { "uniform", "normal", "trunc_normal" };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    emim_case_init(c, 1);
    c->len[0] = S[idx].n;
    c->role[0] = EMIM_T_OUT;
    c->fwd.i[0] = (int64_t)S[idx].n;
    c->fwd.i[1] = S[idx].kind;
    memcpy(c->fwd.f, S[idx].p, sizeof S[idx].p);
    c->fwd.u[0] = S[idx].seed;
    c->fwd.u[1] = S[idx].stream;
    c->nf = 1; c->fmap[0] = 0;
    c->nb = 0;
    snprintf(c->label, sizeof c->label, "%s n=%zu p=(%g,%g,%g,%g) seed=%llu stream=%llu", names[S[idx].kind],
             S[idx].n, S[idx].p[0], S[idx].p[1], S[idx].p[2], S[idx].p[3], (unsigned long long)S[idx].seed,
             (unsigned long long)S[idx].stream);
    return 1;
}

/* ---------------------------------------------------------------- runner */
int emim_case_uses_grad(const emim_case *c, int dir, int j)
{
    if (dir == 0) return 0;
    for (int s = 0; s < c->nb; s++)
        if (c->bmap[s] == EMIM_GRAD(j)) return 1;
    return 0;
}

int emim_case_bwd_reads_output(const emim_case *c, int j)
{
    if (!(c->role[j] & EMIM_T_OUT)) return 0;
    if (c->role[j] == EMIM_T_CACHE) return 1;
    for (int s = 0; s < c->nb; s++)
        if (c->bmap[s] == j) return 1;
    return 0;
}

int emim_case_writes(const emim_case *c, int dir, int j, int grad, size_t e)
{
    if (!emim_case_is_output(c, dir, j, grad)) return 0;
    return c->written ? c->written(c, dir, j, e) : 1;
}

int emim_case_is_output(const emim_case *c, int dir, int j, int grad)
{
    if (dir == 0) return !grad && (c->role[j] & EMIM_T_OUT);
    /* backward writes the gradients of the forward's inputs */
    return grad && c->role[j] == EMIM_T_IN && emim_case_uses_grad(c, 1, j);
}

void emim_host_uniform(float *dst, size_t n, uint64_t seed, uint64_t stream, float lo, float hi)
{
    float w = hi - lo;
    for (size_t i = 0; i < n; i++) {
        emim_philox_ctr r = emim_philox_at(i, 0, seed, stream);
        dst[i] = lo + w * emim_u01(r.v[0]);
    }
}

double emim_ulp_distance(float a, float b)
{
    uint32_t ua = emim_as_u32(a), ub = emim_as_u32(b);
    if (ua == ub) return 0;
    if (isnan(a) || isnan(b)) return INFINITY;
    /* map to a monotone integer line */
    int64_t ia = (ua & 0x80000000u) ? -(int64_t)(ua & 0x7fffffffu) : (int64_t)ua;
    int64_t ib = (ub & 0x80000000u) ? -(int64_t)(ub & 0x7fffffffu) : (int64_t)ub;
    return (double)(ia > ib ? ia - ib : ib - ia);
}

static float sentinel(void) { return emim_as_f32(EMIM_SENTINEL); }

/* Initial host contents of buffer (j, grad): guards hold the sentinel. */
static float *initial(const emim_case *c, int dir, int j, int grad, uint64_t seed)
{
    size_t len = emim_case_buflen(c, j);
    float *h = malloc(len * sizeof *h);
    if (!h) return NULL;
    for (size_t e = 0; e < len; e++) h[e] = sentinel();
    float *t = h + EMIM_GUARD;
    uint64_t stream = (uint64_t)j * 2 + (uint64_t)grad;
    if (!grad && (c->role[j] == EMIM_T_OUT || c->role[j] == EMIM_T_CACHE) && dir == 0) {
        /* pure outputs start as NaN: every element must be written, none read */
        for (size_t e = 0; e < c->len[j]; e++) t[e] = NAN;
    } else if (!grad) {
        int filled = c->fill && (c->role[j] == EMIM_T_IN || c->role[j] == EMIM_T_INOUT) ? c->fill(c, j, t, seed) : 0;
        if (filled < 0) { free(h); return NULL; }
        if (!filled) emim_host_uniform(t, c->len[j], seed, stream, c->lo[j], c->hi[j]);
    } else {
        emim_host_uniform(t, c->len[j], seed ^ 0x9e3779b97f4a7c15ull, stream, -1.0f, 1.0f);
    }
    return h;
}

emim_status emim_case_setup(emim_case_inst *I, emim_ctx *ctx, int op, const emim_case *c, int dir, uint64_t seed)
{
    memset(I, 0, sizeof *I);
    I->ctx = ctx;
    I->c = c;
    I->op = op;
    I->dir = dir;
    for (int j = 0; j < c->nt; j++) {
        for (int grad = 0; grad < 2; grad++) {
            if (grad && !emim_case_uses_grad(c, dir, j)) continue;
            float *h = initial(c, dir, j, grad, seed);
            emim_buf *b = NULL;
            if (!h) { emim_case_free(I); return emim_set_error(ctx, EMIM_ERR_NOMEM, "case: out of host memory"); }
            emim_status s = emim_buf_alloc(ctx, emim_case_buflen(c, j), &b);
            if (!s) s = emim_buf_write(b, 0, emim_case_buflen(c, j), h);
            if (grad) { I->grad[j] = b; I->init_grad[j] = h; }
            else { I->val[j] = b; I->init_val[j] = h; }
            if (s) { emim_case_free(I); return s; }
        }
    }
    int cached = 0;
    for (int j = 0; j < c->nt; j++) cached |= emim_case_bwd_reads_output(c, j);
    if (dir == 1 && cached) {
        /* caches from the forward; their initial copies follow */
        I->dir = 0;
        emim_status s = emim_case_exec(I);
        I->dir = 1;
        for (int j = 0; j < c->nt && !s; j++) {
            if (c->role[j] & EMIM_T_OUT) s = emim_case_fetch(I, j, 0, I->init_val[j]);
        }
        if (s) { emim_case_free(I); return s; }
    }
    return EMIM_OK;
}

emim_status emim_case_exec(emim_case_inst *I)
{
    int op = I->op;
    const emim_case *c = I->c;
    emim_args a = I->dir ? c->bwd : c->fwd;
    int n = I->dir ? c->nb : c->nf;
    const int *map = I->dir ? c->bmap : c->fmap;
    for (int s = 0; s < n; s++) {
        int m = map[s];
        if (m == EMIM_NONE) a.t[s] = emim_at(NULL, 0);
        else if (m >= EMIM_GRAD(0)) a.t[s] = emim_at(I->grad[m - EMIM_GRAD(0)], EMIM_GUARD);
        else a.t[s] = emim_at(I->val[m], EMIM_GUARD);
    }
    emim_status s = emim_dispatch(I->ctx, op, I->dir, &a);
    if (!s) s = emim_finish(I->ctx);
    return s;
}

emim_status emim_case_fetch(emim_case_inst *I, int j, int grad, float *dst)
{
    emim_buf *b = grad ? I->grad[j] : I->val[j];
    return emim_buf_read(b, 0, emim_case_buflen(I->c, j), dst);
}

emim_status emim_case_upload(emim_case_inst *I, int j, int grad, const float *src)
{
    emim_buf *b = grad ? I->grad[j] : I->val[j];
    return emim_buf_write(b, 0, emim_case_buflen(I->c, j), src);
}

void emim_case_free(emim_case_inst *I)
{
    for (int j = 0; j < EMIM_MAX_T; j++) {
        emim_buf_free(I->val[j]);
        emim_buf_free(I->grad[j]);
        free(I->init_val[j]);
        free(I->init_grad[j]);
    }
    memset(I, 0, sizeof *I);
}
