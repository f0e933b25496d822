/* OpenCL twin of the Philox random fill, host side (device code in
 * kernels-cl/random.cl; CPU twin in cpu/random.c). */
#include "core/internal.h"

/* t: 0 out; i: 0 n, 1 kind; f: p0..p3; u: 0 seed, 1 stream */
emim_status emim_cl_rand_forward(emim_ctx *ctx, const emim_args *a)
{
    cl_mem out = a->t[0].buf->mem;
    cl_ulong oo = (cl_ulong)a->t[0].off, n = (cl_ulong)a->i[0], seed = a->u[0], stream = a->u[1];
    cl_int kind = (cl_int)a->i[1];
    float p0 = a->f[0], p1 = a->f[1], p2 = a->f[2], p3 = a->f[3];
    size_t g = (size_t)n, l = 64;
    return emim_cl_run(ctx, "emim_rand_fill", 1, &g, &l, 10, EMIM_ARG(out), EMIM_ARG(oo), EMIM_ARG(n),
                       EMIM_ARG(kind), EMIM_ARG(seed), EMIM_ARG(stream), EMIM_ARG(p0), EMIM_ARG(p1), EMIM_ARG(p2),
                       EMIM_ARG(p3));
}
