/* OpenCL twins of adamw and clip_grad_norm (CPU twins: cpu/optim.c). */
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

kernel void emim_sumsq_chunks(global float *part, ulong po, global const float *g, ulong go, ulong n, ulong nch)
{
    ulong c = get_global_id(0);
    if (c >= nch) return;
    ulong lo = c * EMIM_SUM_CHUNK, hi = min(lo + EMIM_SUM_CHUNK, n);
    float s = 0.0f;
    for (ulong e = lo; e < hi; e++) {
        float gg = g[go + e] * g[go + e];
        s += gg;
    }
    part[po + c] = s;
}

kernel void emim_clip_norm(global float *norm, ulong no, global const float *part, ulong po, ulong nch)
{
    if (get_global_id(0) != 0) return;
    float s = 0.0f;
    for (ulong c = 0; c < nch; c++) s += part[po + c];
    norm[no] = sqrt(s);
}

kernel void emim_clip_scale(global float *g, ulong go, global const float *norm, ulong no, float max_norm, ulong n)
{
    ulong e = get_global_id(0);
    if (e >= n) return;
    g[go + e] = g[go + e] * emim_clip_factor(norm[no], max_norm);
}
