/* Test cases of the token ops (gather_rows, mask_mix, region_pool), with
 * their double-precision references and the fills of their index, mask and
 * region tensors. */
#include "cases/cases.h"
#include "core/emim_math.h"

#include <stdio.h>
#include <stdlib.h>

/* ---------------------------------------------------------------- gather_rows */
/* t: 0 out [B, n_out, d], 1 inp [B, n_in, d], 2 idx [B, n_out] */
static void gather_rows_ref(const emim_case *c, double *const *t)
{
    int64_t B = c->fwd.i[0], n_in = c->fwd.i[1], n_out = c->fwd.i[2], d = c->fwd.i[3];
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < n_out; j++) {
            int64_t r = (int64_t)t[2][b * n_out + j];
            for (int64_t q = 0; q < d; q++) t[0][(b * n_out + j) * d + q] = t[1][(b * n_in + r) * d + q];
        }
}

/* idx: per sample, n_out distinct rows of [0, n_in) in random order (the
 * first n_out steps of a Fisher-Yates shuffle driven by Philox) */
static int gather_rows_fill(const emim_case *c, int j, float *t, uint64_t seed)
{
    if (j != 2) return 0;
    int64_t B = c->fwd.i[0], n_in = c->fwd.i[1], n_out = c->fwd.i[2];
    int64_t *perm = malloc((size_t)n_in * sizeof *perm);
    if (!perm) return -1;
    for (int64_t b = 0; b < B; b++) {
        for (int64_t k = 0; k < n_in; k++) perm[k] = k;
        for (int64_t k = 0; k < n_out; k++) {
            emim_philox_ctr r = emim_philox_at((uint64_t)(b * n_in + k), 0, seed, 0x67617468ull);
            int64_t pick = k + (int64_t)(r.v[0] % (uint32_t)(n_in - k)), v = perm[pick];
            perm[pick] = perm[k];
            perm[k] = v;
            t[b * n_out + k] = (float)v;
        }
    }
    free(perm);
    return 1;
}

int emim_cases_gather_rows(int idx, emim_case *c)
{
    static const struct { int B, n_in, n_out, d; } S[] = {
        { 1, 1, 1, 1 }, { 2, 7, 3, 5 }, { 3, 216, 54, 33 }, { 2, 64, 64, 17 }, { 1, 1000, 250, 3 }, { 2, 27, 20, 768 },
    };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    int B = S[idx].B, n_in = S[idx].n_in, n_out = S[idx].n_out, d = S[idx].d;
    emim_case_init(c, 3);
    c->len[0] = (size_t)B * n_out * d;
    c->len[1] = (size_t)B * n_in * d;
    c->len[2] = (size_t)B * n_out;
    c->role[0] = EMIM_T_OUT; c->role[1] = c->role[2] = EMIM_T_IN;
    c->fill = gather_rows_fill;
    c->fwd.i[0] = c->bwd.i[0] = B;
    c->fwd.i[1] = c->bwd.i[1] = n_in;
    c->fwd.i[2] = c->bwd.i[2] = n_out;
    c->fwd.i[3] = c->bwd.i[3] = d;
    c->nf = 3; c->fmap[0] = 0; c->fmap[1] = 1; c->fmap[2] = 2;
    c->nb = 3; c->bmap[0] = EMIM_GRAD(1); c->bmap[1] = 2; c->bmap[2] = EMIM_GRAD(0); /* idx: no gradient */
    c->ref = gather_rows_ref;
    c->ref_tol = 1e-7;
    c->grad_tol = 1e-6;
    snprintf(c->label, sizeof c->label, "B=%d n_in=%d n_out=%d d=%d%s", B, n_in, n_out, d,
             n_out == n_in && n_in > 1 ? " (a permutation)" : "");
    return 1;
}

/* ---------------------------------------------------------------- mask_mix */
/* Tensors through the forward map: out fmap[0], x fmap[1] (the same tensor
 * when in place), m fmap[2], t fmap[3]. */
static void mask_mix_ref(const emim_case *c, double *const *t)
{
    int64_t rows = c->fwd.i[0], d = c->fwd.i[1];
    double *out = t[c->fmap[0]];
    const double *x = t[c->fmap[1]], *m = t[c->fmap[2]], *tok = t[c->fmap[3]];
    for (int64_t r = 0; r < rows; r++)
        for (int64_t q = 0; q < d; q++) out[r * d + q] = m[r] != 0 ? tok[q] : x[r * d + q];
}

/* m: 1 with the probability the case's hi of tensor m gives (lo unused), else 0 */
static int mask_mix_fill(const emim_case *c, int j, float *t, uint64_t seed)
{
    if (j != c->fmap[2]) return 0;
    for (size_t r = 0; r < c->len[j]; r++) {
        emim_philox_ctr u = emim_philox_at(r, 0, seed, 0x6d61736bull);
        t[r] = emim_u01(u.v[0]) < c->hi[j] ? 1.0f : 0.0f;
    }
    return 1;
}

int emim_cases_mask_mix(int idx, emim_case *c)
{
    static const struct { int rows, d; float p; int skip, inplace; } S[] = {
        /* rows    d   P(masked)  skip: 1 no dx, 2 no dt;  in place (out = x) */
        {    1,    1,  1.0f,      0, 0 },
        {    7,   33,  0.5f,      0, 0 },
        {  432,   64,  0.75f,     0, 0 },
        {  600,    5,  0.6f,      1, 0 },
        {   17,  768,  0.0f,      0, 0 },
        {  300,   17,  0.5f,      2, 0 },
        {  513,    9,  0.4f,      0, 1 },
    };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    int rows = S[idx].rows, d = S[idx].d, inplace = S[idx].inplace;
    /* tensors: out (unless in place), x, m, t */
    int jo = 0, jx = inplace ? 0 : 1, jm = jx + 1, jt = jx + 2;
    emim_case_init(c, jt + 1);
    c->len[jo] = c->len[jx] = (size_t)rows * d;
    c->len[jm] = (size_t)rows;
    c->len[jt] = (size_t)d;
    c->role[jo] = EMIM_T_OUT;
    c->role[jx] = inplace ? EMIM_T_INOUT : EMIM_T_IN;
    c->role[jm] = c->role[jt] = EMIM_T_IN;
    c->lo[jm] = 0.0f; c->hi[jm] = S[idx].p;
    c->fill = mask_mix_fill;
    c->fwd.i[0] = c->bwd.i[0] = rows;
    c->fwd.i[1] = c->bwd.i[1] = d;
    c->nf = 4; c->fmap[0] = jo; c->fmap[1] = jx; c->fmap[2] = jm; c->fmap[3] = jt;
    /* in place, x's own gradient is not a separate buffer here: dt only */
    c->nb = 4;
    c->bmap[0] = S[idx].skip == 1 || inplace ? EMIM_NONE : EMIM_GRAD(jx);
    c->bmap[1] = S[idx].skip == 2 ? EMIM_NONE : EMIM_GRAD(jt);
    c->bmap[2] = jm; /* m: no gradient */
    c->bmap[3] = EMIM_GRAD(jo);
    c->ref = mask_mix_ref;
    c->ref_tol = 1e-7;
    c->grad_tol = 1e-5;
    snprintf(c->label, sizeof c->label, "rows=%d d=%d P(masked)=%g%s%s", rows, d, S[idx].p,
             inplace ? " in place (out = x, no dx)" : "",
             S[idx].skip == 1 ? " (no dx)" : S[idx].skip == 2 ? " (no dt)" : "");
    return 1;
}

/* ---------------------------------------------------------------- region_pool */
/* t: 0 out [B, R, D], 1 x [B, N, D], 2 region [N] */
static void region_pool_ref(const emim_case *c, double *const *t)
{
    int64_t B = c->fwd.i[0], N = c->fwd.i[1], R = c->fwd.i[2], D = c->fwd.i[3];
    for (int64_t b = 0; b < B; b++)
        for (int64_t r = 0; r < R; r++)
            for (int64_t q = 0; q < D; q++) {
                double s = 0, k = 0;
                for (int64_t n = 0; n < N; n++)
                    if (t[2][n] == (double)r) {
                        s += t[1][(b * N + n) * D + q];
                        k += 1;
                    }
                t[0][(b * R + r) * D + q] = k == 0 ? 0 : s / k;
            }
}

/* The side of a cube of n (0 when n is not a cube). */
static int64_t cube_side(int64_t n)
{
    int64_t g = 1;
    while (g * g * g < n) g++;
    return g * g * g == n ? g : 0;
}

/* region: by the case's hi of tensor region (lo unused): 0 uniform over -1 ..
 * R-1 (Philox); 1 the patch grid (N = g^3 tokens in patchify's order) cut
 * into R = q^3 blocks of (g/q)^3 tokens, the local InfoNCE regions; 2
 * uniform over -1 .. R-2 (region R-1 has no tokens) */
static int region_pool_fill(const emim_case *c, int j, float *t, uint64_t seed)
{
    if (j != 2) return 0;
    int64_t N = c->fwd.i[1], R = c->fwd.i[2];
    int mode = (int)c->hi[2];
    if (mode == 1) {
        int64_t g = cube_side(N), q = cube_side(R), bs = q ? g / q : 0;
        if (!g || !q || bs * q != g) return -1; /* a case that does not fit the grid: a mistake in the table */
        for (int64_t n = 0; n < N; n++) {
            int64_t i0 = n / (g * g), i1 = n / g % g, i2 = n % g;
            t[n] = (float)((i0 / bs * q + i1 / bs) * q + i2 / bs);
        }
        return 1;
    }
    uint32_t span = (uint32_t)(mode == 2 ? R : R + 1); /* values -1 .. span-2 */
    for (int64_t n = 0; n < N; n++) {
        emim_philox_ctr u = emim_philox_at((uint64_t)n, 0, seed, 0x72656769ull);
        t[n] = (float)(int64_t)(u.v[0] % span) - 1.0f;
    }
    return 1;
}

int emim_cases_region_pool(int idx, emim_case *c)
{
    static const struct { int B, N, R, D, mode; } S[] = {
        /* B    N    R    D  regions: 0 random (-1: none), 1 blocks of the patch grid, 2 random, the last one empty */
        {  1,   1,   1,   1, 0 },
        {  2,   7,   3,   5, 0 },
        {  3, 216,   8,  33, 1 },   /* a 6^3 grid in 2^3 blocks of 27 tokens */
        {  2,  64,  16,  17, 0 },
        {  1,  27,  30,   4, 0 },   /* more regions than tokens: empty regions pool to 0 */
        {  2, 216,  27, 768, 1 },   /* 3^3 blocks of 8 tokens, ViT-B's width */
        {  4, 100,   5,   9, 2 },
    };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    int B = S[idx].B, N = S[idx].N, R = S[idx].R, D = S[idx].D;
    emim_case_init(c, 3);
    c->len[0] = (size_t)B * R * D;
    c->len[1] = (size_t)B * N * D;
    c->len[2] = (size_t)N;
    c->role[0] = EMIM_T_OUT; c->role[1] = c->role[2] = EMIM_T_IN;
    c->lo[2] = 0.0f; c->hi[2] = (float)S[idx].mode;
    c->fill = region_pool_fill;
    c->fwd.i[0] = c->bwd.i[0] = B;
    c->fwd.i[1] = c->bwd.i[1] = N;
    c->fwd.i[2] = c->bwd.i[2] = R;
    c->fwd.i[3] = c->bwd.i[3] = D;
    c->nf = 3; c->fmap[0] = 0; c->fmap[1] = 1; c->fmap[2] = 2;
    c->nb = 3; c->bmap[0] = EMIM_GRAD(1); c->bmap[1] = 2; c->bmap[2] = EMIM_GRAD(0); /* region: no gradient */
    c->ref = region_pool_ref;
    c->ref_tol = 1e-6;
    c->grad_tol = 1e-5;
    snprintf(c->label, sizeof c->label, "B=%d N=%d R=%d D=%d%s", B, N, R, D,
             S[idx].mode == 1 ? " (blocks of the patch grid)" : S[idx].mode == 2 ? " (region R-1 empty)" : "");
    return 1;
}
