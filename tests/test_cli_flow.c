/* test_cli_flow.c — `encode`, `decode`, `vocode` and `score` on the reference model: results
 * equal to the library's, decode(encode(x)) = x through files, determinism by seed, bad input,
 * and a 10-minute synthesis in bounded memory. */
#include <sys/resource.h>

#include "condfold.h"
#include "testutil.h"

#define TINY DATA("reference/tiny.model.safetensors")
#define CLIP WG_SOURCE_DIR "/audio/hello-world.wav"

static char out[1 << 16];

static void test_encode_decode_round_trip(void **state) {
    (void)state;
    char z[512], mel[512], dec[512];
    tmp_path(z, sizeof z, "z.npy");
    tmp_path(mel, sizeof mel, "mel.npy");
    tmp_path(dec, sizeof dec, "dec.npy");
    assert_int_equal(run_cli(out, sizeof out, "encode --model %s %s -o %s", TINY, CLIP, z), 0);
    assert_non_null(strstr(out, "dropped the last 3 samples"));
    assert_non_null(strstr(out, "bits per 16-bit sample"));
    assert_int_equal(run_cli(out, sizeof out, "mel --model %s %s -o %s -q", TINY, CLIP, mel), 0);
    assert_int_equal(run_cli(out, sizeof out, "decode --model %s --mel %s %s -o %s", TINY, mel, z, dec), 0);
    wg_array y;
    wg_audio x;
    wg_error err = {0};
    assert_int_equal(wg_npy_read(dec, &y, &err), 0);
    assert_int_equal(wg_audio_read(CLIP, 22050, NULL, &x, &err), 0);
    assert_int_equal(y.shape[0], x.n_samples / 8 * 8);
    double e = max_abs_diff(y.data, x.samples, y.shape[0]) / max_abs(x.samples, y.shape[0]);
    printf("decode(encode(x)) through files: max |err| / max |x| = %.2e\n", e);
    assert_true(e <= 1e-5);
    wg_array_free(&y);
    wg_audio_free(&x);
    /* --json carries the same numbers as the library computes */
    assert_int_equal(run_cli(out, sizeof out, "encode --model %s %s -o %s --json", TINY, CLIP, z), 0);
    assert_non_null(strstr(out, "\"bits_per_16bit_sample\":"));
    assert_null(strstr(out, "dropped")); /* JSON on stdout stays clean */
    /* bad shapes */
    assert_int_equal(run_cli(out, sizeof out, "decode --model %s --mel %s %s -o %s", TINY, z, z, dec), 2);
    assert_non_null(strstr(out, "a mel must be (n_mel = 16, frames)"));
    assert_int_equal(run_cli(out, sizeof out, "decode --model %s --mel %s %s -o %s", TINY, mel, mel, dec), 2);
    assert_non_null(strstr(out, "z must be (n_group = 8"));
    assert_int_equal(run_cli(out, sizeof out, "encode --model %s %s -o %s", TINY, mel, z), 2);
}

static void test_vocode_is_deterministic(void **state) {
    (void)state;
    char a[512], b[512], c[512];
    tmp_path(a, sizeof a, "a.npy");
    tmp_path(b, sizeof b, "b.npy");
    tmp_path(c, sizeof c, "c.wav");
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s --seed 5 -t 1", TINY, CLIP, a), 0);
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s --seed 5 -t 2", TINY, CLIP, b), 0);
    wg_array x, y;
    wg_error err = {0};
    assert_int_equal(wg_npy_read(a, &x, &err), 0);
    assert_int_equal(wg_npy_read(b, &y, &err), 0);
    double e = max_abs_diff(x.data, y.data, x.shape[0]);
    printf("vocode seed 5, 1 vs 2 threads: max |diff| %.2e\n", e);
    assert_true(e <= 1e-5 * max_abs(x.data, x.shape[0]));
    wg_array_free(&y);
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s --seed 6 -q", TINY, CLIP, b), 0);
    assert_int_equal(wg_npy_read(b, &y, &err), 0);
    assert_true(max_abs_diff(x.data, y.data, x.shape[0]) > 1e-2);
    wg_array_free(&y);
    /* the library gives the same audio for the same mel, sigma and seed */
    wg_model *m;
    assert_int_equal(wg_model_load(TINY, &m, &err), 0);
    char mel[512];
    tmp_path(mel, sizeof mel, "vm.npy");
    assert_int_equal(run_cli(out, sizeof out, "mel --model %s %s -o %s -q", TINY, CLIP, mel), 0);
    wg_array mm;
    assert_int_equal(wg_npy_read(mel, &mm, &err), 0);
    float *lib = malloc(x.shape[0] * sizeof(float));
    assert_int_equal(wg_synthesize(m, mm.data, mm.shape[1], 0.6f, 5, lib, NULL, &err), 0);
    assert_true(max_abs_diff(lib, x.data, x.shape[0]) <= 1e-5 * max_abs(lib, x.shape[0]));
    /* from the mel .npy, with the denoiser, to a WAV: clipping is counted and said */
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s --seed 5 --denoise 0.1", TINY, mel, c), 0);
    assert_non_null(strstr(out, "real time"));
    wg_audio w;
    assert_int_equal(wg_audio_read(c, 0, NULL, &w, &err), 0);
    assert_int_equal(w.n_samples, x.shape[0]);
    assert_int_equal(w.sample_rate, 22050);
    wg_audio_free(&w);
    free(lib);
    wg_array_free(&mm);
    wg_array_free(&x);
    wg_model_free(m);
    /* --stream --context exact: the streaming engine gives the offline audio */
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s --seed 5 --stream --context exact --chunk 10 -q",
                             TINY, CLIP, b),
                     0);
    assert_int_equal(wg_npy_read(a, &x, &err), 0);
    assert_int_equal(wg_npy_read(b, &y, &err), 0);
    assert_int_equal(x.shape[0], y.shape[0]);
    printf("vocode --stream vs offline: max |diff| %.2e\n", max_abs_diff(x.data, y.data, x.shape[0]));
    assert_true(max_abs_diff(x.data, y.data, x.shape[0]) <= 1e-4);
    wg_array_free(&x);
    wg_array_free(&y);
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s --stream --context soon", TINY, CLIP, a), 2);
    assert_non_null(strstr(out, "--context"));
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s --stream --chunk 0", TINY, CLIP, a), 2);
    assert_non_null(strstr(out, "--chunk"));
    /* --fold on folds even for a clip this short (121 frames, one window): the same audio to
     * float32 rounding */
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s --seed 5 -t 1 --fold on", TINY, CLIP, b), 0);
    assert_non_null(strstr(out, "conditioning folded"));
    assert_int_equal(wg_npy_read(a, &x, &err), 0);
    assert_int_equal(wg_npy_read(b, &y, &err), 0);
    assert_int_equal(x.shape[0], y.shape[0]);
    printf("vocode --fold on vs auto (unfolded at this length): max |diff| %.2e\n",
           max_abs_diff(x.data, y.data, x.shape[0]));
    assert_true(max_abs_diff(x.data, y.data, x.shape[0]) <= 1e-5 * max_abs(x.data, x.shape[0]));
    wg_array_free(&x);
    wg_array_free(&y);
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s --fold maybe", TINY, CLIP, a), 2);
    assert_non_null(strstr(out, "--fold"));
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s --sigma -1", TINY, CLIP, a), 2);
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s /nonexistent.npy -o %s", TINY, a), 2);
    assert_non_null(strstr(out, "/nonexistent.npy"));
}

/* The two files' arrays: the same bits where rel = 0, else within rel of the first's max |x|. */
static void assert_same_npy(const char *x_path, const char *y_path, double rel) {
    wg_array x, y;
    wg_error err = {0};
    assert_int_equal(wg_npy_read(x_path, &x, &err), 0);
    assert_int_equal(wg_npy_read(y_path, &y, &err), 0);
    assert_int_equal(x.shape[0], y.shape[0]);
    if (rel == 0)
        assert_memory_equal(x.data, y.data, x.shape[0] * sizeof(float));
    else
        assert_true(max_abs_diff(x.data, y.data, x.shape[0]) <= rel * max_abs(x.data, x.shape[0]));
    wg_array_free(&x);
    wg_array_free(&y);
}

/* `waveglow fold` writes the fold beside the model, where vocode finds and maps it: the audio of
 * `--fold on` (which builds it in the process), bit for bit; encode, decode and score map it
 * too (decode(encode(x)) = x through it); --fold off leaves it alone; a
 * damaged one is a note and the unfolded path, and an error when given by --fold-file, as is
 * one built from another model. */
static void test_fold_command(void **state) {
    (void)state;
    char model[512], fold[512], a[512], b[512];
    tmp_path(model, sizeof model, "tiny.safetensors");
    tmp_path(fold, sizeof fold, "tiny.fold");
    tmp_path(a, sizeof a, "built.npy");
    tmp_path(b, sizeof b, "mapped.npy");
    assert_int_equal(sh("cp %s %s", TINY, model), 0);
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s --seed 5 -t 1 --fold on", model, CLIP, a), 0);
    assert_non_null(strstr(out, "conditioning folded"));
    assert_int_equal(run_cli(out, sizeof out, "fold --model %s -t 1", model), 0);
    assert_non_null(strstr(out, fold));
    assert_true(file_exists(fold));
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s --seed 5 -t 1", model, CLIP, b), 0);
    assert_non_null(strstr(out, "mapped from"));
    assert_same_npy(a, b, 0);
    assert_int_equal(run_cli(out, sizeof out, "info --model %s", model), 0);
    assert_non_null(strstr(out, "fold file:"));
    assert_non_null(strstr(out, "checked"));
    assert_null(strstr(out, "layout"));
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s --seed 5 -t 1 --fold off", model, CLIP, b), 0);
    assert_null(strstr(out, "fold"));
    /* encode, decode and score map it too: decode(encode(x)) = x through the mapped fold */
    char z[512], mel[512];
    tmp_path(z, sizeof z, "fold-z.npy");
    tmp_path(mel, sizeof mel, "fold-mel.npy");
    assert_int_equal(run_cli(out, sizeof out, "encode --model %s %s -o %s -t 1", model, CLIP, z), 0);
    assert_non_null(strstr(out, "mapped from"));
    assert_int_equal(run_cli(out, sizeof out, "mel --model %s %s -o %s -q", model, CLIP, mel), 0);
    assert_int_equal(run_cli(out, sizeof out, "decode --model %s --mel %s %s -o %s -t 1", model, mel, z, b), 0);
    assert_non_null(strstr(out, "mapped from"));
    wg_array y;
    wg_audio x;
    wg_error err = {0};
    assert_int_equal(wg_npy_read(b, &y, &err), 0);
    assert_int_equal(wg_audio_read(CLIP, 22050, NULL, &x, &err), 0);
    double e = max_abs_diff(y.data, x.samples, y.shape[0]) / max_abs(x.samples, y.shape[0]);
    printf("decode(encode(x)) through the mapped fold: max |err| / max |x| = %.2e\n", e);
    assert_true(e <= 1e-5);
    wg_array_free(&y);
    wg_audio_free(&x);
    assert_int_equal(run_cli(out, sizeof out, "score --model %s %s -t 1", model, CLIP), 0);
    assert_non_null(strstr(out, "mapped from"));
    assert_int_equal(run_cli(out, sizeof out, "score --model %s %s -t 1 --fold off", model, CLIP), 0);
    assert_null(strstr(out, "fold"));
    assert_int_equal(run_cli(out, sizeof out, "score --model %s %s --fold maybe", model, CLIP), 2);
    /* a damaged fold file: a note, then the path without it; an error where asked for by name */
    assert_int_equal(sh("printf 'X' | dd of=%s bs=1 seek=4000 conv=notrunc status=none", fold), 0);
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s --seed 5 -t 1", model, CLIP, b), 0);
    assert_non_null(strstr(out, "note: not using the fold file"));
    assert_non_null(strstr(out, "checksum"));
    assert_int_equal(run_cli(out, sizeof out, "info --model %s", model), 0);
    assert_non_null(strstr(out, "fold file: not used"));
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s --fold-file %s", model, CLIP, b, fold), 2);
    assert_non_null(strstr(out, "checksum"));
    /* another model's fold; options that contradict --fold-file; a fold that cannot be written */
    assert_int_equal(run_cli(out, sizeof out, "fold --model %s -q -o %s", model, fold), 0);
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s/models/speech16k.safetensors %s -o %s --fold-file %s",
                             WG_SOURCE_DIR, CLIP, b, fold), 2);
    assert_non_null(strstr(out, "waveglow fold"));
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s --fold off --fold-file %s", model, CLIP, b,
                             fold), 2);
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s --stream --fold-file %s", model, CLIP, b,
                             fold), 2);
    assert_int_equal(run_cli(out, sizeof out, "score --model %s %s --fold off --fold-file %s", model, CLIP, fold), 2);
    assert_int_equal(run_cli(out, sizeof out, "fold --model %s -o /nonexistent/dir/x.fold", model), 2);
    assert_non_null(strstr(out, "/nonexistent/dir"));
    assert_int_equal(run_cli(out, sizeof out, "fold"), 2);
    assert_int_equal(run_cli(out, sizeof out, "fold --help"), 0);
    assert_non_null(strstr(out, "usage: waveglow fold"));
    /* a fold file in a layout other than this machine's (as an older waveglow wrote them): it
     * maps and gives the audio, and vocode and info say to rewrite it; `waveglow fold` does */
    wg_model *m;
    assert_int_equal(wg_model_load(model, &m, &err), 0);
    const wg_config *c = wg_model_config(m);
    size_t R = (size_t)(c->hop_length / c->n_group), native = wg_cond_fold_native_panel(c);
    assert_int_equal(wg_cond_fold_build(m, SIZE_MAX, native == R ? 2 * R : R, 0, &err), 0);
    assert_int_equal(wg_model_save_fold(m, fold, &err), 0);
    wg_model_free(m);
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s --seed 5 -t 1", model, CLIP, b), 0);
    assert_non_null(strstr(out, "mapped from"));
    assert_non_null(strstr(out, "note: the fold file's layout is not this machine's"));
    assert_same_npy(a, b, 1e-5);
    assert_int_equal(run_cli(out, sizeof out, "info --model %s", model), 0);
    assert_non_null(strstr(out, "checked"));
    assert_non_null(strstr(out, "`waveglow fold` rewrites it"));
    assert_int_equal(run_cli(out, sizeof out, "fold --model %s -q", model), 0);
    assert_int_equal(run_cli(out, sizeof out, "info --model %s", model), 0);
    assert_null(strstr(out, "layout"));
}

static void test_score(void **state) {
    (void)state;
    assert_int_equal(
        run_cli(out, sizeof out, "score --model %s %s %s/audio/auth-thankyou.wav -q", TINY, CLIP, WG_SOURCE_DIR), 0);
    assert_non_null(strstr(out, "total"));
    double a, b, total;
    size_t na, nb, nt;
    char *p = strstr(out, "hello-world.wav");
    assert_int_equal(sscanf(p + 15, "%zu samples log p %lf", &na, &a), 2);
    p = strstr(out, "auth-thankyou.wav");
    assert_int_equal(sscanf(p + 17, "%zu samples log p %lf", &nb, &b), 2);
    p = strstr(out, "total");
    assert_int_equal(sscanf(p + 5, "%zu samples log p %lf", &nt, &total), 2);
    printf("per-file %.5f (%zu) and %.5f (%zu) -> total %.5f (%zu)\n", a, na, b, nb, total, nt);
    assert_int_equal(nt, na + nb);
    assert_true(fabs(total - (a * na + b * nb) / nt) < 1e-4);
    /* an unreadable file is reported, the others still scored, exit 2 */
    assert_int_equal(run_cli(out, sizeof out, "score --model %s /nonexistent.wav %s", TINY, CLIP), 2);
    assert_non_null(strstr(out, "/nonexistent.wav"));
    assert_non_null(strstr(out, "hello-world.wav"));
}

static void test_ten_minutes_in_bounded_memory(void **state) {
    (void)state;
    enum { FRAMES = 51680 }; /* 600 s at 22050 Hz, hop 256 */
    float *mel = malloc(sizeof(float) * 16 * FRAMES);
    for (size_t i = 0; i < 16 * (size_t)FRAMES; i++)
        mel[i] = -5.0f + 2.0f * sinf(0.001f * i) * cosf(0.37f * i);
    char in[512], wav[512];
    tmp_path(in, sizeof in, "long.npy");
    tmp_path(wav, sizeof wav, "long.wav");
    size_t shape[2] = {16, FRAMES};
    wg_error err = {0};
    assert_int_equal(wg_npy_write(in, mel, 2, shape, &err), 0);
    free(mel);
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s -q", TINY, in, wav), 0);
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    wg_audio w;
    assert_int_equal(wg_audio_read(wav, 0, NULL, &w, &err), 0);
    printf("10 minutes vocoded: %zu samples, peak RSS of the vocode process %.0f MB\n", w.n_samples,
           ru.ru_maxrss / 1024.0);
    assert_int_equal(w.n_samples, (size_t)FRAMES * 256);
    /* that long, vocode folds the conditioning (--fold auto): the windows' folded path gives the
     * upsampler's audio, to a 16-bit step */
    char off[512];
    tmp_path(off, sizeof off, "long-unfolded.wav");
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s -q --fold off", TINY, in, off), 0);
    wg_audio v;
    assert_int_equal(wg_audio_read(off, 0, NULL, &v, &err), 0);
    assert_int_equal(v.n_samples, w.n_samples);
    double e = max_abs_diff(w.samples, v.samples, w.n_samples);
    printf("10 minutes, conditioning folded vs not: max |diff| %.2e (a 16-bit step is %.2e)\n", e, 1 / 32768.0);
    assert_true(e <= 1.01 / 32768);
    wg_audio_free(&v);
    wg_audio_free(&w);
#ifndef WG_SANITIZED
    /* output 53 MB + mel; whole-signal activations would be ~740 MB for this model */
    assert_true(ru.ru_maxrss < 250 * 1024);
#endif
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_decode_round_trip),
        cmocka_unit_test(test_vocode_is_deterministic),
        cmocka_unit_test(test_fold_command),
        cmocka_unit_test(test_score),
        cmocka_unit_test(test_ten_minutes_in_bounded_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
