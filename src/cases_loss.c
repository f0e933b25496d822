/* Test cases of the loss ops (mse, l1, rownorm, barlow, pbt), with
 * double-precision references. */
#include "cases.h"
#include "emim_math.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* t: 0 loss, 1 z [B, n, d], 2 zm [B, n, d], 3 cache
 * [B*n*d a | B*n*d am | B*n r | B*n rm | B*n*n C] (src/pbt.c) */
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

/* t: 0 p, 1 m, 2 v (in place), 3 g; the reference from the same floats the
 * wrapper passes (f[4..6]) */
static void adamw_ref(const emim_case *c, double *const *t)
{
    const float *f = c->fwd.f;
    for (int64_t e = 0; e < c->fwd.i[0]; e++) {
        double g = t[3][e], p = t[0][e] * (double)f[4];
        double m = f[1] * t[1][e] + (1.0 - f[1]) * g, v = f[2] * t[2][e] + (1.0 - f[2]) * g * g;
        t[0][e] = p - (double)f[0] * (m / f[5]) / (sqrt(v / f[6]) + f[3]);
        t[1][e] = m;
        t[2][e] = v;
    }
}

int emim_cases_adamw(int idx, emim_case *c)
{
    static const struct { size_t n; int t; float wd; } S[] = { { 1, 1, 0.05f }, { 1001, 10, 0.0f }, { 100003, 3, 0.05f } };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    emim_case_init(c, 4);
    size_t n = S[idx].n;
    for (int j = 0; j < 4; j++) c->len[j] = n;
    c->role[0] = c->role[1] = c->role[2] = EMIM_T_INOUT; c->role[3] = EMIM_T_IN;
    c->lo[2] = 0.0f;  /* second moments are >= 0 */
    float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f;
    c->fwd.i[0] = (int64_t)n;
    c->fwd.f[0] = lr; c->fwd.f[1] = b1; c->fwd.f[2] = b2; c->fwd.f[3] = 1e-8f;
    c->fwd.f[4] = (float)(1.0 - (double)lr * S[idx].wd);
    c->fwd.f[5] = (float)(1.0 - pow(b1, S[idx].t));
    c->fwd.f[6] = (float)(1.0 - pow(b2, S[idx].t));
    c->nf = 4; for (int j = 0; j < 4; j++) c->fmap[j] = j;
    c->ref = adamw_ref;
    c->ref_tol = 1e-6;
    snprintf(c->label, sizeof c->label, "n=%zu t=%d lr=1e-3 betas=(0.9,0.999) wd=%g", n, S[idx].t, S[idx].wd);
    return 1;
}

/* t: 0 norm [1], 1 g (in place) */
static void clip_ref(const emim_case *c, double *const *t)
{
    double s = 0;
    for (int64_t e = 0; e < c->fwd.i[0]; e++) s += t[1][e] * t[1][e];
    double norm = sqrt(s), k = fmin(1.0, c->fwd.f[0] / (norm + 1e-6));
    for (int64_t e = 0; e < c->fwd.i[0]; e++) t[1][e] *= k;
    t[0][0] = norm;
}

int emim_cases_clip_grad_norm(int idx, emim_case *c)
{
    static const struct { size_t n; float max_norm; } S[] = { { 1, 0.25f }, { 1000, 1e6f }, { 100003, 1.0f } };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    emim_case_init(c, 2);
    c->len[0] = 1;
    c->len[1] = S[idx].n;
    c->role[0] = EMIM_T_OUT; c->role[1] = EMIM_T_INOUT;
    c->fwd.i[0] = (int64_t)S[idx].n;
    c->fwd.f[0] = S[idx].max_norm;
    c->nf = 2; c->fmap[0] = 0; c->fmap[1] = 1;
    c->ref = clip_ref;
    c->ref_tol = 1e-5;
    snprintf(c->label, sizeof c->label, "n=%zu max_norm=%g", S[idx].n, S[idx].max_norm);
    return 1;
}
