/* flow.c — see flow.h. */
#include "flow.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hugealloc.h"
#include "kernels.h"
#include "params.h"
#include "upsample.h"

size_t wg_flow_reach(const wg_config *c) {
    return (size_t)c->n_flows * (size_t)(c->wn_kernel_size - 1) / 2 * (((size_t)1 << c->wn_n_layers) - 1);
}

/* A member's scratch: the upsampler's, the Winograd tiles' or the fold's, whichever is largest. */
static size_t scratch_floats(const wg_config *c, size_t cap) {
    size_t n_up = wg_upsample_scratch(c), n_tiles = wg_wn_scratch_floats(c);
    size_t n_fold = wg_cond_fold_scratch_floats(c, cap); /* the fold shares the members' scratch */
    size_t n_scratch = n_up > n_tiles ? n_up : n_tiles;
    return n_scratch > n_fold ? n_scratch : n_fold;
}

size_t wg_flow_work_floats(const wg_config *c, size_t cap) {
    size_t G = (size_t)c->n_group, MG = (size_t)c->n_mel_channels * G;
    return MG * cap + 3 * G * cap + scratch_floats(c, cap) + wg_wn_work_floats(c, cap);
}

int wg_flow_work_alloc(const wg_config *c, size_t cap, wg_flow_work *w) {
    memset(w, 0, sizeof *w);
    size_t G = (size_t)c->n_group, MG = (size_t)c->n_mel_channels * G, n_scratch = scratch_floats(c, cap);
    w->mem = wg_alloc_huge(wg_flow_work_floats(c, cap) * sizeof(float));
    if (!w->mem)
        return -1;
    float *p = w->mem;
    w->capacity = cap;
    w->cfg = *c;
    w->cond = p, p += MG * cap;
    w->audio = p, p += G * cap;
    w->wn_out = p, p += G * cap;
    w->tmp = p, p += G * cap;
    w->scratch = p, p += n_scratch;
    w->scratch_floats = n_scratch;
    wg_wn_work_init(&w->wn, c, cap, p);
    return 0;
}

int wg_flow_work_fits(const wg_flow_work *w, const wg_config *c, size_t cap) {
    const wg_config *a = &w->cfg; /* the fields that size the buffers (here, wavenet.c, upsample.c, condfold.c) */
    return w->mem && cap <= w->capacity && a->hop_length == c->hop_length && a->n_mel_channels == c->n_mel_channels &&
           a->n_group == c->n_group && a->wn_n_layers == c->wn_n_layers && a->wn_n_channels == c->wn_n_channels &&
           a->wn_kernel_size == c->wn_kernel_size;
}

static size_t fold_cols(const wg_config *c, size_t cap) {
    return cap / wg_cond_fold_phases(c) + 2; /* cap steps span at most this many frames */
}

int wg_flow_work_fold(wg_flow_work *w, const wg_config *c) {
    size_t cols = fold_cols(c, w->capacity), KF = 4 * (size_t)c->n_mel_channels;
    free(w->fold_mem);
    w->fold_mem = malloc(KF * cols * sizeof(float));
    return w->fold_mem ? 0 : -1;
}

void wg_flow_work_fold_window(wg_flow_work *w, const wg_model *m, size_t step0, size_t n_steps, size_t h_first) {
    const wg_config *c = &m->cfg;
    w->wn.fold = (wg_cond_fold_input){0};
    if (!w->fold_mem || !wg_model_folded(m) || !wg_cond_fold_pays(m, n_steps)) return;
    w->wn.fold = (wg_cond_fold_input){w->fold_mem, fold_cols(c, w->capacity), h_first, step0,
                                     m->cond_fold_panel_cols, m->cond_fold_chunk_frames};
}

void wg_flow_work_free(wg_flow_work *w) {
    wg_team_destroy(w->team);
    free(w->member_scratch);
    free(w->fold_mem);
    free(w->mem);
    memset(w, 0, sizeof *w);
}

void wg_flow_work_threads(wg_flow_work *w, int n_threads) {
    int threads = n_threads > 0 ? n_threads : wg_default_threads();
    if (w->team && wg_team_size(w->team) != threads) {
        wg_team_destroy(w->team);
        free(w->member_scratch);
        w->team = NULL, w->member_scratch = NULL;
    }
    if (threads > 1 && !w->team) {
        w->member_scratch = malloc((size_t)(threads - 1) * w->scratch_floats * sizeof(float));
        w->team = w->member_scratch ? wg_team_create(threads) : NULL;
        if (!w->team) free(w->member_scratch), w->member_scratch = NULL;
    }
    wg_set_threads(w->team ? 1 : threads);
}

float *wg_flow_work_scratch(wg_flow_work *w, int rank) {
    return rank == 0 ? w->scratch : w->member_scratch + (size_t)(rank - 1) * w->scratch_floats;
}

/* act (r, n) ← M (r, r) · act on columns [c0, c1) */
static void mix_channels(const float *mat, float *act, size_t r, size_t n, float *tmp, size_t c0, size_t c1) {
    wg_gemm(r, c1 - c0, r, mat, r, act + c0, n, 0.0f, tmp + c0, n);
    for (size_t i = 0; i < r; i++) memcpy(act + i * n + c0, tmp + i * n + c0, (c1 - c0) * sizeof(float));
}

void wg_flow_forward(const wg_model *m, wg_flow_work *w, size_t n, size_t lo, size_t hi, double *log_s_sum) {
    wg_flow_forward_part(m, w, n, lo, hi, log_s_sum, 0, n, NULL, w->scratch);
}

void wg_flow_forward_part(const wg_model *m, wg_flow_work *w, size_t n, size_t lo, size_t hi, double *log_s_sum,
                          size_t c0, size_t c1, wg_team *team, float *scratch) {
    const wg_config *c = &m->cfg;
    size_t off = 0;
    size_t s0 = lo > c0 ? lo : c0, s1 = hi < c1 ? hi : c1; /* the log_s columns this member sums */
    for (int k = 0; k < c->n_flows; k++) {
        const wg_flow_view *v = &m->flows[k];
        if (wg_flow_has_early(c, k))
            off += (size_t)c->n_early_size;
        float *act = w->audio + off * n;
        size_t half = (size_t)v->n_half;
        mix_channels(v->convinv_w, act, (size_t)v->n_rem, n, w->tmp, c0, c1);
        wg_wn_forward_part(m, v, act, n, w->cond, n, &w->wn, w->wn_out, c0, c1, team, scratch);
        double acc = 0;
        for (size_t ch = 0; ch < half; ch++) {
            const float *b = w->wn_out + ch * n, *s = w->wn_out + (half + ch) * n;
            float *a1 = act + (half + ch) * n;
            for (size_t t = c0; t < c1; t++)
                a1[t] = expf(s[t]) * a1[t] + b[t];
            for (size_t t = s0; t < s1; t++)
                acc += s[t];
        }
        if (log_s_sum)
            log_s_sum[k] += acc;
    }
}

void wg_flow_inverse(const wg_model *m, wg_flow_work *w, size_t n) {
    wg_flow_inverse_part(m, w, n, 0, n, NULL, w->scratch);
}

void wg_flow_inverse_part(const wg_model *m, wg_flow_work *w, size_t n, size_t c0, size_t c1, wg_team *team,
                          float *scratch) {
    const wg_config *c = &m->cfg;
    size_t off = (size_t)c->n_group - (size_t)m->flows[c->n_flows - 1].n_rem;
    for (int k = c->n_flows - 1; k >= 0; k--) {
        const wg_flow_view *v = &m->flows[k];
        float *act = w->audio + off * n;
        size_t half = (size_t)v->n_half;
        /* everything but the WN's dilated taps is column by column: no barrier outside the WN */
        wg_wn_forward_part(m, v, act, n, w->cond, n, &w->wn, w->wn_out, c0, c1, team, scratch);
        for (size_t ch = 0; ch < half; ch++) {
            const float *b = w->wn_out + ch * n, *s = w->wn_out + (half + ch) * n;
            float *a1 = act + (half + ch) * n;
            for (size_t t = c0; t < c1; t++)
                a1[t] = (a1[t] - b[t]) * expf(-s[t]);
        }
        mix_channels(v->convinv_inv, act, (size_t)v->n_rem, n, w->tmp, c0, c1);
        if (wg_flow_has_early(c, k))
            off -= (size_t)c->n_early_size;
    }
}
