/* fuzz_audio.c — the audio-loading path: whatever libsndfile makes of the bytes, then our
 * downmix, non-finite checks and resampling to 16 kHz, then the mel front end on the result. */
#include "fuzz_common.h"
#include "waveglow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    int fd = fuzz_file(data, size, path, sizeof path);
    wg_audio a;
    wg_audio_read_params p = wg_audio_read_default_params();
    p.quality = WG_RESAMPLE_FASTEST; /* the converter's quality does not change our code's paths */
    if (wg_audio_read(path, 16000, &p, &a, NULL) == 0) {
        wg_config c = wg_config_default();
        c.sampling_rate = 16000;
        c.filter_length = c.win_length = 256;
        c.hop_length = 64;
        c.n_mel_channels = 20;
        wg_mel *mel;
        if (a.n_samples < 200000 && wg_mel_create(&c, &mel, NULL) == 0) {
            float *out = malloc(sizeof(float) * 20 * (wg_mel_frames(mel, a.n_samples) + 1));
            wg_mel_compute(mel, a.samples, a.n_samples, out, NULL);
            free(out);
            wg_mel_destroy(mel);
        }
        wg_audio_free(&a);
    }
    close(fd);
    return 0;
}
