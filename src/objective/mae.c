/* MAE (He et al. 2022), in 3D as MONAI's MaskedAutoEncoderViT: random
 * masking of the patch positions; the encoder on the visible tokens only
 * (each with its own position embedding); a light transformer decoder
 * (decoder_embed, the mask token at the masked positions, its own
 * position embedding, blocks, a norm, decoder_pred to each patch's
 * voxels); the mean squared error over the masked patches only, with the
 * targets optionally normalised per patch (norm-pix). The decoder's tensors
 * carry MONAI's names. */
#include "objective/objective.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { O_RATIO, O_DHIDDEN, O_DLAYERS, O_DHEADS, O_DMLP, O_NORMPIX, NOPTS };
static const emim_opt_info OPTS[NOPTS] = {
    [O_RATIO] = { "ratio", EMIM_OPT_FLOAT, 0.75, 0.01, 0.99, NULL,
                  "share of the patch positions masked (MAE's and MONAI's default: 0.75)" },
    [O_DHIDDEN] = { "dec-hidden", EMIM_OPT_INT, 0, 0, 65536, NULL,
                    "decoder width (0: half the encoder's, MAE's 512 for ViT-L's 1024; ViT-B: 384, MONAI's)" },
    [O_DLAYERS] = { "dec-layers", EMIM_OPT_INT, 4, 1, 1024, NULL, "decoder blocks (MONAI's default: 4; MAE: 8)" },
    [O_DHEADS] = { "dec-heads", EMIM_OPT_INT, 0, 0, 65536, NULL, "decoder heads (0: the encoder's)" },
    [O_DMLP] = { "dec-mlp", EMIM_OPT_INT, 0, 0, 65536, NULL, "decoder MLP width (0: 4 times its width, as MAE)" },
    [O_NORMPIX] = { "norm-pix", EMIM_OPT_FLAG, 0, 0, 1, NULL,
                    "targets normalised per patch (mean 0, unbiased variance 1; MAE's norm_pix_loss)" },
};
static const char *const METRICS[] = { "mse" };

typedef struct {
    int width, layers, heads, mlp, keep;
} dec_shape;

static dec_shape shape_of(const emim_train_config *t)
{
    dec_shape d;
    int N = emim_vit_tokens(&t->vit);
    d.width = (int)emim_opt(t, O_DHIDDEN);
    d.heads = (int)emim_opt(t, O_DHEADS);
    if (!d.heads) d.heads = t->vit.heads;
    if (!d.width) d.width = t->vit.hidden / 2 % d.heads ? t->vit.hidden : t->vit.hidden / 2;
    d.layers = (int)emim_opt(t, O_DLAYERS);
    d.mlp = (int)emim_opt(t, O_DMLP);
    if (!d.mlp) d.mlp = 4 * d.width;
    d.keep = N - (int)lrintf((float)emim_opt(t, O_RATIO) * (float)N);
    return d;
}

static emim_status check(const emim_train_config *t, char *err, size_t errlen)
{
    dec_shape d = shape_of(t);
    int N = emim_vit_tokens(&t->vit);
    if (d.width % d.heads) {
        snprintf(err, errlen, "mae: --dec-hidden %d is not divisible by --dec-heads %d", d.width, d.heads);
        return EMIM_ERR_ARG;
    }
    if (d.mlp > 65536 || d.width > 65536) {
        snprintf(err, errlen, "mae: the decoder's width %d or MLP %d is above 65536", d.width, d.mlp);
        return EMIM_ERR_ARG;
    }
    if (d.keep < 1 || d.keep >= N) {
        snprintf(err, errlen, "mae: --ratio %g of %d positions leaves %d visible: at least one must be masked and "
                 "one visible", emim_opt(t, O_RATIO), N, d.keep);
        return EMIM_ERR_ARG;
    }
    return EMIM_OK;
}

static void mask_options(const emim_train_config *t, emim_mask_options *m)
{
    m->strategy = EMIM_MASK_RANDOM;
    m->ratio = (float)emim_opt(t, O_RATIO);
}

static emim_status layout(const emim_train_config *t, emim_vit_params *p)
{
    dec_shape d = shape_of(t);
    const int tok[3] = { 1, 1, d.width }, pos[3] = { 1, emim_vit_tokens(&t->vit), d.width };
    EMIM_CHECK(emim_params_add_linear(p, "decoder_embed", t->vit.hidden, d.width, 1));
    EMIM_CHECK(emim_params_add(p, "mask_tokens", EMIM_PINIT_EMBED, 0, 3, tok));
    EMIM_CHECK(emim_params_add(p, "decoder_pos_embedding", EMIM_PINIT_EMBED, 0, 3, pos));
    EMIM_CHECK(emim_params_add_blocks(p, "decoder_blocks", d.layers, d.width, d.mlp));
    EMIM_CHECK(emim_params_add_norm(p, "decoder_norm", d.width));
    return emim_params_add_linear(p, "decoder_pred", d.width, emim_vit_token_size(&t->vit), 1);
}

struct emim_objective {
    emim_model M;
    dec_shape d;
    int norm_pix;
    emim_linear_view embed, pred;
    size_t token, pos, norm_w, norm_b;
    emim_stack_view dec;
    emim_stack_acts da;          /* the decoder's activations */
    emim_vit_acts *A;            /* the encoder on the visible tokens */
    emim_buf *work;
    emim_ref idx, m, w, target, y, full, dn, mn, rn, pred_out, dpred, ddn, dfull, dscat, dy, dz, scratch, loss,
        dloss;
    float *hidx, *hm, *hw, *htarget;
};

static void destroy(emim_objective *o)
{
    if (!o) return;
    emim_vit_acts_free(o->A);
    emim_stack_acts_release(&o->da);
    emim_stack_view_free(&o->dec);
    emim_buf_free(o->work);
    free(o->hidx);
    free(o->hm);
    free(o->hw);
    free(o->htarget);
    free(o);
}

static emim_status create(emim_objective **out, const emim_model *M)
{
    emim_ctx *ctx = M->ctx;
    const emim_train_config *c = M->cfg;
    char err[256];
    *out = NULL;
    emim_objective *o = calloc(1, sizeof *o);
    if (!o) return emim_set_error(ctx, EMIM_ERR_NOMEM, "mae: out of host memory");
    o->M = *M;
    o->d = shape_of(c);
    o->norm_pix = (int)emim_opt(c, O_NORMPIX);
    int B = c->batch, N = M->N, h = c->vit.hidden, w = o->d.width, n = o->d.keep;
    size_t BN = (size_t)B * N, Bn = (size_t)B * n, bt = BN * M->PD, bw = BN * (size_t)w;
    long off[4];
    off[0] = emim_params_find(M->lay, "mask_tokens", (size_t)w, err, sizeof err);
    off[1] = off[0] < 0 ? -1 : emim_params_find(M->lay, "decoder_pos_embedding", (size_t)N * w, err, sizeof err);
    off[2] = off[1] < 0 ? -1 : emim_params_find(M->lay, "decoder_norm.weight", (size_t)w, err, sizeof err);
    off[3] = off[2] < 0 ? -1 : emim_params_find(M->lay, "decoder_norm.bias", (size_t)w, err, sizeof err);
    emim_status s = off[3] < 0 ? EMIM_ERR_ARG : EMIM_OK;
    if (!s) s = emim_linear_view_make(&o->embed, M->lay, "decoder_embed", h, w, err, sizeof err);
    if (!s) s = emim_linear_view_make(&o->pred, M->lay, "decoder_pred", w, M->PD, err, sizeof err);
    if (!s) s = emim_stack_view_make(&o->dec, M->lay, "decoder_blocks", o->d.layers, w, o->d.mlp, o->d.heads,
                                     c->vit.eps, err, sizeof err);
    if (s) { destroy(o); return emim_set_error(ctx, s, "%s", err); }
    o->token = (size_t)off[0]; o->pos = (size_t)off[1]; o->norm_w = (size_t)off[2]; o->norm_b = (size_t)off[3];
    o->hidx = malloc(Bn * sizeof *o->hidx);
    o->hm = malloc(BN * sizeof *o->hm);
    o->hw = malloc(bt * sizeof *o->hw);
    o->htarget = malloc(bt * sizeof *o->htarget);
    if (!o->hidx || !o->hm || !o->hw || !o->htarget) {
        destroy(o);
        return emim_set_error(ctx, EMIM_ERR_NOMEM, "mae: out of host memory");
    }
    size_t ss = emim_stack_scratch_size(&o->dec, B, N);
    size_t total = Bn + BN + 4 * bt + Bn * w + 5 * bw + 2 * BN + Bn * w + Bn * h + ss + 2 +
                   emim_stack_acts_size(&o->dec, B, N, 1);
    s = emim_buf_alloc(ctx, total, &o->work);
    if (!s) s = emim_vit_acts_create_ex(ctx, &c->vit, B, n, 1, &o->A);
    if (s) { destroy(o); return s; }
    size_t at = 0;
#define TAKE(k) (at += (k), emim_at(o->work, at - (k)))
    o->idx = TAKE(Bn); o->m = TAKE(BN); o->w = TAKE(bt); o->target = TAKE(bt); o->pred_out = TAKE(bt);
    o->dpred = TAKE(bt); o->y = TAKE(Bn * w); o->full = TAKE(bw); o->dn = TAKE(bw); o->mn = TAKE(BN); o->rn = TAKE(BN);
    o->ddn = TAKE(bw); o->dfull = TAKE(bw); o->dscat = TAKE(bw); o->dy = TAKE(Bn * w); o->dz = TAKE(Bn * h);
    o->scratch = TAKE(ss); o->loss = TAKE(1); o->dloss = TAKE(1);
#undef TAKE
    /* d loss / d loss, written once: the step writes nothing after its inputs */
    float one = 1.0f;
    emim_status ws = emim_buf_write(o->dloss.buf, o->dloss.off, 1, &one);
    if (ws) { destroy(o); return ws; }
    if (emim_stack_acts_init(&o->da, &o->dec, B, N, 1, o->work, &at)) {
        destroy(o);
        return emim_set_error(ctx, EMIM_ERR_NOMEM, "mae: out of host memory");
    }
    *out = o;
    return EMIM_OK;
}

/* The masks to the visible positions (ascending) and the token mask; an
 * error when a sample's count differs from the ratio's. */
static emim_status masks_in(emim_objective *o, const emim_batch *b)
{
    const emim_model *M = &o->M;
    int B = M->cfg->batch, N = M->N, C = M->cfg->vit.channels, n = o->d.keep;
    for (int s = 0; s < B; s++) {
        int k = 0;
        for (int p = 0; p < N; p++) {
            int masked = 0;
            for (int c = 0; c < C; c++) masked |= b->masks[((size_t)s * C + c) * N + p] != 0;
            o->hm[(size_t)s * N + p] = masked ? 1.0f : 0.0f;
            if (!masked && k < n) o->hidx[(size_t)s * n + k] = (float)p;
            k += !masked;
        }
        if (k != n)
            return emim_set_error(M->ctx, EMIM_ERR_ARG, "mae: sample %d has %d visible positions, the ratio leaves %d",
                                  s, k, n);
    }
    EMIM_CHECK(emim_buf_write(o->idx.buf, o->idx.off, (size_t)B * n, o->hidx));
    return emim_buf_write(o->m.buf, o->m.off, (size_t)B * N, o->hm);
}

static emim_status forward(emim_objective *o, const emim_batch *b)
{
    const emim_model *M = &o->M;
    emim_ctx *ctx = M->ctx;
    emim_buf *P = M->params;
    int B = M->cfg->batch, N = M->N, w = o->d.width, n = o->d.keep, h = M->cfg->vit.hidden;
    emim_ref none = emim_at(NULL, 0);
    EMIM_CHECK(masks_in(o, b));
    /* the encoder on the visible tokens */
    EMIM_CHECK(emim_vit_embed(ctx, M->lay, P, o->A, b->tok, none, none, o->idx));
    EMIM_CHECK(emim_vit_blocks(ctx, M->lay, P, o->A, 0, M->cfg->vit.layers));
    EMIM_CHECK(emim_vit_final_norm(ctx, M->lay, P, o->A));
    /* the decoder's input: the visible tokens at their positions, the mask
     * token elsewhere, plus the decoder's position embedding */
    EMIM_CHECK(emim_linear(ctx, o->y, emim_vit_acts_output(o->A), emim_at(P, o->embed.w), emim_at(P, o->embed.b),
                           B * n, h, w));
    EMIM_CHECK(emim_buf_zero(o->full.buf, o->full.off, (size_t)B * N * w));
    EMIM_CHECK(emim_gather_rows_backward(ctx, o->full, o->idx, o->y, B, N, n, w)); /* a scatter */
    EMIM_CHECK(emim_mask_mix(ctx, o->full, o->full, o->m, emim_at(P, o->token), B * N, w));
    EMIM_CHECK(emim_bias_add(ctx, o->full, o->full, emim_at(P, o->pos), B, N * w));
    EMIM_CHECK(emim_stack_forward(ctx, &o->dec, P, &o->da, o->full, 0, o->d.layers));
    EMIM_CHECK(emim_layernorm(ctx, o->dn, o->mn, o->rn, o->da.l[o->d.layers - 1].h, emim_at(P, o->norm_w),
                              emim_at(P, o->norm_b), B * N, w, M->cfg->vit.eps));
    return emim_linear(ctx, o->pred_out, o->dn, emim_at(P, o->pred.w), emim_at(P, o->pred.b), B * N, w, M->PD);
}

/* MAE's norm_pix_loss: each patch's values to mean 0 and unbiased variance 1 */
static void norm_pix(float *t, size_t rows, int d)
{
    for (size_t r = 0; r < rows; r++) {
        float *x = t + r * (size_t)d;
        double s = 0, s2 = 0;
        for (int e = 0; e < d; e++) s += x[e];
        double mean = s / d;
        for (int e = 0; e < d; e++) s2 += (x[e] - mean) * (x[e] - mean);
        double sd = sqrt((d > 1 ? s2 / (d - 1) : 0) + 1e-6);
        for (int e = 0; e < d; e++) x[e] = (float)((x[e] - mean) / sd);
    }
}

static emim_status step(emim_objective *o, const emim_batch *b, float *loss, float *metrics)
{
    const emim_model *M = &o->M;
    emim_ctx *ctx = M->ctx;
    emim_buf *P = M->params, *G = b->grads;
    int B = M->cfg->batch, N = M->N, w = o->d.width, n = o->d.keep, h = M->cfg->vit.hidden;
    size_t bt = (size_t)B * N * M->PD, bw = (size_t)B * N * w;
    emim_ref none = emim_at(NULL, 0);
    /* the host's inputs first (the target, the loss weights), then the
     * device's work, the loss read at the end: no wait inside the step */
    emim_ref target = b->tok;
    if (o->norm_pix) {
        memcpy(o->htarget, b->host_tok, bt * sizeof *o->htarget);
        norm_pix(o->htarget, (size_t)B * N, M->PD);
        EMIM_CHECK(emim_buf_write(o->target.buf, o->target.off, bt, o->htarget));
        target = o->target;
    }
    emim_batch_mask_weights(M, o->hw, b->masks);
    EMIM_CHECK(emim_buf_write(o->w.buf, o->w.off, bt, o->hw));
    EMIM_CHECK(forward(o, b));
    EMIM_CHECK(emim_mse(ctx, o->loss, o->pred_out, target, o->w, bt));
    /* backward */
    EMIM_CHECK(emim_buf_zero(o->dpred.buf, o->dpred.off, bt));
    EMIM_CHECK(emim_buf_zero(o->ddn.buf, o->ddn.off, bw));
    EMIM_CHECK(emim_buf_zero(o->dfull.buf, o->dfull.off, bw));
    EMIM_CHECK(emim_buf_zero(o->dscat.buf, o->dscat.off, bw));
    EMIM_CHECK(emim_buf_zero(o->dz.buf, o->dz.off, (size_t)B * n * h));
    EMIM_CHECK(emim_mse_backward(ctx, o->dpred, none, o->pred_out, target, o->w, o->dloss, bt));
    EMIM_CHECK(emim_linear_backward(ctx, o->ddn, emim_at(G, o->pred.w), emim_at(G, o->pred.b), o->dn,
                                    emim_at(P, o->pred.w), o->dpred, B * N, w, M->PD));
    EMIM_CHECK(emim_layernorm_backward(ctx, o->dfull, emim_at(G, o->norm_w), emim_at(G, o->norm_b), o->ddn,
                                       o->da.l[o->d.layers - 1].h, emim_at(P, o->norm_w), o->mn, o->rn, B * N, w));
    EMIM_CHECK(emim_stack_backward(ctx, &o->dec, P, G, &o->da, o->dfull, NULL, o->scratch, 0, o->d.layers));
    EMIM_CHECK(emim_bias_add_backward(ctx, none, emim_at(G, o->pos), o->dfull, B, N * w));
    EMIM_CHECK(emim_mask_mix_backward(ctx, o->dscat, emim_at(G, o->token), o->m, o->dfull, B * N, w));
    EMIM_CHECK(emim_gather_rows(ctx, o->dy, o->dscat, o->idx, B, N, n, w)); /* the visible rows' gradient */
    EMIM_CHECK(emim_linear_backward(ctx, o->dz, emim_at(G, o->embed.w), emim_at(G, o->embed.b),
                                    emim_vit_acts_output(o->A), emim_at(P, o->embed.w), o->dy, B * n, h, w));
    EMIM_CHECK(emim_vit_backward(ctx, M->lay, P, G, o->A, o->dz, NULL));
    EMIM_CHECK(emim_read_scalar(o->loss, loss));
    metrics[0] = *loss;
    return EMIM_OK;
}

static emim_status reconstruct(emim_objective *o, const emim_batch *b, float *recon)
{
    EMIM_CHECK(forward(o, b));
    size_t bt = (size_t)o->M.cfg->batch * o->M.N * o->M.PD;
    EMIM_CHECK(emim_buf_read(o->pred_out.buf, o->pred_out.off, bt, recon));
    if (!o->norm_pix) return EMIM_OK;
    /* with normalised targets the prediction is in each patch's own units;
     * back to intensities with the true patch's mean and deviation (which
     * the model did not see: a reconstruction for looking at, and its
     * error flatters the model) */
    const float *x = b->host_tok;
    int d = o->M.PD;
    for (size_t r = 0; r < bt / (size_t)d; r++) {
        double s = 0, s2 = 0;
        for (int e = 0; e < d; e++) s += x[r * d + e];
        double mean = s / d;
        for (int e = 0; e < d; e++) s2 += (x[r * d + e] - mean) * (x[r * d + e] - mean);
        double sd = sqrt((d > 1 ? s2 / (d - 1) : 0) + 1e-6);
        for (int e = 0; e < d; e++) recon[r * d + e] = (float)(recon[r * d + e] * sd + mean);
    }
    return EMIM_OK;
}

const emim_objective_def emim_objective_mae = {
    .name = "mae",
    .summary = "MAE: the encoder on visible tokens, a light decoder, MSE on masked patches",
    .opts = OPTS, .nopts = NOPTS, .metrics = METRICS, .nmetrics = EMIM_COUNT(METRICS),
    .check = check, .mask = mask_options, .layout = layout, .create = create, .free = destroy, .step = step,
    .reconstruct = reconstruct,
};
