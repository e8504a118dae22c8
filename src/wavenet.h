/* wavenet.h — WaveGlow's WN conditioner, the non-causal WaveNet that gives each affine coupling
 * its shift b and log-scale log_s:
 *   h = start(a0);  for each layer i (dilation 2^i):
 *     acts = tanh(in_i(h)[:C] + cond_i[:C]) · σ(in_i(h)[C:] + cond_i[C:])
 *     h += res_skip_i(acts)[:C];  skip += res_skip_i(acts)[C:]   (last layer: skip only)
 *   out = end(skip) = [b; log_s]
 * Every convolution is an sgemm over time; the dilated K-tap conv is K GEMMs on shifted views
 * of h, which lives in a buffer zero-padded by the largest dilation's reach. With K = 3 and the
 * model's `winograd` set, the inference forward does the taps by Winograd's F(6,3) instead: eight
 * GEMMs for every six output columns where the taps take eighteen, at the cost of two passes over
 * small transforms and rounding errors a few times float32's (a test holds them to 1e-5).
 * Both ends of the inference forward are linear maps multiplied through where that is smaller
 * (wg_wn_end_fold_floats, wg_wn_start_fold_floats; model.h's rs_end_w, start_taps): skip is only
 * read by end, so each layer adds end_w · its skip rows to out's 2·n_half rows instead of C rows
 * of skip, and layer 0's taps read [a0; 1] (n_half + 1 rows) through W_j · [start_w, start_b]
 * instead of h (C rows). Training keeps the layers as they are (their gradients are needed). */
#ifndef WG_WAVENET_H
#define WG_WAVENET_H

#include <stddef.h>

#include "condfold.h"
#include "model.h"
#include "team.h"

typedef struct wg_wn_work {
    size_t capacity; /* steps the buffers hold */
    size_t pad;      /* zero columns each side of h: (K − 1)/2 · 2^(L−1) */
    float *hs;       /* (2C, n + 2·pad) for a call of n steps: h (rows 0 to C − 1, updated in place
                      * by each layer's residual, a team meeting at a barrier between its taps and
                      * those updates), then skip, so that one GEMM of 2C rows does both 1×1 convs */
    size_t cond_layers; /* layers whose cond terms one GEMM computes */
    float *pre;      /* [cond_layers] (2C, capacity) */
    float *acts;     /* (C, capacity) */
    float *xs;       /* (n_group/2 + 1, capacity + 2·pad): [a0; 1] zero-padded, for start_taps */
    wg_cond_fold_input fold; /* frames NULL (as init leaves it): the cond terms from cond itself;
                              * otherwise, with the flow's cond_fold, from the mel frames */
} wg_wn_work;

/* Whether the Winograd taps pay for their transforms at this width: from 64 channels up (K = 3).
 * F(6,3) against the three tap GEMMs, whole decodes alternated on a Zen 3 (`wg_bench decode`,
 * the bundled model's shape, 1 s, one thread): 0.99-1.07x at 32 channels, 1.01-1.06x at 48,
 * 1.05-1.06x at 64 (the bundled model: also 1.09-1.12x folded at 10 s, even on two threads at
 * 1 s), 1.08x at 80. (F(4,3) had lost up to 8% at 64 channels.) */
int wg_wn_winograd_pays(const wg_config *cfg);
/* Floats of a flow's in_w_wino: each layer's six middle filter transforms (K = 3; 0 otherwise);
 * and those transforms, from in_w_taps ([L][3] (2C, C)), into in_w_wino ([L][6] (2C, C)). */
size_t wg_wn_winograd_filter_floats(const wg_config *cfg);
void wg_wn_winograd_filters(const wg_config *cfg, const float *in_w_taps, float *in_w_wino);
/* Floats of a flow's rs_end_w and end_b_total, and of its start_taps, for a flow of n_half
 * channels a half: 0 where the product would not be smaller (2·n_half ≥ C; n_half + 1 ≥ C). */
size_t wg_wn_end_fold_floats(const wg_config *cfg, int n_half);
size_t wg_wn_start_fold_floats(const wg_config *cfg, int n_half);
/* Floats of scratch a team member's wg_wn_forward_part needs (the Winograd tiles; 0 without). */
size_t wg_wn_scratch_floats(const wg_config *cfg);

/* Floats the buffers of a wg_wn_work for `capacity` steps need. */
size_t wg_wn_work_floats(const wg_config *cfg, size_t capacity);
/* Lays the buffers out in `mem` (wg_wn_work_floats floats). */
void wg_wn_work_init(wg_wn_work *w, const wg_config *cfg, size_t capacity, float *mem);

/* out (2·n_half, n) = WN(a0 (n_half, n) row stride lda, cond (n_mel·g, n) row stride n, or the
 * folded conditioning where w->fold.frames and v->cond_fold are set: then cond is not read);
 * scratch holds wg_wn_scratch_floats floats, and with the fold wg_cond_fold_scratch_floats. */
void wg_wn_forward(const wg_model *m, const wg_flow_view *v, const float *a0, size_t lda, const float *cond, size_t n,
                   wg_wn_work *w, float *out, float *scratch);
/* The same for columns [c0, c1) of the n, as one member of a team that splits the columns (every
 * member calls it with the same buffers, its own columns and its own scratch); it meets the team
 * at the barriers between layers, where the dilated taps read the neighbours' columns. team NULL:
 * alone. */
void wg_wn_forward_part(const wg_model *m, const wg_flow_view *v, const float *a0, size_t lda, const float *cond,
                        size_t n, wg_wn_work *w, float *out, size_t c0, size_t c1, wg_team *team, float *scratch);

/* ---- training: the same forward keeping what backward needs, and the backward ------------ */

typedef struct wg_wn_cache {
    size_t capacity, pad;
    float *h;    /* [L] (C, capacity + 2·pad): each layer's input, zero-padded */
    float *gate; /* [L] (2C, capacity): tanh of the first half, sigmoid of the second; backward
                  * overwrites each layer's with dL/d pre */
    float *skip; /* (C, capacity): the input of `end` */
    float *acts; /* (C, capacity) scratch */
    float *dh;   /* (C, capacity + 2·pad) */
    float *dacts; /* (C, capacity) */
    float *dskip; /* (C, capacity) */
    float *dw_tap; /* (2C, C): one tap's weight gradient */
} wg_wn_cache;

size_t wg_wn_cache_floats(const wg_config *cfg, size_t capacity);
void wg_wn_cache_init(wg_wn_cache *c, const wg_config *cfg, size_t capacity, float *mem);

/* wg_wn_forward, keeping each layer's input and gate values in the cache. */
void wg_wn_forward_cached(const wg_model *m, const wg_flow_view *v, const float *a0, size_t lda, const float *cond,
                          size_t n, wg_wn_cache *c, float *out);

/* Given dout (2·n_half, n) = dL/d out, after wg_wn_forward_cached on the same inputs: adds the
 * parameter gradients into g (views over the gradient buffer), dL/d a0 into da0 (n_half, n, row
 * stride ldd), and dL/d cond into dcond (n_mel·g, n). Those outputs are added to, never
 * overwritten. The cache's gate values are consumed (replaced by dL/d pre): a second backward
 * needs a new forward. */
void wg_wn_backward(const wg_model *m, const wg_flow_view *v, const wg_flow_view *g, const float *a0, size_t lda,
                    const float *cond, size_t n, wg_wn_cache *c, const float *dout, float *da0, size_t ldd,
                    float *dcond);

#endif
