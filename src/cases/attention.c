/* The twin-test cases of attention (a composite op: the twins are the
 * composite on each backend), with its double-precision reference. */
#include "cases/cases.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* t: 0 y [B, N, C], 1 p [B, H, N, N], 2 qkv [B, N, 3C] */
static void attention_ref(const emim_case *c, double *const *t)
{
    int64_t B = c->fwd.i[0], N = c->fwd.i[1], C = c->fwd.i[2], H = c->fwd.i[3], D = C / H;
    double scale = 1.0 / sqrt((double)D);
    double *s = malloc((size_t)(N * N) * sizeof *s);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++) {
            const double *qkv = t[2] + b * N * 3 * C;
            for (int64_t i = 0; i < N; i++)
                for (int64_t j = 0; j < N; j++) {
                    double acc = 0;
                    for (int64_t d = 0; d < D; d++) acc += qkv[i * 3 * C + h * D + d] * qkv[j * 3 * C + C + h * D + d];
                    s[i * N + j] = acc;
                }
            double *p = t[1] + (b * H + h) * N * N;
            emim_ref_softmax_rows(p, s, N, N, scale);
            for (int64_t i = 0; i < N; i++)
                for (int64_t d = 0; d < D; d++) {
                    double acc = 0;
                    for (int64_t j = 0; j < N; j++) acc += p[i * N + j] * qkv[j * 3 * C + 2 * C + h * D + d];
                    t[0][(b * N + i) * C + h * D + d] = acc;
                }
        }
    free(s);
}

int emim_cases_attention(int idx, emim_case *c)
{
    static const int S[][4] = { /* B N C H */ { 1, 5, 4, 1 }, { 2, 7, 6, 2 }, { 1, 13, 12, 3 }, { 1, 216, 64, 4 } };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    int B = S[idx][0], N = S[idx][1], C = S[idx][2], H = S[idx][3];
    emim_case_init(c, 3);
    c->len[0] = (size_t)B * N * C;
    c->len[1] = (size_t)B * H * N * N;
    c->len[2] = (size_t)B * N * 3 * C;
    c->role[0] = EMIM_T_OUT; c->role[1] = EMIM_T_CACHE; c->role[2] = EMIM_T_IN;
    c->lo[2] = -2.0f; c->hi[2] = 2.0f;
    for (int k = 0; k < 4; k++) c->fwd.i[k] = c->bwd.i[k] = S[idx][k];
    c->fwd.f[0] = c->bwd.f[0] = (float)(1.0 / sqrt((double)(C / H)));
    c->nf = 3; c->fmap[0] = 0; c->fmap[1] = 1; c->fmap[2] = 2;
    c->nb = 4; c->bmap[0] = EMIM_GRAD(2); c->bmap[1] = 2; c->bmap[2] = 1; c->bmap[3] = EMIM_GRAD(0);
    c->ref = attention_ref;
    c->ref_tol = 1e-5;
    c->grad_tol = 1e-4;
    c->fast_tol = 1e-4;
    snprintf(c->label, sizeof c->label, "B=%d N=%d C=%d heads=%d", B, N, C, H);
    return 1;
}
