/* Option parsers and small helpers shared by the commands of the emim tool. */
#include "cli/tool.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

const char *prog = "emim";

void die_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry '%s --help'.\n", prog);
    exit(2);
}

int parse_int(const char *s, const char *what, long lo, long hi)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "%s: %s '%s': expected an integer from %ld to %ld\n", prog, what, s, lo, hi);
        exit(2);
    }
    return (int)v;
}

float parse_float(const char *s, const char *what, double lo, double hi)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "%s: %s '%s': expected a number from %g to %g\n", prog, what, s, lo, hi);
        exit(2);
    }
    return (float)v;
}

unsigned long long parse_u64(const char *s, const char *what)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || s[0] == '-') {
        fprintf(stderr, "%s: %s '%s': expected a non-negative integer\n", prog, what, s);
        exit(2);
    }
    return v;
}

void parse_floats(const char *s, const char *what, float *out, int n, int allow_one, double lo, double hi)
{
    char *end;
    const char *p = s;
    int k = 0;
    for (; k < n; k++) {
        double v = strtod(p, &end);
        if (end == p || !(v >= lo && v <= hi)) break;
        out[k] = (float)v;
        p = end;
        if (*p != ',') { k++; break; }
        p++;
    }
    if (*p || !(k == n || (allow_one && k == 1))) {
        fprintf(stderr, "%s: %s '%s': expected %s%d comma-separated numbers from %g to %g\n", prog, what, s,
                allow_one ? "1 or " : "", n, lo, hi);
        exit(2);
    }
    if (k == 1 && allow_one)
        for (int i = 1; i < n; i++) out[i] = out[0];
}

void parse_ints(const char *s, const char *what, int *out, int n, int allow_one, long lo, long hi)
{
    const char *p = s;
    int k = 0, bad = 0;
    for (; k < n && !bad; k++) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < lo || v > hi) { bad = 1; break; }
        out[k] = (int)v;
        p = end;
        if (*p != ',') { k++; break; }
        p++;
    }
    if (bad || *p || !(k == n || (allow_one && k == 1))) {
        fprintf(stderr, "%s: %s '%s': expected %s%d comma-separated integers from %ld to %ld\n", prog, what, s,
                allow_one ? "1 or " : "", n, lo, hi);
        exit(2);
    }
    if (k == 1 && allow_one)
        for (int i = 1; i < n; i++) out[i] = out[0];
}

emim_ctx *make_ctx(emim_options *o, emim_mode mode)
{
    emim_ctx *ctx = NULL;
    char err[4096];
    o->mode = mode;
    if (emim_ctx_create(&ctx, o, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        exit(1);
    }
    return ctx;
}

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}
