/* The twin-test cases of the elementwise ops (bias_add, add, scale, rsqrt,
 * add_diag). */
#include "cases/cases.h"

#include <math.h>
#include <stdio.h>

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

static void rsqrt_ref(const emim_case *c, double *const *t)
{
    for (int64_t e = 0; e < c->fwd.i[0]; e++) t[0][e] = 1.0 / sqrt(t[1][e]);
}

static void add_diag_ref(const emim_case *c, double *const *t)
{
    int64_t rows = c->fwd.i[0], cols = c->fwd.i[1];
    for (int64_t r = 0; r < rows; r++)
        for (int64_t q = 0; q < cols; q++)
            t[0][r * cols + q] = t[1][r * cols + q] + (r == q ? (double)c->fwd.f[0] : 0.0);
}

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

int emim_cases_rsqrt(int idx, emim_case *c)
{
    /* positive inputs over several binades (the op's domain) */
    static const struct { size_t n; float lo, hi; } S[] = { { 1, 0.5f, 2.0f }, { 1023, 0.01f, 4.0f },
                                                            { 100003, 1.0f, 3000.0f } };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    emim_case_init(c, 2);
    c->len[0] = c->len[1] = S[idx].n;
    c->role[0] = EMIM_T_OUT; c->role[1] = EMIM_T_IN;
    c->lo[1] = S[idx].lo; c->hi[1] = S[idx].hi;
    c->fwd.i[0] = c->bwd.i[0] = (int64_t)S[idx].n;
    c->nf = 2; c->fmap[0] = 0; c->fmap[1] = 1;
    c->nb = 3; c->bmap[0] = EMIM_GRAD(1); c->bmap[1] = 1; c->bmap[2] = EMIM_GRAD(0);
    c->ref = rsqrt_ref;
    c->ref_tol = 1e-6;
    c->grad_tol = 1e-4;
    snprintf(c->label, sizeof c->label, "n=%zu a in [%g, %g)", S[idx].n, S[idx].lo, S[idx].hi);
    return 1;
}

int emim_cases_add_diag(int idx, emim_case *c)
{
    static const struct { int rows, cols; float alpha; } S[] = { { 1, 1, 1.0f }, { 5, 7, -0.5f }, { 9, 4, 1e-5f },
                                                                 { 64, 64, 1.5f } };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    int rows = S[idx].rows, cols = S[idx].cols;
    emim_case_init(c, 2);
    c->len[0] = c->len[1] = (size_t)rows * cols;
    c->role[0] = EMIM_T_OUT; c->role[1] = EMIM_T_IN;
    c->fwd.i[0] = c->bwd.i[0] = rows;
    c->fwd.i[1] = c->bwd.i[1] = cols;
    c->fwd.f[0] = c->bwd.f[0] = S[idx].alpha;
    c->nf = 2; c->fmap[0] = 0; c->fmap[1] = 1;
    c->nb = 2; c->bmap[0] = EMIM_GRAD(1); c->bmap[1] = EMIM_GRAD(0);
    c->ref = add_diag_ref;
    c->ref_tol = 1e-6;
    c->grad_tol = 1e-6;
    snprintf(c->label, sizeof c->label, "rows=%d cols=%d alpha=%.9g", rows, cols, S[idx].alpha);
    return 1;
}
