/* Public functions of the elementwise ops (bias_add, add, scale, rsqrt,
 * add_diag): argument
 * checks, then dispatch. The argument layout is written above each. */
#include "core/internal.h"

/* ---- bias_add ----
 * i: 0 rows, 1 cols.  forward t: 0 out, 1 inp, 2 bias;  backward t: 0 dinp, 1 dbias, 2 dout */
emim_status emim_bias_add(emim_ctx *ctx, emim_ref out, emim_ref inp, emim_ref bias, int rows, int cols)
{
    if (rows < 1 || cols < 1)
        return emim_set_error(ctx, EMIM_ERR_ARG, "bias_add: rows=%d cols=%d must be >= 1", rows, cols);
    size_t n = (size_t)rows * (size_t)cols;
    EMIM_CHECK(emim_check_ref(ctx, "bias_add", "out", out, n));
    EMIM_CHECK(emim_check_ref(ctx, "bias_add", "inp", inp, n));
    EMIM_CHECK(emim_check_ref(ctx, "bias_add", "bias", bias, (size_t)cols));
    emim_args a = { 0 };
    a.t[0] = out; a.t[1] = inp; a.t[2] = bias;
    a.i[0] = rows; a.i[1] = cols;
    return emim_dispatch(ctx, EMIM_OP_bias_add, 0, &a);
}

emim_status emim_bias_add_backward(emim_ctx *ctx, emim_ref dinp, emim_ref dbias, emim_ref dout, int rows, int cols)
{
    if (rows < 1 || cols < 1)
        return emim_set_error(ctx, EMIM_ERR_ARG, "bias_add backward: rows=%d cols=%d must be >= 1", rows, cols);
    size_t n = (size_t)rows * (size_t)cols;
    EMIM_CHECK(emim_check_opt_ref(ctx, "bias_add backward", "dinp", dinp, n));
    EMIM_CHECK(emim_check_opt_ref(ctx, "bias_add backward", "dbias", dbias, (size_t)cols));
    EMIM_CHECK(emim_check_ref(ctx, "bias_add backward", "dout", dout, n));
    emim_args a = { 0 };
    a.t[0] = dinp; a.t[1] = dbias; a.t[2] = dout;
    a.i[0] = rows; a.i[1] = cols;
    return emim_dispatch(ctx, EMIM_OP_bias_add, 1, &a);
}

/* ---- add ----
 * i: 0 n.  forward t: 0 out, 1 a, 2 b;  backward t: 0 da, 1 db, 2 dout */
emim_status emim_add(emim_ctx *ctx, emim_ref out, emim_ref x, emim_ref y, size_t n)
{
    if (n == 0) return EMIM_OK;
    EMIM_CHECK(emim_check_ref(ctx, "add", "out", out, n));
    EMIM_CHECK(emim_check_ref(ctx, "add", "a", x, n));
    EMIM_CHECK(emim_check_ref(ctx, "add", "b", y, n));
    emim_args a = { 0 };
    a.t[0] = out; a.t[1] = x; a.t[2] = y;
    a.i[0] = (int64_t)n;
    return emim_dispatch(ctx, EMIM_OP_add, 0, &a);
}

emim_status emim_add_backward(emim_ctx *ctx, emim_ref da, emim_ref db, emim_ref dout, size_t n)
{
    if (n == 0) return EMIM_OK;
    EMIM_CHECK(emim_check_opt_ref(ctx, "add backward", "da", da, n));
    EMIM_CHECK(emim_check_opt_ref(ctx, "add backward", "db", db, n));
    EMIM_CHECK(emim_check_ref(ctx, "add backward", "dout", dout, n));
    emim_args a = { 0 };
    a.t[0] = da; a.t[1] = db; a.t[2] = dout;
    a.i[0] = (int64_t)n;
    return emim_dispatch(ctx, EMIM_OP_add, 1, &a);
}

/* ---- scale ----
 * i: 0 n; f: 0 alpha.  forward t: 0 out, 1 a;  backward t: 0 da, 1 dout */
emim_status emim_scale(emim_ctx *ctx, emim_ref out, emim_ref x, float alpha, size_t n)
{
    if (n == 0) return EMIM_OK;
    EMIM_CHECK(emim_check_ref(ctx, "scale", "out", out, n));
    EMIM_CHECK(emim_check_ref(ctx, "scale", "a", x, n));
    emim_args a = { 0 };
    a.t[0] = out; a.t[1] = x;
    a.i[0] = (int64_t)n; a.f[0] = alpha;
    return emim_dispatch(ctx, EMIM_OP_scale, 0, &a);
}

emim_status emim_scale_backward(emim_ctx *ctx, emim_ref da, emim_ref dout, float alpha, size_t n)
{
    if (n == 0) return EMIM_OK;
    EMIM_CHECK(emim_check_ref(ctx, "scale backward", "da", da, n));
    EMIM_CHECK(emim_check_ref(ctx, "scale backward", "dout", dout, n));
    emim_args a = { 0 };
    a.t[0] = da; a.t[1] = dout;
    a.i[0] = (int64_t)n; a.f[0] = alpha;
    return emim_dispatch(ctx, EMIM_OP_scale, 1, &a);
}

/* ---- rsqrt ----
 * i: 0 n.  forward t: 0 out, 1 a;  backward t: 0 da, 1 a, 2 dout */
emim_status emim_rsqrt(emim_ctx *ctx, emim_ref out, emim_ref x, size_t n)
{
    if (n == 0) return EMIM_OK;
    EMIM_CHECK(emim_check_ref(ctx, "rsqrt", "out", out, n));
    EMIM_CHECK(emim_check_ref(ctx, "rsqrt", "a", x, n));
    emim_args a = { 0 };
    a.t[0] = out; a.t[1] = x;
    a.i[0] = (int64_t)n;
    return emim_dispatch(ctx, EMIM_OP_rsqrt, 0, &a);
}

emim_status emim_rsqrt_backward(emim_ctx *ctx, emim_ref da, emim_ref x, emim_ref dout, size_t n)
{
    if (n == 0) return EMIM_OK;
    EMIM_CHECK(emim_check_ref(ctx, "rsqrt backward", "da", da, n));
    EMIM_CHECK(emim_check_ref(ctx, "rsqrt backward", "a", x, n));
    EMIM_CHECK(emim_check_ref(ctx, "rsqrt backward", "dout", dout, n));
    emim_args a = { 0 };
    a.t[0] = da; a.t[1] = x; a.t[2] = dout;
    a.i[0] = (int64_t)n;
    return emim_dispatch(ctx, EMIM_OP_rsqrt, 1, &a);
}

/* ---- add_diag ----
 * i: 0 rows, 1 cols; f: 0 alpha.  forward t: 0 out, 1 a;  backward t: 0 da, 1 dout */
static emim_status add_diag_dims(emim_ctx *ctx, const char *op, int rows, int cols)
{
    if (rows < 1 || cols < 1)
        return emim_set_error(ctx, EMIM_ERR_ARG, "%s: rows=%d cols=%d must be >= 1", op, rows, cols);
    return EMIM_OK;
}

emim_status emim_add_diag(emim_ctx *ctx, emim_ref out, emim_ref x, float alpha, int rows, int cols)
{
    EMIM_CHECK(add_diag_dims(ctx, "add_diag", rows, cols));
    size_t n = (size_t)rows * (size_t)cols;
    EMIM_CHECK(emim_check_ref(ctx, "add_diag", "out", out, n));
    EMIM_CHECK(emim_check_ref(ctx, "add_diag", "a", x, n));
    if (out.buf == x.buf && out.off != x.off && (out.off < x.off ? x.off - out.off : out.off - x.off) < n)
        return emim_set_error(ctx, EMIM_ERR_ARG, "add_diag: out and a overlap without being the same tensor");
    emim_args a = { 0 };
    a.t[0] = out; a.t[1] = x;
    a.i[0] = rows; a.i[1] = cols; a.f[0] = alpha;
    return emim_dispatch(ctx, EMIM_OP_add_diag, 0, &a);
}

emim_status emim_add_diag_backward(emim_ctx *ctx, emim_ref da, emim_ref dout, int rows, int cols)
{
    EMIM_CHECK(add_diag_dims(ctx, "add_diag backward", rows, cols));
    size_t n = (size_t)rows * (size_t)cols;
    EMIM_CHECK(emim_check_ref(ctx, "add_diag backward", "da", da, n));
    EMIM_CHECK(emim_check_ref(ctx, "add_diag backward", "dout", dout, n));
    emim_args a = { 0 };
    a.t[0] = da; a.t[1] = dout;
    a.i[0] = rows; a.i[1] = cols;
    return emim_dispatch(ctx, EMIM_OP_add_diag, 1, &a);
}
