/* test_train.c — training runs through the `waveglow train` program: exact resume, clean stop on
 * SIGINT with a checkpoint, the non-finite guard, checkpoint rotation and fallback past a corrupt
 * newest checkpoint, config checks, export, and fine-tuning from a model file (--init). */
#include <signal.h>

#include "model.h"
#include "testutil.h"

static char out[1 << 16];

static const char *tiny_config =
    "{\"train_config\": {\"sigma\": 1.0, \"learning_rate\": 1e-3, \"batch_size\": 2, \"iters_per_checkpoint\": 3,"
    " \"seed\": 7, \"validation_fraction\": 0.3, \"grad_clip\": 100, \"dequantize\": 3e-5 %s},"
    " \"data_config\": {\"segment_length\": 2048, \"sampling_rate\": 16000, \"filter_length\": 1024,"
    " \"hop_length\": 256, \"win_length\": 1024, \"mel_fmin\": 0.0, \"mel_fmax\": 8000.0},"
    " \"waveglow_config\": {\"n_mel_channels\": 16, \"n_flows\": 4, \"n_group\": 8, \"n_early_every\": 2,"
    " \"n_early_size\": 2, \"WN_config\": {\"n_layers\": 3, \"n_channels\": 16, \"kernel_size\": 3}}}";

static const char *write_config(const char *name, const char *extra) {
    static char path[512];
    tmp_path(path, sizeof path, name);
    FILE *fp = fopen(path, "w");
    fprintf(fp, tiny_config, extra);
    fclose(fp);
    return path;
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) ? -1 : (long)st.st_size;
}

static int same_file(const char *a, const char *b) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cmp -s %s %s", a, b);
    return system(cmd) == 0;
}

static void test_resume_is_exact(void **state) {
    (void)state;
    const char *cfg = write_config("resume.json", "");
    char a[512], b[512], ca[600], cb[600];
    tmp_path(a, sizeof a, "run_a");
    tmp_path(b, sizeof b, "run_b");
    assert_int_equal(run_cli(out, sizeof out, "train --config %s --data %s/audio --out %s --steps 8 -t 1", cfg,
                             WG_SOURCE_DIR, a),
                     0);
    assert_non_null(strstr(out, "2 held out"));
    assert_int_equal(run_cli(out, sizeof out, "train --config %s --data %s/audio --out %s --steps 4 -t 1 -q", cfg,
                             WG_SOURCE_DIR, b),
                     0);
    assert_int_equal(run_cli(out, sizeof out, "train --data %s/audio --out %s --resume --steps 8 -t 1 -q",
                             WG_SOURCE_DIR, b),
                     0);
    assert_non_null(strstr(out, "resuming"));
    snprintf(ca, sizeof ca, "%s/ckpt-00000008.safetensors", a);
    snprintf(cb, sizeof cb, "%s/ckpt-00000008.safetensors", b);
    assert_true(file_exists(ca) && file_exists(cb));
    assert_true(same_file(ca, cb)); /* weights, Adam moments and metadata, bit for bit */
    /* the loss went down, and train.csv has one row per step */
    char csv[600];
    snprintf(csv, sizeof csv, "%s/train.csv", b);
    FILE *fp = fopen(csv, "r");
    char line[256];
    int rows = 0;
    double first = 0, last = 0;
    assert_non_null(fgets(line, sizeof line, fp));
    assert_string_equal(line, "step,loss,val_nll,lr,grad_norm,elapsed_s\n");
    while (fgets(line, sizeof line, fp)) {
        long step;
        double loss;
        assert_int_equal(sscanf(line, "%ld,%lf", &step, &loss), 2);
        assert_int_equal(step, ++rows);
        if (rows == 1) first = loss;
        last = loss;
    }
    fclose(fp);
    printf("train.csv: %d rows, loss %.4f -> %.4f\n", rows, first, last);
    assert_int_equal(rows, 8);
    assert_true(last < first);
    /* export: a model file that loads and vocodes */
    char model[600], wav[600];
    snprintf(model, sizeof model, "%s/model.safetensors", b);
    snprintf(wav, sizeof wav, "%s/out.wav", b);
    assert_int_equal(run_cli(out, sizeof out, "export %s -o %s", b, model), 0);
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s/audio/hello-world.wav -o %s -q", model,
                             WG_SOURCE_DIR, wav),
                     0);
    assert_int_equal(run_cli(out, sizeof out, "info --model %s", model), 0);
    assert_non_null(strstr(out, "16 mels"));
    assert_null(strstr(out, "synthesis sigma"));
    /* --synthesis-sigma: the model's own default temperature for vocode (and play) */
    char model7[600], a7[600], b7[600], c6[600];
    snprintf(model7, sizeof model7, "%s/model-s07.safetensors", b);
    snprintf(a7, sizeof a7, "%s/own.npy", b);
    snprintf(b7, sizeof b7, "%s/given.npy", b);
    snprintf(c6, sizeof c6, "%s/default.npy", b);
    assert_int_equal(run_cli(out, sizeof out, "export %s -o %s --synthesis-sigma 0.7", b, model7), 0);
    assert_int_equal(run_cli(out, sizeof out, "info --model %s", model7), 0);
    assert_non_null(strstr(out, "synthesis sigma: 0.7"));
    const char *clip = WG_SOURCE_DIR "/audio/hello-world.wav";
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s -q", model7, clip, a7), 0);
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s -q --sigma 0.7", model, clip, b7), 0);
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s -o %s -q", model, clip, c6), 0);
    wg_array x, y, z;
    wg_error err = {0};
    assert_int_equal(wg_npy_read(a7, &x, &err), 0);
    assert_int_equal(wg_npy_read(b7, &y, &err), 0);
    assert_int_equal(wg_npy_read(c6, &z, &err), 0);
    assert_true(x.shape[0] == y.shape[0] && max_abs_diff(x.data, y.data, x.shape[0]) == 0);
    assert_true(max_abs_diff(x.data, z.data, x.shape[0]) > 0); /* the default without it is 0.6 */
    wg_array_free(&x), wg_array_free(&y), wg_array_free(&z);
    assert_int_equal(run_cli(out, sizeof out, "export %s -o %s --synthesis-sigma 0", b, model7), 2);
    assert_non_null(strstr(out, "--synthesis-sigma"));
}

/* keep_activations trains the same model as the default path (up to rounding), and it is
 * recorded in the checkpoint's options */
static void test_keep_activations(void **state) {
    (void)state;
    char a[512], b[512], ma[600], mb[600];
    tmp_path(a, sizeof a, "run_rebuild");
    tmp_path(b, sizeof b, "run_keep");
    assert_int_equal(run_cli(out, sizeof out, "train --config %s --data %s/audio --out %s --steps 4 -t 1 -q",
                             write_config("rebuild.json", ""), WG_SOURCE_DIR, a),
                     0);
    assert_int_equal(run_cli(out, sizeof out, "train --config %s --data %s/audio --out %s --steps 4 -t 1 -q",
                             write_config("keep.json", ", \"keep_activations\": true"), WG_SOURCE_DIR, b),
                     0);
    snprintf(ma, sizeof ma, "%s/m.safetensors", a);
    snprintf(mb, sizeof mb, "%s/m.safetensors", b);
    assert_int_equal(run_cli(out, sizeof out, "export %s -o %s", a, ma), 0);
    assert_int_equal(run_cli(out, sizeof out, "export %s -o %s", b, mb), 0);
    wg_model *x, *y;
    wg_error err = {0};
    assert_int_equal(wg_model_load(ma, &x, &err), 0);
    assert_int_equal(wg_model_load(mb, &y, &err), 0);
    /* the same audio from both: a model-level comparison that needs no access to the weights */
    float mel[16 * 20], za[20 * 256], zb[20 * 256];
    for (int i = 0; i < 16 * 20; i++) mel[i] = -5.0f + 2.0f * sinf(0.3f * i);
    assert_int_equal(wg_synthesize(x, mel, 20, 0.6f, 3, za, NULL, &err), 0);
    assert_int_equal(wg_synthesize(y, mel, 20, 0.6f, 3, zb, NULL, &err), 0);
    double e = max_abs_diff(za, zb, wg_synth_samples(x, 20)), scale = max_abs(za, wg_synth_samples(x, 20));
    printf("keep_activations vs rebuilding, after 4 steps: synthesis differs by %.2e (of %.2e)\n", e, scale);
    assert_true(e <= 1e-4 * scale);
    wg_model_free(x), wg_model_free(y);
    char ckpt[600];
    /* the options JSON sits escaped inside the header's JSON */
    snprintf(ckpt, sizeof ckpt, "grep -aq 'keep_activations[^,]*true' %s/ckpt-00000004.safetensors", b);
    assert_int_equal(system(ckpt), 0);
    assert_int_equal(run_cli(out, sizeof out, "train --config %s --data %s/audio --out %s --steps 1 -t 1 -q",
                             write_config("bad_keep.json", ", \"keep_activations\": 1"), WG_SOURCE_DIR, b),
                     2);
    assert_non_null(strstr(out, "keep_activations must be true or false"));
}

static void test_checkpoint_rotation_and_corruption(void **state) {
    (void)state;
    const char *cfg = write_config("rot.json", ", \"iters_per_checkpoint\": 1, \"keep_checkpoints\": 2");
    char run[512], path[600];
    tmp_path(run, sizeof run, "run_rot");
    assert_int_equal(run_cli(out, sizeof out, "train --config %s --data %s/audio --out %s --steps 5 -t 1 -q", cfg,
                             WG_SOURCE_DIR, run),
                     0);
    for (int s = 1; s <= 5; s++) {
        snprintf(path, sizeof path, "%s/ckpt-%08d.safetensors", run, s);
        assert_int_equal(file_exists(path), s >= 4);
    }
    /* a torn newest checkpoint: resume says so and continues from the one before */
    snprintf(path, sizeof path, "%s/ckpt-00000005.safetensors", run);
    assert_int_equal(truncate(path, file_size(path) / 2), 0);
    assert_int_equal(run_cli(out, sizeof out, "train --data %s/audio --out %s --resume --steps 6 -t 1 -q",
                             WG_SOURCE_DIR, run),
                     0);
    assert_non_null(strstr(out, "skipping checkpoint"));
    assert_non_null(strstr(out, "resuming"));
    assert_non_null(strstr(out, "ckpt-00000004"));
    snprintf(path, sizeof path, "%s/ckpt-00000006.safetensors", run);
    assert_true(file_exists(path));
}

static void test_stop_on_sigint(void **state) {
    (void)state;
    const char *cfg = write_config("sig.json", ", \"iters_per_checkpoint\": 100000");
    char run[512], csv[600], log[600];
    tmp_path(run, sizeof run, "run_sig");
    tmp_path(log, sizeof log, "sig.log");
    snprintf(csv, sizeof csv, "%s/train.csv", run);
    pid_t pid = fork();
    if (pid == 0) {
        freopen(log, "w", stderr);
        char data[600];
        snprintf(data, sizeof data, "%s/audio", WG_SOURCE_DIR);
        execl(WG_CLI_PATH, "waveglow", "train", "--config", cfg, "--data", data, "--out", run, "--steps", "100000",
              "-t", "1", (char *)NULL);
        _exit(127);
    }
    /* wait until a few steps are done, then interrupt */
    for (int i = 0; i < 600 && file_size(csv) < 200; i++) usleep(50000);
    assert_true(file_size(csv) >= 200);
    kill(pid, SIGINT);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    FILE *fp = fopen(log, "r");
    size_t got = fread(out, 1, sizeof out - 1, fp);
    out[got] = '\0';
    fclose(fp);
    printf("%s", out);
    assert_non_null(strstr(out, "stopping at step"));
    long step = strtol(strstr(out, "stopping at step") + 17, NULL, 10);
    char ckpt[600];
    snprintf(ckpt, sizeof ckpt, "%s/ckpt-%08ld.safetensors", run, step);
    assert_true(file_exists(ckpt));
}

static void test_non_finite_guard(void **state) {
    (void)state;
    /* a learning rate this large blows the flows up within a few steps */
    const char *cfg = write_config("nan.json", ", \"learning_rate\": 5.0, \"grad_clip\": 0, \"max_bad_steps\": 2,"
                                               " \"iters_per_checkpoint\": 4");
    char run[512], model[600];
    tmp_path(run, sizeof run, "run_nan");
    snprintf(model, sizeof model, "%s/m.safetensors", run);
    assert_int_equal(run_cli(out, sizeof out, "train --config %s --data %s/audio --out %s --steps 12 -t 1 -q", cfg,
                             WG_SOURCE_DIR, run),
                     0);
    assert_non_null(strstr(out, "non-finite"));
    /* before the first checkpoint to the seeded start, after it to the checkpoint */
    assert_non_null(strstr(out, "rolled back to the initial state"));
    assert_non_null(strstr(out, "rolled back to step 4's checkpoint"));
    /* every checkpoint written holds finite numbers (the loader checks each tensor) */
    assert_int_equal(run_cli(out, sizeof out, "export %s -o %s", run, model), 0);
    assert_int_equal(run_cli(out, sizeof out, "info --model %s", model), 0);
}

static void test_bad_configs_and_data(void **state) {
    (void)state;
    char run[512], list[512], cfg2[512];
    tmp_path(run, sizeof run, "run_bad");
    const char *cfg = write_config("bad.json", ", \"frobnicate\": 3");
    assert_int_equal(run_cli(out, sizeof out, "train --config %s --data %s/audio --out %s --steps 1 -t 1 -q", cfg,
                             WG_SOURCE_DIR, run),
                     0);
    assert_non_null(strstr(out, "train_config.frobnicate is not a known option"));
    /* resuming with a config of another model is refused */
    tmp_path(cfg2, sizeof cfg2, "other.json");
    FILE *fp = fopen(cfg2, "w");
    fputs("{\"waveglow_config\": {\"n_mel_channels\": 16, \"n_flows\": 3}}", fp);
    fclose(fp);
    assert_int_equal(run_cli(out, sizeof out, "train --config %s --data %s/audio --out %s --resume --steps 2 -q", cfg2,
                             WG_SOURCE_DIR, run),
                     2);
    assert_non_null(strstr(out, "does not describe the model"));
    /* a new run into a directory that holds one is refused, and its files are left as they were
     * (it once truncated train.csv, and pruning would have deleted the older checkpoints) */
    char ckpt1[600], csv[600], ckpt_copy[600], csv_copy[600];
    snprintf(ckpt1, sizeof ckpt1, "%s/ckpt-00000001.safetensors", run);
    snprintf(csv, sizeof csv, "%s/train.csv", run);
    tmp_path(ckpt_copy, sizeof ckpt_copy, "ckpt_copy");
    tmp_path(csv_copy, sizeof csv_copy, "csv_copy");
    assert_int_equal(sh("cp %s %s && cp %s %s", ckpt1, ckpt_copy, csv, csv_copy), 0);
    assert_int_equal(run_cli(out, sizeof out, "train --config %s --data %s/audio --out %s --steps 2 -t 1 -q", cfg,
                             WG_SOURCE_DIR, run),
                     2);
    assert_non_null(strstr(out, "already holds a run (checkpoints); pass --resume"));
    assert_true(same_file(ckpt1, ckpt_copy) && same_file(csv, csv_copy));
    char ckpt2[600];
    snprintf(ckpt2, sizeof ckpt2, "%s/ckpt-00000002.safetensors", run);
    assert_false(file_exists(ckpt2));
    /* train.csv alone (a run stopped before its first checkpoint) is a run too */
    assert_int_equal(sh("rm %s", ckpt1), 0);
    assert_int_equal(run_cli(out, sizeof out, "train --config %s --data %s/audio --out %s --steps 2 -t 1 -q", cfg,
                             WG_SOURCE_DIR, run),
                     2);
    assert_non_null(strstr(out, "already holds a run (train.csv)"));
    assert_true(same_file(csv, csv_copy));
    /* a list with a missing file and a non-audio file: reported, skipped */
    tmp_path(list, sizeof list, "list.txt");
    fp = fopen(list, "w");
    fprintf(fp, "# training files\n%s/audio/hello-world.wav\n/nonexistent.wav\n%s/audio/README.md\n\n", WG_SOURCE_DIR,
            WG_SOURCE_DIR);
    fclose(fp);
    const char *cfg3 = write_config("noval.json", ", \"validation_fraction\": 0");
    tmp_path(run, sizeof run, "run_list");
    assert_int_equal(run_cli(out, sizeof out, "train --config %s --data %s --out %s --steps 1 -t 1 -q", cfg3, list, run),
                     0);
    assert_non_null(strstr(out, "skipping /nonexistent.wav"));
    assert_non_null(strstr(out, "1 training files"));
    /* nothing readable: a clear error */
    fp = fopen(list, "w");
    fputs("/nonexistent.wav\n", fp);
    fclose(fp);
    tmp_path(run, sizeof run, "run_unreadable");
    assert_int_equal(run_cli(out, sizeof out, "train --config %s --data %s --out %s --steps 1 -q", cfg3, list, run), 2);
    assert_non_null(strstr(out, "no readable training audio"));
    assert_int_equal(run_cli(out, sizeof out, "train --data %s --out %s", list, run), 2);
    assert_int_equal(run_cli(out, sizeof out, "export %s/nothing -o %s/x.safetensors", tmp_dir(), tmp_dir()), 2);
    /* an existing folder without checkpoints (found by fuzz_cli: qsort of an empty, NULL list) */
    char empty[512];
    tmp_path(empty, sizeof empty, "empty_run");
    mkdir(empty, 0777);
    assert_int_equal(run_cli(out, sizeof out, "export %s -o %s/x.safetensors", empty, tmp_dir()), 2);
    assert_non_null(strstr(out, "no usable checkpoint"));
}

/* Largest |a - b| over two model files' parameters (same layout asserted). */
static double max_param_diff(const char *a, const char *b) {
    wg_model *ma = NULL, *mb = NULL;
    wg_error err = {0};
    assert_int_equal(wg_model_load(a, &ma, &err), 0);
    assert_int_equal(wg_model_load(b, &mb, &err), 0);
    assert_int_equal(ma->table.total, mb->table.total);
    double d = 0;
    for (size_t i = 0; i < ma->table.total; i++) d = fmax(d, fabs((double)ma->params[i] - mb->params[i]));
    wg_model_free(ma), wg_model_free(mb);
    return d;
}

static void test_init_from_a_model(void **state) {
    (void)state;
    char cfg[512], frozen[512];
    snprintf(cfg, sizeof cfg, "%s", write_config("init_a.json", ""));
    char run_a[512], run_b[512], run_c[512], ma[600], mb[600], mc[600];
    tmp_path(run_a, sizeof run_a, "run_init_a");
    tmp_path(run_b, sizeof run_b, "run_init_b");
    tmp_path(run_c, sizeof run_c, "run_init_c");
    snprintf(ma, sizeof ma, "%s/a.safetensors", tmp_dir());
    snprintf(mb, sizeof mb, "%s/b.safetensors", tmp_dir());
    snprintf(mc, sizeof mc, "%s/c.safetensors", tmp_dir());
    assert_int_equal(run_cli(out, sizeof out, "train --config %s --data %s/audio --out %s --steps 3 -t 1 -q", cfg,
                             WG_SOURCE_DIR, run_a),
                     0);
    assert_int_equal(run_cli(out, sizeof out, "export %s -o %s", run_a, ma), 0);
    /* with a learning rate of 0 a run keeps its starting weights: A's (through the weight-norm
     * split and fold), where the seeded start of the same config differs from them */
    char text[2048];
    snprintf(text, sizeof text, tiny_config, ", \"learning_rate\": 0");
    memcpy(strstr(text, "\"segment_length\": 2048") + 18, "4096", 4); /* the one thing that may differ */
    tmp_path(frozen, sizeof frozen, "init_b.json");
    FILE *fp = fopen(frozen, "w");
    fputs(text, fp);
    fclose(fp);
    assert_int_equal(run_cli(out, sizeof out, "train --config %s --data %s/audio --out %s --init %s --steps 1 -t 1 -q",
                             frozen, WG_SOURCE_DIR, run_b, ma),
                     0);
    assert_non_null(strstr(out, "starting from the weights of"));
    assert_int_equal(run_cli(out, sizeof out, "export %s -o %s", run_b, mb), 0);
    assert_int_equal(run_cli(out, sizeof out, "train --config %s --data %s/audio --out %s --steps 1 -t 1 -q", frozen,
                             WG_SOURCE_DIR, run_c),
                     0);
    assert_int_equal(run_cli(out, sizeof out, "export %s -o %s", run_c, mc), 0);
    assert_true(max_param_diff(ma, mb) < 1e-6);
    assert_true(max_param_diff(ma, mc) > 1e-3);
    /* a resumed run goes on from its checkpoint and says that --init is not used */
    assert_int_equal(run_cli(out, sizeof out, "train --data %s/audio --out %s --resume --init %s --steps 2 -t 1 -q",
                             WG_SOURCE_DIR, run_c, ma),
                     0);
    assert_non_null(strstr(out, "is ignored"));
    /* another model: refused before anything is written */
    char other[512], run_d[512];
    tmp_path(other, sizeof other, "init_other.json");
    fp = fopen(other, "w");
    fputs("{\"waveglow_config\": {\"n_mel_channels\": 16, \"n_flows\": 3}}", fp);
    fclose(fp);
    tmp_path(run_d, sizeof run_d, "run_init_d");
    assert_int_equal(run_cli(out, sizeof out, "train --config %s --data %s/audio --out %s --init %s --steps 1 -q", other,
                             WG_SOURCE_DIR, run_d, ma),
                     2);
    assert_non_null(strstr(out, "is not the model the config describes"));
    assert_int_equal(run_cli(out, sizeof out, "train --config %s --data %s/audio --out %s --init %s/none --steps 1 -q",
                             cfg, WG_SOURCE_DIR, run_d, tmp_dir()),
                     2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_is_exact),
        cmocka_unit_test(test_keep_activations),
        cmocka_unit_test(test_checkpoint_rotation_and_corruption),
        cmocka_unit_test(test_stop_on_sigint),
        cmocka_unit_test(test_non_finite_guard),
        cmocka_unit_test(test_bad_configs_and_data),
        cmocka_unit_test(test_init_from_a_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
