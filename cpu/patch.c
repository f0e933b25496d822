/* CPU twin of patchify / unpatchify (OpenCL twin: kernels-cl/patch.{c,cl}):
 * moves between an image [B, C, H, W, D] and tokens [B, N, C*P0*P1*P2] in MONAI's
 * order (emim_patch_voxel in src/core/emim_math.h). Exact in both modes.
 * mode 0: tok = img (gather)     1: img += tok (scatter-add)
 *      2: img = tok (scatter)    3: tok += img (gather-add)
 * Every voxel belongs to exactly one token element: no two elements collide. */
#include "core/emim_math.h"
#include "core/internal.h"

#define P(r) ((r).buf->host + (r).off)

/* The voxels of a token element run along D in rows of P2: one run is
 * tok[((b*N + t)*C + c)*P3 + (a*P1 + q)*P2 + (0..P2-1)] <->
 * img[(((b*C + c)*H + i0*P0 + a)*W + i1*P1 + q)*D + i2*P2 + (0..P2-1)]
 * (emim_patch_voxel's map, a run at a time); runs are split among threads
 * by token. */
EMIM_CPU_KERNEL
void emim_patch_move(float *tok, float *img, int mode, int64_t B, int64_t C, int64_t H, int64_t W, int64_t D,
                     int64_t P0, int64_t P1, int64_t P2, int threads)
{
    int64_t g0 = H / P0, g1 = W / P1, g2 = D / P2, N = g0 * g1 * g2, P3 = P0 * P1 * P2;
#pragma omp parallel for num_threads(threads) schedule(static) if (B * N * C * P3 > 65536)
    for (int64_t bt = 0; bt < B * N; bt++) {
        int64_t b = bt / N, t = bt % N, i0 = t / (g1 * g2), i1 = (t / g2) % g1, i2 = t % g2;
        for (int64_t c = 0; c < C; c++)
            for (int64_t a = 0; a < P0; a++)
                for (int64_t q = 0; q < P1; q++) {
                    float *x = tok + (bt * C + c) * P3 + (a * P1 + q) * P2;
                    float *v = img + (((b * C + c) * H + i0 * P0 + a) * W + i1 * P1 + q) * D + i2 * P2;
                    switch (mode) {
                    case 0: for (int64_t d = 0; d < P2; d++) x[d] = v[d]; break;
                    case 1: for (int64_t d = 0; d < P2; d++) v[d] += x[d]; break;
                    case 2: for (int64_t d = 0; d < P2; d++) v[d] = x[d]; break;
                    default: for (int64_t d = 0; d < P2; d++) x[d] += v[d]; break;
                    }
                }
    }
}

EMIM_CPU_KERNEL
static emim_status patch_move(emim_ctx *ctx, const emim_args *a, float *tok, float *img, int mode)
{
    emim_patch_move(tok, img, mode, a->i[0], a->i[1], a->i[2], a->i[3], a->i[4], a->i[5], a->i[6], a->i[7],
                    ctx->threads);
    return EMIM_OK;
}

/* i: 0 B, 1 C, 2 H, 3 W, 4 D, 5-7 P0, P1, P2.  patchify forward t: 0 tok, 1 img;
 * backward t: 0 dimg, 1 dtok */
EMIM_CPU_KERNEL
emim_status emim_cpu_patchify_forward(emim_ctx *ctx, const emim_args *a)
{ return patch_move(ctx, a, P(a->t[0]), P(a->t[1]), 0); }
EMIM_CPU_KERNEL
emim_status emim_cpu_patchify_backward(emim_ctx *ctx, const emim_args *a)
{ return patch_move(ctx, a, P(a->t[1]), P(a->t[0]), 1); }
/* unpatchify forward t: 0 img, 1 tok;  backward t: 0 dtok, 1 dimg */
EMIM_CPU_KERNEL
emim_status emim_cpu_unpatchify_forward(emim_ctx *ctx, const emim_args *a)
{ return patch_move(ctx, a, P(a->t[1]), P(a->t[0]), 2); }
EMIM_CPU_KERNEL
emim_status emim_cpu_unpatchify_backward(emim_ctx *ctx, const emim_args *a)
{ return patch_move(ctx, a, P(a->t[0]), P(a->t[1]), 3); }
