/* The twin tests: every op of the table, forward and backward, on the
 * OpenCL device and on the CPU twin. Exact mode: bit-identical. Fast mode:
 * GEMMs within the bound of doc/numerics.md, every other op bit-identical.
 * Exits 77 (skip) only when no OpenCL device exists. */
#include "cases/validate.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int rows[64][2];  /* per op, per direction */
    int fails;
} tally;

static void count(const emim_validate_row *r, void *user)
{
    tally *t = user;
    for (int i = 0; i < emim_op_count(); i++)
        if (!strcmp(emim_op_get(i)->name, r->op)) t->rows[i][!strcmp(r->dir, "backward")]++;
    if (!r->pass) {
        t->fails++;
        fprintf(stderr, "FAIL %s %s [%s]: %s\n", r->op, r->dir, r->shape, r->note);
    }
}

static void run_mode(emim_mode mode)
{
    char why[4096];
    emim_ctx *ctx = test_ctx(EMIM_BACKEND_OPENCL, mode, 0, why, sizeof why);
    ck_assert_msg(ctx != NULL, "OpenCL context: %s", why);
    tally t;
    memset(&t, 0, sizeof t);
    int rows = 0, fails = 0;
    emim_status s = emim_validate(ctx, NULL, 1, count, &t, &rows, &fails);
    ck_assert_msg(s == EMIM_OK, "validate (%s mode): %s", mode == EMIM_MODE_EXACT ? "exact" : "fast", emim_error(ctx));
    ck_assert_int_eq(fails, 0);
    ck_assert_int_eq(t.fails, 0);
    /* every op of the table has a twin test in each of its directions */
    for (int i = 0; i < emim_op_count(); i++) {
        const emim_op_info *op = emim_op_get(i);
        ck_assert_msg(op->cl_fwd && op->cpu_fwd, "op %s has no forward twin pair", op->name);
        ck_assert_msg(t.rows[i][0] > 0, "op %s: no forward twin test ran", op->name);
        if (op->has_backward) {
            ck_assert_msg(op->cl_bwd && op->cpu_bwd, "op %s has no backward twin pair", op->name);
            ck_assert_msg(t.rows[i][1] > 0, "op %s: no backward twin test ran", op->name);
        }
    }
    printf("%s mode: %d twin checks passed on %s\n", mode == EMIM_MODE_EXACT ? "exact" : "fast", rows,
           emim_device_name(ctx));
    emim_ctx_free(ctx);
}

START_TEST(twins_exact) { run_mode(EMIM_MODE_EXACT); }
END_TEST

START_TEST(twins_fast) { run_mode(EMIM_MODE_FAST); }
END_TEST

/* Both exact GEMM kernels (tiled for GPUs, direct for CPU devices) on
 * whatever device this is: they must give the same bits. */
START_TEST(twins_exact_other_gemm_kernel)
{
    const char *old = getenv("EMIM_CL_GEMM");
    setenv("EMIM_CL_GEMM", "tiled", 1);
    run_mode(EMIM_MODE_EXACT);
    setenv("EMIM_CL_GEMM", "direct", 1);
    run_mode(EMIM_MODE_EXACT);
    if (old) setenv("EMIM_CL_GEMM", old, 1);
    else unsetenv("EMIM_CL_GEMM");
}
END_TEST

/* The row ops' serial kernels (one work-item per row, for devices that
 * cannot take a work-group of EMIM_ROW_LANES) against the CPU twin: the
 * same bits as the work-group kernels the default run used. */
START_TEST(twins_exact_serial_rows)
{
    const char *old = getenv("EMIM_CL_ROWS");
    setenv("EMIM_CL_ROWS", "serial", 1);
    run_mode(EMIM_MODE_EXACT);
    if (old) setenv("EMIM_CL_ROWS", old, 1);
    else unsetenv("EMIM_CL_ROWS");
}
END_TEST

int main(void)
{
    if (!emim_have_opencl()) {
        printf("SKIP: built without OpenCL\n");
        return 77;
    }
    char why[4096];
    emim_ctx *probe = test_ctx(EMIM_BACKEND_OPENCL, EMIM_MODE_EXACT, 0, why, sizeof why);
    if (!probe) {
        printf("SKIP: no OpenCL device: %s\n", why);
        return 77;
    }
    emim_ctx_free(probe);
    Suite *s = suite_create("twins");
    TCase *tc = tcase_create("opencl-vs-cpu");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, twins_exact);
    tcase_add_test(tc, twins_fast);
    tcase_add_test(tc, twins_exact_other_gemm_kernel);
    tcase_add_test(tc, twins_exact_serial_rows);
    suite_add_tcase(s, tc);
    return run_suite(s, 0);
}
