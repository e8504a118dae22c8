/* mel_summary.c — a small program on waveglow's public API alone: reads an audio file, computes
 * its log-mel with NVIDIA's default front end (or a config's), and prints its shape and range. */
#include <stdio.h>
#include <stdlib.h>
#include <waveglow.h>

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s AUDIO [CONFIG.json]\n", argv[0]);
        return 2;
    }
    wg_error err = {0};
    wg_config cfg = wg_config_default();
    if (argc == 3 && wg_config_load(argv[2], &cfg, &err))
        goto fail;
    wg_audio audio;
    if (wg_audio_read(argv[1], cfg.sampling_rate, NULL, &audio, &err))
        goto fail;
    wg_mel *mel;
    if (wg_mel_create(&cfg, &mel, &err))
        goto fail;
    size_t frames = wg_mel_frames(mel, audio.n_samples), n = frames * (size_t)cfg.n_mel_channels;
    float *spec = malloc(n * sizeof(float));
    if (!spec || wg_mel_compute(mel, audio.samples, audio.n_samples, spec, &err))
        goto fail;
    float lo = spec[0], hi = spec[0];
    for (size_t i = 0; i < n; i++) {
        lo = spec[i] < lo ? spec[i] : lo;
        hi = spec[i] > hi ? spec[i] : hi;
    }
    printf("%s: %d mels x %zu frames, log-mel in [%.3f, %.3f]\n", argv[1], cfg.n_mel_channels, frames, lo, hi);
    free(spec);
    wg_mel_destroy(mel);
    wg_audio_free(&audio);
    return 0;
fail:
    fprintf(stderr, "%s: %s\n", argv[0], err.message);
    return 2;
}
