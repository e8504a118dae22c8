/* linalg.h — small dense linear algebra in float64 for the invertible 1×1 convolutions. */
#ifndef WG_LINALG_H
#define WG_LINALG_H

/* inv = W⁻¹ (n×n, row-major) and *log_abs_det = log|det W|, by LU with partial pivoting in
 * float64. Returns 0, or -1 when W is singular (a zero or non-finite pivot) or memory is short. */
int wg_invert_matrix(const float *w, int n, float *inv, double *log_abs_det);

#endif
