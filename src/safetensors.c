/* safetensors.c — see safetensors.h. */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "fileio.h"

#define WG_ST_MAX_FILE ((size_t)1 << 34) /* 16 GiB */

void wg_st_close(wg_st_file *st) {
    if (!st)
        return;
    if (st->path) /* set only while the file is open */
        close(st->fd);
    free(st->path);
    free(st->tensors);
    free(st->config);
    for (int i = 0; i < 2 * st->n_meta; i++)
        free(st->meta[i]);
    free(st->meta);
    memset(st, 0, sizeof *st);
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const wg_st_tensor *)a)->name, ((const wg_st_tensor *)b)->name);
}

static int by_begin(const void *a, const void *b) {
    const wg_st_tensor *x = *(const wg_st_tensor *const *)a, *y = *(const wg_st_tensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

/* A JSON number that is a non-negative integer below 2^53 (exactly representable). */
static int as_size(const cJSON *item, size_t *out) {
    if (!cJSON_IsNumber(item))
        return -1;
    double v = item->valuedouble;
    if (!isfinite(v) || v < 0 || v != floor(v) || v > 9007199254740992.0)
        return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_tensor(const char *path, const cJSON *item, size_t data_size, wg_st_tensor *t, wg_error *err) {
    const char *name = item->string;
    if (strlen(name) >= WG_ST_MAX_NAME)
        return wg_fail(err, WG_EFORMAT, "%s: tensor name \"%.40s...\" is too long", path, name);
    snprintf(t->name, sizeof t->name, "%s", name);
    if (!cJSON_IsObject(item))
        return wg_fail(err, WG_EFORMAT, "%s: tensor \"%s\" is not an object", path, name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs))
        return wg_fail(err, WG_EFORMAT, "%s: tensor \"%s\" needs string dtype, array shape and array data_offsets",
                       path, name);
    if (!strcmp(dtype->valuestring, "F32"))
        t->elem_size = 4;
    else if (!strcmp(dtype->valuestring, "F64"))
        t->elem_size = 8;
    else
        return wg_fail(err, WG_EUNSUPPORTED, "%s: tensor \"%s\" has dtype %.16s; only F32 (and F64) are supported",
                       path, name, dtype->valuestring);
    int nd = cJSON_GetArraySize(shape);
    if (nd > WG_ST_MAX_DIMS)
        return wg_fail(err, WG_EFORMAT, "%s: tensor \"%s\" has %d dimensions (at most %d)", path, name, nd,
                       WG_ST_MAX_DIMS);
    t->ndim = nd;
    t->numel = 1;
    for (int i = 0; i < nd; i++) {
        size_t d;
        if (as_size(cJSON_GetArrayItem(shape, i), &d) || d > WG_ST_MAX_FILE)
            return wg_fail(err, WG_EFORMAT, "%s: tensor \"%s\" has a bad shape entry", path, name);
        t->shape[i] = d;
        if (d && t->numel > WG_ST_MAX_FILE / d)
            return wg_fail(err, WG_EFORMAT, "%s: tensor \"%s\" is too large", path, name);
        t->numel *= d;
    }
    if (cJSON_GetArraySize(offs) != 2 || as_size(cJSON_GetArrayItem(offs, 0), &t->begin) ||
        as_size(cJSON_GetArrayItem(offs, 1), &t->end))
        return wg_fail(err, WG_EFORMAT, "%s: tensor \"%s\" data_offsets must be [begin, end]", path, name);
    if (t->begin > t->end || t->end > data_size)
        return wg_fail(err, WG_EFORMAT, "%s: tensor \"%s\" data_offsets [%zu, %zu] lie outside the %zu data bytes",
                       path, name, t->begin, t->end, data_size);
    if (t->end - t->begin != t->numel * (size_t)t->elem_size)
        return wg_fail(err, WG_EFORMAT, "%s: tensor \"%s\" spans %zu bytes but its shape needs %zu", path, name,
                       t->end - t->begin, t->numel * (size_t)t->elem_size);
    return 0;
}

/* Reads n bytes at offset off; a short count means the file ended early. */
static int read_at(const wg_st_file *st, void *dst, size_t n, size_t off, wg_error *err) {
    unsigned char *p = dst;
    while (n) {
        ssize_t got = pread(st->fd, p, n, (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return wg_fail(err, WG_EIO, "%s: read error: %s", st->path, strerror(errno));
        if (got == 0)
            return wg_fail(err, WG_EIO, "%s: the file ended early (it was cut short or changed while open)", st->path);
        p += got, n -= (size_t)got, off += (size_t)got;
    }
    return 0;
}

int wg_st_read(const char *path, wg_st_file *st, wg_error *err) {
    memset(st, 0, sizeof *st);
    size_t size;
    int rc = wg_open_regular(path, WG_ST_MAX_FILE, &st->fd, &size, err);
    if (rc)
        return rc;
    if (!(st->path = strdup(path))) {
        close(st->fd);
        return wg_fail(err, WG_ENOMEM, "%s: out of memory", path);
    }
    st->size = size;
    cJSON *root = NULL;
    wg_st_tensor **order = NULL;
    char *header = NULL;
    unsigned char len8[8];
    if (size < 8) {
        rc = wg_fail(err, WG_EFORMAT, "%s: %zu bytes is too short for a safetensors file", path, size);
        goto done;
    }
    if ((rc = read_at(st, len8, 8, 0, err)))
        goto done;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | len8[i];
    if (hlen < 2 || hlen > WG_ST_MAX_HEADER || hlen > size - 8) {
        rc = wg_fail(err, WG_EFORMAT, "%s: header length %llu is impossible for a %zu-byte file (not safetensors?)",
                     path, (unsigned long long)hlen, size);
        goto done;
    }
    st->data_start = 8 + (size_t)hlen;
    size_t data_size = size - st->data_start;
    if (!(header = malloc((size_t)hlen))) {
        rc = wg_fail(err, WG_ENOMEM, "%s: out of memory for a %llu-byte header", path, (unsigned long long)hlen);
        goto done;
    }
    if ((rc = read_at(st, header, (size_t)hlen, 8, err)))
        goto done;
    root = cJSON_ParseWithLength(header, (size_t)hlen);
    if (!root || !cJSON_IsObject(root)) {
        rc = wg_fail(err, WG_EFORMAT, "%s: the header is not a JSON object", path);
        goto done;
    }
    int n = 0;
    for (const cJSON *it = root->child; it; it = it->next)
        if (strcmp(it->string, "__metadata__") != 0)
            n++;
    st->tensors = calloc((size_t)(n ? n : 1), sizeof *st->tensors);
    order = calloc((size_t)(n ? n : 1), sizeof *order);
    if (!st->tensors || !order) {
        rc = wg_fail(err, WG_ENOMEM, "%s: out of memory for %d tensors", path, n);
        goto done;
    }
    for (const cJSON *it = root->child; it; it = it->next) {
        if (strcmp(it->string, "__metadata__") == 0) {
            if (!cJSON_IsObject(it)) {
                rc = wg_fail(err, WG_EFORMAT, "%s: __metadata__ must be an object of strings", path);
                goto done;
            }
            int nm = cJSON_GetArraySize(it);
            st->meta = calloc((size_t)(2 * nm + 1), sizeof *st->meta);
            if (!st->meta) {
                rc = wg_fail(err, WG_ENOMEM, "%s: out of memory", path);
                goto done;
            }
            for (const cJSON *kv = it->child; kv; kv = kv->next) {
                if (!cJSON_IsString(kv))
                    continue;
                st->meta[2 * st->n_meta] = strdup(kv->string);
                st->meta[2 * st->n_meta + 1] = strdup(kv->valuestring);
                st->n_meta++;
                if (!st->meta[2 * st->n_meta - 2] || !st->meta[2 * st->n_meta - 1]) {
                    rc = wg_fail(err, WG_ENOMEM, "%s: out of memory", path);
                    goto done;
                }
            }
            const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(it, "config");
            if (cfg && !cJSON_IsString(cfg)) {
                rc = wg_fail(err, WG_EFORMAT, "%s: __metadata__[\"config\"] must be a JSON string", path);
                goto done;
            }
            if (cfg && !(st->config = strdup(cfg->valuestring))) {
                rc = wg_fail(err, WG_ENOMEM, "%s: out of memory", path);
                goto done;
            }
            continue;
        }
        if ((rc = parse_tensor(path, it, data_size, &st->tensors[st->n_tensors], err)))
            goto done;
        st->n_tensors++;
    }
    qsort(st->tensors, (size_t)st->n_tensors, sizeof *st->tensors, by_name);
    for (int i = 1; i < st->n_tensors; i++)
        if (!strcmp(st->tensors[i].name, st->tensors[i - 1].name)) {
            rc = wg_fail(err, WG_EFORMAT, "%s: tensor \"%s\" appears twice", path, st->tensors[i].name);
            goto done;
        }
    for (int i = 0; i < st->n_tensors; i++)
        order[i] = &st->tensors[i];
    qsort(order, (size_t)st->n_tensors, sizeof *order, by_begin);
    for (int i = 1; i < st->n_tensors; i++)
        if (order[i]->begin < order[i - 1]->end) {
            rc = wg_fail(err, WG_EFORMAT, "%s: tensors \"%s\" and \"%s\" overlap", path, order[i - 1]->name,
                         order[i]->name);
            goto done;
        }
done:
    cJSON_Delete(root);
    free(header);
    free(order);
    if (rc)
        wg_st_close(st);
    return rc;
}

const char *wg_st_meta(const wg_st_file *st, const char *key) {
    for (int i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta[2 * i], key))
            return st->meta[2 * i + 1];
    return NULL;
}

const wg_st_tensor *wg_st_find(const wg_st_file *st, const char *name) {
    wg_st_tensor key;
    snprintf(key.name, sizeof key.name, "%s", name);
    return bsearch(&key, st->tensors, (size_t)st->n_tensors, sizeof key, by_name);
}

/* t's values into dst as float (out_size 4) or double (8); a conversion goes through a chunk */
static int read_tensor(const wg_st_file *st, const wg_st_tensor *t, void *dst, size_t out_size, wg_error *err) {
    size_t off = st->data_start + t->begin, in_size = (size_t)t->elem_size;
    if (in_size == out_size)
        return read_at(st, dst, t->numel * out_size, off, err);
    unsigned char chunk[8192];
    for (size_t i = 0, per = sizeof chunk / in_size; i < t->numel; i += per) {
        size_t n = t->numel - i < per ? t->numel - i : per;
        int rc = read_at(st, chunk, n * in_size, off + i * in_size, err);
        if (rc)
            return rc;
        for (size_t j = 0; j < n; j++) {
            float f;
            double v;
            if (in_size == 8)
                memcpy(&v, chunk + 8 * j, 8);
            else
                memcpy(&f, chunk + 4 * j, 4), v = f;
            if (out_size == 4)
                ((float *)dst)[i + j] = (float)v;
            else
                ((double *)dst)[i + j] = v;
        }
    }
    return 0;
}

int wg_st_copy(const wg_st_file *st, const wg_st_tensor *t, float *dst, wg_error *err) {
    return read_tensor(st, t, dst, sizeof *dst, err);
}

int wg_st_copy_f64(const wg_st_file *st, const wg_st_tensor *t, double *dst, wg_error *err) {
    return read_tensor(st, t, dst, sizeof *dst, err);
}

int wg_st_write(const char *path, const wg_st_entry *e, int n, const char *const *meta, wg_error *err) {
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return wg_fail(err, WG_ENOMEM, "%s: out of memory", path);
    if (meta && meta[0]) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        if (!m)
            goto oom;
        for (int i = 0; meta[i] && meta[i + 1]; i += 2)
            if (!cJSON_AddStringToObject(m, meta[i], meta[i + 1]))
                goto oom;
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *t = cJSON_AddObjectToObject(root, e[i].name);
        if (!t || !cJSON_AddStringToObject(t, "dtype", "F32"))
            goto oom;
        cJSON *shape = cJSON_AddArrayToObject(t, "shape"), *offs = cJSON_AddArrayToObject(t, "data_offsets");
        if (!shape || !offs)
            goto oom;
        size_t numel = 1;
        for (int d = 0; d < e[i].ndim; d++) {
            numel *= e[i].shape[d];
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)e[i].shape[d]));
        }
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        off += numel * sizeof(float);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
    }
    char *header = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!header)
        return wg_fail(err, WG_ENOMEM, "%s: out of memory", path);
    size_t hlen = strlen(header), padded = (hlen + 7) / 8 * 8;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)(padded >> (8 * i));
    wg_atomic_file af;
    int rc = wg_atomic_open(path, &af, err);
    if (!rc)
        rc = wg_atomic_write(&af, len8, 8, err);
    if (!rc)
        rc = wg_atomic_write(&af, header, hlen, err);
    if (!rc)
        rc = wg_atomic_write(&af, "        ", padded - hlen, err);
    for (int i = 0; i < n && !rc; i++) {
        size_t numel = 1;
        for (int d = 0; d < e[i].ndim; d++)
            numel *= e[i].shape[d];
        rc = wg_atomic_write(&af, e[i].data, numel * sizeof(float), err);
    }
    free(header);
    if (rc) {
        wg_atomic_abort(&af);
        return rc;
    }
    return wg_atomic_commit(&af, err);
oom:
    cJSON_Delete(root);
    return wg_fail(err, WG_ENOMEM, "%s: out of memory", path);
}
