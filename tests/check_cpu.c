/* The CPU twin against mathematics: every op's float forward against its
 * double-precision reference, every backward against central finite
 * differences of that reference, GEMM
 * against a double-precision reference within its error bound, thread-count
 * determinism (2 threads against 1), and the random fills' statistics. */
#include "cases/cases.h"
#include "core/emim_math.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

/* The forward in double precision (c->ref) on the given inputs. */
static double **ref_tensors(const emim_case *c, float *const *init)
{
    double **t = calloc(EMIM_MAX_T, sizeof *t);
    for (int j = 0; j < c->nt; j++) {
        t[j] = malloc(c->len[j] * sizeof(double));
        for (size_t e = 0; e < c->len[j]; e++) t[j][e] = init[j][EMIM_GUARD + e];
    }
    return t;
}

static void free_tensors(double **t)
{
    for (int j = 0; j < EMIM_MAX_T; j++) free(t[j]);
    free(t);
}

/* L = sum over the forward's differentiable outputs of w * out (w: the
 * backward's dout), from the double reference. */
static double ref_loss(const emim_case *c, double *const *t, float *const *w)
{
    double **u = calloc(EMIM_MAX_T, sizeof *u);
    for (int j = 0; j < c->nt; j++) {
        u[j] = malloc(c->len[j] * sizeof(double));
        memcpy(u[j], t[j], c->len[j] * sizeof(double));
    }
    c->ref(c, u);
    double L = 0;
    for (int j = 0; j < c->nt; j++) {
        if (c->role[j] != EMIM_T_OUT && c->role[j] != EMIM_T_INOUT) continue;
        for (size_t e = 0; e < c->len[j]; e++)
            if (emim_case_writes(c, 0, j, 0, e)) L += (double)w[j][EMIM_GUARD + e] * u[j][e];
    }
    free_tensors(u);
    return L;
}

/* The float forward of the CPU twin against the double reference. */
static void forward_check(emim_ctx *ctx, int op, const emim_case *c, uint64_t seed)
{
    emim_case_inst I;
    ck_assert_int_eq(emim_case_setup(&I, ctx, op, c, 0, seed), EMIM_OK);
    ck_assert_msg(emim_case_exec(&I) == EMIM_OK, "forward: %s", emim_error(ctx));
    double **t = ref_tensors(c, I.init_val);
    c->ref(c, t);
    for (int j = 0; j < c->nt; j++) {
        if (!(c->role[j] & EMIM_T_OUT)) continue;
        float *got = malloc(emim_case_buflen(c, j) * sizeof(float));
        ck_assert_int_eq(emim_case_fetch(&I, j, 0, got), EMIM_OK);
        double big = 0;
        for (size_t e = 0; e < c->len[j]; e++)
            if (emim_case_writes(c, 0, j, 0, e)) big = fmax(big, fabs(t[j][e]));
        for (size_t e = 0; e < c->len[j]; e++) {
            if (!emim_case_writes(c, 0, j, 0, e)) continue;
            double d = fabs(got[EMIM_GUARD + e] - t[j][e]);
            ck_assert_msg(d <= c->ref_tol * big, "%s [%s] tensor %d [%zu]: float %.9g, double reference %.17g (tol %.3g)",
                          emim_ops[op].name, c->label, j, e, got[EMIM_GUARD + e], t[j][e], c->ref_tol * big);
        }
        free(got);
    }
    free_tensors(t);
    emim_case_free(&I);
}

/* The float backward of the CPU twin against central differences of the
 * double reference, at six elements of every input that has a gradient. */
static void fd_check(emim_ctx *ctx, int op, const emim_case *c, uint64_t seed)
{
    emim_case_inst I;
    ck_assert_int_eq(emim_case_setup(&I, ctx, op, c, 1, seed), EMIM_OK);
    float *g[EMIM_MAX_T] = { 0 };
    for (int j = 0; j < c->nt; j++) {
        if (c->role[j] != EMIM_T_IN || !emim_case_uses_grad(c, 1, j)) continue;
        size_t len = emim_case_buflen(c, j);
        g[j] = malloc(len * sizeof(float));
        memcpy(g[j], I.init_grad[j], len * sizeof(float));
        memset(g[j] + EMIM_GUARD, 0, c->len[j] * sizeof(float));
        ck_assert_int_eq(emim_case_upload(&I, j, 1, g[j]), EMIM_OK);
    }
    ck_assert_msg(emim_case_exec(&I) == EMIM_OK, "backward: %s", emim_error(ctx));
    double **x = ref_tensors(c, I.init_val);
    int checked = 0;
    for (int j = 0; j < c->nt; j++) {
        if (!g[j]) continue;
        ck_assert_int_eq(emim_case_fetch(&I, j, 1, g[j]), EMIM_OK);
        size_t picks[6] = { 0, c->len[j] - 1 };
        for (int p = 2; p < 6; p++) picks[p] = emim_philox_at((uint64_t)p, 0, seed + (uint64_t)j, 99).v[0] % c->len[j];
        double fd[6], an[6], rms = 0;
        for (int p = 0; p < 6; p++) {
            size_t e = picks[p];
            double x0 = x[j][e], h = 1e-3 * fmax(1.0, fabs(x0));
            x[j][e] = x0 + h;
            double Lp = ref_loss(c, x, I.init_grad);
            x[j][e] = x0 - h;
            double Lm = ref_loss(c, x, I.init_grad);
            x[j][e] = x0;
            fd[p] = (Lp - Lm) / (2 * h);
            an[p] = g[j][EMIM_GUARD + e];
            rms += fd[p] * fd[p];
        }
        rms = sqrt(rms / 6);
        for (int p = 0; p < 6; p++) {
            /* relative, with a floor far below any gradient a float can resolve at O(1) scale */
            double tol = c->grad_tol * (fabs(fd[p]) + rms) + 1e-9;
            ck_assert_msg(fabs(fd[p] - an[p]) <= tol,
                          "%s [%s] d/d tensor %d [%zu]: backward %.9g, finite difference %.12g (tol %.3g)",
                          emim_ops[op].name, c->label, j, picks[p], an[p], fd[p], tol);
            checked++;
        }
    }
    ck_assert_int_gt(checked, 0);
    free_tensors(x);
    for (int j = 0; j < EMIM_MAX_T; j++) free(g[j]);
    emim_case_free(&I);
}

/* Every op with a backward has a double reference; every case is checked. */
START_TEST(reference_and_finite_differences)
{
    emim_ctx *ctx = test_ctx(EMIM_BACKEND_CPU, EMIM_MODE_EXACT, 2, NULL, 0);
    ck_assert_ptr_nonnull(ctx);
    int ops_checked = 0;
    for (int op = 0; op < EMIM_OP_COUNT; op++) {
        emim_case c;
        int cases = 0;
        for (int idx = 0; emim_op_cases[op](idx, &c); idx++) {
            if (!c.ref) {
                ck_assert_msg(!EMIM_OP_HAS_BACKWARD(&emim_ops[op]), "op %s [%s]: no double reference (case.ref)",
                              emim_ops[op].name, c.label);
                continue;
            }
            forward_check(ctx, op, &c, 100 + (uint64_t)idx);
            if (EMIM_OP_HAS_BACKWARD(&emim_ops[op])) fd_check(ctx, op, &c, 200 + (uint64_t)idx);
            cases++;
        }
        if (EMIM_OP_HAS_BACKWARD(&emim_ops[op])) ck_assert_msg(cases > 0, "op %s: no cases", emim_ops[op].name);
        ops_checked += cases > 0;
    }
    ck_assert_int_ge(ops_checked, 6);
    emim_ctx_free(ctx);
}
END_TEST

/* GEMM, forward and backward, on the CPU twin against double precision:
 * each output within gamma_{K+2}(|alpha| sum|a||b| + |beta c|), half the
 * twin bound. */
static void gemm_reference(emim_mode mode)
{
    emim_ctx *ctx = test_ctx(EMIM_BACKEND_CPU, mode, 2, NULL, 0);
    ck_assert_ptr_nonnull(ctx);
    emim_case c;
    for (int idx = 0; emim_cases_gemm(idx, &c); idx++) {
        for (int dir = 0; dir < 2; dir++) {
            emim_case_inst I;
            ck_assert_int_eq(emim_case_setup(&I, ctx, EMIM_OP_gemm, &c, dir, 7 + (uint64_t)idx), EMIM_OK);
            ck_assert_msg(emim_case_exec(&I) == EMIM_OK, "%s", emim_error(ctx));
            float *val[EMIM_MAX_T] = { 0 }, *gr[EMIM_MAX_T] = { 0 };
            for (int q = 0; q < c.nt; q++) {
                if (I.init_val[q]) val[q] = I.init_val[q] + EMIM_GUARD;
                if (I.init_grad[q]) gr[q] = I.init_grad[q] + EMIM_GUARD;
            }
            for (int j = 0; j < c.nt; j++) {
                int grad = dir;
                if (!emim_case_is_output(&c, dir, j, grad)) continue;
                size_t len = emim_case_buflen(&c, j);
                float *got = malloc(len * sizeof(float));
                double *bnd = malloc(c.len[j] * sizeof(double)), *ref = malloc(c.len[j] * sizeof(double));
                ck_assert_int_eq(emim_case_fetch(&I, j, grad, got), EMIM_OK);
                c.bound(&c, dir, j, val, gr, bnd, ref);
                size_t n = 0;
                for (size_t e = 0; e < c.len[j]; e++) {
                    if (!emim_case_writes(&c, dir, j, grad, e)) {
                        ck_assert(isnan(ref[e]));
                        continue;
                    }
                    double d = fabs((double)got[EMIM_GUARD + e] - ref[e]);
                    ck_assert_msg(d <= bnd[e] / 2, "gemm [%s] %s mode dir %d tensor %d [%zu]: %.9g vs %.17g, error %.3g > %.3g",
                                  c.label, mode == EMIM_MODE_EXACT ? "exact" : "fast", dir, j, e,
                                  got[EMIM_GUARD + e], ref[e], d, bnd[e] / 2);
                    n++;
                }
                ck_assert_int_gt(n, 0);
                free(got); free(bnd); free(ref);
            }
            emim_case_free(&I);
        }
    }
    emim_ctx_free(ctx);
}

START_TEST(gemm_vs_double_exact) { gemm_reference(EMIM_MODE_EXACT); }
END_TEST
START_TEST(gemm_vs_double_fast) { gemm_reference(EMIM_MODE_FAST); }
END_TEST

static void report(const emim_validate_row *r, void *user)
{
    (void)user;
    if (!r->pass) fprintf(stderr, "FAIL %s %s [%s]: %s\n", r->op, r->dir, r->shape, r->note);
}

/* emim_validate on the CPU backend compares 2 threads against 1. */
static void threads_mode(emim_mode mode)
{
    emim_ctx *ctx = test_ctx(EMIM_BACKEND_CPU, mode, 2, NULL, 0);
    ck_assert_ptr_nonnull(ctx);
    int rows = 0, fails = 0;
    ck_assert_msg(emim_validate(ctx, NULL, 3, report, NULL, &rows, &fails) == EMIM_OK, "%s", emim_error(ctx));
    ck_assert_int_eq(fails, 0);
    ck_assert_int_gt(rows, 20);
    emim_ctx_free(ctx);
}
START_TEST(threads_exact) { threads_mode(EMIM_MODE_EXACT); }
END_TEST
START_TEST(threads_fast) { threads_mode(EMIM_MODE_FAST); }
END_TEST

START_TEST(random_statistics)
{
    emim_ctx *ctx = test_ctx(EMIM_BACKEND_CPU, EMIM_MODE_EXACT, 2, NULL, 0);
    ck_assert_ptr_nonnull(ctx);
    const size_t n = 200000;
    emim_buf *b = NULL;
    ck_assert_int_eq(emim_buf_alloc(ctx, n, &b), EMIM_OK);
    float *x = malloc(n * sizeof(float)), *h = malloc(n * sizeof(float));

    /* uniform [-2, 3): range, mean, and the same bits as the host fill */
    ck_assert_int_eq(emim_rand(ctx, emim_at(b, 0), n, EMIM_RAND_UNIFORM, 11, 2, -2.0f, 3.0f, 0, 0), EMIM_OK);
    ck_assert_int_eq(emim_buf_read(b, 0, n, x), EMIM_OK);
    emim_host_uniform(h, n, 11, 2, -2.0f, 3.0f);
    ck_assert_int_eq(memcmp(x, h, n * sizeof(float)), 0);
    double s = 0, s2 = 0, lo = 1e9, hi = -1e9;
    for (size_t i = 0; i < n; i++) { s += x[i]; lo = fmin(lo, x[i]); hi = fmax(hi, x[i]); }
    ck_assert(lo >= -2.0 && hi <= 3.0 && hi > 2.99 && lo < -1.99);
    ck_assert_double_eq_tol(s / n, 0.5, 5 * 5 / sqrt(12.0 * n));

    /* a prefix of a stream is the same numbers (element i depends on i only) */
    ck_assert_int_eq(emim_rand(ctx, emim_at(b, 0), 10, EMIM_RAND_UNIFORM, 11, 2, -2.0f, 3.0f, 0, 0), EMIM_OK);
    ck_assert_int_eq(emim_buf_read(b, 0, 10, h), EMIM_OK);
    ck_assert_int_eq(memcmp(x, h, 10 * sizeof(float)), 0);

    /* normal(0.5, 2) */
    ck_assert_int_eq(emim_rand(ctx, emim_at(b, 0), n, EMIM_RAND_NORMAL, 12, 0, 0.5f, 2.0f, 0, 0), EMIM_OK);
    ck_assert_int_eq(emim_buf_read(b, 0, n, x), EMIM_OK);
    s = s2 = 0;
    size_t tail = 0;
    for (size_t i = 0; i < n; i++) { s += x[i]; s2 += (x[i] - 0.5) * (x[i] - 0.5); tail += fabs(x[i] - 0.5) > 2 * 1.96; }
    ck_assert_double_eq_tol(s / n, 0.5, 5 * 2 / sqrt((double)n));
    ck_assert_double_eq_tol(sqrt(s2 / n), 2.0, 0.02);
    ck_assert_double_eq_tol((double)tail / n, 0.05, 0.005);

    /* truncated normal(0, 1) on [-1.5, 1.2]: all inside, the right mean */
    ck_assert_int_eq(emim_rand(ctx, emim_at(b, 0), n, EMIM_RAND_TRUNC_NORMAL, 13, 0, 0.0f, 1.0f, -1.5f, 1.2f), EMIM_OK);
    ck_assert_int_eq(emim_buf_read(b, 0, n, x), EMIM_OK);
    s = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert(x[i] >= -1.5f && x[i] <= 1.2f);
        s += x[i];
    }
    double phi_a = exp(-1.5 * 1.5 / 2) / sqrt(2 * M_PI), phi_b = exp(-1.2 * 1.2 / 2) / sqrt(2 * M_PI);
    double Z = 0.5 * (erf(1.2 / sqrt(2.0)) - erf(-1.5 / sqrt(2.0)));
    ck_assert_double_eq_tol(s / n, (phi_a - phi_b) / Z, 0.01);
    free(x);
    free(h);
    emim_buf_free(b);
    emim_ctx_free(ctx);
}
END_TEST

/* zca on correlated data with an offset mean (scales 1..d along a random
 * rotation, eigenvalues of the covariance spread by d^2): after many
 * steps the output is white (Y^T Y / n = I - eps S^-1, W symmetric), the
 * distance to white shrinks with T, T = 0 only centres and scales by
 * 1/sqrt(tr), and the running statistics follow their formula (momentum 1:
 * the evaluation forward gives the training forward's bits). */
static double zca_white_dist(const float *y, int n, int d)
{
    double worst = 0;
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            double c = 0;
            for (int r = 0; r < n; r++) c += (double)y[r * d + i] * y[r * d + j];
            worst = fmax(worst, fabs(c / n - (i == j)));
        }
    return worst;
}

START_TEST(zca_whitening)
{
    emim_ctx *ctx = test_ctx(EMIM_BACKEND_CPU, EMIM_MODE_EXACT, 2, NULL, 0);
    ck_assert_ptr_nonnull(ctx);
    enum { n = 512, d = 8, TMAX = 30 };
    float *z = malloc(sizeof(float) * n * d), *x = malloc(sizeof(float) * n * d), *y = malloc(sizeof(float) * n * d);
    float *y2 = malloc(sizeof(float) * n * d), *h = malloc(sizeof(float) * (d * d + d));
    double R[d * d];
    /* a random rotation (Gram-Schmidt on uniform columns) */
    float g[d * d];
    emim_host_uniform(g, d * d, 5, 1, -1.0f, 1.0f);
    for (int j = 0; j < d; j++) {
        for (int i = 0; i < d; i++) R[i * d + j] = g[i * d + j];
        for (int k = 0; k < j; k++) {
            double s = 0;
            for (int i = 0; i < d; i++) s += R[i * d + j] * R[i * d + k];
            for (int i = 0; i < d; i++) R[i * d + j] -= s * R[i * d + k];
        }
        double s = 0;
        for (int i = 0; i < d; i++) s += R[i * d + j] * R[i * d + j];
        for (int i = 0; i < d; i++) R[i * d + j] /= sqrt(s);
    }
    emim_host_uniform(z, (size_t)n * d, 5, 2, -1.0f, 1.0f);
    for (int r = 0; r < n; r++)
        for (int j = 0; j < d; j++) {
            double s = 0;
            for (int k = 0; k < d; k++) s += z[r * d + k] * (k + 1) * R[j * d + k];
            x[r * d + j] = (float)(s + 3.0 - j);
        }
    emim_buf *bx = NULL, *by = NULL, *bc = NULL, *bm = NULL, *bw = NULL;
    ck_assert_int_eq(emim_buf_alloc(ctx, (size_t)n * d, &bx), EMIM_OK);
    ck_assert_int_eq(emim_buf_alloc(ctx, (size_t)n * d, &by), EMIM_OK);
    ck_assert_int_eq(emim_buf_alloc(ctx, emim_zca_cache_size(d, TMAX), &bc), EMIM_OK);
    ck_assert_int_eq(emim_buf_alloc(ctx, d, &bm), EMIM_OK);
    ck_assert_int_eq(emim_buf_alloc(ctx, d * d, &bw), EMIM_OK);
    ck_assert_int_eq(emim_buf_write(bx, 0, (size_t)n * d, x), EMIM_OK);
    emim_ref X = emim_at(bx, 0), Y = emim_at(by, 0), C = emim_at(bc, 0);
    const float eps = 1e-5f;

    /* T = 0: y = (x - mu) / sqrt(tr) */
    ck_assert_int_eq(emim_zca(ctx, Y, X, C, n, d, 0, eps), EMIM_OK);
    ck_assert_int_eq(emim_buf_read(by, 0, (size_t)n * d, y), EMIM_OK);
    double mu[d], tr = d * (double)eps;
    for (int j = 0; j < d; j++) {
        mu[j] = 0;
        for (int r = 0; r < n; r++) mu[j] += x[r * d + j];
        mu[j] /= n;
    }
    for (int r = 0; r < n; r++)
        for (int j = 0; j < d; j++) tr += (x[r * d + j] - mu[j]) * (x[r * d + j] - mu[j]) / n;
    for (int e = 0; e < n * d; e++)
        ck_assert_msg(fabs(y[e] - (x[e] - mu[e % d]) / sqrt(tr)) < 1e-5, "T=0 [%d]: %g", e, y[e]);

    /* the distance to white shrinks with T, and is small for many steps */
    static const int Ts[] = { 1, 3, 5, 8, 12, TMAX };
    double prev = 1e30, dist = 0;
    for (int t = 0; t < (int)(sizeof Ts / sizeof Ts[0]); t++) {
        ck_assert_int_eq(emim_zca(ctx, Y, X, C, n, d, Ts[t], eps), EMIM_OK);
        ck_assert_int_eq(emim_buf_read(by, 0, (size_t)n * d, y), EMIM_OK);
        dist = zca_white_dist(y, n, d);
        ck_assert_msg(dist <= prev, "T=%d: |Y^T Y / n - I| = %g grew from %g", Ts[t], dist, prev);
        prev = dist;
    }
    ck_assert_msg(dist < 1e-4, "T=%d: |Y^T Y / n - I| = %g", TMAX, dist);
    /* ZCA's W is the symmetric S^(-1/2) (at offset d*d of the cache); columns of y have mean 0 */
    ck_assert_int_eq(emim_buf_read(bc, (size_t)d * d, (size_t)d * d, h), EMIM_OK);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) ck_assert(fabs(h[i * d + j] - h[j * d + i]) < 1e-5 * fabs(h[i * d + i]));
    for (int j = 0; j < d; j++) {
        double s = 0;
        for (int r = 0; r < n; r++) s += y[r * d + j];
        ck_assert(fabs(s / n) < 1e-5);
    }

    /* running statistics: two updates with momentum 0.1 from one cache */
    emim_ref M = emim_at(bm, 0), Wr = emim_at(bw, 0);
    ck_assert_int_eq(emim_zca_running_init(ctx, M, Wr, d), EMIM_OK);
    ck_assert_int_eq(emim_zca_running_update(ctx, M, Wr, C, 0.1f, d, TMAX), EMIM_OK);
    ck_assert_int_eq(emim_zca_running_update(ctx, M, Wr, C, 0.1f, d, TMAX), EMIM_OK);
    float rm[d], rw[d * d];
    ck_assert_int_eq(emim_buf_read(bm, 0, d, rm), EMIM_OK);
    ck_assert_int_eq(emim_buf_read(bw, 0, d * d, rw), EMIM_OK);
    for (int j = 0; j < d; j++) ck_assert(fabs(rm[j] - 0.19 * mu[j]) < 1e-5 * (1 + fabs(mu[j])));
    for (int e = 0; e < d * d; e++)
        ck_assert(fabs(rw[e] - (0.81 * (e / d == e % d) + 0.19 * h[e])) < 1e-5 * (1 + fabs(h[e])));
    /* momentum 1: the batch statistics, and the evaluation forward gives y's bits */
    ck_assert_int_eq(emim_zca_running_update(ctx, M, Wr, C, 1.0f, d, TMAX), EMIM_OK);
    emim_buf *by2 = NULL;
    ck_assert_int_eq(emim_buf_alloc(ctx, (size_t)n * d, &by2), EMIM_OK);
    ck_assert_int_eq(emim_zca_eval(ctx, emim_at(by2, 0), X, M, Wr, n, d), EMIM_OK);
    ck_assert_int_eq(emim_buf_read(by2, 0, (size_t)n * d, y2), EMIM_OK);
    ck_assert_int_eq(memcmp(y, y2, sizeof(float) * n * d), 0);

    /* arguments */
    ck_assert_int_eq(emim_zca(ctx, Y, X, C, n, d, -1, eps), EMIM_ERR_ARG);
    ck_assert_int_eq(emim_zca(ctx, Y, X, C, n, d, 5, -1.0f), EMIM_ERR_ARG);
    ck_assert_int_eq(emim_zca(ctx, Y, X, C, n, d, TMAX + 1, eps), EMIM_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(emim_error(ctx), "cache"));
    ck_assert_int_eq(emim_zca_running_update(ctx, M, Wr, C, 1.5f, d, TMAX), EMIM_ERR_ARG);
    free(z); free(x); free(y); free(y2); free(h);
    emim_ctx_free(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cpu");
    TCase *tc = tcase_create("cpu");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, reference_and_finite_differences);
    tcase_add_test(tc, gemm_vs_double_exact);
    tcase_add_test(tc, gemm_vs_double_fast);
    tcase_add_test(tc, threads_exact);
    tcase_add_test(tc, threads_fast);
    tcase_add_test(tc, random_statistics);
    tcase_add_test(tc, zca_whitening);
    suite_add_tcase(s, tc);
    return run_suite(s, 1);
}
