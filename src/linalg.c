/* linalg.c — see linalg.h. */
#include "linalg.h"

#include <math.h>
#include <stdlib.h>

int wg_invert_matrix(const float *w, int n, float *inv, double *log_abs_det) {
    double *a = malloc(sizeof(double) * (size_t)n * n * 2);
    if (!a)
        return -1;
    double *b = a + (size_t)n * n; /* becomes the inverse: Gauss-Jordan on [A | I] */
    for (int i = 0; i < n * n; i++) {
        a[i] = w[i];
        b[i] = (i / n == i % n);
    }
    double logdet = 0;
    int rc = 0;
    for (int c = 0; c < n; c++) {
        int piv = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(a[r * n + c]) > fabs(a[piv * n + c]))
                piv = r;
        double p = a[piv * n + c];
        if (p == 0 || !isfinite(p)) {
            rc = -1;
            break;
        }
        if (piv != c)
            for (int j = 0; j < n; j++) {
                double t = a[c * n + j];
                a[c * n + j] = a[piv * n + j];
                a[piv * n + j] = t;
                t = b[c * n + j];
                b[c * n + j] = b[piv * n + j];
                b[piv * n + j] = t;
            }
        logdet += log(fabs(p));
        for (int j = 0; j < n; j++) {
            a[c * n + j] /= p;
            b[c * n + j] /= p;
        }
        for (int r = 0; r < n; r++) {
            if (r == c)
                continue;
            double f = a[r * n + c];
            if (f == 0)
                continue;
            for (int j = 0; j < n; j++) {
                a[r * n + j] -= f * a[c * n + j];
                b[r * n + j] -= f * b[c * n + j];
            }
        }
    }
    if (!rc) {
        for (int i = 0; i < n * n; i++)
            inv[i] = (float)b[i];
        *log_abs_det = logdet;
    }
    free(a);
    return rc;
}
