/* The singular spectrum of features and their effective rank, the measure
 * of dimensional collapse (papers/dimensional-collapse-contrastive.txt,
 * Fig. 1; Roy & Vetterli 2007). Host code in double precision: the
 * covariance through OpenBLAS, its eigenvalues (its singular values: it is
 * symmetric and positive semi-definite) through LAPACKE. */
#include "core/internal.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double emim_effective_rank(const double *s, int d)
{
    double sum = 0, h = 0;
    for (int k = 0; k < d; k++) sum += s[k] > 0 ? s[k] : 0;
    if (!(sum > 0)) return 0;
    for (int k = 0; k < d; k++)
        if (s[k] > 0) {
            double p = s[k] / sum;
            h -= p * log(p);
        }
    return exp(h);
}

emim_status emim_spectrum(const float *x, long rows, int d, double *s, double *erank, char *err, size_t errlen)
{
    if (!x || !s || rows < 2 || d < 1 || d > 65536) {
        if (err) snprintf(err, errlen, "spectrum: %ld rows of %d features: need at least 2 rows and 1 to 65536 features",
                          rows, d);
        return EMIM_ERR_ARG;
    }
    size_t n = (size_t)rows * (size_t)d;
    double *xc = malloc(n * sizeof *xc), *mean = calloc((size_t)d, sizeof *mean),
           *cov = malloc((size_t)d * d * sizeof *cov);
    if (!xc || !mean || !cov) {
        free(xc); free(mean); free(cov);
        if (err) snprintf(err, errlen, "spectrum: out of memory for %ld x %d features", rows, d);
        return EMIM_ERR_NOMEM;
    }
    /* centre each feature over the rows */
    for (long r = 0; r < rows; r++)
        for (int k = 0; k < d; k++) mean[k] += x[(size_t)r * d + k];
    for (int k = 0; k < d; k++) mean[k] /= (double)rows;
    for (long r = 0; r < rows; r++)
        for (int k = 0; k < d; k++) xc[(size_t)r * d + k] = x[(size_t)r * d + k] - mean[k];
    /* cov = xc^T xc / (rows - 1), upper triangle */
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, (int)rows, 1.0 / (double)(rows - 1), xc, d, 0.0, cov, d);
    double *w = mean; /* reused for the eigenvalues, ascending */
    lapack_int info = LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', d, cov, d, w);
    emim_status st = EMIM_OK;
    if (info) {
        if (err) snprintf(err, errlen, "spectrum: LAPACK dsyev failed (info %d)", (int)info);
        st = EMIM_ERR_ARG;
    } else {
        for (int k = 0; k < d; k++) s[k] = w[d - 1 - k] > 0 ? w[d - 1 - k] : 0; /* descending; round-off below 0 */
        if (erank) *erank = emim_effective_rank(s, d);
    }
    free(xc); free(mean); free(cov);
    return st;
}
