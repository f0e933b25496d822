/* OpenCL twin of patchify / unpatchify, host side (device code
 * kernels-cl/patch.cl, CPU twin cpu/patch.c). */
#include "core/internal.h"

static emim_status patch_move(emim_ctx *ctx, const emim_args *a, int tslot, int islot, int mode)
{
    cl_mem tok = a->t[tslot].buf->mem, img = a->t[islot].buf->mem;
    cl_ulong to = a->t[tslot].off, io = a->t[islot].off;
    cl_ulong B = (cl_ulong)a->i[0], C = (cl_ulong)a->i[1], H = (cl_ulong)a->i[2], W = (cl_ulong)a->i[3],
             D = (cl_ulong)a->i[4], P0 = (cl_ulong)a->i[5], P1 = (cl_ulong)a->i[6],
             P2 = (cl_ulong)a->i[7], total = B * C * H * W * D;
    cl_int m = mode;
    size_t g = (size_t)total, l = 256;
    return emim_cl_run(ctx, "emim_patch_move", 1, &g, &l, 13, EMIM_ARG(tok), EMIM_ARG(to), EMIM_ARG(img),
                       EMIM_ARG(io), EMIM_ARG(total), EMIM_ARG(C), EMIM_ARG(H), EMIM_ARG(W), EMIM_ARG(D), EMIM_ARG(P0),
                       EMIM_ARG(P1), EMIM_ARG(P2), EMIM_ARG(m));
}

emim_status emim_cl_patchify_forward(emim_ctx *ctx, const emim_args *a) { return patch_move(ctx, a, 0, 1, 0); }
emim_status emim_cl_patchify_backward(emim_ctx *ctx, const emim_args *a) { return patch_move(ctx, a, 1, 0, 1); }
emim_status emim_cl_unpatchify_forward(emim_ctx *ctx, const emim_args *a) { return patch_move(ctx, a, 1, 0, 2); }
emim_status emim_cl_unpatchify_backward(emim_ctx *ctx, const emim_args *a) { return patch_move(ctx, a, 0, 1, 3); }
