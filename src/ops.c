/* The op table and the public op functions: each checks its arguments, packs
 * them into an emim_args (the layout each twin reads is written above its
 * wrapper) and dispatches to the twin of the context's backend. */
#include "cases.h"
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#if HAVE_OPENCL
#define EMIM_CL(fn) fn
#else
#define EMIM_CL(fn) NULL
#endif

const emim_op_def emim_ops[EMIM_OP_COUNT] = {
#define EMIM_OP(name_, file_, summary_, cpu_f, cpu_b, cl_f, cl_b, cases_) \
    { #name_, #file_, summary_, cpu_f, cpu_b, cl_f, cl_b, cases_ },
#include "optable.def"
#undef EMIM_OP
};

int emim_op_count(void) { return EMIM_OP_COUNT; }

const emim_op_info *emim_op_get(int i)
{
    static emim_op_info info[EMIM_OP_COUNT];
    if (i < 0 || i >= EMIM_OP_COUNT) return NULL;
    const emim_op_def *d = &emim_ops[i];
    emim_op_info *o = &info[i];
    o->name = d->name;
    o->file = d->file;
    o->summary = d->summary;
    o->has_backward = EMIM_OP_HAS_BACKWARD(d);
    o->cpu_fwd = d->cpu_fwd != NULL;
    o->cpu_bwd = d->cpu_bwd != NULL;
    o->cl_fwd = d->cl_fwd != NULL;
    o->cl_bwd = d->cl_bwd != NULL;
    o->ncases = 0;
    if (d->cases) {
        emim_case c;
        while (d->cases(o->ncases, &c)) o->ncases++;
    }
    return o;
}

emim_status emim_dispatch(emim_ctx *ctx, int op, int dir, const emim_args *a)
{
    const emim_op_def *d = &emim_ops[op];
    emim_kernel_fn fn;
    if (ctx->be->twin == EMIM_TWIN_CPU) fn = dir ? d->cpu_bwd : d->cpu_fwd;
    else fn = dir ? d->cl_bwd : d->cl_fwd;
    if (!fn)
        return emim_set_error(ctx, EMIM_ERR_UNSUPPORTED, "%s %s: no %s twin", d->name,
                              dir ? "backward" : "forward", ctx->be->name);
    return fn(ctx, a);
}

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

/* ---- bias_add ----
 * i: 0 rows, 1 cols.  forward t: 0 out, 1 inp, 2 bias;  backward t: 0 dinp, 1 dbias, 2 dout */
emim_status emim_bias_add(emim_ctx *ctx, emim_ref out, emim_ref inp, emim_ref bias, int rows, int cols)
{
    if (rows < 1 || cols < 1)
        return emim_set_error(ctx, EMIM_ERR_ARG, "bias_add: rows=%d cols=%d must be >= 1", rows, cols);
    size_t n = (size_t)rows * (size_t)cols;
    EMIM_CHECK(emim_check_ref(ctx, "bias_add", "out", out, n));
    EMIM_CHECK(emim_check_ref(ctx, "bias_add", "inp", inp, n));
    EMIM_CHECK(emim_check_ref(ctx, "bias_add", "bias", bias, (size_t)cols));
    emim_args a = { 0 };
    a.t[0] = out; a.t[1] = inp; a.t[2] = bias;
    a.i[0] = rows; a.i[1] = cols;
    return emim_dispatch(ctx, EMIM_OP_bias_add, 0, &a);
}

emim_status emim_bias_add_backward(emim_ctx *ctx, emim_ref dinp, emim_ref dbias, emim_ref dout, int rows, int cols)
{
    if (rows < 1 || cols < 1)
        return emim_set_error(ctx, EMIM_ERR_ARG, "bias_add backward: rows=%d cols=%d must be >= 1", rows, cols);
    size_t n = (size_t)rows * (size_t)cols;
    EMIM_CHECK(emim_check_opt_ref(ctx, "bias_add backward", "dinp", dinp, n));
    EMIM_CHECK(emim_check_opt_ref(ctx, "bias_add backward", "dbias", dbias, (size_t)cols));
    EMIM_CHECK(emim_check_ref(ctx, "bias_add backward", "dout", dout, n));
    emim_args a = { 0 };
    a.t[0] = dinp; a.t[1] = dbias; a.t[2] = dout;
    a.i[0] = rows; a.i[1] = cols;
    return emim_dispatch(ctx, EMIM_OP_bias_add, 1, &a);
}

/* ---- add ----
 * i: 0 n.  forward t: 0 out, 1 a, 2 b;  backward t: 0 da, 1 db, 2 dout */
emim_status emim_add(emim_ctx *ctx, emim_ref out, emim_ref x, emim_ref y, size_t n)
{
    if (n == 0) return EMIM_OK;
    EMIM_CHECK(emim_check_ref(ctx, "add", "out", out, n));
    EMIM_CHECK(emim_check_ref(ctx, "add", "a", x, n));
    EMIM_CHECK(emim_check_ref(ctx, "add", "b", y, n));
    emim_args a = { 0 };
    a.t[0] = out; a.t[1] = x; a.t[2] = y;
    a.i[0] = (int64_t)n;
    return emim_dispatch(ctx, EMIM_OP_add, 0, &a);
}

emim_status emim_add_backward(emim_ctx *ctx, emim_ref da, emim_ref db, emim_ref dout, size_t n)
{
    if (n == 0) return EMIM_OK;
    EMIM_CHECK(emim_check_opt_ref(ctx, "add backward", "da", da, n));
    EMIM_CHECK(emim_check_opt_ref(ctx, "add backward", "db", db, n));
    EMIM_CHECK(emim_check_ref(ctx, "add backward", "dout", dout, n));
    emim_args a = { 0 };
    a.t[0] = da; a.t[1] = db; a.t[2] = dout;
    a.i[0] = (int64_t)n;
    return emim_dispatch(ctx, EMIM_OP_add, 1, &a);
}

/* ---- scale ----
 * i: 0 n; f: 0 alpha.  forward t: 0 out, 1 a;  backward t: 0 da, 1 dout */
emim_status emim_scale(emim_ctx *ctx, emim_ref out, emim_ref x, float alpha, size_t n)
{
    if (n == 0) return EMIM_OK;
    EMIM_CHECK(emim_check_ref(ctx, "scale", "out", out, n));
    EMIM_CHECK(emim_check_ref(ctx, "scale", "a", x, n));
    emim_args a = { 0 };
    a.t[0] = out; a.t[1] = x;
    a.i[0] = (int64_t)n; a.f[0] = alpha;
    return emim_dispatch(ctx, EMIM_OP_scale, 0, &a);
}

emim_status emim_scale_backward(emim_ctx *ctx, emim_ref da, emim_ref dout, float alpha, size_t n)
{
    if (n == 0) return EMIM_OK;
    EMIM_CHECK(emim_check_ref(ctx, "scale backward", "da", da, n));
    EMIM_CHECK(emim_check_ref(ctx, "scale backward", "dout", dout, n));
    emim_args a = { 0 };
    a.t[0] = da; a.t[1] = dout;
    a.i[0] = (int64_t)n; a.f[0] = alpha;
    return emim_dispatch(ctx, EMIM_OP_scale, 1, &a);
}

/* ---- sum, mean ----
 * i: 0 rows, 1 n.  forward t: 0 out, 1 inp;  backward t: 0 dinp, 1 dout */
static emim_status reduce_call(emim_ctx *ctx, int op, int dir, emim_ref t0, emim_ref t1, int rows, size_t n)
{
    const char *name = emim_ops[op].name;
    char what[64];
    snprintf(what, sizeof what, "%s%s", name, dir ? " backward" : "");
    if (rows < 1 || n < 1)
        return emim_set_error(ctx, EMIM_ERR_ARG, "%s: rows=%d n=%zu must be >= 1", what, rows, n);
    if (n > ((size_t)1 << 40))
        return emim_set_error(ctx, EMIM_ERR_ARG, "%s: n=%zu too large", what, n);
    size_t big = (size_t)rows * n;
    EMIM_CHECK(emim_check_ref(ctx, what, dir ? "dinp" : "out", t0, dir ? big : (size_t)rows));
    EMIM_CHECK(emim_check_ref(ctx, what, dir ? "dout" : "inp", t1, dir ? (size_t)rows : big));
    emim_args a = { 0 };
    a.t[0] = t0; a.t[1] = t1;
    a.i[0] = rows; a.i[1] = (int64_t)n;
    return emim_dispatch(ctx, op, dir, &a);
}

emim_status emim_sum(emim_ctx *ctx, emim_ref out, emim_ref inp, int rows, size_t n)
{ return reduce_call(ctx, EMIM_OP_sum, 0, out, inp, rows, n); }
emim_status emim_sum_backward(emim_ctx *ctx, emim_ref dinp, emim_ref dout, int rows, size_t n)
{ return reduce_call(ctx, EMIM_OP_sum, 1, dinp, dout, rows, n); }
emim_status emim_mean(emim_ctx *ctx, emim_ref out, emim_ref inp, int rows, size_t n)
{ return reduce_call(ctx, EMIM_OP_mean, 0, out, inp, rows, n); }
emim_status emim_mean_backward(emim_ctx *ctx, emim_ref dinp, emim_ref dout, int rows, size_t n)
{ return reduce_call(ctx, EMIM_OP_mean, 1, dinp, dout, rows, n); }

/* ---- rand ----
 * i: 0 n, 1 kind; f: 0..3 p0..p3; u: 0 seed, 1 stream.  t: 0 out */
emim_status emim_rand(emim_ctx *ctx, emim_ref out, size_t n, emim_rand_kind kind,
                      uint64_t seed, uint64_t stream, float p0, float p1, float p2, float p3)
{
    if (n == 0) return EMIM_OK;
    if (n >= ((size_t)1 << 40))
        return emim_set_error(ctx, EMIM_ERR_ARG, "rand: n=%zu: at most 2^40 elements per stream", n);
    switch (kind) {
    case EMIM_RAND_UNIFORM:
        if (!(p0 < p1) || !isfinite(p1 - p0))
            return emim_set_error(ctx, EMIM_ERR_ARG, "rand uniform: need finite lo < hi (got %g, %g)", p0, p1);
        break;
    case EMIM_RAND_NORMAL:
        if (!(p1 >= 0) || !isfinite(p0) || !isfinite(p1))
            return emim_set_error(ctx, EMIM_ERR_ARG, "rand normal: need finite mean and std >= 0 (got %g, %g)", p0, p1);
        break;
    case EMIM_RAND_TRUNC_NORMAL: {
        if (!(p1 > 0) || !isfinite(p0) || !isfinite(p1) || !(p2 < p3))
            return emim_set_error(ctx, EMIM_ERR_ARG,
                                  "rand trunc_normal: need std > 0 and a < b (got mean %g std %g [%g, %g])", p0, p1, p2, p3);
        /* Rejection sampling with 32 candidates per element: the interval
         * must hold at least half of the mass, or the fallback (clamping)
         * would be seen. */
        double za = ((double)p2 - p0) / p1, zb = ((double)p3 - p0) / p1;
        double mass = 0.5 * (erf(zb / sqrt(2.0)) - erf(za / sqrt(2.0)));
        if (mass < 0.5)
            return emim_set_error(ctx, EMIM_ERR_UNSUPPORTED,
                                  "rand trunc_normal: [%g, %g] holds %.3g of N(%g, %g^2); at least 0.5 is supported",
                                  p2, p3, mass, p0, p1);
        break;
    }
    default:
        return emim_set_error(ctx, EMIM_ERR_ARG, "rand: unknown distribution %d", (int)kind);
    }
    EMIM_CHECK(emim_check_ref(ctx, "rand", "out", out, n));
    emim_args a = { 0 };
    a.t[0] = out;
    a.i[0] = (int64_t)n; a.i[1] = kind;
    a.f[0] = p0; a.f[1] = p1; a.f[2] = p2; a.f[3] = p3;
    a.u[0] = seed; a.u[1] = stream;
    return emim_dispatch(ctx, EMIM_OP_rand, 0, &a);
}
