/* The op table (core/optable.def) and the dispatcher: each public op function
 * (src/ops/) checks its arguments, packs them into an emim_args and calls
 * emim_dispatch, which runs the twin of the context's backend. */
#include "core/internal.h"

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
    return fn(ctx, a);
}
