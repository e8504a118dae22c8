/* playout.c — see playout.h. */
#include "playout.h"

#include <string.h>

void wg_playout_init(wg_playout *p, wg_ring *ring) {
    p->ring = ring;
    atomic_init(&p->producer_done, false);
    atomic_init(&p->frames_played, 0);
    atomic_init(&p->underruns, 0);
    atomic_init(&p->device_underflows, 0);
    atomic_init(&p->drained, false);
}

void wg_playout_fill(wg_playout *p, float *out, size_t n, bool host_underflow) {
    /* read `done` before the ring: audio written before done was set is then visible */
    bool done = atomic_load_explicit(&p->producer_done, memory_order_acquire);
    size_t got = wg_ring_read(p->ring, out, n);
    if (got < n) {
        memset(out + got, 0, (n - got) * sizeof(float));
        if (!done)
            atomic_fetch_add_explicit(&p->underruns, 1, memory_order_relaxed);
        else
            atomic_store_explicit(&p->drained, true, memory_order_release);
    }
    if (host_underflow) atomic_fetch_add_explicit(&p->device_underflows, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->frames_played, got, memory_order_relaxed);
}
