/* condfold.h — the mel upsampler composed with each flow's cond 1×1 conv. Both are linear, and
 * the n_group samples of group step t all lie in one hop (hop % n_group = 0), so flow k's
 * conditioning term there is an affine map of the four mel frames those samples see:
 *   cond_w · up[:, t] = A_k,p · [mel[h]; mel[h−1]; mel[h−2]; mel[h−3]],   h = ⌊t/R⌋, p = t mod R,
 * R = hop / n_group, with A_k,p (2CL, 4·n_mel) = cond_w · (the upsampler's taps at phase p), and
 * the upsampler's bias folded into cond_b. Per step that is 4·n_mel multiply-adds a row instead
 * of n_mel·n_group (half, at n_group 8), and the upsampler itself is gone, for R times cond_w's
 * memory and a one-off build (wg_cond_fold_build_flops). Synthesis and scoring use it where the
 * model holds it; training never does (its weights move). */
#ifndef WG_CONDFOLD_H
#define WG_CONDFOLD_H

#include <stddef.h>

#include "model.h"
#include "upsample.h"

/* R = hop / n_group, the steps (phases) of one mel frame; and 2CL, the cond rows of a flow, each
 * of which the fold holds R phases of. */
static inline size_t wg_cond_fold_phases(const wg_config *c) { return (size_t)(c->hop_length / c->n_group); }
static inline size_t wg_cond_fold_rows(const wg_config *c) {
    return 2 * (size_t)c->wn_n_channels * (size_t)c->wn_n_layers;
}

/* Whether the fold applies to the config (hop % n_group = 0) and saves work (4·n_mel < n_mel·n_group). */
int wg_cond_fold_supported(const wg_config *c);
/* Floats the fold of every flow takes: n_flows · (R · 2CL · 4·n_mel + 2CL). */
size_t wg_cond_fold_floats(const wg_config *c);
/* FLOPs of building it, and the FLOPs it saves per group step of synthesis: their quotient is the
 * number of steps after which folding has paid for itself. */
double wg_cond_fold_build_flops(const wg_config *c);
double wg_cond_fold_saved_flops_per_step(const wg_config *c);

/* wg_model_fold_conditioning (waveglow.h) builds the fold into the model's views (cond_fold,
 * cond_fold_b) on the BLAS's threads; folding twice rebuilds; wg_model_refresh drops it, and
 * wg_model_unfold_cond frees or unmaps it (a fold loaded from a file, foldfile.h). */
void wg_model_unfold_cond(wg_model *m);
static inline int wg_model_folded(const wg_model *m) { return m->cond_fold_mem != NULL; }

/* Whether a window of n_steps is wide enough for the fold to be faster: each window reads all
 * of cond_fold (R times cond_w) once, so narrow ones are bound by memory. The bundled model on
 * one and two cores of an AMD EPYC, against the unfolded path (wg_bench decode ... fold, the
 * threshold lowered), 1 / 2 threads: 8 frames 0.99-1.02x / 0.99-1.01x, 16 frames 1.17-1.19x /
 * 1.27x, 31 frames 1.18-1.19x / 1.22-1.27x, 63 frames 1.41-1.44x / 1.41-1.42x, 125 frames
 * 1.44-1.45x / 1.45x, 625 frames (two windows) 1.52x / 1.55-1.56x; folding sets the model's
 * minimum to this, which tests change to reach either path with small inputs. */
enum { WG_COND_FOLD_MIN_FRAMES = 12 };
int wg_cond_fold_pays(const wg_model *m, size_t n_steps);
static inline void wg_model_set_fold_min_frames(wg_model *m, size_t n) { m->cond_fold_min_frames = n; }
/* The fold's layout: a flow's fold is the (4·n_mel, 2CL·R) matrix whose column row·R + p is
 * A_k,p's row `row`, stored as panels of `panel` consecutive columns, each panel's (4·n_mel,
 * panel) contiguous. A panel is g·R columns, the R phases of g rows (g dividing a layer's
 * 2·n_channels, at most 8), or WG_COND_FOLD_STRIP columns where R is a multiple of them: a
 * strip, 16 phases of one row, what the AVX2 kernel multiplies (condfold.c). */
enum { WG_COND_FOLD_STRIP = 16 };
int wg_cond_fold_panel_valid(const wg_config *c, size_t panel);
/* wg_model_fold_conditioning with the layout chosen: panels of `panel` columns multiplied by up
 * to `chunk` frames a GEMM (0: a window's all), where the public call picks them for the CPU and
 * the BLAS's kernels (condfold.c); tests reach each layout. The frames a GEMM that
 * wg_model_fold_conditioning would pick for such panels: */
int wg_cond_fold_build(wg_model *m, size_t max_bytes, size_t panel, size_t chunk, wg_error *err);
size_t wg_cond_fold_chunk_frames(const wg_config *c, size_t panel);
/* The panel wg_model_fold_conditioning builds on this CPU and BLAS. A fold in another (one
 * mapped from a file that an older version or another machine wrote) gives the same results
 * to float32 rounding, slower. */
size_t wg_cond_fold_native_panel(const wg_config *c);

/* What one window's folded conditioning reads: frames (4·n_mel, ld), whose column h − h_first
 * is [mel[h]; mel[h−1]; mel[h−2]; mel[h−3]] (absent frames zero) for the absolute frames the
 * window's steps see; step0, the absolute step of the window's column 0. frames NULL: no fold. */
typedef struct wg_cond_fold_input {
    const float *frames;
    size_t ld, h_first, step0;
    size_t panel; /* the fold's columns per panel (the model's cond_fold_panel_cols) */
    size_t chunk; /* frames per GEMM (the model's cond_fold_chunk_frames); 0: the whole window */
} wg_cond_fold_input;

/* The frames, columns of frames before frame h0 excluded, that the steps [s0, s1) read: [*h0, *h1). */
void wg_cond_fold_frame_range(const wg_config *c, size_t s0, size_t s1, size_t *h0, size_t *h1);
/* Writes the columns of absolute frames [h0, h1) into frames (column h − h_first, row stride ld). */
void wg_cond_fold_frames(const wg_config *c, const wg_mel_view *mel, size_t h_first, size_t h0, size_t h1, float *frames,
                         size_t ld);
/* pre (rows, ldp) = in_b + cond_fold_b + the folded conditioning, for rows [row0, row0 + rows)
 * of flow v's 2CL (whole layers) over every column [0, n) of the window. A team shares the work
 * by rows, each member's in proportion to its columns [c0, c1) of n, so that each reads its
 * share of cond_fold once at the window's full width: the caller orders the members' previous
 * reads of pre before, and their next reads after, with barriers. scratch: the member's own,
 * wg_cond_fold_scratch_floats for windows of up to `capacity` steps. */
size_t wg_cond_fold_scratch_floats(const wg_config *c, size_t capacity);
void wg_cond_fold_apply(const wg_config *c, const wg_flow_view *v, size_t row0, size_t rows,
                        const wg_cond_fold_input *in, size_t n, size_t c0, size_t c1, float *pre, size_t ldp,
                        float *scratch);

#endif
