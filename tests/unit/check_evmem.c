/*
 * check_evmem: libevent's allocator keeps a thread's freed blocks by size
 * (small ones by glibc's chunk size, 2 to 256 KiB ones by power-of-two
 * class) within its bounds, and serves the next request of a size from
 * them, last in first out; nothing passes between threads.
 */
#include <check.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "evmem.h"

/* A block from evmem_malloc holds what was asked (written whole). */
static void *
take(size_t n)
{
	void *p = evmem_malloc(n);

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_ge(malloc_usable_size(p), n);
	memset(p, 0xa5, n);
	return p;
}

START_TEST(test_small_reused_by_size)
{
	size_t bytes;
	void *a = take(136), *b = take(136), *c;

	evmem_free(a);
	evmem_free(b);
	ck_assert_uint_eq(evmem_cached(&bytes), 2);
	ck_assert_uint_eq(bytes, 2 * malloc_usable_size(a));
	/* last in, first out; any request of the same chunk size */
	c = take(130);
	ck_assert_ptr_eq(c, b);
	c = take(136);
	ck_assert_ptr_eq(c, a);
	ck_assert_uint_eq(evmem_cached(&bytes), 0);
	ck_assert_uint_eq(bytes, 0);
	/* another chunk size does not get it */
	evmem_free(a);
	c = take(200);
	ck_assert_ptr_ne(c, a);
	evmem_free(c);
	c = take(100);
	ck_assert_ptr_ne(c, a);
	evmem_free(c);
	evmem_free(b);
	evmem_thread_free();
	ck_assert_uint_eq(evmem_cached(NULL), 0);
}
END_TEST

START_TEST(test_large_class_reused)
{
	size_t bytes;
	void *a = take(8192), *b;

	evmem_free(a);
	ck_assert_uint_eq(evmem_cached(&bytes), 1);
	ck_assert_uint_eq(bytes, 8192);
	/* any request of its class (4 KiB + 1 to 8 KiB) gets it back */
	b = take(5000);
	ck_assert_ptr_eq(a, b);
	evmem_free(b);
	a = take(8193);
	ck_assert_ptr_ne(a, b);
	evmem_free(a);
	a = take(4096);
	ck_assert_ptr_ne(a, b);
	evmem_free(a);
	evmem_thread_free();
}
END_TEST

START_TEST(test_between_and_huge_not_kept)
{
	/* (between the small and the large sizes; past 256 KiB: rare) */
	void *m = take(1500), *h = take(2 * EVMEM_MAX);

	evmem_free(m);
	evmem_free(h);
	evmem_free(NULL);
	ck_assert_uint_eq(evmem_cached(NULL), 0);
}
END_TEST

START_TEST(test_bounds)
{
	void *v[EVMEM_PER_SMALL + 2];
	size_t bytes;

	for (int i = 0; i < EVMEM_PER_SMALL + 2; i++)
		v[i] = take(40);
	for (int i = 0; i < EVMEM_PER_SMALL + 2; i++)
		evmem_free(v[i]);
	ck_assert_uint_eq(evmem_cached(NULL), EVMEM_PER_SMALL);
	evmem_thread_free();
	for (int i = 0; i < EVMEM_PER_LARGE + 2; i++)
		v[i] = take(16384);
	for (int i = 0; i < EVMEM_PER_LARGE + 2; i++)
		evmem_free(v[i]);
	ck_assert_uint_eq(evmem_cached(&bytes), EVMEM_PER_LARGE);
	ck_assert_uint_eq(bytes, EVMEM_PER_LARGE * 16384);
	evmem_thread_free();
	/* all sizes together: no more than EVMEM_BYTES */
	for (int i = 0; i < EVMEM_PER_LARGE; i++)
		v[i] = take(EVMEM_MAX);
	for (int i = 0; i < EVMEM_PER_LARGE; i++)
		evmem_free(v[i]);
	ck_assert_uint_eq(evmem_cached(&bytes), EVMEM_BYTES / EVMEM_MAX);
	ck_assert_uint_le(bytes, EVMEM_BYTES);
	evmem_thread_free();
}
END_TEST

/* A block of any usable size serves the largest class it holds whole. */
START_TEST(test_realloced_block_serves_its_class)
{
	void *p = evmem_realloc(take(100), 3000), *q;

	ck_assert_uint_ge(malloc_usable_size(p), 3000);
	evmem_free(p);
	ck_assert_uint_eq(evmem_cached(NULL), 1);
	q = take(2049); /* the 4 KiB class: not it */
	ck_assert_ptr_ne(p, q);
	evmem_free(q);
	q = take(2048);
	ck_assert_ptr_eq(p, q);
	evmem_free(q);
	evmem_thread_free();
}
END_TEST

static void *
other_thread(void *arg)
{
	void *p = take(8192), *s = take(136);

	evmem_free(p);
	evmem_free(s);
	*(size_t *)arg = evmem_cached(NULL);
	evmem_thread_free();
	return NULL;
}

START_TEST(test_per_thread)
{
	pthread_t t;
	size_t there = 0;
	void *mine;

	evmem_thread_free();
	mine = take(136);
	ck_assert_int_eq(pthread_create(&t, NULL, other_thread, &there), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_uint_eq(there, 2);
	/* nothing of the other thread's is kept here */
	ck_assert_uint_eq(evmem_cached(NULL), 0);
	evmem_free(mine);
	ck_assert_uint_eq(evmem_cached(NULL), 1);
	evmem_thread_free();
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("evmem");
	TCase *tc = tcase_create("cache");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_small_reused_by_size);
	tcase_add_test(tc, test_large_class_reused);
	tcase_add_test(tc, test_between_and_huge_not_kept);
	tcase_add_test(tc, test_bounds);
	tcase_add_test(tc, test_realloced_block_serves_its_class);
	tcase_add_test(tc, test_per_thread);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
