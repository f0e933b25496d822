/* libemim: E-MIM self-supervised pretraining of 3D ViTs, CPU and OpenCL twins.
 *
 * Conventions
 *   - Every float tensor lives in an emim_buf owned by one context (host memory
 *     for the CPU backend, a cl_mem for OpenCL). Ops take (buffer, offset)
 *     references, offsets counted in floats, so one arena per kind of buffer
 *     (parameters, gradients, activations) can hold many tensors.
 *   - Matrices are row-major. Shapes are given in comments as [rows, cols].
 *   - Backward functions accumulate (+=) into gradient tensors.
 *   - Every function returns an emim_status; on failure emim_error(ctx) names
 *     what failed.
 */
#ifndef EMIM_H
#define EMIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* libemim is built with hidden symbol visibility: what this header declares
 * is the library's interface and the only part it exports. */
#if defined(__GNUC__) && __GNUC__ >= 4
#pragma GCC visibility push(default)
#endif

#define EMIM_VERSION_MAJOR 0
#define EMIM_VERSION_MINOR 1
#define EMIM_VERSION_PATCH 0

const char *emim_version(void);

typedef enum {
    EMIM_OK = 0,
    EMIM_ERR_ARG,         /* a bad argument: shape, offset, option value */
    EMIM_ERR_NOMEM,       /* host or device allocation failed or over the cap */
    EMIM_ERR_BACKEND,     /* the requested backend is not built in or unusable */
    EMIM_ERR_NODEVICE,    /* no OpenCL device, or none matching EMIM_DEVICE */
    EMIM_ERR_OPENCL,      /* an OpenCL call failed (message names the error) */
    EMIM_ERR_BUILD,       /* an OpenCL program failed to build (message has the log) */
    EMIM_ERR_UNSUPPORTED, /* the op has no twin on this backend */
    EMIM_ERR_IO,
    EMIM_ERR_MISMATCH     /* a twin comparison failed */
} emim_status;

const char *emim_status_name(emim_status s);

typedef enum {
    EMIM_BACKEND_AUTO = 0, /* an OpenCL GPU if there is one, else the CPU twin */
    EMIM_BACKEND_CPU,
    EMIM_BACKEND_OPENCL
} emim_backend_kind;

typedef enum {
    EMIM_MODE_FAST = 0,    /* GEMM through OpenBLAS / CLBlast */
    EMIM_MODE_EXACT        /* fixed-order fma GEMM: twins bit-identical */
} emim_mode;

/* Options of a context. emim_options_init() fills defaults and then applies
 * the environment: EMIM_BACKEND=cpu|opencl|auto, EMIM_DEVICE=<index|name
 * substring>, the local rank of an MPI launcher or srun, EMIM_EXACT=0|1, EMIM_THREADS=<n> (else OMP_NUM_THREADS, else all
 * cores). Options set by the caller after init override the environment. */
typedef struct {
    emim_backend_kind backend;
    const char *device;       /* NULL: the GPUs' (local_rank mod their count)-th (auto), or the
                                 first device when there is no GPU (opencl) */
    int local_rank;           /* the process's place on its node (OMPI_COMM_WORLD_LOCAL_RANK,
                                 MPI_LOCALRANKID, MV2_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID) [0] */
    emim_mode mode;
    int threads;              /* CPU threads; 0: OpenMP's default */
    int verbose;              /* 1: say on stderr which backend/device was chosen */
    size_t mem_limit;         /* bytes of buffers the context may allocate; 0: the device's global
                                 memory (OpenCL) or emim_host_memory() (CPU); EMIM_MEM_LIMIT=8G */
} emim_options;

typedef struct emim_ctx emim_ctx;
typedef struct emim_buf emim_buf;

/* A reference to a tensor: a buffer and an offset in floats. */
typedef struct {
    emim_buf *buf;
    size_t off;
} emim_ref;

static inline emim_ref emim_at(emim_buf *b, size_t off) { emim_ref r = { b, off }; return r; }

/* Fills defaults and applies the environment. Returns EMIM_ERR_ARG (with a
 * message in err, if err is non-NULL, of at most errlen bytes) when an
 * environment variable holds a value it cannot take. */
emim_status emim_options_init(emim_options *opt, char *err, size_t errlen);

/* Creates a context. On failure *out is NULL and, when err is non-NULL, err
 * holds a one-line message naming what failed. */
emim_status emim_ctx_create(emim_ctx **out, const emim_options *opt, char *err, size_t errlen);
/* Frees the context and every buffer still allocated in it. */
void emim_ctx_free(emim_ctx *ctx);

const char *emim_error(const emim_ctx *ctx);        /* last error, "" if none */
void emim_clear_error(emim_ctx *ctx);
emim_backend_kind emim_backend(const emim_ctx *ctx); /* CPU or OPENCL, never AUTO */
const char *emim_backend_name(const emim_ctx *ctx);  /* "cpu" or "opencl" */
const char *emim_device_name(const emim_ctx *ctx);   /* OpenCL device, or the CPU model */
emim_mode emim_get_mode(const emim_ctx *ctx);
int emim_threads(const emim_ctx *ctx);
/* Waits for all queued work of the context. */
emim_status emim_finish(emim_ctx *ctx);

/* ---- buffers (sizes and offsets in floats) ---- */
emim_status emim_buf_alloc(emim_ctx *ctx, size_t n, emim_buf **out);
void emim_buf_free(emim_buf *b);
size_t emim_buf_size(const emim_buf *b);
emim_status emim_buf_write(emim_buf *b, size_t off, size_t n, const float *src);
emim_status emim_buf_read(emim_buf *b, size_t off, size_t n, float *dst);
emim_status emim_buf_zero(emim_buf *b, size_t off, size_t n);

/* ---- ops (the op table in src/core/optable.def lists them all) ---- */

/* C[b] = alpha * op(A[b]) op(B[b]) + beta * C[b] for b < batch, with
 * op(X) = X or X^T. op(A): [m, k], op(B): [k, n], C: [m, n], row-major with
 * leading dimensions lda, ldb, ldc and batch strides sa, sb, sc (in floats).
 * beta == 0: C is not read. */
emim_status emim_gemm(emim_ctx *ctx, int ta, int tb, int m, int n, int k,
                      float alpha, emim_ref A, int lda, size_t sa,
                      emim_ref B, int ldb, size_t sb,
                      float beta, emim_ref C, int ldc, size_t sc, int batch);
/* dA += alpha * dC op(B)^T (in A's layout), dB += alpha * op(A)^T dC (in B's
 * layout). Either gradient may be skipped by passing a NULL buffer. The
 * gradient of the C input (beta != 0) is beta * dC: use emim_scale. */
emim_status emim_gemm_backward(emim_ctx *ctx, int ta, int tb, int m, int n, int k,
                               float alpha, emim_ref dA, emim_ref A, int lda, size_t sa,
                               emim_ref dB, emim_ref B, int ldb, size_t sb,
                               emim_ref dC, int ldc, size_t sc, int batch);

/* out[r, c] = inp[r, c] + bias[c]. out: [rows, cols]. out may equal inp. */
emim_status emim_bias_add(emim_ctx *ctx, emim_ref out, emim_ref inp, emim_ref bias,
                          int rows, int cols);
/* dinp += dout; dbias[c] += sum_r dout[r, c]. Either may be NULL. */
emim_status emim_bias_add_backward(emim_ctx *ctx, emim_ref dinp, emim_ref dbias,
                                   emim_ref dout, int rows, int cols);

/* out = a + b, n elements. */
emim_status emim_add(emim_ctx *ctx, emim_ref out, emim_ref a, emim_ref b, size_t n);
/* da += dout; db += dout. Either may be NULL. */
emim_status emim_add_backward(emim_ctx *ctx, emim_ref da, emim_ref db, emim_ref dout, size_t n);

/* out = alpha * a, n elements. */
emim_status emim_scale(emim_ctx *ctx, emim_ref out, emim_ref a, float alpha, size_t n);
/* da += alpha * dout. */
emim_status emim_scale_backward(emim_ctx *ctx, emim_ref da, emim_ref dout, float alpha, size_t n);

/* out = 1 / sqrt(a), n elements (division and sqrt correctly rounded on
 * both twins). out may equal a. */
emim_status emim_rsqrt(emim_ctx *ctx, emim_ref out, emim_ref a, size_t n);
/* da += dout * (-1/2) a^(-3/2), from the forward's input a. */
emim_status emim_rsqrt_backward(emim_ctx *ctx, emim_ref da, emim_ref a, emim_ref dout, size_t n);

/* out = a + alpha I: a, out [rows, cols], alpha added to the elements
 * (r, r), r < min(rows, cols); the others are copied bit for bit. out may
 * be a (then only the diagonal is written), or must not overlap it. */
emim_status emim_add_diag(emim_ctx *ctx, emim_ref out, emim_ref a, float alpha, int rows, int cols);
/* da += dout. */
emim_status emim_add_diag_backward(emim_ctx *ctx, emim_ref da, emim_ref dout, int rows, int cols);

/* out[r] = sum_j inp[r, j], inp: [rows, n], out: [rows]. The order of the
 * additions is fixed (chunks of EMIM_REDUCE_CHUNK, each summed in 32 lanes
 * combined by a fixed tree, then the chunk sums the same way; see
 * doc/numerics.md), the same on both twins and for any thread count. */
#define EMIM_REDUCE_CHUNK 256
emim_status emim_sum(emim_ctx *ctx, emim_ref out, emim_ref inp, int rows, size_t n);
/* dinp[r, j] += dout[r]. */
emim_status emim_sum_backward(emim_ctx *ctx, emim_ref dinp, emim_ref dout, int rows, size_t n);
/* out[r] = (sum_j inp[r, j]) / n. */
emim_status emim_mean(emim_ctx *ctx, emim_ref out, emim_ref inp, int rows, size_t n);
/* dinp[r, j] += dout[r] / n. */
emim_status emim_mean_backward(emim_ctx *ctx, emim_ref dinp, emim_ref dout, int rows, size_t n);

/* A linear layer, PyTorch's layout: out[N, O] = inp[N, I] W[O, I]^T + b[O];
 * b may be NULL (no bias). */
emim_status emim_linear(emim_ctx *ctx, emim_ref out, emim_ref inp, emim_ref W, emim_ref b, int N, int in, int outf);
/* dinp[N, I] += dout W; dW[O, I] += dout^T inp; db[O] += sum_n dout[n, :].
 * Each gradient may be NULL. */
emim_status emim_linear_backward(emim_ctx *ctx, emim_ref dinp, emim_ref dW, emim_ref db, emim_ref inp, emim_ref W,
                                 emim_ref dout, int N, int in, int outf);

/* Random fills from Philox4x32-10: element i of the stream (seed, stream)
 * depends only on (seed, stream, i), so any sub-range and any backend give
 * the same numbers. */
typedef enum {
    EMIM_RAND_UNIFORM = 0,   /* [p0, p1) */
    EMIM_RAND_NORMAL,        /* mean p0, std p1 */
    EMIM_RAND_TRUNC_NORMAL   /* mean p0, std p1, truncated to [p2, p3] (absolute) */
} emim_rand_kind;
emim_status emim_rand(emim_ctx *ctx, emim_ref out, size_t n, emim_rand_kind kind,
                      uint64_t seed, uint64_t stream, float p0, float p1, float p2, float p3);

/* ---- vit ops ---- */
/* LayerNorm over the last dimension: out[r, c] = (inp[r, c] - mean[r]) *
 * rstd[r] * w[c] + b[c], rstd = 1 / sqrt(var + eps) (biased variance; MONAI's
 * eps is 1e-5). mean, rstd: [rows], written for the backward. */
emim_status emim_layernorm(emim_ctx *ctx, emim_ref out, emim_ref mean, emim_ref rstd, emim_ref inp, emim_ref w,
                           emim_ref b, int rows, int C, float eps);
/* dinp [rows, C], dw [C], db [C] += (each may be NULL), from the forward's
 * mean and rstd. */
emim_status emim_layernorm_backward(emim_ctx *ctx, emim_ref dinp, emim_ref dw, emim_ref db, emim_ref dout,
                                    emim_ref inp, emim_ref w, emim_ref mean, emim_ref rstd, int rows, int C);
/* BatchNorm over the rows (the batch) of each column, with batch statistics
 * (BatchNorm1d in training): out[r, c] = (inp[r, c] - mean[c]) * rstd[c] *
 * w[c] + b[c], rstd = 1 / sqrt(var + eps) (biased variance over the n rows);
 * inp, out: [n, d]; mean, rstd: [d], written for the backward. w and b [d]
 * both given, or both NULL: no affine, out = (inp - mean) * rstd (Barlow
 * Twins' standardisation). Each column's sums run over the rows in order.
 * Running statistics for evaluation are the caller's (from mean and rstd). */
emim_status emim_batchnorm(emim_ctx *ctx, emim_ref out, emim_ref mean, emim_ref rstd, emim_ref inp, emim_ref w,
                           emim_ref b, int n, int d, float eps);
/* dinp [n, d], dw [d], db [d] += (each may be NULL; dw and db NULL without
 * affine), from the forward's mean and rstd; w as in the forward. dinp must
 * not be dout. */
emim_status emim_batchnorm_backward(emim_ctx *ctx, emim_ref dinp, emim_ref dw, emim_ref db, emim_ref dout,
                                    emim_ref inp, emim_ref w, emim_ref mean, emim_ref rstd, int n, int d);
/* GELU, exact erf form: out = 0.5 inp (1 + erf(inp / sqrt 2)), n elements. */
emim_status emim_gelu(emim_ctx *ctx, emim_ref out, emim_ref inp, size_t n);
/* dinp += dout * gelu'(inp). */
emim_status emim_gelu_backward(emim_ctx *ctx, emim_ref dinp, emim_ref inp, emim_ref dout, size_t n);
/* Image [B, C, H, W, D] (D fastest) -> tokens [B, N, C*P0*P1*P2] in MONAI's
 * order, patches of P[0] x P[1] x P[2] voxels: token n = i0*(W/P1)*(D/P2) +
 * i1*(D/P2) + i2 over the patch grid, element ((c*P0 + a)*P1 + b)*P2 + d of a
 * token = voxel (c, i0*P0+a, i1*P1+b, i2*P2+d). H, W, D must be multiples of
 * P[0], P[1], P[2]. */
emim_status emim_patchify(emim_ctx *ctx, emim_ref tok, emim_ref img, int B, int C, int H, int W, int D,
                          const int P[3]);
/* dimg += unpatchify(dtok) */
emim_status emim_patchify_backward(emim_ctx *ctx, emim_ref dimg, emim_ref dtok, int B, int C, int H, int W, int D,
                                   const int P[3]);
/* The inverse: tokens -> image. */
emim_status emim_unpatchify(emim_ctx *ctx, emim_ref img, emim_ref tok, int B, int C, int H, int W, int D,
                            const int P[3]);
/* dtok += patchify(dimg) */
emim_status emim_unpatchify_backward(emim_ctx *ctx, emim_ref dtok, emim_ref dimg, int B, int C, int H, int W, int D,
                                     const int P[3]);


/* ---- attention ops ---- */
/* Row softmax: p[r, :] = softmax(scale * x[r, :]), x, p: [rows, n]; p may be x. */
emim_status emim_softmax(emim_ctx *ctx, emim_ref p, emim_ref x, float scale, int rows, int n);
/* dx += scale * p * (dp - sum_j p_j dp_j), from the forward's p. */
emim_status emim_softmax_backward(emim_ctx *ctx, emim_ref dx, emim_ref p, emim_ref dp, float scale, int rows, int n);
/* Multi-head scaled dot-product attention as in MONAI's ViT. qkv [B, N, 3C]
 * is the fused projection (Q, K, V side by side; head h = columns h*D..h*D+D-1
 * of each, D = C/heads); y [B, N, C] = heads side by side, before the output
 * projection; p [B, heads, N, N] receives the softmax probabilities for the
 * backward. Scale 1/sqrt(D). */
emim_status emim_attention(emim_ctx *ctx, emim_ref y, emim_ref p, emim_ref qkv, int B, int N, int C, int heads);
/* dqkv [B, N, 3C] += the gradient of qkv, from the forward's p. */
emim_status emim_attention_backward(emim_ctx *ctx, emim_ref dqkv, emim_ref qkv, emim_ref p, emim_ref dy, int B, int N,
                                    int C, int heads);


/* ---- loss ops ---- */
/* loss[0] = sum_e m_e (pred_e - target_e)^2 / sum_e m_e over n elements; mask
 * m (0/1, or any non-negative weights) may be NULL: all ones. 0 when the mask
 * selects nothing. */
emim_status emim_mse(emim_ctx *ctx, emim_ref loss, emim_ref pred, emim_ref target, emim_ref mask, size_t n);
/* dpred += g, dtarget -= g with g = dloss[0] 2 (pred - target) m / sum m;
 * dpred or dtarget may be NULL. */
emim_status emim_mse_backward(emim_ctx *ctx, emim_ref dpred, emim_ref dtarget, emim_ref pred, emim_ref target,
                              emim_ref mask, emim_ref dloss, size_t n);
/* loss[0] = sum_e m_e |pred_e - target_e| / sum_e m_e over n elements, the
 * sums in mse's fixed order; mask m as for mse (NULL: all ones; 0 when the
 * mask selects nothing). */
emim_status emim_l1(emim_ctx *ctx, emim_ref loss, emim_ref pred, emim_ref target, emim_ref mask, size_t n);
/* dpred += g, dtarget -= g with g = dloss[0] sign(pred - target) m / sum m,
 * sign(0) = 0 (PyTorch's convention); dpred or dtarget may be NULL. */
emim_status emim_l1_backward(emim_ctx *ctx, emim_ref dpred, emim_ref dtarget, emim_ref pred, emim_ref target,
                             emim_ref mask, emim_ref dloss, size_t n);
/* a[i, :] = x[i, :] / r[i], r[i] = sqrt(sum_k x[i,k]^2 + 1e-12); x, a: [rows, d]. */
emim_status emim_rownorm(emim_ctx *ctx, emim_ref a, emim_ref r, emim_ref x, int rows, int d);
/* dx += (da - a (a . da)) / r, per row. */
emim_status emim_rownorm_backward(emim_ctx *ctx, emim_ref dx, emim_ref a, emim_ref r, emim_ref da, int rows, int d);
/* loss[0] = sum_b [sum_i (1 - C_ii)^2 + w sum_{i != j} C_ij^2], C: [B, n, n]. */
emim_status emim_barlow(emim_ctx *ctx, emim_ref loss, emim_ref C, float w, int B, int n);
/* dC += dloss[0] * dloss/dC. */
emim_status emim_barlow_backward(emim_ctx *ctx, emim_ref dC, emim_ref C, emim_ref dloss, float w, int B, int n);
/* Softmax cross-entropy (InfoNCE): with s = 1 / temperature (rounded to
 * float), loss[0] = (1/n) sum_r [logsumexp_j(s x[r, j]) - s x[r, t_r]] over
 * the rows of the logits x [n, k]; target [n] holds each row's column t_r as
 * a float (a whole number in [0, k), k <= 2^24). Stable (the row maximum is
 * subtracted before our own exp), fixed-order sums; lse [n] receives each
 * row's logsumexp for the backward. The CPU twin checks the targets and
 * returns EMIM_ERR_ARG naming the first bad one; the OpenCL twin does not
 * read them back to the host: there a bad target makes the loss NaN. */
emim_status emim_cross_entropy(emim_ctx *ctx, emim_ref loss, emim_ref lse, emim_ref x, emim_ref target,
                               float temperature, int n, int k);
/* dx [n, k] += (softmax(s x[r, :])_j - [j == t_r]) s dloss[0] / n, from the
 * forward's lse (dx may be NULL: nothing to do; the OpenCL twin makes the
 * row of a bad target NaN). */
emim_status emim_cross_entropy_backward(emim_ctx *ctx, emim_ref dx, emim_ref x, emim_ref target, emim_ref lse,
                                        emim_ref dloss, float temperature, int n, int k);
/* The Pyramid Barlow Twins term of one level (E-MIM eq. 4-8): z, zm [B, n, d]
 * (tokens of the image and of the masked image); C_ij = cosine similarity of
 * z_i and zm_j (norms sqrt(sum^2 + 1e-12)); loss[0] = sum over samples of
 * sum_i (1 - C_ii)^2 + w sum_{i != j} C_ij^2 (w: the off-diagonal weight, 1
 * as published). cache: emim_pbt_cache_size(B, n, d) floats for the backward. */
size_t emim_pbt_cache_size(int B, int n, int d);
emim_status emim_pbt(emim_ctx *ctx, emim_ref loss, emim_ref z, emim_ref zm, emim_ref cache, float w, int B, int n,
                     int d);
/* dz, dzm += (each may be NULL), from the forward's cache and dloss[0]. */
emim_status emim_pbt_backward(emim_ctx *ctx, emim_ref dz, emim_ref dzm, emim_ref cache, emim_ref dloss, float w, int B,
                              int n, int d);
/* One AdamW step t >= 1 on n parameters, in place, as torch.optim.AdamW:
 * p *= 1 - lr wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
 * p -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps). */
emim_status emim_adamw(emim_ctx *ctx, emim_ref p, emim_ref m, emim_ref v, emim_ref g, size_t n, float lr, float beta1,
                       float beta2, float eps, float weight_decay, int t);
/* norm[0] = |g| (fixed-order sum); g *= min(1, max_norm / (norm + 1e-6)), as
 * torch.nn.utils.clip_grad_norm_ over one arena of n gradients. */
emim_status emim_clip_grad_norm(emim_ctx *ctx, emim_ref norm, emim_ref g, size_t n, float max_norm);

/* ---- token ops ---- */
/* out[b, j, :] = inp[b, idx[b, j], :] for b < B, j < n_out: the rows of
 * inp [B, n_in, d] that idx [B, n_out] names, into out [B, n_out, d]. idx
 * holds row indices as floats: whole numbers in [0, n_in), distinct within
 * each sample (so n_out <= n_in; n_in <= 2^24, where floats hold every
 * index exactly). The CPU twin checks idx and returns EMIM_ERR_ARG naming
 * the first bad index; the OpenCL twin does not read idx back to the host:
 * there an index out of range or not whole makes its out row NaN (and is
 * never used to address memory), and repeated indices go undetected. */
emim_status emim_gather_rows(emim_ctx *ctx, emim_ref out, emim_ref inp, emim_ref idx, int B, int n_in, int n_out,
                             int d);
/* dinp[b, idx[b, j], :] += dout[b, j, :] (the same preconditions on idx;
 * the OpenCL twin skips an index out of range or not whole, and repeated
 * indices would race there). Rows of dinp that idx does not
 * name are untouched, so on a zeroed dinp this scatters the rows of dout
 * into place. */
emim_status emim_gather_rows_backward(emim_ctx *ctx, emim_ref dinp, emim_ref idx, emim_ref dout, int B, int n_in,
                                      int n_out, int d);
/* out[r, :] = m[r] != 0 ? t[:] : x[r, :]; x, out: [rows, d], m: [rows]
 * (0/1), t: [d] (a learned mask token, as in SimMIM). out may equal x. */
emim_status emim_mask_mix(emim_ctx *ctx, emim_ref out, emim_ref x, emim_ref m, emim_ref t, int rows, int d);
/* dx[r, :] += dout[r, :] where m[r] == 0; dt[c] += sum over the rows r with
 * m[r] != 0 of dout[r, c], in a fixed order (chunks of EMIM_REDUCE_CHUNK
 * rows summed in order, then the chunk sums in order), the same on both
 * twins and for any thread count. dx or dt may be NULL; dx must not be
 * dout. */
emim_status emim_mask_mix_backward(emim_ctx *ctx, emim_ref dx, emim_ref dt, emim_ref m, emim_ref dout, int rows,
                                   int d);
/* Average pooling of the token map x [B, N, D] into R regions, out [B, R,
 * D]: out[b, r, :] = the mean of x[b, n, :] over the tokens n with region[n]
 * == r, summed in ascending n (0 for a region without tokens). region [N]
 * (the same for every sample) holds each token's region as a float: a whole
 * number in [0, R), or -1 for a token in no region (N, R <= 2^24). The CPU
 * twin checks region and returns EMIM_ERR_ARG naming the first bad value;
 * the OpenCL twin does not read it back to the host: there a token with a
 * bad value belongs to no region. */
emim_status emim_region_pool(emim_ctx *ctx, emim_ref out, emim_ref x, emim_ref region, int B, int N, int R, int D);
/* dx[b, n, :] += dout[b, r, :] / (the number of tokens of region r), r =
 * region[n], for every token of a region; the others are untouched (dx may
 * be NULL: nothing to do). */
emim_status emim_region_pool_backward(emim_ctx *ctx, emim_ref dx, emim_ref region, emim_ref dout, int B, int N, int R,
                                      int D);


/* ---- whitening ops ---- */
/* ZCA whitening by Newton's iteration (IterNorm, Huang et al. 2019), for x
 * [n, d] (n rows: the batch; d features):
 *   mu = column means of x, Xc = x - mu, S = Xc^T Xc / n + eps I,
 *   tr = trace(S), A = S / tr, P_0 = I, P_{k+1} = 1.5 P_k - 0.5 P_k^3 A
 *   (k < T), W = P_T / sqrt(tr) (~ S^(-1/2) as T grows), y = Xc W.
 * P_k is computed in the coupled (Newton-Schulz) form of the iteration,
 * the same matrices in exact arithmetic and stable in floating point where
 * the form above is not (src/ops/zca.c). T = 5 and eps = 1e-5 are
 * IterNorm's values; T = 0 gives W = I/sqrt(tr) (centering and one global
 * scale). eps = 0 with a constant x gives NaN.
 * y: [n, d] (may be x); cache: emim_zca_cache_size(d, T) floats, holding
 * d*d matrices (A, then W at offset d*d, then the iteration's) followed by
 * mu [d], tr, 1/sqrt(tr), 1/tr. No scalar is read back to the host.
 * 1 <= d <= 46340, 0 <= T <= 1000. */
size_t emim_zca_cache_size(int d, int T);
emim_status emim_zca(emim_ctx *ctx, emim_ref y, emim_ref x, emim_ref cache, int n, int d, int T, float eps);
/* dx [n, d] += the gradient of x (through the iteration, the trace
 * normalisation and the centering), from the forward's x and cache. */
emim_status emim_zca_backward(emim_ctx *ctx, emim_ref dx, emim_ref x, emim_ref cache, emim_ref dy, int n, int d,
                              int T);
/* Running statistics for evaluation, as IterNorm's (and batch norm's):
 * mean [d] = 0 and W [d, d] = I to start; after each training forward,
 * mean = (1 - m) mean + m mu and W = (1 - m) W + m W_batch from that
 * forward's cache (m: the momentum in [0, 1], 0.1 in IterNorm), each as
 * (1 - m) r rounded plus (m v rounded). */
emim_status emim_zca_running_init(emim_ctx *ctx, emim_ref mean, emim_ref W, int d);
emim_status emim_zca_running_update(emim_ctx *ctx, emim_ref mean, emim_ref W, emim_ref cache, float momentum, int d,
                                    int T);
/* The evaluation forward: y = (x - mean) W with the running statistics
 * (no batch statistics, no cache; y may be x). */
emim_status emim_zca_eval(emim_ctx *ctx, emim_ref y, emim_ref x, emim_ref mean, emim_ref W, int n, int d);

/* ---- built-in data ----
 * A multi-modal brain phantom, deterministic by (seed, index): img [C, H, W,
 * D] (D fastest) holds the first C of its contrasts T1, T1ce, T2, FLAIR
 * (C from 1 to 4; a channel's values do not depend on C), intensities in
 * [0, 1]; labels [H, W, D] (may be NULL) receive the tissue of every voxel.
 * H, W, D >= 4. Returns EMIM_ERR_ARG for bad sizes. Host memory; no context
 * needed. */
#define EMIM_PHANTOM_CONTRASTS 4
enum {
    EMIM_TISSUE_BACKGROUND = 0, EMIM_TISSUE_SKULL, EMIM_TISSUE_CSF, EMIM_TISSUE_GREY, EMIM_TISSUE_WHITE,
    EMIM_TISSUE_OEDEMA, EMIM_TISSUE_RIM, EMIM_TISSUE_CORE, EMIM_PHANTOM_LABELS
};
emim_status emim_phantom(float *img, uint8_t *labels, int C, int H, int W, int D, uint64_t seed, uint64_t index);
/* The phantom's downstream label (emim probe): 1 when the lesion of (seed,
 * index) is large (its radius above the median of the generator's uniform
 * radius distribution), else 0; balanced, and seen only through the image
 * (the lesion's extent in every contrast). The same for any size and C. */
int emim_phantom_label(uint64_t seed, uint64_t index);

/* ---- masks on the patch grid ----
 * A mask is [C, N] bytes (modality c, patch position n; 1 = masked), drawn
 * from Philox by (seed, step < 2^40, sample < 2^24) alone.
 * EMIM_MASK_HMP, E-MIM's Hybrid Mask Pattern, in three steps: (1) if modal,
 * one random modality entirely; (2) round(r_pos N) random positions in every
 * modality; (3) at round(r_patch N) of the other positions, a random
 * non-empty proper subset of the modalities. The paper gives no ratios: the
 * defaults (modal on, r_pos 0.4, r_patch 0.3) are provisional, see doc/.
 * EMIM_MASK_RANDOM (MAE / SimMIM): round(ratio N) positions, all modalities. */
typedef enum { EMIM_MASK_HMP = 0, EMIM_MASK_RANDOM } emim_mask_strategy;
typedef struct {
    emim_mask_strategy strategy;
    int modal;
    float r_pos, r_patch;   /* HMP */
    float ratio;            /* random */
} emim_mask_options;
void emim_mask_options_default(emim_mask_options *o);
emim_status emim_mask_make(uint8_t *mask, int C, int N, const emim_mask_options *o, uint64_t seed, uint64_t step,
                           uint64_t sample);
/* xm = x with every masked patch zeroed; x, xm: tokens [N, C*P3] (patchify's
 * layout, P3 = P0*P1*P2); xm may be x. Host memory. */
void emim_mask_tokens(float *xm, const float *x, const uint8_t *mask, int C, int N, int P3);

/* ---- the ViT encoder (MONAI's layout) ---- */
typedef struct {
    int img[3];        /* H, W, D of the input volume */
    int patch[3];      /* patches of patch[0] x patch[1] x patch[2] voxels */
    int channels;      /* modalities */
    int hidden, mlp, heads, layers;
    float eps;         /* LayerNorm, 1e-5 */
} emim_vit_config;
/* "base" (the paper: 96^3, 768/3072/12 heads/12 layers), "small"
 * (384/1536/6/12), "tiny" (64^3, 96/384/3/4), all with 16^3 patches and 4
 * channels (the caller sets the channels of its data). EMIM_ERR_ARG for
 * another name. */
emim_status emim_vit_preset(const char *name, emim_vit_config *c);
/* EMIM_ERR_ARG with a one-line reason when the sizes do not fit together:
 * an axis not a multiple of its patch, hidden not divisible by the heads,
 * a size below 1 or too large (more than 65536 tokens, 2^20 values per
 * token, 65536 hidden or MLP units, 1024 layers, 30 channels). */
emim_status emim_vit_check(const emim_vit_config *c, char *err, size_t errlen);
int emim_vit_tokens(const emim_vit_config *c);
/* values per token: channels * patch[0] * patch[1] * patch[2] */
int emim_vit_token_size(const emim_vit_config *c);
/* How a parameter tensor is initialised (emim_vit_init): LayerNorm weights
 * (ones) and biases (zeros), embeddings and mask tokens (trunc_normal(0,
 * 0.02, -2, 2)), a Conv3d's weight or bias (PyTorch's default whatever the
 * scheme), a Linear layer's weight or bias (by the scheme). */
typedef enum {
    EMIM_PINIT_ONES = 0, EMIM_PINIT_ZEROS, EMIM_PINIT_EMBED, EMIM_PINIT_CONV, EMIM_PINIT_LINEAR_W,
    EMIM_PINIT_LINEAR_B
} emim_param_init;
/* One parameter tensor: MONAI's state_dict name and shape, its offset in
 * the arena (floats), how it is initialised and its layer's fan-in. */
typedef struct {
    char name[80];
    int ndim, shape[5];
    size_t size, off;
    emim_param_init init;
    long fan_in;
    int buffer;        /* 1: state, not trained (no gradient, no optimiser; saved
                          in checkpoints): a momentum encoder, a queue */
} emim_param;
typedef struct {
    emim_param *t;
    int n, cap;
    size_t total;      /* floats in the arena */
    size_t trainable;  /* the trained tensors' floats: the buffers follow them */
    struct emim_vit_view *view;  /* the encoder's tensors, found once by name */
} emim_vit_params;
/* The encoder's parameter table: MONAI's ViT names and shapes
 * (patch_embedding.*, blocks.N.{norm1,attn.qkv,attn.out_proj,norm2,
 * mlp.linear1,mlp.linear2}.*, norm.*). A method's tensors follow it in the
 * trainer's table (emim_trainer_layout). */
emim_status emim_vit_layout(const emim_vit_config *c, emim_vit_params *p);
void emim_vit_layout_free(emim_vit_params *p);
const emim_param *emim_vit_param(const emim_vit_params *p, const char *name);
/* Initialisation schemes, from Philox (the same on every backend; tensor i
 * of the table draws stream i):
 * EMIM_INIT_MONAI, what MONAI's ViT does: position embeddings
 * trunc_normal(0, 0.02, -2, 2); the patch embedding (a Conv3d) and every
 * Linear layer of the blocks keep PyTorch's defaults, weights and biases
 * uniform(+-1/sqrt(fan_in)); LayerNorm weights 1, biases 0; a method's heads
 * as PyTorch's nn.Linear. EMIM_INIT_TRUNC_NORMAL, the timm / MAE recipe:
 * every Linear weight trunc_normal(0, 0.02, -2, 2) and its bias 0 (position
 * embeddings, patch embedding and LayerNorm as above). */
typedef enum { EMIM_INIT_MONAI = 0, EMIM_INIT_TRUNC_NORMAL } emim_init_scheme;
emim_status emim_vit_init(emim_ctx *ctx, const emim_vit_params *p, emim_buf *arena, uint64_t seed,
                          emim_init_scheme scheme);

/* Activations of one pass of the encoder over a batch of B samples (one
 * arena of the context). */
typedef struct emim_vit_acts emim_vit_acts;
/* A pass over the whole token grid that keeps what the backward needs. */
emim_status emim_vit_acts_create(emim_ctx *ctx, const emim_vit_config *c, int B, emim_vit_acts **out);
/* ntok: the tokens per sample the blocks see (the grid's, or fewer for a
 * pass over a subset: emim_vit_embed's idx); store 0: a pass for features
 * only, no backward: every block reuses one set of buffers, so a hidden
 * state can be read only right after its block has run. */
emim_status emim_vit_acts_create_ex(emim_ctx *ctx, const emim_vit_config *c, int B, int ntok, int store,
                                    emim_vit_acts **out);
void emim_vit_acts_free(emim_vit_acts *A);
/* z [B, ntok, hidden]: the encoder's output (after the final LayerNorm). */
emim_ref emim_vit_acts_output(const emim_vit_acts *A);
/* the hidden state after block `layer` (0-based), [B, ntok, hidden] */
emim_ref emim_vit_acts_hidden(const emim_vit_acts *A, int layer);
/* The stages of the encoder, each a call:
 * emim_vit_embed: tokens [B, N, emim_vit_token_size] (emim_patchify's
 * layout; they must stay alive for the backward) -> e = tokens W^T + b (a
 * linear layer with the Conv3d's weights); where m [B*N] (0/1 floats;
 * optional) is 1, e's row becomes the mask token t [hidden] (SimMIM; t a
 * tensor of the same arena as the encoder's parameters); + the position
 * embeddings; then, with idx [B, ntok] (row indices as floats, ascending,
 * distinct; optional), the blocks see only those rows, each with its own
 * position embedding (MAE's visible tokens). m and idx must stay alive for
 * the backward.
 * emim_vit_blocks: blocks l0 .. l1-1 (pre-norm MHSA and MLP).
 * emim_vit_final_norm: the final LayerNorm, into the output. */
emim_status emim_vit_embed(emim_ctx *ctx, const emim_vit_params *p, emim_buf *params, emim_vit_acts *A,
                           emim_ref tokens, emim_ref m, emim_ref t, emim_ref idx);
emim_status emim_vit_blocks(emim_ctx *ctx, const emim_vit_params *p, emim_buf *params, emim_vit_acts *A, int l0,
                            int l1);
emim_status emim_vit_final_norm(emim_ctx *ctx, const emim_vit_params *p, emim_buf *params, emim_vit_acts *A);
/* All three over the whole grid: embedding, position embeddings, pre-norm
 * blocks, final norm. */
emim_status emim_vit_forward(emim_ctx *ctx, const emim_vit_params *p, emim_buf *params, emim_vit_acts *A,
                             emim_ref tokens);
/* Accumulates into grads (laid out as params) the gradient of a loss whose
 * gradient with respect to the output z is dz (NULL buffer: none) and with
 * respect to the hidden state after block l is dhidden[l] (dhidden or its
 * entries may be NULL); through the subset and the mask token when the
 * pass had them. Needs a pass that stored its activations. */
emim_status emim_vit_backward(emim_ctx *ctx, const emim_vit_params *p, emim_buf *params, emim_buf *grads,
                              emim_vit_acts *A, emim_ref dz, const emim_ref *dhidden);

/* ---- training: one trainer, objectives as parts ----
 * A run trains the encoder with one method, an objective (src/objective/):
 * it declares its own parameters (heads, decoders, mask tokens) after the
 * encoder's in one arena, runs forward and backward on a batch and reports
 * named terms. The trainer runs batch -> masks -> objective -> gradient
 * reduction -> clipping -> AdamW, and owns checkpoints. Methods:
 * "emim" (E-MIM: hybrid masks, Pyramid Barlow Twins, whole-image
 * reconstruction), "mae" (He et al. 2022), "simmim" (Xie et al. 2022),
 * "barlow" (Barlow Twins, Zbontar et al. 2021) and "moco" (MoCo v2, Chen et
 * al. 2020, with local InfoNCE and ZCA whitening as options).
 *
 * A method's options are a table of named numbers (a choice or a flag is a
 * whole number), so that tools, checkpoints and resumes treat every method
 * alike. */
#define EMIM_MAX_METHOD_OPTIONS 16
#define EMIM_MAX_METRICS 8
typedef enum { EMIM_OPT_INT = 0, EMIM_OPT_FLOAT, EMIM_OPT_CHOICE, EMIM_OPT_FLAG } emim_opt_kind;
typedef struct {
    const char *name;          /* also the tool's option: --NAME */
    emim_opt_kind kind;
    double def, lo, hi;        /* default and range; CHOICE: an index into choices */
    const char *choices;       /* CHOICE: "sum|mean" */
    const char *help;          /* one line, with the default's source */
} emim_opt_info;
int emim_method_count(void);
/* -1 when no method has that name */
int emim_method_find(const char *name);
const char *emim_method_name(int method);
const char *emim_method_summary(int method);
/* its options (the count; *opts the table) */
int emim_method_options(int method, const emim_opt_info **opts);
/* the names of the terms its steps report (emim_step_stats.value) */
int emim_method_metrics(int method, const char *const **names);
/* 1 when the method reconstructs images (emim_trainer_reconstruct), 0 for
 * the joint-embedding methods (barlow, moco) */
int emim_method_reconstructs(int method);
/* 1 when its loss holds statistics of the whole batch (barlow, moco): one
 * micro-batch, one process */
int emim_method_whole_batch(int method);

/* How a PBT level's term is normalised (E-MIM's pbt-norm option): 0 sum,
 * the sum over the n^2 entries of the correlation matrix (eq. 7 as
 * printed); 1 mean (the default), that sum divided by n^2 (a mean, as
 * L_MIM is). See doc/method.md for the measurement behind the default. */
enum { EMIM_PBT_SUM = 0, EMIM_PBT_MEAN };

typedef struct {
    float lr, weight_decay, beta1, beta2, eps;
    float clip;                 /* global gradient-norm clipping; 0: off */
} emim_optim_config;
typedef struct {
    int warmup, steps;          /* linear warm-up, then cosine decay to 0 at `steps` */
} emim_schedule_config;
typedef struct {
    emim_vit_config vit;        /* the encoder */
    emim_init_scheme init;      /* the weights' initialisation [EMIM_INIT_TRUNC_NORMAL] */
    int method;                 /* emim_method_find's index */
    double opt[EMIM_MAX_METHOD_OPTIONS]; /* the method's options, in its table's order */
    emim_optim_config optim;
    emim_schedule_config sched;
    int batch;
    int micro;                  /* samples per micro-batch, dividing batch; 0: the whole batch. The
                                   batch's gradient is then the fixed pairwise tree (emim_tree_mid) over
                                   its micro-batches' gradients, times 1/(batch / micro): the same bits
                                   for any number of processes sharing the micro-batches. Activations
                                   are kept for one micro-batch at a time. */
    uint64_t seed;              /* initialisation, masks */
} emim_train_config;
/* The defaults of the method (a name; NULL: "emim") for the encoder vit.
 * EMIM_ERR_ARG for an unknown method. */
emim_status emim_train_config_default(emim_train_config *t, const emim_vit_config *vit, const char *method);
/* A method option by name: EMIM_ERR_ARG when the method has no such option
 * or the value is out of its range (err, if non-NULL, says which). */
emim_status emim_train_config_set(emim_train_config *t, const char *name, double value, char *err, size_t errlen);
/* NAN when the method has no such option */
double emim_train_config_get(const emim_train_config *t, const char *name);
/* EMIM_ERR_ARG with a one-line reason when the configuration cannot train:
 * the encoder (emim_vit_check), the batch, the method's options against the
 * model, the optimiser and the schedule. */
emim_status emim_train_config_check(const emim_train_config *t, char *err, size_t errlen);
/* The blocks whose hidden states Pyramid Barlow Twins takes, 0-based, into
 * blocks (when non-NULL; at most t->vit.layers entries): one every
 * layers/levels blocks, the last the final block. An E-MIM run's own
 * --levels; for the other methods, E-MIM's default (4, or the largest of 3,
 * 2, 1 that divides the layers). Returns the count, 0 when --levels does
 * not divide the layers. */
int emim_pyramid_blocks(const emim_train_config *t, int *blocks);
/* The masks the method draws at every step (emim_mask_make's options; for
 * maskvar and the collapse check). */
void emim_train_mask_options(const emim_train_config *t, emim_mask_options *m);
/* The learning rate of step (0-based) under the schedule. */
float emim_lr_at(const emim_train_config *t, long step);
typedef struct {
    float loss;                 /* what the gradients are of */
    float lr, grad_norm;        /* grad_norm before clipping */
    float exchange_s;           /* seconds in the gradients' exchange with the other ranks, waiting
                                   for them included (0 alone) */
    int n;                      /* the method's terms (emim_method_metrics) */
    float value[EMIM_MAX_METRICS];
} emim_step_stats;
typedef struct emim_trainer emim_trainer;
/* Allocates the model (initialised from cfg->seed), the objective, the
 * optimiser state and the activations on ctx. */
emim_status emim_trainer_create(emim_ctx *ctx, const emim_train_config *cfg, emim_trainer **out);
void emim_trainer_free(emim_trainer *T);
const emim_train_config *emim_trainer_config(const emim_trainer *T);
/* One step on images [batch, channels, H, W, D] (host memory, in [0, 1]);
 * under emim_trainer_set_comm, this rank's samples only
 * (emim_trainer_local_batch). */
emim_status emim_trainer_step(emim_trainer *T, const float *images, emim_step_stats *st);
/* The same with the caller's masks [batch, channels, tokens] (1 = masked)
 * instead of the method's (for tests and experiments). */
emim_status emim_trainer_step_masks(emim_trainer *T, const float *images, const uint8_t *masks,
                                    emim_step_stats *st);
/* Data parallel training: a group of `size` processes (ranks), each with
 * its own trainer of the same configuration. The K = batch / micro
 * micro-batches of a step are shared out in rank order, rank r taking
 * micro-batches [r K / size, (r + 1) K / size) (K >= size); each rank passes
 * emim_trainer_step the images of its own samples only, and its masks are
 * those of the samples' places in the whole batch. In exact mode the
 * gradients' tree is completed across ranks in its fixed order (each rank
 * sums a slice of the parameters over the tree's nodes, then the slices are
 * gathered): the bits equal one process's for any rank count. In fast mode
 * the ranks' sums are added by allreduce_sum. The callbacks move host
 * floats between all ranks at once (MPI's collectives: src/train/mpi.c,
 * emim_comm_mpi_create). */
typedef struct emim_comm {
    int rank, size;
    void *user;
    /* send: for each rank q, scount[q] floats from send + sdispl[q]; recv:
     * rcount[q] floats from rank q at recv + rdispl[q] */
    emim_status (*alltoallv)(struct emim_comm *c, const float *send, const size_t *scount, const size_t *sdispl,
                             float *recv, const size_t *rcount, const size_t *rdispl);
    /* every rank's count[rank] floats from send into recv + displ[q], rank order */
    emim_status (*allgatherv)(struct emim_comm *c, const float *send, float *recv, const size_t *count,
                              const size_t *displ);
    /* buf [n] summed over the ranks, in place (any order: fast mode) */
    emim_status (*allreduce_sum)(struct emim_comm *c, float *buf, size_t n);
} emim_comm;
/* An emim_comm over MPI (libemim built with configure --with-mpi): the
 * communicator that mpi_comm points to (an MPI_Comm; NULL: MPI_COMM_WORLD),
 * MPI initialised by the caller. EMIM_ERR_BACKEND without MPI. */
emim_status emim_comm_mpi_create(emim_comm **out, const void *mpi_comm, char *err, size_t errlen);
void emim_comm_mpi_free(emim_comm *c);
int emim_have_mpi(void);            /* 1 if built with MPI */
/* Trains as rank comm->rank of comm->size (NULL: alone). The comm must
 * outlive the trainer. EMIM_ERR_ARG when the batch has fewer micro-batches
 * than ranks. */
emim_status emim_trainer_set_comm(emim_trainer *T, emim_comm *comm);
/* The samples [*first, *first + *count) of the batch that this rank's
 * emim_trainer_step takes. */
void emim_trainer_local_batch(const emim_trainer *T, int *first, int *count);
/* The split of the gradient tree's node [lo, hi), hi - lo >= 2: lo plus the
 * largest power of two below hi - lo. */
long emim_tree_mid(long lo, long hi);
/* The gradients of the last step (laid out as the parameters; after
 * clipping, before the update). */
emim_buf *emim_trainer_grads(emim_trainer *T);
long emim_trainer_steps_done(const emim_trainer *T);
/* The encoder's token features [batch * tokens, hidden] of images [batch,
 * channels, H, W, D] (host, in [0, 1]), unmasked, at `layer`: -1 the output
 * (after the final LayerNorm), 0 .. layers-1 the hidden state after that
 * block; with the current weights or, when init is 1, with a fresh
 * initialisation from the configuration's seed (the weights the run started
 * from). A pass that stores no activations. Host memory. Under
 * emim_trainer_set_comm, of this rank's samples only (emim_trainer_local_batch). */
emim_status emim_trainer_features(emim_trainer *T, const float *images, int layer, int init, float *out);
/* The method's reconstruction of images [batch, channels, H, W, D] (host)
 * under masks [batch, channels, tokens] (emim_mask_make's layout, 1 =
 * masked; of the kind the method draws); xm receives the masked images
 * (masked patches zeroed) and recon the reconstruction as images (both
 * [batch, channels, H, W, D]; either may be NULL). */
emim_status emim_trainer_reconstruct(emim_trainer *T, const float *images, const uint8_t *masks, float *xm,
                                     float *recon);
emim_buf *emim_trainer_params(emim_trainer *T);
/* The parameter table: the encoder's tensors (emim_vit_layout), then the
 * method's, in one arena. */
const emim_vit_params *emim_trainer_layout(const emim_trainer *T);

/* Checkpoints: safetensors files (readable by any safetensors reader) that
 * hold the weights under their names, AdamW's moments as "optim.m.NAME"
 * and "optim.v.NAME", and, in the header's metadata, a JSON description of
 * the run (method, model, options, optimiser, schedule, step, the run
 * record) and a CRC-32 of the data, verified on load. Written to PATH.tmp,
 * flushed and renamed, so PATH always holds a whole checkpoint. */
emim_status emim_trainer_save(emim_trainer *T, const char *path);
/* The run record: text (at most 1 MiB) saved in every checkpoint beside the
 * configuration, for what the caller needs to continue the run (the emim
 * tool keeps its data and run options there, one "name=value" line each).
 * NULL: none. The text is copied. */
emim_status emim_trainer_set_record(emim_trainer *T, const char *text);
/* Restores weights, optimiser state and step (the model must match). */
emim_status emim_trainer_load(emim_trainer *T, const char *path);
/* Reads a checkpoint's configuration, step and (when record is non-NULL) its
 * run record (*record: malloc'd text, "" when none; free() it), to create a
 * trainer for it. Checkpoints of libemim 0.1 (binary, version 2) are
 * read too. */
emim_status emim_checkpoint_config(emim_ctx *ctx, const char *path, emim_train_config *cfg, long *steps_done,
                                   char **record);

/* ---- the encoder in MONAI ----
 * Export: the trainer's encoder as MONAI's ViT state_dict in a safetensors
 * file (float32; names prefixed by prefix, e.g. "vit." for UNETR; NULL:
 * none), with the tensors that the MONAI version's ViT holds and libemim
 * does not use: monai "1.6" (NULL) adds every block's norm_cross_attn as a
 * LayerNorm identity, "none" adds nothing. nmeta string pairs go into the
 * file's metadata. */
emim_status emim_trainer_export(emim_trainer *T, const char *path, const char *prefix, const char *monai,
                                const char *const *keys, const char *const *vals, int nmeta);
/* Import: a MONAI ViT's weights (a safetensors state_dict, with or without
 * a prefix such as UNETR's "vit.": whatever stands before the position
 * embeddings' name; with a prefix, tensors outside it, such as a UNETR's
 * decoder, are left alone) into the encoder; MONAI's unused cross-attention
 * tensors are skipped. A missing, extra or
 * mis-shaped tensor is an error listing them with their shapes; nothing is
 * changed then. */
emim_status emim_trainer_import(emim_trainer *T, const char *path);

/* ---- NIfTI volumes (host memory; no context needed) ----
 * A volume holds float data [nc, nx, ny, nz]: channel first, then the voxel
 * axes i, j, k with k fastest, the index order of nibabel's and MONAI's
 * arrays (the file stores i fastest). Reading goes through niftilib and zlib:
 * NIfTI-1 and NIfTI-2, .nii, .nii.gz and .hdr/.img pairs, either byte order,
 * uint8, int8, int16, uint16, int32, uint32, float32 and float64, with
 * scl_slope / scl_inter applied (a slope of 0 or not finite means none, as
 * in nibabel). A 4D file's fourth axis becomes the channels. The raw header
 * is validated before niftilib sees it (sizes, magic, dims, offset,
 * datatype, the data's size against the file's), so a hostile file cannot
 * cause a huge allocation. NaN or infinite voxels are an error. On failure
 * err receives one line naming the file and the problem. */
typedef struct {
    float *data;              /* NULL after a header-only read */
    int nx, ny, nz, nc;
    float pixdim[3];          /* voxel size along i, j, k (the file's units) */
    int qform_code, sform_code;
    float quatern[3], qoffset[3], qfac;  /* the qform as stored */
    float srow[3][4];         /* the sform as stored */
    double affine[4][4];      /* voxel (i,j,k,1) -> world: the sform when
                                 sform_code > 0, else the qform, else diag(pixdim) */
    int datatype;             /* the file's datatype code */
    int version;              /* 1 or 2 */
} emim_volume;
/* read_data 0: the header only (data NULL). */
emim_status emim_nifti_read(emim_volume *v, const char *path, int read_data, char *err, size_t errlen);
/* Writes v as float32 NIfTI-1 (.nii, or gzipped when the name ends in .gz),
 * keeping its qform and sform; the file is written beside PATH, read back
 * and compared, then renamed onto PATH. */
emim_status emim_nifti_write(const char *path, const emim_volume *v, char *err, size_t errlen);
void emim_volume_free(emim_volume *v);
/* 1 when a and b have the same shape (nx, ny, nz) and affine (to 1e-4 of
 * the largest entry). */
int emim_volume_same_grid(const emim_volume *a, const emim_volume *b);

/* ---- datasets: subjects, preprocessing, background loading ----
 * Sources: a folder with one subfolder per subject whose files are chosen by
 * modality suffix (BraTS 2023: SUBJECT/SUBJECT-t1n.nii.gz ...); a TSV list
 * (subject, then one path per modality; relative paths from the list's
 * folder; '#' comments); a folder of 4D files, one subject each; or, with
 * path NULL, the built-in phantom. All modalities of a subject must share
 * shape and affine. Every header is checked when the dataset is opened.
 * A subject is decoded, normalised per modality (percentiles of the
 * foreground, the voxels non-zero in any modality, mapped to [0, 1]),
 * resampled to `spacing` when set and cropped to the foreground's bounding
 * box when fg_crop; the result is cached while the cache has room. Each
 * sample is then cropped or padded to `size` (a random crop when
 * random_crop, else the centre) and flipped at random when flip.
 * Sample i belongs to epoch i / subjects, in an order shuffled per epoch;
 * every random choice derives from (seed, i), so a sample does not depend
 * on threads, timing or where a run was resumed. */
typedef struct {
    const char *path;          /* folder or .tsv list; NULL: the built-in phantom */
    const char *modalities;    /* comma-separated suffixes ["t1n,t1c,t2w,t2f"] */
    int channels;              /* the model's input channels; 0: from the data (the
                                  modalities named, a 4D file's fourth axis, or 4 for
                                  the phantom) [0] */
    int size[3];               /* the model's input size */
    float p_lo, p_hi;          /* percentiles [0.5, 99.5] */
    int fg_crop;               /* [1] */
    float spacing[3];          /* target voxel size; 0: keep [0] */
    int random_crop;           /* [1] */
    int flip;                  /* random flips along each axis [0] */
    uint64_t seed;
    size_t cache_bytes;        /* [half of emim_host_memory()] */
    int threads;               /* background loading threads; 0: load in the caller [1] */
    int depth;                 /* batches loaded ahead [2] */
} emim_data_config;
void emim_data_config_default(emim_data_config *c);
typedef struct emim_data emim_data;
emim_status emim_data_open(emim_data **out, const emim_data_config *c, char *err, size_t errlen);
void emim_data_close(emim_data *d);
int emim_data_subjects(const emim_data *d);
/* the channels of every sample (the model's input channels) */
int emim_data_channels(const emim_data *d);
const char *emim_data_subject(const emim_data *d, int i);
/* "BraTS-layout folder", "TSV list", "folder of 4D files", "built-in phantom" */
const char *emim_data_kind(const emim_data *d);
/* Sample i into out [channels, size] (in the caller's thread). */
emim_status emim_data_sample(emim_data *d, uint64_t i, float *out, char *err, size_t errlen);
/* Subject k's centre window (no flips) into out [channels, size], and its
 * voxel-to-world affine (the files' affine through the resampling, the
 * foreground crop and the window; affine may be NULL). Not for the phantom. */
emim_status emim_data_subject_window(emim_data *d, int k, float *out, double affine[4][4], char *err,
                                     size_t errlen);
/* The per-voxel mean of samples 0 .. samples-1: mean [channels, size]. */
emim_status emim_data_mean(emim_data *d, int samples, float *mean, char *err, size_t errlen);
/* Batches of `batch` samples: batch s holds samples s*batch .. s*batch +
 * batch - 1. emim_data_start makes `first` the next batch and starts the
 * loading threads; emim_data_next copies the next batch into out and says
 * how long the caller waited for it (wait_s; with threads 0: the time spent
 * loading it). */
emim_status emim_data_start(emim_data *d, int batch, uint64_t first, char *err, size_t errlen);
emim_status emim_data_next(emim_data *d, float *out, double *wait_s, char *err, size_t errlen);
/* The same for one rank of a data-parallel run: each batch then holds only
 * samples lo .. lo + count - 1 of the step's batch of `batch` (batch s:
 * samples s*batch + lo ..), emim_trainer_local_batch's share. */
emim_status emim_data_start_share(emim_data *d, int batch, int lo, int count, uint64_t first, char *err,
                                  size_t errlen);
/* bytes held by the cache, subjects cached */
void emim_data_cache_stats(const emim_data *d, size_t *bytes, int *subjects);

/* ---- augmented views for the joint-embedding methods (host memory) ----
 * View `view` of a sample x [C, X, Y, Z] (Z fastest, intensities in [0, 1])
 * is a volume of the same shape, made in this order: (1) geometry: a random
 * box of the volume resampled back to the grid by trilinear interpolation
 * (outer edges aligned, as emim_resample), and random flips per axis; (2)
 * with probability intensity_p, per channel c, x <- a_c x + b_c; (3) with
 * probability blur_p[view % 2], a Gaussian blur of one random sigma (voxels,
 * the same on every axis), separable, the kernel truncated at 3 sigma and
 * normalised to sum 1, edges replicated; (4) with probability noise_p,
 * additive Gaussian noise of std noise_sigma (Box-Muller on Philox: each
 * value depends only on (seed, sample, view, voxel)). With keep_zero, voxels
 * that are exactly 0 (the skull-stripped background) stay 0 in (2) and (4).
 * Every random choice derives from (seed, sample, view) alone, so a view
 * does not depend on threads, batches or where a run resumed. Probabilities
 * are in [0, 1]; ranges [lo, hi] are uniform draws (lo == hi: that value).
 * With every probability 0, flip_p 0 and crop_scale [1, 1] (or geometric
 * 0) the view is the sample, bit for bit. doc/method.md explains the recipes
 * and their defaults. */
enum {
    EMIM_AUGMENT_GEOM_NONE = 0,   /* no crop, no flips: every view keeps the sample's geometry */
    EMIM_AUGMENT_GEOM_VIEW = 1,   /* crop and flips drawn per view */
    EMIM_AUGMENT_GEOM_SHARED = 2  /* crop and flips drawn per sample: the same in every view */
};
typedef struct {
    int geometric;             /* EMIM_AUGMENT_GEOM_* [VIEW]; NONE or SHARED keep the views'
                                  voxels in register (local InfoNCE's regions) */
    float crop_scale[2];       /* the box's share of the volume [0.3, 1] */
    float crop_aspect;         /* the largest stretch of one axis against another, >= 1
                                  (each axis's log-stretch uniform in +-ln(aspect)/2,
                                  then centred so the volume is kept) [4/3] */
    float flip_p;              /* each axis flipped with this probability [0.5] */
    float intensity_p;         /* [0.8] */
    float intensity_scale[2];  /* a_c, > 0 [0.9, 1.1] */
    float intensity_shift[2];  /* b_c [-0.1, 0.1] */
    float blur_p[2];           /* for even and odd views [0.5, 0.5] */
    float blur_sigma[2];       /* voxels, in (0, 8] [0.5, 1.5] */
    float noise_p;             /* [0.2] */
    float noise_sigma;         /* >= 0 [0.03] */
    int keep_zero;             /* [1] */
} emim_augment_options;
/* The "moco" recipe. */
void emim_augment_options_default(emim_augment_options *o);
/* A recipe by name: "moco" (MoCo v2's, adapted to 3D MRI) or "barlow"
 * (Barlow Twins': blur_p [1, 0.1]). EMIM_ERR_ARG for another name. */
emim_status emim_augment_recipe(emim_augment_options *o, const char *name, char *err, size_t errlen);
/* EMIM_ERR_ARG with a one-line reason when an option is out of range. */
emim_status emim_augment_check(const emim_augment_options *o, char *err, size_t errlen);
/* out [C, dim] = view `view` (0 to 255) of x [C, dim]; out and x must not
 * overlap. EMIM_ERR_ARG for bad options or sizes, EMIM_ERR_NOMEM when the
 * blur's scratch volume cannot be allocated. */
emim_status emim_augment_view(float *out, const float *x, int C, const int dim[3], const emim_augment_options *o,
                              uint64_t seed, uint64_t sample, int view, char *err, size_t errlen);
/* The same with the blur's scratch volume [dim[0] * dim[1] * dim[2]] given
 * (NULL: allocated when needed), so that a training step allocates
 * nothing. */
emim_status emim_augment_view_scratch(float *out, const float *x, int C, const int dim[3],
                                      const emim_augment_options *o, uint64_t seed, uint64_t sample, int view,
                                      float *scratch, char *err, size_t errlen);

/* ---- collapse diagnostics (host memory) ----
 * The singular values s [d] (descending) of the covariance of features x
 * [rows, d] (each feature centred over the rows; divided by rows - 1), and
 * their effective rank (Roy & Vetterli 2007: p_k = s_k / sum s, erank =
 * exp(-sum p_k ln p_k); from 1 for a single direction to d for an isotropic
 * spread). erank may be NULL. Double precision, LAPACK's dsyev. */
emim_status emim_spectrum(const float *x, long rows, int d, double *s, double *erank, char *err, size_t errlen);
double emim_effective_rank(const double *s, int d);

/* The collapsed loss of masking strategies (E-MIM eq. 3, Fig. 2), by Monte
 * Carlo over samples 0 .. samples-1 of d, on the model's grid (img, patch;
 * the channels are the data's): the per-voxel mean of the samples is what
 * a completely collapsed model outputs where it is masked. Per strategy k
 * (mask options m[k], the mask of sample i drawn as emim_mask_make(seed,
 * step i, sample 0)): the masked fraction of the voxels; Var(x_m), the mean
 * over the masked voxels of their variance around the per-voxel mean (the
 * paper's collapsed loss); and the collapsed model's loss as libemim's
 * training computes L_MIM (the mean over every voxel; the visible ones are
 * reproduced, so it is Var(x_m) times the masked fraction). Each with its
 * standard error over the samples; variances use the unbiased M/(M-1). */
typedef struct {
    double masked, masked_se;
    double var_xm, var_xm_se;
    double collapsed, collapsed_se;
} emim_maskvar_result;
emim_status emim_maskvar(emim_data *d, const emim_vit_config *grid, int samples, const emim_mask_options *m, int nm,
                         uint64_t seed, emim_maskvar_result *out, char *err, size_t errlen);

/* ---- linear probing of frozen features (host memory, double precision,
 * serial: the same numbers for any thread count) ----
 * emim_probe_folds: stratified k-fold assignment of n samples of labels y
 * (0 .. classes-1) into fold [n] (0 .. folds-1): each class's samples in an
 * order shuffled from (seed, class), dealt round robin, the deal going on
 * from class to class (so fold sizes differ by at most one, and a class of
 * at least `folds` samples is in every fold).
 * emim_auc: the area under the ROC curve of scores against positive [n]
 * (non-zero: a positive), the Mann-Whitney rank statistic with tied scores
 * sharing their mean rank (1: every positive above every negative, 0: below,
 * 0.5: all tied); NaN without both kinds.
 * emim_logreg_fit: L2-regularised logistic regression of y [n] (0 or 1) on
 * x [n, d], minimising (1/n) sum_i [log(1 + e^z_i) - y_i z_i] +
 * (l2 / 2) |w|^2 with z = x w + b (the bias b unpenalised; l2 > 0), by
 * Newton's method with step halving from w = 0, to a step under 1e-10:
 * w [d + 1] (the weights, then b).
 * emim_probe_cv: k-fold cross-validation of a linear probe of features x
 * [n, d] for labels y (0 .. classes-1) on emim_probe_folds' folds: each
 * feature standardised by the training folds' mean and standard deviation,
 * one emim_logreg_fit head (class 1 against 0 for two classes, else each
 * class against the rest, predicting the highest score); per fold the test
 * samples' AUC (two classes: of class 1; else the mean of the classes'
 * one-vs-rest AUCs) into auc [folds] and accuracy into acc [folds]. */
emim_status emim_probe_folds(const int *y, int n, int classes, int folds, uint64_t seed, int *fold, char *err,
                             size_t errlen);
double emim_auc(const double *score, const int *positive, int n);
emim_status emim_logreg_fit(const double *x, const double *y, int n, int d, double l2, double *w, char *err,
                            size_t errlen);
emim_status emim_probe_cv(const double *x, const int *y, int n, int d, int classes, int folds, uint64_t seed,
                          double l2, double *auc, double *acc, char *err, size_t errlen);

/* ---- the op table, for tools and tests ----
 * (Their twin-test cases and `emim validate` are not in the installed
 * library: src/cases/, linked by the emim tool and the tests.) */
typedef struct {
    const char *name;
    const char *file;            /* the twins: cpu/FILE.c, kernels-cl/FILE.{c,cl} */
    const char *summary;
    int has_backward;            /* 0: not differentiable (random fills) */
    int cpu_fwd, cpu_bwd;        /* 1 when the twin exists */
    int cl_fwd, cl_bwd;
} emim_op_info;
int emim_op_count(void);
const emim_op_info *emim_op_get(int i);

/* Buffers allocated on ctx since its creation, its own scratch included
 * (a training step allocates nothing once the first step is done). */
long emim_alloc_count(const emim_ctx *ctx);

/* The memory this process may use: the least of the physical memory, its
 * cgroup's limit (cgroup v2 memory.max up the hierarchy, or v1's
 * memory.limit_in_bytes: what SLURM and containers enforce by killing) and
 * RLIMIT_AS / RLIMIT_DATA. *source (may be NULL) names which one it is. */
size_t emim_host_memory(const char **source);
/* The cap on the bytes of ctx's buffers (emim_options.mem_limit), *used
 * (may be NULL) the bytes allocated, *source (may be NULL) what set the cap.
 * A buffer over the cap fails with EMIM_ERR_NOMEM and a message. */
size_t emim_mem_limit(const emim_ctx *ctx, size_t *used, const char **source);

/* ---- profiling ----
 * While profiling, every op call is timed and counted per op and direction
 * (GEMM also counts its floating-point operations, 2 m n k per product). On
 * OpenCL each op is waited for, which serialises the queue: profile to see
 * where the time goes, time without it. Composite ops (linear, attention,
 * ...) include the time of the ops they call. */
typedef struct {
    const char *name;
    int backward, composite;
    long calls;
    double seconds, flops;
} emim_op_profile;
/* Clears the counters and turns profiling on. */
emim_status emim_profile_start(emim_ctx *ctx);
/* The entries with calls (at most max into out, which may be NULL); returns
 * how many there are. */
int emim_profile_read(const emim_ctx *ctx, emim_op_profile *out, int max);
/* Turns profiling off and forgets the counters. */
void emim_profile_stop(emim_ctx *ctx);

/* ---- information ---- */
/* Writes a human-readable report of the OpenCL platforms and devices to the
 * callback, one line per call. Returns EMIM_ERR_BACKEND if OpenCL is not built in. */
typedef void (*emim_line_cb)(const char *line, void *user);
emim_status emim_opencl_report(emim_line_cb cb, void *user);
const char *emim_blas_info(void);   /* BLAS library and its configuration */
int emim_have_opencl(void);         /* 1 if built with OpenCL */

#if defined(__GNUC__) && __GNUC__ >= 4
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif
