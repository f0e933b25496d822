/* Build and runtime information for `emim info`. */
#include "core/internal.h"

#include <cblas.h>
#include <stdio.h>

const char *emim_blas_info(void)
{
    static char buf[512];
#if defined(HAVE_OPENBLAS_GET_CONFIG)
    const char *cfg = openblas_get_config();
#else
    const char *cfg = "unknown configuration";
#endif
#if defined(HAVE_OPENBLAS_GET_PARALLEL)
    int par = openblas_get_parallel();
    const char *model = par == 0 ? "sequential" : par == 1 ? "pthreads" : par == 2 ? "OpenMP" : "unknown";
#else
    const char *model = "unknown";
#endif
    snprintf(buf, sizeof buf, "OpenBLAS %s (threading: %s); fast-mode CPU GEMM: %s", cfg, model,
             emim_cpu_fast_gemm_info());
    return buf;
}

#if !HAVE_OPENCL
emim_status emim_opencl_report(emim_line_cb cb, void *user)
{
    cb("OpenCL: not built in (configured with --disable-opencl)", user);
    return EMIM_ERR_BACKEND;
}
#endif
