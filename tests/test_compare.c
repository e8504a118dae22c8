/* test_compare.c — wg_compare against float64 numpy (tools/make_compare_reference.py) on known
 * cases: noise at 20 dB SNR, a delayed copy, a gain change with and without matching, different
 * lengths, silence, and a low-passed copy. */
#include <cjson/cJSON.h>

#include "testutil.h"

static void load(const char *name, const char *kind, wg_array *a) {
    char path[512];
    snprintf(path, sizeof path, "%s/compare/%s.%s.npy", WG_TEST_DATA, name, kind);
    wg_error err = {0};
    assert_int_equal(wg_npy_read(path, a, &err), 0);
}

static void test_against_numpy(void **state) {
    (void)state;
    char *text;
    FILE *fp = fopen(DATA("compare/expected.json"), "r");
    assert_non_null(fp);
    text = calloc(1, 1 << 16);
    assert_true(fread(text, 1, (1 << 16) - 1, fp) > 0);
    fclose(fp);
    cJSON *root = cJSON_Parse(text);
    assert_non_null(root);
    for (cJSON *c = root->child; c; c = c->next) {
        wg_array ref, test;
        load(c->string, "ref", &ref);
        load(c->string, "test", &test);
        wg_compare_params p = wg_compare_default_params();
        p.max_delay_ms = cJSON_GetObjectItem(c, "max_delay_ms")->valuedouble;
        p.match_gain = cJSON_IsTrue(cJSON_GetObjectItem(c, "match_gain"));
        wg_compare_result r;
        wg_error err = {0};
        assert_int_equal(wg_compare(ref.data, ref.shape[0], test.data, test.shape[0], 16000, &p, &r, &err), 0);
        const cJSON *snr = cJSON_GetObjectItem(c, "snr_db");
        double e_snr = cJSON_IsNull(snr) ? INFINITY : snr->valuedouble;
        double e_lsd = cJSON_GetObjectItem(c, "lsd_db")->valuedouble, e_mcd = cJSON_GetObjectItem(c, "mcd_db")->valuedouble;
        double e_gain = cJSON_GetObjectItem(c, "gain")->valuedouble, e_max = cJSON_GetObjectItem(c, "max_abs")->valuedouble;
        printf("%-13s delay %3ld/%3d  gain %.5f/%.5f  snr %8.4f/%8.4f  lsd %7.4f/%7.4f  mcd %7.4f/%7.4f  "
               "max_abs %.3e/%.3e  (C/numpy)\n",
               c->string, r.delay, cJSON_GetObjectItem(c, "delay")->valueint, r.gain, e_gain, r.snr_db, e_snr,
               r.lsd_db, e_lsd, r.mcd_db, e_mcd, r.max_abs, e_max);
        assert_int_equal(r.delay, cJSON_GetObjectItem(c, "delay")->valueint);
        assert_int_equal(r.length_diff, cJSON_GetObjectItem(c, "length_diff")->valueint);
        assert_int_equal(r.n_compared, cJSON_GetObjectItem(c, "n_compared")->valueint);
        assert_true(fabs(r.gain - e_gain) < 1e-5);
        if (isinf(e_snr))
            assert_true(isinf(r.snr_db) || r.snr_db > 120); /* float32 rounding of an exact match */
        else
            assert_true(fabs(r.snr_db - e_snr) < 1e-3);
        assert_true(fabs(r.lsd_db - e_lsd) < fmax(0.02, 2e-3 * e_lsd));
        assert_true(fabs(r.mcd_db - e_mcd) < fmax(0.02, 2e-3 * e_mcd));
        assert_true(fabs(r.max_abs - e_max) < 1e-6 + 1e-5 * e_max);
        wg_array_free(&ref);
        wg_array_free(&test);
    }
    cJSON_Delete(root);
    free(text);
}

static void test_bad_input(void **state) {
    (void)state;
    float a[4] = {0, 1, 2, 3}, b[4] = {0, 1, NAN, 3};
    wg_compare_result r;
    wg_error err = {0};
    assert_int_equal(wg_compare(a, 4, b, 4, 16000, NULL, &r, &err), WG_ENONFINITE);
    assert_int_equal(wg_compare(a, 4, a, 4, 0, NULL, &r, &err), WG_EINVAL);
    assert_int_equal(wg_compare(a, 4, a, 4, 16000, NULL, &r, &err), WG_ETOOSHORT); /* shorter than n_fft/2 */
    assert_int_equal(wg_compare(a, 0, a, 4, 16000, NULL, &r, &err), WG_ETOOSHORT);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_against_numpy), cmocka_unit_test(test_bad_input)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
