/* fftw_lock.h — FFTW's planner is one process-wide object and not thread-safe, so every module
 * that makes or destroys a plan takes this one lock; executing a plan needs no lock. */
#ifndef WG_FFTW_LOCK_H
#define WG_FFTW_LOCK_H

void wg_fftw_lock(void);
void wg_fftw_unlock(void);

#endif
