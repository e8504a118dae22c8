/* testutil.h — helpers shared by the cmocka tests: paths to committed data, a scratch
 * directory per test binary, running the `waveglow` program, and error measures that are
 * printed before they are asserted. */
#ifndef WG_TESTUTIL_H
#define WG_TESTUTIL_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "waveglow.h"

#define DATA(rel) WG_TEST_DATA "/" rel

static inline double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m))
            m = d; /* NaN propagates */
    }
    return m;
}

static inline double max_abs(const float *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i]));
    return m;
}

/* A fresh scratch directory for this process; files go inside with tmp_path(). */
static inline const char *tmp_dir(void) {
    static char dir[256];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/wgtest.XXXXXX");
        if (!mkdtemp(dir))
            abort();
    }
    return dir;
}

static inline const char *tmp_path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", tmp_dir(), name);
    return buf;
}

/* Runs `waveglow ARGS` with a shell, stdout and stderr captured in *output (up to n bytes).
 * Returns the exit code, or -1 when the program died by a signal. */
static inline int run_cli(char *output, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline int run_cli(char *output, size_t n, const char *fmt, ...) {
    char args[8192], cmd[9000], log[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    tmp_path(log, sizeof log, "cli.log");
    snprintf(cmd, sizeof cmd, "%s %s >%s 2>&1", WG_CLI_PATH, args, log);
    int status = system(cmd);
    if (output && n) {
        output[0] = '\0';
        FILE *fp = fopen(log, "r");
        if (fp) {
            size_t got = fread(output, 1, n - 1, fp);
            output[got] = '\0';
            fclose(fp);
        }
    }
    printf("$ waveglow %s\n%s", args, output ? output : "");
    if (WIFSIGNALED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* Runs a shell command (echoed first); returns its exit code, or -1 when it died by a signal. */
static inline int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int sh(const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    printf("$ %s\n", cmd);
    fflush(stdout);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static inline int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

#endif
