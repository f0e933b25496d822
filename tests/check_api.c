/* The public API's contracts: options from the environment, clear errors
 * for bad arguments, buffer bounds, memory caps, the op table's completeness. */
#include "cases/validate.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static emim_ctx *cpu(void)
{
    emim_ctx *ctx = test_ctx(EMIM_BACKEND_CPU, EMIM_MODE_EXACT, 2, NULL, 0);
    ck_assert_ptr_nonnull(ctx);
    return ctx;
}

START_TEST(env_options)
{
    emim_options o;
    char err[256];
    setenv("EMIM_BACKEND", "cuda", 1);
    ck_assert_int_eq(emim_options_init(&o, err, sizeof err), EMIM_ERR_ARG);
    ck_assert_msg(strstr(err, "EMIM_BACKEND") && strstr(err, "cuda"), "message: %s", err);
    setenv("EMIM_BACKEND", "CPU", 1);
    setenv("EMIM_EXACT", "1", 1);
    setenv("EMIM_THREADS", "3", 1);
    ck_assert_int_eq(emim_options_init(&o, err, sizeof err), EMIM_OK);
    ck_assert_int_eq(o.backend, EMIM_BACKEND_CPU);
    ck_assert_int_eq(o.mode, EMIM_MODE_EXACT);
    ck_assert_int_eq(o.threads, 3);
    emim_ctx *ctx = NULL;
    ck_assert_int_eq(emim_ctx_create(&ctx, NULL, err, sizeof err), EMIM_OK);
    ck_assert_str_eq(emim_backend_name(ctx), "cpu");
    ck_assert_int_eq(emim_get_mode(ctx), EMIM_MODE_EXACT);
    ck_assert_int_eq(emim_threads(ctx), 3);
    emim_ctx_free(ctx);
    setenv("EMIM_EXACT", "yes", 1);
    ck_assert_int_eq(emim_options_init(&o, err, sizeof err), EMIM_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err, "EMIM_EXACT"));
    unsetenv("EMIM_EXACT");
    setenv("EMIM_THREADS", "0", 1);
    ck_assert_int_eq(emim_options_init(&o, err, sizeof err), EMIM_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err, "EMIM_THREADS"));
    unsetenv("EMIM_THREADS");
    unsetenv("EMIM_BACKEND");
    /* the place on the node, from the launcher (it picks the GPU): Open MPI's
     * before SLURM's; a value that is not a number is ignored */
    ck_assert_int_eq(emim_options_init(&o, err, sizeof err), EMIM_OK);
    ck_assert_int_eq(o.local_rank, 0);
    setenv("SLURM_LOCALID", "3", 1);
    ck_assert_int_eq(emim_options_init(&o, err, sizeof err), EMIM_OK);
    ck_assert_int_eq(o.local_rank, 3);
    setenv("OMPI_COMM_WORLD_LOCAL_RANK", "1", 1);
    ck_assert_int_eq(emim_options_init(&o, err, sizeof err), EMIM_OK);
    ck_assert_int_eq(o.local_rank, 1);
    setenv("OMPI_COMM_WORLD_LOCAL_RANK", "x", 1);
    ck_assert_int_eq(emim_options_init(&o, err, sizeof err), EMIM_OK);
    ck_assert_int_eq(o.local_rank, 3);
    unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
    unsetenv("SLURM_LOCALID");
}
END_TEST

START_TEST(bad_device)
{
    emim_options o;
    emim_options_init(&o, NULL, 0);
    o.backend = EMIM_BACKEND_OPENCL;
    o.device = "no-such-device-xyz";
    emim_ctx *ctx = NULL;
    char err[512];
    emim_status s = emim_ctx_create(&ctx, &o, err, sizeof err);
    ck_assert_ptr_null(ctx);
    if (!emim_have_opencl()) {
        ck_assert_int_eq(s, EMIM_ERR_BACKEND);
        ck_assert_ptr_nonnull(strstr(err, "disable-opencl"));
        return;
    }
    ck_assert_int_eq(s, EMIM_ERR_NODEVICE);
    ck_assert_msg(strstr(err, "no-such-device-xyz") || strstr(err, "no OpenCL"), "message: %s", err);
    o.device = "99";
    s = emim_ctx_create(&ctx, &o, err, sizeof err);
    ck_assert_int_eq(s, EMIM_ERR_NODEVICE);
    ck_assert_ptr_null(ctx);
}
END_TEST

START_TEST(buffers)
{
    emim_ctx *ctx = cpu();
    emim_buf *b = NULL;
    ck_assert_int_eq(emim_buf_alloc(ctx, 0, &b), EMIM_ERR_ARG);
    ck_assert_ptr_null(b);
    ck_assert_int_eq(emim_buf_alloc(ctx, 10, &b), EMIM_OK);
    float x[12] = { 0 };
    ck_assert_int_eq(emim_buf_write(b, 5, 6, x), EMIM_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(emim_error(ctx), "outside"));
    ck_assert_int_eq(emim_buf_read(b, 11, 0, x), EMIM_ERR_ARG);
    ck_assert_int_eq(emim_buf_write(b, 4, 6, x), EMIM_OK);
    /* an op reading past the end is refused, naming the operand */
    emim_buf *o = NULL;
    ck_assert_int_eq(emim_buf_alloc(ctx, 10, &o), EMIM_OK);
    ck_assert_int_eq(emim_add(ctx, emim_at(o, 0), emim_at(b, 1), emim_at(b, 0), 10), EMIM_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(emim_error(ctx), "add: a needs floats [1, 11)"));
    ck_assert_int_eq(emim_add(ctx, emim_at(o, 0), emim_at(NULL, 0), emim_at(b, 0), 10), EMIM_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(emim_error(ctx), "missing"));
    /* a buffer of another context */
    emim_ctx *other = cpu();
    emim_buf *ob = NULL;
    ck_assert_int_eq(emim_buf_alloc(other, 10, &ob), EMIM_OK);
    ck_assert_int_eq(emim_add(ctx, emim_at(o, 0), emim_at(ob, 0), emim_at(b, 0), 10), EMIM_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(emim_error(ctx), "another context"));
    emim_buf_free(ob);
    emim_ctx_free(other);
    emim_buf_free(o);
    emim_buf_free(b);
    emim_ctx_free(ctx);
}
END_TEST

START_TEST(memory_cap)
{
    emim_options o;
    emim_options_init(&o, NULL, 0);
    o.backend = EMIM_BACKEND_CPU;
    o.mem_limit = 4000;
    emim_ctx *ctx = NULL;
    ck_assert_int_eq(emim_ctx_create(&ctx, &o, NULL, 0), EMIM_OK);
    emim_buf *a = NULL, *b = NULL;
    ck_assert_int_eq(emim_buf_alloc(ctx, 600, &a), EMIM_OK);
    ck_assert_int_eq(emim_buf_alloc(ctx, 600, &b), EMIM_ERR_NOMEM);
    ck_assert_ptr_nonnull(strstr(emim_error(ctx), "cap"));
    emim_buf_free(a);
    ck_assert_int_eq(emim_buf_alloc(ctx, 600, &b), EMIM_OK);
    size_t used;
    const char *src;
    ck_assert_uint_eq(emim_mem_limit(ctx, &used, &src), 4000);
    ck_assert_uint_eq(used, 2400);
    emim_buf_free(b);
    emim_mem_limit(ctx, &used, NULL);
    ck_assert_uint_eq(used, 0);
    ck_assert_ptr_nonnull(strstr(src, "EMIM_MEM_LIMIT"));
    emim_ctx_free(ctx);

    /* by default a CPU context's cap is what the process may use */
    size_t host = emim_host_memory(&src);
    ck_assert_msg(host > ((size_t)64 << 20) && host < SIZE_MAX, "host memory %zu (%s)", host, src);
    ctx = cpu();
    const char *csrc;
    ck_assert_uint_eq(emim_mem_limit(ctx, NULL, &csrc), host);
    ck_assert_str_eq(csrc, src);
    emim_ctx_free(ctx);

    /* EMIM_MEM_LIMIT: binary units; a bad size is an error naming it */
    static const struct { const char *v; size_t want; } ok[] = {
        { "8G", (size_t)8 << 30 }, { "512M", (size_t)512 << 20 }, { "1.5GiB", (size_t)3 << 29 },
        { "4096", 4096 }, { "64KB", 65536 },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        setenv("EMIM_MEM_LIMIT", ok[i].v, 1);
        ck_assert_int_eq(emim_options_init(&o, NULL, 0), EMIM_OK);
        ck_assert_uint_eq(o.mem_limit, ok[i].want);
    }
    static const char *const bad[] = { "3X", "-1G", "0", "G", "1e30", "12 G" };
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("EMIM_MEM_LIMIT", bad[i], 1);
        ck_assert_int_eq(emim_options_init(&o, err, sizeof err), EMIM_ERR_ARG);
        ck_assert_msg(strstr(err, "EMIM_MEM_LIMIT") && strstr(err, bad[i]), "%s", err);
    }
    unsetenv("EMIM_MEM_LIMIT");
}
END_TEST

START_TEST(gemm_args)
{
    emim_ctx *ctx = cpu();
    emim_buf *b = NULL;
    ck_assert_int_eq(emim_buf_alloc(ctx, 1000, &b), EMIM_OK);
    emim_ref r = emim_at(b, 0);
    /* lda too small for A [4, 8] */
    ck_assert_int_eq(emim_gemm(ctx, 0, 0, 4, 5, 8, 1, r, 7, 0, r, 5, 0, 0, r, 5, 0, 1), EMIM_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(emim_error(ctx), "lda=7"));
    ck_assert_int_eq(emim_gemm(ctx, 2, 0, 4, 5, 8, 1, r, 8, 0, r, 5, 0, 0, r, 5, 0, 1), EMIM_ERR_ARG);
    ck_assert_int_eq(emim_gemm(ctx, 0, 0, 0, 5, 8, 1, r, 8, 0, r, 5, 0, 0, r, 5, 0, 1), EMIM_ERR_ARG);
    /* C past the end of its buffer */
    ck_assert_int_eq(emim_gemm(ctx, 0, 0, 4, 5, 8, 1, r, 8, 0, r, 5, 0, 0, emim_at(b, 990), 5, 0, 1), EMIM_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(emim_error(ctx), "C needs"));
    /* batch strides count */
    ck_assert_int_eq(emim_gemm(ctx, 0, 0, 4, 5, 8, 1, r, 8, 500, r, 5, 0, 0, r, 5, 0, 3), EMIM_ERR_ARG);
    ck_assert_int_eq(emim_gemm(ctx, 0, 0, 4, 5, 8, 1, r, 8, 300, r, 5, 0, 0, r, 5, 0, 3), EMIM_OK);
    emim_buf_free(b);
    emim_ctx_free(ctx);
}
END_TEST

/* the op profiler counts calls and GEMM flops per op and direction; a
 * composite op (linear) is marked and holds the ops it calls */
START_TEST(profile)
{
    emim_ctx *ctx = cpu();
    emim_buf *b = NULL;
    ck_assert_int_eq(emim_buf_alloc(ctx, 1000, &b), EMIM_OK);
    emim_ref r = emim_at(b, 0), none = emim_at(NULL, 0);
    ck_assert_int_eq(emim_profile_read(ctx, NULL, 0), 0);
    ck_assert_int_eq(emim_profile_start(ctx), EMIM_OK);
    ck_assert_int_eq(emim_gemm(ctx, 0, 0, 4, 5, 8, 1, r, 8, 300, r, 5, 0, 0, r, 5, 0, 3), EMIM_OK);
    ck_assert_int_eq(emim_gemm_backward(ctx, 0, 0, 4, 5, 8, 1, emim_at(b, 100), r, 8, 0, none, r, 5, 0,
                                        emim_at(b, 200), 5, 0, 1), EMIM_OK);
    ck_assert_int_eq(emim_linear(ctx, emim_at(b, 300), r, emim_at(b, 400), none, 3, 6, 2), EMIM_OK);
    emim_op_profile p[8];
    int n = emim_profile_read(ctx, p, 8);
    ck_assert_int_eq(n, 3);
    int seen = 0;
    for (int i = 0; i < n; i++) {
        ck_assert(p[i].seconds >= 0);
        if (!strcmp(p[i].name, "gemm") && !p[i].backward) {
            /* 3 batched products of 4x5x8 and linear's 3x2x6 */
            ck_assert_int_eq(p[i].calls, 2);
            ck_assert(p[i].flops == 2.0 * 4 * 5 * 8 * 3 + 2.0 * 3 * 2 * 6);
            seen |= 1;
        } else if (!strcmp(p[i].name, "gemm")) {
            ck_assert_int_eq(p[i].calls, 1);
            ck_assert(p[i].flops == 2.0 * 4 * 5 * 8);   /* dA only */
            seen |= 2;
        } else {
            ck_assert_str_eq(p[i].name, "linear");
            ck_assert_int_eq(p[i].composite, 1);
            ck_assert_int_eq(p[i].calls, 1);
            seen |= 4;
        }
    }
    ck_assert_int_eq(seen, 7);
    emim_profile_stop(ctx);
    ck_assert_int_eq(emim_profile_read(ctx, p, 8), 0);
    emim_buf_free(b);
    emim_ctx_free(ctx);
}
END_TEST

START_TEST(rand_args)
{
    emim_ctx *ctx = cpu();
    emim_buf *b = NULL;
    ck_assert_int_eq(emim_buf_alloc(ctx, 100, &b), EMIM_OK);
    ck_assert_int_eq(emim_rand(ctx, emim_at(b, 0), 100, EMIM_RAND_UNIFORM, 1, 0, 1, 1, 0, 0), EMIM_ERR_ARG);
    ck_assert_int_eq(emim_rand(ctx, emim_at(b, 0), 100, EMIM_RAND_NORMAL, 1, 0, 0, -1, 0, 0), EMIM_ERR_ARG);
    ck_assert_int_eq(emim_rand(ctx, emim_at(b, 0), 100, EMIM_RAND_TRUNC_NORMAL, 1, 0, 0, 1, 3, 4),
                     EMIM_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(emim_error(ctx), "mass") ? strstr(emim_error(ctx), "mass") : strstr(emim_error(ctx), "holds"));
    ck_assert_int_eq(emim_rand(ctx, emim_at(b, 0), 100, (emim_rand_kind)7, 1, 0, 0, 1, 0, 0), EMIM_ERR_ARG);
    emim_buf_free(b);
    emim_ctx_free(ctx);
}
END_TEST

/* batchnorm, cross_entropy and region_pool through their public functions
 * (the twin tests call the op table directly): values worked by hand, and
 * the arguments they refuse */
static void put(emim_buf *b, size_t off, const float *v, size_t n) { ck_assert_int_eq(emim_buf_write(b, off, n, v), EMIM_OK); }
static float get(emim_buf *b, size_t off)
{
    float v;
    ck_assert_int_eq(emim_buf_read(b, off, 1, &v), EMIM_OK);
    return v;
}

START_TEST(embedding_ops)
{
    emim_ctx *ctx = cpu();
    emim_buf *b = NULL;
    ck_assert_int_eq(emim_buf_alloc(ctx, 400, &b), EMIM_OK);
    ck_assert_int_eq(emim_buf_zero(b, 0, 400), EMIM_OK);
    emim_ref none = emim_at(NULL, 0);

    /* batchnorm of x [3, 2] over the rows: columns (1, 2, 3) and (10, 20, 30) */
    const float x[6] = { 1, 10, 2, 20, 3, 30 }, w[2] = { 2, 3 }, bias[2] = { 0.5f, -1 };
    put(b, 0, x, 6); put(b, 10, w, 2); put(b, 12, bias, 2);
    ck_assert_int_eq(emim_batchnorm(ctx, emim_at(b, 20), emim_at(b, 30), emim_at(b, 32), emim_at(b, 0), none, none, 3, 2,
                                    1e-5f), EMIM_OK);
    double v0 = 2.0 / 3, v1 = 200.0 / 3;
    ck_assert_double_eq_tol(get(b, 30), 2, 1e-6);
    ck_assert_double_eq_tol(get(b, 31), 20, 1e-5);
    ck_assert_double_eq_tol(get(b, 32), 1 / sqrt(v0 + 1e-5), 1e-5);
    ck_assert_double_eq_tol(get(b, 20), -1 / sqrt(v0 + 1e-5), 1e-5);
    ck_assert_double_eq_tol(get(b, 25), 10 / sqrt(v1 + 1e-5), 1e-5);
    ck_assert_int_eq(emim_batchnorm(ctx, emim_at(b, 20), emim_at(b, 30), emim_at(b, 32), emim_at(b, 0), emim_at(b, 10),
                                    emim_at(b, 12), 3, 2, 1e-5f), EMIM_OK);
    ck_assert_double_eq_tol(get(b, 20), -2 / sqrt(v0 + 1e-5) + 0.5, 1e-5);
    ck_assert_double_eq_tol(get(b, 23), 0 * 3 - 1, 1e-5);
    /* backward of sum(out * dout), dout = (1, 0, 0; 0, 0, 2): db = column sums of dout, dx sums to 0 per column */
    const float dout[6] = { 1, 0, 0, 0, 0, 2 };
    put(b, 40, dout, 6);
    ck_assert_int_eq(emim_batchnorm_backward(ctx, emim_at(b, 50), emim_at(b, 60), emim_at(b, 62), emim_at(b, 40),
                                             emim_at(b, 0), emim_at(b, 10), emim_at(b, 30), emim_at(b, 32), 3, 2),
                     EMIM_OK);
    ck_assert_double_eq_tol(get(b, 62), 1, 1e-7);
    ck_assert_double_eq_tol(get(b, 63), 2, 1e-7);
    ck_assert_double_eq_tol(get(b, 60), -1 / sqrt(v0 + 1e-5), 1e-5);
    ck_assert_double_eq_tol(get(b, 50) + get(b, 52) + get(b, 54), 0, 1e-5);
    ck_assert_double_eq_tol(get(b, 51) + get(b, 53) + get(b, 55), 0, 1e-5);
    /* w without b; dw without w */
    ck_assert_int_eq(emim_batchnorm(ctx, emim_at(b, 20), emim_at(b, 30), emim_at(b, 32), emim_at(b, 0), emim_at(b, 10),
                                    none, 3, 2, 1e-5f), EMIM_ERR_ARG);
    ck_assert_int_eq(emim_batchnorm_backward(ctx, none, emim_at(b, 60), none, emim_at(b, 40), emim_at(b, 0), none,
                                             emim_at(b, 30), emim_at(b, 32), 3, 2), EMIM_ERR_ARG);

    /* cross_entropy of x [2, 3] = (0, 0, 0; 1, 2, 3), targets (0, 2), temperature 0.5 */
    const float lg[6] = { 0, 0, 0, 1, 2, 3 }, tg[2] = { 0, 2 }, one = 1;
    put(b, 100, lg, 6); put(b, 110, tg, 2); put(b, 112, &one, 1);
    ck_assert_int_eq(emim_cross_entropy(ctx, emim_at(b, 120), emim_at(b, 121), emim_at(b, 100), emim_at(b, 110), 0.5f,
                                        2, 3), EMIM_OK);
    double lse1 = 6 + log(1 + exp(-2.0) + exp(-4.0));
    ck_assert_double_eq_tol(get(b, 121), log(3.0), 1e-6);
    ck_assert_double_eq_tol(get(b, 122), lse1, 1e-6);
    ck_assert_double_eq_tol(get(b, 120), (log(3.0) + lse1 - 6) / 2, 1e-6);
    ck_assert_int_eq(emim_cross_entropy_backward(ctx, emim_at(b, 130), emim_at(b, 100), emim_at(b, 110), emim_at(b, 121),
                                                 emim_at(b, 112), 0.5f, 2, 3), EMIM_OK);
    /* (softmax - onehot) * s / n, s = 2, n = 2 */
    ck_assert_double_eq_tol(get(b, 130), 1.0 / 3 - 1, 1e-6);
    ck_assert_double_eq_tol(get(b, 131), 1.0 / 3, 1e-6);
    ck_assert_double_eq_tol(get(b, 135), exp(6 - lse1) - 1, 1e-6);
    const float bad = 3;
    put(b, 111, &bad, 1);
    ck_assert_int_eq(emim_cross_entropy(ctx, emim_at(b, 120), emim_at(b, 121), emim_at(b, 100), emim_at(b, 110), 0.5f,
                                        2, 3), EMIM_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(emim_error(ctx), "target[1]"));
    ck_assert_int_eq(emim_cross_entropy(ctx, emim_at(b, 120), emim_at(b, 121), emim_at(b, 100), emim_at(b, 110), 0.0f,
                                        2, 3), EMIM_ERR_ARG);

    /* region_pool of x [1, 4, 2] into 3 regions: tokens 0 and 2 in region 0, token 3 in 1, token 1 in none */
    const float tok[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, reg[4] = { 0, -1, 0, 1 }, dy[6] = { 1, 1, 2, 2, 3, 3 };
    put(b, 200, tok, 8); put(b, 210, reg, 4); put(b, 220, dy, 6);
    ck_assert_int_eq(emim_region_pool(ctx, emim_at(b, 230), emim_at(b, 200), emim_at(b, 210), 1, 4, 3, 2), EMIM_OK);
    const float want[6] = { 3, 4, 7, 8, 0, 0 };
    for (int e = 0; e < 6; e++) ck_assert(get(b, 230 + (size_t)e) == want[e]);
    ck_assert_int_eq(emim_region_pool_backward(ctx, emim_at(b, 240), emim_at(b, 210), emim_at(b, 220), 1, 4, 3, 2),
                     EMIM_OK);
    const float dwant[8] = { 0.5f, 0.5f, 0, 0, 0.5f, 0.5f, 2, 2 };
    for (int e = 0; e < 8; e++) ck_assert(get(b, 240 + (size_t)e) == dwant[e]);
    const float badr = 2.5f;
    put(b, 211, &badr, 1);
    ck_assert_int_eq(emim_region_pool(ctx, emim_at(b, 230), emim_at(b, 200), emim_at(b, 210), 1, 4, 3, 2),
                     EMIM_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(emim_error(ctx), "region[1]"));
    emim_buf_free(b);
    emim_ctx_free(ctx);
}
END_TEST

START_TEST(op_table)
{
    ck_assert_int_ge(emim_op_count(), 7);
    for (int i = 0; i < emim_op_count(); i++) {
        const emim_op_info *op = emim_op_get(i);
        ck_assert_msg(op->cpu_fwd, "op %s: no CPU forward twin", op->name);
        ck_assert_msg(emim_op_ncases(i) >= 1, "op %s: no twin-test cases in src/cases/", op->name);
        if (emim_have_opencl()) ck_assert_msg(op->cl_fwd, "op %s: no OpenCL forward twin", op->name);
        if (op->has_backward) {
            ck_assert_msg(op->cpu_bwd, "op %s: no CPU backward twin", op->name);
            if (emim_have_opencl()) ck_assert_msg(op->cl_bwd, "op %s: no OpenCL backward twin", op->name);
        }
        ck_assert_ptr_nonnull(op->summary);
    }
    ck_assert_ptr_null(emim_op_get(emim_op_count()));
    for (int s = EMIM_OK; s <= EMIM_ERR_MISMATCH; s++) ck_assert(strlen(emim_status_name((emim_status)s)) > 0);
}
END_TEST

START_TEST(validate_unknown_op)
{
    emim_ctx *ctx = cpu();
    int rows = -1, fails = -1;
    ck_assert_int_eq(emim_validate(ctx, "add,frobnicate", 1, NULL, NULL, &rows, &fails), EMIM_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(emim_error(ctx), "frobnicate"));
    emim_ctx_free(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, env_options);
    tcase_add_test(tc, bad_device);
    tcase_add_test(tc, buffers);
    tcase_add_test(tc, memory_cap);
    tcase_add_test(tc, gemm_args);
    tcase_add_test(tc, rand_args);
    tcase_add_test(tc, profile);
    tcase_add_test(tc, embedding_ops);
    tcase_add_test(tc, op_table);
    tcase_add_test(tc, validate_unknown_op);
    suite_add_tcase(s, tc);
    return run_suite(s, 1);
}
