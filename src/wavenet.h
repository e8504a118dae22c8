/* wavenet.h — WaveGlow's WN conditioner, the non-causal WaveNet that gives each affine coupling
 * its shift b and log-scale log_s:
 *   h = start(a0);  for each layer i (dilation 2^i):
 *     acts = tanh(in_i(h)[:C] + cond_i[:C]) · σ(in_i(h)[C:] + cond_i[C:])
 *     h += res_skip_i(acts)[:C];  skip += res_skip_i(acts)[C:]   (last layer: skip only)
 *   out = end(skip) = [b; log_s]
 * Every convolution is an sgemm over time; the dilated K-tap conv is K GEMMs on shifted views
 * of h, which lives in a buffer zero-padded by the largest dilation's reach. */
#ifndef WG_WAVENET_H
#define WG_WAVENET_H

#include <stddef.h>

#include "model.h"

typedef struct wg_wn_work {
    size_t capacity; /* steps the buffers hold */
    size_t pad;      /* zero columns each side of h: (K − 1)/2 · 2^(L−1) */
    float *h;        /* (C, capacity + 2·pad) */
    float *pre;      /* (2C, capacity) */
    float *acts;     /* (C, capacity) */
    float *skip;     /* (C, capacity) */
} wg_wn_work;

/* Floats the buffers of a wg_wn_work for `capacity` steps need. */
size_t wg_wn_work_floats(const wg_config *cfg, size_t capacity);
/* Lays the buffers out in `mem` (wg_wn_work_floats floats). */
void wg_wn_work_init(wg_wn_work *w, const wg_config *cfg, size_t capacity, float *mem);

/* out (2·n_half, n) = WN(a0 (n_half, n) row stride lda, cond (n_mel·g, n) row stride n). */
void wg_wn_forward(const wg_model *m, const wg_flow_view *v, const float *a0, size_t lda, const float *cond, size_t n,
                   wg_wn_work *w, float *out);

#endif
