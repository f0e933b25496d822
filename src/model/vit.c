/* The ViT encoder, as MONAI's ViT: configuration and presets, the
 * parameters in one arena under MONAI's names and shapes, their
 * initialisation, and the encoder's stages (embedding with an optional mask
 * token and token subset, blocks, final norm) forward and backward,
 * composed from the ops (so they run on either backend). Activations of a
 * pass live in one arena too; the backward accumulates into a gradient
 * arena laid out like the parameters. */
#include "model/model.h"

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
static emim_status make_view(const emim_vit_config *c, emim_vit_params *p)
{
    char err[256];
    struct emim_vit_view *v = calloc(1, sizeof *v);
    if (!v) return EMIM_ERR_NOMEM;
    size_t h = (size_t)c->hidden;
    long o[5];
    o[0] = emim_params_find(p, "patch_embedding.position_embeddings", (size_t)emim_vit_tokens(c) * h, err, sizeof err);
    o[1] = emim_params_find(p, "patch_embedding.patch_embeddings.weight", h * (size_t)emim_vit_token_size(c), err,
                            sizeof err);
    o[2] = emim_params_find(p, "patch_embedding.patch_embeddings.bias", h, err, sizeof err);
    o[3] = emim_params_find(p, "norm.weight", h, err, sizeof err);
    o[4] = emim_params_find(p, "norm.bias", h, err, sizeof err);
    emim_status s = EMIM_OK;
    for (int k = 0; k < 5; k++)
        if (o[k] < 0) s = EMIM_ERR_ARG;
    if (!s) s = emim_stack_view_make(&v->blocks, p, "blocks", c->layers, c->hidden, c->mlp, c->heads, c->eps, err,
                                     sizeof err);
    if (s) { free(v); return s; }
    v->pos = (size_t)o[0]; v->pe_w = (size_t)o[1]; v->pe_b = (size_t)o[2]; v->norm_w = (size_t)o[3];
    v->norm_b = (size_t)o[4];
    p->view = v;
    return EMIM_OK;
}

emim_status emim_vit_layout(const emim_vit_config *c, emim_vit_params *p)
{
    char err[256];
    memset(p, 0, sizeof *p);
    if (emim_vit_check(c, err, sizeof err)) return EMIM_ERR_ARG;
    int h = c->hidden, pd = emim_vit_token_size(c);
    const int pos[3] = { 1, emim_vit_tokens(c), h }, conv[5] = { h, c->channels, c->patch[0], c->patch[1], c->patch[2] };
    emim_status s = emim_params_add(p, "patch_embedding.position_embeddings", EMIM_PINIT_EMBED, 0, 3, pos);
    if (!s) s = emim_params_add(p, "patch_embedding.patch_embeddings.weight", EMIM_PINIT_CONV, pd, 5, conv);
    if (!s) s = emim_params_add(p, "patch_embedding.patch_embeddings.bias", EMIM_PINIT_CONV, pd, 1, &h);
    if (!s) s = emim_params_add_blocks(p, "blocks", c->layers, h, c->mlp);
    if (!s) s = emim_params_add_norm(p, "norm", h);
    if (!s) s = make_view(c, p);
    if (s) emim_vit_layout_free(p);
    return s;
}

emim_status emim_vit_layout_copy(const emim_vit_config *c, const emim_vit_params *src, int n, size_t shift,
                                 emim_vit_params *dst)
{
    memset(dst, 0, sizeof *dst);
    if (n < 0 || n > src->n) return EMIM_ERR_ARG;
    dst->t = malloc((size_t)(n ? n : 1) * sizeof *dst->t);
    if (!dst->t) return EMIM_ERR_NOMEM;
    for (int i = 0; i < n; i++) {
        dst->t[i] = src->t[i];
        dst->t[i].off += shift;
    }
    dst->n = dst->cap = n;
    dst->total = dst->trainable = src->total;
    emim_status s = make_view(c, dst);
    if (s) emim_vit_layout_free(dst);
    return s;
}

void emim_vit_layout_free(emim_vit_params *p)
{
    if (p->view) emim_stack_view_free(&p->view->blocks);
    free(p->view);
    free(p->t);
    memset(p, 0, sizeof *p);
}

const emim_param *emim_vit_param(const emim_vit_params *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->t[i].name, name)) return &p->t[i];
    return NULL;
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
        emim_param_init k = t->init;
        /* PyTorch's Conv3d and Linear defaults: uniform(-1/sqrt(fan_in), +) */
        int uniform = k == EMIM_PINIT_CONV ||
                      (scheme == EMIM_INIT_MONAI && (k == EMIM_PINIT_LINEAR_W || k == EMIM_PINIT_LINEAR_B));
        emim_status s;
        if (k == EMIM_PINIT_ONES) {
            float *ones = malloc(t->size * sizeof *ones);
            if (!ones) return emim_set_error(ctx, EMIM_ERR_NOMEM, "model init: out of host memory");
            for (size_t e = 0; e < t->size; e++) ones[e] = 1.0f;
            s = emim_buf_write(arena, t->off, t->size, ones);
            free(ones);
        } else if (k == EMIM_PINIT_ZEROS || (!uniform && k == EMIM_PINIT_LINEAR_B)) {
            s = emim_buf_zero(arena, t->off, t->size);
        } else if (uniform) {
            float b = (float)(1.0 / sqrt((double)t->fan_in));
            s = emim_rand(ctx, r, t->size, EMIM_RAND_UNIFORM, seed, (uint64_t)i, -b, b, 0, 0);
        } else { /* embeddings, mask tokens and (trunc-normal scheme) Linear weights */
            s = emim_rand(ctx, r, t->size, EMIM_RAND_TRUNC_NORMAL, seed, (uint64_t)i, 0.0f, 0.02f, -2.0f, 2.0f);
        }
        if (s) return s;
    }
    return EMIM_OK;
}

/* ---- the encoder's stages ---- */
struct emim_vit_acts {
    emim_ctx *ctx;
    emim_vit_config c;
    int B, N, n, store;
    emim_buf *arena;
    emim_ref tok, e, x0, z, mz, rz;   /* e [B, N, h]: embedded; x0 [B, n, h]: the blocks' input */
    emim_ref m, t, idx;               /* the last embedding's mask, mask token and subset */
    emim_stack_acts s;
};

emim_status emim_vit_acts_create_ex(emim_ctx *ctx, const emim_vit_config *c, int B, int ntok, int store,
                                    emim_vit_acts **out)
{
    *out = NULL;
    char err[256];
    if (emim_vit_check(c, err, sizeof err)) return emim_set_error(ctx, EMIM_ERR_ARG, "%s", err);
    int N = emim_vit_tokens(c);
    if (B < 1 || B > 65536) return emim_set_error(ctx, EMIM_ERR_ARG, "model: batch %d must be from 1 to 65536", B);
    if (ntok < 1 || ntok > N)
        return emim_set_error(ctx, EMIM_ERR_ARG, "model: a pass over %d tokens of a grid of %d", ntok, N);
    emim_vit_acts *A = calloc(1, sizeof *A);
    if (!A) return emim_set_error(ctx, EMIM_ERR_NOMEM, "model: out of host memory");
    A->ctx = ctx;
    A->c = *c;
    A->B = B;
    A->N = N;
    A->n = ntok;
    A->store = store;
    /* only the block sizes matter here: a view without offsets */
    emim_stack_view v = { c->layers, c->hidden, c->mlp, c->heads, c->eps, NULL };
    size_t BN = (size_t)B * N, Bn = (size_t)B * ntok, h = (size_t)c->hidden;
    size_t total = BN * h + (ntok < N ? Bn * h : 0) + Bn * h + Bn * 2 + emim_stack_acts_size(&v, B, ntok, store);
    emim_status s = emim_buf_alloc(ctx, total, &A->arena);
    if (s) { free(A); return s; }
    size_t off = 0;
#define TAKE(k) (off += (k), emim_at(A->arena, off - (k)))
    A->e = TAKE(BN * h);
    A->x0 = ntok < N ? TAKE(Bn * h) : A->e;
    A->z = TAKE(Bn * h);
    A->mz = TAKE(Bn);
    A->rz = TAKE(Bn);
#undef TAKE
    if (emim_stack_acts_init(&A->s, &v, B, ntok, store, A->arena, &off)) {
        emim_vit_acts_free(A);
        return emim_set_error(ctx, EMIM_ERR_NOMEM, "model: out of host memory");
    }
    *out = A;
    return EMIM_OK;
}

emim_status emim_vit_acts_create(emim_ctx *ctx, const emim_vit_config *c, int B, emim_vit_acts **out)
{
    char err[256];
    if (emim_vit_check(c, err, sizeof err)) { *out = NULL; return emim_set_error(ctx, EMIM_ERR_ARG, "%s", err); }
    return emim_vit_acts_create_ex(ctx, c, B, emim_vit_tokens(c), 1, out);
}

void emim_vit_acts_free(emim_vit_acts *A)
{
    if (!A) return;
    emim_buf_free(A->arena);
    emim_stack_acts_release(&A->s);
    free(A);
}

emim_ref emim_vit_acts_output(const emim_vit_acts *A) { return A->z; }
emim_ref emim_vit_acts_hidden(const emim_vit_acts *A, int layer) { return A->s.l[layer].h; }

static emim_status check_pass(emim_ctx *ctx, const emim_vit_params *p, const emim_vit_acts *A)
{
    if (!p->view) return emim_set_error(ctx, EMIM_ERR_ARG, "model: the parameter table has no encoder view");
    if (p->view->blocks.layers != A->c.layers || p->view->blocks.width != A->c.hidden)
        return emim_set_error(ctx, EMIM_ERR_ARG, "model: the activations belong to another model");
    return EMIM_OK;
}

emim_status emim_vit_embed(emim_ctx *ctx, const emim_vit_params *p, emim_buf *P, emim_vit_acts *A, emim_ref tok,
                           emim_ref m, emim_ref t, emim_ref idx)
{
    EMIM_CHECK(check_pass(ctx, p, A));
    const struct emim_vit_view *v = p->view;
    int BN = A->B * A->N, h = A->c.hidden, pd = emim_vit_token_size(&A->c);
    if ((idx.buf != NULL) != (A->n < A->N))
        return emim_set_error(ctx, EMIM_ERR_ARG, "model: a pass over %d of %d tokens needs %s", A->n, A->N,
                              idx.buf ? "no subset" : "the subset's indices");
    A->tok = tok;
    A->m = m;
    A->t = t;
    A->idx = idx;
    EMIM_CHECK(emim_linear(ctx, A->e, tok, emim_at(P, v->pe_w), emim_at(P, v->pe_b), BN, pd, h));
    if (m.buf) EMIM_CHECK(emim_mask_mix(ctx, A->e, A->e, m, t, BN, h));
    EMIM_CHECK(emim_bias_add(ctx, A->e, A->e, emim_at(P, v->pos), A->B, A->N * h));
    if (idx.buf) EMIM_CHECK(emim_gather_rows(ctx, A->x0, A->e, idx, A->B, A->N, A->n, h));
    return EMIM_OK;
}

emim_status emim_vit_blocks(emim_ctx *ctx, const emim_vit_params *p, emim_buf *P, emim_vit_acts *A, int l0, int l1)
{
    EMIM_CHECK(check_pass(ctx, p, A));
    if (l0 < 0 || l1 > A->c.layers || l0 > l1)
        return emim_set_error(ctx, EMIM_ERR_ARG, "model: blocks %d to %d of %d", l0, l1 - 1, A->c.layers);
    emim_ref x = l0 == 0 ? A->x0 : A->s.l[l0 - 1].h;
    return emim_stack_forward(ctx, &p->view->blocks, P, &A->s, x, l0, l1);
}

emim_status emim_vit_final_norm(emim_ctx *ctx, const emim_vit_params *p, emim_buf *P, emim_vit_acts *A)
{
    EMIM_CHECK(check_pass(ctx, p, A));
    const struct emim_vit_view *v = p->view;
    emim_ref x = A->c.layers ? A->s.l[A->c.layers - 1].h : A->x0;
    return emim_layernorm(ctx, A->z, A->mz, A->rz, x, emim_at(P, v->norm_w), emim_at(P, v->norm_b), A->B * A->n,
                          A->c.hidden, A->c.eps);
}

emim_status emim_vit_forward(emim_ctx *ctx, const emim_vit_params *p, emim_buf *P, emim_vit_acts *A, emim_ref tok)
{
    emim_ref none = emim_at(NULL, 0);
    EMIM_CHECK(emim_vit_embed(ctx, p, P, A, tok, none, none, none));
    EMIM_CHECK(emim_vit_blocks(ctx, p, P, A, 0, A->c.layers));
    return emim_vit_final_norm(ctx, p, P, A);
}

emim_status emim_vit_backward(emim_ctx *ctx, const emim_vit_params *p, emim_buf *P, emim_buf *G, emim_vit_acts *A,
                              emim_ref dz, const emim_ref *dhidden)
{
    EMIM_CHECK(check_pass(ctx, p, A));
    if (!A->store) return emim_set_error(ctx, EMIM_ERR_ARG, "model: a pass without stored activations has no backward");
    const struct emim_vit_view *v = p->view;
    const emim_vit_config *c = &A->c;
    int BN = A->B * A->N, Bn = A->B * A->n, h = c->hidden, pd = emim_vit_token_size(c);
    size_t nh = (size_t)Bn * h, eh = (size_t)BN * h;
    emim_ref none = emim_at(NULL, 0);
    /* scratch: dx (the running gradient of the hidden state), the blocks'
     * scratch, and the embedding's gradients for a subset and a mask token */
    size_t ss = emim_stack_scratch_size(&v->blocks, A->B, A->n);
    size_t need = nh + ss + (A->idx.buf ? eh : 0) + (A->m.buf ? eh : 0);
    emim_ws_mark mark = emim_ws_mark_get(ctx);
    emim_ref S;
    EMIM_CHECK(emim_ws_take(ctx, need, &S));
    emim_ref dx = S, scratch = emim_at(S.buf, S.off + nh), de = dx, dl;
    size_t off = S.off + nh + ss;
    emim_status s = emim_buf_zero(S.buf, S.off, need);
    emim_ref xlast = c->layers ? A->s.l[c->layers - 1].h : A->x0;
    if (!s && dz.buf)
        s = emim_layernorm_backward(ctx, dx, emim_at(G, v->norm_w), emim_at(G, v->norm_b), dz, xlast,
                                    emim_at(P, v->norm_w), A->mz, A->rz, Bn, h);
    if (!s) s = emim_stack_backward(ctx, &v->blocks, P, G, &A->s, dx, dhidden, scratch, 0, c->layers);
    /* x0 = rows idx of e: de = the rows scattered back */
    if (!s && A->idx.buf) {
        de = emim_at(S.buf, off);
        off += eh;
        s = emim_gather_rows_backward(ctx, de, A->idx, dx, A->B, A->N, A->n, h);
    }
    /* e = mix(tok W^T + b, m, t) + pos */
    if (!s) s = emim_bias_add_backward(ctx, none, emim_at(G, v->pos), de, A->B, A->N * h);
    dl = de;
    if (!s && A->m.buf) {
        dl = emim_at(S.buf, off);
        s = emim_mask_mix_backward(ctx, dl, emim_at(G, A->t.off), A->m, de, BN, h);
    }
    if (!s) s = emim_linear_backward(ctx, none, emim_at(G, v->pe_w), emim_at(G, v->pe_b), A->tok, emim_at(P, v->pe_w),
                                     dl, BN, pd, h);
    emim_ws_release(ctx, mark);
    return s;
}
