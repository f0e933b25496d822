/* Internals of the model layer: the parameter table's builders, typed views
 * of a transformer's tensors (offsets found once by name, so that a
 * misspelt name is an error when the view is made), and a stack of pre-norm
 * blocks with its activations, shared by the encoder and by a method's
 * decoder. Not installed. */
#ifndef EMIM_MODEL_H
#define EMIM_MODEL_H

#include "core/internal.h"

/* Appends a tensor of ndim dims to the table (grows it); EMIM_ERR_NOMEM;
 * EMIM_ERR_ARG after a buffer (a trained tensor comes before every buffer). */
emim_status emim_params_add(emim_vit_params *p, const char *name, emim_param_init init, long fan_in, int ndim,
                            const int *shape);
/* dst: the first n tensors of src, each at its offset + shift, with the
 * encoder's view (a momentum encoder's copy of the encoder, kept as buffers
 * of the same arena). Free with emim_vit_layout_free. */
emim_status emim_vit_layout_copy(const emim_vit_config *c, const emim_vit_params *src, int n, size_t shift,
                                 emim_vit_params *dst);
/* A buffer (emim_param.buffer): after every trained tensor. */
emim_status emim_params_add_buffer(emim_vit_params *p, const char *name, emim_param_init init, int ndim,
                                   const int *shape);
/* A Linear layer NAME.weight [out, in] (+ NAME.bias [out] when bias). */
emim_status emim_params_add_linear(emim_vit_params *p, const char *name, int in, int out, int bias);
/* A LayerNorm NAME.{weight,bias} [width]. */
emim_status emim_params_add_norm(emim_vit_params *p, const char *name, int width);
/* layers pre-norm blocks PREFIX.N.{norm1, attn.qkv (no bias), attn.out_proj,
 * norm2, mlp.linear1, mlp.linear2}.* (MONAI's TransformerBlock). */
emim_status emim_params_add_blocks(emim_vit_params *p, const char *prefix, int layers, int width, int mlp);
/* The offset of tensor `name` with `size` floats; sets err and returns -1
 * when it is missing or of another size. */
long emim_params_find(const emim_vit_params *p, const char *name, size_t size, char *err, size_t errlen);

/* ---- a stack of pre-norm blocks ---- */
typedef struct {
    size_t n1w, n1b, qkv_w, proj_w, proj_b, n2w, n2b, fc1_w, fc1_b, fc2_w, fc2_b;
} emim_block_view;
typedef struct {
    int layers, width, mlp, heads;
    float eps;
    emim_block_view *b;
} emim_stack_view;
/* The view of PREFIX.0 .. PREFIX.(layers-1) in p; EMIM_ERR_ARG with err set
 * when a tensor is missing. */
emim_status emim_stack_view_make(emim_stack_view *v, const emim_vit_params *p, const char *prefix, int layers,
                                 int width, int mlp, int heads, float eps, char *err, size_t errlen);
void emim_stack_view_free(emim_stack_view *v);

/* The encoder's view: its embedding, its blocks and its final norm. */
struct emim_vit_view {
    size_t pos, pe_w, pe_b, norm_w, norm_b;
    emim_stack_view blocks;
};

/* Activations of a stack over B samples of n tokens, carved from an arena
 * (emim_stack_acts_size floats). Per layer: the LayerNorm outputs and
 * statistics, qkv, attention output and probabilities, the MLP's pre- and
 * post-GELU values, and the hidden state after the block. store 0: one set
 * for every layer (a forward only). */
typedef struct {
    emim_ref ln1, m1, r1, qkv, att, p, a, ln2, m2, r2, f1, g1, f2, h;
} emim_layer_acts;
typedef struct {
    int B, n, store;
    emim_layer_acts *l;          /* layers entries (all alike when !store) */
    emim_ref x;                  /* the input of block 0 (set by the forward) */
} emim_stack_acts;
size_t emim_stack_acts_size(const emim_stack_view *v, int B, int n, int store);
/* Carves the activations from arena at *off (advanced). */
emim_status emim_stack_acts_init(emim_stack_acts *A, const emim_stack_view *v, int B, int n, int store,
                                 emim_buf *arena, size_t *off);
void emim_stack_acts_release(emim_stack_acts *A);
/* Blocks l0 .. l1-1 on x [B, n, width] (block l0's input; for l0 > 0 the
 * hidden state after block l0-1). */
emim_status emim_stack_forward(emim_ctx *ctx, const emim_stack_view *v, emim_buf *params, emim_stack_acts *A,
                               emim_ref x, int l0, int l1);
/* The backward of blocks l0 .. l1-1: dx [B, n, width] holds the gradient
 * of block l1-1's output on entry and block l0's input on exit; dhidden[l]
 * (NULL, or entries with NULL buffers: none) is added to the gradient of
 * the hidden state after block l. scratch: emim_stack_scratch_size floats. */
size_t emim_stack_scratch_size(const emim_stack_view *v, int B, int n);
emim_status emim_stack_backward(emim_ctx *ctx, const emim_stack_view *v, emim_buf *params, emim_buf *grads,
                                emim_stack_acts *A, emim_ref dx, const emim_ref *dhidden, emim_ref scratch, int l0,
                                int l1);

#endif
