/* model.h — the loaded, read-only model: config, the flat parameter buffer in the params.h
 * layout (weight norm folded), and what synthesis derives once at load (W⁻¹ in float64, log|det W|,
 * per-tap copies of the dilated conv weights and their Winograd transforms, the WN's start and
 * end multiplied into its first and last convs). Shared by model.c (loading, info) and flow.c. */
#ifndef WG_MODEL_H
#define WG_MODEL_H

#include "params.h"
#include "waveglow.h"

/* Views of one flow's tensors inside a flat buffer in the params.h layout (the parameters, or
 * their gradients during training); shapes in comments are row-major. */
typedef struct wg_flow_view {
    int n_rem, n_half;      /* channels entering the flow, and half of them */
    float *convinv_w;     /* (n_rem, n_rem) */
    float *start_w;   /* (C, n_half) */
    float *start_b;   /* (C) */
    float **in_w;     /* [L] (2C, C, K) as PyTorch stores it */
    float **in_b;     /* [L] (2C) */
    float **rs_w;     /* [L] (2C, C); last layer (C, C) */
    float **rs_b;     /* [L] */
    float *cond_w;    /* (2CL, n_mel·n_group) */
    float *cond_b;    /* (2CL) */
    float *end_w;     /* (2·n_half, C) */
    float *end_b;     /* (2·n_half) */
    /* derived at load (model views only) */
    float *convinv_inv; /* (n_rem, n_rem): W⁻¹, computed in float64 */
    double log_det_w;   /* log|det W| */
    float *in_w_taps;   /* [L][K] (2C, C): tap-major copies for GEMMs on shifted views */
    float *in_w_wino;   /* [L][6] (2C, C): Winograd F(6,3)'s middle filter transforms (K = 3 only) */
    /* The WN's linear ends multiplied through (wavenet.h), where that saves work: */
    float *rs_end_w;    /* NULL, or [L] (C + 2·n_half, C) for the first L − 1 layers, then (2·n_half, C):
                         * res_skip's residual rows as they are, its skip rows premultiplied by end_w */
    float *end_b_total; /* with rs_end_w: (2·n_half) = end_b + end_w · Σ the layers' skip biases */
    float *start_taps;  /* NULL, or [K] (2C, n_half + 1): layer 0's taps premultiplied by start,
                         * [W_j · start_w, W_j · start_b] */
    float *cond_fold;   /* NULL, or (2CL/g, 4·n_mel, g·hop/n_group): g rows side by side, the upsampler folded into cond_w (condfold.c) */
    float *cond_fold_b; /* (2CL): cond_b with the upsampler's bias folded in */
} wg_flow_view;

struct wg_model {
    wg_config cfg;
    wg_param_table table;
    float *params; /* table.total floats */
    wg_flow_view *flows;
    void *derived; /* one allocation for every derived array and pointer list */
    float *upsample_w, *upsample_b;
    int winograd; /* the WN's dilated taps by Winograd's F(6,3) (wavenet.h); K = 3 only */
    float *cond_fold_mem; /* NULL, or every flow's cond_fold and cond_fold_b (condfold.h) */
    size_t cond_fold_map_bytes; /* 0, or cond_fold_mem maps a fold file of this size (foldfile.h) */
    size_t cond_fold_min_frames; /* windows of fewer frames use the upsampler (wg_cond_fold_pays) */
    size_t cond_fold_panel_cols, cond_fold_chunk_frames; /* the fold's layout and GEMMs (condfold.h) */
    double synthesis_sigma;      /* the file's recommended latent temperature; 0: none */
};

/* Points views[0 .. n_flows) and the upsampler at the tensors of `base`, a flat buffer in the
 * table's layout. `lists` provides 4·L pointer slots per flow for the per-layer arrays. */
void wg_bind_views(const wg_config *cfg, const wg_param_table *t, float *base, wg_flow_view *views, float **lists,
                   float **upsample_w, float **upsample_b);

/* Builds a model around a flat parameter buffer (taken over by the model): views and the
 * derived arrays. Fails on a singular 1×1 conv or non-finite weights. `source` names errors. */
int wg_model_from_params(const wg_config *cfg, float *params, const char *source, wg_model **out, wg_error *err);

/* Recomputes what is derived from the parameters (W⁻¹, log|det W|, per-tap weights) after they
 * changed, as in training. Returns -1 when a 1×1 conv is singular (its log_det_w is then NaN). */
int wg_model_refresh(wg_model *m);

/* Turns the Winograd path of the dilated taps on or off (a kernel size other than 3 stays off).
 * Loading picks wg_wn_winograd_pays(cfg); tests and benchmarks set it to compare the two. */
void wg_model_set_winograd(wg_model *m, int on);

#endif
