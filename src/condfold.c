/* condfold.c — see condfold.h. */
#include "condfold.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "kernels.h"

enum { TAPS = 4 }; /* the upsampler's kernel is 4·hop (upsample.h) */

int wg_cond_fold_supported(const wg_config *c) {
    return c->hop_length % c->n_group == 0 && TAPS < c->n_group;
}

size_t wg_cond_fold_floats(const wg_config *c) {
    size_t R = (size_t)(c->hop_length / c->n_group), CL2 = 2 * (size_t)c->wn_n_channels * c->wn_n_layers;
    return (size_t)c->n_flows * (R * CL2 * TAPS * c->n_mel_channels + CL2);
}

double wg_cond_fold_build_flops(const wg_config *c) {
    double R = c->hop_length / c->n_group, CL2 = 2.0 * c->wn_n_channels * c->wn_n_layers, M = c->n_mel_channels;
    return c->n_flows * R * 2 * CL2 * (M * c->n_group) * (TAPS * M);
}

double wg_cond_fold_saved_flops_per_step(const wg_config *c) {
    double CL2 = 2.0 * c->wn_n_channels * c->wn_n_layers, M = c->n_mel_channels, G = c->n_group;
    /* the cond GEMMs shrink from M·G to 4·M columns; the upsampler's 2·M·M·4·hop a frame goes */
    return c->n_flows * 2 * CL2 * (M * G - TAPS * M) + 2 * M * M * TAPS * G;
}

int wg_cond_fold_pays(const wg_model *m, size_t n_steps) {
    return n_steps / (size_t)(m->cfg.hop_length / m->cfg.n_group) >= m->cond_fold_min_frames;
}

void wg_model_unfold_cond(wg_model *m) {
    for (int k = 0; k < m->cfg.n_flows && m->flows; k++)
        m->flows[k].cond_fold = m->flows[k].cond_fold_b = NULL;
    free(m->cond_fold_mem);
    m->cond_fold_mem = NULL;
}

int wg_model_fold_conditioning(wg_model *m, size_t max_bytes, wg_error *err) {
    const wg_config *c = &m->cfg;
    if (!wg_cond_fold_supported(c))
        return wg_fail(err, WG_EUNSUPPORTED, "the conditioning fold needs hop_length %% n_group = 0 and n_group > %d",
                       TAPS);
    size_t bytes = wg_cond_fold_floats(c) * sizeof(float);
    if (bytes > max_bytes)
        return wg_fail(err, WG_EUNSUPPORTED, "the conditioning fold would take %.0f MB, over the %.0f MB allowed",
                       bytes / 1e6, max_bytes / 1e6);
    size_t M = (size_t)c->n_mel_channels, G = (size_t)c->n_group, hop = (size_t)c->hop_length, R = hop / G;
    size_t MG = M * G, KF = TAPS * M, K = TAPS * hop, CL2 = 2 * (size_t)c->wn_n_channels * c->wn_n_layers;
    float *mem = malloc(bytes), *taps = malloc(MG * KF * sizeof(float));
    if (!mem || !taps) {
        free(mem), free(taps);
        return wg_fail(err, WG_ENOMEM, "out of memory for the conditioning fold (%.0f MB)", bytes / 1e6);
    }
    wg_model_unfold_cond(m);
    m->cond_fold_mem = mem;
    m->cond_fold_min_frames = WG_COND_FOLD_MIN_FRAMES;
    for (int k = 0; k < c->n_flows; k++) {
        wg_flow_view *v = &m->flows[k];
        v->cond_fold = mem, mem += R * CL2 * KF;
        v->cond_fold_b = mem, mem += CL2;
    }
    for (size_t p = 0; p < R; p++) {
        /* taps[m·G + j][d·M + i] = W[i][m][d·hop + p·G + j]: squeezed row m·G + j of the upsampled
         * mel at phase p, from frame h − d; W is stored (in, out·K) */
        for (size_t mm = 0; mm < M; mm++)
            for (size_t j = 0; j < G; j++)
                for (size_t d = 0; d < TAPS; d++)
                    for (size_t i = 0; i < M; i++)
                        taps[(mm * G + j) * KF + d * M + i] = m->upsample_w[i * M * K + mm * K + d * hop + p * G + j];
        for (int k = 0; k < c->n_flows; k++) {
            wg_flow_view *v = &m->flows[k];
            wg_gemm(CL2, KF, MG, v->cond_w, MG, taps, KF, 0.0f, v->cond_fold + p * CL2 * KF, KF);
        }
    }
    for (int k = 0; k < c->n_flows; k++) {
        wg_flow_view *v = &m->flows[k];
        for (size_t r = 0; r < CL2; r++) {
            double b = v->cond_b[r];
            for (size_t q = 0; q < MG; q++) b += (double)v->cond_w[r * MG + q] * m->upsample_b[q / G];
            v->cond_fold_b[r] = (float)b;
        }
    }
    free(taps);
    return 0;
}

void wg_cond_fold_frame_range(const wg_config *c, size_t s0, size_t s1, size_t *h0, size_t *h1) {
    size_t R = (size_t)(c->hop_length / c->n_group);
    *h0 = s0 / R;
    *h1 = s1 > s0 ? (s1 - 1) / R + 1 : *h0;
}

void wg_cond_fold_frames(const wg_config *c, const wg_mel_view *mel, size_t h_first, size_t h0, size_t h1, float *frames,
                         size_t ld) {
    size_t M = (size_t)c->n_mel_channels;
    for (size_t d = 0; d < TAPS; d++)
        for (size_t i = 0; i < M; i++) {
            float *row = frames + (d * M + i) * ld;
            for (size_t h = h0; h < h1; h++) {
                /* frame h − d, absent before the view or past its end as in wg_upsample_cond */
                int inside = h >= mel->first + d && h - d < mel->first + mel->count;
                row[h - h_first] = inside ? mel->data[i * mel->ld + (h - d - mel->first)] : 0.0f;
            }
        }
}

void wg_cond_fold_apply(const wg_config *c, const wg_flow_view *v, size_t row0, size_t rows,
                        const wg_cond_fold_input *in, size_t n, size_t c0, size_t c1, float *pre, size_t ldp) {
    size_t R = (size_t)(c->hop_length / c->n_group), KF = TAPS * (size_t)c->n_mel_channels, C2 = 2 * (size_t)c->wn_n_channels;
    size_t CL2 = C2 * c->wn_n_layers, s0 = in->step0, s1 = in->step0 + n;
    /* this member's rows, in proportion to its columns (multiples of 8 for the GEMM's kernels) */
    size_t r0 = c0 == n ? rows : rows * c0 / n / 8 * 8, r1 = c1 == n ? rows : rows * c1 / n / 8 * 8;
    if (r0 >= r1) return;
    /* one GEMM a phase, over the frames that have a step of that phase in the window, each into
     * its own plane of tmp; then every column takes its value from its phase's plane */
    for (size_t p = 0; p < R; p++) {
        size_t t0 = s0 + (p + R - s0 % R) % R;
        if (t0 >= s1) continue;
        size_t nh = (s1 - 1 - t0) / R + 1, h = t0 / R - in->h_first;
        wg_gemm(r1 - r0, nh, KF, v->cond_fold + (p * CL2 + row0 + r0) * KF, KF, in->frames + h, in->ld, 0.0f,
                in->tmp + (p * rows + r0) * in->ldt + h, in->ldt);
    }
    size_t plane = rows * in->ldt, p0 = s0 % R, h0 = s0 / R - in->h_first;
    for (size_t r = r0; r < r1; r++) {
        float *dst = pre + r * ldp, bias = v->in_b[(row0 + r) / C2][(row0 + r) % C2] + v->cond_fold_b[row0 + r];
        const float *src = in->tmp + r * in->ldt + h0;
        /* column t is step s0 + t: phase p, frame h, stepped along without a division */
        for (size_t t = 0, p = p0, h = 0; t < n; t++) {
            dst[t] = bias + src[p * plane + h];
            if (++p == R) p = 0, h++;
        }
    }
}
