/* The encoder in MONAI's names: emim_trainer_export writes MONAI's ViT
 * state_dict (with MONAI 1.6's unused norm_cross_attn as an identity, an
 * optional prefix) and emim_trainer_import reads it back into another
 * method's encoder bit for bit; wrong shapes, missing and extra tensors are
 * listed; hostile safetensors files (truncated, lying offsets, another
 * dtype, a huge header, duplicate names) are refused with a message naming
 * the file and the problem. */
#define _GNU_SOURCE
#include "testutil.h"
#include "data/safetensors.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

static emim_trainer *micro(emim_ctx *ctx, const char *method, int hidden, uint64_t seed)
{
    emim_vit_config v = { .img = { 16, 16, 8 }, .patch = { 8, 8, 4 }, .channels = 2, .hidden = hidden, .mlp = 48,
                          .heads = 2, .layers = 2, .eps = 1e-5f };
    emim_train_config t;
    ck_assert_int_eq(emim_train_config_default(&t, &v, method), EMIM_OK);
    t.seed = seed;
    emim_trainer *T = NULL;
    ck_assert_msg(emim_trainer_create(ctx, &t, &T) == EMIM_OK, "%s", emim_error(ctx));
    return T;
}

/* the encoder's floats (they lead the trainer's arena) */
static float *encoder_of(emim_trainer *T, size_t *n)
{
    emim_vit_params p;
    ck_assert_int_eq(emim_vit_layout(&emim_trainer_config(T)->vit, &p), EMIM_OK);
    *n = p.total;
    emim_vit_layout_free(&p);
    float *v = malloc(*n * sizeof *v);
    ck_assert_int_eq(emim_buf_read(emim_trainer_params(T), 0, *n, v), EMIM_OK);
    return v;
}

static char dir[4096];

static const char *file(const char *name)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

START_TEST(round_trip)
{
    emim_ctx *ctx = test_ctx(EMIM_BACKEND_CPU, EMIM_MODE_EXACT, 2, NULL, 0);
    test_make_dir(dir, sizeof dir, "interop");
    emim_trainer *A = micro(ctx, "emim", 24, 3), *B = micro(ctx, "mae", 24, 99), *C = micro(ctx, "simmim", 24, 7);
    size_t na, nb;
    float *a = encoder_of(A, &na), *b = encoder_of(B, &nb);
    ck_assert_int_ne(memcmp(a, b, na * sizeof *a), 0);
    const char *k[] = { "method" }, *v[] = { "emim" };
    ck_assert_int_eq(emim_trainer_export(A, file("a.safetensors"), NULL, NULL, k, v, 1), EMIM_OK);
    ck_assert_int_eq(emim_trainer_export(A, file("vit.safetensors"), "vit.", "none", NULL, NULL, 0), EMIM_OK);
    ck_assert_msg(emim_trainer_import(B, file("a.safetensors")) == EMIM_OK, "%s", emim_error(ctx));
    free(b);
    b = encoder_of(B, &nb);
    ck_assert_int_eq(memcmp(a, b, na * sizeof *a), 0);
    ck_assert_msg(emim_trainer_import(C, file("vit.safetensors")) == EMIM_OK, "%s", emim_error(ctx));
    free(b);
    b = encoder_of(C, &nb);
    ck_assert_int_eq(memcmp(a, b, na * sizeof *a), 0);
    /* the key set: 2 layers of 13 tensors with norm_cross_attn, plus 5 */
    FILE *f = fopen(file("a.safetensors"), "rb");
    char head[65536] = { 0 };
    fseek(f, 8, SEEK_SET); /* after the header's length */
    ck_assert_int_gt((int)fread(head, 1, sizeof head - 1, f), 100);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(head, "\"blocks.1.norm_cross_attn.weight\""));
    ck_assert_ptr_nonnull(strstr(head, "\"patch_embedding.patch_embeddings.weight\":{\"dtype\":\"F32\",\"shape\":[24,2,8,8,4]"));
    ck_assert_ptr_null(strstr(head, "recon")); /* the method's head is not exported */
    ck_assert_ptr_nonnull(strstr(head, "\"__metadata__\":{\"method\":\"emim\"}"));
    /* another shape: every problem listed */
    emim_trainer *W = micro(ctx, "emim", 32, 1);
    size_t nw;
    float *w0 = encoder_of(W, &nw);
    ck_assert_int_eq(emim_trainer_import(W, file("a.safetensors")), EMIM_ERR_ARG);
    ck_assert_msg(strstr(emim_error(ctx), "a.safetensors: not this model's ViT weights") &&
                  strstr(emim_error(ctx), "(25 problems, the first 8: patch_embedding.position_embeddings is [1, 8, 24], this model's is [1, 8, 32]"), "%s", emim_error(ctx));
    float *w1 = encoder_of(W, &nw);
    ck_assert_int_eq(memcmp(w0, w1, nw * sizeof *w0), 0); /* nothing changed */
    free(w0);
    free(w1);
    free(a);
    free(b);
    emim_trainer_free(A);
    emim_trainer_free(B);
    emim_trainer_free(C);
    emim_trainer_free(W);
    test_remove_dir(dir);
    emim_ctx_free(ctx);
}
END_TEST

/* a safetensors file from a header and n data bytes (or a given length word) */
static void write_st(const char *path, const char *header, uint64_t hlen, size_t ndata)
{
    FILE *f = fopen(path, "wb");
    uint64_t n = hlen ? hlen : strlen(header);
    unsigned char len[8];
    for (int k = 0; k < 8; k++) len[k] = (unsigned char)(n >> (8 * k));
    fwrite(len, 1, 8, f);
    fputs(header, f);
    for (size_t i = 0; i < ndata; i++) fputc(0, f);
    fclose(f);
}

static void refused(emim_trainer *T, emim_ctx *ctx, const char *name, const char *want)
{
    ck_assert_int_ne(emim_trainer_import(T, file(name)), EMIM_OK);
    ck_assert_msg(strstr(emim_error(ctx), file(name)) && strstr(emim_error(ctx), want), "%s: got '%s', want '%s'", name,
                  emim_error(ctx), want);
}

START_TEST(hostile_files)
{
    emim_ctx *ctx = test_ctx(EMIM_BACKEND_CPU, EMIM_MODE_EXACT, 2, NULL, 0);
    test_make_dir(dir, sizeof dir, "interop-bad");
    emim_trainer *T = micro(ctx, "emim", 24, 3);
    ck_assert_int_eq(emim_trainer_export(T, file("good.safetensors"), NULL, NULL, NULL, NULL, 0), EMIM_OK);
    /* cut inside the data */
    FILE *f = fopen(file("good.safetensors"), "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cd '%s' && head -c %ld good.safetensors > cut.safetensors", dir, size - 100);
    ck_assert_int_eq(system(cmd), 0);
    refused(T, ctx, "cut.safetensors", "bytes of data: the file is truncated or its header lies");
    snprintf(cmd, sizeof cmd, "cd '%s' && head -c 30 good.safetensors > cut2.safetensors", dir);
    ck_assert_int_eq(system(cmd), 0);
    refused(T, ctx, "cut2.safetensors", "truncated: the header needs");
    write_st(file("f16.safetensors"), "{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 0, 4);
    refused(T, ctx, "f16.safetensors", "tensor 'a' is F16; libemim reads float32 (F32) only");
    write_st(file("lie.safetensors"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}", 0, 8);
    refused(T, ctx, "lie.safetensors", "tensor 'a': its shape and its byte range [0, 12) disagree");
    write_st(file("beyond.safetensors"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", 0, 8);
    refused(T, ctx, "beyond.safetensors", "tensor 'a': its byte range [0, 12) lies beyond the 8 bytes of data");
    write_st(file("trailing.safetensors"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 8);
    refused(T, ctx, "trailing.safetensors", "leave gaps, or the data is truncated or has trailing bytes");
    write_st(file("huge.safetensors"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],"
             "\"data_offsets\":[0,8]}}", 0, 8);
    refused(T, ctx, "huge.safetensors", "its shape and its byte range [0, 8) disagree");
    write_st(file("overlap.safetensors"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 0, 12);
    refused(T, ctx, "overlap.safetensors", "byte ranges overlap or leave gaps");
    write_st(file("bighead.safetensors"), "{}", (uint64_t)1 << 40, 0);
    refused(T, ctx, "bighead.safetensors", "not a safetensors file (a header of 1099511627776 bytes");
    write_st(file("dup.safetensors"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
             "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 0, 8);
    refused(T, ctx, "dup.safetensors", "the header is not a JSON object (duplicate object key");
    write_st(file("other.safetensors"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 4);
    refused(T, ctx, "other.safetensors", "(28 problems, the first 8: missing patch_embedding.position_embeddings [1, 8, 24]; ");
    /* the good file plus one tensor MONAI's ViT has with qkv_bias: one problem */
    char err[4400];
    emim_st *st = NULL;
    ck_assert_msg(emim_st_open(&st, file("good.safetensors"), err, sizeof err) == EMIM_OK, "%s", err);
    int n = emim_st_count(st);
    emim_st_out *o = calloc((size_t)n + 1, sizeof *o);
    float *vals[64] = { 0 }, bias[72] = { 0 };
    ck_assert_int_le(n, 64);
    for (int i = 0; i < n; i++) {
        const emim_st_tensor *t = emim_st_get(st, i);
        vals[i] = malloc(t->size * sizeof(float));
        ck_assert_int_eq(emim_st_read(st, t, vals[i], err, sizeof err), EMIM_OK);
        o[i] = (emim_st_out){ .name = t->name, .ndim = t->ndim, .data = vals[i] };
        memcpy(o[i].shape, t->shape, sizeof t->shape);
    }
    o[n] = (emim_st_out){ .name = "blocks.0.attn.qkv.bias", .ndim = 1, .shape = { 72 }, .data = bias };
    ck_assert_int_eq(emim_st_write(file("extra.safetensors"), o, n + 1, NULL, NULL, 0, err, sizeof err), EMIM_OK);
    refused(T, ctx, "extra.safetensors", "(1 problem: extra blocks.0.attn.qkv.bias)");
    /* a UNETR's state_dict: a decoder tensor first, then the encoder under vit. in reverse order */
    emim_st_out *u = calloc((size_t)n + 1, sizeof *u);
    char (*un)[128] = calloc((size_t)n, sizeof *un);
    u[0] = (emim_st_out){ .name = "encoder1.layer.conv1.conv.weight", .ndim = 1, .shape = { 72 }, .data = bias };
    for (int i = 0; i < n; i++) {
        snprintf(un[i], sizeof un[i], "vit.%s", o[n - 1 - i].name);
        u[1 + i] = o[n - 1 - i];
        u[1 + i].name = un[i];
    }
    ck_assert_int_eq(emim_st_write(file("unetr.safetensors"), u, n + 1, NULL, NULL, 0, err, sizeof err), EMIM_OK);
    ck_assert_msg(emim_trainer_import(T, file("unetr.safetensors")) == EMIM_OK, "%s", emim_error(ctx));
    free(u);
    free(un);
    for (int i = 0; i < n; i++) free(vals[i]);
    free(o);
    emim_st_close(st);
    refused(T, ctx, "nothere.safetensors", "cannot open");
    emim_trainer_free(T);
    test_remove_dir(dir);
    emim_ctx_free(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("interop");
    TCase *tc = tcase_create("interop");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, hostile_files);
    suite_add_tcase(s, tc);
    return run_suite(s, 0);
}
