/* The op table (core/optable.def) and the dispatcher: each public op function
 * (src/ops/) checks its arguments, packs them into an emim_args and calls
 * emim_dispatch, which runs the twin of the context's backend. */
#include "core/internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#if HAVE_OPENCL
#define EMIM_CL(fn) fn
#else
#define EMIM_CL(fn) NULL
#endif

const emim_op_def emim_ops[EMIM_OP_COUNT] = {
#define EMIM_OP(name_, file_, summary_, cpu_f, cpu_b, cl_f, cl_b, cases_) \
    { #name_, #file_, summary_, cpu_f, cpu_b, cl_f, cl_b },
#include "core/optable.def"
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
    if (!ctx->prof) return fn(ctx, a);
    return emim_dispatch_profiled(ctx, op, dir, fn, a);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* GEMM's floating-point operations: 2 m n k per product (the backward
 * computes dA, dB or both) */
static double gemm_flops(int dir, const emim_args *a)
{
    double one = 2.0 * (double)a->i[2] * (double)a->i[3] * (double)a->i[4] * (double)a->i[11];
    if (!dir) return one;
    return one * ((a->t[0].buf != NULL) + (a->t[1].buf != NULL));
}

emim_status emim_dispatch_profiled(emim_ctx *ctx, int op, int dir, emim_kernel_fn fn, const emim_args *a)
{
    struct emim_prof *p = ctx->prof;
    /* the queue is drained before and after, so that the op's own time is
     * measured (this serialises an OpenCL queue: profiling costs speed) */
    if (p->depth == 0) EMIM_CHECK(ctx->be->finish(ctx));
    p->depth++;
    double t0 = now();
    emim_status s = fn(ctx, a);
    if (!s) s = ctx->be->finish(ctx);
    double t = now() - t0;
    p->depth--;
    p->calls[op][dir != 0]++;
    p->seconds[op][dir != 0] += t;
    if (op == EMIM_OP_gemm) p->flops[op][dir != 0] += gemm_flops(dir, a);
    return s;
}

emim_status emim_profile_start(emim_ctx *ctx)
{
    if (!ctx->prof && !(ctx->prof = malloc(sizeof *ctx->prof)))
        return emim_set_error(ctx, EMIM_ERR_NOMEM, "profile: out of host memory");
    memset(ctx->prof, 0, sizeof *ctx->prof);
    return EMIM_OK;
}

int emim_profile_read(const emim_ctx *ctx, emim_op_profile *out, int max)
{
    const struct emim_prof *p = ctx->prof;
    int n = 0;
    if (!p) return 0;
    for (int op = 0; op < EMIM_OP_COUNT; op++)
        for (int dir = 0; dir < 2; dir++) {
            if (!p->calls[op][dir]) continue;
            if (out && n < max)
                out[n] = (emim_op_profile){ emim_ops[op].name, dir, !strncmp(emim_ops[op].file, "src/", 4),
                                            p->calls[op][dir], p->seconds[op][dir], p->flops[op][dir] };
            n++;
        }
    return n;
}

void emim_profile_stop(emim_ctx *ctx)
{
    free(ctx->prof);
    ctx->prof = NULL;
}
