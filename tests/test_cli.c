/* test_cli.c — the `waveglow` program: help, exit codes, and `mel` / `info` on real files,
 * with the CLI's output checked against the library's. */
#include "testutil.h"

static char out[65536];

static void test_help_lists_only_what_works(void **state) {
    (void)state;
    assert_int_equal(run_cli(out, sizeof out, "--help"), 0);
    /* every command listed answers --help with its usage, and nothing unlisted is a command */
    static const char *commands[] = {"mel", "info", "vocode", "play", "encode", "decode",
                                     "score", "compare", "train", "export", "fold"};
    char listing[sizeof out];
    memcpy(listing, out, sizeof out);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char needle[32], usage[64];
        snprintf(needle, sizeof needle, "\n  %s ", commands[i]);
        assert_non_null(strstr(listing, needle));
        assert_int_equal(run_cli(out, sizeof out, "%s --help", commands[i]), 0);
        snprintf(usage, sizeof usage, "usage: waveglow %s", commands[i]);
        assert_non_null(strstr(out, usage));
    }
    int listed = 0;
    for (const char *p = strstr(listing, "commands:"); p && (p = strstr(p, "\n  ")); p++) listed++;
    assert_int_equal(listed, (int)(sizeof commands / sizeof commands[0]));
    assert_int_equal(run_cli(out, sizeof out, "frobnicate"), 2);
    assert_non_null(strstr(out, "unknown command"));
    assert_int_equal(run_cli(out, sizeof out, "%s", ""), 2);
    assert_int_equal(run_cli(out, sizeof out, "mel --bogus x"), 2);
}

static void read_file(const char *path, char *buf, size_t n) {
    FILE *fp = fopen(path, "r");
    size_t got = fp ? fread(buf, 1, n - 1, fp) : 0;
    buf[got] = '\0';
    if (fp) fclose(fp);
}

/* --version names the BLAS and its kernels: the ones OPENBLAS_CORETYPE asks for, else those
 * OpenBLAS picks for this CPU */
static void test_version_names_the_blas_kernels(void **state) {
    (void)state;
    char log[512];
    tmp_path(log, sizeof log, "version.txt");
    const char *cores[] = {"Haswell", "Sandybridge"};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(sh("OPENBLAS_CORETYPE=%s %s --version >%s 2>&1", cores[i], WG_CLI_PATH, log), 0);
        read_file(log, out, sizeof out);
        printf("%s", out);
        assert_non_null(strstr(out, "BLAS: OpenBLAS"));
        if (strstr(out, "DYNAMIC_ARCH")) {
            char want[64];
            snprintf(want, sizeof want, "; %s kernels", cores[i]);
            assert_non_null(strstr(out, want));
            /* pinned below AVX-512 on a CPU that has it: the line says so */
            __builtin_cpu_init();
            bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
            assert_true((strstr(out, "pins them; this CPU has AVX-512") != NULL) == avx512);
            /* and train, whose runs it slows for hours, warns of it before it starts (here on data
             * that does not exist), and only then */
            char run[512];
            tmp_path(run, sizeof run, "pinned_run");
            for (int pin = 0; pin < 2; pin++) {
                assert_int_not_equal(sh("%s%s %s train --config %s --data %s/nowhere --out %s >%s 2>&1",
                                        pin ? "OPENBLAS_CORETYPE=" : "env -u OPENBLAS_CORETYPE", pin ? cores[i] : "",
                                        WG_CLI_PATH, DATA("reference/tiny.config.json"), tmp_dir(), run, log),
                                     0);
                read_file(log, out, sizeof out);
                assert_true((strstr(out, "note: OPENBLAS_CORETYPE=") != NULL) == (pin && avx512));
            }
        }
    }
}

static void test_mel_matches_library(void **state) {
    (void)state;
    char npy[512];
    tmp_path(npy, sizeof npy, "hello.npy");
    assert_int_equal(run_cli(out, sizeof out, "mel %s/audio/hello-world.wav -o %s --config %s", WG_SOURCE_DIR, npy,
                             DATA("mel/speech16k.json")),
                     0);
    assert_non_null(strstr(out, "80 mels"));
    wg_array a;
    wg_error err = {0};
    assert_int_equal(wg_npy_read(npy, &a, &err), 0);
    wg_config cfg;
    assert_int_equal(wg_config_load(DATA("mel/speech16k.json"), &cfg, &err), 0);
    wg_audio audio;
    assert_int_equal(wg_audio_read(WG_SOURCE_DIR "/audio/hello-world.wav", 16000, NULL, &audio, &err), 0);
    assert_int_equal(a.shape[0], 80);
    assert_int_equal(a.shape[1], 1 + audio.n_samples / 256);
    wg_mel *mel;
    assert_int_equal(wg_mel_create(&cfg, &mel, &err), 0);
    float *ref = malloc(sizeof(float) * a.shape[0] * a.shape[1]);
    assert_int_equal(wg_mel_compute(mel, audio.samples, audio.n_samples, ref, &err), 0);
    assert_memory_equal(ref, a.data, sizeof(float) * a.shape[0] * a.shape[1]);
    free(ref);
    wg_mel_destroy(mel);
    wg_audio_free(&audio);
    wg_array_free(&a);
    /* default config is NVIDIA's 22.05 kHz: the 16 kHz clip is resampled, and the user is told */
    assert_int_equal(run_cli(out, sizeof out, "mel %s/audio/hello-world.wav -o %s", WG_SOURCE_DIR, npy), 0);
    assert_non_null(strstr(out, "resampled from 16000 Hz to the model's 22050 Hz"));
    /* the reference model's config */
    assert_int_equal(run_cli(out, sizeof out, "mel %s/audio/hello-world.wav -o %s --model %s -q", WG_SOURCE_DIR, npy,
                             DATA("reference/tiny.model.safetensors")),
                     0);
    assert_int_equal(wg_npy_read(npy, &a, &err), 0);
    assert_int_equal(a.shape[0], 16);
    wg_array_free(&a);
}

static void test_resample_option(void **state) {
    (void)state;
    char a[512], b[512];
    tmp_path(a, sizeof a, "best.npy");
    tmp_path(b, sizeof b, "linear.npy");
    assert_int_equal(run_cli(out, sizeof out, "mel %s/audio/hello-world.wav -o %s -q", WG_SOURCE_DIR, a), 0);
    assert_int_equal(
        run_cli(out, sizeof out, "mel %s/audio/hello-world.wav -o %s -q --resample linear", WG_SOURCE_DIR, b), 0);
    wg_array x, y;
    wg_error err = {0};
    assert_int_equal(wg_npy_read(a, &x, &err), 0);
    assert_int_equal(wg_npy_read(b, &y, &err), 0);
    double d = max_abs_diff(x.data, y.data, x.shape[0] * x.shape[1]);
    printf("log-mel, best sinc vs linear resampling: max |diff| %.3f\n", d);
    assert_true(d > 1e-3); /* the option reaches libsamplerate */
    wg_array_free(&x);
    wg_array_free(&y);
    assert_int_equal(run_cli(out, sizeof out, "mel %s/audio/hello-world.wav -o %s --resample bogus", WG_SOURCE_DIR, a),
                     2);
    assert_non_null(strstr(out, "--resample expects"));
}

static void test_mel_bad_input(void **state) {
    (void)state;
    char npy[512], keep[512];
    tmp_path(npy, sizeof npy, "bad.npy");
    assert_int_equal(run_cli(out, sizeof out, "mel /nonexistent.wav -o %s", npy), 2);
    assert_non_null(strstr(out, "/nonexistent.wav"));
    assert_false(file_exists(npy));
    assert_int_equal(run_cli(out, sizeof out, "mel %s -o %s", tmp_dir(), npy), 2);
    assert_non_null(strstr(out, "not a regular file"));
    assert_int_equal(run_cli(out, sizeof out, "mel %s/audio/hello-world.wav", WG_SOURCE_DIR), 2);
    assert_non_null(strstr(out, "missing -o"));
    assert_int_equal(run_cli(out, sizeof out, "mel %s/audio/hello-world.wav -o /nonexistent-dir/x.npy", WG_SOURCE_DIR),
                     2);
    assert_non_null(strstr(out, "/nonexistent-dir"));
    assert_int_equal(run_cli(out, sizeof out, "mel %s/audio/hello-world.wav -o %s --model %s --config %s",
                             WG_SOURCE_DIR, npy, DATA("reference/tiny.model.safetensors"),
                             DATA("reference/tiny.config.json")),
                     2);
    /* a file too short for reflect padding: an error, and the previous output survives */
    tmp_path(keep, sizeof keep, "keep.npy");
    float x[3] = {1, 2, 3};
    size_t shape[1] = {3};
    wg_error err = {0};
    assert_int_equal(wg_npy_write(keep, x, 1, shape, &err), 0);
    char shortwav[512];
    tmp_path(shortwav, sizeof shortwav, "short.wav");
    float s[100] = {0.1f};
    assert_int_equal(wg_audio_write(shortwav, s, 100, 22050, WG_FORMAT_PCM16, NULL, &err), 0);
    assert_int_equal(run_cli(out, sizeof out, "mel %s -o %s", shortwav, keep), 2);
    assert_non_null(strstr(out, "too short"));
    wg_array a;
    assert_int_equal(wg_npy_read(keep, &a, &err), 0);
    assert_int_equal(a.shape[0], 3);
    wg_array_free(&a);
}

static void test_info(void **state) {
    (void)state;
    assert_int_equal(run_cli(out, sizeof out, "info --model %s", DATA("reference/tiny.model.safetensors")), 0);
    assert_non_null(strstr(out, "receptive field: 456 samples"));
    assert_non_null(strstr(out, "4 flows"));
    assert_int_equal(run_cli(out, sizeof out, "info --config %s", DATA("reference/tiny.config.json")), 0);
    assert_int_equal(run_cli(out, sizeof out, "info"), 2);
    assert_int_equal(run_cli(out, sizeof out, "info --model %s/audio/hello-world.wav", WG_SOURCE_DIR), 2);
    assert_non_null(strstr(out, "hello-world.wav"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_lists_only_what_works),
        cmocka_unit_test(test_version_names_the_blas_kernels),
        cmocka_unit_test(test_mel_matches_library),
        cmocka_unit_test(test_resample_option),
        cmocka_unit_test(test_mel_bad_input),
        cmocka_unit_test(test_info),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
