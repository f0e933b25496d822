/* bench_data: the cost of the data pipeline on a dataset, stage by stage,
 * measured side by side in one run.
 *
 *   bench/bench_data DATA [MODALITIES] [SIZE]     (defaults t1n,t1c,t2w,t2f and 64)
 *
 * 1. a first sample of each of the first subjects with the cache off
 *    (decode + normalise + foreground crop + window): seconds per sample;
 * 2. the same samples from the cache: seconds per sample;
 * 3. batches of 2 through 1 background thread with nothing else running:
 *    the wait per batch once the cache is warm. */
#include "emim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static emim_data *open_or_die(emim_data_config *c)
{
    emim_data *d;
    char err[2048];
    if (emim_data_open(&d, c, err, sizeof err)) {
        fprintf(stderr, "bench_data: %s\n", err);
        exit(1);
    }
    return d;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_data DATA [MODALITIES] [SIZE]\n");
        return 2;
    }
    emim_data_config c;
    emim_data_config_default(&c);
    c.path = argv[1];
    if (argc > 2) c.modalities = argv[2];
    int S = argc > 3 ? atoi(argv[3]) : 64;
    c.size[0] = c.size[1] = c.size[2] = S;
    c.threads = 0;
    c.cache_bytes = 0;
    emim_data *d = open_or_die(&c);
    int n = emim_data_subjects(d), k = n < 4 ? n : 4;
    printf("%s: %s, %d subjects of %d channels; window %d^3\n", c.path, emim_data_kind(d), n, emim_data_channels(d),
           S);
    size_t vol = (size_t)emim_data_channels(d) * S * S * S;
    float *x = malloc(2 * vol * sizeof *x);
    char err[2048];

    /* 1. uncached samples of the first k subjects (one epoch's first k) */
    double t0 = now();
    for (int i = 0; i < k; i++)
        if (emim_data_sample(d, (uint64_t)i, x, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    double uncached = (now() - t0) / k;
    emim_data_close(d);

    /* 2. cached */
    c.cache_bytes = (size_t)8 << 30;
    d = open_or_die(&c);
    for (int i = 0; i < n; i++) emim_data_sample(d, (uint64_t)i, x, err, sizeof err);
    t0 = now();
    for (int i = 0; i < 4 * k; i++) emim_data_sample(d, (uint64_t)(n + i), x, err, sizeof err);
    double cached = (now() - t0) / (4 * k);
    size_t bytes;
    int subjects;
    emim_data_cache_stats(d, &bytes, &subjects);
    emim_data_close(d);

    /* 3. background thread, warm cache */
    c.threads = 1;
    d = open_or_die(&c);
    for (int i = 0; i < n; i++) emim_data_sample(d, (uint64_t)i, x, err, sizeof err);
    emim_data_start(d, 2, (uint64_t)n, err, sizeof err);
    double wait_sum = 0, w;
    for (int s = 0; s < 20; s++) {
        if (emim_data_next(d, x, &w, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
        wait_sum += w;
    }
    emim_data_close(d);

    printf("uncached sample (decode, normalise, crop): %.3f s\n", uncached);
    printf("cached sample (window, copy):              %.5f s  (%.0fx faster)\n", cached, uncached / cached);
    printf("cache: %d subjects in %.1f MB\n", subjects, bytes / 1048576.0);
    printf("warm prefetch, batch 2, 1 thread: mean wait %.5f s per batch\n", wait_sum / 20);
    free(x);
    return 0;
}
