/* OpenCL twin of softmax (CPU twin and the order of operations:
 * cpu/softmax.c). One work-item per row. */
#pragma OPENCL FP_CONTRACT OFF

kernel void emim_softmax_fwd(global float *p, ulong po, global const float *x, ulong xo, ulong rows, ulong n,
                             float scale)
{
    ulong r = get_global_id(0);
    if (r >= rows) return;
    global const float *xr = x + xo + r * n;
    global float *pr = p + po + r * n;
    float m = scale * xr[0];
    for (ulong j = 1; j < n; j++) {
        float s = scale * xr[j];
        m = s > m ? s : m;
    }
    float sum = 0.0f;
    for (ulong j = 0; j < n; j++) {
        float e = emim_expf(scale * xr[j] - m);
        pr[j] = e;
        sum += e;
    }
    for (ulong j = 0; j < n; j++) pr[j] = pr[j] / sum;
}

kernel void emim_softmax_bwd(global float *dx, ulong dxo, global const float *p, ulong po, global const float *dp,
                             ulong go, ulong rows, ulong n, float scale)
{
    ulong r = get_global_id(0);
    if (r >= rows) return;
    global const float *pr = p + po + r * n, *gr = dp + go + r * n;
    float dot = 0.0f;
    for (ulong j = 0; j < n; j++) {
        float t = pr[j] * gr[j];
        dot += t;
    }
    for (ulong j = 0; j < n; j++) dx[dxo + r * n + j] += emim_softmax_dx(pr[j], gr[j], dot, scale);
}
