/* OpenCL twins of adamw and clip_grad_norm, host side (device code
 * kernels-cl/optim.cl, CPU twins and the order of the norm's sum
 * cpu/optim.c): the chunk sums of the squared norm with a work-group of
 * EMIM_ROW_LANES work-items per chunk, the final sum with one work-group
 * (emim_cl_run_rows, or the serial kernels). */
#include "core/internal.h"

#define MEM(s) (a->t[s].buf->mem)
#define OFF(s) ((cl_ulong)a->t[s].off)

emim_status emim_cl_adamw_forward(emim_ctx *ctx, const emim_args *a)
{
    cl_mem p = MEM(0), m = MEM(1), v = MEM(2), g = MEM(3);
    cl_ulong po = OFF(0), mo = OFF(1), vo = OFF(2), go = OFF(3), n = (cl_ulong)a->i[0];
    float lr = a->f[0], b1 = a->f[1], b2 = a->f[2], eps = a->f[3], decay = a->f[4], bc1 = a->f[5], bc2 = a->f[6];
    size_t gs = (size_t)n, l = 256;
    return emim_cl_run(ctx, "emim_adamw", 1, &gs, &l, 16, EMIM_ARG(p), EMIM_ARG(po), EMIM_ARG(m), EMIM_ARG(mo),
                       EMIM_ARG(v), EMIM_ARG(vo), EMIM_ARG(g), EMIM_ARG(go), EMIM_ARG(n), EMIM_ARG(lr), EMIM_ARG(b1),
                       EMIM_ARG(b2), EMIM_ARG(eps), EMIM_ARG(decay), EMIM_ARG(bc1), EMIM_ARG(bc2));
}

emim_status emim_cl_clip_grad_norm_forward(emim_ctx *ctx, const emim_args *a)
{
    cl_mem norm = MEM(0), g = MEM(1);
    cl_ulong no = OFF(0), go = OFF(1), n = (cl_ulong)a->i[0], nch = (n + EMIM_REDUCE_CHUNK - 1) / EMIM_REDUCE_CHUNK;
    float maxn = a->f[0];
    emim_ws_mark mark = emim_ws_mark_get(ctx);
    cl_mem part;
    cl_ulong po;
    EMIM_CHECK(emim_ws_cl(ctx, (size_t)nch, &part, &po));
    size_t gn = (size_t)n, ln = 256;
    emim_status s = emim_cl_run_rows(ctx, "emim_sumsq_chunks", "emim_sumsq_chunks_serial", (size_t)nch, 6,
                                     EMIM_ARG(part), EMIM_ARG(po), EMIM_ARG(g), EMIM_ARG(go), EMIM_ARG(n),
                                     EMIM_ARG(nch));
    if (!s) s = emim_cl_run_rows(ctx, "emim_clip_norm", "emim_clip_norm_serial", 1, 5, EMIM_ARG(norm), EMIM_ARG(no),
                                 EMIM_ARG(part), EMIM_ARG(po), EMIM_ARG(nch));
    if (!s) s = emim_cl_run(ctx, "emim_clip_scale", 1, &gn, &ln, 6, EMIM_ARG(g), EMIM_ARG(go), EMIM_ARG(norm),
                            EMIM_ARG(no), EMIM_ARG(maxn), EMIM_ARG(n));
    emim_ws_release(ctx, mark);
    return s;
}
