/* What the joint-embedding methods (Barlow Twins, MoCo v2) share: two
 * augmented views of a batch, the regions of the patch grid that pool the
 * token map, and the projector MLP (Linear, optional BatchNorm, GELU,
 * Linear), forward and backward. */
#include "core/internal.h"
#include "objective/objective.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- views ---- */
emim_status emim_views_upload(const emim_model *M, const emim_batch *b, const emim_augment_options *o, int view,
                              float *img, float *tok, float *scratch, emim_ref dst)
{
    const emim_train_config *c = M->cfg;
    const emim_vit_config *v = &c->vit;
    int B = c->batch, C = v->channels;
    size_t vol = (size_t)M->N * M->PD, cv = vol / (size_t)C;
    char err[256] = "";
    emim_status bad = EMIM_OK;
    /* the samples in parallel (a view depends on (seed, the sample's place in
     * the data order, view) alone, so the threads do not change it); each
     * sample its own part of the blur's scratch */
#pragma omp parallel for schedule(dynamic, 1) num_threads(emim_threads(M->ctx))
    for (int s = 0; s < B; s++) {
        uint64_t sample = (uint64_t)b->step * (uint64_t)c->batch + (uint64_t)(b->first + s);
        char e[256];
        emim_status st = emim_augment_view_scratch(img + (size_t)s * vol, b->images + (size_t)s * vol, C, v->img, o,
                                                   c->seed, sample, view, scratch + (size_t)s * cv, e, sizeof e);
        if (st) {
#pragma omp critical(emim_views_error)
            if (!bad) {
                bad = st;
                snprintf(err, sizeof err, "%s", e);
            }
        }
    }
    if (bad) return emim_set_error(M->ctx, bad, "%s: %s", emim_method_name(c->method), err);
    emim_patch_move(tok, img, 0, B, C, v->img[0], v->img[1], v->img[2], v->patch[0], v->patch[1], v->patch[2],
                    emim_threads(M->ctx));
    return emim_buf_write(dst.buf, dst.off, (size_t)B * vol, tok);
}

void emim_views_no_masks(const emim_train_config *t, emim_mask_options *m)
{
    (void)t;
    m->strategy = EMIM_MASK_RANDOM;
    m->ratio = 0;
}

void emim_views_geometry(emim_augment_options *o, int choice, int local)
{
    /* auto: crops and flips per view, none with local InfoNCE (its regions
     * must cover the same voxels in both views; the second paper removes
     * the geometric augmentations) */
    if (choice == EMIM_VIEWS_AUTO) o->geometric = local ? EMIM_AUGMENT_GEOM_NONE : EMIM_AUGMENT_GEOM_VIEW;
    else o->geometric = choice - 1;
}

/* ---- regions of the patch grid ---- */
int emim_grid_regions(const emim_vit_config *v, int g, float *region)
{
    int G[3], n = 0;
    for (int a = 0; a < 3; a++) G[a] = v->img[a] / v->patch[a];
    for (int a = 0; a < 3; a++)
        if (g < 1 || g > G[a]) return 0;
    /* token n = (i0 G1 + i1) G2 + i2 (patchify's order); its region the
     * block (i0 g / G0, i1 g / G1, i2 g / G2) */
    for (int i0 = 0; i0 < G[0]; i0++)
        for (int i1 = 0; i1 < G[1]; i1++)
            for (int i2 = 0; i2 < G[2]; i2++)
                region[n++] = (float)(((i0 * g / G[0]) * g + i1 * g / G[1]) * g + i2 * g / G[2]);
    return g * g * g;
}

/* ---- the projector ---- */
emim_status emim_head_layout(emim_vit_params *p, const char *name, int in, int hid, int out, int bn)
{
    char nm[96];
    snprintf(nm, sizeof nm, "%s.0", name);
    EMIM_CHECK(emim_params_add_linear(p, nm, in, hid, 1));
    if (bn) {
        snprintf(nm, sizeof nm, "%s.1", name);
        EMIM_CHECK(emim_params_add_norm(p, nm, hid));
    }
    snprintf(nm, sizeof nm, "%s.3", name);
    return emim_params_add_linear(p, nm, hid, out, 1);
}

emim_status emim_head_view(emim_head *h, const emim_vit_params *p, const char *name, int in, int hid, int out, int bn,
                           char *err, size_t errlen)
{
    char nm[96];
    h->in = in;
    h->hid = hid;
    h->out = out;
    h->bn = bn;
    snprintf(nm, sizeof nm, "%s.0", name);
    EMIM_CHECK(emim_linear_view_make(&h->l1, p, nm, in, hid, err, errlen));
    if (bn) {
        snprintf(nm, sizeof nm, "%s.1.weight", name);
        long w = emim_params_find(p, nm, (size_t)hid, err, errlen);
        snprintf(nm, sizeof nm, "%s.1.bias", name);
        long b = w < 0 ? -1 : emim_params_find(p, nm, (size_t)hid, err, errlen);
        if (b < 0) return EMIM_ERR_ARG;
        h->bn_w = (size_t)w;
        h->bn_b = (size_t)b;
    }
    snprintf(nm, sizeof nm, "%s.3", name);
    return emim_linear_view_make(&h->l2, p, nm, hid, out, err, errlen);
}

size_t emim_head_acts_size(const emim_head *h, int n)
{
    return (size_t)n * h->hid * 6 + 2 * (size_t)h->hid + (size_t)n * h->out;
}

void emim_head_acts_take(emim_head_acts *a, const emim_head *h, int n, emim_ref at)
{
    size_t nh = (size_t)n * h->hid, off = at.off;
#define TAKE(k) (off += (k), emim_at(at.buf, off - (k)))
    a->a1 = TAKE(nh); a->a2 = TAKE(nh); a->g = TAKE(nh); a->mean = TAKE((size_t)h->hid);
    a->rstd = TAKE((size_t)h->hid); a->out = TAKE((size_t)n * h->out);
    /* the gradients' part: zeroed by the caller before a backward */
    a->da1 = TAKE(nh); a->da2 = TAKE(nh); a->dg = TAKE(nh);
#undef TAKE
}

emim_status emim_head_forward(emim_ctx *ctx, const emim_head *h, emim_buf *params, const emim_head_acts *a,
                              emim_ref x, int n)
{
    EMIM_CHECK(emim_linear(ctx, a->a1, x, emim_at(params, h->l1.w), emim_at(params, h->l1.b), n, h->in, h->hid));
    emim_ref pre = a->a1;
    if (h->bn) {
        EMIM_CHECK(emim_batchnorm(ctx, a->a2, a->mean, a->rstd, a->a1, emim_at(params, h->bn_w),
                                  emim_at(params, h->bn_b), n, h->hid, 1e-5f));
        pre = a->a2;
    }
    EMIM_CHECK(emim_gelu(ctx, a->g, pre, (size_t)n * h->hid));
    return emim_linear(ctx, a->out, a->g, emim_at(params, h->l2.w), emim_at(params, h->l2.b), n, h->hid, h->out);
}

emim_status emim_head_backward(emim_ctx *ctx, const emim_head *h, emim_buf *params, emim_buf *grads,
                               const emim_head_acts *a, emim_ref dx, emim_ref x, emim_ref dout, int n)
{
    EMIM_CHECK(emim_linear_backward(ctx, a->dg, emim_at(grads, h->l2.w), emim_at(grads, h->l2.b), a->g,
                                    emim_at(params, h->l2.w), dout, n, h->hid, h->out));
    emim_ref pre = h->bn ? a->a2 : a->a1, dpre = h->bn ? a->da2 : a->da1;
    EMIM_CHECK(emim_gelu_backward(ctx, dpre, pre, a->dg, (size_t)n * h->hid));
    if (h->bn)
        EMIM_CHECK(emim_batchnorm_backward(ctx, a->da1, emim_at(grads, h->bn_w), emim_at(grads, h->bn_b), a->da2,
                                           a->a1, emim_at(params, h->bn_w), a->mean, a->rstd, n, h->hid));
    return emim_linear_backward(ctx, dx, emim_at(grads, h->l1.w), emim_at(grads, h->l1.b), x,
                                emim_at(params, h->l1.w), a->da1, n, h->in, h->hid);
}
