/* OpenCL twin of layernorm (CPU twin and the order of operations:
 * cpu/layernorm.c). One work-item per row (forward, dinp) or per column
 * (dw, db), each summing in order. */
#pragma OPENCL FP_CONTRACT OFF

kernel void emim_layernorm_fwd(global float *out, ulong oo, global float *mean, ulong mo, global float *rstd,
                               ulong ro, global const float *inp, ulong io, global const float *w, ulong wo,
                               global const float *b, ulong bo, ulong rows, ulong C, float eps)
{
    ulong r = get_global_id(0);
    if (r >= rows) return;
    global const float *x = inp + io + r * C;
    float cf = (float)C;
    float s = 0.0f;
    for (ulong c = 0; c < C; c++) s += x[c];
    float m = s / cf;
    float v = 0.0f;
    for (ulong c = 0; c < C; c++) {
        float d = x[c] - m;
        float dd = d * d;
        v += dd;
    }
    float rs = emim_ln_rstd(v / cf, eps);
    for (ulong c = 0; c < C; c++) out[oo + r * C + c] = emim_ln_out(x[c], m, rs, w[wo + c], b[bo + c]);
    mean[mo + r] = m;
    rstd[ro + r] = rs;
}

kernel void emim_layernorm_bwd_inp(global float *dinp, ulong dio, global const float *dout, ulong go,
                                   global const float *inp, ulong io, global const float *w, ulong wo,
                                   global const float *mean, ulong mo, global const float *rstd, ulong ro,
                                   ulong rows, ulong C)
{
    ulong r = get_global_id(0);
    if (r >= rows) return;
    global const float *x = inp + io + r * C, *g = dout + go + r * C;
    float cf = (float)C;
    float m = mean[mo + r], rs = rstd[ro + r], sd = 0.0f, sdn = 0.0f;
    for (ulong c = 0; c < C; c++) {
        float dnorm = g[c] * w[wo + c];
        float dn = dnorm * emim_ln_norm(x[c], m, rs);
        sd += dnorm;
        sdn += dn;
    }
    float dm = sd / cf, dnm = sdn / cf;
    for (ulong c = 0; c < C; c++) {
        float dnorm = g[c] * w[wo + c];
        dinp[dio + r * C + c] += emim_ln_dinp(dnorm, emim_ln_norm(x[c], m, rs), dm, dnm, rs);
    }
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
