/* The context: backend choice, options from the environment, error state and
 * buffers. The backend is a struct of function pointers (emim_backend_ops in
 * src/core/internal.h); the ops' kernels come from the op table column of
 * that backend (src/core/dispatch.c). */
#include "core/internal.h"

#include <errno.h>
#include <limits.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *emim_version(void) { return PACKAGE_VERSION; }

int emim_have_opencl(void) { return HAVE_OPENCL; }

const char *emim_status_name(emim_status s)
{
    switch (s) {
    case EMIM_OK: return "ok";
    case EMIM_ERR_ARG: return "bad argument";
    case EMIM_ERR_NOMEM: return "out of memory";
    case EMIM_ERR_BACKEND: return "backend unavailable";
    case EMIM_ERR_NODEVICE: return "no OpenCL device";
    case EMIM_ERR_OPENCL: return "OpenCL error";
    case EMIM_ERR_BUILD: return "OpenCL program build failed";
    case EMIM_ERR_UNSUPPORTED: return "unsupported";
    case EMIM_ERR_IO: return "I/O error";
    case EMIM_ERR_MISMATCH: return "twin mismatch";
    }
    return "unknown status";
}

emim_status emim_set_error(emim_ctx *ctx, emim_status status, const char *fmt, ...)
{
    if (ctx) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->error, sizeof ctx->error, fmt, ap);
        va_end(ap);
    }
    return status;
}

const char *emim_error(const emim_ctx *ctx) { return ctx ? ctx->error : "no context"; }
void emim_clear_error(emim_ctx *ctx) { if (ctx) ctx->error[0] = 0; }
emim_backend_kind emim_backend(const emim_ctx *ctx) { return ctx->backend; }
const char *emim_backend_name(const emim_ctx *ctx) { return ctx->be->name; }
const char *emim_device_name(const emim_ctx *ctx) { return ctx->device_name; }
emim_mode emim_get_mode(const emim_ctx *ctx) { return ctx->mode; }
int emim_threads(const emim_ctx *ctx) { return ctx->threads; }
emim_status emim_finish(emim_ctx *ctx) { return ctx->be->finish(ctx); }

static void put_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Parses a positive int; returns -1 when s is not one. */
static long parse_count(const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > 4096) return -1;
    return v;
}

emim_status emim_options_init(emim_options *opt, char *err, size_t errlen)
{
    memset(opt, 0, sizeof *opt);
    opt->backend = EMIM_BACKEND_AUTO;
    opt->mode = EMIM_MODE_FAST;
    const char *v;
    if ((v = getenv("EMIM_BACKEND")) && *v) {
        if (!strcasecmp(v, "auto")) opt->backend = EMIM_BACKEND_AUTO;
        else if (!strcasecmp(v, "cpu")) opt->backend = EMIM_BACKEND_CPU;
        else if (!strcasecmp(v, "opencl")) opt->backend = EMIM_BACKEND_OPENCL;
        else {
            put_err(err, errlen, "EMIM_BACKEND='%s': expected cpu, opencl or auto", v);
            return EMIM_ERR_ARG;
        }
    }
    if ((v = getenv("EMIM_DEVICE")) && *v) opt->device = v;
    /* the process's place on its node under an MPI launcher or srun: one GPU each */
    static const char *const local_vars[] = { "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                                              "MV2_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID" };
    for (size_t i = 0; i < sizeof local_vars / sizeof *local_vars; i++)
        if ((v = getenv(local_vars[i])) && *v) {
            char *end;
            long r = strtol(v, &end, 10);
            if (!*end && r >= 0 && r < 1 << 20) { opt->local_rank = (int)r; break; }
        }
    if ((v = getenv("EMIM_EXACT")) && *v) {
        if (!strcmp(v, "1")) opt->mode = EMIM_MODE_EXACT;
        else if (!strcmp(v, "0")) opt->mode = EMIM_MODE_FAST;
        else {
            put_err(err, errlen, "EMIM_EXACT='%s': expected 0 or 1", v);
            return EMIM_ERR_ARG;
        }
    }
    if ((v = getenv("EMIM_THREADS")) && *v) {
        long t = parse_count(v);
        if (t < 0) {
            put_err(err, errlen, "EMIM_THREADS='%s': expected a thread count from 1 to 4096", v);
            return EMIM_ERR_ARG;
        }
        opt->threads = (int)t;
    }
    if ((v = getenv("EMIM_MEM_LIMIT")) && *v && emim_parse_size(v, &opt->mem_limit)) {
        put_err(err, errlen, "EMIM_MEM_LIMIT='%s': expected a size such as 8G, 512M or 1.5GiB", v);
        return EMIM_ERR_ARG;
    }
    return EMIM_OK;
}

emim_status emim_ctx_create(emim_ctx **out, const emim_options *opt_in, char *err, size_t errlen)
{
    *out = NULL;
    emim_options defaults;
    const emim_options *opt = opt_in;
    if (!opt) {
        emim_status s = emim_options_init(&defaults, err, errlen);
        if (s) return s;
        opt = &defaults;
    }
    if (opt->mode != EMIM_MODE_FAST && opt->mode != EMIM_MODE_EXACT) {
        put_err(err, errlen, "unknown numeric mode %d", (int)opt->mode);
        return EMIM_ERR_ARG;
    }
    if (opt->threads < 0) {
        put_err(err, errlen, "thread count %d: must be 0 (default) or positive", opt->threads);
        return EMIM_ERR_ARG;
    }
    emim_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        put_err(err, errlen, "out of memory for the context");
        return EMIM_ERR_NOMEM;
    }
    ctx->mode = opt->mode;
    ctx->verbose = opt->verbose;
    ctx->threads = opt->threads > 0 ? opt->threads : omp_get_max_threads();
    ctx->mem_limit = opt->mem_limit;
    ctx->mem_source = "the limit set (EMIM_MEM_LIMIT or emim_options.mem_limit)";
    ctx->ws.top = -1;

    emim_status s = EMIM_OK;
    switch (opt->backend) {
    case EMIM_BACKEND_CPU:
        ctx->be = &emim_backend_cpu;
        break;
    case EMIM_BACKEND_OPENCL:
#if HAVE_OPENCL
        ctx->be = &emim_backend_opencl;
#else
        put_err(err, errlen, "EMIM_BACKEND=opencl: this libemim was built with --disable-opencl");
        free(ctx);
        return EMIM_ERR_BACKEND;
#endif
        break;
    case EMIM_BACKEND_AUTO:
#if HAVE_OPENCL
        /* An OpenCL GPU if there is one (or the device named by EMIM_DEVICE). */
        ctx->be = &emim_backend_opencl;
        s = ctx->be->init(ctx, opt);
        if (s == EMIM_OK) {
            if (ctx->verbose)
                fprintf(stderr, "emim: backend auto: OpenCL device '%s'\n", ctx->device_name);
            *out = ctx;
            return EMIM_OK;
        }
        if (opt->device || (s != EMIM_ERR_NODEVICE && s != EMIM_ERR_OPENCL)) {
            put_err(err, errlen, "%s", ctx->error);
            free(ctx);
            return s;
        }
        if (ctx->verbose)
            fprintf(stderr, "emim: backend auto: %s; using the CPU twin (%d threads)\n", ctx->error, ctx->threads);
        memset(&ctx->cl, 0, sizeof ctx->cl);
        ctx->error[0] = 0;
#else
        if (ctx->verbose)
            fprintf(stderr, "emim: backend auto: built without OpenCL; using the CPU twin (%d threads)\n", ctx->threads);
#endif
        ctx->be = &emim_backend_cpu;
        ctx->mem_limit = opt->mem_limit;
        ctx->mem_source = "the limit set (EMIM_MEM_LIMIT or emim_options.mem_limit)";
        break;
    default:
        put_err(err, errlen, "unknown backend %d", (int)opt->backend);
        free(ctx);
        return EMIM_ERR_ARG;
    }
    /* the CPU backend's buffers: at most what this process may use (the
     * OpenCL backend's: at most the device's global memory) */
    if (!ctx->mem_limit && ctx->be == &emim_backend_cpu) ctx->mem_limit = emim_host_memory(&ctx->mem_source);
    s = ctx->be->init(ctx, opt);
    if (s != EMIM_OK) {
        put_err(err, errlen, "%s", ctx->error);
        free(ctx);
        return s;
    }
    *out = ctx;
    return EMIM_OK;
}

void emim_ctx_free(emim_ctx *ctx)
{
    if (!ctx) return;
    while (ctx->bufs) emim_buf_free(ctx->bufs);
    ctx->be->release(ctx);
    emim_profile_stop(ctx);
    free(ctx);
}

/* ---- buffers ---- */
emim_status emim_buf_alloc(emim_ctx *ctx, size_t n, emim_buf **out)
{
    *out = NULL;
    if (n == 0) return emim_set_error(ctx, EMIM_ERR_ARG, "buffer of 0 floats");
    if (n > SIZE_MAX / sizeof(float) / 2)
        return emim_set_error(ctx, EMIM_ERR_NOMEM, "buffer of %zu floats: too large", n);
    size_t bytes = n * sizeof(float);
    if (ctx->mem_limit && ctx->mem_used + bytes > ctx->mem_limit)
        return emim_set_error(ctx, EMIM_ERR_NOMEM,
                              "a buffer of %.3g GiB would pass the memory cap of %.3g GiB (%.3g GiB in use; the cap "
                              "is %s; EMIM_MEM_LIMIT sets another)", bytes / 1073741824.0,
                              ctx->mem_limit / 1073741824.0, ctx->mem_used / 1073741824.0, ctx->mem_source);
    emim_buf *b = calloc(1, sizeof *b);
    if (!b) return emim_set_error(ctx, EMIM_ERR_NOMEM, "out of host memory for a buffer header");
    b->ctx = ctx;
    b->n = n;
    emim_status s = ctx->be->alloc(ctx, b);
    if (s) { free(b); return s; }
    ctx->mem_used += bytes;
    ctx->allocs++;
    b->next = ctx->bufs;
    if (ctx->bufs) ctx->bufs->prev = b;
    ctx->bufs = b;
    *out = b;
    return EMIM_OK;
}

void emim_buf_free(emim_buf *b)
{
    if (!b) return;
    b->ctx->mem_used -= b->n * sizeof(float);
    if (b->prev) b->prev->next = b->next;
    else b->ctx->bufs = b->next;
    if (b->next) b->next->prev = b->prev;
    b->ctx->be->free(b);
    free(b);
}

size_t emim_buf_size(const emim_buf *b) { return b ? b->n : 0; }

long emim_alloc_count(const emim_ctx *ctx) { return ctx->allocs; }

/* ---- the workspace ---- */
emim_ws_mark emim_ws_mark_get(const emim_ctx *ctx)
{
    emim_ws_mark m = { ctx->ws.top, ctx->ws.used };
    return m;
}

void emim_ws_release(emim_ctx *ctx, emim_ws_mark m)
{
    ctx->ws.top = m.chunk;
    ctx->ws.used = m.used;
}

emim_status emim_ws_host(emim_ctx *ctx, size_t n, float **out)
{
    emim_ref r;
    *out = NULL;
    EMIM_CHECK(emim_ws_take(ctx, n, &r));
    *out = EMIM_HOST(r);
    return EMIM_OK;
}

emim_status emim_ws_take(emim_ctx *ctx, size_t n, emim_ref *out)
{
    *out = emim_at(NULL, 0);
    if (n > SIZE_MAX / 8) return emim_set_error(ctx, EMIM_ERR_NOMEM, "workspace: %zu floats: too large", n);
    n = (n + 15) & ~(size_t)15;
    int t = ctx->ws.top;
    if (t >= 0 && ctx->ws.used + n <= ctx->ws.chunk[t]->n) {
        *out = emim_at(ctx->ws.chunk[t], ctx->ws.used);
        ctx->ws.used += n;
        return EMIM_OK;
    }
    /* the next chunk: kept from an earlier step when it is large enough;
     * else (re)made, at least twice the one before and 1 Mi floats */
    if (++t >= EMIM_WS_CHUNKS)
        return emim_set_error(ctx, EMIM_ERR_NOMEM, "workspace: more than %d chunks of scratch", EMIM_WS_CHUNKS);
    emim_buf *c = ctx->ws.chunk[t];
    if (!c || c->n < n) {
        size_t want = t > 0 ? 2 * ctx->ws.chunk[t - 1]->n : (size_t)1 << 20;
        if (want < n) want = n;
        emim_buf_free(c);
        ctx->ws.chunk[t] = NULL;
        EMIM_CHECK(emim_buf_alloc(ctx, want, &ctx->ws.chunk[t]));
    }
    ctx->ws.top = t;
    ctx->ws.used = n;
    *out = emim_at(ctx->ws.chunk[t], 0);
    return EMIM_OK;
}

static emim_status check_range(const emim_buf *b, const char *what, size_t off, size_t n)
{
    if (!b) return EMIM_ERR_ARG;
    if (off > b->n || n > b->n - off)
        return emim_set_error(b->ctx, EMIM_ERR_ARG, "%s: floats [%zu, %zu) outside a buffer of %zu",
                              what, off, off + n, b->n);
    return EMIM_OK;
}

emim_status emim_buf_write(emim_buf *b, size_t off, size_t n, const float *src)
{
    emim_status s = check_range(b, "buffer write", off, n);
    if (s || n == 0) return s;
    return b->ctx->be->write(b, off, n, src);
}

emim_status emim_buf_read(emim_buf *b, size_t off, size_t n, float *dst)
{
    emim_status s = check_range(b, "buffer read", off, n);
    if (s || n == 0) return s;
    return b->ctx->be->read(b, off, n, dst);
}

emim_status emim_buf_zero(emim_buf *b, size_t off, size_t n)
{
    emim_status s = check_range(b, "buffer zero", off, n);
    if (s || n == 0) return s;
    return b->ctx->be->zero(b, off, n);
}

emim_status emim_check_ref(emim_ctx *ctx, const char *op, const char *what, emim_ref r, size_t n)
{
    if (!r.buf) return emim_set_error(ctx, EMIM_ERR_ARG, "%s: %s is missing", op, what);
    if (r.buf->ctx != ctx)
        return emim_set_error(ctx, EMIM_ERR_ARG, "%s: %s belongs to another context (backend)", op, what);
    if (r.off > r.buf->n || n > r.buf->n - r.off)
        return emim_set_error(ctx, EMIM_ERR_ARG,
                              "%s: %s needs floats [%zu, %zu) but its buffer holds %zu",
                              op, what, r.off, r.off + n, r.buf->n);
    return EMIM_OK;
}

emim_status emim_check_opt_ref(emim_ctx *ctx, const char *op, const char *what, emim_ref r, size_t n)
{
    return r.buf ? emim_check_ref(ctx, op, what, r, n) : EMIM_OK;
}

/* ---- the CPU backend's memory functions ---- */
static emim_status cpu_init(emim_ctx *ctx, const emim_options *opt)
{
    (void)opt;
    snprintf(ctx->device_name, sizeof ctx->device_name, "CPU (%d OpenMP threads)", ctx->threads);
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            if (!strncmp(line, "model name", 10)) {
                char *p = strchr(line, ':');
                if (p) {
                    p++;
                    while (*p == ' ') p++;
                    p[strcspn(p, "\n")] = 0;
                    snprintf(ctx->device_name, sizeof ctx->device_name, "%s (%d OpenMP threads)",
                             p, ctx->threads);
                }
                break;
            }
        }
        fclose(f);
    }
    ctx->backend = EMIM_BACKEND_CPU;
    return EMIM_OK;
}

static void cpu_release(emim_ctx *ctx) { (void)ctx; }

static emim_status cpu_alloc(emim_ctx *ctx, emim_buf *b)
{
    size_t bytes = (b->n * sizeof(float) + 63) & ~(size_t)63;
    b->host = aligned_alloc(64, bytes);
    if (!b->host)
        return emim_set_error(ctx, EMIM_ERR_NOMEM, "out of host memory for a buffer of %zu bytes", bytes);
    return EMIM_OK;
}

static void cpu_free(emim_buf *b) { free(b->host); }

static emim_status cpu_write(emim_buf *b, size_t off, size_t n, const float *src)
{
    memcpy(b->host + off, src, n * sizeof(float));
    return EMIM_OK;
}

static emim_status cpu_read(emim_buf *b, size_t off, size_t n, float *dst)
{
    memcpy(dst, b->host + off, n * sizeof(float));
    return EMIM_OK;
}

static emim_status cpu_zero(emim_buf *b, size_t off, size_t n)
{
    memset(b->host + off, 0, n * sizeof(float));
    return EMIM_OK;
}

static emim_status cpu_finish(emim_ctx *ctx) { (void)ctx; return EMIM_OK; }

const emim_backend_ops emim_backend_cpu = {
    .name = "cpu", .twin = EMIM_TWIN_CPU,
    .init = cpu_init, .release = cpu_release,
    .alloc = cpu_alloc, .free = cpu_free,
    .write = cpu_write, .read = cpu_read, .zero = cpu_zero,
    .finish = cpu_finish,
};
