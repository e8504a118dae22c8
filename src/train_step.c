/* train_step.c — see train_step.h. Per flow k, backward runs from the flow's output y = [a0; a1']:
 *   WN(a0) → (b, s) again, with its intermediates;  a1 = (a1' − b)·e^{−s}  (the coupling inverted)
 *   da1 = da1'·e^{s};  db = da1';  ds = da1'·e^{s}·a1 − inv_total  (the −Σ log_s term)
 *   WN backward adds into da0 and dcond;  x = W⁻¹·[a0; a1]  (the 1×1 conv inverted)
 *   dW += d[a0; a1]·xᵀ − steps·inv_total·W⁻ᵀ  (the −log|det W| term);  dx = Wᵀ·d[a0; a1]
 * Early outputs are rows of z that no later flow touches: their gradient is dz, already in place. */
#include "train_step.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "params.h"
#include "upsample.h"

int wg_train_work_alloc(const wg_config *c, size_t cap, bool keep, wg_train_work *w) {
    memset(w, 0, sizeof *w);
    if (wg_flow_work_alloc(c, cap, &w->fw)) return -1;
    if (keep) {
        size_t F = (size_t)c->n_flows, per = wg_wn_cache_floats(c, cap);
        w->keep = true;
        w->caches = calloc(F, sizeof *w->caches);
        w->keep_mem = malloc((F * per + F * (size_t)c->n_group * cap) * sizeof(float));
        if (!w->caches || !w->keep_mem) {
            wg_train_work_free(w);
            return -1;
        }
        for (size_t k = 0; k < F; k++) wg_wn_cache_init(&w->caches[k], c, cap, w->keep_mem + k * per);
        w->wn_outs = w->keep_mem + F * per;
    }
    size_t G = (size_t)c->n_group, MG = (size_t)c->n_mel_channels * G;
    size_t n_up = wg_upsample_backward_scratch(c), n_cache = wg_wn_cache_floats(c, cap);
    w->mem = malloc((MG * cap + 2 * G * cap + n_up + n_cache) * sizeof(float));
    if (!w->mem) {
        wg_train_work_free(w);
        return -1;
    }
    float *p = w->mem;
    w->capacity = cap;
    w->dcond = p, p += MG * cap;
    w->dx = p, p += G * cap;
    w->dwn = p, p += G * cap;
    w->up_scratch = p, p += n_up;
    wg_wn_cache_init(&w->cache, c, cap, p);
    return 0;
}

void wg_train_work_free(wg_train_work *w) {
    wg_flow_work_free(&w->fw);
    free(w->mem);
    free(w->caches);
    free(w->keep_mem);
    memset(w, 0, sizeof *w);
}

/* wg_flow_forward, keeping each flow's WN intermediates and output for the backward pass */
static void forward_keeping(const wg_model *m, wg_train_work *w, size_t n, double *log_s_sum) {
    const wg_config *c = &m->cfg;
    wg_flow_work *fw = &w->fw;
    size_t off = 0, G = (size_t)c->n_group;
    for (int k = 0; k < c->n_flows; k++) {
        const wg_flow_view *v = &m->flows[k];
        if (wg_flow_has_early(c, k)) off += (size_t)c->n_early_size;
        float *act = fw->audio + off * n, *out = w->wn_outs + (size_t)k * G * n;
        size_t half = (size_t)v->n_half, r = (size_t)v->n_rem;
        wg_gemm(r, n, r, v->convinv_w, r, act, n, 0.0f, fw->tmp, n);
        memcpy(act, fw->tmp, r * n * sizeof(float));
        wg_wn_forward_cached(m, v, act, n, fw->cond, n, &w->caches[k], out);
        double acc = 0;
        for (size_t ch = 0; ch < half; ch++) {
            const float *b = out + ch * n, *s = out + (half + ch) * n;
            float *a1 = act + (half + ch) * n;
            for (size_t t = 0; t < n; t++) {
                a1[t] = expf(s[t]) * a1[t] + b[t];
                acc += s[t];
            }
        }
        log_s_sum[k] += acc;
    }
}

void wg_train_segment(const wg_model *m, float *grad, const float *mel, size_t n_frames, const float *audio,
                      size_t n_samples, double inv_total, wg_train_work *w, wg_segment_terms *terms) {
    const wg_config *c = &m->cfg;
    size_t G = (size_t)c->n_group, n = n_samples / G, MG = (size_t)c->n_mel_channels * G;
    wg_flow_work *fw = &w->fw;
    /* gradient views over the flat gradient buffer */
    int F = c->n_flows, L = c->wn_n_layers;
    wg_flow_view gviews[F];
    float *lists[4 * L * F];
    float *g_up_w, *g_up_b;
    wg_bind_views(c, &m->table, grad, gviews, lists, &g_up_w, &g_up_b);

    /* forward */
    wg_mel_view view = wg_mel_view_all(mel, n_frames);
    wg_upsample_cond(m, &view, 0, n, fw->cond, n, fw->scratch);
    for (size_t ch = 0; ch < G; ch++)
        for (size_t t = 0; t < n; t++) fw->audio[ch * n + t] = audio[t * G + ch];
    double log_s[F];
    memset(log_s, 0, sizeof log_s);
    if (w->keep)
        forward_keeping(m, w, n, log_s);
    else
        wg_flow_forward(m, fw, n, 0, n, log_s);
    memset(terms, 0, sizeof *terms);
    double sigma2 = c->sigma * c->sigma;
    for (size_t i = 0; i < G * n; i++) {
        terms->sum_z2 += (double)fw->audio[i] * fw->audio[i];
        w->dx[i] = (float)(fw->audio[i] / sigma2 * inv_total);
    }
    for (int k = 0; k < F; k++) {
        terms->log_s += log_s[k];
        terms->log_det_w += (double)n * m->flows[k].log_det_w;
    }

    /* backward */
    memset(w->dcond, 0, MG * n * sizeof(float));
    size_t off = G - (size_t)m->flows[F - 1].n_rem;
    for (int k = F - 1; k >= 0; k--) {
        const wg_flow_view *v = &m->flows[k];
        const wg_flow_view *g = &gviews[k];
        size_t r = (size_t)v->n_rem, half = (size_t)v->n_half;
        float *act = fw->audio + off * n, *dact = w->dx + off * n;
        wg_wn_cache *cache = w->keep ? &w->caches[k] : &w->cache;
        const float *wn_out = w->keep ? w->wn_outs + (size_t)k * G * n : fw->wn_out;
        if (!w->keep) wg_wn_forward_cached(m, v, act, n, fw->cond, n, cache, fw->wn_out);
        for (size_t ch = 0; ch < half; ch++) {
            const float *b = wn_out + ch * n, *s = wn_out + (half + ch) * n;
            float *a1 = act + (half + ch) * n, *da1 = dact + (half + ch) * n;
            float *db = w->dwn + ch * n, *ds = w->dwn + (half + ch) * n;
            for (size_t t = 0; t < n; t++) {
                float es = expf(s[t]), scaled = a1[t] - b[t]; /* e^s · a1 */
                a1[t] = scaled / es;
                db[t] = da1[t];
                ds[t] = (float)(da1[t] * scaled - inv_total);
                da1[t] *= es;
            }
        }
        wg_wn_backward(m, v, g, act, n, fw->cond, n, cache, w->dwn, dact, n, w->dcond);
        /* the 1×1 conv: rebuild its input, then its gradients */
        wg_gemm(r, n, r, v->convinv_inv, r, act, n, 0.0f, fw->tmp, n);
        memcpy(act, fw->tmp, r * n * sizeof(float));
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)r, (int)r, (int)n, 1.0f, dact, (int)n, act, (int)n,
                    1.0f, g->convinv_w, (int)r);
        float scale = (float)((double)n * inv_total);
        for (size_t i = 0; i < r; i++)
            for (size_t j = 0; j < r; j++) g->convinv_w[i * r + j] -= scale * v->convinv_inv[j * r + i];
        wg_gemm_at(r, n, r, v->convinv_w, r, dact, n, 0.0f, fw->tmp, n);
        memcpy(dact, fw->tmp, r * n * sizeof(float));
        if (wg_flow_has_early(c, k)) off -= (size_t)c->n_early_size;
    }
    for (size_t ch = 0; ch < G; ch++)
        for (size_t t = 0; t < n; t++)
            terms->reconstruction_error =
                fmax(terms->reconstruction_error, fabs(fw->audio[ch * n + t] - audio[t * G + ch]));
    wg_upsample_backward(m, mel, n_frames, n, w->dcond, g_up_w, g_up_b, w->up_scratch);
}
