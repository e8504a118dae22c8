/* mel.h — internals of the log-mel front end shared with other modules (the public API is in
 * waveglow.h: wg_mel_create / wg_mel_compute). */
#ifndef WG_MEL_H
#define WG_MEL_H

#include "waveglow.h"

static inline double fmin_d(double a, double b) { return a < b ? a : b; }

/* The Slaney mel filterbank with Slaney area normalisation (librosa.filters.mel defaults):
 * out is (n_mel, n_fft/2 + 1), row-major, double. Returns 0 or WG_ENOMEM. */
int wg_mel_filterbank(int sample_rate, int n_fft, int n_mel, double fmin, double fmax, double *out);

/* The FFTW wisdom wg_mel_create imports before planning (see mel.c), and the FFTW version that
 * made it (fftwf_version's text): FFTW refuses the wisdom of another version. */
const char *wg_mel_fftw_wisdom(void);
#define WG_MEL_FFTW_WISDOM_VERSION "fftw-3.3.10-sse2-avx"

/* |STFT(x)| with the front end's framing and window: out (filter_length/2 + 1, frames). */
int wg_mel_magnitude(wg_mel *mel, const float *x, size_t n_samples, float *out, wg_error *err);

#endif
