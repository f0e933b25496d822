/* safetensors files (an 8-byte little-endian header length, a JSON header
 * naming each tensor's dtype, shape and byte range, then the data), read
 * and written for float32 tensors through jansson. Reading validates the
 * header before any data is touched: its size (at most 64 MiB and within
 * the file), JSON without duplicate names, every tensor float32 with a
 * shape whose size matches its byte range, ranges inside the data, not
 * overlapping, and covering it. Shared by checkpoints and the MONAI
 * export and import. Not installed. */
#ifndef EMIM_SAFETENSORS_H
#define EMIM_SAFETENSORS_H

#include "emim.h"

#include <stdint.h>

#define EMIM_ST_MAX_DIMS 8
#define EMIM_ST_MAX_HEADER (64u << 20)

/* ---- writing ---- */
typedef struct {
    const char *name;
    int ndim;
    int64_t shape[EMIM_ST_MAX_DIMS];
    const float *data;           /* host, size = the shape's product */
} emim_st_out;
/* Writes the tensors (in order) with the metadata (string pairs: keys[i],
 * vals[i]) to PATH.tmp, flushes it and renames it onto PATH. */
emim_status emim_st_write(const char *path, const emim_st_out *t, int n, const char *const *keys,
                          const char *const *vals, int nmeta, char *err, size_t errlen);

/* ---- reading ---- */
typedef struct {
    const char *name;
    int ndim;
    int64_t shape[EMIM_ST_MAX_DIMS];
    uint64_t size;               /* floats */
    uint64_t b0, b1;             /* byte range in the data */
} emim_st_tensor;
typedef struct emim_st emim_st;
emim_status emim_st_open(emim_st **out, const char *path, char *err, size_t errlen);
void emim_st_close(emim_st *s);
int emim_st_count(const emim_st *s);
const emim_st_tensor *emim_st_get(const emim_st *s, int i);
const emim_st_tensor *emim_st_find(const emim_st *s, const char *name);
/* the metadata's value for key, or NULL */
const char *emim_st_meta(const emim_st *s, const char *key);
/* A tensor's values into dst (t->size floats). */
emim_status emim_st_read(emim_st *s, const emim_st_tensor *t, float *dst, char *err, size_t errlen);

#endif
