/* test_ring.c — the lock-free SPSC ring under two threads at random speeds (millions of samples,
 * nothing lost, duplicated or reordered), and the playback callback's logic with slow and fast
 * producers: underruns counted only while the producer is behind, host underflows counted,
 * draining detected. Also run under ThreadSanitizer (tools/run-tests.sh). */
#include <pthread.h>

#include "playout.h"
#include "ring.h"
#include "testutil.h"

enum { TOTAL = 4000000 };

static uint64_t lcg(uint64_t *s) { return (*s = *s * 6364136223846793005ull + 1442695040888963407ull) >> 33; }

static void *ring_producer(void *arg) {
    wg_ring *r = arg;
    uint64_t seed = 1;
    float buf[700];
    size_t sent = 0;
    while (sent < TOTAL) {
        size_t n = 1 + lcg(&seed) % 700;
        if (n > TOTAL - sent) n = TOTAL - sent;
        for (size_t i = 0; i < n; i++) buf[i] = (float)((sent + i) % 16777216); /* exact in float */
        size_t off = 0;
        while (off < n) off += wg_ring_write(r, buf + off, n - off);
        sent += n;
        if (lcg(&seed) % 64 == 0) usleep(50);
    }
    return NULL;
}

static void test_ring_two_threads(void **state) {
    (void)state;
    wg_ring r;
    assert_int_equal(wg_ring_init(&r, 1000), 0);
    assert_int_equal(wg_ring_capacity(&r), 1024);
    pthread_t t;
    pthread_create(&t, NULL, ring_producer, &r);
    uint64_t seed = 2;
    float buf[900];
    size_t got = 0, bad = 0;
    while (got < TOTAL) {
        size_t n = wg_ring_read(&r, buf, 1 + lcg(&seed) % 900);
        for (size_t i = 0; i < n; i++) bad += buf[i] != (float)((got + i) % 16777216);
        got += n;
        if (lcg(&seed) % 64 == 0) usleep(50);
    }
    pthread_join(t, NULL);
    printf("ring: %zu samples through a %zu-sample ring, %zu out of order, %zu left\n", got, wg_ring_capacity(&r), bad,
           wg_ring_readable(&r));
    assert_int_equal(bad, 0);
    assert_int_equal(wg_ring_readable(&r), 0);
    wg_ring_free(&r);
}

typedef struct {
    wg_playout *p;
    size_t per_ms, total;
} slow_producer;

static void *produce_slowly(void *arg) {
    slow_producer *s = arg;
    float buf[4096] = {0};
    for (size_t sent = 0; sent < s->total; sent += s->per_ms) {
        size_t off = 0;
        while (off < s->per_ms) off += wg_ring_write(s->p->ring, buf, s->per_ms - off);
        usleep(1000);
    }
    atomic_store(&s->p->producer_done, true);
    return NULL;
}

/* a consumer at "real time": 64 samples every millisecond */
static size_t run_consumer(size_t per_ms, size_t total, size_t prebuffer, size_t *device_underflows) {
    wg_ring r;
    wg_ring_init(&r, 1 << 16);
    wg_playout p;
    wg_playout_init(&p, &r);
    slow_producer sp = {&p, per_ms, total};
    pthread_t t;
    pthread_create(&t, NULL, produce_slowly, &sp);
    while (wg_ring_readable(&r) < prebuffer && !atomic_load(&p.producer_done)) usleep(100);
    float out[64];
    int calls = 0;
    while (!atomic_load(&p.drained)) {
        wg_playout_fill(&p, out, 64, ++calls == 10);
        usleep(1000);
    }
    pthread_join(t, NULL);
    assert_int_equal(atomic_load(&p.frames_played), total);
    *device_underflows = atomic_load(&p.device_underflows);
    size_t u = atomic_load(&p.underruns);
    wg_ring_free(&r);
    return u;
}

static void test_underrun_accounting(void **state) {
    (void)state;
    size_t dev;
    size_t slow = run_consumer(32, 3200, 64, &dev);  /* half the consumer's speed */
    printf("slow producer: %zu underruns (ring empty), %zu device underflows\n", slow, dev);
    assert_true(slow > 20);
    assert_int_equal(dev, 1);
    size_t fast = run_consumer(256, 12800, 2048, &dev); /* four times the consumer's speed */
    printf("fast producer: %zu underruns\n", fast);
    assert_int_equal(fast, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_two_threads),
        cmocka_unit_test(test_underrun_accounting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
