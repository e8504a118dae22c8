/* test_config.c — NVIDIA config.json parsing: defaults, sections, types, validation. */
#include "testutil.h"

static void parse_ok(const char *json, wg_config *c) {
    wg_error err = {0};
    int rc = wg_config_parse(json, "test", c, &err);
    if (rc)
        printf("unexpected error: %s\n", err.message);
    assert_int_equal(rc, 0);
}

static void parse_fails(const char *json, const char *needle) {
    wg_error err = {0};
    wg_config c;
    int rc = wg_config_parse(json, "test", &c, &err);
    printf("%s -> %d %s\n", json, rc, err.message);
    assert_int_equal(rc, WG_ECONFIG);
    assert_non_null(strstr(err.message, needle));
}

static void test_defaults_are_nvidias(void **state) {
    (void)state;
    wg_config c = wg_config_default();
    assert_int_equal(c.sampling_rate, 22050);
    assert_int_equal(c.n_mel_channels, 80);
    assert_int_equal(c.n_flows, 12);
    assert_int_equal(c.n_group, 8);
    assert_int_equal(c.n_early_every, 4);
    assert_int_equal(c.wn_n_layers, 8);
    assert_int_equal(c.wn_n_channels, 256);
    assert_int_equal(c.segment_length, 16000);
    assert_true(c.mel_fmax == 8000.0 && c.sigma == 1.0);
    wg_error err = {0};
    assert_int_equal(wg_config_validate(&c, "defaults", &err), 0);
}

static void test_reference_config(void **state) {
    (void)state;
    wg_config c;
    wg_error err = {0};
    assert_int_equal(wg_config_load(DATA("reference/tiny.config.json"), &c, &err), 0);
    assert_int_equal(c.n_mel_channels, 16);
    assert_int_equal(c.n_flows, 4);
    assert_int_equal(c.n_early_every, 2);
    assert_int_equal(c.wn_n_layers, 3);
    assert_int_equal(c.wn_n_channels, 16);
    assert_int_equal(c.segment_length, 4096);
    assert_true(c.sigma == 1.0);
}

static void test_sections_and_defaults(void **state) {
    (void)state;
    wg_config c;
    /* Only data_config: the rest keeps NVIDIA's values; null fmax is Nyquist; other sections ignored. */
    parse_ok("{\"data_config\": {\"sampling_rate\": 16000, \"mel_fmax\": null}, \"dist_config\": {\"x\": 1}}", &c);
    assert_int_equal(c.sampling_rate, 16000);
    assert_true(c.mel_fmax == 8000.0);
    assert_int_equal(c.n_flows, 12);
    parse_ok("{\"data_config\": {\"sampling_rate\": 44100, \"mel_fmax\": null}}", &c);
    assert_true(c.mel_fmax == 22050.0);
    /* sigma from train_config, overridden by a top-level sigma */
    parse_ok("{\"train_config\": {\"sigma\": 0.7}, \"waveglow_config\": {}}", &c);
    assert_true(c.sigma == 0.7);
    parse_ok("{\"train_config\": {\"sigma\": 0.7}, \"waveglow_config\": {}, \"sigma\": 0.5}", &c);
    assert_true(c.sigma == 0.5);
}

static void test_rejects_bad_configs(void **state) {
    (void)state;
    parse_fails("not json", "not valid JSON");
    parse_fails("[1, 2]", "JSON object");
    parse_fails("{\"train_config\": {}}", "neither");
    parse_fails("{\"data_config\": {\"hop_length\": \"256\"}}", "hop_length must be an integer");
    parse_fails("{\"data_config\": {\"hop_length\": 25.5}}", "hop_length must be an integer");
    parse_fails("{\"data_config\": 5}", "\"data_config\" must be an object");
    parse_fails("{\"waveglow_config\": {\"n_group\": 7}}", "n_group 7 must be even");
    parse_fails("{\"waveglow_config\": {\"WN_config\": {\"kernel_size\": 4}}}", "kernel_size 4 must be odd");
    parse_fails("{\"data_config\": {\"win_length\": 2048}}", "win_length 2048");
    parse_fails("{\"data_config\": {\"sampling_rate\": 8000, \"mel_fmax\": 8000}}", "Nyquist");
    parse_fails("{\"data_config\": {\"mel_fmin\": 9000, \"mel_fmax\": 8000}}", "mel_fmin");
    parse_fails("{\"waveglow_config\": {\"n_group\": 4, \"n_early_every\": 1, \"n_early_size\": 2}}", "must remain");
    parse_fails("{\"waveglow_config\": {\"n_flows\": 0}}", "n_flows 0");
    parse_fails("{\"waveglow_config\": {}, \"sigma\": -1}", "sigma");
    parse_fails("{\"waveglow_config\": {\"n_mel_channels\": 1e12}}", "n_mel_channels must be an integer");
}

static void test_json_round_trip(void **state) {
    (void)state;
    wg_config c = wg_config_default(), d;
    c.sampling_rate = 16000;
    c.hop_length = 200;
    c.win_length = 800;
    c.mel_fmin = 55;
    c.mel_fmax = 7600;
    c.n_flows = 6;
    c.sigma = 0.8;
    char *json = wg_config_to_json(&c);
    assert_non_null(json);
    parse_ok(json, &d);
    free(json);
    /* field by field: struct padding is not part of the value */
    assert_int_equal(c.sampling_rate, d.sampling_rate);
    assert_int_equal(c.filter_length, d.filter_length);
    assert_int_equal(c.hop_length, d.hop_length);
    assert_int_equal(c.win_length, d.win_length);
    assert_true(c.mel_fmin == d.mel_fmin && c.mel_fmax == d.mel_fmax && c.sigma == d.sigma);
    assert_int_equal(c.segment_length, d.segment_length);
    assert_int_equal(c.n_mel_channels, d.n_mel_channels);
    assert_int_equal(c.n_flows, d.n_flows);
    assert_int_equal(c.n_group, d.n_group);
    assert_int_equal(c.n_early_every, d.n_early_every);
    assert_int_equal(c.n_early_size, d.n_early_size);
    assert_int_equal(c.wn_n_layers, d.wn_n_layers);
    assert_int_equal(c.wn_n_channels, d.wn_n_channels);
    assert_int_equal(c.wn_kernel_size, d.wn_kernel_size);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_are_nvidias),  cmocka_unit_test(test_reference_config),
        cmocka_unit_test(test_sections_and_defaults), cmocka_unit_test(test_rejects_bad_configs),
        cmocka_unit_test(test_json_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
