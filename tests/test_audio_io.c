/* test_audio_io.c — reading (formats, downmix, resampling, bad files) and atomic WAV writing. */
#include <sndfile.h>

#include "testutil.h"

/* Writes interleaved float frames with libsndfile directly, in any format. */
static void write_sf(const char *path, int format, int rate, int channels, const float *x, size_t frames) {
    SF_INFO info = {.samplerate = rate, .channels = channels, .format = format};
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    assert_non_null(sf);
    assert_int_equal(sf_writef_float(sf, x, (sf_count_t)frames), (sf_count_t)frames);
    sf_close(sf);
}

static void test_pcm16_round_trip_is_exact(void **state) {
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "pcm16.wav");
    enum { N = 70000 };
    float *x = malloc(N * sizeof(float));
    /* every int16 value once (plus a few), as float in [-1, 1) */
    for (int i = 0; i < N; i++)
        x[i] = (float)((i % 65536) - 32768) / 32768.0f;
    size_t clipped = 99;
    wg_error err = {0};
    assert_int_equal(wg_audio_write(path, x, N, 16000, WG_FORMAT_PCM16, &clipped, &err), 0);
    assert_int_equal(clipped, 0);
    wg_audio a;
    assert_int_equal(wg_audio_read(path, 16000, NULL, &a, &err), 0);
    assert_int_equal(a.n_samples, N);
    assert_int_equal(a.sample_rate, 16000);
    assert_int_equal(a.source_channels, 1);
    printf("pcm16 round trip max |diff| %g\n", max_abs_diff(a.samples, x, N));
    assert_memory_equal(a.samples, x, N * sizeof(float));
    wg_audio_free(&a);
    free(x);
}

static void test_pcm16_clipping_is_counted(void **state) {
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "clip.wav");
    float x[6] = {0.5f, 1.5f, -1.0f, -1.01f, 32767.0f / 32768.0f, 1.0f};
    size_t clipped = 0;
    wg_error err = {0};
    assert_int_equal(wg_audio_write(path, x, 6, 22050, WG_FORMAT_PCM16, &clipped, &err), 0);
    assert_int_equal(clipped, 3); /* 1.5, -1.01 and 1.0 (32768 does not fit in int16) */
    wg_audio a;
    assert_int_equal(wg_audio_read(path, 0, NULL, &a, &err), 0);
    assert_true(a.samples[1] == 32767.0f / 32768.0f);
    assert_true(a.samples[3] == -1.0f);
    wg_audio_free(&a);
}

static void test_float_round_trip_and_formats(void **state) {
    (void)state;
    char path[512];
    float x[1000];
    for (int i = 0; i < 1000; i++)
        x[i] = 1.7f * sinf(i * 0.05f); /* float WAV may exceed 1 */
    wg_error err = {0};
    tmp_path(path, sizeof path, "float.wav");
    assert_int_equal(wg_audio_write(path, x, 1000, 16000, WG_FORMAT_FLOAT, NULL, &err), 0);
    wg_audio a;
    assert_int_equal(wg_audio_read(path, 16000, NULL, &a, &err), 0);
    assert_memory_equal(a.samples, x, sizeof x);
    wg_audio_free(&a);
    /* FLAC (24-bit) and Ogg Vorbis via libsndfile */
    for (int i = 0; i < 1000; i++)
        x[i] = 0.5f * sinf(i * 0.05f);
    tmp_path(path, sizeof path, "x.flac");
    write_sf(path, SF_FORMAT_FLAC | SF_FORMAT_PCM_24, 16000, 1, x, 1000);
    assert_int_equal(wg_audio_read(path, 16000, NULL, &a, &err), 0);
    printf("flac max |diff| %g\n", max_abs_diff(a.samples, x, 1000));
    assert_true(max_abs_diff(a.samples, x, 1000) < 1e-6);
    wg_audio_free(&a);
    tmp_path(path, sizeof path, "x.ogg");
    write_sf(path, SF_FORMAT_OGG | SF_FORMAT_VORBIS, 16000, 1, x, 1000);
    assert_int_equal(wg_audio_read(path, 16000, NULL, &a, &err), 0);
    assert_true(a.n_samples >= 900 && a.n_samples <= 1100);
    wg_audio_free(&a);
}

static void test_mp3(void **state) {
    (void)state;
    /* tests/data/audio/hello-world.mp3: audio/hello-world.wav through ffmpeg's libmp3lame, 64 kbit/s */
    wg_audio mp3, wav;
    wg_error err = {0};
    assert_int_equal(wg_audio_read(DATA("audio/hello-world.mp3"), 16000, NULL, &mp3, &err), 0);
    assert_int_equal(wg_audio_read(WG_SOURCE_DIR "/audio/hello-world.wav", 16000, NULL, &wav, &err), 0);
    double e_mp3 = 0, e_wav = 0;
    for (size_t i = 0; i < mp3.n_samples; i++)
        e_mp3 += (double)mp3.samples[i] * mp3.samples[i];
    for (size_t i = 0; i < wav.n_samples; i++)
        e_wav += (double)wav.samples[i] * wav.samples[i];
    double rms_mp3 = sqrt(e_mp3 / mp3.n_samples), rms_wav = sqrt(e_wav / wav.n_samples);
    printf("mp3: %zu samples, rms %.4f; wav: %zu samples, rms %.4f\n", mp3.n_samples, rms_mp3, wav.n_samples, rms_wav);
    assert_true(fabs((double)mp3.n_samples - wav.n_samples) < 0.05 * wav.n_samples);
    assert_true(fabs(rms_mp3 - rms_wav) < 0.1 * rms_wav);
    wg_audio_free(&mp3);
    wg_audio_free(&wav);
}

static void test_downmix_is_the_mean(void **state) {
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "stereo.wav");
    float x[2 * 500];
    for (int i = 0; i < 500; i++) {
        x[2 * i] = 0.25f;
        x[2 * i + 1] = (float)(i % 7) / 10.0f;
    }
    write_sf(path, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 16000, 2, x, 500);
    wg_audio a;
    wg_error err = {0};
    assert_int_equal(wg_audio_read(path, 16000, NULL, &a, &err), 0);
    assert_int_equal(a.source_channels, 2);
    assert_int_equal(a.n_samples, 500);
    for (int i = 0; i < 500; i++)
        assert_float_equal(a.samples[i], (0.25f + (i % 7) / 10.0f) / 2, 1e-7);
    wg_audio_free(&a);
}

static void test_resampling_keeps_the_tone(void **state) {
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "48k.wav");
    enum { N = 48000 };
    float *x = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++)
        x[i] = 0.5f * sinf(2 * (float)M_PI * 440.0f * i / 48000.0f);
    write_sf(path, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 48000, 1, x, N);
    wg_audio a;
    wg_error err = {0};
    assert_int_equal(wg_audio_read(path, 16000, NULL, &a, &err), 0);
    assert_int_equal(a.source_rate, 48000);
    assert_int_equal(a.sample_rate, 16000);
    assert_true(a.n_samples >= 15990 && a.n_samples <= 16010);
    /* away from the edges the output is the same 440 Hz tone sampled at 16 kHz */
    double worst = 0;
    for (size_t i = 1000; i < 15000; i++)
        worst = fmax(worst, fabs(a.samples[i] - 0.5 * sin(2 * M_PI * 440.0 * i / 16000.0)));
    printf("resampled tone max |error| %g\n", worst);
    assert_true(worst < 1e-3);
    wg_audio_free(&a);
    free(x);
}

static void test_bad_inputs(void **state) {
    (void)state;
    char path[512];
    wg_audio a;
    wg_error err = {0};
    /* empty WAV: a valid header with no frames */
    tmp_path(path, sizeof path, "empty.wav");
    write_sf(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, NULL, 0);
    assert_int_equal(wg_audio_read(path, 16000, NULL, &a, &err), WG_ETOOSHORT);
    assert_non_null(strstr(err.message, "no audio"));
    /* garbage */
    tmp_path(path, sizeof path, "garbage.wav");
    FILE *fp = fopen(path, "wb");
    fputs("this is not audio at all, just text pretending to be a wav file", fp);
    fclose(fp);
    assert_int_equal(wg_audio_read(path, 16000, NULL, &a, &err), WG_EFORMAT);
    assert_non_null(strstr(err.message, path));
    /* NaN in a float WAV */
    tmp_path(path, sizeof path, "nan.wav");
    float x[4] = {0, 0.1f, NAN, 0};
    write_sf(path, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 16000, 1, x, 4);
    assert_int_equal(wg_audio_read(path, 16000, NULL, &a, &err), WG_ENONFINITE);
    assert_non_null(strstr(err.message, "sample 2"));
    /* a directory, a missing file */
    assert_int_equal(wg_audio_read(tmp_dir(), 16000, NULL, &a, &err), WG_EIO);
    assert_int_equal(wg_audio_read("/nonexistent/a.wav", 16000, NULL, &a, &err), WG_EIO);
    assert_non_null(strstr(err.message, "No such file"));
}

static void test_failed_write_keeps_previous_file(void **state) {
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "keep.wav");
    float good[100] = {0.25f};
    wg_error err = {0};
    assert_int_equal(wg_audio_write(path, good, 100, 16000, WG_FORMAT_PCM16, NULL, &err), 0);
    float bad[100] = {0};
    bad[50] = INFINITY;
    assert_int_equal(wg_audio_write(path, bad, 100, 16000, WG_FORMAT_PCM16, NULL, &err), WG_ENONFINITE);
    wg_audio a;
    assert_int_equal(wg_audio_read(path, 0, NULL, &a, &err), 0);
    assert_int_equal(a.n_samples, 100);
    assert_true(a.samples[0] == 0.25f);
    wg_audio_free(&a);
    assert_int_equal(wg_audio_write("/nonexistent-dir/out.wav", good, 100, 16000, WG_FORMAT_PCM16, NULL, &err), WG_EIO);
    assert_non_null(strstr(err.message, "/nonexistent-dir"));
    /* no temporary files left behind */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp", tmp_dir());
    FILE *p = popen(cmd, "r");
    int n = -1;
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    assert_int_equal(n, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pcm16_round_trip_is_exact),
        cmocka_unit_test(test_pcm16_clipping_is_counted),
        cmocka_unit_test(test_float_round_trip_and_formats),
        cmocka_unit_test(test_mp3),
        cmocka_unit_test(test_downmix_is_the_mean),
        cmocka_unit_test(test_resampling_keeps_the_tone),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_failed_write_keeps_previous_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
