/* One E-MIM training step (papers/e-mim.txt, eq. 10) on a batch of images:
 *   tokens x = patchify(image); x_m = x with the masked patches zeroed;
 *   the encoder on x and on x_m (shared weights);
 *   L_PBT = sum over levels l of the Pyramid Barlow Twins term between the
 *           hidden states after block (layers / L) (l + 1) of both passes,
 *           divided by the batch size (a mean over samples);
 *   g = recon(z_m); L_MIM = mean((g - x)^2) over the whole image;
 *   loss = L_MIM + w_pbt L_PBT; backward; global gradient-norm clipping;
 *   AdamW with linear warm-up and cosine decay of the learning rate.
 * Everything runs through the ops, so it runs on either backend; the masks
 * and the data come from the host, drawn from Philox by (seed, step). */
#include "emim_math.h"
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CKPT_MAX_RECORD (1u << 20) /* bytes of a run record */

void emim_train_config_default(emim_train_config *t, const emim_vit_config *vit)
{
    memset(t, 0, sizeof *t);
    t->vit = *vit;
    t->batch = 2;
    t->levels = 4;
    t->w_pbt = 1.0f;
    t->w_off = 1.0f;
    t->pbt_norm = EMIM_PBT_MEAN;          /* measured: doc/method.md */
    t->init = EMIM_INIT_TRUNC_NORMAL;
    emim_mask_options_default(&t->mask);
    t->lr = 1e-4f;
    t->weight_decay = 0.05f;
    t->beta1 = 0.9f;
    t->beta2 = 0.999f;
    t->adam_eps = 1e-8f;
    t->clip = 1.0f;
    t->warmup = 10;
    t->steps = 100;
    t->seed = 1;
}

struct emim_trainer {
    emim_ctx *ctx;
    emim_train_config cfg;
    emim_vit_params lay;
    int N, PD, P3, levels;
    emim_buf *params, *grads, *m, *v, *work;
    emim_vit_acts *ax, *am;
    emim_ref tok, tokm, g, dg, dzm, mim, pbt, dmim, dpbt, norm, *dh, *dhm, cache;
    float *host_tok;
    uint8_t *mask;
    char *record;               /* the run record kept in checkpoints, or NULL */
    long step;
};

float emim_lr_at(const emim_train_config *t, long step)
{
    if (t->warmup > 0 && step < t->warmup) return t->lr * (float)(step + 1) / (float)t->warmup;
    long span = t->steps - t->warmup;
    if (span <= 0) return t->lr;
    double q = (double)(step - t->warmup) / (double)span;
    if (q > 1) q = 1;
    return (float)(t->lr * 0.5 * (1 + cos(3.141592653589793 * q)));
}

emim_status emim_trainer_create(emim_ctx *ctx, const emim_train_config *cfg, emim_trainer **out)
{
    *out = NULL;
    char err[256];
    if (emim_vit_check(&cfg->vit, err, sizeof err)) return emim_set_error(ctx, EMIM_ERR_ARG, "%s", err);
    if (cfg->batch < 1 || cfg->batch > 65536)
        return emim_set_error(ctx, EMIM_ERR_ARG, "train: batch %d must be from 1 to 65536", cfg->batch);
    if (cfg->levels < 1 || cfg->levels > cfg->vit.layers || cfg->vit.layers % cfg->levels)
        return emim_set_error(ctx, EMIM_ERR_ARG, "train: %d PBT levels do not divide the %d layers", cfg->levels,
                              cfg->vit.layers);
    if (cfg->init != EMIM_INIT_MONAI && cfg->init != EMIM_INIT_TRUNC_NORMAL)
        return emim_set_error(ctx, EMIM_ERR_ARG, "train: unknown initialisation scheme %d", (int)cfg->init);
    if (cfg->pbt_norm != EMIM_PBT_SUM && cfg->pbt_norm != EMIM_PBT_MEAN)
        return emim_set_error(ctx, EMIM_ERR_ARG, "train: unknown PBT normalisation %d", (int)cfg->pbt_norm);
    emim_trainer *T = calloc(1, sizeof *T);
    if (!T) return emim_set_error(ctx, EMIM_ERR_NOMEM, "train: out of host memory");
    T->ctx = ctx;
    T->cfg = *cfg;
    T->levels = cfg->levels;
    T->N = emim_vit_tokens(&cfg->vit);
    T->P3 = cfg->vit.patch[0] * cfg->vit.patch[1] * cfg->vit.patch[2];
    T->PD = emim_vit_token_size(&cfg->vit);
    int B = cfg->batch, N = T->N, h = cfg->vit.hidden;
    size_t bt = (size_t)B * N * T->PD, bh = (size_t)B * N * h;
    emim_status s = emim_vit_layout(&cfg->vit, &T->lay);
    T->dh = calloc((size_t)cfg->vit.layers, sizeof *T->dh);
    T->dhm = calloc((size_t)cfg->vit.layers, sizeof *T->dhm);
    T->host_tok = malloc(bt * sizeof *T->host_tok);
    T->mask = malloc((size_t)cfg->vit.channels * N);
    if (!s && (!T->dh || !T->dhm || !T->host_tok || !T->mask)) s = emim_set_error(ctx, EMIM_ERR_NOMEM, "train: out of host memory");
    size_t P = T->lay.total;
    if (!s) s = emim_buf_alloc(ctx, P, &T->params);
    if (!s) s = emim_buf_alloc(ctx, P, &T->grads);
    if (!s) s = emim_buf_alloc(ctx, P, &T->m);
    if (!s) s = emim_buf_alloc(ctx, P, &T->v);
    size_t cache = emim_pbt_cache_size(B, N, h);
    size_t work = 4 * bt + bh + 5 + (size_t)2 * T->levels * bh + cache;
    if (!s) s = emim_buf_alloc(ctx, work, &T->work);
    if (!s) s = emim_vit_acts_create(ctx, &cfg->vit, B, &T->ax);
    if (!s) s = emim_vit_acts_create(ctx, &cfg->vit, B, &T->am);
    if (!s) s = emim_vit_init(ctx, &T->lay, T->params, cfg->seed, cfg->init);
    if (!s) s = emim_buf_zero(T->m, 0, P);
    if (!s) s = emim_buf_zero(T->v, 0, P);
    if (s) { emim_trainer_free(T); return s; }
    size_t off = 0;
#define TAKE(n) (off += (n), emim_at(T->work, off - (n)))
    T->tok = TAKE(bt); T->tokm = TAKE(bt); T->g = TAKE(bt); T->dg = TAKE(bt);
    T->dzm = TAKE(bh);
    T->mim = TAKE(1); T->pbt = TAKE(1); T->dmim = TAKE(1); T->dpbt = TAKE(1); T->norm = TAKE(1);
    for (int l = 0; l < T->levels; l++) {
        int layer = cfg->vit.layers / T->levels * (l + 1) - 1;
        T->dh[layer] = TAKE(bh);
        T->dhm[layer] = TAKE(bh);
    }
    T->cache = TAKE(cache);
#undef TAKE
    *out = T;
    return EMIM_OK;
}

void emim_trainer_free(emim_trainer *T)
{
    if (!T) return;
    emim_vit_acts_free(T->ax);
    emim_vit_acts_free(T->am);
    emim_buf_free(T->params);
    emim_buf_free(T->grads);
    emim_buf_free(T->m);
    emim_buf_free(T->v);
    emim_buf_free(T->work);
    emim_vit_layout_free(&T->lay);
    free(T->dh);
    free(T->dhm);
    free(T->host_tok);
    free(T->mask);
    free(T->record);
    free(T);
}

emim_status emim_trainer_set_record(emim_trainer *T, const char *text)
{
    if (text && strlen(text) > CKPT_MAX_RECORD)
        return emim_set_error(T->ctx, EMIM_ERR_ARG, "train: the run record is longer than %u bytes", CKPT_MAX_RECORD);
    char *copy = NULL;
    if (text && !(copy = strdup(text))) return emim_set_error(T->ctx, EMIM_ERR_NOMEM, "train: out of host memory");
    free(T->record);
    T->record = copy;
    return EMIM_OK;
}

long emim_trainer_steps_done(const emim_trainer *T) { return T->step; }
emim_buf *emim_trainer_params(emim_trainer *T) { return T->params; }
const emim_vit_params *emim_trainer_layout(const emim_trainer *T) { return &T->lay; }

#define STEP_CHECK(expr) do { s = (expr); if (s) return s; } while (0)

/* The tokens of a batch of images into host_tok and onto the device (tok). */
static emim_status upload_tokens(emim_trainer *T, const float *images)
{
    const emim_train_config *c = &T->cfg;
    int B = c->batch, N = T->N, C = c->vit.channels;
    for (int b = 0; b < B; b++) {
        float *t = T->host_tok + (size_t)b * N * T->PD;
        const float *img = images + (size_t)b * C * c->vit.img[0] * c->vit.img[1] * c->vit.img[2];
        for (size_t e = 0; e < (size_t)N * T->PD; e++)
            t[e] = img[(size_t)emim_patch_voxel(e, (emim_u64)C, (emim_u64)c->vit.img[0], (emim_u64)c->vit.img[1],
                                                (emim_u64)c->vit.img[2], (emim_u64)c->vit.patch[0],
                                                (emim_u64)c->vit.patch[1], (emim_u64)c->vit.patch[2])];
    }
    return emim_buf_write(T->tok.buf, T->tok.off, (size_t)B * N * T->PD, T->host_tok);
}

static emim_status read_features(emim_trainer *T, int layer, float *out)
{
    if (layer < -1 || layer >= T->cfg.vit.layers)
        return emim_set_error(T->ctx, EMIM_ERR_ARG, "features: layer %d: the encoder has layers 0 to %d (-1: the "
                              "output)", layer, T->cfg.vit.layers - 1);
    emim_ref r = layer < 0 ? emim_vit_acts_output(T->ax) : emim_vit_acts_hidden(T->ax, layer);
    return emim_buf_read(r.buf, r.off, (size_t)T->cfg.batch * T->N * T->cfg.vit.hidden, out);
}

emim_status emim_trainer_last_features(emim_trainer *T, int layer, float *out)
{
    if (T->step == 0) return emim_set_error(T->ctx, EMIM_ERR_ARG, "features: no step has run yet");
    return read_features(T, layer, out);
}

emim_status emim_trainer_features(emim_trainer *T, const float *images, int layer, int init, float *out)
{
    emim_status s;
    if (layer < -1 || layer >= T->cfg.vit.layers) return read_features(T, layer, out);
    STEP_CHECK(upload_tokens(T, images));
    /* a fresh initialisation goes into the gradient arena (same layout), which
     * every step zeroes before use */
    if (init) STEP_CHECK(emim_vit_init(T->ctx, &T->lay, T->grads, T->cfg.seed, T->cfg.init));
    STEP_CHECK(emim_vit_forward(T->ctx, &T->lay, init ? T->grads : T->params, T->ax, T->tok));
    return read_features(T, layer, out);
}

/* tokens [batch, N, PD] (host) -> images [batch, C, H, W, D] */
static void host_unpatchify(const emim_trainer *T, float *img, const float *tok)
{
    const emim_train_config *c = &T->cfg;
    size_t per = (size_t)T->N * T->PD;
    for (int b = 0; b < c->batch; b++)
        for (size_t e = 0; e < per; e++)
            img[(size_t)b * per + (size_t)emim_patch_voxel(e, (emim_u64)c->vit.channels, (emim_u64)c->vit.img[0],
                                                         (emim_u64)c->vit.img[1], (emim_u64)c->vit.img[2],
                                                         (emim_u64)c->vit.patch[0], (emim_u64)c->vit.patch[1],
                                                         (emim_u64)c->vit.patch[2])] = tok[(size_t)b * per + e];
}

emim_status emim_trainer_reconstruct(emim_trainer *T, const float *images, const uint8_t *masks, float *xm,
                                     float *recon)
{
    emim_status s;
    const emim_train_config *c = &T->cfg;
    int B = c->batch, N = T->N, C = c->vit.channels;
    size_t bt = (size_t)B * N * T->PD;
    STEP_CHECK(upload_tokens(T, images));
    for (int b = 0; b < B; b++) {
        float *t = T->host_tok + (size_t)b * N * T->PD;
        emim_mask_tokens(t, t, masks + (size_t)b * C * N, C, N, T->P3);
    }
    if (xm) host_unpatchify(T, xm, T->host_tok);
    if (!recon) return EMIM_OK;
    STEP_CHECK(emim_buf_write(T->tokm.buf, T->tokm.off, bt, T->host_tok));
    STEP_CHECK(emim_vit_forward(T->ctx, &T->lay, T->params, T->am, T->tokm));
    const emim_param *rw = emim_vit_param(&T->lay, "recon.weight"), *rb = emim_vit_param(&T->lay, "recon.bias");
    STEP_CHECK(emim_linear(T->ctx, T->g, emim_vit_acts_output(T->am), emim_at(T->params, rw->off),
                           emim_at(T->params, rb->off), B * N, c->vit.hidden, T->PD));
    STEP_CHECK(emim_buf_read(T->g.buf, T->g.off, bt, T->host_tok));
    host_unpatchify(T, recon, T->host_tok);
    return EMIM_OK;
}

emim_status emim_trainer_step(emim_trainer *T, const float *images, emim_step_stats *st)
{
    return emim_trainer_step_masks(T, images, NULL, st);
}

emim_buf *emim_trainer_grads(emim_trainer *T) { return T->grads; }

emim_status emim_trainer_step_masks(emim_trainer *T, const float *images, const uint8_t *masks, emim_step_stats *st)
{
    emim_ctx *ctx = T->ctx;
    const emim_train_config *c = &T->cfg;
    int B = c->batch, N = T->N, h = c->vit.hidden, C = c->vit.channels;
    size_t bt = (size_t)B * N * T->PD;
    emim_ref none = emim_at(NULL, 0);
    emim_status s;
    /* tokens of the batch, and their masked copies (masks drawn on the host) */
    STEP_CHECK(upload_tokens(T, images));
    for (int b = 0; b < B; b++) {
        float *t = T->host_tok + (size_t)b * N * T->PD;
        const uint8_t *m = masks ? masks + (size_t)b * C * N : T->mask;
        if (!masks && emim_mask_make(T->mask, C, N, &c->mask, c->seed, (uint64_t)T->step, (uint64_t)b))
            return emim_set_error(ctx, EMIM_ERR_ARG, "train: bad mask options (ratios must lie in [0, 1])");
        emim_mask_tokens(t, t, m, C, N, T->P3);
    }
    STEP_CHECK(emim_buf_write(T->tokm.buf, T->tokm.off, bt, T->host_tok));
    /* forward */
    STEP_CHECK(emim_vit_forward(ctx, &T->lay, T->params, T->ax, T->tok));
    STEP_CHECK(emim_vit_forward(ctx, &T->lay, T->params, T->am, T->tokm));
    const emim_param *rw = emim_vit_param(&T->lay, "recon.weight"), *rb = emim_vit_param(&T->lay, "recon.bias");
    STEP_CHECK(emim_linear(ctx, T->g, emim_vit_acts_output(T->am), emim_at(T->params, rw->off), emim_at(T->params, rb->off),
                           B * N, h, T->PD));
    STEP_CHECK(emim_mse(ctx, T->mim, T->g, T->tok, none, bt));
    /* a level's term is a sum over n^2 entries, or their mean */
    float norm_pbt = c->pbt_norm == EMIM_PBT_MEAN ? 1.0f / ((float)N * (float)N) : 1.0f;
    float mim, pbt_sum = 0, one = 1.0f, dp = c->w_pbt * norm_pbt / (float)B;
    STEP_CHECK(emim_buf_read(T->mim.buf, T->mim.off, 1, &mim));
    /* backward of the reconstruction */
    STEP_CHECK(emim_buf_zero(T->grads, 0, T->lay.total));
    STEP_CHECK(emim_buf_zero(T->work, T->dg.off, emim_buf_size(T->work) - T->dg.off));
    STEP_CHECK(emim_buf_write(T->dmim.buf, T->dmim.off, 1, &one));
    STEP_CHECK(emim_buf_write(T->dpbt.buf, T->dpbt.off, 1, &dp));
    STEP_CHECK(emim_mse_backward(ctx, T->dg, none, T->g, T->tok, none, T->dmim, bt));
    STEP_CHECK(emim_linear_backward(ctx, T->dzm, emim_at(T->grads, rw->off), emim_at(T->grads, rb->off),
                                    emim_vit_acts_output(T->am), emim_at(T->params, rw->off), T->dg, B * N, h, T->PD));
    /* the pyramid: one Barlow Twins term per level, forward and backward */
    for (int l = 0; l < T->levels; l++) {
        int layer = c->vit.layers / T->levels * (l + 1) - 1;
        float v;
        STEP_CHECK(emim_pbt(ctx, T->pbt, emim_vit_acts_hidden(T->ax, layer), emim_vit_acts_hidden(T->am, layer), T->cache,
                            c->w_off, B, N, h));
        STEP_CHECK(emim_buf_read(T->pbt.buf, T->pbt.off, 1, &v));
        pbt_sum += v;
        STEP_CHECK(emim_pbt_backward(ctx, T->dh[layer], T->dhm[layer], T->cache, T->dpbt, c->w_off, B, N, h));
    }
    STEP_CHECK(emim_vit_backward(ctx, &T->lay, T->params, T->grads, T->ax, none, T->dh));
    STEP_CHECK(emim_vit_backward(ctx, &T->lay, T->params, T->grads, T->am, T->dzm, T->dhm));
    /* clip, then AdamW at this step's learning rate */
    float norm = 0, lr = emim_lr_at(c, T->step);
    if (c->clip > 0) {
        STEP_CHECK(emim_clip_grad_norm(ctx, T->norm, emim_at(T->grads, 0), T->lay.total, c->clip));
        STEP_CHECK(emim_buf_read(T->norm.buf, T->norm.off, 1, &norm));
    }
    STEP_CHECK(emim_adamw(ctx, emim_at(T->params, 0), emim_at(T->m, 0), emim_at(T->v, 0), emim_at(T->grads, 0),
                          T->lay.total, lr, c->beta1, c->beta2, c->adam_eps, c->weight_decay, (int)T->step + 1));
    T->step++;
    if (st) {
        st->mim = mim;
        st->pbt = pbt_sum * norm_pbt / (float)B;
        st->loss = mim + c->w_pbt * st->pbt;
        st->lr = lr;
        st->grad_norm = norm;
    }
    return EMIM_OK;
}

/* ---- checkpoints ----
 * Little-endian: "EMIMCKPT", u32 version (2), the configuration as a fixed
 * sequence of int32 / float32 / uint64 fields, u32 length and the bytes of
 * the run record (text), i64 steps done, u64 floats per arena, then the
 * parameters, AdamW's m and v as float32, then the CRC-32 of everything
 * before it. Written to PATH.tmp, flushed to disk, renamed over
 * PATH: a crash never leaves a half-written checkpoint under PATH. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <zlib.h>

#define CKPT_MAGIC "EMIMCKPT"
#define CKPT_VERSION 2u

typedef struct {
    unsigned char *p;
    size_t n, cap;
    int fail;
} wbuf;

static void put(wbuf *w, const void *src, size_t n)
{
    if (w->fail) return;
    if (w->n + n > w->cap) {
        size_t cap = (w->cap + n) * 2;
        unsigned char *q = realloc(w->p, cap);
        if (!q) { w->fail = 1; return; }
        w->p = q;
        w->cap = cap;
    }
    memcpy(w->p + w->n, src, n);
    w->n += n;
}
static void put_i32(wbuf *w, int32_t v) { put(w, &v, 4); }
static void put_f32(wbuf *w, float v) { put(w, &v, 4); }
static void put_u64(wbuf *w, uint64_t v) { put(w, &v, 8); }

static void put_config(wbuf *w, const emim_train_config *c)
{
    for (int k = 0; k < 3; k++) put_i32(w, c->vit.img[k]);
    for (int k = 0; k < 3; k++) put_i32(w, c->vit.patch[k]);
    put_i32(w, c->vit.channels); put_i32(w, c->vit.hidden); put_i32(w, c->vit.mlp);
    put_i32(w, c->vit.heads); put_i32(w, c->vit.layers); put_f32(w, c->vit.eps);
    put_i32(w, c->batch); put_i32(w, c->levels); put_f32(w, c->w_pbt); put_f32(w, c->w_off);
    put_i32(w, (int32_t)c->pbt_norm); put_i32(w, (int32_t)c->init);
    put_i32(w, (int32_t)c->mask.strategy); put_i32(w, c->mask.modal); put_f32(w, c->mask.r_pos);
    put_f32(w, c->mask.r_patch); put_f32(w, c->mask.ratio);
    put_f32(w, c->lr); put_f32(w, c->weight_decay); put_f32(w, c->beta1); put_f32(w, c->beta2); put_f32(w, c->adam_eps);
    put_f32(w, c->clip); put_i32(w, c->warmup); put_i32(w, c->steps); put_u64(w, c->seed);
}

typedef struct {
    const unsigned char *p;
    size_t n, at;
    int fail;
} rbuf;

static void get(rbuf *r, void *dst, size_t n)
{
    if (r->fail || r->at + n > r->n) { r->fail = 1; memset(dst, 0, n); return; }
    memcpy(dst, r->p + r->at, n);
    r->at += n;
}
static int32_t get_i32(rbuf *r) { int32_t v; get(r, &v, 4); return v; }
static float get_f32(rbuf *r) { float v; get(r, &v, 4); return v; }
static uint64_t get_u64(rbuf *r) { uint64_t v; get(r, &v, 8); return v; }

/* The run record: u32 length, then that many bytes; *text (when wanted) a
 * NUL-terminated copy. */
static emim_status get_record(rbuf *r, char **text)
{
    uint32_t n = 0;
    get(r, &n, 4);
    if (r->fail || n > CKPT_MAX_RECORD || r->at + n > r->n) { r->fail = 1; return EMIM_ERR_IO; }
    if (text) {
        if (!(*text = malloc((size_t)n + 1))) return EMIM_ERR_NOMEM;
        memcpy(*text, r->p + r->at, n);
        (*text)[n] = 0;
    }
    r->at += n;
    return EMIM_OK;
}

static void get_config(rbuf *r, emim_train_config *c)
{
    memset(c, 0, sizeof *c);
    for (int k = 0; k < 3; k++) c->vit.img[k] = get_i32(r);
    for (int k = 0; k < 3; k++) c->vit.patch[k] = get_i32(r);
    c->vit.channels = get_i32(r); c->vit.hidden = get_i32(r); c->vit.mlp = get_i32(r);
    c->vit.heads = get_i32(r); c->vit.layers = get_i32(r); c->vit.eps = get_f32(r);
    c->batch = get_i32(r); c->levels = get_i32(r); c->w_pbt = get_f32(r); c->w_off = get_f32(r);
    c->pbt_norm = (emim_pbt_norm)get_i32(r); c->init = (emim_init_scheme)get_i32(r);
    c->mask.strategy = (emim_mask_strategy)get_i32(r); c->mask.modal = get_i32(r); c->mask.r_pos = get_f32(r);
    c->mask.r_patch = get_f32(r); c->mask.ratio = get_f32(r);
    c->lr = get_f32(r); c->weight_decay = get_f32(r); c->beta1 = get_f32(r); c->beta2 = get_f32(r);
    c->adam_eps = get_f32(r); c->clip = get_f32(r); c->warmup = get_i32(r); c->steps = get_i32(r); c->seed = get_u64(r);
}

emim_status emim_trainer_save(emim_trainer *T, const char *path)
{
    emim_ctx *ctx = T->ctx;
    size_t n = T->lay.total;
    wbuf w = { 0 };
    put(&w, CKPT_MAGIC, 8);
    put_i32(&w, (int32_t)CKPT_VERSION);
    put_config(&w, &T->cfg);
    uint32_t rl = T->record ? (uint32_t)strlen(T->record) : 0;
    put(&w, &rl, 4);
    put(&w, T->record ? T->record : "", rl);
    put_u64(&w, (uint64_t)T->step);
    put_u64(&w, (uint64_t)n);
    emim_buf *arenas[3] = { T->params, T->m, T->v };
    for (int a = 0; a < 3 && !w.fail; a++) {
        if (w.n + n * 4 > w.cap) {
            unsigned char *q = realloc(w.p, w.n + n * 4 + 64);
            if (!q) { w.fail = 1; break; }
            w.p = q;
            w.cap = w.n + n * 4 + 64;
        }
        emim_status s = emim_buf_read(arenas[a], 0, n, (float *)(void *)(w.p + w.n));
        if (s) { free(w.p); return s; }
        w.n += n * 4;
    }
    uint32_t crc = (uint32_t)crc32(0L, w.p, (uInt)0);
    for (size_t o = 0; o < w.n; o += 1u << 30) {
        size_t len = w.n - o < (1u << 30) ? w.n - o : (1u << 30);
        crc = (uint32_t)crc32(crc, w.p + o, (uInt)len);
    }
    put(&w, &crc, 4);
    if (w.fail) { free(w.p); return emim_set_error(ctx, EMIM_ERR_NOMEM, "%s: out of memory for the checkpoint", path); }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { free(w.p); return emim_set_error(ctx, EMIM_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno)); }
    size_t done = 0;
    while (done < w.n) {
        ssize_t k = write(fd, w.p + done, w.n - done);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            free(w.p);
            return emim_set_error(ctx, EMIM_ERR_IO, "%s: write failed: %s", tmp, strerror(e));
        }
        done += (size_t)k;
    }
    free(w.p);
    if (fsync(fd) || close(fd)) {
        unlink(tmp);
        return emim_set_error(ctx, EMIM_ERR_IO, "%s: could not be flushed to disk: %s", tmp, strerror(errno));
    }
    if (rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return emim_set_error(ctx, EMIM_ERR_IO, "%s: cannot rename the new checkpoint into place: %s", path, strerror(e));
    }
    /* the rename itself reaches the disk with the folder */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0; else snprintf(dir, sizeof dir, ".");
    int dfd = open(dir, O_RDONLY);
    if (dfd >= 0) { fsync(dfd); close(dfd); }
    return EMIM_OK;
}

/* Reads and verifies a whole checkpoint; on success *data holds it. */
static emim_status read_checkpoint(emim_ctx *ctx, const char *path, unsigned char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return emim_set_error(ctx, EMIM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 16) { fclose(f); return emim_set_error(ctx, EMIM_ERR_IO, "%s: not a libemim checkpoint (too short)", path); }
    unsigned char *p = malloc((size_t)n);
    if (!p) { fclose(f); return emim_set_error(ctx, EMIM_ERR_NOMEM, "%s: out of memory", path); }
    if (fread(p, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(p);
        return emim_set_error(ctx, EMIM_ERR_IO, "%s: read failed", path);
    }
    fclose(f);
    if (memcmp(p, CKPT_MAGIC, 8)) { free(p); return emim_set_error(ctx, EMIM_ERR_IO, "%s: not a libemim checkpoint", path); }
    uint32_t ver, want;
    memcpy(&ver, p + 8, 4);
    if (ver != CKPT_VERSION) {
        free(p);
        return emim_set_error(ctx, EMIM_ERR_IO, "%s: checkpoint version %u, this libemim reads version %u", path, ver,
                              CKPT_VERSION);
    }
    uint32_t crc = (uint32_t)crc32(0L, p, 0);
    for (size_t o = 0; o < (size_t)n - 4; o += 1u << 30) {
        size_t l = (size_t)n - 4 - o < (1u << 30) ? (size_t)n - 4 - o : (1u << 30);
        crc = (uint32_t)crc32(crc, p + o, (uInt)l);
    }
    memcpy(&want, p + n - 4, 4);
    if (crc != want) {
        free(p);
        return emim_set_error(ctx, EMIM_ERR_IO, "%s: checksum mismatch: the checkpoint is truncated or corrupt", path);
    }
    *data = p;
    *len = (size_t)n - 4;
    return EMIM_OK;
}

emim_status emim_checkpoint_config(emim_ctx *ctx, const char *path, emim_train_config *cfg, long *steps_done,
                                   char **record)
{
    unsigned char *p;
    size_t n;
    char *text = NULL;
    if (record) *record = NULL;
    EMIM_CHECK(read_checkpoint(ctx, path, &p, &n));
    rbuf r = { p, n, 12, 0 };
    get_config(&r, cfg);
    emim_status s = get_record(&r, record ? &text : NULL);
    long step = (long)get_u64(&r);
    free(p);
    if (s == EMIM_ERR_NOMEM) return emim_set_error(ctx, s, "%s: out of memory for the run record", path);
    if (s || r.fail || step < 0) {
        free(text);
        return emim_set_error(ctx, EMIM_ERR_IO, "%s: the checkpoint's header is truncated or corrupt", path);
    }
    if (steps_done) *steps_done = step;
    if (record) *record = text;
    return EMIM_OK;
}

emim_status emim_trainer_load(emim_trainer *T, const char *path)
{
    emim_ctx *ctx = T->ctx;
    unsigned char *p;
    size_t n;
    EMIM_CHECK(read_checkpoint(ctx, path, &p, &n));
    rbuf r = { p, n, 12, 0 };
    emim_train_config c;
    get_config(&r, &c);
    get_record(&r, NULL);
    long step = (long)get_u64(&r);
    uint64_t floats = get_u64(&r);
    emim_status s = EMIM_OK;
    if (r.fail || floats != T->lay.total || r.at + 3 * floats * 4 != n)
        s = emim_set_error(ctx, EMIM_ERR_IO, "%s: the checkpoint holds %llu parameters, this model has %zu", path,
                           (unsigned long long)floats, T->lay.total);
    else if (memcmp(&c.vit, &T->cfg.vit, sizeof c.vit) || c.levels != T->cfg.levels)
        s = emim_set_error(ctx, EMIM_ERR_ARG, "%s: the checkpoint's model configuration differs from this one", path);
    emim_buf *arenas[3] = { T->params, T->m, T->v };
    for (int a = 0; a < 3 && !s; a++)
        s = emim_buf_write(arenas[a], 0, floats, (const float *)(const void *)(p + r.at + (size_t)a * floats * 4));
    free(p);
    if (!s) T->step = step;
    return s;
}
