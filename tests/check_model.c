/* The ViT encoder's configuration, MONAI's parameter names and shapes, and
 * MONAI's initialisation (the same bits on both backends). */
#include "testutil.h"

#include <math.h>
#include <string.h>

START_TEST(layout_base)
{
    emim_vit_config c;
    ck_assert_int_eq(emim_vit_preset("base", &c), EMIM_OK);
    ck_assert_int_eq(emim_vit_tokens(&c), 216);
    emim_vit_params p;
    ck_assert_int_eq(emim_vit_layout(&c, &p), EMIM_OK);
    ck_assert_int_eq(p.n, 3 + 11 * 12 + 2);
    /* MONAI's ViT(in_channels=4, img_size=96, patch_size=16, hidden 768, mlp
     * 3072, 12 layers, 12 heads) has 97,777,920 parameters: patch embedding
     * 768*4*4096 + 768, positions 216*768, 12 blocks of 7,085,568, norm 1536;
     * a method's heads are not the encoder's */
    ck_assert_ptr_null(emim_vit_param(&p, "recon.weight"));
    ck_assert_uint_eq(p.total, 97777920u);
    const emim_param *t = emim_vit_param(&p, "patch_embedding.position_embeddings");
    ck_assert(t && t->ndim == 3 && t->shape[0] == 1 && t->shape[1] == 216 && t->shape[2] == 768);
    t = emim_vit_param(&p, "patch_embedding.patch_embeddings.weight");
    ck_assert(t && t->ndim == 5 && t->shape[0] == 768 && t->shape[1] == 4 && t->shape[4] == 16);
    t = emim_vit_param(&p, "blocks.11.attn.qkv.weight");
    ck_assert(t && t->ndim == 2 && t->shape[0] == 2304 && t->shape[1] == 768);
    ck_assert_ptr_null(emim_vit_param(&p, "blocks.0.attn.qkv.bias")); /* no qkv bias, as MONAI's default */
    t = emim_vit_param(&p, "blocks.3.mlp.linear1.weight");
    ck_assert(t && t->shape[0] == 3072 && t->shape[1] == 768);
    ck_assert_ptr_nonnull(emim_vit_param(&p, "norm.bias"));
    /* offsets tile the arena */
    size_t off = 0;
    for (int i = 0; i < p.n; i++) {
        ck_assert_uint_eq(p.t[i].off, off);
        off += p.t[i].size;
    }
    ck_assert_uint_eq(off, p.total);
    emim_vit_layout_free(&p);
}
END_TEST

START_TEST(config_errors)
{
    emim_vit_config c;
    char err[256];
    ck_assert_int_eq(emim_vit_preset("huge", &c), EMIM_ERR_ARG);
    ck_assert_int_eq(emim_vit_preset("tiny", &c), EMIM_OK);
    ck_assert_int_eq(emim_vit_check(&c, err, sizeof err), EMIM_OK);
    c.img[1] = 40;
    ck_assert_int_eq(emim_vit_check(&c, err, sizeof err), EMIM_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err, "W=40"));
    emim_vit_preset("tiny", &c);
    c.heads = 5;
    ck_assert_int_eq(emim_vit_check(&c, err, sizeof err), EMIM_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err, "heads"));
    /* anisotropic: each axis against its own patch */
    emim_vit_preset("tiny", &c);
    c.img[2] = 40; c.patch[2] = 8;
    ck_assert_int_eq(emim_vit_check(&c, err, sizeof err), EMIM_OK);
    ck_assert_int_eq(emim_vit_tokens(&c), 4 * 4 * 5);
    ck_assert_int_eq(emim_vit_token_size(&c), 4 * 16 * 16 * 8);
    c.patch[2] = 16;
    ck_assert_int_eq(emim_vit_check(&c, err, sizeof err), EMIM_ERR_ARG);
    ck_assert_msg(strstr(err, "D=40") && strstr(err, "patch size 16"), "%s", err);
    /* sizes whose products would overflow or whose arenas would be absurd */
    static const struct { int field, value; const char *want; } B[] = {
        { 0, 0, "channels" }, { 0, 31, "channels 31" }, { 1, 1 << 20, "hidden" }, { 2, 1 << 30, "layers" },
        { 3, 2048, "tokens" }, { 4, 0, "patch size 0" }, { 5, 0, "eps" },
    };
    for (size_t i = 0; i < sizeof B / sizeof B[0]; i++) {
        emim_vit_preset("tiny", &c);
        switch (B[i].field) {
        case 0: c.channels = B[i].value; break;
        case 1: c.hidden = B[i].value; c.heads = 1; break;
        case 2: c.layers = B[i].value; break;
        case 3: c.img[0] = c.img[1] = c.img[2] = B[i].value; c.patch[0] = c.patch[1] = c.patch[2] = 1; break;
        case 4: c.patch[1] = B[i].value; break;
        default: c.eps = 0; break;
        }
        ck_assert_int_eq(emim_vit_check(&c, err, sizeof err), EMIM_ERR_ARG);
        ck_assert_msg(strstr(err, B[i].want), "case %zu: '%s' not in: %s", i, B[i].want, err);
    }
}
END_TEST

static float *init_on(emim_backend_kind b, const emim_vit_params *p, emim_init_scheme scheme)
{
    emim_ctx *ctx = test_ctx(b, EMIM_MODE_EXACT, 2, NULL, 0);
    if (!ctx) return NULL;
    emim_buf *arena = NULL;
    ck_assert_int_eq(emim_buf_alloc(ctx, p->total, &arena), EMIM_OK);
    ck_assert_msg(emim_vit_init(ctx, p, arena, 42, scheme) == EMIM_OK, "%s", emim_error(ctx));
    float *h = malloc(p->total * sizeof *h);
    ck_assert_int_eq(emim_buf_read(arena, 0, p->total, h), EMIM_OK);
    emim_ctx_free(ctx);
    return h;
}

/* Both schemes: each tensor's distribution (uniform bounds 1/sqrt(fan_in),
 * trunc_normal's std 0.02, ones and zeros), and the same bits on OpenCL. */
START_TEST(init_tiny)
{
    emim_vit_config c;
    emim_vit_preset("tiny", &c);
    emim_vit_params p;
    ck_assert_int_eq(emim_vit_layout(&c, &p), EMIM_OK);
    for (int scheme = 0; scheme < 2; scheme++) {
        float *h = init_on(EMIM_BACKEND_CPU, &p, (emim_init_scheme)scheme);
        for (int i = 0; i < p.n; i++) {
            const emim_param *t = &p.t[i];
            const emim_param *w = strstr(t->name, ".bias") ? &p.t[i - 1] : t;
            double bound = 1.0 / sqrt((double)w->size / w->shape[0]);
            const float *v = h + t->off;
            double s = 0, s2 = 0, mx = 0;
            for (size_t e = 0; e < t->size; e++) { s += v[e]; s2 += (double)v[e] * v[e]; mx = fmax(mx, fabs(v[e])); }
            double mean = s / t->size, sd = sqrt(s2 / t->size - mean * mean);
            int uniform = strstr(t->name, "patch_embeddings.") ||
                          (scheme == EMIM_INIT_MONAI && !strstr(t->name, "norm") && !strstr(t->name, "position"));
            if (strstr(t->name, "norm") && strstr(t->name, ".weight")) {
                ck_assert_msg(mean == 1.0 && sd == 0.0, "%s must be ones", t->name);
            } else if (strstr(t->name, "norm") && strstr(t->name, ".bias")) {
                ck_assert_msg(mx == 0.0, "%s must be zeros", t->name);
            } else if (uniform) {
                /* uniform(+-bound): std bound / sqrt(3), and no value beyond the bound */
                ck_assert_msg(mx <= bound, "%s: %g beyond %g", t->name, mx, bound);
                if (t->size >= 96)
                    ck_assert_msg(fabs(sd - bound / sqrt(3.0)) < 0.15 * bound / sqrt(3.0), "%s: std %g, expected %g",
                                  t->name, sd, bound / sqrt(3.0));
            } else if (strstr(t->name, ".bias")) {
                ck_assert_msg(mx == 0.0, "%s must be zeros", t->name);
            } else {
                ck_assert_msg(fabs(sd - 0.02) < 0.002 && mx <= 2.0, "%s: std %g", t->name, sd);
            }
        }
        float *g = emim_have_opencl() ? init_on(EMIM_BACKEND_OPENCL, &p, (emim_init_scheme)scheme) : NULL;
        if (g) {
            ck_assert_int_eq(memcmp(h, g, p.total * sizeof *h), 0);
            free(g);
        }
        free(h);
    }
    emim_vit_layout_free(&p);
}
END_TEST

/* The encoder's backward against a directional derivative of its forward:
 * 2 layers, a batch of 2, a loss on the output and on block 0's hidden
 * state: L = sum w_z z + sum w_h h_0; g . d against (L(p + e d) - L(p - e d)) / 2e. */
static double loss_of(emim_ctx *ctx, const emim_vit_params *lay, emim_buf *par, emim_vit_acts *A, emim_ref tok,
                      const float *wz, const float *wh, size_t n)
{
    ck_assert_int_eq(emim_vit_forward(ctx, lay, par, A, tok), EMIM_OK);
    float *z = malloc(n * sizeof *z), *h = malloc(n * sizeof *h);
    emim_ref rz = emim_vit_acts_output(A), rh = emim_vit_acts_hidden(A, 0);
    ck_assert_int_eq(emim_buf_read(rz.buf, rz.off, n, z), EMIM_OK);
    ck_assert_int_eq(emim_buf_read(rh.buf, rh.off, n, h), EMIM_OK);
    double L = 0;
    for (size_t e = 0; e < n; e++) L += (double)wz[e] * z[e] + (double)wh[e] * h[e];
    free(z);
    free(h);
    return L;
}

START_TEST(backward_directional)
{
    emim_ctx *ctx = test_ctx(EMIM_BACKEND_CPU, EMIM_MODE_EXACT, 2, NULL, 0);
    /* two channels, anisotropic patches of 4x2x8 */
    emim_vit_config c = { .img = { 8, 4, 8 }, .patch = { 4, 2, 8 }, .channels = 2, .hidden = 12, .mlp = 20,
                          .heads = 3, .layers = 2, .eps = 1e-5f };
    emim_vit_params lay;
    ck_assert_int_eq(emim_vit_layout(&c, &lay), EMIM_OK);
    int B = 2, N = emim_vit_tokens(&c), PD = emim_vit_token_size(&c);
    ck_assert_int_eq(N, 4);
    ck_assert_int_eq(PD, 2 * 64);
    size_t n = (size_t)B * N * c.hidden;
    emim_buf *par, *grad, *tb, *wb;
    ck_assert_int_eq(emim_buf_alloc(ctx, lay.total, &par), EMIM_OK);
    ck_assert_int_eq(emim_buf_alloc(ctx, lay.total, &grad), EMIM_OK);
    ck_assert_int_eq(emim_buf_alloc(ctx, (size_t)B * N * PD, &tb), EMIM_OK);
    ck_assert_int_eq(emim_buf_alloc(ctx, 2 * n, &wb), EMIM_OK);
    /* larger weights than MONAI's init, so that every path matters */
    ck_assert_int_eq(emim_rand(ctx, emim_at(par, 0), lay.total, EMIM_RAND_NORMAL, 5, 0, 0.0f, 0.3f, 0, 0), EMIM_OK);
    ck_assert_int_eq(emim_rand(ctx, emim_at(tb, 0), (size_t)B * N * PD, EMIM_RAND_UNIFORM, 5, 1, 0.0f, 1.0f, 0, 0), EMIM_OK);
    ck_assert_int_eq(emim_rand(ctx, emim_at(wb, 0), 2 * n, EMIM_RAND_UNIFORM, 5, 2, -1.0f, 1.0f, 0, 0), EMIM_OK);
    float *w = malloc(2 * n * sizeof *w), *p0 = malloc(lay.total * sizeof *p0), *g = malloc(lay.total * sizeof *g);
    float *d = malloc(lay.total * sizeof *d), *pp = malloc(lay.total * sizeof *pp);
    ck_assert_int_eq(emim_buf_read(wb, 0, 2 * n, w), EMIM_OK);
    ck_assert_int_eq(emim_buf_read(par, 0, lay.total, p0), EMIM_OK);
    emim_vit_acts *A;
    ck_assert_int_eq(emim_vit_acts_create(ctx, &c, B, &A), EMIM_OK);
    ck_assert_int_eq(emim_vit_forward(ctx, &lay, par, A, emim_at(tb, 0)), EMIM_OK);
    ck_assert_int_eq(emim_buf_zero(grad, 0, lay.total), EMIM_OK);
    emim_ref dh[2] = { emim_at(wb, n), emim_at(NULL, 0) };
    ck_assert_msg(emim_vit_backward(ctx, &lay, par, grad, A, emim_at(wb, 0), dh) == EMIM_OK, "%s", emim_error(ctx));
    ck_assert_int_eq(emim_buf_read(grad, 0, lay.total, g), EMIM_OK);
    /* one direction per parameter tensor (the recon head is not used) */
    for (int i = 0; i < lay.n; i++) {
        const emim_param *t = &lay.t[i];
        if (!strncmp(t->name, "recon.", 6)) continue;
        memcpy(pp, p0, lay.total * sizeof *pp);
        double gd = 0, eps = 1e-3;
        for (size_t e = 0; e < t->size; e++) {
            d[e] = (float)((e * 2654435761u % 1000) / 500.0 - 1.0);
            gd += (double)g[t->off + e] * d[e];
        }
        for (size_t e = 0; e < t->size; e++) pp[t->off + e] = (float)(p0[t->off + e] + eps * d[e]);
        ck_assert_int_eq(emim_buf_write(par, 0, lay.total, pp), EMIM_OK);
        double Lp = loss_of(ctx, &lay, par, A, emim_at(tb, 0), w, w + n, n);
        for (size_t e = 0; e < t->size; e++) pp[t->off + e] = (float)(p0[t->off + e] - eps * d[e]);
        ck_assert_int_eq(emim_buf_write(par, 0, lay.total, pp), EMIM_OK);
        double Lm = loss_of(ctx, &lay, par, A, emim_at(tb, 0), w, w + n, n);
        double fd = (Lp - Lm) / (2 * eps);
        ck_assert_msg(fabs(fd - gd) <= 2e-2 * fabs(gd) + 1e-3, "%s: g.d %.6g, finite difference %.6g", t->name, gd, fd);
    }
    emim_vit_acts_free(A);
    free(w); free(p0); free(g); free(d); free(pp);
    emim_vit_layout_free(&lay);
    emim_ctx_free(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("model");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, layout_base);
    tcase_add_test(tc, config_errors);
    tcase_add_test(tc, init_tiny);
    tcase_add_test(tc, backward_directional);
    suite_add_tcase(s, tc);
    return run_suite(s, 0);
}
