/* Public functions of gelu: argument checks, then dispatch. The argument
 * layout is written above them. */
#include "core/internal.h"

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
