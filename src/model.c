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
    c->patch = 16;
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
    return (c->img[0] / c->patch) * (c->img[1] / c->patch) * (c->img[2] / c->patch);
}

emim_status emim_vit_check(const emim_vit_config *c, char *err, size_t errlen)
{
    const char *ax = "HWD";
    if (c->patch < 1 || c->channels < 1 || c->hidden < 1 || c->mlp < 1 || c->heads < 1 || c->layers < 1) {
        snprintf(err, errlen, "model: patch, channels, hidden, mlp, heads and layers must be >= 1");
        return EMIM_ERR_ARG;
    }
    for (int k = 0; k < 3; k++)
        if (c->img[k] < c->patch || c->img[k] % c->patch) {
            snprintf(err, errlen, "model: image size %c=%d is not a positive multiple of the patch size %d", ax[k],
                     c->img[k], c->patch);
            return EMIM_ERR_ARG;
        }
    if (c->hidden % c->heads) {
        snprintf(err, errlen, "model: hidden size %d is not divisible by %d heads", c->hidden, c->heads);
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
    int P = c->patch, h = c->hidden, m = c->mlp;
    int nparams = 3 + 11 * c->layers + 4;
    memset(p, 0, sizeof *p);
    p->t = calloc((size_t)nparams, sizeof *p->t);
    if (!p->t) return EMIM_ERR_NOMEM;
    ADD("patch_embedding.position_embeddings", 1, emim_vit_tokens(c), h);
    ADD("patch_embedding.patch_embeddings.weight", h, c->channels, P, P, P);
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
    ADD("recon.weight", c->channels * P * P * P, h);
    ADD("recon.bias", c->channels * P * P * P);
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

emim_status emim_vit_init(emim_ctx *ctx, const emim_vit_params *p, emim_buf *arena, uint64_t seed)
{
    if (emim_buf_size(arena) < p->total)
        return emim_set_error(ctx, EMIM_ERR_ARG, "model init: the arena holds %zu floats, the model needs %zu",
                              emim_buf_size(arena), p->total);
    for (int i = 0; i < p->n; i++) {
        const emim_param *t = &p->t[i];
        emim_ref r = emim_at(arena, t->off);
        emim_status s;
        if (strstr(t->name, "patch_embeddings.")) {
            /* a Conv3d keeps PyTorch's default: uniform(-1/sqrt(fan_in), +) */
            const emim_param *w = &p->t[i - (ends_with(t->name, ".bias") ? 1 : 0)];
            double fan_in = (double)w->size / w->shape[0];
            float b = (float)(1.0 / sqrt(fan_in));
            s = emim_rand(ctx, r, t->size, EMIM_RAND_UNIFORM, seed, (uint64_t)i, -b, b, 0, 0);
        } else if (ends_with(t->name, "norm1.weight") || ends_with(t->name, "norm2.weight") ||
                   !strcmp(t->name, "norm.weight")) {
            float *ones = malloc(t->size * sizeof *ones);
            if (!ones) return emim_set_error(ctx, EMIM_ERR_NOMEM, "model init: out of host memory");
            for (size_t e = 0; e < t->size; e++) ones[e] = 1.0f;
            s = emim_buf_write(arena, t->off, t->size, ones);
            free(ones);
        } else if (ends_with(t->name, ".bias")) {
            s = emim_buf_zero(arena, t->off, t->size);
        } else {
            /* position embeddings and linear weights: trunc_normal(0, 0.02, -2, 2) */
            s = emim_rand(ctx, r, t->size, EMIM_RAND_TRUNC_NORMAL, seed, (uint64_t)i, 0.0f, 0.02f, -2.0f, 2.0f);
        }
        if (s) return s;
    }
    return EMIM_OK;
}
