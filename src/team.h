/* team.h — a fixed team of threads that runs one function on every member at once, with a
 * barrier between phases: synthesis splits each layer's columns (time) among the members, each
 * running single-threaded GEMMs and the element-wise passes on its own columns. (OpenBLAS's own
 * threads only split the GEMMs and leave the element-wise work on one core.) The caller is
 * member 0; the others wait on a condition variable between runs, so an idle team costs nothing. */
#ifndef WG_TEAM_H
#define WG_TEAM_H

#include <stddef.h>

typedef struct wg_team wg_team;

/* A team of `size` members (size - 1 new threads); NULL when out of memory or threads. */
wg_team *wg_team_create(int size);
void wg_team_destroy(wg_team *team);
int wg_team_size(const wg_team *team);

/* Runs fn(arg, rank, size) on every member, the caller as rank 0; returns when all are done. */
void wg_team_run(wg_team *team, void (*fn)(void *arg, int rank, int size), void *arg);

/* Inside fn: waits until every member has reached it. A NULL team (one member) returns. */
void wg_team_barrier(wg_team *team);

/* The columns [*c0, *c1) of n that member `rank` of `size` takes: contiguous, in multiples of 16
 * (a cache line of floats) but for the last. */
void wg_team_split(size_t n, int rank, int size, size_t *c0, size_t *c1);

#endif
