/* safetensors.h — reading and writing safetensors files (8-byte little-endian header length,
 * a JSON header, raw little-endian data). The reader trusts nothing: the header length is
 * bounded and inside the file, every tensor's offsets lie inside the data and match its shape
 * and dtype, names are unique and tensors do not overlap. F32 and F64 data are read; models
 * accept only F32 (model.c says so by tensor name).
 *
 * wg_st_read reads the header alone and keeps the file open; wg_st_copy reads one tensor's bytes
 * from it straight into the caller's memory (pread), so a model's parameters are copied once,
 * not first into a buffer of the whole file. A file cut short after it was opened is an error
 * there, not a crash. */
#ifndef WG_SAFETENSORS_H
#define WG_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "waveglow.h"

#define WG_ST_MAX_HEADER ((size_t)64 << 20)
#define WG_ST_MAX_NAME 160
#define WG_ST_MAX_DIMS 8

typedef struct wg_st_tensor {
    char name[WG_ST_MAX_NAME];
    int ndim;
    size_t shape[WG_ST_MAX_DIMS];
    size_t numel;
    int elem_size;     /* 4 for F32, 8 for F64 */
    size_t begin, end; /* byte offsets into the data section */
} wg_st_tensor;

typedef struct wg_st_file {
    int fd;     /* open from wg_st_read to wg_st_close */
    char *path; /* for error messages */
    size_t size; /* the file's size when opened */
    size_t data_start; /* 8 + header length */
    int n_tensors;
    wg_st_tensor *tensors; /* sorted by name */
    char *config;          /* __metadata__["config"], or NULL when absent */
    int n_meta;
    char **meta; /* n_meta key, value pairs: meta[2i], meta[2i + 1] */
} wg_st_file;

/* __metadata__[key], or NULL. */
const char *wg_st_meta(const wg_st_file *st, const char *key);

int wg_st_read(const char *path, wg_st_file *st, wg_error *err);
void wg_st_close(wg_st_file *st);
const wg_st_tensor *wg_st_find(const wg_st_file *st, const char *name);
/* Reads a tensor's data into dst (numel floats), converting F64 to float32. WG_EIO when the
 * file cannot be read or ends early (it changed since wg_st_read). */
int wg_st_copy(const wg_st_file *st, const wg_st_tensor *t, float *dst, wg_error *err);
/* The same into doubles. */
int wg_st_copy_f64(const wg_st_file *st, const wg_st_tensor *t, double *dst, wg_error *err);

typedef struct wg_st_entry {
    const char *name;
    int ndim;
    size_t shape[WG_ST_MAX_DIMS];
    const float *data;
} wg_st_entry;

/* Writes tensors (in the given order) and __metadata__ atomically. meta is NULL or a list of key,
 * value strings ended by NULL: {"config", json, "step", "100", NULL}. */
int wg_st_write(const char *path, const wg_st_entry *entries, int n, const char *const *meta, wg_error *err);

#endif
