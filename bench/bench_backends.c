/* bench_backends: GEMM throughput of every backend and mode through the
 * public API, side by side in one run, at the ViT-B shapes of E-MIM
 * (216 tokens, hidden 768, MLP 3072, 12 heads of 64).
 *
 *   bench/bench_backends [REPEATS]
 *
 * Each figure is the best of REPEATS timed calls after one untimed warm-up
 * call (which also absorbs CLBlast's and PoCL's first-call compilation). */
#include "emim.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct { const char *what; int ta, tb, m, n, k, batch; } shape;

static const shape shapes[] = {
    { "qkv      216x2304x768", 0, 1, 216, 2304, 768, 1 },
    { "mlp up   216x3072x768", 0, 1, 216, 3072, 768, 1 },
    { "mlp down 216x768x3072", 0, 1, 216, 768, 3072, 1 },
    { "scores 12x216x216x64 ", 0, 1, 216, 216, 64, 12 },
    { "dW       768x768x216 ", 1, 0, 768, 768, 216, 1 },
};

/* GFLOP/s of one shape on one context; < 0 on error. */
static double run(emim_ctx *ctx, const shape *s, int reps)
{
    size_t na = (size_t)s->m * s->k, nb = (size_t)s->k * s->n, nc = (size_t)s->m * s->n;
    emim_buf *A = NULL, *B = NULL, *C = NULL;
    if (emim_buf_alloc(ctx, na * s->batch, &A) || emim_buf_alloc(ctx, nb * s->batch, &B) ||
        emim_buf_alloc(ctx, nc * s->batch, &C)) {
        fprintf(stderr, "bench: %s\n", emim_error(ctx));
        return -1;
    }
    emim_rand(ctx, emim_at(A, 0), na * s->batch, EMIM_RAND_NORMAL, 1, 0, 0, 1, 0, 0);
    emim_rand(ctx, emim_at(B, 0), nb * s->batch, EMIM_RAND_NORMAL, 1, 1, 0, 1, 0, 0);
    int lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
    double best = 1e30;
    for (int r = 0; r <= reps; r++) {
        double t0 = now();
        if (emim_gemm(ctx, s->ta, s->tb, s->m, s->n, s->k, 1.0f, emim_at(A, 0), lda, na, emim_at(B, 0), ldb, nb,
                      0.0f, emim_at(C, 0), s->n, nc, s->batch) || emim_finish(ctx)) {
            fprintf(stderr, "bench: %s\n", emim_error(ctx));
            best = -1;
            break;
        }
        double t = now() - t0;
        if (r > 0 && t < best) best = t;
    }
    emim_buf_free(A);
    emim_buf_free(B);
    emim_buf_free(C);
    return best < 0 ? -1 : 2.0 * s->m * s->n * s->k * s->batch / best * 1e-9;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    if (reps < 1) reps = 1;
    const struct { emim_backend_kind b; emim_mode m; const char *name; } cfg[] = {
        { EMIM_BACKEND_CPU, EMIM_MODE_FAST, "cpu fast (OpenBLAS)" },
        { EMIM_BACKEND_CPU, EMIM_MODE_EXACT, "cpu exact" },
        { EMIM_BACKEND_OPENCL, EMIM_MODE_FAST, "opencl fast (CLBlast)" },
        { EMIM_BACKEND_OPENCL, EMIM_MODE_EXACT, "opencl exact" },
    };
    enum { NC = sizeof cfg / sizeof cfg[0], NS = sizeof shapes / sizeof shapes[0] };
    double g[NC][NS];
    const char *dev[NC];
    for (int c = 0; c < NC; c++) {
        emim_options o;
        emim_options_init(&o, NULL, 0);
        o.backend = cfg[c].b;
        o.mode = cfg[c].m;
        emim_ctx *ctx = NULL;
        char err[1024];
        dev[c] = "unavailable";
        for (int s = 0; s < NS; s++) g[c][s] = -1;
        if (emim_ctx_create(&ctx, &o, err, sizeof err)) {
            fprintf(stderr, "bench: %s: %s\n", cfg[c].name, err);
            continue;
        }
        static char names[NC][256];
        snprintf(names[c], sizeof names[c], "%s", emim_device_name(ctx));
        dev[c] = names[c];
        for (int s = 0; s < NS; s++) g[c][s] = run(ctx, &shapes[s], reps);
        emim_ctx_free(ctx);
    }
    printf("GEMM GFLOP/s, best of %d (ratio to cpu fast in brackets)\n", reps);
    for (int c = 0; c < NC; c++) printf("  [%d] %-22s on %s\n", c, cfg[c].name, dev[c]);
    printf("%-22s", "shape");
    for (int c = 0; c < NC; c++) printf(" %16s", cfg[c].name);
    printf("\n");
    for (int s = 0; s < NS; s++) {
        printf("%-22s", shapes[s].what);
        for (int c = 0; c < NC; c++) {
            if (g[c][s] < 0) printf(" %16s", "-");
            else printf(" %8.1f (%5.2fx)", g[c][s], g[0][s] > 0 ? g[c][s] / g[0][s] : 0);
        }
        printf("\n");
    }
    return 0;
}
