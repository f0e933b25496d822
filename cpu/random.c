/* CPU twin of the Philox random fill. Element i depends only on (seed,
 * stream, i) through emim_rand_value in src/core/emim_math.h, which the OpenCL
 * twin (kernels-cl/random.cl) compiles too. */
#include "core/emim_math.h"
#include "core/internal.h"

/* out[i] = emim_rand_value(kind, i, seed, stream, p0..p3), i < n */
EMIM_CPU_KERNEL
emim_status emim_cpu_rand_forward(emim_ctx *ctx, const emim_args *a)
{
    float *out = a->t[0].buf->host + a->t[0].off;
    int64_t n = a->i[0];
    int kind = (int)a->i[1];
    float p0 = a->f[0], p1 = a->f[1], p2 = a->f[2], p3 = a->f[3];
    uint64_t seed = a->u[0], stream = a->u[1];
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t i = 0; i < n; i++)
        out[i] = emim_rand_value(kind, (emim_u64)i, seed, stream, p0, p1, p2, p3);
    return EMIM_OK;
}
