/* emim export: a run's encoder as MONAI's ViT weights in a safetensors
 * file, with what a user must reproduce (the model's shape and the data's
 * normalisation) in its metadata. */
#include "tool.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: %s export RUN --out=FILE.safetensors [OPTIONS]\n"
            "Writes the encoder of a run folder (or checkpoint) as MONAI's ViT state_dict: float32 tensors under\n"
            "MONAI's names and shapes, loadable with strict=True into monai.networks.nets.ViT (or, with\n"
            "--prefix vit., UNETR's encoder) built with the run's in_channels, img_size and patch_size. The\n"
            "metadata holds the method, the step, the model's shape and the data's preprocessing.\n"
            "\n"
            "  --out=FILE                 the safetensors file to write (required)\n"
            "  --prefix=TEXT              put before every name, e.g. vit. for UNETR [none]\n"
            "  --monai-version=1.6|none   the key set: 1.6 adds every block's unused norm_cross_attn (as\n"
            "                             MONAI 1.6's ViT has it) as a LayerNorm identity; none adds nothing [1.6]\n",
            prog);
}

int cmd_export(emim_options *o, int argc, char **argv)
{
    const char *out = NULL, *prefix = "", *monai = "1.6";
    enum { O_OUT = 256, O_PREFIX, O_MONAI };
    static const struct option lo[] = {
        { "out", required_argument, NULL, O_OUT }, { "prefix", required_argument, NULL, O_PREFIX },
        { "monai-version", required_argument, NULL, O_MONAI }, { "help", no_argument, NULL, 'h' }, { 0, 0, 0, 0 },
    };
    optind = 0; /* 0: getopt starts afresh (main stopped at the command) */
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case O_OUT: out = optarg; break;
        case O_PREFIX: prefix = optarg; break;
        case O_MONAI:
            if (strcmp(optarg, "1.6") && strcmp(optarg, "none")) die_usage("--monai-version '%s': expected 1.6 or none", optarg);
            monai = optarg;
            break;
        case 'h': usage(stdout); return 0;
        default: fprintf(stderr, "Try '%s export --help'.\n", prog); return 2;
        }
    }
    if (argc - optind != 1) die_usage("export: name one run folder or checkpoint%s", "");
    if (!out) die_usage("export: --out=FILE.safetensors is required%s", "");
    if (strlen(prefix) > 32) die_usage("--prefix '%s': at most 32 characters", prefix);
    static run_info ri;
    if (read_run(argv[optind], &ri)) return 1;
    o->verbose = 0;
    o->backend = EMIM_BACKEND_CPU;
    emim_ctx *ctx = make_ctx(o, EMIM_MODE_FAST);
    emim_trainer *T = NULL;
    int rc = 0;
    const emim_vit_config *v = &ri.t.vit;
    char step[32], shape[256], prep[512];
    snprintf(step, sizeof step, "%ld", ri.done);
    snprintf(shape, sizeof shape, "{\"in_channels\": %d, \"img_size\": [%d, %d, %d], \"patch_size\": [%d, %d, %d], "
             "\"hidden_size\": %d, \"mlp_dim\": %d, \"num_layers\": %d, \"num_heads\": %d, \"qkv_bias\": false}",
             v->channels, v->img[0], v->img[1], v->img[2], v->patch[0], v->patch[1], v->patch[2], v->hidden, v->mlp,
             v->layers, v->heads);
    snprintf(prep, sizeof prep, "each modality clipped to its foreground's %g and %g percentiles and mapped to [0, 1] "
             "(background 0)%s%s; resampled to %g,%g,%g mm (0: kept); a window of %dx%dx%d voxels; modalities: %s",
             (double)ri.d.p_lo, (double)ri.d.p_hi, ri.d.fg_crop ? ", cropped to the foreground's bounding box" : "",
             "", (double)ri.d.spacing[0], (double)ri.d.spacing[1], (double)ri.d.spacing[2], v->img[0], v->img[1],
             v->img[2], ri.d.path ? (ri.d.modalities ? ri.d.modalities : "t1n,t1c,t2w,t2f") :
             "the built-in phantom's T1, T1ce, T2, FLAIR");
    const char *keys[] = { "format", "method", "step", "monai_vit", "preprocessing", "monai_keys" };
    const char *vals[] = { "libemim-encoder", emim_method_name(ri.t.method), step, shape, prep, monai };
    if (emim_trainer_create(ctx, &ri.t, &T) || emim_trainer_load(T, ri.ckpt) ||
        emim_trainer_export(T, out, prefix, monai, keys, vals, 6)) {
        fprintf(stderr, "%s: %s\n", prog, emim_error(ctx));
        rc = 1;
    } else {
        printf("export: the %s encoder of %s (step %ld) as MONAI's ViT (%d channels, img_size %dx%dx%d, patch "
               "%dx%dx%d, hidden %d, %d layers) -> %s\n", emim_method_name(ri.t.method), ri.ckpt, ri.done,
               v->channels, v->img[0], v->img[1], v->img[2], v->patch[0], v->patch[1], v->patch[2], v->hidden,
               v->layers, out);
    }
    emim_trainer_free(T);
    emim_ctx_free(ctx);
    return rc;
}
