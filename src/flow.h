/* flow.h — WaveGlow's stack of flows over one window of group steps, in place on the squeezed
 * audio (n_group, n): forward (data → latent) and inverse (latent → data).
 * Flow k: [early output of n_early channels when k > 0 and k % n_early_every == 0],
 * invertible 1×1 conv W_k, then the affine coupling a1 ← exp(log_s)·a1 + b with (b, log_s) =
 * WN_k(a0, cond). The active channels are the last n_rem rows of the buffer, so early outputs
 * stay where they leave and the buffer ends in the reference z layout (early outputs first). */
#ifndef WG_FLOW_H
#define WG_FLOW_H

#include <stddef.h>

#include "model.h"
#include "wavenet.h"

/* One arena for a window of up to `capacity` steps. */
typedef struct wg_flow_work {
    size_t capacity;
    float *cond;   /* (n_mel·n_group, capacity): the squeezed, upsampled mel */
    float *audio;  /* (n_group, capacity): audio in, latent out (or the reverse) */
    float *wn_out; /* (n_group, capacity) */
    float *tmp;    /* (n_group, capacity) */
    float *scratch; /* member 0's scratch for the upsampler, then the WN's Winograd tiles */
    wg_wn_work wn;
    wg_team *team; /* NULL: the flows run alone, their GEMMs on OpenBLAS's threads */
    float *member_scratch; /* the same scratch of members 1 .. team size − 1 */
    size_t scratch_floats;
    float *mem;
    float *fold_mem; /* NULL, or the folded conditioning's frames and tmp (wg_flow_work_fold) */
    wg_config cfg;   /* the config the buffers are laid out for */
} wg_flow_work;

int wg_flow_work_alloc(const wg_config *cfg, size_t capacity, wg_flow_work *w);
/* The floats of that arena (w->mem), which grow with the capacity. */
size_t wg_flow_work_floats(const wg_config *cfg, size_t capacity);
/* Frees what w holds and leaves it empty (all zero), as is a work that never was allocated. */
void wg_flow_work_free(wg_flow_work *w);
/* Whether w holds buffers laid out for windows of at least `capacity` steps of cfg's shape. */
int wg_flow_work_fits(const wg_flow_work *w, const wg_config *cfg, size_t capacity);
/* Buffers for the folded conditioning (condfold.h), for windows of the work's capacity: a
 * (4·n_mel, cols) frames matrix in w->wn.fold (the members' products go to their scratch,
 * which wg_flow_work_alloc sizes for them), frames left NULL until a window sets them (wg_flow_work_fold_window). -1: out of memory. */
int wg_flow_work_fold(wg_flow_work *w, const wg_config *cfg);
/* Points w->wn.fold at the window of steps [step0, step0 + n_steps), whose frames start at
 * h_first, where the model is folded, the work has the buffers and the window is wide enough
 * for the fold to pay (wg_cond_fold_pays); clears it otherwise. */
void wg_flow_work_fold_window(wg_flow_work *w, const wg_model *m, size_t step0, size_t n_steps, size_t h_first);
/* Threads for the flows (0: every core): more than one gives the work a team that splits each
 * layer's columns, with single-threaded GEMMs; otherwise, or where threads cannot be started, the
 * GEMMs run on OpenBLAS's threads. Sets OpenBLAS's thread count to match, so call it before each
 * use where something else may have changed that. */
void wg_flow_work_threads(wg_flow_work *w, int n_threads);
/* Team member `rank`'s scratch: for wg_upsample_cond, then for the flows' *_part calls. */
float *wg_flow_work_scratch(wg_flow_work *w, int rank);

/* audio → z on w->audio (n columns, row stride n), conditioned on w->cond. The log_s of flow k
 * summed over columns [lo, hi) is added to log_s_sum[k] (NULL to skip). */
void wg_flow_forward(const wg_model *m, wg_flow_work *w, size_t n, size_t lo, size_t hi, double *log_s_sum);
/* The same as one member of a team that splits the columns (see wg_flow_inverse_part); each
 * member adds the log_s of its own columns within [lo, hi) to its own log_s_sum. */
void wg_flow_forward_part(const wg_model *m, wg_flow_work *w, size_t n, size_t lo, size_t hi, double *log_s_sum,
                          size_t c0, size_t c1, wg_team *team, float *scratch);
/* z → audio on w->audio, the exact inverse of wg_flow_forward. */
void wg_flow_inverse(const wg_model *m, wg_flow_work *w, size_t n);
/* The same as one member of a team that splits the columns: every member calls it on the same
 * work with its own columns [c0, c1) (wg_team_split) and its own scratch (wg_flow_work_scratch).
 * team NULL: alone. */
void wg_flow_inverse_part(const wg_model *m, wg_flow_work *w, size_t n, size_t c0, size_t c1, wg_team *team,
                          float *scratch);

/* Group steps of context each side that make a window's centre exact: n_flows · (K−1)/2 · (2^L − 1). */
size_t wg_flow_reach(const wg_config *cfg);

#endif
