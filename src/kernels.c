/* kernels.c — see kernels.h. */
#include "kernels.h"

#include <cblas.h>
#include <math.h>
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

void wg_add_bias(float *x, size_t rows, size_t n, size_t ld, const float *bias) {
    for (size_t r = 0; r < rows; r++) {
        float v = bias[r];
        float *row = x + r * ld;
        for (size_t t = 0; t < n; t++)
            row[t] += v;
    }
}

void wg_gate(float *acts, const float *pre, size_t channels, size_t n) {
    for (size_t c = 0; c < channels; c++) {
        const float *a = pre + c * n, *b = pre + (channels + c) * n;
        float *o = acts + c * n;
        for (size_t t = 0; t < n; t++)
            o[t] = tanhf(a[t]) / (1.0f + expf(-b[t]));
    }
}

int wg_default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void wg_set_threads(int n_threads) { openblas_set_num_threads(n_threads > 0 ? n_threads : wg_default_threads()); }
