/* synth.c — encode, decode and synthesis over whole signals: the work is cut into windows of
 * group steps, each extended by the flows' reach on both sides (clipped at the signal's ends,
 * where the zero padding is the same as in a whole-signal pass), so every kept column is exact
 * and memory is bounded by the window, not the input. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "condfold.h"
#include "err.h"
#include "flow.h"
#include "kernels.h"
#include "rng.h"
#include "synth.h"
#include "upsample.h"

wg_run_params wg_run_default_params(void) { return (wg_run_params){0}; }

/* Each window recomputes its reach on both sides: a long input goes in windows that keep
 * 16384 steps, or 8 reaches where that is more (at most a quarter repeated: NVIDIA's config
 * reaches 3060 steps, and 16384 alone would repeat 37%). An input that two windows would cut
 * with at least 2.5% of it repeated (up to 80 reaches) goes in one window where its whole arena
 * fits WINDOW_BYTES: the bundled model up to 40 320 steps (20 s; two windows from 17 392
 * before, the second repeating 1008 steps), NVIDIA's config up to 31 943 (arena-bound; 30 600
 * before), models of short reach as before. The bundled model at 10 s (wg_bench decode, this
 * rule against the one before, alternated on a Zen 3), unfolded, 1 / 2 threads: 60.2-61.8k ->
 * 61.9-65.1k and 118.1-121.6k -> 120.7-127.5k samples/s; folded (the fold read once, not
 * twice) 99.3-103.5k -> 99.9-106.3k on one thread, within the noise on two. Long inputs keep
 * their windows: wider ones (40 000 steps, 5.9% -> 2.5% repeated) gave no difference above this
 * host's noise in 60 s vocode runs, for 140 MB more. */
static const size_t WINDOW_BYTES = (size_t)256 << 20;

size_t wg_synth_window_steps(const wg_config *c, size_t steps, size_t chunk_steps) {
    size_t r = wg_flow_reach(c), chunk = chunk_steps ? chunk_steps : 16384 > 8 * r ? 16384 : 8 * r;
    if (steps <= chunk + 2 * r ||
        (!chunk_steps && steps <= 80 * r && wg_flow_work_floats(c, steps) * sizeof(float) <= WINDOW_BYTES))
        return steps; /* one window, no overlap */
    return chunk;
}

static int check_mel(const wg_model *m, const float *mel, size_t n_frames, wg_error *err) {
    if (!mel || n_frames == 0)
        return wg_fail(err, WG_ETOOSHORT, "the mel has no frames");
    size_t n = n_frames * (size_t)m->cfg.n_mel_channels;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(mel[i]))
            return wg_fail(err, WG_ENONFINITE, "mel value at band %zu, frame %zu is %s", i / n_frames, i % n_frames,
                           isnan(mel[i]) ? "NaN" : "infinite");
    return 0;
}

/* Windows [w0, w1) ⊇ [c0, c1) over `steps` steps, with `reach` context. */
static wg_window window_at(size_t c0, size_t chunk, size_t steps, size_t reach) {
    wg_window w;
    w.c0 = c0;
    w.c1 = c0 + chunk < steps ? c0 + chunk : steps;
    w.w0 = c0 > reach ? c0 - reach : 0;
    w.w1 = w.c1 + reach < steps ? w.c1 + reach : steps;
    return w;
}

struct wg_workspace {
    wg_flow_work work; /* empty (all zero) until a call lays it out */
};

int wg_workspace_create(wg_workspace **out, wg_error *err) {
    *out = calloc(1, sizeof **out);
    return *out ? 0 : wg_fail(err, WG_ENOMEM, "out of memory for a workspace");
}

const wg_flow_work *wg_workspace_work(const wg_workspace *ws) { return &ws->work; }

void wg_workspace_free(wg_workspace *ws) {
    if (!ws) return;
    wg_flow_work_free(&ws->work);
    free(ws);
}

/* One plan for a whole call: window size, the arena, and its team of threads; *work is the
 * workspace's arena, kept as it is where it fits, or else `own` (release frees that one). */
static int plan(const wg_model *m, size_t steps, const wg_run_params *p, size_t *chunk, size_t *reach,
                wg_flow_work *own, wg_flow_work **work, wg_error *err) {
    *reach = wg_flow_reach(&m->cfg);
    *chunk = wg_synth_window_steps(&m->cfg, steps, p->chunk_steps);
    size_t cap = *chunk + 2 * *reach < steps ? *chunk + 2 * *reach : steps;
    wg_flow_work *w = *work = p->workspace ? &p->workspace->work : own;
    if (!p->workspace || !wg_flow_work_fits(w, &m->cfg, cap)) {
        if (p->workspace) wg_flow_work_free(w);
        if (wg_flow_work_alloc(&m->cfg, cap, w))
            return wg_fail(err, WG_ENOMEM, "out of memory for a window of %zu steps", cap);
    }
    if (wg_model_folded(m) && !w->fold_mem && wg_flow_work_fold(w, &m->cfg)) {
        wg_flow_work_free(w);
        return wg_fail(err, WG_ENOMEM, "out of memory for a window of %zu steps", cap);
    }
    wg_flow_work_threads(w, p->n_threads);
    return 0;
}

/* The end of a call: its own arena freed (a workspace's is kept), the caller's BLAS threads back. */
static void release(const wg_run_params *p, wg_flow_work *w, int blas_threads) {
    if (!p->workspace) wg_flow_work_free(w);
    wg_set_threads(blas_threads);
}

/* A member's share of a window's conditioning, columns [c0, c1) of n: the upsampled mel, or with
 * the fold, the frame columns whose first step in the window is one of the member's (so that
 * each is written once; the flows read them after the WN's first barrier). */
static void member_cond(const wg_model *m, wg_flow_work *w, const wg_mel_view *mel, size_t w0, size_t c0, size_t c1,
                        size_t n, int rank) {
    const wg_cond_fold_input *f = &w->wn.fold;
    if (!f->frames) {
        wg_upsample_cond(m, mel, w0 + c0, c1 - c0, w->cond + c0, n, wg_flow_work_scratch(w, rank));
        return;
    }
    size_t h0, h1;
    wg_cond_fold_frame_range(&m->cfg, c0 ? w0 + c0 - 1 : w0, w0 + c1, &h0, &h1);
    if (c0) h0++; /* the frame of step w0 + c0 − 1 is the member before's */
    if (h0 < h1) wg_cond_fold_frames(&m->cfg, mel, f->h_first, h0, h1, (float *)f->frames, f->ld);
}

/* Sets the work up for window win: the folded conditioning's frames start at its first step's. */
static void start_window(const wg_model *m, wg_flow_work *w, wg_window win) {
    size_t h0, h1;
    wg_cond_fold_frame_range(&m->cfg, win.w0, win.w1, &h0, &h1);
    wg_flow_work_fold_window(w, m, win.w0, win.w1 - win.w0, h0);
}

typedef struct forward_job {
    const wg_model *m;
    wg_flow_work *w;
    const wg_mel_view *mel;
    const float *audio;
    float *z;
    size_t steps;
    wg_window win;
    double *log_s_parts; /* n_flows per member */
} forward_job;

/* One member's columns of a window, from the conditioning to the latent it keeps. */
static void forward_member(void *arg, int rank, int size) {
    forward_job *j = arg;
    wg_flow_work *w = j->w;
    size_t G = (size_t)j->m->cfg.n_group, n = j->win.w1 - j->win.w0, c0, c1;
    size_t k0 = j->win.c0 - j->win.w0, k1 = j->win.c1 - j->win.w0; /* the kept columns */
    wg_team_split(n, rank, size, &c0, &c1);
    if (c0 < c1) {
        member_cond(j->m, w, j->mel, j->win.w0, c0, c1, n, rank);
        for (size_t ch = 0; ch < G; ch++)
            for (size_t t = c0; t < c1; t++)
                w->audio[ch * n + t] = j->audio[(j->win.w0 + t) * G + ch];
    }
    wg_flow_forward_part(j->m, w, n, k0, k1, j->log_s_parts + (size_t)rank * j->m->cfg.n_flows, c0, c1, w->team,
                         wg_flow_work_scratch(w, rank));
    size_t t0 = k0 > c0 ? k0 : c0, t1 = k1 < c1 ? k1 : c1;
    for (size_t ch = 0; ch < G && t0 < t1; ch++)
        memcpy(j->z + ch * j->steps + j->win.w0 + t0, w->audio + ch * n + t0, (t1 - t0) * sizeof(float));
}

int wg_encode(const wg_model *m, const float *mel, size_t n_frames, const float *audio, size_t n_samples, float *z,
              wg_likelihood *lk, const wg_run_params *params, wg_error *err) {
    const wg_config *c = &m->cfg;
    wg_run_params p = params ? *params : wg_run_default_params();
    size_t G = (size_t)c->n_group, hop = (size_t)c->hop_length;
    int rc = check_mel(m, mel, n_frames, err);
    if (rc)
        return rc;
    if (n_samples < G || n_samples % G)
        return wg_fail(err, WG_EINVAL, "%zu samples is not a positive multiple of n_group = %zu", n_samples, G);
    if ((n_frames - 1) * hop + 4 * hop < n_samples)
        return wg_fail(err, WG_EINVAL, "%zu mel frames cover %zu samples, fewer than the audio's %zu", n_frames,
                       (n_frames - 1) * hop + 4 * hop, n_samples);
    for (size_t i = 0; i < n_samples; i++)
        if (!isfinite(audio[i]))
            return wg_fail(err, WG_ENONFINITE, "audio sample %zu is %s", i, isnan(audio[i]) ? "NaN" : "infinite");
    size_t steps = n_samples / G, chunk, reach;
    wg_flow_work own, *w;
    int blas_threads = wg_get_threads(); /* the caller's, put back at the end */
    if ((rc = plan(m, steps, &p, &chunk, &reach, &own, &w, err)))
        return rc;
    /* each member's log_s sums, added up in member order at the end: the same result for the
     * same number of threads */
    int members = wg_team_size(w->team);
    double *log_s = calloc((size_t)(members + 1) * (size_t)c->n_flows, sizeof(double));
    if (!log_s) {
        release(&p, w, blas_threads);
        return wg_fail(err, WG_ENOMEM, "out of memory");
    }
    for (size_t c0 = 0; c0 < steps; c0 += chunk) {
        wg_window win = window_at(c0, chunk, steps, reach);
        wg_mel_view view = wg_mel_view_all(mel, n_frames);
        forward_job job = {m, w, &view, audio, z, steps, win, log_s + c->n_flows};
        start_window(m, w, win);
        wg_team_run(w->team, forward_member, &job);
        if (p.progress)
            p.progress(win.c1 * G, n_samples, p.user_data);
    }
    for (int r = 0; r < members; r++)
        for (int k = 0; k < c->n_flows; k++)
            log_s[k] += log_s[(size_t)(r + 1) * c->n_flows + k];
    if (lk) {
        memset(lk, 0, sizeof *lk);
        double sigma = c->sigma, n = (double)n_samples;
        lk->n_samples = n_samples;
        lk->sigma = sigma;
        for (size_t i = 0; i < n_samples; i++)
            lk->sum_z2 += (double)z[i] * z[i];
        for (int k = 0; k < c->n_flows; k++) {
            lk->log_s_total += log_s[k];
            lk->log_det_w_total += (double)steps * m->flows[k].log_det_w;
        }
        lk->log_likelihood = -lk->sum_z2 / (2 * sigma * sigma) - n * (0.5 * log(2 * M_PI) + log(sigma)) +
                             lk->log_s_total + lk->log_det_w_total;
        lk->nats_per_sample = lk->log_likelihood / n;
        lk->bits_per_sample16 = wg_bits_per_sample16(lk->nats_per_sample);
        lk->loss = (lk->sum_z2 / (2 * sigma * sigma) - lk->log_s_total - lk->log_det_w_total) / n;
    }
    free(log_s);
    release(&p, w, blas_threads);
    return 0;
}

typedef struct inverse_job {
    const wg_model *m;
    wg_flow_work *w;
    const wg_mel_view *mel;
    const float *z;
    size_t z_ld;
    float sigma;
    uint64_t seed;
    wg_window win;
    float *audio;
} inverse_job;

/* One member's columns of a window, from the conditioning to the audio it keeps. */
static void inverse_member(void *arg, int rank, int size) {
    inverse_job *j = arg;
    wg_flow_work *w = j->w;
    size_t G = (size_t)j->m->cfg.n_group, n = j->win.w1 - j->win.w0, c0, c1;
    wg_team_split(n, rank, size, &c0, &c1);
    if (c0 < c1) {
        member_cond(j->m, w, j->mel, j->win.w0, c0, c1, n, rank);
        if (j->z) {
            for (size_t ch = 0; ch < G; ch++)
                for (size_t t = c0; t < c1; t++)
                    w->audio[ch * n + t] = j->sigma * j->z[ch * j->z_ld + j->win.w0 + t];
        } else {
            wg_fill_latent(j->seed, j->sigma, (int)G, j->win.w0 + c0, c1 - c0, w->audio + c0, n);
        }
    }
    wg_flow_inverse_part(j->m, w, n, c0, c1, w->team, wg_flow_work_scratch(w, rank));
    /* the kept steps [win.c0, win.c1) that are this member's */
    size_t k0 = j->win.c0 - j->win.w0, k1 = j->win.c1 - j->win.w0;
    for (size_t t = k0 > c0 ? k0 : c0; t < (k1 < c1 ? k1 : c1); t++)
        for (size_t ch = 0; ch < G; ch++)
            j->audio[(t - k0) * G + ch] = w->audio[ch * n + t];
}

void wg_inverse_window(const wg_model *m, wg_flow_work *w, const wg_mel_view *mel, const float *z, size_t z_ld,
                       float sigma, uint64_t seed, wg_window win, float *audio) {
    inverse_job job = {m, w, mel, z, z_ld, sigma, seed, win, audio};
    start_window(m, w, win);
    wg_team_run(w->team, inverse_member, &job);
}

double wg_bits_per_sample16(double nats_per_sample) { return (log(32768.0) - nats_per_sample) / log(2.0); }

size_t wg_synth_samples(const wg_model *m, size_t n_frames) {
    size_t G = (size_t)m->cfg.n_group;
    return n_frames * (size_t)m->cfg.hop_length / G * G;
}

/* decode and synthesize: z from an array (z != NULL) or from the generator */
static int inverse(const wg_model *m, const float *mel, size_t n_frames, const float *z, size_t n_samples, float sigma,
                   uint64_t seed, float *audio, const wg_run_params *params, wg_error *err) {
    const wg_config *c = &m->cfg;
    wg_run_params p = params ? *params : wg_run_default_params();
    size_t G = (size_t)c->n_group, hop = (size_t)c->hop_length;
    int rc = check_mel(m, mel, n_frames, err);
    if (rc)
        return rc;
    if (!isfinite(sigma) || sigma < 0)
        return wg_fail(err, WG_EINVAL, "sigma %g must be finite and >= 0", sigma);
    if (n_samples % G)
        return wg_fail(err, WG_EINVAL, "%zu samples is not a multiple of n_group = %zu", n_samples, G);
    if ((n_frames - 1) * hop + 4 * hop < n_samples)
        return wg_fail(err, WG_EINVAL, "%zu mel frames cover %zu samples, fewer than the %zu asked for", n_frames,
                       (n_frames - 1) * hop + 4 * hop, n_samples);
    size_t steps = n_samples / G, chunk, reach;
    if (steps == 0)
        return wg_fail(err, WG_ETOOSHORT, "%zu mel frames give no complete group of samples", n_frames);
    if (z)
        for (size_t i = 0; i < n_samples; i++)
            if (!isfinite(z[i]))
                return wg_fail(err, WG_ENONFINITE, "latent value at channel %zu, step %zu is %s", i / steps, i % steps,
                               isnan(z[i]) ? "NaN" : "infinite");
    wg_flow_work own, *w;
    int blas_threads = wg_get_threads(); /* the caller's, put back at the end */
    if ((rc = plan(m, steps, &p, &chunk, &reach, &own, &w, err)))
        return rc;
    for (size_t c0 = 0; c0 < steps; c0 += chunk) {
        wg_window win = window_at(c0, chunk, steps, reach);
        wg_mel_view view = wg_mel_view_all(mel, n_frames);
        wg_inverse_window(m, w, &view, z, steps, sigma, seed, win, audio + win.c0 * G);
        if (p.progress)
            p.progress(win.c1 * G, n_samples, p.user_data);
    }
    release(&p, w, blas_threads);
    return 0;
}

int wg_decode(const wg_model *m, const float *mel, size_t n_frames, const float *z, size_t n_samples, float sigma,
              float *audio, const wg_run_params *params, wg_error *err) {
    if (!z)
        return wg_fail(err, WG_EINVAL, "wg_decode: no latent given");
    return inverse(m, mel, n_frames, z, n_samples, sigma, 0, audio, params, err);
}

int wg_synthesize(const wg_model *m, const float *mel, size_t n_frames, float sigma, uint64_t seed, float *audio,
                  const wg_run_params *params, wg_error *err) {
    return inverse(m, mel, n_frames, NULL, wg_synth_samples(m, n_frames), sigma, seed, audio, params, err);
}
