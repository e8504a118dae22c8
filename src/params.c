/* params.c — see params.h. Order: upsample, then per flow convinv, WN start, in/res_skip per
 * layer, cond, end (NVIDIA's module order). */
#include "params.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int wg_flow_has_early(const wg_config *cfg, int k) { return k > 0 && k % cfg->n_early_every == 0; }

int wg_flow_channels(const wg_config *cfg, int k) {
    int c = cfg->n_group;
    for (int i = 1; i <= k; i++)
        if (wg_flow_has_early(cfg, i))
            c -= cfg->n_early_size;
    return c;
}

static void add(wg_param_table *t, wg_param_role role, int flow, int layer, int wn, size_t d0, size_t d1, size_t d2,
                int ndim, const char *fmt, ...) {
    wg_param *p = &t->p[t->n++];
    memset(p, 0, sizeof *p);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->name, sizeof p->name, fmt, ap);
    va_end(ap);
    p->role = role;
    p->flow = flow;
    p->layer = layer;
    p->weight_norm = wn;
    p->ndim = ndim;
    p->shape[0] = d0;
    p->shape[1] = d1;
    p->shape[2] = d2;
    p->numel = d0 * (ndim > 1 ? d1 : 1) * (ndim > 2 ? d2 : 1);
    p->offset = t->total;
    t->total += p->numel;
}

int wg_param_table_build(const wg_config *cfg, wg_param_table *t) {
    memset(t, 0, sizeof *t);
    int L = cfg->wn_n_layers, C = cfg->wn_n_channels, K = cfg->wn_kernel_size, M = cfg->n_mel_channels;
    int cap = 2 + cfg->n_flows * (7 + 4 * L);
    t->p = calloc((size_t)cap, sizeof *t->p);
    if (!t->p)
        return WG_ENOMEM;
    add(t, WG_P_UPSAMPLE_W, -1, -1, 0, M, M, 4 * (size_t)cfg->hop_length, 3, "upsample.weight");
    add(t, WG_P_UPSAMPLE_B, -1, -1, 0, M, 0, 0, 1, "upsample.bias");
    for (int k = 0; k < cfg->n_flows; k++) {
        size_t rem = (size_t)wg_flow_channels(cfg, k), half = rem / 2;
        add(t, WG_P_CONVINV_W, k, -1, 0, rem, rem, 1, 3, "convinv.%d.conv.weight", k);
        add(t, WG_P_START_W, k, -1, 1, C, half, 1, 3, "WN.%d.start.weight", k);
        add(t, WG_P_START_B, k, -1, 0, C, 0, 0, 1, "WN.%d.start.bias", k);
        for (int j = 0; j < L; j++) {
            add(t, WG_P_IN_W, k, j, 1, 2 * (size_t)C, C, K, 3, "WN.%d.in_layers.%d.weight", k, j);
            add(t, WG_P_IN_B, k, j, 0, 2 * (size_t)C, 0, 0, 1, "WN.%d.in_layers.%d.bias", k, j);
        }
        for (int j = 0; j < L; j++) {
            size_t out = j < L - 1 ? 2 * (size_t)C : (size_t)C;
            add(t, WG_P_RES_SKIP_W, k, j, 1, out, C, 1, 3, "WN.%d.res_skip_layers.%d.weight", k, j);
            add(t, WG_P_RES_SKIP_B, k, j, 0, out, 0, 0, 1, "WN.%d.res_skip_layers.%d.bias", k, j);
        }
        add(t, WG_P_COND_W, k, -1, 1, 2 * (size_t)C * L, (size_t)M * cfg->n_group, 1, 3, "WN.%d.cond_layer.weight", k);
        add(t, WG_P_COND_B, k, -1, 0, 2 * (size_t)C * L, 0, 0, 1, "WN.%d.cond_layer.bias", k);
        add(t, WG_P_END_W, k, -1, 0, 2 * half, C, 1, 3, "WN.%d.end.weight", k);
        add(t, WG_P_END_B, k, -1, 0, 2 * half, 0, 0, 1, "WN.%d.end.bias", k);
    }
    return 0;
}

void wg_param_table_free(wg_param_table *t) {
    free(t->p);
    memset(t, 0, sizeof *t);
}

const wg_param *wg_param_find(const wg_param_table *t, const char *name) {
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->p[i].name, name))
            return &t->p[i];
    return NULL;
}
