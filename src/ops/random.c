/* Public function of rand: argument checks, then dispatch. The argument
 * layout is written above it. */
#include "core/internal.h"

#include <math.h>

/* ---- rand ----
 * i: 0 n, 1 kind; f: 0..3 p0..p3; u: 0 seed, 1 stream.  t: 0 out */
emim_status emim_rand(emim_ctx *ctx, emim_ref out, size_t n, emim_rand_kind kind,
                      uint64_t seed, uint64_t stream, float p0, float p1, float p2, float p3)
{
    if (n == 0) return EMIM_OK;
    if (n >= ((size_t)1 << 40))
        return emim_set_error(ctx, EMIM_ERR_ARG, "rand: n=%zu: at most 2^40 elements per stream", n);
    switch (kind) {
    case EMIM_RAND_UNIFORM:
        if (!(p0 < p1) || !isfinite(p1 - p0))
            return emim_set_error(ctx, EMIM_ERR_ARG, "rand uniform: need finite lo < hi (got %g, %g)", p0, p1);
        break;
    case EMIM_RAND_NORMAL:
        if (!(p1 >= 0) || !isfinite(p0) || !isfinite(p1))
            return emim_set_error(ctx, EMIM_ERR_ARG, "rand normal: need finite mean and std >= 0 (got %g, %g)", p0, p1);
        break;
    case EMIM_RAND_TRUNC_NORMAL: {
        if (!(p1 > 0) || !isfinite(p0) || !isfinite(p1) || !(p2 < p3))
            return emim_set_error(ctx, EMIM_ERR_ARG,
                                  "rand trunc_normal: need std > 0 and a < b (got mean %g std %g [%g, %g])", p0, p1, p2, p3);
        /* Rejection sampling with 32 candidates per element: the interval
         * must hold at least half of the mass, or the fallback (clamping)
         * would be seen. */
        double za = ((double)p2 - p0) / p1, zb = ((double)p3 - p0) / p1;
        double mass = 0.5 * (erf(zb / sqrt(2.0)) - erf(za / sqrt(2.0)));
        if (mass < 0.5)
            return emim_set_error(ctx, EMIM_ERR_UNSUPPORTED,
                                  "rand trunc_normal: [%g, %g] holds %.3g of N(%g, %g^2); at least 0.5 is supported",
                                  p2, p3, mass, p0, p1);
        break;
    }
    default:
        return emim_set_error(ctx, EMIM_ERR_ARG, "rand: unknown distribution %d", (int)kind);
    }
    EMIM_CHECK(emim_check_ref(ctx, "rand", "out", out, n));
    emim_args a = { 0 };
    a.t[0] = out;
    a.i[0] = (int64_t)n; a.i[1] = kind;
    a.f[0] = p0; a.f[1] = p1; a.f[2] = p2; a.f[3] = p3;
    a.u[0] = seed; a.u[1] = stream;
    return emim_dispatch(ctx, EMIM_OP_rand, 0, &a);
}
