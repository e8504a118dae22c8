/* kernels.h — the dense building blocks every layer is made of: row-major sgemm (OpenBLAS)
 * and a few fused element-wise passes. All matrices are row-major with explicit leading
 * dimensions, so a layer can run a GEMM on a shifted view of a padded buffer. */
#ifndef WG_KERNELS_H
#define WG_KERNELS_H

/* On x86-64 with GCC, a function marked WG_SIMD_CLONES gets copies for AVX2+FMA and AVX-512,
 * picked when the library loads; the rest of the library is built for baseline x86-64. Not
 * under ThreadSanitizer: the resolver runs before its runtime and crashes in its hooks. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define WG_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define WG_SIMD_CLONES
#endif

/* Before a loop whose stores GCC would otherwise check at run time against each other (over
 * ten such checks and it gives up vectorising): none of its iterations depends on another's. */
#if defined(__GNUC__) && !defined(__clang__)
#define WG_IVDEP _Pragma("GCC ivdep")
#else
#define WG_IVDEP
#endif

#include <stddef.h>

/* C (m×n, ldc) = beta·C + A (m×k, lda) · B (k×n, ldb) */
void wg_gemm(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c,
             size_t ldc);
/* Same with A transposed: A is stored (k×m, lda). */
void wg_gemm_at(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b, size_t ldb, float beta,
                float *c, size_t ldc);

/* x[r][t] = bias[r] for r < rows, t < n (row stride ld). bias NULL means zero. */
void wg_fill_bias(float *x, size_t rows, size_t n, size_t ld, const float *bias);
/* x[r][t] = a[r] + b[r]: two biases summed in one pass (a WN layer's in and cond biases) */
void wg_fill_bias2(float *x, size_t rows, size_t n, size_t ld, const float *a, const float *b);
/* x[r][t] += bias[r] */
void wg_add_bias(float *x, size_t rows, size_t n, size_t ld, const float *bias);
/* y[r][t] = x[r][t] + bias[r], both with row stride ld (y may be x): a copy and a bias in one pass */
void wg_add_bias_to(float *y, const float *x, size_t rows, size_t n, size_t ld, const float *bias);

/* y = tanh(x), y = sigmoid(x) element-wise (y may be x): vectorised, within 1e-7 absolute of
 * float64 (a test holds them to it). */
void wg_tanh(float *y, const float *x, size_t n);
void wg_sigmoid(float *y, const float *x, size_t n);
/* Σ x[t] for t < n, accumulated in double in eight interleaved partial sums combined in a fixed
 * order: the same bits on every CPU, a sum's chain of dependent additions an eighth as long. */
double wg_sum_f64(const float *x, size_t n);
/* The WaveNet gate: acts[c][t] = tanh(pre[c][t]) · sigmoid(pre[C + c][t]) for t < n, pre is
 * (2C, n) with row stride ld_pre, acts (C, n) with row stride ld_acts. */
void wg_gate(float *acts, size_t ld_acts, const float *pre, size_t ld_pre, size_t channels, size_t n);

/* Sets the thread count of the BLAS (0: all cores); wg_get_threads reads it back, so that a call
 * that changes it for its own work (synthesis runs single-threaded GEMMs in a team) can put the
 * caller's back. */
void wg_set_threads(int n_threads);
int wg_get_threads(void);
int wg_default_threads(void);
/* Whether OpenBLAS runs one of its AVX-512 targets (SkylakeX, Cooperlake, SapphireRapids): about
 * twice the GEMM rate of its AVX2 ones on the same CPU, and, in its x86-64 builds, small-matrix
 * kernels that multiply M·N·K ≤ 10⁶ without packing the operands (condfold.c relies on them). */
int wg_blas_avx512_kernels(void);

#endif
