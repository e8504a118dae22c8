/* wavenet.c — see wavenet.h. */
#include "wavenet.h"

#include <string.h>

#include "kernels.h"

static size_t wn_pad(const wg_config *c) { return (size_t)(c->wn_kernel_size - 1) / 2 << (c->wn_n_layers - 1); }

size_t wg_wn_work_floats(const wg_config *c, size_t cap) {
    size_t C = (size_t)c->wn_n_channels;
    return C * (cap + 2 * wn_pad(c)) + 2 * C * cap + C * cap + C * cap;
}

void wg_wn_work_init(wg_wn_work *w, const wg_config *c, size_t cap, float *mem) {
    size_t C = (size_t)c->wn_n_channels;
    w->capacity = cap;
    w->pad = wn_pad(c);
    w->h = mem, mem += C * (cap + 2 * w->pad);
    w->pre = mem, mem += 2 * C * cap;
    w->acts = mem, mem += C * cap;
    w->skip = mem;
}

void wg_wn_forward(const wg_model *m, const wg_flow_view *v, const float *a0, size_t lda, const float *cond, size_t n,
                   wg_wn_work *w, float *out) {
    const wg_config *c = &m->cfg;
    size_t C = (size_t)c->wn_n_channels, L = (size_t)c->wn_n_layers, K = (size_t)c->wn_kernel_size;
    size_t MG = (size_t)c->n_mel_channels * c->n_group, P = w->pad, ldh = n + 2 * P;
    float *hc = w->h + P; /* h's first real column */
    /* the zero padding: what a conv with padding = dilation·(K−1)/2 sees past either end */
    for (size_t r = 0; r < C; r++) {
        memset(w->h + r * ldh, 0, P * sizeof(float));
        memset(hc + r * ldh + n, 0, P * sizeof(float));
    }
    wg_fill_bias(hc, C, n, ldh, v->start_b);
    wg_gemm(C, n, (size_t)v->n_half, v->start_w, (size_t)v->n_half, a0, lda, 1.0f, hc, ldh);
    wg_fill_bias(w->skip, C, n, n, NULL);
    for (size_t i = 0; i < L; i++) {
        size_t d = (size_t)1 << i;
        /* pre = in_b + cond_b slice + cond_w slice · cond + Σ_j W_j · h shifted by (j − (K−1)/2)·d */
        wg_fill_bias(w->pre, 2 * C, n, n, v->in_b[i]);
        wg_add_bias(w->pre, 2 * C, n, n, v->cond_b + i * 2 * C);
        wg_gemm(2 * C, n, MG, v->cond_w + i * 2 * C * MG, MG, cond, n, 1.0f, w->pre, n);
        for (size_t j = 0; j < K; j++) {
            long shift = ((long)j - (long)(K - 1) / 2) * (long)d;
            wg_gemm(2 * C, n, C, v->in_w_taps + (i * K + j) * 2 * C * C, C, hc + shift, ldh, 1.0f, w->pre, n);
        }
        wg_gate(w->acts, w->pre, C, n);
        const float *rw = v->rs_w[i], *rb = v->rs_b[i];
        if (i < L - 1) {
            wg_add_bias(hc, C, n, ldh, rb);
            wg_gemm(C, n, C, rw, C, w->acts, n, 1.0f, hc, ldh);
            wg_add_bias(w->skip, C, n, n, rb + C);
            wg_gemm(C, n, C, rw + C * C, C, w->acts, n, 1.0f, w->skip, n);
        } else {
            wg_add_bias(w->skip, C, n, n, rb);
            wg_gemm(C, n, C, rw, C, w->acts, n, 1.0f, w->skip, n);
        }
    }
    size_t out_rows = 2 * (size_t)v->n_half;
    wg_fill_bias(out, out_rows, n, n, v->end_b);
    wg_gemm(out_rows, n, C, v->end_w, C, w->skip, n, 1.0f, out, n);
}
