/* test_install.c — the installed package works for another project: `cmake --install` into a
 * scratch prefix, then examples/mel_summary is built against it with find_package (shared and
 * static) and with pkg-config, and each binary runs on a bundled clip. */
#include "testutil.h"

/* A sanitized libwaveglow.a needs a sanitized consumer. */
#ifdef WG_SANITIZED
#define SAN "-fsanitize=address,undefined"
#else
#define SAN ""
#endif

static void test_find_package_and_pkg_config(void **state) {
    (void)state;
    const char *t = tmp_dir();
    assert_int_equal(sh("cmake --install %s --prefix %s/prefix >/dev/null", WG_BINARY_DIR, t), 0);
    assert_int_equal(sh("cmake -S %s/examples/mel_summary -B %s/ex -DCMAKE_PREFIX_PATH=%s/prefix "
                        "-DCMAKE_C_FLAGS='" SAN "' >/dev/null && cmake --build %s/ex >/dev/null",
                        WG_SOURCE_DIR, t, t, t),
                     0);
    assert_int_equal(sh("LD_LIBRARY_PATH=%s/prefix/lib %s/ex/mel_summary %s/audio/hello-world.wav | grep -q '80 mels'",
                        t, t, WG_SOURCE_DIR),
                     0);
    assert_int_equal(sh("%s/ex/mel_summary_static %s/audio/hello-world.wav | grep -q '80 mels'", t, WG_SOURCE_DIR), 0);
    assert_int_equal(sh("PKG_CONFIG_PATH=%s/prefix/lib/pkgconfig cc " SAN
                        " %s/examples/mel_summary/mel_summary.c -o %s/pc "
                        "$(PKG_CONFIG_PATH=%s/prefix/lib/pkgconfig pkg-config --cflags --libs waveglow) && "
                        "LD_LIBRARY_PATH=%s/prefix/lib %s/pc %s/audio/auth-thankyou.wav | grep -q 'frames'",
                        t, WG_SOURCE_DIR, t, t, t, t, WG_SOURCE_DIR),
                     0);
    /* a user's project registers audio regression tests with waveglow_add_audio_test */
    assert_int_equal(sh("cmake -S %s/examples/audio_regression -B %s/ar -DCMAKE_PREFIX_PATH=%s/prefix >/dev/null && "
                        "ctest --test-dir %s/ar --no-tests=error --output-on-failure",
                        WG_SOURCE_DIR, t, t, t),
                     0);
    /* a bad input through the installed library: a clear message and exit 2 */
    assert_int_equal(sh("LD_LIBRARY_PATH=%s/prefix/lib %s/ex/mel_summary /nonexistent.wav", t, t), 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_find_package_and_pkg_config)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
