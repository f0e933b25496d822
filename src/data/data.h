/* Internal interfaces of the data pipeline (NIfTI, datasets, preprocessing),
 * shared by src/data/nifti.c, dataset.c, preprocess.c and the tests. */
#ifndef EMIM_DATA_H
#define EMIM_DATA_H

#include "emim.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* The largest volume we read: 2^31 - 1 voxels (8 GiB as float), so that
 * every axis and the voxel count fit in an int. */
#define EMIM_NIFTI_MAX_VOXELS (((int64_t)1 << 31) - 1)
/* deflate cannot expand data more than about 1032:1 */
#define EMIM_GZIP_MAX_RATIO 1032

/* Writes v with the given datatype (any supported one; values are rounded
 * and must fit), NIfTI version 1 or 2, and scl_slope / scl_inter (stored
 * value = (v - inter) / slope; slope 0: none). PATH ending in .hdr (or
 * .hdr.gz) writes a .hdr/.img pair. Not atomic and not verified: for tests
 * and for emim_nifti_write. */
emim_status emim_nifti_write_as(const char *path, const emim_volume *v, int datatype, int version, double slope,
                                double inter, char *err, size_t errlen);
/* The name of a NIfTI datatype code ("int16"), or NULL when unknown. */
const char *emim_nifti_type_name(int datatype);
/* 1 when emim_nifti_read accepts the datatype. */
int emim_nifti_type_supported(int datatype);

/* ---- preprocessing (src/data/preprocess.c): volumes [nc, d0, d1, d2], d2 fastest ---- */
/* fg[i] = 1 where any channel is non-zero */
void emim_foreground(uint8_t *fg, const float *x, int nc, size_t nvox);
/* numpy.percentile's default (linear interpolation) of v[0..n); reorders v */
double emim_percentile(float *v, size_t n, double p);
/* One channel: clip to the p_lo and p_hi percentiles of the foreground
 * voxels (all voxels when fg is NULL) and map to [0, 1]; background 0.
 * scratch holds nvox floats. */
void emim_normalise(float *x, size_t nvox, const uint8_t *fg, double p_lo, double p_hi, float *scratch);
/* trilinear, the outer edges of the two grids aligned */
void emim_resample(float *out, const int od[3], const float *in, const int id[3], int nc);
/* The same from the box [lo, lo + len) of in (input voxel units, the edges
 * of voxel i at i and i + 1) onto the whole of out, each axis reversed where
 * flip[a]: out voxel o along axis a samples input coordinate
 * lo + (o' + 0.5) len / od - 0.5 (o' = od - 1 - o when flipped), clamped to
 * the grid. A box of the whole grid onto a grid of the same size is an
 * exact copy (a flipped one an exact flip). */
void emim_resample_box(float *out, const int od[3], const float *in, const int id[3], int nc, const double lo[3],
                       const double len[3], const int flip[3]);
/* the bounding box [lo, hi] (inclusive) of fg; 0 (and the whole grid) when empty */
int emim_foreground_box(const uint8_t *fg, const int d[3], int lo[3], int hi[3]);
/* out = in shifted by start (out[p] = in[p + start]), zero outside in */
void emim_crop_pad(float *out, const int od[3], const float *in, const int id[3], int nc, const int start[3]);
void emim_flip(float *x, int nc, const int d[3], int axis);

/* snprintf into err when err is non-NULL; returns s. */
emim_status emim_fail(char *err, size_t errlen, emim_status s, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
