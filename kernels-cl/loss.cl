/* OpenCL twins of the loss ops: mse, l1, rownorm, barlow, cross_entropy (CPU
 * twins and the order of every sum: cpu/loss.c). The emim_mse_* kernels
 * serve mse (l1 0) and l1 (l1 1). Every sum takes the lane shape of
 * src/core/emim_math.h ("Row sums"): a work-group of EMIM_ROW_LANES work-items per chunk (mse,
 * l1, barlow), per row (rownorm) or for the final sum of the chunk sums,
 * work-item j summing lane j, the lanes combined by the fixed tree in local
 * memory; the *_serial kernels do the same with one work-item holding the 32
 * lanes. cross_entropy: the same per row (its mean over the rows: the mean
 * op's kernels, kernels-cl/reduce.cl). The backward kernels of mse, l1,
 * barlow and cross_entropy: one work-item per element. */
#pragma OPENCL FP_CONTRACT OFF

/* part[c] = rowsum of m (p - t)^2 (l1: m |p - t|) over chunk c, part[nch + c] = rowsum of m */
EMIM_INLINE void mse_chunk(global float *part, global const float *p, ulong po, global const float *t, ulong to,
                           global const float *m, ulong mo, int has_mask, ulong n, ulong nch, int l1, ulong c,
                           uint j0, uint nj, local float *pl)
{
    ulong lo = c * EMIM_SUM_CHUNK, hi = min(lo + EMIM_SUM_CHUNK, n);
    float qs[EMIM_ROW_LANES], qk[EMIM_ROW_LANES];
    for (uint u = 0; u < nj; u++) {
        float s = 0.0f, k = 0.0f;
        for (ulong e = lo + j0 + u; e < hi; e += EMIM_ROW_LANES) {
            float me = has_mask ? m[mo + e] : 1.0f;
            s += l1 ? emim_l1_term(p[po + e], t[to + e], me) : emim_mse_term(p[po + e], t[to + e], me);
            k += me;
        }
        qs[u] = s;
        qk[u] = k;
    }
    float s = emim_lanes_sum(qs, pl, j0, nj), k = emim_lanes_sum(qk, pl, j0, nj);
    if (j0 == 0) {
        part[c] = s;
        part[nch + c] = k;
    }
}

kernel void emim_mse_chunks(global float *part, ulong pfo, global const float *p, ulong po, global const float *t, ulong to,
                            global const float *m, ulong mo, int has_mask, ulong n, ulong nch, int l1)
{
    part += pfo; /* the scratch's offset in the workspace */
    local float pl[EMIM_ROW_LANES];
    mse_chunk(part, p, po, t, to, m, mo, has_mask, n, nch, l1, get_group_id(0), get_local_id(0), 1u, pl);
}

kernel void emim_mse_chunks_serial(global float *part, ulong pfo, global const float *p, ulong po, global const float *t,
                                   ulong to, global const float *m, ulong mo, int has_mask, ulong n, ulong nch, int l1)
{
    part += pfo; /* the scratch's offset in the workspace */
    ulong c = get_global_id(0);
    if (c >= nch) return;
    mse_chunk(part, p, po, t, to, m, mo, has_mask, n, nch, l1, c, 0u, EMIM_ROW_LANES, (local float *)0);
}

/* out[0] = the loss (want_coef 0) or the gradient coefficient from dloss (1);
 * one row: the rowsums of part[0 .. nch-1] and part[nch .. 2nch-1] */
EMIM_INLINE void mse_total(global float *out, ulong oo, global const float *part, ulong nch, int has_mask,
                           float nf, int want_coef, global const float *dl, ulong dlo, int l1, uint j0, uint nj,
                           local float *pl)
{
    float s = emim_row_sum_cl(part, nch, j0, nj, pl), k = emim_row_sum_cl(part + nch, nch, j0, nj, pl);
    if (j0 != 0) return;
    float cnt = has_mask ? k : nf;
    if (want_coef) out[oo] = l1 ? emim_l1_coef(dl[dlo], cnt) : emim_mse_coef(dl[dlo], cnt);
    else out[oo] = cnt == 0.0f ? 0.0f : s / cnt;
}

kernel void emim_mse_final(global float *out, ulong oo, global const float *part, ulong pfo, ulong nch, int has_mask, float nf,
                           int want_coef, global const float *dl, ulong dlo, int l1)
{
    part += pfo; /* the scratch's offset in the workspace */
    local float pl[EMIM_ROW_LANES];
    mse_total(out, oo, part, nch, has_mask, nf, want_coef, dl, dlo, l1, get_local_id(0), 1u, pl);
}

kernel void emim_mse_final_serial(global float *out, ulong oo, global const float *part, ulong pfo, ulong nch, int has_mask,
                                  float nf, int want_coef, global const float *dl, ulong dlo, int l1)
{
    part += pfo; /* the scratch's offset in the workspace */
    if (get_global_id(0) != 0) return;
    mse_total(out, oo, part, nch, has_mask, nf, want_coef, dl, dlo, l1, 0u, EMIM_ROW_LANES, (local float *)0);
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

/* part[c] = rowsum of the Barlow terms over chunk c */
EMIM_INLINE void barlow_chunk(global float *part, global const float *C, ulong co, ulong n, ulong total, ulong c,
                              float w, uint j0, uint nj, local float *pl)
{
    ulong lo = c * EMIM_SUM_CHUNK, hi = min(lo + EMIM_SUM_CHUNK, total);
    float q[EMIM_ROW_LANES];
    for (uint u = 0; u < nj; u++) {
        float s = 0.0f;
        for (ulong e = lo + j0 + u; e < hi; e += EMIM_ROW_LANES)
            s += emim_barlow_term(C[co + e], (e % (n * n)) / n == e % n, w);
        q[u] = s;
    }
    float s = emim_lanes_sum(q, pl, j0, nj);
    if (j0 == 0) part[c] = s;
}

kernel void emim_barlow_chunks(global float *part, ulong pfo, global const float *C, ulong co, ulong n, ulong total, ulong nch,
                               float w)
{
    part += pfo; /* the scratch's offset in the workspace */
    local float pl[EMIM_ROW_LANES];
    barlow_chunk(part, C, co, n, total, get_group_id(0), w, get_local_id(0), 1u, pl);
}

kernel void emim_barlow_chunks_serial(global float *part, ulong pfo, global const float *C, ulong co, ulong n, ulong total,
                                      ulong nch, float w)
{
    part += pfo; /* the scratch's offset in the workspace */
    ulong c = get_global_id(0);
    if (c >= nch) return;
    barlow_chunk(part, C, co, n, total, c, w, 0u, EMIM_ROW_LANES, (local float *)0);
}

/* loss = rowsum of the chunk sums (one row) */
kernel void emim_barlow_final(global float *loss, ulong lo, global const float *part, ulong pfo, ulong nch)
{
    part += pfo; /* the scratch's offset in the workspace */
    local float pl[EMIM_ROW_LANES];
    uint j = get_local_id(0);
    float s = emim_row_sum_cl(part, nch, j, 1u, pl);
    if (j == 0) loss[lo] = s;
}

kernel void emim_barlow_final_serial(global float *loss, ulong lo, global const float *part, ulong pfo, ulong nch)
{
    part += pfo; /* the scratch's offset in the workspace */
    if (get_global_id(0) != 0) return;
    loss[lo] = emim_row_sum_cl(part, nch, 0u, EMIM_ROW_LANES, (local float *)0);
}

kernel void emim_barlow_bwd(global float *dC, ulong dco, global const float *C, ulong co, global const float *dl,
                            ulong dlo, ulong n, ulong total, float w)
{
    ulong e = get_global_id(0);
    if (e >= total) return;
    dC[dco + e] += emim_barlow_grad(dl[dlo], C[co + e], (e % (n * n)) / n == e % n, w);
}

/* ---- cross_entropy ---- (CPU twin and order: cpu/loss.c) */

/* Whether the float v is a column index: a whole number in [0, k) (k <=
 * 2^24: the wrapper checks it, so (float)k is exact). */
EMIM_INLINE int emim_xent_target_ok(float v, ulong k)
{
    return v >= 0.0f && v < (float)k && v == floor(v);
}

/* lse[r] and the row's term into term[r] (NaN for a target that is not a column index) */
EMIM_INLINE void xent_fwd_row(global float *lse, ulong lo, global float *term, global const float *x, ulong xo,
                              global const float *tg, ulong to, ulong k, float s, ulong r, uint j0, uint nj,
                              local float *pl)
{
    global const float *xr = x + xo + r * k;
    float q[EMIM_ROW_LANES];
    for (uint t = 0; t < nj; t++) {
        float m = -EMIM_INFINITY;
        for (ulong j = j0 + t; j < k; j += EMIM_ROW_LANES) {
            float sx = s * xr[j];
            m = sx > m ? sx : m;
        }
        q[t] = m;
    }
    float m = emim_lanes_max(q, pl, j0, nj);
    for (uint t = 0; t < nj; t++) {
        float sum = 0.0f;
        for (ulong j = j0 + t; j < k; j += EMIM_ROW_LANES) {
            float e = emim_expf(s * xr[j] - m);
            sum += e;
        }
        q[t] = sum;
    }
    float L = emim_xent_lse(m, emim_lanes_sum(q, pl, j0, nj));
    if (j0 != 0) return;
    float tv = tg[to + r];
    lse[lo + r] = L;
    term[r] = emim_xent_target_ok(tv, k) ? emim_xent_term(L, s * xr[(ulong)tv]) : EMIM_NAN;
}

kernel void emim_xent_fwd(global float *lse, ulong lo, global float *term, ulong tmo, global const float *x, ulong xo,
                          global const float *tg, ulong to, ulong n, ulong k, float s)
{
    term += tmo; /* the scratch's offset in the workspace */
    local float pl[EMIM_ROW_LANES];
    xent_fwd_row(lse, lo, term, x, xo, tg, to, k, s, get_group_id(0), get_local_id(0), 1u, pl);
}

kernel void emim_xent_fwd_serial(global float *lse, ulong lo, global float *term, ulong tmo, global const float *x,
                                 ulong xo, global const float *tg, ulong to, ulong n, ulong k, float s)
{
    term += tmo; /* the scratch's offset in the workspace */
    ulong r = get_global_id(0);
    if (r >= n) return;
    xent_fwd_row(lse, lo, term, x, xo, tg, to, k, s, r, 0u, EMIM_ROW_LANES, (local float *)0);
}

/* dx[r, j] += (exp(s x - lse) - [j == t]) coef, one work-item per element; a
 * target that is not a column index makes its row of dx NaN */
kernel void emim_xent_bwd(global float *dx, ulong dxo, global const float *x, ulong xo, global const float *tg,
                          ulong to, global const float *lse, ulong lo, global const float *dl, ulong dlo, ulong n,
                          ulong k, float s, float nf)
{
    ulong e = get_global_id(0);
    if (e >= n * k) return;
    ulong r = e / k, j = e % k;
    float tv = tg[to + r];
    float coef = emim_xent_coef(dl[dlo], s, nf);
    dx[dxo + e] += emim_xent_target_ok(tv, k) ? emim_xent_grad(s * x[xo + e], lse[lo + r], j == (ulong)tv, coef)
                                               : EMIM_NAN;
}
