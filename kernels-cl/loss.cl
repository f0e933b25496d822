/* OpenCL twins of the loss ops: mse, l1, rownorm, barlow (CPU twins and the
 * order of every sum: cpu/loss.c). The emim_mse_* kernels serve mse (l1 0)
 * and l1 (l1 1): one work-item per chunk, then one for the chunk sums;
 * barlow the same. rownorm: a work-group of EMIM_ROW_LANES work-items per
 * row, work-item j summing lane j, the lanes combined by the fixed tree in
 * local memory (src/core/emim_math.h, "Row sums"); the *_serial kernels do
 * the same with one work-item per row holding the 32 lanes. */
#pragma OPENCL FP_CONTRACT OFF

/* part[2c] = sum of m (p - t)^2 (l1: m |p - t|) over chunk c, part[2c + 1] = sum of m */
kernel void emim_mse_chunks(global float *part, global const float *p, ulong po, global const float *t, ulong to,
                            global const float *m, ulong mo, int has_mask, ulong n, ulong nch, int l1)
{
    ulong c = get_global_id(0);
    if (c >= nch) return;
    ulong lo = c * EMIM_SUM_CHUNK, hi = min(lo + EMIM_SUM_CHUNK, n);
    float s = 0.0f, k = 0.0f;
    for (ulong e = lo; e < hi; e++) {
        float me = has_mask ? m[mo + e] : 1.0f;
        s += l1 ? emim_l1_term(p[po + e], t[to + e], me) : emim_mse_term(p[po + e], t[to + e], me);
        k += me;
    }
    part[2 * c] = s;
    part[2 * c + 1] = k;
}

/* out[0] = the loss (want_coef 0) or the gradient coefficient from dloss (1) */
kernel void emim_mse_final(global float *out, ulong oo, global const float *part, ulong nch, int has_mask, float nf,
                           int want_coef, global const float *dl, ulong dlo, int l1)
{
    if (get_global_id(0) != 0) return;
    float s = 0.0f, k = 0.0f;
    for (ulong c = 0; c < nch; c++) {
        s += part[2 * c];
        k += part[2 * c + 1];
    }
    float cnt = has_mask ? k : nf;
    if (want_coef) out[oo] = l1 ? emim_l1_coef(dl[dlo], cnt) : emim_mse_coef(dl[dlo], cnt);
    else out[oo] = cnt == 0.0f ? 0.0f : s / cnt;
}

kernel void emim_mse_bwd(global float *dp, ulong dpo, int has_dp, global float *dt, ulong dto, int has_dt,
                         global const float *p, ulong po, global const float *t, ulong to, global const float *m,
                         ulong mo, int has_mask, global const float *coef, ulong n, int l1)
{
    ulong e = get_global_id(0);
    if (e >= n) return;
    float me = has_mask ? m[mo + e] : 1.0f;
    float g = l1 ? emim_l1_grad(coef[0], p[po + e], t[to + e], me) : emim_mse_grad(coef[0], p[po + e], t[to + e], me);
    if (has_dp) dp[dpo + e] += g;
    if (has_dt) dt[dto + e] -= g;
}

EMIM_INLINE void rownorm_fwd_row(global float *an, ulong ao, global float *r, ulong ro, global const float *x,
                                 ulong xo, ulong d, ulong i, uint j0, uint nj, local float *pl)
{
    global const float *xi = x + xo + i * d;
    float q[EMIM_ROW_LANES];
    for (uint t = 0; t < nj; t++) {
        float s = 0.0f;
        for (ulong k = j0 + t; k < d; k += EMIM_ROW_LANES) {
            float xx = xi[k] * xi[k];
            s += xx;
        }
        q[t] = s;
    }
    float ri = sqrt(emim_lanes_sum(q, pl, j0, nj) + EMIM_ROWNORM_EPS);
    for (ulong k = j0; k < d; k += EMIM_LANES_STEP(nj)) an[ao + i * d + k] = xi[k] / ri;
    if (j0 == 0) r[ro + i] = ri;
}

kernel void emim_rownorm_fwd(global float *an, ulong ao, global float *r, ulong ro, global const float *x, ulong xo,
                             ulong rows, ulong d)
{
    local float pl[EMIM_ROW_LANES];
    rownorm_fwd_row(an, ao, r, ro, x, xo, d, get_group_id(0), get_local_id(0), 1u, pl);
}

kernel void emim_rownorm_fwd_serial(global float *an, ulong ao, global float *r, ulong ro, global const float *x,
                                    ulong xo, ulong rows, ulong d)
{
    ulong i = get_global_id(0);
    if (i >= rows) return;
    rownorm_fwd_row(an, ao, r, ro, x, xo, d, i, 0u, EMIM_ROW_LANES, (local float *)0);
}

EMIM_INLINE void rownorm_bwd_row(global float *dx, ulong dxo, global const float *an, ulong ao,
                                 global const float *r, ulong ro, global const float *da, ulong dao, ulong d,
                                 ulong i, uint j0, uint nj, local float *pl)
{
    float q[EMIM_ROW_LANES];
    for (uint t = 0; t < nj; t++) {
        float dot = 0.0f;
        for (ulong k = j0 + t; k < d; k += EMIM_ROW_LANES) {
            float u = an[ao + i * d + k] * da[dao + i * d + k];
            dot += u;
        }
        q[t] = dot;
    }
    float dot = emim_lanes_sum(q, pl, j0, nj), ri = r[ro + i];
    for (ulong k = j0; k < d; k += EMIM_LANES_STEP(nj))
        dx[dxo + i * d + k] += emim_rownorm_dx(da[dao + i * d + k], an[ao + i * d + k], dot, ri);
}

kernel void emim_rownorm_bwd(global float *dx, ulong dxo, global const float *an, ulong ao, global const float *r,
                             ulong ro, global const float *da, ulong dao, ulong rows, ulong d)
{
    local float pl[EMIM_ROW_LANES];
    rownorm_bwd_row(dx, dxo, an, ao, r, ro, da, dao, d, get_group_id(0), get_local_id(0), 1u, pl);
}

kernel void emim_rownorm_bwd_serial(global float *dx, ulong dxo, global const float *an, ulong ao,
                                    global const float *r, ulong ro, global const float *da, ulong dao, ulong rows,
                                    ulong d)
{
    ulong i = get_global_id(0);
    if (i >= rows) return;
    rownorm_bwd_row(dx, dxo, an, ao, r, ro, da, dao, d, i, 0u, EMIM_ROW_LANES, (local float *)0);
}

kernel void emim_barlow_chunks(global float *part, global const float *C, ulong co, ulong n, ulong total, ulong nch,
                               float w)
{
    ulong c = get_global_id(0);
    if (c >= nch) return;
    ulong lo = c * EMIM_SUM_CHUNK, hi = min(lo + EMIM_SUM_CHUNK, total);
    float s = 0.0f;
    for (ulong e = lo; e < hi; e++) s += emim_barlow_term(C[co + e], (e % (n * n)) / n == e % n, w);
    part[c] = s;
}

kernel void emim_barlow_final(global float *loss, ulong lo, global const float *part, ulong nch)
{
    if (get_global_id(0) != 0) return;
    float s = 0.0f;
    for (ulong c = 0; c < nch; c++) s += part[c];
    loss[lo] = s;
}

kernel void emim_barlow_bwd(global float *dC, ulong dco, global const float *C, ulong co, global const float *dl,
                            ulong dlo, ulong n, ulong total, float w)
{
    ulong e = get_global_id(0);
    if (e >= total) return;
    dC[dco + e] += emim_barlow_grad(dl[dlo], C[co + e], (e % (n * n)) / n == e % n, w);
}
