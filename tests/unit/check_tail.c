/*
 * check_tail: a route's time-to-first-byte window -- the nearest-rank
 * percentile, too few samples, samples that leave the window by age and
 * by count (the ring), the cache and its expiry, out-of-range
 * percentiles and huge samples.
 */
#include <check.h>
#include <stdint.h>

#include "tail.h"

static struct tail t;

START_TEST(test_percentile_nearest_rank)
{
	uint64_t ms = 0;
	/* 1..100 ms, shuffled by a stride prime to 100 */
	static const struct {
		unsigned pct;
		uint64_t want;
	} table[] = {{1, 1}, {50, 50}, {90, 90}, {95, 95}, {99, 99}};

	tail_init(&t);
	for (unsigned i = 0; i < 100; i++)
		tail_add(&t, (i * 37) % 100 + 1, 5000);
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		/* (a new time each: the cache holds one percentile) */
		ck_assert(
		    tail_percentile(&t, table[i].pct, 5000 + 200 * i, &ms));
		ck_assert_uint_eq(ms, table[i].want);
	}
	/* 21 samples: p95 is the 20th (ceil(0.95 * 21) = 20) */
	tail_init(&t);
	for (unsigned i = 1; i <= 21; i++)
		tail_add(&t, i * 10, 0);
	ck_assert(tail_percentile(&t, 95, 0, &ms));
	ck_assert_uint_eq(ms, 200);
}
END_TEST

START_TEST(test_too_few_and_bad_pct)
{
	uint64_t ms = 7;

	tail_init(&t);
	ck_assert(!tail_percentile(&t, 95, 0, &ms));
	for (unsigned i = 0; i < TAIL_MIN_SAMPLES - 1; i++)
		tail_add(&t, 5, 0);
	ck_assert(!tail_percentile(&t, 95, 0, &ms));
	ck_assert_uint_eq(ms, 7); /* untouched */
	tail_add(&t, 5, 0);
	ck_assert(tail_percentile(&t, 95, 0, &ms));
	ck_assert_uint_eq(ms, 5);
	ck_assert(!tail_percentile(&t, 0, 1000, &ms));
	ck_assert(!tail_percentile(&t, 100, 1000, &ms));
}
END_TEST

START_TEST(test_window_by_age)
{
	uint64_t ms = 0;

	tail_init(&t);
	/* 30 slow samples at 10 s, 30 fast ones at 50 s */
	for (unsigned i = 0; i < 30; i++)
		tail_add(&t, 2000, 10000);
	for (unsigned i = 0; i < 30; i++)
		tail_add(&t, 3, 50000);
	ck_assert(tail_percentile(&t, 95, 50000, &ms));
	ck_assert_uint_eq(ms, 2000);
	/* at 71 s the slow ones are older than the window */
	ck_assert(tail_percentile(&t, 95, 71000, &ms));
	ck_assert_uint_eq(ms, 3);
	/* at 111 s nothing is left */
	ck_assert(!tail_percentile(&t, 95, 111000, &ms));
}
END_TEST

START_TEST(test_window_by_count)
{
	uint64_t ms = 0;

	tail_init(&t);
	for (unsigned i = 0; i < TAIL_SAMPLES; i++)
		tail_add(&t, 900, 1000);
	/* a full ring of new samples pushes every old one out */
	for (unsigned i = 0; i < TAIL_SAMPLES; i++)
		tail_add(&t, 4, 1000);
	ck_assert(tail_percentile(&t, 99, 1000, &ms));
	ck_assert_uint_eq(ms, 4);
}
END_TEST

START_TEST(test_cache_and_expiry)
{
	uint64_t ms = 0;

	tail_init(&t);
	for (unsigned i = 0; i < 50; i++)
		tail_add(&t, 10, 1000);
	ck_assert(tail_percentile(&t, 95, 1000, &ms));
	ck_assert_uint_eq(ms, 10);
	for (unsigned i = 0; i < 500; i++)
		tail_add(&t, 800, 1000);
	/* within TAIL_REUSE_MS: the cached value */
	ck_assert(tail_percentile(&t, 95, 1000 + TAIL_REUSE_MS - 1, &ms));
	ck_assert_uint_eq(ms, 10);
	/* another percentile is not the cached one */
	ck_assert(tail_percentile(&t, 50, 1000 + TAIL_REUSE_MS - 1, &ms));
	ck_assert_uint_eq(ms, 800);
	/* and after it, computed again */
	ck_assert(tail_percentile(&t, 95, 1000 + 2 * TAIL_REUSE_MS, &ms));
	ck_assert_uint_eq(ms, 800);
}
END_TEST

START_TEST(test_huge_sample)
{
	uint64_t ms = 0;

	tail_init(&t);
	for (unsigned i = 0; i < TAIL_MIN_SAMPLES; i++)
		tail_add(&t, UINT64_MAX, 0);
	ck_assert(tail_percentile(&t, 50, 0, &ms));
	ck_assert_uint_eq(ms, TAIL_SAMPLE_MAX_MS);
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("tail");
	TCase *tc = tcase_create("tail");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_percentile_nearest_rank);
	tcase_add_test(tc, test_too_few_and_bad_pct);
	tcase_add_test(tc, test_window_by_age);
	tcase_add_test(tc, test_window_by_count);
	tcase_add_test(tc, test_cache_and_expiry);
	tcase_add_test(tc, test_huge_sample);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
