/*
 * check_fionread: the daemon's ioctl() answers FIONREAD itself (libevent
 * then reads up to 4 KiB, which is all it would read anyway) and passes
 * every other request to the kernel.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

START_TEST(test_fionread_answered)
{
	int sv[2], n = -1;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	/* nothing waiting, and yet 4096: no system call was made */
	ck_assert_int_eq(ioctl(sv[0], FIONREAD, &n), 0);
	ck_assert_int_eq(n, 4096);
	/* the socket still reads what is really there */
	ck_assert_int_eq(write(sv[1], "abc", 3), 3);
	{
		char buf[4096];
		ck_assert_int_eq(read(sv[0], buf, sizeof buf), 3);
	}
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_other_requests_reach_the_kernel)
{
	int sv[2], one = 1;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0);
	ck_assert_int_eq(ioctl(sv[0], FIONBIO, &one), 0);
	ck_assert_int_ne(fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0);
	errno = 0;
	ck_assert_int_eq(ioctl(-1, FIONBIO, &one), -1);
	ck_assert_int_eq(errno, EBADF);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("fionread");
	TCase *tc = tcase_create("fionread");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_fionread_answered);
	tcase_add_test(tc, test_other_requests_reach_the_kernel);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	/* (no fork: the check is about this process's ioctl) */
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
