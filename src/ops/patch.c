/* Public functions of patchify and unpatchify: argument checks, then
 * dispatch. The argument layout is written above them. */
#include "core/internal.h"

#include <stdio.h>

/* ---- patchify, unpatchify ----
 * i: 0 B, 1 C, 2 H, 3 W, 4 D, 5-7 P0, P1, P2.
 * patchify   forward t: 0 tok, 1 img;  backward t: 0 dimg, 1 dtok
 * unpatchify forward t: 0 img, 1 tok;  backward t: 0 dtok, 1 dimg */
static emim_status patch_call(emim_ctx *ctx, int op, int dir, emim_ref t0, emim_ref t1, int B, int C, int H, int W,
                              int D, const int *P)
{
    char what[48];
    snprintf(what, sizeof what, "%s%s", op == EMIM_OP_patchify ? "patchify" : "unpatchify", dir ? " backward" : "");
    if (B < 1 || C < 1)
        return emim_set_error(ctx, EMIM_ERR_ARG, "%s: B=%d C=%d must be >= 1", what, B, C);
    const int dims[3] = { H, W, D };
    const char *axis[3] = { "H", "W", "D" };
    for (int k = 0; k < 3; k++)
        if (P[k] < 1 || dims[k] < P[k] || dims[k] % P[k])
            return emim_set_error(ctx, EMIM_ERR_ARG, "%s: %s=%d is not a positive multiple of the patch size %d",
                                  what, axis[k], dims[k], P[k]);
    size_t n = (size_t)B * C * H * W * D;
    int tok_first = (op == EMIM_OP_patchify) == (dir == 0);
    EMIM_CHECK(emim_check_ref(ctx, what, tok_first ? (dir ? "dtok" : "tok") : (dir ? "dimg" : "img"), t0, n));
    EMIM_CHECK(emim_check_ref(ctx, what, tok_first ? (dir ? "dimg" : "img") : (dir ? "dtok" : "tok"), t1, n));
    emim_args a = { 0 };
    a.t[0] = t0; a.t[1] = t1;
    a.i[0] = B; a.i[1] = C; a.i[2] = H; a.i[3] = W; a.i[4] = D; a.i[5] = P[0]; a.i[6] = P[1]; a.i[7] = P[2];
    return emim_dispatch(ctx, op, dir, &a);
}

emim_status emim_patchify(emim_ctx *ctx, emim_ref tok, emim_ref img, int B, int C, int H, int W, int D, const int P[3])
{ return patch_call(ctx, EMIM_OP_patchify, 0, tok, img, B, C, H, W, D, P); }
emim_status emim_patchify_backward(emim_ctx *ctx, emim_ref dimg, emim_ref dtok, int B, int C, int H, int W, int D,
                                   const int P[3])
{ return patch_call(ctx, EMIM_OP_patchify, 1, dimg, dtok, B, C, H, W, D, P); }
emim_status emim_unpatchify(emim_ctx *ctx, emim_ref img, emim_ref tok, int B, int C, int H, int W, int D, const int P[3])
{ return patch_call(ctx, EMIM_OP_unpatchify, 0, img, tok, B, C, H, W, D, P); }
emim_status emim_unpatchify_backward(emim_ctx *ctx, emim_ref dtok, emim_ref dimg, int B, int C, int H, int W, int D,
                                     const int P[3])
{ return patch_call(ctx, EMIM_OP_unpatchify, 1, dtok, dimg, B, C, H, W, D, P); }
