/* CPU twins of the loss ops: mse, l1, rownorm, barlow, cross_entropy (OpenCL
 * twins: kernels-cl/loss.{c,cl}). Every sum runs in a fixed order, the same
 * on both twins, built from the lane shape of src/core/emim_math.h ("Row
 * sums": lane j sums terms j, j+32, ... in order, then a fixed pairwise tree
 * over the 32 lanes), rowsum below:
 *   mse, l1, barlow (one long vector): chunks of EMIM_REDUCE_CHUNK terms,
 *     part[c] = rowsum(chunk c), total = rowsum(part[0 .. nch-1]) (as
 *     cpu/reduce.c); mse and l1 sum the mask the same way beside the terms;
 *   rownorm: per row, rowsum(x^2) forward and rowsum(a * da) backward;
 *   cross_entropy: per row, rowmax and rowsum (below), then the mean op's
 *     order over the rows' terms. */
#include "core/emim_math.h"
#include "core/internal.h"

#include <stdlib.h>

#define P(r) ((r).buf->host + (r).off)
#define PN(r) ((r).buf ? (r).buf->host + (r).off : NULL)
#define CH EMIM_REDUCE_CHUNK

/* Sum of the masked squared (l1: absolute) differences and of the mask, in
 * the fixed order (the chunk sums in ps[0 .. nch-1] and ps[nch .. 2nch-1]). */
EMIM_CPU_KERNEL
static emim_status mse_sums(emim_ctx *ctx, int l1, const float *p, const float *t, const float *m, int64_t n,
                            float *sq, float *cnt)
{
    int64_t nch = (n + CH - 1) / CH;
    emim_ws_mark mark = emim_ws_mark_get(ctx);
    float *ps;
    EMIM_CHECK(emim_ws_host(ctx, (size_t)nch * 2, &ps));
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t c = 0; c < nch; c++) {
        int64_t lo = c * CH, hi = lo + CH < n ? lo + CH : n;
        const float *pc = p + lo, *tc = t + lo, *mc = m ? m + lo : NULL;
        float qs[EMIM_ROW_LANES], qk[EMIM_ROW_LANES];
        emim_lanes_zero(qs);
        emim_lanes_zero(qk);
        EMIM_LANES(hi - lo, e, j, float me = mc ? mc[e] : 1.0f;
                   qs[j] += l1 ? emim_l1_term(pc[e], tc[e], me) : emim_mse_term(pc[e], tc[e], me); qk[j] += me;);
        ps[c] = emim_lanes_tree(qs);
        ps[nch + c] = emim_lanes_tree(qk);
    }
    *sq = emim_row_sum(ps, nch);
    *cnt = emim_row_sum(ps + nch, nch);
    emim_ws_release(ctx, mark);
    return EMIM_OK;
}

/* The forward of mse (l1 0) and l1 (l1 1).
 * i: 0 n; f: 0 (float)n.  t: 0 loss [1], 1 pred, 2 target, 3 mask (may be NULL) */
EMIM_CPU_KERNEL
static emim_status masked_loss_forward(emim_ctx *ctx, const emim_args *a, int l1)
{
    float sq, cnt;
    emim_status s = mse_sums(ctx, l1, P(a->t[1]), P(a->t[2]), PN(a->t[3]), a->i[0], &sq, &cnt);
    if (s) return s;
    if (!a->t[3].buf) cnt = a->f[0];
    P(a->t[0])[0] = cnt == 0.0f ? 0.0f : sq / cnt;
    return EMIM_OK;
}

/* The backward of mse (l1 0) and l1 (l1 1).
 * t: 0 dpred, 1 dtarget (each may be NULL), 2 pred, 3 target, 4 mask (may be NULL), 5 dloss [1] */
EMIM_CPU_KERNEL
static emim_status masked_loss_backward(emim_ctx *ctx, const emim_args *a, int l1)
{
    float *dp = PN(a->t[0]), *dt = PN(a->t[1]);
    const float *p = P(a->t[2]), *t = P(a->t[3]), *m = PN(a->t[4]);
    int64_t n = a->i[0];
    float sq, cnt = a->f[0];
    if (m) {
        emim_status s = mse_sums(ctx, l1, p, t, m, n, &sq, &cnt);
        if (s) return s;
    }
    float dl = P(a->t[5])[0], coef = l1 ? emim_l1_coef(dl, cnt) : emim_mse_coef(dl, cnt);
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t e = 0; e < n; e++) {
        float me = m ? m[e] : 1.0f;
        float g = l1 ? emim_l1_grad(coef, p[e], t[e], me) : emim_mse_grad(coef, p[e], t[e], me);
        if (dp) dp[e] += g;
        if (dt) dt[e] -= g;
    }
    return EMIM_OK;
}

emim_status emim_cpu_mse_forward(emim_ctx *ctx, const emim_args *a) { return masked_loss_forward(ctx, a, 0); }
emim_status emim_cpu_mse_backward(emim_ctx *ctx, const emim_args *a) { return masked_loss_backward(ctx, a, 0); }
/* l1: the same argument layout as mse */
emim_status emim_cpu_l1_forward(emim_ctx *ctx, const emim_args *a) { return masked_loss_forward(ctx, a, 1); }
emim_status emim_cpu_l1_backward(emim_ctx *ctx, const emim_args *a) { return masked_loss_backward(ctx, a, 1); }

/* i: 0 rows, 1 d.  forward t: 0 a [rows, d], 1 r [rows], 2 x [rows, d] */
EMIM_CPU_KERNEL
emim_status emim_cpu_rownorm_forward(emim_ctx *ctx, const emim_args *a)
{
    float *an = P(a->t[0]), *r = P(a->t[1]);
    const float *x = P(a->t[2]);
    int64_t rows = a->i[0], d = a->i[1];
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t i = 0; i < rows; i++) {
        float ri = emim_sqrt(emim_row_dot(x + i * d, x + i * d, d) + EMIM_ROWNORM_EPS);
        for (int64_t k = 0; k < d; k++) an[i * d + k] = x[i * d + k] / ri;
        r[i] = ri;
    }
    return EMIM_OK;
}

/* backward t: 0 dx (+=), 1 a, 2 r, 3 da */
EMIM_CPU_KERNEL
emim_status emim_cpu_rownorm_backward(emim_ctx *ctx, const emim_args *a)
{
    float *dx = P(a->t[0]);
    const float *an = P(a->t[1]), *r = P(a->t[2]), *da = P(a->t[3]);
    int64_t rows = a->i[0], d = a->i[1];
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t i = 0; i < rows; i++) {
        float dot = emim_row_dot(an + i * d, da + i * d, d);
        for (int64_t k = 0; k < d; k++) dx[i * d + k] += emim_rownorm_dx(da[i * d + k], an[i * d + k], dot, r[i]);
    }
    return EMIM_OK;
}

/* i: 0 B, 1 n; f: 0 w.  forward t: 0 loss [1], 1 C [B, n, n]:
 * loss = sum over b, i, j of (1 - C_ii)^2 or w C_ij^2, in the fixed order */
EMIM_CPU_KERNEL
emim_status emim_cpu_barlow_forward(emim_ctx *ctx, const emim_args *a)
{
    const float *C = P(a->t[1]);
    int64_t n = a->i[1], total = a->i[0] * n * n, nch = (total + CH - 1) / CH;
    float w = a->f[0];
    emim_ws_mark mark = emim_ws_mark_get(ctx);
    float *ps;
    EMIM_CHECK(emim_ws_host(ctx, (size_t)nch, &ps));
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t c = 0; c < nch; c++) {
        int64_t lo = c * CH, hi = lo + CH < total ? lo + CH : total;
        float q[EMIM_ROW_LANES];
        emim_lanes_zero(q);
        EMIM_LANES(hi - lo, i, j, int64_t e = lo + i; q[j] += emim_barlow_term(C[e], (e % (n * n)) / n == e % n, w););
        ps[c] = emim_lanes_tree(q);
    }
    float s = emim_row_sum(ps, nch);
    emim_ws_release(ctx, mark);
    P(a->t[0])[0] = s;
    return EMIM_OK;
}

/* backward t: 0 dC (+=), 1 C, 2 dloss [1] */
EMIM_CPU_KERNEL
emim_status emim_cpu_barlow_backward(emim_ctx *ctx, const emim_args *a)
{
    float *dC = P(a->t[0]);
    const float *C = P(a->t[1]);
    int64_t n = a->i[1], total = a->i[0] * n * n;
    float w = a->f[0], dl = P(a->t[2])[0];
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t e = 0; e < total; e++) dC[e] += emim_barlow_grad(dl, C[e], (e % (n * n)) / n == e % n, w);
    return EMIM_OK;
}

/* ---- cross_entropy ----  i: 0 n, 1 k; f: 0 s (1 / temperature).
 * forward t: 0 loss [1], 1 lse [n], 2 x [n, k], 3 target [n];
 * backward t: 0 dx [n, k] (+=), 1 x, 2 target, 3 lse, 4 dloss [1].
 * Per row, in the lane shape: m = rowmax(s x) (lanes from -inf), sum =
 * rowsum(exp(s x_j - m)) with our own exp, lse = m + log(sum) (our own log),
 * the row's term lse - s x_t into a scratch vector [n]; the loss is the mean
 * of the n terms in the order of the mean op (cpu/reduce.c: chunks of
 * EMIM_REDUCE_CHUNK, their sums summed; / n). The backward is elementwise:
 * dx += (exp(s x - lse) - [j == t]) (dloss s) / n. */

/* Every target a whole number in [0, k); else EMIM_ERR_ARG naming the first bad one. */
static emim_status check_targets(emim_ctx *ctx, const char *op, const float *tg, int64_t n, int64_t k)
{
    for (int64_t r = 0; r < n; r++) {
        float v = tg[r];
        if (!(v >= 0.0f && v < (float)k && v == emim_floor(v)))
            return emim_set_error(ctx, EMIM_ERR_ARG,
                                  "%s: target[%lld] = %.9g is not a column index (a whole number in [0, %lld))", op,
                                  (long long)r, v, (long long)k);
    }
    return EMIM_OK;
}

EMIM_CPU_KERNEL
emim_status emim_cpu_cross_entropy_forward(emim_ctx *ctx, const emim_args *a)
{
    float *lse = P(a->t[1]);
    const float *x = P(a->t[2]), *tg = P(a->t[3]);
    int64_t n = a->i[0], k = a->i[1];
    float s = a->f[0];
    EMIM_CHECK(check_targets(ctx, "cross_entropy", tg, n, k));
    emim_ws_mark mark = emim_ws_mark_get(ctx);
    emim_ref terms;
    EMIM_CHECK(emim_ws_take(ctx, (size_t)n, &terms));
    float *term = EMIM_HOST(terms);
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t r = 0; r < n; r++) {
        const float *xr = x + r * k;
        float q[EMIM_ROW_LANES];
        emim_lanes_fill(q, -EMIM_INFINITY);
        EMIM_LANES(k, e, l, float sx = s * xr[e]; q[l] = sx > q[l] ? sx : q[l];);
        float m = emim_lanes_tree_max(q);
        emim_lanes_zero(q);
        EMIM_LANES(k, e, l, float ev = emim_expf(s * xr[e] - m); q[l] += ev;);
        float L = emim_xent_lse(m, emim_lanes_tree(q));
        lse[r] = L;
        term[r] = emim_xent_term(L, s * xr[(int64_t)tg[r]]);
    }
    emim_args mean = { 0 };
    mean.t[0] = a->t[0];
    mean.t[1] = terms;
    mean.i[0] = 1;
    mean.i[1] = n;
    emim_status st = emim_cpu_mean_forward(ctx, &mean);
    emim_ws_release(ctx, mark);
    return st;
}

EMIM_CPU_KERNEL
emim_status emim_cpu_cross_entropy_backward(emim_ctx *ctx, const emim_args *a)
{
    float *dx = P(a->t[0]);
    const float *x = P(a->t[1]), *tg = P(a->t[2]), *lse = P(a->t[3]);
    int64_t n = a->i[0], k = a->i[1];
    float s = a->f[0];
    EMIM_CHECK(check_targets(ctx, "cross_entropy backward", tg, n, k));
    float coef = emim_xent_coef(P(a->t[4])[0], s, (float)n);
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t r = 0; r < n; r++) {
        int64_t t = (int64_t)tg[r];
        float L = lse[r];
        for (int64_t j = 0; j < k; j++) dx[r * k + j] += emim_xent_grad(s * x[r * k + j], L, j == t, coef);
    }
    return EMIM_OK;
}
