/* bench_step: the training step alone, on fixed input (no data loading),
 * for each preset, in fast and exact mode, on the chosen backend.
 *
 *   bench/bench_step [--preset tiny,small,base] [--mode both|fast|exact]
 *                    [--method emim] [--batch 2] [--channels 4] [--steps N]
 *                    [--warmup 1] [--threads N] [--backend cpu|opencl|auto]
 *                    [--device D] [--img H,W,D] [--patch P] [--hidden N]
 *                    [--mlp N] [--heads N] [--layers N] [--profile] [--tsv]
 *
 * Each (preset, mode) runs in a child process of its own, so that its peak
 * resident memory is its own. A row gives the median and the best of the
 * timed steps (after the warm-up steps), the GEMM work of one step, the rate
 * achieved over the whole step, and the GEMM roofline: the time the step's
 * own GEMM calls take alone in fast mode (OpenBLAS or CLBlast at exactly the
 * step's shapes, timed by the op profiler in the same child as the fast row),
 * as a fraction of the step: 100% would mean that everything but GEMM is free.
 * --profile adds the profile of one step: every op's share of the time. */
#define _GNU_SOURCE
#include "emim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    const char *method, *backend, *device;
    int batch, channels, steps, warmup, threads, profile, tsv;
    int img[3], patch, hidden, mlp, heads, layers;
} bench_opts;

typedef struct {
    int ok;
    double median, best, gflop, gemm_rate; /* gemm_rate: GFLOP/s of the step's GEMMs alone (fast mode) */
    float loss;
    char device[128];
} bench_result;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int by_seconds(const void *a, const void *b)
{
    double x = ((const emim_op_profile *)a)->seconds, y = ((const emim_op_profile *)b)->seconds;
    return (x < y) - (x > y);
}

static void print_profile(emim_ctx *ctx, double step)
{
    int n = emim_profile_read(ctx, NULL, 0);
    emim_op_profile *p = calloc((size_t)n + 1, sizeof *p);
    if (!p) return;
    emim_profile_read(ctx, p, n);
    qsort(p, (size_t)n, sizeof *p, by_seconds);
    double leaf = 0;
    for (int i = 0; i < n; i++) if (!p[i].composite) leaf += p[i].seconds;
    printf("#   profile of one step (%.3f s; ops wait for each other while profiled):\n", step);
    printf("#   %-14s %-8s %6s %9s %6s %8s\n", "op", "dir", "calls", "seconds", "share", "GFLOP/s");
    for (int i = 0; i < n; i++) {
        if (p[i].composite) continue;
        printf("#   %-14s %-8s %6ld %9.4f %5.1f%%", p[i].name, p[i].backward ? "backward" : "forward", p[i].calls,
               p[i].seconds, 100 * p[i].seconds / step);
        if (p[i].flops > 0) printf(" %8.1f", p[i].flops / p[i].seconds * 1e-9);
        printf("\n");
    }
    printf("#   %-14s %-8s %6s %9.4f %5.1f%%\n", "(outside ops)", "", "", step - leaf, 100 * (step - leaf) / step);
    free(p);
}

/* One (preset, mode) in this process. */
static bench_result run_one(const char *preset, emim_mode mode, const bench_opts *o)
{
    bench_result r;
    memset(&r, 0, sizeof r);
    char err[512];
    emim_options opt;
    if (emim_options_init(&opt, err, sizeof err)) { fprintf(stderr, "bench_step: %s\n", err); return r; }
    opt.mode = mode;
    if (o->threads) opt.threads = o->threads;
    if (o->backend) opt.backend = !strcmp(o->backend, "cpu") ? EMIM_BACKEND_CPU
                                  : !strcmp(o->backend, "opencl") ? EMIM_BACKEND_OPENCL : EMIM_BACKEND_AUTO;
    if (o->device) opt.device = o->device;
    emim_ctx *ctx;
    if (emim_ctx_create(&ctx, &opt, err, sizeof err)) { fprintf(stderr, "bench_step: %s\n", err); return r; }
    snprintf(r.device, sizeof r.device, "%s %s, %d threads", emim_backend_name(ctx), emim_device_name(ctx), emim_threads(ctx));
    emim_vit_config v;
    emim_vit_preset(preset, &v);
    v.channels = o->channels;
    if (o->img[0]) memcpy(v.img, o->img, sizeof v.img);
    if (o->patch) v.patch[0] = v.patch[1] = v.patch[2] = o->patch;
    if (o->hidden) v.hidden = o->hidden;
    if (o->mlp) v.mlp = o->mlp;
    if (o->heads) v.heads = o->heads;
    if (o->layers) v.layers = o->layers;
    emim_train_config cfg;
    emim_trainer *T = NULL;
    float *img = NULL;
    if (emim_train_config_default(&cfg, &v, o->method)) {
        fprintf(stderr, "bench_step: unknown method '%s'\n", o->method);
        goto out;
    }
    cfg.batch = o->batch;
    cfg.sched.steps = 1000000;
    if (emim_train_config_check(&cfg, err, sizeof err)) { fprintf(stderr, "bench_step: %s\n", err); goto out; }
    if (emim_trainer_create(ctx, &cfg, &T)) { fprintf(stderr, "bench_step: %s\n", emim_error(ctx)); goto out; }
    size_t nimg = (size_t)cfg.batch * v.channels * v.img[0] * v.img[1] * v.img[2];
    img = malloc(nimg * sizeof *img);
    if (!img) goto out;
    uint64_t x = 88172645463325252ull; /* xorshift: fixed input in [0, 1) */
    for (size_t i = 0; i < nimg; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        img[i] = (float)(x >> 40) / 16777216.0f;
    }
    int steps = o->steps;
    double *t = calloc((size_t)steps, sizeof *t);
    if (!t) goto out;
    emim_step_stats st;
    for (int i = 0; i < o->warmup + steps; i++) {
        double t0 = now();
        if (emim_trainer_step(T, img, &st) || emim_finish(ctx)) {
            fprintf(stderr, "bench_step: %s\n", emim_error(ctx));
            free(t);
            goto out;
        }
        if (i >= o->warmup) t[i - o->warmup] = now() - t0;
    }
    r.loss = st.loss;
    qsort(t, (size_t)steps, sizeof *t, cmp_double);
    r.best = t[0];
    r.median = steps % 2 ? t[steps / 2] : 0.5 * (t[steps / 2 - 1] + t[steps / 2]);
    free(t);
    /* one profiled step: the GEMM work and (fast mode) the GEMMs' own rate */
    if (emim_profile_start(ctx)) goto out;
    double t0 = now();
    if (emim_trainer_step(T, img, &st) || emim_finish(ctx)) { fprintf(stderr, "bench_step: %s\n", emim_error(ctx)); goto out; }
    double tp = now() - t0;
    emim_op_profile p[256];
    int n = emim_profile_read(ctx, p, 256);
    double flops = 0, secs = 0;
    for (int i = 0; i < n && i < 256; i++)
        if (!strcmp(p[i].name, "gemm")) { flops += p[i].flops; secs += p[i].seconds; }
    r.gflop = flops * 1e-9;
    r.gemm_rate = mode == EMIM_MODE_FAST && secs > 0 ? flops / secs * 1e-9 : 0;
    if (o->profile) {
        printf("# %s, %s mode, %s:\n", preset, mode == EMIM_MODE_EXACT ? "exact" : "fast", r.device);
        print_profile(ctx, tp);
    }
    emim_profile_stop(ctx);
    r.ok = 1;
out:
    free(img);
    emim_trainer_free(T);
    emim_ctx_free(ctx);
    return r;
}

/* Runs one (preset, mode) in a child; *rss_mib receives its peak RSS. */
static bench_result run_child(const char *preset, emim_mode mode, const bench_opts *o, double *rss_mib)
{
    bench_result r;
    memset(&r, 0, sizeof r);
    int fd[2];
    fflush(stdout);
    if (pipe(fd)) { perror("bench_step: pipe"); return r; }
    pid_t pid = fork();
    if (pid < 0) { perror("bench_step: fork"); return r; }
    if (pid == 0) {
        close(fd[0]);
        bench_result c = run_one(preset, mode, o);
        fflush(stdout);
        ssize_t w = write(fd[1], &c, sizeof c);
        _exit(w == (ssize_t)sizeof c && c.ok ? 0 : 1);
    }
    close(fd[1]);
    ssize_t got = read(fd[0], &r, sizeof r);
    close(fd[0]);
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {}
    if (got != (ssize_t)sizeof r || !WIFEXITED(status) || WEXITSTATUS(status)) r.ok = 0;
    *rss_mib = (double)ru.ru_maxrss / 1024.0;
    return r;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_step [--preset tiny,small,base] [--mode both|fast|exact] [--method M] [--batch N]\n"
               "                  [--channels C] [--steps N] [--warmup N] [--threads N] [--backend cpu|opencl|auto]\n"
               "                  [--device D] [--img H,W,D] [--patch P] [--hidden N] [--mlp N] [--heads N]\n"
               "                  [--layers N] [--profile] [--tsv]\n"
               "Times the training step on fixed input; one child process per preset and mode.\n");
}

static int posint(const char *opt, const char *v)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (*v == 0 || *end || x < 1 || x > 1 << 20) {
        fprintf(stderr, "bench_step: %s: '%s' is not a positive integer\n", opt, v);
        exit(2);
    }
    return (int)x;
}

int main(int argc, char **argv)
{
    bench_opts o = { .method = "emim", .batch = 2, .channels = 4, .steps = 0, .warmup = 1 };
    const char *presets = "tiny,small,base", *mode = "both";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define VAL(name) (!strcmp(a, name) && v && (i++, 1))
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--profile")) o.profile = 1;
        else if (!strcmp(a, "--tsv")) o.tsv = 1;
        else if (VAL("--preset")) presets = v;
        else if (VAL("--mode")) mode = v;
        else if (VAL("--method")) o.method = v;
        else if (VAL("--backend")) o.backend = v;
        else if (VAL("--device")) o.device = v;
        else if (VAL("--batch")) o.batch = posint(a, v);
        else if (VAL("--channels")) o.channels = posint(a, v);
        else if (VAL("--steps")) o.steps = posint(a, v);
        else if (VAL("--warmup")) o.warmup = posint(a, v);
        else if (VAL("--threads")) o.threads = posint(a, v);
        else if (VAL("--patch")) o.patch = posint(a, v);
        else if (VAL("--hidden")) o.hidden = posint(a, v);
        else if (VAL("--mlp")) o.mlp = posint(a, v);
        else if (VAL("--heads")) o.heads = posint(a, v);
        else if (VAL("--layers")) o.layers = posint(a, v);
        else if (VAL("--img")) {
            if (sscanf(v, "%d,%d,%d", &o.img[0], &o.img[1], &o.img[2]) != 3 || o.img[0] < 1 || o.img[1] < 1 ||
                o.img[2] < 1) {
                fprintf(stderr, "bench_step: --img: '%s' is not H,W,D\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "bench_step: unknown option or missing value: %s\n", a);
            usage(stderr);
            return 2;
        }
#undef VAL
    }
    int do_fast = strcmp(mode, "exact") != 0, do_exact = strcmp(mode, "fast") != 0;
    if (strcmp(mode, "both") && strcmp(mode, "fast") && strcmp(mode, "exact")) {
        fprintf(stderr, "bench_step: --mode: '%s' is not both, fast or exact\n", mode);
        return 2;
    }
    if (o.tsv)
        printf("preset\tmode\tdevice\tmedian_s\tbest_s\tgflop\tgflops\tgemm_alone_s\troofline_pct\tpeak_rss_mib\n");
    else
        printf("%-6s %-5s %9s %9s %8s %8s %10s %9s %9s  %s\n", "preset", "mode", "median_s", "best_s", "GFLOP",
               "GFLOP/s", "GEMM-alone", "roofline", "peak_RSS", "device");
    char list[256];
    snprintf(list, sizeof list, "%s", presets);
    int fail = 0;
    for (char *save = NULL, *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        emim_vit_config v;
        if (emim_vit_preset(p, &v)) { fprintf(stderr, "bench_step: unknown preset '%s'\n", p); return 2; }
        bench_opts q = o;
        if (!q.steps) q.steps = !strcmp(p, "base") ? 5 : !strcmp(p, "small") ? 7 : 15;
        double rate = 0;
        for (int m = 0; m < 2; m++) {
            if ((m == 0 && !do_fast) || (m == 1 && !do_exact)) continue;
            double rss = 0;
            bench_result r = run_child(p, m ? EMIM_MODE_EXACT : EMIM_MODE_FAST, &q, &rss);
            if (!r.ok) { fprintf(stderr, "bench_step: %s %s failed\n", p, m ? "exact" : "fast"); fail = 1; continue; }
            if (!m) rate = r.gemm_rate;
            double alone = rate > 0 ? r.gflop / rate : 0;
            if (o.tsv)
                printf("%s\t%s\t%s\t%.4f\t%.4f\t%.2f\t%.1f\t%.4f\t%.1f\t%.0f\n", p, m ? "exact" : "fast", r.device,
                       r.median, r.best, r.gflop, r.gflop / r.median, alone, alone > 0 ? 100 * alone / r.median : 0,
                       rss);
            else if (alone > 0)
                printf("%-6s %-5s %9.4f %9.4f %8.2f %8.1f %9.4fs %8.1f%% %5.0f MiB  %s\n", p, m ? "exact" : "fast",
                       r.median, r.best, r.gflop, r.gflop / r.median, alone, 100 * alone / r.median, rss, r.device);
            else /* no fast row to take the GEMMs' own rate from */
                printf("%-6s %-5s %9.4f %9.4f %8.2f %8.1f %10s %9s %5.0f MiB  %s\n", p, m ? "exact" : "fast",
                       r.median, r.best, r.gflop, r.gflop / r.median, "-", "-", rss, r.device);
            fflush(stdout);
        }
    }
    return fail;
}
