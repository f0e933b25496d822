/* The golden oracles. First a tiny E-MIM step (the library's ViT encoder with one
 * pre-norm block, MONAI's layout and names, on an image and its masked copy;
 * reconstruction MSE + Pyramid Barlow Twins from the ops), against PyTorch's double-
 * precision result in tests/data/oracle.bin (made by tools/make_oracle.py,
 * whose docstring defines the step). Every output and every parameter
 * gradient must agree to a relative error of 1e-5 (|diff| <= 1e-5 * the
 * tensor's largest magnitude), on the CPU twin and, when there is a device,
 * on OpenCL, in fast and exact mode. Then the trainer's own step (PBT on the
 * hidden states before the final norm, as means; 2 blocks, anisotropic
 * patches) against tests/data/oracle-step.bin (tools/make_oracle_step.py).
 * Last the joint-embedding methods' ops one by one (batch norm with and
 * without affine, cross-entropy with a temperature, region pooling, ZCA
 * whitening with its running statistics, rsqrt, add_diag), forward and
 * backward, against tests/data/oracle-joint.bin (tools/make_oracle_joint.py,
 * whose docstring defines each case), to the same tolerance. */
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---- the oracle file ---- */
typedef struct {
    char name[64];
    int ndim, dims[8];
    size_t n;
    float *v;
} otensor;

typedef struct {
    otensor t[128];
    int n;
} oracle;
static oracle ops_oracle, step_oracle, joint_oracle, *cur = &ops_oracle;

static int load_oracle(oracle *o, const char *path, char *why, size_t whylen)
{
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(why, whylen, "%s: cannot open", path); return -1; }
    char magic[8];
    uint32_t ver, count;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "EMIMORCL", 8) || fread(&ver, 4, 1, f) != 1 || ver != 1 ||
        fread(&count, 4, 1, f) != 1 || count > 128) {
        snprintf(why, whylen, "%s: not an oracle file of version 1", path);
        fclose(f);
        return -1;
    }
    for (uint32_t i = 0; i < count; i++) {
        otensor *t = &o->t[o->n++];
        uint32_t len, nd;
        if (fread(&len, 4, 1, f) != 1 || len >= sizeof t->name || fread(t->name, 1, len, f) != len ||
            fread(&nd, 4, 1, f) != 1 || nd > 8) {
            snprintf(why, whylen, "%s: truncated or corrupt at tensor %u", path, i);
            fclose(f);
            return -1;
        }
        t->name[len] = 0;
        t->ndim = (int)nd;
        t->n = 1;
        for (uint32_t k = 0; k < nd; k++) {
            uint32_t d;
            if (fread(&d, 4, 1, f) != 1) { snprintf(why, whylen, "%s: truncated", path); fclose(f); return -1; }
            t->dims[k] = (int)d;
            t->n *= d;
        }
        t->v = malloc(t->n * sizeof(float));
        if (fread(t->v, sizeof(float), t->n, f) != t->n) {
            snprintf(why, whylen, "%s: truncated in %s", path, t->name);
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return 0;
}

/* a tensor of the current oracle */
static const otensor *get(const char *name)
{
    for (int i = 0; i < cur->n; i++)
        if (!strcmp(cur->t[i].name, name)) return &cur->t[i];
    ck_abort_msg("oracle has no tensor %s", name);
    return NULL;
}

/* ---- the step, from the library's encoder and the loss ops ---- */
enum { C = 2, H = 8, W = 8, DZ = 4, P = 4, N = 4, PD = 128, HID = 16 };

/* the oracle's names of the parameters, and MONAI's */
static const char *names[][2] = {
    { "w_pe", "patch_embedding.patch_embeddings.weight" }, { "b_pe", "patch_embedding.patch_embeddings.bias" },
    { "pos", "patch_embedding.position_embeddings" },      { "ln1_w", "blocks.0.norm1.weight" },
    { "ln1_b", "blocks.0.norm1.bias" },                     { "w_qkv", "blocks.0.attn.qkv.weight" },
    { "w_o", "blocks.0.attn.out_proj.weight" },            { "b_o", "blocks.0.attn.out_proj.bias" },
    { "ln2_w", "blocks.0.norm2.weight" },                   { "ln2_b", "blocks.0.norm2.bias" },
    { "w_1", "blocks.0.mlp.linear1.weight" },               { "b_1", "blocks.0.mlp.linear1.bias" },
    { "w_2", "blocks.0.mlp.linear2.weight" },               { "b_2", "blocks.0.mlp.linear2.bias" },
    { "ln_w", "norm.weight" },                              { "ln_b", "norm.bias" },
    { "w_g", "recon.weight" },                              { "b_g", "recon.bias" },
};
enum { NP = sizeof names / sizeof names[0] };

#define OK(call) ck_assert_msg((call) == EMIM_OK, "%s: %s", #call, emim_error(ctx))

/* a zeroed buffer */
static emim_ref act(emim_ctx *ctx, size_t n)
{
    emim_buf *b = NULL;
    ck_assert_int_eq(emim_buf_alloc(ctx, n, &b), EMIM_OK);
    ck_assert_int_eq(emim_buf_zero(b, 0, n), EMIM_OK);
    return emim_at(b, 0);
}

static emim_ref upload(emim_ctx *ctx, const char *name)
{
    const otensor *t = get(name);
    emim_ref r = act(ctx, t->n);
    ck_assert_int_eq(emim_buf_write(r.buf, 0, t->n, t->v), EMIM_OK);
    return r;
}

static double compare(emim_buf *b, size_t off, const char *name, const char *label)
{
    const otensor *t = get(name);
    float *got = malloc(t->n * sizeof(float));
    ck_assert_int_eq(emim_buf_read(b, off, t->n, got), EMIM_OK);
    double big = 0, worst = 0;
    for (size_t e = 0; e < t->n; e++) big = fmax(big, fabs(t->v[e]));
    for (size_t e = 0; e < t->n; e++) {
        ck_assert_msg(isfinite(got[e]), "%s %s[%zu] is not finite", label, name, e);
        worst = fmax(worst, fabs((double)got[e] - t->v[e]) / (big > 0 ? big : 1));
    }
    ck_assert_msg(worst <= 1e-5, "%s: %s differs from the oracle by %.3g of its largest magnitude (limit 1e-5)",
                  label, name, worst);
    free(got);
    return worst;
}

/* E-MIM's head recon.{weight,bias} is the method's, not the encoder's: here
 * it follows the encoder's tensors in the same arena, as in the trainer */
static size_t off_of(const emim_vit_params *lay, const char *name)
{
    if (!strcmp(name, "recon.weight")) return lay->total;
    if (!strcmp(name, "recon.bias")) return lay->total + (size_t)HID * PD;
    const emim_param *t = emim_vit_param(lay, name);
    ck_assert_msg(t != NULL, "no parameter %s", name);
    return t->off;
}
static size_t size_of(const emim_vit_params *lay, const char *name)
{
    if (!strcmp(name, "recon.weight")) return (size_t)HID * PD;
    if (!strcmp(name, "recon.bias")) return PD;
    return emim_vit_param(lay, name)->size;
}

static void run_step(emim_backend_kind backend, emim_mode mode)
{
    char why[4096], label[64];
    emim_ctx *ctx = test_ctx(backend, mode, 2, why, sizeof why);
    ck_assert_msg(ctx != NULL, "%s", why);
    cur = &ops_oracle; /* (a failed test before this one may have left another) */
    snprintf(label, sizeof label, "%s %s", emim_backend_name(ctx), mode == EMIM_MODE_EXACT ? "exact" : "fast");
    emim_vit_config cfg = { .img = { H, W, DZ }, .patch = { P, P, P }, .channels = C, .hidden = HID, .mlp = 32, .heads = 2,
                            .layers = 1, .eps = 1e-5f };
    emim_vit_params lay;
    ck_assert_int_eq(emim_vit_layout(&cfg, &lay), EMIM_OK);
    ck_assert_int_eq(lay.n, NP - 2);
    size_t total = lay.total + (size_t)HID * PD + PD;
    emim_buf *par = NULL, *grad = NULL;
    ck_assert_int_eq(emim_buf_alloc(ctx, total, &par), EMIM_OK);
    ck_assert_int_eq(emim_buf_alloc(ctx, total, &grad), EMIM_OK);
    ck_assert_int_eq(emim_buf_zero(grad, 0, total), EMIM_OK);
    for (int i = 0; i < NP; i++) {
        ck_assert_uint_eq(size_of(&lay, names[i][1]), get(names[i][0])->n);
        ck_assert_int_eq(emim_buf_write(par, off_of(&lay, names[i][1]), get(names[i][0])->n, get(names[i][0])->v),
                         EMIM_OK);
    }
    emim_ref tok = upload(ctx, "tokens"), xm_tok = upload(ctx, "x_m_tokens");
    /* the tokens of the image are patchify(x): our patch order is PyTorch's reshape */
    emim_ref x = upload(ctx, "x"), tok2 = act(ctx, N * PD);
    const int PP[3] = { P, P, P };
    OK(emim_patchify(ctx, tok2, x, 1, C, H, W, DZ, PP));
    compare(tok2.buf, tok2.off, "tokens", label);

    emim_vit_acts *ax = NULL, *am = NULL;
    OK(emim_vit_acts_create(ctx, &cfg, 1, &ax));
    OK(emim_vit_acts_create(ctx, &cfg, 1, &am));
    OK(emim_vit_forward(ctx, &lay, par, ax, tok));
    OK(emim_vit_forward(ctx, &lay, par, am, xm_tok));
    emim_ref z = emim_vit_acts_output(ax), zm = emim_vit_acts_output(am);
    emim_ref rw = emim_at(par, off_of(&lay, "recon.weight")), rb = emim_at(par, off_of(&lay, "recon.bias"));
    emim_ref g = act(ctx, N * PD), mim = act(ctx, 1), pbt = act(ctx, 1), cache = act(ctx, emim_pbt_cache_size(1, N, HID));
    OK(emim_linear(ctx, g, zm, rw, rb, N, HID, PD));
    OK(emim_mse(ctx, mim, g, tok, emim_at(NULL, 0), N * PD));
    float w_pbt = get("w_pbt")->v[0], w_off = get("w_off")->v[0];
    OK(emim_pbt(ctx, pbt, z, zm, cache, w_off, 1, N, HID));
    compare(z.buf, z.off, "z", label);
    compare(zm.buf, zm.off, "z_m", label);
    compare(g.buf, g.off, "g", label);
    compare(mim.buf, mim.off, "mim", label);
    compare(pbt.buf, pbt.off, "pbt", label);
    float lm, lp;
    ck_assert_int_eq(emim_buf_read(mim.buf, mim.off, 1, &lm), EMIM_OK);
    ck_assert_int_eq(emim_buf_read(pbt.buf, pbt.off, 1, &lp), EMIM_OK);
    double loss = (double)lm + (double)w_pbt * lp, want = get("loss")->v[0];
    ck_assert_msg(fabs(loss - want) <= 1e-5 * fabs(want), "%s: loss %.9g, oracle %.9g", label, loss, want);

    /* backward: d loss / d mim = 1, d loss / d pbt = w_pbt */
    emim_ref dmim = act(ctx, 1), dpbt = act(ctx, 1), dg = act(ctx, N * PD), dz = act(ctx, N * HID), dzm = act(ctx, N * HID);
    const float one = 1.0f;
    ck_assert_int_eq(emim_buf_write(dmim.buf, 0, 1, &one), EMIM_OK);
    ck_assert_int_eq(emim_buf_write(dpbt.buf, 0, 1, &w_pbt), EMIM_OK);
    OK(emim_mse_backward(ctx, dg, emim_at(NULL, 0), g, tok, emim_at(NULL, 0), dmim, N * PD));
    OK(emim_linear_backward(ctx, dzm, emim_at(grad, off_of(&lay, "recon.weight")),
                            emim_at(grad, off_of(&lay, "recon.bias")), zm, rw, dg, N, HID, PD));
    OK(emim_pbt_backward(ctx, dz, dzm, cache, dpbt, w_off, 1, N, HID));
    OK(emim_vit_backward(ctx, &lay, par, grad, ax, dz, NULL));
    OK(emim_vit_backward(ctx, &lay, par, grad, am, dzm, NULL));
    double worst = 0;
    for (int i = 0; i < NP; i++) {
        char gname[80];
        snprintf(gname, sizeof gname, "grad_%s", names[i][0]);
        worst = fmax(worst, compare(grad, off_of(&lay, names[i][1]), gname, label));
    }
    printf("%s: loss %.9g (oracle %.9g); every output and gradient within %.2g of its largest magnitude\n", label,
           loss, want, worst);
    emim_vit_acts_free(ax);
    emim_vit_acts_free(am);
    emim_vit_layout_free(&lay);
    emim_ctx_free(ctx); /* frees the remaining buffers */
}

/* ---- the trainer's own step (emim_trainer_step_masks) against
 * tests/data/oracle-step.bin (tools/make_oracle_step.py): 2 blocks,
 * anisotropic patches, PBT on the hidden states before the final norm as
 * means; lr 0 and no clipping, so the gradients are the step's */
static void run_trainer(emim_backend_kind backend, emim_mode mode)
{
    char why[4096], label[64];
    emim_ctx *ctx = test_ctx(backend, mode, 2, why, sizeof why);
    ck_assert_msg(ctx != NULL, "%s", why);
    cur = &step_oracle;
    snprintf(label, sizeof label, "trainer %s %s", emim_backend_name(ctx), mode == EMIM_MODE_EXACT ? "exact" : "fast");
    emim_vit_config v = { .img = { 8, 8, 4 }, .patch = { 4, 4, 2 }, .channels = 2, .hidden = 16, .mlp = 32,
                          .heads = 2, .layers = 2, .eps = 1e-5f };
    emim_train_config t;
    OK(emim_train_config_default(&t, &v, "emim"));
    t.batch = 1;
    OK(emim_train_config_set(&t, "levels", 2, NULL, 0));
    OK(emim_train_config_set(&t, "pbt-norm", EMIM_PBT_MEAN, NULL, 0));
    OK(emim_train_config_set(&t, "w-pbt", get("w_pbt")->v[0], NULL, 0));
    OK(emim_train_config_set(&t, "w-off", get("w_off")->v[0], NULL, 0));
    t.optim.lr = 0;
    t.optim.weight_decay = 0;
    t.optim.clip = 0;
    t.sched.warmup = 0;
    t.sched.steps = 1;
    emim_trainer *T = NULL;
    OK(emim_trainer_create(ctx, &t, &T));
    const emim_vit_params *lay = emim_trainer_layout(T);
    for (int i = 0; i < lay->n; i++) {
        const otensor *o = get(lay->t[i].name);
        ck_assert_uint_eq(o->n, lay->t[i].size);
        OK(emim_buf_write(emim_trainer_params(T), lay->t[i].off, o->n, o->v));
    }
    const otensor *m = get("mask");
    uint8_t mask[2 * 8];
    for (int k = 0; k < 16; k++) mask[k] = m->v[k] != 0;
    emim_step_stats st;
    OK(emim_trainer_step_masks(T, get("x")->v, mask, &st));
    const double want[3] = { get("mim")->v[0], get("pbt")->v[0], get("loss")->v[0] }, got[3] = { st.value[0], st.value[1], st.loss };
    static const char *what[3] = { "mim", "pbt", "loss" };
    for (int k = 0; k < 3; k++)
        ck_assert_msg(fabs(got[k] - want[k]) <= 1e-5 * fabs(want[k]), "%s: %s %.9g, oracle %.9g", label, what[k], got[k],
                      want[k]);
    /* the output features of the unmasked pass (lr 0: the weights are
     * unchanged), and every gradient */
    float z[8 * 16];
    OK(emim_trainer_features(T, get("x")->v, -1, 0, z));
    emim_buf *zb = NULL;
    OK(emim_buf_alloc(ctx, 8 * 16, &zb));
    OK(emim_buf_write(zb, 0, 8 * 16, z));
    compare(zb, 0, "z", label);
    double worst = 0;
    for (int i = 0; i < lay->n; i++) {
        char gname[96];
        snprintf(gname, sizeof gname, "grad/%s", lay->t[i].name);
        worst = fmax(worst, compare(emim_trainer_grads(T), lay->t[i].off, gname, label));
    }
    printf("%s: loss %.9g (oracle %.9g); every gradient within %.2g of its largest magnitude\n", label, st.loss,
           want[2], worst);
    emim_trainer_free(T);
    emim_ctx_free(ctx);
    cur = &ops_oracle;
}

/* ---- the joint-embedding ops against tests/data/oracle-joint.bin
 * (tools/make_oracle_joint.py): each case's inputs uploaded, the forward's
 * outputs (and what it leaves for the backward where the API documents it)
 * and the backward's gradients compared; every gradient buffer starts at
 * zero, so "+=" gives the gradient itself. Returns the worst relative error
 * of the case. */

/* the oracle's dimension k of a tensor, checked against its rank */
static int dim(const char *name, int ndim, int k)
{
    const otensor *t = get(name);
    ck_assert_msg(t->ndim == ndim, "oracle tensor %s has %d dimensions, not %d", name, t->ndim, ndim);
    return t->dims[k];
}

/* batch norm over the rows with batch statistics: out, mean, rstd; dx, dw,
 * db; then without affine (w = b = NULL): out and dx */
static double joint_bn(emim_ctx *ctx, const char *label)
{
    const int n = dim("bn/x", 2, 0), d = dim("bn/x", 2, 1);
    const float eps = get("bn/eps")->v[0];
    emim_ref x = upload(ctx, "bn/x"), w = upload(ctx, "bn/w"), b = upload(ctx, "bn/b"), dout = upload(ctx, "bn/dout");
    emim_ref out = act(ctx, (size_t)n * d), mean = act(ctx, d), rstd = act(ctx, d);
    emim_ref dx = act(ctx, (size_t)n * d), dw = act(ctx, d), db = act(ctx, d), none = emim_at(NULL, 0);
    OK(emim_batchnorm(ctx, out, mean, rstd, x, w, b, n, d, eps));
    double worst = compare(out.buf, out.off, "bn/out", label);
    worst = fmax(worst, compare(mean.buf, mean.off, "bn/mean", label));
    worst = fmax(worst, compare(rstd.buf, rstd.off, "bn/rstd", label));
    OK(emim_batchnorm_backward(ctx, dx, dw, db, dout, x, w, mean, rstd, n, d));
    worst = fmax(worst, compare(dx.buf, dx.off, "bn/dx", label));
    worst = fmax(worst, compare(dw.buf, dw.off, "bn/dw", label));
    worst = fmax(worst, compare(db.buf, db.off, "bn/db", label));

    emim_ref out0 = act(ctx, (size_t)n * d), mean0 = act(ctx, d), rstd0 = act(ctx, d), dx0 = act(ctx, (size_t)n * d);
    OK(emim_batchnorm(ctx, out0, mean0, rstd0, x, none, none, n, d, eps));
    worst = fmax(worst, compare(out0.buf, out0.off, "bn0/out", label));
    OK(emim_batchnorm_backward(ctx, dx0, none, none, dout, x, none, mean0, rstd0, n, d));
    worst = fmax(worst, compare(dx0.buf, dx0.off, "bn0/dx", label));
    return worst;
}

/* softmax cross-entropy of x / temperature with class-index targets: the
 * mean loss and each row's logsumexp; dx for a device dloss != 1 */
static double joint_ce(emim_ctx *ctx, const char *label)
{
    const int n = dim("ce/x", 2, 0), k = dim("ce/x", 2, 1);
    const float temp = get("ce/temperature")->v[0];
    ck_assert_int_eq(dim("ce/target", 1, 0), n);
    emim_ref x = upload(ctx, "ce/x"), target = upload(ctx, "ce/target"), dloss = upload(ctx, "ce/dloss");
    emim_ref loss = act(ctx, 1), lse = act(ctx, n), dx = act(ctx, (size_t)n * k);
    OK(emim_cross_entropy(ctx, loss, lse, x, target, temp, n, k));
    double worst = compare(loss.buf, loss.off, "ce/loss", label);
    worst = fmax(worst, compare(lse.buf, lse.off, "ce/lse", label));
    OK(emim_cross_entropy_backward(ctx, dx, x, target, lse, dloss, temp, n, k));
    return fmax(worst, compare(dx.buf, dx.off, "ce/dx", label));
}

/* mean pooling of the tokens into regions (a token in no region, an empty
 * region): out; dx (zero for the tokens in no region) */
static double joint_rp(emim_ctx *ctx, const char *label)
{
    const int B = dim("rp/x", 3, 0), Nt = dim("rp/x", 3, 1), Dd = dim("rp/x", 3, 2), R = (int)get("rp/R")->v[0];
    ck_assert_int_eq(dim("rp/region", 1, 0), Nt);
    emim_ref x = upload(ctx, "rp/x"), region = upload(ctx, "rp/region"), dout = upload(ctx, "rp/dout");
    emim_ref out = act(ctx, (size_t)B * R * Dd), dx = act(ctx, (size_t)B * Nt * Dd);
    OK(emim_region_pool(ctx, out, x, region, B, Nt, R, Dd));
    double worst = compare(out.buf, out.off, "rp/out", label);
    OK(emim_region_pool_backward(ctx, dx, region, dout, B, Nt, R, Dd));
    return fmax(worst, compare(dx.buf, dx.off, "rp/dx", label));
}

/* ZCA whitening by Newton's iteration: y, and the cache's W, mu and tr at
 * the offsets emim.h documents; dx; then the running statistics after one
 * update from their start, and the evaluation forward with them */
static double joint_zca(emim_ctx *ctx, const char *label)
{
    const int n = dim("zca/x", 2, 0), d = dim("zca/x", 2, 1), T = (int)get("zca/T")->v[0];
    const float eps = get("zca/eps")->v[0];
    const size_t dd = (size_t)d * d, csize = emim_zca_cache_size(d, T);
    emim_ref x = upload(ctx, "zca/x"), dy = upload(ctx, "zca/dy");
    emim_ref y = act(ctx, (size_t)n * d), cache = act(ctx, csize), dx = act(ctx, (size_t)n * d);
    OK(emim_zca(ctx, y, x, cache, n, d, T, eps));
    double worst = compare(y.buf, y.off, "zca/y", label);
    worst = fmax(worst, compare(cache.buf, cache.off + dd, "zca/W", label));
    worst = fmax(worst, compare(cache.buf, cache.off + csize - d - 3, "zca/mu", label));
    worst = fmax(worst, compare(cache.buf, cache.off + csize - 3, "zca/tr", label));
    OK(emim_zca_backward(ctx, dx, x, cache, dy, n, d, T));
    worst = fmax(worst, compare(dx.buf, dx.off, "zca/dx", label));

    const int n2 = dim("zcar/x", 2, 0);
    ck_assert_int_eq(dim("zcar/x", 2, 1), d);
    emim_ref rmean = act(ctx, d), rW = act(ctx, dd), x2 = upload(ctx, "zcar/x"), y2 = act(ctx, (size_t)n2 * d);
    OK(emim_zca_running_init(ctx, rmean, rW, d));
    OK(emim_zca_running_update(ctx, rmean, rW, cache, get("zcar/momentum")->v[0], d, T));
    worst = fmax(worst, compare(rmean.buf, rmean.off, "zcar/mean", label));
    worst = fmax(worst, compare(rW.buf, rW.off, "zcar/W", label));
    OK(emim_zca_eval(ctx, y2, x2, rmean, rW, n2, d));
    return fmax(worst, compare(y2.buf, y2.off, "zcar/y", label));
}

/* rsqrt: out and da */
static double joint_rsqrt(emim_ctx *ctx, const char *label)
{
    const int n = dim("rsqrt/a", 1, 0);
    emim_ref a = upload(ctx, "rsqrt/a"), dout = upload(ctx, "rsqrt/dout"), out = act(ctx, n), da = act(ctx, n);
    OK(emim_rsqrt(ctx, out, a, n));
    double worst = compare(out.buf, out.off, "rsqrt/out", label);
    OK(emim_rsqrt_backward(ctx, da, a, dout, n));
    return fmax(worst, compare(da.buf, da.off, "rsqrt/da", label));
}

/* add_diag on a wide and a tall matrix: out and da */
static double joint_diag(emim_ctx *ctx, const char *label)
{
    static const char *tags[2] = { "", "2" };
    const float alpha = get("diag/alpha")->v[0];
    double worst = 0;
    for (int i = 0; i < 2; i++) {
        char an[32], dn[32], on[32], gn[32];
        snprintf(an, sizeof an, "diag/a%s", tags[i]);
        snprintf(dn, sizeof dn, "diag/dout%s", tags[i]);
        snprintf(on, sizeof on, "diag/out%s", tags[i]);
        snprintf(gn, sizeof gn, "diag/da%s", tags[i]);
        const int rows = dim(an, 2, 0), cols = dim(an, 2, 1);
        emim_ref a = upload(ctx, an), dout = upload(ctx, dn);
        emim_ref out = act(ctx, (size_t)rows * cols), da = act(ctx, (size_t)rows * cols);
        OK(emim_add_diag(ctx, out, a, alpha, rows, cols));
        worst = fmax(worst, compare(out.buf, out.off, on, label));
        OK(emim_add_diag_backward(ctx, da, dout, rows, cols));
        worst = fmax(worst, compare(da.buf, da.off, gn, label));
    }
    return worst;
}

static void run_joint(emim_backend_kind backend, emim_mode mode)
{
    char why[4096], label[64];
    emim_ctx *ctx = test_ctx(backend, mode, 2, why, sizeof why);
    ck_assert_msg(ctx != NULL, "%s", why);
    cur = &joint_oracle;
    snprintf(label, sizeof label, "joint %s %s", emim_backend_name(ctx), mode == EMIM_MODE_EXACT ? "exact" : "fast");
    static const char *what[] = { "batchnorm", "cross_entropy", "region_pool", "zca", "rsqrt", "add_diag" };
    double (*const cases[])(emim_ctx *, const char *) = { joint_bn, joint_ce, joint_rp, joint_zca, joint_rsqrt,
                                                          joint_diag };
    enum { NC = sizeof cases / sizeof cases[0] };
    double worst[NC];
    for (int i = 0; i < NC; i++) worst[i] = cases[i](ctx, label);
    printf("%s: worst relative error", label);
    for (int i = 0; i < NC; i++) printf(" %s %.2g%s", what[i], worst[i], i + 1 < NC ? "," : "\n");
    emim_ctx_free(ctx); /* frees the buffers */
    cur = &ops_oracle;
}

START_TEST(joint_cpu_fast) { run_joint(EMIM_BACKEND_CPU, EMIM_MODE_FAST); }
END_TEST
START_TEST(joint_cpu_exact) { run_joint(EMIM_BACKEND_CPU, EMIM_MODE_EXACT); }
END_TEST
START_TEST(joint_opencl_fast) { run_joint(EMIM_BACKEND_OPENCL, EMIM_MODE_FAST); }
END_TEST
START_TEST(joint_opencl_exact) { run_joint(EMIM_BACKEND_OPENCL, EMIM_MODE_EXACT); }
END_TEST

START_TEST(trainer_cpu_fast) { run_trainer(EMIM_BACKEND_CPU, EMIM_MODE_FAST); }
END_TEST
START_TEST(trainer_cpu_exact) { run_trainer(EMIM_BACKEND_CPU, EMIM_MODE_EXACT); }
END_TEST
START_TEST(trainer_opencl_exact) { run_trainer(EMIM_BACKEND_OPENCL, EMIM_MODE_EXACT); }
END_TEST

START_TEST(oracle_cpu_fast) { run_step(EMIM_BACKEND_CPU, EMIM_MODE_FAST); }
END_TEST
START_TEST(oracle_cpu_exact) { run_step(EMIM_BACKEND_CPU, EMIM_MODE_EXACT); }
END_TEST
START_TEST(oracle_opencl_fast) { run_step(EMIM_BACKEND_OPENCL, EMIM_MODE_FAST); }
END_TEST
START_TEST(oracle_opencl_exact) { run_step(EMIM_BACKEND_OPENCL, EMIM_MODE_EXACT); }
END_TEST

int main(void)
{
    char why[4096], path[4096];
    const char *src = getenv("EMIM_SRCDIR");
    snprintf(path, sizeof path, "%s/tests/data/oracle.bin", src ? src : ".");
    if (load_oracle(&ops_oracle, path, why, sizeof why)) {
        fprintf(stderr, "check_oracle: %s\n", why);
        return 1;
    }
    snprintf(path, sizeof path, "%s/tests/data/oracle-step.bin", src ? src : ".");
    if (load_oracle(&step_oracle, path, why, sizeof why)) {
        fprintf(stderr, "check_oracle: %s\n", why);
        return 1;
    }
    snprintf(path, sizeof path, "%s/tests/data/oracle-joint.bin", src ? src : ".");
    if (load_oracle(&joint_oracle, path, why, sizeof why)) {
        fprintf(stderr, "check_oracle: %s\n", why);
        return 1;
    }
    Suite *s = suite_create("oracle");
    TCase *tc = tcase_create("oracle");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, oracle_cpu_fast);
    tcase_add_test(tc, oracle_cpu_exact);
    tcase_add_test(tc, trainer_cpu_fast);
    tcase_add_test(tc, trainer_cpu_exact);
    tcase_add_test(tc, joint_cpu_fast);
    tcase_add_test(tc, joint_cpu_exact);
    emim_ctx *probe = emim_have_opencl() ? test_ctx(EMIM_BACKEND_OPENCL, EMIM_MODE_FAST, 0, why, sizeof why) : NULL;
    if (probe) {
        emim_ctx_free(probe);
        tcase_add_test(tc, oracle_opencl_fast);
        tcase_add_test(tc, oracle_opencl_exact);
        tcase_add_test(tc, trainer_opencl_exact);
        tcase_add_test(tc, joint_opencl_fast);
        tcase_add_test(tc, joint_opencl_exact);
    } else {
        printf("no OpenCL device: the oracle runs on the CPU twin only\n");
    }
    suite_add_tcase(s, tc);
    return run_suite(s, 0);
}
