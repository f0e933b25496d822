/* OpenCL twin of gemm, host side: fast mode through CLBlast, exact mode
 * through our kernel in kernels-cl/gemm.cl. The backward is written as
 * GEMMs with beta = 1, in the same decomposition as the CPU twin. */
#include "core/internal.h"

#include <clblast_c.h>

static const char *clblast_name(CLBlastStatusCode s)
{
    switch (s) {
    case CLBlastNotImplemented: return "CLBlastNotImplemented";
    case CLBlastInvalidDimension: return "CLBlastInvalidDimension";
    case CLBlastInvalidLeadDimA: return "CLBlastInvalidLeadDimA";
    case CLBlastInvalidLeadDimB: return "CLBlastInvalidLeadDimB";
    case CLBlastInvalidLeadDimC: return "CLBlastInvalidLeadDimC";
    case CLBlastInsufficientMemoryA: return "CLBlastInsufficientMemoryA";
    case CLBlastInsufficientMemoryB: return "CLBlastInsufficientMemoryB";
    case CLBlastInsufficientMemoryC: return "CLBlastInsufficientMemoryC";
    case CLBlastInvalidBatchCount: return "CLBlastInvalidBatchCount";
    case CLBlastInvalidLocalMemUsage: return "CLBlastInvalidLocalMemUsage";
    case CLBlastDatabaseError: return "CLBlastDatabaseError";
    case CLBlastUnknownError: return "CLBlastUnknownError";
    case CLBlastUnexpectedError: return "CLBlastUnexpectedError";
    default: return emim_cl_error_name((cl_int)s);
    }
}

/* Packs op(X) of a batch into [rows, dcols] per batch (zero padded), taken
 * from the context's workspace. */
static emim_status pack(emim_ctx *ctx, emim_ref *out, cl_mem X, cl_ulong xo, int trans, int rows, int cols, int ld,
                        cl_ulong stride, int dcols, int batch)
{
    EMIM_CHECK(emim_ws_take(ctx, (size_t)rows * dcols * batch, out));
    cl_mem d = out->buf->mem;
    cl_ulong dso = out->off;
    size_t l[3] = { 16, 16, 1 }, g[3] = { (size_t)dcols, (size_t)rows, (size_t)batch };
    return emim_cl_run(ctx, "emim_pack", 3, g, l, 10, EMIM_ARG(d), EMIM_ARG(dso), EMIM_ARG(X), EMIM_ARG(xo),
                       EMIM_ARG(trans), EMIM_ARG(rows), EMIM_ARG(cols), EMIM_ARG(ld), EMIM_ARG(stride),
                       EMIM_ARG(dcols));
}

/* Exact GEMM for CPU-like devices: pack op(A) as [k, m8] and op(B) as [k, n8],
 * then 8 x 8 blocks per work-item (kernels-cl/gemm.cl). */
static emim_status cl_gemm_direct(emim_ctx *ctx, int ta, int tb, int m, int n, int k, float alpha,
                                  cl_mem A, cl_ulong ao, int lda, cl_ulong sa,
                                  cl_mem B, cl_ulong bo, int ldb, cl_ulong sb,
                                  float beta, cl_mem C, cl_ulong co, int ldc, cl_ulong sc, int batch)
{
    int m8 = (m + 7) / 8 * 8, n8 = (n + 7) / 8 * 8;
    emim_ws_mark mark = emim_ws_mark_get(ctx);
    emim_ref At, Bp;
    /* At[p][i] = opA(i, p): A stored [k, m] when ta (no transpose needed) */
    emim_status s = pack(ctx, &At, A, ao, !ta, k, m, lda, sa, m8, batch);
    if (!s) s = pack(ctx, &Bp, B, bo, tb, k, n, ldb, sb, n8, batch);
    if (!s) {
        cl_mem at = At.buf->mem, bp = Bp.buf->mem;
        cl_ulong ato = At.off, bpo = Bp.off;
        size_t l[3] = { 8, 8, 1 }, g[3] = { (size_t)n8 / 8, (size_t)m8 / 8, (size_t)batch };
        s = emim_cl_run(ctx, "emim_gemm_exact_direct", 3, g, l, 15, EMIM_ARG(m), EMIM_ARG(n), EMIM_ARG(k),
                        EMIM_ARG(alpha), EMIM_ARG(at), EMIM_ARG(ato), EMIM_ARG(m8), EMIM_ARG(bp), EMIM_ARG(bpo),
                        EMIM_ARG(n8), EMIM_ARG(beta), EMIM_ARG(C), EMIM_ARG(co), EMIM_ARG(ldc), EMIM_ARG(sc));
    }
    /* the queue is in order: what is enqueued later runs after these */
    emim_ws_release(ctx, mark);
    return s;
}

/* C[b] = alpha op(A[b]) op(B[b]) + beta C[b], row-major */
static emim_status cl_gemm(emim_ctx *ctx, int ta, int tb, int m, int n, int k, float alpha,
                           cl_mem A, cl_ulong ao, int lda, cl_ulong sa,
                           cl_mem B, cl_ulong bo, int ldb, cl_ulong sb,
                           float beta, cl_mem C, cl_ulong co, int ldc, cl_ulong sc, int batch)
{
    if (ctx->mode == EMIM_MODE_FAST) {
        CLBlastStatusCode st;
        CLBlastTranspose TA = ta ? CLBlastTransposeYes : CLBlastTransposeNo;
        CLBlastTranspose TB = tb ? CLBlastTransposeYes : CLBlastTransposeNo;
        if (batch == 1)
            st = CLBlastSgemm(CLBlastLayoutRowMajor, TA, TB, (size_t)m, (size_t)n, (size_t)k, alpha, A, ao,
                              (size_t)lda, B, bo, (size_t)ldb, beta, C, co, (size_t)ldc, &ctx->cl.queue, NULL);
        else
            st = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, TA, TB, (size_t)m, (size_t)n, (size_t)k, alpha,
                                            A, ao, (size_t)lda, sa, B, bo, (size_t)ldb, sb, beta, C, co,
                                            (size_t)ldc, sc, (size_t)batch, &ctx->cl.queue, NULL);
        if (st != CLBlastSuccess)
            return emim_set_error(ctx, EMIM_ERR_OPENCL, "gemm (CLBlast, m=%d n=%d k=%d batch=%d): %s (%d)", m, n, k,
                                  batch, clblast_name(st), (int)st);
        return EMIM_OK;
    }
    if (ctx->cl.gemm_direct) return cl_gemm_direct(ctx, ta, tb, m, n, k, alpha, A, ao, lda, sa, B, bo, ldb, sb,
                                                   beta, C, co, ldc, sc, batch);
    /* GPU-like device: 16 x 16 tiles of C in local memory, 16 x 4 work-items */
    size_t l[3] = { 16, 4, 1 };
    size_t g[3] = { (size_t)n, ((size_t)m + 15) / 16 * 4, (size_t)batch };
    return emim_cl_run(ctx, "emim_gemm_exact", 3, g, l, 19, EMIM_ARG(ta), EMIM_ARG(tb), EMIM_ARG(m),
                       EMIM_ARG(n), EMIM_ARG(k), EMIM_ARG(alpha), EMIM_ARG(A), EMIM_ARG(ao), EMIM_ARG(lda),
                       EMIM_ARG(sa), EMIM_ARG(B), EMIM_ARG(bo), EMIM_ARG(ldb), EMIM_ARG(sb), EMIM_ARG(beta),
                       EMIM_ARG(C), EMIM_ARG(co), EMIM_ARG(ldc), EMIM_ARG(sc));
}

#define I(x) ((int)a->i[x])
#define U(x) ((cl_ulong)a->i[x])
#define MEM(s) (a->t[s].buf->mem)
#define OFF(s) ((cl_ulong)a->t[s].off)

/* forward t: 0 C, 1 A, 2 B */
emim_status emim_cl_gemm_forward(emim_ctx *ctx, const emim_args *a)
{
    return cl_gemm(ctx, I(0), I(1), I(2), I(3), I(4), a->f[0], MEM(1), OFF(1), I(5), U(8), MEM(2), OFF(2), I(6),
                   U(9), a->f[1], MEM(0), OFF(0), I(7), U(10), I(11));
}

/* backward t: 0 dA, 1 dB, 2 A, 3 B, 4 dC */
emim_status emim_cl_gemm_backward(emim_ctx *ctx, const emim_args *a)
{
    int ta = I(0), tb = I(1), m = I(2), n = I(3), k = I(4), lda = I(5), ldb = I(6), ldc = I(7), batch = I(11);
    cl_ulong sa = U(8), sb = U(9), sc = U(10);
    float alpha = a->f[0];
    emim_status s = EMIM_OK;
    if (a->t[0].buf) {
        if (!ta) /* dA[m,k] += alpha dC[m,n] op(B)^T */
            s = cl_gemm(ctx, 0, !tb, m, k, n, alpha, MEM(4), OFF(4), ldc, sc, MEM(3), OFF(3), ldb, sb, 1.0f,
                        MEM(0), OFF(0), lda, sa, batch);
        else     /* dA[k,m] += alpha op(B)[k,n] dC^T */
            s = cl_gemm(ctx, tb, 1, k, m, n, alpha, MEM(3), OFF(3), ldb, sb, MEM(4), OFF(4), ldc, sc, 1.0f,
                        MEM(0), OFF(0), lda, sa, batch);
        if (s) return s;
    }
    if (a->t[1].buf) {
        if (!tb) /* dB[k,n] += alpha op(A)^T dC */
            s = cl_gemm(ctx, !ta, 0, k, n, m, alpha, MEM(2), OFF(2), lda, sa, MEM(4), OFF(4), ldc, sc, 1.0f,
                        MEM(1), OFF(1), ldb, sb, batch);
        else     /* dB[n,k] += alpha dC^T op(A) */
            s = cl_gemm(ctx, 1, ta, n, k, m, alpha, MEM(4), OFF(4), ldc, sc, MEM(2), OFF(2), lda, sa, 1.0f,
                        MEM(1), OFF(1), ldb, sb, batch);
    }
    return s;
}
