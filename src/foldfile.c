/* foldfile.c — see foldfile.h. */
#include "foldfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "condfold.h"
#include "err.h"
#include "safetensors.h"

/* floats of one flow's cond_fold: (2CL, 4·n_mel, R) in any grouping */
static size_t fold_floats(const wg_config *c) { return wg_cond_fold_floats(c) / (size_t)c->n_flows - wg_cond_fold_rows(c); }

static void hash_update(XXH3_state_t *s, const float *x, size_t n) { XXH3_64bits_update(s, x, n * sizeof(float)); }

uint64_t wg_fold_weights_hash(const wg_model *m) {
    const wg_config *c = &m->cfg;
    XXH3_state_t s;
    XXH3_64bits_reset(&s);
    /* the config's numbers the fold depends on; the tensors' sizes follow from them */
    int32_t shape[] = {c->n_mel_channels, c->n_group, c->hop_length, c->wn_n_channels, c->wn_n_layers, c->n_flows};
    size_t M = (size_t)c->n_mel_channels, MG = M * c->n_group, CL2 = wg_cond_fold_rows(c);
    XXH3_64bits_update(&s, shape, sizeof shape);
    hash_update(&s, m->upsample_w, M * M * 4 * (size_t)c->hop_length);
    hash_update(&s, m->upsample_b, M);
    for (int k = 0; k < c->n_flows; k++) {
        hash_update(&s, m->flows[k].cond_w, CL2 * MG);
        hash_update(&s, m->flows[k].cond_b, CL2);
    }
    return XXH3_64bits_digest(&s);
}

/* The "data" checksum: every flow's fold, then its bias, as the file holds them. */
static uint64_t data_hash(const wg_config *c, float *const *fold, float *const *fold_b) {
    XXH3_state_t s;
    XXH3_64bits_reset(&s);
    for (int k = 0; k < c->n_flows; k++) {
        hash_update(&s, fold[k], fold_floats(c));
        hash_update(&s, fold_b[k], wg_cond_fold_rows(c));
    }
    return XXH3_64bits_digest(&s);
}

int wg_model_save_fold(const wg_model *m, const char *path, wg_error *err) {
    const wg_config *c = &m->cfg;
    if (!wg_model_folded(m))
        return wg_fail(err, WG_EINVAL, "%s: the model holds no conditioning fold to save (fold it first)", path);
    int n = 2 * c->n_flows;
    size_t P = m->cond_fold_panel_cols, R = wg_cond_fold_phases(c), CL2 = wg_cond_fold_rows(c);
    wg_st_entry *e = calloc((size_t)n, sizeof *e);
    char(*names)[32] = calloc((size_t)n, sizeof *names);
    float **fold = calloc((size_t)n, sizeof *fold), **fold_b = fold + c->n_flows;
    char *config = wg_config_to_json(c);
    if (!e || !names || !fold || !config) {
        free(e), free(names), free(fold), free(config);
        return wg_fail(err, WG_ENOMEM, "%s: out of memory", path);
    }
    for (int k = 0; k < c->n_flows; k++) {
        wg_st_entry *f = &e[2 * k], *b = &e[2 * k + 1];
        snprintf(names[2 * k], sizeof names[0], "cond_fold.%d", k);
        snprintf(names[2 * k + 1], sizeof names[0], "cond_fold_b.%d", k);
        *f = (wg_st_entry){names[2 * k], 3, {CL2 * R / P, 4 * (size_t)c->n_mel_channels, P}, m->flows[k].cond_fold};
        *b = (wg_st_entry){names[2 * k + 1], 1, {CL2}, m->flows[k].cond_fold_b};
        fold[k] = m->flows[k].cond_fold, fold_b[k] = m->flows[k].cond_fold_b;
    }
    char weights[17], data[17], panel[24];
    snprintf(weights, sizeof weights, "%016llx", (unsigned long long)wg_fold_weights_hash(m));
    snprintf(data, sizeof data, "%016llx", (unsigned long long)data_hash(c, fold, fold_b));
    snprintf(panel, sizeof panel, "%zu", P);
    const char *meta[] = {"format",        WG_FOLD_FORMAT, "weights", weights, "data", data,
                          "panel_columns", panel,          "config",  config,  NULL};
    int rc = wg_st_write(path, e, n, meta, err);
    free(e), free(names), free(fold), free(config);
    return rc;
}

/* The tensor `name` of the shape given, F32 and float-aligned in the file: it, or NULL with
 * err set. */
static const wg_st_tensor *find_f32(const wg_st_file *st, const char *name, int ndim, const size_t *shape,
                                    wg_error *err) {
    const wg_st_tensor *t = wg_st_find(st, name);
    if (!t) {
        wg_fail(err, WG_EFORMAT, "%s: no tensor %s", st->path, name);
        return NULL;
    }
    int same = t->ndim == ndim && t->elem_size == 4 && (st->data_start + t->begin) % sizeof(float) == 0;
    for (int d = 0; same && d < ndim; d++)
        same = t->shape[d] == shape[d];
    if (!same) {
        wg_fail(err, WG_EFORMAT, "%s: %s is not F32 of the shape this model's fold has, or not aligned", st->path,
                name);
        return NULL;
    }
    return t;
}

int wg_model_load_fold(wg_model *m, const char *path, wg_error *err) {
    const wg_config *c = &m->cfg;
    if (!wg_cond_fold_supported(c))
        return wg_fail(err, WG_EUNSUPPORTED, "%s: this model's config has no conditioning fold", path);
    wg_st_file st;
    int rc = wg_st_read(path, &st, err);
    if (rc)
        return rc;
    const char *format = wg_st_meta(&st, "format"), *weights = wg_st_meta(&st, "weights");
    const char *data = wg_st_meta(&st, "data"), *panel_text = wg_st_meta(&st, "panel_columns");
    /* the files of the first layout, panels of whole rows, said how many: "group_rows" */
    const char *group_text = wg_st_meta(&st, "group_rows"), *layout = panel_text ? panel_text : group_text;
    char want[17], *end = NULL;
    snprintf(want, sizeof want, "%016llx", (unsigned long long)wg_fold_weights_hash(m));
    size_t R = wg_cond_fold_phases(c), CL2 = wg_cond_fold_rows(c);
    size_t P = layout ? strtoul(layout, &end, 10) * (panel_text ? 1 : R) : 0;
    float **fold = calloc(2 * (size_t)c->n_flows, sizeof *fold), **fold_b = fold + c->n_flows;
    const wg_st_tensor **t = calloc(2 * (size_t)c->n_flows, sizeof *t);
    char *base = MAP_FAILED;
    if (!fold || !t) {
        rc = wg_fail(err, WG_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    if (!format || strcmp(format, WG_FOLD_FORMAT) || !weights || !data || !layout) {
        rc = wg_fail(err, WG_EFORMAT, "%s: not a conditioning fold file (`waveglow fold` writes them)", path);
        goto done;
    }
    if (strcmp(weights, want)) {
        rc = wg_fail(err, WG_ECONFIG, "%s: built from another model's weights or config (rebuild it: waveglow fold)",
                     path);
        goto done;
    }
    if (!end || *end || !wg_cond_fold_panel_valid(c, P)) {
        rc = wg_fail(err, WG_EFORMAT, "%s: %s \"%s\" is no layout of this model's fold", path,
                     panel_text ? "panel_columns" : "group_rows", layout);
        goto done;
    }
    size_t fold_shape[] = {CL2 * R / P, 4 * (size_t)c->n_mel_channels, P};
    for (int k = 0; k < c->n_flows; k++) {
        char name[32];
        snprintf(name, sizeof name, "cond_fold.%d", k);
        if (!(t[2 * k] = find_f32(&st, name, 3, fold_shape, err))) {
            rc = WG_EFORMAT;
            goto done;
        }
        snprintf(name, sizeof name, "cond_fold_b.%d", k);
        if (!(t[2 * k + 1] = find_f32(&st, name, 1, &CL2, err))) {
            rc = WG_EFORMAT;
            goto done;
        }
    }
    base = mmap(NULL, st.size, PROT_READ, MAP_PRIVATE, st.fd, 0);
    if (base == MAP_FAILED) {
        rc = wg_fail(err, WG_EIO, "%s: cannot map it (%.0f MB)", path, st.size / 1e6);
        goto done;
    }
    for (int k = 0; k < c->n_flows; k++) {
        fold[k] = (float *)(base + st.data_start + t[2 * k]->begin);
        fold_b[k] = (float *)(base + st.data_start + t[2 * k + 1]->begin);
    }
    snprintf(want, sizeof want, "%016llx", (unsigned long long)data_hash(c, fold, fold_b));
    if (strcmp(data, want)) {
        rc = wg_fail(err, WG_EFORMAT, "%s: damaged (its data does not match its checksum)", path);
        goto done;
    }
    wg_model_unfold_cond(m);
    m->cond_fold_mem = (float *)base, m->cond_fold_map_bytes = st.size, base = MAP_FAILED;
    m->cond_fold_min_frames = WG_COND_FOLD_MIN_FRAMES;
    m->cond_fold_panel_cols = P;
    m->cond_fold_chunk_frames = wg_cond_fold_chunk_frames(c, P);
    for (int k = 0; k < c->n_flows; k++)
        m->flows[k].cond_fold = fold[k], m->flows[k].cond_fold_b = fold_b[k];
done:
    if (base != MAP_FAILED)
        munmap(base, st.size);
    free(fold), free(t);
    wg_st_close(&st);
    return rc;
}
