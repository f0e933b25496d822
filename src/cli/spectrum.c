/* emim spectrum: the singular spectrum and effective rank of encoders'
 * token features over a dataset, for one or more runs and a fresh
 * initialisation (the measure of dimensional collapse). */
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
            "Usage: %s [GLOBAL OPTIONS] spectrum RUN... [OPTIONS]\n"
            "The singular values of the covariance of the encoder's token features (every token of every\n"
            "sample is a row) and their effective rank (Roy & Vetterli 2007), for each run folder (or\n"
            "checkpoint file) given, on the samples of its own data; with --init also for a fresh\n"
            "initialisation of the first run's model. A table on stdout, DIR/spectrum.tsv and a log-scale\n"
            "DIR/spectrum.png with every curve.\n"
            "\n"
            "  --init                     also a fresh initialisation (the first run's seed)\n"
            "  --layer=L                  the features after block L (0-based); -1: the output [-1]\n"
            "  --samples=N                volumes (samples 0 .. N-1 of the data) [8]\n"
            "  --out=DIR                  [spectrum]\n",
            prog);
}

typedef struct {
    char label[4200];
    double *s;
    int d;
    double erank;
    long rows;
} curve;

/* the features of samples 0 .. n-1 of the run's data, with its weights or a
 * fresh initialisation; the spectrum into cv */
static int spectrum_of(emim_options *o, const char *dir, int init, int layer, int nsamples, curve *cv)
{
    static run_info ri;
    if (read_run(dir, &ri)) return 1;
    emim_train_config t = ri.t;
    emim_ctx *ctx = make_ctx(o, ri.exact ? EMIM_MODE_EXACT : o->mode);
    emim_data *data = NULL;
    char err[2048];
    ri.d.threads = 0;
    for (int k = 0; k < 3; k++) ri.d.size[k] = t.vit.img[k];
    ri.d.channels = t.vit.channels;
    if (emim_data_open(&data, &ri.d, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        emim_ctx_free(ctx);
        return 1;
    }
    emim_trainer *T = NULL;
    int rc = 0;
    if (emim_trainer_create(ctx, &t, &T) || (!init && emim_trainer_load(T, ri.ckpt))) {
        fprintf(stderr, "%s: %s\n", prog, emim_error(ctx));
        rc = 1;
    }
    int B = t.batch, N = emim_vit_tokens(&t.vit), h = t.vit.hidden;
    int batches = (nsamples + B - 1) / B;
    size_t vol = (size_t)t.vit.channels * t.vit.img[0] * t.vit.img[1] * t.vit.img[2];
    size_t per = (size_t)B * N * h;
    float *img = rc ? NULL : malloc(vol * B * sizeof *img), *feat = rc ? NULL : malloc(per * batches * sizeof *feat);
    if (!rc && (!img || !feat)) { fprintf(stderr, "%s: out of memory for the features\n", prog); rc = 1; }
    if (!rc && (layer < -1 || layer >= t.vit.layers)) {
        fprintf(stderr, "%s: --layer %d: %s has layers 0 to %d (-1: the output)\n", prog, layer, ri.ckpt,
                t.vit.layers - 1);
        rc = 2;
    }
    /* whole batches; the last may run past n, and only its first samples count */
    for (int b = 0; b < batches && !rc; b++) {
        for (int k = 0; k < B && !rc; k++)
            if (emim_data_sample(data, (uint64_t)(b * B + k), img + (size_t)k * vol, err, sizeof err)) {
                fprintf(stderr, "%s: %s\n", prog, err);
                rc = 1;
            }
        if (!rc && emim_trainer_features(T, img, layer, init, feat + (size_t)b * per)) {
            fprintf(stderr, "%s: %s\n", prog, emim_error(ctx));
            rc = 1;
        }
    }
    if (!rc) {
        cv->d = h;
        cv->rows = (long)nsamples * N;
        cv->s = malloc((size_t)h * sizeof *cv->s);
        if (!cv->s || emim_spectrum(feat, cv->rows, h, cv->s, &cv->erank, err, sizeof err)) {
            fprintf(stderr, "%s: %s: %s\n", prog, ri.ckpt, cv->s ? err : "out of memory");
            rc = 1;
        }
        if (init) snprintf(cv->label, sizeof cv->label, "initialisation (seed %llu)", (unsigned long long)t.seed);
        else snprintf(cv->label, sizeof cv->label, "%s, step %ld", dir, ri.done);
    }
    free(img);
    free(feat);
    emim_trainer_free(T);
    emim_data_close(data);
    emim_ctx_free(ctx);
    return rc;
}

int cmd_spectrum(emim_options *o, int argc, char **argv)
{
    int init = 0, layer = -1, samples = 8;
    const char *out = "spectrum";
    enum { O_INIT = 256, O_LAYER, O_SAMPLES, O_OUT };
    static const struct option lo[] = {
        { "init", no_argument, NULL, O_INIT }, { "layer", required_argument, NULL, O_LAYER },
        { "samples", required_argument, NULL, O_SAMPLES }, { "out", required_argument, NULL, O_OUT },
        { "help", no_argument, NULL, 'h' }, { 0, 0, 0, 0 },
    };
    optind = 0; /* 0: getopt starts afresh (main stopped at the command) */
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case O_INIT: init = 1; break;
        case O_LAYER: layer = parse_int(optarg, "--layer", -1, 1023); break;
        case O_SAMPLES: samples = parse_int(optarg, "--samples", 1, 100000); break;
        case O_OUT: out = optarg; break;
        case 'h': usage(stdout); return 0;
        default: fprintf(stderr, "Try '%s spectrum --help'.\n", prog); return 2;
        }
    }
    int nruns = argc - optind;
    if (nruns < 1) die_usage("spectrum: name at least one run folder or checkpoint%s", "");
    if (nruns > 7) die_usage("spectrum: at most 7 runs on one plot%s", "");
    o->verbose = 0;
    curve cv[8];
    memset(cv, 0, sizeof cv);
    int n = 0, rc = 0;
    for (int i = 0; i < nruns && !rc; i++, n++) rc = spectrum_of(o, argv[optind + i], 0, layer, samples, &cv[n]);
    if (!rc && init) { rc = spectrum_of(o, argv[optind], 1, layer, samples, &cv[n]); n++; }
    if (rc) {
        for (int i = 0; i < n; i++) free(cv[i].s);
        return rc;
    }
    printf("%-56s %-10s %-12s %s\n", "encoder", "features", "rows", "effective rank");
    for (int i = 0; i < n; i++) printf("%-56s %-10d %-12ld %.3f\n", cv[i].label, cv[i].d, cv[i].rows, cv[i].erank);
    if (mkdir(out, 0755) && errno != EEXIST) {
        fprintf(stderr, "%s: %s: cannot create the folder: %s\n", prog, out, strerror(errno));
        rc = 1;
    }
    /* the TSV: one row per singular value, one column per encoder */
    int dmax = 0;
    for (int i = 0; i < n; i++) if (cv[i].d > dmax) dmax = cv[i].d;
    size_t cap = 4096 + (size_t)(dmax + 2) * (size_t)n * 32, len = 0;
    char *text = rc ? NULL : malloc(cap), tsv[4200], png[4200];
    snprintf(tsv, sizeof tsv, "%s/spectrum.tsv", out);
    snprintf(png, sizeof png, "%s/spectrum.png", out);
    if (text) {
        len += (size_t)snprintf(text + len, cap - len, "# effective rank:");
        for (int i = 0; i < n; i++) len += (size_t)snprintf(text + len, cap - len, "\t%.6g", cv[i].erank);
        len += (size_t)snprintf(text + len, cap - len, "\nk");
        for (int i = 0; i < n; i++) len += (size_t)snprintf(text + len, cap - len, "\t%s", cv[i].label);
        len += (size_t)snprintf(text + len, cap - len, "\n");
        for (int k = 0; k < dmax; k++) {
            len += (size_t)snprintf(text + len, cap - len, "%d", k + 1);
            for (int i = 0; i < n; i++)
                len += (size_t)snprintf(text + len, cap - len, k < cv[i].d ? "\t%.9g" : "\t", k < cv[i].d ? cv[i].s[k] : 0);
            len += (size_t)snprintf(text + len, cap - len, "\n");
        }
        if (write_file_atomic(tsv, text)) {
            fprintf(stderr, "%s: %s: cannot write: %s\n", prog, tsv, strerror(errno));
            rc = 1;
        }
    } else if (!rc) {
        fprintf(stderr, "%s: out of memory\n", prog);
        rc = 1;
    }
    free(text);
    if (!rc) {
        double *kx = malloc((size_t)dmax * sizeof *kx);
        plot_series s[8];
        static char labels[8][4300];
        for (int k = 0; k < dmax && kx; k++) kx[k] = k + 1;
        /* values below 1e-10 of the largest are round-off: not drawn (they are in the TSV) */
        double *ys = malloc((size_t)n * dmax * sizeof *ys);
        for (int i = 0; i < n && ys; i++) {
            for (int k = 0; k < cv[i].d; k++)
                ys[(size_t)i * dmax + k] = cv[i].s[k] > 1e-10 * cv[i].s[0] ? cv[i].s[k] : NAN;
            snprintf(labels[i], sizeof labels[i], "%.4000s: effective rank %.1f", cv[i].label, cv[i].erank);
            s[i] = (plot_series){ labels[i], kx, ys + (size_t)i * dmax, cv[i].d, 1, 0 };
        }
        if (!ys) { free(kx); kx = NULL; }
        char title[128], err[512];
        if (layer < 0) snprintf(title, sizeof title, "Singular values of the feature covariance (output, %d samples)",
                                samples);
        else snprintf(title, sizeof title, "Singular values of the feature covariance (block %d, %d samples)", layer,
                      samples);
        plot_spec ps = { title, "singular value index", "singular value", 0, 1, 0, { 0 }, { 0 }, 0, 0 };
        int drawn = kx && !plot_png(png, &ps, s, n, err, sizeof err);
        if (!drawn) printf("%s\n", kx ? err : "out of memory for the plot");
        printf("wrote %s%s%s\n", tsv, drawn ? " and " : "", drawn ? png : "");
        free(kx);
        free(ys);
    }
    for (int i = 0; i < n; i++) free(cv[i].s);
    return rc;
}
