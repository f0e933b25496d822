/* CPU twin of patchify / unpatchify (OpenCL twin: kernels-cl/patch.{c,cl}):
 * moves between an image [B, C, H, W, D] and tokens [B, N, C*P0*P1*P2] in MONAI's
 * order (emim_patch_voxel in src/core/emim_math.h). Exact in both modes.
 * mode 0: tok = img (gather)     1: img += tok (scatter-add)
 *      2: img = tok (scatter)    3: tok += img (gather-add)
 * Every voxel belongs to exactly one token element: no two elements collide. */
#include "core/emim_math.h"
#include "core/internal.h"

#define P(r) ((r).buf->host + (r).off)

static emim_status patch_move(emim_ctx *ctx, const emim_args *a, float *tok, float *img, int mode)
{
    emim_u64 B = (emim_u64)a->i[0], C = (emim_u64)a->i[1], H = (emim_u64)a->i[2], W = (emim_u64)a->i[3],
             D = (emim_u64)a->i[4], P0 = (emim_u64)a->i[5], P1 = (emim_u64)a->i[6], P2 = (emim_u64)a->i[7];
    int64_t total = (int64_t)(B * C * H * W * D);
#pragma omp parallel for num_threads(ctx->threads) schedule(static)
    for (int64_t e = 0; e < total; e++) {
        emim_u64 v = emim_patch_voxel((emim_u64)e, C, H, W, D, P0, P1, P2);
        switch (mode) {
        case 0: tok[e] = img[v]; break;
        case 1: img[v] += tok[e]; break;
        case 2: img[v] = tok[e]; break;
        default: tok[e] += img[v]; break;
        }
    }
    return EMIM_OK;
}

/* i: 0 B, 1 C, 2 H, 3 W, 4 D, 5-7 P0, P1, P2.  patchify forward t: 0 tok, 1 img;
 * backward t: 0 dimg, 1 dtok */
emim_status emim_cpu_patchify_forward(emim_ctx *ctx, const emim_args *a)
{ return patch_move(ctx, a, P(a->t[0]), P(a->t[1]), 0); }
emim_status emim_cpu_patchify_backward(emim_ctx *ctx, const emim_args *a)
{ return patch_move(ctx, a, P(a->t[1]), P(a->t[0]), 1); }
/* unpatchify forward t: 0 img, 1 tok;  backward t: 0 dtok, 1 dimg */
emim_status emim_cpu_unpatchify_forward(emim_ctx *ctx, const emim_args *a)
{ return patch_move(ctx, a, P(a->t[1]), P(a->t[0]), 2); }
emim_status emim_cpu_unpatchify_backward(emim_ctx *ctx, const emim_args *a)
{ return patch_move(ctx, a, P(a->t[0]), P(a->t[1]), 3); }
