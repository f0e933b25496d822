/* Collapse diagnostics: the singular spectrum and effective rank of
 * features against known covariances, and the Monte-Carlo collapsed loss
 * against a direct computation over voxels. */
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* a reproducible standard normal (xorshift + Box-Muller) */
static double normal(uint64_t *s)
{
    double u[2];
    for (int k = 0; k < 2; k++) {
        *s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17;
        u[k] = ((double)(*s >> 11) + 0.5) / 9007199254740992.0;
    }
    return sqrt(-2 * log(u[0])) * cos(6.283185307179586 * u[1]);
}

START_TEST(effective_rank)
{
    const double four[] = { 1, 1, 1, 1 }, one[] = { 3, 0, 0 }, zero[] = { 0, 0 };
    ck_assert_double_eq_tol(emim_effective_rank(four, 4), 4, 1e-12);
    ck_assert_double_eq_tol(emim_effective_rank(one, 3), 1, 1e-12);
    ck_assert_double_eq(emim_effective_rank(zero, 2), 0);
    /* two equal values and two zeros: 2 */
    const double two[] = { 5, 5, 0, 0 };
    ck_assert_double_eq_tol(emim_effective_rank(two, 4), 2, 1e-12);
}
END_TEST

START_TEST(spectrum_known)
{
    enum { R = 20000, D = 4 };
    static float x[R * D];
    const double sd[D] = { 4, 2, 1, 0.5 };
    uint64_t seed = 88172645463325252ull;
    /* independent features of known variance, plus an offset the centring removes */
    for (int r = 0; r < R; r++)
        for (int k = 0; k < D; k++) x[r * D + k] = (float)(sd[k] * normal(&seed) + 10 * k);
    double s[D], er;
    char err[256];
    ck_assert_int_eq(emim_spectrum(x, R, D, s, &er, err, sizeof err), EMIM_OK);
    for (int k = 0; k < D; k++)
        ck_assert_msg(fabs(s[k] - sd[k] * sd[k]) < 0.05 * sd[k] * sd[k], "s[%d] = %g, expected about %g", k, s[k],
                      sd[k] * sd[k]);
    ck_assert_double_eq(er, emim_effective_rank(s, D));
    /* isotropic: the effective rank is about d */
    for (int r = 0; r < R; r++)
        for (int k = 0; k < D; k++) x[r * D + k] = (float)normal(&seed);
    ck_assert_int_eq(emim_spectrum(x, R, D, s, &er, err, sizeof err), EMIM_OK);
    ck_assert_msg(er > 3.99 && er <= 4.0, "isotropic: erank %g", er);
    /* rank one: a * v */
    for (int r = 0; r < R; r++) {
        double a = normal(&seed);
        for (int k = 0; k < D; k++) x[r * D + k] = (float)(a * (k + 1));
    }
    ck_assert_int_eq(emim_spectrum(x, R, D, s, &er, err, sizeof err), EMIM_OK);
    ck_assert_msg(er < 1.0001, "rank one: erank %g", er);
    for (int k = 1; k < D; k++) ck_assert(s[k] >= 0 && s[k] < 1e-6 * s[0]);
    /* bad arguments: one line naming the problem */
    ck_assert_int_eq(emim_spectrum(x, 1, D, s, &er, err, sizeof err), EMIM_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err, "at least 2 rows"));
}
END_TEST

/* emim_maskvar on the phantom against a direct computation over voxels:
 * the per-voxel mean of the samples, each sample's mask expanded to voxels
 * through the patch grid's definition (not the index map the library
 * uses), Var(x_m) and the collapsed loss. */
START_TEST(maskvar_direct)
{
    enum { C = 2, S0 = 16, S1 = 8, S2 = 12, P0 = 8, P1 = 4, P2 = 6, M = 6 };
    enum { G0 = S0 / P0, G1 = S1 / P1, G2 = S2 / P2, N = G0 * G1 * G2, V = S0 * S1 * S2 };
    emim_data_config dc;
    emim_data_config_default(&dc);
    dc.channels = C;
    dc.size[0] = S0; dc.size[1] = S1; dc.size[2] = S2;
    dc.seed = 5;
    dc.threads = 0;
    emim_data *d = NULL;
    char err[512];
    ck_assert_msg(emim_data_open(&d, &dc, err, sizeof err) == EMIM_OK, "%s", err);
    emim_vit_config v = { .img = { S0, S1, S2 }, .patch = { P0, P1, P2 }, .channels = C, .hidden = 8, .mlp = 8,
                          .heads = 1, .layers = 1, .eps = 1e-5f };
    emim_mask_options m[3];
    emim_mask_options_default(&m[0]);                      /* HMP */
    emim_mask_options_default(&m[1]);
    m[1].strategy = EMIM_MASK_RANDOM; m[1].ratio = 0.5f;   /* random, half */
    emim_mask_options_default(&m[2]);
    m[2].strategy = EMIM_MASK_RANDOM; m[2].ratio = 0;      /* nothing masked */
    emim_maskvar_result res[3];
    ck_assert_msg(emim_maskvar(d, &v, M, m, 3, 9, res, err, sizeof err) == EMIM_OK, "%s", err);
    /* the same by hand */
    static float x[M][C * V];
    static double mean[C * V];
    memset(mean, 0, sizeof mean);
    for (int i = 0; i < M; i++) {
        ck_assert_int_eq(emim_phantom(x[i], NULL, C, S0, S1, S2, 5, (uint64_t)i), EMIM_OK);
        for (int e = 0; e < C * V; e++) mean[e] += x[i][e] / (double)M;
    }
    for (int k = 0; k < 3; k++) {
        double f = 0, vv = 0, cc = 0;
        int nv = 0;
        for (int i = 0; i < M; i++) {
            uint8_t mk[C * N];
            ck_assert_int_eq(emim_mask_make(mk, C, N, &m[k], 9, (uint64_t)i, 0), EMIM_OK);
            double sum = 0, cnt = 0;
            for (int c = 0; c < C; c++)
                for (int a = 0; a < S0; a++)
                    for (int b = 0; b < S1; b++)
                        for (int q = 0; q < S2; q++) {
                            int n = ((a / P0) * G1 + b / P1) * G2 + q / P2; /* MONAI's token order */
                            if (!mk[c * N + n]) continue;
                            int e = ((c * S0 + a) * S1 + b) * S2 + q;
                            double dv = x[i][e] - mean[e];
                            sum += dv * dv;
                            cnt++;
                        }
            f += cnt / (C * V) / M;
            cc += sum / (C * V) * M / (M - 1) / M;
            if (cnt) { vv += sum / cnt * M / (M - 1); nv++; }
        }
        ck_assert_msg(fabs(res[k].masked - f) < 1e-12, "strategy %d: masked %g, by hand %g", k, res[k].masked, f);
        ck_assert_msg(fabs(res[k].collapsed - cc) < 1e-9 * (cc + 1e-30) + 1e-15, "strategy %d: collapsed %.12g, by hand %.12g",
                      k, res[k].collapsed, cc);
        if (nv) ck_assert_msg(fabs(res[k].var_xm - vv / nv) < 1e-9 * vv / nv, "strategy %d: Var %.12g, by hand %.12g",
                              k, res[k].var_xm, vv / nv);
    }
    ck_assert_double_eq(res[1].masked, 0.5);
    ck_assert_double_eq(res[2].masked, 0);
    ck_assert_double_eq(res[2].collapsed, 0);
    ck_assert(isnan(res[2].var_xm)); /* no voxel masked: no variance */
    ck_assert(res[0].collapsed > res[1].collapsed * 0.5 && res[0].var_xm > 0);
    /* deterministic */
    emim_maskvar_result again[3];
    ck_assert_int_eq(emim_maskvar(d, &v, M, m, 3, 9, again, err, sizeof err), EMIM_OK);
    ck_assert_int_eq(memcmp(res, again, sizeof res), 0);
    /* bad arguments */
    ck_assert_int_eq(emim_maskvar(d, &v, 1, m, 3, 9, again, err, sizeof err), EMIM_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err, "at least 2 samples"));
    v.patch[1] = 3;
    ck_assert_int_eq(emim_maskvar(d, &v, M, m, 3, 9, again, err, sizeof err), EMIM_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err, "not a multiple of the patch size 3"));
    emim_data_close(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("diag");
    TCase *tc = tcase_create("diag");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, effective_rank);
    tcase_add_test(tc, spectrum_known);
    tcase_add_test(tc, maskvar_direct);
    suite_add_tcase(s, tc);
    return run_suite(s, 1);
}
