/* The golden oracle: a tiny E-MIM step (one pre-norm ViT block, MONAI's
 * layout, on an image and its masked copy; reconstruction MSE + Pyramid
 * Barlow Twins) composed from libemim's ops, against PyTorch's double-
 * precision result in tests/data/oracle.bin (made by tools/make_oracle.py,
 * whose docstring defines the step). Every output and every parameter
 * gradient must agree to a relative error of 1e-5 (|diff| <= 1e-5 * the
 * tensor's largest magnitude), on the CPU twin and, when there is a device,
 * on OpenCL, in fast and exact mode. */
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

static otensor ot[128];
static int not;

static int load_oracle(const char *path, char *why, size_t whylen)
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
        otensor *t = &ot[not++];
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

static const otensor *get(const char *name)
{
    for (int i = 0; i < not; i++)
        if (!strcmp(ot[i].name, name)) return &ot[i];
    ck_abort_msg("oracle has no tensor %s", name);
    return NULL;
}

/* ---- the model, from the ops ---- */
enum { C = 2, H = 8, W = 8, DZ = 4, P = 4, N = 4, PD = 128, HID = 16, HEADS = 2, MLP = 32 };

static const char *pnames[] = { "w_pe", "b_pe", "pos", "ln1_w", "ln1_b", "w_qkv", "w_o", "b_o", "ln2_w",
                                "ln2_b", "w_1", "b_1", "w_2", "b_2", "ln_w", "ln_b", "w_g", "b_g" };
enum { NP = sizeof pnames / sizeof pnames[0] };

typedef struct {
    emim_ctx *ctx;
    emim_buf *par, *grad;      /* one arena each */
    size_t off[NP], len[NP];
} model;

static emim_ref pr(model *m, int i) { return emim_at(m->par, m->off[i]); }
static emim_ref gr(model *m, int i) { return emim_at(m->grad, m->off[i]); }
enum { W_PE, B_PE, POS, LN1_W, LN1_B, W_QKV, W_O, B_O, LN2_W, LN2_B, W_1, B_1, W_2, B_2, LN_W, LN_B, W_G, B_G };

/* a zeroed activation buffer */
static emim_ref act(emim_ctx *ctx, size_t n)
{
    emim_buf *b = NULL;
    ck_assert_int_eq(emim_buf_alloc(ctx, n, &b), EMIM_OK);
    ck_assert_int_eq(emim_buf_zero(b, 0, n), EMIM_OK);
    return emim_at(b, 0);
}

#define OK(call) ck_assert_msg((call) == EMIM_OK, "%s: %s", #call, emim_error(ctx))

typedef struct {
    emim_ref tok, h0, ln1, m1, r1, qkv, att, p, a, h1, ln2, m2, r2, f1, g1, f2, h2, z, m3, r3;
} acts;

static void encoder_forward(model *md, acts *s, emim_ref tok)
{
    emim_ctx *ctx = md->ctx;
    s->tok = tok;
    s->h0 = act(ctx, N * HID); s->ln1 = act(ctx, N * HID); s->m1 = act(ctx, N); s->r1 = act(ctx, N);
    s->qkv = act(ctx, N * 3 * HID); s->att = act(ctx, N * HID); s->p = act(ctx, HEADS * N * N);
    s->a = act(ctx, N * HID); s->h1 = act(ctx, N * HID); s->ln2 = act(ctx, N * HID); s->m2 = act(ctx, N);
    s->r2 = act(ctx, N); s->f1 = act(ctx, N * MLP); s->g1 = act(ctx, N * MLP); s->f2 = act(ctx, N * HID);
    s->h2 = act(ctx, N * HID); s->z = act(ctx, N * HID); s->m3 = act(ctx, N); s->r3 = act(ctx, N);
    OK(emim_linear(ctx, s->h0, tok, pr(md, W_PE), pr(md, B_PE), N, PD, HID));
    OK(emim_bias_add(ctx, s->h0, s->h0, pr(md, POS), 1, N * HID));
    OK(emim_layernorm(ctx, s->ln1, s->m1, s->r1, s->h0, pr(md, LN1_W), pr(md, LN1_B), N, HID, 1e-5f));
    OK(emim_linear(ctx, s->qkv, s->ln1, pr(md, W_QKV), emim_at(NULL, 0), N, HID, 3 * HID));
    OK(emim_attention(ctx, s->att, s->p, s->qkv, 1, N, HID, HEADS));
    OK(emim_linear(ctx, s->a, s->att, pr(md, W_O), pr(md, B_O), N, HID, HID));
    OK(emim_add(ctx, s->h1, s->h0, s->a, N * HID));
    OK(emim_layernorm(ctx, s->ln2, s->m2, s->r2, s->h1, pr(md, LN2_W), pr(md, LN2_B), N, HID, 1e-5f));
    OK(emim_linear(ctx, s->f1, s->ln2, pr(md, W_1), pr(md, B_1), N, HID, MLP));
    OK(emim_gelu(ctx, s->g1, s->f1, N * MLP));
    OK(emim_linear(ctx, s->f2, s->g1, pr(md, W_2), pr(md, B_2), N, MLP, HID));
    OK(emim_add(ctx, s->h2, s->h1, s->f2, N * HID));
    OK(emim_layernorm(ctx, s->z, s->m3, s->r3, s->h2, pr(md, LN_W), pr(md, LN_B), N, HID, 1e-5f));
}

/* accumulates every parameter gradient from dz */
static void encoder_backward(model *md, acts *s, emim_ref dz)
{
    emim_ctx *ctx = md->ctx;
    emim_ref none = emim_at(NULL, 0);
    emim_ref dh2 = act(ctx, N * HID), dh1 = act(ctx, N * HID), df2 = act(ctx, N * HID), dg1 = act(ctx, N * MLP);
    emim_ref df1 = act(ctx, N * MLP), dln2 = act(ctx, N * HID), dh0 = act(ctx, N * HID), da = act(ctx, N * HID);
    emim_ref datt = act(ctx, N * HID), dqkv = act(ctx, N * 3 * HID), dln1 = act(ctx, N * HID);
    OK(emim_layernorm_backward(ctx, dh2, gr(md, LN_W), gr(md, LN_B), dz, s->h2, pr(md, LN_W), s->m3, s->r3, N, HID));
    OK(emim_add_backward(ctx, dh1, df2, dh2, N * HID));
    OK(emim_linear_backward(ctx, dg1, gr(md, W_2), gr(md, B_2), s->g1, pr(md, W_2), df2, N, MLP, HID));
    OK(emim_gelu_backward(ctx, df1, s->f1, dg1, N * MLP));
    OK(emim_linear_backward(ctx, dln2, gr(md, W_1), gr(md, B_1), s->ln2, pr(md, W_1), df1, N, HID, MLP));
    OK(emim_layernorm_backward(ctx, dh1, gr(md, LN2_W), gr(md, LN2_B), dln2, s->h1, pr(md, LN2_W), s->m2, s->r2, N, HID));
    OK(emim_add_backward(ctx, dh0, da, dh1, N * HID));
    OK(emim_linear_backward(ctx, datt, gr(md, W_O), gr(md, B_O), s->att, pr(md, W_O), da, N, HID, HID));
    OK(emim_attention_backward(ctx, dqkv, s->qkv, s->p, datt, 1, N, HID, HEADS));
    OK(emim_linear_backward(ctx, dln1, gr(md, W_QKV), none, s->ln1, pr(md, W_QKV), dqkv, N, HID, 3 * HID));
    OK(emim_layernorm_backward(ctx, dh0, gr(md, LN1_W), gr(md, LN1_B), dln1, s->h0, pr(md, LN1_W), s->m1, s->r1, N, HID));
    OK(emim_bias_add_backward(ctx, none, gr(md, POS), dh0, 1, N * HID));
    OK(emim_linear_backward(ctx, none, gr(md, W_PE), gr(md, B_PE), s->tok, pr(md, W_PE), dh0, N, PD, HID));
}

static emim_ref upload(emim_ctx *ctx, const char *name)
{
    const otensor *t = get(name);
    emim_ref r = act(ctx, t->n);
    ck_assert_int_eq(emim_buf_write(r.buf, 0, t->n, t->v), EMIM_OK);
    return r;
}

static double compare(emim_ctx *ctx, emim_buf *b, size_t off, const char *name, const char *label)
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
    (void)ctx;
    return worst;
}

static void run_step(emim_backend_kind backend, emim_mode mode)
{
    char why[4096], label[64];
    emim_ctx *ctx = test_ctx(backend, mode, 2, why, sizeof why);
    ck_assert_msg(ctx != NULL, "%s", why);
    snprintf(label, sizeof label, "%s %s", emim_backend_name(ctx), mode == EMIM_MODE_EXACT ? "exact" : "fast");
    model md = { .ctx = ctx };
    size_t total = 0;
    for (int i = 0; i < NP; i++) {
        md.off[i] = total;
        md.len[i] = get(pnames[i])->n;
        total += md.len[i];
    }
    ck_assert_int_eq(emim_buf_alloc(ctx, total, &md.par), EMIM_OK);
    ck_assert_int_eq(emim_buf_alloc(ctx, total, &md.grad), EMIM_OK);
    ck_assert_int_eq(emim_buf_zero(md.grad, 0, total), EMIM_OK);
    for (int i = 0; i < NP; i++) ck_assert_int_eq(emim_buf_write(md.par, md.off[i], md.len[i], get(pnames[i])->v), EMIM_OK);

    emim_ref tok = upload(ctx, "tokens"), xm_tok = upload(ctx, "x_m_tokens");
    /* the tokens of the image are patchify(x): check our patch order too */
    emim_ref x = upload(ctx, "x"), tok2 = act(ctx, N * PD);
    OK(emim_patchify(ctx, tok2, x, 1, C, H, W, DZ, P));
    compare(ctx, tok2.buf, tok2.off, "tokens", label);

    acts sx, sm;
    encoder_forward(&md, &sx, tok);
    encoder_forward(&md, &sm, xm_tok);
    emim_ref g = act(ctx, N * PD), mim = act(ctx, 1), pbt = act(ctx, 1), cache = act(ctx, emim_pbt_cache_size(1, N, HID));
    OK(emim_linear(ctx, g, sm.z, pr(&md, W_G), pr(&md, B_G), N, HID, PD));
    OK(emim_mse(ctx, mim, g, tok, emim_at(NULL, 0), N * PD));
    float w_pbt = get("w_pbt")->v[0], w_off = get("w_off")->v[0];
    OK(emim_pbt(ctx, pbt, sx.z, sm.z, cache, w_off, 1, N, HID));
    compare(ctx, sx.z.buf, sx.z.off, "z", label);
    compare(ctx, sm.z.buf, sm.z.off, "z_m", label);
    compare(ctx, g.buf, g.off, "g", label);
    compare(ctx, mim.buf, mim.off, "mim", label);
    compare(ctx, pbt.buf, pbt.off, "pbt", label);
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
    OK(emim_linear_backward(ctx, dzm, gr(&md, W_G), gr(&md, B_G), sm.z, pr(&md, W_G), dg, N, HID, PD));
    OK(emim_pbt_backward(ctx, dz, dzm, cache, dpbt, w_off, 1, N, HID));
    encoder_backward(&md, &sx, dz);
    encoder_backward(&md, &sm, dzm);
    double worst = 0;
    for (int i = 0; i < NP; i++) {
        char gname[80];
        snprintf(gname, sizeof gname, "grad_%s", pnames[i]);
        worst = fmax(worst, compare(ctx, md.grad, md.off[i], gname, label));
    }
    printf("%s: loss %.9g (oracle %.9g); every output and gradient within %.2g of its largest magnitude\n", label,
           loss, want, worst);
    /* the buffers of this step are released with the context */
    emim_ctx_free(ctx);
}

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
    if (load_oracle(path, why, sizeof why)) {
        fprintf(stderr, "check_oracle: %s\n", why);
        return 1;
    }
    Suite *s = suite_create("oracle");
    TCase *tc = tcase_create("oracle");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, oracle_cpu_fast);
    tcase_add_test(tc, oracle_cpu_exact);
    emim_ctx *probe = emim_have_opencl() ? test_ctx(EMIM_BACKEND_OPENCL, EMIM_MODE_FAST, 0, why, sizeof why) : NULL;
    if (probe) {
        emim_ctx_free(probe);
        tcase_add_test(tc, oracle_opencl_fast);
        tcase_add_test(tc, oracle_opencl_exact);
    } else {
        printf("no OpenCL device: the oracle runs on the CPU twin only\n");
    }
    suite_add_tcase(s, tc);
    return run_suite(s, 0);
}
