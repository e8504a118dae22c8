/* ring.h — a single-producer / single-consumer ring of floats, lock-free with C11 atomics, of
 * power-of-two capacity. One thread writes, one other thread reads; neither blocks, allocates
 * or takes a lock, so the reader may be a real-time audio callback. The caller owns the storage
 * (wg_ring_init allocates once; no call after that allocates). */
#ifndef WG_RING_H
#define WG_RING_H

#include <stdatomic.h>
#include <stddef.h>

typedef struct wg_ring {
    float *buf;
    size_t mask;                /* capacity − 1 */
    _Atomic size_t write, read; /* free-running counters; the difference is the fill */
} wg_ring;

/* capacity: rounded up to a power of two. 0 or -1 (out of memory). */
int wg_ring_init(wg_ring *r, size_t capacity);
void wg_ring_free(wg_ring *r);
size_t wg_ring_capacity(const wg_ring *r);

/* producer side */
size_t wg_ring_writable(wg_ring *r);
size_t wg_ring_write(wg_ring *r, const float *src, size_t n); /* writes up to n; returns how many */
/* consumer side */
size_t wg_ring_readable(wg_ring *r);
size_t wg_ring_read(wg_ring *r, float *dst, size_t n); /* reads up to n; returns how many */

#endif
