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
