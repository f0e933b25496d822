/* SimMIM (Xie et al. 2022): a learned mask token replaces the embeddings
 * of the masked patches (before the position embeddings are added), the
 * whole encoder runs on every token, a single linear head predicts each
 * patch's voxels from the encoder's output, and the loss is the L1 error
 * over the masked patches only (the paper's mean over masked pixels). */
#include "objective/objective.h"

#include <stdio.h>
#include <stdlib.h>

enum { O_RATIO, NOPTS };
static const emim_opt_info OPTS[NOPTS] = {
    [O_RATIO] = { "ratio", EMIM_OPT_FLOAT, 0.6, 0.01, 0.99, NULL,
                  "share of the patch positions masked, all modalities (SimMIM's default: 0.6)" },
};
static const char *const METRICS[] = { "l1" };

static void mask_options(const emim_train_config *t, emim_mask_options *m)
{
    m->strategy = EMIM_MASK_RANDOM;
    m->ratio = (float)emim_opt(t, O_RATIO);
}

static emim_status layout(const emim_train_config *t, emim_vit_params *p)
{
    const int tok[3] = { 1, 1, t->vit.hidden };
    EMIM_CHECK(emim_params_add(p, "mask_token", EMIM_PINIT_EMBED, 0, 3, tok)); /* SimMIM: trunc_normal(0.02) */
    return emim_params_add_linear(p, "head", t->vit.hidden, emim_vit_token_size(&t->vit), 1);
}

struct emim_objective {
    emim_model M;
    size_t token;                /* the mask token's offset */
    emim_linear_view head;
    emim_vit_acts *A;
    emim_buf *work;
    emim_ref m, w, g, dg, dz, loss, dloss;
    float *hm, *hw;              /* host: the token mask [B*N], the element weights [B, N, PD] */
};

static void destroy(emim_objective *o)
{
    if (!o) return;
    emim_vit_acts_free(o->A);
    emim_buf_free(o->work);
    free(o->hm);
    free(o->hw);
    free(o);
}

static emim_status create(emim_objective **out, const emim_model *M)
{
    emim_ctx *ctx = M->ctx;
    const emim_train_config *c = M->cfg;
    char err[256];
    *out = NULL;
    emim_objective *o = calloc(1, sizeof *o);
    if (!o) return emim_set_error(ctx, EMIM_ERR_NOMEM, "simmim: out of host memory");
    o->M = *M;
    int B = c->batch, N = M->N, h = c->vit.hidden;
    size_t BN = (size_t)B * N, bt = BN * M->PD;
    long t = emim_params_find(M->lay, "mask_token", (size_t)h, err, sizeof err);
    emim_status s = t < 0 ? EMIM_ERR_ARG : emim_linear_view_make(&o->head, M->lay, "head", h, M->PD, err, sizeof err);
    if (s) { destroy(o); return emim_set_error(ctx, s, "%s", err); }
    o->token = (size_t)t;
    o->hm = malloc(BN * sizeof *o->hm);
    o->hw = malloc(bt * sizeof *o->hw);
    if (!o->hm || !o->hw) { destroy(o); return emim_set_error(ctx, EMIM_ERR_NOMEM, "simmim: out of host memory"); }
    s = emim_buf_alloc(ctx, BN + 3 * bt + BN * h + 2, &o->work);
    if (!s) s = emim_vit_acts_create(ctx, &c->vit, B, &o->A);
    if (s) { destroy(o); return s; }
    size_t off = 0;
#define TAKE(n) (off += (n), emim_at(o->work, off - (n)))
    o->m = TAKE(BN); o->w = TAKE(bt); o->g = TAKE(bt); o->dg = TAKE(bt); o->dz = TAKE(BN * h);
    o->loss = TAKE(1); o->dloss = TAKE(1);
#undef TAKE
    /* d loss / d loss, written once: the step writes nothing after its inputs */
    float one = 1.0f;
    emim_status ws = emim_buf_write(o->dloss.buf, o->dloss.off, 1, &one);
    if (ws) { destroy(o); return ws; }
    *out = o;
    return EMIM_OK;
}

/* the masked tokens' rows become the mask token; the encoder; the head: g */
static emim_status forward(emim_objective *o, const emim_batch *b)
{
    const emim_model *M = &o->M;
    int B = M->cfg->batch, N = M->N, C = M->cfg->vit.channels;
    /* a position is masked when any of its modalities is (random masking
     * masks all of them) */
    for (int s = 0; s < B; s++)
        for (int n = 0; n < N; n++) {
            float v = 0;
            for (int c = 0; c < C; c++) v = b->masks[((size_t)s * C + c) * N + n] ? 1.0f : v;
            o->hm[(size_t)s * N + n] = v;
        }
    EMIM_CHECK(emim_buf_write(o->m.buf, o->m.off, (size_t)B * N, o->hm));
    emim_ref none = emim_at(NULL, 0);
    EMIM_CHECK(emim_vit_embed(M->ctx, M->lay, M->params, o->A, b->tok, o->m, emim_at(M->params, o->token), none));
    EMIM_CHECK(emim_vit_blocks(M->ctx, M->lay, M->params, o->A, 0, M->cfg->vit.layers));
    EMIM_CHECK(emim_vit_final_norm(M->ctx, M->lay, M->params, o->A));
    return emim_linear(M->ctx, o->g, emim_vit_acts_output(o->A), emim_at(M->params, o->head.w),
                       emim_at(M->params, o->head.b), B * N, M->cfg->vit.hidden, M->PD);
}

static emim_status step(emim_objective *o, const emim_batch *b, float *loss, float *metrics)
{
    const emim_model *M = &o->M;
    emim_ctx *ctx = M->ctx;
    int B = M->cfg->batch, N = M->N, h = M->cfg->vit.hidden;
    size_t bt = (size_t)B * N * M->PD;
    /* the host's inputs first (the L1 error's weights: the masked patches'
     * voxels), then the device's work, the loss read at the end: no wait
     * for the device inside the step */
    emim_batch_mask_weights(M, o->hw, b->masks);
    EMIM_CHECK(emim_buf_write(o->w.buf, o->w.off, bt, o->hw));
    EMIM_CHECK(forward(o, b));
    EMIM_CHECK(emim_l1(ctx, o->loss, o->g, b->tok, o->w, bt));
    EMIM_CHECK(emim_buf_zero(o->dg.buf, o->dg.off, bt + (size_t)B * N * h));
    EMIM_CHECK(emim_l1_backward(ctx, o->dg, emim_at(NULL, 0), o->g, b->tok, o->w, o->dloss, bt));
    EMIM_CHECK(emim_linear_backward(ctx, o->dz, emim_at(b->grads, o->head.w), emim_at(b->grads, o->head.b),
                                    emim_vit_acts_output(o->A), emim_at(M->params, o->head.w), o->dg, B * N, h,
                                    M->PD));
    EMIM_CHECK(emim_vit_backward(ctx, M->lay, M->params, b->grads, o->A, o->dz, NULL));
    EMIM_CHECK(emim_read_scalar(o->loss, loss));
    metrics[0] = *loss;
    return EMIM_OK;
}

static emim_status reconstruct(emim_objective *o, const emim_batch *b, float *recon)
{
    EMIM_CHECK(forward(o, b));
    return emim_buf_read(o->g.buf, o->g.off, (size_t)o->M.cfg->batch * o->M.N * o->M.PD, recon);
}

const emim_objective_def emim_objective_simmim = {
    .name = "simmim",
    .summary = "SimMIM: a learned mask token, the full encoder, a linear head, L1 on masked patches",
    .opts = OPTS, .nopts = NOPTS, .metrics = METRICS, .nmetrics = EMIM_COUNT(METRICS),
    .check = NULL, .mask = mask_options, .layout = layout, .create = create, .free = destroy, .step = step,
    .reconstruct = reconstruct,
};
