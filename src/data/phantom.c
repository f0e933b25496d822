/* The built-in multi-modal brain phantom: a head with skull, CSF (an outer
 * layer and two ventricles), grey matter with folds and white matter, and a
 * lesion (necrotic core, enhancing rim, oedema) of random size and place,
 * rendered into T1, T1ce, T2 and FLAIR contrasts (the first C of them) with a
 * smooth bias field and noise, intensities in [0, 1]. Deterministic: every voxel depends only on
 * (seed, index, voxel) through Philox, so any machine makes the same volume.
 * It is data, made on the host; it is not a compute op. */
#include "core/emim_math.h"
#include "core/internal.h"

#include <math.h>
#include <string.h>

/* Mean intensity of each tissue in T1, T1ce, T2, FLAIR (relative contrasts
 * of the usual clinical sequences: CSF dark in T1 and FLAIR, bright in T2; WM
 * brighter than GM in T1, darker in T2; oedema bright in T2 and FLAIR; the
 * rim enhancing with contrast agent; the core necrotic). */
static const float tissue[EMIM_PHANTOM_LABELS][4] = {
    /* background */ { 0.00f, 0.00f, 0.00f, 0.00f },
    /* skull      */ { 0.30f, 0.32f, 0.22f, 0.20f },
    /* CSF        */ { 0.12f, 0.14f, 0.95f, 0.08f },
    /* grey       */ { 0.45f, 0.48f, 0.62f, 0.55f },
    /* white      */ { 0.72f, 0.74f, 0.40f, 0.42f },
    /* oedema     */ { 0.40f, 0.44f, 0.85f, 0.92f },
    /* rim        */ { 0.46f, 0.96f, 0.70f, 0.75f },
    /* core       */ { 0.18f, 0.24f, 0.90f, 0.45f },
};

/* A uniform number in [0, 1) for draw k of sample (seed, index). */
static double draw(uint64_t seed, uint64_t index, uint32_t k)
{
    emim_philox_ctr r = emim_philox_at(index, k & 0xffu, seed, 0x5048414e544f4dull); /* "PHANTOM" */
    return emim_u01(r.v[0]) + emim_u01(r.v[1]) * 0x1.0p-24;
}

static double lerp(double lo, double hi, double u) { return lo + (hi - lo) * u; }

/* The downstream label is the lesion's size class: its radius lr is drawn
 * uniformly (draw 11 below), so "above the median radius" is draw 11 >= 0.5,
 * balanced in expectation and independent of every other draw (place,
 * hemisphere, shape, bias field, noise). Size is content an encoder must see:
 * the lesion's volume grows 17-fold over the range, in every contrast; the
 * hemisphere would be the other candidate, but a mean over tokens keeps
 * little of where a thing is. */
int emim_phantom_label(uint64_t seed, uint64_t index) { return draw(seed, index, 11) >= 0.5; }

emim_status emim_phantom(float *img, uint8_t *labels, int C, int H, int W, int D, uint64_t seed, uint64_t index)
{
    if (!img || C < 1 || C > EMIM_PHANTOM_CONTRASTS || H < 4 || W < 4 || D < 4 || (size_t)H * W * D > ((size_t)1 << 31))
        return EMIM_ERR_ARG;
    /* the head: an ellipsoid with jittered radii */
    double rx = lerp(0.80, 0.92, draw(seed, index, 0)), ry = lerp(0.84, 0.95, draw(seed, index, 1));
    double rz = lerp(0.80, 0.92, draw(seed, index, 2));
    double skull = 0.07, csf = 0.045, gm = 0.13;
    double fold_f = lerp(5.0, 8.0, draw(seed, index, 3)), fold_p = 6.283185307179586 * draw(seed, index, 4);
    /* ventricles: two ellipsoids beside the midline */
    double vy = lerp(-0.1, 0.05, draw(seed, index, 5)), vr = lerp(0.08, 0.14, draw(seed, index, 6));
    /* the lesion: somewhere inside the brain, in one hemisphere */
    double side = draw(seed, index, 7) < 0.5 ? -1 : 1;
    double lx = side * lerp(0.15, 0.45, draw(seed, index, 8)), ly = lerp(-0.45, 0.45, draw(seed, index, 9));
    double lz = lerp(-0.35, 0.35, draw(seed, index, 10)), lr = lerp(0.10, 0.26, draw(seed, index, 11));
    double lshape = lerp(0.0, 0.25, draw(seed, index, 12));
    /* bias field: a smooth product of low-order terms, per modality */
    double bias[4][4];
    for (int m = 0; m < 4; m++)
        for (int k = 0; k < 4; k++) bias[m][k] = lerp(-0.12, 0.12, draw(seed, index, 16 + 4 * (uint32_t)m + (uint32_t)k));
    const double noise = 0.02;

    size_t nv = (size_t)H * W * D;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++)
            for (int k = 0; k < D; k++) {
                double x = 2.0 * (i + 0.5) / H - 1, y = 2.0 * (j + 0.5) / W - 1, z = 2.0 * (k + 0.5) / D - 1;
                double rho = sqrt((x / rx) * (x / rx) + (y / ry) * (y / ry) + (z / rz) * (z / rz));
                int t = 0;
                if (rho < 1) {
                    double depth = 1 - rho; /* 0 at the scalp, growing inwards */
                    double fold = 0.04 * sin(fold_f * atan2(y, x) + fold_p) * cos(fold_f * 0.7 * z);
                    if (depth < skull) t = 1;
                    else if (depth < skull + csf) t = 2;
                    else if (depth < skull + csf + gm + fold) t = 3;
                    else t = 4;
                    double v1 = ((x - 0.09) / vr) * ((x - 0.09) / vr) + ((y - vy) / (2.2 * vr)) * ((y - vy) / (2.2 * vr)) +
                                (z / (1.2 * vr)) * (z / (1.2 * vr));
                    double v2 = ((x + 0.09) / vr) * ((x + 0.09) / vr) + ((y - vy) / (2.2 * vr)) * ((y - vy) / (2.2 * vr)) +
                                (z / (1.2 * vr)) * (z / (1.2 * vr));
                    if (t >= 3 && (v1 < 1 || v2 < 1)) t = 2;
                    if (t >= 3) {
                        double dx = x - lx, dy = y - ly, dz = z - lz;
                        double dl = sqrt(dx * dx + dy * dy + dz * dz);
                        double r = lr * (1 + lshape * sin(3 * atan2(dy, dx)) * cos(2 * dz / lr));
                        if (dl < 0.40 * r) t = 7;
                        else if (dl < 0.60 * r) t = 6;
                        else if (dl < 1.35 * r) t = 5;
                    }
                }
                size_t v = ((size_t)i * W + j) * D + k;
                if (labels) labels[v] = (uint8_t)t;
                for (int m = 0; m < C; m++) {
                    double val = tissue[t][m];
                    if (t) {
                        double b = 1 + bias[m][0] * x + bias[m][1] * y + bias[m][2] * z + bias[m][3] * x * y;
                        val *= b;
                    }
                    emim_philox_ctr r = emim_philox_at(v, 0, seed ^ (index * 0x9e3779b97f4a7c15ull), 1000 + (uint64_t)m);
                    float g = emim_sqrt(-2.0f * emim_logf(emim_u01_open0(r.v[0]))) * emim_cos2pi(emim_u01(r.v[1]));
                    val += noise * g;
                    img[(size_t)m * nv + v] = (float)(val < 0 ? 0 : val > 1 ? 1 : val);
                }
            }
    return EMIM_OK;
}
