/* fileio.c — see fileio.h. */
#define _GNU_SOURCE
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

int wg_open_regular(const char *path, size_t max_bytes, int *fd, size_t *size, wg_error *err) {
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0)
        return wg_fail(err, WG_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(*fd);
        *fd = -1;
        return wg_fail(err, WG_EIO, "%s: not a regular file", path);
    }
    if ((size_t)st.st_size > max_bytes) {
        close(*fd);
        *fd = -1;
        return wg_fail(err, WG_EFORMAT, "%s: %lld bytes is larger than the %zu allowed", path, (long long)st.st_size,
                       max_bytes);
    }
    *size = (size_t)st.st_size;
    return 0;
}

int wg_read_file(const char *path, size_t max_bytes, char **out, size_t *len, wg_error *err) {
    *out = NULL;
    *len = 0;
    int fd;
    size_t size;
    int rc = wg_open_regular(path, max_bytes, &fd, &size, err);
    if (rc)
        return rc;
    FILE *fp = fdopen(fd, "rb");
    if (!fp) {
        close(fd);
        return wg_fail(err, WG_ENOMEM, "%s: out of memory", path);
    }
    char *buf = malloc(size + 1); /* configs, file lists, train.csv: model files are read by tensor (safetensors.h) */
    if (!buf) {
        fclose(fp);
        return wg_fail(err, WG_ENOMEM, "%s: out of memory reading %zu bytes", path, size);
    }
    size_t got = fread(buf, 1, size, fp);
    int failed = ferror(fp);
    fclose(fp);
    if (failed || got != size) {
        free(buf);
        return wg_fail(err, WG_EIO, "%s: read error", path);
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
}

int wg_atomic_open(const char *path, wg_atomic_file *af, wg_error *err) {
    memset(af, 0, sizeof *af);
    af->fd = -1;
    if (!path || !*path)
        return wg_fail(err, WG_EINVAL, "empty output path");
    if (strlen(path) + 16 >= sizeof af->temp)
        return wg_fail(err, WG_EINVAL, "%s: path too long", path);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return wg_fail(err, WG_EIO, "%s: is a directory, not a file", path);
    snprintf(af->target, sizeof af->target, "%s", path);
    snprintf(af->temp, sizeof af->temp, "%s.tmp.XXXXXX", path);
    af->fd = mkstemp(af->temp);
    if (af->fd < 0) {
        int e = errno;
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        return wg_fail(err, WG_EIO, "%s: cannot create a file in %s: %s", path, dirname(dir), strerror(e));
    }
    /* mkstemp makes 0600; give the result the permissions a plain fopen would. */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(af->fd, 0666 & ~mask);
    af->fp = fdopen(af->fd, "wb");
    if (!af->fp) {
        int e = errno;
        wg_atomic_abort(af);
        return wg_fail(err, WG_EIO, "%s: %s", path, strerror(e));
    }
    return 0;
}

int wg_atomic_write(wg_atomic_file *af, const void *data, size_t n, wg_error *err) {
    if (n && fwrite(data, 1, n, af->fp) != n)
        return wg_fail(err, WG_EIO, "%s: write failed: %s", af->target, strerror(errno));
    return 0;
}

static void fsync_parent(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}

int wg_atomic_commit(wg_atomic_file *af, wg_error *err) {
    int e = 0;
    if (af->fp) {
        if (fflush(af->fp) != 0)
            e = errno;
    }
    if (!e && fsync(af->fd) != 0)
        e = errno;
    if (af->fp) {
        if (fclose(af->fp) != 0 && !e)
            e = errno;
    } else if (close(af->fd) != 0 && !e) {
        e = errno;
    }
    af->fp = NULL;
    af->fd = -1;
    if (!e && rename(af->temp, af->target) != 0)
        e = errno;
    if (e) {
        unlink(af->temp);
        return wg_fail(err, WG_EIO, "%s: write failed: %s", af->target, strerror(e));
    }
    fsync_parent(af->target);
    return 0;
}

void wg_atomic_abort(wg_atomic_file *af) {
    if (af->fp)
        fclose(af->fp);
    else if (af->fd >= 0)
        close(af->fd);
    af->fp = NULL;
    af->fd = -1;
    if (af->temp[0])
        unlink(af->temp);
    af->temp[0] = '\0';
}
