/* OpenCL twins of the elementwise ops (CPU twins: cpu/elementwise.c).
 * Tensors are (buffer, offset in floats); n and offsets are ulong. */
#pragma OPENCL FP_CONTRACT OFF

/* out[r,c] = inp[r,c] + bias[c]; out, inp: [rows, cols] */
kernel void emim_bias_add_fwd(global float *out, ulong oo, global const float *inp, ulong io,
                              global const float *bias, ulong bo, ulong rows, ulong cols)
{
    ulong e = get_global_id(0);
    if (e >= rows * cols) return;
    out[oo + e] = inp[io + e] + bias[bo + e % cols];
}

/* dbias[c] += sum_r dout[r,c], r ascending */
kernel void emim_bias_add_bwd_bias(global float *dbias, ulong bo, global const float *dout, ulong go,
                                   ulong rows, ulong cols)
{
    ulong c = get_global_id(0);
    if (c >= cols) return;
    float s = 0.0f;
    for (ulong r = 0; r < rows; r++) s += dout[go + r * cols + c];
    dbias[bo + c] += s;
}

/* y += x (the backward of bias_add and add) */
kernel void emim_accumulate(global float *y, ulong yo, global const float *x, ulong xo, ulong n)
{
    ulong e = get_global_id(0);
    if (e >= n) return;
    y[yo + e] += x[xo + e];
}

/* out = a + b */
kernel void emim_add_fwd(global float *out, ulong oo, global const float *a, ulong ao,
                         global const float *b, ulong bo, ulong n)
{
    ulong e = get_global_id(0);
    if (e >= n) return;
    out[oo + e] = a[ao + e] + b[bo + e];
}

/* out = alpha * a */
kernel void emim_scale_fwd(global float *out, ulong oo, global const float *a, ulong ao, float alpha, ulong n)
{
    ulong e = get_global_id(0);
    if (e >= n) return;
    out[oo + e] = alpha * a[ao + e];
}

/* da += alpha * dout */
kernel void emim_scale_bwd(global float *da, ulong ao, global const float *dout, ulong go, float alpha, ulong n)
{
    ulong e = get_global_id(0);
    if (e >= n) return;
    da[ao + e] = emim_axpy1(alpha, dout[go + e], da[ao + e]);
}

/* out = 1 / sqrt(a) */
kernel void emim_rsqrt_fwd(global float *out, ulong oo, global const float *a, ulong ao, ulong n)
{
    ulong e = get_global_id(0);
    if (e >= n) return;
    out[oo + e] = emim_rsqrt1(a[ao + e]);
}

/* da += dout * (-0.5 / sqrt(a)^3) */
kernel void emim_rsqrt_bwd(global float *da, ulong dao, global const float *a, ulong ao, global const float *dout,
                           ulong go, ulong n)
{
    ulong e = get_global_id(0);
    if (e >= n) return;
    da[dao + e] = emim_rsqrt1_dacc(a[ao + e], dout[go + e], da[dao + e]);
}

/* out[r,c] = a[r,c], plus alpha where r == c; out, a: [rows, cols] */
kernel void emim_add_diag_fwd(global float *out, ulong oo, global const float *a, ulong ao, float alpha, ulong rows,
                              ulong cols)
{
    ulong e = get_global_id(0);
    if (e >= rows * cols) return;
    float x = a[ao + e];
    out[oo + e] = e / cols == e % cols ? x + alpha : x;
}

/* the same in place: x[r,r] += alpha for r < ndiag = min(rows, cols) */
kernel void emim_add_diag_inplace(global float *x, ulong xo, ulong cols, float alpha, ulong ndiag)
{
    ulong r = get_global_id(0);
    if (r >= ndiag) return;
    x[xo + r * cols + r] = x[xo + r * cols + r] + alpha;
}
