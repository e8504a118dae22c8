/* playout.h — what an audio callback does, without any audio API: copy from the ring, fill the
 * rest with silence, and count. Real-time safe: no allocation, lock, I/O or system call. The
 * PortAudio callback of `waveglow play` is this function and nothing else, so its behaviour
 * (underrun accounting included) is tested with no sound card. */
#ifndef WG_PLAYOUT_H
#define WG_PLAYOUT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "ring.h"

typedef struct wg_playout {
    wg_ring *ring;
    atomic_bool producer_done;   /* set by the producer when no more audio will come */
    atomic_size_t frames_played; /* samples that came from the ring */
    atomic_size_t underruns;     /* callbacks that found the ring short before the producer was done */
    atomic_size_t device_underflows; /* callbacks whose host reported an output underflow */
    atomic_bool drained;         /* the producer is done and the ring is empty */
} wg_playout;

void wg_playout_init(wg_playout *p, wg_ring *ring);

/* Fills out[0 .. n) for one callback; host_underflow is the host API's flag for this buffer. */
void wg_playout_fill(wg_playout *p, float *out, size_t n, bool host_underflow);

#endif
