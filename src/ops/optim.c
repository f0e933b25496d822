/* Public functions of the optimiser ops (adamw, clip_grad_norm): argument
 * checks, then dispatch. The argument layout is written above each. */
#include "core/internal.h"

#include <math.h>

/* ---- adamw ----  i: 0 n; f: 0 lr, 1 beta1, 2 beta2, 3 eps, 4 decay = 1 - lr wd,
 * 5 bc1 = 1 - beta1^t, 6 bc2 = 1 - beta2^t (computed here in double, then
 * rounded, so both twins use the same floats).  t: 0 p, 1 m, 2 v, 3 g */
emim_status emim_adamw(emim_ctx *ctx, emim_ref p, emim_ref m, emim_ref v, emim_ref g, size_t n, float lr, float beta1,
                       float beta2, float eps, float weight_decay, int t)
{
    if (n == 0) return EMIM_OK;
    if (t < 1) return emim_set_error(ctx, EMIM_ERR_ARG, "adamw: step t=%d must be >= 1", t);
    if (!(lr >= 0) || !(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(eps > 0) || !(weight_decay >= 0))
        return emim_set_error(ctx, EMIM_ERR_ARG,
                              "adamw: need lr >= 0, 0 <= beta1, beta2 < 1, eps > 0, weight_decay >= 0 "
                              "(got %g %g %g %g %g)", lr, beta1, beta2, eps, weight_decay);
    EMIM_CHECK(emim_check_ref(ctx, "adamw", "p", p, n));
    EMIM_CHECK(emim_check_ref(ctx, "adamw", "m", m, n));
    EMIM_CHECK(emim_check_ref(ctx, "adamw", "v", v, n));
    EMIM_CHECK(emim_check_ref(ctx, "adamw", "g", g, n));
    emim_args a = { 0 };
    a.t[0] = p; a.t[1] = m; a.t[2] = v; a.t[3] = g;
    a.i[0] = (int64_t)n;
    a.f[0] = lr; a.f[1] = beta1; a.f[2] = beta2; a.f[3] = eps;
    a.f[4] = (float)(1.0 - (double)lr * weight_decay);
    a.f[5] = (float)(1.0 - pow(beta1, t));
    a.f[6] = (float)(1.0 - pow(beta2, t));
    return emim_dispatch(ctx, EMIM_OP_adamw, 0, &a);
}

/* ---- clip_grad_norm ----  i: 0 n; f: 0 max_norm.  t: 0 norm [1], 1 g */
emim_status emim_clip_grad_norm(emim_ctx *ctx, emim_ref norm, emim_ref g, size_t n, float max_norm)
{
    if (n == 0) return emim_set_error(ctx, EMIM_ERR_ARG, "clip_grad_norm: n must be >= 1");
    if (!(max_norm > 0) || !isfinite(max_norm))
        return emim_set_error(ctx, EMIM_ERR_ARG, "clip_grad_norm: max_norm %g must be positive", max_norm);
    EMIM_CHECK(emim_check_ref(ctx, "clip_grad_norm", "norm", norm, 1));
    EMIM_CHECK(emim_check_ref(ctx, "clip_grad_norm", "g", g, n));
    emim_args a = { 0 };
    a.t[0] = norm; a.t[1] = g; a.i[0] = (int64_t)n; a.f[0] = max_norm;
    return emim_dispatch(ctx, EMIM_OP_clip_grad_norm, 0, &a);
}
