/* trainer.c — see trainer.h. */
#define _GNU_SOURCE
#include "trainer.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "adam.h"
#include "err.h"
#include "fileio.h"
#include "kernels.h"
#include "model.h"
#include "rng.h"
#include "safetensors.h"
#include "train_step.h"
#include "trainable.h"

#define CKPT_FORMAT "waveglow.c-checkpoint-1"

/* ---- options ------------------------------------------------------------------------------ */

wg_train_options wg_train_default_options(void) {
    return (wg_train_options){
        .learning_rate = 1e-4, .batch_size = 12, .seed = 1234, .iters_per_checkpoint = 2000, .epochs = 100000,
        .adam_beta1 = 0.9, .adam_beta2 = 0.999, .adam_eps = 1e-8, .weight_decay = 0, .lr_schedule = WG_LR_CONSTANT,
        .warmup_steps = 0, .lr_step_size = 100000, .lr_gamma = 0.5, .lr_min = 0, .grad_clip = 0, .dequantize = 0,
        .validation_fraction = 0.1, .validate_every = 0, .keep_checkpoints = 5, .max_bad_steps = 5,
        .log_every = 50, .weight_norm = true, .keep_activations = false,
    };
}

static void say(wg_log_fn log, void *user, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(wg_log_fn log, void *user, const char *fmt, ...) {
    if (!log) return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log(user, line);
}

/* Every numeric option of train_config, as (field = key, lowest, highest): the one list from
 * which the parser and the copy written into checkpoints are both generated. */
#define WG_TRAIN_NUMERIC_OPTIONS(X)                                                                                  \
    X(learning_rate, 0, 10)                                                                                        \
    X(batch_size, 1, 4096)                                                                                         \
    X(seed, 0, 9007199254740991.0)                                                                                 \
    X(iters_per_checkpoint, 1, 1e12)                                                                               \
    X(epochs, 1, 1e12)                                                                                             \
    X(adam_beta1, 0, 0.999999)                                                                                     \
    X(adam_beta2, 0, 0.99999999)                                                                                   \
    X(adam_eps, 0, 1)                                                                                              \
    X(weight_decay, 0, 1)                                                                                          \
    X(warmup_steps, 0, 1e12)                                                                                       \
    X(lr_step_size, 1, 1e12)                                                                                       \
    X(lr_gamma, 0, 1)                                                                                              \
    X(lr_min, 0, 10)                                                                                               \
    X(grad_clip, 0, 1e12)                                                                                          \
    X(dequantize, 0, 1)                                                                                            \
    X(validation_fraction, 0, 0.9)                                                                                 \
    X(validate_every, 0, 1e12)                                                                                     \
    X(keep_checkpoints, 1, 1000)                                                                                   \
    X(max_bad_steps, 1, 1000000)                                                                                   \
    X(log_every, 1, 1e12)

int wg_train_options_parse(const char *json, const char *source, wg_train_options *o, wg_log_fn warn, void *user,
                           wg_error *err) {
    *o = wg_train_default_options();
    cJSON *root = cJSON_Parse(json);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return wg_fail(err, WG_ECONFIG, "%s: not a JSON object", source);
    }
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(root, "train_config");
    int rc = 0;
    if (tc && !cJSON_IsObject(tc)) rc = wg_fail(err, WG_ECONFIG, "%s: train_config must be an object", source);
    /* NVIDIA's keys we do not use: known, so not warned about */
    static const char *ignored[] = {"fp16_run", "output_directory", "checkpoint_path", "with_tensorboard", "sigma"};
    for (const cJSON *it = tc ? tc->child : NULL; it && !rc; it = it->next) {
        const char *k = it->string;
        double v = it->valuedouble;
        bool num = cJSON_IsNumber(it) && isfinite(v);
#define NUM(name, lo, hi)                                                                                           \
    if (!strcmp(k, #name)) {                                                                                        \
        if (!num || v < (lo) || v > (hi))                                                                           \
            rc = wg_fail(err, WG_ECONFIG, "%s: train_config.%s must be a number in [%g, %g]", source, #name,        \
                         (double)(lo), (double)(hi));                                                               \
        else                                                                                                        \
            o->name = v;                                                                                            \
        continue;                                                                                                   \
    }
        WG_TRAIN_NUMERIC_OPTIONS(NUM)
#undef NUM
        if (!strcmp(k, "lr_schedule")) {
            const char *s = cJSON_IsString(it) ? it->valuestring : "";
            if (!strcmp(s, "constant"))
                o->lr_schedule = WG_LR_CONSTANT;
            else if (!strcmp(s, "step"))
                o->lr_schedule = WG_LR_STEP;
            else if (!strcmp(s, "cosine"))
                o->lr_schedule = WG_LR_COSINE;
            else
                rc = wg_fail(err, WG_ECONFIG, "%s: train_config.lr_schedule must be constant, step or cosine", source);
            continue;
        }
        if (!strcmp(k, "weight_norm") || !strcmp(k, "keep_activations")) {
            if (!cJSON_IsBool(it))
                rc = wg_fail(err, WG_ECONFIG, "%s: train_config.%s must be true or false", source, k);
            *(k[0] == 'w' ? &o->weight_norm : &o->keep_activations) = cJSON_IsTrue(it);
            continue;
        }
        bool known = false;
        for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++) known |= !strcmp(k, ignored[i]);
        if (!known) say(warn, user, "%s: train_config.%s is not a known option; ignored", source, k);
    }
    static const char *sections[] = {"train_config", "data_config", "waveglow_config", "dist_config", "sigma"};
    for (const cJSON *it = root->child; it && !rc; it = it->next) {
        bool known = false;
        for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) known |= !strcmp(it->string, sections[i]);
        if (!known) say(warn, user, "%s: top-level key \"%s\" is not known; ignored", source, it->string);
    }
    cJSON_Delete(root);
    return rc;
}

static char *options_json(const wg_train_options *o) {
    static const char *sched[] = {"constant", "step", "cosine"};
    cJSON *t = cJSON_CreateObject();
#define PUT(name, lo, hi) cJSON_AddNumberToObject(t, #name, (double)o->name);
    WG_TRAIN_NUMERIC_OPTIONS(PUT)
#undef PUT
    cJSON_AddStringToObject(t, "lr_schedule", sched[o->lr_schedule]);
    cJSON_AddBoolToObject(t, "weight_norm", o->weight_norm);
    cJSON_AddBoolToObject(t, "keep_activations", o->keep_activations);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "train_config", t);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

static double learning_rate(const wg_train_options *o, long step, long total) {
    double lr = o->learning_rate;
    if (o->lr_schedule == WG_LR_STEP) lr *= pow(o->lr_gamma, (double)(step / o->lr_step_size));
    if (o->lr_schedule == WG_LR_COSINE && total > 0)
        lr = o->lr_min + (lr - o->lr_min) * 0.5 * (1 + cos(M_PI * fmin(1.0, (double)step / (double)total)));
    if (o->warmup_steps > 0 && step < o->warmup_steps) lr *= (double)(step + 1) / (double)o->warmup_steps;
    return lr;
}

/* ---- initialisation: PyTorch's defaults, drawn from the seed ------------------------------ */

static double uniform_at(uint64_t seed, uint32_t stream, uint64_t i) {
    const uint32_t ctr[4] = {(uint32_t)i, (uint32_t)(i >> 32), stream, 0x494e4954 /* "INIT" */};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t r[4];
    wg_philox4x32(ctr, key, r);
    return (((uint64_t)r[0] << 21 ^ r[1]) & ((1ull << 53) - 1)) * 0x1p-53;
}

/* The sign of det(a) (n×n, destroyed) by Gaussian elimination with partial pivoting. */
static double determinant_sign(double *a, size_t n) {
    double sign = 1;
    for (size_t c = 0; c < n; c++) {
        size_t piv = c;
        for (size_t r = c + 1; r < n; r++)
            if (fabs(a[r * n + c]) > fabs(a[piv * n + c])) piv = r;
        if (piv != c) {
            sign = -sign;
            for (size_t k = 0; k < n; k++) {
                double t = a[c * n + k];
                a[c * n + k] = a[piv * n + k], a[piv * n + k] = t;
            }
        }
        if (a[c * n + c] == 0) return 0;
        if (a[c * n + c] < 0) sign = -sign;
        for (size_t r = c + 1; r < n; r++) {
            double f = a[r * n + c] / a[c * n + c];
            for (size_t k = c; k < n; k++) a[r * n + k] -= f * a[c * n + k];
        }
    }
    return sign;
}

/* Conv weights and biases U(−1/√fan_in, 1/√fan_in) (kaiming_uniform with a = √5), the 1×1
 * convs random rotations with det +1, `end` zero, as NVIDIA's WaveGlow starts. */
static void init_params(const wg_param_table *t, uint64_t seed, float *params) {
    for (int i = 0; i < t->n; i++) {
        const wg_param *p = &t->p[i];
        float *w = params + p->offset;
        if (p->role == WG_P_END_W || p->role == WG_P_END_B) {
            memset(w, 0, p->numel * sizeof(float));
            continue;
        }
        if (p->role == WG_P_CONVINV_W) {
            size_t n = p->shape[0];
            double *q = malloc(n * n * sizeof(double));
            for (size_t j = 0; j < n * n; j++) /* Gaussian columns, then Gram-Schmidt */
                q[j] = wg_normal_at(seed, (uint32_t)(0x1000 + i), j);
            for (size_t c = 0; c < n; c++) {
                for (size_t c2 = 0; c2 < c; c2++) {
                    double dot = 0;
                    for (size_t r = 0; r < n; r++) dot += q[r * n + c] * q[r * n + c2];
                    for (size_t r = 0; r < n; r++) q[r * n + c] -= dot * q[r * n + c2];
                }
                double norm = 0;
                for (size_t r = 0; r < n; r++) norm += q[r * n + c] * q[r * n + c];
                for (size_t r = 0; r < n; r++) q[r * n + c] /= sqrt(norm);
            }
            for (size_t j = 0; j < n * n; j++) w[j] = (float)q[j];
            double det_sign = determinant_sign(q, n); /* q is overwritten */
            if (det_sign < 0)
                for (size_t r = 0; r < n; r++) w[r * n] = -w[r * n];
            free(q);
            continue;
        }
        /* fan_in: PyTorch takes weight dim 1 times the kernel (for ConvTranspose1d, out·k) */
        const wg_param *wp = p;
        if (p->ndim == 1 && i > 0) wp = &t->p[i - 1]; /* a bias follows its weight */
        double fan_in = (double)wp->shape[1] * (double)wp->shape[2];
        double bound = 1.0 / sqrt(fan_in);
        for (size_t j = 0; j < p->numel; j++) w[j] = (float)(bound * (2 * uniform_at(seed, (uint32_t)i, j) - 1));
    }
}

/* ---- checkpoints ---------------------------------------------------------------------------- */

typedef struct run_state {
    wg_config cfg;
    wg_train_options opt;
    wg_trainable tr;
    float *theta, *m, *v; /* tr.total each */
    long step;
    long items;      /* training items consumed: the data position */
    double lr_scale; /* halved at each rollback */
    long bad_total;
    const char *init_model; /* a new run's starting weights (NULL: seeded), for rollbacks to the start */
} run_state;

/* A new run's starting parameters (folded layout): seeded as NVIDIA's WaveGlow starts, or a model
 * file's weights for fine-tuning. The file must describe the same model and front end; only the
 * training segment may differ. */
static int starting_params(const run_state *s, float *p0, wg_error *err) {
    if (!s->init_model) {
        init_params(&s->tr.table, s->opt.seed, p0);
        return 0;
    }
    wg_model *m = NULL;
    int rc = wg_model_load(s->init_model, &m, err);
    if (rc) return rc;
    wg_config c = m->cfg;
    c.segment_length = s->cfg.segment_length;
    char *a = wg_config_to_json(&c), *b = wg_config_to_json(&s->cfg);
    if (!a || !b)
        rc = wg_fail(err, WG_ENOMEM, "out of memory");
    else if (strcmp(a, b) || m->table.total != s->tr.table.total)
        rc = wg_fail(err, WG_ECONFIG, "%s is not the model the config describes (its data_config, "
                     "waveglow_config or sigma differ); fine-tuning needs the same model", s->init_model);
    else
        memcpy(p0, m->params, s->tr.table.total * sizeof(float));
    free(a), free(b);
    wg_model_free(m);
    return rc;
}

static int write_checkpoint(const char *run_dir, const run_state *s, char *written, size_t wn, wg_error *err) {
    int n = s->tr.n;
    wg_st_entry *e = calloc((size_t)(3 * n), sizeof *e);
    char (*names)[96] = calloc((size_t)(3 * n), sizeof *names);
    if (!e || !names) {
        free(e), free(names);
        return wg_fail(err, WG_ENOMEM, "checkpoint: out of memory");
    }
    static const char *prefix[] = {"theta/", "adam_m/", "adam_v/"};
    const float *bufs[] = {s->theta, s->m, s->v};
    for (int part = 0; part < 3; part++)
        for (int i = 0; i < n; i++) {
            const wg_trainable_entry *te = &s->tr.e[i];
            wg_st_entry *x = &e[part * n + i];
            snprintf(names[part * n + i], sizeof names[0], "%s%s", prefix[part], te->name);
            x->name = names[part * n + i];
            x->ndim = te->ndim;
            memcpy(x->shape, te->shape, sizeof te->shape);
            x->data = bufs[part] + te->offset;
        }
    char *cfg = wg_config_to_json(&s->cfg), *opt = options_json(&s->opt);
    char step[32], scale[32], bad[32], items[32];
    snprintf(step, sizeof step, "%ld", s->step);
    snprintf(items, sizeof items, "%ld", s->items);
    snprintf(scale, sizeof scale, "%.17g", s->lr_scale);
    snprintf(bad, sizeof bad, "%ld", s->bad_total);
    const char *meta[] = {"format", CKPT_FORMAT, "config", cfg, "train_config", opt, "step", step,
                          "lr_scale", scale, "bad_steps", bad, "weight_norm", s->opt.weight_norm ? "1" : "0", "items", items,
                          NULL};
    snprintf(written, wn, "%s/ckpt-%08ld.safetensors", run_dir, s->step);
    int rc = cfg && opt ? wg_st_write(written, e, 3 * n, meta, err) : wg_fail(err, WG_ENOMEM, "out of memory");
    free(cfg), free(opt), free(e), free(names);
    return rc;
}

static int cmp_desc(const void *a, const void *b) { return strcmp(*(char *const *)b, *(char *const *)a); }

/* ckpt-*.safetensors of a run directory, newest first; the caller frees each and the list */
static int list_checkpoints(const char *run_dir, char ***out) {
    *out = NULL;
    DIR *d = opendir(run_dir);
    if (!d) return 0;
    int n = 0, cap = 0;
    char **l = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "ckpt-", 5) || len < 17 || strcmp(e->d_name + len - 12, ".safetensors")) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **nl = realloc(l, (size_t)cap * sizeof *l);
            if (!nl) break;
            l = nl;
        }
        l[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n) /* qsort's pointer must not be NULL, even for zero elements */
        qsort(l, (size_t)n, sizeof *l, cmp_desc);
    *out = l;
    return n;
}

static void prune_checkpoints(const char *run_dir, int keep, wg_log_fn log, void *user) {
    char **l;
    int n = list_checkpoints(run_dir, &l);
    for (int i = 0; i < n; i++) {
        if (i >= keep) {
            char path[4200];
            snprintf(path, sizeof path, "%s/%s", run_dir, l[i]);
            if (unlink(path) == 0) say(log, user, "removed old checkpoint %s", path);
        }
        free(l[i]);
    }
    free(l);
}

/* theta and Adam's moments from an open checkpoint into buffers of tr.total floats; every
 * tensor checked for presence, size and finiteness. */
static int read_state_tensors(const wg_st_file *st, const char *path, const wg_trainable *tr, float *theta, float *m,
                              float *v, wg_error *err) {
    static const char *prefix[] = {"theta/", "adam_m/", "adam_v/"};
    float *bufs[] = {theta, m, v};
    for (int part = 0; part < 3; part++)
        for (int i = 0; i < tr->n; i++) {
            const wg_trainable_entry *te = &tr->e[i];
            char name[128];
            snprintf(name, sizeof name, "%s%s", prefix[part], te->name);
            const wg_st_tensor *t = wg_st_find(st, name);
            if (!t || t->numel != te->numel || t->elem_size != 4)
                return wg_fail(err, WG_EFORMAT, "%s: tensor %s is %s", path, name, t ? "the wrong size" : "missing");
            int rc = wg_st_copy(st, t, bufs[part] + te->offset, err);
            if (rc)
                return rc;
            for (size_t j = 0; j < te->numel; j++)
                if (!isfinite(bufs[part][te->offset + j]))
                    return wg_fail(err, WG_ENONFINITE, "%s: tensor %s holds a non-finite value", path, name);
        }
    return 0;
}

/* Loads a checkpoint into s (allocating its buffers); every tensor checked. */
static int read_checkpoint(const char *path, run_state *s, wg_error *err) {
    wg_st_file st;
    int rc = wg_st_read(path, &st, err);
    if (rc) return rc;
    const char *format = wg_st_meta(&st, "format"), *step = wg_st_meta(&st, "step"), *tc = wg_st_meta(&st, "train_config");
    const char *scale = wg_st_meta(&st, "lr_scale"), *bad = wg_st_meta(&st, "bad_steps"), *items = wg_st_meta(&st, "items");
    if (!format || strcmp(format, CKPT_FORMAT) || !step || !tc || !st.config) {
        wg_st_close(&st);
        return wg_fail(err, WG_EFORMAT, "%s: not a waveglow.c checkpoint", path);
    }
    if ((rc = wg_config_parse(st.config, path, &s->cfg, err)) ||
        (rc = wg_train_options_parse(tc, path, &s->opt, NULL, NULL, err))) {
        wg_st_close(&st);
        return rc;
    }
    s->step = strtol(step, NULL, 10);
    s->lr_scale = scale ? strtod(scale, NULL) : 1.0;
    s->bad_total = bad ? strtol(bad, NULL, 10) : 0;
    /* checkpoints from before data parallelism consumed batch_size items per step */
    s->items = items ? strtol(items, NULL, 10) : s->step * s->opt.batch_size;
    if ((rc = wg_trainable_build(&s->cfg, s->opt.weight_norm, &s->tr))) {
        wg_st_close(&st);
        return wg_fail(err, WG_ENOMEM, "out of memory");
    }
    s->theta = malloc(s->tr.total * sizeof(float));
    s->m = malloc(s->tr.total * sizeof(float));
    s->v = malloc(s->tr.total * sizeof(float));
    if (!s->theta || !s->m || !s->v) rc = wg_fail(err, WG_ENOMEM, "out of memory");
    if (!rc) rc = read_state_tensors(&st, path, &s->tr, s->theta, s->m, s->v, err);
    wg_st_close(&st);
    return rc;
}

static void free_state(run_state *s) {
    free(s->theta), free(s->m), free(s->v);
    wg_trainable_free(&s->tr);
    memset(s, 0, sizeof *s);
}

int wg_latest_checkpoint(const char *run_dir, char *path, size_t n, wg_log_fn log, void *user) {
    struct stat st;
    if (stat(run_dir, &st) == 0 && S_ISREG(st.st_mode)) {
        snprintf(path, n, "%s", run_dir);
        return 0;
    }
    char **l;
    int count = list_checkpoints(run_dir, &l), found = 0;
    for (int i = 0; i < count; i++) {
        if (!found) {
            snprintf(path, n, "%s/%s", run_dir, l[i]);
            run_state s = {0};
            wg_error e = {0};
            if (read_checkpoint(path, &s, &e) == 0)
                found = 1;
            else
                say(log, user, "skipping checkpoint: %s", e.message);
            free_state(&s);
        }
        free(l[i]);
    }
    free(l);
    return found ? 0 : WG_EIO;
}

int wg_export_checkpoint(const char *src, const char *out, double synthesis_sigma, wg_error *err) {
    char path[4200];
    if (!(synthesis_sigma >= 0 && synthesis_sigma <= WG_MAX_SYNTHESIS_SIGMA))
        return wg_fail(err, WG_EINVAL, "synthesis sigma %g is not in (0, %g]", synthesis_sigma, WG_MAX_SYNTHESIS_SIGMA);
    if (wg_latest_checkpoint(src, path, sizeof path, NULL, NULL))
        return wg_fail(err, WG_EIO, "%s: no usable checkpoint", src);
    run_state s = {0};
    int rc = read_checkpoint(path, &s, err);
    if (rc) {
        free_state(&s);
        return rc;
    }
    float *params = malloc(s.tr.table.total * sizeof(float));
    wg_st_entry *e = calloc((size_t)s.tr.table.n, sizeof *e);
    char *cfg = wg_config_to_json(&s.cfg);
    if (!params || !e || !cfg) {
        rc = wg_fail(err, WG_ENOMEM, "out of memory");
    } else {
        wg_trainable_fold(&s.tr, s.theta, params);
        for (int i = 0; i < s.tr.table.n; i++) {
            const wg_param *p = &s.tr.table.p[i];
            e[i] = (wg_st_entry){.name = p->name, .ndim = p->ndim, .data = params + p->offset};
            memcpy(e[i].shape, p->shape, sizeof p->shape);
        }
        char step[32], sigma[32];
        snprintf(step, sizeof step, "%ld", s.step);
        snprintf(sigma, sizeof sigma, "%.9g", synthesis_sigma);
        const char *meta[] = {"config", cfg, "trained_steps", step, synthesis_sigma > 0 ? "synthesis_sigma" : NULL, sigma,
                              NULL};
        rc = wg_st_write(out, e, s.tr.table.n, meta, err);
    }
    free(params), free(e), free(cfg);
    free_state(&s);
    return rc;
}

/* ---- the loader thread ---------------------------------------------------------------------- */

typedef struct batch_slot {
    float *audio, *mels;
    long step;
    bool ready;
} batch_slot;

typedef struct loader {
    const wg_dataset *ds;
    const wg_config *cfg;
    const wg_train_options *opt;
    batch_slot slot[2];
    long next_step, end_step;
    long first_step, first_item, items_per_step, rank_offset; /* step k's batch starts at item
        first_item + (k - first_step)·items_per_step + rank_offset */
    bool stop;
    int error;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
} loader;

static void *loader_main(void *arg) {
    loader *L = arg;
    wg_mel *mel = NULL;
    int *perm = malloc(sizeof(int) * (size_t)L->ds->n_train);
    long perm_epoch = -1;
    if (wg_mel_create(L->cfg, &mel, NULL) || !perm) {
        pthread_mutex_lock(&L->mu);
        L->error = WG_ENOMEM;
        pthread_cond_broadcast(&L->cv);
        pthread_mutex_unlock(&L->mu);
        free(perm);
        wg_mel_destroy(mel);
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&L->mu);
        long step = L->next_step;
        batch_slot *s = &L->slot[step % 2];
        while (!L->stop && s->ready) pthread_cond_wait(&L->cv, &L->mu);
        bool stop = L->stop || step >= L->end_step;
        pthread_mutex_unlock(&L->mu);
        if (stop) break;
        long item = L->first_item + (step - L->first_step) * L->items_per_step + L->rank_offset;
        int rc = wg_dataset_batch(L->ds, L->cfg, L->opt->seed, item, L->opt->batch_size, L->opt->dequantize, mel, perm,
                                  &perm_epoch, s->audio, s->mels);
        pthread_mutex_lock(&L->mu);
        if (rc) L->error = rc;
        s->step = step;
        s->ready = true;
        L->next_step = step + 1;
        pthread_cond_broadcast(&L->cv);
        pthread_mutex_unlock(&L->mu);
        if (rc) break;
    }
    free(perm);
    wg_mel_destroy(mel);
    return NULL;
}

static batch_slot *loader_take(loader *L, long step) {
    batch_slot *s = &L->slot[step % 2];
    pthread_mutex_lock(&L->mu);
    while (!L->error && !(s->ready && s->step == step)) pthread_cond_wait(&L->cv, &L->mu);
    pthread_mutex_unlock(&L->mu);
    return L->error ? NULL : s;
}

static void loader_release(loader *L, batch_slot *s) {
    pthread_mutex_lock(&L->mu);
    s->ready = false;
    pthread_cond_broadcast(&L->cv);
    pthread_mutex_unlock(&L->mu);
}

/* ---- the run -------------------------------------------------------------------------------- */

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* ---- data parallelism: one process is a communicator of size 1 that never communicates ---------- */

static int comm_sum_f32(const wg_train_comm *c, float *x, size_t n) {
    return c->size > 1 && c->sum_f32(c->ctx, x, n) ? WG_EIO : 0;
}
static int comm_sum_f64(const wg_train_comm *c, double *x, size_t n) {
    return c->size > 1 && c->sum_f64(c->ctx, x, n) ? WG_EIO : 0;
}
static int comm_broadcast(const wg_train_comm *c, void *buf, size_t bytes) {
    return c->size > 1 && c->broadcast(c->ctx, buf, bytes) ? WG_EIO : 0;
}

/* Puts the last good state (theta and Adam's moments) back: the checkpoint of step good_step in
 * run_dir, or, where a new run has written none yet (good_step < 0), the seeded initial state.
 * The ranks roll back together (their decisions follow from summed numbers): rank 0 reads, every
 * rank gets its state. Kept on disk, not as a second copy in memory: that would be three more
 * parameter-sized buffers, a third of the trainer's memory. */
static int roll_back(run_state *s, const char *run_dir, long good_step, const wg_train_comm *comm, wg_error *err) {
    int rc = 0;
    size_t bytes = s->tr.total * sizeof(float);
    if (comm->rank == 0 && good_step < 0) {
        float *p0 = malloc(s->tr.table.total * sizeof(float));
        if (!p0) {
            rc = wg_fail(err, WG_ENOMEM, "out of memory");
        } else if (!(rc = starting_params(s, p0, err))) {
            wg_trainable_from_params(&s->tr, p0, s->theta);
            memset(s->m, 0, bytes);
            memset(s->v, 0, bytes);
        }
        free(p0);
    } else if (comm->rank == 0) {
        char path[4200];
        wg_st_file st;
        snprintf(path, sizeof path, "%s/ckpt-%08ld.safetensors", run_dir, good_step);
        if (!(rc = wg_st_read(path, &st, err))) {
            rc = read_state_tensors(&st, path, &s->tr, s->theta, s->m, s->v, err);
            wg_st_close(&st);
        }
    }
    if (comm->size > 1) {
        int status = rc;
        if (comm_broadcast(comm, &status, sizeof status)) return wg_fail(err, WG_EIO, "lost contact with the other ranks");
        if (status) return comm->rank == 0 ? rc : wg_fail(err, status, "rank 0 could not roll back");
        if (comm_broadcast(comm, s->theta, bytes) || comm_broadcast(comm, s->m, bytes) || comm_broadcast(comm, s->v, bytes))
            return wg_fail(err, WG_EIO, "lost contact with the other ranks");
    }
    return rc;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* 0 when every rank holds rank 0's bytes (compared by hash), else WG_ECONFIG (or WG_EIO) */
static int comm_check_same(const wg_train_comm *c, const void *p, size_t n) {
    if (c->size == 1) return 0;
    uint64_t mine = fnv1a(0xcbf29ce484222325ull, p, n), root = mine;
    if (comm_broadcast(c, &root, sizeof root)) return WG_EIO;
    double differ = mine != root;
    if (comm_sum_f64(c, &differ, 1)) return WG_EIO;
    return differ > 0 ? WG_ECONFIG : 0;
}

/* validation NLL in nats per sample over the held-out files, which the ranks share out; at the
 * run's thread count, since OpenBLAS's count is process-wide and a change would change the
 * training's summation order */
static double validate(const wg_model *m, const wg_dataset *ds, wg_mel *mel, int threads, const wg_train_comm *comm,
                       int *comm_rc) {
    wg_run_params p = wg_run_default_params();
    p.n_threads = threads;
    wg_workspace_create(&p.workspace, NULL); /* the files share memory and threads; NULL: each its own */
    double ll = 0;
    size_t n_total = 0;
    size_t G = (size_t)m->cfg.n_group, M = (size_t)m->cfg.n_mel_channels;
    for (int i = comm->rank; i < ds->n_val; i += comm->size) {
        const wg_clip *c = &ds->val[i];
        size_t n = c->n / G * G, frames = wg_mel_frames(mel, c->n);
        if (n == 0 || c->n <= (size_t)m->cfg.filter_length / 2) continue;
        float *spec = malloc(M * frames * sizeof(float)), *z = malloc(n * sizeof(float));
        wg_likelihood lk;
        if (spec && z && !wg_mel_compute(mel, c->samples, c->n, spec, NULL) &&
            !wg_encode(m, spec, frames, c->samples, n, z, &lk, &p, NULL)) {
            ll += lk.log_likelihood;
            n_total += n;
        }
        free(spec), free(z);
    }
    wg_workspace_free(p.workspace);
    double acc[2] = {ll, (double)n_total};
    *comm_rc = comm_sum_f64(comm, acc, 2);
    return acc[1] > 0 ? -acc[0] / acc[1] : NAN;
}

/* train.csv keeps the rows up to `step` (after a resume, later rows belong to a lost future) */
static FILE *open_csv(const char *run_dir, long step, wg_error *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/train.csv", run_dir);
    char *old = NULL;
    size_t len = 0;
    wg_read_file(path, (size_t)1 << 30, &old, &len, NULL);
    wg_atomic_file af;
    if (wg_atomic_open(path, &af, err)) {
        free(old);
        return NULL;
    }
    fputs("step,loss,val_nll,lr,grad_norm,elapsed_s\n", af.fp);
    if (old) {
        char *save = NULL;
        for (char *line = strtok_r(old, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char *end;
            long s = strtol(line, &end, 10);
            if (end != line && *end == ',' && s <= step) fprintf(af.fp, "%s\n", line);
        }
        free(old);
    }
    if (wg_atomic_commit(&af, err)) return NULL;
    FILE *fp = fopen(path, "a");
    if (!fp) wg_fail(err, WG_EIO, "%s: %s", path, strerror(errno));
    return fp;
}

/* A run killed while writing leaves NAME.tmp.XXXXXX behind (the rename never happened); the
 * previous files are intact, so the temporaries are only litter. */
static void remove_stale_temporaries(const char *run_dir, wg_log_fn log, void *user) {
    DIR *d = opendir(run_dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) {
            char path[4200];
            snprintf(path, sizeof path, "%s/%s", run_dir, e->d_name);
            if (unlink(path) == 0) say(log, user, "removed %s, left by an interrupted write", path);
        }
    closedir(d);
}

/* A new run would truncate train.csv and let pruning delete the older run's checkpoints, so
 * without --resume the run directory must not hold a run already. */
static int check_run_dir_unused(const char *run_dir, wg_error *err) {
    char **l;
    int count = list_checkpoints(run_dir, &l);
    for (int i = 0; i < count; i++) free(l[i]);
    free(l);
    char csv[4200];
    snprintf(csv, sizeof csv, "%s/train.csv", run_dir);
    struct stat st;
    if (count > 0 || stat(csv, &st) == 0)
        return wg_fail(err, WG_EINVAL, "%s already holds a run (%s); pass --resume to continue it, or give a new "
                       "--out", run_dir, count > 0 ? "checkpoints" : "train.csv");
    return 0;
}

/* before a checkpoint: every rank must hold the weights rank 0 is about to write */
static int check_ranks_agree(const wg_train_comm *comm, const run_state *s, wg_error *err) {
    int rc = comm_check_same(comm, s->theta, s->tr.total * sizeof(float));
    if (rc == WG_ECONFIG) return wg_fail(err, rc, "the weights differ from rank 0's at step %ld", s->step);
    if (rc) return wg_fail(err, rc, "lost contact with the other ranks at step %ld", s->step);
    return 0;
}

int wg_train(const wg_train_request *req, const wg_train_hooks *hooks, wg_error *err) {
    wg_train_hooks h = hooks ? *hooks : (wg_train_hooks){0};
    run_state s = {0};
    long good_step = -1; /* the state a rollback returns to: a checkpoint's step, or -1, the seeded start */
    wg_dataset ds = {0};
    wg_model *model = NULL;
    wg_train_work work = {0};
    loader L = {0};
    bool loader_started = false;
    float *grad = NULL, *dtheta = NULL;
    FILE *csv = NULL;
    wg_mel *val_mel = NULL;
    int rc = 0;
    const wg_train_comm solo = {.rank = 0, .size = 1};
    const wg_train_comm *comm = req->comm ? req->comm : &solo;
    const bool lead = comm->rank == 0; /* the one rank that logs and writes */
    if (!lead) h.log = NULL, h.progress = NULL;
    if (lead) {
        if (mkdir(req->run_dir, 0777) && errno != EEXIST)
            return wg_fail(err, WG_EIO, "%s: cannot create the run directory: %s", req->run_dir, strerror(errno));
        remove_stale_temporaries(req->run_dir, h.log, h.user);
    }

    char ckpt[4200];
    if (req->resume && wg_latest_checkpoint(req->run_dir, ckpt, sizeof ckpt, h.log, h.user) == 0) {
        if ((rc = read_checkpoint(ckpt, &s, err))) goto done;
        if (req->config_json) { /* the model must be the same; the data and run options may change */
            wg_config c;
            if ((rc = wg_config_parse(req->config_json, req->config_source, &c, err))) goto done;
            char *a = wg_config_to_json(&c), *b = wg_config_to_json(&s.cfg);
            bool same = a && b && !strcmp(a, b);
            free(a), free(b);
            if (!same) {
                rc = wg_fail(err, WG_ECONFIG, "%s does not describe the model of %s; resume without --config or "
                             "start a new run directory", req->config_source, ckpt);
                goto done;
            }
            wg_train_options o;
            if ((rc = wg_train_options_parse(req->config_json, req->config_source, &o, h.log, h.user, err))) goto done;
            if (o.weight_norm != s.opt.weight_norm) {
                rc = wg_fail(err, WG_ECONFIG, "%s: weight_norm cannot change in a resumed run", req->config_source);
                goto done;
            }
            s.opt = o;
        }
        if (req->init_model) say(h.log, h.user, "--init %s is ignored: the run resumes from its checkpoint", req->init_model);
        say(h.log, h.user, "resuming %s at step %ld", ckpt, s.step);
        good_step = s.step;
    } else {
        if (req->resume) say(h.log, h.user, "%s has no checkpoint to resume; starting a new run", req->run_dir);
        if (!req->config_json) {
            rc = wg_fail(err, WG_EINVAL, "a new run needs a config");
            goto done;
        }
        if ((rc = wg_config_parse(req->config_json, req->config_source, &s.cfg, err)) ||
            (rc = wg_train_options_parse(req->config_json, req->config_source, &s.opt, h.log, h.user, err)))
            goto done;
        if (!req->resume && (rc = check_run_dir_unused(req->run_dir, err))) goto done;
        if (wg_trainable_build(&s.cfg, s.opt.weight_norm, &s.tr)) {
            rc = wg_fail(err, WG_ENOMEM, "out of memory");
            goto done;
        }
        s.theta = malloc(s.tr.total * sizeof(float));
        s.m = calloc(s.tr.total, sizeof(float));
        s.v = calloc(s.tr.total, sizeof(float));
        float *p0 = malloc(s.tr.table.total * sizeof(float));
        if (!s.theta || !s.m || !s.v || !p0) {
            free(p0);
            rc = wg_fail(err, WG_ENOMEM, "out of memory");
            goto done;
        }
        s.init_model = req->init_model;
        rc = starting_params(&s, p0, err);
        if (!rc) wg_trainable_from_params(&s.tr, p0, s.theta);
        free(p0);
        if (rc) goto done;
        if (s.init_model) say(h.log, h.user, "starting from the weights of %s (Adam's moments from zero)", s.init_model);
        s.lr_scale = 1;
        s.items = 0;
    }
    if (s.cfg.segment_length < s.cfg.n_group || s.cfg.segment_length % s.cfg.n_group ||
        s.cfg.segment_length <= s.cfg.filter_length / 2) {
        rc = wg_fail(err, WG_ECONFIG, "segment_length %d must be a multiple of n_group %d and longer than "
                     "filter_length / 2", s.cfg.segment_length, s.cfg.n_group);
        goto done;
    }
    if (comm->size > 1) { /* every rank goes on from rank 0's model, options and state */
        char *a = wg_config_to_json(&s.cfg), *o = options_json(&s.opt);
        size_t la = a ? strlen(a) : 0, lo = o ? strlen(o) : 0;
        char *both = a && o ? malloc(la + lo + 1) : NULL;
        if (both) memcpy(both, a, la), memcpy(both + la, o, lo + 1);
        int same = both ? comm_check_same(comm, both, la + lo) : WG_ENOMEM;
        free(a), free(o), free(both);
        if (same) {
            rc = same == WG_ECONFIG ? wg_fail(err, same, "the config or checkpoint differs from rank 0's; every rank "
                                              "must see the same run directory and config")
                 : same == WG_EIO   ? wg_fail(err, same, "lost contact with the other ranks")
                                    : wg_fail(err, same, "out of memory");
            goto done;
        }
        double hdr[4] = {(double)s.step, (double)s.items, s.lr_scale, (double)s.bad_total};
        if (comm_broadcast(comm, hdr, sizeof hdr) || comm_broadcast(comm, s.theta, s.tr.total * sizeof(float)) ||
            comm_broadcast(comm, s.m, s.tr.total * sizeof(float)) ||
            comm_broadcast(comm, s.v, s.tr.total * sizeof(float))) {
            rc = wg_fail(err, WG_EIO, "lost contact with the other ranks");
            goto done;
        }
        s.step = (long)hdr[0], s.items = (long)hdr[1], s.lr_scale = hdr[2], s.bad_total = (long)hdr[3];
        say(h.log, h.user, "%d ranks, each %d items a step (a global batch of %d)", comm->size, s.opt.batch_size,
            comm->size * s.opt.batch_size);
    }
    if ((rc = wg_dataset_load(req->data, &s.cfg, s.opt.validation_fraction, h.log, h.user, &ds, err))) goto done;
    say(h.log, h.user, "data: %d training files (%.1f min), %d held out (%.1f min)", ds.n_train,
        ds.train_samples / (60.0 * s.cfg.sampling_rate), ds.n_val, ds.val_samples / (60.0 * s.cfg.sampling_rate));

    long B = s.opt.batch_size, S = s.cfg.segment_length, M = s.cfg.n_mel_channels, GB = B * comm->size;
    long frames = 1 + S / s.cfg.hop_length;
    long total = req->steps > 0 ? req->steps : s.opt.epochs * ((ds.n_train + GB - 1) / GB);
    /* the model runs on folded parameters, refreshed after each update */
    float *params = malloc(s.tr.table.total * sizeof(float));
    if (!params) {
        rc = wg_fail(err, WG_ENOMEM, "out of memory");
        goto done;
    }
    wg_trainable_fold(&s.tr, s.theta, params);
    if ((rc = wg_model_from_params(&s.cfg, params, "initial parameters", &model, err))) goto done;
    if (wg_train_work_alloc(&s.cfg, (size_t)(S / s.cfg.n_group), s.opt.keep_activations, &work) || wg_mel_create(&s.cfg, &val_mel, NULL)) {
        rc = wg_fail(err, WG_ENOMEM, "out of memory for the training buffers");
        goto done;
    }
    grad = malloc(s.tr.table.total * sizeof(float));
    dtheta = malloc(s.tr.total * sizeof(float));
    if (!grad || !dtheta) {
        rc = wg_fail(err, WG_ENOMEM, "out of memory");
        goto done;
    }
    if (lead && !(csv = open_csv(req->run_dir, s.step, err))) {
        rc = err ? err->code : WG_EIO;
        goto done;
    }
    wg_set_threads(req->threads);

    L = (loader){.ds = &ds, .cfg = &s.cfg, .opt = &s.opt, .next_step = s.step, .end_step = total,
                 .first_step = s.step, .first_item = s.items, .items_per_step = GB, .rank_offset = comm->rank * B};
    for (int i = 0; i < 2; i++) {
        L.slot[i].audio = malloc((size_t)(B * S) * sizeof(float));
        L.slot[i].mels = malloc((size_t)(B * M * frames) * sizeof(float));
        if (!L.slot[i].audio || !L.slot[i].mels) {
            rc = wg_fail(err, WG_ENOMEM, "out of memory");
            goto done;
        }
    }
    pthread_mutex_init(&L.mu, NULL);
    pthread_cond_init(&L.cv, NULL);
    if (pthread_create(&L.thread, NULL, loader_main, &L)) {
        rc = wg_fail(err, WG_ENOMEM, "cannot start the loader thread");
        goto done;
    }
    loader_started = true;

    wg_adam_params ap = {s.opt.adam_beta1, s.opt.adam_beta2, s.opt.adam_eps, s.opt.weight_decay};
    double t0 = now_s(), last_val = NAN, inv = 1.0 / ((double)B * S), s2 = s.cfg.sigma * s.cfg.sigma;
    long start_step = s.step, consecutive_bad = 0, last_ckpt = s.step;
    double comm_s = 0; /* in the gradient sums: waiting for the slowest rank, then moving data */
    while (s.step < total) {
        batch_slot *b = loader_take(&L, s.step);
        if (!b) {
            rc = wg_fail(err, L.error, "the data loader failed at step %ld", s.step);
            goto done;
        }
        memset(grad, 0, s.tr.table.total * sizeof(float));
        double loss = 0;
        for (long i = 0; i < B; i++) {
            wg_segment_terms terms;
            wg_train_segment(model, grad, b->mels + i * M * frames, (size_t)frames, b->audio + i * S, (size_t)S, inv,
                             &work, &terms);
            loss += (terms.sum_z2 / (2 * s2) - terms.log_s - terms.log_det_w) * inv;
        }
        loader_release(&L, b);
        /* the gradients in one fused sum over ranks; the loss and stop requests in a tiny second one */
        double agree[2] = {loss, h.should_stop && h.should_stop(h.user) ? 1.0 : 0.0}, tc = now_s();
        int crc = comm_sum_f32(comm, grad, s.tr.table.total) || comm_sum_f64(comm, agree, 2);
        comm_s += now_s() - tc;
        if (crc) {
            rc = wg_fail(err, WG_EIO, "lost contact with the other ranks at step %ld", s.step + 1);
            goto done;
        }
        if (comm->size > 1) {
            float mean = 1.0f / (float)comm->size;
            for (size_t i = 0; i < s.tr.table.total; i++) grad[i] *= mean;
            loss = agree[0] / comm->size;
        }
        bool stop = agree[1] > 0;
        s.items += GB;
        wg_trainable_backward(&s.tr, s.theta, grad, dtheta);
        double gn = 0;
        for (size_t i = 0; i < s.tr.total; i++) gn += (double)dtheta[i] * dtheta[i];
        gn = sqrt(gn);
        double lr = learning_rate(&s.opt, s.step, total) * s.lr_scale;
        bool ok = isfinite(loss) && isfinite(gn);
        if (ok) {
            if (s.opt.grad_clip > 0 && gn > s.opt.grad_clip) {
                float scale = (float)(s.opt.grad_clip / gn);
                for (size_t i = 0; i < s.tr.total; i++) dtheta[i] *= scale;
            }
            wg_adam_step(s.theta, dtheta, s.m, s.v, s.tr.total, s.step + 1, lr, &ap);
            for (size_t i = 0; ok && i < s.tr.total; i++) ok = isfinite(s.theta[i]);
            if (ok) {
                wg_trainable_fold(&s.tr, s.theta, model->params);
                ok = wg_model_refresh(model) == 0;
            }
        }
        s.step++;
        if (!ok) {
            consecutive_bad++;
            s.bad_total++;
            bool grad_bad = !(isfinite(loss) && isfinite(gn));
            say(h.log, h.user, "step %ld: non-finite %s; update skipped (%ld in a row)", s.step,
                grad_bad ? "loss or gradient" : "parameters after the update", consecutive_bad);
            /* a non-finite gradient left theta as it was; a non-finite update did not */
            bool restore = !grad_bad || consecutive_bad >= s.opt.max_bad_steps;
            if (consecutive_bad >= s.opt.max_bad_steps) {
                s.lr_scale *= 0.5;
                consecutive_bad = 0;
                if (good_step < 0)
                    say(h.log, h.user, "%d non-finite steps in a row: rolled back to the initial state, learning "
                        "rate halved (scale %g)", s.opt.max_bad_steps, s.lr_scale);
                else
                    say(h.log, h.user, "%d non-finite steps in a row: rolled back to step %ld's checkpoint, learning "
                        "rate halved (scale %g)", s.opt.max_bad_steps, good_step, s.lr_scale);
            }
            if (restore) {
                if ((rc = roll_back(&s, req->run_dir, good_step, comm, err))) goto done;
                wg_trainable_fold(&s.tr, s.theta, model->params);
                wg_model_refresh(model);
            }
        } else {
            consecutive_bad = 0;
        }
        bool validate_now = s.opt.validate_every > 0 && s.step % s.opt.validate_every == 0;
        bool ckpt_now = s.step % s.opt.iters_per_checkpoint == 0 || s.step == total;
        if ((validate_now || ckpt_now) && ds.n_val > 0) {
            int crc = 0;
            last_val = validate(model, &ds, val_mel, req->threads, comm, &crc);
            if (crc) {
                rc = wg_fail(err, WG_EIO, "lost contact with the other ranks at step %ld", s.step);
                goto done;
            }
        }
        double el = now_s() - t0;
        if (csv) {
            fprintf(csv, "%ld,%.8g,", s.step, loss);
            if ((validate_now || ckpt_now) && ds.n_val > 0) fprintf(csv, "%.8g", last_val); /* only where measured */
            fprintf(csv, ",%.6g,%.6g,%.3f\n", lr, gn, el);
            fflush(csv);
        }
        if (h.progress) {
            wg_train_status st = {.step = s.step, .total_steps = total, .loss = loss, .val_nll = last_val, .lr = lr,
                                  .grad_norm = gn, .elapsed_s = el, .bad_steps = s.bad_total};
            double steps_done = (double)(s.step - start_step);
            st.samples_per_s = steps_done * GB * S / fmax(el, 1e-9);
            st.eta_s = el / fmax(steps_done, 1) * (double)(total - s.step);
            h.progress(&st, h.user);
        }
        if (ckpt_now && ok) {
            if ((rc = check_ranks_agree(comm, &s, err))) goto done;
            if (lead) {
                char path[4300];
                if ((rc = write_checkpoint(req->run_dir, &s, path, sizeof path, err))) goto done;
                if (ds.n_val > 0)
                    say(h.log, h.user, "checkpoint %s (validation NLL %.5f nats/sample)", path, last_val);
                else
                    say(h.log, h.user, "checkpoint %s", path);
                prune_checkpoints(req->run_dir, s.opt.keep_checkpoints, h.log, h.user);
            }
            good_step = s.step;
            last_ckpt = s.step;
        }
        if (stop) {
            say(h.log, h.user, "stopping at step %ld", s.step);
            break;
        }
    }
    if (comm->size > 1 && s.step > start_step)
        say(h.log, h.user, "allreduce of %zu gradients: %.1f ms a step on rank 0 (%.1f%% of the run, waiting "
            "included)", s.tr.table.total, 1e3 * comm_s / (double)(s.step - start_step), 100 * comm_s / (now_s() - t0));
    if (s.step != last_ckpt) {
        char path[4300];
        if ((rc = check_ranks_agree(comm, &s, err))) goto done;
        if (!lead) goto done;
        if ((rc = write_checkpoint(req->run_dir, &s, path, sizeof path, err))) goto done;
        say(h.log, h.user, "checkpoint %s", path);
        prune_checkpoints(req->run_dir, s.opt.keep_checkpoints, h.log, h.user);
    }
done:
    if (loader_started) {
        pthread_mutex_lock(&L.mu);
        L.stop = true;
        pthread_cond_broadcast(&L.cv);
        pthread_mutex_unlock(&L.mu);
        pthread_join(L.thread, NULL);
        pthread_mutex_destroy(&L.mu);
        pthread_cond_destroy(&L.cv);
    }
    for (int i = 0; i < 2; i++) free(L.slot[i].audio), free(L.slot[i].mels);
    if (csv) fclose(csv);
    free(grad), free(dtheta);
    wg_mel_destroy(val_mel);
    wg_train_work_free(&work);
    wg_model_free(model);
    wg_dataset_free(&ds);
    free_state(&s);
    return rc;
}
