/* emim validate: every op of the table, forward and backward, on the given
 * context and on a fresh CPU context of the same mode, compared element by
 * element: bitwise where the maths allows it, within the GEMM error bound in
 * fast mode. Guards around every tensor must be untouched, inputs unchanged,
 * and no output may be NaN or inf. */
#include "cases/cases.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int selected(const char *only, const char *name)
{
    if (!only || !*only) return 1;
    size_t n = strlen(name);
    for (const char *p = only; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

static void note(emim_validate_row *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void note(emim_validate_row *r, const char *fmt, ...)
{
    r->pass = 0;
    if (r->note[0]) return; /* keep the first reason */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->note, sizeof r->note, fmt, ap);
    va_end(ap);
}

/* Compares one buffer of the two runs. */
static void compare_buffer(emim_validate_row *r, const emim_case *c, int dir, int j, int grad,
                           const float *init, const float *x, const float *y, const double *bnd,
                           const char *xname)
{
    size_t len = emim_case_buflen(c, j);
    const char *what = grad ? "gradient of tensor" : "tensor";
    for (size_t e = 0; e < len; e++) {
        int guard = e < EMIM_GUARD || e >= EMIM_GUARD + c->len[j];
        int out = !guard && emim_case_writes(c, dir, j, grad, e - EMIM_GUARD);
        uint32_t ux, uy, ui;
        memcpy(&ux, &x[e], 4);
        memcpy(&uy, &y[e], 4);
        memcpy(&ui, &init[e], 4);
        if (guard || !out) {
            if (ux != ui) note(r, "%s %d element %zd: %s changed a %s", what, j, (ptrdiff_t)e - EMIM_GUARD, xname,
                               guard ? "guard (wrote out of bounds)" : "value it must not write");
            if (uy != ui) note(r, "%s %d element %zd: the CPU twin changed a %s", what, j, (ptrdiff_t)e - EMIM_GUARD,
                               guard ? "guard (wrote out of bounds)" : "value it must not write");
            continue;
        }
        size_t t = e - EMIM_GUARD;
        if (!isfinite(x[e]) || !isfinite(y[e])) {
            if (ux != uy || !isfinite(x[e]))
                note(r, "%s %d element %zu: not finite (%s %g, cpu %g)", what, j, t, xname, x[e], y[e]);
            continue;
        }
        double d = fabs((double)x[e] - (double)y[e]);
        double ulp = emim_ulp_distance(x[e], y[e]);
        if (d > r->max_abs) r->max_abs = d;
        if (ulp > r->max_ulp) r->max_ulp = ulp;
        if (r->bitwise) {
            if (ux != uy) note(r, "%s %d element %zu: %s %.9g != cpu %.9g (%.0f ulp)", what, j, t, xname, x[e], y[e], ulp);
        } else {
            double b = bnd[t];
            if (b > 0 && d / b > r->worst_ratio) r->worst_ratio = d / b;
            if (d > b) note(r, "%s %d element %zu: |%s - cpu| = %.3g over the bound %.3g", what, j, t, xname, d, b);
        }
    }
}

static emim_status run_case(emim_ctx *ctx, emim_ctx *ref, int op, const emim_case *c, int dir, uint64_t seed,
                            emim_validate_row *r)
{
    emim_case_inst X, Y;
    emim_status s = emim_case_setup(&X, ctx, op, c, dir, seed);
    if (s) { note(r, "setup on %s: %s", emim_backend_name(ctx), emim_error(ctx)); return s; }
    s = emim_case_setup(&Y, ref, op, c, dir, seed);
    if (s) { emim_case_free(&X); note(r, "setup on cpu: %s", emim_error(ref)); return s; }
    /* The backward of an op with caches: both twins start from the CPU
     * twin's caches (in fast mode the forwards may differ within bounds). */
    for (int j = 0; j < c->nt && dir == 1 && !s; j++) {
        if (!(c->role[j] & EMIM_T_OUT)) continue;
        memcpy(X.init_val[j], Y.init_val[j], emim_case_buflen(c, j) * sizeof(float));
        s = emim_case_upload(&X, j, 0, X.init_val[j]);
    }
    if (s) note(r, "cache upload: %s", emim_error(ctx));
    else if ((s = emim_case_exec(&X))) note(r, "%s: %s", emim_backend_name(ctx), emim_error(ctx));
    else if ((s = emim_case_exec(&Y))) note(r, "cpu: %s", emim_error(ref));
    const char *xname = emim_backend(ctx) == EMIM_BACKEND_CPU ? "cpu(ctx)" : "opencl";
    for (int j = 0; j < c->nt && !s; j++) {
        for (int grad = 0; grad < 2 && !s; grad++) {
            float *init = grad ? X.init_grad[j] : X.init_val[j];
            if (!init) continue;
            size_t len = emim_case_buflen(c, j);
            float *x = malloc(len * sizeof *x), *y = malloc(len * sizeof *y);
            double *bnd = NULL;
            int out = emim_case_is_output(c, dir, j, grad);
            if (x && y && !r->bitwise && out && !c->bound) {
                /* a stated relative bound: fast_tol times the largest magnitude */
                bnd = malloc(c->len[j] * sizeof *bnd);
                if (bnd && !emim_case_fetch(&Y, j, grad, y)) {
                    double big = 0;
                    for (size_t e = 0; e < c->len[j]; e++) big = fmax(big, fabs(y[EMIM_GUARD + e]));
                    for (size_t e = 0; e < c->len[j]; e++) bnd[e] = c->fast_tol * big;
                }
            } else if (x && y && !r->bitwise && out) {
                bnd = malloc(c->len[j] * sizeof *bnd);
                float *val[EMIM_MAX_T] = { 0 }, *gr[EMIM_MAX_T] = { 0 };
                for (int q = 0; q < c->nt; q++) {
                    if (X.init_val[q]) val[q] = X.init_val[q] + EMIM_GUARD;
                    if (X.init_grad[q]) gr[q] = X.init_grad[q] + EMIM_GUARD;
                }
                if (bnd) c->bound(c, dir, j, val, gr, bnd, NULL);
            }
            if (!x || !y || (!r->bitwise && out && !bnd)) {
                s = emim_set_error(ctx, EMIM_ERR_NOMEM, "validate: out of host memory");
                note(r, "out of host memory");
            } else if ((s = emim_case_fetch(&X, j, grad, x))) {
                note(r, "read back: %s", emim_error(ctx));
            } else if ((s = emim_case_fetch(&Y, j, grad, y))) {
                note(r, "read back: %s", emim_error(ref));
            } else {
                compare_buffer(r, c, dir, j, grad, init, x, y, bnd, xname);
            }
            free(x);
            free(y);
            free(bnd);
        }
    }
    emim_case_free(&X);
    emim_case_free(&Y);
    return s;
}

emim_status emim_validate(emim_ctx *ctx, const char *only, uint64_t seed, emim_validate_cb cb, void *user,
                          int *nrows, int *nfail)
{
    int rows = 0, fails = 0;
    if (nrows) *nrows = 0;
    if (nfail) *nfail = 0;
    if (only && *only) {
        /* every name in the list must be an op */
        char buf[512];
        snprintf(buf, sizeof buf, "%s", only);
        for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
            int found = 0;
            for (int op = 0; op < EMIM_OP_COUNT; op++) found |= !strcmp(emim_ops[op].name, tok);
            if (!found) return emim_set_error(ctx, EMIM_ERR_ARG, "validate: no op named '%s' (see emim ops)", tok);
        }
    }
    emim_options o;
    emim_options_init(&o, NULL, 0);
    o.backend = EMIM_BACKEND_CPU;
    o.device = NULL;
    o.mode = emim_get_mode(ctx);
    /* on the CPU backend the reference runs on one thread: a check of thread-count determinism */
    o.threads = emim_backend(ctx) == EMIM_BACKEND_CPU ? 1 : emim_threads(ctx);
    o.verbose = 0;
    o.mem_limit = 0;
    emim_ctx *ref = NULL;
    char err[512];
    emim_status s = emim_ctx_create(&ref, &o, err, sizeof err);
    if (s) return emim_set_error(ctx, s, "validate: cannot create the CPU reference context: %s", err);

    for (int op = 0; op < EMIM_OP_COUNT; op++) {
        const emim_op_def *d = &emim_ops[op];
        emim_case_fn cases = emim_op_cases[op];
        if (!selected(only, d->name)) continue;
        emim_case c;
        for (int idx = 0; cases && cases(idx, &c); idx++) {
            for (int dir = 0; dir < (EMIM_OP_HAS_BACKWARD(d) ? 2 : 1); dir++) {
                emim_validate_row r;
                memset(&r, 0, sizeof r);
                r.op = d->name;
                r.dir = dir ? "backward" : "forward";
                r.shape = c.label;
                r.pass = 1;
                r.bitwise = emim_get_mode(ctx) == EMIM_MODE_EXACT || (c.bound == NULL && c.fast_tol == 0);
                emim_status rs = run_case(ctx, ref, op, &c, dir, seed + (uint64_t)idx, &r);
                if (rs && r.pass) note(&r, "%s", emim_status_name(rs));
                rows++;
                if (!r.pass) fails++;
                if (cb) cb(&r, user);
                emim_clear_error(ctx);
            }
        }
    }
    emim_ctx_free(ref);
    if (nrows) *nrows = rows;
    if (nfail) *nfail = fails;
    if (fails) return emim_set_error(ctx, EMIM_ERR_MISMATCH, "validate: %d of %d checks failed", fails, rows);
    return EMIM_OK;
}
