/* Preprocessing of multi-modal volumes [nc, nx, ny, nz] (k fastest), all in
 * plain double-accumulating C so that a sample is the same on every machine:
 * foreground, percentile normalisation, trilinear resampling, crop / pad and
 * flips. Data work on the host, not compute ops: no twins. */
#include "config.h"
#include "data/data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void emim_foreground(uint8_t *fg, const float *x, int nc, size_t nvox)
{
    memset(fg, 0, nvox);
    for (int c = 0; c < nc; c++)
        for (size_t i = 0; i < nvox; i++)
            if (x[(size_t)c * nvox + i] != 0.0f) fg[i] = 1;
}

/* the k-th smallest of v[0..n) (0-based), Wirth's selection; reorders v so
 * that v[i] <= v[k] for i < k and v[i] >= v[k] for i > k */
static float select_kth(float *v, size_t n, size_t k)
{
    ptrdiff_t l = 0, m = (ptrdiff_t)n - 1, kk = (ptrdiff_t)k;
    while (l < m) {
        float x = v[kk];
        ptrdiff_t i = l, j = m;
        do {
            while (v[i] < x) i++;
            while (x < v[j]) j--;
            if (i <= j) {
                float t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                j--;
            }
        } while (i <= j);
        if (j < kk) l = i;
        if (kk < i) m = j;
    }
    return v[kk];
}

double emim_percentile(float *v, size_t n, double p)
{
    if (n == 0) return 0;
    /* numpy's default ("linear"): position p/100 * (n - 1) between order statistics */
    double pos = p / 100.0 * (double)(n - 1);
    size_t k = (size_t)floor(pos);
    if (k >= n - 1) return select_kth(v, n, n - 1);
    double frac = pos - (double)k;
    double a = select_kth(v, n, k);
    /* the (k+1)-th smallest is the least of the elements above position k */
    float b = v[k + 1];
    for (size_t i = k + 2; i < n; i++)
        if (v[i] < b) b = v[i];
    return a + frac * ((double)b - a);
}

void emim_normalise(float *x, size_t nvox, const uint8_t *fg, double p_lo, double p_hi, float *scratch)
{
    size_t m = 0;
    for (size_t i = 0; i < nvox; i++)
        if (!fg || fg[i]) scratch[m++] = x[i];
    if (m == 0) {
        memset(x, 0, nvox * sizeof *x);
        return;
    }
    double lo = emim_percentile(scratch, m, p_lo);
    double hi = emim_percentile(scratch, m, p_hi);
    double range = hi - lo;
    for (size_t i = 0; i < nvox; i++) {
        if (fg && !fg[i]) {
            x[i] = 0;
            continue;
        }
        double t = range > 0 ? ((double)x[i] - lo) / range : 0.0;
        x[i] = (float)(t < 0 ? 0 : t > 1 ? 1 : t);
    }
}

/* The two input voxels and the weight of the second for output voxel o of
 * m along an axis of n input voxels, the box [lo, lo + len) spread over the
 * m outputs with its outer edges aligned: input coordinate
 * lo + (o + 0.5) len / m - 0.5 (o counted from the far end when flip),
 * clamped to the grid. */
static void taps(int *i0, int *i1, double *w, int o, int m, int n, double lo, double len, int flip)
{
    if (flip) o = m - 1 - o;
    double p = lo + (o + 0.5) * len / m - 0.5;
    if (p < 0) p = 0;
    if (p > n - 1) p = n - 1;
    int f = (int)floor(p);
    *i0 = f;
    *i1 = f + 1 < n ? f + 1 : f;
    *w = p - f;
}

void emim_resample_box(float *out, const int od[3], const float *in, const int id[3], int nc, const double lo[3],
                       const double len[3], const int flip[3])
{
    size_t ov = (size_t)od[0] * od[1] * od[2], iv = (size_t)id[0] * id[1] * id[2];
    for (int c = 0; c < nc; c++) {
        const float *src = in + (size_t)c * iv;
        float *dst = out + (size_t)c * ov;
#pragma omp parallel for schedule(static)
        for (int x = 0; x < od[0]; x++) {
            int i0[3], i1[3];
            double w[3];
            taps(&i0[0], &i1[0], &w[0], x, od[0], id[0], lo[0], len[0], flip[0]);
            for (int y = 0; y < od[1]; y++) {
                taps(&i0[1], &i1[1], &w[1], y, od[1], id[1], lo[1], len[1], flip[1]);
                for (int z = 0; z < od[2]; z++) {
                    taps(&i0[2], &i1[2], &w[2], z, od[2], id[2], lo[2], len[2], flip[2]);
                    double acc = 0;
                    for (int dx = 0; dx < 2; dx++)
                        for (int dy = 0; dy < 2; dy++)
                            for (int dz = 0; dz < 2; dz++) {
                                double wt = (dx ? w[0] : 1 - w[0]) * (dy ? w[1] : 1 - w[1]) * (dz ? w[2] : 1 - w[2]);
                                if (wt == 0) continue;
                                size_t xi = (size_t)(dx ? i1[0] : i0[0]);
                                size_t yi = (size_t)(dy ? i1[1] : i0[1]);
                                size_t zi = (size_t)(dz ? i1[2] : i0[2]);
                                acc += wt * src[(xi * id[1] + yi) * id[2] + zi];
                            }
                    dst[((size_t)x * od[1] + y) * od[2] + z] = (float)acc;
                }
            }
        }
    }
}

void emim_resample(float *out, const int od[3], const float *in, const int id[3], int nc)
{
    const double lo[3] = { 0, 0, 0 }, len[3] = { id[0], id[1], id[2] };
    const int flip[3] = { 0, 0, 0 };
    emim_resample_box(out, od, in, id, nc, lo, len, flip);
}

int emim_foreground_box(const uint8_t *fg, const int d[3], int lo[3], int hi[3])
{
    for (int a = 0; a < 3; a++) {
        lo[a] = d[a];
        hi[a] = -1;
    }
    for (int x = 0; x < d[0]; x++)
        for (int y = 0; y < d[1]; y++)
            for (int z = 0; z < d[2]; z++)
                if (fg[((size_t)x * d[1] + y) * d[2] + z]) {
                    int p[3] = { x, y, z };
                    for (int a = 0; a < 3; a++) {
                        if (p[a] < lo[a]) lo[a] = p[a];
                        if (p[a] > hi[a]) hi[a] = p[a];
                    }
                }
    if (hi[0] < 0) {
        for (int a = 0; a < 3; a++) {
            lo[a] = 0;
            hi[a] = d[a] - 1;
        }
        return 0;
    }
    return 1;
}

void emim_crop_pad(float *out, const int od[3], const float *in, const int id[3], int nc, const int start[3])
{
    size_t ov = (size_t)od[0] * od[1] * od[2], iv = (size_t)id[0] * id[1] * id[2];
    memset(out, 0, (size_t)nc * ov * sizeof *out);
    /* the overlap along z is one contiguous run */
    int z0 = start[2] < 0 ? -start[2] : 0, z1 = id[2] - start[2] < od[2] ? id[2] - start[2] : od[2];
    if (z1 <= z0) return;
    for (int c = 0; c < nc; c++)
        for (int x = 0; x < od[0]; x++) {
            int sx = x + start[0];
            if (sx < 0 || sx >= id[0]) continue;
            for (int y = 0; y < od[1]; y++) {
                int sy = y + start[1];
                if (sy < 0 || sy >= id[1]) continue;
                memcpy(out + (size_t)c * ov + ((size_t)x * od[1] + y) * od[2] + z0,
                       in + (size_t)c * iv + ((size_t)sx * id[1] + sy) * id[2] + (z0 + start[2]),
                       (size_t)(z1 - z0) * sizeof *out);
            }
        }
}

void emim_flip(float *x, int nc, const int d[3], int axis)
{
    size_t nv = (size_t)d[0] * d[1] * d[2];
    for (int c = 0; c < nc; c++) {
        float *v = x + (size_t)c * nv;
        for (int i = 0; i < d[0]; i++)
            for (int j = 0; j < d[1]; j++)
                for (int k = 0; k < d[2]; k++) {
                    int p[3] = { i, j, k };
                    if (p[axis] >= d[axis] - 1 - p[axis]) continue; /* each pair once */
                    p[axis] = d[axis] - 1 - p[axis];
                    size_t a = ((size_t)i * d[1] + j) * d[2] + k, b = ((size_t)p[0] * d[1] + p[1]) * d[2] + p[2];
                    float t = v[a];
                    v[a] = v[b];
                    v[b] = t;
                }
    }
}
