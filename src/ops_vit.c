/* Public functions of the ViT ops (layernorm, gelu): argument checks, then
 * dispatch to the context's twin. The argument layout is written above each. */
#include "internal.h"

#include <math.h>
#include <stdio.h>

/* ---- layernorm ----
 * i: 0 rows, 1 C; f: 0 eps.  forward t: 0 out, 1 mean, 2 rstd, 3 inp, 4 w, 5 b;
 * backward t: 0 dinp, 1 dw, 2 db, 3 dout, 4 inp, 5 w, 6 mean, 7 rstd */
emim_status emim_layernorm(emim_ctx *ctx, emim_ref out, emim_ref mean, emim_ref rstd, emim_ref inp, emim_ref w,
                           emim_ref b, int rows, int C, float eps)
{
    const char *op = "layernorm";
    if (rows < 1 || C < 1) return emim_set_error(ctx, EMIM_ERR_ARG, "%s: rows=%d C=%d must be >= 1", op, rows, C);
    if (!(eps > 0) || !isfinite(eps)) return emim_set_error(ctx, EMIM_ERR_ARG, "%s: eps=%g must be > 0", op, eps);
    size_t n = (size_t)rows * C;
    EMIM_CHECK(emim_check_ref(ctx, op, "out", out, n));
    EMIM_CHECK(emim_check_ref(ctx, op, "mean", mean, (size_t)rows));
    EMIM_CHECK(emim_check_ref(ctx, op, "rstd", rstd, (size_t)rows));
    EMIM_CHECK(emim_check_ref(ctx, op, "inp", inp, n));
    EMIM_CHECK(emim_check_ref(ctx, op, "w", w, (size_t)C));
    EMIM_CHECK(emim_check_ref(ctx, op, "b", b, (size_t)C));
    emim_args a = { 0 };
    a.t[0] = out; a.t[1] = mean; a.t[2] = rstd; a.t[3] = inp; a.t[4] = w; a.t[5] = b;
    a.i[0] = rows; a.i[1] = C; a.f[0] = eps;
    return emim_dispatch(ctx, EMIM_OP_layernorm, 0, &a);
}

emim_status emim_layernorm_backward(emim_ctx *ctx, emim_ref dinp, emim_ref dw, emim_ref db, emim_ref dout,
                                    emim_ref inp, emim_ref w, emim_ref mean, emim_ref rstd, int rows, int C)
{
    const char *op = "layernorm backward";
    if (rows < 1 || C < 1) return emim_set_error(ctx, EMIM_ERR_ARG, "%s: rows=%d C=%d must be >= 1", op, rows, C);
    size_t n = (size_t)rows * C;
    EMIM_CHECK(emim_check_opt_ref(ctx, op, "dinp", dinp, n));
    EMIM_CHECK(emim_check_opt_ref(ctx, op, "dw", dw, (size_t)C));
    EMIM_CHECK(emim_check_opt_ref(ctx, op, "db", db, (size_t)C));
    EMIM_CHECK(emim_check_ref(ctx, op, "dout", dout, n));
    EMIM_CHECK(emim_check_ref(ctx, op, "inp", inp, n));
    EMIM_CHECK(emim_check_ref(ctx, op, "w", w, (size_t)C));
    EMIM_CHECK(emim_check_ref(ctx, op, "mean", mean, (size_t)rows));
    EMIM_CHECK(emim_check_ref(ctx, op, "rstd", rstd, (size_t)rows));
    if (!dinp.buf && !dw.buf && !db.buf) return EMIM_OK;
    emim_args a = { 0 };
    a.t[0] = dinp; a.t[1] = dw; a.t[2] = db; a.t[3] = dout; a.t[4] = inp; a.t[5] = w; a.t[6] = mean; a.t[7] = rstd;
    a.i[0] = rows; a.i[1] = C;
    return emim_dispatch(ctx, EMIM_OP_layernorm, 1, &a);
}

/* ---- gelu ----
 * i: 0 n.  forward t: 0 out, 1 inp;  backward t: 0 dinp, 1 inp, 2 dout */
emim_status emim_gelu(emim_ctx *ctx, emim_ref out, emim_ref inp, size_t n)
{
    if (n == 0) return EMIM_OK;
    EMIM_CHECK(emim_check_ref(ctx, "gelu", "out", out, n));
    EMIM_CHECK(emim_check_ref(ctx, "gelu", "inp", inp, n));
    emim_args a = { 0 };
    a.t[0] = out; a.t[1] = inp; a.i[0] = (int64_t)n;
    return emim_dispatch(ctx, EMIM_OP_gelu, 0, &a);
}

emim_status emim_gelu_backward(emim_ctx *ctx, emim_ref dinp, emim_ref inp, emim_ref dout, size_t n)
{
    if (n == 0) return EMIM_OK;
    EMIM_CHECK(emim_check_ref(ctx, "gelu backward", "dinp", dinp, n));
    EMIM_CHECK(emim_check_ref(ctx, "gelu backward", "inp", inp, n));
    EMIM_CHECK(emim_check_ref(ctx, "gelu backward", "dout", dout, n));
    emim_args a = { 0 };
    a.t[0] = dinp; a.t[1] = inp; a.t[2] = dout; a.i[0] = (int64_t)n;
    return emim_dispatch(ctx, EMIM_OP_gelu, 1, &a);
}

/* ---- patchify, unpatchify ----
 * i: 0 B, 1 C, 2 H, 3 W, 4 D, 5-7 P0, P1, P2.
 * patchify   forward t: 0 tok, 1 img;  backward t: 0 dimg, 1 dtok
 * unpatchify forward t: 0 img, 1 tok;  backward t: 0 dtok, 1 dimg */
static emim_status patch_call(emim_ctx *ctx, int op, int dir, emim_ref t0, emim_ref t1, int B, int C, int H, int W,
                              int D, const int *P)
{
    char what[48];
    snprintf(what, sizeof what, "%s%s", op == EMIM_OP_patchify ? "patchify" : "unpatchify", dir ? " backward" : "");
    if (B < 1 || C < 1)
        return emim_set_error(ctx, EMIM_ERR_ARG, "%s: B=%d C=%d must be >= 1", what, B, C);
    const int dims[3] = { H, W, D };
    const char *axis[3] = { "H", "W", "D" };
    for (int k = 0; k < 3; k++)
        if (P[k] < 1 || dims[k] < P[k] || dims[k] % P[k])
            return emim_set_error(ctx, EMIM_ERR_ARG, "%s: %s=%d is not a positive multiple of the patch size %d",
                                  what, axis[k], dims[k], P[k]);
    size_t n = (size_t)B * C * H * W * D;
    int tok_first = (op == EMIM_OP_patchify) == (dir == 0);
    EMIM_CHECK(emim_check_ref(ctx, what, tok_first ? (dir ? "dtok" : "tok") : (dir ? "dimg" : "img"), t0, n));
    EMIM_CHECK(emim_check_ref(ctx, what, tok_first ? (dir ? "dimg" : "img") : (dir ? "dtok" : "tok"), t1, n));
    emim_args a = { 0 };
    a.t[0] = t0; a.t[1] = t1;
    a.i[0] = B; a.i[1] = C; a.i[2] = H; a.i[3] = W; a.i[4] = D; a.i[5] = P[0]; a.i[6] = P[1]; a.i[7] = P[2];
    return emim_dispatch(ctx, op, dir, &a);
}

emim_status emim_patchify(emim_ctx *ctx, emim_ref tok, emim_ref img, int B, int C, int H, int W, int D, const int P[3])
{ return patch_call(ctx, EMIM_OP_patchify, 0, tok, img, B, C, H, W, D, P); }
emim_status emim_patchify_backward(emim_ctx *ctx, emim_ref dimg, emim_ref dtok, int B, int C, int H, int W, int D,
                                   const int P[3])
{ return patch_call(ctx, EMIM_OP_patchify, 1, dimg, dtok, B, C, H, W, D, P); }
emim_status emim_unpatchify(emim_ctx *ctx, emim_ref img, emim_ref tok, int B, int C, int H, int W, int D, const int P[3])
{ return patch_call(ctx, EMIM_OP_unpatchify, 0, img, tok, B, C, H, W, D, P); }
emim_status emim_unpatchify_backward(emim_ctx *ctx, emim_ref dtok, emim_ref dimg, int B, int C, int H, int W, int D,
                                     const int P[3])
{ return patch_call(ctx, EMIM_OP_unpatchify, 1, dtok, dimg, B, C, H, W, D, P); }
