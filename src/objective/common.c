/* The objectives' registry (the methods of emim.h) and the helpers they
 * share. */
#include "objective/objective.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const emim_objective_def *const REGISTRY[] = {
#define EMIM_OBJECTIVE(name) &emim_objective_##name,
#include "objective/registry.def"
#undef EMIM_OBJECTIVE
};
#define NMETHODS ((int)(sizeof REGISTRY / sizeof REGISTRY[0]))

const emim_objective_def *emim_objective_get(int method)
{
    return method >= 0 && method < NMETHODS ? REGISTRY[method] : NULL;
}

int emim_method_count(void) { return NMETHODS; }

int emim_method_find(const char *name)
{
    for (int i = 0; name && i < NMETHODS; i++)
        if (!strcmp(REGISTRY[i]->name, name)) return i;
    return -1;
}

const char *emim_method_name(int m) { return emim_objective_get(m) ? REGISTRY[m]->name : NULL; }
const char *emim_method_summary(int m) { return emim_objective_get(m) ? REGISTRY[m]->summary : NULL; }

int emim_method_options(int m, const emim_opt_info **opts)
{
    const emim_objective_def *d = emim_objective_get(m);
    if (opts) *opts = d ? d->opts : NULL;
    return d ? d->nopts : 0;
}

int emim_method_reconstructs(int m)
{
    const emim_objective_def *d = emim_objective_get(m);
    return d && d->reconstruct;
}

int emim_method_whole_batch(int m)
{
    const emim_objective_def *d = emim_objective_get(m);
    return d && d->whole_batch;
}

int emim_method_metrics(int m, const char *const **names)
{
    const emim_objective_def *d = emim_objective_get(m);
    if (names) *names = d ? d->metrics : NULL;
    return d ? d->nmetrics : 0;
}

emim_status emim_linear_view_make(emim_linear_view *v, const emim_vit_params *p, const char *name, int in, int out,
                                  char *err, size_t errlen)
{
    char nm[96];
    snprintf(nm, sizeof nm, "%s.weight", name);
    long w = emim_params_find(p, nm, (size_t)in * (size_t)out, err, errlen);
    snprintf(nm, sizeof nm, "%s.bias", name);
    long b = w < 0 ? -1 : emim_params_find(p, nm, (size_t)out, err, errlen);
    if (b < 0) return EMIM_ERR_ARG;
    v->w = (size_t)w;
    v->b = (size_t)b;
    return EMIM_OK;
}

void emim_batch_mask_tokens(const emim_model *M, float *dst, const float *tok, const uint8_t *masks)
{
    int C = M->cfg->vit.channels;
    for (int b = 0; b < M->cfg->batch; b++) {
        size_t o = (size_t)b * M->N * M->PD;
        emim_mask_tokens(dst + o, tok + o, masks + (size_t)b * C * M->N, C, M->N, M->P3);
    }
}

void emim_batch_mask_weights(const emim_model *M, float *w, const uint8_t *masks)
{
    int C = M->cfg->vit.channels;
    for (int b = 0; b < M->cfg->batch; b++)
        for (int n = 0; n < M->N; n++) {
            float *t = w + ((size_t)b * M->N + n) * M->PD;
            /* a token holds channel c's patch at [c * P3, (c + 1) * P3) */
            for (int c = 0; c < C; c++) {
                float v = masks[((size_t)b * C + c) * M->N + n] ? 1.0f : 0.0f;
                for (int e = 0; e < M->P3; e++) t[c * M->P3 + e] = v;
            }
        }
}

emim_status emim_read_scalar(emim_ref r, float *v) { return emim_buf_read(r.buf, r.off, 1, v); }
