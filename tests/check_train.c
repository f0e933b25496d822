/* The E-MIM step on the built-in phantom: the loss falls; in exact mode the
 * CPU twin and OpenCL give identical losses at every step and identical
 * weights, and so do 1 and 2 threads. */
#include "testutil.h"

#include <math.h>
#include <string.h>

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
