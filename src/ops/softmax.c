/* Public functions of softmax: argument checks, then dispatch. The argument
 * layout is written above them. */
#include "core/internal.h"

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
