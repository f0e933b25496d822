/* The twin-test cases of rand: every distribution, long streams, large
 * stream numbers. */
#include "cases/cases.h"

#include <stdio.h>
#include <string.h>

int emim_cases_rand(int idx, emim_case *c)
{
    static const struct { int kind; size_t n; float p[4]; uint64_t seed, stream; } S[] = {
        { EMIM_RAND_UNIFORM, 1, { -2.0f, 3.0f, 0, 0 }, 1, 0 },
        { EMIM_RAND_UNIFORM, 65537, { 0.0f, 1.0f, 0, 0 }, 0xfeedfacecafebeefull, 7 },
        { EMIM_RAND_NORMAL, 1001, { 0.5f, 2.0f, 0, 0 }, 42, 3 },
        { EMIM_RAND_NORMAL, 100003, { 0.0f, 1.0f, 0, 0 }, 1234567, 1ull << 40 },
        { EMIM_RAND_TRUNC_NORMAL, 20011, { 0.0f, 0.02f, -2.0f, 2.0f }, 5, 0 },
        { EMIM_RAND_TRUNC_NORMAL, 20011, { 0.0f, 1.0f, -1.5f, 1.2f }, 6, 9 },
    };
    static const char *names[] = { "uniform", "normal", "trunc_normal" };
    if (idx < 0 || idx >= (int)(sizeof S / sizeof S[0])) return 0;
    emim_case_init(c, 1);
    c->len[0] = S[idx].n;
    c->role[0] = EMIM_T_OUT;
    c->fwd.i[0] = (int64_t)S[idx].n;
    c->fwd.i[1] = S[idx].kind;
    memcpy(c->fwd.f, S[idx].p, sizeof S[idx].p);
    c->fwd.u[0] = S[idx].seed;
    c->fwd.u[1] = S[idx].stream;
    c->nf = 1; c->fmap[0] = 0;
    c->nb = 0;
    snprintf(c->label, sizeof c->label, "%s n=%zu p=(%g,%g,%g,%g) seed=%llu stream=%llu", names[S[idx].kind],
             S[idx].n, S[idx].p[0], S[idx].p[1], S[idx].p[2], S[idx].p[3], (unsigned long long)S[idx].seed,
             (unsigned long long)S[idx].stream);
    return 1;
}
