/* bench_gemm: the exact-mode GEMM kernel (cpu/gemm.c) against OpenBLAS, side
 * by side in one run, at 1 and 2 threads, on the GEMM shapes of a ViT-B
 * encoder step (216 tokens: QKV/proj, MLP, attention scores) and a square
 * 1024 one. Each figure is the best of several repetitions after a warm-up
 * call, the two libraries' calls alternating. Also checks that the exact
 * result is bit-identical at 1 and 2 threads and equal to the naive
 * fixed-order reference.
 *
 * usage: bench_gemm [ta tb]     (transposes of A and B, default 0 0)
 * exit status: 0, or 1 when a bitwise check failed. */
#include "core/emim_math.h"
#include "core/internal.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int m, n, k;
    const char *what;
} shape;

static const shape shapes[] = {
    { 216, 768, 768, "ViT-B qkv/proj" },
    { 216, 3072, 768, "ViT-B mlp up" },
    { 216, 216, 64, "ViT-B attn scores" },
    { 1024, 1024, 1024, "square" },
};

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)(rng >> 40) * 0x1.0p-23f - 1.0f; /* [-1, 1) */
}

typedef struct {
    int ta, tb, m, n, k, lda, ldb, ldc;
    float *A, *B, *C;
} problem;

static void run(int exact, int threads, const problem *p)
{
    emim_cpu_sgemm(exact, threads, p->ta, p->tb, p->m, p->n, p->k, 1.0f, p->A, p->lda, p->B, p->ldb, 0.0f, p->C,
                   p->ldc);
}

/* GFLOP/s of the exact kernel (g[0]) and OpenBLAS (g[1]) at `threads`: one
 * warm-up call of each, then calls of the two alternating (so that both see
 * the same machine load), best of reps each; reps chosen so that the
 * measurement takes about 0.5 s (3 to 50 calls each). */
static void gflops(int threads, const problem *p, double g[2])
{
    double flop = 2.0 * p->m * p->n * p->k, best[2] = { 1e30, 1e30 };
    double t0 = omp_get_wtime();
    run(1, threads, p);
    run(0, threads, p);
    double t1 = omp_get_wtime() - t0;
    int reps = t1 > 0.0 ? (int)(0.5 / t1) : 50;
    if (reps < 3) reps = 3;
    if (reps > 50) reps = 50;
    for (int r = 0; r < reps; r++)
        for (int e = 0; e < 2; e++) {
            t0 = omp_get_wtime();
            run(!e, threads, p);
            double t = omp_get_wtime() - t0;
            if (t < best[e]) best[e] = t;
        }
    g[0] = flop / best[0] * 1e-9;
    g[1] = flop / best[1] * 1e-9;
}

static void naive(const problem *p, float alpha, float beta, float *C)
{
    for (int i = 0; i < p->m; i++)
        for (int j = 0; j < p->n; j++) {
            float acc = 0.0f;
            for (int q = 0; q < p->k; q++)
                acc = fmaf(p->ta ? p->A[(size_t)q * p->lda + i] : p->A[(size_t)i * p->lda + q],
                           p->tb ? p->B[(size_t)j * p->ldb + q] : p->B[(size_t)q * p->ldb + j], acc);
            float *c = C + (size_t)i * p->ldc + j;
            *c = emim_gemm_out(acc, alpha, beta, beta == 0.0f ? 0.0f : *c);
        }
}

static problem make(int ta, int tb, int m, int n, int k)
{
    problem p = { ta, tb, m, n, k, ta ? m : k, tb ? k : n, n, NULL, NULL, NULL };
    p.A = malloc(sizeof(float) * (size_t)m * k);
    p.B = malloc(sizeof(float) * (size_t)k * n);
    p.C = malloc(sizeof(float) * (size_t)m * n);
    if (!p.A || !p.B || !p.C) {
        fprintf(stderr, "bench_gemm: out of memory\n");
        exit(2);
    }
    for (size_t e = 0; e < (size_t)m * k; e++) p.A[e] = frand();
    for (size_t e = 0; e < (size_t)k * n; e++) p.B[e] = frand();
    for (size_t e = 0; e < (size_t)m * n; e++) p.C[e] = frand();
    return p;
}

static void release(problem *p)
{
    free(p->A);
    free(p->B);
    free(p->C);
}

/* Exact at 1 and 2 threads vs each other and vs the naive reference, with
 * alpha = -0.75 and beta = 0.5 (so that the epilogue is exercised too). */
static int bitcheck(int ta, int tb, int m, int n, int k)
{
    problem p = make(ta, tb, m, n, k);
    size_t sz = sizeof(float) * (size_t)m * n;
    float *C0 = malloc(sz), *C1 = malloc(sz), *C2 = malloc(sz);
    if (!C0 || !C1 || !C2) exit(2);
    memcpy(C0, p.C, sz);
    memcpy(C1, p.C, sz);
    memcpy(C2, p.C, sz);
    naive(&p, -0.75f, 0.5f, C0);
    emim_cpu_sgemm(1, 1, ta, tb, m, n, k, -0.75f, p.A, p.lda, p.B, p.ldb, 0.5f, C1, p.ldc);
    emim_cpu_sgemm(1, 2, ta, tb, m, n, k, -0.75f, p.A, p.lda, p.B, p.ldb, 0.5f, C2, p.ldc);
    int same12 = !memcmp(C1, C2, sz), sameref = !memcmp(C0, C1, sz);
    printf("bitwise check m=%d n=%d k=%d ta=%d tb=%d alpha=-0.75 beta=0.5:\n"
           "  exact 1 thread == exact 2 threads: %s\n"
           "  exact == naive fma reference:      %s\n",
           m, n, k, ta, tb, same12 ? "yes" : "NO", sameref ? "yes" : "NO");
    free(C0);
    free(C1);
    free(C2);
    release(&p);
    return same12 && sameref;
}

int main(int argc, char **argv)
{
    int ta = argc > 2 ? atoi(argv[1]) != 0 : 0, tb = argc > 2 ? atoi(argv[2]) != 0 : 0;
    printf("GEMM C[m,n] = op(A) op(B), ta=%d tb=%d; GFLOP/s, best of several calls after a warm-up\n", ta, tb);
    printf("%-18s %5s %5s %5s | %8s %8s %6s | %8s %8s %6s\n", "", "m", "n", "k", "exact1", "oblas1", "ratio",
           "exact2", "oblas2", "ratio");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        problem p = make(ta, tb, shapes[s].m, shapes[s].n, shapes[s].k);
        double g[2][2];
        for (int t = 0; t < 2; t++) gflops(t + 1, &p, g[t]);
        printf("%-18s %5d %5d %5d | %8.1f %8.1f %6.2f | %8.1f %8.1f %6.2f\n", shapes[s].what, p.m, p.n, p.k,
               g[0][0], g[0][1], g[0][0] / g[0][1], g[1][0], g[1][1], g[1][0] / g[1][1]);
        fflush(stdout);
        release(&p);
    }
    int ok = bitcheck(ta, tb, 216, 768, 768);
    return ok ? 0 : 1;
}
