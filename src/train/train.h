/* Internals of the training layer: the trainer's state (src/train/trainer.c),
 * the optimiser (src/train/optim.c) and checkpoints
 * (src/train/checkpoint.c). Not installed. */
#ifndef EMIM_TRAIN_H
#define EMIM_TRAIN_H

#include "objective/objective.h"

/* ---- the optimiser: AdamW over any parameter arena, and an EMA ---- */
typedef struct {
    emim_buf *m, *v;           /* the moments, laid out as the parameters */
    size_t n;
} emim_adamw_state;
emim_status emim_adamw_state_init(emim_ctx *ctx, emim_adamw_state *s, size_t n);
void emim_adamw_state_free(emim_adamw_state *s);
/* One AdamW step t >= 1 of the first n <= s->n params by grads at learning
 * rate lr (the trained prefix: the buffers that follow are not touched). */
emim_status emim_adamw_update(emim_ctx *ctx, emim_adamw_state *s, const emim_optim_config *c, emim_ref params,
                              emim_ref grads, size_t n, float lr, long t);
/* target = momentum target + (1 - momentum) source, n values (the momentum
 * encoders' update; no gradients). */
emim_status emim_ema_update(emim_ctx *ctx, emim_ref target, emim_ref source, size_t n, float momentum);

/* ---- the trainer ---- */
#define EMIM_TREE_SLOTS 64
struct emim_trainer {
    emim_ctx *ctx;
    emim_train_config cfg;
    const emim_objective_def *def;
    emim_objective *obj;
    emim_vit_params lay;         /* the encoder's tensors, then the objective's */
    emim_model M;
    emim_buf *params, *grads, *work;
    emim_adamw_state opt;
    emim_ref tok, norm;
    float *host_tok;             /* [B, N, PD] */
    uint8_t *masks;              /* [B, C, N] */
    uint32_t *perm;              /* [N]: emim_mask_make_perm's scratch */
    emim_vit_acts *feat;         /* a features pass (no stored activations), made on first use */
    int feat_batch;              /* the samples feat holds */
    double exchange_s;           /* the last step's exchange with the other ranks */
    /* the gradient's tree over micro-batches (src/train/reduce.c) */
    emim_train_config mcfg;      /* the objective's: cfg with batch = the micro-batch */
    long K, k0, k1;              /* micro-batches a step; this rank's [k0, k1) */
    emim_buf *slot[EMIM_TREE_SLOTS]; /* the node stack's values (slot 0: grads) */
    long stack[EMIM_TREE_SLOTS][2];  /* its nodes' intervals */
    float *leaf;                 /* [K, 1 + metrics]: each micro-batch's loss and metrics */
    emim_comm *comm;             /* NULL: one process */
    size_t *ccount;              /* [4 R]: counts and offsets of the exchange */
    long (*nodes)[2];            /* [R EMIM_TREE_SLOTS]: every rank's nodes */
    float *host[5];              /* host scratch of the exchange, kept */
    size_t hcap[5];
    char *record;                /* the run record kept in checkpoints, or NULL */
    long step;
};

/* The gradient of a step (src/train/reduce.c): the objective's backward on
 * this rank's micro-batches, the tree over them and across ranks, times
 * 1/K, in T->grads; the batch's loss and metrics the same way. */
emim_status emim_train_gradients(emim_trainer *T, const emim_batch *local, float *loss, float *metrics);

#define EMIM_CKPT_MAX_RECORD (1u << 20) /* bytes of a run record */

/* The parameters (floats of one arena) of a configuration, from its
 * parameter table alone (nothing of the model is allocated). */
emim_status emim_train_param_count(const emim_train_config *cfg, size_t *P);

#endif
