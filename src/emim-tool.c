/* emim: the command-line tool of libemim. */
#include "config.h"
#include "emim.h"

#include <getopt.h>
#include <omp.h>
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
    if (!strcmp(cmd, "help")) { usage(stdout); return 0; }
    die_usage("unknown command '%s'", cmd);
    return 2;
}
