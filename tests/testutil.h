/* Helpers shared by the Check tests. */
#ifndef EMIM_TESTUTIL_H
#define EMIM_TESTUTIL_H

#include "emim.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

/* A context of the given backend and mode; NULL (with the reason in why)
 * when it cannot be made. */
static inline emim_ctx *test_ctx(emim_backend_kind b, emim_mode mode, int threads, char *why, size_t whylen)
{
    emim_options o;
    emim_options_init(&o, NULL, 0);
    o.backend = b;
    o.mode = mode;
    o.threads = threads;
    o.verbose = 0;
    emim_ctx *ctx = NULL;
    char err[4096];
    if (emim_ctx_create(&ctx, &o, err, sizeof err) != EMIM_OK) {
        if (why) snprintf(why, whylen, "%s", err);
        return NULL;
    }
    return ctx;
}

/* A new empty folder under $TMPDIR (or /tmp) named after the test, and its removal. */
static inline void test_make_dir(char *dir, size_t n, const char *name)
{
    snprintf(dir, n, "%s/%s.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", name);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static inline void test_remove_dir(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Runs a suite; returns the process exit status. fork: 0 runs the tests in
 * this process (needed once OpenCL is initialised: its runtime threads do
 * not survive fork()). */
static inline int run_suite(Suite *s, int fork)
{
    SRunner *sr = srunner_create(s);
    if (!fork) srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
