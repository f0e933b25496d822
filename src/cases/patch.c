/* The twin-test cases of patchify and unpatchify, with their double-precision
 * references. */
#include "cases/cases.h"

#include <stdio.h>
#include <string.h>

/* patchify / unpatchify: i 0 B, 1 C, 2 H, 3 W, 4 D, 5-7 P0, P1, P2; tensor 0
 * the output, 1 the input (tokens or image). The reference is written from
 * MONAI's layout directly (nested loops over the patch grid), not from the
 * index map that the twins share. */
static void patch_ref(const emim_case *c, double *const *t, int to_tokens)
{
    int64_t B = c->fwd.i[0], C = c->fwd.i[1], H = c->fwd.i[2], W = c->fwd.i[3], D = c->fwd.i[4];
    int64_t P0 = c->fwd.i[5], P1 = c->fwd.i[6], P2 = c->fwd.i[7];
    int64_t g0 = H / P0, g1 = W / P1, g2 = D / P2, e = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t i0 = 0; i0 < g0; i0++)
            for (int64_t i1 = 0; i1 < g1; i1++)
                for (int64_t i2 = 0; i2 < g2; i2++)
                    for (int64_t ch = 0; ch < C; ch++)
                        for (int64_t a = 0; a < P0; a++)
                            for (int64_t q = 0; q < P1; q++)
                                for (int64_t d = 0; d < P2; d++, e++) {
                                    int64_t v = (((b * C + ch) * H + i0 * P0 + a) * W + i1 * P1 + q) * D + i2 * P2 + d;
                                    if (to_tokens) t[0][e] = t[1][v];
                                    else t[0][v] = t[1][e];
                                }
}
static void patchify_ref(const emim_case *c, double *const *t) { patch_ref(c, t, 1); }
static void unpatchify_ref(const emim_case *c, double *const *t) { patch_ref(c, t, 0); }

static int patch_case(int idx, emim_case *c, int to_tokens)
{
    /* odd channel counts (1, 2, 3) and anisotropic patches among them */
    static const int S[][8] = {
        /* B  C  H   W   D  P0  P1 P2 */
        { 1, 1, 2, 2, 2, 2, 2, 2 }, { 2, 4, 6, 2, 4, 2, 2, 2 }, { 1, 4, 9, 3, 6, 3, 3, 3 },
        { 1, 2, 16, 32, 16, 16, 16, 16 }, { 2, 3, 6, 8, 4, 3, 4, 2 }, { 1, 2, 12, 12, 4, 4, 4, 2 },
        { 1, 1, 5, 6, 7, 5, 2, 7 },
    };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    emim_case_init(c, 2);
    size_t n = (size_t)S[idx][0] * S[idx][1] * S[idx][2] * S[idx][3] * S[idx][4];
    c->len[0] = c->len[1] = n;
    c->role[0] = EMIM_T_OUT; c->role[1] = EMIM_T_IN;
    for (int k = 0; k < 8; k++) c->fwd.i[k] = c->bwd.i[k] = S[idx][k];
    c->nf = 2; c->fmap[0] = 0; c->fmap[1] = 1;
    c->nb = 2; c->bmap[0] = EMIM_GRAD(1); c->bmap[1] = EMIM_GRAD(0);
    c->ref = to_tokens ? patchify_ref : unpatchify_ref;
    c->ref_tol = 0;
    c->grad_tol = 1e-6;
    snprintf(c->label, sizeof c->label, "B=%d C=%d %dx%dx%d P=%dx%dx%d", S[idx][0], S[idx][1], S[idx][2],
             S[idx][3], S[idx][4], S[idx][5], S[idx][6], S[idx][7]);
    return 1;
}
int emim_cases_patchify(int idx, emim_case *c) { return patch_case(idx, c, 1); }
int emim_cases_unpatchify(int idx, emim_case *c) { return patch_case(idx, c, 0); }
