/* The collapse check at the end of emim pretrain, and DIR/summary.json. */
#include "tool.h"

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

int collapse_check(emim_trainer *T, emim_data *data, const emim_train_config *t, int samples, double final_mim,
                   int mim_steps, const char *dir)
{
    char err[2048];
    emim_maskvar_result mv;
    if (emim_maskvar(data, &t->vit, samples, &t->mask, 1, t->seed, &mv, err, sizeof err)) {
        fprintf(stderr, "%s: collapse check: %s\n", prog, err);
        return 1;
    }
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
    double ratio = final_mim / mv.collapsed;
    printf("collapse check: MIM %.6f (last %d steps) is %.3f of the collapsed loss %.6f +- %.6f (the run's masking, "
           "%.2f of the voxels masked, on %d samples of its data); effective rank %.2f of %d features "
           "(initialisation %.2f)\n", final_mim, mim_steps, ratio, mv.collapsed, mv.collapsed_se, mv.masked, samples,
           er, t->vit.hidden, er0);
    if (ratio > 0.5)
        printf("collapse check: the MIM loss is above half the collapsed loss: the model reconstructs little beyond "
               "the dataset mean\n");
    if (er < er0)
        printf("collapse check: the effective rank fell below the initialisation's (dimensional collapse)\n");
    json_t *j = json_pack("{s:I, s:f, s:i, s:f, s:f, s:f, s:f, s:f, s:i, s:f, s:f, s:i}",
                          "steps", (json_int_t)emim_trainer_steps_done(T), "final_mim", final_mim,
                          "final_mim_steps", mim_steps, "collapsed_loss", mv.collapsed,
                          "collapsed_loss_se", mv.collapsed_se, "var_xm", mv.var_xm, "masked_fraction", mv.masked,
                          "mim_over_collapsed", ratio, "collapse_samples", samples, "erank", er, "erank_init", er0,
                          "features", t->vit.hidden);
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
