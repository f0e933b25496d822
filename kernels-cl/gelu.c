/* OpenCL twin of gelu, host side (device code kernels-cl/gelu.cl, CPU twin
 * cpu/gelu.c). */
#include "core/internal.h"

#define MEM(s) (a->t[s].buf->mem)
#define OFF(s) ((cl_ulong)a->t[s].off)

emim_status emim_cl_gelu_forward(emim_ctx *ctx, const emim_args *a)
{
    cl_mem out = MEM(0), x = MEM(1);
    cl_ulong oo = OFF(0), xo = OFF(1), n = (cl_ulong)a->i[0];
    size_t g = (size_t)n, l = 256;
    return emim_cl_run(ctx, "emim_gelu_fwd", 1, &g, &l, 5, EMIM_ARG(out), EMIM_ARG(oo), EMIM_ARG(x), EMIM_ARG(xo),
                       EMIM_ARG(n));
}

emim_status emim_cl_gelu_backward(emim_ctx *ctx, const emim_args *a)
{
    cl_mem dinp = MEM(0), x = MEM(1), dout = MEM(2);
    cl_ulong dio = OFF(0), xo = OFF(1), go = OFF(2), n = (cl_ulong)a->i[0];
    size_t g = (size_t)n, l = 256;
    return emim_cl_run(ctx, "emim_gelu_bwd", 1, &g, &l, 7, EMIM_ARG(dinp), EMIM_ARG(dio), EMIM_ARG(x), EMIM_ARG(xo),
                       EMIM_ARG(dout), EMIM_ARG(go), EMIM_ARG(n));
}
