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
    float b1 = (float)p->beta1, b2 = (float)p->beta2;
    for (size_t i = 0; i < n; i++) {
        float g = grad[i] + (float)p->weight_decay * theta[i];
        m[i] = b1 * m[i] + (1 - b1) * g;
        v[i] = b2 * v[i] + (1 - b2) * g * g;
        double denom = sqrt((double)v[i]) / sqrt_bc2 + p->eps;
        theta[i] -= (float)(step_size * m[i] / denom);
    }
}
