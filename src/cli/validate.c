/* emim validate: every op on the selected device against the CPU twin. */
#include "cases/validate.h"
#include "cli/tool.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "Usage: %s [GLOBAL OPTIONS] validate [OPTIONS]\n"
               "Runs every op of the op table, forward and backward, on awkward shapes, on the selected\n"
               "device and on the CPU twin, and compares them (one row per op, case and direction).\n"
               "\n"
               "  --exact         exact mode only: every op must be bit-identical to the CPU twin\n"
               "  --fast          fast mode only: GEMMs within the stated bound, the rest bit-identical\n"
               "                  (neither: both modes)\n"
               "  --ops=LIST      only these ops (comma-separated; see emim ops)\n"
               "  --seed=N        seed of the random inputs [1]\n"
               "  --failures      print only the rows that fail\n"
               "\n"
               "With the backend left to auto it takes an OpenCL device of any type (a GPU first), else\n"
               "the CPU twin on 2 threads against 1. Exit status 1 when a check fails. See doc/numerics.md.\n",
            prog);
}

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

int cmd_validate(emim_options *o, int argc, char **argv)
{
    int want_exact = 0, want_fast = 0, failures_only = 0;
    const char *only = NULL;
    unsigned long long seed = 1;
    static const struct option lo[] = {
        { "exact", no_argument, NULL, 'e' }, { "fast", no_argument, NULL, 'f' },
        { "ops", required_argument, NULL, 'o' }, { "seed", required_argument, NULL, 's' },
        { "failures", no_argument, NULL, 'F' }, { "help", no_argument, NULL, 'h' }, { 0, 0, 0, 0 },
    };
    optind = 0; /* 0: getopt starts afresh (main stopped at the command) */
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'e': want_exact = 1; break;
        case 'f': want_fast = 1; break;
        case 'o': only = optarg; break;
        case 's': seed = parse_u64(optarg, "--seed"); break;
        case 'F': failures_only = 1; break;
        case 'h': usage(stdout); return 0;
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
