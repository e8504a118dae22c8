/* denoise.c — NVIDIA's denoiser. The forward STFT is an r2c FFT of windowed, reflect-padded
 * frames. NVIDIA's inverse applies pinv(F), F the (2·(N/2+1)) × N stack of the cos and −sin rows
 * of the half-spectrum DFT, then overlap-adds with the window and divides by the window's summed
 * squares. FᵀF = (N/2)·I + J, with J[n][m] = 1 when n ≡ m (mod 2), so
 *     pinv(F)·v = (2/N) · (u − J·u / N),   u = Fᵀ·v,
 * and u is a half-spectrum inverse DFT: (c2r(Y) + Re Y₀ + (−1)ⁿ Re Y_{N/2}) / 2. That keeps the
 * reference's least-squares inverse (which differs from a plain irfft once magnitudes are
 * changed) at FFT cost. */
#include "denoise.h"

#include <fftw3.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fftw_lock.h"
#include "model.h"

enum { N = WG_DENOISE_NFFT, HOP = WG_DENOISE_HOP, BINS = WG_DENOISE_BINS };

typedef struct stft {
    float window[N];
    float *frame;
    fftwf_complex *spec;
    fftwf_plan r2c, c2r;
} stft;

static int stft_init(stft *s) {
    for (int i = 0; i < N; i++)
        s->window[i] = (float)(0.5 - 0.5 * cos(2.0 * M_PI * i / N));
    s->frame = fftwf_malloc(sizeof(float) * N);
    s->spec = fftwf_malloc(sizeof(fftwf_complex) * BINS);
    if (!s->frame || !s->spec)
        return -1;
    wg_fftw_lock();
    s->r2c = fftwf_plan_dft_r2c_1d(N, s->frame, s->spec, FFTW_ESTIMATE);
    s->c2r = fftwf_plan_dft_c2r_1d(N, s->spec, s->frame, FFTW_ESTIMATE);
    wg_fftw_unlock();
    return s->r2c && s->c2r ? 0 : -1;
}

static void stft_free(stft *s) {
    wg_fftw_lock();
    if (s->r2c)
        fftwf_destroy_plan(s->r2c);
    if (s->c2r)
        fftwf_destroy_plan(s->c2r);
    wg_fftw_unlock();
    fftwf_free(s->frame);
    fftwf_free(s->spec);
}

/* frame f of reflect-padded x (length n) times the window, transformed into s->spec */
static void analyse(stft *s, const float *x, size_t n, size_t f) {
    for (int i = 0; i < N; i++) {
        long p = (long)(f * HOP) + i - N / 2;
        if (p < 0)
            p = -p;
        if (p >= (long)n)
            p = 2 * ((long)n - 1) - p;
        s->frame[i] = x[p] * s->window[i];
    }
    fftwf_execute(s->r2c);
}

int wg_stft_first_magnitude(const float *x, size_t n, float *mag) {
    if (n <= N / 2)
        return WG_ETOOSHORT;
    stft s = {0};
    if (stft_init(&s)) {
        stft_free(&s);
        return WG_ENOMEM;
    }
    analyse(&s, x, n, 0);
    for (int k = 0; k < BINS; k++)
        mag[k] = hypotf(s.spec[k][0], s.spec[k][1]);
    stft_free(&s);
    return 0;
}

int wg_stft_subtract(const float *bias, float strength, const float *in, size_t n, float *out) {
    if (n <= N / 2)
        return WG_ETOOSHORT;
    /* pad the end with zeros to whole hops, so every input sample is reconstructed */
    size_t T = (n + HOP - 1) / HOP * HOP, frames = 1 + T / HOP, len = (frames - 1) * HOP + N;
    float *x = calloc(T, sizeof(float));
    double *y = calloc(len, sizeof(double)), *wss = calloc(len, sizeof(double));
    stft s = {0};
    int rc = 0;
    if (!x || !y || !wss || stft_init(&s)) {
        rc = WG_ENOMEM;
        goto done;
    }
    memcpy(x, in, n * sizeof(float));
    for (size_t f = 0; f < frames; f++) {
        analyse(&s, x, T, f);
        double re0 = 0, reh = 0;
        for (int k = 0; k < BINS; k++) {
            float re = s.spec[k][0], im = s.spec[k][1];
            float mag = hypotf(re, im), phase = atan2f(im, re);
            float m = mag - strength * bias[k];
            if (m < 0)
                m = 0;
            s.spec[k][0] = m * cosf(phase);
            s.spec[k][1] = m * sinf(phase);
        }
        re0 = s.spec[0][0];
        reh = s.spec[BINS - 1][0];
        fftwf_execute(s.c2r); /* s.frame = Σ_k Y_k e^{iθn} over the full Hermitian spectrum */
        double u[N], even = 0, odd = 0;
        for (int i = 0; i < N; i++) {
            u[i] = 0.5 * (s.frame[i] + re0 + ((i & 1) ? -reh : reh));
            if (i & 1)
                odd += u[i];
            else
                even += u[i];
        }
        for (int i = 0; i < N; i++) {
            double v = 2.0 / N * (u[i] - ((i & 1) ? odd : even) / N);
            y[f * HOP + (size_t)i] += s.window[i] * v;
            wss[f * HOP + (size_t)i] += (double)s.window[i] * s.window[i];
        }
    }
    for (size_t t = 0; t < n; t++) {
        double w = wss[t + N / 2];
        out[t] = (float)(w > FLT_MIN ? y[t + N / 2] / w : y[t + N / 2]);
    }
done:
    stft_free(&s);
    free(x);
    free(y);
    free(wss);
    return rc;
}

struct wg_denoiser {
    float bias[BINS];
};

int wg_denoiser_create(const wg_model *m, const wg_run_params *params, wg_denoiser **out, wg_error *err) {
    *out = NULL;
    enum { FRAMES = 88 }; /* NVIDIA's zero mel is (1, 80, 88) */
    size_t M = (size_t)wg_model_config(m)->n_mel_channels, n = wg_synth_samples(m, FRAMES);
    float *mel = calloc(M * FRAMES, sizeof(float)), *audio = malloc(n * sizeof(float));
    wg_denoiser *d = calloc(1, sizeof *d);
    int rc = 0;
    if (!mel || !audio || !d) {
        rc = wg_fail(err, WG_ENOMEM, "denoiser: out of memory");
        goto done;
    }
    if ((rc = wg_synthesize(m, mel, FRAMES, 0.0f, 0, audio, params, err)))
        goto done;
    if ((rc = wg_stft_first_magnitude(audio, n, d->bias))) {
        rc = wg_fail(err, rc, "denoiser: the bias synthesis (%zu samples) is too short for its STFT", n);
        goto done;
    }
    *out = d;
    d = NULL;
done:
    free(mel);
    free(audio);
    free(d);
    return rc;
}

int wg_denoiser_apply(const wg_denoiser *d, const float *in, size_t n, float strength, float *out, wg_error *err) {
    if (!isfinite(strength) || strength < 0)
        return wg_fail(err, WG_EINVAL, "denoise strength %g must be >= 0", strength);
    int rc = wg_stft_subtract(d->bias, strength, in, n, out);
    if (rc == WG_ETOOSHORT)
        return wg_fail(err, rc, "%zu samples is too short to denoise (more than %d needed)", n, N / 2);
    if (rc)
        return wg_fail(err, rc, "denoise: out of memory");
    return 0;
}

void wg_denoiser_free(wg_denoiser *d) { free(d); }
