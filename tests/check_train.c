#define _GNU_SOURCE
/* The training step of every method on the built-in phantom: the loss
 * falls; in exact mode the CPU twin and OpenCL give identical losses at
 * every step and identical weights, and so do 1 and 2 threads; 1, 2 and 3
 * channels and anisotropic grids and patches train; a checkpoint keeps the
 * run record and resumes bit for bit; E-MIM's trajectory is pinned. */
#include "testutil.h"
#include "train/train.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#if HAVE_OPENCL
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#endif

/* Host and OpenCL allocations made by the library's own code: the test
 * program is linked with --wrap for malloc, calloc, realloc, aligned_alloc,
 * posix_memalign and clCreateBuffer (Makefile.am), so that a step that allocates is seen. */
static long host_allocs, cl_allocs;
void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n)
{
    __atomic_add_fetch(&host_allocs, 1, __ATOMIC_RELAXED);
    return __real_malloc(n);
}
void *__wrap_calloc(size_t k, size_t n)
{
    __atomic_add_fetch(&host_allocs, 1, __ATOMIC_RELAXED);
    return __real_calloc(k, n);
}
void *__wrap_realloc(void *p, size_t n)
{
    __atomic_add_fetch(&host_allocs, 1, __ATOMIC_RELAXED);
    return __real_realloc(p, n);
}
void *__real_aligned_alloc(size_t a, size_t n);
void *__wrap_aligned_alloc(size_t a, size_t n)
{
    __atomic_add_fetch(&host_allocs, 1, __ATOMIC_RELAXED);
    return __real_aligned_alloc(a, n);
}
int __real_posix_memalign(void **p, size_t a, size_t n);
int __wrap_posix_memalign(void **p, size_t a, size_t n)
{
    __atomic_add_fetch(&host_allocs, 1, __ATOMIC_RELAXED);
    return __real_posix_memalign(p, a, n);
}
#if HAVE_OPENCL
cl_mem __real_clCreateBuffer(cl_context c, cl_mem_flags f, size_t n, void *h, cl_int *e);
cl_mem __wrap_clCreateBuffer(cl_context c, cl_mem_flags f, size_t n, void *h, cl_int *e)
{
    __atomic_add_fetch(&cl_allocs, 1, __ATOMIC_RELAXED);
    return __real_clCreateBuffer(c, f, n, h, e);
}
#endif

enum { S = 16, STEPS = 30 };

/* the model's input: channels, grid, patch */
typedef struct {
    int C, img[3], patch[3];
} shape;
static const shape CUBE = { 4, { S, S, S }, { 8, 8, 8 } };
/* two modalities, an anisotropic grid and patch (16 tokens of 2*8*4*4) */
static const shape ANISO2 = { 2, { 16, 24, 8 }, { 8, 4, 4 } };

/* the method of the test running (a loop test's index) */
static const char *const METHODS[] = { "emim", "mae", "simmim", "barlow", "moco" };
#define NMETHODS ((int)(sizeof METHODS / sizeof METHODS[0]))
/* the masked-image methods: the loss falls within a few steps, the
 * gradients checked at fixed masks, the batch split over ranks */
#define NMASKED 3
static const char *method = "emim";

static void micro_shape(emim_train_config *t, const shape *sh)
{
    emim_vit_config v = { .img = { sh->img[0], sh->img[1], sh->img[2] },
                          .patch = { sh->patch[0], sh->patch[1], sh->patch[2] }, .channels = sh->C, .hidden = 24,
                          .mlp = 48, .heads = 2, .layers = 2, .eps = 1e-5f };
    ck_assert_int_eq(emim_train_config_default(t, &v, method), EMIM_OK);
    if (!strcmp(method, "emim")) ck_assert_int_eq(emim_train_config_set(t, "levels", 2, NULL, 0), EMIM_OK);
    if (!strcmp(method, "moco")) {
        /* a short queue, ZCA whitening, and local InfoNCE where the patch
         * grid splits in two on every axis */
        int split = 1;
        for (int a = 0; a < 3; a++) split &= sh->img[a] / sh->patch[a] >= 2;
        ck_assert_int_eq(emim_train_config_set(t, "queue", 4, NULL, 0), EMIM_OK);
        ck_assert_int_eq(emim_train_config_set(t, "zca", 1, NULL, 0), EMIM_OK);
        ck_assert_int_eq(emim_train_config_set(t, "local-infonce", split, NULL, 0), EMIM_OK);
    }
    t->batch = 2;
    t->optim.lr = 2e-3f;
    t->sched.warmup = 3;
    t->sched.steps = STEPS;
    t->seed = 11;
}
static void micro(emim_train_config *t) { micro_shape(t, &CUBE); }

/* batch images of phantoms (subject s*batch + k at step s) */
static void phantoms(float *img, const emim_train_config *t, int s)
{
    const int *g = t->vit.img;
    size_t vol = (size_t)t->vit.channels * g[0] * g[1] * g[2];
    for (int k = 0; k < t->batch; k++)
        ck_assert_int_eq(emim_phantom(img + k * vol, NULL, t->vit.channels, g[0], g[1], g[2], 3,
                                      (uint64_t)(s * t->batch + k)), EMIM_OK);
}

/* Runs n steps on phantoms (subject s*batch + b at step s); losses[i] and,
 * if params is non-NULL, the final weights are returned. */
static int run_shape(emim_backend_kind b, int threads, int n, float *losses, float **params, size_t *np,
                     const shape *sh)
{
    char why[4096];
    emim_ctx *ctx = test_ctx(b, EMIM_MODE_EXACT, threads, why, sizeof why);
    if (!ctx) return -1;
    emim_train_config t;
    micro_shape(&t, sh);
    emim_trainer *T = NULL;
    ck_assert_msg(emim_trainer_create(ctx, &t, &T) == EMIM_OK, "%s", emim_error(ctx));
    size_t vol = (size_t)sh->C * sh->img[0] * sh->img[1] * sh->img[2];
    float *img = malloc(vol * t.batch * sizeof *img);
    for (int s = 0; s < n; s++) {
        phantoms(img, &t, s);
        emim_step_stats st;
        ck_assert_msg(emim_trainer_step(T, img, &st) == EMIM_OK, "%s", emim_error(ctx));
        ck_assert(isfinite(st.loss));
        losses[s] = st.loss;
    }
    if (params) {
        *np = emim_trainer_layout(T)->total;
        *params = malloc(*np * sizeof(float));
        ck_assert_int_eq(emim_buf_read(emim_trainer_params(T), 0, *np, *params), EMIM_OK);
    }
    free(img);
    emim_trainer_free(T);
    emim_ctx_free(ctx);
    return 0;
}
static int run(emim_backend_kind b, int threads, int n, float *losses, float **params, size_t *np)
{
    return run_shape(b, threads, n, losses, params, np, &CUBE);
}

START_TEST(loss_falls)
{
    method = METHODS[_i];
    float l[STEPS];
    ck_assert_int_eq(run(EMIM_BACKEND_CPU, 2, STEPS, l, NULL, NULL), 0);
    double first = (l[0] + l[1] + l[2]) / 3, last = (l[STEPS - 1] + l[STEPS - 2] + l[STEPS - 3]) / 3;
    printf("%s loss: first steps %.6f, last steps %.6f\n", method, first, last);
    ck_assert_msg(last < 0.8 * first, "the loss did not fall: %.6f -> %.6f", first, last);
}
END_TEST

START_TEST(exact_threads)
{
    method = METHODS[_i];
    float a[4], b[4], *pa, *pb;
    size_t na, nb;
    ck_assert_int_eq(run(EMIM_BACKEND_CPU, 1, 4, a, &pa, &na), 0);
    ck_assert_int_eq(run(EMIM_BACKEND_CPU, 2, 4, b, &pb, &nb), 0);
    ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
    ck_assert_int_eq(memcmp(pa, pb, na * sizeof(float)), 0);
    free(pa);
    free(pb);
}
END_TEST

/* 2N steps straight equal N steps, a checkpoint, a new trainer and N
 * resumed steps, bit for bit; bad checkpoints are refused, naming the file. */
START_TEST(resume)
{
    method = METHODS[_i];
    float straight[4], *p1, *p2;
    size_t n1;
    ck_assert_int_eq(run(EMIM_BACKEND_CPU, 2, 4, straight, &p1, &n1), 0);
    emim_ctx *ctx = test_ctx(EMIM_BACKEND_CPU, EMIM_MODE_EXACT, 2, NULL, 0);
    emim_train_config t;
    micro(&t);
    size_t vol = (size_t)4 * S * S * S;
    float *img = malloc(vol * t.batch * sizeof *img);
    const char *record = "data=/some/where\nflip=1\n";
    char path[] = "/tmp/emim-ckpt-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    float resumed[4];
    for (int half = 0; half < 2; half++) {
        emim_trainer *T = NULL;
        if (half) {
            emim_train_config c2;
            long done = -1;
            char *rec = NULL;
            ck_assert_int_eq(emim_checkpoint_config(ctx, path, &c2, &done, &rec), EMIM_OK);
            ck_assert_int_eq(done, 2);
            ck_assert_int_eq(memcmp(&c2.vit, &t.vit, sizeof t.vit), 0);
            ck_assert_int_eq(c2.method, t.method);
            ck_assert_int_eq(memcmp(c2.opt, t.opt, sizeof t.opt), 0);
            ck_assert_int_eq(memcmp(&c2.optim, &t.optim, sizeof t.optim), 0);
            ck_assert_int_eq(memcmp(&c2.sched, &t.sched, sizeof t.sched), 0);
            ck_assert(c2.seed == t.seed && c2.batch == t.batch && c2.init == t.init);
            ck_assert_str_eq(rec, record);
            free(rec);
        }
        ck_assert_int_eq(emim_trainer_create(ctx, &t, &T), EMIM_OK);
        if (half) ck_assert_msg(emim_trainer_load(T, path) == EMIM_OK, "%s", emim_error(ctx));
        else ck_assert_int_eq(emim_trainer_set_record(T, record), EMIM_OK);
        for (int s = 2 * half; s < 2 * half + 2; s++) {
            phantoms(img, &t, s);
            emim_step_stats st;
            ck_assert_int_eq(emim_trainer_step(T, img, &st), EMIM_OK);
            resumed[s] = st.loss;
        }
        if (!half) ck_assert_msg(emim_trainer_save(T, path) == EMIM_OK, "%s", emim_error(ctx));
        else {
            p2 = malloc(n1 * sizeof(float));
            ck_assert_int_eq(emim_buf_read(emim_trainer_params(T), 0, n1, p2), EMIM_OK);
        }
        emim_trainer_free(T);
    }
    ck_assert_int_eq(memcmp(straight, resumed, sizeof straight), 0);
    ck_assert_int_eq(memcmp(p1, p2, n1 * sizeof(float)), 0);
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ck_assert_int_ne(access(tmp, F_OK), 0); /* no temporary left behind */
    /* a truncated checkpoint */
    FILE *f = fopen(path, "r+b");
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fclose(f);
    ck_assert_int_eq(truncate(path, len / 2), 0);
    emim_train_config c3;
    ck_assert_int_eq(emim_checkpoint_config(ctx, path, &c3, NULL, NULL), EMIM_ERR_IO);
    ck_assert_msg(strstr(emim_error(ctx), path) && strstr(emim_error(ctx), "corrupt"), "%s", emim_error(ctx));
    /* not a checkpoint at all */
    f = fopen(path, "wb");
    fputs("this is not a checkpoint, just text", f);
    fclose(f);
    ck_assert_int_eq(emim_checkpoint_config(ctx, path, &c3, NULL, NULL), EMIM_ERR_IO);
    ck_assert_ptr_nonnull(strstr(emim_error(ctx), "not a libemim checkpoint"));
    unlink(path);
    free(img);
    free(p1);
    free(p2);
    emim_ctx_free(ctx);
}
END_TEST

/* 1, 2 and 3 channels, anisotropic grids and patches: the layout follows
 * (the patch embedding is [hidden, C, P0, P1, P2], the head C*P0*P1*P2
 * wide), the steps run and the loss is finite. */
START_TEST(channels_and_grids)
{
    static const shape SH[] = {
        { 1, { 16, 16, 16 }, { 8, 8, 8 } }, { 2, { 16, 24, 8 }, { 8, 4, 4 } }, { 3, { 24, 8, 16 }, { 8, 8, 4 } },
    };
    method = METHODS[_i];
    for (size_t i = 0; i < sizeof SH / sizeof SH[0]; i++) {
        emim_train_config t;
        micro_shape(&t, &SH[i]);
        emim_vit_params p;
        ck_assert_int_eq(emim_vit_layout(&t.vit, &p), EMIM_OK);
        ck_assert_ptr_null(emim_vit_param(&p, "recon.weight")); /* a method's head is not the encoder's */
        const emim_param *w = emim_vit_param(&p, "patch_embedding.patch_embeddings.weight");
        ck_assert_int_eq(w->ndim, 5);
        ck_assert_int_eq(w->shape[1], SH[i].C);
        for (int k = 0; k < 3; k++) ck_assert_int_eq(w->shape[2 + k], SH[i].patch[k]);
        int tokens = 1;
        for (int k = 0; k < 3; k++) tokens *= SH[i].img[k] / SH[i].patch[k];
        ck_assert_int_eq(emim_vit_param(&p, "patch_embedding.position_embeddings")->shape[1], tokens);
        emim_vit_layout_free(&p);
        float l[3];
        ck_assert_int_eq(run_shape(EMIM_BACKEND_CPU, 2, 3, l, NULL, NULL, &SH[i]), 0);
        for (int s = 0; s < 3; s++) ck_assert(isfinite(l[s]) && l[s] > 0);
    }
}
END_TEST

/* Features come from a pass without stored activations: at every layer
 * they equal the stored forward's, and before a step they are those of a
 * fresh initialisation; after the update they differ. PBT's mean
 * normalisation divides each level's sum by n^2 and leaves L_MIM alone. */
START_TEST(features_and_pbt_norm)
{
    emim_ctx *ctx = test_ctx(EMIM_BACKEND_CPU, EMIM_MODE_EXACT, 2, NULL, 0);
    emim_train_config t;
    method = "emim";
    micro_shape(&t, &ANISO2);
    size_t vol = (size_t)ANISO2.C * ANISO2.img[0] * ANISO2.img[1] * ANISO2.img[2];
    float *img = malloc(vol * t.batch * sizeof *img);
    phantoms(img, &t, 0);
    int N = emim_vit_tokens(&t.vit), PD = emim_vit_token_size(&t.vit);
    size_t nf = (size_t)t.batch * N * t.vit.hidden;
    float *a = malloc(nf * sizeof *a), *b = malloc(nf * sizeof *b);
    emim_step_stats st[2];
    for (int norm = 0; norm < 2; norm++) {
        ck_assert_int_eq(emim_train_config_set(&t, "pbt-norm", norm ? EMIM_PBT_MEAN : EMIM_PBT_SUM, NULL, 0), EMIM_OK);
        emim_trainer *T = NULL;
        ck_assert_int_eq(emim_trainer_create(ctx, &t, &T), EMIM_OK);
        /* the stored forward of the same images */
        emim_buf *ib, *tb;
        emim_vit_acts *A;
        ck_assert_int_eq(emim_buf_alloc(ctx, vol * t.batch, &ib), EMIM_OK);
        ck_assert_int_eq(emim_buf_alloc(ctx, (size_t)t.batch * N * PD, &tb), EMIM_OK);
        ck_assert_int_eq(emim_buf_write(ib, 0, vol * t.batch, img), EMIM_OK);
        ck_assert_int_eq(emim_patchify(ctx, emim_at(tb, 0), emim_at(ib, 0), t.batch, t.vit.channels, t.vit.img[0],
                                       t.vit.img[1], t.vit.img[2], t.vit.patch), EMIM_OK);
        ck_assert_int_eq(emim_vit_acts_create(ctx, &t.vit, t.batch, &A), EMIM_OK);
        ck_assert_int_eq(emim_vit_forward(ctx, emim_trainer_layout(T), emim_trainer_params(T), A, emim_at(tb, 0)),
                         EMIM_OK);
        for (int layer = -1; layer < t.vit.layers; layer++) {
            emim_ref r = layer < 0 ? emim_vit_acts_output(A) : emim_vit_acts_hidden(A, layer);
            ck_assert_int_eq(emim_buf_read(r.buf, r.off, nf, a), EMIM_OK);
            ck_assert_int_eq(emim_trainer_features(T, img, layer, 0, b), EMIM_OK);
            ck_assert_int_eq(memcmp(a, b, nf * sizeof *a), 0);
            ck_assert_int_eq(emim_trainer_features(T, img, layer, 1, b), EMIM_OK);
            ck_assert_int_eq(memcmp(a, b, nf * sizeof *a), 0);
        }
        emim_vit_acts_free(A);
        emim_buf_free(ib);
        emim_buf_free(tb);
        ck_assert_int_eq(emim_trainer_step(T, img, &st[norm]), EMIM_OK);
        ck_assert_int_eq(emim_trainer_features(T, img, -1, 0, b), EMIM_OK); /* the updated weights */
        ck_assert_int_ne(memcmp(a, b, nf * sizeof *a), 0);
        ck_assert_int_eq(emim_trainer_features(T, img, t.vit.layers, 0, b), EMIM_ERR_ARG);
        ck_assert_ptr_nonnull(strstr(emim_error(ctx), "layer 2"));
        emim_trainer_free(T);
    }
    ck_assert_int_eq(st[0].n, 2);
    ck_assert(st[0].value[0] == st[1].value[0]); /* mim: the first forward is the same */
    ck_assert_msg(fabs(st[1].value[1] * (double)N * N - st[0].value[1]) < 1e-5 * st[0].value[1],
                  "mean %g * %d^2 != sum %g", st[1].value[1], N, st[0].value[1]);
    ck_assert(fabs(st[1].loss - (st[1].value[0] + st[1].value[1])) < 1e-5 * st[1].loss);
    free(a);
    free(b);
    free(img);
    emim_ctx_free(ctx);
}
END_TEST

/* Each method's gradients against central finite differences of its own
 * loss: a step with lr 0 and no clipping leaves the weights alone, so the
 * loss can be evaluated again with one weight moved. Fixed masks (random
 * positions, all modalities: what every method can take), exact mode. For
 * each tensor, its entry with the largest gradient. */
START_TEST(method_gradients)
{
    method = METHODS[_i];
    emim_ctx *ctx = test_ctx(EMIM_BACKEND_CPU, EMIM_MODE_EXACT, 2, NULL, 0);
    emim_train_config t;
    micro_shape(&t, &ANISO2);
    t.optim.lr = 0;
    t.optim.clip = 0;
    emim_trainer *T = NULL;
    ck_assert_msg(emim_trainer_create(ctx, &t, &T) == EMIM_OK, "%s", emim_error(ctx));
    size_t vol = (size_t)ANISO2.C * ANISO2.img[0] * ANISO2.img[1] * ANISO2.img[2];
    int N = emim_vit_tokens(&t.vit), C = ANISO2.C;
    float *img = malloc(vol * t.batch * sizeof *img);
    phantoms(img, &t, 0);
    uint8_t *mask = malloc((size_t)t.batch * C * N);
    emim_mask_options mo;
    emim_train_mask_options(&t, &mo);
    mo.strategy = EMIM_MASK_RANDOM;
    if (!strcmp(method, "emim")) mo.ratio = 0.5f;
    for (int b = 0; b < t.batch; b++)
        ck_assert_int_eq(emim_mask_make(mask + (size_t)b * C * N, C, N, &mo, 5, 0, (uint64_t)b), EMIM_OK);
    const emim_vit_params *lay = emim_trainer_layout(T);
    size_t P = lay->total;
    float *p = malloc(P * sizeof *p), *g = malloc(P * sizeof *g);
    emim_step_stats st;
    ck_assert_int_eq(emim_trainer_step_masks(T, img, mask, &st), EMIM_OK);
    ck_assert_int_eq(emim_buf_read(emim_trainer_params(T), 0, P, p), EMIM_OK);
    ck_assert_int_eq(emim_buf_read(emim_trainer_grads(T), 0, P, g), EMIM_OK);
    double worst = 0;
    int checked = 0;
    for (int i = 0; i < lay->n; i++) {
        const emim_param *q = &lay->t[i];
        size_t k = q->off;
        for (size_t e = q->off; e < q->off + q->size; e++)
            if (fabsf(g[e]) > fabsf(g[k])) k = e;
        if (fabsf(g[k]) < 1e-3f) continue; /* too small for a float difference */
        const float h = 1e-2f;
        float lp, lm, v = p[k];
        for (int sgn = 1; sgn >= -1; sgn -= 2) {
            float x = v + (float)sgn * h;
            ck_assert_int_eq(emim_buf_write(emim_trainer_params(T), k, 1, &x), EMIM_OK);
            ck_assert_int_eq(emim_trainer_step_masks(T, img, mask, &st), EMIM_OK);
            if (sgn > 0) lp = st.loss; else lm = st.loss;
        }
        ck_assert_int_eq(emim_buf_write(emim_trainer_params(T), k, 1, &v), EMIM_OK);
        double fd = ((double)lp - lm) / (2.0 * h), err = fabs(fd - g[k]) / fabs(g[k]);
        ck_assert_msg(err < 0.05, "%s: %s[%zu]: gradient %.6g, finite difference %.6g", method, q->name, k - q->off,
                      (double)g[k], fd);
        worst = fmax(worst, err);
        checked++;
    }
    printf("%s: %d tensors' largest gradients within %.2g of their finite differences\n", method, checked, worst);
    ck_assert_int_ge(checked, lay->n / 3);
    free(p);
    free(g);
    free(mask);
    free(img);
    emim_trainer_free(T);
    emim_ctx_free(ctx);
}
END_TEST

/* The joint-embedding methods' (and E-MIM with --zca's) gradients against central finite
 * differences: their views depend on the step and MoCo's momentum encoder
 * and queue change after every step, so each evaluation of the loss is the
 * first step of a fresh trainer (the same initialisation, momentum encoder
 * and queue) with one weight moved. The momentum encoder is a copy made
 * before the weight moves: no gradient flows into it, as in MoCo. For each
 * trained tensor, its entry with the largest gradient; the buffers (the
 * momentum encoder, the queue, the running whitening) get no gradient. */
static float joint_loss(emim_ctx *ctx, const emim_train_config *t, const float *img, size_t k, float v, float *g,
                        size_t P)
{
    emim_trainer *T = NULL;
    ck_assert_msg(emim_trainer_create(ctx, t, &T) == EMIM_OK, "%s", emim_error(ctx));
    if (!g) ck_assert_int_eq(emim_buf_write(emim_trainer_params(T), k, 1, &v), EMIM_OK);
    emim_step_stats st;
    ck_assert_msg(emim_trainer_step(T, img, &st) == EMIM_OK, "%s", emim_error(ctx));
    if (g) ck_assert_int_eq(emim_buf_read(emim_trainer_grads(T), 0, P, g), EMIM_OK);
    emim_trainer_free(T);
    return st.loss;
}

START_TEST(joint_gradients)
{
    /* the last index: E-MIM with its PBT levels ZCA-whitened */
    method = _i < NMETHODS ? METHODS[_i] : "emim";
    emim_ctx *ctx = test_ctx(EMIM_BACKEND_CPU, EMIM_MODE_EXACT, 2, NULL, 0);
    emim_train_config t;
    micro_shape(&t, &CUBE);
    t.batch = 4;
    t.optim.lr = 0;
    t.optim.clip = 0;
    if (!strcmp(method, "moco")) {
        ck_assert_int_eq(emim_train_config_set(&t, "local-infonce", 1, NULL, 0), EMIM_OK);
        ck_assert_int_eq(emim_train_config_set(&t, "zca", 1, NULL, 0), EMIM_OK);
        ck_assert_int_eq(emim_train_config_set(&t, "queue", 8, NULL, 0), EMIM_OK);
        ck_assert_int_eq(emim_train_config_set(&t, "symmetric", 1, NULL, 0), EMIM_OK);
    }
    if (!strcmp(method, "emim")) ck_assert_int_eq(emim_train_config_set(&t, "zca", 1, NULL, 0), EMIM_OK);
    emim_vit_params lay;
    emim_trainer *T0 = NULL;
    ck_assert_msg(emim_trainer_create(ctx, &t, &T0) == EMIM_OK, "%s", emim_error(ctx));
    const emim_vit_params *l0 = emim_trainer_layout(T0);
    lay = *l0;
    size_t P = lay.total, vol = (size_t)CUBE.C * S * S * S;
    float *p = malloc(P * sizeof *p), *g = malloc(P * sizeof *g), *img = malloc(vol * t.batch * sizeof *img);
    ck_assert_int_eq(emim_buf_read(emim_trainer_params(T0), 0, P, p), EMIM_OK);
    phantoms(img, &t, 0);
    joint_loss(ctx, &t, img, 0, 0, g, P);
    double worst = 0;
    int checked = 0, trained = 0;
    for (int i = 0; i < lay.n; i++) {
        const emim_param *q = &lay.t[i];
        size_t k = q->off;
        for (size_t e = q->off; e < q->off + q->size; e++)
            if (fabsf(g[e]) > fabsf(g[k])) k = e;
        if (q->buffer) {
            ck_assert_msg(g[k] == 0, "%s: buffer %s has a gradient", method, q->name);
            continue;
        }
        trained++;
        /* the joint losses are sums of many terms, curved at 1e-2 steps
         * (BatchNorm, the unit-length rows): a smaller step, larger
         * gradients only; E-MIM's as in method_gradients */
        int joint = strcmp(method, "emim") != 0;
        if (fabsf(g[k]) < (joint ? 1e-2f : 1e-3f)) continue;
        const float h = joint ? 3e-3f : 1e-2f;
        float lp = joint_loss(ctx, &t, img, k, p[k] + h, NULL, P), lm = joint_loss(ctx, &t, img, k, p[k] - h, NULL, P);
        double fd = ((double)lp - lm) / (2.0 * h), err = fabs(fd - g[k]) / fabs(g[k]);
        ck_assert_msg(err < 0.05, "%s: %s[%zu]: gradient %.6g, finite difference %.6g", method, q->name, k - q->off,
                      (double)g[k], fd);
        worst = fmax(worst, err);
        checked++;
    }
    printf("%s: %d of %d trained tensors' largest gradients within %.2g of their finite differences\n", method,
           checked, trained, worst);
    ck_assert_int_ge(checked, trained / 2);
    emim_trainer_free(T0);
    free(p);
    free(g);
    free(img);
    emim_ctx_free(ctx);
}
END_TEST

/* Batch statistics do not split: micro-batches and ranks are refused,
 * naming the method. */
START_TEST(joint_refusals)
{
    emim_ctx *ctx = test_ctx(EMIM_BACKEND_CPU, EMIM_MODE_EXACT, 2, NULL, 0);
    for (int m = NMASKED; m < NMETHODS; m++) {
        method = METHODS[m];
        emim_train_config t;
        micro(&t);
        t.micro = 1;
        char err[256];
        ck_assert_int_eq(emim_train_config_check(&t, err, sizeof err), EMIM_ERR_ARG);
        ck_assert_msg(strstr(err, "statistics of the whole batch") && strstr(err, method), "%s", err);
        t.micro = 0;
        emim_trainer *T = NULL;
        ck_assert_msg(emim_trainer_create(ctx, &t, &T) == EMIM_OK, "%s", emim_error(ctx));
        emim_comm two = { .rank = 0, .size = 2 };
        ck_assert_int_eq(emim_trainer_set_comm(T, &two), EMIM_ERR_ARG);
        ck_assert_msg(strstr(emim_error(ctx), "one process, not 2"), "%s", emim_error(ctx));
        ck_assert_int_eq(emim_method_reconstructs(m), 0);
        ck_assert_int_eq(emim_method_whole_batch(m), 1);
        emim_trainer_free(T);
    }
    ck_assert_int_eq(emim_method_reconstructs(0), 1);
    ck_assert_int_eq(emim_method_whole_batch(0), 0);
    /* a MoCo queue that is not a multiple of the batch */
    method = "moco";
    emim_train_config t;
    micro(&t);
    ck_assert_int_eq(emim_train_config_set(&t, "queue", 5, NULL, 0), EMIM_OK);
    char err[256];
    ck_assert_int_eq(emim_train_config_check(&t, err, sizeof err), EMIM_ERR_ARG);
    ck_assert_msg(strstr(err, "queue of 5 keys is not a multiple of the 2 keys a step queues (the batch 2)"), "%s", err);
    emim_ctx_free(ctx);
}
END_TEST

/* Every method's tables fit the configuration's fixed arrays, names are
 * unique and defaults lie in their ranges. */
START_TEST(method_tables)
{
    ck_assert_int_eq(emim_method_count(), NMETHODS);
    for (int m = 0; m < emim_method_count(); m++) {
        ck_assert_int_eq(emim_method_find(emim_method_name(m)), m);
        const emim_opt_info *o;
        const char *const *names;
        int n = emim_method_options(m, &o), k = emim_method_metrics(m, &names);
        ck_assert(n >= 0 && n <= EMIM_MAX_METHOD_OPTIONS && k >= 1 && k <= EMIM_MAX_METRICS);
        for (int i = 0; i < n; i++) {
            ck_assert_msg(o[i].def >= o[i].lo && o[i].def <= o[i].hi, "%s: %s", emim_method_name(m), o[i].name);
            for (int j = 0; j < i; j++) ck_assert_str_ne(o[i].name, o[j].name);
        }
    }
    ck_assert_int_eq(emim_method_find("byol"), -1);
}
END_TEST

/* The pyramid's blocks (emim probe --levels): an E-MIM run's own --levels,
 * else E-MIM's default rule, whatever the run's method. */
START_TEST(pyramid_blocks)
{
    static const struct { const char *method; int layers, levels, n, b[4]; } C[] = {
        { "emim", 4, 0, 4, { 0, 1, 2, 3 } }, { "emim", 12, 0, 4, { 2, 5, 8, 11 } },
        { "emim", 4, 2, 2, { 1, 3 } },       { "emim", 9, 0, 3, { 2, 5, 8 } },
        { "emim", 4, 3, 0, { 0 } },          { "mae", 6, 0, 3, { 1, 3, 5 } },
        { "moco", 7, 0, 1, { 6 } },          { "simmim", 12, 0, 4, { 2, 5, 8, 11 } },
    };
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
        emim_vit_config v = { .img = { 16, 16, 16 }, .patch = { 8, 8, 8 }, .channels = 1, .hidden = 8, .mlp = 16,
                              .heads = 2, .layers = C[i].layers, .eps = 1e-5f };
        emim_train_config t;
        ck_assert_int_eq(emim_train_config_default(&t, &v, C[i].method), EMIM_OK);
        if (C[i].levels) ck_assert_int_eq(emim_train_config_set(&t, "levels", C[i].levels, NULL, 0), EMIM_OK);
        int b[4] = { -9, -9, -9, -9 };
        ck_assert_int_eq(emim_pyramid_blocks(&t, NULL), C[i].n);
        ck_assert_int_eq(emim_pyramid_blocks(&t, b), C[i].n);
        for (int k = 0; k < C[i].n; k++) ck_assert_int_eq(b[k], C[i].b[k]);
        for (int k = C[i].n; k < 4; k++) ck_assert_int_eq(b[k], -9);
    }
}
END_TEST

/* The optimiser's EMA (the momentum encoders' update): target = m target +
 * (1 - m) source, as two roundings of the scale op; the same bits on
 * OpenCL. */
static void ema_on(emim_backend_kind b, float *out, int n)
{
    emim_ctx *ctx = test_ctx(b, EMIM_MODE_EXACT, 2, NULL, 0);
    if (!ctx) { out[0] = NAN; return; }
    emim_buf *t, *s;
    ck_assert_int_eq(emim_buf_alloc(ctx, (size_t)n, &t), EMIM_OK);
    ck_assert_int_eq(emim_buf_alloc(ctx, (size_t)n, &s), EMIM_OK);
    ck_assert_int_eq(emim_rand(ctx, emim_at(t, 0), (size_t)n, EMIM_RAND_NORMAL, 3, 0, 0, 1, 0, 0), EMIM_OK);
    ck_assert_int_eq(emim_rand(ctx, emim_at(s, 0), (size_t)n, EMIM_RAND_NORMAL, 3, 1, 0, 1, 0, 0), EMIM_OK);
    float *t0 = malloc((size_t)n * sizeof *t0), *s0 = malloc((size_t)n * sizeof *s0);
    ck_assert_int_eq(emim_buf_read(t, 0, (size_t)n, t0), EMIM_OK);
    ck_assert_int_eq(emim_buf_read(s, 0, (size_t)n, s0), EMIM_OK);
    ck_assert_int_eq(emim_ema_update(ctx, emim_at(t, 0), emim_at(s, 0), (size_t)n, 0.99f), EMIM_OK);
    ck_assert_int_eq(emim_buf_read(t, 0, (size_t)n, out), EMIM_OK);
    for (int i = 0; i < n; i++) {
        double want = 0.99 * t0[i] + 0.01 * s0[i];
        ck_assert_msg(fabs(out[i] - want) <= 2e-7 * (fabs(t0[i]) + fabs(s0[i])), "%d: %g, want %g", i, out[i], want);
    }
    free(t0);
    free(s0);
    emim_ctx_free(ctx);
}

START_TEST(ema)
{
    enum { n = 1001 };
    static float a[n], b[n];
    ema_on(EMIM_BACKEND_CPU, a, n);
    if (!emim_have_opencl()) return;
    ema_on(EMIM_BACKEND_OPENCL, b, n);
    if (!isnan(b[0])) ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
}
END_TEST

/* the CPU twin and OpenCL in exact mode: the same losses and weights */
static void twins(const shape *sh)
{
    float a[4], b[4], *pa, *pb;
    size_t na, nb;
    ck_assert_int_eq(run_shape(EMIM_BACKEND_CPU, 2, 4, a, &pa, &na, sh), 0);
    ck_assert_int_eq(run_shape(EMIM_BACKEND_OPENCL, 2, 4, b, &pb, &nb, sh), 0);
    for (int s = 0; s < 4; s++) ck_assert_msg(a[s] == b[s], "step %d: cpu %.9g, opencl %.9g", s, a[s], b[s]);
    ck_assert_int_eq(memcmp(pa, pb, na * sizeof(float)), 0);
    free(pa);
    free(pb);
}
/* The exact-mode trajectory of the E-MIM step is pinned: 6 steps of the
 * micro model on phantoms give the losses (as hex floats) and the hash of
 * the final weights in tests/data/golden-trajectory.txt, on the CPU twin and
 * (when there is a device) on OpenCL. A change to the step that changes a
 * bit fails here; a deliberate one rewrites the file with
 * EMIM_GOLDEN_WRITE=1 tests/check_train and says why in its commit. */
static uint64_t fnv1a(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static void golden(emim_backend_kind backend)
{
    enum { GS = 6 };
    method = "emim";
    float l[GS], *p;
    size_t np;
    if (run(backend, 2, GS, l, &p, &np)) return;
    char got[1024];
    size_t n = 0;
    for (int s = 0; s < GS; s++) n += (size_t)snprintf(got + n, sizeof got - n, "loss %d %a\n", s + 1, (double)l[s]);
    n += (size_t)snprintf(got + n, sizeof got - n, "weights %zu %016llx\n", np,
                          (unsigned long long)fnv1a(p, np * sizeof *p));
    free(p);
    char path[4096];
    const char *src = getenv("EMIM_SRCDIR");
    snprintf(path, sizeof path, "%s/tests/data/golden-trajectory.txt", src ? src : ".");
    if (getenv("EMIM_GOLDEN_WRITE")) {
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fputs(got, f);
        fclose(f);
        printf("wrote %s\n", path);
        return;
    }
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s: cannot open", path);
    char want[1024];
    size_t k = fread(want, 1, sizeof want - 1, f);
    fclose(f);
    want[k] = 0;
    ck_assert_msg(!strcmp(got, want), "the exact-mode trajectory differs from %s:\n%s\nexpected:\n%s", path, got, want);
}
START_TEST(golden_cpu) { golden(EMIM_BACKEND_CPU); }
END_TEST
START_TEST(golden_opencl) { golden(EMIM_BACKEND_OPENCL); }
END_TEST

START_TEST(exact_twins) { method = METHODS[_i]; twins(&CUBE); }
END_TEST
START_TEST(exact_twins_aniso2) { method = METHODS[_i]; twins(&ANISO2); }
END_TEST

/* A checkpoint's configuration is trusted only as far as its data carries
 * the weights: one that claims a wider model than its tensors hold (the
 * header edited, the CRC of the data still right) is refused before anything
 * of that model is allocated. */
START_TEST(hostile_checkpoint_config)
{
    emim_ctx *ctx = test_ctx(EMIM_BACKEND_CPU, EMIM_MODE_EXACT, 2, NULL, 0);
    emim_train_config t;
    micro(&t);
    emim_trainer *T = NULL;
    ck_assert_msg(emim_trainer_create(ctx, &t, &T) == EMIM_OK, "%s", emim_error(ctx));
    char path[] = "/tmp/emim-hostile-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_msg(emim_trainer_save(T, path) == EMIM_OK, "%s", emim_error(ctx));
    emim_trainer_free(T);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 16);
    ck_assert_int_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    /* hidden 24 -> 240 (still divisible by the heads and within the limits) */
    static const char from[] = "\\\"hidden\\\":24", to[] = "\\\"hidden\\\":240";
    unsigned char *at = memmem(b, (size_t)n, from, strlen(from));
    ck_assert_ptr_nonnull(at);
    uint64_t hl;
    memcpy(&hl, b, 8);
    hl += 1;
    unsigned char *c = malloc((size_t)n + 1);
    size_t pre = (size_t)(at - b);
    memcpy(c, b, pre);
    memcpy(c, &hl, 8);
    memcpy(c + pre, to, strlen(to));
    memcpy(c + pre + strlen(to), at + strlen(from), (size_t)n - pre - strlen(from));
    f = fopen(path, "wb");
    ck_assert_uint_eq(fwrite(c, 1, (size_t)n + 1, f), (size_t)n + 1);
    fclose(f);
    emim_train_config c2;
    long done;
    ck_assert_int_eq(emim_checkpoint_config(ctx, path, &c2, &done, NULL), EMIM_ERR_IO);
    ck_assert_msg(strstr(emim_error(ctx), path) && strstr(emim_error(ctx), "parameters"), "%s", emim_error(ctx));
    /* another version: the message quotes it (read from the header before it
     * is freed: found by fuzz/fuzz_checkpoint, seen by the sanitizer build) */
    static const char v3[] = "\"version\":\"3\"";
    unsigned char *vat = memmem(b, (size_t)n, v3, strlen(v3));
    ck_assert_ptr_nonnull(vat);
    vat[strlen(v3) - 2] = '7';
    f = fopen(path, "wb");
    ck_assert_uint_eq(fwrite(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    ck_assert_int_eq(emim_checkpoint_config(ctx, path, &c2, &done, NULL), EMIM_ERR_IO);
    ck_assert_msg(strstr(emim_error(ctx), "checkpoint version 7,"), "%s", emim_error(ctx));
    unlink(path);
    free(b);
    free(c);
    emim_ctx_free(ctx);
}
END_TEST

/* ---- data parallel ranks, in one process: a comm over threads ----
 * The collectives of emim_comm over shared memory: each rank publishes its
 * buffers, all wait, each copies what is its, all wait. */
enum { MAXR = 4 };
typedef struct {
    pthread_barrier_t bar;
    const float *send[MAXR];
    const size_t *scount[MAXR], *sdispl[MAXR];
} tcomm_shared;

static emim_status t_alltoallv(emim_comm *c, const float *send, const size_t *scount, const size_t *sdispl,
                               float *recv, const size_t *rcount, const size_t *rdispl)
{
    tcomm_shared *sh = c->user;
    sh->send[c->rank] = send;
    sh->scount[c->rank] = scount;
    sh->sdispl[c->rank] = sdispl;
    pthread_barrier_wait(&sh->bar);
    for (int q = 0; q < c->size; q++) {
        ck_assert_uint_eq(sh->scount[q][c->rank], rcount[q]);
        memcpy(recv + rdispl[q], sh->send[q] + sh->sdispl[q][c->rank], rcount[q] * sizeof *recv);
    }
    pthread_barrier_wait(&sh->bar);
    return EMIM_OK;
}

static emim_status t_allgatherv(emim_comm *c, const float *send, float *recv, const size_t *count,
                                const size_t *displ)
{
    tcomm_shared *sh = c->user;
    sh->send[c->rank] = send;
    pthread_barrier_wait(&sh->bar);
    for (int q = 0; q < c->size; q++) memcpy(recv + displ[q], sh->send[q], count[q] * sizeof *recv);
    pthread_barrier_wait(&sh->bar);
    return EMIM_OK;
}

static emim_status t_allreduce(emim_comm *c, float *buf, size_t n)
{
    tcomm_shared *sh = c->user;
    float *mine = malloc(n * sizeof *mine);
    memcpy(mine, buf, n * sizeof *buf);
    sh->send[c->rank] = mine;
    pthread_barrier_wait(&sh->bar);
    for (size_t i = 0; i < n; i++) {
        float a = 0;
        for (int q = 0; q < c->size; q++) a += sh->send[q][i];
        buf[i] = a;
    }
    pthread_barrier_wait(&sh->bar);
    free(mine);
    return EMIM_OK;
}

typedef struct {
    emim_comm comm;
    emim_backend_kind backend;
    emim_mode mode;
    int batch, micro, steps;
    float *loss;     /* [steps] */
    float *params;   /* out: the final weights */
    size_t np;
} rank_job;

/* One rank's run: phantoms of the whole batch made, its own samples passed. */
static void *rank_run(void *arg)
{
    rank_job *j = arg;
    emim_ctx *ctx = test_ctx(j->backend, j->mode, 1, NULL, 0);
    ck_assert_ptr_nonnull(ctx);
    emim_train_config t;
    micro(&t);
    t.batch = j->batch;
    t.micro = j->micro;
    emim_trainer *T = NULL;
    ck_assert_msg(emim_trainer_create(ctx, &t, &T) == EMIM_OK, "%s", emim_error(ctx));
    ck_assert_msg(emim_trainer_set_comm(T, j->comm.size > 1 ? &j->comm : NULL) == EMIM_OK, "%s", emim_error(ctx));
    int first, count;
    emim_trainer_local_batch(T, &first, &count);
    size_t vol = (size_t)CUBE.C * S * S * S;
    float *img = malloc(vol * t.batch * sizeof *img);
    for (int s = 0; s < j->steps; s++) {
        phantoms(img, &t, s);
        emim_step_stats st;
        ck_assert_msg(emim_trainer_step(T, img + (size_t)first * vol, &st) == EMIM_OK, "%s", emim_error(ctx));
        j->loss[s] = st.loss;
    }
    j->np = emim_trainer_layout(T)->total;
    j->params = malloc(j->np * sizeof *j->params);
    ck_assert_int_eq(emim_buf_read(emim_trainer_params(T), 0, j->np, j->params), EMIM_OK);
    free(img);
    emim_trainer_free(T);
    emim_ctx_free(ctx);
    return NULL;
}

/* R ranks (threads) train batch B in micro-batches of m: every rank's
 * losses and weights; rank 0's returned (the caller frees). */
static void ranks_run(int R, emim_backend_kind backend, emim_mode mode, int B, int m, int steps, float *loss,
                      float **params, size_t *np)
{
    tcomm_shared sh;
    pthread_barrier_init(&sh.bar, NULL, (unsigned)R);
    rank_job job[MAXR];
    pthread_t th[MAXR];
    float ls[MAXR][8];
    for (int r = 0; r < R; r++) {
        job[r] = (rank_job){ { r, R, &sh, t_alltoallv, t_allgatherv, t_allreduce }, backend, mode, B, m, steps,
                             ls[r], NULL, 0 };
        ck_assert_int_eq(pthread_create(&th[r], NULL, rank_run, &job[r]), 0);
    }
    for (int r = 0; r < R; r++) pthread_join(th[r], NULL);
    pthread_barrier_destroy(&sh.bar);
    /* every rank ends with the same weights and reports the same losses */
    for (int r = 1; r < R; r++) {
        ck_assert_int_eq(memcmp(job[r].params, job[0].params, job[0].np * sizeof(float)), 0);
        ck_assert_int_eq(memcmp(ls[r], ls[0], (size_t)steps * sizeof(float)), 0);
        free(job[r].params);
    }
    memcpy(loss, ls[0], (size_t)steps * sizeof *loss);
    *params = job[0].params;
    *np = job[0].np;
}

/* Exact mode: 1, 2, 3 and 4 ranks (3: uneven blocks of micro-batches) give
 * the bits of one process, which differ from the whole batch's in one pass
 * only by the order of the batch's sums. */
START_TEST(ranks_exact)
{
    enum { B = 4, STEPSR = 3 };
    method = METHODS[_i];
    float l1[STEPSR], lr[STEPSR], l0[STEPSR], *p1, *pr, *p0;
    size_t n1, nr, n0;
    ranks_run(1, EMIM_BACKEND_CPU, EMIM_MODE_EXACT, B, 1, STEPSR, l1, &p1, &n1);
    for (int R = 2; R <= 4; R++) {
        ranks_run(R, EMIM_BACKEND_CPU, EMIM_MODE_EXACT, B, 1, STEPSR, lr, &pr, &nr);
        ck_assert_uint_eq(nr, n1);
        ck_assert_msg(!memcmp(pr, p1, n1 * sizeof *p1) && !memcmp(lr, l1, sizeof l1),
                      "%s: %d ranks differ from one process", method, R);
        free(pr);
    }
    /* micro-batches of 2 on 2 ranks: the bits of micro-batches of 2 on one */
    ranks_run(1, EMIM_BACKEND_CPU, EMIM_MODE_EXACT, B, 2, STEPSR, l0, &p0, &n0);
    ranks_run(2, EMIM_BACKEND_CPU, EMIM_MODE_EXACT, B, 2, STEPSR, lr, &pr, &nr);
    ck_assert(!memcmp(pr, p0, n0 * sizeof *p0) && !memcmp(lr, l0, sizeof l0));
    free(pr);
    free(p0);
    /* the whole batch in one pass: the same losses and weights but for
     * rounding (a mean of per-sample gradients either way) */
    ranks_run(1, EMIM_BACKEND_CPU, EMIM_MODE_EXACT, B, 0, STEPSR, l0, &p0, &n0);
    double dmax = 0, pmax = 0;
    for (size_t i = 0; i < n1; i++) {
        dmax = fmax(dmax, fabs((double)p0[i] - p1[i]));
        pmax = fmax(pmax, fabs((double)p0[i]));
    }
    ck_assert_msg(dmax <= 1e-4 * pmax, "%s: micro-batches of 1 vs one pass: weights differ by %g (largest %g)",
                  method, dmax, pmax);
    for (int s = 0; s < STEPSR; s++)
        ck_assert_msg(fabsf(l0[s] - l1[s]) <= 1e-5f * fabsf(l0[s]), "%s: step %d loss %.9g vs %.9g", method, s,
                      (double)l1[s], (double)l0[s]);
    free(p0);
    free(p1);
}
END_TEST

/* Fast mode: ranks agree with each other (allreduce) and with one process
 * but for rounding; OpenCL's exact mode: the CPU's bits across ranks. */
START_TEST(ranks_fast_and_opencl)
{
    enum { B = 4, STEPSR = 2 };
    method = "emim";
    float l1[STEPSR], lr[STEPSR], *p1, *pr;
    size_t n1, nr;
    ranks_run(1, EMIM_BACKEND_CPU, EMIM_MODE_FAST, B, 1, STEPSR, l1, &p1, &n1);
    ranks_run(2, EMIM_BACKEND_CPU, EMIM_MODE_FAST, B, 1, STEPSR, lr, &pr, &nr);
    for (size_t i = 0; i < n1; i++) ck_assert_msg(fabsf(pr[i] - p1[i]) <= 1e-4f, "weight %zu: %g vs %g", i, pr[i], p1[i]);
    free(pr);
    free(p1);
    char why[4096];
    emim_ctx *probe = test_ctx(EMIM_BACKEND_OPENCL, EMIM_MODE_EXACT, 1, why, sizeof why);
    if (!probe) { printf("ranks on OpenCL: skipped (%s)\n", why); return; }
    emim_ctx_free(probe);
    ranks_run(1, EMIM_BACKEND_CPU, EMIM_MODE_EXACT, B, 1, STEPSR, l1, &p1, &n1);
    ranks_run(2, EMIM_BACKEND_OPENCL, EMIM_MODE_EXACT, B, 1, STEPSR, lr, &pr, &nr);
    ck_assert(!memcmp(pr, p1, n1 * sizeof *p1) && !memcmp(lr, l1, sizeof l1));
    free(pr);
    free(p1);
}
END_TEST

/* Bad groups: more ranks than micro-batches. */
START_TEST(ranks_bad)
{
    method = "emim";
    emim_ctx *ctx = test_ctx(EMIM_BACKEND_CPU, EMIM_MODE_EXACT, 1, NULL, 0);
    emim_train_config t;
    micro(&t);
    t.batch = 4;
    t.micro = 2;
    emim_trainer *T = NULL;
    ck_assert_int_eq(emim_trainer_create(ctx, &t, &T), EMIM_OK);
    emim_comm c = { 0, 3, NULL, t_alltoallv, t_allgatherv, t_allreduce };
    ck_assert_int_eq(emim_trainer_set_comm(T, &c), EMIM_ERR_ARG);
    ck_assert_msg(strstr(emim_error(ctx), "3 processes but only 2 micro-batches"), "%s", emim_error(ctx));
    c.rank = 5;
    ck_assert_int_eq(emim_trainer_set_comm(T, &c), EMIM_ERR_ARG);
    emim_trainer_free(T);
    t.micro = 3;
    ck_assert_int_eq(emim_trainer_create(ctx, &t, &T), EMIM_ERR_ARG);
    ck_assert_msg(strstr(emim_error(ctx), "micro-batch 3 must divide the batch 4"), "%s", emim_error(ctx));
    /* the tree's shape */
    ck_assert_int_eq(emim_tree_mid(0, 2), 1);
    ck_assert_int_eq(emim_tree_mid(0, 3), 2);
    ck_assert_int_eq(emim_tree_mid(0, 4), 2);
    ck_assert_int_eq(emim_tree_mid(4, 11), 8);
    emim_ctx_free(ctx);
}
END_TEST

/* A batch (from an option or a checkpoint's configuration: both within the
 * limits) whose buffers would pass the context's memory cap is refused when
 * the trainer is made, with a message saying what to lower, and leaves
 * nothing allocated; one whose host tokens would pass what the process may
 * use is refused before they are allocated. */
START_TEST(batch_over_memory)
{
    emim_options o;
    emim_options_init(&o, NULL, 0);
    o.backend = EMIM_BACKEND_CPU;
    o.mem_limit = (size_t)64 << 20;
    emim_ctx *ctx = NULL;
    ck_assert_int_eq(emim_ctx_create(&ctx, &o, NULL, 0), EMIM_OK);
    for (int k = 0; k < NMETHODS; k++) {
        method = METHODS[k];
        emim_train_config t;
        micro(&t);
        t.batch = 8192; /* 8192 x 8 tokens of 2048 values: 512 MiB of tokens alone */
        if (!strcmp(method, "moco")) ck_assert_int_eq(emim_train_config_set(&t, "queue", 8192, NULL, 0), EMIM_OK);
        emim_trainer *T = NULL;
        ck_assert_int_eq(emim_trainer_create(ctx, &t, &T), EMIM_ERR_NOMEM);
        ck_assert_ptr_null(T);
        const char *e = emim_error(ctx);
        ck_assert_msg(strstr(e, "a batch of 8192") && strstr(e, "does not fit") && strstr(e, "memory cap of 0.0625 GiB")
                      && strstr(e, "lower the batch"), "%s", e);
        size_t used;
        ck_assert_uint_eq(emim_mem_limit(ctx, &used, NULL), (size_t)64 << 20);
        ck_assert_uint_eq(used, 0);
        t.batch = 2; /* the same context still trains a batch that fits */
        ck_assert_msg(emim_trainer_create(ctx, &t, &T) == EMIM_OK, "%s", emim_error(ctx));
        emim_trainer_free(T);
    }
    /* host tokens: 65536 samples of 8 tokens of 2048 values take 4 GiB:
     * refused when the process may use less (ulimit -v 1 GiB here) */
    if (!getenv("EMIM_TEST_NO_MEMCAP")) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            struct rlimit r = { (rlim_t)1 << 30, (rlim_t)1 << 30 };
            struct rlimit cur;
            getrlimit(RLIMIT_AS, &cur);
            if (cur.rlim_cur != RLIM_INFINITY && cur.rlim_cur < r.rlim_cur) _exit(3);
            emim_train_config t;
            method = "emim";
            micro(&t);
            t.batch = 65536;
            emim_options q;
            emim_options_init(&q, NULL, 0);
            q.backend = EMIM_BACKEND_CPU;
            q.threads = 1;
            emim_ctx *c2 = NULL;
            if (emim_ctx_create(&c2, &q, NULL, 0)) _exit(4);
            if (setrlimit(RLIMIT_AS, &r)) _exit(5);
            emim_trainer *T = NULL;
            emim_status st = emim_trainer_create(c2, &t, &T);
            const char *e = emim_error(c2);
            _exit(st == EMIM_ERR_NOMEM && strstr(e, "a batch of 65536 needs") && strstr(e, "ulimit -v") ? 0 : 6);
        }
        int ws;
        ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
        ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "child status %d", ws);
    }
    emim_ctx_free(ctx);
}
END_TEST

/* After the first step, a step allocates nothing: no buffer, no host
 * memory, no OpenCL buffer (scratch comes from the context's workspace) */
static void no_allocs(emim_backend_kind b, emim_mode mode)
{
    char why[4096];
    emim_ctx *ctx = test_ctx(b, mode, 2, why, sizeof why);
    ck_assert_msg(ctx != NULL, "%s", why);
    emim_train_config t;
    micro(&t);
    emim_trainer *T = NULL;
    ck_assert_msg(emim_trainer_create(ctx, &t, &T) == EMIM_OK, "%s", emim_error(ctx));
    size_t vol = (size_t)t.vit.channels * S * S * S;
    float *img = malloc(vol * t.batch * sizeof *img);
    emim_step_stats st;
    phantoms(img, &t, 0);
    ck_assert_msg(emim_trainer_step(T, img, &st) == EMIM_OK, "%s", emim_error(ctx));
    ck_assert_int_eq(emim_finish(ctx), EMIM_OK);
    long bufs = emim_alloc_count(ctx), host = __atomic_load_n(&host_allocs, __ATOMIC_SEQ_CST),
         cl = __atomic_load_n(&cl_allocs, __ATOMIC_SEQ_CST);
    /* no assertion until the counts are read: Check's own bookkeeping allocates */
    emim_status st1 = EMIM_OK;
    int finite = 1;
    for (int s = 1; s < 4 && !st1; s++) {
        st1 = emim_trainer_step(T, img, &st);
        finite &= isfinite(st.loss) != 0;
    }
    if (!st1) st1 = emim_finish(ctx);
    long host2 = __atomic_load_n(&host_allocs, __ATOMIC_SEQ_CST), cl2 = __atomic_load_n(&cl_allocs, __ATOMIC_SEQ_CST);
    ck_assert_msg(st1 == EMIM_OK, "%s", emim_error(ctx));
    ck_assert(finite);
    ck_assert(bufs > 0);
    ck_assert_msg(emim_alloc_count(ctx) == bufs, "%s: %ld buffers allocated in 3 steps after the first", method,
                  emim_alloc_count(ctx) - bufs);
    ck_assert_msg(host2 == host, "%s: %ld host allocations in 3 steps after the first", method, host2 - host);
    ck_assert_msg(cl2 == cl, "%s: %ld OpenCL buffers created in 3 steps after the first", method, cl2 - cl);
    free(img);
    emim_trainer_free(T);
    emim_ctx_free(ctx);
}
START_TEST(no_allocs_cpu)
{
    method = METHODS[_i];
    no_allocs(EMIM_BACKEND_CPU, EMIM_MODE_EXACT);
    no_allocs(EMIM_BACKEND_CPU, EMIM_MODE_FAST);
}
END_TEST
START_TEST(no_allocs_opencl)
{
    method = METHODS[_i];
    no_allocs(EMIM_BACKEND_OPENCL, EMIM_MODE_EXACT);
    no_allocs(EMIM_BACKEND_OPENCL, EMIM_MODE_FAST);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, loss_falls, 0, NMASKED);
    tcase_add_loop_test(tc, exact_threads, 0, NMETHODS);
    tcase_add_loop_test(tc, resume, 0, NMETHODS);
    tcase_add_loop_test(tc, channels_and_grids, 0, NMETHODS);
    tcase_add_test(tc, features_and_pbt_norm);
    tcase_add_loop_test(tc, method_gradients, 0, NMASKED);
    tcase_add_loop_test(tc, joint_gradients, NMASKED, NMETHODS + 1);
    tcase_add_test(tc, joint_refusals);
    tcase_add_test(tc, ema);
    tcase_add_test(tc, method_tables);
    tcase_add_test(tc, pyramid_blocks);
    tcase_add_test(tc, golden_cpu);
    tcase_add_loop_test(tc, no_allocs_cpu, 0, NMETHODS);
    tcase_add_test(tc, hostile_checkpoint_config);
    tcase_add_test(tc, batch_over_memory);
    tcase_add_loop_test(tc, ranks_exact, 0, NMASKED);
    tcase_add_test(tc, ranks_fast_and_opencl);
    tcase_add_test(tc, ranks_bad);
    char why[512];
    emim_ctx *probe = emim_have_opencl() ? test_ctx(EMIM_BACKEND_OPENCL, EMIM_MODE_EXACT, 0, why, sizeof why) : NULL;
    if (probe) {
        emim_ctx_free(probe);
        tcase_add_loop_test(tc, exact_twins, 0, NMETHODS);
        tcase_add_loop_test(tc, exact_twins_aniso2, 0, NMETHODS);
        tcase_add_test(tc, golden_opencl);
        tcase_add_loop_test(tc, no_allocs_opencl, 0, NMETHODS);
    } else {
        printf("no OpenCL device: the CPU/OpenCL comparison does not run\n");
    }
    suite_add_tcase(s, tc);
    return run_suite(s, 0);
}
