/* The collapse check at the end of emim pretrain, and DIR/summary.json. */
#include "cli/tool.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int write_file_atomic(const char *path, const char *text)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    size_t n = strlen(text);
    int bad = fwrite(text, 1, n, f) != n;
    bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

/* the effective rank of the features of images, with the run's weights or
 * its initialisation */
static int erank_of(emim_trainer *T, const float *images, int init, const emim_train_config *t, double *erank)
{
    size_t rows = (size_t)t->batch * emim_vit_tokens(&t->vit);
    float *f = malloc(rows * t->vit.hidden * sizeof *f);
    double *s = malloc((size_t)t->vit.hidden * sizeof *s);
    char err[256];
    int rc = !f || !s || emim_trainer_features(T, images, -1, init, f) ||
             emim_spectrum(f, (long)rows, t->vit.hidden, s, erank, err, sizeof err);
    free(f);
    free(s);
    return rc;
}

/* The mean squared error of the model's reconstructions over the masked
 * voxels of samples 0 .. samples-1, each under its mask of maskvar's draw. */
static int recon_error(emim_trainer *T, emim_data *data, const emim_train_config *t, int samples, double *mse)
{
    int B = t->batch, C = t->vit.channels, N = emim_vit_tokens(&t->vit);
    size_t vol = (size_t)C * t->vit.img[0] * t->vit.img[1] * t->vit.img[2];
    float *x = malloc(vol * B * sizeof *x), *keep = malloc(vol * B * sizeof *keep), *rec = malloc(vol * B * sizeof *rec),
          *ones = malloc(vol * B * sizeof *ones);
    uint8_t *mask = malloc((size_t)B * C * N);
    emim_mask_options mo;
    emim_train_mask_options(t, &mo);
    char err[2048];
    double sum = 0;
    long count = 0;
    int rc = !x || !keep || !rec || !ones || !mask;
    if (rc) fprintf(stderr, "%s: collapse check: out of memory\n", prog);
    for (size_t e = 0; !rc && e < vol * B; e++) ones[e] = 1.0f;
    for (int i0 = 0; i0 < samples && !rc; i0 += B) {
        /* a last partial batch repeats its last sample, counted once */
        for (int b = 0; b < B && !rc; b++) {
            int i = i0 + b < samples ? i0 + b : samples - 1;
            if (emim_data_sample(data, (uint64_t)i, x + (size_t)b * vol, err, sizeof err)) {
                fprintf(stderr, "%s: collapse check: %s\n", prog, err);
                rc = 1;
            }
            emim_mask_make(mask + (size_t)b * C * N, C, N, &mo, t->seed, (uint64_t)i, 0);
        }
        /* keep: 1 where visible, 0 where masked (the masked image of ones) */
        if (!rc && (emim_trainer_reconstruct(T, ones, mask, keep, NULL) || emim_trainer_reconstruct(T, x, mask, NULL, rec))) {
            fprintf(stderr, "%s: collapse check: the reconstruction failed\n", prog);
            rc = 1;
        }
        for (int b = 0; b < B && !rc && i0 + b < samples; b++)
            for (size_t e = (size_t)b * vol; e < (size_t)(b + 1) * vol; e++) {
                if (keep[e] != 0) continue;
                double d = (double)rec[e] - x[e];
                sum += d * d;
                count++;
            }
    }
    free(x);
    free(keep);
    free(ones);
    free(rec);
    free(mask);
    *mse = count ? sum / (double)count : NAN;
    return rc;
}

int collapse_check(emim_trainer *T, emim_data *data, const emim_train_config *t, int samples, const char *dir)
{
    char err[2048];
    emim_maskvar_result mv = { 0 };
    emim_mask_options mo;
    emim_train_mask_options(t, &mo);
    /* a method without reconstructions (barlow, moco): the effective rank alone */
    int recon = emim_method_reconstructs(t->method);
    if (recon && emim_maskvar(data, &t->vit, samples, &mo, 1, t->seed, &mv, err, sizeof err)) {
        fprintf(stderr, "%s: collapse check: %s\n", prog, err);
        return 1;
    }
    double rmse = NAN;
    if (recon && recon_error(T, data, t, samples, &rmse)) return 1;
    /* the features of the run's first batch: samples 0 .. batch-1 */
    size_t vol = (size_t)t->vit.channels * t->vit.img[0] * t->vit.img[1] * t->vit.img[2];
    float *img = malloc(vol * (size_t)t->batch * sizeof *img);
    if (!img) { fprintf(stderr, "%s: collapse check: out of memory\n", prog); return 1; }
    int rc = 0;
    for (int b = 0; b < t->batch && !rc; b++)
        if (emim_data_sample(data, (uint64_t)b, img + (size_t)b * vol, err, sizeof err)) {
            fprintf(stderr, "%s: collapse check: %s\n", prog, err);
            rc = 1;
        }
    double er = NAN, er0 = NAN;
    if (!rc && (erank_of(T, img, 0, t, &er) || erank_of(T, img, 1, t, &er0))) {
        fprintf(stderr, "%s: collapse check: the features could not be computed\n", prog);
        rc = 1;
    }
    free(img);
    if (rc) return rc;
    double ratio = recon ? rmse / mv.var_xm : NAN;
    if (!recon)
        printf("collapse check (%s): effective rank %.2f of %d features (initialisation %.2f); no reconstruction to "
               "compare with Var(x_m)\n", emim_method_name(t->method), er, t->vit.hidden, er0);
    else printf("collapse check (%s): the reconstruction's error on the masked voxels %.6f is %.3f of a collapsed "
           "model's %.6f +- %.6f (Var(x_m); the method's masks, %.2f of the voxels masked, on %d samples of its "
           "data); effective rank %.2f of %d features (initialisation %.2f)\n", emim_method_name(t->method), rmse,
           ratio, mv.var_xm, mv.var_xm_se, mv.masked, samples, er, t->vit.hidden, er0);
    if (recon && ratio > 0.5)
        printf("collapse check: the error is above half the collapsed model's: the model reconstructs little beyond "
               "the dataset mean\n");
    if (er < er0)
        printf("collapse check: the effective rank fell below the initialisation's (dimensional collapse)\n");
    json_t *j = recon ? json_pack("{s:s, s:I, s:f, s:f, s:f, s:f, s:f, s:i, s:f, s:f, s:i}",
                                  "method", emim_method_name(t->method), "steps",
                                  (json_int_t)emim_trainer_steps_done(T), "masked_mse", rmse, "var_xm", mv.var_xm,
                                  "var_xm_se", mv.var_xm_se, "masked_fraction", mv.masked, "mse_over_collapsed", ratio,
                                  "collapse_samples", samples, "erank", er, "erank_init", er0, "features",
                                  t->vit.hidden)
                      : json_pack("{s:s, s:I, s:i, s:f, s:f, s:i}", "method", emim_method_name(t->method), "steps",
                                  (json_int_t)emim_trainer_steps_done(T), "collapse_samples", samples, "erank", er,
                                  "erank_init", er0, "features", t->vit.hidden);
    char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    char path[4200];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    if (!text) {
        fprintf(stderr, "%s: %s: cannot encode the summary (a value is not finite)\n", prog, path);
        return 1;
    }
    size_t n = strlen(text);
    char *nl = realloc(text, n + 2);
    if (nl) { text = nl; strcpy(text + n, "\n"); }
    if (write_file_atomic(path, text)) {
        fprintf(stderr, "%s: %s: cannot write: %s\n", prog, path, strerror(errno));
        rc = 1;
    }
    free(text);
    return rc;
}
