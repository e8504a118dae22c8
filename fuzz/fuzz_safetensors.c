/* fuzz_safetensors.c — the model file path: the safetensors header, the embedded config JSON and
 * its validation, every tensor check and read (as float and as double), weight-norm folding and
 * the derived W⁻¹. */
#include "fuzz_common.h"
#include "safetensors.h"
#include "waveglow.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    int fd = fuzz_file(data, size, path, sizeof path);
    wg_st_file st;
    if (wg_st_read(path, &st, NULL) == 0) {
        /* offsets are checked against the file's size, so numel is bounded by it */
        for (int i = 0; i < st.n_tensors; i++) {
            const wg_st_tensor *t = &st.tensors[i];
            float *f = malloc(t->numel * sizeof(float) + 1);
            double *d = malloc(t->numel * sizeof(double) + 1);
            if (f && d && wg_st_copy(&st, t, f, NULL) == 0) wg_st_copy_f64(&st, t, d, NULL);
            free(f);
            free(d);
        }
        wg_st_close(&st);
    }
    wg_model *m;
    if (wg_model_load(path, &m, NULL) == 0) wg_model_free(m);
    close(fd);
    return 0;
}
