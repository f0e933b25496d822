/* pbt: the Pyramid Barlow Twins term of one level (E-MIM, eq. 4-8), a
 * composite op written once from twinned ops (rownorm, gemm, barlow).
 *
 * z, zm [B, n, d]: the tokens of the image and of the masked image. Per
 * sample: a_i = z_i / |z_i|, am_j = zm_j / |zm_j| (|v| = sqrt(sum v^2 +
 * 1e-12)); C = A Am^T [n, n] (cosine similarities);
 * loss = sum_b [ sum_i (1 - C_ii)^2 + w sum_{i != j} C_ij^2 ].
 * The cache [B*n*d a | B*n*d am | B*n r | B*n rm | B*n*n C] keeps what the
 * backward needs (emim_pbt_cache_size floats).
 * Backward: G = dloss dL/dC; dA = G Am; dAm = G^T A; dz += rownorm'(dA),
 * dzm += rownorm'(dAm).
 *
 * i: 0 B, 1 n, 2 d; f: 0 w.  forward t: 0 loss [1], 1 z, 2 zm, 3 cache;
 * backward t: 0 dz, 1 dzm (each may be NULL), 2 cache, 3 dloss [1] */
#include "core/internal.h"

size_t emim_pbt_cache_size(int B, int n, int d)
{
    return 2 * (size_t)B * n * d + 2 * (size_t)B * n + (size_t)B * n * n;
}

typedef struct { emim_ref a, am, r, rm, C; } pbt_parts;

static pbt_parts parts(emim_ref cache, int B, int n, int d)
{
    size_t bnd = (size_t)B * n * d, bn = (size_t)B * n;
    pbt_parts p;
    p.a = cache;
    p.am = emim_at(cache.buf, cache.off + bnd);
    p.r = emim_at(cache.buf, cache.off + 2 * bnd);
    p.rm = emim_at(cache.buf, cache.off + 2 * bnd + bn);
    p.C = emim_at(cache.buf, cache.off + 2 * bnd + 2 * bn);
    return p;
}

emim_status emim_pbt_forward_composite(emim_ctx *ctx, const emim_args *a)
{
    int B = (int)a->i[0], n = (int)a->i[1], d = (int)a->i[2];
    pbt_parts p = parts(a->t[3], B, n, d);
    size_t nd = (size_t)n * d, nn = (size_t)n * n;
    emim_status s = emim_rownorm(ctx, p.a, p.r, a->t[1], B * n, d);
    if (!s) s = emim_rownorm(ctx, p.am, p.rm, a->t[2], B * n, d);
    if (!s) s = emim_gemm(ctx, 0, 1, n, n, d, 1.0f, p.a, d, nd, p.am, d, nd, 0.0f, p.C, n, nn, B);
    if (!s) s = emim_barlow(ctx, a->t[0], p.C, a->f[0], B, n);
    return s;
}

emim_status emim_pbt_backward_composite(emim_ctx *ctx, const emim_args *a)
{
    int B = (int)a->i[0], n = (int)a->i[1], d = (int)a->i[2];
    pbt_parts p = parts(a->t[2], B, n, d);
    size_t nd = (size_t)n * d, nn = (size_t)n * n;
    emim_ws_mark mark = emim_ws_mark_get(ctx);
    emim_ref G, dA;
    emim_status s = emim_ws_take(ctx, (size_t)B * nn, &G);
    if (!s) s = emim_ws_take(ctx, (size_t)B * nd, &dA);
    if (!s) s = emim_buf_zero(G.buf, G.off, (size_t)B * nn);
    if (!s) s = emim_barlow_backward(ctx, G, p.C, a->t[3], a->f[0], B, n);
    if (!s && a->t[0].buf) {
        /* dA = G Am; dz += rownorm'(dA) */
        s = emim_gemm(ctx, 0, 0, n, d, n, 1.0f, G, n, nn, p.am, d, nd, 0.0f, dA, d, nd, B);
        if (!s) s = emim_rownorm_backward(ctx, a->t[0], p.a, p.r, dA, B * n, d);
    }
    if (!s && a->t[1].buf) {
        /* dAm = G^T A; dzm += rownorm'(dAm) */
        s = emim_gemm(ctx, 1, 0, n, d, n, 1.0f, G, n, nn, p.a, d, nd, 0.0f, dA, d, nd, B);
        if (!s) s = emim_rownorm_backward(ctx, a->t[1], p.am, p.rm, dA, B * n, d);
    }
    emim_ws_release(ctx, mark);
    return s;
}

/* ---- pbt ----  i: 0 B, 1 n, 2 d; f: 0 w.  forward t: 0 loss, 1 z, 2 zm, 3 cache;
 * backward t: 0 dz, 1 dzm, 2 cache, 3 dloss */
emim_status emim_pbt(emim_ctx *ctx, emim_ref loss, emim_ref z, emim_ref zm, emim_ref cache, float w, int B, int n,
                     int d)
{
    EMIM_CHECK(emim_barlow_args(ctx, "pbt", w, B, n));
    if (d < 1) return emim_set_error(ctx, EMIM_ERR_ARG, "pbt: d=%d must be >= 1", d);
    EMIM_CHECK(emim_check_ref(ctx, "pbt", "loss", loss, 1));
    EMIM_CHECK(emim_check_ref(ctx, "pbt", "z", z, (size_t)B * n * d));
    EMIM_CHECK(emim_check_ref(ctx, "pbt", "zm", zm, (size_t)B * n * d));
    EMIM_CHECK(emim_check_ref(ctx, "pbt", "cache", cache, emim_pbt_cache_size(B, n, d)));
    emim_args a = { 0 };
    a.t[0] = loss; a.t[1] = z; a.t[2] = zm; a.t[3] = cache;
    a.i[0] = B; a.i[1] = n; a.i[2] = d; a.f[0] = w;
    return emim_dispatch(ctx, EMIM_OP_pbt, 0, &a);
}

emim_status emim_pbt_backward(emim_ctx *ctx, emim_ref dz, emim_ref dzm, emim_ref cache, emim_ref dloss, float w, int B,
                              int n, int d)
{
    EMIM_CHECK(emim_barlow_args(ctx, "pbt backward", w, B, n));
    if (d < 1) return emim_set_error(ctx, EMIM_ERR_ARG, "pbt backward: d=%d must be >= 1", d);
    EMIM_CHECK(emim_check_opt_ref(ctx, "pbt backward", "dz", dz, (size_t)B * n * d));
    EMIM_CHECK(emim_check_opt_ref(ctx, "pbt backward", "dzm", dzm, (size_t)B * n * d));
    EMIM_CHECK(emim_check_ref(ctx, "pbt backward", "cache", cache, emim_pbt_cache_size(B, n, d)));
    EMIM_CHECK(emim_check_ref(ctx, "pbt backward", "dloss", dloss, 1));
    if (!dz.buf && !dzm.buf) return EMIM_OK;
    emim_args a = { 0 };
    a.t[0] = dz; a.t[1] = dzm; a.t[2] = cache; a.t[3] = dloss;
    a.i[0] = B; a.i[1] = n; a.i[2] = d; a.f[0] = w;
    return emim_dispatch(ctx, EMIM_OP_pbt, 1, &a);
}
