/* The twin-test cases of gelu, with its double-precision reference. */
#include "cases/cases.h"

#include <math.h>
#include <stdio.h>

static void gelu_ref(const emim_case *c, double *const *t)
{
    for (int64_t e = 0; e < c->fwd.i[0]; e++) {
        double x = t[1][e];
        t[0][e] = 0.5 * x * (1 + erf(x / sqrt(2.0)));
    }
}

int emim_cases_gelu(int idx, emim_case *c)
{
    static const struct { size_t n; float lo, hi; } S[] = { { 1, -1, 1 }, { 1001, -6, 6 }, { 100003, -3, 3 } };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    emim_case_init(c, 2);
    c->len[0] = c->len[1] = S[idx].n;
    c->role[0] = EMIM_T_OUT; c->role[1] = EMIM_T_IN;
    c->lo[1] = S[idx].lo; c->hi[1] = S[idx].hi;
    c->fwd.i[0] = c->bwd.i[0] = (int64_t)S[idx].n;
    c->nf = 2; c->fmap[0] = 0; c->fmap[1] = 1;
    c->nb = 3; c->bmap[0] = EMIM_GRAD(1); c->bmap[1] = 1; c->bmap[2] = EMIM_GRAD(0);
    c->ref = gelu_ref;
    c->ref_tol = 1e-6;
    c->grad_tol = 1e-4;
    snprintf(c->label, sizeof c->label, "n=%zu inputs in [%g, %g)", S[idx].n, S[idx].lo, S[idx].hi);
    return 1;
}
