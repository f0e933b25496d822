/* emim reconstruct: one sample through a run's masking and reconstruction:
 * the original, the masked input, the reconstruction g(f(x_m)) and what a
 * completely collapsed model would output (the dataset mean where masked,
 * the input where visible), as NIfTI files and one PNG montage. */
#include "cli/tool.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: %s [GLOBAL OPTIONS] reconstruct RUN [OPTIONS]\n"
            "One sample of the run's data through the run's masking (the mask of its first step's first\n"
            "sample) and its reconstruction head. Writes DIR/original, masked, reconstruction and collapsed\n"
            ".nii.gz (4D, one channel per modality, float32, with the sample's affine) and DIR/montage.png\n"
            "(rows: modality and axis; columns: original, masked, reconstruction, collapsed; the middle\n"
            "slice of each axis), and prints the MSE of the reconstruction and of the collapsed output.\n"
            "\n"
            "  --subject=NAME|INDEX       the subject of a dataset (its centre window) [0]\n"
            "  --sample=I                 the phantom's sample I [0]\n"
            "  --samples=N                samples for the dataset mean [32]\n"
            "  --out=DIR                  [reconstruct]\n",
            prog);
}

/* tile [rows, cols] of channel c of img [C, S0, S1, S2] through the middle of axis a */
static float *slice(const float *img, int c, const int *S, int a, int *tw, int *th)
{
    int r = a == 0 ? S[1] : S[0], q = a == 2 ? S[1] : S[2];
    float *t = malloc((size_t)r * q * sizeof *t);
    *tw = *th = 1;
    if (!t) return NULL;
    const float *x = img + (size_t)c * S[0] * S[1] * S[2];
    for (int i = 0; i < r; i++)
        for (int j = 0; j < q; j++) {
            int v0 = a == 0 ? S[0] / 2 : i, v1 = a == 0 ? i : a == 1 ? S[1] / 2 : j, v2 = a == 2 ? S[2] / 2 : j;
            /* the first index grows downwards: flip rows so that it grows upwards */
            t[(size_t)(r - 1 - i) * q + j] = x[((size_t)v0 * S[1] + v1) * S[2] + v2];
        }
    *tw = q;
    *th = r;
    return t;
}

static double mse(const float *a, const float *b, const float *keep, size_t n, int masked_only)
{
    double s = 0;
    size_t k = 0;
    for (size_t e = 0; e < n; e++) {
        if (masked_only && keep[e] != 0) continue;
        double d = (double)a[e] - b[e];
        s += d * d;
        k++;
    }
    return k ? s / (double)k : NAN;
}

int cmd_reconstruct(emim_options *o, int argc, char **argv)
{
    const char *subject = NULL, *out = "reconstruct";
    int sample = 0, samples = 32, have_sample = 0;
    enum { O_SUBJECT = 256, O_SAMPLE, O_SAMPLES, O_OUT };
    static const struct option lo[] = {
        { "subject", required_argument, NULL, O_SUBJECT }, { "sample", required_argument, NULL, O_SAMPLE },
        { "samples", required_argument, NULL, O_SAMPLES }, { "out", required_argument, NULL, O_OUT },
        { "help", no_argument, NULL, 'h' }, { 0, 0, 0, 0 },
    };
    optind = 0; /* 0: getopt starts afresh (main stopped at the command) */
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case O_SUBJECT: subject = optarg; break;
        case O_SAMPLE: sample = parse_int(optarg, "--sample", 0, 1 << 30); have_sample = 1; break;
        case O_SAMPLES: samples = parse_int(optarg, "--samples", 1, 100000); break;
        case O_OUT: out = optarg; break;
        case 'h': usage(stdout); return 0;
        default: fprintf(stderr, "Try '%s reconstruct --help'.\n", prog); return 2;
        }
    }
    if (argc - optind != 1) die_usage("reconstruct: name one run folder or checkpoint%s", "");
    static run_info ri;
    if (read_run(argv[optind], &ri)) return 1;
    emim_train_config t = ri.t;
    const int C = t.vit.channels, S[3] = { t.vit.img[0], t.vit.img[1], t.vit.img[2] };
    const size_t vol = (size_t)C * S[0] * S[1] * S[2];
    if (!emim_method_reconstructs(t.method)) {
        fprintf(stderr, "%s: reconstruct: %s: method %s does not reconstruct images (its diagnostics: emim spectrum)\n",
                prog, argv[optind], emim_method_name(t.method));
        return 1;
    }
    if (!ri.d.path && subject) die_usage("reconstruct: the run trained on the built-in phantom: --sample, not --subject%s", "");
    if (ri.d.path && have_sample) die_usage("reconstruct: the run trained on a dataset: --subject, not --sample%s", "");
    o->verbose = 0;
    emim_ctx *ctx = make_ctx(o, ri.exact ? EMIM_MODE_EXACT : o->mode);
    ri.d.threads = 0;
    ri.d.channels = C;
    memcpy(ri.d.size, S, sizeof S);
    emim_data *data = NULL;
    char err[2048];
    int rc = 0;
    emim_trainer *T = NULL;
    float *x = malloc(vol * t.batch * sizeof *x), *xm = malloc(vol * t.batch * sizeof *xm),
          *rec = malloc(vol * t.batch * sizeof *rec), *keep = malloc(vol * t.batch * sizeof *keep),
          *mean = malloc(vol * sizeof *mean), *col = malloc(vol * sizeof *col);
    int N = emim_vit_tokens(&t.vit);
    uint8_t *mask = malloc((size_t)t.batch * C * N);
    double affine[4][4];
    char what[4200];
    if (!x || !xm || !rec || !keep || !mean || !col || !mask) { fprintf(stderr, "%s: out of memory\n", prog); rc = 1; }
    if (!rc && emim_data_open(&data, &ri.d, err, sizeof err)) { fprintf(stderr, "%s: %s\n", prog, err); rc = 1; }
    if (!rc && (emim_trainer_create(ctx, &t, &T) || emim_trainer_load(T, ri.ckpt))) {
        fprintf(stderr, "%s: %s\n", prog, emim_error(ctx));
        rc = 1;
    }
    /* the sample and its affine */
    if (!rc && ri.d.path) {
        int k = -1;
        const char *want = subject ? subject : "0";
        for (int i = 0; i < emim_data_subjects(data); i++)
            if (!strcmp(emim_data_subject(data, i), want)) k = i;
        char *end;
        long idx = strtol(want, &end, 10);
        if (k < 0 && *want && !*end) k = (int)idx;
        if (k < 0 || k >= emim_data_subjects(data)) {
            fprintf(stderr, "%s: --subject %s: no such subject in %s (%d subjects)\n", prog, want, ri.d.path,
                    emim_data_subjects(data));
            rc = 1;
        } else if (emim_data_subject_window(data, k, x, affine, err, sizeof err)) {
            fprintf(stderr, "%s: %s\n", prog, err);
            rc = 1;
        }
        snprintf(what, sizeof what, "subject %s (centre window)", rc ? "" : emim_data_subject(data, k));
    } else if (!rc) {
        if (emim_data_sample(data, (uint64_t)sample, x, err, sizeof err)) { fprintf(stderr, "%s: %s\n", prog, err); rc = 1; }
        /* the phantom: 1 mm voxels centred on the origin, as emim phantom writes it */
        memset(affine, 0, sizeof affine);
        for (int a = 0; a < 3; a++) { affine[a][a] = 1; affine[a][3] = -S[a] / 2.0; }
        affine[3][3] = 1;
        snprintf(what, sizeof what, "phantom sample %d", sample);
    }
    /* the mask of the first step's first sample; the batch holds copies */
    emim_mask_options mo;
    emim_train_mask_options(&t, &mo);
    if (!rc && emim_mask_make(mask, C, N, &mo, t.seed, 0, 0)) { fprintf(stderr, "%s: bad mask options\n", prog); rc = 1; }
    for (int b = 1; b < t.batch && !rc; b++) {
        memcpy(x + (size_t)b * vol, x, vol * sizeof *x);
        memcpy(mask + (size_t)b * C * N, mask, (size_t)C * N);
    }
    for (size_t e = 0; e < vol * t.batch && !rc; e++) keep[e] = 1;
    if (!rc && (emim_trainer_reconstruct(T, x, mask, xm, rec) || emim_trainer_reconstruct(T, keep, mask, keep, NULL))) {
        fprintf(stderr, "%s: %s\n", prog, emim_error(ctx));
        rc = 1;
    }
    if (!rc && emim_data_mean(data, samples, mean, err, sizeof err)) { fprintf(stderr, "%s: %s\n", prog, err); rc = 1; }
    if (!rc) {
        for (size_t e = 0; e < vol; e++) col[e] = keep[e] != 0 ? x[e] : mean[e];
        double masked = 0;
        for (size_t e = 0; e < vol; e++) masked += keep[e] == 0;
        printf("reconstruct: %s of %s, step %ld; %.3f of the voxels masked\n", what, ri.ckpt, ri.done, masked / vol);
        printf("MSE over all voxels (the mim column's): reconstruction %.6f, collapsed %.6f\n",
               mse(rec, x, keep, vol, 0), mse(col, x, keep, vol, 0));
        printf("MSE over the masked voxels:              reconstruction %.6f, collapsed %.6f\n",
               mse(rec, x, keep, vol, 1), mse(col, x, keep, vol, 1));
    }
    if (!rc && mkdir(out, 0755) && errno != EEXIST) {
        fprintf(stderr, "%s: %s: cannot create the folder: %s\n", prog, out, strerror(errno));
        rc = 1;
    }
    static const char *names[4] = { "original", "masked", "reconstruction", "collapsed" };
    const float *imgs[4] = { x, xm, rec, col };
    emim_volume v;
    memset(&v, 0, sizeof v);
    v.nx = S[0]; v.ny = S[1]; v.nz = S[2]; v.nc = C;
    v.sform_code = 1;
    for (int r = 0; r < 3; r++)
        for (int a = 0; a < 4; a++) v.srow[r][a] = (float)affine[r][a];
    for (int a = 0; a < 3; a++)
        v.pixdim[a] = (float)sqrt(affine[0][a] * affine[0][a] + affine[1][a] * affine[1][a] + affine[2][a] * affine[2][a]);
    for (int k = 0; k < 4 && !rc; k++) {
        char path[4300];
        snprintf(path, sizeof path, "%s/%s.nii.gz", out, names[k]);
        v.data = (float *)imgs[k];
        if (emim_nifti_write(path, &v, err, sizeof err)) { fprintf(stderr, "%s: %s\n", prog, err); rc = 1; }
    }
    /* the montage */
    if (!rc) {
        enum { MAXC = 8 };
        int rows = (C < MAXC ? C : MAXC) * 3, tw[MAXC * 3 * 4], th[MAXC * 3 * 4];
        const float *tiles[MAXC * 3 * 4];
        char rl[MAXC * 3][80];
        const char *rlp[MAXC * 3];
        char mods[1024];
        snprintf(mods, sizeof mods, "%s", ri.d.modalities ? ri.d.modalities : "t1n,t1c,t2w,t2f");
        static const char *PHANTOM[4] = { "t1n", "t1c", "t2w", "t2f" };
        char *tok = strtok(mods, ",");
        for (int ch = 0; ch < rows / 3; ch++, tok = tok ? strtok(NULL, ",") : NULL)
            for (int a = 0; a < 3; a++) {
                snprintf(rl[ch * 3 + a], sizeof rl[0], "%.60s %c", tok && ri.d.path ? tok : ch < 4 ? PHANTOM[ch] : "",
                         "ijk"[a]);
                rlp[ch * 3 + a] = rl[ch * 3 + a];
                for (int k = 0; k < 4; k++)
                    tiles[(ch * 3 + a) * 4 + k] = slice(imgs[k], ch, S, a, &tw[(ch * 3 + a) * 4 + k],
                                                        &th[(ch * 3 + a) * 4 + k]);
            }
        char title[4400], png[4300];
        snprintf(title, sizeof title, "%.200s, step %ld: %.200s", argv[optind], ri.done, what);
        snprintf(png, sizeof png, "%s/montage.png", out);
        int drawn = !montage_png(png, tiles, tw, th, rows, 4, rlp, names, title, err, sizeof err);
        if (!drawn) printf("%s\n", err);
        for (int k = 0; k < rows * 4; k++) free((void *)tiles[k]);
        printf("wrote %s/{original,masked,reconstruction,collapsed}.nii.gz%s%s\n", out, drawn ? " and " : "",
               drawn ? png : "");
    }
    free(x); free(xm); free(rec); free(keep); free(mean); free(col); free(mask);
    emim_trainer_free(T);
    emim_data_close(data);
    emim_ctx_free(ctx);
    return rc;
}
