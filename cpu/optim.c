/* CPU twins of the optimiser ops: adamw and clip_grad_norm (OpenCL twins:
 * kernels-cl/optim.{c,cl}; formulas emim_adamw1 and emim_clip_factor in
 * src/core/emim_math.h). The squared norm is summed in fixed chunks as
 * cpu/reduce.c, in the lane shape of emim_math.h ("Row sums": lane j sums
 * terms j, j+32, ... in order, then a fixed pairwise tree over the 32
 * lanes): part[c] = rowsum(g^2 over chunk c of EMIM_REDUCE_CHUNK),
 * norm = sqrt(rowsum(part[0 .. nch-1])). */
#include "core/emim_math.h"
#include "core/internal.h"

#include <stdlib.h>

#define P(r) ((r).buf->host + (r).off)
#define CH EMIM_REDUCE_CHUNK

/* i: 0 n; f: 0 lr, 1 beta1, 2 beta2, 3 eps, 4 decay = 1 - lr wd, 5 bc1, 6 bc2.
 * t: 0 p, 1 m, 2 v (updated in place), 3 g */
EMIM_CPU_KERNEL
emim_status emim_cpu_adamw_forward(emim_ctx *ctx, const emim_args *a)
{
    float *p = P(a->t[0]), *m = P(a->t[1]), *v = P(a->t[2]);
    const float *g = P(a->t[3]);
    const float *f = a->f;
    int64_t n = a->i[0];
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t e = 0; e < n; e++) emim_adamw1(&p[e], &m[e], &v[e], g[e], f[0], f[1], f[2], f[3], f[4], f[5], f[6]);
    return EMIM_OK;
}

/* i: 0 n; f: 0 max_norm.  t: 0 norm [1], 1 g (scaled in place) */
EMIM_CPU_KERNEL
emim_status emim_cpu_clip_grad_norm_forward(emim_ctx *ctx, const emim_args *a)
{
    float *g = P(a->t[1]);
    int64_t n = a->i[0], nch = (n + CH - 1) / CH;
    emim_ws_mark mark = emim_ws_mark_get(ctx);
    float *ps;
    EMIM_CHECK(emim_ws_host(ctx, (size_t)nch, &ps));
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t c = 0; c < nch; c++) {
        int64_t lo = c * CH, hi = lo + CH < n ? lo + CH : n;
        ps[c] = emim_row_dot(g + lo, g + lo, hi - lo);
    }
    float s = emim_row_sum(ps, nch);
    emim_ws_release(ctx, mark);
    float norm = emim_sqrt(s), k = emim_clip_factor(norm, a->f[0]);
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t e = 0; e < n; e++) g[e] = g[e] * k;
    P(a->t[0])[0] = norm;
    return EMIM_OK;
}
