/* OpenCL twin of layernorm, host side (device code kernels-cl/layernorm.cl,
 * CPU twin and the order of operations cpu/layernorm.c). Forward and dinp:
 * a work-group of EMIM_ROW_LANES work-items per row (emim_cl_run_rows, or
 * the serial kernels with one work-item per row); dw, db: one work-item per
 * column. */
#include "core/internal.h"

#define MEM(s) (a->t[s].buf->mem)
#define OFF(s) ((cl_ulong)a->t[s].off)

emim_status emim_cl_layernorm_forward(emim_ctx *ctx, const emim_args *a)
{
    cl_mem out = MEM(0), mean = MEM(1), rstd = MEM(2), inp = MEM(3), w = MEM(4), b = MEM(5);
    cl_ulong oo = OFF(0), mo = OFF(1), ro = OFF(2), io = OFF(3), wo = OFF(4), bo = OFF(5);
    cl_ulong rows = (cl_ulong)a->i[0], C = (cl_ulong)a->i[1];
    float eps = a->f[0];
    return emim_cl_run_rows(ctx, "emim_layernorm_fwd", "emim_layernorm_fwd_serial", (size_t)rows, 15,
                            EMIM_ARG(out), EMIM_ARG(oo), EMIM_ARG(mean), EMIM_ARG(mo), EMIM_ARG(rstd), EMIM_ARG(ro),
                            EMIM_ARG(inp), EMIM_ARG(io), EMIM_ARG(w), EMIM_ARG(wo), EMIM_ARG(b), EMIM_ARG(bo),
                            EMIM_ARG(rows), EMIM_ARG(C), EMIM_ARG(eps));
}

emim_status emim_cl_layernorm_backward(emim_ctx *ctx, const emim_args *a)
{
    cl_mem dout = MEM(3), inp = MEM(4), w = MEM(5), mean = MEM(6), rstd = MEM(7);
    cl_ulong go = OFF(3), io = OFF(4), wo = OFF(5), mo = OFF(6), ro = OFF(7);
    cl_ulong rows = (cl_ulong)a->i[0], C = (cl_ulong)a->i[1];
    emim_status s = EMIM_OK;
    if (a->t[0].buf) {
        cl_mem dinp = MEM(0);
        cl_ulong dio = OFF(0);
        s = emim_cl_run_rows(ctx, "emim_layernorm_bwd_inp", "emim_layernorm_bwd_inp_serial", (size_t)rows, 14,
                             EMIM_ARG(dinp), EMIM_ARG(dio), EMIM_ARG(dout), EMIM_ARG(go), EMIM_ARG(inp),
                             EMIM_ARG(io), EMIM_ARG(w), EMIM_ARG(wo), EMIM_ARG(mean), EMIM_ARG(mo), EMIM_ARG(rstd),
                             EMIM_ARG(ro), EMIM_ARG(rows), EMIM_ARG(C));
        if (s) return s;
    }
    if (a->t[1].buf || a->t[2].buf) {
        cl_int has_dw = a->t[1].buf != NULL, has_db = a->t[2].buf != NULL;
        cl_mem dw = has_dw ? MEM(1) : dout, db = has_db ? MEM(2) : dout;
        cl_ulong dwo = has_dw ? OFF(1) : 0, dbo = has_db ? OFF(2) : 0;
        size_t g = (size_t)C, l = 64;
        s = emim_cl_run(ctx, "emim_layernorm_bwd_wb", 1, &g, &l, 16, EMIM_ARG(dw), EMIM_ARG(dwo), EMIM_ARG(has_dw),
                        EMIM_ARG(db), EMIM_ARG(dbo), EMIM_ARG(has_db), EMIM_ARG(dout), EMIM_ARG(go), EMIM_ARG(inp),
                        EMIM_ARG(io), EMIM_ARG(mean), EMIM_ARG(mo), EMIM_ARG(rstd), EMIM_ARG(ro), EMIM_ARG(rows),
                        EMIM_ARG(C));
    }
    return s;
}
