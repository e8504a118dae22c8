/* train_step.h — one training segment through the whole model: forward to z with the terms of
 * NVIDIA's WaveGlowLoss, then the backward pass, adding parameter gradients (in the folded
 * params.h layout) into a gradient buffer. The backward pass rebuilds each flow's input from its
 * output by inverting the flow, so no activation of the stack is stored: memory does not grow
 * with n_flows, only one WN's intermediates are held at a time, and each WN runs forward twice.
 * With keep_activations, every flow's WN intermediates are kept from the forward pass instead:
 * a quarter less work for n_flows times the WN memory. */
#ifndef WG_TRAIN_STEP_H
#define WG_TRAIN_STEP_H

#include <stdbool.h>
#include <stddef.h>

#include "flow.h"
#include "model.h"
#include "wavenet.h"

typedef struct wg_train_work {
    size_t capacity; /* group steps */
    wg_flow_work fw; /* the forward's buffers: cond, audio (→ z), wn_out, tmp, upsample scratch */
    float *dcond;    /* (n_mel·g, capacity) */
    float *dx;       /* (n_group, capacity) */
    float *dwn;      /* (n_group, capacity) */
    float *up_scratch; /* the upsampler backward's frame block */
    wg_wn_cache cache;
    float *mem;
    bool keep;            /* keep_activations: */
    wg_wn_cache *caches;  /* [n_flows] each flow's WN intermediates */
    float *wn_outs;       /* [n_flows] (n_group, capacity): each flow's WN output */
    float *keep_mem;
} wg_train_work;

int wg_train_work_alloc(const wg_config *cfg, size_t capacity, bool keep_activations, wg_train_work *w);
void wg_train_work_free(wg_train_work *w);

typedef struct wg_segment_terms {
    double sum_z2, log_s, log_det_w; /* this segment's sums */
    double reconstruction_error;      /* max |x − inverse(z)| seen while rebuilding inputs */
} wg_segment_terms;

/* Forward and backward of one segment: audio (n_samples, a multiple of n_group), mel (n_mel,
 * n_frames) covering it. The loss is (Σz²/(2σ²) − Σlog_s − Σlog|det W|) · inv_total summed over
 * the batch, so inv_total = 1 / (batch · samples). Gradients are added into grad (the params.h
 * layout of m). */
void wg_train_segment(const wg_model *m, float *grad, const float *mel, size_t n_frames, const float *audio,
                      size_t n_samples, double inv_total, wg_train_work *w, wg_segment_terms *terms);

#endif
