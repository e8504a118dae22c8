/* kernels.c — see kernels.h. */
#include "kernels.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

void wg_gemm(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c,
             size_t ldc) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0f, a, (int)lda, b, (int)ldb, beta,
                c, (int)ldc);
}

void wg_gemm_at(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b, size_t ldb, float beta,
                float *c, size_t ldc) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0f, a, (int)lda, b, (int)ldb, beta,
                c, (int)ldc);
}

void wg_fill_bias(float *x, size_t rows, size_t n, size_t ld, const float *bias) {
    for (size_t r = 0; r < rows; r++) {
        float v = bias ? bias[r] : 0.0f;
        float *row = x + r * ld;
        for (size_t t = 0; t < n; t++)
            row[t] = v;
    }
}

void wg_fill_bias2(float *x, size_t rows, size_t n, size_t ld, const float *a, const float *b) {
    for (size_t r = 0; r < rows; r++) {
        float v = a[r] + b[r];
        float *row = x + r * ld;
        for (size_t t = 0; t < n; t++)
            row[t] = v;
    }
}

void wg_add_bias_to(float *y, const float *x, size_t rows, size_t n, size_t ld, const float *bias) {
    for (size_t r = 0; r < rows; r++) {
        float v = bias[r];
        const float *in = x + r * ld;
        float *out = y + r * ld;
        for (size_t t = 0; t < n; t++)
            out[t] = in[t] + v;
    }
}

void wg_add_bias(float *x, size_t rows, size_t n, size_t ld, const float *bias) {
    wg_add_bias_to(x, x, rows, n, ld, bias);
}

/* e^x, clamped to [e^-87, e^88], within 2 ulp of expf: Cody-Waite reduction by ln 2 and Cephes'
 * polynomial, written without calls or branches so that the loops below vectorise (libm's expf
 * and tanhf cost a tenth of a training step when called per element). */
static inline float exp_vec(float x) {
    /* the clamps send NaN to -87 (comparisons with NaN are false), so n is always a small integer
     * and its conversion defined; NaN comes back through r, so it still propagates */
    float xc = x > -87.0f ? x : -87.0f;
    xc = xc < 88.0f ? xc : 88.0f;
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding and subtracting it rounds to an integer */
    float n = (xc * 1.44269504088896341f + shifter) - shifter;
    float r = xc - n * 0.693359375f;
    r = r + n * 2.12194440e-4f + (x != x ? x : 0.0f);
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) * (1 << 23); /* n + 127 is in [1, 254] */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* tanh through e = e^-2|x|: sign(x)·(1 − e)/(1 + e); the absolute error stays within 1e-7 */
static inline float tanh_vec(float x) {
    float e = exp_vec(-2.0f * fabsf(x));
    return copysignf((1.0f - e) / (1.0f + e), x);
}

static inline float sigmoid_vec(float x) { return 1.0f / (1.0f + exp_vec(-x)); }

/* The loops below are a tenth of synthesis: each gets SIMD copies (WG_SIMD_CLONES, kernels.h). */

WG_SIMD_CLONES double wg_sum_f64(const float *x, size_t n) {
    double s[8] = {0};
    size_t t = 0;
    for (; t + 8 <= n; t += 8)
        for (int i = 0; i < 8; i++) s[i] += x[t + i];
    for (int i = 0; t < n; t++, i++) s[i] += x[t];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

WG_SIMD_CLONES void wg_tanh(float *y, const float *x, size_t n) {
    for (size_t t = 0; t < n; t++)
        y[t] = tanh_vec(x[t]);
}

WG_SIMD_CLONES void wg_sigmoid(float *y, const float *x, size_t n) {
    for (size_t t = 0; t < n; t++)
        y[t] = sigmoid_vec(x[t]);
}

WG_SIMD_CLONES void wg_gate(float *acts, size_t ld_acts, const float *pre, size_t ld_pre, size_t channels, size_t n) {
    for (size_t c = 0; c < channels; c++) {
        const float *a = pre + c * ld_pre, *b = pre + (channels + c) * ld_pre;
        float *o = acts + c * ld_acts;
        /* tanh(a)·σ(b) = sign(a)·(1 − e)/((1 + e)(1 + f)), e = e^-2|a|, f = e^-b: one division
         * instead of two, which bound this loop */
        for (size_t t = 0; t < n; t++) {
            float e = exp_vec(-2.0f * fabsf(a[t])), f = exp_vec(-b[t]);
            o[t] = copysignf(1.0f - e, a[t]) / ((1.0f + e) * (1.0f + f));
        }
    }
}

int wg_default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int wg_get_threads(void) { return openblas_get_num_threads(); }

void wg_set_threads(int n_threads) { openblas_set_num_threads(n_threads > 0 ? n_threads : wg_default_threads()); }

int wg_blas_avx512_kernels(void) {
    static const char *names[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
    const char *core = openblas_get_corename();
    for (size_t i = 0; core && i < sizeof names / sizeof names[0]; i++)
        if (!strcasecmp(core, names[i])) return 1;
    return 0;
}
