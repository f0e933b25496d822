/* The twin-test cases of softmax, with its double-precision reference. */
#include "cases/cases.h"

#include <math.h>
#include <stdio.h>

/* Row softmax of scale*x in double precision (the reference of softmax and
 * of attention). */
void emim_ref_softmax_rows(double *p, const double *x, int64_t rows, int64_t n, double scale)
{
    for (int64_t r = 0; r < rows; r++) {
        double m = -INFINITY, s = 0;
        for (int64_t j = 0; j < n; j++) m = fmax(m, scale * x[r * n + j]);
        for (int64_t j = 0; j < n; j++) s += exp(scale * x[r * n + j] - m);
        for (int64_t j = 0; j < n; j++) p[r * n + j] = exp(scale * x[r * n + j] - m) / s;
    }
}

static void softmax_ref(const emim_case *c, double *const *t)
{
    emim_ref_softmax_rows(t[0], t[1], c->fwd.i[0], c->fwd.i[1], c->fwd.f[0]);
}

int emim_cases_softmax(int idx, emim_case *c)
{
    static const struct { int rows, n; float scale, range; } S[] = {
        { 1, 1, 1.0f, 1 }, { 3, 5, 0.125f, 1 }, { 7, 216, 1.0f, 8 }, { 5, 257, 0.125f, 8 },
    };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    emim_case_init(c, 2);
    c->len[0] = c->len[1] = (size_t)S[idx].rows * S[idx].n;
    c->role[0] = EMIM_T_OUT; c->role[1] = EMIM_T_IN;
    c->lo[1] = -S[idx].range; c->hi[1] = S[idx].range;
    c->fwd.i[0] = c->bwd.i[0] = S[idx].rows;
    c->fwd.i[1] = c->bwd.i[1] = S[idx].n;
    c->fwd.f[0] = c->bwd.f[0] = S[idx].scale;
    c->nf = 2; c->fmap[0] = 0; c->fmap[1] = 1;
    /* backward t: 0 dx, 1 p, 2 dp: p is the forward's output */
    c->nb = 3; c->bmap[0] = EMIM_GRAD(1); c->bmap[1] = 0; c->bmap[2] = EMIM_GRAD(0);
    c->ref = softmax_ref;
    c->ref_tol = 1e-6;
    c->grad_tol = 1e-4;
    snprintf(c->label, sizeof c->label, "rows=%d n=%d scale=%g inputs in [-%g, %g)", S[idx].rows, S[idx].n,
             S[idx].scale, S[idx].range, S[idx].range);
    return 1;
}
