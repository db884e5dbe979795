/*
 * check_loopclock: in a thread that asked for it, util_now_ms and
 * util_wall_ms read the clock once a turn of the event loop -- the time
 * stands still until the next epoll_wait returns (loopclock.c's) -- and
 * in every other thread at each call; epoll_wait still answers what the
 * kernel's does.
 */
#include <check.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static void
sleep_ms(long ms)
{
	struct timespec ts = {0, ms * 1000000L};

	nanosleep(&ts, NULL);
}

/* One turn of an (empty) event loop: epoll_wait without waiting. */
static void
turn(void)
{
	struct epoll_event ev;
	int ep = epoll_create1(0);

	ck_assert_int_ge(ep, 0);
	ck_assert_int_eq(epoll_wait(ep, &ev, 1, 0), 0);
	close(ep);
}

START_TEST(test_every_call_reads_the_clock_by_default)
{
	uint64_t m = util_now_ms(), w = util_wall_ms();

	sleep_ms(30);
	ck_assert_uint_ge(util_now_ms(), m + 25);
	ck_assert_uint_ge(util_wall_ms(), w + 25);
}
END_TEST

START_TEST(test_once_a_turn_when_asked)
{
	uint64_t m, w;

	util_clock_per_turn(true);
	m = util_now_ms();
	w = util_wall_ms();
	sleep_ms(30);
	/* the same turn: the same time */
	ck_assert_uint_eq(util_now_ms(), m);
	ck_assert_uint_eq(util_wall_ms(), w);
	/* epoll_wait returned: a new turn, the clock read again */
	turn();
	ck_assert_uint_ge(util_now_ms(), m + 25);
	ck_assert_uint_ge(util_wall_ms(), w + 25);
	m = util_now_ms();
	sleep_ms(30);
	ck_assert_uint_eq(util_now_ms(), m);
	/* asked no more: every call again */
	util_clock_per_turn(false);
	ck_assert_uint_ge(util_now_ms(), m + 25);
}
END_TEST

START_TEST(test_epoll_wait_is_the_kernels)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 7}, out[2];
	int ep = epoll_create1(0), efd = eventfd(1, 0);

	ck_assert_int_ge(ep, 0);
	ck_assert_int_ge(efd, 0);
	ck_assert_int_eq(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev), 0);
	ck_assert_int_eq(epoll_wait(ep, out, 2, 1000), 1);
	ck_assert_uint_eq(out[0].data.u64, 7);
	ck_assert(out[0].events & EPOLLIN);
	ck_assert_int_eq(epoll_wait(-1, out, 2, 0), -1);
	close(efd);
	close(ep);
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("loopclock");
	TCase *tc = tcase_create("loopclock");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_every_call_reads_the_clock_by_default);
	tcase_add_test(tc, test_once_a_turn_when_asked);
	tcase_add_test(tc, test_epoll_wait_is_the_kernels);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
