/* emim: the command-line tool of libemim. */
#include "config.h"
#include "emim.h"
#include "data.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *prog = "emim";

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: %s [GLOBAL OPTIONS] COMMAND [OPTIONS]\n"
            "E-MIM self-supervised pretraining of 3D ViTs, with CPU and OpenCL twins.\n"
            "\n"
            "Commands:\n"
            "  info          version, backends, OpenCL platforms and devices, BLAS, threads\n"
            "  validate      run every op on the selected device and on the CPU twin, compare\n"
            "  ops           list the op table (--markdown: as doc/ops.md)\n"
            "  pretrain      E-MIM pretraining (default: the tiny model on the built-in phantom)\n"
            "  phantom       write the built-in phantom as a BraTS-layout folder of NIfTI files\n"
            "\n"
            "Global options (also from the environment):\n"
            "  -b, --backend=cpu|opencl|auto   compute backend (EMIM_BACKEND; default auto:\n"
            "                                  an OpenCL GPU if there is one, else the CPU)\n"
            "  -d, --device=INDEX|NAME         OpenCL device by index or name substring (EMIM_DEVICE)\n"
            "  -t, --threads=N                 CPU threads (EMIM_THREADS, else OMP_NUM_THREADS)\n"
            "  -q, --quiet                     do not say which backend was chosen\n"
            "  -h, --help                      this help\n"
            "  -V, --version                   version\n"
            "\n"
            "validate options:\n"
            "  --exact         exact mode only: every op must be bit-identical to the CPU twin\n"
            "  --fast          fast mode only: GEMMs within the stated bound, the rest bit-identical\n"
            "                  (neither: both modes)\n"
            "  --ops=LIST      only these ops (comma-separated; see emim ops)\n"
            "  --seed=N        seed of the random inputs (default 1)\n"
            "  --failures      print only the rows that fail\n"
            "\n"
            "pretrain options (defaults in brackets):\n"
            "  --preset=tiny|small|base   model size [tiny]\n"
            "  --steps=N                  total optimiser steps [200]\n"
            "  --batch=N                  volumes per step [2]\n"
            "  --lr=X --warmup=N          peak learning rate [1e-3], linear warm-up steps [20]\n"
            "  --weight-decay=X --clip=X  AdamW weight decay [0.05], gradient-norm clipping [1]\n"
            "  --mask=hmp|random          masking strategy [hmp]\n"
            "  --r-pos=X --r-patch=X      HMP position / patch mask ratios [0.4, 0.3]; --no-modal-mask\n"
            "  --ratio=X                  random masking ratio [0.6]\n"
            "  --levels=N --w-pbt=X --w-off=X  PBT levels [4, at most the layers], weight [1], off-diagonal weight [1]\n"
            "  --seed=N                   initialisation, masks and phantoms [1]\n"
            "  --exact                    exact mode (bit-reproducible on CPU and OpenCL)\n"
            "  --out=DIR                  metrics.tsv and checkpoint.emim go here [emim-run]\n"
            "  --checkpoint-every=N       [50]; --resume continues DIR's checkpoint\n"
            "\n"
            "pretrain data options (default: the built-in phantom, generated per sample):\n"
            "  --data=PATH                a BraTS-layout folder (one subfolder per subject), a folder of\n"
            "                             4D NIfTI files, or a TSV list (subject, then one path per modality)\n"
            "  --modalities=LIST          file-name suffixes of the modalities [t1n,t1c,t2w,t2f]\n"
            "  --percentiles=LO,HI        intensity clipping percentiles of the foreground [0.5,99.5]\n"
            "  --spacing=X[,Y,Z]          resample to this voxel size first [keep]\n"
            "  --no-fg-crop               do not crop to the foreground's bounding box first\n"
            "  --centre-crop              crop the centre instead of a random window\n"
            "  --flip                     random flips along each axis\n"
            "  --data-threads=N           background loading threads; 0: none [1]\n"
            "  --prefetch=N               batches loaded ahead [2]\n"
            "  --cache-mb=N               memory for prepared subjects [half the RAM]\n"
            "\n"
            "phantom options:\n"
            "  --out=DIR                  the folder to create (required; must not exist)\n"
            "  --subjects=N --size=X,Y,Z  [8] subjects of [96,96,72] voxels (1 mm)\n"
            "  --seed=N                   [1]; --no-gzip writes .nii instead of .nii.gz\n"
            "\n"
            "Exit status: 0 success, 1 failure (a check failed, or an error), 2 bad usage.\n"
            "See emim(1) and doc/numerics.md.\n",
            prog);
}

static void die_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry '%s --help'.\n", prog);
    exit(2);
}

static int parse_int(const char *s, const char *what, long lo, long hi)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "%s: %s '%s': expected an integer from %ld to %ld\n", prog, what, s, lo, hi);
        exit(2);
    }
    return (int)v;
}

static emim_ctx *make_ctx(emim_options *o, emim_mode mode)
{
    emim_ctx *ctx = NULL;
    char err[4096];
    o->mode = mode;
    emim_status s = emim_ctx_create(&ctx, o, err, sizeof err);

    if (s) {
        fprintf(stderr, "%s: %s\n", prog, err);
        exit(1);
    }
    return ctx;
}

/* ---- info ---- */
static void print_line(const char *line, void *user)
{
    (void)user;
    printf("  %s\n", line);
}

static int cmd_info(emim_options *o)
{
    printf("libemim %s\n", emim_version());
    printf("backends built in: cpu%s\n", emim_have_opencl() ? ", opencl" : " (OpenCL disabled at configure)");
    printf("BLAS: %s\n", emim_blas_info());
    printf("CPU threads: %d (OpenMP max %d)\n", o->threads ? o->threads : omp_get_max_threads(),
           omp_get_max_threads());
    printf("numerics: no fast-math, no FMA contraction; exact mode uses a fixed-order fma GEMM\n");
    printf("OpenCL:\n");
    emim_opencl_report(print_line, NULL);
    emim_ctx *ctx = NULL;
    char err[4096];
    emim_options q = *o;
    q.verbose = 0;
    if (emim_ctx_create(&ctx, &q, err, sizeof err) == EMIM_OK) {
        printf("selected: backend %s, device %s\n", emim_backend_name(ctx), emim_device_name(ctx));
        emim_ctx_free(ctx);
    } else {
        printf("selected: none (%s)\n", err);
        return 1;
    }
    return 0;
}

/* ---- validate ---- */
typedef struct {
    int failures_only;
    int printed_header;
} vstate;

static void print_row(const emim_validate_row *r, void *user)
{
    vstate *st = user;
    if (st->failures_only && r->pass) return;
    if (!st->printed_header) {
        printf("%-9s %-9s %-12s %-10s %-9s %s\n", "op", "direction", "max|diff|", "max ulp", "verdict", "case");
        st->printed_header = 1;
    }
    char verdict[64];
    if (!r->pass) snprintf(verdict, sizeof verdict, "FAIL");
    else if (r->bitwise) snprintf(verdict, sizeof verdict, "identical");
    else if (r->max_ulp == 0) snprintf(verdict, sizeof verdict, "identical");
    else snprintf(verdict, sizeof verdict, "in-bound(%.2g)", r->worst_ratio);
    printf("%-9s %-9s %-12.3g %-10.0f %-9s %s\n", r->op, r->dir, r->max_abs, r->max_ulp, verdict, r->shape);
    if (!r->pass) printf("          -> %s\n", r->note);
    fflush(stdout);
}

static int cmd_validate(emim_options *o, int argc, char **argv)
{
    int want_exact = 0, want_fast = 0, failures_only = 0;
    const char *only = NULL;
    unsigned long long seed = 1;
    static const struct option lo[] = {
        { "exact", no_argument, NULL, 'e' }, { "fast", no_argument, NULL, 'f' },
        { "ops", required_argument, NULL, 'o' }, { "seed", required_argument, NULL, 's' },
        { "failures", no_argument, NULL, 'F' }, { "help", no_argument, NULL, 'h' }, { 0, 0, 0, 0 },
    };
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'e': want_exact = 1; break;
        case 'f': want_fast = 1; break;
        case 'o': only = optarg; break;
        case 's': {
            char *end;
            seed = strtoull(optarg, &end, 10);
            if (end == optarg || *end) die_usage("--seed '%s': expected a non-negative integer", optarg);
            break;
        }
        case 'F': failures_only = 1; break;
        case 'h': usage(stdout); exit(0);
        default: fprintf(stderr, "Try '%s --help'.\n", prog); exit(2);
        }
    }
    if (optind < argc) die_usage("validate: unexpected argument '%s'", argv[optind]);
    if (!want_exact && !want_fast) want_exact = want_fast = 1;
    /* What validate is for is an OpenCL device: with the backend left to
     * auto it takes one of any type (a GPU first), else the CPU on 2 threads
     * against 1. */
    if (o->backend == EMIM_BACKEND_AUTO && emim_have_opencl()) {
        emim_options probe = *o;
        probe.backend = EMIM_BACKEND_OPENCL;
        probe.verbose = 0;
        emim_ctx *pc = NULL;
        char err[4096];
        if (emim_ctx_create(&pc, &probe, err, sizeof err) == EMIM_OK) {
            emim_ctx_free(pc);
            o->backend = EMIM_BACKEND_OPENCL;
        } else {
            if (o->verbose) fprintf(stderr, "%s: validate: %s; validating the CPU twin across thread counts\n", prog, err);
            o->backend = EMIM_BACKEND_CPU;
        }
    }
    int total_fail = 0, total_rows = 0;
    for (int pass = 0; pass < 2; pass++) {
        emim_mode mode = pass == 0 ? EMIM_MODE_EXACT : EMIM_MODE_FAST;
        if ((mode == EMIM_MODE_EXACT && !want_exact) || (mode == EMIM_MODE_FAST && !want_fast)) continue;
        emim_ctx *ctx = make_ctx(o, mode);
        printf("== %s mode: %s '%s' against the CPU twin%s\n", mode == EMIM_MODE_EXACT ? "exact" : "fast",
               emim_backend_name(ctx), emim_device_name(ctx),
               emim_backend(ctx) == EMIM_BACKEND_CPU ? " on 1 thread (no OpenCL device selected)" : "");
        fflush(stdout);
        vstate st = { failures_only, 0 };
        int rows = 0, fails = 0;
        emim_status s = emim_validate(ctx, only, seed, print_row, &st, &rows, &fails);
        if (s && s != EMIM_ERR_MISMATCH) {
            fprintf(stderr, "%s: validate: %s\n", prog, emim_error(ctx));
            emim_ctx_free(ctx);
            return 1;
        }
        printf("== %s mode: %d checks, %d passed, %d failed\n", mode == EMIM_MODE_EXACT ? "exact" : "fast", rows,
               rows - fails, fails);
        total_rows += rows;
        total_fail += fails;
        emim_ctx_free(ctx);
    }
    printf("%d passed, %d failed\n", total_rows - total_fail, total_fail);
    return total_fail ? 1 : 0;
}

/* ---- ops ---- */
static int cmd_ops(int argc, char **argv)
{
    int md = argc > 1 && !strcmp(argv[1], "--markdown");
    if (argc > 1 && !md) die_usage("ops: unknown option '%s'", argv[1]);
    if (md) {
        printf("# The op table\n\n"
               "Generated by `emim ops --markdown` from src/optable.def; `make check` fails when this file\n"
               "and the table differ. Each op has a CPU twin in `cpu/FILE.c` and an OpenCL twin in\n"
               "`kernels-cl/FILE.c` (host) and `kernels-cl/FILE.cl` (device); its twin-test cases are in\n"
               "`src/cases.c` and run in `tests/check_twins.c` and `emim validate`. A composite op is written\n"
               "once from twinned ops (so it runs on either backend) and its twin test compares it on both.\n\n"
               "| op | summary | backward | CPU twin | OpenCL twin | cases |\n"
               "|---|---|---|---|---|---|\n");
    } else {
        printf("%-9s %-12s %-9s %-6s %s\n", "op", "file", "backward", "cases", "summary");
    }
    for (int i = 0; i < emim_op_count(); i++) {
        const emim_op_info *op = emim_op_get(i);
        if (md && strchr(op->file, '/')) /* a composite op, written once from twinned ops */
            printf("| `%s` | %s | %s | `%s.c` (composite) | `%s.c` (composite) | %d |\n", op->name, op->summary,
                   op->has_backward ? "yes" : "no (not differentiable)", op->file, op->file, op->ncases);
        else if (md)
            printf("| `%s` | %s | %s | `cpu/%s.c` | `kernels-cl/%s.cl` | %d |\n", op->name, op->summary,
                   op->has_backward ? "yes" : "no (not differentiable)", op->file, op->file, op->ncases);
        else
            printf("%-9s %-12s %-9s %-6d %s\n", op->name, op->file, op->has_backward ? "yes" : "no", op->ncases,
                   op->summary);
    }
    return 0;
}

/* ---- pretrain ---- */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float parse_float(const char *s, const char *what, double lo, double hi)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "%s: %s '%s': expected a number from %g to %g\n", prog, what, s, lo, hi);
        exit(2);
    }
    return (float)v;
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* "X" or "X,Y,Z" (n = 3), or "A,B" (n = 2): each from lo to hi */
static void parse_floats(const char *s, const char *what, float *out, int n, int allow_one, double lo, double hi)
{
    char *end;
    const char *p = s;
    int k = 0;
    for (; k < n; k++) {
        double v = strtod(p, &end);
        if (end == p || !(v >= lo && v <= hi)) break;
        out[k] = (float)v;
        p = end;
        if (*p != ',') { k++; break; }
        p++;
    }
    if (*p || !(k == n || (allow_one && k == 1))) {
        fprintf(stderr, "%s: %s '%s': expected %s%d comma-separated numbers from %g to %g\n", prog, what, s,
                allow_one ? "1 or " : "", n, lo, hi);
        exit(2);
    }
    if (k == 1 && allow_one)
        for (int i = 1; i < n; i++) out[i] = out[0];
}

static int cmd_pretrain(emim_options *o, int argc, char **argv)
{
    const char *preset = "tiny", *out = "emim-run";
    int steps = 200, batch = 2, warmup = 20, levels = -1, every = 50, resume = 0, exact = 0, modal = 1;
    float lr = 1e-3f, wd = 0.05f, clip = 1.0f, r_pos = 0.4f, r_patch = 0.3f, ratio = 0.6f, w_pbt = 1, w_off = 1;
    emim_mask_strategy strategy = EMIM_MASK_HMP;
    unsigned long long seed = 1;
    emim_data_config dc;
    emim_data_config_default(&dc);
    enum { O_PRESET = 256, O_STEPS, O_BATCH, O_LR, O_WARMUP, O_WD, O_CLIP, O_MASK, O_RPOS, O_RPATCH, O_NOMODAL,
           O_RATIO, O_LEVELS, O_WPBT, O_WOFF, O_SEED, O_EXACT, O_OUT, O_EVERY, O_RESUME, O_DATA, O_MODS, O_PCT,
           O_SPACING, O_NOFG, O_CENTRE, O_FLIP, O_DTHREADS, O_PREFETCH, O_CACHE };
    static const struct option lo[] = {
        { "preset", required_argument, NULL, O_PRESET }, { "steps", required_argument, NULL, O_STEPS },
        { "batch", required_argument, NULL, O_BATCH }, { "lr", required_argument, NULL, O_LR },
        { "warmup", required_argument, NULL, O_WARMUP }, { "weight-decay", required_argument, NULL, O_WD },
        { "clip", required_argument, NULL, O_CLIP }, { "mask", required_argument, NULL, O_MASK },
        { "r-pos", required_argument, NULL, O_RPOS }, { "r-patch", required_argument, NULL, O_RPATCH },
        { "no-modal-mask", no_argument, NULL, O_NOMODAL }, { "ratio", required_argument, NULL, O_RATIO },
        { "levels", required_argument, NULL, O_LEVELS }, { "w-pbt", required_argument, NULL, O_WPBT },
        { "w-off", required_argument, NULL, O_WOFF }, { "seed", required_argument, NULL, O_SEED },
        { "exact", no_argument, NULL, O_EXACT }, { "out", required_argument, NULL, O_OUT },
        { "checkpoint-every", required_argument, NULL, O_EVERY }, { "resume", no_argument, NULL, O_RESUME },
        { "data", required_argument, NULL, O_DATA }, { "modalities", required_argument, NULL, O_MODS },
        { "percentiles", required_argument, NULL, O_PCT }, { "spacing", required_argument, NULL, O_SPACING },
        { "no-fg-crop", no_argument, NULL, O_NOFG }, { "centre-crop", no_argument, NULL, O_CENTRE },
        { "center-crop", no_argument, NULL, O_CENTRE }, { "flip", no_argument, NULL, O_FLIP },
        { "data-threads", required_argument, NULL, O_DTHREADS }, { "prefetch", required_argument, NULL, O_PREFETCH },
        { "cache-mb", required_argument, NULL, O_CACHE },
        { "help", no_argument, NULL, 'h' }, { 0, 0, 0, 0 },
    };
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case O_PRESET: preset = optarg; break;
        case O_STEPS: steps = parse_int(optarg, "--steps", 1, 100000000); break;
        case O_BATCH: batch = parse_int(optarg, "--batch", 1, 4096); break;
        case O_LR: lr = parse_float(optarg, "--lr", 0, 10); break;
        case O_WARMUP: warmup = parse_int(optarg, "--warmup", 0, 100000000); break;
        case O_WD: wd = parse_float(optarg, "--weight-decay", 0, 10); break;
        case O_CLIP: clip = parse_float(optarg, "--clip", 0, 1e9); break;
        case O_MASK:
            if (!strcmp(optarg, "hmp")) strategy = EMIM_MASK_HMP;
            else if (!strcmp(optarg, "random")) strategy = EMIM_MASK_RANDOM;
            else die_usage("--mask '%s': expected hmp or random", optarg);
            break;
        case O_RPOS: r_pos = parse_float(optarg, "--r-pos", 0, 1); break;
        case O_RPATCH: r_patch = parse_float(optarg, "--r-patch", 0, 1); break;
        case O_NOMODAL: modal = 0; break;
        case O_RATIO: ratio = parse_float(optarg, "--ratio", 0, 1); break;
        case O_LEVELS: levels = parse_int(optarg, "--levels", 1, 1000); break;
        case O_WPBT: w_pbt = parse_float(optarg, "--w-pbt", 0, 1e6); break;
        case O_WOFF: w_off = parse_float(optarg, "--w-off", 0, 1e6); break;
        case O_SEED: {
            char *end;
            seed = strtoull(optarg, &end, 10);
            if (end == optarg || *end) die_usage("--seed '%s': expected a non-negative integer", optarg);
            break;
        }
        case O_EXACT: exact = 1; break;
        case O_OUT: out = optarg; break;
        case O_EVERY: every = parse_int(optarg, "--checkpoint-every", 1, 100000000); break;
        case O_RESUME: resume = 1; break;
        case O_DATA: dc.path = optarg; break;
        case O_MODS: dc.modalities = optarg; break;
        case O_PCT: {
            float p[2];
            parse_floats(optarg, "--percentiles", p, 2, 0, 0, 100);
            if (!(p[0] < p[1])) die_usage("--percentiles '%s': the low one must be below the high one", optarg);
            dc.p_lo = p[0];
            dc.p_hi = p[1];
            break;
        }
        case O_SPACING: parse_floats(optarg, "--spacing", dc.spacing, 3, 1, 0.01, 100); break;
        case O_NOFG: dc.fg_crop = 0; break;
        case O_CENTRE: dc.random_crop = 0; break;
        case O_FLIP: dc.flip = 1; break;
        case O_DTHREADS: dc.threads = parse_int(optarg, "--data-threads", 0, 64); break;
        case O_PREFETCH: dc.depth = parse_int(optarg, "--prefetch", 1, 64); break;
        case O_CACHE: dc.cache_bytes = (size_t)parse_int(optarg, "--cache-mb", 0, 1 << 30) << 20; break;
        case 'h': usage(stdout); exit(0);
        default: fprintf(stderr, "Try '%s --help'.\n", prog); exit(2);
        }
    }
    if (optind < argc) die_usage("pretrain: unexpected argument '%s'", argv[optind]);

    char ckpt[4096], metrics[4096];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.emim", out);
    snprintf(metrics, sizeof metrics, "%s/metrics.tsv", out);
    if (!resume && (file_exists(ckpt) || file_exists(metrics))) {
        fprintf(stderr, "%s: %s already holds a run; use --resume to continue it or --out for a new folder\n", prog, out);
        return 1;
    }
    if (resume && !file_exists(ckpt)) {
        fprintf(stderr, "%s: --resume: %s: no checkpoint there\n", prog, ckpt);
        return 1;
    }
    emim_ctx *ctx = make_ctx(o, exact ? EMIM_MODE_EXACT : o->mode);
    emim_train_config t;
    long done = 0;
    if (resume) {
        if (emim_checkpoint_config(ctx, ckpt, &t, &done)) {
            fprintf(stderr, "%s: %s\n", prog, emim_error(ctx));
            emim_ctx_free(ctx);
            return 1;
        }
        t.steps = steps > t.steps ? steps : t.steps;
    } else {
        emim_vit_config v;
        if (emim_vit_preset(preset, &v)) die_usage("--preset '%s': expected tiny, small or base", preset);
        emim_train_config_default(&t, &v);
        t.batch = batch; t.lr = lr; t.warmup = warmup; t.weight_decay = wd; t.clip = clip; t.steps = steps;
        t.mask.strategy = strategy; t.mask.modal = modal; t.mask.r_pos = r_pos; t.mask.r_patch = r_patch;
        t.mask.ratio = ratio; t.w_pbt = w_pbt; t.w_off = w_off; t.seed = seed;
        t.levels = levels > 0 ? levels : (v.layers >= 4 ? 4 : v.layers);
    }
    /* the data first: a bad dataset leaves no run folder behind */
    int H = t.vit.img[0], W = t.vit.img[1], D = t.vit.img[2], C = t.vit.channels;
    dc.channels = C;
    dc.size[0] = H;
    dc.size[1] = W;
    dc.size[2] = D;
    dc.seed = t.seed;
    emim_data *data = NULL;
    char derr[2048];
    if (emim_data_open(&data, &dc, derr, sizeof derr)) {
        fprintf(stderr, "%s: %s\n", prog, derr);
        emim_ctx_free(ctx);
        return 1;
    }
    if (mkdir(out, 0755) && errno != EEXIST) {
        fprintf(stderr, "%s: %s: cannot create the folder: %s\n", prog, out, strerror(errno));
        emim_data_close(data);
        emim_ctx_free(ctx);
        return 1;
    }
    emim_trainer *T = NULL;
    if (emim_trainer_create(ctx, &t, &T) || (resume && emim_trainer_load(T, ckpt))) {
        fprintf(stderr, "%s: %s\n", prog, emim_error(ctx));
        emim_data_close(data);
        emim_trainer_free(T);
        emim_ctx_free(ctx);
        return 1;
    }
    long start = emim_trainer_steps_done(T);
    if (emim_data_start(data, t.batch, (uint64_t)start, derr, sizeof derr)) {
        fprintf(stderr, "%s: %s\n", prog, derr);
        emim_data_close(data);
        emim_trainer_free(T);
        emim_ctx_free(ctx);
        return 1;
    }
    FILE *mf = fopen(metrics, resume ? "a" : "w");
    if (!mf) {
        fprintf(stderr, "%s: %s: cannot write: %s\n", prog, metrics, strerror(errno));
        return 1;
    }
    if (!resume) fprintf(mf, "step\tloss\tmim\tpbt\tlr\tgrad_norm\tdata_wait\tseconds\n");
    size_t vol = (size_t)C * H * W * D;
    float *img = malloc(vol * (size_t)t.batch * sizeof *img);
    if (!img) { fprintf(stderr, "%s: out of memory for a batch\n", prog); return 1; }
    int tty = isatty(2);
    printf("pretrain: %s model (%d layers, hidden %d, %d tokens), batch %d, %d steps, %s mode, backend %s (%s)%s\n",
           resume ? "resumed" : preset, t.vit.layers, t.vit.hidden, emim_vit_tokens(&t.vit), t.batch, t.steps,
           emim_get_mode(ctx) == EMIM_MODE_EXACT ? "exact" : "fast", emim_backend_name(ctx), emim_device_name(ctx),
           resume ? ", from the checkpoint" : "");
    if (dc.path)
        printf("data: %s %s, %d subjects, %d modalities to %dx%dx%d; %d loading thread%s, %d batches ahead\n",
               emim_data_kind(data), dc.path, emim_data_subjects(data), C, H, W, D, dc.threads,
               dc.threads == 1 ? "" : "s", dc.depth);
    else
        printf("data: the built-in phantom, %dx%dx%d, a new subject per sample\n", H, W, D);
    fflush(stdout);
    double t0 = now_s(), first = NAN, last_sum = 0, waited = 0;
    int last_n = 0, rc = 0;
    for (long s = start; s < t.steps; s++) {
        double wait = 0;
        if (emim_data_next(data, img, &wait, derr, sizeof derr)) {
            fprintf(stderr, "%s%s: step %ld: %s\n", tty ? "\n" : "", prog, s + 1, derr);
            rc = 1;
            break;
        }
        waited += wait;
        emim_step_stats st;
        if (emim_trainer_step(T, img, &st)) {
            fprintf(stderr, "\n%s: step %ld: %s\n", prog, s + 1, emim_error(ctx));
            rc = 1;
            break;
        }
        double el = now_s() - t0;
        fprintf(mf, "%ld\t%.9g\t%.9g\t%.9g\t%.9g\t%.9g\t%.4f\t%.3f\n", s + 1, st.loss, st.mim, st.pbt, st.lr,
                st.grad_norm, wait, el);
        fflush(mf);
        if (isnan(first)) first = st.loss;
        if (s >= t.steps - 10) { last_sum += st.loss; last_n++; }
        long k = s - start + 1, total = t.steps - start;
        if (tty) {
            int w = (int)(30 * k / total);
            fprintf(stderr, "\r[%.*s%.*s] step %ld/%d  loss %.5f  %.2f steps/s ", w, "##############################",
                    30 - w, "..............................", s + 1, t.steps, st.loss, k / el);
        } else if (k == 1 || k == total || k % (total / 20 > 0 ? total / 20 : 1) == 0) {
            printf("step %ld/%d  loss %.6f  mim %.6f  pbt %.6f  lr %.3g  %.1f s\n", s + 1, t.steps, st.loss, st.mim, st.pbt,
                   st.lr, el);
            fflush(stdout);
        }
        if ((s + 1) % every == 0 || s + 1 == t.steps) {
            if (emim_trainer_save(T, ckpt)) {
                fprintf(stderr, "\n%s: %s\n", prog, emim_error(ctx));
                rc = 1;
                break;
            }
        }
    }
    if (tty) fprintf(stderr, "\n");
    double el = now_s() - t0;
    long ran = emim_trainer_steps_done(T) - start;
    fclose(mf);
    if (!rc && ran > 0)
        printf("done: loss %.6f at the first step, %.6f over the last %d; %.2f steps/s (%.2f volumes/s); "
               "waited %.1f s for data (%.1f%% of the time); checkpoint %s, metrics %s\n", first,
               last_n ? last_sum / last_n : first, last_n, ran / el, ran * t.batch / el, waited, 100 * waited / el,
               ckpt, metrics);
    else if (!rc)
        printf("done: the checkpoint is already at step %ld of %d\n", emim_trainer_steps_done(T), t.steps);
    free(img);
    emim_data_close(data);
    emim_trainer_free(T);
    emim_ctx_free(ctx);
    return rc;
}

/* ---- phantom ---- */
static int cmd_phantom(int argc, char **argv)
{
    const char *out = NULL;
    int n = 8, gz = 1;
    float size[3] = { 96, 96, 72 };
    unsigned long long seed = 1;
    enum { O_OUT = 256, O_SUBJECTS, O_SIZE, O_SEED, O_NOGZ };
    static const struct option lo[] = {
        { "out", required_argument, NULL, O_OUT }, { "subjects", required_argument, NULL, O_SUBJECTS },
        { "size", required_argument, NULL, O_SIZE }, { "seed", required_argument, NULL, O_SEED },
        { "no-gzip", no_argument, NULL, O_NOGZ }, { "help", no_argument, NULL, 'h' }, { 0, 0, 0, 0 },
    };
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case O_OUT: out = optarg; break;
        case O_SUBJECTS: n = parse_int(optarg, "--subjects", 1, 100000); break;
        case O_SIZE: parse_floats(optarg, "--size", size, 3, 1, 4, 1024); break;
        case O_SEED: {
            char *end;
            seed = strtoull(optarg, &end, 10);
            if (end == optarg || *end) die_usage("--seed '%s': expected a non-negative integer", optarg);
            break;
        }
        case O_NOGZ: gz = 0; break;
        case 'h': usage(stdout); exit(0);
        default: fprintf(stderr, "Try '%s --help'.\n", prog); exit(2);
        }
    }
    if (optind < argc) die_usage("phantom: unexpected argument '%s'", argv[optind]);
    if (!out) die_usage("phantom: --out=DIR is required%s", "");
    int H = (int)size[0], W = (int)size[1], D = (int)size[2];
    if (H != size[0] || W != size[1] || D != size[2]) die_usage("--size: whole numbers of voxels%s", "");
    if (mkdir(out, 0755)) {
        fprintf(stderr, "%s: %s: %s\n", prog, out,
                errno == EEXIST ? "already exists; the phantom goes into a new folder" : strerror(errno));
        return 1;
    }
    size_t nv = (size_t)H * W * D;
    float *img = malloc(4 * nv * sizeof *img), *seg = malloc(nv * sizeof *seg);
    uint8_t *lab = malloc(nv);
    if (!img || !seg || !lab) {
        fprintf(stderr, "%s: out of memory for a %dx%dx%d phantom\n", prog, H, W, D);
        return 1;
    }
    /* BraTS 2023 names; intensities in scanner-like ranges; zero background
     * (BraTS volumes are skull-stripped); 1 mm voxels centred on the origin */
    static const char *mods[4] = { "t1n", "t1c", "t2w", "t2f" };
    static const float scale[4] = { 900, 1100, 1400, 700 };
    emim_volume v;
    memset(&v, 0, sizeof v);
    v.nx = H; v.ny = W; v.nz = D; v.nc = 1;
    v.pixdim[0] = v.pixdim[1] = v.pixdim[2] = 1;
    v.qform_code = v.sform_code = 1;
    v.qfac = 1;
    for (int a = 0; a < 3; a++) {
        v.qoffset[a] = -(float)(a == 0 ? H : a == 1 ? W : D) / 2;
        v.srow[a][a] = 1;
        v.srow[a][3] = v.qoffset[a];
    }
    int tty = isatty(2), rc = 0;
    char path[8192], err[1024];
    for (int i = 0; i < n && !rc; i++) {
        char name[64];
        snprintf(name, sizeof name, "PHANTOM-%05d-000", i);
        snprintf(path, sizeof path, "%s/%s", out, name);
        if (mkdir(path, 0755)) {
            fprintf(stderr, "%s: %s: cannot create: %s\n", prog, path, strerror(errno));
            rc = 1;
            break;
        }
        emim_phantom(img, lab, H, W, D, seed, (uint64_t)i);
        for (size_t k = 0; k < nv; k++) {
            seg[k] = lab[k] >= EMIM_TISSUE_OEDEMA ? (float)(lab[k] - EMIM_TISSUE_OEDEMA + 1) : 0.0f;
            for (int m = 0; m < 4; m++)
                img[(size_t)m * nv + k] = lab[k] == EMIM_TISSUE_BACKGROUND ? 0.0f : img[(size_t)m * nv + k] * scale[m];
        }
        for (int m = 0; m < 5 && !rc; m++) {
            snprintf(path, sizeof path, "%s/%s/%s-%s.nii%s", out, name, name, m < 4 ? mods[m] : "seg", gz ? ".gz" : "");
            v.data = m < 4 ? img + (size_t)m * nv : seg;
            if ((m < 4 ? emim_nifti_write(path, &v, err, sizeof err)
                       : emim_nifti_write_as(path, &v, 2, 1, 0, 0, err, sizeof err))) {
                fprintf(stderr, "%s: %s\n", prog, err);
                rc = 1;
            }
        }
        if (tty) fprintf(stderr, "\rwriting subject %d/%d ", i + 1, n);
    }
    if (tty) fprintf(stderr, "\n");
    if (!rc)
        printf("wrote %d subjects of %dx%dx%d voxels to %s (t1n, t1c, t2w, t2f and seg per subject)\n", n, H, W, D,
               out);
    free(img);
    free(seg);
    free(lab);
    return rc;
}

int main(int argc, char **argv)
{
    emim_options o;
    char err[512];
    if (emim_options_init(&o, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return 2;
    }
    o.verbose = 1;
    static const struct option lo[] = {
        { "backend", required_argument, NULL, 'b' }, { "device", required_argument, NULL, 'd' },
        { "threads", required_argument, NULL, 't' }, { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' }, { 0, 0, 0, 0 },
    };
    int c;
    /* "+": stop at the command; its options are parsed by the command */
    while ((c = getopt_long(argc, argv, "+b:d:t:qhV", lo, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (!strcasecmp(optarg, "cpu")) o.backend = EMIM_BACKEND_CPU;
            else if (!strcasecmp(optarg, "opencl")) o.backend = EMIM_BACKEND_OPENCL;
            else if (!strcasecmp(optarg, "auto")) o.backend = EMIM_BACKEND_AUTO;
            else die_usage("--backend '%s': expected cpu, opencl or auto", optarg);
            break;
        case 'd': o.device = optarg; break;
        case 't': o.threads = parse_int(optarg, "--threads", 1, 4096); break;
        case 'q': o.verbose = 0; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("emim (libemim) %s\n", emim_version()); return 0;
        default: fprintf(stderr, "Try '%s --help'.\n", prog); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[optind];
    int cargc = argc - optind;
    char **cargv = argv + optind;
    if (!strcmp(cmd, "info")) {
        if (cargc > 1) die_usage("info: unexpected argument '%s'", cargv[1]);
        return cmd_info(&o);
    }
    if (!strcmp(cmd, "validate")) return cmd_validate(&o, cargc, cargv);
    if (!strcmp(cmd, "ops")) return cmd_ops(cargc, cargv);
    if (!strcmp(cmd, "pretrain")) return cmd_pretrain(&o, cargc, cargv);
    if (!strcmp(cmd, "phantom")) return cmd_phantom(cargc, cargv);
    if (!strcmp(cmd, "help")) { usage(stdout); return 0; }
    die_usage("unknown command '%s'", cmd);
    return 2;
}
