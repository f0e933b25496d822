/* OpenCL twins of mse, l1, rownorm, barlow and cross_entropy, host side
 * (device code kernels-cl/loss.cl, CPU twins and the order of every sum
 * cpu/loss.c). The sums run with a work-group of EMIM_ROW_LANES work-items
 * per chunk (mse, l1, barlow), per row (rownorm, cross_entropy) and for the
 * final sum of the chunk sums (emim_cl_run_rows, or the serial kernels;
 * cross_entropy's mean over the rows by the mean op's twin); the backward
 * kernels of mse, l1, barlow and cross_entropy with one work-item per
 * element. No host round-trip: the loss and the gradient coefficient stay on
 * the device. */
#include "core/internal.h"

#define MEM(s) (a->t[s].buf->mem)
#define OFF(s) ((cl_ulong)a->t[s].off)
#define CH EMIM_REDUCE_CHUNK   /* = EMIM_SUM_CHUNK in loss.cl */

/* Runs the mse (l1 0) or l1 (l1 1) chunk sums (part[c] the terms, part[nch
 * + c] the mask) and the final kernel into out[oo] (the loss, or with
 * want_coef the gradient coefficient from dl). */
static emim_status mse_final(emim_ctx *ctx, const emim_args *a, int pslot, int tslot, int mslot, cl_mem out,
                             cl_ulong oo, int want_coef, cl_mem dl, cl_ulong dlo, int l1)
{
    cl_ulong n = (cl_ulong)a->i[0], nch = (n + CH - 1) / CH;
    float nf = a->f[0];
    cl_int has_mask = a->t[mslot].buf != NULL, wc = want_coef, kind = l1;
    cl_mem part, p = MEM(pslot), t = MEM(tslot), m = has_mask ? MEM(mslot) : p;
    cl_ulong pfo, po = OFF(pslot), to = OFF(tslot), mo = has_mask ? OFF(mslot) : 0;
    emim_ws_mark mark = emim_ws_mark_get(ctx);
    EMIM_CHECK(emim_ws_cl(ctx, (size_t)nch * 2, &part, &pfo));
    emim_status s = emim_cl_run_rows(ctx, "emim_mse_chunks", "emim_mse_chunks_serial", (size_t)nch, 12,
                                     EMIM_ARG(part), EMIM_ARG(pfo), EMIM_ARG(p), EMIM_ARG(po), EMIM_ARG(t),
                                     EMIM_ARG(to), EMIM_ARG(m), EMIM_ARG(mo), EMIM_ARG(has_mask), EMIM_ARG(n),
                                     EMIM_ARG(nch), EMIM_ARG(kind));
    if (!s) s = emim_cl_run_rows(ctx, "emim_mse_final", "emim_mse_final_serial", 1, 11, EMIM_ARG(out), EMIM_ARG(oo),
                                 EMIM_ARG(part), EMIM_ARG(pfo), EMIM_ARG(nch), EMIM_ARG(has_mask), EMIM_ARG(nf),
                                 EMIM_ARG(wc), EMIM_ARG(dl), EMIM_ARG(dlo), EMIM_ARG(kind));
    emim_ws_release(ctx, mark);
    return s;
}

/* mse (l1 0) and l1 (l1 1).  t: 0 loss, 1 pred, 2 target, 3 mask */
static emim_status masked_loss_forward(emim_ctx *ctx, const emim_args *a, int l1)
{
    return mse_final(ctx, a, 1, 2, 3, MEM(0), OFF(0), 0, MEM(0), OFF(0), l1);
}

/* t: 0 dpred, 1 dtarget, 2 pred, 3 target, 4 mask, 5 dloss */
static emim_status masked_loss_backward(emim_ctx *ctx, const emim_args *a, int l1)
{
    cl_mem coef;
    cl_ulong cfo;
    emim_ws_mark mark = emim_ws_mark_get(ctx);
    EMIM_CHECK(emim_ws_cl(ctx, 1, &coef, &cfo));
    emim_status s = mse_final(ctx, a, 2, 3, 4, coef, cfo, 1, MEM(5), OFF(5), l1);
    if (!s) {
        cl_ulong n = (cl_ulong)a->i[0];
        cl_int has_dp = a->t[0].buf != NULL, has_dt = a->t[1].buf != NULL, has_mask = a->t[4].buf != NULL, kind = l1;
        cl_mem p = MEM(2), t = MEM(3), dp = has_dp ? MEM(0) : p, dt = has_dt ? MEM(1) : p, m = has_mask ? MEM(4) : p;
        cl_ulong dpo = has_dp ? OFF(0) : 0, dto = has_dt ? OFF(1) : 0, po = OFF(2), to = OFF(3),
                 mo = has_mask ? OFF(4) : 0;
        size_t g = (size_t)n, l = 256;
        s = emim_cl_run(ctx, "emim_mse_bwd", 1, &g, &l, 16, EMIM_ARG(dp), EMIM_ARG(dpo), EMIM_ARG(has_dp),
                        EMIM_ARG(dt), EMIM_ARG(dto), EMIM_ARG(has_dt), EMIM_ARG(p), EMIM_ARG(po), EMIM_ARG(t),
                        EMIM_ARG(to), EMIM_ARG(m), EMIM_ARG(mo), EMIM_ARG(has_mask), EMIM_ARG(coef), EMIM_ARG(n),
                        EMIM_ARG(kind));
    }
    emim_ws_release(ctx, mark);
    return s;
}

emim_status emim_cl_mse_forward(emim_ctx *ctx, const emim_args *a) { return masked_loss_forward(ctx, a, 0); }
emim_status emim_cl_mse_backward(emim_ctx *ctx, const emim_args *a) { return masked_loss_backward(ctx, a, 0); }
/* l1: the same argument layout as mse */
emim_status emim_cl_l1_forward(emim_ctx *ctx, const emim_args *a) { return masked_loss_forward(ctx, a, 1); }
emim_status emim_cl_l1_backward(emim_ctx *ctx, const emim_args *a) { return masked_loss_backward(ctx, a, 1); }

/* i: 0 rows, 1 d.  forward t: 0 a, 1 r, 2 x */
emim_status emim_cl_rownorm_forward(emim_ctx *ctx, const emim_args *a)
{
    cl_mem an = MEM(0), r = MEM(1), x = MEM(2);
    cl_ulong ao = OFF(0), ro = OFF(1), xo = OFF(2), rows = (cl_ulong)a->i[0], d = (cl_ulong)a->i[1];
    return emim_cl_run_rows(ctx, "emim_rownorm_fwd", "emim_rownorm_fwd_serial", (size_t)rows, 8, EMIM_ARG(an),
                            EMIM_ARG(ao), EMIM_ARG(r), EMIM_ARG(ro), EMIM_ARG(x), EMIM_ARG(xo), EMIM_ARG(rows),
                            EMIM_ARG(d));
}

/* backward t: 0 dx, 1 a, 2 r, 3 da */
emim_status emim_cl_rownorm_backward(emim_ctx *ctx, const emim_args *a)
{
    cl_mem dx = MEM(0), an = MEM(1), r = MEM(2), da = MEM(3);
    cl_ulong dxo = OFF(0), ao = OFF(1), ro = OFF(2), dao = OFF(3), rows = (cl_ulong)a->i[0], d = (cl_ulong)a->i[1];
    return emim_cl_run_rows(ctx, "emim_rownorm_bwd", "emim_rownorm_bwd_serial", (size_t)rows, 10, EMIM_ARG(dx),
                            EMIM_ARG(dxo), EMIM_ARG(an), EMIM_ARG(ao), EMIM_ARG(r), EMIM_ARG(ro), EMIM_ARG(da),
                            EMIM_ARG(dao), EMIM_ARG(rows), EMIM_ARG(d));
}

/* i: 0 B, 1 n; f: 0 w.  forward t: 0 loss, 1 C */
emim_status emim_cl_barlow_forward(emim_ctx *ctx, const emim_args *a)
{
    cl_ulong n = (cl_ulong)a->i[1], total = (cl_ulong)a->i[0] * n * n, nch = (total + CH - 1) / CH;
    cl_mem part, loss = MEM(0), C = MEM(1);
    cl_ulong lo = OFF(0), co = OFF(1);
    float w = a->f[0];
    cl_ulong pfo;
    emim_ws_mark mark = emim_ws_mark_get(ctx);
    EMIM_CHECK(emim_ws_cl(ctx, (size_t)nch, &part, &pfo));
    emim_status s = emim_cl_run_rows(ctx, "emim_barlow_chunks", "emim_barlow_chunks_serial", (size_t)nch, 8,
                                     EMIM_ARG(part), EMIM_ARG(pfo), EMIM_ARG(C), EMIM_ARG(co), EMIM_ARG(n),
                                     EMIM_ARG(total), EMIM_ARG(nch), EMIM_ARG(w));
    if (!s) s = emim_cl_run_rows(ctx, "emim_barlow_final", "emim_barlow_final_serial", 1, 5, EMIM_ARG(loss),
                                 EMIM_ARG(lo), EMIM_ARG(part), EMIM_ARG(pfo), EMIM_ARG(nch));
    emim_ws_release(ctx, mark);
    return s;
}

/* backward t: 0 dC, 1 C, 2 dloss */
emim_status emim_cl_barlow_backward(emim_ctx *ctx, const emim_args *a)
{
    cl_ulong n = (cl_ulong)a->i[1], total = (cl_ulong)a->i[0] * n * n;
    cl_mem dC = MEM(0), C = MEM(1), dl = MEM(2);
    cl_ulong dco = OFF(0), co = OFF(1), dlo = OFF(2);
    float w = a->f[0];
    size_t g = (size_t)total, l = 256;
    return emim_cl_run(ctx, "emim_barlow_bwd", 1, &g, &l, 9, EMIM_ARG(dC), EMIM_ARG(dco), EMIM_ARG(C), EMIM_ARG(co),
                       EMIM_ARG(dl), EMIM_ARG(dlo), EMIM_ARG(n), EMIM_ARG(total), EMIM_ARG(w));
}

/* ---- cross_entropy ----  i: 0 n, 1 k; f: 0 s.
 * forward t: 0 loss, 1 lse, 2 x, 3 target: the rows' terms into scratch,
 * then their mean by the mean op's OpenCL twin (the CPU twin's order) */
emim_status emim_cl_cross_entropy_forward(emim_ctx *ctx, const emim_args *a)
{
    cl_ulong n = (cl_ulong)a->i[0], k = (cl_ulong)a->i[1];
    float s = a->f[0];
    emim_ws_mark mark = emim_ws_mark_get(ctx);
    emim_ref terms;
    EMIM_CHECK(emim_ws_take(ctx, (size_t)n, &terms));
    cl_mem lse = MEM(1), term = terms.buf->mem, x = MEM(2), tg = MEM(3);
    cl_ulong lo = OFF(1), tmo = (cl_ulong)terms.off, xo = OFF(2), to = OFF(3);
    emim_status st = emim_cl_run_rows(ctx, "emim_xent_fwd", "emim_xent_fwd_serial", (size_t)n, 11, EMIM_ARG(lse),
                                      EMIM_ARG(lo), EMIM_ARG(term), EMIM_ARG(tmo), EMIM_ARG(x), EMIM_ARG(xo),
                                      EMIM_ARG(tg), EMIM_ARG(to), EMIM_ARG(n), EMIM_ARG(k), EMIM_ARG(s));
    if (!st) {
        emim_args mean = { 0 };
        mean.t[0] = a->t[0];
        mean.t[1] = terms;
        mean.i[0] = 1;
        mean.i[1] = (int64_t)n;
        st = emim_cl_mean_forward(ctx, &mean);
    }
    emim_ws_release(ctx, mark);
    return st;
}

/* backward t: 0 dx, 1 x, 2 target, 3 lse, 4 dloss */
emim_status emim_cl_cross_entropy_backward(emim_ctx *ctx, const emim_args *a)
{
    cl_ulong n = (cl_ulong)a->i[0], k = (cl_ulong)a->i[1];
    float s = a->f[0], nf = (float)a->i[0]; /* converted on the host, like the CPU twin */
    cl_mem dx = MEM(0), x = MEM(1), tg = MEM(2), lse = MEM(3), dl = MEM(4);
    cl_ulong dxo = OFF(0), xo = OFF(1), to = OFF(2), lo = OFF(3), dlo = OFF(4);
    size_t g = (size_t)(n * k), l = 256;
    return emim_cl_run(ctx, "emim_xent_bwd", 1, &g, &l, 14, EMIM_ARG(dx), EMIM_ARG(dxo), EMIM_ARG(x), EMIM_ARG(xo),
                       EMIM_ARG(tg), EMIM_ARG(to), EMIM_ARG(lse), EMIM_ARG(lo), EMIM_ARG(dl), EMIM_ARG(dlo),
                       EMIM_ARG(n), EMIM_ARG(k), EMIM_ARG(s), EMIM_ARG(nf));
}
