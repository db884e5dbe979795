/*
 * check_readvrecv: the daemon's readv() reads a socket with recv() when
 * given one iovec (what libevent does), and leaves everything else to
 * the kernel's readv.  A seccomp filter that fails the readv system call
 * (EPERM) tells which one ran.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* From here on (this forked test only) the readv system call fails. */
static void
forbid_readv_syscall(void)
{
	struct sock_filter code[] = {
	    BPF_STMT(
		BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_readv, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
	    .len = sizeof code / sizeof code[0],
	    .filter = code,
	};

	ck_assert_int_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	ck_assert_int_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
}

START_TEST(test_one_iovec_on_a_socket_is_a_recv)
{
	int sv[2];
	char buf[16] = {0};
	struct iovec iov = {buf, sizeof buf};

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	forbid_readv_syscall();
	ck_assert_int_eq(write(sv[1], "abc", 3), 3);
	ck_assert_int_eq(readv(sv[0], &iov, 1), 3);
	ck_assert_mem_eq(buf, "abc", 3);
	/* nothing there, non-blocking: EAGAIN, as readv says it */
	ck_assert_int_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	errno = 0;
	ck_assert_int_eq(readv(sv[0], &iov, 1), -1);
	ck_assert_int_eq(errno, EAGAIN);
	/* the peer's end: 0 */
	close(sv[1]);
	ck_assert_int_eq(readv(sv[0], &iov, 1), 0);
	close(sv[0]);
}
END_TEST

START_TEST(test_the_rest_is_the_kernels_readv)
{
	int sv[2], p[2];
	char a[2], b[8];
	struct iovec two[2] = {{a, sizeof a}, {b, sizeof b}};
	struct iovec one = {b, sizeof b};

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(pipe(p), 0);
	/* two iovecs: the kernel fills both */
	ck_assert_int_eq(write(sv[1], "abcdef", 6), 6);
	ck_assert_int_eq(readv(sv[0], two, 2), 6);
	ck_assert_mem_eq(a, "ab", 2);
	ck_assert_mem_eq(b, "cdef", 4);
	/* not a socket: recv says ENOTSOCK, and readv reads it */
	ck_assert_int_eq(write(p[1], "xyz", 3), 3);
	ck_assert_int_eq(readv(p[0], &one, 1), 3);
	ck_assert_mem_eq(b, "xyz", 3);
	/* with the system call refused, both of those fail */
	forbid_readv_syscall();
	ck_assert_int_eq(write(sv[1], "gh", 2), 2);
	errno = 0;
	ck_assert_int_eq(readv(sv[0], two, 2), -1);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_int_eq(write(p[1], "q", 1), 1);
	errno = 0;
	ck_assert_int_eq(readv(p[0], &one, 1), -1);
	ck_assert_int_eq(errno, EPERM);
	/* a bad fd: EBADF (from recv), as readv says it */
	errno = 0;
	ck_assert_int_eq(readv(-1, &one, 1), -1);
	ck_assert_int_eq(errno, EBADF);
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("readvrecv");
	TCase *tc = tcase_create("readvrecv");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_one_iovec_on_a_socket_is_a_recv);
	tcase_add_test(tc, test_the_rest_is_the_kernels_readv);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	/* (forked: each test's seccomp filter stays in its own process) */
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
