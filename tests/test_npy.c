/* test_npy.c — .npy reading and writing: round trips, files numpy wrote, v2 headers, Fortran
 * order, float64, and corrupt files. */
#include "testutil.h"

static void write_raw(const char *path, const void *a, size_t na, const void *b, size_t nb) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fwrite(a, 1, na, fp);
    if (b)
        fwrite(b, 1, nb, fp);
    fclose(fp);
}

/* A .npy with the given version and dict, then the data bytes. */
static void write_npy(const char *path, int major, const char *dict, const void *data, size_t nbytes) {
    unsigned char buf[1024];
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    if (major == 1) {
        buf[8] = (unsigned char)dl;
        buf[9] = (unsigned char)(dl >> 8);
    } else {
        for (int i = 0; i < 4; i++)
            buf[8 + i] = (unsigned char)(dl >> (8 * i));
    }
    memcpy(buf + pre, dict, dl);
    write_raw(path, buf, pre + dl, data, nbytes);
}

static void test_round_trip(void **state) {
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "rt.npy");
    float x[3 * 5];
    for (int i = 0; i < 15; i++)
        x[i] = (float)(i * 0.25 - 1.0);
    size_t shape[2] = {3, 5};
    wg_error err = {0};
    assert_int_equal(wg_npy_write(path, x, 2, shape, &err), 0);
    wg_array a;
    assert_int_equal(wg_npy_read(path, &a, &err), 0);
    assert_int_equal(a.ndim, 2);
    assert_int_equal(a.shape[0], 3);
    assert_int_equal(a.shape[1], 5);
    assert_memory_equal(a.data, x, sizeof x);
    wg_array_free(&a);
    /* header is 64-byte aligned as numpy writes it */
    struct stat st;
    stat(path, &st);
    assert_int_equal((st.st_size - (off_t)sizeof x) % 64, 0);
    size_t shape1[1] = {15};
    assert_int_equal(wg_npy_write(path, x, 1, shape1, &err), 0);
    assert_int_equal(wg_npy_read(path, &a, &err), 0);
    assert_int_equal(a.ndim, 1);
    assert_int_equal(a.shape[0], 15);
    wg_array_free(&a);
}

static void test_reads_what_numpy_wrote(void **state) {
    (void)state;
    wg_array a;
    wg_error err = {0};
    assert_int_equal(wg_npy_read(DATA("mel/tiny16.mel.npy"), &a, &err), 0);
    assert_int_equal(a.ndim, 2);
    assert_int_equal(a.shape[0], 16);
    assert_int_equal(a.shape[1], 17);
    wg_array_free(&a);
}

static void test_v2_fortran_and_f8(void **state) {
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "v2.npy");
    wg_error err = {0};
    wg_array a;
    /* (2, 3) in Fortran order: column-major storage of [[0,1,2],[3,4,5]] is 0,3,1,4,2,5 */
    float fdata[6] = {0, 3, 1, 4, 2, 5};
    write_npy(path, 2, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n", fdata, sizeof fdata);
    assert_int_equal(wg_npy_read(path, &a, &err), 0);
    for (int i = 0; i < 6; i++)
        assert_true(a.data[i] == (float)i);
    wg_array_free(&a);
    double ddata[4] = {0.5, -1.25, 3e-3, 7.0};
    write_npy(path, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }\n", ddata, sizeof ddata);
    assert_int_equal(wg_npy_read(path, &a, &err), 0);
    for (int i = 0; i < 4; i++)
        assert_true(a.data[i] == (float)ddata[i]);
    wg_array_free(&a);
}

static void expect_error(const char *name, int major, const char *dict, const void *data, size_t n, int code,
                         const char *needle) {
    char path[512];
    tmp_path(path, sizeof path, name);
    write_npy(path, major, dict, data, n);
    wg_array a;
    wg_error err = {0};
    int rc = wg_npy_read(path, &a, &err);
    printf("%s: %d %s\n", name, rc, err.message);
    assert_int_equal(rc, code);
    assert_non_null(strstr(err.message, needle));
    assert_non_null(strstr(err.message, path));
    assert_null(a.data);
}

static void test_corrupt_files(void **state) {
    (void)state;
    float d[4] = {0};
    expect_error("short.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }\n", d, sizeof d, WG_EFORMAT,
                 "shape needs");
    expect_error("long.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n", d, sizeof d, WG_EFORMAT,
                 "shape needs");
    expect_error("int.npy", 1, "{'descr': '<i2', 'fortran_order': False, 'shape': (8,), }\n", d, sizeof d,
                 WG_EUNSUPPORTED, "'<i2'");
    expect_error("big.npy", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }\n", d, sizeof d,
                 WG_EUNSUPPORTED, "dtype");
    expect_error("noshape.npy", 1, "{'descr': '<f4', 'fortran_order': False, }\n", d, sizeof d, WG_EFORMAT, "shape");
    expect_error("badshape.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }\n", d, sizeof d,
                 WG_EFORMAT, "malformed");
    expect_error("huge.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }\n", d,
                 sizeof d, WG_EFORMAT, "too large");
    expect_error("overflow.npy", 1,
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776, 16), }\n", d,
                 sizeof d, WG_EFORMAT, "shape needs");
    expect_error("ver.npy", 9, "{}", d, 0, WG_EUNSUPPORTED, "version");
    /* header length past the end of the file */
    char path[512];
    tmp_path(path, sizeof path, "hlen.npy");
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0xff, 0x7f};
    write_raw(path, pre, sizeof pre, "{", 1);
    wg_array a;
    wg_error err = {0};
    assert_int_equal(wg_npy_read(path, &a, &err), WG_EFORMAT);
    assert_non_null(strstr(err.message, "past the end"));
    write_raw(path, "RIFF....WAVE", 12, NULL, 0);
    assert_int_equal(wg_npy_read(path, &a, &err), WG_EFORMAT);
    assert_non_null(strstr(err.message, "bad magic"));
    write_raw(path, "", 0, NULL, 0);
    assert_int_equal(wg_npy_read(path, &a, &err), WG_EFORMAT);
    assert_int_equal(wg_npy_read(tmp_dir(), &a, &err), WG_EIO);
    assert_non_null(strstr(err.message, "not a regular file"));
    assert_int_equal(wg_npy_read("/nonexistent/x.npy", &a, &err), WG_EIO);
}

static void test_write_failure_keeps_old_file(void **state) {
    (void)state;
    wg_error err = {0};
    float x[2] = {1, 2};
    size_t shape[1] = {2};
    assert_int_equal(wg_npy_write("/nonexistent-dir/x.npy", x, 1, shape, &err), WG_EIO);
    assert_non_null(strstr(err.message, "/nonexistent-dir"));
    assert_int_equal(wg_npy_write(tmp_dir(), x, 1, shape, &err), WG_EIO);
    assert_non_null(strstr(err.message, "directory"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_reads_what_numpy_wrote),
        cmocka_unit_test(test_v2_fortran_and_f8),
        cmocka_unit_test(test_corrupt_files),
        cmocka_unit_test(test_write_failure_keeps_old_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
