#define _GNU_SOURCE
/* The E-MIM step on the built-in phantom: the loss falls; in exact mode the
 * CPU twin and OpenCL give identical losses at every step and identical
 * weights, and so do 1 and 2 threads. */
#include "testutil.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

enum { S = 16, STEPS = 30 };

static void micro(emim_train_config *t)
{
    emim_vit_config v = { .img = { S, S, S }, .patch = 8, .channels = 4, .hidden = 24, .mlp = 48, .heads = 2,
                          .layers = 2, .eps = 1e-5f };
    emim_train_config_default(t, &v);
    t->levels = 2;
    t->batch = 2;
    t->lr = 2e-3f;
    t->warmup = 3;
    t->steps = STEPS;
    t->seed = 11;
}

/* Runs n steps on phantoms (subject s*batch + b at step s); losses[i] and,
 * if params is non-NULL, the final weights are returned. */
static int run(emim_backend_kind b, int threads, int n, float *losses, float **params, size_t *np)
{
    char why[4096];
    emim_ctx *ctx = test_ctx(b, EMIM_MODE_EXACT, threads, why, sizeof why);
    if (!ctx) return -1;
    emim_train_config t;
    micro(&t);
    emim_trainer *T = NULL;
    ck_assert_msg(emim_trainer_create(ctx, &t, &T) == EMIM_OK, "%s", emim_error(ctx));
    size_t vol = (size_t)4 * S * S * S;
    float *img = malloc(vol * t.batch * sizeof *img);
    for (int s = 0; s < n; s++) {
        for (int k = 0; k < t.batch; k++)
            ck_assert_int_eq(emim_phantom(img + k * vol, NULL, S, S, S, 3, (uint64_t)(s * t.batch + k)), EMIM_OK);
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

START_TEST(loss_falls)
{
    float l[STEPS];
    ck_assert_int_eq(run(EMIM_BACKEND_CPU, 2, STEPS, l, NULL, NULL), 0);
    double first = (l[0] + l[1] + l[2]) / 3, last = (l[STEPS - 1] + l[STEPS - 2] + l[STEPS - 3]) / 3;
    printf("loss: first steps %.6f, last steps %.6f\n", first, last);
    ck_assert_msg(last < 0.8 * first, "the loss did not fall: %.6f -> %.6f", first, last);
}
END_TEST

START_TEST(exact_threads)
{
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
    float straight[4], *p1, *p2;
    size_t n1;
    ck_assert_int_eq(run(EMIM_BACKEND_CPU, 2, 4, straight, &p1, &n1), 0);
    emim_ctx *ctx = test_ctx(EMIM_BACKEND_CPU, EMIM_MODE_EXACT, 2, NULL, 0);
    emim_train_config t;
    micro(&t);
    size_t vol = (size_t)4 * S * S * S;
    float *img = malloc(vol * t.batch * sizeof *img);
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
            ck_assert_int_eq(emim_checkpoint_config(ctx, path, &c2, &done), EMIM_OK);
            ck_assert_int_eq(done, 2);
            ck_assert_int_eq(memcmp(&c2.vit, &t.vit, sizeof t.vit), 0);
        }
        ck_assert_int_eq(emim_trainer_create(ctx, &t, &T), EMIM_OK);
        if (half) ck_assert_msg(emim_trainer_load(T, path) == EMIM_OK, "%s", emim_error(ctx));
        for (int s = 2 * half; s < 2 * half + 2; s++) {
            for (int k = 0; k < t.batch; k++)
                ck_assert_int_eq(emim_phantom(img + k * vol, NULL, S, S, S, 3, (uint64_t)(s * t.batch + k)), EMIM_OK);
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
    ck_assert_int_eq(emim_checkpoint_config(ctx, path, &c3, NULL), EMIM_ERR_IO);
    ck_assert_msg(strstr(emim_error(ctx), path) && strstr(emim_error(ctx), "corrupt"), "%s", emim_error(ctx));
    /* not a checkpoint at all */
    f = fopen(path, "wb");
    fputs("this is not a checkpoint, just text", f);
    fclose(f);
    ck_assert_int_eq(emim_checkpoint_config(ctx, path, &c3, NULL), EMIM_ERR_IO);
    ck_assert_ptr_nonnull(strstr(emim_error(ctx), "not a libemim checkpoint"));
    unlink(path);
    free(img);
    free(p1);
    free(p2);
    emim_ctx_free(ctx);
}
END_TEST

START_TEST(exact_twins)
{
    float a[4], b[4], *pa, *pb;
    size_t na, nb;
    ck_assert_int_eq(run(EMIM_BACKEND_CPU, 2, 4, a, &pa, &na), 0);
    ck_assert_int_eq(run(EMIM_BACKEND_OPENCL, 2, 4, b, &pb, &nb), 0);
    for (int s = 0; s < 4; s++) ck_assert_msg(a[s] == b[s], "step %d: cpu %.9g, opencl %.9g", s, a[s], b[s]);
    ck_assert_int_eq(memcmp(pa, pb, na * sizeof(float)), 0);
    free(pa);
    free(pb);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, loss_falls);
    tcase_add_test(tc, exact_threads);
    tcase_add_test(tc, resume);
    char why[512];
    emim_ctx *probe = emim_have_opencl() ? test_ctx(EMIM_BACKEND_OPENCL, EMIM_MODE_EXACT, 0, why, sizeof why) : NULL;
    if (probe) {
        emim_ctx_free(probe);
        tcase_add_test(tc, exact_twins);
    } else {
        printf("no OpenCL device: the CPU/OpenCL comparison does not run\n");
    }
    suite_add_tcase(s, tc);
    return run_suite(s, 0);
}
