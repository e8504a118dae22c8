/* model.h — the loaded, read-only model: config, the flat parameter buffer in the params.h
 * layout (weight norm folded), and what synthesis derives once at load (W⁻¹ in float64, log|det W|,
 * per-tap copies of the dilated conv weights). Shared by model.c (loading, info) and flow.c. */
#ifndef WG_MODEL_H
#define WG_MODEL_H

#include "params.h"
#include "waveglow.h"

/* Views of one flow's tensors inside the flat buffer; shapes in comments are row-major. */
typedef struct wg_flow_view {
    int n_rem, n_half;      /* channels entering the flow, and half of them */
    const float *convinv_w; /* (n_rem, n_rem) */
    const float *start_w;   /* (C, n_half) */
    const float *start_b;   /* (C) */
    const float **in_w;     /* [L] (2C, C, K) as PyTorch stores it */
    const float **in_b;     /* [L] (2C) */
    const float **rs_w;     /* [L] (2C, C); last layer (C, C) */
    const float **rs_b;     /* [L] */
    const float *cond_w;    /* (2CL, n_mel·n_group) */
    const float *cond_b;    /* (2CL) */
    const float *end_w;     /* (2·n_half, C) */
    const float *end_b;     /* (2·n_half) */
    /* derived at load */
    float *convinv_inv; /* (n_rem, n_rem): W⁻¹, computed in float64 */
    double log_det_w;   /* log|det W| */
    float *in_w_taps;   /* [L][K] (2C, C): tap-major copies for GEMMs on shifted views */
} wg_flow_view;

struct wg_model {
    wg_config cfg;
    wg_param_table table;
    float *params; /* table.total floats */
    wg_flow_view *flows;
    void *derived; /* one allocation for every derived array and pointer list */
    const float *upsample_w, *upsample_b;
};

/* Builds a model around a flat parameter buffer (taken over by the model): views and the
 * derived arrays. Fails on a singular 1×1 conv or non-finite weights. `source` names errors. */
int wg_model_from_params(const wg_config *cfg, float *params, const char *source, wg_model **out, wg_error *err);

#endif
