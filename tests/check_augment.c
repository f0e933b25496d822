/* Augmented views (src/data/augment.c): deterministic by (seed, sample,
 * view) and for any thread count; the identity when every augmentation is
 * off; the crop box, flips, intensity, blur and noise against their
 * definitions; bad options rejected with a one-line message. */
#include "testutil.h"
#include "data/data.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* every augmentation off: the view is the sample */
static emim_augment_options off(void)
{
    emim_augment_options o;
    emim_augment_options_default(&o);
    o.crop_scale[0] = o.crop_scale[1] = 1;
    o.crop_aspect = 1;
    o.flip_p = 0;
    o.intensity_p = 0;
    o.blur_p[0] = o.blur_p[1] = 0;
    o.noise_p = 0;
    return o;
}

static size_t voxels(const int d[3]) { return (size_t)d[0] * d[1] * d[2]; }

static float *phantom(int C, const int d[3], uint64_t index)
{
    float *x = malloc((size_t)C * voxels(d) * sizeof *x);
    ck_assert_int_eq(emim_phantom(x, NULL, C, d[0], d[1], d[2], 7, index), EMIM_OK);
    return x;
}

static void view(float *out, const float *x, int C, const int d[3], const emim_augment_options *o, uint64_t seed,
                 uint64_t sample, int v)
{
    char err[256] = "";
    ck_assert_msg(emim_augment_view(out, x, C, d, o, seed, sample, v, err, sizeof err) == EMIM_OK, "%s", err);
}

static void set_threads(int n)
{
#ifdef _OPENMP
    omp_set_num_threads(n);
#else
    (void)n;
#endif
}

START_TEST(determinism)
{
    const int d[3] = { 24, 20, 16 }, C = 4;
    size_t n = (size_t)C * voxels(d);
    float *x = phantom(C, d, 3), *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    emim_augment_options all;
    emim_augment_options_default(&all);
    all.intensity_p = all.blur_p[0] = all.blur_p[1] = all.noise_p = 1;
    for (int r = 0; r < 2; r++) {
        emim_augment_options o;
        if (r) emim_augment_options_default(&o);
        else o = all;
        for (int v = 0; v < 6; v++) {
            set_threads(1);
            view(a, x, C, d, &o, 11, 5, v);
            set_threads(3);
            view(b, x, C, d, &o, 11, 5, v);
            ck_assert_msg(!memcmp(a, b, n * sizeof *a), "recipe %d view %d: 1 and 3 threads differ", r, v);
            view(b, x, C, d, &o, 11, 5, v);
            ck_assert_msg(!memcmp(a, b, n * sizeof *a), "recipe %d view %d: not repeatable", r, v);
        }
    }
    set_threads(2);
    /* another view, sample or seed: another volume */
    view(a, x, C, d, &all, 11, 5, 0);
    view(b, x, C, d, &all, 11, 5, 1);
    ck_assert(memcmp(a, b, n * sizeof *a));
    view(b, x, C, d, &all, 11, 6, 0);
    ck_assert(memcmp(a, b, n * sizeof *a));
    view(b, x, C, d, &all, 12, 5, 0);
    ck_assert(memcmp(a, b, n * sizeof *a));
    /* the input is untouched */
    float *y = phantom(C, d, 3);
    ck_assert(!memcmp(x, y, n * sizeof *x));
    free(x);
    free(y);
    free(a);
    free(b);
}
END_TEST

START_TEST(identity)
{
    const int d[3] = { 17, 12, 9 }, C = 3;
    size_t n = (size_t)C * voxels(d);
    float *x = phantom(C, d, 1), *out = malloc(n * sizeof *out);
    emim_augment_options o = off();
    for (int v = 0; v < 20; v++) {
        memset(out, 0xff, n * sizeof *out);
        view(out, x, C, d, &o, 1, (uint64_t)v * 977, v);
        ck_assert_msg(!memcmp(out, x, n * sizeof *x), "view %d is not the sample", v);
    }
    /* no geometry, whatever the crop options say */
    o.geometric = EMIM_AUGMENT_GEOM_NONE;
    o.crop_scale[0] = 0.2f;
    o.crop_aspect = 2;
    o.flip_p = 1;
    view(out, x, C, d, &o, 1, 2, 3);
    ck_assert(!memcmp(out, x, n * sizeof *x));
    /* a probability-0 augmentation with extreme parameters is never drawn */
    o = off();
    o.intensity_scale[0] = o.intensity_scale[1] = 5;
    o.blur_sigma[0] = o.blur_sigma[1] = 8;
    o.noise_sigma = 1;
    for (int v = 0; v < 50; v++) {
        view(out, x, C, d, &o, 4, (uint64_t)v, v);
        ck_assert(!memcmp(out, x, n * sizeof *x));
    }
    free(x);
    free(out);
}
END_TEST

/* The whole box is the volume; a box with no jitter (scale 1, or aspect
 * jitter that cannot fit) too; a box inside is the volume's trilinear
 * resampling of that box, within the scale and aspect asked for. */
START_TEST(crop_box)
{
    const int d[3] = { 24, 20, 16 };
    size_t nv = voxels(d);
    float *x = phantom(2, d, 4), *out = malloc(3 * nv * sizeof *out);
    const double lo[3] = { 0, 0, 0 }, len[3] = { 24, 20, 16 };
    const int nf[3] = { 0, 0, 0 };
    emim_resample_box(out, d, x, d, 2, lo, len, nf);
    ck_assert(!memcmp(out, x, 2 * nv * sizeof *x));
    emim_augment_options o = off();
    o.crop_aspect = 4.0f / 3.0f; /* with scale 1 no stretch fits */
    view(out, x, 2, d, &o, 3, 3, 0);
    ck_assert(!memcmp(out, x, 2 * nv * sizeof *x));
    free(x);

    /* channel a holds voxel coordinate a, so a view holds the input
     * coordinates it sampled: lo + (o + 0.5) len / d - 0.5 (reversed when
     * flipped), linear away from the clamped edges */
    float *coord = malloc(3 * nv * sizeof *coord);
    for (int i = 0; i < d[0]; i++)
        for (int j = 0; j < d[1]; j++)
            for (int k = 0; k < d[2]; k++) {
                size_t v = ((size_t)i * d[1] + j) * d[2] + k;
                coord[v] = (float)i;
                coord[nv + v] = (float)j;
                coord[2 * nv + v] = (float)k;
            }
    emim_augment_options_default(&o);
    o.intensity_p = o.blur_p[0] = o.blur_p[1] = o.noise_p = 0;
    double smin = 1, smax = 0, amax = 1;
    int flips[3] = { 0, 0, 0 };
    const int views = 300;
    for (int v = 0; v < views; v++) {
        view(out, coord, 3, d, &o, 9, (uint64_t)v, v % 2);
        double vol = 1, f[3];
        for (int a = 0; a < 3; a++) {
            /* the centre pair of voxels along axis a (the others at 0) */
            size_t st = a == 0 ? (size_t)d[1] * d[2] : a == 1 ? (size_t)d[2] : 1;
            int c1 = d[a] / 2 - 1;
            const float *ch = out + (size_t)a * nv;
            double p1 = ch[(size_t)c1 * st], p2 = ch[(size_t)(c1 + 1) * st];
            double slope = p2 - p1; /* len / d, negative when flipped */
            /* at least cbrt(0.3) exp(-(4/3) ln(4/3) / 2) = 0.552 */
            ck_assert_msg(fabs(slope) > 0.55 && fabs(slope) <= 1 + 1e-5, "view %d axis %d: slope %g", v, a, slope);
            int fl = slope < 0;
            flips[a] += fl;
            double l = fabs(slope) * d[a];
            /* the box's low edge from the coordinate of output c1 */
            double o1 = fl ? d[a] - 1 - c1 : c1;
            double b = p1 - (o1 + 0.5) * fabs(slope) + 0.5;
            ck_assert_msg(b > -1e-4 && b + l < d[a] + 1e-4, "view %d axis %d: box [%g, %g) outside", v, a, b, b + l);
            /* the whole line is that map (clamped at the ends) */
            for (int t = 0; t < d[a]; t++) {
                double tt = fl ? d[a] - 1 - t : t, want = b + (tt + 0.5) * fabs(slope) - 0.5;
                want = want < 0 ? 0 : want > d[a] - 1 ? d[a] - 1 : want;
                ck_assert_msg(fabs(ch[(size_t)t * st] - want) < 1e-4, "view %d axis %d voxel %d: %g, want %g", v, a,
                              t, (double)ch[(size_t)t * st], want);
            }
            f[a] = fabs(slope);
            vol *= f[a];
        }
        ck_assert_msg(vol > 0.3 - 1e-5 && vol < 1 + 1e-5, "view %d: the box holds %g of the volume", v, vol);
        for (int a = 0; a < 3; a++)
            for (int b2 = 0; b2 < 3; b2++) {
                double r = f[a] / f[b2];
                ck_assert_msg(r < 4.0 / 3.0 + 1e-4, "view %d: axes %d and %d stretched %g apart", v, a, b2, r);
                if (r > amax) amax = r;
            }
        if (vol < smin) smin = vol;
        if (vol > smax) smax = vol;
    }
    /* the range is covered and the stretches are used */
    ck_assert_msg(smin < 0.33 && smax > 0.95, "box shares %g to %g", smin, smax);
    ck_assert_msg(amax > 1.2, "the largest stretch is %g", amax);
    /* each axis flipped about half the time (binomial(300, 0.5): sd 8.7) */
    for (int a = 0; a < 3; a++) ck_assert_msg(flips[a] > 110 && flips[a] < 190, "axis %d: %d flips", a, flips[a]);
    free(coord);
    free(out);
}
END_TEST

START_TEST(flips)
{
    const int d[3] = { 9, 8, 7 }, C = 2;
    size_t n = (size_t)C * voxels(d);
    float *x = phantom(C, d, 5), *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *f = malloc(n * sizeof *f);
    emim_augment_options o = off();
    o.flip_p = 1;
    view(a, x, C, d, &o, 1, 1, 0);
    memcpy(f, x, n * sizeof *x);
    for (int ax = 0; ax < 3; ax++) emim_flip(f, C, d, ax);
    ck_assert(!memcmp(a, f, n * sizeof *a));
    /* the same draws flip back: an involution, bit for bit */
    o.flip_p = 0.5f;
    int changed = 0;
    for (int v = 0; v < 16; v++) {
        view(a, x, C, d, &o, 2, (uint64_t)v, v);
        view(b, a, C, d, &o, 2, (uint64_t)v, v);
        ck_assert_msg(!memcmp(b, x, n * sizeof *x), "view %d flipped twice is not the sample", v);
        changed += memcmp(a, x, n * sizeof *x) != 0;
    }
    ck_assert_int_gt(changed, 8);
    free(x);
    free(a);
    free(b);
    free(f);
}
END_TEST

/* Each channel's a_c x + b_c within the ranges, covering them, drawn with
 * probability intensity_p; zeros kept with keep_zero. */
START_TEST(intensity)
{
    const int d[3] = { 4, 4, 4 }, C = 3;
    size_t nv = voxels(d), n = (size_t)C * nv;
    float *lo = malloc(n * sizeof *lo), *hi = malloc(n * sizeof *hi), *a = malloc(n * sizeof *a),
          *b = malloc(n * sizeof *b);
    for (size_t i = 0; i < n; i++) {
        lo[i] = 0.25f;
        hi[i] = 0.75f;
    }
    emim_augment_options o = off();
    o.intensity_p = 1;
    double amin = 2, amax = 0, bmin = 1, bmax = -1;
    int differ = 0;
    for (int s = 0; s < 300; s++) {
        view(a, lo, C, d, &o, 5, (uint64_t)s, 1);
        view(b, hi, C, d, &o, 5, (uint64_t)s, 1);
        double sc[3];
        for (int c = 0; c < C; c++) {
            /* uniform over the channel */
            for (size_t i = 0; i < nv; i++) {
                ck_assert(a[c * nv + i] == a[c * nv]);
                ck_assert(b[c * nv + i] == b[c * nv]);
            }
            double sl = ((double)b[c * nv] - a[c * nv]) / 0.5, sh = a[c * nv] - 0.25 * sl;
            ck_assert_msg(sl > 0.9 - 1e-6 && sl < 1.1 + 1e-6, "sample %d channel %d: scale %g", s, c, sl);
            ck_assert_msg(sh > -0.1 - 1e-6 && sh < 0.1 + 1e-6, "sample %d channel %d: shift %g", s, c, sh);
            amin = fmin(amin, sl);
            amax = fmax(amax, sl);
            bmin = fmin(bmin, sh);
            bmax = fmax(bmax, sh);
            sc[c] = sl;
        }
        differ += sc[0] != sc[1] && sc[1] != sc[2];
    }
    ck_assert_msg(amin < 0.91 && amax > 1.09 && bmin < -0.09 && bmax > 0.09, "scales %g to %g, shifts %g to %g", amin,
                  amax, bmin, bmax);
    ck_assert_int_eq(differ, 300);
    /* drawn with probability 0.8: binomial(500, 0.8), sd 8.9 */
    o.intensity_p = 0.8f;
    int applied = 0;
    for (int s = 0; s < 500; s++) {
        view(a, lo, C, d, &o, 6, (uint64_t)s, 0);
        applied += memcmp(a, lo, n * sizeof *a) != 0;
    }
    ck_assert_msg(applied > 360 && applied < 440, "applied %d times in 500", applied);
    /* zeros stay zero with keep_zero, and take b_c without */
    o.intensity_p = 1;
    memset(lo, 0, n * sizeof *lo);
    view(a, lo, C, d, &o, 5, 0, 0);
    for (size_t i = 0; i < n; i++) ck_assert(a[i] == 0);
    o.keep_zero = 0;
    view(a, lo, C, d, &o, 5, 0, 0);
    for (int c = 0; c < C; c++) ck_assert(a[c * nv] != 0 && fabsf(a[c * nv]) <= 0.1f);
    free(lo);
    free(hi);
    free(a);
    free(b);
}
END_TEST

/* Over 64^3 voxels (N = 262144) of noise of sigma 0.1: the mean within 4
 * standard errors (4 sigma / sqrt(N) = 7.8e-4), the standard deviation
 * within 0.6% (4 sqrt(1 / 2N) = 0.55%), the kurtosis within 0.1 of 3 (a
 * uniform's is 1.8; its standard error is sqrt(24 / N) = 0.0096), and
 * neighbours and two views uncorrelated (|r| < 5 / sqrt(N) = 0.0098). */
START_TEST(noise)
{
    const int d[3] = { 64, 64, 64 };
    size_t n = voxels(d);
    float *x = malloc(n * sizeof *x), *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    for (size_t i = 0; i < n; i++) x[i] = 0.5f;
    emim_augment_options o = off();
    o.noise_p = 1;
    o.noise_sigma = 0.1f;
    view(a, x, 1, d, &o, 3, 8, 0);
    view(b, x, 1, d, &o, 3, 8, 1);
    double m = 0, m2 = 0, m4 = 0, lag = 0, cross = 0, mb = 0, vb = 0;
    for (size_t i = 0; i < n; i++) {
        m += (double)a[i] - 0.5;
        mb += (double)b[i] - 0.5;
    }
    m /= (double)n;
    mb /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double e = (double)a[i] - 0.5 - m, f = (double)b[i] - 0.5 - mb;
        m2 += e * e;
        m4 += e * e * e * e;
        vb += f * f;
        cross += e * f;
        if (i + 1 < n) lag += e * ((double)a[i + 1] - 0.5 - m);
    }
    double var = m2 / (double)n, sd = sqrt(var), kurt = m4 / (double)n / (var * var);
    double r1 = lag / m2, rv = cross / sqrt(m2 * vb);
    double lim = 5 / sqrt((double)n);
    ck_assert_msg(fabs(m) < 4 * 0.1 / sqrt((double)n), "mean %g", m);
    ck_assert_msg(fabs(sd / 0.1 - 1) < 0.006, "std %g", sd);
    ck_assert_msg(fabs(kurt - 3) < 0.1, "kurtosis %g", kurt);
    ck_assert_msg(fabs(r1) < lim, "neighbours correlated: %g", r1);
    ck_assert_msg(fabs(rv) < lim, "views correlated: %g", rv);
    /* a value depends on the voxel, not on the volume it is in: the first
     * 4x4x4 voxels of a 64x64x64 volume against those of a 4x4x4 volume
     * at the same flat indices */
    const int s4[3] = { 4, 4, 4 };
    float small[64];
    view(small, x, 1, s4, &o, 3, 8, 0);
    for (int i = 0; i < 64; i++) ck_assert(small[i] == a[i]);
    /* zeros stay zero with keep_zero */
    for (size_t i = 0; i < n; i += 2) x[i] = 0;
    view(a, x, 1, d, &o, 3, 8, 0);
    for (size_t i = 0; i < n; i += 2) ck_assert(a[i] == 0);
    o.keep_zero = 0;
    view(a, x, 1, d, &o, 3, 8, 0);
    int nz = 0;
    for (size_t i = 0; i < n; i += 2) nz += a[i] != 0;
    ck_assert_int_eq(nz, (int)(n / 2));
    free(x);
    free(a);
    free(b);
}
END_TEST

/* A constant volume stays constant; a delta keeps its sum (the kernel
 * sums to 1), spreads as exp(-k^2 / 2 sigma^2) along each axis and not
 * beyond ceil(3 sigma); blur_p is per view parity. */
START_TEST(blur)
{
    const int d[3] = { 33, 33, 33 };
    size_t n = voxels(d);
    float *x = malloc(2 * n * sizeof *x), *a = malloc(2 * n * sizeof *a);
    for (size_t i = 0; i < 2 * n; i++) x[i] = i < n ? 0.37f : 0.8f;
    emim_augment_options o = off();
    o.blur_p[0] = o.blur_p[1] = 1;
    o.blur_sigma[0] = 0.5f;
    o.blur_sigma[1] = 2.5f;
    view(a, x, 2, d, &o, 1, 1, 0);
    for (size_t i = 0; i < 2 * n; i++) ck_assert_msg(fabsf(a[i] - x[i]) <= 1e-6f * x[i], "voxel %zu: %g", i, (double)a[i]);

    memset(x, 0, n * sizeof *x);
    size_t centre = ((size_t)16 * 33 + 16) * 33 + 16;
    x[centre] = 1;
    const double sig[] = { 0.5, 1, 2 };
    for (int t = 0; t < 3; t++) {
        o.blur_sigma[0] = o.blur_sigma[1] = (float)sig[t];
        view(a, x, 1, d, &o, 1, 1, 0);
        double sum = 0;
        for (size_t i = 0; i < n; i++) sum += a[i];
        ck_assert_msg(fabs(sum - 1) < 1e-5, "sigma %g: sum %.9g", sig[t], sum);
        ck_assert(a[centre] < 1);
        int r = (int)ceil(3 * sig[t]);
        const size_t st[3] = { 33 * 33, 33, 1 };
        for (int ax = 0; ax < 3; ax++) {
            for (int k = 1; k <= r; k++) {
                double want = exp(-0.5 * k * k / (sig[t] * sig[t]));
                ck_assert_msg(fabs(a[centre + k * st[ax]] / a[centre] - want) < 1e-5 * want + 1e-7,
                              "sigma %g axis %d tap %d", sig[t], ax, k);
                ck_assert(fabsf(a[centre + k * st[ax]] - a[centre - k * st[ax]]) <= 1e-7f);
            }
            ck_assert(a[centre + (r + 1) * st[ax]] == 0);
        }
    }
    /* barlow: view 0 always blurred, view 1 one time in ten (binomial(400,
     * 0.1): sd 6); a delta in 9^3 voxels */
    ck_assert_int_eq(emim_augment_recipe(&o, "barlow", NULL, 0), EMIM_OK);
    o.geometric = EMIM_AUGMENT_GEOM_NONE;
    o.intensity_p = o.noise_p = 0;
    const int d9[3] = { 9, 9, 9 };
    memset(x, 0, 729 * sizeof *x);
    x[364] = 1;
    int blurred[2] = { 0, 0 };
    for (int s = 0; s < 400; s++)
        for (int v = 0; v < 2; v++) {
            view(a, x, 1, d9, &o, 2, (uint64_t)s, v);
            blurred[v] += a[364] < 1;
        }
    ck_assert_int_eq(blurred[0], 400);
    ck_assert_msg(blurred[1] > 16 && blurred[1] < 64, "view 1 blurred %d times in 400", blurred[1]);
    free(x);
    free(a);
}
END_TEST

/* Shared geometry: every view of a sample has the same box and flips, so
 * their voxels stay in register; per view they differ. */
START_TEST(geometry_modes)
{
    const int d[3] = { 16, 16, 12 }, C = 2;
    size_t n = (size_t)C * voxels(d);
    float *x = phantom(C, d, 2), *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    emim_augment_options o;
    emim_augment_options_default(&o);
    o.intensity_p = o.blur_p[0] = o.blur_p[1] = o.noise_p = 0;
    o.geometric = EMIM_AUGMENT_GEOM_SHARED;
    int moved = 0;
    for (int s = 0; s < 10; s++) {
        view(a, x, C, d, &o, 4, (uint64_t)s, 0);
        view(b, x, C, d, &o, 4, (uint64_t)s, 1);
        ck_assert(!memcmp(a, b, n * sizeof *a));
        moved += memcmp(a, x, n * sizeof *a) != 0;
    }
    ck_assert_int_eq(moved, 10);
    o.geometric = EMIM_AUGMENT_GEOM_VIEW;
    view(a, x, C, d, &o, 4, 0, 0);
    view(b, x, C, d, &o, 4, 0, 1);
    ck_assert(memcmp(a, b, n * sizeof *a));
    /* no geometry: only the intensity augmentations differ between views,
     * and voxels that are 0 in the sample stay 0 in both */
    emim_augment_options_default(&o);
    o.geometric = EMIM_AUGMENT_GEOM_NONE;
    o.blur_p[0] = o.blur_p[1] = 0;
    o.intensity_p = o.noise_p = 1;
    view(a, x, C, d, &o, 4, 0, 0);
    view(b, x, C, d, &o, 4, 0, 1);
    ck_assert(memcmp(a, b, n * sizeof *a));
    for (size_t i = 0; i < n; i++)
        if (x[i] == 0) ck_assert(a[i] == 0 && b[i] == 0);
    free(x);
    free(a);
    free(b);
}
END_TEST

static void expect_bad(const emim_augment_options *o, const char *what)
{
    const int d[3] = { 4, 4, 4 };
    float x[64] = { 0 }, y[64];
    char err[256] = "";
    ck_assert_int_eq(emim_augment_check(o, err, sizeof err), EMIM_ERR_ARG);
    ck_assert_msg(strstr(err, what) && !strchr(err, '\n') && !strncmp(err, "augment: ", 9), "%s: \"%s\"", what, err);
    err[0] = 0;
    ck_assert_int_eq(emim_augment_view(y, x, 1, d, o, 1, 0, 0, err, sizeof err), EMIM_ERR_ARG);
    ck_assert_msg(strstr(err, what), "%s", err);
}

START_TEST(bad_options)
{
    emim_augment_options o, def;
    char err[256];
    emim_augment_options_default(&def);
    ck_assert_int_eq(emim_augment_check(&def, err, sizeof err), EMIM_OK);
    /* the recipes */
    ck_assert_int_eq(emim_augment_recipe(&o, "moco", err, sizeof err), EMIM_OK);
    ck_assert(!memcmp(&o, &def, sizeof o));
    ck_assert_int_eq(emim_augment_recipe(&o, "barlow", err, sizeof err), EMIM_OK);
    ck_assert(o.blur_p[0] == 1.0f && o.blur_p[1] == 0.1f);
    ck_assert_int_eq(emim_augment_check(&o, err, sizeof err), EMIM_OK);
    ck_assert_int_eq(emim_augment_recipe(&o, "simclr", err, sizeof err), EMIM_ERR_ARG);
    ck_assert_msg(strstr(err, "\"simclr\"") && strstr(err, "moco, barlow") && !strchr(err, '\n'), "%s", err);
    ck_assert_int_eq(emim_augment_recipe(&o, NULL, err, sizeof err), EMIM_ERR_ARG);

    o = def;
    o.geometric = 3;
    expect_bad(&o, "geometric is 3");
    o = def;
    o.crop_scale[0] = 0;
    expect_bad(&o, "crop_scale");
    o = def;
    o.crop_scale[1] = 1.5f;
    expect_bad(&o, "crop_scale");
    o = def;
    o.crop_scale[0] = 0.9f;
    o.crop_scale[1] = 0.5f;
    expect_bad(&o, "crop_scale is [0.9, 0.5]");
    o = def;
    o.crop_aspect = 0.5f;
    expect_bad(&o, "crop_aspect");
    o = def;
    o.flip_p = 1.5f;
    expect_bad(&o, "flip_p is 1.5");
    o = def;
    o.intensity_p = NAN;
    expect_bad(&o, "intensity_p");
    o = def;
    o.intensity_scale[0] = -1;
    expect_bad(&o, "intensity_scale");
    o = def;
    o.intensity_shift[1] = INFINITY;
    expect_bad(&o, "intensity_shift");
    o = def;
    o.blur_p[1] = -0.1f;
    expect_bad(&o, "blur_p[1]");
    o = def;
    o.blur_sigma[0] = 0;
    expect_bad(&o, "blur_sigma");
    o = def;
    o.blur_sigma[1] = 9;
    expect_bad(&o, "blur_sigma");
    o = def;
    o.noise_p = 2;
    expect_bad(&o, "noise_p");
    o = def;
    o.noise_sigma = -0.1f;
    expect_bad(&o, "noise_sigma");
    o = def;
    o.keep_zero = 2;
    expect_bad(&o, "keep_zero");

    /* bad volumes and views */
    const int d[3] = { 4, 4, 4 }, d0[3] = { 4, 0, 4 };
    float x[128] = { 0 }, y[64];
    ck_assert_int_eq(emim_augment_view(y, x, 1, d, &def, 1, 0, 256, err, sizeof err), EMIM_ERR_ARG);
    ck_assert_msg(strstr(err, "view 256"), "%s", err);
    ck_assert_int_eq(emim_augment_view(y, x, 1, d, &def, 1, 0, -1, err, sizeof err), EMIM_ERR_ARG);
    ck_assert_int_eq(emim_augment_view(y, x, 0, d, &def, 1, 0, 0, err, sizeof err), EMIM_ERR_ARG);
    ck_assert_int_eq(emim_augment_view(y, x, 1, d0, &def, 1, 0, 0, err, sizeof err), EMIM_ERR_ARG);
    ck_assert_msg(strstr(err, "4x0x4"), "%s", err);
    ck_assert_int_eq(emim_augment_view(x + 32, x, 1, d, &def, 1, 0, 0, err, sizeof err), EMIM_ERR_ARG);
    ck_assert_msg(strstr(err, "overlap"), "%s", err);
    ck_assert_int_eq(emim_augment_view(x + 64, x, 1, d, &def, 1, 0, 0, err, sizeof err), EMIM_OK);
    ck_assert_int_eq(emim_augment_view(y, x, 1, d, NULL, 1, 0, 0, err, sizeof err), EMIM_ERR_ARG);
    ck_assert_int_eq(emim_augment_view(NULL, x, 1, d, &def, 1, 0, 0, NULL, 0), EMIM_ERR_ARG);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("augment");
    TCase *tc = tcase_create("augment");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, determinism);
    tcase_add_test(tc, identity);
    tcase_add_test(tc, crop_box);
    tcase_add_test(tc, flips);
    tcase_add_test(tc, intensity);
    tcase_add_test(tc, noise);
    tcase_add_test(tc, blur);
    tcase_add_test(tc, geometry_modes);
    tcase_add_test(tc, bad_options);
    suite_add_tcase(s, tc);
    return run_suite(s, 1);
}
