/* Linear probing of frozen features: L2-regularised logistic regression
 * fitted by Newton's method, stratified k-fold assignment from a seed, the
 * AUC as the Mann-Whitney rank statistic (ties averaged), one-vs-rest for
 * several classes. Double precision, serial, host memory: the same numbers
 * on every machine and for any thread count. */
#include "data/data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* splitmix64: the folds' shuffles */
static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

emim_status emim_probe_folds(const int *y, int n, int classes, int folds, uint64_t seed, int *fold, char *err,
                             size_t errlen)
{
    if (!y || !fold || n < 1 || classes < 2 || folds < 2)
        return emim_fail(err, errlen, EMIM_ERR_ARG, "probe folds: n %d, classes %d, folds %d", n, classes, folds);
    int *idx = malloc((size_t)n * sizeof *idx);
    if (!idx) return emim_fail(err, errlen, EMIM_ERR_NOMEM, "probe folds: out of memory");
    int next = 0; /* the round robin continues from class to class: fold sizes differ by at most 1 */
    for (int c = 0; c < classes; c++) {
        int m = 0;
        for (int i = 0; i < n; i++) {
            if (y[i] < 0 || y[i] >= classes) {
                free(idx);
                return emim_fail(err, errlen, EMIM_ERR_ARG, "probe folds: label %d of sample %d is not in 0 to %d",
                                 y[i], i, classes - 1);
            }
            if (y[i] == c) idx[m++] = i;
        }
        /* Fisher-Yates from (seed, class) */
        uint64_t s = seed ^ (0xd1b54a32d192ed03ull * (uint64_t)(c + 1));
        for (int i = m - 1; i > 0; i--) {
            int j = (int)(mix(&s) % (uint64_t)(i + 1));
            int t = idx[i]; idx[i] = idx[j]; idx[j] = t;
        }
        for (int i = 0; i < m; i++) { fold[idx[i]] = next; next = (next + 1) % folds; }
    }
    free(idx);
    return EMIM_OK;
}

typedef struct { double s; int i; } ranked;

static int by_score(const void *a, const void *b)
{
    const ranked *p = a, *q = b;
    if (p->s < q->s) return -1;
    if (p->s > q->s) return 1;
    return (p->i > q->i) - (p->i < q->i);
}

double emim_auc(const double *score, const int *positive, int n)
{
    if (!score || !positive || n < 2) return NAN;
    ranked *r = malloc((size_t)n * sizeof *r);
    if (!r) return NAN;
    for (int i = 0; i < n; i++) r[i] = (ranked){ score[i], i };
    qsort(r, (size_t)n, sizeof *r, by_score);
    double rsum = 0;
    long np = 0;
    for (int a = 0; a < n;) {
        int b = a;
        while (b + 1 < n && r[b + 1].s == r[a].s) b++;
        double rank = 0.5 * (a + b) + 1; /* ranks from 1; a tie shares its mean rank */
        for (int k = a; k <= b; k++)
            if (positive[r[k].i]) { rsum += rank; np++; }
        a = b + 1;
    }
    free(r);
    long nn = n - np;
    if (np == 0 || nn == 0) return NAN;
    return (rsum - 0.5 * (double)np * (double)(np + 1)) / ((double)np * (double)nn);
}

static double sigmoid(double z) { return z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z)); }

/* log(1 + exp(z)) without overflow */
static double softplus(double z) { return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z)); }

/* (1/n) sum_i [log(1 + e^{z_i}) - y_i z_i] + (l2/2) |w|^2, z = X w + b */
static double objective(const double *x, const double *y, int n, int d, double l2, const double *w)
{
    double f = 0, r = 0;
    for (int i = 0; i < n; i++) {
        double z = w[d];
        for (int k = 0; k < d; k++) z += x[(size_t)i * d + k] * w[k];
        f += softplus(z) - y[i] * z;
    }
    for (int k = 0; k < d; k++) r += w[k] * w[k];
    return f / n + 0.5 * l2 * r;
}

/* Cholesky of the SPD a [m, m] in place (lower), then a x = b into b; -1
 * when a is not positive definite */
static int chol_solve(double *a, double *b, int m)
{
    for (int j = 0; j < m; j++) {
        double s = a[(size_t)j * m + j];
        for (int k = 0; k < j; k++) s -= a[(size_t)j * m + k] * a[(size_t)j * m + k];
        if (!(s > 0)) return -1;
        double l = sqrt(s);
        a[(size_t)j * m + j] = l;
        for (int i = j + 1; i < m; i++) {
            double t = a[(size_t)i * m + j];
            for (int k = 0; k < j; k++) t -= a[(size_t)i * m + k] * a[(size_t)j * m + k];
            a[(size_t)i * m + j] = t / l;
        }
    }
    for (int i = 0; i < m; i++) {
        double t = b[i];
        for (int k = 0; k < i; k++) t -= a[(size_t)i * m + k] * b[k];
        b[i] = t / a[(size_t)i * m + i];
    }
    for (int i = m - 1; i >= 0; i--) {
        double t = b[i];
        for (int k = i + 1; k < m; k++) t -= a[(size_t)k * m + i] * b[k];
        b[i] = t / a[(size_t)i * m + i];
    }
    return 0;
}

emim_status emim_logreg_fit(const double *x, const double *y, int n, int d, double l2, double *w, char *err,
                            size_t errlen)
{
    if (!x || !y || !w || n < 1 || d < 0 || !(l2 > 0) || !isfinite(l2))
        return emim_fail(err, errlen, EMIM_ERR_ARG, "logistic regression: n %d, d %d, l2 %g (must be > 0)", n, d, l2);
    int m = d + 1;
    double *H = malloc((size_t)m * m * sizeof *H), *g = malloc((size_t)m * sizeof *g),
           *t = malloc((size_t)m * sizeof *t), *wn = malloc((size_t)m * sizeof *wn);
    emim_status s = H && g && t && wn ? EMIM_OK : emim_fail(err, errlen, EMIM_ERR_NOMEM, "logistic regression: out of memory");
    for (int k = 0; k < m; k++) w[k] = 0;
    double f = s ? 0 : objective(x, y, n, d, l2, w);
    int converged = 0;
    for (int it = 0; it < 100 && !s && !converged; it++) {
        /* gradient and Hessian; the bias (last) is not penalised, but a
         * 1e-12 ridge keeps its row definite when every p saturates */
        memset(g, 0, (size_t)m * sizeof *g);
        memset(H, 0, (size_t)m * m * sizeof *H);
        for (int i = 0; i < n; i++) {
            const double *xi = x + (size_t)i * d;
            double z = w[d];
            for (int k = 0; k < d; k++) z += xi[k] * w[k];
            double pi = sigmoid(z), r = pi - y[i], v = pi * (1 - pi);
            for (int a = 0; a < m; a++) {
                double xa = a < d ? xi[a] : 1;
                g[a] += r * xa;
                for (int b = 0; b <= a; b++) H[(size_t)a * m + b] += v * xa * (b < d ? xi[b] : 1);
            }
        }
        for (int a = 0; a < m; a++) {
            g[a] = g[a] / n + (a < d ? l2 * w[a] : 0);
            for (int b = 0; b <= a; b++) {
                H[(size_t)a * m + b] /= n;
                H[(size_t)b * m + a] = H[(size_t)a * m + b];
            }
            H[(size_t)a * m + a] += a < d ? l2 : 1e-12;
        }
        memcpy(t, g, (size_t)m * sizeof *t);
        if (chol_solve(H, t, m)) {
            s = emim_fail(err, errlen, EMIM_ERR_ARG, "logistic regression: the Hessian is not positive definite");
            break;
        }
        /* backtracking: halve the Newton step until the objective does not grow */
        double step = 1, fn = f;
        for (int h = 0; h < 60; h++, step *= 0.5) {
            for (int k = 0; k < m; k++) wn[k] = w[k] - step * t[k];
            fn = objective(x, y, n, d, l2, wn);
            if (fn <= f) {
                double dmax = 0;
                for (int k = 0; k < m; k++) {
                    if (fabs(step * t[k]) > dmax) dmax = fabs(step * t[k]);
                    w[k] = wn[k];
                }
                converged = dmax < 1e-10 || f - fn < 1e-15 * (1 + fabs(f));
                f = fn;
                break;
            }
            if (h == 59) converged = 1; /* no descent left at double precision */
        }
    }
    for (int k = 0; k < m && !s; k++)
        if (!isfinite(w[k])) s = emim_fail(err, errlen, EMIM_ERR_ARG, "logistic regression: not finite");
    free(H);
    free(g);
    free(t);
    free(wn);
    return s;
}

emim_status emim_probe_cv(const double *x, const int *y, int n, int d, int classes, int folds, uint64_t seed,
                          double l2, double *auc, double *acc, char *err, size_t errlen)
{
    if (!x || !y || !auc || !acc || n < 1 || d < 1 || classes < 2 || folds < 2)
        return emim_fail(err, errlen, EMIM_ERR_ARG, "probe: n %d, d %d, classes %d, folds %d", n, d, classes, folds);
    int heads = classes == 2 ? 1 : classes;
    int *fold = malloc((size_t)n * sizeof *fold), *pos = malloc((size_t)n * sizeof *pos);
    double *xt = malloc((size_t)n * d * sizeof *xt), *yt = malloc((size_t)n * sizeof *yt),
           *mu = malloc((size_t)d * sizeof *mu), *sd = malloc((size_t)d * sizeof *sd),
           *w = malloc((size_t)heads * (d + 1) * sizeof *w), *score = malloc((size_t)n * heads * sizeof *score);
    emim_status s = fold && pos && xt && yt && mu && sd && w && score
                        ? EMIM_OK
                        : emim_fail(err, errlen, EMIM_ERR_NOMEM, "probe: out of memory");
    if (!s) s = emim_probe_folds(y, n, classes, folds, seed, fold, err, errlen);
    for (int f = 0; f < folds && !s; f++) {
        /* standardise each feature by the training samples' mean and sd */
        int ntr = 0, nte = 0;
        for (int k = 0; k < d; k++) {
            double m = 0, v = 0;
            int c = 0;
            for (int i = 0; i < n; i++)
                if (fold[i] != f) { m += x[(size_t)i * d + k]; c++; }
            m = c ? m / c : 0;
            for (int i = 0; i < n; i++)
                if (fold[i] != f) v += (x[(size_t)i * d + k] - m) * (x[(size_t)i * d + k] - m);
            v = c ? sqrt(v / c) : 0;
            mu[k] = m;
            sd[k] = v > 0 ? v : 1;
        }
        for (int i = 0; i < n; i++)
            if (fold[i] != f) {
                for (int k = 0; k < d; k++) xt[(size_t)ntr * d + k] = (x[(size_t)i * d + k] - mu[k]) / sd[k];
                ntr++;
            }
        if (ntr == 0 || ntr == n) {
            s = emim_fail(err, errlen, EMIM_ERR_ARG, "probe: fold %d has %d test samples of %d", f + 1, n - ntr, n);
            break;
        }
        for (int h = 0; h < heads && !s; h++) {
            int cls = classes == 2 ? 1 : h, j = 0;
            for (int i = 0; i < n; i++)
                if (fold[i] != f) yt[j++] = y[i] == cls;
            s = emim_logreg_fit(xt, yt, ntr, d, l2, w + (size_t)h * (d + 1), err, errlen);
        }
        if (s) break;
        /* the test samples' scores, in sample order */
        for (int i = 0; i < n; i++) {
            if (fold[i] != f) continue;
            for (int h = 0; h < heads; h++) {
                const double *wh = w + (size_t)h * (d + 1);
                double z = wh[d];
                for (int k = 0; k < d; k++) z += wh[k] * (x[(size_t)i * d + k] - mu[k]) / sd[k];
                score[(size_t)nte * heads + h] = z;
            }
            pos[nte] = y[i];
            nte++;
        }
        int right = 0;
        for (int i = 0; i < nte; i++) {
            int pred;
            if (heads == 1) pred = score[i] > 0;
            else {
                pred = 0;
                for (int h = 1; h < heads; h++)
                    if (score[(size_t)i * heads + h] > score[(size_t)i * heads + pred]) pred = h;
            }
            right += pred == pos[i];
        }
        acc[f] = (double)right / nte;
        /* AUC: of class 1 for two classes; else the mean of each class against the rest */
        double sum = 0;
        int counted = 0;
        for (int h = 0; h < heads; h++) {
            int cls = classes == 2 ? 1 : h;
            int *is = malloc((size_t)nte * sizeof *is);
            double *sc = malloc((size_t)nte * sizeof *sc);
            if (!is || !sc) {
                free(is);
                free(sc);
                s = emim_fail(err, errlen, EMIM_ERR_NOMEM, "probe: out of memory");
                break;
            }
            for (int i = 0; i < nte; i++) { is[i] = pos[i] == cls; sc[i] = score[(size_t)i * heads + h]; }
            double a = emim_auc(sc, is, nte);
            if (!isnan(a)) { sum += a; counted++; }
            free(is);
            free(sc);
        }
        auc[f] = counted ? sum / counted : NAN;
    }
    free(fold);
    free(pos);
    free(xt);
    free(yt);
    free(mu);
    free(sd);
    free(w);
    free(score);
    return s;
}
