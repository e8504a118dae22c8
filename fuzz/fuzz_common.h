/* fuzz_common.h — shared by the libFuzzer targets: the input as a file (an in-memory memfd, so
 * the parsers under test run exactly as they do on disk, path and all). */
#ifndef WG_FUZZ_COMMON_H
#define WG_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Writes data to a fresh memfd; *path receives "/proc/self/fd/N". Returns the fd (close it). */
static inline int fuzz_file(const uint8_t *data, size_t size, char *path, size_t n) {
    int fd = memfd_create("fuzz", 0);
    if (fd < 0) abort();
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0) abort();
        off += (size_t)w;
    }
    snprintf(path, n, "/proc/self/fd/%d", fd);
    return fd;
}

#endif
