/* CPU twin of gelu, the exact erf form (OpenCL twin: kernels-cl/gelu.{c,cl};
 * formulas emim_gelu1 and emim_gelu1_grad in src/core/emim_math.h). */
#include "core/emim_math.h"
#include "core/internal.h"

#define P(r) ((r).buf->host + (r).off)

/* t: 0 out [n], 1 inp [n] */
EMIM_CPU_KERNEL
emim_status emim_cpu_gelu_forward(emim_ctx *ctx, const emim_args *a)
{
    float *out = P(a->t[0]);
    const float *x = P(a->t[1]);
    int64_t n = a->i[0];
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t e = 0; e < n; e++) out[e] = emim_gelu1(x[e]);
    return EMIM_OK;
}

/* dinp += dout * gelu'(inp).  t: 0 dinp, 1 inp, 2 dout */
EMIM_CPU_KERNEL
emim_status emim_cpu_gelu_backward(emim_ctx *ctx, const emim_args *a)
{
    float *dinp = P(a->t[0]);
    const float *x = P(a->t[1]), *dout = P(a->t[2]);
    int64_t n = a->i[0];
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t e = 0; e < n; e++) dinp[e] = emim_axpy1(dout[e], emim_gelu1_grad(x[e]), dinp[e]);
    return EMIM_OK;
}
