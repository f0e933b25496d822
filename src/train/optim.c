/* The optimiser over a parameter arena: AdamW (the adamw op, with its
 * moments in arenas laid out as the parameters) and the exponential moving
 * average of the momentum encoders (composed of the scale op's two
 * directions, so both twins give the same bits). */
#include "train/train.h"

emim_status emim_adamw_state_init(emim_ctx *ctx, emim_adamw_state *s, size_t n)
{
    s->m = s->v = NULL;
    s->n = n;
    emim_status st = emim_buf_alloc(ctx, n, &s->m);
    if (!st) st = emim_buf_alloc(ctx, n, &s->v);
    if (!st) st = emim_buf_zero(s->m, 0, n);
    if (!st) st = emim_buf_zero(s->v, 0, n);
    if (st) emim_adamw_state_free(s);
    return st;
}

void emim_adamw_state_free(emim_adamw_state *s)
{
    emim_buf_free(s->m);
    emim_buf_free(s->v);
    s->m = s->v = NULL;
}

emim_status emim_adamw_update(emim_ctx *ctx, emim_adamw_state *s, const emim_optim_config *c, emim_ref params,
                              emim_ref grads, size_t n, float lr, long t)
{
    if (n > s->n) return emim_set_error(ctx, EMIM_ERR_ARG, "adamw: %zu parameters, the state holds %zu", n, s->n);
    return emim_adamw(ctx, params, emim_at(s->m, 0), emim_at(s->v, 0), grads, n, lr, c->beta1, c->beta2, c->eps,
                      c->weight_decay, (int)t);
}

emim_status emim_ema_update(emim_ctx *ctx, emim_ref target, emim_ref source, size_t n, float momentum)
{
    EMIM_CHECK(emim_scale(ctx, target, target, momentum, n));
    /* the scale op's backward accumulates: target += (1 - momentum) source */
    return emim_scale_backward(ctx, target, source, 1.0f - momentum, n);
}
