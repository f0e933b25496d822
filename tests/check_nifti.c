/* NIfTI reading and writing: fixtures written by nibabel (see
 * tools/make_nifti_fixtures.py) read as they should; round trips of every
 * datatype in NIfTI-1 and NIfTI-2, .nii, .nii.gz and .hdr/.img; every kind
 * of bad input gives a one-line error naming the file, with memory capped
 * so that a huge allocation would fail the test; and a fuzz of the header. */
#include "testutil.h"
#include "data/data.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

static char dir[4096];

static void make_dir(void) { test_make_dir(dir, sizeof dir, "check_nifti"); }
static void remove_dir(void) { test_remove_dir(dir); }

static const char *in_dir(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

/* No allocation of more than 1 GiB can succeed in this process.
 * EMIM_TEST_NO_MEMCAP=1 turns it off (AddressSanitizer needs more address space). */
static void cap_memory(void)
{
    if (getenv("EMIM_TEST_NO_MEMCAP")) {
        printf("EMIM_TEST_NO_MEMCAP: the 1 GiB address-space cap is off (a sanitizer build): the hostile files "
               "are checked for their messages, not for the size of what they make the reader allocate\n");
        return;
    }
    struct rlimit r = { (rlim_t)1 << 30, (rlim_t)1 << 30 };
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &r), 0);
}

static double fixture_value(int x, int y, int z, int c, int off, int is_float, double slope, double inter)
{
    double raw = (x + 3 * y + 5 * z + 7 * c) % 23 - off;
    return is_float ? raw * 0.5 + 0.25 : raw * slope + inter;
}

START_TEST(nibabel_fixtures)
{
    const char *src = getenv("EMIM_SRCDIR") ? getenv("EMIM_SRCDIR") : ".";
    char path[4096], line[4096];
    snprintf(path, sizeof path, "%s/tests/data/nifti/manifest.tsv", src);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s: cannot open", path);
    int files = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        char name[256];
        int code, ver, nx, ny, nz, nc, off, is_float, qcode, scode, used = 0;
        double slope, inter, pix[3], aff[16];
        ck_assert_int_eq(sscanf(line, "%255s %d %d %d %d %d %d %lf %lf %d %d %d %d %lf %lf %lf%n", name, &code, &ver,
                                &nx, &ny, &nz, &nc, &slope, &inter, &off, &is_float, &qcode, &scode, &pix[0], &pix[1],
                                &pix[2], &used), 16);
        const char *p = line + used;
        for (int i = 0; i < 16; i++) {
            int k = 0;
            ck_assert_int_eq(sscanf(p, "%lf%n", &aff[i], &k), 1);
            p += k;
        }
        char file[4096], err[512];
        snprintf(file, sizeof file, "%s/tests/data/nifti/%s", src, name);
        emim_volume v;
        ck_assert_msg(emim_nifti_read(&v, file, 1, err, sizeof err) == EMIM_OK, "%s", err);
        ck_assert_int_eq(v.datatype, code);
        ck_assert_int_eq(v.version, ver);
        ck_assert_int_eq(v.nx, nx);
        ck_assert_int_eq(v.ny, ny);
        ck_assert_int_eq(v.nz, nz);
        ck_assert_int_eq(v.nc, nc);
        ck_assert_int_eq(v.qform_code, qcode);
        ck_assert_int_eq(v.sform_code, scode);
        for (int i = 0; i < 3; i++) ck_assert_msg(fabs(v.pixdim[i] - pix[i]) < 1e-6, "%s: pixdim[%d]", name, i);
        for (int i = 0; i < 16; i++)
            ck_assert_msg(fabs(v.affine[i / 4][i % 4] - aff[i]) < 1e-5, "%s: affine[%d][%d] is %g, nibabel says %g",
                          name, i / 4, i % 4, v.affine[i / 4][i % 4], aff[i]);
        for (int c = 0; c < nc; c++)
            for (int x = 0; x < nx; x++)
                for (int y = 0; y < ny; y++)
                    for (int z = 0; z < nz; z++) {
                        float want = (float)fixture_value(x, y, z, c, off, is_float, slope, inter);
                        float got = v.data[(((size_t)c * nx + x) * ny + y) * nz + z];
                        ck_assert_msg(got == want, "%s: voxel (%d,%d,%d,%d) is %g, expected %g", name, x, y, z, c,
                                      got, want);
                    }
        emim_volume_free(&v);
        files++;
    }
    fclose(f);
    ck_assert_int_ge(files, 11);
}
END_TEST

/* A 4D volume [2, 6, 5, 4] with geometry, values that every datatype holds. */
static emim_volume test_volume(int is_signed)
{
    emim_volume v;
    memset(&v, 0, sizeof v);
    v.nx = 6; v.ny = 5; v.nz = 4; v.nc = 2;
    v.pixdim[0] = 1.25f; v.pixdim[1] = 0.75f; v.pixdim[2] = 3.0f;
    v.qform_code = 1; v.sform_code = 4;
    v.quatern[0] = 0.0f; v.quatern[1] = 0.0f; v.quatern[2] = 0.5f; /* 60 degrees about z */
    v.qoffset[0] = -4.5f; v.qoffset[1] = 2.0f; v.qoffset[2] = 7.25f;
    v.qfac = -1;
    float s[3][4] = { { 1.25f, 0.1f, 0, -3 }, { 0, 0.75f, 0.2f, 4 }, { 0.05f, 0, 3, 5.5f } };
    memcpy(v.srow, s, sizeof s);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) v.affine[i][j] = s[i][j];
    v.affine[3][3] = 1;
    size_t n = 6 * 5 * 4 * 2;
    v.data = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) v.data[i] = (float)((int)(i * 37 % 101) - (is_signed ? 50 : 0));
    return v;
}

START_TEST(round_trips)
{
    static const int types[] = { 2, 256, 4, 512, 8, 768, 16, 64 };
    static const char *exts[] = { ".nii", ".nii.gz", ".hdr", ".hdr.gz" };
    make_dir();
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
        for (int ver = 1; ver <= 2; ver++)
            for (int e = 0; e < 4; e++) {
                int is_signed = types[t] != 2 && types[t] != 512 && types[t] != 768;
                emim_volume v = test_volume(is_signed);
                char name[64], path[4200], err[512];
                snprintf(name, sizeof name, "rt_%s_%d%s", emim_nifti_type_name(types[t]), ver, exts[e]);
                in_dir(path, sizeof path, name);
                double slope = types[t] == 4 ? 0.5 : 0, inter = types[t] == 4 ? -2 : 0;
                ck_assert_msg(emim_nifti_write_as(path, &v, types[t], ver, slope, inter, err, sizeof err) == EMIM_OK,
                              "%s", err);
                emim_volume w;
                ck_assert_msg(emim_nifti_read(&w, path, 1, err, sizeof err) == EMIM_OK, "%s: %s", name, err);
                ck_assert_int_eq(w.datatype, types[t]);
                ck_assert_int_eq(w.version, ver);
                ck_assert(w.nx == v.nx && w.ny == v.ny && w.nz == v.nz && w.nc == v.nc);
                ck_assert_msg(!memcmp(w.data, v.data, 240 * sizeof(float)), "%s: values differ", name);
                ck_assert_int_eq(w.qform_code, 1);
                ck_assert_int_eq(w.sform_code, 4);
                ck_assert(memcmp(w.srow, v.srow, sizeof v.srow) == 0);
                ck_assert(w.qfac == -1);
                for (int i = 0; i < 3; i++) {
                    ck_assert_float_eq_tol(w.quatern[i], v.quatern[i], 1e-6);
                    ck_assert_float_eq_tol(w.qoffset[i], v.qoffset[i], 1e-6);
                    ck_assert(w.pixdim[i] == v.pixdim[i]);
                }
                ck_assert(emim_volume_same_grid(&v, &w));
                emim_volume_free(&w);
                emim_volume_free(&v);
            }
    remove_dir();
}
END_TEST

START_TEST(qform_matrix)
{
    /* quatern (0, 0, 0.5): a = sqrt(0.75), a rotation by 60 degrees about z;
     * with qfac -1 the third column flips. */
    make_dir();
    emim_volume v = test_volume(0), w;
    v.sform_code = 0;
    char path[4200], err[512];
    ck_assert_int_eq(emim_nifti_write(in_dir(path, sizeof path, "q.nii"), &v, err, sizeof err), EMIM_OK);
    ck_assert_int_eq(emim_nifti_read(&w, path, 0, err, sizeof err), EMIM_OK);
    ck_assert_ptr_null(w.data);
    double c = 0.5, s = sqrt(0.75);
    double want[3][4] = { { c * 1.25, -s * 0.75, 0, -4.5 }, { s * 1.25, c * 0.75, 0, 2 }, { 0, 0, -3, 7.25 } };
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) ck_assert_msg(fabs(w.affine[i][j] - want[i][j]) < 1e-5, "[%d][%d]", i, j);
    /* no temporary file is left beside the output */
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "test $(ls '%s' | wc -l) -eq 1", dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_ne(emim_nifti_write(in_dir(path, sizeof path, "q.img"), &v, err, sizeof err), EMIM_OK);
    ck_assert_ptr_nonnull(strstr(err, "q.img"));
    emim_volume_free(&v);
    remove_dir();
}
END_TEST

/* ---- bad input ---- */

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n + 1);
    ck_assert_uint_eq(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static void spit(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static void spit_gz(const char *path, const void *b, size_t n)
{
    gzFile g = gzopen(path, "wb");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(gzwrite(g, b, (unsigned)n), (int)n);
    ck_assert_int_eq(gzclose(g), Z_OK);
}

/* reading path must fail with a message that names it and contains want */
static void expect_error(const char *path, const char *want)
{
    emim_volume v;
    char err[512] = "";
    emim_status s = emim_nifti_read(&v, path, 1, err, sizeof err);
    ck_assert_msg(s != EMIM_OK, "%s: read succeeded, expected an error with '%s'", path, want);
    ck_assert_ptr_null(v.data);
    ck_assert_msg(strstr(err, path) == err, "the error does not start with the file name: %s", err);
    ck_assert_msg(strstr(err, want) != NULL, "expected '%s' in: %s", want, err);
    ck_assert_msg(!strchr(err, '\n'), "not one line: %s", err);
}

/* writes b (gzipped or not) as name in the test folder; reading it must fail with want */
static void bad_file(const char *name, const void *b, size_t n, const char *want)
{
    char path[4200];
    spit(in_dir(path, sizeof path, name), b, n);
    expect_error(path, want);
}

static void bad_gz_file(const char *name, const void *b, size_t n, const char *want)
{
    char path[4200];
    spit_gz(in_dir(path, sizeof path, name), b, n);
    expect_error(path, want);
}

static void put16(unsigned char *b, int off, int16_t v) { memcpy(b + off, &v, 2); }
static void put32f(unsigned char *b, int off, float v) { memcpy(b + off, &v, 4); }
static void put64(unsigned char *b, int off, int64_t v) { memcpy(b + off, &v, 8); }

START_TEST(bad_input)
{
    cap_memory();
    make_dir();
    char good1[4200], good2[4200], path[4200], err[512];
    emim_volume v = test_volume(0);
    ck_assert_int_eq(emim_nifti_write_as(in_dir(good1, sizeof good1, "good1.nii"), &v, 16, 1, 0, 0, err, sizeof err), 0);
    ck_assert_int_eq(emim_nifti_write_as(in_dir(good2, sizeof good2, "good2.nii"), &v, 16, 2, 0, 0, err, sizeof err), 0);
    size_t n1, n2;
    unsigned char *g1 = slurp(good1, &n1), *g2 = slurp(good2, &n2);
    unsigned char *b = malloc(n1 > n2 ? n1 : n2);

    /* missing, empty, a folder, not NIfTI, an ANALYZE header */
    expect_error(in_dir(path, sizeof path, "missing.nii"), "cannot open");
    spit(in_dir(path, sizeof path, "empty.nii"), "", 0);
    expect_error(path, "too short");
    expect_error(dir, "not a regular file");
    spit(in_dir(path, sizeof path, "text.nii"), "hello, I am not an image\n", 25);
    expect_error(path, "too short");
    memset(b, 'x', n1);
    bad_file("junk.nii", b, n1, "not a NIfTI file");
    memcpy(b, g1, n1);
    memset(b + 344, 0, 4);
    bad_file("analyze.nii", b, n1, "no NIfTI-1 magic");

    /* truncated: data cut short, plain and gzipped; gzip stream cut short */
    bad_file("short.nii", g1, n1 - 10, "file has");
    bad_gz_file("short.nii.gz", g1, n1 - 10, "truncated");
    spit_gz(in_dir(path, sizeof path, "whole.nii.gz"), g1, n1);
    size_t nz;
    unsigned char *z = slurp(path, &nz);
    bad_file("cut.nii.gz", z, nz - 20, "truncated");
    bad_file("cut_header.nii.gz", z, 30, "truncated or corrupt gzip data");
    /* corrupt: a byte of the deflate stream, then the CRC of the trailer */
    memcpy(b, z, nz);
    b[nz / 2] ^= 0x55;
    bad_file("corrupt.nii.gz", b, nz, "corrupt gzip data");
    memcpy(b, z, nz);
    b[nz - 6] ^= 0x01;
    bad_file("crc.nii.gz", b, nz, "corrupt gzip");
    /* a CRC error after bytes beyond the image (more than zlib decodes
     * ahead): only reading on to the end of the stream finds it */
    emim_volume big = test_volume(0);
    free(big.data);
    big.nx = 96; big.ny = 80; big.nz = 40; big.nc = 1;
    big.data = malloc(96 * 80 * 40 * sizeof(float));
    for (size_t i = 0; i < 96 * 80 * 40; i++) big.data[i] = (float)(i * 2654435761u % 1000003);
    ck_assert_int_eq(emim_nifti_write_as(in_dir(path, sizeof path, "big.nii"), &big, 16, 1, 0, 0, err, sizeof err), 0);
    emim_volume_free(&big);
    size_t nb, nt;
    unsigned char *bigf = slurp(path, &nb), *longer = calloc(nb + (1 << 20), 1);
    memcpy(longer, bigf, nb);
    spit_gz(in_dir(path, sizeof path, "trailing.nii.gz"), longer, nb + (1 << 20));
    free(longer);
    free(bigf);
    emim_volume t;
    ck_assert_msg(emim_nifti_read(&t, path, 1, err, sizeof err) == EMIM_OK, "%s", err);
    emim_volume_free(&t);
    unsigned char *tz = slurp(path, &nt);
    tz[nt - 6] ^= 0x01;
    spit(in_dir(path, sizeof path, "crc_trailing.nii.gz"), tz, nt);
    free(tz);
    expect_error(path, "corrupt gzip");

    /* headers that lie about the size of the data or its offset */
    memcpy(b, g1, n1);
    put16(b, 42, 3000);
    put16(b, 44, 3000);
    bad_file("big.nii", b, n1, "the header claims");
    bad_gz_file("big.nii.gz", b, n1, "compressed bytes can hold");
    memcpy(b, g1, n1);
    put16(b, 40, 7);
    for (int i = 1; i <= 7; i++) put16(b, 40 + 2 * i, 32767);
    bad_file("huge.nii", b, n1, "exceed the limit");
    memcpy(b, g1, n1);
    put32f(b, 108, 1e6f);
    bad_file("offset.nii", b, n1, "the header claims");
    put32f(b, 108, NAN);
    bad_file("nan_offset.nii", b, n1, "vox_offset");
    put32f(b, 108, -352);
    bad_file("neg_offset.nii", b, n1, "vox_offset");
    put32f(b, 108, 100);
    bad_file("inside.nii", b, n1, "lies inside the 348-byte header");
    memcpy(b, g2, n2);
    put64(b, 168, (int64_t)1 << 50);
    bad_file("offset2.nii", b, n2, "vox_offset");

    /* absurd or negative dimensions, NIfTI-1 and NIfTI-2 */
    int16_t bad_dim0[] = { 0, 8, -1, 100 };
    for (int i = 0; i < 4; i++) {
        memcpy(b, g1, n1);
        put16(b, 40, bad_dim0[i]);
        bad_file("dim0.nii", b, n1, "dim[0]");
        memcpy(b, g2, n2);
        put64(b, 16, bad_dim0[i]);
        bad_file("dim0_2.nii", b, n2, "dim[0]");
    }
    memcpy(b, g1, n1);
    put16(b, 44, -5);
    bad_file("negdim.nii", b, n1, "dim[2] is -5");
    memcpy(b, g1, n1);
    put16(b, 42, 0);
    bad_file("zerodim.nii", b, n1, "dim[1] is 0");
    memcpy(b, g2, n2);
    put64(b, 24, -((int64_t)1 << 40));
    bad_file("negdim2.nii", b, n2, "dim[1]");
    memcpy(b, g2, n2);
    put64(b, 24, (int64_t)1 << 62);
    put64(b, 32, (int64_t)1 << 62);
    bad_file("hugedim2.nii", b, n2, "exceed the limit");
    memcpy(b, g1, n1);
    put16(b, 40, 5);
    put16(b, 48, 1);
    put16(b, 50, 2);
    bad_file("5d.nii", b, n1, "more than 4");

    /* exactly 2^31 voxels on one axis (NIfTI-2): one more than an int holds;
     * refused by the header-only read as by the full one */
    memcpy(b, g2, n2);
    put64(b, 16, 3);
    put64(b, 24, (int64_t)1 << 31);
    put64(b, 32, 1);
    put64(b, 40, 1);
    bad_file("axis2g.nii", b, n2, "exceed the limit");
    {
        emim_volume hv;
        ck_assert_int_ne(emim_nifti_read(&hv, in_dir(path, sizeof path, "axis2g.nii"), 0, err, sizeof err), EMIM_OK);
        ck_assert_ptr_nonnull(strstr(err, "exceed the limit"));
    }

    /* a gzip file whose header claims 1024 x 1024 x 520 uint8 (545 MB: 2.2 GB
     * as float) and that holds 600 KB of data, enough compressed bytes for
     * deflate's largest ratio: the reader allocates as the data arrives,
     * so under the 1 GiB cap it says "truncated", not "out of memory" */
    {
        size_t nd = 348 + 4 + 600 * 1024;
        unsigned char *claim = calloc(nd, 1);
        memcpy(claim, g1, 352);
        put16(claim, 40, 3);
        put16(claim, 42, 1024);
        put16(claim, 44, 1024);
        put16(claim, 46, 520);
        put16(claim, 48, 1);
        put16(claim, 70, 2);   /* uint8 */
        put16(claim, 72, 8);
        uint64_t x = 88172645463325252ull;
        for (size_t i = 352; i < nd; i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            claim[i] = (unsigned char)(x >> 56);
        }
        bad_gz_file("claims.nii.gz", claim, nd, "truncated: the data ends after 614400 of 545259520 bytes");
        free(claim);
    }

    /* datatypes */
    memcpy(b, g1, n1);
    put16(b, 70, 32);
    bad_file("complex.nii", b, n1, "complex64 (32) is not supported");
    put16(b, 70, 128);
    bad_file("rgb.nii", b, n1, "rgb24");
    put16(b, 70, 9999);
    bad_file("unknown.nii", b, n1, "unknown datatype code 9999");

    /* NaN and infinite voxels */
    v.data[3 * 5 * 4 + 2 * 4 + 1] = NAN; /* x 3, y 2, z 1, channel 0 */
    ck_assert_int_eq(emim_nifti_write_as(in_dir(path, sizeof path, "nan.nii.gz"), &v, 16, 1, 0, 0, err, sizeof err), 0);
    expect_error(path, "voxel (3, 2, 1, 0) is NaN");
    v.data[3 * 5 * 4 + 2 * 4 + 1] = 0;
    v.data[120 + 5] = -INFINITY; /* channel 1, x 0, y 1, z 1 */
    ck_assert_int_eq(emim_nifti_write_as(in_dir(path, sizeof path, "inf.nii"), &v, 64, 2, 0, 0, err, sizeof err), 0);
    expect_error(path, "voxel (0, 1, 1, 1) is infinite");

    /* a pair without its image */
    v.data[120 + 5] = 0;
    ck_assert_int_eq(emim_nifti_write_as(in_dir(path, sizeof path, "pair.hdr"), &v, 16, 1, 0, 0, err, sizeof err), 0);
    ck_assert_int_eq(unlink(in_dir(path, sizeof path, "pair.img")), 0);
    in_dir(path, sizeof path, "pair.hdr");
    emim_volume w;
    ck_assert_int_ne(emim_nifti_read(&w, path, 1, err, sizeof err), EMIM_OK);
    ck_assert_msg(strstr(err, "pair.") != NULL, "%s", err);

    free(b);
    free(z);
    free(g1);
    free(g2);
    emim_volume_free(&v);
    remove_dir();
}
END_TEST

/* Random changes to the header and the first data bytes of valid files, both
 * versions, plain and gzipped: every read either succeeds or fails with a
 * message naming the file; none crashes, hangs or allocates past the cap. */
START_TEST(fuzz_header)
{
    cap_memory();
    make_dir();
    char good[4200], path[4200], err[512];
    emim_volume v = test_volume(1);
    unsigned long long state = 0x9e3779b97f4a7c15ull;
    int ok = 0, failed = 0;
    for (int ver = 1; ver <= 2; ver++) {
        ck_assert_int_eq(emim_nifti_write_as(in_dir(good, sizeof good, "good.nii"), &v, 4, ver, 0, 0, err, sizeof err), 0);
        size_t n;
        unsigned char *g = slurp(good, &n), *b = malloc(n);
        for (int it = 0; it < 1500; it++) {
            memcpy(b, g, n);
            int flips = 1 + (int)(state >> 60) % 4;
            for (int k = 0; k < flips; k++) {
                state = state * 6364136223846793005ull + 1442695040888963407ull;
                size_t at = (size_t)(state >> 33) % (ver == 1 ? 360 : 560);
                state = state * 6364136223846793005ull + 1442695040888963407ull;
                b[at] = (it & 1) ? (unsigned char)(state >> 56) : b[at] ^ (unsigned char)(1u << (state >> 61));
            }
            int gz = it % 3 == 0;
            in_dir(path, sizeof path, gz ? "f.nii.gz" : "f.nii");
            if (gz) spit_gz(path, b, n);
            else spit(path, b, n);
            emim_volume w;
            err[0] = 0;
            if (emim_nifti_read(&w, path, 1, err, sizeof err) == EMIM_OK) {
                ok++;
                ck_assert_ptr_nonnull(w.data);
                emim_volume_free(&w);
            } else {
                failed++;
                ck_assert_msg(strstr(err, dir) == err && !strchr(err, '\n'), "bad message: %s", err);
            }
            unlink(path);
        }
        free(b);
        free(g);
    }
    ck_assert_int_gt(failed, 100);
    ck_assert_int_gt(ok, 100);
    emim_volume_free(&v);
    remove_dir();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("nifti");
    TCase *tc = tcase_create("nifti");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, nibabel_fixtures);
    tcase_add_test(tc, round_trips);
    tcase_add_test(tc, qform_matrix);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, fuzz_header);
    suite_add_tcase(s, tc);
    return run_suite(s, 1);
}
