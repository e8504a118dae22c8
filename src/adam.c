/* adam.c — see adam.h. */
#include "adam.h"

#include <math.h>

#include "kernels.h"

wg_adam_params wg_adam_default_params(void) {
    return (wg_adam_params){.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0};
}

WG_SIMD_CLONES void wg_adam_step(float *restrict theta, const float *restrict grad, float *restrict m,
                                 float *restrict v, size_t n, long step, double lr, const wg_adam_params *p) {
    double bc1 = 1 - pow(p->beta1, (double)step), bc2 = 1 - pow(p->beta2, (double)step);
    /* float32 arithmetic, as torch's: each constant rounded once from double (1 − 0.999f would be
     * 4.7e-5 off 0.001, a bias in every update); the loop then vectorises, where double square
     * roots and divisions made Adam 5% of a training step */
    const float b1 = (float)p->beta1, c1 = (float)(1 - p->beta1), b2 = (float)p->beta2, c2 = (float)(1 - p->beta2);
    const float wd = (float)p->weight_decay, eps = (float)p->eps;
    const float step_size = (float)(lr / bc1), inv_sqrt_bc2 = (float)(1 / sqrt(bc2));
    for (size_t i = 0; i < n; i++) {
        float g = grad[i] + wd * theta[i];
        float mi = b1 * m[i] + c1 * g, vi = b2 * v[i] + c2 * g * g;
        m[i] = mi;
        v[i] = vi;
        theta[i] -= step_size * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
    }
}
