/* fileio.h — whole-file reads with a size bound, and atomic writes.
 *
 * An atomic write creates a temporary file beside the target (same directory, so rename is
 * atomic), the caller writes through `fd` or `fp`, and wg_atomic_commit flushes, fsyncs, renames
 * over the target and fsyncs the directory. Any failure before the rename leaves the target as it
 * was; wg_atomic_abort removes the temporary file.
 */
#ifndef WG_FILEIO_H
#define WG_FILEIO_H

#include <stdio.h>

#include "waveglow.h"

/* Opens `path` read-only (close-on-exec) as a regular file of at most max_bytes: its descriptor and
 * size, or WG_EIO (cannot open, not a regular file) / WG_EFORMAT (too large) with nothing open. */
int wg_open_regular(const char *path, size_t max_bytes, int *fd, size_t *size, wg_error *err);
/* Reads all of `path` (at most max_bytes) into a NUL-terminated buffer the caller frees. */
int wg_read_file(const char *path, size_t max_bytes, char **out, size_t *len, wg_error *err);

typedef struct wg_atomic_file {
    char target[4096];
    char temp[4096];
    int fd;
    FILE *fp; /* opened by wg_atomic_open; NULL when the caller only uses fd */
} wg_atomic_file;

int wg_atomic_open(const char *path, wg_atomic_file *af, wg_error *err);
/* Writes n bytes to af->fp; a short write (disk full, file size limit) is an error. */
int wg_atomic_write(wg_atomic_file *af, const void *data, size_t n, wg_error *err);
int wg_atomic_commit(wg_atomic_file *af, wg_error *err);
void wg_atomic_abort(wg_atomic_file *af);

#endif
