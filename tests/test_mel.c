/* test_mel.c — the log-mel front end against float64 references: torchaudio (cross-checked by
 * an independent numpy implementation, tools/make_mel_reference.py) on six configs (one with an
 * odd filter_length, which takes FFTW's r2c where even lengths take mel.c's split), and the
 * mel in NVIDIA's parity vectors. Max abs error on the log-mel must be <= 1e-4. */
#include <fftw3.h>
#include <pthread.h>

#include "mel.h"
#include "safetensors.h"
#include "testutil.h"

static const char *cases[] = {"nvidia22k", "speech16k", "shortwin16k", "small40", "tiny16", "odd16k"};

static double check_case(const char *name) {
    char path[256];
    wg_config cfg;
    wg_error err = {0};
    snprintf(path, sizeof path, DATA("mel/%s.json"), name);
    assert_int_equal(wg_config_load(path, &cfg, &err), 0);
    wg_array audio, ref;
    snprintf(path, sizeof path, DATA("mel/%s.audio.npy"), name);
    assert_int_equal(wg_npy_read(path, &audio, &err), 0);
    snprintf(path, sizeof path, DATA("mel/%s.mel.npy"), name);
    assert_int_equal(wg_npy_read(path, &ref, &err), 0);
    wg_mel *mel;
    assert_int_equal(wg_mel_create(&cfg, &mel, &err), 0);
    size_t frames = wg_mel_frames(mel, audio.shape[0]);
    assert_int_equal(ref.shape[0], cfg.n_mel_channels);
    assert_int_equal(ref.shape[1], frames);
    assert_int_equal(frames, 1 + audio.shape[0] / cfg.hop_length);
    float *out = malloc(sizeof(float) * ref.shape[0] * frames);
    assert_int_equal(wg_mel_compute(mel, audio.data, audio.shape[0], out, &err), 0);
    double e = max_abs_diff(out, ref.data, ref.shape[0] * frames);
    printf("%-12s (%d Hz, fft %d, hop %d, win %d, %d mels, %zu frames): max |log-mel error| = %.2e\n", name,
           cfg.sampling_rate, cfg.filter_length, cfg.hop_length, cfg.win_length, cfg.n_mel_channels, frames, e);
    free(out);
    wg_mel_destroy(mel);
    wg_array_free(&audio);
    wg_array_free(&ref);
    return e;
}

static void test_matches_float64_references(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_true(check_case(cases[i]) <= 1e-4);
}

static void test_matches_nvidia_parity_mel(void **state) {
    (void)state;
    wg_st_file io;
    wg_error err = {0};
    assert_int_equal(wg_st_read(DATA("reference/tiny.io.safetensors"), &io, &err), 0);
    const wg_st_tensor *ta = wg_st_find(&io, "audio"), *tm = wg_st_find(&io, "mel");
    assert_non_null(ta);
    assert_non_null(tm);
    float *audio = malloc(ta->numel * sizeof(float)), *ref = malloc(tm->numel * sizeof(float));
    assert_int_equal(wg_st_copy(&io, ta, audio, NULL), 0);
    assert_int_equal(wg_st_copy(&io, tm, ref, NULL), 0);
    wg_config cfg;
    assert_int_equal(wg_config_load(DATA("reference/tiny.config.json"), &cfg, &err), 0);
    wg_mel *mel;
    assert_int_equal(wg_mel_create(&cfg, &mel, &err), 0);
    assert_int_equal(wg_mel_frames(mel, ta->numel), tm->shape[1]);
    float *out = malloc(tm->numel * sizeof(float));
    assert_int_equal(wg_mel_compute(mel, audio, ta->numel, out, &err), 0);
    double e = max_abs_diff(out, ref, tm->numel);
    printf("NVIDIA parity mel: max |log-mel error| = %.2e\n", e);
    assert_true(e <= 1e-4);
    free(out);
    free(audio);
    free(ref);
    wg_mel_destroy(mel);
    wg_st_close(&io);
}

/* |STFT| of x in float64, written out as a DFT: the front end's framing (reflect padding) and its
 * centred periodic Hann window. out (filter_length/2 + 1, frames); each frame's largest in peak. */
static void float64_magnitude(const wg_config *cfg, const float *x, size_t n, size_t frames, double *out,
                              double *peak) {
    int n_fft = cfg->filter_length, bins = n_fft / 2 + 1, wl = cfg->win_length, lpad = (n_fft - wl) / 2;
    double *frame = malloc(sizeof(double) * (size_t)n_fft), *cs = malloc(sizeof(double) * 2 * (size_t)n_fft);
    for (int j = 0; j < n_fft; j++) /* cos, sin of 2 pi j / n_fft */
        cs[2 * j] = cos(2 * M_PI * j / n_fft), cs[2 * j + 1] = sin(2 * M_PI * j / n_fft);
    for (size_t f = 0; f < frames; f++) {
        long start = (long)(f * (size_t)cfg->hop_length) - n_fft / 2;
        for (int i = 0; i < n_fft; i++) {
            long p = start + i;
            p = p < 0 ? -p : p >= (long)n ? 2 * ((long)n - 1) - p : p;
            double w = i >= lpad && i < lpad + wl ? 0.5 - 0.5 * cos(2 * M_PI * (i - lpad) / wl) : 0;
            frame[i] = w * x[p];
        }
        peak[f] = 0;
        for (int k = 0; k < bins; k++) {
            double re = 0, im = 0;
            for (int i = 0; i < n_fft; i++) {
                long j = (long)k * i % n_fft;
                re += frame[i] * cs[2 * j];
                im -= frame[i] * cs[2 * j + 1];
            }
            out[(size_t)k * frames + f] = hypot(re, im);
            peak[f] = fmax(peak[f], out[(size_t)k * frames + f]);
        }
    }
    free(frame), free(cs);
}

/* wg_mel_magnitude (compare.c's LSD reads it) against the float64 DFT, every bin of every frame:
 * the LSD sums over bins, so bins out of order within a frame would not move it. Two configs:
 * win_length = filter_length, and a shorter window with fmax below Nyquist. */
static void test_magnitude_against_float64_dft(void **state) {
    (void)state;
    static const char *names[] = {"nvidia22k", "shortwin16k"};
    for (int c = 0; c < 2; c++) {
        char path[256];
        wg_config cfg;
        wg_error err = {0};
        snprintf(path, sizeof path, DATA("mel/%s.json"), names[c]);
        assert_int_equal(wg_config_load(path, &cfg, &err), 0);
        wg_array audio;
        snprintf(path, sizeof path, DATA("mel/%s.audio.npy"), names[c]);
        assert_int_equal(wg_npy_read(path, &audio, &err), 0);
        wg_mel *mel;
        assert_int_equal(wg_mel_create(&cfg, &mel, &err), 0);
        size_t n = audio.shape[0], frames = wg_mel_frames(mel, n), bins = (size_t)cfg.filter_length / 2 + 1;
        float *out = malloc(sizeof(float) * bins * frames);
        double *ref = malloc(sizeof(double) * bins * frames), *peak = malloc(sizeof(double) * frames);
        assert_int_equal(wg_mel_magnitude(mel, audio.data, n, out, &err), 0);
        float64_magnitude(&cfg, audio.data, n, frames, ref, peak);
        double worst = 0;
        for (size_t f = 0; f < frames; f++)
            for (size_t k = 0; k < bins; k++) /* relative to the frame's peak: float32 FFT error is absolute */
                worst = fmax(worst, fabs(out[k * frames + f] - ref[k * frames + f]) / fmax(peak[f], 1e-12));
        printf("%-12s |STFT|: max error %.2e of each frame's peak (%zu frames, %zu bins)\n", names[c], worst, frames,
               bins);
        assert_true(worst <= 1e-5);
        free(out), free(ref), free(peak);
        wg_array_free(&audio);
        wg_mel_destroy(mel);
    }
}

/* The log-mel against float64 (the DFT above, wg_mel_filterbank's weights, which the torchaudio
 * cases check) on configs that take each layout of mel.c's AVX2 split: bins past n_fft/4 + 8 (split_pairs
 * with its mirror groups, and with them reaching Nyquist), a low fmax (split_inlane's groups alone),
 * n_fft/2 not a multiple of 16 (no pairs, a ragged last group) and an odd n_fft (FFTW's r2c). */
static void test_split_layouts_against_float64(void **state) {
    (void)state;
    static const struct { int sr, n_fft, hop, win, n_mel; double fmin, fmax; } cases[] = {
        {22050, 1024, 256, 1024, 80, 0, 8000}, {16000, 1024, 256, 1024, 80, 0, 8000},
        {22050, 1024, 256, 1024, 40, 0, 4000}, {16000, 1000, 250, 1000, 64, 0, 8000},
        {16000, 936, 234, 900, 64, 30, 7000},  {16000, 1001, 160, 900, 48, 0, 8000},
    };
    wg_array audio;
    wg_error err = {0};
    assert_int_equal(wg_npy_read(DATA("mel/speech16k.audio.npy"), &audio, &err), 0);
    size_t n = audio.shape[0] < 8500 ? audio.shape[0] : 8500; /* 34-54 frames: two blocks and a short third */
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        wg_config cfg = wg_config_default();
        cfg.sampling_rate = cases[c].sr, cfg.filter_length = cases[c].n_fft, cfg.hop_length = cases[c].hop;
        cfg.win_length = cases[c].win, cfg.n_mel_channels = cases[c].n_mel;
        cfg.mel_fmin = cases[c].fmin, cfg.mel_fmax = cases[c].fmax;
        wg_mel *mel;
        assert_int_equal(wg_mel_create(&cfg, &mel, &err), 0);
        size_t frames = wg_mel_frames(mel, n), bins = (size_t)cfg.filter_length / 2 + 1;
        size_t M = (size_t)cfg.n_mel_channels;
        float *out = malloc(sizeof(float) * M * frames);
        double *mag = malloc(sizeof(double) * bins * frames), *peak = malloc(sizeof(double) * frames);
        double *bank = malloc(sizeof(double) * M * bins);
        assert_int_equal(wg_mel_compute(mel, audio.data, n, out, &err), 0);
        float64_magnitude(&cfg, audio.data, n, frames, mag, peak);
        assert_int_equal(
            wg_mel_filterbank(cfg.sampling_rate, cfg.filter_length, (int)M, cfg.mel_fmin, cfg.mel_fmax, bank), 0);
        double worst = 0;
        for (size_t j = 0; j < M; j++)
            for (size_t f = 0; f < frames; f++) {
                double sum = 0;
                for (size_t k = 0; k < bins; k++) sum += bank[j * bins + k] * mag[k * frames + f];
                worst = fmax(worst, fabs(out[j * frames + f] - log(fmax(sum, 1e-5))));
            }
        printf("%5d Hz, fft %4d, hop %3d, win %4d, %2zu mels, fmax %4.0f: max |log-mel error| = %.2e\n",
               cfg.sampling_rate, cfg.filter_length, cfg.hop_length, cfg.win_length, M, cfg.mel_fmax, worst);
        assert_true(worst <= 1e-4);
        free(out), free(mag), free(peak), free(bank);
        wg_mel_destroy(mel);
    }
    wg_array_free(&audio);
}

/* NaN and infinities are found from the filter sums where every sample reaches them (mel.c), by a
 * scan where not (hop_length > filter_length/2): at either end, where the window is zero, in a
 * last short block; an input whose spectrum overflows float is refused too; a failed call leaves
 * nothing behind that changes the next one's output. */
static void test_nonfinite_anywhere(void **state) {
    (void)state;
    enum { N = 4500 }; /* 18 frames at hop 256: a block of 16 and a short one */
    static float x[N], out[80 * 40], fresh[80 * 40];
    for (int i = 0; i < N; i++)
        x[i] = 0.1f * sinf(0.05f * i) + 0.01f * cosf(1.3f * i);
    for (int hop = 256; hop <= 1500; hop += 1244) { /* 1500: samples 512-987 lie in no frame */
        wg_config cfg = wg_config_default();
        cfg.hop_length = hop;
        wg_mel *mel, *clean;
        wg_error err = {0};
        assert_int_equal(wg_mel_create(&cfg, &mel, &err), 0);
        assert_int_equal(wg_mel_create(&cfg, &clean, &err), 0);
        size_t frames = wg_mel_frames(mel, N);
        assert_int_equal(wg_mel_compute(clean, x, N, fresh, &err), 0);
        /* at hop 256, 256 and 512 meet the window's zeros */
        const size_t where[] = {0, 1, 256, 700, 2049, 4095, N - 2, N - 1, 512};
        const float bad[] = {NAN, INFINITY, -INFINITY};
        for (size_t w = 0; w < sizeof where / sizeof *where; w++)
            for (int b = 0; b < 3; b++) {
                float keep = x[where[w]];
                x[where[w]] = bad[b];
                memset(&err, 0, sizeof err);
                assert_int_equal(wg_mel_compute(mel, x, N, out, &err), WG_ENONFINITE);
                char want[64];
                snprintf(want, sizeof want, "sample %zu is %s", where[w], b ? "infinite" : "NaN");
                if (!strstr(err.message, want))
                    fail_msg("hop %d: \"%s\" does not say \"%s\"", hop, err.message, want);
                x[where[w]] = keep;
            }
        assert_int_equal(wg_mel_compute(mel, x, N, out, &err), 0);
        assert_memory_equal(out, fresh, sizeof(float) * 80 * frames);
        /* a call of fewer frames than a block (16) reads rows the call before left: a failed call's
         * NaN ones must not reach its sums (nor turn into a false error) */
        x[3500] = NAN; /* frames 12-15: rows a 12-frame call does not rewrite */
        assert_int_equal(wg_mel_compute(mel, x, N, out, &err), WG_ENONFINITE);
        x[3500] = 0.0f;
        assert_int_equal(wg_mel_compute(mel, x, 3000, out, &err), 0);
        assert_int_equal(wg_mel_compute(clean, x, 3000, fresh, &err), 0);
        assert_memory_equal(out, fresh, sizeof(float) * 80 * wg_mel_frames(mel, 3000));
        static float loud[N];
        for (int i = 0; i < N; i++)
            loud[i] = (i % 2 ? 1e37f : -1e37f);
        assert_int_equal(wg_mel_compute(mel, loud, N, out, &err), WG_EINVAL);
        assert_non_null(strstr(err.message, "overflows"));
        wg_mel_destroy(mel);
        wg_mel_destroy(clean);
    }
}

static void test_short_and_nonfinite_inputs(void **state) {
    (void)state;
    wg_config cfg = wg_config_default(); /* filter_length 1024: needs more than 512 samples */
    wg_mel *mel;
    wg_error err = {0};
    assert_int_equal(wg_mel_create(&cfg, &mel, &err), 0);
    float x[600] = {0};
    for (int i = 0; i < 600; i++)
        x[i] = 0.1f * sinf(0.3f * i);
    float out[80 * 3];
    assert_int_equal(wg_mel_compute(mel, x, 512, out, &err), WG_ETOOSHORT);
    assert_non_null(strstr(err.message, "too short"));
    assert_int_equal(wg_mel_compute(mel, x, 0, out, &err), WG_ETOOSHORT);
    assert_int_equal(wg_mel_frames(mel, 513), 3);
    assert_int_equal(wg_mel_compute(mel, x, 513, out, &err), 0);
    for (int i = 0; i < 80 * 3; i++)
        assert_true(isfinite(out[i]) && out[i] >= logf(1e-5f) - 1e-6f);
    x[300] = NAN;
    assert_int_equal(wg_mel_compute(mel, x, 600, out, &err), WG_ENONFINITE);
    assert_non_null(strstr(err.message, "sample 300"));
    /* silence hits the 1e-5 floor exactly */
    float zeros[2048] = {0};
    float sil[80 * 9];
    assert_int_equal(wg_mel_compute(mel, zeros, 2048, sil, &err), 0);
    for (int i = 0; i < 80 * 9; i++)
        assert_float_equal(sil[i], logf(1e-5f), 1e-6);
    wg_mel_destroy(mel);
}

typedef struct {
    const wg_array *audio;
    const wg_config *cfg;
    float *out;
} job;

static void *run_job(void *arg) {
    job *j = arg;
    wg_mel *mel;
    if (wg_mel_create(j->cfg, &mel, NULL))
        return NULL;
    for (int rep = 0; rep < 5; rep++)
        wg_mel_compute(mel, j->audio->data, j->audio->shape[0], j->out, NULL);
    wg_mel_destroy(mel);
    return NULL;
}

/* The output does not depend on where the samples sit in memory (FFTW's plans are made for one
 * alignment; a frame transformed where it lies would have to match it), and the input is left as
 * it was: offsets of 0 to 15 floats from a 64-byte boundary give the same bits. */
static void test_any_alignment(void **state) {
    (void)state;
    enum { N = 9008 }; /* (N + 64) floats: whole 64-byte lines, as aligned_alloc requires */
    wg_config cfg = wg_config_default();
    wg_mel *mel;
    wg_error err = {0};
    assert_int_equal(wg_mel_create(&cfg, &mel, &err), 0);
    size_t frames = wg_mel_frames(mel, N), n_out = (size_t)cfg.n_mel_channels * frames;
    float *buf = aligned_alloc(64, sizeof(float) * (N + 64)), *keep = malloc(sizeof(float) * N);
    float *first = malloc(sizeof(float) * n_out), *out = malloc(sizeof(float) * n_out);
    for (int i = 0; i < N; i++)
        keep[i] = 0.2f * sinf(0.013f * i * (1.0f + 0.0001f * i)) + 0.01f * cosf(2.1f * i);
    for (int off = 0; off < 16; off++) {
        float *x = buf + off;
        memcpy(x, keep, sizeof(float) * N);
        assert_int_equal(wg_mel_compute(mel, x, N, off ? out : first, &err), 0);
        assert_memory_equal(x, keep, sizeof(float) * N);
        if (off)
            assert_memory_equal(out, first, sizeof(float) * n_out);
    }
    assert_true(max_abs(first, n_out) > 1.0);
    free(buf), free(keep), free(first), free(out);
    wg_mel_destroy(mel);
}

static void test_parallel_objects_agree(void **state) {
    (void)state;
    wg_config cfg;
    wg_array audio;
    wg_error err = {0};
    assert_int_equal(wg_config_load(DATA("mel/speech16k.json"), &cfg, &err), 0);
    assert_int_equal(wg_npy_read(DATA("mel/speech16k.audio.npy"), &audio, &err), 0);
    size_t n = (size_t)cfg.n_mel_channels * (1 + audio.shape[0] / cfg.hop_length);
    job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (job){&audio, &cfg, calloc(n, sizeof(float))};
        pthread_create(&th[i], NULL, run_job, &jobs[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 1; i < 4; i++)
        assert_memory_equal(jobs[i].out, jobs[0].out, n * sizeof(float));
    assert_true(max_abs(jobs[0].out, n) > 1.0); /* it computed something */
    for (int i = 0; i < 4; i++)
        free(jobs[i].out);
    wg_array_free(&audio);
}

/* mel.c's kept FFTW wisdom parses with the FFTW that made it, and covers the half-length
 * transform of the usual filter_length 1024: FFTW_WISDOM_ONLY plans nothing without wisdom for
 * the problem. With another FFTW, FFTW refuses the wisdom and mel.c plans as without it. */
static void test_fftw_wisdom_applies(void **state) {
    (void)state;
    if (strcmp(fftwf_version, WG_MEL_FFTW_WISDOM_VERSION) || !__builtin_cpu_supports("avx")) {
        printf("FFTW %s (wisdom made with %s), AVX %d: nothing to check\n", fftwf_version,
               WG_MEL_FFTW_WISDOM_VERSION, __builtin_cpu_supports("avx"));
        skip();
    }
    fftwf_complex *in = fftwf_malloc(sizeof(fftwf_complex) * 512), *out = fftwf_malloc(sizeof(fftwf_complex) * 512);
    fftwf_forget_wisdom();
    fftwf_plan none = fftwf_plan_dft_1d(512, in, out, FFTW_FORWARD, FFTW_ESTIMATE | FFTW_WISDOM_ONLY);
    assert_null(none);
    assert_int_equal(fftwf_import_wisdom_from_string(wg_mel_fftw_wisdom()), 1);
    fftwf_plan p = fftwf_plan_dft_1d(512, in, out, FFTW_FORWARD, FFTW_ESTIMATE | FFTW_WISDOM_ONLY);
    assert_non_null(p);
    fftwf_destroy_plan(p);
    fftwf_free(in);
    fftwf_free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_float64_references),
        cmocka_unit_test(test_matches_nvidia_parity_mel),
        cmocka_unit_test(test_magnitude_against_float64_dft),
        cmocka_unit_test(test_split_layouts_against_float64),
        cmocka_unit_test(test_short_and_nonfinite_inputs),
        cmocka_unit_test(test_nonfinite_anywhere),
        cmocka_unit_test(test_any_alignment),
        cmocka_unit_test(test_parallel_objects_agree),
        cmocka_unit_test(test_fftw_wisdom_applies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
