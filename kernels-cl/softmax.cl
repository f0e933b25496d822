/* OpenCL twin of softmax (CPU twin and the order of operations:
 * cpu/softmax.c). A work-group of EMIM_ROW_LANES work-items per row,
 * work-item j taking lane j (elements j, j+32, ... in order), the lanes'
 * maxima and sums combined by the fixed tree in local memory
 * (src/core/emim_math.h, "Row sums"); the *_serial kernels do the same with
 * one work-item per row holding the 32 lanes. Each row body is written
 * once, for lanes j0 .. j0+nj-1. */
#pragma OPENCL FP_CONTRACT OFF

EMIM_INLINE void softmax_fwd_row(global float *p, ulong po, global const float *x, ulong xo, ulong n, float scale,
                                 ulong r, uint j0, uint nj, local float *pl)
{
    global const float *xr = x + xo + r * n;
    global float *pr = p + po + r * n;
    float q[EMIM_ROW_LANES];
    for (uint t = 0; t < nj; t++) {
        float m = -EMIM_INFINITY;
        for (ulong j = j0 + t; j < n; j += EMIM_ROW_LANES) {
            float s = scale * xr[j];
            m = s > m ? s : m;
        }
        q[t] = m;
    }
    float m = emim_lanes_max(q, pl, j0, nj);
    for (uint t = 0; t < nj; t++) {
        float sum = 0.0f;
        for (ulong j = j0 + t; j < n; j += EMIM_ROW_LANES) {
            float e = emim_expf(scale * xr[j] - m);
            pr[j] = e;
            sum += e;
        }
        q[t] = sum;
    }
    float sum = emim_lanes_sum(q, pl, j0, nj);
    for (ulong j = j0; j < n; j += EMIM_LANES_STEP(nj)) pr[j] = pr[j] / sum;
}

kernel void emim_softmax_fwd(global float *p, ulong po, global const float *x, ulong xo, ulong rows, ulong n,
                             float scale)
{
    local float pl[EMIM_ROW_LANES];
    softmax_fwd_row(p, po, x, xo, n, scale, get_group_id(0), get_local_id(0), 1u, pl);
}

kernel void emim_softmax_fwd_serial(global float *p, ulong po, global const float *x, ulong xo, ulong rows, ulong n,
                                    float scale)
{
    ulong r = get_global_id(0);
    if (r >= rows) return;
    softmax_fwd_row(p, po, x, xo, n, scale, r, 0u, EMIM_ROW_LANES, (local float *)0);
}

EMIM_INLINE void softmax_bwd_row(global float *dx, ulong dxo, global const float *p, ulong po,
                                 global const float *dp, ulong go, ulong n, float scale, ulong r, uint j0, uint nj,
                                 local float *pl)
{
    global const float *pr = p + po + r * n, *gr = dp + go + r * n;
    float q[EMIM_ROW_LANES];
    for (uint t = 0; t < nj; t++) {
        float dot = 0.0f;
        for (ulong j = j0 + t; j < n; j += EMIM_ROW_LANES) {
            float u = pr[j] * gr[j];
            dot += u;
        }
        q[t] = dot;
    }
    float dot = emim_lanes_sum(q, pl, j0, nj);
    for (ulong j = j0; j < n; j += EMIM_LANES_STEP(nj))
        dx[dxo + r * n + j] += emim_softmax_dx(pr[j], gr[j], dot, scale);
}

kernel void emim_softmax_bwd(global float *dx, ulong dxo, global const float *p, ulong po, global const float *dp,
                             ulong go, ulong rows, ulong n, float scale)
{
    local float pl[EMIM_ROW_LANES];
    softmax_bwd_row(dx, dxo, p, po, dp, go, n, scale, get_group_id(0), get_local_id(0), 1u, pl);
}

kernel void emim_softmax_bwd_serial(global float *dx, ulong dxo, global const float *p, ulong po,
                                    global const float *dp, ulong go, ulong rows, ulong n, float scale)
{
    ulong r = get_global_id(0);
    if (r >= rows) return;
    softmax_bwd_row(dx, dxo, p, po, dp, go, n, scale, r, 0u, EMIM_ROW_LANES, (local float *)0);
}
