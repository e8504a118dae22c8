/* condfold.c — see condfold.h. */
#include "condfold.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "err.h"
#include "hugealloc.h"
#include "kernels.h"

/* TAPS: the upsampler's kernel is 4·hop (upsample.h). BUILD_ROWS: rows of a flow's fold built in
 * one GEMM, bounding the build's scratch (10 MB at hop 256, n_group 8, 80 mels). */
enum { TAPS = 4, BUILD_ROWS = 256, MAX_GROUP_ROWS = 8 };

static size_t layer_rows(const wg_config *c) { return 2 * (size_t)c->wn_n_channels; }

/* The fold is stored in panels (condfold.h), and apply multiplies a panel by the window's frames.
 * A window reads the fold from memory once; a packing GEMM copies it once more before
 * multiplying, which at the bundled model's 1 s cost half as much as the multiply. OpenBLAS's
 * AVX-512 targets (wg_blas_avx512_kernels) multiply without packing for M·N·K up to 10⁶, so there
 * panels are 2 rows and the frames go in chunks that stay under it; elsewhere, with AVX2, panels
 * are strips that gemm_strip below multiplies, and without it 8 rows with the frames in one
 * GEMM. The bundled model's eight flows, the fold's GEMMs alone, one thread of an AMD EPYC, 63 /
 * 125 frames: Cooperlake kernels, 2 rows 35 / 66 ms, 1 row 41 / 69 ms, 4 rows 49 / 85 ms (chunks
 * of at most 12, 24, 32 or 48 frames for 2 rows: 48 best), one packing GEMM per 8 rows 58 / 86
 * ms; Haswell kernels (no small-matrix ones), 63 / 330 frames: 8 rows in one GEMM 78 / 316 ms, 2
 * rows 83 / 334 ms, 2 rows in chunks of 48 frames 88 / 355 ms. */
static const double SMALL_GEMM_MNK = 1e6;

/* Without OpenBLAS's small-matrix kernels, its GEMM copies the window's share of the fold into
 * its packed layout before multiplying (9% of a folded 1 s decode of the bundled model on a Zen 2,
 * AVX2, one thread), and it writes a scratch product that apply then copies into pre with the
 * bias. There the multiply runs here instead: the fold is read where it lies, a strip (16 phases
 * of one row, so R must be a multiple of 16) at a time, the window's frames packed once a call
 * into blocks of six (pack_frame_blocks), and each six frames' 16 phases go straight to their
 * steps in pre. Bundled model, folded, one thread of the Zen 2, wg_bench decode alternated with
 * the path before: strips over the frames in place (up to 128 frames, else OpenBLAS) against
 * OpenBLAS, 1 s 72.9-74.8k -> 83.2-83.5k samples/s; frame blocks and the direct store against
 * those, 1 s 89.9-92.6k -> 95.3-96.0k, 10 s (windows of ~300 frames, which OpenBLAS had kept)
 * 93.8-95.7k -> 96.4-98.3k. Tried: blocking by 48 frames (lost the 1 s gain: the strip then came
 * from memory twice), packing the frames for every group (9% slower).
 *
 * The strips were first read out of panels of 8 rows, 16 floats of every 1 KB: at 1 s (62 frames,
 * 124 FLOPs a weight) that streamed at 83% of the sgemm ceiling against 97% from L2, and no
 * prefetch helped. Stored as panels of their own, 20 KB contiguous, the fold streams in address
 * order and a strip fits L1 for its later blocks: the bundled model, one thread of a Zen 3,
 * wg_bench decode ... fold alternated, 1 s 97.9-98.5k -> 102.9-103.3k samples/s, bit for bit the
 * same audio; the last 1-5 frames by a block of that many rows instead of six, 1 s -> 103.8-104.3k. */
enum { STRIP_ROWS = 6 };

/* where column col of a flow's fold (fold: its first panel, panels of P columns) begins */
static const float *fold_column(const float *fold, size_t col, size_t P, size_t KF) {
    return fold + col / P * KF * P + col % P;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define WG_FOLD_GEMM_AVX2
/* a (k, m) with row stride lda into blocks of STRIP_ROWS columns, each (k, STRIP_ROWS) contiguous,
 * the last zero-padded: what gemm_strip reads */
static void pack_frame_blocks(size_t m, size_t k, const float *a, size_t lda, float *blocks) {
    for (size_t i = 0; i < m; i += STRIP_ROWS) {
        size_t w = m - i < STRIP_ROWS ? m - i : STRIP_ROWS;
        for (size_t q = 0; q < k; q++, blocks += STRIP_ROWS) {
            const float *src = a + q * lda + i;
            size_t r = 0;
            for (; r < w; r++) blocks[r] = src[r];
            for (; r < STRIP_ROWS; r++) blocks[r] = 0.0f;
        }
    }
}

/* Row r of a strip's block to pre: frame f's 16 columns are steps f·stride + base onwards, each
 * plus bias; steps outside [0, n) belong to no one (the window's first and last frames). */
__attribute__((target("avx2,fma"))) static inline void store_frame(float *dst, ptrdiff_t base, size_t stride,
                                                                   size_t n, size_t f, __m256 bias, __m256 lo,
                                                                   __m256 hi) {
    ptrdiff_t t = (ptrdiff_t)(f * stride) + base;
    lo = _mm256_add_ps(lo, bias), hi = _mm256_add_ps(hi, bias);
    if (t >= 0 && (size_t)t + 16 <= n) {
        _mm256_storeu_ps(dst + t, lo), _mm256_storeu_ps(dst + t + 8, hi);
        return;
    }
    float v[16];
    _mm256_storeu_ps(v, lo), _mm256_storeu_ps(v + 8, hi);
    for (ptrdiff_t c = 0; c < 16; c++)
        if (t + c >= 0 && (size_t)(t + c) < n) dst[t + c] = v[c];
}

/* Frames f .. f + rows − 1 (block ap) times the strip (b, k rows of stride ldb) into pre's row
 * dst: rows by 16 columns stay in 2·rows registers while k runs. rows (1-6) is a constant where
 * this is inlined, so the accumulators of absent rows go (an array of them would live on the
 * stack: half the speed). fetch: lines to prefetch, one per q, or NULL. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
strip_block(int rows, size_t k, const float *ap, const float *bp, size_t ldb, const float *fetch, float *dst,
            ptrdiff_t base, size_t stride, size_t n, size_t f, __m256 bias) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (size_t q = 0; q < k; q++, ap += STRIP_ROWS, bp += ldb) {
        __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8), x;
        if (fetch) _mm_prefetch((const char *)(fetch + q * ldb), _MM_HINT_T0);
        x = _mm256_broadcast_ss(ap), c00 = _mm256_fmadd_ps(x, b0, c00), c01 = _mm256_fmadd_ps(x, b1, c01);
        if (rows > 1)
            x = _mm256_broadcast_ss(ap + 1), c10 = _mm256_fmadd_ps(x, b0, c10), c11 = _mm256_fmadd_ps(x, b1, c11);
        if (rows > 2)
            x = _mm256_broadcast_ss(ap + 2), c20 = _mm256_fmadd_ps(x, b0, c20), c21 = _mm256_fmadd_ps(x, b1, c21);
        if (rows > 3)
            x = _mm256_broadcast_ss(ap + 3), c30 = _mm256_fmadd_ps(x, b0, c30), c31 = _mm256_fmadd_ps(x, b1, c31);
        if (rows > 4)
            x = _mm256_broadcast_ss(ap + 4), c40 = _mm256_fmadd_ps(x, b0, c40), c41 = _mm256_fmadd_ps(x, b1, c41);
        if (rows > 5)
            x = _mm256_broadcast_ss(ap + 5), c50 = _mm256_fmadd_ps(x, b0, c50), c51 = _mm256_fmadd_ps(x, b1, c51);
    }
    store_frame(dst, base, stride, n, f, bias, c00, c01);
    if (rows > 1) store_frame(dst, base, stride, n, f + 1, bias, c10, c11);
    if (rows > 2) store_frame(dst, base, stride, n, f + 2, bias, c20, c21);
    if (rows > 3) store_frame(dst, base, stride, n, f + 3, bias, c30, c31);
    if (rows > 4) store_frame(dst, base, stride, n, f + 4, bias, c40, c41);
    if (rows > 5) store_frame(dst, base, stride, n, f + 5, bias, c50, c51);
}

/* One strip of the fold (b, k rows of stride ldb) times the m frames in blocks, into pre's row
 * dst (store_frame). The strip (k · 64 bytes, 20 KB at 4 · 80 mels) comes from memory once, in
 * the first block, which also prefetches the next strip (`next`, or NULL): without that, its
 * lines would come one at a time while the next strip's first block waits on them. */
__attribute__((target("avx2,fma"))) static void gemm_strip(size_t m, size_t k, const float *blocks, const float *b,
                                                          size_t ldb, const float *next, float *dst, ptrdiff_t base,
                                                          size_t stride, size_t n, float bias_value) {
    __m256 bias = _mm256_set1_ps(bias_value);
    size_t i = 0;
    for (; i + STRIP_ROWS <= m; i += STRIP_ROWS)
        strip_block(STRIP_ROWS, k, blocks + i * k, b, ldb, i == 0 ? next : NULL, dst, base, stride, n, i, bias);
    /* the last 1-5 frames: as many rows as there are frames */
    const float *fetch = i == 0 ? next : NULL, *ap = blocks + i * k;
    switch (m - i) {
    case 1: strip_block(1, k, ap, b, ldb, fetch, dst, base, stride, n, i, bias); break;
    case 2: strip_block(2, k, ap, b, ldb, fetch, dst, base, stride, n, i, bias); break;
    case 3: strip_block(3, k, ap, b, ldb, fetch, dst, base, stride, n, i, bias); break;
    case 4: strip_block(4, k, ap, b, ldb, fetch, dst, base, stride, n, i, bias); break;
    case 5: strip_block(5, k, ap, b, ldb, fetch, dst, base, stride, n, i, bias); break;
    }
}
#endif

/* Whether the window's fold GEMMs run as gemm_strip: AVX2 and FMA, one GEMM a window (the
 * layout without chunks), and whole strips of a row's R phases. */
static int use_strips(size_t chunk, size_t R) {
#ifdef WG_FOLD_GEMM_AVX2
    return !chunk && R % WG_COND_FOLD_STRIP == 0 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    (void)chunk, (void)R;
    return 0;
#endif
}

int wg_cond_fold_supported(const wg_config *c) {
    return c->hop_length % c->n_group == 0 && TAPS < c->n_group;
}

size_t wg_cond_fold_floats(const wg_config *c) {
    size_t R = wg_cond_fold_phases(c), CL2 = wg_cond_fold_rows(c);
    return (size_t)c->n_flows * (R * CL2 * TAPS * c->n_mel_channels + CL2);
}

double wg_cond_fold_build_flops(const wg_config *c) {
    double R = (double)wg_cond_fold_phases(c), CL2 = (double)wg_cond_fold_rows(c), M = c->n_mel_channels;
    return c->n_flows * R * 2 * CL2 * (M * c->n_group) * (TAPS * M);
}

double wg_cond_fold_saved_flops_per_step(const wg_config *c) {
    double CL2 = 2.0 * c->wn_n_channels * c->wn_n_layers, M = c->n_mel_channels, G = c->n_group;
    /* the cond GEMMs shrink from M·G to 4·M columns; the upsampler's 2·M·M·4·hop a frame goes */
    return c->n_flows * 2 * CL2 * (M * G - TAPS * M) + 2 * M * M * TAPS * G;
}

int wg_cond_fold_pays(const wg_model *m, size_t n_steps) {
    return n_steps / wg_cond_fold_phases(&m->cfg) >= m->cond_fold_min_frames;
}

void wg_model_unfold_cond(wg_model *m) {
    for (int k = 0; k < m->cfg.n_flows && m->flows; k++)
        m->flows[k].cond_fold = m->flows[k].cond_fold_b = NULL;
    if (m->cond_fold_map_bytes)
        munmap(m->cond_fold_mem, m->cond_fold_map_bytes);
    else
        free(m->cond_fold_mem);
    m->cond_fold_mem = NULL;
    m->cond_fold_map_bytes = 0;
}

int wg_cond_fold_panel_valid(const wg_config *c, size_t panel) {
    size_t R = wg_cond_fold_phases(c), g = R ? panel / R : 0;
    if (R && panel == WG_COND_FOLD_STRIP && R % WG_COND_FOLD_STRIP == 0) return 1;
    return g && panel % R == 0 && g <= MAX_GROUP_ROWS && layer_rows(c) % g == 0;
}

size_t wg_cond_fold_chunk_frames(const wg_config *c, size_t panel) {
    if (!wg_blas_avx512_kernels() || !wg_cond_fold_supported(c)) return 0;
    size_t chunk = (size_t)(SMALL_GEMM_MNK / ((double)panel * TAPS * c->n_mel_channels));
    return chunk ? chunk : 1;
}

size_t wg_cond_fold_native_panel(const wg_config *c) {
    size_t R = wg_cond_fold_phases(c), group = wg_blas_avx512_kernels() ? 2 : MAX_GROUP_ROWS;
    while (layer_rows(c) % group) group /= 2;
    return use_strips(wg_cond_fold_chunk_frames(c, group * R), R) ? WG_COND_FOLD_STRIP : group * R;
}

int wg_model_fold_conditioning(wg_model *m, size_t max_bytes, wg_error *err) {
    size_t panel = wg_cond_fold_native_panel(&m->cfg);
    return wg_cond_fold_build(m, max_bytes, panel, wg_cond_fold_chunk_frames(&m->cfg, panel), err);
}

int wg_cond_fold_build(wg_model *m, size_t max_bytes, size_t panel, size_t chunk, wg_error *err) {
    const wg_config *c = &m->cfg;
    if (!wg_cond_fold_supported(c))
        return wg_fail(err, WG_EUNSUPPORTED, "the conditioning fold needs hop_length %% n_group = 0 and n_group > %d",
                       TAPS);
    if (!wg_cond_fold_panel_valid(c, panel))
        return wg_fail(err, WG_EINVAL,
                       "a fold panel of %zu columns is neither a strip of %d phases (of R = %zu) nor R times a "
                       "number of rows that divides a layer's %zu and is at most %d", panel, WG_COND_FOLD_STRIP,
                       wg_cond_fold_phases(c), layer_rows(c), MAX_GROUP_ROWS);
    size_t bytes = wg_cond_fold_floats(c) * sizeof(float);
    if (bytes > max_bytes)
        return wg_fail(err, WG_EUNSUPPORTED, "the conditioning fold would take %.0f MB, over the %.0f MB allowed",
                       bytes / 1e6, max_bytes / 1e6);
    size_t M = (size_t)c->n_mel_channels, G = (size_t)c->n_group, hop = (size_t)c->hop_length, R = hop / G;
    size_t MG = M * G, KF = TAPS * M, K = TAPS * hop, CL2 = wg_cond_fold_rows(c);
    /* the products come out as (rows, 4·n_mel·R), each input's R phases side by side as
     * cond_fold keeps them (so the copy into it moves whole runs of R floats, or of a strip's),
     * BUILD_ROWS rows at a time */
    size_t run = panel < R ? panel : R, RKF = R * KF, n_prod = (CL2 < BUILD_ROWS ? CL2 : BUILD_ROWS) * RKF;
    float *mem = wg_alloc_huge(bytes), *taps = wg_alloc_huge(MG * RKF * sizeof(float)),
          *prod = wg_alloc_huge(n_prod * sizeof(float));
    if (!mem || !taps || !prod) {
        free(mem), free(taps), free(prod);
        return wg_fail(err, WG_ENOMEM, "out of memory for the conditioning fold (%.0f MB)", bytes / 1e6);
    }
    wg_model_unfold_cond(m);
    m->cond_fold_mem = mem;
    m->cond_fold_min_frames = WG_COND_FOLD_MIN_FRAMES;
    m->cond_fold_panel_cols = panel;
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
            /* into cond_fold's panels: column row·R + p of input q, R phases at a time, or a strip's
             * 16, whole cache lines */
            for (size_t r = 0; r < nr; r++)
                for (size_t q = 0; q < KF; q++)
                    for (size_t p = 0; p < R; p += run) {
                        size_t col = (r0 + r) * R + p;
                        memcpy(v->cond_fold + (col / panel * KF + q) * panel + col % panel, prod + r * RKF + q * R + p,
                               run * sizeof(float));
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
    size_t R = wg_cond_fold_phases(c);
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
    size_t R = wg_cond_fold_phases(c), frames = capacity / R + 2;
    size_t gemm_out = MAX_GROUP_ROWS * R * frames; /* OpenBLAS's product, before apply copies it */
    size_t blocks = (frames + STRIP_ROWS - 1) / STRIP_ROWS * STRIP_ROWS * TAPS * (size_t)c->n_mel_channels;
    return wg_cond_fold_supported(c) ? gemm_out > blocks ? gemm_out : blocks : 0;
}

void wg_cond_fold_apply(const wg_config *c, const wg_flow_view *v, size_t row0, size_t rows,
                        const wg_cond_fold_input *in, size_t n, size_t c0, size_t c1, float *pre, size_t ldp,
                        float *scratch) {
    size_t R = wg_cond_fold_phases(c), KF = TAPS * (size_t)c->n_mel_channels, C2 = layer_rows(c), P = in->panel;
    size_t s0 = in->step0, s1 = in->step0 + n;
    /* this member's rows, in proportion to its columns, whole panels (rows and row0 are whole
     * layers, which a panel's rows divide) */
    size_t U = P > R ? P / R : 1, r0 = rows * c0 / n / U * U, r1 = c1 == n ? rows : rows * c1 / n / U * U;
    if (r0 >= r1) return;
    /* its fold columns, whole panels */
    size_t col0 = (row0 + r0) * R, col1 = (row0 + r1) * R;
    /* the window's frames [h0, h0 + nh): every phase of each (the few of the end frames that no
     * step reads cost less than a GEMM a phase over uneven column ranges would), in GEMMs of up
     * to in->chunk frames, as even as they go; a panel stays in cache across them */
    size_t h0 = s0 / R - in->h_first, nh = (s1 - 1) / R - s0 / R + 1, p0 = s0 % R;
    size_t max_chunk = in->chunk ? in->chunk : nh, n_chunks = (nh + max_chunk - 1) / max_chunk;
    size_t chunk = (nh + n_chunks - 1) / n_chunks;
#ifdef WG_FOLD_GEMM_AVX2
    if (use_strips(in->chunk, R)) {
        /* the frames in blocks of six, packed once for all of this call's strips; each strip is
         * 16 phases of one row, which go straight to its steps in pre */
        float *blocks = scratch;
        pack_frame_blocks(nh, KF, in->frames + h0, in->ld, blocks);
        for (size_t col = col0; col < col1; col += WG_COND_FOLD_STRIP) {
            size_t row = col / R, next = col + WG_COND_FOLD_STRIP;
            gemm_strip(nh, KF, blocks, fold_column(v->cond_fold, col, P, KF), P,
                       next < col1 ? fold_column(v->cond_fold, next, P, KF) : NULL, pre + (row - row0) * ldp,
                       (ptrdiff_t)(col % R) - (ptrdiff_t)p0, R, n, v->in_b[row / C2][row % C2] + v->cond_fold_b[row]);
        }
        return;
    }
#endif
    size_t run = P < R ? P : R;
    for (size_t pc = col0; pc < col1; pc += P) {
        const float *fold = fold_column(v->cond_fold, pc, P, KF);
        for (size_t hc = 0; hc < nh; hc += chunk) {
            size_t nc = nh - hc < chunk ? nh - hc : chunk;
            /* scratch (nc, P) = these frames' columnsᵀ · the panel: frame h's phases of each row
             * side by side, as pre's steps of frame h are */
            wg_gemm_at(nc, P, KF, in->frames + h0 + hc, in->ld, fold, P, 0.0f, scratch, P);
            for (size_t j = 0; j < P; j += run) {
                size_t row = (pc + j) / R, ph = (pc + j) % R;
                float *dst = pre + (row - row0) * ldp, bias = v->in_b[row / C2][row % C2] + v->cond_fold_b[row];
                /* phase ph + u of frame h is step h·R + ph + u − p0: those in [0, n) */
                for (size_t h = hc; h < hc + nc; h++) {
                    ptrdiff_t t = (ptrdiff_t)(h * R + ph) - (ptrdiff_t)p0;
                    size_t u0 = t < 0 ? (size_t)-t : 0, u1 = t >= (ptrdiff_t)n ? 0 : (size_t)((ptrdiff_t)n - t);
                    const float *src = scratch + (h - hc) * P + j;
                    for (size_t u = u0; u < run && u < u1; u++) dst[t + (ptrdiff_t)u] = bias + src[u];
                }
            }
        }
    }
}
