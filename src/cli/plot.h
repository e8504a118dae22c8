/* plot.h — pictures for the command line (cairo): the comparison of two spectrograms. */
#ifndef WG_CLI_PLOT_H
#define WG_CLI_PLOT_H

#include <stddef.h>

#include "err.h"

typedef struct plot_axes {
    int sample_rate, hop;
    double fmin, fmax;
} plot_axes;

/* ref, test: (n_mel, frames) log-mels on the same scale. Writes a PNG atomically. */
int cli_plot_compare(const char *path, const float *ref, const float *test, int n_mel, size_t frames,
                     const plot_axes *ax, const char *title, const char *subtitle, wg_error *err);

#endif
