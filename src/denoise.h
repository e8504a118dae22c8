/* denoise.h — the STFT of NVIDIA's denoiser (n_fft 1024, hop 256, periodic Hann 1024, reflect
 * padding of 512), exposed for tests. */
#ifndef WG_DENOISE_H
#define WG_DENOISE_H

#include <stddef.h>

#define WG_DENOISE_NFFT 1024
#define WG_DENOISE_HOP 256
#define WG_DENOISE_BINS (WG_DENOISE_NFFT / 2 + 1)

/* |STFT(x)| of the first frame (WG_DENOISE_BINS values). x must be longer than 512 samples. */
int wg_stft_first_magnitude(const float *x, size_t n, float *mag);
/* The spectral subtraction itself: out = ISTFT(max(|X| − strength · bias, 0), ∠X). */
int wg_stft_subtract(const float *bias, float strength, const float *in, size_t n, float *out);

#endif
