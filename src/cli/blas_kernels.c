/* blas_kernels.c — which OpenBLAS, and which of its kernels, the program runs on: OpenBLAS picks
 * its kernels once, when it loads, for the CPU it finds, unless OPENBLAS_CORETYPE names others
 * (some environments pin AVX2 kernels on AVX-512 machines, at about half the GEMM speed). */
#include <cblas.h>
#include <stdio.h>

#include "cli.h"

const char *cli_blas_description(void) {
    static char text[256];
    snprintf(text, sizeof text, "%s; %s kernels", openblas_get_config(), openblas_get_corename());
    return text;
}
