/* attention: the scaled dot-product attention of multi-head self-attention
 * (MONAI's ViT), a composite op written once from twinned ops (gemm,
 * softmax), so it runs on either backend through their twins.
 *
 * qkv [B, N, 3C]: columns 0..C-1 Q, C..2C-1 K, 2C..3C-1 V; head h uses
 * columns h*D..h*D+D-1 of each, D = C/H. Per sample b and head h:
 *   S = scale Q_h K_h^T,  P = softmax(S) (cached in p [B, H, N, N]),  Y_h = P V_h,
 * y [B, N, C] holds the heads side by side (before the output projection).
 * The heads of one sample are a strided batch of GEMMs (stride D).
 * Backward: dV_h += P^T dY_h; dP = dY_h V_h^T; dS = softmax backward;
 *           dQ_h += scale dS K_h; dK_h += scale dS^T Q_h.
 *
 * i: 0 B, 1 N, 2 C, 3 H; f: 0 scale.  forward t: 0 y, 1 p, 2 qkv;
 * backward t: 0 dqkv, 1 qkv, 2 p, 3 dy */
#include "core/internal.h"

#include <math.h>

static emim_ref at(emim_ref r, size_t off) { return emim_at(r.buf, r.off + off); }

emim_status emim_attention_forward_composite(emim_ctx *ctx, const emim_args *a)
{
    int B = (int)a->i[0], N = (int)a->i[1], C = (int)a->i[2], H = (int)a->i[3], D = C / H;
    float scale = a->f[0];
    size_t nn = (size_t)N * N;
    for (int b = 0; b < B; b++) {
        emim_ref qkv = at(a->t[2], (size_t)b * N * 3 * C), p = at(a->t[1], (size_t)b * H * nn);
        emim_ref y = at(a->t[0], (size_t)b * N * C);
        EMIM_CHECK(emim_gemm(ctx, 0, 1, N, N, D, scale, qkv, 3 * C, (size_t)D, at(qkv, (size_t)C), 3 * C, (size_t)D, 0.0f,
                        p, N, nn, H));
        EMIM_CHECK(emim_softmax(ctx, p, p, 1.0f, H * N, N));
        EMIM_CHECK(emim_gemm(ctx, 0, 0, N, D, N, 1.0f, p, N, nn, at(qkv, (size_t)2 * C), 3 * C, (size_t)D, 0.0f, y, C,
                        (size_t)D, H));
    }
    return EMIM_OK;
}

emim_status emim_attention_backward_composite(emim_ctx *ctx, const emim_args *a)
{
    int B = (int)a->i[0], N = (int)a->i[1], C = (int)a->i[2], H = (int)a->i[3], D = C / H;
    float scale = a->f[0];
    size_t nn = (size_t)N * N;
    emim_ws_mark mark = emim_ws_mark_get(ctx);
    emim_ref dP, dS;
    emim_status s = emim_ws_take(ctx, (size_t)H * nn, &dP);
    if (!s) s = emim_ws_take(ctx, (size_t)H * nn, &dS);
    for (int b = 0; b < B && !s; b++) {
        emim_ref qkv = at(a->t[1], (size_t)b * N * 3 * C), p = at(a->t[2], (size_t)b * H * nn);
        emim_ref dqkv = at(a->t[0], (size_t)b * N * 3 * C), dy = at(a->t[3], (size_t)b * N * C);
        /* dV_h += P^T dY_h */
        s = emim_gemm(ctx, 1, 0, N, D, N, 1.0f, p, N, nn, dy, C, (size_t)D, 1.0f, at(dqkv, (size_t)2 * C), 3 * C,
                      (size_t)D, H);
        /* dP = dY_h V_h^T */
        if (!s) s = emim_gemm(ctx, 0, 1, N, N, D, 1.0f, dy, C, (size_t)D, at(qkv, (size_t)2 * C), 3 * C, (size_t)D,
                              0.0f, dP, N, nn, H);
        if (!s) s = emim_buf_zero(dS.buf, dS.off, (size_t)H * nn);
        if (!s) s = emim_softmax_backward(ctx, dS, p, dP, 1.0f, H * N, N);
        /* dQ_h += scale dS K_h;  dK_h += scale dS^T Q_h */
        if (!s) s = emim_gemm(ctx, 0, 0, N, D, N, scale, dS, N, nn, at(qkv, (size_t)C), 3 * C, (size_t)D,
                              1.0f, dqkv, 3 * C, (size_t)D, H);
        if (!s) s = emim_gemm(ctx, 1, 0, N, D, N, scale, dS, N, nn, qkv, 3 * C, (size_t)D, 1.0f,
                              at(dqkv, (size_t)C), 3 * C, (size_t)D, H);
    }
    emim_ws_release(ctx, mark);
    return s;
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
