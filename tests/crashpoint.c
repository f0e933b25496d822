/* A crash or a write fault at a chosen moment, for tests/check_crash.sh
 * (LD_PRELOAD): counts the calls of write, fsync, rename and fflush that the
 * program makes and, at the call number EMIM_CRASH_AT, kills the process
 * with SIGKILL (a write is cut in half first: a torn write), or, at the call
 * number EMIM_FAIL_AT, fails it as EMIM_FAIL_HOW says: enospc or eio (the
 * call returns -1 with that errno), short (a write writes half and says so;
 * other calls are not affected). EMIM_CRASH_COUNT=FILE writes the number of
 * calls made to FILE at exit (to choose the moments). Not installed; built
 * for the tests only. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long calls, crash_at = -1, fail_at;
static int fail_errno;   /* 0: a short write */

/* 1: crash now; 2: fail now; 0: go on */
static int now(void)
{
    if (crash_at < 0) {
        const char *e = getenv("EMIM_CRASH_AT"), *f = getenv("EMIM_FAIL_AT"), *h = getenv("EMIM_FAIL_HOW");
        fail_at = f ? atol(f) : 0;
        fail_errno = h && !strcmp(h, "short") ? 0 : h && !strcmp(h, "eio") ? EIO : ENOSPC;
        crash_at = e ? atol(e) : 0;
    }
    long c = __atomic_add_fetch(&calls, 1, __ATOMIC_SEQ_CST);
    return c == crash_at ? 1 : c == fail_at ? 2 : 0;
}

static void *real(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (!f) abort();
    return f;
}

ssize_t write(int fd, const void *b, size_t n)
{
    static ssize_t (*w)(int, const void *, size_t);
    if (!w) w = (ssize_t (*)(int, const void *, size_t))real("write");
    int k = now();
    if (k == 1) {
        if (n > 1) w(fd, b, n / 2);
        raise(SIGKILL);
    }
    if (k == 2 && !fail_errno && n > 1) return w(fd, b, n / 2);
    if (k == 2 && fail_errno) {
        errno = fail_errno;
        return -1;
    }
    return w(fd, b, n);
}

int fsync(int fd)
{
    static int (*f)(int);
    if (!f) f = (int (*)(int))real("fsync");
    int k = now();
    if (k == 1) raise(SIGKILL);
    if (k == 2 && fail_errno) {
        errno = fail_errno;
        return -1;
    }
    return f(fd);
}

int rename(const char *a, const char *b)
{
    static int (*f)(const char *, const char *);
    if (!f) f = (int (*)(const char *, const char *))real("rename");
    int k = now();
    if (k == 1) raise(SIGKILL);
    if (k == 2 && fail_errno) {
        errno = fail_errno;
        return -1;
    }
    return f(a, b);
}

int fflush(FILE *s)
{
    static int (*f)(FILE *);
    if (!f) f = (int (*)(FILE *))real("fflush");
    int k = now();
    if (k == 1) raise(SIGKILL);
    if (k == 2 && fail_errno) {
        errno = fail_errno;
        return EOF;
    }
    return f(s);
}

__attribute__((destructor)) static void report(void)
{
    const char *path = getenv("EMIM_CRASH_COUNT");
    if (!path) return;
    FILE *o = fopen(path, "w");
    if (o) {
        fprintf(o, "%ld\n", calls);
        fclose(o);
    }
}
