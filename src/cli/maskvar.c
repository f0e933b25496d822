/* emim maskvar: the collapsed loss of masking strategies by Monte Carlo (the
 * paper's Fig. 2): random masking at ratios 0.1 .. 0.9, the Hybrid Mask
 * Pattern and each of its steps alone, on a dataset. */
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
            "Usage: %s maskvar [OPTIONS]\n"
            "The collapsed loss of masking strategies, by Monte Carlo over a dataset (E-MIM eq. 3, Fig. 2): a\n"
            "completely collapsed model outputs the per-voxel dataset mean where the input is masked. For\n"
            "random masking at ratios 0.1 .. 0.9, for the Hybrid Mask Pattern and for each of its steps alone:\n"
            "the masked fraction of the voxels, Var(x_m) (the variance of the masked voxels around their\n"
            "dataset mean) and the collapsed model's loss as pretrain's mim column computes it (the mean\n"
            "over every voxel: Var(x_m) times the masked fraction), each with its standard error.\n"
            "\n"
            "  --run=DIR                  a run folder: its data, grid, and (E-MIM) masking and final MIM loss\n"
            "  --data=PATH --modalities=LIST   a dataset as in pretrain [the built-in phantom]\n"
            "  --percentiles=LO,HI --spacing=X[,Y,Z] --no-fg-crop --centre-crop --flip   its preprocessing,\n"
            "                             as in pretrain\n"
            "  --preset=tiny|small|base --img-size=X[,Y,Z] --patch=P[,P,P]   the grid [tiny: 64^3, 16^3]\n"
            "  --r-pos=X --r-patch=X --no-modal-mask   the HMP options [0.4, 0.3]\n"
            "  --samples=N                Monte-Carlo samples [64]\n"
            "  --seed=N                   data order, crops and masks [1]\n"
            "  --converged=X              a reference line: a converged loss (mim column's scale)\n"
            "  --out=DIR                  writes DIR/maskvar.tsv and DIR/maskvar.png [maskvar]\n",
            prog);
}

enum { NRATIO = 9, NSTRAT = NRATIO + 4 };

/* the run folder's final MIM loss: the mean of the mim column's last 10 rows */
static double final_mim(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.tsv", dir);
    FILE *f = fopen(path, "r");
    if (!f) return NAN;
    double last[10];
    int n = 0;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        if (!tab || line[0] < '0' || line[0] > '9') continue;
        tab = strchr(tab + 1, '\t'); /* loss, then mim */
        if (!tab) continue;
        last[n % 10] = strtod(tab + 1, NULL);
        n++;
    }
    fclose(f);
    if (!n) return NAN;
    double s = 0;
    int k = n < 10 ? n : 10;
    for (int i = 0; i < k; i++) s += last[i];
    return s / k;
}

int cmd_maskvar(int argc, char **argv)
{
    const char *run = NULL, *out = "maskvar", *preset = "tiny";
    int samples = 64, img[3] = { 0, 0, 0 }, patch[3] = { 0, 0, 0 }, have_img = 0, have_patch = 0;
    float converged = NAN, r_pos = NAN, r_patch = NAN;
    int no_modal = 0;
    unsigned long long seed = 1;
    int have_seed = 0;
    static run_info ri;
    emim_data_config dc;
    emim_data_config_default(&dc);
    char path[4096];
    enum { O_RUN = 256, O_DATA, O_MODS, O_PRESET, O_IMG, O_PATCH, O_RPOS, O_RPATCH, O_NOMODAL, O_SAMPLES, O_SEED,
           O_CONV, O_OUT, O_PCT, O_SPACING, O_NOFG, O_CENTRE, O_FLIP };
    int data_opts = 0;
    static const struct option lo[] = {
        { "run", required_argument, NULL, O_RUN }, { "data", required_argument, NULL, O_DATA },
        { "modalities", required_argument, NULL, O_MODS }, { "preset", required_argument, NULL, O_PRESET },
        { "img-size", required_argument, NULL, O_IMG }, { "patch", required_argument, NULL, O_PATCH },
        { "r-pos", required_argument, NULL, O_RPOS }, { "r-patch", required_argument, NULL, O_RPATCH },
        { "no-modal-mask", no_argument, NULL, O_NOMODAL }, { "samples", required_argument, NULL, O_SAMPLES },
        { "seed", required_argument, NULL, O_SEED }, { "converged", required_argument, NULL, O_CONV },
        { "out", required_argument, NULL, O_OUT }, { "percentiles", required_argument, NULL, O_PCT },
        { "spacing", required_argument, NULL, O_SPACING }, { "no-fg-crop", no_argument, NULL, O_NOFG },
        { "centre-crop", no_argument, NULL, O_CENTRE }, { "flip", no_argument, NULL, O_FLIP },
        { "help", no_argument, NULL, 'h' }, { 0, 0, 0, 0 },
    };
    optind = 0; /* 0: getopt starts afresh (main stopped at the command) */
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case O_RUN: run = optarg; break;
        case O_DATA:
            if (!realpath(optarg, path)) snprintf(path, sizeof path, "%s", optarg);
            dc.path = path;
            break;
        case O_MODS: dc.modalities = optarg; break;
        case O_PRESET: preset = optarg; break;
        case O_IMG: parse_ints(optarg, "--img-size", img, 3, 1, 1, 65536); have_img = 1; break;
        case O_PATCH: parse_ints(optarg, "--patch", patch, 3, 1, 1, 65536); have_patch = 1; break;
        case O_RPOS: r_pos = parse_float(optarg, "--r-pos", 0, 1); break;
        case O_RPATCH: r_patch = parse_float(optarg, "--r-patch", 0, 1); break;
        case O_NOMODAL: no_modal = 1; break;
        case O_SAMPLES: samples = parse_int(optarg, "--samples", 2, 1000000); break;
        case O_SEED: seed = parse_u64(optarg, "--seed"); have_seed = 1; break;
        case O_CONV: converged = parse_float(optarg, "--converged", 1e-12, 1e6); break;
        case O_OUT: out = optarg; break;
        case O_PCT: {
            float p[2];
            parse_floats(optarg, "--percentiles", p, 2, 0, 0, 100);
            if (!(p[0] < p[1])) die_usage("--percentiles '%s': the low one must be below the high one", optarg);
            dc.p_lo = p[0];
            dc.p_hi = p[1];
            data_opts = 1;
            break;
        }
        case O_SPACING: parse_floats(optarg, "--spacing", dc.spacing, 3, 1, 0, 100); data_opts = 1; break;
        case O_NOFG: dc.fg_crop = 0; data_opts = 1; break;
        case O_CENTRE: dc.random_crop = 0; data_opts = 1; break;
        case O_FLIP: dc.flip = 1; data_opts = 1; break;
        case 'h': usage(stdout); return 0;
        default: fprintf(stderr, "Try '%s maskvar --help'.\n", prog); return 2;
        }
    }
    if (optind < argc) die_usage("maskvar: unexpected argument '%s'", argv[optind]);
    emim_vit_config v;
    emim_mask_options hmp;
    emim_mask_options_default(&hmp);
    if (run) {
        if (dc.path || dc.modalities || have_img || have_patch || data_opts)
            die_usage("maskvar: --run takes the run's data, preprocessing and grid; drop the data and grid "
                      "options%s", "");
        if (read_run(run, &ri)) return 1;
        v = ri.t.vit;
        /* E-MIM's run: its HMP options and its mim column as the reference */
        int is_emim = !strcmp(emim_method_name(ri.t.method), "emim");
        if (is_emim) emim_train_mask_options(&ri.t, &hmp);
        hmp.strategy = EMIM_MASK_HMP;
        dc = ri.d;
        if (!have_seed) seed = ri.t.seed;
        if (isnan(converged) && is_emim) converged = final_mim(run);
    } else {
        if (emim_vit_preset(preset, &v)) die_usage("--preset '%s': expected tiny, small or base", preset);
        if (have_img) memcpy(v.img, img, sizeof img);
        if (have_patch) memcpy(v.patch, patch, sizeof patch);
    }
    if (!isnan(r_pos)) hmp.r_pos = r_pos;
    if (!isnan(r_patch)) hmp.r_patch = r_patch;
    if (no_modal) hmp.modal = 0;
    dc.seed = seed;
    dc.threads = 0;
    for (int k = 0; k < 3; k++) dc.size[k] = v.img[k];
    emim_data *data = NULL;
    char err[2048];
    if (emim_data_open(&data, &dc, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return 1;
    }
    v.channels = emim_data_channels(data);
    if (emim_vit_check(&v, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        emim_data_close(data);
        return 2;
    }
    /* the strategies */
    emim_mask_options m[NSTRAT];
    char names[NSTRAT][48];
    for (int k = 0; k < NRATIO; k++) {
        emim_mask_options_default(&m[k]);
        m[k].strategy = EMIM_MASK_RANDOM;
        m[k].ratio = 0.1f * (float)(k + 1);
        snprintf(names[k], sizeof names[k], "random %.1f", (double)m[k].ratio);
    }
    m[NRATIO] = hmp;
    snprintf(names[NRATIO], sizeof names[NRATIO], "HMP%s r_pos %.2g r_patch %.2g", hmp.modal ? " modal" : "",
             (double)hmp.r_pos, (double)hmp.r_patch);
    m[NRATIO + 1] = hmp; m[NRATIO + 1].r_pos = 0; m[NRATIO + 1].r_patch = 0; m[NRATIO + 1].modal = 1;
    snprintf(names[NRATIO + 1], sizeof names[NRATIO + 1], "HMP modal mask alone");
    m[NRATIO + 2] = hmp; m[NRATIO + 2].r_patch = 0; m[NRATIO + 2].modal = 0;
    snprintf(names[NRATIO + 2], sizeof names[NRATIO + 2], "HMP position mask alone (%.2g)", (double)hmp.r_pos);
    m[NRATIO + 3] = hmp; m[NRATIO + 3].r_pos = 0; m[NRATIO + 3].modal = 0;
    snprintf(names[NRATIO + 3], sizeof names[NRATIO + 3], "HMP patch mask alone (%.2g)", (double)hmp.r_patch);
    emim_maskvar_result res[NSTRAT];
    printf("maskvar: %s, %d channel%s, %dx%dx%d in patches of %dx%dx%d, %d samples, seed %llu\n",
           dc.path ? dc.path : "the built-in phantom", v.channels, v.channels == 1 ? "" : "s", v.img[0], v.img[1],
           v.img[2], v.patch[0], v.patch[1], v.patch[2], samples, seed);
    fflush(stdout);
    int rc = 0;
    if (emim_maskvar(data, &v, samples, m, NSTRAT, seed, res, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        rc = 1;
    }
    emim_data_close(data);
    if (rc) return rc;
    /* the table, and HMP against random masking at the same masked fraction */
    printf("%-36s %-16s %-22s %s\n", "strategy", "masked", "Var(x_m)", "collapsed loss (mim)");
    for (int k = 0; k < NSTRAT; k++)
        printf("%-36s %.4f+-%.4f  %.6f+-%.6f     %.6f+-%.6f\n", names[k], res[k].masked, res[k].masked_se,
               res[k].var_xm, res[k].var_xm_se, res[k].collapsed, res[k].collapsed_se);
    double f = res[NRATIO].masked, rnd = NAN;
    for (int k = 0; k + 1 < NRATIO; k++)
        if (f >= res[k].masked && f <= res[k + 1].masked) {
            double w = (f - res[k].masked) / (res[k + 1].masked - res[k].masked);
            rnd = res[k].collapsed + w * (res[k + 1].collapsed - res[k].collapsed);
        }
    if (!isnan(rnd))
        printf("HMP's collapsed loss %.6f is %.3f times random masking's at the same masked fraction (%.3f: %.6f)\n",
               res[NRATIO].collapsed, res[NRATIO].collapsed / rnd, f, rnd);
    if (!isnan(converged))
        printf("converged loss %.6f: HMP's collapsed loss is %.3f of it%s\n", converged,
               res[NRATIO].collapsed / converged,
               res[NRATIO].collapsed < converged ? " (below: a collapsed model would beat the trained one)" : "");
    /* the files */
    if (mkdir(out, 0755) && errno != EEXIST) {
        fprintf(stderr, "%s: %s: cannot create the folder: %s\n", prog, out, strerror(errno));
        return 1;
    }
    char tsv[4200], png[4200];
    snprintf(tsv, sizeof tsv, "%s/maskvar.tsv", out);
    snprintf(png, sizeof png, "%s/maskvar.png", out);
    size_t cap = 256 + (size_t)NSTRAT * 256, n = 0;
    char *text = malloc(cap);
    if (!text) return 1;
    n += (size_t)snprintf(text + n, cap - n, "strategy\tmasked\tmasked_se\tvar_xm\tvar_xm_se\tcollapsed\tcollapsed_se\n");
    for (int k = 0; k < NSTRAT; k++)
        n += (size_t)snprintf(text + n, cap - n, "%s\t%.9g\t%.9g\t%.9g\t%.9g\t%.9g\t%.9g\n", names[k], res[k].masked,
                              res[k].masked_se, res[k].var_xm, res[k].var_xm_se, res[k].collapsed,
                              res[k].collapsed_se);
    if (write_file_atomic(tsv, text)) {
        fprintf(stderr, "%s: %s: cannot write: %s\n", prog, tsv, strerror(errno));
        free(text);
        return 1;
    }
    free(text);
    double rx[NRATIO], ry[NRATIO], rv[NRATIO], hx[4][1], hy[4][1];
    for (int k = 0; k < NRATIO; k++) { rx[k] = res[k].masked; ry[k] = res[k].collapsed; rv[k] = res[k].var_xm; }
    plot_series s[6] = { { "random masking, ratio 0.1 .. 0.9", rx, ry, NRATIO, 1, 1 } };
    for (int k = 0; k < 4; k++) {
        hx[k][0] = res[NRATIO + k].masked;
        hy[k][0] = res[NRATIO + k].collapsed;
        s[1 + k] = (plot_series){ names[NRATIO + k], hx[k], hy[k], 1, 0, 1 };
    }
    s[5] = (plot_series){ "Var(x_m) of random masking (per masked voxel)", rx, rv, NRATIO, 1, 0 };
    char title[256];
    snprintf(title, sizeof title, "Collapsed loss by masking strategy (%s, %d samples)",
             dc.path ? "data" : "built-in phantom", samples);
    plot_spec ps = { title, "fraction of voxels masked", "collapsed loss (mean over all voxels), Var(x_m)", 0, 1, 0,
                     { 0 }, { 0 }, 0, 1 };
    if (!isnan(converged)) {
        ps.nhlines = 1;
        ps.hline[0] = converged;
        ps.hline_label[0] = run ? "the run's final MIM loss" : "converged loss (--converged)";
    }
    int drawn = !plot_png(png, &ps, s, 6, err, sizeof err);
    if (!drawn) printf("%s\n", err);
    printf("wrote %s%s%s\n", tsv, drawn ? " and " : "", drawn ? png : "");
    return 0;
}
