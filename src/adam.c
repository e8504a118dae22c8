/* adam.c — see adam.h. */
#include "adam.h"

#include <math.h>

wg_adam_params wg_adam_default_params(void) {
    return (wg_adam_params){.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0};
}

void wg_adam_step(float *theta, const float *grad, float *m, float *v, size_t n, long step, double lr,
                  const wg_adam_params *p) {
    double bc1 = 1 - pow(p->beta1, (double)step), bc2 = 1 - pow(p->beta2, (double)step);
    double step_size = lr / bc1, sqrt_bc2 = sqrt(bc2);
    /* in double: 1 − 0.999f is 4.7e-5 off 0.001 in float32, a bias in every update */
    for (size_t i = 0; i < n; i++) {
        double g = grad[i] + p->weight_decay * theta[i];
        double mi = p->beta1 * m[i] + (1 - p->beta1) * g, vi = p->beta2 * v[i] + (1 - p->beta2) * g * g;
        m[i] = (float)mi;
        v[i] = (float)vi;
        theta[i] = (float)(theta[i] - step_size * mi / (sqrt(vi) / sqrt_bc2 + p->eps));
    }
}
