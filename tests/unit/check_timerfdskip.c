/*
 * check_timerfdskip: timerfdskip.c's timerfd_settime leaves a timerfd as
 * it is when the new arming would only expire later, and passes every
 * other arming to the kernel -- an earlier one, a disarm, one after the
 * timer fired (seen by loopclock.c's epoll_wait, or expired unseen), one
 * of a new timerfd that got a closed one's number (epollskip.c's close).
 * What the timer will do is read back from the kernel (timerfd_gettime).
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static void
sleep_ms(long ms)
{
	struct timespec ts = {0, ms * 1000000L};

	nanosleep(&ts, NULL);
}

static int
arm_ms(int fd, long ms)
{
	struct itimerspec is = {{0, 0}, {ms / 1000, (ms % 1000) * 1000000L}};

	return timerfd_settime(fd, 0, &is, NULL);
}

/* The kernel's time left on the timer, in ms (0: disarmed). */
static long
left_ms(int fd)
{
	struct itimerspec is;

	ck_assert_int_eq(timerfd_gettime(fd, &is), 0);
	return is.it_value.tv_sec * 1000 + is.it_value.tv_nsec / 1000000;
}

static int
new_timerfd(void)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	return fd;
}

START_TEST(test_a_later_arming_is_left_out_an_earlier_one_is_not)
{
	int fd = new_timerfd();

	ck_assert_int_eq(arm_ms(fd, 300), 0);
	ck_assert_int_eq(arm_ms(fd, 5000), 0);
	/* (left out: the timer fires at 300 ms, libevent arms it again) */
	ck_assert_int_le(left_ms(fd), 300);
	ck_assert_int_gt(left_ms(fd), 200);
	ck_assert_int_eq(arm_ms(fd, 100), 0);
	ck_assert_int_le(left_ms(fd), 100);
	/* a disarm always goes */
	ck_assert_int_eq(arm_ms(fd, 0), 0);
	ck_assert_int_eq(left_ms(fd), 0);
	ck_assert_int_eq(arm_ms(fd, 2000), 0);
	ck_assert_int_gt(left_ms(fd), 1000);
	close(fd);
}
END_TEST

START_TEST(test_a_timer_that_fired_is_armed_again)
{
	struct epoll_event ev = {.events = EPOLLIN}, out[4];
	int ep = epoll_create1(0), fd = new_timerfd();

	ck_assert_int_ge(ep, 0);
	ev.data.fd = fd;
	ck_assert_int_eq(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
	ck_assert_int_eq(arm_ms(fd, 30), 0);
	ck_assert_int_eq(epoll_wait(ep, out, 4, 2000), 1);
	ck_assert_int_eq(out[0].data.fd, fd);
	/*
	 * Seen to fire: arming it again must reach the kernel, which also
	 * clears it (left out, epoll_wait would return at once, forever).
	 */
	ck_assert_int_eq(arm_ms(fd, 5000), 0);
	ck_assert_int_gt(left_ms(fd), 4000);
	ck_assert_int_eq(epoll_wait(ep, out, 4, 50), 0);
	close(fd);
	close(ep);
}
END_TEST

START_TEST(test_a_timer_that_expired_unseen_is_armed_again)
{
	int fd = new_timerfd();

	ck_assert_int_eq(arm_ms(fd, 5), 0);
	sleep_ms(30);
	ck_assert_int_eq(arm_ms(fd, 5000), 0);
	ck_assert_int_gt(left_ms(fd), 4000);
	close(fd);
}
END_TEST

START_TEST(test_a_new_timerfd_with_a_closed_ones_number)
{
	int fd = new_timerfd(), fd2;

	ck_assert_int_eq(arm_ms(fd, 3000), 0);
	close(fd);
	fd2 = new_timerfd();
	ck_assert_int_eq(fd2, fd); /* (the lowest free number) */
	/* not the old timer: unarmed, so this arming must reach it */
	ck_assert_int_eq(arm_ms(fd2, 5000), 0);
	ck_assert_int_gt(left_ms(fd2), 4000);
	close(fd2);
}
END_TEST

START_TEST(test_another_timerfd_and_other_flags_go_to_the_kernel)
{
	int a = new_timerfd(), b = new_timerfd();
	struct itimerspec is = {{0, 0}, {0, 0}}, old;
	struct timespec now;

	ck_assert_int_eq(arm_ms(a, 300), 0);
	ck_assert_int_eq(arm_ms(b, 5000), 0);
	ck_assert_int_gt(left_ms(b), 4000);
	ck_assert_int_le(left_ms(a), 300);
	/* the old value asked for */
	ck_assert_int_eq(arm_ms(b, 300), 0);
	is.it_value.tv_sec = 5;
	ck_assert_int_eq(timerfd_settime(b, 0, &is, &old), 0);
	ck_assert_int_gt(left_ms(b), 4000);
	ck_assert_int_le(
	    old.it_value.tv_sec * 1000 + old.it_value.tv_nsec / 1000000, 300);
	/* an absolute time */
	ck_assert_int_eq(arm_ms(b, 300), 0);
	clock_gettime(CLOCK_MONOTONIC, &now);
	is.it_value.tv_sec = now.tv_sec + 5;
	is.it_value.tv_nsec = now.tv_nsec;
	ck_assert_int_eq(timerfd_settime(b, TFD_TIMER_ABSTIME, &is, NULL), 0);
	ck_assert_int_gt(left_ms(b), 4000);
	/* an error is the kernel's, an invalid later time's too */
	ck_assert_int_eq(arm_ms(-1, 100), -1);
	ck_assert_int_eq(arm_ms(b, 300), 0);
	is.it_value.tv_sec = 5;
	is.it_value.tv_nsec = 1000000000L;
	errno = 0;
	ck_assert_int_eq(timerfd_settime(b, 0, &is, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	close(a);
	close(b);
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("timerfdskip");
	TCase *tc = tcase_create("timerfdskip");
	SRunner *sr;
	int failed;

	tcase_add_test(
	    tc, test_a_later_arming_is_left_out_an_earlier_one_is_not);
	tcase_add_test(tc, test_a_timer_that_fired_is_armed_again);
	tcase_add_test(tc, test_a_timer_that_expired_unseen_is_armed_again);
	tcase_add_test(tc, test_a_new_timerfd_with_a_closed_ones_number);
	tcase_add_test(
	    tc, test_another_timerfd_and_other_flags_go_to_the_kernel);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
