/* Public functions of gemm: argument checks, then dispatch to the context's
 * twin. The argument layout is written above each. */
#include "core/internal.h"

#include <string.h>

/* Floats spanned by `batch` row-major [rows, cols] matrices with leading
 * dimension ld and batch stride stride; 0 when empty. */
static size_t span(int64_t rows, int64_t cols, int64_t ld, int64_t stride, int64_t batch)
{
    if (rows <= 0 || cols <= 0 || batch <= 0) return 0;
    return (size_t)((batch - 1) * stride + (rows - 1) * ld + cols);
}

/* ---- gemm ----
 * i: 0 ta, 1 tb, 2 m, 3 n, 4 k, 5 lda, 6 ldb, 7 ldc, 8 sa, 9 sb, 10 sc, 11 batch
 * f: 0 alpha, 1 beta
 * forward t: 0 C, 1 A, 2 B;   backward t: 0 dA, 1 dB, 2 A, 3 B, 4 dC */
static emim_status gemm_args(emim_ctx *ctx, const char *op, emim_args *a, int ta, int tb, int m, int n,
                             int k, int lda, size_t sa, int ldb, size_t sb, int ldc, size_t sc, int batch)
{
    memset(a, 0, sizeof *a);
    if ((ta != 0 && ta != 1) || (tb != 0 && tb != 1))
        return emim_set_error(ctx, EMIM_ERR_ARG, "%s: ta and tb must be 0 or 1 (got %d, %d)", op, ta, tb);
    if (m < 1 || n < 1 || k < 0 || batch < 1)
        return emim_set_error(ctx, EMIM_ERR_ARG, "%s: m=%d n=%d k=%d batch=%d: need m, n, batch >= 1 and k >= 0",
                              op, m, n, k, batch);
    int acols = ta ? m : k, bcols = tb ? k : n;
    if (lda < (acols > 1 ? acols : 1) || ldb < (bcols > 1 ? bcols : 1) || ldc < n)
        return emim_set_error(ctx, EMIM_ERR_ARG, "%s: leading dimensions lda=%d ldb=%d ldc=%d too small "
                              "(need at least %d, %d, %d)", op, lda, ldb, ldc, acols, bcols, n);
    int64_t v[12] = { ta, tb, m, n, k, lda, ldb, ldc, (int64_t)sa, (int64_t)sb, (int64_t)sc, batch };
    memcpy(a->i, v, sizeof v);
    return EMIM_OK;
}

emim_status emim_gemm(emim_ctx *ctx, int ta, int tb, int m, int n, int k,
                      float alpha, emim_ref A, int lda, size_t sa,
                      emim_ref B, int ldb, size_t sb,
                      float beta, emim_ref C, int ldc, size_t sc, int batch)
{
    emim_args a;
    EMIM_CHECK(gemm_args(ctx, "gemm", &a, ta, tb, m, n, k, lda, sa, ldb, sb, ldc, sc, batch));
    size_t na = span(ta ? k : m, ta ? m : k, lda, sa, batch);
    size_t nb = span(tb ? n : k, tb ? k : n, ldb, sb, batch);
    size_t nc = span(m, n, ldc, sc, batch);
    if (na) EMIM_CHECK(emim_check_ref(ctx, "gemm", "A", A, na));
    if (nb) EMIM_CHECK(emim_check_ref(ctx, "gemm", "B", B, nb));
    EMIM_CHECK(emim_check_ref(ctx, "gemm", "C", C, nc));
    a.t[0] = C; a.t[1] = A; a.t[2] = B;
    a.f[0] = alpha; a.f[1] = beta;
    return emim_dispatch(ctx, EMIM_OP_gemm, 0, &a);
}

emim_status emim_gemm_backward(emim_ctx *ctx, int ta, int tb, int m, int n, int k,
                               float alpha, emim_ref dA, emim_ref A, int lda, size_t sa,
                               emim_ref dB, emim_ref B, int ldb, size_t sb,
                               emim_ref dC, int ldc, size_t sc, int batch)
{
    emim_args a;
    EMIM_CHECK(gemm_args(ctx, "gemm backward", &a, ta, tb, m, n, k, lda, sa, ldb, sb, ldc, sc, batch));
    size_t na = span(ta ? k : m, ta ? m : k, lda, sa, batch);
    size_t nb = span(tb ? n : k, tb ? k : n, ldb, sb, batch);
    size_t nc = span(m, n, ldc, sc, batch);
    EMIM_CHECK(emim_check_opt_ref(ctx, "gemm backward", "dA", dA, na));
    EMIM_CHECK(emim_check_opt_ref(ctx, "gemm backward", "dB", dB, nb));
    if (dA.buf && nb) EMIM_CHECK(emim_check_ref(ctx, "gemm backward", "B", B, nb));
    if (dB.buf && na) EMIM_CHECK(emim_check_ref(ctx, "gemm backward", "A", A, na));
    EMIM_CHECK(emim_check_ref(ctx, "gemm backward", "dC", dC, nc));
    if (k == 0 || (!dA.buf && !dB.buf)) return EMIM_OK;
    a.t[0] = dA; a.t[1] = dB; a.t[2] = A; a.t[3] = B; a.t[4] = dC;
    a.f[0] = alpha;
    return emim_dispatch(ctx, EMIM_OP_gemm, 1, &a);
}
