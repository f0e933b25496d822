/* The gradient of a step as a fixed tree over micro-batches, on one process
 * or shared out across ranks (emim_trainer_set_comm).
 *
 * The batch of B samples is K = B / micro micro-batches. Micro-batch k's
 * gradient g_k is the objective's backward on its samples alone. The
 * batch's gradient is (1/K) T(0, K), where T is the pairwise tree
 *     T(lo, lo + 1) = g_lo,
 *     T(lo, hi) = T(lo, mid) + T(mid, hi),  mid = emim_tree_mid(lo, hi)
 * (the left part is the largest power of two below hi - lo). Every float
 * addition is one correctly rounded add, on either backend, so the tree's
 * value depends only on its shape, never on where its nodes were summed.
 *
 * A process (rank r of R) runs the micro-batches [k0, k1) = [r K/R,
 * (r+1) K/R) in order, keeping a stack of the tree's nodes it has finished:
 * after each leaf, the two top nodes are merged while they are the two
 * halves of one node. What is left is the block's decomposition into the
 * tree's largest nodes inside it (the whole tree on one process). In exact
 * mode the ranks then exchange slices: rank s receives slice s of every
 * rank's nodes, completes the tree over [0, K) for that slice from them,
 * and the slices are gathered on every rank; each node value crosses the
 * network once. Fast mode adds the ranks' sums with allreduce.
 *
 * The loss and the method's metrics go through the same tree (on the host,
 * after every rank's per-micro-batch values are gathered). */
#include "train/train.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

long emim_tree_mid(long lo, long hi)
{
    long n = hi - lo, p = 1;
    while (2 * p < n) p *= 2;
    return lo + p;
}

/* whether [a, b) and [b, c) are the halves of one node of the tree over [0, K) */
static int siblings(long K, long a, long b, long c)
{
    long lo = 0, hi = K;
    while (hi - lo > 1) {
        long mid = emim_tree_mid(lo, hi);
        if (a == lo && c == hi) return mid == b;
        if (c <= mid) hi = mid;
        else if (a >= mid) lo = mid;
        else return 0;
    }
    return 0;
}

/* The nodes that a block [k0, k1) of the tree over [0, K) leaves on its
 * stack (at most EMIM_TREE_SLOTS), as intervals; their count. */
static int block_nodes(long K, long k0, long k1, long (*node)[2])
{
    int j = 0;
    for (long k = k0; k < k1; k++) {
        node[j][0] = k;
        node[j][1] = k + 1;
        j++;
        while (j >= 2 && siblings(K, node[j - 2][0], node[j - 2][1], node[j - 1][1])) {
            node[j - 2][1] = node[j - 1][1];
            j--;
        }
    }
    return j;
}

/* The value of node [lo, hi) of the tree, L floats, from nodes nd[0 .. nn)
 * (intervals in order, covering [lo, hi), each a node of the tree; values
 * val + i L); tmp holds 2 L floats per level below. */
static void complete(float *out, long lo, long hi, long (*nd)[2], int nn, const float *val, size_t L, float *tmp)
{
    if (nn == 1) { memcpy(out, val, L * sizeof *out); return; }
    long mid = emim_tree_mid(lo, hi);
    int i = 0;
    while (nd[i][0] < mid) i++;
    float *a = tmp, *b = tmp + L;
    complete(a, lo, mid, nd, i, val, L, tmp + 2 * L);
    complete(b, mid, hi, nd + i, nn - i, val + (size_t)i * L, L, tmp + 2 * L);
    /* one add per element: threads change nothing but the time */
    #pragma omp parallel for schedule(static) if (L >= 1 << 16)
    for (size_t e = 0; e < L; e++) out[e] = a[e] + b[e];
}

/* The tree over leaves [lo, hi) of L floats each (val + k L). */
static void leaf_tree(float *out, long lo, long hi, const float *val, size_t L, float *tmp)
{
    if (hi - lo == 1) { memcpy(out, val + (size_t)lo * L, L * sizeof *out); return; }
    long mid = emim_tree_mid(lo, hi);
    float *a = tmp, *b = tmp + L;
    leaf_tree(a, lo, mid, val, L, tmp + 2 * L);
    leaf_tree(b, mid, hi, val, L, tmp + 2 * L);
    for (size_t e = 0; e < L; e++) out[e] = a[e] + b[e];
}

static int tree_depth(long K)
{
    int d = 1;
    while ((1L << (d - 1)) < K) d++;
    return d;
}

static void rank_block(long K, int r, int R, long *k0, long *k1)
{
    *k0 = (long)r * K / R;
    *k1 = (long)(r + 1) * K / R;
}

emim_status emim_trainer_set_comm(emim_trainer *T, emim_comm *comm)
{
    int R = comm ? comm->size : 1, r = comm ? comm->rank : 0;
    long K = T->K;
    if (R < 1 || r < 0 || r >= R)
        return emim_set_error(T->ctx, EMIM_ERR_ARG, "train: rank %d of %d", r, R);
    if (R > 1 && T->def->whole_batch)
        return emim_set_error(T->ctx, EMIM_ERR_ARG, "train: %s's loss holds statistics of the whole batch: it runs in "
                              "one process, not %d", T->def->name, R);
    if (K < R)
        return emim_set_error(T->ctx, EMIM_ERR_ARG, "train: %d processes but only %ld micro-batch%s a step (batch %d, "
                              "micro-batch %d): use at most %ld processes, a larger batch or a smaller micro-batch",
                              R, K, K == 1 ? "" : "es", T->cfg.batch, T->mcfg.batch, K);
    free(T->ccount);
    free(T->nodes);
    T->ccount = NULL;
    T->nodes = NULL;
    T->comm = NULL;
    rank_block(K, r, R, &T->k0, &T->k1);
    if (R == 1) return EMIM_OK;
    T->ccount = malloc(4 * (size_t)R * sizeof *T->ccount);
    T->nodes = malloc((size_t)R * EMIM_TREE_SLOTS * sizeof *T->nodes);
    if (!T->ccount || !T->nodes) return emim_set_error(T->ctx, EMIM_ERR_NOMEM, "train: out of host memory");
    T->comm = comm;
    return EMIM_OK;
}

void emim_trainer_local_batch(const emim_trainer *T, int *first, int *count)
{
    *first = (int)T->k0 * T->mcfg.batch;
    *count = (int)(T->k1 - T->k0) * T->mcfg.batch;
}

/* A slot of the node stack (slot 0 is the gradient arena), allocated on
 * first use and kept: later steps allocate nothing. */
static emim_status slot(emim_trainer *T, int j, emim_buf **out)
{
    if (j >= EMIM_TREE_SLOTS) return emim_set_error(T->ctx, EMIM_ERR_ARG, "train: the gradient tree is too deep");
    if (j == 0) { *out = T->grads; return EMIM_OK; }
    if (!T->slot[j]) EMIM_CHECK(emim_buf_alloc(T->ctx, T->lay.total, &T->slot[j]));
    *out = T->slot[j];
    return EMIM_OK;
}

/* host scratch of n floats, kept between steps */
static emim_status host_scratch(emim_trainer *T, int i, size_t n, float **out)
{
    if (T->hcap[i] < n) {
        float *p = realloc(T->host[i], n * sizeof *p);
        if (!p) return emim_set_error(T->ctx, EMIM_ERR_NOMEM, "train: out of host memory for %zu floats of the "
                                      "gradients' exchange", n);
        T->host[i] = p;
        T->hcap[i] = n;
    }
    *out = T->host[i];
    return EMIM_OK;
}

/* Exact mode across ranks: the nodes in slots 0 .. nn-1 become the whole
 * tree's value in slot 0 (the gradient arena) on every rank. */
static emim_status exchange_exact(emim_trainer *T, int nn)
{
    emim_comm *c = T->comm;
    int R = c->size, me = c->rank;
    size_t P = T->lay.total;
    long K = T->K;
    size_t *cnt = T->ccount, *sd = cnt + R, *rc = sd + R, *rd = rc + R;
    /* slice q of the parameters: [P q / R, P (q+1) / R) */
    size_t L = P * (size_t)(me + 1) / R - P * (size_t)me / R;
    /* every rank's nodes, in rank order (the tree's leaves left to right):
     * what this rank receives of each, slice me of its nodes */
    int total = 0;
    size_t roff = 0;
    for (int q = 0; q < R; q++) {
        long b0, b1;
        rank_block(K, q, R, &b0, &b1);
        int nq = block_nodes(K, b0, b1, T->nodes + total);
        total += nq;
        rd[q] = roff;
        rc[q] = (size_t)nq * L;
        roff += rc[q];
    }
    float *own = NULL, *send = NULL, *recv = NULL, *tmp = NULL;
    EMIM_CHECK(host_scratch(T, 0, (size_t)nn * P, &own));
    for (int j = 0; j < nn; j++) {
        emim_buf *b;
        EMIM_CHECK(slot(T, j, &b));
        EMIM_CHECK(emim_buf_read(b, 0, P, own + (size_t)j * P));
    }
    EMIM_CHECK(host_scratch(T, 1, (size_t)nn * P, &send));
    size_t off = 0;
    for (int q = 0; q < R; q++) {
        size_t s0 = P * (size_t)q / R, sl = P * (size_t)(q + 1) / R - s0;
        sd[q] = off;
        for (int j = 0; j < nn; j++, off += sl) memcpy(send + off, own + (size_t)j * P + s0, sl * sizeof *send);
        cnt[q] = off - sd[q];
    }
    EMIM_CHECK(host_scratch(T, 2, roff, &recv));
    EMIM_CHECK(c->alltoallv(c, send, cnt, sd, recv, rc, rd));
    /* this rank's slice of the whole tree, then every slice to every rank */
    EMIM_CHECK(host_scratch(T, 3, L + 2 * L * (size_t)tree_depth(K), &tmp));
    float *slice = tmp;
    complete(slice, 0, K, T->nodes, total, recv, L, tmp + L);
    for (int q = 0; q < R; q++) {
        cnt[q] = P * (size_t)(q + 1) / R - P * (size_t)q / R;
        sd[q] = P * (size_t)q / R;
    }
    EMIM_CHECK(c->allgatherv(c, slice, own, cnt, sd));
    return emim_buf_write(T->grads, 0, P, own);
}

/* Fast mode across ranks: this rank's nodes summed in slot 0, then the sum
 * over ranks. */
static emim_status exchange_fast(emim_trainer *T, int nn)
{
    size_t P = T->lay.total;
    for (int j = nn - 1; j >= 1; j--) {
        emim_buf *a, *b;
        EMIM_CHECK(slot(T, j - 1, &a));
        EMIM_CHECK(slot(T, j, &b));
        EMIM_CHECK(emim_add(T->ctx, emim_at(a, 0), emim_at(a, 0), emim_at(b, 0), P));
    }
    float *h = NULL;
    EMIM_CHECK(host_scratch(T, 0, P, &h));
    EMIM_CHECK(emim_buf_read(T->grads, 0, P, h));
    EMIM_CHECK(T->comm->allreduce_sum(T->comm, h, P));
    return emim_buf_write(T->grads, 0, P, h);
}

emim_status emim_train_gradients(emim_trainer *T, const emim_batch *local, float *loss, float *metrics)
{
    emim_ctx *ctx = T->ctx;
    size_t P = T->lay.total;
    const emim_model *M = &T->M;
    int m = T->mcfg.batch, C = T->cfg.vit.channels, nm = T->def->nmetrics, V = 1 + nm;
    long K = T->K;
    /* one micro-batch, the whole batch, one process: the objective's step alone */
    if (K == 1) {
        emim_batch b = *local;
        b.grads = T->grads;
        EMIM_CHECK(emim_buf_zero(T->grads, 0, P));
        return T->def->step(T->obj, &b, loss, metrics);
    }
    float *leaf = T->leaf; /* [K, V]: loss and metrics per micro-batch */
    int nn = 0;
    for (long k = T->k0; k < T->k1; k++) {
        size_t i = (size_t)(k - T->k0) * m;
        emim_buf *g;
        EMIM_CHECK(slot(T, nn, &g));
        emim_batch mb = { local->host_tok + i * M->N * M->PD, emim_at(local->tok.buf, local->tok.off + i * M->N * M->PD),
                          local->masks + i * C * M->N, g, local->images + i * M->N * M->PD, local->step,
                          local->first + (long)i };
        EMIM_CHECK(emim_buf_zero(g, 0, P));
        float l, met[EMIM_MAX_METRICS] = { 0 };
        EMIM_CHECK(T->def->step(T->obj, &mb, &l, met));
        leaf[k * V] = l;
        memcpy(leaf + k * V + 1, met, (size_t)nm * sizeof *met);
        T->stack[nn][0] = k;
        T->stack[nn][1] = k + 1;
        nn++;
        while (nn >= 2 && siblings(K, T->stack[nn - 2][0], T->stack[nn - 2][1], T->stack[nn - 1][1])) {
            emim_buf *a, *b;
            EMIM_CHECK(slot(T, nn - 2, &a));
            EMIM_CHECK(slot(T, nn - 1, &b));
            EMIM_CHECK(emim_add(ctx, emim_at(a, 0), emim_at(a, 0), emim_at(b, 0), P));
            T->stack[nn - 2][1] = T->stack[nn - 1][1];
            nn--;
        }
    }
    T->exchange_s = 0;
    if (T->comm) {
        /* the exchange's time: from the end of this rank's passes (waiting
         * for slower ranks included) */
        EMIM_CHECK(emim_finish(ctx));
        double t0 = now_s();
        emim_comm *c = T->comm;
        int R = c->size;
        size_t *cnt = T->ccount, *dsp = cnt + R;
        for (int q = 0; q < R; q++) {
            long b0, b1;
            rank_block(K, q, R, &b0, &b1);
            cnt[q] = (size_t)(b1 - b0) * V;
            dsp[q] = (size_t)b0 * V;
        }
        float *mine = NULL;
        EMIM_CHECK(host_scratch(T, 4, cnt[c->rank], &mine));
        memcpy(mine, leaf + T->k0 * V, cnt[c->rank] * sizeof *mine);
        EMIM_CHECK(c->allgatherv(c, mine, leaf, cnt, dsp));
        EMIM_CHECK(emim_get_mode(ctx) == EMIM_MODE_EXACT ? exchange_exact(T, nn) : exchange_fast(T, nn));
        EMIM_CHECK(emim_finish(ctx));
        T->exchange_s = now_s() - t0;
    }
    /* the batch's mean: (1/K) times the tree */
    float inv = 1.0f / (float)K;
    EMIM_CHECK(emim_scale(ctx, emim_at(T->grads, 0), emim_at(T->grads, 0), inv, P));
    float tmp[2 * EMIM_TREE_SLOTS * (1 + EMIM_MAX_METRICS)], tot[1 + EMIM_MAX_METRICS];
    leaf_tree(tot, 0, K, leaf, (size_t)V, tmp);
    *loss = tot[0] * inv;
    for (int q = 0; q < nm; q++) metrics[q] = tot[1 + q] * inv;
    return EMIM_OK;
}
