/* test_safetensors.c — the safetensors reader on hand-made files: the good case, and each way a
 * header can lie (length, offsets, overlap, duplicates, dtype, shape/size mismatch), and data
 * read on demand from a file that is cut short while open. */
#include "safetensors.h"
#include "testutil.h"

#include <fcntl.h>
#include <unistd.h>

/* header JSON (unpadded) and `data_bytes` bytes of data */
static const char *make(const char *name, const char *header, size_t data_bytes, int64_t hlen_override) {
    static char path[512];
    tmp_path(path, sizeof path, name);
    FILE *fp = fopen(path, "wb");
    uint64_t hlen = hlen_override >= 0 ? (uint64_t)hlen_override : strlen(header);
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)(hlen >> (8 * i));
    fwrite(len8, 1, 8, fp);
    fwrite(header, 1, strlen(header), fp);
    for (size_t i = 0; i < data_bytes; i++)
        fputc((int)(i & 0x3f), fp);
    fclose(fp);
    return path;
}

static void expect(const char *path, int code, const char *needle) {
    wg_st_file st;
    wg_error err = {0};
    int rc = wg_st_read(path, &st, &err);
    printf("%s -> %d: %s\n", path, rc, err.message);
    assert_int_equal(rc, code);
    if (needle)
        assert_non_null(strstr(err.message, needle));
    if (!rc)
        wg_st_close(&st);
}

static void test_good_file(void **state) {
    (void)state;
    const char *p = make("good.st",
                         "{\"__metadata__\": {\"config\": \"{}\", \"other\": \"x\"}, "
                         "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [24, 32]}, "
                         "\"a\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]}, "
                         "\"s\": {\"dtype\": \"F64\", \"shape\": [], \"data_offsets\": [32, 40]}}",
                         40, -1);
    wg_st_file st;
    wg_error err = {0};
    assert_int_equal(wg_st_read(p, &st, &err), 0);
    assert_int_equal(st.n_tensors, 3);
    assert_string_equal(st.config, "{}");
    const wg_st_tensor *a = wg_st_find(&st, "a");
    assert_non_null(a);
    assert_int_equal(a->numel, 6);
    assert_int_equal(a->shape[1], 3);
    assert_non_null(wg_st_find(&st, "s"));
    assert_null(wg_st_find(&st, "c"));
    wg_st_close(&st);
}

static void test_write_then_read(void **state) {
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "written.st");
    float x[6] = {1, 2, 3, 4, 5, 6}, y[1] = {-7};
    wg_st_entry e[2] = {{"x", 2, {2, 3}, x}, {"y", 1, {1}, y}};
    wg_error err = {0};
    const char *meta[] = {"config", "{\"k\": 1}", "step", "42", NULL};
    assert_int_equal(wg_st_write(path, e, 2, meta, &err), 0);
    wg_st_file st;
    assert_int_equal(wg_st_read(path, &st, &err), 0);
    assert_string_equal(st.config, "{\"k\": 1}");
    assert_string_equal(wg_st_meta(&st, "step"), "42");
    assert_null(wg_st_meta(&st, "nope"));
    float got[6];
    assert_int_equal(wg_st_copy(&st, wg_st_find(&st, "x"), got, NULL), 0);
    assert_memory_equal(got, x, sizeof x);
    assert_int_equal((st.data_start) % 8, 0);
    wg_st_close(&st);
}

static void test_lying_headers(void **state) {
    (void)state;
    expect(make("tiny.st", "", 0, 0), WG_EFORMAT, "header length");
    expect(make("past.st", "{}", 0, 4096), WG_EFORMAT, "header length 4096");
    expect(make("huge.st", "{}", 0, (int64_t)1 << 40), WG_EFORMAT, "impossible");
    expect(make("notjson.st", "{\"a\": ", 0, -1), WG_EFORMAT, "not a JSON object");
    expect(make("array.st", "[1, 2]", 0, -1), WG_EFORMAT, "not a JSON object");
    expect(make("oob.st", "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 8, -1),
           WG_EFORMAT, "outside the 8 data bytes");
    expect(make("rev.st", "{\"a\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [8, 4]}}", 8, -1), WG_EFORMAT,
           "outside");
    expect(make("size.st", "{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 16]}}", 16, -1),
           WG_EFORMAT, "spans 16 bytes but its shape needs 12");
    expect(make("overlap.st",
                "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}, "
                "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]}}",
                16, -1),
           WG_EFORMAT, "overlap");
    expect(make("dup.st",
                "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
                "\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]}}",
                16, -1),
           WG_EFORMAT, "appears twice");
    expect(make("f16.st", "{\"a\": {\"dtype\": \"F16\", \"shape\": [2], \"data_offsets\": [0, 4]}}", 4, -1),
           WG_EUNSUPPORTED, "F16");
    expect(make("neg.st", "{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", 4, -1),
           WG_EFORMAT, "bad shape");
    expect(make("frac.st", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]}}", 4, -1),
           WG_EFORMAT, "bad shape");
    expect(make("mul.st",
                "{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296], "
                "\"data_offsets\": [0, 4]}}",
                4, -1),
           WG_EFORMAT, "too large");
    expect(make("offs.st", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 4, -1), WG_EFORMAT,
           "data_offsets");
    expect(make("notobj.st", "{\"a\": 5}", 0, -1), WG_EFORMAT, "not an object");
    expect(make("meta.st", "{\"__metadata__\": {\"config\": 5}}", 0, -1), WG_EFORMAT, "JSON string");
    expect(tmp_dir(), WG_EIO, "not a regular file");
    expect("/nonexistent/model.safetensors", WG_EIO, "cannot open");
}

/* Tensors are read from the open file when copied: F64 converted in chunks (2500 values spans
 * three), F32 widened, and a file cut short after wg_st_read is an error, not a crash. */
static void test_read_on_demand(void **state) {
    (void)state;
    char path[512], header[256];
    tmp_path(path, sizeof path, "ondemand.st");
    enum { ND = 2500 };
    int hlen = snprintf(header, sizeof header,
                        "{\"d\": {\"dtype\": \"F64\", \"shape\": [%d], \"data_offsets\": [0, %d]}, "
                        "\"f\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [%d, %d]}}",
                        ND, 8 * ND, 8 * ND, 8 * ND + 12);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    for (int i = 0; i < 8; i++)
        fputc((int)(((uint64_t)hlen >> (8 * i)) & 0xff), fp);
    fwrite(header, 1, (size_t)hlen, fp);
    for (int i = 0; i < ND; i++) {
        double v = 0.5 + i * 1.25;
        fwrite(&v, 8, 1, fp);
    }
    float f[3] = {1.5f, -2.25f, 1e-3f};
    fwrite(f, 4, 3, fp);
    fclose(fp);

    wg_st_file st;
    wg_error err = {0};
    assert_int_equal(wg_st_read(path, &st, &err), 0);
    int fd = st.fd;
    assert_true(fcntl(fd, F_GETFD) >= 0);
    float *d32 = malloc(ND * sizeof(float));
    double f64[3];
    assert_int_equal(wg_st_copy(&st, wg_st_find(&st, "d"), d32, &err), 0);
    for (int i = 0; i < ND; i++)
        assert_true(d32[i] == (float)(0.5 + i * 1.25));
    assert_int_equal(wg_st_copy_f64(&st, wg_st_find(&st, "f"), f64, &err), 0);
    for (int i = 0; i < 3; i++)
        assert_true(f64[i] == (double)f[i]);

    /* cut short while open: the header still says 20012 data bytes */
    assert_int_equal(truncate(path, 8 + hlen + 8 * 1500), 0);
    float got[3] = {0};
    assert_int_equal(wg_st_copy(&st, wg_st_find(&st, "f"), got, &err), WG_EIO);
    assert_non_null(strstr(err.message, "ended early"));
    assert_int_equal(wg_st_copy(&st, wg_st_find(&st, "d"), d32, &err), WG_EIO);
    wg_st_close(&st);
    assert_int_equal(fcntl(fd, F_GETFD), -1); /* closed */
    free(d32);
    /* reopened, the cut is caught by the header's offsets */
    expect(path, WG_EFORMAT, "outside");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_write_then_read),
        cmocka_unit_test(test_lying_headers),
        cmocka_unit_test(test_read_on_demand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
