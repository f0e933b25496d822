/* OpenCL twins of sum and mean, host side (device code in
 * kernels-cl/reduce.cl; CPU twins and the order of additions in
 * cpu/reduce.c): the chunk sums with a work-group of EMIM_ROW_LANES
 * work-items per chunk, then the chunk sums of each row with a work-group
 * per row (emim_cl_run_rows, or the serial kernels); backward one work-item
 * per element. */
#include "core/internal.h"

#define MEM(s) (a->t[s].buf->mem)
#define OFF(s) ((cl_ulong)a->t[s].off)

/* t: 0 out [rows], 1 inp [rows, n] */
static emim_status reduce_fwd(emim_ctx *ctx, const emim_args *a, int mean)
{
    cl_ulong rows = (cl_ulong)a->i[0], n = (cl_ulong)a->i[1];
    cl_ulong nch = (n + EMIM_REDUCE_CHUNK - 1) / EMIM_REDUCE_CHUNK;
    emim_ws_mark mark = emim_ws_mark_get(ctx);
    cl_mem part;
    cl_ulong pfo;
    EMIM_CHECK(emim_ws_cl(ctx, (size_t)(rows * nch), &part, &pfo));
    cl_mem inp = MEM(1), out = MEM(0);
    cl_ulong io = OFF(1), oo = OFF(0);
    emim_status s = emim_cl_run_rows(ctx, "emim_reduce_chunks", "emim_reduce_chunks_serial", (size_t)(rows * nch), 7,
                                     EMIM_ARG(part), EMIM_ARG(pfo), EMIM_ARG(inp), EMIM_ARG(io), EMIM_ARG(rows),
                                     EMIM_ARG(n), EMIM_ARG(nch));
    if (!s) {
        float nf = (float)n; /* converted on the host, like the CPU twin */
        cl_int m = mean;
        s = emim_cl_run_rows(ctx, "emim_reduce_final", "emim_reduce_final_serial", (size_t)rows, 8, EMIM_ARG(out),
                             EMIM_ARG(oo), EMIM_ARG(part), EMIM_ARG(pfo), EMIM_ARG(rows), EMIM_ARG(nch), EMIM_ARG(m),
                             EMIM_ARG(nf));
    }
    emim_ws_release(ctx, mark); /* the queue is in order: later work runs after these kernels */
    return s;
}

/* t: 0 dinp [rows, n], 1 dout [rows] */
static emim_status reduce_bwd(emim_ctx *ctx, const emim_args *a, int mean)
{
    cl_ulong rows = (cl_ulong)a->i[0], n = (cl_ulong)a->i[1], io = OFF(0), go = OFF(1);
    cl_mem dinp = MEM(0), dout = MEM(1);
    float nf = (float)n;
    cl_int m = mean;
    size_t g = (size_t)(rows * n), l = 256;
    return emim_cl_run(ctx, "emim_reduce_bwd", 1, &g, &l, 8, EMIM_ARG(dinp), EMIM_ARG(io), EMIM_ARG(dout),
                       EMIM_ARG(go), EMIM_ARG(rows), EMIM_ARG(n), EMIM_ARG(m), EMIM_ARG(nf));
}

emim_status emim_cl_sum_forward(emim_ctx *ctx, const emim_args *a) { return reduce_fwd(ctx, a, 0); }
emim_status emim_cl_sum_backward(emim_ctx *ctx, const emim_args *a) { return reduce_bwd(ctx, a, 0); }
emim_status emim_cl_mean_forward(emim_ctx *ctx, const emim_args *a) { return reduce_fwd(ctx, a, 1); }
emim_status emim_cl_mean_backward(emim_ctx *ctx, const emim_args *a) { return reduce_bwd(ctx, a, 1); }
