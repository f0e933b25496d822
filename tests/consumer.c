/* A program built against the installed libemim through `pkg-config emim`
 * (make installcheck, run by make distcheck). */
#include <emim.h>
#include <stdio.h>

int main(void)
{
    emim_options o;
    emim_options_init(&o, NULL, 0);
    o.backend = EMIM_BACKEND_CPU;
    o.mode = EMIM_MODE_EXACT;
    emim_ctx *ctx = NULL;
    char err[512];
    if (emim_ctx_create(&ctx, &o, err, sizeof err)) {
        fprintf(stderr, "consumer: %s\n", err);
        return 1;
    }
    /* C[2,2] = A[2,3] B[3,2] */
    const float a[6] = { 1, 2, 3, 4, 5, 6 }, b[6] = { 7, 8, 9, 10, 11, 12 };
    float c[4];
    emim_buf *A, *B, *C;
    if (emim_buf_alloc(ctx, 6, &A) || emim_buf_alloc(ctx, 6, &B) || emim_buf_alloc(ctx, 4, &C) ||
        emim_buf_write(A, 0, 6, a) || emim_buf_write(B, 0, 6, b) ||
        emim_gemm(ctx, 0, 0, 2, 2, 3, 1.0f, emim_at(A, 0), 3, 0, emim_at(B, 0), 2, 0, 0.0f, emim_at(C, 0), 2, 0, 1) ||
        emim_buf_read(C, 0, 4, c)) {
        fprintf(stderr, "consumer: %s\n", emim_error(ctx));
        return 1;
    }
    emim_buf_free(A);
    emim_buf_free(B);
    emim_buf_free(C);
    emim_ctx_free(ctx);
    if (c[0] != 58 || c[1] != 64 || c[2] != 139 || c[3] != 154) {
        fprintf(stderr, "consumer: wrong product %g %g %g %g\n", c[0], c[1], c[2], c[3]);
        return 1;
    }
    printf("consumer: libemim %s via pkg-config: ok\n", emim_version());
    return 0;
}
