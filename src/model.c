/* model.c — loading a model file into the params.h layout with strict checks, folding weight
 * norm (weight = g · v / ||v||, the norm over every dimension but the output channel), deriving
 * what synthesis needs once, and the model's size, receptive field and cost. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "condfold.h"
#include "err.h"
#include "hugealloc.h"
#include "linalg.h"
#include "safetensors.h"
#include "wavenet.h"

static void shape_str(char *buf, size_t n, const size_t *shape, int ndim) {
    int len = snprintf(buf, n, "(");
    for (int i = 0; i < ndim; i++)
        len += snprintf(buf + len, n - (size_t)len, i ? ", %zu" : "%zu", shape[i]);
    snprintf(buf + len, n - (size_t)len, ndim == 1 ? ",)" : ")");
}

static int check_shape(const char *path, const wg_st_tensor *t, int ndim, const size_t *shape, const char *what,
                       wg_error *err) {
    if (t->elem_size != 4)
        return wg_fail(err, WG_EUNSUPPORTED, "%s: tensor \"%s\"%s is F64; model tensors must be F32", path, t->name,
                       what);
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = t->shape[i] == shape[i];
    if (ok)
        return 0;
    char got[128], want[128];
    shape_str(got, sizeof got, t->shape, t->ndim);
    shape_str(want, sizeof want, shape, ndim);
    return wg_fail(err, WG_ECONFIG, "%s: tensor \"%s\"%s has shape %s, but the config implies %s", path, t->name, what,
                   got, want);
}

/* Fills p's slot in params from `name`, or from name_g / name_v when the file keeps weight norm. */
static int load_param(const char *path, const wg_st_file *st, const wg_param *p, float *params, char *used,
                      wg_error *err) {
    const wg_st_tensor *t = wg_st_find(st, p->name);
    float *dst = params + p->offset;
    if (t) {
        int rc = check_shape(path, t, p->ndim, p->shape, "", err);
        if (rc || (rc = wg_st_copy(st, t, dst, err)))
            return rc;
        used[t - st->tensors] = 1;
        return 0;
    }
    char gname[96], vname[96];
    size_t len = strlen(p->name);
    if (p->weight_norm && len > 7 && !strcmp(p->name + len - 7, ".weight")) {
        snprintf(gname, sizeof gname, "%s_g", p->name);
        snprintf(vname, sizeof vname, "%s_v", p->name);
        const wg_st_tensor *g = wg_st_find(st, gname), *v = wg_st_find(st, vname);
        if (g && v) {
            size_t gshape[3] = {p->shape[0], 1, 1};
            int rc = check_shape(path, v, p->ndim, p->shape, " (weight norm direction)", err);
            if (!rc)
                rc = check_shape(path, g, p->ndim, gshape, " (weight norm magnitude)", err);
            if (rc)
                return rc;
            float *gv = malloc(sizeof(float) * p->shape[0]);
            if (!gv)
                return wg_fail(err, WG_ENOMEM, "%s: out of memory", path);
            if ((rc = wg_st_copy(st, v, dst, err)) || (rc = wg_st_copy(st, g, gv, err))) {
                free(gv);
                return rc;
            }
            size_t row = p->numel / p->shape[0];
            for (size_t o = 0; o < p->shape[0]; o++) {
                double norm = 0;
                for (size_t i = 0; i < row; i++)
                    norm += (double)dst[o * row + i] * dst[o * row + i];
                norm = sqrt(norm);
                double scale = norm > 0 ? gv[o] / norm : 0.0;
                for (size_t i = 0; i < row; i++)
                    dst[o * row + i] = (float)(dst[o * row + i] * scale);
            }
            free(gv);
            used[g - st->tensors] = used[v - st->tensors] = 1;
            return 0;
        }
        return wg_fail(err, WG_ECONFIG, "%s: tensor \"%s\" is missing (nor are \"%s\" and \"%s\" present)", path,
                       p->name, gname, vname);
    }
    return wg_fail(err, WG_ECONFIG, "%s: tensor \"%s\" is missing", path, p->name);
}

int wg_model_load(const char *path, wg_model **out, wg_error *err) {
    *out = NULL;
    wg_st_file st;
    int rc = wg_st_read(path, &st, err);
    if (rc)
        return rc;
    wg_config cfg;
    wg_param_table table = {0};
    float *params = NULL;
    char *used = NULL;
    if (!st.config) {
        rc = wg_fail(err, WG_ECONFIG, "%s: no __metadata__[\"config\"]; a model file carries its config", path);
        goto done;
    }
    char source[4200];
    snprintf(source, sizeof source, "%s (embedded config)", path);
    if ((rc = wg_config_parse(st.config, source, &cfg, err)))
        goto done;
    if ((rc = wg_param_table_build(&cfg, &table))) {
        rc = wg_fail(err, rc, "%s: out of memory", path);
        goto done;
    }
    params = wg_alloc_huge(sizeof(float) * (table.total ? table.total : 1));
    used = calloc((size_t)st.n_tensors + 1, 1);
    if (!params || !used) {
        rc = wg_fail(err, WG_ENOMEM, "%s: out of memory for %zu parameters", path, table.total);
        goto done;
    }
    for (int i = 0; i < table.n; i++)
        if ((rc = load_param(path, &st, &table.p[i], params, used, err)))
            goto done;
    for (int i = 0; i < st.n_tensors; i++)
        if (!used[i]) {
            rc = wg_fail(err, WG_ECONFIG, "%s: unknown tensor \"%s\" (not part of the model the config describes)",
                         path, st.tensors[i].name);
            goto done;
        }
    double synthesis_sigma = 0;
    const char *sigma_text = wg_st_meta(&st, "synthesis_sigma");
    if (sigma_text) {
        char *end;
        synthesis_sigma = strtod(sigma_text, &end);
        if (end == sigma_text || *end || !(synthesis_sigma > 0 && synthesis_sigma <= WG_MAX_SYNTHESIS_SIGMA)) {
            rc = wg_fail(err, WG_EFORMAT, "%s: __metadata__[\"synthesis_sigma\"] = \"%.40s\" is not a number in (0, %g]",
                         path, sigma_text, WG_MAX_SYNTHESIS_SIGMA);
            goto done;
        }
    }
    rc = wg_model_from_params(&cfg, params, path, out, err);
    params = NULL; /* owned by the model now, or freed by it on failure */
    if (!rc) (*out)->synthesis_sigma = synthesis_sigma;
done:
    wg_param_table_free(&table);
    free(params);
    free(used);
    wg_st_close(&st);
    return rc;
}

void wg_bind_views(const wg_config *cfg, const wg_param_table *t, float *base, wg_flow_view *views, float **lists,
                   float **upsample_w, float **upsample_b) {
    int L = cfg->wn_n_layers;
    for (int k = 0; k < cfg->n_flows; k++) {
        wg_flow_view *v = &views[k];
        v->n_rem = wg_flow_channels(cfg, k);
        v->n_half = v->n_rem / 2;
        v->in_w = lists, lists += L;
        v->in_b = lists, lists += L;
        v->rs_w = lists, lists += L;
        v->rs_b = lists, lists += L;
    }
    for (int i = 0; i < t->n; i++) {
        const wg_param *p = &t->p[i];
        float *w = base + p->offset;
        wg_flow_view *v = p->flow >= 0 ? &views[p->flow] : NULL;
        switch (p->role) {
        case WG_P_UPSAMPLE_W: *upsample_w = w; break;
        case WG_P_UPSAMPLE_B: *upsample_b = w; break;
        case WG_P_CONVINV_W: v->convinv_w = w; break;
        case WG_P_START_W: v->start_w = w; break;
        case WG_P_START_B: v->start_b = w; break;
        case WG_P_IN_W: v->in_w[p->layer] = w; break;
        case WG_P_IN_B: v->in_b[p->layer] = w; break;
        case WG_P_RES_SKIP_W: v->rs_w[p->layer] = w; break;
        case WG_P_RES_SKIP_B: v->rs_b[p->layer] = w; break;
        case WG_P_COND_W: v->cond_w = w; break;
        case WG_P_COND_B: v->cond_b = w; break;
        case WG_P_END_W: v->end_w = w; break;
        case WG_P_END_B: v->end_b = w; break;
        }
    }
}

int wg_model_from_params(const wg_config *cfg, float *params, const char *source, wg_model **out, wg_error *err) {
    *out = NULL;
    wg_model *m = calloc(1, sizeof *m);
    if (!m) {
        free(params);
        return wg_fail(err, WG_ENOMEM, "%s: out of memory", source);
    }
    m->cfg = *cfg;
    m->params = params;
    int rc = wg_param_table_build(cfg, &m->table);
    if (rc) {
        wg_model_free(m);
        return wg_fail(err, rc, "%s: out of memory", source);
    }
    for (int i = 0; i < m->table.n; i++) {
        const wg_param *p = &m->table.p[i];
        for (size_t j = 0; j < p->numel; j++)
            if (!isfinite(params[p->offset + j])) {
                rc = wg_fail(err, WG_ENONFINITE, "%s: tensor \"%s\" holds a non-finite value at index %zu", source,
                             p->name, j);
                wg_model_free(m); /* after the message: p points into the model's table */
                return rc;
            }
    }
    int F = cfg->n_flows, L = cfg->wn_n_layers, C = cfg->wn_n_channels, K = cfg->wn_kernel_size;
    /* One block for every derived array and pointer list. */
    size_t n_ptr = (size_t)F * 4 * L, n_float = 0;
    for (int k = 0; k < F; k++) {
        size_t r = (size_t)wg_flow_channels(cfg, k);
        n_float += r * r + (size_t)L * K * 2 * C * C + wg_wn_winograd_filter_floats(cfg);
        n_float += wg_wn_end_fold_floats(cfg, (int)r / 2) + wg_wn_start_fold_floats(cfg, (int)r / 2);
    }
    m->flows = calloc((size_t)F, sizeof *m->flows);
    m->derived = wg_alloc_huge(n_ptr * sizeof(float *) + n_float * sizeof(float));
    if (!m->flows || !m->derived) {
        wg_model_free(m);
        return wg_fail(err, WG_ENOMEM, "%s: out of memory", source);
    }
    float **ptrs = m->derived;
    float *fl = (float *)(ptrs + n_ptr);
    wg_bind_views(cfg, &m->table, params, m->flows, ptrs, &m->upsample_w, &m->upsample_b);
    for (int k = 0; k < F; k++) {
        wg_flow_view *v = &m->flows[k];
        v->convinv_inv = fl, fl += (size_t)v->n_rem * v->n_rem;
        v->in_w_taps = fl, fl += (size_t)L * K * 2 * C * C;
        size_t nw = wg_wn_winograd_filter_floats(cfg);
        if (nw) v->in_w_wino = fl, fl += nw;
        size_t ne = wg_wn_end_fold_floats(cfg, v->n_half), ns = wg_wn_start_fold_floats(cfg, v->n_half);
        if (ne) {
            v->rs_end_w = fl, fl += ne - 2 * (size_t)v->n_half;
            v->end_b_total = fl, fl += 2 * (size_t)v->n_half;
        }
        if (ns) v->start_taps = fl, fl += ns;
    }
    wg_model_set_winograd(m, wg_wn_winograd_pays(cfg));
    if (wg_model_refresh(m)) {
        int k = 0;
        while (k < F && m->flows[k].log_det_w == m->flows[k].log_det_w) k++; /* the flow that failed is NaN */
        wg_model_free(m);
        return wg_fail(err, WG_ECONFIG, "%s: convinv.%d.conv.weight is singular, so the flow is not invertible",
                       source, k);
    }
    *out = m;
    return 0;
}

/* The skip sum only ever reaches the output through end, so each layer's skip rows can go there
 * directly: end_w · rs_w's skip rows, (2·n_half, C) where they were (C, C), in float64. */
static void fold_end(const wg_config *cfg, wg_flow_view *v) {
    size_t L = (size_t)cfg->wn_n_layers, C = (size_t)cfg->wn_n_channels, R = 2 * (size_t)v->n_half;
    float *w = v->rs_end_w;
    for (size_t l = 0; l < L; l++) {
        const float *skip_w = v->rs_w[l] + (l < L - 1 ? C * C : 0);
        if (l < L - 1) memcpy(w, v->rs_w[l], C * C * sizeof(float)), w += C * C;
        for (size_t o = 0; o < R; o++)
            for (size_t i = 0; i < C; i++) {
                double x = 0;
                for (size_t q = 0; q < C; q++) x += (double)v->end_w[o * C + q] * skip_w[q * C + i];
                w[o * C + i] = (float)x;
            }
        w += R * C;
    }
    for (size_t o = 0; o < R; o++) {
        double b = v->end_b[o];
        for (size_t q = 0; q < C; q++) {
            double s = 0;
            for (size_t l = 0; l < L; l++) s += v->rs_b[l][l < L - 1 ? C + q : q];
            b += (double)v->end_w[o * C + q] * s;
        }
        v->end_b_total[o] = (float)b;
    }
}

/* Layer 0's taps see only start's n_half inputs and its bias, the bias only inside the window
 * (h is zero-padded): W_j · [start_w, start_b] against [a0; 1] zero-padded, in float64. */
static void fold_start(const wg_config *cfg, wg_flow_view *v) {
    size_t C = (size_t)cfg->wn_n_channels, K = (size_t)cfg->wn_kernel_size, H = (size_t)v->n_half;
    for (size_t j = 0; j < K; j++)
        for (size_t o = 0; o < 2 * C; o++) {
            const float *tap = v->in_w_taps + (j * 2 * C + o) * C; /* layer 0 */
            float *dst = v->start_taps + (j * 2 * C + o) * (H + 1);
            for (size_t i = 0; i <= H; i++) {
                double x = 0;
                for (size_t q = 0; q < C; q++) x += (double)tap[q] * (i < H ? v->start_w[q * H + i] : v->start_b[q]);
                dst[i] = (float)x;
            }
        }
}

int wg_model_refresh(wg_model *m) {
    const wg_config *cfg = &m->cfg;
    wg_model_unfold_cond(m); /* built from the weights that are changing */
    int L = cfg->wn_n_layers, C = cfg->wn_n_channels, K = cfg->wn_kernel_size;
    for (int k = 0; k < cfg->n_flows; k++) {
        wg_flow_view *v = &m->flows[k];
        if (wg_invert_matrix(v->convinv_w, v->n_rem, v->convinv_inv, &v->log_det_w)) {
            v->log_det_w = NAN;
            return -1;
        }
        /* (2C, C, K) → [K](2C, C) so that tap j is a plain matrix for sgemm. */
        for (int l = 0; l < L; l++)
            for (int o = 0; o < 2 * C; o++)
                for (int i = 0; i < C; i++)
                    for (int j = 0; j < K; j++)
                        v->in_w_taps[(((size_t)l * K + j) * 2 * C + o) * C + i] =
                            v->in_w[l][((size_t)o * C + i) * K + j];
        if (v->in_w_wino) wg_wn_winograd_filters(cfg, v->in_w_taps, v->in_w_wino);
        if (v->rs_end_w) fold_end(cfg, v);
        if (v->start_taps) fold_start(cfg, v);
    }
    return 0;
}

void wg_model_set_winograd(wg_model *m, int on) { m->winograd = on && m->cfg.wn_kernel_size == 3; }

void wg_model_free(wg_model *m) {
    if (!m)
        return;
    wg_model_unfold_cond(m); /* before the flows' views it clears */
    wg_param_table_free(&m->table);
    free(m->params);
    free(m->flows);
    free(m->derived);
    free(m);
}

const wg_config *wg_model_config(const wg_model *m) { return &m->cfg; }

static wg_model_info info_with_taps(const wg_config *c, int winograd, int folded) {
    wg_model_info info = {0};
    wg_param_table t;
    if (wg_param_table_build(c, &t) == 0) {
        info.n_parameters = t.total;
        wg_param_table_free(&t);
    }
    /* Each WN reaches (K-1)/2 · (2^L - 1) group steps to each side; flows stack their reach. */
    size_t reach_steps = (size_t)(c->wn_kernel_size - 1) / 2 * (((size_t)1 << c->wn_n_layers) - 1) * c->n_flows;
    info.receptive_field_samples = (2 * reach_steps + 1) * (size_t)c->n_group;
    info.receptive_field_ms = 1000.0 * info.receptive_field_samples / c->sampling_rate;
    /* Synthesis cost per group step per flow (multiply-add = 2 FLOPs). */
    double C = c->wn_n_channels, L = c->wn_n_layers, K = c->wn_kernel_size, M = c->n_mel_channels, G = c->n_group;
    double per_step = 0, not_computed = 0;
    for (int k = 0; k < c->n_flows; k++) {
        double rem = wg_flow_channels(c, k), half = rem / 2;
        per_step += 2 * (2 * C * L) * (M * G);             /* cond_layer */
        per_step += 2 * C * half;                          /* start */
        per_step += L * 2 * (2 * C) * C * K;               /* dilated convs */
        if (winograd) not_computed += L * 2 * (2 * C) * C * (K - 8.0 / 6);
        /* start and end multiplied through (wavenet.h): layer 0's taps read n_half + 1 rows, not
         * C (nor by Winograd); the skip rows and end become 2·n_half rows of C */
        if (wg_wn_start_fold_floats(c, (int)half))
            not_computed += 2 * (2 * C) * C * (winograd ? 8.0 / 6 : K) - 2 * (2 * C) * (half + 1) * K;
        if (wg_wn_end_fold_floats(c, (int)half)) not_computed += (L - 1) * 2 * (C - 2 * half) * C + 2 * C * C;
        per_step += (L - 1) * 2 * (2 * C) * C + 2 * C * C; /* res/skip */
        per_step += 2 * (2 * half) * C;                    /* end */
        per_step += 2 * rem * rem;                         /* invertible 1×1 conv */
    }
    double steps_per_s = c->sampling_rate / G;
    /* ConvTranspose1d: each frame costs 2·M·M·4hop, and there are sr/hop frames per second. */
    double upsample = 2 * M * M * 4.0 * c->sampling_rate;
    info.flops_per_second = per_step * steps_per_s + upsample;
    info.computed_flops_per_second = info.flops_per_second - not_computed * steps_per_s;
    if (wg_cond_fold_supported(c)) {
        double saved = wg_cond_fold_saved_flops_per_step(c);
        info.folded = folded;
        info.fold_bytes = wg_cond_fold_floats(c) * sizeof(float);
        info.fold_breakeven_samples = (size_t)ceil(wg_cond_fold_build_flops(c) / saved) * (size_t)G;
        if (folded) info.computed_flops_per_second -= saved * steps_per_s;
    }
    return info;
}

wg_model_info wg_config_info(const wg_config *c) { return info_with_taps(c, wg_wn_winograd_pays(c), 0); }

wg_model_info wg_model_get_info(const wg_model *m) {
    wg_model_info info = info_with_taps(&m->cfg, m->winograd, wg_model_folded(m));
    info.synthesis_sigma = m->synthesis_sigma;
    return info;
}
