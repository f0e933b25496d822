/* The OpenCL backend: device choice, one context and queue per emim context,
 * one program built from the sources embedded at build time (or from
 * EMIM_CL_SOURCE_DIR during development), buffers, kernel launch helpers. */
#include "core/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern const int emim_cl_nsources;
extern const char *const emim_cl_sources[];
extern const char *const emim_cl_source_names[];

const char *emim_cl_error_name(cl_int err)
{
    switch (err) {
#define E(x) case x: return #x;
    E(CL_SUCCESS) E(CL_DEVICE_NOT_FOUND) E(CL_DEVICE_NOT_AVAILABLE) E(CL_COMPILER_NOT_AVAILABLE)
    E(CL_MEM_OBJECT_ALLOCATION_FAILURE) E(CL_OUT_OF_RESOURCES) E(CL_OUT_OF_HOST_MEMORY)
    E(CL_PROFILING_INFO_NOT_AVAILABLE) E(CL_MEM_COPY_OVERLAP) E(CL_IMAGE_FORMAT_MISMATCH)
    E(CL_IMAGE_FORMAT_NOT_SUPPORTED) E(CL_BUILD_PROGRAM_FAILURE) E(CL_MAP_FAILURE)
    E(CL_MISALIGNED_SUB_BUFFER_OFFSET) E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    E(CL_COMPILE_PROGRAM_FAILURE) E(CL_LINKER_NOT_AVAILABLE) E(CL_LINK_PROGRAM_FAILURE)
    E(CL_DEVICE_PARTITION_FAILED) E(CL_KERNEL_ARG_INFO_NOT_AVAILABLE)
    E(CL_INVALID_VALUE) E(CL_INVALID_DEVICE_TYPE) E(CL_INVALID_PLATFORM) E(CL_INVALID_DEVICE)
    E(CL_INVALID_CONTEXT) E(CL_INVALID_QUEUE_PROPERTIES) E(CL_INVALID_COMMAND_QUEUE)
    E(CL_INVALID_HOST_PTR) E(CL_INVALID_MEM_OBJECT) E(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR)
    E(CL_INVALID_IMAGE_SIZE) E(CL_INVALID_SAMPLER) E(CL_INVALID_BINARY) E(CL_INVALID_BUILD_OPTIONS)
    E(CL_INVALID_PROGRAM) E(CL_INVALID_PROGRAM_EXECUTABLE) E(CL_INVALID_KERNEL_NAME)
    E(CL_INVALID_KERNEL_DEFINITION) E(CL_INVALID_KERNEL) E(CL_INVALID_ARG_INDEX)
    E(CL_INVALID_ARG_VALUE) E(CL_INVALID_ARG_SIZE) E(CL_INVALID_KERNEL_ARGS)
    E(CL_INVALID_WORK_DIMENSION) E(CL_INVALID_WORK_GROUP_SIZE) E(CL_INVALID_WORK_ITEM_SIZE)
    E(CL_INVALID_GLOBAL_OFFSET) E(CL_INVALID_EVENT_WAIT_LIST) E(CL_INVALID_EVENT)
    E(CL_INVALID_OPERATION) E(CL_INVALID_GL_OBJECT) E(CL_INVALID_BUFFER_SIZE)
    E(CL_INVALID_MIP_LEVEL) E(CL_INVALID_GLOBAL_WORK_SIZE) E(CL_INVALID_PROPERTY)
    E(CL_INVALID_IMAGE_DESCRIPTOR) E(CL_INVALID_COMPILER_OPTIONS) E(CL_INVALID_LINKER_OPTIONS)
    E(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef E
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "unknown OpenCL error";
    }
}

emim_status emim_cl_check(emim_ctx *ctx, cl_int err, const char *what)
{
    if (err == CL_SUCCESS) return EMIM_OK;
    emim_status s = (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES ||
                     err == CL_OUT_OF_HOST_MEMORY) ? EMIM_ERR_NOMEM : EMIM_ERR_OPENCL;
    return emim_set_error(ctx, s, "%s: %s (%d)", what, emim_cl_error_name(err), (int)err);
}

/* ---- device enumeration: all devices of all platforms, in order ---- */
typedef struct {
    cl_platform_id platform;
    cl_device_id device;
} cl_dev_entry;

static int list_devices(cl_dev_entry *out, int max, cl_int *errp)
{
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &np);
    if (err != CL_SUCCESS || np == 0) { *errp = err; return 0; }
    cl_platform_id plats[16];
    if (np > 16) np = 16;
    clGetPlatformIDs(np, plats, NULL);
    int n = 0;
    for (cl_uint p = 0; p < np && n < max; p++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS) continue;
        cl_device_id devs[64];
        if (nd > 64) nd = 64;
        clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, devs, NULL);
        for (cl_uint d = 0; d < nd && n < max; d++) {
            out[n].platform = plats[p];
            out[n].device = devs[d];
            n++;
        }
    }
    *errp = CL_SUCCESS;
    return n;
}

static void dev_string(cl_device_id d, cl_device_info what, char *buf, size_t len)
{
    buf[0] = 0;
    if (clGetDeviceInfo(d, what, len, buf, NULL) != CL_SUCCESS) snprintf(buf, len, "?");
    buf[len - 1] = 0;
}

static const char *type_name(cl_device_type t)
{
    if (t & CL_DEVICE_TYPE_GPU) return "GPU";
    if (t & CL_DEVICE_TYPE_CPU) return "CPU";
    if (t & CL_DEVICE_TYPE_ACCELERATOR) return "accelerator";
    return "other";
}

/* Whether hay contains needle, ignoring ASCII case. */
static int contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n)) return 1;
    return n == 0;
}

/* ---- program ---- */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    if (buf) { buf[n] = 0; if (len) *len = (size_t)n; }
    return buf;
}

static emim_status build_program(emim_ctx *ctx)
{
    emim_cl *cl = &ctx->cl;
    const char **srcs = calloc((size_t)emim_cl_nsources, sizeof *srcs);
    char **owned = calloc((size_t)emim_cl_nsources, sizeof *owned);
    if (!srcs || !owned) { free(srcs); free(owned); return emim_set_error(ctx, EMIM_ERR_NOMEM, "out of memory"); }
    const char *dir = getenv("EMIM_CL_SOURCE_DIR");
    emim_status s = EMIM_OK;
    for (int i = 0; i < emim_cl_nsources; i++) {
        if (dir && *dir) {
            /* development override: the same files, read from a source tree */
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, emim_cl_source_names[i]);
            size_t len;
            char *text = read_file(path, &len);
            if (!text) { s = emim_set_error(ctx, EMIM_ERR_IO, "EMIM_CL_SOURCE_DIR: cannot read %s", path); break; }
            /* keep the #line directive of the embedded copy */
            char *withline = malloc(len + 256);
            if (!withline) { free(text); s = emim_set_error(ctx, EMIM_ERR_NOMEM, "out of memory"); break; }
            snprintf(withline, len + 256, "#line 1 \"%s\"\n%s", path, text);
            free(text);
            owned[i] = withline;
            srcs[i] = withline;
        } else {
            srcs[i] = emim_cl_sources[i];
        }
    }
    if (s == EMIM_OK) {
        cl_int err;
        cl->program = clCreateProgramWithSource(cl->context, (cl_uint)emim_cl_nsources, srcs, NULL, &err);
        s = emim_cl_check(ctx, err, "clCreateProgramWithSource");
    }
    for (int i = 0; i < emim_cl_nsources; i++) free(owned[i]);
    free(owned);
    free(srcs);
    if (s) return s;

    /* Explicit options: OpenCL C 1.2, no -cl-mad-enable, no fast relaxed
     * math; correctly rounded division and sqrt where the device has them
     * (doc/numerics.md). */
    snprintf(cl->options, sizeof cl->options, "-cl-std=CL1.2%s",
             cl->correct_divsqrt ? " -cl-fp32-correctly-rounded-divide-sqrt" : "");
    cl_int err = clBuildProgram(cl->program, 1, &cl->device, cl->options, NULL, NULL);
    if (err != CL_SUCCESS) {
        size_t len = 0;
        clGetProgramBuildInfo(cl->program, cl->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &len);
        char *log = malloc(len + 1);
        if (log) {
            clGetProgramBuildInfo(cl->program, cl->device, CL_PROGRAM_BUILD_LOG, len, log, NULL);
            log[len] = 0;
        }
        emim_set_error(ctx, EMIM_ERR_BUILD, "OpenCL program failed to build on '%s' (%s, options '%s'); build log:\n%s",
                       ctx->device_name, emim_cl_error_name(err), cl->options, log ? log : "(no log)");
        free(log);
        return EMIM_ERR_BUILD;
    }
    return EMIM_OK;
}

static emim_status cl_init(emim_ctx *ctx, const emim_options *opt)
{
    emim_cl *cl = &ctx->cl;
    memset(cl, 0, sizeof *cl);
    cl_dev_entry devs[128];
    cl_int err = CL_SUCCESS;
    int n = list_devices(devs, 128, &err);
    if (n == 0) {
        if (err != CL_SUCCESS)
            return emim_set_error(ctx, EMIM_ERR_NODEVICE, "no OpenCL platform found (%s: is an OpenCL driver installed? see emim info)",
                                  emim_cl_error_name(err));
        return emim_set_error(ctx, EMIM_ERR_NODEVICE, "no OpenCL device found");
    }
    int pick = -1;
    if (opt->device && *opt->device) {
        char *end;
        long idx = strtol(opt->device, &end, 10);
        if (*end == 0 && end != opt->device) {
            if (idx < 0 || idx >= n)
                return emim_set_error(ctx, EMIM_ERR_NODEVICE,
                                      "EMIM_DEVICE=%s: no OpenCL device with that index (there are %d; see emim info)",
                                      opt->device, n);
            pick = (int)idx;
        } else {
            for (int i = 0; i < n && pick < 0; i++) {
                char name[256];
                dev_string(devs[i].device, CL_DEVICE_NAME, name, sizeof name);
                if (contains_nocase(name, opt->device)) pick = i;
            }
            if (pick < 0)
                return emim_set_error(ctx, EMIM_ERR_NODEVICE,
                                      "EMIM_DEVICE=%s: no OpenCL device name contains it (see emim info)",
                                      opt->device);
        }
    } else {
        /* the GPUs in order; the processes of one node (local_rank) take turns */
        int gpu[128], ng = 0;
        for (int i = 0; i < n; i++) {
            cl_device_type t = 0;
            clGetDeviceInfo(devs[i].device, CL_DEVICE_TYPE, sizeof t, &t, NULL);
            if (t & CL_DEVICE_TYPE_GPU) gpu[ng++] = i;
        }
        if (ng) pick = gpu[(opt->local_rank > 0 ? opt->local_rank : 0) % ng];
        if (pick < 0) {
            if (opt->backend == EMIM_BACKEND_AUTO)
                return emim_set_error(ctx, EMIM_ERR_NODEVICE, "no OpenCL GPU found");
            pick = 0;
        }
    }
    cl->platform = devs[pick].platform;
    cl->device = devs[pick].device;
    dev_string(cl->device, CL_DEVICE_NAME, ctx->device_name, sizeof ctx->device_name);
    clGetDeviceInfo(cl->device, CL_DEVICE_TYPE, sizeof cl->type, &cl->type, NULL);
    cl_device_fp_config fp = 0;
    clGetDeviceInfo(cl->device, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
    cl->correct_divsqrt = (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) != 0;
    cl_ulong maxalloc = 0, global = 0;
    clGetDeviceInfo(cl->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof maxalloc, &maxalloc, NULL);
    clGetDeviceInfo(cl->device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof global, &global, NULL);
    clGetDeviceInfo(cl->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof cl->max_wg, &cl->max_wg, NULL);
    cl->max_alloc = (size_t)maxalloc;
    /* The exact GEMM kernel: local-memory tiles for GPUs, a direct kernel for
     * CPU devices (PoCL runs local memory and barriers slowly). Both give the
     * same bits; EMIM_CL_GEMM=tiled|direct overrides (tests run both). */
    cl->gemm_direct = (cl->type & CL_DEVICE_TYPE_CPU) != 0;
    const char *gv = getenv("EMIM_CL_GEMM");
    if (gv && !strcmp(gv, "tiled")) cl->gemm_direct = 0;
    else if (gv && !strcmp(gv, "direct")) cl->gemm_direct = 1;
    else if (gv && *gv)
        return emim_set_error(ctx, EMIM_ERR_ARG, "EMIM_CL_GEMM='%s': expected tiled or direct", gv);
    /* The row ops (layernorm, softmax, rownorm, sum, the losses): a work-group
     * of EMIM_ROW_LANES work-items per row, or one work-item per row (the
     * serial variants, same bits) where the device cannot take that;
     * EMIM_CL_ROWS=group|serial overrides (tests run both). */
    cl->rows_serial = cl->max_wg < EMIM_ROW_LANES;
    const char *rv = getenv("EMIM_CL_ROWS");
    if (rv && !strcmp(rv, "serial")) cl->rows_serial = 1;
    else if (rv && *rv && strcmp(rv, "group"))
        return emim_set_error(ctx, EMIM_ERR_ARG, "EMIM_CL_ROWS='%s': expected group or serial", rv);
    /* Some implementations (PoCL) report a global size but do not enforce
     * it: the context caps its own allocations at the reported size. */
    if (!ctx->mem_limit || ctx->mem_limit > global) {
        ctx->mem_limit = (size_t)global;
        ctx->mem_source = "the device's global memory";
    }

    cl->context = clCreateContext(NULL, 1, &cl->device, NULL, NULL, &err);
    emim_status s = emim_cl_check(ctx, err, "clCreateContext");
    if (s) return s;
    cl->queue = clCreateCommandQueue(cl->context, cl->device, 0, &err);
    if ((s = emim_cl_check(ctx, err, "clCreateCommandQueue"))) { clReleaseContext(cl->context); return s; }
    if ((s = build_program(ctx))) {
        if (cl->program) clReleaseProgram(cl->program);
        clReleaseCommandQueue(cl->queue);
        clReleaseContext(cl->context);
        memset(cl, 0, sizeof *cl);
        return s;
    }
    ctx->backend = EMIM_BACKEND_OPENCL;
    return EMIM_OK;
}

static void cl_release(emim_ctx *ctx)
{
    emim_cl *cl = &ctx->cl;
    if (cl->queue) clFinish(cl->queue);
    for (int i = 0; i < cl->nk; i++) clReleaseKernel(cl->kcache[i].k);
    if (cl->program) clReleaseProgram(cl->program);
    if (cl->queue) clReleaseCommandQueue(cl->queue);
    if (cl->context) clReleaseContext(cl->context);
    memset(cl, 0, sizeof *cl);
}

static emim_status cl_alloc(emim_ctx *ctx, emim_buf *b)
{
    size_t bytes = b->n * sizeof(float);
    if (ctx->cl.max_alloc && bytes > ctx->cl.max_alloc)
        return emim_set_error(ctx, EMIM_ERR_NOMEM,
                              "buffer of %zu bytes: over the device's largest allocation (%zu bytes)",
                              bytes, ctx->cl.max_alloc);
    cl_int err;
    b->mem = clCreateBuffer(ctx->cl.context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    return emim_cl_check(ctx, err, "clCreateBuffer");
}

static void cl_free(emim_buf *b)
{
    if (b->mem) clReleaseMemObject(b->mem);
}

static emim_status cl_write(emim_buf *b, size_t off, size_t n, const float *src)
{
    cl_int err = clEnqueueWriteBuffer(b->ctx->cl.queue, b->mem, CL_TRUE, off * sizeof(float),
                                      n * sizeof(float), src, 0, NULL, NULL);
    return emim_cl_check(b->ctx, err, "clEnqueueWriteBuffer");
}

static emim_status cl_read(emim_buf *b, size_t off, size_t n, float *dst)
{
    cl_int err = clEnqueueReadBuffer(b->ctx->cl.queue, b->mem, CL_TRUE, off * sizeof(float),
                                     n * sizeof(float), dst, 0, NULL, NULL);
    return emim_cl_check(b->ctx, err, "clEnqueueReadBuffer");
}

static emim_status cl_zero(emim_buf *b, size_t off, size_t n)
{
    float zero = 0.0f;
    cl_int err = clEnqueueFillBuffer(b->ctx->cl.queue, b->mem, &zero, sizeof zero, off * sizeof(float),
                                     n * sizeof(float), 0, NULL, NULL);
    return emim_cl_check(b->ctx, err, "clEnqueueFillBuffer");
}

static emim_status cl_finish(emim_ctx *ctx)
{
    return emim_cl_check(ctx, clFinish(ctx->cl.queue), "clFinish");
}

const emim_backend_ops emim_backend_opencl = {
    .name = "opencl", .twin = EMIM_TWIN_CL,
    .init = cl_init, .release = cl_release,
    .alloc = cl_alloc, .free = cl_free,
    .write = cl_write, .read = cl_read, .zero = cl_zero,
    .finish = cl_finish,
};

/* ---- kernels ---- */
emim_status emim_cl_kernel(emim_ctx *ctx, const char *name, cl_kernel *out)
{
    emim_cl *cl = &ctx->cl;
    for (int i = 0; i < cl->nk; i++)
        if (!strcmp(cl->kcache[i].name, name)) { *out = cl->kcache[i].k; return EMIM_OK; }
    if (cl->nk == EMIM_CL_MAX_KERNELS)
        return emim_set_error(ctx, EMIM_ERR_OPENCL, "kernel cache full (raise EMIM_CL_MAX_KERNELS)");
    cl_int err;
    cl_kernel k = clCreateKernel(cl->program, name, &err);
    if (err != CL_SUCCESS)
        return emim_set_error(ctx, EMIM_ERR_OPENCL, "clCreateKernel(%s): %s", name, emim_cl_error_name(err));
    cl->kcache[cl->nk].name = name;
    cl->kcache[cl->nk].k = k;
    cl->nk++;
    *out = k;
    return EMIM_OK;
}

static emim_status cl_runv(emim_ctx *ctx, const char *name, cl_kernel k, int dims, const size_t *g,
                           const size_t *l, int nargs, va_list ap)
{
    for (int i = 0; i < nargs; i++) {
        size_t size = va_arg(ap, size_t);
        const void *ptr = va_arg(ap, const void *);
        cl_int err = clSetKernelArg(k, (cl_uint)i, size, ptr);
        if (err != CL_SUCCESS)
            return emim_set_error(ctx, EMIM_ERR_OPENCL, "clSetKernelArg(%s, %d): %s", name, i,
                                  emim_cl_error_name(err));
    }
    size_t gg[3], ll[3];
    for (int d = 0; d < dims; d++) {
        if (g[d] == 0) return EMIM_OK; /* nothing to do */
        ll[d] = l ? l[d] : 1;
        /* a 1-D work-group larger than the device allows is shrunk (the
         * kernels check their bounds, and no result depends on it) */
        if (dims == 1 && ctx->cl.max_wg && ll[d] > ctx->cl.max_wg) ll[d] = ctx->cl.max_wg;
        gg[d] = (g[d] + ll[d] - 1) / ll[d] * ll[d];
    }
    cl_int err = clEnqueueNDRangeKernel(ctx->cl.queue, k, (cl_uint)dims, NULL, gg, l ? ll : NULL, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return emim_set_error(ctx, EMIM_ERR_OPENCL, "clEnqueueNDRangeKernel(%s): %s", name,
                              emim_cl_error_name(err));
    return EMIM_OK;
}

emim_status emim_ws_cl(emim_ctx *ctx, size_t n, cl_mem *mem, cl_ulong *off)
{
    emim_ref r;
    EMIM_CHECK(emim_ws_take(ctx, n, &r));
    *mem = r.buf->mem;
    *off = r.off;
    return EMIM_OK;
}

emim_status emim_cl_run(emim_ctx *ctx, const char *name, int dims, const size_t *g, const size_t *l,
                        int nargs, ...)
{
    cl_kernel k;
    emim_status s = emim_cl_kernel(ctx, name, &k);
    if (s) return s;
    va_list ap;
    va_start(ap, nargs);
    s = cl_runv(ctx, name, k, dims, g, l, nargs, ap);
    va_end(ap);
    return s;
}

emim_status emim_cl_run_rows(emim_ctx *ctx, const char *name, const char *serial, size_t rows, int nargs, ...)
{
    cl_kernel k;
    emim_status s;
    int group = !ctx->cl.rows_serial;
    if (group) {
        if ((s = emim_cl_kernel(ctx, name, &k))) return s;
        /* the kernel's own limit (registers, local memory) may be below the device's */
        size_t kwg = 0;
        cl_int err = clGetKernelWorkGroupInfo(k, ctx->cl.device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kwg, &kwg, NULL);
        if (err != CL_SUCCESS || kwg < EMIM_ROW_LANES) group = 0;
    }
    if (!group && (s = emim_cl_kernel(ctx, serial, &k))) return s;
    size_t g = group ? rows * EMIM_ROW_LANES : rows, l = group ? EMIM_ROW_LANES : 16;
    va_list ap;
    va_start(ap, nargs);
    s = cl_runv(ctx, group ? name : serial, k, 1, &g, &l, nargs, ap);
    va_end(ap);
    return s;
}

/* ---- emim info ---- */
static void linef(emim_line_cb cb, void *user, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    cb(buf, user);
}

emim_status emim_opencl_report(emim_line_cb cb, void *user)
{
    cl_dev_entry devs[128];
    cl_int err = CL_SUCCESS;
    int n = list_devices(devs, 128, &err);
    if (n == 0) {
        linef(cb, user, "no OpenCL device found (%s)", err == CL_SUCCESS ? "no devices" : emim_cl_error_name(err));
        return EMIM_OK;
    }
    cl_platform_id last = NULL;
    for (int i = 0; i < n; i++) {
        if (devs[i].platform != last) {
            char pname[256] = "?", pver[256] = "?";
            clGetPlatformInfo(devs[i].platform, CL_PLATFORM_NAME, sizeof pname, pname, NULL);
            clGetPlatformInfo(devs[i].platform, CL_PLATFORM_VERSION, sizeof pver, pver, NULL);
            linef(cb, user, "platform: %s (%s)", pname, pver);
            last = devs[i].platform;
        }
        cl_device_id d = devs[i].device;
        char name[256], ver[256], drv[256];
        dev_string(d, CL_DEVICE_NAME, name, sizeof name);
        dev_string(d, CL_DEVICE_VERSION, ver, sizeof ver);
        dev_string(d, CL_DRIVER_VERSION, drv, sizeof drv);
        cl_device_type t = 0;
        cl_uint cu = 0, mhz = 0;
        cl_ulong gmem = 0, maxalloc = 0, lmem = 0;
        size_t wg = 0;
        cl_device_fp_config sp = 0, dp = 0;
        clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof t, &t, NULL);
        clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
        clGetDeviceInfo(d, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof mhz, &mhz, NULL);
        clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof gmem, &gmem, NULL);
        clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof maxalloc, &maxalloc, NULL);
        clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof lmem, &lmem, NULL);
        clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
        clGetDeviceInfo(d, CL_DEVICE_SINGLE_FP_CONFIG, sizeof sp, &sp, NULL);
        clGetDeviceInfo(d, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof dp, &dp, NULL);
        linef(cb, user, "  device %d: %s [%s] %s, driver %s", i, name, type_name(t), ver, drv);
        linef(cb, user, "    compute units %u at %u MHz, global memory %.1f GiB (largest buffer %.1f GiB), local %.0f KiB, work-group up to %zu",
              cu, mhz, gmem / 1073741824.0, maxalloc / 1073741824.0, lmem / 1024.0, wg);
        linef(cb, user, "    fp32: fma %s, denormals %s, correctly rounded div/sqrt %s; fp64 %s",
              (sp & CL_FP_FMA) ? "yes" : "no", (sp & CL_FP_DENORM) ? "yes" : "no",
              (sp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) ? "yes" : "no (exact mode may differ in / and sqrt)",
              dp ? "yes" : "no");
    }
    return EMIM_OK;
}
