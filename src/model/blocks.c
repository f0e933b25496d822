/* A stack of pre-norm transformer blocks (MONAI's TransformerBlock: x + MHSA
 * (LN(x)), then + MLP(LN(.)) with exact GELU), forward and backward composed
 * from the ops, so it runs on either backend; the encoder's blocks and a
 * method's decoder are such stacks. The parameter table's builders and the
 * views that find a stack's tensors once by name live here too. */
#include "model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the parameter table ---- */
emim_status emim_params_add(emim_vit_params *p, const char *name, emim_param_init init, long fan_in, int ndim,
                            const int *shape)
{
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 64;
        emim_param *t = realloc(p->t, (size_t)cap * sizeof *t);
        if (!t) return EMIM_ERR_NOMEM;
        p->t = t;
        p->cap = cap;
    }
    /* the buffers follow every trained tensor (the optimiser runs over a prefix) */
    if (p->total != p->trainable) return EMIM_ERR_ARG;
    emim_param *t = &p->t[p->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->size = 1;
    for (int k = 0; k < ndim; k++) {
        t->shape[k] = shape[k];
        t->size *= (size_t)shape[k];
    }
    t->init = init;
    t->fan_in = fan_in;
    t->off = p->total;
    p->total += t->size;
    p->trainable = p->total;
    return EMIM_OK;
}

emim_status emim_params_add_buffer(emim_vit_params *p, const char *name, emim_param_init init, int ndim,
                                   const int *shape)
{
    size_t trainable = p->trainable;
    p->trainable = p->total;
    emim_status s = emim_params_add(p, name, init, 0, ndim, shape);
    p->trainable = trainable;
    if (!s) p->t[p->n - 1].buffer = 1;
    return s;
}

emim_status emim_params_add_linear(emim_vit_params *p, const char *name, int in, int out, int bias)
{
    char nm[128]; /* room for a 95-character name and its suffix */
    int w[2] = { out, in };
    snprintf(nm, sizeof nm, "%s.weight", name);
    EMIM_CHECK(emim_params_add(p, nm, EMIM_PINIT_LINEAR_W, in, 2, w));
    if (!bias) return EMIM_OK;
    snprintf(nm, sizeof nm, "%s.bias", name);
    return emim_params_add(p, nm, EMIM_PINIT_LINEAR_B, in, 1, &out);
}

emim_status emim_params_add_norm(emim_vit_params *p, const char *name, int width)
{
    char nm[128];
    snprintf(nm, sizeof nm, "%s.weight", name);
    EMIM_CHECK(emim_params_add(p, nm, EMIM_PINIT_ONES, 0, 1, &width));
    snprintf(nm, sizeof nm, "%s.bias", name);
    return emim_params_add(p, nm, EMIM_PINIT_ZEROS, 0, 1, &width);
}

emim_status emim_params_add_blocks(emim_vit_params *p, const char *prefix, int layers, int width, int mlp)
{
    char nm[96];
    for (int l = 0; l < layers; l++) {
#define NAME(suffix) (snprintf(nm, sizeof nm, "%s.%d.%s", prefix, l, suffix), nm)
        EMIM_CHECK(emim_params_add_norm(p, NAME("norm1"), width));
        EMIM_CHECK(emim_params_add_linear(p, NAME("attn.qkv"), width, 3 * width, 0)); /* MONAI: qkv_bias False */
        EMIM_CHECK(emim_params_add_linear(p, NAME("attn.out_proj"), width, width, 1));
        EMIM_CHECK(emim_params_add_norm(p, NAME("norm2"), width));
        EMIM_CHECK(emim_params_add_linear(p, NAME("mlp.linear1"), width, mlp, 1));
        EMIM_CHECK(emim_params_add_linear(p, NAME("mlp.linear2"), mlp, width, 1));
#undef NAME
    }
    return EMIM_OK;
}

long emim_params_find(const emim_vit_params *p, const char *name, size_t size, char *err, size_t errlen)
{
    const emim_param *t = emim_vit_param(p, name);
    if (!t) {
        snprintf(err, errlen, "model: the parameter table has no tensor '%s'", name);
        return -1;
    }
    if (t->size != size) {
        snprintf(err, errlen, "model: tensor '%s' holds %zu values, %zu expected", name, t->size, size);
        return -1;
    }
    return (long)t->off;
}

emim_status emim_stack_view_make(emim_stack_view *v, const emim_vit_params *p, const char *prefix, int layers,
                                 int width, int mlp, int heads, float eps, char *err, size_t errlen)
{
    memset(v, 0, sizeof *v);
    v->layers = layers;
    v->width = width;
    v->mlp = mlp;
    v->heads = heads;
    v->eps = eps;
    v->b = calloc((size_t)(layers > 0 ? layers : 1), sizeof *v->b);
    if (!v->b) {
        snprintf(err, errlen, "model: out of host memory");
        return EMIM_ERR_NOMEM;
    }
    size_t w = (size_t)width, m = (size_t)mlp;
    for (int l = 0; l < layers; l++) {
        emim_block_view *b = &v->b[l];
        char nm[96];
        long o;
#define FIND(field, suffix, size) do { snprintf(nm, sizeof nm, "%s.%d.%s", prefix, l, suffix); \
        if ((o = emim_params_find(p, nm, (size), err, errlen)) < 0) { emim_stack_view_free(v); return EMIM_ERR_ARG; } \
        b->field = (size_t)o; } while (0)
        FIND(n1w, "norm1.weight", w);
        FIND(n1b, "norm1.bias", w);
        FIND(qkv_w, "attn.qkv.weight", 3 * w * w);
        FIND(proj_w, "attn.out_proj.weight", w * w);
        FIND(proj_b, "attn.out_proj.bias", w);
        FIND(n2w, "norm2.weight", w);
        FIND(n2b, "norm2.bias", w);
        FIND(fc1_w, "mlp.linear1.weight", m * w);
        FIND(fc1_b, "mlp.linear1.bias", m);
        FIND(fc2_w, "mlp.linear2.weight", w * m);
        FIND(fc2_b, "mlp.linear2.bias", w);
#undef FIND
    }
    return EMIM_OK;
}

void emim_stack_view_free(emim_stack_view *v)
{
    free(v->b);
    v->b = NULL;
}

/* ---- activations ---- */
static size_t layer_size(const emim_stack_view *v, int B, int n)
{
    size_t BN = (size_t)B * n, h = (size_t)v->width, m = (size_t)v->mlp, H = (size_t)v->heads;
    return BN * h * 7 + BN * 4 + BN * 3 * h + (size_t)B * H * n * n + BN * m * 2;
}

size_t emim_stack_acts_size(const emim_stack_view *v, int B, int n, int store)
{
    return layer_size(v, B, n) * (size_t)(store ? v->layers : 1);
}

emim_status emim_stack_acts_init(emim_stack_acts *A, const emim_stack_view *v, int B, int n, int store,
                                 emim_buf *arena, size_t *off)
{
    memset(A, 0, sizeof *A);
    A->B = B;
    A->n = n;
    A->store = store;
    A->l = calloc((size_t)(v->layers > 0 ? v->layers : 1), sizeof *A->l);
    if (!A->l) return EMIM_ERR_NOMEM;
    size_t BN = (size_t)B * n, h = (size_t)v->width, m = (size_t)v->mlp, H = (size_t)v->heads;
    size_t o = *off;
#define TAKE(k) (o += (k), emim_at(arena, o - (k)))
    for (int l = 0; l < v->layers; l++) {
        emim_layer_acts *L = &A->l[l];
        if (!store && l > 0) { *L = A->l[0]; continue; }
        L->ln1 = TAKE(BN * h); L->m1 = TAKE(BN); L->r1 = TAKE(BN); L->qkv = TAKE(BN * 3 * h);
        L->att = TAKE(BN * h); L->p = TAKE((size_t)B * H * n * n); L->a = TAKE(BN * h);
        L->ln2 = TAKE(BN * h); L->m2 = TAKE(BN); L->r2 = TAKE(BN); L->f1 = TAKE(BN * m); L->g1 = TAKE(BN * m);
        L->f2 = TAKE(BN * h); L->h = TAKE(BN * h);
    }
#undef TAKE
    *off = o;
    return EMIM_OK;
}

void emim_stack_acts_release(emim_stack_acts *A)
{
    free(A->l);
    A->l = NULL;
}

/* ---- forward and backward ---- */
emim_status emim_stack_forward(emim_ctx *ctx, const emim_stack_view *v, emim_buf *P, emim_stack_acts *A, emim_ref x,
                               int l0, int l1)
{
    int BN = A->B * A->n, h = v->width, m = v->mlp;
    float eps = v->eps;
    emim_ref none = emim_at(NULL, 0);
    if (l0 == 0) A->x = x;
    for (int l = l0; l < l1; l++) {
        const emim_block_view *b = &v->b[l];
        emim_layer_acts *L = &A->l[l];
        /* without stored activations x may be L->h itself: it is read for the
         * last time by the residual add, before L->h is written */
        EMIM_CHECK(emim_layernorm(ctx, L->ln1, L->m1, L->r1, x, emim_at(P, b->n1w), emim_at(P, b->n1b), BN, h, eps));
        EMIM_CHECK(emim_linear(ctx, L->qkv, L->ln1, emim_at(P, b->qkv_w), none, BN, h, 3 * h));
        EMIM_CHECK(emim_attention(ctx, L->att, L->p, L->qkv, A->B, A->n, h, v->heads));
        EMIM_CHECK(emim_linear(ctx, L->a, L->att, emim_at(P, b->proj_w), emim_at(P, b->proj_b), BN, h, h));
        EMIM_CHECK(emim_add(ctx, L->a, L->a, x, (size_t)BN * h)); /* a = x + attn: the residual */
        EMIM_CHECK(emim_layernorm(ctx, L->ln2, L->m2, L->r2, L->a, emim_at(P, b->n2w), emim_at(P, b->n2b), BN, h, eps));
        EMIM_CHECK(emim_linear(ctx, L->f1, L->ln2, emim_at(P, b->fc1_w), emim_at(P, b->fc1_b), BN, h, m));
        EMIM_CHECK(emim_gelu(ctx, L->g1, L->f1, (size_t)BN * m));
        EMIM_CHECK(emim_linear(ctx, L->f2, L->g1, emim_at(P, b->fc2_w), emim_at(P, b->fc2_b), BN, m, h));
        EMIM_CHECK(emim_add(ctx, L->h, L->a, L->f2, (size_t)BN * h));
        x = L->h;
    }
    return EMIM_OK;
}

size_t emim_stack_scratch_size(const emim_stack_view *v, int B, int n)
{
    size_t BN = (size_t)B * n;
    return BN * (size_t)v->width * 6 + BN * (size_t)v->mlp * 2;
}

emim_status emim_stack_backward(emim_ctx *ctx, const emim_stack_view *v, emim_buf *P, emim_buf *G, emim_stack_acts *A,
                                emim_ref dx, const emim_ref *dhidden, emim_ref S, int l0, int l1)
{
    if (!A->store && v->layers > 1)
        return emim_set_error(ctx, EMIM_ERR_ARG, "model: a pass without stored activations has no backward");
    int BN = A->B * A->n, h = v->width, m = v->mlp;
    size_t nh = (size_t)BN * h, nm = (size_t)BN * m;
    emim_ref none = emim_at(NULL, 0);
    emim_ref da = emim_at(S.buf, S.off), dt = emim_at(S.buf, S.off + nh), dt2 = emim_at(S.buf, S.off + 2 * nh),
             dm1 = emim_at(S.buf, S.off + 3 * nh), dm2 = emim_at(S.buf, S.off + 3 * nh + nm),
             dqkv = emim_at(S.buf, S.off + 3 * nh + 2 * nm);
    emim_status s = EMIM_OK;
    for (int l = l1 - 1; l >= l0 && !s; l--) {
        const emim_block_view *b = &v->b[l];
        emim_layer_acts *L = &A->l[l];
        emim_ref xin = l ? A->l[l - 1].h : A->x;
        if (dhidden && dhidden[l].buf) s = emim_add_backward(ctx, dx, none, dhidden[l], nh);
        /* h = a + f2: da = dx, df2 = dx */
        if (!s) s = emim_buf_zero(da.buf, da.off, nh);
        if (!s) s = emim_add_backward(ctx, da, none, dx, nh);
        if (!s) s = emim_buf_zero(dm2.buf, dm2.off, nm);
        if (!s) s = emim_linear_backward(ctx, dm2, emim_at(G, b->fc2_w), emim_at(G, b->fc2_b), L->g1,
                                         emim_at(P, b->fc2_w), dx, BN, m, h);
        if (!s) s = emim_buf_zero(dm1.buf, dm1.off, nm);
        if (!s) s = emim_gelu_backward(ctx, dm1, L->f1, dm2, nm);
        if (!s) s = emim_buf_zero(dt.buf, dt.off, nh);
        if (!s) s = emim_linear_backward(ctx, dt, emim_at(G, b->fc1_w), emim_at(G, b->fc1_b), L->ln2,
                                         emim_at(P, b->fc1_w), dm1, BN, h, m);
        if (!s) s = emim_layernorm_backward(ctx, da, emim_at(G, b->n2w), emim_at(G, b->n2b), dt, L->a,
                                            emim_at(P, b->n2w), L->m2, L->r2, BN, h);
        /* a = xin + proj(att): dxin = da, dproj = da */
        if (!s) s = emim_buf_zero(dx.buf, dx.off, nh);
        if (!s) s = emim_add_backward(ctx, dx, none, da, nh);
        if (!s) s = emim_buf_zero(dt.buf, dt.off, nh);
        if (!s) s = emim_linear_backward(ctx, dt, emim_at(G, b->proj_w), emim_at(G, b->proj_b), L->att,
                                         emim_at(P, b->proj_w), da, BN, h, h);
        if (!s) s = emim_buf_zero(dqkv.buf, dqkv.off, (size_t)BN * 3 * h);
        if (!s) s = emim_attention_backward(ctx, dqkv, L->qkv, L->p, dt, A->B, A->n, h, v->heads);
        if (!s) s = emim_buf_zero(dt2.buf, dt2.off, nh);
        if (!s) s = emim_linear_backward(ctx, dt2, emim_at(G, b->qkv_w), none, L->ln1, emim_at(P, b->qkv_w), dqkv,
                                         BN, h, 3 * h);
        if (!s) s = emim_layernorm_backward(ctx, dx, emim_at(G, b->n1w), emim_at(G, b->n1b), dt2, xin,
                                            emim_at(P, b->n1w), L->m1, L->r1, BN, h);
    }
    return s;
}
