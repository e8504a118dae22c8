/* adam.h — Adam (Kingma & Ba 2015) as torch.optim.Adam computes it, weight decay as L2 added to
 * the gradient (torch's `weight_decay`), over one flat parameter vector with its moments. */
#ifndef WG_ADAM_H
#define WG_ADAM_H

#include <stddef.h>

typedef struct wg_adam_params {
    double beta1, beta2, eps, weight_decay;
} wg_adam_params;

wg_adam_params wg_adam_default_params(void); /* 0.9, 0.999, 1e-8, 0 */

/* One step (step counts from 1) at learning rate lr: theta, m and v are updated in place (four
 * arrays that do not overlap), in float32 arithmetic as torch's is. */
void wg_adam_step(float *theta, const float *grad, float *m, float *v, size_t n, long step, double lr,
                  const wg_adam_params *p);

#endif
