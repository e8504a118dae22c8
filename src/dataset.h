/* dataset.h — a training corpus in memory and its batches. Files come from a folder (every
 * audio file below it, recursively, in sorted order) or a list file (one path per line, relative
 * to the list's folder; blank lines and # comments skipped). Unreadable files are reported and
 * skipped; other sample rates are resampled. A fixed fraction of files, chosen by a hash of their
 * path (so the split never changes as files are added), is held out for validation.
 *
 * Training items form one endless sequence, a pure function of the seed: item p is file
 * perm_e[p mod n] of epoch e = p / n, with perm_e a Fisher-Yates shuffle drawn from Philox(seed, e);
 * its segment start and dequantisation noise are drawn from Philox(seed, p). A batch is a run of
 * consecutive items, so resuming needs only the count of items consumed, and data-parallel ranks
 * that take disjoint runs of the same global batch read disjoint files within every epoch. */
#ifndef WG_DATASET_H
#define WG_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "waveglow.h"

typedef struct wg_clip {
    char *path;
    float *samples;
    size_t n;
} wg_clip;

typedef struct wg_dataset {
    wg_clip *train, *val;
    int n_train, n_val;
    size_t train_samples, val_samples;
} wg_dataset;

typedef void (*wg_log_fn)(void *user, const char *line);

/* `source`: a folder or a list file. */
int wg_dataset_load(const char *source, const wg_config *cfg, double val_fraction, wg_log_fn log, void *user,
                    wg_dataset *ds, wg_error *err);
void wg_dataset_free(wg_dataset *ds);

/* Items first_item .. first_item + B - 1: audio (B, segment_length) and mels (B, n_mel, 1 + segment_length/hop),
 * NVIDIA's Mel2Samp: a random segment of each file (shorter files zero-padded at the end), its
 * mel, then optional dequantisation noise of uniform ±dequant/2 added to the audio. `perm` is
 * caller scratch of n_train ints, `perm_epoch` its epoch (start with -1). */
int wg_dataset_batch(const wg_dataset *ds, const wg_config *cfg, uint64_t seed, long first_item, int batch,
                     double dequant, wg_mel *mel, int *perm, long *perm_epoch, float *audio, float *mels);

#endif
