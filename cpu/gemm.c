/* CPU twin of the gemm op, and emim_cpu_sgemm, the host GEMM that the other
 * CPU twins use.
 *
 * Fast mode: OpenBLAS (cblas_sgemm).
 *
 * Exact mode: our own blocked kernel whose every output element is, bit for
 * bit,
 *     acc = 0.0f; for (p = 0; p < k; p++) acc = fmaf(opA(i,p), opB(p,j), acc);
 *     C[i,j] = emim_gemm_out(acc, alpha, beta, C[i,j]);
 * the order the OpenCL twin (kernels-cl/gemm.cl) follows too. The blocking
 * never splits that chain: one micro-kernel call runs the whole k loop of an
 * MR x NR tile of C with one float accumulator per element, updated by a
 * single-rounding fma in ascending p (the SIMD lanes are independent
 * elements), then applies the epilogue. op(A) and op(B) are packed into
 * MR-row and NR-column panels (zero padded; the padding only feeds outputs
 * that are never stored), so transposes cost nothing in the inner loop.
 * Threads share out whole tiles of C, so the result does not depend on the
 * thread count.
 *
 * Micro-kernels (chosen at run time, the library being built for baseline
 * x86-64): AVX-512F 12x32, AVX2+FMA 6x16, and a portable fmaf kernel.
 */
#include "core/emim_math.h"
#include "core/internal.h"

#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* ------------------------------------------------------------------------
 * micro-kernels: C[0:mrem, 0:nrem] = epilogue(pa[MR x k] * pb[k x NR])
 * pa: p-major panel, pa[p*MR + r]; pb: pb[p*NR + c]; both 64-byte aligned.
 * ---------------------------------------------------------------------- */
typedef void (*emim_ukernel_fn)(int k, const float *pa, const float *pb, float *C, size_t ldc,
                                float alpha, float beta, int mrem, int nrem);

typedef struct {
    int mr, nr;
    emim_ukernel_fn fn;
    const char *name;
} emim_ukernel;

/* Scalar epilogue of a (partial) tile held in acc[r * nr + c]. */
static void tile_out(const float *acc, int nr, float *C, size_t ldc, float alpha, float beta, int mrem,
                     int nrem)
{
    for (int r = 0; r < mrem; r++) {
        float *c = C + (size_t)r * ldc;
        if (beta == 0.0f)
            for (int j = 0; j < nrem; j++) c[j] = emim_gemm_out(acc[r * nr + j], alpha, beta, 0.0f);
        else
            for (int j = 0; j < nrem; j++) c[j] = emim_gemm_out(acc[r * nr + j], alpha, beta, c[j]);
    }
}

/* Portable kernel (any architecture, and x86-64 without AVX2/FMA). */
#define GEN_MR 4
#define GEN_NR 16
static void ukernel_generic(int k, const float *pa, const float *pb, float *C, size_t ldc, float alpha,
                            float beta, int mrem, int nrem)
{
    float acc[GEN_MR * GEN_NR];
    for (int e = 0; e < GEN_MR * GEN_NR; e++) acc[e] = 0.0f;
    for (int p = 0; p < k; p++) {
        const float *a = pa + (size_t)p * GEN_MR, *b = pb + (size_t)p * GEN_NR;
        for (int r = 0; r < GEN_MR; r++)
            for (int c = 0; c < GEN_NR; c++) acc[r * GEN_NR + c] = fmaf(a[r], b[c], acc[r * GEN_NR + c]);
    }
    tile_out(acc, GEN_NR, C, ldc, alpha, beta, mrem, nrem);
}

#if defined(__x86_64__)
/* AVX2 + FMA: 6 x 16, 12 ymm accumulators. */
#define AVX2_MR 6
#define AVX2_NR 16
__attribute__((target("avx2,fma"))) static void ukernel_avx2(int k, const float *pa, const float *pb, float *C,
                                                            size_t ldc, float alpha, float beta, int mrem,
                                                            int nrem)
{
    __m256 c0[AVX2_MR], c1[AVX2_MR];
#pragma GCC unroll 6
    for (int r = 0; r < AVX2_MR; r++) c0[r] = c1[r] = _mm256_setzero_ps();
#pragma GCC unroll 2
    for (int p = 0; p < k; p++) {
        __m256 b0 = _mm256_load_ps(pb), b1 = _mm256_load_ps(pb + 8);
#pragma GCC unroll 6
        for (int r = 0; r < AVX2_MR; r++) {
            __m256 a = _mm256_broadcast_ss(pa + r);
            c0[r] = _mm256_fmadd_ps(a, b0, c0[r]);
            c1[r] = _mm256_fmadd_ps(a, b1, c1[r]);
        }
        pa += AVX2_MR;
        pb += AVX2_NR;
    }
    __m256 va = _mm256_set1_ps(alpha);
    if (mrem == AVX2_MR && nrem == AVX2_NR) {
        if (beta == 0.0f) {
#pragma GCC unroll 6
            for (int r = 0; r < AVX2_MR; r++) {
                _mm256_storeu_ps(C + (size_t)r * ldc, _mm256_mul_ps(va, c0[r]));
                _mm256_storeu_ps(C + (size_t)r * ldc + 8, _mm256_mul_ps(va, c1[r]));
            }
        } else {
            __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 6
            for (int r = 0; r < AVX2_MR; r++) {
                float *c = C + (size_t)r * ldc;
                _mm256_storeu_ps(c, _mm256_fmadd_ps(vb, _mm256_loadu_ps(c), _mm256_mul_ps(va, c0[r])));
                _mm256_storeu_ps(c + 8, _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8), _mm256_mul_ps(va, c1[r])));
            }
        }
    } else {
        float acc[AVX2_MR * AVX2_NR] __attribute__((aligned(32)));
        for (int r = 0; r < AVX2_MR; r++) {
            _mm256_store_ps(acc + r * AVX2_NR, c0[r]);
            _mm256_store_ps(acc + r * AVX2_NR + 8, c1[r]);
        }
        tile_out(acc, AVX2_NR, C, ldc, alpha, beta, mrem, nrem);
    }
}

/* AVX-512F: 12 x 32, 24 zmm accumulators; B rows are two full vectors, A
 * elements are broadcast from memory into the fma. */
#define AVX512_MR 12
#define AVX512_NR 32
__attribute__((target("avx512f"))) static void ukernel_avx512(int k, const float *pa, const float *pb, float *C,
                                                             size_t ldc, float alpha, float beta, int mrem,
                                                             int nrem)
{
    __m512 c0[AVX512_MR], c1[AVX512_MR];
#pragma GCC unroll 12
    for (int r = 0; r < AVX512_MR; r++) c0[r] = c1[r] = _mm512_setzero_ps();
#pragma GCC unroll 2
    for (int p = 0; p < k; p++) {
        __m512 b0 = _mm512_load_ps(pb), b1 = _mm512_load_ps(pb + 16);
#pragma GCC unroll 12
        for (int r = 0; r < AVX512_MR; r++) {
            __m512 a = _mm512_set1_ps(pa[r]);
            c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);
            c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);
        }
        pa += AVX512_MR;
        pb += AVX512_NR;
    }
    /* epilogue with column masks; rows past mrem are not stored */
    __mmask16 m0 = nrem >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nrem) - 1u);
    __mmask16 m1 = nrem >= 32 ? (__mmask16)0xffff : nrem <= 16 ? (__mmask16)0 : (__mmask16)((1u << (nrem - 16)) - 1u);
    __m512 va = _mm512_set1_ps(alpha);
    if (beta == 0.0f) {
#pragma GCC unroll 12
        for (int r = 0; r < AVX512_MR; r++) {
            if (r < mrem) {
                float *c = C + (size_t)r * ldc;
                _mm512_mask_storeu_ps(c, m0, _mm512_mul_ps(va, c0[r]));
                _mm512_mask_storeu_ps(c + 16, m1, _mm512_mul_ps(va, c1[r]));
            }
        }
    } else {
        __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
        for (int r = 0; r < AVX512_MR; r++) {
            if (r < mrem) {
                float *c = C + (size_t)r * ldc;
                __m512 o0 = _mm512_maskz_loadu_ps(m0, c), o1 = _mm512_maskz_loadu_ps(m1, c + 16);
                _mm512_mask_storeu_ps(c, m0, _mm512_fmadd_ps(vb, o0, _mm512_mul_ps(va, c0[r])));
                _mm512_mask_storeu_ps(c + 16, m1, _mm512_fmadd_ps(vb, o1, _mm512_mul_ps(va, c1[r])));
            }
        }
    }
}
#endif

static const emim_ukernel uk_generic = { GEN_MR, GEN_NR, ukernel_generic, "generic" };
#if defined(__x86_64__)
static const emim_ukernel uk_avx2 = { AVX2_MR, AVX2_NR, ukernel_avx2, "avx2" };
static const emim_ukernel uk_avx512 = { AVX512_MR, AVX512_NR, ukernel_avx512, "avx512" };
#endif

/* EMIM_GEMM_KERNEL=generic|avx2|avx512 forces a kernel (testing); an
 * unsupported choice falls back to the automatic one. */
static const emim_ukernel *select_ukernel(void)
{
    static const emim_ukernel *chosen;
    const emim_ukernel *k = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
    if (k) return k;
    const emim_ukernel *best = &uk_generic;
#if defined(__x86_64__)
    __builtin_cpu_init();
    int has512 = __builtin_cpu_supports("avx512f");
    int has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (has512) best = &uk_avx512;
    else if (has2) best = &uk_avx2;
    const char *env = getenv("EMIM_GEMM_KERNEL");
    if (env && !strcmp(env, "generic")) best = &uk_generic;
    else if (env && !strcmp(env, "avx2") && has2) best = &uk_avx2;
    else if (env && !strcmp(env, "avx512") && has512) best = &uk_avx512;
#endif
    __atomic_store_n(&chosen, best, __ATOMIC_RELEASE);
    return best;
}

/* ------------------------------------------------------------------------
 * packing
 * ---------------------------------------------------------------------- */
/* dst[p*MR + r] = opA(i0 + r, p) for r < mr_eff, 0 for mr_eff <= r < MR. */
static void pack_a(int ta, const float *A, size_t lda, int i0, int mr_eff, int MR, int k, float *dst)
{
    if (!ta) {
        /* A[i, p]: rows of A become columns of the panel; go through p in
         * blocks so that the panel block stays in L1 */
        for (int p0 = 0; p0 < k; p0 += 64) {
            int pe = p0 + 64 < k ? p0 + 64 : k;
            for (int r = 0; r < mr_eff; r++) {
                const float *src = A + (size_t)(i0 + r) * lda;
                for (int p = p0; p < pe; p++) dst[(size_t)p * MR + r] = src[p];
            }
            for (int r = mr_eff; r < MR; r++)
                for (int p = p0; p < pe; p++) dst[(size_t)p * MR + r] = 0.0f;
        }
    } else {
        /* A[p, i] */
        for (int p = 0; p < k; p++) {
            const float *src = A + (size_t)p * lda + i0;
            float *d = dst + (size_t)p * MR;
            int r = 0;
            for (; r < mr_eff; r++) d[r] = src[r];
            for (; r < MR; r++) d[r] = 0.0f;
        }
    }
}

/* dst[p*NR + c] = opB(p, j0 + c) for c < nr_eff, 0 for nr_eff <= c < NR. */
static void pack_b(int tb, const float *B, size_t ldb, int j0, int nr_eff, int NR, int k, float *dst)
{
    if (!tb) {
        /* B[p, j] */
        for (int p = 0; p < k; p++) {
            const float *src = B + (size_t)p * ldb + j0;
            float *d = dst + (size_t)p * NR;
            int c = 0;
            for (; c < nr_eff; c++) d[c] = src[c];
            for (; c < NR; c++) d[c] = 0.0f;
        }
    } else {
        /* B[j, p] */
        for (int p0 = 0; p0 < k; p0 += 64) {
            int pe = p0 + 64 < k ? p0 + 64 : k;
            for (int c = 0; c < nr_eff; c++) {
                const float *src = B + (size_t)(j0 + c) * ldb;
                for (int p = p0; p < pe; p++) dst[(size_t)p * NR + c] = src[p];
            }
            for (int c = nr_eff; c < NR; c++)
                for (int p = p0; p < pe; p++) dst[(size_t)p * NR + c] = 0.0f;
        }
    }
}

/* ------------------------------------------------------------------------
 * the exact GEMM driver
 * ---------------------------------------------------------------------- */
#ifndef EMIM_GEMM_A_BLOCK_BYTES
#define EMIM_GEMM_A_BLOCK_BYTES (384u * 1024u)  /* A rows per block: stay in L2 */
#endif
#ifndef EMIM_GEMM_B_CHUNK_BYTES
#define EMIM_GEMM_B_CHUNK_BYTES (1024u * 1024u) /* packed B columns per chunk */
#endif

static void *alloc64(size_t floats)
{
    size_t bytes = (floats * sizeof(float) + 63u) & ~(size_t)63u;
    return aligned_alloc(64, bytes ? bytes : 64);
}

static int resolve_threads(int threads)
{
#ifdef _OPENMP
    if (threads <= 0) threads = omp_get_max_threads();
#endif
    return threads > 0 ? threads : 1;
}

/* The reference, element by element (used when k == 0, and when the packing
 * buffers cannot be allocated by emim_cpu_sgemm, which has no error path). */
static void sgemm_naive(int threads, int ta, int tb, int m, int n, int k, float alpha, const float *A, size_t lda,
                        const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float acc = 0.0f;
            for (int p = 0; p < k; p++)
                acc = fmaf(ta ? A[(size_t)p * lda + i] : A[(size_t)i * lda + p],
                           tb ? B[(size_t)j * ldb + p] : B[(size_t)p * ldb + j], acc);
            float *c = C + (size_t)i * ldc + j;
            *c = emim_gemm_out(acc, alpha, beta, beta == 0.0f ? 0.0f : *c);
        }
}

/* The blocking of one exact GEMM (m, n, k > 0) for a number of threads. */
typedef struct {
    const emim_ukernel *uk;
    int npa, npb, ablk, nablk, bchunk;
    size_t apanel, bpanel;     /* floats of one A / B panel */
} exact_plan;

static void plan_exact(exact_plan *p, int threads, int m, int n, int k)
{
    const emim_ukernel *uk = select_ukernel();
    const int MR = uk->mr, NR = uk->nr;
    const int npa = (m + MR - 1) / MR, npb = (n + NR - 1) / NR;
    const size_t apanel = (size_t)MR * k, bpanel = (size_t)NR * k;
    /* A panels per block (the block is reused across a run of B panels) */
    int ablk = (int)(EMIM_GEMM_A_BLOCK_BYTES / (apanel * sizeof(float)));
    if (ablk < 1) ablk = 1;
    if (ablk > npa) ablk = npa;
    int nablk = (npa + ablk - 1) / ablk;
    /* at least about 4 tasks per thread when B has few panels (balance) */
    const int want = (4 * threads + npb - 1) / npb;
    if (nablk < want) nablk = want < npa ? want : npa;
    ablk = (npa + nablk - 1) / nablk; /* blocks of even size */
    nablk = (npa + ablk - 1) / ablk;
    /* B panels per chunk: a multiple of the thread count (balance) */
    int bchunk = (int)(EMIM_GEMM_B_CHUNK_BYTES / (bpanel * sizeof(float)));
    if (bchunk < threads) bchunk = threads;
    bchunk = (bchunk + threads - 1) / threads * threads;
    if (bchunk > npb) bchunk = npb;
    *p = (exact_plan){ uk, npa, npb, ablk, nablk, bchunk, apanel, bpanel };
}

/* floats of packing space the plan needs (A panels, then B panels, each
 * part 64-byte aligned) */
static size_t A_FLOATS(const exact_plan *p) { return (p->apanel * (size_t)p->npa + 15) & ~(size_t)15; }
static size_t plan_floats(const exact_plan *p)
{
    return A_FLOATS(p) + ((p->bpanel * (size_t)p->bchunk + 15) & ~(size_t)15);
}

/* One exact GEMM with the plan's blocking, packing into pack (plan_floats). */
static void run_exact(const exact_plan *pl, int threads, int ta, int tb, int m, int n, int k, float alpha,
                      const float *A, size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc,
                      float *pack)
{
    const int MR = pl->uk->mr, NR = pl->uk->nr, npa = pl->npa, npb = pl->npb, ablk = pl->ablk, nablk = pl->nablk,
              bchunk = pl->bchunk;
    const size_t apanel = pl->apanel, bpanel = pl->bpanel;
    float *pa = pack, *pb = pack + A_FLOATS(pl);
    const emim_ukernel_fn fn = pl->uk->fn;

#pragma omp parallel num_threads(threads) if (threads > 1)
    {
#pragma omp for schedule(static)
        for (int ip = 0; ip < npa; ip++) {
            int i0 = ip * MR;
            pack_a(ta, A, lda, i0, m - i0 < MR ? m - i0 : MR, MR, k, pa + ip * apanel);
        }
        for (int jc = 0; jc < npb; jc += bchunk) {
            const int nb = npb - jc < bchunk ? npb - jc : bchunk;
#pragma omp for schedule(static)
            for (int jp = 0; jp < nb; jp++) {
                int j0 = (jc + jp) * NR;
                pack_b(tb, B, ldb, j0, n - j0 < NR ? n - j0 : NR, NR, k, pb + jp * bpanel);
            }
            /* tasks (A block, B panel), A block major: a thread's run of
             * tasks reuses one A block from L2 */
            const int ntask = nablk * nb;
#pragma omp for schedule(static)
            for (int t = 0; t < ntask; t++) {
                const int ab = t / nb, jp = t % nb;
                const int j0 = (jc + jp) * NR, nrem = n - j0 < NR ? n - j0 : NR;
                const int ipe = (ab + 1) * ablk < npa ? (ab + 1) * ablk : npa;
                const float *bp = pb + jp * bpanel;
                for (int ip = ab * ablk; ip < ipe; ip++) {
                    const int i0 = ip * MR, mrem = m - i0 < MR ? m - i0 : MR;
                    fn(k, pa + ip * apanel, bp, C + (size_t)i0 * ldc + j0, ldc, alpha, beta, mrem, nrem);
                }
            }
        }
    }
}

/* An exact GEMM packing into memory of its own. Returns 0, or -1 when the
 * packing buffers could not be allocated (nothing written then). */
static int sgemm_exact(int threads, int ta, int tb, int m, int n, int k, float alpha, const float *A, size_t lda,
                       const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    if (m <= 0 || n <= 0) return 0;
    if (k <= 0) {
        sgemm_naive(1, ta, tb, m, n, 0, alpha, A, lda, B, ldb, beta, C, ldc);
        return 0;
    }
    exact_plan pl;
    plan_exact(&pl, threads, m, n, k);
    float *pack = alloc64(plan_floats(&pl));
    if (!pack) return -1;
    run_exact(&pl, threads, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, pack);
    free(pack);
    return 0;
}

/* Fast mode. threads > 0: set OpenBLAS's thread count first; 0: leave it (a
 * call from inside an OpenMP region runs single-threaded anyway). */
static void sgemm_fast(int threads, int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
                       const float *B, int ldb, float beta, float *C, int ldc)
{
    if (m <= 0 || n <= 0) return;
    if (threads > 0) openblas_set_num_threads(threads);
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, A,
                lda, B, ldb, beta, C, ldc);
}

/* Fast mode's GEMM: OpenBLAS, or this file's blocked kernel where OpenBLAS
 * is known to leave the machine's width unused: a CPU with AVX-512 while the
 * OpenBLAS build runs kernels without it (OpenBLAS 0.3.21 runs its Haswell
 * kernels on AMD Zen 4, where bench/bench_gemm measures ours 1.6-1.9x
 * faster). A rule, not a timing, so that the choice is the same in every
 * run on a machine. EMIM_FAST_GEMM=openblas|own overrides it. */
static int fast_choice = -1;       /* -1 undecided, 0 OpenBLAS, 1 ours */
static const char *fast_why = "";

static int fast_rule(void)
{
    const char *env = getenv("EMIM_FAST_GEMM");
    if (env && !strcmp(env, "openblas")) { fast_why = "EMIM_FAST_GEMM=openblas"; return 0; }
    if (env && !strcmp(env, "own")) { fast_why = "EMIM_FAST_GEMM=own"; return 1; }
    if (strcmp(select_ukernel()->name, "avx512") != 0) {
        fast_why = "no AVX-512 kernel here; OpenBLAS is the faster";
        return 0;
    }
#if defined(HAVE_OPENBLAS_GET_CORENAME)
    const char *core = openblas_get_corename();
    char low[64] = "";
    for (size_t i = 0; core && core[i] && i + 1 < sizeof low; i++)
        low[i] = (char)(core[i] >= 'A' && core[i] <= 'Z' ? core[i] - 'A' + 'a' : core[i]);
    static const char *const wide[] = { "skylakex", "cooperlake", "sapphirerapids", "zen4", "zen5" };
    for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++)
        if (strstr(low, wide[i])) {
            fast_why = "OpenBLAS runs AVX-512 kernels here";
            return 0;
        }
    fast_why = "AVX-512 here, OpenBLAS runs kernels without it";
    return 1;
#else
    fast_why = "OpenBLAS's kernels unknown";
    return 0;
#endif
}

static int fast_own(void)
{
    int c = __atomic_load_n(&fast_choice, __ATOMIC_ACQUIRE);
    if (c < 0) {
        c = fast_rule();
        __atomic_store_n(&fast_choice, c, __ATOMIC_RELEASE);
    }
    return c;
}

const char *emim_cpu_fast_gemm_info(void)
{
    static char buf[160];
    int own = fast_own();
    snprintf(buf, sizeof buf, "%s (%s)", own ? "the exact kernel (avx512)" : "OpenBLAS", fast_why);
    return buf;
}

void emim_cpu_sgemm(int exact, int threads, int ta, int tb, int m, int n, int k, float alpha, const float *A,
                    int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    threads = resolve_threads(threads);
    if (!exact) {
        sgemm_fast(threads, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (sgemm_exact(threads, ta, tb, m, n, k, alpha, A, (size_t)lda, B, (size_t)ldb, beta, C, (size_t)ldc) != 0)
        sgemm_naive(threads, ta, tb, m, n, k, alpha, A, (size_t)lda, B, (size_t)ldb, beta, C, (size_t)ldc);
}

/* ------------------------------------------------------------------------
 * the op twins
 * ---------------------------------------------------------------------- */
#define PTR(s) (a->t[s].buf->host + a->t[s].off)

/* C[b] = alpha op(A[b]) op(B[b]) + beta C[b], b < batch; exact mode packs
 * into the context's workspace (a region per thread for a batch). */
static emim_status gemm_batched(emim_ctx *ctx, int exact, int threads, int ta, int tb, int m, int n, int k,
                                float alpha, const float *A, int lda, int64_t sa, const float *B, int ldb, int64_t sb,
                                float beta, float *C, int ldc, int64_t sc, int batch)
{
    if (batch <= 0 || m <= 0 || n <= 0) return EMIM_OK;
    if (!exact && !fast_own()) {
        if (batch == 1) {
            sgemm_fast(threads, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
            return EMIM_OK;
        }
        openblas_set_num_threads(threads);
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
        for (int b = 0; b < batch; b++)
            sgemm_fast(0, ta, tb, m, n, k, alpha, A + b * sa, lda, B + b * sb, ldb, beta, C + b * sc, ldc);
        return EMIM_OK;
    }
    if (k <= 0) {
        for (int b = 0; b < batch; b++)
            sgemm_naive(1, ta, tb, m, n, 0, alpha, A + b * sa, (size_t)lda, B + b * sb, (size_t)ldb, beta,
                        C + b * sc, (size_t)ldc);
        return EMIM_OK;
    }
    /* one GEMM: all threads on it; a batch: a GEMM per thread at a time */
    const int per = batch == 1 ? threads : 1, regions = batch == 1 ? 1 : threads;
    exact_plan pl;
    plan_exact(&pl, per, m, n, k);
    const size_t need = plan_floats(&pl);
    emim_ws_mark mark = emim_ws_mark_get(ctx);
    float *pack;
    EMIM_CHECK(emim_ws_host(ctx, need * (size_t)regions, &pack));
    if (batch == 1) {
        run_exact(&pl, threads, ta, tb, m, n, k, alpha, A, (size_t)lda, B, (size_t)ldb, beta, C, (size_t)ldc, pack);
    } else {
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
        for (int b = 0; b < batch; b++)
            run_exact(&pl, 1, ta, tb, m, n, k, alpha, A + b * sa, (size_t)lda, B + b * sb, (size_t)ldb, beta,
                      C + b * sc, (size_t)ldc, pack + need * (size_t)omp_get_thread_num());
    }
    emim_ws_release(ctx, mark);
    return EMIM_OK;
}

emim_status emim_cpu_gemm_forward(emim_ctx *ctx, const emim_args *a)
{
    const int ta = (int)a->i[0], tb = (int)a->i[1], m = (int)a->i[2], n = (int)a->i[3], k = (int)a->i[4];
    const int lda = (int)a->i[5], ldb = (int)a->i[6], ldc = (int)a->i[7], batch = (int)a->i[11];
    const int64_t sa = a->i[8], sb = a->i[9], sc = a->i[10];
    const int exact = ctx->mode == EMIM_MODE_EXACT, threads = resolve_threads(ctx->threads);
    return gemm_batched(ctx, exact, threads, ta, tb, m, n, k, a->f[0], PTR(1), lda, sa, PTR(2), ldb, sb, a->f[1],
                        PTR(0), ldc, sc, batch);
}

/* C = alpha op(A) op(B) (+ beta C):
 *   d op(A) = alpha dC op(B)^T  [m, k];  d op(B) = alpha op(A)^T dC  [k, n],
 * accumulated (beta = 1) into dA and dB in their stored layouts. */
emim_status emim_cpu_gemm_backward(emim_ctx *ctx, const emim_args *a)
{
    const int ta = (int)a->i[0], tb = (int)a->i[1], m = (int)a->i[2], n = (int)a->i[3], k = (int)a->i[4];
    const int lda = (int)a->i[5], ldb = (int)a->i[6], ldc = (int)a->i[7], batch = (int)a->i[11];
    const int64_t sa = a->i[8], sb = a->i[9], sc = a->i[10];
    const float alpha = a->f[0];
    const int exact = ctx->mode == EMIM_MODE_EXACT, threads = resolve_threads(ctx->threads);
    emim_status fail = EMIM_OK;
    if (a->t[0].buf) {
        float *dA = PTR(0);
        const float *B = PTR(3), *dC = PTR(4);
        if (!ta) /* dA[m,k] += alpha dC[m,n] op(B)^T */
            fail = gemm_batched(ctx, exact, threads, 0, !tb, m, k, n, alpha, dC, ldc, sc, B, ldb, sb, 1.0f, dA, lda, sa,
                                 batch);
        else /* dA[k,m] += alpha op(B)[k,n] dC^T */
            fail = gemm_batched(ctx, exact, threads, tb, 1, k, m, n, alpha, B, ldb, sb, dC, ldc, sc, 1.0f, dA, lda, sa,
                                 batch);
    }
    if (a->t[1].buf && !fail) {
        float *dB = PTR(1);
        const float *A = PTR(2), *dC = PTR(4);
        if (!tb) /* dB[k,n] += alpha op(A)^T[k,m] dC */
            fail = gemm_batched(ctx, exact, threads, !ta, 0, k, n, m, alpha, A, lda, sa, dC, ldc, sc, 1.0f, dB, ldb, sb,
                                 batch);
        else /* dB[n,k] += alpha dC^T[n,m] op(A) */
            fail = gemm_batched(ctx, exact, threads, 1, ta, n, k, m, alpha, dC, ldc, sc, A, lda, sa, 1.0f, dB, ldb, sb,
                                 batch);
    }
    return fail;
}
