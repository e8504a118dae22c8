/* test_kernels.c — the vectorised element-wise kernels against float64 libm: tanh and sigmoid
 * within 1e-7 absolute (and 1e-6 relative away from zero) over a dense grid and the edges, and
 * the gate as their product; the double-accumulated sum behind the bias gradients; and the
 * huge-page allocator. */
#include "hugealloc.h"
#include "kernels.h"
#include "testutil.h"

static void test_tanh_sigmoid_against_float64(void **state) {
    (void)state;
    enum { N = 400001 };
    static float x[N], y[N], s[N];
    for (int i = 0; i < N; i++) x[i] = -20.0f + 40.0f * (float)i / (N - 1);
    const float edges[] = {0.0f, -0.0f, 1e-30f, -1e-8f, 1e-4f, 0.5f, 9.0f, -9.0f, 43.0f, -43.0f, 87.0f, -87.0f,
                           88.0f, -88.0f, 100.0f, -100.0f, 1e30f, -1e30f};
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++) x[i] = edges[i];
    wg_tanh(y, x, N);
    wg_sigmoid(s, x, N);
    double worst_t = 0, worst_s = 0, worst_rel = 0;
    for (int i = 0; i < N; i++) {
        double t = tanh((double)x[i]), g = 1.0 / (1.0 + exp(-(double)x[i]));
        assert_true(isfinite(y[i]) && isfinite(s[i]));
        worst_t = fmax(worst_t, fabs(y[i] - t));
        worst_s = fmax(worst_s, fabs(s[i] - g));
        if (fabs(x[i]) > 0.1) worst_rel = fmax(worst_rel, fabs(y[i] - t) / fabs(t));
        assert_true(signbit(y[i]) == signbit(x[i]) || y[i] == 0);
    }
    printf("tanh: max abs error %.2e (relative %.2e for |x| > 0.1); sigmoid: %.2e\n", worst_t, worst_rel, worst_s);
    assert_true(worst_t <= 1e-7);
    assert_true(worst_rel <= 1e-6);
    assert_true(worst_s <= 1e-7);
    /* NaN propagates (the training guard relies on it); infinities saturate */
    float special[4] = {NAN, INFINITY, -INFINITY, -NAN}, ts[4], ss[4];
    wg_tanh(ts, special, 4);
    wg_sigmoid(ss, special, 4);
    assert_true(isnan(ts[0]) && isnan(ss[0]) && isnan(ts[3]) && isnan(ss[3]));
    assert_true(ts[1] == 1.0f && ts[2] == -1.0f && ss[1] == 1.0f && ss[2] >= 0.0f && ss[2] < 1e-37f);
    /* in place, and the gate is their product */
    float pre[2 * 1000], acts[1000], a2[1000];
    for (int i = 0; i < 2000; i++) pre[i] = 6.0f * sinf(0.37f * i);
    wg_gate(acts, 100, pre, 100, 10, 100);
    for (int c = 0; c < 10; c++)
        for (int t = 0; t < 100; t++) {
            double want = tanh((double)pre[c * 100 + t]) / (1 + exp(-(double)pre[(10 + c) * 100 + t]));
            assert_true(fabs(acts[c * 100 + t] - want) <= 2e-7);
        }
    /* a block of columns, as a team member gates its own: other strides, nothing past n written */
    float part[500];
    for (int i = 0; i < 500; i++) part[i] = 7.0f;
    wg_gate(part, 50, pre + 20, 100, 10, 37);
    for (int c = 0; c < 10; c++)
        for (int t = 0; t < 50; t++) assert_true(part[c * 50 + t] == (t < 37 ? acts[c * 100 + 20 + t] : 7.0f));
    memcpy(a2, pre, sizeof a2);
    wg_tanh(a2, a2, 1000);
    for (int i = 0; i < 1000; i++) assert_true(fabs(a2[i] - tanh((double)pre[i])) <= 1e-7);
}

/* wg_sum_f64 against a float64 sum of the same floats: every length from 0 to 40 (the partial
 * sums' tail and whole blocks), values whose float sum would lose digits (1e8 beside 1), an
 * unaligned start; and a small term after a thousand ones, which a float accumulator drops */
static void test_sum_f64(void **state) {
    (void)state;
    float x[64];
    for (int i = 0; i < 64; i++) x[i] = (i % 7 == 3 ? 1e8f : 1.0f) * (float)((i * 37) % 11 - 5) + 0.25f * (float)i;
    for (size_t n = 0; n <= 40; n++)
        for (size_t off = 0; off < 3; off++) {
            double want = 0;
            for (size_t t = 0; t < n; t++) want += x[off + t];
            double got = wg_sum_f64(x + off, n);
            assert_true(fabs(got - want) <= 1e-12 * (1 + fabs(want)));
        }
    float ones[1003];
    for (int i = 0; i < 1003; i++) ones[i] = 1.0f;
    ones[1002] = 0x1p-20f; /* lost in a float sum of a thousand ones, kept in double */
    assert_true(wg_sum_f64(ones, 1003) == 1002.0 + 0x1p-20);
}

/* the big buffers' allocator: 2 MB-aligned from 2 MB (what transparent huge pages need), every byte
 * usable, and a plain allocation below */
static void test_alloc_huge(void **state) {
    (void)state;
    const size_t sizes[] = {0, 1, 4096, (2u << 20) - 1, 2u << 20, (2u << 20) + 1, 5u << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        unsigned char *p = wg_alloc_huge(sizes[i]);
        assert_non_null(p);
        if (sizes[i] >= (2u << 20)) assert_int_equal((uintptr_t)p % (2u << 20), 0);
        memset(p, 0xa5, sizes[i]);
        if (sizes[i]) assert_int_equal(p[sizes[i] - 1], 0xa5);
        free(p);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_tanh_sigmoid_against_float64),
                                       cmocka_unit_test(test_sum_f64), cmocka_unit_test(test_alloc_huge)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
