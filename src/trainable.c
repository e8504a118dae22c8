/* trainable.c — see trainable.h. */
#include "trainable.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int wg_trainable_build(const wg_config *cfg, int weight_norm, wg_trainable *t) {
    memset(t, 0, sizeof *t);
    if (wg_param_table_build(cfg, &t->table)) return -1;
    t->e = calloc((size_t)t->table.n * 2, sizeof *t->e);
    if (!t->e) {
        wg_param_table_free(&t->table);
        return -1;
    }
    for (int i = 0; i < t->table.n; i++) {
        const wg_param *p = &t->table.p[i];
        int wn = weight_norm && p->weight_norm;
        for (int part = 0; part < (wn ? 2 : 1); part++) {
            wg_trainable_entry *e = &t->e[t->n++];
            e->base = i;
            e->kind = !wn ? WG_T_PLAIN : part == 0 ? WG_T_G : WG_T_V;
            snprintf(e->name, sizeof e->name, "%s%s", p->name, !wn ? "" : part == 0 ? "_g" : "_v");
            e->ndim = p->ndim;
            memcpy(e->shape, p->shape, sizeof e->shape);
            if (e->kind == WG_T_G) e->shape[1] = e->shape[2] = 1;
            e->numel = e->kind == WG_T_G ? p->shape[0] : p->numel;
            e->offset = t->total;
            t->total += e->numel;
        }
    }
    return 0;
}

void wg_trainable_free(wg_trainable *t) {
    wg_param_table_free(&t->table);
    free(t->e);
    memset(t, 0, sizeof *t);
}

const wg_trainable_entry *wg_trainable_find(const wg_trainable *t, const char *name) {
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->e[i].name, name)) return &t->e[i];
    return NULL;
}

static double row_norm(const float *v, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)v[i] * v[i];
    return sqrt(s);
}

void wg_trainable_from_params(const wg_trainable *t, const float *params, float *theta) {
    for (int i = 0; i < t->n; i++) {
        const wg_trainable_entry *e = &t->e[i];
        const wg_param *p = &t->table.p[e->base];
        const float *w = params + p->offset;
        if (e->kind == WG_T_G) {
            size_t row = p->numel / p->shape[0];
            for (size_t o = 0; o < p->shape[0]; o++) theta[e->offset + o] = (float)row_norm(w + o * row, row);
        } else {
            memcpy(theta + e->offset, w, e->numel * sizeof(float));
        }
    }
}

void wg_trainable_fold(const wg_trainable *t, const float *theta, float *params) {
    for (int i = 0; i < t->n; i++) {
        const wg_trainable_entry *e = &t->e[i];
        const wg_param *p = &t->table.p[e->base];
        float *w = params + p->offset;
        if (e->kind == WG_T_PLAIN) {
            memcpy(w, theta + e->offset, e->numel * sizeof(float));
        } else if (e->kind == WG_T_V) {
            const float *g = theta + t->e[i - 1].offset, *v = theta + e->offset; /* g comes just before v */
            size_t row = p->numel / p->shape[0];
            for (size_t o = 0; o < p->shape[0]; o++) {
                double nv = row_norm(v + o * row, row), s = nv > 0 ? g[o] / nv : 0.0;
                for (size_t j = 0; j < row; j++) w[o * row + j] = (float)(v[o * row + j] * s);
            }
        }
    }
}

void wg_trainable_backward(const wg_trainable *t, const float *theta, const float *dparams, float *dtheta) {
    for (int i = 0; i < t->n; i++) {
        const wg_trainable_entry *e = &t->e[i];
        const wg_param *p = &t->table.p[e->base];
        const float *dw = dparams + p->offset;
        if (e->kind == WG_T_PLAIN) {
            memcpy(dtheta + e->offset, dw, e->numel * sizeof(float));
        } else if (e->kind == WG_T_V) {
            const wg_trainable_entry *eg = &t->e[i - 1];
            const float *g = theta + eg->offset, *v = theta + e->offset;
            float *dg = dtheta + eg->offset, *dv = dtheta + e->offset;
            size_t row = p->numel / p->shape[0];
            for (size_t o = 0; o < p->shape[0]; o++) {
                const float *vr = v + o * row, *dwr = dw + o * row;
                double nv = row_norm(vr, row), dot = 0;
                for (size_t j = 0; j < row; j++) dot += (double)dwr[j] * vr[j];
                if (nv == 0) {
                    dg[o] = 0;
                    for (size_t j = 0; j < row; j++) dv[o * row + j] = 0;
                    continue;
                }
                dg[o] = (float)(dot / nv);
                double a = g[o] / nv, b = g[o] * dot / (nv * nv * nv);
                for (size_t j = 0; j < row; j++) dv[o * row + j] = (float)(a * dwr[j] - b * vr[j]);
            }
        }
    }
}
