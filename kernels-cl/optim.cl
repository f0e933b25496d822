/* OpenCL twins of adamw and clip_grad_norm (CPU twins and the order of the
 * norm's sum: cpu/optim.c). The squared norm: a work-group of
 * EMIM_ROW_LANES work-items per chunk, then one for the chunk sums,
 * work-item j summing lane j and the lanes combined by the fixed tree in
 * local memory (src/core/emim_math.h, "Row sums"); the *_serial kernels do
 * the same with one work-item holding the 32 lanes. adamw and the scaling:
 * one work-item per element. */
#pragma OPENCL FP_CONTRACT OFF

kernel void emim_adamw(global float *p, ulong po, global float *m, ulong mo, global float *v, ulong vo,
                       global const float *g, ulong go, ulong n, float lr, float b1, float b2, float eps, float decay,
                       float bc1, float bc2)
{
    ulong e = get_global_id(0);
    if (e >= n) return;
    float pe = p[po + e], me = m[mo + e], ve = v[vo + e];
    emim_adamw1(&pe, &me, &ve, g[go + e], lr, b1, b2, eps, decay, bc1, bc2);
    p[po + e] = pe;
    m[mo + e] = me;
    v[vo + e] = ve;
}

/* part[c] = rowsum of g^2 over chunk c */
EMIM_INLINE void sumsq_chunk(global float *part, ulong po, global const float *g, ulong go, ulong n, ulong c, uint j0, uint nj,
                             local float *pl)
{
    ulong lo = c * EMIM_SUM_CHUNK, hi = min(lo + EMIM_SUM_CHUNK, n);
    float q[EMIM_ROW_LANES];
    for (uint u = 0; u < nj; u++) {
        float s = 0.0f;
        for (ulong e = lo + j0 + u; e < hi; e += EMIM_ROW_LANES) {
            float gg = g[go + e] * g[go + e];
            s += gg;
        }
        q[u] = s;
    }
    float s = emim_lanes_sum(q, pl, j0, nj);
    if (j0 == 0) part[po + c] = s;
}

kernel void emim_sumsq_chunks(global float *part, ulong po, global const float *g, ulong go, ulong n, ulong nch)
{
    local float pl[EMIM_ROW_LANES];
    sumsq_chunk(part, po, g, go, n, get_group_id(0), get_local_id(0), 1u, pl);
}

kernel void emim_sumsq_chunks_serial(global float *part, ulong po, global const float *g, ulong go, ulong n, ulong nch)
{
    ulong c = get_global_id(0);
    if (c >= nch) return;
    sumsq_chunk(part, po, g, go, n, c, 0u, EMIM_ROW_LANES, (local float *)0);
}

/* norm = sqrt(rowsum of the chunk sums) (one row) */
kernel void emim_clip_norm(global float *norm, ulong no, global const float *part, ulong po, ulong nch)
{
    local float pl[EMIM_ROW_LANES];
    uint j = get_local_id(0);
    float s = emim_row_sum_cl(part + po, nch, j, 1u, pl);
    if (j == 0) norm[no] = sqrt(s);
}

kernel void emim_clip_norm_serial(global float *norm, ulong no, global const float *part, ulong po, ulong nch)
{
    if (get_global_id(0) != 0) return;
    norm[no] = sqrt(emim_row_sum_cl(part + po, nch, 0u, EMIM_ROW_LANES, (local float *)0));
}

kernel void emim_clip_scale(global float *g, ulong go, global const float *norm, ulong no, float max_norm, ulong n)
{
    ulong e = get_global_id(0);
    if (e >= n) return;
    g[go + e] = g[go + e] * emim_clip_factor(norm[no], max_norm);
}
