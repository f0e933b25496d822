/* OpenCL twin of the exact-mode GEMM (CPU twin: cpu/gemm.c). Every output
 * is acc = 0; for p = 0..k-1 ascending: acc = fma(opA(i,p), opB(p,j), acc),
 * then emim_gemm_out(acc, alpha, beta, c): bit-identical to the CPU kernel.
 * Fast mode uses CLBlast instead (kernels-cl/gemm.c). */
#pragma OPENCL FP_CONTRACT OFF

#define EMIM_GEMM_TS 16
#define EMIM_GEMM_WPT 4   /* outputs per work-item along i */

/* Work-group: EMIM_GEMM_TS x (EMIM_GEMM_TS / EMIM_GEMM_WPT) items computing a
 * 16 x 16 tile of C; dimension 2 is the batch. */
kernel __attribute__((reqd_work_group_size(EMIM_GEMM_TS, EMIM_GEMM_TS / EMIM_GEMM_WPT, 1)))
void emim_gemm_exact(int ta, int tb, int m, int n, int k, float alpha,
                     global const float *A, ulong ao, int lda, ulong sa,
                     global const float *B, ulong bo, int ldb, ulong sb,
                     float beta, global float *C, ulong co, int ldc, ulong sc)
{
    const int TS = EMIM_GEMM_TS, RTS = EMIM_GEMM_TS / EMIM_GEMM_WPT;
    local float As[EMIM_GEMM_TS][EMIM_GEMM_TS + 1];
    local float Bs[EMIM_GEMM_TS][EMIM_GEMM_TS + 1];
    int lj = get_local_id(0), li = get_local_id(1);
    int i0 = get_group_id(1) * TS, j0 = get_group_id(0) * TS;
    ulong b = get_global_id(2);
    A += ao + b * sa;
    B += bo + b * sb;
    C += co + b * sc;
    float acc[EMIM_GEMM_WPT];
    for (int w = 0; w < EMIM_GEMM_WPT; w++) acc[w] = 0.0f;
    for (int p0 = 0; p0 < k; p0 += TS) {
        for (int w = 0; w < EMIM_GEMM_WPT; w++) {
            int r = li + w * RTS;
            int ia = i0 + r, pa = p0 + lj;     /* As[r][lj] = opA(ia, pa) */
            As[r][lj] = (ia < m && pa < k) ? (ta ? A[(ulong)pa * lda + ia] : A[(ulong)ia * lda + pa]) : 0.0f;
            int pb = p0 + r, jb = j0 + lj;     /* Bs[r][lj] = opB(pb, jb) */
            Bs[r][lj] = (pb < k && jb < n) ? (tb ? B[(ulong)jb * ldb + pb] : B[(ulong)pb * ldb + jb]) : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        int pe = min(TS, k - p0);
        for (int q = 0; q < pe; q++) {
            float bv = Bs[q][lj];
            for (int w = 0; w < EMIM_GEMM_WPT; w++) acc[w] = fma(As[li + w * RTS][q], bv, acc[w]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    int j = j0 + lj;
    for (int w = 0; w < EMIM_GEMM_WPT; w++) {
        int i = i0 + li + w * RTS;
        if (i < m && j < n) {
            ulong e = (ulong)i * ldc + j;
            C[e] = emim_gemm_out(acc[w], alpha, beta, beta == 0.0f ? 0.0f : C[e]);
        }
    }
}

/* The same GEMM for CPU-like devices (PoCL runs local memory and barriers
 * slowly): the host packs op(A) as At [k, m8] and op(B) as Bp [k, n8] (zero
 * padded to multiples of 8 rows / columns, per batch), and each work-item
 * computes an 8 x 8 block of C with explicit float8 vectors (lane-wise fma:
 * per output the same operations, in the same order, as above). */
kernel void emim_gemm_exact_direct(int m, int n, int k, float alpha,
                                   global const float *At, ulong ao, int m8, global const float *Bp, ulong bo, int n8,
                                   float beta, global float *C, ulong co, int ldc, ulong sc)
{
    int j0 = get_global_id(0) * 8, i0 = get_global_id(1) * 8;
    ulong b = get_global_id(2);
    if (j0 >= n || i0 >= m) return;
    At += ao + b * (ulong)k * m8 + i0;
    Bp += bo + b * (ulong)k * n8 + j0;
    C += co + b * sc;
    float8 acc[8];
    for (int r = 0; r < 8; r++) acc[r] = (float8)(0.0f);
    for (int p = 0; p < k; p++) {
        float8 bv = vload8(0, Bp + (ulong)p * n8);
        float8 av = vload8(0, At + (ulong)p * m8);
        acc[0] = fma((float8)(av.s0), bv, acc[0]);
        acc[1] = fma((float8)(av.s1), bv, acc[1]);
        acc[2] = fma((float8)(av.s2), bv, acc[2]);
        acc[3] = fma((float8)(av.s3), bv, acc[3]);
        acc[4] = fma((float8)(av.s4), bv, acc[4]);
        acc[5] = fma((float8)(av.s5), bv, acc[5]);
        acc[6] = fma((float8)(av.s6), bv, acc[6]);
        acc[7] = fma((float8)(av.s7), bv, acc[7]);
    }
    for (int r = 0; r < 8 && i0 + r < m; r++) {
        float out[8];
        vstore8(acc[r], 0, out);
        for (int c = 0; c < 8 && j0 + c < n; c++) {
            ulong e = (ulong)(i0 + r) * ldc + j0 + c;
            C[e] = emim_gemm_out(out[c], alpha, beta, beta == 0.0f ? 0.0f : C[e]);
        }
    }
}

/* dst[dso + b*rows*dcols + r*dcols + c] = src(r, c) for r < rows, c < cols, else 0, for
 * c < dcols; src(r, c) = src[so + b*stride + r*ld + c], or with trans
 * src[so + b*stride + c*ld + r]. Packs GEMM operands (exact: copies). */
kernel void emim_pack(global float *dst, ulong dso, global const float *src, ulong so, int trans, int rows, int cols,
                      int ld, ulong stride, int dcols)
{
    int c = get_global_id(0), r = get_global_id(1);
    ulong b = get_global_id(2);
    if (c >= dcols || r >= rows) return;
    global const float *s = src + so + b * stride;
    float v = 0.0f;
    if (c < cols) v = trans ? s[(ulong)c * ld + r] : s[(ulong)r * ld + c];
    dst[dso + b * (ulong)rows * dcols + (ulong)r * dcols + c] = v;
}
