/* rng.c — see rng.h. */
#include "rng.h"

#include <math.h>

void wg_philox4x32(const uint32_t ctr_in[4], const uint32_t key_in[2], uint32_t out[4]) {
    uint32_t c0 = ctr_in[0], c1 = ctr_in[1], c2 = ctr_in[2], c3 = ctr_in[3];
    uint32_t k0 = key_in[0], k1 = key_in[1];
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0, hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

double wg_normal_at(uint64_t seed, uint32_t channel, uint64_t step) {
    const uint32_t ctr[4] = {(uint32_t)step, (uint32_t)(step >> 32), channel, 0x57474c57u /* "WGLW" */};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t r[4];
    wg_philox4x32(ctr, key, r);
    /* 53-bit uniforms in (0, 1): never 0, so the log is finite */
    double u1 = (((uint64_t)r[0] << 21 ^ r[1]) & ((1ull << 53) - 1)) * 0x1p-53 + 0x1p-54;
    double u2 = (((uint64_t)r[2] << 21 ^ r[3]) & ((1ull << 53) - 1)) * 0x1p-53;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void wg_fill_latent(uint64_t seed, float sigma, int n_channels, uint64_t step0, size_t n_steps, float *z, size_t ld) {
    for (int c = 0; c < n_channels; c++)
        for (size_t i = 0; i < n_steps; i++)
            z[(size_t)c * ld + i] = (float)(sigma * wg_normal_at(seed, (uint32_t)c, step0 + i));
}
