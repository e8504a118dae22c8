/* team.c — see team.h. */
#include "team.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

struct wg_team {
    int size;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    unsigned long generation; /* bumped by each run */
    int pending;              /* members other than the caller still running */
    bool quit;
    void (*fn)(void *, int, int);
    void *arg;
    /* the barrier: members count in; the last resets the count and bumps the phase the others
     * spin on. Synthesis meets it once a WN layer, microseconds apart on small models and short
     * streaming windows, where sleeping on a futex costs as much as the work between; spinning
     * yields the core after a while. */
    atomic_int arrived;
    atomic_uint phase;
};

typedef struct member {
    wg_team *team;
    int rank;
} member;

static void *member_main(void *p) {
    member me = *(member *)p;
    free(p);
    wg_team *t = me.team;
    unsigned long seen = 0;
    pthread_mutex_lock(&t->mu);
    for (;;) {
        while (t->generation == seen && !t->quit) pthread_cond_wait(&t->go, &t->mu);
        if (t->quit) break;
        seen = t->generation;
        void (*fn)(void *, int, int) = t->fn;
        void *arg = t->arg;
        pthread_mutex_unlock(&t->mu);
        fn(arg, me.rank, t->size);
        pthread_mutex_lock(&t->mu);
        if (--t->pending == 0) pthread_cond_signal(&t->done);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

wg_team *wg_team_create(int size) {
    if (size < 1) return NULL;
    wg_team *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->size = size;
    t->threads = calloc((size_t)size, sizeof *t->threads);
    if (!t->threads) {
        free(t->threads), free(t);
        return NULL;
    }
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->go, NULL);
    pthread_cond_init(&t->done, NULL);
    for (int r = 1; r < size; r++) {
        member *m = malloc(sizeof *m);
        if (m) *m = (member){t, r};
        if (!m || pthread_create(&t->threads[r], NULL, member_main, m)) {
            free(m);
            t->size = r; /* the members started so far are joined */
            wg_team_destroy(t);
            return NULL;
        }
    }
    return t;
}

void wg_team_destroy(wg_team *t) {
    if (!t) return;
    pthread_mutex_lock(&t->mu);
    t->quit = true;
    pthread_cond_broadcast(&t->go);
    pthread_mutex_unlock(&t->mu);
    for (int r = 1; r < t->size; r++) pthread_join(t->threads[r], NULL);
    pthread_cond_destroy(&t->go);
    pthread_cond_destroy(&t->done);
    pthread_mutex_destroy(&t->mu);
    free(t->threads);
    free(t);
}

int wg_team_size(const wg_team *t) { return t ? t->size : 1; }

void wg_team_run(wg_team *t, void (*fn)(void *arg, int rank, int size), void *arg) {
    if (!t || t->size == 1) {
        fn(arg, 0, 1);
        return;
    }
    pthread_mutex_lock(&t->mu);
    t->fn = fn;
    t->arg = arg;
    t->pending = t->size - 1;
    t->generation++;
    pthread_cond_broadcast(&t->go);
    pthread_mutex_unlock(&t->mu);
    fn(arg, 0, t->size);
    pthread_mutex_lock(&t->mu);
    while (t->pending) pthread_cond_wait(&t->done, &t->mu);
    pthread_mutex_unlock(&t->mu);
}

void wg_team_barrier(wg_team *t) {
    if (!t || t->size == 1) return;
    unsigned phase = atomic_load_explicit(&t->phase, memory_order_acquire);
    if (atomic_fetch_add_explicit(&t->arrived, 1, memory_order_acq_rel) == t->size - 1) {
        atomic_store_explicit(&t->arrived, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&t->phase, 1, memory_order_release);
        return;
    }
    for (long spins = 0; atomic_load_explicit(&t->phase, memory_order_acquire) == phase; spins++) {
        if (spins > 4000) sched_yield();
#if defined(__x86_64__) || defined(__i386__)
        else __builtin_ia32_pause();
#endif
    }
}

void wg_team_split(size_t n, int rank, int size, size_t *c0, size_t *c1) {
    size_t blocks = (n + 15) / 16;
    *c0 = blocks * (size_t)rank / (size_t)size * 16;
    *c1 = rank == size - 1 ? n : blocks * (size_t)(rank + 1) / (size_t)size * 16;
    if (*c0 > n) *c0 = n;
    if (*c1 > n) *c1 = n;
}
