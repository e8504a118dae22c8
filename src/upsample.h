/* upsample.h — the mel upsampler, NVIDIA's ConvTranspose1d(n_mel, n_mel, 4·hop, stride hop),
 * computed for any range of output samples and written straight into the squeezed
 * conditioning layout: cond[m·g + j][t] = up[m][(step0 + t)·g + j]. Output sample s of the
 * transposed conv is Σ_f Σ_i mel[i][f] · W[i][m][s − f·hop] + b[m]; the synthesis cut of
 * kernel − stride only means the caller asks for fewer samples. */
#ifndef WG_UPSAMPLE_H
#define WG_UPSAMPLE_H

#include <stddef.h>

#include "model.h"

/* A window of a mel spectrogram: absolute frames [first, first + count), band i of frame f at
 * data[i·ld + f − first]. A whole (n_mel, F) array is {mel, F, 0, F}. */
typedef struct wg_mel_view {
    const float *data;
    size_t ld, first, count;
} wg_mel_view;

static inline wg_mel_view wg_mel_view_all(const float *mel, size_t n_frames) {
    return (wg_mel_view){mel, n_frames, 0, n_frames};
}

/* Floats of scratch that wg_upsample_cond needs, and that wg_upsample_backward needs. */
size_t wg_upsample_scratch(const wg_config *cfg);
size_t wg_upsample_backward_scratch(const wg_config *cfg);

/* cond (n_mel·n_group, n_steps), row stride ld >= n_steps, for group steps [step0, step0 + n_steps).
 * The view must hold every frame those samples depend on, frames ⌈(s0 + 1 − 4·hop)/hop⌉ to
 * ⌊(s1 − 1)/hop⌋ (frames past the view's end count as absent, as past a signal's end). */
void wg_upsample_cond(const wg_model *m, const wg_mel_view *mel, size_t step0, size_t n_steps, float *cond, size_t ld,
                      float *scratch);

/* The backward of wg_upsample_cond over steps [0, n_steps): given dcond = dL/d cond (same
 * layout), adds dL/dW into g_w (n_mel, n_mel, 4·hop) and dL/db into g_b. */
void wg_upsample_backward(const wg_model *m, const float *mel, size_t n_frames, size_t n_steps, const float *dcond,
                          float *g_w, float *g_b, float *scratch);

#endif
