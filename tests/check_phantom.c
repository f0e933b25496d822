/* The built-in phantom: deterministic by (seed, index), intensities in
 * [0, 1], every tissue present, and the contrasts of T1, T1ce, T2 and FLAIR
 * in the right order. */
#include "testutil.h"

#include <stdint.h>
#include <string.h>

enum { H = 96, W = 96, D = 64, NV = H * W * D };

/* mean intensity of modality m over the voxels of tissue t */
static double mean_of(const float *img, const uint8_t *lab, int m, int t)
{
    double s = 0;
    size_t n = 0;
    for (size_t v = 0; v < NV; v++)
        if (lab[v] == t) { s += img[(size_t)m * NV + v]; n++; }
    ck_assert_msg(n > 0, "tissue %d is absent", t);
    return s / (double)n;
}

START_TEST(phantom)
{
    float *a = malloc(4 * (size_t)NV * sizeof(float)), *b = malloc(4 * (size_t)NV * sizeof(float));
    uint8_t *la = malloc(NV), *lb = malloc(NV);
    ck_assert_int_eq(emim_phantom(a, la, 4, H, W, D, 7, 0), EMIM_OK);
    ck_assert_int_eq(emim_phantom(b, lb, 4, H, W, D, 7, 0), EMIM_OK);
    ck_assert_int_eq(memcmp(a, b, 4 * (size_t)NV * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(la, lb, NV), 0);
    ck_assert_int_eq(emim_phantom(b, lb, 4, H, W, D, 7, 1), EMIM_OK);
    ck_assert_int_ne(memcmp(la, lb, NV), 0); /* another subject: another lesion */
    for (size_t e = 0; e < 4 * (size_t)NV; e++) ck_assert(a[e] >= 0.0f && a[e] <= 1.0f);
    size_t count[EMIM_PHANTOM_LABELS] = { 0 };
    for (size_t v = 0; v < NV; v++) count[la[v]]++;
    for (int t = 0; t < EMIM_PHANTOM_LABELS; t++) ck_assert_msg(count[t] > 0, "tissue %d is absent", t);
    enum { T1, T1CE, T2, FLAIR };
    ck_assert(mean_of(a, la, T1, EMIM_TISSUE_WHITE) > mean_of(a, la, T1, EMIM_TISSUE_GREY) + 0.1);
    ck_assert(mean_of(a, la, T1, EMIM_TISSUE_GREY) > mean_of(a, la, T1, EMIM_TISSUE_CSF) + 0.1);
    ck_assert(mean_of(a, la, T2, EMIM_TISSUE_CSF) > mean_of(a, la, T2, EMIM_TISSUE_GREY) + 0.1);
    ck_assert(mean_of(a, la, T2, EMIM_TISSUE_GREY) > mean_of(a, la, T2, EMIM_TISSUE_WHITE) + 0.1);
    ck_assert(mean_of(a, la, FLAIR, EMIM_TISSUE_OEDEMA) > mean_of(a, la, FLAIR, EMIM_TISSUE_GREY) + 0.2);
    ck_assert(mean_of(a, la, FLAIR, EMIM_TISSUE_CSF) < 0.2);
    ck_assert(mean_of(a, la, T1CE, EMIM_TISSUE_RIM) > mean_of(a, la, T1, EMIM_TISSUE_RIM) + 0.3);
    ck_assert(mean_of(a, la, T1, EMIM_TISSUE_BACKGROUND) < 0.05);
    /* the first C contrasts: the same values as channels 0 .. C-1 of all four */
    for (int C = 1; C <= 3; C++) {
        memset(b, 0xff, 4 * (size_t)NV * sizeof(float));
        ck_assert_int_eq(emim_phantom(b, lb, C, H, W, D, 7, 0), EMIM_OK);
        ck_assert_int_eq(memcmp(a, b, (size_t)C * NV * sizeof(float)), 0);
        ck_assert_int_eq(memcmp(la, lb, NV), 0);
        uint32_t untouched;
        memcpy(&untouched, b + (size_t)C * NV, sizeof untouched);
        ck_assert_uint_eq(untouched, 0xffffffffu); /* nothing written past channel C-1 */
    }
    /* bad sizes and channel counts */
    ck_assert_int_eq(emim_phantom(a, NULL, 4, 3, W, D, 7, 0), EMIM_ERR_ARG);
    ck_assert_int_eq(emim_phantom(a, NULL, 0, H, W, D, 7, 0), EMIM_ERR_ARG);
    ck_assert_int_eq(emim_phantom(a, NULL, 5, H, W, D, 7, 0), EMIM_ERR_ARG);
    ck_assert_int_eq(emim_phantom(NULL, NULL, 4, H, W, D, 7, 0), EMIM_ERR_ARG);
    free(a); free(b); free(la); free(lb);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("phantom");
    TCase *tc = tcase_create("phantom");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, phantom);
    suite_add_tcase(s, tc);
    return run_suite(s, 1);
}
