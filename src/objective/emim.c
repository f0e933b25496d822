/* E-MIM (papers/e-mim.txt, eq. 10): the masked image x_m (the Hybrid Mask
 * Pattern's patches zeroed) and the image x through the same encoder;
 *   L_PBT = sum over levels l of the Pyramid Barlow Twins term between the
 *           hidden states after block (layers / L) (l + 1) of both passes,
 *           divided by the batch size (a mean over samples) and, with
 *           pbt-norm mean, by n^2;
 *   g = recon(z_m), a linear head; L_MIM = mean((g - x)^2) over the whole
 *   image; loss = L_MIM + w_pbt L_PBT.
 * --zca (the second paper's fix, applied to E-MIM's features): each level's
 * hidden states of x and of x_m are ZCA-whitened by Newton's iteration
 * (their B N token rows, separately) before the PBT term. */
#include "objective/objective.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { O_LEVELS, O_WPBT, O_WOFF, O_PBTNORM, O_MASK, O_RPOS, O_RPATCH, O_MODAL, O_RATIO, O_ZCA, O_ZCAT, NOPTS };
static const emim_opt_info OPTS[NOPTS] = {
    [O_LEVELS] = { "levels", EMIM_OPT_INT, 0, 0, 1024, NULL,
                   "PBT levels, dividing the layers (0: 4, or the largest of 3, 2, 1 that does; the paper: 4)" },
    [O_WPBT] = { "w-pbt", EMIM_OPT_FLOAT, 1, 0, 1e6, NULL, "weight of L_PBT (eq. 10: 1)" },
    [O_WOFF] = { "w-off", EMIM_OPT_FLOAT, 1, 0, 1e6, NULL, "PBT's off-diagonal weight (eq. 7: 1)" },
    [O_PBTNORM] = { "pbt-norm", EMIM_OPT_CHOICE, EMIM_PBT_MEAN, 0, 1, "sum|mean",
                    "a level's term: the sum over the n^2 token pairs, or its mean (measured: doc/method.md)" },
    [O_MASK] = { "mask", EMIM_OPT_CHOICE, EMIM_MASK_HMP, 0, 1, "hmp|random", "masking strategy" },
    [O_RPOS] = { "r-pos", EMIM_OPT_FLOAT, 0.4, 0, 1, NULL, "HMP's position mask ratio (provisional: doc/method.md)" },
    [O_RPATCH] = { "r-patch", EMIM_OPT_FLOAT, 0.3, 0, 1, NULL, "HMP's patch mask ratio (provisional)" },
    [O_MODAL] = { "modal-mask", EMIM_OPT_FLAG, 1, 0, 1, NULL, "HMP's modal mask: one modality masked entirely" },
    [O_RATIO] = { "ratio", EMIM_OPT_FLOAT, 0.6, 0, 1, NULL, "masking ratio of --mask random" },
    [O_ZCA] = { "zca", EMIM_OPT_FLAG, 0, 0, 1, NULL, "ZCA-whiten each PBT level's tokens (Newton's iteration) first" },
    [O_ZCAT] = { "zca-iters", EMIM_OPT_INT, 5, 0, 1000, NULL, "Newton iterations T of --zca (IterNorm: 5)" },
};
static const char *const METRICS[] = { "mim", "pbt" };

static int levels_of(const emim_train_config *t)
{
    int L = t->vit.layers, l = (int)emim_opt(t, O_LEVELS);
    if (l) return l;
    return L % 4 == 0 ? 4 : L % 3 == 0 ? 3 : L % 2 == 0 ? 2 : 1;
}

/* the block whose hidden state is level l of `levels` in `layers` blocks */
static int level_block(int layers, int levels, int l) { return layers / levels * (l + 1) - 1; }

int emim_pyramid_blocks(const emim_train_config *t, int *blocks)
{
    int L = t->vit.layers;
    if (t->method != emim_method_find("emim")) /* another method's options are not E-MIM's */
        return emim_pyramid_blocks(&(emim_train_config){ .vit = t->vit, .method = emim_method_find("emim") }, blocks);
    int l = levels_of(t);
    if (l < 1 || l > L || L % l) return 0;
    for (int k = 0; blocks && k < l; k++) blocks[k] = level_block(L, l, k);
    return l;
}

static emim_status check(const emim_train_config *t, char *err, size_t errlen)
{
    int l = levels_of(t);
    if (l > t->vit.layers || t->vit.layers % l) {
        snprintf(err, errlen, "emim: --levels %d does not divide the %d layers (PBT takes one level every "
                 "layers/levels blocks)", l, t->vit.layers);
        return EMIM_ERR_ARG;
    }
    return EMIM_OK;
}

static void mask_options(const emim_train_config *t, emim_mask_options *m)
{
    emim_mask_options_default(m);
    m->strategy = (emim_mask_strategy)(int)emim_opt(t, O_MASK);
    m->modal = (int)emim_opt(t, O_MODAL);
    m->r_pos = (float)emim_opt(t, O_RPOS);
    m->r_patch = (float)emim_opt(t, O_RPATCH);
    m->ratio = (float)emim_opt(t, O_RATIO);
}

static emim_status layout(const emim_train_config *t, emim_vit_params *p)
{
    /* the reconstruction head g (eq. 9; not part of MONAI's ViT) */
    return emim_params_add_linear(p, "recon", t->vit.hidden, emim_vit_token_size(&t->vit), 1);
}

struct emim_objective {
    emim_model M;
    int levels, zca, T;
    float w_pbt, w_off, norm_pbt;
    emim_linear_view recon;
    emim_vit_acts *ax, *am;
    emim_buf *work;
    emim_ref tokm, g, dg, dzm, mim, pbt, dmim, dpbt, *dh, *dhm, cache;
    emim_ref wx, wm, dwx, dwm, cx, cm;  /* --zca: the whitened states, their gradients, the caches */
    float *host;                /* tokens [B, N, PD] */
    float *scal;                /* L_MIM and each level's term [1 + levels], read at the end of a step */
};

static void destroy(emim_objective *o)
{
    if (!o) return;
    emim_vit_acts_free(o->ax);
    emim_vit_acts_free(o->am);
    emim_buf_free(o->work);
    free(o->dh);
    free(o->dhm);
    free(o->host);
    free(o->scal);
    free(o);
}

static emim_status create(emim_objective **out, const emim_model *M)
{
    const emim_train_config *c = M->cfg;
    emim_ctx *ctx = M->ctx;
    char err[256];
    *out = NULL;
    emim_objective *o = calloc(1, sizeof *o);
    if (!o) return emim_set_error(ctx, EMIM_ERR_NOMEM, "emim: out of host memory");
    o->M = *M;
    o->levels = levels_of(c);
    o->zca = (int)emim_opt(c, O_ZCA);
    o->T = (int)emim_opt(c, O_ZCAT);
    o->w_pbt = (float)emim_opt(c, O_WPBT);
    o->w_off = (float)emim_opt(c, O_WOFF);
    /* a level's term is a sum over n^2 entries, or their mean */
    o->norm_pbt = (int)emim_opt(c, O_PBTNORM) == EMIM_PBT_MEAN ? 1.0f / ((float)M->N * (float)M->N) : 1.0f;
    int B = c->batch, N = M->N, h = c->vit.hidden, L = c->vit.layers;
    size_t bt = (size_t)B * N * M->PD, bh = (size_t)B * N * h;
    emim_status s = emim_linear_view_make(&o->recon, M->lay, "recon", h, M->PD, err, sizeof err);
    if (s) { destroy(o); return emim_set_error(ctx, s, "%s", err); }
    o->dh = calloc((size_t)L, sizeof *o->dh);
    o->dhm = calloc((size_t)L, sizeof *o->dhm);
    o->host = malloc(bt * sizeof *o->host);
    o->scal = malloc((1 + (size_t)o->levels) * sizeof *o->scal);
    if (!o->dh || !o->dhm || !o->host || !o->scal) { destroy(o); return emim_set_error(ctx, EMIM_ERR_NOMEM, "emim: out of host memory"); }
    size_t cache = emim_pbt_cache_size(B, N, h), zc = o->zca ? emim_zca_cache_size(h, o->T) : 0,
           zw = o->zca ? bh : 0;
    size_t work = 3 * bt + bh + 3 + o->levels + (size_t)2 * o->levels * bh + cache + 4 * zw + 2 * zc;
    s = emim_buf_alloc(ctx, work, &o->work);
    if (!s) s = emim_vit_acts_create(ctx, &c->vit, B, &o->ax);
    if (!s) s = emim_vit_acts_create(ctx, &c->vit, B, &o->am);
    if (s) { destroy(o); return s; }
    size_t off = 0;
#define TAKE(n) (off += (n), emim_at(o->work, off - (n)))
    /* the constants and the scalars first; from dg on, zeroed every step */
    o->dmim = TAKE(1); o->dpbt = TAKE(1);
    o->mim = TAKE(1); o->pbt = TAKE((size_t)o->levels); /* read together at the end of a step */
    o->tokm = TAKE(bt); o->g = TAKE(bt); o->dg = TAKE(bt);
    o->dzm = TAKE(bh);
    for (int l = 0; l < o->levels; l++) {
        int layer = level_block(L, o->levels, l);
        o->dh[layer] = TAKE(bh);
        o->dhm[layer] = TAKE(bh);
    }
    o->cache = TAKE(cache);
    o->wx = TAKE(zw); o->wm = TAKE(zw); o->dwx = TAKE(zw); o->dwm = TAKE(zw); o->cx = TAKE(zc); o->cm = TAKE(zc);
#undef TAKE
    /* d loss / d L_MIM and d loss / d (a level's term), written once */
    float dc[2] = { 1.0f, o->w_pbt * o->norm_pbt / (float)B };
    s = emim_buf_write(o->work, o->dmim.off, 2, dc);
    if (s) { destroy(o); return s; }
    *out = o;
    return EMIM_OK;
}

/* x_m onto the device */
static emim_status upload_masked(emim_objective *o, const emim_batch *b)
{
    const emim_model *M = &o->M;
    emim_batch_mask_tokens(M, o->host, b->host_tok, b->masks);
    return emim_buf_write(o->tokm.buf, o->tokm.off, (size_t)M->cfg->batch * M->N * M->PD, o->host);
}

/* x_m (uploaded) through the encoder and the head: g [B, N, PD] */
static emim_status forward_masked(emim_objective *o)
{
    const emim_model *M = &o->M;
    int B = M->cfg->batch;
    EMIM_CHECK(emim_vit_forward(M->ctx, M->lay, M->params, o->am, o->tokm));
    return emim_linear(M->ctx, o->g, emim_vit_acts_output(o->am), emim_at(M->params, o->recon.w),
                       emim_at(M->params, o->recon.b), B * M->N, M->cfg->vit.hidden, M->PD);
}

static emim_status step(emim_objective *o, const emim_batch *b, float *loss, float *metrics)
{
    const emim_model *M = &o->M;
    emim_ctx *ctx = M->ctx;
    int B = M->cfg->batch, N = M->N, h = M->cfg->vit.hidden, L = M->cfg->vit.layers;
    size_t bt = (size_t)B * N * M->PD;
    emim_ref none = emim_at(NULL, 0);
    /* the host's input first, then the device's work, the scalars read at
     * the end: no wait for the device inside the step */
    EMIM_CHECK(upload_masked(o, b));
    /* forward: x, then x_m and the head */
    EMIM_CHECK(emim_vit_forward(ctx, M->lay, M->params, o->ax, b->tok));
    EMIM_CHECK(forward_masked(o));
    EMIM_CHECK(emim_mse(ctx, o->mim, o->g, b->tok, none, bt));
    /* backward of the reconstruction */
    EMIM_CHECK(emim_buf_zero(o->work, o->dg.off, emim_buf_size(o->work) - o->dg.off));
    EMIM_CHECK(emim_mse_backward(ctx, o->dg, none, o->g, b->tok, none, o->dmim, bt));
    EMIM_CHECK(emim_linear_backward(ctx, o->dzm, emim_at(b->grads, o->recon.w), emim_at(b->grads, o->recon.b),
                                    emim_vit_acts_output(o->am), emim_at(M->params, o->recon.w), o->dg, B * N, h,
                                    M->PD));
    /* the pyramid: one Barlow Twins term per level, forward and backward */
    for (int l = 0; l < o->levels; l++) {
        int layer = level_block(L, o->levels, l);
        emim_ref hx = emim_vit_acts_hidden(o->ax, layer), hm = emim_vit_acts_hidden(o->am, layer);
        emim_ref lossl = emim_at(o->pbt.buf, o->pbt.off + (size_t)l);
        if (!o->zca) {
            EMIM_CHECK(emim_pbt(ctx, lossl, hx, hm, o->cache, o->w_off, B, N, h));
            EMIM_CHECK(emim_pbt_backward(ctx, o->dh[layer], o->dhm[layer], o->cache, o->dpbt, o->w_off, B, N, h));
            continue;
        }
        /* whitened over the batch's B N tokens, then PBT; back through both */
        EMIM_CHECK(emim_zca(ctx, o->wx, hx, o->cx, B * N, h, o->T, 1e-5f));
        EMIM_CHECK(emim_zca(ctx, o->wm, hm, o->cm, B * N, h, o->T, 1e-5f));
        EMIM_CHECK(emim_pbt(ctx, lossl, o->wx, o->wm, o->cache, o->w_off, B, N, h));
        EMIM_CHECK(emim_buf_zero(o->work, o->dwx.off, 2 * (size_t)B * N * h));
        EMIM_CHECK(emim_pbt_backward(ctx, o->dwx, o->dwm, o->cache, o->dpbt, o->w_off, B, N, h));
        EMIM_CHECK(emim_zca_backward(ctx, o->dh[layer], hx, o->cx, o->dwx, B * N, h, o->T));
        EMIM_CHECK(emim_zca_backward(ctx, o->dhm[layer], hm, o->cm, o->dwm, B * N, h, o->T));
    }
    EMIM_CHECK(emim_vit_backward(ctx, M->lay, M->params, b->grads, o->ax, none, o->dh));
    EMIM_CHECK(emim_vit_backward(ctx, M->lay, M->params, b->grads, o->am, o->dzm, o->dhm));
    EMIM_CHECK(emim_buf_read(o->work, o->mim.off, 1 + (size_t)o->levels, o->scal));
    float mim = o->scal[0], pbt_sum = 0;
    for (int l = 0; l < o->levels; l++) pbt_sum += o->scal[1 + l];
    metrics[0] = mim;
    metrics[1] = pbt_sum * o->norm_pbt / (float)B;
    *loss = mim + o->w_pbt * metrics[1];
    return EMIM_OK;
}

static emim_status reconstruct(emim_objective *o, const emim_batch *b, float *recon)
{
    EMIM_CHECK(upload_masked(o, b));
    EMIM_CHECK(forward_masked(o));
    return emim_buf_read(o->g.buf, o->g.off, (size_t)o->M.cfg->batch * o->M.N * o->M.PD, recon);
}

const emim_objective_def emim_objective_emim = {
    .name = "emim",
    .summary = "E-MIM: hybrid mask pattern, Pyramid Barlow Twins, whole-image reconstruction",
    .opts = OPTS, .nopts = NOPTS, .metrics = METRICS, .nmetrics = EMIM_COUNT(METRICS),
    .check = check, .mask = mask_options, .layout = layout, .create = create, .free = destroy, .step = step,
    .reconstruct = reconstruct,
};
