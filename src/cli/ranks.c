/* The processes of a data-parallel pretraining run: MPI when this emim is
 * built with it (configure --with-mpi) and was started by an MPI launcher
 * (mpirun, mpiexec, or srun with an MPI plugin); otherwise one process.
 *
 * Rank 0 speaks: the other ranks' stdout goes to /dev/null, and while a run
 * starts (checks that every rank makes alike) their stderr is held and
 * shown only when rank 0 had nothing to say. Failures are agreed on with
 * ranks_count, so that every rank stops at the same point; what cannot be
 * agreed on (a failure inside the gradients' exchange) ends the job with
 * MPI_Abort. */
#define _GNU_SOURCE
#include "config.h"
#include "cli/tool.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if HAVE_MPI
#include <mpi.h>
#endif

/* the environment of an MPI launcher: Open MPI, PMIx (srun --mpi=pmix),
 * PMI and PMI2 (MPICH's hydra, srun --mpi=pmi2), Intel MPI */
static int launched_by_mpi(void)
{
    const char *v = getenv("EMIM_MPI");
    if (v && *v) return strcmp(v, "0") != 0;
    static const char *const vars[] = { "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "PMI_FD",
                                        "MPI_LOCALRANKID" };
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if ((v = getenv(vars[i])) && *v) return 1;
    return 0;
}

/* the processes srun started in this job step (0: not under srun) */
static long srun_tasks(void)
{
    const char *v = getenv("SLURM_STEP_NUM_TASKS");
    return v && *v ? strtol(v, NULL, 10) : 0;
}

int ranks_start(tool_ranks *R)
{
    memset(R, 0, sizeof *R);
    R->size = R->local_size = 1;
    R->saved_fd = -1;
    long tasks = srun_tasks();
#if HAVE_MPI
    if (!launched_by_mpi()) {
        if (tasks > 1) {
            fprintf(stderr, "%s: srun started %ld tasks, but none of MPI's variables is set: launch with an MPI "
                    "plugin (srun --mpi=pmix; see srun --mpi=list) or under mpirun\n", prog, tasks);
            return 1;
        }
        return 0;
    }
    int init = 0;
    MPI_Initialized(&init);
    if (!init && MPI_Init(NULL, NULL) != MPI_SUCCESS) {
        fprintf(stderr, "%s: MPI_Init failed\n", prog);
        return 1;
    }
    R->mpi = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &R->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &R->size);
    MPI_Comm local;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, R->rank, MPI_INFO_NULL, &local) == MPI_SUCCESS) {
        MPI_Comm_rank(local, &R->local_rank);
        MPI_Comm_size(local, &R->local_size);
        MPI_Comm_free(&local);
    }
    if (tasks > 1 && R->size != tasks) {
        fprintf(stderr, "%s: srun started %ld tasks, but MPI sees %d: launch with the MPI plugin your MPI was "
                "built for (srun --mpi=pmix; see srun --mpi=list)\n", prog, tasks, R->size);
        MPI_Finalize();
        R->mpi = 0;
        return 1;
    }
    if (R->size == 1) return 0;
    char err[256];
    if (emim_comm_mpi_create(&R->comm, NULL, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (R->rank != 0 && !freopen("/dev/null", "w", stdout)) { /* rank 0 prints the progress */ }
    return 0;
#else
    const char *v = getenv("OMPI_COMM_WORLD_SIZE");
    if (!v || !*v) v = getenv("PMI_SIZE");
    long n = v && *v ? strtol(v, NULL, 10) : tasks;
    if (n > 1 && !(getenv("EMIM_MPI") && !strcmp(getenv("EMIM_MPI"), "0"))) {
        fprintf(stderr, "%s: started as one of %ld processes, but this emim is built without MPI (configure "
                "--with-mpi): each would train alone\n", prog, n);
        return 1;
    }
    return 0;
#endif
}

void ranks_counts(tool_ranks *R, int *flag, int n)
{
    float x[8];
    if (n > 8) ranks_abort(R, 1);
    for (int i = 0; i < n; i++) x[i] = flag[i] != 0;
    if (R->comm && R->comm->allreduce_sum(R->comm, x, (size_t)n)) ranks_abort(R, 1);
    for (int i = 0; i < n; i++) flag[i] = (int)x[i];
}

int ranks_count(tool_ranks *R, int flag)
{
    ranks_counts(R, &flag, 1);
    return flag;
}

float *ranks_gather(tool_ranks *R, float mine)
{
    float *all = malloc((size_t)R->size * sizeof *all);
    size_t *c = malloc(2 * (size_t)R->size * sizeof *c);
    /* out of memory for a few floats: the others would wait in the gather */
    if (!all || !c) ranks_abort(R, 1);
    if (!R->comm) all[0] = mine;
    else {
        for (int q = 0; q < R->size; q++) { c[q] = 1; c[R->size + q] = (size_t)q; }
        if (R->comm->allgatherv(R->comm, &mine, all, c, c + R->size)) ranks_abort(R, 1);
    }
    free(c);
    return all;
}

void ranks_abort(tool_ranks *R, int rc)
{
    fflush(stdout);
    fflush(stderr);
#if HAVE_MPI
    if (R->mpi && R->size > 1) MPI_Abort(MPI_COMM_WORLD, rc);
#endif
    (void)R;
    exit(rc);
}

void ranks_hold_stderr(tool_ranks *R)
{
    if (R->rank == 0 || R->saved_fd >= 0) return;
    fflush(stderr);
    R->held = tmpfile();
    if (!R->held) return;
    R->saved_fd = dup(2);
    if (R->saved_fd < 0 || dup2(fileno(R->held), 2) < 0) {
        if (R->saved_fd >= 0) close(R->saved_fd);
        R->saved_fd = -1;
        fclose(R->held);
        R->held = NULL;
    }
}

void ranks_release_stderr(tool_ranks *R, int show)
{
    if (R->saved_fd < 0) return;
    fflush(stderr);
    dup2(R->saved_fd, 2);
    close(R->saved_fd);
    R->saved_fd = -1;
    if (show) {
        char buf[4096];
        size_t n;
        rewind(R->held);
        while ((n = fread(buf, 1, sizeof buf, R->held)) > 0) fwrite(buf, 1, n, stderr);
        fflush(stderr);
    }
    fclose(R->held);
    R->held = NULL;
}

/* Every rank's first error of a phase: 0 when none failed; else every rank
 * returns its own rc (1 where it did not fail itself), and the held
 * messages of a rank other than 0 are shown when it failed and rank 0 did
 * not (rank 0 says the same when the failure is everyone's). */
int ranks_agree(tool_ranks *R, int rc)
{
    if (R->size == 1) return rc;
    float x[2] = { R->rank == 0 && rc, rc != 0 };
    if (R->comm->allreduce_sum(R->comm, x, 2)) ranks_abort(R, 1);
    ranks_release_stderr(R, x[0] == 0 && rc);
    if (x[1] == 0) return 0;
    if (R->rank == 0 && !rc) fprintf(stderr, "%s: %d of the %d processes failed (their messages above)\n", prog,
                                     (int)x[1], R->size);
    return rc ? rc : 1;
}

int ranks_threads(const tool_ranks *R)
{
    if (R->local_size < 2) return 0;
    cpu_set_t set;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (sched_getaffinity(0, sizeof set, &set) || CPU_COUNT(&set) < online) return 0; /* bound by the launcher */
    long n = online / R->local_size;
    return n < 1 ? 1 : (int)n;
}

void ranks_end(tool_ranks *R)
{
    ranks_release_stderr(R, 1);
#if HAVE_MPI
    if (R->mpi) {
        emim_comm_mpi_free(R->comm);
        R->comm = NULL;
        MPI_Finalize();
        R->mpi = 0;
    }
#endif
}
