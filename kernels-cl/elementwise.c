/* OpenCL twins of the elementwise ops (bias_add, add, scale, rsqrt,
 * add_diag), host side (device code in
 * kernels-cl/elementwise.cl; CPU twins in cpu/elementwise.c). */
#include "core/internal.h"

#define MEM(s) (a->t[s].buf->mem)
#define OFF(s) ((cl_ulong)a->t[s].off)
#define WG 256

static emim_status accumulate(emim_ctx *ctx, cl_mem y, cl_ulong yo, cl_mem x, cl_ulong xo, cl_ulong n)
{
    size_t g = (size_t)n, l = WG;
    return emim_cl_run(ctx, "emim_accumulate", 1, &g, &l, 5, EMIM_ARG(y), EMIM_ARG(yo), EMIM_ARG(x), EMIM_ARG(xo),
                       EMIM_ARG(n));
}

/* t: 0 out, 1 inp, 2 bias; i: 0 rows, 1 cols */
emim_status emim_cl_bias_add_forward(emim_ctx *ctx, const emim_args *a)
{
    cl_ulong rows = (cl_ulong)a->i[0], cols = (cl_ulong)a->i[1], o0 = OFF(0), o1 = OFF(1), o2 = OFF(2);
    cl_mem m0 = MEM(0), m1 = MEM(1), m2 = MEM(2);
    size_t g = (size_t)(rows * cols), l = WG;
    return emim_cl_run(ctx, "emim_bias_add_fwd", 1, &g, &l, 8, EMIM_ARG(m0), EMIM_ARG(o0), EMIM_ARG(m1),
                       EMIM_ARG(o1), EMIM_ARG(m2), EMIM_ARG(o2), EMIM_ARG(rows), EMIM_ARG(cols));
}

/* t: 0 dinp, 1 dbias, 2 dout */
emim_status emim_cl_bias_add_backward(emim_ctx *ctx, const emim_args *a)
{
    cl_ulong rows = (cl_ulong)a->i[0], cols = (cl_ulong)a->i[1], o2 = OFF(2);
    cl_mem m2 = MEM(2);
    emim_status s = EMIM_OK;
    if (a->t[0].buf && (s = accumulate(ctx, MEM(0), OFF(0), m2, o2, rows * cols))) return s;
    if (a->t[1].buf) {
        cl_mem m1 = MEM(1);
        cl_ulong o1 = OFF(1);
        size_t g = (size_t)cols, l = 64;
        s = emim_cl_run(ctx, "emim_bias_add_bwd_bias", 1, &g, &l, 6, EMIM_ARG(m1), EMIM_ARG(o1), EMIM_ARG(m2),
                        EMIM_ARG(o2), EMIM_ARG(rows), EMIM_ARG(cols));
    }
    return s;
}

/* t: 0 out, 1 a, 2 b; i: 0 n */
emim_status emim_cl_add_forward(emim_ctx *ctx, const emim_args *a)
{
    cl_ulong n = (cl_ulong)a->i[0], o0 = OFF(0), o1 = OFF(1), o2 = OFF(2);
    cl_mem m0 = MEM(0), m1 = MEM(1), m2 = MEM(2);
    size_t g = (size_t)n, l = WG;
    return emim_cl_run(ctx, "emim_add_fwd", 1, &g, &l, 7, EMIM_ARG(m0), EMIM_ARG(o0), EMIM_ARG(m1), EMIM_ARG(o1),
                       EMIM_ARG(m2), EMIM_ARG(o2), EMIM_ARG(n));
}

/* t: 0 da, 1 db, 2 dout */
emim_status emim_cl_add_backward(emim_ctx *ctx, const emim_args *a)
{
    cl_ulong n = (cl_ulong)a->i[0];
    emim_status s = EMIM_OK;
    if (a->t[0].buf && (s = accumulate(ctx, MEM(0), OFF(0), MEM(2), OFF(2), n))) return s;
    if (a->t[1].buf) s = accumulate(ctx, MEM(1), OFF(1), MEM(2), OFF(2), n);
    return s;
}

/* t: 0 out, 1 a; i: 0 n; f: 0 alpha */
emim_status emim_cl_scale_forward(emim_ctx *ctx, const emim_args *a)
{
    cl_ulong n = (cl_ulong)a->i[0], o0 = OFF(0), o1 = OFF(1);
    cl_mem m0 = MEM(0), m1 = MEM(1);
    float alpha = a->f[0];
    size_t g = (size_t)n, l = WG;
    return emim_cl_run(ctx, "emim_scale_fwd", 1, &g, &l, 6, EMIM_ARG(m0), EMIM_ARG(o0), EMIM_ARG(m1), EMIM_ARG(o1),
                       EMIM_ARG(alpha), EMIM_ARG(n));
}

/* t: 0 da, 1 dout */
emim_status emim_cl_scale_backward(emim_ctx *ctx, const emim_args *a)
{
    cl_ulong n = (cl_ulong)a->i[0], o0 = OFF(0), o1 = OFF(1);
    cl_mem m0 = MEM(0), m1 = MEM(1);
    float alpha = a->f[0];
    size_t g = (size_t)n, l = WG;
    return emim_cl_run(ctx, "emim_scale_bwd", 1, &g, &l, 6, EMIM_ARG(m0), EMIM_ARG(o0), EMIM_ARG(m1), EMIM_ARG(o1),
                       EMIM_ARG(alpha), EMIM_ARG(n));
}

/* t: 0 out, 1 a; i: 0 n */
emim_status emim_cl_rsqrt_forward(emim_ctx *ctx, const emim_args *a)
{
    cl_ulong n = (cl_ulong)a->i[0], o0 = OFF(0), o1 = OFF(1);
    cl_mem m0 = MEM(0), m1 = MEM(1);
    size_t g = (size_t)n, l = WG;
    return emim_cl_run(ctx, "emim_rsqrt_fwd", 1, &g, &l, 5, EMIM_ARG(m0), EMIM_ARG(o0), EMIM_ARG(m1), EMIM_ARG(o1),
                       EMIM_ARG(n));
}

/* t: 0 da, 1 a, 2 dout; i: 0 n */
emim_status emim_cl_rsqrt_backward(emim_ctx *ctx, const emim_args *a)
{
    cl_ulong n = (cl_ulong)a->i[0], o0 = OFF(0), o1 = OFF(1), o2 = OFF(2);
    cl_mem m0 = MEM(0), m1 = MEM(1), m2 = MEM(2);
    size_t g = (size_t)n, l = WG;
    return emim_cl_run(ctx, "emim_rsqrt_bwd", 1, &g, &l, 7, EMIM_ARG(m0), EMIM_ARG(o0), EMIM_ARG(m1), EMIM_ARG(o1),
                       EMIM_ARG(m2), EMIM_ARG(o2), EMIM_ARG(n));
}

/* t: 0 out, 1 a; i: 0 rows, 1 cols; f: 0 alpha. out == a: only the diagonal
 * is touched; else every element is written. */
emim_status emim_cl_add_diag_forward(emim_ctx *ctx, const emim_args *a)
{
    cl_ulong rows = (cl_ulong)a->i[0], cols = (cl_ulong)a->i[1], o0 = OFF(0), o1 = OFF(1);
    cl_mem m0 = MEM(0), m1 = MEM(1);
    float alpha = a->f[0];
    if (m0 == m1 && o0 == o1) {
        cl_ulong nd = rows < cols ? rows : cols;
        size_t g = (size_t)nd, l = 64;
        return emim_cl_run(ctx, "emim_add_diag_inplace", 1, &g, &l, 5, EMIM_ARG(m0), EMIM_ARG(o0), EMIM_ARG(cols),
                           EMIM_ARG(alpha), EMIM_ARG(nd));
    }
    size_t g = (size_t)(rows * cols), l = WG;
    return emim_cl_run(ctx, "emim_add_diag_fwd", 1, &g, &l, 7, EMIM_ARG(m0), EMIM_ARG(o0), EMIM_ARG(m1), EMIM_ARG(o1),
                       EMIM_ARG(alpha), EMIM_ARG(rows), EMIM_ARG(cols));
}

/* t: 0 da, 1 dout */
emim_status emim_cl_add_diag_backward(emim_ctx *ctx, const emim_args *a)
{
    return accumulate(ctx, MEM(0), OFF(0), MEM(1), OFF(1), (cl_ulong)(a->i[0] * a->i[1]));
}
