/* OpenCL twin of softmax, host side (device code kernels-cl/softmax.cl, CPU
 * twin and the order of operations cpu/softmax.c): a work-group of
 * EMIM_ROW_LANES work-items per row (emim_cl_run_rows, or the serial kernels
 * with one work-item per row). */
#include "core/internal.h"

#define MEM(s) (a->t[s].buf->mem)
#define OFF(s) ((cl_ulong)a->t[s].off)

emim_status emim_cl_softmax_forward(emim_ctx *ctx, const emim_args *a)
{
    cl_mem p = MEM(0), x = MEM(1);
    cl_ulong po = OFF(0), xo = OFF(1), rows = (cl_ulong)a->i[0], n = (cl_ulong)a->i[1];
    float scale = a->f[0];
    return emim_cl_run_rows(ctx, "emim_softmax_fwd", "emim_softmax_fwd_serial", (size_t)rows, 7, EMIM_ARG(p),
                            EMIM_ARG(po), EMIM_ARG(x), EMIM_ARG(xo), EMIM_ARG(rows), EMIM_ARG(n), EMIM_ARG(scale));
}

emim_status emim_cl_softmax_backward(emim_ctx *ctx, const emim_args *a)
{
    cl_mem dx = MEM(0), p = MEM(1), dp = MEM(2);
    cl_ulong dxo = OFF(0), po = OFF(1), go = OFF(2), rows = (cl_ulong)a->i[0], n = (cl_ulong)a->i[1];
    float scale = a->f[0];
    return emim_cl_run_rows(ctx, "emim_softmax_bwd", "emim_softmax_bwd_serial", (size_t)rows, 9, EMIM_ARG(dx),
                            EMIM_ARG(dxo), EMIM_ARG(p), EMIM_ARG(po), EMIM_ARG(dp), EMIM_ARG(go), EMIM_ARG(rows),
                            EMIM_ARG(n), EMIM_ARG(scale));
}
