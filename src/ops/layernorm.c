/* Public functions of layernorm and batchnorm: argument checks, then dispatch to the
 * context's twin. The argument layout is written above them. */
#include "core/internal.h"

#include <math.h>

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

/* ---- batchnorm ----  the normalisation over the rows (the batch) of each
 * column, with batch statistics (BatchNorm1d in training).
 * i: 0 n, 1 d; f: 0 eps.  forward t: 0 out [n, d], 1 mean [d], 2 rstd [d],
 * 3 inp [n, d], 4 w [d], 5 b [d] (w and b both given, or both NULL: no affine);
 * backward t: 0 dinp [n, d], 1 dw [d], 2 db [d] (each may be NULL; dw and db
 * NULL without w), 3 dout [n, d], 4 inp, 5 w (NULL without affine), 6 mean, 7 rstd */
emim_status emim_batchnorm(emim_ctx *ctx, emim_ref out, emim_ref mean, emim_ref rstd, emim_ref inp, emim_ref w,
                           emim_ref b, int n, int d, float eps)
{
    const char *op = "batchnorm";
    if (n < 1 || d < 1) return emim_set_error(ctx, EMIM_ERR_ARG, "%s: n=%d d=%d must be >= 1", op, n, d);
    if (!(eps > 0) || !isfinite(eps)) return emim_set_error(ctx, EMIM_ERR_ARG, "%s: eps=%g must be > 0", op, eps);
    if (!w.buf != !b.buf)
        return emim_set_error(ctx, EMIM_ERR_ARG, "%s: w and b must both be given (affine) or both be NULL", op);
    size_t len = (size_t)n * d;
    EMIM_CHECK(emim_check_ref(ctx, op, "out", out, len));
    EMIM_CHECK(emim_check_ref(ctx, op, "mean", mean, (size_t)d));
    EMIM_CHECK(emim_check_ref(ctx, op, "rstd", rstd, (size_t)d));
    EMIM_CHECK(emim_check_ref(ctx, op, "inp", inp, len));
    EMIM_CHECK(emim_check_opt_ref(ctx, op, "w", w, (size_t)d));
    EMIM_CHECK(emim_check_opt_ref(ctx, op, "b", b, (size_t)d));
    emim_args a = { 0 };
    a.t[0] = out; a.t[1] = mean; a.t[2] = rstd; a.t[3] = inp; a.t[4] = w; a.t[5] = b;
    a.i[0] = n; a.i[1] = d; a.f[0] = eps;
    return emim_dispatch(ctx, EMIM_OP_batchnorm, 0, &a);
}

emim_status emim_batchnorm_backward(emim_ctx *ctx, emim_ref dinp, emim_ref dw, emim_ref db, emim_ref dout,
                                    emim_ref inp, emim_ref w, emim_ref mean, emim_ref rstd, int n, int d)
{
    const char *op = "batchnorm backward";
    if (n < 1 || d < 1) return emim_set_error(ctx, EMIM_ERR_ARG, "%s: n=%d d=%d must be >= 1", op, n, d);
    if (!w.buf && (dw.buf || db.buf))
        return emim_set_error(ctx, EMIM_ERR_ARG, "%s: dw and db need the affine weight w (NULL: no affine)", op);
    size_t len = (size_t)n * d;
    EMIM_CHECK(emim_check_opt_ref(ctx, op, "dinp", dinp, len));
    EMIM_CHECK(emim_check_opt_ref(ctx, op, "dw", dw, (size_t)d));
    EMIM_CHECK(emim_check_opt_ref(ctx, op, "db", db, (size_t)d));
    EMIM_CHECK(emim_check_ref(ctx, op, "dout", dout, len));
    EMIM_CHECK(emim_check_ref(ctx, op, "inp", inp, len));
    EMIM_CHECK(emim_check_opt_ref(ctx, op, "w", w, (size_t)d));
    EMIM_CHECK(emim_check_ref(ctx, op, "mean", mean, (size_t)d));
    EMIM_CHECK(emim_check_ref(ctx, op, "rstd", rstd, (size_t)d));
    if (dinp.buf && dinp.buf == dout.buf && dinp.off == dout.off)
        return emim_set_error(ctx, EMIM_ERR_ARG, "%s: dinp must not be dout (the gradient accumulates into dinp)", op);
    if (!dinp.buf && !dw.buf && !db.buf) return EMIM_OK;
    emim_args a = { 0 };
    a.t[0] = dinp; a.t[1] = dw; a.t[2] = db; a.t[3] = dout; a.t[4] = inp; a.t[5] = w; a.t[6] = mean; a.t[7] = rstd;
    a.i[0] = n; a.i[1] = d;
    return emim_dispatch(ctx, EMIM_OP_batchnorm, 1, &a);
}
