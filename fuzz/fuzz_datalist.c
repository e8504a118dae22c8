/* fuzz_datalist.c — the training data list file: lines, comments, relative and absolute paths
 * (whatever they name is opened read-only and skipped when it is not audio). */
#include "dataset.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0; /* a list of at most a few dozen paths keeps each run fast */
    char path[64];
    int fd = fuzz_file(data, size, path, sizeof path);
    wg_config c = wg_config_default();
    wg_dataset ds;
    if (wg_dataset_load(path, &c, 0.1, NULL, NULL, &ds, NULL) == 0) wg_dataset_free(&ds);
    close(fd);
    return 0;
}
