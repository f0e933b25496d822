/* safetensors reading and writing (src/data/safetensors.h). */
#include "data/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int set_err(char *err, size_t errlen, const char *path, const char *what)
{
    snprintf(err, errlen, "%s: %s", path, what);
    return 0;
}

/* ---- writing ---- */
static emim_status write_all(int fd, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return EMIM_ERR_IO;
        b += w;
        n -= (size_t)w;
    }
    return EMIM_OK;
}

emim_status emim_st_write(const char *path, const emim_st_out *t, int n, const char *const *keys,
                          const char *const *vals, int nmeta, char *err, size_t errlen)
{
    json_t *h = json_object(), *meta = json_object();
    int fail = !h || !meta;
    for (int i = 0; i < nmeta && !fail; i++) fail = json_object_set_new(meta, keys[i], json_string(vals[i]));
    if (!fail && nmeta) fail = json_object_set_new(h, "__metadata__", meta);
    else json_decref(meta);
    uint64_t at = 0;
    for (int i = 0; i < n && !fail; i++) {
        json_t *shape = json_array();
        uint64_t size = 1;
        for (int k = 0; k < t[i].ndim; k++) {
            json_array_append_new(shape, json_integer((json_int_t)t[i].shape[k]));
            size *= (uint64_t)t[i].shape[k];
        }
        json_t *e = json_pack("{s:s, s:o, s:[I, I]}", "dtype", "F32", "shape", shape, "data_offsets", (json_int_t)at,
                              (json_int_t)(at + size * 4));
        fail = !e || json_object_set_new(h, t[i].name, e);
        at += size * 4;
    }
    char *text = fail ? NULL : json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(h);
    if (!text) {
        set_err(err, errlen, path, "the safetensors header could not be made (out of memory, or a name is not UTF-8)");
        return EMIM_ERR_NOMEM;
    }
    size_t tn = strlen(text), hn = (tn + 7) / 8 * 8;
    unsigned char len[8];
    for (int k = 0; k < 8; k++) len[k] = (unsigned char)((uint64_t)hn >> (8 * k));
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
        free(text);
        return EMIM_ERR_IO;
    }
    emim_status s = write_all(fd, len, 8);
    if (!s) s = write_all(fd, text, tn);
    for (size_t k = tn; k < hn && !s; k++) s = write_all(fd, " ", 1);
    free(text);
    for (int i = 0; i < n && !s; i++) {
        size_t size = 1;
        for (int k = 0; k < t[i].ndim; k++) size *= (size_t)t[i].shape[k];
        s = write_all(fd, t[i].data, size * 4);
    }
    if (s) snprintf(err, errlen, "%s: write failed: %s", tmp, strerror(errno));
    if (fsync(fd) && !s) { snprintf(err, errlen, "%s: could not be flushed to disk: %s", tmp, strerror(errno)); s = EMIM_ERR_IO; }
    if (close(fd) && !s) { snprintf(err, errlen, "%s: could not be closed: %s", tmp, strerror(errno)); s = EMIM_ERR_IO; }
    if (!s && rename(tmp, path)) { snprintf(err, errlen, "%s: cannot rename into place: %s", path, strerror(errno)); s = EMIM_ERR_IO; }
    if (s) {
        unlink(tmp);
        return s;
    }
    /* the rename itself reaches the disk with the folder */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0; else snprintf(dir, sizeof dir, ".");
    int dfd = open(dir, O_RDONLY);
    if (dfd >= 0) { fsync(dfd); close(dfd); }
    return EMIM_OK;
}

/* ---- reading ---- */
struct emim_st {
    FILE *f;
    char *path;
    json_t *head;
    emim_st_tensor *t;
    int n;
    uint64_t data_at, data_len;
};

void emim_st_close(emim_st *s)
{
    if (!s) return;
    if (s->f) fclose(s->f);
    json_decref(s->head);
    free(s->t);
    free(s->path);
    free(s);
}

static int by_offset(const void *a, const void *b)
{
    const emim_st_tensor *x = a, *y = b;
    return x->b0 < y->b0 ? -1 : x->b0 > y->b0;
}

emim_status emim_st_open(emim_st **out, const char *path, char *err, size_t errlen)
{
    *out = NULL;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) { set_err(err, errlen, path, "a folder, not a safetensors file"); return EMIM_ERR_IO; }
    emim_st *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) { free(s); set_err(err, errlen, path, "out of memory"); return EMIM_ERR_NOMEM; }
    if (!(s->f = fopen(path, "rb"))) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        emim_st_close(s);
        return EMIM_ERR_IO;
    }
    fseek(s->f, 0, SEEK_END);
    long size = ftell(s->f);
    fseek(s->f, 0, SEEK_SET);
    unsigned char len[8];
    if (size < 10 || fread(len, 1, 8, s->f) != 8) {
        set_err(err, errlen, path, "not a safetensors file (too short)");
        emim_st_close(s);
        return EMIM_ERR_IO;
    }
    uint64_t hn = 0;
    for (int k = 0; k < 8; k++) hn |= (uint64_t)len[k] << (8 * k);
    if (hn < 2 || hn > EMIM_ST_MAX_HEADER) {
        snprintf(err, errlen, "%s: not a safetensors file (a header of %llu bytes; at most %u)", path,
                 (unsigned long long)hn, EMIM_ST_MAX_HEADER);
        emim_st_close(s);
        return EMIM_ERR_IO;
    }
    if (hn > (uint64_t)size - 8) {
        snprintf(err, errlen, "%s: truncated: the header needs %llu bytes, the file holds %ld", path,
                 (unsigned long long)hn, size - 8);
        emim_st_close(s);
        return EMIM_ERR_IO;
    }
    char *text = malloc(hn);
    if (!text || fread(text, 1, hn, s->f) != hn) {
        free(text);
        set_err(err, errlen, path, "the header could not be read");
        emim_st_close(s);
        return EMIM_ERR_IO;
    }
    json_error_t je;
    s->head = json_loadb(text, hn, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!json_is_object(s->head)) {
        snprintf(err, errlen, "%s: the header is not a JSON object (%s)", path, s->head ? "another JSON value" : je.text);
        emim_st_close(s);
        return EMIM_ERR_IO;
    }
    s->data_at = 8 + hn;
    s->data_len = (uint64_t)size - s->data_at;
    size_t cap = json_object_size(s->head);
    s->t = calloc(cap ? cap : 1, sizeof *s->t);
    if (!s->t) { set_err(err, errlen, path, "out of memory"); emim_st_close(s); return EMIM_ERR_NOMEM; }
    const char *key;
    json_t *v;
    json_object_foreach(s->head, key, v) {
        if (!strcmp(key, "__metadata__")) {
            const char *mk;
            json_t *mv;
            int ok = json_is_object(v);
            json_object_foreach(v, mk, mv) ok = ok && json_is_string(mv);
            if (!ok) { set_err(err, errlen, path, "__metadata__ is not a map of strings"); emim_st_close(s); return EMIM_ERR_IO; }
            continue;
        }
        emim_st_tensor *t = &s->t[s->n];
        t->name = key;
        const char *dtype = json_string_value(json_object_get(v, "dtype"));
        json_t *shape = json_object_get(v, "shape"), *offs = json_object_get(v, "data_offsets");
        if (!dtype || !json_is_array(shape) || !json_is_array(offs) || json_array_size(offs) != 2 ||
            json_array_size(shape) > EMIM_ST_MAX_DIMS) {
            snprintf(err, errlen, "%s: tensor '%.100s': no dtype, shape (at most %d dims) or data_offsets", path, key,
                     EMIM_ST_MAX_DIMS);
            emim_st_close(s);
            return EMIM_ERR_IO;
        }
        if (strcmp(dtype, "F32")) {
            snprintf(err, errlen, "%s: tensor '%.100s' is %.16s; libemim reads float32 (F32) only", path, key, dtype);
            emim_st_close(s);
            return EMIM_ERR_IO;
        }
        t->ndim = (int)json_array_size(shape);
        uint64_t n = 1;
        int bad = 0;
        for (int k = 0; k < t->ndim; k++) {
            json_t *d = json_array_get(shape, (size_t)k);
            json_int_t x = json_is_integer(d) ? json_integer_value(d) : -1;
            if (x < 0 || x > ((json_int_t)1 << 40) || (x && n > ((uint64_t)1 << 40) / (uint64_t)x)) bad = 1;
            else { t->shape[k] = x; n *= (uint64_t)x; }
        }
        json_t *o0 = json_array_get(offs, 0), *o1 = json_array_get(offs, 1);
        json_int_t b0 = json_is_integer(o0) ? json_integer_value(o0) : -1, b1 = json_is_integer(o1) ? json_integer_value(o1) : -1;
        if (bad || b0 < 0 || b1 < b0 || (uint64_t)(b1 - b0) != n * 4) {
            snprintf(err, errlen, "%s: tensor '%.100s': its shape and its byte range [%lld, %lld) disagree", path, key,
                     (long long)b0, (long long)b1);
            emim_st_close(s);
            return EMIM_ERR_IO;
        }
        if ((uint64_t)b1 > s->data_len) {
            snprintf(err, errlen, "%s: tensor '%.100s': its byte range [%lld, %lld) lies beyond the %llu bytes of "
                     "data: the file is truncated or its header lies", path, key, (long long)b0, (long long)b1,
                     (unsigned long long)s->data_len);
            emim_st_close(s);
            return EMIM_ERR_IO;
        }
        t->size = n;
        t->b0 = (uint64_t)b0;
        t->b1 = (uint64_t)b1;
        s->n++;
    }
    /* the ranges tile the data: no overlap, no hole, nothing after */
    emim_st_tensor *sorted = malloc((size_t)(s->n ? s->n : 1) * sizeof *sorted);
    if (!sorted) { set_err(err, errlen, path, "out of memory"); emim_st_close(s); return EMIM_ERR_NOMEM; }
    memcpy(sorted, s->t, (size_t)s->n * sizeof *sorted);
    qsort(sorted, (size_t)s->n, sizeof *sorted, by_offset);
    uint64_t at = 0;
    int ok = 1;
    for (int i = 0; i < s->n && ok; i++) {
        ok = sorted[i].b0 == at;
        at = sorted[i].b1;
    }
    free(sorted);
    if (!ok || at != s->data_len) {
        snprintf(err, errlen, "%s: the tensors' byte ranges overlap or leave gaps, or the data is truncated or has "
                 "trailing bytes (%llu bytes of data)", path, (unsigned long long)s->data_len);
        emim_st_close(s);
        return EMIM_ERR_IO;
    }
    *out = s;
    return EMIM_OK;
}

int emim_st_count(const emim_st *s) { return s->n; }
const emim_st_tensor *emim_st_get(const emim_st *s, int i) { return i >= 0 && i < s->n ? &s->t[i] : NULL; }

const emim_st_tensor *emim_st_find(const emim_st *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->t[i].name, name)) return &s->t[i];
    return NULL;
}

const char *emim_st_meta(const emim_st *s, const char *key)
{
    return json_string_value(json_object_get(json_object_get(s->head, "__metadata__"), key));
}

emim_status emim_st_read(emim_st *s, const emim_st_tensor *t, float *dst, char *err, size_t errlen)
{
    if (fseeko(s->f, (off_t)(s->data_at + t->b0), SEEK_SET) || fread(dst, 4, t->size, s->f) != t->size) {
        snprintf(err, errlen, "%s: tensor '%.100s' could not be read", s->path, t->name);
        return EMIM_ERR_IO;
    }
    return EMIM_OK;
}
