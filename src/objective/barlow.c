/* Barlow Twins (Zbontar et al. 2021) on the ViT: two augmented views of
 * each sample (the "barlow" recipe, src/data/augment.c) through the shared
 * encoder; each view's output tokens mean-pooled, y [B, hidden]; a projector
 * z = Linear(BN(GELU(Linear(y)))) [B, D] (src/objective/joint.c); each
 * view's z standardised over the batch (BatchNorm without affine); the
 * cross-correlation C = zA^T zB / B [D, D]; loss = sum_i (1 - C_ii)^2 +
 * lambda sum_{i != j} C_ij^2 (the barlow op). Batch statistics: one pass
 * over the whole batch, in one process. */
#include "objective/objective.h"

#include <stdio.h>
#include <stdlib.h>

enum { O_LAMBDA, O_PHID, O_PDIM, O_GEOM, NOPTS };
static const emim_opt_info OPTS[NOPTS] = {
    [O_LAMBDA] = { "lambda", EMIM_OPT_FLOAT, 0.0051, 0, 1e3, NULL, "weight of the off-diagonal terms (the paper: 0.0051)" },
    [O_PHID] = { "proj-hidden", EMIM_OPT_INT, 0, 0, 65536, NULL, "the projector's hidden width (0: 4 x hidden)" },
    [O_PDIM] = { "proj-dim", EMIM_OPT_INT, 0, 0, 65536, NULL, "the embedding's width D (0: 4 x hidden)" },
    [O_GEOM] = { "geometric", EMIM_OPT_CHOICE, EMIM_VIEWS_AUTO, 0, 3, EMIM_VIEWS_CHOICES,
                 "crops and flips: auto (per view), none, per view, or shared by the two views" },
};
static const char *const METRICS[] = { "on_diag", "off_diag" };

static int width(const emim_train_config *t, int i)
{
    int v = (int)emim_opt(t, i);
    return v ? v : 4 * t->vit.hidden;
}

static emim_status check(const emim_train_config *t, char *err, size_t errlen)
{
    if (t->batch < 2) {
        snprintf(err, errlen, "barlow: a batch of %d: the cross-correlation standardises over the batch (2 or more)",
                 t->batch);
        return EMIM_ERR_ARG;
    }
    return EMIM_OK;
}

static emim_status layout(const emim_train_config *t, emim_vit_params *p)
{
    return emim_head_layout(p, "projector", t->vit.hidden, width(t, O_PHID), width(t, O_PDIM), 1);
}

struct emim_objective {
    emim_model M;
    emim_augment_options aug;
    emim_head head;
    float lambda;
    emim_vit_acts *A[2];
    emim_buf *work;
    emim_ref tok[2], region, y[2], n[2], mean[2], rstd[2], C, loss, dloss;
    emim_ref dC, dn[2], dz[2], dy[2], dout[2];
    emim_head_acts ha[2];
    size_t dzero;                /* from here on the work arena is zeroed every step */
    float *img, *htok, *blur;           /* host: one view's images and tokens */
};

static void destroy(emim_objective *o)
{
    if (!o) return;
    for (int v = 0; v < 2; v++) emim_vit_acts_free(o->A[v]);
    emim_buf_free(o->work);
    free(o->img);
    free(o->htok);
    free(o->blur);
    free(o);
}

/* The work arena, carved from buf (NULL: counting only); returns its size. */
static size_t carve(emim_objective *o, emim_buf *buf)
{
    const emim_model *M = &o->M;
    int B = M->cfg->batch, N = M->N, h = M->cfg->vit.hidden, D = o->head.out;
    size_t bt = (size_t)B * N * M->PD, bh = (size_t)B * h, bd = (size_t)B * D, hs = emim_head_acts_size(&o->head, B),
           off = 0;
#define TAKE(k) (off += (k), emim_at(buf, off - (k)))
    o->dloss = TAKE(1); o->loss = TAKE(3); o->region = TAKE((size_t)N);
    for (int v = 0; v < 2; v++) {
        o->tok[v] = TAKE(bt); o->y[v] = TAKE(bh); o->n[v] = TAKE(bd);
        o->mean[v] = TAKE((size_t)D); o->rstd[v] = TAKE((size_t)D);
    }
    o->C = TAKE((size_t)D * D);
    o->dzero = off;
    o->dC = TAKE((size_t)D * D);
    for (int v = 0; v < 2; v++) {
        emim_head_acts_take(&o->ha[v], &o->head, B, TAKE(hs));
        o->dn[v] = TAKE(bd); o->dz[v] = TAKE(bd); o->dy[v] = TAKE(bh); o->dout[v] = TAKE((size_t)B * N * h);
    }
#undef TAKE
    return off;
}

static emim_status create(emim_objective **out, const emim_model *M)
{
    emim_ctx *ctx = M->ctx;
    const emim_train_config *c = M->cfg;
    char err[256];
    *out = NULL;
    emim_objective *o = calloc(1, sizeof *o);
    if (!o) return emim_set_error(ctx, EMIM_ERR_NOMEM, "barlow: out of host memory");
    o->M = *M;
    int B = c->batch, N = M->N, h = c->vit.hidden, D = width(c, O_PDIM);
    o->lambda = (float)emim_opt(c, O_LAMBDA);
    emim_status s = emim_augment_recipe(&o->aug, "barlow", err, sizeof err);
    emim_views_geometry(&o->aug, (int)emim_opt(c, O_GEOM), 0);
    if (!s) s = emim_head_view(&o->head, M->lay, "projector", h, width(c, O_PHID), D, 1, err, sizeof err);
    if (s) { destroy(o); return emim_set_error(ctx, s, "barlow: %s", err); }
    size_t bt = (size_t)B * N * M->PD;
    o->img = malloc(bt * sizeof *o->img);
    o->htok = malloc(bt * sizeof *o->htok);
    o->blur = malloc(bt / (size_t)c->vit.channels * sizeof *o->blur); /* [B, H, W, D] */
    if (!o->img || !o->htok || !o->blur) { destroy(o); return emim_set_error(ctx, EMIM_ERR_NOMEM, "barlow: out of host memory"); }
    s = emim_buf_alloc(ctx, carve(o, NULL), &o->work);
    for (int v = 0; v < 2 && !s; v++) s = emim_vit_acts_create(ctx, &c->vit, B, &o->A[v]);
    if (s) { destroy(o); return s; }
    carve(o, o->work);
    /* constants: d loss / d loss = 1; every token in region 0 (the mean
     * over the tokens) */
    float one = 1.0f, *zero = calloc((size_t)N, sizeof *zero);
    s = zero ? emim_buf_write(o->work, o->dloss.off, 1, &one) : EMIM_ERR_NOMEM;
    if (!s) s = emim_buf_write(o->work, o->region.off, (size_t)N, zero);
    free(zero);
    if (s) { destroy(o); return emim_set_error(ctx, s, "barlow: cannot set up its constants"); }
    *out = o;
    return EMIM_OK;
}

static emim_status step(emim_objective *o, const emim_batch *b, float *loss, float *metrics)
{
    const emim_model *M = &o->M;
    emim_ctx *ctx = M->ctx;
    int B = M->cfg->batch, N = M->N, h = M->cfg->vit.hidden, D = o->head.out;
    emim_ref none = emim_at(NULL, 0);
    /* the views (host), then the device's work, the loss read at the end */
    for (int v = 0; v < 2; v++) EMIM_CHECK(emim_views_upload(M, b, &o->aug, v, o->img, o->htok, o->blur, o->tok[v]));
    EMIM_CHECK(emim_buf_zero(o->work, o->dzero, emim_buf_size(o->work) - o->dzero));
    for (int v = 0; v < 2; v++) {
        EMIM_CHECK(emim_vit_forward(ctx, M->lay, M->params, o->A[v], o->tok[v]));
        EMIM_CHECK(emim_region_pool(ctx, o->y[v], emim_vit_acts_output(o->A[v]), o->region, B, N, 1, h));
        EMIM_CHECK(emim_head_forward(ctx, &o->head, M->params, &o->ha[v], o->y[v], B));
        EMIM_CHECK(emim_batchnorm(ctx, o->n[v], o->mean[v], o->rstd[v], o->ha[v].out, none, none, B, D, 1e-5f));
    }
    /* C = nA^T nB / B */
    float inv = 1.0f / (float)B;
    EMIM_CHECK(emim_gemm(ctx, 1, 0, D, D, B, inv, o->n[0], D, 0, o->n[1], D, 0, 0.0f, o->C, D, 0, 1));
    EMIM_CHECK(emim_barlow(ctx, o->loss, o->C, o->lambda, 1, D));
    /* backward */
    EMIM_CHECK(emim_barlow_backward(ctx, o->dC, o->C, o->dloss, o->lambda, 1, D));
    EMIM_CHECK(emim_gemm_backward(ctx, 1, 0, D, D, B, inv, o->dn[0], o->n[0], D, 0, o->dn[1], o->n[1], D, 0, o->dC, D,
                                  0, 1));
    for (int v = 0; v < 2; v++) {
        EMIM_CHECK(emim_batchnorm_backward(ctx, o->dz[v], none, none, o->dn[v], o->ha[v].out, none, o->mean[v],
                                           o->rstd[v], B, D));
        EMIM_CHECK(emim_head_backward(ctx, &o->head, M->params, b->grads, &o->ha[v], o->dy[v], o->y[v], o->dz[v], B));
        EMIM_CHECK(emim_region_pool_backward(ctx, o->dout[v], o->region, o->dy[v], B, N, 1, h));
        EMIM_CHECK(emim_vit_backward(ctx, M->lay, M->params, b->grads, o->A[v], o->dout[v], NULL));
    }
    /* the terms on the device: the op with off-diagonal weights 0 and 1 */
    EMIM_CHECK(emim_barlow(ctx, emim_at(o->loss.buf, o->loss.off + 1), o->C, 0.0f, 1, D));
    EMIM_CHECK(emim_barlow(ctx, emim_at(o->loss.buf, o->loss.off + 2), o->C, 1.0f, 1, D));
    float v[3];
    EMIM_CHECK(emim_buf_read(o->work, o->loss.off, 3, v));
    *loss = v[0];
    metrics[0] = v[1];
    metrics[1] = v[2] - v[1];
    return EMIM_OK;
}

const emim_objective_def emim_objective_barlow = {
    .name = "barlow",
    .summary = "Barlow Twins: two augmented views, a projector with batch norm, the cross-correlation's redundancy",
    .opts = OPTS, .nopts = NOPTS, .metrics = METRICS, .nmetrics = EMIM_COUNT(METRICS),
    .check = check, .mask = emim_views_no_masks, .layout = layout, .create = create, .free = destroy, .step = step,
    .reconstruct = NULL, .update = NULL, .whole_batch = 1,
};
