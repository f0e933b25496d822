/* check_math.c: the scalar math of src/core/emim_math.h against double-precision
 * libm (accuracy over dense sweeps, special values) and Philox4x32-10 against
 * Random123's reference implementation.
 *
 * Build: cc -std=c11 -O2 -ffp-contract=off -Isrc tests/check_math.c \
 *          $(pkg-config --cflags --libs check) -lm */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <Random123/philox.h>

#include "core/emim_math.h"

#define TWO_PI 6.283185307179586476925286766559

/* Bounds asserted (ulp of the double reference's binade; 2^-149 below
 * 2^-126). */
#define EXP_MAX_ULP 2.0
#define LOG_MAX_ULP 2.0
#define ERF_MAX_ULP 4.0
#define SINCOS_MAX_ABS 0x1p-23

static uint32_t bits_of(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static float float_of(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }

static double ulp_of(double ref)
{
    double a = fabs(ref);
    if (a < 0x1p-126) return 0x1p-149;
    int e;
    (void)frexp(a, &e); /* a = m 2^e, m in [1/2, 1) */
    if (e > 128) e = 128;
    return ldexp(1.0, e - 24);
}

/* Error of y in ulps of ref; +-inf counts as +-2^128. */
static double ulp_err(float y, double ref)
{
    double yd = isinf(y) ? copysign(0x1p128, (double)y) : (double)y;
    /* A reference that rounds to +-inf: inf of its sign is exact. */
    if (fabs(ref) >= 0x1.ffffffp127 && isinf(y) && (y > 0) == (ref > 0)) return 0.0;
    if (isinf(ref)) return INFINITY;
    return fabs(yd - ref) / ulp_of(ref);
}

typedef float (*ffun)(float);
typedef double (*dfun)(double);

struct stats {
    double max_ulp;
    float worst_x;
    float worst_y;
    double worst_ref;
    uint64_t n;
    uint64_t bad; /* NaN where a number was expected, or vice versa */
};

static void stats_init(struct stats *s) { memset(s, 0, sizeof *s); }

static void account(struct stats *s, float x, float y, double ref)
{
    s->n++;
    if (isnan(ref) || isnan(y)) {
        if (isnan(ref) != isnan(y)) s->bad++;
        return;
    }
    double e = ulp_err(y, ref);
    if (e > s->max_ulp || e != e) {
        s->max_ulp = e;
        s->worst_x = x;
        s->worst_y = y;
        s->worst_ref = ref;
    }
}

/* Every `stride`-th bit pattern in [lo, hi] (inclusive). */
static void sweep_bits(struct stats *s, ffun f, dfun ref, uint32_t lo, uint32_t hi, uint32_t stride)
{
    for (uint64_t b = lo; b <= hi; b += stride) {
        float x = float_of((uint32_t)b);
        account(s, x, f(x), ref((double)x));
    }
}

static void report(const char *name, const char *what, const struct stats *s)
{
    printf("%-8s %-44s n=%-10llu max err %.3f ulp (x=%a: got %a, want %.17g)\n", name, what,
           (unsigned long long)s->n, s->max_ulp, (double)s->worst_x, (double)s->worst_y,
           s->worst_ref);
    fflush(stdout);
}

/* ------------------------------------------------------------------ exp */
static float f_exp(float x) { return emim_expf(x); }
static double d_exp(double x) { return exp(x); }

START_TEST(test_exp_accuracy)
{
    struct stats s;
    stats_init(&s);
    /* All finite floats, strided (positive and negative; includes denormal
     * inputs, overflow and underflow). */
    sweep_bits(&s, f_exp, d_exp, 0x00000000u, 0x7f7fffffu, 251);
    sweep_bits(&s, f_exp, d_exp, 0x80000000u, 0xff7fffffu, 251);
    /* Every float in [1, 2) and [-2, -1) (the reduction with k = 1..3). */
    sweep_bits(&s, f_exp, d_exp, 0x3f800000u, 0x3fffffffu, 1);
    sweep_bits(&s, f_exp, d_exp, 0xbf800000u, 0xbfffffffu, 1);
    /* Every float in [-0.35, 0.35] with |x| >= 2^-4 (k = 0). */
    sweep_bits(&s, f_exp, d_exp, 0x3d800000u, 0x3eb33333u, 3);
    sweep_bits(&s, f_exp, d_exp, 0xbd800000u, 0xbeb33333u, 3);
    /* Every float near overflow [86, 89] and in the denormal-result range
     * [-104, -87]. */
    sweep_bits(&s, f_exp, d_exp, 0x42ac0000u, 0x42b20000u, 1);
    sweep_bits(&s, f_exp, d_exp, 0xc2ae0000u, 0xc2d00000u, 1);
    report("expf", "strided + [1,2) + [2^-4,0.35] + [86,89] + [-104,-87]", &s);
    ck_assert_uint_eq(s.bad, 0);
    ck_assert_msg(s.max_ulp <= EXP_MAX_ULP, "expf max error %.3f ulp at x=%a", s.max_ulp,
                  (double)s.worst_x);
}
END_TEST

START_TEST(test_exp_special)
{
    ck_assert(emim_expf(0.0f) == 1.0f);
    ck_assert(emim_expf(-0.0f) == 1.0f);
    ck_assert(emim_expf(INFINITY) == INFINITY);
    ck_assert(emim_expf(-INFINITY) == 0.0f);
    ck_assert(isnan(emim_expf(NAN)));
    ck_assert(isnan(emim_expf(-NAN)));
    ck_assert(emim_expf(1.0f) == 0x1.5bf0a8p+1f);          /* e, correctly rounded */
    ck_assert(emim_expf(0x1.62e42ep+6f) == 0x1.ffff08p+127f); /* largest finite */
    ck_assert(emim_expf(0x1.62e430p+6f) == INFINITY);
    ck_assert(emim_expf(1000.0f) == INFINITY);
    ck_assert(emim_expf(FLT_MAX) == INFINITY);
    ck_assert(emim_expf(-1000.0f) == 0.0f);
    ck_assert(emim_expf(-FLT_MAX) == 0.0f);
    ck_assert(emim_expf(-0x1.9fe368p+6f) == 0x1p-149f); /* exp(-103.97207) */
    ck_assert(emim_expf(-0x1.9fe36ap+6f) == 0.0f);      /* exp(-103.97208) < 2^-150 */
    ck_assert(emim_expf(0x1p-149f) == 1.0f);
    ck_assert(emim_expf(-0x1p-149f) == 1.0f);
    ck_assert(!signbit(emim_expf(-200.0f)));
}
END_TEST

/* ------------------------------------------------------------------ log */
static float f_log(float x) { return emim_logf(x); }
static double d_log(double x) { return log(x); }

START_TEST(test_log_accuracy)
{
    struct stats s;
    stats_init(&s);
    /* All positive finite floats (denormals included), strided. */
    sweep_bits(&s, f_log, d_log, 0x00000001u, 0x7f7fffffu, 97);
    /* Every float in [0.5, 2) (result near 0), every denormal in a strided
     * run of 2^20, and the top of the range. */
    sweep_bits(&s, f_log, d_log, 0x3f000000u, 0x3fffffffu, 1);
    sweep_bits(&s, f_log, d_log, 0x00000001u, 0x00100000u, 1);
    sweep_bits(&s, f_log, d_log, 0x7f000000u, 0x7f7fffffu, 5);
    report("logf", "strided + [0.5,2) + denormals + [2^127,max]", &s);
    ck_assert_uint_eq(s.bad, 0);
    ck_assert_msg(s.max_ulp <= LOG_MAX_ULP, "logf max error %.3f ulp at x=%a", s.max_ulp,
                  (double)s.worst_x);
}
END_TEST

START_TEST(test_log_special)
{
    float r = emim_logf(1.0f);
    ck_assert(r == 0.0f && !signbit(r));
    ck_assert(emim_logf(0.0f) == -INFINITY);
    ck_assert(emim_logf(-0.0f) == -INFINITY);
    ck_assert(emim_logf(INFINITY) == INFINITY);
    ck_assert(isnan(emim_logf(-1.0f)));
    ck_assert(isnan(emim_logf(-0x1p-149f)));
    ck_assert(isnan(emim_logf(-INFINITY)));
    ck_assert(isnan(emim_logf(NAN)));
    ck_assert(emim_logf(2.0f) == 0x1.62e43p-1f);     /* ln 2, correctly rounded */
    ck_assert(emim_logf(0x1p-149f) == -0x1.9d1da0p+6f); /* -103.27893 */
    ck_assert(emim_logf(FLT_MAX) == 0x1.62e430p+6f);  /* 88.72284 */
    ck_assert(fabsf(emim_logf(emim_expf(1.0f)) - 1.0f) <= 0x1p-23f);
}
END_TEST

/* ------------------------------------------------------------------ erf */
static float f_erf(float x) { return emim_erff(x); }
static double d_erf(double x) { return erf(x); }

START_TEST(test_erf_accuracy)
{
    struct stats s;
    stats_init(&s);
    /* Results are denormal only for |x| < 2^-126 / 1.13: start at 2^-126. */
    sweep_bits(&s, f_erf, d_erf, 0x00800000u, 0x7f7fffffu, 251);
    sweep_bits(&s, f_erf, d_erf, 0x80800000u, 0xff7fffffu, 251);
    /* Every float in [1/2, 4) (both branches, the switch at 1, the approach
     * to 1) and in [2^-12, 1/2) strided by 7. */
    sweep_bits(&s, f_erf, d_erf, 0x3f000000u, 0x407fffffu, 1);
    sweep_bits(&s, f_erf, d_erf, 0x39800000u, 0x3effffffu, 7);
    report("erff", "strided + [0.5,4) + [2^-12,0.5)", &s);
    ck_assert_uint_eq(s.bad, 0);
    ck_assert_msg(s.max_ulp <= ERF_MAX_ULP, "erff max error %.3f ulp at x=%a", s.max_ulp,
                  (double)s.worst_x);
}
END_TEST

START_TEST(test_erf_special)
{
    float r = emim_erff(0.0f);
    ck_assert(r == 0.0f && !signbit(r));
    r = emim_erff(-0.0f);
    ck_assert(r == 0.0f && signbit(r));
    ck_assert(emim_erff(INFINITY) == 1.0f);
    ck_assert(emim_erff(-INFINITY) == -1.0f);
    ck_assert(emim_erff(10.0f) == 1.0f);
    ck_assert(emim_erff(-FLT_MAX) == -1.0f);
    ck_assert(emim_erff(3.9f) < 1.0f);    /* erf(3.9) = 1 - 3.5e-8 */
    ck_assert(emim_erff(3.92f) == 1.0f);  /* erf(3.92) = 1 - 2.96e-8 < 1 - 2^-25 */
    ck_assert(isnan(emim_erff(NAN)));
    /* (No ck_assert in loops: each one is a message to Check's parent.) */
    /* Denormal inputs: erf(x) = 2x/sqrt(pi) within a denormal ulp. */
    unsigned bad = 0;
    for (uint32_t b = 1; b < 0x00800000u; b += 4099) {
        float x = float_of(b);
        double want = 1.1283791670955126 * (double)x;
        bad += !(fabs((double)emim_erff(x) - want) <= 0x1p-149);
    }
    ck_assert_uint_eq(bad, 0);
    /* Odd, bit for bit. */
    for (uint32_t b = 0; b < 0x7f800000u; b += 65537) {
        float x = float_of(b);
        bad += bits_of(emim_erff(-x)) != (bits_of(emim_erff(x)) ^ 0x80000000u);
    }
    ck_assert_uint_eq(bad, 0);
}
END_TEST

/* ------------------------------------------------------------------ sin/cos 2 pi u */
struct abs_stats {
    double max_abs;
    float worst_u;
    int worst_is_cos;
    uint64_t n;
};

static void sincos_at(struct abs_stats *s, float u)
{
    double a = TWO_PI * (double)u;
    double es = fabs((double)emim_sin2pi(u) - sin(a));
    double ec = fabs((double)emim_cos2pi(u) - cos(a));
    s->n++;
    if (es > s->max_abs || es != es) { s->max_abs = es; s->worst_u = u; s->worst_is_cos = 0; }
    if (ec > s->max_abs || ec != ec) { s->max_abs = ec; s->worst_u = u; s->worst_is_cos = 1; }
}

START_TEST(test_sincos2pi_accuracy)
{
    struct abs_stats s;
    memset(&s, 0, sizeof s);
    /* Every value emim_u01 can produce (k 2^-24), and 1. */
    for (uint32_t k = 0; k <= (1u << 24); k++) sincos_at(&s, (float)k * 0x1p-24f);
    /* All floats in [0, 1], strided. */
    for (uint32_t b = 0; b <= 0x3f800000u; b += 67) sincos_at(&s, float_of(b));
    printf("sin2pi/cos2pi %-38s n=%-10llu max abs err %.3g = 2^%.2f (u=%a, %s)\n",
           "u01 grid + strided [0,1]", (unsigned long long)s.n, s.max_abs,
           s.max_abs > 0 ? log2(s.max_abs) : -999.0, (double)s.worst_u,
           s.worst_is_cos ? "cos" : "sin");
    fflush(stdout);
    ck_assert_msg(s.max_abs <= SINCOS_MAX_ABS, "sin/cos2pi max abs error %g at u=%a", s.max_abs,
                  (double)s.worst_u);
}
END_TEST

START_TEST(test_sincos2pi_special)
{
    ck_assert(emim_sin2pi(0.0f) == 0.0f);
    ck_assert(emim_cos2pi(0.0f) == 1.0f);
    ck_assert(emim_sin2pi(0.25f) == 1.0f);
    ck_assert(emim_cos2pi(0.25f) == 0.0f);
    ck_assert(emim_sin2pi(0.5f) == 0.0f);
    ck_assert(emim_cos2pi(0.5f) == -1.0f);
    ck_assert(emim_sin2pi(0.75f) == -1.0f);
    ck_assert(emim_cos2pi(0.75f) == 0.0f);
    ck_assert(emim_sin2pi(1.0f) == 0.0f);
    ck_assert(emim_cos2pi(1.0f) == 1.0f);
    ck_assert(emim_sin2pi(0.125f) == 0x1.6a09e6p-1f); /* sqrt(2)/2 rounded */
    ck_assert(emim_cos2pi(0.125f) == 0x1.6a09e6p-1f);
    ck_assert(emim_sin2pi(0x1p-30f) > 0.0f);
    /* Range and symmetry on the u01 grid (strided). */
    unsigned bad = 0;
    for (uint32_t k = 0; k <= (1u << 24); k += 13) {
        float u = (float)k * 0x1p-24f;
        float sv = emim_sin2pi(u), cv = emim_cos2pi(u);
        bad += !(sv >= -1.0f && sv <= 1.0f && cv >= -1.0f && cv <= 1.0f);
        float sv2 = emim_sin2pi(1.0f - u), cv2 = emim_cos2pi(1.0f - u);
        bad += !(fabsf(sv + sv2) <= 0x1p-23f && fabsf(cv - cv2) <= 0x1p-23f);
    }
    ck_assert_uint_eq(bad, 0);
}
END_TEST

/* ------------------------------------------------------------------ Philox */
static uint64_t sm_state;
static uint64_t splitmix64(void)
{
    uint64_t z = (sm_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Returns 1 on a mismatch (printed); no ck_assert here: it is called in
 * loops, and every ck_assert is a message to Check's parent process. */
static int philox_compare(const uint32_t c[4], uint32_t k0, uint32_t k1)
{
    philox4x32_ctr_t rc = {{c[0], c[1], c[2], c[3]}};
    philox4x32_key_t rk = {{k0, k1}};
    philox4x32_ctr_t want = philox4x32(rc, rk);
    emim_philox_ctr ec;
    memcpy(ec.v, c, sizeof ec.v);
    emim_philox_ctr got = emim_philox4x32_10(ec, k0, k1);
    for (int j = 0; j < 4; j++)
        if (got.v[j] != want.v[j]) {
            printf("philox ctr %08x %08x %08x %08x key %08x %08x word %d: %08x != %08x\n", c[0],
                   c[1], c[2], c[3], k0, k1, j, got.v[j], want.v[j]);
            return 1;
        }
    return 0;
}

START_TEST(test_philox_reference)
{
    /* Random123's known-answer vectors (kat_vectors, philox4x32 10). */
    {
        emim_philox_ctr c = {{0u, 0u, 0u, 0u}};
        emim_philox_ctr r = emim_philox4x32_10(c, 0u, 0u);
        ck_assert_uint_eq(r.v[0], 0x6627e8d5u);
        ck_assert_uint_eq(r.v[1], 0xe169c58du);
        ck_assert_uint_eq(r.v[2], 0xbc57ac4cu);
        ck_assert_uint_eq(r.v[3], 0x9b00dbd8u);
    }
    {
        emim_philox_ctr c = {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}};
        emim_philox_ctr r = emim_philox4x32_10(c, 0xffffffffu, 0xffffffffu);
        ck_assert_uint_eq(r.v[0], 0x408f276du);
        ck_assert_uint_eq(r.v[1], 0x41c83b0eu);
        ck_assert_uint_eq(r.v[2], 0xa20bc7c6u);
        ck_assert_uint_eq(r.v[3], 0x6d5451fdu);
    }
    /* Many random counters and keys, and structured ones. */
    unsigned bad = 0;
    sm_state = 12345u;
    for (int n = 0; n < 1000000 && bad < 10; n++) {
        uint64_t a = splitmix64(), b = splitmix64(), k = splitmix64();
        uint32_t c[4] = {(uint32_t)a, (uint32_t)(a >> 32), (uint32_t)b, (uint32_t)(b >> 32)};
        bad += philox_compare(c, (uint32_t)k, (uint32_t)(k >> 32));
    }
    for (uint32_t i = 0; i < 65536u && bad < 10; i++) {
        uint32_t c[4] = {i, 0u, i >> 3, 0u};
        bad += philox_compare(c, 0u, 0u);
        uint32_t c2[4] = {i, i << 24, 7u, 0u};
        bad += philox_compare(c2, 0xdeadbeefu, i);
    }
    ck_assert_uint_eq(bad, 0);
    /* emim_philox_at's counter layout. */
    for (int n = 0; n < 10000; n++) {
        uint64_t i = splitmix64() & ((1ull << 40) - 1u), seed = splitmix64(),
                 stream = splitmix64();
        uint32_t a = (uint32_t)(splitmix64() & 7u);
        uint32_t c[4] = {(uint32_t)i, (uint32_t)(i >> 32) | (a << 24), (uint32_t)stream,
                         (uint32_t)(stream >> 32)};
        emim_philox_ctr ec;
        memcpy(ec.v, c, sizeof ec.v);
        emim_philox_ctr want = emim_philox4x32_10(ec, (uint32_t)seed, (uint32_t)(seed >> 32));
        emim_philox_ctr got = emim_philox_at(i, a, seed, stream);
        bad += memcmp(got.v, want.v, sizeof got.v) != 0;
    }
    ck_assert_uint_eq(bad, 0);
}
END_TEST

START_TEST(test_u01)
{
    ck_assert(emim_u01(0u) == 0.0f);
    ck_assert(emim_u01(0xffffffffu) == 1.0f - 0x1p-24f);
    ck_assert(emim_u01_open0(0u) == 0x1p-24f);
    ck_assert(emim_u01_open0(0xffffffffu) == 1.0f);
    unsigned bad = 0;
    for (uint32_t k = 0; k < (1u << 24); k++) {
        uint32_t x = (k << 8) | (k & 0xffu);
        float u = emim_u01(x), v = emim_u01_open0(x);
        bad += !(u >= 0.0f && u < 1.0f && (double)u == (double)k * 0x1p-24);
        bad += !(v > 0.0f && v <= 1.0f && (double)v == (double)(k + 1u) * 0x1p-24);
    }
    ck_assert_uint_eq(bad, 0);
}
END_TEST

static Suite *math_suite(void)
{
    Suite *s = suite_create("emim_math");
    TCase *tc;

    tc = tcase_create("exp");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_exp_accuracy);
    tcase_add_test(tc, test_exp_special);
    suite_add_tcase(s, tc);

    tc = tcase_create("log");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_log_accuracy);
    tcase_add_test(tc, test_log_special);
    suite_add_tcase(s, tc);

    tc = tcase_create("erf");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_erf_accuracy);
    tcase_add_test(tc, test_erf_special);
    suite_add_tcase(s, tc);

    tc = tcase_create("sincos2pi");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_sincos2pi_accuracy);
    tcase_add_test(tc, test_sincos2pi_special);
    suite_add_tcase(s, tc);

    tc = tcase_create("philox");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_philox_reference);
    tcase_add_test(tc, test_u01);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(math_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
