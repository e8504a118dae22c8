/* test_denoise.c — NVIDIA's denoiser: the STFT spectral subtraction against a float64 numpy
 * transcription of NVIDIA's STFT class with an explicit pinv inverse
 * (tools/make_denoise_reference.py), and the denoiser built from a model. */
#include "denoise.h"
#include "testutil.h"

static wg_array load(const char *rel) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", WG_TEST_DATA, rel);
    wg_array a;
    wg_error err = {0};
    assert_int_equal(wg_npy_read(path, &a, &err), 0);
    return a;
}

static void test_matches_reference(void **state) {
    (void)state;
    wg_array x = load("denoise/input.npy"), bias = load("denoise/bias.npy"), mag0 = load("denoise/first_magnitude.npy");
    size_t n = x.shape[0];
    float *y = malloc(n * sizeof(float)), mag[WG_DENOISE_BINS];
    assert_int_equal(wg_stft_first_magnitude(x.data, n, mag), 0);
    double em = max_abs_diff(mag, mag0.data, WG_DENOISE_BINS) / max_abs(mag0.data, WG_DENOISE_BINS);
    printf("first-frame magnitude: max rel err %.2e\n", em);
    assert_true(em < 1e-5);
    const char *names[] = {"denoise/out_0.0.npy", "denoise/out_0.1.npy", "denoise/out_1.0.npy"};
    float strengths[] = {0.0f, 0.1f, 1.0f};
    for (int i = 0; i < 3; i++) {
        wg_array ref = load(names[i]);
        assert_int_equal(wg_stft_subtract(bias.data, strengths[i], x.data, n, y), 0);
        double e = max_abs_diff(y, ref.data, n) / max_abs(ref.data, n);
        double change = max_abs_diff(ref.data, x.data, n) / max_abs(x.data, n);
        printf("strength %.1f: max |err| / max |ref| = %.2e (the denoiser changed the signal by %.2e)\n", strengths[i],
               e, change);
        assert_true(e < 1e-5);
        wg_array_free(&ref);
    }
    /* lengths that are not whole hops keep every sample, and in-place works */
    memcpy(y, x.data, n * sizeof(float));
    assert_int_equal(wg_stft_subtract(bias.data, 0.0f, y, n - 77, y), 0);
    double e = max_abs_diff(y, x.data, n - 77);
    printf("strength 0 on %zu samples (not whole hops), in place: max |y - x| %.2e\n", n - 77, e);
    assert_true(e < 1e-5);
    assert_int_equal(wg_stft_subtract(bias.data, 0.1f, x.data, 512, y), WG_ETOOSHORT);
    free(y);
    wg_array_free(&x), wg_array_free(&bias), wg_array_free(&mag0);
}

static void test_denoiser_removes_the_model_bias(void **state) {
    (void)state;
    wg_model *m;
    wg_error err = {0};
    assert_int_equal(wg_model_load(DATA("reference/tiny.model.safetensors"), &m, &err), 0);
    wg_denoiser *d;
    assert_int_equal(wg_denoiser_create(m, NULL, &d, &err), 0);
    /* the model's own bias audio (zero mel, sigma 0) is what the denoiser removes */
    size_t frames = 88, n = wg_synth_samples(m, frames);
    float *mel = calloc(16 * frames, sizeof(float)), *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    assert_int_equal(wg_synthesize(m, mel, frames, 0.0f, 0, a, NULL, &err), 0);
    assert_int_equal(wg_denoiser_apply(d, a, n, 1.0f, b, &err), 0);
    double ea = 0, eb = 0;
    for (size_t i = 0; i < n; i++)
        ea += (double)a[i] * a[i], eb += (double)b[i] * b[i];
    printf("bias audio energy %.4g, after denoising at strength 1: %.4g (%.1f dB less)\n", ea, eb,
           10 * log10(ea / fmax(eb, 1e-300)));
    assert_true(eb < 0.25 * ea);
    assert_int_equal(wg_denoiser_apply(d, a, n, -1.0f, b, &err), WG_EINVAL);
    assert_int_equal(wg_denoiser_apply(d, a, 300, 0.1f, b, &err), WG_ETOOSHORT);
    assert_non_null(strstr(err.message, "too short"));
    free(mel), free(a), free(b);
    wg_denoiser_free(d);
    wg_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_reference),
        cmocka_unit_test(test_denoiser_removes_the_model_bias),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
