/* check_math_cl.c: src/core/emim_math.h compiled as OpenCL C (from the text of
 * $EMIM_SRCDIR/src/core/emim_math.h, default ".") must give bit-identical results
 * to the same header compiled as C here, for every elementary function over
 * ~1M inputs spanning their ranges, and for Philox.  Exits 77 (skip) when
 * there is no OpenCL platform or device.
 *
 * Build: cc -std=c11 -O2 -ffp-contract=off -Isrc tests/check_math_cl.c \
 *          $(pkg-config --cflags --libs check) -lOpenCL -lm */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/emim_math.h"

#define N_X (1u << 20) /* inputs of exp, log, erf */
#define N_U (1u << 20) /* inputs of sin2pi, cos2pi (in [0, 1]) */
#define N_PHILOX (1u << 16)
#define N_FUNCS 5

static const char *kernel_src =
    "\n"
    "__kernel void eval_math(__global const float *x, __global const float *u,\n"
    "                        __global float *out, uint nx, uint nu)\n"
    "{\n"
    "    uint i = (uint)get_global_id(0);\n"
    "    if (i < nx) {\n"
    "        float v = x[i];\n"
    "        out[i] = emim_expf(v);\n"
    "        out[nx + i] = emim_logf(v);\n"
    "        out[2u * nx + i] = emim_erff(v);\n"
    "    }\n"
    "    if (i < nu) {\n"
    "        float w = u[i];\n"
    "        out[3u * nx + i] = emim_sin2pi(w);\n"
    "        out[3u * nx + nu + i] = emim_cos2pi(w);\n"
    "    }\n"
    "}\n"
    "\n"
    "__kernel void eval_philox(__global const uint *in, __global uint *out,\n"
    "                          __global float *fout, uint n)\n"
    "{\n"
    "    uint i = (uint)get_global_id(0);\n"
    "    if (i >= n) return;\n"
    "    emim_philox_ctr c;\n"
    "    c.v[0] = in[6u * i]; c.v[1] = in[6u * i + 1u];\n"
    "    c.v[2] = in[6u * i + 2u]; c.v[3] = in[6u * i + 3u];\n"
    "    emim_philox_ctr r = emim_philox4x32_10(c, in[6u * i + 4u], in[6u * i + 5u]);\n"
    "    for (int j = 0; j < 4; j++) out[4u * i + (uint)j] = r.v[j];\n"
    "    fout[2u * i] = emim_u01(r.v[0]);\n"
    "    fout[2u * i + 1u] = emim_u01_open0(r.v[1]);\n"
    "}\n";

static const char *const func_names[N_FUNCS] = {"emim_expf", "emim_logf", "emim_erff",
                                                "emim_sin2pi", "emim_cos2pi"};

static cl_platform_id g_platform;
static cl_device_id g_device;
static cl_context g_ctx;
static cl_command_queue g_queue;
static cl_program g_prog;

static uint32_t bits_of(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static float float_of(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }

static uint64_t sm_state = 42u;
static uint64_t splitmix64(void)
{
    uint64_t z = (sm_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 4096 > cap) buf = realloc(buf, cap *= 2);
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        if (r == 0) break;
        n += r;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Finds a device; returns 0, or prints why not and returns -1. */
static int find_device(void)
{
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &np);
    if (err != CL_SUCCESS || np == 0) {
        printf("no OpenCL platform (clGetPlatformIDs: %d, %u platforms): skipping\n", (int)err, np);
        return -1;
    }
    cl_platform_id *ps = calloc(np, sizeof *ps);
    clGetPlatformIDs(np, ps, NULL);
    int found = -1;
    for (cl_uint p = 0; p < np && found < 0; p++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(ps[p], CL_DEVICE_TYPE_ALL, 1, &g_device, &nd) == CL_SUCCESS && nd > 0) {
            g_platform = ps[p];
            found = 0;
        }
    }
    free(ps);
    if (found < 0) printf("no OpenCL device on any of %u platforms: skipping\n", np);
    return found;
}

static void build_program(void)
{
    const char *srcdir = getenv("EMIM_SRCDIR");
    if (!srcdir || !*srcdir) srcdir = ".";
    char path[4096];
    snprintf(path, sizeof path, "%s/src/core/emim_math.h", srcdir);
    size_t hlen = 0;
    char *header = read_file(path, &hlen);
    ck_assert_msg(header != NULL, "cannot read %s", path);
    size_t klen = strlen(kernel_src);
    char *src = malloc(hlen + klen + 1);
    memcpy(src, header, hlen);
    memcpy(src + hlen, kernel_src, klen + 1);
    free(header);

    cl_device_fp_config fp = 0;
    clGetDeviceInfo(g_device, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
    char opts[128] = "-cl-std=CL1.2";
    if (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT)
        strcat(opts, " -cl-fp32-correctly-rounded-divide-sqrt");
    printf("OpenCL build options: %s (denormals %s, fma %s)\n", opts,
           (fp & CL_FP_DENORM) ? "yes" : "no", (fp & CL_FP_FMA) ? "yes" : "no");

    cl_int err;
    const char *srcs[1] = {src};
    g_prog = clCreateProgramWithSource(g_ctx, 1, srcs, NULL, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    cl_int berr = clBuildProgram(g_prog, 1, &g_device, opts, NULL, NULL);
    free(src);
    size_t loglen = 0;
    clGetProgramBuildInfo(g_prog, g_device, CL_PROGRAM_BUILD_LOG, 0, NULL, &loglen);
    char *log = calloc(loglen + 1, 1);
    clGetProgramBuildInfo(g_prog, g_device, CL_PROGRAM_BUILD_LOG, loglen, log, NULL);
    int has_text = 0;
    for (size_t i = 0; log[i]; i++)
        if (log[i] != ' ' && log[i] != '\n' && log[i] != '\r' && log[i] != '\t') has_text = 1;
    if (berr != CL_SUCCESS || has_text) {
        printf("OpenCL build %s; build log:\n%s\n", berr == CL_SUCCESS ? "succeeded" : "FAILED", log);
        fflush(stdout);
    }
    int warned = strstr(log, "warning") != NULL;
    free(log);
    if (berr != CL_SUCCESS) {
        clReleaseProgram(g_prog);
        g_prog = NULL;
    }
    ck_assert_msg(berr == CL_SUCCESS, "clBuildProgram failed: %d (build log above)", (int)berr);
    ck_assert_msg(!warned, "the OpenCL build of emim_math.h gave warnings (build log above)");
}

START_TEST(test_build)
{
    build_program();
}
END_TEST

/* ~1M inputs for exp/log/erf: every float class (strided bit patterns: NaN,
 * inf, denormals, both signs), the interesting ranges densely, specials. */
static void make_x(float *x)
{
    static const float specials[] = {0.0f, -0.0f, 1.0f, -1.0f, 2.0f, 0.5f, INFINITY, -INFINITY, NAN,
                                     0x1p-149f, -0x1p-149f, 0x1p-126f, 0x1.fffffcp-127f,
                                     0x1.fffffep127f, -0x1.fffffep127f, 88.72283f, 88.72284f,
                                     89.0f, -87.33654f, -103.97207f, -103.97208f, -104.0f,
                                     3.92f, 3.9f, 4.0f, 0.99999994f, 1.0000001f,
                                     0x1.6a09e6p+0f, 0x1.6a09e8p+0f, 0x1.6a09e6p-1f};
    uint32_t ns = (uint32_t)(sizeof specials / sizeof specials[0]);
    uint32_t i = 0;
    for (; i < ns; i++) x[i] = specials[i];
    for (; i < N_X / 4; i++) x[i] = float_of((uint32_t)(splitmix64() >> 32)); /* any bits */
    for (; i < N_X / 2; i++) { /* exp's range, every binade: 2^[-40, 7) with random sign */
        uint32_t r = (uint32_t)(splitmix64() >> 32);
        float m = float_of(0x3f800000u | (r & 0x7fffffu));
        int e = (int)((r >> 23) % 47u) - 40;
        float v = m * float_of((uint32_t)(e + 127) << 23);
        x[i] = (r & 0x80000000u) ? -v : v;
    }
    for (; i < 3 * (N_X / 4); i++) /* uniform over [-110, 100] */
        x[i] = -110.0f + 210.0f * (float)(splitmix64() >> 40) * 0x1p-24f;
    for (; i < N_X; i++) /* uniform over [-4.5, 4.5] (erf) and near 1 (log) */
        x[i] = (i & 1) ? -4.5f + 9.0f * (float)(splitmix64() >> 40) * 0x1p-24f
                       : 0.5f + 1.5f * (float)(splitmix64() >> 40) * 0x1p-24f;
}

/* ~1M inputs in [0, 1] for sin2pi/cos2pi: the u01 grid and any float. */
static void make_u(float *u)
{
    static const float specials[] = {0.0f, 1.0f, 0.125f, 0.25f, 0.375f, 0.5f, 0.625f, 0.75f,
                                     0.875f, 0x1p-149f, 0x1p-24f, 1.0f - 0x1p-24f, 0.125f - 0x1p-27f,
                                     0.125f + 0x1p-26f};
    uint32_t ns = (uint32_t)(sizeof specials / sizeof specials[0]);
    uint32_t i = 0;
    for (; i < ns; i++) u[i] = specials[i];
    for (; i < N_U / 2; i++) u[i] = (float)(splitmix64() >> 40) * 0x1p-24f;
    for (; i < N_U; i++) {
        float v = float_of((uint32_t)(splitmix64() >> 32) % 0x3f800001u);
        u[i] = v;
    }
}

static float c_eval(int f, float v)
{
    switch (f) {
    case 0: return emim_expf(v);
    case 1: return emim_logf(v);
    case 2: return emim_erff(v);
    case 3: return emim_sin2pi(v);
    default: return emim_cos2pi(v);
    }
}

START_TEST(test_bitwise_math)
{
    ck_assert_msg(g_prog != NULL, "program not built");
    float *x = malloc(N_X * sizeof *x), *u = malloc(N_U * sizeof *u);
    size_t nout = 3u * N_X + 2u * N_U;
    float *out = malloc(nout * sizeof *out);
    make_x(x);
    make_u(u);

    cl_int err;
    cl_kernel k = clCreateKernel(g_prog, "eval_math", &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    cl_mem bx = clCreateBuffer(g_ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, N_X * sizeof *x, x, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    cl_mem bu = clCreateBuffer(g_ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, N_U * sizeof *u, u, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    cl_mem bo = clCreateBuffer(g_ctx, CL_MEM_WRITE_ONLY, nout * sizeof *out, NULL, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    cl_uint nx = N_X, nu = N_U;
    clSetKernelArg(k, 0, sizeof bx, &bx);
    clSetKernelArg(k, 1, sizeof bu, &bu);
    clSetKernelArg(k, 2, sizeof bo, &bo);
    clSetKernelArg(k, 3, sizeof nx, &nx);
    clSetKernelArg(k, 4, sizeof nu, &nu);
    size_t gsz = N_X > N_U ? N_X : N_U;
    ck_assert_int_eq(clEnqueueNDRangeKernel(g_queue, k, 1, NULL, &gsz, NULL, 0, NULL, NULL), CL_SUCCESS);
    ck_assert_int_eq(clEnqueueReadBuffer(g_queue, bo, CL_TRUE, 0, nout * sizeof *out, out, 0, NULL, NULL),
                     CL_SUCCESS);

    unsigned long total_bad = 0;
    for (int f = 0; f < N_FUNCS; f++) {
        const float *in = f < 3 ? x : u;
        const float *got = f < 3 ? out + (size_t)f * N_X : out + 3u * N_X + (size_t)(f - 3) * N_U;
        uint32_t n = f < 3 ? N_X : N_U;
        unsigned long bad = 0;
        for (uint32_t i = 0; i < n; i++) {
            float want = c_eval(f, in[i]);
            if (bits_of(want) != bits_of(got[i])) {
                if (bad < 5)
                    printf("%s(%a [%08x]): OpenCL %a [%08x], C %a [%08x]\n", func_names[f],
                           (double)in[i], bits_of(in[i]), (double)got[i], bits_of(got[i]),
                           (double)want, bits_of(want));
                bad++;
            }
        }
        printf("%-12s %u inputs, %lu not bit-identical\n", func_names[f], n, bad);
        total_bad += bad;
    }
    fflush(stdout);
    clReleaseMemObject(bx);
    clReleaseMemObject(bu);
    clReleaseMemObject(bo);
    clReleaseKernel(k);
    free(x);
    free(u);
    free(out);
    ck_assert_msg(total_bad == 0, "%lu results differ between OpenCL and C", total_bad);
}
END_TEST

START_TEST(test_bitwise_philox)
{
    ck_assert_msg(g_prog != NULL, "program not built");
    uint32_t *in = malloc(6u * N_PHILOX * sizeof *in), *out = malloc(4u * N_PHILOX * sizeof *out);
    float *fout = malloc(2u * N_PHILOX * sizeof *fout);
    for (uint32_t i = 0; i < 6u * N_PHILOX; i++)
        in[i] = (i % 12u < 6u) ? (uint32_t)(splitmix64() >> 16) : (i / 6u) * (i % 6u);
    cl_int err;
    cl_kernel k = clCreateKernel(g_prog, "eval_philox", &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    cl_mem bi = clCreateBuffer(g_ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, 6u * N_PHILOX * sizeof *in,
                               in, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    cl_mem bo = clCreateBuffer(g_ctx, CL_MEM_WRITE_ONLY, 4u * N_PHILOX * sizeof *out, NULL, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    cl_mem bf = clCreateBuffer(g_ctx, CL_MEM_WRITE_ONLY, 2u * N_PHILOX * sizeof *fout, NULL, &err);
    ck_assert_int_eq(err, CL_SUCCESS);
    cl_uint n = N_PHILOX;
    clSetKernelArg(k, 0, sizeof bi, &bi);
    clSetKernelArg(k, 1, sizeof bo, &bo);
    clSetKernelArg(k, 2, sizeof bf, &bf);
    clSetKernelArg(k, 3, sizeof n, &n);
    size_t gsz = N_PHILOX;
    ck_assert_int_eq(clEnqueueNDRangeKernel(g_queue, k, 1, NULL, &gsz, NULL, 0, NULL, NULL), CL_SUCCESS);
    ck_assert_int_eq(clEnqueueReadBuffer(g_queue, bo, CL_TRUE, 0, 4u * N_PHILOX * sizeof *out, out, 0,
                                         NULL, NULL), CL_SUCCESS);
    ck_assert_int_eq(clEnqueueReadBuffer(g_queue, bf, CL_TRUE, 0, 2u * N_PHILOX * sizeof *fout, fout, 0,
                                         NULL, NULL), CL_SUCCESS);
    unsigned long bad = 0;
    for (uint32_t i = 0; i < N_PHILOX; i++) {
        emim_philox_ctr c = {{in[6u * i], in[6u * i + 1u], in[6u * i + 2u], in[6u * i + 3u]}};
        emim_philox_ctr r = emim_philox4x32_10(c, in[6u * i + 4u], in[6u * i + 5u]);
        int diff = memcmp(r.v, out + 4u * i, sizeof r.v) != 0;
        diff |= bits_of(emim_u01(r.v[0])) != bits_of(fout[2u * i]);
        diff |= bits_of(emim_u01_open0(r.v[1])) != bits_of(fout[2u * i + 1u]);
        if (diff && bad++ < 5) printf("philox input %u differs between OpenCL and C\n", i);
    }
    printf("%-12s %u inputs, %lu not bit-identical\n", "philox+u01", N_PHILOX, bad);
    fflush(stdout);
    clReleaseMemObject(bi);
    clReleaseMemObject(bo);
    clReleaseMemObject(bf);
    clReleaseKernel(k);
    free(in);
    free(out);
    free(fout);
    ck_assert_msg(bad == 0, "%lu Philox results differ between OpenCL and C", bad);
}
END_TEST

int main(void)
{
    if (find_device() != 0) return 77;
    char name[256] = "", ver[256] = "";
    clGetDeviceInfo(g_device, CL_DEVICE_NAME, sizeof name - 1, name, NULL);
    clGetDeviceInfo(g_device, CL_DEVICE_VERSION, sizeof ver - 1, ver, NULL);
    printf("OpenCL device: %s (%s)\n", name, ver);
    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)g_platform, 0};
    g_ctx = clCreateContext(props, 1, &g_device, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        printf("clCreateContext failed (%d): skipping\n", (int)err);
        return 77;
    }
    g_queue = clCreateCommandQueue(g_ctx, g_device, 0, &err);
    if (err != CL_SUCCESS) {
        printf("clCreateCommandQueue failed (%d)\n", (int)err);
        return EXIT_FAILURE;
    }

    Suite *s = suite_create("emim_math_cl");
    TCase *tc = tcase_create("twins");
    tcase_set_timeout(tc, 300); /* the first build may be slow (no kernel cache) */
    tcase_add_test(tc, test_build);
    tcase_add_test(tc, test_bitwise_math);
    tcase_add_test(tc, test_bitwise_philox);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    /* The OpenCL context lives in this process: no fork (an OpenCL runtime's
     * threads do not survive fork()). */
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (g_prog) clReleaseProgram(g_prog);
    clReleaseCommandQueue(g_queue);
    clReleaseContext(g_ctx);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
