/* Checkpoints as safetensors files: an 8-byte little-endian header length,
 * a JSON header (through jansson) naming every tensor (dtype F32, shape,
 * byte offsets into the data) and, under "__metadata__" (string values, as
 * the format wants), "format": "libemim-checkpoint", "version": "3", "run":
 * the run described in JSON (method, model, options by name, optimiser,
 * schedule, batch, seed, initialisation, step), "record": the run record,
 * and "crc32": the CRC-32 of the data, checked on load; then the data: the
 * parameters under their names, AdamW's moments as optim.m.NAME and
 * optim.v.NAME. A field that a later version adds is one more JSON key;
 * a missing method option takes its default. Written to PATH.tmp, flushed
 * and renamed, so PATH always holds a whole checkpoint. libemim 0.1's
 * binary checkpoints ("EMIMCKPT", version 2) are read too. */
#include "data/safetensors.h"
#include "train/train.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define FORMAT "libemim-checkpoint"
#define CKPT_VERSION 3

static uint32_t crc_of(const unsigned char *p, size_t n)
{
    uint32_t crc = (uint32_t)crc32(0L, p, 0);
    for (size_t o = 0; o < n; o += 1u << 30) {
        size_t len = n - o < (1u << 30) ? n - o : (1u << 30);
        crc = (uint32_t)crc32(crc, p + o, (uInt)len);
    }
    return crc;
}

static const char *init_name(emim_init_scheme s) { return s == EMIM_INIT_MONAI ? "monai" : "trunc-normal"; }

/* ---- the run as JSON ---- */
static json_t *ints(const int *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_integer(v[i]));
    return a;
}

static json_t *run_json(const emim_train_config *c, long step)
{
    const emim_vit_config *v = &c->vit;
    json_t *opts = json_object();
    const emim_opt_info *o;
    int n = emim_method_options(c->method, &o);
    for (int i = 0; i < n; i++)
        json_object_set_new(opts, o[i].name, o[i].kind == EMIM_OPT_FLOAT ? json_real(c->opt[i])
                                                                          : json_integer((json_int_t)c->opt[i]));
    json_t *j = json_pack("{s:s, s:I, s:{s:o, s:o, s:i, s:i, s:i, s:i, s:i, s:f}, s:s, s:i, s:s, s:o, "
                     "s:{s:f, s:f, s:f, s:f, s:f, s:f}, s:{s:i, s:i}}",
                     "method", emim_method_name(c->method), "step", (json_int_t)step,
                     "model", "img", ints(v->img, 3), "patch", ints(v->patch, 3), "channels", v->channels,
                     "hidden", v->hidden, "mlp", v->mlp, "heads", v->heads, "layers", v->layers, "eps", (double)v->eps,
                     "init", init_name(c->init), "batch", c->batch, "seed", "", "options", opts,
                     "optim", "lr", (double)c->optim.lr, "weight_decay", (double)c->optim.weight_decay,
                     "beta1", (double)c->optim.beta1, "beta2", (double)c->optim.beta2, "eps", (double)c->optim.eps,
                     "clip", (double)c->optim.clip,
                     "schedule", "warmup", c->sched.warmup, "steps", c->sched.steps);
    /* written only when it splits the batch: other checkpoints keep their bytes */
    if (c->micro > 0 && c->micro < c->batch) json_object_set_new(j, "micro_batch", json_integer(c->micro));
    return j;
}

/* Reading: every field checked for its type and range; a message names
 * the first bad one. */
typedef struct {
    char *err;
    size_t errlen;
    int bad;
} jctx;

static double num(jctx *j, json_t *o, const char *key, double lo, double hi, int whole)
{
    json_t *v = json_object_get(o, key);
    if (j->bad) return 0;
    if (!v || !json_is_number(v)) {
        snprintf(j->err, j->errlen, "'%s' is missing or not a number", key);
        j->bad = 1;
        return 0;
    }
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi) || (whole && x != floor(x))) {
        snprintf(j->err, j->errlen, "'%s' is %g, not %s from %g to %g", key, x, whole ? "a whole number" : "a number",
                 lo, hi);
        j->bad = 1;
        return 0;
    }
    return x;
}

static void int3(jctx *j, json_t *o, const char *key, int *out)
{
    json_t *a = json_object_get(o, key);
    if (j->bad) return;
    if (!json_is_array(a) || json_array_size(a) != 3) {
        snprintf(j->err, j->errlen, "'%s' is not a list of 3 numbers", key);
        j->bad = 1;
        return;
    }
    for (int k = 0; k < 3; k++) {
        json_t *v = json_array_get(a, (size_t)k);
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65536) {
            snprintf(j->err, j->errlen, "'%s' holds a value that is not a whole number from 1 to 65536", key);
            j->bad = 1;
            return;
        }
        out[k] = (int)json_integer_value(v);
    }
}

static int config_from_json(json_t *r, emim_train_config *c, long *step, char *err, size_t errlen)
{
    jctx j = { err, errlen, 0 };
    if (!json_is_object(r)) { snprintf(err, errlen, "the run description is not a JSON object"); return -1; }
    const char *method = json_string_value(json_object_get(r, "method"));
    const char *init = json_string_value(json_object_get(r, "init"));
    json_t *m = json_object_get(r, "model"), *o = json_object_get(r, "options"), *op = json_object_get(r, "optim"),
           *sc = json_object_get(r, "schedule");
    if (!method || emim_method_find(method) < 0) {
        snprintf(err, errlen, "method '%s' is not one this libemim knows", method ? method : "(none)");
        return -1;
    }
    if (!init || (strcmp(init, "monai") && strcmp(init, "trunc-normal"))) {
        snprintf(err, errlen, "'init' is missing or unknown");
        return -1;
    }
    if (!json_is_object(m) || !json_is_object(o) || !json_is_object(op) || !json_is_object(sc)) {
        snprintf(err, errlen, "'model', 'options', 'optim' or 'schedule' is missing");
        return -1;
    }
    emim_vit_config v;
    memset(&v, 0, sizeof v);
    int3(&j, m, "img", v.img);
    int3(&j, m, "patch", v.patch);
    v.channels = (int)num(&j, m, "channels", 1, 65536, 1);
    v.hidden = (int)num(&j, m, "hidden", 1, 65536, 1);
    v.mlp = (int)num(&j, m, "mlp", 1, 65536, 1);
    v.heads = (int)num(&j, m, "heads", 1, 65536, 1);
    v.layers = (int)num(&j, m, "layers", 1, 65536, 1);
    v.eps = (float)num(&j, m, "eps", 0, 1, 0);
    if (j.bad) return -1;
    emim_train_config_default(c, &v, method);
    c->init = strcmp(init, "monai") ? EMIM_INIT_TRUNC_NORMAL : EMIM_INIT_MONAI;
    c->batch = (int)num(&j, r, "batch", 1, 65536, 1);
    c->micro = json_object_get(r, "micro_batch") ? (int)num(&j, r, "micro_batch", 1, c->batch, 1) : 0;
    if (!j.bad && c->micro && c->batch % c->micro) {
        snprintf(err, errlen, "'micro_batch' %d does not divide 'batch' %d", c->micro, c->batch);
        return -1;
    }
    *step = (long)num(&j, r, "step", 0, 9.0e15, 1);
    const char *seed = json_string_value(json_object_get(r, "seed"));
    char *end = NULL;
    errno = 0;
    if (!j.bad && (!seed || !*seed || (c->seed = strtoull(seed, &end, 10), *end || errno))) {
        snprintf(err, errlen, "'seed' is missing or not a whole number");
        return -1;
    }
    c->optim.lr = (float)num(&j, op, "lr", 0, 10, 0);
    c->optim.weight_decay = (float)num(&j, op, "weight_decay", 0, 10, 0);
    c->optim.beta1 = (float)num(&j, op, "beta1", 0, 1, 0);
    c->optim.beta2 = (float)num(&j, op, "beta2", 0, 1, 0);
    c->optim.eps = (float)num(&j, op, "eps", 0, 1, 0);
    c->optim.clip = (float)num(&j, op, "clip", 0, 1e30, 0);
    c->sched.warmup = (int)num(&j, sc, "warmup", 0, 2147483647.0, 1);
    c->sched.steps = (int)num(&j, sc, "steps", 1, 2147483647.0, 1);
    if (j.bad) return -1;
    const char *key;
    json_t *val;
    json_object_foreach(o, key, val) {
        if (!json_is_number(val)) { snprintf(err, errlen, "option '%s' is not a number", key); return -1; }
        char e2[256];
        if (emim_train_config_set(c, key, json_number_value(val), e2, sizeof e2)) {
            snprintf(err, errlen, "%s", e2);
            return -1;
        }
    }
    return emim_train_config_check(c, err, errlen) ? -1 : 0;
}

/* ---- writing ---- */
static const char *const ARENA_PREFIX[3] = { "", "optim.m.", "optim.v." };

emim_status emim_trainer_save(emim_trainer *T, const char *path)
{
    emim_ctx *ctx = T->ctx;
    size_t P = T->lay.total;
    int n = 3 * T->lay.n;
    float *data = malloc(3 * P * sizeof *data);
    emim_st_out *t = calloc((size_t)n, sizeof *t);
    char (*names)[128] = calloc((size_t)n, sizeof *names);
    emim_status s = data && t && names ? EMIM_OK : emim_set_error(ctx, EMIM_ERR_NOMEM, "%s: out of memory for the "
                                                                 "checkpoint", path);
    emim_buf *arenas[3] = { T->params, T->opt.m, T->opt.v };
    for (int a = 0; a < 3 && !s; a++) s = emim_buf_read(arenas[a], 0, P, data + (size_t)a * P);
    /* the data in this order is the file's data section: its CRC-32 */
    char crc[16], ver[8], seed[32];
    if (!s) snprintf(crc, sizeof crc, "%08x", (unsigned)crc_of((const unsigned char *)data, 3 * P * 4));
    snprintf(ver, sizeof ver, "%d", CKPT_VERSION);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)T->cfg.seed);
    for (int a = 0, k = 0; a < 3 && !s; a++)
        for (int i = 0; i < T->lay.n; i++, k++) {
            const emim_param *p = &T->lay.t[i];
            snprintf(names[k], sizeof names[k], "%s%s", ARENA_PREFIX[a], p->name);
            t[k].name = names[k];
            t[k].ndim = p->ndim;
            for (int d = 0; d < p->ndim; d++) t[k].shape[d] = p->shape[d];
            t[k].data = data + (size_t)a * P + p->off;
        }
    json_t *run = s ? NULL : run_json(&T->cfg, T->step);
    if (run) json_object_set_new(run, "seed", json_string(seed));
    char *run_text = run ? json_dumps(run, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(run);
    if (!s && !run_text) s = emim_set_error(ctx, EMIM_ERR_NOMEM, "%s: the checkpoint's header could not be made", path);
    const char *keys[] = { "format", "version", "libemim", "run", "record", "crc32" };
    const char *vals[] = { FORMAT, ver, emim_version(), run_text, T->record ? T->record : "", crc };
    char err[4400];
    if (!s && emim_st_write(path, t, n, keys, vals, 6, err, sizeof err)) s = emim_set_error(ctx, EMIM_ERR_IO, "%s", err);
    free(run_text);
    free(names);
    free(t);
    free(data);
    return s;
}

/* ---- reading ---- */
typedef struct {
    emim_st *st;                /* the safetensors file (version 3) */
    emim_train_config cfg;
    long step;
    char *record;
    /* a version-2 binary checkpoint: everything in memory */
    unsigned char *all;
    size_t all_n, legacy_data;
} ckpt;

static void ckpt_close(ckpt *k)
{
    emim_st_close(k->st);
    free(k->record);
    free(k->all);
    memset(k, 0, sizeof *k);
}

static emim_status legacy_open(emim_ctx *ctx, const char *path, ckpt *k, FILE *f, long n);

/* The configuration's size against the data the file holds (3 floats per
 * parameter: the weights and AdamW's two moments), before anything is
 * allocated for it: a configuration is trusted only as far as the file
 * carries its weights. */
static emim_status ckpt_check_size(emim_ctx *ctx, const char *path, ckpt *k)
{
    size_t P;
    if (emim_train_param_count(&k->cfg, &P)) {
        ckpt_close(k);
        return emim_set_error(ctx, EMIM_ERR_IO, "%s: a bad checkpoint: its model's parameter table cannot be made", path);
    }
    uint64_t have = 0;
    if (k->all) {
        have = (k->all_n - k->legacy_data) / 4;
    } else {
        for (int i = 0; i < emim_st_count(k->st); i++) have += emim_st_get(k->st, i)->size;
    }
    if (have != 3 * (uint64_t)P) {
        ckpt_close(k);
        return emim_set_error(ctx, EMIM_ERR_IO, "%s: a bad checkpoint: its configuration has %zu parameters, so 3 x "
                              "%zu floats of data, and the file holds %llu floats", path, P, P, (unsigned long long)have);
    }
    return EMIM_OK;
}

static emim_status ckpt_open(emim_ctx *ctx, const char *path, ckpt *k)
{
    memset(k, 0, sizeof *k);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return emim_set_error(ctx, EMIM_ERR_IO, "%s: a folder, not a checkpoint", path);
    FILE *f = fopen(path, "rb");
    if (!f) return emim_set_error(ctx, EMIM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char first[8];
    if (n < 16 || fread(first, 1, 8, f) != 8) {
        fclose(f);
        return emim_set_error(ctx, EMIM_ERR_IO, "%s: not a libemim checkpoint (too short)", path);
    }
    if (!memcmp(first, "EMIMCKPT", 8)) {
        emim_status s = legacy_open(ctx, path, k, f, n);
        fclose(f);
        return s ? s : ckpt_check_size(ctx, path, k);
    }
    fclose(f);
    char err[4400];
    if (emim_st_open(&k->st, path, err, sizeof err)) {
        /* a cut file says so; anything else is not a checkpoint */
        const char *why = strncmp(err, path, strlen(path)) ? err : err + strlen(path) + 2;
        if (strstr(err, "truncated"))
            return emim_set_error(ctx, EMIM_ERR_IO, "%s: the checkpoint is truncated or corrupt (%s)", path, why);
        return emim_set_error(ctx, EMIM_ERR_IO, "%s: not a libemim checkpoint (%s)", path, why);
    }
    const char *fmt = emim_st_meta(k->st, "format"), *ver = emim_st_meta(k->st, "version");
    if (!fmt || strcmp(fmt, FORMAT)) {
        ckpt_close(k);
        return emim_set_error(ctx, EMIM_ERR_IO, "%s: not a libemim checkpoint (a safetensors file without libemim's "
                              "metadata)", path);
    }
    if (!ver || atoi(ver) != CKPT_VERSION) {
        /* the message before the close: ver lives in the header */
        emim_status s = emim_set_error(ctx, EMIM_ERR_IO, "%s: checkpoint version %.40s, this libemim reads versions "
                                       "2 and %d", path, ver ? ver : "(none)", CKPT_VERSION);
        ckpt_close(k);
        return s;
    }
    const char *run = emim_st_meta(k->st, "run"), *rec = emim_st_meta(k->st, "record");
    json_error_t je;
    json_t *r = run ? json_loads(run, JSON_REJECT_DUPLICATES, &je) : NULL;
    int bad = !r || !rec || strlen(rec) > EMIM_CKPT_MAX_RECORD || config_from_json(r, &k->cfg, &k->step, err, sizeof err);
    json_decref(r);
    if (bad) {
        if (!r || !rec) snprintf(err, sizeof err, "the run description is missing or not JSON");
        else if (strlen(rec) > EMIM_CKPT_MAX_RECORD) snprintf(err, sizeof err, "the run record is too long");
        ckpt_close(k);
        return emim_set_error(ctx, EMIM_ERR_IO, "%s: a bad checkpoint: %s", path, err);
    }
    if (!(k->record = strdup(rec))) { ckpt_close(k); return emim_set_error(ctx, EMIM_ERR_NOMEM, "%s: out of memory", path); }
    return ckpt_check_size(ctx, path, k);
}

emim_status emim_checkpoint_config(emim_ctx *ctx, const char *path, emim_train_config *cfg, long *steps_done,
                                   char **record)
{
    ckpt k;
    if (record) *record = NULL;
    EMIM_CHECK(ckpt_open(ctx, path, &k));
    *cfg = k.cfg;
    if (steps_done) *steps_done = k.step;
    if (record) { *record = k.record; k.record = NULL; }
    ckpt_close(&k);
    return EMIM_OK;
}

emim_status emim_trainer_load(emim_trainer *T, const char *path)
{
    emim_ctx *ctx = T->ctx;
    ckpt k;
    EMIM_CHECK(ckpt_open(ctx, path, &k));
    emim_status s = EMIM_OK;
    const emim_train_config *a = &k.cfg, *b = &T->cfg;
    if (memcmp(&a->vit, &b->vit, sizeof a->vit) || a->method != b->method ||
        memcmp(a->opt, b->opt, sizeof a->opt))
        s = emim_set_error(ctx, EMIM_ERR_ARG, "%s: the checkpoint's model or method (%s) differs from this one (%s)",
                           path, emim_method_name(a->method), emim_method_name(b->method));
    emim_buf *arenas[3] = { T->params, T->opt.m, T->opt.v };
    size_t P = T->lay.total;
    float *data = s ? NULL : malloc(3 * P * sizeof *data);
    if (!s && !data) s = emim_set_error(ctx, EMIM_ERR_NOMEM, "%s: out of memory for the checkpoint", path);
    if (!s && k.all) {
        if (k.legacy_data + 3 * P * 4 != k.all_n)
            s = emim_set_error(ctx, EMIM_ERR_IO, "%s: the checkpoint holds another number of parameters than this "
                               "model's %zu", path, P);
        else memcpy(data, k.all + k.legacy_data, 3 * P * 4);
    } else if (!s) {
        /* every tensor of this model, by name and shape, into its place */
        char err[4400];
        for (int i = 0; i < 3 && !s; i++)
            for (int t = 0; t < T->lay.n && !s; t++) {
                const emim_param *p = &T->lay.t[t];
                char name[128];
                snprintf(name, sizeof name, "%s%s", ARENA_PREFIX[i], p->name);
                const emim_st_tensor *e = emim_st_find(k.st, name);
                int same = e && e->ndim == p->ndim;
                for (int d = 0; same && d < p->ndim; d++) same = e->shape[d] == p->shape[d];
                if (!same)
                    s = emim_set_error(ctx, EMIM_ERR_IO, "%s: the checkpoint has no tensor '%s' of this model's shape",
                                       path, name);
                else if (emim_st_read(k.st, e, data + (size_t)i * P + p->off, err, sizeof err))
                    s = emim_set_error(ctx, EMIM_ERR_IO, "%s", err);
            }
        char crc[16];
        const char *want = emim_st_meta(k.st, "crc32");
        if (!s) snprintf(crc, sizeof crc, "%08x", (unsigned)crc_of((const unsigned char *)data, 3 * P * 4));
        if (!s && (emim_st_count(k.st) != 3 * T->lay.n || !want || strcmp(want, crc)))
            s = emim_set_error(ctx, EMIM_ERR_IO, "%s: checksum mismatch: the checkpoint is truncated or corrupt", path);
    }
    for (int i = 0; i < 3 && !s; i++) s = emim_buf_write(arenas[i], 0, P, data + (size_t)i * P);
    free(data);
    if (!s) T->step = k.step;
    ckpt_close(&k);
    return s;
}

/* ---- version 2 (libemim 0.1): "EMIMCKPT", u32 version, the configuration
 * as fixed int32 / float32 / uint64 fields, u32 length and the run record,
 * i64 steps, u64 floats per arena, parameters, m, v, CRC-32 ---- */
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

static emim_status legacy_open(emim_ctx *ctx, const char *path, ckpt *k, FILE *f, long size)
{
    size_t n = (size_t)size;
    k->all = malloc(n);
    if (!k->all) { ckpt_close(k); return emim_set_error(ctx, EMIM_ERR_NOMEM, "%s: out of memory", path); }
    fseek(f, 0, SEEK_SET);
    if (fread(k->all, 1, n, f) != n) { ckpt_close(k); return emim_set_error(ctx, EMIM_ERR_IO, "%s: read failed", path); }
    uint32_t ver, want;
    memcpy(&ver, k->all + 8, 4);
    if (ver != 2) {
        ckpt_close(k);
        return emim_set_error(ctx, EMIM_ERR_IO, "%s: checkpoint version %u, this libemim reads versions 2 and %d", path,
                              ver, CKPT_VERSION);
    }
    memcpy(&want, k->all + n - 4, 4);
    if (crc_of(k->all, n - 4) != want) {
        ckpt_close(k);
        return emim_set_error(ctx, EMIM_ERR_IO, "%s: checksum mismatch: the checkpoint is truncated or corrupt", path);
    }
    rbuf r = { k->all, n - 4, 12, 0 };
    emim_vit_config v;
    memset(&v, 0, sizeof v);
    for (int a = 0; a < 3; a++) v.img[a] = get_i32(&r);
    for (int a = 0; a < 3; a++) v.patch[a] = get_i32(&r);
    v.channels = get_i32(&r); v.hidden = get_i32(&r); v.mlp = get_i32(&r);
    v.heads = get_i32(&r); v.layers = get_i32(&r); v.eps = get_f32(&r);
    emim_train_config *c = &k->cfg;
    emim_train_config_default(c, &v, "emim");
    c->batch = get_i32(&r);
    double o[9];
    o[0] = get_i32(&r); o[1] = get_f32(&r); o[2] = get_f32(&r);            /* levels, w_pbt, w_off */
    o[3] = get_i32(&r); c->init = (emim_init_scheme)get_i32(&r);         /* pbt_norm, init */
    o[4] = get_i32(&r); o[7] = get_i32(&r); o[5] = get_f32(&r);            /* strategy, modal, r_pos */
    o[6] = get_f32(&r); o[8] = get_f32(&r);                                /* r_patch, ratio */
    c->optim.lr = get_f32(&r); c->optim.weight_decay = get_f32(&r); c->optim.beta1 = get_f32(&r);
    c->optim.beta2 = get_f32(&r); c->optim.eps = get_f32(&r); c->optim.clip = get_f32(&r);
    c->sched.warmup = get_i32(&r); c->sched.steps = get_i32(&r); c->seed = get_u64(&r);
    static const char *const names[9] = { "levels", "w-pbt", "w-off", "pbt-norm", "mask", "r-pos", "r-patch",
                                          "modal-mask", "ratio" };
    char err[512] = "";
    int bad = r.fail;
    for (int i = 0; i < 9 && !bad; i++) bad = emim_train_config_set(c, names[i], o[i], err, sizeof err) != EMIM_OK;
    uint32_t rl = 0;
    get(&r, &rl, 4);
    if (!bad && (r.fail || rl > EMIM_CKPT_MAX_RECORD || r.at + rl > r.n)) bad = 1;
    if (!bad && !(k->record = malloc((size_t)rl + 1))) { ckpt_close(k); return emim_set_error(ctx, EMIM_ERR_NOMEM, "%s: out of memory", path); }
    if (!bad) {
        memcpy(k->record, k->all + r.at, rl);
        k->record[rl] = 0;
        r.at += rl;
        k->step = (long)get_u64(&r);
        get_u64(&r); /* floats per arena: checked against the model on load */
        k->legacy_data = r.at;
        k->all_n = n - 4;
        bad = r.fail || k->step < 0;
    }
    if (!bad && emim_train_config_check(c, err, sizeof err)) bad = 1;
    if (bad) {
        ckpt_close(k);
        return emim_set_error(ctx, EMIM_ERR_IO, "%s: the checkpoint's header is truncated or corrupt%s%s", path,
                              err[0] ? ": " : "", err);
    }
    return EMIM_OK;
}
