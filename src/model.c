/* The ViT encoder of E-MIM, as MONAI's ViT: configuration and presets, the
 * parameters in one arena under MONAI's names and shapes, MONAI's
 * initialisation, and the forward and backward passes composed from the ops
 * (so they run on either backend). Activations of a pass live in one arena
 * too; the backward accumulates into a gradient arena laid out like the
 * parameters. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

emim_status emim_vit_preset(const char *name, emim_vit_config *c)
{
    memset(c, 0, sizeof *c);
    c->patch[0] = c->patch[1] = c->patch[2] = 16;
    c->channels = 4;
    c->eps = 1e-5f;
    if (!strcmp(name, "base")) {        /* the paper: ViT-B/16 on 96^3 */
        c->img[0] = c->img[1] = c->img[2] = 96;
        c->hidden = 768; c->mlp = 3072; c->heads = 12; c->layers = 12;
    } else if (!strcmp(name, "small")) { /* ViT-S/16 on 96^3 */
        c->img[0] = c->img[1] = c->img[2] = 96;
        c->hidden = 384; c->mlp = 1536; c->heads = 6; c->layers = 12;
    } else if (!strcmp(name, "tiny")) {  /* a few minutes on 2 cores */
        c->img[0] = c->img[1] = c->img[2] = 64;
        c->hidden = 96; c->mlp = 384; c->heads = 3; c->layers = 4;
    } else {
        return EMIM_ERR_ARG;
    }
    return EMIM_OK;
}

int emim_vit_tokens(const emim_vit_config *c)
{
    return (c->img[0] / c->patch[0]) * (c->img[1] / c->patch[1]) * (c->img[2] / c->patch[2]);
}

int emim_vit_token_size(const emim_vit_config *c)
{
    return c->channels * c->patch[0] * c->patch[1] * c->patch[2];
}

/* Upper bounds keep every size product inside int and every arena of a sane
 * size, whatever a configuration (or a checkpoint's) says. */
#define VIT_MAX_TOKENS 65536
#define VIT_MAX_TOKEN_SIZE (1 << 20)
#define VIT_MAX_WIDTH 65536
#define VIT_MAX_LAYERS 1024
#define VIT_MAX_CHANNELS 30      /* HMP's patch mask draws subsets as bits of a 32-bit word */
#define VIT_MAX_SIDE 65536

emim_status emim_vit_check(const emim_vit_config *c, char *err, size_t errlen)
{
    const char *ax = "HWD";
    if (c->channels < 1 || c->hidden < 1 || c->mlp < 1 || c->heads < 1 || c->layers < 1) {
        snprintf(err, errlen, "model: channels, hidden, mlp, heads and layers must be >= 1 (got %d, %d, %d, %d, %d)",
                 c->channels, c->hidden, c->mlp, c->heads, c->layers);
        return EMIM_ERR_ARG;
    }
    if (c->channels > VIT_MAX_CHANNELS || c->hidden > VIT_MAX_WIDTH || c->mlp > VIT_MAX_WIDTH ||
        c->layers > VIT_MAX_LAYERS) {
        snprintf(err, errlen, "model: channels %d (at most %d), hidden %d, mlp %d (at most %d) or layers %d (at most %d) "
                 "too large", c->channels, VIT_MAX_CHANNELS, c->hidden, c->mlp, VIT_MAX_WIDTH, c->layers, VIT_MAX_LAYERS);
        return EMIM_ERR_ARG;
    }
    int64_t tokens = 1, tsize = c->channels;
    for (int k = 0; k < 3; k++) {
        if (c->patch[k] < 1 || c->img[k] < 1 || c->img[k] > VIT_MAX_SIDE || c->patch[k] > VIT_MAX_SIDE) {
            snprintf(err, errlen, "model: image size %c=%d and patch size %d must be from 1 to %d", ax[k], c->img[k],
                     c->patch[k], VIT_MAX_SIDE);
            return EMIM_ERR_ARG;
        }
        if (c->img[k] % c->patch[k]) {
            snprintf(err, errlen, "model: image size %c=%d is not a multiple of the patch size %d", ax[k], c->img[k],
                     c->patch[k]);
            return EMIM_ERR_ARG;
        }
        tokens *= c->img[k] / c->patch[k];
        tsize *= c->patch[k];
        if (tokens > VIT_MAX_TOKENS || tsize > VIT_MAX_TOKEN_SIZE) {
            snprintf(err, errlen, "model: more than %d tokens or %d values per token (image %dx%dx%d, patch %dx%dx%d, "
                     "%d channels)", VIT_MAX_TOKENS, VIT_MAX_TOKEN_SIZE, c->img[0], c->img[1], c->img[2], c->patch[0],
                     c->patch[1], c->patch[2], c->channels);
            return EMIM_ERR_ARG;
        }
    }
    if (c->hidden % c->heads) {
        snprintf(err, errlen, "model: hidden size %d is not divisible by %d heads", c->hidden, c->heads);
        return EMIM_ERR_ARG;
    }
    if (!(c->eps > 0 && c->eps < 1)) {
        snprintf(err, errlen, "model: LayerNorm eps %g must lie in (0, 1)", (double)c->eps);
        return EMIM_ERR_ARG;
    }
    return EMIM_OK;
}

/* ---- the parameter table ---- */
static void add(emim_vit_params *p, const char *name, int ndim, const int *shape)
{
    emim_param *t = &p->t[p->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->size = 1;
    for (int k = 0; k < ndim; k++) {
        t->shape[k] = shape[k];
        t->size *= (size_t)shape[k];
    }
    t->off = p->total;
    p->total += t->size;
}

#define ADD(nm, ...) do { const int s_[] = { __VA_ARGS__ }; add(p, nm, (int)(sizeof s_ / sizeof s_[0]), s_); } while (0)

emim_status emim_vit_layout(const emim_vit_config *c, emim_vit_params *p)
{
    char err[256];
    if (emim_vit_check(c, err, sizeof err)) return EMIM_ERR_ARG;
    int h = c->hidden, m = c->mlp, pd = emim_vit_token_size(c);
    int nparams = 3 + 11 * c->layers + 4;
    memset(p, 0, sizeof *p);
    p->t = calloc((size_t)nparams, sizeof *p->t);
    if (!p->t) return EMIM_ERR_NOMEM;
    ADD("patch_embedding.position_embeddings", 1, emim_vit_tokens(c), h);
    ADD("patch_embedding.patch_embeddings.weight", h, c->channels, c->patch[0], c->patch[1], c->patch[2]);
    ADD("patch_embedding.patch_embeddings.bias", h);
    for (int l = 0; l < c->layers; l++) {
        char nm[64];
#define BLK(suffix, ...) do { snprintf(nm, sizeof nm, "blocks.%d.%s", l, suffix); ADD(nm, __VA_ARGS__); } while (0)
        BLK("norm1.weight", h);
        BLK("norm1.bias", h);
        BLK("attn.qkv.weight", 3 * h, h);
        BLK("attn.out_proj.weight", h, h);
        BLK("attn.out_proj.bias", h);
        BLK("norm2.weight", h);
        BLK("norm2.bias", h);
        BLK("mlp.linear1.weight", m, h);
        BLK("mlp.linear1.bias", m);
        BLK("mlp.linear2.weight", h, m);
        BLK("mlp.linear2.bias", h);
#undef BLK
    }
    ADD("norm.weight", h);
    ADD("norm.bias", h);
    /* E-MIM's reconstruction head g (not part of MONAI's ViT) */
    ADD("recon.weight", pd, h);
    ADD("recon.bias", pd);
    return EMIM_OK;
}

void emim_vit_layout_free(emim_vit_params *p)
{
    free(p->t);
    memset(p, 0, sizeof *p);
}

const emim_param *emim_vit_param(const emim_vit_params *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->t[i].name, name)) return &p->t[i];
    return NULL;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

emim_status emim_vit_init(emim_ctx *ctx, const emim_vit_params *p, emim_buf *arena, uint64_t seed,
                          emim_init_scheme scheme)
{
    if (emim_buf_size(arena) < p->total)
        return emim_set_error(ctx, EMIM_ERR_ARG, "model init: the arena holds %zu floats, the model needs %zu",
                              emim_buf_size(arena), p->total);
    if (scheme != EMIM_INIT_MONAI && scheme != EMIM_INIT_TRUNC_NORMAL)
        return emim_set_error(ctx, EMIM_ERR_ARG, "model init: unknown scheme %d", (int)scheme);
    for (int i = 0; i < p->n; i++) {
        const emim_param *t = &p->t[i];
        emim_ref r = emim_at(arena, t->off);
        int bias = ends_with(t->name, ".bias");
        /* the weight this tensor belongs to: a bias follows its weight */
        const emim_param *w = &p->t[i - (bias ? 1 : 0)];
        emim_status s;
        if (ends_with(t->name, "norm1.weight") || ends_with(t->name, "norm2.weight") ||
            !strcmp(t->name, "norm.weight")) {
            float *ones = malloc(t->size * sizeof *ones);
            if (!ones) return emim_set_error(ctx, EMIM_ERR_NOMEM, "model init: out of host memory");
            for (size_t e = 0; e < t->size; e++) ones[e] = 1.0f;
            s = emim_buf_write(arena, t->off, t->size, ones);
            free(ones);
        } else if (ends_with(t->name, "norm1.bias") || ends_with(t->name, "norm2.bias") ||
                   !strcmp(t->name, "norm.bias")) {
            s = emim_buf_zero(arena, t->off, t->size);
        } else if (!strcmp(t->name, "patch_embedding.position_embeddings")) {
            s = emim_rand(ctx, r, t->size, EMIM_RAND_TRUNC_NORMAL, seed, (uint64_t)i, 0.0f, 0.02f, -2.0f, 2.0f);
        } else if (strstr(t->name, "patch_embeddings.") || scheme == EMIM_INIT_MONAI) {
            /* PyTorch's Conv3d and Linear defaults: uniform(-1/sqrt(fan_in), +) */
            double fan_in = (double)w->size / w->shape[0];
            float b = (float)(1.0 / sqrt(fan_in));
            s = emim_rand(ctx, r, t->size, EMIM_RAND_UNIFORM, seed, (uint64_t)i, -b, b, 0, 0);
        } else if (bias) {
            s = emim_buf_zero(arena, t->off, t->size);
        } else {
            s = emim_rand(ctx, r, t->size, EMIM_RAND_TRUNC_NORMAL, seed, (uint64_t)i, 0.0f, 0.02f, -2.0f, 2.0f);
        }
        if (s) return s;
    }
    return EMIM_OK;
}

/* ---- forward and backward ---- */

/* Activations of one pass over a batch of B samples (one arena); per layer
 * l: the LayerNorm outputs and statistics, qkv, attention output and
 * probabilities, the MLP's pre- and post-GELU values, and the hidden state
 * after the block. */
typedef struct {
    emim_ref ln1, m1, r1, qkv, att, p, a, ln2, m2, r2, f1, g1, f2, h;
} layer_acts;

struct emim_vit_acts {
    emim_ctx *ctx;
    emim_vit_config c;
    int B, N;
    emim_buf *arena;
    emim_ref tok, h0, z, mz, rz;
    layer_acts *l;
};

emim_status emim_vit_acts_create(emim_ctx *ctx, const emim_vit_config *c, int B, emim_vit_acts **out)
{
    *out = NULL;
    char err[256];
    if (emim_vit_check(c, err, sizeof err)) return emim_set_error(ctx, EMIM_ERR_ARG, "%s", err);
    if (B < 1) return emim_set_error(ctx, EMIM_ERR_ARG, "model: batch %d must be >= 1", B);
    emim_vit_acts *A = calloc(1, sizeof *A);
    if (A) A->l = calloc((size_t)c->layers, sizeof *A->l);
    if (!A || !A->l) { if (A) free(A); return emim_set_error(ctx, EMIM_ERR_NOMEM, "model: out of host memory"); }
    A->ctx = ctx;
    A->c = *c;
    A->B = B;
    A->N = emim_vit_tokens(c);
    size_t BN = (size_t)B * A->N, h = (size_t)c->hidden, m = (size_t)c->mlp, H = (size_t)c->heads;
    size_t per_layer = BN * h * 7 + BN * 4 + BN * 3 * h + (size_t)B * H * A->N * A->N + BN * m * 2;
    size_t total = BN * h * 2 + BN * 2 + per_layer * (size_t)c->layers;
    emim_status s = emim_buf_alloc(ctx, total, &A->arena);
    if (s) { free(A->l); free(A); return s; }
    size_t off = 0;
#define TAKE(n) (off += (n), emim_at(A->arena, off - (n)))
    A->h0 = TAKE(BN * h);
    A->z = TAKE(BN * h);
    A->mz = TAKE(BN);
    A->rz = TAKE(BN);
    for (int l = 0; l < c->layers; l++) {
        layer_acts *L = &A->l[l];
        L->ln1 = TAKE(BN * h); L->m1 = TAKE(BN); L->r1 = TAKE(BN); L->qkv = TAKE(BN * 3 * h);
        L->att = TAKE(BN * h); L->p = TAKE((size_t)B * H * A->N * A->N); L->a = TAKE(BN * h);
        L->ln2 = TAKE(BN * h); L->m2 = TAKE(BN); L->r2 = TAKE(BN); L->f1 = TAKE(BN * m); L->g1 = TAKE(BN * m);
        L->f2 = TAKE(BN * h); L->h = TAKE(BN * h);
    }
#undef TAKE
    *out = A;
    return EMIM_OK;
}

void emim_vit_acts_free(emim_vit_acts *A)
{
    if (!A) return;
    emim_buf_free(A->arena);
    free(A->l);
    free(A);
}

emim_ref emim_vit_acts_output(const emim_vit_acts *A) { return A->z; }
emim_ref emim_vit_acts_hidden(const emim_vit_acts *A, int layer) { return A->l[layer].h; }

static emim_ref P_(const emim_vit_params *p, emim_buf *arena, const char *name)
{
    const emim_param *t = emim_vit_param(p, name);
    return t ? emim_at(arena, t->off) : emim_at(NULL, 0);
}

static emim_ref PB_(const emim_vit_params *p, emim_buf *arena, int l, const char *suffix)
{
    char nm[64];
    snprintf(nm, sizeof nm, "blocks.%d.%s", l, suffix);
    return P_(p, arena, nm);
}

emim_status emim_vit_forward(emim_ctx *ctx, const emim_vit_params *p, emim_buf *params, emim_vit_acts *A,
                             emim_ref tok)
{
    const emim_vit_config *c = &A->c;
    int BN = A->B * A->N, h = c->hidden, m = c->mlp, pd = emim_vit_token_size(c);
    float eps = c->eps;
    A->tok = tok;
    EMIM_CHECK(emim_linear(ctx, A->h0, tok, P_(p, params, "patch_embedding.patch_embeddings.weight"),
                           P_(p, params, "patch_embedding.patch_embeddings.bias"), BN, pd, h));
    EMIM_CHECK(emim_bias_add(ctx, A->h0, A->h0, P_(p, params, "patch_embedding.position_embeddings"), A->B, A->N * h));
    emim_ref x = A->h0;
    for (int l = 0; l < c->layers; l++) {
        layer_acts *L = &A->l[l];
        EMIM_CHECK(emim_layernorm(ctx, L->ln1, L->m1, L->r1, x, PB_(p, params, l, "norm1.weight"),
                                  PB_(p, params, l, "norm1.bias"), BN, h, eps));
        EMIM_CHECK(emim_linear(ctx, L->qkv, L->ln1, PB_(p, params, l, "attn.qkv.weight"), emim_at(NULL, 0), BN, h, 3 * h));
        EMIM_CHECK(emim_attention(ctx, L->att, L->p, L->qkv, A->B, A->N, h, c->heads));
        EMIM_CHECK(emim_linear(ctx, L->a, L->att, PB_(p, params, l, "attn.out_proj.weight"),
                               PB_(p, params, l, "attn.out_proj.bias"), BN, h, h));
        EMIM_CHECK(emim_add(ctx, L->a, L->a, x, (size_t)BN * h)); /* a = x + attn: the residual */
        EMIM_CHECK(emim_layernorm(ctx, L->ln2, L->m2, L->r2, L->a, PB_(p, params, l, "norm2.weight"),
                                  PB_(p, params, l, "norm2.bias"), BN, h, eps));
        EMIM_CHECK(emim_linear(ctx, L->f1, L->ln2, PB_(p, params, l, "mlp.linear1.weight"),
                               PB_(p, params, l, "mlp.linear1.bias"), BN, h, m));
        EMIM_CHECK(emim_gelu(ctx, L->g1, L->f1, (size_t)BN * m));
        EMIM_CHECK(emim_linear(ctx, L->f2, L->g1, PB_(p, params, l, "mlp.linear2.weight"),
                               PB_(p, params, l, "mlp.linear2.bias"), BN, m, h));
        EMIM_CHECK(emim_add(ctx, L->h, L->a, L->f2, (size_t)BN * h));
        x = L->h;
    }
    return emim_layernorm(ctx, A->z, A->mz, A->rz, x, P_(p, params, "norm.weight"), P_(p, params, "norm.bias"), BN, h,
                          eps);
}

emim_status emim_vit_backward(emim_ctx *ctx, const emim_vit_params *p, emim_buf *params, emim_buf *grads,
                              emim_vit_acts *A, emim_ref dz, const emim_ref *dhidden)
{
    const emim_vit_config *c = &A->c;
    int BN = A->B * A->N, h = c->hidden, m = c->mlp, pd = emim_vit_token_size(c);
    size_t nh = (size_t)BN * h, nm = (size_t)BN * m;
    emim_ref none = emim_at(NULL, 0);
    /* scratch: dx (the running gradient of the hidden state), da, and the
     * gradients inside a block */
    emim_buf *S = NULL;
    EMIM_CHECK(emim_buf_alloc(ctx, nh * 4 + nm * 2 + (size_t)BN * 3 * h, &S));
    emim_ref dx = emim_at(S, 0), da = emim_at(S, nh), dt = emim_at(S, 2 * nh), dt2 = emim_at(S, 3 * nh),
             dm1 = emim_at(S, 4 * nh), dm2 = emim_at(S, 4 * nh + nm), dqkv = emim_at(S, 4 * nh + 2 * nm);
    emim_status s = emim_buf_zero(S, 0, emim_buf_size(S));
    emim_ref xlast = c->layers ? A->l[c->layers - 1].h : A->h0;
    if (!s && dz.buf)
        s = emim_layernorm_backward(ctx, dx, P_(p, grads, "norm.weight"), P_(p, grads, "norm.bias"), dz, xlast,
                                    P_(p, params, "norm.weight"), A->mz, A->rz, BN, h);
    for (int l = c->layers - 1; l >= 0 && !s; l--) {
        layer_acts *L = &A->l[l];
        emim_ref xin = l ? A->l[l - 1].h : A->h0;
        if (dhidden && dhidden[l].buf) s = emim_add_backward(ctx, dx, none, dhidden[l], nh);
        /* h = a + f2: da = dx, df2 = dx */
        if (!s) s = emim_buf_zero(da.buf, da.off, nh);
        if (!s) s = emim_add_backward(ctx, da, none, dx, nh);
        if (!s) s = emim_buf_zero(dm2.buf, dm2.off, nm);
        if (!s) s = emim_linear_backward(ctx, dm2, PB_(p, grads, l, "mlp.linear2.weight"), PB_(p, grads, l, "mlp.linear2.bias"),
                                         L->g1, PB_(p, params, l, "mlp.linear2.weight"), dx, BN, m, h);
        if (!s) s = emim_buf_zero(dm1.buf, dm1.off, nm);
        if (!s) s = emim_gelu_backward(ctx, dm1, L->f1, dm2, nm);
        if (!s) s = emim_buf_zero(dt.buf, dt.off, nh);
        if (!s) s = emim_linear_backward(ctx, dt, PB_(p, grads, l, "mlp.linear1.weight"), PB_(p, grads, l, "mlp.linear1.bias"),
                                         L->ln2, PB_(p, params, l, "mlp.linear1.weight"), dm1, BN, h, m);
        if (!s) s = emim_layernorm_backward(ctx, da, PB_(p, grads, l, "norm2.weight"), PB_(p, grads, l, "norm2.bias"), dt,
                                            L->a, PB_(p, params, l, "norm2.weight"), L->m2, L->r2, BN, h);
        /* a = xin + proj(att): dxin = da, dproj = da */
        if (!s) s = emim_buf_zero(dx.buf, dx.off, nh);
        if (!s) s = emim_add_backward(ctx, dx, none, da, nh);
        if (!s) s = emim_buf_zero(dt.buf, dt.off, nh);
        if (!s) s = emim_linear_backward(ctx, dt, PB_(p, grads, l, "attn.out_proj.weight"),
                                         PB_(p, grads, l, "attn.out_proj.bias"), L->att,
                                         PB_(p, params, l, "attn.out_proj.weight"), da, BN, h, h);
        if (!s) s = emim_buf_zero(dqkv.buf, dqkv.off, (size_t)BN * 3 * h);
        if (!s) s = emim_attention_backward(ctx, dqkv, L->qkv, L->p, dt, A->B, A->N, h, c->heads);
        if (!s) s = emim_buf_zero(dt2.buf, dt2.off, nh);
        if (!s) s = emim_linear_backward(ctx, dt2, PB_(p, grads, l, "attn.qkv.weight"), none, L->ln1,
                                         PB_(p, params, l, "attn.qkv.weight"), dqkv, BN, h, 3 * h);
        if (!s) s = emim_layernorm_backward(ctx, dx, PB_(p, grads, l, "norm1.weight"), PB_(p, grads, l, "norm1.bias"), dt2,
                                            xin, PB_(p, params, l, "norm1.weight"), L->m1, L->r1, BN, h);
    }
    /* h0 = tok W^T + b + pos */
    if (!s) s = emim_bias_add_backward(ctx, none, P_(p, grads, "patch_embedding.position_embeddings"), dx, A->B, A->N * h);
    if (!s) s = emim_linear_backward(ctx, none, P_(p, grads, "patch_embedding.patch_embeddings.weight"),
                                     P_(p, grads, "patch_embedding.patch_embeddings.bias"), A->tok,
                                     P_(p, params, "patch_embedding.patch_embeddings.weight"), dx, BN, pd, h);
    emim_buf_free(S);
    return s;
}
