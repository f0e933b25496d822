/* OpenCL twins of gather_rows, mask_mix and region_pool, host side (device code
 * kernels-cl/tokens.cl, CPU twins cpu/tokens.c). */
#include "core/internal.h"

#define MEM(s) (a->t[s].buf->mem)
#define OFF(s) ((cl_ulong)a->t[s].off)
#define CH EMIM_REDUCE_CHUNK   /* = EMIM_SUM_CHUNK in tokens.cl */
#define WG 256

/* i: 0 B, 1 n_in, 2 n_out, 3 d.  forward t: 0 out, 1 inp, 2 idx */
emim_status emim_cl_gather_rows_forward(emim_ctx *ctx, const emim_args *a)
{
    cl_mem out = MEM(0), inp = MEM(1), idx = MEM(2);
    cl_ulong oo = OFF(0), io = OFF(1), xo = OFF(2), n_in = (cl_ulong)a->i[1], n_out = (cl_ulong)a->i[2],
             d = (cl_ulong)a->i[3], total = (cl_ulong)a->i[0] * n_out * d;
    size_t g = (size_t)total, l = WG;
    return emim_cl_run(ctx, "emim_gather_rows_fwd", 1, &g, &l, 10, EMIM_ARG(out), EMIM_ARG(oo), EMIM_ARG(inp),
                       EMIM_ARG(io), EMIM_ARG(idx), EMIM_ARG(xo), EMIM_ARG(n_in), EMIM_ARG(n_out), EMIM_ARG(d),
                       EMIM_ARG(total));
}

/* backward t: 0 dinp, 1 idx, 2 dout */
emim_status emim_cl_gather_rows_backward(emim_ctx *ctx, const emim_args *a)
{
    cl_mem dinp = MEM(0), idx = MEM(1), dout = MEM(2);
    cl_ulong io = OFF(0), xo = OFF(1), go = OFF(2), n_in = (cl_ulong)a->i[1], n_out = (cl_ulong)a->i[2],
             d = (cl_ulong)a->i[3], total = (cl_ulong)a->i[0] * n_out * d;
    size_t g = (size_t)total, l = WG;
    return emim_cl_run(ctx, "emim_gather_rows_bwd", 1, &g, &l, 10, EMIM_ARG(dinp), EMIM_ARG(io), EMIM_ARG(idx),
                       EMIM_ARG(xo), EMIM_ARG(dout), EMIM_ARG(go), EMIM_ARG(n_in), EMIM_ARG(n_out), EMIM_ARG(d),
                       EMIM_ARG(total));
}

/* i: 0 rows, 1 d.  forward t: 0 out, 1 x, 2 m, 3 t */
emim_status emim_cl_mask_mix_forward(emim_ctx *ctx, const emim_args *a)
{
    cl_mem out = MEM(0), x = MEM(1), m = MEM(2), t = MEM(3);
    cl_ulong oo = OFF(0), xo = OFF(1), mo = OFF(2), to = OFF(3), d = (cl_ulong)a->i[1],
             total = (cl_ulong)a->i[0] * d;
    size_t g = (size_t)total, l = WG;
    return emim_cl_run(ctx, "emim_mask_mix_fwd", 1, &g, &l, 10, EMIM_ARG(out), EMIM_ARG(oo), EMIM_ARG(x),
                       EMIM_ARG(xo), EMIM_ARG(m), EMIM_ARG(mo), EMIM_ARG(t), EMIM_ARG(to), EMIM_ARG(d),
                       EMIM_ARG(total));
}

/* backward t: 0 dx (may be NULL), 1 dt (may be NULL), 2 m, 3 dout */
emim_status emim_cl_mask_mix_backward(emim_ctx *ctx, const emim_args *a)
{
    cl_mem m = MEM(2), dout = MEM(3);
    cl_ulong mo = OFF(2), go = OFF(3), rows = (cl_ulong)a->i[0], d = (cl_ulong)a->i[1], total = rows * d;
    emim_status s = EMIM_OK;
    if (a->t[0].buf) {
        cl_mem dx = MEM(0);
        cl_ulong dxo = OFF(0);
        size_t g = (size_t)total, l = WG;
        s = emim_cl_run(ctx, "emim_mask_mix_bwd_x", 1, &g, &l, 8, EMIM_ARG(dx), EMIM_ARG(dxo), EMIM_ARG(m),
                        EMIM_ARG(mo), EMIM_ARG(dout), EMIM_ARG(go), EMIM_ARG(d), EMIM_ARG(total));
        if (s) return s;
    }
    if (a->t[1].buf) {
        cl_mem dt = MEM(1);
        cl_ulong dto = OFF(1), nch = (rows + CH - 1) / CH;
        emim_ws_mark mark = emim_ws_mark_get(ctx);
        cl_mem part;
        cl_ulong po;
        EMIM_CHECK(emim_ws_cl(ctx, (size_t)(nch * d), &part, &po));
        size_t g = (size_t)(nch * d), l = 64, gd = (size_t)d;
        s = emim_cl_run(ctx, "emim_mask_mix_bwd_chunks", 1, &g, &l, 9, EMIM_ARG(part), EMIM_ARG(po), EMIM_ARG(m),
                        EMIM_ARG(mo), EMIM_ARG(dout), EMIM_ARG(go), EMIM_ARG(rows), EMIM_ARG(d), EMIM_ARG(nch));
        if (!s) s = emim_cl_run(ctx, "emim_mask_mix_bwd_t", 1, &gd, &l, 6, EMIM_ARG(dt), EMIM_ARG(dto), EMIM_ARG(part),
                                EMIM_ARG(po), EMIM_ARG(d), EMIM_ARG(nch));
        emim_ws_release(ctx, mark);
    }
    return s;
}

/* i: 0 B, 1 N, 2 R, 3 D.  forward t: 0 out, 1 x, 2 region */
emim_status emim_cl_region_pool_forward(emim_ctx *ctx, const emim_args *a)
{
    cl_mem out = MEM(0), x = MEM(1), region = MEM(2);
    cl_ulong oo = OFF(0), xo = OFF(1), ro = OFF(2), N = (cl_ulong)a->i[1], R = (cl_ulong)a->i[2],
             D = (cl_ulong)a->i[3], total = (cl_ulong)a->i[0] * R * D;
    size_t g = (size_t)total, l = WG;
    return emim_cl_run(ctx, "emim_region_pool_fwd", 1, &g, &l, 10, EMIM_ARG(out), EMIM_ARG(oo), EMIM_ARG(x),
                       EMIM_ARG(xo), EMIM_ARG(region), EMIM_ARG(ro), EMIM_ARG(N), EMIM_ARG(R), EMIM_ARG(D),
                       EMIM_ARG(total));
}

/* backward t: 0 dx, 1 region, 2 dout: the regions' counts into scratch, then one work-item per element of dx */
emim_status emim_cl_region_pool_backward(emim_ctx *ctx, const emim_args *a)
{
    cl_mem dx = MEM(0), region = MEM(1), dout = MEM(2);
    cl_ulong dxo = OFF(0), ro = OFF(1), go = OFF(2), N = (cl_ulong)a->i[1], R = (cl_ulong)a->i[2],
             D = (cl_ulong)a->i[3], total = (cl_ulong)a->i[0] * N * D;
    emim_ws_mark mark = emim_ws_mark_get(ctx);
    cl_mem cnt;
    cl_ulong co;
    EMIM_CHECK(emim_ws_cl(ctx, (size_t)R, &cnt, &co));
    size_t gr = (size_t)R, lr = 64, g = (size_t)total, l = WG;
    emim_status s = emim_cl_run(ctx, "emim_region_pool_counts", 1, &gr, &lr, 6, EMIM_ARG(cnt), EMIM_ARG(co),
                                EMIM_ARG(region), EMIM_ARG(ro), EMIM_ARG(N), EMIM_ARG(R));
    if (!s) s = emim_cl_run(ctx, "emim_region_pool_bwd", 1, &g, &l, 12, EMIM_ARG(dx), EMIM_ARG(dxo), EMIM_ARG(region),
                            EMIM_ARG(ro), EMIM_ARG(dout), EMIM_ARG(go), EMIM_ARG(cnt), EMIM_ARG(co), EMIM_ARG(N),
                            EMIM_ARG(R), EMIM_ARG(D), EMIM_ARG(total));
    emim_ws_release(ctx, mark);
    return s;
}
