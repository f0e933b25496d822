/* Public functions of the token ops (gather_rows, mask_mix, region_pool):
 * argument checks, then dispatch. The argument layout is written above each. */
#include "core/internal.h"

/* Floats hold every whole number up to 2^24 exactly: the largest n_in whose
 * row indices a float index tensor can name. */
#define EMIM_MAX_FLOAT_INDEX 16777216

/* ---- gather_rows ----  i: 0 B, 1 n_in, 2 n_out, 3 d.
 * forward t: 0 out [B, n_out, d], 1 inp [B, n_in, d], 2 idx [B, n_out];
 * backward t: 0 dinp [B, n_in, d], 1 idx [B, n_out], 2 dout [B, n_out, d] */
static emim_status gather_args(emim_ctx *ctx, const char *op, int B, int n_in, int n_out, int d)
{
    if (B < 1 || n_in < 1 || n_out < 1 || d < 1)
        return emim_set_error(ctx, EMIM_ERR_ARG, "%s: B=%d n_in=%d n_out=%d d=%d must be >= 1", op, B, n_in, n_out, d);
    if (n_out > n_in)
        return emim_set_error(ctx, EMIM_ERR_ARG, "%s: n_out=%d > n_in=%d: indices must be distinct within a sample",
                              op, n_out, n_in);
    if (n_in > EMIM_MAX_FLOAT_INDEX)
        return emim_set_error(ctx, EMIM_ERR_ARG, "%s: n_in=%d over 2^24: float indices cannot name every row", op,
                              n_in);
    return EMIM_OK;
}

emim_status emim_gather_rows(emim_ctx *ctx, emim_ref out, emim_ref inp, emim_ref idx, int B, int n_in, int n_out,
                             int d)
{
    const char *op = "gather_rows";
    EMIM_CHECK(gather_args(ctx, op, B, n_in, n_out, d));
    EMIM_CHECK(emim_check_ref(ctx, op, "out", out, (size_t)B * n_out * d));
    EMIM_CHECK(emim_check_ref(ctx, op, "inp", inp, (size_t)B * n_in * d));
    EMIM_CHECK(emim_check_ref(ctx, op, "idx", idx, (size_t)B * n_out));
    emim_args a = { 0 };
    a.t[0] = out; a.t[1] = inp; a.t[2] = idx;
    a.i[0] = B; a.i[1] = n_in; a.i[2] = n_out; a.i[3] = d;
    return emim_dispatch(ctx, EMIM_OP_gather_rows, 0, &a);
}

emim_status emim_gather_rows_backward(emim_ctx *ctx, emim_ref dinp, emim_ref idx, emim_ref dout, int B, int n_in,
                                      int n_out, int d)
{
    const char *op = "gather_rows backward";
    EMIM_CHECK(gather_args(ctx, op, B, n_in, n_out, d));
    EMIM_CHECK(emim_check_opt_ref(ctx, op, "dinp", dinp, (size_t)B * n_in * d));
    EMIM_CHECK(emim_check_ref(ctx, op, "idx", idx, (size_t)B * n_out));
    EMIM_CHECK(emim_check_ref(ctx, op, "dout", dout, (size_t)B * n_out * d));
    if (!dinp.buf) return EMIM_OK;
    emim_args a = { 0 };
    a.t[0] = dinp; a.t[1] = idx; a.t[2] = dout;
    a.i[0] = B; a.i[1] = n_in; a.i[2] = n_out; a.i[3] = d;
    return emim_dispatch(ctx, EMIM_OP_gather_rows, 1, &a);
}

/* ---- mask_mix ----  i: 0 rows, 1 d.
 * forward t: 0 out [rows, d], 1 x [rows, d], 2 m [rows], 3 t [d];
 * backward t: 0 dx [rows, d], 1 dt [d] (each may be NULL), 2 m [rows], 3 dout [rows, d] */
emim_status emim_mask_mix(emim_ctx *ctx, emim_ref out, emim_ref x, emim_ref m, emim_ref t, int rows, int d)
{
    const char *op = "mask_mix";
    if (rows < 1 || d < 1) return emim_set_error(ctx, EMIM_ERR_ARG, "%s: rows=%d d=%d must be >= 1", op, rows, d);
    EMIM_CHECK(emim_check_ref(ctx, op, "out", out, (size_t)rows * d));
    EMIM_CHECK(emim_check_ref(ctx, op, "x", x, (size_t)rows * d));
    EMIM_CHECK(emim_check_ref(ctx, op, "m", m, (size_t)rows));
    EMIM_CHECK(emim_check_ref(ctx, op, "t", t, (size_t)d));
    emim_args a = { 0 };
    a.t[0] = out; a.t[1] = x; a.t[2] = m; a.t[3] = t;
    a.i[0] = rows; a.i[1] = d;
    return emim_dispatch(ctx, EMIM_OP_mask_mix, 0, &a);
}

emim_status emim_mask_mix_backward(emim_ctx *ctx, emim_ref dx, emim_ref dt, emim_ref m, emim_ref dout, int rows, int d)
{
    const char *op = "mask_mix backward";
    if (rows < 1 || d < 1) return emim_set_error(ctx, EMIM_ERR_ARG, "%s: rows=%d d=%d must be >= 1", op, rows, d);
    EMIM_CHECK(emim_check_opt_ref(ctx, op, "dx", dx, (size_t)rows * d));
    EMIM_CHECK(emim_check_opt_ref(ctx, op, "dt", dt, (size_t)d));
    EMIM_CHECK(emim_check_ref(ctx, op, "m", m, (size_t)rows));
    EMIM_CHECK(emim_check_ref(ctx, op, "dout", dout, (size_t)rows * d));
    if (dx.buf && dx.buf == dout.buf && dx.off == dout.off)
        return emim_set_error(ctx, EMIM_ERR_ARG, "%s: dx must not be dout (the gradient accumulates into dx)", op);
    if (!dx.buf && !dt.buf) return EMIM_OK;
    emim_args a = { 0 };
    a.t[0] = dx; a.t[1] = dt; a.t[2] = m; a.t[3] = dout;
    a.i[0] = rows; a.i[1] = d;
    return emim_dispatch(ctx, EMIM_OP_mask_mix, 1, &a);
}

/* ---- region_pool ----  i: 0 B, 1 N, 2 R, 3 D.
 * forward t: 0 out [B, R, D], 1 x [B, N, D], 2 region [N];
 * backward t: 0 dx [B, N, D], 1 region [N], 2 dout [B, R, D] */
static emim_status region_args(emim_ctx *ctx, const char *op, int B, int N, int R, int D)
{
    if (B < 1 || N < 1 || R < 1 || D < 1)
        return emim_set_error(ctx, EMIM_ERR_ARG, "%s: B=%d N=%d R=%d D=%d must be >= 1", op, B, N, R, D);
    if (N > EMIM_MAX_FLOAT_INDEX || R > EMIM_MAX_FLOAT_INDEX)
        return emim_set_error(ctx, EMIM_ERR_ARG, "%s: N=%d or R=%d over 2^24: float regions and counts are not exact",
                              op, N, R);
    return EMIM_OK;
}

emim_status emim_region_pool(emim_ctx *ctx, emim_ref out, emim_ref x, emim_ref region, int B, int N, int R, int D)
{
    const char *op = "region_pool";
    EMIM_CHECK(region_args(ctx, op, B, N, R, D));
    EMIM_CHECK(emim_check_ref(ctx, op, "out", out, (size_t)B * R * D));
    EMIM_CHECK(emim_check_ref(ctx, op, "x", x, (size_t)B * N * D));
    EMIM_CHECK(emim_check_ref(ctx, op, "region", region, (size_t)N));
    emim_args a = { 0 };
    a.t[0] = out; a.t[1] = x; a.t[2] = region;
    a.i[0] = B; a.i[1] = N; a.i[2] = R; a.i[3] = D;
    return emim_dispatch(ctx, EMIM_OP_region_pool, 0, &a);
}

emim_status emim_region_pool_backward(emim_ctx *ctx, emim_ref dx, emim_ref region, emim_ref dout, int B, int N, int R,
                                      int D)
{
    const char *op = "region_pool backward";
    EMIM_CHECK(region_args(ctx, op, B, N, R, D));
    EMIM_CHECK(emim_check_opt_ref(ctx, op, "dx", dx, (size_t)B * N * D));
    EMIM_CHECK(emim_check_ref(ctx, op, "region", region, (size_t)N));
    EMIM_CHECK(emim_check_ref(ctx, op, "dout", dout, (size_t)B * R * D));
    if (!dx.buf) return EMIM_OK;
    emim_args a = { 0 };
    a.t[0] = dx; a.t[1] = region; a.t[2] = dout;
    a.i[0] = B; a.i[1] = N; a.i[2] = R; a.i[3] = D;
    return emim_dispatch(ctx, EMIM_OP_region_pool, 1, &a);
}
