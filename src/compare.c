/* compare.c — objective comparison of two signals: alignment (delay by FFT cross-correlation,
 * least-squares gain), then sample measures (max abs, RMS, SNR) and spectral ones (LSD on |STFT|
 * in dB, MCD on the orthonormal DCT-II of the natural-log mel without c0), using the front end's
 * STFT and mel. The definitions match tools/make_compare_reference.py, the test's oracle. */
#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fftw_lock.h"
#include "mel.h"

wg_compare_params wg_compare_default_params(void) { return (wg_compare_params){0}; }

/* argmax over |L| <= max_lag of Σ_t ref[t]·test[t + L], by one FFT of each */
static int best_delay(const float *ref, size_t n_ref, const float *test, size_t n_test, long max_lag, long *out) {
    size_t n = 1;
    while (n < n_ref + n_test) n <<= 1;
    size_t bins = n / 2 + 1;
    float *a = fftwf_malloc(sizeof(float) * n), *b = fftwf_malloc(sizeof(float) * n);
    fftwf_complex *fa = fftwf_malloc(sizeof(fftwf_complex) * bins), *fb = fftwf_malloc(sizeof(fftwf_complex) * bins);
    int rc = 0;
    if (!a || !b || !fa || !fb) {
        rc = WG_ENOMEM;
        goto done;
    }
    wg_fftw_lock();
    fftwf_plan pa = fftwf_plan_dft_r2c_1d((int)n, a, fa, FFTW_ESTIMATE);
    fftwf_plan pb = fftwf_plan_dft_r2c_1d((int)n, b, fb, FFTW_ESTIMATE);
    fftwf_plan pc = fftwf_plan_dft_c2r_1d((int)n, fa, a, FFTW_ESTIMATE);
    wg_fftw_unlock();
    memset(a, 0, sizeof(float) * n);
    memset(b, 0, sizeof(float) * n);
    for (size_t i = 0; i < n_ref; i++) a[i] = ref[i];
    for (size_t i = 0; i < n_test; i++) b[i] = test[i];
    fftwf_execute(pa);
    fftwf_execute(pb);
    for (size_t k = 0; k < bins; k++) { /* conj(A)·B: correlation c[L] = Σ a[t] b[t + L] */
        float re = fa[k][0] * fb[k][0] + fa[k][1] * fb[k][1], im = fa[k][0] * fb[k][1] - fa[k][1] * fb[k][0];
        fa[k][0] = re, fa[k][1] = im;
    }
    fftwf_execute(pc);
    long best = 0;
    double best_c = -INFINITY;
    for (long L = -max_lag; L <= max_lag; L++) {
        double c = a[(size_t)((L % (long)n + (long)n) % (long)n)];
        if (c > best_c || (c == best_c && labs(L) < labs(best))) best_c = c, best = L;
    }
    *out = best;
    wg_fftw_lock();
    fftwf_destroy_plan(pa), fftwf_destroy_plan(pb), fftwf_destroy_plan(pc);
    wg_fftw_unlock();
done:
    fftwf_free(a), fftwf_free(b), fftwf_free(fa), fftwf_free(fb);
    return rc;
}

int wg_compare(const float *ref, size_t n_ref, const float *test, size_t n_test, int sr, const wg_compare_params *params,
               wg_compare_result *r, wg_error *err) {
    wg_compare_params p = params ? *params : wg_compare_default_params();
    memset(r, 0, sizeof *r);
    r->n_ref = n_ref, r->n_test = n_test, r->length_diff = (long)n_test - (long)n_ref, r->gain = 1;
    if (sr < 1) return wg_fail(err, WG_EINVAL, "sample rate %d is not positive", sr);
    for (size_t i = 0; i < n_ref; i++)
        if (!isfinite(ref[i])) return wg_fail(err, WG_ENONFINITE, "reference sample %zu is not finite", i);
    for (size_t i = 0; i < n_test; i++)
        if (!isfinite(test[i])) return wg_fail(err, WG_ENONFINITE, "test sample %zu is not finite", i);
    if (p.max_delay_ms < 0 || !isfinite(p.max_delay_ms)) return wg_fail(err, WG_EINVAL, "bad maximum delay");
    long max_lag = (long)floor(p.max_delay_ms * 1e-3 * sr);
    if (max_lag > 0 && n_ref && n_test) {
        int rc = best_delay(ref, n_ref, test, n_test, max_lag, &r->delay);
        if (rc) return wg_fail(err, rc, "out of memory");
    }
    /* the overlap: ref[t] against test[t + delay] */
    size_t t0 = r->delay < 0 ? (size_t)(-r->delay) : 0;
    long end = (long)n_ref < (long)n_test - r->delay ? (long)n_ref : (long)n_test - r->delay;
    if (end <= (long)t0) return wg_fail(err, WG_ETOOSHORT, "the signals do not overlap");
    size_t n = (size_t)end - t0;
    r->n_compared = n;
    const float *a = ref + t0, *b = test + t0 + r->delay;
    double sab = 0, sbb = 0;
    for (size_t i = 0; i < n; i++) sab += (double)a[i] * b[i], sbb += (double)b[i] * b[i];
    if (p.match_gain && sbb > 0) r->gain = sab / sbb;
    double se = 0, sa = 0;
    for (size_t i = 0; i < n; i++) {
        double d = a[i] - r->gain * b[i];
        se += d * d, sa += (double)a[i] * a[i];
        r->max_abs = fmax(r->max_abs, fabs(d));
    }
    r->rms = sqrt(se / (double)n);
    r->snr_db = se == 0 ? INFINITY : 10 * log10(sa / se);
    /* spectral measures through the front end */
    wg_config c = wg_config_default();
    c.sampling_rate = sr;
    c.filter_length = p.n_fft ? p.n_fft : 1024;
    c.hop_length = p.hop ? p.hop : 256;
    c.win_length = p.win_length ? p.win_length : c.filter_length;
    c.n_mel_channels = p.n_mel ? p.n_mel : 80;
    c.mel_fmin = p.fmin;
    c.mel_fmax = p.fmax > 0 ? p.fmax : fmin(8000.0, sr / 2.0);
    wg_mel *mel;
    int rc = wg_mel_create(&c, &mel, err);
    if (rc) return rc;
    size_t frames = wg_mel_frames(mel, n), bins = (size_t)c.filter_length / 2 + 1, M = (size_t)c.n_mel_channels;
    size_t big = bins > M ? bins : M;
    float *ga = malloc(sizeof(float) * n), *xa = malloc(sizeof(float) * big * frames),
          *xb = malloc(sizeof(float) * big * frames);
    if (!ga || !xa || !xb) {
        rc = wg_fail(err, WG_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) ga[i] = (float)(r->gain * b[i]);
    if ((rc = wg_mel_magnitude(mel, a, n, xa, err)) || (rc = wg_mel_magnitude(mel, ga, n, xb, err))) goto done;
    double lsd = 0;
    for (size_t f = 0; f < frames; f++) {
        double acc = 0;
        for (size_t k = 0; k < bins; k++) {
            double d = 20 * log10(fmax(xa[k * frames + f], 1e-5)) - 20 * log10(fmax(xb[k * frames + f], 1e-5));
            acc += d * d;
        }
        lsd += sqrt(acc / (double)bins);
    }
    r->lsd_db = lsd / (double)frames;
    if ((rc = wg_mel_compute(mel, a, n, xa, err)) || (rc = wg_mel_compute(mel, ga, n, xb, err))) goto done;
    double mcd = 0;
    for (size_t f = 0; f < frames; f++) {
        double acc = 0;
        for (size_t k = 1; k < M; k++) { /* the orthonormal DCT-II coefficient k of the difference */
            double ck = 0;
            for (size_t j = 0; j < M; j++)
                ck += ((double)xa[j * frames + f] - xb[j * frames + f]) * cos(M_PI * k * (2 * j + 1) / (2.0 * M));
            ck *= sqrt(2.0 / M);
            acc += ck * ck;
        }
        mcd += 10 / log(10.0) * sqrt(2 * acc);
    }
    r->mcd_db = mcd / (double)frames;
done:
    free(ga), free(xa), free(xb);
    wg_mel_destroy(mel);
    return rc;
}
