/* OpenCL twins of the token ops: gather_rows, mask_mix, region_pool (CPU
 * twins and the order of mask_mix's dt sum and region_pool's sums:
 * cpu/tokens.c). */
#pragma OPENCL FP_CONTRACT OFF

/* Whether the float v is a row index: a whole number in [0, n_in)
 * (n_in <= 2^24: the wrapper checks it, so (float)n_in is exact). */
inline int emim_row_index_ok(float v, ulong n_in)
{
    return v >= 0.0f && v < (float)n_in && v == floor(v);
}

/* out[b, j, c] = inp[b, idx[b, j], c], one element per work-item over
 * [B * n_out, d]; an invalid index makes its out row NaN */
kernel void emim_gather_rows_fwd(global float *out, ulong oo, global const float *inp, ulong io,
                                 global const float *idx, ulong xo, ulong n_in, ulong n_out, ulong d, ulong total)
{
    ulong e = get_global_id(0);
    if (e >= total) return;
    ulong row = e / d, c = e % d, b = row / n_out;
    float v = idx[xo + row];
    if (!emim_row_index_ok(v, n_in)) {
        out[oo + e] = EMIM_NAN;
        return;
    }
    out[oo + e] = inp[io + (b * n_in + (ulong)v) * d + c];
}

/* dinp[b, idx[b, j], c] += dout[b, j, c]; an invalid index is skipped */
kernel void emim_gather_rows_bwd(global float *dinp, ulong io, global const float *idx, ulong xo,
                                 global const float *dout, ulong go, ulong n_in, ulong n_out, ulong d, ulong total)
{
    ulong e = get_global_id(0);
    if (e >= total) return;
    ulong row = e / d, c = e % d, b = row / n_out;
    float v = idx[xo + row];
    if (!emim_row_index_ok(v, n_in)) return;
    dinp[io + (b * n_in + (ulong)v) * d + c] += dout[go + e];
}

/* out[r, c] = m[r] != 0 ? t[c] : x[r, c]; out may be x */
kernel void emim_mask_mix_fwd(global float *out, ulong oo, global const float *x, ulong xo, global const float *m,
                              ulong mo, global const float *t, ulong to, ulong d, ulong total)
{
    ulong e = get_global_id(0);
    if (e >= total) return;
    ulong r = e / d, c = e % d;
    out[oo + e] = m[mo + r] != 0.0f ? t[to + c] : x[xo + e];
}

/* dx[r, c] += dout[r, c] where m[r] == 0 */
kernel void emim_mask_mix_bwd_x(global float *dx, ulong dxo, global const float *m, ulong mo,
                                global const float *dout, ulong go, ulong d, ulong total)
{
    ulong e = get_global_id(0);
    if (e >= total) return;
    if (m[mo + e / d] != 0.0f) return;
    dx[dxo + e] += dout[go + e];
}

/* part[ch * d + c] = sum over the masked rows r of chunk ch, in order, of dout[r, c] */
kernel void emim_mask_mix_bwd_chunks(global float *part, ulong po, global const float *m, ulong mo, global const float *dout,
                                     ulong go, ulong rows, ulong d, ulong nch)
{
    ulong e = get_global_id(0);
    if (e >= nch * d) return;
    ulong ch = e / d, c = e % d, lo = ch * EMIM_SUM_CHUNK, hi = min(lo + EMIM_SUM_CHUNK, rows);
    float s = 0.0f;
    for (ulong r = lo; r < hi; r++)
        if (m[mo + r] != 0.0f) s += dout[go + r * d + c];
    part[po + e] = s;
}

/* dt[c] += the chunk sums of column c, in order */
kernel void emim_mask_mix_bwd_t(global float *dt, ulong dto, global const float *part, ulong po, ulong d, ulong nch)
{
    ulong c = get_global_id(0);
    if (c >= d) return;
    float s = 0.0f;
    for (ulong ch = 0; ch < nch; ch++) s += part[po + ch * d + c];
    dt[dto + c] += s;
}

/* ---- region_pool ---- (order: cpu/tokens.c) A token whose region is not
 * one of 0 .. R-1 (-1, or a bad value) belongs to no region. */

/* out[b, r, c] = the mean of x[b, n, c] over the tokens n of region r, in
 * ascending n; one element per work-item over [B, R, D] */
kernel void emim_region_pool_fwd(global float *out, ulong oo, global const float *x, ulong xo,
                                 global const float *region, ulong ro, ulong N, ulong R, ulong D, ulong total)
{
    ulong e = get_global_id(0);
    if (e >= total) return;
    ulong b = e / (R * D), r = e / D % R, c = e % D;
    float fr = (float)r, s = 0.0f, k = 0.0f;
    global const float *xb = x + xo + b * N * D + c;
    for (ulong n = 0; n < N; n++) {
        if (region[ro + n] != fr) continue;
        s += xb[n * D];
        k += 1.0f;
    }
    out[oo + e] = emim_region_mean(s, k);
}

/* cnt[r] = the number of tokens of region r (scratch), one work-item per region */
kernel void emim_region_pool_counts(global float *cnt, ulong co, global const float *region, ulong ro, ulong N,
                                    ulong R)
{
    ulong r = get_global_id(0);
    if (r >= R) return;
    float fr = (float)r, k = 0.0f;
    for (ulong n = 0; n < N; n++)
        if (region[ro + n] == fr) k += 1.0f;
    cnt[co + r] = k;
}

/* dx[b, n, c] += dout[b, region[n], c] / cnt[region[n]], one element per
 * work-item over [B, N, D] */
kernel void emim_region_pool_bwd(global float *dx, ulong dxo, global const float *region, ulong ro,
                                 global const float *dout, ulong go, global const float *cnt, ulong co, ulong N,
                                 ulong R, ulong D, ulong total)
{
    ulong e = get_global_id(0);
    if (e >= total) return;
    ulong b = e / (N * D), n = e / D % N, c = e % D;
    float v = region[ro + n];
    if (!(v >= 0.0f && v < (float)R && v == floor(v))) return;
    ulong r = (ulong)v;
    dx[dxo + e] += emim_region_grad(dout[go + (b * R + r) * D + c], cnt[co + r]);
}
