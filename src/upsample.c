/* upsample.c — see upsample.h. The forward runs hop by hop in phases: output sample h·hop + o
 * is Σ_d Σ_i mel[i][h − d] · W[i][m][o + d·hop] over the 4 frames that cover it, so one GEMM
 * per (mel channel, d) over a block of hops gives a block of samples, and the weights are read
 * once per block of HOP_BLOCK hops (per frame, the 6.5 MB kernel costs more to pack than to use).
 * The backward takes frames in blocks: one GEMM per block gives dW from every frame's
 * kernel-long gradient. */
#include "upsample.h"

#include "kernels.h"

enum { FRAME_BLOCK = 16, HOP_BLOCK = 64, TAPS = 4 };

size_t wg_upsample_scratch(const wg_config *cfg) {
    size_t M = (size_t)cfg->n_mel_channels, hop = (size_t)cfg->hop_length;
    return (size_t)HOP_BLOCK * hop + M * (HOP_BLOCK + TAPS - 1);
}

size_t wg_upsample_backward_scratch(const wg_config *cfg) {
    return (size_t)FRAME_BLOCK * cfg->n_mel_channels * TAPS * (size_t)cfg->hop_length;
}

void wg_upsample_cond(const wg_model *m, const wg_mel_view *mel, size_t step0, size_t n_steps, float *cond, size_t ld,
                      float *scratch) {
    const wg_config *c = &m->cfg;
    size_t M = (size_t)c->n_mel_channels, G = (size_t)c->n_group, hop = (size_t)c->hop_length, K = TAPS * hop;
    size_t s0 = step0 * G, s1 = (step0 + n_steps) * G;
    for (size_t r = 0; r < M * G; r++) /* all G squeezed rows of mel channel r / G share its bias */
        for (size_t t = 0; t < n_steps; t++)
            cond[r * ld + t] = m->upsample_b[r / G];
    if (n_steps == 0) return;
    float *out = scratch;                           /* (nh, hop): the samples of one mel channel */
    float *frames = scratch + (size_t)HOP_BLOCK * hop; /* (M, nh + 3): frames h0 − 3 … h0 + nh − 1 */
    for (size_t h0 = s0 / hop, h_end = (s1 - 1) / hop + 1; h0 < h_end; h0 += HOP_BLOCK) {
        size_t nh = h_end - h0 < HOP_BLOCK ? h_end - h0 : HOP_BLOCK, ldf = nh + TAPS - 1;
        /* frames before the view or past its end are absent: the caller keeps every frame that
         * matters (see the header) */
        for (size_t i = 0; i < M; i++)
            for (size_t col = 0; col < ldf; col++) {
                long f = (long)(h0 + col) - (TAPS - 1);
                int inside = f >= (long)mel->first && f < (long)(mel->first + mel->count);
                frames[i * ldf + col] = inside ? mel->data[i * mel->ld + (size_t)f - mel->first] : 0.0f;
            }
        for (size_t mm = 0; mm < M; mm++) {
            /* out[h][o] = Σ_d Σ_i frames[i][h + 3 − d] · W[i][mm][d·hop + o], W stored (in, out·K) */
            for (size_t d = 0; d < TAPS; d++)
                wg_gemm_at(nh, hop, M, frames + (TAPS - 1 - d), ldf, m->upsample_w + mm * K + d * hop, M * K,
                           d ? 1.0f : 0.0f, out, hop);
            float *rows = cond + mm * G * ld;
            for (size_t h = 0; h < nh; h++) {
                size_t base = (h0 + h) * hop;
                size_t o_lo = base < s0 ? s0 - base : 0, o_hi = s1 - base < hop ? s1 - base : hop;
                const float *p = out + h * hop;
                if (hop % G == 0) { /* sample base + o lies in row o mod G, at step base/G + o/G */
                    long off = (long)(base / G) - (long)step0;
                    for (size_t j = 0; j < G; j++) {
                        float *row = rows + j * ld;
                        for (size_t q = o_lo / G; q < o_hi / G; q++) row[off + (long)q] += p[q * G + j];
                    }
                } else {
                    for (size_t o = o_lo; o < o_hi; o++) {
                        size_t s = base + o;
                        rows[(s % G) * ld + s / G - step0] += p[o];
                    }
                }
            }
        }
    }
}

void wg_upsample_backward(const wg_model *m, const float *mel, size_t n_frames, size_t n_steps, const float *dcond,
                          float *g_w, float *g_b, float *scratch) {
    const wg_config *c = &m->cfg;
    size_t M = (size_t)c->n_mel_channels, G = (size_t)c->n_group, hop = (size_t)c->hop_length, K = TAPS * hop;
    size_t S = n_steps * G;
    for (size_t mm = 0; mm < M; mm++) g_b[mm] += (float)wg_sum_f64(dcond + mm * G * n_steps, G * n_steps);
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
