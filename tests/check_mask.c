/* Masks: the three steps of the Hybrid Mask Pattern, plain random masking,
 * exact counts, determinism, and token masking. */
#include "testutil.h"

#include <stdint.h>
#include <string.h>

enum { C = 4, N = 216 };

static int position_all(const uint8_t *m, int n) { int s = 0; for (int c = 0; c < C; c++) s += m[c * N + n]; return s; }

START_TEST(hmp)
{
    emim_mask_options o;
    emim_mask_options_default(&o);
    ck_assert_int_eq(o.strategy, EMIM_MASK_HMP);
    uint8_t a[C * N], b[C * N];
    int modal_seen[C] = { 0 };
    for (uint64_t sample = 0; sample < 64; sample++) {
        ck_assert_int_eq(emim_mask_make(a, C, N, &o, 3, 17, sample), EMIM_OK);
        ck_assert_int_eq(emim_mask_make(b, C, N, &o, 3, 17, sample), EMIM_OK);
        ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
        /* (1) exactly one modality is masked everywhere */
        int full = -1, nfull = 0;
        for (int c = 0; c < C; c++) {
            int s = 0;
            for (int n = 0; n < N; n++) s += a[c * N + n];
            if (s == N) { full = c; nfull++; }
        }
        ck_assert_int_eq(nfull, 1);
        modal_seen[full]++;
        /* (2) round(0.4 N) positions masked in all modalities; (3) round(0.3 N)
         * positions with a proper subset besides the modal one */
        int all = 0, partial = 0;
        for (int n = 0; n < N; n++) {
            int s = position_all(a, n);
            if (s == C) all++;
            else if (s > 1) partial++;
            else ck_assert_int_eq(s, 1); /* only the modal mask */
        }
        ck_assert_int_ge(all, (int)(0.4f * N + 0.5f));
        /* a patch-mask subset may cover every modality but the modal one, so
         * it then counts as "all": together they are r_pos + r_patch */
        ck_assert_int_le(all, (int)(0.4f * N + 0.5f) + (int)(0.3f * N + 0.5f));
        ck_assert_int_le(all + partial, (int)(0.4f * N + 0.5f) + (int)(0.3f * N + 0.5f));
        ck_assert_int_gt(partial, 0);
    }
    for (int c = 0; c < C; c++) ck_assert_msg(modal_seen[c] > 4, "modality %d masked only %d times in 64", c, modal_seen[c]);
    /* another step or seed, another mask */
    ck_assert_int_eq(emim_mask_make(b, C, N, &o, 3, 18, 63), EMIM_OK);
    ck_assert_int_ne(memcmp(a, b, sizeof a), 0);
}
END_TEST

/* 1, 2 and 3 modalities on an anisotropic grid's 18 positions: with one
 * modality there is no modal or patch mask (either would hide everything or
 * nothing), only round(0.4 N) positions; with 2 or 3 one modality is
 * hidden entirely and the counts hold as with 4 */
START_TEST(hmp_channels)
{
    enum { N2 = 18 };
    emim_mask_options o;
    emim_mask_options_default(&o);
    const int kp = (int)(0.4f * N2 + 0.5f), kq = (int)(0.3f * N2 + 0.5f);
    for (int c = 1; c <= 3; c++)
        for (uint64_t sample = 0; sample < 32; sample++) {
            uint8_t m[3 * N2];
            ck_assert_int_eq(emim_mask_make(m, c, N2, &o, 5, 2, sample), EMIM_OK);
            int full = 0, all = 0, none = 0;
            for (int k = 0; k < c; k++) {
                int t = 0;
                for (int n = 0; n < N2; n++) t += m[k * N2 + n];
                full += t == N2;
            }
            for (int n = 0; n < N2; n++) {
                int t = 0;
                for (int k = 0; k < c; k++) t += m[k * N2 + n];
                all += t == c;
                none += t == 0;
            }
            if (c == 1) {
                ck_assert_int_eq(all, kp);
                ck_assert_int_eq(none, N2 - kp);
            } else {
                ck_assert_int_eq(full, 1);
                ck_assert_int_eq(none, 0);
                ck_assert_int_ge(all, kp);
                ck_assert_int_le(all, kp + kq);
            }
        }
}
END_TEST

START_TEST(hmp_steps_alone)
{
    emim_mask_options o;
    emim_mask_options_default(&o);
    uint8_t a[C * N];
    /* the patch mask alone: never a whole position, never nothing at a chosen one */
    o.modal = 0; o.r_pos = 0; o.r_patch = 0.5f;
    ck_assert_int_eq(emim_mask_make(a, C, N, &o, 9, 0, 0), EMIM_OK);
    int chosen = 0;
    for (int n = 0; n < N; n++) {
        int s = position_all(a, n);
        ck_assert_int_lt(s, C);
        chosen += s > 0;
    }
    ck_assert_int_eq(chosen, 108);
    /* the position mask alone */
    o.r_pos = 0.25f; o.r_patch = 0;
    ck_assert_int_eq(emim_mask_make(a, C, N, &o, 9, 0, 0), EMIM_OK);
    int all = 0;
    for (int n = 0; n < N; n++) {
        int s = position_all(a, n);
        ck_assert(s == 0 || s == C);
        all += s == C;
    }
    ck_assert_int_eq(all, 54);
    o.r_pos = 1.5f;
    ck_assert_int_eq(emim_mask_make(a, C, N, &o, 9, 0, 0), EMIM_ERR_ARG);
}
END_TEST

START_TEST(random_and_tokens)
{
    emim_mask_options o;
    emim_mask_options_default(&o);
    o.strategy = EMIM_MASK_RANDOM;
    o.ratio = 0.75f;
    uint8_t a[C * N];
    ck_assert_int_eq(emim_mask_make(a, C, N, &o, 1, 2, 3), EMIM_OK);
    int all = 0;
    for (int n = 0; n < N; n++) {
        int s = position_all(a, n);
        ck_assert(s == 0 || s == C);
        all += s == C;
    }
    ck_assert_int_eq(all, 162);
    /* tokens: masked patches zeroed, the others copied */
    enum { P3 = 8 };
    float *x = malloc(sizeof(float) * N * C * P3), *xm = malloc(sizeof(float) * N * C * P3);
    for (int e = 0; e < N * C * P3; e++) x[e] = 1.0f + e;
    emim_mask_tokens(xm, x, a, C, N, P3);
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int q = 0; q < P3; q++) {
                int e = (n * C + c) * P3 + q;
                ck_assert(xm[e] == (a[c * N + n] ? 0.0f : x[e]));
            }
    emim_mask_tokens(x, x, a, C, N, P3); /* in place */
    ck_assert_int_eq(memcmp(x, xm, sizeof(float) * N * C * P3), 0);
    free(x);
    free(xm);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mask");
    TCase *tc = tcase_create("mask");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, hmp);
    tcase_add_test(tc, hmp_steps_alone);
    tcase_add_test(tc, hmp_channels);
    tcase_add_test(tc, random_and_tokens);
    suite_add_tcase(s, tc);
    return run_suite(s, 1);
}
