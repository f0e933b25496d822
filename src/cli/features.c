/* emim features: the encoder's features of one subject (one NIfTI per
 * modality, preprocessed as the run's training data, centre window) as a
 * safetensors file holding the input volume itself, the output tokens and
 * the hidden states after chosen blocks, so that another framework can be
 * fed the same tensor and compared. */
#include "tool.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/safetensors.h"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: %s features RUN --image=FILE [--image=FILE ...] --out=FILE.safetensors [OPTIONS]\n"
            "The encoder's features of one subject: one NIfTI file per modality, in the run's order, or one 4D\n"
            "file whose fourth axis holds them, preprocessed\n"
            "as the run's data (its percentiles, spacing and foreground crop), then the centre window of the\n"
            "model's grid. Writes float32 tensors: input [1, C, H, W, D] (the volume the encoder sees, for\n"
            "feeding another framework), output [1, tokens, hidden] (after the final LayerNorm) and\n"
            "hidden.L [1, tokens, hidden] (after block L, 0-based).\n"
            "\n"
            "  --image=FILE               a modality's NIfTI file; once per modality (required)\n"
            "  --out=FILE                 the safetensors file to write (required)\n"
            "  --layers=L[,L...]          the blocks whose hidden states are written [all]\n"
            "  --weights=FILE             the encoder's weights from a MONAI-named safetensors file (as\n"
            "                             pretrain --init reads it) instead of the run's\n",
            prog);
}

int cmd_features(emim_options *o, int argc, char **argv)
{
    const char *out = NULL, *layers = NULL, *weights = NULL, *images[32];
    int nimg = 0;
    enum { O_IMAGE = 256, O_OUT, O_LAYERS, O_WEIGHTS };
    static const struct option lo[] = {
        { "image", required_argument, NULL, O_IMAGE }, { "out", required_argument, NULL, O_OUT },
        { "layers", required_argument, NULL, O_LAYERS }, { "weights", required_argument, NULL, O_WEIGHTS },
        { "help", no_argument, NULL, 'h' }, { 0, 0, 0, 0 },
    };
    optind = 0; /* 0: getopt starts afresh (main stopped at the command) */
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case O_IMAGE:
            if (nimg == 32) die_usage("--image '%s': at most 32 modalities", optarg);
            if (strchr(optarg, '\t') || strchr(optarg, '\n')) die_usage("--image '%s': a tab or line break in the name", optarg);
            images[nimg++] = optarg;
            break;
        case O_OUT: out = optarg; break;
        case O_LAYERS: layers = optarg; break;
        case O_WEIGHTS: weights = optarg; break;
        case 'h': usage(stdout); return 0;
        default: fprintf(stderr, "Try '%s features --help'.\n", prog); return 2;
        }
    }
    if (argc - optind != 1) die_usage("features: name one run folder or checkpoint%s", "");
    if (!out || !nimg) die_usage("features: --image (once per modality) and --out are required%s", "");
    static run_info ri;
    if (read_run(argv[optind], &ri)) return 1;
    const emim_vit_config *v = &ri.t.vit;
    int four_d = nimg == 1 && v->channels > 1;   /* one 4D file holding every modality */
    if (four_d) {
        emim_volume hv;
        char herr[4200];
        if (emim_nifti_read(&hv, images[0], 0, herr, sizeof herr)) { fprintf(stderr, "%s: %s\n", prog, herr); return 1; }
        int nc = hv.nc;
        emim_volume_free(&hv);
        if (nc != v->channels) {
            fprintf(stderr, "%s: features: %s holds %d channel%s; the model takes %d: give one --image per modality, "
                    "or one 4D file\n", prog, images[0], nc, nc == 1 ? "" : "s", v->channels);
            return 2;
        }
    }
    if (nimg != v->channels && !four_d) {
        fprintf(stderr, "%s: features: %d --image file%s for a model of %d channels\n", prog, nimg, nimg == 1 ? "" : "s",
                v->channels);
        return 2;
    }
    int L = v->layers, want[1024], nwant = 0;
    if (layers) {
        int tmp[1024];
        for (const char *p = layers; *p && nwant < L;) {
            char *end;
            long x = strtol(p, &end, 10);
            if (end == p || x < 0 || x >= L || (*end && *end != ',')) die_usage("--layers '%s': block numbers from 0 to the layers - 1, comma-separated", layers);
            tmp[nwant++] = (int)x;
            p = *end ? end + 1 : end;
        }
        memcpy(want, tmp, (size_t)nwant * sizeof *want);
    } else {
        for (int l = 0; l < L; l++) want[nwant++] = l;
    }
    /* the subject as a one-line list (or, for a 4D file, a folder holding a
     * link to it), preprocessed by the dataset's code */
    char list[] = "/tmp/emim-features-XXXXXX", link_path[PATH_MAX + 64] = "";
    if (four_d) {
        char abs[PATH_MAX];
        const char *base = strrchr(images[0], '/');
        if (!mkdtemp(list) || !realpath(images[0], abs)) {
            fprintf(stderr, "%s: features: %s: %s\n", prog, images[0], list[0] ? "cannot be found" : "no temporary folder");
            return 1;
        }
        snprintf(link_path, sizeof link_path, "%s/%s", list, base ? base + 1 : images[0]);
        if (symlink(abs, link_path)) { fprintf(stderr, "%s: features: cannot link %s\n", prog, abs); rmdir(list); return 1; }
    } else {
        int fd = mkstemp(list);
        FILE *lf = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!lf) { fprintf(stderr, "%s: features: cannot write a temporary list in /tmp\n", prog); return 1; }
        fprintf(lf, "input"); /* (a first field "subject" would be a header line) */
        for (int i = 0; i < nimg; i++) {
            char abs[PATH_MAX];
            fprintf(lf, "\t%s", realpath(images[i], abs) ? abs : images[i]);
        }
        fprintf(lf, "\n");
        fclose(lf);
    }
    emim_data_config dc = ri.d;
    dc.path = list;
    dc.modalities = NULL;
    dc.channels = v->channels;
    dc.random_crop = 0;
    dc.flip = 0;
    dc.threads = 0;
    for (int k = 0; k < 3; k++) dc.size[k] = v->img[k];
    emim_data *data = NULL;
    char err[4096];
    int rc = 0;
    if (emim_data_open(&data, &dc, err, sizeof err)) { fprintf(stderr, "%s: %s\n", prog, err); rc = 1; }
    int B = ri.t.batch, N = emim_vit_tokens(v), h = v->hidden;
    size_t vol = (size_t)v->channels * v->img[0] * v->img[1] * v->img[2], per = (size_t)B * N * h;
    float *img = rc ? NULL : malloc(vol * B * sizeof *img), *feat = rc ? NULL : malloc(per * (size_t)(nwant + 1) * sizeof *feat);
    if (!rc && (!img || !feat)) { fprintf(stderr, "%s: out of memory\n", prog); rc = 1; }
    if (!rc && emim_data_subject_window(data, 0, img, NULL, err, sizeof err)) { fprintf(stderr, "%s: %s\n", prog, err); rc = 1; }
    for (int b = 1; b < B && !rc; b++) memcpy(img + (size_t)b * vol, img, vol * sizeof *img);
    o->verbose = 0;
    emim_ctx *ctx = make_ctx(o, ri.exact ? EMIM_MODE_EXACT : o->mode);
    emim_trainer *T = NULL;
    if (!rc && (emim_trainer_create(ctx, &ri.t, &T) || emim_trainer_load(T, ri.ckpt) ||
                (weights && emim_trainer_import(T, weights)))) {
        fprintf(stderr, "%s: %s\n", prog, emim_error(ctx));
        rc = 1;
    }
    /* output first, then the blocks; the first sample of the batch */
    for (int k = 0; k <= nwant && !rc; k++)
        if (emim_trainer_features(T, img, k == 0 ? -1 : want[k - 1], 0, feat + (size_t)k * N * h)) {
            fprintf(stderr, "%s: %s\n", prog, emim_error(ctx));
            rc = 1;
        }
    if (!rc) {
        emim_st_out *t = calloc((size_t)nwant + 2, sizeof *t);
        char (*names)[32] = calloc((size_t)nwant + 2, sizeof *names);
        if (!t || !names) { fprintf(stderr, "%s: out of memory\n", prog); rc = 1; }
        for (int k = 0; !rc && k <= nwant + 1; k++) {
            if (k == 0) {
                t[0] = (emim_st_out){ .name = "input", .ndim = 5, .shape = { 1, v->channels, v->img[0], v->img[1], v->img[2] },
                                      .data = img };
                continue;
            }
            if (k == 1) snprintf(names[k], sizeof names[k], "output");
            else snprintf(names[k], sizeof names[k], "hidden.%d", want[k - 2]);
            t[k] = (emim_st_out){ .name = names[k], .ndim = 3, .shape = { 1, N, h }, .data = feat + (size_t)(k - 1) * N * h };
        }
        char step[32];
        snprintf(step, sizeof step, "%ld", ri.done);
        const char *keys[] = { "format", "run", "step", "weights" };
        const char *vals[] = { "libemim-features", ri.ckpt, step, weights ? weights : ri.ckpt };
        if (!rc && emim_st_write(out, t, nwant + 2, keys, vals, 4, err, sizeof err)) { fprintf(stderr, "%s: %s\n", prog, err); rc = 1; }
        if (!rc) printf("features: input [1, %d, %d, %d, %d], output and %d hidden state%s [1, %d, %d] -> %s\n",
                        v->channels, v->img[0], v->img[1], v->img[2], nwant, nwant == 1 ? "" : "s", N, h, out);
        free(t);
        free(names);
    }
    free(img);
    free(feat);
    emim_data_close(data);
    emim_trainer_free(T);
    emim_ctx_free(ctx);
    /* the temporary list, or the link to the 4D file and its folder */
    if (four_d) { unlink(link_path); rmdir(list); } else unlink(list);
    return rc;
}
