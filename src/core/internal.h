/* Internal types shared by the library, the CPU twins (cpu/) and the OpenCL
 * twins' host code (kernels-cl/). Not installed; what it declares is hidden
 * in the shared library (only include/emim.h is exported). */
#ifndef EMIM_INTERNAL_H
#define EMIM_INTERNAL_H

#include "config.h"
#include "emim.h"
#include "core/emim_math.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#if HAVE_OPENCL
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#endif

_Static_assert(EMIM_SUM_CHUNK == EMIM_REDUCE_CHUNK, "the twins' chunk sizes must agree");
_Static_assert(EMIM_ROW_LANES >= 2 && (EMIM_ROW_LANES & (EMIM_ROW_LANES - 1)) == 0,
               "the row sums' tree halves the lanes: a power of two");

/* ---- buffers ---- */
struct emim_buf {
    emim_ctx *ctx;
    emim_buf *prev, *next;   /* the context's list of live buffers */
    size_t n;              /* floats */
    float *host;           /* CPU backend */
#if HAVE_OPENCL
    cl_mem mem;            /* OpenCL backend */
#endif
};

/* ---- the arguments of one op call ----
 * Every twin has the signature emim_kernel_fn and reads its operands from an
 * emim_args in the order that the op's public wrapper (src/ops/FILE.c) documents. */
#define EMIM_MAX_T 8
#define EMIM_MAX_I 16
#define EMIM_MAX_F 8
typedef struct {
    emim_ref t[EMIM_MAX_T];   /* tensors; t[i].buf == NULL: absent (optional) */
    int64_t i[EMIM_MAX_I];    /* integer parameters: shapes, flags, strides */
    float f[EMIM_MAX_F];      /* float parameters */
    uint64_t u[2];            /* seeds and streams */
} emim_args;

typedef emim_status (*emim_kernel_fn)(emim_ctx *ctx, const emim_args *a);

/* ---- the op table (src/core/optable.def) ----
 * Its last column, the test cases, is not part of the library: it is read by
 * the case library (src/cases/, emim_op_cases). */
typedef struct {
    const char *name;
    const char *file;          /* cpu/FILE.c, kernels-cl/FILE.{c,cl} */
    const char *summary;
    emim_kernel_fn cpu_fwd, cpu_bwd, cl_fwd, cl_bwd;
} emim_op_def;
/* EMIM_NODIFF in the table: no backward (cpu_bwd is NULL) */
#define EMIM_OP_HAS_BACKWARD(d) ((d)->cpu_bwd != NULL)

enum {
#define EMIM_OP(name, file, summary, cpu_f, cpu_b, cl_f, cl_b, cases) EMIM_OP_##name,
#include "core/optable.def"
#undef EMIM_OP
    EMIM_OP_COUNT
};
extern const emim_op_def emim_ops[EMIM_OP_COUNT];

#define EMIM_NODIFF NULL   /* in the table: the op has no backward (not differentiable) */

/* Runs op (forward when dir == 0, else backward) on the context's backend. */
emim_status emim_dispatch(emim_ctx *ctx, int op, int dir, const emim_args *a);
/* The same, timed into ctx->prof (emim_dispatch calls it while profiling). */
emim_status emim_dispatch_profiled(emim_ctx *ctx, int op, int dir, emim_kernel_fn fn, const emim_args *a);

/* ---- context ---- */
#define EMIM_WS_CHUNKS 24   /* the workspace's chunks at most (emim_ws_take) */
#if HAVE_OPENCL
#define EMIM_CL_MAX_KERNELS 96
typedef struct {
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    cl_program program;
    cl_device_type type;
    int correct_divsqrt;      /* device honours -cl-fp32-correctly-rounded-divide-sqrt */
    int gemm_direct;          /* exact GEMM: 1 the kernel for CPU-like devices, 0 the tiled one */
    int rows_serial;          /* row ops: 1 the serial kernels (one work-item per row), 0 a work-group per row */
    size_t max_alloc;         /* CL_DEVICE_MAX_MEM_ALLOC_SIZE */
    size_t max_wg;            /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
    struct { const char *name; cl_kernel k; } kcache[EMIM_CL_MAX_KERNELS]; /* created on first use */
    int nk;
    char options[256];        /* the build options used */
} emim_cl;
#endif

/* ---- a backend: its memory functions; its kernels are the op table's
 * column `twin` ---- */
enum { EMIM_TWIN_CPU = 0, EMIM_TWIN_CL = 1 };
typedef struct emim_backend_ops {
    const char *name;
    int twin;
    emim_status (*init)(emim_ctx *ctx, const emim_options *opt);
    void (*release)(emim_ctx *ctx);
    emim_status (*alloc)(emim_ctx *ctx, emim_buf *b);   /* b->n set */
    void (*free)(emim_buf *b);
    emim_status (*write)(emim_buf *b, size_t off, size_t n, const float *src);
    emim_status (*read)(emim_buf *b, size_t off, size_t n, float *dst);
    emim_status (*zero)(emim_buf *b, size_t off, size_t n);
    emim_status (*finish)(emim_ctx *ctx);
} emim_backend_ops;
extern const emim_backend_ops emim_backend_cpu;
#if HAVE_OPENCL
extern const emim_backend_ops emim_backend_opencl;
#endif

struct emim_ctx {
    const emim_backend_ops *be;
    emim_backend_kind backend;
    emim_mode mode;
    int threads;
    int verbose;
    char device_name[256];
    char error[2048];
    size_t mem_limit, mem_used;   /* bytes */
    const char *mem_source;       /* what set mem_limit (emim_mem_limit) */
    emim_buf *bufs;               /* live buffers, freed with the context */
    struct emim_prof *prof;       /* per-op timings while profiling (emim_profile_start); NULL: off */
    struct {                      /* the workspace (emim_ws_take): scratch as a stack over chunks */
        emim_buf *chunk[EMIM_WS_CHUNKS];
        int top;                  /* the chunk being filled; -1: none */
        size_t used;              /* floats taken from it */
    } ws;
    long allocs;                  /* buffers allocated so far (emim_alloc_count) */
#if HAVE_OPENCL
    emim_cl cl;
#endif
};

/* ---- the workspace ----
 * Scratch for ops and composites (attention's dP, PBT's Gram matrices, the
 * partial sums of reductions, OpenCL's packed GEMM operands), taken and
 * given back as a stack:
 *     emim_ws_mark m = emim_ws_mark_get(ctx);
 *     emim_ref t;  EMIM_CHECK(emim_ws_take(ctx, n, &t));  ...  emim_ws_release(ctx, m);
 * Chunks are allocated (through emim_buf_alloc: the memory cap holds) the
 * first time a step needs them and kept: the same step again allocates
 * nothing. A taken ref is 16-float aligned; its contents are undefined. */
typedef struct { int chunk; size_t used; } emim_ws_mark;
emim_ws_mark emim_ws_mark_get(const emim_ctx *ctx);
emim_status emim_ws_take(emim_ctx *ctx, size_t n, emim_ref *out);
/* The same as host memory (a CPU twin's scratch). */
emim_status emim_ws_host(emim_ctx *ctx, size_t n, float **out);
void emim_ws_release(emim_ctx *ctx, emim_ws_mark m);
/* host memory of a CPU-backend ref */
#define EMIM_HOST(r) ((r).buf->host + (r).off)

#if HAVE_OPENCL
/* emim_ws_take for an OpenCL twin: the chunk's buffer and the offset in floats
 * (kernels take the offset) */
emim_status emim_ws_cl(emim_ctx *ctx, size_t n, cl_mem *mem, cl_ulong *off);
#endif

/* Profiling: calls, seconds and (GEMM) flops per op and direction. */
struct emim_prof {
    int depth;                    /* nesting of composite ops */
    long calls[EMIM_OP_COUNT][2];
    double seconds[EMIM_OP_COUNT][2], flops[EMIM_OP_COUNT][2];
};

/* "8G", "512M", "1.5GiB", "4096" (bytes): binary units */
emim_status emim_parse_size(const char *s, size_t *out);

/* Sets the context's error message (printf-style) and returns status. */
emim_status emim_set_error(emim_ctx *ctx, emim_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Checks that [r.off, r.off + n) lies inside r.buf (and that r.buf belongs to
 * ctx). what names the operand in the error message. */
emim_status emim_check_ref(emim_ctx *ctx, const char *op, const char *what, emim_ref r, size_t n);
/* The same for an optional operand: a NULL buffer passes. */
emim_status emim_check_opt_ref(emim_ctx *ctx, const char *op, const char *what, emim_ref r, size_t n);
/* The argument checks that barlow and pbt share (src/ops/loss.c). */
emim_status emim_barlow_args(emim_ctx *ctx, const char *op, float w, int B, int n);
/* Returns from the calling function when expr fails. */
#define EMIM_CHECK(expr) do { emim_status s_ = (expr); if (s_) return s_; } while (0)

/* ---- the CPU twins (cpu/) ----
 * EMIM_CPU_KERNEL before a twin (and before any helper of it that is not
 * inlined) compiles it twice, for baseline x86-64 and for x86-64-v3 (AVX2,
 * FMA: fmaf becomes one instruction, loops vectorise 8 wide), the loader
 * choosing by the CPU (configure's --disable-cpu-clones: baseline only).
 * The bits are the same on both paths: the numerics flags forbid
 * contraction and reassociation, and fmaf is correctly rounded either way. */
#if EMIM_CPU_CLONES
#define EMIM_CPU_KERNEL __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define EMIM_CPU_KERNEL
#endif
/* patchify's data movement on host memory (cpu/patch.c; the trainer's host
 * tokens use it too): mode 0 tok = img, 1 img += tok, 2 img = tok,
 * 3 tok += img; image [B, C, H, W, D], tokens [B, N, C*P0*P1*P2]. */
/* fast mode's CPU GEMM, as chosen (cpu/gemm.c: EMIM_FAST_GEMM), for emim info */
const char *emim_cpu_fast_gemm_info(void);
void emim_patch_move(float *tok, float *img, int mode, int64_t B, int64_t C, int64_t H, int64_t W, int64_t D,
                     int64_t P0, int64_t P1, int64_t P2, int threads);
#define EMIM_DECL_TWIN(fn) emim_status fn(emim_ctx *ctx, const emim_args *a);
EMIM_DECL_TWIN(emim_cpu_gemm_forward)
EMIM_DECL_TWIN(emim_cpu_gemm_backward)
EMIM_DECL_TWIN(emim_cpu_bias_add_forward)
EMIM_DECL_TWIN(emim_cpu_bias_add_backward)
EMIM_DECL_TWIN(emim_cpu_add_forward)
EMIM_DECL_TWIN(emim_cpu_add_backward)
EMIM_DECL_TWIN(emim_cpu_scale_forward)
EMIM_DECL_TWIN(emim_cpu_scale_backward)
EMIM_DECL_TWIN(emim_cpu_rsqrt_forward)
EMIM_DECL_TWIN(emim_cpu_rsqrt_backward)
EMIM_DECL_TWIN(emim_cpu_add_diag_forward)
EMIM_DECL_TWIN(emim_cpu_add_diag_backward)
EMIM_DECL_TWIN(emim_cpu_sum_forward)
EMIM_DECL_TWIN(emim_cpu_sum_backward)
EMIM_DECL_TWIN(emim_cpu_mean_forward)
EMIM_DECL_TWIN(emim_cpu_mean_backward)
EMIM_DECL_TWIN(emim_cpu_rand_forward)

/* ---- vit ops ---- (CPU twins) */
EMIM_DECL_TWIN(emim_cpu_layernorm_forward)
EMIM_DECL_TWIN(emim_cpu_layernorm_backward)
EMIM_DECL_TWIN(emim_cpu_batchnorm_forward)
EMIM_DECL_TWIN(emim_cpu_batchnorm_backward)
EMIM_DECL_TWIN(emim_cpu_gelu_forward)
EMIM_DECL_TWIN(emim_cpu_gelu_backward)
EMIM_DECL_TWIN(emim_cpu_patchify_forward)
EMIM_DECL_TWIN(emim_cpu_patchify_backward)
EMIM_DECL_TWIN(emim_cpu_unpatchify_forward)
EMIM_DECL_TWIN(emim_cpu_unpatchify_backward)

/* ---- attention ops ---- (CPU twins) */
EMIM_DECL_TWIN(emim_cpu_softmax_forward)
EMIM_DECL_TWIN(emim_cpu_softmax_backward)
EMIM_DECL_TWIN(emim_attention_forward_composite)
EMIM_DECL_TWIN(emim_attention_backward_composite)

/* ---- loss ops ---- (CPU twins) */
EMIM_DECL_TWIN(emim_cpu_mse_forward)
EMIM_DECL_TWIN(emim_cpu_mse_backward)
EMIM_DECL_TWIN(emim_cpu_l1_forward)
EMIM_DECL_TWIN(emim_cpu_l1_backward)
EMIM_DECL_TWIN(emim_cpu_rownorm_forward)
EMIM_DECL_TWIN(emim_cpu_rownorm_backward)
EMIM_DECL_TWIN(emim_cpu_barlow_forward)
EMIM_DECL_TWIN(emim_cpu_barlow_backward)
EMIM_DECL_TWIN(emim_cpu_cross_entropy_forward)
EMIM_DECL_TWIN(emim_cpu_cross_entropy_backward)
EMIM_DECL_TWIN(emim_pbt_forward_composite)
EMIM_DECL_TWIN(emim_pbt_backward_composite)
EMIM_DECL_TWIN(emim_cpu_adamw_forward)
EMIM_DECL_TWIN(emim_cpu_clip_grad_norm_forward)

/* ---- token ops ---- (CPU twins) */
EMIM_DECL_TWIN(emim_cpu_gather_rows_forward)
EMIM_DECL_TWIN(emim_cpu_gather_rows_backward)
EMIM_DECL_TWIN(emim_cpu_mask_mix_forward)
EMIM_DECL_TWIN(emim_cpu_mask_mix_backward)
EMIM_DECL_TWIN(emim_cpu_region_pool_forward)
EMIM_DECL_TWIN(emim_cpu_region_pool_backward)


/* composite ops: written once from twinned ops, used on both backends */
EMIM_DECL_TWIN(emim_linear_forward_composite)
EMIM_DECL_TWIN(emim_linear_backward_composite)
EMIM_DECL_TWIN(emim_zca_forward_composite)
EMIM_DECL_TWIN(emim_zca_backward_composite)

/* Plain CPU GEMM on host pointers, used by the twin above and by other CPU
 * twins. exact: fixed-order fma kernel; else OpenBLAS. Row-major. */
void emim_cpu_sgemm(int exact, int threads, int ta, int tb, int m, int n, int k,
                    float alpha, const float *A, int lda, const float *B, int ldb,
                    float beta, float *C, int ldc);

/* ---- the OpenCL twins (kernels-cl/FILE.c) ---- */
#if HAVE_OPENCL
EMIM_DECL_TWIN(emim_cl_gemm_forward)
EMIM_DECL_TWIN(emim_cl_gemm_backward)
EMIM_DECL_TWIN(emim_cl_bias_add_forward)
EMIM_DECL_TWIN(emim_cl_bias_add_backward)
EMIM_DECL_TWIN(emim_cl_add_forward)
EMIM_DECL_TWIN(emim_cl_add_backward)
EMIM_DECL_TWIN(emim_cl_scale_forward)
EMIM_DECL_TWIN(emim_cl_scale_backward)
EMIM_DECL_TWIN(emim_cl_rsqrt_forward)
EMIM_DECL_TWIN(emim_cl_rsqrt_backward)
EMIM_DECL_TWIN(emim_cl_add_diag_forward)
EMIM_DECL_TWIN(emim_cl_add_diag_backward)
EMIM_DECL_TWIN(emim_cl_sum_forward)
EMIM_DECL_TWIN(emim_cl_sum_backward)
EMIM_DECL_TWIN(emim_cl_mean_forward)
EMIM_DECL_TWIN(emim_cl_mean_backward)
EMIM_DECL_TWIN(emim_cl_rand_forward)

/* ---- vit ops ---- (OpenCL twins) */
EMIM_DECL_TWIN(emim_cl_layernorm_forward)
EMIM_DECL_TWIN(emim_cl_layernorm_backward)
EMIM_DECL_TWIN(emim_cl_batchnorm_forward)
EMIM_DECL_TWIN(emim_cl_batchnorm_backward)
EMIM_DECL_TWIN(emim_cl_gelu_forward)
EMIM_DECL_TWIN(emim_cl_gelu_backward)
EMIM_DECL_TWIN(emim_cl_patchify_forward)
EMIM_DECL_TWIN(emim_cl_patchify_backward)
EMIM_DECL_TWIN(emim_cl_unpatchify_forward)
EMIM_DECL_TWIN(emim_cl_unpatchify_backward)

/* ---- attention ops ---- (OpenCL twins) */
EMIM_DECL_TWIN(emim_cl_softmax_forward)
EMIM_DECL_TWIN(emim_cl_softmax_backward)

/* ---- loss ops ---- (OpenCL twins) */
EMIM_DECL_TWIN(emim_cl_mse_forward)
EMIM_DECL_TWIN(emim_cl_mse_backward)
EMIM_DECL_TWIN(emim_cl_l1_forward)
EMIM_DECL_TWIN(emim_cl_l1_backward)
EMIM_DECL_TWIN(emim_cl_rownorm_forward)
EMIM_DECL_TWIN(emim_cl_rownorm_backward)
EMIM_DECL_TWIN(emim_cl_barlow_forward)
EMIM_DECL_TWIN(emim_cl_barlow_backward)
EMIM_DECL_TWIN(emim_cl_cross_entropy_forward)
EMIM_DECL_TWIN(emim_cl_cross_entropy_backward)
EMIM_DECL_TWIN(emim_cl_adamw_forward)
EMIM_DECL_TWIN(emim_cl_clip_grad_norm_forward)

/* ---- token ops ---- (OpenCL twins) */
EMIM_DECL_TWIN(emim_cl_gather_rows_forward)
EMIM_DECL_TWIN(emim_cl_gather_rows_backward)
EMIM_DECL_TWIN(emim_cl_mask_mix_forward)
EMIM_DECL_TWIN(emim_cl_mask_mix_backward)
EMIM_DECL_TWIN(emim_cl_region_pool_forward)
EMIM_DECL_TWIN(emim_cl_region_pool_backward)


/* OpenCL runtime helpers (src/core/opencl.c) */
const char *emim_cl_error_name(cl_int err);
/* Returns the kernel of that name from the context's program (created once). */
emim_status emim_cl_kernel(emim_ctx *ctx, const char *name, cl_kernel *out);
/* Runs kernel `name` (a string literal): sets its arguments from nargs
 * (size, pointer) pairs (EMIM_ARG) and enqueues an ND-range of global size g
 * rounded up to a multiple of l (l NULL: the implementation chooses). */
emim_status emim_cl_run(emim_ctx *ctx, const char *name, int dims,
                        const size_t *g, const size_t *l, int nargs, ...);
/* Runs the row kernel `name` over `rows` rows with a work-group of
 * EMIM_ROW_LANES work-items per row (global size rows * EMIM_ROW_LANES), or
 * where the device or the kernel cannot take that work-group (or
 * EMIM_CL_ROWS=serial) its variant `serial` with one work-item per row; both
 * take the same arguments (nargs EMIM_ARG pairs) and give the same bits
 * (src/core/emim_math.h, "Row sums"). Both names are string literals. */
emim_status emim_cl_run_rows(emim_ctx *ctx, const char *name, const char *serial, size_t rows, int nargs, ...);
emim_status emim_cl_check(emim_ctx *ctx, cl_int err, const char *what);
#define EMIM_ARG(x) sizeof(x), (const void *)&(x)
#endif

#endif
