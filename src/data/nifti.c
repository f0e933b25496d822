/* NIfTI-1/2 reading and writing through niftilib and zlib.
 *
 * Reading happens in three stages:
 *   1. our own check of the raw header (niftilib 3.0.1 trusts it: it casts
 *      vox_offset unchecked, loops on NIfTI-2's dim[0] before checking it and
 *      callocs the size the header claims before reading), and of the data
 *      size against the size of the file that must hold it;
 *   2. niftilib's nifti_image_read(path, 0): the header as a nifti_image
 *      (byte order, qform and sform matrices, the data file of a pair);
 *   3. our own read of the data through zlib, converting to float, applying
 *      scl_slope / scl_inter, refusing NaN and infinity, and transposing to
 *      [c, i, j, k] with k fastest. niftilib's loader would set NaN voxels
 *      to 0 silently, so it is not used.
 */
#include "config.h"
#include "data/data.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <nifti2_io.h>

emim_status emim_fail(char *err, size_t errlen, emim_status s, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return s;
}

static const struct {
    int code, size;
    const char *name;
    int ok;
} dtypes[] = {
    { 2, 1, "uint8", 1 },     { 256, 1, "int8", 1 },      { 4, 2, "int16", 1 },      { 512, 2, "uint16", 1 },
    { 8, 4, "int32", 1 },     { 768, 4, "uint32", 1 },    { 16, 4, "float32", 1 },   { 64, 8, "float64", 1 },
    { 1, 0, "binary", 0 },    { 32, 8, "complex64", 0 },  { 128, 3, "rgb24", 0 },    { 1024, 8, "int64", 0 },
    { 1280, 8, "uint64", 0 }, { 1536, 16, "float128", 0 }, { 1792, 16, "complex128", 0 },
    { 2048, 32, "complex256", 0 }, { 2304, 4, "rgba32", 0 },
};

static int dtype_index(int code)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].code == code) return (int)i;
    return -1;
}

const char *emim_nifti_type_name(int datatype)
{
    int i = dtype_index(datatype);
    return i < 0 ? NULL : dtypes[i].name;
}

int emim_nifti_type_supported(int datatype)
{
    int i = dtype_index(datatype);
    return i >= 0 && dtypes[i].ok;
}

void emim_volume_free(emim_volume *v)
{
    if (!v) return;
    free(v->data);
    v->data = NULL;
}

/* ---- stage 1: the raw header ---- */

static uint16_t sw16(uint16_t x) { return (uint16_t)(x >> 8 | x << 8); }
static uint32_t sw32(uint32_t x) { return x >> 24 | (x >> 8 & 0xff00u) | (x << 8 & 0xff0000u) | x << 24; }
static uint64_t sw64(uint64_t x) { return (uint64_t)sw32((uint32_t)x) << 32 | sw32((uint32_t)(x >> 32)); }

typedef struct {
    const unsigned char *b;
    int swap;
} raw;
static int16_t r16(raw r, int off) { uint16_t x; memcpy(&x, r.b + off, 2); return (int16_t)(r.swap ? sw16(x) : x); }
static int32_t r32(raw r, int off) { uint32_t x; memcpy(&x, r.b + off, 4); return (int32_t)(r.swap ? sw32(x) : x); }
static int64_t r64(raw r, int off) { uint64_t x; memcpy(&x, r.b + off, 8); return (int64_t)(r.swap ? sw64(x) : x); }
static float rf32(raw r, int off) { uint32_t x; float f; memcpy(&x, r.b + off, 4); if (r.swap) x = sw32(x); memcpy(&f, &x, 4); return f; }
static double rf64(raw r, int off) { uint64_t x; double f; memcpy(&x, r.b + off, 8); if (r.swap) x = sw64(x); memcpy(&f, &x, 8); return f; }

/* What stage 1 learns from the header. */
typedef struct {
    int version, pair, swap, datatype, nbyper;
    int64_t dim[8], nvox, vox_offset;
    double slope, inter;
} rawhdr;

static int is_gzip_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char m[2] = { 0, 0 };
    if (!f) return 0;
    size_t n = fread(m, 1, 2, f);
    fclose(f);
    return n == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

static const char *gz_message(gzFile g)
{
    int code = 0;
    const char *m = gzerror(g, &code);
    return code == Z_OK || !m || !*m ? NULL : m;
}

static emim_status check_raw_header(const char *path, rawhdr *h, char *err, size_t errlen)
{
    unsigned char b[540];
    memset(h, 0, sizeof *h);
    struct stat st;
    if (stat(path, &st) != 0) return emim_fail(err, errlen, EMIM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return emim_fail(err, errlen, EMIM_ERR_IO, "%s: not a regular file", path);
    gzFile g = gzopen(path, "rb");
    if (!g) return emim_fail(err, errlen, EMIM_ERR_IO, "%s: cannot open: %s", path, strerror(errno ? errno : ENOENT));
    int n = gzread(g, b, sizeof b);
    /* a short gzip stream says why (zlib: unexpected end of file) */
    const char *zm = n < (int)sizeof b ? gz_message(g) : NULL;
    if (n < 0 || (n < 348 && zm)) {
        emim_status s = emim_fail(err, errlen, EMIM_ERR_IO, "%s: truncated or corrupt gzip data (zlib: %s)", path,
                                  zm ? zm : "read error");
        gzclose(g);
        return s;
    }
    gzclose(g);
    if (n < 348) return emim_fail(err, errlen, EMIM_ERR_IO, "%s: %d bytes: too short for a NIfTI header", path, n);
    raw r = { b, 0 };
    int32_t sz = r32(r, 0);
    if (sz != 348 && sz != 540) {
        r.swap = 1;
        sz = r32(r, 0);
    }
    if (sz != 348 && sz != 540)
        return emim_fail(err, errlen, EMIM_ERR_IO, "%s: not a NIfTI file (sizeof_hdr is neither 348 nor 540)", path);
    h->swap = r.swap;
    h->version = sz == 348 ? 1 : 2;
    if (h->version == 2 && n < 540)
        return emim_fail(err, errlen, EMIM_ERR_IO, "%s: %d bytes: too short for a NIfTI-2 header", path, n);
    if (h->version == 1) {
        if (!memcmp(b + 344, "n+1", 4)) h->pair = 0;
        else if (!memcmp(b + 344, "ni1", 4)) h->pair = 1;
        else return emim_fail(err, errlen, EMIM_ERR_IO, "%s: no NIfTI-1 magic (an ANALYZE 7.5 file?)", path);
        for (int i = 0; i < 8; i++) h->dim[i] = r16(r, 40 + 2 * i);
        h->datatype = r16(r, 70);
        float vo = rf32(r, 108);
        if (!isfinite(vo) || vo < 0 || vo > 2147483647.0f)
            return emim_fail(err, errlen, EMIM_ERR_IO, "%s: vox_offset %g is not a valid offset", path, (double)vo);
        h->vox_offset = (int64_t)vo;
        h->slope = rf32(r, 112);
        h->inter = rf32(r, 116);
    } else {
        /* the last four bytes of the magic (\r\n\032\n) are not checked:
         * niftilib 3.0.1 writes zeros there in a pair's header */
        if (!memcmp(b + 4, "n+2", 4)) h->pair = 0;
        else if (!memcmp(b + 4, "ni2", 4)) h->pair = 1;
        else return emim_fail(err, errlen, EMIM_ERR_IO, "%s: no NIfTI-2 magic", path);
        for (int i = 0; i < 8; i++) h->dim[i] = r64(r, 16 + 8 * i);
        h->datatype = r16(r, 12);
        h->vox_offset = r64(r, 168);
        if (h->vox_offset < 0 || h->vox_offset > ((int64_t)1 << 40))
            return emim_fail(err, errlen, EMIM_ERR_IO, "%s: vox_offset %lld is not a valid offset", path,
                             (long long)h->vox_offset);
        h->slope = rf64(r, 176);
        h->inter = rf64(r, 184);
    }
    if (!h->pair && h->vox_offset < sz)
        return emim_fail(err, errlen, EMIM_ERR_IO, "%s: vox_offset %lld lies inside the %d-byte header", path,
                         (long long)h->vox_offset, (int)sz);
    if (h->dim[0] < 1 || h->dim[0] > 7)
        return emim_fail(err, errlen, EMIM_ERR_IO, "%s: dim[0] is %lld (must be 1 to 7)", path, (long long)h->dim[0]);
    h->nvox = 1;
    for (int i = 1; i <= h->dim[0]; i++) {
        if (h->dim[i] < 1)
            return emim_fail(err, errlen, EMIM_ERR_IO, "%s: dim[%d] is %lld (must be at least 1)", path, i,
                             (long long)h->dim[i]);
        if (h->dim[i] > EMIM_NIFTI_MAX_VOXELS / h->nvox)
            return emim_fail(err, errlen, EMIM_ERR_IO, "%s: dimensions %lld x ... exceed the limit of %lld voxels",
                             path, (long long)h->dim[1], (long long)EMIM_NIFTI_MAX_VOXELS);
        h->nvox *= h->dim[i];
    }
    for (int i = h->dim[0] + 1; i < 8; i++) h->dim[i] = 1;
    for (int i = 5; i <= h->dim[0]; i++)
        if (h->dim[i] > 1)
            return emim_fail(err, errlen, EMIM_ERR_UNSUPPORTED, "%s: dim[%d] is %lld: volumes of more than 4 "
                             "dimensions are not supported", path, i, (long long)h->dim[i]);
    int di = dtype_index(h->datatype);
    if (di < 0 || !dtypes[di].ok) {
        if (di < 0)
            return emim_fail(err, errlen, EMIM_ERR_UNSUPPORTED, "%s: unknown datatype code %d", path, h->datatype);
        return emim_fail(err, errlen, EMIM_ERR_UNSUPPORTED, "%s: datatype %s (%d) is not supported (uint8, int8, "
                         "int16, uint16, int32, uint32, float32 and float64 are)", path, dtypes[di].name, h->datatype);
    }
    h->nbyper = dtypes[di].size;
    if (!(h->slope != 0 && isfinite(h->slope))) { h->slope = 1; h->inter = 0; }
    else if (!isfinite(h->inter)) h->inter = 0;
    return EMIM_OK;
}

/* Does the data file hold vox_offset + nvox * nbyper bytes? Exact for a
 * plain file; for gzip, bounded by deflate's largest expansion. */
static emim_status check_data_size(const char *path, const rawhdr *h, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return emim_fail(err, errlen, EMIM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return emim_fail(err, errlen, EMIM_ERR_IO, "%s: not a regular file", path);
    int64_t need = h->vox_offset + h->nvox * h->nbyper;
    if (is_gzip_file(path)) {
        int64_t most = (int64_t)st.st_size * EMIM_GZIP_MAX_RATIO + 4096;
        if (need > most)
            return emim_fail(err, errlen, EMIM_ERR_IO, "%s: the header claims %lld bytes of data at offset %lld, more "
                             "than %lld compressed bytes can hold", path, (long long)(need - h->vox_offset),
                             (long long)h->vox_offset, (long long)st.st_size);
    } else if (need > (int64_t)st.st_size) {
        return emim_fail(err, errlen, EMIM_ERR_IO, "%s: the header claims %lld bytes of data at offset %lld, but the "
                         "file has %lld bytes", path, (long long)(need - h->vox_offset), (long long)h->vox_offset,
                         (long long)st.st_size);
    }
    return EMIM_OK;
}

/* ---- stage 3: the data ---- */

static double load_value(const unsigned char *p, int datatype, int swap)
{
    switch (datatype) {
    case 2: return *p;
    case 256: return (int8_t)*p;
    case 4: { uint16_t x; memcpy(&x, p, 2); if (swap) x = sw16(x); return (int16_t)x; }
    case 512: { uint16_t x; memcpy(&x, p, 2); if (swap) x = sw16(x); return x; }
    case 8: { uint32_t x; memcpy(&x, p, 4); if (swap) x = sw32(x); return (int32_t)x; }
    case 768: { uint32_t x; memcpy(&x, p, 4); if (swap) x = sw32(x); return x; }
    case 16: { uint32_t x; float f; memcpy(&x, p, 4); if (swap) x = sw32(x); memcpy(&f, &x, 4); return f; }
    case 64: { uint64_t x; double f; memcpy(&x, p, 8); if (swap) x = sw64(x); memcpy(&f, &x, 8); return f; }
    }
    return NAN;
}

/* The raw data is read into a buffer that grows as it arrives (doubling),
 * and the volume's floats are allocated only once all of it has arrived:
 * what a file makes the reader allocate is bounded by the data it really
 * holds, not by what its header claims (a few compressed bytes can claim
 * gigabytes). */
static emim_status read_data(emim_volume *v, const char *dpath, const rawhdr *h, char *err, size_t errlen)
{
    int64_t nx = v->nx, ny = v->ny, nz = v->nz, nc = v->nc;
    size_t total = (size_t)h->nvox * (size_t)h->nbyper, cap = 0, got = 0;
    unsigned char *data = NULL, *buf = NULL;
    v->data = NULL;
    emim_status s = EMIM_OK;
    gzFile g = gzopen(dpath, "rb");
    if (!g) {
        s = emim_fail(err, errlen, EMIM_ERR_IO, "%s: cannot open: %s", dpath, strerror(errno ? errno : ENOENT));
        goto out;
    }
    gzbuffer(g, 1 << 17);
    if (gzseek(g, (z_off_t)h->vox_offset, SEEK_SET) != (z_off_t)h->vox_offset) {
        const char *m = gz_message(g);
        s = emim_fail(err, errlen, EMIM_ERR_IO, "%s: %s before the data at offset %lld", dpath,
                      m ? m : "the file ends", (long long)h->vox_offset);
        goto out;
    }
    while (got < total) {
        if (got == cap) {
            size_t ncap = cap ? (cap > total / 2 ? total : 2 * cap) : (total < (1u << 20) ? total : 1u << 20);
            unsigned char *r = realloc(data, ncap);
            if (!r) {
                s = emim_fail(err, errlen, EMIM_ERR_NOMEM, "%s: out of memory for %lld data bytes", dpath,
                              (long long)ncap);
                goto out;
            }
            data = r;
            cap = ncap;
        }
        unsigned chunk = cap - got > (1u << 30) ? 1u << 30 : (unsigned)(cap - got);
        int n = gzread(g, data + got, chunk);
        if (n <= 0) {
            const char *m = n < 0 ? gz_message(g) : NULL;
            if (m)
                s = emim_fail(err, errlen, EMIM_ERR_IO, "%s: corrupt gzip data after %lld of %lld data bytes "
                              "(zlib: %s)", dpath, (long long)got, (long long)total, m);
            else
                s = emim_fail(err, errlen, EMIM_ERR_IO, "%s: truncated: the data ends after %lld of %lld bytes", dpath,
                              (long long)got, (long long)total);
            goto out;
        }
        got += (size_t)n;
    }
    v->data = malloc((size_t)h->nvox * sizeof(float));
    if (!v->data) {
        s = emim_fail(err, errlen, EMIM_ERR_NOMEM, "%s: out of memory for %lld voxels", dpath, (long long)h->nvox);
        goto out;
    }
    for (int64_t c = 0; c < nc; c++)
        for (int64_t z = 0; z < nz; z++)
            for (int64_t y = 0; y < ny; y++)
                for (int64_t x = 0; x < nx; x++) {
                    const unsigned char *p = data + (size_t)(((c * nz + z) * ny + y) * nx + x) * h->nbyper;
                    double r = load_value(p, h->datatype, h->swap);
                    double d = r * h->slope + h->inter;
                    float f = (float)d;
                    if (!isfinite(f)) {
                        const char *what = isnan(r)   ? "NaN"
                                           : isinf(r) ? "infinite"
                                                      : "too large for float32 after scaling";
                        char at[96];
                        int k = snprintf(at, sizeof at, "%lld, %lld, %lld", (long long)x, (long long)y, (long long)z);
                        if (nc > 1) snprintf(at + k, sizeof at - (size_t)k, ", %lld", (long long)c);
                        s = emim_fail(err, errlen, EMIM_ERR_IO, "%s: voxel (%s) is %s", dpath, at, what);
                        goto out;
                    }
                    v->data[((c * nx + x) * ny + y) * nz + z] = f;
                }
    free(data);
    data = NULL;
    buf = malloc(65536);
    if (!buf) {
        s = emim_fail(err, errlen, EMIM_ERR_NOMEM, "%s: out of memory", dpath);
        goto out;
    }
    /* Read on to the end of the stream so that zlib checks the CRC-32 of
     * compressed data (at most 64 MiB of trailing bytes are looked at). */
    if (!gzdirect(g)) {
        int64_t trailing = 0;
        for (;;) {
            int n = gzread(g, buf, 65536u);
            if (n < 0) {
                const char *m = gz_message(g);
                s = emim_fail(err, errlen, EMIM_ERR_IO, "%s: corrupt gzip data (zlib: %s)", dpath, m ? m : "read error");
                goto out;
            }
            trailing += n;
            if (n == 0 || trailing > (64 << 20)) break;
        }
    }
out:
    if (g) gzclose(g);
    free(data);
    free(buf);
    if (s) emim_volume_free(v);
    return s;
}

static void set_affine(emim_volume *v, const nifti_image *nim)
{
    memset(v->affine, 0, sizeof v->affine);
    if (v->sform_code > 0) {
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) v->affine[i][j] = nim->sto_xyz.m[i][j];
    } else if (v->qform_code > 0) {
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) v->affine[i][j] = nim->qto_xyz.m[i][j];
    } else {
        for (int i = 0; i < 3; i++) v->affine[i][i] = v->pixdim[i];
        v->affine[3][3] = 1;
    }
}

emim_status emim_nifti_read(emim_volume *v, const char *path, int read_data_too, char *err, size_t errlen)
{
    memset(v, 0, sizeof *v);
    rawhdr h;
    emim_status s = check_raw_header(path, &h, err, errlen);
    if (s) return s;
    nifti_set_debug_level(0);
    nifti_image *nim = nifti_image_read(path, 0);
    if (!nim) return emim_fail(err, errlen, EMIM_ERR_IO, "%s: niftilib cannot read the header", path);
    if (nim->datatype != h.datatype || nim->nvox != h.nvox || nim->iname_offset != h.vox_offset) {
        nifti_image_free(nim);
        return emim_fail(err, errlen, EMIM_ERR_IO, "%s: niftilib reads this header differently (is a .nii file "
                         "gzipped without the .gz name?)", path);
    }
    v->nx = (int)h.dim[1];
    v->ny = (int)h.dim[2];
    v->nz = (int)h.dim[3];
    v->nc = (int)h.dim[4];
    for (int i = 0; i < 3; i++) v->pixdim[i] = (float)nim->pixdim[i + 1];
    v->qform_code = nim->qform_code;
    v->sform_code = nim->sform_code;
    v->quatern[0] = (float)nim->quatern_b;
    v->quatern[1] = (float)nim->quatern_c;
    v->quatern[2] = (float)nim->quatern_d;
    v->qoffset[0] = (float)nim->qoffset_x;
    v->qoffset[1] = (float)nim->qoffset_y;
    v->qoffset[2] = (float)nim->qoffset_z;
    v->qfac = (float)nim->qfac;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) v->srow[i][j] = (float)nim->sto_xyz.m[i][j];
    set_affine(v, nim);
    v->datatype = h.datatype;
    v->version = h.version;
    char *dpath = nifti_strdup(nim->iname ? nim->iname : path);
    nifti_image_free(nim);
    if (!dpath) return emim_fail(err, errlen, EMIM_ERR_NOMEM, "%s: out of memory", path);
    s = check_data_size(dpath, &h, err, errlen);
    if (!s && read_data_too) s = read_data(v, dpath, &h, err, errlen);
    free(dpath);
    return s;
}

int emim_volume_same_grid(const emim_volume *a, const emim_volume *b)
{
    if (a->nx != b->nx || a->ny != b->ny || a->nz != b->nz) return 0;
    double big = 0;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            big = fmax(big, fabs(a->affine[i][j]));
            big = fmax(big, fabs(b->affine[i][j]));
        }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            if (fabs(a->affine[i][j] - b->affine[i][j]) > 1e-4 * big) return 0;
    return 1;
}

/* ---- writing ---- */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static int store_value(unsigned char *p, int datatype, double d)
{
    double r = nearbyint(d);
    switch (datatype) {
    case 2: if (!(r >= 0 && r <= 255)) return 0; *p = (unsigned char)r; return 1;
    case 256: if (!(r >= -128 && r <= 127)) return 0; *(int8_t *)p = (int8_t)r; return 1;
    case 4: { if (!(r >= -32768 && r <= 32767)) return 0; int16_t x = (int16_t)r; memcpy(p, &x, 2); return 1; }
    case 512: { if (!(r >= 0 && r <= 65535)) return 0; uint16_t x = (uint16_t)r; memcpy(p, &x, 2); return 1; }
    case 8: { if (!(r >= -2147483648.0 && r <= 2147483647.0)) return 0; int32_t x = (int32_t)r; memcpy(p, &x, 4); return 1; }
    case 768: { if (!(r >= 0 && r <= 4294967295.0)) return 0; uint32_t x = (uint32_t)r; memcpy(p, &x, 4); return 1; }
    case 16: { float x = (float)d; memcpy(p, &x, 4); return 1; }
    case 64: { memcpy(p, &d, 8); return 1; }
    }
    return 0;
}

emim_status emim_nifti_write_as(const char *path, const emim_volume *v, int datatype, int version, double slope,
                                double inter, char *err, size_t errlen)
{
    int di = dtype_index(datatype);
    if (di < 0 || !dtypes[di].ok)
        return emim_fail(err, errlen, EMIM_ERR_ARG, "%s: cannot write datatype %d", path, datatype);
    if (version != 1 && version != 2)
        return emim_fail(err, errlen, EMIM_ERR_ARG, "%s: NIfTI version %d (1 or 2)", path, version);
    if (!v->data || v->nx < 1 || v->ny < 1 || v->nz < 1 || v->nc < 1)
        return emim_fail(err, errlen, EMIM_ERR_ARG, "%s: the volume has no data", path);
    int pair = ends_with(path, ".hdr") || ends_with(path, ".hdr.gz");
    if (!pair && !ends_with(path, ".nii") && !ends_with(path, ".nii.gz"))
        return emim_fail(err, errlen, EMIM_ERR_ARG, "%s: a NIfTI file name ends in .nii, .nii.gz, .hdr or .hdr.gz", path);
    int64_t dims[8] = { v->nc > 1 ? 4 : 3, v->nx, v->ny, v->nz, v->nc, 1, 1, 1 };
    nifti_set_debug_level(0);
    nifti_image *nim = nifti_make_new_nim(dims, datatype, 0);
    if (!nim) return emim_fail(err, errlen, EMIM_ERR_NOMEM, "%s: niftilib cannot make the header", path);
    int64_t nx = v->nx, ny = v->ny, nz = v->nz, nc = v->nc, sz = dtypes[di].size;
    size_t nvox = (size_t)(nx * ny * nz * nc);
    unsigned char *d = malloc(nvox * (size_t)sz);
    if (!d) {
        nifti_image_free(nim);
        return emim_fail(err, errlen, EMIM_ERR_NOMEM, "%s: out of memory", path);
    }
    int sc = slope != 0 && datatype != 16 && datatype != 64;
    for (int64_t c = 0; c < nc; c++)
        for (int64_t z = 0; z < nz; z++)
            for (int64_t y = 0; y < ny; y++)
                for (int64_t x = 0; x < nx; x++) {
                    double val = v->data[((c * nx + x) * ny + y) * nz + z];
                    if (sc) val = (val - inter) / slope;
                    if (!store_value(d + (size_t)(((c * nz + z) * ny + y) * nx + x) * sz, datatype, val)) {
                        free(d);
                        nifti_image_free(nim);
                        return emim_fail(err, errlen, EMIM_ERR_ARG, "%s: value %g at voxel (%lld, %lld, %lld) does "
                                         "not fit %s", path, val, (long long)x, (long long)y, (long long)z,
                                         dtypes[di].name);
                    }
                }
    for (int i = 0; i < 3; i++) nim->pixdim[i + 1] = v->pixdim[i];
    nim->dx = v->pixdim[0];
    nim->dy = v->pixdim[1];
    nim->dz = v->pixdim[2];
    nim->qform_code = v->qform_code;
    nim->sform_code = v->sform_code;
    nim->quatern_b = v->quatern[0];
    nim->quatern_c = v->quatern[1];
    nim->quatern_d = v->quatern[2];
    nim->qoffset_x = v->qoffset[0];
    nim->qoffset_y = v->qoffset[1];
    nim->qoffset_z = v->qoffset[2];
    nim->qfac = v->qfac < 0 ? -1 : 1;
    nim->pixdim[0] = nim->qfac;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) nim->sto_xyz.m[i][j] = v->srow[i][j];
    nim->sto_xyz.m[3][0] = nim->sto_xyz.m[3][1] = nim->sto_xyz.m[3][2] = 0;
    nim->sto_xyz.m[3][3] = 1;
    if (sc) {
        nim->scl_slope = slope;
        nim->scl_inter = inter;
    }
    nim->xyz_units = NIFTI_UNITS_MM;
    nim->nifti_type = version == 1 ? (pair ? NIFTI_FTYPE_NIFTI1_2 : NIFTI_FTYPE_NIFTI1_1)
                                   : (pair ? NIFTI_FTYPE_NIFTI2_2 : NIFTI_FTYPE_NIFTI2_1);
    /* niftilib makes the header; we write the bytes, because its writer
     * reports no errors (and 3.0.1 writes single-file NIfTI-2 as a pair). */
    nifti_set_iname_offset(nim, version);
    nifti_1_header h1;
    nifti_2_header h2;
    int bad = version == 1 ? nifti_convert_nim2n1hdr(nim, &h1) : nifti_convert_nim2n2hdr(nim, &h2);
    int64_t offset = nim->iname_offset;
    nifti_image_free(nim); /* its data pointer is NULL: d stays ours */
    nim = NULL;
    if (bad) {
        free(d);
        return emim_fail(err, errlen, EMIM_ERR_ARG, "%s: niftilib cannot make the header", path);
    }
    /* niftilib 3.0.1 knows only NIfTI-1 single files: it gives a single
     * NIfTI-2 file the pair's magic and offset 0. Set both as the standard says. */
    if (version == 2) {
        memcpy(h2.magic, pair ? "ni2\0\r\n\032\n" : "n+2\0\r\n\032\n", 8);
        h2.vox_offset = pair ? 0 : 544;
    }
    offset = pair ? 0 : version == 1 ? 352 : 544;
    const void *hdr = version == 1 ? (const void *)&h1 : (const void *)&h2;
    size_t hsize = version == 1 ? sizeof h1 : sizeof h2;
    char *ipath = NULL;
    if (pair) {
        size_t n = strlen(path);
        ipath = malloc(n + 1);
        if (!ipath) return emim_fail(err, errlen, EMIM_ERR_NOMEM, "%s: out of memory", path);
        memcpy(ipath, path, n + 1);
        memcpy(ipath + n - (ends_with(path, ".gz") ? 6 : 3), "img", 3);
    }
    emim_status st = EMIM_OK;
    gzFile g = gzopen(path, ends_with(path, ".gz") ? "wb6" : "wbT");
    if (!g) st = emim_fail(err, errlen, EMIM_ERR_IO, "%s: cannot create: %s", path, strerror(errno ? errno : EIO));
    static const char zero[16];
    if (!st && gzwrite(g, hdr, (unsigned)hsize) != (int)hsize) st = EMIM_ERR_IO;
    if (!st && !pair && gzwrite(g, zero, (unsigned)(offset - (int64_t)hsize)) != (int)(offset - (int64_t)hsize))
        st = EMIM_ERR_IO;
    if (!st && pair) {
        if (gzclose(g) != Z_OK) st = EMIM_ERR_IO;
        g = gzopen(ipath, ends_with(ipath, ".gz") ? "wb6" : "wbT");
        if (!g) st = emim_fail(err, errlen, EMIM_ERR_IO, "%s: cannot create: %s", ipath, strerror(errno ? errno : EIO));
    }
    size_t bytes = nvox * (size_t)sz;
    for (size_t done = 0; !st && done < bytes;) {
        unsigned chunk = bytes - done > (1u << 30) ? 1u << 30 : (unsigned)(bytes - done);
        if (gzwrite(g, d + done, chunk) != (int)chunk) st = EMIM_ERR_IO;
        done += chunk;
    }
    if (g && gzclose(g) != Z_OK && !st) st = EMIM_ERR_IO;
    if (st == EMIM_ERR_IO && err && !strstr(err, path))
        emim_fail(err, errlen, EMIM_ERR_IO, "%s: write failed: %s", pair ? ipath : path, strerror(errno ? errno : EIO));
    free(ipath);
    free(d);
    return st;
}

emim_status emim_nifti_write(const char *path, const emim_volume *v, char *err, size_t errlen)
{
    int gz = ends_with(path, ".nii.gz");
    if (!gz && !ends_with(path, ".nii"))
        return emim_fail(err, errlen, EMIM_ERR_ARG, "%s: the name must end in .nii or .nii.gz", path);
    size_t nv = (size_t)v->nx * v->ny * v->nz;
    for (size_t i = 0; v->data && i < nv * (size_t)v->nc; i++)
        if (!isfinite(v->data[i])) {
            size_t c = i / nv, r = i % nv, x = r / ((size_t)v->ny * v->nz), y = r / v->nz % v->ny, z = r % v->nz;
            return emim_fail(err, errlen, EMIM_ERR_ARG, "%s: not written: voxel (%zu, %zu, %zu, %zu) is %s", path, x, y,
                             z, c, isnan(v->data[i]) ? "NaN" : "infinite");
        }
    size_t n = strlen(path) + 64;
    char *tmp = malloc(n);
    if (!tmp) return emim_fail(err, errlen, EMIM_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, n, "%.*s.tmp%ld%s", (int)(strlen(path) - (gz ? 7 : 4)), path, (long)getpid(), gz ? ".nii.gz" : ".nii");
    emim_status s = emim_nifti_write_as(tmp, v, 16, 1, 0, 0, err, errlen);
    if (!s) {
        emim_volume back;
        char e2[512];
        s = emim_nifti_read(&back, tmp, 1, e2, sizeof e2);
        if (s)
            emim_fail(err, errlen, EMIM_ERR_IO, "%s: the written file does not read back: %s", path, e2);
        else if (back.nx != v->nx || back.ny != v->ny || back.nz != v->nz || back.nc != v->nc ||
                 memcmp(back.data, v->data, (size_t)v->nx * v->ny * v->nz * v->nc * sizeof(float)))
            s = emim_fail(err, errlen, EMIM_ERR_IO, "%s: the written file reads back different data", path);
        emim_volume_free(&back);
    }
    if (!s && rename(tmp, path) != 0)
        s = emim_fail(err, errlen, EMIM_ERR_IO, "%s: cannot rename %s onto it: %s", path, tmp, strerror(errno));
    if (s) unlink(tmp);
    free(tmp);
    return s;
}
