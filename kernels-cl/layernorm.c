/* OpenCL twins of layernorm and batchnorm, host side (device code
 * kernels-cl/layernorm.cl, CPU twins and the order of operations
 * cpu/layernorm.c). layernorm's forward and dinp: a work-group of
 * EMIM_ROW_LANES work-items per row (emim_cl_run_rows, or the serial
 * kernels with one work-item per row); its dw, db and all of batchnorm: one
 * work-item per column. */
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

/* ---- batchnorm ----  i: 0 n, 1 d; f: 0 eps.
 * forward t: 0 out, 1 mean, 2 rstd, 3 inp, 4 w, 5 b (w, b both NULL: no affine) */
emim_status emim_cl_batchnorm_forward(emim_ctx *ctx, const emim_args *a)
{
    cl_int has_affine = a->t[4].buf != NULL;
    cl_mem out = MEM(0), mean = MEM(1), rstd = MEM(2), inp = MEM(3), w = has_affine ? MEM(4) : inp,
           b = has_affine ? MEM(5) : inp;
    cl_ulong oo = OFF(0), mo = OFF(1), ro = OFF(2), io = OFF(3), wo = has_affine ? OFF(4) : 0,
             bo = has_affine ? OFF(5) : 0;
    cl_ulong n = (cl_ulong)a->i[0], d = (cl_ulong)a->i[1];
    float eps = a->f[0];
    size_t g = (size_t)d, l = 64;
    return emim_cl_run(ctx, "emim_batchnorm_fwd", 1, &g, &l, 16, EMIM_ARG(out), EMIM_ARG(oo), EMIM_ARG(mean),
                       EMIM_ARG(mo), EMIM_ARG(rstd), EMIM_ARG(ro), EMIM_ARG(inp), EMIM_ARG(io), EMIM_ARG(w),
                       EMIM_ARG(wo), EMIM_ARG(b), EMIM_ARG(bo), EMIM_ARG(has_affine), EMIM_ARG(n), EMIM_ARG(d),
                       EMIM_ARG(eps));
}

/* backward t: 0 dinp, 1 dw, 2 db (each may be NULL), 3 dout, 4 inp, 5 w (may be NULL), 6 mean, 7 rstd */
emim_status emim_cl_batchnorm_backward(emim_ctx *ctx, const emim_args *a)
{
    cl_int has_dinp = a->t[0].buf != NULL, has_dw = a->t[1].buf != NULL, has_db = a->t[2].buf != NULL,
           has_affine = a->t[5].buf != NULL;
    cl_mem dout = MEM(3), inp = MEM(4), mean = MEM(6), rstd = MEM(7);
    cl_mem dinp = has_dinp ? MEM(0) : dout, dw = has_dw ? MEM(1) : dout, db = has_db ? MEM(2) : dout,
           w = has_affine ? MEM(5) : dout;
    cl_ulong dio = has_dinp ? OFF(0) : 0, dwo = has_dw ? OFF(1) : 0, dbo = has_db ? OFF(2) : 0, go = OFF(3),
             io = OFF(4), wo = has_affine ? OFF(5) : 0, mo = OFF(6), ro = OFF(7);
    cl_ulong n = (cl_ulong)a->i[0], d = (cl_ulong)a->i[1];
    size_t g = (size_t)d, l = 64;
    return emim_cl_run(ctx, "emim_batchnorm_bwd", 1, &g, &l, 22, EMIM_ARG(dinp), EMIM_ARG(dio), EMIM_ARG(has_dinp),
                       EMIM_ARG(dw), EMIM_ARG(dwo), EMIM_ARG(has_dw), EMIM_ARG(db), EMIM_ARG(dbo), EMIM_ARG(has_db),
                       EMIM_ARG(dout), EMIM_ARG(go), EMIM_ARG(inp), EMIM_ARG(io), EMIM_ARG(w), EMIM_ARG(wo),
                       EMIM_ARG(has_affine), EMIM_ARG(mean), EMIM_ARG(mo), EMIM_ARG(rstd), EMIM_ARG(ro),
                       EMIM_ARG(n), EMIM_ARG(d));
}
