/* emim info: the version, backends, OpenCL platforms and devices, BLAS, threads. */
#include "config.h"
#include "cli/tool.h"
#ifdef HAVE_CAIRO
#include <cairo.h>
#endif

#include <omp.h>
#include <string.h>

static void print_line(const char *line, void *user)
{
    (void)user;
    printf("  %s\n", line);
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: %s [GLOBAL OPTIONS] info\n"
               "Prints the version, the backends built in, the BLAS library, the threads, every OpenCL\n"
               "platform and device, and the backend and device that the options select.\n"
               "Exit status 1 when no backend can be selected.\n", prog);
}

int cmd_info(emim_options *o, int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) { usage(stdout); return 0; }
    if (argc > 1) die_usage("info: unexpected argument '%s'", argv[1]);
    printf("libemim %s\n", emim_version());
    printf("backends built in: cpu%s\n", emim_have_opencl() ? ", opencl" : " (OpenCL disabled at configure)");
    printf("BLAS: %s\n", emim_blas_info());
    printf("MPI: %s\n", emim_have_mpi() ? "yes (emim pretrain under mpirun or srun trains data-parallel)"
                                         : "no (configure --with-mpi)");
    printf("CPU threads: %d (OpenMP max %d)\n", o->threads ? o->threads : omp_get_max_threads(),
           omp_get_max_threads());
#ifdef HAVE_CAIRO
    printf("PNG: cairo %s (plots and montages)\n", CAIRO_VERSION_STRING);
#else
    printf("PNG: none (built without cairo; TSV and NIfTI outputs only)\n");
#endif
    printf("numerics: no fast-math, no FMA contraction; exact mode uses a fixed-order fma GEMM\n");
    printf("OpenCL:\n");
    emim_opencl_report(print_line, NULL);
    emim_ctx *ctx = NULL;
    char err[4096];
    emim_options q = *o;
    q.verbose = 0;
    if (emim_ctx_create(&ctx, &q, err, sizeof err) == EMIM_OK) {
        printf("selected: backend %s, device %s\n", emim_backend_name(ctx), emim_device_name(ctx));
        const char *src;
        size_t cap = emim_mem_limit(ctx, NULL, &src);
        printf("memory cap: %.1f GiB (%s)\n", cap / 1073741824.0, src);
        if (emim_backend(ctx) == EMIM_BACKEND_OPENCL) {
            size_t host = emim_host_memory(&src);
            printf("host memory: %.1f GiB (%s)\n", host / 1073741824.0, src);
        }
        emim_ctx_free(ctx);
    } else {
        printf("selected: none (%s)\n", err);
        return 1;
    }
    return 0;
}
