/* emim_math.h: the per-element formulas of libemim, written once and compiled
 * both as C (the CPU twins) and as OpenCL C (the OpenCL twins; the build
 * embeds this file in front of the kernels-cl/ sources).
 *
 * Rules (doc/numerics.md): no contraction of a*b+c (FP_CONTRACT OFF here,
 * -ffp-contract=off for C), fused multiply-add only where written as
 * emim_fma, no library exp/log/erf/sin/cos (their results differ between
 * libm and OpenCL implementations): our own below, built from +, *, fma and
 * exactly rounded operations only, so both twins give the same bits.
 * Float literals carry an f suffix (a bare double literal is an error on
 * devices without fp64). */
#ifndef EMIM_MATH_H
#define EMIM_MATH_H

#ifdef __OPENCL_VERSION__
#pragma OPENCL FP_CONTRACT OFF
#define EMIM_INLINE inline
typedef uint emim_u32;
typedef int emim_i32;
typedef ulong emim_u64;
#define emim_as_u32(x) as_uint(x)
#define emim_as_f32(x) as_float(x)
#define emim_fma(a, b, c) fma((a), (b), (c))
#define emim_sqrt(x) sqrt(x)
#define emim_fabs(x) fabs(x)
#define emim_floor(x) floor(x)
#define emim_mulhi32(a, b) mul_hi((uint)(a), (uint)(b))
#define EMIM_INFINITY INFINITY
#define EMIM_NAN emim_as_f32(0x7fc00000u) /* one NaN pattern for both builds */
#else
#include <math.h>
#include <stdint.h>
#include <string.h>
/* C: contraction is off by -ffp-contract=off (configure insists on it).
 * Always inlined, so that the twins' loops over these formulas vectorise
 * (a call in a loop body stops GCC's vectoriser; the same bits either way). */
#if defined(__GNUC__)
#define EMIM_INLINE static inline __attribute__((always_inline))
#else
#define EMIM_INLINE static inline
#endif
typedef uint32_t emim_u32;
typedef int32_t emim_i32;
typedef uint64_t emim_u64;
EMIM_INLINE emim_u32 emim_as_u32(float x) { emim_u32 u; memcpy(&u, &x, 4); return u; }
EMIM_INLINE float emim_as_f32(emim_u32 u) { float x; memcpy(&x, &u, 4); return x; }
#define emim_fma(a, b, c) fmaf((a), (b), (c))
#define emim_sqrt(x) sqrtf(x)
#define emim_fabs(x) fabsf(x)
#define emim_floor(x) floorf(x)
#define emim_mulhi32(a, b) ((emim_u32)(((emim_u64)(a) * (emim_u64)(b)) >> 32))
#define EMIM_INFINITY INFINITY
#define EMIM_NAN emim_as_f32(0x7fc00000u) /* one NaN pattern for both builds */
#endif

/* Fixed-order sums of long vectors (reduce, mse, l1, barlow,
 * clip_grad_norm): elements in chunks of this many, each chunk summed as a
 * row (below), then the chunk sums as a row; mask_mix's column sums: chunks
 * of rows summed in order, then the chunk sums in order. The same on both
 * twins (the public EMIM_REDUCE_CHUNK; internal.h checks that they agree). */
#define EMIM_SUM_CHUNK 256

/* ---------------------------------------------------------------------------
 * Row sums: the one reduction shape of every row op (layernorm, softmax,
 * rownorm, sum/mean, the losses), the same on both twins and shaped for a GPU
 * work-group of EMIM_ROW_LANES work-items per row. For a row of n terms t_e:
 *   lane j (0 <= j < L, L = EMIM_ROW_LANES) sums the terms j, j+L, j+2L, ...
 *     in order from 0.0f: p_j = ((0 + t_j) + t_{j+L}) + ...;
 *   the L partials combine by a fixed pairwise tree: for s = L/2, L/4, ...,
 *     1: p_i = p_i + p_{i+s} for each i < s; the sum is p_0.
 * A row maximum (softmax) has the same shape with max for + (from -inf).
 * CPU: the lanes are an array p[L] updated block by block (L consecutive
 * terms, the last block may be short; EMIM_LANES below), which GCC
 * vectorises. OpenCL: a work-group of L work-items per row, work-item j
 * being lane j, its partial then combined in local memory by the same tree
 * with a barrier per level (emim_lanes_tree_local); a device or kernel that
 * cannot take a work-group of L runs the serial variant of the kernel (the
 * host picks it: emim_cl_run_rows in src/core/opencl.c), one work-item per
 * row holding the L partials in a private array, in the same order
 * (emim_lanes_tree). Neither the work-group size nor the thread count
 * changes a bit. (A lane starts at +0 and so never holds -0: a short last
 * block gives the same bits as one padded with zeros.)
 * ------------------------------------------------------------------------- */
#define EMIM_ROW_LANES 32

/* The tree over L partials in p[] (private memory on OpenCL), in place;
 * returns the row sum. */
EMIM_INLINE float emim_lanes_tree(float *p)
{
    for (int s = EMIM_ROW_LANES / 2; s > 0; s >>= 1)
        for (int i = 0; i < s; i++) p[i] = p[i] + p[i + s];
    return p[0];
}
/* The same tree with max (the first operand kept unless the second is
 * greater: p_i = p_{i+s} > p_i ? p_{i+s} : p_i). */
EMIM_INLINE float emim_lanes_tree_max(float *p)
{
    for (int s = EMIM_ROW_LANES / 2; s > 0; s >>= 1)
        for (int i = 0; i < s; i++) p[i] = p[i + s] > p[i] ? p[i + s] : p[i];
    return p[0];
}

#ifdef __OPENCL_VERSION__
/* OpenCL, work-group variant: work-item `lane` of a group of L contributes
 * its partial v; the tree runs in local memory p[L]; every work-item gets
 * the row sum (max). All work-items of the group must call it. */
EMIM_INLINE float emim_lanes_tree_local(local float *p, uint lane, float v)
{
    p[lane] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = EMIM_ROW_LANES / 2; s > 0; s >>= 1) {
        if (lane < s) p[lane] = p[lane] + p[lane + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = p[0];
    barrier(CLK_LOCAL_MEM_FENCE); /* p may be used again */
    return r;
}
EMIM_INLINE float emim_lanes_tree_max_local(local float *p, uint lane, float v)
{
    p[lane] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = EMIM_ROW_LANES / 2; s > 0; s >>= 1) {
        if (lane < s) p[lane] = p[lane + s] > p[lane] ? p[lane + s] : p[lane];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = p[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}
/* A row kernel body is written once for both variants as a function of
 * (j0, nj): the work-item computes lanes j0 .. j0+nj-1 (group variant: its
 * own lane, nj = 1; serial variant: j0 = 0, nj = L), each lane's partial
 * into q[t]; emim_lanes_sum / emim_lanes_max then give the row's result.
 * Element loops of the row run c = j0, j0 + EMIM_LANES_STEP(nj), ... */
#define EMIM_LANES_STEP(nj) (EMIM_ROW_LANES / (nj))
EMIM_INLINE float emim_lanes_sum(float *q, local float *p, uint j0, uint nj)
{
    return nj == 1u ? emim_lanes_tree_local(p, j0, q[0]) : emim_lanes_tree(q);
}
EMIM_INLINE float emim_lanes_max(float *q, local float *p, uint j0, uint nj)
{
    return nj == 1u ? emim_lanes_tree_max_local(p, j0, q[0]) : emim_lanes_tree_max(q);
}
/* The row sum of x[0..n-1] (global memory) for lanes j0 .. j0+nj-1, as
 * emim_row_sum on the C side. */
EMIM_INLINE float emim_row_sum_cl(global const float *x, ulong n, uint j0, uint nj, local float *pl)
{
    float q[EMIM_ROW_LANES];
    for (uint t = 0; t < nj; t++) {
        float s = 0.0f;
        for (ulong e = j0 + t; e < n; e += EMIM_ROW_LANES) s += x[e];
        q[t] = s;
    }
    return emim_lanes_sum(q, pl, j0, nj);
}
#else
/* C: runs the statement(s) BODY for every element e (int64_t) of a row of
 * n, with j (int) its lane: the full blocks of L as fixed-count loops over
 * the lanes (vectorised), then the short last block. BODY typically ends
 * with p[j] += term. */
#define EMIM_LANES(n, e, j, ...)                                                                                \
    do {                                                                                                        \
        int64_t emim_b_ = 0, emim_n_ = (n);                                                                     \
        for (; emim_b_ + EMIM_ROW_LANES <= emim_n_; emim_b_ += EMIM_ROW_LANES)                                  \
            for (int j = 0; j < EMIM_ROW_LANES; j++) {                                                          \
                int64_t e = emim_b_ + j;                                                                        \
                __VA_ARGS__                                                                                     \
            }                                                                                                   \
        for (int j = 0; emim_b_ + j < emim_n_; j++) {                                                           \
            int64_t e = emim_b_ + j;                                                                            \
            __VA_ARGS__                                                                                         \
        }                                                                                                       \
    } while (0)

/* L lanes set to v: +0 for sums, -inf for maxima */
EMIM_INLINE void emim_lanes_fill(float *p, float v)
{
    for (int j = 0; j < EMIM_ROW_LANES; j++) p[j] = v;
}
EMIM_INLINE void emim_lanes_zero(float *p) { emim_lanes_fill(p, 0.0f); }
/* The row sum of x[0..n-1] in the lane shape. */
EMIM_INLINE float emim_row_sum(const float *x, int64_t n)
{
    float p[EMIM_ROW_LANES];
    emim_lanes_zero(p);
    EMIM_LANES(n, e, j, p[j] += x[e];);
    return emim_lanes_tree(p);
}
/* The row sum of the rounded products x[e] * y[e] in the lane shape. */
EMIM_INLINE float emim_row_dot(const float *x, const float *y, int64_t n)
{
    float p[EMIM_ROW_LANES];
    emim_lanes_zero(p);
    EMIM_LANES(n, e, j, float t = x[e] * y[e]; p[j] += t;);
    return emim_lanes_tree(p);
}
#endif

/* ---------------------------------------------------------------------------
 * Philox4x32-10 (Salmon et al., SC'11), the generator of Random123; tested
 * against Random123's own philox4x32 in tests/check_math.c.
 * ------------------------------------------------------------------------- */
typedef struct { emim_u32 v[4]; } emim_philox_ctr;

EMIM_INLINE emim_philox_ctr emim_philox4x32_10(emim_philox_ctr c, emim_u32 k0, emim_u32 k1)
{
    for (int r = 0; r < 10; r++) {
        if (r > 0) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
        emim_u32 lo0 = 0xD2511F53u * c.v[0], hi0 = emim_mulhi32(0xD2511F53u, c.v[0]);
        emim_u32 lo1 = 0xCD9E8D57u * c.v[2], hi1 = emim_mulhi32(0xCD9E8D57u, c.v[2]);
        emim_philox_ctr o;
        o.v[0] = hi1 ^ c.v[1] ^ k0;
        o.v[1] = lo1;
        o.v[2] = hi0 ^ c.v[3] ^ k1;
        o.v[3] = lo0;
        c = o;
    }
    return c;
}

/* The four random words of element i of stream `stream` under key `seed`,
 * attempt a (0 for the first draw; rejection sampling takes more). The
 * counter is (i low, i high | a << 24, stream low, stream high): i < 2^40. */
EMIM_INLINE emim_philox_ctr emim_philox_at(emim_u64 i, emim_u32 a, emim_u64 seed, emim_u64 stream)
{
    emim_philox_ctr c;
    c.v[0] = (emim_u32)i;
    c.v[1] = (emim_u32)(i >> 32) | (a << 24);
    c.v[2] = (emim_u32)stream;
    c.v[3] = (emim_u32)(stream >> 32);
    return emim_philox4x32_10(c, (emim_u32)seed, (emim_u32)(seed >> 32));
}

/* A uniform float in [0, 1) with 24 random bits (exact conversion). */
EMIM_INLINE float emim_u01(emim_u32 x) { return (float)(x >> 8) * 0x1.0p-24f; }
/* A uniform float in (0, 1] (never 0: safe for log). */
EMIM_INLINE float emim_u01_open0(emim_u32 x) { return (float)((x >> 8) + 1u) * 0x1.0p-24f; }

/* The epilogue of every exact-mode GEMM output, on both twins:
 * acc is the fixed-order fma dot product (acc = 0; for p = 0..k-1 ascending:
 * acc = fma(a_ip, b_pj, acc)); beta == 0 never reads c. */
EMIM_INLINE float emim_gemm_out(float acc, float alpha, float beta, float c)
{
    float r = alpha * acc;
    return beta == 0.0f ? r : emim_fma(beta, c, r);
}

/* y + alpha * x with two roundings (the product, then the sum): the
 * accumulation of a scaled gradient. */
EMIM_INLINE float emim_axpy1(float alpha, float x, float y)
{
    float t = alpha * x;
    return y + t;
}

/* rsqrt: 1 / sqrt(x) (division and sqrt correctly rounded on both twins),
 * and the accumulation of its gradient, d + dout * (-0.5 y^3), y = 1 / sqrt(x). */
EMIM_INLINE float emim_rsqrt1(float x)
{
    return 1.0f / emim_sqrt(x);
}
EMIM_INLINE float emim_rsqrt1_dacc(float x, float dout, float d)
{
    float y = emim_rsqrt1(x);
    float y2 = y * y;
    float y3 = y2 * y;
    float g = -0.5f * y3;
    return emim_axpy1(dout, g, d);
}

/* LayerNorm, per element: the normalised value and the output. */
EMIM_INLINE float emim_ln_norm(float x, float mean, float rstd)
{
    float d = x - mean;
    return d * rstd;
}
EMIM_INLINE float emim_ln_out(float x, float mean, float rstd, float w, float b)
{
    return emim_fma(emim_ln_norm(x, mean, rstd), w, b);
}
/* 1 / sqrt(var + eps) (division and sqrt correctly rounded on both twins) */
EMIM_INLINE float emim_ln_rstd(float var, float eps)
{
    return 1.0f / emim_sqrt(var + eps);
}
/* LayerNorm backward, per element of a row: the gradient of the input from
 * dnorm = dout * w, the row means dm = mean(dnorm), dnm = mean(dnorm * norm). */
EMIM_INLINE float emim_ln_dinp(float dnorm, float norm, float dm, float dnm, float rstd)
{
    float t = dnorm - dm;
    float u = norm * dnm;
    return (t - u) * rstd;
}
/* batchnorm (the same normalisation over the rows of each column) uses these
 * four formulas unchanged; without affine parameters out is emim_ln_norm and
 * dnorm is dout. */

/* ---------------------------------------------------------------------------
 * Elementary functions. Each is accurate to a few ulp over its whole range
 * (measured in tests/check_math.c against double-precision libm) and uses
 * only +, -, *, emim_fma, comparisons and bit operations.
 * ------------------------------------------------------------------------- */
/* EMIM_MATH_FUNCTIONS_BEGIN */
/* Polynomial coefficients: tools/fit_math.py (minimax, float coefficients,
 * fitted with mpmath/numpy); measured errors: tests/check_math.c. */

/* exp(x), < 1 ulp measured (also where the result is denormal).  x = k ln2 + r, |r| <= ln2/2, with k*ln2_hi subtracted
 * exactly by fma (|r| < 1/2 and r is a multiple of min(ulp(x), 2^-24)), then
 * the ln2_lo correction; exp(r) = 1 + r + r^2 P(r); the result is scaled by
 * 2^k in two exact power-of-two factors so that only the last product can
 * round (to a denormal, or overflow to +inf). */
/* A float's bits as an integer that orders as the float does (non-NaN;
 * its own inverse): clamps done on it are integer min/max, which compilers
 * keep as selects (a float clamp to a constant becomes a branch whose arms
 * they specialise, and a loop with branches does not vectorise). */
EMIM_INLINE emim_i32 emim_ord_key(emim_i32 i) { return i ^ ((i >> 31) & 0x7fffffff); }
EMIM_INLINE float emim_clampf(float x, float lo, float hi)
{
    emim_i32 k = emim_ord_key((emim_i32)emim_as_u32(x));
    emim_i32 klo = emim_ord_key((emim_i32)emim_as_u32(lo)), khi = emim_ord_key((emim_i32)emim_as_u32(hi));
    k = k > khi ? khi : k;
    k = k < klo ? klo : k;
    return emim_as_f32((emim_u32)emim_ord_key(k));
}

EMIM_INLINE float emim_expf(float x)
{
    /* branch-free (selects, not jumps: loops over it vectorise); a NaN is
     * carried through and replaced at the end.
     * exp(89) > FLT_MAX, exp(-104) < 2^-150: clamping keeps k in [-150, 128]
     * and still rounds to +inf / +0. */
    float xc = emim_clampf(x, -104.0f, 89.0f); /* a NaN becomes one of the bounds */
    /* kf = floor(v) (|v| < 2^31), by truncation and an integer correction:
     * floorf does not vectorise without giving up FP exception semantics */
    float v = emim_fma(xc, 0x1.715476p+0f, 0.5f);
    emim_i32 ki = (emim_i32)v;
    ki -= (float)ki > v ? 1 : 0;
    float kf = (float)ki;
    float r = emim_fma(kf, -0x1.62e43p-1f, xc);
    r = emim_fma(kf, 0x1.05c61p-29f, r);
    float p = 0x1.6a4156p-10f;
    p = emim_fma(p, r, 0x1.1239c6p-7f);
    p = emim_fma(p, r, 0x1.5558bcp-5f);
    p = emim_fma(p, r, 0x1.555492p-3f);
    p = emim_fma(p, r, 0x1.fffffcp-2f);
    float y = 1.0f + emim_fma(r * r, p, r);
    emim_i32 k = ki;
    emim_i32 k1 = k / 2;
    emim_i32 k2 = k - k1;
    float s1 = emim_as_f32((emim_u32)(k1 + 127) << 23);
    float s2 = emim_as_f32((emim_u32)(k2 + 127) << 23);
    float e = y * s1 * s2;
    float xx = x + x; /* computed either way: a select, not a branch */
    return x == x ? e : xx;
}

/* log(x), < 1 ulp measured.  x = 2^e m, m in [sqrt(1/2), sqrt(2)) (denormals
 * scaled by 2^23 first), f = m - 1 exactly, log(1+f) = f + f^2 (-1/2 + f P(f)),
 * result e ln2_hi + (e ln2_lo + log(1+f)) with fused operations. */
EMIM_INLINE float emim_logf(float x)
{
    if (x != x) return x + x;
    /* The default quiet NaN by its bits: EMIM_NAN (NAN) is 0x7fc00000 in C
     * but 0x7fffffff in clang's OpenCL C headers. */
    if (x < 0.0f) return emim_as_f32(0x7fc00000u);
    if (x == 0.0f) return -EMIM_INFINITY;
    if (x == EMIM_INFINITY) return x;
    emim_i32 e = -127;
    if (x < 0x1.0p-126f) { x = x * 0x1.0p23f; e = -127 - 23; }
    emim_u32 ix = emim_as_u32(x);
    e = e + (emim_i32)(ix >> 23);
    float m = emim_as_f32((ix & 0x007fffffu) | 0x3f800000u);
    if (m > 0x1.6a09e6p+0f) { m = m * 0.5f; e = e + 1; }
    float f = m - 1.0f;
    float p = -0x1.38c49ep-4f;
    p = emim_fma(p, f, 0x1.055d5ep-3f);
    p = emim_fma(p, f, -0x1.0d8292p-3f);
    p = emim_fma(p, f, 0x1.22d964p-3f);
    p = emim_fma(p, f, -0x1.547288p-3f);
    p = emim_fma(p, f, 0x1.99a01ap-3f);
    p = emim_fma(p, f, -0x1.000226p-2f);
    p = emim_fma(p, f, 0x1.555554p-2f);
    float l = emim_fma(f * f, emim_fma(p, f, -0.5f), f);
    float ef = (float)e;
    return emim_fma(ef, 0x1.62e43p-1f, emim_fma(ef, -0x1.05c61p-29f, l));
}

/* erf(x), < 1.1 ulp measured (relative, where erf(x) is not denormal).  Odd.
 * |x| < 1: erf(x) = x + x Q(x^2).  1 <= |x|: erfc(a) = exp(G(a - 5/2) - a^2)
 * with a^2 split exactly by fma, a clamped to 4 (erf(a) rounds to 1 from
 * a ~ 3.92 on), erf = 1 - erfc with the sign of x. */
EMIM_INLINE float emim_erff(float x)
{
    /* both branches computed, one selected (no jumps: loops vectorise); a
     * NaN runs through both and is replaced at the end */
    float xc = x;
    float a = emim_fabs(xc);
    /* |x| < 1 */
    float z = xc * xc;
    float q = 0x1.4771fcp-14f;
    q = emim_fma(q, z, -0x1.a3515ep-11f);
    q = emim_fma(q, z, 0x1.53f224p-8f);
    q = emim_fma(q, z, -0x1.b7f71ap-6f);
    q = emim_fma(q, z, 0x1.ce2ce6p-4f);
    q = emim_fma(q, z, -0x1.81273ep-2f);
    q = emim_fma(q, z, 0x1.06eba8p-3f);
    float small = emim_fma(xc, q, xc);
    /* 1 <= |x| */
    float ac = emim_clampf(a, 0.0f, 4.0f);
    float a2 = ac * ac;
    float a2lo = emim_fma(ac, ac, -a2);
    float t = ac - 2.5f;
    float g = -0x1.6d13cap-16f;
    g = emim_fma(g, t, 0x1.01539ap-14f);
    g = emim_fma(g, t, -0x1.c510aep-12f);
    g = emim_fma(g, t, 0x1.1bc95ep-9f);
    g = emim_fma(g, t, -0x1.63ac08p-7f);
    g = emim_fma(g, t, 0x1.cba35p-5f);
    g = emim_fma(g, t, -0x1.692512p-2f);
    g = emim_fma(g, t, -0x1.8e8b72p+0f);
    float r = 1.0f - emim_expf((g - a2lo) - a2);
    float big = emim_as_f32(emim_as_u32(r) | (emim_as_u32(xc) & 0x80000000u));
    float e = a < 1.0f ? small : big;
    float xx = x + x; /* computed either way: a select, not a branch */
    return x == x ? e : xx;
}

/* sin(pi/2 f) and cos(pi/2 f) for |f| <= 1/2:
 * f (pi/2)_hi + f ((pi/2)_lo + f^2 S(f^2)) and 1 + f^2 C(f^2). */
EMIM_INLINE float emim_sinq_(float f)
{
    float z = f * f;
    float s = 0x1.443816p-13f;
    s = emim_fma(s, z, -0x1.32ada6p-8f);
    s = emim_fma(s, z, 0x1.466b78p-4f);
    s = emim_fma(s, z, -0x1.4abbcep-1f);
    return emim_fma(f, 0x1.921fb6p+0f, f * emim_fma(z, s, -0x1.777a5cp-25f));
}

EMIM_INLINE float emim_cosq_(float f)
{
    float z = f * f;
    float c = 0x1.d4f7eep-11f;
    c = emim_fma(c, z, -0x1.55b2b6p-6f);
    c = emim_fma(c, z, 0x1.03c1bp-2f);
    c = emim_fma(c, z, -0x1.3bd3ccp+0f);
    return emim_fma(z, c, 1.0f);
}

/* Quarter turns: v = 4u = q + f exactly, q an integer, |f| <= 1/2 (v minus
 * its floor is exact for v >= 0; f - 1 is exact for f in (1/2, 1)).
 * Domain: 0 <= u < 2^29. */
EMIM_INLINE float emim_quarter_frac_(float u)
{
    float v = 4.0f * u;
    float f = v - emim_floor(v);
    return f > 0.5f ? f - 1.0f : f;
}

EMIM_INLINE emim_i32 emim_quarter_(float u)
{
    float v = 4.0f * u;
    float fl = emim_floor(v);
    emim_i32 q = (emim_i32)fl;
    return (v - fl > 0.5f ? q + 1 : q) & 3;
}

/* sin(2 pi u) and cos(2 pi u) for u in [0, 1] (Box-Muller), absolute error
 * < 2^-24 measured. */
EMIM_INLINE float emim_sin2pi(float u)
{
    float f = emim_quarter_frac_(u);
    emim_i32 q = emim_quarter_(u);
    float r = (q & 1) ? emim_cosq_(f) : emim_sinq_(f);
    return (q & 2) ? -r : r;
}

EMIM_INLINE float emim_cos2pi(float u)
{
    float f = emim_quarter_frac_(u);
    emim_i32 q = emim_quarter_(u);
    float r = (q & 1) ? emim_sinq_(f) : emim_cosq_(f);
    return ((q + 1) & 2) ? -r : r;
}
/* EMIM_MATH_FUNCTIONS_END */

/* Softmax backward, per element: scale * p * (dp - sum_j p_j dp_j). */
EMIM_INLINE float emim_softmax_dx(float p, float dp, float dot, float scale)
{
    float t = dp - dot;
    float u = p * t;
    return scale * u;
}

/* Masked MSE: the term m (p - t)^2 of one element, and the gradient
 * coefficient (2 dloss) / count (0 when nothing is selected). */
EMIM_INLINE float emim_mse_term(float p, float t, float m)
{
    float d = p - t;
    float dd = d * d;
    return dd * m;
}
EMIM_INLINE float emim_mse_coef(float dloss, float count)
{
    return count == 0.0f ? 0.0f : (2.0f * dloss) / count;
}
EMIM_INLINE float emim_mse_grad(float coef, float p, float t, float m)
{
    float d = p - t;
    float g = coef * d;
    return g * m;
}

/* Masked L1: the term m |p - t| of one element, the gradient coefficient
 * dloss / count (0 when nothing is selected) and the gradient coef sign(p -
 * t) m, with sign(0) = 0 (PyTorch's convention; a NaN difference stays NaN). */
EMIM_INLINE float emim_l1_term(float p, float t, float m)
{
    float d = p - t;
    float a = emim_fabs(d);
    return a * m;
}
EMIM_INLINE float emim_l1_coef(float dloss, float count)
{
    return count == 0.0f ? 0.0f : dloss / count;
}
EMIM_INLINE float emim_l1_grad(float coef, float p, float t, float m)
{
    float d = p - t;
    float s = d > 0.0f ? 1.0f : (d < 0.0f ? -1.0f : d * 0.0f);
    float g = coef * s;
    return g * m;
}

/* Rows normalised to unit length: r = sqrt(sum x^2 + 1e-12), a = x / r, and
 * the backward dx = (da - a (a . da)) / r. */
#define EMIM_ROWNORM_EPS 1e-12f
EMIM_INLINE float emim_rownorm_dx(float da, float a, float adot, float r)
{
    float t = a * adot;
    return (da - t) / r;
}

/* The Barlow Twins term of one entry of the cross-correlation C, and its
 * derivative: diagonal (1 - c)^2, off-diagonal w c^2. */
EMIM_INLINE float emim_barlow_term(float c, int diag, float w)
{
    if (diag) {
        float d = 1.0f - c;
        return d * d;
    }
    float cc = c * c;
    return w * cc;
}
EMIM_INLINE float emim_barlow_grad(float dl, float c, int diag, float w)
{
    if (diag) {
        float d = 1.0f - c;
        return dl * (-2.0f * d);
    }
    float wc = (2.0f * w) * c;
    return dl * wc;
}

/* Softmax cross-entropy (InfoNCE) of the scaled logits s x of one row with
 * target column t: with m the row maximum of s x_j and sum the row sum of
 * exp(s x_j - m), lse = m + log(sum) and the row's term is lse - s x_t.
 * Backward: dx_j += (p_j - [j == t]) coef with p_j = exp(s x_j - lse) and
 * coef = (dloss s) / n (n rows: the loss is their mean). */
EMIM_INLINE float emim_xent_lse(float m, float sum) { return m + emim_logf(sum); }
EMIM_INLINE float emim_xent_term(float lse, float sxt) { return lse - sxt; }
EMIM_INLINE float emim_xent_coef(float dloss, float s, float nf)
{
    float t = dloss * s;
    return t / nf;
}
EMIM_INLINE float emim_xent_grad(float sx, float lse, int hit, float coef)
{
    float p = emim_expf(sx - lse);
    float d = hit ? p - 1.0f : p;
    return d * coef;
}

/* Region pooling: the mean s / count of a region's tokens (0 for a region
 * without tokens), and a token's share dy / count of its region's gradient. */
EMIM_INLINE float emim_region_mean(float s, float count) { return count == 0.0f ? 0.0f : s / count; }
EMIM_INLINE float emim_region_grad(float dy, float count) { return dy / count; }

/* AdamW, one element (decoupled weight decay first, as torch.optim.AdamW):
 * p *= decay (decay = 1 - lr wd); m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
 * p -= lr (m / bc1) / (sqrt(v / bc2) + eps), bc1 = 1 - b1^t, bc2 = 1 - b2^t. */
EMIM_INLINE void emim_adamw1(float *p, float *m, float *v, float g, float lr, float b1, float b2, float eps,
                             float decay, float bc1, float bc2)
{
    float pd = *p * decay;
    float m1 = b1 * *m, m2 = (1.0f - b1) * g;
    float mn = m1 + m2;
    float gg = g * g;
    float v1 = b2 * *v, v2 = (1.0f - b2) * gg;
    float vn = v1 + v2;
    float mh = mn / bc1, vh = vn / bc2;
    float den = emim_sqrt(vh) + eps;
    float step = lr * (mh / den);
    *p = pd - step;
    *m = mn;
    *v = vn;
}

/* Gradient clipping (as torch.nn.utils.clip_grad_norm_): the factor
 * min(1, max_norm / (norm + 1e-6)) that every gradient is multiplied by. */
EMIM_INLINE float emim_clip_factor(float norm, float max_norm)
{
    float c = max_norm / (norm + 1e-6f);
    return c < 1.0f ? c : 1.0f;
}

/* Patches of P0 x P1 x P2 voxels in MONAI's order: element e of tokens
 * [B, N, C*P0*P1*P2] comes from voxel (b, c, i0*P0 + a, i1*P1 + q, i2*P2 + d)
 * of the image [B, C, H, W, D], token n = i0*(W/P1)*(D/P2) + i1*(D/P2) + i2,
 * element ((c*P0 + a)*P1 + q)*P2 + d (the Conv3d weight's [C, P0, P1, P2]).
 * Returns that voxel's index in the image. */
EMIM_INLINE emim_u64 emim_patch_voxel(emim_u64 e, emim_u64 C, emim_u64 H, emim_u64 W, emim_u64 D, emim_u64 P0,
                                      emim_u64 P1, emim_u64 P2)
{
    emim_u64 g1 = W / P1, g2 = D / P2, n = (H / P0) * g1 * g2, p3 = P0 * P1 * P2, pd = C * p3;
    emim_u64 b = e / (n * pd), t = (e / pd) % n, k = e % pd;
    emim_u64 c = k / p3, a = (k / (P1 * P2)) % P0, q = (k / P2) % P1, d = k % P2;
    emim_u64 i0 = t / (g1 * g2), i1 = (t / g2) % g1, i2 = t % g2;
    return (((b * C + c) * H + i0 * P0 + a) * W + i1 * P1 + q) * D + i2 * P2 + d;
}

/* GELU, exact erf form: 0.5 x (1 + erf(x / sqrt 2)), and its derivative
 * 0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2 / 2) / sqrt(2 pi). */
EMIM_INLINE float emim_gelu1(float x)
{
    float cdf = 1.0f + emim_erff(x * 0x1.6a09e6p-1f);
    return (0.5f * x) * cdf;
}
EMIM_INLINE float emim_gelu1_grad(float x)
{
    float cdf = 0.5f * (1.0f + emim_erff(x * 0x1.6a09e6p-1f));
    float pdf = emim_expf(-0.5f * (x * x)) * 0x1.988454p-2f;
    return cdf + x * pdf;
}

/* ---------------------------------------------------------------------------
 * Random values (the rand op). kind: 0 uniform [p0, p1); 1 normal (mean p0,
 * std p1) by Box-Muller; 2 normal truncated to [p2, p3] by rejection: up to 8
 * draws of 4 words (32 candidates); the caller only allows intervals holding
 * at least half of the mass (then all 32 fail with probability < 2^-32), and
 * if all fail the last candidate is clamped into [p2, p3].
 * ------------------------------------------------------------------------- */
EMIM_INLINE float emim_box_muller(emim_u32 w0, emim_u32 w1, int use_sin)
{
    float r = emim_sqrt(-2.0f * emim_logf(emim_u01_open0(w0)));
    float u = emim_u01(w1);
    return r * (use_sin ? emim_sin2pi(u) : emim_cos2pi(u));
}

EMIM_INLINE float emim_rand_value(int kind, emim_u64 i, emim_u64 seed, emim_u64 stream,
                                  float p0, float p1, float p2, float p3)
{
    emim_philox_ctr w = emim_philox_at(i, 0u, seed, stream);
    if (kind == 0) return p0 + (p1 - p0) * emim_u01(w.v[0]);
    if (kind == 1) return p0 + p1 * emim_box_muller(w.v[0], w.v[1], 0);
    float v = p0;
    for (emim_u32 a = 0; a < 8u; a++) {
        if (a > 0u) w = emim_philox_at(i, a, seed, stream);
        for (int q = 0; q < 4; q++) {
            v = p0 + p1 * emim_box_muller(w.v[q & 2], w.v[(q & 2) + 1], q & 1);
            if (v >= p2 && v <= p3) return v;
        }
    }
    return v < p2 ? p2 : p3;
}

#endif
