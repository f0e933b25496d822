/* OpenCL twins of the fixed-order reductions (CPU twins: cpu/reduce.c, whose
 * header comment states the order of the additions). Both sums, over a
 * chunk and over a row's chunk sums, take the lane shape of
 * src/core/emim_math.h ("Row sums"): a work-group of EMIM_ROW_LANES
 * work-items per chunk (per row for the final sum), work-item j summing
 * lane j, the lanes combined by the fixed tree in local memory; the *_serial
 * kernels do the same with one work-item per chunk (row) holding the 32
 * lanes. */
#pragma OPENCL FP_CONTRACT OFF

/* part[r*nch + c] = the lane sum of chunk c of row r (chunk q = r*nch + c) */
EMIM_INLINE void reduce_chunk(global float *part, global const float *inp, ulong io, ulong n, ulong nch, ulong q,
                              uint j0, uint nj, local float *pl)
{
    ulong r = q / nch, c = q % nch;
    ulong lo = c * EMIM_SUM_CHUNK, hi = min(lo + EMIM_SUM_CHUNK, n);
    float s = emim_row_sum_cl(inp + io + r * n + lo, hi - lo, j0, nj, pl);
    if (j0 == 0) part[q] = s;
}

kernel void emim_reduce_chunks(global float *part, ulong pfo, global const float *inp, ulong io, ulong rows, ulong n,
                               ulong nch)
{
    part += pfo; /* the scratch's offset in the workspace */
    local float pl[EMIM_ROW_LANES];
    reduce_chunk(part, inp, io, n, nch, get_group_id(0), get_local_id(0), 1u, pl);
}

kernel void emim_reduce_chunks_serial(global float *part, ulong pfo, global const float *inp, ulong io, ulong rows, ulong n,
                                      ulong nch)
{
    part += pfo; /* the scratch's offset in the workspace */
    ulong q = get_global_id(0);
    if (q >= rows * nch) return;
    reduce_chunk(part, inp, io, n, nch, q, 0u, EMIM_ROW_LANES, (local float *)0);
}

/* out[r] = the lane sum of the chunk sums of row r; divided by nf for mean */
EMIM_INLINE void reduce_final_row(global float *out, ulong oo, global const float *part, ulong nch, int mean,
                                  float nf, ulong r, uint j0, uint nj, local float *pl)
{
    float s = emim_row_sum_cl(part + r * nch, nch, j0, nj, pl);
    if (j0 == 0) out[oo + r] = mean ? s / nf : s;
}

kernel void emim_reduce_final(global float *out, ulong oo, global const float *part, ulong pfo, ulong rows, ulong nch,
                              int mean, float nf)
{
    part += pfo; /* the scratch's offset in the workspace */
    local float pl[EMIM_ROW_LANES];
    reduce_final_row(out, oo, part, nch, mean, nf, get_group_id(0), get_local_id(0), 1u, pl);
}

kernel void emim_reduce_final_serial(global float *out, ulong oo, global const float *part, ulong pfo, ulong rows, ulong nch,
                                     int mean, float nf)
{
    part += pfo; /* the scratch's offset in the workspace */
    ulong r = get_global_id(0);
    if (r >= rows) return;
    reduce_final_row(out, oo, part, nch, mean, nf, r, 0u, EMIM_ROW_LANES, (local float *)0);
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
