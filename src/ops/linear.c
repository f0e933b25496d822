/* linear: a composite op, written once from twinned ops (gemm, bias_add), so
 * it runs on either backend through their twins; its twin test compares the
 * composite on both.
 *
 * forward:  out[N, O] = inp[N, I] W[O, I]^T + b[O]     (PyTorch's layout of W)
 * backward: dinp[N, I] += dout W;  dW[O, I] += dout^T inp;  db[O] += sum_n dout
 *
 * i: 0 N, 1 I, 2 O.  forward t: 0 out, 1 inp, 2 W, 3 b (may be NULL);
 * backward t: 0 dinp, 1 dW, 2 db (each may be NULL), 3 inp, 4 W, 5 dout */
#include "core/internal.h"

emim_status emim_linear_forward_composite(emim_ctx *ctx, const emim_args *a)
{
    int N = (int)a->i[0], I = (int)a->i[1], O = (int)a->i[2];
    emim_status s = emim_gemm(ctx, 0, 1, N, O, I, 1.0f, a->t[1], I, 0, a->t[2], I, 0, 0.0f, a->t[0], O, 0, 1);
    if (!s && a->t[3].buf) s = emim_bias_add(ctx, a->t[0], a->t[0], a->t[3], N, O);
    return s;
}

emim_status emim_linear_backward_composite(emim_ctx *ctx, const emim_args *a)
{
    int N = (int)a->i[0], I = (int)a->i[1], O = (int)a->i[2];
    emim_status s = EMIM_OK;
    if (a->t[0].buf || a->t[1].buf)
        s = emim_gemm_backward(ctx, 0, 1, N, O, I, 1.0f, a->t[0], a->t[3], I, 0, a->t[1], a->t[4], I, 0, a->t[5], O,
                               0, 1);
    if (!s && a->t[2].buf) s = emim_bias_add_backward(ctx, emim_at(NULL, 0), a->t[2], a->t[5], N, O);
    return s;
}

static emim_status dims(emim_ctx *ctx, const char *op, int N, int I, int O)
{
    if (N < 1 || I < 1 || O < 1)
        return emim_set_error(ctx, EMIM_ERR_ARG, "%s: N=%d in=%d out=%d must be >= 1", op, N, I, O);
    return EMIM_OK;
}

emim_status emim_linear(emim_ctx *ctx, emim_ref out, emim_ref inp, emim_ref W, emim_ref b, int N, int in, int outf)
{
    EMIM_CHECK(dims(ctx, "linear", N, in, outf));
    EMIM_CHECK(emim_check_ref(ctx, "linear", "out", out, (size_t)N * outf));
    EMIM_CHECK(emim_check_ref(ctx, "linear", "inp", inp, (size_t)N * in));
    EMIM_CHECK(emim_check_ref(ctx, "linear", "W", W, (size_t)outf * in));
    if (b.buf) EMIM_CHECK(emim_check_ref(ctx, "linear", "b", b, (size_t)outf));
    emim_args a = { 0 };
    a.t[0] = out; a.t[1] = inp; a.t[2] = W; a.t[3] = b;
    a.i[0] = N; a.i[1] = in; a.i[2] = outf;
    return emim_dispatch(ctx, EMIM_OP_linear, 0, &a);
}

emim_status emim_linear_backward(emim_ctx *ctx, emim_ref dinp, emim_ref dW, emim_ref db, emim_ref inp, emim_ref W,
                                 emim_ref dout, int N, int in, int outf)
{
    EMIM_CHECK(dims(ctx, "linear backward", N, in, outf));
    if (dinp.buf) EMIM_CHECK(emim_check_ref(ctx, "linear backward", "dinp", dinp, (size_t)N * in));
    if (dW.buf) EMIM_CHECK(emim_check_ref(ctx, "linear backward", "dW", dW, (size_t)outf * in));
    if (db.buf) EMIM_CHECK(emim_check_ref(ctx, "linear backward", "db", db, (size_t)outf));
    EMIM_CHECK(emim_check_ref(ctx, "linear backward", "inp", inp, (size_t)N * in));
    EMIM_CHECK(emim_check_ref(ctx, "linear backward", "W", W, (size_t)outf * in));
    EMIM_CHECK(emim_check_ref(ctx, "linear backward", "dout", dout, (size_t)N * outf));
    emim_args a = { 0 };
    a.t[0] = dinp; a.t[1] = dW; a.t[2] = db; a.t[3] = inp; a.t[4] = W; a.t[5] = dout;
    a.i[0] = N; a.i[1] = in; a.i[2] = outf;
    return emim_dispatch(ctx, EMIM_OP_linear, 1, &a);
}
