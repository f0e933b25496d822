/* Public functions of the reductions (sum, mean): argument checks, then
 * dispatch. The argument layout is written above them. */
#include "core/internal.h"

#include <stdio.h>

/* ---- sum, mean ----
 * i: 0 rows, 1 n.  forward t: 0 out, 1 inp;  backward t: 0 dinp, 1 dout */
static emim_status reduce_call(emim_ctx *ctx, int op, int dir, emim_ref t0, emim_ref t1, int rows, size_t n)
{
    const char *name = emim_ops[op].name;
    char what[64];
    snprintf(what, sizeof what, "%s%s", name, dir ? " backward" : "");
    if (rows < 1 || n < 1)
        return emim_set_error(ctx, EMIM_ERR_ARG, "%s: rows=%d n=%zu must be >= 1", what, rows, n);
    if (n > ((size_t)1 << 40))
        return emim_set_error(ctx, EMIM_ERR_ARG, "%s: n=%zu too large", what, n);
    size_t big = (size_t)rows * n;
    EMIM_CHECK(emim_check_ref(ctx, what, dir ? "dinp" : "out", t0, dir ? big : (size_t)rows));
    EMIM_CHECK(emim_check_ref(ctx, what, dir ? "dout" : "inp", t1, dir ? (size_t)rows : big));
    emim_args a = { 0 };
    a.t[0] = t0; a.t[1] = t1;
    a.i[0] = rows; a.i[1] = (int64_t)n;
    return emim_dispatch(ctx, op, dir, &a);
}

emim_status emim_sum(emim_ctx *ctx, emim_ref out, emim_ref inp, int rows, size_t n)
{ return reduce_call(ctx, EMIM_OP_sum, 0, out, inp, rows, n); }
emim_status emim_sum_backward(emim_ctx *ctx, emim_ref dinp, emim_ref dout, int rows, size_t n)
{ return reduce_call(ctx, EMIM_OP_sum, 1, dinp, dout, rows, n); }
emim_status emim_mean(emim_ctx *ctx, emim_ref out, emim_ref inp, int rows, size_t n)
{ return reduce_call(ctx, EMIM_OP_mean, 0, out, inp, rows, n); }
emim_status emim_mean_backward(emim_ctx *ctx, emim_ref dinp, emim_ref dout, int rows, size_t n)
{ return reduce_call(ctx, EMIM_OP_mean, 1, dinp, dout, rows, n); }
