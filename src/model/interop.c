/* The encoder under MONAI's names, in and out (safetensors): export writes
 * MONAI's ViT state_dict (the tensors libemim trains have MONAI's names and
 * layouts already: the Conv3d patch embedding [hidden, C, P0, P1, P2], qkv
 * rows Q, K, V with head h at rows h*D..h*D+D-1 of each), plus the tensors
 * that the chosen MONAI version's ViT holds and libemim does not use;
 * import reads a MONAI ViT's weights (with or without a prefix such as
 * UNETR's "vit."; a UNETR's other tensors are left alone) into the
 * trainer's encoder. */
#include "data/safetensors.h"
#include "train/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* MONAI 1.6's TransformerBlock builds norm_cross_attn (a LayerNorm) even
 * without cross-attention: its weights are written as the identity. */
static int extra_keys(const char *monai)
{
    if (!monai || !strcmp(monai, "1.6")) return 1;
    if (!strcmp(monai, "none")) return 0;
    return -1;
}

emim_status emim_trainer_export(emim_trainer *T, const char *path, const char *prefix, const char *monai,
                                const char *const *keys, const char *const *vals, int nmeta)
{
    emim_ctx *ctx = T->ctx;
    int extra = extra_keys(monai);
    if (extra < 0)
        return emim_set_error(ctx, EMIM_ERR_ARG, "export: MONAI key set '%s': expected 1.6 or none", monai);
    if (!prefix) prefix = "";
    emim_vit_params enc;
    if (emim_vit_layout(&T->cfg.vit, &enc))
        return emim_set_error(ctx, EMIM_ERR_ARG, "export: the encoder's parameter table could not be made");
    int L = T->cfg.vit.layers, h = T->cfg.vit.hidden, n = enc.n + (extra ? 2 * L : 0);
    emim_st_out *t = calloc((size_t)n, sizeof *t);
    char (*names)[128] = calloc((size_t)n, sizeof *names);
    float *host = malloc(enc.total * sizeof *host), *ones = malloc((size_t)h * sizeof *ones),
          *zeros = calloc((size_t)h, sizeof *zeros);
    emim_status s = t && names && host && ones && zeros ? EMIM_OK : EMIM_ERR_NOMEM;
    if (s) emim_set_error(ctx, s, "export: out of host memory");
    /* the encoder's tensors lead the trainer's table, at the same offsets */
    if (!s) s = emim_buf_read(T->params, 0, enc.total, host);
    int k = 0;
    for (int i = 0; i < enc.n && !s; i++, k++) {
        const emim_param *p = &enc.t[i];
        snprintf(names[k], sizeof names[k], "%s%s", prefix, p->name);
        t[k].name = names[k];
        t[k].ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++) t[k].shape[d] = p->shape[d];
        t[k].data = host + p->off;
        /* after block l's tensors: MONAI 1.6's unused norm_cross_attn */
        const char *tail = strrchr(p->name, '.');
        int last_of_block = !strncmp(p->name, "blocks.", 7) && tail && strstr(p->name, "mlp.linear2.bias");
        if (extra && last_of_block) {
            int l = atoi(p->name + 7);
            for (int w = 0; w < 2; w++) {
                k++;
                snprintf(names[k], sizeof names[k], "%sblocks.%d.norm_cross_attn.%s", prefix, l, w ? "bias" : "weight");
                t[k].name = names[k];
                t[k].ndim = 1;
                t[k].shape[0] = h;
                t[k].data = w ? zeros : ones;
            }
        }
    }
    for (int e = 0; e < h && ones; e++) ones[e] = 1.0f;
    char err[4400];
    if (!s && emim_st_write(path, t, n, keys, vals, nmeta, err, sizeof err)) s = emim_set_error(ctx, EMIM_ERR_IO, "%s", err);
    free(t);
    free(names);
    free(host);
    free(ones);
    free(zeros);
    emim_vit_layout_free(&enc);
    return s;
}

/* MONAI's tensors that libemim's encoder does not use: cross-attention
 * (built but unused without with_cross_attention) */
static int unused_by_libemim(const char *name)
{
    return strstr(name, ".norm_cross_attn.") || strstr(name, ".cross_attn.");
}

static void shape_text(char *b, size_t n, int ndim, const int64_t *shape)
{
    size_t at = (size_t)snprintf(b, n, "[");
    for (int d = 0; d < ndim && at < n; d++) at += (size_t)snprintf(b + at, n - at, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (at < n) snprintf(b + at, n - at, "]");
}

emim_status emim_trainer_import(emim_trainer *T, const char *path)
{
    emim_ctx *ctx = T->ctx;
    char err[4400];
    emim_st *st = NULL;
    if (emim_st_open(&st, path, err, sizeof err)) return emim_set_error(ctx, EMIM_ERR_IO, "%s", err);
    /* the prefix is what stands before the position embeddings' name
     * (UNETR's "vit."); with one, tensors outside it (a UNETR's decoder)
     * are not the encoder's and are left alone */
    const char *prefix = "";
    size_t plen = 0;
    static const char pos[] = "patch_embedding.position_embeddings";
    for (int i = 0; i < emim_st_count(st); i++) {
        const char *nm = emim_st_get(st, i)->name;
        size_t l = strlen(nm);
        if (l > sizeof pos - 1 && !strcmp(nm + l - (sizeof pos - 1), pos)) {
            prefix = nm;
            plen = l - (sizeof pos - 1);
            break;
        }
    }
    emim_vit_params enc;
    if (emim_vit_layout(&T->cfg.vit, &enc)) {
        emim_st_close(st);
        return emim_set_error(ctx, EMIM_ERR_ARG, "import: the encoder's parameter table could not be made");
    }
    /* every problem listed: missing, extra and mis-shaped tensors */
    char list[2048] = "";
    size_t at = 0;
    int bad = 0;
#define SHOWN 8   /* problems listed; the rest are counted */
#define NOTE(...) do { if (bad < SHOWN && at < sizeof list) at += (size_t)snprintf(list + at, sizeof list - at, __VA_ARGS__); \
                       bad++; } while (0)
    for (int i = 0; i < enc.n; i++) {
        char name[160];
        snprintf(name, sizeof name, "%.*s%s", (int)plen, prefix, enc.t[i].name);
        const emim_st_tensor *t = emim_st_find(st, name);
        int64_t want[5];
        for (int d = 0; d < enc.t[i].ndim; d++) want[d] = enc.t[i].shape[d];
        char ws[96], gs[96];
        shape_text(ws, sizeof ws, enc.t[i].ndim, want);
        if (!t) { NOTE("%smissing %s %s", bad ? "; " : "", name, ws); continue; }
        int same = t->ndim == enc.t[i].ndim;
        for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == want[d];
        if (!same) {
            shape_text(gs, sizeof gs, t->ndim, t->shape);
            NOTE("%s%s is %s, this model's is %s", bad ? "; " : "", name, gs, ws);
        }
    }
    for (int i = 0; i < emim_st_count(st); i++) {
        const char *name = emim_st_get(st, i)->name;
        if (unused_by_libemim(name)) continue;
        if (strncmp(name, prefix, plen)) continue; /* outside the encoder */
        if (!emim_vit_param(&enc, name + plen)) NOTE("%sextra %s", bad ? "; " : "", name);
    }
#undef NOTE
    emim_status s = EMIM_OK;
    if (bad)
        s = emim_set_error(ctx, EMIM_ERR_ARG, "%s: not this model's ViT weights (%d problem%s%s: %s)", path, bad,
                           bad == 1 ? "" : "s", bad > SHOWN ? ", the first 8" : "", list);
    for (int i = 0; i < enc.n && !s; i++) {
        char name[160];
        snprintf(name, sizeof name, "%.*s%s", (int)plen, prefix, enc.t[i].name);
        const emim_st_tensor *t = emim_st_find(st, name);
        float *v = malloc(t->size * sizeof *v);
        if (!v) s = emim_set_error(ctx, EMIM_ERR_NOMEM, "%s: out of memory", path);
        else if (emim_st_read(st, t, v, err, sizeof err)) s = emim_set_error(ctx, EMIM_ERR_IO, "%s", err);
        else s = emim_buf_write(T->params, enc.t[i].off, enc.t[i].size, v);
        free(v);
    }
    emim_vit_layout_free(&enc);
    emim_st_close(st);
    return s;
}
