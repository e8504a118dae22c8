/* fuzz_npy.c — .npy headers and data: versions, dtypes, shapes, Fortran order, sizes. */
#include "fuzz_common.h"
#include "waveglow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    int fd = fuzz_file(data, size, path, sizeof path);
    wg_array a;
    if (wg_npy_read(path, &a, NULL) == 0) wg_array_free(&a);
    close(fd);
    return 0;
}
