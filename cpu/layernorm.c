/* CPU twins of the normalisations layernorm and batchnorm (OpenCL twins:
 * kernels-cl/layernorm.{c,cl}; batchnorm's order of operations: below).
 * layernorm, per row of C values, in this order on both twins, every row
 * sum in the lane shape of src/core/emim_math.h ("Row sums": lane j sums
 * elements j, j+32, ... in order, then a fixed pairwise tree over the 32
 * lanes):
 *   mean = rowsum(x) / C
 *   var  = rowsum((x - mean)^2) / C
 *   rstd = 1 / sqrt(var + eps);  out = fma((x - mean) * rstd, w, b)
 * backward: dnorm = dout * w; dm = rowsum(dnorm) / C;
 *   dnm = rowsum(dnorm * norm) / C;
 *   dinp += ((dnorm - dm) - norm * dnm) * rstd
 *   dw[c] += sum over rows in order of dout * norm;  db[c] += sum of dout
 *   (column sums, one serial loop per column on both twins). */
#include "core/emim_math.h"
#include "core/internal.h"

#define P(r) ((r).buf->host + (r).off)
#define PN(r) ((r).buf ? (r).buf->host + (r).off : NULL)

/* t: 0 out [rows, C], 1 mean [rows], 2 rstd [rows], 3 inp [rows, C], 4 w [C], 5 b [C]; f0 eps */
EMIM_CPU_KERNEL
emim_status emim_cpu_layernorm_forward(emim_ctx *ctx, const emim_args *a)
{
    float *out = P(a->t[0]), *mean = P(a->t[1]), *rstd = P(a->t[2]);
    const float *inp = P(a->t[3]), *w = P(a->t[4]), *b = P(a->t[5]);
    int64_t rows = a->i[0], C = a->i[1];
    float eps = a->f[0], cf = (float)C;
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *x = inp + r * C;
        float p[EMIM_ROW_LANES];
        float m = emim_row_sum(x, C) / cf;
        emim_lanes_zero(p);
        EMIM_LANES(C, c, j, float d = x[c] - m; float dd = d * d; p[j] += dd;);
        float rs = emim_ln_rstd(emim_lanes_tree(p) / cf, eps);
        for (int64_t c = 0; c < C; c++) out[r * C + c] = emim_ln_out(x[c], m, rs, w[c], b[c]);
        mean[r] = m;
        rstd[r] = rs;
    }
    return EMIM_OK;
}

/* t: 0 dinp, 1 dw, 2 db (each may be NULL), 3 dout, 4 inp, 5 w, 6 mean, 7 rstd */
EMIM_CPU_KERNEL
emim_status emim_cpu_layernorm_backward(emim_ctx *ctx, const emim_args *a)
{
    float *dinp = PN(a->t[0]), *dw = PN(a->t[1]), *db = PN(a->t[2]);
    const float *dout = P(a->t[3]), *inp = P(a->t[4]), *w = P(a->t[5]), *mean = P(a->t[6]), *rstd = P(a->t[7]);
    int64_t rows = a->i[0], C = a->i[1];
    float cf = (float)C;
    if (dinp) {
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const float *x = inp + r * C, *g = dout + r * C;
            float m = mean[r], rs = rstd[r], pd[EMIM_ROW_LANES], pdn[EMIM_ROW_LANES];
            emim_lanes_zero(pd);
            emim_lanes_zero(pdn);
            EMIM_LANES(C, c, j, float dnorm = g[c] * w[c]; float dn = dnorm * emim_ln_norm(x[c], m, rs);
                       pd[j] += dnorm; pdn[j] += dn;);
            float dm = emim_lanes_tree(pd) / cf, dnm = emim_lanes_tree(pdn) / cf;
            for (int64_t c = 0; c < C; c++) {
                float dnorm = g[c] * w[c];
                dinp[r * C + c] += emim_ln_dinp(dnorm, emim_ln_norm(x[c], m, rs), dm, dnm, rs);
            }
        }
    }
    if (dw || db) {
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
        for (int64_t c = 0; c < C; c++) {
            float sw = 0.0f, sb = 0.0f;
            for (int64_t r = 0; r < rows; r++) {
                float g = dout[r * C + c];
                float gn = g * emim_ln_norm(inp[r * C + c], mean[r], rstd[r]);
                sw += gn;
                sb += g;
            }
            if (dw) dw[c] += sw;
            if (db) db[c] += sb;
        }
    }
    return EMIM_OK;
}

/* ---- batchnorm ----  the normalisation over the rows of each column (the
 * batch statistics of BatchNorm1d in training), with layernorm's
 * per-element formulas. Per column c of the n rows, each sum over the rows
 * in order r = 0, 1, ..., n-1 from 0.0f (on both twins):
 *   mean = sum(x) / n;  var = sum((x - mean)^2) / n;  rstd = 1 / sqrt(var + eps)
 *   out = fma((x - mean) * rstd, w, b), or (x - mean) * rstd without w, b
 * backward: dnorm = dout * w (dout without w); dm = sum(dnorm) / n;
 *   dnm = sum(dnorm * norm) / n; dinp += ((dnorm - dm) - norm * dnm) * rstd;
 *   dw += sum(dout * norm); db += sum(dout).
 * The CPU twin runs blocks of BN_COLS columns, row by row across the block
 * (the same order per column; the block vectorises). */
#define BN_COLS 64

/* i: 0 n, 1 d; f: 0 eps.  t: 0 out [n, d], 1 mean [d], 2 rstd [d], 3 inp [n, d], 4 w [d], 5 b [d] (w, b both NULL: no affine) */
EMIM_CPU_KERNEL
emim_status emim_cpu_batchnorm_forward(emim_ctx *ctx, const emim_args *a)
{
    float *out = P(a->t[0]), *mean = P(a->t[1]), *rstd = P(a->t[2]);
    const float *inp = P(a->t[3]), *w = PN(a->t[4]), *b = PN(a->t[5]);
    int64_t n = a->i[0], d = a->i[1], nblk = (d + BN_COLS - 1) / BN_COLS;
    float eps = a->f[0], nf = (float)n;
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t blk = 0; blk < nblk; blk++) {
        int64_t c0 = blk * BN_COLS, nc = d - c0 < BN_COLS ? d - c0 : BN_COLS;
        float m[BN_COLS], v[BN_COLS];
        for (int64_t k = 0; k < nc; k++) m[k] = v[k] = 0.0f;
        for (int64_t r = 0; r < n; r++) {
            const float *x = inp + r * d + c0;
            for (int64_t k = 0; k < nc; k++) m[k] += x[k];
        }
        for (int64_t k = 0; k < nc; k++) m[k] = m[k] / nf;
        for (int64_t r = 0; r < n; r++) {
            const float *x = inp + r * d + c0;
            for (int64_t k = 0; k < nc; k++) {
                float dv = x[k] - m[k];
                float dd = dv * dv;
                v[k] += dd;
            }
        }
        for (int64_t k = 0; k < nc; k++) {
            v[k] = emim_ln_rstd(v[k] / nf, eps);
            mean[c0 + k] = m[k];
            rstd[c0 + k] = v[k];
        }
        for (int64_t r = 0; r < n; r++) {
            const float *x = inp + r * d + c0;
            float *o = out + r * d + c0;
            if (w)
                for (int64_t k = 0; k < nc; k++) o[k] = emim_ln_out(x[k], m[k], v[k], w[c0 + k], b[c0 + k]);
            else
                for (int64_t k = 0; k < nc; k++) o[k] = emim_ln_norm(x[k], m[k], v[k]);
        }
    }
    return EMIM_OK;
}

/* t: 0 dinp, 1 dw, 2 db (each may be NULL; dw, db NULL without w), 3 dout, 4 inp, 5 w (may be NULL), 6 mean, 7 rstd */
EMIM_CPU_KERNEL
emim_status emim_cpu_batchnorm_backward(emim_ctx *ctx, const emim_args *a)
{
    float *dinp = PN(a->t[0]), *dw = PN(a->t[1]), *db = PN(a->t[2]);
    const float *dout = P(a->t[3]), *inp = P(a->t[4]), *w = PN(a->t[5]), *mean = P(a->t[6]), *rstd = P(a->t[7]);
    int64_t n = a->i[0], d = a->i[1], nblk = (d + BN_COLS - 1) / BN_COLS;
    float nf = (float)n;
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t blk = 0; blk < nblk; blk++) {
        int64_t c0 = blk * BN_COLS, nc = d - c0 < BN_COLS ? d - c0 : BN_COLS;
        const float *m = mean + c0, *rs = rstd + c0;
        float sd[BN_COLS], sdn[BN_COLS], sw[BN_COLS], sb[BN_COLS];
        for (int64_t k = 0; k < nc; k++) sd[k] = sdn[k] = sw[k] = sb[k] = 0.0f;
        for (int64_t r = 0; r < n; r++) {
            const float *x = inp + r * d + c0, *g = dout + r * d + c0;
            for (int64_t k = 0; k < nc; k++) {
                float norm = emim_ln_norm(x[k], m[k], rs[k]);
                float dnorm = w ? g[k] * w[c0 + k] : g[k];
                float dn = dnorm * norm, gn = g[k] * norm;
                sd[k] += dnorm;
                sdn[k] += dn;
                sw[k] += gn;
                sb[k] += g[k];
            }
        }
        if (dw)
            for (int64_t k = 0; k < nc; k++) dw[c0 + k] += sw[k];
        if (db)
            for (int64_t k = 0; k < nc; k++) db[c0 + k] += sb[k];
        if (!dinp) continue;
        for (int64_t k = 0; k < nc; k++) {
            sd[k] = sd[k] / nf;
            sdn[k] = sdn[k] / nf;
        }
        for (int64_t r = 0; r < n; r++) {
            const float *x = inp + r * d + c0, *g = dout + r * d + c0;
            float *dx = dinp + r * d + c0;
            for (int64_t k = 0; k < nc; k++) {
                float dnorm = w ? g[k] * w[c0 + k] : g[k];
                dx[k] += emim_ln_dinp(dnorm, emim_ln_norm(x[k], m[k], rs[k]), sd[k], sdn[k], rs[k]);
            }
        }
    }
    return EMIM_OK;
}
