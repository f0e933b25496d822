/* OpenCL twins of the loss ops: mse, l1, rownorm, barlow (CPU twins and the
 * order of every sum: cpu/loss.c). The emim_mse_* kernels serve mse (l1 0)
 * and l1 (l1 1). */
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

kernel void emim_rownorm_fwd(global float *an, ulong ao, global float *r, ulong ro, global const float *x, ulong xo,
                             ulong rows, ulong d)
{
    ulong i = get_global_id(0);
    if (i >= rows) return;
    global const float *xi = x + xo + i * d;
    float s = 0.0f;
    for (ulong k = 0; k < d; k++) {
        float xx = xi[k] * xi[k];
        s += xx;
    }
    float ri = sqrt(s + EMIM_ROWNORM_EPS);
    for (ulong k = 0; k < d; k++) an[ao + i * d + k] = xi[k] / ri;
    r[ro + i] = ri;
}

kernel void emim_rownorm_bwd(global float *dx, ulong dxo, global const float *an, ulong ao, global const float *r,
                             ulong ro, global const float *da, ulong dao, ulong rows, ulong d)
{
    ulong i = get_global_id(0);
    if (i >= rows) return;
    float dot = 0.0f;
    for (ulong k = 0; k < d; k++) {
        float t = an[ao + i * d + k] * da[dao + i * d + k];
        dot += t;
    }
    float ri = r[ro + i];
    for (ulong k = 0; k < d; k++)
        dx[dxo + i * d + k] += emim_rownorm_dx(da[dao + i * d + k], an[ao + i * d + k], dot, ri);
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
