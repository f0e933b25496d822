/* Preprocessing against direct definitions, and datasets: the three layouts
 * give the same samples, samples do not depend on threads, caching or
 * resuming, every epoch visits every subject once, and bad datasets give a
 * one-line error naming the file, also from the loading threads. */
#include "testutil.h"
#include "data/data.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[4096];

static void make_dir(void) { test_make_dir(dir, sizeof dir, "check_data"); }
static void remove_dir(void) { test_remove_dir(dir); }

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

START_TEST(percentile)
{
    uint64_t s = 5;
    size_t sizes[] = { 1, 2, 7, 100, 1001 };
    double ps[] = { 0, 0.5, 1, 25, 50, 99.5, 100 };
    for (size_t t = 0; t < 5; t++) {
        size_t n = sizes[t];
        float *v = malloc(n * sizeof *v), *w = malloc(n * sizeof *w), *sorted = malloc(n * sizeof *sorted);
        for (size_t i = 0; i < n; i++) v[i] = (float)(lcg(&s) % 50); /* many ties */
        memcpy(sorted, v, n * sizeof *v);
        qsort(sorted, n, sizeof *sorted, cmp_float);
        for (size_t k = 0; k < 7; k++) {
            memcpy(w, v, n * sizeof *v);
            double pos = ps[k] / 100 * (double)(n - 1);
            size_t lo = (size_t)floor(pos), hi = lo + 1 < n ? lo + 1 : lo;
            double want = sorted[lo] + (pos - (double)lo) * ((double)sorted[hi] - sorted[lo]);
            ck_assert_msg(emim_percentile(w, n, ps[k]) == want, "n %zu p %g", n, ps[k]);
        }
        free(v);
        free(w);
        free(sorted);
    }
}
END_TEST

START_TEST(normalise)
{
    enum { N = 1000 };
    float x[N], scratch[N];
    uint8_t fg[N];
    uint64_t s = 9;
    for (int i = 0; i < N; i++) {
        fg[i] = i % 4 != 0;
        x[i] = fg[i] ? (float)(lcg(&s) % 10000) * 0.25f - 100 : 0;
    }
    float y[N];
    memcpy(y, x, sizeof x);
    size_t m = 0;
    for (int i = 0; i < N; i++)
        if (fg[i]) scratch[m++] = x[i];
    double lo = emim_percentile(scratch, m, 1), hi;
    m = 0;
    for (int i = 0; i < N; i++)
        if (fg[i]) scratch[m++] = x[i];
    hi = emim_percentile(scratch, m, 99);
    emim_normalise(y, N, fg, 1, 99, scratch);
    int zeros = 0, ones = 0;
    for (int i = 0; i < N; i++) {
        if (!fg[i]) {
            ck_assert(y[i] == 0);
            continue;
        }
        double t = (x[i] - lo) / (hi - lo);
        float want = (float)(t < 0 ? 0 : t > 1 ? 1 : t);
        ck_assert_msg(y[i] == want, "voxel %d: %g, expected %g", i, y[i], want);
        zeros += y[i] == 0;
        ones += y[i] == 1;
    }
    ck_assert(zeros >= 7 && ones >= 7);
}
END_TEST

START_TEST(resample)
{
    int id[3] = { 8, 6, 10 }, same[3] = { 8, 6, 10 }, od[3] = { 4, 12, 5 };
    size_t in_n = 2 * 8 * 6 * 10, out_n = 2 * 4 * 12 * 5;
    float *in = malloc(in_n * sizeof *in), *out = malloc(out_n * sizeof *out), *copy = malloc(in_n * sizeof *in);
    /* a linear function of the voxel position is reproduced exactly at
     * interior points (trilinear interpolation), per channel */
    for (int c = 0; c < 2; c++)
        for (int x = 0; x < 8; x++)
            for (int y = 0; y < 6; y++)
                for (int z = 0; z < 10; z++)
                    in[(((size_t)c * 8 + x) * 6 + y) * 10 + z] = (float)(c * 100 + 2 * x - 3 * y + 0.5 * z);
    emim_resample(copy, same, in, id, 2);
    ck_assert_int_eq(memcmp(copy, in, in_n * sizeof *in), 0);
    emim_resample(out, od, in, id, 2);
    for (int c = 0; c < 2; c++)
        for (int x = 0; x < 4; x++)
            for (int y = 0; y < 12; y++)
                for (int z = 0; z < 5; z++) {
                    double px = (x + 0.5) * 8 / 4 - 0.5, py = (y + 0.5) * 6 / 12 - 0.5, pz = (z + 0.5) * 10 / 5 - 0.5;
                    if (py < 0 || py > 5) continue; /* clamped at the edge */
                    double want = c * 100 + 2 * px - 3 * py + 0.5 * pz;
                    ck_assert_msg(fabs(out[(((size_t)c * 4 + x) * 12 + y) * 5 + z] - want) < 1e-4, "(%d,%d,%d)", x, y, z);
                }
    free(in);
    free(out);
    free(copy);
}
END_TEST

START_TEST(crop_pad_flip_box)
{
    int id[3] = { 7, 5, 6 }, od[3] = { 4, 8, 3 };
    float in[2 * 7 * 5 * 6], out[2 * 4 * 8 * 3], twice[2 * 4 * 8 * 3];
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) in[i] = (float)i + 1;
    int starts[][3] = { { 0, 0, 0 }, { 3, -2, 3 }, { -1, -3, -1 }, { 6, 4, 5 }, { -5, 9, 2 } };
    for (int t = 0; t < 5; t++) {
        const int *st = starts[t];
        emim_crop_pad(out, od, in, id, 2, st);
        for (int c = 0; c < 2; c++)
            for (int x = 0; x < 4; x++)
                for (int y = 0; y < 8; y++)
                    for (int z = 0; z < 3; z++) {
                        int sx = x + st[0], sy = y + st[1], sz = z + st[2];
                        float want = sx >= 0 && sx < 7 && sy >= 0 && sy < 5 && sz >= 0 && sz < 6
                                         ? in[((c * 7 + sx) * 5 + sy) * 6 + sz]
                                         : 0;
                        ck_assert(out[((c * 4 + x) * 8 + y) * 3 + z] == want);
                    }
    }
    for (int a = 0; a < 3; a++) {
        memcpy(twice, out, sizeof out);
        emim_flip(twice, 2, od, a);
        for (int c = 0; c < 2; c++)
            for (int x = 0; x < 4; x++)
                for (int y = 0; y < 8; y++)
                    for (int z = 0; z < 3; z++) {
                        int p[3] = { x, y, z };
                        p[a] = od[a] - 1 - p[a];
                        ck_assert(twice[((c * 4 + x) * 8 + y) * 3 + z] == out[((c * 4 + p[0]) * 8 + p[1]) * 3 + p[2]]);
                    }
        emim_flip(twice, 2, od, a);
        ck_assert_int_eq(memcmp(twice, out, sizeof out), 0);
    }
    uint8_t fg[7 * 5 * 6] = { 0 };
    int lo[3], hi[3];
    ck_assert_int_eq(emim_foreground_box(fg, id, lo, hi), 0);
    fg[(2 * 5 + 1) * 6 + 4] = 1;
    fg[(5 * 5 + 3) * 6 + 2] = 1;
    ck_assert_int_eq(emim_foreground_box(fg, id, lo, hi), 1);
    ck_assert(lo[0] == 2 && lo[1] == 1 && lo[2] == 2 && hi[0] == 5 && hi[1] == 3 && hi[2] == 4);
}
END_TEST

/* ---- datasets ---- */

enum { NS = 5, SX = 24, SY = 20, SZ = 16, NV = SX * SY * SZ };
static const char *mods[4] = { "t1n", "t1c", "t2w", "t2f" };

static emim_volume geometry(int nc, float *data)
{
    emim_volume v;
    memset(&v, 0, sizeof v);
    v.nx = SX; v.ny = SY; v.nz = SZ; v.nc = nc;
    v.pixdim[0] = v.pixdim[1] = v.pixdim[2] = 1;
    v.qform_code = v.sform_code = 1;
    v.qfac = 1;
    for (int a = 0; a < 3; a++) v.srow[a][a] = 1;
    v.data = data;
    return v;
}

/* subject i's four modalities, scanner-like scales, zero background */
static void subject_image(float *img, int i)
{
    uint8_t lab[NV];
    ck_assert_int_eq(emim_phantom(img, lab, 4, SX, SY, SZ, 3, (uint64_t)i), EMIM_OK);
    for (int m = 0; m < 4; m++)
        for (int k = 0; k < NV; k++)
            img[m * NV + k] = lab[k] ? roundf(2 * (img[m * NV + k] * (500.0f + 300.0f * m) + 20.0f * i)) / 2 : 0.0f;
}

static void path_of(char *p, size_t n, const char *layout, int i, int m)
{
    if (!strcmp(layout, "brats"))
        snprintf(p, n, "%s/brats/S-%03d/S-%03d-%s.nii.gz", dir, i, i, mods[m]);
    else if (!strcmp(layout, "flat"))
        snprintf(p, n, "%s/flat/S-%03d-%s.nii", dir, i, mods[m]);
    else
        snprintf(p, n, "%s/4d/S-%03d.nii.gz", dir, i);
}

/* the same subjects as a BraTS folder, a TSV list of plain files and a folder of 4D files */
static void write_datasets(void)
{
    char p[4400], err[512];
    float *img = malloc(4 * NV * sizeof *img);
    snprintf(p, sizeof p, "%s/brats", dir);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/flat", dir);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/4d", dir);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/list.tsv", dir);
    FILE *list = fopen(p, "w");
    fprintf(list, "subject\tt1n\tt1c\tt2w\tt2f\n# a comment\n");
    for (int i = NS - 1; i >= 0; i--) { /* listed in reverse: the order of a list does not matter */
        subject_image(img, i);
        snprintf(p, sizeof p, "%s/brats/S-%03d", dir, i);
        ck_assert_int_eq(mkdir(p, 0755), 0);
        fprintf(list, "S-%03d", i);
        for (int m = 0; m < 4; m++) {
            emim_volume v = geometry(1, img + m * NV);
            path_of(p, sizeof p, "brats", i, m);
            ck_assert_msg(emim_nifti_write(p, &v, err, sizeof err) == EMIM_OK, "%s", err);
            path_of(p, sizeof p, "flat", i, m);
            ck_assert_msg(emim_nifti_write_as(p, &v, 4, 1, 0.5, 0, err, sizeof err) == EMIM_OK, "%s", err);
            fprintf(list, "\tflat/S-%03d-%s.nii", i, mods[m]);
        }
        fprintf(list, "\n");
        emim_volume v = geometry(4, img);
        path_of(p, sizeof p, "4d", i, 0);
        ck_assert_msg(emim_nifti_write(p, &v, err, sizeof err) == EMIM_OK, "%s", err);
        /* a segmentation beside the modalities is not a modality */
        snprintf(p, sizeof p, "%s/brats/S-%03d/S-%03d-seg.nii.gz", dir, i, i);
        v = geometry(1, img);
        ck_assert_int_eq(emim_nifti_write(p, &v, err, sizeof err), EMIM_OK);
    }
    fclose(list);
    free(img);
}

static emim_data_config config(const char *sub)
{
    static char path[4400];
    emim_data_config c;
    emim_data_config_default(&c);
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    c.path = path;
    c.size[0] = 16; c.size[1] = 12; c.size[2] = 16;
    c.seed = 11;
    c.threads = 0;
    return c;
}

static emim_data *open_ok(const emim_data_config *c)
{
    emim_data *d = NULL;
    char err[1024];
    ck_assert_msg(emim_data_open(&d, c, err, sizeof err) == EMIM_OK, "%s", err);
    return d;
}

static void open_fails(const emim_data_config *c, const char *want1, const char *want2)
{
    emim_data *d = NULL;
    char err[1024] = "";
    ck_assert_msg(emim_data_open(&d, c, err, sizeof err) != EMIM_OK, "opened, expected an error with '%s'", want1);
    ck_assert_ptr_null(d);
    ck_assert_msg(strstr(err, want1) && (!want2 || strstr(err, want2)), "expected '%s' and '%s' in: %s", want1,
                  want2 ? want2 : "", err);
    ck_assert_msg(!strchr(err, '\n'), "not one line: %s", err);
}

enum { VOL = 4 * 16 * 12 * 16 };

/* samples first .. first+n-1, in the caller */
static float *samples(emim_data *d, uint64_t first, int n)
{
    float *x = malloc((size_t)n * VOL * sizeof *x);
    char err[1024];
    for (int i = 0; i < n; i++)
        ck_assert_msg(emim_data_sample(d, first + (uint64_t)i, x + (size_t)i * VOL, err, sizeof err) == EMIM_OK, "%s", err);
    return x;
}

static int find_sample(const float *set, int n, const float *x)
{
    for (int i = 0; i < n; i++)
        if (!memcmp(set + (size_t)i * VOL, x, VOL * sizeof *x)) return i;
    return -1;
}

START_TEST(layouts_agree)
{
    make_dir();
    write_datasets();
    emim_data_config c = config("brats");
    c.random_crop = 0;
    emim_data *a = open_ok(&c);
    ck_assert_int_eq(emim_data_subjects(a), NS);
    ck_assert_str_eq(emim_data_subject(a, 0), "S-000");
    ck_assert_str_eq(emim_data_kind(a), "BraTS-layout folder");
    float *xa = samples(a, 0, 2 * NS);
    /* an epoch visits every subject once, and the next epoch in another order */
    int order_differs = 0;
    for (int i = 0; i < NS; i++) {
        int j = find_sample(xa, NS, xa + (size_t)(NS + i) * VOL);
        ck_assert_msg(j >= 0, "sample %d of epoch 1 is no sample of epoch 0", i);
        order_differs |= j != i;
        for (int k = 0; k < i; k++) ck_assert(memcmp(xa + (size_t)k * VOL, xa + (size_t)i * VOL, VOL * sizeof(float)));
    }
    ck_assert(order_differs);
    /* normalised: values in [0, 1], both ends reached */
    int zero = 0, one = 0;
    for (size_t e = 0; e < (size_t)NS * VOL; e++) {
        ck_assert(xa[e] >= 0 && xa[e] <= 1);
        zero += xa[e] == 0;
        one += xa[e] == 1;
    }
    ck_assert(zero > 0 && one > 0);
    const char *others[] = { "list.tsv", "4d" }, *kinds[] = { "TSV list", "folder of 4D files" };
    for (int o = 0; o < 2; o++) {
        emim_data_config c2 = config(others[o]);
        c2.random_crop = 0;
        emim_data *b = open_ok(&c2);
        ck_assert_str_eq(emim_data_kind(b), kinds[o]);
        ck_assert_int_eq(emim_data_subjects(b), NS);
        float *xb = samples(b, 0, NS);
        /* the list is in another order, so compare the sets of an epoch;
         * int16 with scl_slope 0.5 holds these values exactly */
        for (int i = 0; i < NS; i++)
            ck_assert_msg(find_sample(xa, NS, xb + (size_t)i * VOL) >= 0, "%s: sample %d differs", others[o], i);
        free(xb);
        emim_data_close(b);
    }
    free(xa);
    emim_data_close(a);
    remove_dir();
}
END_TEST

START_TEST(threads_cache_resume)
{
    make_dir();
    write_datasets();
    emim_data_config c = config("brats");
    c.flip = 1;
    enum { B = 3, STEPS = 6 };
    emim_data *ref = open_ok(&c);
    float *want = samples(ref, 0, B * STEPS);
    emim_data_close(ref);
    float *got = malloc((size_t)B * VOL * sizeof *got);
    char err[1024];
    int cases[][3] = { { 0, 2, 1 }, { 1, 1, 1 }, { 2, 3, 0 }, { 3, 1, 0 } }; /* threads, depth, cache */
    for (int t = 0; t < 4; t++) {
        emim_data_config c2 = c;
        c2.threads = cases[t][0];
        c2.depth = cases[t][1];
        c2.cache_bytes = cases[t][2] ? (size_t)1 << 30 : 0;
        emim_data *d = open_ok(&c2);
        for (int first = 0; first < 4; first += 3) { /* from the start, then resumed at batch 3 */
            ck_assert_int_eq(emim_data_start(d, B, (uint64_t)first, err, sizeof err), EMIM_OK);
            for (int s = first; s < STEPS; s++) {
                double wait = -1;
                ck_assert_msg(emim_data_next(d, got, &wait, err, sizeof err) == EMIM_OK, "%s", err);
                ck_assert(wait >= 0);
                ck_assert_msg(!memcmp(got, want + (size_t)s * B * VOL, (size_t)B * VOL * sizeof *got),
                              "threads %d depth %d cache %d: batch %d differs", cases[t][0], cases[t][1], cases[t][2], s);
            }
        }
        size_t bytes;
        int cached;
        emim_data_cache_stats(d, &bytes, &cached);
        ck_assert_int_eq(cached, cases[t][2] ? NS : 0);
        ck_assert(cases[t][2] ? bytes > 0 : bytes == 0);
        emim_data_close(d);
    }
    /* one rank's share of every batch (emim_data_start_share): samples lo ..
     * lo + n - 1 of each, the same as in the whole batch, with and without
     * loading threads, from the start and resumed */
    int shares[][3] = { { 0, 1, 0 }, { 1, 2, 2 }, { 2, 1, 1 }, { 0, 3, 3 } }; /* lo, count, threads */
    for (int t = 0; t < 4; t++) {
        emim_data_config c2 = c;
        c2.threads = shares[t][2];
        emim_data *d = open_ok(&c2);
        int lo = shares[t][0], n = shares[t][1];
        for (int first = 0; first < 4; first += 3) {
            ck_assert_int_eq(emim_data_start_share(d, B, lo, n, (uint64_t)first, err, sizeof err), EMIM_OK);
            for (int s = first; s < STEPS; s++) {
                ck_assert_msg(emim_data_next(d, got, NULL, err, sizeof err) == EMIM_OK, "%s", err);
                ck_assert_msg(!memcmp(got, want + ((size_t)s * B + lo) * VOL, (size_t)n * VOL * sizeof *got),
                              "share %d+%d, threads %d: batch %d differs", lo, n, shares[t][2], s);
            }
        }
        /* a share outside the batch */
        ck_assert_int_eq(emim_data_start_share(d, B, 2, 2, 0, err, sizeof err), EMIM_ERR_ARG);
        ck_assert_ptr_nonnull(strstr(err, "samples 2 .. 3 of a batch of 3"));
        ck_assert_int_eq(emim_data_start_share(d, B, 0, 0, 0, err, sizeof err), EMIM_ERR_ARG);
        emim_data_close(d);
    }
    /* random crops and flips make samples of one subject differ */
    emim_data_config c3 = c;
    emim_data *d = open_ok(&c3);
    float *again = samples(d, NS, NS);
    int same = 0;
    for (int i = 0; i < NS; i++) same += find_sample(want, NS, again + (size_t)i * VOL) >= 0;
    ck_assert_int_lt(same, NS);
    free(again);
    emim_data_close(d);
    free(got);
    free(want);
    remove_dir();
}
END_TEST

/* the box of the non-zero voxels of a sample */
static void nonzero_box(const float *x, int lo[3], int hi[3])
{
    for (int a = 0; a < 3; a++) {
        lo[a] = 99;
        hi[a] = -1;
    }
    for (int ch = 0; ch < 4; ch++)
        for (int i = 0; i < 16; i++)
            for (int j = 0; j < 12; j++)
                for (int k = 0; k < 16; k++)
                    if (x[((ch * 16 + i) * 12 + j) * 16 + k] != 0) {
                        int p[3] = { i, j, k };
                        for (int a = 0; a < 3; a++) {
                            if (p[a] < lo[a]) lo[a] = p[a];
                            if (p[a] > hi[a]) hi[a] = p[a];
                        }
                    }
}

START_TEST(spacing_and_crop)
{
    make_dir();
    write_datasets();
    /* 24x20x16 at 1 mm resampled to 2 mm is 12x10x8: centred in 16x12x16,
     * without the foreground crop, it leaves borders of 2, 1 and 4 */
    emim_data_config c = config("brats");
    c.spacing[0] = c.spacing[1] = c.spacing[2] = 2;
    c.fg_crop = 0;
    c.random_crop = 0;
    emim_data *d = open_ok(&c);
    float *x = samples(d, 0, 1);
    int lo[3], hi[3];
    nonzero_box(x, lo, hi);
    ck_assert(lo[0] >= 2 && hi[0] <= 13 && lo[1] >= 1 && hi[1] <= 10 && lo[2] >= 4 && hi[2] <= 11);
    ck_assert(hi[0] - lo[0] >= 6 && hi[2] - lo[2] >= 4); /* the brain is there */
    free(x);
    emim_data_close(d);
    /* with the foreground crop, the brain's box is centred */
    c.fg_crop = 1;
    d = open_ok(&c);
    x = samples(d, 0, 1);
    nonzero_box(x, lo, hi);
    int S[3] = { 16, 12, 16 };
    for (int a = 0; a < 3; a++) ck_assert_msg(abs(lo[a] - (S[a] - 1 - hi[a])) <= 1, "axis %d: %d..%d", a, lo[a], hi[a]);
    free(x);
    emim_data_close(d);
    /* a subject's centre window and its affine (the files' is the identity):
     * cropped at (4, 4, 0) from 24x20x16; resampled to 2 mm (12x10x8, voxel
     * i at file voxel 2i + 0.5) and padded by (2, 1, 4) */
    static const struct { float spacing; double diag, off[3]; } W[] = {
        { 0, 1, { 4, 4, 0 } }, { 2, 2, { -3.5, -1.5, -7.5 } },
    };
    char err[512];
    x = malloc(VOL * sizeof *x);
    for (int w = 0; w < 2; w++) {
        c = config("brats");
        c.fg_crop = 0;
        c.spacing[0] = c.spacing[1] = c.spacing[2] = W[w].spacing;
        d = open_ok(&c);
        double A[4][4];
        ck_assert_msg(emim_data_subject_window(d, 1, x, A, err, sizeof err) == EMIM_OK, "%s", err);
        for (int r = 0; r < 4; r++)
            for (int a = 0; a < 4; a++) {
                double want = r == 3 ? (a == 3) : a == r ? W[w].diag : a == 3 ? W[w].off[r] : 0;
                ck_assert_msg(fabs(A[r][a] - want) < 1e-9, "spacing %g: affine[%d][%d] = %g, expected %g",
                              (double)W[w].spacing, r, a, A[r][a], want);
            }
        ck_assert_int_eq(emim_data_subject_window(d, NS, x, A, err, sizeof err), EMIM_ERR_ARG);
        ck_assert_ptr_nonnull(strstr(err, "subjects 0 to 4"));
        emim_data_close(d);
    }
    free(x);
    remove_dir();
}
END_TEST

static void replace_with(const char *path, int nx, float value_at_1, int affine_shift)
{
    float *img = calloc((size_t)nx * SY * SZ, sizeof *img);
    for (int k = 0; k < nx * SY * SZ; k++) img[k] = 5;
    img[1] = value_at_1;
    emim_volume v = geometry(1, img);
    v.nx = nx;
    v.srow[0][3] += (float)affine_shift;
    char err[512];
    ck_assert_msg(emim_nifti_write_as(path, &v, 16, 1, 0, 0, err, sizeof err) == EMIM_OK, "%s", err);
    free(img);
}

/* with channels 0 the data sets them: the modalities named, a list's
 * columns, a 4D file's fourth axis */
START_TEST(channels_from_data)
{
    make_dir();
    write_datasets();
    static const struct { const char *sub, *mods; int want; } K[] = {
        { "brats", NULL, 4 }, { "brats", "t2w", 1 }, { "brats", "t1c,t2f", 2 }, { "brats", "t1n,t2w,t2f", 3 },
        { "list.tsv", NULL, 4 }, { "4d", NULL, 4 },
    };
    char err[1024];
    for (size_t k = 0; k < sizeof K / sizeof K[0]; k++) {
        emim_data_config c = config(K[k].sub);
        c.modalities = K[k].mods;
        c.random_crop = 0;
        ck_assert_int_eq(c.channels, 0); /* the default */
        emim_data *d = open_ok(&c);
        ck_assert_msg(emim_data_channels(d) == K[k].want, "%s %s: %d channels, expected %d", K[k].sub,
                      K[k].mods ? K[k].mods : "(default)", emim_data_channels(d), K[k].want);
        float *x = malloc((size_t)K[k].want * 16 * 12 * 16 * sizeof *x);
        ck_assert_msg(emim_data_sample(d, 0, x, err, sizeof err) == EMIM_OK, "%s", err);
        free(x);
        emim_data_close(d);
    }
    /* t1c and t2f alone are channels 1 and 3 of all four */
    emim_data_config c4 = config("brats"), c2 = config("brats");
    c4.random_crop = c2.random_crop = 0;
    c2.modalities = "t1c,t2f";
    emim_data *d4 = open_ok(&c4), *d2 = open_ok(&c2);
    enum { NV1 = 16 * 12 * 16 };
    float *x4 = malloc(4 * NV1 * sizeof *x4), *x2 = malloc(2 * NV1 * sizeof *x2);
    ck_assert_int_eq(emim_data_sample(d4, 3, x4, err, sizeof err), EMIM_OK);
    ck_assert_int_eq(emim_data_sample(d2, 3, x2, err, sizeof err), EMIM_OK);
    ck_assert_int_eq(memcmp(x2, x4 + NV1, NV1 * sizeof *x2), 0);
    ck_assert_int_eq(memcmp(x2 + NV1, x4 + 3 * NV1, NV1 * sizeof *x2), 0);
    free(x4);
    free(x2);
    emim_data_close(d4);
    emim_data_close(d2);
    remove_dir();
}
END_TEST

START_TEST(bad_datasets)
{
    make_dir();
    write_datasets();
    char p[4400], q[4500], err[1024];
    emim_data_config c = config("nothing-here");
    open_fails(&c, "nothing-here", "No such file");
    snprintf(p, sizeof p, "%s/empty", dir);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    c = config("empty");
    open_fails(&c, "empty: no subjects", NULL);
    c = config("brats");
    c.modalities = "t1n,t1c,t2w";
    c.channels = 4; /* a caller that fixes the channels */
    open_fails(&c, "names 3 modalities; the model takes 4", NULL);
    c.modalities = "t1n,,t2w,t2f";
    open_fails(&c, "empty name", NULL);
    c = config("4d");
    c.channels = 3;
    open_fails(&c, "4 channels, expected 3", "S-000.nii.gz");
    c = config("list.tsv");
    c.channels = 3;
    open_fails(&c, "list.tsv:3: expected a subject and 3 tab-separated paths", NULL);
    /* lines without a tab (paths separated by spaces, a name alone: the
     * fuzzer's "t"): an error naming the line, not subjects of no files */
    {
        static const char *const text[] = { "S-000 flat/S-000-t1n.nii flat/S-000-t1c.nii\n", "t",
                                            "subject\tt1n\n# a comment\nS-000\n" };
        static const char *const want[] = { "notab.tsv:1: expected a subject and 1 to 63 tab-separated paths, "
                                             "found no tab", "notab.tsv:1: ", "notab.tsv:3: " };
        for (int i = 0; i < 3; i++) {
            snprintf(p, sizeof p, "%s/notab.tsv", dir);
            FILE *f = fopen(p, "w");
            ck_assert_ptr_nonnull(f);
            fputs(text[i], f);
            ck_assert_int_eq(fclose(f), 0);
            c = config("notab.tsv");
            open_fails(&c, want[i], "found no tab");
        }
    }

    /* a missing modality, a duplicate, a shape and an affine mismatch */
    path_of(p, sizeof p, "brats", 2, 1);
    snprintf(q, sizeof q, "%s.moved", p);
    ck_assert_int_eq(rename(p, q), 0);
    c = config("brats");
    open_fails(&c, "S-002: no file for modality t1c", NULL);
    ck_assert_int_eq(rename(q, p), 0);
    snprintf(q, sizeof q, "%s/brats/S-002/other_t1c.nii", dir);
    replace_with(q, SX, 5, 0);
    open_fails(&c, "two files for modality t1c", "other_t1c.nii");
    ck_assert_int_eq(unlink(q), 0);
    path_of(p, sizeof p, "brats", 3, 2);
    replace_with(p, SX - 1, 5, 0);
    open_fails(&c, "S-003-t1n.nii.gz is 24x20x16 but", "S-003-t2w.nii.gz is 23x20x16");
    replace_with(p, SX, 5, 3);
    open_fails(&c, "different affines", "S-003-t2w.nii.gz");

    /* bad data found while loading, in the caller and in the loading
     * threads: a NaN voxel, then a truncated file */
    replace_with(p, SX, NAN, 0);
    for (int threads = 0; threads <= 2; threads++) {
        c.threads = threads;
        c.cache_bytes = 0;
        emim_data *d = open_ok(&c);
        ck_assert_int_eq(emim_data_start(d, 2, 0, err, sizeof err), EMIM_OK);
        float *x = malloc(2 * VOL * sizeof *x);
        emim_status s = EMIM_OK;
        for (int step = 0; step < 3 && !s; step++) s = emim_data_next(d, x, NULL, err, sizeof err);
        ck_assert_msg(s != EMIM_OK, "threads %d: no error", threads);
        ck_assert_msg(strstr(err, "S-003-t2w.nii.gz: voxel (0, 0, 1) is NaN"), "threads %d: %s", threads, err);
        /* and again: the error stays, nothing hangs */
        ck_assert_int_ne(emim_data_next(d, x, NULL, err, sizeof err), EMIM_OK);
        free(x);
        emim_data_close(d);
    }
    replace_with(p, SX, 5, 0);
    size_t n;
    FILE *f = fopen(p, "rb");
    fseek(f, 0, SEEK_END);
    n = (size_t)ftell(f);
    fclose(f);
    ck_assert_int_eq(truncate(p, (off_t)(n - 30)), 0);
    c.threads = 2;
    emim_data *d = open_ok(&c); /* the header is intact */
    ck_assert_int_eq(emim_data_start(d, 5, 0, err, sizeof err), EMIM_OK);
    float *x = malloc(5 * VOL * sizeof *x);
    ck_assert_int_ne(emim_data_next(d, x, NULL, err, sizeof err), EMIM_OK);
    ck_assert_msg(!strncmp(err, p, strlen(p)) && strstr(err, "truncated"), "%s", err);
    free(x);
    emim_data_close(d);
    remove_dir();
}
END_TEST

START_TEST(phantom_source)
{
    emim_data_config c;
    emim_data_config_default(&c);
    c.size[0] = 16; c.size[1] = 12; c.size[2] = 16;
    c.seed = 4;
    c.threads = 2;
    emim_data *d = open_ok(&c);
    ck_assert_str_eq(emim_data_kind(d), "built-in phantom");
    char err[256];
    float *x = malloc(2 * VOL * sizeof *x), *y = malloc(VOL * sizeof *y);
    ck_assert_int_eq(emim_data_start(d, 2, 5, err, sizeof err), EMIM_OK);
    ck_assert_int_eq(emim_data_next(d, x, NULL, err, sizeof err), EMIM_OK);
    ck_assert_int_eq(emim_phantom(y, NULL, 4, 16, 12, 16, 4, 11), EMIM_OK); /* batch 5, second sample */
    ck_assert_int_eq(memcmp(x + VOL, y, VOL * sizeof *y), 0);
    ck_assert_int_eq(emim_data_channels(d), 4);
    emim_data_close(d);
    /* fewer channels: the first contrasts */
    c.channels = 2;
    d = open_ok(&c);
    ck_assert_int_eq(emim_data_channels(d), 2);
    ck_assert_int_eq(emim_data_sample(d, 11, x, err, sizeof err), EMIM_OK);
    ck_assert_int_eq(memcmp(x, y, (size_t)VOL / 2 * sizeof *y), 0);
    emim_data_close(d);
    free(x);
    free(y);
    c.channels = 5;
    d = NULL;
    ck_assert_int_ne(emim_data_open(&d, &c, err, sizeof err), EMIM_OK);
    ck_assert_ptr_nonnull(strstr(err, "4 contrasts; the model takes 5"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("data");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, percentile);
    tcase_add_test(tc, normalise);
    tcase_add_test(tc, resample);
    tcase_add_test(tc, crop_pad_flip_box);
    tcase_add_test(tc, layouts_agree);
    tcase_add_test(tc, threads_cache_resume);
    tcase_add_test(tc, spacing_and_crop);
    tcase_add_test(tc, bad_datasets);
    tcase_add_test(tc, channels_from_data);
    tcase_add_test(tc, phantom_source);
    suite_add_tcase(s, tc);
    return run_suite(s, 1);
}
