/* test_golden.c — the project's own audio regression tests: each clip in tests/golden/LIST,
 * vocoded with the bundled model (models/speech16k) and its seed, must match its committed golden file under
 * `waveglow compare` (max abs 1e-4, SNR >= 80 dB, same length) at 1 and 2 threads and in every
 * build type this suite runs (Release, Debug with sanitizers); the same run twice is bit-identical;
 * and a changed seed is caught. Re-bless after an intended change: tools/bless-goldens.sh. */
#include "testutil.h"

#define MODEL WG_SOURCE_DIR "/models/speech16k.safetensors"
#define THRESHOLDS "--max-abs 1e-4 --min-snr 80 --max-length-diff 0"

static char out[1 << 16];

static void test_goldens(void **state) {
    (void)state;
    FILE *fp = fopen(WG_SOURCE_DIR "/tests/golden/LIST", "r");
    assert_non_null(fp);
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, fp)) {
        char name[64];
        int seed;
        double sigma;
        if (line[0] == '#' || sscanf(line, "%63s %d %lf", name, &seed, &sigma) != 3) continue;
        char golden[512], a[512], b[512];
        snprintf(golden, sizeof golden, "%s/tests/golden/%s.seed%d.wav", WG_SOURCE_DIR, name, seed);
        tmp_path(a, sizeof a, "a.wav");
        tmp_path(b, sizeof b, "b.wav");
        for (int threads = 1; threads <= 2; threads++) {
            assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s/audio/%s.wav -o %s --seed %d --sigma %g "
                                     "--float -q -t %d", MODEL, WG_SOURCE_DIR, name, a, seed, sigma, threads),
                             0);
            assert_int_equal(run_cli(out, sizeof out, "compare %s %s " THRESHOLDS, golden, a), 0);
        }
        /* the same run again: bit for bit */
        assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s/audio/%s.wav -o %s --seed %d --sigma %g "
                                 "--float -q -t 2", MODEL, WG_SOURCE_DIR, name, b, seed, sigma),
                         0);
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "cmp -s %s %s", a, b);
        assert_int_equal(system(cmd), 0);
        n++;
    }
    fclose(fp);
    assert_int_equal(n, 4);
    /* a changed synthesis is caught, and the failing measure is named */
    char a[512];
    tmp_path(a, sizeof a, "changed.wav");
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s/audio/hello-world.wav -o %s --seed 2 --float -q",
                             MODEL, WG_SOURCE_DIR, a),
                     0);
    assert_int_equal(run_cli(out, sizeof out, "compare %s/tests/golden/hello-world.seed1.wav %s " THRESHOLDS,
                             WG_SOURCE_DIR, a),
                     1);
    assert_non_null(strstr(out, "FAILED max-abs"));
    assert_non_null(strstr(out, "FAILED min-snr"));
}

static void test_compare_cli(void **state) {
    (void)state;
    char png[512], js[512];
    tmp_path(png, sizeof png, "cmp.png");
    const char *g = WG_SOURCE_DIR "/tests/golden/hello-world.seed1.wav";
    assert_int_equal(run_cli(out, sizeof out, "compare %s %s --json --png %s", g, g, png), 0);
    assert_non_null(strstr(out, "\"identical\":\ttrue"));
    assert_non_null(strstr(out, "\"snr_db\":\tnull"));
    FILE *fp = fopen(png, "rb");
    assert_non_null(fp);
    unsigned char magic[8];
    assert_int_equal(fread(magic, 1, 8, fp), 8);
    fclose(fp);
    assert_memory_equal(magic, "\x89PNG\r\n\x1a\n", 8);
    /* bad input: exit 2, and the PNG of a failed run is not written */
    tmp_path(js, sizeof js, "none.png");
    assert_int_equal(run_cli(out, sizeof out, "compare %s /nonexistent.wav --png %s", g, js), 2);
    assert_false(file_exists(js));
    char other_rate[512]; /* the tiny reference model speaks at 22.05 kHz, the goldens at 16 kHz */
    tmp_path(other_rate, sizeof other_rate, "22k.wav");
    assert_int_equal(run_cli(out, sizeof out, "vocode --model %s %s/audio/hello-world.wav -o %s -q",
                             WG_TEST_DATA "/reference/tiny.model.safetensors", WG_SOURCE_DIR, other_rate),
                     0);
    assert_int_equal(run_cli(out, sizeof out, "compare %s %s", g, other_rate), 2);
    assert_non_null(strstr(out, "resample one first"));
    assert_int_equal(run_cli(out, sizeof out, "compare %s", g), 2);
    assert_int_equal(run_cli(out, sizeof out, "compare %s %s --min-snr abc", g, g), 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_goldens), cmocka_unit_test(test_compare_cli)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
