/* OpenCL twin of gelu (CPU twin: cpu/gelu.c; formulas in src/core/emim_math.h). */
#pragma OPENCL FP_CONTRACT OFF

kernel void emim_gelu_fwd(global float *out, ulong oo, global const float *x, ulong xo, ulong n)
{
    ulong e = get_global_id(0);
    if (e >= n) return;
    out[oo + e] = emim_gelu1(x[xo + e]);
}

kernel void emim_gelu_bwd(global float *dinp, ulong dio, global const float *x, ulong xo, global const float *dout,
                          ulong go, ulong n)
{
    ulong e = get_global_id(0);
    if (e >= n) return;
    dinp[dio + e] = emim_axpy1(dout[go + e], emim_gelu1_grad(x[xo + e]), dinp[dio + e]);
}
