/* emim: the command-line tool of libemim. */
#include "config.h"
#include "emim.h"

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

static int cmd_pretrain(emim_options *o, int argc, char **argv)
{
    const char *preset = "tiny", *out = "emim-run";
    int steps = 200, batch = 2, warmup = 20, levels = -1, every = 50, resume = 0, exact = 0, modal = 1;
    float lr = 1e-3f, wd = 0.05f, clip = 1.0f, r_pos = 0.4f, r_patch = 0.3f, ratio = 0.6f, w_pbt = 1, w_off = 1;
    emim_mask_strategy strategy = EMIM_MASK_HMP;
    unsigned long long seed = 1;
    enum { O_PRESET = 256, O_STEPS, O_BATCH, O_LR, O_WARMUP, O_WD, O_CLIP, O_MASK, O_RPOS, O_RPATCH, O_NOMODAL,
           O_RATIO, O_LEVELS, O_WPBT, O_WOFF, O_SEED, O_EXACT, O_OUT, O_EVERY, O_RESUME };
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
    if (mkdir(out, 0755) && errno != EEXIST) {
        fprintf(stderr, "%s: %s: cannot create the folder: %s\n", prog, out, strerror(errno));
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
    emim_trainer *T = NULL;
    if (emim_trainer_create(ctx, &t, &T) || (resume && emim_trainer_load(T, ckpt))) {
        fprintf(stderr, "%s: %s\n", prog, emim_error(ctx));
        emim_trainer_free(T);
        emim_ctx_free(ctx);
        return 1;
    }
    FILE *mf = fopen(metrics, resume ? "a" : "w");
    if (!mf) {
        fprintf(stderr, "%s: %s: cannot write: %s\n", prog, metrics, strerror(errno));
        return 1;
    }
    if (!resume) fprintf(mf, "step\tloss\tmim\tpbt\tlr\tgrad_norm\tseconds\n");
    int H = t.vit.img[0], W = t.vit.img[1], D = t.vit.img[2], C = t.vit.channels;
    if (C != 4) die_usage("pretrain: the built-in phantom has 4 modalities; --preset '%s' does not", preset);
    size_t vol = (size_t)C * H * W * D;
    float *img = malloc(vol * (size_t)t.batch * sizeof *img);
    if (!img) { fprintf(stderr, "%s: out of memory for a batch\n", prog); return 1; }
    int tty = isatty(2);
    printf("pretrain: %s model (%d layers, hidden %d, %d tokens), batch %d, %d steps on the built-in phantom, "
           "%s mode, backend %s (%s)%s\n", resume ? "resumed" : preset, t.vit.layers, t.vit.hidden,
           emim_vit_tokens(&t.vit), t.batch, t.steps, emim_get_mode(ctx) == EMIM_MODE_EXACT ? "exact" : "fast",
           emim_backend_name(ctx), emim_device_name(ctx), resume ? ", from the checkpoint" : "");
    fflush(stdout);
    double t0 = now_s(), first = NAN, last_sum = 0;
    int last_n = 0, rc = 0;
    long start = emim_trainer_steps_done(T);
    for (long s = start; s < t.steps; s++) {
        for (int b = 0; b < t.batch; b++)
            emim_phantom(img + (size_t)b * vol, NULL, H, W, D, t.seed, (uint64_t)(s * t.batch + b));
        emim_step_stats st;
        if (emim_trainer_step(T, img, &st)) {
            fprintf(stderr, "\n%s: step %ld: %s\n", prog, s + 1, emim_error(ctx));
            rc = 1;
            break;
        }
        double el = now_s() - t0;
        fprintf(mf, "%ld\t%.9g\t%.9g\t%.9g\t%.9g\t%.9g\t%.3f\n", s + 1, st.loss, st.mim, st.pbt, st.lr, st.grad_norm, el);
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
               "checkpoint %s, metrics %s\n", first, last_n ? last_sum / last_n : first, last_n, ran / el,
               ran * t.batch / el, ckpt, metrics);
    else if (!rc)
        printf("done: the checkpoint is already at step %ld of %d\n", emim_trainer_steps_done(T), t.steps);
    free(img);
    emim_trainer_free(T);
    emim_ctx_free(ctx);
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
    if (!strcmp(cmd, "help")) { usage(stdout); return 0; }
    die_usage("unknown command '%s'", cmd);
    return 2;
}
