/* blas_kernels.c — which OpenBLAS, and which of its kernels, the program runs on: OpenBLAS picks
 * its kernels once, when it loads, for the CPU it finds, unless OPENBLAS_CORETYPE names others
 * (some environments pin AVX2 kernels on AVX-512 machines, at about half the GEMM speed). */
#include <cblas.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "kernels.h"

static bool cpu_has_avx512(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
    return false;
#endif
}

const char *cli_blas_pinned_below_avx512(void) {
    const char *pinned = getenv("OPENBLAS_CORETYPE");
    return pinned && *pinned && !wg_blas_avx512_kernels() && cpu_has_avx512() ? pinned : NULL;
}

const char *cli_blas_description(void) {
    static char text[512];
    const char *core = openblas_get_corename(), *pinned = cli_blas_pinned_below_avx512();
    int n = snprintf(text, sizeof text, "%s; %s kernels", openblas_get_config(), core);
    if (pinned && n > 0 && (size_t)n < sizeof text)
        snprintf(text + n, sizeof text - (size_t)n,
                 " (OPENBLAS_CORETYPE=%s pins them; this CPU has AVX-512, and without the variable OpenBLAS "
                 "would pick its AVX-512 kernels, which are faster)", pinned);
    return text;
}
