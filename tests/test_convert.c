/* test_convert.c — tools/convert_nvidia.py on a WaveGlow built in PyTorch with weight norm
 * (tools/make_convert_fixture.py), saved as NVIDIA pickles it, as a DataParallel state dict, and
 * folded; each converted model's `encode` and `decode` must match PyTorch's float64 results. */
#include "testutil.h"

static char out[1 << 16];

static wg_array load(const char *dir, const char *name) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    wg_array a;
    wg_error err = {0};
    int rc = wg_npy_read(path, &a, &err);
    if (rc)
        printf("%s\n", err.message);
    assert_int_equal(rc, 0);
    return a;
}

static double json_number(const char *text, const char *key) {
    const char *p = strstr(text, key);
    assert_non_null(p);
    p = strchr(p, ':');
    return strtod(p + 1, NULL);
}

static void test_converted_models_match_pytorch(void **state) {
    (void)state;
    char dir[512];
    tmp_path(dir, sizeof dir, "fixture");
    assert_int_equal(sh("/usr/bin/python3 %s/tools/make_convert_fixture.py %s", WG_SOURCE_DIR, dir), 0);
    wg_array mel = load(dir, "mel.npy"), audio = load(dir, "audio.npy"), z_ref = load(dir, "z.npy");
    wg_array aref = load(dir, "audio_inv.npy");
    /* the audio as an exact float WAV, for `encode` */
    char wav[600], terms_path[600];
    snprintf(wav, sizeof wav, "%s/audio.wav", dir);
    snprintf(terms_path, sizeof terms_path, "%s/terms.json", dir);
    wg_error err = {0};
    assert_int_equal(wg_audio_write(wav, audio.data, audio.shape[0], 16000, WG_FORMAT_FLOAT, NULL, &err), 0);
    char *terms;
    size_t len;
    FILE *fp = fopen(terms_path, "r");
    assert_non_null(fp);
    terms = calloc(1, 4096);
    len = fread(terms, 1, 4095, fp);
    fclose(fp);
    assert_true(len > 0);
    double ref_log_s = json_number(terms, "\"log_s_total\""), ref_log_det = json_number(terms, "\"log_det_W_total\"");
    const char *variants[] = {"pickled", "statedict", "folded"};
    for (int v = 0; v < 3; v++) {
        char model[600], z[600], a[600];
        snprintf(model, sizeof model, "%s/%s.safetensors", dir, variants[v]);
        snprintf(z, sizeof z, "%s/%s.z.npy", dir, variants[v]);
        snprintf(a, sizeof a, "%s/%s.audio.npy", dir, variants[v]);
        assert_int_equal(sh("/usr/bin/python3 %s/tools/convert_nvidia.py %s/%s.pt --config %s/config.json -o %s",
                            WG_SOURCE_DIR, dir, variants[v], dir, model),
                         0);
        assert_int_equal(
            run_cli(out, sizeof out, "encode --model %s %s --mel %s/mel.npy -o %s --json", model, wav, dir, z), 0);
        double log_s = json_number(out, "\"log_s_total\""), log_det = json_number(out, "\"log_det_w_total\"");
        wg_array zc = load(dir, strrchr(z, '/') + 1);
        assert_int_equal(zc.shape[0], z_ref.shape[0]);
        assert_int_equal(zc.shape[1], z_ref.shape[1]);
        size_t nz = zc.shape[0] * zc.shape[1];
        double ez = max_abs_diff(zc.data, z_ref.data, nz) / max_abs(z_ref.data, nz);
        double es = fabs(log_s - ref_log_s) / fabs(ref_log_s);
        double ew = fabs(log_det - ref_log_det) / fmax(fabs(ref_log_det), 1.0);
        assert_int_equal(run_cli(out, sizeof out, "decode --model %s --mel %s/mel.npy %s/z_in.npy --sigma 0.8 -o %s",
                                 model, dir, dir, a),
                         0);
        wg_array ac = load(dir, strrchr(a, '/') + 1);
        assert_int_equal(ac.shape[0], aref.shape[0]);
        double ea = max_abs_diff(ac.data, aref.data, aref.shape[0]) / max_abs(aref.data, aref.shape[0]);
        printf("%-9s: z rel err %.2e, log_s_total rel err %.2e, log_det rel err %.2e, decode rel err %.2e\n",
               variants[v], ez, es, ew, ea);
        assert_true(ez <= 1e-5 && es <= 1e-5 && ew <= 1e-5 && ea <= 1e-5);
        wg_array_free(&zc);
        wg_array_free(&ac);
    }
    /* a config that does not match the checkpoint: a clear failure, no output */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/bad.json", dir);
    fp = fopen(bad, "w");
    fputs("{\"waveglow_config\": {\"n_mel_channels\": 12, \"n_flows\": 4}}", fp);
    fclose(fp);
    assert_int_equal(sh("/usr/bin/python3 %s/tools/convert_nvidia.py %s/pickled.pt --config %s -o %s/bad.safetensors",
                        WG_SOURCE_DIR, dir, bad, dir),
                     2);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    assert_false(file_exists(bad));
    free(terms);
    wg_array_free(&mel), wg_array_free(&audio), wg_array_free(&z_ref), wg_array_free(&aref);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_converted_models_match_pytorch)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
