/* OpenCL twin of the Philox random fill (CPU twin: cpu/random.c); the
 * formula is emim_rand_value in src/core/emim_math.h. */
#pragma OPENCL FP_CONTRACT OFF

kernel void emim_rand_fill(global float *out, ulong oo, ulong n, int kind, ulong seed, ulong stream,
                           float p0, float p1, float p2, float p3)
{
    ulong i = get_global_id(0);
    if (i >= n) return;
    out[oo + i] = emim_rand_value(kind, i, seed, stream, p0, p1, p2, p3);
}
