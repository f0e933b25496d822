/* MoCo v2 (Chen et al. 2020) on the ViT, with the fixes of the second
 * paper (papers/dimensional-collapse-contrastive.txt) as options.
 *   Two augmented views of each sample (the "moco" recipe): the query view
 *   through the encoder, the key view through the momentum encoder (an EMA
 *   of the encoder and its projector, buffers of the same arena: no
 *   gradients; saved in checkpoints with the queue, so a resume is exact);
 *   each output's tokens mean-pooled [B, hidden], optionally ZCA-whitened
 *   by Newton's iteration (--zca: the second paper's eq. 5, IterNorm, before
 *   the projector), then the projector Linear, GELU, Linear [B, D] and unit
 *   length: q and k.
 *   L_global = InfoNCE of q against its key k_i (the positive) and the
 *   queue's keys (negatives) at temperature tau; the batch's other keys are
 *   masked out of the softmax (MoCo v2's logits exactly).
 *   --local-infonce (eq. 2-3): the hidden state after block local-layer of
 *   both encoders pooled over a g x g x g split of the patch grid (K = g^3
 *   regions, the same in both views: no geometric augmentation by default),
 *   unit length; per sample the K x K similarities fm_i . fm_j^+ / tau and
 *   InfoNCE with the same region as the positive; L = L_global + lambda
 *   L_local.
 * --symmetric: both views as queries, the mean of the two directions'
 * losses, both directions' keys queued.
 * After each optimiser step: momentum encoder m M + (1 - m) theta, the
 * step's keys into the queue at rows (step B) mod queue. */
#include "objective/objective.h"
#include "train/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { O_QUEUE, O_MOMENTUM, O_TEMP, O_PHID, O_PDIM, O_SYM, O_LOCAL, O_LWEIGHT, O_LLAYER, O_LGRID, O_ZCA, O_ZCAT, O_GEOM,
       NOPTS };
static const emim_opt_info OPTS[NOPTS] = {
    [O_QUEUE] = { "queue", EMIM_OPT_INT, 4096, 1, 1 << 20, NULL, "keys in the queue of negatives, a multiple of the batch" },
    [O_MOMENTUM] = { "momentum", EMIM_OPT_FLOAT, 0.99, 0, 0.999999, NULL,
                     "the momentum encoder's EMA momentum (MoCo v2: 0.999 over 800 epochs; 0.99 for short runs)" },
    [O_TEMP] = { "temperature", EMIM_OPT_FLOAT, 0.2, 0.001, 100, NULL, "InfoNCE's temperature (MoCo v2: 0.2)" },
    [O_PHID] = { "proj-hidden", EMIM_OPT_INT, 0, 0, 65536, NULL, "the projector's hidden width (0: hidden, as MoCo v2)" },
    [O_PDIM] = { "proj-dim", EMIM_OPT_INT, 128, 1, 65536, NULL, "the embedding's width (MoCo v2: 128)" },
    [O_SYM] = { "symmetric", EMIM_OPT_FLAG, 0, 0, 1, NULL,
                "both views as queries: the mean of the two directions' losses, both keys queued (twice the work)" },
    [O_LOCAL] = { "local-infonce", EMIM_OPT_FLAG, 0, 0, 1, NULL, "add the second paper's local InfoNCE (eq. 2-3)" },
    [O_LWEIGHT] = { "local-weight", EMIM_OPT_FLOAT, 1, 0, 1e6, NULL, "lambda of L_global + lambda L_local" },
    [O_LLAYER] = { "local-layer", EMIM_OPT_INT, 0, 0, 1023, NULL,
                   "the block whose tokens the local loss pools (0: the first, the first ResNet stage's analogue)" },
    [O_LGRID] = { "local-grid", EMIM_OPT_INT, 2, 1, 64, NULL, "regions per axis of the patch grid (K = grid^3)" },
    [O_ZCA] = { "zca", EMIM_OPT_FLAG, 0, 0, 1, NULL, "ZCA whitening by Newton's iteration before the projector" },
    [O_ZCAT] = { "zca-iters", EMIM_OPT_INT, 5, 0, 1000, NULL, "Newton iterations T (IterNorm: 5)" },
    [O_GEOM] = { "geometric", EMIM_OPT_CHOICE, EMIM_VIEWS_AUTO, 0, 3, EMIM_VIEWS_CHOICES,
                 "crops and flips: auto (per view; none with local InfoNCE), none, per view, or shared" },
};
static const char *const METRICS[] = { "global", "local" };

static int phid(const emim_train_config *t)
{
    int v = (int)emim_opt(t, O_PHID);
    return v ? v : t->vit.hidden;
}

static emim_status check(const emim_train_config *t, char *err, size_t errlen)
{
    int Q = (int)emim_opt(t, O_QUEUE), g = (int)emim_opt(t, O_LGRID), sym = (int)emim_opt(t, O_SYM);
    if (Q % (t->batch * (sym ? 2 : 1))) {
        snprintf(err, errlen, "moco: the queue of %d keys is not a multiple of the %d keys a step queues (the batch %d%s)",
                 Q, t->batch * (sym ? 2 : 1), t->batch, sym ? ", both directions" : "");
        return EMIM_ERR_ARG;
    }
    if ((int)emim_opt(t, O_LOCAL)) {
        if ((int)emim_opt(t, O_LLAYER) >= t->vit.layers) {
            snprintf(err, errlen, "moco: --local-layer %d: the encoder has blocks 0 to %d",
                     (int)emim_opt(t, O_LLAYER), t->vit.layers - 1);
            return EMIM_ERR_ARG;
        }
        for (int a = 0; a < 3; a++)
            if (g < 2 || g > t->vit.img[a] / t->vit.patch[a]) {
                snprintf(err, errlen, "moco: --local-grid %d must be from 2 to the smallest axis of the %d x %d x %d "
                         "patch grid", g, t->vit.img[0] / t->vit.patch[0], t->vit.img[1] / t->vit.patch[1],
                         t->vit.img[2] / t->vit.patch[2]);
                return EMIM_ERR_ARG;
            }
    }
    return EMIM_OK;
}

static emim_status layout(const emim_train_config *t, emim_vit_params *p)
{
    int h = t->vit.hidden, D = (int)emim_opt(t, O_PDIM);
    EMIM_CHECK(emim_head_layout(p, "projector", h, phid(t), D, 0));
    /* the momentum encoder and projector: a copy of every trained tensor */
    int n = p->n;
    for (int i = 0; i < n; i++) {
        char nm[128];
        snprintf(nm, sizeof nm, "momentum.%s", p->t[i].name);
        int shape[5];
        memcpy(shape, p->t[i].shape, sizeof shape);
        EMIM_CHECK(emim_params_add_buffer(p, nm, EMIM_PINIT_ZEROS, p->t[i].ndim, shape));
    }
    const int q[2] = { (int)emim_opt(t, O_QUEUE), D };
    EMIM_CHECK(emim_params_add_buffer(p, "queue", EMIM_PINIT_EMBED, 2, q));
    if ((int)emim_opt(t, O_ZCA)) {
        const int w[2] = { h, h };
        EMIM_CHECK(emim_params_add_buffer(p, "zca.running_mean", EMIM_PINIT_ZEROS, 1, &h));
        EMIM_CHECK(emim_params_add_buffer(p, "zca.running_W", EMIM_PINIT_ZEROS, 2, w));
    }
    return EMIM_OK;
}

/* one direction of the loss: the query view through the encoder, the key
 * view through the momentum encoder (with --symmetric, both ways) */
typedef struct {
    emim_vit_acts *Aq, *Ak;
    emim_ref yq, yk, wq, wk, cq, ck, q, k, rq, rk, L, lse, loss;   /* loss: global, local */
    emim_ref lqp, lkp, lq, lk, rlq, rlk, LL, llse;
    emim_head_acts hq, hk;
    emim_ref dL, dq, dzq, dxq, dyq, doutq, dLL, dlq, dlqp, dh;
    emim_ref *dhid;              /* [layers]: the local loss's gradient at its block */
} direction;

struct emim_objective {
    emim_model M;
    emim_augment_options aug;
    emim_vit_params klay;        /* the momentum encoder's view of the arena */
    emim_head head, khead;
    size_t mom, queue, zmean, zW, ntrain;
    int Q, D, local, layer, R, zca, T, ndir;
    float tau, lambda, momentum;
    direction dir[2];
    emim_buf *work;
    emim_ref tok[2], region0, regionL, target, ltarget, mask, dlg;  /* dlg: d loss / d (global, local) */
    size_t dzero;
    float *img, *htok, *blur;
};

static void destroy(emim_objective *o)
{
    if (!o) return;
    for (int d = 0; d < 2; d++) {
        emim_vit_acts_free(o->dir[d].Aq);
        emim_vit_acts_free(o->dir[d].Ak);
        free(o->dir[d].dhid);
    }
    emim_buf_free(o->work);
    emim_vit_layout_free(&o->klay);
    free(o->img);
    free(o->htok);
    free(o->blur);
    free(o);
}

/* The work arena, carved from buf (NULL: counting only); returns its size. */
static size_t carve(emim_objective *o, emim_buf *buf)
{
    const emim_model *M = &o->M;
    int B = M->cfg->batch, N = M->N, h = M->cfg->vit.hidden, D = o->D, R = o->R;
    size_t bt = (size_t)B * N * M->PD, bh = (size_t)B * h, bd = (size_t)B * D, nl = (size_t)B * (B + o->Q),
           hs = emim_head_acts_size(&o->head, B), zc = o->zca ? emim_zca_cache_size(h, o->T) : 0,
           br = (size_t)B * R * h, rr = (size_t)B * R * R, br1 = (size_t)B * R, bnh = (size_t)B * N * h, off = 0;
#define TAKE(k) (off += (k), emim_at(buf, off - (k)))
    o->tok[0] = TAKE(bt); o->tok[1] = TAKE(bt);
    o->region0 = TAKE((size_t)N); o->regionL = TAKE((size_t)N);
    o->target = TAKE((size_t)B); o->ltarget = TAKE(br1 + 1);
    o->mask = TAKE(nl); o->dlg = TAKE(2);
    for (int d = 0; d < o->ndir; d++) {
        direction *r = &o->dir[d];
        r->yq = TAKE(bh); r->yk = TAKE(bh); r->wq = TAKE(bh); r->wk = TAKE(bh);
        r->cq = TAKE(zc); r->ck = TAKE(zc);
        r->q = TAKE(bd); r->k = TAKE(bd); r->rq = TAKE((size_t)B); r->rk = TAKE((size_t)B);
        r->L = TAKE(nl); r->lse = TAKE((size_t)B); r->loss = TAKE(2);
        r->lqp = TAKE(br); r->lkp = TAKE(br); r->lq = TAKE(br); r->lk = TAKE(br);
        r->rlq = TAKE(br1); r->rlk = TAKE(br1); r->LL = TAKE(rr); r->llse = TAKE(br1);
    }
    o->dzero = off;
    for (int d = 0; d < o->ndir; d++) {
        direction *r = &o->dir[d];
        emim_head_acts_take(&r->hq, &o->head, B, TAKE(hs));
        emim_head_acts_take(&r->hk, &o->khead, B, TAKE(hs));
        r->dL = TAKE(nl); r->dq = TAKE(bd); r->dzq = TAKE(bd); r->dxq = TAKE(bh); r->dyq = TAKE(bh);
        r->doutq = TAKE(bnh); r->dLL = TAKE(rr); r->dlq = TAKE(br); r->dlqp = TAKE(br); r->dh = TAKE(bnh);
    }
#undef TAKE
    return off;
}

static emim_status create(emim_objective **out, const emim_model *M)
{
    emim_ctx *ctx = M->ctx;
    const emim_train_config *c = M->cfg;
    const emim_vit_params *lay = M->lay;
    char err[256];
    *out = NULL;
    emim_objective *o = calloc(1, sizeof *o);
    if (!o) return emim_set_error(ctx, EMIM_ERR_NOMEM, "moco: out of host memory");
    o->M = *M;
    int B = c->batch, N = M->N, h = c->vit.hidden;
    o->Q = (int)emim_opt(c, O_QUEUE);
    o->D = (int)emim_opt(c, O_PDIM);
    o->tau = (float)emim_opt(c, O_TEMP);
    o->momentum = (float)emim_opt(c, O_MOMENTUM);
    o->local = (int)emim_opt(c, O_LOCAL);
    o->lambda = (float)emim_opt(c, O_LWEIGHT);
    o->layer = (int)emim_opt(c, O_LLAYER);
    o->zca = (int)emim_opt(c, O_ZCA);
    o->T = (int)emim_opt(c, O_ZCAT);
    o->ndir = (int)emim_opt(c, O_SYM) ? 2 : 1;
    int D = o->D, Q = o->Q;
    emim_status s = emim_augment_recipe(&o->aug, "moco", err, sizeof err);
    emim_views_geometry(&o->aug, (int)emim_opt(c, O_GEOM), o->local);
    if (!s) s = emim_head_view(&o->head, lay, "projector", h, phid(c), D, 0, err, sizeof err);
    /* the trained tensors, then their momentum copies in the same order */
    int ntr = 0;
    while (ntr < lay->n && !lay->t[ntr].buffer) ntr++;
    char nm[128];
    snprintf(nm, sizeof nm, "momentum.%s", lay->t[0].name);
    long mom = s ? -1 : emim_params_find(lay, nm, lay->t[0].size, err, sizeof err);
    if (!s && (mom < 0 || lay->t[0].off != 0 || (size_t)mom != lay->trainable)) s = EMIM_ERR_ARG;
    long qo = s ? -1 : emim_params_find(lay, "queue", (size_t)Q * D, err, sizeof err);
    if (!s && qo < 0) s = EMIM_ERR_ARG;
    if (!s && o->zca) {
        long zm = emim_params_find(lay, "zca.running_mean", (size_t)h, err, sizeof err);
        long zw = zm < 0 ? -1 : emim_params_find(lay, "zca.running_W", (size_t)h * h, err, sizeof err);
        if (zw < 0) s = EMIM_ERR_ARG;
        o->zmean = (size_t)zm;
        o->zW = (size_t)zw;
    }
    if (s) { destroy(o); return emim_set_error(ctx, s, "moco: %s", err); }
    o->mom = (size_t)mom;
    o->queue = (size_t)qo;
    o->ntrain = lay->trainable;
    s = emim_vit_layout_copy(&c->vit, lay, ntr, o->mom, &o->klay);
    if (!s) s = emim_head_view(&o->khead, &o->klay, "projector", h, phid(c), D, 0, err, sizeof err);
    if (s) { destroy(o); return emim_set_error(ctx, s, "moco: the momentum encoder's tensors: %s", err); }
    /* the local loss's regions */
    float *reg = malloc((size_t)N * sizeof *reg);
    o->R = 0;
    if (reg && o->local) o->R = emim_grid_regions(&c->vit, (int)emim_opt(c, O_LGRID), reg);
    int R = o->R;
    size_t bt = (size_t)B * N * M->PD, nl = (size_t)B * (B + Q);
    o->img = malloc(bt * sizeof *o->img);
    o->htok = malloc(bt * sizeof *o->htok);
    o->blur = malloc(bt / (size_t)c->vit.channels * sizeof *o->blur); /* [B, H, W, D] */
    int nomem = !reg || !o->img || !o->htok || !o->blur;
    for (int d = 0; d < o->ndir; d++) nomem |= !(o->dir[d].dhid = calloc((size_t)c->vit.layers, sizeof(emim_ref)));
    if (nomem) {
        free(reg);
        destroy(o);
        return emim_set_error(ctx, EMIM_ERR_NOMEM, "moco: out of host memory");
    }
    s = emim_buf_alloc(ctx, carve(o, NULL), &o->work);
    for (int d = 0; d < o->ndir && !s; d++) {
        s = emim_vit_acts_create(ctx, &c->vit, B, &o->dir[d].Aq);
        if (!s) s = emim_vit_acts_create(ctx, &c->vit, B, &o->dir[d].Ak);
    }
    if (s) { free(reg); destroy(o); return s; }
    carve(o, o->work);
    for (int d = 0; d < o->ndir; d++)
        if (o->local) o->dir[d].dhid[o->layer] = o->dir[d].dh;
    /* constants: the regions, the targets (the positive's column), the
     * logits' mask (-1e9: the batch's other keys leave the softmax), the
     * losses' weights (halved when both directions count) */
    size_t nhost = nl > (size_t)N ? nl : (size_t)N;
    if (nhost < (size_t)B * R) nhost = (size_t)B * R;
    float *host = malloc(nhost * sizeof *host);
    s = host ? EMIM_OK : EMIM_ERR_NOMEM;
    if (!s) s = emim_buf_write(o->work, o->regionL.off, (size_t)N, reg);
    for (int n = 0; !s && n < N; n++) host[n] = 0;
    if (!s) s = emim_buf_write(o->work, o->region0.off, (size_t)N, host);
    for (int i = 0; !s && i < B; i++) host[i] = (float)i;
    if (!s) s = emim_buf_write(o->work, o->target.off, (size_t)B, host);
    for (int i = 0; !s && i < B * R; i++) host[i] = (float)(i % R);
    if (!s && R) s = emim_buf_write(o->work, o->ltarget.off, (size_t)B * R, host);
    for (size_t e = 0; !s && e < nl; e++) {
        size_t i = e / (size_t)(B + Q), j = e % (size_t)(B + Q);
        host[e] = j < (size_t)B && j != i ? -1e9f : 0.0f;
    }
    if (!s) s = emim_buf_write(o->work, o->mask.off, nl, host);
    float w[2] = { 1.0f / (float)o->ndir, o->lambda / (float)o->ndir };
    if (!s) s = emim_buf_write(o->work, o->dlg.off, 2, w);
    free(host);
    free(reg);
    /* a fresh run's momentum encoder is the encoder (a resume then loads
     * its own); the running whitening starts at mean 0, W = I */
    if (!s) s = emim_ema_update(ctx, emim_at(M->params, o->mom), emim_at(M->params, 0), o->ntrain, 0.0f);
    if (!s && o->zca) s = emim_zca_running_init(ctx, emim_at(M->params, o->zmean), emim_at(M->params, o->zW), h);
    if (s) { destroy(o); return emim_set_error(ctx, s, "moco: cannot set up its constants"); }
    *out = o;
    return EMIM_OK;
}

/* tokens through an encoder (lay: the encoder's or the momentum
 * encoder's), mean-pooled, whitened, projected and normalised: e [B, D] */
static emim_status embed(emim_objective *o, const emim_vit_params *lay, const emim_head *head, emim_vit_acts *A,
                         emim_ref tok, emim_ref y, emim_ref w, emim_ref cache, const emim_head_acts *ha, emim_ref e,
                         emim_ref r)
{
    const emim_model *M = &o->M;
    emim_ctx *ctx = M->ctx;
    int B = M->cfg->batch, N = M->N, h = M->cfg->vit.hidden;
    EMIM_CHECK(emim_vit_forward(ctx, lay, M->params, A, tok));
    EMIM_CHECK(emim_region_pool(ctx, y, emim_vit_acts_output(A), o->region0, B, N, 1, h));
    emim_ref x = y;
    if (o->zca) {
        EMIM_CHECK(emim_zca(ctx, w, y, cache, B, h, o->T, 1e-5f));
        x = w;
    }
    EMIM_CHECK(emim_head_forward(ctx, head, M->params, ha, x, B));
    return emim_rownorm(ctx, e, r, ha->out, B, o->D);
}

/* a block's tokens pooled per region and normalised: e [B * R, hidden] */
static emim_status local_embed(emim_objective *o, emim_vit_acts *A, emim_ref pooled, emim_ref e, emim_ref r)
{
    const emim_model *M = &o->M;
    int B = M->cfg->batch, h = M->cfg->vit.hidden;
    EMIM_CHECK(emim_region_pool(M->ctx, pooled, emim_vit_acts_hidden(A, o->layer), o->regionL, B, M->N, o->R, h));
    return emim_rownorm(M->ctx, e, r, pooled, B * o->R, h);
}

/* One direction: forward (the query view qv, the key view 1 - qv) and
 * backward into grads. */
static emim_status direction_step(emim_objective *o, direction *r, int qv, emim_buf *grads)
{
    const emim_model *M = &o->M;
    emim_ctx *ctx = M->ctx;
    int B = M->cfg->batch, N = M->N, h = M->cfg->vit.hidden, D = o->D, Q = o->Q, R = o->R, W = B + Q;
    emim_ref none = emim_at(NULL, 0), queue = emim_at(M->params, o->queue),
             dll = emim_at(o->dlg.buf, o->dlg.off + 1);
    /* keys (no gradient), then queries */
    EMIM_CHECK(embed(o, &o->klay, &o->khead, r->Ak, o->tok[1 - qv], r->yk, r->wk, r->ck, &r->hk, r->k, r->rk));
    EMIM_CHECK(embed(o, M->lay, &o->head, r->Aq, o->tok[qv], r->yq, r->wq, r->cq, &r->hq, r->q, r->rq));
    /* logits [B, B + Q]: q k^T (its diagonal the positives), q queue^T */
    EMIM_CHECK(emim_gemm(ctx, 0, 1, B, B, D, 1.0f, r->q, D, 0, r->k, D, 0, 0.0f, r->L, W, 0, 1));
    EMIM_CHECK(emim_gemm(ctx, 0, 1, B, Q, D, 1.0f, r->q, D, 0, queue, D, 0, 0.0f,
                         emim_at(r->L.buf, r->L.off + (size_t)B), W, 0, 1));
    EMIM_CHECK(emim_add(ctx, r->L, r->L, o->mask, (size_t)B * W));
    EMIM_CHECK(emim_cross_entropy(ctx, r->loss, r->lse, r->L, o->target, o->tau, B, W));
    if (o->local) {
        EMIM_CHECK(local_embed(o, r->Ak, r->lkp, r->lk, r->rlk));
        EMIM_CHECK(local_embed(o, r->Aq, r->lqp, r->lq, r->rlq));
        /* per sample: [R, R] = lq lk^T */
        EMIM_CHECK(emim_gemm(ctx, 0, 1, R, R, h, 1.0f, r->lq, h, (size_t)R * h, r->lk, h, (size_t)R * h, 0.0f, r->LL,
                             R, (size_t)R * R, B));
        EMIM_CHECK(emim_cross_entropy(ctx, emim_at(r->loss.buf, r->loss.off + 1), r->llse, r->LL, o->ltarget, o->tau,
                                      B * R, R));
    }
    /* backward: the global term */
    EMIM_CHECK(emim_cross_entropy_backward(ctx, r->dL, r->L, o->target, r->lse, o->dlg, o->tau, B, W));
    EMIM_CHECK(emim_gemm_backward(ctx, 0, 1, B, B, D, 1.0f, r->dq, r->q, D, 0, none, r->k, D, 0, r->dL, W, 0, 1));
    EMIM_CHECK(emim_gemm_backward(ctx, 0, 1, B, Q, D, 1.0f, r->dq, r->q, D, 0, none, queue, D, 0,
                                  emim_at(r->dL.buf, r->dL.off + (size_t)B), W, 0, 1));
    EMIM_CHECK(emim_rownorm_backward(ctx, r->dzq, r->q, r->rq, r->dq, B, D));
    EMIM_CHECK(emim_head_backward(ctx, &o->head, M->params, grads, &r->hq, r->dxq, o->zca ? r->wq : r->yq, r->dzq,
                                  B));
    emim_ref dy = r->dxq;
    if (o->zca) {
        EMIM_CHECK(emim_zca_backward(ctx, r->dyq, r->yq, r->cq, r->dxq, B, h, o->T));
        dy = r->dyq;
    }
    EMIM_CHECK(emim_region_pool_backward(ctx, r->doutq, o->region0, dy, B, N, 1, h));
    /* the local term */
    if (o->local) {
        EMIM_CHECK(emim_cross_entropy_backward(ctx, r->dLL, r->LL, o->ltarget, r->llse, dll, o->tau, B * R, R));
        EMIM_CHECK(emim_gemm_backward(ctx, 0, 1, R, R, h, 1.0f, r->dlq, r->lq, h, (size_t)R * h, none, r->lk, h,
                                      (size_t)R * h, r->dLL, R, (size_t)R * R, B));
        EMIM_CHECK(emim_rownorm_backward(ctx, r->dlqp, r->lq, r->rlq, r->dlq, B * R, h));
        EMIM_CHECK(emim_region_pool_backward(ctx, r->dh, o->regionL, r->dlqp, B, N, R, h));
    }
    return emim_vit_backward(ctx, M->lay, M->params, grads, r->Aq, r->doutq, r->dhid);
}

static emim_status step(emim_objective *o, const emim_batch *b, float *loss, float *metrics)
{
    const emim_model *M = &o->M;
    for (int v = 0; v < 2; v++) EMIM_CHECK(emim_views_upload(M, b, &o->aug, v, o->img, o->htok, o->blur, o->tok[v]));
    EMIM_CHECK(emim_buf_zero(o->work, o->dzero, emim_buf_size(o->work) - o->dzero));
    for (int d = 0; d < o->ndir; d++) EMIM_CHECK(direction_step(o, &o->dir[d], d, b->grads));
    /* the terms: each direction's mean */
    float g = 0, l = 0;
    for (int d = 0; d < o->ndir; d++) {
        float v[2];
        EMIM_CHECK(emim_buf_read(o->work, o->dir[d].loss.off, 2, v));
        g += v[0];
        l += v[1];
    }
    metrics[0] = g / (float)o->ndir;
    metrics[1] = o->local ? l / (float)o->ndir : 0.0f;
    *loss = metrics[0] + (o->local ? o->lambda * metrics[1] : 0.0f);
    return EMIM_OK;
}

static emim_status update(emim_objective *o, long step)
{
    const emim_model *M = &o->M;
    emim_ctx *ctx = M->ctx;
    int B = M->cfg->batch;
    /* the momentum encoder and projector follow the updated ones */
    EMIM_CHECK(emim_ema_update(ctx, emim_at(M->params, o->mom), emim_at(M->params, 0), o->ntrain, o->momentum));
    /* the step's keys (each direction's) replace the oldest in the queue
     * (a copy: 1 k) */
    long slots = o->Q / (B * o->ndir);
    for (int d = 0; d < o->ndir; d++) {
        size_t row = ((size_t)(step % slots) * (size_t)o->ndir + (size_t)d) * (size_t)B;
        EMIM_CHECK(emim_scale(ctx, emim_at(M->params, o->queue + row * (size_t)o->D), o->dir[d].k, 1.0f,
                              (size_t)B * o->D));
    }
    if (o->zca)
        EMIM_CHECK(emim_zca_running_update(ctx, emim_at(M->params, o->zmean), emim_at(M->params, o->zW),
                                           o->dir[0].cq, 0.1f, M->cfg->vit.hidden, o->T));
    return EMIM_OK;
}

const emim_objective_def emim_objective_moco = {
    .name = "moco",
    .summary = "MoCo v2: a momentum encoder, a queue of negative keys, InfoNCE; local InfoNCE and ZCA whitening as "
               "options",
    .opts = OPTS, .nopts = NOPTS, .metrics = METRICS, .nmetrics = EMIM_COUNT(METRICS),
    .check = check, .mask = emim_views_no_masks, .layout = layout, .create = create, .free = destroy, .step = step,
    .reconstruct = NULL, .update = update, .whole_batch = 1,
};
