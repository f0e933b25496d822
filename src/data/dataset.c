/* Datasets: finding subjects (BraTS-layout folders, TSV lists, folders of 4D
 * files, the built-in phantom), checking their headers, preparing and caching
 * each subject, drawing samples, and loading batches ahead in background
 * threads. */
#include "config.h"
#include "data/data.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { CACHE_EMPTY = 0, CACHE_LOADING, CACHE_READY };

typedef struct {
    char *name;
    char **files;              /* one per modality, or one 4D file */
    int nfiles;
    int state;                 /* CACHE_* */
    float *data;               /* the prepared subject when cached */
    int dim[3];
    double map[3][2];          /* prepared voxel i along axis a <- file voxel map[a][0] i + map[a][1] */
    double affine[4][4];       /* the files' voxel-to-world affine */
} subject;

struct emim_data {
    emim_data_config c;
    char *path;
    char **mods;
    int nmods;
    const char *kind;
    subject *subj;
    int n;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t cache_used, cache_subjects;
    uint64_t perm_epoch;
    int *perm;
    /* background loading */
    pthread_t *th;
    int nth, stop, failed, batch, depth;
    int stride, lo;              /* batch s delivers samples s stride + lo .. + batch - 1 */
    uint64_t first, next_job, consumed;
    float **slots;
    int *done;
    char errmsg[1024];
};

void emim_data_config_default(emim_data_config *c)
{
    memset(c, 0, sizeof *c);
    c->modalities = NULL;
    c->channels = 0;
    c->size[0] = c->size[1] = c->size[2] = 64;
    c->p_lo = 0.5f;
    c->p_hi = 99.5f;
    c->fg_crop = 1;
    c->random_crop = 1;
    c->seed = 1;
    size_t mem = emim_host_memory(NULL);
    c->cache_bytes = mem < SIZE_MAX ? mem / 2 : (size_t)1 << 30;
    c->threads = 1;
    c->depth = 2;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* the k-th random number of stream (seed, tag, i) */
static uint64_t rnd(uint64_t seed, uint64_t tag, uint64_t i, uint64_t k)
{
    return mix64(mix64(mix64(seed ^ tag) ^ i) + k);
}

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* length of the name without .nii, .nii.gz, .hdr or .hdr.gz; 0 when not a NIfTI name */
static size_t nifti_stem(const char *name)
{
    static const char *ext[] = { ".nii.gz", ".nii", ".hdr.gz", ".hdr" };
    size_t n = strlen(name);
    for (int i = 0; i < 4; i++) {
        size_t m = strlen(ext[i]);
        if (n > m && !strcasecmp(name + n - m, ext[i])) return n - m;
    }
    return 0;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* the sorted, non-hidden entries of a folder */
static emim_status list_dir(const char *dir, char ***out, int *n, char *err, size_t errlen)
{
    DIR *dp = opendir(dir);
    if (!dp) return emim_fail(err, errlen, EMIM_ERR_IO, "%s: cannot open the folder: %s", dir, strerror(errno));
    char **v = NULL;
    int k = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (e->d_name[0] == '.') continue;
        if (k == cap) {
            cap = cap ? 2 * cap : 64;
            char **w = realloc(v, (size_t)cap * sizeof *v);
            if (!w) break;
            v = w;
        }
        if (!(v[k] = dupstr(e->d_name))) break;
        k++;
    }
    closedir(dp);
    if (k) qsort(v, (size_t)k, sizeof *v, cmp_str);
    *out = v;
    *n = k;
    return EMIM_OK;
}

static void free_list(char **v, int n)
{
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

static emim_status add_subject(emim_data *d, const char *name, char **files, int nfiles, char *err, size_t errlen)
{
    subject *s = realloc(d->subj, (size_t)(d->n + 1) * sizeof *s);
    if (!s) return emim_fail(err, errlen, EMIM_ERR_NOMEM, "out of memory for the subject list");
    d->subj = s;
    memset(&s[d->n], 0, sizeof *s);
    s[d->n].name = dupstr(name);
    s[d->n].files = files;
    s[d->n].nfiles = nfiles;
    d->n++;
    return EMIM_OK;
}

/* does the stem (of length n) name modality m: equal, or ending in -m, _m or .m */
static int stem_matches(const char *name, size_t n, const char *m)
{
    size_t k = strlen(m);
    if (n < k || strncasecmp(name + n - k, m, k)) return 0;
    return n == k || name[n - k - 1] == '-' || name[n - k - 1] == '_' || name[n - k - 1] == '.';
}

static emim_status scan_subject_folder(emim_data *d, const char *sdir, const char *sname, char *err, size_t errlen)
{
    char **names;
    int nn;
    emim_status s = list_dir(sdir, &names, &nn, err, errlen);
    if (s) return s;
    char **files = calloc((size_t)d->nmods, sizeof *files);
    if (!files) {
        free_list(names, nn);
        return emim_fail(err, errlen, EMIM_ERR_NOMEM, "out of memory");
    }
    for (int m = 0; m < d->nmods && !s; m++) {
        int found = -1;
        for (int i = 0; i < nn && !s; i++) {
            size_t stem = nifti_stem(names[i]);
            if (!stem || !stem_matches(names[i], stem, d->mods[m])) continue;
            if (found >= 0)
                s = emim_fail(err, errlen, EMIM_ERR_IO, "%s: two files for modality %s: %s and %s", sdir, d->mods[m],
                              names[found], names[i]);
            found = i;
        }
        if (!s && found < 0)
            s = emim_fail(err, errlen, EMIM_ERR_IO, "%s: no file for modality %s (a name ending in -%s.nii.gz, "
                          "-%s.nii or -%s.hdr)", sdir, d->mods[m], d->mods[m], d->mods[m], d->mods[m]);
        if (!s && !(files[m] = join(sdir, names[found])))
            s = emim_fail(err, errlen, EMIM_ERR_NOMEM, "out of memory");
    }
    free_list(names, nn);
    if (!s) s = add_subject(d, sname, files, d->nmods, err, errlen);
    if (s) free_list(files, d->nmods);
    return s;
}

static emim_status scan_folder(emim_data *d, char *err, size_t errlen)
{
    char **names;
    int nn;
    emim_status s = list_dir(d->path, &names, &nn, err, errlen);
    if (s) return s;
    int dirs = 0, niis = 0;
    for (int i = 0; i < nn; i++) {
        char *p = join(d->path, names[i]);
        if (p && is_dir(p)) dirs++;
        else if (nifti_stem(names[i])) niis++;
        free(p);
    }
    if (dirs) {
        d->kind = "BraTS-layout folder";
        for (int i = 0; i < nn && !s; i++) {
            char *p = join(d->path, names[i]);
            if (!p) s = emim_fail(err, errlen, EMIM_ERR_NOMEM, "out of memory");
            else if (is_dir(p)) s = scan_subject_folder(d, p, names[i], err, errlen);
            free(p);
        }
    } else if (niis) {
        d->kind = "folder of 4D files";
        for (int i = 0; i < nn && !s; i++) {
            size_t stem = nifti_stem(names[i]);
            if (!stem || (strlen(names[i]) > 4 && !strcasecmp(names[i] + strlen(names[i]) - 4, ".img"))) continue;
            char **files = malloc(sizeof *files);
            if (!files || !(files[0] = join(d->path, names[i]))) {
                free(files);
                s = emim_fail(err, errlen, EMIM_ERR_NOMEM, "out of memory");
                break;
            }
            char name[1024];
            snprintf(name, sizeof name, "%.*s", (int)(stem < 1000 ? stem : 1000), names[i]);
            s = add_subject(d, name, files, 1, err, errlen);
            if (s) free_list(files, 1);
        }
    } else {
        s = emim_fail(err, errlen, EMIM_ERR_IO, "%s: no subjects: expected one subfolder per subject, or .nii / "
                      ".nii.gz files", d->path);
    }
    free_list(names, nn);
    return s;
}

static emim_status read_list(emim_data *d, char *err, size_t errlen)
{
    FILE *f = fopen(d->path, "r");
    if (!f) return emim_fail(err, errlen, EMIM_ERR_IO, "%s: cannot open: %s", d->path, strerror(errno));
    d->kind = "TSV list";
    char *dir = dupstr(d->path), *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash) *slash = 0;
    else if (dir) strcpy(dir, ".");
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    emim_status s = dir ? EMIM_OK : emim_fail(err, errlen, EMIM_ERR_NOMEM, "out of memory");
    while (!s && getline(&line, &cap, f) > 0) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#') continue;
        char *fields[64];
        int nf = 0;
        for (char *p = line, *tok; nf < 64 && (tok = strsep(&p, "\t"));) fields[nf++] = tok;
        if (lineno == 1 && !strcasecmp(fields[0], "subject")) continue; /* a header line */
        if (!d->c.channels && nf >= 2 && nf < 64) d->c.channels = nf - 1; /* the channels from the first line */
        if (!d->c.channels) {
            /* a line without a tab (a subject without paths) would be a subject of no files */
            s = emim_fail(err, errlen, EMIM_ERR_IO, "%s:%ld: expected a subject and 1 to 63 tab-separated paths, "
                          "found %s", d->path, lineno, nf == 1 ? "no tab" : "more than 63 paths");
            break;
        }
        if (nf != 1 + d->c.channels) {
            s = emim_fail(err, errlen, EMIM_ERR_IO, "%s:%ld: expected a subject and %d tab-separated paths, found "
                          "%d fields", d->path, lineno, d->c.channels, nf);
            break;
        }
        char **files = calloc((size_t)d->c.channels, sizeof *files);
        for (int m = 0; files && m < d->c.channels; m++) {
            const char *p = fields[1 + m];
            files[m] = p[0] == '/' ? dupstr(p) : join(dir, p);
            if (!files[m]) {
                free_list(files, m);
                files = NULL;
            }
        }
        if (!files) s = emim_fail(err, errlen, EMIM_ERR_NOMEM, "out of memory");
        else if ((s = add_subject(d, fields[0], files, d->c.channels, err, errlen))) free_list(files, d->c.channels);
    }
    if (!s && ferror(f)) s = emim_fail(err, errlen, EMIM_ERR_IO, "%s: read error", d->path);
    if (!s && d->n == 0) s = emim_fail(err, errlen, EMIM_ERR_IO, "%s: the list names no subjects", d->path);
    free(line);
    free(dir);
    fclose(f);
    return s;
}

/* Every header of every subject: channels, shape and affine agree. */
static emim_status check_headers(emim_data *d, char *err, size_t errlen)
{
    for (int i = 0; i < d->n; i++) {
        subject *sb = &d->subj[i];
        emim_volume first, v;
        for (int f = 0; f < sb->nfiles; f++) {
            emim_volume *h = f ? &v : &first;
            emim_status s = emim_nifti_read(h, sb->files[f], 0, err, errlen);
            if (s) return s;
            if (!d->c.channels) d->c.channels = sb->nfiles == 1 ? h->nc : sb->nfiles; /* from the data */
            int want = sb->nfiles == 1 ? d->c.channels : 1;
            if (h->nc != want)
                return emim_fail(err, errlen, EMIM_ERR_IO, "%s: %d channel%s, expected %d%s", sb->files[f], h->nc,
                                 h->nc == 1 ? "" : "s", want,
                                 sb->nfiles == 1 ? " (the model's input channels)" : " (one modality per file)");
            if (f && !emim_volume_same_grid(&first, h)) {
                if (first.nx != h->nx || first.ny != h->ny || first.nz != h->nz)
                    return emim_fail(err, errlen, EMIM_ERR_IO, "subject %s: %s is %dx%dx%d but %s is %dx%dx%d",
                                     sb->name, sb->files[0], first.nx, first.ny, first.nz, sb->files[f], h->nx, h->ny,
                                     h->nz);
                return emim_fail(err, errlen, EMIM_ERR_IO, "subject %s: %s and %s have different affines",
                                 sb->name, sb->files[0], sb->files[f]);
            }
        }
        sb->dim[0] = first.nx;
        sb->dim[1] = first.ny;
        sb->dim[2] = first.nz;
        memcpy(sb->affine, first.affine, sizeof sb->affine);
    }
    return EMIM_OK;
}

emim_status emim_data_open(emim_data **out, const emim_data_config *c, char *err, size_t errlen)
{
    *out = NULL;
    if (c->channels < 0 || c->channels > 1024 || c->size[0] < 1 || c->size[1] < 1 || c->size[2] < 1)
        return emim_fail(err, errlen, EMIM_ERR_ARG, "data: bad channels (%d) or size (%dx%dx%d)", c->channels,
                         c->size[0], c->size[1], c->size[2]);
    if (!(c->p_lo >= 0 && c->p_lo < c->p_hi && c->p_hi <= 100))
        return emim_fail(err, errlen, EMIM_ERR_ARG, "data: percentiles %g and %g: need 0 <= low < high <= 100",
                         (double)c->p_lo, (double)c->p_hi);
    for (int a = 0; a < 3; a++)
        if (!(c->spacing[a] >= 0 && c->spacing[a] < 1e6))
            return emim_fail(err, errlen, EMIM_ERR_ARG, "data: bad spacing %g", (double)c->spacing[a]);
    if (c->threads < 0 || c->threads > 256 || c->depth < 1 || c->depth > 64)
        return emim_fail(err, errlen, EMIM_ERR_ARG, "data: threads 0 to 256, depth 1 to 64");
    emim_data *d = calloc(1, sizeof *d);
    if (!d) return emim_fail(err, errlen, EMIM_ERR_NOMEM, "out of memory");
    d->c = *c;
    d->c.path = d->c.modalities = NULL;
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    d->perm_epoch = UINT64_MAX;
    emim_status s = EMIM_OK;
    if (!c->path) {
        d->kind = "built-in phantom";
        if (!d->c.channels) d->c.channels = EMIM_PHANTOM_CONTRASTS;
        if (d->c.channels > EMIM_PHANTOM_CONTRASTS)
            s = emim_fail(err, errlen, EMIM_ERR_ARG, "the built-in phantom has %d contrasts; the model takes %d",
                          EMIM_PHANTOM_CONTRASTS, d->c.channels);
        if (!s) {
            *out = d;
            return EMIM_OK;
        }
        emim_data_close(d);
        return s;
    }
    d->path = dupstr(c->path);
    /* the modality list */
    const char *mods = c->modalities ? c->modalities : "t1n,t1c,t2w,t2f";
    char *copy = dupstr(mods);
    d->mods = calloc(strlen(mods) + 1, sizeof *d->mods);
    if (!d->path || !copy || !d->mods) s = emim_fail(err, errlen, EMIM_ERR_NOMEM, "out of memory");
    for (char *p = copy, *tok; !s && (tok = strsep(&p, ","));) {
        if (!*tok) s = emim_fail(err, errlen, EMIM_ERR_ARG, "--modalities '%s': an empty name", mods);
        else if (!(d->mods[d->nmods++] = dupstr(tok))) s = emim_fail(err, errlen, EMIM_ERR_NOMEM, "out of memory");
    }
    free(copy);
    struct stat st;
    if (!s && stat(d->path, &st) != 0)
        s = emim_fail(err, errlen, EMIM_ERR_IO, "%s: %s", d->path, strerror(errno));
    if (!s && S_ISDIR(st.st_mode)) {
        s = scan_folder(d, err, errlen);
        /* subject folders: one file per modality named */
        if (!s && d->n && !strcmp(d->kind, "BraTS-layout folder")) {
            if (!d->c.channels) d->c.channels = d->nmods;
            if (d->nmods != d->c.channels)
                s = emim_fail(err, errlen, EMIM_ERR_ARG, "--modalities '%s' names %d modalities; the model takes %d "
                              "channels", mods, d->nmods, d->c.channels);
        }
    } else if (!s) {
        /* a list: the modalities named, else the columns of its first line */
        if (!d->c.channels && c->modalities) d->c.channels = d->nmods;
        s = read_list(d, err, errlen);
    }
    if (!s && d->c.channels > 1024)
        s = emim_fail(err, errlen, EMIM_ERR_ARG, "%s: %d channels, more than 1024", d->path, d->c.channels);
    if (!s && d->n == 0)
        s = emim_fail(err, errlen, EMIM_ERR_IO, "%s: no subjects found", d->path);
    if (!s) s = check_headers(d, err, errlen);
    if (s) {
        emim_data_close(d);
        return s;
    }
    *out = d;
    return EMIM_OK;
}

static void stop_threads(emim_data *d)
{
    if (!d->th) return;
    pthread_mutex_lock(&d->mu);
    d->stop = 1;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    for (int i = 0; i < d->nth; i++) pthread_join(d->th[i], NULL);
    free(d->th);
    d->th = NULL;
    d->nth = 0;
    d->stop = 0;
}

static void free_slots(emim_data *d)
{
    if (d->slots)
        for (int i = 0; i < d->depth; i++) free(d->slots[i]);
    free(d->slots);
    free(d->done);
    d->slots = NULL;
    d->done = NULL;
}

void emim_data_close(emim_data *d)
{
    if (!d) return;
    stop_threads(d);
    free_slots(d);
    for (int i = 0; i < d->n; i++) {
        free(d->subj[i].name);
        free_list(d->subj[i].files, d->subj[i].nfiles);
        free(d->subj[i].data);
    }
    free(d->subj);
    for (int i = 0; i < d->nmods; i++) free(d->mods[i]);
    free(d->mods);
    free(d->perm);
    free(d->path);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    free(d);
}

int emim_data_subjects(const emim_data *d) { return d->n; }
int emim_data_channels(const emim_data *d) { return d->c.channels; }
const char *emim_data_subject(const emim_data *d, int i) { return i >= 0 && i < d->n ? d->subj[i].name : NULL; }
const char *emim_data_kind(const emim_data *d) { return d->kind; }

void emim_data_cache_stats(const emim_data *d, size_t *bytes, int *subjects)
{
    emim_data *m = (emim_data *)d;
    pthread_mutex_lock(&m->mu);
    if (bytes) *bytes = d->cache_used;
    if (subjects) *subjects = (int)d->cache_subjects;
    pthread_mutex_unlock(&m->mu);
}

/* ---- preparing a subject ---- */

static emim_status prepare(emim_data *d, const subject *sb, float **out, int od[3], double map[3][2], char *err,
                           size_t errlen)
{
    for (int a = 0; a < 3; a++) { map[a][0] = 1; map[a][1] = 0; }
    const int C = d->c.channels;
    int dim[3] = { sb->dim[0], sb->dim[1], sb->dim[2] };
    size_t nv = (size_t)dim[0] * dim[1] * dim[2];
    float *x = malloc((size_t)C * nv * sizeof *x), *scratch = malloc(nv * sizeof *scratch);
    uint8_t *fg = malloc(nv);
    float pix[3] = { 1, 1, 1 };
    emim_status s = x && scratch && fg ? EMIM_OK : emim_fail(err, errlen, EMIM_ERR_NOMEM, "subject %s: out of "
                                                             "memory", sb->name);
    for (int f = 0; !s && f < sb->nfiles; f++) {
        emim_volume v;
        s = emim_nifti_read(&v, sb->files[f], 1, err, errlen);
        if (s) break;
        if (v.nx != dim[0] || v.ny != dim[1] || v.nz != dim[2] || v.nc != (sb->nfiles == 1 ? C : 1))
            s = emim_fail(err, errlen, EMIM_ERR_IO, "%s: changed since the dataset was opened", sb->files[f]);
        else memcpy(x + (size_t)f * nv, v.data, (size_t)v.nc * nv * sizeof *x);
        memcpy(pix, v.pixdim, sizeof pix);
        emim_volume_free(&v);
    }
    if (!s) {
        emim_foreground(fg, x, C, nv);
        for (int c = 0; c < C; c++) emim_normalise(x + (size_t)c * nv, nv, fg, d->c.p_lo, d->c.p_hi, scratch);
    }
    if (!s && (d->c.spacing[0] > 0 || d->c.spacing[1] > 0 || d->c.spacing[2] > 0)) {
        int nd[3];
        for (int a = 0; a < 3 && !s; a++) {
            nd[a] = dim[a];
            if (d->c.spacing[a] <= 0) continue;
            if (!(pix[a] > 0 && isfinite(pix[a])))
                s = emim_fail(err, errlen, EMIM_ERR_IO, "%s: pixdim[%d] is %g: cannot resample", sb->files[0], a + 1,
                              (double)pix[a]);
            double n = round(dim[a] * (double)pix[a] / d->c.spacing[a]);
            nd[a] = n < 1 ? 1 : n > 4096 ? 4096 : (int)n;
        }
        size_t nn = (size_t)nd[0] * nd[1] * nd[2];
        float *y = s ? NULL : malloc((size_t)C * nn * sizeof *y);
        uint8_t *g = s ? NULL : realloc(fg, nn > nv ? nn : nv);
        if (g) fg = g;
        if (!s && (!y || !g)) s = emim_fail(err, errlen, EMIM_ERR_NOMEM, "subject %s: out of memory", sb->name);
        if (!s) {
            /* emim_resample aligns the outer edges: (i + 0.5) / nd = (i' + 0.5) / dim */
            for (int a = 0; a < 3; a++) {
                map[a][0] = (double)dim[a] / nd[a];
                map[a][1] = 0.5 * map[a][0] - 0.5;
            }
            emim_resample(y, nd, x, dim, C);
            free(x);
            x = y;
            memcpy(dim, nd, sizeof dim);
            nv = nn;
            emim_foreground(fg, x, C, nv);
        } else {
            free(y);
        }
    }
    if (!s && d->c.fg_crop) {
        int lo[3], hi[3];
        if (emim_foreground_box(fg, dim, lo, hi)) {
            int nd[3] = { hi[0] - lo[0] + 1, hi[1] - lo[1] + 1, hi[2] - lo[2] + 1 };
            float *y = malloc((size_t)C * nd[0] * nd[1] * nd[2] * sizeof *y);
            if (!y) s = emim_fail(err, errlen, EMIM_ERR_NOMEM, "subject %s: out of memory", sb->name);
            else {
                emim_crop_pad(y, nd, x, dim, C, lo);
                for (int a = 0; a < 3; a++) map[a][1] += map[a][0] * lo[a];
                free(x);
                x = y;
                memcpy(dim, nd, sizeof dim);
            }
        }
    }
    free(scratch);
    free(fg);
    if (s) {
        free(x);
        return s;
    }
    *out = x;
    memcpy(od, dim, sizeof dim);
    return EMIM_OK;
}

/* the subject's prepared volume: from the cache, or prepared now (and
 * cached when there is room; *owned then says the caller must free it) */
static emim_status get_subject(emim_data *d, int i, float **x, int dim[3], double map[3][2], int *owned, char *err,
                               size_t errlen)
{
    subject *sb = &d->subj[i];
    pthread_mutex_lock(&d->mu);
    while (sb->state == CACHE_LOADING) pthread_cond_wait(&d->cv, &d->mu);
    if (sb->state == CACHE_READY) {
        *x = sb->data;
        memcpy(dim, sb->dim, 3 * sizeof *dim);
        memcpy(map, sb->map, sizeof sb->map);
        *owned = 0;
        pthread_mutex_unlock(&d->mu);
        return EMIM_OK;
    }
    sb->state = CACHE_LOADING;
    pthread_mutex_unlock(&d->mu);
    int pd[3];
    emim_status s = prepare(d, sb, x, pd, map, err, errlen);
    pthread_mutex_lock(&d->mu);
    sb->state = CACHE_EMPTY;
    *owned = 1;
    if (!s) {
        size_t bytes = (size_t)d->c.channels * pd[0] * pd[1] * pd[2] * sizeof(float);
        if (d->cache_used + bytes <= d->c.cache_bytes) {
            sb->data = *x;
            memcpy(sb->dim, pd, sizeof pd);
            memcpy(sb->map, map, sizeof sb->map);
            sb->state = CACHE_READY;
            d->cache_used += bytes;
            d->cache_subjects++;
            *owned = 0;
        }
        memcpy(dim, pd, sizeof pd);
    }
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    return s;
}

/* the subject at position p of epoch e: a Fisher-Yates shuffle per epoch */
static int subject_of(emim_data *d, uint64_t e, uint64_t p)
{
    pthread_mutex_lock(&d->mu);
    if (d->perm_epoch != e) {
        if (!d->perm) d->perm = malloc((size_t)d->n * sizeof *d->perm);
        for (int i = 0; i < d->n; i++) d->perm[i] = i;
        for (int i = d->n - 1; i > 0; i--) {
            int j = (int)(rnd(d->c.seed, 0x7065726d, e, (uint64_t)i) % (uint64_t)(i + 1));
            int t = d->perm[i];
            d->perm[i] = d->perm[j];
            d->perm[j] = t;
        }
        d->perm_epoch = e;
    }
    int s = d->perm[p];
    pthread_mutex_unlock(&d->mu);
    return s;
}

static size_t sample_floats(const emim_data *d)
{
    return (size_t)d->c.channels * d->c.size[0] * d->c.size[1] * d->c.size[2];
}

/* Subject k's window into out: the centre (centre 1), or a window and flips
 * drawn for sample i; affine (when non-NULL) its voxel-to-world map. */
static emim_status window(emim_data *d, int k, uint64_t i, int centre, float *out, double affine[4][4], char *err,
                          size_t errlen)
{
    const int *S = d->c.size, C = d->c.channels;
    float *x;
    int dim[3], owned;
    double map[3][2];
    emim_status s = get_subject(d, k, &x, dim, map, &owned, err, errlen);
    if (s) return s;
    int start[3];
    for (int a = 0; a < 3; a++) {
        if (dim[a] > S[a])
            start[a] = d->c.random_crop && !centre
                           ? (int)(rnd(d->c.seed, 0x63726f70, i, (uint64_t)a) % (uint64_t)(dim[a] - S[a] + 1))
                           : (dim[a] - S[a]) / 2;
        else
            start[a] = -((S[a] - dim[a]) / 2);
    }
    emim_crop_pad(out, S, x, dim, C, start);
    if (d->c.flip && !centre)
        for (int a = 0; a < 3; a++)
            if (rnd(d->c.seed, 0x666c6970, i, (uint64_t)a) & 1) emim_flip(out, C, S, a);
    if (owned) free(x);
    if (affine) {
        /* window voxel w <- file voxel map[a][0] (w + start) + map[a][1], then the file's affine */
        const double (*A)[4] = (const double (*)[4])d->subj[k].affine;
        for (int r = 0; r < 4; r++) {
            double t = A[r][3];
            for (int a = 0; a < 3; a++) {
                affine[r][a] = A[r][a] * map[a][0];
                t += A[r][a] * (map[a][0] * start[a] + map[a][1]);
            }
            affine[r][3] = t;
        }
    }
    return EMIM_OK;
}

emim_status emim_data_sample(emim_data *d, uint64_t i, float *out, char *err, size_t errlen)
{
    const int *S = d->c.size, C = d->c.channels;
    if (!d->n) return emim_phantom(out, NULL, C, S[0], S[1], S[2], d->c.seed, i) == EMIM_OK
                          ? EMIM_OK
                          : emim_fail(err, errlen, EMIM_ERR_ARG, "the phantom needs sizes of at least 4");
    int k = subject_of(d, i / (uint64_t)d->n, i % (uint64_t)d->n);
    return window(d, k, i, 0, out, NULL, err, errlen);
}

emim_status emim_data_subject_window(emim_data *d, int k, float *out, double affine[4][4], char *err, size_t errlen)
{
    if (!d->n) return emim_fail(err, errlen, EMIM_ERR_ARG, "the built-in phantom has no subjects: name a sample");
    if (k < 0 || k >= d->n)
        return emim_fail(err, errlen, EMIM_ERR_ARG, "subject %d: the dataset has subjects 0 to %d", k, d->n - 1);
    return window(d, k, 0, 1, out, affine, err, errlen);
}

emim_status emim_data_mean(emim_data *d, int samples, float *mean, char *err, size_t errlen)
{
    if (samples < 1) return emim_fail(err, errlen, EMIM_ERR_ARG, "data mean: %d samples", samples);
    size_t n = sample_floats(d);
    double *acc = calloc(n, sizeof *acc);
    float *x = malloc(n * sizeof *x);
    emim_status s = acc && x ? EMIM_OK : emim_fail(err, errlen, EMIM_ERR_NOMEM, "data mean: out of memory");
    for (int i = 0; i < samples && !s; i++) {
        s = emim_data_sample(d, (uint64_t)i, x, err, errlen);
        for (size_t e = 0; e < n && !s; e++) acc[e] += x[e];
    }
    for (size_t e = 0; e < n && !s; e++) mean[e] = (float)(acc[e] / samples);
    free(acc);
    free(x);
    return s;
}

/* ---- background loading ---- */


static void *worker(void *arg)
{
    emim_data *d = arg;
    size_t vol = sample_floats(d);
    char e[1024];
    /* the loading threads are the data's parallelism: an OpenMP region
     * inside one (the phantom) must not start a second team beside the
     * compute's */
    omp_set_num_threads(1);
    pthread_mutex_lock(&d->mu);
    for (;;) {
        while (!d->stop && !d->failed && d->next_job >= (d->consumed + (uint64_t)d->depth) * (uint64_t)d->batch)
            pthread_cond_wait(&d->cv, &d->mu);
        if (d->stop || d->failed) break;
        uint64_t j = d->next_job++;
        pthread_mutex_unlock(&d->mu);
        uint64_t b = j / (uint64_t)d->batch, in = j % (uint64_t)d->batch;
        int slot = (int)(b % (uint64_t)d->depth);
        emim_status s = emim_data_sample(d, (d->first + b) * (uint64_t)d->stride + (uint64_t)d->lo + in, d->slots[slot] + in * vol, e,
                                         sizeof e);
        pthread_mutex_lock(&d->mu);
        if (s) { /* the slot stays incomplete: emim_data_next reports the error */
            if (!d->failed) snprintf(d->errmsg, sizeof d->errmsg, "%s", e);
            d->failed = 1;
        } else {
            d->done[slot]++;
        }
        pthread_cond_broadcast(&d->cv);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

emim_status emim_data_start(emim_data *d, int batch, uint64_t first, char *err, size_t errlen)
{
    return emim_data_start_share(d, batch, 0, batch, first, err, errlen);
}

emim_status emim_data_start_share(emim_data *d, int batch, int lo, int count, uint64_t first, char *err,
                                  size_t errlen)
{
    if (batch < 1 || lo < 0 || count < 1 || count > batch - lo)
        return emim_fail(err, errlen, EMIM_ERR_ARG, "data: samples %d .. %d of a batch of %d", lo, lo + count - 1,
                         batch);
    stop_threads(d);
    free_slots(d);
    d->stride = batch;
    d->lo = lo;
    batch = count;
    d->batch = batch;
    d->first = first;
    d->next_job = d->consumed = 0;
    d->failed = 0;
    d->errmsg[0] = 0;
    d->depth = d->c.depth;
    if (d->c.threads == 0) return EMIM_OK;
    d->slots = calloc((size_t)d->depth, sizeof *d->slots);
    d->done = calloc((size_t)d->depth, sizeof *d->done);
    int ok = d->slots && d->done;
    for (int i = 0; ok && i < d->depth; i++) ok = (d->slots[i] = malloc((size_t)batch * sample_floats(d) * sizeof(float))) != NULL;
    d->th = ok ? calloc((size_t)d->c.threads, sizeof *d->th) : NULL;
    if (!d->th) {
        free_slots(d);
        return emim_fail(err, errlen, EMIM_ERR_NOMEM, "data: out of memory for %d batches of %d samples", d->depth, batch);
    }
    for (int i = 0; i < d->c.threads; i++) {
        if (pthread_create(&d->th[i], NULL, worker, d)) {
            stop_threads(d);
            free_slots(d);
            return emim_fail(err, errlen, EMIM_ERR_IO, "data: cannot start a loading thread");
        }
        d->nth++;
    }
    return EMIM_OK;
}

emim_status emim_data_next(emim_data *d, float *out, double *wait_s, char *err, size_t errlen)
{
    size_t vol = sample_floats(d);
    double t0 = now_s();
    if (!d->batch) return emim_fail(err, errlen, EMIM_ERR_ARG, "data: emim_data_start was not called");
    if (!d->th) {
        uint64_t b = d->first + d->consumed;
        for (int k = 0; k < d->batch; k++) {
            emim_status s = emim_data_sample(d, b * (uint64_t)d->stride + (uint64_t)(d->lo + k), out + (size_t)k * vol, err, errlen);
            if (s) return s;
        }
        d->consumed++;
        if (wait_s) *wait_s = now_s() - t0;
        return EMIM_OK;
    }
    pthread_mutex_lock(&d->mu);
    int slot = (int)(d->consumed % (uint64_t)d->depth);
    while (d->done[slot] < d->batch && !d->failed) pthread_cond_wait(&d->cv, &d->mu);
    if (d->done[slot] < d->batch) {
        emim_status s = emim_fail(err, errlen, EMIM_ERR_IO, "%s", d->errmsg);
        pthread_mutex_unlock(&d->mu);
        return s;
    }
    pthread_mutex_unlock(&d->mu);
    if (wait_s) *wait_s = now_s() - t0;
    memcpy(out, d->slots[slot], (size_t)d->batch * vol * sizeof *out);
    pthread_mutex_lock(&d->mu);
    d->done[slot] = 0;
    d->consumed++;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    return EMIM_OK;
}
