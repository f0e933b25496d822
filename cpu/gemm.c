/* TEMPORARY naive CPU gemm twin (to be replaced by the blocked kernel). */
#include "emim_math.h"
#include "internal.h"

#include <cblas.h>

void emim_cpu_sgemm(int exact, int threads, int ta, int tb, int m, int n, int k,
                    float alpha, const float *A, int lda, const float *B, int ldb,
                    float beta, float *C, int ldc)
{
    if (!exact) {
        openblas_set_num_threads(threads);
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha,
                    A, lda, B, ldb, beta, C, ldc);
        return;
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float acc = 0.0f;
            for (int p = 0; p < k; p++)
                acc = fmaf(ta ? A[(size_t)p * lda + i] : A[(size_t)i * lda + p],
                           tb ? B[(size_t)j * ldb + p] : B[(size_t)p * ldb + j], acc);
            C[(size_t)i * ldc + j] = emim_gemm_out(acc, alpha, beta, beta == 0.0f ? 0.0f : C[(size_t)i * ldc + j]);
        }
}

#define I(x) ((int)a->i[x])
#define PTR(s) (a->t[s].buf->host + a->t[s].off)

static void gemm_batched(emim_ctx *ctx, int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
                         int64_t sa, const float *B, int ldb, int64_t sb, float beta, float *C, int ldc, int64_t sc,
                         int batch)
{
    int exact = ctx->mode == EMIM_MODE_EXACT;
    for (int b = 0; b < batch; b++)
        emim_cpu_sgemm(exact, ctx->threads, ta, tb, m, n, k, alpha, A + b * sa, lda, B + b * sb, ldb, beta,
                       C + b * sc, ldc);
}

emim_status emim_cpu_gemm_forward(emim_ctx *ctx, const emim_args *a)
{
    gemm_batched(ctx, I(0), I(1), I(2), I(3), I(4), a->f[0], PTR(1), I(5), a->i[8], PTR(2), I(6), a->i[9], a->f[1],
                 PTR(0), I(7), a->i[10], I(11));
    return EMIM_OK;
}

emim_status emim_cpu_gemm_backward(emim_ctx *ctx, const emim_args *a)
{
    int ta = I(0), tb = I(1), m = I(2), n = I(3), k = I(4), lda = I(5), ldb = I(6), ldc = I(7), batch = I(11);
    int64_t sa = a->i[8], sb = a->i[9], sc = a->i[10];
    float alpha = a->f[0];
    if (a->t[0].buf) {
        if (!ta) gemm_batched(ctx, 0, !tb, m, k, n, alpha, PTR(4), ldc, sc, PTR(3), ldb, sb, 1.0f, PTR(0), lda, sa, batch);
        else gemm_batched(ctx, tb, 1, k, m, n, alpha, PTR(3), ldb, sb, PTR(4), ldc, sc, 1.0f, PTR(0), lda, sa, batch);
    }
    if (a->t[1].buf) {
        if (!tb) gemm_batched(ctx, !ta, 0, k, n, m, alpha, PTR(2), lda, sa, PTR(4), ldc, sc, 1.0f, PTR(1), ldb, sb, batch);
        else gemm_batched(ctx, 1, ta, n, k, m, alpha, PTR(4), ldc, sc, PTR(2), lda, sa, 1.0f, PTR(1), ldb, sb, batch);
    }
    return EMIM_OK;
}
