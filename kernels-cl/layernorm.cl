/* OpenCL twins of layernorm and batchnorm (CPU twins and the order of
 * operations: cpu/layernorm.c). layernorm's forward and dinp: a work-group
 * of EMIM_ROW_LANES work-items per row, work-item j summing lane j
 * (elements j, j+32, ... in order) and the lanes combined by the fixed tree
 * in local memory (src/core/emim_math.h, "Row sums"); the *_serial kernels
 * do the same with one work-item per row holding the 32 lanes (devices that
 * cannot take the work-group). Each row body is written once, for lanes j0
 * .. j0+nj-1. layernorm's dw, db and all of batchnorm: one work-item per
 * column, summing over the rows in order. */
#pragma OPENCL FP_CONTRACT OFF

EMIM_INLINE void ln_fwd_row(global float *out, ulong oo, global float *mean, ulong mo, global float *rstd, ulong ro,
                            global const float *inp, ulong io, global const float *w, ulong wo,
                            global const float *b, ulong bo, ulong C, float eps, ulong r, uint j0, uint nj,
                            local float *pl)
{
    global const float *x = inp + io + r * C;
    float cf = (float)C, q[EMIM_ROW_LANES];
    for (uint t = 0; t < nj; t++) {
        float s = 0.0f;
        for (ulong c = j0 + t; c < C; c += EMIM_ROW_LANES) s += x[c];
        q[t] = s;
    }
    float m = emim_lanes_sum(q, pl, j0, nj) / cf;
    for (uint t = 0; t < nj; t++) {
        float v = 0.0f;
        for (ulong c = j0 + t; c < C; c += EMIM_ROW_LANES) {
            float d = x[c] - m;
            float dd = d * d;
            v += dd;
        }
        q[t] = v;
    }
    float rs = emim_ln_rstd(emim_lanes_sum(q, pl, j0, nj) / cf, eps);
    for (ulong c = j0; c < C; c += EMIM_LANES_STEP(nj))
        out[oo + r * C + c] = emim_ln_out(x[c], m, rs, w[wo + c], b[bo + c]);
    if (j0 == 0) {
        mean[mo + r] = m;
        rstd[ro + r] = rs;
    }
}

kernel void emim_layernorm_fwd(global float *out, ulong oo, global float *mean, ulong mo, global float *rstd,
                               ulong ro, global const float *inp, ulong io, global const float *w, ulong wo,
                               global const float *b, ulong bo, ulong rows, ulong C, float eps)
{
    local float pl[EMIM_ROW_LANES];
    ln_fwd_row(out, oo, mean, mo, rstd, ro, inp, io, w, wo, b, bo, C, eps, get_group_id(0), get_local_id(0), 1u, pl);
}

kernel void emim_layernorm_fwd_serial(global float *out, ulong oo, global float *mean, ulong mo, global float *rstd,
                                      ulong ro, global const float *inp, ulong io, global const float *w, ulong wo,
                                      global const float *b, ulong bo, ulong rows, ulong C, float eps)
{
    ulong r = get_global_id(0);
    if (r >= rows) return;
    ln_fwd_row(out, oo, mean, mo, rstd, ro, inp, io, w, wo, b, bo, C, eps, r, 0u, EMIM_ROW_LANES,
               (local float *)0);
}

EMIM_INLINE void ln_bwd_row(global float *dinp, ulong dio, global const float *dout, ulong go,
                            global const float *inp, ulong io, global const float *w, ulong wo,
                            global const float *mean, ulong mo, global const float *rstd, ulong ro, ulong C,
                            ulong r, uint j0, uint nj, local float *pl)
{
    global const float *x = inp + io + r * C, *g = dout + go + r * C;
    float cf = (float)C, qd[EMIM_ROW_LANES], qdn[EMIM_ROW_LANES];
    float m = mean[mo + r], rs = rstd[ro + r];
    for (uint t = 0; t < nj; t++) {
        float sd = 0.0f, sdn = 0.0f;
        for (ulong c = j0 + t; c < C; c += EMIM_ROW_LANES) {
            float dnorm = g[c] * w[wo + c];
            float dn = dnorm * emim_ln_norm(x[c], m, rs);
            sd += dnorm;
            sdn += dn;
        }
        qd[t] = sd;
        qdn[t] = sdn;
    }
    float dm = emim_lanes_sum(qd, pl, j0, nj) / cf;
    float dnm = emim_lanes_sum(qdn, pl, j0, nj) / cf;
    for (ulong c = j0; c < C; c += EMIM_LANES_STEP(nj)) {
        float dnorm = g[c] * w[wo + c];
        dinp[dio + r * C + c] += emim_ln_dinp(dnorm, emim_ln_norm(x[c], m, rs), dm, dnm, rs);
    }
}

kernel void emim_layernorm_bwd_inp(global float *dinp, ulong dio, global const float *dout, ulong go,
                                   global const float *inp, ulong io, global const float *w, ulong wo,
                                   global const float *mean, ulong mo, global const float *rstd, ulong ro,
                                   ulong rows, ulong C)
{
    local float pl[EMIM_ROW_LANES];
    ln_bwd_row(dinp, dio, dout, go, inp, io, w, wo, mean, mo, rstd, ro, C, get_group_id(0), get_local_id(0), 1u,
               pl);
}

kernel void emim_layernorm_bwd_inp_serial(global float *dinp, ulong dio, global const float *dout, ulong go,
                                          global const float *inp, ulong io, global const float *w, ulong wo,
                                          global const float *mean, ulong mo, global const float *rstd, ulong ro,
                                          ulong rows, ulong C)
{
    ulong r = get_global_id(0);
    if (r >= rows) return;
    ln_bwd_row(dinp, dio, dout, go, inp, io, w, wo, mean, mo, rstd, ro, C, r, 0u, EMIM_ROW_LANES,
               (local float *)0);
}

/* has_dw, has_db: whether dw / db are to be written (a NULL operand is
 * passed as another buffer and not touched) */
kernel void emim_layernorm_bwd_wb(global float *dw, ulong dwo, int has_dw, global float *db, ulong dbo, int has_db,
                                  global const float *dout, ulong go, global const float *inp, ulong io,
                                  global const float *mean, ulong mo, global const float *rstd, ulong ro,
                                  ulong rows, ulong C)
{
    ulong c = get_global_id(0);
    if (c >= C) return;
    float sw = 0.0f, sb = 0.0f;
    for (ulong r = 0; r < rows; r++) {
        float g = dout[go + r * C + c];
        float gn = g * emim_ln_norm(inp[io + r * C + c], mean[mo + r], rstd[ro + r]);
        sw += gn;
        sb += g;
    }
    if (has_dw) dw[dwo + c] += sw;
    if (has_db) db[dbo + c] += sb;
}

/* ---- batchnorm ----  one work-item per column, each sum over the rows in
 * order (cpu/layernorm.c). has_affine 0: w and b are absent (another buffer
 * is passed and not read). */
kernel void emim_batchnorm_fwd(global float *out, ulong oo, global float *mean, ulong mo, global float *rstd, ulong ro,
                               global const float *inp, ulong io, global const float *w, ulong wo,
                               global const float *b, ulong bo, int has_affine, ulong n, ulong d, float eps)
{
    ulong c = get_global_id(0);
    if (c >= d) return;
    global const float *x = inp + io + c;
    float nf = (float)n, s = 0.0f, v = 0.0f;
    for (ulong r = 0; r < n; r++) s += x[r * d];
    float m = s / nf;
    for (ulong r = 0; r < n; r++) {
        float dv = x[r * d] - m;
        float dd = dv * dv;
        v += dd;
    }
    float rs = emim_ln_rstd(v / nf, eps);
    mean[mo + c] = m;
    rstd[ro + c] = rs;
    if (has_affine) {
        float wc = w[wo + c], bc = b[bo + c];
        for (ulong r = 0; r < n; r++) out[oo + r * d + c] = emim_ln_out(x[r * d], m, rs, wc, bc);
    } else {
        for (ulong r = 0; r < n; r++) out[oo + r * d + c] = emim_ln_norm(x[r * d], m, rs);
    }
}

/* has_dinp, has_dw, has_db: which gradients are written; has_affine: whether w is given */
kernel void emim_batchnorm_bwd(global float *dinp, ulong dio, int has_dinp, global float *dw, ulong dwo, int has_dw,
                               global float *db, ulong dbo, int has_db, global const float *dout, ulong go,
                               global const float *inp, ulong io, global const float *w, ulong wo, int has_affine,
                               global const float *mean, ulong mo, global const float *rstd, ulong ro, ulong n,
                               ulong d)
{
    ulong c = get_global_id(0);
    if (c >= d) return;
    global const float *x = inp + io + c, *g = dout + go + c;
    float nf = (float)n, m = mean[mo + c], rs = rstd[ro + c], wc = has_affine ? w[wo + c] : 1.0f;
    float sd = 0.0f, sdn = 0.0f, sw = 0.0f, sb = 0.0f;
    for (ulong r = 0; r < n; r++) {
        float gr = g[r * d];
        float norm = emim_ln_norm(x[r * d], m, rs);
        float dnorm = has_affine ? gr * wc : gr;
        float dn = dnorm * norm, gn = gr * norm;
        sd += dnorm;
        sdn += dn;
        sw += gn;
        sb += gr;
    }
    if (has_dw) dw[dwo + c] += sw;
    if (has_db) db[dbo + c] += sb;
    if (!has_dinp) return;
    float dm = sd / nf, dnm = sdn / nf;
    for (ulong r = 0; r < n; r++) {
        float gr = g[r * d];
        float dnorm = has_affine ? gr * wc : gr;
        dinp[dio + r * d + c] += emim_ln_dinp(dnorm, emim_ln_norm(x[r * d], m, rs), dm, dnm, rs);
    }
}
