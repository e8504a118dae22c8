/* ring.c — see ring.h. The producer publishes data with a release store of `write` after the
 * copy; the consumer acquires `write` before reading and releases `read` after, so each side
 * sees the other's data and free space completely. */
#include "ring.h"

#include <stdlib.h>
#include <string.h>

int wg_ring_init(wg_ring *r, size_t capacity) {
    size_t cap = 1;
    while (cap < capacity) cap <<= 1;
    r->buf = calloc(cap, sizeof(float));
    if (!r->buf) return -1;
    r->mask = cap - 1;
    atomic_init(&r->write, 0);
    atomic_init(&r->read, 0);
    return 0;
}

void wg_ring_free(wg_ring *r) {
    free(r->buf);
    r->buf = NULL;
}

size_t wg_ring_capacity(const wg_ring *r) { return r->mask + 1; }

size_t wg_ring_writable(wg_ring *r) {
    size_t w = atomic_load_explicit(&r->write, memory_order_relaxed);
    size_t rd = atomic_load_explicit(&r->read, memory_order_acquire);
    return r->mask + 1 - (w - rd);
}

size_t wg_ring_readable(wg_ring *r) {
    size_t w = atomic_load_explicit(&r->write, memory_order_acquire);
    size_t rd = atomic_load_explicit(&r->read, memory_order_relaxed);
    return w - rd;
}

/* copies n floats between the ring at counter `at` and a flat array, in at most two pieces */
static void copy_in(wg_ring *r, size_t at, const float *src, size_t n) {
    size_t i = at & r->mask, first = n < r->mask + 1 - i ? n : r->mask + 1 - i;
    memcpy(r->buf + i, src, first * sizeof(float));
    memcpy(r->buf, src + first, (n - first) * sizeof(float));
}

static void copy_out(const wg_ring *r, size_t at, float *dst, size_t n) {
    size_t i = at & r->mask, first = n < r->mask + 1 - i ? n : r->mask + 1 - i;
    memcpy(dst, r->buf + i, first * sizeof(float));
    memcpy(dst + first, r->buf, (n - first) * sizeof(float));
}

size_t wg_ring_write(wg_ring *r, const float *src, size_t n) {
    size_t w = atomic_load_explicit(&r->write, memory_order_relaxed);
    size_t rd = atomic_load_explicit(&r->read, memory_order_acquire);
    size_t space = r->mask + 1 - (w - rd);
    if (n > space) n = space;
    copy_in(r, w, src, n);
    atomic_store_explicit(&r->write, w + n, memory_order_release);
    return n;
}

size_t wg_ring_read(wg_ring *r, float *dst, size_t n) {
    size_t rd = atomic_load_explicit(&r->read, memory_order_relaxed);
    size_t w = atomic_load_explicit(&r->write, memory_order_acquire);
    if (n > w - rd) n = w - rd;
    copy_out(r, rd, dst, n);
    atomic_store_explicit(&r->read, rd + n, memory_order_release);
    return n;
}
