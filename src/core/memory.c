/* How much memory this process may use: the least of the physical memory,
 * the limit of its cgroup (what SLURM and containers enforce: exceeding it
 * gets the process killed, not an allocation failure) and its resource
 * limits. The CPU backend's buffer cap and the data cache's default size
 * follow it, so that a batch too large for the node fails at once with a
 * message instead of being killed when the pages are touched. */
#include "core/internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* One number from a file (cgroup limits): 0 when absent, "max" or unreadable. */
static size_t read_limit(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[64];
    size_t v = 0;
    if (fgets(line, sizeof line, f)) {
        char *end;
        errno = 0;
        unsigned long long x = strtoull(line, &end, 10);
        if (!errno && end != line && (*end == '\n' || !*end) && x > 0 && x < (unsigned long long)SIZE_MAX) v = (size_t)x;
    }
    fclose(f);
    return v;
}

static void take(size_t *lim, const char **src, size_t v, const char *what)
{
    if (v && v < *lim) { *lim = v; *src = what; }
}

/* The cgroup's limit: v2's memory.max in the process's group and each group
 * above it (the least wins); else v1's memory.limit_in_bytes (an
 * "unlimited" v1 group reports about 2^63). */
static size_t cgroup_limit(void)
{
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f) return 0;
    char line[1024], v1[1024] = "", v2[1024] = "";
    int have_v2 = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (!strncmp(line, "0::", 3)) { snprintf(v2, sizeof v2, "%s", line + 3); have_v2 = 1; }
        else {
            char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
            if (c1 && c2) {
                *c2 = 0;
                /* the controller list holds "memory" */
                for (char *t = strtok(c1 + 1, ","); t; t = strtok(NULL, ","))
                    if (!strcmp(t, "memory")) snprintf(v1, sizeof v1, "%s", c2 + 1);
            }
        }
    }
    fclose(f);
    size_t best = 0;
    char path[2200];
    if (have_v2) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s", v2);
        for (;;) {
            snprintf(path, sizeof path, "/sys/fs/cgroup%s%smemory.max", dir,
                     dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/");
            size_t v = read_limit(path);
            if (v && (!best || v < best)) best = v;
            char *slash = strrchr(dir, '/');
            if (!slash || slash == dir) {
                if (dir[0] && strcmp(dir, "/")) { dir[0] = '/'; dir[1] = 0; continue; }
                break;
            }
            *slash = 0;
        }
    }
    if (!best && v1[0]) {
        snprintf(path, sizeof path, "/sys/fs/cgroup/memory%s/memory.limit_in_bytes", v1);
        size_t v = read_limit(path);
        if (!v) v = read_limit("/sys/fs/cgroup/memory/memory.limit_in_bytes");
        if (v && v < ((size_t)1 << 60)) best = v;
    }
    return best;
}

size_t emim_host_memory(const char **source)
{
    size_t lim = SIZE_MAX;
    const char *src = "no limit known";
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGE_SIZE);
    if (pages > 0 && psize > 0) take(&lim, &src, (size_t)pages * (size_t)psize, "the physical memory");
    take(&lim, &src, cgroup_limit(), "the cgroup's memory limit");
    struct rlimit r;
    if (!getrlimit(RLIMIT_AS, &r) && r.rlim_cur != RLIM_INFINITY)
        take(&lim, &src, (size_t)r.rlim_cur, "the address-space limit (ulimit -v)");
    if (!getrlimit(RLIMIT_DATA, &r) && r.rlim_cur != RLIM_INFINITY)
        take(&lim, &src, (size_t)r.rlim_cur, "the data-segment limit (ulimit -d)");
    if (source) *source = src;
    return lim;
}

size_t emim_mem_limit(const emim_ctx *ctx, size_t *used, const char **source)
{
    if (used) *used = ctx->mem_used;
    if (source) *source = ctx->mem_source;
    return ctx->mem_limit;
}

emim_status emim_parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !(v > 0)) return EMIM_ERR_ARG;
    double mul = 1;
    switch (*end) {
    case 'k': case 'K': mul = 1024.0; end++; break;
    case 'm': case 'M': mul = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'i' || *end == 'B') end += *end == 'i' ? (end[1] == 'B' ? 2 : 1) : 1;
    if (*end || v * mul >= 0x1p62 || v * mul < 1) return EMIM_ERR_ARG;
    *out = (size_t)(v * mul);
    return EMIM_OK;
}
