/* The twin-test cases of the optimiser ops (adamw, clip_grad_norm), with
 * their double-precision references. */
#include "cases/cases.h"

#include <math.h>
#include <stdio.h>

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
