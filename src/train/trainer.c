/* One trainer for every method: a step is
 *   tokens of the batch (host patchify) and the method's masks, drawn from
 *   Philox by (seed, step, sample);
 *   the objective's forward and backward into the zeroed gradient arena;
 *   the gradient reduction (a no-op on one process);
 *   global gradient-norm clipping;
 *   AdamW at the schedule's learning rate (linear warm-up, cosine decay).
 * The configuration's helpers (defaults, options by name, checks) and the
 * encoder's features and the method's reconstructions live here too. */
#include "core/emim_math.h"
#include "train/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the configuration ---- */
emim_status emim_train_config_default(emim_train_config *t, const emim_vit_config *vit, const char *method)
{
    memset(t, 0, sizeof *t);
    int m = emim_method_find(method ? method : "emim");
    if (m < 0) return EMIM_ERR_ARG;
    t->vit = *vit;
    t->init = EMIM_INIT_TRUNC_NORMAL;
    t->method = m;
    const emim_opt_info *o;
    int n = emim_method_options(m, &o);
    for (int i = 0; i < n; i++) t->opt[i] = o[i].kind == EMIM_OPT_FLOAT ? (double)(float)o[i].def : o[i].def;
    t->optim.lr = 1e-4f;
    t->optim.weight_decay = 0.05f;
    t->optim.beta1 = 0.9f;
    t->optim.beta2 = 0.999f;
    t->optim.eps = 1e-8f;
    t->optim.clip = 1.0f;
    t->sched.warmup = 10;
    t->sched.steps = 100;
    t->batch = 2;
    t->seed = 1;
    return EMIM_OK;
}

static int find_opt(const emim_train_config *t, const char *name, const emim_opt_info **info)
{
    const emim_opt_info *o;
    int n = emim_method_options(t->method, &o);
    for (int i = 0; i < n; i++)
        if (!strcmp(o[i].name, name)) { *info = &o[i]; return i; }
    return -1;
}

/* whether v is a value option o can take */
static int opt_ok(const emim_opt_info *o, double v)
{
    if (!(v >= o->lo && v <= o->hi)) return 0;
    return o->kind == EMIM_OPT_FLOAT || v == floor(v);
}

emim_status emim_train_config_set(emim_train_config *t, const char *name, double v, char *err, size_t errlen)
{
    const emim_opt_info *o;
    int i = find_opt(t, name, &o);
    if (i < 0) {
        if (err) snprintf(err, errlen, "method %s has no option '%s'", emim_method_name(t->method), name);
        return EMIM_ERR_ARG;
    }
    if (!opt_ok(o, v)) {
        if (err) snprintf(err, errlen, "%s option %s: %g is not %s from %g to %g", emim_method_name(t->method), name, v,
                          o->kind == EMIM_OPT_FLOAT ? "a number" : "a whole number", o->lo, o->hi);
        return EMIM_ERR_ARG;
    }
    /* a float option holds a float's value: equal options, equal bits */
    t->opt[i] = o->kind == EMIM_OPT_FLOAT ? (double)(float)v : v;
    return EMIM_OK;
}

double emim_train_config_get(const emim_train_config *t, const char *name)
{
    const emim_opt_info *o;
    int i = find_opt(t, name, &o);
    return i < 0 ? NAN : t->opt[i];
}

emim_status emim_train_config_check(const emim_train_config *t, char *err, size_t errlen)
{
    const emim_objective_def *d = emim_objective_get(t->method);
    if (!d) { snprintf(err, errlen, "train: unknown method %d", t->method); return EMIM_ERR_ARG; }
    EMIM_CHECK(emim_vit_check(&t->vit, err, errlen));
    if (t->batch < 1 || t->batch > 65536) {
        snprintf(err, errlen, "train: batch %d must be from 1 to 65536", t->batch);
        return EMIM_ERR_ARG;
    }
    if (t->micro < 0 || t->micro > t->batch || (t->micro && t->batch % t->micro)) {
        snprintf(err, errlen, "train: micro-batch %d must divide the batch %d", t->micro, t->batch);
        return EMIM_ERR_ARG;
    }
    if (d->whole_batch && t->micro && t->micro != t->batch) {
        snprintf(err, errlen, "train: %s's loss holds statistics of the whole batch: the micro-batch %d must be the "
                 "batch %d", d->name, t->micro, t->batch);
        return EMIM_ERR_ARG;
    }
    if ((size_t)t->batch * (size_t)emim_vit_tokens(&t->vit) > (1u << 22)) {
        snprintf(err, errlen, "train: batch %d of %d tokens is more than %u tokens a step", t->batch,
                 emim_vit_tokens(&t->vit), 1u << 22);
        return EMIM_ERR_ARG;
    }
    if (t->init != EMIM_INIT_MONAI && t->init != EMIM_INIT_TRUNC_NORMAL) {
        snprintf(err, errlen, "train: unknown initialisation scheme %d", (int)t->init);
        return EMIM_ERR_ARG;
    }
    for (int i = 0; i < d->nopts; i++)
        if (!opt_ok(&d->opts[i], t->opt[i])) {
            snprintf(err, errlen, "train: %s option %s: %g is out of range", d->name, d->opts[i].name, t->opt[i]);
            return EMIM_ERR_ARG;
        }
    const emim_optim_config *o = &t->optim;
    if (!(o->lr >= 0 && o->lr <= 10) || !(o->weight_decay >= 0 && o->weight_decay <= 10) ||
        !(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1) || !(o->eps > 0 && o->eps < 1) ||
        !(o->clip >= 0 && o->clip <= 1e30f)) {
        snprintf(err, errlen, "train: optimiser settings out of range (lr %g, weight decay %g, betas %g %g, eps %g, "
                 "clip %g)", (double)o->lr, (double)o->weight_decay, (double)o->beta1, (double)o->beta2,
                 (double)o->eps, (double)o->clip);
        return EMIM_ERR_ARG;
    }
    if (t->sched.warmup < 0 || t->sched.steps < 1) {
        snprintf(err, errlen, "train: warm-up %d must be >= 0 and the schedule's steps %d >= 1", t->sched.warmup,
                 t->sched.steps);
        return EMIM_ERR_ARG;
    }
    return d->check ? d->check(t, err, errlen) : EMIM_OK;
}

void emim_train_mask_options(const emim_train_config *t, emim_mask_options *m)
{
    const emim_objective_def *d = emim_objective_get(t->method);
    emim_mask_options_default(m);
    if (d) d->mask(t, m);
}

float emim_lr_at(const emim_train_config *t, long step)
{
    float lr = t->optim.lr;
    int warmup = t->sched.warmup;
    if (warmup > 0 && step < warmup) return lr * (float)(step + 1) / (float)warmup;
    long span = t->sched.steps - warmup;
    if (span <= 0) return lr;
    double q = (double)(step - warmup) / (double)span;
    if (q > 1) q = 1;
    return (float)(lr * 0.5 * (1 + cos(3.141592653589793 * q)));
}

/* The number of parameters (floats of one arena) a configuration has. */
emim_status emim_train_param_count(const emim_train_config *cfg, size_t *P)
{
    emim_vit_params lay;
    *P = 0;
    emim_status s = emim_vit_layout(&cfg->vit, &lay);
    if (s) return s;
    s = emim_objective_get(cfg->method)->layout(cfg, &lay);
    if (!s) *P = lay.total;
    emim_vit_layout_free(&lay);
    return s;
}

/* ---- the trainer ---- */

/* A configuration whose buffers pass the memory cap: the cap's message,
 * said as what the user can change. */
static emim_status too_big(emim_ctx *ctx, const emim_train_config *cfg)
{
    char why[2048];
    snprintf(why, sizeof why, "%s", emim_error(ctx));
    return emim_set_error(ctx, EMIM_ERR_NOMEM, "train: a batch of %d (method %s) does not fit: %s; lower the batch "
                          "or the model's size", cfg->batch, emim_method_name(cfg->method), why);
}
emim_status emim_trainer_create(emim_ctx *ctx, const emim_train_config *cfg, emim_trainer **out)
{
    *out = NULL;
    char err[512];
    if (emim_train_config_check(cfg, err, sizeof err)) return emim_set_error(ctx, EMIM_ERR_ARG, "%s", err);
    emim_trainer *T = calloc(1, sizeof *T);
    if (!T) return emim_set_error(ctx, EMIM_ERR_NOMEM, "train: out of host memory");
    T->ctx = ctx;
    T->cfg = *cfg;
    if (T->cfg.micro == T->cfg.batch) T->cfg.micro = 0; /* one micro-batch: the whole batch */
    T->mcfg = T->cfg;
    if (T->cfg.micro) T->mcfg.batch = T->cfg.micro;
    T->K = T->cfg.batch / T->mcfg.batch;
    T->k0 = 0;
    T->k1 = T->K;
    T->def = emim_objective_get(cfg->method);
    int B = cfg->batch, N = emim_vit_tokens(&cfg->vit), PD = emim_vit_token_size(&cfg->vit);
    size_t bt = (size_t)B * N * PD;
    emim_status s = emim_vit_layout(&cfg->vit, &T->lay);
    if (s) { free(T); return emim_set_error(ctx, s, "train: the encoder's parameter table could not be made"); }
    s = T->def->layout(cfg, &T->lay);
    if (s) { emim_trainer_free(T); return emim_set_error(ctx, s, "train: the %s parameter table could not be made",
                                                         T->def->name); }
    /* the host's copy of a batch's tokens: within what this process may use */
    const char *src;
    size_t host = emim_host_memory(&src), need = bt * sizeof(float) + (size_t)B * cfg->vit.channels * N;
    if (need > host) {
        emim_trainer_free(T);
        return emim_set_error(ctx, EMIM_ERR_NOMEM, "train: a batch of %d needs %.3g GiB of host memory for its "
                              "tokens, more than the %.3g GiB this process may use (%s); lower the batch", B,
                              need / 1073741824.0, host / 1073741824.0, src);
    }
    T->host_tok = malloc(bt * sizeof *T->host_tok);
    T->masks = malloc((size_t)B * cfg->vit.channels * N);
    T->perm = malloc((size_t)N * sizeof *T->perm);
    T->leaf = malloc((size_t)T->K * (1 + EMIM_MAX_METRICS) * sizeof *T->leaf);
    if (!T->host_tok || !T->masks || !T->perm || !T->leaf) { emim_trainer_free(T); return emim_set_error(ctx, EMIM_ERR_NOMEM, "train: out of host memory"); }
    size_t P = T->lay.total;
    s = emim_buf_alloc(ctx, P, &T->params);
    if (!s) s = emim_buf_alloc(ctx, P, &T->grads);
    if (!s) s = emim_adamw_state_init(ctx, &T->opt, P);
    if (!s) s = emim_buf_alloc(ctx, bt + 1, &T->work);
    if (s) { emim_trainer_free(T); return s == EMIM_ERR_NOMEM ? too_big(ctx, cfg) : s; }
    s = emim_vit_init(ctx, &T->lay, T->params, cfg->seed, cfg->init);
    if (s) { emim_trainer_free(T); return s; }
    T->tok = emim_at(T->work, 0);
    T->norm = emim_at(T->work, bt);
    T->M = (emim_model){ ctx, &T->mcfg, &T->lay, T->params, N, PD,
                         cfg->vit.patch[0] * cfg->vit.patch[1] * cfg->vit.patch[2] };
    s = T->def->create(&T->obj, &T->M);
    if (s) { emim_trainer_free(T); return s == EMIM_ERR_NOMEM ? too_big(ctx, cfg) : s; }
    *out = T;
    return EMIM_OK;
}

void emim_trainer_free(emim_trainer *T)
{
    if (!T) return;
    if (T->obj) T->def->free(T->obj);
    emim_vit_acts_free(T->feat);
    emim_buf_free(T->params);
    emim_buf_free(T->grads);
    emim_buf_free(T->work);
    emim_adamw_state_free(&T->opt);
    emim_vit_layout_free(&T->lay);
    free(T->host_tok);
    free(T->masks);
    free(T->perm);
    free(T->leaf);
    for (int j = 1; j < EMIM_TREE_SLOTS; j++) emim_buf_free(T->slot[j]);
    for (int j = 0; j < 5; j++) free(T->host[j]);
    free(T->ccount);
    free(T->nodes);
    free(T->record);
    free(T);
}

emim_status emim_trainer_set_record(emim_trainer *T, const char *text)
{
    if (text && strlen(text) > EMIM_CKPT_MAX_RECORD)
        return emim_set_error(T->ctx, EMIM_ERR_ARG, "train: the run record is longer than %u bytes",
                              EMIM_CKPT_MAX_RECORD);
    char *copy = NULL;
    if (text && !(copy = strdup(text))) return emim_set_error(T->ctx, EMIM_ERR_NOMEM, "train: out of host memory");
    free(T->record);
    T->record = copy;
    return EMIM_OK;
}

const emim_train_config *emim_trainer_config(const emim_trainer *T) { return &T->cfg; }
long emim_trainer_steps_done(const emim_trainer *T) { return T->step; }
emim_buf *emim_trainer_params(emim_trainer *T) { return T->params; }
emim_buf *emim_trainer_grads(emim_trainer *T) { return T->grads; }
const emim_vit_params *emim_trainer_layout(const emim_trainer *T) { return &T->lay; }

/* The tokens of n images into host_tok and onto the device (tok). */
static emim_status upload_tokens(emim_trainer *T, const float *images, int n)
{
    const emim_vit_config *v = &T->cfg.vit;
    emim_patch_move(T->host_tok, (float *)images, 0, n, v->channels, v->img[0], v->img[1], v->img[2],
                    v->patch[0], v->patch[1], v->patch[2], emim_threads(T->ctx));
    return emim_buf_write(T->tok.buf, T->tok.off, (size_t)n * T->M.N * T->M.PD, T->host_tok);
}

/* tokens [batch, N, PD] (host) -> images [batch, C, H, W, D] */
static void host_unpatchify(const emim_trainer *T, float *img, const float *tok)
{
    const emim_vit_config *v = &T->cfg.vit;
    emim_patch_move((float *)tok, img, 2, T->cfg.batch, v->channels, v->img[0], v->img[1], v->img[2], v->patch[0],
                    v->patch[1], v->patch[2], emim_threads(T->ctx));
}

emim_status emim_trainer_step(emim_trainer *T, const float *images, emim_step_stats *st)
{
    return emim_trainer_step_masks(T, images, NULL, st);
}

emim_status emim_trainer_step_masks(emim_trainer *T, const float *images, const uint8_t *masks, emim_step_stats *st)
{
    emim_ctx *ctx = T->ctx;
    const emim_train_config *c = &T->cfg;
    int N = T->M.N, C = c->vit.channels, first, B;
    size_t P = T->lay.trainable; /* clipping and AdamW: the buffers that follow are the method's */
    emim_trainer_local_batch(T, &first, &B);
    EMIM_CHECK(upload_tokens(T, images, B));
    if (!masks) {
        /* a sample's masks by its place in the whole batch */
        emim_mask_options mo;
        emim_train_mask_options(c, &mo);
        for (int b = 0; b < B; b++)
            if (emim_mask_make_perm(T->masks + (size_t)b * C * N, T->perm, C, N, &mo, c->seed, (uint64_t)T->step,
                                    (uint64_t)(first + b)))
                return emim_set_error(ctx, EMIM_ERR_ARG, "train: bad mask options (ratios must lie in [0, 1])");
        masks = T->masks;
    }
    emim_batch batch = { T->host_tok, T->tok, masks, NULL, images, T->step, first };
    float loss, metrics[EMIM_MAX_METRICS] = { 0 };
    EMIM_CHECK(emim_train_gradients(T, &batch, &loss, metrics));
    /* clip, then AdamW at this step's learning rate */
    float norm = 0, lr = emim_lr_at(c, T->step);
    if (c->optim.clip > 0) EMIM_CHECK(emim_clip_grad_norm(ctx, T->norm, emim_at(T->grads, 0), P, c->optim.clip));
    EMIM_CHECK(emim_adamw_update(ctx, &T->opt, &c->optim, emim_at(T->params, 0), emim_at(T->grads, 0), P, lr,
                                 T->step + 1));
    /* the method's state after the update (a momentum encoder, a queue) */
    if (T->def->update) EMIM_CHECK(T->def->update(T->obj, T->step));
    /* the norm is read once the update is queued (no wait before it) */
    if (c->optim.clip > 0) EMIM_CHECK(emim_read_scalar(T->norm, &norm));
    T->step++;
    if (st) {
        memset(st, 0, sizeof *st);
        st->loss = loss;
        st->lr = lr;
        st->grad_norm = norm;
        st->exchange_s = (float)T->exchange_s;
        st->n = T->def->nmetrics;
        memcpy(st->value, metrics, sizeof st->value);
    }
    return EMIM_OK;
}

emim_status emim_trainer_features(emim_trainer *T, const float *images, int layer, int init, float *out)
{
    const emim_vit_config *v = &T->cfg.vit;
    if (layer < -1 || layer >= v->layers)
        return emim_set_error(T->ctx, EMIM_ERR_ARG, "features: layer %d: the encoder has layers 0 to %d (-1: the "
                              "output)", layer, v->layers - 1);
    int first, B;
    emim_trainer_local_batch(T, &first, &B);
    /* activations for this rank's samples (all of them when alone) */
    if (T->feat && T->feat_batch != B) {
        emim_vit_acts_free(T->feat);
        T->feat = NULL;
    }
    if (!T->feat) EMIM_CHECK(emim_vit_acts_create_ex(T->ctx, v, B, T->M.N, 0, &T->feat));
    T->feat_batch = B;
    EMIM_CHECK(upload_tokens(T, images, B));
    /* a fresh initialisation goes into the gradient arena (same layout), which
     * every step zeroes before use */
    emim_buf *P = init ? T->grads : T->params;
    if (init) EMIM_CHECK(emim_vit_init(T->ctx, &T->lay, T->grads, T->cfg.seed, T->cfg.init));
    emim_ref none = emim_at(NULL, 0);
    EMIM_CHECK(emim_vit_embed(T->ctx, &T->lay, P, T->feat, T->tok, none, none, none));
    EMIM_CHECK(emim_vit_blocks(T->ctx, &T->lay, P, T->feat, 0, layer < 0 ? v->layers : layer + 1));
    emim_ref r;
    if (layer < 0) {
        EMIM_CHECK(emim_vit_final_norm(T->ctx, &T->lay, P, T->feat));
        r = emim_vit_acts_output(T->feat);
    } else {
        r = emim_vit_acts_hidden(T->feat, layer);
    }
    return emim_buf_read(r.buf, r.off, (size_t)B * T->M.N * v->hidden, out);
}

emim_status emim_trainer_reconstruct(emim_trainer *T, const float *images, const uint8_t *masks, float *xm,
                                     float *recon)
{
    if (recon && !T->def->reconstruct)
        return emim_set_error(T->ctx, EMIM_ERR_UNSUPPORTED, "reconstruct: method %s does not reconstruct images",
                              T->def->name);
    EMIM_CHECK(upload_tokens(T, images, T->cfg.batch));
    size_t bt = (size_t)T->cfg.batch * T->M.N * T->M.PD;
    float *tmp = malloc(bt * sizeof *tmp);
    if (!tmp) return emim_set_error(T->ctx, EMIM_ERR_NOMEM, "reconstruct: out of host memory");
    emim_status s = EMIM_OK;
    if (xm) {
        emim_batch_mask_tokens(&T->M, tmp, T->host_tok, masks);
        host_unpatchify(T, xm, tmp);
    }
    /* micro-batch by micro-batch (the objective's activations hold one) */
    size_t mt = (size_t)T->mcfg.batch * T->M.N * T->M.PD, mm = (size_t)T->mcfg.batch * T->cfg.vit.channels * T->M.N,
           mi = mt; /* an image holds as many values as its tokens */
    for (long k = 0; recon && !s && k < T->K; k++) {
        emim_batch batch = { T->host_tok + k * mt, emim_at(T->tok.buf, T->tok.off + k * mt), masks + k * mm, NULL,
                             images + k * mi, T->step, k * T->mcfg.batch };
        s = T->def->reconstruct(T->obj, &batch, tmp + k * mt);
    }
    if (recon && !s) host_unpatchify(T, recon, tmp);
    free(tmp);
    return s;
}
