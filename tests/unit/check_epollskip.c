/*
 * check_epollskip: the daemon's epoll_ctl() answers a MOD that changes
 * nothing without the kernel, and sends everything else to it -- above all
 * a MOD on an fd number that was closed and reused since.
 *
 * "Answered without the kernel" is observed by closing the epoll fd behind
 * the table's back (the raw system call): the kernel would then say EBADF.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct epoll_event
ev(int fd, unsigned events)
{
	struct epoll_event e = {0};

	e.events = events;
	e.data.u64 = (uint64_t)fd;
	return e;
}

/* a socket pair with sv[0] added to ep for events; the registration */
static struct epoll_event
pair_in(int ep, int sv[2], unsigned events)
{
	struct epoll_event e;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	e = ev(sv[0], events);
	ck_assert_int_eq(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &e), 0);
	return e;
}

/* epoll_ctl fails, with err */
static void
ctl_fails(int ep, int op, int fd, struct epoll_event *e, int err)
{
	errno = 0;
	ck_assert_int_eq(epoll_ctl(ep, op, fd, e), -1);
	ck_assert_int_eq(errno, err);
}

/* an epoll fd the table knows nothing about once closed this way */
static void
raw_close(int fd)
{
	ck_assert_int_eq((int)syscall(SYS_close, fd), 0);
}

START_TEST(test_same_mod_is_skipped)
{
	int sv[2], ep = epoll_create1(0);
	struct epoll_event e;

	e = pair_in(ep, sv, EPOLLIN);
	raw_close(ep);
	/* the same events again: no system call, so no EBADF */
	ck_assert_int_eq(epoll_ctl(ep, EPOLL_CTL_MOD, sv[0], &e), 0);
	/* other events, or other data: the kernel is asked */
	e = ev(sv[0], EPOLLIN | EPOLLOUT);
	ctl_fails(ep, EPOLL_CTL_MOD, sv[0], &e, EBADF);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_changed_mod_reaches_the_kernel)
{
	int sv[2], ep = epoll_create1(0);
	struct epoll_event e, out;

	e = pair_in(ep, sv, EPOLLIN);
	ck_assert_int_eq(epoll_wait(ep, &out, 1, 0), 0);
	e = ev(sv[0], EPOLLOUT);
	ck_assert_int_eq(epoll_ctl(ep, EPOLL_CTL_MOD, sv[0], &e), 0);
	ck_assert_int_eq(epoll_wait(ep, &out, 1, 0), 1);
	ck_assert_uint_eq(out.events & EPOLLOUT, EPOLLOUT);
	/* and back to EPOLLIN: skipped only if the table followed */
	e = ev(sv[0], EPOLLIN);
	ck_assert_int_eq(epoll_ctl(ep, EPOLL_CTL_MOD, sv[0], &e), 0);
	ck_assert_int_eq(epoll_wait(ep, &out, 1, 0), 0);
	close(ep);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_reused_fd_number_is_not_skipped)
{
	int a[2], b[2], ep = epoll_create1(0), fd;
	struct epoll_event e;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	fd = a[0];
	e = ev(fd, EPOLLIN);
	ck_assert_int_eq(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e), 0);
	/* closed and the number handed out again, no DEL in between */
	close(a[0]);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	ck_assert_int_eq(b[0], fd);
	/* the new file is not in the set: the kernel says so, libevent ADDs */
	ctl_fails(ep, EPOLL_CTL_MOD, fd, &e, ENOENT);
	ck_assert_int_eq(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e), 0);
	ck_assert_int_eq(write(b[1], "x", 1), 1);
	{
		struct epoll_event out;
		ck_assert_int_eq(epoll_wait(ep, &out, 1, 0), 1);
		ck_assert_int_eq((int)out.data.u64, fd);
	}
	close(ep);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}
END_TEST

START_TEST(test_dup2_over_an_fd_forgets_it)
{
	int a[2], b[2], ep = epoll_create1(0);
	struct epoll_event e;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	e = ev(a[0], EPOLLIN);
	ck_assert_int_eq(epoll_ctl(ep, EPOLL_CTL_ADD, a[0], &e), 0);
	ck_assert_int_eq(dup2(b[0], a[0]), a[0]);
	ctl_fails(ep, EPOLL_CTL_MOD, a[0], &e, ENOENT);
	/* dup3 likewise */
	ck_assert_int_eq(epoll_ctl(ep, EPOLL_CTL_ADD, a[0], &e), 0);
	ck_assert_int_eq(dup3(b[1], a[0], O_CLOEXEC), a[0]);
	ctl_fails(ep, EPOLL_CTL_MOD, a[0], &e, ENOENT);
	/* dup2 onto itself checks the fd, closes nothing */
	ck_assert_int_eq(dup2(a[0], a[0]), a[0]);
	errno = 0;
	ck_assert_int_eq(dup2(-1, -1), -1);
	ck_assert_int_eq(errno, EBADF);
	close(ep);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}
END_TEST

START_TEST(test_del_after_close)
{
	int sv[2], ep = epoll_create1(0);
	struct epoll_event e;

	e = pair_in(ep, sv, EPOLLIN);
	/* an open fd: DEL reaches the kernel (a second DEL: ENOENT) */
	ck_assert_int_eq(epoll_ctl(ep, EPOLL_CTL_DEL, sv[0], &e), 0);
	ctl_fails(ep, EPOLL_CTL_DEL, sv[0], &e, ENOENT);
	/* after close: EBADF, as the kernel would say */
	ck_assert_int_eq(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &e), 0);
	close(sv[0]);
	ctl_fails(ep, EPOLL_CTL_DEL, sv[0], &e, EBADF);
	close(ep);
	close(sv[1]);
}
END_TEST

START_TEST(test_edge_triggered_is_never_skipped)
{
	int sv[2], ep = epoll_create1(0);
	struct epoll_event e;

	e = pair_in(ep, sv, EPOLLIN | EPOLLET);
	raw_close(ep);
	ctl_fails(ep, EPOLL_CTL_MOD, sv[0], &e, EBADF);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("epollskip");
	TCase *tc = tcase_create("epollskip");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_same_mod_is_skipped);
	tcase_add_test(tc, test_changed_mod_reaches_the_kernel);
	tcase_add_test(tc, test_reused_fd_number_is_not_skipped);
	tcase_add_test(tc, test_dup2_over_an_fd_forgets_it);
	tcase_add_test(tc, test_del_after_close);
	tcase_add_test(tc, test_edge_triggered_is_never_skipped);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	/* (no fork: the check is about this process's functions) */
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
