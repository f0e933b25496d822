/* OpenCL twin of patchify / unpatchify (CPU twin and the modes:
 * cpu/patch.c; the index map emim_patch_voxel in src/core/emim_math.h). */
#pragma OPENCL FP_CONTRACT OFF

kernel void emim_patch_move(global float *tok, ulong to, global float *img, ulong io, ulong total, ulong C,
                            ulong H, ulong W, ulong D, ulong P0, ulong P1, ulong P2, int mode)
{
    ulong e = get_global_id(0);
    if (e >= total) return;
    ulong v = io + emim_patch_voxel(e, C, H, W, D, P0, P1, P2);
    if (mode == 0) tok[to + e] = img[v];
    else if (mode == 1) img[v] += tok[to + e];
    else if (mode == 2) img[v] = tok[to + e];
    else tok[to + e] += img[v];
}
