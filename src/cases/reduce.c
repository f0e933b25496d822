/* The twin-test cases of the reductions (sum, mean). */
#include "cases/cases.h"

#include <stdio.h>

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
