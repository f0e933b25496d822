/* The interface of a training objective (a method): one file per method in
 * src/objective/, one line per method in src/objective/registry.def. An
 * objective declares its options and its parameters (after the encoder's,
 * in the same arena), and runs forward and backward on one batch. The
 * trainer (src/train/trainer.c) owns everything else: the batch's tokens
 * and masks, the gradient arena (zeroed before each step), the gradient
 * reduction, clipping, the optimiser and checkpoints. Not installed. */
#ifndef EMIM_OBJECTIVE_H
#define EMIM_OBJECTIVE_H

#include "model/model.h"

/* What an objective may use of the model: the configuration, the parameter
 * table (encoder's then the objective's) and the parameter arena laid out by
 * it (the gradients' arena comes with each batch: emim_batch.grads). */
typedef struct {
    emim_ctx *ctx;
    const emim_train_config *cfg;
    const emim_vit_params *lay;
    emim_buf *params;
    int N, PD, P3;             /* tokens, values per token, voxels per patch */
} emim_model;

/* One batch (a micro-batch of the step): the tokens [B, N, PD] of the
 * images (patchify's layout) on the host and on the device, the masks
 * [B, C, N] (1 = masked) drawn for this step (emim_mask_make with the
 * objective's mask options), and the arena its gradients go to (laid out as
 * the parameters; the trainer's tree over micro-batches picks it). */
typedef struct {
    const float *host_tok;
    emim_ref tok;
    const uint8_t *masks;
    emim_buf *grads;
    const float *images;        /* the same samples as images [B, C, H, W, D] (host) */
    long step;                  /* the step (0-based) */
    long first;                 /* the place of sample 0 in the whole batch of the step */
} emim_batch;

typedef struct emim_objective emim_objective;   /* an objective's own state */

typedef struct {
    const char *name, *summary;
    const emim_opt_info *opts;
    int nopts;
    const char *const *metrics;   /* the terms it reports, in order */
    int nmetrics;
    /* One line when the options do not fit the model (t->opt is in range). */
    emim_status (*check)(const emim_train_config *t, char *err, size_t errlen);
    /* The masks a step draws. */
    void (*mask)(const emim_train_config *t, emim_mask_options *m);
    /* Appends its tensors to the table (after the encoder's). */
    emim_status (*layout)(const emim_train_config *t, emim_vit_params *p);
    /* Its state: views of its tensors (found by name: a missing one is an
     * error here), activations and work buffers for the configured batch. */
    emim_status (*create)(emim_objective **out, const emim_model *M);
    void (*free)(emim_objective *o);
    /* Forward and backward of one batch: the loss it returns is what the
     * gradients (accumulated into b->grads, zero on entry) are of; metrics
     * receives nmetrics values. */
    emim_status (*step)(emim_objective *o, const emim_batch *b, float *loss, float *metrics);
    /* The reconstruction of a batch under its masks: tokens [B, N, PD] on
     * the host. */
    emim_status (*reconstruct)(emim_objective *o, const emim_batch *b, float *recon_tok);
    /* Optional: its state after the optimiser's update of step `step`
     * (a momentum encoder's EMA, a queue of keys). */
    emim_status (*update)(emim_objective *o, long step);
    /* 1: its loss holds statistics of the whole batch (batch normalisation,
     * a cross-correlation over the batch, in-batch negatives): one pass
     * over the whole batch, in one process (no micro-batches, no ranks). */
    int whole_batch;
} emim_objective_def;

/* the registry (src/objective/registry.def) */
#define EMIM_OBJECTIVE(name) extern const emim_objective_def emim_objective_##name;
#include "objective/registry.def"
#undef EMIM_OBJECTIVE
const emim_objective_def *emim_objective_get(int method);

/* the entries of a static table */
#define EMIM_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* A method option's value by its index in the table. */
static inline double emim_opt(const emim_train_config *t, int i) { return t->opt[i]; }

/* Helpers shared by the objectives (src/objective/common.c). */
/* A linear head NAME ({weight, bias}) from width in to out: its offsets. */
typedef struct { size_t w, b; } emim_linear_view;
emim_status emim_linear_view_make(emim_linear_view *v, const emim_vit_params *p, const char *name, int in, int out,
                                  char *err, size_t errlen);
/* The masked copy of tokens: every masked patch zeroed (host). */
void emim_batch_mask_tokens(const emim_model *M, float *dst, const float *tok, const uint8_t *masks);
/* Per element of the tokens [B, N, PD]: 1 where the patch of that element
 * is masked (host), for losses on masked patches only. */
void emim_batch_mask_weights(const emim_model *M, float *w, const uint8_t *masks);
/* A scalar on the device, read back. */
emim_status emim_read_scalar(emim_ref r, float *v);

/* ---- the joint-embedding methods' parts (src/objective/joint.c) ---- */
/* View `view` of the batch's images (emim_augment_view by (seed, the
 * sample's place in the data order step * batch + first + s, view)) into
 * img [B, C, H, W, D] and tok [B, N, PD] (host scratch; scratch: one
 * channel's volume per sample for the blur, [B, H, W, D]), then onto dst;
 * the samples in parallel. */
emim_status emim_views_upload(const emim_model *M, const emim_batch *b, const emim_augment_options *o, int view,
                              float *img, float *tok, float *scratch, emim_ref dst);
/* A method's "geometric" option (auto|none|view|shared) into o. */
enum { EMIM_VIEWS_AUTO = 0 };
#define EMIM_VIEWS_CHOICES "auto|none|view|shared"
void emim_views_geometry(emim_augment_options *o, int choice, int local);
/* The masks of a method without masks (random, ratio 0). */
void emim_views_no_masks(const emim_train_config *t, emim_mask_options *m);
/* region [N]: each token's block of a g x g x g split of the patch grid
 * (floats for emim_region_pool); returns g^3, or 0 when g does not fit the
 * grid. */
int emim_grid_regions(const emim_vit_config *v, int g, float *region);
/* The projector: NAME.0 Linear(in, hid), NAME.1 BatchNorm (with bn), GELU,
 * NAME.3 Linear(hid, out). */
typedef struct {
    int in, hid, out, bn;
    emim_linear_view l1, l2;
    size_t bn_w, bn_b;
} emim_head;
/* its activations over n rows, carved from one arena */
typedef struct {
    emim_ref a1, a2, g, mean, rstd, out;   /* forward */
    emim_ref da1, da2, dg;                 /* backward: zero before it */
} emim_head_acts;
emim_status emim_head_layout(emim_vit_params *p, const char *name, int in, int hid, int out, int bn);
emim_status emim_head_view(emim_head *h, const emim_vit_params *p, const char *name, int in, int hid, int out, int bn,
                           char *err, size_t errlen);
size_t emim_head_acts_size(const emim_head *h, int n);
void emim_head_acts_take(emim_head_acts *a, const emim_head *h, int n, emim_ref at);
emim_status emim_head_forward(emim_ctx *ctx, const emim_head *h, emim_buf *params, const emim_head_acts *a,
                              emim_ref x, int n);
/* dx [n, in] += (dx may be NULL), the head's gradients into grads */
emim_status emim_head_backward(emim_ctx *ctx, const emim_head *h, emim_buf *params, emim_buf *grads,
                               const emim_head_acts *a, emim_ref dx, emim_ref x, emim_ref dout, int n);

/* emim_mask_make with the caller's scratch perm [N] (the trainer's, so
 * that a step allocates nothing) */
emim_status emim_mask_make_perm(uint8_t *mask, uint32_t *perm, int C, int N, const emim_mask_options *o,
                                uint64_t seed, uint64_t step, uint64_t sample);

#endif
