/* CPU twin of softmax (OpenCL twin: kernels-cl/softmax.{c,cl}). Per row of n,
 * on both twins: s_j = scale * x_j; m = max_j s_j; e_j = exp(s_j - m) with our
 * own exp; sum = e_0 + e_1 + ... in order; p_j = e_j / sum. p may be x
 * (in place). Backward: dot = p_0 dp_0 + p_1 dp_1 + ... in order;
 * dx_j += scale * p_j * (dp_j - dot). */
#include "core/emim_math.h"
#include "core/internal.h"

#define P(r) ((r).buf->host + (r).off)

/* i: 0 rows, 1 n; f: 0 scale.  t: 0 p [rows, n], 1 x [rows, n] */
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
        float m = scale * xr[0];
        for (int64_t j = 1; j < n; j++) {
            float s = scale * xr[j];
            m = s > m ? s : m;
        }
        float sum = 0.0f;
        for (int64_t j = 0; j < n; j++) {
            float e = emim_expf(scale * xr[j] - m);
            pr[j] = e;
            sum += e;
        }
        for (int64_t j = 0; j < n; j++) pr[j] = pr[j] / sum;
    }
    return EMIM_OK;
}

/* t: 0 dx, 1 p, 2 dp */
emim_status emim_cpu_softmax_backward(emim_ctx *ctx, const emim_args *a)
{
    float *dx = P(a->t[0]);
    const float *p = P(a->t[1]), *dp = P(a->t[2]);
    int64_t rows = a->i[0], n = a->i[1];
    float scale = a->f[0];
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *pr = p + r * n, *gr = dp + r * n;
        float dot = 0.0f;
        for (int64_t j = 0; j < n; j++) {
            float t = pr[j] * gr[j];
            dot += t;
        }
        for (int64_t j = 0; j < n; j++) dx[r * n + j] += emim_softmax_dx(pr[j], gr[j], dot, scale);
    }
    return EMIM_OK;
}
