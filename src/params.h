/* params.h — the one table of a WaveGlow's tensors, generated from its config: NVIDIA's
 * state-dict names and shapes, in a fixed order, each with its offset in one flat float buffer.
 * The loader, the layer views, training (gradients and Adam moments share the layout) and export
 * all walk this table, so there is no second list to keep in step. */
#ifndef WG_PARAMS_H
#define WG_PARAMS_H

#include <stddef.h>

#include "waveglow.h"

typedef enum wg_param_role {
    WG_P_UPSAMPLE_W, /* (n_mel, n_mel, 4·hop): ConvTranspose1d (in, out, k) */
    WG_P_UPSAMPLE_B, /* (n_mel) */
    WG_P_CONVINV_W,  /* (n_rem, n_rem, 1) */
    WG_P_START_W,    /* (C, n_half, 1) */
    WG_P_START_B,
    WG_P_IN_W, /* (2C, C, K) per layer */
    WG_P_IN_B,
    WG_P_RES_SKIP_W, /* (2C, C, 1), the last layer (C, C, 1) */
    WG_P_RES_SKIP_B,
    WG_P_COND_W, /* (2·C·L, n_mel·n_group, 1) */
    WG_P_COND_B,
    WG_P_END_W, /* (2·n_half, C, 1) */
    WG_P_END_B,
} wg_param_role;

typedef struct wg_param {
    char name[64];
    wg_param_role role;
    int flow, layer; /* -1 where not applicable */
    int ndim;
    size_t shape[3];
    size_t numel, offset; /* offset into the flat buffer, in floats */
    int weight_norm;      /* trained as weight_g / weight_v (the WN convs, as NVIDIA does) */
} wg_param;

typedef struct wg_param_table {
    int n;
    wg_param *p;
    size_t total; /* floats */
} wg_param_table;

int wg_param_table_build(const wg_config *cfg, wg_param_table *t);
void wg_param_table_free(wg_param_table *t);
const wg_param *wg_param_find(const wg_param_table *t, const char *name);

/* Channels entering flow k (after the early outputs before it). */
int wg_flow_channels(const wg_config *cfg, int k);
/* True when flow k is preceded by an early output. */
int wg_flow_has_early(const wg_config *cfg, int k);

#endif
