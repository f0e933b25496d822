/* CPU twin of softmax (OpenCL twin: kernels-cl/softmax.{c,cl}). Per row of n,
 * on both twins, with the lane shape of src/core/emim_math.h ("Row sums":
 * lane j takes elements j, j+32, ... in order, then a fixed pairwise tree
 * over the 32 lanes): s_j = scale * x_j; m = rowmax(s) (lanes from -inf,
 * max(a, b) = b > a ? b : a); e_j = exp(s_j - m) with our own exp;
 * sum = rowsum(e); p_j = e_j / sum. p may be x (in place).
 * Backward: dot = rowsum(p_j dp_j); dx_j += scale * p_j * (dp_j - dot). */
#include "core/emim_math.h"
#include "core/internal.h"

#define P(r) ((r).buf->host + (r).off)

/* i: 0 rows, 1 n; f: 0 scale.  t: 0 p [rows, n], 1 x [rows, n] */
EMIM_CPU_KERNEL
emim_status emim_cpu_softmax_forward(emim_ctx *ctx, const emim_args *a)
{
    float *p = P(a->t[0]);
    const float *x = P(a->t[1]);
    int64_t rows = a->i[0], n = a->i[1];
    float scale = a->f[0];
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *pr = p + r * n;
        float q[EMIM_ROW_LANES];
        emim_lanes_fill(q, -EMIM_INFINITY);
        EMIM_LANES(n, e, l, float s = scale * xr[e]; q[l] = s > q[l] ? s : q[l];);
        float m = emim_lanes_tree_max(q);
        emim_lanes_zero(q);
        EMIM_LANES(n, e, l, float ev = emim_expf(scale * xr[e] - m); pr[e] = ev; q[l] += ev;);
        float sum = emim_lanes_tree(q);
        for (int64_t j = 0; j < n; j++) pr[j] = pr[j] / sum;
    }
    return EMIM_OK;
}

/* t: 0 dx, 1 p, 2 dp */
EMIM_CPU_KERNEL
emim_status emim_cpu_softmax_backward(emim_ctx *ctx, const emim_args *a)
{
    float *dx = P(a->t[0]);
    const float *p = P(a->t[1]), *dp = P(a->t[2]);
    int64_t rows = a->i[0], n = a->i[1];
    float scale = a->f[0];
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *pr = p + r * n, *gr = dp + r * n;
        float dot = emim_row_dot(pr, gr, n);
        for (int64_t j = 0; j < n; j++) dx[r * n + j] += emim_softmax_dx(pr[j], gr[j], dot, scale);
    }
    return EMIM_OK;
}
