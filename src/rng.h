/* rng.h — the latent noise: a counter-based generator (Philox4x32-10, Salmon et al. 2011), so
 * the normal deviate for latent channel c at group step t is a pure function of (seed, c, t).
 * Any split of the work into chunks or streams draws the same noise for the same position. */
#ifndef WG_RNG_H
#define WG_RNG_H

#include <stddef.h>
#include <stdint.h>

void wg_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* A standard normal deviate for (seed, channel, step), by Box-Muller in double precision. */
double wg_normal_at(uint64_t seed, uint32_t channel, uint64_t step);

/* z (n_channels, n_steps) row-major with row stride ld: z[c][i] = sigma · N(seed, c, step0 + i). */
void wg_fill_latent(uint64_t seed, float sigma, int n_channels, uint64_t step0, size_t n_steps, float *z, size_t ld);

#endif
