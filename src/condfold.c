/* condfold.c — see condfold.h. */
#include "condfold.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hugealloc.h"
#include "kernels.h"

/* TAPS: the upsampler's kernel is 4·hop (upsample.h). BUILD_ROWS: rows of a flow's fold built in
 * one GEMM, bounding the build's scratch (10 MB at hop 256, n_group 8, 80 mels). */
enum { TAPS = 4, BUILD_ROWS = 256, MAX_GROUP_ROWS = 8 };

/* The fold is stored a group of rows at a time, each group's (4·n_mel, group·R) contiguous, and
 * apply multiplies a group by the window's frames. A window reads the fold from memory once; a
 * packing GEMM copies it once more before multiplying, which at the bundled model's 1 s cost half
 * as much as the multiply. OpenBLAS's AVX-512 targets (wg_blas_avx512_kernels) multiply without
 * packing for M·N·K up to 10⁶, so there groups are 2 rows and the frames go in chunks that stay
 * under it; elsewhere groups are 8 rows and the frames go in one GEMM (gemm_at_strips below, for
 * up to 128 frames where the CPU has AVX2). The bundled model's eight
 * flows, the fold's GEMMs alone, one thread of an AMD EPYC, 63 / 125 frames: Cooperlake kernels,
 * 2 rows 35 / 66 ms, 1 row 41 / 69 ms, 4 rows 49 / 85 ms (chunks of at most 12, 24, 32 or 48
 * frames for 2 rows: 48 best), one packing GEMM per 8 rows 58 / 86 ms; Haswell kernels (no
 * small-matrix ones), 63 / 330 frames: 8 rows in one GEMM 78 / 316 ms, 2 rows 83 / 334 ms, 2 rows
 * in chunks of 48 frames 88 / 355 ms. */
static const double SMALL_GEMM_MNK = 1e6;

/* Without OpenBLAS's small-matrix kernels, its GEMM copies the window's share of the fold into
 * its packed layout before multiplying: 9% of a folded 1 s decode of the bundled model on a Zen 2
 * (AVX2, one thread). There the multiply runs here instead, reading the fold where it lies: out
 * (m, n) = aᵀ · b, a stored (k, m) with row stride lda, b (k, n) and out (m, n) both with row
 * stride n, n a multiple of 16. Six rows by 16 columns of out stay in twelve registers while k
 * runs; each 16-column strip of b (k · 64 bytes, 20 KB at 4 · 80 mels) comes from memory once
 * and from L1 for every six-row block after the first, while a is read from L2 once a strip. So
 * up to STRIPS_MAX_FRAMES frames (a: 160 KB at k = 320); from there OpenBLAS's blocking wins.
 * Bundled model, folded, one thread of the Zen 2, wg_bench decode alternated: 1 s (63 frames)
 * 72.9-74.8k -> 83.2-83.5k samples/s; at 10 s (windows of ~300 frames) these strips lost 3%,
 * and blocking a by 48 rows lost the 1 s gain (b then came from memory twice). */
enum { STRIPS_MAX_FRAMES = 128 };
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define WG_FOLD_GEMM_AVX2
__attribute__((target("avx2,fma"))) static void gemm_at_strips(size_t m, size_t n, size_t k, const float *a, size_t lda,
                                                              const float *b, float *out) {
    for (size_t j = 0; j < n; j += 16)
        for (size_t i = 0; i < m; i += 6) {
            const float *ap = a + i, *bp = b + j;
            if (m - i >= 6) {
                __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
                __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
                /* the first block also asks for the next strip's lines, which would otherwise come from
                 * memory one at a time 1 KB apart while the next strip's first block waits on them */
                const int fetch = i == 0 && j + 16 < n;
                for (size_t q = 0; q < k; q++, ap += lda, bp += n) {
                    __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8), x;
                    if (fetch)
                        _mm_prefetch((const char *)(bp + 16), _MM_HINT_T0);
                    x = _mm256_broadcast_ss(ap), c00 = _mm256_fmadd_ps(x, b0, c00), c01 = _mm256_fmadd_ps(x, b1, c01);
                    x = _mm256_broadcast_ss(ap + 1), c10 = _mm256_fmadd_ps(x, b0, c10), c11 = _mm256_fmadd_ps(x, b1, c11);
                    x = _mm256_broadcast_ss(ap + 2), c20 = _mm256_fmadd_ps(x, b0, c20), c21 = _mm256_fmadd_ps(x, b1, c21);
                    x = _mm256_broadcast_ss(ap + 3), c30 = _mm256_fmadd_ps(x, b0, c30), c31 = _mm256_fmadd_ps(x, b1, c31);
                    x = _mm256_broadcast_ss(ap + 4), c40 = _mm256_fmadd_ps(x, b0, c40), c41 = _mm256_fmadd_ps(x, b1, c41);
                    x = _mm256_broadcast_ss(ap + 5), c50 = _mm256_fmadd_ps(x, b0, c50), c51 = _mm256_fmadd_ps(x, b1, c51);
                }
                float *o = out + i * n + j;
                _mm256_storeu_ps(o, c00), _mm256_storeu_ps(o + 8, c01), o += n;
                _mm256_storeu_ps(o, c10), _mm256_storeu_ps(o + 8, c11), o += n;
                _mm256_storeu_ps(o, c20), _mm256_storeu_ps(o + 8, c21), o += n;
                _mm256_storeu_ps(o, c30), _mm256_storeu_ps(o + 8, c31), o += n;
                _mm256_storeu_ps(o, c40), _mm256_storeu_ps(o + 8, c41), o += n;
                _mm256_storeu_ps(o, c50), _mm256_storeu_ps(o + 8, c51);
            } else { /* the last rows, fewer than six */
                for (size_t r = i; r < m; r++) {
                    __m256 c0 = _mm256_setzero_ps(), c1 = c0;
                    const float *arow = a + r, *brow = b + j;
                    for (size_t q = 0; q < k; q++, arow += lda, brow += n) {
                        __m256 x = _mm256_broadcast_ss(arow);
                        c0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(brow), c0);
                        c1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(brow + 8), c1);
                    }
                    _mm256_storeu_ps(out + r * n + j, c0), _mm256_storeu_ps(out + r * n + j + 8, c1);
                }
            }
        }
}
#endif

/* scratch (nc, n) = the frames' columnsᵀ · a group's fold: OpenBLAS where it multiplies small
 * matrices without packing (the layout with chunks), else gemm_at_strips where the CPU has it */
static void fold_gemm(size_t nc, size_t n, size_t k, const float *frames, size_t ld, const float *fold, size_t chunk,
                      float *scratch) {
#ifdef WG_FOLD_GEMM_AVX2
    if (!chunk && nc <= STRIPS_MAX_FRAMES && n % 16 == 0 && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma")) {
        gemm_at_strips(nc, n, k, frames, ld, fold, scratch);
        return;
    }
#endif
    wg_gemm_at(nc, n, k, frames, ld, fold, n, 0.0f, scratch, n);
}

static size_t layer_rows(const wg_config *c) { return 2 * (size_t)c->wn_n_channels; }
static size_t rows_total(const wg_config *c) { return layer_rows(c) * c->wn_n_layers; }

int wg_cond_fold_supported(const wg_config *c) {
    return c->hop_length % c->n_group == 0 && TAPS < c->n_group;
}

size_t wg_cond_fold_floats(const wg_config *c) {
    size_t R = (size_t)(c->hop_length / c->n_group), CL2 = rows_total(c);
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
    int small = wg_blas_avx512_kernels();
    size_t group = small ? 2 : MAX_GROUP_ROWS, chunk = 0;
    while (layer_rows(c) % group) group /= 2;
    if (small && wg_cond_fold_supported(c)) {
        chunk = (size_t)(SMALL_GEMM_MNK / ((double)group * (c->hop_length / c->n_group) * TAPS * c->n_mel_channels));
        chunk = chunk ? chunk : 1;
    }
    return wg_cond_fold_build(m, max_bytes, group, chunk, err);
}

int wg_cond_fold_build(wg_model *m, size_t max_bytes, size_t group, size_t chunk, wg_error *err) {
    const wg_config *c = &m->cfg;
    if (!group || group > MAX_GROUP_ROWS || layer_rows(c) % group)
        return wg_fail(err, WG_EINVAL, "a fold group of %zu rows must divide a layer's %zu and be at most %d", group,
                       layer_rows(c), MAX_GROUP_ROWS);
    if (!wg_cond_fold_supported(c))
        return wg_fail(err, WG_EUNSUPPORTED, "the conditioning fold needs hop_length %% n_group = 0 and n_group > %d",
                       TAPS);
    size_t bytes = wg_cond_fold_floats(c) * sizeof(float);
    if (bytes > max_bytes)
        return wg_fail(err, WG_EUNSUPPORTED, "the conditioning fold would take %.0f MB, over the %.0f MB allowed",
                       bytes / 1e6, max_bytes / 1e6);
    size_t M = (size_t)c->n_mel_channels, G = (size_t)c->n_group, hop = (size_t)c->hop_length, R = hop / G;
    size_t MG = M * G, KF = TAPS * M, K = TAPS * hop, CL2 = rows_total(c);
    /* the products come out as (rows, 4·n_mel·R), each input's R phases side by side as
     * cond_fold keeps them (so the copy into it moves whole runs of R floats), BUILD_ROWS rows at
     * a time */
    size_t RKF = R * KF, n_prod = (CL2 < BUILD_ROWS ? CL2 : BUILD_ROWS) * RKF;
    float *mem = wg_alloc_huge(bytes), *taps = wg_alloc_huge(MG * RKF * sizeof(float)),
          *prod = wg_alloc_huge(n_prod * sizeof(float));
    if (!mem || !taps || !prod) {
        free(mem), free(taps), free(prod);
        return wg_fail(err, WG_ENOMEM, "out of memory for the conditioning fold (%.0f MB)", bytes / 1e6);
    }
    wg_model_unfold_cond(m);
    m->cond_fold_mem = mem;
    m->cond_fold_min_frames = WG_COND_FOLD_MIN_FRAMES;
    m->cond_fold_group_rows = group;
    m->cond_fold_chunk_frames = chunk;
    for (int k = 0; k < c->n_flows; k++) {
        wg_flow_view *v = &m->flows[k];
        v->cond_fold = mem, mem += R * CL2 * KF;
        v->cond_fold_b = mem, mem += CL2;
    }
    /* taps[m·G + j][(d·M + i)·R + p] = W[i][m][d·hop + p·G + j]: squeezed row m·G + j of the
     * upsampled mel at phase p, from frame h − d; W is stored (in, out·K) */
    for (size_t mm = 0; mm < M; mm++)
        for (size_t j = 0; j < G; j++)
            for (size_t d = 0; d < TAPS; d++)
                for (size_t i = 0; i < M; i++)
                    for (size_t p = 0; p < R; p++)
                        taps[(mm * G + j) * RKF + (d * M + i) * R + p] = m->upsample_w[i * M * K + mm * K + d * hop + p * G + j];
    for (int k = 0; k < c->n_flows; k++) {
        wg_flow_view *v = &m->flows[k];
        for (size_t r0 = 0; r0 < CL2; r0 += BUILD_ROWS) {
            size_t nr = CL2 - r0 < BUILD_ROWS ? CL2 - r0 : BUILD_ROWS;
            wg_gemm(nr, RKF, MG, v->cond_w + r0 * MG, MG, taps, RKF, 0.0f, prod, RKF);
            /* into cond_fold's layout: row r's R phases of input q at column (r % group)·R of its
             * group's (4·n_mel, group·R), whole cache lines */
            for (size_t r = 0; r < nr; r++)
                for (size_t q = 0; q < KF; q++) {
                    size_t row = r0 + r;
                    memcpy(v->cond_fold + ((row / group * KF + q) * group + row % group) * R, prod + r * RKF + q * R,
                           R * sizeof(float));
                }
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
    free(taps), free(prod);
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

size_t wg_cond_fold_scratch_floats(const wg_config *c, size_t capacity) {
    size_t R = (size_t)(c->hop_length / c->n_group);
    return wg_cond_fold_supported(c) ? MAX_GROUP_ROWS * R * (capacity / R + 2) : 0;
}

void wg_cond_fold_apply(const wg_config *c, const wg_flow_view *v, size_t row0, size_t rows,
                        const wg_cond_fold_input *in, size_t n, size_t c0, size_t c1, float *pre, size_t ldp,
                        float *scratch) {
    size_t R = (size_t)(c->hop_length / c->n_group), KF = TAPS * (size_t)c->n_mel_channels, C2 = layer_rows(c);
    size_t s0 = in->step0, s1 = in->step0 + n;
    /* this member's rows, in proportion to its columns, whole groups (rows and row0 are whole
     * layers, which the group divides) */
    size_t G = in->group, r0 = rows * c0 / n / G * G, r1 = c1 == n ? rows : rows * c1 / n / G * G;
    if (r0 >= r1) return;
    /* the window's frames [h0, h0 + nh): every phase of each (the few of the end frames that no
     * step reads cost less than a GEMM a phase over uneven column ranges would), in GEMMs of up
     * to in->chunk frames, as even as they go; a row's fold stays in cache across them */
    size_t h0 = s0 / R - in->h_first, nh = (s1 - 1) / R - s0 / R + 1, p0 = s0 % R;
    size_t max_chunk = in->chunk ? in->chunk : nh, n_chunks = (nh + max_chunk - 1) / max_chunk;
    size_t chunk = (nh + n_chunks - 1) / n_chunks, N = G * R;
    for (size_t g = row0 + r0; g < row0 + r1; g += G) {
        const float *fold = v->cond_fold + g * KF * R;
        for (size_t hc = 0; hc < nh; hc += chunk) {
            size_t nc = nh - hc < chunk ? nh - hc : chunk;
            /* scratch (nc, group·R) = these frames' columnsᵀ · the group's fold: frame h's R
             * phases of each row side by side, as pre's steps of frame h are */
            fold_gemm(nc, N, KF, in->frames + h0 + hc, in->ld, fold, in->chunk, scratch);
            for (size_t o = 0; o < G; o++) {
                size_t row = g + o;
                float *dst = pre + (row - row0) * ldp, bias = v->in_b[row / C2][row % C2] + v->cond_fold_b[row];
                /* step s0 + t is phase (p0 + t) % R of frame (p0 + t) / R */
                for (size_t h = hc; h < hc + nc; h++) {
                    size_t t0 = h * R > p0 ? h * R - p0 : 0, t1 = (h + 1) * R - p0 < n ? (h + 1) * R - p0 : n;
                    const float *src = scratch + (h - hc) * N + o * R + (t0 + p0 - h * R);
                    float *d = dst + t0;
                    for (size_t t = 0; t < t1 - t0; t++) d[t] = bias + src[t];
                }
            }
        }
    }
}
