/* The machinery of the op table's test cases: a case's defaults, and the
 * runner of one case on one context (tensors with guards, deterministic
 * initial values, one direction of one op). The cases themselves are in
 * src/cases/FILE.c, one file per op family as src/ops/FILE.c. */
#include "cases/cases.h"
#include "core/emim_math.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The op table's last column. */
const emim_case_fn emim_op_cases[EMIM_OP_COUNT] = {
#define EMIM_OP(name_, file_, summary_, cpu_f, cpu_b, cl_f, cl_b, cases_) cases_,
#include "core/optable.def"
#undef EMIM_OP
};

int emim_op_ncases(int i)
{
    if (i < 0 || i >= EMIM_OP_COUNT || !emim_op_cases[i]) return 0;
    emim_case c;
    int n = 0;
    while (emim_op_cases[i](n, &c)) n++;
    return n;
}

void emim_case_init(emim_case *c, int nt)
{
    memset(c, 0, sizeof *c);
    c->nt = nt;
    for (int j = 0; j < EMIM_MAX_T; j++) {
        c->lo[j] = -1.0f;
        c->hi[j] = 1.0f;
        c->fmap[j] = c->bmap[j] = EMIM_NONE;
    }
}

/* ---------------------------------------------------------------- runner */
int emim_case_uses_grad(const emim_case *c, int dir, int j)
{
    if (dir == 0) return 0;
    for (int s = 0; s < c->nb; s++)
        if (c->bmap[s] == EMIM_GRAD(j)) return 1;
    return 0;
}

int emim_case_bwd_reads_output(const emim_case *c, int j)
{
    if (!(c->role[j] & EMIM_T_OUT)) return 0;
    if (c->role[j] == EMIM_T_CACHE) return 1;
    for (int s = 0; s < c->nb; s++)
        if (c->bmap[s] == j) return 1;
    return 0;
}

int emim_case_writes(const emim_case *c, int dir, int j, int grad, size_t e)
{
    if (!emim_case_is_output(c, dir, j, grad)) return 0;
    return c->written ? c->written(c, dir, j, e) : 1;
}

int emim_case_is_output(const emim_case *c, int dir, int j, int grad)
{
    if (dir == 0) return !grad && (c->role[j] & EMIM_T_OUT);
    /* backward writes the gradients of the forward's inputs */
    return grad && c->role[j] == EMIM_T_IN && emim_case_uses_grad(c, 1, j);
}

void emim_host_uniform(float *dst, size_t n, uint64_t seed, uint64_t stream, float lo, float hi)
{
    float w = hi - lo;
    for (size_t i = 0; i < n; i++) {
        emim_philox_ctr r = emim_philox_at(i, 0, seed, stream);
        dst[i] = lo + w * emim_u01(r.v[0]);
    }
}

double emim_ulp_distance(float a, float b)
{
    uint32_t ua = emim_as_u32(a), ub = emim_as_u32(b);
    if (ua == ub) return 0;
    if (isnan(a) || isnan(b)) return INFINITY;
    /* map to a monotone integer line */
    int64_t ia = (ua & 0x80000000u) ? -(int64_t)(ua & 0x7fffffffu) : (int64_t)ua;
    int64_t ib = (ub & 0x80000000u) ? -(int64_t)(ub & 0x7fffffffu) : (int64_t)ub;
    return (double)(ia > ib ? ia - ib : ib - ia);
}

static float sentinel(void) { return emim_as_f32(EMIM_SENTINEL); }

/* Initial host contents of buffer (j, grad): guards hold the sentinel. */
static float *initial(const emim_case *c, int dir, int j, int grad, uint64_t seed)
{
    size_t len = emim_case_buflen(c, j);
    float *h = malloc(len * sizeof *h);
    if (!h) return NULL;
    for (size_t e = 0; e < len; e++) h[e] = sentinel();
    float *t = h + EMIM_GUARD;
    uint64_t stream = (uint64_t)j * 2 + (uint64_t)grad;
    if (!grad && (c->role[j] == EMIM_T_OUT || c->role[j] == EMIM_T_CACHE) && dir == 0) {
        /* pure outputs start as NaN: every element must be written, none read */
        for (size_t e = 0; e < c->len[j]; e++) t[e] = NAN;
    } else if (!grad) {
        int filled = c->fill && (c->role[j] == EMIM_T_IN || c->role[j] == EMIM_T_INOUT) ? c->fill(c, j, t, seed) : 0;
        if (filled < 0) { free(h); return NULL; }
        if (!filled) emim_host_uniform(t, c->len[j], seed, stream, c->lo[j], c->hi[j]);
    } else {
        emim_host_uniform(t, c->len[j], seed ^ 0x9e3779b97f4a7c15ull, stream, -1.0f, 1.0f);
    }
    return h;
}

emim_status emim_case_setup(emim_case_inst *I, emim_ctx *ctx, int op, const emim_case *c, int dir, uint64_t seed)
{
    memset(I, 0, sizeof *I);
    I->ctx = ctx;
    I->c = c;
    I->op = op;
    I->dir = dir;
    for (int j = 0; j < c->nt; j++) {
        for (int grad = 0; grad < 2; grad++) {
            if (grad && !emim_case_uses_grad(c, dir, j)) continue;
            float *h = initial(c, dir, j, grad, seed);
            emim_buf *b = NULL;
            if (!h) { emim_case_free(I); return emim_set_error(ctx, EMIM_ERR_NOMEM, "case: out of host memory"); }
            emim_status s = emim_buf_alloc(ctx, emim_case_buflen(c, j), &b);
            if (!s) s = emim_buf_write(b, 0, emim_case_buflen(c, j), h);
            if (grad) { I->grad[j] = b; I->init_grad[j] = h; }
            else { I->val[j] = b; I->init_val[j] = h; }
            if (s) { emim_case_free(I); return s; }
        }
    }
    int cached = 0;
    for (int j = 0; j < c->nt; j++) cached |= emim_case_bwd_reads_output(c, j);
    if (dir == 1 && cached) {
        /* caches from the forward; their initial copies follow */
        I->dir = 0;
        emim_status s = emim_case_exec(I);
        I->dir = 1;
        for (int j = 0; j < c->nt && !s; j++) {
            if (c->role[j] & EMIM_T_OUT) s = emim_case_fetch(I, j, 0, I->init_val[j]);
        }
        if (s) { emim_case_free(I); return s; }
    }
    return EMIM_OK;
}

emim_status emim_case_exec(emim_case_inst *I)
{
    int op = I->op;
    const emim_case *c = I->c;
    emim_args a = I->dir ? c->bwd : c->fwd;
    int n = I->dir ? c->nb : c->nf;
    const int *map = I->dir ? c->bmap : c->fmap;
    for (int s = 0; s < n; s++) {
        int m = map[s];
        if (m == EMIM_NONE) a.t[s] = emim_at(NULL, 0);
        else if (m >= EMIM_GRAD(0)) a.t[s] = emim_at(I->grad[m - EMIM_GRAD(0)], EMIM_GUARD);
        else a.t[s] = emim_at(I->val[m], EMIM_GUARD);
    }
    emim_status s = emim_dispatch(I->ctx, op, I->dir, &a);
    if (!s) s = emim_finish(I->ctx);
    return s;
}

emim_status emim_case_fetch(emim_case_inst *I, int j, int grad, float *dst)
{
    emim_buf *b = grad ? I->grad[j] : I->val[j];
    return emim_buf_read(b, 0, emim_case_buflen(I->c, j), dst);
}

emim_status emim_case_upload(emim_case_inst *I, int j, int grad, const float *src)
{
    emim_buf *b = grad ? I->grad[j] : I->val[j];
    return emim_buf_write(b, 0, emim_case_buflen(I->c, j), src);
}

void emim_case_free(emim_case_inst *I)
{
    for (int j = 0; j < EMIM_MAX_T; j++) {
        emim_buf_free(I->val[j]);
        emim_buf_free(I->grad[j]);
        free(I->init_val[j]);
        free(I->init_grad[j]);
    }
    memset(I, 0, sizeof *I);
}
