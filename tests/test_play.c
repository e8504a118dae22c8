/* test_play.c — real-time playback without a sound card: `waveglow play` captured through ALSA's
 * file plugin over the null device (ALSA_CONFIG_PATH) must hold exactly the offline synthesis,
 * from a file and from mel frames on stdin; no device is a clear error; Ctrl-C stops it promptly.
 * The ring and the callback logic are tested on their own in test_ring.c. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "testutil.h"

#define TINY DATA("reference/tiny.model.safetensors")
#define CLIP WG_SOURCE_DIR "/audio/hello-world.wav"
static char out[1 << 16];

static const char *asound_conf(const char *capture) {
    static char path[512];
    tmp_path(path, sizeof path, "asound.conf");
    FILE *fp = fopen(path, "w");
    fprintf(fp, "pcm.!default {\n type file\n slave.pcm { type null }\n file \"%s\"\n format \"raw\"\n}\n", capture);
    fclose(fp);
    return path;
}

/* the captured float32 samples must be the offline synthesis, after the device's priming zeros */
static void check_capture(const char *capture, const float *ref, size_t n) {
    FILE *fp = fopen(capture, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    size_t len = (size_t)ftell(fp) / sizeof(float);
    fseek(fp, 0, SEEK_SET);
    float *raw = malloc(len * sizeof(float));
    assert_int_equal(fread(raw, sizeof(float), len, fp), len);
    fclose(fp);
    size_t on = 0, first = 0;
    while (on < len && raw[on] == 0) on++;
    while (first < n && ref[first] == 0) first++;
    assert_true(on >= first && on - first + n <= len);
    double e = max_abs_diff(raw + on - first, ref, n);
    printf("captured %zu samples, onset at %zu: max |played - offline| %.2e\n", len, on - first, e);
    assert_true(e <= 1e-4);
    free(raw);
}

static void test_play_captured_equals_offline(void **state) {
    (void)state;
    char capture[512], ref_path[512], mel_path[512];
    tmp_path(capture, sizeof capture, "play.raw");
    tmp_path(ref_path, sizeof ref_path, "offline.npy");
    tmp_path(mel_path, sizeof mel_path, "mel.npy");
    const char *conf = asound_conf(capture);
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s --seed 3 -o %s -q", TINY, CLIP, ref_path), 0);
    wg_array ref;
    wg_error err = {0};
    assert_int_equal(wg_npy_read(ref_path, &ref, &err), 0);
    /* the null device is not paced: buffer the whole clip first (prebuffer = 2 × latency) */
    assert_int_equal(run_cli(out, sizeof out, "play --model %s %s --seed 3 --latency 1000 2>&1 | cat; "
                             "ALSA_CONFIG_PATH=%s %s play --model %s %s --seed 3 --latency 1000 --context exact",
                             TINY, "/nonexistent.wav", conf, WG_CLI_PATH, TINY, CLIP),
                     0);
    assert_non_null(strstr(out, "playing on \"default\""));
    assert_non_null(strstr(out, "underruns"));
    assert_null(strstr(out, "ALSA lib")); /* no chatter from the audio stack */
    check_capture(capture, ref.data, ref.shape[0]);
    /* mel frames through standard input, frame-major float32, as a TTS pipe sends them */
    assert_int_equal(run_cli(out, sizeof out, "mel --model %s %s -o %s -q", TINY, CLIP, mel_path), 0);
    wg_array mel;
    assert_int_equal(wg_npy_read(mel_path, &mel, &err), 0);
    char frames[512];
    tmp_path(frames, sizeof frames, "frames.f32");
    FILE *fp = fopen(frames, "wb");
    for (size_t f = 0; f < mel.shape[1]; f++)
        for (size_t b = 0; b < mel.shape[0]; b++) fwrite(&mel.data[b * mel.shape[1] + f], 4, 1, fp);
    fclose(fp);
    unlink(capture);
    assert_int_equal(run_cli(out, sizeof out, "play --model %s - --seed 3 --latency 1000 -q < %s; "
                             "ALSA_CONFIG_PATH=%s %s play --model %s - --seed 3 --latency 1000 --context exact -q < %s",
                             TINY, "/dev/null", conf, WG_CLI_PATH, TINY, frames),
                     0);
    check_capture(capture, ref.data, ref.shape[0]);
    wg_array_free(&mel);
    wg_array_free(&ref);
    /* no device at all: a clear error */
    char none[512];
    tmp_path(none, sizeof none, "none.conf");
    fp = fopen(none, "w");
    fputs("# no devices\n", fp);
    fclose(fp);
    assert_int_equal(run_cli(out, sizeof out, "play --model %s %s -q; ALSA_CONFIG_PATH=%s %s play --model %s %s -q",
                             TINY, "/nonexistent.wav", none, WG_CLI_PATH, TINY, CLIP),
                     2);
    assert_non_null(strstr(out, "no audio output device"));
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static void test_ctrl_c_stops_promptly(void **state) {
    (void)state;
    char capture[512];
    tmp_path(capture, sizeof capture, "sig.raw");
    const char *conf = asound_conf(capture);
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[0], STDIN_FILENO);
        close(pipefd[1]);
        setenv("ALSA_CONFIG_PATH", conf, 1);
        execl(WG_CLI_PATH, "waveglow", "play", "--model", TINY, "-", "-q", (char *)NULL);
        _exit(127);
    }
    close(pipefd[0]);
    float frame[16];
    for (int i = 0; i < 16; i++) frame[i] = -5.0f;
    for (int i = 0; i < 40; i++) assert_int_equal(write(pipefd[1], frame, sizeof frame), (ssize_t)sizeof frame);
    /* a TTS pipe that pauses (the input stays open); interrupt once the device is open */
    for (int i = 0; i < 400 && !file_exists(capture); i++) usleep(25000);
    assert_true(file_exists(capture));
    usleep(100000);
    double t0 = now();
    kill(pid, SIGINT);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    double dt = now() - t0;
    close(pipefd[1]);
    printf("Ctrl-C to exit: %.0f ms, exit status %d\n", 1000 * dt, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(dt < 0.5); /* 200 ms asked; slack for a loaded CI machine */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_play_captured_equals_offline),
        cmocka_unit_test(test_ctrl_c_stops_promptly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
