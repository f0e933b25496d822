/* CPU twins of the elementwise ops: bias_add, add, scale, rsqrt, add_diag.
 * Their OpenCL twins
 * are in kernels-cl/elementwise.{c,cl}; the per-element formulas are shared
 * through src/core/emim_math.h where there is more than one operation. */
#include "core/emim_math.h"
#include "core/internal.h"

#define P(r) ((r).buf->host + (r).off)

/* out[r,c] = inp[r,c] + bias[c]; out, inp: [rows, cols], bias: [cols] */
EMIM_CPU_KERNEL
emim_status emim_cpu_bias_add_forward(emim_ctx *ctx, const emim_args *a)
{
    float *out = P(a->t[0]);
    const float *inp = P(a->t[1]), *bias = P(a->t[2]);
    int64_t rows = a->i[0], cols = a->i[1];
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) out[r * cols + c] = inp[r * cols + c] + bias[c];
    return EMIM_OK;
}

/* dinp += dout; dbias[c] += sum_r dout[r,c] (r ascending, one accumulator per column) */
EMIM_CPU_KERNEL
emim_status emim_cpu_bias_add_backward(emim_ctx *ctx, const emim_args *a)
{
    float *dinp = a->t[0].buf ? P(a->t[0]) : NULL, *dbias = a->t[1].buf ? P(a->t[1]) : NULL;
    const float *dout = P(a->t[2]);
    int64_t rows = a->i[0], cols = a->i[1];
    if (dinp) {
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
        for (int64_t e = 0; e < rows * cols; e++) dinp[e] += dout[e];
    }
    if (dbias) {
        /* blocks of 64 columns, the rows streamed in order through them:
         * each column's sum in the same order as one column at a time */
        int64_t nb = (cols + 63) / 64;
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
        for (int64_t blk = 0; blk < nb; blk++) {
            int64_t c0 = blk * 64, w = cols - c0 < 64 ? cols - c0 : 64;
            float s[64] = { 0 };
            for (int64_t r = 0; r < rows; r++) {
                const float *d = dout + r * cols + c0;
                for (int64_t c = 0; c < w; c++) s[c] += d[c];
            }
            for (int64_t c = 0; c < w; c++) dbias[c0 + c] += s[c];
        }
    }
    return EMIM_OK;
}

/* out = a + b */
EMIM_CPU_KERNEL
emim_status emim_cpu_add_forward(emim_ctx *ctx, const emim_args *a)
{
    float *out = P(a->t[0]);
    const float *x = P(a->t[1]), *y = P(a->t[2]);
    int64_t n = a->i[0];
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t e = 0; e < n; e++) out[e] = x[e] + y[e];
    return EMIM_OK;
}

/* da += dout; db += dout */
EMIM_CPU_KERNEL
emim_status emim_cpu_add_backward(emim_ctx *ctx, const emim_args *a)
{
    float *da = a->t[0].buf ? P(a->t[0]) : NULL, *db = a->t[1].buf ? P(a->t[1]) : NULL;
    const float *dout = P(a->t[2]);
    int64_t n = a->i[0];
#pragma omp parallel num_threads(ctx->threads)
    {
        if (da) {
#pragma omp for schedule(static) nowait
            for (int64_t e = 0; e < n; e++) da[e] += dout[e];
        }
        if (db) {
#pragma omp for schedule(static) nowait
            for (int64_t e = 0; e < n; e++) db[e] += dout[e];
        }
    }
    return EMIM_OK;
}

/* out = alpha * a */
EMIM_CPU_KERNEL
emim_status emim_cpu_scale_forward(emim_ctx *ctx, const emim_args *a)
{
    float *out = P(a->t[0]);
    const float *x = P(a->t[1]);
    float alpha = a->f[0];
    int64_t n = a->i[0];
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t e = 0; e < n; e++) out[e] = alpha * x[e];
    return EMIM_OK;
}

/* da += alpha * dout (two roundings: the product, then the sum) */
EMIM_CPU_KERNEL
emim_status emim_cpu_scale_backward(emim_ctx *ctx, const emim_args *a)
{
    float *da = P(a->t[0]);
    const float *dout = P(a->t[1]);
    float alpha = a->f[0];
    int64_t n = a->i[0];
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t e = 0; e < n; e++) da[e] = emim_axpy1(alpha, dout[e], da[e]);
    return EMIM_OK;
}

/* out = 1 / sqrt(a) */
EMIM_CPU_KERNEL
emim_status emim_cpu_rsqrt_forward(emim_ctx *ctx, const emim_args *a)
{
    float *out = P(a->t[0]);
    const float *x = P(a->t[1]);
    int64_t n = a->i[0];
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t e = 0; e < n; e++) out[e] = emim_rsqrt1(x[e]);
    return EMIM_OK;
}

/* da += dout * (-0.5 / sqrt(a)^3).  t: 0 da, 1 a, 2 dout */
EMIM_CPU_KERNEL
emim_status emim_cpu_rsqrt_backward(emim_ctx *ctx, const emim_args *a)
{
    float *da = P(a->t[0]);
    const float *x = P(a->t[1]), *dout = P(a->t[2]);
    int64_t n = a->i[0];
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t e = 0; e < n; e++) da[e] = emim_rsqrt1_dacc(x[e], dout[e], da[e]);
    return EMIM_OK;
}

/* out[r,c] = a[r,c] + (r == c ? alpha : nothing): the diagonal gets a + alpha,
 * every other element is a copied (so its bits, -0 included, are kept). */
EMIM_CPU_KERNEL
emim_status emim_cpu_add_diag_forward(emim_ctx *ctx, const emim_args *a)
{
    float *out = P(a->t[0]);
    const float *x = P(a->t[1]);
    int64_t rows = a->i[0], cols = a->i[1];
    float alpha = a->f[0];
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        float *o = out + r * cols;
        const float *i = x + r * cols;
        if (o != i)
            for (int64_t c = 0; c < cols; c++) o[c] = i[c];
        if (r < cols) o[r] = i[r] + alpha;
    }
    return EMIM_OK;
}

/* da += dout.  t: 0 da, 1 dout */
EMIM_CPU_KERNEL
emim_status emim_cpu_add_diag_backward(emim_ctx *ctx, const emim_args *a)
{
    float *da = P(a->t[0]);
    const float *dout = P(a->t[1]);
    int64_t n = a->i[0] * a->i[1];
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t e = 0; e < n; e++) da[e] += dout[e];
    return EMIM_OK;
}
