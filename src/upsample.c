/* upsample.c — see upsample.h. Frames are taken in blocks: one GEMM gives every frame's
 * kernel-long contribution (frames × n_mel·K), which is then added into the samples it
 * covers. */
#include "upsample.h"

#include "kernels.h"

enum { FRAME_BLOCK = 16 };

size_t wg_upsample_scratch(const wg_config *cfg) {
    return (size_t)FRAME_BLOCK * cfg->n_mel_channels * 4 * (size_t)cfg->hop_length;
}

void wg_upsample_cond(const wg_model *m, const wg_mel_view *mel, size_t step0, size_t n_steps, float *cond, size_t ld,
                      float *scratch) {
    const wg_config *c = &m->cfg;
    size_t M = (size_t)c->n_mel_channels, G = (size_t)c->n_group, hop = (size_t)c->hop_length, K = 4 * hop;
    size_t s0 = step0 * G, s1 = (step0 + n_steps) * G;
    for (size_t r = 0; r < M * G; r++) /* all G squeezed rows of mel channel r / G share its bias */
        for (size_t t = 0; t < n_steps; t++)
            cond[r * ld + t] = m->upsample_b[r / G];
    /* frames whose kernel [f·hop, f·hop + K) meets [s0, s1) */
    size_t f_lo = s0 + 1 > K ? (s0 + 1 - K + hop - 1) / hop : 0;
    size_t f_hi = (s1 - 1) / hop + 1;
    if (f_lo < mel->first)
        f_lo = mel->first; /* the caller keeps every frame that matters; see the header */
    if (f_hi > mel->first + mel->count)
        f_hi = mel->first + mel->count;
    for (size_t f0 = f_lo; f0 < f_hi; f0 += FRAME_BLOCK) {
        size_t nb = f_hi - f0 < FRAME_BLOCK ? f_hi - f0 : FRAME_BLOCK;
        /* P (nb, M·K) = melᵀ[f0 : f0+nb] · W, W stored (in, out·K) */
        wg_gemm_at(nb, M * K, M, mel->data + (f0 - mel->first), mel->ld, m->upsample_w, M * K, 0.0f, scratch, M * K);
        for (size_t fi = 0; fi < nb; fi++) {
            size_t base = (f0 + fi) * hop;
            size_t k_lo = base < s0 ? s0 - base : 0, k_hi = s1 - base < K ? s1 - base : K;
            for (size_t mm = 0; mm < M; mm++) {
                const float *p = scratch + fi * M * K + mm * K;
                float *rows = cond + mm * G * ld;
                if (hop % G == 0) { /* sample base + k − s0 lies in row k mod G, at step off + k / G */
                    long off = (long)(base / G) - (long)step0;
                    for (size_t j = 0; j < G; j++) {
                        size_t q0 = k_lo > j ? (k_lo - j + G - 1) / G : 0, q1 = k_hi > j ? (k_hi - j + G - 1) / G : 0;
                        float *row = rows + j * ld;
                        for (size_t q = q0; q < q1; q++) row[off + (long)q] += p[q * G + j];
                    }
                } else {
                    for (size_t k = k_lo; k < k_hi; k++) {
                        size_t s = base + k - s0;
                        rows[(s % G) * ld + s / G] += p[k];
                    }
                }
            }
        }
    }
}

void wg_upsample_backward(const wg_model *m, const float *mel, size_t n_frames, size_t n_steps, const float *dcond,
                          float *g_w, float *g_b, float *scratch) {
    const wg_config *c = &m->cfg;
    size_t M = (size_t)c->n_mel_channels, G = (size_t)c->n_group, hop = (size_t)c->hop_length, K = 4 * hop;
    size_t S = n_steps * G;
    for (size_t mm = 0; mm < M; mm++) {
        double acc = 0;
        for (size_t t = 0; t < G * n_steps; t++) acc += dcond[mm * G * n_steps + t];
        g_b[mm] += (float)acc;
    }
    size_t f_hi = (S - 1) / hop + 1;
    if (f_hi > n_frames) f_hi = n_frames;
    for (size_t f0 = 0; f0 < f_hi; f0 += FRAME_BLOCK) {
        size_t nb = f_hi - f0 < FRAME_BLOCK ? f_hi - f0 : FRAME_BLOCK;
        /* Dy (nb, M·K): row f holds dL/d up[o][f·hop + k], zero past the cut */
        for (size_t fi = 0; fi < nb; fi++) {
            size_t base = (f0 + fi) * hop;
            for (size_t mm = 0; mm < M; mm++) {
                float *row = scratch + fi * M * K + mm * K;
                const float *rows = dcond + mm * G * n_steps;
                for (size_t k = 0; k < K; k++) {
                    size_t s = base + k;
                    row[k] = s < S ? rows[(s % G) * n_steps + s / G] : 0.0f;
                }
            }
        }
        /* dW (M_in, M·K) += mel[:, f0 : f0+nb] · Dy */
        wg_gemm(M, M * K, nb, mel + f0, n_frames, scratch, M * K, 1.0f, g_w, M * K);
    }
}
