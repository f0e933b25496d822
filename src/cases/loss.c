/* The twin-test cases of the losses (mse, l1, rownorm, barlow,
 * cross_entropy), with their double-precision references. */
#include "cases/cases.h"

#include <math.h>
#include <stdio.h>

/* t: 0 loss, 1 pred, 2 target, 3 mask (when used) */
static void mse_ref(const emim_case *c, double *const *t)
{
    int mask = c->fmap[3] != EMIM_NONE;
    double s = 0, k = 0;
    for (int64_t e = 0; e < c->fwd.i[0]; e++) {
        double m = mask ? t[3][e] : 1, d = t[1][e] - t[2][e];
        s += m * d * d;
        k += m;
    }
    t[0][0] = k == 0 ? 0 : s / k;
}

int emim_cases_mse(int idx, emim_case *c)
{
    static const struct { size_t n; int mask, no_dt; } S[] = {
        { 1, 0, 0 }, { 1000, 1, 0 }, { 100003, 0, 1 }, { 100003, 1, 0 }, { 17, 2, 0 },
    };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    emim_case_init(c, 4);
    size_t n = S[idx].n;
    c->len[0] = 1;
    c->len[1] = c->len[2] = c->len[3] = n;
    c->role[0] = EMIM_T_OUT; c->role[1] = c->role[2] = c->role[3] = EMIM_T_IN;
    c->lo[3] = 0.0f;   /* mask weights in [0, 1) */
    if (S[idx].mask == 2) c->hi[3] = 0.0f; /* a mask that selects nothing: loss and gradients 0 */
    c->fwd.i[0] = c->bwd.i[0] = (int64_t)n;
    c->fwd.f[0] = c->bwd.f[0] = (float)n;
    c->nf = 4; c->fmap[0] = 0; c->fmap[1] = 1; c->fmap[2] = 2; c->fmap[3] = S[idx].mask ? 3 : EMIM_NONE;
    c->nb = 6;
    c->bmap[0] = EMIM_GRAD(1); c->bmap[1] = S[idx].no_dt ? EMIM_NONE : EMIM_GRAD(2);
    c->bmap[2] = 1; c->bmap[3] = 2; c->bmap[4] = S[idx].mask ? 3 : EMIM_NONE; c->bmap[5] = EMIM_GRAD(0);
    c->ref = mse_ref;
    c->ref_tol = 1e-5;
    c->grad_tol = 1e-4;
    snprintf(c->label, sizeof c->label, "n=%zu%s%s", n,
             S[idx].mask == 2 ? " empty mask" : S[idx].mask ? " masked" : "", S[idx].no_dt ? " (no dtarget)" : "");
    return 1;
}

/* t: 0 loss, 1 pred, 2 target, 3 mask (when used) */
static void l1_ref(const emim_case *c, double *const *t)
{
    int mask = c->fmap[3] != EMIM_NONE;
    double s = 0, k = 0;
    for (int64_t e = 0; e < c->fwd.i[0]; e++) {
        double m = mask ? t[3][e] : 1;
        s += m * fabs(t[1][e] - t[2][e]);
        k += m;
    }
    t[0][0] = k == 0 ? 0 : s / k;
}

/* pred uniform in [-1, 1); target = pred +- a gap in [0.01, 1), so that the
 * finite differences (steps of about 1e-3) never cross the kink of |x|;
 * ties: target = pred exactly at every third element (sign(0) = 0 there,
 * which the central difference of |x| at 0 also gives). */
static int l1_fill_any(const emim_case *c, int j, float *t, uint64_t seed, int ties)
{
    if (j != 1 && j != 2) return 0;
    for (size_t e = 0; e < c->len[j]; e++) {
        emim_philox_ctr r = emim_philox_at(e, 0, seed, 0x4c31);
        float u = 2.0f * emim_u01(r.v[0]), p = u - 1.0f;
        if (j == 1) { t[e] = p; continue; }
        float w = 0.99f * emim_u01(r.v[1]), gap = 0.01f + w;
        t[e] = ties && e % 3 == 0 ? p : (r.v[2] & 1u) ? p + gap : p - gap;
    }
    return 1;
}
static int l1_fill(const emim_case *c, int j, float *t, uint64_t seed) { return l1_fill_any(c, j, t, seed, 0); }
static int l1_fill_ties(const emim_case *c, int j, float *t, uint64_t seed) { return l1_fill_any(c, j, t, seed, 1); }

int emim_cases_l1(int idx, emim_case *c)
{
    static const struct { size_t n; int mask, no_dt, ties; } S[] = {
        { 1, 0, 0, 0 }, { 1000, 1, 0, 0 }, { 100003, 0, 1, 0 }, { 100003, 1, 0, 0 }, { 17, 2, 0, 0 },
        { 301, 1, 0, 1 }, { 257, 0, 0, 1 },
    };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    emim_case_init(c, 4);
    size_t n = S[idx].n;
    c->len[0] = 1;
    c->len[1] = c->len[2] = c->len[3] = n;
    c->role[0] = EMIM_T_OUT; c->role[1] = c->role[2] = c->role[3] = EMIM_T_IN;
    c->lo[3] = 0.0f;   /* mask weights in [0, 1) */
    if (S[idx].mask == 2) c->hi[3] = 0.0f; /* a mask that selects nothing: loss and gradients 0 */
    c->fill = S[idx].ties ? l1_fill_ties : l1_fill;
    c->fwd.i[0] = c->bwd.i[0] = (int64_t)n;
    c->fwd.f[0] = c->bwd.f[0] = (float)n;
    c->nf = 4; c->fmap[0] = 0; c->fmap[1] = 1; c->fmap[2] = 2; c->fmap[3] = S[idx].mask ? 3 : EMIM_NONE;
    c->nb = 6;
    c->bmap[0] = EMIM_GRAD(1); c->bmap[1] = S[idx].no_dt ? EMIM_NONE : EMIM_GRAD(2);
    c->bmap[2] = 1; c->bmap[3] = 2; c->bmap[4] = S[idx].mask ? 3 : EMIM_NONE; c->bmap[5] = EMIM_GRAD(0);
    c->ref = l1_ref;
    c->ref_tol = 1e-5;
    c->grad_tol = 1e-4;
    snprintf(c->label, sizeof c->label, "n=%zu%s%s%s", n,
             S[idx].mask == 2 ? " empty mask" : S[idx].mask ? " masked" : "", S[idx].no_dt ? " (no dtarget)" : "",
             S[idx].ties ? " ties at every 3rd" : "");
    return 1;
}

/* t: 0 a [rows, d], 1 r [rows], 2 x */
static void rownorm_ref(const emim_case *c, double *const *t)
{
    int64_t rows = c->fwd.i[0], d = c->fwd.i[1];
    for (int64_t i = 0; i < rows; i++) {
        double s = 0;
        for (int64_t k = 0; k < d; k++) s += t[2][i * d + k] * t[2][i * d + k];
        double r = sqrt(s + 1e-12);
        for (int64_t k = 0; k < d; k++) t[0][i * d + k] = t[2][i * d + k] / r;
        t[1][i] = r;
    }
}

int emim_cases_rownorm(int idx, emim_case *c)
{
    static const int S[][2] = { { 1, 1 }, { 5, 3 }, { 17, 33 }, { 216, 64 } };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    emim_case_init(c, 3);
    int rows = S[idx][0], d = S[idx][1];
    c->len[0] = c->len[2] = (size_t)rows * d;
    c->len[1] = (size_t)rows;
    c->role[0] = EMIM_T_OUT; c->role[1] = EMIM_T_CACHE; c->role[2] = EMIM_T_IN;
    c->fwd.i[0] = c->bwd.i[0] = rows;
    c->fwd.i[1] = c->bwd.i[1] = d;
    c->nf = 3; c->fmap[0] = 0; c->fmap[1] = 1; c->fmap[2] = 2;
    c->nb = 4; c->bmap[0] = EMIM_GRAD(2); c->bmap[1] = 0; c->bmap[2] = 1; c->bmap[3] = EMIM_GRAD(0);
    c->ref = rownorm_ref;
    c->ref_tol = 1e-6;
    c->grad_tol = 1e-4;
    snprintf(c->label, sizeof c->label, "rows=%d d=%d", rows, d);
    return 1;
}

/* t: 0 loss, 1 C [B, n, n] */
static void barlow_ref(const emim_case *c, double *const *t)
{
    int64_t B = c->fwd.i[0], n = c->fwd.i[1];
    double w = c->fwd.f[0], s = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) {
                double v = t[1][(b * n + i) * n + j];
                s += i == j ? (1 - v) * (1 - v) : w * v * v;
            }
    t[0][0] = s;
}

int emim_cases_barlow(int idx, emim_case *c)
{
    static const struct { int B, n; float w; } S[] = { { 1, 1, 1.0f }, { 2, 5, 0.0051f }, { 1, 216, 1.0f } };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    emim_case_init(c, 2);
    int B = S[idx].B, n = S[idx].n;
    c->len[0] = 1;
    c->len[1] = (size_t)B * n * n;
    c->role[0] = EMIM_T_OUT; c->role[1] = EMIM_T_IN;
    c->fwd.i[0] = c->bwd.i[0] = B;
    c->fwd.i[1] = c->bwd.i[1] = n;
    c->fwd.f[0] = c->bwd.f[0] = S[idx].w;
    c->nf = 2; c->fmap[0] = 0; c->fmap[1] = 1;
    c->nb = 3; c->bmap[0] = EMIM_GRAD(1); c->bmap[1] = 1; c->bmap[2] = EMIM_GRAD(0);
    c->ref = barlow_ref;
    c->ref_tol = 1e-5;
    c->grad_tol = 1e-5;
    snprintf(c->label, sizeof c->label, "B=%d n=%d w=%g", B, n, S[idx].w);
    return 1;
}

/* ---------------------------------------------------------------- cross_entropy */
/* t: 0 loss [1], 1 lse [n], 2 x [n, k], 3 target [n] */
static void cross_entropy_ref(const emim_case *c, double *const *t)
{
    int64_t n = c->fwd.i[0], k = c->fwd.i[1];
    double s = c->fwd.f[0], total = 0;
    for (int64_t r = 0; r < n; r++) {
        const double *x = t[2] + r * k;
        double m = -INFINITY, sum = 0;
        for (int64_t j = 0; j < k; j++) m = fmax(m, s * x[j]);
        for (int64_t j = 0; j < k; j++) sum += exp(s * x[j] - m);
        double lse = m + log(sum);
        t[1][r] = lse;
        total += lse - s * x[(int64_t)t[3][r]];
    }
    t[0][0] = total / (double)n;
}

/* target: per row a column of [0, k), uniform from Philox */
static int cross_entropy_fill(const emim_case *c, int j, float *t, uint64_t seed)
{
    if (j != 3) return 0;
    for (size_t r = 0; r < c->len[3]; r++) {
        emim_philox_ctr u = emim_philox_at(r, 0, seed, 0x78656e74ull);
        t[r] = (float)(u.v[0] % (uint32_t)c->fwd.i[1]);
    }
    return 1;
}

int emim_cases_cross_entropy(int idx, emim_case *c)
{
    static const struct { int n, k; float temp, lo, hi; } S[] = {
        /*  n     k     T      logits in [lo, hi) */
        {   1,    1,  1.0f,  -1.0f,   1.0f },   /* one column: the loss and its gradient are 0 */
        {   3,    5,  0.2f,  -1.0f,   1.0f },
        {   7,  257,  0.07f, -1.0f,   1.0f },   /* cosine similarities at a sharp temperature */
        { 300,   33,  0.5f,  -1.0f,   1.0f },   /* more rows than a chunk of the mean */
        {   4, 4097,  0.2f,  -1.0f,   1.0f },   /* MoCo's shape: 1 positive + a queue of keys */
        {   5,   40,  1.0f,  60.0f, 100.0f },   /* exp(s x) overflows without the row maximum */
    };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    int n = S[idx].n, k = S[idx].k;
    emim_case_init(c, 4);
    c->len[0] = 1;
    c->len[1] = c->len[3] = (size_t)n;
    c->len[2] = (size_t)n * k;
    c->role[0] = EMIM_T_OUT; c->role[1] = EMIM_T_CACHE; c->role[2] = c->role[3] = EMIM_T_IN;
    c->lo[2] = S[idx].lo; c->hi[2] = S[idx].hi;
    c->fill = cross_entropy_fill;
    c->fwd.i[0] = c->bwd.i[0] = n;
    c->fwd.i[1] = c->bwd.i[1] = k;
    c->fwd.f[0] = c->bwd.f[0] = 1.0f / S[idx].temp; /* as the wrapper rounds it */
    c->nf = 4; c->fmap[0] = 0; c->fmap[1] = 1; c->fmap[2] = 2; c->fmap[3] = 3;
    c->nb = 5; c->bmap[0] = EMIM_GRAD(2); c->bmap[1] = 2; c->bmap[2] = 3; c->bmap[3] = 1; c->bmap[4] = EMIM_GRAD(0);
    c->ref = cross_entropy_ref; /* target: no gradient */
    c->ref_tol = 1e-5;
    c->grad_tol = 1e-4;
    snprintf(c->label, sizeof c->label, "n=%d k=%d T=%g logits in [%g, %g)", n, k, S[idx].temp, S[idx].lo,
             S[idx].hi);
    return 1;
}
