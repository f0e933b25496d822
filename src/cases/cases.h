/* Test cases of the op table: awkward shapes on which `emim validate` and
 * the twin tests run every op, and the machinery that runs one case on one
 * context. Built into libemim-cases (for the emim tool and the tests), not
 * into the installed libemim. */
#ifndef EMIM_CASES_H
#define EMIM_CASES_H

#include "cases/validate.h"
#include "core/internal.h"

typedef struct emim_case emim_case;
typedef int (*emim_case_fn)(int idx, emim_case *c); /* fills case idx; 0 when idx is past the last */

/* The op table's last column (src/core/optable.def): the case generator of
 * each op, indexed as emim_ops (src/cases/case.c). */
extern const emim_case_fn emim_op_cases[EMIM_OP_COUNT];

/* Roles of a case's tensors in the forward. CACHE: written by the forward for
 * the backward's use (LayerNorm's mean and 1/std, attention's
 * probabilities); not part of the loss, no gradient. */
enum { EMIM_T_IN = 1, EMIM_T_OUT = 2, EMIM_T_INOUT = 3, EMIM_T_CACHE = 6 };
#define EMIM_GRAD(j) (100 + (j))   /* in bmap: the gradient of case tensor j */
#define EMIM_NONE (-1)             /* in fmap/bmap: a NULL operand */
#define EMIM_GUARD 37              /* sentinel floats before and after every tensor */
#define EMIM_SENTINEL 0x7fa5a5a5u  /* a NaN with a payload no op produces */

struct emim_case {
    char label[128];
    int nt;                     /* tensors of the case */
    size_t len[EMIM_MAX_T];     /* their sizes in floats */
    int role[EMIM_MAX_T];       /* EMIM_T_IN / OUT / INOUT in the forward */
    float lo[EMIM_MAX_T], hi[EMIM_MAX_T]; /* initial values of IN/INOUT: uniform [lo, hi) */
    int nf, fmap[EMIM_MAX_T];   /* forward operand slots -> tensor j or EMIM_NONE */
    int nb, bmap[EMIM_MAX_T];   /* backward slots -> j, EMIM_GRAD(j) or EMIM_NONE */
    emim_args fwd, bwd;         /* scalar arguments (tensor slots filled by the runner) */
    /* Fast mode: per-element bound on |twin - twin| of output tensor j (dir 0)
     * or of the gradient of tensor j (dir 1), from the initial host values,
     * and (ref != NULL) the double-precision reference value. Indexing is
     * over the tensor without guards. NULL: twins must agree bitwise. */
    void (*bound)(const struct emim_case *c, int dir, int j, float *const *val, float *const *grad,
                  double *bnd, double *ref);
    /* Whether element e of output tensor j (or its gradient, dir 1) is
     * written by the op; the others (padding between leading dimensions and
     * batch strides) must stay untouched. NULL: every element is written. */
    int (*written)(const struct emim_case *c, int dir, int j, size_t e);
    /* The forward in double precision: t[j] holds every tensor (inputs
     * filled in, initial values of INOUT tensors too); writes the OUT, INOUT
     * and CACHE tensors. tests/check_cpu.c checks the float forward against
     * it (|f - ref| <= ref_tol * max|ref| per tensor) and every backward
     * against its central finite differences (relative grad_tol). Every
     * differentiable op must have one. */
    void (*ref)(const struct emim_case *c, double *const *t);
    double ref_tol, grad_tol;
    /* Fast mode, for composite ops without a derived bound: the twins may
     * differ by fast_tol times the largest magnitude of the output tensor
     * (a stated bound, doc/numerics.md). 0: bound or bitwise as above. */
    double fast_tol;
    /* Initial values of input tensors that a uniform fill cannot give (row
     * indices, 0/1 masks, inputs kept apart from a kink): fills t[0 ..
     * len[j]-1] of tensor j deterministically from seed and returns 1, or
     * returns 0 to leave tensor j to the uniform fill (-1: out of memory).
     * Called for the IN and INOUT tensors (NULL: all uniform), the same on
     * every backend. tests/check_cpu.c moves an input with a gradient by
     * about 1e-3 of its scale for the finite differences: a filled tensor
     * either has no gradient (indices, masks: EMIM_NONE in bmap) or keeps
     * clear of kinks by more than that. */
    int (*fill)(const struct emim_case *c, int j, float *t, uint64_t seed);
};

/* Clears a case of nt tensors: inputs uniform in [-1, 1), no operands mapped. */
void emim_case_init(emim_case *c, int nt);

/* Case generators of the op table (its last column), one file per op family:
 * src/cases/FILE.c for the ops of src/ops/FILE.c. */
int emim_cases_gemm(int idx, emim_case *c);          /* gemm.c */
int emim_cases_bias_add(int idx, emim_case *c);      /* elementwise.c */
int emim_cases_add(int idx, emim_case *c);
int emim_cases_scale(int idx, emim_case *c);
int emim_cases_rsqrt(int idx, emim_case *c);
int emim_cases_add_diag(int idx, emim_case *c);
int emim_cases_sum(int idx, emim_case *c);           /* reduce.c */
int emim_cases_mean(int idx, emim_case *c);
int emim_cases_rand(int idx, emim_case *c);          /* random.c */
int emim_cases_layernorm(int idx, emim_case *c);     /* layernorm.c */
int emim_cases_batchnorm(int idx, emim_case *c);
int emim_cases_gelu(int idx, emim_case *c);          /* gelu.c */
int emim_cases_patchify(int idx, emim_case *c);      /* patch.c */
int emim_cases_unpatchify(int idx, emim_case *c);
int emim_cases_softmax(int idx, emim_case *c);       /* softmax.c */
int emim_cases_mse(int idx, emim_case *c);           /* loss.c */
int emim_cases_l1(int idx, emim_case *c);
int emim_cases_rownorm(int idx, emim_case *c);
int emim_cases_barlow(int idx, emim_case *c);
int emim_cases_cross_entropy(int idx, emim_case *c);
int emim_cases_adamw(int idx, emim_case *c);         /* optim.c */
int emim_cases_clip_grad_norm(int idx, emim_case *c);
int emim_cases_gather_rows(int idx, emim_case *c);   /* tokens.c */
int emim_cases_mask_mix(int idx, emim_case *c);
int emim_cases_region_pool(int idx, emim_case *c);
/* the composite ops */
int emim_cases_linear(int idx, emim_case *c);        /* linear.c */
int emim_cases_attention(int idx, emim_case *c);     /* attention.c */
int emim_cases_pbt(int idx, emim_case *c);           /* pbt.c */
int emim_cases_zca(int idx, emim_case *c);           /* zca.c */

/* Helpers that more than one file of cases uses. */
/* Wilkinson's gamma_k = k u / (1 - k u), u = 2^-24 (gemm.c). */
double emim_gamma_k(double k);
/* Row softmax of scale*x in double precision, [rows, n] (softmax.c). */
void emim_ref_softmax_rows(double *p, const double *x, int64_t rows, int64_t n, double scale);

/* Whether tensor j (grad: its gradient) is written by direction dir. */
int emim_case_is_output(const emim_case *c, int dir, int j, int grad);
/* Whether the backward reads a value that the forward writes. */
int emim_case_bwd_reads_output(const emim_case *c, int j);
/* Whether element e (without guards) of that buffer is written. */
int emim_case_writes(const emim_case *c, int dir, int j, int grad, size_t e);
/* Whether direction dir uses the gradient buffer of tensor j. */
int emim_case_uses_grad(const emim_case *c, int dir, int j);

/* One case live on one context: every tensor (and gradient) in its own
 * buffer of len + 2 * EMIM_GUARD floats, the tensor at offset EMIM_GUARD. */
typedef struct {
    emim_ctx *ctx;
    const emim_case *c;
    int op, dir;
    emim_buf *val[EMIM_MAX_T], *grad[EMIM_MAX_T];
    float *init_val[EMIM_MAX_T], *init_grad[EMIM_MAX_T]; /* host, with guards */
} emim_case_inst;

static inline size_t emim_case_buflen(const emim_case *c, int j) { return c->len[j] + 2 * EMIM_GUARD; }

/* Allocates and fills the initial values (deterministic from seed; the same
 * on every backend). For a backward that reads a forward output (a CACHE
 * tensor, or an output like softmax's p) the forward runs first, so that
 * those values are consistent with the inputs. */
emim_status emim_case_setup(emim_case_inst *I, emim_ctx *ctx, int op, const emim_case *c, int dir, uint64_t seed);
/* Runs direction I->dir of I->op. */
emim_status emim_case_exec(emim_case_inst *I);
/* Copies a whole buffer (with guards) to the host / from the host. */
emim_status emim_case_fetch(emim_case_inst *I, int j, int grad, float *dst);
emim_status emim_case_upload(emim_case_inst *I, int j, int grad, const float *src);
void emim_case_free(emim_case_inst *I);

/* A host-side fill from Philox (uniform [lo, hi)), the same formula as the
 * rand op's uniform. */
void emim_host_uniform(float *dst, size_t n, uint64_t seed, uint64_t stream, float lo, float hi);

/* Units in the last place between two floats (0 when bit-identical; large
 * for NaN/inf mismatches). */
double emim_ulp_distance(float a, float b);

#endif
