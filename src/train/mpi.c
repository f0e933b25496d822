/* emim_comm over MPI: the three collectives of the gradients' exchange
 * (src/train/reduce.c) as MPI_Alltoallv, MPI_Allgatherv and MPI_Allreduce
 * on MPI_FLOAT. Compiled only with configure --with-mpi; the caller
 * initialises MPI. MPI's counts and displacements are ints: a message
 * beyond INT_MAX floats is refused with an error, never truncated. */
#include "core/internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

static emim_status fail(char *err, size_t errlen, emim_status s, const char *msg)
{
    if (err && errlen) snprintf(err, errlen, "%s", msg);
    return s;
}

#if HAVE_MPI
#include <mpi.h>

typedef struct {
    emim_comm c;
    MPI_Comm mc;
    int *buf;        /* 4 size ints: counts and displacements */
} mpi_comm;

static int to_ints(int n, const size_t *a, int *out)
{
    for (int i = 0; i < n; i++) {
        if (a[i] > INT_MAX) return 1;
        out[i] = (int)a[i];
    }
    return 0;
}

static emim_status mpi_err(int rc)
{
    return rc == MPI_SUCCESS ? EMIM_OK : EMIM_ERR_IO;
}

static emim_status m_alltoallv(emim_comm *c, const float *send, const size_t *scount, const size_t *sdispl, float *recv,
                               const size_t *rcount, const size_t *rdispl)
{
    mpi_comm *m = (mpi_comm *)c;
    int R = c->size, *sc = m->buf, *sd = sc + R, *rc = sd + R, *rd = rc + R;
    if (to_ints(R, scount, sc) || to_ints(R, sdispl, sd) || to_ints(R, rcount, rc) || to_ints(R, rdispl, rd))
        return EMIM_ERR_ARG;
    return mpi_err(MPI_Alltoallv(send, sc, sd, MPI_FLOAT, recv, rc, rd, MPI_FLOAT, m->mc));
}

static emim_status m_allgatherv(emim_comm *c, const float *send, float *recv, const size_t *count, const size_t *displ)
{
    mpi_comm *m = (mpi_comm *)c;
    int R = c->size, *rc = m->buf, *rd = rc + R;
    if (to_ints(R, count, rc) || to_ints(R, displ, rd)) return EMIM_ERR_ARG;
    return mpi_err(MPI_Allgatherv(send, rc[c->rank], MPI_FLOAT, recv, rc, rd, MPI_FLOAT, m->mc));
}

static emim_status m_allreduce(emim_comm *c, float *buf, size_t n)
{
    mpi_comm *m = (mpi_comm *)c;
    /* in pieces of at most INT_MAX floats */
    for (size_t off = 0; off < n;) {
        int k = n - off > INT_MAX ? INT_MAX : (int)(n - off);
        int rc = MPI_Allreduce(MPI_IN_PLACE, buf + off, k, MPI_FLOAT, MPI_SUM, m->mc);
        if (rc != MPI_SUCCESS) return EMIM_ERR_IO;
        off += (size_t)k;
    }
    return EMIM_OK;
}

int emim_have_mpi(void) { return 1; }

emim_status emim_comm_mpi_create(emim_comm **out, const void *mpi_comm_ptr, char *err, size_t errlen)
{
    *out = NULL;
    int init = 0;
    MPI_Initialized(&init);
    if (!init) return fail(err, errlen, EMIM_ERR_ARG, "MPI: MPI_Init has not been called");
    mpi_comm *m = calloc(1, sizeof *m);
    if (!m) return fail(err, errlen, EMIM_ERR_NOMEM, "MPI: out of memory");
    m->mc = mpi_comm_ptr ? *(const MPI_Comm *)mpi_comm_ptr : MPI_COMM_WORLD;
    MPI_Comm_rank(m->mc, &m->c.rank);
    MPI_Comm_size(m->mc, &m->c.size);
    m->buf = malloc(4 * (size_t)m->c.size * sizeof *m->buf);
    if (!m->buf) {
        free(m);
        return fail(err, errlen, EMIM_ERR_NOMEM, "MPI: out of memory");
    }
    m->c.alltoallv = m_alltoallv;
    m->c.allgatherv = m_allgatherv;
    m->c.allreduce_sum = m_allreduce;
    *out = &m->c;
    return EMIM_OK;
}

void emim_comm_mpi_free(emim_comm *c)
{
    if (!c) return;
    mpi_comm *m = (mpi_comm *)c;
    free(m->buf);
    free(m);
}

#else

int emim_have_mpi(void) { return 0; }

emim_status emim_comm_mpi_create(emim_comm **out, const void *mpi_comm_ptr, char *err, size_t errlen)
{
    (void)mpi_comm_ptr;
    *out = NULL;
    return fail(err, errlen, EMIM_ERR_BACKEND, "this libemim is built without MPI (configure --with-mpi)");
}

void emim_comm_mpi_free(emim_comm *c) { (void)c; }

#endif
