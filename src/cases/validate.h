/* What the emim tool and the tests use of the twin-test cases: the number of
 * cases of each op and the twin validation (emim validate). Built into
 * libemim-cases with the cases (src/cases/), not into the installed libemim,
 * and not installed. */
#ifndef EMIM_VALIDATE_H
#define EMIM_VALIDATE_H

#include "emim.h"

/* The number of twin-test cases of op i of the table (emim_op_get(i)); 0 when
 * i is out of range. */
int emim_op_ncases(int i);

/* ---- twin validation (emim validate) ----
 * Runs every op of the table, forward and backward, on awkward shapes, on ctx
 * and on a fresh CPU context of the same mode, and compares: bit-identical in
 * exact mode (and for ops without GEMM in fast mode), within the GEMM error
 * bound in fast mode. One row per op, case and direction. */
typedef struct {
    const char *op;
    const char *dir;             /* "forward" or "backward" */
    const char *shape;           /* the case, e.g. "m=67 n=33 k=129 ta=1 tb=0 batch=3" */
    double max_abs;              /* largest |a - b| over all outputs */
    double max_ulp;              /* largest distance in units in the last place */
    double worst_ratio;          /* largest |a - b| / bound (fast mode), 0 if exact */
    int bitwise;                 /* 1: required bit-identical */
    int pass;
    char note[160];              /* why it failed (NaN, sentinel, ...), or "" */
} emim_validate_row;
typedef void (*emim_validate_cb)(const emim_validate_row *row, void *user);
/* only: NULL for all ops, else a comma-separated list of op names.
 * Returns EMIM_OK when every row passed, EMIM_ERR_MISMATCH when one failed. */
emim_status emim_validate(emim_ctx *ctx, const char *only, uint64_t seed,
                          emim_validate_cb cb, void *user, int *nrows, int *nfail);

#endif
