/* Public functions of the losses (mse, l1, rownorm, barlow, cross_entropy):
 * argument checks, then dispatch. The argument layout is written above each. */
#include "core/internal.h"

#include <math.h>

/* ---- mse and l1 ----  the same argument layout.  i: 0 n; f: 0 (float)n.
 * forward t: 0 loss, 1 pred, 2 target, 3 mask;
 * backward t: 0 dpred, 1 dtarget, 2 pred, 3 target, 4 mask, 5 dloss */
static emim_status elementwise_loss(emim_ctx *ctx, int op, const char *name, emim_ref loss, emim_ref pred,
                                    emim_ref target, emim_ref mask, size_t n)
{
    if (n == 0) return emim_set_error(ctx, EMIM_ERR_ARG, "%s: n must be >= 1", name);
    EMIM_CHECK(emim_check_ref(ctx, name, "loss", loss, 1));
    EMIM_CHECK(emim_check_ref(ctx, name, "pred", pred, n));
    EMIM_CHECK(emim_check_ref(ctx, name, "target", target, n));
    EMIM_CHECK(emim_check_opt_ref(ctx, name, "mask", mask, n));
    emim_args a = { 0 };
    a.t[0] = loss; a.t[1] = pred; a.t[2] = target; a.t[3] = mask;
    a.i[0] = (int64_t)n; a.f[0] = (float)n;
    return emim_dispatch(ctx, op, 0, &a);
}

static emim_status elementwise_loss_backward(emim_ctx *ctx, int op, const char *name, emim_ref dpred,
                                             emim_ref dtarget, emim_ref pred, emim_ref target, emim_ref mask,
                                             emim_ref dloss, size_t n)
{
    if (n == 0) return emim_set_error(ctx, EMIM_ERR_ARG, "%s: n must be >= 1", name);
    EMIM_CHECK(emim_check_opt_ref(ctx, name, "dpred", dpred, n));
    EMIM_CHECK(emim_check_opt_ref(ctx, name, "dtarget", dtarget, n));
    EMIM_CHECK(emim_check_ref(ctx, name, "pred", pred, n));
    EMIM_CHECK(emim_check_ref(ctx, name, "target", target, n));
    EMIM_CHECK(emim_check_opt_ref(ctx, name, "mask", mask, n));
    EMIM_CHECK(emim_check_ref(ctx, name, "dloss", dloss, 1));
    if (!dpred.buf && !dtarget.buf) return EMIM_OK;
    emim_args a = { 0 };
    a.t[0] = dpred; a.t[1] = dtarget; a.t[2] = pred; a.t[3] = target; a.t[4] = mask; a.t[5] = dloss;
    a.i[0] = (int64_t)n; a.f[0] = (float)n;
    return emim_dispatch(ctx, op, 1, &a);
}

emim_status emim_mse(emim_ctx *ctx, emim_ref loss, emim_ref pred, emim_ref target, emim_ref mask, size_t n)
{
    return elementwise_loss(ctx, EMIM_OP_mse, "mse", loss, pred, target, mask, n);
}

emim_status emim_mse_backward(emim_ctx *ctx, emim_ref dpred, emim_ref dtarget, emim_ref pred, emim_ref target,
                              emim_ref mask, emim_ref dloss, size_t n)
{
    return elementwise_loss_backward(ctx, EMIM_OP_mse, "mse backward", dpred, dtarget, pred, target, mask, dloss, n);
}

emim_status emim_l1(emim_ctx *ctx, emim_ref loss, emim_ref pred, emim_ref target, emim_ref mask, size_t n)
{
    return elementwise_loss(ctx, EMIM_OP_l1, "l1", loss, pred, target, mask, n);
}

emim_status emim_l1_backward(emim_ctx *ctx, emim_ref dpred, emim_ref dtarget, emim_ref pred, emim_ref target,
                             emim_ref mask, emim_ref dloss, size_t n)
{
    return elementwise_loss_backward(ctx, EMIM_OP_l1, "l1 backward", dpred, dtarget, pred, target, mask, dloss, n);
}

/* ---- rownorm ----  i: 0 rows, 1 d.  forward t: 0 a, 1 r, 2 x;  backward t: 0 dx, 1 a, 2 r, 3 da */
emim_status emim_rownorm(emim_ctx *ctx, emim_ref an, emim_ref r, emim_ref x, int rows, int d)
{
    if (rows < 1 || d < 1) return emim_set_error(ctx, EMIM_ERR_ARG, "rownorm: rows=%d d=%d must be >= 1", rows, d);
    EMIM_CHECK(emim_check_ref(ctx, "rownorm", "a", an, (size_t)rows * d));
    EMIM_CHECK(emim_check_ref(ctx, "rownorm", "r", r, (size_t)rows));
    EMIM_CHECK(emim_check_ref(ctx, "rownorm", "x", x, (size_t)rows * d));
    emim_args a = { 0 };
    a.t[0] = an; a.t[1] = r; a.t[2] = x; a.i[0] = rows; a.i[1] = d;
    return emim_dispatch(ctx, EMIM_OP_rownorm, 0, &a);
}

emim_status emim_rownorm_backward(emim_ctx *ctx, emim_ref dx, emim_ref an, emim_ref r, emim_ref da, int rows, int d)
{
    if (rows < 1 || d < 1)
        return emim_set_error(ctx, EMIM_ERR_ARG, "rownorm backward: rows=%d d=%d must be >= 1", rows, d);
    EMIM_CHECK(emim_check_ref(ctx, "rownorm backward", "dx", dx, (size_t)rows * d));
    EMIM_CHECK(emim_check_ref(ctx, "rownorm backward", "a", an, (size_t)rows * d));
    EMIM_CHECK(emim_check_ref(ctx, "rownorm backward", "r", r, (size_t)rows));
    EMIM_CHECK(emim_check_ref(ctx, "rownorm backward", "da", da, (size_t)rows * d));
    emim_args a = { 0 };
    a.t[0] = dx; a.t[1] = an; a.t[2] = r; a.t[3] = da; a.i[0] = rows; a.i[1] = d;
    return emim_dispatch(ctx, EMIM_OP_rownorm, 1, &a);
}

/* ---- barlow ----  i: 0 B, 1 n; f: 0 w.  forward t: 0 loss, 1 C;  backward t: 0 dC, 1 C, 2 dloss */
emim_status emim_barlow_args(emim_ctx *ctx, const char *op, float w, int B, int n)
{
    if (B < 1 || n < 1) return emim_set_error(ctx, EMIM_ERR_ARG, "%s: B=%d n=%d must be >= 1", op, B, n);
    if (!isfinite(w) || w < 0) return emim_set_error(ctx, EMIM_ERR_ARG, "%s: off-diagonal weight %g must be >= 0", op, w);
    return EMIM_OK;
}

emim_status emim_barlow(emim_ctx *ctx, emim_ref loss, emim_ref C, float w, int B, int n)
{
    EMIM_CHECK(emim_barlow_args(ctx, "barlow", w, B, n));
    EMIM_CHECK(emim_check_ref(ctx, "barlow", "loss", loss, 1));
    EMIM_CHECK(emim_check_ref(ctx, "barlow", "C", C, (size_t)B * n * n));
    emim_args a = { 0 };
    a.t[0] = loss; a.t[1] = C; a.i[0] = B; a.i[1] = n; a.f[0] = w;
    return emim_dispatch(ctx, EMIM_OP_barlow, 0, &a);
}

emim_status emim_barlow_backward(emim_ctx *ctx, emim_ref dC, emim_ref C, emim_ref dloss, float w, int B, int n)
{
    EMIM_CHECK(emim_barlow_args(ctx, "barlow backward", w, B, n));
    EMIM_CHECK(emim_check_ref(ctx, "barlow backward", "dC", dC, (size_t)B * n * n));
    EMIM_CHECK(emim_check_ref(ctx, "barlow backward", "C", C, (size_t)B * n * n));
    EMIM_CHECK(emim_check_ref(ctx, "barlow backward", "dloss", dloss, 1));
    emim_args a = { 0 };
    a.t[0] = dC; a.t[1] = C; a.t[2] = dloss; a.i[0] = B; a.i[1] = n; a.f[0] = w;
    return emim_dispatch(ctx, EMIM_OP_barlow, 1, &a);
}

/* ---- cross_entropy ----  i: 0 n, 1 k; f: 0 s = 1 / temperature (rounded
 * to float here, the same for both twins).
 * forward t: 0 loss [1], 1 lse [n], 2 x [n, k], 3 target [n];
 * backward t: 0 dx [n, k], 1 x, 2 target, 3 lse, 4 dloss [1] */
static emim_status xent_args(emim_ctx *ctx, const char *op, float temperature, int n, int k, float *s)
{
    if (n < 1 || k < 1) return emim_set_error(ctx, EMIM_ERR_ARG, "%s: n=%d k=%d must be >= 1", op, n, k);
    /* floats hold every whole number up to 2^24: the largest k whose columns a float target can name */
    if (k > 16777216)
        return emim_set_error(ctx, EMIM_ERR_ARG, "%s: k=%d over 2^24: float targets cannot name every column", op, k);
    *s = 1.0f / temperature;
    if (!(temperature > 0) || !isfinite(temperature) || !isfinite(*s))
        return emim_set_error(ctx, EMIM_ERR_ARG, "%s: temperature %g must be > 0 (and 1/temperature finite)", op,
                              temperature);
    return EMIM_OK;
}

emim_status emim_cross_entropy(emim_ctx *ctx, emim_ref loss, emim_ref lse, emim_ref x, emim_ref target,
                               float temperature, int n, int k)
{
    const char *op = "cross_entropy";
    float s;
    EMIM_CHECK(xent_args(ctx, op, temperature, n, k, &s));
    EMIM_CHECK(emim_check_ref(ctx, op, "loss", loss, 1));
    EMIM_CHECK(emim_check_ref(ctx, op, "lse", lse, (size_t)n));
    EMIM_CHECK(emim_check_ref(ctx, op, "x", x, (size_t)n * k));
    EMIM_CHECK(emim_check_ref(ctx, op, "target", target, (size_t)n));
    emim_args a = { 0 };
    a.t[0] = loss; a.t[1] = lse; a.t[2] = x; a.t[3] = target;
    a.i[0] = n; a.i[1] = k; a.f[0] = s;
    return emim_dispatch(ctx, EMIM_OP_cross_entropy, 0, &a);
}

emim_status emim_cross_entropy_backward(emim_ctx *ctx, emim_ref dx, emim_ref x, emim_ref target, emim_ref lse,
                                        emim_ref dloss, float temperature, int n, int k)
{
    const char *op = "cross_entropy backward";
    float s;
    EMIM_CHECK(xent_args(ctx, op, temperature, n, k, &s));
    EMIM_CHECK(emim_check_opt_ref(ctx, op, "dx", dx, (size_t)n * k));
    EMIM_CHECK(emim_check_ref(ctx, op, "x", x, (size_t)n * k));
    EMIM_CHECK(emim_check_ref(ctx, op, "target", target, (size_t)n));
    EMIM_CHECK(emim_check_ref(ctx, op, "lse", lse, (size_t)n));
    EMIM_CHECK(emim_check_ref(ctx, op, "dloss", dloss, 1));
    if (!dx.buf) return EMIM_OK;
    emim_args a = { 0 };
    a.t[0] = dx; a.t[1] = x; a.t[2] = target; a.t[3] = lse; a.t[4] = dloss;
    a.i[0] = n; a.i[1] = k; a.f[0] = s;
    return emim_dispatch(ctx, EMIM_OP_cross_entropy, 1, &a);
}
