/* synth.h — one window of synthesis, shared by whole-signal synthesis (synth.c) and streaming
 * (stream.c). Positions are group steps; a window [w0, w1) computes the flows with zero padding
 * at its edges, and its centre [c0, c1) is exact when it lies wg_flow_reach steps inside every
 * edge that is not an end of the signal. */
#ifndef WG_SYNTH_H
#define WG_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "flow.h"
#include "upsample.h"

typedef struct wg_window {
    size_t c0, c1; /* the steps kept */
    size_t w0, w1; /* the steps computed */
} wg_window;

/* Latent for steps [w0, w1): sigma·z (columns are absolute steps, row stride z_ld) or, with z
 * NULL, sigma·Philox(seed, channel, step); the inverse flows conditioned on the mel view; then
 * the samples of steps [c0, c1) into audio (audio[0] is sample c0·n_group). */
/* The arena a workspace (waveglow.h) keeps between calls: empty until a call lays it out. */
const wg_flow_work *wg_workspace_work(const wg_workspace *ws);

/* The steps each window keeps for an input of `steps` steps: all of them (one window), or
 * chunk_steps (wg_run_params), or where that is 0 a width synth.c chooses for the repeated reach
 * and the arena's memory. */
size_t wg_synth_window_steps(const wg_config *c, size_t steps, size_t chunk_steps);

void wg_inverse_window(const wg_model *m, wg_flow_work *w, const wg_mel_view *mel, const float *z, size_t z_ld,
                       float sigma, uint64_t seed, wg_window win, float *audio);

#endif
