/* Public functions of the attention ops (softmax, attention): argument
 * checks, then dispatch. */
#include "internal.h"

#include <math.h>

/* ---- softmax ----  i: 0 rows, 1 n; f: 0 scale.
 * forward t: 0 p, 1 x;  backward t: 0 dx, 1 p, 2 dp */
emim_status emim_softmax(emim_ctx *ctx, emim_ref p, emim_ref x, float scale, int rows, int n)
{
    if (rows < 1 || n < 1) return emim_set_error(ctx, EMIM_ERR_ARG, "softmax: rows=%d n=%d must be >= 1", rows, n);
    if (!isfinite(scale)) return emim_set_error(ctx, EMIM_ERR_ARG, "softmax: scale %g is not finite", scale);
    size_t len = (size_t)rows * n;
    EMIM_CHECK(emim_check_ref(ctx, "softmax", "p", p, len));
    EMIM_CHECK(emim_check_ref(ctx, "softmax", "x", x, len));
    emim_args a = { 0 };
    a.t[0] = p; a.t[1] = x; a.i[0] = rows; a.i[1] = n; a.f[0] = scale;
    return emim_dispatch(ctx, EMIM_OP_softmax, 0, &a);
}

emim_status emim_softmax_backward(emim_ctx *ctx, emim_ref dx, emim_ref p, emim_ref dp, float scale, int rows, int n)
{
    if (rows < 1 || n < 1)
        return emim_set_error(ctx, EMIM_ERR_ARG, "softmax backward: rows=%d n=%d must be >= 1", rows, n);
    size_t len = (size_t)rows * n;
    EMIM_CHECK(emim_check_ref(ctx, "softmax backward", "dx", dx, len));
    EMIM_CHECK(emim_check_ref(ctx, "softmax backward", "p", p, len));
    EMIM_CHECK(emim_check_ref(ctx, "softmax backward", "dp", dp, len));
    emim_args a = { 0 };
    a.t[0] = dx; a.t[1] = p; a.t[2] = dp; a.i[0] = rows; a.i[1] = n; a.f[0] = scale;
    return emim_dispatch(ctx, EMIM_OP_softmax, 1, &a);
}

/* ---- attention ----  i: 0 B, 1 N, 2 C, 3 H; f: 0 scale = 1/sqrt(C/H).
 * forward t: 0 y, 1 p, 2 qkv;  backward t: 0 dqkv, 1 qkv, 2 p, 3 dy */
static emim_status att_dims(emim_ctx *ctx, const char *op, int B, int N, int C, int H)
{
    if (B < 1 || N < 1 || C < 1 || H < 1 || C % H)
        return emim_set_error(ctx, EMIM_ERR_ARG, "%s: B=%d N=%d C=%d heads=%d: need positive sizes, C divisible by heads",
                              op, B, N, C, H);
    return EMIM_OK;
}

static float att_scale(int C, int H) { return (float)(1.0 / sqrt((double)(C / H))); }

emim_status emim_attention(emim_ctx *ctx, emim_ref y, emim_ref p, emim_ref qkv, int B, int N, int C, int H)
{
    EMIM_CHECK(att_dims(ctx, "attention", B, N, C, H));
    EMIM_CHECK(emim_check_ref(ctx, "attention", "y", y, (size_t)B * N * C));
    EMIM_CHECK(emim_check_ref(ctx, "attention", "p", p, (size_t)B * H * N * N));
    EMIM_CHECK(emim_check_ref(ctx, "attention", "qkv", qkv, (size_t)B * N * 3 * C));
    emim_args a = { 0 };
    a.t[0] = y; a.t[1] = p; a.t[2] = qkv;
    a.i[0] = B; a.i[1] = N; a.i[2] = C; a.i[3] = H; a.f[0] = att_scale(C, H);
    return emim_dispatch(ctx, EMIM_OP_attention, 0, &a);
}

emim_status emim_attention_backward(emim_ctx *ctx, emim_ref dqkv, emim_ref qkv, emim_ref p, emim_ref dy, int B, int N,
                                    int C, int H)
{
    EMIM_CHECK(att_dims(ctx, "attention backward", B, N, C, H));
    EMIM_CHECK(emim_check_ref(ctx, "attention backward", "dqkv", dqkv, (size_t)B * N * 3 * C));
    EMIM_CHECK(emim_check_ref(ctx, "attention backward", "qkv", qkv, (size_t)B * N * 3 * C));
    EMIM_CHECK(emim_check_ref(ctx, "attention backward", "p", p, (size_t)B * H * N * N));
    EMIM_CHECK(emim_check_ref(ctx, "attention backward", "dy", dy, (size_t)B * N * C));
    emim_args a = { 0 };
    a.t[0] = dqkv; a.t[1] = qkv; a.t[2] = p; a.t[3] = dy;
    a.i[0] = B; a.i[1] = N; a.i[2] = C; a.i[3] = H; a.f[0] = att_scale(C, H);
    return emim_dispatch(ctx, EMIM_OP_attention, 1, &a);
}
