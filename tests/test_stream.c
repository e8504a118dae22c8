/* test_stream.c — streaming synthesis: with the exact context, the stream's audio equals
 * wg_synthesize's for the same mel, seed and sigma however the frames are pushed and the audio
 * pulled; with less context, the error against offline shrinks as the context grows. */
#include "testutil.h"

#include "../src/cli/cli.h" /* play's live defaults */

#define TINY DATA("reference/tiny.model.safetensors")
#define BUNDLED WG_SOURCE_DIR "/models/speech16k.safetensors"

static float *offline(const wg_model *m, const float *mel, size_t frames, size_t *n) {
    *n = wg_synth_samples(m, frames);
    float *a = malloc(*n * sizeof(float));
    wg_error err = {0};
    assert_int_equal(wg_synthesize(m, mel, frames, 0.6f, 99, a, NULL, &err), 0);
    return a;
}

/* pushes `block` frames at a time, pulling `pull` samples after each push */
static float *streamed(const wg_model *m, const float *mel, size_t frames, size_t block, size_t pull, double context_ms,
                       size_t chunk, size_t *n) {
    wg_stream_params p = wg_stream_default_params();
    p.seed = 99;
    p.context_ms = context_ms;
    p.chunk_steps = chunk;
    wg_stream *s;
    wg_error err = {0};
    assert_int_equal(wg_stream_create(m, &p, &s, &err), 0);
    size_t cap = frames * 256 + 1, got = 0;
    float *a = malloc(cap * sizeof(float));
    for (size_t f = 0; f < frames; f += block) {
        size_t k = frames - f < block ? frames - f : block;
        assert_int_equal(wg_stream_push(s, mel + f, k, frames, &err), 0);
        got += wg_stream_pull(s, a + got, pull);
    }
    assert_int_equal(wg_stream_finish(s, &err), 0);
    got += wg_stream_pull(s, a + got, cap - got);
    assert_int_equal(wg_stream_available(s), 0);
    *n = got;
    wg_stream_free(s);
    return a;
}

static float *clip_mel_of(const wg_model *m, const char *path, size_t *frames) {
    wg_audio a;
    wg_error err = {0};
    const wg_config *c = wg_model_config(m);
    assert_int_equal(wg_audio_read(path, c->sampling_rate, NULL, &a, &err), 0);
    wg_mel *fe;
    assert_int_equal(wg_mel_create(c, &fe, &err), 0);
    *frames = wg_mel_frames(fe, a.n_samples);
    float *mel = malloc((size_t)c->n_mel_channels * *frames * sizeof(float));
    assert_int_equal(wg_mel_compute(fe, a.samples, a.n_samples, mel, &err), 0);
    wg_mel_destroy(fe);
    wg_audio_free(&a);
    return mel;
}

static float *clip_mel(const wg_model *m, size_t *frames) {
    return clip_mel_of(m, WG_SOURCE_DIR "/audio/tt-weasels.wav", frames);
}

static void test_exact_context_equals_offline(void **state) {
    (void)state;
    wg_model *m;
    wg_error err = {0};
    assert_int_equal(wg_model_load(TINY, &m, &err), 0);
    size_t frames, n_ref;
    float *mel = clip_mel(m, &frames), *ref = offline(m, mel, frames, &n_ref);
    size_t blocks[] = {1, 3, 17, 1000}, pulls[] = {100, 7, 100000, 1}, chunks[] = {512, 40, 7, 0};
    for (int i = 0; i < 4; i++) {
        size_t n;
        float *a = streamed(m, mel, frames, blocks[i], pulls[i], -1, chunks[i], &n);
        assert_int_equal(n, n_ref);
        double e = max_abs_diff(a, ref, n);
        printf("push %4zu frames, pull %6zu, chunk %3zu steps: %zu samples, max |stream - offline| %.2e\n", blocks[i],
               pulls[i], chunks[i], n, e);
        assert_true(e <= 1e-4);
        free(a);
    }
    free(mel), free(ref);
    wg_model_free(m);
}

static void test_context_tradeoff(void **state) {
    (void)state;
    wg_model *m;
    wg_error err = {0};
    assert_int_equal(wg_model_load(TINY, &m, &err), 0);
    size_t frames, n_ref;
    float *mel = clip_mel(m, &frames), *ref = offline(m, mel, frames, &n_ref);
    double ms[] = {0, 2, 5, 10, 21}, snr_prev = -1e9;
    for (int i = 0; i < 5; i++) {
        size_t n;
        float *a = streamed(m, mel, frames, 4, 1 << 20, ms[i], 64, &n);
        assert_int_equal(n, n_ref);
        double se = 0, ss = 0;
        for (size_t j = 0; j < n; j++) se += (double)(a[j] - ref[j]) * (a[j] - ref[j]), ss += (double)ref[j] * ref[j];
        double snr = se > 0 ? 10 * log10(ss / se) : INFINITY;
        printf("context %4.1f ms: SNR vs offline %.1f dB\n", ms[i], snr);
        assert_true(snr >= snr_prev - 1.0); /* more context, no worse (within a dB) */
        snr_prev = snr;
        free(a);
    }
    assert_true(snr_prev > 60); /* 21 ms covers this model's 20.7 ms reach */
    free(mel), free(ref);
    wg_model_free(m);
}

/* The bundled model: exact with the exact context; with play's live defaults, >= 40 dB SNR */
static void test_bundled_model(void **state) {
    (void)state;
    if (!file_exists(BUNDLED)) {
        skip();
        return;
    }
    wg_model *m;
    wg_error err = {0};
    assert_int_equal(wg_model_load(BUNDLED, &m, &err), 0);
    const wg_config *c = wg_model_config(m);
    size_t frames, n_ref, n;
    float *mel = clip_mel_of(m, WG_SOURCE_DIR "/audio/hello-world.wav", &frames), *ref = offline(m, mel, frames, &n_ref);
    float *a = streamed(m, mel, frames, 5, 1 << 20, -1, 0, &n);
    assert_int_equal(n, n_ref);
    double e = max_abs_diff(a, ref, n);
    printf("bundled model, exact context: max |stream - offline| %.2e\n", e);
    assert_true(e <= 1e-4);
    free(a);
    size_t chunk = (size_t)llround(CLI_STREAM_CHUNK_MS * 1e-3 * c->sampling_rate / c->n_group);
    a = streamed(m, mel, frames, 4, 1 << 20, CLI_STREAM_CONTEXT_MS, chunk, &n);
    assert_int_equal(n, n_ref);
    double se = 0, ss = 0;
    for (size_t j = 0; j < n; j++) se += (double)(a[j] - ref[j]) * (a[j] - ref[j]), ss += (double)ref[j] * ref[j];
    double snr = se > 0 ? 10 * log10(ss / se) : INFINITY;
    printf("bundled model, play's defaults (context %g ms, chunk %zu steps): SNR vs offline %.1f dB\n",
           CLI_STREAM_CONTEXT_MS, chunk, snr);
    assert_true(snr >= 40);
    free(a), free(mel), free(ref);
    wg_model_free(m);
}

static void test_bad_input(void **state) {
    (void)state;
    wg_model *m;
    wg_error err = {0};
    assert_int_equal(wg_model_load(TINY, &m, &err), 0);
    wg_stream *s;
    assert_int_equal(wg_stream_create(m, NULL, &s, &err), 0);
    float frame[16] = {0};
    frame[3] = NAN;
    assert_int_equal(wg_stream_push(s, frame, 1, 1, &err), WG_ENONFINITE);
    frame[3] = 0;
    assert_int_equal(wg_stream_push(s, frame, 1, 1, &err), 0);
    assert_int_equal(wg_stream_finish(s, &err), 0);
    assert_int_equal(wg_stream_available(s), 256);
    assert_int_equal(wg_stream_push(s, frame, 1, 1, &err), WG_EINVAL);
    wg_stream_free(s);
    wg_stream_params p = wg_stream_default_params();
    p.sigma = -1;
    assert_int_equal(wg_stream_create(m, &p, &s, &err), WG_EINVAL);
    wg_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_context_equals_offline),
        cmocka_unit_test(test_context_tradeoff),
        cmocka_unit_test(test_bundled_model),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
