/* fftw_lock.c — see fftw_lock.h: the library's one piece of process-wide state, FFTW's own. */
#include "fftw_lock.h"

#include <pthread.h>

static pthread_mutex_t planner = PTHREAD_MUTEX_INITIALIZER;

void wg_fftw_lock(void) { pthread_mutex_lock(&planner); }
void wg_fftw_unlock(void) { pthread_mutex_unlock(&planner); }
