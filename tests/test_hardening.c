/* test_hardening.c — hostile inputs through the program, numerical safety, and crash safety.
 * Every bad input must give exit code 2 and a message naming the file; no output may be left
 * half-written, and a previous output of the same name must survive. Training on silence,
 * clipped, offset and very loud audio stays finite; extreme mels give finite, clipped audio.
 * Training killed with SIGKILL at random moments (checkpoint writes included) always resumes. */
#include <signal.h>
#include <sndfile.h>
#include <time.h>

#include "testutil.h"

#define TINY DATA("reference/tiny.model.safetensors")
static char out[1 << 16];

static void write_sf(const char *path, int format, int rate, int channels, const float *x, size_t frames) {
    SF_INFO info = {.samplerate = rate, .channels = channels, .format = format};
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    assert_non_null(sf);
    if (frames) sf_writef_float(sf, x, (sf_count_t)frames);
    sf_close(sf);
}

/* `cmd` on `bad` must fail with exit 2 naming `name`, leave `keep` as it was and no temporaries */
static void expect_bad(const char *cmd_fmt, const char *bad, const char *needle) {
    char keep[512], cmd[2048];
    tmp_path(keep, sizeof keep, "keep.wav");
    float good[256] = {0.5f};
    wg_error err = {0};
    assert_int_equal(wg_audio_write(keep, good, 256, 22050, WG_FORMAT_PCM16, NULL, &err), 0);
    snprintf(cmd, sizeof cmd, cmd_fmt, bad, keep);
    assert_int_equal(run_cli(out, sizeof out, "%s", cmd), 2);
    assert_non_null(strstr(out, needle));
    wg_audio a;
    assert_int_equal(wg_audio_read(keep, 0, NULL, &a, &err), 0);
    assert_int_equal(a.n_samples, 256);
    assert_true(a.samples[0] == 0.5f);
    wg_audio_free(&a);
    char ls[700];
    snprintf(ls, sizeof ls, "ls %s | grep -q '\\.tmp\\.'", tmp_dir());
    assert_int_not_equal(system(ls), 0);
}

static void test_bad_input_matrix(void **state) {
    (void)state;
    char p[512];
    const char *vocode = "vocode --model " TINY " %s -o %s";
    float x[96000 * 6];
    /* zero-length and one-sample audio */
    tmp_path(p, sizeof p, "empty.wav");
    write_sf(p, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 22050, 1, NULL, 0);
    expect_bad(vocode, p, "empty.wav: the file holds no audio");
    tmp_path(p, sizeof p, "one.wav");
    x[0] = 0.1f;
    write_sf(p, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 22050, 1, x, 1);
    expect_bad(vocode, p, "too short");
    /* 8-bit µ-law and 96 kHz 6-channel audio are read (and said), not refused */
    for (int i = 0; i < 96000 * 6; i++) x[i] = 0.2f * sinf(0.01f * i);
    tmp_path(p, sizeof p, "ulaw.wav");
    write_sf(p, SF_FORMAT_WAV | SF_FORMAT_ULAW, 8000, 1, x, 8000);
    char o[512];
    tmp_path(o, sizeof o, "ok.wav");
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s", TINY, p, o), 0);
    assert_non_null(strstr(out, "resampled from 8000 Hz"));
    tmp_path(p, sizeof p, "six.wav");
    write_sf(p, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 96000, 6, x, 96000);
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s", TINY, p, o), 0);
    assert_non_null(strstr(out, "downmixed 6 channels"));
    /* a directory, a missing file, garbage, a truncated model, a mel with the wrong bands */
    expect_bad(vocode, tmp_dir(), "not a regular file");
    expect_bad(vocode, "/nonexistent/in.wav", "/nonexistent/in.wav");
    tmp_path(p, sizeof p, "garbage.wav");
    FILE *fp = fopen(p, "wb");
    fputs("RIFF\x10\x00\x00\x00WAVEjunkjunkjunk", fp);
    fclose(fp);
    expect_bad(vocode, p, "garbage.wav");
    tmp_path(p, sizeof p, "truncated.safetensors");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "head -c 100000 %s > %s", TINY, p);
    assert_int_equal(system(cmd), 0);
    expect_bad("vocode --model %s " WG_SOURCE_DIR "/audio/hello-world.wav -o %s", p, "truncated.safetensors");
    tmp_path(p, sizeof p, "bands.npy");
    size_t shape[2] = {80, 10};
    wg_error err = {0};
    assert_int_equal(wg_npy_write(p, x, 2, shape, &err), 0);
    expect_bad(vocode, p, "a mel must be (n_mel = 16, frames)");
    /* NaN in a mel */
    x[5] = NAN;
    size_t s16[2] = {16, 10};
    tmp_path(p, sizeof p, "nan.npy");
    assert_int_equal(wg_npy_write(p, x, 2, s16, &err), 0);
    expect_bad(vocode, p, "frame 5 is NaN");
}

static void test_full_disk(void **state) {
    (void)state;
    /* a file-size limit makes the write fail part way: exit 2, the old file kept, no temporary */
    char keep[512], cmd[2048];
    tmp_path(keep, sizeof keep, "keep.wav");
    float good[256] = {0.5f};
    wg_error err = {0};
    assert_int_equal(wg_audio_write(keep, good, 256, 22050, WG_FORMAT_PCM16, NULL, &err), 0);
    snprintf(cmd, sizeof cmd, "(ulimit -f 8; %s vocode --model %s %s/audio/tt-weasels.wav -o %s) 2>&1", WG_CLI_PATH, TINY,
             WG_SOURCE_DIR, keep);
    FILE *p = popen(cmd, "r");
    size_t got = fread(out, 1, sizeof out - 1, p);
    out[got] = '\0';
    int status = pclose(p);
    printf("%s", out);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    assert_non_null(strstr(out, "keep.wav: write failed"));
    wg_audio a;
    assert_int_equal(wg_audio_read(keep, 0, NULL, &a, &err), 0);
    assert_int_equal(a.n_samples, 256);
    wg_audio_free(&a);
    snprintf(cmd, sizeof cmd, "ls %s | grep -q '\\.tmp\\.'", tmp_dir());
    assert_int_not_equal(system(cmd), 0);
}

/* An input the program may not read (root reads anything, so as root the program runs as nobody):
 * exit 2 naming the file and the reason, the previous output kept, no temporary left. */
static void test_unreadable_input(void **state) {
    (void)state;
    const char *drop = "";
    if (geteuid() == 0) {
        if (system("command -v setpriv >/dev/null 2>&1")) {
            skip();
            return;
        }
        drop = "setpriv --reuid=65534 --regid=65534 --clear-groups ";
    }
    char dir[512], in[600], keep[600], cmd[4096];
    tmp_path(dir, sizeof dir, "shared");
    mkdir(dir, 0777);
    chmod(dir, 0777); /* the unprivileged program writes its output here */
    chmod(tmp_dir(), 0711);
    snprintf(in, sizeof in, "%s/locked.wav", dir);
    snprintf(keep, sizeof keep, "%s/keep.wav", dir);
    float x[4000], good[256] = {0.5f};
    for (int i = 0; i < 4000; i++) x[i] = 0.3f * sinf(0.02f * i);
    wg_error err = {0};
    assert_int_equal(wg_audio_write(in, x, 4000, 22050, WG_FORMAT_PCM16, NULL, &err), 0);
    assert_int_equal(wg_audio_write(keep, good, 256, 22050, WG_FORMAT_PCM16, NULL, &err), 0);
    chmod(keep, 0666);
    chmod(in, 0);
    snprintf(cmd, sizeof cmd, "%s%s vocode --model %s %s -o %s 2>&1", drop, WG_CLI_PATH, TINY, in, keep);
    FILE *p = popen(cmd, "r");
    size_t got = fread(out, 1, sizeof out - 1, p);
    out[got] = '\0';
    int status = pclose(p);
    printf("$ %s\n%s", cmd, out);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    assert_non_null(strstr(out, "locked.wav"));
    assert_non_null(strstr(out, "ermission denied"));
    wg_audio a;
    assert_int_equal(wg_audio_read(keep, 0, NULL, &a, &err), 0);
    assert_int_equal(a.n_samples, 256);
    assert_true(a.samples[0] == 0.5f);
    wg_audio_free(&a);
    snprintf(cmd, sizeof cmd, "ls %s | grep -q '\\.tmp\\.'", dir);
    assert_int_not_equal(system(cmd), 0);
    chmod(tmp_dir(), 0700);
}

static void test_numerical_safety(void **state) {
    (void)state;
    /* training on silence, clipped audio, a DC offset and very loud files */
    char dir[512], path[600], run[512], cfg[512];
    tmp_path(dir, sizeof dir, "hostile");
    mkdir(dir, 0777);
    enum { N = 16000 };
    static float x[N];
    const char *names[] = {"silence", "clipped", "dc", "loud"};
    for (int k = 0; k < 4; k++) {
        for (int i = 0; i < N; i++) {
            float s = sinf(0.05f * i) * (1 + 0.5f * sinf(0.0007f * i));
            x[i] = k == 0 ? 0 : k == 1 ? (s > 0 ? 1.0f : -1.0f) : k == 2 ? 0.9f + 0.05f * s : 0.999f * s;
        }
        snprintf(path, sizeof path, "%s/%s.wav", dir, names[k]);
        write_sf(path, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 16000, 1, x, N);
    }
    tmp_path(cfg, sizeof cfg, "safe.json");
    FILE *fp = fopen(cfg, "w");
    fputs("{\"train_config\": {\"batch_size\": 4, \"iters_per_checkpoint\": 5, \"validation_fraction\": 0,"
          " \"learning_rate\": 1e-3},"
          " \"data_config\": {\"segment_length\": 2048, \"sampling_rate\": 16000},"
          " \"waveglow_config\": {\"n_mel_channels\": 16, \"n_flows\": 4, \"n_group\": 8, \"n_early_every\": 2,"
          " \"n_early_size\": 2, \"WN_config\": {\"n_layers\": 2, \"n_channels\": 8, \"kernel_size\": 3}}}",
          fp);
    fclose(fp);
    tmp_path(run, sizeof run, "run_safe");
    assert_int_equal(run_cli(out, sizeof out, "train --config %s --data %s --out %s --steps 10 -t 1 -q", cfg, dir, run), 0);
    assert_null(strstr(out, "non-finite"));
    snprintf(path, sizeof path, "%s/train.csv", run);
    fp = fopen(path, "r");
    char line[256];
    int rows = 0;
    assert_non_null(fgets(line, sizeof line, fp));
    while (fgets(line, sizeof line, fp)) {
        double loss = strtod(strchr(line, ',') + 1, NULL);
        assert_true(isfinite(loss));
        rows++;
    }
    fclose(fp);
    assert_int_equal(rows, 10);
    /* synthesis from silence and from extreme mels: finite audio, clipping counted */
    float mel[16 * 20];
    const float levels[] = {-11.5129f, 0.0f, 8.0f, -40.0f};
    char npy[512], wav[512];
    tmp_path(npy, sizeof npy, "extreme.npy");
    tmp_path(wav, sizeof wav, "extreme.wav");
    for (int k = 0; k < 4; k++) {
        for (int i = 0; i < 16 * 20; i++) mel[i] = levels[k];
        size_t shape[2] = {16, 20};
        wg_error err = {0};
        assert_int_equal(wg_npy_write(npy, mel, 2, shape, &err), 0);
        assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s", TINY, npy, wav), 0);
        wg_audio a;
        assert_int_equal(wg_audio_read(wav, 0, NULL, &a, &err), 0);
        for (size_t i = 0; i < a.n_samples; i++) assert_true(isfinite(a.samples[i]));
        wg_audio_free(&a);
    }
}

static void test_sigkill_during_training(void **state) {
    (void)state;
    char cfg[512], run[512], data[600], steps[16];
    tmp_path(cfg, sizeof cfg, "kill.json");
    FILE *fp = fopen(cfg, "w");
    fputs("{\"train_config\": {\"batch_size\": 2, \"iters_per_checkpoint\": 1, \"keep_checkpoints\": 2,"
          " \"validation_fraction\": 0},"
          " \"data_config\": {\"segment_length\": 2048, \"sampling_rate\": 16000},"
          " \"waveglow_config\": {\"n_mel_channels\": 16, \"n_flows\": 4, \"n_group\": 8, \"n_early_every\": 2,"
          " \"n_early_size\": 2, \"WN_config\": {\"n_layers\": 2, \"n_channels\": 16, \"kernel_size\": 3}}}",
          fp);
    fclose(fp);
    tmp_path(run, sizeof run, "run_kill");
    snprintf(data, sizeof data, "%s/audio", WG_SOURCE_DIR);
    srand(12345);
    int kills = 0, with_checkpoint = 0, in_write = 0;
    for (int round = 0; round < 12; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            freopen("/dev/null", "w", stderr);
            snprintf(steps, sizeof steps, "%d", 1000);
            execl(WG_CLI_PATH, "waveglow", "train", "--config", cfg, "--data", data, "--out", run, "--resume",
                  "--steps", steps, "-t", "1", "-q", (char *)NULL);
            _exit(127);
        }
        usleep(200000 + rand() % 1000000); /* checkpoints come every step: kills land in writes too */
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        kills += WIFSIGNALED(status);
        char torn[700];
        snprintf(torn, sizeof torn, "ls %s | grep -q '\\.tmp\\.'", run);
        in_write += system(torn) == 0; /* killed mid-write: the next start removes the temporary */
        /* once there is a checkpoint, the newest good one always loads and exports */
        char model[600], ls[700];
        snprintf(model, sizeof model, "%s/m.safetensors", run);
        snprintf(ls, sizeof ls, "ls %s | grep -q '^ckpt-.*\\.safetensors$'", run);
        if (system(ls) == 0) {
            with_checkpoint++;
            assert_int_equal(run_cli(out, sizeof out, "export %s -o %s", run, model), 0);
        }
    }
    printf("%d runs killed with SIGKILL, %d after checkpoints existed, %d in the middle of writing one\n", kills,
           with_checkpoint, in_write);
    assert_true(kills >= 10);
    assert_true(with_checkpoint >= 5);
    /* and the run carries on from its newest checkpoint */
    char log[512];
    tmp_path(log, sizeof log, "resume.log");
    assert_int_equal(sh("(%s train --data %s --out %s --resume --steps 1000000 -t 1 -q & p=$!; sleep 2; "
                        "kill -INT $p; wait $p) > %s 2>&1",
                        WG_CLI_PATH, data, run, log),
                     0);
    fp = fopen(log, "r");
    size_t got = fread(out, 1, sizeof out - 1, fp);
    out[got] = '\0';
    fclose(fp);
    printf("%s", out);
    assert_non_null(strstr(out, "resuming"));
    assert_non_null(strstr(out, "stopping at step"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_input_matrix),
        cmocka_unit_test(test_full_disk),
        cmocka_unit_test(test_unreadable_input),
        cmocka_unit_test(test_numerical_safety),
        cmocka_unit_test(test_sigkill_during_training),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
