/* zca: ZCA whitening by Newton's iteration (IterNorm, Huang et al. 2019; the
 * dimensional-collapse paper's eq. 5), a composite op written once from
 * twinned ops (gemm, bias_add, scale, add_diag, rsqrt), so it runs on either
 * backend and no scalar goes back to the host.
 *
 * x, y [n, d] (rows: the batch). Forward:
 *   mu = column means of x;  Xc = x - 1 mu^T;
 *   S = (1/n) Xc^T Xc + eps I;  tr = trace(S);  A = S / tr  (Sigma_N);
 *   P_0 = I,  P_{k+1} = 1.5 P_k - 0.5 P_k^3 A  (k < T);
 *   W = P_T / sqrt(tr);  y = Xc W.
 * P_k is computed by the coupled form of the same iteration (Newton-Schulz;
 * Higham, Functions of Matrices, 2008, eq. 6.35):
 *   Z_0 = I, Y_0 = A;  T_k = 1.5 I - 0.5 Z_k Y_k;  Y_{k+1} = Y_k T_k;  Z_{k+1} = T_k Z_k,
 * where Z_k = P_k and Y_k = P_k A in exact arithmetic (all are polynomials
 * in A, so they commute). The uncoupled form as written above amplifies
 * rounding errors once P_k nears A^(-1/2) and the condition number of S
 * exceeds about 2.4 (a factor 1 - (r + r^2)/2, r = sqrt(l_i/l_j), per step
 * on the (i, j) eigen-component): measured in float on d = 16, T = 10 with
 * eigenvalues spread by 100 is off by 16% and T = 20 with a spread of 10
 * gives garbage (double diverges too by T = 40), where the coupled form
 * stays within 1e-6 (2e-5 for a spread of 1e4). It costs the same GEMMs
 * (3 a step; 1 for k = 0, 2 for the last) and its backward fewer (6 a step
 * instead of 8).
 * The scalars stay on the device: tr is a GEMM dot of S's diagonal with
 * I's (leading dimension d + 1 walks a diagonal), r2 = 1/sqrt(tr) by rsqrt,
 * r1 = 1/tr = r2 r2, and "times a device scalar" is a GEMM with k = 1.
 * The cache (emim_zca_cache_size(d, T) floats) holds the d*d matrices
 *   A, W, Z_0 .. Z_T, T_0 .. T_{T-1}, Y_1 .. Y_{T-1},
 * then mu [d], tr, r2, r1.
 *
 * Backward (G = dy; every product a GEMM):
 *   dW = Xc^T G;  dXc = G W^T;  c = -1/2 <dW, W>  (the tr in W = P_T tr^-1/2);
 *   dZ_T = dW r2, dY_T = 0;  for k = T-1 .. 1, with dZ = dZ_{k+1}, dY = dY_{k+1}:
 *     dT_k = dZ Z_k^T + Y_k^T dY;
 *     dY_k = dY T_k^T - 1/2 Z_k^T dT_k;   dZ_k = T_k^T dZ - 1/2 dT_k Y_k^T;
 *   k = 0 (Z_0 = I, Y_0 = A): dT_0 = dZ_1 + A^T dY_1;  dA = dY_1 T_0^T - 1/2 dT_0;
 *   c += -<dA, A>;  dtr = c r1;  dS = dA r1 + dtr I;
 *   dXc += (1/n) Xc (dS + dS^T);  dx += dXc - 1 colmean(dXc)^T.
 * The transposes make this the exact reverse of the products as computed,
 * symmetric or not.
 *
 * i: 0 n, 1 d, 2 T; f: 0 eps.  forward t: 0 y, 1 x, 2 cache;
 * backward t: 0 dx, 1 x, 2 cache, 3 dy */
#include "core/internal.h"

#include <math.h>

static emim_ref at(emim_ref r, size_t off) { return emim_at(r.buf, r.off + off); }

/* d*d matrices in the cache: A, W, Z_0..Z_T, T_0..T_{T-1}, Y_1..Y_{T-1} */
static size_t zca_mats(int T) { return 3 + 2 * (size_t)T + (T > 1 ? (size_t)T - 1 : 0); }

size_t emim_zca_cache_size(int d, int T)
{
    return zca_mats(T) * (size_t)d * d + (size_t)d + 3;
}

typedef struct {
    emim_ref A, W, Z0, T0, Y1, mu, tr, r2, r1;
    size_t dd;
} zca_parts;

static zca_parts parts(emim_ref cache, int d, int T)
{
    size_t dd = (size_t)d * d, tail = zca_mats(T) * dd;
    zca_parts p;
    p.dd = dd;
    p.A = cache;
    p.W = at(cache, dd);
    p.Z0 = at(cache, 2 * dd);
    p.T0 = at(cache, (3 + (size_t)T) * dd);
    p.Y1 = at(cache, (3 + 2 * (size_t)T) * dd);
    p.mu = at(cache, tail);
    p.tr = at(cache, tail + (size_t)d);
    p.r2 = at(cache, tail + (size_t)d + 1);
    p.r1 = at(cache, tail + (size_t)d + 2);
    return p;
}

static emim_ref Zk(const zca_parts *p, int k) { return at(p->Z0, (size_t)k * p->dd); }
static emim_ref Tk(const zca_parts *p, int k) { return at(p->T0, (size_t)k * p->dd); }
/* Y_0 = A */
static emim_ref Yk(const zca_parts *p, int k) { return k == 0 ? p->A : at(p->Y1, (size_t)(k - 1) * p->dd); }

/* C = alpha op(X) op(Y) + beta C, all [d, d] */
static emim_status mm(emim_ctx *ctx, int tx, int ty, int d, float alpha, emim_ref X, emim_ref Y, float beta,
                      emim_ref C)
{
    return emim_gemm(ctx, tx, ty, d, d, d, alpha, X, d, 0, Y, d, 0, beta, C, d, 0, 1);
}

/* out = x s[0] + beta out over len elements (s a device scalar): a GEMM
 * [len, 1] x [1, 1] */
static emim_status times(emim_ctx *ctx, emim_ref out, emim_ref x, emim_ref s, size_t len, float beta)
{
    return emim_gemm(ctx, 0, 0, (int)len, 1, 1, 1.0f, x, 1, 0, s, 1, 0, beta, out, 1, 0, 1);
}

/* out[0] = alpha <x, y> + beta out[0] over len elements: a GEMM [1, len] x [len, 1] */
static emim_status dot(emim_ctx *ctx, emim_ref out, emim_ref x, emim_ref y, size_t len, float alpha, float beta)
{
    return emim_gemm(ctx, 0, 0, 1, 1, (int)len, alpha, x, (int)len, 0, y, 1, 0, beta, out, 1, 0, 1);
}

/* Xc = x - 1 mu^T, from the cached mu (negm: d floats of scratch) */
static emim_status center(emim_ctx *ctx, emim_ref Xc, emim_ref negm, emim_ref x, emim_ref mu, int n, int d)
{
    EMIM_CHECK(emim_scale(ctx, negm, mu, -1.0f, (size_t)d));
    return emim_bias_add(ctx, Xc, x, negm, n, d);
}

emim_status emim_zca_forward_composite(emim_ctx *ctx, const emim_args *a)
{
    int n = (int)a->i[0], d = (int)a->i[1], T = (int)a->i[2];
    float eps = a->f[0];
    size_t dd = (size_t)d * d, nd = (size_t)n * d;
    zca_parts p = parts(a->t[2], d, T);
    emim_ref y = a->t[0], x = a->t[1];
    emim_ws_mark mark = emim_ws_mark_get(ctx);
    emim_ref Xc, S, negm;
    emim_status s = emim_ws_take(ctx, nd, &Xc);
    if (!s) s = emim_ws_take(ctx, dd, &S);
    if (!s) s = emim_ws_take(ctx, (size_t)d, &negm);
    /* mu = (column sums) / n; Xc = x - mu */
    if (!s) s = emim_buf_zero(p.mu.buf, p.mu.off, (size_t)d);
    if (!s) s = emim_bias_add_backward(ctx, emim_at(NULL, 0), p.mu, x, n, d);
    if (!s) s = emim_scale(ctx, p.mu, p.mu, 1.0f / (float)n, (size_t)d);
    if (!s) s = center(ctx, Xc, negm, x, p.mu, n, d);
    /* S = (1/n) Xc^T Xc + eps I; Z_0 = I; tr = <diag S, diag I> */
    if (!s) s = emim_gemm(ctx, 1, 0, d, d, n, 1.0f / (float)n, Xc, d, 0, Xc, d, 0, 0.0f, S, d, 0, 1);
    if (!s) s = emim_add_diag(ctx, S, S, eps, d, d);
    if (!s) s = emim_buf_zero(p.Z0.buf, p.Z0.off, dd);
    if (!s) s = emim_add_diag(ctx, p.Z0, p.Z0, 1.0f, d, d);
    if (!s) s = emim_gemm(ctx, 1, 0, 1, 1, d, 1.0f, S, d + 1, 0, p.Z0, d + 1, 0, 0.0f, p.tr, 1, 0, 1);
    /* r2 = 1/sqrt(tr), r1 = r2 r2 = 1/tr, A = S r1 */
    if (!s) s = emim_rsqrt(ctx, p.r2, p.tr, 1);
    if (!s) s = times(ctx, p.r1, p.r2, p.r2, 1, 0.0f);
    if (!s) s = times(ctx, p.A, S, p.r1, dd, 0.0f);
    if (!s && T >= 1) {
        /* k = 0 (Z_0 = I, Y_0 = A): T_0 = 1.5 I - 0.5 A; Z_1 = T_0; Y_1 = A T_0 */
        s = emim_scale(ctx, Tk(&p, 0), p.A, -0.5f, dd);
        if (!s) s = emim_add_diag(ctx, Tk(&p, 0), Tk(&p, 0), 1.5f, d, d);
        if (!s) s = emim_scale(ctx, Zk(&p, 1), Tk(&p, 0), 1.0f, dd);
        if (!s && T > 1) s = mm(ctx, 0, 0, d, 1.0f, p.A, Tk(&p, 0), 0.0f, Yk(&p, 1));
    }
    for (int k = 1; k < T && !s; k++) {
        /* T_k = 1.5 I - 0.5 Z_k Y_k; Y_{k+1} = Y_k T_k (not the last); Z_{k+1} = T_k Z_k */
        s = mm(ctx, 0, 0, d, -0.5f, Zk(&p, k), Yk(&p, k), 0.0f, Tk(&p, k));
        if (!s) s = emim_add_diag(ctx, Tk(&p, k), Tk(&p, k), 1.5f, d, d);
        if (!s && k + 1 < T) s = mm(ctx, 0, 0, d, 1.0f, Yk(&p, k), Tk(&p, k), 0.0f, Yk(&p, k + 1));
        if (!s) s = mm(ctx, 0, 0, d, 1.0f, Tk(&p, k), Zk(&p, k), 0.0f, Zk(&p, k + 1));
    }
    /* W = Z_T r2; y = Xc W */
    if (!s) s = times(ctx, p.W, Zk(&p, T), p.r2, dd, 0.0f);
    if (!s) s = emim_gemm(ctx, 0, 0, n, d, d, 1.0f, Xc, d, 0, p.W, d, 0, 0.0f, y, d, 0, 1);
    emim_ws_release(ctx, mark);
    return s;
}

emim_status emim_zca_backward_composite(emim_ctx *ctx, const emim_args *a)
{
    int n = (int)a->i[0], d = (int)a->i[1], T = (int)a->i[2];
    size_t dd = (size_t)d * d, nd = (size_t)n * d;
    zca_parts p = parts(a->t[2], d, T);
    emim_ref dx = a->t[0], x = a->t[1], G = a->t[3];
    emim_ws_mark mark = emim_ws_mark_get(ctx);
    emim_ref Xc, dXc, negm, dW, dA, dZ, dZn, dY, dYn, dT, c, dtr;
    emim_status s = emim_ws_take(ctx, nd, &Xc);
    if (!s) s = emim_ws_take(ctx, nd, &dXc);
    if (!s) s = emim_ws_take(ctx, (size_t)d, &negm);
    if (!s) s = emim_ws_take(ctx, dd, &dW);
    if (!s) s = emim_ws_take(ctx, dd, &dA);
    if (!s) s = emim_ws_take(ctx, dd, &dZ);
    if (!s) s = emim_ws_take(ctx, dd, &dZn);
    if (!s) s = emim_ws_take(ctx, dd, &dY);
    if (!s) s = emim_ws_take(ctx, dd, &dYn);
    if (!s) s = emim_ws_take(ctx, dd, &dT);
    if (!s) s = emim_ws_take(ctx, 1, &c);
    if (!s) s = emim_ws_take(ctx, 1, &dtr);
    if (!s) s = center(ctx, Xc, negm, x, p.mu, n, d);
    /* dW = Xc^T G; dXc = G W^T; c = -1/2 <dW, W> */
    if (!s) s = emim_gemm(ctx, 1, 0, d, d, n, 1.0f, Xc, d, 0, G, d, 0, 0.0f, dW, d, 0, 1);
    if (!s) s = emim_gemm(ctx, 0, 1, n, d, d, 1.0f, G, d, 0, p.W, d, 0, 0.0f, dXc, d, 0, 1);
    if (!s) s = dot(ctx, c, dW, p.W, dd, -0.5f, 0.0f);
    if (!s && T == 0) s = emim_buf_zero(dA.buf, dA.off, dd);
    if (!s && T >= 1) {
        /* dZ_T = dW r2; dY_T = 0 (Y_T is not formed) */
        int has_dY = 0;
        s = times(ctx, dZ, dW, p.r2, dd, 0.0f);
        for (int k = T - 1; k >= 1 && !s; k--) {
            emim_ref Z = Zk(&p, k), Y = Yk(&p, k), Tm = Tk(&p, k), t;
            /* dT_k = dZ Z_k^T + Y_k^T dY */
            s = mm(ctx, 0, 1, d, 1.0f, dZ, Z, 0.0f, dT);
            if (!s && has_dY) s = mm(ctx, 1, 0, d, 1.0f, Y, dY, 1.0f, dT);
            /* dY_k = dY T_k^T - 1/2 Z_k^T dT_k */
            if (!s) s = mm(ctx, 1, 0, d, -0.5f, Z, dT, 0.0f, dYn);
            if (!s && has_dY) s = mm(ctx, 0, 1, d, 1.0f, dY, Tm, 1.0f, dYn);
            /* dZ_k = T_k^T dZ - 1/2 dT_k Y_k^T */
            if (!s) s = mm(ctx, 1, 0, d, 1.0f, Tm, dZ, 0.0f, dZn);
            if (!s) s = mm(ctx, 0, 1, d, -0.5f, dT, Y, 1.0f, dZn);
            t = dZ; dZ = dZn; dZn = t;
            t = dY; dY = dYn; dYn = t;
            has_dY = 1;
        }
        /* k = 0: dT_0 = dZ_1 + A^T dY_1 (in dZ); dA = dY_1 T_0^T - 1/2 dT_0 */
        if (!s && has_dY) s = mm(ctx, 1, 0, d, 1.0f, p.A, dY, 1.0f, dZ);
        if (!s && has_dY) s = mm(ctx, 0, 1, d, 1.0f, dY, Tk(&p, 0), 0.0f, dA);
        if (!s && has_dY) s = emim_scale_backward(ctx, dA, dZ, -0.5f, dd);
        if (!s && !has_dY) s = emim_scale(ctx, dA, dZ, -0.5f, dd);
        /* c += -<dA, A> (the tr in A = S / tr) */
        if (!s) s = dot(ctx, c, dA, p.A, dd, -1.0f, 1.0f);
    }
    /* dtr = c r1; dS = dA r1 (into dW), then dS_ii += dtr (I's diagonal as a [d, 1] column) */
    emim_ref dS = dW;
    if (!s) s = times(ctx, dtr, c, p.r1, 1, 0.0f);
    if (!s) s = times(ctx, dS, dA, p.r1, dd, 0.0f);
    if (!s) s = emim_gemm(ctx, 0, 0, d, 1, 1, 1.0f, p.Z0, d + 1, 0, dtr, 1, 0, 1.0f, dS, d + 1, 0, 1);
    /* dXc += (1/n) Xc dS + (1/n) Xc dS^T */
    if (!s) s = emim_gemm(ctx, 0, 0, n, d, d, 1.0f / (float)n, Xc, d, 0, dS, d, 0, 1.0f, dXc, d, 0, 1);
    if (!s) s = emim_gemm(ctx, 0, 1, n, d, d, 1.0f / (float)n, Xc, d, 0, dS, d, 0, 1.0f, dXc, d, 0, 1);
    /* the centering: dx += dXc - colmean(dXc) */
    if (!s) s = emim_buf_zero(negm.buf, negm.off, (size_t)d);
    if (!s) s = emim_bias_add_backward(ctx, dx, negm, dXc, n, d);
    if (!s) s = emim_scale(ctx, negm, negm, -1.0f / (float)n, (size_t)d);
    if (!s) s = emim_bias_add(ctx, dx, dx, negm, n, d);
    emim_ws_release(ctx, mark);
    return s;
}

/* ---- zca ----  i: 0 n, 1 d, 2 T; f: 0 eps.  forward t: 0 y, 1 x, 2 cache;
 * backward t: 0 dx, 1 x, 2 cache, 3 dy */
#define EMIM_ZCA_MAX_D 46340   /* d*d fits an int (the GEMM sizes) */
#define EMIM_ZCA_MAX_T 1000

static emim_status zca_dims(emim_ctx *ctx, const char *op, int n, int d, int T)
{
    if (n < 1 || d < 1 || d > EMIM_ZCA_MAX_D || T < 0 || T > EMIM_ZCA_MAX_T)
        return emim_set_error(ctx, EMIM_ERR_ARG, "%s: n=%d d=%d T=%d: need n >= 1, 1 <= d <= %d, 0 <= T <= %d", op, n,
                              d, T, EMIM_ZCA_MAX_D, EMIM_ZCA_MAX_T);
    return EMIM_OK;
}

emim_status emim_zca(emim_ctx *ctx, emim_ref y, emim_ref x, emim_ref cache, int n, int d, int T, float eps)
{
    EMIM_CHECK(zca_dims(ctx, "zca", n, d, T));
    if (!(eps >= 0.0f) || isinf(eps))
        return emim_set_error(ctx, EMIM_ERR_ARG, "zca: eps=%g must be finite and >= 0", (double)eps);
    EMIM_CHECK(emim_check_ref(ctx, "zca", "y", y, (size_t)n * d));
    EMIM_CHECK(emim_check_ref(ctx, "zca", "x", x, (size_t)n * d));
    EMIM_CHECK(emim_check_ref(ctx, "zca", "cache", cache, emim_zca_cache_size(d, T)));
    emim_args a = { 0 };
    a.t[0] = y; a.t[1] = x; a.t[2] = cache;
    a.i[0] = n; a.i[1] = d; a.i[2] = T; a.f[0] = eps;
    return emim_dispatch(ctx, EMIM_OP_zca, 0, &a);
}

emim_status emim_zca_backward(emim_ctx *ctx, emim_ref dx, emim_ref x, emim_ref cache, emim_ref dy, int n, int d, int T)
{
    EMIM_CHECK(zca_dims(ctx, "zca backward", n, d, T));
    EMIM_CHECK(emim_check_ref(ctx, "zca backward", "dx", dx, (size_t)n * d));
    EMIM_CHECK(emim_check_ref(ctx, "zca backward", "x", x, (size_t)n * d));
    EMIM_CHECK(emim_check_ref(ctx, "zca backward", "cache", cache, emim_zca_cache_size(d, T)));
    EMIM_CHECK(emim_check_ref(ctx, "zca backward", "dy", dy, (size_t)n * d));
    emim_args a = { 0 };
    a.t[0] = dx; a.t[1] = x; a.t[2] = cache; a.t[3] = dy;
    a.i[0] = n; a.i[1] = d; a.i[2] = T;
    return emim_dispatch(ctx, EMIM_OP_zca, 1, &a);
}

/* ---- running statistics and the evaluation forward (not in the op table:
 * short sequences of twinned ops) ---- */
emim_status emim_zca_running_init(emim_ctx *ctx, emim_ref mean, emim_ref W, int d)
{
    EMIM_CHECK(zca_dims(ctx, "zca running init", 1, d, 0));
    EMIM_CHECK(emim_check_ref(ctx, "zca running init", "mean", mean, (size_t)d));
    EMIM_CHECK(emim_check_ref(ctx, "zca running init", "W", W, (size_t)d * d));
    EMIM_CHECK(emim_buf_zero(mean.buf, mean.off, (size_t)d));
    EMIM_CHECK(emim_buf_zero(W.buf, W.off, (size_t)d * d));
    return emim_add_diag(ctx, W, W, 1.0f, d, d);
}

emim_status emim_zca_running_update(emim_ctx *ctx, emim_ref mean, emim_ref W, emim_ref cache, float momentum, int d,
                                    int T)
{
    EMIM_CHECK(zca_dims(ctx, "zca running update", 1, d, T));
    if (!(momentum >= 0.0f && momentum <= 1.0f))
        return emim_set_error(ctx, EMIM_ERR_ARG, "zca running update: momentum=%g must be in [0, 1]",
                              (double)momentum);
    EMIM_CHECK(emim_check_ref(ctx, "zca running update", "mean", mean, (size_t)d));
    EMIM_CHECK(emim_check_ref(ctx, "zca running update", "W", W, (size_t)d * d));
    EMIM_CHECK(emim_check_ref(ctx, "zca running update", "cache", cache, emim_zca_cache_size(d, T)));
    zca_parts p = parts(cache, d, T);
    size_t dd = (size_t)d * d;
    /* r = (1 - m) r + m v: the product (1 - m) r rounded, then + (m v rounded) */
    EMIM_CHECK(emim_scale(ctx, mean, mean, 1.0f - momentum, (size_t)d));
    EMIM_CHECK(emim_scale_backward(ctx, mean, p.mu, momentum, (size_t)d));
    EMIM_CHECK(emim_scale(ctx, W, W, 1.0f - momentum, dd));
    return emim_scale_backward(ctx, W, p.W, momentum, dd);
}

emim_status emim_zca_eval(emim_ctx *ctx, emim_ref y, emim_ref x, emim_ref mean, emim_ref W, int n, int d)
{
    EMIM_CHECK(zca_dims(ctx, "zca eval", n, d, 0));
    size_t nd = (size_t)n * d;
    EMIM_CHECK(emim_check_ref(ctx, "zca eval", "y", y, nd));
    EMIM_CHECK(emim_check_ref(ctx, "zca eval", "x", x, nd));
    EMIM_CHECK(emim_check_ref(ctx, "zca eval", "mean", mean, (size_t)d));
    EMIM_CHECK(emim_check_ref(ctx, "zca eval", "W", W, (size_t)d * d));
    emim_ws_mark mark = emim_ws_mark_get(ctx);
    emim_ref Xc, negm;
    emim_status s = emim_ws_take(ctx, nd, &Xc);
    if (!s) s = emim_ws_take(ctx, (size_t)d, &negm);
    if (!s) s = center(ctx, Xc, negm, x, mean, n, d);
    if (!s) s = emim_gemm(ctx, 0, 0, n, d, d, 1.0f, Xc, d, 0, W, d, 0, 0.0f, y, d, 0, 1);
    emim_ws_release(ctx, mark);
    return s;
}
