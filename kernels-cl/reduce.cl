/* OpenCL twins of the fixed-order reductions (CPU twins: cpu/reduce.c, whose
 * header comment states the order of the additions). */
#pragma OPENCL FP_CONTRACT OFF

/* part[r*nch + c] = sum of chunk c of row r, in order */
kernel void emim_reduce_chunks(global float *part, global const float *inp, ulong io, ulong rows, ulong n,
                               ulong nch)
{
    ulong q = get_global_id(0);
    if (q >= rows * nch) return;
    ulong r = q / nch, c = q % nch;
    ulong lo = c * EMIM_SUM_CHUNK, hi = min(lo + EMIM_SUM_CHUNK, n);
    global const float *x = inp + io + r * n;
    float s = 0.0f;
    for (ulong e = lo; e < hi; e++) s += x[e];
    part[q] = s;
}

/* out[r] = sum of the chunk sums of row r, in order; divided by nf for mean */
kernel void emim_reduce_final(global float *out, ulong oo, global const float *part, ulong rows, ulong nch,
                              int mean, float nf)
{
    ulong r = get_global_id(0);
    if (r >= rows) return;
    float s = 0.0f;
    for (ulong c = 0; c < nch; c++) s += part[r * nch + c];
    out[oo + r] = mean ? s / nf : s;
}

/* dinp[r,j] += dout[r] (sum) or dout[r] / nf (mean) */
kernel void emim_reduce_bwd(global float *dinp, ulong io, global const float *dout, ulong go, ulong rows,
                            ulong n, int mean, float nf)
{
    ulong e = get_global_id(0);
    if (e >= rows * n) return;
    float g = dout[go + e / n];
    dinp[io + e] += mean ? g / nf : g;
}
