/*
 * test_hist.c - unit tests for the latency histogram (daemon/hist.c).
 *
 * Hand-written cases pin the edges (empty, small values exact, the max
 * exact, 2^64 - 1, the overflow halving).  A seeded random test checks
 * every quantile against a sorted array of the same values, within the
 * documented error: never below the true value, above it by less than
 * 1/16 of it.  LOOPD_TEST_SEED reproduces a run.
 */
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testseed.h"

#include "hist.h"

static unsigned test_seed;

static const double qs[] = { 0.0,  0.001, 0.01, 0.1,   0.25, 0.5,
			     0.75, 0.9,   0.99, 0.999, 1.0 };

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The nearest-rank reference: the value of rank ceil(q * n), at least 1. */
static uint64_t ref_quantile(const uint64_t *sorted, size_t n, double q)
{
	double r = ceil(q * (double)n);
	size_t rank = r < 1.0 ? 1 : r > (double)n ? n : (size_t)r;

	return sorted[rank - 1];
}

static void check_against(const struct hist *h, uint64_t *v, size_t n,
			  const char *what)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	assert_int_equal(h->count, n);
	assert_int_equal(h->max, v[n - 1]);
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		uint64_t want = ref_quantile(v, n, qs[i]);
		uint64_t got = hist_quantile(h, qs[i]);

		/* got - want < want / 16, in integers: exact below 16. */
		if (got < want || (want == 0 && got != 0) ||
		    (want > 0 && got - want > (want - 1) / 16))
			fail_msg("seed=%u %s n=%zu q=%g: got %" PRIu64
				 ", reference %" PRIu64,
				 test_seed, what, n, qs[i], got, want);
	}
}

static void test_empty(void **state)
{
	struct hist h;

	(void)state;
	hist_reset(&h);
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
		assert_int_equal(hist_quantile(&h, qs[i]), 0);
	assert_int_equal(h.count, 0);
	assert_int_equal(h.max, 0);
}

static void test_small_exact(void **state)
{
	struct hist h;

	(void)state;
	hist_reset(&h);
	for (uint64_t v = 0; v < 16; v++)
		hist_add(&h, v);
	/* 16 values 0..15: rank ceil(16q), value rank - 1. */
	assert_int_equal(hist_quantile(&h, 0.0), 0);
	assert_int_equal(hist_quantile(&h, 0.5), 7);
	assert_int_equal(hist_quantile(&h, 0.51), 8);
	assert_int_equal(hist_quantile(&h, 1.0), 15);
	assert_int_equal(h.sum, 120);
}

static void test_max_exact(void **state)
{
	struct hist h;

	(void)state;
	hist_reset(&h);
	hist_add(&h, 1000);
	hist_add(&h, 1001);
	hist_add(&h, 1003); /* all three in the bucket [992, 1023] */
	assert_int_equal(hist_quantile(&h, 1.0), 1003);
	assert_int_equal(hist_quantile(&h, 0.99), 1003);
	assert_int_equal(h.max, 1003);
	/* One value: every quantile is that value. */
	hist_reset(&h);
	hist_add(&h, 123456789);
	assert_int_equal(hist_quantile(&h, 0.0), 123456789);
	assert_int_equal(hist_quantile(&h, 0.5), 123456789);
}

static void test_extremes(void **state)
{
	struct hist h;

	(void)state;
	hist_reset(&h);
	hist_add(&h, UINT64_MAX);
	hist_add(&h, UINT64_C(1) << 63);
	hist_add(&h, 0);
	assert_int_equal(hist_quantile(&h, 1.0), UINT64_MAX);
	assert_int_equal(hist_quantile(&h, 0.0), 0);
	assert_true(hist_quantile(&h, 0.5) >= UINT64_C(1) << 63);
	/* Out-of-range and NaN q are clamped, not trusted. */
	assert_int_equal(hist_quantile(&h, -1.0), 0);
	assert_int_equal(hist_quantile(&h, 2.0), UINT64_MAX);
	assert_int_equal(hist_quantile(&h, NAN), 0);
}

/* A bucket about to overflow halves them all and stays consistent. */
static void test_halving(void **state)
{
	struct hist h;
	uint64_t total = 0;

	(void)state;
	hist_reset(&h);
	hist_add(&h, 5);
	h.bucket[5] = UINT32_MAX;
	h.count = UINT32_MAX;
	hist_add(&h, 100);
	hist_add(&h, 5);
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		total += h.bucket[i];
	assert_int_equal(total, h.count);
	assert_int_equal(hist_quantile(&h, 0.5), 5);
	assert_int_equal(hist_quantile(&h, 1.0), 100);
}

/* One random value of the given shape. */
static uint64_t draw(unsigned shape)
{
	switch (shape) {
	case 0: /* uniform below 2^20 */ return rng() >> 44;
	case 1: /* log-uniform over the whole range */
		return rng() >> (rng() % 64);
	case 2: /* latency-like: mostly near 50 us, some 100x tails */
		return rng() % 8 == 0 ? 5000000 + rng() % 1000000
				      : 50000 + rng() % 5000;
	default: /* few distinct values, many ties */ return (rng() % 5) * 1000;
	}
}

static void test_model(void **state)
{
	static const size_t sizes[] = { 1, 2, 3, 10, 100, 1000, 100000 };
	uint64_t *v = malloc(100000 * sizeof(*v));
	struct hist h;
	char what[32];

	(void)state;
	assert_non_null(v);
	rng_state = test_seed;
	for (unsigned shape = 0; shape < 4; shape++) {
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			hist_reset(&h);
			for (size_t i = 0; i < sizes[s]; i++) {
				v[i] = draw(shape);
				hist_add(&h, v[i]);
			}
			snprintf(what, sizeof(what), "shape=%u", shape);
			check_against(&h, v, sizes[s], what);
		}
	}
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_small_exact),
		cmocka_unit_test(test_max_exact),
		cmocka_unit_test(test_extremes),
		cmocka_unit_test(test_halving),
		cmocka_unit_test(test_model),
	};

	test_seed = test_seed_pick();
	fflush(stdout);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
