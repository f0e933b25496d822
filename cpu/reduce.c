/* CPU twins of the fixed-order reductions sum and mean. The order of the
 * additions (doc/numerics.md), the same in kernels-cl/reduce.cl, with
 * rowsum the lane shape of src/core/emim_math.h ("Row sums": lane j sums
 * elements j, j+32, ... in order, then a fixed pairwise tree over the 32
 * lanes):
 *   chunk c of row r = elements [c*CH, min((c+1)*CH, n)), CH = EMIM_REDUCE_CHUNK;
 *   part[c] = rowsum(chunk c);
 *   out[r]  = rowsum(part[0], part[1], ..., part[nch-1]);
 *   mean    = out[r] / (float)n.
 * Chunks are summed in parallel; nothing depends on the thread count. */
#include "core/internal.h"

#include <stdlib.h>

#define P(r) ((r).buf->host + (r).off)

EMIM_CPU_KERNEL
static emim_status reduce_rows(emim_ctx *ctx, const emim_args *a, int mean)
{
    float *out = P(a->t[0]);
    const float *inp = P(a->t[1]);
    int64_t rows = a->i[0], n = a->i[1];
    int64_t nch = (n + EMIM_REDUCE_CHUNK - 1) / EMIM_REDUCE_CHUNK;
    emim_ws_mark mark = emim_ws_mark_get(ctx);
    float *part;
    EMIM_CHECK(emim_ws_host(ctx, (size_t)(rows * nch), &part));
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t q = 0; q < rows * nch; q++) {
        int64_t r = q / nch, c = q % nch;
        int64_t lo = c * EMIM_REDUCE_CHUNK, hi = lo + EMIM_REDUCE_CHUNK < n ? lo + EMIM_REDUCE_CHUNK : n;
        part[q] = emim_row_sum(inp + r * n + lo, hi - lo);
    }
    float nf = (float)n;
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        float s = emim_row_sum(part + r * nch, nch);
        out[r] = mean ? s / nf : s;
    }
    emim_ws_release(ctx, mark);
    return EMIM_OK;
}

/* dinp[r,j] += dout[r] (sum) or dout[r] / (float)n (mean) */
EMIM_CPU_KERNEL
static emim_status reduce_rows_backward(emim_ctx *ctx, const emim_args *a, int mean)
{
    float *dinp = P(a->t[0]);
    const float *dout = P(a->t[1]);
    int64_t rows = a->i[0], n = a->i[1];
    float nf = (float)n;
    for (int64_t r = 0; r < rows; r++) {
        float g = mean ? dout[r] / nf : dout[r];
        float *d = dinp + r * n;
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
        for (int64_t e = 0; e < n; e++) d[e] += g;
    }
    return EMIM_OK;
}

emim_status emim_cpu_sum_forward(emim_ctx *ctx, const emim_args *a) { return reduce_rows(ctx, a, 0); }
emim_status emim_cpu_sum_backward(emim_ctx *ctx, const emim_args *a) { return reduce_rows_backward(ctx, a, 0); }
emim_status emim_cpu_mean_forward(emim_ctx *ctx, const emim_args *a) { return reduce_rows(ctx, a, 1); }
emim_status emim_cpu_mean_backward(emim_ctx *ctx, const emim_args *a) { return reduce_rows_backward(ctx, a, 1); }
