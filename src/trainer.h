/* trainer.h — maximum-likelihood training runs: options from NVIDIA's train_config, the loop
 * (a loader thread making batches while the model trains, Adam, LR schedule, gradient clipping,
 * a guard against non-finite steps), validation, train.csv, and checkpoints that survive crashes
 * (temporary file, fsync, rename; the last K kept) from which a run resumes exactly.
 *
 * A run directory holds ckpt-<step>.safetensors (tensors "theta/NAME", "adam_m/NAME",
 * "adam_v/NAME" in the trainable layout, and the config, options, step and guard state in the
 * metadata, with the count of data items consumed, so a resumed run may change its number of
 * ranks) and train.csv (step, loss, val_nll, lr, grad_norm, elapsed_s). */
#ifndef WG_TRAINER_H
#define WG_TRAINER_H

#include <stdbool.h>
#include <stdint.h>

#include "dataset.h"
#include "waveglow.h"

typedef enum { WG_LR_CONSTANT, WG_LR_STEP, WG_LR_COSINE } wg_lr_schedule;

typedef struct wg_train_options {
    /* NVIDIA's train_config */
    double learning_rate; /* 1e-4 */
    int batch_size;       /* 12 */
    uint64_t seed;        /* 1234 */
    long iters_per_checkpoint; /* 2000 */
    long epochs;          /* 100000: the length of a run given no --steps */
    /* ours, also in train_config */
    double adam_beta1, adam_beta2, adam_eps, weight_decay; /* 0.9, 0.999, 1e-8, 0 */
    wg_lr_schedule lr_schedule; /* "constant" (default), "step", "cosine" */
    long warmup_steps;          /* linear warm-up from 0; 0 = none */
    long lr_step_size;          /* step schedule: multiply by lr_gamma every lr_step_size steps */
    double lr_gamma;            /* 0.5 */
    double lr_min;              /* cosine schedule's floor */
    double grad_clip;           /* clip the global gradient norm to this; 0 = off */
    double dequantize;          /* add uniform noise of this width to the audio; 0 = off */
    double validation_fraction; /* 0.1 of the files, fixed by path */
    long validate_every;        /* steps; 0 = only at checkpoints */
    int keep_checkpoints;       /* 5 */
    int max_bad_steps;          /* consecutive non-finite steps before rolling back: 5 */
    long log_every;             /* progress lines when not on a terminal: 50 */
    bool weight_norm;           /* train the WN convs as weight_g / weight_v: true */
    bool keep_activations;      /* keep every flow's WN intermediates (faster, n_flows× the WN
                                 * memory) instead of recomputing them: false */
} wg_train_options;

wg_train_options wg_train_default_options(void);

/* Reads train_config from NVIDIA-layout config text; unknown keys are reported through warn. */
int wg_train_options_parse(const char *json, const char *source, wg_train_options *o, wg_log_fn warn, void *user,
                           wg_error *err);

typedef struct wg_train_status {
    long step, total_steps;
    double loss, val_nll, lr, grad_norm;
    double samples_per_s, elapsed_s, eta_s;
    long bad_steps;
} wg_train_status;

typedef struct wg_train_hooks {
    wg_log_fn log; /* notes: data, resume, validation, checkpoints, the guard */
    void (*progress)(const wg_train_status *s, void *user);
    int (*should_stop)(void *user); /* polled after every step: a checkpoint is written, then return */
    void *user;
} wg_train_hooks;

/* Data-parallel training over `size` processes (MPI ranks, or anything that can sum and
 * broadcast). Every rank calls wg_train with the same request and the same data and run directory
 * in view; rank 0's state (weights, Adam moments, step, data position) is broadcast at the start.
 * A step's global batch is size·batch_size consecutive items, rank r taking the r-th run of
 * batch_size; gradients are summed in one fused buffer and averaged, so every rank applies the same
 * update and the run equals one process with batch size·batch_size, up to summation order. Only
 * rank 0 logs and writes train.csv and checkpoints. Each function returns 0, or nonzero when the
 * transport failed; results must be identical on every rank. */
typedef struct wg_train_comm {
    int rank, size;
    int (*sum_f32)(void *ctx, float *x, size_t n);  /* in place, over ranks */
    int (*sum_f64)(void *ctx, double *x, size_t n); /* in place, over ranks */
    int (*broadcast)(void *ctx, void *buf, size_t bytes); /* rank 0's bytes to every rank */
    void *ctx;
} wg_train_comm;

typedef struct wg_train_request {
    const char *config_json;   /* NVIDIA-layout config text; NULL on resume uses the checkpoint's */
    const char *config_source; /* for messages */
    const char *data;          /* folder or list file */
    const char *run_dir; /* created if missing; a new run (no resume) refuses one that holds
                          * checkpoints or a train.csv, which it would overwrite */
    bool resume;
    const char *init_model; /* a new run starts from this model file's weights (fine-tuning; any file
                             * wg_model_load reads, with the config's model and front end), Adam's
                             * moments from zero and step 0; NULL: seeded random weights. A run
                             * that resumes ignores it. */
    long steps; /* the step to stop at (a total, not a count of more steps); 0: epochs */
    int threads;
    const wg_train_comm *comm; /* NULL: one process */
} wg_train_request;

int wg_train(const wg_train_request *req, const wg_train_hooks *hooks, wg_error *err);

/* Folds weight norm and writes a model file from a checkpoint, or from a run directory's latest.
 * synthesis_sigma > 0 is recorded as the model's own default latent temperature (wg_model_info). */
int wg_export_checkpoint(const char *checkpoint_or_run_dir, const char *out, double synthesis_sigma, wg_error *err);

/* The newest checkpoint of a run directory that loads cleanly, into path (size n); 0 or WG_EIO. */
int wg_latest_checkpoint(const char *run_dir, char *path, size_t n, wg_log_fn log, void *user);

#endif
