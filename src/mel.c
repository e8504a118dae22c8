/* mel.c — the log-mel front end, numerically the TacotronSTFT convention of NVIDIA's WaveGlow
 * and Tacotron 2 (and librosa's defaults):
 *   reflect-pad filter_length/2 at both ends; frames every hop_length; periodic Hann window of
 *   win_length centred in filter_length; |rfft| (magnitude, not power); Slaney-scale mel
 *   filterbank with Slaney area normalisation; natural log of max(x, 1e-5).
 * The filterbank is built in double precision and applied sparsely (each filter touches only
 * its own band of bins, its weights packed in float32), a block of frames per vector register
 * and four independent sums a filter: one chain of dependent multiply-adds waits on each
 * one's latency, and double accumulation converts every magnitude (0.2 ms a minute of audio
 * more, with no change in the error against the float64 references: the FFT's dominates).
 * Frames go in blocks of MEL_BLOCK: the block's transforms are made first, then each frame's
 * magnitudes from its transform, written contiguously; then the
 * block's are transposed bin-major (on AVX2, 8 x 8 in registers by transpose_inlane; elsewhere a
 * loop GCC turns into a permute network), so the filter sums and logs run along frames, contiguous
 * in the (n_mel, frames) output, in vector registers. A block's sums are all made before its logs.
 *
 * An even-length real transform is done as FFTW's complex transform of half the length over the
 * windowed frame read as complex pairs (even samples real, odd imaginary), then split into the
 * real transform's bins: Debian's FFTW plans its own r2c of 1024 points through a radix-2 SSE2
 * step, and the front end took 5.5 ms a minute of 22.05 kHz audio with it against 4.3 with this.
 *
 * FFTW's planner is not thread-safe, so plan creation takes a process-wide lock; execution
 * uses this object's own plan and buffers, so distinct wg_mel objects run in parallel. */
#include <fftw3.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fftw_lock.h"
#include "kernels.h"
#include "mel.h"

/* glibc's libmvec has logf for each x86-64 vector width; declared so, the logs of a block of
 * frames run 8 or 16 at a time (one scalar logf call each was an eighth of the front end's time;
 * libmvec's error measures under 4 ulp over [1e-5, 2^31], far inside the 1e-4 held against librosa) */
#ifdef WG_LIBMVEC /* CMake defines it where this links and vectorises (GCC, x86-64, glibc) */
#pragma omp declare simd notinbranch
float logf(float);
#endif

/* FFTW's PATIENT planner finds faster plans than FFTW_ESTIMATE for the half-length transforms
 * (512 points, `wg_bench fftw-wisdom 512`: 0.27 against 0.33 us a transform; two PATIENT runs
 * picked radix 8 over 64 and 64 over 8, at the same speed), but it picks by timing, so two
 * processes could pick different plans and round differently (this plan's rounding moved the
 * largest error against the float64 references from 5.0e-5 to 7.0e-5, speech16k in test_mel).
 * Its pick, made once with `wg_bench fftw-wisdom` and kept here as FFTW wisdom (mel.h names the
 * FFTW version it is for), makes every process plan the same: FFTW_ESTIMATE takes wisdom where there is some for the
 * problem, and FFTW refuses wisdom it cannot use (another FFTW build, a CPU without the
 * codelets' instructions) and then plans as it did without. */
static const char MEL_FFTW_WISDOM[] = /* n = 512 (filter_length 1024); made on an AMD EPYC, its codelets need AVX */
    "(fftw-3.3.10 fftwf_wisdom #x9e7d4dee #xdb14fed1 #x34bf76a4 #xeb6e8fdf\n"
    "  (fftwf_codelet_t2fv_8_avx 0 #x11048 #x11048 #x0 #xfeec02f8 #xbbf06357 #xb26e7a2b #xf7b9dcb8)\n"
    "  (fftwf_codelet_n2fv_64_avx 0 #x11048 #x11048 #x0 #x60f7dd6b #xe5962c71 #x960dc0f4 #x2fbec2ab)\n"
    ")\n";

const char *wg_mel_fftw_wisdom(void) { return MEL_FFTW_WISDOM; }

enum { MEL_BLOCK = 16 }; /* a block's magnitudes (16 frames, up to 8 kHz at 22.05 kHz) stay in L1 */

struct wg_mel {
    int n_fft, hop, n_mel, n_freq;
    int n_used; /* bins [0, n_used) reach some filter: the rest (above mel_fmax) are never read */
    int finds_nonfinite; /* every sample reaches every filter sum: wg_mel_compute finds NaN and Inf there */
    float *window;       /* (n_fft): Hann of win_length, zero-padded to the centre */
    float *frame;        /* (n_fft) FFTW input */
    fftwf_complex *spec; /* (MEL_BLOCK, spec_stride): a block's FFTW outputs, the half-length complex
                          * transform when n_fft is even */
    int spec_stride;     /* n_freq rounded up to 8 complexes: each slot 64-byte aligned, as FFTW's plan */
    float *twiddle;      /* (4 * n_fft/2) when n_fft is even: 0.5 cos of 2 pi k / n_fft, then 0.5 sin, then
                          * both again in split_inlane's order */
    float *reversed;     /* (2 * n_fft/2) when n_fft is even: spec's bins in reverse order */
    float *rows;         /* (MEL_BLOCK, n_freq): a block of frames' magnitudes, as computed */
    float *mag;          /* (n_freq, MEL_BLOCK): the same, bin-major */
    float *sums;         /* (n_mel, MEL_BLOCK): a block's filter sums, before their logs */
    fftwf_plan plan;
    /* split_pairs' layout, where it runs (AVX2, n_fft/2 a multiple of 16, bins used past n_fft/4 + 8):
     * groups i in [0, pair_hi + 2) of 8 bins from 1 + 8i, and for i in [pair_lo, pair_hi) the mirror
     * bins [n_fft/2 - 8 - 8i, n_fft/2 - 8i) from the same loads; pair_hi = 0 where it does not.
     * Group pair_hi + 1 reaches one bin into mirror group pair_hi - 1, which is stored over it */
    int pair_lo, pair_hi;
    int *band_lo, *band_hi; /* (n_mel): filter m is nonzero on bins [lo, hi) */
    float *weights;         /* filter m's weights on its band, at band_offset[m] */
    int *band_offset;       /* (n_mel) */
};

/* a block's MEL_BLOCK frames of one bin, or of one filter's sum: one AVX-512 register */
typedef float mel_vec __attribute__((vector_size(sizeof(float) * MEL_BLOCK)));
/* half of one: an AVX2 register */
typedef float mel_half __attribute__((vector_size(sizeof(float) * MEL_BLOCK / 2)));

static double hz_to_mel_slaney(double f) {
    const double f_sp = 200.0 / 3, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
    const double logstep = log(6.4) / 27.0;
    return f >= min_log_hz ? min_log_mel + log(f / min_log_hz) / logstep : f / f_sp;
}

static double mel_to_hz_slaney(double m) {
    const double f_sp = 200.0 / 3, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
    const double logstep = log(6.4) / 27.0;
    return m >= min_log_mel ? min_log_hz * exp(logstep * (m - min_log_mel)) : f_sp * m;
}

int wg_mel_filterbank(int sr, int n_fft, int n_mel, double fmin, double fmax, double *out) {
    int n_freq = n_fft / 2 + 1;
    double *mel_f = malloc(sizeof(double) * (size_t)(n_mel + 2));
    if (!mel_f)
        return WG_ENOMEM;
    double mmin = hz_to_mel_slaney(fmin), mmax = hz_to_mel_slaney(fmax);
    for (int i = 0; i < n_mel + 2; i++)
        mel_f[i] = mel_to_hz_slaney(mmin + (mmax - mmin) * i / (n_mel + 1));
    for (int m = 0; m < n_mel; m++) {
        double lo = mel_f[m], mid = mel_f[m + 1], hi = mel_f[m + 2];
        double enorm = 2.0 / (hi - lo);
        for (int k = 0; k < n_freq; k++) {
            double f = (double)k * sr / n_fft;
            double lower = (f - lo) / (mid - lo), upper = (hi - f) / (hi - mid);
            double w = fmin_d(lower, upper);
            out[(size_t)m * n_freq + k] = w > 0 ? w * enorm : 0.0;
        }
    }
    free(mel_f);
    return 0;
}

int wg_mel_create(const wg_config *cfg, wg_mel **out, wg_error *err) {
    *out = NULL;
    int rc = wg_config_validate(cfg, "mel config", err);
    if (rc)
        return rc;
    wg_mel *m = calloc(1, sizeof *m);
    if (!m)
        return wg_fail(err, WG_ENOMEM, "mel: out of memory");
    m->n_fft = cfg->filter_length;
    m->hop = cfg->hop_length;
    m->n_mel = cfg->n_mel_channels;
    m->n_freq = m->n_fft / 2 + 1;
    m->window = calloc((size_t)m->n_fft, sizeof(float));
    int half = m->n_fft / 2;
    m->twiddle = m->n_fft % 2 ? NULL : calloc(4 * (size_t)half, sizeof(float));
    m->reversed = m->n_fft % 2 ? NULL : malloc(sizeof(float) * 2 * (size_t)half);
    /* rewritten from rows each block; aligned for mel_vec (n_freq · MEL_BLOCK floats: whole registers) */
    m->mag = aligned_alloc(sizeof(mel_vec), sizeof(mel_vec) * (size_t)m->n_freq);
    m->sums = aligned_alloc(sizeof(mel_vec), sizeof(mel_vec) * (size_t)m->n_mel);
    /* the transposition, filter sums and logs run over whole blocks: wg_mel_compute zeroes the
     * rows a last, short block leaves (zeroed here too, so that no row is ever uninitialised) */
    m->rows = calloc((size_t)m->n_freq * MEL_BLOCK, sizeof(float));
    m->frame = fftwf_malloc(sizeof(float) * (size_t)m->n_fft);
    m->spec_stride = (m->n_freq + 7) / 8 * 8;
    m->spec = fftwf_malloc(sizeof(fftwf_complex) * (size_t)m->spec_stride * MEL_BLOCK);
    m->band_lo = malloc(sizeof(int) * (size_t)m->n_mel);
    m->band_hi = malloc(sizeof(int) * (size_t)m->n_mel);
    m->band_offset = malloc(sizeof(int) * (size_t)m->n_mel);
    double *bank = malloc(sizeof(double) * (size_t)m->n_mel * (size_t)m->n_freq);
    if (!m->window || !m->mag || !m->sums || !m->rows || !m->frame || !m->spec || !m->band_lo || !m->band_hi ||
        !m->band_offset || !bank || (m->n_fft % 2 == 0 && (!m->twiddle || !m->reversed))) {
        free(bank);
        wg_mel_destroy(m);
        return wg_fail(err, WG_ENOMEM, "mel: out of memory");
    }
    /* Periodic Hann (scipy get_window('hann', N, fftbins=True)), centred as librosa pad_center. */
    int wl = cfg->win_length, lpad = (m->n_fft - wl) / 2;
    for (int i = 0; i < wl; i++)
        m->window[lpad + i] = (float)(0.5 - 0.5 * cos(2.0 * M_PI * i / wl));
    int n_weights = 0;
    if (!wg_mel_filterbank(cfg->sampling_rate, m->n_fft, m->n_mel, cfg->mel_fmin, cfg->mel_fmax, bank)) {
        for (int j = 0; j < m->n_mel; j++) {
            const double *w = bank + (size_t)j * m->n_freq;
            int lo = 0, hi = m->n_freq;
            while (lo < hi && w[lo] == 0)
                lo++;
            while (hi > lo && w[hi - 1] == 0)
                hi--;
            m->band_lo[j] = lo;
            m->band_hi[j] = hi;
            m->band_offset[j] = n_weights;
            n_weights += hi - lo;
            if (hi > m->n_used)
                m->n_used = hi;
        }
        m->weights = malloc(sizeof(float) * (size_t)(n_weights > 0 ? n_weights : 1));
    }
    m->finds_nonfinite = n_weights > 0 && m->hop <= m->n_fft / 2;
    if (!m->weights) {
        free(bank);
        wg_mel_destroy(m);
        return wg_fail(err, WG_ENOMEM, "mel: out of memory");
    }
    for (int j = 0; j < m->n_mel; j++)
        for (int k = m->band_lo[j]; k < m->band_hi[j]; k++)
            m->weights[m->band_offset[j] + k - m->band_lo[j]] = (float)bank[(size_t)j * m->n_freq + k];
    free(bank);
    for (int k = 0; m->twiddle && k < half; k++) {
        m->twiddle[k] = (float)(0.5 * cos(2.0 * M_PI * k / m->n_fft));
        m->twiddle[half + k] = (float)(0.5 * sin(2.0 * M_PI * k / m->n_fft));
    }
    /* mirror groups cover [half/2 + 8, half - 8 pair_lo), which must reach n_used; groups cover
     * [1, half/2 + 9), their last two without mirrors */
    if (m->twiddle && half % 16 == 0 && half >= 32) {
        int last = half / 16 - 1, lo = m->n_used < half ? (half - m->n_used) / 8 : 0;
        if (lo < last)
            m->pair_lo = lo, m->pair_hi = last;
    }
    static const int inlane[8] = {0, 1, 4, 5, 2, 3, 6, 7};
    for (int k = 1; m->twiddle && k + 8 <= half; k += 8)
        for (int i = 0; i < 8; i++) {
            m->twiddle[2 * half + k + i] = m->twiddle[k + inlane[i]];
            m->twiddle[3 * half + k + i] = m->twiddle[half + k + inlane[i]];
        }
    wg_fftw_lock();
    fftwf_import_wisdom_from_string(wg_mel_fftw_wisdom()); /* where it does not apply, FFTW plans as without */
    if (m->twiddle)
        m->plan = fftwf_plan_dft_1d(half, (fftwf_complex *)m->frame, m->spec, FFTW_FORWARD, FFTW_ESTIMATE);
    else
        m->plan = fftwf_plan_dft_r2c_1d(m->n_fft, m->frame, m->spec, FFTW_ESTIMATE);
    wg_fftw_unlock();
    if (!m->plan) {
        wg_mel_destroy(m);
        return wg_fail(err, WG_ENOMEM, "mel: FFTW could not plan a size-%d transform", cfg->filter_length);
    }
    *out = m;
    return 0;
}

void wg_mel_destroy(wg_mel *m) {
    if (!m)
        return;
    if (m->plan) {
        wg_fftw_lock();
        fftwf_destroy_plan(m->plan);
        wg_fftw_unlock();
    }
    fftwf_free(m->frame);
    fftwf_free(m->spec);
    free(m->window);
    free(m->twiddle);
    free(m->reversed);
    free(m->mag);
    free(m->sums);
    free(m->rows);
    free(m->band_lo);
    free(m->band_hi);
    free(m->band_offset);
    free(m->weights);
    free(m);
}

size_t wg_mel_frames(const wg_mel *m, size_t n) {
    size_t pad = (size_t)m->n_fft / 2;
    if (n + 2 * pad < (size_t)m->n_fft)
        return 0;
    return (n + 2 * pad - (size_t)m->n_fft) / (size_t)m->hop + 1;
}

static int check_length(const wg_mel *m, size_t n, wg_error *err) {
    size_t pad = (size_t)m->n_fft / 2;
    if (n <= pad)
        return wg_fail(err, WG_ETOOSHORT,
                       "%zu samples is too short for the mel front end: reflect padding needs "
                       "more than filter_length/2 = %zu",
                       n, pad);
    return 0;
}

/* Checks x for the front end: long enough for reflect padding, and finite. */
static int check_input(const wg_mel *m, const float *x, size_t n, wg_error *err) {
    int rc = check_length(m, n, err);
    if (rc)
        return rc;
    for (size_t i0 = 0; i0 < n; i0 += 4096) { /* a branch-free scan that vectorises; the culprit found after */
        size_t end = n - i0 < 4096 ? n : i0 + 4096;
        uint32_t bad = 0;
        for (size_t i = i0; i < end; i++) {
            uint32_t bits;
            memcpy(&bits, x + i, sizeof bits);
            bad |= (bits & 0x7f800000u) == 0x7f800000u;
        }
        for (size_t i = i0; bad && i < end; i++)
            if (!isfinite(x[i]))
                return wg_fail(err, WG_ENONFINITE, "sample %zu is %s", i, isnan(x[i]) ? "NaN" : "infinite");
    }
    return 0;
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define WG_SPLIT_PERMUTED
#include <immintrin.h>
/* The split of bins [1, end) into |X[k]| (see frame_split), 16 at a time while Z[M-k-15] is
 * in range: Z[k..k+15] deinterleaved, and Z[M-k-15..M-k] deinterleaved and reversed, one
 * two-register permute each, where the loop GCC vectorises reads the reversed bins from a copy
 * (0.1 ms a minute of 22.05 kHz audio more). For AVX-512 only:
 * GCC lowers these 16-lane permutes for AVX2 and SSE2 into scalar moves (2.5x the front end's
 * time), so built for AVX-512 alone and called where the CPU has it. Returns the first bin it
 * left. */
__attribute__((target("arch=x86-64-v4"))) static int split_permuted(const float *z, const float *tc, const float *ts,
                                                                    int half, int end, float *mag) {
    typedef int mel_ivec __attribute__((vector_size(sizeof(int) * MEL_BLOCK)));
    const mel_ivec even = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30}, odd = even + 1;
    const mel_ivec rev_re = {30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0}, rev_im = rev_re + 1;
    int k = 1;
    for (; k + MEL_BLOCK <= end && k + MEL_BLOCK <= half; k += MEL_BLOCK) {
        mel_vec z0, z1, r0, r1, c0, s0;
        memcpy(&z0, z + 2 * k, sizeof z0);
        memcpy(&z1, z + 2 * k + MEL_BLOCK, sizeof z1);
        memcpy(&r0, z + 2 * (half - k - 15), sizeof r0); /* Z[M-k-15..M-k-8] */
        memcpy(&r1, z + 2 * (half - k - 7), sizeof r1);  /* Z[M-k-7..M-k] */
        memcpy(&c0, tc + k, sizeof c0);
        memcpy(&s0, ts + k, sizeof s0);
        mel_vec a = __builtin_shuffle(z0, z1, even), b = __builtin_shuffle(z0, z1, odd);
        mel_vec c = __builtin_shuffle(r0, r1, rev_re), d = __builtin_shuffle(r0, r1, rev_im);
        mel_vec re = 0.5f * (a + c) + c0 * (b + d) + s0 * (c - a);
        mel_vec im = 0.5f * (b - d) + c0 * (c - a) - s0 * (b + d);
        mel_vec p = re * re + im * im;
        float out[MEL_BLOCK];
        for (int i = 0; i < MEL_BLOCK; i++)
            out[i] = sqrtf(p[i]);
        memcpy(mag + k, out, sizeof out);
    }
    return k;
}

/* The split's operands for 8 bins from k in the order k + {0, 1, 4, 5, 2, 3, 6, 7} (see
 * split_inlane): Z[k + j] (a + ib) deinterleaved by in-lane shuffles, and Z[M - k - j] (c + id),
 * its two halves swapped as they load: broadcasts are loads, and blends run on any FP pipe,
 * where a lane swap (vperm2f128) takes the one that also runs the square roots. */
__attribute__((target("avx2,fma"))) static inline void split_operands(const float *z, int half, int k, __m256 *a,
                                                                      __m256 *b, __m256 *c, __m256 *d) {
    __m256 z0 = _mm256_loadu_ps(z + 2 * k), z1 = _mm256_loadu_ps(z + 2 * k + 8);
    const float *zr = z + 2 * (half - k - 7);
    /* r0: Z[M-k-5..M-k-4] | Z[M-k-7..M-k-6]; r1: Z[M-k-1..M-k] | Z[M-k-3..M-k-2] */
    __m256 r0 = _mm256_blend_ps(_mm256_broadcast_ps((const __m128 *)(zr + 4)), _mm256_broadcast_ps((const __m128 *)zr),
                                0xf0);
    __m256 r1 = _mm256_blend_ps(_mm256_broadcast_ps((const __m128 *)(zr + 12)),
                                _mm256_broadcast_ps((const __m128 *)(zr + 8)), 0xf0);
    *a = _mm256_shuffle_ps(z0, z1, 0x88), *b = _mm256_shuffle_ps(z0, z1, 0xdd);
    *c = _mm256_shuffle_ps(r1, r0, 0x22), *d = _mm256_shuffle_ps(r1, r0, 0x77);
}

/* |X| of the 8 bins from k in split_operands' order: the one arithmetic of split_inlane's groups
 * and split_pairs' groups without a mirror, which therefore agree to the bit. */
__attribute__((target("avx2,fma"))) static inline __m256 split_group(const float *z, const float *tc,
                                                                     const float *ts, int half, int k) {
    __m256 a, b, c, d;
    split_operands(z, half, k, &a, &b, &c, &d);
    __m256 c0 = _mm256_loadu_ps(tc + k), s0 = _mm256_loadu_ps(ts + k);
    __m256 re = 0.5f * (a + c) + c0 * (b + d) + s0 * (c - a);
    __m256 im = 0.5f * (b - d) + c0 * (c - a) - s0 * (b + d);
    return _mm256_sqrt_ps(re * re + im * im);
}

/* The same for AVX2, 8 bins at a time in the order k + {0, 1, 4, 5, 2, 3, 6, 7} that in-lane
 * shuffles (vshufps) deinterleave into: Zen 2 runs cross-lane permutes (vpermd, as GCC
 * vectorises the loop in frame_split) at a fraction of their rate, and they were most of
 * the split's time there. tc and ts are the twiddles in that order (wg_mel_create), and one
 * cross-lane move restores the bins' order, unless lane_order: then each 8 bins stay in that order
 * for transpose_inlane, which takes them so at no cost. */
__attribute__((target("avx2,fma"))) static int split_inlane(const float *z, const float *tc, const float *ts, int half,
                                                           int end, int lane_order, float *mag) {
    int k = 1;
    for (; k + 8 <= end && k + 8 <= half; k += 8) {
        __m256 mg = split_group(z, tc, ts, half, k);
        if (!lane_order)
            mg = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(mg), 0xd8));
        _mm256_storeu_ps(mag + k, mg);
    }
    return k;
}

/* split_inlane in lane order for groups i in [0, pair_hi + 2) (bins 1 + 8i ...), where groups from
 * pair_lo to pair_hi also give bins M - k - {0, 1, 4, 5, 2, 3, 6, 7} from the same Z[k], Z[M-k]: for
 * a real signal X[M-k] = conj(E - W^k O), so the second group costs four adds, its magnitudes
 * and a store. Those mirror groups start at M - k - 7 = M - 8 - 8i in that order reversed. The
 * last two groups, bins M/2 - 7 to M/2 + 8, have no mirror: they run first, so that mirror group
 * pair_hi - 1, from M/2 + 8, is stored over the second's last lane (a scalar loop did those 15
 * bins in 0.1 ms a minute of 22.05 kHz audio more). */
__attribute__((target("avx2,fma"))) static void split_pairs(const float *z, const float *tc, const float *ts, int half,
                                                          int pair_lo, int pair_hi, float *mag) {
    for (int k = 1 + 8 * pair_hi; k < 1 + 8 * (pair_hi + 2); k += 8)
        _mm256_storeu_ps(mag + k, split_group(z, tc, ts, half, k));
    for (int i = 0; i < pair_lo; i++)
        _mm256_storeu_ps(mag + 1 + 8 * i, split_group(z, tc, ts, half, 1 + 8 * i));
    for (int i = pair_lo; i < pair_hi; i++) {
        int k = 1 + 8 * i;
        __m256 a, b, c, d;
        split_operands(z, half, k, &a, &b, &c, &d);
        __m256 c0 = _mm256_loadu_ps(tc + k), s0 = _mm256_loadu_ps(ts + k);
        __m256 e_re = 0.5f * (a + c), e_im = 0.5f * (b - d); /* E, and W^k O: */
        __m256 wo_re = c0 * (b + d) + s0 * (c - a), wo_im = c0 * (c - a) - s0 * (b + d);
        __m256 re = e_re + wo_re, im = e_im + wo_im, mre = e_re - wo_re, mim = e_im - wo_im;
        _mm256_storeu_ps(mag + k, _mm256_sqrt_ps(re * re + im * im));
        _mm256_storeu_ps(mag + half - k - 7, _mm256_sqrt_ps(mre * mre + mim * mim));
    }
}

/* rows' 8 frames from h on, columns [col, col + 8), transposed in registers; output p (column
 * col + p) goes to mag's bin col + to[p], whatever order the split left the columns in */
__attribute__((target("avx2,fma"))) static inline void transpose_8x8(const float *restrict rows, size_t ld, int h,
                                                                     int col, const int to[8], float *restrict mag) {
    const float *r = rows + (size_t)h * ld + col;
    __m256 t0 = _mm256_unpacklo_ps(_mm256_loadu_ps(r), _mm256_loadu_ps(r + ld));
    __m256 t1 = _mm256_unpackhi_ps(_mm256_loadu_ps(r), _mm256_loadu_ps(r + ld));
    __m256 t2 = _mm256_unpacklo_ps(_mm256_loadu_ps(r + 2 * ld), _mm256_loadu_ps(r + 3 * ld));
    __m256 t3 = _mm256_unpackhi_ps(_mm256_loadu_ps(r + 2 * ld), _mm256_loadu_ps(r + 3 * ld));
    __m256 t4 = _mm256_unpacklo_ps(_mm256_loadu_ps(r + 4 * ld), _mm256_loadu_ps(r + 5 * ld));
    __m256 t5 = _mm256_unpackhi_ps(_mm256_loadu_ps(r + 4 * ld), _mm256_loadu_ps(r + 5 * ld));
    __m256 t6 = _mm256_unpacklo_ps(_mm256_loadu_ps(r + 6 * ld), _mm256_loadu_ps(r + 7 * ld));
    __m256 t7 = _mm256_unpackhi_ps(_mm256_loadu_ps(r + 6 * ld), _mm256_loadu_ps(r + 7 * ld));
    /* u[p] holds column p (low lane) and p + 4 (high lane) of frames 0-3, v[p] of frames 4-7 */
    __m256 u[4] = {_mm256_shuffle_ps(t0, t2, 0x44), _mm256_shuffle_ps(t0, t2, 0xee), _mm256_shuffle_ps(t1, t3, 0x44),
                   _mm256_shuffle_ps(t1, t3, 0xee)};
    __m256 v[4] = {_mm256_shuffle_ps(t4, t6, 0x44), _mm256_shuffle_ps(t4, t6, 0xee), _mm256_shuffle_ps(t5, t7, 0x44),
                   _mm256_shuffle_ps(t5, t7, 0xee)};
    for (int p = 0; p < 4; p++) {
        _mm256_store_ps(mag + (size_t)(col + to[p]) * MEL_BLOCK + h, _mm256_permute2f128_ps(u[p], v[p], 0x20));
        _mm256_store_ps(mag + (size_t)(col + to[p + 4]) * MEL_BLOCK + h, _mm256_permute2f128_ps(u[p], v[p], 0x31));
    }
}

/* to_bin_major for a block's rows as the split left them in lane order: where split_pairs ran, its
 * groups and mirror groups (see struct wg_mel), else split_inlane's groups below split_end; the
 * rest, bin 0 included, in order. Each 8 frames by 8 bins is an in-register transpose (GCC's
 * network for the generic loop kept its pieces on the stack). */
__attribute__((target("avx2,fma"))) static void transpose_inlane(const wg_mel *m, const float *restrict rows,
                                                                 float *restrict mag, int split_end, int n_bins) {
    static const int in_lane[8] = {0, 1, 4, 5, 2, 3, 6, 7}, mirrored[8] = {7, 6, 3, 2, 5, 4, 1, 0};
    size_t ld = (size_t)m->n_freq;
    /* where split_pairs ran, its groups' transposes go before its mirror groups', which overwrite
     * the bin that the last group's last lane takes (see split_pairs) */
    int half = m->n_fft / 2, groups = m->pair_hi ? m->pair_hi + 2 : (split_end - 1) / 8;
    int mid_end = m->pair_hi ? half - 8 * m->pair_hi : n_bins, tail = m->pair_hi ? half - 8 * m->pair_lo : n_bins;
    for (int h = 0; h < MEL_BLOCK; h += 8) {
        for (int i = 0; i < groups; i++)
            transpose_8x8(rows, ld, h, 1 + 8 * i, in_lane, mag);
        for (int i = m->pair_lo; i < m->pair_hi; i++)
            transpose_8x8(rows, ld, h, half - 8 - 8 * i, mirrored, mag);
    }
    int mid = 1 + 8 * groups;
    if (mid_end > n_bins)
        mid_end = n_bins;
    for (int c = 0; c < MEL_BLOCK; c++) {
        const float *r = rows + (size_t)c * ld;
        mag[c] = r[0];
        for (int k = mid; k < mid_end; k++) mag[(size_t)k * MEL_BLOCK + c] = r[k];
        for (int k = tail; k < n_bins; k++) mag[(size_t)k * MEL_BLOCK + c] = r[k];
    }
}
#endif

/* Frame f windowed and transformed into spec (one of m->spec's MEL_BLOCK slots): for an even
 * n_fft the half-length complex transform that frame_split turns into the real one's bins. */
WG_SIMD_CLONES static void frame_transform(wg_mel *m, const float *x, size_t n, size_t f, fftwf_complex *spec) {
    long pad = m->n_fft / 2, start = (long)(f * (size_t)m->hop) - pad;
    if (start >= 0 && start + m->n_fft <= (long)n) { /* away from the edges: no reflection */
        const float *xs = x + start;
        for (int i = 0; i < m->n_fft; i++) m->frame[i] = xs[i] * m->window[i];
    } else { /* padded index p maps to x[p - pad], reflected at both ends without repeating the edge */
        for (int i = 0; i < m->n_fft; i++) {
            long p = start + i;
            if (p < 0) p = -p;
            if (p >= (long)n) p = 2 * ((long)n - 1) - p;
            m->frame[i] = x[p] * m->window[i];
        }
    }
    if (m->twiddle) /* new-array execution: every slot is aligned as the one planned for (spec_stride) */
        fftwf_execute_dft(m->plan, (fftwf_complex *)m->frame, spec);
    else
        fftwf_execute_dft_r2c(m->plan, m->frame, spec);
}

/* |STFT| of a frame from its transform spec, bins [0, n_bins), into mag[0, n_bins). With lane_order,
 * where split_inlane or split_pairs runs it leaves its bins in its own order (see transpose_inlane);
 * returns the first bin past split_inlane's (1 if none). */
static int frame_split(wg_mel *m, const fftwf_complex *spec, float *mag, int n_bins, int lane_order) {
    const float *z = (const float *)spec;
    if (!m->twiddle) {
        for (int k = 0; k < n_bins; k++)
            mag[k] = sqrtf(z[2 * k] * z[2 * k] + z[2 * k + 1] * z[2 * k + 1]);
        return 1;
    }
    /* Z = DFT_M(x[2n] + i x[2n+1]), M = n_fft/2. With Z[k] = a + ib and Z[M-k] = c + id, the
     * even samples' transform is E = ((a+c) + i(b-d))/2, the odd ones' O = ((b+d) + i(c-a))/2,
     * and X[k] = E + e^(-2 pi i k/n_fft) O; the halves are in the twiddles. Where AVX-512 is,
     * split_permuted does most bins; the rest have Z[M-k] copied out in k order first, each
     * complex moved as one 64-bit word: GCC vectorises no loop that reads interleaved pairs
     * backwards, and both loops as they are here. */
    int half = m->n_fft / 2, end = n_bins < half ? n_bins : half, k = 1, scalar_end = end;
    const float *tc = m->twiddle, *ts = m->twiddle + half;
    mag[0] = fabsf(z[0] + z[1]);
#ifdef WG_SPLIT_PERMUTED
    if (__builtin_cpu_supports("avx512f"))
        k = split_permuted(z, tc, ts, half, end, mag);
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        if (lane_order && m->pair_hi) { /* every bin but 0 and half, from the pairs' layout */
            split_pairs(z, tc + 2 * half, ts + 2 * half, half, m->pair_lo, m->pair_hi, mag);
            k = scalar_end = 1 + 8 * (m->pair_hi + 2);
        } else
            k = split_inlane(z, tc + 2 * half, ts + 2 * half, half, end, lane_order, mag);
    }
#else
    (void)lane_order; /* no AVX2 split here (clang, other CPUs): bins in natural order */
#endif
    int split_end = k;
    typedef uint64_t __attribute__((may_alias)) word;
    const word *zw = (const word *)spec;
    word *rw = (word *)m->reversed;
    for (int j = k; j < scalar_end; j++) rw[j] = zw[half - j];
    const float *r = m->reversed;
    for (; k < scalar_end; k++) {
        float a = z[2 * k], b = z[2 * k + 1], c = r[2 * k], d = r[2 * k + 1];
        float re = 0.5f * (a + c) + tc[k] * (b + d) + ts[k] * (c - a);
        float im = 0.5f * (b - d) + tc[k] * (c - a) - ts[k] * (b + d);
        mag[k] = sqrtf(re * re + im * im);
    }
    if (n_bins > half)
        mag[half] = fabsf(z[0] - z[1]);
    return split_end;
}

/* mag[k][c] = rows[c][k] for a block's MEL_BLOCK frames. Written bin-major by the split itself,
 * each magnitude took an extract and a scalar store: 4.3 ms a minute of audio against 3.4 so. */
static inline void to_bin_major(const float *restrict rows, size_t ld, float *restrict mag, int n_bins) {
    for (int k = 0; k < n_bins; k++)
        for (int c = 0; c < MEL_BLOCK; c++) mag[(size_t)k * MEL_BLOCK + c] = rows[(size_t)c * ld + k];
}

/* A NaN or an infinity anywhere in a frame makes every bin of its transform NaN or infinite
 * (each bin is a sum over every sample, and no arithmetic turns either back into a number, a
 * product with the window's zero included), hence its every nonempty filter sum. Where every
 * sample lies in some frame (hop_length <= filter_length/2) and some filter is nonempty, the
 * sums find them, and the scan of the input, a pass over it of its own (0.19 ms of the 3.1 a
 * minute of 22.05 kHz audio took), runs only to name the sample once a sum is not finite. On
 * error, out holds whatever the sums made of it. */
WG_SIMD_CLONES int wg_mel_compute(wg_mel *m, const float *x, size_t n, float *out, wg_error *err) {
    int rc = m->finds_nonfinite ? check_length(m, n, err) : check_input(m, x, n, err);
    if (rc)
        return rc;
    size_t frames = wg_mel_frames(m, n);
    /* NaN in a lane once a sum there was NaN or infinite: x - x is 0 for any other */
    mel_vec poison = {0};
    mel_half poison_lo = {0}, poison_hi = {0};
    /* the filter sums run on whole blocks (one mel_vec) where a register holds one, else on halves:
     * GCC lowers the 16-lane vectors for AVX2 piece by piece through the stack (the front end at
     * 8.2 ms a minute of 22.05 kHz audio on a Zen 2, where its FFTs take 2.3) */
#if defined(__x86_64__) && defined(__GNUC__)
    const int wide = __builtin_cpu_supports("avx512f");
#else
    const int wide = 1;
#endif
#ifdef WG_SPLIT_PERMUTED /* split_inlane's bins in its own order, for transpose_inlane */
    const int inlane = !wide && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    const int inlane = 0;
#endif
    for (size_t f0 = 0; f0 < frames; f0 += MEL_BLOCK) {
        int nb = frames - f0 < MEL_BLOCK ? (int)(frames - f0) : MEL_BLOCK;
        /* the block's output lines (one or two in each of n_mel rows) asked for now, to be written
         * after its transforms: a whole output (a minute of audio: 1.6 MB) does not stay in L2, and
         * the logs' stores stalled on n_mel separate misses a block (3% of the time) */
        for (int j = 0; j < m->n_mel; j++) {
            __builtin_prefetch(out + (size_t)j * frames + f0, 1, 3);
            __builtin_prefetch(out + (size_t)j * frames + f0 + nb - 1, 1, 3);
        }
        /* the block's transforms, then their splits: each transform after a split ran slower (FFTW's
         * codelets out of the caches), 4.15 ms a minute of 22.05 kHz audio against 4.0 so */
        int split_end = 1;
        for (int c = 0; c < nb; c++)
            frame_transform(m, x, n, f0 + c, m->spec + (size_t)c * m->spec_stride);
        for (int c = 0; c < nb; c++)
            split_end = frame_split(m, m->spec + (size_t)c * m->spec_stride, m->rows + (size_t)c * m->n_freq,
                                    m->n_used, inlane);
        if (nb < MEL_BLOCK) /* a last, short block: rows an earlier call left (NaN, it may be) would poison */
            memset(m->rows + (size_t)nb * m->n_freq, 0, sizeof(float) * (size_t)(MEL_BLOCK - nb) * m->n_freq);
#ifdef WG_SPLIT_PERMUTED
        if (inlane)
            transpose_inlane(m, m->rows, m->mag, split_end, m->n_used);
        else
#else
        (void)split_end;
#endif
            to_bin_major(m->rows, (size_t)m->n_freq, m->mag, m->n_used);
        for (int j = 0; j < m->n_mel; j++) {
            const float *w = m->weights + m->band_offset[j];
            int len = m->band_hi[j] - m->band_lo[j], k = 0;
            float *sums = m->sums + (size_t)j * MEL_BLOCK;
            if (wide) {
                const mel_vec *mk = (const mel_vec *)m->mag + m->band_lo[j];
                mel_vec a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
                for (; k + 4 <= len; k += 4) {
                    a0 += w[k] * mk[k];
                    a1 += w[k + 1] * mk[k + 1];
                    a2 += w[k + 2] * mk[k + 2];
                    a3 += w[k + 3] * mk[k + 3];
                }
                for (; k < len; k++)
                    a0 += w[k] * mk[k];
                mel_vec acc = (a0 + a1) + (a2 + a3);
                poison += acc - acc;
                memcpy(sums, &acc, sizeof acc);
            } else { /* each bin's block as two halves, each summed as the whole one is (same bits) */
                const mel_half *mk = (const mel_half *)m->mag + 2 * (size_t)m->band_lo[j];
                mel_half l0 = {0}, l1 = {0}, l2 = {0}, l3 = {0}, h0 = {0}, h1 = {0}, h2 = {0}, h3 = {0};
                for (; k + 4 <= len; k += 4) {
                    l0 += w[k] * mk[2 * k];
                    h0 += w[k] * mk[2 * k + 1];
                    l1 += w[k + 1] * mk[2 * k + 2];
                    h1 += w[k + 1] * mk[2 * k + 3];
                    l2 += w[k + 2] * mk[2 * k + 4];
                    h2 += w[k + 2] * mk[2 * k + 5];
                    l3 += w[k + 3] * mk[2 * k + 6];
                    h3 += w[k + 3] * mk[2 * k + 7];
                }
                for (; k < len; k++) {
                    l0 += w[k] * mk[2 * k];
                    h0 += w[k] * mk[2 * k + 1];
                }
                mel_half lo = (l0 + l1) + (l2 + l3), hi = (h0 + h1) + (h2 + h3);
                poison_lo += lo - lo;
                poison_hi += hi - hi;
                memcpy(sums, &lo, sizeof lo);
                memcpy(sums + MEL_BLOCK / 2, &hi, sizeof hi);
            }
        }
        /* the logs after every sum: nothing else is live across libmvec's calls, which clobber every
         * vector register (inside the filter loop, GCC kept its sums and accumulators on the stack) */
        for (int j = 0; j < m->n_mel; j++) {
            const float *restrict sums = m->sums + (size_t)j * MEL_BLOCK;
            float *restrict o = out + (size_t)j * frames + f0;
            if (nb == MEL_BLOCK) {
#pragma omp simd
                for (int c = 0; c < MEL_BLOCK; c++) o[c] = logf(sums[c] > 1e-5f ? sums[c] : 1e-5f);
            } else {
                float lg[MEL_BLOCK];
#pragma omp simd
                for (int c = 0; c < MEL_BLOCK; c++) lg[c] = logf(sums[c] > 1e-5f ? sums[c] : 1e-5f);
                memcpy(o, lg, sizeof(float) * (size_t)nb);
            }
        }
    }
    for (int c = 0; c < MEL_BLOCK; c++)
        if (poison[c] != poison[c] || poison_lo[c % (MEL_BLOCK / 2)] != poison_lo[c % (MEL_BLOCK / 2)] ||
            poison_hi[c % (MEL_BLOCK / 2)] != poison_hi[c % (MEL_BLOCK / 2)]) {
            rc = check_input(m, x, n, err);
            /* all samples finite: the sums overflowed float (samples near 1e35 and beyond) */
            return rc ? rc : wg_fail(err, WG_EINVAL, "the mel spectrum of these %zu samples overflows single "
                                                    "precision: the samples are not audio in [-1, 1]", n);
        }
    return 0;
}

int wg_mel_magnitude(wg_mel *m, const float *x, size_t n, float *out, wg_error *err) {
    int rc = check_input(m, x, n, err);
    if (rc)
        return rc;
    size_t frames = wg_mel_frames(m, n);
    for (size_t f = 0; f < frames; f++) {
        frame_transform(m, x, n, f, m->spec);
        frame_split(m, m->spec, m->rows, m->n_freq, 0);
        for (int k = 0; k < m->n_freq; k++)
            out[(size_t)k * frames + f] = m->rows[k];
    }
    return 0;
}
