/* fuzz_safetensors.c — the model file path: the safetensors header, the embedded config JSON and
 * its validation, every tensor check, weight-norm folding and the derived W⁻¹. */
#include "fuzz_common.h"
#include "safetensors.h"
#include "waveglow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    int fd = fuzz_file(data, size, path, sizeof path);
    wg_st_file st;
    if (wg_st_read(path, &st, NULL) == 0) wg_st_close(&st);
    wg_model *m;
    if (wg_model_load(path, &m, NULL) == 0) wg_model_free(m);
    close(fd);
    return 0;
}
