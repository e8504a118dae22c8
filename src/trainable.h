/* trainable.h — the vector an optimiser updates: the model's tensors as NVIDIA trains them, the
 * WN convs' weights as weight norm pairs (weight_g (out, 1, 1) and weight_v, w = g·v/||v|| with
 * the norm over all but the output channel), the rest as they are. One flat buffer; gradients
 * and Adam's moments share its layout, and a checkpoint is its named records. */
#ifndef WG_TRAINABLE_H
#define WG_TRAINABLE_H

#include <stddef.h>

#include "params.h"

typedef enum { WG_T_PLAIN, WG_T_G, WG_T_V } wg_trainable_kind;

typedef struct wg_trainable_entry {
    char name[72]; /* NVIDIA's name: "WN.0.start.weight_g", "upsample.bias", ... */
    wg_trainable_kind kind;
    int base;      /* index of the folded tensor in the params.h table */
    int ndim;
    size_t shape[3];
    size_t numel, offset;
} wg_trainable_entry;

typedef struct wg_trainable {
    wg_param_table table; /* the folded layout the model runs on */
    int n;
    wg_trainable_entry *e;
    size_t total;
} wg_trainable;

/* weight_norm = 0 trains plain weights everywhere. */
int wg_trainable_build(const wg_config *cfg, int weight_norm, wg_trainable *t);
void wg_trainable_free(wg_trainable *t);
const wg_trainable_entry *wg_trainable_find(const wg_trainable *t, const char *name);

/* theta from folded params, as torch.nn.utils.weight_norm starts: g = ||w|| per row, v = w. */
void wg_trainable_from_params(const wg_trainable *t, const float *params, float *theta);
/* Folded params from theta. */
void wg_trainable_fold(const wg_trainable *t, const float *theta, float *params);
/* dtheta = the chain rule through the fold: dL/dg = (dw·v)/||v||,
 * dL/dv = (g/||v||)·(dw − (dw·v)·v/||v||²). Overwrites dtheta. */
void wg_trainable_backward(const wg_trainable *t, const float *theta, const float *dparams, float *dtheta);

#endif
