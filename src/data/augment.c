/* Augmented views of a sample for the joint-embedding methods (Barlow Twins,
 * MoCo v2): a random resized crop and flips, intensity scale and shift per
 * channel, Gaussian blur and Gaussian noise, every random choice drawn from
 * Philox by (seed, sample, view) so that a view is the same on every machine
 * and for any thread count. Volumes are [C, X, Y, Z], Z fastest. Data work
 * on the host, not compute ops: no twins. doc/method.md gives the recipes. */
#include "config.h"
#include "core/emim_math.h"
#include "data/data.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Philox keys are the seed with this mixed in ("AUGMENT!"), so that views
 * never reuse the words of the masks, the phantom or the rand op under the
 * same seed. */
#define AUG_KEY 0x4155474d454e5421ull
/* what a draw is for (the counter's kind byte) */
enum { KIND_VIEW = 1, KIND_SHARED = 2, KIND_NOISE = 3 };
/* the draws of one view (the counter's index) */
enum {
    D_SCALE = 0,        /* the box's share of the volume */
    D_ASPECT = 16,      /* + 4 attempt + axis: the log-stretches */
    D_START = 64,       /* + axis: the box's position */
    D_FLIP = 72,        /* + axis */
    D_INTENSITY = 80,   /* apply? */
    D_BLUR = 81,        /* apply? */
    D_SIGMA = 82,       /* the blur's sigma */
    D_NOISE = 83,       /* apply? */
    D_CHANNEL = 1024    /* + 2 c: a_c, + 2 c + 1: b_c */
};
#define ASPECT_ATTEMPTS 10
#define MAX_BLUR_SIGMA 8.0f
#define MAX_BLUR_RADIUS 24 /* ceil(3 MAX_BLUR_SIGMA) */
/* noise values are indexed by voxel in the counter's 48-bit index */
#define MAX_FLOATS ((uint64_t)1 << 46)

/* The four words at (seed; sample, view, kind, idx < 2^48). */
static emim_philox_ctr words(uint64_t seed, uint64_t sample, int view, uint32_t kind, uint64_t idx)
{
    emim_philox_ctr c;
    c.v[0] = (uint32_t)idx;
    c.v[1] = ((uint32_t)(idx >> 32) & 0xffffu) | (kind << 16) | ((uint32_t)view << 24);
    c.v[2] = (uint32_t)sample;
    c.v[3] = (uint32_t)(sample >> 32);
    uint64_t key = seed ^ AUG_KEY;
    return emim_philox4x32_10(c, (uint32_t)key, (uint32_t)(key >> 32));
}

/* A uniform double in [0, 1) with 48 random bits. */
static double uniform(uint64_t seed, uint64_t sample, int view, uint32_t kind, uint64_t idx)
{
    emim_philox_ctr r = words(seed, sample, view, kind, idx);
    return (double)(r.v[0] >> 8) * 0x1.0p-24 + (double)(r.v[1] >> 8) * 0x1.0p-48;
}

static double between(const float r[2], double u) { return r[0] + ((double)r[1] - r[0]) * u; }

void emim_augment_options_default(emim_augment_options *o)
{
    memset(o, 0, sizeof *o);
    o->geometric = EMIM_AUGMENT_GEOM_VIEW;
    o->crop_scale[0] = 0.3f;
    o->crop_scale[1] = 1.0f;
    o->crop_aspect = 4.0f / 3.0f;
    o->flip_p = 0.5f;
    o->intensity_p = 0.8f;
    o->intensity_scale[0] = 0.9f;
    o->intensity_scale[1] = 1.1f;
    o->intensity_shift[0] = -0.1f;
    o->intensity_shift[1] = 0.1f;
    o->blur_p[0] = o->blur_p[1] = 0.5f;
    o->blur_sigma[0] = 0.5f;
    o->blur_sigma[1] = 1.5f;
    o->noise_p = 0.2f;
    o->noise_sigma = 0.03f;
    o->keep_zero = 1;
}

emim_status emim_augment_recipe(emim_augment_options *o, const char *name, char *err, size_t errlen)
{
    if (!name) return emim_fail(err, errlen, EMIM_ERR_ARG, "augment: no recipe named (moco, barlow)");
    emim_augment_options_default(o);
    if (!strcmp(name, "moco")) return EMIM_OK;
    if (!strcmp(name, "barlow")) {
        /* Barlow Twins' asymmetric blur; its solarisation has no MRI analogue */
        o->blur_p[0] = 1.0f;
        o->blur_p[1] = 0.1f;
        return EMIM_OK;
    }
    return emim_fail(err, errlen, EMIM_ERR_ARG, "augment: unknown recipe \"%s\" (moco, barlow)", name);
}

static emim_status check_p(float p, const char *name, char *err, size_t errlen)
{
    if (p >= 0 && p <= 1) return EMIM_OK;
    return emim_fail(err, errlen, EMIM_ERR_ARG, "augment: %s is %g: a probability must be in [0, 1]", name, (double)p);
}

/* lo <= hi, both finite and within [min, max] */
static emim_status check_range(const float r[2], double min, double max, const char *name, const char *within,
                               char *err, size_t errlen)
{
    if (r[0] >= min && r[1] <= max && r[0] <= r[1]) return EMIM_OK;
    return emim_fail(err, errlen, EMIM_ERR_ARG, "augment: %s is [%g, %g]: it must be a range lo <= hi within %s",
                     name, (double)r[0], (double)r[1], within);
}

emim_status emim_augment_check(const emim_augment_options *o, char *err, size_t errlen)
{
    emim_status s;
    if (!o) return emim_fail(err, errlen, EMIM_ERR_ARG, "augment: no options");
    if (o->geometric < EMIM_AUGMENT_GEOM_NONE || o->geometric > EMIM_AUGMENT_GEOM_SHARED)
        return emim_fail(err, errlen, EMIM_ERR_ARG, "augment: geometric is %d: 0 (none), 1 (per view) or 2 (shared)",
                         o->geometric);
    /* a box of no volume has nothing to resample */
    if ((s = check_range(o->crop_scale, 0x1.0p-20, 1, "crop_scale", "(0, 1]", err, errlen))) return s;
    if (!(o->crop_aspect >= 1 && o->crop_aspect <= 16))
        return emim_fail(err, errlen, EMIM_ERR_ARG, "augment: crop_aspect is %g: it must be in [1, 16]",
                         (double)o->crop_aspect);
    if ((s = check_p(o->flip_p, "flip_p", err, errlen))) return s;
    if ((s = check_p(o->intensity_p, "intensity_p", err, errlen))) return s;
    if ((s = check_range(o->intensity_scale, 0x1.0p-20, 1e6, "intensity_scale", "(0, 1e6]", err, errlen))) return s;
    if ((s = check_range(o->intensity_shift, -1e6, 1e6, "intensity_shift", "[-1e6, 1e6]", err, errlen))) return s;
    if ((s = check_p(o->blur_p[0], "blur_p[0]", err, errlen))) return s;
    if ((s = check_p(o->blur_p[1], "blur_p[1]", err, errlen))) return s;
    if ((s = check_range(o->blur_sigma, 0x1.0p-20, MAX_BLUR_SIGMA, "blur_sigma", "(0, 8] voxels", err, errlen)))
        return s;
    if ((s = check_p(o->noise_p, "noise_p", err, errlen))) return s;
    if (!(o->noise_sigma >= 0 && o->noise_sigma <= 1e6))
        return emim_fail(err, errlen, EMIM_ERR_ARG, "augment: noise_sigma is %g: it must be in [0, 1e6]",
                         (double)o->noise_sigma);
    if (o->keep_zero != 0 && o->keep_zero != 1)
        return emim_fail(err, errlen, EMIM_ERR_ARG, "augment: keep_zero is %d: 0 or 1", o->keep_zero);
    return EMIM_OK;
}

/* The box [lo, lo + len) (voxels) and the flips of a view. */
static void geometry(double lo[3], double len[3], int flip[3], const int dim[3], const emim_augment_options *o,
                     uint64_t seed, uint64_t sample, int view)
{
    for (int a = 0; a < 3; a++) {
        lo[a] = 0;
        len[a] = dim[a];
        flip[a] = 0;
    }
    if (o->geometric == EMIM_AUGMENT_GEOM_NONE) return;
    uint32_t kind = KIND_VIEW;
    if (o->geometric == EMIM_AUGMENT_GEOM_SHARED) {
        kind = KIND_SHARED;
        view = 0;
    }
    double s = between(o->crop_scale, uniform(seed, sample, view, kind, D_SCALE));
    double side = cbrt(s); /* each side's share before the stretches */
    double f[3] = { side, side, side };
    if (o->crop_aspect > 1) {
        /* log-stretches uniform in +-ln(aspect)/2, centred (their sum 0 keeps
         * the volume), so that two axes differ by at most `aspect`; redrawn
         * while the box does not fit, then none */
        double h = 0.5 * log((double)o->crop_aspect);
        for (int t = 0; t < ASPECT_ATTEMPTS; t++) {
            double r[3], m = 0;
            for (int a = 0; a < 3; a++) {
                r[a] = h * (2 * uniform(seed, sample, view, kind, D_ASPECT + 4 * (uint64_t)t + (uint64_t)a) - 1);
                m += r[a];
            }
            m /= 3;
            double g[3];
            int fits = 1;
            for (int a = 0; a < 3; a++) {
                g[a] = side * exp(r[a] - m);
                if (g[a] > 1) fits = 0;
            }
            if (fits) {
                memcpy(f, g, sizeof f);
                break;
            }
        }
    }
    for (int a = 0; a < 3; a++) {
        len[a] = f[a] >= 1 ? dim[a] : dim[a] * f[a];
        lo[a] = (dim[a] - len[a]) * uniform(seed, sample, view, kind, D_START + (uint64_t)a);
        flip[a] = uniform(seed, sample, view, kind, D_FLIP + (uint64_t)a) < o->flip_p;
    }
}

/* One channel v [dim] blurred along axis `axis` into dst [dim] by the
 * kernel w[0 .. 2r] (w[r] the centre), edges replicated; the taps summed in
 * double in a fixed order. */
static void blur_axis(float *dst, const float *v, const int dim[3], int axis, const double *w, int r)
{
    int n = dim[axis];
    size_t stride = axis == 0 ? (size_t)dim[1] * dim[2] : axis == 1 ? (size_t)dim[2] : 1;
    /* the lines along `axis`: indexed by the other two coordinates */
    int n1 = axis == 0 ? dim[1] : dim[0], n2 = axis == 2 ? dim[1] : dim[2];
#pragma omp parallel for schedule(static)
    for (int p = 0; p < n1; p++)
        for (int q = 0; q < n2; q++) {
            size_t base = axis == 0   ? (size_t)p * dim[2] + q
                          : axis == 1 ? (size_t)p * dim[1] * dim[2] + q
                                      : ((size_t)p * dim[1] + q) * dim[2];
            for (int i = 0; i < n; i++) {
                double acc = 0;
                for (int k = -r; k <= r; k++) {
                    int j = i + k < 0 ? 0 : i + k > n - 1 ? n - 1 : i + k;
                    acc += w[k + r] * v[base + (size_t)j * stride];
                }
                dst[base + (size_t)i * stride] = (float)acc;
            }
        }
}

/* x [C, dim] blurred in place by a Gaussian of std sigma voxels, truncated
 * at 3 sigma and normalised to sum 1; tmp holds one channel. */
static void blur(float *x, float *tmp, int C, const int dim[3], double sigma)
{
    int r = (int)ceil(3 * sigma);
    double w[2 * MAX_BLUR_RADIUS + 1], sum = 0;
    for (int k = -r; k <= r; k++) {
        w[k + r] = exp(-0.5 * (k / sigma) * (k / sigma));
        sum += w[k + r];
    }
    for (int k = 0; k <= 2 * r; k++) w[k] /= sum;
    size_t nv = (size_t)dim[0] * dim[1] * dim[2];
    for (int c = 0; c < C; c++) {
        float *v = x + (size_t)c * nv;
        blur_axis(tmp, v, dim, 2, w, r);
        blur_axis(v, tmp, dim, 1, w, r);
        blur_axis(tmp, v, dim, 0, w, r);
        memcpy(v, tmp, nv * sizeof *v);
    }
}

emim_status emim_augment_view(float *out, const float *x, int C, const int dim[3], const emim_augment_options *o,
                              uint64_t seed, uint64_t sample, int view, char *err, size_t errlen)
{
    return emim_augment_view_scratch(out, x, C, dim, o, seed, sample, view, NULL, err, errlen);
}

emim_status emim_augment_view_scratch(float *out, const float *x, int C, const int dim[3],
                                      const emim_augment_options *o, uint64_t seed, uint64_t sample, int view,
                                      float *scratch, char *err, size_t errlen)
{
    emim_status s = emim_augment_check(o, err, errlen);
    if (s) return s;
    if (!out || !x || !dim) return emim_fail(err, errlen, EMIM_ERR_ARG, "augment: NULL volume or sizes");
    if (C < 1 || dim[0] < 1 || dim[1] < 1 || dim[2] < 1)
        return emim_fail(err, errlen, EMIM_ERR_ARG, "augment: a volume of %d channels of %dx%dx%d", C, dim[0], dim[1],
                         dim[2]);
    if ((uint64_t)C * (uint64_t)dim[0] * (uint64_t)dim[1] * (uint64_t)dim[2] > MAX_FLOATS)
        return emim_fail(err, errlen, EMIM_ERR_ARG, "augment: %d channels of %dx%dx%d is more than 2^46 values", C,
                         dim[0], dim[1], dim[2]);
    if (view < 0 || view > 255) return emim_fail(err, errlen, EMIM_ERR_ARG, "augment: view %d is not in [0, 255]", view);
    size_t nv = (size_t)dim[0] * dim[1] * dim[2], n = (size_t)C * nv;
    uintptr_t po = (uintptr_t)out, px = (uintptr_t)x, bytes = n * sizeof *x;
    if (po < px + bytes && px < po + bytes) return emim_fail(err, errlen, EMIM_ERR_ARG, "augment: out and x overlap");

    /* every draw first, so that each is made whatever the others decide */
    double lo[3], len[3];
    int flip[3];
    geometry(lo, len, flip, dim, o, seed, sample, view);
    int intensity = uniform(seed, sample, view, KIND_VIEW, D_INTENSITY) < o->intensity_p;
    int blurred = uniform(seed, sample, view, KIND_VIEW, D_BLUR) < o->blur_p[view % 2];
    double sigma = between(o->blur_sigma, uniform(seed, sample, view, KIND_VIEW, D_SIGMA));
    int noisy = uniform(seed, sample, view, KIND_VIEW, D_NOISE) < o->noise_p && o->noise_sigma > 0;
    float *tmp = scratch;
    if (blurred && !tmp && !(tmp = malloc(nv * sizeof *tmp)))
        return emim_fail(err, errlen, EMIM_ERR_NOMEM, "augment: out of memory for the blur (%zu voxels)", nv);

    /* (1) the box onto the grid, flipped (an exact copy of the whole volume) */
    emim_resample_box(out, dim, x, dim, C, lo, len, flip);
    /* (2) x <- a_c x + b_c, two roundings */
    if (intensity)
        for (int c = 0; c < C; c++) {
            float a = (float)between(o->intensity_scale, uniform(seed, sample, view, KIND_VIEW, D_CHANNEL + 2 * (uint64_t)c));
            float b = (float)between(o->intensity_shift,
                                     uniform(seed, sample, view, KIND_VIEW, D_CHANNEL + 2 * (uint64_t)c + 1));
            float *v = out + (size_t)c * nv;
            for (size_t i = 0; i < nv; i++) {
                if (o->keep_zero && v[i] == 0) continue;
                float t = a * v[i];
                v[i] = t + b;
            }
        }
    /* (3) */
    if (blurred) {
        blur(out, tmp, C, dim, sigma);
        if (tmp != scratch) free(tmp);
    }
    /* (4) value i is normal number i % 4 of the words at index i / 4:
     * Box-Muller's cosine and sine of words (0, 1), then of (2, 3) */
    if (noisy) {
        float sd = o->noise_sigma;
        int64_t groups = (int64_t)((n + 3) / 4);
#pragma omp parallel for schedule(static)
        for (int64_t g = 0; g < groups; g++) {
            emim_philox_ctr w = words(seed, sample, view, KIND_NOISE, (uint64_t)g);
            for (int q = 0; q < 4; q++) {
                size_t i = (size_t)g * 4 + (size_t)q;
                if (i >= n) break;
                if (o->keep_zero && out[i] == 0) continue;
                float e = sd * emim_box_muller(w.v[q & 2], w.v[(q & 2) + 1], q & 1);
                out[i] = out[i] + e;
            }
        }
    }
    return EMIM_OK;
}
