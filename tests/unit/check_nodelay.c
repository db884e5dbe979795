/*
 * check_nodelay: front.c sets TCP_NODELAY on its listening sockets only,
 * not on each connection, because Linux gives an accepted socket the
 * listener's TCP_NODELAY.  This holds the kernel to it, over IPv4 and
 * IPv6 loopback: were it ever not so, every reply would again wait for
 * the ACK of the one before (Nagle), and this would say why.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The TCP_NODELAY of a socket accepted on a listener with it set to on. */
static int
accepted_nodelay(int family, int on)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int l, c, a, v = -1;
	socklen_t vl = sizeof v;

	memset(&ss, 0, sizeof ss);
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof *sin;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		len = sizeof *sin6;
	}
	l = socket(family, SOCK_STREAM, 0);
	ck_assert_int_ge(l, 0);
	ck_assert_int_eq(
	    setsockopt(l, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on), 0);
	if (bind(l, (struct sockaddr *)&ss, len) != 0) {
		close(l);
		return -2; /* (no such loopback here) */
	}
	ck_assert_int_eq(listen(l, 1), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&ss, &len), 0);
	c = socket(family, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(c, (struct sockaddr *)&ss, len), 0);
	a = accept(l, NULL, NULL);
	ck_assert_int_ge(a, 0);
	ck_assert_int_eq(getsockopt(a, IPPROTO_TCP, TCP_NODELAY, &v, &vl), 0);
	close(a);
	close(c);
	close(l);
	return v != 0;
}

START_TEST(test_accepted_socket_inherits_nodelay)
{
	ck_assert_int_eq(accepted_nodelay(AF_INET, 1), 1);
	ck_assert_int_eq(accepted_nodelay(AF_INET, 0), 0);
	int v6 = accepted_nodelay(AF_INET6, 1);
	if (v6 != -2) {
		ck_assert_int_eq(v6, 1);
		ck_assert_int_eq(accepted_nodelay(AF_INET6, 0), 0);
	}
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("nodelay");
	TCase *tc = tcase_create("nodelay");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_accepted_socket_inherits_nodelay);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
