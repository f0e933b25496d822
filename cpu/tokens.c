/* CPU twins of the token ops: gather_rows, mask_mix, region_pool (OpenCL
 * twins: kernels-cl/tokens.{c,cl}). Copies and additions of single
 * elements, exact in both modes; mask_mix's dt runs in the fixed order of
 * emim_mask_mix_backward: per column, chunks of EMIM_REDUCE_CHUNK rows each
 * summed in order, then the chunk sums in order; region_pool's sums over
 * each region's tokens in ascending token order (below). */
#include "core/emim_math.h"
#include "core/internal.h"

#include <stdlib.h>

#define P(r) ((r).buf->host + (r).off)
#define PN(r) ((r).buf ? (r).buf->host + (r).off : NULL)
#define CH EMIM_REDUCE_CHUNK

/* ---- gather_rows ----  i: 0 B, 1 n_in, 2 n_out, 3 d.
 * forward t: 0 out [B, n_out, d], 1 inp [B, n_in, d], 2 idx [B, n_out];
 * backward t: 0 dinp [B, n_in, d], 1 idx [B, n_out], 2 dout [B, n_out, d] */

/* Every idx[b, j] a whole number in [0, n_in), distinct within sample b;
 * else EMIM_ERR_ARG naming the first bad one. */
static emim_status check_idx(emim_ctx *ctx, const char *op, const float *idx, int64_t B, int64_t n_in,
                             int64_t n_out)
{
    emim_ws_mark mark = emim_ws_mark_get(ctx);
    float *seen;   /* 1: row already named in this sample */
    EMIM_CHECK(emim_ws_host(ctx, (size_t)n_in, &seen));
    emim_status s = EMIM_OK;
    for (int64_t b = 0; b < B && !s; b++) {
        for (int64_t k = 0; k < n_in; k++) seen[k] = 0.0f;
        for (int64_t j = 0; j < n_out; j++) {
            float v = idx[b * n_out + j];
            if (!(v >= 0.0f && v < (float)n_in && v == emim_floor(v))) {
                s = emim_set_error(ctx, EMIM_ERR_ARG,
                                   "%s: idx[%lld, %lld] = %.9g is not a row index (a whole number in [0, %lld))", op,
                                   (long long)b, (long long)j, v, (long long)n_in);
                break;
            }
            int64_t r = (int64_t)v;
            if (seen[r] != 0.0f) {
                s = emim_set_error(ctx, EMIM_ERR_ARG,
                                   "%s: idx[%lld, %lld] = %lld names a row of sample %lld twice (indices must be "
                                   "distinct within a sample)", op, (long long)b, (long long)j, (long long)r,
                                   (long long)b);
                break;
            }
            seen[r] = 1.0f;
        }
    }
    emim_ws_release(ctx, mark);
    return s;
}

/* out[b, j, :] = inp[b, idx[b, j], :] */
EMIM_CPU_KERNEL
emim_status emim_cpu_gather_rows_forward(emim_ctx *ctx, const emim_args *a)
{
    float *out = P(a->t[0]);
    const float *inp = P(a->t[1]), *idx = P(a->t[2]);
    int64_t B = a->i[0], n_in = a->i[1], n_out = a->i[2], d = a->i[3];
    EMIM_CHECK(check_idx(ctx, "gather_rows", idx, B, n_in, n_out));
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t row = 0; row < B * n_out; row++) {
        int64_t b = row / n_out, r = (int64_t)idx[row];
        const float *src = inp + (b * n_in + r) * d;
        float *dst = out + row * d;
        for (int64_t c = 0; c < d; c++) dst[c] = src[c];
    }
    return EMIM_OK;
}

/* dinp[b, idx[b, j], :] += dout[b, j, :] (distinct indices: no two rows collide) */
EMIM_CPU_KERNEL
emim_status emim_cpu_gather_rows_backward(emim_ctx *ctx, const emim_args *a)
{
    float *dinp = P(a->t[0]);
    const float *idx = P(a->t[1]), *dout = P(a->t[2]);
    int64_t B = a->i[0], n_in = a->i[1], n_out = a->i[2], d = a->i[3];
    EMIM_CHECK(check_idx(ctx, "gather_rows backward", idx, B, n_in, n_out));
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t row = 0; row < B * n_out; row++) {
        int64_t b = row / n_out, r = (int64_t)idx[row];
        float *dst = dinp + (b * n_in + r) * d;
        const float *src = dout + row * d;
        for (int64_t c = 0; c < d; c++) dst[c] += src[c];
    }
    return EMIM_OK;
}

/* ---- mask_mix ----  i: 0 rows, 1 d.
 * forward t: 0 out [rows, d], 1 x [rows, d], 2 m [rows], 3 t [d];
 * backward t: 0 dx [rows, d] (may be NULL), 1 dt [d] (may be NULL), 2 m [rows], 3 dout [rows, d] */

/* out[r, :] = m[r] != 0 ? t : x[r, :] (out may be x) */
EMIM_CPU_KERNEL
emim_status emim_cpu_mask_mix_forward(emim_ctx *ctx, const emim_args *a)
{
    float *out = P(a->t[0]);
    const float *x = P(a->t[1]), *m = P(a->t[2]), *t = P(a->t[3]);
    int64_t rows = a->i[0], d = a->i[1];
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *src = m[r] != 0.0f ? t : x + r * d;
        for (int64_t c = 0; c < d; c++) out[r * d + c] = src[c];
    }
    return EMIM_OK;
}

/* dx[r, :] += dout[r, :] where m[r] == 0; dt[c] += sum over the masked rows
 * of dout[r, c]: part[ch, c] = the rows of chunk ch in order, then dt[c] +=
 * (the chunk sums in order) */
EMIM_CPU_KERNEL
emim_status emim_cpu_mask_mix_backward(emim_ctx *ctx, const emim_args *a)
{
    float *dx = PN(a->t[0]), *dt = PN(a->t[1]);
    const float *m = P(a->t[2]), *dout = P(a->t[3]);
    int64_t rows = a->i[0], d = a->i[1];
    if (dx) {
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            if (m[r] != 0.0f) continue;
            for (int64_t c = 0; c < d; c++) dx[r * d + c] += dout[r * d + c];
        }
    }
    if (dt) {
        int64_t nch = (rows + CH - 1) / CH;
        emim_ws_mark mark = emim_ws_mark_get(ctx);
        float *part;
        EMIM_CHECK(emim_ws_host(ctx, (size_t)(nch * d), &part));
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
        for (int64_t e = 0; e < nch * d; e++) {
            int64_t ch = e / d, c = e % d, lo = ch * CH, hi = lo + CH < rows ? lo + CH : rows;
            float s = 0.0f;
            for (int64_t r = lo; r < hi; r++)
                if (m[r] != 0.0f) s += dout[r * d + c];
            part[e] = s;
        }
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
        for (int64_t c = 0; c < d; c++) {
            float s = 0.0f;
            for (int64_t ch = 0; ch < nch; ch++) s += part[ch * d + c];
            dt[c] += s;
        }
        emim_ws_release(ctx, mark);
    }
    return EMIM_OK;
}

/* ---- region_pool ----  i: 0 B, 1 N, 2 R, 3 D.
 * forward t: 0 out [B, R, D], 1 x [B, N, D], 2 region [N];
 * backward t: 0 dx [B, N, D], 1 region [N], 2 dout [B, R, D].
 * out[b, r, c] = (sum over the tokens n of region r, in ascending n from
 * 0.0f, of x[b, n, c]) / count[r], 0 for a region without tokens; count[r]
 * counted in floats (exact: N <= 2^24). The CPU twin adds token n's row
 * into its region's row of out, n ascending (the same order per element),
 * blocks of RP_COLS columns in parallel. */
#define RP_COLS 64

/* Every region[n] a whole number in [-1, R); else EMIM_ERR_ARG naming the first bad one. */
static emim_status check_regions(emim_ctx *ctx, const char *op, const float *region, int64_t N, int64_t R)
{
    for (int64_t n = 0; n < N; n++) {
        float v = region[n];
        if (!(v >= -1.0f && v < (float)R && v == emim_floor(v)))
            return emim_set_error(ctx, EMIM_ERR_ARG,
                                  "%s: region[%lld] = %.9g is not a region (a whole number in [0, %lld), or -1 for "
                                  "none)", op, (long long)n, v, (long long)R);
    }
    return EMIM_OK;
}

/* cnt[r] = the number of tokens of region r, as a float */
static void region_counts(const float *region, int64_t N, int64_t R, float *cnt)
{
    for (int64_t r = 0; r < R; r++) cnt[r] = 0.0f;
    for (int64_t n = 0; n < N; n++)
        if (region[n] >= 0.0f) cnt[(int64_t)region[n]] += 1.0f;
}

EMIM_CPU_KERNEL
emim_status emim_cpu_region_pool_forward(emim_ctx *ctx, const emim_args *a)
{
    float *out = P(a->t[0]);
    const float *x = P(a->t[1]), *region = P(a->t[2]);
    int64_t B = a->i[0], N = a->i[1], R = a->i[2], D = a->i[3], nblk = (D + RP_COLS - 1) / RP_COLS;
    EMIM_CHECK(check_regions(ctx, "region_pool", region, N, R));
    emim_ws_mark mark = emim_ws_mark_get(ctx);
    float *cnt;
    EMIM_CHECK(emim_ws_host(ctx, (size_t)R, &cnt));
    region_counts(region, N, R, cnt);
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t task = 0; task < B * nblk; task++) {
        int64_t b = task / nblk, c0 = task % nblk * RP_COLS, nc = D - c0 < RP_COLS ? D - c0 : RP_COLS;
        float *ob = out + b * R * D + c0;
        for (int64_t r = 0; r < R; r++)
            for (int64_t k = 0; k < nc; k++) ob[r * D + k] = 0.0f;
        for (int64_t n = 0; n < N; n++) {
            if (region[n] < 0.0f) continue;
            float *o = ob + (int64_t)region[n] * D;
            const float *xn = x + (b * N + n) * D + c0;
            for (int64_t k = 0; k < nc; k++) o[k] += xn[k];
        }
        for (int64_t r = 0; r < R; r++)
            for (int64_t k = 0; k < nc; k++) ob[r * D + k] = emim_region_mean(ob[r * D + k], cnt[r]);
    }
    emim_ws_release(ctx, mark);
    return EMIM_OK;
}

/* dx[b, n, :] += dout[b, region[n], :] / count[region[n]] for the tokens of a region */
EMIM_CPU_KERNEL
emim_status emim_cpu_region_pool_backward(emim_ctx *ctx, const emim_args *a)
{
    float *dx = P(a->t[0]);
    const float *region = P(a->t[1]), *dout = P(a->t[2]);
    int64_t B = a->i[0], N = a->i[1], R = a->i[2], D = a->i[3];
    EMIM_CHECK(check_regions(ctx, "region_pool backward", region, N, R));
    emim_ws_mark mark = emim_ws_mark_get(ctx);
    float *cnt;
    EMIM_CHECK(emim_ws_host(ctx, (size_t)R, &cnt));
    region_counts(region, N, R, cnt);
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t row = 0; row < B * N; row++) {
        int64_t b = row / N, n = row % N;
        if (region[n] < 0.0f) continue;
        int64_t r = (int64_t)region[n];
        const float *g = dout + (b * R + r) * D;
        float k = cnt[r];
        for (int64_t c = 0; c < D; c++) dx[row * D + c] += emim_region_grad(g[c], k);
    }
    emim_ws_release(ctx, mark);
    return EMIM_OK;
}
