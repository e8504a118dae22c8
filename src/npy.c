/* npy.c — NumPy .npy files: read float32/float64 (C or Fortran order) into float32 C order,
 * write float32 C order. The header is a Python dict literal; we parse only the three keys numpy
 * writes ('descr', 'fortran_order', 'shape') and reject anything we do not understand. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "fileio.h"

#define NPY_MAX_BYTES ((size_t)1 << 36) /* 64 GiB: a sanity bound, not a memory plan */

size_t wg_array_numel(const wg_array *a) {
    size_t n = 1;
    for (int i = 0; i < a->ndim; i++)
        n *= a->shape[i];
    return n;
}

void wg_array_free(wg_array *a) {
    if (!a)
        return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* Finds 'key': in the dict text and returns a pointer just past the colon and spaces. */
static const char *dict_value(const char *dict, const char *key) {
    char quoted[32];
    snprintf(quoted, sizeof quoted, "'%s'", key);
    const char *p = strstr(dict, quoted);
    if (!p)
        return NULL;
    p += strlen(quoted);
    while (isspace((unsigned char)*p))
        p++;
    if (*p != ':')
        return NULL;
    p++;
    while (isspace((unsigned char)*p))
        p++;
    return p;
}

static int parse_header(const char *path, const char *dict, int *is_f8, int *fortran, wg_array *out, wg_error *err) {
    const char *v = dict_value(dict, "descr");
    if (!v)
        return wg_fail(err, WG_EFORMAT, "%s: .npy header has no 'descr'", path);
    if (!strncmp(v, "'<f4'", 5) || !strncmp(v, "'f4'", 4))
        *is_f8 = 0;
    else if (!strncmp(v, "'<f8'", 5) || !strncmp(v, "'f8'", 4))
        *is_f8 = 1;
    else {
        char got[16] = {0};
        for (int i = 0; i < 15 && v[i] && v[i] != ',' && v[i] != '}'; i++)
            got[i] = v[i];
        return wg_fail(err, WG_EUNSUPPORTED,
                       "%s: .npy dtype %s is not supported (need little-endian float32 "
                       "'<f4' or float64 '<f8')",
                       path, got);
    }
    v = dict_value(dict, "fortran_order");
    if (!v)
        return wg_fail(err, WG_EFORMAT, "%s: .npy header has no 'fortran_order'", path);
    if (!strncmp(v, "True", 4))
        *fortran = 1;
    else if (!strncmp(v, "False", 5))
        *fortran = 0;
    else
        return wg_fail(err, WG_EFORMAT, "%s: .npy 'fortran_order' is neither True nor False", path);
    v = dict_value(dict, "shape");
    if (!v || *v != '(')
        return wg_fail(err, WG_EFORMAT, "%s: .npy header has no 'shape' tuple", path);
    v++;
    out->ndim = 0;
    for (;;) {
        while (isspace((unsigned char)*v))
            v++;
        if (*v == ')')
            break;
        if (!isdigit((unsigned char)*v))
            return wg_fail(err, WG_EFORMAT, "%s: .npy 'shape' is malformed", path);
        if (out->ndim == WG_NPY_MAX_DIMS)
            return wg_fail(err, WG_EUNSUPPORTED, "%s: .npy has more than %d dimensions", path, WG_NPY_MAX_DIMS);
        errno = 0;
        char *end;
        unsigned long long d = strtoull(v, &end, 10);
        if (errno || d > ((size_t)1 << 40))
            return wg_fail(err, WG_EFORMAT, "%s: .npy dimension too large", path);
        out->shape[out->ndim++] = (size_t)d;
        v = end;
        while (isspace((unsigned char)*v))
            v++;
        if (*v == ',')
            v++;
        else if (*v != ')')
            return wg_fail(err, WG_EFORMAT, "%s: .npy 'shape' is malformed", path);
    }
    size_t numel = 1;
    for (int i = 0; i < out->ndim; i++) {
        if (out->shape[i] && numel > NPY_MAX_BYTES / out->shape[i])
            return wg_fail(err, WG_EFORMAT, "%s: .npy shape needs more than %zu bytes", path, NPY_MAX_BYTES);
        numel *= out->shape[i];
    }
    if (*fortran && out->ndim > 2)
        return wg_fail(err, WG_EUNSUPPORTED,
                       "%s: Fortran-order .npy with %d dimensions is not supported; save it "
                       "with numpy.ascontiguousarray",
                       path, out->ndim);
    return 0;
}

int wg_npy_read(const char *path, wg_array *out, wg_error *err) {
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return wg_fail(err, WG_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        return wg_fail(err, WG_EIO, "%s: not a regular file", path);
    }
    int rc = 0;
    char *dict = NULL;
    void *raw = NULL;
    unsigned char pre[12];
    if (fread(pre, 1, 10, fp) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        rc = wg_fail(err, WG_EFORMAT, "%s: not a .npy file (bad magic)", path);
        goto done;
    }
    size_t hlen, pre_len;
    if (pre[6] == 1) {
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
        pre_len = 10;
    } else if (pre[6] == 2 || pre[6] == 3) {
        if (fread(pre + 10, 1, 2, fp) != 2) {
            rc = wg_fail(err, WG_EFORMAT, "%s: truncated .npy header", path);
            goto done;
        }
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
        pre_len = 12;
    } else {
        rc = wg_fail(err, WG_EUNSUPPORTED, "%s: .npy format version %d.%d is not supported", path, pre[6], pre[7]);
        goto done;
    }
    if (hlen > (1u << 20) || pre_len + hlen > (size_t)st.st_size) {
        rc = wg_fail(err, WG_EFORMAT, "%s: .npy header length %zu runs past the end of the file", path, hlen);
        goto done;
    }
    dict = malloc(hlen + 1);
    if (!dict || fread(dict, 1, hlen, fp) != hlen) {
        rc = wg_fail(err, dict ? WG_EFORMAT : WG_ENOMEM, "%s: cannot read the .npy header", path);
        goto done;
    }
    dict[hlen] = '\0';
    int is_f8 = 0, fortran = 0;
    if ((rc = parse_header(path, dict, &is_f8, &fortran, out, err)))
        goto done;
    size_t n = wg_array_numel(out), esize = is_f8 ? 8 : 4;
    size_t have = (size_t)st.st_size - pre_len - hlen;
    if (n > NPY_MAX_BYTES / esize || n * esize != have) {
        rc = wg_fail(err, WG_EFORMAT, "%s: .npy data is %zu bytes but its shape needs %zu", path, have, n * esize);
        goto done;
    }
    raw = malloc(n * esize + 1);
    out->data = malloc(n * sizeof(float) + 1);
    if (!raw || !out->data) {
        rc = wg_fail(err, WG_ENOMEM, "%s: out of memory for %zu values", path, n);
        goto done;
    }
    if (fread(raw, esize, n, fp) != n) {
        rc = wg_fail(err, WG_EIO, "%s: read error in .npy data", path);
        goto done;
    }
    /* Fortran order of an (a, b) array is the C order of its (b, a) transpose. */
    size_t rows = out->ndim == 2 ? out->shape[0] : 1, cols = out->ndim == 2 ? out->shape[1] : n;
    for (size_t i = 0; i < n; i++) {
        size_t src = i;
        if (fortran && out->ndim == 2)
            src = (i % cols) * rows + i / cols;
        double x;
        if (is_f8) {
            memcpy(&x, (char *)raw + src * 8, 8);
        } else {
            float f;
            memcpy(&f, (char *)raw + src * 4, 4);
            x = f;
        }
        out->data[i] = (float)x;
    }
done:
    fclose(fp);
    free(dict);
    free(raw);
    if (rc)
        wg_array_free(out);
    return rc;
}

int wg_npy_write(const char *path, const float *data, int ndim, const size_t *shape, wg_error *err) {
    if (ndim < 0 || ndim > WG_NPY_MAX_DIMS)
        return wg_fail(err, WG_EINVAL, "%s: bad number of dimensions", path);
    char dict[512];
    int len = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        len +=
            snprintf(dict + len, sizeof dict - (size_t)len, "%zu,%s", shape[i], (ndim > 1 && i < ndim - 1) ? " " : "");
        n *= shape[i];
    }
    if (ndim > 1)
        len--; /* numpy writes (3, 4) but (3,) */
    len += snprintf(dict + len, sizeof dict - (size_t)len, "), }");
    /* Pad with spaces so magic + length + dict + '\n' is a multiple of 64 (numpy's alignment). */
    size_t pre_len = 10, total = pre_len + (size_t)len + 1;
    size_t padded = (total + 63) / 64 * 64;
    size_t hlen = padded - pre_len;
    unsigned char pre[10] = {
        0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
    char header[640];
    memset(header, ' ', sizeof header);
    memcpy(header, dict, (size_t)len);
    header[hlen - 1] = '\n';

    wg_atomic_file af;
    int rc = wg_atomic_open(path, &af, err);
    if (rc)
        return rc;
    if ((rc = wg_atomic_write(&af, pre, sizeof pre, err)) || (rc = wg_atomic_write(&af, header, hlen, err)) ||
        (rc = wg_atomic_write(&af, data, n * sizeof(float), err))) {
        wg_atomic_abort(&af);
        return rc;
    }
    return wg_atomic_commit(&af, err);
}
