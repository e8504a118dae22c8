/* foldfile.h — the conditioning fold (condfold.h) on disk: wg_model_save_fold and
 * wg_model_load_fold (waveglow.h). Building the fold costs the FLOPs that synthesis saves over
 * about 9 s of the bundled model's audio; mapping a saved one costs about one reading of it, so a
 * process vocoding a one-second clip can use it too.
 *
 * A fold file is safetensors. Per flow k, "cond_fold.k" is (2CL·R/P, 4·n_mel, P), R =
 * hop/n_group, in the layout the model keeps it: panels of P columns (condfold.h), P =
 * __metadata__["panel_columns"] (files of the first layout, panels of g whole rows, said
 * "group_rows": g, and load as P = g·R); "cond_fold_b.k" is (2CL). Any layout loads on any
 * CPU, but strips are fast only where the CPU has AVX2 and the BLAS no AVX-512 kernels, which is
 * where wg_model_fold_conditioning picks them. __metadata__ also holds "format" (WG_FOLD_FORMAT); "weights", the
 * XXH3-64 of what the fold was built from (the config's shape and the upsampler's and every cond
 * conv's weights and biases), which loading compares with the model's; "data", the XXH3-64 of
 * the tensors' bytes in file order, which loading checks; and "config", for people. Loading maps
 * the file read-only, so the model's fold is the page cache's, shared by every process that maps
 * it. */
#ifndef WG_FOLDFILE_H
#define WG_FOLDFILE_H

#include <stdint.h>

#include "model.h"

#define WG_FOLD_FORMAT "waveglow.c conditioning fold 1"

/* The "weights" fingerprint of a model: the same for models whose folds are the same. */
uint64_t wg_fold_weights_hash(const wg_model *m);

#endif
