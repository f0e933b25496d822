/* A crash at a chosen moment, for tests/check_crash.sh (LD_PRELOAD): counts
 * the calls of write, fsync, rename and fflush that the program makes and,
 * at the call number EMIM_CRASH_AT, kills the process with SIGKILL (a
 * write is cut in half first: a torn write). EMIM_CRASH_COUNT=FILE writes
 * the number of calls made to FILE at exit (to choose the moments). Not
 * installed; built for the tests only. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static long calls, crash_at = -1;

static int now(void)
{
    if (crash_at < 0) {
        const char *e = getenv("EMIM_CRASH_AT");
        crash_at = e ? atol(e) : 0;
    }
    return __atomic_add_fetch(&calls, 1, __ATOMIC_SEQ_CST) == crash_at;
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
    if (now()) {
        if (n > 1) w(fd, b, n / 2);
        raise(SIGKILL);
    }
    return w(fd, b, n);
}

int fsync(int fd)
{
    static int (*f)(int);
    if (!f) f = (int (*)(int))real("fsync");
    if (now()) raise(SIGKILL);
    return f(fd);
}

int rename(const char *a, const char *b)
{
    static int (*f)(const char *, const char *);
    if (!f) f = (int (*)(const char *, const char *))real("rename");
    if (now()) raise(SIGKILL);
    return f(a, b);
}

int fflush(FILE *s)
{
    static int (*f)(FILE *);
    if (!f) f = (int (*)(FILE *))real("fflush");
    if (now()) raise(SIGKILL);
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
