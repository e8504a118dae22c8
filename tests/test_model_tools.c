/* test_model_tools.c — the Python tools around model files: tools/grow_model.py (a wider WN that
 * computes the same function and trains from there), tools/average_models.py (the element-wise
 * mean of several exports of one config), and tools/eval_quality.py's latent seeds. */
#include "testutil.h"

static char out[1 << 16];

#define PY "/usr/bin/python3 " WG_SOURCE_DIR "/tools/"

/* the tiny training config of test_train.c, at n_channels C */
static const char *write_config(const char *name, int channels) {
    static char path[512];
    tmp_path(path, sizeof path, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp,
            "{\"train_config\": {\"sigma\": 1.0, \"learning_rate\": 1e-3, \"batch_size\": 2, \"seed\": 7,"
            " \"iters_per_checkpoint\": 100, \"validation_fraction\": 0.3, \"grad_clip\": 100, \"dequantize\": 3e-5},"
            " \"data_config\": {\"segment_length\": 2048, \"sampling_rate\": 16000, \"filter_length\": 1024,"
            " \"hop_length\": 256, \"win_length\": 1024, \"mel_fmin\": 0.0, \"mel_fmax\": 8000.0},"
            " \"waveglow_config\": {\"n_mel_channels\": 16, \"n_flows\": 4, \"n_group\": 8, \"n_early_every\": 2,"
            " \"n_early_size\": 2, \"WN_config\": {\"n_layers\": 3, \"n_channels\": %d, \"kernel_size\": 3}}}",
            channels);
    fclose(fp);
    return path;
}

static wg_audio read_wav(const char *path) {
    wg_audio a;
    wg_error err = {0};
    int rc = wg_audio_read(path, 0, NULL, &a, &err);
    if (rc) printf("%s\n", err.message);
    assert_int_equal(rc, 0);
    return a;
}

/* `vocode` of the same mel with the same seed by two models: the largest sample difference, and the
 * first output's RMS (so that a silent model cannot pass) */
static double vocode_diff(const char *model_a, const char *model_b, const char *mel, double *rms) {
    char wa[512], wb[512];
    tmp_path(wa, sizeof wa, "va.wav");
    tmp_path(wb, sizeof wb, "vb.wav");
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s --seed 1 --float -q -t 1", model_a, mel, wa), 0);
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s --seed 1 --float -q -t 1", model_b, mel, wb), 0);
    wg_audio a = read_wav(wa), b = read_wav(wb);
    assert_int_equal(a.n_samples, b.n_samples);
    double s = 0;
    for (size_t i = 0; i < a.n_samples; i++) s += (double)a.samples[i] * a.samples[i];
    *rms = sqrt(s / (double)a.n_samples);
    double d = max_abs_diff(a.samples, b.samples, a.n_samples);
    printf("max abs difference %.3g, rms %.3g\n", d, *rms);
    wg_audio_free(&a);
    wg_audio_free(&b);
    return d;
}

/* the loss of a run's first step, from its train.csv */
static double first_loss(const char *run) {
    char path[600], line[512];
    snprintf(path, sizeof path, "%s/train.csv", run);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(line, sizeof line, fp)); /* header */
    assert_non_null(fgets(line, sizeof line, fp));
    fclose(fp);
    assert_true(strncmp(line, "1,", 2) == 0);
    return strtod(line + 2, NULL);
}

static void test_grown_model_keeps_its_function_and_trains(void **state) {
    (void)state;
    char run_a[512], run_a1[512], run_g1[512], ma[600], mg[600], mg1[600], mel[600], bad[600];
    tmp_path(run_a, sizeof run_a, "run_a");
    tmp_path(run_a1, sizeof run_a1, "run_a1");
    tmp_path(run_g1, sizeof run_g1, "run_g1");
    snprintf(ma, sizeof ma, "%s/a.safetensors", tmp_dir());
    snprintf(mg, sizeof mg, "%s/g.safetensors", tmp_dir());
    snprintf(mg1, sizeof mg1, "%s/g1.safetensors", tmp_dir());
    snprintf(mel, sizeof mel, "%s/mel.npy", tmp_dir());
    char cfg16[512], cfg24[512];
    snprintf(cfg16, sizeof cfg16, "%s", write_config("c16.json", 16));
    snprintf(cfg24, sizeof cfg24, "%s", write_config("c24.json", 24));
    /* a few steps from the seeded start, so that no weight is at its initial value */
    assert_int_equal(run_cli(out, sizeof out, "train --config %s --data %s/audio --out %s --steps 3 -t 1 -q", cfg16,
                             WG_SOURCE_DIR, run_a),
                     0);
    assert_int_equal(run_cli(out, sizeof out, "export %s -o %s", run_a, ma), 0);
    assert_int_equal(sh(PY "grow_model.py %s --channels 24 -o %s --seed 3", ma, mg), 0);
    assert_int_equal(run_cli(out, sizeof out, "info --model %s", mg), 0);
    assert_non_null(strstr(out, "3 layers x 24 channels"));
    /* the same audio from the same mel and latent */
    assert_int_equal(run_cli(out, sizeof out, "mel %s/audio/hello-world.wav --model %s -o %s", WG_SOURCE_DIR, ma, mel),
                     0);
    double rms, d = vocode_diff(ma, mg, mel, &rms);
    assert_true(rms > 1e-3);
    assert_true(d < 1e-5 * (1 + rms * 100));
    /* the new channels are live: every row that writes one reads the old channels with random weights */
    assert_int_equal(sh("/usr/bin/python3 -c \"import sys; sys.path.insert(0, '" WG_SOURCE_DIR "/tools');"
                        " from convert_nvidia import read_safetensors as r; t = r('%s')[2];"
                        " assert all(abs(t[f'WN.{k}.{n}.weight'][16:24, :16]).min() > 0 for k in range(4)"
                        " for n in ('start', 'in_layers.0', 'res_skip_layers.2'))\"",
                        mg),
                     0);
    /* the same first loss (the same function on the same batch); then the new channels learn */
    assert_int_equal(run_cli(out, sizeof out, "train --config %s --data %s/audio --out %s --init %s --steps 2 -t 1 -q",
                             cfg16, WG_SOURCE_DIR, run_a1, ma),
                     0);
    assert_int_equal(run_cli(out, sizeof out, "train --config %s --data %s/audio --out %s --init %s --steps 2 -t 1 -q",
                             cfg24, WG_SOURCE_DIR, run_g1, mg),
                     0);
    double la = first_loss(run_a1), lg = first_loss(run_g1);
    printf("first loss: %.7g (16 channels) %.7g (grown to 24)\n", la, lg);
    assert_true(fabs(la - lg) <= 1e-5 * fabs(la));
    assert_int_equal(run_cli(out, sizeof out, "export %s -o %s", run_g1, mg1), 0);
    assert_int_equal(sh("/usr/bin/python3 -c \"import sys; sys.path.insert(0, '" WG_SOURCE_DIR "/tools');"
                        " from convert_nvidia import read_safetensors as r; t = r('%s')[2];"
                        " assert abs(t['WN.0.in_layers.0.weight'][:16, 16:]).max() > 0\"",
                        mg1),
                     0);
    /* not wider: refused, nothing written */
    snprintf(bad, sizeof bad, "%s/narrow.safetensors", tmp_dir());
    assert_int_equal(sh(PY "grow_model.py %s --channels 16 -o %s", ma, bad), 1);
    assert_false(file_exists(bad));
}

static void test_average_of_models(void **state) {
    (void)state;
    char ma[600], mb[600], mavg[600], mself[600], cut[600], none[600], mel[600];
    const char *tiny = DATA("reference/tiny.model.safetensors");
    snprintf(ma, sizeof ma, "%s/wa.safetensors", tmp_dir());
    snprintf(mb, sizeof mb, "%s/wb.safetensors", tmp_dir());
    snprintf(mavg, sizeof mavg, "%s/avg.safetensors", tmp_dir());
    snprintf(mself, sizeof mself, "%s/self.safetensors", tmp_dir());
    snprintf(cut, sizeof cut, "%s/cut.safetensors", tmp_dir());
    snprintf(none, sizeof none, "%s/none.safetensors", tmp_dir());
    snprintf(mel, sizeof mel, "%s/tiny_mel.npy", tmp_dir());
    /* a model averaged with itself is itself, bit for bit */
    assert_int_equal(sh(PY "average_models.py -o %s %s %s", mself, tiny, tiny), 0);
    assert_int_equal(run_cli(out, sizeof out, "mel %s/audio/hello-world.wav --model %s -o %s", WG_SOURCE_DIR, tiny, mel),
                     0);
    double rms;
    assert_true(vocode_diff(tiny, mself, mel, &rms) == 0.0);
    /* two widenings with different random rows: their mean is the element-wise mean, and (as every
     * weight that reads a new channel is zero in both) still computes the tiny model's function */
    assert_int_equal(sh(PY "grow_model.py %s --channels 20 -o %s --seed 1", tiny, ma), 0);
    assert_int_equal(sh(PY "grow_model.py %s --channels 20 -o %s --seed 2", tiny, mb), 0);
    assert_int_equal(sh(PY "average_models.py -o %s %s %s", mavg, ma, mb), 0);
    assert_int_equal(sh("/usr/bin/python3 -c \"import sys; sys.path.insert(0, '" WG_SOURCE_DIR "/tools');"
                        " from convert_nvidia import read_safetensors as r; a, b, m = (r(p)[2] for p in ('%s', '%s', '%s'));"
                        " assert all(abs(m[k] - (a[k].astype('f8') + b[k]) / 2).max() <= 1e-7 * (1 + abs(a[k]).max())"
                        " for k in a); assert abs(a['WN.0.start.weight'] - b['WN.0.start.weight']).max() > 0\"",
                        ma, mb, mavg),
                     0);
    double d = vocode_diff(tiny, mavg, mel, &rms);
    assert_true(d < 1e-5 * (1 + rms * 100));
    /* other configs, a truncated file: refused, nothing written */
    assert_int_equal(sh(PY "average_models.py -o %s %s %s", none, tiny, ma), 1);
    assert_int_equal(sh("head -c 5000 %s > %s", tiny, cut), 0);
    assert_int_equal(sh(PY "average_models.py -o %s %s %s", none, tiny, cut), 1);
    assert_false(file_exists(none));
}

/* eval_quality.py --seeds K: every file vocoded with seeds 0..K-1, a file's distance the mean of
 * its seeds', seed 0's the one a single-seed run measures, and the draws differ (so --seed reaches
 * vocode); the bundled model on the bundled clips, all of them counted as held out */
static void test_quality_over_seeds(void **state) {
    (void)state;
    char one[600], two[600];
    snprintf(one, sizeof one, "%s/q1.json", tmp_dir());
    snprintf(two, sizeof two, "%s/q2.json", tmp_dir());
    const char *args = "--model " WG_SOURCE_DIR "/models/speech16k.safetensors --data " WG_SOURCE_DIR
                       "/audio --fraction 1 --waveglow " WG_CLI_PATH;
    assert_int_equal(sh(PY "eval_quality.py %s --json %s", args, one), 0);
    assert_int_equal(sh(PY "eval_quality.py %s --seeds 2 --json %s", args, two), 0);
    assert_int_equal(sh("/usr/bin/python3 -c \"import json; a, b = (json.load(open(p)) for p in ('%s', '%s'));"
                        " assert len(a['files']) == len(b['files']) == 4 and b['seeds'] == 2;"
                        " assert all(abs(f['lsd'] - sum(f['seed_lsd']) / 2) < 1e-12 and"
                        " abs(f['mcd'] - sum(f['seed_mcd']) / 2) < 1e-12 for f in b['files']);"
                        " assert all(f['seed_lsd'][0] == g['lsd'] and f['seed_mcd'][0] == g['mcd']"
                        " for f, g in zip(b['files'], a['files']));"
                        " assert all(f['seed_lsd'][0] != f['seed_lsd'][1] for f in b['files']);"
                        " assert abs(b['seed_mean']['lsd'][1] - sum(f['seed_lsd'][1] for f in b['files']) / 4)"
                        " < 1e-12\"",
                        one, two),
                     0);
    assert_int_equal(sh(PY "eval_quality.py %s --seeds 0", args), 1);
    /* model_card.py from that measurement and a run counted up to an earlier checkpoint */
    char run[512], card[600];
    tmp_path(run, sizeof run, "card_run");
    snprintf(card, sizeof card, "%s/card.md", tmp_dir());
    assert_int_equal(sh("mkdir -p %s && printf 'step,loss,val_nll,lr,grad_norm,elapsed_s\\n1,-1,,1e-4,1,3600\\n"
                        "2,-2,-2.5,1e-4,1,7200\\n3,-3,,1e-4,1,10800\\n4,-4,-3.5,1e-4,1,14400\\n' > %s/train.csv",
                        run, run),
                     0);
    const char *model = WG_SOURCE_DIR "/models/speech16k.safetensors";
    assert_int_equal(sh(PY "model_card.py --run %s --model %s --quality %s --hardware h --waveglow %s --out %s"
                           " --until-step 2",
                        run, model, two, WG_CLI_PATH, card),
                     0);
    assert_int_equal(sh("grep -q '^- steps: 2 ' %s && grep -q '^- wall time: 2.0 h' %s"
                        " && grep -q -- '-2.500 at step 2$' %s && grep -q 'latent seeds 0 to 1' %s",
                        card, card, card, card),
                     0);
    assert_int_equal(sh(PY "model_card.py --run %s --model %s --quality %s --hardware h --waveglow %s --out %s"
                           " --until-step 7",
                        run, model, two, WG_CLI_PATH, card),
                     1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grown_model_keeps_its_function_and_trains),
        cmocka_unit_test(test_average_of_models),
        cmocka_unit_test(test_quality_over_seeds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
